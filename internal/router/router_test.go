package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/store"
)

// fakeStore is an in-memory Store: apps by name, domains, workers.
type fakeStore struct {
	mu      sync.Mutex
	gen     atomic.Uint64
	apps    map[string]*store.App
	domains map[string]string // domain → app name
	workers map[int64]*store.Worker
	loads   atomic.Int64
}

func newFakeStore() *fakeStore {
	return &fakeStore{apps: map[string]*store.App{}, domains: map[string]string{},
		workers: map[int64]*store.Worker{1: {ID: 1, Address: "127.0.0.1"}}}
}

func (f *fakeStore) RoutesGeneration() uint64 { return f.gen.Load() }

func (f *fakeStore) GetAppByName(_ context.Context, name string) (*store.App, error) {
	f.loads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[name]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *a
	return &c, nil
}

func (f *fakeStore) GetAppByDomain(ctx context.Context, domain string) (*store.App, error) {
	f.mu.Lock()
	name, ok := f.domains[domain]
	f.mu.Unlock()
	if !ok {
		f.loads.Add(1)
		return nil, store.ErrNotFound
	}
	return f.GetAppByName(ctx, name)
}

func (f *fakeStore) GetWorker(_ context.Context, id int64) (*store.Worker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.workers[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	c := *w
	return &c, nil
}

// set records app as running on worker 1 at the port of upstream (a URL
// or host:port), or not running when upstream is "".
func (f *fakeStore) set(name, status, upstream string) {
	f.mu.Lock()
	a := &store.App{Name: name, Status: status}
	if upstream != "" {
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(upstream, "http://"))
		a.WorkerID = 1
		a.HostPort, _ = strconv.Atoi(port)
	}
	f.apps[name] = a
	f.mu.Unlock()
	f.gen.Add(1)
}

func newRouter(t *testing.T, f *fakeStore) (*Router, *httptest.Server) {
	t.Helper()
	rt := New(f, Config{BaseDomain: "apps.test", APIHosts: []string{"api.test"}, SwitchWait: 2 * time.Second}, nil)
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "api") })
	front := httptest.NewUnstartedServer(rt.Wrap(api))
	rt.Attach(front.Config)
	front.Start()
	t.Cleanup(func() {
		front.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("router shutdown: %v", err)
		}
	})
	return rt, front
}

// get sends a request for host through front.
func get(t *testing.T, front *httptest.Server, host, path string, hdr ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("GET", front.URL+path, nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestRoutesByHost(t *testing.T) {
	f := newFakeStore()
	var seen atomic.Pointer[http.Request]
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r)
		fmt.Fprintf(w, "hello from web %s", r.URL.Path)
	}))
	defer up.Close()
	f.set("web", "running", up.URL)
	f.set("idle", "created", "")
	f.set("broken", "running", "127.0.0.1:1") // nothing listens on port 1
	f.set("held", "running", up.URL)
	f.apps["held"].Suspended = true
	f.domains["www.example.org"] = "web"
	_, front := newRouter(t, f)

	cases := []struct {
		host     string
		code     int
		contains string
	}{
		{"web.apps.test", 200, "hello from web /x"},
		{"WEB.Apps.Test:8080", 200, "hello from web /x"},
		{"www.example.org", 200, "hello from web /x"},
		{"nope.apps.test", 404, "No app here"},
		{"bad_name.apps.test", 404, "No app here"},
		{"a.b.apps.test", 404, "No app here"},
		{"idle.apps.test", 503, "not running"},
		{"held.apps.test", 503, "suspended"},
		{"broken.apps.test", 502, "did not answer"},
		{"api.test", 200, "api"},
		{"apps.test", 200, "api"},
		{"127.0.0.1", 200, "api"},
		{"unknown.example.net", 200, "api"},
	}
	for _, c := range cases {
		code, body, hdr := get(t, front, c.host, "/x")
		if code != c.code || !strings.Contains(body, c.contains) {
			t.Errorf("%s: %d %.80q, want %d containing %q", c.host, code, body, c.code, c.contains)
		}
		if code >= 500 && hdr.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: error page cacheable", c.host)
		}
		if strings.Contains(body, "127.0.0.1:1") {
			t.Errorf("%s: page leaks the upstream address", c.host)
		}
	}
	if _, _, hdr := get(t, front, "idle.apps.test", "/"); hdr.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}

	// Forwarding headers: ours, not the client's.
	get(t, front, "web.apps.test", "/h", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil")
	r := seen.Load()
	if got := r.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("X-Forwarded-For %q, want the peer 127.0.0.1 only", got)
	}
	if got := r.Header.Get("X-Forwarded-Host"); got != "web.apps.test" {
		t.Errorf("X-Forwarded-Host %q", got)
	}
	if got := r.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto %q", got)
	}
	if r.Host != "web.apps.test" {
		t.Errorf("upstream saw Host %q", r.Host)
	}
}

