#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# guest_packages: the Debian packages of scripts/build-debs, installed with
# dpkg into a guest that has neither the module loaded nor the build tree's
# provider, work as they would on a host: DKMS builds and installs the
# module for the running kernel (and for another kernel, as it does on a
# kernel update), 'rdma link add' loads it by its link alias, libibverbs
# loads the installed provider, a program built against libmirrorverbs-dev
# runs, traffic flows on the same device and over RoCEv2, and removing the
# packages takes everything away again.
#
# Usage (mirror-vm --no-mirror): packages.sh DEB_DIR
set -u
. "$(dirname "$0")/lib.sh"

DEBS=$1
KVER=$(uname -r)
EXAMPLES=$MIRROR_REPO/examples
ARCH=$(dpkg --print-architecture)
PROVIDER=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)/libibverbs/libmirror-rdmav34.so

# What linux-headers-$KVER gives a host: the build link DKMS builds against
# (the harness's Kbuild tree of this kernel: Debian's headers, or the debug
# kernel's build tree, which has no headers package).
ln -sfn "${MIRROR_KDIR:-/usr/src/linux-headers-$KVER}" "/lib/modules/$KVER/build"
# As apt-get would run dpkg; man-db's index update (minutes in the guest)
# is no part of what is tested.
export DEBIAN_FRONTEND=noninteractive
rm -f /var/lib/man-db/auto-update
# The harness points libibverbs at the build tree's provider; this guest
# must use the installed one only.
rm -f /etc/libibverbs.d/mirror.driver

check "the four packages were built" \
	test -e "$(echo "$DEBS"/rdma-mirror-dkms_*_all.deb)" \
	-a -e "$(echo "$DEBS"/ibverbs-provider-mirror_*_"$ARCH".deb)" \
	-a -e "$(echo "$DEBS"/libmirrorverbs1_*_"$ARCH".deb)" \
	-a -e "$(echo "$DEBS"/libmirrorverbs-dev_*_"$ARCH".deb)"
check "rdma_mirror is not loaded yet" sh -c '! grep -q "^rdma_mirror " /proc/modules'

# dpkg runs dkms (add, build, install) for the running kernel.
t0=$SECONDS
check "dpkg -i installs all four (DKMS builds the module)" \
	dpkg -i "$DEBS"/rdma-mirror-dkms_*_all.deb \
	"$DEBS"/ibverbs-provider-mirror_*_"$ARCH".deb \
	"$DEBS"/libmirrorverbs1_*_"$ARCH".deb "$DEBS"/libmirrorverbs-dev_*_"$ARCH".deb
echo "# dpkg -i with the DKMS build took $((SECONDS - t0)) s"
check "dkms status: installed for $KVER" \
	sh -c "dkms status rdma-mirror -k $KVER | grep -q ': installed'"
check "modinfo finds the DKMS module" \
	sh -c "modinfo -F filename rdma_mirror | grep -q '^/lib/modules/$KVER/updates/dkms/rdma_mirror.ko'"
check "the installed provider is libibverbs' own (driver mirror)" \
	sh -c "test -e $PROVIDER && grep -qx 'driver mirror' /etc/libibverbs.d/mirror.driver"

# 'rdma link add' loads the module through its alias rdma-link-mirror.
check "rdma link add loads rdma_mirror by its alias" \
	rdma link add mirror0 type mirror netdev veth0
check "mirror0 is an ibverbs device" sh -c "ibv_devices | grep -qw mirror0"
check "peer device mirror1 across the veth pair" peer_up mirror mirror1

GIDX=$(gid_index mirror0 10.11.0.1)
PGIDX=$(gid_index mirror1 10.11.0.2)
PORT=18600

# The pingpong server's maps name the provider libibverbs loaded.
provider_is_installed() {
	local pid
	pid=$(pgrep -f "ibv_rc_pingpong -d mirror0" | head -n1)
	[ -n "$pid" ] && grep -q " $PROVIDER\$" "/proc/$pid/maps"
}

# same-device: server on mirror0 here, client on mirror0 here;
# wire: server here, client on mirror1 in the peer namespace.
check "same device: ibv_rc_pingpong with data check" \
	pair here here tcp_listening $((PORT += 1)) \
	ibv_rc_pingpong -d mirror0 -g "$GIDX" -p $PORT -n 200 -c -- \
	ibv_rc_pingpong -d mirror0 -g "$GIDX" -p $PORT -n 200 -c localhost
