#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The network attacker of the threat model: anyone who can send UDP to
# port 4791, with any source and destination address on the packet. A
# raw IP socket here (init namespace, veth0) forges RoCEv2 packets at a
# victim QP on mirror1 (veth1, in its own namespace), whose numbers
# (QPN, PSNs, rkey, address) it is given: the worst case. Each attack must
# be dropped and counted, the victim must see nothing, and a control
# packet that differs only in what the check looks at must get through
# (so the attack packet was otherwise well formed). The harness fails the
# run on any warning in the kernel log.
set -u
. "$(dirname "$0")/lib.sh"

DIR=$(dirname "$0")
TARGET=$MIRROR_BUILD/tests/guest/mirror_wire_target
SCALE=${MIRROR_TIME_SCALE:-1}
GOOD=10.11.0.1		# the victim's peer: veth0's address
SPOOF=10.11.0.99	# anyone else
VICTIM=10.11.0.2

# atk KIND SRC [DST] ARGS...: attack_wire.py at the victim's QPN, with the
# PSN in $PSN. DST defaults to the victim's address.
atk() {
	local kind=$1 src=$2 dst=$VICTIM
	shift 2
	if [ "${1:-}" = to ]; then dst=$2; shift 2; fi
	python3 "$DIR/attack_wire.py" "$kind" "$src" "$dst" "$QPN" "$PSN" "$@"
}

# tgt_start ARGS...: a mirror_wire_target on mirror1 (peer namespace) as a
# coprocess; its numbers land in QPN, RQ_PSN, SQ_PSN, RKEY, VA.
tgt_start() {
	local line
	coproc TGT { in_peer "$TARGET" mirror1 "$G1" "$@" 2>&1; }
	TPID=$TGT_PID
	read -r -t $((30 * SCALE)) line <&"${TGT[0]}" || return 1
	set -- $line
	[ "$1" = qpn ] || { echo "target said: $line"; return 1; }
	QPN=$2 RQ_PSN=$4 SQ_PSN=$6 RKEY=$8 VA=${10}
}

# tgt CMD: one command to the target; its answer lands in REPLY.
tgt() {
	echo "$*" >&"${TGT[1]}" || return 1
	read -r -t $((60 * SCALE)) REPLY <&"${TGT[0]}"
}

tgt_stop() {
	echo exit >&"${TGT[1]}" 2>/dev/null
	wait "$TPID" 2>/dev/null
}

# moved COUNTER BEFORE N: mirror1's COUNTER is BEFORE + N now.
c1() { counter mirror1 "$1"; }
moved() {
	local now
	wait_for 5 test "$(c1 "$1")" -ge $(($2 + $3))
	now=$(c1 "$1")
	[ "$now" -eq $(($2 + $3)) ] || { echo "$1: $2 -> $now, want +$3"; return 1; }
}

# polled WANT: the target's completions over a while are WANT ("wc 0",
# or "wc 1 STATUS:OPCODE:LEN").
polled() {
	tgt poll $((400 * SCALE)) || return 1
	[ "$REPLY" = "$1" ] || { echo "completions: $REPLY, want $1"; return 1; }
}

check "mirror1 up in its own namespace" peer_up mirror mirror1
G1=$(gid_index mirror1 $VICTIM)
check "mirror_wire_target is built" test -x "$TARGET"

# 1. Spoofed source: a SEND at the right QPN and PSN, from someone else.
tgt_start "$GOOD" 0x123456 rc
check "RC victim in RTS" test -n "${QPN:-}"
PSN=$RQ_PSN
tgt recv 4
b=$(c1 rx_drop_bad_src)
atk send_only $SPOOF -n 20
check "a SEND from a spoofed source is dropped and counted" moved rx_drop_bad_src "$b" 20
check "... and reaches no receive" polled "wc 0"

