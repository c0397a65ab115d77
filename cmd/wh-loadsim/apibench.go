package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// apiCall is one kind of request the benchmark repeats.
type apiCall struct {
	label  string
	method string
	token  string
	// path and body for the i-th request.
	path func(i int) string
	body func(i int) []byte
	want int // expected status
}

type apiResult struct {
	label             string
	n, errs           int
	p50, p90, p99, mx time.Duration
	rps               float64
	bytes             int64 // response body bytes of one request (the last one)
	firstErr          string
}

func apiBenchCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wh-loadsim api-bench", flag.ContinueOnError)
	base := fs.String("url", "", "control plane, http://127.0.0.1:PORT")
	dir := fs.String("dir", "", "the --out directory of seed (tokens, user-apps.txt)")
	requests := fs.Int("requests", 2000, "requests per call (bounded)")
	after := fs.Int("requests-after", 500, "requests per call in the second pass, after the deployments were queued (0 = skip)")
	conc := fs.Int("concurrency", 4, "requests in flight")
	warmup := fs.Int("warmup", 20, "unmeasured requests before each call's measurement")
	calls := fs.String("calls", "healthz,apps,workers,patch,deploy", "calls to measure, in this order (second pass: the same minus workers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := loopbackURL(*base)
	if err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("api-bench: --dir is required")
	}
	if *requests < 1 || *requests > 100000 || *conc < 1 || *conc > 64 {
		return errors.New("api-bench: --requests in [1, 100000], --concurrency in [1, 64]")
	}
	ownerTok, err := readToken(filepath.Join(*dir, fileOwnerToken))
	if err != nil {
		return err
	}
	userTok, err := readToken(filepath.Join(*dir, fileUserToken))
	if err != nil {
		return err
	}
	apps, err := readLines(filepath.Join(*dir, fileUserApps))
	if err != nil {
		return err
	}
	if len(apps) == 0 {
		return errors.New("api-bench: the measuring user has no apps")
	}
	baseURL := u.String()
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}}
	defer client.CloseIdleConnections()

	fixed := func(p string) func(int) string { return func(int) string { return p } }
	appPath := func(suffix string) func(int) string {
		return func(i int) string { return "/v1/apps/" + apps[i%len(apps)] + suffix }
	}
	healthz := apiCall{label: "GET /healthz (HTTP floor)", method: "GET", path: fixed("/healthz"), want: 200}
	listApps := apiCall{label: fmt.Sprintf("GET /v1/apps (user, %d apps)", len(apps)), method: "GET", token: userTok, path: fixed("/v1/apps"), want: 200}
	listWorkers := apiCall{label: "GET /v1/workers (owner, first page: 500 of 10k)", method: "GET", token: ownerTok, path: fixed("/v1/workers"), want: 200}
	patch := apiCall{label: "PATCH /v1/apps/{app}", method: "PATCH", token: userTok, path: appPath(""), want: 200,
		body: func(i int) []byte {
			return fmt.Appendf(nil, `{"health_check_path":"/healthz/%d","limits":{"memory_bytes":%d,"cpu_millis":1000}}`, i, (512+i%2*256)<<20)
		}}
	deploy := apiCall{label: "POST /v1/apps/{app}/deployments", method: "POST", token: userTok, path: appPath("/deployments"), want: 201,
		body: func(i int) []byte { return fmt.Appendf(nil, `{"commit":"%040x"}`, i+1) }}

	byName := map[string]apiCall{"healthz": healthz, "apps": listApps, "workers": listWorkers, "patch": patch, "deploy": deploy}
	var first, second []apiCall
	for _, name := range strings.Split(*calls, ",") {
		c, ok := byName[strings.TrimSpace(name)]
		if !ok {
			return fmt.Errorf("api-bench: unknown call %q (want healthz, apps, workers, patch, deploy)", name)
		}
		first = append(first, c)
		if name != "workers" {
			second = append(second, c)
		}
	}
	fmt.Printf("api-bench: %s, %d requests per call (after %d warm-up), concurrency %d\n", baseURL, *requests, *warmup, *conc)
	var results []apiResult
	for _, c := range first {
		r, err := measure(ctx, client, baseURL, c, *requests, *warmup, *conc)
		if err != nil {
			return err
		}
		printResult(r)
		results = append(results, r)
	}
	if *after > 0 && slices.ContainsFunc(first, func(c apiCall) bool { return c.label == deploy.label }) {
		fmt.Printf("api-bench: second pass, %d requests each, with the %d+ deployments above queued (no worker online)\n", *after, *requests)
		for _, c := range second {
			c.label += " [after]"
			r, err := measure(ctx, client, baseURL, c, *after, 0, *conc)
			if err != nil {
				return err
			}
			printResult(r)
			results = append(results, r)
		}
	}
	for _, r := range results {
		if r.errs > 0 {
			return fmt.Errorf("api-bench: %s: %d of %d requests failed (first: %s)", r.label, r.errs, r.n, r.firstErr)
		}
	}
	return nil
}

func printResult(r apiResult) {
	fmt.Printf("api-bench: %-52s n=%-5d p50 %7.2fms  p90 %7.2fms  p99 %7.2fms  max %7.2fms  %6.0f req/s  %7d B/resp  errors %d\n",
		r.label, r.n, ms(r.p50), ms(r.p90), ms(r.p99), ms(r.mx), r.rps, r.bytes, r.errs)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

// measure runs warmup unmeasured requests, then n measured ones with conc
// in flight.
func measure(ctx context.Context, client *http.Client, base string, c apiCall, n, warmup, conc int) (apiResult, error) {
	var seq atomic.Int64
	lat := make([]time.Duration, n)
	var errs atomic.Int64
	var firstErr atomic.Value
	var lastBytes atomic.Int64
	one := func(i int, record bool) {
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body(i))
		}
		req, err := http.NewRequestWithContext(ctx, c.method, base+c.path(i), body)
		if err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
			return
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		if c.body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		t0 := time.Now()
		resp, err := client.Do(req)
		var nb int64
		if err == nil {
			nb, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		d := time.Since(t0)
		if err == nil && resp.StatusCode != c.want {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if err != nil {
			errs.Add(1)
			firstErr.CompareAndSwap(nil, err.Error())
		}
		if record {
			lat[i] = d
			lastBytes.Store(nb)
		}
	}
	for i := range warmup {
		one(n+i, false)
	}
	errs.Store(0)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(seq.Add(1) - 1)
				if i >= n {
					return
				}
				one(i, true)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if err := ctx.Err(); err != nil {
		return apiResult{}, err
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		k := int(p*float64(n)+0.999999) - 1 // nearest rank
		return lat[min(max(k, 0), n-1)]
	}
	r := apiResult{label: c.label, n: n, errs: int(errs.Load()), p50: pct(0.50), p90: pct(0.90), p99: pct(0.99), mx: lat[n-1],
		rps: float64(n) / el.Seconds(), bytes: lastBytes.Load()}
	if v, ok := firstErr.Load().(string); ok {
		r.firstErr = strings.TrimSpace(v)
	}
	return r, nil
}
