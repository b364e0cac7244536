#!/usr/bin/env bash
# Issue 3's peers table: our engine (FastGraph) against oneDNN, OpenCV DNN and im2col + OpenBLAS on
# LeNet b1/b32, CIFAR-VGG b1/b32 and ResNet-18 b1/b8, at 1 and 2 threads, in one process on the
# same weights and input. Prints a Markdown table (docs/PERFORMANCE.md, "Peers (issue 3)").
#
#   scripts/bench_peers.sh [--quick] [--models=lenet,cifar_vgg] [--threads=1] [--json=rows.json]
#                          [--seconds=S] [--batches=1]
#
# Builds into build-bench/ (override with BUILD_DIR=...) with THEANO_SERVING_BUILD_BENCHMARKS=ON, so
# the main build/ is untouched. Every other argument goes to bench_peers (--help lists them).
# The full run takes about 2 minutes on this 2-core machine after the first build; --quick about
# 40 s (its figures are meaningless: it only shows that every engine runs and agrees).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-bench}"
for p in libdnnl-dev libopencv-dnn-dev libopenblas-dev libbenchmark-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    scripts/install_deps.sh
    break
  fi
done
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTHEANO_SERVING_BUILD_BENCHMARKS=ON \
  >/dev/null
ninja -C "$BUILD_DIR" bench_peers >/dev/null
# The engines share one process and two cores, and each brings its own thread pool (OpenMP for ours
# and oneDNN, OpenBLAS's pthreads, OpenCV's TBB). With the runtimes' default spin-waiting, idle
# workers of one pool keep a core busy while the next engine runs, and 2-thread timings collapse
# by 10-100x depending on which engine ran before. Idle workers therefore sleep at once (override
# by setting the variables yourself). 1-thread rows are unaffected (no worker threads).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git describe --always --dirty 2>/dev/null || echo "?")"
exec "$BUILD_DIR/bin/bench_peers" "$@"
