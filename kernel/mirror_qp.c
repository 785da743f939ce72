// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_qp.c - queue pairs: creation with their send and receive rings,
 * the verbs-spec state machine (modify/query), destruction, and posting.
 *
 * Concurrency: modify_qp and query_qp serialise on qp->state_lock. Kernel
 * consumers post under sq_lock/rq_lock (maybe in atomic context) and the
 * requester then runs from req_work. User QPs post into the shared rings
 * without the kernel; their doorbell (post_send with no WR) runs the
 * requester in the calling process. Lookups by QPN hold a reference, and
 * destroy waits for the last one.
 */
#include <rdma/uverbs_ioctl.h>

#include "mirror.h"

static const char *const mirror_qp_state_names[MIRROR_QPS_COUNT] = {
	[MIRROR_QPS_RESET] = "RESET",
	[MIRROR_QPS_INIT] = "INIT",
	[MIRROR_QPS_RTR] = "RTR",
	[MIRROR_QPS_RTS] = "RTS",
	[MIRROR_QPS_SQD] = "SQD",
	[MIRROR_QPS_SQE] = "SQE",
	[MIRROR_QPS_ERR] = "ERR",
};

/* The uid of the last QP created, in the whole module (struct mirror_qp). */
static atomic64_t mirror_qp_uids = ATOMIC64_INIT(0);

/* Our states are the verbs states, one for one. */
static_assert((int)MIRROR_QPS_RESET == (int)IB_QPS_RESET);
static_assert((int)MIRROR_QPS_INIT == (int)IB_QPS_INIT);
static_assert((int)MIRROR_QPS_RTR == (int)IB_QPS_RTR);
static_assert((int)MIRROR_QPS_RTS == (int)IB_QPS_RTS);
static_assert((int)MIRROR_QPS_SQD == (int)IB_QPS_SQD);
static_assert((int)MIRROR_QPS_SQE == (int)IB_QPS_SQE);
static_assert((int)MIRROR_QPS_ERR == (int)IB_QPS_ERR);

/* Entering RESET empties both rings: everything posted is dropped. */
static void mirror_qp_reset_rings(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->state_lock);
	mutex_lock(&qp->req_lock);
	if (qp->sq.buf) {
		qp->req.sq_cons = mirror_queue_producer(&qp->sq);
		qp->req.sq_fetched = qp->req.sq_cons;
		qp->req.sq_next = qp->req.sq_cons;
		mirror_queue_consumed(&qp->sq, qp->req.sq_cons);
	}
	mutex_lock(&qp->resp_lock);
	if (qp->rq.buf) {
		qp->resp.rq_cons = mirror_queue_producer(&qp->rq);
		mirror_queue_consumed(&qp->rq, qp->resp.rq_cons);
	}
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}

static int mirror_qp_check_caps(struct ib_qp_init_attr *init)
{
	struct ib_qp_cap *cap = &init->cap;

	if (cap->max_send_wr > MIRROR_MAX_QP_WR ||
	    cap->max_recv_wr > MIRROR_MAX_QP_WR ||
	    cap->max_send_sge > MIRROR_MAX_SGE ||
	    cap->max_recv_sge > MIRROR_MAX_SGE ||
	    cap->max_inline_data > MIRROR_MAX_INLINE)
		return -EINVAL;
	return 0;
}

/* Sizes both rings from the requested caps and writes back what we grant. */
static int mirror_qp_init_rings(struct mirror_qp *qp,
				struct ib_qp_init_attr *init,
				struct ib_udata *udata)
{
	struct ib_qp_cap *cap = &init->cap;
	u32 sq_payload, sq_stride, rq_stride, sq_slots, rq_slots;
	int err;

