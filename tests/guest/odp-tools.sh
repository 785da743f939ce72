#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The ways to watch on-demand paging from outside: the trace events
# (ftrace), the device counters ('rdma statistic show link'), the per-MR
# counters ('rdma statistic mr') and the fault-latency histogram.
set -u
. "$(dirname "$0")/lib.sh"

ODP_TEST=$MIRROR_BUILD/tests/guest/mirror_odp_test
TRACING=/sys/kernel/tracing
GIDX=$(gid_index mirror0 10.11.0.1)
PORT=18700

[ -e "$TRACING/trace" ] || mount -t tracefs nodev "$TRACING"
check "tracefs lists the rdma_mirror events" \
	test -d "$TRACING/events/rdma_mirror/mirror_odp_fault_begin"
for e in fault_begin fault_end invalidate prefetch; do
	check "trace event mirror_odp_$e exists" \
		test -e "$TRACING/events/rdma_mirror/mirror_odp_$e/enable"
done

# Faults, prefetches and invalidations, with the events on.
echo > "$TRACING/trace"
echo 1 > "$TRACING/events/rdma_mirror/enable"
check "ODP cases run with tracing on" "$ODP_TEST" \
	first_touch_is_one_fault_per_block prefetch_sync_write_then_nothing_faults \
	munmap_then_map_fixed_device_uses_new_page
echo 0 > "$TRACING/events/rdma_mirror/enable"
cp "$TRACING/trace" /tmp/odp-trace.txt
for e in fault_begin fault_end invalidate prefetch; do
	check "the trace shows mirror_odp_$e" grep -q "mirror_odp_$e:" /tmp/odp-trace.txt
done
check "a traced fault names its range and result" \
	grep -Eq 'mirror_odp_fault_end: mr 0x[0-9a-f]+ \[0x[0-9a-f]+, 0x[0-9a-f]+\) err 0 pages [1-9]' \
	/tmp/odp-trace.txt

# Device counters through rdma statistic; the histogram holds every fault.
faults=$(counter mirror0 odp_faults)
check "rdma statistic shows odp_faults > 0" test "${faults:-0}" -gt 0
hist=0
for i in $(seq 10 29); do
	hist=$((hist + $(counter mirror0 "odp_fault_ns_log2_$i")))
done
check "the fault-latency histogram counts every fault ($hist of $faults)" \
	test "$hist" -eq "$faults"
for n in odp_pages_faulted odp_invalidations odp_pages_invalidated \
	odp_prefetches odp_fault_retries; do
	check "rdma statistic shows $n" test -n "$(counter mirror0 "$n")"
done

# Per-MR counters: an ODP MR of a waiting pingpong server is listed.
PORT=$((PORT + 1))
ibv_rc_pingpong -d mirror0 -g "$GIDX" -p "$PORT" -o -P -n 5 >/tmp/pp-srv.log 2>&1 &
SRV=$!
check "the ODP pingpong server listens" wait_for 20 tcp_listening "$PORT"
rdma statistic mr >/tmp/stat-mr.txt 2>&1
check "rdma statistic mr lists the ODP counters of an MR" \
	grep -Eq 'dev mirror0 mrn [0-9]+ page_faults [0-9]+ pages_faulted [0-9]+ invalidations [0-9]+ pages_invalidated [0-9]+ prefetches [1-9]' \
	/tmp/stat-mr.txt
ibv_rc_pingpong -d mirror0 -g "$GIDX" -p "$PORT" -o -P -n 5 localhost >/tmp/pp-cli.log 2>&1
wait "$SRV"
check "the ODP pingpong pair finished" test $? -eq 0

finish