func TestRouteTableCachesAndReloads(t *testing.T) {
	f := newFakeStore()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v1") }))
	defer up.Close()
	f.set("web", "running", up.URL)
	_, front := newRouter(t, f)
	for range 20 {
		get(t, front, "web.apps.test", "/")
		get(t, front, "nobody.example.net", "/") // negative answers are cached too
	}
	if n := f.loads.Load(); n != 2 {
		t.Errorf("%d store lookups for 40 requests on 2 hosts, want 2", n)
	}
	up2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "v2") }))
	defer up2.Close()
	f.set("web", "running", up2.URL)
	if _, body, _ := get(t, front, "web.apps.test", "/"); body != "v2" {
		t.Errorf("after the route moved: %q", body)
	}
}

// TestSwitchRetriesRefusedConnection: a request that looked the route up
// just before the old container went away waits for the new route.
func TestSwitchRetriesRefusedConnection(t *testing.T) {
	f := newFakeStore()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close() // the old container: gone, connections refused
	f.set("web", "running", dead)
	rt, front := newRouter(t, f)
	_ = rt
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "new") }))
	defer up.Close()
	go func() {
		time.Sleep(300 * time.Millisecond)
		f.set("web", "running", up.URL)
	}()
	start := time.Now()
	code, body, _ := get(t, front, "web.apps.test", "/")
	if code != 200 || body != "new" {
		t.Fatalf("%d %q", code, body)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("answered in %v: did not wait for the switch?", d)
	}
	// A POST with a body is not retried: 502.
	f.set("web", "running", dead)
	req, _ := http.NewRequest("POST", front.URL, strings.NewReader("payload"))
	req.Host = "web.apps.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Errorf("POST to a dead upstream: %d, want 502", resp.StatusCode)
	}
}

