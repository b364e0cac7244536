#!/usr/bin/env bash
# Helpers shared by tests/deploy/*.sh (sourced). Everything listens on 127.0.0.1; every wait is
# bounded; ts_cleanup (run from the caller's EXIT trap) kills every process started here.
TS_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TS_PIDS=()
TS_FAILURES=0

ts_fail() {
  echo "FAIL: $*" >&2
  TS_FAILURES=$((TS_FAILURES + 1))
}
ts_ok() { echo "ok: $*"; }

# ts_build_dir ARG: absolute build directory (default build/ in the repo).
ts_build_dir() {
  local b=${1:-build}
  case $b in /*) echo "$b" ;; *) echo "$TS_ROOT/$b" ;; esac
}

# ts_json FILE KEY: KEY of a JSON object such as the server's port file; empty if it cannot be read.
ts_json() { "$TS_ROOT/scripts/json_field.py" "$1" "$2" 2> /dev/null; }

# ts_start_server BIN LOG PORT_FILE [FLAGS...]: starts the server on 127.0.0.1 with free ports,
# waits (at most 20 s) for the port file, and prints its pid. The caller reads the ports with ts_json.
ts_start_server() {
  local bin=$1 log=$2 port_file=$3 pid
  shift 3
  rm -f "$port_file"
  "$bin" --insecure --host=127.0.0.1 --grpc_port=0 --metrics_port=0 --port_file="$port_file" \
    "$@" > "$log" 2>&1 &
  pid=$!
  TS_PIDS+=("$pid")
  for _ in $(seq 200); do
    [ -s "$port_file" ] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.1
  done
  if [ ! -s "$port_file" ]; then
    echo "server wrote no port file; its log:" >&2
    cat "$log" >&2
    return 1
  fi
  echo "$pid"
}

# ts_wait_serving CLI TARGET [SECONDS]: polls grpc.health.v1 until SERVING (default 60 s).
ts_wait_serving() {
  local cli=$1 target=$2 limit=${3:-60} start=$SECONDS
  while [ $((SECONDS - start)) -lt "$limit" ]; do
    "$cli" health --server "$target" --timeout_ms 2000 > /dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

# ts_metric_sum METRICS_TEXT_FILE NAME [LABEL_REGEX]: sum of the samples of NAME whose labels match.
ts_metric_sum() {
  awk -v name="$2" -v re="${3:-}" '
    $1 !~ /^#/ {
      split($1, parts, "{")
      if (parts[1] == name && (re == "" || $1 ~ re)) s += $2
    }
    END { printf "%d\n", s }' "$1"
}

ts_cleanup() {
  local pid
  for pid in "${TS_PIDS[@]}"; do
    kill "$pid" 2> /dev/null || true
  done
  for pid in "${TS_PIDS[@]}"; do
    wait "$pid" 2> /dev/null || true
  done
}

# ts_check_samples CLASSIFY_JSON: every classified sample's best class and score equal Theano's
# prediction in tests/data/fashion_lenet/samples.json (score to 5e-5). Prints one line per image.
ts_check_samples() {
  python3 - "$1" "$TS_ROOT/tests/data/fashion_lenet/samples.json" << 'PY'
import json, os, sys
got = json.load(open(sys.argv[1]))
want = {os.path.basename(s["file"]): s for s in json.load(open(sys.argv[2]))["samples"]}
bad = 0
results = got.get("results", [])
for r in results:
    name = os.path.basename(r["path"])
    s = want.get(name)
    best = r["classes"][0]
    if s is None:
        print(f"FAIL: {name}: not in samples.json"); bad += 1; continue
    p = s["theano_probabilities"][s["theano_prediction"]]
    if best["index"] != s["theano_prediction"] or abs(best["score"] - p) >= 5e-5:
        print(f"FAIL: {name}: got class {best['index']} {best['score']}, Theano {s['theano_prediction']} {p}")
        bad += 1
    else:
        print(f"ok: {name}: {best['label']} {best['score']:.6f} (Theano {p:.6f})")
if len(results) != len(want):
    print(f"FAIL: {len(results)} results for {len(want)} samples"); bad += 1
sys.exit(1 if bad else 0)
PY
}