# 2. Destinations that are not one of mirror1's GIDs: broadcast,
#    multicast, an address of another interface of its host (its
#    loopback here: every kernel has one, and the stack delivers a
#    packet to any of the host's addresses whichever interface it came in
#    by, so the packet reaches port 4791 and the device must refuse it).
#    Multicast is taken only as UD to QPN 0xFFFFFF for a group a QP is
#    attached to: an RC SEND to 224.0.0.1 (every host's group) is dropped
#    as multicast nobody here takes (rx_drop_mcast).
ip route add 224.0.0.0/4 dev veth0 2>/dev/null
in_peer ip addr add 10.12.0.2/32 dev lo
ip route add 10.12.0.0/24 via $VICTIM dev veth0
b=$(c1 rx_drop_bad_dest)
m=$(c1 rx_drop_mcast)
atk send_only $GOOD to 10.11.0.255 -n 5
atk send_only $GOOD to 224.0.0.1 -n 5
atk send_only $GOOD to 10.12.0.2 -n 5
check "broadcast and other addresses are dropped and counted" \
	moved rx_drop_bad_dest "$b" 10
check "an RC SEND to a multicast group is dropped and counted" \
	moved rx_drop_mcast "$m" 5
check "... and reach no receive" polled "wc 0"
atk send_only $GOOD
check "control: the same SEND, from the peer to mirror1, is received" \
	polled "wc 1 0:128:64"
PSN=$((RQ_PSN + 1))

# 3. Forged answers to the victim's own requests, at the PSN it expects,
#    from the wrong source. Its peer (10.11.0.1, QPN 0x123456) does not
#    exist: only the forger answers.
PSN=$SQ_PSN
tgt read 64
b=$(c1 rx_drop_bad_src)
atk read_resp $SPOOF 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
check "a READ response from a spoofed source is dropped and counted" moved rx_drop_bad_src "$b" 1
check "... and completes no READ" polled "wc 0"
atk read_resp $GOOD 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
check "control: from the peer's address it completes the READ" polled "wc 1 0:2:64"
tgt peek 0 4
check "... with its bytes" test "$REPLY" = "hex 00112233"

PSN=$((SQ_PSN + 1))
tgt send 64
b=$(c1 rx_drop_bad_src)
atk ack $SPOOF 1
check "a forged ACK from a spoofed source is dropped and counted" moved rx_drop_bad_src "$b" 1
check "... and completes no SEND" polled "wc 0"
atk ack $GOOD 2
check "control: from the peer's address it completes the SEND" polled "wc 1 0:0:0"

PSN=$((SQ_PSN + 2))
tgt fadd
b=$(c1 rx_drop_bad_src)
atk atomic_ack $SPOOF 0x1122334455667788
check "a forged atomic ACK from a spoofed source is dropped and counted" moved rx_drop_bad_src "$b" 1
check "... and completes no atomic" polled "wc 0"
atk atomic_ack $GOOD 0x1122334455667788
check "control: from the peer's address it completes the atomic" polled "wc 1 0:4:8"
tgt peek 0 8
check "... with the value it carried" test "$REPLY" = "hex 8877665544332211"
tgt_stop

# 4. UC: no ACKs to forge, but SENDs to inject.
tgt_start "$GOOD" 0x123456 uc
PSN=$RQ_PSN
tgt recv 4
b=$(c1 rx_drop_bad_src)
atk send_only $SPOOF uc -n 10
check "UC: a SEND from a spoofed source is dropped and counted" moved rx_drop_bad_src "$b" 10
check "... and reaches no receive" polled "wc 0"
atk send_only $GOOD uc
check "control: from the peer's address it is received" polled "wc 1 0:128:64"
tgt_stop

# 5. A QP connected on its own device takes no packet at all (a forged ACK
#    used to walk 2^32 SQ slots under its lock).
tgt_start $VICTIM self rc
PSN=$RQ_PSN
tgt recv 2
tgt send 64
check "a QP connected to itself on mirror1 works" polled "wc 2 0:128:64 0:0:0"
b=$(c1 rx_drop_wrong_path)
PSN=$((RQ_PSN + 1))
atk ack $GOOD 1
atk send_only $GOOD -n 4
check "packets at a same-device QP are dropped and counted" moved rx_drop_wrong_path "$b" 5
tgt send 64
check "... and it still works" polled "wc 2 0:128:64 0:0:0"
tgt_stop

