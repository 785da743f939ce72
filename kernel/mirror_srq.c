// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_srq.c - shared receive queues: one receive ring that the
 * responders of every QP attached to it take from.
 *
 * Posting: user SRQs are posted to in user space (no system call), kernel
 * SRQs under srq->post_lock. Taking: the responders of several QPs may
 * want a receive at once; srq->take_lock serialises them, and the limit
 * event is decided there too, right after a receive is taken.
 */
#include "mirror.h"

/* The ring geometry of an SRQ of @max_wr receives of @max_sge SGEs. */
static void mirror_srq_geometry(u32 max_wr, u32 max_sge, u32 *slots,
				u32 *stride)
{
	*slots = roundup_pow_of_two(max_t(u32, max_wr, 1));
	*stride = roundup_pow_of_two(MIRROR_RECV_WQE_HDR +
				     max_t(u32, max_sge, 1) * MIRROR_SGE_SIZE);
}

/**
 * mirror_create_srq() - create a basic SRQ
 * @ibsrq: the SRQ ib_core allocated
 * @init: type and caps; the caps are updated to what was granted
 * @udata: carries struct mirror_create_srq_resp for user SRQs
 *
 * Return: 0, -EOPNOTSUPP for XRC or tag-matching SRQs, -EINVAL for caps
 * over the limits, or another negative errno.
 */
int mirror_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		      struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibsrq->device);
	struct mirror_srq *srq = to_mirror_srq(ibsrq);
	struct ib_srq_attr *attr = &init->attr;
	struct mirror_create_srq_resp resp = {};
	u32 slots, stride;
	int err;

	if (init->srq_type != IB_SRQT_BASIC)
		return -EOPNOTSUPP;
	if (!attr->max_wr || attr->max_wr > MIRROR_MAX_SRQ_WR ||
	    attr->max_sge > MIRROR_MAX_SGE || attr->srq_limit > attr->max_wr)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&dev->num_srqs) > MIRROR_MAX_SRQ) {
		err = -ENOMEM;
		goto err_count;
	}

	spin_lock_init(&srq->post_lock);
	mutex_init(&srq->take_lock);
	srq->is_user = !!udata;
	mirror_srq_geometry(attr->max_wr, attr->max_sge, &slots, &stride);
	err = mirror_queue_init(&srq->rq, udata, slots, stride);
	if (err)
		goto err_mutex;
	srq->max_sge = min_t(u32, (stride - MIRROR_RECV_WQE_HDR) /
			     MIRROR_SGE_SIZE, MIRROR_MAX_SGE);
	srq->limit = attr->srq_limit;
	attr->max_wr = slots;
	attr->max_sge = srq->max_sge;

	if (udata) {
		mirror_queue_info(&srq->rq, &resp.rq);
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_queue;
	}
	return 0;

err_queue:
	mirror_queue_destroy(&srq->rq);
err_mutex:
	mutex_destroy(&srq->take_lock);
err_count:
	atomic_dec(&dev->num_srqs);
	return err;
}

/**
 * mirror_modify_srq() - arm the limit event
 * @ibsrq: the SRQ
 * @attr: srq_limit for IB_SRQ_LIMIT
 * @mask: IB_SRQ_LIMIT; IB_SRQ_MAX_WR (resizing) is not offered
 * @udata: unused
 *
 * Return: 0, -EOPNOTSUPP for a resize, -EINVAL for a limit over the size.
 */
int mirror_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		      enum ib_srq_attr_mask mask, struct ib_udata *udata)
{
	struct mirror_srq *srq = to_mirror_srq(ibsrq);

	if (mask & ~(IB_SRQ_MAX_WR | IB_SRQ_LIMIT))
		return -EINVAL;
	if (mask & IB_SRQ_MAX_WR)
		return -EOPNOTSUPP;
	if (!(mask & IB_SRQ_LIMIT))
		return 0;
	if (attr->srq_limit > srq->rq.num_slots)
		return -EINVAL;
	mutex_lock(&srq->take_lock);
	srq->limit = attr->srq_limit;
	mutex_unlock(&srq->take_lock);
	return 0;
}

/**
 * mirror_query_srq() - report size and the armed limit
 * @ibsrq: the SRQ
 * @attr: filled in
 *
 * Return: 0.
 */
int mirror_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr)
{
	struct mirror_srq *srq = to_mirror_srq(ibsrq);

	attr->max_wr = srq->rq.num_slots;
	attr->max_sge = srq->max_sge;
	attr->srq_limit = READ_ONCE(srq->limit);
	return 0;
}

/**
 * mirror_destroy_srq() - destroy an SRQ no QP uses any more
 * @ibsrq: the SRQ (ib_core has checked that no QP is attached)
 * @udata: unused
 *
 * Return: 0.
 */
int mirror_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata)
{
	struct mirror_srq *srq = to_mirror_srq(ibsrq);

	mirror_queue_destroy(&srq->rq);
	mutex_destroy(&srq->take_lock);
	atomic_dec(&to_mirror_dev(ibsrq->device)->num_srqs);
	return 0;
}

/**
 * mirror_post_srq_recv() - post receives to a kernel SRQ
 * @ibsrq: the SRQ
 * @wr: chain of WRs
 * @bad_wr: set to the first WR not posted
 *
 * Return: 0, -ENOMEM when the ring is full, -EINVAL for too many SGEs.
 */
int mirror_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			 const struct ib_recv_wr **bad_wr)
{
	struct mirror_srq *srq = to_mirror_srq(ibsrq);
	unsigned long flags;
	int err = 0;

	if (srq->is_user) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&srq->post_lock, flags);
	for (; wr; wr = wr->next) {
		err = mirror_queue_post_recv(&srq->rq, wr, srq->max_sge);
		if (err) {
			*bad_wr = wr;
			break;
		}
	}
	spin_unlock_irqrestore(&srq->post_lock, flags);
	return err;
}

/**
 * mirror_srq_take() - take the oldest receive of an SRQ
 * @srq: the SRQ
 * @wqe: gets the receive's header
 * @sge: gets its SGEs (MIRROR_MAX_SGE entries of room)
 *
 * Raises IB_EVENT_SRQ_LIMIT_REACHED (once per arming) when the receives
 * left drop below the armed limit.
 *
 * Return: 0, -EAGAIN when the SRQ is empty, -EIO when user space broke the
 * ring, -E2BIG when the receive names more SGEs than the SRQ allows.
 */
int mirror_srq_take(struct mirror_srq *srq, struct mirror_recv_wqe *wqe,
		    struct mirror_sge *sge)
{
	struct mirror_queue *q = &srq->rq;
	struct ib_event ev = {};
	bool fire = false;
	u32 avail;
	int err = 0;

	mutex_lock(&srq->take_lock);
	err = mirror_queue_avail(q, srq->cons, &avail);
	if (!err && !avail)
		err = -EAGAIN;
	if (err)
		goto out;
	err = mirror_queue_fetch_recv(q, srq->cons, wqe, sge, srq->max_sge);
	srq->cons++;
	mirror_queue_consumed(q, srq->cons);
	if (srq->limit && avail - 1 < srq->limit) {
		srq->limit = 0;	/* disarmed until modify_srq arms it again */
		fire = true;
	}
out:
	mutex_unlock(&srq->take_lock);
	if (fire && srq->ibsrq.event_handler) {
		ev.device = srq->ibsrq.device;
		ev.element.srq = &srq->ibsrq;
		ev.event = IB_EVENT_SRQ_LIMIT_REACHED;
		srq->ibsrq.event_handler(&ev, srq->ibsrq.srq_context);
	}
	return err;
}
