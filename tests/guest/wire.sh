#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# RoCEv2 over a real link: mirror0 on veth0 here, mirror1 on veth1 in
# another network namespace. Every byte crosses the veth pair as UDP to
# port 4791 (ICRC, PSNs, ACKs), unlike the same-device suites.
set -u
. "$(dirname "$0")/lib.sh"

PORT=18700
A=10.11.0.2

# pp TOOL ARGS...: rdma-core's pingpong, server on mirror1, client on mirror0.
pp() {
	local tool=$1
	shift
	PORT=$((PORT + 1))
	pair peer here tcp_listening "$PORT" \
		"$tool" -d mirror1 -g "$G1" -p "$PORT" "$@" -- \
		"$tool" -d mirror0 -g "$G0" -p "$PORT" "$@" "$A"
}

rping_across() {
	local count=$1 size=$2 got
	PORT=$((PORT + 1))
	pair peer here cm_listening "$PORT" \
		rping -s -a "$A" -p "$PORT" -C "$count" -S "$size" -v -V -- \
		rping -c -a "$A" -p "$PORT" -C "$count" -S "$size" -V || return 1
	got=$(grep -c "server ping data: rdma-ping-" /tmp/srv.log)
	[ "$got" -eq "$count" ] || { echo "server saw $got of $count"; return 1; }
}

# check_rping NAME CMD...: check NAME CMD..., one rping run counted
# in RPING_RUNS (here, not in check's subshell) for no_drops.
RPING_RUNS=0
check_rping() {
	RPING_RUNS=$((RPING_RUNS + 1))
	check "$@"
}

# no_drops DEV: no receive drop counter of DEV moved, but for packets to a
# QP that is gone, as many as the two ends resent plus two per rping run.
# The pingpongs end without a last handshake, so a packet resent after a
# late ACK (a slow guest's retransmission timeout, the debug kernel's) or
# the ACK of such a duplicate may arrive after its QP was destroyed. And
# rping's client never waits for its SENDs' completions (it moves on when
# the server's reply arrives, which may overtake the ACK of the SEND it
# answers), so the ACKs of its last two SENDs may come after it destroyed
# its QP.
no_drops() {
	local c v resent
	for c in rx_drop_malformed rx_drop_bad_icrc rx_drop_bad_opcode \
		rx_drop_bad_qkey; do
		v=$(counter "$1" "$c")
		[ "$v" = 0 ] || { echo "$1 $c = $v"; return 1; }
	done
	v=$(counter "$1" rx_drop_unknown_qp)
	resent=$(($(counter mirror0 retrans_packets) +
		$(counter mirror1 retrans_packets)))
	[ "$v" -le $((resent + 2 * RPING_RUNS)) ] ||
		{ echo "$1 rx_drop_unknown_qp = $v, more than the $resent packets resent + 2 x $RPING_RUNS rping runs"; return 1; }
}

check "mirror1 up in its own namespace" peer_up mirror mirror1
G0=$(gid_index mirror0 10.11.0.1)
G1=$(gid_index mirror1 10.11.0.2)
check "GIDs of both ends found" test -n "$G0" -a -n "$G1"

check "ibv_rc_pingpong over RoCEv2, data check" pp ibv_rc_pingpong -n 200 -c
check "ibv_rc_pingpong 64 KiB messages (64 packets each)" \
	pp ibv_rc_pingpong -n 50 -s 65536 -c
check "ibv_rc_pingpong with events" pp ibv_rc_pingpong -n 100 -e
check "ibv_uc_pingpong over RoCEv2, data check" pp ibv_uc_pingpong -n 200 -c
check "ibv_ud_pingpong over RoCEv2, data check" pp ibv_ud_pingpong -n 200 -c
check "ibv_srq_pingpong over RoCEv2, data check" \
	pp ibv_srq_pingpong -q 4 -n 100 -c
check_rping "rping -V over RoCEv2 (rdma_cm through QP1)" rping_across 50 1000
check_rping "rping -V over RoCEv2, 60000-byte pings" rping_across 10 60000

# counter_above DEV NAME N: DEV's counter NAME is above N.
counter_above() {
	[ "$(counter "$1" "$2")" -gt "$3" ]
}

