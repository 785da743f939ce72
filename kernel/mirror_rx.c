// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_rx.c - what arrives over RoCEv2 for a QP: rx_work hands the
 * queued responses to the completer (mirror_comp.c) and the requests to
 * the responder: its RoCEv2 side is here (PSN sequence, duplicates, ACKs,
 * READ responses), what it decides is mirror_resp.c's, shared with the
 * same-device path.
 *
 * Everything here runs in process context, from the QP's rx_work, which
 * drains the packets the UDP receive path queued (mirror_net.c; it has
 * checked that they come from the QP's peer, and rx_work checks again
 * under the lock that makes the peer stable).
 *
 * Responder (RC): expected PSN epsn; ACKs are coalesced per rx_work batch
 * (one for the newest PSN that asked). A packet beyond it gets one PSN
 * sequence NAK; one before it is a duplicate (re-ACKed, or answered from
 * the responder resources: READs resent, atomics never run twice); one at
 * it is executed:
 *
 *   IDLE --SEND_FIRST--> SEND --SEND_MIDDLE--> SEND --SEND_LAST--> IDLE
 *   IDLE --WRITE_FIRST-> WRITE -...-> IDLE;  ONLY packets stay in IDLE
 *   IDLE --READ_REQUEST--> (responses stream, a burst per rx_work run;
 *                           requests wait in their queue meanwhile) IDLE
 *
 * The receive a SEND fills and the target of a WRITE are kept as a kernel
 * copy of the receive's SGEs, and as key, address and length: each packet
 * looks its MRs up again, so dereg never waits for a peer that stopped in
 * the middle of a message.
 *
 * Packets are laid out by the codec (mirror_pkt.c) and sent and received
 * by mirror_net.c.
 *
 * Locks: req_lock covers the requester and the completer, resp_lock the
 * responder (lock order state_lock -> req_lock -> resp_lock).
 */
#include <linux/ip.h>
#include <net/ipv6.h>

#include "mirror.h"

/* Packets the rx work handles before it yields. */
#define MIRROR_RX_BUDGET	64
/* READ responses sent per rx_work run before other work gets a turn. */
#define MIRROR_READ_BURST	64

static void mirror_send_answer(struct mirror_qp *qp, u8 op, u32 psn,
			       u8 syndrome, u64 orig);

/* Sends an ACK, RNR NAK or NAK for @psn from the responder. */
static void mirror_send_ack(struct mirror_qp *qp, u32 psn, u8 syndrome)
{
	mirror_send_answer(qp, MIRROR_OP_ACK, psn, syndrome, 0);
}

/*
 * ACK coalescing: the ACK that packets asked for (AckReq) is held while
 * rx_work drains its queue and sent once, for the newest PSN, before any
 * other packet of the responder and when the batch ends.
 */
static void mirror_flush_ack(struct mirror_qp *qp)
{
	if (!qp->resp.ack_pending)
		return;
	qp->resp.ack_pending = false;
	mirror_send_ack(qp, qp->resp.ack_psn,
			MIRROR_AETH_ACK | MIRROR_AETH_NO_CREDITS);
}

/*
 * Sends one of the responder's answers for @psn with an AETH of @syndrome:
 * an ACK, RNR NAK or NAK; an ATOMIC ACKNOWLEDGE carrying @orig; or the
 * empty READ RESPONSE ONLY that answers an ATOMIC WRITE or a FLUSH. The
 * ACK held back goes first, which keeps the responder's packets in order.
 */
static void mirror_send_answer(struct mirror_qp *qp, u8 op, u32 psn,
			       u8 syndrome, u64 orig)
{
	struct mirror_pkt t = {
		.opcode = MIRROR_TR_RC | op,
		.dqpn = qp->peer.qpn,
		.psn = psn,
		.aeth = mirror_aeth_value(syndrome, qp->resp.msn),
		.orig = orig,
	};

	mirror_flush_ack(qp);
	mirror_qp_pkt_send(qp, &t);
}

/* ---------------------------------------------------------------------- */
/* Responder */

