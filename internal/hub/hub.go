// Package hub owns the control plane's live worker connections: the
// GET /v1/workers/ws endpoint of protocol.md §1, one WebSocket per worker,
// every message a signed envelope checked by wsproto.Receiver (§2).
//
// The hub knows nothing about the database. Credentials are checked by an
// Authenticator and accepted envelopes go to a Handler; both are small
// interfaces defined here and implemented by the control plane's wiring.
//
// # Goroutines and memory
//
// An idle connection owns no goroutine and no buffer. gorilla/websocket
// does the upgrade handshake only; the hub then reads and writes the
// frames itself (frame.go) on the raw connection:
//
//   - Reading: an epoll reactor (poller_linux.go) learns which sockets
//     are readable and a reactor goroutine reads what arrived into a
//     pooled 4 KB buffer, acts on every whole message (the receiver
//     checks, then the Handler) and re-arms the socket. The buffer goes
//     back to the pool unless part of a frame is pending. TLS connections
//     (and every connection when Config.NoReactor is set, or off Linux)
//     get a read goroutine instead.
//   - Writing: Send queues the sealed envelope and starts a write
//     goroutine if none runs; it exits when the queue is empty.
//   - Pings: the sweeper pings each connection every PingPeriod.
//
// What stays per connection is the socket, the Conn (with its receiver's
// HMAC state; the sender's is made at the first Send) and a map entry:
// about 2 KB of heap, ≈ 7 KB of RSS with the garbage collector's headroom
// (docs/BENCHMARKS.md), against ≈ 26 KB with a read and a write goroutine
// per connection.
//
// A reactor goroutine runs the Handler's calls for its share of the
// workers, one after another: a call that waits (on the database) holds up
// the messages of the workers sharing that reactor, not the others.
//
// # Message size
//
// A data frame whose header announces more than wsproto.MaxMessageBytes
// (alone or with the fragments before it) is refused from the header,
// before its bytes are buffered: the hub answers close 1009 (message too
// big), counts the message as rejected with reason "too_large" and drops
// the connection. A conforming worker never sends such a message, and
// keeping the connection would mean reading (and discarding) up to the
// full oversized body first. wsproto.Receiver's own size check stays as a
// second line of defence.
//
// # Origin
//
// Workers are not browsers and send no Origin header; such requests are
// accepted. A request carrying an Origin is accepted only when the origin's
// host equals the request's Host (gorilla's default same-origin check), so a
// web page elsewhere cannot open a worker socket with a victim's ambient
// credentials. Browsers cannot set an Authorization header on a WebSocket
// anyway; the check is defence in depth and answers 403.
package hub

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Authenticator turns the bearer credential of an upgrade request into a
// worker.
type Authenticator interface {
	// AuthenticateWorker accepts a worker JWT or the raw API key (protocol
	// §1) and returns the worker id and the 32-byte HMAC key: the raw bytes
	// of sha256(raw API key), i.e. hex-decoded api_key_hash.
	AuthenticateWorker(ctx context.Context, bearer string) (workerID int64, hmacKey []byte, err error)
}

// Handler receives what workers send. For one worker id the calls are
// strictly sequential: WorkerConnected, then HandleEnvelope in arrival
// order, then WorkerDisconnected; a newer connection of the same worker gets
// its WorkerConnected only after the older one's WorkerDisconnected has
// returned. Calls for different workers run concurrently.
type Handler interface {
	// WorkerConnected runs after the upgrade, before the first envelope is
	// read (e.g. to redeliver unfinished jobs with c.Send).
	WorkerConnected(ctx context.Context, c *Conn)
	// HandleEnvelope gets only envelopes that passed every receiver check.
	// The envelope is not reused by the hub; the handler may keep it.
	HandleEnvelope(ctx context.Context, c *Conn, e *wsproto.Envelope)
	// WorkerDisconnected runs once the connection is gone (and no longer
	// counted by Online), iff WorkerConnected ran for it.
	WorkerDisconnected(ctx context.Context, workerID int64)
}

