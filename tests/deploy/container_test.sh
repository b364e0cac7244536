#!/usr/bin/env bash
# The container image, built and run on this machine with podman (ctest label `container`).
#
#   tests/deploy/container_test.sh [BUILD_DIR]     (default: build; uses BUILD_DIR/bin/theano-serving-cli)
#
# 1. scripts/build_image.sh builds the Dockerfile (base image made locally if missing; reports the
#    build time and the image size).
# 2. Default CMD (embedded model): published on random 127.0.0.1 ports; the host's CLI classifies
#    every sample image and each best class equals Theano's prediction (samples.json); /metrics
#    counts the requests; `podman healthcheck run` (the image's HEALTHCHECK) is healthy; the server
#    is PID 1 as uid 10001; `podman stop` (SIGTERM) during a bench drains and the exit code is 0.
# 3. As in Kubernetes: read-only root filesystem, no capabilities, the flags of
#    deploy/k8s/configmap.yaml as --flagfile, and a mounted repository /models/fashion/1 (a copy of
#    models/fashion_lenet/1): serves `fashion` with Theano's predictions.
# The containers are always removed; the image is kept as a build cache (TS_IMAGE, default
# theano-serving:test). Exit: 0 pass, 1 fail, 77 skipped (not root: podman runs as root here).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=../../scripts/container_env.sh
. "$TS_ROOT/scripts/container_env.sh"
BUILD=$(ts_build_dir "${1:-}")
CLI=$BUILD/bin/theano-serving-cli
IMAGE=${TS_IMAGE:-theano-serving:test}

if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP: podman runs as root on this host" >&2
  exit 77
fi
ts_container_check || exit 1
[ -x "$CLI" ] || {
  echo "FAIL: $CLI not built" >&2
  exit 1
}

