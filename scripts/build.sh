#!/usr/bin/env bash
# Configures and builds everything into build/ (binaries in build/bin/), the tests and benchmarks
# included (their correctness smoke tests are the ctest label `bench`; the timed runs are
# scripts/bench_*.sh). Tests are switched on explicitly: scripts/run.sh may have configured build/
# without them.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
  -DTHEANO_SERVING_BUILD_TESTS=ON -DTHEANO_SERVING_BUILD_BENCHMARKS=ON "$@" >/dev/null
ninja -C build -j"$(nproc)"
