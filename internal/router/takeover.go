package router

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Connection takeover. net/http costs every request a goroutine that
// watches the client connection while the handler runs, and stopping it
// when the handler returns is a wake-up on the critical path: about 15–20 µs
// of the router's added latency on this 2-core machine (docs/BENCHMARKS.md).
// So once a plain HTTP/1.1 keep-alive connection brings a simple app
// request (no body, no upgrade: the fast path), the router takes the
// connection from net/http (Hijack) and reads the requests that follow on
// it itself. The first one it would rather not serve (another host such as
// the API, a body, an upgrade, a head it cannot parse) is handed back,
// unread, to an http.Server with the same settings (handback), so net/http
// serves everything that is not the simple case, as before.
//
// TLS connections and HTTP/2 are never taken over.

// handback serves the connections the router gives back, on a clone of
// the http.Server they came from.
type handback struct {
	srv   *http.Server
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	// From the original server.
	idleTimeout       time.Duration
	readHeaderTimeout time.Duration
}

// Accept, Close and Addr make handback the clone's net.Listener.
func (h *handback) Accept() (net.Conn, error) {
	select {
	case c := <-h.conns:
		return c, nil
	case <-h.done:
		return nil, net.ErrClosed
	}
}

func (h *handback) Close() error {
	h.once.Do(func() { close(h.done) })
	return nil
}

func (h *handback) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// give hands c back to net/http; false when the router is shutting down.
func (h *handback) give(c net.Conn) bool {
	select {
	case h.conns <- c:
		return true
	case <-h.done:
		return false
	}
}

// handedConn is a connection with bytes already read into r (at least the
// head of the request net/http is to serve next).
type handedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c handedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// unhand strips the handedConn layers of a connection net/http served
// after a hand-back, so that a connection that goes back and forth (a
// POST, a GET, a POST…) does not pile up readers: br is what net/http
// read ahead, then the bare connection.
func unhand(c net.Conn, br *bufio.Reader) (net.Conn, *bufio.Reader) {
	inner := c
	for {
		hc, ok := inner.(handedConn)
		if !ok || hc.r.Buffered() > 0 {
			break
		}
		inner = hc.Conn
	}
	if inner == c {
		return c, br
	}
	pending, _ := br.Peek(br.Buffered())
	return inner, bufio.NewReaderSize(&prefixReader{p: bytes.Clone(pending), r: inner}, 4096)
}

// prefixReader reads p, then r.
type prefixReader struct {
	p []byte
	r io.Reader
}

func (pr *prefixReader) Read(b []byte) (int, error) {
	if len(pr.p) > 0 {
		n := copy(b, pr.p)
		pr.p = pr.p[n:]
		return n, nil
	}
	return pr.r.Read(b)
}

// handedDepth is the deepest handedConn given back (tests).
var handedDepth atomic.Int32

func depthOf(c net.Conn) int32 {
	var d int32
	for {
		hc, ok := c.(handedConn)
		if !ok {
			return d
		}
		d++
		c = hc.Conn
	}
}

// takeover is the router's state for the connections it serves itself.
type takeover struct {
	mu        sync.Mutex
	handbacks map[*http.Server]*handback
	conns     map[*takenConn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup // handback servers and taken connections
}

// takenConn is one connection the router serves; idle while it waits for
// the next request (Shutdown closes it then).
type takenConn struct {
	c    net.Conn
	idle atomic.Bool
}

// Attach lets the router take over srv's plain HTTP/1.1 keep-alive
// connections after a simple app request (see above). Call it before srv
// serves, and Shutdown when srv shuts down. Without Attach, every request
// stays with net/http.
func (rt *Router) Attach(srv *http.Server) {
	idle := srv.IdleTimeout
	if idle <= 0 {
		idle = srv.ReadTimeout
	}
	hb := &handback{conns: make(chan net.Conn), done: make(chan struct{}), idleTimeout: idle,
		readHeaderTimeout: srv.ReadHeaderTimeout}
	hb.srv = &http.Server{Handler: srv.Handler, ReadHeaderTimeout: srv.ReadHeaderTimeout, ReadTimeout: srv.ReadTimeout,
		WriteTimeout: srv.WriteTimeout, IdleTimeout: srv.IdleTimeout, MaxHeaderBytes: srv.MaxHeaderBytes,
		BaseContext: srv.BaseContext, ConnContext: srv.ConnContext, ErrorLog: srv.ErrorLog}
	t := &rt.takeover
	t.mu.Lock()
	if t.handbacks == nil {
		t.handbacks = map[*http.Server]*handback{}
		t.conns = map[*takenConn]struct{}{}
	}
	t.handbacks[srv] = hb
	t.handbacks[hb.srv] = hb // what it serves may be taken over again
	t.mu.Unlock()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		_ = hb.srv.Serve(hb)
	}()
}