/* The next resource, the oldest one's place. */
static struct mirror_rd_res *mirror_res_next(struct mirror_qp *qp)
{
	u32 n = mirror_resp_res_count(qp);
	struct mirror_rd_res *r = &qp->resp.res[qp->resp.res_head % n];

	qp->resp.res_head = (qp->resp.res_head + 1) % n;
	memset(r, 0, sizeof(*r));
	return r;
}

/* The resource a duplicate request at @psn belongs to, or NULL. */
static struct mirror_rd_res *mirror_res_find(struct mirror_qp *qp, u8 kind,
					     u32 psn)
{
	u32 i, n = mirror_resp_res_count(qp);

	for (i = 0; i < n; i++) {
		struct mirror_rd_res *r = &qp->resp.res[i];

		if (r->kind == kind &&
		    mirror_psn_cmp(psn, r->first_psn) >= 0 &&
		    mirror_psn_cmp(psn, r->last_psn) <= 0)
			return r;
	}
	return NULL;
}

/*
 * Sends the next burst of responses of the READ being answered; resp_lock
 * held. The MR is looked up again for each burst: a READ whose MR went
 * away meanwhile ends with a remote access NAK, and so does one whose ODP
 * memory cannot be had when a response is copied (unmapped or moved away
 * since the burst faulted it in: waiting for the requester to ask again
 * would only meet the same race, one timeout at a time). A response
 * without a packet for it is left for the requester to ask again. Return:
 * true when the QP must enter ERR.
 */
static bool mirror_rx_read_stream(struct mirror_qp *qp)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_rd_res *r = qp->resp.res_cur;
	struct mirror_segs *segs = &qp->resp.segs;
	u32 mtu = mirror_qp_mtu(qp), n = mirror_npkts(r->len, mtu);
	u32 i = (r->next_psn - r->first_psn) & MIRROR_PSN_MASK;
	u32 burst = min(n - i, (u32)MIRROR_READ_BURST), k;
	u64 off = (u64)i * mtu;
	u32 bytes = min_t(u64, (u64)burst * mtu, r->len - off);
	struct mirror_pkt t = {
		.dqpn = qp->peer.qpn,
		.aeth = mirror_aeth_value(MIRROR_AETH_ACK |
					  MIRROR_AETH_NO_CREDITS, qp->resp.msn),
		.src = segs,
	};
	int err = 0;

	mirror_flush_ack(qp);
	mirror_segs_put(segs);
	if (bytes) {
		err = mirror_resp_target(qp, segs, r->va + off, r->rkey, bytes,
					 IB_ACCESS_REMOTE_READ) !=
		      MIRROR_RESP_DONE ? -EACCES : 0;
		if (!err)
			err = mirror_segs_fault(segs, 0, bytes, false);
	}
	if (err) {
		mirror_segs_put(segs);
		qp->resp.res_cur = NULL;
		r->active = false;
		mirror_count(dev, MIRROR_CNT_NAK_SENT);
		mirror_send_ack(qp, r->next_psn,
				MIRROR_AETH_NAK | MIRROR_NAK_REM_ACCESS);
		return true;
	}
	for (k = 0; k < burst; k++, i++) {
		t.opcode = MIRROR_TR_RC |
			   mirror_op_nth(MIRROR_OP_READ_RESP_FIRST, i, n, false);
		t.psn = mirror_psn_add(r->first_psn, i);
		t.src_off = (u64)k * mtu;
		t.paylen = min_t(u64, mtu, r->len - (u64)i * mtu);
		err = mirror_qp_pkt_send(qp, &t);
		if (err)
			break;	/* -ENOMEM: the requester asks again */
	}
	mirror_segs_put(segs);
	if (err == -EFAULT) {
		qp->resp.res_cur = NULL;
		r->active = false;
		mirror_count(dev, MIRROR_CNT_NAK_SENT);
		mirror_send_ack(qp, mirror_psn_add(r->first_psn, i),
				MIRROR_AETH_NAK | MIRROR_NAK_REM_ACCESS);
		return true;
	}
	r->next_psn = mirror_psn_add(r->first_psn, i);
	if (k < burst || i == n) {
		r->active = false;
		qp->resp.res_cur = NULL;
	}
	return false;
}