// Config tunes the hub. Zero fields take the defaults shown. Keep
// PingPeriod below OfflineAfter, so that a worker that only answers pings
// does not turn offline.
//
// Now drives ConnectedAt, LastSeen, Online, pings and the sweeper; the
// envelope clock check (wsproto.Receiver) and socket deadlines use the real
// clock.
type Config struct {
	OfflineAfter     time.Duration // 90 s: Online turns false, and the sweeper closes the socket, after this much silence
	PingPeriod       time.Duration // 72 s: the hub pings each worker this often; the pong counts as a sign of life
	WriteWait        time.Duration // 10 s: deadline for one write
	HandshakeTimeout time.Duration // 10 s: deadline for writing the 101 response
	SendQueue        int           // 64: messages that may wait for the write loop
	SendTimeout      time.Duration // 1 s: how long Send waits on a full queue before dropping the worker
	MaxFailures      int           // 5: consecutive rejected messages that close the socket
	// NoReactor gives every connection its own read goroutine instead of
	// the epoll reactor (TLS connections always get one).
	NoReactor bool
	Now       func() time.Time
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.OfflineAfter, 90*time.Second)
	def(&c.PingPeriod, 72*time.Second)
	def(&c.WriteWait, 10*time.Second)
	def(&c.HandshakeTimeout, 10*time.Second)
	def(&c.SendTimeout, time.Second)
	if c.SendQueue <= 0 {
		c.SendQueue = 64
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = 5
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Errors returned by Send.
var (
	ErrNotConnected = errors.New("hub: worker not connected")
	ErrClosed       = errors.New("hub: connection closed")
	ErrSlowWorker   = errors.New("hub: send queue full, worker disconnected")
)

// Hub holds at most one live connection per worker id.
type Hub struct {
	cfg      Config
	auth     Authenticator
	handler  Handler
	log      *slog.Logger
	metrics  *Metrics
	upgrader websocket.Upgrader

	// ctx is handed to the Handler; it is cancelled when shutdown begins.
	ctx    context.Context
	cancel context.CancelFunc

	running atomic.Bool

	mu           sync.Mutex
	conns        map[int64]*Conn
	closing      bool
	pollers      []*poller // started by the first connection; nil when off
	pollerFailed bool
	// wg counts upgrade requests in progress and every connection
	// goroutine; shutdown waits for it. Add happens under mu with
	// closing false, so it never races with Wait.
	wg sync.WaitGroup
}

// New returns a hub; call Run to start its sweeper and to own its shutdown.
// logger and m may be nil.
func New(cfg Config, auth Authenticator, h Handler, logger *slog.Logger, m *Metrics) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	hub := &Hub{
		cfg:     cfg,
		auth:    auth,
		handler: h,
		log:     logger,
		metrics: m,
		ctx:     ctx,
		cancel:  cancel,
		conns:   make(map[int64]*Conn),
	}
	hub.upgrader = websocket.Upgrader{
		HandshakeTimeout: cfg.HandshakeTimeout,
		ReadBufferSize:   1024,
		WriteBufferSize:  1024,
		// One pool for all sockets: a buffer is held only while a
		// message is being written.
		WriteBufferPool: &sync.Pool{},
		// CheckOrigin nil = gorilla's same-origin check; see the
		// package comment.
		Error: func(w http.ResponseWriter, _ *http.Request, status int, reason error) {
			code := "bad_request"
			if status == http.StatusForbidden {
				code = "forbidden"
			}
			writeError(w, status, reason.Error(), code)
		},
	}
	return hub
}

// ServeHTTP is the GET /v1/workers/ws handler.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "control plane is shutting down", "unavailable")
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	defer h.wg.Done()

	bearer, ok := bearerToken(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "missing bearer credential", "unauthorized")
		return
	}
	workerID, key, err := h.auth.AuthenticateWorker(r.Context(), bearer)
	if err != nil {
		h.log.Debug("worker authentication failed", "remote", r.RemoteAddr, "err", err)
		writeError(w, http.StatusUnauthorized, "invalid worker credential", "unauthorized")
		return
	}
	if len(key) != sha256.Size {
		h.log.Error("authenticator returned a bad HMAC key", "worker_id", workerID, "len", len(key))
		writeError(w, http.StatusInternalServerError, "internal error", "internal")
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has answered the request already.
		h.log.Debug("worker upgrade failed", "worker_id", workerID, "remote", r.RemoteAddr, "err", err)
		return
	}
	// From here on the hub speaks the frames itself (frame.go); gorilla's
	// Conn and its buffers are dropped. gorilla refuses a client that sent
	// data before the handshake completed, so no byte is left behind.
	c := newConn(h, ws.NetConn(), workerID, key)
	h.wg.Add(1) // done by c.teardown; our own count keeps wg above zero
	h.start(c)
}

