// Package logbus is the in-process, per-app ring buffer of recent runtime log
// lines that backs live tails (SSE to the dashboard, `logs -f` in the CLI).
//
// It is a cache, not the durable store: each app keeps at most maxKeep lines
// (count eviction) and lines older than maxAge are never returned (age
// eviction). Every line gets a sequence number (Seq) that is strictly
// increasing across the whole Bus, so views over several apps merge by Seq
// and readers resume with "give me everything after Seq N".
//
// # Following a tail without polling
//
// Subscribe returns a Subscription whose channel C receives a coalesced
// "something changed" signal whenever a line is pushed to (or Drop is called
// for) one of its apps. A reader must subscribe BEFORE its first Tail; then
// a line pushed between a Tail and the wait on C still leaves a signal in C,
// so it is picked up by the next Tail and never missed:
//
//	sub := bus.Subscribe(appID)
//	defer sub.Close()
//	var last uint64
//	for {
//		for _, l := range bus.Tail(appID, last, 0) {
//			send(l)
//			last = l.Seq
//		}
//		select {
//		case <-ctx.Done():
//			return ctx.Err()
//		case <-sub.C:
//		}
//	}
//
// A signal only means "Tail again": it can be spurious (e.g. the new line was
// already read by the previous Tail, or the app was dropped). The Bus owns no
// goroutines; all work happens in the callers of its methods.
package logbus

import (
	"slices"
	"sync"
	"time"
)

// Defaults used by New for a zero or negative argument.
const (
	DefaultMaxKeep = 1000
	DefaultMaxAge  = time.Hour
)

// Line is one log line of one app.
type Line struct {
	// Seq is assigned by Push: strictly increasing across the whole Bus,
	// starting at 1.
	Seq    uint64    `json:"seq"`
	AppID  string    `json:"app_id"`
	Stream string    `json:"stream"`
	Msg    string    `json:"msg"`
	At     time.Time `json:"at"`
}

// Bus holds the recent lines of every app. It is safe for concurrent use.
// The zero value is not usable; create one with New.
type Bus struct {
	maxKeep int
	maxAge  time.Duration
	now     func() time.Time // injectable clock; tests overwrite it

	mu   sync.RWMutex
	seq  uint64           // last assigned Seq
	apps map[string]*ring // appID → lines and subscribers
}

