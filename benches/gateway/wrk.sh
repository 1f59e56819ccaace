#!/usr/bin/env bash
# Load test: wrk on loopback against the demo pipeline (validator -> enricher
# -> transformer, 1 KB JSON body, respond mode) and against the same gateway
# with no plugins on the route. Prints req/s, p99 and the ratio.
#
#   benches/gateway/wrk.sh            # 15 s per run, 64 connections, 2 wrk threads
#   DURATION=30s CONNECTIONS=128 benches/gateway/wrk.sh
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

run() { # route -> "req/s p99"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/gateway/post.lua \
    "http://127.0.0.1:18080/$1" > "target/wrk-$1.txt"
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' "target/wrk-$1.txt")
  p99=$(awk '$1 == "99%" {print $2}' "target/wrk-$1.txt")
  non2xx=$(awk '/Non-2xx/ {print $5}' "target/wrk-$1.txt")
  [ -z "$non2xx" ] || { echo "$1: $non2xx non-2xx answers" >&2; cat "target/wrk-$1.txt" >&2; exit 1; }
  echo "$rps $p99"
}
# Warm up both routes (instances, caches, connection pools), then measure.
DURATION=3s run pipeline >/dev/null; DURATION=3s run baseline >/dev/null
read -r base_rps base_p99 < <(run baseline)
read -r pipe_rps pipe_p99 < <(run pipeline)
echo "no plugins:              $base_rps req/s  p99 $base_p99"
echo "validator+enricher+transformer: $pipe_rps req/s  p99 $pipe_p99"
awk -v a="$pipe_rps" -v b="$base_rps" 'BEGIN { printf "ratio pipeline / no plugins: %.2f (target >= 0.70)\n", a / b }'