# route_follows: a connected QP's packets follow the kernel's routing
# (mirror keeps a connected QP's route between packets): while ib_write_bw
# runs from mirror0 to mirror1, veth0 loses the address the QP sends from.
# The next packets find no route (counted) and none leaves on the route
# kept from before; with the address back, new QPs connect and work. Both
# perftest ends run longer than the case can last (-D 120) and are killed
# at its end, and a failure prints both ends' output and whether they
# still ran: once (2026-12-07, the guest beside a build on the host) no
# packet met the missing route within 10 s, with no output to say why;
# three runs after it passed.
route_follows() {
	local srv cli drops r0 r1 r2 t0 ok=1
	PORT=$((PORT + 1))
	drops=$(counter mirror0 tx_drop_no_route)
	r0=$(counter mirror1 rx_packets)
	at peer timeout $((150 * ${MIRROR_TIME_SCALE:-1})) \
		ib_write_bw -d mirror1 -x "$G1" -p "$PORT" -D 120 >/tmp/srv.log 2>&1 &
	srv=$!
	wait_for 30 at peer bash -c "$(declare -f tcp_listening); tcp_listening $PORT" ||
		{ echo "server never listened"; kill "$srv"; wait; return 1; }
	timeout $((150 * ${MIRROR_TIME_SCALE:-1})) \
		ib_write_bw -d mirror0 -x "$G0" -p "$PORT" -D 120 "$A" >/tmp/cli.log 2>&1 &
	cli=$!
	if ! wait_for 30 counter_above mirror1 rx_packets $((r0 + 200)); then
		echo "no traffic: mirror1 rx_packets $(counter mirror1 rx_packets), was $r0"
		ok=0
	fi
	if [ "$ok" = 1 ] && ! { kill -0 "$cli" && kill -0 "$srv"; } 2>/dev/null; then
		echo "perftest ended before the address went"
		echo "--- client:"; cat /tmp/cli.log
		echo "--- server:"; cat /tmp/srv.log
		ok=0
	fi
	t0=$(counter mirror0 tx_packets)
	ip addr del 10.11.0.1/24 dev veth0
	if [ "$ok" = 1 ] && ! wait_for 10 counter_above mirror0 tx_drop_no_route "$drops"; then
		echo "no packet found its route gone (tx_drop_no_route $drops; mirror0 tx_packets $t0 -> $(counter mirror0 tx_packets); client $(kill -0 "$cli" 2>/dev/null && echo running || echo ended))"
		echo "--- client:"; cat /tmp/cli.log
		echo "--- server:"; cat /tmp/srv.log
		ok=0
	fi
	r1=$(counter mirror1 rx_packets)
	sleep 2
	r2=$(counter mirror1 rx_packets)
	if [ "$r2" != "$r1" ]; then
		echo "mirror1 still received $((r2 - r1)) packets after the route went"
		ok=0
	fi
	ip addr add 10.11.0.1/24 dev veth0
	kill "$cli" "$srv" 2>/dev/null
	wait
	wait_for 20 gid_index mirror0 10.11.0.1 || { echo "mirror0's GID did not come back"; ok=0; }
	[ "$ok" = 1 ]
}
check "a connected QP's packets follow a route change (address removed)" route_follows
G0=$(gid_index mirror0 10.11.0.1)
check "ibv_rc_pingpong after the address came back" pp ibv_rc_pingpong -n 50 -c

# The same over IPv6 GIDs (unique local addresses, no duplicate address
# detection delay).
V6A=fd11:0000:0000:0000:0000:0000:0000:0001
V6B=fd11:0000:0000:0000:0000:0000:0000:0002
ip6_up() {
	ip addr add fd11::1/64 dev veth0 nodad &&
		in_peer ip addr add fd11::2/64 dev veth1 nodad &&
		wait_for 20 gid_index6 mirror0 "$V6A" &&
		wait_for 20 gid_index6 mirror1 "$V6B"
}
check "IPv6 addresses and their GIDs" ip6_up
G0=$(gid_index6 mirror0 "$V6A")
G1=$(gid_index6 mirror1 "$V6B")
check "ibv_rc_pingpong over RoCEv2/IPv6, data check" pp ibv_rc_pingpong -n 100 -c
check "ibv_rc_pingpong over RoCEv2/IPv6, 16 KiB" \
	pp ibv_rc_pingpong -n 50 -s 16384 -c
check "ibv_ud_pingpong over RoCEv2/IPv6, data check" pp ibv_ud_pingpong -n 100 -c
A=fd11::2
check_rping "rping -V over RoCEv2/IPv6" rping_across 20 1000

check "mirror0 sent packets" test "$(counter mirror0 tx_packets)" -gt 1000
check "mirror1 received packets" test "$(counter mirror1 rx_packets)" -gt 1000
check "mirror0 dropped nothing" no_drops mirror0
check "mirror1 dropped nothing" no_drops mirror1
check "rdma link delete of a namespaced device" in_peer rdma link delete mirror1

finish
