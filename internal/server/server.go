// Package server wires the control plane together and runs it: store,
// secrets, worker hub, dispatcher, API and metrics behind one HTTP server,
// with an orderly shutdown.
package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"

	"github.com/wisehosting/wisehosting/internal/admin"
	"github.com/wisehosting/wisehosting/internal/api"
	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/logbus"
	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/notify"
	"github.com/wisehosting/wisehosting/internal/router"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/web"
	"github.com/wisehosting/wisehosting/internal/webhook"
)

// Server is a running control plane.
type Server struct {
	cfg   config.Server
	log   *slog.Logger
	Store *store.Store
	// RuntimeLogs holds the apps' runtime logs, in <data-dir>/logs.
	RuntimeLogs *logstore.Store
	Hub         *hub.Hub
	Dispatch    *dispatch.Dispatcher
	API         *api.API
	// Webhooks delivers the teams' outbound webhooks.
	Webhooks *webhook.Deliverer
	// Router proxies app hosts to their containers.
	Router *router.Router
	// Admin is the loopback internal API of wisehosting-admin (nil when
	// cfg.InternalListen is off).
	Admin *admin.Service
	// ACMEHTTPClient, when set before Serve, is what the ACME client talks
	// to the certificate authority with (tests trust a local CA with it).
	ACMEHTTPClient *http.Client
	handler        http.Handler
	pruned         *prometheus.CounterVec
	started        time.Time
}

// New opens the store and builds every component; Run serves.
func New(ctx context.Context, cfg config.Server, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("server: data dir: %w", err)
	}
	master, err := auth.LoadOrCreateMasterKey(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	boxKey, err := auth.DeriveKey(master, "secrets v1")
	if err != nil {
		return nil, err
	}
	jwtKey, err := auth.DeriveKey(master, "worker jwt v1")
	if err != nil {
		return nil, err
	}
	box, err := auth.NewSecretBox(boxKey)
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewWorkerTokens(jwtKey)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), log.With("component", "store"))
	if err != nil {
		return nil, err
	}
	// Runtime logs are files on this machine, whichever the database: at
	// 10,000 workers an append costs a write(2), a database row a page.
	logsDir := filepath.Join(cfg.DataDir, "logs")
	if err := importLegacyRuntimeLogs(ctx, st, logsDir, log); err != nil {
		st.Close()
		return nil, err
	}
	rlogs, err := logstore.Open(logsDir, logstore.Options{MaxAge: runtimeLogMaxAge})
	if err != nil {
		st.Close()
		return nil, err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(jobsCollector{st})
	httpLatency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "wisehosting_http_request_duration_seconds",
		Help:    "HTTP request latency by route and status class.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"route", "code"})
	reg.MustRegister(httpLatency)
	pruned := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "wisehosting_history_pruned_total",
		Help: "Rows and build logs the history and audit retention removed, by kind.",
	}, []string{"kind"})
	reg.MustRegister(pruned)

	// Runtime log history is in the log files (durable ids, resumable
	// streams); the bus only wakes live tails and keeps each app's last
	// few lines, so 10,000 chatty apps cost megabytes, not gigabytes.
	logs := logbus.New(4, 10*time.Minute)
	n := notify.New()
	d := dispatch.New(st, rlogs, box, logs, n, log)
	// The admin event stream sees worker connections (through the hub's
	// handler) and the dispatcher's events (next to the webhooks).
	events := admin.NewEvents()
	h := hub.New(hub.Config{}, dispatch.WorkerAuth{D: d, Tokens: tokens}, events.HubHandler(d), log.With("component", "hub"), hub.NewMetrics(reg))
	d.SetHub(h)
	wh := webhook.New(st, box, log.With("component", "webhooks"))
	d.SetEvents(events.Tee(wh))
	a := api.New(api.Deps{Store: st, Box: box, WorkerTokens: tokens, Hub: h, Dispatch: d, Logs: logs, RuntimeLogs: rlogs, Notify: n,
		Logger: log.With("component", "api"), PublicURL: cfg.PublicURL, BaseDomain: cfg.BaseDomain, AppsTLS: cfg.ACME,
		TrustedProxies: cfg.TrustedProxies})

	apiHosts := []string{"127.0.0.1", "::1"}
	if u, err := url.Parse(cfg.PublicURL); err == nil {
		apiHosts = append(apiHosts, u.Hostname())
	}
	rt := router.New(st, router.Config{BaseDomain: cfg.BaseDomain, APIHosts: apiHosts}, log.With("component", "router"))

	s := &Server{cfg: cfg, log: log, Store: st, RuntimeLogs: rlogs, Hub: h, Dispatch: d, API: a, Webhooks: wh, Router: rt,
		pruned: pruned, started: time.Now()}
	if cfg.InternalListen != "" {
		s.Admin = admin.New(admin.Deps{Store: st, Box: box, Hub: h, Dispatch: d, Logs: logs, RuntimeLogs: rlogs, Events: events,
			Logger: log.With("component", "admin"), Addr: cfg.InternalListen, Started: s.started})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", metricsGuard(cfg.MetricsToken, cfg.TrustedProxies, promhttp.HandlerFor(reg, promhttp.HandlerOpts{})))
	mux.Handle("/v1/", a)
	// Everything else on the control plane's own hosts is the dashboard
	// (client routes fall back to its index.html).
	dashboard, err := web.Dashboard()
	if err != nil {
		rlogs.Close()
		st.Close()
		return nil, err
	}
	mux.Handle("/", dashboard)
	// App hosts go straight to the router, ahead of the API's
	// instrumentation: app traffic is the hot path.
	s.handler = rt.Wrap(instrument(mux, httpLatency))
	if s.Admin != nil {
		// Bound now, last, so a port in use fails the start with its own
		// error (wisehosting dev talks to the server before Serve could).
		if err := s.Admin.Listen(); err != nil {
			rlogs.Close()
			st.Close()
			return nil, err
		}
	}
	return s, nil
}

