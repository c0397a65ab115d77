package hub

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

func TestUnauthorizedBeforeUpgrade(t *testing.T) {
	env := newTestEnv(t, Config{})
	for name, header := range map[string]http.Header{
		"missing":      nil,
		"empty bearer": {"Authorization": {"Bearer "}},
		"wrong scheme": {"Authorization": {"Basic key-1"}},
		"unknown key":  {"Authorization": {"Bearer key-99"}},
	} {
		t.Run(name, func(t *testing.T) {
			ws, resp, err := dial(env, header)
			if err == nil {
				ws.Close()
				t.Fatal("dial succeeded")
			}
			if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil {
				t.Fatalf("err = %v, want a failed handshake with a response", err)
			}
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401", resp.StatusCode)
			}
			var body struct{ Error, Code string }
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Code != "unauthorized" || body.Error == "" {
				t.Fatalf("body = %+v (%v), want code unauthorized", body, err)
			}
		})
	}
	if n := env.hub.Count(); n != 0 {
		t.Fatalf("Count = %d after refused upgrades", n)
	}
	if ev := env.rec.snapshot(); len(ev) != 0 {
		t.Fatalf("handler saw %d events", len(ev))
	}
}

func TestOriginPolicy(t *testing.T) {
	env := newTestEnv(t, Config{})
	h := http.Header{"Authorization": {"Bearer key-1"}, "Origin": {"https://evil.example"}}
	if ws, resp, err := dial(env, h); err == nil {
		ws.Close()
		t.Fatal("cross-origin upgrade accepted")
	} else if resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin: err %v, resp %v; want 403", err, resp)
	}
	h.Set("Origin", env.srv.URL) // same host as the request
	ws, _, err := dial(env, h)
	if err != nil {
		t.Fatalf("same-origin upgrade: %v", err)
	}
	ws.Close()
}

func TestHeartbeatDelivered(t *testing.T) {
	env := newTestEnv(t, Config{})
	w := connect(t, env, "key-1")
	if env.hub.Online(1) {
		t.Fatal("Online before the first message")
	}
	w.heartbeat(wsproto.WorkerReady)
	eventually(t, "heartbeat", func() bool { return env.rec.count("envelope", 1, wsproto.TypeHeartbeat) == 1 })

	var hb wsproto.HeartbeatPayload
	for _, e := range env.rec.snapshot() {
		if e.kind == "envelope" {
			if err := e.env.Decode(&hb); err != nil {
				t.Fatal(err)
			}
			if e.env.Seq != 1 {
				t.Fatalf("seq = %d, want 1", e.env.Seq)
			}
		}
	}
	if hb.Status != wsproto.WorkerReady {
		t.Fatalf("status = %q", hb.Status)
	}
	if !env.hub.Online(1) || env.hub.Online(2) {
		t.Fatal("Online(1) should be true and Online(2) false")
	}
	snap := env.hub.Snapshot()
	if len(snap) != 1 || snap[0].WorkerID != 1 || !snap[0].Online || snap[0].LastSeen.IsZero() || snap[0].ConnectedAt.IsZero() {
		t.Fatalf("Snapshot = %+v", snap)
	}
	if got := testutil.ToFloat64(env.metrics.EnvelopesIn.WithLabelValues("heartbeat")); got != 1 {
		t.Fatalf("envelopes_in{heartbeat} = %v", got)
	}
	if got := testutil.ToFloat64(env.metrics.Connections); got != 1 {
		t.Fatalf("connections = %v", got)
	}
}

