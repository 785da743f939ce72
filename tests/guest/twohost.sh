#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Two hosts: runs on host a of 'mirror-vm --hosts 2' and drives host b
# through scripts/mirror-peer. Each end's device is what mirror-vm put on
# its link (mirror0, or rdma_rxe's rxe0 alone on its host), each end's
# kernel its own (6.12 or 6.1). Every tool runs in both directions: each
# host serves once and connects once. The pingpongs (-c) and rping (-V)
# check every byte they receive; perftest's tools have no data check and
# must complete on both ends.
#   twohost.sh [--faults]
# --faults: then the same transfers over a link that loses, reorders,
# duplicates and delays packets (netem on both ends), and across a link
# that goes down and comes back: RC delivers every byte exactly once, or
# (down for longer than its retries last) ends with a retry error.
set -u
. "$(dirname "$0")/lib.sh"

FAULTS=0
[ "${1:-}" = --faults ] && FAULTS=1

HERE=$MIRROR_IP
PEER=$MIRROR_PEER
LINK=$MIRROR_LINK_DEV
DH=$MIRROR_RDMA_DEV
# b's device, link and kernel, as b sees them.
DP=$(in_peer printenv MIRROR_RDMA_DEV)
PLINK=$(in_peer printenv MIRROR_LINK_DEV)
echo "# host a: $DH on $LINK ($HERE), kernel $(uname -r)"
echo "# host b: $DP on $PLINK ($PEER), kernel $(in_peer uname -r)"
PORT=18900

# icrc_driver: mirror computes its ICRC with the crypto API's crc32, which
# is the fastest the CPU and the kernel offer: crc32-pclmul when the CPU has
# PCLMULQDQ (so guest_2host_rxe boots with it: rdma_rxe then checks those
# ICRCs with its own code) and the kernel has that driver (Debian's do, as
# a module; the debug kernel of scripts/build-debug-kernel does not),
# crc32-generic otherwise.
icrc_driver() {
	local drv want=crc32-generic mods

	mods=/lib/modules/$(uname -r)
	if grep -qw pclmulqdq /proc/cpuinfo &&
	   { grep -qsw crypto-crc32-pclmul "$mods/modules.alias" \
		"$mods/modules.builtin.modinfo" ||
	     grep -qsx 'driver *: crc32-pclmul' /proc/crypto; }; then
		want=crc32-pclmul
	fi
	drv=$(dmesg | sed -n 's/.*rdma_mirror: ICRC by //p' | tail -n 1)
	echo "# ICRC by ${drv:-(no line in the kernel log)}, the best this kernel has for this CPU: $want"
	[ "$drv" = "$want" ]
}

# both_ends PAIR WHERE FLAG TOOL ARGS...: TOOL's server at WHERE ("peer":
# host b, "here": host a), its client at the other end, through PAIR
# (pair, or perf_pair for perftest); FLAG passes the GID index (-g for the
# pingpongs, -x for perftest).
both_ends() {
	local fn=$1 srv=$2 flag=$3 tool=$4 sd sg cd cg cli addr
	shift 4
	if [ "$srv" = peer ]; then
		sd=$DP sg=$GP cd=$DH cg=$GH cli=here addr=$PEER
	else
		sd=$DH sg=$GH cd=$DP cg=$GP cli=peer addr=$HERE
	fi
	PORT=$((PORT + 1))
	"$fn" "$srv" "$cli" tcp_listening "$PORT" \
		"$tool" -d "$sd" "$flag" "$sg" -p "$PORT" "$@" -- \
		"$tool" -d "$cd" "$flag" "$cg" -p "$PORT" "$@" "$addr" ||
		{ loss_counters; return 1; }
}

# What each end's device counted of losses and retries (after a failure:
# a retry error says little without them). rdma_rxe has its own names.
loss_counters() {
	local names='retrans_timeouts|retrans_packets|duplicate_requests|seq_err_nak_(sent|rcvd)|rx_drop_[a-z_]*|rnr_nak_(sent|rcvd)'
	echo "--- counters of a ($DH): $(rdma statistic show link "$DH/1" |
		grep -oE "($names) [0-9]+" | grep -v ' 0$' | tr '\n' ' ')"
	echo "--- counters of b ($DP): $(in_peer rdma statistic show link "$DP/1" |
		grep -oE "($names) [0-9]+" | grep -v ' 0$' | tr '\n' ' ')"
}

