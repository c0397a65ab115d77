package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/adminrpc"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// The admin RPC: one WebSocket per admin tool invocation, every message a
// signed envelope (wsproto) keyed with adminrpc.SessionKey of the session
// token the upgrade was authenticated with. A message that fails any
// receiver check closes the connection: the only legitimate client is our
// own tool, so there is nothing to tolerate.

const (
	rpcMaxMessage   = 64 << 10
	rpcPingPeriod   = 30 * time.Second
	rpcPongWait     = 75 * time.Second
	rpcWriteWait    = 10 * time.Second
	rpcSendTimeout  = 5 * time.Second
	rpcSessionCheck = 30 * time.Second
	rpcEventBuffer  = 256
)

type rpcConn struct {
	s      *Service
	ws     *websocket.Conn
	p      *principal
	sender *wsproto.Sender
	recv   *wsproto.Receiver
	out    chan []byte
	ctx    context.Context
	cancel context.CancelFunc
	log    *slog.Logger

	mu    sync.Mutex
	sub   *Subscription
	tails map[uint64]context.CancelFunc
	wg    sync.WaitGroup // event pump and log tails
}

func (s *Service) rpc(w http.ResponseWriter, r *http.Request, p *principal) error {
	s.rpcMu.Lock()
	if s.rpcClosing {
		s.rpcMu.Unlock()
		return &apiError{http.StatusServiceUnavailable, "unavailable", "the control plane is shutting down"}
	}
	s.rpcWG.Add(1)
	s.rpcMu.Unlock()
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, HandshakeTimeout: 10 * time.Second,
		// The guard has refused every request with an Origin already.
		CheckOrigin: func(r *http.Request) bool { return r.Header.Get("Origin") == "" }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.rpcWG.Done()
		return nil // the upgrader has answered
	}
	key := adminrpc.SessionKey(p.token)
	ctx, cancel := context.WithCancel(context.Background())
	c := &rpcConn{s: s, ws: ws, p: p, sender: wsproto.NewSender(key), recv: wsproto.NewReceiver(key), out: make(chan []byte, 64),
		ctx: ctx, cancel: cancel, tails: map[uint64]context.CancelFunc{},
		log: s.log.With("admin", p.account.Username, "remote", p.peer)}
	s.rpcMu.Lock()
	if s.rpcClosing {
		s.rpcMu.Unlock()
		cancel()
		ws.Close()
		s.rpcWG.Done()
		return nil
	}
	s.rpcConns[c] = struct{}{}
	s.rpcMu.Unlock()
	go c.run()
	return nil
}

// closeRPC closes every RPC connection and waits for them (shutdown).
func (s *Service) closeRPC() {
	s.rpcMu.Lock()
	s.rpcClosing = true
	for c := range s.rpcConns {
		c.closeWith(websocket.CloseGoingAway, "control plane shutting down")
	}
	s.rpcMu.Unlock()
	s.rpcWG.Wait()
}

// closeRPCOf closes the connections of one session (at logout).
func (s *Service) closeRPCOf(tokenHash string) {
	s.rpcMu.Lock()
	defer s.rpcMu.Unlock()
	for c := range s.rpcConns {
		if c.p.session.TokenHash == tokenHash {
			c.closeWith(websocket.ClosePolicyViolation, "logged out")
		}
	}
}

// closeWith sends a close frame and ends the connection's goroutines.
func (c *rpcConn) closeWith(code int, text string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	c.cancel()
	_ = c.ws.Close()
}

func (c *rpcConn) run() {
	defer c.s.rpcWG.Done()
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		c.watchSession()
	}()
	c.readLoop()
	c.cancel()
	_ = c.ws.Close()
	<-writerDone
	<-watchDone
	c.mu.Lock()
	if c.sub != nil {
		c.sub.Close()
	}
	c.mu.Unlock()
	c.wg.Wait()
	c.s.rpcMu.Lock()
	delete(c.s.rpcConns, c)
	c.s.rpcMu.Unlock()
}

