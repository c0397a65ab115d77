package logbus

import "time"

// minRingCap is the first allocation of a ring. Rings start empty and double
// up to maxKeep, so thousands of quiet apps cost a few slots each instead of
// maxKeep.
const minRingCap = 8

// ring is one app's state: a circular buffer of its newest lines, oldest
// first, plus the subscriptions waiting on it. All access is guarded by
// Bus.mu. Lines are in Seq order because Seq is assigned under the same lock
// that appends them.
type ring struct {
	buf   []Line // len(buf) is the current capacity, grown up to maxKeep
	start int    // index in buf of the oldest line
	n     int    // number of lines held
	subs  []*Subscription
}

// at returns the i-th oldest line (0 <= i < n) without copying it.
func (r *ring) at(i int) *Line {
	// A conditional subtraction instead of % keeps a division off the
	// Push and Tail paths.
	i += r.start
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	return &r.buf[i]
}

func (r *ring) oldest() *Line { return &r.buf[r.start] }

// push appends l, overwriting the oldest line once maxKeep lines are held.
func (r *ring) push(l Line, maxKeep int) {
	if r.n == len(r.buf) {
		if len(r.buf) >= maxKeep {
			r.buf[r.start] = l // full: the oldest slot becomes the newest
			r.start++
			if r.start == len(r.buf) {
				r.start = 0
			}
			return
		}
		r.grow(maxKeep)
	}
	r.n++
	*r.at(r.n - 1) = l
}

// grow doubles the capacity (at most maxKeep), unwrapping the lines to start
// at index 0.
func (r *ring) grow(maxKeep int) {
	c := min(max(2*len(r.buf), minRingCap), maxKeep)
	buf := make([]Line, c)
	for i := range r.n {
		buf[i] = *r.at(i)
	}
	r.buf, r.start = buf, 0
}

// dropOlderThan evicts lines from the head while they are older than cutoff.
// It stops at the first current line: timestamps come from workers and may be
// slightly out of order, so a few expired lines can stay behind it; readers
// filter those out anyway.
func (r *ring) dropOlderThan(cutoff time.Time) {
	for r.n > 0 && r.oldest().At.Before(cutoff) {
		*r.oldest() = Line{} // release the strings to the GC
		r.start++
		if r.start == len(r.buf) {
			r.start = 0
		}
		r.n--
	}
}

// count returns how many lines match (Seq > since, not older than cutoff),
// counting from the newest and stopping at limit when limit > 0, and the
// index of the oldest line it looked at: when c == r.n-first, the matches
// are exactly the lines first..n-1.
func (r *ring) count(since uint64, cutoff time.Time, limit int) (c, first int) {
	first = r.n
	for i := r.n - 1; i >= 0; i-- {
		l := r.at(i)
		if l.Seq <= since {
			break // older lines only have smaller Seqs
		}
		first = i
		if l.At.Before(cutoff) {
			continue
		}
		c++
		if c == limit {
			break
		}
	}
	return c, first
}

// copyFrom copies the lines first..n-1 into dst with at most two copy calls
// (the ring may wrap). Bulk copies matter: Lines hold pointers, and copying
// them one by one pays a GC write barrier per line while the GC is running.
func (r *ring) copyFrom(dst []Line, first int) {
	i := r.start + first
	if i >= len(r.buf) {
		i -= len(r.buf)
	}
	k := copy(dst[:r.n-first], r.buf[i:])
	copy(dst[k:r.n-first], r.buf)
}

func (r *ring) notify() {
	for _, s := range r.subs {
		s.signal()
	}
}

// collect merges the matching lines of rings (Seq > since, not older than
// cutoff) in Seq order, keeping the newest limit (limit <= 0: all). It counts
// first so the result is allocated once at its exact size, then fills it
// from the back by repeatedly taking the newest remaining line of any ring.
func collect(rings []*ring, since uint64, limit int, cutoff time.Time) []Line {
	total := 0
	for _, r := range rings {
		// No ring can contribute more than limit lines to the newest limit.
		c, _ := r.count(since, cutoff, limit)
		total += c
	}
	if limit > 0 && total > limit {
		total = limit
	}
	if total == 0 {
		return nil
	}

	// next[k] is the index in rings[k] of its newest line not yet taken.
	var stack [8]int
	next := stack[:0]
	for _, r := range rings {
		next = append(next, r.n-1)
	}
	out := make([]Line, total)
	for pos := total - 1; pos >= 0; pos-- {
		best, bestSeq := -1, since
		for k, r := range rings {
			i := next[k]
			for i >= 0 && r.at(i).At.Before(cutoff) {
				i--
			}
			next[k] = i
			if i >= 0 && r.at(i).Seq > bestSeq {
				best, bestSeq = k, r.at(i).Seq
			}
		}
		// count guarantees best >= 0 here: every counted line is still ahead.
		out[pos] = *rings[best].at(next[best])
		next[best]--
	}
	return out
}