// Handler is the server's whole HTTP surface (tests serve it with httptest).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.Store.Ping(ctx); err != nil {
		s.log.Warn("not ready: database", "err", err)
		http.Error(w, "database unavailable\n", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write([]byte("ready\n"))
}

// Run serves on cfg.Listen until ctx is done, then shuts down in order:
// stop accepting, close worker sockets and streams, stop the dispatcher
// (its ingest writer flushes what it accepted), close the log files and
// the database.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("server: listen %s: %w", s.cfg.Listen, err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	defer s.Store.Close()
	defer s.RuntimeLogs.Close() // after every goroutine below has returned
	if s.Admin != nil {
		if err := s.Admin.Listen(); err != nil { // bound by New; a no-op then
			_ = ln.Close()
			return err
		}
		defer s.Admin.Close() // if Serve returns before the internal API runs
	}
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second, // live streams lift it per response
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	var tlsSrv *http.Server
	if s.cfg.ACME {
		m := s.acmeManager()
		// The plain listener answers the HTTP-01 challenges and serves
		// everything else as before.
		srv.Handler = m.HTTPHandler(s.handler)
		tlsSrv = &http.Server{Handler: s.handler, TLSConfig: m.TLSConfig(), ReadHeaderTimeout: srv.ReadHeaderTimeout,
			ReadTimeout: srv.ReadTimeout, WriteTimeout: srv.WriteTimeout, IdleTimeout: srv.IdleTimeout,
			MaxHeaderBytes: srv.MaxHeaderBytes, BaseContext: srv.BaseContext, ErrorLog: srv.ErrorLog}
		tln, err := net.Listen("tcp", s.cfg.HTTPSListen)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("server: listen %s: %w", s.cfg.HTTPSListen, err)
		}
		go func() { errc <- tlsSrv.ServeTLS(tln, "", "") }()
		s.log.Info("automatic TLS on", "addr", tln.Addr().String(), "base_domain", s.cfg.BaseDomain)
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(bg); err != nil {
				s.log.Error(name+" stopped", "err", err)
			}
		}()
	}
	run("hub", s.Hub.Run)
	run("dispatcher", s.Dispatch.Run)
	run("janitor", s.janitor)
	run("stats flusher", s.flushStats)
	run("webhooks", s.Webhooks.Run)
	if s.Admin != nil {
		run("internal API", s.Admin.Run)
	}

	s.Router.Attach(srv) // its final handler: the router may serve srv's keep-alive connections itself
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("control plane listening", "addr", ln.Addr().String(), "public_url", s.cfg.PublicURL, "database", s.Store.Dialect())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	s.log.Info("shutting down")
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	stop() // hub closes worker sockets; dispatcher and janitor return
	if err := srv.Shutdown(shutCtx); err != nil {
		s.log.Warn("http shutdown", "err", err)
	}
	if tlsSrv != nil {
		if err := tlsSrv.Shutdown(shutCtx); err != nil {
			s.log.Warn("https shutdown", "err", err)
		}
	}
	if err := s.Router.Shutdown(shutCtx); err != nil {
		s.log.Warn("router shutdown", "err", err)
	}
	wg.Wait()
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// acmeManager obtains and renews certificates for the hosts that route to
// an app (and the public URL's host), kept in <data-dir>/acme.
func (s *Server) acmeManager() *autocert.Manager {
	publicHost := ""
	if u, err := url.Parse(s.cfg.PublicURL); err == nil {
		publicHost = u.Hostname()
	}
	m := &autocert.Manager{
		Prompt: autocert.AcceptTOS,
		Email:  s.cfg.ACMEEmail,
		Cache:  autocert.DirCache(filepath.Join(s.cfg.DataDir, "acme")),
		HostPolicy: func(ctx context.Context, host string) error {
			if host == publicHost && net.ParseIP(host) == nil {
				return nil
			}
			return s.Router.HostPolicy(ctx, host)
		},
	}
	if s.cfg.ACMEDirectory != "" || s.ACMEHTTPClient != nil {
		m.Client = &acme.Client{DirectoryURL: s.cfg.ACMEDirectory, HTTPClient: s.ACMEHTTPClient}
	}
	return m
}

