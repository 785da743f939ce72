#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# fault_inject (see there) twice: first with the kernel's failslab and
# fail_page_alloc failing 10% of the kernel allocations its process makes
# (object creation, connection, ODP faults, implicit children, the
# same-device data path and the RoCEv2 requester); then with the module's
# own fail_rdma_mirror failing 10% of the device's allocations in every
# context, which reaches what runs in work items: the RoCEv2 responder and
# completer, the faults and implicit children a peer's packets cause, the
# packets they send. Debug kernel only (Debian's kernel
# has no CONFIG_FAULT_INJECTION); elsewhere the suite reports itself
# skipped (exit 77). Afterwards every step must work again byte for byte,
# and the devices hold no mirror memory; kmemleak (the harness scans it
# at the end) finds the leaks of the failure paths. The kernel's own
# reports of the failed allocations (warn_alloc: "vmalloc error", "page
# allocation failure", with a stack dump) are what was asked for: the
# suite runs under mirror-vm --expect-alloc-failures, which sets them
# aside, and only them, before judging the log.
#
#   scripts/mirror-vm --debug-kernel --expect-alloc-failures -- \
#       tests/fuzz/fault-inject.sh [-r ROUNDS]
set -u
. "$(dirname "$0")/../guest/lib.sh"

PROG=$MIRROR_BUILD/tests/fuzz/fault_inject
DBG=/sys/kernel/debug
ROUNDS=60
while getopts r: o; do
	case $o in
	r) ROUNDS=$OPTARG ;;
	*) echo "usage: $0 [-r ROUNDS]"; exit 2 ;;
	esac
done
grep -q " $DBG debugfs " /proc/mounts || mount -t debugfs debugfs $DBG
if [ ! -d $DBG/failslab ] || [ ! -d $DBG/fail_page_alloc ]; then
	echo "# SKIP: this kernel has no failslab and fail_page_alloc;" \
		"scripts/run-tests --debug-kernel runs this suite"
	exit 77
fi

TIMES=1000000
# attrs DIR TASK_FILTER: a fault attribute folder set to fail every
# allocation it is asked about, TIMES times, once its probability is set.
attrs() {
	echo 0 >"$1"/probability
	echo 1 >"$1"/interval
	echo $TIMES >"$1"/times
	echo 0 >"$1"/space
	echo 0 >"$1"/verbose
	echo "$2" >"$1"/task-filter
}
# Failures for this process's tasks only (make-it-fail), 10% of them,
# sleeping allocations included, with no report of each (a stack dump
# per failure would drown the log the harness judges). The probability
# goes last when arming and first when disarming: with any other order
# every task of the guest fails allocations for a moment, this shell too.
arm() {
	local d
	for d in $DBG/failslab $DBG/fail_page_alloc; do
		attrs $d Y
		echo N >$d/ignore-gfp-wait
	done
	echo N >$DBG/fail_page_alloc/ignore-gfp-highmem
	echo 0 >$DBG/fail_page_alloc/min-order
	for d in $DBG/failslab $DBG/fail_page_alloc; do
		echo "$1" >$d/probability
	done
}
disarm() {
	local d
	for d in $DBG/failslab $DBG/fail_page_alloc; do
		echo 0 >$d/probability
	done
}

check "mirror1 up in its own namespace" peer_up mirror mirror1
check "fault_inject is built" test -x "$PROG"
arm 10
"$PROG" -d mirror0 -W mirror1 -r "$ROUNDS" | tee /tmp/fi.out
rc=${PIPESTATUS[0]}
disarm
slab=$((TIMES - $(cat $DBG/failslab/times)))
page=$((TIMES - $(cat $DBG/fail_page_alloc/times)))
echo "# failslab failed $slab allocations, fail_page_alloc $page"
PASSED=$((PASSED + $(grep -c '^ok -' /tmp/fi.out)))
FAILED=$((FAILED + $(grep -c '^not ok -' /tmp/fi.out)))
[ "$rc" -eq 0 ] || grep -q '^not ok -' /tmp/fi.out ||
	not_ok "fault_inject finishes" "exit status $rc"
check "failslab failed some of its allocations" test "$slab" -gt 0
check "fail_page_alloc failed some of its allocations" test "$page" -gt 0
# naks_and_timeouts: what the peers saw of the failures in work items.
naks_and_timeouts() {
	echo $(($(counter mirror0 retrans_timeouts) + $(counter mirror0 nak_rcvd) +
		$(counter mirror1 nak_sent)))
}
check "the module made debugfs fail_rdma_mirror" test -d $DBG/fail_rdma_mirror
if [ -d $DBG/fail_rdma_mirror ]; then
	before=$(naks_and_timeouts)
	# The device's own allocations, in every context (its work items
	# too): the task filter stays off. fault_inject sets the probability
	# itself: 10 in its rounds, 0 in its clean rounds and while the CPU
	# fills fresh memory.
	attrs $DBG/fail_rdma_mirror N
	"$PROG" -d mirror0 -W mirror1 -r $((ROUNDS / 2)) -s 20261203 \
		-F $DBG/fail_rdma_mirror/probability -p 10 | tee /tmp/fi2.out
	rc=${PIPESTATUS[0]}
	echo 0 >$DBG/fail_rdma_mirror/probability
	dev=$((TIMES - $(cat $DBG/fail_rdma_mirror/times)))
	seen=$(($(naks_and_timeouts) - before))
	echo "# fail_rdma_mirror failed $dev allocations;" \
		"NAKs and retransmission timeouts: $seen"
	PASSED=$((PASSED + $(grep -c '^ok -' /tmp/fi2.out)))
	FAILED=$((FAILED + $(grep -c '^not ok -' /tmp/fi2.out)))
	[ "$rc" -eq 0 ] || grep -q '^not ok -' /tmp/fi2.out ||
		not_ok "fault_inject (device's failures) finishes" "exit status $rc"
	check "fail_rdma_mirror failed some of the device's allocations" \
		test "$dev" -gt 0
	check "... and the RoCEv2 peers saw them (NAKs, timeouts)" \
		test "$seen" -gt 0
fi
no_mirror_memory() {
	local d
	for d in mirror0 mirror1; do
		[ "$(counter $d odp_children_live)" -eq 0 ] &&
			[ "$(counter $d odp_mirror_bytes)" -eq 0 ] || return 1
	done
}
check "the devices hold no mirror memory afterwards" wait_for 10 no_mirror_memory
finish