# 6. A flood of packets that pass every receive-path check (right source,
#    QPN; PSNs far ahead) from two SCHED_FIFO senders, which starve the
#    work that drains the queue: the queue stops at its cap and drops are
#    counted; memory stays flat; the QP works afterwards. The queue's
#    work runs on the high-priority kworkers (kworker/N:MH, nice -20):
#    in the time RT throttling leaves to other tasks they drain faster
#    than ksoftirqd delivers the flood, so for the flood they are put in
#    the idle class (hi_kworkers), and back afterwards.
mem_avail() { awk '/^MemAvailable:/ { print $2 }' /proc/meminfo; }
hi_kworkers() { ps -eo pid=,comm= | awk '$2 ~ /^kworker\/[0-9]+:[0-9]+H/ { print $1 }'; }
hi_kworkers_idle() {
	local k
	for k in $(hi_kworkers); do chrt -i -p 0 "$k" 2>/dev/null; done
}
hi_kworkers_back() {
	local k
	for k in $(hi_kworkers); do
		chrt -o -p 0 "$k" 2>/dev/null && renice -n -20 -p "$k" >/dev/null 2>&1
	done
}
# two_floods KIND SECONDS: two SCHED_FIFO senders of attack_wire.py KIND
# at the target for SECONDS, the high-priority kworkers idle meanwhile;
# what each sent lands in /tmp/flood1 and /tmp/flood2.
two_floods() {
	local f1 f2
	hi_kworkers_idle
	chrt -f 50 python3 "$DIR/attack_wire.py" "$1" $GOOD $VICTIM "$QPN" "$PSN" "$2" >/tmp/flood1 &
	f1=$!
	chrt -f 50 python3 "$DIR/attack_wire.py" "$1" $GOOD $VICTIM "$QPN" "$PSN" "$2" >/tmp/flood2 &
	f2=$!
	wait $f1 $f2
	hi_kworkers_back
}
tgt_start "$GOOD" 0x123456 rc
PSN=$RQ_PSN
tgt recv 4
b=$(c1 rx_drop_queue_full)
m0=$(mem_avail)
(min=$m0; end=$((SECONDS + 12 * SCALE)); while [ $SECONDS -lt $end ]; do
	m=$(mem_avail); [ "$m" -lt "$min" ] && min=$m; echo "$min" >/tmp/memmin
	sleep 0.2; done) &
SAMPLER=$!
chrt -f -p 60 $SAMPLER >/dev/null
two_floods flood $((8 * SCALE))
kill $SAMPLER 2>/dev/null; wait $SAMPLER 2>/dev/null
drop_kib=$((m0 - $(cat /tmp/memmin)))
echo "# flood: $(cat /tmp/flood1 /tmp/flood2 | tr '\n' ' '); MemAvailable fell by at most $drop_kib KiB; rx_drop_queue_full +$(($(c1 rx_drop_queue_full) - b))"
check "the flood hit the queue's cap (drops counted)" test "$(c1 rx_drop_queue_full)" -gt "$b"
check "memory stayed flat (< 32 MiB)" test "$drop_kib" -lt 32768
sleep $((2 * SCALE))
atk send_only $GOOD
check "the QP still takes a SEND at its PSN" polled "wc 1 0:128:64"
tgt_stop

# 6b. An ACK storm (what rdma_rxe sends when a window is resent: an ACK
#    per duplicate), again with rx_work starved (as in 6, which shows the
#    queue then fills): a plain ACK replaces the one queued before it,
#    so the queue holds one ACK and drops none (the ACKs that say a
#    window moved were the ones dropped at the cap).
tgt_start "$GOOD" 0x123456 rc
PSN=$(((SQ_PSN - 1) & 0xffffff))
b=$(c1 rx_drop_queue_full)
bc=$(c1 rx_acks_coalesced)
two_floods ackflood $((4 * SCALE))
echo "# ACK storm: $(cat /tmp/flood1 /tmp/flood2 | tr '\n' ' '); rx_acks_coalesced +$(($(c1 rx_acks_coalesced) - bc)); rx_drop_queue_full +$(($(c1 rx_drop_queue_full) - b))"
check "an ACK storm is coalesced (rx_acks_coalesced moved)" \
	test "$(c1 rx_acks_coalesced)" -gt "$bc"
