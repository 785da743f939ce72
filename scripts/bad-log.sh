# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# shellcheck shell=bash
# The log verdict: what the guest kernel log must never show, all in one
# place. Sourced by scripts/mirror-vm, which fails a run whose log matches
# MIRROR_BAD_LOG (grep -E), and by tests/unit/bad_log.sh, which checks the
# expressions against report lines and the debug kernel's boot banners.
# Match the reports, never a checker's name: a debug kernel's boot log says
# "RCU lockdep checking is enabled", "kasan: KernelAddressSanitizer
# initialized" and "kmemleak: Kernel memory leak detector initialized".

MIRROR_BAD_LOG_PATTERNS=(
	# Warnings, BUGs, oopses and their stack dumps.
	'WARNING:'
	'BUG:'
	'kernel BUG at'
	'Oops'
	# The kernel's own ("general protection fault, probably for ..." or
	# "general protection fault: 0000"), not a process's ("traps: prog[12]
	# general protection fault ip:..."), which its test reports.
	'general protection fault[,:]'
	'Call Trace:'
	# "refcount_t: underflow; use-after-free." and kin.
	'refcount_t'
	# The hung-task detector.
	'hung_task'
	'blocked for more than'
	# A netdev that cannot go because something holds a reference to it.
	'waiting for .* to become free'

	# KASAN: "BUG: KASAN: slab-use-after-free in ...", and "KASAN:
	# null-ptr-deref in range ..." after a general protection fault.
	'BUG: KASAN'
	'KASAN:'
	# UBSAN: "UBSAN: array-index-out-of-bounds in ...".
	'UBSAN:'

	# lockdep and the atomic-sleep checks. Most follow "WARNING:" or "BUG:"
	# on their line; listed so that the verdict does not rest on the prefix.
	'possible circular locking dependency'
	'possible recursive locking'
	'inconsistent lock state'
	'inconsistent \{'
	'possible irq lock inversion'
	'suspicious RCU usage'
	'WARNING: lock held when returning'
	'sleeping function called from invalid context'
	'scheduling while atomic'
	# Debug objects: "ODEBUG: free active (active state 0) object: ...".
	'ODEBUG:'
	# DEBUG_LIST.
	'list_add corruption'
	'list_del corruption'
	# kmemleak, should a report reach the log (the guest also reads
	# /sys/kernel/debug/kmemleak at the end of every run).
	'unreferenced object'
)
# shellcheck disable=SC2034  # read by the scripts that source this file
MIRROR_BAD_LOG=$(IFS='|'; echo "${MIRROR_BAD_LOG_PATTERNS[*]}")

# mirror_drop_alloc_failure_reports: stdin to stdout without the kernel's
# reports of allocations that failed (warn_alloc(): "page allocation
# failure: ..." or "vmalloc error: ...", then a stack dump ending in
# "</TASK>"). For runs that inject allocation failures on purpose
# (mirror-vm --expect-alloc-failures); anything else in the log, inside
# such a report or not, is still judged.
mirror_drop_alloc_failure_reports() {
	awk '
	/page allocation failure: |vmalloc error: / { skip = 1; next }
	skip && /<\/TASK>/ { skip = 0; next }
	skip && /WARNING:|BUG:|Oops|KASAN|UBSAN/ { skip = 0 }
	!skip { print }'
}
