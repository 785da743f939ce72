#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# mirror0 beside Soft-RoCE's rxe0 (scripts/mirror-vm --rxe): libibverbs must
# list and open both with our provider loaded (a provider without a match
# table crashed libibverbs here), and each device keeps its own provider.
set -u
. "$(dirname "$0")/lib.sh"

check "ibv_devices lists mirror0" sh -c 'ibv_devices | grep -qw mirror0'
check "ibv_devices lists rxe0" sh -c 'ibv_devices | grep -qw rxe0'
check "rxe0 opens with its own provider" \
	sh -c 'ibv_devinfo -d rxe0 | grep -q "state:.*PORT_ACTIVE"'
check "mirror0 opens beside it" \
	sh -c 'ibv_devinfo -d mirror0 | grep -q "state:.*PORT_ACTIVE"'
check "mirror_info picks mirror0, not rxe0" \
	sh -c '"$MIRROR_BUILD/examples/mirror_info" | grep -q "^device *mirror0"'

finish
