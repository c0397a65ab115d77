// Package router sends each app's web traffic to the container that serves
// it: http://<app>.<base domain>/ and the app's custom domains are proxied
// to the app's worker address and host port, as the store last recorded
// them.
//
// The route table lives in memory and is rebuilt lazily whenever the store
// says something route-related changed (store.RoutesGeneration), so a
// request costs a map lookup, not a query. A request that cannot reach the
// app because its container was just replaced waits briefly for the route
// to move and is retried once: a redeploy loses no request.
package router

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wisehosting/wisehosting/internal/models"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Store is what the router reads.
type Store interface {
	RoutesGeneration() uint64
	GetAppByName(ctx context.Context, name string) (*store.App, error)
	GetAppByDomain(ctx context.Context, domain string) (*store.App, error)
	GetWorker(ctx context.Context, id int64) (*store.Worker, error)
}

// Config tells the router which host names are apps'.
type Config struct {
	// BaseDomain: app NAME answers at NAME.<BaseDomain>.
	BaseDomain string
	// APIHosts are host names (no port) that always belong to the control
	// plane itself, such as the public URL's host.
	APIHosts []string
	// SwitchWait bounds how long a request waits for a route to move when
	// the app's container refuses connections (a redeploy in progress).
	SwitchWait time.Duration
}

// maxRoutes bounds the table; past it the table starts over (host names
// come from clients, so unknown ones must not grow it forever).
const maxRoutes = 50000

// Router is an http.Handler for app hosts.
type Router struct {
	st       Store
	cfg      Config
	suffix   string // "." + BaseDomain
	apiHosts map[string]bool
	log      *slog.Logger

	table     atomic.Pointer[table]
	pool      connPool // the fast path's upstream connections
	takeover  takeover // keep-alive connections served by the router itself (takeover.go)
	transport *http.Transport
	proxy     *httputil.ReverseProxy
}

// route is where one host name goes.
type route struct {
	app       string // "" when no app has this host
	upstream  string // host:port; "" when the app has no serving container
	status    string
	suspended bool
	err       bool // the lookup failed (database trouble): not cached
}

type table struct {
	gen    uint64
	mu     sync.RWMutex
	routes map[string]*route
	prev   map[string]*route // the table this one replaced, to notice moves
}

// New returns a router reading routes from st.
func New(st Store, cfg Config, log *slog.Logger) *Router {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SwitchWait <= 0 {
		cfg.SwitchWait = 3 * time.Second
	}
	rt := &Router{st: st, cfg: cfg, suffix: "." + strings.ToLower(cfg.BaseDomain), apiHosts: map[string]bool{}, log: log}
	for _, h := range cfg.APIHosts {
		rt.apiHosts[strings.ToLower(h)] = true
	}
	rt.apiHosts[strings.ToLower(cfg.BaseDomain)] = true
	rt.table.Store(&table{gen: st.RoutesGeneration(), routes: map[string]*route{}})
	// The default transport keeps 2 idle connections per host, so under
	// any concurrency most requests would dial anew: that, not the proxy
	// code, is what makes a default ReverseProxy slow.
	rt.transport = &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       60 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass the app's encoding through untouched
		ForceAttemptHTTP2:     false,
	}
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:      rt.rewrite,
		Transport:    &switchingTransport{rt: rt},
		BufferPool:   bufferPool{},
		ErrorHandler: rt.proxyError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return rt
}

// hostname lowercases the Host header and drops its port.
func hostname(hostport string) string {
	h := hostport
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

// appRoute returns h's route when h is an app's host: a name under the
// base domain, or a custom domain some app has. IP literals and the
// control plane's own names never are.
func (rt *Router) appRoute(h string) (*route, bool) {
	if h == "" || rt.apiHosts[h] {
		return nil, false
	}
	if strings.HasSuffix(h, rt.suffix) {
		return rt.lookup(h), true
	}
	if strings.HasPrefix(h, "[") || net.ParseIP(h) != nil {
		return nil, false
	}
	r := rt.lookup(h)
	return r, r.app != ""
}

// Wrap sends app hosts to the router and everything else to api.
func (rt *Router) Wrap(api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := hostname(r.Host)
		if rr, ok := rt.appRoute(h); ok {
			if takeable(r) {
				if hb := rt.handbackFor(r); hb != nil && rt.takeOver(w, r, hb, h, rr) {
					return
				}
			}
			rt.serve(w, r, h, rr)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// HostPolicy is for ACME: certificates only for hosts that route to an
// existing app (so nobody can make us request certificates for arbitrary
// names pointed at this server).
func (rt *Router) HostPolicy(_ context.Context, host string) error {
	h := hostname(host)
	if rt.lookup(h).app == "" {
		return errors.New("router: no app answers at " + h)
	}
	return nil
}

type ctxKey struct{}

// target is what the proxy's transport needs to know about a request.
type target struct {
	host     string // the route's host name
	upstream string
}

// ServeHTTP proxies one request to its app, or answers with a page that
// says why it cannot.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := hostname(r.Host)
	rt.serve(w, r, h, rt.lookup(h))
}

func (rt *Router) serve(w http.ResponseWriter, r *http.Request, h string, rr *route) {
	switch {
	case rr.err:
		writePage(w, http.StatusServiceUnavailable, pageUnavailable, h, "")
		return
	case rr.app == "":
		writePage(w, http.StatusNotFound, pageNoApp, h, "")
		return
	case rr.suspended:
		writePage(w, http.StatusServiceUnavailable, pageSuspended, rr.app, "")
		return
	case rr.upstream == "":
		writePage(w, http.StatusServiceUnavailable, pageNotRunning, rr.app, rr.status)
		return
	}
	// Long polls may wait longer than the API's deadlines before the app
	// answers at all, so they are lifted for every proxied request.
	liftDeadlines(w)
	t := &target{host: h, upstream: rr.upstream}
	if fastEligible(r) {
		if err := rt.serveFast(w, r, t); err != nil {
			rt.proxyError(w, r, err)
		}
		return
	}
	ctx := context.WithValue(r.Context(), ctxKey{}, t)
	rt.proxy.ServeHTTP(w, r.WithContext(ctx))
}

// liftDeadlines removes the server's whole-request read and write
// deadlines, which exist for the API: app responses may stream for as long
// as the app likes (SSE, long polls, WebSockets, big downloads).
// ReadHeaderTimeout and IdleTimeout still apply.
func liftDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

func (rt *Router) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(ctxKey{}).(*target)
	pr.Out.URL.Scheme = "http"
	pr.Out.URL.Host = t.upstream
	pr.Out.Host = pr.In.Host // the app sees the name it was called by
	// We are the edge: X-Forwarded-For is the peer we saw, never what the
	// client claims.
	pr.SetXForwarded()
}

func (rt *Router) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	if r.Context().Err() != nil {
		return
	}
	name := hostname(r.Host)
	rt.log.Debug("proxy error", "host", name, "err", err)
	writePage(w, http.StatusBadGateway, pageBadGateway, name, "")
}

