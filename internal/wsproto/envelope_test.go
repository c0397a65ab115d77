package wsproto

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
)

var testKey = KeyFromAPIKey("whk_test_0123456789abcdef")

func mustBuild(t testing.TB, msgType string, seq uint64, payload any) *Envelope {
	t.Helper()
	e, err := Build(msgType, seq, payload, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !isLowerHex([]byte(id), 32) {
			t.Fatalf("NewID() = %q, want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("NewID() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestTypes(t *testing.T) {
	want := []string{"register", "registered", "heartbeat", "job", "job_ack", "job_status",
		"job_result", "app_status", "violation", "runtime_log", "build_log", "app_stats", "error"}
	if len(Types) != len(want) {
		t.Fatalf("%d types, want %d", len(Types), len(want))
	}
	for i, w := range want {
		if Types[i] != w {
			t.Errorf("Types[%d] = %q, want %q", i, Types[i], w)
		}
		if !KnownType(w) {
			t.Errorf("KnownType(%q) = false", w)
		}
	}
	if KnownType("Heartbeat") || KnownType("") {
		t.Error("KnownType accepts a non-type")
	}
}

// Changing any one of t/i/s/ts/p/h makes Verify fail.
func TestVerifyDetectsTampering(t *testing.T) {
	base := mustBuild(t, TypeJobAck, 7, JobAckPayload{JobID: "j-1", Accepted: true})
	if err := Verify(base, testKey); err != nil {
		t.Fatalf("untampered: %v", err)
	}
	flipHex := func(s string) string {
		b := []byte(s)
		if b[0] == 'a' {
			b[0] = 'b'
		} else {
			b[0] = 'a'
		}
		return string(b)
	}
	cases := []struct {
		name   string
		tamper func(e *Envelope)
	}{
		{"t", func(e *Envelope) { e.Type = TypeJobResult }},
		{"i", func(e *Envelope) { e.ID = flipHex(e.ID) }},
		{"s", func(e *Envelope) { e.Seq++ }},
		{"ts", func(e *Envelope) { e.TS++ }},
		{"p", func(e *Envelope) { e.Payload = []byte(`{"job_id":"j-1","accepted":false}`) }},
		{"p whitespace", func(e *Envelope) { e.Payload = []byte(`{"job_id": "j-1","accepted":true}`) }},
		{"h", func(e *Envelope) { e.HMAC = flipHex(e.HMAC) }},
		{"h last digit", func(e *Envelope) { b := []byte(e.HMAC); b[63] ^= 1; e.HMAC = string(b) }},
		{"h truncated", func(e *Envelope) { e.HMAC = e.HMAC[:62] }},
		{"h not hex", func(e *Envelope) { e.HMAC = strings.Repeat("z", 64) }},
		{"h empty", func(e *Envelope) { e.HMAC = "" }},
		{"other key", func(e *Envelope) { Sign(e, KeyFromAPIKey("another-key")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := *base
			e.Payload = bytes.Clone(base.Payload)
			tc.tamper(&e)
			if err := Verify(&e, testKey); !errors.Is(err, ErrHMAC) {
				t.Fatalf("Verify = %v, want ErrHMAC", err)
			}
			// And through the wire, as a receiver sees it.
			r := NewReceiver(testKey)
			if _, err := r.Open(e.Encode()); err == nil {
				t.Fatal("Receiver.Open accepted a tampered message")
			}
		})
	}
}

func TestValidateClock(t *testing.T) {
	now := time.UnixMilli(1764230400000)
	cases := []struct {
		name   string
		offset time.Duration // sender clock minus ours
		ok     bool
	}{
		{"same time", 0, true},
		{"sender 5 min behind", -5 * time.Minute, true},
		{"sender 5 min ahead", 5 * time.Minute, true},
		{"sender 5 min 1 ms behind", -5*time.Minute - time.Millisecond, false},
		{"sender 5 min 1 ms ahead", 5*time.Minute + time.Millisecond, false},
		{"sender a day ahead", 24 * time.Hour, false},
		{"sender at epoch", -time.Duration(now.UnixNano()), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &Envelope{TS: now.Add(tc.offset).UnixMilli()}
			err := ValidateClock(e, now)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want ok", err)
			}
			if !tc.ok && !errors.Is(err, ErrClock) {
				t.Fatalf("got %v, want ErrClock", err)
			}
		})
	}
	// Extreme timestamps must not overflow into acceptance.
	for _, ts := range []int64{math.MinInt64, math.MaxInt64} {
		if err := ValidateClock(&Envelope{TS: ts}, now); err == nil {
			t.Errorf("ts %d accepted", ts)
		}
	}
}

// padTo builds a valid, signed message of exactly n bytes.
func padTo(t *testing.T, n int) []byte {
	t.Helper()
	e := mustBuild(t, TypeBuildLog, 1, BuildLogPayload{JobID: "j", DeploymentID: "d", Data: ""})
	over := n - len(e.Encode())
	if over < 0 {
		t.Fatalf("cannot pad to %d", n)
	}
	e = mustBuild(t, TypeBuildLog, 1, BuildLogPayload{JobID: "j", DeploymentID: "d", Data: strings.Repeat("x", over)})
	wire := e.Encode()
	if len(wire) != n {
		t.Fatalf("padded to %d, want %d", len(wire), n)
	}
	return wire
}

func TestMessageSizeLimit(t *testing.T) {
	atLimit := padTo(t, MaxMessageBytes)
	r := NewReceiver(testKey)
	e, err := r.Open(atLimit)
	if err != nil {
		t.Fatalf("message of exactly MaxMessageBytes refused: %v", err)
	}
	var p BuildLogPayload
	if err := e.Decode(&p); err != nil || len(p.Data) == 0 {
		t.Fatalf("Decode at limit: %v", err)
	}

	// One byte more (valid JSON: a trailing space) is refused before decoding.
	over := append(bytes.Clone(atLimit), ' ')
	if _, err := Parse(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Parse(2 MiB + 1) = %v, want ErrTooLarge", err)
	}
	if _, err := NewReceiver(testKey).Open(over); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Open(2 MiB + 1) = %v, want ErrTooLarge", err)
	}
	// Refused before decoding: garbage of that size gets the size error, not a
	// decode error.
	garbage := bytes.Repeat([]byte{'{'}, MaxMessageBytes+1)
	if _, err := Parse(garbage); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Parse(garbage 2 MiB + 1) = %v, want ErrTooLarge", err)
	}
}

const goodWire = `{"t":"heartbeat","i":"00112233445566778899aabbccddeeff","s":1,"ts":1764230400000,"p":{"status":"ready"},"h":"2a33aca301d691fbf25d111c0e188c5aa7fcb9d08131c122ee860a146e8ef734"}`

func TestParseStrict(t *testing.T) {
	const (
		i = `"i":"00112233445566778899aabbccddeeff"`
		h = `"h":"2a33aca301d691fbf25d111c0e188c5aa7fcb9d08131c122ee860a146e8ef734"`
	)
	ok := func(s string) string { return `{"t":"heartbeat",` + i + `,"s":1,"ts":1,"p":` + s + `,` + h + `}` }
	good := []struct{ name, wire string }{
		{"vector", goodWire},
		{"whitespace everywhere", " {\n\t\"t\" : \"heartbeat\" ,\r\n" + i + " , \"s\":1,\"ts\":-5,\"p\": { \"a\" : [ 1 , 2.5e-3 , true , false , null , \"\\u00e9\\n\" ] } ," + h + " } \n"},
		{"keys in another order", `{` + h + `,"p":{},"ts":0,"s":18446744073709551615,` + i + `,"t":"x"}`},
		{"escaped key", `{"\u0074":"heartbeat",` + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
		{"p is null", ok(`null`)},
		{"p non-ASCII", ok(`{"m":"héllo ✓ 😀"}`)},
		{"p surrogate pair escape", ok(`{"m":"\ud83d\ude00"}`)},
		{"p deep but allowed", ok(strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth))},
		{"ts min int64", `{"t":"x",` + i + `,"s":1,"ts":-9223372036854775808,"p":{},` + h + `}`},
	}
	for _, tc := range good {
		t.Run("ok/"+tc.name, func(t *testing.T) {
			if _, err := Parse([]byte(tc.wire)); err != nil {
				t.Fatalf("Parse: %v", err)
			}
		})
	}

	bad := []struct{ name, wire string }{
		{"empty", ``},
		{"not an object", `[]`},
		{"null", `null`},
		{"unknown key", `{"t":"heartbeat",` + i + `,"s":1,"ts":1,"p":{},` + h + `,"x":1}`},
		{"uppercase key", `{"T":"heartbeat",` + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
		{"duplicate key", `{"t":"heartbeat","t":"job",` + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
		{"duplicate key via escape", `{"t":"heartbeat","\u0074":"job",` + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
		{"duplicate p", `{"t":"heartbeat",` + i + `,"s":1,"ts":1,"p":{},"p":{"x":1},` + h + `}`},
		{"missing h", `{"t":"heartbeat",` + i + `,"s":1,"ts":1,"p":{}}`},
		{"missing p", `{"t":"heartbeat",` + i + `,"s":1,"ts":1,` + h + `}`},
		{"t is a number", `{"t":1,` + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
		{"t is empty", `{"t":"",` + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
		{"i uppercase hex", `{"t":"x","i":"00112233445566778899AABBCCDDEEFF","s":1,"ts":1,"p":{},` + h + `}`},
		{"i too short", `{"t":"x","i":"0011","s":1,"ts":1,"p":{},` + h + `}`},
		{"h not hex", `{"t":"x",` + i + `,"s":1,"ts":1,"p":{},"h":"` + strings.Repeat("g", 64) + `"}`},
		{"s is a string", `{"t":"x",` + i + `,"s":"1","ts":1,"p":{},` + h + `}`},
		{"s negative", `{"t":"x",` + i + `,"s":-1,"ts":1,"p":{},` + h + `}`},
		{"s fraction", `{"t":"x",` + i + `,"s":1.0,"ts":1,"p":{},` + h + `}`},
		{"s exponent", `{"t":"x",` + i + `,"s":1e3,"ts":1,"p":{},` + h + `}`},
		{"s leading zero", `{"t":"x",` + i + `,"s":01,"ts":1,"p":{},` + h + `}`},
		{"s overflows uint64", `{"t":"x",` + i + `,"s":18446744073709551616,"ts":1,"p":{},` + h + `}`},
		{"s is null", `{"t":"x",` + i + `,"s":null,"ts":1,"p":{},` + h + `}`},
		{"ts overflows int64", `{"t":"x",` + i + `,"s":1,"ts":9223372036854775808,"p":{},` + h + `}`},
		{"ts below int64", `{"t":"x",` + i + `,"s":1,"ts":-9223372036854775809,"p":{},` + h + `}`},
		{"ts is a bool", `{"t":"x",` + i + `,"s":1,"ts":true,"p":{},` + h + `}`},
		{"p bare word", ok(`hello`)},
		{"p truncated object", `{"t":"x",` + i + `,"s":1,"ts":1,"p":{"a":1,` + h + `}`},
		{"p trailing comma", ok(`{"a":1,}`)},
		{"p single quotes", ok(`{'a':1}`)},
		{"p bad number", ok(`{"a":01}`)},
		{"p bad exponent", ok(`{"a":1e}`)},
		{"p control char", ok("{\"a\":\"x\ty\"}")},
		{"p bad escape", ok(`{"a":"\x"}`)},
		{"p short unicode escape", ok(`{"a":"\u12"}`)},
		{"p invalid UTF-8", ok("{\"a\":\"\xff\"}")},
		{"p too deep", ok(strings.Repeat("[", maxDepth+1) + strings.Repeat("]", maxDepth+1))},
		{"trailing comma", `{"t":"x",` + i + `,"s":1,"ts":1,"p":{},` + h + `,}`},
		{"trailing data", goodWire + `{}`},
		{"two objects", goodWire + goodWire},
		{"BOM", "\ufeff" + goodWire},
		{"invalid UTF-8 in t", "{\"t\":\"\xc3\x28\"," + i + `,"s":1,"ts":1,"p":{},` + h + `}`},
	}
	for _, tc := range bad {
		t.Run("bad/"+tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.wire))
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("Parse = %v, want ErrDecode", err)
			}
		})
	}

	// Every truncation of a valid message is an error, never a panic.
	for n := range len(goodWire) {
		if _, err := Parse([]byte(goodWire[:n])); !errors.Is(err, ErrDecode) {
			t.Fatalf("Parse(first %d bytes) = %v, want ErrDecode", n, err)
		}
	}
}

func TestPayloadDecodeStrict(t *testing.T) {
	cases := []struct {
		name, p string
		ok      bool
	}{
		{"ok", `{"job_id":"j-1","accepted":true}`, true},
		{"unknown field", `{"job_id":"j-1","accepted":true,"extra":1}`, false},
		{"duplicate field", `{"job_id":"j-1","job_id":"j-2","accepted":true}`, false},
		{"wrong type", `{"job_id":1,"accepted":true}`, false},
		{"not an object", `[1]`, false},
		{"truncated", `{"job_id":"j-1"`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := &Envelope{Type: TypeJobAck, Payload: []byte(tc.p)}
			var ack JobAckPayload
			err := e.Decode(&ack)
			if tc.ok != (err == nil) {
				t.Fatalf("Decode = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// Every payload type survives Build → wire → Open → Decode unchanged.
func TestPayloadRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	cases := []struct {
		msgType string
		in, out any
	}{
		{TypeRegister, &RegisterPayload{Name: "w1", Hostname: "h", Version: "v", CPUs: 2, PortRange: [2]int{20000, 29999}, DiskQuota: true}, new(RegisterPayload)},
		{TypeRegistered, &RegisteredPayload{WorkerID: 7}, new(RegisteredPayload)},
		{TypeHeartbeat, &HeartbeatPayload{Status: WorkerReady, Resources: models.WorkerResources{CPUs: 2, MemoryTotalBytes: 1 << 30}, Apps: []HeartbeatApp{{AppID: "a", ContainerID: "c", Status: models.AppRunning}}}, new(HeartbeatPayload)},
		{TypeJob, &JobPayload{JobID: "j", Type: models.JobDeploy, AppID: "a", DeploymentID: "d", Deploy: &models.DeployPayload{AppID: "a", AppName: "web", RepoURL: "https://example.com/r.git", Port: 8080, Env: map[string]string{"K": "v"}, Limits: models.Limits{MemoryBytes: 64 << 20, CPUMillis: 500}}}, new(JobPayload)},
		{TypeJobAck, &JobAckPayload{JobID: "j", Accepted: false, Reason: "queue full"}, new(JobAckPayload)},
		{TypeJobStatus, &JobStatusPayload{JobID: "j", Status: JobBuilding, Progress: 40}, new(JobStatusPayload)},
		{TypeJobResult, &JobResultPayload{JobID: "j", Success: true, ContainerID: "c", ImageID: "sha256:ab", HostPort: 20001}, new(JobResultPayload)},
		{TypeAppStatus, &AppStatusPayload{AppID: "a", Status: models.AppCrashed, RestartCount: 3, At: at}, new(AppStatusPayload)},
		{TypeViolation, &ViolationPayload{AppID: "a", Kind: models.ViolationOOM, Message: "killed", Action: "stopped", At: at}, new(ViolationPayload)},
		{TypeRuntimeLog, &RuntimeLogPayload{Lines: []RuntimeLogLine{{AppID: "a", Stream: "stdout", At: at, Msg: "<b>&</b>"}}}, new(RuntimeLogPayload)},
		{TypeBuildLog, &BuildLogPayload{JobID: "j", DeploymentID: "d", Offset: 4096, Data: "Step 1/3\n"}, new(BuildLogPayload)},
		{TypeAppStats, &AppStatsPayload{At: at, Apps: []AppStatLine{{AppID: "a", CPUPercent: 12.5, MemBytes: 1 << 20}}}, new(AppStatsPayload)},
		{TypeError, &ErrorPayload{Code: "bad_request", Message: "x <y> & z"}, new(ErrorPayload)},
	}
	if len(cases) != len(Types) {
		t.Fatalf("round trip covers %d types, protocol has %d", len(cases), len(Types))
	}
	r := NewReceiver(testKey)
	for n, tc := range cases {
		t.Run(tc.msgType, func(t *testing.T) {
			e := mustBuild(t, tc.msgType, uint64(n+1), tc.in)
			got, err := r.Open(e.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if err := got.Decode(tc.out); err != nil {
				t.Fatal(err)
			}
			want, _ := Build(tc.msgType, 1, tc.in, testKey)
			again, _ := Build(tc.msgType, 1, tc.out, testKey)
			if !bytes.Equal(want.Payload, again.Payload) {
				t.Fatalf("round trip changed the payload:\n in %s\nout %s", want.Payload, again.Payload)
			}
		})
	}
}

func TestWindow(t *testing.T) {
	type step struct {
		seq  uint64
		want bool
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{1, true}, {2, true}, {3, true}}},
		{"zero is invalid", []step{{0, false}, {1, true}, {0, false}}},
		{"replay refused", []step{{1, true}, {2, true}, {2, false}, {1, false}}},
		{"out of order within the window", []step{{1, true}, {3, true}, {2, true}, {2, false}, {3, false}}},
		{"gap of 256 still checked", []step{{1, true}, {257, true}, {1, false}, {2, true}}},
		{"exactly 256 behind is accepted once", []step{{300, true}, {44, true}, {44, false}}},
		{"257 behind is pruned and refused", []step{{300, true}, {43, false}}},
		{"jump past the capacity clears", []step{{5, true}, {5 + 5000, true}, {5, false}, {4999 + 5, true}, {4999 + 5, false}}},
		{"slots reused after wrapping", []step{{1, true}, {1025, true}, {1024, true}, {1025, false}, {2049, true}, {2048, true}}},
		{"max uint64", []step{{math.MaxUint64, true}, {math.MaxUint64, false}, {math.MaxUint64 - 256, true}, {math.MaxUint64 - 257, false}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var w Window
			for i, s := range tc.steps {
				if got := w.Accept(s.seq); got != s.want {
					t.Fatalf("step %d: Accept(%d) = %v, want %v", i, s.seq, got, s.want)
				}
			}
		})
	}
	// Reset starts a new connection: numbering from 1 is new again.
	var w Window
	w.Accept(1)
	w.Reset()
	if !w.Accept(1) {
		t.Fatal("Accept(1) after Reset = false")
	}
}

// Exhaustive check against a plain set: within the last 256 every number is
// accepted exactly once, whatever order they come in.
func TestWindowMatchesSet(t *testing.T) {
	var w Window
	seen := map[uint64]bool{}
	var newest uint64
	// A deterministic pseudo-random walk with jumps forward and back.
	x := uint64(88172645463325252)
	for range 200000 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		var seq uint64
		switch x % 4 {
		case 0:
			seq = newest + 1 + x%3
		case 1:
			seq = newest + x%600
		default:
			back := x % 300
			if back >= newest {
				continue
			}
			seq = newest - back
		}
		want := seq != 0 && !seen[seq] && (seq > newest || newest-seq <= windowGap)
		if got := w.Accept(seq); got != want {
			t.Fatalf("Accept(%d) with newest %d = %v, want %v", seq, newest, got, want)
		}
		if want {
			seen[seq] = true
			newest = max(newest, seq)
		}
	}
}

func TestReceiverCheckOrder(t *testing.T) {
	now := time.UnixMilli(1764230400000)
	newRecv := func() *Receiver {
		r := NewReceiver(testKey)
		r.now = func() time.Time { return now }
		return r
	}
	msg := func(seq uint64, ts time.Time, key []byte) []byte {
		e, err := build(TypeHeartbeat, NewID(), seq, ts.UnixMilli(), HeartbeatPayload{Status: WorkerReady}, key)
		if err != nil {
			t.Fatal(err)
		}
		return e.Encode()
	}
	other := KeyFromAPIKey("someone else")

	cases := []struct {
		name   string
		sends  [][]byte
		reason string // for the last message; "" = accepted
	}{
		{"fresh", [][]byte{msg(1, now, testKey)}, ""},
		{"forged and stale is an hmac failure", [][]byte{msg(1, now.Add(-time.Hour), other)}, "hmac"},
		{"stale", [][]byte{msg(1, now.Add(-time.Hour), testKey)}, "clock"},
		{"replay", [][]byte{msg(1, now, testKey), msg(1, now, testKey)}, "replay"},
		{"forged message does not burn its sequence", [][]byte{msg(5, now, other), msg(5, now, testKey)}, ""},
		{"stale message does not burn its sequence", [][]byte{msg(5, now.Add(time.Hour), testKey), msg(5, now, testKey)}, ""},
		{"oversized", [][]byte{padTo(t, MaxMessageBytes+1)}, "too_large"},
		{"malformed", [][]byte{[]byte(`{"t":"heartbeat"}`)}, "decode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecv()
			var err error
			for _, m := range tc.sends {
				_, err = r.Open(m)
			}
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("last message refused: %v", err)
				}
				return
			}
			if got := Reason(err); got != tc.reason {
				t.Fatalf("Reason = %q (%v), want %q", got, err, tc.reason)
			}
		})
	}
}

func TestReceiverResetPerConnection(t *testing.T) {
	r := NewReceiver(testKey)
	first := mustBuild(t, TypeHeartbeat, 1, HeartbeatPayload{Status: WorkerReady}).Encode()
	if _, err := r.Open(first); err != nil {
		t.Fatal(err)
	}
	r.Reset()
	second := mustBuild(t, TypeHeartbeat, 1, HeartbeatPayload{Status: WorkerReady}).Encode()
	if _, err := r.Open(second); err != nil {
		t.Fatalf("seq 1 on a new connection: %v", err)
	}
}

func TestSenderReceiver(t *testing.T) {
	s, r := NewSender(testKey), NewReceiver(testKey)
	for want := uint64(1); want <= 3; want++ {
		wire, err := s.Seal(TypeJobAck, JobAckPayload{JobID: "j", Accepted: true})
		if err != nil {
			t.Fatal(err)
		}
		e, err := r.Open(wire)
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != want {
			t.Fatalf("seq = %d, want %d", e.Seq, want)
		}
	}
	// A new connection: both ends start again from 1.
	s.Reset()
	r.Reset()
	wire, _ := s.Seal(TypeHeartbeat, HeartbeatPayload{Status: WorkerReady})
	if e, err := r.Open(wire); err != nil || e.Seq != 1 {
		t.Fatalf("after Reset: seq %v, err %v", e, err)
	}
	// A message the other side never saw signed with our key is refused.
	other := NewSender(KeyFromAPIKey("x"))
	wire, _ = other.Seal(TypeHeartbeat, HeartbeatPayload{Status: WorkerReady})
	if _, err := r.Open(wire); !errors.Is(err, ErrHMAC) {
		t.Fatalf("foreign key: %v", err)
	}
	if _, err := s.Seal(TypeHeartbeat, make(chan int)); err == nil {
		t.Fatal("Seal of an unmarshalable payload succeeded")
	}
}