// Shutdown stops taking connections over, closes the idle ones, hands
// nothing back any more, and waits until the requests in flight on taken
// connections are answered (or ctx ends: then it closes those too).
func (rt *Router) Shutdown(ctx context.Context) error {
	t := &rt.takeover
	t.mu.Lock()
	t.closing.Store(true)
	hbs := make([]*handback, 0, len(t.handbacks))
	for srv, hb := range t.handbacks {
		if srv != hb.srv {
			hbs = append(hbs, hb)
		}
	}
	t.mu.Unlock()
	var errs []error
	for _, hb := range hbs {
		_ = hb.Close()
		errs = append(errs, hb.srv.Shutdown(ctx))
	}
	done := make(chan struct{})
	go func() { t.wg.Wait(); close(done) }()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		t.mu.Lock()
		for tc := range t.conns {
			if tc.idle.Load() || ctx.Err() != nil {
				_ = tc.c.Close()
			}
		}
		t.mu.Unlock()
		select {
		case <-done:
			return errors.Join(errs...)
		case <-tick.C:
		case <-ctx.Done():
			// The next round closes every connection left.
		}
	}
}

// handbackFor returns the handback of the server that serves r, if the
// router may take r's connection over.
func (rt *Router) handbackFor(r *http.Request) *handback {
	t := &rt.takeover
	if r.TLS != nil || r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close || t.closing.Load() {
		return nil
	}
	srv, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if srv == nil {
		return nil
	}
	t.mu.Lock()
	hb := t.handbacks[srv]
	t.mu.Unlock()
	return hb
}

// takeOver hijacks w's connection and serves r and the simple requests
// that follow on it; false (having done nothing) if the connection cannot
// be hijacked.
func (rt *Router) takeOver(w http.ResponseWriter, r *http.Request, hb *handback, h string, rr *route) bool {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return false
	}
	// Counted before the hijack, and never once Shutdown has begun (it
	// sets closing under mu, then waits for the count).
	t := &rt.takeover
	t.mu.Lock()
	if t.closing.Load() {
		t.mu.Unlock()
		return false
	}
	t.wg.Add(1)
	t.mu.Unlock()
	defer t.wg.Done()
	c, brw, err := hj.Hijack()
	if err != nil {
		return false
	}
	c, brw.Reader = unhand(c, brw.Reader)
	tc := &takenConn{c: c}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.conns, tc)
		t.mu.Unlock()
	}()
	rt.serveTaken(tc, brw, hb, r, h, rr)
	return true
}

