#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The packet fuzzer (pkt_fuzz.py) in a guest: mirror0 on veth0 and mirror1
# on veth1 (its own namespace) hold RC, UC and UD pairs running every
# opcode (pkt_traffic), and two fuzzers, one in each namespace, capture
# that conversation and send mutated copies of it at the far device while
# its QPs stay connected.
#
#   short (README command 2, ctest guest_fuzz_packets): 60 s, a fixed seed
#   long:  scripts/mirror-vm -- tests/fuzz/pkt-fuzz.sh -t 3600
#   replay: MIRROR_FUZZ_SEED=N ... (or -s N); the seed is printed
#
# Passes when both fuzzers captured every kind of packet and sent into the
# conversation, the device counted what it dropped, fresh QPs of every kind
# then carry every opcode byte for byte, and no QP, MR or memory is left
# behind. The harness fails the run on any kernel warning.
set -u
. "$(dirname "$0")/../guest/lib.sh"

DIR=$(dirname "$0")
TRAFFIC=$MIRROR_BUILD/tests/fuzz/pkt_traffic
SEED=${MIRROR_FUZZ_SEED:-20261202}
SECS=60
while getopts s:t: o; do
	case $o in
	s) SEED=$OPTARG ;;
	t) SECS=$OPTARG ;;
	*) echo "usage: $0 [-s SEED] [-t SECONDS]"; exit 2 ;;
	esac
done

# The sum of mirror0's and mirror1's counter NAME.
both() { echo $(($(counter mirror0 "$1") + $(counter mirror1 "$1"))); }
COUNTERS="rx_drop_malformed rx_drop_bad_icrc rx_drop_bad_opcode
rx_drop_unknown_qp rx_drop_qp_state rx_drop_bad_qkey rx_drop_out_of_window
rx_drop_bad_dest rx_drop_bad_src rx_drop_wrong_path rx_drop_queue_full
rx_packets"

check "mirror1 up in its own namespace" peer_up mirror mirror1
check "pkt_traffic is built" test -x "$TRAFFIC"
declare -A before
for c in $COUNTERS; do before[$c]=$(both "$c"); done

# The conversation runs a little longer than the fuzzers, which wait for
# it to start.
"$TRAFFIC" -a mirror0 -b mirror1 -t $((SECS + 20 * ${MIRROR_TIME_SCALE:-1})) \
	>/tmp/traffic.log 2>&1 &
tpid=$!
python3 "$DIR/pkt_fuzz.py" --iface veth0 --to 10.11.0.2 --seed "$SEED" \
	--seconds "$SECS" >/tmp/fuzz0.log 2>&1 &
f0=$!
in_peer python3 "$DIR/pkt_fuzz.py" --iface veth1 --to 10.11.0.1 \
	--seed $((SEED + 1)) --seconds "$SECS" >/tmp/fuzz1.log 2>&1 &
f1=$!
wait "$f0"; r0=$?
wait "$f1"; r1=$?
wait "$tpid"; rt=$?
cat /tmp/fuzz0.log /tmp/fuzz1.log /tmp/traffic.log | grep -v '^# opcode-seen'
check "the fuzzer at mirror1 finished" test "$r0" -eq 0
check "the fuzzer at mirror0 finished" test "$r1" -eq 0
check "the conversation kept making QPs while attacked" test "$rt" -eq 0

# Both fuzzers must have had every kind of packet to start from.
for log in /tmp/fuzz0.log /tmp/fuzz1.log; do
	missing=
	for op in RC_SEND_FIRST RC_SEND_LAST RC_SEND_ONLY_IMM RC_WRITE_FIRST \
		RC_WRITE_LAST RC_WRITE_ONLY_IMM RC_READ_REQUEST \
		RC_READ_RESP_FIRST RC_READ_RESP_LAST RC_ACK RC_ATOMIC_ACK \
		RC_FETCH_ADD RC_CMP_SWAP UC_SEND_FIRST UC_WRITE_FIRST \
		UD_SEND_ONLY; do
		grep -qx "# opcode-seen $op" "$log" || missing="$missing $op"
	done
	if [ -z "$missing" ]; then
		ok "$(basename "$log"): the capture holds every kind of packet"
	else
		not_ok "$(basename "$log"): the capture holds every kind of packet" \
			"never saw$missing"
	fi
done

# What the devices made of it: every drop has its reason counted.
dropped=0
for c in $COUNTERS; do
	d=$(($(both "$c") - before[$c]))
	echo "# $c +$d"
	[ "$c" = rx_packets ] || dropped=$((dropped + d))
done
check "the devices counted forged packets they dropped" test "$dropped" -gt 0

check "fresh QPs carry every opcode afterwards" "$TRAFFIC" -a mirror0 -b mirror1 -V

# Nothing left behind once every process is gone.
check "no QP left on the devices" wait_for 10 \
	sh -c '! rdma resource show qp | grep -E "mirror[01] .*type (RC|UC|UD)"'
check "no MR left on the devices" wait_for 10 \
	sh -c '! rdma resource show mr | grep -q "mirror[01]"'
no_mirror_bytes() { [ "$(both odp_mirror_bytes)" -eq 0 ]; }
check "no mirror page table left" wait_for 10 no_mirror_bytes
finish
