#!/usr/bin/env bash
# Sourced by scripts/build_image.sh and tests/deploy/*.sh: podman settings that work on a host
# without a Docker engine (Debian 12 podman as root; see deploy/podman/containers.conf).
#
#   . scripts/container_env.sh
#   ts_container_check || exit 77     # podman (and runc) present and usable
#
# Respects a CONTAINERS_CONF already set by the caller.
TS_ROOT=${TS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$TS_ROOT/deploy/podman/containers.conf}
# The apt sources of the host, mounted read-only into RUN steps (the image never stores them).
TS_APT_SOURCES=${TS_APT_SOURCES:-/etc/apt/sources.list.d/debian.sources}

# ts_container_check: 0 when podman can be used here, else a reason on stderr and 1.
ts_container_check() {
  local tool
  for tool in podman runc; do
    if ! command -v "$tool" > /dev/null; then
      echo "$tool not installed (apt-get install podman buildah runc debootstrap)" >&2
      return 1
    fi
  done
  if [ "$(id -u)" -ne 0 ]; then
    echo "the container build runs podman as root" >&2
    return 1
  fi
}
