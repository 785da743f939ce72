#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Runs on host a of 'mirror-vm --hosts 2' (tests/bench/run-wire): the same
# perftest runs between host a's device and host b's, across the link
# (server on b, client on a), then TCP over the same link (iperf3). Writes
# "NAME|VALUE|UNIT" lines to $MIRROR_OUT/figures and prints them; never
# fails on figures ("n/a" for a run that failed, its log printed). Each
# perftest figure is the median of $RUNS runs; the runs are kept too.
#   wire-guest.sh [--odp] [--profile | --profile-only] [--timeline WORK]
#     --odp: also ib_write_bw with ODP MRs
#     --profile: also where the time goes (profile_run, below)
#     --profile-only: only that, no figures
#     --timeline WORK: also one ib_write_lat message's way through each
#       host, WORK being the regex of the device's work item functions
#       (timeline_run, below)
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
. "$BENCH/../guest/lib.sh"

ODP=0 PROFILE=0 FIGURES=1 TIMELINE=
while [ $# -gt 0 ]; do
	case $1 in
	--odp) ODP=1 ;;
	--profile) PROFILE=1 ;;
	--profile-only) PROFILE=1 FIGURES=0 ;;
	--timeline) TIMELINE=$2; shift ;;
	*) echo "wire-guest.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
RUNS=${MIRROR_BENCH_RUNS:-5}
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

# perftest TOOL ARGS...: one run's figures, or n/a (perf_pair runs it
# again when perftest could not calibrate its clock): the BW average
# (MB/s), or for a latency tool t_typical and t_avg (usec): the median and
# the mean of its iterations. The median is the latency: in these emulated
# guests a few iterations in a hundred wait milliseconds for a host CPU
# (99th percentiles of 2-4 ms), which moves the mean by half from run to
# run. (Not named perf: the profile below runs perf(1).)
perftest() {
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
		 hdr && NF >= 4 { print (lat ? $5 " " $6 : $4); exit }' /tmp/cli.log)
	[[ $v =~ ^[0-9]+(\.[0-9]+)?( [0-9]+(\.[0-9]+)?)?$ ]] ||
		{ echo "--- $tool printed no figure" >&2; v=n/a; }
	echo "$v"
}

# fig NAME VALUE UNIT [RUNS]
fig() {
	echo "$1|$2|$3|${4:-}" | tee -a "$OUTF"
}