	sq_payload = max_t(u32, max_t(u32, cap->max_send_sge, 1) * MIRROR_SGE_SIZE,
			   cap->max_inline_data);
	sq_stride = roundup_pow_of_two(MIRROR_SEND_WQE_HDR + sq_payload);
	sq_slots = roundup_pow_of_two(max_t(u32, cap->max_send_wr, 1));
	rq_stride = roundup_pow_of_two(MIRROR_RECV_WQE_HDR +
				       max_t(u32, cap->max_recv_sge, 1) *
				       MIRROR_SGE_SIZE);
	rq_slots = roundup_pow_of_two(max_t(u32, cap->max_recv_wr, 1));

	err = mirror_queue_init(&qp->sq, udata, sq_slots, sq_stride);
	if (err)
		return err;
	if (!init->srq) {
		err = mirror_queue_init(&qp->rq, udata, rq_slots, rq_stride);
		if (err)
			goto err_destroy_sq;
	}

	cap->max_send_wr = sq_slots;
	cap->max_send_sge = min_t(u32, (sq_stride - MIRROR_SEND_WQE_HDR) /
				  MIRROR_SGE_SIZE, MIRROR_MAX_SGE);
	cap->max_inline_data = min_t(u32, sq_stride - MIRROR_SEND_WQE_HDR,
				     MIRROR_MAX_INLINE);
	if (!init->srq) {
		cap->max_recv_wr = rq_slots;
		cap->max_recv_sge = min_t(u32, (rq_stride - MIRROR_RECV_WQE_HDR) /
					  MIRROR_SGE_SIZE, MIRROR_MAX_SGE);
	} else {
		/* Receives come from the SRQ. */
		cap->max_recv_wr = 0;
		cap->max_recv_sge = 0;
	}
	qp->max_inline = cap->max_inline_data;
	return 0;

err_destroy_sq:
	mirror_queue_destroy(&qp->sq);
	return err;
}

static void mirror_qp_free_state(struct mirror_qp *qp)
{
	kfree(qp->req.ud_bounce);
	kfree(qp->resp.res);
	kvfree(qp->req.meta);
	dst_cache_destroy(&qp->peer.routes);
	memset(&qp->peer.routes, 0, sizeof(qp->peer.routes));
	kvfree(qp->req.sq_copy);
	qp->req.ud_bounce = NULL;
	qp->resp.res = NULL;
	qp->req.meta = NULL;
	qp->req.sq_copy = NULL;
}

/*
 * The engines' per-QP memory, charged to the creator's memory cgroup:
 * the SQ copy (user QPs), the wire state of every SQ slot, the route
 * cache and the responder resources (RC/UC), the datagram bounce buffer
 * (UD/GSI).
 */
static int mirror_qp_alloc_state(struct mirror_qp *qp)
{
	enum ib_qp_type type = qp->ibqp.qp_type;

	mirror_segs_init(&qp->req.local, false);
	mirror_segs_init(&qp->req.remote, false);
	mirror_segs_init(&qp->resp.segs, false);
	if (qp->is_user) {
		qp->req.sq_copy = kvzalloc(array_size(qp->sq.num_slots,
						  qp->sq.stride),
				       GFP_KERNEL_ACCOUNT);
		if (!qp->req.sq_copy)
			goto err_free;
	}
	if (type == IB_QPT_RC || type == IB_QPT_UC) {
		qp->req.meta = kvcalloc(qp->sq.num_slots, sizeof(*qp->req.meta),
				    GFP_KERNEL_ACCOUNT);
		if (!qp->req.meta)
			goto err_free;
		if (dst_cache_init(&qp->peer.routes, GFP_KERNEL_ACCOUNT))
			goto err_free;
	}
	if (type == IB_QPT_RC) {
		qp->resp.res = kcalloc(MIRROR_MAX_RD_ATOM, sizeof(*qp->resp.res),
				  GFP_KERNEL_ACCOUNT);
		if (!qp->resp.res)
			goto err_free;
	}
	if (mirror_type_is_ud(type)) {
		qp->req.ud_bounce = kmalloc(MIRROR_MAX_MTU, GFP_KERNEL_ACCOUNT);
		if (!qp->req.ud_bounce)
			goto err_free;
	}
	return 0;

err_free:
	mirror_qp_free_state(qp);
	return -ENOMEM;
}

