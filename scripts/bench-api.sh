#!/usr/bin/env bash
# API latency benchmark: a control plane (SQLite, temp data dir) whose store
# holds 10,000 workers and 50,000 apps (1,000 users, one team each, 50 apps
# per team, every app placed on a worker and with one finished deployment),
# measured with a bounded number of requests per call (cmd/wh-loadsim
# api-bench): GET /healthz (the HTTP floor, same run), GET /v1/apps (the
# measuring user's 50 apps), GET /v1/workers (the owner, all 10,000 rows),
# PATCH /v1/apps/{app}, POST /v1/apps/{app}/deployments; then a second pass
# of the cheap calls with the queued deployments in the store. No worker is
# connected, so the queued deployments stay pending.
#
#   scripts/bench-api.sh
#
# Environment:
#   REQUESTS=2000 CONCURRENCY=4 AFTER=500   requests per call, in flight, second pass
#   WORKERS=10000 APPS=50000 TEAMS=1000     store size
#   PROFILE=1   run the server from internal/server's test binary and print a
#               CPU profile of the whole measurement (explains, not reports)
#   KEEP=1      keep the temp dir
#
# Everything listens on 127.0.0.1 only; every process started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

REQUESTS=${REQUESTS:-2000}
CONCURRENCY=${CONCURRENCY:-4}
AFTER=${AFTER:-500}
WORKERS=${WORKERS:-10000}
APPS=${APPS:-50000}
TEAMS=${TEAMS:-1000}

work=$(mktemp -d /tmp/wh-bench-api.XXXXXX)
server_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  [ -n "$server_pid" ] && wait "$server_pid" 2>/dev/null || true
  if [ "${KEEP:-}" = 1 ]; then echo "bench-api: kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

clk=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
now() { date +%s.%N; }

echo "bench-api: building"
go build -o "$work/wisehosting" ./cmd/wisehosting
go build -o "$work/wh-loadsim" ./cmd/wh-loadsim
if [ "${PROFILE:-}" = 1 ]; then go test -c -o "$work/server.test" ./internal/server; fi

mkdir -p "$work/data"
"$work/wh-loadsim" seed --db "$work/data/wisehosting.db" --out "$work" --workers "$WORKERS" --apps "$APPS" \
  --teams "$TEAMS" --history
echo "bench-api: store: $(cat "$work/seed-info.txt"), $(du -h "$work/data/wisehosting.db" | cut -f1) on disk"

if [ "${PROFILE:-}" = 1 ]; then
  WH_LOADBENCH_DATA_DIR="$work/data" WH_LOADBENCH_PROFILE_DIR="$work" WH_LOADBENCH_MAX=30m \
    "$work/server.test" -test.run '^TestLoadBenchServe$' -test.count=1 > "$work/server.log" 2>&1 &
else
  "$work/wisehosting" serve --listen 127.0.0.1:0 --data-dir "$work/data" > "$work/server.log" 2>&1 &
fi
server_pid=$!
addr=""
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.*msg="control plane listening" addr=\([^ ]*\).*/\1/p' "$work/server.log" | head -n1)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
case "$addr" in 127.0.0.1:*) ;; *) echo "bench-api: server did not start on loopback" >&2; cat "$work/server.log" >&2; exit 1 ;; esac
base="http://$addr"
echo "bench-api: server pid $server_pid on $base"
sleep 1

# Reference, same run: one request at a time, so the figure is the cost of
# one GET /v1/workers without queueing behind the others.
"$work/wh-loadsim" api-bench --url "$base" --dir "$work" --calls healthz,workers --requests 200 --concurrency 1 \
  --requests-after 0 | sed 's/^api-bench:/api-bench (concurrency 1):/' | tee "$work/api-bench-c1.txt"

if [ "${PROFILE:-}" = 1 ]; then kill -USR1 "$server_pid"; fi
t0=$(now); c0=$(cpu_ticks "$server_pid")
"$work/wh-loadsim" api-bench --url "$base" --dir "$work" --requests "$REQUESTS" --concurrency "$CONCURRENCY" \
  --requests-after "$AFTER" | tee "$work/api-bench.txt"
t1=$(now); c1=$(cpu_ticks "$server_pid")
if [ "${PROFILE:-}" = 1 ]; then
  kill -USR2 "$server_pid"
  for _ in $(seq 1 100); do [ -s "$work/goroutine.pprof" ] && break; sleep 0.2; done
fi

# What the server does on its own afterwards, with the deployments queued
# and no worker online.
sleep 2
i0=$(now); ic0=$(cpu_ticks "$server_pid")
sleep 10
i1=$(now); ic1=$(cpu_ticks "$server_pid")
pending=$(curl -sf --max-time 30 "$base/metrics" | awk '$1 == "wisehosting_jobs{state=\"pending\"}" {print $2}')
rss=$(rss_kb "$server_pid")
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""

echo
echo "== bench-api results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores) =="
echo "server CPU during the benchmark   $(echo "scale=1; ($c1 - $c0) * 100 / $clk / ($t1 - $t0)" | bc) % of one core over $(echo "scale=1; ($t1 - $t0) / 1" | bc)s"
echo "server CPU idle afterwards (10s)  $(echo "scale=1; ($ic1 - $ic0) * 100 / $clk / ($i1 - $i0)" | bc) % of one core, with ${pending:-?} pending jobs"
echo "server RSS at the end             $((rss / 1024)) MB"
echo "load average at end               $loadavg"
warn=$(grep -c 'level=WARN\|level=ERROR' "$work/server.log" || true)
echo "server log: $warn WARN/ERROR lines"
grep -m 3 'level=WARN\|level=ERROR' "$work/server.log" | cut -c1-300 | sed 's/^/  /' || true
if [ "${PROFILE:-}" = 1 ]; then
  echo "== CPU profile of the benchmark (server), cumulative =="
  go tool pprof -top -cum -nodecount=45 "$work/server.test" "$work/cpu.pprof" 2>/dev/null | sed -n '1,55p'
fi