// Each bad message is followed by a good marker heartbeat; once the marker
// arrives, everything sent before it has been processed.
func TestRejectedMessages(t *testing.T) {
	otherKey := wsproto.KeyFromAPIKey("someone else's key")
	cases := []struct {
		name   string
		reason string
		send   func(w *testWorker)
	}{
		{"forged hmac", "hmac", func(w *testWorker) {
			data, _ := wsproto.NewSender(otherKey).Seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: "bad"})
			w.sendRaw(data)
		}},
		{"replayed seq", "replay", func(w *testWorker) {
			data := w.seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: "once"})
			w.sendRaw(data)
			w.sendRaw(data)
		}},
		{"ts 6 minutes behind", "clock", func(w *testWorker) {
			w.sendRaw(manual(w.key, 100, time.Now().Add(-6*time.Minute), `{"status":"bad"}`))
		}},
		{"ts 6 minutes ahead", "clock", func(w *testWorker) {
			w.sendRaw(manual(w.key, 100, time.Now().Add(6*time.Minute), `{"status":"bad"}`))
		}},
		{"unknown top-level key", "decode", func(w *testWorker) {
			data := w.seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: "bad"})
			data = append(data[:len(data)-1], `,"x":1}`...)
			w.sendRaw(data)
		}},
		{"binary message", "decode", func(w *testWorker) {
			data := w.seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: "bad"})
			if err := w.ws.WriteMessage(websocket.BinaryMessage, data); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := newTestEnv(t, Config{})
			w := connect(t, env, "key-1")
			tc.send(w)
			w.heartbeat("marker")
			eventually(t, "marker", func() bool {
				p := env.rec.payloads(1)
				return len(p) > 0 && strings.Contains(p[len(p)-1], "marker")
			})
			for _, p := range env.rec.payloads(1) {
				if strings.Contains(p, "bad") {
					t.Fatalf("rejected message delivered: %s", p)
				}
			}
			if tc.reason == "replay" {
				if n := len(env.rec.payloads(1)); n != 2 {
					t.Fatalf("delivered %d envelopes, want the original and the marker", n)
				}
			}
			for _, r := range rejectReasons {
				want := 0.0
				if r == tc.reason {
					want = 1
				}
				if got := testutil.ToFloat64(env.metrics.EnvelopesRejected.WithLabelValues(r)); got != want {
					t.Errorf("rejected{%s} = %v, want %v", r, got, want)
				}
			}
			if env.hub.Count() != 1 {
				t.Fatal("one rejected message closed the connection")
			}
		})
	}
}

// sizedEnvelope returns a signed heartbeat whose wire form is exactly n bytes.
func sizedEnvelope(key []byte, seq uint64, n int) []byte {
	base := len(manual(key, seq, time.Now(), `{"pad":""}`))
	return manual(key, seq, time.Now(), `{"pad":"`+strings.Repeat("x", n-base)+`"}`)
}

func TestMessageSizeLimit(t *testing.T) {
	env := newTestEnv(t, Config{})
	w := connect(t, env, "key-1")

	exact := sizedEnvelope(w.key, 1, wsproto.MaxMessageBytes)
	if len(exact) != wsproto.MaxMessageBytes {
		t.Fatalf("built %d bytes", len(exact))
	}
	w.sendRaw(exact)
	eventually(t, "the MaxMessageBytes message", func() bool { return env.rec.count("envelope", 1, "") == 1 })

	over := sizedEnvelope(w.key, 2, wsproto.MaxMessageBytes+1)
	if len(over) != wsproto.MaxMessageBytes+1 {
		t.Fatalf("built %d bytes", len(over))
	}
	// The hub may drop the connection while this is still being written.
	_ = w.ws.WriteMessage(websocket.TextMessage, over)
	if code := w.expectClosed(); code != websocket.CloseMessageTooBig && code != -1 {
		t.Fatalf("close code %d, want 1009 (or a dropped connection)", code)
	}
	eventually(t, "too_large counted", func() bool {
		return testutil.ToFloat64(env.metrics.EnvelopesRejected.WithLabelValues("too_large")) == 1
	})
	eventually(t, "disconnect", func() bool { return env.rec.count("disconnected", 1, "") == 1 })
	if n := env.rec.count("envelope", 1, ""); n != 1 {
		t.Fatalf("%d envelopes delivered, want only the first", n)
	}
}

func TestMaxFailuresClosesSocket(t *testing.T) {
	env := newTestEnv(t, Config{MaxFailures: 5})
	w := connect(t, env, "key-1")
	forged := func(k int) {
		for range k {
			data, _ := wsproto.NewSender(wsproto.KeyFromAPIKey("other")).Seal(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: "bad"})
			w.sendRaw(data)
		}
	}
	// Only consecutive rejections count: a good message resets the run.
	forged(4)
	w.heartbeat("good")
	forged(4)
	w.heartbeat("marker")
	eventually(t, "marker", func() bool { return env.rec.count("envelope", 1, "") == 2 })
	if env.hub.Count() != 1 {
		t.Fatal("closed before MaxFailures consecutive rejections")
	}
	forged(5)
	if code := w.expectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
	eventually(t, "unregistered", func() bool { return env.hub.Count() == 0 })
	if got := testutil.ToFloat64(env.metrics.EnvelopesRejected.WithLabelValues("hmac")); got != 13 {
		t.Fatalf("rejected{hmac} = %v, want 13", got)
	}
}