// serveTaken is the taken connection's request loop.
func (rt *Router) serveTaken(tc *takenConn, brw *bufio.ReadWriter, hb *handback, r *http.Request, h string, rr *route) {
	c, br := tc.c, brw.Reader
	remote := r.RemoteAddr
	for {
		resp := &connResponse{bw: brw.Writer, req: r, h: http.Header{}}
		rt.serve(resp, r, h, rr)
		if !resp.finish() || r.Close || rt.takeover.closing.Load() {
			_ = c.Close()
			return
		}
		// The next request: handed back unless it is another simple one
		// for an app.
		tc.idle.Store(true)
		if rt.takeover.closing.Load() { // Shutdown may have looked already
			_ = c.Close()
			return
		}
		if hb.idleTimeout > 0 {
			_ = c.SetReadDeadline(time.Now().Add(hb.idleTimeout))
		}
		head, err := peekHead(c, br, hb.readHeaderTimeout)
		tc.idle.Store(false)
		if err != nil && !errors.Is(err, errHandBack) {
			_ = c.Close() // closed by the client, idle too long, or shut down
			return
		}
		r = nil
		if err == nil {
			r = parseHead(head)
		}
		var ok bool
		if r != nil && takeable(r) {
			h = hostname(r.Host)
			rr, ok = rt.appRoute(h)
		}
		if !ok {
			_ = c.SetReadDeadline(time.Time{})
			hc := handedConn{Conn: c, r: br}
			if d := depthOf(hc); d > handedDepth.Load() {
				handedDepth.Store(d)
			}
			if !hb.give(hc) {
				_ = c.Close()
			}
			return
		}
		_, _ = br.Discard(len(head))
		r.RemoteAddr = remote
	}
}

// errHandBack: the next request's head is not one the router reads.
var errHandBack = errors.New("router: hand the connection back")

// peekHead waits for the next request's head and returns it, unread: the
// bytes up to and including its blank line. errHandBack when the head
// outgrows the read buffer (net/http allows bigger ones).
func peekHead(c net.Conn, br *bufio.Reader, headerTimeout time.Duration) ([]byte, error) {
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	timed := false
	for {
		b, _ := br.Peek(br.Buffered())
		if end := headEnd(b); end > 0 {
			return b[:end], nil
		}
		if len(b) >= br.Size() {
			return nil, errHandBack
		}
		if !timed && headerTimeout > 0 {
			// The head came in pieces: the rest must come soon.
			_ = c.SetReadDeadline(time.Now().Add(headerTimeout))
			timed = true
		}
		if _, err := br.Peek(len(b) + 1); err != nil {
			return nil, err
		}
	}
}

// headEnd is the length of the head in b (through its blank line), or 0.
func headEnd(b []byte) int {
	i := bytes.Index(b, []byte("\n\r\n"))
	if j := bytes.Index(b, []byte("\n\n")); j >= 0 && (i < 0 || j < i) {
		return j + 2
	}
	if i >= 0 {
		return i + 3
	}
	return 0
}

// headReaders parse heads without a new 4 KiB buffer per request.
var headReaders = sync.Pool{New: func() any {
	hr := &headReader{}
	hr.br = bufio.NewReaderSize(&hr.rd, 4096)
	return hr
}}

type headReader struct {
	rd bytes.Reader
	br *bufio.Reader
}

// parseHead parses a request head; nil if net/http should judge it.
func parseHead(head []byte) *http.Request {
	hr := headReaders.Get().(*headReader)
	hr.rd.Reset(head)
	hr.br.Reset(&hr.rd)
	r, err := http.ReadRequest(hr.br)
	hr.br.Reset(nil)
	headReaders.Put(hr)
	if err != nil {
		return nil
	}
	return r
}

// takeable: a request the taken connection's loop serves itself. Whatever
// net/http's server would refuse or treat specially (no Host header, an
// absolute URI, invalid header names or values, a body, Expect, an
// upgrade, Connection: close) goes to net/http instead.
func takeable(r *http.Request) bool {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Method == http.MethodConnect || !fastEligible(r) || r.Close ||
		r.URL.Host != "" || r.Host == "" || !httpguts.ValidHostHeader(r.Host) || r.Header.Get("Expect") != "" {
		return false
	}
	for k, vs := range r.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
	}
	return true
}

