package wsproto

// Window is the receiver-side replay filter of protocol.md §2: it accepts
// each sequence number at most once per connection while tolerating
// out-of-order arrival (a sender numbers messages before they queue, so two
// senders racing on one connection may swap neighbours).
//
// It remembers seen numbers in a fixed 1024-slot bitmap ring (capacity 1024)
// and prunes every number more than 256 behind the newest (gap > 256). A
// pruned number can no longer be told apart from a replay, so it is refused:
// the window never forgets a number it would then accept again.
//
// The zero value is ready to use; Reset it for each new connection, since
// each side numbers its messages from 1 again. A Window is not safe for
// concurrent use: it belongs to one read loop.
type Window struct {
	newest uint64 // highest accepted sequence; 0 before the first
	seen   [windowSlots / 64]uint64
}

const (
	windowSlots = 1024 // capacity
	windowGap   = 256  // numbers further than this behind newest are pruned
)

// Accept reports whether seq is new, and records it. Sequence 0 is never
// valid: numbering starts at 1.
func (w *Window) Accept(seq uint64) bool {
	if seq == 0 {
		return false
	}
	if seq > w.newest {
		// Clear the slots between the old and the new newest: they now
		// stand for numbers not seen yet.
		if seq-w.newest >= windowSlots {
			w.seen = [windowSlots / 64]uint64{}
		} else {
			for s := w.newest + 1; s < seq; s++ {
				w.clear(s)
			}
		}
		w.newest = seq
		w.set(seq)
		return true
	}
	if w.newest-seq > windowGap {
		return false
	}
	if w.has(seq) {
		return false
	}
	w.set(seq)
	return true
}

// Reset forgets everything, for a new connection.
func (w *Window) Reset() { *w = Window{} }

func (w *Window) set(s uint64)      { w.seen[(s/64)%(windowSlots/64)] |= 1 << (s % 64) }
func (w *Window) clear(s uint64)    { w.seen[(s/64)%(windowSlots/64)] &^= 1 << (s % 64) }
func (w *Window) has(s uint64) bool { return w.seen[(s/64)%(windowSlots/64)]&(1<<(s%64)) != 0 }