/*
 * A new READ request at the expected PSN: takes a responder resource and
 * starts answering it (rx_work sends the responses, a burst at a time).
 * *npsn gets the PSNs the responses take.
 */
static enum mirror_resp_verdict mirror_rx_read(struct mirror_qp *qp,
						const struct mirror_pkt *p,
						u32 *npsn)
{
	u32 n = mirror_npkts(p->dma_len, mirror_qp_mtu(qp));
	struct mirror_segs *segs = &qp->resp.segs;
	struct mirror_rd_res *r;
	int err = 0;

	if (p->dma_len > (1U << 31) || !mirror_resp_res_count(qp))
		return MIRROR_RESP_NAK_INVALID;
	if (!(READ_ONCE(qp->attr.qp_access_flags) & IB_ACCESS_REMOTE_READ))
		return MIRROR_RESP_NAK_ACCESS;
	if (p->dma_len) {
		err = mirror_resp_target(qp, segs, p->va, p->rkey, p->dma_len,
					 IB_ACCESS_REMOTE_READ) !=
		      MIRROR_RESP_DONE ? -EACCES : 0;
		if (!err)
			err = mirror_segs_fault(segs, 0,
						min_t(u32, p->dma_len,
						      MIRROR_FAULT_CHUNK),
						false);
		mirror_segs_put(segs);
		if (err)
			return MIRROR_RESP_NAK_ACCESS;
	}
	r = mirror_res_next(qp);
	r->kind = MIRROR_RES_READ;
	r->first_psn = p->psn;
	r->last_psn = mirror_psn_add(p->psn, n - 1);
	r->next_psn = p->psn;
	r->va = p->va;
	r->rkey = p->rkey;
	r->len = p->dma_len;
	r->active = true;
	qp->resp.res_cur = r;
	qp->resp.msn++;
	*npsn = n;
	return MIRROR_RESP_DONE;
}

static void mirror_send_atomic_ack(struct mirror_qp *qp, u32 psn, u64 orig)
{
	mirror_send_answer(qp, MIRROR_OP_ATOMIC_ACK, psn,
			   MIRROR_AETH_ACK | MIRROR_AETH_NO_CREDITS, orig);
}

static enum mirror_resp_verdict mirror_rx_atomic(struct mirror_qp *qp,
						 const struct mirror_pkt *p)
{
	struct mirror_rd_res *r;
	enum mirror_resp_verdict v;
	u64 orig;

	v = mirror_resp_atomic(qp, &qp->resp.segs, p, &orig);
	mirror_segs_put(&qp->resp.segs);
	if (v != MIRROR_RESP_DONE)
		return v;
	r = mirror_res_next(qp);
	r->kind = MIRROR_RES_ATOMIC;
	r->first_psn = p->psn;
	r->last_psn = p->psn;
	r->orig = orig;
	qp->resp.msn++;
	mirror_send_atomic_ack(qp, p->psn, orig);
	return MIRROR_RESP_DONE;
}

/*
 * The answer to an ATOMIC WRITE or a FLUSH: an RDMA READ response without
 * payload, as the IBA's memory placement extensions have it (rdma_rxe's
 * completer takes nothing else; ours takes an ACK too).
 */
static void mirror_send_placed(struct mirror_qp *qp, u32 psn)
{
	mirror_send_answer(qp, MIRROR_OP_READ_RESP_ONLY, psn,
			   MIRROR_AETH_ACK | MIRROR_AETH_NO_CREDITS, 0);
}

/*
 * An ATOMIC WRITE: its payload is the 8 bytes, as they are to be in
 * memory. It is answered once placed; a duplicate is answered again,
 * never run again (mirror_rx_duplicate()).
 */
