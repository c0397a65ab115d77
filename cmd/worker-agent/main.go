// Command worker-agent runs on each server that hosts apps: it registers
// with the control plane, keeps a signed WebSocket to it, and builds and
// runs apps with podman.
//
//	worker-agent --control-plane URL --api-key-file FILE --name NAME --data-dir DIR
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wisehosting/wisehosting/internal/worker"
)

// version is set at link time: -ldflags "-X main.version=…".
var version = "dev"

func main() {
	cfg, err := loadConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker-agent:", err)
		os.Exit(2)
	}
	agent, err := worker.NewAgent(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker-agent:", err)
		os.Exit(1)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		cfg.Logger.Info("stopping; apps keep running", "signal", s.String())
		agent.Stop()
	}()
	if err := agent.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "worker-agent:", err)
		os.Exit(1)
	}
}

// fileConfig is the optional --config JSON file; flags and WH_* variables
// override it.
type fileConfig struct {
	ControlPlane  string            `json:"control_plane"`
	APIKeyFile    string            `json:"api_key_file"`
	Name          string            `json:"name"`
	DataDir       string            `json:"data_dir"`
	Address       string            `json:"address"`
	PortRange     string            `json:"port_range"`
	BuildNetwork  string            `json:"build_network"`
	BaseImages    map[string]string `json:"base_images"`
	PodmanRuntime string            `json:"podman_runtime"`
	Ulimits       []string          `json:"ulimits"`
	LogLevel      string            `json:"log_level"`
}

func loadConfig(args []string, getenv func(string) string, stderr io.Writer) (worker.Config, error) {
	var fc fileConfig
	// A first pass finds --config so the file sits under env and flags.
	for i, a := range args {
		path, ok := strings.CutPrefix(a, "--config=")
		if a == "--config" && i+1 < len(args) {
			path, ok = args[i+1], true
		}
		if ok {
			b, err := os.ReadFile(path)
			if err != nil {
				return worker.Config{}, err
			}
			if err := json.Unmarshal(b, &fc); err != nil {
				return worker.Config{}, fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("worker-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.String("config", "", "JSON config file (flags and WH_* variables override it)")
	cp := fs.String("control-plane", env("WH_CONTROL_PLANE", fc.ControlPlane), "control plane URL, https:// (env WH_CONTROL_PLANE)")
	keyFile := fs.String("api-key-file", env("WH_API_KEY_FILE", fc.APIKeyFile), "file holding the worker's API key (or env WH_API_KEY)")
	name := fs.String("name", env("WH_WORKER_NAME", fc.Name), "this worker's name (env WH_WORKER_NAME; default: the hostname)")
	dataDir := fs.String("data-dir", env("WH_DATA_DIR", or(fc.DataDir, "/var/lib/wisehosting-worker")), "state folder (env WH_DATA_DIR)")
	address := fs.String("address", env("WH_WORKER_ADDRESS", or(fc.Address, "127.0.0.1")), "address the control plane reaches apps at (env WH_WORKER_ADDRESS)")
	ports := fs.String("port-range", env("WH_PORT_RANGE", or(fc.PortRange, "20000-29999")), "host ports for apps (env WH_PORT_RANGE)")
	buildNet := fs.String("build-network", env("WH_BUILD_NETWORK", or(fc.BuildNetwork, "wisehosting-build")), "podman network for builds")
	runtime := fs.String("podman-runtime", env("WH_PODMAN_RUNTIME", fc.PodmanRuntime), "podman --runtime (runc, crun); empty: probe one that works")
	images := fs.String("base-images", env("WH_BASE_IMAGES", ""), "FROM images for generated Dockerfiles: go=IMG,node=IMG,python=IMG,static=IMG")
	envDur := func(key string, def time.Duration) time.Duration {
		if d, err := time.ParseDuration(getenv(key)); err == nil {
			return d
		}
		return def // unset; a bad value is reported below
	}
	for _, key := range []string{"WH_HEALTH_TIMEOUT", "WH_DRAIN_DELAY"} {
		if v := getenv(key); v != "" {
			if _, err := time.ParseDuration(v); err != nil {
				return worker.Config{}, fmt.Errorf("%s=%q: want a duration such as 90s", key, v)
			}
		}
	}
	healthTimeout := fs.Duration("health-timeout", envDur("WH_HEALTH_TIMEOUT", 60*time.Second), "how long a new version may take to answer before its deploy fails (env WH_HEALTH_TIMEOUT)")
	drainDelay := fs.Duration("drain-delay", envDur("WH_DRAIN_DELAY", 2*time.Second), "how long the old version keeps running after traffic moved to the new one (env WH_DRAIN_DELAY)")
	buildMem := fs.Int64("build-memory-mib", 2048, "memory cap of each build in MiB (the app's own limit if larger)")
	ulimits := fs.String("ulimits", env("WH_ULIMITS", strings.Join(fc.Ulimits, ",")), "per-app ulimits, e.g. nofile=1024:1024,nproc=4096:4096")
	logLevel := fs.String("log-level", env("WH_LOG_LEVEL", or(fc.LogLevel, "info")), "debug, info, warn, error")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return worker.Config{}, err
	}
	if *showVersion {
		fmt.Println(version)
		return worker.Config{}, flag.ErrHelp
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return worker.Config{}, fmt.Errorf("log level %q", *logLevel)
	}
	cfg := worker.Config{
		ControlPlane: *cp, Name: *name, DataDir: *dataDir, Address: *address, BuildNetwork: *buildNet,
		PodmanRuntime: *runtime, BaseImages: fc.BaseImages, Version: version,
		CloneTimeout: 5 * time.Minute, HealthTimeout: *healthTimeout, DrainDelay: *drainDelay, BuildMemoryBytes: *buildMem << 20,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	cfg.APIKey = getenv("WH_API_KEY")
	if cfg.APIKey == "" && *keyFile != "" {
		b, err := os.ReadFile(*keyFile)
		if err != nil {
			return cfg, fmt.Errorf("api key file: %w", err)
		}
		cfg.APIKey = strings.TrimSpace(string(b))
	}
	if _, err := fmt.Sscanf(*ports, "%d-%d", &cfg.PortLo, &cfg.PortHi); err != nil {
		return cfg, fmt.Errorf("port range %q: want LO-HI", *ports)
	}
	if *images != "" {
		if cfg.BaseImages == nil {
			cfg.BaseImages = map[string]string{}
		}
		for _, kv := range strings.Split(*images, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return cfg, fmt.Errorf("base image %q: want KIND=IMAGE", kv)
			}
			cfg.BaseImages[k] = v
		}
	}
	if *ulimits != "" {
		cfg.Ulimits = strings.Split(*ulimits, ",")
	}
	cfg.Defaults()
	return cfg, cfg.Validate()
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}
