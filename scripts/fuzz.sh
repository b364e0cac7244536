#!/usr/bin/env bash
# CI's bounded fuzzing: every libFuzzer target (tests/fuzz/) for FUZZ_SECONDS (default 45) of one
# core each, two at a time on CI's 2 cores (about 2.5 min after a 4-5 min build of build-fuzz/).
# Fails on any finding; the input is then kept in tests/fuzz/regressions/<target>/ (and printed in
# base64 in the log), where ctest replays it on every build once committed.
#   scripts/fuzz.sh                       # what CI runs
#   FUZZ_SECONDS=3600 scripts/fuzz.sh     # longer; or tests/fuzz/run.sh 3600 fuzz_v2_infer
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
FUZZ_PARALLEL=${FUZZ_PARALLEL:-2} exec tests/fuzz/run.sh "${FUZZ_SECONDS:-45}" "$@"
