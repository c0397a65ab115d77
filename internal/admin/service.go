package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/logbus"
	"github.com/wisehosting/wisehosting/internal/logstore"
	"github.com/wisehosting/wisehosting/internal/store"
)

// Session lifetimes: a session ends 12 hours after login, or after an hour
// without a request (an open RPC connection counts as activity).
const (
	DefaultSessionTTL  = 12 * time.Hour
	DefaultIdleTimeout = time.Hour
)

// Deps are what the internal API reads and acts on.
type Deps struct {
	Store    *store.Store
	Box      *auth.SecretBox // opens TOTP secrets
	Hub      *hub.Hub
	Dispatch *dispatch.Dispatcher
	Logs     *logbus.Bus // wakes followed log tails
	// RuntimeLogs holds the apps' runtime logs (app.logs).
	RuntimeLogs *logstore.Store
	Events      *Events
	Logger      *slog.Logger
	// Addr is where Listen binds: a loopback host:port.
	Addr string
	// Version is reported by /status; "" takes it from the build info.
	Version string
	Started time.Time
}

// Service is the internal API: Listen, then Run until the context ends.
type Service struct {
	d   Deps
	log *slog.Logger

	// SessionTTL and IdleTimeout may be changed before Run.
	SessionTTL  time.Duration
	IdleTimeout time.Duration

	userThrottle *auth.Throttle // failed logins per username
	allThrottle  *auth.Throttle // failed logins overall
	handler      http.Handler

	mu sync.Mutex
	ln net.Listener

	// RPC connections: closed by Run on shutdown, which waits for them.
	rpcMu      sync.Mutex
	rpcConns   map[*rpcConn]struct{}
	rpcClosing bool
	rpcWG      sync.WaitGroup
}

// New builds the service; it does not listen yet.
func New(d Deps) *Service {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Events == nil {
		d.Events = NewEvents()
	}
	if d.Started.IsZero() {
		d.Started = time.Now()
	}
	if d.Version == "" {
		d.Version = buildVersion()
	}
	s := &Service{d: d, log: d.Logger, SessionTTL: DefaultSessionTTL, IdleTimeout: DefaultIdleTimeout,
		userThrottle: auth.NewThrottle(5, 15*time.Minute), allThrottle: auth.NewThrottle(50, 15*time.Minute),
		rpcConns: map[*rpcConn]struct{}{}}
	s.handler = s.guard(s.routes())
	return s
}

// Handler is the internal API with its loopback guard (tests serve it).
func (s *Service) Handler() http.Handler { return s.handler }

// CheckBindAddr refuses an address that is not a loopback IP or
// "localhost": the internal API must never listen on a network interface.
func CheckBindAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin: internal listen address %q: %w", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("admin: refusing to bind the internal API to %q: it listens on a loopback address only (127.0.0.1, [::1] or localhost)", addr)
}

// Listen opens the listener on Deps.Addr (once; later calls do nothing),
// refusing anything but a loopback address.
func (s *Service) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	if err := CheckBindAddr(s.d.Addr); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.d.Addr)
	if err != nil {
		return fmt.Errorf("admin: internal API: listen %s: %w (choose another with --internal-listen, or \"off\")", s.d.Addr, err)
	}
	// "localhost" could resolve to something odd; what counts is what was bound.
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("admin: refusing the internal API on %s: not a loopback address", ln.Addr())
	}
	s.ln = ln
	return nil
}

// Close closes the listener (Run closes it itself when it ends); for a
// server that stops before it serves.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Close()
}

// Addr is the bound address ("" before Listen).
func (s *Service) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run serves until ctx ends (calling Listen first if needed), then stops
// accepting, closes the RPC connections and waits for them.
func (s *Service) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("internal API listening (wisehosting-admin)", "addr", ln.Addr().String())

	janitorDone := make(chan struct{})
	go func() {
		defer close(janitorDone)
		s.janitor(ctx)
	}()

	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	s.closeRPC()
	<-janitorDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: internal API: %w", err)
	}
	return nil
}

// janitor prunes stale admin sessions every hour.
func (s *Service) janitor(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if err := s.d.Store.DeleteStaleAdminSessions(ctx, time.Now(), s.IdleTimeout); err != nil && ctx.Err() == nil {
			s.log.Warn("prune admin sessions", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// buildVersion names this build: the module version, or the VCS revision.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	var rev, modified string
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			modified = kv.Value
		}
	}
	if (v == "" || v == "(devel)") && rev != "" {
		v = rev[:min(12, len(rev))]
		if modified == "true" {
			v += "-dirty"
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}
