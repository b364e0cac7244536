#!/usr/bin/env bash
# Bounded coverage-guided fuzzing with libFuzzer (clang 14, ASan + UBSan) in build-fuzz/.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# Default: 40 s for each of the six targets. FUZZ_PARALLEL=N runs N targets at once (one libFuzzer
# process each; CI uses 2 on its 2 cores: scripts/fuzz.sh). FUZZ_BUILD_DIR overrides build-fuzz.
# Longer runs: pass more seconds (e.g. 3600), or run one binary by hand, e.g.
#   build-fuzz/bin/fuzz_v2_infer -max_total_time=3600 -jobs=2 build-fuzz/fuzz-work/fuzz_v2_infer/corpus \
#       tests/fuzz/corpus/fuzz_v2_infer
# New interesting inputs go to build-fuzz/fuzz-work/<target>/corpus (not the repository). A crash,
# leak, timeout or out-of-memory input is copied to tests/fuzz/regressions/<target>/, where ctest
# replays it on every build (fuzz_<target>_replay), and printed in base64 (so it survives a CI
# clone: `base64 -d > tests/fuzz/regressions/<target>/<name>`); the script then exits 1.
# Needs: apt-get install -y clang-14 libclang-rt-14-dev  (exit 77 if clang++-14 is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-40}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(fuzz_image fuzz_model_json fuzz_npy fuzz_npz fuzz_v2_infer fuzz_classify)
fi
if ! command -v clang++-14 >/dev/null; then
  echo "tests/fuzz/run.sh: clang++-14 not found (apt-get install -y clang-14 libclang-rt-14-dev)" >&2
  exit 77
fi
build=${FUZZ_BUILD_DIR:-build-fuzz}
cmake -S . -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTHEANO_SERVING_SANITIZE=ON -DTHEANO_SERVING_BUILD_FUZZERS=ON -DTHEANO_SERVING_BUILD_TESTS=ON \
  "-DCMAKE_CXX_FLAGS=-fsanitize=fuzzer-no-link -fno-sanitize-recover=all" \
  >/dev/null
cmake --build "$build" -j"${JOBS:-2}" --target "${targets[@]}"

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# fuzz_one TARGET: runs it for $seconds; on a finding keeps the input and leaves $work/FAILED.
fuzz_one() {
  local t=$1 work=$build/fuzz-work/$1
  mkdir -p "$work/corpus" "$work/artifacts"
  rm -f "$work/artifacts/"* "$work/FAILED" "$work/summary.txt"
  local extra=()
  case $t in
    # gRPC's own threads allocate outside the input being run: LeakSanitizer's per-input check
    # would blame the input. Leaks there are looked for by the ASan test suite instead.
    fuzz_v2_infer|fuzz_classify) extra=(-detect_leaks=0 -max_len=65536) ;;
    # The default -malloc_limit_mb (= -rss_limit_mb, 2048): a TIFF whose strip is far larger than
    # its image once made OpenCV allocate 3 GB (docs/RELIABILITY.md finding 10, fixed:
    # CheckImagePixels counts the strip; regressions/fuzz_image/tiff_12060x28_...).
    fuzz_image) extra=(-max_len=65536) ;;
  esac
  {
    echo "== $t: ${seconds}s"
    if ! "$build/bin/$t" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts/" "${extra[@]}" \
        "$work/corpus" "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t" \
        >"$work/log.txt" 2>&1; then
      touch "$work/FAILED"
      echo "   FINDING — log: $work/log.txt"
      grep -m5 -E "ERROR: |SUMMARY|runtime error|unexpected status" "$work/log.txt" | sed 's/^/   /' || true
      for a in "$work/artifacts/"*; do
        [ -e "$a" ] || continue
        cp "$a" "tests/fuzz/regressions/$t/"
        echo "   kept tests/fuzz/regressions/$t/$(basename "$a") — base64:"
        head -c 65536 "$a" | base64 -w0
        echo
      done
    fi
    grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$work/log.txt" | tr '\n' ' ' | sed 's/^/   /' || true
    echo
  } >"$work/summary.txt"
}

export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
parallel=${FUZZ_PARALLEL:-1}
running=0
for t in "${targets[@]}"; do
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$parallel" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true
failed=0
for t in "${targets[@]}"; do
  cat "$build/fuzz-work/$t/summary.txt"
  [ ! -e "$build/fuzz-work/$t/FAILED" ] || failed=1
done
exit $failed
