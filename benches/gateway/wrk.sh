#!/usr/bin/env bash
# Load test: wrk on loopback against the demo pipeline (validator -> enricher
# -> transformer, 1 KB JSON body with a browser's 16 header fields, respond
# mode) and against the same gateway with no plugins on the route. Prints,
# per route, the gateway's CPU time per request (process CPU from
# /proc/PID/stat over the requests served: the primary figure, since wrk
# shares the cores), req/s and p99.
#
#   benches/gateway/wrk.sh            # 15 s per run, 64 connections, 2 wrk threads
#   DURATION=30s CONNECTIONS=128 benches/gateway/wrk.sh
#   HEADERS=short benches/gateway/wrk.sh   # only content-type
set -euo pipefail
cd "$(dirname "$0")/../.."
unset RUST_BACKTRACE # slows wasmtime's error paths; never benchmark with it
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}

cargo build -q --release -p warden-cli
./target/release/warden build plugins/* >/dev/null # the gateway loads every plugin folder
./target/release/warden serve --config benches/gateway/gateway.toml >/dev/null 2>target/warden-bench.log &
GATEWAY=$!
trap 'kill $GATEWAY 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -sf -o /dev/null -X POST -H 'content-type: application/json' \
  --data-binary @benches/gateway/body.json http://127.0.0.1:18080/pipeline && break; sleep 0.1; done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$GATEWAY/stat"; } # utime + stime, in clock ticks
TICK=$(getconf CLK_TCK)

run() { # route -> "req/s p99 cpu-us-per-request"
  local before after rps p99 non2xx requests
  before=$(cpu_ticks)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/gateway/post.lua \
    "http://127.0.0.1:18080/$1" > "target/wrk-$1.txt"
  after=$(cpu_ticks)
  rps=$(awk '/Requests\/sec/ {print $2}' "target/wrk-$1.txt")
  p99=$(awk '$1 == "99%" {print $2}' "target/wrk-$1.txt")
  requests=$(awk '/requests in/ {print $1}' "target/wrk-$1.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "target/wrk-$1.txt")
  [ -z "$non2xx" ] || { echo "$1: $non2xx non-2xx answers" >&2; cat "target/wrk-$1.txt" >&2; exit 1; }
  echo "$rps $p99 $(awk -v t=$((after - before)) -v n="$requests" -v hz="$TICK" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }')"
}
# Warm up both routes (instances, caches, connection pools), then measure.
DURATION=3s run pipeline >/dev/null; DURATION=3s run baseline >/dev/null
read -r base_rps base_p99 base_cpu < <(run baseline)
read -r pipe_rps pipe_p99 pipe_cpu < <(run pipeline)
echo "no plugins:                     CPU $base_cpu us/request  $base_rps req/s  p99 $base_p99"
echo "validator+enricher+transformer: CPU $pipe_cpu us/request  $pipe_rps req/s  p99 $pipe_p99"
awk -v a="$pipe_cpu" -v b="$base_cpu" 'BEGIN { printf "pipeline CPU over no plugins: %.1f us/request (target: at most 1.5 x the in-process pipeline time, benches/pipeline.rs warden-1t)\n", a - b }'