// connResponse is the http.ResponseWriter of a taken connection: HTTP/1.1
// straight onto its buffered writer, with the framing the header implies
// (Content-Length, else chunked).
type connResponse struct {
	bw      *bufio.Writer
	req     *http.Request
	h       http.Header
	code    int
	noBody  bool
	chunked bool
	length  int64 // declared Content-Length, -1 if none
	written int64
	err     error
}

func (w *connResponse) Header() http.Header { return w.h }

func (w *connResponse) WriteHeader(code int) {
	if w.code != 0 || code < 200 { // informational answers are not relayed
		return
	}
	w.code = code
	w.noBody = w.req.Method == http.MethodHead || code == http.StatusNoContent || code == http.StatusNotModified
	w.length = -1
	if cl := w.h.Get("Content-Length"); cl != "" {
		n, err := strconv.ParseInt(cl, 10, 64)
		if err != nil || n < 0 {
			w.h.Del("Content-Length")
		} else {
			w.length = n
		}
	}
	w.h.Del("Transfer-Encoding")
	w.chunked = !w.noBody && w.length < 0
	bw := w.bw
	bw.WriteString("HTTP/1.1 ")
	bw.WriteString(strconv.Itoa(code))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
	if _, ok := w.h["Date"]; !ok {
		bw.WriteString("Date: ")
		bw.WriteString(time.Now().UTC().Format(http.TimeFormat))
		bw.WriteString("\r\n")
	}
	if w.chunked {
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if w.req.Close {
		bw.WriteString("Connection: close\r\n")
	}
	for k, vs := range w.h {
		if k == "Trailer" || len(vs) == 0 {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			headerValue(bw, v)
			bw.WriteString("\r\n")
		}
	}
	if vs := w.h["Trailer"]; len(vs) > 0 && w.chunked {
		bw.WriteString("Trailer: ")
		headerValue(bw, vs[0])
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

// headerValue writes v with any CR or LF replaced by a space, as net/http
// does: a header value never starts a new line.
func headerValue(bw *bufio.Writer, v string) {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			bw.WriteByte(' ')
		} else {
			bw.WriteByte(c)
		}
	}
}

func (w *connResponse) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if w.noBody || len(p) == 0 {
		return len(p), nil
	}
	if w.length >= 0 && w.written+int64(len(p)) > w.length {
		w.err = errors.New("router: the response is longer than its Content-Length")
		return 0, w.err
	}
	if w.chunked {
		w.bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		w.bw.WriteString("\r\n")
	}
	n, err := w.bw.Write(p)
	if err == nil && w.chunked {
		_, err = w.bw.WriteString("\r\n")
	}
	w.written += int64(n)
	if err != nil {
		w.err = err
	}
	return n, err
}

// FlushError sends what is buffered (http.ResponseController.Flush).
func (w *connResponse) FlushError() error {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	w.err = w.bw.Flush()
	return w.err
}

// finish ends the response; false when the connection cannot carry
// another one (a write failed, or the body fell short of its length).
func (w *connResponse) finish() bool {
	if w.code == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return false
	}
	if w.chunked {
		w.bw.WriteString("0\r\n")
		for k, vs := range w.h {
			if !trailerAnnounced(w.h, k) {
				continue
			}
			for _, v := range vs {
				w.bw.WriteString(k)
				w.bw.WriteString(": ")
				headerValue(w.bw, v)
				w.bw.WriteString("\r\n")
			}
		}
		w.bw.WriteString("\r\n")
	}
	if err := w.bw.Flush(); err != nil {
		return false
	}
	return w.noBody || w.length < 0 || w.written == w.length
}

// trailerAnnounced reports whether k was named in the Trailer header
// (copyResponse sets trailer values after the body, as net/http expects).
func trailerAnnounced(h http.Header, k string) bool {
	for _, v := range h["Trailer"] {
		for _, name := range bytes.Split([]byte(v), []byte(",")) {
			if http.CanonicalHeaderKey(string(bytes.TrimSpace(name))) == k {
				return true
			}
		}
	}
	return false
}

var _ io.Writer = (*connResponse)(nil)
