package wsproto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"sync"
	"time"
)

// Sender numbers, signs and encodes the outgoing messages of one connection:
// the sending half that pairs with Receiver. It keeps one keyed MAC instead
// of keying a new one per message. Safe for concurrent use.
type Sender struct {
	mu  sync.Mutex
	mac hash.Hash
	seq uint64
	now func() time.Time
}

// NewSender returns a Sender for messages signed with key.
func NewSender(key []byte) *Sender {
	return &Sender{mac: hmac.New(sha256.New, key), now: time.Now}
}

// Reset restarts numbering at 1, for a new connection.
func (s *Sender) Reset() {
	s.mu.Lock()
	s.seq = 0
	s.mu.Unlock()
}

// Seal marshals payload and returns the wire bytes of the next envelope.
func (s *Sender) Seal(msgType string, payload any) ([]byte, error) {
	p, err := marshalPayload(msgType, payload)
	if err != nil {
		return nil, err
	}
	e := Envelope{Type: msgType, ID: NewID(), Payload: p}
	var sum [sha256.Size]byte

	s.mu.Lock()
	s.seq++
	e.Seq = s.seq
	e.TS = s.now().UnixMilli()
	s.mac.Reset()
	writeCanonical(s.mac, &e)
	s.mac.Sum(sum[:0])
	s.mu.Unlock()

	e.HMAC = hex.EncodeToString(sum[:])
	return e.AppendEncode(make([]byte, 0, len(p)+len(msgType)+180)), nil
}