func (c *rpcConn) writeLoop() {
	ping := time.NewTicker(rpcPingPeriod)
	defer ping.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case msg := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(rpcWriteWait))
			if err := c.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				c.cancel()
				return
			}
		case <-ping.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(rpcWriteWait)); err != nil {
				c.cancel()
				return
			}
		}
	}
}

// watchSession ends the connection when its session ends (logout,
// expiry, a disabled account) and otherwise keeps it from going idle: an
// open connection is activity.
func (c *rpcConn) watchSession() {
	t := time.NewTicker(rpcSessionCheck)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
		}
		if !c.sessionAlive() {
			c.closeWith(websocket.ClosePolicyViolation, "admin session ended")
			return
		}
	}
}

// sessionAlive re-reads the session and records activity.
func (c *rpcConn) sessionAlive() bool {
	now := time.Now()
	_, _, err := c.s.d.Store.GetAdminSession(c.ctx, c.p.session.TokenHash, now, c.s.IdleTimeout)
	if err != nil {
		return !errors.Is(err, store.ErrNotFound) && c.ctx.Err() == nil // a database hiccup is not a logout
	}
	_ = c.s.d.Store.TouchAdminSession(c.ctx, c.p.session.TokenHash, now)
	return true
}

func (c *rpcConn) readLoop() {
	c.ws.SetReadLimit(rpcMaxMessage)
	_ = c.ws.SetReadDeadline(time.Now().Add(rpcPongWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(rpcPongWait)) })
	for {
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(rpcPongWait))
		if typ != websocket.TextMessage {
			c.closeWith(websocket.CloseUnsupportedData, "text messages only")
			return
		}
		e, err := c.recv.Open(data)
		if err != nil {
			c.log.Warn("admin RPC: message refused; closing", "reason", wsproto.Reason(err), "err", err)
			c.closeWith(websocket.ClosePolicyViolation, "message refused: "+wsproto.Reason(err))
			return
		}
		if e.Type != adminrpc.TypeCall {
			c.closeWith(websocket.ClosePolicyViolation, "only call messages are accepted")
			return
		}
		var call adminrpc.Call
		if err := e.Decode(&call); err != nil {
			c.closeWith(websocket.ClosePolicyViolation, "malformed call")
			return
		}
		res := c.s.call(c, &call)
		res.ID = call.ID
		if err := c.send(adminrpc.TypeResult, res); err != nil {
			return
		}
	}
}

// send seals and queues one message; it gives up (and closes the
// connection) if the client does not read for rpcSendTimeout.
func (c *rpcConn) send(msgType string, payload any) error {
	msg, err := c.sender.Seal(msgType, payload)
	if err != nil {
		return err
	}
	t := time.NewTimer(rpcSendTimeout)
	defer t.Stop()
	select {
	case c.out <- msg:
		return nil
	case <-c.ctx.Done():
		return c.ctx.Err()
	case <-t.C:
		c.log.Warn("admin RPC: client too slow; closing")
		c.closeWith(websocket.ClosePolicyViolation, "client too slow")
		return errors.New("admin: RPC client too slow")
	}
}

// subscribe starts the event pump (once per connection).
func (c *rpcConn) subscribe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sub != nil {
		return
	}
	sub := c.s.d.Events.Subscribe(rpcEventBuffer)
	c.sub = sub
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-c.ctx.Done():
				return
			case ev := <-sub.C:
				if n := sub.TakeLost(); n > 0 {
					if c.send(adminrpc.TypeEvent, adminrpc.Event{Kind: adminrpc.EventLost, At: time.Now().UTC(), Lost: n,
						Message: "events were dropped: this client read too slowly"}) != nil {
						return
					}
				}
				if c.send(adminrpc.TypeEvent, ev) != nil {
					return
				}
			}
		}
	}()
}
