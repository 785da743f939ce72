#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Fast registration as a kernel consumer sees it: tests/kmod's
# mirror_frwr_test connects an RC QP pair at load, runs its catalogue
# (REG_MR, a WRITE through the new key, LOCAL_INV and SEND with Invalidate
# ending it, and each way REG_MR, LOCAL_INV and SEND with Invalidate end
# in error) and prints one line per case to the kernel log. First both
# QPs on mirror0, then B on mirror1 across the veth pair (RoCEv2).
set -u
. "$(dirname "$0")/lib.sh"

KMOD=$(dirname "$(dirname "$MIRROR_KO")")/tests/kmod/mirror_frwr_test.ko
CASES=9

# run_cases PATH ARGS...: loads the module with ARGS, reports each of its
# cases as a check of this suite, and unloads it; all $CASES must run.
run_cases() {
	local path=$1 line n=0
	shift
	dmesg -C
	if ! insmod "$KMOD" "$@"; then
		not_ok "$path: insmod $*" "failed"
		return
	fi
	while read -r line; do
		case $line in
		"ok - "*) ok "$path: ${line#ok - }"; n=$((n + 1)) ;;
		"not ok - "*)
			line=${line#not ok - }
			not_ok "$path: ${line%%: *}" "${line#*: }"
			n=$((n + 1)) ;;
		esac
	done < <(dmesg | sed -n 's/.*mirror_frwr_test: //p')
	check "$path: the module unloads" rmmod mirror_frwr_test
	check "$path: all $CASES cases ran" test "$n" -eq "$CASES"
}

[ -e "$KMOD" ] || { echo "not ok - $KMOD missing: run scripts/build-module"; exit 1; }
run_cases "same device" dev_a=mirror0 dev_b=mirror0 addr_a=10.11.0.1 addr_b=10.11.0.1
check "mirror1 in its namespace" peer_up mirror mirror1
run_cases "mirror0 -> mirror1 over RoCEv2" dev_a=mirror0 dev_b=mirror1 addr_a=10.11.0.1 addr_b=10.11.0.2
finish
