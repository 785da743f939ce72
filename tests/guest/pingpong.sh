#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# rdma-core's ibv_*_pingpong (rc, uc, ud, srq) between two processes on
# mirror0 (same-device traffic), with data checks (-c), with completion
# events (-e) and with ODP memory (-o, -P).
set -u
. "$(dirname "$0")/lib.sh"

GIDX=$(gid_index mirror0 10.11.0.1)
PORT=18515

# pingpong TOOL ARGS...: server and client on mirror0, each bounded in
# time; the client starts once the server listens (a fresh port per run,
# so a failed run cannot leave a server in the way of the next).
pingpong() {
	local tool=$1
	shift
	PORT=$((PORT + 1))
	pair here here tcp_listening "$PORT" \
		"$tool" -d mirror0 -g "$GIDX" -p "$PORT" "$@" -- \
		"$tool" -d mirror0 -g "$GIDX" -p "$PORT" "$@" localhost
}

check "found the IPv4 GID index" test -n "$GIDX"
for t in rc uc ud; do
	check "ibv_${t}_pingpong" pingpong "ibv_${t}_pingpong" -n 500
	check "ibv_${t}_pingpong with events" pingpong "ibv_${t}_pingpong" -n 200 -e
done
check "ibv_rc_pingpong with data check" pingpong ibv_rc_pingpong -n 200 -c
check "ibv_rc_pingpong 64 KiB messages" pingpong ibv_rc_pingpong -n 100 -s 65536
check "ibv_uc_pingpong with data check" pingpong ibv_uc_pingpong -n 200 -c
check "ibv_ud_pingpong with data check" pingpong ibv_ud_pingpong -n 200 -c
check "ibv_srq_pingpong, 16 QPs on one SRQ, data check" \
	pingpong ibv_srq_pingpong -n 200 -c
check "ibv_srq_pingpong, 4 QPs, events" pingpong ibv_srq_pingpong -q 4 -n 100 -e
check "ibv_srq_pingpong, 64 KiB, small rx depth" \
	pingpong ibv_srq_pingpong -q 4 -n 50 -s 65536 -r 8 -c
# On-demand paging: the tools register their buffers with
# IBV_ACCESS_ON_DEMAND (and -P prefetches them with ibv_advise_mr).
check "ibv_rc_pingpong ODP with data check" pingpong ibv_rc_pingpong -o -n 200 -c
check "ibv_rc_pingpong ODP 64 KiB with prefetch" \
	pingpong ibv_rc_pingpong -o -P -n 50 -s 65536 -c
check "ibv_srq_pingpong ODP, 4 QPs, data check" \
	pingpong ibv_srq_pingpong -o -q 4 -n 100 -c

finish
