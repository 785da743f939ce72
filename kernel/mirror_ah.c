// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_ah.c - address handles. The address vector is published apart from
 * the AH (struct mirror_av, RCU-freed) so that the data path can read it by
 * ah_num without racing with ib_core freeing the AH.
 */
#include "mirror.h"

/**
 * mirror_create_ah() - create an address handle
 * @ibah: the AH ib_core allocated
 * @init: the address; ib_core has resolved the source GID attribute
 * @udata: carries struct mirror_create_ah_resp for user AHs
 *
 * May be called in atomic context for kernel AHs (no
 * RDMA_CREATE_AH_SLEEPABLE), hence the GFP choice.
 *
 * Return: 0 or a negative errno (-EINVAL for an address without a valid
 * RoCE source GID).
 */
int mirror_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		     struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibah->device);
	gfp_t gfp = (init->flags & RDMA_CREATE_AH_SLEEPABLE) ? GFP_KERNEL :
							       GFP_ATOMIC;
	struct rdma_ah_attr *attr = init->ah_attr;
	struct mirror_ah *ah = to_mirror_ah(ibah);
	struct mirror_create_ah_resp resp = {};
	struct mirror_av *av;
	unsigned long flags;
	int err;

	if (attr->type != RDMA_AH_ATTR_TYPE_ROCE ||
	    !(rdma_ah_get_ah_flags(attr) & IB_AH_GRH) ||
	    !attr->grh.sgid_attr || rdma_ah_get_port_num(attr) != 1)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;

	av = kzalloc(sizeof(*av), gfp);
	if (!av)
		return -ENOMEM;
	av->attr = *attr;
	av->attr.grh.sgid_attr = NULL;	/* the AH's reference is ib_core's */
	av->pd = ibah->pd;

	/* A NULL entry reserves ah_num; lookups see nothing until the store. */
	xa_lock_irqsave(&dev->av_xa, flags);
	err = __xa_alloc_cyclic(&dev->av_xa, &ah->ah_num, NULL,
				XA_LIMIT(1, MIRROR_MAX_AH), &dev->next_ah,
				gfp);
	xa_unlock_irqrestore(&dev->av_xa, flags);
	if (err < 0) {
		err = err == -EBUSY ? -ENOMEM : err;
		goto err_free_av;
	}
	ah->av = av;

	if (udata) {
		resp.ah_num = ah->ah_num;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_release_num;
	}

	/* Complete: publish (the reserved slot needs no allocation). */
	xa_lock_irqsave(&dev->av_xa, flags);
	__xa_store(&dev->av_xa, ah->ah_num, av, gfp);
	xa_unlock_irqrestore(&dev->av_xa, flags);
	return 0;

err_release_num:
	xa_lock_irqsave(&dev->av_xa, flags);
	__xa_erase(&dev->av_xa, ah->ah_num);
	xa_unlock_irqrestore(&dev->av_xa, flags);
err_free_av:
	kfree(av);
	return err;
}

/**
 * mirror_destroy_ah() - destroy an address handle
 * @ibah: the AH
 * @flags: RDMA_DESTROY_AH_SLEEPABLE or 0 (atomic context)
 *
 * Return: 0.
 */
int mirror_destroy_ah(struct ib_ah *ibah, u32 flags)
{
	struct mirror_dev *dev = to_mirror_dev(ibah->device);
	struct mirror_ah *ah = to_mirror_ah(ibah);
	unsigned long irqflags;

	xa_lock_irqsave(&dev->av_xa, irqflags);
	__xa_erase(&dev->av_xa, ah->ah_num);
	xa_unlock_irqrestore(&dev->av_xa, irqflags);
	kfree_rcu(ah->av, rcu);
	return 0;
}