static enum mirror_resp_verdict
mirror_rx_atomic_write(struct mirror_qp *qp, const struct mirror_pkt *p)
{
	enum mirror_resp_verdict v;
	u64 value;

	if (p->paylen != sizeof(value) || p->dma_len != sizeof(value))
		return MIRROR_RESP_NAK_INVALID;
	memcpy(&value, p->payload, sizeof(value));
	v = mirror_resp_atomic_write(qp, &qp->resp.segs, p->va, p->rkey,
				     value);
	mirror_segs_put(&qp->resp.segs);
	if (v == MIRROR_RESP_DONE) {
		qp->resp.msn++;
		mirror_send_placed(qp, p->psn);
	}
	return v;
}

/* A FLUSH (mirror_resp_flush()), answered like an ATOMIC WRITE. */
static enum mirror_resp_verdict mirror_rx_flush(struct mirror_qp *qp,
						const struct mirror_pkt *p)
{
	enum mirror_resp_verdict v;

	v = mirror_resp_flush(qp, p->va, p->rkey, p->dma_len, p->feth);
	if (v == MIRROR_RESP_DONE) {
		qp->resp.msn++;
		mirror_send_placed(qp, p->psn);
	}
	return v;
}

/*
 * A request with a PSN before the expected one. Only what the responder
 * resources remember is answered again: a READ is resent from the PSN
 * asked for (never more than it was), an atomic gets its old result.
 */
static void mirror_rx_duplicate(struct mirror_qp *qp,
				const struct mirror_pkt *p)
{
	struct mirror_rd_res *r;

	mirror_count(to_mirror_dev(qp->ibqp.device), MIRROR_CNT_DUP_REQUEST);
	switch (p->op) {
	case MIRROR_OP_READ_REQUEST:
		r = mirror_res_find(qp, MIRROR_RES_READ, p->psn);
		if (!r)
			break;
		r->next_psn = p->psn;
		r->active = true;
		qp->resp.res_cur = r;
		break;
	case MIRROR_OP_CMP_SWAP:
	case MIRROR_OP_FETCH_ADD:
		r = mirror_res_find(qp, MIRROR_RES_ATOMIC, p->psn);
		if (r)
			mirror_send_atomic_ack(qp, p->psn, r->orig);
		break;
	case MIRROR_OP_ATOMIC_WRITE:
	case MIRROR_OP_FLUSH:
		/* Done before: the answer says so again. */
		mirror_send_placed(qp, p->psn);
		break;
	default:
		if (p->ackreq)
			mirror_send_ack(qp,
					(qp->resp.epsn - 1) & MIRROR_PSN_MASK,
					MIRROR_AETH_ACK |
					MIRROR_AETH_NO_CREDITS);
		break;
	}
}

static bool mirror_op_starts_message(u8 op)
{
	switch (op) {
	case MIRROR_OP_SEND_FIRST:
	case MIRROR_OP_SEND_ONLY:
	case MIRROR_OP_SEND_ONLY_IMM:
	case MIRROR_OP_SEND_ONLY_INV:
	case MIRROR_OP_WRITE_FIRST:
	case MIRROR_OP_WRITE_ONLY:
	case MIRROR_OP_WRITE_ONLY_IMM:
		return true;
	default:
		return false;
	}
}

/*
 * A request for the responder of an RC or UC QP; resp_lock held.
 * Returns true when the QP must enter ERR.
 */