# a -> b: server on b, client on a (a's device sends first); b -> a.
to_peer() { both_ends pair peer -g "$@"; }
to_here() { both_ends pair here -g "$@"; }
# perftest's QPs wait 67 ms for an ACK (-u 14) on Debian's kernel, longer
# on the debug kernel: there, 64 KiB READs between two such guests on two
# host cores outlasted 7 retries of 67 ms (RETRY_EXC_ERR, 2026-12-06).
pt_to_peer() { both_ends perf_pair peer -x "$@" -u "$(ack_timeout 14)"; }
pt_to_here() { both_ends perf_pair here -x "$@" -u "$(ack_timeout 14)"; }

# rping_at WHERE ADDR COUNT SIZE: server at WHERE (ADDR its address), the
# client at the other end; the server saw every ping, checked (-V).
#
# Over a lossy link the client's disconnect request can be lost: rping's
# client destroys its cm_id right after rdma_disconnect(), which cancels
# the CM's resends, and the server, with nothing in flight, waits for a
# disconnect that never comes. So the server gets 60 s (the transfers
# take seconds), and a server stopped by that limit passes only when the
# client exited 0 and the server checked every ping.
rping_at() {
	local srv=$1 addr=$2 cli=here out
	[ "$srv" = here ] && cli=peer
	PORT=$((PORT + 1))
	out=$(pair "$srv" "$cli" cm_listening "$PORT" \
		timeout $((60 * MIRROR_TIME_SCALE)) \
		rping -s -a "$addr" -p "$PORT" -C "$3" -S "$4" -v -V -- \
		rping -c -a "$addr" -p "$PORT" -C "$3" -S "$4" -V)
	if [ $? -ne 0 ]; then
		echo "$out"
		echo "$out" | grep -q '^--- client (0):' &&
			echo "$out" | grep -q '^--- server (124):' || return 1
		echo "# the server never saw the client's disconnect"
	fi
	[ "$(grep -c "server ping data" /tmp/srv.log)" -eq "$3" ]
}

ucmatose_at() {
	local srv=$1 addr=$2 cli=here
	[ "$srv" = here ] && cli=peer
	PORT=$((PORT + 1))
	pair "$srv" "$cli" cm_listening "$PORT" \
		ucmatose -p "$PORT" -b "$addr" -c 4 -C 50 -- \
		ucmatose -p "$PORT" -s "$addr" -c 4 -C 50
}

# udaddy has no port option: it always uses 7174.
udaddy_at() {
	local srv=$1 addr=$2 cli=here
	[ "$srv" = here ] && cli=peer
	pair "$srv" "$cli" cm_listening 7174 \
		udaddy -b "$addr" -c 4 -C 50 -- \
		udaddy -s "$addr" -c 4 -C 50
}

# mc_rounds PID CLI SENDER...: runs SENDER at CLI (see at) until the
# multicast receiver PID has exited, at most 3 rounds, and returns the
# receiver's exit status (killed if it is still there). UD multicast is
# unreliable by design, and a virtio NIC takes a group's Ethernet address
# into its filter from a work item, a moment after the join the caller's
# readiness check sees: the first round can meet a filter that does not
# take the group yet. The rounds are printed.
mc_rounds() {
	local pid=$1 cli=$2 round
	shift 2
	for round in 1 2 3; do
		at "$cli" timeout $((60 * MIRROR_TIME_SCALE)) "$@" \
			>/tmp/cli.log 2>&1 || { cat /tmp/cli.log; break; }
		gone_within 3 "$pid" && break
	done
	gone_within 3 "$pid" || kill "$pid" 2>/dev/null
	echo "# sender rounds: $round"
	wait "$pid"
}

