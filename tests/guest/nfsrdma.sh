#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# NFS over RDMA on mirror devices: the kernel NFS server (nfsd with its
# RDMA transport, svcrdma) exports a tmpfs directory on port 20049, and
# the kernel client mounts it with proto=rdma (xprtrdma). The client
# registers its buffers with fast registration (IB_WR_REG_MR) and ends
# the registrations with IB_WR_LOCAL_INV, or has the server end them
# with a SEND with Invalidate. Files of random data are written through
# the mount (O_DIRECT, so that every byte crosses the transport), read
# back after the client's cache is dropped, and compared with the
# server's copy.
#   nfsrdma.sh             server and client on this guest's mirror0
#   nfsrdma.sh (two hosts) under 'mirror-vm --hosts 2': the server on
#                          host b, the client on a: over RoCEv2
set -u
. "$(dirname "$0")/lib.sh"

EXP=/dev/shm/mirror-nfs-export
MNT=/tmp/mirror-nfs-mnt
RDMA_PORT=20049

if [ -n "${MIRROR_PEER:-}" ]; then
	SRV=peer
	SADDR=$MIRROR_PEER
	echo "# server on host b ($SADDR), client on a, over RoCEv2"
else
	SRV=here
	SADDR=10.11.0.1	# veth0's, mirror0's link in a single guest
	echo "# server and client on $MIRROR_RDMA_DEV ($SADDR)"
fi

for m in nfsd rpcrdma; do
	if ! modprobe -n "$m" 2>/dev/null || ! at "$SRV" modprobe -n "$m" 2>/dev/null; then
		echo "# SKIP: kernel $(uname -r) has no $m module"
		exit 77
	fi
done
for t in rpc.nfsd rpc.mountd rpcbind exportfs mount.nfs; do
	if ! command -v "$t" >/dev/null; then
		echo "# SKIP: $t is missing (scripts/install-deps installs nfs-kernel-server)"
		exit 77
	fi
done

# server_up: nfsd with an RDMA listener on $SADDR's port 20049, exporting
# $EXP (NFSv4 only; a 10 s grace period instead of 90). The guest's root
# is the host's, read-only where it matters: the NFS state goes to tmpfs.
server_up() {
	at "$SRV" bash -c "$SERVER_UP" - "$EXP" "$RDMA_PORT"
}
SERVER_UP=$(cat <<'EOF'
set -e
exp=$1 port=$2
modprobe -a nfsd rpcrdma
mkdir -p "$exp" /run/rpcbind /var/lib/nfs/rpc_pipefs /var/lib/nfs/v4recovery
mountpoint -q /var/lib/nfs || mount -t tmpfs nfsstate /var/lib/nfs
mkdir -p /var/lib/nfs/rpc_pipefs /var/lib/nfs/v4recovery
: >/var/lib/nfs/etab
: >/var/lib/nfs/rmtab
mountpoint -q /proc/fs/nfsd || mount -t nfsd nfsd /proc/fs/nfsd
mountpoint -q /var/lib/nfs/rpc_pipefs || mount -t rpc_pipefs sunrpc /var/lib/nfs/rpc_pipefs
echo 10 >/proc/fs/nfsd/nfsv4leasetime
echo 10 >/proc/fs/nfsd/nfsv4gracetime
pgrep -x rpcbind >/dev/null || rpcbind -w
exportfs -o rw,no_root_squash,insecure,fsid=0,no_subtree_check "*:$exp"
pgrep -x rpc.mountd >/dev/null || rpc.mountd -N 3
rpc.nfsd -N 3 4
echo "rdma $port" >/proc/fs/nfsd/portlist
grep -q "rdma $port" /proc/fs/nfsd/portlist
EOF
)

server_down() {
	at "$SRV" bash -c "$SERVER_DOWN" - "$EXP"
}
SERVER_DOWN=$(cat <<'EOF'
exp=$1
rpc.nfsd 0
exportfs -ua
pkill -x rpc.mountd
pkill -x rpcbind
umount /var/lib/nfs/rpc_pipefs /proc/fs/nfsd 2>/dev/null
umount /var/lib/nfs 2>/dev/null
rm -rf "$exp"
sleep 1
modprobe -r rpcrdma 2>/dev/null
true
EOF
)

