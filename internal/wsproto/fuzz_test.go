package wsproto

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzParseVerify feeds arbitrary messages through every receiver step.
// Whatever the input: no panic, an error is one of the protocol's, and an
// accepted message is valid JSON whose re-encoding parses to the same
// envelope.
func FuzzParseVerify(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add([]byte(v.Wire))
	}
	f.Add([]byte(`{"t":"x","i":"00112233445566778899aabbccddeeff","s":1,"ts":1,"p":[{"a":"\ud83d\ude00"},-0.5e+3,null],"h":"2a33aca301d691fbf25d111c0e188c5aa7fcb9d08131c122ee860a146e8ef734"}`))
	f.Add([]byte(`{"t":"x","t":"y"}`))
	f.Add([]byte(`{"t":"x","i":"0","s":18446744073709551616}`))
	f.Add([]byte("{\"p\":\"\xff\"}"))
	f.Add([]byte(`[[[[[[[[[[`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrDecode) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse error %v is neither ErrDecode nor ErrTooLarge", err)
			}
			return
		}
		if !stdjson.Valid(data) || !stdjson.Valid(e.Payload) {
			t.Fatalf("Parse accepted invalid JSON %q", data)
		}
		// encoding/json reads the same values (it is laxer, never stricter).
		var std struct {
			T  string             `json:"t"`
			I  string             `json:"i"`
			S  uint64             `json:"s"`
			TS int64              `json:"ts"`
			P  stdjson.RawMessage `json:"p"`
			H  string             `json:"h"`
		}
		if err := stdjson.Unmarshal(data, &std); err != nil {
			t.Fatalf("encoding/json rejects what Parse accepted: %v", err)
		}
		if std.T != e.Type || std.I != e.ID || std.S != e.Seq || std.TS != e.TS || std.H != e.HMAC ||
			!bytes.Equal(bytes.TrimSpace(std.P), e.Payload) {
			t.Fatalf("Parse and encoding/json disagree: %+v vs %+v", e, std)
		}
		again, err := Parse(e.Encode())
		if err != nil {
			t.Fatalf("re-encoded envelope does not parse: %v", err)
		}
		if again.Type != e.Type || again.ID != e.ID || again.Seq != e.Seq || again.TS != e.TS ||
			!bytes.Equal(again.Payload, e.Payload) || again.HMAC != e.HMAC {
			t.Fatalf("re-encoding changed the envelope: %+v vs %+v", again, e)
		}
		_ = Verify(e, testKey)
		_ = ValidateClock(e, time.Time{})
		var hb HeartbeatPayload
		_ = e.Decode(&hb)
		var logs RuntimeLogPayload
		_ = e.Decode(&logs)
		_, _ = NewReceiver(testKey).Open(data)
	})
}

// FuzzPayloadValidator checks the payload validator against encoding/json:
// whatever it accepts, encoding/json accepts too; and it accepts every valid
// JSON value made of valid UTF-8 that is not nested too deeply.
func FuzzPayloadValidator(f *testing.F) {
	for _, s := range []string{`{}`, `[]`, `"x"`, `0`, `-1.5E+10`, `{"a":[1,{"b":null}]}`, `"\u00e9"`, `tru`, `01`, `{"a" 1}`, `"\ud800"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		wire := make([]byte, 0, len(p)+128)
		wire = append(wire, `{"t":"x","i":"00112233445566778899aabbccddeeff","s":1,"ts":1,"p":`...)
		wire = append(wire, p...)
		wire = append(wire, `,"h":"2a33aca301d691fbf25d111c0e188c5aa7fcb9d08131c122ee860a146e8ef734"}`...)
		_, err := Parse(wire)
		std := stdjson.Valid(p)
		if err == nil && !std {
			t.Fatalf("accepted %q, which encoding/json rejects", p)
		}
		if err != nil && std && utf8.Valid(p) && depth(p) < maxDepth && len(wire) <= MaxMessageBytes {
			t.Fatalf("rejected valid %q: %v", p, err)
		}
	})
}

// depth is the maximum bracket nesting of a valid JSON text (ignoring
// brackets inside strings).
func depth(p []byte) int {
	d, m, inStr, esc := 0, 0, false, false
	for _, c := range p {
		switch {
		case esc:
			esc = false
		case inStr && c == '\\':
			esc = true
		case c == '"':
			inStr = !inStr
		case !inStr && (c == '[' || c == '{'):
			d++
			m = max(m, d)
		case !inStr && (c == ']' || c == '}'):
			d--
		}
	}
	return m
}