/* Reserves a QPN: 1 for the GSI QP, a cyclic one for everything else. */
static int mirror_qp_alloc_qpn(struct mirror_dev *dev, struct mirror_qp *qp)
{
	u32 qpn;
	int err;

	if (qp->ibqp.qp_type == IB_QPT_GSI) {
		err = xa_insert_bh(&dev->qp_xa, 1, NULL, GFP_KERNEL);
		if (err)
			return err == -EBUSY ? -EEXIST : err;
		qpn = 1;
	} else {
		err = xa_alloc_cyclic_bh(&dev->qp_xa, &qpn, NULL,
				      XA_LIMIT(MIRROR_FIRST_QPN, MIRROR_MAX_QPN),
				      &dev->next_qpn, GFP_KERNEL);
		if (err < 0)
			return err == -EBUSY ? -ENOMEM : err;
	}
	qp->ibqp.qp_num = qpn;
	return 0;
}

/**
 * mirror_create_qp() - create an RC, UC, UD or GSI QP in RESET
 * @ibqp: the QP ib_core allocated
 * @init: type, CQs and caps; the caps are updated to what was granted
 * @udata: carries struct mirror_create_qp_resp for user QPs
 *
 * Return: 0 or a negative errno (-EINVAL for caps over the limits).
 */
int mirror_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		     struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibqp->device);
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	struct mirror_create_qp_resp resp = {};
	int err;

	switch (init->qp_type) {
	case IB_QPT_RC:
	case IB_QPT_UC:
	case IB_QPT_UD:
		break;
	case IB_QPT_GSI:
		if (udata)
			return -EINVAL;
		break;
	default:
		return -EOPNOTSUPP;
	}
	if (init->create_flags)
		return -EOPNOTSUPP;
	if (init->srq && init->qp_type == IB_QPT_GSI)
		return -EINVAL;
	if (udata && udata->outlen < sizeof(resp))
		return -EINVAL;
	err = mirror_qp_check_caps(init);
	if (err)
		return err;
	if (atomic_inc_return(&dev->num_qps) > MIRROR_MAX_QP) {
		atomic_dec(&dev->num_qps);
		return -ENOMEM;
	}

	kref_init(&qp->ref);
	init_completion(&qp->released);
	mutex_init(&qp->state_lock);
	spin_lock_init(&qp->sq_lock);
	spin_lock_init(&qp->rq_lock);
	mutex_init(&qp->req_lock);
	mutex_init(&qp->resp_lock);
	INIT_DELAYED_WORK(&qp->req_work, mirror_qp_req_work);
	mirror_wire_qp_init(qp);
	qp->state = MIRROR_QPS_RESET;
	qp->is_user = !!udata;
	qp->uid = atomic64_inc_return(&mirror_qp_uids);
	qp->sq_sig_all = init->sq_sig_type == IB_SIGNAL_ALL_WR;

	err = mirror_qp_init_rings(qp, init, udata);
	if (err)
		goto err_count;
	err = mirror_qp_alloc_state(qp);
	if (err)
		goto err_destroy_rings;
	err = mirror_qp_alloc_qpn(dev, qp);
	if (err)
		goto err_free_state;

	if (udata) {
		mirror_queue_info(&qp->sq, &resp.sq);
		mirror_queue_info(&qp->rq, &resp.rq);
		resp.max_inline_data = qp->max_inline;
		err = ib_copy_to_udata(udata, &resp, sizeof(resp));
		if (err)
			goto err_release_qpn;
	}
	qp->attr.cap = init->cap;

	/* Complete: publish. */
	xa_store_bh(&dev->qp_xa, ibqp->qp_num, qp, GFP_KERNEL);
	mirror_dbg_qp(qp, "created, type %d\n", init->qp_type);
	return 0;

