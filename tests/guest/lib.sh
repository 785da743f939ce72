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
	for f in /sys/class/infiniband/"$1"/ports/1/gids/*; do
		if [ "$(cat "$f" 2>/dev/null)" = "$want" ]; then
			basename "$f"
			return 0
		fi
	done
	return 1
}

# gid_index6 DEV GID: DEV's GID index for GID, written in full as sysfs
# shows it (fd11:0000:...:0001).
gid_index6() {
	local f
	for f in /sys/class/infiniband/"$1"/ports/1/gids/*; do
		if [ "$(cat "$f" 2>/dev/null)" = "$2" ]; then
			basename "$f"
			return 0
		fi
	done
	return 1
}

# The far end of RoCEv2 tests: veth1 (10.11.0.2) in its own network
# namespace, so that packets between veth0 and veth1 really cross the
# veth pair instead of being delivered locally.
PEER_NS=peer

in_peer() {
	ip netns exec "$PEER_NS" "$@"
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

# at WHERE CMD...: runs CMD here (WHERE "here") or in $PEER_NS ("peer").
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
# cycle counter, calibrated by a regression over a short busy loop, and
# gives up ("Can't produce a report") when the emulated guest's clock is too
# noisy for it. Such a run says nothing about the device, so it runs once
# more; any other failure stands.
perf_pair() {
	pair "$@" && return 0
	grep -q "Can't produce a report" /tmp/cli.log /tmp/srv.log || return 1
	echo "# perftest could not calibrate its clock; running it again"
	pair "$@"
}
