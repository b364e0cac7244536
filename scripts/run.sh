#!/usr/bin/env bash
# Quick start: install what is missing, build, and run the gRPC service on the embedded default
# model (models/fashion_lenet) on ports 8500 (gRPC) and 8502 (Prometheus /metrics).
# Extra arguments go to theano-serving (e.g. --model_repository=DIR, --grpc_port=9000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
cat <<'TXT'
Starting theano-serving on the embedded model (Ctrl-C drains and stops it). From another shell:
  build/bin/theano-serving-cli classify --server 127.0.0.1:8500 models/fashion_lenet/samples/
  build/bin/theano-serving-cli health --server 127.0.0.1:8500
  curl -s 127.0.0.1:8502/metrics | grep theano_serving_requests_total
TXT
exec build/bin/theano-serving --insecure "$@"
