#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# NVMe over Fabrics (RDMA) on mirror devices: the kernel's nvmet target
# exports a file-backed namespace through nvmet-rdma, and nvme-rdma (via
# nvme-cli) connects to it. nvme-rdma registers every data buffer with
# fast registration (ib_map_mr_sg(), IB_WR_REG_MR) and has the target
# invalidate it with a SEND with Invalidate, or invalidates it itself
# (IB_WR_LOCAL_INV); the target moves the data with RDMA READ and WRITE
# on the DMA MR. Random data goes through the block device and back, and
# is compared with what the target's file holds.
#   nvmeof.sh             target and host on this guest's mirror0: both
#                         ends of every QP on one device
#   nvmeof.sh (two hosts) under 'mirror-vm --hosts 2': the target on host
#                         b, the host side on a: over RoCEv2
# Both nvme-rdma and nvmet-rdma create their cm_ids in the initial network
# namespace, so one guest cannot put the two ends on two devices.
set -u
. "$(dirname "$0")/lib.sh"

NQN=nqn.2026-12.org.mirrorverbs:test
NVMET=/sys/kernel/config/nvmet
IMG=/dev/shm/mirror-nvmet.img
PORT=4420
MB=64

if [ -n "${MIRROR_PEER:-}" ]; then
	TGT=peer
	TADDR=$MIRROR_PEER
	echo "# target on host b ($TADDR), host side on a, over RoCEv2"
else
	TGT=here
	TADDR=10.11.0.1	# veth0's, mirror0's link in a single guest
	echo "# target and host side on $MIRROR_RDMA_DEV ($TADDR)"
fi

# A kernel built without NVMe over Fabrics skips the suite.
for m in nvmet-rdma nvme-rdma; do
	if ! modprobe -n "$m" 2>/dev/null ||
		! at "$TGT" modprobe -n "$m" 2>/dev/null; then
		echo "# SKIP: kernel $(uname -r) has no $m module"
		exit 77
	fi
done

# target_up: a subsystem with one namespace (a file of $MB MiB of random
# data) on an RDMA port at $TADDR.
# (Scripts go to the far end as an argument: mirror-peer passes no stdin.)
target_up() {
	at "$TGT" bash -c "$TARGET_UP" - "$NVMET" "$NQN" "$IMG" "$TADDR" "$PORT" "$MB"
}
TARGET_UP=$(cat <<'EOF'
set -e
nvmet=$1 nqn=$2 img=$3 addr=$4 port=$5 mb=$6
modprobe nvmet-rdma
mountpoint -q /sys/kernel/config || mount -t configfs none /sys/kernel/config
head -c $((mb << 20)) /dev/urandom >"$img"
mkdir "$nvmet/subsystems/$nqn"
echo 1 >"$nvmet/subsystems/$nqn/attr_allow_any_host"
mkdir "$nvmet/subsystems/$nqn/namespaces/1"
echo "$img" >"$nvmet/subsystems/$nqn/namespaces/1/device_path"
echo 1 >"$nvmet/subsystems/$nqn/namespaces/1/buffered_io"
echo 6d697272-6f72-7665-7262-730000000001 >"$nvmet/subsystems/$nqn/namespaces/1/device_uuid"
echo 1 >"$nvmet/subsystems/$nqn/namespaces/1/enable"
mkdir "$nvmet/ports/1"
echo rdma >"$nvmet/ports/1/addr_trtype"
echo ipv4 >"$nvmet/ports/1/addr_adrfam"
echo "$addr" >"$nvmet/ports/1/addr_traddr"
echo "$port" >"$nvmet/ports/1/addr_trsvcid"
ln -s "$nvmet/subsystems/$nqn" "$nvmet/ports/1/subsystems/$nqn"
EOF
)

target_down() {
	at "$TGT" bash -c "$TARGET_DOWN" - "$NVMET" "$NQN" "$IMG"
}
TARGET_DOWN=$(cat <<'EOF'
nvmet=$1 nqn=$2 img=$3
rm -f "$nvmet/ports/1/subsystems/$nqn"
rmdir "$nvmet/ports/1" 2>/dev/null
echo 0 >"$nvmet/subsystems/$nqn/namespaces/1/enable" 2>/dev/null
rmdir "$nvmet/subsystems/$nqn/namespaces/1" "$nvmet/subsystems/$nqn" 2>/dev/null
rm -f "$img"
modprobe -r nvmet-rdma nvmet
EOF
)

