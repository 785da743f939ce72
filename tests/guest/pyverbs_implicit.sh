#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Implicit ODP through pyverbs (pyverbs_implicit.py) on mirror0. Debian's
# python3-pyverbs lives in /usr/bin/python3's dist-packages, so that is the
# interpreter, whatever else PATH offers. Each test prints its name and
# result; any failure, error or skip fails the suite.
set -u
exec /usr/bin/python3 -B "$(dirname "$0")/pyverbs_implicit.py" -d mirror0 "$@"