func TestSendToWorker(t *testing.T) {
	env := newTestEnv(t, Config{})
	// Sending from WorkerConnected (job redelivery) must work too.
	env.rec.onConnected = func(c *Conn) {
		if err := c.Send(wsproto.TypeRegistered, wsproto.RegisteredPayload{WorkerID: c.WorkerID()}); err != nil {
			t.Errorf("Send in WorkerConnected: %v", err)
		}
	}
	w := connect(t, env, "key-2")

	e := w.readEnvelope()
	var reg wsproto.RegisteredPayload
	if e.Type != wsproto.TypeRegistered || e.Seq != 1 || e.Decode(&reg) != nil || reg.WorkerID != 2 {
		t.Fatalf("first message %s seq %d payload %s", e.Type, e.Seq, e.Payload)
	}

	job := wsproto.JobPayload{JobID: "j1", Type: "restart", AppID: "app-1"}
	if err := env.hub.Send(2, wsproto.TypeJob, job); err != nil {
		t.Fatal(err)
	}
	e = w.readEnvelope()
	var got wsproto.JobPayload
	if e.Type != wsproto.TypeJob || e.Seq != 2 {
		t.Fatalf("got %s seq %d", e.Type, e.Seq)
	}
	if err := e.Decode(&got); err != nil || got != job {
		t.Fatalf("job = %+v (%v)", got, err)
	}
	eventually(t, "out counter", func() bool {
		return testutil.ToFloat64(env.metrics.EnvelopesOut.WithLabelValues("job")) == 1
	})
	if err := env.hub.Send(3, wsproto.TypeJob, job); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send to an absent worker: %v", err)
	}
}

func TestNewConnectionReplacesOld(t *testing.T) {
	env := newTestEnv(t, Config{})
	w1 := connect(t, env, "key-1")
	w1.heartbeat("first connection")
	eventually(t, "first heartbeat", func() bool { return env.rec.count("envelope", 1, "") == 1 })

	w2 := connect(t, env, "key-1")
	if code := w1.expectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("old connection close code %d, want 1008", code)
	}
	// Sequences restart at 1 on the new connection and are accepted.
	w2.heartbeat("second connection")
	eventually(t, "second heartbeat", func() bool { return env.rec.count("envelope", 1, "") == 2 })

	var kinds []string
	for _, e := range env.rec.snapshot() {
		kinds = append(kinds, e.kind)
	}
	if got := strings.Join(kinds, ","); got != "connected,envelope,disconnected,connected,envelope" {
		t.Fatalf("handler calls: %s", got)
	}
	if env.hub.Count() != 1 {
		t.Fatalf("Count = %d", env.hub.Count())
	}
	if err := env.hub.Send(1, wsproto.TypeJob, wsproto.JobPayload{JobID: "j"}); err != nil {
		t.Fatal(err)
	}
	if e := w2.readEnvelope(); e.Type != wsproto.TypeJob || e.Seq != 1 {
		t.Fatalf("new connection got %s seq %d", e.Type, e.Seq)
	}
}

func TestDisconnect(t *testing.T) {
	env := newTestEnv(t, Config{})
	w := connect(t, env, "key-1")
	env.hub.Disconnect(1)
	if code := w.expectClosed(); code != websocket.ClosePolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
	eventually(t, "WorkerDisconnected", func() bool { return env.rec.count("disconnected", 1, "") == 1 })
	if env.hub.Count() != 0 || env.hub.Online(1) {
		t.Fatal("still connected")
	}
	if err := env.hub.Send(1, wsproto.TypeJob, wsproto.JobPayload{}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send after Disconnect: %v", err)
	}
	env.hub.Disconnect(1) // no-op
}

func TestOfflineAfter(t *testing.T) {
	env := newTestEnv(t, Config{OfflineAfter: 200 * time.Millisecond})
	w := connect(t, env, "key-1")
	w.heartbeat(wsproto.WorkerReady)
	eventually(t, "online", func() bool { return env.hub.Online(1) })
	start := time.Now()
	eventually(t, "offline", func() bool { return !env.hub.Online(1) })
	if d := time.Since(start); d > time.Second {
		t.Fatalf("offline only after %v", d)
	}
	// The sweeper then drops the silent socket.
	if code := w.expectClosed(); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	eventually(t, "unregistered", func() bool { return env.hub.Count() == 0 })
}

