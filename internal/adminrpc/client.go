package adminrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// DefaultAddr is where the internal API listens out of the box.
const DefaultAddr = "127.0.0.1:8081"

// Client calls one control plane's internal API.
type Client struct {
	Addr  string // host:port, a loopback address
	Token string // admin session token; "" before login
	HTTP  *http.Client
}

// NewClient returns a client for addr with token (may be "").
func NewClient(addr, token string) *Client {
	return &Client{Addr: addr, Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// APIError is an answer with status >= 400.
type APIError struct {
	Status  int
	Code    string
	Message string
}

func (e *APIError) Error() string { return e.Message }

// IsUnauthorized reports whether err means "log in (again)".
func IsUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusUnauthorized && ae.Code != "totp_required"
}

// ConnError is a failure to reach the internal API at all.
type ConnError struct {
	Addr string
	Err  error
}

func (e *ConnError) Error() string {
	if errors.Is(e.Err, syscall.ECONNREFUSED) {
		return fmt.Sprintf("cannot reach the internal API at %s: connection refused (is the control plane running here, with --internal-listen %s?)", e.Addr, e.Addr)
	}
	return fmt.Sprintf("cannot reach the internal API at %s: %v", e.Addr, e.Err)
}

func (e *ConnError) Unwrap() error { return e.Err }

func (c *Client) url(path string) string { return "http://" + c.Addr + path }

// Do sends a JSON request to path (under /internal/v1) and decodes a JSON
// answer into out (nil to discard it).
func (c *Client) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url(path), rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "wisehosting-admin/1")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &ConnError{Addr: c.Addr, Err: unwrapURL(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return &ConnError{Addr: c.Addr, Err: err}
	}
	if resp.StatusCode >= 400 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e = Error{Message: fmt.Sprintf("%s %s: %s", method, path, resp.Status), Code: "http"}
		}
		return &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Get is Do for GET.
func (c *Client) Get(ctx context.Context, path string, out any) error {
	return c.Do(ctx, http.MethodGet, path, nil, out)
}

// Login opens a session; the token is in the answer (and set on c).
func (c *Client) Login(ctx context.Context, req LoginRequest) (*Session, error) {
	var s Session
	if err := c.Do(ctx, http.MethodPost, "/internal/v1/login", req, &s); err != nil {
		return nil, err
	}
	c.Token = s.Token
	return &s, nil
}

// Logout ends the session.
func (c *Client) Logout(ctx context.Context) error {
	return c.Do(ctx, http.MethodPost, "/internal/v1/logout", nil, nil)
}

// CallError is a call the server refused or failed (Result.OK false).
type CallError struct {
	Method  string
	Code    string
	Message string
}

func (e *CallError) Error() string { return e.Message }

// Conn is an admin RPC connection: calls, and the events and log lines
// the server pushes.
type Conn struct {
	ws     *websocket.Conn
	sender *wsproto.Sender
	recv   *wsproto.Receiver

	wmu sync.Mutex // one writer at a time

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan Result
	err     error

	// Events carries the server's events after Subscribe; Logs the lines
	// of followed app.logs calls. Read them, or the connection stalls.
	Events chan Event
	Logs   chan Logs
	done   chan struct{}
}

// Dial opens the RPC WebSocket with the client's session.
func (c *Client) Dial(ctx context.Context) (*Conn, error) {
	if c.Token == "" {
		return nil, &APIError{Status: http.StatusUnauthorized, Code: "unauthorized", Message: "not logged in"}
	}
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}
	ws, resp, err := d.DialContext(ctx, "ws://"+c.Addr+"/internal/v1/rpc",
		http.Header{"Authorization": {"Bearer " + c.Token}, "User-Agent": {"wisehosting-admin/1"}})
	if err != nil {
		if resp != nil {
			defer resp.Body.Close()
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			var e Error
			if json.Unmarshal(data, &e) == nil && e.Message != "" {
				return nil, &APIError{Status: resp.StatusCode, Code: e.Code, Message: e.Message}
			}
			return nil, &APIError{Status: resp.StatusCode, Code: "http", Message: "admin RPC: " + resp.Status}
		}
		return nil, &ConnError{Addr: c.Addr, Err: err}
	}
	key := SessionKey(c.Token)
	conn := &Conn{ws: ws, sender: wsproto.NewSender(key), recv: wsproto.NewReceiver(key), pending: map[uint64]chan Result{},
		Events: make(chan Event, 256), Logs: make(chan Logs, 256), done: make(chan struct{})}
	go conn.readLoop()
	return conn, nil
}

