// Command wh-idlebench measures the idle cost of the worker agent: CPU used
// by the agent and the podman processes it starts, with N running apps,
// for each runtime log design in the same run, and the latency of a
// runtime log line from the app's write (conmon's timestamp) to an
// in-process fake control plane.
//
//	go run ./cmd/wh-idlebench -apps 50 -duration 5m
//
// It needs root, podman and busybox-static; it creates N containers
// labelled whidlebench=1 (plus the pipeline's wisehosting.* labels) from
// localhost/busybox-mon:latest (imported from /bin/busybox if missing) and
// removes them at the end.
//
// Each design runs the real agent (worker.NewAgent + Start, every loop:
// heartbeats, health checks, app stats, runtime logs) in a child process
// against a fake control plane that answers registration and accepts the
// signed WebSocket. CPU is read from /proc/<child>/stat: utime+stime of
// the agent, cutime+cstime of the podman processes it started and reaped.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wisehosting/wisehosting/internal/worker"
	"github.com/wisehosting/wisehosting/internal/wsproto"
)

const (
	benchLabel = "whidlebench"
	probeApp   = "bench-probe"
	apiKey     = "idlebench-key-0123456789abcdef0123456789abcdef"
	clkTck     = 100 // USER_HZ on Linux
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "agent-child" {
		if err := agentChild(); err != nil {
			fmt.Fprintln(os.Stderr, "agent-child:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "wh-idlebench:", err)
		os.Exit(1)
	}
}

// agentChild runs the real agent with the production intervals; the design
// comes from WH_RUNTIME_LOGS. Its runner is ExecRunner's twin that also
// accounts every command's CPU (written to WH_BENCH_COUNTS on SIGUSR1).
func agentChild() error {
	cr := &countingRunner{calls: map[string]*callStat{}}
	cfg := worker.Config{
		ControlPlane: os.Getenv("WH_CONTROL_PLANE"), APIKey: os.Getenv("WH_API_KEY"), Name: "idlebench",
		DataDir: os.Getenv("WH_DATA_DIR"), PodmanRuntime: "runc", Version: "idlebench", Runner: cr,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})),
	}
	a, err := worker.NewAgent(cfg)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt, syscall.SIGUSR1)
	go func() {
		for s := range sigs {
			if s == syscall.SIGUSR1 {
				cr.dump(os.Getenv("WH_BENCH_COUNTS"))
				continue
			}
			a.Stop()
			return
		}
	}()
	return a.Start()
}

type callStat struct {
	N   int           `json:"n"`
	CPU time.Duration `json:"cpu"`
}

// countingRunner runs commands like worker.ExecRunner (no shell, minimal
// environment, CommandError on failure) and sums their CPU by command.
type countingRunner struct {
	mu    sync.Mutex
	calls map[string]*callStat
}

func (r *countingRunner) cmd(ctx context.Context, argv []string) *exec.Cmd {
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=/root", "LC_ALL=C"}
	c.WaitDelay = 5 * time.Second
	return c
}

func (r *countingRunner) account(argv []string, c *exec.Cmd) {
	key := argv[0]
	if len(argv) > 1 {
		key += " " + argv[1]
	}
	if len(argv) > 2 && (argv[1] == "container" || argv[1] == "image" || argv[1] == "ps") {
		key += " " + argv[2]
	}
	var cpu time.Duration
	if c.ProcessState != nil {
		cpu = c.ProcessState.UserTime() + c.ProcessState.SystemTime()
	}
	r.mu.Lock()
	st := r.calls[key]
	if st == nil {
		st = &callStat{}
		r.calls[key] = st
	}
	st.N++
	st.CPU += cpu
	r.mu.Unlock()
}

