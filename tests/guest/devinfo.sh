#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# What rdma-core's tools show for mirror0. Run by scripts/mirror-vm (mirror0
# on veth0, 10.11.0.1/24).
set -u
. "$(dirname "$0")/lib.sh"

info=$(ibv_devinfo -v -d mirror0 2>&1)
has() {
	grep -Eq "$1" <<<"$info"
}
lacks() {
	! grep -Eq "$1" <<<"$info"
}

check "ibv_devices lists mirror0" sh -c 'ibv_devices | grep -qw mirror0'
check "ibv_devinfo opens mirror0" has 'hca_id:[[:space:]]+mirror0'
check "transport is InfiniBand" has 'transport:[[:space:]]+InfiniBand'
check "one physical port" has 'phys_port_cnt:[[:space:]]+1'
check "port 1 is ACTIVE" has 'state:[[:space:]]+PORT_ACTIVE'
check "link layer is Ethernet" has 'link_layer:[[:space:]]+Ethernet'
check "node_guid is set" lacks 'node_guid:[[:space:]]+0000:0000:0000:0000'
check "RoCEv2 GID for 10.11.0.1" has 'GID\[ *[0-9]+\]:[[:space:]]+::ffff:10\.11\.0\.1, RoCE v2'
check "max_qp is reported" has 'max_qp:[[:space:]]+[1-9]'
check "vendor_id is IBTA's generic 0xffffff, not 0" has 'vendor_id:[[:space:]]+0xffffff$'
check "ibv_devinfo -v shows ODP_SUPPORT" has '^[[:space:]]+ODP_SUPPORT$'
check "ibv_devinfo -v shows ODP_SUPPORT_IMPLICIT" has 'ODP_SUPPORT_IMPLICIT'
check "rdma link show: ACTIVE on veth0" \
	sh -c 'rdma link show mirror0/1 | grep -q "state ACTIVE.*netdev veth0"'
check "sysfs node_type is CA" \
	sh -c 'grep -q "CA" /sys/class/infiniband/mirror0/node_type'

# Port state follows the netdev.
ip link set veth0 down
check "port DOWN when veth0 is down" wait_for 5 \
	sh -c 'ibv_devinfo -d mirror0 | grep -q "state:.*PORT_DOWN"'
ip link set veth0 up
check "port ACTIVE again when veth0 is up" wait_for 5 \
	sh -c 'ibv_devinfo -d mirror0 | grep -q "state:.*PORT_ACTIVE"'

# Active MTU follows the netdev MTU.
ip link set veth0 mtu 1500
check "active_mtu 1024 at netdev MTU 1500" wait_for 5 \
	sh -c 'ibv_devinfo -d mirror0 | grep -q "active_mtu:.*1024"'
ip link set veth0 mtu 9000 && ip link set veth1 mtu 9000
check "active_mtu 4096 at netdev MTU 9000" wait_for 5 \
	sh -c 'ibv_devinfo -d mirror0 | grep -q "active_mtu:.*4096"'
ip link set veth0 mtu 1500 && ip link set veth1 mtu 1500

# GIDs follow the netdev's addresses.
ip addr add 10.11.7.1/24 dev veth0
check "GID appears for an added address" wait_for 5 \
	sh -c 'ibv_devinfo -v -d mirror0 | grep -q "::ffff:10.11.7.1, RoCE v2"'
ip addr del 10.11.7.1/24 dev veth0
check "GID disappears with the address" wait_for 5 \
	sh -c '! ibv_devinfo -v -d mirror0 | grep -q "::ffff:10.11.7.1"'

# Port events: one per real change of the port state, none for other
# netdev changes (a flag change also sends NETDEV_CHANGE).
if command -v ibv_asyncwatch >/dev/null; then
	# Events are queued from the moment the context is open, which the
	# watcher reports with its first line; a fixed sleep is too short on
	# the debug kernel.
	stdbuf -oL ibv_asyncwatch -d mirror0 >/tmp/async.log 2>&1 &
	watcher=$!
	if ! wait_for 10 grep -q "async event FD" /tmp/async.log; then
		not_ok "ibv_asyncwatch opens mirror0" "$(cat /tmp/async.log)"
	fi
	ip link set veth0 down
	check "port event: ERR when veth0 goes down" wait_for 5 \
		sh -c '[ "$(grep -c PORT_ERR /tmp/async.log)" = 1 ]'
	ip link set veth0 up
	check "port event: ACTIVE when veth0 comes up" wait_for 5 \
		sh -c '[ "$(grep -c PORT_ACTIVE /tmp/async.log)" = 1 ]'
	ip link set veth0 multicast off && ip link set veth0 multicast on
	ip link set veth1 down
	check "port event: ERR when the peer drops the carrier" wait_for 5 \
		sh -c '[ "$(grep -c PORT_ERR /tmp/async.log)" = 2 ]'
	ip link set veth1 up
	check "port event: ACTIVE when the carrier returns" wait_for 5 \
		sh -c '[ "$(grep -c PORT_ACTIVE /tmp/async.log)" = 2 ]'
	kill "$watcher" 2>/dev/null
	wait "$watcher" 2>/dev/null
	check "port events: no duplicates for flag changes" \
		sh -c '[ "$(grep -c "event_type" /tmp/async.log)" = 4 ]'
else
	not_ok "ibv_asyncwatch available for the port event test" "not installed"
fi

finish