// flushStats writes buffered app stats samples once they are due, also
// when no new sample comes to trigger it (see store.InsertAppStats), and
// all of them on shutdown.
func (s *Server) flushStats(ctx context.Context) error {
	t := time.NewTicker(10 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return s.Store.FlushAppStats(context.WithoutCancel(ctx))
		case <-t.C:
			if err := s.Store.FlushDueAppStats(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("write app stats", "err", err)
			}
		}
	}
}

// janitor prunes expired sessions and old logs and stats every hour.
func (s *Server) janitor(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		now := time.Now()
		if err := s.Store.DeleteExpiredSessions(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Warn("prune sessions", "err", err)
		}
		if err := s.pruneRuntimeLogs(ctx, now); err != nil && ctx.Err() == nil {
			s.log.Warn("prune runtime logs", "err", err)
		}
		if err := s.Store.PruneAppStats(ctx, now.Add(-8*24*time.Hour)); err != nil && ctx.Err() == nil {
			s.log.Warn("prune stats", "err", err)
		}
		s.pruneHistory(ctx, now)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// pruneHistory applies the history and audit retention.
func (s *Server) pruneHistory(ctx context.Context, now time.Time) {
	start := time.Now()
	p, err := s.Store.PruneHistory(ctx, now, store.Retention{History: s.cfg.HistoryRetention, Audit: s.cfg.AuditRetention})
	if err != nil && ctx.Err() == nil {
		s.log.Warn("prune history", "err", err)
	}
	for kind, n := range map[string]int64{"jobs": p.Jobs, "webhook_deliveries": p.Deliveries, "violations": p.Violations,
		"build_logs": p.BuildLogs, "audit": p.Audit, "admin_audit": p.AdminAudit} {
		s.pruned.WithLabelValues(kind).Add(float64(n))
	}
	if p.Total() > 0 {
		s.log.Info("history pruned", "jobs", p.Jobs, "webhook_deliveries", p.Deliveries, "violations", p.Violations,
			"build_logs", p.BuildLogs, "audit", p.Audit, "admin_audit", p.AdminAudit, "took", time.Since(start).Round(time.Millisecond))
	}
}

// importLegacyRuntimeLogs copies the runtime logs an earlier build kept in
// the database into the log files, once, before anything else writes
// them, then drops their table. Lines get new ids (their offsets in the
// files); a client resuming with an old id gets the last lines again (see
// logstore.Store.List).
func importLegacyRuntimeLogs(ctx context.Context, st *store.Store, dir string, log *slog.Logger) error {
	has, err := st.HasLegacyRuntimeLogs(ctx)
	if err != nil || !has {
		return err
	}
	// Files here can only be from an import cut short: start over.
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("server: import runtime logs: %w", err)
	}
	ls, err := logstore.Open(dir, logstore.Options{})
	if err != nil {
		return err
	}
	start, n := time.Now(), 0
	err = st.ExportLegacyRuntimeLogs(ctx, func(appID string, lines []store.LegacyRuntimeLogLine) error {
		out := make([]logstore.Line, len(lines))
		for i, l := range lines {
			out[i] = logstore.Line{Stream: l.Stream, At: l.At, Msg: l.Msg}
		}
		n += len(out)
		err := ls.Append(appID, out)
		if errors.Is(err, logstore.ErrBadAppID) {
			log.Warn("runtime logs not imported: unexpected app id", "app_id", appID)
			return nil
		}
		return err
	})
	if cerr := ls.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("server: import runtime logs: %w", err)
	}
	if err := st.DropLegacyRuntimeLogs(ctx); err != nil {
		return err
	}
	if n > 0 {
		log.Info("runtime logs moved from the database to files", "lines", n, "dir", dir, "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// runtimeLogMaxAge is how long runtime log lines are kept (each app's log
// is also capped in size: logstore.DefaultMaxAppBytes).
const runtimeLogMaxAge = 7 * 24 * time.Hour

// pruneRuntimeLogs applies the runtime logs' retention, and removes the
// logs of apps the database no longer has (a team deleted with its apps,
// a crash between deleting an app and its logs).
func (s *Server) pruneRuntimeLogs(ctx context.Context, now time.Time) error {
	ids, err := s.RuntimeLogs.Apps()
	if err != nil {
		return err
	}
	exist, err := s.Store.AppPlacements(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := exist[id]; !ok {
			if err := s.RuntimeLogs.Delete(id); err != nil {
				return err
			}
		}
	}
	return s.RuntimeLogs.Prune(now)
}

// instrument records request latency by route pattern (never by raw path,
// which would explode the label set).
func instrument(next http.Handler, h *prometheus.HistogramVec) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		h.WithLabelValues(route, fmt.Sprintf("%dxx", rec.code/100)).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Flush and the deadlines.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Hijack serves the WebSocket upgrade, which asserts http.Hijacker directly.
func (r *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.code = http.StatusSwitchingProtocols
	return http.NewResponseController(r.ResponseWriter).Hijack()
}

// jobsCollector reports jobs by state at scrape time.
type jobsCollector struct{ st *store.Store }

var jobsDesc = prometheus.NewDesc("wisehosting_jobs", "Jobs by state (finished ones until the history retention prunes them).", []string{"state"}, nil)

func (c jobsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- jobsDesc }

func (c jobsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.st.CountJobsByState(ctx)
	if err != nil {
		return
	}
	for _, state := range []string{store.JobPending, store.JobSent, store.JobAcked, store.JobDone, store.JobFailed} {
		ch <- prometheus.MustNewConstMetric(jobsDesc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}
