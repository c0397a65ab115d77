package router

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
	"time"
)

// The fast path proxies the common request — no body, no upgrade — on a
// pooled upstream connection entirely in the handler's goroutine: request
// written, response read and copied, connection returned. http.Transport
// hands every request to a connection's read and write goroutines and back,
// which costs more than the rest of the proxy on a 2-core machine
// (docs/BENCHMARKS.md). Everything else (bodies, WebSocket upgrades) goes
// through httputil.ReverseProxy.

// upConn is one pooled connection to an upstream.
type upConn struct {
	c         net.Conn
	sr        *spinReader // under br; nil if c cannot be read directly
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

func newUpConn(nc net.Conn) *upConn {
	c := &upConn{c: nc, sr: newSpinReader(nc), bw: bufio.NewWriterSize(nc, 4096)}
	if c.sr != nil {
		c.br = bufio.NewReaderSize(c.sr, 4096)
	} else {
		c.br = bufio.NewReaderSize(nc, 4096)
	}
	return c
}

// connPool keeps idle upstream connections by address.
type connPool struct {
	mu   sync.Mutex
	idle map[string][]*upConn
}

const (
	maxIdlePerUpstream = 512
	// maxIdleTime: apps (and their frameworks' keep-alive timeouts) close
	// idle connections; older ones are dropped instead of tried.
	maxIdleTime = 30 * time.Second
)

func (p *connPool) get(addr string) *upConn {
	p.mu.Lock()
	cs := p.idle[addr]
	if len(cs) == 0 {
		p.mu.Unlock()
		return nil
	}
	c := cs[len(cs)-1] // the most recently used
	p.idle[addr] = cs[:len(cs)-1]
	var stale []*upConn
	if time.Since(c.idleSince) > maxIdleTime {
		// It and every older one: drop them all.
		stale = append(cs[:len(cs)-1:len(cs)-1], c)
		delete(p.idle, addr)
		c = nil
	}
	p.mu.Unlock()
	for _, s := range stale {
		_ = s.c.Close()
	}
	return c
}

func (p *connPool) put(addr string, c *upConn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if p.idle == nil {
		p.idle = map[string][]*upConn{}
	}
	if len(p.idle[addr]) < maxIdlePerUpstream {
		p.idle[addr] = append(p.idle[addr], c)
		c = nil
	}
	p.mu.Unlock()
	if c != nil {
		_ = c.c.Close()
	}
}

// closeAll drops every idle connection (a route moved: the old
// container's network may vanish under them).
func (p *connPool) closeAll() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			_ = c.c.Close()
		}
	}
}

var dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// fastEligible reports whether r can take the fast path.
func fastEligible(r *http.Request) bool {
	return r.ContentLength == 0 && len(r.TransferEncoding) == 0 && r.Header.Get("Upgrade") == "" &&
		(r.Body == nil || r.Body == http.NoBody)
}

