#!/usr/bin/env bash
# The memory table: peak RSS per model and batch, and growth over many runs (no per-request heap
# growth). Prints a Markdown table (docs/PERFORMANCE.md, "Memory").
#
#   scripts/bench_memory.sh [--no-build] [--threads=T]
#
# Builds with scripts/build.sh (build/, benchmarks on; --no-build skips it), exports the benchmark
# networks with bench_peers' weights (bench_export_models: lenet, cifar_vgg, resnet18, vgg16,
# googlenet, resnet50, inception_v3 as model directories; VGG-16's params.npz is 0.55 GB) into a
# temporary directory, then for each row runs, in a fresh process,
#   build/bin/theano-serving-model bench DIR/<model>/1 --batch B --runs R --threads T --json
# and reads rss_start_mb (resident set before the model loads), rss_warm_mb (after the first
# batch), rss_end_mb (after the R-th), peak_rss_mb (getrusage ru_maxrss: model loading included)
# and heap_growth_bytes (bytes malloc holds in use, after the R-th batch minus after the first).
# MiB = 2^20 bytes. Runs per row: 10 000
# for LeNet, fewer for the big nets so that the whole run stays under 4 minutes here; override with
# RUNS_LENET, RUNS_CIFAR_B1, RUNS_CIFAR_B32, RUNS_RESNET_B1, RUNS_RESNET_B8, and RUNS_ZOO_B1,
# RUNS_ZOO_B8 for the model-zoo networks (RUNS_VGG16_B1, RUNS_VGG16_B8 for VGG-16).
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
threads=1
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --threads=*) threads="${arg#--threads=}" ;;
    *) echo "usage: $0 [--no-build] [--threads=T]" >&2; exit 2 ;;
  esac
done
if [[ $build == 1 ]]; then scripts/build.sh >&2; fi
bin="${BIN_DIR:-build/bin}"  # BIN_DIR=...: binaries of another build (with --no-build)
models="$(mktemp -d)"
trap 'rm -rf "$models"' EXIT
"$bin/bench_export_models" --out_dir="$models" >&2

rows=(
  "lenet 1 ${RUNS_LENET:-10000}"
  "lenet 32 ${RUNS_LENET:-10000}"
  "cifar_vgg 1 ${RUNS_CIFAR_B1:-5000}"
  "cifar_vgg 32 ${RUNS_CIFAR_B32:-200}"
  "resnet18 1 ${RUNS_RESNET_B1:-300}"
  "resnet18 8 ${RUNS_RESNET_B8:-50}"
  "vgg16 1 ${RUNS_VGG16_B1:-20}"
  "vgg16 8 ${RUNS_VGG16_B8:-5}"
  "googlenet 1 ${RUNS_ZOO_B1:-50}"
  "googlenet 8 ${RUNS_ZOO_B8:-10}"
  "resnet50 1 ${RUNS_ZOO_B1:-50}"
  "resnet50 8 ${RUNS_ZOO_B8:-10}"
  "inception_v3 1 ${RUNS_ZOO_B1:-50}"
  "inception_v3 8 ${RUNS_ZOO_B8:-10}"
)

# One field of the JSON object the bench prints.
field() { scripts/json_field.py - "$1" <<<"$2"; }

started=$(date +%s)
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $threads thread(s), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| model | batch | runs | median ms / batch | RSS before load (MiB) | RSS after warm-up (MiB) | RSS at end (MiB) | growth (MiB) | heap in use growth (bytes) | peak RSS (MiB) |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for row in "${rows[@]}"; do
  read -r model batch runs <<<"$row"
  json="$("$bin/theano-serving-model" bench "$models/$model/1" --batch "$batch" --runs "$runs" \
    --threads "$threads" --json)"
  if [[ "$(field batches "$json")" != "$runs" ]]; then
    echo "bench_memory.sh: $model b$batch ran $(field batches "$json") batches, not $runs" >&2
    exit 1
  fi
  printf '| %s | %s | %s | %.3f | %.1f | %.1f | %.1f | %+.2f | %+d | %.1f |\n' "$model" "$batch" \
    "$runs" "$(field median_ms "$json")" "$(field rss_start_mb "$json")" \
    "$(field rss_warm_mb "$json")" "$(field rss_end_mb "$json")" \
    "$(field rss_growth_mb "$json")" "$(field heap_growth_bytes "$json")" \
    "$(field peak_rss_mb "$json")"
done
echo
echo "# $(($(date +%s) - started)) s of runs; load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
