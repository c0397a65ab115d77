package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/httpx"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// Transport timing (the seed's constants).
const (
	wsHandshakeTimeout = 10 * time.Second
	wsWriteWait        = 10 * time.Second
	wsPongWait         = 90 * time.Second
	wsPingPeriod       = 72 * time.Second
	emitTimeout        = 5 * time.Second
	backoffMin         = time.Second
	backoffMax         = 30 * time.Second
	sendQueueDepth     = 64
)

// outMsg is queued unsealed: it is numbered and signed by the connection
// that writes it, so sequence numbers restart cleanly on every connection.
type outMsg struct {
	msgType string
	payload any
}

// wsClient is the worker's outbound WebSocket to the control plane.
type wsClient struct {
	url       string
	tokenFn   func() string // JWT, or the raw key as fallback
	apiKey    []byte        // HMAC key: sha256(raw key)
	handler   func(*wsproto.Envelope)
	onConnect func()
	log       *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc

	send chan outMsg

	mu   sync.Mutex
	conn *websocket.Conn
}

// newWSClient derives the WebSocket URL (ws/wss + /v1/workers/ws) and the
// HMAC key from the raw API key; the key itself is never sent.
func newWSClient(parent context.Context, baseURL, rawKey string, tokenFn func() string, handler func(*wsproto.Envelope), onConnect func(), log *slog.Logger) (*wsClient, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("worker: control plane URL: %w", err)
	}
	switch u.Scheme {
	case "https":
		u.Scheme = "wss"
	case "http":
		u.Scheme = "ws"
	default:
		return nil, fmt.Errorf("worker: control plane URL scheme %q", u.Scheme)
	}
	u.Path += "/v1/workers/ws"
	ctx, cancel := context.WithCancel(parent)
	return &wsClient{url: u.String(), tokenFn: tokenFn, apiKey: wsproto.KeyFromAPIKey(rawKey), handler: handler,
		onConnect: onConnect, log: log.With("part", "transport"), ctx: ctx, cancel: cancel,
		send: make(chan outMsg, sendQueueDepth)}, nil
}

// Run reconnects with exponential backoff (1 s to 30 s, with jitter) until
// Stop.
func (c *wsClient) Run() {
	backoff := backoffMin
	for c.ctx.Err() == nil {
		start := time.Now()
		err := c.connectAndServe()
		if c.ctx.Err() != nil {
			return
		}
		if time.Since(start) > time.Minute {
			backoff = backoffMin // it was a healthy connection
		}
		wait := nextBackoff(backoff)
		c.log.Warn("control plane connection lost; reconnecting", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(wait):
		}
		backoff = min(backoff*2, backoffMax)
	}
}

// nextBackoff adds up to 50 % jitter, never exceeding backoffMax, so a
// fleet of workers does not reconnect in lockstep after an outage.
func nextBackoff(b time.Duration) time.Duration {
	j := b + time.Duration(rand.Int64N(int64(b)/2+1))
	return min(max(j, backoffMin), backoffMax)
}

// Stop cancels the client and closes the current connection.
func (c *wsClient) Stop() {
	c.cancel()
	c.mu.Lock()
	if c.conn != nil {
		c.conn.Close()
	}
	c.mu.Unlock()
}

func (c *wsClient) connectAndServe() error {
	tlsCfg := httpx.NewSecureTLSConfig()
	// Force HTTP/1.1: a proxy or CDN that negotiates h2 via ALPN breaks
	// the WebSocket upgrade.
	tlsCfg.NextProtos = []string{"http/1.1"}
	d := websocket.Dialer{
		HandshakeTimeout: wsHandshakeTimeout,
		TLSClientConfig:  tlsCfg,
		ReadBufferSize:   4096,
		WriteBufferSize:  4096,
		Proxy:            http.ProxyFromEnvironment,
	}
	ctx, cancel := context.WithTimeout(c.ctx, wsHandshakeTimeout)
	conn, resp, err := d.DialContext(ctx, c.url, http.Header{"Authorization": {"Bearer " + c.tokenFn()}})
	cancel()
	if err != nil {
		if resp != nil {
			return fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return fmt.Errorf("dial: %w", err)
	}
	conn.SetReadLimit(wsproto.MaxMessageBytes)
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
		conn.Close()
	}()
	c.log.Info("connected to the control plane")

	sender, recv := wsproto.NewSender(c.apiKey), wsproto.NewReceiver(c.apiKey)
	done := make(chan struct{})
	writeErr := make(chan error, 1)
	go func() { writeErr <- c.writeLoop(conn, sender, done) }()
	if c.onConnect != nil {
		c.onConnect()
	}
	err = c.readLoop(conn, recv)
	close(done)
	conn.Close()
	if werr := <-writeErr; err == nil {
		err = werr
	}
	return err
}

// writeLoop seals and writes queued messages and pings every wsPingPeriod.
func (c *wsClient) writeLoop(conn *websocket.Conn, sender *wsproto.Sender, done <-chan struct{}) error {
	ping := time.NewTicker(wsPingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-done:
			return nil
		case <-c.ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "worker stopping"), time.Now().Add(time.Second))
			return nil
		case m := <-c.send:
			data, err := sender.Seal(m.msgType, m.payload)
			if err != nil {
				c.log.Error("seal message", "type", m.msgType, "err", err)
				continue
			}
			_ = conn.SetWriteDeadline(time.Now().Add(wsWriteWait))
			if err := conn.WriteMessage(websocket.TextMessage, data); err != nil {
				// The message is lost with the connection; callers
				// that need delivery (job results) are covered by
				// redelivery and resend-by-offset.
				return fmt.Errorf("write: %w", err)
			}
		case <-ping.C:
			if err := conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(wsWriteWait)); err != nil {
				return fmt.Errorf("ping: %w", err)
			}
		}
	}
}

// readLoop applies every receiver check to each message and hands the
// authentic ones to the handler.
func (c *wsClient) readLoop(conn *websocket.Conn, recv *wsproto.Receiver) error {
	_ = conn.SetReadDeadline(time.Now().Add(wsPongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(wsPongWait)) })
	failures := 0
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(wsPongWait))
		e, err := recv.Open(data)
		if err != nil {
			failures++
			c.log.Warn("dropped a message from the control plane", "reason", wsproto.Reason(err))
			if failures >= 5 {
				return errors.New("too many invalid messages from the control plane")
			}
			continue
		}
		failures = 0
		c.handler(e)
	}
}

// Emit queues a message; it waits at most emitTimeout for room.
func (c *wsClient) Emit(msgType string, payload any) error {
	t := time.NewTimer(emitTimeout)
	defer t.Stop()
	select {
	case c.send <- outMsg{msgType, payload}:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	case <-t.C:
		return fmt.Errorf("worker: send queue full for %v; %s dropped", emitTimeout, msgType)
	}
}