TMP=$(mktemp -d)
NAMES=()
cleanup() {
  local name
  for name in "${NAMES[@]}"; do
    podman rm -f -t 0 "$name" > /dev/null 2>&1 || true
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

# 1. Build.
start=$SECONDS
if ! timeout 900 "$TS_ROOT/scripts/build_image.sh" "$IMAGE" > "$TMP/build.log" 2>&1; then
  tail -n 40 "$TMP/build.log" >&2
  echo "FAIL: image build" >&2
  exit 1
fi
grep -E '^(base image|image) ' "$TMP/build.log" || true
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "image $IMAGE: $((size / 1000000)) MB, build step $((SECONDS - start)) s"

# run_container NAME PODMAN_RUN_ARGS... -- SERVER_ARGS...: starts NAME detached with both ports
# published on random 127.0.0.1 ports; sets GRPC and METRICS to host:port.
run_container() {
  local name=$1 args=()
  shift
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    args+=("$1")
    shift
  done
  shift
  NAMES+=("$name")
  podman rm -f -t 0 "$name" > /dev/null 2>&1 || true
  # stderr to a log: without systemd, podman 4.3 complains that it cannot set up the health check
  # timer (harmless: `podman healthcheck run` runs the image's HEALTHCHECK on demand).
  podman run -d --name "$name" -p 127.0.0.1::8500 -p 127.0.0.1::8502 \
    "${args[@]}" "$IMAGE" "$@" > /dev/null 2>> "$TMP/podman.log"
  GRPC=$(podman port "$name" 8500/tcp | head -n 1)
  METRICS=$(podman port "$name" 8502/tcp | head -n 1)
  GRPC=127.0.0.1:${GRPC##*:}
  METRICS=127.0.0.1:${METRICS##*:}
  if ! ts_wait_serving "$CLI" "$GRPC" 60; then
    ts_fail "$name: not SERVING on $GRPC within 60 s; its log:"
    podman logs "$name" >&2 || true
    return 1
  fi
  ts_ok "$name: SERVING on $GRPC, metrics on $METRICS"
}

# 2. Default CMD.
NAME=ts-container-test-$$
run_container "$NAME" -- || exit 1
if "$CLI" classify --server "$GRPC" --json --top_k 1 "$TS_ROOT"/models/fashion_lenet/samples/*.png \
  > "$TMP/classify.json" 2> "$TMP/err.txt"; then
  ts_check_samples "$TMP/classify.json" || ts_fail "embedded model: predictions differ from Theano's"
else
  ts_fail "classify: $(cat "$TMP/err.txt")"
fi
if curl -fsS --max-time 5 "http://$METRICS/metrics" > "$TMP/metrics.txt"; then
  ok=$(ts_metric_sum "$TMP/metrics.txt" theano_serving_requests_total 'code="OK"')
  images=$(ts_metric_sum "$TMP/metrics.txt" theano_serving_images_total)
  if [ "$images" -ge 20 ] && [ "$ok" -ge 1 ]; then
    ts_ok "/metrics: $ok OK requests, $images images"
  else
    ts_fail "/metrics: $ok OK requests, $images images (want >= 20 images)"
  fi
else
  ts_fail "curl http://$METRICS/metrics"
fi
if out=$(podman healthcheck run "$NAME" 2>&1); then
  ts_ok "podman healthcheck run: ${out:-healthy}"
else
  ts_fail "podman healthcheck run: $out"
fi
pid1=$(podman exec "$NAME" cat /proc/1/cmdline | tr '\0' ' ')
uid=$(podman exec "$NAME" id -u)
case $pid1 in
  /opt/theano-serving/bin/theano-serving*) ts_ok "PID 1: $pid1(uid $uid)" ;;
  *) ts_fail "PID 1 is \"$pid1\", want the server" ;;
esac
[ "$uid" = 10001 ] || ts_fail "runs as uid $uid, want 10001"

# SIGTERM while a bench is running: the server drains and exits 0. The bench may see errors once
# the server stops accepting, so only its completion is required.
"$CLI" bench --server "$GRPC" --duration_s 3 --concurrency 4 --allow_errors \
  "$TS_ROOT/models/fashion_lenet/samples/" > "$TMP/bench.txt" 2>&1 &
BENCH=$!
sleep 1
stop_start=$SECONDS
podman stop -t 30 "$NAME" > /dev/null 2>> "$TMP/podman.log"
wait "$BENCH" || true
code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME")
podman logs "$NAME" > "$TMP/container.log" 2>&1 || true
if [ "$code" = 0 ] && grep -q "draining" "$TMP/container.log"; then
  ts_ok "podman stop (SIGTERM): drained, exit code 0 in $((SECONDS - stop_start)) s"
else
  ts_fail "podman stop: exit code $code; log:"
  tail -n 5 "$TMP/container.log" >&2
fi

# 3. Kubernetes-like: read-only root, no capabilities, the ConfigMap's flags, a mounted repository.
mkdir -p "$TMP/repo/fashion" "$TMP/etc"
cp -r "$TS_ROOT/models/fashion_lenet/1" "$TMP/repo/fashion/1"
sed -n '/^  flags: |$/,/^[^ ]/{/^    /s/^    //p}' "$TS_ROOT/deploy/k8s/configmap.yaml" > "$TMP/etc/flags"
grep -q -- '--insecure' "$TMP/etc/flags" || ts_fail "no flags read from deploy/k8s/configmap.yaml"
chmod -R a+rX "$TMP"
NAME2=ts-container-test-repo-$$
if run_container "$NAME2" --read-only --cap-drop=ALL --security-opt=no-new-privileges \
  -v "$TMP/repo:/models:ro" -v "$TMP/etc:/etc/theano-serving:ro" -- \
  --flagfile=/etc/theano-serving/flags --model_repository=/models; then
  "$CLI" models --server "$GRPC" > "$TMP/models.txt" 2>&1 || true
  if grep -q "^fashion .*READY" "$TMP/models.txt"; then
    ts_ok "mounted repository: $(tr '\n' ' ' < "$TMP/models.txt")"
  else
    ts_fail "mounted repository: models says: $(cat "$TMP/models.txt")"
  fi
  if "$CLI" classify --server "$GRPC" --model fashion --json --top_k 1 \
    "$TS_ROOT"/models/fashion_lenet/samples/*.png > "$TMP/classify2.json" 2> "$TMP/err.txt"; then
    if ts_check_samples "$TMP/classify2.json" > "$TMP/check2.txt"; then
      ts_ok "model fashion from /models: Theano's predictions on all 20 samples"
    else
      grep FAIL "$TMP/check2.txt" >&2
      ts_fail "model fashion: predictions differ from Theano's"
    fi
  else
    ts_fail "classify --model fashion: $(cat "$TMP/err.txt")"
  fi
  podman stop -t 30 "$NAME2" > /dev/null 2>> "$TMP/podman.log"
  code=$(podman inspect --format '{{.State.ExitCode}}' "$NAME2")
  if [ "$code" = 0 ]; then
    ts_ok "read-only container: SIGTERM, exit code 0"
  else
    ts_fail "read-only container: exit code $code"
  fi
fi

if [ "$TS_FAILURES" -ne 0 ]; then
  echo "container_test: $TS_FAILURES failure(s)" >&2
  exit 1
fi
echo "container_test: all checks passed"
