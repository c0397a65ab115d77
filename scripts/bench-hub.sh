#!/usr/bin/env bash
# Hub density benchmark: one control plane (SQLite, temp data dir) holding
# N simulated workers over real loopback WebSockets that send the real mix
# (heartbeat 30 s, runtime_log 3 s, app_stats 10 s). The simulator
# (cmd/wh-loadsim) is a separate process, so each side gets its own
# open-files limit. Prints RSS per connection and the server's CPU share.
#
#   scripts/bench-hub.sh [N]          N workers (default 10000)
#
# Environment:
#   MODE=own|foreign   own (default): each worker's logs and stats name the app
#                      placed on it, so they are stored (SQLite + log bus);
#                      foreign: they name another worker's app, so the hub
#                      verifies and decodes them and the dispatcher drops them
#                      as "not yours" (no writes; one app lookup per message)
#                      hubonly: the server is internal/server's TestLoadBenchServe
#                      with WH_LOADBENCH_HUB_ONLY=1: the same hub, authenticator
#                      and store, but a handler that only decodes each payload
#                      (no dispatcher, no database work per message); workers
#                      connect with their raw API keys. The hub's own cost.
#   WARMUP=35          seconds after the last connection before measuring
#                      (≥ one heartbeat period, so every kind is in steady state)
#   WINDOW=60          seconds measured
#   KEEP=1             keep the temp dir (logs, database) for inspection
#   PROFILE=1          run the server from internal/server's test binary
#                      (TestLoadBenchServe, same code and config) and take a
#                      CPU profile of the measured window plus heap and
#                      goroutine profiles at its end; prints the top entries
#                      (profiling costs a few % of CPU: use it to explain,
#                      not to report, figures)
#
# Everything listens on 127.0.0.1 only; every process started here is
# stopped on exit (also on error or Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH

N=${1:-${N:-10000}}
MODE=${MODE:-own}
WARMUP=${WARMUP:-35}
WINDOW=${WINDOW:-60}
case "$N" in '' | *[!0-9]*) echo "bench-hub: N must be a number" >&2; exit 2 ;; esac
[ "$N" -ge 1 ] && [ "$N" -le 100000 ] || { echo "bench-hub: N out of range" >&2; exit 2; }

work=$(mktemp -d /tmp/wh-bench-hub.XXXXXX)
server_pid="" sim_pid=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in $sim_pid $server_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if [ "${KEEP:-}" = 1 ]; then echo "bench-hub: kept $work"; else rm -rf "$work"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "bench-hub: building"
go build -o "$work/wisehosting" ./cmd/wisehosting
go build -o "$work/wh-loadsim" ./cmd/wh-loadsim
case "$MODE" in own | foreign | hubonly) ;; *) echo "bench-hub: MODE must be own, foreign or hubonly" >&2; exit 2 ;; esac
if [ "${PROFILE:-}" = 1 ] || [ "$MODE" = hubonly ]; then go test -c -o "$work/server.test" ./internal/server; fi

# Each process holds N sockets plus a few files; both inherit this limit.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ]; then ulimit -n "$hard"; fi
soft=$(ulimit -n)
if [ "$soft" != unlimited ] && [ "$soft" -lt $((N + 256)) ]; then
  echo "bench-hub: open-files limit $soft is too low for N=$N (need N+256 per process); largest N here: $((soft - 256))" >&2
  exit 1
fi

clk=$(getconf CLK_TCK)
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }   # utime + stime
now() { date +%s.%N; }
metric() { # sum of a metric's series in the last scrape ($work/metrics)
  awk -v m="$1" '$1 == m || index($1, m "{") == 1 {s += $2} END {printf "%.0f\n", s}' "$work/metrics"
}
scrape() { curl -sf --max-time 10 "$base/metrics" > "$work/metrics"; }

echo "bench-hub: seeding $N workers with one app each"
mkdir -p "$work/data"
"$work/wh-loadsim" seed --db "$work/data/wisehosting.db" --out "$work" --workers "$N" --apps "$N" \
  --teams $((N < 1000 ? N : 1000))

