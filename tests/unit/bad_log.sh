#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
# The log verdict of scripts/mirror-vm (scripts/bad-log.sh) against sample
# lines: every report line below must match it, no banner line may, and every
# expression must be needed by some report (no dead or mistyped entry).
#   tests/unit/bad_log.sh [DMESG...]   also: each DMESG file must be clean
# The banners are copied from a boot of the debug kernel
# (scripts/build-debug-kernel); the reports are the kernel's own formats.
set -euo pipefail
. "$(dirname "$0")/../../scripts/bad-log.sh"

# Lines the verdict must let through: a clean boot of the debug kernel (the
# checkers' banners first), and a fault in a user process.
BANNERS=$(cat <<'EOF'
[    0.527502] kasan: KernelAddressSanitizer initialized
[    1.029837] Running RCU self tests
[    1.029913] Running RCU synchronous self tests
[    1.031372] rcu: 	RCU lockdep checking is enabled.
[    1.031462] rcu: 	RCU callback double-/use-after-free debug is enabled.
[    1.031399] rcu: 	RCU event tracing is enabled.
[    2.026050] Running RCU Tasks wait API self tests
[    2.050792] Callback from call_rcu_tasks_trace() invoked.
[    1.302600] Lock dependency validator: Copyright (c) 2006 Red Hat, Inc., Ingo Molnar
[    1.302670] ... MAX_LOCKDEP_SUBCLASSES:  8
[    1.302700] ... MAX_LOCK_DEPTH:          48
[    1.302735] ... MAX_LOCKDEP_KEYS:        8192
[    1.302786] ... MAX_LOCKDEP_ENTRIES:     32768
[    1.302813] ... MAX_LOCKDEP_CHAINS:      65536
[    1.302900]  memory used by lock dependency info: 6429 kB
[   26.464132] kmemleak: Kernel memory leak detector initialized (mem pool available: 62884)
[   28.000000] x86/mm: Checked W+X mappings: passed, no W+X pages found.
[    5.666480] PCI: Using host bridge windows from ACPI; if necessary, use "pci=nocrs" and report a bug
[    0.000000] Spectre V1 : Mitigation: usercopy/swapgs barriers and __user pointer sanitization
[   31.177810] busybox (63) used greatest stack depth: 27280 bytes left
[   29.886023] hrtimer: interrupt took 25828464 ns
[   99.082097] rdma_mirror: loading out-of-tree module taints kernel.
[   99.207238] rdma_mirror: loaded
[  120.553190] traps: uverbs_fuzz[412] general protection fault ip:7f5e2c1d93a5 sp:7ffd2b9c6f38 error:0 in libc.so.6[7f5e2c0a1000+155000]
EOF
)