// New returns a Bus keeping at most maxKeepPerApp lines per app, none older
// than maxAge. Zero or negative values select DefaultMaxKeep / DefaultMaxAge.
func New(maxKeepPerApp int, maxAge time.Duration) *Bus {
	if maxKeepPerApp <= 0 {
		maxKeepPerApp = DefaultMaxKeep
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return &Bus{
		maxKeep: maxKeepPerApp,
		maxAge:  maxAge,
		now:     time.Now,
		apps:    make(map[string]*ring),
	}
}

// Push appends a line to appID's ring, evicting the oldest line if the ring
// is full, wakes the app's subscribers, and returns the line's Seq.
// A zero at is replaced by the current time (a zero timestamp would otherwise
// make the line instantly expired and invisible).
func (b *Bus) Push(appID, stream, msg string, at time.Time) uint64 {
	if at.IsZero() {
		at = b.now()
	}
	b.mu.Lock()
	defer b.mu.Unlock()

	r := b.apps[appID]
	if r == nil {
		r = &ring{}
		b.apps[appID] = r
	}

	// Drop expired lines from the head so a quiet app does not pin
	// hours-old lines in memory. Reading the clock costs about as much as
	// the rest of Push, so the pushed timestamp serves as a cheap first test
	// and the clock is read only when the oldest line looks expired. The
	// eviction itself uses the clock, so a line with a future timestamp
	// (worker clock ahead) cannot flush lines that are still current.
	// Busy apps rarely get here: count eviction recycles their slots long
	// before maxAge.
	if r.n > 0 && r.oldest().At.Before(at.Add(-b.maxAge)) {
		r.dropOlderThan(b.now().Add(-b.maxAge))
		if r.n == 0 {
			r.buf = nil // let a once-busy, now quiet app shrink back
		}
	}

	b.seq++
	r.push(Line{Seq: b.seq, AppID: appID, Stream: stream, Msg: msg, At: at}, b.maxKeep)
	r.notify()
	return b.seq
}

// Tail returns appID's lines with Seq > sinceSeq that are not older than
// maxAge, oldest first, capped to the newest limit lines (limit <= 0: no cap
// beyond maxKeep). The result is a fresh slice the caller owns. It is nil
// when nothing matches, including for an unknown app.
func (b *Bus) Tail(appID string, sinceSeq uint64, limit int) []Line {
	b.mu.RLock()
	defer b.mu.RUnlock()
	r := b.apps[appID]
	if r == nil || r.n == 0 {
		return nil
	}
	cutoff := b.now().Add(-b.maxAge)
	c, first := r.count(sinceSeq, cutoff, limit)
	if c != r.n-first {
		// Expired lines among the newest (out-of-order timestamps): let the
		// general path skip them.
		return collect([]*ring{r}, sinceSeq, limit, cutoff)
	}
	if c == 0 {
		return nil
	}
	// The usual case: the result is one contiguous run of the ring.
	out := make([]Line, c)
	r.copyFrom(out, first)
	return out
}

// TailMulti is Tail across several apps: the matching lines of all of them
// merged in Seq order and capped to the newest limit overall. Unknown and
// repeated app IDs are ignored. It returns nil when nothing matches.
//
// The merge costs O(result × len(appIDs)), which is meant for the handful of
// apps of one project, not for hundreds at once.
func (b *Bus) TailMulti(appIDs []string, sinceSeq uint64, limit int) []Line {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var stack [8]*ring // no allocation for the usual handful of apps
	rings := stack[:0]
	for _, id := range appIDs {
		if r := b.apps[id]; r != nil && r.n > 0 && !slices.Contains(rings, r) {
			rings = append(rings, r)
		}
	}
	if len(rings) == 0 {
		return nil
	}
	return collect(rings, sinceSeq, limit, b.now().Add(-b.maxAge))
}

// Drop removes all lines of appID (the app was deleted) and wakes its
// subscribers. Their subscriptions stay registered until closed, so they are
// woken again if lines for appID are ever pushed again.
func (b *Bus) Drop(appID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.apps[appID]
	if r == nil {
		return
	}
	if len(r.subs) == 0 {
		delete(b.apps, appID)
		return
	}
	r.buf, r.start, r.n = nil, 0, 0
	r.notify()
}

// Subscription delivers change signals for a fixed set of apps. See the
// package documentation for the intended reading loop.
type Subscription struct {
	// C receives a value after a Push or Drop for any of the subscribed
	// apps. It has a buffer of one and sends never block, so several changes
	// between two reads coalesce into one signal. C is never closed, not
	// even by Close.
	C <-chan struct{}

	c      chan struct{}
	bus    *Bus
	apps   []string // distinct subscribed app IDs
	closed bool     // guarded by bus.mu
}

// Subscribe registers for change signals of the given apps (which need not
// have any lines yet). Subscribe before the first Tail so no line is missed.
// The caller must Close the subscription when done.
func (b *Bus) Subscribe(appIDs ...string) *Subscription {
	c := make(chan struct{}, 1)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range appIDs {
		if slices.Contains(s.apps, id) {
			continue
		}
		s.apps = append(s.apps, id)
		r := b.apps[id]
		if r == nil {
			r = &ring{} // holds the subscriber; no line storage until a Push
			b.apps[id] = r
		}
		r.subs = append(r.subs, s)
	}
	return s
}

// Close unregisters the subscription. It is idempotent and safe to call
// concurrently with anything.
func (s *Subscription) Close() {
	b := s.bus
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	for _, id := range s.apps {
		r := b.apps[id]
		if r == nil {
			continue // not expected: rings with subscribers are never deleted
		}
		if i := slices.Index(r.subs, s); i >= 0 {
			r.subs = slices.Delete(r.subs, i, i+1)
		}
		if r.n == 0 && len(r.subs) == 0 {
			delete(b.apps, id) // only existed for this subscriber
		}
	}
}

// signal wakes the subscriber without blocking; a pending signal already
// says "something changed", so a second one would carry no information.
func (s *Subscription) signal() {
	select {
	case s.c <- struct{}{}:
	default:
	}
}