static bool mirror_wire_rx_request(struct mirror_qp *qp,
				   const struct mirror_pkt *p)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	int cmp = mirror_psn_cmp(p->psn, qp->resp.epsn);
	enum mirror_resp_verdict v = MIRROR_RESP_NAK_INVALID;
	u32 npsn = 1;

	if (!rc && cmp) {
		/* UC lost packets: the message in progress is gone. */
		qp->resp.epsn = mirror_psn_add(p->psn, 1);
		if (!mirror_op_starts_message(p->op)) {
			qp->resp.msg = MIRROR_RESP_DROP;
			return false;
		}
		qp->resp.msg = MIRROR_RESP_IDLE;
	} else if (cmp > 0) {
		/* Ahead of the expected PSN: dropped, one NAK says so. */
		mirror_count(dev, MIRROR_CNT_RX_DROP_PSN);
		if (!qp->resp.nak_sent) {
			mirror_count(dev, MIRROR_CNT_SEQ_NAK_SENT);
			mirror_send_ack(qp, qp->resp.epsn, MIRROR_AETH_NAK |
						      MIRROR_NAK_PSN_SEQ);
			qp->resp.nak_sent = true;
		}
		return false;
	} else if (cmp < 0) {
		mirror_rx_duplicate(qp, p);
		return false;
	}
	qp->resp.nak_sent = false;
	if (!rc && qp->resp.msg == MIRROR_RESP_DROP) {
		if (!mirror_op_starts_message(p->op)) {
			qp->resp.epsn = mirror_psn_add(p->psn, 1);
			return false;
		}
		qp->resp.msg = MIRROR_RESP_IDLE;
	}

	switch (p->op) {
	case MIRROR_OP_SEND_FIRST:
	case MIRROR_OP_SEND_MIDDLE:
	case MIRROR_OP_SEND_LAST:
	case MIRROR_OP_SEND_LAST_IMM:
	case MIRROR_OP_SEND_ONLY:
	case MIRROR_OP_SEND_ONLY_IMM:
	case MIRROR_OP_SEND_LAST_INV:
	case MIRROR_OP_SEND_ONLY_INV:
		v = mirror_resp_send(qp, &qp->resp.segs, p,
				     qp->peer.qpn, false);
		break;
	case MIRROR_OP_WRITE_FIRST:
	case MIRROR_OP_WRITE_MIDDLE:
	case MIRROR_OP_WRITE_LAST:
	case MIRROR_OP_WRITE_LAST_IMM:
	case MIRROR_OP_WRITE_ONLY:
	case MIRROR_OP_WRITE_ONLY_IMM:
		v = mirror_resp_write(qp, &qp->resp.segs, p,
				      qp->peer.qpn, false);
		break;
	case MIRROR_OP_READ_REQUEST:
		if (qp->resp.msg == MIRROR_RESP_IDLE)
			v = mirror_rx_read(qp, p, &npsn);
		break;
	case MIRROR_OP_CMP_SWAP:
	case MIRROR_OP_FETCH_ADD:
		if (qp->resp.msg == MIRROR_RESP_IDLE)
			v = mirror_rx_atomic(qp, p);
		break;
	case MIRROR_OP_ATOMIC_WRITE:
		if (qp->resp.msg == MIRROR_RESP_IDLE)
			v = mirror_rx_atomic_write(qp, p);
		break;
	case MIRROR_OP_FLUSH:
		if (qp->resp.msg == MIRROR_RESP_IDLE)
			v = mirror_rx_flush(qp, p);
		break;
	}

	switch (v) {
	case MIRROR_RESP_DONE:
		qp->resp.epsn = mirror_psn_add(p->psn, npsn);
		if (rc && p->ackreq && mirror_op_acked(p->op)) {
			qp->resp.ack_pending = true;
			qp->resp.ack_psn = p->psn;
		}
		return false;
	case MIRROR_RESP_RNR:
		if (!rc) {
			qp->resp.msg = MIRROR_RESP_DROP;
			qp->resp.epsn = mirror_psn_add(p->psn, 1);
			return false;
		}
		mirror_count(dev, MIRROR_CNT_RNR_NAK_SENT);
		mirror_send_ack(qp, p->psn, MIRROR_AETH_RNR_NAK |
				(READ_ONCE(qp->attr.min_rnr_timer) &
				 MIRROR_AETH_DETAIL_MASK));
		return false;
	default:
		if (!rc) {
			qp->resp.msg = MIRROR_RESP_DROP;
			qp->resp.epsn = mirror_psn_add(p->psn, 1);
			return false;
		}
		mirror_count(dev, MIRROR_CNT_NAK_SENT);
		mirror_send_ack(qp, p->psn,
				MIRROR_AETH_NAK | mirror_resp_nak_code(v));
		return true;	/* the responder's QP enters ERR */
	}
}

