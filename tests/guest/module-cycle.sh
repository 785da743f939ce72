#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Module and link lifecycle, run in the guest by scripts/mirror-vm --no-mirror
# (the harness leaves rdma_mirror unloaded; veth0/veth1 exist).
set -u
. "$(dirname "$0")/lib.sh"

: "${MIRROR_KO:?run through scripts/mirror-vm}"

mod_loaded() {
	grep -q '^rdma_mirror ' /proc/modules
}

# 1. Load/unload x10, half the time with a device still present at rmmod.
for i in $(seq 1 10); do
	check "load #$i" insmod "$MIRROR_KO"
	check "link add after load #$i" rdma link add mirror0 type mirror netdev veth0
	check "mirror0 present #$i" wait_for 5 ibdev_exists mirror0
	if ((i % 2 == 0)); then
		check "link delete before unload #$i" rdma link delete mirror0
		check "mirror0 gone after delete #$i" wait_for 5 ibdev_gone mirror0
	fi
	check "unload #$i (device present: $((i % 2)))" rmmod rdma_mirror
	check "mirror0 gone after unload #$i" ibdev_gone mirror0
	check_fails "module not listed after unload #$i" mod_loaded
done

# 1b. Unload with several devices present, x10. Unregistering the netdev
#     notifier replays NETDEV_UNREGISTER for every netdev, which queues an
#     asynchronous unregistration of each device in ib_core's work; module
#     exit must wait for those to return from our dealloc_driver, or ib_core
#     calls into freed module text (an oops seen once under CI's load, in
#     guest_robust's unload under traffic).
for n in 2 3 4 5; do
	ip link add "vc$n" type veth peer name "vd$n" && ip link set "vc$n" up
done
for i in $(seq 1 10); do
	check "load #$i with four devices" insmod "$MIRROR_KO"
	for n in 2 3 4 5; do
		rdma link add "mc$n" type mirror netdev "vc$n" ||
			not_ok "link add mc$n #$i" "refused"
	done
	check "unload #$i with four devices present" timeout 60 rmmod rdma_mirror
	check "the four devices are gone #$i" \
		sh -c '! ls /sys/class/infiniband | grep -q "^mc"'
done
for n in 2 3 4 5; do ip link del "vc$n"; done

# 2. Link add/delete x10 with the module loaded.
check "load for link cycle" insmod "$MIRROR_KO"
for i in $(seq 1 10); do
	check "link add #$i" rdma link add mirror0 type mirror netdev veth0
	check "link visible in rdma link show #$i" \
		sh -c 'rdma link show mirror0/1 | grep -q "netdev veth0"'
	check "link delete #$i" rdma link delete mirror0
	check "mirror0 gone #$i" wait_for 5 ibdev_gone mirror0
done

# 3. Bad link requests.
check "link add for duplicate test" rdma link add mirror0 type mirror netdev veth0
check_fails "second link on the same netdev is refused" \
	rdma link add mirror1 type mirror netdev veth0
check_fails "link on a non-Ethernet netdev (lo) is refused" \
	rdma link add mirror2 type mirror netdev lo
check_fails "link on a missing netdev is refused" \
	rdma link add mirror3 type mirror netdev nosuchdev0
# ib_register_device() refuses a taken name: the unwind path of link add.
check_fails "a second device named mirror0 is refused" \
	rdma link add mirror0 type mirror netdev veth1
check "the refused device left nothing behind" \
	sh -c '[ "$(ls /sys/class/infiniband | grep -c mirror)" = 1 ]'
check "link on the peer netdev works" rdma link add mirror1 type mirror netdev veth1
both_exist() {
	ibdev_exists mirror0 && ibdev_exists mirror1
}
check "two devices coexist" wait_for 5 both_exist
check "delete mirror1" rdma link delete mirror1

# 4. Removing the netdev removes the device.
check "make veth2/veth3" ip link add veth2 type veth peer name veth3
check "veth2/veth3 up" sh -c 'ip link set veth2 up && ip link set veth3 up'
check "link add on veth2" rdma link add mirror5 type mirror netdev veth2
check "mirror5 present" wait_for 5 ibdev_exists mirror5
check "delete netdev veth2" ip link del veth2
check "mirror5 gone with its netdev" wait_for 10 ibdev_gone mirror5
# The port goes down on the way out; querying it must not fail meanwhile.
check_fails "no port query failure logged while the netdev went" \
	sh -c 'dmesg | grep -q "ib_query_port failed"'

# 5. rmmod while a process holds a context: the device is torn down under
#    it (disassociation), the process sees the device fail, no hang.
PY=/usr/bin/python3
if "$PY" -c 'import pyverbs' 2>/dev/null; then
	"$PY" -c 'import pyverbs.device as d, pyverbs.pd as p, time, sys
c = d.Context(name="mirror0")
open("/tmp/ctx-open", "w").close()
while True:
    try:
        p.PD(c)          # fails once the device is gone
    except Exception:
        sys.exit(0)
    time.sleep(0.1)' &
	holder=$!
	check "context holder started" wait_for 20 test -e /tmp/ctx-open
	check "unload with a context open completes" timeout 30 rmmod rdma_mirror
	check "mirror0 gone although a process had it open" ibdev_gone mirror0
	check "the process saw its verbs fail" wait_for 20 sh -c "! kill -0 $holder"
	wait "$holder"
	check "and exited as it should" test $? -eq 0
	check "reload after a forced removal" insmod "$MIRROR_KO"
	check "mirror0 again" rdma link add mirror0 type mirror netdev veth0
else
	not_ok "pyverbs available for the open-context test" "$PY cannot import pyverbs"
fi
check "final unload with mirror0 present" rmmod rdma_mirror
check "mirror0 gone after final unload" ibdev_gone mirror0

# 6. No netdev reference is left behind: deleting veth0/veth1 completes at
#    once (a leaked reference makes unregister_netdevice wait forever).
check "veth pair deletes promptly after unload" timeout 15 ip link del veth0

finish
