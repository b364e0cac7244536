#!/usr/bin/env bash
# ctest fixture `deploy_npm`: installs the offline validators pinned in tests/deploy/package.json and
# package-lock.json (dockerlinter, kubernetes-models, @kubernetes-models/validate, yaml) into
# BUILD_DIR/deploy-npm, once per lock file. --ignore-scripts: dockerlinter's postinstall would
# download a shellcheck binary; Debian's /usr/bin/shellcheck is used instead.
#
#   tests/deploy/npm_install.sh [BUILD_DIR]      prints nothing else on success
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NPM_DIR=$(ts_build_dir "${1:-}")/deploy-npm
for tool in node npm shellcheck; do
  command -v "$tool" > /dev/null || {
    echo "FAIL: $tool not installed (scripts/install_deps.sh)" >&2
    exit 1
  }
done
mkdir -p "$NPM_DIR"
if cmp -s "$TS_ROOT/tests/deploy/package-lock.json" "$NPM_DIR/installed.lock" &&
  [ -d "$NPM_DIR/node_modules/dockerlinter" ]; then
  echo "deploy-npm: up to date in $NPM_DIR"
  exit 0
fi
cp "$TS_ROOT/tests/deploy/package.json" "$TS_ROOT/tests/deploy/package-lock.json" "$NPM_DIR/"
(cd "$NPM_DIR" && timeout 300 npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
cp "$TS_ROOT/tests/deploy/package-lock.json" "$NPM_DIR/installed.lock"
echo "deploy-npm: installed in $NPM_DIR"
