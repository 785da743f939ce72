// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_sq.c - the SQ slots: the kernel's copy of each WQE (fetched once
 * from the ring), the wire state of each in-flight WQE (its PSN range and
 * how it is finished), and the operations the requester and the completer
 * share on them (marking one done, rewinding the send pointer, resolving
 * the local memory of part of a message). See docs/design.md, "The QP":
 * everything here is under the QP's req_lock.
 */
#include "mirror.h"

/**
 * mirror_sq_wqe() - the kernel's copy of a fetched SQ slot
 * @qp: the QP (req_lock held)
 * @idx: a slot between sq_cons and sq_fetched
 *
 * Return: the copy (the ring itself for kernel QPs, whose ring only the
 * kernel writes).
 */
struct mirror_send_wqe *mirror_sq_wqe(struct mirror_qp *qp, u32 idx)
{
	if (!qp->req.sq_copy)
		return mirror_queue_slot(&qp->sq, idx);
	return qp->req.sq_copy +
	       (size_t)(idx & (qp->sq.num_slots - 1)) * qp->sq.stride;
}

/**
 * mirror_sq_fetch() - FETCH: the kernel's copy of SQ slot @idx
 * @qp: the QP (req_lock held)
 * @idx: sq_fetched (the next slot, which is then copied out of the ring
 *	once), or a slot fetched before
 *
 * The only place the requester reads a user-written SQ slot: every later
 * use of the WQE (RNR retries, retransmissions, the completion, a flush)
 * reads the copy, so what user space writes into the ring meanwhile
 * changes nothing the kernel decided.
 *
 * Return: the copy.
 */
struct mirror_send_wqe *mirror_sq_fetch(struct mirror_qp *qp, u32 idx)
{
	lockdep_assert_held(&qp->req_lock);
	if (idx == qp->req.sq_fetched) {
		if (qp->req.sq_copy)
			memcpy(mirror_sq_wqe(qp, idx),
			       mirror_queue_slot(&qp->sq, idx), qp->sq.stride);
		qp->req.sq_fetched++;
	}
	return mirror_sq_wqe(qp, idx);
}

/**
 * mirror_sq_meta_of() - the wire state of an SQ slot
 * @qp: the QP (req_lock held)
 * @idx: the slot's index (any u32: it wraps with the ring)
 *
 * Return: the slot's metadata.
 */
struct mirror_sq_meta *mirror_sq_meta_of(struct mirror_qp *qp, u32 idx)
{
	return &qp->req.meta[idx & (qp->sq.num_slots - 1)];
}

/**
 * mirror_sq_kind() - how the completer finishes a WQE of a send opcode
 * @wr_opcode: IB_UVERBS_WR_*
 *
 * Return: enum mirror_wqe_kind.
 */
enum mirror_wqe_kind mirror_sq_kind(u32 wr_opcode)
{
	if (wr_opcode == IB_UVERBS_WR_RDMA_READ)
		return MIRROR_KIND_READ;
	if (mirror_is_atomic(wr_opcode))
		return MIRROR_KIND_ATOMIC;
	return MIRROR_KIND_SEND;
}

/**
 * mirror_sq_done() - mark an in-flight WQE done, to be reported in order
 * @qp: the QP (req_lock held)
 * @m: the WQE's slot metadata
 * @status: its completion status
 * @byte_len: bytes for its completion
 *
 * A WQE done already keeps its first status.
 */
void mirror_sq_done(struct mirror_qp *qp, struct mirror_sq_meta *m,
			     enum ib_wc_status status, u32 byte_len)
{
	if (m->done)
		return;
	if (m->rd_counted) {
		m->rd_counted = false;
		qp->req.rd_out--;
	}
	m->done = true;
	m->status = status;
	m->byte_len = byte_len;
}

