// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_comp.c - the completer of RoCEv2 RC: ACKs, NAKs, READ responses
 * and atomic ACKs from the QP's response queue become WQEs marked done,
 * then completions reported strictly in SQ order. A gap (a lost request or
 * response) or a PSN sequence NAK rewinds the requester's send pointer; an
 * RNR NAK rewinds it and parks the requester for the RNR time; the
 * retransmission timer rewinds to the oldest WQE, retry_cnt times. The
 * state of each WQE is in its SQ slot (mirror_sq.c). See docs/design.md,
 * "The completer". Everything here runs under the QP's req_lock.
 */
#include "mirror.h"

/* Floor of the retransmission timeout: an emulated host is slow. */
#define MIRROR_MIN_RTO_MS	50

/**
 * mirror_comp_arm_timer() - (re)start the retransmission timer
 * @qp: the QP (req_lock held)
 *
 * The timeout of the QP's attributes (4.096 us * 2^timeout), never less
 * than MIRROR_MIN_RTO_MS, doubled @qp->req.rto_shift times (after
 * timeouts); timeout 0 waits forever.
 */
void mirror_comp_arm_timer(struct mirror_qp *qp)
{
	u8 timeout = qp->attr.timeout;
	u64 ms;

	if (!timeout)	/* 0: wait forever */
		return;
	ms = div_u64(4096ULL << min_t(u8, timeout, 31), 1000000);
	ms = max_t(u64, ms, MIRROR_MIN_RTO_MS) << qp->req.rto_shift;
	mod_timer(&qp->req.retrans_timer, jiffies + msecs_to_jiffies(ms));
}

/**
 * mirror_comp_report() - report the done WQEs at the head of the SQ
 * @qp: the QP (req_lock held)
 * @qp_err: set when a WQE failed: the QP then enters ERR (the caller
 *	records it) and the rest is flushed
 *
 * In SQ order, from the kernel's copies; a WQE not done stops the walk.
 */
void mirror_comp_report(struct mirror_qp *qp, bool *qp_err)
{
	while (qp->req.sq_cons != qp->req.sq_next) {
		struct mirror_sq_meta *m = mirror_sq_meta_of(qp, qp->req.sq_cons);
		struct mirror_send_wqe *w = mirror_sq_wqe(qp, qp->req.sq_cons);
		struct mirror_cqe cqe = {};
		bool signaled;

		if (!m->done)
			break;
		signaled = m->status != IB_WC_SUCCESS || qp->sq_sig_all ||
			   (w->send_flags & IB_SEND_SIGNALED);
		if (signaled) {
			cqe.wr_id = w->wr_id;
			cqe.status = m->status;
			cqe.opcode = mirror_wc_opcode(w->opcode);
			cqe.byte_len = m->byte_len;
			cqe.qp_num = qp->ibqp.qp_num;
		}
		/* Its slot is free before its completion says it is done. */
		mirror_sq_consume(qp);
		if (signaled)
			mirror_complete(qp, false, &cqe, false);
		if (m->status != IB_WC_SUCCESS) {
			*qp_err = true;
			break;
		}
	}
	if (qp->req.sq_cons == qp->req.sq_next)
		del_timer(&qp->req.retrans_timer);
}

/**
 * mirror_nak_status() - the completion status of a NAK
 * @code: the NAK code (enum mirror_nak_code) of an AETH
 *
 * Return: the status the requester's WQE completes with.
 */
enum ib_wc_status mirror_nak_status(u8 code)
{
	switch (code) {
	case MIRROR_NAK_INVALID_REQ:
		return IB_WC_REM_INV_REQ_ERR;
	case MIRROR_NAK_REM_ACCESS:
		return IB_WC_REM_ACCESS_ERR;
	default:
		return IB_WC_REM_OP_ERR;
	}
}

/*
 * What @m has before @psn (one of its PSNs) is known to have arrived (the
 * packets of a SEND or WRITE, the responses of a READ): a resend starts
 * at @psn (mirror_send_wqe()).
 */
static void mirror_comp_arrived(struct mirror_sq_meta *m, u32 psn)
{
	if (mirror_psn_cmp(psn, m->next_resp) > 0)
		m->next_resp = psn;
	/*
	 * An answer to an earlier sending that went further than this one
	 * (sent again in part after a timeout): what arrived need not go.
	 */
	if (mirror_psn_cmp(psn, m->next_send) > 0)
		m->next_send = psn;
}

/*
 * A READ response at the PSN expected for WQE @idx: its payload lands in
 * the part of the WQE's buffers it answers, looked up for this packet.
 * A READ may be asked for in parts (the window), so a LAST response may
 * end a part: it is then a full one; the one that ends the READ is a
 * LAST or ONLY.
 */
