#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Sets up mirror_attack_test (the local attacker, uid 65534): mirror1 in
# its own namespace with a second address (10.11.0.3, an address its
# peers do not know), and /dev/infiniband open to every user, as
# rdma-core's udev rules make it on a real host.
set -u
. "$(dirname "$0")/lib.sh"

peer_up mirror mirror1 || { echo "not ok - mirror1 up"; exit 1; }
in_peer ip addr add 10.11.0.3/24 dev veth1
wait_for 20 gid_index mirror1 10.11.0.3 || { echo "not ok - GID of 10.11.0.3"; exit 1; }
chmod 0666 /dev/infiniband/*
# FUSE: the attacker's slow page faults (a file whose server stalls).
modprobe fuse || { echo "not ok - modprobe fuse"; exit 1; }
exec "$MIRROR_BUILD/tests/guest/mirror_attack_test" -W mirror1 -v