if [ "${PROFILE:-}" = 1 ] || [ "$MODE" = hubonly ]; then
  WH_LOADBENCH_HUB_ONLY=$([ "$MODE" = hubonly ] && echo 1 || echo 0) \
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
[ -n "$addr" ] || { echo "bench-hub: server did not start" >&2; cat "$work/server.log" >&2; exit 1; }
base="http://$addr"
case "$addr" in 127.0.0.1:*) ;; *) echo "bench-hub: not on loopback: $addr" >&2; exit 1 ;; esac
echo "bench-hub: server pid $server_pid on $base (SQLite in $work/data)"
rss_start=$(rss_kb "$server_pid")

tokens=()
if [ "$MODE" != hubonly ]; then
  echo "bench-hub: registering $N workers (POST /v1/workers/register)"
  "$work/wh-loadsim" register --url "$base" --workers "$work/workers.tsv" --out "$work/tokens.tsv" --n "$N"
  tokens=(--tokens "$work/tokens.tsv")
fi
sleep 3
scrape
rss_base=$(rss_kb "$server_pid")
heap_base=$(metric go_memstats_heap_inuse_bytes)
stack_base=$(metric go_memstats_stack_inuse_bytes)
gor_base=$(metric go_goroutines)

# Bounded: the simulator stops by itself even if this script is killed -9.
sim_dur=$((WARMUP + WINDOW + 300))
"$work/wh-loadsim" hub --url "$base" --workers "$work/workers.tsv" "${tokens[@]}" --n "$N" \
  --mode "$([ "$MODE" = foreign ] && echo foreign || echo own)" --duration "${sim_dur}s" --ready-file "$work/ready" > "$work/sim.log" 2>&1 &
sim_pid=$!
echo "bench-hub: simulator pid $sim_pid, mode=$MODE; waiting for $N connections"
t_dial=$(now)
conns=0
for _ in $(seq 1 600); do
  scrape || true
  conns=$(metric wisehosting_hub_connections)
  [ "$conns" -ge "$N" ] && break
  kill -0 "$sim_pid" 2>/dev/null || { echo "bench-hub: simulator exited" >&2; cat "$work/sim.log" >&2; exit 1; }
  sleep 0.5
done
[ "$conns" -ge "$N" ] || { echo "bench-hub: only $conns of $N connected" >&2; tail "$work/sim.log" >&2; exit 1; }
printf 'bench-hub: %d connected in %.1fs; warming up %ss\n' "$conns" "$(echo "$(now) - $t_dial" | bc)" "$WARMUP"
sleep "$WARMUP"

scrape
t0=$(now); c0=$(cpu_ticks "$server_pid"); s0=$(cpu_ticks "$sim_pid")
in0=$(metric wisehosting_hub_envelopes_in_total); rej0=$(metric wisehosting_hub_envelopes_rejected_total)
rss0=$(rss_kb "$server_pid")
if [ "${PROFILE:-}" = 1 ]; then kill -USR1 "$server_pid"; fi
echo "bench-hub: measuring ${WINDOW}s"
rss_max=$rss0
end=$(echo "$t0 + $WINDOW" | bc)
while [ "$(echo "$(now) < $end" | bc)" = 1 ]; do
  sleep 5
  r=$(rss_kb "$server_pid"); [ "$r" -gt "$rss_max" ] && rss_max=$r
  kill -0 "$sim_pid" 2>/dev/null || { echo "bench-hub: simulator exited early" >&2; tail "$work/sim.log" >&2; exit 1; }
done
scrape
t1=$(now); c1=$(cpu_ticks "$server_pid"); s1=$(cpu_ticks "$sim_pid")
in1=$(metric wisehosting_hub_envelopes_in_total); rej1=$(metric wisehosting_hub_envelopes_rejected_total)
rss1=$(rss_kb "$server_pid"); [ "$rss1" -gt "$rss_max" ] && rss_max=$rss1
conns1=$(metric wisehosting_hub_connections)
heap1=$(metric go_memstats_heap_inuse_bytes); stack1=$(metric go_memstats_stack_inuse_bytes); gor1=$(metric go_goroutines)
fds1=$(metric process_open_fds)
sim_rss=$(rss_kb "$sim_pid")
grep -E '^(wisehosting_hub_envelopes_in_total|wisehosting_hub_envelopes_rejected_total)' "$work/metrics" | grep -v ' 0$' > "$work/envelopes" || true
if [ "${PROFILE:-}" = 1 ]; then
  kill -USR2 "$server_pid"
  for _ in $(seq 1 100); do [ -s "$work/goroutine.pprof" ] && break; sleep 0.2; done
