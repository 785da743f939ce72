#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# UCX (Debian's ucx-utils) on mirror: ucx_perftest's UCP tests over the RC
# and UD verbs transports (UCX_TLS=rc_verbs,ud_verbs, and ud_verbs alone),
# memory registered through UCX's registration cache, between two
# processes on mirror0 (same device) and from mirror0 to mirror1 in a
# namespace (over RoCEv2). Every run must end with UCX's final figures and exit 0. Then
# a small MPI program (Open MPI, pml ucx, 2 ranks) on mirror0.
#
# UD is where the RoCE packet type matters: UCX's UD transport reads it
# from a receive completion's SL (ConnectX's convention) to find the
# destination GID in the GRH area, and drops what it cannot match; the
# device's GIDs here are IPv4-mapped, so every UD packet depends on it.
set -u
. "$(dirname "$0")/lib.sh"

PORT=13400
A=10.11.0.2
G0=$(gid_index mirror0 10.11.0.1)

# ucx TEST TLS REG WHERE: ucx_perftest -t TEST with UCX_TLS=TLS and
# UCX_IB_REG_METHODS=REG; WHERE: same (server and client on mirror0) or
# wire (server on mirror1 in the namespace). Both ends use the device's
# IPv4 RoCEv2 GID; shared memory and TCP are out (UCX_TLS names only verbs
# transports), so every byte goes through the device.
ucx() {
	local test=$1 tls=$2 reg=$3 where=$4 sat sdev host iters env
	PORT=$((PORT + 1))
	if [ "$where" = same ]; then
		sat=here sdev=mirror0 host=10.11.0.1
	else
		sat=peer sdev=mirror1 host=$A
	fi
	case $test in
	*lat) iters=300 ;;
	*) iters=1000 ;;
	esac
	env=(env UCX_TLS="$tls" UCX_IB_REG_METHODS="$reg"
		UCX_IB_GID_INDEX="$G0" UCX_WARN_UNUSED_ENV_VARS=n)
	pair "$sat" here tcp_listening "$PORT" \
		"${env[@]}" UCX_NET_DEVICES="$sdev:1" \
		ucx_perftest -p "$PORT" -- \
		"${env[@]}" UCX_NET_DEVICES=mirror0:1 \
		ucx_perftest "$host" -p "$PORT" -t "$test" -s 4096 -n "$iters" \
		-w 20 || return 1
	grep -q "Final:" /tmp/cli.log ||
		{ echo "--- no final figures:"; cat /tmp/cli.log; return 1; }
	grep "Final:" /tmp/cli.log | sed "s/^/    # $test $tls $reg $where: /" >&3
}

exec 3>&1

check "found the IPv4 RoCEv2 GID index" test -n "$G0"
check "mirror1 up in its own namespace" peer_up mirror mirror1
check "mirror1's GID index is mirror0's" \
	test "$(in_peer bash -c "$(declare -f gid_index gid_lookup); gid_index mirror1 $A")" = "$G0"

for where in same wire; do
	for tls in rc_verbs,ud_verbs ud_verbs; do
		# Not UCX_IB_REG_METHODS=odp (one implicit ODP MR): the
		# transfers complete on it, but UCX 1.13.1 then dies in
		# uct_ib_md_close (SIGSEGV at 0x11) whenever it closes an MD
		# that has a global ODP key: it passes the key to a function
		# that takes other parameters (openucx/ucx issues 8735 and
		# 9392, fixed after 1.13). Debian's UCX cannot exit cleanly
		# with it on any device.
		for reg in rcache; do
			for t in ucp_put_bw ucp_get tag_bw tag_lat; do
				check "ucx_perftest $t, $tls, $reg, $where" \
					ucx "$t" "$tls" "$reg" "$where"
			done
		done
	done
done

# Open MPI over UCX: two ranks on this host, pml ucx, UCX restricted to
# the RC and UD verbs transports on mirror0 (no shared memory), so every
# message and collective goes through the device; mpi_check checks the
# data itself.
mpi_run() {
	local bin=$MIRROR_BUILD/tests/guest/mpi_check
	[ -x "$bin" ] || { echo "mpi_check was not built (no Open MPI: scripts/install-deps installs it)"; return 1; }
	timeout $((300 * ${MIRROR_TIME_SCALE:-1})) \
		mpirun --allow-run-as-root --oversubscribe -np 2 \
		--mca pml ucx --mca btl ^vader,tcp,openib,uct --mca osc ^ucx \
		-x UCX_TLS=rc_verbs,ud_verbs -x UCX_NET_DEVICES=mirror0:1 \
		-x UCX_IB_GID_INDEX="$G0" -x UCX_IB_REG_METHODS="$1" \
		-x UCX_WARN_UNUSED_ENV_VARS=n \
		"$bin" >/tmp/mpi.log 2>&1
	local rc=$?
	grep -q "^mpi_check: OK" /tmp/mpi.log && [ $rc = 0 ] ||
		{ echo "--- mpirun exited $rc:"; cat /tmp/mpi.log; return 1; }
}
check "Open MPI (pml ucx), 2 ranks, point to point and collectives, rcache" \
	mpi_run rcache
finish
