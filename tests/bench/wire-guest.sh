#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs on host a of 'mirror-vm --hosts 2' (tests/bench/run-wire): the same
# perftest runs between host a's device and host b's, across the link
# (server on b, client on a), then TCP over the same link (iperf3). Writes
# "NAME|VALUE|UNIT" lines to $MIRROR_OUT/figures and prints them; never
# fails on figures ("n/a" for a run that failed, its log printed).
#   wire-guest.sh [--odp]     --odp: also ib_write_bw with ODP MRs
set -u
. "$(dirname "$0")/../guest/lib.sh"

ODP=0
[ "${1:-}" = --odp ] && ODP=1
# Jumbo frames on the link, both hosts: RoCE's largest MTU, 4096, for
# rxe and mirror alike (4 times fewer packets than at 1500), and the same
# link MTU for TCP.
ip link set "$MIRROR_LINK_DEV" mtu 9000
in_peer ip link set "$MIRROR_LINK_DEV" mtu 9000
DH=$MIRROR_RDMA_DEV
DP=$(in_peer printenv MIRROR_RDMA_DEV)
GH=$(gid_index "$DH" "$MIRROR_IP")
GP=$(in_peer bash -c "$(declare -f gid_index gid_lookup); gid_index $DP $MIRROR_PEER")
PORT=19700
OUTF=$MIRROR_OUT/figures
: >"$OUTF"

# perf TOOL ARGS...: BW average (MB/s) or t_avg (usec) of one run, or n/a
# (perf_pair runs it again when perftest could not calibrate its clock).
perf() {
	local tool=$1 v
	shift
	PORT=$((PORT + 1))
	if ! perf_pair peer here tcp_listening "$PORT" \
		"$tool" -d "$DP" -x "$GP" -p "$PORT" "$@" -- \
		"$tool" -d "$DH" -x "$GH" -p "$PORT" "$@" "$MIRROR_PEER" >/tmp/pair.log 2>&1; then
		{ echo "--- $tool $* failed:"; cat /tmp/pair.log; } >&2
		echo n/a
		return
	fi
	v=$(awk -v lat="$([[ $tool == *_lat ]] && echo 1 || echo 0)" \
		'/^ *#bytes/ { hdr = 1; next }
		 hdr && NF >= 4 { print (lat ? $6 : $4); exit }' /tmp/cli.log)
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "--- $tool printed no figure" >&2; v=n/a; }
	echo "$v"
}

fig() {
	echo "$1|$2|$3" | tee -a "$OUTF"
}

fig "ib_write_bw 64KiB" "$(perf ib_write_bw -s 65536 -n 1000)" MB/s
fig "ib_read_bw 64KiB" "$(perf ib_read_bw -s 65536 -n 1000)" MB/s
fig "ib_send_bw 64KiB" "$(perf ib_send_bw -s 65536 -n 1000)" MB/s
fig "ib_write_lat 8B" "$(perf ib_write_lat -s 8 -n 1000)" usec
fig "ib_send_lat 8B" "$(perf ib_send_lat -s 8 -n 1000)" usec
if [ "$ODP" = 1 ]; then
	fig "ib_write_bw 64KiB ODP" "$(perf ib_write_bw -s 65536 -n 1000 --odp)" MB/s
fi

# TCP over the same link: iperf3, 10 s, one stream, receiver's figure.
tcp() {
	local srv v
	at peer timeout 60 iperf3 -s -1 -p 5299 >/tmp/isrv.log 2>&1 &
	srv=$!
	wait_for 20 at peer bash -c "$(declare -f tcp_listening); tcp_listening 5299" ||
		{ kill "$srv"; wait "$srv"; echo n/a; return; }
	v=$(timeout 60 iperf3 -c "$MIRROR_PEER" -p 5299 -t 10 -f M 2>&1 |
		awk '/receiver/ { for (i = 1; i < NF; i++) if ($(i + 1) == "MBytes/sec") v = $i } END { print v }')
	wait "$srv"
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || v=n/a
	echo "$v"
}
if command -v iperf3 >/dev/null; then
	fig "TCP (iperf3)" "$(tcp)" MB/s
else
	fig "TCP (iperf3)" n/a MB/s
fi
# The link's own floor: a UDP ping-pong (sockperf, busy-polling like
# perftest, 16-byte messages, 5 s); half the round trip, as perftest's
# latencies are.
udp_lat() {
	local srv v
	at peer timeout 30 sockperf server -i "$MIRROR_PEER" -p 11111 >/tmp/ssrv.log 2>&1 &
	srv=$!
	wait_for 20 at peer bash -c "ss -Hlun 'sport = :11111' | grep -q ." ||
		{ kill "$srv"; wait "$srv"; echo n/a; return; }
	v=$(timeout 30 sockperf ping-pong -i "$MIRROR_PEER" -p 11111 -t 5 -m 16 2>&1 |
		sed -n 's/.*Summary: Latency is \([0-9.]*\) usec.*/\1/p')
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	[[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]] || v=n/a
	echo "$v"
}
if command -v sockperf >/dev/null; then
	fig "UDP ping-pong 16B" "$(udp_lat)" usec
else
	fig "UDP ping-pong 16B" n/a usec
fi
echo "# host a: $DH, kernel $(uname -r); host b: $DP, kernel $(in_peer uname -r);" \
	"link MTU 9000, $(ibv_devinfo -d "$DH" | awk '/active_mtu/ { print "RoCE MTU " $2 }')"