check "same device: ibv_rc_pingpong ODP" \
	pair here here tcp_listening $((PORT += 1)) \
	ibv_rc_pingpong -d mirror0 -g "$GIDX" -p $PORT -n 200 -o -c -- \
	ibv_rc_pingpong -d mirror0 -g "$GIDX" -p $PORT -n 200 -o -c localhost
check "RoCEv2: ibv_rc_pingpong with data check" \
	pair here peer tcp_listening $((PORT += 1)) \
	ibv_rc_pingpong -d mirror0 -g "$GIDX" -p $PORT -n 200 -c -- \
	ibv_rc_pingpong -d mirror1 -g "$PGIDX" -p $PORT -n 200 -c 10.11.0.1

# Which provider did the server load? A fresh server, asked while it waits.
ibv_rc_pingpong -d mirror0 -g "$GIDX" -p $((PORT += 1)) >/dev/null 2>&1 &
srv=$!
check "libibverbs loaded the installed provider" wait_for 20 provider_is_installed
kill "$srv" 2>/dev/null
wait "$srv" 2>/dev/null

# A program built against the installed -dev package alone.
build_example() {
	# shellcheck disable=SC2046 # pkg-config's flags are meant to split
	gcc -O2 -Wall -Werror -o /tmp/implicit_write \
		"$EXAMPLES/mirror_implicit_write.c" -I"$EXAMPLES" \
		$(pkg-config --cflags --libs mirrorverbs)
}
check "mirrorverbs.pc and the header come from libmirrorverbs-dev" \
	sh -c "dpkg -S /usr/include/infiniband/mirrorverbs.h | grep -q '^libmirrorverbs-dev:' &&
		test \"\$(pkg-config --modversion mirrorverbs)\" = \
		\"\$(dpkg-query -W -f='\${Version}' libmirrorverbs-dev)\""
check "mirror_implicit_write builds with pkg-config mirrorverbs" build_example
check "mirror_implicit_write (implicit ODP) runs on mirror0" \
	timeout 120 /tmp/implicit_write -d mirror0
# The library the loader picks, whichever of /lib and /usr/lib it names.
installed_lib_used() {
	local lib
	lib=$(ldd /tmp/implicit_write | awk '$1 == "libmirrorverbs.so.1" { print $3 }')
	[ -n "$lib" ] && dpkg -S "$(readlink -f "$lib")" | grep -q '^libmirrorverbs1:'
}
check "it runs with the installed libmirrorverbs" installed_lib_used

# A kernel update: its postinst hook runs 'dkms autoinstall' for the new
# kernel; here the other kernel whose headers are installed.
other=$(find /usr/src -maxdepth 1 -name 'linux-headers-*-amd64' \
	! -name "linux-headers-$KVER" ! -name '*-rt-amd64' | sort | head -n1)
if [ -n "$other" ]; then
	okver=${other#/usr/src/linux-headers-}
	mkdir -p "/lib/modules/$okver"
	ln -sfn "$other" "/lib/modules/$okver/build"
	t0=$SECONDS
	check "kernel update: dkms autoinstall builds for $okver" \
		/etc/kernel/postinst.d/dkms "$okver"
	echo "# the DKMS build for $okver took $((SECONDS - t0)) s"
	check "the module for $okver is installed" \
		sh -c "modinfo -k $okver -F vermagic rdma_mirror | grep -q '^$okver '"
else
	echo "ok - # SKIP kernel update: no other kernel's headers on this host"
fi

# Removal takes the module and the provider away.
in_peer rdma link delete mirror1
rdma link delete mirror0
check "modprobe -r rdma_mirror" modprobe -r rdma_mirror
# --purge: dpkg -r keeps conffiles (mirror.driver), as for rdma-core's own.
check "dpkg --purge removes all four" dpkg --purge libmirrorverbs-dev \
	libmirrorverbs1 ibverbs-provider-mirror rdma-mirror-dkms
check "the module is gone" sh -c "! modinfo -k $KVER rdma_mirror"
check "the provider and its driver file are gone" \
	sh -c "! test -e $PROVIDER && ! test -e /etc/libibverbs.d/mirror.driver"
check "dkms knows no rdma-mirror" sh -c "test -z \"\$(dkms status rdma-mirror)\""
finish
