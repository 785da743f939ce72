// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_cq.c - completion queues: a ring of struct mirror_cqe that the
 * kernel produces into and the consumer (the provider's poll_cq, or
 * mirror_poll_cq() for kernel consumers) reads.
 */
#include <rdma/uverbs_ioctl.h>

#include "mirror.h"

/* Slots for @cqe entries: one more than asked, rounded to a power of two. */
static u32 mirror_cq_slots(int cqe)
{
	return roundup_pow_of_two((u32)cqe + 1);
}

static bool mirror_cq_size_ok(int cqe)
{
	return cqe > 0 && cqe <= MIRROR_MAX_CQE;
}

/**
 * mirror_create_cq() - create a CQ
 * @ibcq: the CQ ib_core allocated; ibcq->cqe gets the granted size
 * @attr: size and flags
 * @attrs: the uverbs call (NULL for kernel consumers)
 *
 * Return: 0 or a negative errno (-EINVAL for a size outside 1..max_cqe).
 */
int mirror_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		     mirror_cq_call_t *attrs)
{
	struct mirror_dev *dev = to_mirror_dev(ibcq->device);
	struct ib_udata *udata = mirror_cq_udata(attrs);
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	struct mirror_create_cq_resp resp = {};
	int cqe = attr->cqe;
	int err;

	if (attr->flags)
		return -EOPNOTSUPP;
	if (!mirror_cq_size_ok(cqe))
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	if (atomic_inc_return(&dev->num_cqs) > MIRROR_MAX_CQ) {
		err = -ENOMEM;
		goto err_count;
	}

	spin_lock_init(&cq->lock);
	cq->is_user = !!udata;
	err = mirror_queue_init(&cq->queue, udata, mirror_cq_slots(cqe),
				sizeof(struct mirror_cqe));
	if (err)
		goto err_count;
	ibcq->cqe = cq->queue.num_slots - 1;

	if (udata) {
		mirror_queue_info(&cq->queue, &resp.cq);
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_destroy_queue;
	}
	mirror_dbg_cq(cq, "%d entries\n", ibcq->cqe);
	return 0;

err_destroy_queue:
	mirror_queue_destroy(&cq->queue);
err_count:
	atomic_dec(&dev->num_cqs);
	return err;
}

/**
 * mirror_destroy_cq() - destroy a CQ (ib_core has checked no QP uses it)
 * @ibcq: the CQ
 * @udata: unused
 *
 * Return: 0.
 */
int mirror_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);

	mirror_queue_destroy(&cq->queue);
	atomic_dec(&to_mirror_dev(ibcq->device)->num_cqs);
	return 0;
}

/**
 * mirror_resize_cq() - give a CQ a new ring, keeping pending completions
 * @ibcq: the CQ
 * @cqe: entries wanted
 * @udata: carries struct mirror_resize_cq_resp for user CQs
 *
 * The new ring gets the pending entries first; user space maps it from
 * the new offset and unmaps the old ring.
 *
 * Return: 0 or a negative errno; on error the old ring stays in place.
 */
int mirror_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	struct mirror_resize_cq_resp resp = {};
	struct mirror_queue nq, old;
	unsigned long flags;
	u32 pending, cons, i;
	int err;

	if (!mirror_cq_size_ok(cqe))
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;

	err = mirror_queue_init(&nq, udata, mirror_cq_slots(cqe),
				sizeof(struct mirror_cqe));
	if (err)
		return err;

	/* Built before the swap: after it another resize may replace @nq. */
	if (udata)
		mirror_queue_info(&nq, &resp.cq);

	spin_lock_irqsave(&cq->lock, flags);
	/*
	 * The consumer index is user space's: read it once. The producer is
	 * ours (cq->prod), so what is pending is decided from these two.
	 */
	cons = smp_load_acquire(&cq->queue.hdr->consumer);
	pending = min(cq->prod - cons, cq->queue.num_slots);
	if (pending > nq.num_slots - 1) {
		spin_unlock_irqrestore(&cq->lock, flags);
		err = -EINVAL;
		goto err_destroy_new;
	}
	cons = cq->prod - pending;
	for (i = 0; i < pending; i++)
		memcpy(mirror_queue_slot(&nq, i),
		       mirror_queue_slot(&cq->queue, cons + i),
		       sizeof(struct mirror_cqe));
	smp_store_release(&nq.hdr->producer, pending);
	cq->prod = pending;
	old = cq->queue;
	cq->queue = nq;
	ibcq->cqe = nq.num_slots - 1;
	spin_unlock_irqrestore(&cq->lock, flags);

	if (udata) {
		/*
		 * The new ring is in place; should the copy fail the process
		 * just never learns where it is, and the CQ stays usable
		 * from the kernel's side.
		 */
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
	}
	mirror_queue_destroy(&old);
	return err;

err_destroy_new:
	mirror_queue_destroy(&nq);
	return err;
}

/**
 * mirror_cq_post() - add a completion and notify the consumer if armed
 * @cq: the CQ
 * @cqe: the completion
 * @solicited: the completion answers a solicited event
 *
 * Return: 0, or -ENOSPC when the CQ overflowed (an IB_EVENT_CQ_ERR is
 * raised and the completion is lost, as the verbs spec has it).
 */