fi

kill -TERM "$sim_pid"; wait "$sim_pid" || true; sim_pid=""
loadavg=$(cut -d' ' -f1-3 /proc/loadavg)
kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=""

el=$(echo "$t1 - $t0" | bc)
cpu=$(echo "scale=1; ($c1 - $c0) * 100 / $clk / $el" | bc)
simcpu=$(echo "scale=1; ($s1 - $s0) * 100 / $clk / $el" | bc)
rate=$(echo "scale=0; ($in1 - $in0) / $el" | bc)
per() { echo "scale=1; ($1 - $rss_base) / $N" | bc; }
kb() { echo "scale=1; $1 / 1024" | bc; }

echo
echo "== bench-hub results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, mode=$MODE) =="
echo "N (connections held)            $N (hub gauge at end of window: $conns1; server open fds $fds1)"
echo "RSS at start / baseline (idle, just before connecting) $(kb "$rss_start") MB / $(kb "$rss_base") MB"
echo "RSS after warm-up / end / max    $(kb "$rss0") MB / $(kb "$rss1") MB / $(kb "$rss_max") MB"
echo "(RSS - baseline) / N             $(per "$rss0") KB after warm-up, $(per "$rss1") KB at end of window"
echo "Go heap in use / stacks / goroutines: baseline $((heap_base >> 20)) MB / $((stack_base >> 20)) MB / $gor_base;" \
  "end $((heap1 >> 20)) MB / $((stack1 >> 20)) MB / $gor1  → heap $(echo "scale=1; ($heap1 - $heap_base) / 1024 / $N" | bc) KB/conn," \
  "stacks $(echo "scale=1; ($stack1 - $stack_base) / 1024 / $N" | bc) KB/conn, $(echo "scale=2; ($gor1 - $gor_base) / $N" | bc) goroutines/conn"
echo "server CPU over ${el%.*}s window      $cpu % of one core"
echo "envelopes accepted               $rate msgs/s ($((in1 - in0)) in window); rejected in window: $((rej1 - rej0))"
echo "simulator                        CPU $simcpu % of one core, RSS $(kb "$sim_rss") MB"
echo "load average at end              $loadavg"
sed 's/^/  /' "$work/envelopes"
grep -E '^hub: (offered|[0-9]+/)' "$work/sim.log" | sed 's/^/  sim: /'
tail -n 2 "$work/sim.log" | sed 's/^/  sim: /'
warn=$(grep -c 'level=WARN\|level=ERROR' "$work/server.log" || true)
echo "server log: $warn WARN/ERROR lines"
grep -m 5 'level=WARN\|level=ERROR' "$work/server.log" | cut -c1-300 | sed 's/^/  /' || true
if [ "${PROFILE:-}" = 1 ]; then
  echo "== CPU profile of the window (server) =="
  go tool pprof -top -nodecount=30 "$work/server.test" "$work/cpu.pprof" 2>/dev/null | sed -n '1,40p'
  echo "== CPU profile, cumulative =="
  go tool pprof -top -cum -nodecount=40 "$work/server.test" "$work/cpu.pprof" 2>/dev/null | sed -n '6,50p'
  echo "== heap in use at the end of the window =="
  go tool pprof -sample_index=inuse_space -top -nodecount=20 "$work/server.test" "$work/heap.pprof" 2>/dev/null | sed -n '1,30p'
  echo "(profiles kept in $work only with KEEP=1)"
fi
if [ $((rej1 - rej0)) -ne 0 ]; then echo "bench-hub: FAIL: envelopes were rejected" >&2; exit 1; fi
