/* SPDX-License-Identifier: GPL-2.0 */
/*
 * compat.h - the one place that absorbs differences between the kernels we
 * build for (Debian's 6.12 now; 6.1 later). Code elsewhere stays free of
 * version #ifdefs.
 */
#ifndef MIRROR_COMPAT_H
#define MIRROR_COMPAT_H

#include <linux/version.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>

/*
 * Since 6.9 create_cq receives a uverbs_attr_bundle (NULL for kernel CQs)
 * instead of the bare udata.
 */
static inline struct ib_udata *
mirror_cq_udata(struct uverbs_attr_bundle *attrs)
{
	return attrs ? &attrs->driver_udata : NULL;
}

#endif /* MIRROR_COMPAT_H */
