/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - the one place that absorbs differences between the kernels we
 * build for (Debian bookworm's 6.1 and 6.12). Code elsewhere stays free of
 * version #ifdefs.
 */
#ifndef MIRROR_COMPAT_H
#define MIRROR_COMPAT_H

#include <linux/mm.h>
#include <linux/version.h>
#include <net/inet_sock.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

/* The unaligned accessors moved from asm/ to linux/ in 6.12. */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 12, 0)
#include <linux/unaligned.h>
#else
#include <asm/unaligned.h>
#endif

/*
 * Since 6.9 create_cq receives a uverbs_attr_bundle (NULL for kernel CQs)
 * instead of the bare udata (NULL for kernel CQs as well).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
typedef struct uverbs_attr_bundle mirror_cq_call_t;

static inline struct ib_udata *mirror_cq_udata(mirror_cq_call_t *call)
{
	return call ? &call->driver_udata : NULL;
}
#else
typedef struct ib_udata mirror_cq_call_t;

static inline struct ib_udata *mirror_cq_udata(mirror_cq_call_t *call)
{
	return call;
}
#endif

/* vm_flags became write-protected behind helpers in 6.3. */
static inline void mirror_vma_clear_flags(struct vm_area_struct *vma,
					  vm_flags_t flags)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_clear(vma, flags);
#else
	vma->vm_flags &= ~flags;
#endif
}

/* The inet socket flags became atomic bits in 6.6. */
static inline void mirror_sock_set_mc_loop(struct sock *sk)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 6, 0)
	inet_set_bit(MC_LOOP, sk);
#else
	inet_sk(sk)->mc_loop = 1;
#endif
}

/*
 * FLUSH came with 6.2: before it ib_core refuses the FLUSH access flags at
 * registration, so no MR could be flushed and the device does not offer it.
 */
static inline bool mirror_flush_offered(void)
{
	return LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0);
}

#endif /* MIRROR_COMPAT_H */
