package hub

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// The fallback reader (TLS connections, or NoReactor) passes the same
// behaviour tests as the reactor.
func TestFallbackReader(t *testing.T) {
	testNoReactor = true
	t.Cleanup(func() { testNoReactor = false })
	for name, test := range map[string]func(*testing.T){
		"HeartbeatDelivered":       TestHeartbeatDelivered,
		"RejectedMessages":         TestRejectedMessages,
		"MessageSizeLimit":         TestMessageSizeLimit,
		"MaxFailuresClosesSocket":  TestMaxFailuresClosesSocket,
		"SendToWorker":             TestSendToWorker,
		"NewConnectionReplacesOld": TestNewConnectionReplacesOld,
		"Disconnect":               TestDisconnect,
		"PongKeepsOnline":          TestPongKeepsOnline,
		"SlowWorkerDoesNotBlock":   TestSlowWorkerDoesNotBlockSend,
		"Shutdown":                 TestShutdown,
		"Frames":                   TestRawFrames,
	} {
		t.Run(name, test)
	}
}

func TestParseFrameHeader(t *testing.T) {
	masked := func(b0, b1 byte, ext ...byte) []byte {
		return append(append([]byte{b0, b1 | 0x80}, ext...), 1, 2, 3, 4)
	}
	for _, tc := range []struct {
		name string
		in   []byte
		want frameHeader
		err  string // "" ok, "more" errNeedMore, else the protoError text
	}{
		{"empty", nil, frameHeader{}, "more"},
		{"one byte", []byte{0x81}, frameHeader{}, "more"},
		{"text 5", masked(0x81, 5), frameHeader{fin: true, op: opText, length: 5, mask: [4]byte{1, 2, 3, 4}, size: 6}, ""},
		{"no mask yet", []byte{0x81, 0x85, 1, 2}, frameHeader{}, "more"},
		{"16-bit length", masked(0x01, 126, 0x01, 0x00), frameHeader{op: opText, length: 256, mask: [4]byte{1, 2, 3, 4}, size: 8}, ""},
		{"64-bit length", masked(0x82, 127, 0, 0, 0, 0, 0, 0x20, 0, 1), frameHeader{fin: true, op: opBinary, length: 2<<20 + 1, mask: [4]byte{1, 2, 3, 4}, size: 14}, ""},
		{"64-bit length top bit", masked(0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1), frameHeader{}, "frame length overflows"},
		{"reserved bit", masked(0xC1, 1), frameHeader{}, "reserved bits set"},
		{"unknown opcode", masked(0x83, 1), frameHeader{}, "unknown opcode"},
		{"unmasked", []byte{0x81, 0x01, 'x'}, frameHeader{}, "unmasked client frame"},
		{"fragmented ping", masked(0x09, 0), frameHeader{}, "fragmented control frame"},
		{"long ping", masked(0x89, 126, 0, 126), frameHeader{}, "control frame too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseFrameHeader(tc.in)
			switch {
			case tc.err == "more":
				if !errors.Is(err, errNeedMore) {
					t.Fatalf("err = %v, want errNeedMore", err)
				}
			case tc.err != "":
				var pe *protoError
				if !errors.As(err, &pe) || pe.msg != tc.err || pe.code != closeProtocolError {
					t.Fatalf("err = %v, want protocol error %q", err, tc.err)
				}
			default:
				if err != nil || got != tc.want {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
			}
		})
	}
}

func TestUnmaskCopy(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := range 40 {
		src := make([]byte, n)
		for i := range src {
			src[i] = byte(i * 7)
		}
		dst := make([]byte, n)
		unmaskCopy(dst, src, key)
		for i := range src {
			if dst[i] != src[i]^key[i%4] {
				t.Fatalf("n=%d: byte %d = %#x, want %#x", n, i, dst[i], src[i]^key[i%4])
			}
		}
	}
}

// rawWorker speaks WebSocket frames by hand, to send what gorilla would not.
type rawWorker struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
}