/* A UD (or GSI) datagram; resp_lock held. Returns true on a QP error. */
static bool mirror_wire_rx_ud(struct mirror_qp *qp, const struct mirror_pkt *p,
			      struct sk_buff *skb)
{
	bool v6 = skb->protocol == htons(ETH_P_IPV6);
	u8 grh[MIRROR_GRH_BYTES] = {};

	/*
	 * IPv6: the GRH is the IPv6 header; IPv4: its header sits in the last
	 * 20 of the 40 bytes.
	 */
	if (v6)
		memcpy(grh, ipv6_hdr(skb), MIRROR_GRH_BYTES);
	else
		memcpy(grh + MIRROR_GRH_BYTES - sizeof(struct iphdr),
		       ip_hdr(skb), sizeof(struct iphdr));
	return mirror_resp_ud(qp, &qp->resp.segs, p, grh,
			      v6 ? MIRROR_CQE_NET_IPV6 : MIRROR_CQE_NET_IPV4,
			      false) != MIRROR_RESP_DONE;
}

/*
 * Is a queued packet still for this QP as it is now? Its state, and for
 * RC/UC that it is connected over the wire to the packet's source (the
 * receive path checked the same without the locks that make them stable;
 * one of them is held here). Counts a refusal.
 */
static bool mirror_rx_accept(struct mirror_qp *qp, struct sk_buff *skb)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);

	if (mirror_type_is_ud(qp->ibqp.qp_type))
		return true;
	if (!qp->peer.wire) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_WRONG_PATH);
		return false;
	}
	if (!mirror_pkt_from_peer(qp, skb)) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_BAD_SRC);
		return false;
	}
	return true;
}

/* The completer's share of rx_work: ACKs and responses. */
static void mirror_rx_responses(struct mirror_qp *qp, int *budget,
				bool *qp_err)
{
	struct sk_buff *skb;

	while (*budget > 0 && !*qp_err &&
	       (skb = mirror_rx_dequeue(qp, true))) {
		enum mirror_qp_state state = READ_ONCE(qp->state);
		struct mirror_pkt p;

		(*budget)--;
		if (state == MIRROR_QPS_RTS &&
		    !mirror_pkt_parse(skb->data, skb->len, &p)) {
			mutex_lock(&qp->req_lock);
			if (mirror_rx_accept(qp, skb)) {
				mirror_comp_rx(qp, &p);
				mirror_wire_req_locked(qp, qp_err);
			}
			if (*qp_err)
				mirror_qp_err_due(qp);
			mutex_unlock(&qp->req_lock);
		}
		kfree_skb(skb);
	}
}

/* The responder's share of rx_work: requests, and READ responses to send. */
static void mirror_rx_requests(struct mirror_qp *qp, int *budget,
			       bool *qp_err)
{
	struct sk_buff *skb;

	mutex_lock(&qp->resp_lock);
	while (*budget > 0 && !*qp_err) {
		enum mirror_qp_state state = READ_ONCE(qp->state);
		struct mirror_pkt p;

		if (qp->resp.res_cur) {
			/* Later requests wait: their answers come after. */
			*qp_err = mirror_rx_read_stream(qp);
			*budget -= MIRROR_READ_BURST;
			continue;
		}
		skb = mirror_rx_dequeue(qp, false);
		if (!skb)
			break;
		(*budget)--;
		if (!mirror_pkt_parse(skb->data, skb->len, &p) &&
		    state >= MIRROR_QPS_RTR && state != MIRROR_QPS_ERR &&
		    mirror_rx_accept(qp, skb)) {
			if (mirror_type_is_ud(qp->ibqp.qp_type))
				*qp_err = mirror_wire_rx_ud(qp, &p, skb);
			else
				*qp_err = mirror_wire_rx_request(qp, &p);
		}
		kfree_skb(skb);
	}
	if (!mirror_type_is_ud(qp->ibqp.qp_type))
		mirror_flush_ack(qp);
	if (*qp_err)
		mirror_qp_err_due(qp);
	mutex_unlock(&qp->resp_lock);
}

