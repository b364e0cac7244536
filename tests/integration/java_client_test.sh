#!/usr/bin/env bash
# Integration test of the Java client (client/java/classify.sh) against the real server.
#
#   tests/integration/java_client_test.sh [BUILD_DIR]     (default: build, relative to the repo)
#
# Starts BUILD_DIR/bin/theano-serving on 127.0.0.1 with any free ports and the embedded
# models/fashion_lenet, classifies sample PNGs with the Java client and checks every image's best
# class against Theano's prediction in tests/data/fashion_lenet/samples.json: the label, and the
# score equal to Theano's probability to 4 decimals (|diff| < 5e-5). Also checks the output layout,
# --top_k, that gRPC errors exit 1 with the status code on stderr, and --tls_ca against a TLS server.
#
# JAVA_CLIENT_TEST_SAMPLES=FILE replaces samples.json (to check that the test can fail).
# Exit: 0 pass, 1 fail, 77 skipped (no JDK / Java gRPC jars: run client/java/install_deps.sh).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
SERVER=$BUILD/bin/theano-serving
CLIENT=$ROOT/client/java/classify.sh
SAMPLES=${JAVA_CLIENT_TEST_SAMPLES:-$ROOT/tests/data/fashion_lenet/samples.json}
IMAGES=(0000_ankle_boot 0002_trouser 0004_shirt 0012_sneaker 0023_ankle_boot)

if [ ! -x "$SERVER" ]; then
  echo "FAIL: $SERVER not built" >&2
  exit 1
fi
for f in /usr/bin/javac /usr/bin/grpc_java_plugin /usr/share/java/grpc-netty.jar \
  /usr/share/java/netty-codec-http2.jar; do
  if [ ! -e "$f" ]; then
    echo "SKIP: $f missing; run client/java/install_deps.sh" >&2
    exit 77
  fi
done