// Pongs count as signs of life: a worker that answers pings stays online
// without sending anything.
func TestPongKeepsOnline(t *testing.T) {
	env := newTestEnv(t, Config{OfflineAfter: 300 * time.Millisecond, PingPeriod: 50 * time.Millisecond})
	w := connect(t, env, "key-1")
	readErr := make(chan error, 1)
	go func() { // reading makes gorilla answer pings
		for {
			if _, _, err := w.ws.ReadMessage(); err != nil {
				readErr <- err
				return
			}
		}
	}()
	eventually(t, "online via pong", func() bool { return env.hub.Online(1) })
	for range 10 {
		time.Sleep(100 * time.Millisecond)
		if !env.hub.Online(1) {
			t.Fatal("went offline while answering pings")
		}
	}
	w.ws.Close()
	<-readErr
}

func TestSlowWorkerDoesNotBlockSend(t *testing.T) {
	env := newTestEnv(t, Config{SendQueue: 4, SendTimeout: 100 * time.Millisecond, WriteWait: 300 * time.Millisecond})
	_ = connect(t, env, "key-1") // never reads
	big := wsproto.JobPayload{JobID: strings.Repeat("j", 256<<10)}
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; err == nil; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("still accepting after %d sends of 256 KB", i)
		}
		start := time.Now()
		err = env.hub.Send(1, wsproto.TypeJob, big)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("Send blocked for %v", d)
		}
	}
	if !errors.Is(err, ErrSlowWorker) && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNotConnected) {
		t.Fatalf("Send error = %v", err)
	}
	eventually(t, "slow worker disconnected", func() bool { return env.rec.count("disconnected", 1, "") == 1 })
	if env.hub.Count() != 0 {
		t.Fatal("slow worker still registered")
	}
}

// Concurrent senders on a full queue all return within the timeout.
func TestConcurrentSendersOnFullQueue(t *testing.T) {
	env := newTestEnv(t, Config{SendQueue: 2, SendTimeout: 100 * time.Millisecond, WriteWait: 300 * time.Millisecond})
	_ = connect(t, env, "key-1")
	big := wsproto.JobPayload{JobID: strings.Repeat("j", 256<<10)}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				if env.hub.Send(1, wsproto.TypeJob, big) != nil {
					return
				}
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("senders blocked")
	}
	eventually(t, "disconnected", func() bool { return env.hub.Count() == 0 })
}

func TestShutdown(t *testing.T) {
	before := runtime.NumGoroutine()
	env := newTestEnv(t, Config{})
	var workers []*testWorker
	for _, k := range []string{"key-1", "key-2", "key-3", "key-4", "key-5"} {
		w := connect(t, env, k)
		w.heartbeat(wsproto.WorkerReady)
		workers = append(workers, w)
	}
	eventually(t, "heartbeats", func() bool { return len(env.rec.snapshot()) == 10 })

	codes := make(chan int, len(workers))
	for _, w := range workers {
		go func() { codes <- w.expectClosed() }()
	}
	start := time.Now()
	env.stop(t)
	t.Logf("shutdown of %d connections took %v", len(workers), time.Since(start))
	for range workers {
		if code := <-codes; code != websocket.CloseGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
	}
	if env.hub.Count() != 0 {
		t.Fatalf("Count = %d after shutdown", env.hub.Count())
	}
	for id := int64(1); id <= 5; id++ {
		if env.rec.count("disconnected", id, "") != 1 {
			t.Fatalf("no WorkerDisconnected for %d", id)
		}
	}

	_, resp, err := dial(env, http.Header{"Authorization": {"Bearer key-1"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v, %v; want 503", err, resp)
	}
	_, _ = io.Copy(io.Discard, resp.Body)

	for _, w := range workers {
		w.ws.Close()
	}
	env.srv.Close()
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= before+2 })
}

func TestRunTwice(t *testing.T) {
	env := newTestEnv(t, Config{})
	eventually(t, "Run to start", env.hub.running.Load)
	if err := env.hub.Run(t.Context()); err == nil {
		t.Fatal("second Run returned nil")
	}
}
