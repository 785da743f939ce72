#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs inside one guest (scripts/mirror-vm --rxe): the same perftest runs
# on mirror0 and on rdma_rxe's rxe0 (each between two processes on one
# device), the guest's memcpy bandwidth, then mirror0 <-> mirror1 over
# RoCEv2 through the veth pair. Prints a table; never fails on figures.
set -u
. "$(dirname "$0")/../guest/lib.sh"

PORT=19500
# The same flags for both devices: perftest's defaults (the ibv_wr_* API).
COMMON=()

# perf DEV ADDR NS TOOL ARGS...: one perftest run (server on DEV in
# namespace NS or "-", client on DEV_CLIENT or DEV); prints BW average
# (MB/s) or t_avg (usec), or "n/a" when the run failed.
perf() {
	local dev=$1 cdev=$2 addr=$3 ns=$4 tool=$5 g gc srv rc v pre=()
	shift 5
	PORT=$((PORT + 1))
	[ "$ns" != - ] && pre=(ip netns exec "$ns")
	g=$(gid_index "$dev" "$addr")
	gc=$(gid_index "$cdev" "$([ "$ns" != - ] && echo 10.11.0.1 || echo "$addr")")
	"${pre[@]}" timeout 300 "$tool" -d "$dev" -x "$g" -p "$PORT" \
		"${COMMON[@]}" "$@" >/tmp/bsrv.log 2>&1 &
	srv=$!
	if ! wait_for 30 "${pre[@]}" bash -c "ss -ltn | grep -q :$PORT"; then
		kill "$srv" 2>/dev/null; wait "$srv"; echo n/a; return
	fi
	timeout 300 "$tool" -d "$cdev" -x "$gc" -p "$PORT" "${COMMON[@]}" "$@" \
		"$addr" >/tmp/bcli.log 2>&1
	rc=$?
	wait "$srv"
	if [ "$rc" -ne 0 ]; then
		echo "n/a"
		{ echo "--- $tool on $dev failed (status $rc); client:"; cat /tmp/bcli.log
		  echo "server:"; cat /tmp/bsrv.log; } >>/tmp/bench-errors.log
		return
	fi
	# The row after the header: BW average is column 4, t_avg column 6.
	v=$(awk -v lat="$([[ $tool == *_lat ]] && echo 1 || echo 0)" \
		'/^ *#bytes/ { hdr = 1; next }
		 hdr && NF >= 4 { print (lat ? $6 : $4); exit }' /tmp/bcli.log)
	# Not a figure ("inf" when perftest's clock calibration failed):
	# left out, with the run's log.
	if ! [[ $v =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
		echo "n/a"
		{ echo "--- $tool on $dev printed no figure ($v):"; cat /tmp/bcli.log; } >>/tmp/bench-errors.log
		return
	fi
	echo "$v"
}

ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || b == 0) print "n/a";
		else printf "%.2f\n", a / b }'
}

TESTS=(
	"ib_write_bw 64KiB|ib_write_bw -s 65536 -n 500|MB/s"
	"ib_read_bw 64KiB|ib_read_bw -s 65536 -n 500|MB/s"
	"ib_send_bw 64KiB|ib_send_bw -s 65536 -n 500|MB/s"
	"ib_write_lat 8B|ib_write_lat -s 8 -n 1000|usec"
	"ib_send_lat 8B|ib_send_lat -s 8 -n 1000|usec"
	"ib_send_lat 8B -e|ib_send_lat -s 8 -n 1000 -e|usec"
)