# mckey_at WHERE GROUP [waiting]: rdma_cm multicast across the link:
# mckey's receiver at WHERE joins GROUP, the sender at the other end sends
# 20 datagrams to it, until the receiver has counted 20 (mc_rounds). The
# sender is mckey, or with "waiting" mirror_mc_send, which waits for each
# datagram's completion (for rdma_rxe as the sender, see below).
mckey_at() {
	local srv=$1 group=$2 cli=here saddr=$PEER caddr=$HERE pid st
	local sender
	[ "$srv" = here ] && cli=peer saddr=$HERE caddr=$PEER
	sender=(mckey -m "$group" -b "$caddr" -s -C 20 -S 500)
	[ "${3:-}" = waiting ] && sender=("$MIRROR_BUILD/tests/guest/mirror_mc_send" \
		-m "$group" -b "$caddr" -C 20 -S 500)
	at "$srv" timeout $((60 * MIRROR_TIME_SCALE)) \
		mckey -m "$group" -b "$saddr" -C 20 -S 500 >/tmp/srv.log 2>&1 &
	pid=$!
	if ! wait_for 30 at "$srv" bash -c \
		"$(declare -f mc_joined); mc_joined $group"; then
		kill "$pid" 2>/dev/null
		wait "$pid"
		echo "--- the receiver never joined:"; cat /tmp/srv.log
		return 1
	fi
	mc_rounds "$pid" "$cli" "${sender[@]}"
	st=$?
	if [ "$st" -ne 0 ] || ! grep -q "data transfers complete" /tmp/srv.log; then
		echo "--- receiver ($st):"; cat /tmp/srv.log
		echo "--- a: $(rdma statistic show link "$DH/1" |
			grep -oE '(rx_mcast|rx_drop_[a-z_]*|rx_packets) [0-9]+' |
			tr '\n' ' ')"
		return 1
	fi
}

# mc_ud_at WHERE GROUP: UD multicast through the verbs alone
# (mirror_mc_ud; rdma_cm cannot join an IPv6 group on RoCEv2): the
# receiver at WHERE attaches a QP of its device to GROUP, the sender at
# the other end sends datagrams 0 to 19, until the receiver has all 20,
# each checked (its GRH area's IP header, its bytes) (mc_rounds).
mc_ud_at() {
	local srv=$1 group=$2 cli=here sd=$DP cd=$DH pid st
	local tool=$MIRROR_BUILD/tests/guest/mirror_mc_ud
	[ "$srv" = here ] && cli=peer sd=$DH cd=$DP
	at "$srv" timeout $((90 * MIRROR_TIME_SCALE)) \
		"$tool" -d "$sd" -m "$group" -r -C 20 -S 500 >/tmp/srv.log 2>&1 &
	pid=$!
	if ! wait_for 30 grep -q attached /tmp/srv.log; then
		kill "$pid" 2>/dev/null
		wait "$pid"
		echo "--- the receiver never attached:"; cat /tmp/srv.log
		return 1
	fi
	mc_rounds "$pid" "$cli" "$tool" -d "$cd" -m "$group" -s -C 20 -S 500
	st=$?
	if [ "$st" -ne 0 ]; then
		echo "--- receiver ($st):"; cat /tmp/srv.log
		return 1
	fi
}

# The verbs programs, both ways, each checking the bytes it receives.
transfers() {
	local t
	for t in rc uc ud; do
		check "ibv_${t}_pingpong a -> b, data check" \
			to_peer "ibv_${t}_pingpong" -n 100 -c
		check "ibv_${t}_pingpong b -> a, data check" \
			to_here "ibv_${t}_pingpong" -n 100 -c
	done
	check "ibv_rc_pingpong 16 KiB a -> b" \
		to_peer ibv_rc_pingpong -n 50 -s 16384 -c
	check "ibv_rc_pingpong 16 KiB b -> a" \
		to_here ibv_rc_pingpong -n 50 -s 16384 -c
}

# RC through rdma_cm, both ways, every ping checked: over a faulty link.
# rdma_cm's QPs wait about 0.5 s for an ACK, 7 times (the pingpongs wait
# 67 ms, which two emulated guests on two host cores can outlast without
# any fault at all).
rc_both_ways() {
	local why=$1
	check "rping -V, 50 pings of 4000 bytes, server b$why" \
		rping_at peer "$PEER" 50 4000
	check "rping -V, 10 pings of 60000 bytes, server a$why" \
		rping_at here "$HERE" 10 60000
}

# netem_both ARGS...: the same netem qdisc on both ends of the link
# (none: removes it).
netem_both() {
	tc qdisc del dev "$LINK" root 2>/dev/null
	in_peer tc qdisc del dev "$PLINK" root 2>/dev/null
	[ "$1" = none ] && return 0
	modprobe sch_netem && in_peer modprobe sch_netem &&
		tc qdisc add dev "$LINK" root netem "$@" &&
		in_peer tc qdisc add dev "$PLINK" root netem "$@"
}

# pings_checked: how many pings the rping server of link_blip has checked.
pings_checked() {
	grep -c 'server ping data' /tmp/srv.log
}

# pings_at_least N: the rping server has checked N pings or more.
pings_at_least() {
	[ "$(pings_checked)" -ge "$1" ]
}