static void mirror_comp_read_resp(struct mirror_qp *qp, u32 idx,
				struct mirror_sq_meta *m,
				const struct mirror_pkt *p)
{
	struct mirror_send_wqe *wqe = mirror_sq_wqe(qp, idx);
	bool last = p->op == MIRROR_OP_READ_RESP_LAST ||
		    p->op == MIRROR_OP_READ_RESP_ONLY;
	u32 mtu = mirror_qp_mtu(qp);
	bool end;
	u64 off;

	off = (u64)((p->psn - m->first_psn) & MIRROR_PSN_MASK) * mtu;
	end = off + p->paylen == m->len;
	if ((!end && p->paylen != mtu) || off + p->paylen > m->len ||
	    (end && !last)) {
		mirror_sq_done(qp, m, IB_WC_BAD_RESP_ERR, 0);
		return;
	}
	if (p->paylen &&
	    (mirror_sq_segs(qp, wqe, &qp->req.local, off, p->paylen,
			     IB_ACCESS_LOCAL_WRITE) ||
	     mirror_segs_xfer(&qp->req.local, 0, p->payload, p->paylen,
			      true))) {
		/* The READ's buffers went away (or their key) meanwhile. */
		mirror_segs_put(&qp->req.local);
		mirror_sq_done(qp, m, IB_WC_LOC_PROT_ERR, 0);
		return;
	}
	mirror_segs_put(&qp->req.local);
	/* Answers to a longer request of an earlier sending count too. */
	mirror_comp_arrived(m, mirror_psn_add(m->next_resp, 1));
	m->asked = false;	/* a later gap is a new one */
	if (end)
		mirror_sq_done(qp, m, IB_WC_SUCCESS, m->len);
}

static void mirror_comp_atomic_ack(struct mirror_qp *qp, u32 idx,
				 struct mirror_sq_meta *m, u64 orig)
{
	struct mirror_send_wqe *wqe = mirror_sq_wqe(qp, idx);
	enum ib_wc_status status = IB_WC_SUCCESS;

	if (mirror_sq_segs(qp, wqe, &qp->req.local, 0, sizeof(orig),
			    IB_ACCESS_LOCAL_WRITE) ||
	    mirror_segs_xfer(&qp->req.local, 0, &orig, sizeof(orig), true))
		status = IB_WC_LOC_PROT_ERR;
	mirror_segs_put(&qp->req.local);
	mirror_sq_done(qp, m, status, status ? 0 : sizeof(orig));
}

/*
 * An ATOMIC WRITE or a FLUSH is answered by an RDMA READ response without
 * payload (the IBA's memory placement extensions; rdma_rxe sends it so,
 * and so do we), or by an ACK like a WRITE: either says it is done.
 * Returns true when @p is such an answer to WQE @idx and finished it.
 */
static bool mirror_comp_placed(struct mirror_qp *qp, u32 idx,
			       struct mirror_sq_meta *m,
			       const struct mirror_pkt *p, u8 kind)
{
	u32 opcode = mirror_sq_wqe(qp, idx)->opcode;

	if ((opcode != MIRROR_WR_ATOMIC_WRITE && opcode != MIRROR_WR_FLUSH) ||
	    p->op != MIRROR_OP_READ_RESP_ONLY || p->paylen ||
	    kind != MIRROR_AETH_ACK || p->psn != m->last_psn)
		return false;
	mirror_sq_done(qp, m, IB_WC_SUCCESS, 0);
	return true;
}

/*
 * The first PSN of the SQ not known to have arrived (or, for a READ, whose
 * response has not): the oldest WQE not done, up to @qp->req.sq_next.
 */
static u32 mirror_comp_unacked(struct mirror_qp *qp)
{
	u32 i;

	for (i = qp->req.sq_cons; i != qp->req.sq_next; i++) {
		struct mirror_sq_meta *m = mirror_sq_meta_of(qp, i);

		if (!m->done)
			return m->next_resp;
	}
	return qp->req.psn;
}

/*
 * Whether the WQE @k slots after the oldest can take an answer: it is in
 * flight (@inflight of them are), or it was sent and rewound and has not
 * gone again (those follow the ones in flight: mirror_sq_rewind()); it
 * keeps its PSNs, so the answer to its first sending is still its own.
 */
static bool mirror_comp_answerable(struct mirror_qp *qp, u32 k, u32 inflight)
{
	u32 i = qp->req.sq_cons + k;

	if (k < inflight)
		return true;
	return k < qp->req.sq_fetched - qp->req.sq_cons &&
	       mirror_sq_meta_of(qp, i)->resend;
}