// start registers c, runs WorkerConnected and starts reading it. It runs
// on the upgrade request's goroutine, which then ends: a connection owns no
// goroutine of its own while it is idle.
func (h *Hub) start(c *Conn) {
	prev, ok := h.register(c)
	if !ok {
		c.closeWith(closeGoingAway, "control plane shutting down")
	}
	if prev != nil {
		// Keep the Handler's calls for one worker sequential: the old
		// connection's WorkerDisconnected comes before our
		// WorkerConnected. A worker that reconnects has usually lost
		// the old socket, so do not wait for it to answer the close
		// frame: that would only delay the new connection.
		prev.close(closePolicyViolation, "replaced by a newer connection", true)
		<-prev.finished
	}
	if !c.isClosed() {
		h.log.Info("worker connected", "worker_id", c.workerID, "remote", c.nc.RemoteAddr().String())
		h.handler.WorkerConnected(h.ctx, c)
		c.connected = true
	}
	if p := h.reactor(c.workerID); p != nil {
		if raw := rawConnOf(c.nc); raw != nil {
			c.poller = p
			if err := p.add(c, raw); err == nil {
				h.release(c) // from here on the reactor reads it
				return
			}
			c.poller = nil
		}
	}
	go c.readLoop()
}

// reactor returns the epoll reactor for a worker, starting the reactors on
// first use; nil when they are off or cannot run here.
func (h *Hub) reactor(workerID int64) *poller {
	if h.cfg.NoReactor {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.pollers == nil && !h.pollerFailed {
		for range reactors {
			p, err := newPoller(h.handle)
			if err != nil {
				h.log.Warn("epoll reactor unavailable, one read goroutine per worker", "err", err)
				for _, p := range h.pollers {
					p.close()
				}
				h.pollers, h.pollerFailed = nil, true
				return nil
			}
			h.pollers = append(h.pollers, p)
		}
	}
	if h.pollers == nil {
		return nil
	}
	return h.pollers[uint64(workerID)%reactors]
}

// reactors is how many epoll sets (each with its own goroutine) share the
// connections. A reactor's goroutine runs the Handler's calls for its
// workers, so one call waiting on the database holds up only its share
// of the workers; more reactors cost more wake-ups per message.
const reactors = 2

// Run sweeps silent connections until ctx is done, then shuts the hub down:
// new upgrades get 503, every connection is closed with a close frame, and
// Run returns once all connection goroutines (and so all Handler calls)
// have finished. It returns nil after a shutdown, or an error if the hub is
// already running.
func (h *Hub) Run(ctx context.Context) error {
	if !h.running.CompareAndSwap(false, true) {
		return errors.New("hub: Run called twice")
	}
	every := max(min(h.cfg.OfflineAfter, h.cfg.PingPeriod)/4, 10*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			h.shutdown()
			return nil
		case <-t.C:
			h.sweep()
		}
	}
}

func (h *Hub) shutdown() {
	h.mu.Lock()
	h.closing = true
	conns := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	h.cancel()
	for _, c := range conns {
		c.closeWith(closeGoingAway, "control plane shutting down")
	}
	h.wg.Wait()
	h.mu.Lock()
	ps := h.pollers
	h.pollers = nil
	h.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	h.log.Info("hub stopped", "closed", len(conns))
}