// Done is closed when the connection ends; Err then says why.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection ended (nil while it is open).
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close ends the connection.
func (c *Conn) Close() error {
	c.wmu.Lock()
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	c.wmu.Unlock()
	err := c.ws.Close()
	<-c.done
	return err
}

func (c *Conn) readLoop() {
	var err error
	defer func() {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		for id, ch := range c.pending {
			close(ch)
			delete(c.pending, id)
		}
		c.mu.Unlock()
		close(c.done)
	}()
	c.ws.SetReadLimit(wsproto.MaxMessageBytes)
	for {
		var data []byte
		_, data, err = c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				err = fmt.Errorf("the control plane closed the connection: %s", closeText(ce))
			}
			return
		}
		e, oerr := c.recv.Open(data)
		if oerr != nil {
			err = fmt.Errorf("admin RPC: message refused (%s): %w", wsproto.Reason(oerr), oerr)
			c.ws.Close()
			return
		}
		switch e.Type {
		case TypeResult:
			var r Result
			if json.Unmarshal(e.Payload, &r) != nil {
				continue
			}
			c.mu.Lock()
			ch := c.pending[r.ID]
			delete(c.pending, r.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- r
			}
		case TypeEvent:
			var ev Event
			if json.Unmarshal(e.Payload, &ev) == nil {
				c.Events <- ev
			}
		case TypeLog:
			var l Logs
			if json.Unmarshal(e.Payload, &l) == nil {
				c.Logs <- l
			}
		}
	}
}

func closeText(ce *websocket.CloseError) string {
	if ce.Text != "" {
		return ce.Text
	}
	return fmt.Sprintf("code %d", ce.Code)
}

// Call runs method with params and decodes the result's data into out
// (nil to discard). A refused or failed call is a *CallError.
func (c *Conn) Call(ctx context.Context, method string, params, out any) error {
	var raw []byte
	if params != nil {
		var err error
		if raw, err = json.Marshal(params); err != nil {
			return err
		}
	}
	ch := make(chan Result, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return err
	}
	select {
	case <-c.done:
		c.mu.Unlock()
		return errors.New("admin RPC: connection closed")
	default:
	}
	c.nextID++
	id := c.nextID
	c.pending[id] = ch
	c.mu.Unlock()

	msg, err := c.sender.Seal(TypeCall, Call{ID: id, Method: method, Params: raw})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	err = c.ws.WriteMessage(websocket.TextMessage, msg)
	c.wmu.Unlock()
	if err != nil {
		return fmt.Errorf("admin RPC: send %s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.pending, id)
		c.mu.Unlock()
		return ctx.Err()
	case r, ok := <-ch:
		if !ok {
			if err := c.Err(); err != nil {
				return err
			}
			return errors.New("admin RPC: connection closed")
		}
		if !r.OK {
			return &CallError{Method: method, Code: r.Code, Message: r.Error}
		}
		if out != nil && len(r.Data) > 0 {
			return json.Unmarshal(r.Data, out)
		}
		return nil
	}
}

// Subscribe starts the event stream on Events.
func (c *Conn) Subscribe(ctx context.Context) error { return c.Call(ctx, MethodSubscribe, nil, nil) }

// IsForbidden reports whether err is a call refused for the account's role.
func IsForbidden(err error) bool {
	var ce *CallError
	return errors.As(err, &ce) && ce.Code == "forbidden"
}

// Describe is a one-line description of an event, for people.
func (ev Event) Describe() string {
	var b strings.Builder
	b.WriteString(ev.Kind)
	if ev.WorkerID != 0 {
		fmt.Fprintf(&b, " worker #%d", ev.WorkerID)
	}
	if ev.App != "" {
		b.WriteString(" app " + ev.App)
	}
	if ev.Actor != "" {
		b.WriteString(" by " + ev.Actor)
	}
	if ev.Lost > 0 {
		fmt.Fprintf(&b, " (%d lost)", ev.Lost)
	}
	if ev.Message != "" {
		b.WriteString(": " + ev.Message)
	}
	return b.String()
}