err_release_qpn:
	xa_erase_bh(&dev->qp_xa, ibqp->qp_num);
err_free_state:
	mirror_qp_free_state(qp);
err_destroy_rings:
	mirror_queue_destroy(&qp->rq);
	mirror_queue_destroy(&qp->sq);
err_count:
	atomic_dec(&dev->num_qps);
	return err;
}

/*
 * INIT -> RTR of an RC/UC QP: is the peer on this device (short-circuit)
 * or behind the network (RoCEv2)? Also sets the responder's PSN.
 */
static int mirror_qp_route(struct mirror_qp *qp, struct ib_qp_attr *attr)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool conn = qp->ibqp.qp_type == IB_QPT_RC ||
		    qp->ibqp.qp_type == IB_QPT_UC;
	struct mirror_path path = {};
	bool wire = false;
	int err;

	if (conn) {
		wire = !mirror_gid_is_local(dev, &attr->ah_attr.grh.dgid);
		if (wire) {
			err = mirror_path_from_av(dev, &attr->ah_attr,
						  qp->ibqp.qp_num,
						  attr->dest_qp_num, &path);
			if (err == -EAFNOSUPPORT)
				return -EINVAL;	/* IPv4 source, IPv6 peer */
			if (err)
				return err;
		}
	}
	mirror_wire_qp_reset(qp);
	mutex_lock(&qp->req_lock);
	mutex_lock(&qp->resp_lock);
	qp->peer.wire = wire;
	qp->peer.path = path;
	/* No sender runs (both locks held): the old routes can go now. */
	dst_cache_reset_now(&qp->peer.routes);
	qp->resp.epsn = attr->rq_psn & MIRROR_PSN_MASK;
	if (conn) {
		/* ib_modify_qp_is_ok() has made sure RTR names the peer. */
		qp->peer.qpn = attr->dest_qp_num;
		qp->peer.gid = attr->ah_attr.grh.dgid;
		qp->peer.own_gid = attr->ah_attr.grh.sgid_attr->gid;
	}
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
	return 0;
}

/* Attribute checks beyond what ib_modify_qp_is_ok() knows. */
static int mirror_qp_check_attr(struct mirror_qp *qp, struct ib_qp_attr *attr,
				int mask)
{
	enum ib_qp_type type = qp->ibqp.qp_type;

	if ((mask & IB_QP_PORT) && attr->port_num != 1)
		return -EINVAL;
	if ((mask & IB_QP_PKEY_INDEX) && attr->pkey_index >= MIRROR_MAX_PKEYS)
		return -EINVAL;
	if ((mask & IB_QP_PATH_MTU) &&
	    (attr->path_mtu < IB_MTU_256 || attr->path_mtu > IB_MTU_4096))
		return -EINVAL;
	if ((mask & IB_QP_MAX_QP_RD_ATOMIC) &&
	    attr->max_rd_atomic > MIRROR_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_MAX_DEST_RD_ATOMIC) &&
	    attr->max_dest_rd_atomic > MIRROR_MAX_RD_ATOM)
		return -EINVAL;
	if ((mask & IB_QP_TIMEOUT) && attr->timeout > 31)
		return -EINVAL;
	if ((mask & IB_QP_RETRY_CNT) && attr->retry_cnt > 7)
		return -EINVAL;
	if ((mask & IB_QP_RNR_RETRY) && attr->rnr_retry > 7)
		return -EINVAL;
	if ((mask & IB_QP_MIN_RNR_TIMER) && attr->min_rnr_timer > 31)
		return -EINVAL;
	if ((mask & IB_QP_DEST_QPN) && attr->dest_qp_num > MIRROR_MAX_QPN)
		return -EINVAL;
	if (mask & IB_QP_AV) {
		/* RoCE addresses always carry a GRH with a resolved source GID. */
		if (attr->ah_attr.type != RDMA_AH_ATTR_TYPE_ROCE ||
		    !(rdma_ah_get_ah_flags(&attr->ah_attr) & IB_AH_GRH) ||
		    !attr->ah_attr.grh.sgid_attr)
			return -EINVAL;
		if (type != IB_QPT_RC && type != IB_QPT_UC)
			return -EINVAL;
	}
	if ((mask & IB_QP_ALT_PATH) || (mask & IB_QP_PATH_MIG_STATE))
		return -EOPNOTSUPP;
	return 0;
}