/**
 * mirror_comp_rx() - an ACK, NAK or response for the requester of a QP
 * @qp: the RC QP (req_lock held)
 * @p: the packet, accepted from the QP's peer
 *
 * Finds the WQE the PSN belongs to (the ones before it are acknowledged by
 * it): one in flight, or one rewound that has not gone again (a timeout
 * rewinds everything while a slow peer may still be answering all of it),
 * finishes it or asks for a rewind; on progress the retry counters start
 * over, the window grows by the PSNs answered and the timer is re-armed.
 */
void mirror_comp_rx(struct mirror_qp *qp,
				    const struct mirror_pkt *p)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u8 syn = p->has_aeth ? p->aeth >> 24 : MIRROR_AETH_ACK;
	u8 kind = syn & MIRROR_AETH_KIND_MASK;
	u32 inflight = qp->req.sq_next - qp->req.sq_cons, k, i = qp->req.sq_cons;
	struct mirror_sq_meta *m = NULL;
	bool progress = false, rewound = false;
	u32 unacked, answered;

	lockdep_assert_held(&qp->req_lock);
	if (qp->ibqp.qp_type != IB_QPT_RC ||
	    WARN_ON_ONCE(inflight > qp->sq.num_slots ||
			 qp->req.sq_fetched - qp->req.sq_cons >
			 qp->sq.num_slots))
		return;
	unacked = mirror_comp_unacked(qp);
	/* Find the WQE the PSN belongs to; the ones before it are acked. */
	for (k = 0; mirror_comp_answerable(qp, k, inflight); k++) {
		i = qp->req.sq_cons + k;
		m = mirror_sq_meta_of(qp, i);
		rewound = k >= inflight;
		if (m->done)
			continue;
		if (mirror_psn_cmp(p->psn, m->first_psn) < 0)
			goto out;	/* older than everything unanswered */
		if (mirror_psn_cmp(p->psn, m->last_psn) <= 0)
			break;
		if (m->kind != MIRROR_KIND_SEND) {
			/*
			 * Past a READ/atomic: the peer took it and answers
			 * the next ones, its answers were lost. Ask again
			 * for them (a rewound one goes again anyway) and
			 * take this packet for what it answers.
			 */
			if (!rewound)
				mirror_sq_ask_again(qp, i);
			continue;
		}
		mirror_sq_done(qp, m, IB_WC_SUCCESS, 0);
		progress = true;
	}
	if (!mirror_comp_answerable(qp, k, inflight))
		goto out;

	switch (p->op) {
	case MIRROR_OP_ACK:
		if (kind == MIRROR_AETH_ACK) {
			/* Inside a long message too: the peer is alive. */
			progress = true;
			if (m->kind != MIRROR_KIND_SEND)
				break;
			if (p->psn == m->last_psn)
				mirror_sq_done(qp, m, IB_WC_SUCCESS, 0);
			else
				mirror_comp_arrived(m, mirror_psn_add(p->psn, 1));
		} else if (kind == MIRROR_AETH_RNR_NAK) {
			mirror_count(dev, MIRROR_CNT_RNR_NAK_RCVD);
			if (rewound)	/* it goes again anyway */
				break;
			if (qp->req.rnr_left == MIRROR_RNR_NOT_STARTED)
				qp->req.rnr_left = qp->attr.rnr_retry;
			if (qp->attr.rnr_retry != 7) {	/* 7: forever */
				if (!qp->req.rnr_left) {
					mirror_sq_done(qp, m,
							 IB_WC_RNR_RETRY_EXC_ERR, 0);
					goto out;
				}
				qp->req.rnr_left--;
			}
			mirror_sq_receiver_full(qp);
			mirror_sq_rewind(qp, i);
			qp->req.rnr_wait = true;
			del_timer(&qp->req.retrans_timer);
			mirror_qp_rnr_wait(qp, syn);
			return;
		} else if (kind == MIRROR_AETH_NAK &&
			   (syn & MIRROR_AETH_DETAIL_MASK) ==
			   MIRROR_NAK_PSN_SEQ) {
			mirror_count(dev, MIRROR_CNT_SEQ_NAK_RCVD);
			/* The peer has every PSN before the one it names. */
			if (m->kind == MIRROR_KIND_SEND)
				mirror_comp_arrived(m, p->psn);
			/*
			 * A rewound WQE goes again anyway, and the NAK may
			 * answer a packet that followed the RNR NAK's: no
			 * progress (that would restart the RNR retries).
			 */
			if (rewound)
				break;
			mirror_sq_congestion(qp, false);
			mirror_sq_rewind(qp, i);
			progress = true;
		} else if (kind == MIRROR_AETH_NAK) {
			mirror_count(dev, MIRROR_CNT_NAK_RCVD);
			mirror_sq_done(qp, m,
					 mirror_nak_status(syn &
							   MIRROR_AETH_DETAIL_MASK),
					 0);
		}
		break;
	case MIRROR_OP_ATOMIC_ACK:
		if (m->kind == MIRROR_KIND_ATOMIC && p->psn == m->first_psn) {
			mirror_comp_atomic_ack(qp, i, m, p->orig);
			progress = true;
		}
		break;
	default:	/* READ responses */
		if (m->kind == MIRROR_KIND_SEND &&
		    mirror_comp_placed(qp, i, m, p, kind)) {
			progress = true;
			break;
		}
		if (m->kind != MIRROR_KIND_READ)
			break;
		if (p->psn != m->next_resp) {
			/* A gap: ask for the READ again. */
			if (mirror_psn_cmp(p->psn, m->next_resp) > 0 &&
			    !rewound)
				mirror_sq_ask_again(qp, i);
			break;
		}
		mirror_comp_read_resp(qp, i, m, p);
		progress = true;
		break;
	}
