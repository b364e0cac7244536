#!/usr/bin/env bash
# Builds the container image from the Dockerfile with podman on a host without a Docker engine
# (Debian 12, as root): makes the debian:bookworm base locally if missing (scripts/container_base.sh),
# then `podman build` with the host's apt sources mounted read-only into the RUN steps.
#
#   scripts/build_image.sh [TAG]          (default TAG: theano-serving:latest)
#
# Where Docker is available, `docker build -t theano-serving .` builds the same image.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=container_env.sh
. scripts/container_env.sh
ts_container_check
TAG=${1:-theano-serving:latest}

scripts/container_base.sh debian:bookworm

mounts=(-v "$TS_APT_SOURCES:$TS_APT_SOURCES:ro")
# Options of the host's apt that the mirror needs (e.g. a snapshot mirror with expired Release
# files): derived from `apt-config dump` at run time, mounted read-only like the sources.
APT_CONF=$(mktemp /tmp/ts-apt-conf.XXXXXX)
trap 'rm -f "$APT_CONF"' EXIT
apt-config dump 2> /dev/null | grep -E '^Acquire::(Check-Valid-Until|Check-Date) ' > "$APT_CONF" || true
chmod 644 "$APT_CONF"
if [ -s "$APT_CONF" ]; then
  mounts+=(-v "$APT_CONF:/etc/apt/apt.conf.d/99host-mirror:ro")
fi

start=$SECONDS
podman build --format docker --pull=never "${mounts[@]}" -t "$TAG" -f Dockerfile .
echo "image $TAG: built in $((SECONDS - start)) s, $(podman image inspect --format '{{.Size}}' "$TAG") bytes"