# The block device of our controller's namespace, once it is there: the
# subsystem's (nvmeXnY) for a path nvmeXcZnY (native multipath).
nvme_dev() {
	local c e n
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn" 2>/dev/null)" = "$NQN" ] || continue
		[ "$(cat "$c/transport")" = rdma ] || continue
		for e in "$c"/nvme*n*; do
			n=$(basename "$e")
			[[ $n =~ ^nvme([0-9]+)c[0-9]+n([0-9]+)$ ]] &&
				n=nvme${BASH_REMATCH[1]}n${BASH_REMATCH[2]}
			[ -b "/dev/$n" ] && { echo "/dev/$n"; return 0; }
		done
	done
	return 1
}

connect() {
	modprobe nvme-rdma &&
		nvme connect -t rdma -a "$TADDR" -s "$PORT" -n "$NQN" &&
		wait_for 30 nvme_dev || {
		echo "--- host side's kernel log:"; dmesg | grep -i "nvme\|rdma" | tail -15
		echo "--- target's kernel log:"; at "$TGT" dmesg | grep -i "nvme\|rdma" | tail -15
		return 1
	}
}

# The namespace reads back as the target's file holds it.
same_as_target() {
	local dev off=$1 len=$2 a b
	dev=$(nvme_dev) || return 1
	a=$(dd if="$dev" bs=1M skip="$off" count="$len" iflag=direct 2>/dev/null |
		sha256sum | cut -d' ' -f1)
	b=$(at "$TGT" dd if="$IMG" bs=1M skip="$off" count="$len" 2>/dev/null |
		sha256sum | cut -d' ' -f1)
	[ -n "$a" ] && [ "$a" = "$b" ] ||
		{ echo "device $a, target file $b"; return 1; }
}

# write_read OFF_MB LEN_MB BS: random data written at OFF_MB with direct
# I/O in blocks of BS, read back, equal; and on the target's file.
write_read() {
	local dev off=$1 len=$2 bs=$3 src=/tmp/nvme-src a b
	dev=$(nvme_dev) || return 1
	head -c $((len << 20)) /dev/urandom >"$src"
	dd if="$src" of="$dev" bs="$bs" seek=$((off << 20)) oflag=direct,seek_bytes \
		conv=fsync status=none || return 1
	a=$(sha256sum <"$src" | cut -d' ' -f1)
	b=$(dd if="$dev" bs="$bs" skip=$((off << 20)) count=$((len << 20)) \
		iflag=direct,skip_bytes,count_bytes status=none | sha256sum | cut -d' ' -f1)
	[ "$a" = "$b" ] || { echo "wrote $a, read $b"; return 1; }
	at "$TGT" sync
	b=$(at "$TGT" dd if="$IMG" bs=1M skip="$off" count="$len" status=none |
		sha256sum | cut -d' ' -f1)
	[ "$a" = "$b" ] || { echo "wrote $a, target file has $b"; return 1; }
}

# io_round I N: writer I's round N, a random 64 KiB block at one of its
# own 128 places (disjoint 8 MiB ranges), read back (parallel_checked).
io_round() {
	local dev off=$((($1 * 128 + $2 % 128) * 65536))
	dev=$(nvme_dev) || return 1
	head -c 65536 /dev/urandom >/tmp/pio.$1
	dd if=/tmp/pio.$1 of="$dev" bs=64K seek="$off" \
		oflag=direct,seek_bytes status=none &&
		dd if="$dev" of=/tmp/pio.$1.r bs=64K skip="$off" count=1 \
			iflag=direct,skip_bytes status=none &&
		cmp -s /tmp/pio.$1 /tmp/pio.$1.r
}

# connect_fast_fail: a controller that fails its I/O 2 s after it lost its
# target, and tries to reconnect every 2 s for 5 minutes. nvme-cli 2.3 has
# no option for fast_io_fail_tmo: the options go to the kernel's fabrics
# device as nvme connect writes them.
connect_fast_fail() {
	echo "transport=rdma,traddr=$TADDR,trsvcid=$PORT,nqn=$NQN,ctrl_loss_tmo=300,reconnect_delay=2,fast_io_fail_tmo=2" \
		>/dev/nvme-fabrics && wait_for 30 nvme_dev
}

