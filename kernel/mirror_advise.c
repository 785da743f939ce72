// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_advise.c - ibv_advise_mr(): prefetching ranges of ODP MRs, now
 * (IB_UVERBS_ADVISE_MR_FLAG_FLUSH) or in a work item, through the mirror's
 * fault helper (mirror_odp.c, ODP rule 8).
 */
#include "mirror.h"
#include "mirror_trace.h"

/* One range of an asynchronous prefetch; holds a reference on its MR. */
struct mirror_prefetch_range {
	struct mirror_mr *mr;
	u64 addr;
	u32 len;
};

/**
 * struct mirror_prefetch - ibv_advise_mr() work without FLAG_FLUSH
 * @work: runs on the device's workqueue
 * @flags: MIRROR_ODP_* flags for mirror_odp_fault()
 * @n: ranges
 * @range: the ranges, each holding a reference on its MR (so dereg waits
 *	for the work; it sets mr->dying, which makes the work stop early)
 */
struct mirror_prefetch {
	struct work_struct work;
	unsigned int flags;
	u32 n;
	struct mirror_prefetch_range range[] __counted_by(n);
};

/* Prefetches one range; the MR's user address space is the mirror's. */
static int mirror_prefetch_range(struct mirror_prefetch_range *r,
				 unsigned int flags)
{
	struct mirror_mr *mr = r->mr;

	return mirror_mr_odp_fault(mr, mr->odp_va + (r->addr - mr->iova),
				   r->len, flags);
}

static void mirror_prefetch_work(struct work_struct *work)
{
	struct mirror_prefetch *p = container_of(work, struct mirror_prefetch,
						 work);
	u32 i;

	for (i = 0; i < p->n; i++) {
		/* Nobody waits for the result: a failed range stays cold. */
		mirror_prefetch_range(&p->range[i], p->flags);
		mirror_mr_put(p->range[i].mr);
	}
	kfree(p);
}

/* Finds the ODP MR of one SGE of ibv_advise_mr() and checks the range. */
static int mirror_prefetch_get(struct mirror_dev *dev, struct ib_pd *pd,
			       const struct ib_sge *sge, bool write,
			       struct mirror_prefetch_range *r)
{
	struct mirror_mr *mr = mirror_mr_get(dev, sge->lkey);
	int err;

	if (!mr || mr->ibmr.pd != pd) {
		err = -ENOENT;
		goto err_put;
	}
	if (mr->type != MIRROR_MR_ODP) {
		err = -EINVAL;
		goto err_put;
	}
	err = mirror_mr_check(mr, sge->addr, sge->length,
			      write ? IB_ACCESS_LOCAL_WRITE : 0);
	if (err) {
		err = err == -EACCES ? -EACCES : -EFAULT;
		goto err_put;
	}
	r->mr = mr;
	r->addr = sge->addr;
	r->len = sge->length;
	return 0;

err_put:
	if (mr)
		mirror_mr_put(mr);
	return err;
}

/**
 * mirror_advise_mr() - ibv_advise_mr(): prefetch ranges of ODP MRs
 * @pd: the PD the MRs must belong to
 * @advice: PREFETCH (readable), PREFETCH_WRITE (writable) or
 *	PREFETCH_NO_FAULT (mirror only what is present)
 * @flags: IB_UVERBS_ADVISE_MR_FLAG_FLUSH: return when done (and with the
 *	first fault's error); else queue work and return at once
 * @sg_list: ranges, by lkey
 * @num_sge: entries in @sg_list
 * @attrs: unused
 *
 * Return: 0; -ENOENT for an unknown lkey, -EINVAL for a non-ODP MR,
 * -EFAULT for a range outside its MR (or, synchronously, that cannot be
 * faulted in), -EACCES for PREFETCH_WRITE on an MR without local write,
 * -EOPNOTSUPP for an unknown advice or flag, -ENOMEM.
 */
int mirror_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		     u32 flags, struct ib_sge *sg_list, u32 num_sge,
		     struct uverbs_attr_bundle *attrs)
{
	struct mirror_dev *dev = to_mirror_dev(pd->device);
	bool sync = flags & IB_UVERBS_ADVISE_MR_FLAG_FLUSH;
	struct mirror_prefetch *p;
	unsigned int fflags;
	bool write;
	u32 i, n;
	int err = 0;

	switch (advice) {
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH:
		fflags = MIRROR_ODP_FAULT;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_WRITE:
		fflags = MIRROR_ODP_FAULT | MIRROR_ODP_WRITE;
		break;
	case IB_UVERBS_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT:
		fflags = 0;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (flags & ~IB_UVERBS_ADVISE_MR_FLAG_FLUSH)
		return -EOPNOTSUPP;
	if (!num_sge)
		return 0;
	write = fflags & MIRROR_ODP_WRITE;
	fflags |= MIRROR_ODP_PREFETCH;

	p = kzalloc(struct_size(p, range, num_sge), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->flags = fflags;
	for (n = 0; n < num_sge; n++) {
		err = mirror_prefetch_get(dev, pd, &sg_list[n], write,
					  &p->range[n]);
		if (err)
			break;
	}
	p->n = n;
	if (err)
		goto out_put;

	for (i = 0; i < n; i++) {
		mirror_odp_count(p->range[i].mr, MIRROR_MR_CNT_PREFETCHES, 1);
		trace_mirror_odp_prefetch(p->range[i].mr->ibmr.lkey,
					  p->range[i].addr, p->range[i].len,
					  advice, sync);
	}
	if (!sync) {
		INIT_WORK(&p->work, mirror_prefetch_work);
		queue_work(dev->wq, &p->work);
		return 0;
	}
	for (i = 0; i < n && !err; i++)
		err = mirror_prefetch_range(&p->range[i], fflags);

out_put:
	for (i = 0; i < p->n; i++)
		mirror_mr_put(p->range[i].mr);
	kfree(p);
	return err;
}
