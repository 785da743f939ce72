#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# mirrorverbs against Soft-RoCE over a real link: rdma_rxe's rxe0 on veth0
# here (rxe binds UDP 4791 in this namespace), our mirror1 on veth1 in
# another namespace. Both directions: each side serves once, connects once.
# Run with 'mirror-vm --no-mirror': the script sets both devices up.
set -u
. "$(dirname "$0")/lib.sh"

PORT=18800
# perftest's defaults on both sides (ibv_create_qp_ex with ibv_wr_*).
PT_FLAGS=()
PEER=10.11.0.2	# mirror1
HERE=10.11.0.1	# rxe0

# pp_to_mirror TOOL ARGS: server on mirror1 (peer), client on rxe0.
pp_to_mirror() {
	local tool=$1
	shift
	PORT=$((PORT + 1))
	pair peer here tcp_listening "$PORT" \
		"$tool" -d mirror1 -g "$GM" -p "$PORT" "$@" -- \
		"$tool" -d rxe0 -g "$GR" -p "$PORT" "$@" "$PEER"
}

# pp_to_rxe TOOL ARGS: server on rxe0 (here), client on mirror1 (peer).
pp_to_rxe() {
	local tool=$1
	shift
	PORT=$((PORT + 1))
	pair here peer tcp_listening "$PORT" \
		"$tool" -d rxe0 -g "$GR" -p "$PORT" "$@" -- \
		"$tool" -d mirror1 -g "$GM" -p "$PORT" "$@" "$HERE"
}

# perftest flavours of the two directions: -x instead of -g, -s 65536.
pp_to_mirror_pt() {
	PORT=$((PORT + 1))
	perf_pair peer here tcp_listening "$PORT" \
		"$1" -d mirror1 -x "$GM" -p "$PORT" -s 65536 -n 200 "${PT_FLAGS[@]}" -- \
		"$1" -d rxe0 -x "$GR" -p "$PORT" -s 65536 -n 200 "${PT_FLAGS[@]}" "$PEER"
}

pp_to_rxe_pt() {
	PORT=$((PORT + 1))
	perf_pair here peer tcp_listening "$PORT" \
		"$1" -d rxe0 -x "$GR" -p "$PORT" -s 65536 -n 200 "${PT_FLAGS[@]}" -- \
		"$1" -d mirror1 -x "$GM" -p "$PORT" -s 65536 -n 200 "${PT_FLAGS[@]}" "$HERE"
}

rping_to_mirror() {
	PORT=$((PORT + 1))
	pair peer here cm_listening "$PORT" \
		rping -s -a "$PEER" -p "$PORT" -C 20 -v -V -- \
		rping -c -a "$PEER" -p "$PORT" -C 20 -V &&
		[ "$(grep -c "server ping data" /tmp/srv.log)" -eq 20 ]
}

rping_to_rxe() {
	PORT=$((PORT + 1))
	pair here peer cm_listening "$PORT" \
		rping -s -a "$HERE" -p "$PORT" -C 20 -v -V -- \
		rping -c -a "$HERE" -p "$PORT" -C 20 -V &&
		[ "$(grep -c "server ping data" /tmp/srv.log)" -eq 20 ]
}

check "rdma_rxe loaded" modprobe rdma_rxe
check "rxe0 on veth0" rdma link add rxe0 type rxe netdev veth0
check "rdma_mirror loaded" insmod "$MIRROR_KO"
check "mirror1 up in its own namespace" peer_up mirror mirror1
check "rxe0 GID" wait_for 20 gid_index rxe0 "$HERE"
GR=$(gid_index rxe0 "$HERE")
GM=$(gid_index mirror1 "$PEER")

for t in rc uc ud; do
	check "ibv_${t}_pingpong rxe0 -> mirror1, data check" \
		pp_to_mirror "ibv_${t}_pingpong" -n 100 -c
	check "ibv_${t}_pingpong mirror1 -> rxe0, data check" \
		pp_to_rxe "ibv_${t}_pingpong" -n 100 -c
done
check "ibv_rc_pingpong 16 KiB rxe0 -> mirror1" \
	pp_to_mirror ibv_rc_pingpong -n 50 -s 16384 -c