func TestStreamsAndWebSockets(t *testing.T) {
	f := newFakeStore()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			for {
				mt, msg, err := c.ReadMessage()
				if err != nil {
					return
				}
				_ = c.WriteMessage(mt, append([]byte("echo "), msg...))
			}
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		<-release
		fmt.Fprint(w, "data: second\n\n")
	}))
	defer up.Close()
	defer close(release)
	f.set("web", "running", up.URL)
	_, front := newRouter(t, f)

	// SSE: the first event arrives while the stream is still open.
	req, _ := http.NewRequest("GET", front.URL+"/events", nil)
	req.Host = "web.apps.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(resp.Body).ReadString('\n')
		line <- s
	}()
	select {
	case s := <-line:
		if s != "data: first\n" {
			t.Errorf("first line %q", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the first event did not pass through while the stream was open")
	}

	// WebSocket upgrade through the router.
	d := websocket.Dialer{NetDial: func(network, _ string) (net.Conn, error) {
		return net.Dial(network, strings.TrimPrefix(front.URL, "http://"))
	}}
	c, _, err := d.Dial("ws://web.apps.test/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	_, msg, err := c.ReadMessage()
	if err != nil || string(msg) != "echo hi" {
		t.Fatalf("%q %v", msg, err)
	}
}

func TestHostPolicy(t *testing.T) {
	f := newFakeStore()
	f.set("web", "running", "127.0.0.1:9")
	f.domains["www.example.org"] = "web"
	rt := New(f, Config{BaseDomain: "apps.test"}, nil)
	for host, ok := range map[string]bool{"web.apps.test": true, "www.example.org": true, "nope.apps.test": false,
		"evil.example.com": false, "apps.test": false} {
		if err := rt.HostPolicy(context.Background(), host); (err == nil) != ok {
			t.Errorf("%s: %v", host, err)
		}
	}
}

func TestHostname(t *testing.T) {
	for in, want := range map[string]string{"Web.Apps.Test:8080": "web.apps.test", "web.apps.test.": "web.apps.test",
		"[::1]:80": "[::1]", "[::1]": "[::1]", "x": "x", "": ""} {
		if got := hostname(in); got != want {
			t.Errorf("hostname(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestFastPathConnectionHandling: hop-by-hop headers stay on their hop, a
// pooled connection the app closed is replaced without failing the
// request, and HEAD and chunked answers pass through.
func TestFastPathConnectionHandling(t *testing.T) {
	f := newFakeStore()
	var seen atomic.Pointer[http.Request]
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r)
		w.Header().Set("Connection", "X-Internal")
		w.Header().Set("X-Internal", "secret")
		w.Header().Set("X-App", "yes")
		if r.URL.Path == "/chunked" {
			fmt.Fprint(w, "part one,")
			w.(http.Flusher).Flush()
			fmt.Fprint(w, "part two")
			return
		}
		w.Header().Set("Content-Length", "5")
		fmt.Fprint(w, "hello")
	}))
	defer up.Close()
	f.set("web", "running", up.URL)
	_, front := newRouter(t, f)

	code, body, hdr := get(t, front, "web.apps.test", "/", "Connection", "X-Secret", "X-Secret", "1", "Proxy-Authorization", "Basic x")
	if code != 200 || body != "hello" || hdr.Get("X-App") != "yes" {
		t.Fatalf("%d %q %v", code, body, hdr)
	}
	if hdr.Get("X-Internal") != "" {
		t.Error("a header the app named in Connection reached the client")
	}
	if r := seen.Load(); r.Header.Get("X-Secret") != "" || r.Header.Get("Proxy-Authorization") != "" {
		t.Errorf("hop-by-hop request headers reached the app: %v", r.Header)
	}
	if code, body, _ := get(t, front, "web.apps.test", "/chunked"); code != 200 || body != "part one,part two" {
		t.Errorf("chunked: %d %q", code, body)
	}
	req, _ := http.NewRequest("HEAD", front.URL, nil)
	req.Host = "web.apps.test"
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.ContentLength != 5 {
		t.Fatalf("HEAD: %v %v", resp, err)
	}
	resp.Body.Close()

	// An app that closes every connection after answering, without saying
	// so: each pooled connection is dead when reused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if _, err := http.ReadRequest(br); err != nil {
					return
				}
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrude")
			}()
		}
	}()
	f.set("rude", "running", ln.Addr().String())
	for i := range 20 {
		if code, body, _ := get(t, front, "rude.apps.test", "/"); code != 200 || body != "rude" {
			t.Fatalf("request %d to an app that drops idle connections: %d %q", i, code, body)
		}
	}
}

// An informational answer (103 Early Hints) before the real one is skipped.
func TestFastPathSkipsInformational(t *testing.T) {
	f := newFakeStore()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					fmt.Fprint(c, "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	f.set("hints", "running", ln.Addr().String())
	_, front := newRouter(t, f)
	for range 3 {
		if code, body, _ := get(t, front, "hints.apps.test", "/"); code != 200 || body != "ok" {
			t.Fatalf("%d %q", code, body)
		}
	}
}