// switchingTransport retries a request whose connection was refused once
// the route has moved: during a zero-downtime redeploy the old container
// stops moments after the new one takes the route, and a request that
// looked the route up just before would otherwise fail.
type switchingTransport struct{ rt *Router }

func (s *switchingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := s.rt.transport.RoundTrip(req)
	if err == nil || !isDialError(err) || (req.Body != nil && req.Body != http.NoBody) {
		return resp, err // a request with a body cannot be sent twice
	}
	t, _ := req.Context().Value(ctxKey{}).(*target)
	if t == nil {
		return resp, err
	}
	deadline := time.Now().Add(s.rt.cfg.SwitchWait)
	for time.Now().Before(deadline) {
		if r := s.rt.lookup(t.host); r.upstream != "" && r.upstream != t.upstream {
			out := req.Clone(req.Context())
			out.URL.Host = r.upstream
			return s.rt.transport.RoundTrip(out)
		}
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return resp, err
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// lookup returns host's route from the table, loading it on a miss.
func (rt *Router) lookup(host string) *route {
	t := rt.current()
	t.mu.RLock()
	r, ok := t.routes[host]
	t.mu.RUnlock()
	if ok {
		return r
	}
	r = rt.load(host)
	if r.err {
		return r
	}
	t.mu.Lock()
	if len(t.routes) >= maxRoutes {
		t.routes = map[string]*route{}
	}
	t.routes[host] = r
	var moved bool
	if old, ok := t.prev[host]; ok && old.upstream != "" && old.upstream != r.upstream {
		moved = true
	}
	t.mu.Unlock()
	if moved {
		// Pooled connections to the old container would hang once its
		// network is gone rather than fail; drop them.
		rt.transport.CloseIdleConnections()
		rt.pool.closeAll()
	}
	return r
}

// current returns the table for the store's present generation.
func (rt *Router) current() *table {
	for {
		t := rt.table.Load()
		g := rt.st.RoutesGeneration()
		if t.gen == g {
			return t
		}
		t.mu.RLock()
		prev := t.routes
		t.mu.RUnlock()
		nt := &table{gen: g, routes: make(map[string]*route, len(prev)), prev: prev}
		if rt.table.CompareAndSwap(t, nt) {
			return nt
		}
	}
}

// load reads host's route from the store.
func (rt *Router) load(host string) *route {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var app *store.App
	var err error
	if name, ok := strings.CutSuffix(host, rt.suffix); ok {
		if models.ValidateAppName(name) != nil {
			return &route{}
		}
		app, err = rt.st.GetAppByName(ctx, name)
	} else {
		app, err = rt.st.GetAppByDomain(ctx, host)
	}
	if errors.Is(err, store.ErrNotFound) {
		return &route{}
	}
	if err != nil {
		rt.log.Warn("route lookup", "host", host, "err", err)
		return &route{err: true}
	}
	r := &route{app: app.Name, status: app.Status, suspended: app.Suspended}
	if app.WorkerID == 0 || app.HostPort == 0 || app.Status != models.AppRunning {
		return r
	}
	w, err := rt.st.GetWorker(ctx, app.WorkerID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			rt.log.Warn("route lookup: worker", "host", host, "err", err)
			return &route{err: true}
		}
		return r
	}
	if w.RevokedAt.IsZero() {
		addr := w.Address
		if addr == "" {
			addr = "127.0.0.1"
		}
		r.upstream = net.JoinHostPort(addr, strconv.Itoa(app.HostPort))
	}
	return r
}

// bufferPool lends the proxy 32 KiB copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *(buffers.Get().(*[]byte)) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