# pinged_on_or_gone N PID: the server has checked N pings, or PID is gone.
pinged_on_or_gone() {
	pings_at_least "$1" || ! kill -0 "$2" 2>/dev/null
}

# link_blip SECS: while rping runs checked pings of 4000 bytes (server on
# b) with no end, b's end of the link goes down, stays down SECS, and
# comes back. The outage must hit a transfer in progress, on a fast host
# as on a slow one: the link goes down only after the server checked 20
# pings, and rping has no count to reach meanwhile. Taking a virtio NIC
# down is slow under emulation: the outage lasts SECS plus 1 to 2 s, which
# it prints. If rping still runs 30 s after the outage and the server has
# checked 100 more pings than before it, the client is stopped (it pinged
# on). Prints the pings checked before the outage and at the end, both
# exit statuses and the logs' other lines. Sets BLIP_BEFORE; called
# directly, not in $(...), so that the caller sees it.
link_blip() {
	local srv cli
	PORT=$((PORT + 1))
	at peer timeout $((150 * MIRROR_TIME_SCALE)) rping -s -a "$PEER" \
		-p "$PORT" -S 4000 -V -v >/tmp/srv.log 2>&1 &
	srv=$!
	wait_for 30 at peer bash -c "$(declare -f cm_listening); cm_listening $PORT" ||
		return 1
	timeout $((150 * MIRROR_TIME_SCALE)) rping -c -a "$PEER" -p "$PORT" \
		-S 4000 -V >/tmp/cli.log 2>&1 &
	cli=$!
	if ! wait_for 30 pings_at_least 20; then
		kill "$cli" "$srv" 2>/dev/null
		wait "$cli" "$srv"
		echo "rping did not start: $(pings_checked) pings checked"
		grep -hv 'ping data' /tmp/cli.log /tmp/srv.log | cut -c1-200 | tail -20
		return 1
	fi
	BLIP_BEFORE=$(pings_checked)
	# One command on b: the outage does not include a round trip to b.
	in_peer bash -c "t0=\$(date +%s%N); ip link set $PLINK down;
		sleep $1; ip link set $PLINK up;
		echo outage \$(( (\$(date +%s%N) - t0) / 1000000 )) ms"
	# When one end fails, the other may be the passive one (the rping
	# client waits for the server's READ and SEND), and the disconnect
	# request the failed end sends can be lost on the dead link: that end
	# waits on. The client gets 30 s after the outage, then it is stopped
	# (exit status 143), and the server 20 s more.
	wait_for 30 pinged_on_or_gone $((BLIP_BEFORE + 100)) "$cli"
	kill "$cli" 2>/dev/null
	wait "$cli"
	echo "client $?"
	grep -v 'ping data' /tmp/cli.log | cut -c1-200 | tail -20
	gone_within 20 "$srv" || kill "$srv" 2>/dev/null
	wait "$srv"
	echo "server $?, $BLIP_BEFORE pings checked before the outage, $(pings_checked) in all"
	grep -v 'ping data' /tmp/srv.log | cut -c1-200 | tail -20
	return 0
}

# A short outage (within rdma_cm's retries): rping resends what was lost
# and pings on: the client still runs when it is stopped, 100 pings more
# than before the outage have arrived, each checked, and none was wrong.
blip_recovers() {
	local out
	link_blip 0.2 >/tmp/blip.out || { cat /tmp/blip.out; return 1; }
	out=$(cat /tmp/blip.out)
	echo "$out"
	echo "$out" | grep -q '^client 143$' &&
		pings_at_least $((BLIP_BEFORE + 100)) &&
		! echo "$out" | grep -qi 'miscompare\|mismatch'
}

# An outage longer than the retries last: the transfer does not complete;
# the end with a request in flight ends with an error (a retry exceeded
# completion, or rping's ERROR state, 11) after its device counted the
# retransmission timeouts; the other end may see the disconnect and exit
# 0, or wait and be stopped; no ping that arrived was wrong. rdma_cm's
# QPs over RoCE have timeout 17 (0.54 s) and 7 retries, and each timeout
# doubles the next one up to 4 times: 0.54 s x (1 + 2 + 6 x 4), the
# error comes about 14.5 s after the loss. A 10 s outage was once meant
# to be far longer than that (before the doubling); rping then came
# through after 6 timeouts. The outage is 20 s.
blip_fails_cleanly() {
	local out ta tb
	ta=$(counter "$DH" retrans_timeouts)
	tb=$(in_peer bash -c "$(declare -f counter); counter $DP retrans_timeouts")
	link_blip 20 >/tmp/blip.out || { cat /tmp/blip.out; return 1; }
	out=$(cat /tmp/blip.out)
	echo "$out"
	ta=$(($(counter "$DH" retrans_timeouts) - ta))
	tb=$(($(in_peer bash -c "$(declare -f counter); counter $DP retrans_timeouts") - tb))
	echo "retransmission timeouts: a +$ta, b +$tb"
	echo "$out" | grep -Eq 'state 11|status 12' &&
		[ $((ta + tb)) -ge 7 ] &&
		! echo "$out" | grep -qi 'miscompare\|mismatch'
}

