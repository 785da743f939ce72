#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Robustness under traffic: a peer killed with SIGKILL mid-transfer, the
# device deleted and the module unloaded while RDMA WRITEs stream. Each
# must end promptly (bounded here): the sender whose peer died gets an
# error completion instead of hanging, removal completes although
# processes still hold the device (they get IBV_EVENT_DEVICE_FATAL and stay
# killable), and the kernel log stays clean (the harness checks it).
set -u
. "$(dirname "$0")/lib.sh"

PORT=19000

# start_stream DEV_SRV DEV_CLI ADDR [in_peer]: ib_write_bw in duration
# mode, server on DEV_SRV (in $PEER_NS with in_peer), client on DEV_CLI
# writing to it. Sets SRV and CLI (so it runs in this shell, not under
# check); succeeds when both still run after a few seconds of traffic.
# The duration outlasts every case's deadline (which wait_for stretches by
# MIRROR_TIME_SCALE): a writer whose time ran out would exit 0 before its
# retries could fail it.
start_stream() {
	local gs gc ns=() args=(-D $((100 * ${MIRROR_TIME_SCALE:-1})) -s 65536)
	PORT=$((PORT + 1))
	[ "${4:-}" = in_peer ] && ns=(ip netns exec "$PEER_NS")
	gs=$(gid_index "$1" "$3")
	gc=$(gid_index "$2" 10.11.0.1)
	"${ns[@]}" ib_write_bw -d "$1" -x "$gs" -p "$PORT" "${args[@]}" \
		>/tmp/srv.log 2>&1 &
	SRV=$!
	wait_for 30 "${ns[@]}" bash -c "ss -ltn | grep -q :$PORT"
	ib_write_bw -d "$2" -x "$gc" -p "$PORT" "${args[@]}" "$3" \
		>/tmp/cli.log 2>&1 &
	CLI=$!
	sleep 4
	kill -0 "$SRV" 2>/dev/null && kill -0 "$CLI" 2>/dev/null
}

# fails_within SECONDS PID: ... and its exit status says it failed.
fails_within() {
	gone_within "$1" "$2" || return 1
	wait "$2"
	[ $? -ne 0 ]
}

# client_failed_with STATUSES: the writer's log names one of the completion
# statuses STATUSES (an ERE alternation); else the log is printed.
client_failed_with() {
	grep -Eq "Failed status ($1)" /tmp/cli.log && return 0
	echo "--- the writer's log:"
	cat /tmp/cli.log
	return 1
}

# watch_fatal DEV: ibv_asyncwatch on DEV in the background (WATCH), once
# it has opened DEV: it prints its async event FD after ibv_open_device().
# A fixed pause is not enough: next to a busy stream under TCG, its start
# (loading every provider library) can outlast it, and a watcher that
# looks for DEV after it was removed exits with "IB device DEV not found".
watch_fatal() {
	ibv_asyncwatch -d "$1" >/tmp/async.log 2>&1 &
	WATCH=$!
	wait_for 20 grep -q "async event FD" /tmp/async.log
}

saw_fatal() {
	grep -q DEVICE_FATAL /tmp/async.log
}

kill_all() {
	kill -9 "$@" 2>/dev/null
	for p in "$@"; do
		gone_within 10 "$p" || return 1
	done
}

# 1. SIGKILL of the receiving side (same device): the writer's next WRITE
#    finds no QP and completes with an error; the writer exits.
start_stream mirror0 mirror0 10.11.0.1
check "same-device WRITE stream running" test $? -eq 0
check "kill -9 the target process" kill -9 "$SRV"
check "the writer fails instead of hanging" fails_within 60 "$CLI"

# 2. The same over RoCEv2, target in another namespace. Which of the dead
#    process's objects the kernel tears down first decides what the writer
#    sees: a NAK (its MR went first: REM_ACCESS_ERR, status 10) or silence
#    (its QP went first: the packets are dropped, the writer retransmits and
#    gives up with RETRY_EXC_ERR, status 12). Either way it must end.
check "mirror1 up in its own namespace" peer_up mirror mirror1
start_stream mirror1 mirror0 10.11.0.2 in_peer
check "RoCEv2 WRITE stream running" test $? -eq 0
check "kill -9 the target process" kill -9 "$SRV"
check "the writer fails instead of hanging" fails_within 90 "$CLI"
check "with an error completion (REM_ACCESS_ERR or RETRY_EXC_ERR)" \
	client_failed_with "10|12"

# 2b. Packets that nobody answers: the target's address vanishes mid-stream,
#     so its IP layer drops the writer's packets. The writer must time out,
#     retransmit retry_cnt times and complete with RETRY_EXC_ERR.
start_stream mirror1 mirror0 10.11.0.2 in_peer
check "RoCEv2 WRITE stream running again" test $? -eq 0
timeouts=$(counter mirror0 retrans_timeouts)
check "the target's address is removed" \
	in_peer ip addr del 10.11.0.2/24 dev veth1
check "the writer gives up after its retries" fails_within 90 "$CLI"
check "with RETRY_EXC_ERR" client_failed_with 12
check "mirror0 counted retransmission timeouts" \
	test "$(counter mirror0 retrans_timeouts)" -gt "$timeouts"
check "the idle target is stopped" kill_all "$SRV"
check "the target's address is back" in_peer ip addr add 10.11.0.2/24 dev veth1
check "and its GID too" wait_for 20 gid_index mirror1 10.11.0.2

# 3. 'rdma link delete' while data moves.
start_stream mirror1 mirror0 10.11.0.2 in_peer
check "RoCEv2 stream running before link delete" test $? -eq 0
watch_fatal mirror0
check "link delete of mirror0 under traffic" timeout 60 rdma link delete mirror0
check "mirror0 is gone" ibdev_gone mirror0
check "processes were told: IBV_EVENT_DEVICE_FATAL" wait_for 10 saw_fatal
check "the processes stay killable" kill_all "$CLI" "$SRV" "$WATCH"
check "mirror0 can be added again" rdma link add mirror0 type mirror netdev veth0

# 4. Module unload while data moves.
start_stream mirror1 mirror0 10.11.0.2 in_peer
check "RoCEv2 stream running before the unload" test $? -eq 0
watch_fatal mirror0
check "rmmod under traffic" timeout 60 rmmod rdma_mirror
check "both devices are gone" sh -c '! ls /sys/class/infiniband | grep -q mirror'
check "processes were told: IBV_EVENT_DEVICE_FATAL" wait_for 10 saw_fatal
check "the processes stay killable" kill_all "$CLI" "$SRV" "$WATCH"
check "the module loads again" insmod "$MIRROR_KO"
check "and serves a device" rdma link add mirror0 type mirror netdev veth0

finish
