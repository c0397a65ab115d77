package workertest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// ControlPlane is a fake control plane for one worker agent: it answers
// registration and token refresh, accepts the agent's WebSocket, records
// every message the agent sends and sends it jobs, all in the real signed
// protocol (wsproto). Tests that exercise the worker alone use it, so they
// see every message (app_status, runtime_log, …) as it arrives, and do not
// depend on how the real control plane applies them.
type ControlPlane struct {
	URL    string // http://127.0.0.1:PORT
	APIKey string // the raw worker key the agent must present

	key []byte
	srv *http.Server

	mu     sync.Mutex
	cond   *sync.Cond
	conn   *websocket.Conn
	sender *wsproto.Sender
	msgs   []*wsproto.Envelope
	closed bool
}

const fakeJWT = "fake-control-plane-jwt"

// NewControlPlane serves a fake control plane on loopback until the test
// ends.
func NewControlPlane(t testing.TB, apiKey string) *ControlPlane {
	t.Helper()
	c := &ControlPlane{APIKey: apiKey, key: wsproto.KeyFromAPIKey(apiKey)}
	c.cond = sync.NewCond(&c.mu)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/workers/register", func(w http.ResponseWriter, r *http.Request) {
		var req wsproto.RegisterRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.APIKey != apiKey {
			http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
			return
		}
		writeJSON(w, wsproto.RegisterResponse{WorkerID: 1, Token: fakeJWT, TokenExpiresAt: time.Now().Add(time.Hour)})
	})
	mux.HandleFunc("POST /v1/workers/refresh-token", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			http.Error(w, `{"error":"bad key"}`, http.StatusUnauthorized)
			return
		}
		writeJSON(w, wsproto.TokenResponse{Token: fakeJWT, TokenExpiresAt: time.Now().Add(time.Hour)})
	})
	mux.HandleFunc("GET /v1/workers/ws", c.serveWS)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.URL = "http://" + ln.Addr().String()
	c.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go c.srv.Serve(ln)
	t.Cleanup(func() {
		c.mu.Lock()
		c.closed = true
		if c.conn != nil {
			c.conn.Close()
		}
		c.cond.Broadcast()
		c.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c.srv.Shutdown(ctx)
	})
	return c
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func (c *ControlPlane) serveWS(w http.ResponseWriter, r *http.Request) {
	if auth := r.Header.Get("Authorization"); auth != "Bearer "+fakeJWT && auth != "Bearer "+c.APIKey {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	conn.SetReadLimit(wsproto.MaxMessageBytes)
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close() // a reconnect replaces the old connection
	}
	c.conn, c.sender = conn, wsproto.NewSender(c.key)
	c.cond.Broadcast()
	c.mu.Unlock()
	recv := wsproto.NewReceiver(c.key)
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			break
		}
		e, err := recv.Open(data)
		if err != nil {
			continue // what the real control plane drops, the fake drops
		}
		c.mu.Lock()
		c.msgs = append(c.msgs, e)
		c.cond.Broadcast()
		c.mu.Unlock()
	}
	c.mu.Lock()
	if c.conn == conn {
		c.conn = nil
	}
	c.mu.Unlock()
}

// WaitConnected waits until the agent's WebSocket is up.
func (c *ControlPlane) WaitConnected(t testing.TB, timeout time.Duration) {
	t.Helper()
	if !c.waitFor(timeout, func() bool { return c.conn != nil }) {
		t.Fatalf("the agent did not connect within %s", timeout)
	}
}

// SendJob sends the agent a job.
func (c *ControlPlane) SendJob(t testing.TB, job wsproto.JobPayload) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		t.Fatal("SendJob: the agent is not connected")
	}
	data, err := c.sender.Seal(wsproto.TypeJob, job)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := c.conn.WriteMessage(websocket.TextMessage, data); err != nil {
		t.Fatalf("SendJob: %v", err)
	}
}

// Messages returns the messages received so far, of type typ ("" for all),
// in the order they arrived.
func (c *ControlPlane) Messages(typ string) []*wsproto.Envelope {
	c.mu.Lock()
	defer c.mu.Unlock()
	if typ == "" {
		return slices.Clone(c.msgs)
	}
	var out []*wsproto.Envelope
	for _, e := range c.msgs {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// Follow calls f with every message received from the n-th on (0: from
// the first), in order, until ctx ends; it returns then.
func (c *ControlPlane) Follow(ctx context.Context, n int, f func(*wsproto.Envelope)) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	for {
		c.mu.Lock()
		for n >= len(c.msgs) && ctx.Err() == nil && !c.closed {
			c.cond.Wait()
		}
		if ctx.Err() != nil || c.closed {
			c.mu.Unlock()
			return
		}
		batch := slices.Clone(c.msgs[n:])
		n = len(c.msgs)
		c.mu.Unlock()
		for _, e := range batch {
			f(e)
		}
	}
}

// WaitMessage waits for a message of type typ for which match (nil: any)
// is true and returns it.
func (c *ControlPlane) WaitMessage(t testing.TB, timeout time.Duration, typ string, match func(*wsproto.Envelope) bool) *wsproto.Envelope {
	t.Helper()
	var found *wsproto.Envelope
	ok := c.waitFor(timeout, func() bool {
		for _, e := range c.msgs {
			if e.Type == typ && (match == nil || match(e)) {
				found = e
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("no %s message within %s", typ, timeout)
	}
	return found
}

// WaitResult waits for the result of a job.
func (c *ControlPlane) WaitResult(t testing.TB, jobID string, timeout time.Duration) wsproto.JobResultPayload {
	t.Helper()
	var res wsproto.JobResultPayload
	c.WaitMessage(t, timeout, wsproto.TypeJobResult, func(e *wsproto.Envelope) bool {
		var r wsproto.JobResultPayload
		if e.Decode(&r) != nil || r.JobID != jobID {
			return false
		}
		res = r
		return true
	})
	return res
}

// waitFor waits, holding c.mu while cond runs, until cond is true.
func (c *ControlPlane) waitFor(timeout time.Duration, cond func() bool) bool {
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	deadline := time.Now().Add(timeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	for !cond() {
		if c.closed || !time.Now().Before(deadline) {
			return false
		}
		c.cond.Wait()
	}
	return true
}
