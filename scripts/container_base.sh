#!/usr/bin/env bash
# Makes the base image debian:bookworm in podman's local store when it is not there yet, from the
# Debian mirror this host already uses (no container registry needed):
#   debootstrap --variant=minbase bookworm ROOTFS <mirror> | podman import - debian:bookworm
# The mirror URL is read from the host's apt sources at run time and written nowhere.
set -euo pipefail
. "$(dirname "$0")/container_env.sh"
ts_container_check
IMAGE=${1:-debian:bookworm}

if podman image exists "$IMAGE"; then
  echo "base image $IMAGE: present"
  exit 0
fi
command -v debootstrap > /dev/null || {
  echo "debootstrap not installed (apt-get install debootstrap)" >&2
  exit 1
}
# The first URIs of the deb822 sources file (Debian 12's default format), else of sources.list.
MIRROR=$(awk '/^URIs:/ { print $2; exit }' "$TS_APT_SOURCES" 2> /dev/null || true)
if [ -z "$MIRROR" ] && [ -f /etc/apt/sources.list ]; then
  MIRROR=$(awk '$1 == "deb" && $3 ~ /^bookworm$/ { print $2; exit }' /etc/apt/sources.list)
fi
[ -n "$MIRROR" ] || {
  echo "no Debian mirror found in $TS_APT_SOURCES or /etc/apt/sources.list" >&2
  exit 1
}

ROOTFS=$(mktemp -d /var/tmp/ts-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT
echo "base image $IMAGE: debootstrap --variant=minbase bookworm (a few minutes)"
start=$SECONDS
debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$ROOTFS.log" 2>&1 || {
  tail -n 30 "$ROOTFS.log" >&2
  rm -f "$ROOTFS.log"
  exit 1
}
rm -f "$ROOTFS.log"
# No package lists or caches in the image; RUN steps get the host's sources mounted read-only and
# run apt-get update themselves. The mirror debootstrap wrote must not stay in the image.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
: > "$ROOTFS/etc/apt/sources.list"
tar --numeric-owner -C "$ROOTFS" -c . | podman import - "$IMAGE" > /dev/null
echo "base image $IMAGE: imported in $((SECONDS - start)) s ($(podman image inspect --format '{{.Size}}' "$IMAGE") bytes)"
