package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawConn is a client that writes requests by hand on one connection and
// reads the answers in order.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t *testing.T, front *httptest.Server) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response to a request with method.
func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.br, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatalf("body: %v", err)
	}
	return resp, string(b)
}

func (rc *rawConn) get(host, path string) (*http.Response, string) {
	rc.t.Helper()
	rc.send("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n")
	return rc.read("GET")
}

// takeoverApp is an upstream that shows what reached it.
func takeoverApp(t *testing.T) *httptest.Server {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			fmt.Fprint(w, "one,")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "two")
			w.Header().Set("X-Sum", "2")
			return
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
			return
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %s", r.Method, b)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "app %s %s xff=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(up.Close)
	return up
}

// Every request on a kept-alive connection is answered as net/http would,
// whether the router or net/http reads it: app requests, the API's,
// bodies, pipelined requests, big heads, HEAD, 204, chunked with trailers.
func TestTakenConnection(t *testing.T) {
	f := newFakeStore()
	f.set("web", "running", takeoverApp(t).URL)
	_, front := newRouter(t, f)
	rc := dialRaw(t, front)

	for i := range 3 {
		resp, body := rc.get("web.apps.test", fmt.Sprintf("/n%d?q=1", i))
		if want := fmt.Sprintf("app GET /n%d?q=1 xff=127.0.0.1", i); resp.StatusCode != 200 || body != want {
			t.Fatalf("request %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
		if resp.Header.Get("Date") == "" || resp.Header.Get("Content-Type") != "text/plain" {
			t.Errorf("request %d headers: %v", i, resp.Header)
		}
	}
	// A client's own X-Forwarded-For is replaced.
	rc.send("GET /xff HTTP/1.1\r\nHost: web.apps.test\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n")
	if _, body := rc.read("GET"); body != "app GET /xff xff=127.0.0.1" {
		t.Errorf("forged X-Forwarded-For: %q", body)
	}
	// The API on the same connection: handed back to net/http, which then
	// passes the connection to the router again.
	if resp, body := rc.get("api.test", "/"); resp.StatusCode != 200 || body != "api" {
		t.Fatalf("API on a taken connection: %d %q", resp.StatusCode, body)
	}
	if _, body := rc.get("web.apps.test", "/again"); !strings.HasPrefix(body, "app GET /again") {
		t.Fatalf("app after the API: %q", body)
	}
	// A body goes to net/http (and the reverse proxy).
	rc.send("POST /echo HTTP/1.1\r\nHost: web.apps.test\r\nContent-Length: 5\r\n\r\nhello")
	if resp, body := rc.read("POST"); resp.StatusCode != 200 || body != "POST hello" {
		t.Fatalf("POST: %d %q", resp.StatusCode, body)
	}
	// Pipelined: three heads in one write, three answers in order.
	rc.send("GET /p1 HTTP/1.1\r\nHost: web.apps.test\r\n\r\nGET / HTTP/1.1\r\nHost: api.test\r\n\r\nGET /p3 HTTP/1.1\r\nHost: web.apps.test\r\n\r\n")
	for _, want := range []string{"app GET /p1", "api", "app GET /p3"} {
		if _, body := rc.read("GET"); !strings.HasPrefix(body, want) {
			t.Fatalf("pipelined: %q, want %q…", body, want)
		}
	}
	// A head bigger than the router's buffer: net/http reads it.
	rc.send("GET /big HTTP/1.1\r\nHost: web.apps.test\r\nX-Big: " + strings.Repeat("b", 6000) + "\r\n\r\n")
	if resp, body := rc.read("GET"); resp.StatusCode != 200 || !strings.HasPrefix(body, "app GET /big") {
		t.Fatalf("big head: %d %q", resp.StatusCode, body)
	}
	// A head that arrives in pieces.
	rc.send("GET /slow HTTP/1.1\r\nHo")
	time.Sleep(50 * time.Millisecond)
	rc.send("st: web.apps.test\r\n\r\n")
	if _, body := rc.read("GET"); !strings.HasPrefix(body, "app GET /slow") {
		t.Fatalf("head in pieces: %q", body)
	}
	// HEAD, 204, chunked with a trailer.
	rc.send("HEAD /h HTTP/1.1\r\nHost: web.apps.test\r\n\r\n")
	if resp, body := rc.read("HEAD"); resp.StatusCode != 200 || body != "" || resp.ContentLength <= 0 {
		t.Fatalf("HEAD: %d %q length %d", resp.StatusCode, body, resp.ContentLength)
	}
	if resp, body := rc.get("web.apps.test", "/empty"); resp.StatusCode != 204 || body != "" {
		t.Fatalf("204: %d %q", resp.StatusCode, body)
	}
	resp, body := rc.get("web.apps.test", "/chunked")
	if body != "one,two" || resp.Trailer.Get("X-Sum") != "2" {
		t.Fatalf("chunked: %q trailer %v", body, resp.Trailer)
	}
	// A page (no app) and then an app, still on the same connection.
	if resp, _ := rc.get("nope.apps.test", "/"); resp.StatusCode != 404 {
		t.Fatalf("unknown app: %d", resp.StatusCode)
	}
	// Connection: close is honoured.
	rc.send("GET /last HTTP/1.1\r\nHost: web.apps.test\r\nConnection: close\r\n\r\n")
	if resp, _ := rc.read("GET"); !resp.Close {
		t.Error("the answer to a Connection: close request does not say close")
	}
	if _, err := rc.br.ReadByte(); err != io.EOF {
		t.Errorf("the connection stayed open after Connection: close (%v)", err)
	}
}

// A malformed head on a taken connection gets net/http's answer.
func TestTakenConnectionMalformedHead(t *testing.T) {
	f := newFakeStore()
	f.set("web", "running", takeoverApp(t).URL)
	_, front := newRouter(t, f)
	for _, head := range []string{
		"GET / HTTP/1.1\r\nHost: web.apps.test\r\nBad Header\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: web.apps.test\r\nHost: api.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: web.apps.test/x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: we b.apps.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: web.apps.test\r\nX-A: a\x00b\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\n",
	} {
		rc := dialRaw(t, front)
		if _, body := rc.get("web.apps.test", "/"); !strings.HasPrefix(body, "app GET /") {
			t.Fatalf("first: %q", body)
		}
		rc.send(head)
		if resp, _ := rc.read("GET"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q on a taken connection: %d, want net/http's 400", head, resp.StatusCode)
		}
	}
}

// Shutdown closes idle taken connections and waits for a request in
// flight to be answered.
func TestTakenConnectionShutdown(t *testing.T) {
	f := newFakeStore()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		fmt.Fprint(w, "ok")
	}))
	defer up.Close()
	f.set("web", "running", up.URL)
	rt := New(f, Config{BaseDomain: "apps.test"}, nil)
	front := httptest.NewUnstartedServer(rt.Wrap(http.NotFoundHandler()))
	rt.Attach(front.Config)
	front.Start()
	defer front.Close()

	idle, busy := dialRaw(t, front), dialRaw(t, front)
	idle.get("web.apps.test", "/")
	busy.get("web.apps.test", "/")
	busy.send("GET /slow HTTP/1.1\r\nHost: web.apps.test\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // the slow request reaches the app

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- rt.Shutdown(ctx)
	}()
	if _, err := idle.br.ReadByte(); err != io.EOF {
		t.Errorf("an idle taken connection was not closed by Shutdown (%v)", err)
	}
	select {
	case <-done:
		t.Fatal("Shutdown returned while a request was in flight")
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if resp, body := busy.read("GET"); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("the request in flight: %d %q", resp.StatusCode, body)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return once the request was answered")
	}
}

// A connection that goes back and forth between the router and net/http
// (GET, POST, GET…) keeps working and does not pile up readers.
func TestTakenConnectionBackAndForth(t *testing.T) {
	f := newFakeStore()
	f.set("web", "running", takeoverApp(t).URL)
	_, front := newRouter(t, f)
	rc := dialRaw(t, front)
	for i := range 100 {
		if _, body := rc.get("web.apps.test", "/g"); !strings.HasPrefix(body, "app GET /g") {
			t.Fatalf("round %d GET: %q", i, body)
		}
		rc.send(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: web.apps.test\r\nContent-Length: 2\r\n\r\n%02d", i))
		if _, body := rc.read("POST"); body != fmt.Sprintf("POST %02d", i) {
			t.Fatalf("round %d POST: %q", i, body)
		}
	}
	if d := handedDepth.Load(); d > 2 {
		t.Errorf("a connection handed back went through %d layers of readers, want at most 2", d)
	}
}
