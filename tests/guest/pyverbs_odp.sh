#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# ODP memory regions on mirror0 through Debian's pyverbs: runs the unittest
# module pyverbs_odp.py with Debian's python3 (the one pyverbs is built for),
# which prints each test's name and result and exits non-zero on any
# failure, error or skip.
set -u
PY=/usr/bin/python3
if ! "$PY" -c 'import pyverbs' 2>/dev/null; then
	echo "not ok - import pyverbs with $PY (install python3-pyverbs)"
	exit 1
fi
exec "$PY" -u "$(dirname "$0")/pyverbs_odp.py" -d mirror0 "$@"
