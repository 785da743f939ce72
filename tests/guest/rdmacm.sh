#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# librdmacm over mirror0: connection management runs through the kernel's
# CM on our GSI QP (QP1), then the tools' own QPs carry the data.
# rping -V checks every ping it receives; ucmatose and udaddy exchange
# messages over RC and UD connections; mckey sends UD datagrams to a
# multicast group.
set -u
. "$(dirname "$0")/lib.sh"

ADDR=10.11.0.1
PORT=7180

# rping_run COUNT SIZE: -V verifies every ping; the server prints each.
rping_run() {
	local count=$1 size=$2 got
	PORT=$((PORT + 1))
	pair here here cm_listening "$PORT" \
		rping -s -a "$ADDR" -p "$PORT" -C "$count" -S "$size" -v -V -- \
		rping -c -a "$ADDR" -p "$PORT" -C "$count" -S "$size" -V ||
		return 1
	got=$(grep -c "server ping data: rdma-ping-" /tmp/srv.log)
	if [ "$got" -ne "$count" ]; then
		echo "server saw $got of $count pings"; cat /tmp/srv.log
		return 1
	fi
}

ucmatose_run() {
	PORT=$((PORT + 1))
	pair here here cm_listening "$PORT" \
		ucmatose -p "$PORT" -b "$ADDR" -c 4 -C 50 -- \
		ucmatose -p "$PORT" -s "$ADDR" -c 4 -C 50
}

# udaddy has no port option: it always uses 7174.
udaddy_run() {
	PORT=7174
	pair here here cm_listening "$PORT" \
		udaddy -b "$ADDR" -c 4 -C 50 -- \
		udaddy -s "$ADDR" -c 4 -C 50
}

GROUP=239.77.0.1

# mckey: rdma_cm multicast; the receiver exits once it has all datagrams.
mckey_run() {
	pair here here mc_joined "$GROUP" \
		mckey -m "$GROUP" -b "$ADDR" -C 20 -S 500 -- \
		mckey -m "$GROUP" -b "$ADDR" -s -C 20 -S 500 || return 1
	# Every datagram reached the receiver (it counts them itself).
	grep -q "data transfers complete" /tmp/srv.log ||
		{ cat /tmp/srv.log; return 1; }
}

check "rping -V, 20 pings of 64 bytes" rping_run 20 64
check "rping -V, 10 pings of 60000 bytes" rping_run 10 60000
check "rping -V, 200 pings of 1000 bytes" rping_run 200 1000
check "ucmatose: 4 RC connections, 50 messages each" ucmatose_run
check "udaddy: 4 UD endpoints, 50 messages each" udaddy_run
check "mckey: 20 datagrams to a multicast group, all received" mckey_run
check "the group is left once both are gone" bash -c \
	"! ip maddr show | grep -qE 'inet +$GROUP'"
check "no cm_id left behind" bash -c \
	'! rdma resource show cm_id | grep -q "dev mirror0"'

finish
