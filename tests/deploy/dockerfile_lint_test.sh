#!/usr/bin/env bash
# Lints the Dockerfile offline with dockerlinter 2.0.0 (its RUN lines through Debian's shellcheck);
# any finding, even `info`, fails. Needs the ctest fixture deploy_npm (tests/deploy/npm_install.sh).
#
#   tests/deploy/dockerfile_lint_test.sh [BUILD_DIR]
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
NPM_DIR=$(ts_build_dir "${1:-}")/deploy-npm
LINTER=$NPM_DIR/node_modules/dockerlinter/bin/dockerfilelinter.js
[ -f "$LINTER" ] || {
  echo "FAIL: $LINTER missing; run tests/deploy/npm_install.sh" >&2
  exit 1
}
# Ignored: ER0012 "pin versions in apt-get install". The image follows Debian 12's stable packages
# (security updates included); exact version pins would break the build at every point release.
node "$LINTER" -f "$TS_ROOT/Dockerfile" -s bash -e info -i ER0012
echo "dockerfile_lint_test: Dockerfile clean"
