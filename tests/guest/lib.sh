# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# shellcheck shell=bash
# Tiny TAP-like helpers for the guest shell suites. Each check prints
# "ok - NAME" or "not ok - NAME: why"; finish prints "N passed, N failed"
# and returns non-zero when anything failed.

PASSED=0
FAILED=0

ok() {
	echo "ok - $1"
	PASSED=$((PASSED + 1))
}

not_ok() {
	echo "not ok - $1: $2"
	FAILED=$((FAILED + 1))
}

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		not_ok "$name" "command failed: $* :: $(echo "$out" | tail -3 | tr '\n' ' ')"
		# Its last 150 lines as diagnostics: pair() prints the client's
		# and the server's logs with their exit codes, which the three
		# lines above cannot hold. perftest's own are 30 lines each, and
		# its errors (stderr, unbuffered) come first, before its banner.
		echo "$out" | tail -150 | sed 's/^/    # /'
	fi
}

# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		not_ok "$name" "command unexpectedly succeeded: $*"
	else
		ok "$name"
	fi
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s; true once it succeeds.
# SECONDS is the deadline on Debian's kernel; it stretches with
# MIRROR_TIME_SCALE, since everything takes longer on the debug kernel.
wait_for() {
	local tries=$(($1 * 5 * ${MIRROR_TIME_SCALE:-1}))
	shift
	while ((tries-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

# ack_timeout BASE: the QP ACK timeout (4.096 us x 2^t) to give a tool
# whose default is BASE: BASE on Debian's kernel, one step (twice as
# long) more for each doubling of MIRROR_TIME_SCALE, as the C suites'
# mirror_test_ack_timeout().
ack_timeout() {
	local t=$1 s=${MIRROR_TIME_SCALE:-1}
	while [ "$s" -ge 2 ] && [ "$t" -lt 31 ]; do
		t=$((t + 1)) s=$((s / 2))
	done
	echo "$t"
}

# gone_within SECONDS PID: the process has exited within SECONDS.
gone_within() {
	wait_for "$1" sh -c "! kill -0 $2 2>/dev/null"
}

ibdev_exists() {
	[ -e "/sys/class/infiniband/$1" ]
}

ibdev_gone() {
	[ ! -e "/sys/class/infiniband/$1" ]
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}

# gid_index DEV IPV4: DEV's GID index for the RoCEv2 GID of IPV4.
gid_index() {
	local want f
	# shellcheck disable=SC2046,SC2183 # the four octets are meant to split
	want=$(printf '0000:0000:0000:0000:0000:ffff:%02x%02x:%02x%02x' \
		$(echo "$2" | tr . ' '))
	gid_lookup "$1" "$want"
}

# gid_index6 DEV GID: DEV's GID index for GID, written in full as sysfs
# shows it (fd11:0000:...:0001).
gid_index6() {
	gid_lookup "$1" "$2"
}

# gid_lookup DEV GID: the first index of DEV's GID table that holds GID.
# In index order, read with the shell's own read: a glob visits gids/10
# to gids/199 (135 entries of 1024) before gids/2, where an IPv6 GID sits,
# and a cat per entry is a process each, slow enough on the debug kernel
# under TCG to stall guest_wire's IPv6 part for more than 15 minutes.
gid_lookup() {
	local dir=/sys/class/infiniband/"$1"/ports/1/gids i=0 g
	while [ -e "$dir/$i" ]; do
		g=''
		{ read -r g <"$dir/$i"; } 2>/dev/null || true
		if [ "$g" = "$2" ]; then
			echo "$i"
			return 0
		fi
		i=$((i + 1))
	done
	return 1
}

# The far end of RoCEv2 tests: veth1 (10.11.0.2) in its own network
# namespace, so that packets between veth0 and veth1 really cross the
# veth pair instead of being delivered locally. On host a of
# 'mirror-vm --hosts 2' ($MIRROR_PEER set), the far end is host b, and
# in_peer runs CMD there (scripts/mirror-peer).
PEER_NS=peer

in_peer() {
	if [ -n "${MIRROR_PEER:-}" ]; then
		"$MIRROR_REPO/scripts/mirror-peer" run "$@"
	else
		ip netns exec "$PEER_NS" "$@"
	fi
}

# peer_up TYPE NAME: moves veth1 into $PEER_NS and adds RDMA device NAME
# of link type TYPE (mirror or rxe) on it.
peer_up() {
	ip netns add "$PEER_NS" &&
		ip link set veth1 netns "$PEER_NS" &&
		ip -n "$PEER_NS" addr add 10.11.0.2/24 dev veth1 &&
		ip -n "$PEER_NS" link set veth1 up &&
		ip -n "$PEER_NS" link set lo up &&
		in_peer rdma link add "$2" type "$1" netdev veth1 &&
		wait_for 20 gid_index "$2" 10.11.0.2
}

# lossy_link PCT: netem drops PCT% of the packets leaving veth0 and of those
# leaving veth1 (in $PEER_NS): both directions of the mirror0 <-> mirror1
# link. Run after peer_up. Each end knows the other's MAC address for good
# (a permanent neighbour entry): connecting a QP resolves it, and ib_core
# gives up with ETIMEDOUT when the ARP exchange is lost on such a link.
lossy_link() {
	modprobe sch_netem &&
		ip neigh replace 10.11.0.2 dev veth0 nud permanent \
			lladdr "$(in_peer cat /sys/class/net/veth1/address)" &&
		in_peer ip neigh replace 10.11.0.1 dev veth1 nud permanent \
			lladdr "$(cat /sys/class/net/veth0/address)" &&
		tc qdisc add dev veth0 root netem loss "$1%" &&
		in_peer tc qdisc add dev veth1 root netem loss "$1%"
}

# drop_first_psn WHERE DEV PSN: tc drops the first RoCEv2 packet with BTH
# PSN PSN that leaves DEV (WHERE: here or peer, see at), and lets a resend
# of it through: gact's deterministic mode acts on every 2nd match, so the
# 1st, 3rd... are dropped and the 2nd, 4th... pass. The offsets are those
# of an IPv4 header without options: UDP destination port at 22, the BTH's
# PSN in the low 24 bits of the word at 36.
drop_first_psn() {
	local where=$1 dev=$2 psn=$3
	{ at "$where" tc qdisc show dev "$dev" | grep -q clsact ||
		at "$where" tc qdisc add dev "$dev" clsact; } &&
		at "$where" tc filter add dev "$dev" egress protocol ip prio 1 u32 \
			match u16 4791 0xffff at 22 \
			match u32 "$psn" 0x00ffffff at 36 \
			action gact drop random determ ok 2
}

# gap_rules: the losses mirror_data_test's gap cases expect (its GAP_*
# PSNs): the 6th packet of a SEND leaving mirror0, the 6th response of a
# READ leaving mirror1, the 10th (last) response of a READ followed by
# another leaving mirror1, a WRITE's first packet and the sequence NAK
# asking for it, the answers to an ATOMIC WRITE and to a FLUSH. Run after
# peer_up; exports MIRROR_GAP_RULES=1.
gap_rules() {
	drop_first_psn here veth0 0xabc005 &&
		drop_first_psn peer veth1 0xabd005 &&
		drop_first_psn peer veth1 0xabe009 &&
		drop_first_psn here veth0 0xabf000 &&
		drop_first_psn peer veth1 0xabf000 &&
		drop_first_psn peer veth1 0xac0000 &&
		drop_first_psn peer veth1 0xac1000 &&
		export MIRROR_GAP_RULES=1
}

# gap_stats: what the gap rules matched and dropped (after a failure).
gap_stats() {
	echo "# gap rule on veth0:"
	tc -s filter show dev veth0 egress | sed 's/^/#   /'
	echo "# gap rule on veth1 ($PEER_NS):"
	in_peer tc -s filter show dev veth1 egress | sed 's/^/#   /'
}

# resent_figures: how often mirror0 and mirror1 sent packets again.
resent_figures() {
	local d
	for d in mirror0 mirror1; do
		echo "# $d: retrans_packets $(counter $d retrans_packets)," \
			"seq_err_nak_rcvd $(counter $d seq_err_nak_rcvd)," \
			"retrans_timeouts $(counter $d retrans_timeouts)"
	done
}

# counter DEV NAME: the value of hardware counter NAME of DEV's port 1.
counter() {
	rdma statistic show link "$1/1" |
		awk -v n="$2" '{ for (i = 1; i < NF; i++) if ($i == n) print $(i + 1) }'
}

tcp_listening() {
	ss -ltn | grep -q ":$1 "
}

cm_listening() {
	rdma resource show cm_id 2>/dev/null |
		grep "state LISTEN" | grep -q "src-addr [^ ]*:$1 "
}

# mc_joined GROUP: mckey's receiver has joined the IPv4 GROUP (rdma_cm's
# IGMP join) and attached its QP to it. On mirror0 the attach joins the
# group too: two users of it on the interface. rdma_rxe's attach adds the
# Ethernet address of the group's GID taken as IPv6 (33:33 and the GID's
# last four bytes: the IPv4 address) instead.
mc_joined() {
	local mac
	mac=$(printf '33:33:%02x:%02x:%02x:%02x' ${1//./ })
	ip maddr show | grep -qE "inet +$1 users [2-9]" ||
		ip maddr show | grep -q "link  *$mac\b"
}

# at WHERE CMD...: runs CMD here (WHERE "here") or at the far end ("peer",
# see in_peer).
at() {
	local where=$1
	shift
	if [ "$where" = peer ]; then
		in_peer "$@"
	else
		"$@"
	fi
}

# pair SRV-AT CLI-AT LISTEN-CHECK PORT SERVER-CMD... -- CLIENT-CMD...: the
# server starts at SRV-AT (see at), the client at CLI-AT once LISTEN-CHECK
# PORT (tcp_listening, cm_listening) holds where the server runs. Both are
# bounded in time and must exit 0. Their output stays in /tmp/srv.log and
# /tmp/cli.log and is printed on failure.
pair() {
	local sat=$1 cat=$2 check=$3 port=$4 srv_cmd=() cli srv s
	shift 4
	while [ "$1" != "--" ]; do srv_cmd+=("$1"); shift; done
	shift
	at "$sat" timeout $((150 * ${MIRROR_TIME_SCALE:-1})) "${srv_cmd[@]}" \
		>/tmp/srv.log 2>&1 &
	srv=$!
	if ! wait_for 30 at "$sat" bash -c "$(declare -f "$check"); $check $port"; then
		kill "$srv" 2>/dev/null
		wait "$srv"
		echo "--- server never listened:"; cat /tmp/srv.log
		return 1
	fi
	at "$cat" timeout $((120 * ${MIRROR_TIME_SCALE:-1})) "$@" >/tmp/cli.log 2>&1
	cli=$?
	wait "$srv"
	s=$?
	if [ "$cli" -ne 0 ] || [ "$s" -ne 0 ]; then
		echo "--- client ($cli):"; cat /tmp/cli.log
		echo "--- server ($s):"; cat /tmp/srv.log
		return 1
	fi
}

# perf_pair ARGS...: pair for perftest's tools. perftest times with the CPU
# cycle counter, calibrated after the test by a regression over a short
# busy loop. When the emulated guest's clock is too noisy for it, it says
# "Correlation coefficient r^2: X < 0.9" and then either gives up ("Can't
# produce a report") or reports every latency as inf. Such a run says
# nothing about the device; only that run is repeated, at most twice more.
# Any other failure stands, and so does the verdict of the last try.
perf_pair() {
	local try
	for try in 1 2 3; do
		pair "$@" && ! perf_uncalibrated && return 0
		perf_uncalibrated || return 1
		[ "$try" -lt 3 ] &&
			echo "# perftest could not calibrate its clock; running it again"
	done
	return 1
}

# perf_uncalibrated: did the last pair's perftest fail its clock calibration?
perf_uncalibrated() {
	grep -q "Correlation coefficient r^2: .* < 0.9" /tmp/cli.log /tmp/srv.log
}

# rc_qps_on DEV: DEV has RC QPs now (a kernel ULP's, say).
rc_qps_on() {
	rdma resource show qp 2>/dev/null | grep "link $1/" | grep -q "type RC"
}

# parallel_checked SECONDS FN: 4 writers at once, each calling "FN I N"
# (writer I, its round N: write random data to a place of its own and
# read it back, non-zero on any error or difference) until SECONDS are
# up; fails when any round of any writer failed.
parallel_checked() {
	local secs=$1 fn=$2 i pids=() bad=0
	for i in 0 1 2 3; do
		(
			end=$((SECONDS + secs)) n=0
			while [ "$SECONDS" -lt "$end" ]; do
				"$fn" "$i" "$n" || exit 1
				n=$((n + 1))
			done
			echo "# writer $i: $n rounds written and checked"
		) &
		pids+=($!)
	done
	for i in "${pids[@]}"; do
		wait "$i" || bad=1
	done
	return $bad
}

# frwr_counters DEV: DEV's fast_reg, local_inv and remote_inv counters:
# registrations made by IB_WR_REG_MR, and ended by IB_WR_LOCAL_INV and by
# a peer's SEND with Invalidate.
frwr_counters() {
	echo "$(counter "$1" fast_reg) $(counter "$1" local_inv) $(counter "$1" remote_inv)"
}

# frwr_since DEV "REG LINV RINV" (an frwr_counters reading): sets REG,
# LINV and RINV to what DEV counted since, and prints them.
frwr_since() {
	local r l v
	read -r r l v <<<"$2"
	REG=$(($(counter "$1" fast_reg) - r))
	LINV=$(($(counter "$1" local_inv) - l))
	RINV=$(($(counter "$1" remote_inv) - v))
	echo "# fast registrations $REG, ended by LOCAL_INV $LINV, by the peer's SEND with Invalidate $RINV"
}
