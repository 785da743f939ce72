// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_inject.c - allocation failures injected into the device's own
 * work, for kernels built with CONFIG_FAULT_INJECTION (the debug kernel of
 * scripts/build-debug-kernel).
 *
 * failslab and fail_page_alloc reach a process's own system calls through
 * their task filter, but not the work items that do the rest of the
 * device's work: the RoCEv2 responder and completer, ODP faults made for a
 * peer, the implicit children those faults create, the same-device fault
 * jobs. Those allocation sites ask mirror_fail_alloc() first, whatever
 * context they run in; the debugfs folder fail_rdma_mirror holds the usual
 * fault attributes (probability, interval, times, ...) that decide, as
 * described in the kernel's Documentation/fault-injection. Off (probability
 * 0) until someone sets it; without CONFIG_FAULT_INJECTION nothing of this
 * is built and mirror_fail_alloc() is a constant false.
 */
#include <linux/debugfs.h>
#include <linux/fault-inject.h>

#include "mirror.h"

static DECLARE_FAULT_ATTR(mirror_fail_attr);
/* The debugfs folder; written at init and exit only. */
static struct dentry *mirror_fail_dir;

/**
 * mirror_fail_alloc() - whether an allocation of the device's should fail
 *	now (fault injection)
 *
 * Return: true when the allocation site should behave as if its
 * allocation had failed.
 */
bool mirror_fail_alloc(void)
{
	return should_fail(&mirror_fail_attr, 1);
}

/**
 * mirror_inject_init() - create debugfs fail_rdma_mirror
 *
 * A kernel without debugfs fault attributes gets none: not an error.
 */
void mirror_inject_init(void)
{
	struct dentry *dir;

	dir = fault_create_debugfs_attr("fail_rdma_mirror", NULL,
					&mirror_fail_attr);
	if (!IS_ERR(dir))
		mirror_fail_dir = dir;
}

/**
 * mirror_inject_exit() - remove what mirror_inject_init() created
 */
void mirror_inject_exit(void)
{
	debugfs_remove_recursive(mirror_fail_dir);
	mirror_fail_dir = NULL;
}