/* Copies the attributes named in @mask into the QP's own copy. */
static void mirror_qp_store_attr(struct mirror_qp *qp, struct ib_qp_attr *attr,
				 int mask)
{
	struct ib_qp_attr *a = &qp->attr;

	if (mask & IB_QP_PKEY_INDEX)
		a->pkey_index = attr->pkey_index;
	if (mask & IB_QP_PORT)
		a->port_num = attr->port_num;
	if (mask & IB_QP_QKEY)
		a->qkey = attr->qkey;
	if (mask & IB_QP_ACCESS_FLAGS)
		a->qp_access_flags = attr->qp_access_flags;
	if (mask & IB_QP_AV) {
		a->ah_attr = attr->ah_attr;
		/* ib_core owns that reference; the copy must not keep it. */
		a->ah_attr.grh.sgid_attr = NULL;
	}
	if (mask & IB_QP_PATH_MTU)
		a->path_mtu = attr->path_mtu;
	if (mask & IB_QP_TIMEOUT)
		a->timeout = attr->timeout;
	if (mask & IB_QP_RETRY_CNT)
		a->retry_cnt = attr->retry_cnt;
	if (mask & IB_QP_RNR_RETRY)
		a->rnr_retry = attr->rnr_retry;
	if (mask & IB_QP_RQ_PSN)
		a->rq_psn = attr->rq_psn & 0xffffff;
	if (mask & IB_QP_MAX_QP_RD_ATOMIC)
		a->max_rd_atomic = attr->max_rd_atomic;
	if (mask & IB_QP_MIN_RNR_TIMER)
		a->min_rnr_timer = attr->min_rnr_timer;
	if (mask & IB_QP_SQ_PSN)
		a->sq_psn = attr->sq_psn & 0xffffff;
	if (mask & IB_QP_MAX_DEST_RD_ATOMIC)
		a->max_dest_rd_atomic = attr->max_dest_rd_atomic;
	if (mask & IB_QP_DEST_QPN)
		a->dest_qp_num = attr->dest_qp_num;
}

/**
 * mirror_modify_qp() - move a QP through the verbs state machine
 * @ibqp: the QP
 * @attr: new attributes
 * @mask: which of @attr apply (IB_QP_*)
 * @udata: unused
 *
 * Return: 0, or -EINVAL for an illegal transition, a wrong attribute mask
 * or an out-of-range attribute (the QP is then unchanged).
 */