TMP=$(mktemp -d)
SERVER_PID=""
TLS_PID=""
cleanup() {
  local pid
  for pid in $SERVER_PID $TLS_PID; do
    kill "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

cd "$ROOT" # the server's embedded repository is found next to it, else as ./models
"$SERVER" --insecure --host=127.0.0.1 --grpc_port=0 --metrics_port=0 \
  --port_file="$TMP/ports.json" > "$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
  [ -s "$TMP/ports.json" ] && break
  if ! kill -0 "$SERVER_PID" 2> /dev/null; then break; fi
  sleep 0.1
done
PORT=$("$ROOT/scripts/json_field.py" "$TMP/ports.json" grpc 2> /dev/null || true)
if [ -z "$PORT" ]; then
  echo "FAIL: the server wrote no port file in 10 s; its log:" >&2
  cat "$TMP/server.log" >&2
  exit 1
fi
TARGET=127.0.0.1:$PORT
echo "server on $TARGET"

# Expectations from samples.json: for each sample, "file<TAB>label of theano_prediction<TAB>
# theano_probabilities[theano_prediction]". Class names come from the samples' (label, label_name)
# pairs.
python3 - "$SAMPLES" > "$TMP/expected.tsv" << 'PY'
import json, sys
samples = json.load(open(sys.argv[1], encoding="utf-8"))["samples"]
names = {s["label"]: s["label_name"] for s in samples}
for s in samples:
    pred = s["theano_prediction"]
    print(f"{s['file']}\t{names.get(pred, '')}\t{s['theano_probabilities'][pred]!r}")
PY

failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# check_best IMAGE_NAME LINE: LINE ("label score") is Theano's prediction for IMAGE_NAME.
check_best() {
  local exp got_label got_score
  exp=$(awk -F'\t' -v f="samples/$1.png" '$1 == f' "$TMP/expected.tsv")
  if [ -z "$exp" ] || [ -z "$(cut -f2 <<< "$exp")" ]; then
    fail "$1: no expectation in $SAMPLES"
    return
  fi
  got_label=${2% *}
  got_score=${2##* }
  if [ "$got_label" != "$(cut -f2 <<< "$exp")" ]; then
    fail "$1: best class \"$got_label\", Theano predicts \"$(cut -f2 <<< "$exp")\""
  elif ! awk -v a="$got_score" -v b="$(cut -f3 <<< "$exp")" \
    'BEGIN { d = a - b; exit !(a != "" && d < 5e-5 && d > -5e-5) }'; then
    fail "$1: score $got_score, Theano's probability $(cut -f3 <<< "$exp")"
  else
    echo "ok: $1: $2 (Theano $(cut -f3 <<< "$exp"))"
  fi
}

# 1. Several images in one call: a path line, then 5 (the default top_k) indented class lines.
paths=()
for i in "${IMAGES[@]}"; do paths+=("$ROOT/models/fashion_lenet/samples/$i.png"); done
if ! "$CLIENT" --server "$TARGET" "${paths[@]}" > "$TMP/out.txt" 2> "$TMP/err.txt"; then
  fail "classify.sh exited non-zero: $(cat "$TMP/err.txt")"
fi
if [ "$(wc -l < "$TMP/out.txt")" -ne $((${#IMAGES[@]} * 6)) ]; then
  fail "expected ${#IMAGES[@]} x (1 path + 5 classes) lines, got:"
  cat "$TMP/out.txt" >&2
fi
for k in "${!IMAGES[@]}"; do
  path_line=$(sed -n "$((k * 6 + 1))p" "$TMP/out.txt")
  [ "$path_line" = "${paths[$k]}" ] || fail "line $((k * 6 + 1)): \"$path_line\", want ${paths[$k]}"
  check_best "${IMAGES[$k]}" "$(sed -n "$((k * 6 + 2))s/^  //p" "$TMP/out.txt")"
  # Scores best first.
  sed -n "$((k * 6 + 2)),$((k * 6 + 6))p" "$TMP/out.txt" |
    awk '{ if (NR > 1 && $NF > prev) bad = 1; prev = $NF } END { exit bad }' ||
    fail "${IMAGES[$k]}: scores not in descending order"
done

# 2. One image with --top_k 3: no path line, exactly 3 class lines.
one=${IMAGES[0]}
if "$CLIENT" --server "$TARGET" --model fashion_lenet --top_k 3 \
  "$ROOT/models/fashion_lenet/samples/$one.png" > "$TMP/one.txt" 2> "$TMP/err.txt"; then
  [ "$(wc -l < "$TMP/one.txt")" -eq 3 ] || fail "--top_k 3 printed $(wc -l < "$TMP/one.txt") lines"
  check_best "$one" "$(head -n 1 "$TMP/one.txt")"
else
  fail "classify.sh --top_k 3 exited non-zero: $(cat "$TMP/err.txt")"
fi

# 3. Errors: exit 1 and the gRPC status code on stderr.
expect_error() { # CODE ARGS...
  local code=$1 rc=0
  shift
  "$CLIENT" --server "$TARGET" "$@" > /dev/null 2> "$TMP/err.txt" || rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q "$code" "$TMP/err.txt"; then
    fail "$* : want exit 1 and $code, got exit $rc: $(cat "$TMP/err.txt")"
  else
    echo "ok: $* -> $(cat "$TMP/err.txt")"
  fi
}
expect_error NOT_FOUND --model no_such_model "${paths[0]}"
expect_error INVALID_ARGUMENT --top_k 11 "${paths[0]}"
expect_error INVALID_ARGUMENT "$ROOT/tests/data/fashion_lenet/samples.json"

# 4. TLS: a second server with a certificate for 127.0.0.1 signed by a throwaway CA; --tls_ca
# trusts that CA. Needs the openssl tool and netty-tcnative (client/java/install_deps.sh).
if command -v openssl > /dev/null && [ -f /usr/share/java/netty-tcnative.jar ]; then
  (
    cd "$TMP"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj /CN=test-ca
    openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1
    printf 'subjectAltName=IP:127.0.0.1\n' > ext.cnf
    openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
      -extfile ext.cnf -out srv.pem
  ) > "$TMP/openssl.log" 2>&1 || fail "openssl: $(cat "$TMP/openssl.log")"
  "$SERVER" --tls_cert="$TMP/srv.pem" --tls_key="$TMP/srv.key" --host=127.0.0.1 --grpc_port=0 \
    --metrics_port=0 --port_file="$TMP/tls_ports.json" > "$TMP/tls_server.log" 2>&1 &
  TLS_PID=$!
  for _ in $(seq 100); do
    [ -s "$TMP/tls_ports.json" ] && break
    kill -0 "$TLS_PID" 2> /dev/null || break
    sleep 0.1
  done
  TLS_PORT=$("$ROOT/scripts/json_field.py" "$TMP/tls_ports.json" grpc 2> /dev/null || true)
  if [ -z "$TLS_PORT" ]; then
    fail "the TLS server wrote no port file: $(cat "$TMP/tls_server.log")"
  elif "$CLIENT" --server "127.0.0.1:$TLS_PORT" --tls_ca "$TMP/ca.pem" --top_k 1 "${paths[0]}" \
    > "$TMP/tls.txt" 2> "$TMP/err.txt"; then
    check_best "${IMAGES[0]}" "$(head -n 1 "$TMP/tls.txt")"
  else
    fail "classify.sh --tls_ca exited non-zero: $(cat "$TMP/err.txt")"
  fi
  kill "$TLS_PID" 2> /dev/null || true
  wait "$TLS_PID" 2> /dev/null || true
  TLS_PID=""
else
  echo "note: TLS check skipped (no openssl tool or netty-tcnative)"
fi

if [ "$failures" -ne 0 ]; then
  echo "java_client_test: $failures failure(s)" >&2
  exit 1
fi
echo "java_client_test: all checks passed"