func dialRaw(t *testing.T, env *testEnv, rawKey string) *rawWorker {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(env.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET /v1/workers/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nAuthorization: Bearer " + rawKey + "\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	w := &rawWorker{t: t, conn: conn, br: br}
	id := testWorkers[rawKey]
	eventually(t, "registered", func() bool { return env.rec.count("connected", id, "") == 1 })
	return w
}

// frame returns a masked client frame.
func clientFrame(b0 byte, payload []byte) []byte {
	var f []byte
	f = append(f, b0)
	switch n := len(payload); {
	case n <= 125:
		f = append(f, 0x80|byte(n))
	case n <= 0xFFFF:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	key := [4]byte{0xA1, 0xB2, 0xC3, 0xD4}
	f = append(f, key[:]...)
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

func (w *rawWorker) write(b []byte) {
	w.t.Helper()
	if _, err := w.conn.Write(b); err != nil {
		w.t.Fatal(err)
	}
}

// readFrame reads one server frame (unmasked).
func (w *rawWorker) readFrame() (op byte, payload []byte) {
	w.t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		w.t.Fatalf("read frame: %v", err)
	}
	if h[1]&0x80 != 0 {
		w.t.Fatal("server frame is masked")
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(w.br, b[:])
		n = int(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(w.br, b[:])
		n = int(binary.BigEndian.Uint64(b[:]))
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(w.br, payload); err != nil {
		w.t.Fatalf("read payload: %v", err)
	}
	return h[0] & 0x0F, payload
}

func (w *rawWorker) expectClose(code int) {
	w.t.Helper()
	for {
		op, p := w.readFrame()
		if op != opClose {
			continue
		}
		if got := parseClosePayload(p); got != code {
			w.t.Fatalf("close code %d (%q), want %d", got, p, code)
		}
		return
	}
}

// Frame-level behaviour: messages split across writes and across frames,
// pings answered, and protocol violations closed with 1002.
func TestRawFrames(t *testing.T) {
	env := newTestEnv(t, Config{})
	key := wsproto.KeyFromAPIKey("key-1")
	sender := wsproto.NewSender(key)
	hb := func(status string) []byte {
		data, err := sender.Seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: status})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}

	w := dialRaw(t, env, "key-1")
	// One message written a byte at a time.
	for _, b := range clientFrame(0x81, hb("bytewise")) {
		w.write([]byte{b})
	}
	// One message in three fragments, with a ping between them; and two
	// whole messages in one write.
	msg := hb("fragmented")
	w.write(clientFrame(0x01, msg[:10]))
	w.write(clientFrame(0x89, []byte("are you there")))
	w.write(clientFrame(0x00, msg[10:20]))
	w.write(append(clientFrame(0x80, msg[20:]), append(clientFrame(0x81, hb("two")), clientFrame(0x81, hb("three"))...)...))
	if op, p := w.readFrame(); op != opPong || string(p) != "are you there" {
		t.Fatalf("got op %d %q, want the pong", op, p)
	}
	eventually(t, "4 heartbeats", func() bool { return env.rec.count("envelope", 1, "") == 4 })
	var got []string
	for _, ev := range env.rec.snapshot() {
		if ev.kind == "envelope" {
			got = append(got, string(ev.env.Payload))
		}
	}
	if want := `{"status":"bytewise"}|{"status":"fragmented"}|{"status":"two"}|{"status":"three"}`; strings.Join(got, "|") != want {
		t.Fatalf("heartbeats in order %v", got)
	}

	// A continuation with no message open is a protocol error.
	w.write(clientFrame(0x80, []byte("x")))
	w.expectClose(closeProtocolError)
	eventually(t, "disconnect", func() bool { return env.rec.count("disconnected", 1, "") == 1 })

	// So is an unmasked frame; nothing after it is read.
	w2 := dialRaw(t, env, "key-2")
	w2.write([]byte{0x81, 0x01, 'x'})
	w2.write(clientFrame(0x81, hb("ignored")))
	w2.expectClose(closeProtocolError)
	eventually(t, "disconnect 2", func() bool { return env.rec.count("disconnected", 2, "") == 1 })
	if env.rec.count("envelope", 2, "") != 0 {
		t.Fatal("a message after a protocol error was delivered")
	}

	// The worker closes: the hub answers with the same code and finishes.
	w3 := dialRaw(t, env, "key-3")
	w3.write(clientFrame(0x88, closePayload(closeGoingAway, "bye")))
	w3.expectClose(closeGoingAway)
	eventually(t, "disconnect 3", func() bool { return env.rec.count("disconnected", 3, "") == 1 })
	if env.hub.Count() != 0 {
		t.Fatalf("Count = %d", env.hub.Count())
	}
}

// A worker that drops the TCP connection without a close frame is
// unregistered at once.
func TestAbruptDisconnect(t *testing.T) {
	env := newTestEnv(t, Config{})
	w := connect(t, env, "key-1")
	w.heartbeat(wsproto.WorkerReady)
	eventually(t, "heartbeat", func() bool { return env.rec.count("envelope", 1, "") == 1 })
	w.ws.NetConn().Close()
	eventually(t, "disconnect", func() bool { return env.rec.count("disconnected", 1, "") == 1 && env.hub.Count() == 0 })
}

// Over TLS the reactor cannot read the socket itself, so the connection
// gets a read goroutine: messages arrive, Send works, close is clean.
func TestTLSConnection(t *testing.T) {
	rec := &recorder{}
	env := &testEnv{rec: rec, metrics: NewMetrics(prometheus.NewRegistry()), runDone: make(chan error, 1)}
	env.hub = New(Config{}, fakeAuth{testWorkers}, rec, nil, env.metrics)
	env.srv = httptest.NewTLSServer(env.hub)
	ctx, cancel := context.WithCancel(context.Background())
	env.cancel = cancel
	go func() { env.runDone <- env.hub.Run(ctx) }()
	t.Cleanup(func() { env.stop(t); env.srv.Close() })

	dialer := testDialer
	dialer.TLSClientConfig = env.srv.Client().Transport.(*http.Transport).TLSClientConfig
	ws, _, err := dialer.Dial("wss"+strings.TrimPrefix(env.srv.URL, "https")+"/v1/workers/ws", http.Header{"Authorization": {"Bearer key-1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	eventually(t, "connected", func() bool { return rec.count("connected", 1, "") == 1 })
	if c := env.hub.Conn(1); c == nil || c.poller != nil {
		t.Fatal("a TLS connection should have a read goroutine, not the reactor")
	}
	key := wsproto.KeyFromAPIKey("key-1")
	w := &testWorker{t: t, ws: ws, key: key, sender: wsproto.NewSender(key), recv: wsproto.NewReceiver(key)}
	w.heartbeat(wsproto.WorkerReady)
	eventually(t, "heartbeat", func() bool { return rec.count("envelope", 1, "") == 1 })
	if err := env.hub.Send(1, wsproto.TypeJob, wsproto.JobPayload{JobID: "j1"}); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), `"j1"`) {
		t.Fatalf("read job: %v %q", err, data)
	}
	env.hub.Disconnect(1)
	eventually(t, "disconnected", func() bool { return rec.count("disconnected", 1, "") == 1 && env.hub.Count() == 0 })
}