out:
	if (progress) {
		qp->req.retry_left = qp->attr.retry_cnt;
		qp->req.rnr_left = MIRROR_RNR_NOT_STARTED;
		/*
		 * The window grows with what was answered: doubling per round
		 * trip after a timeout (a faster growth sent a slow peer the
		 * duplicates of a whole window again before it had answered
		 * the first copies), slowly past half the window a loss found.
		 * A peer that took longer than the timeout keeps some of the
		 * longer one: it comes down one step per progress.
		 */
		answered = (mirror_comp_unacked(qp) - unacked) & MIRROR_PSN_MASK;
		if (answered >= MIRROR_WINDOW_PSNS)	/* rewound behind */
			answered = 0;
		mirror_sq_window_grow(qp, max(answered, 1U));
		if (qp->req.rto_shift)
			qp->req.rto_shift--;
		if (qp->req.sq_cons != qp->req.sq_next)
			mirror_comp_arm_timer(qp);
	}
}

/**
 * mirror_qp_rnr_wait() - retry after the wait an RNR NAK asks for
 * @qp: the QP (req_lock held)
 * @timer: the 5-bit RNR timer code: the NAK's, or on the same device the
 *	destination QP's min_rnr_timer
 *
 * req_work runs the requester again when the wait is over (and ends the
 * wire's @qp->req.rnr_wait); a run already queued is put off until then,
 * and until then neither a doorbell nor req_work runs the requester of a
 * QP in RTS (mirror_qp_rnr_waiting()). An hrtimer, not a delayed work's
 * timer: the codes ask for 10 us to 655 ms, the usual one (12:
 * perftest's, rdma_cm's) for 0.64 ms, which a jiffy timer made at least
 * a tick (4 ms at HZ=250) on every RNR NAK.
 */
void mirror_qp_rnr_wait(struct mirror_qp *qp, u8 timer)
{
	lockdep_assert_held(&qp->req_lock);
	cancel_delayed_work(&qp->req_work);
	hrtimer_start(&qp->req.rnr_timer,
		      ns_to_ktime((u64)mirror_rnr_usecs(timer) * NSEC_PER_USEC),
		      HRTIMER_MODE_REL);
}

/**
 * mirror_qp_rnr_waiting() - does the requester wait out an RNR NAK?
 * @qp: the QP
 *
 * Only in RTS: a QP that left it (ERR flushes) does not wait.
 *
 * Return: true while the RNR timer is armed.
 */
bool mirror_qp_rnr_waiting(struct mirror_qp *qp)
{
	return READ_ONCE(qp->state) == MIRROR_QPS_RTS &&
	       hrtimer_is_queued(&qp->req.rnr_timer);
}

/**
 * mirror_qp_rnr_timer() - an RNR wait is over
 * @t: the QP's rnr_timer
 *
 * Return: HRTIMER_NORESTART.
 */
enum hrtimer_restart mirror_qp_rnr_timer(struct hrtimer *t)
{
	struct mirror_qp *qp = container_of(t, struct mirror_qp,
					    req.rnr_timer);

	mod_delayed_work(to_mirror_dev(qp->ibqp.device)->wq, &qp->req_work,
			 0);
	return HRTIMER_NORESTART;
}

/**
 * mirror_qp_retrans_timer() - the retransmission timer fired
 * @t: the QP's retrans_timer
 */
void mirror_qp_retrans_timer(struct timer_list *t)
{
	struct mirror_qp *qp = from_timer(qp, t, req.retrans_timer);

	set_bit(0, &qp->req.retrans_due);
	queue_delayed_work(to_mirror_dev(qp->ibqp.device)->wq, &qp->req_work,
			   0);
}