int mirror_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_udata *udata)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	enum ib_qp_state cur, next;
	int err;

	if (mask & ~IB_QP_ATTR_STANDARD_BITS)
		return -EOPNOTSUPP;

	mutex_lock(&qp->state_lock);
	cur = (enum ib_qp_state)qp->state;
	if ((mask & IB_QP_CUR_STATE) && attr->cur_qp_state != cur) {
		err = -EINVAL;
		goto out_unlock;
	}
	next = (mask & IB_QP_STATE) ? attr->qp_state : cur;
	if (!ib_modify_qp_is_ok(cur, next, ibqp->qp_type, mask)) {
		mirror_dbg_qp(qp, "refused %s -> %s, mask 0x%x\n",
			      mirror_qp_state_names[cur],
			      (unsigned int)next < MIRROR_QPS_COUNT ?
			      mirror_qp_state_names[next] : "?", mask);
		err = -EINVAL;
		goto out_unlock;
	}
	err = mirror_qp_check_attr(qp, attr, mask);
	if (err)
		goto out_unlock;
	if (cur == IB_QPS_INIT && next == IB_QPS_RTR) {
		err = mirror_qp_route(qp, attr);
		if (err)
			goto out_unlock;
	}

	mirror_qp_store_attr(qp, attr, mask);
	if (cur == IB_QPS_RTR && next == IB_QPS_RTS) {
		mutex_lock(&qp->req_lock);
		qp->req.psn = qp->attr.sq_psn;
		qp->req.retry_left = qp->attr.retry_cnt;
		qp->req.cwnd = MIRROR_WINDOW_PSNS;
		qp->req.ssthresh = MIRROR_WINDOW_PSNS;
		qp->req.cwnd_acc = 0;
		qp->req.rto_shift = 0;
		mutex_unlock(&qp->req_lock);
	}
	if (next != cur) {
		/* Pairs with the receive path: what RTR set is seen first. */
		smp_store_release(&qp->state, (enum mirror_qp_state)next);
		mirror_dbg_qp(qp, "%s -> %s\n", mirror_qp_state_names[cur],
			      mirror_qp_state_names[next]);
		if (next == IB_QPS_ERR) {
			mirror_qp_flush(qp);
			mirror_qp_last_wqe_event(qp);
		} else if (next == IB_QPS_RESET) {
			mirror_qp_reset_rings(qp);
			mirror_wire_qp_reset(qp);
		} else if (next == IB_QPS_RTS && qp->is_user)
			/* WQEs may have been posted before RTS. */
			queue_delayed_work(to_mirror_dev(ibqp->device)->wq,
					   &qp->req_work, 0);
	}
	err = 0;
out_unlock:
	mutex_unlock(&qp->state_lock);
	return err;
}

/**
 * mirror_query_qp() - report a QP's state and attributes
 * @ibqp: the QP
 * @attr: filled with the current attributes
 * @mask: what the caller wants (we fill everything)
 * @init: filled with the creation attributes
 *
 * Return: 0.
 */
int mirror_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		    struct ib_qp_init_attr *init)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);

	mutex_lock(&qp->state_lock);
	*attr = qp->attr;
	attr->qp_state = (enum ib_qp_state)qp->state;
	attr->cur_qp_state = attr->qp_state;
	/*
	 * The PSNs as they are now (the next to send, the next expected),
	 * not those the QP was connected with, as hardware reports them:
	 * `rdma resource show qp` and debugging tools print them. The
	 * requester and the responder move them under their own locks;
	 * a snapshot of each is all a caller can have anyway.
	 */
	if (qp->state >= MIRROR_QPS_RTR)
		attr->rq_psn = READ_ONCE(qp->resp.epsn);
	if (qp->state >= MIRROR_QPS_RTS)
		attr->sq_psn = READ_ONCE(qp->req.psn);
	attr->sq_draining = 0;
	attr->path_mig_state = IB_MIG_MIGRATED;
	mutex_unlock(&qp->state_lock);

	memset(init, 0, sizeof(*init));
	init->send_cq = ibqp->send_cq;
	init->recv_cq = ibqp->recv_cq;
	init->srq = ibqp->srq;
	init->qp_type = ibqp->qp_type;
	init->cap = attr->cap;
	init->sq_sig_type = qp->sq_sig_all ? IB_SIGNAL_ALL_WR : IB_SIGNAL_REQ_WR;
	return 0;
}

/**
 * mirror_destroy_qp() - destroy a QP
 * @ibqp: the QP
 * @udata: unused
 *
 * Unpublishes the QP, waits for RCU readers and for every reference
 * taken by a lookup, then for its work to finish, and frees its rings.
 *
 * Return: 0.
 */
