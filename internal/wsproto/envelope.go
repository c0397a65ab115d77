// Package wsproto is the wire format between the control plane and its
// workers: one signed, time-stamped JSON envelope per WebSocket text message
// (see docs/PROTOCOL.md and the project's protocol.md).
//
// The envelope keeps its payload p as the raw bytes that were received, and
// the HMAC covers exactly those bytes, so nothing here ever re-encodes p
// between receipt and verification. Encode an envelope with Encode or
// AppendEncode; encoding/json would re-escape p and break the signature, so
// Envelope refuses json.Marshal.
package wsproto

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"time"

	"github.com/go-json-experiment/json"
)

const (
	// MaxMessageBytes bounds one WebSocket message; larger ones are refused
	// before any decoding.
	MaxMessageBytes = 2 << 20
	// MaxClockSkew is how far a sender's clock may be from ours.
	MaxClockSkew = 5 * time.Minute
)

// Message types, in the order of protocol.md §3.
const (
	TypeRegister   = "register"
	TypeRegistered = "registered"
	TypeHeartbeat  = "heartbeat"
	TypeJob        = "job"
	TypeJobAck     = "job_ack"
	TypeJobStatus  = "job_status"
	TypeJobResult  = "job_result"
	TypeAppStatus  = "app_status"
	TypeViolation  = "violation"
	TypeRuntimeLog = "runtime_log"
	TypeBuildLog   = "build_log"
	TypeAppStats   = "app_stats"
	TypeError      = "error"
)

// Types lists every message type in protocol order.
var Types = [...]string{
	TypeRegister, TypeRegistered, TypeHeartbeat, TypeJob, TypeJobAck,
	TypeJobStatus, TypeJobResult, TypeAppStatus, TypeViolation,
	TypeRuntimeLog, TypeBuildLog, TypeAppStats, TypeError,
}

// KnownType reports whether t is one of the protocol's message types.
func KnownType(t string) bool {
	for _, k := range Types {
		if k == t {
			return true
		}
	}
	return false
}

// Errors a receiver can branch on (for metrics by reason); each check's
// failure wraps one of them.
var (
	ErrTooLarge = errors.New("wsproto: message exceeds MaxMessageBytes")
	ErrDecode   = errors.New("wsproto: malformed envelope")
	ErrHMAC     = errors.New("wsproto: bad signature")
	ErrClock    = errors.New("wsproto: timestamp outside allowed clock skew")
	ErrReplay   = errors.New("wsproto: sequence number already seen or too old")
)

// Envelope is one signed message. Payload holds p exactly as received (or as
// Build encoded it); HMAC is the lowercase hex HMAC-SHA256 of canonical(e).
type Envelope struct {
	Type    string `json:"t"`
	ID      string `json:"i"`
	Seq     uint64 `json:"s"`
	TS      int64  `json:"ts"` // sender's clock, Unix milliseconds
	Payload []byte `json:"p"`
	HMAC    string `json:"h"`
}

// NewID returns 16 random bytes, hex encoded.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ crashes
		// the program instead), so this is unreachable.
		panic("wsproto: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// KeyFromAPIKey derives the HMAC key both ends share: the 32 raw bytes of
// sha256(raw API key). The key itself is never sent.
func KeyFromAPIKey(rawKey string) []byte {
	sum := sha256.Sum256([]byte(rawKey))
	return sum[:]
}

// canonical returns the signed bytes: t|i|s|ts|p, with p verbatim.
func canonical(e *Envelope) []byte {
	return appendCanonical(make([]byte, 0, len(e.Type)+len(e.ID)+len(e.Payload)+48), e)
}

func appendCanonical(dst []byte, e *Envelope) []byte {
	dst = append(dst, e.Type...)
	dst = append(dst, '|')
	dst = append(dst, e.ID...)
	dst = append(dst, '|')
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, '|')
	dst = strconv.AppendInt(dst, e.TS, 10)
	dst = append(dst, '|')
	return append(dst, e.Payload...)
}

// writeCanonical feeds the canonical bytes to a MAC without building them in
// one buffer first.
func writeCanonical(m hash.Hash, e *Envelope) {
	var num [20]byte
	m.Write([]byte(e.Type))
	m.Write(sep)
	m.Write([]byte(e.ID))
	m.Write(sep)
	m.Write(strconv.AppendUint(num[:0], e.Seq, 10))
	m.Write(sep)
	m.Write(strconv.AppendInt(num[:0], e.TS, 10))
	m.Write(sep)
	m.Write(e.Payload)
}

var sep = []byte{'|'}

// Sign stores the hex HMAC-SHA256 of canonical(e) under key in e.HMAC.
func Sign(e *Envelope, key []byte) {
	m := hmac.New(sha256.New, key)
	writeCanonical(m, e)
	var sum [sha256.Size]byte
	e.HMAC = hex.EncodeToString(m.Sum(sum[:0]))
}

