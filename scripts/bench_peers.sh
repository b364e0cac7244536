#!/usr/bin/env bash
# The peers table: our engine (FastGraph) against oneDNN, OpenCV DNN and im2col + OpenBLAS on
# LeNet b1/b32, CIFAR-VGG b1/b32, ResNet-18 b1/b8 and the model-zoo networks VGG-16, GoogLeNet,
# ResNet-50 (224x224) and Inception-v3 (299x299) b1/b8, at 1 and 2 threads, in one process on the
# same weights and input. Prints a Markdown table (docs/PERFORMANCE.md, "Peers").
#
#   scripts/bench_peers.sh [--isas=default,avx2] [--no-build] [--quick] [--models=lenet,vgg16]
#                          [--threads=1] [--batches=1] [--seconds=S] [--json=rows.json]
#
# --isas=LIST runs the whole table once per entry: "default" (our engine at the CPU's widest
# instruction set, oneDNN unlimited), or avx512 / avx2 / portable, which bench_peers --isa=...
# imposes on both our engine and oneDNN (ONEDNN_MAX_CPU_ISA). `--isas=default,avx2` prints the
# table and then the same table with both engines limited to AVX2. With several entries, --json=P
# writes one file per entry, P with ".<isa>" before its extension.
#
# Builds into build-bench/ (override with BUILD_DIR=...) with THEANO_SERVING_BUILD_BENCHMARKS=ON, so
# the main build/ is untouched; --no-build runs the bench_peers already built there. Every other
# argument goes to bench_peers (--help lists them). On this 2-core machine, after the first
# build (estimates from single runs, not yet timed end to end): LeNet, CIFAR-VGG and ResNet-18
# take about 2 minutes, the four model-zoo networks about 4 more (VGG-16 about 2: a round of its
# b8 row runs 250 GFLOP per engine), the AVX2 table of --isas=default,avx2 about 8 more; --quick
# about 3 minutes (its figures are meaningless: it only shows that every engine runs and agrees).
# VGG-16 needs about 5 GB of memory (its 0.55 GB of weights in the model, the graph, the peers'
# two lowerings and each engine).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${BUILD_DIR:-build-bench}"
build=1
isas=(default)
json=""
args=()
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --isas=*) IFS=, read -r -a isas <<<"${arg#--isas=}" ;;
    --json=*) json="${arg#--json=}" ;;
    *) args+=("$arg") ;;
  esac
done
for isa in "${isas[@]}"; do
  case "$isa" in
    default | avx512 | avx2 | portable) ;;
    *) echo "bench_peers.sh: --isas: \"$isa\" is not default, avx512, avx2 or portable" >&2; exit 2 ;;
  esac
done
if [[ $build == 1 ]]; then
  for p in libdnnl-dev libopencv-dnn-dev libopenblas-dev libbenchmark-dev; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      scripts/install_deps.sh
      break
    fi
  done
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DTHEANO_SERVING_BUILD_BENCHMARKS=ON >/dev/null
  ninja -C "$BUILD_DIR" bench_peers >/dev/null
fi
# The engines share one process and two cores, and each brings its own thread pool (ours its
# fast::ThreadTeam, OpenMP for oneDNN, OpenBLAS's pthreads, OpenCV's TBB). Idle workers of one
# pool that keep spinning while the next engine runs take its second core (bench_peers pauses
# 20 ms before each 2-thread run). oneDNN's OpenMP workers spin for GOMP_SPINCOUNT iterations:
# libgomp's default (300000) outlasts the pause and cost our runs after it up to 2x; passive
# waiting (no spin) cost oneDNN itself 1.5x (GoogLeNet b1 t2: 12.3 ms against 8.2). 100000 spins
# keep its workers awake through a forward pass, as ours stay for 2 ms, and asleep before the
# next engine starts (override by setting the variables yourself). 1-thread rows are unaffected.
export GOMP_SPINCOUNT="${GOMP_SPINCOUNT:-100000}"
export OPENBLAS_THREAD_TIMEOUT="${OPENBLAS_THREAD_TIMEOUT:-4}"
status=0
for isa in "${isas[@]}"; do
  run=("${args[@]}")
  [[ $isa != default ]] && run+=("--isa=$isa")
  if [[ -n $json ]]; then
    if [[ ${#isas[@]} -gt 1 && $json != - ]]; then
      base="$json"
      ext="json"
      if [[ ${json##*/} == *.* ]]; then
        base="${json%.*}"
        ext="${json##*.}"
      fi
      run+=("--json=$base.$isa.$ext")
    else
      run+=("--json=$json")
    fi
  fi
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git describe --always --dirty 2>/dev/null || echo "?"), instruction sets: $isa"
  "$BUILD_DIR/bin/bench_peers" "${run[@]}" || status=$?
  [[ ${#isas[@]} -gt 1 ]] && echo
done
exit "$status"
