package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wisehosting/wisehosting/internal/auth"
	"github.com/wisehosting/wisehosting/internal/config"
	"github.com/wisehosting/wisehosting/internal/dispatch"
	"github.com/wisehosting/wisehosting/internal/hub"
	"github.com/wisehosting/wisehosting/internal/logbus"
	"github.com/wisehosting/wisehosting/internal/notify"
	"github.com/wisehosting/wisehosting/internal/store"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

// TestLoadBenchServe is not a test: it is the control plane of
// scripts/bench-hub.sh and scripts/bench-api.sh with PROFILE=1, run from a
// test binary so that the benchmark can take profiles of the server while
// cmd/wh-loadsim loads it from another process. It behaves like
// `wisehosting serve --listen 127.0.0.1:0 --data-dir $WH_LOADBENCH_DATA_DIR`
// (same config, same logger format) until SIGTERM or WH_LOADBENCH_MAX
// (default 20m), and:
//
//   - SIGUSR1 starts a CPU profile ($WH_LOADBENCH_PROFILE_DIR/cpu.pprof);
//   - SIGUSR2 stops it and writes heap.pprof and goroutine.pprof there,
//     so the profiles cover exactly the measured window.
//
// With WH_LOADBENCH_HUB_ONLY=1 it serves only the worker hub (the same
// hub.Hub and authenticator over the same store, /metrics and /healthz) with
// a Handler that decodes each verified payload and drops it: the hub's own
// cost under the real mix, without the dispatcher's database work, for
// scripts/bench-hub.sh MODE=hubonly. Workers then connect with their raw
// API keys (there is no register endpoint).
//
// Without WH_LOADBENCH_DATA_DIR it skips.
func TestLoadBenchServe(t *testing.T) {
	dataDir := os.Getenv("WH_LOADBENCH_DATA_DIR")
	if dataDir == "" {
		t.Skip("helper process for scripts/bench-hub.sh and scripts/bench-api.sh (PROFILE=1)")
	}
	profDir := os.Getenv("WH_LOADBENCH_PROFILE_DIR")
	if profDir == "" {
		profDir = dataDir
	}
	maxRun := 20 * time.Minute
	if s := os.Getenv("WH_LOADBENCH_MAX"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		maxRun = min(d, time.Hour)
	}
	cfg, err := config.Load("loadbench", []string{"--listen", "127.0.0.1:0", "--data-dir", dataDir, "--internal-listen", "off"},
		func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, maxRun)
	defer cancel()

	prof := make(chan os.Signal, 2)
	signal.Notify(prof, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(prof)
	go func() {
		var cpu *os.File
		for {
			select {
			case <-ctx.Done():
				if cpu != nil {
					pprof.StopCPUProfile()
					cpu.Close()
				}
				return
			case sig := <-prof:
				switch {
				case sig == syscall.SIGUSR1 && cpu == nil:
					f, err := os.Create(filepath.Join(profDir, "cpu.pprof"))
					if err == nil && pprof.StartCPUProfile(f) == nil {
						cpu = f
					}
				case sig == syscall.SIGUSR2:
					if cpu != nil {
						pprof.StopCPUProfile()
						cpu.Close()
						cpu = nil
					}
					for _, name := range []string{"heap", "goroutine"} {
						if f, err := os.Create(filepath.Join(profDir, name+".pprof")); err == nil {
							if name == "heap" {
								runtime.GC()
							}
							_ = pprof.Lookup(name).WriteTo(f, 0)
							f.Close()
						}
					}
				}
			}
		}
	}()

	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if os.Getenv("WH_LOADBENCH_HUB_ONLY") == "1" {
		if err := serveHubOnly(ctx, cfg, log); err != nil {
			t.Fatal(err)
		}
		return
	}
	s, err := New(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// decodeDropHandler decodes every verified payload into its type (the part
// of the dispatcher's work that needs no database) and drops it.
type decodeDropHandler struct{}

func (decodeDropHandler) WorkerConnected(context.Context, *hub.Conn) {}
func (decodeDropHandler) WorkerDisconnected(context.Context, int64)  {}
func (decodeDropHandler) HandleEnvelope(_ context.Context, _ *hub.Conn, e *wsproto.Envelope) {
	switch e.Type {
	case wsproto.TypeHeartbeat:
		var p wsproto.HeartbeatPayload
		_ = e.Decode(&p)
	case wsproto.TypeRuntimeLog:
		var p wsproto.RuntimeLogPayload
		_ = e.Decode(&p)
	case wsproto.TypeAppStats:
		var p wsproto.AppStatsPayload
		_ = e.Decode(&p)
	}
}

// serveHubOnly is TestLoadBenchServe with WH_LOADBENCH_HUB_ONLY=1.
func serveHubOnly(ctx context.Context, cfg config.Server, log *slog.Logger) error {
	master, err := auth.LoadOrCreateMasterKey(cfg.DataDir, cfg.SecretKey)
	if err != nil {
		return err
	}
	boxKey, err := auth.DeriveKey(master, "secrets v1")
	if err != nil {
		return err
	}
	jwtKey, err := auth.DeriveKey(master, "worker jwt v1")
	if err != nil {
		return err
	}
	box, err := auth.NewSecretBox(boxKey)
	if err != nil {
		return err
	}
	tokens, err := auth.NewWorkerTokens(jwtKey)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseDSN(), log)
	if err != nil {
		return err
	}
	defer st.Close()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	d := dispatch.New(st, nil, box, logbus.New(0, 0), notify.New(), log) // only its authenticator is used
	h := hub.New(hub.Config{}, dispatch.WorkerAuth{D: d, Tokens: tokens}, decodeDropHandler{}, log.With("component", "hub"), hub.NewMetrics(reg))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("GET /v1/workers/ws", h)
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	hubDone := make(chan error, 1)
	hubCtx, stopHub := context.WithCancel(context.WithoutCancel(ctx))
	go func() { hubDone <- h.Run(hubCtx) }()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("control plane listening", "addr", ln.Addr().String(), "mode", "hub only")
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	stopHub()
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutCtx)
	<-hubDone
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