// Verify checks e.HMAC against key in constant time.
func Verify(e *Envelope, key []byte) error {
	return verifyWith(hmac.New(sha256.New, key), e)
}

// verifyWith verifies using a keyed MAC the caller may reuse across messages.
func verifyWith(m hash.Hash, e *Envelope) error {
	var got [sha256.Size]byte
	if len(e.HMAC) != hex.EncodedLen(sha256.Size) {
		return ErrHMAC
	}
	if _, err := hex.Decode(got[:], []byte(e.HMAC)); err != nil {
		return ErrHMAC
	}
	m.Reset()
	writeCanonical(m, e)
	var want [sha256.Size]byte
	if !hmac.Equal(got[:], m.Sum(want[:0])) {
		return ErrHMAC
	}
	return nil
}

// ValidateClock rejects an envelope whose timestamp is more than
// MaxClockSkew away from now, in either direction.
func ValidateClock(e *Envelope, now time.Time) error {
	skew := now.UnixMilli() - e.TS
	if skew > MaxClockSkew.Milliseconds() || skew < -MaxClockSkew.Milliseconds() {
		return fmt.Errorf("%w: %d ms", ErrClock, skew)
	}
	return nil
}

// Build marshals payload, fills an envelope with a fresh id and the current
// time, and signs it.
func Build(msgType string, seq uint64, payload any, key []byte) (*Envelope, error) {
	return build(msgType, NewID(), seq, time.Now().UnixMilli(), payload, key)
}

func build(msgType, id string, seq uint64, ts int64, payload any, key []byte) (*Envelope, error) {
	p, err := marshalPayload(msgType, payload)
	if err != nil {
		return nil, err
	}
	e := &Envelope{Type: msgType, ID: id, Seq: seq, TS: ts, Payload: p}
	Sign(e, key)
	return e, nil
}

func marshalPayload(msgType string, payload any) ([]byte, error) {
	var (
		p   []byte
		err error
	)
	if a, ok := payload.(payloadAppender); ok {
		p, err = a.appendPayload(make([]byte, 0, 1024))
	} else {
		p, err = json.Marshal(payload)
	}
	if err != nil {
		return nil, fmt.Errorf("wsproto: marshal %s payload: %w", msgType, err)
	}
	return p, nil
}

// Decode decodes the payload into out. Unknown payload fields and duplicate
// keys are errors, like everywhere else in the protocol.
func (e *Envelope) Decode(out any) error {
	var err error
	if d, ok := out.(payloadDecoder); ok {
		// The hand-written decoders read the bytes in place; bound them
		// the way the limit reader bounds the general path.
		if len(e.Payload) > MaxMessageBytes {
			err = ErrTooLarge
		} else {
			err = d.decodePayload(e.Payload)
		}
	} else {
		err = json.UnmarshalRead(newLimitReader(e.Payload, MaxMessageBytes), out, json.RejectUnknownMembers(true))
	}
	if err != nil {
		return fmt.Errorf("wsproto: decode %s payload: %w", e.Type, err)
	}
	return nil
}

// Encode returns the wire form: {"t":…,"i":…,"s":…,"ts":…,"p":…,"h":…} with p
// written verbatim.
func (e *Envelope) Encode() []byte {
	return e.AppendEncode(make([]byte, 0, len(e.Payload)+len(e.Type)+len(e.ID)+len(e.HMAC)+64))
}

// AppendEncode appends the wire form to dst.
func (e *Envelope) AppendEncode(dst []byte) []byte {
	dst = append(dst, `{"t":`...)
	dst = appendString(dst, e.Type)
	dst = append(dst, `,"i":`...)
	dst = appendString(dst, e.ID)
	dst = append(dst, `,"s":`...)
	dst = strconv.AppendUint(dst, e.Seq, 10)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, e.TS, 10)
	dst = append(dst, `,"p":`...)
	if len(e.Payload) == 0 {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, e.Payload...)
	}
	dst = append(dst, `,"h":`...)
	dst = appendString(dst, e.HMAC)
	return append(dst, '}')
}

// MarshalJSON refuses: encoding/json and friends compact and HTML-escape the
// payload, which changes the signed bytes. Use Encode.
func (e *Envelope) MarshalJSON() ([]byte, error) {
	return nil, errors.New("wsproto: encode an Envelope with Encode, not a JSON library (it would re-escape p and break the signature)")
}

// UnmarshalJSON parses strictly, like Parse, keeping p verbatim.
func (e *Envelope) UnmarshalJSON(data []byte) error {
	return parseInto(e, data)
}

// appendString appends s as a JSON string. The envelope's own strings are
// type names and hex, but escape properly anyway so a hostile value can
// never break out of its quotes.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c < 0x20:
			dst = append(dst, `\u00`...)
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

const hexDigits = "0123456789abcdef"
