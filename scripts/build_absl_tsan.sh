#!/usr/bin/env bash
# Builds Abseil with -fsanitize=thread for scripts/tsan.sh, from Debian's own source package of the
# libabsl-dev that is installed (same version, same Debian patches), into a cache directory outside
# the repository. A machine builds it once (about 4 min on 2 cores); later runs find it and return.
#   scripts/build_absl_tsan.sh            # prints the install prefix on its last line
# Why: Debian's libabsl_synchronization.so is not instrumented, so ThreadSanitizer never sees
# absl::Mutex lock/unlock and reports every access it guards (docs/RELIABILITY.md).
# Cache: ${THEANO_SERVING_CACHE:-$HOME/.cache/theano-serving}/absl-tsan-<version>.
set -euo pipefail

version=$(dpkg-query -W -f='${source:Version}' libabsl-dev)
cache=${THEANO_SERVING_CACHE:-$HOME/.cache/theano-serving}
prefix=$cache/absl-tsan-$version
if [ -f "$prefix/.complete" ]; then
  echo "$prefix"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# `apt-get source` needs deb-src lines for bookworm (Debian's own archive, the one already used for
# binary packages) and dpkg-source (dpkg-dev).
src_list=/etc/apt/sources.list.d/theano-serving-deb-src.sources
if ! grep -rqs "^Types:.*deb-src" /etc/apt/sources.list.d/ && ! grep -qs "^deb-src" /etc/apt/sources.list; then
  echo "build_absl_tsan.sh: adding $src_list" >&2
  $SUDO tee "$src_list" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  $SUDO apt-get update -qq
fi
if ! command -v dpkg-source >/dev/null; then
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev
fi

work=$cache/absl-tsan-work
rm -rf "$work"
mkdir -p "$work"
(cd "$work" && apt-get source -qq "abseil=$version" >/dev/null 2>&1) || {
  # The exact version may have left the archive after an upgrade of libabsl-dev: take the current one.
  echo "build_absl_tsan.sh: abseil=$version not available as source; using the archive's" >&2
  (cd "$work" && apt-get source -qq abseil >/dev/null)
}
src=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'abseil-*' | head -n1)

# Static, position-independent, the same C++ standard as the project (Debian's rules use 17, which
# also makes absl::string_view etc. the std types, as in libabsl-dev's options.h).
cmake -S "$src" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON -DBUILD_SHARED_LIBS=OFF \
  -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_TESTING=OFF -DABSL_BUILD_TESTING=OFF \
  "-DCMAKE_CXX_FLAGS=-fsanitize=thread -fno-omit-frame-pointer" \
  -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
cmake --build "$work/build" -j"${JOBS:-$(nproc)}" >/dev/null
cmake --install "$work/build" >/dev/null
rm -rf "$work"
touch "$prefix/.complete"
echo "$prefix"