func (r *countingRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	c := r.cmd(ctx, argv)
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	r.account(argv, c)
	if err != nil {
		code := -1
		if c.ProcessState != nil {
			code = c.ProcessState.ExitCode()
		}
		return stdout.Bytes(), &worker.CommandError{Argv: argv, ExitCode: code, Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

func (r *countingRunner) Stream(ctx context.Context, w io.Writer, argv ...string) error {
	c := r.cmd(ctx, argv)
	var tail bytes.Buffer
	out := io.MultiWriter(w, &tail)
	c.Stdout, c.Stderr = out, out
	err := c.Run()
	r.account(argv, c)
	if err != nil {
		code := -1
		if c.ProcessState != nil {
			code = c.ProcessState.ExitCode()
		}
		return &worker.CommandError{Argv: argv, ExitCode: code, Stderr: tail.String(), Err: err}
	}
	return nil
}

func (r *countingRunner) dump(path string) {
	if path == "" {
		return
	}
	r.mu.Lock()
	b, _ := json.Marshal(r.calls)
	r.mu.Unlock()
	os.WriteFile(path+".tmp", b, 0o600)
	os.Rename(path+".tmp", path)
}

// readCounts asks the agent for its command counts.
func readCounts(pid int, path string) map[string]callStat {
	os.Remove(path)
	syscall.Kill(pid, syscall.SIGUSR1)
	for i := 0; i < 100; i++ {
		if b, err := os.ReadFile(path); err == nil {
			var m map[string]callStat
			if json.Unmarshal(b, &m) == nil {
				return m
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

type result struct {
	design              string
	window              time.Duration
	agentCPU, childCPU  time.Duration
	lines, msgs         int
	p50, p90, p99, pmax time.Duration
	heartbeats, stats   int
	probeLines          int
	calls               map[string]callStat // podman calls in the window
}

func (r result) pct(d time.Duration) float64 { return 100 * d.Seconds() / r.window.Seconds() }

func run() error {
	apps := flag.Int("apps", 50, "running apps (one of them writes a log line every -probe-every)")
	duration := flag.Duration("duration", 5*time.Minute, "measuring window per design")
	warmup := flag.Duration("warmup", 20*time.Second, "before the window: the agent registers, re-attaches and catches up")
	designs := flag.String("designs", worker.LogModeFiles+","+worker.LogModePodmanLogs, "runtime log designs, in order")
	probeEvery := flag.Duration("probe-every", 2*time.Second, "how often the probe app writes a line")
	image := flag.String("image", "localhost/busybox-mon:latest", "busybox image (imported from /bin/busybox if missing)")
	follow := flag.Duration("follow", 0, "also measure N long-lived `podman logs -f` processes for this long (0: skip)")
	keep := flag.Bool("keep", false, "leave the containers running")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := ensureImage(*image); err != nil {
		return err
	}
	cleanup()
	if !*keep {
		defer cleanup()
	}
	fmt.Fprintf(os.Stderr, "starting %d containers...\n", *apps)
	if err := startApps(*apps, *image, *probeEvery); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var results []result
	for _, d := range strings.Split(*designs, ",") {
		r, err := measure(ctx, self, strings.TrimSpace(d), *warmup, *duration)
		if err != nil {
			return fmt.Errorf("%s: %w", d, err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "%s: agent %.2f%% + podman %.2f%% of a core; p50 %v\n", r.design, r.pct(r.agentCPU), r.pct(r.childCPU), r.p50)
	}
	var followLine string
	if *follow > 0 {
		followLine, err = measureFollow(ctx, *follow)
		if err != nil {
			return err
		}
	}
	printReport(os.Stdout, *apps, *duration, *probeEvery, results, followLine)
	return nil
}

func podman(args ...string) ([]byte, error) {
	cmd := exec.Command("podman", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("podman %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// ensureImage imports a busybox image from the host's static busybox.
func ensureImage(image string) error {
	if _, err := podman("image", "exists", image); err == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "bbm")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "bin")
	os.MkdirAll(bin, 0o755)
	b, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("busybox-static is needed: %w", err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), b, 0o755); err != nil {
		return err
	}
	for _, c := range []string{"sh", "httpd", "echo", "cat", "sleep", "yes", "head", "date"} {
		os.Symlink("busybox", filepath.Join(bin, c))
	}
	tar := exec.Command("tar", "-C", dir, "-c", ".")
	imp := exec.Command("podman", "import", "-", image)
	pipe, _ := tar.StdoutPipe()
	imp.Stdin = pipe
	if err := tar.Start(); err != nil {
		return err
	}
	if out, err := imp.CombinedOutput(); err != nil {
		return fmt.Errorf("podman import: %v: %s", err, out)
	}
	return tar.Wait()
}

func cleanup() {
	out, _ := podman("ps", "-aq", "--filter", "label="+benchLabel+"=1")
	ids := strings.Fields(string(out))
	if len(ids) > 0 {
		podman(append([]string{"rm", "-f", "-t", "0"}, ids...)...)
	}
}

// startApps starts n idle web apps labelled like the pipeline's (the
// first one is the probe, which writes a line every probeEvery).
func startApps(n int, image string, probeEvery time.Duration) error {
	sem := make(chan struct{}, 4)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			app, cmdline := fmt.Sprintf("bench-%02d", i), []string{"httpd", "-f", "-p", "8080", "-h", "/"}
			if i == 0 {
				app = probeApp
				cmdline = []string{"sh", "-c", fmt.Sprintf("i=0; while true; do i=$((i+1)); echo probe line $i; sleep %g; done", probeEvery.Seconds())}
			}
			args := []string{"--runtime", "runc", "run", "-d", "--name", "whidle-" + app,
				"--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--memory", "16m",
				"--label", benchLabel + "=1", "--label", worker.LabelManaged + "=true",
				"--label", worker.LabelAppID + "=" + app, "--label", worker.LabelApp + "=" + app,
				"--label", worker.LabelDeployment + "=dep-" + app, "--label", worker.LabelHostPort + "=" + strconv.Itoa(29000+i),
				image}
			if _, err := podman(append(args, cmdline...)...); err != nil {
				errs <- err
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// sink is the fake control plane: registration, token refresh and the
// signed WebSocket; it records runtime log lines as they arrive.
type sink struct {
	mu         sync.Mutex
	measuring  bool
	latencies  []time.Duration
	lines      int
	msgs       int
	probe      int
	heartbeats int
	stats      int
	connected  chan struct{}
	firstProbe chan struct{}
	once       sync.Once
	onceProbe  sync.Once
}

func (s *sink) handler() http.Handler {
	mux := http.NewServeMux()
	token := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(wsproto.RegisterResponse{WorkerID: 1, Token: "bench-jwt", TokenExpiresAt: time.Now().Add(24 * time.Hour)})
	}
	mux.HandleFunc("POST /v1/workers/register", token)
	mux.HandleFunc("POST /v1/workers/refresh-token", token)
	up := websocket.Upgrader{ReadBufferSize: 64 << 10, WriteBufferSize: 4096}
	mux.HandleFunc("GET /v1/workers/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		c.SetReadLimit(wsproto.MaxMessageBytes)
		s.once.Do(func() { close(s.connected) })
		recv := wsproto.NewReceiver(wsproto.KeyFromAPIKey(apiKey))
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			now := time.Now()
			e, err := recv.Open(data)
			if err != nil {
				fmt.Fprintln(os.Stderr, "sink: dropped a message:", err)
				continue
			}
			s.record(e, now)
		}
	})
	return mux
}

func (s *sink) record(e *wsproto.Envelope, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch e.Type {
	case wsproto.TypeRuntimeLog:
		var p wsproto.RuntimeLogPayload
		if err := e.Decode(&p); err != nil {
			return
		}
		for _, l := range p.Lines {
			if l.AppID == probeApp {
				s.onceProbe.Do(func() { close(s.firstProbe) })
			}
		}
		if !s.measuring {
			return
		}
		s.msgs++
		s.lines += len(p.Lines)
		for _, l := range p.Lines {
			if l.AppID == probeApp {
				s.probe++
				s.latencies = append(s.latencies, now.Sub(l.At))
			}
		}
	case wsproto.TypeHeartbeat:
		if s.measuring {
			s.heartbeats++
		}
	case wsproto.TypeAppStats:
		if s.measuring {
			s.stats++
		}
	}
}

// cpuTimes reads utime+stime and cutime+cstime of a process.
func cpuTimes(pid int) (self, children time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces: fields start after the last ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// f[0] is field 3 (state): utime is field 14, so f[11].
	num := func(i int) int64 { n, _ := strconv.ParseInt(f[i], 10, 64); return n }
	tick := time.Second / clkTck
	return time.Duration(num(11)+num(12)) * tick, time.Duration(num(13)+num(14)) * tick, nil
}

func measure(ctx context.Context, self, design string, warmup, window time.Duration) (result, error) {
	r := result{design: design, window: window}
	s := &sink{connected: make(chan struct{}), firstProbe: make(chan struct{})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, err
	}
	srv := &http.Server{Handler: s.handler()}
	go srv.Serve(ln)
	defer srv.Close()

	dataDir, err := os.MkdirTemp("", "whidle-agent")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dataDir)
	logf, err := os.Create(filepath.Join(os.TempDir(), "whidle-agent-"+design+".log"))
	if err != nil {
		return r, err
	}
	defer logf.Close()
	cmd := exec.Command(self, "agent-child")
	countsPath := filepath.Join(dataDir, "counts.json")
	cmd.Env = append(os.Environ(), "WH_CONTROL_PLANE=http://"+ln.Addr().String(), "WH_API_KEY="+apiKey,
		"WH_DATA_DIR="+dataDir, worker.RuntimeLogModeEnv+"="+design, "WH_BENCH_COUNTS="+countsPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return r, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()
	wait := func(what string, ch <-chan struct{}, d time.Duration) error {
		select {
		case <-ch:
			return nil
		case err := <-exited:
			return fmt.Errorf("agent exited (%v) before %s; see %s", err, what, logf.Name())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return fmt.Errorf("no %s within %v; see %s", what, d, logf.Name())
		}
	}
	if err := wait("connection", s.connected, 30*time.Second); err != nil {
		return r, err
	}
	if err := wait("probe line", s.firstProbe, 30*time.Second); err != nil {
		return r, err
	}
	select {
	case <-time.After(warmup):
	case <-ctx.Done():
		return r, ctx.Err()
	}
	s.mu.Lock()
	s.measuring = true
	s.mu.Unlock()
	n0 := readCounts(cmd.Process.Pid, countsPath)
	a0, c0, err := cpuTimes(cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	start := time.Now()
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return r, ctx.Err()
	case err := <-exited:
		return r, fmt.Errorf("agent exited: %v", err)
	}
	a1, c1, err := cpuTimes(cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	r.window = time.Since(start)
	n1 := readCounts(cmd.Process.Pid, countsPath)
	r.calls = map[string]callStat{}
	for k, v := range n1 {
		if d := (callStat{N: v.N - n0[k].N, CPU: v.CPU - n0[k].CPU}); d.N > 0 {
			r.calls[k] = d
		}
	}
	s.mu.Lock()
	s.measuring = false
	lat := slices.Clone(s.latencies)
	r.lines, r.msgs, r.probeLines, r.heartbeats, r.stats = s.lines, s.msgs, s.probe, s.heartbeats, s.stats
	s.mu.Unlock()
	r.agentCPU, r.childCPU = a1-a0, c1-c0
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	r.p50, r.p90, r.p99, r.pmax = q(0.50), q(0.90), q(0.99), q(1)
	return r, nil
}

// measureFollow measures the third design the issue names: one
// long-lived `podman logs -f` per container (never adopted: this shows
// why).
func measureFollow(ctx context.Context, window time.Duration) (string, error) {
	out, err := podman("ps", "-q", "--no-trunc", "--filter", "label="+benchLabel+"=1")
	if err != nil {
		return "", err
	}
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			c.Process.Kill()
			c.Wait()
		}
	}()
	for _, id := range strings.Fields(string(out)) {
		c := exec.Command("podman", "logs", "-f", "--timestamps", "--since", time.Now().Format(time.RFC3339), id)
		c.Stdout, c.Stderr = io.Discard, io.Discard
		if err := c.Start(); err != nil {
			return "", err
		}
		cmds = append(cmds, c)
	}
	time.Sleep(10 * time.Second) // past their start-up
	sum := func() (time.Duration, int64) {
		var cpu time.Duration
		var rss int64
		for _, c := range cmds {
			s, _, _ := cpuTimes(c.Process.Pid)
			cpu += s
			rss += rssOf(c.Process.Pid)
		}
		return cpu, rss
	}
	c0, _ := sum()
	start := time.Now()
	select {
	case <-time.After(window):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	c1, rss := sum()
	w := time.Since(start)
	return fmt.Sprintf("| `podman logs -f`, one per container (%d processes, measured alone for %v) | %.2f %% | — | %.2f %% | resident memory %d MiB in all |",
		len(cmds), w.Round(time.Second), 100*(c1-c0).Seconds()/w.Seconds(), 100*(c1-c0).Seconds()/w.Seconds(), rss>>20), nil
}

func rssOf(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return n << 10
		}
	}
	return 0
}

func printReport(w io.Writer, apps int, window, probeEvery time.Duration, rs []result, follow string) {
	host, _ := os.Hostname()
	out, _ := exec.Command("podman", "--version").Output()
	fmt.Fprintf(w, "%d running apps (busybox httpd, --memory 16m; one writes a line every %v), %v window per design after a warm-up, "+
		"%s, %d CPUs, %s, host %s.\n\n", apps, probeEvery, window, runtime.Version(), runtime.NumCPU(), strings.TrimSpace(string(out)), host)
	fmt.Fprintln(w, "| design | agent CPU | podman children CPU | total, % of one core | log line → control plane p50 / p90 / p99 / max (lines) |")
	fmt.Fprintln(w, "|---|---|---|---|---|")
	for _, r := range rs {
		fmt.Fprintf(w, "| `%s` | %.2f %% (%v) | %.2f %% (%v) | **%.2f %%** | **%v** / %v / %v / %v (%d) |\n", r.design,
			r.pct(r.agentCPU), r.agentCPU, r.pct(r.childCPU), r.childCPU, r.pct(r.agentCPU+r.childCPU),
			r.p50.Round(time.Millisecond), r.p90.Round(time.Millisecond), r.p99.Round(time.Millisecond), r.pmax.Round(time.Millisecond), r.probeLines)
	}
	if follow != "" {
		fmt.Fprintln(w, follow)
	}
	fmt.Fprintln(w)
	for _, r := range rs {
		keys := make([]string, 0, len(r.calls))
		for k := range r.calls {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b string) int { return int(r.calls[b].CPU - r.calls[a].CPU) })
		var calls []string
		for _, k := range keys {
			c := r.calls[k]
			calls = append(calls, fmt.Sprintf("`%s` ×%d (%v CPU, %v each)", k, c.N, c.CPU.Round(time.Millisecond), (c.CPU/time.Duration(c.N)).Round(time.Millisecond)))
		}
		fmt.Fprintf(w, "- `%s`: %d runtime_log messages (%d lines), %d heartbeats, %d app_stats messages; commands run: %s.\n",
			r.design, r.msgs, r.lines, r.heartbeats, r.stats, strings.Join(calls, ", "))
	}
}