/**
 * mirror_sq_window_used() - the PSNs an RC requester has in flight
 * @qp: the QP (req_lock held), its done WQEs at the head reported
 *
 * From the oldest PSN not known to have arrived (of the oldest WQE, which
 * is not done) to the last PSN sent or asked for (of the newest WQE in
 * flight, which may be a SEND, WRITE or READ sent in part).
 *
 * Return: the count, 0 with nothing in flight.
 */
u32 mirror_sq_window_used(struct mirror_qp *qp)
{
	u32 sent, unacked;

	if (qp->req.sq_cons == qp->req.sq_next)
		return 0;
	sent = mirror_sq_meta_of(qp, qp->req.sq_next - 1)->next_send;
	unacked = mirror_sq_meta_of(qp, qp->req.sq_cons)->next_resp;
	if (mirror_psn_cmp(sent, unacked) <= 0)
		return 0;
	return (sent - unacked) & MIRROR_PSN_MASK;
}

/**
 * mirror_sq_congestion() - a loss: fewer PSNs in flight
 * @qp: the RC QP (req_lock held)
 * @timeout: nothing came back (the retransmission timer), rather than a
 *	loss the peer reported (a sequence NAK, a gap in READ responses)
 *
 * The window goes back to half of what it was (@ssthresh), or, after a
 * timeout, to one PSN, to double from there up to half. The responder
 * drops everything after a lost packet, so a window much larger than
 * the link's loss rate allows is mostly sent twice (go-back-N); and a
 * slow peer's receive queue overflowing is the same loss.
 */
void mirror_sq_congestion(struct mirror_qp *qp, bool timeout)
{
	qp->req.ssthresh = max_t(u32, qp->req.cwnd / 2, MIRROR_CWND_MIN);
	qp->req.cwnd = timeout ? MIRROR_CWND_AFTER_TIMEOUT : qp->req.ssthresh;
	qp->req.cwnd_acc = 0;
}

/**
 * mirror_sq_receiver_full() - an RNR NAK: fewer PSNs in flight
 * @qp: the RC QP (req_lock held)
 *
 * Not a loss on the path: the peer had no receive WQE, and takes as many
 * messages as it posts receives. The retry sends one PSN, and the window
 * doubles from there up to what it was when the NAK came, then grows by
 * one per window answered. Whole, the window went again after each RNR
 * wait, and all but the few messages the peer could take were dropped
 * out of sequence (ib_send_bw -r 8: nine packets in ten were resent).
 */
void mirror_sq_receiver_full(struct mirror_qp *qp)
{
	qp->req.ssthresh = max_t(u32, qp->req.cwnd, MIRROR_CWND_MIN);
	qp->req.cwnd = MIRROR_CWND_AFTER_TIMEOUT;
	qp->req.cwnd_acc = 0;
}

/**
 * mirror_sq_window_grow() - progress: more PSNs in flight
 * @qp: the RC QP (req_lock held)
 * @answered: PSNs the progress answered
 *
 * Below @ssthresh one more PSN for each answered (twice the window per
 * round trip), above it one more for each window answered, up to
 * MIRROR_WINDOW_PSNS.
 */
void mirror_sq_window_grow(struct mirror_qp *qp, u32 answered)
{
	if (qp->req.cwnd < qp->req.ssthresh) {
		qp->req.cwnd = min(qp->req.cwnd + answered, qp->req.ssthresh);
	} else {
		qp->req.cwnd_acc += answered;
		while (qp->req.cwnd_acc >= qp->req.cwnd) {
			qp->req.cwnd_acc -= qp->req.cwnd;
			qp->req.cwnd++;
		}
	}
	qp->req.cwnd = min_t(u32, qp->req.cwnd, MIRROR_WINDOW_PSNS);
}