// hopHeaders are per-connection headers a proxy must not forward.
var hopHeaders = map[string]bool{
	"Connection": true, "Proxy-Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// forwardedHeaders are set by us, never taken from the client.
var forwardedHeaders = map[string]bool{"X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true, "Forwarded": true}

// connectionTokens are the extra hop-by-hop headers named in Connection.
func connectionTokens(h http.Header) map[string]bool {
	vs := h["Connection"]
	if len(vs) == 0 {
		return nil
	}
	m := map[string]bool{}
	for _, v := range vs {
		for _, tok := range strings.Split(v, ",") {
			if tok = textproto.TrimString(tok); tok != "" {
				m[textproto.CanonicalMIMEHeaderKey(tok)] = true
			}
		}
	}
	return m
}

// errNoResponse marks a failure before any byte of the response was read:
// the request can be sent again on another connection.
var errNoResponse = errors.New("router: upstream connection failed before answering")

// serveFast proxies r to t.upstream. It reports false, having written
// nothing, when the upstream cannot be reached at all, so the caller can
// answer with an error page.
func (rt *Router) serveFast(w http.ResponseWriter, r *http.Request, t *target) error {
	upstream := t.upstream
	for attempt := 0; ; attempt++ {
		c := rt.pool.get(upstream)
		reused := c != nil
		if c == nil {
			nc, err := dialer.DialContext(r.Context(), "tcp", upstream)
			if err != nil {
				if !isDialError(err) || attempt > 0 {
					return err
				}
				// The container behind this route may have just been
				// replaced: wait for the route to move, then try there.
				next, ok := rt.waitForMove(r, t.host, upstream)
				if !ok {
					return err
				}
				upstream = next
				continue
			}
			c = newUpConn(nc)
		}
		resp, err := rt.roundTrip(c, r, t)
		if err != nil {
			_ = c.c.Close()
			if errors.Is(err, errNoResponse) && (reused || attempt == 0) && attempt < 2 {
				continue // a stale pooled connection: once more on a fresh one
			}
			return err
		}
		rt.copyResponse(w, r, resp, c, upstream)
		return nil
	}
}

// waitForMove waits up to SwitchWait for host's route to leave from.
func (rt *Router) waitForMove(r *http.Request, host, from string) (string, bool) {
	deadline := time.Now().Add(rt.cfg.SwitchWait)
	for time.Now().Before(deadline) {
		if rr := rt.lookup(host); rr.upstream != "" && rr.upstream != from {
			return rr.upstream, true
		}
		select {
		case <-r.Context().Done():
			return "", false
		case <-time.After(25 * time.Millisecond):
		}
	}
	return "", false
}

// roundTrip writes r on c and reads the response head.
func (rt *Router) roundTrip(c *upConn, r *http.Request, t *target) (*http.Response, error) {
	bw := c.bw
	uri := r.RequestURI
	if uri == "" || uri[0] != '/' {
		uri = r.URL.RequestURI()
	}
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	extra := connectionTokens(r.Header)
	for k, vs := range r.Header {
		if hopHeaders[k] || forwardedHeaders[k] || extra[k] {
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		bw.WriteString("X-Forwarded-For: ")
		bw.WriteString(ip)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-Host: ")
	bw.WriteString(r.Host)
	if r.TLS != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\n\r\n")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\n\r\n")
	}
	if err := bw.Flush(); err != nil {
		return nil, errors.Join(errNoResponse, err)
	}
	// The only request waiting for an answer spins for it (spin.go).
	if headWaiters.Add(1) == 1 && c.sr != nil {
		c.sr.spinNext = true
	}
	_, err := c.br.Peek(1)
	headWaiters.Add(-1)
	if c.sr != nil {
		c.sr.spinNext = false
	}
	if err != nil {
		return nil, errors.Join(errNoResponse, err)
	}
	for {
		resp, err := http.ReadResponse(c.br, r)
		if err != nil {
			return nil, err
		}
		switch {
		case resp.StatusCode == http.StatusSwitchingProtocols:
			resp.Body.Close()
			return nil, errors.New("router: the app switched protocols without being asked to")
		case resp.StatusCode >= 100 && resp.StatusCode < 200:
			continue // 103 Early Hints and the like: informational, the real answer follows
		}
		return resp, nil
	}
}

// copyResponse sends resp to the client and returns c to the pool when
// the body was read to its end and both sides keep the connection.
func (rt *Router) copyResponse(w http.ResponseWriter, r *http.Request, resp *http.Response, c *upConn, upstream string) {
	h := w.Header()
	extra := connectionTokens(resp.Header)
	for k, vs := range resp.Header {
		if hopHeaders[k] || extra[k] {
			continue
		}
		h[k] = vs
	}
	if _, ok := resp.Header["Content-Type"]; !ok {
		h["Content-Type"] = nil // a proxy does not guess what the app did not say
	}
	announced := make([]string, 0, len(resp.Trailer))
	for k := range resp.Trailer {
		announced = append(announced, k)
	}
	if len(announced) > 0 {
		h["Trailer"] = []string{strings.Join(announced, ", ")}
	}
	w.WriteHeader(resp.StatusCode)

	var dst io.Writer = w
	// Streams (SSE, chunked responses of unknown length) reach the client
	// as they come.
	if resp.ContentLength == -1 || strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		dst = flushWriter{w: w, rc: http.NewResponseController(w)}
	}
	buf := bufferPool{}.Get()
	_, err := io.CopyBuffer(dst, resp.Body, buf)
	bufferPool{}.Put(buf)
	for k, vs := range resp.Trailer {
		h[k] = vs
	}
	if err != nil || resp.Close || r.Close {
		resp.Body.Close()
		_ = c.c.Close()
		return
	}
	resp.Body.Close()
	rt.pool.put(upstream, c)
}

type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