int mirror_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibqp->device);
	struct mirror_qp *qp = to_mirror_qp(ibqp);

	/*
	 * Lookups take their reference under the xarray's lock, so after the
	 * erase none can start, and we wait for those already taken.
	 */
	xa_erase_bh(&dev->qp_xa, ibqp->qp_num);
	mirror_qp_put(qp);
	wait_for_completion(&qp->released);

	/* No lookup can find it now; stop its requester for good. */
	mutex_lock(&qp->state_lock);
	WRITE_ONCE(qp->state, MIRROR_QPS_ERR);
	mutex_unlock(&qp->state_lock);
	/*
	 * The timer queues req_work and rx_work may queue it too: stop the
	 * timer for good, then rx_work (nothing queues it any more: the
	 * receive path holds a reference while it queues), then req_work.
	 * The RNR timer, armed only by the requester and the completer (the
	 * two works, and a doorbell: none runs any more), then stays off
	 * once cancelled; what it queued as it fired is cancelled after it.
	 */
	timer_shutdown_sync(&qp->req.retrans_timer);
	cancel_work_sync(&qp->rx.work);
	cancel_delayed_work_sync(&qp->req_work);
	hrtimer_cancel(&qp->req.rnr_timer);
	cancel_delayed_work_sync(&qp->req_work);
	mirror_rx_purge(qp);
	mirror_req_forget_faults(qp);
	mirror_segs_put(&qp->req.local);
	mirror_segs_put(&qp->req.remote);
	mirror_segs_put(&qp->resp.segs);

	mirror_queue_destroy(&qp->rq);
	mirror_queue_destroy(&qp->sq);
	mirror_qp_free_state(qp);
	atomic_dec(&dev->num_qps);
	mutex_destroy(&qp->resp_lock);
	mutex_destroy(&qp->req_lock);
	mutex_destroy(&qp->state_lock);
	return 0;
}

/* Writes one kernel send WR into the SQ ring; sq_lock is held. */
static int mirror_post_one_send(struct mirror_qp *qp,
				const struct ib_send_wr *wr)
{
	struct mirror_queue *q = &qp->sq;
	struct mirror_send_wqe *wqe;
	u32 prod = q->hdr->producer;

	lockdep_assert_held(&qp->sq_lock);
	/* Pairs with the requester's release of the consumer index. */
	if (prod - smp_load_acquire(&q->hdr->consumer) >= q->num_slots)
		return -ENOMEM;
	if (wr->num_sge < 0 || wr->num_sge > qp->attr.cap.max_send_sge)
		return -EINVAL;
	if (wr->send_flags & IB_SEND_INLINE)
		return -EINVAL;	/* kernel consumers pass SGEs */
	if (wr->opcode == IB_WR_BIND_MW ||
	    wr->opcode == MIRROR_WR_ATOMIC_WRITE ||
	    wr->opcode == MIRROR_WR_FLUSH)
		return -EINVAL;	/* no such WRs for kernel consumers */

	wqe = mirror_queue_slot(q, prod);
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->send_flags = wr->send_flags;
	wqe->imm_data = (__force u32)wr->ex.imm_data;
	wqe->num_sge = wr->num_sge;
	switch (qp->ibqp.qp_type) {
	case IB_QPT_UD:
	case IB_QPT_GSI:
		if (!ud_wr(wr)->ah)
			return -EINVAL;
		wqe->wr.ud.ah_num = to_mirror_ah(ud_wr(wr)->ah)->ah_num;
		wqe->wr.ud.remote_qpn = ud_wr(wr)->remote_qpn;
		wqe->wr.ud.remote_qkey = ud_wr(wr)->remote_qkey;
		break;
	default:
		if (wr->opcode == IB_WR_RDMA_WRITE ||
		    wr->opcode == IB_WR_RDMA_WRITE_WITH_IMM ||
		    wr->opcode == IB_WR_RDMA_READ) {
			wqe->wr.rdma.remote_addr = rdma_wr(wr)->remote_addr;
			wqe->wr.rdma.rkey = rdma_wr(wr)->rkey;
		} else if (wr->opcode == IB_WR_ATOMIC_CMP_AND_SWP ||
			   wr->opcode == IB_WR_ATOMIC_FETCH_AND_ADD) {
			wqe->wr.atomic.remote_addr = atomic_wr(wr)->remote_addr;
			wqe->wr.atomic.compare_add = atomic_wr(wr)->compare_add;
			wqe->wr.atomic.swap = atomic_wr(wr)->swap;
			wqe->wr.atomic.rkey = atomic_wr(wr)->rkey;
		} else if (wr->opcode == IB_WR_REG_MR) {
			struct mirror_reg_wr reg = {
				.handle = reg_wr(wr)->mr->lkey >> 8,
				.key = reg_wr(wr)->key,
				.access = reg_wr(wr)->access,
			};

			memcpy(wqe->wr.raw, &reg, sizeof(reg));
		}
		break;
	}
	mirror_sges_from_ib((struct mirror_sge *)(wqe + 1), wr->sg_list,
			    wr->num_sge);
	/* The slot is written before the requester sees it (its acquire). */
	smp_store_release(&q->hdr->producer, prod + 1);
	return 0;
}