# The client's grace period ends 10 s after the server started: mount and
# create retry until then.
mount_rdma() {
	mkdir -p "$MNT" &&
		modprobe rpcrdma &&
		mount -t nfs -o vers=4.2,proto=rdma,port=$RDMA_PORT,timeo=100 \
			"$SADDR:/" "$MNT" &&
		grep -q " $MNT nfs4 .*proto=rdma" /proc/mounts
}

# write_read NAME MB BS: a file of MB MiB of random data written with
# O_DIRECT in blocks of BS, read back (O_DIRECT) equal, and equal on the
# server.
write_read() {
	local name=$1 mb=$2 bs=$3 src=/tmp/nfs-src a b
	head -c $((mb << 20)) /dev/urandom >"$src"
	a=$(sha256sum <"$src" | cut -d' ' -f1)
	dd if="$src" of="$MNT/$name" bs="$bs" oflag=direct conv=fsync status=none ||
		return 1
	b=$(dd if="$MNT/$name" bs="$bs" iflag=direct status=none | sha256sum | cut -d' ' -f1)
	[ "$a" = "$b" ] || { echo "wrote $a, read $b"; return 1; }
	b=$(at "$SRV" sha256sum "$EXP/$name" | cut -d' ' -f1)
	[ "$a" = "$b" ] || { echo "wrote $a, server has $b"; return 1; }
}

# Buffered I/O too: many small files, then read back after the client
# dropped its cache.
small_files() {
	local i sums=/tmp/nfs-sums
	mkdir -p "$MNT/small" || return 1
	for i in $(seq 1 200); do
		head -c $((RANDOM * 3 + 1)) /dev/urandom >"$MNT/small/f$i" || return 1
	done
	sync
	(cd "$MNT/small" && sha256sum f*) >"$sums"
	echo 3 >/proc/sys/vm/drop_caches
	(cd "$MNT/small" && sha256sum -c --quiet "$sums") || return 1
	[ "$(at "$SRV" bash -c "cd $EXP/small && sha256sum f*" | sha256sum)" = \
		"$(sha256sum <"$sums")" ]
}

# io_round I N: writer I rewrites its own file with 256 KiB of random
# data and reads it back, both O_DIRECT (parallel_checked).
io_round() {
	head -c 262144 /dev/urandom >/tmp/nio.$1
	dd if=/tmp/nio.$1 of="$MNT/p$1" bs=256K oflag=direct status=none &&
		dd if="$MNT/p$1" of=/tmp/nio.$1.r bs=256K iflag=direct status=none &&
		cmp -s /tmp/nio.$1 /tmp/nio.$1.r
}

F0=$(frwr_counters "$MIRROR_RDMA_DEV")

check "nfsd on $SRV listens for RDMA on port $RDMA_PORT" server_up
check "mount -t nfs -o vers=4.2,proto=rdma $SADDR:/" \
	wait_for $((40 * ${MIRROR_TIME_SCALE:-1})) mount_rdma
check "the mount's transport is RC QPs of $MIRROR_RDMA_DEV" rc_qps_on "$MIRROR_RDMA_DEV"
check "4 MiB in 4 KiB direct writes, read back" write_read a 4 4K
check "16 MiB in 1 MiB direct writes, read back" write_read b 16 1M
check "200 small files, buffered, read back after a cache drop" small_files
check "4 parallel writers for 20 s, every file checked" \
	parallel_checked $((20 * ${MIRROR_TIME_SCALE:-1})) io_round
check "umount" umount "$MNT"
frwr_since "$MIRROR_RDMA_DEV" "$F0"
check "the client fast-registered its buffers" test "$REG" -gt 0
check "it ended registrations with LOCAL_INV" test "$LINV" -gt 0
check "no registration ended twice (REG_MR >= LOCAL_INV + remote)" \
	test "$REG" -ge $((LINV + RINV))
check "nfsd stopped" server_down
check_fails "no RC QP left on $MIRROR_RDMA_DEV" rc_qps_on "$MIRROR_RDMA_DEV"
finish