# target_goes_away: host b deletes its device while a reader is busy on
# the namespace: the reader ends with an I/O error, no hang. (Each of the
# controller's reconnect attempts then waits for the CM's timeouts.)
target_goes_away() {
	local dev rd t0
	dev=$(nvme_dev) || return 1
	( while dd if="$dev" of=/dev/null bs=64K count=64 iflag=direct status=none; do :; done ) &
	rd=$!
	sleep 2
	t0=$SECONDS
	at "$TGT" rdma link del "$MIRROR_RDMA_DEV" || return 1
	if ! gone_within $((60 * ${MIRROR_TIME_SCALE:-1})) "$rd"; then
		pkill -P "$rd"
		kill "$rd"
		echo "the reader still runs $((SECONDS - t0)) s after the target's device went"
		return 1
	fi
	echo "# the reader ended $((SECONDS - t0)) s after the target's device went"
}

# The controller is connected (again).
ctrl_live() {
	local c
	for c in /sys/class/nvme/nvme*; do
		[ "$(cat "$c/subsysnqn" 2>/dev/null)" = "$NQN" ] &&
			[ "$(cat "$c/state")" = live ] && return 0
	done
	return 1
}

# target_comes_back: b's device and target back, the controller reconnects
# by itself.
target_comes_back() {
	local t0=$SECONDS
	at "$TGT" rdma link add "$MIRROR_RDMA_DEV" type mirror netdev "$TLINK" &&
		at "$TGT" bash -c "$(declare -f wait_for gid_index gid_lookup); wait_for 20 gid_index $MIRROR_RDMA_DEV $TADDR" ||
		return 1
	target_down >/dev/null 2>&1
	target_up || return 1
	wait_for $((150 * ${MIRROR_TIME_SCALE:-1})) ctrl_live ||
		{ echo "the controller did not reconnect"; return 1; }
	echo "# reconnected $((SECONDS - t0)) s after the device came back"
	wait_for 30 nvme_dev
}

disconnect() {
	nvme disconnect -n "$NQN" >/dev/null && ! nvme_dev
}

# What fast registration did: the kernel's MR pool of each queue is
# allocated at connect and freed at disconnect.
no_mrs_left() {
	! rdma resource show mr 2>/dev/null | grep -q "dev $MIRROR_RDMA_DEV "
}

# fast_reg: IB_WR_REG_MRs done; local_inv and remote_inv: registrations
# ended by IB_WR_LOCAL_INV and by the target's SEND with Invalidate.
F0=$(frwr_counters "$MIRROR_RDMA_DEV")
check "nvmet target on $TGT exports a namespace over RDMA" target_up
check "nvme connect -t rdma to $TADDR" connect
check "the controller's queues are RC QPs of $MIRROR_RDMA_DEV" rc_qps_on "$MIRROR_RDMA_DEV"
check "the namespace reads back as the target's file" same_as_target 0 8
check "4 KiB blocks: 1 MiB written and read back" write_read 8 1 4K
check "128 KiB blocks: 16 MiB written and read back" write_read 16 16 128K
check "1 MiB blocks: 16 MiB written and read back" write_read 32 16 1M
check "4 parallel writers for 20 s, every block checked" \
	parallel_checked $((20 * ${MIRROR_TIME_SCALE:-1})) io_round
check "nvme disconnect" disconnect
frwr_since "$MIRROR_RDMA_DEV" "$F0"
check "the data buffers were fast-registered" test "$REG" -gt 0
check "the target invalidated them remotely" test "$RINV" -gt 0
check "every registration was ended (REG_MR = LOCAL_INV + remote)" \
	test "$REG" -eq $((LINV + RINV))
if [ "$TGT" = peer ]; then
	TLINK=$(in_peer printenv MIRROR_LINK_DEV)
	check "connect again, to fail I/O 2 s after a loss" connect_fast_fail
	check "the target's device goes: I/O ends with an error" \
		target_goes_away
	check "the device back: the controller reconnects" target_comes_back
	check "1 MiB blocks: 8 MiB written and read back after it" write_read 0 8 1M
	check "nvme disconnect" disconnect
	# What was in flight when the target went stays registered.
	frwr_since "$MIRROR_RDMA_DEV" "$F0"
	check "no registration ended twice" test "$REG" -ge $((LINV + RINV))
else
	echo "# skip: the target's device going away (both ends are on it here)"
fi
check "no MR left on $MIRROR_RDMA_DEV" no_mrs_left
check "target down, nvmet-rdma unloaded" target_down
check "nvme-rdma unloads" modprobe -r nvme-rdma
finish