# cm_timeout_17: this kernel's rdma_cm gives RoCE QPs timeout 17 (0.54 s):
# packet lifetime 16, as in 6.12's cma.c and since Linux 6.2; before, 18
# (timeout 19, 2.1 s), which Debian's 6.1 shows: b counted 3 timeouts in
# a 20.6 s outage (due at 2.1, 6.4 and 15 s; the 4th at 32 s).
cm_timeout_17() {
	local v
	v=$(uname -r)
	[ "${v%%.*}" -gt 6 ] || { [ "${v%%.*}" -eq 6 ] &&
		v=${v#*.} && [ "${v%%.*}" -ge 2 ]; }
}

# parent_names_link DEV LINK: as for hardware, DEV's parent device is
# LINK's (a virtio NIC here), and lists LINK among its interfaces.
parent_names_link() {
	[ -e "/sys/class/infiniband/$1/device/net/$2" ] &&
		[ "$(readlink -f "/sys/class/infiniband/$1/device")" = \
		  "$(readlink -f "/sys/class/net/$2/device")" ]
}

check "host b answers" in_peer true
if [ "$DH" = mirror0 ]; then
	check "mirror0's parent is $LINK's: device/net/$LINK" \
		parent_names_link mirror0 "$LINK"
	check "mirror's ICRC runs on the fastest crc32 here" icrc_driver
else
	echo "ok - mirror's ICRC runs on the fastest crc32 here # SKIP host a has rdma_rxe, not mirror"
fi
check "host b has an RDMA device on its link" test -n "$DP"
check "a's IPv4 GID" wait_for 20 gid_index "$DH" "$HERE"
check "b's IPv4 GID" wait_for 20 in_peer bash -c \
	"$(declare -f gid_index gid_lookup); gid_index $DP $PEER"
GH=$(gid_index "$DH" "$HERE")
GP=$(in_peer bash -c "$(declare -f gid_index gid_lookup); gid_index $DP $PEER")

transfers
rc_both_ways ""
check "ucmatose: 4 RC connections, server b" ucmatose_at peer "$PEER"
check "udaddy: 4 UD endpoints, server b" udaddy_at peer "$PEER"
check "udaddy: 4 UD endpoints, server a" udaddy_at here "$HERE"
check "mckey: 20 datagrams to a group, receiver b" mckey_at peer 239.77.1.1
if [ "$DP" = mirror0 ]; then
	check "mckey: 20 datagrams to a group, receiver a" \
		mckey_at here 239.77.1.2
else
	# rdma_rxe as the sender: mckey posts its sends unsignaled and at
	# once leaves the group and destroys its AH and QP; rdma_rxe sends
	# from a work item after ibv_post_send() returns and finds the AH
	# gone ("rxe_get_av: Unable to find AH matching ah_num", then
	# "rxe_requester: Failed no address vector" in its debug log).
	# Measured on 2026-12-06 by rdma_rxe's own sent_pkts counter: 0 of
	# 60, 1 of 5 and 1 of 5 sent towards mirror0; 5 of 5 once towards
	# rdma_rxe. So b sends with mirror_mc_send, which waits for each
	# datagram's completion.
	check "multicast: 20 datagrams from $DP (waiting sender) to a group, receiver a (mckey)" \
		mckey_at here 239.77.1.2 waiting
fi
# Multicast through the verbs alone: IPv6 (rdma_cm cannot join it) and
# IPv4. rdma_rxe receives no such datagram: its attach puts only the
# group's Ethernet address (33:33 and the GID's last 4 bytes) on its
# netdev, never the IP group, so the IP stack hands its socket nothing
# (seen on 2026-12-06: no inet6 entry in 'ip maddr', Udp6InDatagrams 0);
# rdma_cm's join (mckey, above) is what makes it receive IPv4 groups.
for g in ff1e::4d:7701 239.77.1.3; do
	if [ "$DP" = mirror0 ]; then
		check "verbs multicast to $g: 20 datagrams, receiver b" \
			mc_ud_at peer "$g"
	else
		echo "ok - verbs multicast to $g: 20 datagrams, receiver b # SKIP rdma_rxe's attach joins no IP group (only the Ethernet address): nothing reaches its socket"
	fi
	check "verbs multicast to $g: 20 datagrams, receiver a" mc_ud_at here "$g"
done
for t in ib_write_bw ib_read_bw ib_send_bw; do
	check "$t 64 KiB a -> b" pt_to_peer "$t" -s 65536 -n 200
	check "$t 64 KiB b -> a" pt_to_here "$t" -s 65536 -n 200
done
check "ib_write_lat 8 B a -> b" pt_to_peer ib_write_lat -s 8 -n 200
check "ib_send_lat 8 B b -> a" pt_to_here ib_send_lat -s 8 -n 200
check "ib_atomic_bw fetch-and-add a -> b" pt_to_peer ib_atomic_bw -A FETCH_AND_ADD -n 200

if [ "$FAULTS" = 1 ]; then
	check "netem: 3% loss both ways" netem_both loss 3%
	rc_both_ways ", 3% loss"
	check "ucmatose: 4 RC connections, server a, 3% loss" \
		ucmatose_at here "$HERE"
	check "netem: reordering both ways" netem_both delay 2ms reorder 25% 50%
	if [ "$DP" = mirror0 ]; then
		rc_both_ways ", reordered"
	else
		# rping's server reads the client's buffer. rdma_rxe reading
		# over this link WARNs (rxe_comp.c:827 on 6.12) and puts its QP
		# in ERR, whoever answers: it did so against mirror (CI of
		# 2026-12-07) and against rdma_rxe with our module not loaded
		# (rxe <-> rxe, the 4th of 4 runs of this case, 2026-12-07).
		# By its source: an ACK of an earlier SEND that comes after the
		# first response of a multi-packet READ ends the READ in its
		# completer's state (UPDATE_COMP on a packet with END set), so
		# the next MIDDLE response is refused without a status. mirror's
		# completer finds the WQE by PSN and takes the late ACK as old.
		# The other direction (mirror reading from rdma_rxe) still runs,
		# and mirror <-> mirror runs both (guest_2host).
		echo "ok - rping -V, 50 pings of 4000 bytes, server b, reordered # SKIP rdma_rxe reading over a reordering link WARNs (rxe_comp.c:827) and puts its QP in ERR, against rdma_rxe too (our module not loaded): its completer takes a late ACK of an earlier SEND as the end of the READ it is receiving"
		check "rping -V, 10 pings of 60000 bytes, server a, reordered" \
			rping_at here "$HERE" 10 60000
	fi
	check "netem: 5% duplicates both ways" netem_both duplicate 5%
	rc_both_ways ", duplicated"
	check "netem: 20 ms delay both ways" netem_both delay 20ms
	rc_both_ways ", 20 ms delay"
	check "netem off" netem_both none
	if [ "$DP" = mirror0 ]; then
		check "link down briefly under rping: every ping arrives" blip_recovers
		if cm_timeout_17 && in_peer bash -c "$(declare -f cm_timeout_17); cm_timeout_17"; then
			check "link down 20 s under rping: it ends with an error completion" \
				blip_fails_cleanly
		else
			echo "ok - link down 20 s under rping: it ends with an error completion # SKIP rdma_cm before Linux 6.2 gives RoCE QPs timeout 19 (2.1 s; packet lifetime 18, not 16): 7 doubling retries last about 170 s (measured on 6.1: 3 timeouts in a 20.6 s outage, then rping went on)"
		fi
		check "the link works again after that" \
			to_peer ibv_rc_pingpong -n 20 -c
	else
		# b's link is the one that goes down. Measured on 2026-12-06
		# with a 0.5 s outage: mirror0 <-> rxe0 and rxe0 <-> rxe0 alike
		# leave b's rdma_rxe QP in ERR (completer_retry_err, send_err)
		# while the other end waits for it.
		why="rdma_rxe's QP on the host whose link goes down enters ERR even after 0.5 s (rxe <-> rxe too)"
		echo "ok - link down briefly under rping: every ping arrives # SKIP $why"
		echo "ok - link down 20 s under rping: it ends with an error completion # SKIP $why"
		echo "ok - the link works again after that # SKIP $why"
	fi
fi

finish
