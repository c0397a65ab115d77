package router

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The router benchmark (WH_BENCH_ROUTER=1, see docs/BENCHMARKS.md):
// wrk against a tiny upstream directly, through this router, and through a
// default httputil.ReverseProxy, in one run, three processes (wrk, this
// test, the upstream: this test binary re-executed), so the figures compare
// like with like on a shared machine.

func TestMain(m *testing.M) {
	if addr := os.Getenv("WH_BENCH_UPSTREAM"); addr != "" {
		serveTinyUpstream(addr)
		return
	}
	os.Exit(m.Run())
}

// serveTinyUpstream answers every request with 13 bytes, like a health
// check or a small JSON API.
func serveTinyUpstream(addr string) {
	body := []byte("hello, world\n")
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "13")
		_, _ = w.Write(body)
	})}
	_ = srv.ListenAndServe()
}

type wrkResult struct {
	rps float64
	p50 time.Duration
	p99 time.Duration
	err int
	cpu time.Duration // this process's CPU time per request (the proxy's, for the proxied rows)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var (
	wrkRPS   = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLat   = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)`)
	wrkErrs  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSock  = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	unitMult = map[string]float64{"us": 1e3, "ms": 1e6, "s": 1e9}
)

func runWrk(t *testing.T, url, host string, conns int, d time.Duration) wrkResult {
	t.Helper()
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", "-H", "Host: " + host, url}
	cpu0 := processCPU()
	out, err := exec.Command("wrk", args...).CombinedOutput()
	cpu := processCPU() - cpu0
	if err != nil {
		t.Fatalf("wrk: %v: %s", err, out)
	}
	s := string(out)
	var r wrkResult
	if m := wrkRPS.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range wrkLat.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		lat := time.Duration(v * unitMult[m[3]])
		if m[1] == "50" {
			r.p50 = lat
		} else {
			r.p99 = lat
		}
	}
	if n := r.rps * d.Seconds(); n > 0 {
		r.cpu = time.Duration(float64(cpu) / n)
	}
	if m := wrkErrs.FindStringSubmatch(s); m != nil {
		r.err, _ = strconv.Atoi(m[1])
	}
	if m := wrkSock.FindStringSubmatch(s); m != nil {
		for _, v := range m[1:] {
			n, _ := strconv.Atoi(v)
			r.err += n
		}
	}
	return r
}

func TestRouterThroughput(t *testing.T) {
	if os.Getenv("WH_BENCH_ROUTER") != "1" {
		t.Skip("benchmark: set WH_BENCH_ROUTER=1 (command in docs/BENCHMARKS.md)")
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		t.Fatal("wrk is not installed (apt-get install wrk)")
	}
	upAddr := freeAddr(t)
	up := exec.Command(os.Args[0])
	up.Env = append(os.Environ(), "WH_BENCH_UPSTREAM="+upAddr)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = up.Process.Kill(); _ = up.Wait() }()
	waitListening(t, upAddr)

	f := newFakeStore()
	f.set("web", "running", upAddr)
	rt := New(f, Config{BaseDomain: "apps.test"}, nil)
	api := http.NotFoundHandler()
	ours := serveOn(t, rt.Wrap(api), rt)
	u, _ := url.Parse("http://" + upAddr)
	plain := serveOn(t, httputil.NewSingleHostReverseProxy(u), nil)

	d := 5 * time.Second
	if v := os.Getenv("WH_BENCH_SECONDS"); v != "" {
		n, _ := strconv.Atoi(v)
		d = time.Duration(n) * time.Second
	}
	rounds := 3
	if v, err := strconv.Atoi(os.Getenv("WH_BENCH_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	type row struct {
		name             string
		tput, lat        []wrkResult
		url              string
		host             string
		throughputConns  int
		latencyConns     int
		throughputErrors int
	}
	rows := []*row{
		{name: "direct", url: "http://" + upAddr + "/", host: "web.apps.test"},
		{name: "wisehosting router", url: "http://" + ours + "/", host: "web.apps.test"},
		{name: "httputil.ReverseProxy (defaults)", url: "http://" + plain + "/", host: "web.apps.test"},
	}
	// Interleave the rounds so that machine noise hits every row alike.
	for range rounds {
		for _, r := range rows {
			r.tput = append(r.tput, runWrk(t, r.url, r.host, 64, d))
			r.lat = append(r.lat, runWrk(t, r.url, r.host, 1, d))
		}
	}
	med := func(rs []wrkResult, f func(wrkResult) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		for i := range v {
			for j := i + 1; j < len(v); j++ {
				if v[j] < v[i] {
					v[i], v[j] = v[j], v[i]
				}
			}
		}
		return v[len(v)/2]
	}
	directRPS := med(rows[0].tput, func(r wrkResult) float64 { return r.rps })
	directP50 := med(rows[0].lat, func(r wrkResult) float64 { return float64(r.p50) })
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-34s %12s %10s %14s %14s %16s %12s %8s\n", "", "req/s (64c)", "vs direct", "p50 (1 conn)", "p50 added", "CPU/req (1 conn)", "p99 (64c)", "errors")
	for _, r := range rows {
		rps := med(r.tput, func(x wrkResult) float64 { return x.rps })
		p50 := med(r.lat, func(x wrkResult) float64 { return float64(x.p50) })
		p99 := med(r.tput, func(x wrkResult) float64 { return float64(x.p99) })
		errs := 0
		for _, x := range append(append([]wrkResult{}, r.tput...), r.lat...) {
			errs += x.err
		}
		cpu := med(r.lat, func(x wrkResult) float64 { return float64(x.cpu) })
		fmt.Fprintf(&b, "%-34s %12.0f %9.1f%% %14v %14v %16v %12v %8d\n", r.name, rps, 100*rps/directRPS,
			time.Duration(p50).Round(time.Microsecond), time.Duration(p50-directP50).Round(time.Microsecond),
			time.Duration(cpu).Round(100*time.Nanosecond), time.Duration(p99).Round(time.Microsecond), errs)
	}
	fmt.Fprintf(&b, "(median of %d interleaved rounds of %v each; wrk -t1)\n", rounds, d)
	t.Log(b.String())
	fmt.Println(b.String())
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitListening(t *testing.T, addr string) {
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never listened", addr)
}

// serveOn serves h as the control plane does (the same timeouts; rt, if
// not nil, attached).
func serveOn(t *testing.T, h http.Handler, rt *Router) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second}
	if rt != nil {
		rt.Attach(srv)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		if rt != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = rt.Shutdown(ctx)
		}
	})
	return ln.Addr().String()
}
