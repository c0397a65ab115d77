package wsproto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"fmt"
	"testing"
	"time"
)

// benchPayload is a runtime-log batch of about 1.3 KB, the most frequent
// large message on a busy worker.
func benchPayload() *RuntimeLogPayload {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	p := &RuntimeLogPayload{}
	for i := range 7 {
		p.Lines = append(p.Lines, RuntimeLogLine{
			AppID:  "app_3f9a1c2b7d",
			Stream: "stdout",
			At:     at.Add(time.Duration(i) * time.Millisecond),
			Msg:    fmt.Sprintf(`10.0.0.%d - - "GET /api/v1/items?page=%d HTTP/1.1" 200 512 "-" "curl/8.5" 1.2ms`, i, i),
		})
	}
	return p
}

func benchWire(b *testing.B) []byte {
	e, err := Build(TypeRuntimeLog, 1, benchPayload(), testKey)
	if err != nil {
		b.Fatal(err)
	}
	return e.Encode()
}

func BenchmarkSenderSeal(b *testing.B) {
	p := benchPayload()
	s := NewSender(testKey)
	b.SetBytes(int64(len(benchWire(b))))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(TypeRuntimeLog, p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildEncode(b *testing.B) {
	p := benchPayload()
	b.SetBytes(int64(len(benchWire(b))))
	b.ReportAllocs()
	buf := make([]byte, 0, 4096)
	for i := 0; b.Loop(); i++ {
		e, err := Build(TypeRuntimeLog, uint64(i+1), p, testKey)
		if err != nil {
			b.Fatal(err)
		}
		buf = e.AppendEncode(buf[:0])
	}
}

// BenchmarkOpenDecode is the receiver's whole path: size, strict parse,
// HMAC, clock, sequence window, then the payload decode.
func BenchmarkOpenDecode(b *testing.B) {
	wire := benchWire(b)
	r := NewReceiver(testKey)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset() // the same message again: a new connection each time
		e, err := r.Open(wire)
		if err != nil {
			b.Fatal(err)
		}
		var p RuntimeLogPayload
		if err := e.Decode(&p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	wire := benchWire(b)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(wire); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	e, _ := Parse(benchWire(b))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(e, testKey); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWindowAccept(b *testing.B) {
	var w Window
	b.ReportAllocs()
	var seq uint64
	for b.Loop() {
		seq++
		// Mostly in order, with a neighbour swapped now and then.
		s := seq
		if seq%8 == 0 {
			s = seq + 1
		} else if seq%8 == 1 && seq > 1 {
			s = seq - 1
		}
		w.Accept(s)
	}
}

// The baseline: the same two paths written with encoding/json only.
type stdEnvelope struct {
	Type    string             `json:"t"`
	ID      string             `json:"i"`
	Seq     uint64             `json:"s"`
	TS      int64              `json:"ts"`
	Payload stdjson.RawMessage `json:"p"`
	HMAC    string             `json:"h"`
}

func stdSign(e *stdEnvelope, key []byte) string {
	m := hmac.New(sha256.New, key)
	fmt.Fprintf(m, "%s|%s|%d|%d|", e.Type, e.ID, e.Seq, e.TS)
	m.Write(e.Payload)
	return hex.EncodeToString(m.Sum(nil))
}

func BenchmarkStdlibBuildEncode(b *testing.B) {
	p := benchPayload()
	b.SetBytes(int64(len(benchWire(b))))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var buf bytes.Buffer
		enc := stdjson.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(p); err != nil {
			b.Fatal(err)
		}
		e := stdEnvelope{Type: TypeRuntimeLog, ID: NewID(), Seq: uint64(i + 1), TS: time.Now().UnixMilli(), Payload: bytes.TrimSuffix(buf.Bytes(), []byte("\n"))}
		e.HMAC = stdSign(&e, testKey)
		if _, err := stdjson.Marshal(e); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStdlibDecodeVerify(b *testing.B) {
	wire := benchWire(b)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		var e stdEnvelope
		dec := stdjson.NewDecoder(bytes.NewReader(wire))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			b.Fatal(err)
		}
		if !hmac.Equal([]byte(stdSign(&e, testKey)), []byte(e.HMAC)) {
			b.Fatal("bad hmac")
		}
		var p RuntimeLogPayload
		pd := stdjson.NewDecoder(bytes.NewReader(e.Payload))
		pd.DisallowUnknownFields()
		if err := pd.Decode(&p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpenDecodeJSONv2 is BenchmarkOpenDecode with the payload decoded
// by json v2's general code instead of the hand-written decoder: the figure
// that justifies fastpath.go.
func BenchmarkOpenDecodeJSONv2(b *testing.B) {
	wire := benchWire(b)
	r := NewReceiver(testKey)
	b.SetBytes(int64(len(wire)))
	b.ReportAllocs()
	for b.Loop() {
		r.Reset()
		e, err := r.Open(wire)
		if err != nil {
			b.Fatal(err)
		}
		var p plainRuntimeLog
		if err := e.Decode(&p); err != nil {
			b.Fatal(err)
		}
	}
}