/**
 * mirror_post_send() - post send WRs (kernel) or ring the doorbell (user)
 * @ibqp: the QP
 * @wr: chain of WRs; NULL from a user QP is the doorbell
 * @bad_wr: set to the first WR not posted
 *
 * Return: 0 or a negative errno.
 */
int mirror_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		     const struct ib_send_wr **bad_wr)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	unsigned long flags;
	int err = 0;

	if (qp->is_user) {
		if (wr) {
			*bad_wr = wr;
			return -EINVAL;
		}
		/*
		 * The doorbell is a system call, so process context: run the
		 * requester right here, unless its work item is due or an
		 * RNR wait runs: the work item then keeps the pace.
		 */
		if (!delayed_work_pending(&qp->req_work) &&
		    !mirror_qp_rnr_waiting(qp))
			mirror_qp_requester(qp);
		return 0;
	}

	if (READ_ONCE(qp->state) < MIRROR_QPS_RTS) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->sq_lock, flags);
	for (; wr; wr = wr->next) {
		err = mirror_post_one_send(qp, wr);
		if (err) {
			*bad_wr = wr;
			break;
		}
	}
	spin_unlock_irqrestore(&qp->sq_lock, flags);
	/*
	 * Kernel consumers may post in atomic context: run the requester
	 * from the work item. In ERR it flushes what was just posted.
	 */
	queue_delayed_work(to_mirror_dev(ibqp->device)->wq, &qp->req_work, 0);
	return err;
}

/**
 * mirror_post_recv() - post receive WRs from a kernel consumer
 * @ibqp: the QP
 * @wr: chain of WRs
 * @bad_wr: set to the first WR not posted
 *
 * User QPs post receives into their shared ring without a system call.
 *
 * Return: 0 or a negative errno.
 */
int mirror_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		     const struct ib_recv_wr **bad_wr)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	struct mirror_queue *q = &qp->rq;
	unsigned long flags;
	int err = 0;

	if (qp->is_user || !q->buf || READ_ONCE(qp->state) == MIRROR_QPS_RESET) {
		*bad_wr = wr;
		return -EINVAL;
	}
	spin_lock_irqsave(&qp->rq_lock, flags);
	for (; wr; wr = wr->next) {
		err = mirror_queue_post_recv(q, wr, qp->attr.cap.max_recv_sge);
		if (err) {
			*bad_wr = wr;
			break;
		}
	}
	spin_unlock_irqrestore(&qp->rq_lock, flags);
	/* Receives posted in ERR are flushed (ib_drain_rq() waits for it). */
	if (READ_ONCE(qp->state) == MIRROR_QPS_ERR)
		queue_delayed_work(to_mirror_dev(ibqp->device)->wq,
				   &qp->req_work, 0);
	return err;
}
