# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Sourced by every script: where things are, and which kernel we target.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The target kernel is chosen in one place: scripts/kernel-version (first line
# that is neither empty nor a comment). MIRROR_KVER overrides it.
KVER=${MIRROR_KVER:-$(awk '!/^[[:space:]]*(#|$)/ { print $1; exit }' "$REPO/scripts/kernel-version")}
KDIR=${MIRROR_KDIR:-/usr/src/linux-headers-$KVER}
# The cache (downloaded kernel, initramfs) lives outside the repository.
CACHE=${MIRROR_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mirrorverbs}
BUILD=${MIRROR_BUILD:-$REPO/build}
export REPO KVER KDIR CACHE BUILD

mirror_die() {
	echo "mirrorverbs: $*" >&2
	exit 1
}

[ -n "$KVER" ] || mirror_die "no kernel version in $REPO/scripts/kernel-version"
