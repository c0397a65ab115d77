package wsproto

import (
	"bytes"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
)

type vector struct {
	RawAPIKey  string `json:"raw_api_key"`
	HMACKeyHex string `json:"hmac_key_hex"`
	Canonical  string `json:"canonical"`
	HMAC       string `json:"hmac"`
	Wire       string `json:"wire"`
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(data, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

// The committed copy must match the specification's, when it is beside the
// repository (it is on developers' machines and in CI).
func TestVectorsMatchSpec(t *testing.T) {
	spec, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "spec", "vectors.json"))
	if errors.Is(err, os.ErrNotExist) {
		t.Skip("../shared/spec/vectors.json is not beside the repository")
	}
	if err != nil {
		t.Fatal(err)
	}
	ours, err := os.ReadFile(filepath.Join("testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(spec, ours) {
		t.Fatal("testdata/vectors.json differs from shared/spec/vectors.json: copy it again")
	}
}

// typedPayload returns a fresh value of the Go payload type for a message type.
func typedPayload(t testing.TB, msgType string) any {
	switch msgType {
	case TypeHeartbeat:
		return new(HeartbeatPayload)
	case TypeJobAck:
		return new(JobAckPayload)
	case TypeError:
		return new(ErrorPayload)
	}
	t.Fatalf("no payload type for %q in this test", msgType)
	return nil
}

func TestVectors(t *testing.T) {
	for n, v := range loadVectors(t) {
		t.Run(v.Canonical[:bytes.IndexByte([]byte(v.Canonical), '|')], func(t *testing.T) {
			key := KeyFromAPIKey(v.RawAPIKey)
			if got := hex.EncodeToString(key); got != v.HMACKeyHex {
				t.Fatalf("vector %d: key = %s, want %s", n, got, v.HMACKeyHex)
			}

			// Verify accepts the wire message exactly as received.
			e, err := Parse([]byte(v.Wire))
			if err != nil {
				t.Fatalf("Parse(wire): %v", err)
			}
			if got := string(canonical(e)); got != v.Canonical {
				t.Fatalf("canonical = %q, want %q", got, v.Canonical)
			}
			if e.HMAC != v.HMAC {
				t.Fatalf("h = %s, want %s", e.HMAC, v.HMAC)
			}
			if err := Verify(e, key); err != nil {
				t.Fatalf("Verify(wire): %v", err)
			}
			if got := e.Encode(); string(got) != v.Wire {
				t.Fatalf("re-encoded wire differs:\n got %s\nwant %s", got, v.Wire)
			}

			// Sign over the same envelope gives the same h.
			signed := *e
			signed.HMAC = ""
			Sign(&signed, key)
			if signed.HMAC != v.HMAC {
				t.Fatalf("Sign: h = %s, want %s", signed.HMAC, v.HMAC)
			}

			// Build from the typed payload reproduces the wire byte for byte.
			p := typedPayload(t, e.Type)
			if err := e.Decode(p); err != nil {
				t.Fatalf("Decode: %v", err)
			}
			built, err := build(e.Type, e.ID, e.Seq, e.TS, p, key)
			if err != nil {
				t.Fatal(err)
			}
			if got := built.Encode(); string(got) != v.Wire {
				t.Fatalf("Build wire differs:\n got %s\nwant %s", got, v.Wire)
			}

			// The full receiver path accepts it at the vector's own time.
			r := NewReceiver(key)
			r.now = func() time.Time { return time.UnixMilli(e.TS) }
			if _, err := r.Open([]byte(v.Wire)); err != nil {
				t.Fatalf("Receiver.Open: %v", err)
			}
		})
	}
}

// Vector 3 holds <, > and & unescaped in p. encoding/json's default encoder
// escapes them, so a receiver that re-encodes p before verifying rejects an
// authentic message: the reason p must stay raw.
func TestReencodingPayloadBreaksVerify(t *testing.T) {
	vs := loadVectors(t)
	v := vs[2]
	e, err := Parse([]byte(v.Wire))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := stdjson.Unmarshal(e.Payload, &m); err != nil {
		t.Fatal(err)
	}
	reencoded, err := stdjson.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(reencoded, e.Payload) {
		t.Fatal("expected encoding/json to change the payload bytes")
	}
	e.Payload = reencoded
	if err := Verify(e, KeyFromAPIKey(v.RawAPIKey)); !errors.Is(err, ErrHMAC) {
		t.Fatalf("Verify(re-encoded) = %v, want ErrHMAC", err)
	}
}

func TestMarshalJSONRefuses(t *testing.T) {
	e := &Envelope{Type: TypeHeartbeat, Payload: []byte(`{}`)}
	if _, err := stdjson.Marshal(e); err == nil {
		t.Fatal("encoding/json.Marshal(Envelope) succeeded; it must refuse")
	}
	if _, err := json.Marshal(e); err == nil {
		t.Fatal("json v2 Marshal(Envelope) succeeded; it must refuse")
	}
}