check "ibv_rc_pingpong 16 KiB mirror1 -> rxe0" \
	pp_to_rxe ibv_rc_pingpong -n 50 -s 16384 -c
check "rping -V rxe0 -> mirror1" rping_to_mirror
check "rping -V mirror1 -> rxe0" rping_to_rxe
# perftest both ways: each run must complete on both ends (perftest's
# bandwidth tools have no data check; the pingpongs above verify bytes).
for t in ib_write_bw ib_read_bw ib_send_bw; do
	check "$t rxe0 -> mirror1" pp_to_mirror_pt "$t"
	check "$t mirror1 -> rxe0" pp_to_rxe_pt "$t"
done
# ATOMIC WRITE both ways, with the data suite's own cases (placed, and
# refused: misaligned, no remote write). rdma_rxe answers it with an empty
# READ response and takes nothing else; we answer the same way. rxe (6.12)
# has no ODP, so the cases into ODP memory stay in guest_data_wire.
aw_cases() {
	"$MIRROR_BUILD/tests/guest/mirror_data_test" -d "$1" -W "$2" -v \
		rc_atomic_write_stores_8_bytes rc_misaligned_atomic_write \
		rc_atomic_write_without_remote_write
}
# rxe's ATOMIC WRITE came with Linux 6.2: its device says so (bit 40 of
# device_cap_flags_ex, IB_DEVICE_ATOMIC_WRITE).
rxe_caps=$(ibv_devinfo -v -d rxe0 | awk '/device_cap_flags_ex:/ { print $2 }')
aw_dir() {
	local name="ATOMIC WRITE $1 -> $2: stored, misaligned, no remote write"

	if (( ${rxe_caps:-0} & (1 << 40) )); then
		check "$name" aw_cases "$1" "$2"
	else
		echo "ok - $name # SKIP rdma_rxe of $(uname -r) has no ATOMIC WRITE (device_cap_flags_ex ${rxe_caps:-unread})"
	fi
}
aw_dir mirror1 rxe0
aw_dir rxe0 mirror1
# FLUSH cannot pass between the two. rdma_rxe's opcode table gives FLUSH no
# payload offset, so rxe computes the ICRC of a FLUSH over its headers
# twice and silently drops one whose ICRC is right (rcvd_pkts stays 0; rxe
# talks FLUSH to rxe only); and rdma-core 44 has no ibv_wr_flush(), so rxe0
# cannot post one.
echo "ok - FLUSH mirror1 -> rxe0 # SKIP rdma_rxe drops a FLUSH whose ICRC is right (its own FLUSH ICRC covers the headers twice)"
echo "ok - FLUSH rxe0 -> mirror1 # SKIP rdma-core 44's libibverbs has no ibv_wr_flush(): rxe0 cannot post one"
# IPv6 GIDs: rdma_rxe checks our IPv6 ICRC and we check its.
ip6_up() {
	ip addr add fd11::1/64 dev veth0 nodad &&
		in_peer ip addr add fd11::2/64 dev veth1 nodad &&
		wait_for 20 gid_index6 rxe0 fd11:0000:0000:0000:0000:0000:0000:0001 &&
		wait_for 20 gid_index6 mirror1 fd11:0000:0000:0000:0000:0000:0000:0002
}
check "IPv6 addresses and their GIDs" ip6_up
GR=$(gid_index6 rxe0 fd11:0000:0000:0000:0000:0000:0000:0001)
GM=$(gid_index6 mirror1 fd11:0000:0000:0000:0000:0000:0000:0002)
# (The tools' TCP exchange stays on IPv4; -g picks the IPv6 GIDs.)
check "ibv_rc_pingpong over IPv6 rxe0 -> mirror1" \
	pp_to_mirror ibv_rc_pingpong -n 100 -c
check "ibv_rc_pingpong over IPv6 mirror1 -> rxe0" \
	pp_to_rxe ibv_rc_pingpong -n 100 -c
check "ibv_ud_pingpong over IPv6 mirror1 -> rxe0" \
	pp_to_rxe ibv_ud_pingpong -n 100 -c

check "mirror1 saw no bad ICRC" test "$(counter mirror1 rx_drop_bad_icrc)" = 0
check "mirror1 received packets" test "$(counter mirror1 rx_packets)" -gt 100

finish
