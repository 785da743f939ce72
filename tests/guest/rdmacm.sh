#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# librdmacm over mirror0: connection management runs through the kernel's
# CM on our GSI QP (QP1), then the tools' own QPs carry the data.
# rping -V checks every ping it receives; ucmatose and udaddy exchange
# messages over RC and UD connections.
set -u
. "$(dirname "$0")/lib.sh"

ADDR=10.11.0.1
PORT=7180

cm_listening() {
	rdma resource show cm_id 2>/dev/null |
		grep "state LISTEN" | grep -q "src-addr [^ ]*:$1 "
}

# serve_and_connect NAME SERVER-CMD... -- CLIENT-CMD...: the server is
# started, the client runs once the server's cm_id listens on $PORT; both
# must exit 0 within their time bounds.
serve_and_connect() {
	local srv_cmd=() cli_cmd=() srv cli s
	while [ "$1" != "--" ]; do srv_cmd+=("$1"); shift; done
	shift
	cli_cmd=("$@")
	timeout 150 "${srv_cmd[@]}" >/tmp/srv.log 2>&1 &
	srv=$!
	if ! wait_for 30 cm_listening "$PORT"; then
		kill "$srv" 2>/dev/null
		wait "$srv"
		echo "--- server never listened:"; cat /tmp/srv.log
		return 1
	fi
	timeout 120 "${cli_cmd[@]}" >/tmp/cli.log 2>&1
	cli=$?
	wait "$srv"
	s=$?
	if [ "$cli" -ne 0 ] || [ "$s" -ne 0 ]; then
		echo "--- client ($cli):"; cat /tmp/cli.log
		echo "--- server ($s):"; cat /tmp/srv.log
		return 1
	fi
}

# rping_run COUNT SIZE: -V verifies every ping; the server prints each.
rping_run() {
	local count=$1 size=$2 got
	PORT=$((PORT + 1))
	serve_and_connect rping -s -a "$ADDR" -p "$PORT" -C "$count" \
		-S "$size" -v -V -- \
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
	serve_and_connect ucmatose -p "$PORT" -b "$ADDR" -c 4 -C 50 -- \
		ucmatose -p "$PORT" -s "$ADDR" -c 4 -C 50
}

# udaddy has no port option: it always uses 7174.
udaddy_run() {
	PORT=7174
	serve_and_connect udaddy -b "$ADDR" -c 4 -C 50 -- \
		udaddy -s "$ADDR" -c 4 -C 50
}

check "rping -V, 20 pings of 64 bytes" rping_run 20 64
check "rping -V, 10 pings of 60000 bytes" rping_run 10 60000
check "rping -V, 200 pings of 1000 bytes" rping_run 200 1000
check "ucmatose: 4 RC connections, 50 messages each" ucmatose_run
check "udaddy: 4 UD endpoints, 50 messages each" udaddy_run
check "no cm_id left behind" bash -c \
	'! rdma resource show cm_id | grep -q "dev mirror0"'

finish
