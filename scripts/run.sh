#!/usr/bin/env bash
# Quick start: install what serving needs (scripts/install_deps.sh build), build the serving
# targets only — the server, the CLI, the model tool and the importer — and run the gRPC service on
# the embedded default model (models/fashion_lenet) on ports 8500 (gRPC) and 8502 (/metrics).
# Extra arguments go to theano-serving (e.g. --model_repository=DIR, --grpc_port=9000).
# Tests, fuzzers and benchmarks are scripts/test.sh's: it installs and builds everything.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh build
# A first configure of build/ leaves tests and benchmarks out (their packages may be missing);
# a build/ that scripts/build.sh configured keeps its options (regenerated only if CMake files
# changed), so test.sh and run.sh share it without reconfiguring each other.
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" \
    -DTHEANO_SERVING_BUILD_TESTS=OFF -DTHEANO_SERVING_BUILD_BENCHMARKS=OFF >/dev/null
else
  ninja -C build build.ninja >/dev/null
fi
# The importer (tools/importer) is a target only in trees that have it.
IMPORTER_TARGET=theano-serving-import
targets=(theano-serving theano-serving-cli theano-serving-model)
if ninja -C build -t query "$IMPORTER_TARGET" >/dev/null 2>&1; then
  targets+=("$IMPORTER_TARGET")
fi
ninja -C build -j"$(nproc)" "${targets[@]}"
cat <<'TXT'
Starting theano-serving on the embedded model (Ctrl-C drains and stops it). From another shell:
  build/bin/theano-serving-cli classify --server 127.0.0.1:8500 models/fashion_lenet/samples/
  build/bin/theano-serving-cli health --server 127.0.0.1:8500
  curl -s 127.0.0.1:8502/metrics | grep theano_serving_requests_total
TXT
exec build/bin/theano-serving --insecure "$@"