MEMCPY_OUT=$("$MIRROR_BUILD/tests/bench/memcpy_bw")
MEMCPY=${MEMCPY_OUT% *}
MEMCPY_COLD=${MEMCPY_OUT#* }
# One sleep and wake-up between two processes (wake_lat.c): the floor under
# any completion taken by event, whatever the device.
WAKE_OUT=$("$MIRROR_BUILD/tests/bench/wake_lat" 5000)
WAKE=${WAKE_OUT#wake_lat }
[[ $WAKE =~ ^[0-9]+(\.[0-9]+)?$ ]] || WAKE=n/a
declare -A MIR RXE WIRE
for t in "${TESTS[@]}"; do
	IFS='|' read -r name cmd unit <<<"$t"
	read -r -a argv <<<"$cmd"
	MIR[$name]=$(perf mirror0 mirror0 10.11.0.1 - "${argv[@]}")
	RXE[$name]=$(perf rxe0 rxe0 10.11.0.2 - "${argv[@]}")
done

# ODP on mirror0, before the wire part below re-creates it: ib_write_bw
# 64 KiB with pinned MRs and with --odp (ODP MRs), alternating, four runs
# each (the emulated guest is noisy); the device's first-touch fault cost
# against the CPU's; munmap of a mirrored region against an unmirrored one.
ODP_W="ib_write_bw -s 65536 -n 500"
declare -a PIN_RUNS ODP_RUNS
for r in 0 1 2 3; do
	read -r -a argv <<<"$ODP_W"
	PIN_RUNS[r]=$(perf mirror0 mirror0 10.11.0.1 - "${argv[@]}")
	ODP_RUNS[r]=$(perf mirror0 mirror0 10.11.0.1 - "${argv[@]}" --odp)
done
FAULT_OUT=$("$MIRROR_BUILD/tests/bench/odp_fault_cost" 2>/tmp/bfault.err) ||
	{ echo "--- odp_fault_cost failed:"; cat /tmp/bfault.err; } >>/tmp/bench-errors.log
MUNMAP_OUT=$("$MIRROR_BUILD/tests/bench/odp_munmap" 2>/tmp/bmunmap.err) ||
	{ echo "--- odp_munmap failed:"; cat /tmp/bmunmap.err; } >>/tmp/bench-errors.log

# Over the wire: rxe0 and rdma_rxe out of the way (it holds UDP 4791 in
# this namespace), mirror0 re-created with its socket, mirror1 beside.
rdma link delete rxe0 && rmmod rdma_rxe &&
	rdma link delete mirror0 &&
	rdma link add mirror0 type mirror netdev veth0 &&
	wait_for 20 gid_index mirror0 10.11.0.1 &&
	ip link set veth1 down && ip addr flush dev veth1 &&
	peer_up mirror mirror1 >/dev/null 2>&1
for t in "${TESTS[@]}"; do
	IFS='|' read -r name cmd unit <<<"$t"
	read -r -a argv <<<"$cmd"
	WIRE[$name]=$(perf mirror1 mirror0 10.11.0.2 "$PEER_NS" "${argv[@]}")
done

echo
echo "mirrorverbs benchmark, $(date -u +%Y-%m-%d), guest kernel $(uname -r), $(nproc) vCPUs (QEMU TCG)"
echo "same perftest flags on both devices: ${COMMON[*]:-(defaults)}; each test between two processes on one device"
printf '%-18s %-6s %12s %12s %14s %15s %16s\n' test unit mirror0 rxe0 "mirror0/rxe0" "mirror0/memcpy" "RoCEv2 (veth)"
for t in "${TESTS[@]}"; do
	IFS='|' read -r name cmd unit <<<"$t"
	if [ "$unit" = MB/s ]; then
		mc=$(ratio "${MIR[$name]}" "$MEMCPY")
	else
		mc=-
	fi
	printf '%-18s %-6s %12s %12s %14s %15s %16s\n' "$name" "$unit" \
		"${MIR[$name]}" "${RXE[$name]}" "$(ratio "${MIR[$name]}" "${RXE[$name]}")" \
		"$mc" "${WIRE[$name]}"
done
printf '%-18s %-6s %12s   (one 64 KiB buffer to another, as perftest reuses one)\n' \
	"memcpy 64KiB hot" MB/s "$MEMCPY"
printf '%-18s %-6s %12s   (64 KiB steps through 64 MiB areas)\n' \
	"memcpy 64KiB cold" MB/s "$MEMCPY_COLD"
echo "mirror0/memcpy is against the hot figure."
# Completions by event (ibv_req_notify_cq + ibv_get_cq_event, perftest -e)
# against polling, per device: the cost of a wake-up per message.
EV="ib_send_lat 8B -e" PO="ib_send_lat 8B"
echo "ib_send_lat 8B, events over polling: mirror0 $(ratio "${MIR[$EV]}" "${MIR[$PO]}")x," \
	"rxe0 $(ratio "${RXE[$EV]}" "${RXE[$PO]}")x, RoCEv2 $(ratio "${WIRE[$EV]}" "${WIRE[$PO]}")x (target for mirror: <= 3x)"
# Each message by event costs at least one process wake-up more than by
# polling: the floor is polling + WAKE, and what the device adds by event
# is how far above that floor it lands.
FLOOR=$(awk -v p="${MIR[$PO]}" -v w="$WAKE" 'BEGIN {
	if (p == "n/a" || w == "n/a") print "n/a"; else printf "%.2f\n", p + w }')
echo "one sleep+wake-up between two processes here (pipe ping-pong, wake_lat): $WAKE usec;" \
	"mirror0's floor by event = polling + wake-up = $FLOOR usec ($(ratio "$FLOOR" "${MIR[$PO]}")x polling);" \
	"mirror0 -e / floor: $(ratio "${MIR[$EV]}" "$FLOOR")x"
echo "(RoCEv2 (veth): mirror0 -> mirror1 in another network namespace, same flags)"

# mean FIGURE...: the mean of those that are not n/a (a run perftest could
# not report on is left out), or n/a if none is left.
mean() {
	echo "$@" | awk '{ for (i = 1; i <= NF; i++) if ($i != "n/a") { s += $i; n++ } }
		END { if (n) printf "%.2f\n", s / n; else print "n/a" }'
}
# result OUTPUT NAME COLUMN: field COLUMN of OUTPUT's "result NAME ..." line.
result() {
	echo "$1" | awk -v n="$2" -v c="$3" '$1 == "result" && $2 == n { print $(c + 2); f = 1 }
		END { if (!f) print "n/a" }'
}
odp_row() {
	printf '%-30s %-8s %12s %12s %8s %8s\n' "$1" "$2" "$3" "$4" "$(ratio "$3" "$4")" "$5"
}
PIN=$(mean "${PIN_RUNS[@]}")
ODPBW=$(mean "${ODP_RUNS[@]}")
MUNMAP_MIB=$(result "$MUNMAP_OUT" munmap 3)
echo
echo "ODP on mirror0, same guest (each row: ODP or device figure, its pinned or CPU counterpart, ratio, target)"
printf '%-30s %-8s %12s %12s %8s %8s\n' test unit ODP/device pinned/CPU ratio target
odp_row "ib_write_bw 64KiB --odp" MB/s "$ODPBW" "$PIN" ">= 0.95"
odp_row "first touch, 4KiB pages" ns/page "$(result "$FAULT_OUT" fault_4k 1)" \
	"$(result "$FAULT_OUT" fault_4k 2)" "<= 2"
odp_row "  sync prefetch + write" ns/page "$(result "$FAULT_OUT" prefetch_4k 1)" \
	"$(result "$FAULT_OUT" prefetch_4k 2)" "<= 2"
if echo "$FAULT_OUT" | grep -q '^skip fault_thp'; then
	printf '%-30s SKIP: %s\n' "first touch, THP (2MiB)" \
		"$(echo "$FAULT_OUT" | sed -n 's/^skip fault_thp //p')"
else
	odp_row "first touch, THP (2MiB)" ns/page "$(result "$FAULT_OUT" fault_thp 1)" \
		"$(result "$FAULT_OUT" fault_thp 2)" "<= 2"
fi
odp_row "  again, mirrored (copy only)" ns/page "$(result "$FAULT_OUT" warm_4k 1)" \
	"$(result "$FAULT_OUT" warm_4k 2)" -
odp_row "munmap ${MUNMAP_MIB}MiB, touched" ms "$(result "$MUNMAP_OUT" munmap 1)" \
	"$(result "$MUNMAP_OUT" munmap 2)" -
echo "ib_write_bw: mean of four runs each (n/a: left out), alternating pinned and --odp" \
	"(pinned: ${PIN_RUNS[*]}; --odp: ${ODP_RUNS[*]})."
echo "first touch: an ODP MR over fresh memory filled once by 1 MiB RDMA writes from a"
echo "hot pinned buffer vs memcpy of that buffer over fresh memory (ns per 4 KiB page);"
echo "munmap: mirrored = an ODP MR over the region with every page mirrored."
printf '%s\n%s\n' "$FAULT_OUT" "$MUNMAP_OUT" | grep '^#' || true
if [ -s /tmp/bench-errors.log ]; then
	echo; echo "failed runs:"; cat /tmp/bench-errors.log
fi

# --- implicit ODP (implicit_bench.c): ibv_reg_mr time of an implicit MR
# against 1 GiB pinned, mirror memory per mirrored page, implicit against
# pinned bandwidth of warm 64 KiB RDMA writes. Same-device traffic on
# mirror0 (back on veth0 after the RoCEv2 part); prints its own table.
echo
timeout 600 "$MIRROR_BUILD/tests/bench/implicit_bench" -d mirror0 ||
	echo "implicit_bench failed (status $?)"
# --- end of implicit ODP
exit 0
