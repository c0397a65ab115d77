package logstore

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
)

// List returns up to limit lines of the app, oldest first (limit <= 0:
// DefaultLimit). With afterID > 0 they are the lines after that id (to
// follow a log); with afterID == 0 they are the last limit lines (to open
// a log view). An afterID beyond the end of the log cannot be one of its
// ids (a cursor from a log since deleted, or from before logs moved to
// files): it is answered like afterID == 0.
func (s *Store) List(appID string, afterID int64, limit int) ([]Line, error) {
	if err := checkID("list", appID); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	segs, err := s.snapshot(appID)
	if err != nil {
		return nil, err
	}
	out := []Line{}
	if len(segs) == 0 {
		return out, nil
	}
	if afterID > segs[len(segs)-1].end() {
		afterID = 0
	}
	if afterID == 0 {
		return s.listLast(appID, segs, limit)
	}
	// The segment holding the line afterID, whose record starts at
	// afterID-1; the lines wanted start after it.
	pos := afterID - 1
	i := 0
	from := int64(0)
	if pos >= segs[0].start {
		i = slices.IndexFunc(segs, func(g segment) bool { return pos < g.end() })
		if i < 0 {
			return out, nil
		}
		from = pos - segs[i].start
	}
	for ; i < len(segs) && len(out) < limit; i++ {
		minOff := afterID - segs[i].start // skip records before (and at) the cursor
		out, err = s.readSegment(appID, segs[i], from, minOff, limit, out)
		if err != nil {
			return nil, err
		}
		from = 0
	}
	return out, nil
}

// snapshot copies the app's segment list, reading it from disk (and
// recovering a torn tail) on first use.
func (s *Store) snapshot(id string) ([]segment, error) {
	s.mu.RLock()
	a, gone, closed := s.apps[id], s.gone[id], s.closed
	var segs []segment
	if a != nil {
		segs = slices.Clone(a.segs)
	}
	s.mu.RUnlock()
	switch {
	case closed:
		return nil, ErrClosed
	case gone:
		return nil, nil
	case a != nil:
		return segs, nil
	}
	s.wmu.Lock()
	a, err := s.loadLocked(id)
	s.wmu.Unlock()
	if err != nil || a == nil {
		return nil, err
	}
	s.mu.RLock()
	segs = slices.Clone(a.segs)
	s.mu.RUnlock()
	return segs, nil
}

// openSegment opens a segment to read; nil if it was deleted since the
// caller copied the list.
func (s *Store) openSegment(id string, g segment) (*os.File, error) {
	f, err := os.Open(s.segPath(id, g.start))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("logstore: read %s: %w", id, err)
	}
	return f, nil
}

// readSegment appends the lines of g whose records start at or after
// minOff (offsets in g), walking forward from from, which should be a
// record's start; until out holds limit lines. If from is not a record's
// start (a made-up cursor), the segment is walked from its beginning.
// A damaged record ends the segment early.
func (s *Store) readSegment(id string, g segment, from, minOff int64, limit int, out []Line) ([]Line, error) {
	f, err := s.openSegment(id, g)
	if f == nil || err != nil {
		return out, err
	}
	defer f.Close()
	n := len(out)
	out, stop, err := walkForward(f, g, from, minOff, limit, out)
	if err != nil {
		return nil, fmt.Errorf("logstore: read %s: %w", id, err)
	}
	if stop == from && from > 0 && len(out) == n {
		out, _, err = walkForward(f, g, 0, minOff, limit, out)
		if err != nil {
			return nil, fmt.Errorf("logstore: read %s: %w", id, err)
		}
	}
	return out, nil
}

// walkForward parses records from off on, up to g.size, appending those
// at or after minOff until out holds limit lines. It returns where it
// stopped: g.size, the record after the last one taken, or a damaged one.
func walkForward(f *os.File, g segment, off, minOff int64, limit int, out []Line) ([]Line, int64, error) {
	buf := make([]byte, min(readWindow, g.size-off))
	for off < g.size && len(out) < limit {
		w := min(int64(len(buf)), g.size-off)
		if _, err := f.ReadAt(buf[:w], off); err != nil && !errors.Is(err, io.EOF) {
			return nil, off, err
		}
		p := 0
		for len(out) < limit {
			need, err := recordLen(buf[p:w])
			if err != nil || off+int64(p+need) > g.size {
				return out, off + int64(p), nil // damaged
			}
			if p+need > int(w) {
				break // read on from here
			}
			if off+int64(p) >= minOff {
				l, err := parseRecord(buf[p : p+need])
				if err != nil {
					return out, off + int64(p), nil
				}
				l.ID = g.start + off + int64(p) + 1
				out = append(out, l)
			} else if _, err := parseRecord(buf[p : p+need]); err != nil {
				return out, off + int64(p), nil
			}
			p += need
			if p == int(w) {
				break
			}
		}
		if p == 0 { // a record larger than the buffer
			need, _ := recordLen(buf[:w])
			buf = make([]byte, need)
			continue
		}
		off += int64(p)
	}
	return out, off, nil
}

// listLast returns the app's last limit lines, oldest first, reading the
// segments backwards from the end.
func (s *Store) listLast(id string, segs []segment, limit int) ([]Line, error) {
	var rev []Line // newest first
	for i := len(segs) - 1; i >= 0 && len(rev) < limit; i-- {
		f, err := s.openSegment(id, segs[i])
		if err != nil {
			return nil, err
		}
		if f == nil {
			continue
		}
		rev, err = walkBackward(f, segs[i], limit, rev)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("logstore: read %s: %w", id, err)
		}
	}
	slices.Reverse(rev)
	return rev, nil
}

// walkBackward appends g's lines newest first, from its end, until rev
// holds limit lines. If it meets a damaged record it reads the segment
// forwards instead (up to the damage) and takes the newest lines of that.
func walkBackward(f *os.File, g segment, limit int, rev []Line) ([]Line, error) {
	start := len(rev)
	end := g.size
	window := min(int64(readWindow), end)
	buf := make([]byte, window)
	for end > 0 && len(rev) < limit {
		w := min(window, end)
		base := end - w
		if _, err := f.ReadAt(buf[:w], base); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		q := int(w)
		for q > 0 && len(rev) < limit {
			if q < 4 {
				if base == 0 {
					return fallbackForward(f, g, limit, rev[:start])
				}
				break
			}
			n := int(uint32(buf[q-4]) | uint32(buf[q-3])<<8 | uint32(buf[q-2])<<16 | uint32(buf[q-1])<<24)
			if n < minBody || n > maxBody || base+int64(q) < int64(n+recOverhead) {
				return fallbackForward(f, g, limit, rev[:start])
			}
			rl := n + recOverhead
			if rl > q {
				break
			}
			l, err := parseRecord(buf[q-rl : q])
			if err != nil {
				return fallbackForward(f, g, limit, rev[:start])
			}
			l.ID = g.start + base + int64(q-rl) + 1
			rev = append(rev, l)
			q -= rl
		}
		if q == int(w) { // not even one record in the window: widen it
			window = min(window*2, max(end, int64(readWindow)))
			if int64(len(buf)) < window {
				buf = make([]byte, window)
			}
			continue
		}
		end = base + int64(q)
	}
	return rev, nil
}

func fallbackForward(f *os.File, g segment, limit int, rev []Line) ([]Line, error) {
	all, _, err := walkForward(f, g, 0, 0, int(^uint(0)>>1), nil)
	if err != nil {
		return nil, err
	}
	all = all[max(0, len(all)-(limit-len(rev))):]
	slices.Reverse(all)
	return append(rev, all...), nil
}
