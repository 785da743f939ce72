#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Malformed RoCEv2 packets, sent from a raw IP socket to mirror1's UDP
# port 4791: each kind must be dropped and counted under its own reason,
# the target QP must keep working, and the kernel log must stay clean
# (the harness checks it).
set -u
. "$(dirname "$0")/lib.sh"

DIR=$(dirname "$0")
N=25

# sent_and_counted KIND COUNTER: N packets of KIND move COUNTER by N.
sent_and_counted() {
	local before after
	before=$(counter mirror1 "$2")
	"$DIR/malformed.py" "$1" "$N" 10.11.0.2 "$QPN" "$PSN" || return 1
	wait_for 10 test "$(counter mirror1 "$2")" -ge $((before + N))
	after=$(counter mirror1 "$2")
	[ "$after" -eq $((before + N)) ] ||
		{ echo "$2: $before -> $after, want +$N"; return 1; }
}

check "mirror1 up in its own namespace" peer_up mirror mirror1
G1=$(gid_index mirror1 10.11.0.2)
coproc TARGET { in_peer python3 "$DIR/rc_target.py" mirror1 "$G1" 10.11.0.1; }
TPID=$TARGET_PID
# Python and pyverbs start slowly on the debug kernel: the wait scales.
read -r -t $((30 * ${MIRROR_TIME_SCALE:-1})) QPN PSN <&"${TARGET[0]}"
check "an RC QP in RTS on mirror1 (pyverbs)" test -n "${QPN:-}"

check "garbage is counted as malformed" sent_and_counted garbage rx_drop_malformed
check "a truncated header is counted as malformed" \
	sent_and_counted truncated rx_drop_malformed
check "a bad ICRC is counted" sent_and_counted bad_icrc rx_drop_bad_icrc
check "an undefined opcode is counted" sent_and_counted bad_opcode rx_drop_bad_opcode
check "an unknown QPN is counted" sent_and_counted unknown_qp rx_drop_unknown_qp
check "a PSN ahead of the window is dropped and counted" \
	sent_and_counted bad_psn rx_drop_out_of_window
check "one sequence NAK answered the out-of-window burst" \
	test "$(counter mirror1 seq_err_nak_sent)" -eq 1
check "no bad packet reached a receive (no RNR NAK)" test "$(counter mirror1 rnr_nak_sent)" -eq 0

# The device still works after all that.
kill "$TPID" 2>/dev/null
wait "$TPID" 2>/dev/null
G0=$(gid_index mirror0 10.11.0.1)
PORT=18900
check "RC traffic still flows" pair peer here tcp_listening "$PORT" \
	ibv_rc_pingpong -d mirror1 -g "$G1" -p "$PORT" -n 50 -c -- \
	ibv_rc_pingpong -d mirror0 -g "$G0" -p "$PORT" -n 50 -c 10.11.0.2

finish