int mirror_cq_post(struct mirror_cq *cq, const struct mirror_cqe *cqe,
		   bool solicited)
{
	struct mirror_queue *q = &cq->queue;
	unsigned long flags;
	bool notify;

	spin_lock_irqsave(&cq->lock, flags);
	if (cq->prod - smp_load_acquire(&q->hdr->consumer) >= q->num_slots) {
		spin_unlock_irqrestore(&cq->lock, flags);
		if (cq->ibcq.event_handler) {
			struct ib_event ev = {
				.device = cq->ibcq.device,
				.element.cq = &cq->ibcq,
				.event = IB_EVENT_CQ_ERR,
			};

			cq->ibcq.event_handler(&ev, cq->ibcq.cq_context);
		}
		return -ENOSPC;
	}
	memcpy(mirror_queue_slot(q, cq->prod), cqe, sizeof(*cqe));
	cq->prod++;
	smp_store_release(&q->hdr->producer, cq->prod);
	notify = cq->notify == IB_CQ_NEXT_COMP ||
		 (cq->notify == IB_CQ_SOLICITED && solicited);
	if (notify)
		cq->notify = 0;
	spin_unlock_irqrestore(&cq->lock, flags);

	if (notify && cq->ibcq.comp_handler)
		cq->ibcq.comp_handler(&cq->ibcq, cq->ibcq.cq_context);
	return 0;
}

/* Fills a kernel work completion from a CQE; cq->lock is held. */
static void mirror_cqe_to_wc(struct mirror_cq *cq, const struct mirror_cqe *e,
			     struct ib_wc *w)
{
	struct mirror_dev *dev = to_mirror_dev(cq->ibcq.device);
	struct mirror_qp *qp;

	memset(w, 0, sizeof(*w));
	w->wr_id = e->wr_id;
	w->status = e->status;
	w->opcode = e->opcode;
	w->vendor_err = e->vendor_err;
	w->byte_len = e->byte_len;
	w->ex.imm_data = (__force __be32)e->imm_data;
	/*
	 * Kernel consumers (ib_mad) read wc->qp. The QP is theirs and cannot
	 * be destroyed while they poll its completions, so the pointer stays
	 * valid for them; RCU only guards the lookup itself.
	 */
	rcu_read_lock();
	qp = xa_load(&dev->qp_xa, e->qp_num);
	w->qp = qp ? &qp->ibqp : NULL;
	rcu_read_unlock();
	w->src_qp = e->src_qp;
	if (e->wc_flags & MIRROR_CQE_F_GRH)
		w->wc_flags |= IB_WC_GRH;
	if (e->wc_flags & MIRROR_CQE_F_WITH_IMM)
		w->wc_flags |= IB_WC_WITH_IMM;
	if (e->wc_flags & MIRROR_CQE_F_IP_CSUM_OK)
		w->wc_flags |= IB_WC_IP_CSUM_OK;
	if (e->wc_flags & MIRROR_CQE_F_WITH_INV)
		w->wc_flags |= IB_WC_WITH_INVALIDATE;
	if (e->network_hdr_type == MIRROR_CQE_NET_IPV4 ||
	    e->network_hdr_type == MIRROR_CQE_NET_IPV6) {
		w->network_hdr_type =
			e->network_hdr_type == MIRROR_CQE_NET_IPV4 ?
			RDMA_NETWORK_IPV4 : RDMA_NETWORK_IPV6;
		w->wc_flags |= IB_WC_WITH_NETWORK_HDR_TYPE;
	}
	w->pkey_index = e->pkey_index;
	w->slid = e->slid;
	w->sl = e->sl;
	w->dlid_path_bits = e->dlid_path_bits;
	w->port_num = 1;
}

/**
 * mirror_poll_cq() - take completions from a kernel consumer's CQ
 * @ibcq: the CQ
 * @num: room in @wc
 * @wc: filled with completions
 *
 * Return: completions returned.
 */
int mirror_poll_cq(struct ib_cq *ibcq, int num, struct ib_wc *wc)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	struct mirror_queue *q = &cq->queue;
	unsigned long flags;
	int n = 0;

	spin_lock_irqsave(&cq->lock, flags);
	while (n < num && mirror_queue_count(q)) {
		u32 cons = q->hdr->consumer;

		mirror_cqe_to_wc(cq, mirror_queue_slot(q, cons), &wc[n++]);
		smp_store_release(&q->hdr->consumer, cons + 1);
	}
	spin_unlock_irqrestore(&cq->lock, flags);
	return n;
}

/**
 * mirror_req_notify_cq() - arm a CQ
 * @ibcq: the CQ
 * @flags: IB_CQ_SOLICITED or IB_CQ_NEXT_COMP, maybe IB_CQ_REPORT_MISSED_EVENTS
 *
 * Return: 1 when missed events were asked about and completions are
 * already waiting, else 0.
 */
int mirror_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	unsigned long irqflags;
	int ret = 0;

	spin_lock_irqsave(&cq->lock, irqflags);
	/* NEXT_COMP covers SOLICITED; never weaken an armed NEXT_COMP. */
	if (cq->notify != IB_CQ_NEXT_COMP)
		cq->notify = flags & IB_CQ_SOLICITED_MASK;
	if ((flags & IB_CQ_REPORT_MISSED_EVENTS) && mirror_queue_count(&cq->queue))
		ret = 1;
	spin_unlock_irqrestore(&cq->lock, irqflags);
	return ret;
}

/**
 * mirror_complete() - post a completion for a QP's send or receive side
 * @qp: the QP
 * @recv: the receive side (else the send side)
 * @cqe: the completion
 * @solicited: it answers a solicited event
 */
void mirror_complete(struct mirror_qp *qp, bool recv,
		     const struct mirror_cqe *cqe, bool solicited)
{
	struct ib_cq *ibcq = recv ? qp->ibqp.recv_cq : qp->ibqp.send_cq;

	mirror_cq_post(to_mirror_cq(ibcq), cqe, solicited);
}
