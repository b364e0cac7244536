#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/), UBSan
# halting on the first error (-fno-sanitize-recover=all), LeakSanitizer on. The integration tests
# start build-asan/bin/theano-serving, so the server runs instrumented too, and a sanitizer report
# in it fails the test that started it (it aborts; at SIGTERM a leak makes its exit status 23).
#   scripts/sanitize.sh [ctest args...]        e.g. scripts/sanitize.sh -L unit
# ThreadSanitizer is a separate step (scripts/tsan.sh): it needs an Abseil built with TSan.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTHEANO_SERVING_SANITIZE=ON \
  "-DCMAKE_CXX_FLAGS=-fno-sanitize-recover=all" \
  >/dev/null
cmake --build build-asan -j"${JOBS:-$(nproc)}"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=0:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# OpenBLAS, the libblas/liblapack alternative since libopenblas-dev is installed (benchmarks), is
# loaded into every process through OpenCV; with it, the instrumented server's civetweb worker
# overflows its stack in vsnprintf on the first GET /metrics (reference BLAS: no overflow; the
# uninstrumented build: none either). Our code calls no BLAS, so the ASan run loads Debian's
# reference BLAS instead (docs/RELIABILITY.md, finding 9).
for d in /usr/lib/x86_64-linux-gnu/blas /usr/lib/x86_64-linux-gnu/lapack; do
  if [ -e "$d/libblas.so.3" ] || [ -e "$d/liblapack.so.3" ]; then
    export LD_LIBRARY_PATH="$d${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
done
# The soak (label soak) is a load test: under ASan its latency figures mean nothing; the container
# test (label container) builds its own image, which does not use this build.
ctest --test-dir build-asan --output-on-failure -j"$(nproc)" --timeout 900 -LE "soak|container" "$@"
