# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# Tiny TAP-like helpers for the guest shell suites. Each check prints
# "ok - NAME" or "not ok - NAME: why"; finish prints "N passed, N failed"
# and returns non-zero when anything failed.

PASSED=0
FAILED=0

ok() {
	echo "ok - $1"
	PASSED=$((PASSED + 1))
}

not_ok() {
	echo "not ok - $1: $2"
	FAILED=$((FAILED + 1))
}

# check NAME CMD...: passes when CMD exits 0.
check() {
	local name=$1 out
	shift
	if out=$("$@" 2>&1); then
		ok "$name"
	else
		not_ok "$name" "command failed: $* :: $(echo "$out" | tail -3 | tr '\n' ' ')"
	fi
}

# check_fails NAME CMD...: passes when CMD exits non-zero.
check_fails() {
	local name=$1
	shift
	if "$@" >/dev/null 2>&1; then
		not_ok "$name" "command unexpectedly succeeded: $*"
	else
		ok "$name"
	fi
}

# wait_for SECONDS CMD...: retries CMD every 0.2 s; true once it succeeds.
wait_for() {
	local tries=$(($1 * 5))
	shift
	while ((tries-- > 0)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	return 1
}

ibdev_exists() {
	[ -e "/sys/class/infiniband/$1" ]
}

ibdev_gone() {
	[ ! -e "/sys/class/infiniband/$1" ]
}

finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