// sweep closes connections that have been silent for longer than
// OfflineAfter (no accepted message and no pong), which keeps Online and
// the open sockets in agreement, and pings those silent and not pinged for
// PingPeriod: a worker that only answers pings stays online.
func (h *Hub) sweep() {
	now := h.cfg.Now()
	var silent, ping []*Conn
	h.mu.Lock()
	for _, c := range h.conns {
		switch {
		case now.Sub(c.lastHeard()) > h.cfg.OfflineAfter:
			silent = append(silent, c)
		case now.Sub(c.lastHeard()) < h.cfg.PingPeriod:
			// It is talking: nothing to learn from a ping.
		case now.UnixNano()-c.lastPing.Load() >= int64(h.cfg.PingPeriod):
			ping = append(ping, c)
		}
	}
	h.mu.Unlock()
	for _, c := range silent {
		h.log.Info("closing silent worker connection", "worker_id", c.workerID, "last_seen", c.LastSeen())
		c.closeWith(closeGoingAway, "idle timeout")
	}
	for _, c := range ping {
		c.lastPing.Store(now.UnixNano())
		c.control(opPing, nil)
	}
}

// register makes c the worker's connection and returns the one it replaces.
// ok is false when the hub is shutting down (c is then not registered).
func (h *Hub) register(c *Conn) (prev *Conn, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return nil, false
	}
	prev = h.conns[c.workerID]
	h.conns[c.workerID] = c
	h.metrics.setConnections(len(h.conns))
	return prev, true
}

// unregister removes c unless a newer connection has replaced it.
func (h *Hub) unregister(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conns[c.workerID] == c {
		delete(h.conns, c.workerID)
		h.metrics.setConnections(len(h.conns))
	}
}

// Conn returns the worker's current connection, or nil.
func (h *Hub) Conn(workerID int64) *Conn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[workerID]
}

// Send seals payload for the worker and queues it on its connection; see
// Conn.Send. It returns ErrNotConnected when the worker has no connection.
func (h *Hub) Send(workerID int64, msgType string, payload any) error {
	c := h.Conn(workerID)
	if c == nil {
		return ErrNotConnected
	}
	return c.Send(msgType, payload)
}

// Disconnect closes the worker's socket, e.g. when its key is revoked. It
// does not wait for the connection to finish.
func (h *Hub) Disconnect(workerID int64) {
	if c := h.Conn(workerID); c != nil {
		c.closeWith(closePolicyViolation, "disconnected by the control plane")
	}
}

// Online reports whether the worker has a connection and sent an accepted
// message or a pong within OfflineAfter.
func (h *Hub) Online(workerID int64) bool {
	c := h.Conn(workerID)
	return c != nil && c.online(h.cfg.Now())
}

// LastSeen is when the worker's connection last delivered an accepted
// message or pong, or the zero time if it has no connection or none yet.
func (h *Hub) LastSeen(workerID int64) time.Time {
	if c := h.Conn(workerID); c != nil {
		return c.LastSeen()
	}
	return time.Time{}
}

// Count is the number of connected workers.
func (h *Hub) Count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// ConnInfo describes one connection, for the admin API.
type ConnInfo struct {
	WorkerID    int64     `json:"worker_id"`
	ConnectedAt time.Time `json:"connected_at"`
	LastSeen    time.Time `json:"last_seen,omitzero"` // zero until the first accepted message or pong
	QueueLen    int       `json:"queue_len"`
	Online      bool      `json:"online"`
}

// Snapshot lists the connections, ordered by worker id.
func (h *Hub) Snapshot() []ConnInfo {
	h.mu.Lock()
	conns := make([]*Conn, 0, len(h.conns))
	for _, c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	now := h.cfg.Now()
	out := make([]ConnInfo, 0, len(conns))
	for _, c := range conns {
		out = append(out, ConnInfo{
			WorkerID:    c.workerID,
			ConnectedAt: c.connectedAt,
			LastSeen:    c.LastSeen(),
			QueueLen:    c.queueLen(),
			Online:      c.online(now),
		})
	}
	slices.SortFunc(out, func(a, b ConnInfo) int { return cmpInt64(a.WorkerID, b.WorkerID) })
	return out
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// bearerToken extracts the credential of "Authorization: Bearer <token>";
// the scheme is case-insensitive (RFC 9110 §11.1).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// writeError answers with the API's error shape {"error": …, "code": …}.
func writeError(w http.ResponseWriter, status int, msg, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.MarshalWrite(w, map[string]string{"error": msg, "code": code}, json.Deterministic(true))
	_, _ = w.Write([]byte("\n"))
}

// Metrics returns the hub's collectors (nil if it has none).
func (h *Hub) Metrics() *Metrics { return h.metrics }