/**
 * mirror_sq_rewind() - send again from WQE @idx on
 * @qp: the QP (req_lock held)
 * @idx: an in-flight slot
 *
 * Its PSNs and everything after it go out again, but for what is known to
 * have arrived: a SEND or WRITE goes on from its first packet not
 * acknowledged, and a READ asks again only from the first response it
 * misses (IBA 9.7.5.1.1; rdma_rxe's responder takes such a part of a READ
 * it answered before, ours answers from the PSN asked for). Sent whole
 * again, a READ that was almost answered costs the slow peer its whole
 * length once more, and under load the duplicates outgrew the peer's pace
 * until the retries ran out (guest_interop_rxe, ib_read_bw to rdma_rxe).
 * The READs and atomics before @idx that are still unanswered stay
 * counted in rd_out. The WQEs from @idx on keep their PSNs: answers to
 * their first sending that arrive before they go again are still taken
 * (mirror_comp_rx()).
 */
void mirror_sq_rewind(struct mirror_qp *qp, u32 idx)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 i, sent, unacked;

	/* What goes again: from the first PSN @idx has not seen arrive. */
	sent = mirror_sq_meta_of(qp, qp->req.sq_next - 1)->next_send;
	unacked = mirror_sq_meta_of(qp, idx)->next_resp;
	if (mirror_psn_cmp(sent, unacked) > 0)
		mirror_count_add(dev, MIRROR_CNT_RETRANS_PACKETS,
				 (sent - unacked) & MIRROR_PSN_MASK);
	for (i = idx; i != qp->req.sq_next; i++) {
		struct mirror_sq_meta *m = mirror_sq_meta_of(qp, i);

		m->resend = true;
		m->ask_due = false;
		m->asked = false;
		if (m->rd_counted) {
			m->rd_counted = false;
			qp->req.rd_out--;
		}
	}
	qp->req.psn = mirror_sq_meta_of(qp, idx)->first_psn;
	qp->req.sq_next = idx;
}

/**
 * mirror_sq_ask_again() - ask again for the missing answers of one WQE
 * @qp: the QP (req_lock held)
 * @idx: a READ or atomic in flight whose answers have a gap: a response
 *	after one that did not come, or answers to later requests
 *
 * The peer has taken the request (it answers the ones after it), only
 * answers were lost: this one WQE is asked for again, from its first
 * missing response (the requester sends it, mirror_wire_req_locked()),
 * and nothing after it is rewound: its answers keep coming and are taken.
 * Packets after a gap keep arriving (the rest of a burst of READ
 * responses, answers to later requests): one request per gap, the next
 * only after the WQE made progress (or the timer) shows the request was
 * answered or lost.
 */
void mirror_sq_ask_again(struct mirror_qp *qp, u32 idx)
{
	struct mirror_sq_meta *m = mirror_sq_meta_of(qp, idx);

	if (m->asked || m->ask_due)
		return;
	m->ask_due = true;
	qp->req.ask_due = true;
	mirror_sq_congestion(qp, false);
}

/**
 * mirror_sq_segs() - the local memory of part of a WQE's message
 * @qp: the QP (req_lock held)
 * @wqe: the kernel's copy of the WQE
 * @segs: emptied, then filled in
 * @off: first byte of the message
 * @len: bytes
 * @access: what the SGEs' keys must allow (0: local read)
 *
 * The SGEs of the copy looked up again (and checked for @access), or the
 * copy's inline data.
 *
 * Return: 0 or an error of the lookup.
 */
int mirror_sq_segs(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
			   struct mirror_segs *segs, u64 off, u32 len,
			   int access)
{
	mirror_segs_put(segs);
	if (wqe->flags & MIRROR_WQE_F_INLINE)
		return mirror_segs_add_kbuf(segs, (u8 *)(wqe + 1) + off, len,
					    false);
	return mirror_segs_add_sges(segs, to_mirror_dev(qp->ibqp.device),
				    qp->ibqp.pd, (struct mirror_sge *)(wqe + 1),
				    wqe->num_sge, off, len, access);
}

/**
 * mirror_wc_opcode() - the completion opcode of a send WR opcode
 * @wr_opcode: IB_UVERBS_WR_*
 *
 * Return: MIRROR_WC_*.
 */
