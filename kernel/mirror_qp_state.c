// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_qp_state.c - what every engine needs of a QP beyond its own role:
 * finding it by number with a reference, and its move to ERR with the
 * flush of everything posted. The verbs (create, modify, destroy) are
 * mirror_qp.c's and sit above the engines; these sit below them, so the
 * requester, the completer, the responder and the receive path can use
 * them without depending on the verbs layer.
 *
 * Locks: the QP table is dev->qp_xa, whose lock is taken with BH off (the
 * UDP receive path looks QPs up in softirq). An ERR transition holds
 * qp->state_lock, then req_lock, then resp_lock, the order of every path.
 */
#include "mirror.h"

static void mirror_qp_release(struct kref *ref)
{
	complete(&container_of(ref, struct mirror_qp, ref)->released);
}

/**
 * mirror_qp_get() - find a QP by number and take a reference
 * @dev: the device
 * @qpn: QP number
 *
 * Return: the QP, to be released with mirror_qp_put(), or NULL.
 */
struct mirror_qp *mirror_qp_get(struct mirror_dev *dev, u32 qpn)
{
	struct mirror_qp *qp;

	/*
	 * Under the xarray's lock: destroy erases the QP under the same
	 * lock before it drops the initial reference, so a QP found here
	 * is alive and stays so once we hold a reference. (BH lock: the
	 * UDP receive path looks QPs up in softirq.)
	 */
	xa_lock_bh(&dev->qp_xa);
	qp = xa_load(&dev->qp_xa, qpn);
	if (qp && !kref_get_unless_zero(&qp->ref))
		qp = NULL;
	xa_unlock_bh(&dev->qp_xa);
	return qp;
}

/**
 * mirror_qp_put() - drop a reference taken by mirror_qp_get()
 * @qp: the QP
 */
void mirror_qp_put(struct mirror_qp *qp)
{
	kref_put(&qp->ref, mirror_qp_release);
}

/**
 * mirror_qp_last_wqe_event() - tell the owner of an SRQ QP it is done
 * @qp: a QP that has just entered ERR (state_lock held)
 *
 * A QP on an SRQ takes no receive once in ERR; IB_EVENT_QP_LAST_WQE_REACHED
 * says so, so that its owner may destroy it (IBA 10.3.1, 11.6.3).
 */
void mirror_qp_last_wqe_event(struct mirror_qp *qp)
{
	struct ib_event ev = {
		.device = qp->ibqp.device,
		.element.qp = &qp->ibqp,
		.event = IB_EVENT_QP_LAST_WQE_REACHED,
	};

	lockdep_assert_held(&qp->state_lock);
	if (qp->ibqp.srq && qp->ibqp.event_handler)
		qp->ibqp.event_handler(&ev, qp->ibqp.qp_context);
}

/**
 * mirror_qp_err_due() - record that @qp must enter ERR
 * @qp: the QP; its req_lock or resp_lock held (where the error was found)
 *
 * mirror_qp_enter_err() applies it once the locks are dropped.
 */
void mirror_qp_err_due(struct mirror_qp *qp)
{
	set_bit(0, &qp->err_due);
}

/**
 * mirror_qp_enter_err() - move a QP to ERR (flushing it), as recorded by
 *	mirror_qp_err_due()
 * @qp: the QP; none of its locks held
 *
 * Nothing happens when the QP is in ERR already, or when it was reset
 * since the error was found: that error belonged to a connection the
 * user has ended, and the reconnected QP must not inherit it.
 */
void mirror_qp_enter_err(struct mirror_qp *qp)
{
	mutex_lock(&qp->state_lock);
	if (test_and_clear_bit(0, &qp->err_due) &&
	    qp->state != MIRROR_QPS_ERR) {
		WRITE_ONCE(qp->state, MIRROR_QPS_ERR);
		mirror_qp_flush(qp);
		mirror_qp_last_wqe_event(qp);
	}
	mutex_unlock(&qp->state_lock);
}

/*
 * Completes every WQE the requester has not completed with WR_FLUSH_ERR:
 * those it has a copy of, then those still in the ring (each read once,
 * into the copy). A ring whose producer claims more than num_slots
 * entries is flushed for num_slots.
 */
static void mirror_flush_sq(struct mirror_qp *qp)
{
	struct mirror_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.qp_num = qp->ibqp.qp_num,
	};
	u32 n;

	if (mirror_queue_avail(&qp->sq, qp->req.sq_cons, &n))
		n = qp->sq.num_slots;
	n = max(n, qp->req.sq_fetched - qp->req.sq_cons);
	while (n--) {
		struct mirror_send_wqe *w = mirror_sq_fetch(qp, qp->req.sq_cons);

		cqe.wr_id = w->wr_id;
		cqe.opcode = mirror_wc_opcode(w->opcode);
		mirror_sq_consume(qp);
		mirror_complete(qp, false, &cqe, false);
	}
	qp->req.sq_next = qp->req.sq_cons;	/* nothing in flight any more */
}

/* The same for the receives: the one held for a message, then the RQ. */
static void mirror_flush_rq(struct mirror_qp *qp)
{
	struct mirror_queue *q = &qp->rq;
	struct mirror_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = MIRROR_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
	};
	struct mirror_recv_wqe wqe;
	u32 n;

	if (qp->resp.have_recv)
		mirror_resp_recv_error(qp, IB_WC_WR_FLUSH_ERR, 0);
	qp->resp.msg = MIRROR_RESP_IDLE;
	if (!q->buf)
		return;
	if (mirror_queue_avail(q, qp->resp.rq_cons, &n))
		n = q->num_slots;
	while (n--) {
		memcpy(&wqe, mirror_queue_slot(q, qp->resp.rq_cons), sizeof(wqe));
		cqe.wr_id = wqe.wr_id;
		mirror_complete(qp, true, &cqe, false);
		qp->resp.rq_cons++;
	}
	mirror_queue_consumed(q, qp->resp.rq_cons);
}

/**
 * mirror_qp_flush() - complete all outstanding WQEs with WR_FLUSH_ERR
 * @qp: a QP that has just entered ERR (state_lock held)
 */
void mirror_qp_flush(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->state_lock);
	mutex_lock(&qp->req_lock);
	if (qp->sq.buf)
		mirror_flush_sq(qp);
	del_timer(&qp->req.retrans_timer);
	mutex_lock(&qp->resp_lock);
	mirror_flush_rq(qp);
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}
