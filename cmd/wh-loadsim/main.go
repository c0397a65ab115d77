// Command wh-loadsim drives a WiseHosting control plane with load, for the
// benchmarks in docs/BENCHMARKS.md (scripts/bench-hub.sh and
// scripts/bench-api.sh run it). It is a test tool, not part of the product.
//
//	wh-loadsim seed      --db FILE --out DIR [--workers N] [--apps M] [--teams T] [--history]
//	wh-loadsim register  --url URL --workers DIR/workers.tsv --out tokens.tsv [--n N]
//	wh-loadsim hub       --url URL --workers DIR/workers.tsv [--tokens tokens.tsv] [--n N] [--duration D]
//	wh-loadsim api-bench --url URL --dir DIR [--requests R] [--concurrency C]
//
// seed writes a fresh SQLite database directly (the control plane must not
// be running): an instance owner, T users each owning one team, N workers
// with their raw API keys, M apps spread evenly over the teams and assigned
// round-robin to the workers, and API tokens for the owner and for the
// first user (who owns one team of M/T apps).
//
// register calls POST /v1/workers/register for each worker and writes the
// JWTs; hub opens one WebSocket per worker and sends the real message mix
// (heartbeat every 30 s, runtime_log every 3 s ± 10 %, app_stats every
// 10 s) until --duration passes or it gets SIGINT/SIGTERM.
//
// api-bench measures request latency of a few API calls with a bounded
// number of requests and reports p50/p90/p99.
//
// Everything stays on loopback: the URL given must be a 127.0.0.1 or
// localhost address.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: wh-loadsim <seed|register|hub|api-bench> [flags]   (-h for a command's flags)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "wh-loadsim:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command given")
	}
	switch args[0] {
	case "seed":
		return seedCmd(ctx, args[1:])
	case "register":
		return registerCmd(ctx, args[1:])
	case "hub":
		return hubCmd(ctx, args[1:])
	case "api-bench":
		return apiBenchCmd(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(os.Stdout, usage)
		return nil
	}
	fmt.Fprint(os.Stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// loopbackURL refuses anything but a loopback control plane: this tool
// opens thousands of connections and must never point at a real host.
func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Hostname() {
	case "127.0.0.1", "localhost", "::1":
	default:
		return nil, fmt.Errorf("--url %q: only loopback addresses are allowed", raw)
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("--url %q: want http://127.0.0.1:PORT", raw)
	}
	return u, nil
}