u32 mirror_wc_opcode(u32 wr_opcode)
{
	switch (wr_opcode) {
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		return MIRROR_WC_RDMA_WRITE;
	case IB_UVERBS_WR_RDMA_READ:
		return MIRROR_WC_RDMA_READ;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
		return MIRROR_WC_COMP_SWAP;
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		return MIRROR_WC_FETCH_ADD;
	case IB_UVERBS_WR_LOCAL_INV:
		return MIRROR_WC_LOCAL_INV;
	case IB_WR_REG_MR:
		return MIRROR_WC_REG_MR;
	case IB_UVERBS_WR_BIND_MW:
		return MIRROR_WC_BIND_MW;
	case MIRROR_WR_ATOMIC_WRITE:
		return MIRROR_WC_ATOMIC_WRITE;
	case MIRROR_WR_FLUSH:
		return MIRROR_WC_FLUSH;
	default:
		return MIRROR_WC_SEND;
	}
}

/**
 * mirror_sq_consume() - give the oldest SQ slot back to the poster
 * @qp: the QP (req_lock held)
 *
 * Called before the slot's completion is posted (the completion is built
 * from the slot first): whoever sees the completion may post into the slot
 * at once, and with a one-slot SQ (ibv_rc_pingpong's) a completion seen
 * before the consumer index moved made that post fail with ENOMEM
 * (guest_wire, "ibv_rc_pingpong with events").
 */
void mirror_sq_consume(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->req_lock);
	qp->req.sq_cons++;
	mirror_queue_consumed(&qp->sq, qp->req.sq_cons);
}

/* The send opcodes a QP of @type may post. */
static bool mirror_opcode_ok(enum ib_qp_type type, u32 opcode)
{
	switch (opcode) {
	case IB_UVERBS_WR_SEND:
	case IB_UVERBS_WR_SEND_WITH_IMM:
		return true;
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		return type == IB_QPT_RC || type == IB_QPT_UC;
	case IB_UVERBS_WR_RDMA_READ:
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
	case IB_UVERBS_WR_SEND_WITH_INV:
	case MIRROR_WR_ATOMIC_WRITE:
		return type == IB_QPT_RC;
	case MIRROR_WR_FLUSH:
		return type == IB_QPT_RC && mirror_flush_offered();
	default:
		/*
		 * Local operations (mirror_sq_local_op()) never get here;
		 * LSO and the rest are not offered.
		 */
		return false;
	}
}

/**
 * mirror_sq_local_op() - run a WQE that needs no peer: REG_MR, LOCAL_INV,
 *	BIND_MW
 * @qp: the QP (req_lock held)
 * @wqe: the kernel's copy of the WQE (mirror_is_local_op() of its opcode)
 *
 * REG_MR is for kernel consumers' fast-registration MRs, from kernel QPs
 * only (a user QP gets IB_WC_LOC_QP_OP_ERR); BIND_MW is for user RC and
 * UC QPs (kernel consumers have no bind WR); LOCAL_INV ends an FRWR
 * registration or a type 2 window's binding, of the QP's PD either way.
 *
 * Return: the WQE's completion status.
 */
enum ib_wc_status mirror_sq_local_op(struct mirror_qp *qp,
				     const struct mirror_send_wqe *wqe)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_reg_wr reg;

	lockdep_assert_held(&qp->req_lock);
	switch (wqe->opcode) {
	case IB_WR_REG_MR:
		if (qp->is_user)
			return IB_WC_LOC_QP_OP_ERR;
		memcpy(&reg, wqe->wr.raw, sizeof(reg));
		return mirror_mr_fast_reg(qp, &reg);
	case IB_UVERBS_WR_BIND_MW:
		if (qp->ibqp.qp_type != IB_QPT_RC &&
		    qp->ibqp.qp_type != IB_QPT_UC)
			return IB_WC_LOC_QP_OP_ERR;
		return mirror_mw_bind(qp, &wqe->wr.bind);
	default:
		if (mirror_key_invalidate(qp, wqe->imm_data, false))
			return IB_WC_LOC_PROT_ERR;
		mirror_count(dev, MIRROR_CNT_LOCAL_INV);
		return IB_WC_SUCCESS;
	}
}

