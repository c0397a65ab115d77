package wsproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"time"
)

// Receiver applies every receiver check of protocol.md §2, in order, to the
// messages of one connection: size, strict decode, constant-time HMAC, clock
// skew, then the sequence window. Both the control plane's hub and the worker
// use it, so the two ends cannot drift apart. A Receiver belongs to one read
// loop and is not safe for concurrent use.
type Receiver struct {
	mac    hash.Hash // keyed once, reset per message
	window Window
	now    func() time.Time
}

// NewReceiver returns a Receiver for messages signed with key.
func NewReceiver(key []byte) *Receiver {
	return &Receiver{mac: hmac.New(sha256.New, key), now: time.Now}
}

// Reset clears the sequence window; call it when a new connection starts.
func (r *Receiver) Reset() { r.window.Reset() }

// Open checks one message and returns its envelope, or an error wrapping
// ErrTooLarge, ErrDecode, ErrHMAC, ErrClock or ErrReplay. A message that fails
// any check must be dropped and never acted on.
func (r *Receiver) Open(data []byte) (*Envelope, error) {
	e, err := Parse(data)
	if err != nil {
		return nil, err
	}
	if err := verifyWith(r.mac, e); err != nil {
		return nil, err
	}
	if err := ValidateClock(e, r.now()); err != nil {
		return nil, err
	}
	// Only authentic, fresh messages reach the window, so a forged or stale
	// message can never burn a sequence number.
	if !r.window.Accept(e.Seq) {
		return nil, fmt.Errorf("%w: %d", ErrReplay, e.Seq)
	}
	return e, nil
}

// Reason names the check an error from Open failed, for metrics and logs:
// "too_large", "decode", "hmac", "clock", "replay", or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrTooLarge):
		return "too_large"
	case errors.Is(err, ErrDecode):
		return "decode"
	case errors.Is(err, ErrHMAC):
		return "hmac"
	case errors.Is(err, ErrClock):
		return "clock"
	case errors.Is(err, ErrReplay):
		return "replay"
	}
	return "other"
}
