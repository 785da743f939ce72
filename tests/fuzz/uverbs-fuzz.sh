#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The uverbs fuzzer (uverbs_fuzz.c) in a guest, as the unprivileged user
# of the threat model (uid 65534), over mirror0 and mirror1 (in its own
# namespace: QPs between the two talk RoCEv2 through the veth pair).
#
#   short (README command 2, ctest guest_fuzz_uverbs): 60 s, a fixed seed
#   long:  scripts/mirror-vm -- tests/fuzz/uverbs-fuzz.sh -t 3600 -p 6
#   replay: MIRROR_FUZZ_SEED=N ... (or -s N); the seed is printed
#
# Passes when no fuzzing process crashed or hung and the devices hold no
# ODP memory afterwards; the harness fails the run on any kernel warning.
# Afterwards a plain RC pingpong must still work on both devices.
set -u
. "$(dirname "$0")/../guest/lib.sh"

FUZZ=$MIRROR_BUILD/tests/fuzz/uverbs_fuzz
SEED=${MIRROR_FUZZ_SEED:-20261202}

peer_up mirror mirror1 || { echo "not ok - mirror1 up"; exit 1; }
chmod 0666 /dev/infiniband/*
setpriv --reuid=65534 --regid=65534 --clear-groups \
	"$FUZZ" -d mirror0 -W mirror1 -s "$SEED" -t 60 -p 3 "$@" | tee /tmp/fuzz.out
rc=${PIPESTATUS[0]}
# A fuzzing process the kernel does not let go: where each of its threads
# waits.
for pid in $(sed -n 's/^# stuck pid \([0-9]*\)$/\1/p' /tmp/fuzz.out); do
	for t in /proc/"$pid"/task/*; do
		echo "# pid $pid thread ${t##*/}: $(cat "$t/wchan" 2>/dev/null) ($(cut -d' ' -f3 "$t/stat" 2>/dev/null))"
		sed 's/^/#     /' "$t/stack" 2>/dev/null
	done
done
# The fuzzer's verdict lines count with ours.
PASSED=$(grep -c '^ok -' /tmp/fuzz.out)
FAILED=$(grep -c '^not ok -' /tmp/fuzz.out)
if [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ]; then
	not_ok "the fuzzer finishes" "exit status $rc"
fi
G0=$(gid_index mirror0 10.11.0.1)
G1=$(gid_index mirror1 10.11.0.2)
check "RC traffic still flows afterwards" pair peer here tcp_listening 18950 \
	ibv_rc_pingpong -d mirror1 -g "$G1" -p 18950 -n 20 -c -- \
	ibv_rc_pingpong -d mirror0 -g "$G0" -p 18950 -n 20 -c 10.11.0.2
finish
