# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Sourced by every script: where things are, and which kernel we target.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The target kernel is chosen in one place: scripts/kernel-version.
KVER=${MIRROR_KVER:-$(grep -v '^[[:space:]]*\(#\|$\)' "$REPO/scripts/kernel-version" | head -n1)}
KDIR=${MIRROR_KDIR:-/usr/src/linux-headers-$KVER}
CACHE=${MIRROR_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mirrorverbs}
BUILD=${MIRROR_BUILD:-$REPO/build}
export REPO KVER KDIR CACHE BUILD

mirror_die() {
	echo "mirrorverbs: $*" >&2
	exit 1
}
