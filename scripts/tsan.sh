#!/usr/bin/env bash
# The concurrency tests under ThreadSanitizer (build-tsan/): server_unit_test — thread pool,
# batcher, model repository (polling, hot reload, drain), drain gate — and thread_team_test (the
# fast engine's intra-op threads), built with
# THEANO_SERVING_SANITIZE_THREAD=ON against an Abseil built with -fsanitize=thread
# (scripts/build_absl_tsan.sh, cached outside the repository), so absl::Mutex is seen by TSan.
#   scripts/tsan.sh [ctest args...]
# Not the gRPC layer: Debian's gRPC and protobuf are not instrumented (and link Debian's own
# Abseil), so their internal synchronisation would be invisible to TSan; those paths run under
# ASan + UBSan (scripts/sanitize.sh) and in the soak. Any report fails the run; the only suppression
# (scripts/tsan_suppressions.txt) is a documented false positive inside Abseil's own Mutex.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
absl_prefix=$(scripts/build_absl_tsan.sh | tail -n1)
cmake -S . -B "${BUILD_DIR:-build-tsan}" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTHEANO_SERVING_SANITIZE_THREAD=ON -Dabsl_DIR="$absl_prefix/lib/cmake/absl" >/dev/null
# The CMake cache must not have kept Debian's Abseil (a build dir configured before).
if [ "$(sed -n 's/^absl_DIR:[A-Z]*=//p' "${BUILD_DIR:-build-tsan}/CMakeCache.txt")" != "$absl_prefix/lib/cmake/absl" ]; then
  echo "scripts/tsan.sh: ${BUILD_DIR:-build-tsan} does not use $absl_prefix; remove it" >&2
  exit 1
fi
cmake --build "${BUILD_DIR:-build-tsan}" -j"${JOBS:-$(nproc)}" --target server_unit_test thread_team_test
# halt_on_error: the first report fails the test that produced it. second_deadlock_stack: both
# stacks for lock-order reports.
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:history_size=4:suppressions=$PWD/scripts/tsan_suppressions.txt:print_suppressions=0"
# Every test runs in seconds here, so a hang fails after 300 s rather than holding CI for 900.
# Every test suite of server_unit_test and thread_team_test (the other tests configured in
# build-tsan are not built).
suites=$(for t in server_unit_test thread_team_test; do "${BUILD_DIR:-build-tsan}/bin/$t" --gtest_list_tests; done | sed -n 's/^\([A-Za-z0-9_]*\)\.$/\1/p' | paste -sd'|')
ctest --test-dir "${BUILD_DIR:-build-tsan}" --output-on-failure -j"$(nproc)" --timeout 300 \
  -R "^($suites)\." "$@"
