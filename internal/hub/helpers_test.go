package hub

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// fakeAuth accepts "key-<n>" style raw keys from a fixed table.
type fakeAuth struct {
	workers map[string]int64 // raw API key → worker id
}

func (a fakeAuth) AuthenticateWorker(_ context.Context, bearer string) (int64, []byte, error) {
	id, ok := a.workers[bearer]
	if !ok {
		return 0, nil, errors.New("unknown key")
	}
	return id, wsproto.KeyFromAPIKey(bearer), nil
}

type event struct {
	kind     string // "connected", "envelope", "disconnected"
	workerID int64
	conn     *Conn
	env      *wsproto.Envelope
}

// recorder is a Handler that remembers every call.
type recorder struct {
	mu     sync.Mutex
	events []event
	// onConnected, if set, runs inside WorkerConnected.
	onConnected func(c *Conn)
}

func (r *recorder) add(e event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) WorkerConnected(_ context.Context, c *Conn) {
	if r.onConnected != nil {
		r.onConnected(c)
	}
	r.add(event{kind: "connected", workerID: c.WorkerID(), conn: c})
}

func (r *recorder) HandleEnvelope(_ context.Context, c *Conn, e *wsproto.Envelope) {
	r.add(event{kind: "envelope", workerID: c.WorkerID(), conn: c, env: e})
}

func (r *recorder) WorkerDisconnected(_ context.Context, id int64) {
	r.add(event{kind: "disconnected", workerID: id})
}

func (r *recorder) snapshot() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]event(nil), r.events...)
}

// count returns how many events of kind (and, for envelopes, of msgType if
// not empty) were recorded for the worker.
func (r *recorder) count(kind string, workerID int64, msgType string) int {
	n := 0
	for _, e := range r.snapshot() {
		if e.kind == kind && e.workerID == workerID && (msgType == "" || e.env.Type == msgType) {
			n++
		}
	}
	return n
}

// envelopes returns the payloads of the worker's delivered envelopes.
func (r *recorder) payloads(workerID int64) []string {
	var out []string
	for _, e := range r.snapshot() {
		if e.kind == "envelope" && e.workerID == workerID {
			out = append(out, string(e.env.Payload))
		}
	}
	return out
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type testEnv struct {
	hub     *Hub
	srv     *httptest.Server
	rec     *recorder
	metrics *Metrics
	cancel  context.CancelFunc
	runDone chan error
}

// testNoReactor runs the tests with a read goroutine per connection (see
// TestFallbackReader); the tests never run in parallel.
var testNoReactor bool

var testWorkers = map[string]int64{"key-1": 1, "key-2": 2, "key-3": 3, "key-4": 4, "key-5": 5}

// newTestEnv starts a hub (with Run) behind a loopback httptest server, with
// a recorder as its Handler.
func newTestEnv(t testing.TB, cfg Config) *testEnv {
	t.Helper()
	rec := &recorder{}
	env := newTestEnvWith(t, cfg, fakeAuth{testWorkers}, rec)
	env.rec = rec
	return env
}

func newTestEnvWith(t testing.TB, cfg Config, auth Authenticator, h Handler) *testEnv {
	t.Helper()
	env := &testEnv{metrics: NewMetrics(prometheus.NewRegistry()), runDone: make(chan error, 1)}
	cfg.NoReactor = cfg.NoReactor || testNoReactor
	env.hub = New(cfg, auth, h, nil, env.metrics)
	env.srv = httptest.NewServer(env.hub)
	var ctx context.Context
	ctx, env.cancel = context.WithCancel(context.Background())
	go func() { env.runDone <- env.hub.Run(ctx) }()
	t.Cleanup(func() {
		env.stop(t)
		env.srv.Close()
	})
	return env
}

// stop cancels Run and waits for it (idempotent).
func (env *testEnv) stop(t testing.TB) {
	t.Helper()
	env.cancel()
	select {
	case err, ok := <-env.runDone:
		if ok {
			close(env.runDone)
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func (env *testEnv) url() string {
	return "ws" + strings.TrimPrefix(env.srv.URL, "http") + "/v1/workers/ws"
}

// testWorker is a minimal worker: gorilla/websocket plus wsproto only.
type testWorker struct {
	t      testing.TB
	ws     *websocket.Conn
	key    []byte
	sender *wsproto.Sender
	recv   *wsproto.Receiver
}

var testDialer = websocket.Dialer{HandshakeTimeout: 5 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 1024}

func dial(env *testEnv, header http.Header) (*websocket.Conn, *http.Response, error) {
	return testDialer.Dial(env.url(), header)
}

// connect dials as the worker owning rawKey and waits until the hub has
// called WorkerConnected for this connection.
func connect(t testing.TB, env *testEnv, rawKey string) *testWorker {
	t.Helper()
	before := env.rec.count("connected", testWorkers[rawKey], "")
	ws, resp, err := dial(env, http.Header{"Authorization": {"Bearer " + rawKey}})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, status)
	}
	t.Cleanup(func() { ws.Close() })
	eventually(t, "WorkerConnected", func() bool { return env.rec.count("connected", testWorkers[rawKey], "") > before })
	key := wsproto.KeyFromAPIKey(rawKey)
	return &testWorker{t: t, ws: ws, key: key, sender: wsproto.NewSender(key), recv: wsproto.NewReceiver(key)}
}

func (w *testWorker) sendRaw(data []byte) {
	w.t.Helper()
	if err := w.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

func (w *testWorker) seal(msgType string, payload any) []byte {
	w.t.Helper()
	data, err := w.sender.Seal(msgType, payload)
	if err != nil {
		w.t.Fatal(err)
	}
	return data
}

func (w *testWorker) send(msgType string, payload any) { w.sendRaw(w.seal(msgType, payload)) }

// heartbeat sends a heartbeat whose status is a marker the test can find.
func (w *testWorker) heartbeat(status string) {
	w.send(wsproto.TypeHeartbeat, wsproto.HeartbeatPayload{Status: status})
}

// manual builds and signs an envelope with chosen fields.
func manual(key []byte, seq uint64, ts time.Time, payload string) []byte {
	e := &wsproto.Envelope{Type: wsproto.TypeHeartbeat, ID: wsproto.NewID(), Seq: seq, TS: ts.UnixMilli(), Payload: []byte(payload)}
	wsproto.Sign(e, key)
	return e.Encode()
}

// readEnvelope reads and verifies one message from the hub.
func (w *testWorker) readEnvelope() *wsproto.Envelope {
	w.t.Helper()
	_ = w.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	mt, data, err := w.ws.ReadMessage()
	if err != nil {
		w.t.Fatalf("read: %v", err)
	}
	if mt != websocket.TextMessage {
		w.t.Fatalf("message type %d, want text", mt)
	}
	e, err := w.recv.Open(data)
	if err != nil {
		w.t.Fatalf("hub message fails the worker's receiver checks: %v", err)
	}
	return e
}

// expectClosed reads until the connection ends and returns the close code
// (or -1 if it ended without a close frame, e.g. a reset).
func (w *testWorker) expectClosed() int {
	w.t.Helper()
	_ = w.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, _, err := w.ws.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		var ne interface{ Timeout() bool }
		if errors.As(err, &ne) && ne.Timeout() {
			w.t.Fatalf("connection still open: %v", err)
		}
		return -1
	}
}