/**
 * mirror_qp_rx_work() - handle the packets queued for a QP
 * @work: the QP's rx_work
 *
 * Responses first (they free the requester's window), then requests; at
 * most MIRROR_RX_BUDGET packets (a READ burst counting as a budget's
 * worth) before the work queues itself again.
 */
void mirror_qp_rx_work(struct work_struct *work)
{
	struct mirror_qp *qp = container_of(work, struct mirror_qp, rx.work);
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	int budget = MIRROR_RX_BUDGET;
	bool qp_err = false, more;

	mirror_rx_responses(qp, &budget, &qp_err);
	budget = max(budget, MIRROR_RX_BUDGET / 2);
	if (!qp_err)
		mirror_rx_requests(qp, &budget, &qp_err);
	if (qp_err) {
		mirror_qp_enter_err(qp);
		return;
	}
	mutex_lock(&qp->resp_lock);
	more = qp->resp.res_cur || !skb_queue_empty(&qp->rx.queue) ||
	       !skb_queue_empty(&qp->rx.resp_queue);
	mutex_unlock(&qp->resp_lock);
	if (more)
		queue_work(dev->wq, &qp->rx.work);
}

/**
 * mirror_wire_qp_init() - set up a new QP's wire state
 * @qp: the QP
 */
void mirror_wire_qp_init(struct mirror_qp *qp)
{
	skb_queue_head_init(&qp->rx.queue);
	skb_queue_head_init(&qp->rx.resp_queue);
	atomic_set(&qp->rx.queued, 0);
	INIT_WORK(&qp->rx.work, mirror_qp_rx_work);
	timer_setup(&qp->req.retrans_timer, mirror_qp_retrans_timer, 0);
	hrtimer_init(&qp->req.rnr_timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL);
	qp->req.rnr_timer.function = mirror_qp_rnr_timer;
	qp->req.rnr_left = MIRROR_RNR_NOT_STARTED;
	qp->req.dfault_left = MIRROR_RNR_NOT_STARTED;
	qp->req.cwnd = MIRROR_WINDOW_PSNS;
	qp->req.ssthresh = MIRROR_WINDOW_PSNS;
}

/**
 * mirror_wire_qp_reset() - forget all wire state (RESET, and before RTR)
 * @qp: the QP; state_lock held, its work items idle or harmless
 */
void mirror_wire_qp_reset(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->state_lock);
	del_timer(&qp->req.retrans_timer);
	/* A wait of the old connection's (the work it queues finds RESET). */
	hrtimer_try_to_cancel(&qp->req.rnr_timer);
	mirror_rx_purge(qp);
	mutex_lock(&qp->req_lock);
	qp->req.sq_next = qp->req.sq_cons;
	qp->req.sq_fetched = qp->req.sq_cons;
	qp->req.rd_out = 0;
	qp->req.rnr_wait = false;
	qp->req.rnr_left = MIRROR_RNR_NOT_STARTED;
	qp->req.dfault_left = MIRROR_RNR_NOT_STARTED;
	qp->req.dmsg_begun = false;
	clear_bit(0, &qp->req.retrans_due);
	mutex_lock(&qp->resp_lock);
	/* An error found before the reset is not this connection's. */
	clear_bit(0, &qp->err_due);
	qp->resp.msg = MIRROR_RESP_IDLE;
	qp->resp.have_recv = false;
	qp->resp.nak_sent = false;
	qp->resp.ack_pending = false;
	qp->resp.msn = 0;
	if (qp->resp.res)
		memset(qp->resp.res, 0, MIRROR_MAX_RD_ATOM * sizeof(*qp->resp.res));
	qp->resp.res_head = 0;
	qp->resp.res_cur = NULL;
	mirror_segs_put(&qp->resp.segs);
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}
