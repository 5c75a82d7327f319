#!/usr/bin/env bash
# Make sure the node image's base (a Debian bookworm root file system) exists in the engine.
#
# Order: the image is already there -> nothing to do; `docker pull debian:bookworm-slim`
# works -> tag it; otherwise build a minimal bookworm with debootstrap from the Debian mirror
# and `docker import` it (no image registry needed, about 40 s).
#
# Usage: build-base-image.sh [IMAGE]   (default bunkhouse/debian-base:bookworm)
# Environment: BUNKHOUSE_DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

image=${1:-bunkhouse/debian-base:bookworm}
mirror=${BUNKHOUSE_DEBIAN_MIRROR:-http://deb.debian.org/debian}

say() { printf 'build-base-image: %s\n' "$*" >&2; }

if docker image inspect "$image" >/dev/null 2>&1; then
    exit 0
fi

if timeout 30 docker pull -q debian:bookworm-slim >/dev/null 2>&1; then
    docker tag debian:bookworm-slim "$image"
    say "tagged debian:bookworm-slim as $image"
    exit 0
fi

say "no registry reachable: building $image with debootstrap from $mirror"
if ! command -v debootstrap >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    else
        say "debootstrap is missing: install it (apt-get install debootstrap) and run this again."
        exit 1
    fi
fi

rootfs=$(mktemp -d /tmp/bunkhouse-rootfs.XXXXXX)
trap 'rm -rf "$rootfs"' EXIT
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
    say "debootstrap failed; last lines of $rootfs.log:"; tail -n 20 "$rootfs.log" >&2; exit 1; }
rm -f "$rootfs.log"
# Leave no package lists or caches in the image; the node image's build fetches fresh ones.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
tar -C "$rootfs" -c . | docker import --change 'CMD ["/bin/bash"]' - "$image" >/dev/null
say "imported $image"