check "... and fills no queue (rx_drop_queue_full did not move)" \
	test "$(c1 rx_drop_queue_full)" -eq "$b"
tgt recv 1
PSN=$RQ_PSN
atk send_only $GOOD
check "the QP still takes a SEND at its PSN" polled "wc 1 0:128:64"
tgt_stop

# 7. Half a message, then silence: the victim's dereg and exit end at once.
for mem in pinned odp; do
	tgt_start "$GOOD" 0x123456 rc $mem
	PSN=$RQ_PSN
	atk write_first $GOOD "$RKEY" "$VA" 8192
	sleep 1
	tgt dereg
	check "$mem: dereg returns while a WRITE is half received ($REPLY ms)" \
		test "${REPLY#dereg }" -lt $((3000 * SCALE))
	echo exit >&"${TGT[1]}"
	check "$mem: ... and the process exits" gone_within 10 "$TPID"
	wait "$TPID" 2>/dev/null

	tgt_start "$GOOD" 0x123456 rc $mem
	PSN=$RQ_PSN
	tgt recv 1
	atk send_first $GOOD
	sleep 1
	tgt dereg
	check "$mem: dereg returns while a SEND is half received ($REPLY ms)" \
		test "${REPLY#dereg }" -lt $((3000 * SCALE))
	echo exit >&"${TGT[1]}"
	check "$mem: ... and the process exits" gone_within 10 "$TPID"
	wait "$TPID" 2>/dev/null
done

# 8. Responder resources bound what a duplicate can make us do: a READ
#    behind the expected PSN that no resource remembers is ignored (any
#    valid READ used to be re-executed, up to 2 GiB, in one go: here 1 MiB,
#    1024 responses); one a resource remembers is answered again.
tgt_start "$GOOD" 0x123456 rc
PSN=$RQ_PSN
tx=$(c1 tx_packets)
atk read_req $GOOD "$RKEY" "$VA" 64
check "a READ request is answered" moved tx_packets "$tx" 1
tx=$(c1 tx_packets)
d=$(c1 duplicate_requests)
PSN=$((RQ_PSN - 500))
atk read_req $GOOD "$RKEY" "$VA" $((1 << 20))
check "a duplicate READ no resource remembers is counted" moved duplicate_requests "$d" 1
check "... and answered with nothing" test "$(c1 tx_packets)" -eq "$tx"
PSN=$RQ_PSN
atk read_req $GOOD "$RKEY" "$VA" 64
check "a duplicate of the remembered READ is answered again" moved tx_packets "$tx" 1
tgt_stop

# 9. A WRITE announcing a huge length faults its target in 4 MiB chunks
#    as data arrives, not all at WRITE_FIRST.
tgt_start "$GOOD" 0x123456 rc odp $((256 << 20))
PSN=$RQ_PSN
f=$(c1 odp_pages_faulted)
atk write_first $GOOD "$RKEY" "$VA" $((256 << 20))
wait_for 5 test "$(c1 odp_pages_faulted)" -gt "$f"
sleep 1
nf=$(( $(c1 odp_pages_faulted) - f ))
echo "# WRITE_FIRST of 256 MiB into fresh ODP memory faulted $nf pages"
# One 4 MiB chunk, and the rest of the huge pages its ends fall in.
check "a 256 MiB WRITE_FIRST faults one 4 MiB chunk, not 65536 pages" \
	test "$nf" -gt 0 -a "$nf" -le 2048
tgt_stop

# 10. A responder without responder resources takes no READ.
tgt_start "$GOOD" 0x123456 rc pinned $((1 << 20)) 0
PSN=$RQ_PSN
n=$(c1 nak_sent)
atk read_req $GOOD "$RKEY" "$VA" 64
check "max_dest_rd_atomic 0: a READ gets a NAK" moved nak_sent "$n" 1
tgt_stop

finish