# median: the median of the numbers on stdin, n/a if there are none
median() {
	grep -E '^[0-9.]+$' | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a";
			else if (NR % 2) print v[(NR + 1) / 2];
			else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# median_fig NAME UNIT TOOL ARGS...: $RUNS runs of perftest TOOL ARGS; the
# median of those that gave a figure (n/a if none did), and all of them;
# for a latency tool, of the runs' medians as NAME and of their means as
# "NAME avg".
median_fig() {
	local name=$1 unit=$2 i v runs=() avgs=()
	shift 2
	for ((i = 0; i < RUNS; i++)); do
		v=$(perftest "$@")
		runs+=("${v%% *}")
		[[ $1 == *_lat ]] && avgs+=("${v#* }")
	done
	fig "$name" "$(printf '%s\n' "${runs[@]}" | median)" "$unit" "${runs[*]}"
	[ ${#avgs[@]} = 0 ] ||
		fig "$name avg" "$(printf '%s\n' "${avgs[@]}" | median)" "$unit" "${avgs[*]}"
}

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
# The link's own floor: a UDP ping-pong (sockperf, busy-polling like
# perftest, 16-byte messages, 5 s); half the round trip, as perftest's
# latencies are: its median (as for perftest, above) and its mean.
udp_lat() {
	local srv v
	at peer timeout 30 sockperf server -i "$MIRROR_PEER" -p 11111 >/tmp/ssrv.log 2>&1 &
	srv=$!
	wait_for 20 at peer bash -c "ss -Hlun 'sport = :11111' | grep -q ." ||
		{ kill "$srv"; wait "$srv"; echo n/a n/a; return; }
	v=$(timeout 30 sockperf ping-pong -i "$MIRROR_PEER" -p 11111 -t 5 -m 16 2>&1 |
		awk '/percentile 50.000 =/ { med = $NF }
		     /Summary: Latency is/ { avg = $(NF - 1) }
		     END { print med " " avg }')
	kill "$srv" 2>/dev/null
	wait "$srv" 2>/dev/null
	[[ $v =~ ^[0-9]+(\.[0-9]+)?\ [0-9]+(\.[0-9]+)?$ ]] || v="n/a n/a"
	echo "$v"
}
# The figures (not with --profile-only).
if [ "$FIGURES" = 1 ]; then
	median_fig "ib_write_bw 64KiB" MB/s ib_write_bw -s 65536 -n 1000
	median_fig "ib_read_bw 64KiB" MB/s ib_read_bw -s 65536 -n 1000
	median_fig "ib_send_bw 64KiB" MB/s ib_send_bw -s 65536 -n 1000
	median_fig "ib_write_lat 8B" usec ib_write_lat -s 8 -n 5000
	median_fig "ib_send_lat 8B" usec ib_send_lat -s 8 -n 5000
	# A receiver that falls behind: a receive queue of 8 (perftest -r 8), which
	# the sender finds empty again and again: RNR NAKs, waits and retries.
	median_fig "ib_send_bw 1KiB RQ 8" MB/s ib_send_bw -s 1024 -n 5000 -r 8
	if [ "$ODP" = 1 ]; then
		median_fig "ib_write_bw 64KiB ODP" MB/s ib_write_bw -s 65536 -n 1000 --odp
	fi
	if command -v iperf3 >/dev/null; then
		fig "TCP (iperf3)" "$(tcp)" MB/s
	else
		fig "TCP (iperf3)" n/a MB/s
	fi
	v="n/a n/a"
	command -v sockperf >/dev/null && v=$(udp_lat)
	fig "UDP ping-pong 16B" "${v% *}" usec
	fig "UDP ping-pong 16B avg" "${v#* }" usec
fi
# Where the time goes: both hosts start a recording (perf record -a -g of
# cpu-clock, one sample per ms of CPU time, no build-id pass) with its
# events off, and once both are ready perftest runs for 20 s; 6 s after
# its start both hosts turn their events on for 6 s (perf's control
# fifo), and take the CPU split (/proc/stat) and the context switches
# over the same 6 s. perf's own start (reading every process's maps)
# takes 10-15 s of a busy vCPU, which is why perftest waits for it: a
# recording started next to perftest misses perftest's run. The reports
# are made once every case has run (perf report must not run into the
# next case's recording): per host, the share of each program or module,
# the top symbols, and where each symbol of 2% or more was called from,
# to $MIRROR_OUT/profile.
PROF_SECS=6
# prof_window N SECS: records case N (see above); ready once
# /tmp/prof-N.go exists, recording SECS s after /tmp/prof-N.start does
# (which it waits for 60 s at most).
prof_window() {
	local f=/tmp/prof-$1
	rm -f "$f".*
	mkfifo "$f.ctl"
	perf record -q -g -c 1000000 -e cpu-clock -a --no-buildid -D -1 \
		--control "fifo:$f.ctl" -o "$f.data" -- sh -c "
		touch $f.go; i=0
		while [ ! -e $f.start ] && [ \$i -lt 600 ]; do sleep 0.1; i=\$((i + 1)); done
		sleep $2; echo enable >$f.ctl
		grep -E '^(cpu|ctxt) ' /proc/stat >$f.stat0; sleep $2
		grep -E '^(cpu|ctxt) ' /proc/stat >$f.stat1
		echo disable >$f.ctl" >/dev/null 2>&1
}
prof_report() {
	[ -s "/tmp/prof-$1.stat1" ] || { echo "(no recording)"; return; }
	paste "/tmp/prof-$1.stat0" "/tmp/prof-$1.stat1" | awk -v secs="$2" '
		$1 == "ctxt" { printf "context switches: %d/s\n", ($4 - $2) / secs }
		$1 == "cpu" { n = (NF - 1) / 2
			for (i = 2; i <= n + 1; i++) { d = $(i + n + 1) - $i; t += d
				if (i == 5) idle = d; if (i == 7) irq = d; if (i == 8) sirq = d
				if (i == 2) usr = d; if (i == 4) sys = d }
			printf "cpu: user %.0f%%, system %.0f%%, irq %.0f%%, softirq %.0f%%, idle %.0f%%\n",
				100 * usr / t, 100 * sys / t, 100 * irq / t, 100 * sirq / t, 100 * idle / t }'
	echo "by program or module:"
	perf report -i "/tmp/prof-$1.data" --no-children --sort dso --stdio -q -g none 2>/dev/null |
		awk 'NF && $1 ~ /%$/' | head -n 8
	echo "top symbols:"
	perf report -i "/tmp/prof-$1.data" --no-children --sort dso,sym --stdio -q -g none \
		2>/dev/null | awk 'NF && $1 ~ /%$/' | head -n 25
	echo "callers of the symbols of 2% or more:"
	perf report -i "/tmp/prof-$1.data" --no-children --sort sym --stdio -q \
		-g callee --max-stack 14 --percent-limit 2 2>/dev/null | grep -v '^ *|* *$'
}
PROF_CASES=()
# profile_run NAME TOOL ARGS...: one profiled run of TOOL (pair, not
# perf_pair: a second run would fall outside the recording); its
# figure, or why there is none, is kept with the case's name.
profile_run() {
	local name=$1 tool=$2 n=${#PROF_CASES[@]} fig
	shift 2
	PORT=$((PORT + 1))
	at peer bash -c "$(declare -f prof_window); prof_window $n $PROF_SECS" &
	bash -c "$(declare -f prof_window); prof_window $n $PROF_SECS" &
	wait_for 120 test -e "/tmp/prof-$n.go" &&
		wait_for 120 at peer test -e "/tmp/prof-$n.go" ||
		echo "--- profile $n: perf record did not start on both hosts" >&2
	touch "/tmp/prof-$n.start"
	at peer touch "/tmp/prof-$n.start"
	if pair peer here tcp_listening "$PORT" \
		"$tool" -d "$DP" -x "$GP" -p "$PORT" -D 20 "$@" -- \
		"$tool" -d "$DH" -x "$GH" -p "$PORT" -D 20 "$@" "$MIRROR_PEER" >/tmp/pair.log 2>&1; then
		fig=$(awk '/^ *#bytes/ { getline; print; exit }' /tmp/cli.log)
	elif perf_uncalibrated; then
		fig="none (perftest could not calibrate its clock)"
	else
		fig="none (the run failed)"
		cat /tmp/pair.log >&2
	fi
	wait
	PROF_CASES+=("$name, $tool $*; perftest's figure: $fig")
}
profile_reports() {
	local n
	: >"$MIRROR_OUT/profile"
	for n in "${!PROF_CASES[@]}"; do
		{
			echo "=== ${PROF_CASES[n]}"
			echo "--- host a ($DH, requester):"
			prof_report "$n" "$PROF_SECS"
			echo "--- host b ($DP, responder):"
			at peer bash -c "$(declare -f prof_report); prof_report $n $PROF_SECS"
		} | tee -a "$MIRROR_OUT/profile"
	done
}
if [ "$PROFILE" = 1 ]; then
	profile_run "latency" ib_write_lat -s 8
	profile_run "bandwidth" ib_write_bw -s 65536
	profile_run "read bandwidth" ib_read_bw -s 65536
	profile_reports
fi

# Where one message's time goes: ib_write_lat runs for 10 s while both
# hosts record 0.5 s of its middle with ftrace (receive interrupts,
# packets in and out, work items, context switches, write(2) calls: the
# doorbell); timeline.awk splits each host's turnaround (the peer's WRITE
# in to ours out) into its pieces. Tracing slows each piece a little.
timeline_window() {
	local T=/sys/kernel/tracing e
	mountpoint -q $T || mount -t tracefs nodev $T
	echo 0 >$T/tracing_on
	echo >$T/trace
	echo 8192 >$T/buffer_size_kb
	for e in net/netif_receive_skb net/net_dev_xmit irq/irq_handler_entry \
		workqueue/workqueue_execute_start workqueue/workqueue_execute_end \
		sched/sched_switch raw_syscalls/sys_enter; do
		echo 1 >$T/events/$e/enable
	done
	echo 'id == 1' >$T/events/raw_syscalls/sys_enter/filter
	sleep 5
	echo 1 >$T/tracing_on
	sleep 0.5
	echo 0 >$T/tracing_on
	cat $T/trace >/tmp/timeline.trace
	echo 0 >$T/events/enable
	echo 0 >$T/events/raw_syscalls/sys_enter/filter
}
timeline_run() {
	local work=$1
	PORT=$((PORT + 1))
	at peer bash -c "$(declare -f timeline_window); timeline_window" &
	bash -c "$(declare -f timeline_window); timeline_window" &
	perf_pair peer here tcp_listening "$PORT" \
		ib_write_lat -d "$DP" -x "$GP" -p "$PORT" -D 10 -s 8 -- \
		ib_write_lat -d "$DH" -x "$GH" -p "$PORT" -D 10 -s 8 "$MIRROR_PEER" >/tmp/pair.log 2>&1 ||
		{ echo "--- timeline of ib_write_lat failed:"; cat /tmp/pair.log; }
	wait
	{
		echo "=== timeline, ib_write_lat -s 8 (while traced: $(awk '/^ *#bytes/ { getline; print $3 " usec"; exit }' /tmp/cli.log))"
		echo "--- host a ($DH):"
		awk -v work="$work" -v app=ib_write_lat -f "$BENCH/timeline.awk" /tmp/timeline.trace
		echo "--- host b ($DP):"
		at peer awk -v work="$work" -v app=ib_write_lat -f "$BENCH/timeline.awk" /tmp/timeline.trace
	} | tee -a "$MIRROR_OUT/timeline"
}
if [ -n "$TIMELINE" ]; then
	: >"$MIRROR_OUT/timeline"
	timeline_run "$TIMELINE"
fi

echo "# host a: $DH, kernel $(uname -r); host b: $DP, kernel $(in_peer uname -r);" \
	"link MTU 9000, $(ibv_devinfo -d "$DH" | awk '/active_mtu/ { print "RoCE MTU " $2 }')"
