# shellcheck shell=bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Sourced by every script: where things are, and which kernel we target.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The cache (downloaded kernel, initramfs) lives outside the repository.
CACHE=${MIRROR_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/mirrorverbs}
BUILD=${MIRROR_BUILD:-$REPO/build}
# Debian's kernels are listed in one place, scripts/kernel-version: name,
# release, use. MIRROR_KERNEL=NAME (what the --kernel flags set) picks one;
# the first is the default. MIRROR_KVER=RELEASE overrides the release.
mirror_kernels() {
	awk '!/^[[:space:]]*(#|$)/ { print $1, $2, $3 }' "$REPO/scripts/kernel-version"
}
DEFAULT_KVER=$(mirror_kernels | awk 'NR == 1 { print $2 }')
# The debug kernel (KASAN, lockdep, kmemleak) that scripts/build-debug-kernel
# builds from Debian's linux-source package, kept in the cache.
DEBUG_KERNEL=$CACHE/debug-kernel
export REPO CACHE BUILD DEFAULT_KVER DEBUG_KERNEL

mirror_die() {
	echo "mirrorverbs: $*" >&2
	exit 1
}

# The one switch between the two kernels: MIRROR_DEBUG_KERNEL=1 (what the
# --debug-kernel flags of mirror-vm and run-tests set) points everything at
# the debug build. Sets
#   KVER         the kernel release the guest boots and the module is built for
#   KDIR         the Kbuild tree the module is built against
#   KERNEL_TREE  a root holding boot/vmlinuz-$KVER and lib/modules/$KVER
#   MODULE_M     the M= folder of the module build (holds Kbuild and kernel/)
#   MODULE_KO    the module the guest loads
#   TIME_SCALE   how many times slower the guest runs than on Debian's kernel
# Called once below; mirror-vm calls it again after reading its flags.
mirror_select_kernel() {
	if [ "${MIRROR_DEBUG_KERNEL:-0}" = 1 ]; then
		# Empty until the debug kernel is built: only the scripts that
		# need it (mirror_need_kernel) complain.
		KVER=$(cat "$DEBUG_KERNEL/kernelrelease" 2>/dev/null || true)
		KDIR=$DEBUG_KERNEL/linux
		KERNEL_TREE=$DEBUG_KERNEL/install
		# Kbuild of 6.12 writes an external module's objects next to
		# its sources: a copy per checkout in the cache keeps the
		# Debian kernel's objects in kernel/ intact.
		MODULE_M=$CACHE/debug-module/${REPO//\//_}
		TIME_SCALE=${MIRROR_TIME_SCALE:-4}
	else
		if [ -n "${MIRROR_KVER:-}" ]; then
			KVER=$MIRROR_KVER
		elif [ -n "${MIRROR_KERNEL:-}" ]; then
			KVER=$(mirror_kernels | awk -v n="$MIRROR_KERNEL" '$1 == n { print $2 }')
			[ -n "$KVER" ] ||
				mirror_die "no kernel named '$MIRROR_KERNEL' in scripts/kernel-version"
		else
			KVER=$DEFAULT_KVER
		fi
		KDIR=${MIRROR_KDIR:-/usr/src/linux-headers-$KVER}
		KERNEL_TREE=$CACHE/kernel-$KVER
		# The default kernel's objects live next to the sources
		# (kernel/rdma_mirror.ko); every other kernel's in a copy in
		# the cache, as for the debug kernel.
		if [ "$KVER" = "$DEFAULT_KVER" ]; then
			MODULE_M=$REPO
		else
			MODULE_M=$CACHE/module-$KVER/${REPO//\//_}
		fi
		TIME_SCALE=${MIRROR_TIME_SCALE:-1}
	fi
	VMLINUZ=$KERNEL_TREE/boot/vmlinuz-$KVER
	MODULE_KO=$MODULE_M/kernel/rdma_mirror.ko
	export KVER KDIR KERNEL_TREE MODULE_M MODULE_KO TIME_SCALE VMLINUZ
}

# For the scripts that build for or boot the selected kernel.
mirror_need_kernel() {
	[ -n "$KVER" ] && return 0
	if [ "${MIRROR_DEBUG_KERNEL:-0}" = 1 ]; then
		mirror_die "the debug kernel is not built yet: run scripts/build-debug-kernel"
	fi
	mirror_die "no kernel version in $REPO/scripts/kernel-version"
}

[ -n "$DEFAULT_KVER" ] || mirror_die "no kernel in $REPO/scripts/kernel-version"
mirror_select_kernel
