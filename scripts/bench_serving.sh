#!/usr/bin/env bash
# Serving figures for docs/PERFORMANCE.md: the real server on 127.0.0.1 driven by
# `theano-serving-cli bench` with the Fashion model's sample PNGs at concurrency 1, 8 and 64, with
# and without dynamic batching, next to the in-process engine + decode throughput
# (`theano-serving-model bench`) measured in the same run. Prints a markdown table.
# Usage: scripts/bench_serving.sh [SECONDS_PER_RUN] (default 5). Needs a build (scripts/build.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
BIN=build/bin
SAMPLES=(models/fashion_lenet/samples/*.png)
TMP=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# json_field JSON KEY: one field of a JSON object (the benches' --json output).
json_field() { scripts/json_field.py - "$2" <<<"$1"; }

start_server() {  # extra server flags...
  rm -f "$TMP/ports.json"
  "$BIN/theano-serving" --insecure --host=127.0.0.1 --grpc_port=0 --metrics_port=0 \
    --port_file="$TMP/ports.json" "$@" 2>"$TMP/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do [ -s "$TMP/ports.json" ] && break; sleep 0.1; done
  [ -s "$TMP/ports.json" ] || { cat "$TMP/server.log"; exit 1; }
  PORT=$(scripts/json_field.py "$TMP/ports.json" grpc)
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" || true; SERVER_PID=""; }

echo "| setup | concurrency | requests/s = images/s | p50 ms | p99 ms | errors | vs in-process |"
echo "|---|---|---|---|---|---|---|"
INPROC=$("$BIN/theano-serving-model" bench models/fashion_lenet/1 --batch 8 --streams 2 \
  --seconds "$SECS" --json "${SAMPLES[@]}")
INPROC_IPS=$(json_field "$INPROC" images_per_s)
printf '| in-process engine + PNG decode, batch 8, 2 threads | – | %.0f | %.2f (batch) | %.2f (batch) | – | 1.00 |\n' \
  "$INPROC_IPS" "$(json_field "$INPROC" median_ms)" "$(json_field "$INPROC" p99_ms)"

for setup in "batching:--max_batch_size=8 --max_queue_delay_us=500 --inference_threads=2" \
             "no batching:--max_batch_size=1 --max_queue_delay_us=0 --inference_threads=2"; do
  name=${setup%%:*}
  # shellcheck disable=SC2086
  start_server ${setup#*:}
  for c in 1 8 64; do
    R=$("$BIN/theano-serving-cli" bench --server "127.0.0.1:$PORT" --concurrency "$c" \
      --duration_s "$SECS" --json "${SAMPLES[@]}")
    ips=$(json_field "$R" images_per_s)
    # What is inside "errors": {...} ("UNAVAILABLE":3,...), 0 when there were none.
    errors=$(json_field "$R" errors)
    errors=${errors#\{}
    errors=${errors%\}}
    printf '| server, %s (%s) | %d | %.0f | %.2f | %.2f | %s | %.2f |\n' "$name" "${setup#*:}" "$c" \
      "$ips" "$(json_field "$R" p50_ms)" "$(json_field "$R" p99_ms)" "${errors:-0}" \
      "$(python3 -c 'import sys; print(float(sys.argv[1]) / float(sys.argv[2]))' "$ips" "$INPROC_IPS")"
  done
  stop_server
done