# One line of each kind of report the log must fail on.
REPORTS=$(cat <<'EOF'
[   78.215734] WARNING: CPU: 1 PID: 108 at kernel/mirror_qp.c:412 mirror_qp_destroy+0x94/0xff0 [rdma_mirror]
[   78.215734] BUG: unable to handle page fault for address: ffffffffc0a12345
[   78.215734] kernel BUG at mm/huge_memory.c:2840!
[   78.215734] Oops: general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] PREEMPT SMP KASAN
[   78.215734] general protection fault, probably for non-canonical address 0xdffffc0000000002: 0000 [#1] SMP
[   78.215734] general protection fault: 0000 [#1] SMP NOPTI
[   78.219136] Call Trace:
[   78.215734] refcount_t: underflow; use-after-free.
[  245.123456] INFO: task rmmod:321 blocked for more than 120 seconds.
[  245.123456] hung_task: blocked tasks
[   78.215734] unregister_netdevice: waiting for veth0 to become free. Usage count = 2
[   78.215734] BUG: KASAN: slab-use-after-free in mirror_qp_destroy+0x94/0xff0 [rdma_mirror]
[   78.215734] KASAN: null-ptr-deref in range [0x0000000000000010-0x0000000000000017]
[   78.215734] UBSAN: array-index-out-of-bounds in kernel/mirror_wire.c:120:17
[   78.215734] WARNING: possible circular locking dependency detected
[   78.215734] WARNING: possible recursive locking detected
[   78.215734] WARNING: inconsistent lock state
[   78.215734] inconsistent {SOFTIRQ-ON-W} -> {IN-SOFTIRQ-W} usage.
[   78.215734] WARNING: possible irq lock inversion dependency detected
[   78.215734] WARNING: suspicious RCU usage
[   78.215734] WARNING: lock held when returning to user space!
[   78.215734] BUG: sleeping function called from invalid context at mm/slub.c:4111
[   78.215734] BUG: scheduling while atomic: kworker/0:1/12/0x00000002
[   78.215734] ODEBUG: free active (active state 0) object: ffff888012345678 object type: timer_list hint: mirror_retry_timer+0x0/0x20 [rdma_mirror]
[   78.215734] list_add corruption. prev->next should be next (ffff888003a5c800), but was ffff888003a5c900. (prev=ffff888003a5ca00).
[   78.215734] list_del corruption, ffff888003a5c800->next is LIST_POISON1 (dead000000000100)
unreferenced object 0xffff888002137300 (size 128):
EOF
)

fails=0
fail() {
	echo "not ok: $*"
	fails=$((fails + 1))
}

while IFS= read -r line; do
	grep -Eq "$MIRROR_BAD_LOG" <<<"$line" && fail "banner matches: $line"
done <<<"$BANNERS"
while IFS= read -r line; do
	grep -Eq "$MIRROR_BAD_LOG" <<<"$line" || fail "report does not match: $line"
done <<<"$REPORTS"
for re in "${MIRROR_BAD_LOG_PATTERNS[@]}"; do
	grep -Eq -- "$re" <<<"$REPORTS" || fail "no sample report for '$re'"
done
# mirror-vm --expect-alloc-failures: a report of a failed allocation goes,
# with its stack dump; a warning after it (or inside it) stays.
ALLOC_FAILURE=$(cat <<'EOF'
[   85.577553] fault_inject: vmalloc error: size 8192, vm_struct allocation failed, mode:0xdc0(GFP_KERNEL|__GFP_ZERO), nodemask=(null),cpuset=/,mems_allowed=0
[   85.581945] CPU: 1 UID: 0 PID: 131 Comm: fault_inject Tainted: G           O       6.12.118-mirror-debug #1
[   85.582714] Call Trace:
[   85.582826]  <TASK>
[   85.582996]  dump_stack_lvl+0x80/0xa0
[   85.583589]  warn_alloc+0x24f/0x3a0
[   85.584882]  </TASK>
[   86.000000] fault_inject: page allocation failure: order:0, mode:0x40cc0(GFP_KERNEL|__GFP_COMP), nodemask=(null)
[   86.000100] Call Trace:
[   86.000200]  <TASK>
[   86.000300]  </TASK>
[   86.000400] Mem-Info:
EOF
)
kept=$(mirror_drop_alloc_failure_reports <<<"$ALLOC_FAILURE")
grep -Eq "$MIRROR_BAD_LOG" <<<"$kept" &&
	fail "an allocation-failure report still fails the log: $kept"
kept=$(mirror_drop_alloc_failure_reports <<<"$ALLOC_FAILURE
[   87.000000] WARNING: CPU: 1 PID: 131 at kernel/mirror_mr.c:185 mirror_reg_user_mr+0x1/0x2 [rdma_mirror]
[   87.000100] Call Trace:")
[ "$(grep -Ec "$MIRROR_BAD_LOG" <<<"$kept")" = 2 ] ||
	fail "a warning after an allocation-failure report was dropped: $kept"

for log in "$@"; do
	if grep -En "$MIRROR_BAD_LOG" "$log" >/dev/null; then
		fail "$log is not clean:"
		grep -En "$MIRROR_BAD_LOG" "$log" | head -n 20
	fi
done

echo "bad_log: $(wc -l <<<"$BANNERS") banners, $(wc -l <<<"$REPORTS") reports," \
	"${#MIRROR_BAD_LOG_PATTERNS[@]} expressions, $# logs: $fails failures"
[ "$fails" = 0 ]
