#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# perftest's tools between two processes on mirror0 (same-device traffic):
# each server/client pair must exit 0 and the client must print its
# results table with a row for the size it ran. Iteration counts are small
# (the guest is emulated); the figures are not judged.
#
# perftest 4.5 posts with ibv_create_qp_ex + ibv_wr_* by default, so most
# runs exercise that path; a few repeat with --use_old_post_send
# (ibv_post_send). perftest has no payload check of its own to turn on.
# The --odp runs use ODP MRs; see there for how they show it.
#
# No -R (rdma_cm) runs: Debian's perftest connects its data QP right after
# the parameter exchange, racing the server's second rdma_listen(); losing
# the race is a REJ "invalid service ID" and perftest 4.5 then crashes in
# its error path (later perftest retries). rdmacm.sh covers rdma_cm.
set -u
. "$(dirname "$0")/lib.sh"

GIDX=$(gid_index mirror0 10.11.0.1)
PORT=19515
ITERS=200

# The results row for SIZE: "<size> <iterations> <figures...>".
has_row() {
	grep -Eq "^[[:space:]]*$1[[:space:]]+[0-9]+[[:space:]]+[0-9.]+" "$2"
}

# perf TOOL SIZE ARGS...: server and client on mirror0 (a fresh port per
# run, so a failed run cannot leave a server in the way of the next); the
# client must print a results row for SIZE, which goes to the log.
perf() {
	local tool=$1 size=$2
	shift 2
	PORT=$((PORT + 1))
	perf_pair here here tcp_listening "$PORT" \
		"$tool" -d mirror0 -x "$GIDX" -p "$PORT" -n "$ITERS" -s "$size" "$@" -- \
		"$tool" -d mirror0 -x "$GIDX" -p "$PORT" -n "$ITERS" -s "$size" "$@" \
		10.11.0.1 >&3 || return 1
	if ! has_row "$size" /tmp/cli.log; then
		{ echo "--- no results row:"; cat /tmp/cli.log; } >&3
		return 1
	fi
	grep -E "^[[:space:]]*${size}[[:space:]]+[0-9]+" /tmp/cli.log | head -n1 |
		sed "s/^/    # $tool $* /" >&3
}

# check() captures what perf prints; the figures go to the log through fd 3.
exec 3>&1

check "found the IPv4 RoCEv2 GID index" test -n "$GIDX"

for tool in ib_write_bw ib_read_bw ib_send_bw; do
	for size in 64 65536; do
		check "$tool RC, $size bytes" perf "$tool" "$size"
	done
done
check "ib_write_bw RC with ibv_post_send" perf ib_write_bw 4096 --use_old_post_send
check "ib_send_bw RC with events" perf ib_send_bw 4096 -e
check "ib_atomic_bw RC, fetch-and-add" perf ib_atomic_bw 8 -A FETCH_AND_ADD
check "ib_atomic_bw RC, compare-and-swap" perf ib_atomic_bw 8 -A CMP_AND_SWAP
check "ib_atomic_bw RC with ibv_post_send" perf ib_atomic_bw 8 --use_old_post_send

for tool in ib_write_lat ib_read_lat ib_send_lat; do
	for size in 2 4096; do
		check "$tool RC, $size bytes" perf "$tool" "$size"
	done
done
check "ib_send_lat RC with ibv_post_send" perf ib_send_lat 64 --use_old_post_send
check "ib_atomic_lat RC, fetch-and-add" perf ib_atomic_lat 8 -A FETCH_AND_ADD

for size in 64 1024; do
	check "ib_send_bw UD, $size bytes" perf ib_send_bw "$size" -c UD
	check "ib_send_lat UD, $size bytes" perf ib_send_lat "$size" -c UD
done

# ODP: with --odp perftest registers its buffers with IBV_ACCESS_ON_DEMAND.
# Debian's perftest 4.5 zeroes its buffer before registering it, and the
# device mirrors pages already present at registration without a fault, so
# those runs fault nothing: they must just work. With --mmap=FILE the buffer
# is a shared mapping of FILE instead, never touched before registration
# (a fresh sparse file on tmpfs per side), so the device must fault it in:
# mirror0's odp_faults must grow during such a run, which shows ODP was
# really used. A pinned run must leave odp_faults alone (nothing else moves
# it).

# perf_odp_faults WANT TOOL SIZE ARGS...: perf with ARGS, where "@MMAP@"
# stands for --mmap of a fresh file of each side; then odp_faults grew
# (WANT "grows") or stayed (WANT "stays").
perf_odp_faults() {
	local want=$1 tool=$2 size=$3 before after a srv=() cli=()
	shift 3
	for a in "$@"; do
		if [ "$a" = @MMAP@ ]; then
			srv+=(--mmap=/dev/shm/perf-odp-srv)
			cli+=(--mmap=/dev/shm/perf-odp-cli)
		else
			srv+=("$a")
			cli+=("$a")
		fi
	done
	rm -f /dev/shm/perf-odp-srv /dev/shm/perf-odp-cli
	truncate -s 16M /dev/shm/perf-odp-srv /dev/shm/perf-odp-cli || return 1
	before=$(counter mirror0 odp_faults)
	PORT=$((PORT + 1))
	perf_pair here here tcp_listening "$PORT" \
		"$tool" -d mirror0 -x "$GIDX" -p "$PORT" -n "$ITERS" -s "$size" "${srv[@]}" -- \
		"$tool" -d mirror0 -x "$GIDX" -p "$PORT" -n "$ITERS" -s "$size" "${cli[@]}" \
		10.11.0.1 >&3 || return 1
	if ! has_row "$size" /tmp/cli.log; then
		{ echo "--- no results row:"; cat /tmp/cli.log; } >&3
		return 1
	fi
	after=$(counter mirror0 odp_faults)
	grep -E "^[[:space:]]*${size}[[:space:]]+[0-9]+" /tmp/cli.log | head -n1 |
		sed "s/^/    # $tool $* (odp_faults $before -> $after) /" >&3
	if [ "$want" = grows ] && [ "$after" -le "$before" ]; then
		echo "odp_faults stayed at $before during the run"
		return 1
	fi
	if [ "$want" = stays ] && [ "$after" -ne "$before" ]; then
		echo "odp_faults moved $before -> $after during a pinned run"
		return 1
	fi
}

check "ib_write_bw RC pinned, 65536 bytes, leaves odp_faults alone" \
	perf_odp_faults stays ib_write_bw 65536 @MMAP@
for tool in ib_write_bw ib_read_bw ib_send_bw; do
	check "$tool RC --odp, 65536 bytes" perf "$tool" 65536 --odp
	check "$tool RC --odp --mmap, 65536 bytes, odp_faults grows" \
		perf_odp_faults grows "$tool" 65536 --odp @MMAP@
done
check "ib_send_bw UD --odp --mmap, 1024 bytes, odp_faults grows" \
	perf_odp_faults grows ib_send_bw 1024 -c UD --odp @MMAP@

finish