/**
 * mirror_wqe_local() - check a send WQE and resolve its local memory
 * @qp: the QP (req_lock held)
 * @wqe: the kernel's copy of the WQE
 * @segs: gets the WQE's memory (references held until mirror_segs_put())
 *
 * Checks the opcode against the QP type, the SGE count and the lengths,
 * and the key, PD, access and range of every SGE (writable ones for READ
 * and atomics); faults the first chunk of ODP memory in. An ATOMIC WRITE's
 * memory is the 8 bytes its WQE carries; a FLUSH has none.
 *
 * Return: IB_WC_SUCCESS, or the completion status of a WQE that cannot run.
 */
enum ib_wc_status mirror_wqe_local(struct mirror_qp *qp,
				   struct mirror_send_wqe *wqe,
				   struct mirror_segs *segs)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 room = qp->sq.stride - sizeof(*wqe);
	bool atomic = mirror_is_atomic(wqe->opcode);
	bool read = wqe->opcode == IB_UVERBS_WR_RDMA_READ || atomic;
	struct mirror_sge *sge = (struct mirror_sge *)(wqe + 1);
	u32 i;
	int err = 0;

	mirror_segs_put(segs);
	if (!mirror_opcode_ok(qp->ibqp.qp_type, wqe->opcode))
		return IB_WC_LOC_QP_OP_ERR;
	if (wqe->opcode == MIRROR_WR_ATOMIC_WRITE) {
		/* Its 8 bytes are in the WQE (the kernel's copy). */
		mirror_segs_add_kbuf(segs, &wqe->wr.atomic.compare_add,
				     sizeof(u64), false);
		return IB_WC_SUCCESS;
	}
	if (wqe->opcode == MIRROR_WR_FLUSH) {
		/* No local memory; its type and level must fit the FETH. */
		if (!wqe->wr.flush.type ||
		    wqe->wr.flush.type > MIRROR_FETH_PLT_MASK ||
		    wqe->wr.flush.level >
		    MIRROR_FETH_SEL_MASK >> MIRROR_FETH_SEL_SHIFT)
			return IB_WC_LOC_QP_OP_ERR;
		return IB_WC_SUCCESS;
	}
	if (wqe->flags & MIRROR_WQE_F_INLINE) {
		if (read || wqe->inline_len > qp->max_inline ||
		    wqe->inline_len > room)
			return IB_WC_LOC_LEN_ERR;
		mirror_segs_add_kbuf(segs, wqe + 1, wqe->inline_len, false);
		goto check_len;
	}
	if (wqe->num_sge > qp->attr.cap.max_send_sge ||
	    wqe->num_sge > room / sizeof(*sge))
		return IB_WC_LOC_LEN_ERR;
	for (i = 0; i < wqe->num_sge && !err; i++)
		err = mirror_segs_add(segs, dev, qp->ibqp.pd, sge[i].lkey,
				      sge[i].addr, sge[i].length,
				      read ? IB_ACCESS_LOCAL_WRITE : 0);
	if (err)
		return err == -E2BIG ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
	if (atomic && segs->total != sizeof(u64))
		return IB_WC_LOC_LEN_ERR;
check_len:
	if (segs->total > (1ULL << 31) ||
	    (mirror_type_is_ud(qp->ibqp.qp_type) &&
	     segs->total > mirror_dev_mtu(dev)))
		return IB_WC_LOC_LEN_ERR;
	/* ODP: the first chunk must be there (writable for READ/atomics). */
	if (mirror_segs_fault(segs, 0, min_t(u64, segs->total,
					     MIRROR_FAULT_CHUNK), read))
		return IB_WC_LOC_PROT_ERR;
	return IB_WC_SUCCESS;
}
