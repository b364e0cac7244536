#!/usr/bin/env bash
# Validates deploy/ offline: Kubernetes manifests against the kubernetes-models 4.x schemas plus the
# rules in tests/deploy/validate_deploy.mjs, and compose/Prometheus/Grafana consistency. Needs the
# ctest fixture deploy_npm (tests/deploy/npm_install.sh).
#
#   tests/deploy/deploy_validate_test.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NPM_DIR=$(ts_build_dir "${1:-}")/deploy-npm
[ -d "$NPM_DIR/node_modules/kubernetes-models" ] || {
  echo "FAIL: $NPM_DIR/node_modules missing; run tests/deploy/npm_install.sh" >&2
  exit 1
}
# Run from the npm folder so that its node_modules resolve.
cp "$TS_ROOT/tests/deploy/validate_deploy.mjs" "$NPM_DIR/validate_deploy.mjs"
node "$NPM_DIR/validate_deploy.mjs" "$TS_ROOT"
