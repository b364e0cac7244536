#!/usr/bin/env bash
# The soak of docs/RELIABILITY.md: builds soak_driver in BUILD_DIR (default build/, which must be
# configured with tests/soak attached) and runs it against that build's theano-serving.
#   tests/soak/run_soak.sh [--duration_s=180] [--clients=8] [--report=FILE]    # defaults below
# CI runs the ctest soak_faults_and_sigterm (label soak): --duration_s=100 --clients=4 --reload_s=5
set -euo pipefail
cd "$(dirname "$0")/../.."
build_dir=${BUILD_DIR:-build}
cmake --build "$build_dir" -j2 --target soak_driver theano-serving >/dev/null
exec "$build_dir/bin/soak_driver" --duration_s=180 --clients=8 "$@"
