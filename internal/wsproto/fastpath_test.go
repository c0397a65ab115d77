package wsproto

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
)

// plainRuntimeLog has RuntimeLogPayload's fields but not its methods, so
// json v2 decodes it with its general code: the reference the hand-written
// decoder must match.
type plainRuntimeLog RuntimeLogPayload

func decodeBoth(data []byte) (fast, ref RuntimeLogPayload, fastErr, refErr error) {
	fastErr = fast.decodePayload(data)
	refErr = json.Unmarshal(data, (*plainRuntimeLog)(&ref), json.RejectUnknownMembers(true))
	return
}

var runtimeLogSeeds = []string{
	`{"lines":[{"app_id":"a","stream":"stdout","at":"2026-11-27T10:00:00.123456789Z","msg":"hi"}]}`,
	`{"lines":[]}`, `{"lines":null}`, `{}`, `null`, ` {"lines" : [ null , {} ] } `,
	`{"lines":[{"app_id":"a\u00e9\n","msg":"\ud83d\ude00 <&>","at":"2026-11-27T10:00:00+01:00"}]}`,
	`{"lines":[{"app_id":null,"stream":null,"at":null,"msg":null}]}`,
	`{"lines":[{"app_id":"a","app_id":"b"}]}`, `{"lines":[],"lines":[]}`, `{"extra":1}`,
	`{"lines":[{"at":"2026-11-27T10:00:00+24:00"}]}`, `{"lines":[{"at":"2026-11-27T1:00:00Z"}]}`,
	`{"lines":[{"at":"2026-11-27T10:00:00,5Z"}]}`, `{"lines":[{"at":"2026-11-27 10:00:00Z"}]}`,
	`{"lines":[{"at":"\u0032026-11-27T10:00:00Z"}]}`, `{"lines":[{"at":5}]}`, `{"lines":{}}`,
	`{"lines":[{"msg":"x"}]} x`, `[]`, `"x"`, `{"lines":[{"msg":"\x"}]}`, "{\"lines\":[{\"msg\":\"\xff\"}]}",
	`{"lines":[{"msg":"\ud800"}]}`, `{"lines":[{"msg":"\udc00\ud800"}]}`, `{"lines":[{"msg":"\ud800\u0041"}]}`,
	`{"lines":[{"msg":"\ud800\\udc00"}]}`, `{"lines":[{"msg":"\\ud800 \ud83d\ude00x"}]}`,
	`{"Lines":[]}`, `{"lines":[{"MSG":"x"}]}`, `{"lines":[1]}`, `{"lines":[{"msg":"a"},]}`,
}

func TestRuntimeLogDecodeMatchesJSONv2(t *testing.T) {
	for _, s := range runtimeLogSeeds {
		fast, ref, fastErr, refErr := decodeBoth([]byte(s))
		if (fastErr == nil) != (refErr == nil) {
			t.Errorf("%s:\n fast err %v\n  v2 err %v", s, fastErr, refErr)
			continue
		}
		if fastErr == nil && !reflect.DeepEqual(fast, ref) {
			t.Errorf("%s:\n fast %+v\n  v2 %+v", s, fast, ref)
		}
	}
}

func FuzzRuntimeLogDecode(f *testing.F) {
	for _, s := range runtimeLogSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ref, fastErr, refErr := decodeBoth(data)
		if (fastErr == nil) != (refErr == nil) {
			t.Fatalf("%q:\n fast err %v\n  v2 err %v", data, fastErr, refErr)
		}
		if fastErr == nil && !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q:\n fast %+v\n  v2 %+v", data, fast, ref)
		}
	})
}

func TestRuntimeLogEncodeMatchesJSONv2(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 120000000, time.FixedZone("x", 3600))
	var lines []RuntimeLogLine
	for _, msg := range []string{"", "plain", `quote " backslash \ slash /`, "ctl \x00\x01\b\f\n\r\t\x1f\x7f",
		"html <b>&amp;</b>", "unicode é ✓ 😀 \u2028\u2029", strings.Repeat("x", 3000)} {
		lines = append(lines, RuntimeLogLine{AppID: "app", Stream: "stderr", At: at, Msg: msg})
	}
	for _, p := range []RuntimeLogPayload{{}, {Lines: []RuntimeLogLine{}}, {Lines: lines}, {Lines: []RuntimeLogLine{{}}}} {
		fast, err := p.appendPayload(nil)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := json.Marshal((*plainRuntimeLog)(&p))
		if err != nil {
			t.Fatal(err)
		}
		if string(fast) != string(ref) {
			t.Errorf("encodings differ:\nfast %s\n  v2 %s", fast, ref)
		}
	}
}

// json v2 refuses to encode invalid UTF-8; a log batch must not be lost for
// one bad byte, so the fast encoder replaces it and the result decodes.
func TestRuntimeLogEncodeInvalidUTF8(t *testing.T) {
	p := RuntimeLogPayload{Lines: []RuntimeLogLine{{AppID: "a", Stream: "stdout", At: time.Now(), Msg: "bad \xff\xfe byte"}}}
	wire, err := NewSender(testKey).Seal(TypeRuntimeLog, p)
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewReceiver(testKey).Open(wire)
	if err != nil {
		t.Fatal(err)
	}
	var got RuntimeLogPayload
	if err := e.Decode(&got); err != nil {
		t.Fatal(err)
	}
	if want := "bad \ufffd\ufffd byte"; got.Lines[0].Msg != want || !utf8.ValidString(got.Lines[0].Msg) {
		t.Fatalf("msg = %q, want %q", got.Lines[0].Msg, want)
	}
	if _, err := (RuntimeLogPayload{Lines: []RuntimeLogLine{{At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}}}).appendPayload(nil); err == nil {
		t.Fatal("year 10000 encoded")
	}
}
