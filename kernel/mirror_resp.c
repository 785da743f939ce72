// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_resp.c - what a responder decides, for both transports: the
 * receive a message consumes (taken once from the RQ or SRQ into a kernel
 * copy, completed once), the checks of a remote range (the QP's access
 * flags, then the key, PD, access and bounds of the MR), atomics, UD
 * delivery, and the verdict that a refusal becomes: a NAK code on the
 * wire, and through the completer's table (mirror_nak_status()) the
 * requester's completion status on the same device. See docs/design.md,
 * "The responder".
 *
 * The transports call these under the responding QP's resp_lock with the
 * request as a struct mirror_pkt: parsed from a packet (its payload the
 * packet's bytes) or built by a same-device requester (its payload the
 * requester's segments, @src). The segment list a transport passes in
 * decides whether a missing ODP page is faulted in here (RoCEv2, from
 * rx_work) or ends the step with MIRROR_RESP_STOPPED (same device: a
 * nofault list, the miss recorded in it, faulted by the requester's
 * DEST_FAULT state with no lock held).
 */
#include "mirror.h"

/* The PD that covers the buffers of @qp's receives (its SRQ's, if any). */
static struct ib_pd *mirror_recv_pd(struct mirror_qp *qp)
{
	return qp->ibqp.srq ? qp->ibqp.srq->pd : qp->ibqp.pd;
}

/**
 * mirror_resp_hold_recv() - take a receive for the message starting now
 * @qp: the receiving QP (resp_lock held)
 *
 * Copies the next receive WQE of the QP's RQ (or SRQ) into qp->resp_*, so
 * that the message's packets (or steps) fill it from the kernel's copy.
 * A receive already held (a UD receive whose memory was being faulted in,
 * say) is kept: 0.
 *
 * Return: 0, -EAGAIN when none is posted, -EIO when user space broke its
 * ring, -E2BIG when the WQE names too many SGEs. After -EIO and -E2BIG a
 * receive is held nonetheless (wr_id 0 for -EIO): complete it with an
 * error (mirror_resp_recv_error()).
 */
int mirror_resp_hold_recv(struct mirror_qp *qp)
{
	struct ib_srq *ibsrq = qp->ibqp.srq;
	struct mirror_queue *q = &qp->rq;
	struct mirror_recv_wqe wqe = {};
	u32 avail, i;
	int err;

	lockdep_assert_held(&qp->resp_lock);
	if (qp->resp.have_recv)
		return 0;
	if (ibsrq) {
		err = mirror_srq_take(to_mirror_srq(ibsrq), &wqe, qp->resp.sge);
		if (err == -EAGAIN)
			return err;
	} else {
		err = mirror_queue_avail(q, qp->resp.rq_cons, &avail);
		if (!err && !avail)
			return -EAGAIN;
		if (!err) {
			err = mirror_queue_fetch_recv(q, qp->resp.rq_cons, &wqe,
						      qp->resp.sge,
						      qp->attr.cap.max_recv_sge);
			qp->resp.rq_cons++;
			mirror_queue_consumed(q, qp->resp.rq_cons);
		}
	}
	qp->resp.have_recv = true;
	qp->resp.wr_id = wqe.wr_id;
	qp->resp.nsge = err ? 0 : wqe.num_sge;
	qp->resp.len = 0;
	for (i = 0; i < qp->resp.nsge; i++)
		qp->resp.len += qp->resp.sge[i].length;
	return err;
}

/**
 * mirror_resp_recv_segs() - the memory of part of the held receive
 * @qp: the receiving QP (resp_lock held, a receive held)
 * @segs: gets [off, off + len) of the receive's buffers, checked for
 *	local write access in the receive's PD
 * @off: first byte
 * @len: bytes
 *
 * Return: 0, -EMSGSIZE when the receive is too short, or the error of a
 * key check.
 */
int mirror_resp_recv_segs(struct mirror_qp *qp, struct mirror_segs *segs,
			  u64 off, u64 len)
{
	mirror_segs_put(segs);
	if (off + len > qp->resp.len)
		return -EMSGSIZE;
	return mirror_segs_add_sges(segs, to_mirror_dev(qp->ibqp.device),
				    mirror_recv_pd(qp), qp->resp.sge,
				    qp->resp.nsge, off, len,
				    IB_ACCESS_LOCAL_WRITE);
}

/**
 * mirror_resp_recv_error() - complete the held receive with an error
 * @qp: the receiving QP (resp_lock held, a receive held)
 * @status: the completion status
 * @src_qp: the sender's QPN
 */
void mirror_resp_recv_error(struct mirror_qp *qp, enum ib_wc_status status,
			    u32 src_qp)
{
	struct mirror_cqe cqe = {
		.wr_id = qp->resp.wr_id,
		.status = status,
		.opcode = MIRROR_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
		.src_qp = src_qp,
	};

	lockdep_assert_held(&qp->resp_lock);
	qp->resp.have_recv = false;
	mirror_complete(qp, true, &cqe, false);
}

/**
 * mirror_resp_recv_done() - complete the held receive: a message is in
 * @qp: the receiving QP (resp_lock held, a receive held)
 * @cqe: the completion, but for wr_id, status and qp_num
 * @solicited: the message asked for a solicited event
 */
void mirror_resp_recv_done(struct mirror_qp *qp, struct mirror_cqe *cqe,
			   bool solicited)
{
	lockdep_assert_held(&qp->resp_lock);
	cqe->wr_id = qp->resp.wr_id;
	cqe->status = IB_WC_SUCCESS;
	cqe->qp_num = qp->ibqp.qp_num;
	qp->resp.have_recv = false;
	mirror_complete(qp, true, cqe, solicited);
}

/**
 * mirror_resp_payload() - put a request's payload into the responder's
 *	memory
 * @dst: the responder's segments
 * @dst_off: where in @dst
 * @p: the request: @p->paylen bytes from @p->src at @p->src_off (same
 *     device), else at @p->payload (a packet)
 * @done: gets the bytes moved (also on failure), or NULL
 *
 * Return: 0, -EAGAIN when a nofault list met a missing page (its ->miss
 * says where), or another error of the copy.
 */
int mirror_resp_payload(struct mirror_segs *dst, u64 dst_off,
			const struct mirror_pkt *p, u64 *done)
{
	int err;

	if (p->src)
		return mirror_segs_copy(dst, dst_off, p->src, p->src_off,
					p->paylen, done);
	err = mirror_segs_xfer(dst, dst_off, p->payload, p->paylen, true);
	if (done)
		*done = err ? 0 : p->paylen;
	return err;
}

/**
 * mirror_resp_need_recv() - a receive for the message starting now
 * @qp: the responding QP (resp_lock held)
 * @src_qp: the requester's QPN, for an error completion
 *
 * A receive already held (a message resumed, a UD receive whose memory was
 * being faulted in) is kept. A receive WQE that cannot be used (user space
 * broke its ring, or it names too many SGEs) completes with
 * IB_WC_LOC_PROT_ERR.
 *
 * Return: MIRROR_RESP_DONE (a receive is held), MIRROR_RESP_RNR (none is
 * posted) or MIRROR_RESP_NAK_OP (the receive failed).
 */
enum mirror_resp_verdict mirror_resp_need_recv(struct mirror_qp *qp,
					       u32 src_qp)
{
	int err;

	if (qp->resp.have_recv)
		return MIRROR_RESP_DONE;
	err = mirror_resp_hold_recv(qp);
	if (err == -EAGAIN)
		return MIRROR_RESP_RNR;
	if (err) {
		mirror_resp_recv_error(qp, IB_WC_LOC_PROT_ERR, src_qp);
		return MIRROR_RESP_NAK_OP;
	}
	return MIRROR_RESP_DONE;
}

/**
 * mirror_resp_recv_fits() - does a message reach no further than the
 *	held receive?
 * @qp: the responding QP (resp_lock held, a receive held)
 * @end: the byte after the message's last (so far)
 * @src_qp: the requester's QPN, for the error completion
 *
 * A receive too short completes with IB_WC_LOC_LEN_ERR.
 *
 * Return: MIRROR_RESP_DONE, or MIRROR_RESP_NAK_INVALID.
 */
enum mirror_resp_verdict mirror_resp_recv_fits(struct mirror_qp *qp, u64 end,
					       u32 src_qp)
{
	if (end <= qp->resp.len)
		return MIRROR_RESP_DONE;
	mirror_resp_recv_error(qp, IB_WC_LOC_LEN_ERR, src_qp);
	return MIRROR_RESP_NAK_INVALID;
}

/**
 * mirror_resp_nak_code() - the NAK code of a refusal
 * @v: a verdict other than MIRROR_RESP_DONE, RNR and STOPPED
 *
 * Return: enum mirror_nak_code.
 */
u8 mirror_resp_nak_code(enum mirror_resp_verdict v)
{
	switch (v) {
	case MIRROR_RESP_NAK_ACCESS:
		return MIRROR_NAK_REM_ACCESS;
	case MIRROR_RESP_NAK_OP:
		return MIRROR_NAK_REM_OP;
	default:
		return MIRROR_NAK_INVALID_REQ;
	}
}

/**
 * mirror_resp_res_count() - the responder resources of a QP
 * @qp: the QP
 *
 * Return: how many READs and atomics it remembers for duplicates (0: it
 * takes none at all).
 */
u32 mirror_resp_res_count(struct mirror_qp *qp)
{
	return min_t(u32, READ_ONCE(qp->attr.max_dest_rd_atomic),
		     MIRROR_MAX_RD_ATOM);
}

/**
 * mirror_resp_target() - resolve the remote range of a WRITE, a READ or an
 *	atomic
 * @qp: the responding QP (resp_lock held)
 * @segs: emptied, then the range
 * @va: its first byte
 * @rkey: the key the requester sent
 * @len: its bytes (not 0)
 * @access: IB_ACCESS_REMOTE_WRITE, _READ or _ATOMIC
 *
 * Made for every packet (RoCEv2) or step (same device) that touches the
 * range, so an MR deregistered or a QP whose access flags were changed
 * in the middle of a message is noticed where the access happens.
 *
 * Return: MIRROR_RESP_DONE, or MIRROR_RESP_NAK_ACCESS when the QP does not
 * allow @access or the key does not name an MR of the QP's PD that allows
 * it over the whole range.
 */
enum mirror_resp_verdict mirror_resp_target(struct mirror_qp *qp,
					    struct mirror_segs *segs, u64 va,
					    u32 rkey, u64 len, int access)
{
	mirror_segs_put(segs);
	if (!(READ_ONCE(qp->attr.qp_access_flags) & access))
		return MIRROR_RESP_NAK_ACCESS;
	if (mirror_segs_add_remote(segs, qp, rkey, va, len, access))
		return MIRROR_RESP_NAK_ACCESS;
	return MIRROR_RESP_DONE;
}

/*
 * An 8-byte read-modify-write (mirror_segs_atomic()) at @va, whose key
 * must allow @access: the common part of the atomics and ATOMIC WRITE.
 */
static enum mirror_resp_verdict
mirror_resp_rmw(struct mirror_qp *qp, struct mirror_segs *segs, u64 va,
		u32 rkey, int access, enum mirror_atomic_op op,
		u64 compare_add, u64 swap, u64 *orig)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	enum mirror_resp_verdict v;
	int err;

	v = mirror_resp_target(qp, segs, va, rkey, sizeof(u64), access);
	if (v != MIRROR_RESP_DONE)
		return v;
	err = mirror_segs_atomic(segs, &dev->atomic_lock, op, compare_add,
				 swap, orig);
	if (err == -EAGAIN && segs->missed)
		return MIRROR_RESP_STOPPED;
	if (err)
		return segs->failed ? MIRROR_RESP_NAK_ACCESS :
				      MIRROR_RESP_NAK_OP;
	return MIRROR_RESP_DONE;
}

/**
 * mirror_resp_atomic() - execute a compare-and-swap or fetch-and-add
 * @qp: the responding QP (resp_lock held)
 * @segs: the list to resolve the target in (left filled for the caller
 *	to empty)
 * @p: the request: op, va, rkey, compare, swap_add
 * @orig: gets the value found
 *
 * Return: MIRROR_RESP_DONE; MIRROR_RESP_NAK_INVALID for a misaligned
 * address (IBA 9.4.5) or a QP that takes no atomics;
 * MIRROR_RESP_NAK_ACCESS for a refused range or ODP memory that cannot be
 * had; MIRROR_RESP_NAK_OP when the operation failed otherwise;
 * MIRROR_RESP_STOPPED when @segs is nofault and the page is missing.
 */
enum mirror_resp_verdict mirror_resp_atomic(struct mirror_qp *qp,
					    struct mirror_segs *segs,
					    const struct mirror_pkt *p,
					    u64 *orig)
{
	bool cmp_swap = p->op == MIRROR_OP_CMP_SWAP;

	if ((p->va & (sizeof(u64) - 1)) || !mirror_resp_res_count(qp))
		return MIRROR_RESP_NAK_INVALID;
	return mirror_resp_rmw(qp, segs, p->va, p->rkey,
			       IB_ACCESS_REMOTE_ATOMIC,
			       cmp_swap ? MIRROR_ATOMIC_CMP_SWAP :
					  MIRROR_ATOMIC_FETCH_ADD,
			       cmp_swap ? p->compare : p->swap_add,
			       p->swap_add, orig);
}

/**
 * mirror_resp_atomic_write() - execute an ATOMIC WRITE
 * @qp: the responding QP (resp_lock held)
 * @segs: the list to resolve the target in (left filled for the caller
 *	to empty)
 * @va: the target: 8 bytes, 8-byte aligned
 * @rkey: its key, which must allow remote write
 * @value: the 8 bytes, as they are to be in memory
 *
 * The 8 bytes are stored at once, under the device's atomic lock, so
 * that no atomic of the device (and no reader of the word) sees half of
 * them; the responder runs requests in order, so every write before it
 * has landed.
 *
 * Return: MIRROR_RESP_DONE; MIRROR_RESP_NAK_INVALID for a misaligned
 * address; MIRROR_RESP_NAK_ACCESS for a refused range or ODP memory that
 * cannot be had; MIRROR_RESP_STOPPED when @segs is nofault and the page
 * is missing.
 */
enum mirror_resp_verdict mirror_resp_atomic_write(struct mirror_qp *qp,
						  struct mirror_segs *segs,
						  u64 va, u32 rkey, u64 value)
{
	u64 orig;

	if (va & (sizeof(u64) - 1))
		return MIRROR_RESP_NAK_INVALID;
	return mirror_resp_rmw(qp, segs, va, rkey, IB_ACCESS_REMOTE_WRITE,
			       MIRROR_ATOMIC_STORE, value, 0, &orig);
}

/**
 * mirror_resp_flush() - check and carry out a FLUSH
 * @qp: the responding QP (resp_lock held)
 * @va: the RETH's address (a range flush)
 * @rkey: the key: an MR of the QP's PD (never a window)
 * @len: the RETH's length (a range flush; 0 is an empty range)
 * @feth: the FETH's bits: placement type and selectivity level
 *
 * Every WRITE and ATOMIC WRITE the responder ran before the FLUSH was
 * stored by this CPU into the pages the MR names (requests run in order,
 * each to its end), so the data is already where every CPU and device
 * reading memory finds it: global visibility needs a full barrier and no
 * more, on pinned and ODP memory alike. Persistence is not offered (that
 * needs memory known to be persistent): no MR can have its access.
 *
 * Return: MIRROR_RESP_DONE; MIRROR_RESP_NAK_INVALID for a placement type
 * other than global visibility or an unknown selectivity level;
 * MIRROR_RESP_NAK_ACCESS when the QP does not allow FLUSH, or the key
 * names no MR of the QP's PD with FLUSH access (over the whole range of a
 * range flush).
 */
enum mirror_resp_verdict mirror_resp_flush(struct mirror_qp *qp, u64 va,
					   u32 rkey, u32 len, u32 feth)
{
	u32 plt = feth & MIRROR_FETH_PLT_MASK;
	u32 sel = (feth & MIRROR_FETH_SEL_MASK) >> MIRROR_FETH_SEL_SHIFT;
	struct mirror_mr *mr;
	int err = -EINVAL;

	if (plt != MIRROR_FLUSH_GLOBAL || sel > MIRROR_FLUSH_MR)
		return MIRROR_RESP_NAK_INVALID;
	if (!(READ_ONCE(qp->attr.qp_access_flags) &
	      MIRROR_ACCESS_FLUSH_GLOBAL))
		return MIRROR_RESP_NAK_ACCESS;
	mr = mirror_mr_get(to_mirror_dev(qp->ibqp.device), rkey);
	if (!mr)
		return MIRROR_RESP_NAK_ACCESS;
	if (mr->ibmr.pd == qp->ibqp.pd && mr->type != MIRROR_MR_MW)
		err = mirror_mr_check(mr, va,
				      sel == MIRROR_FLUSH_MR ? 0 : len,
				      MIRROR_ACCESS_FLUSH_GLOBAL);
	mirror_mr_put(mr);
	if (err)
		return MIRROR_RESP_NAK_ACCESS;
	smp_mb();	/* the stores before it, before its answer */
	return MIRROR_RESP_DONE;
}

/**
 * mirror_resp_ud() - deliver a datagram to a UD (or GSI) QP
 * @qp: the receiving QP (resp_lock held)
 * @segs: the list to resolve the receive's memory in (emptied on return,
 *	but for MIRROR_RESP_STOPPED: it then names the missing page)
 * @p: the datagram: qkey, sqpn, se, imm/has_imm, and its payload (bytes,
 *	or @p->src)
 * @grh: the 40 bytes that go in front of the payload
 * @net_type: MIRROR_CQE_NET_IPV4 or _IPV6, for the completion
 * @lost: the receive's memory could not be faulted in (same device): a
 *	page still missing is memory that cannot be had, not a stop
 *
 * A wrong Q_Key or no receive posted drops the datagram (counted for the
 * Q_Key), as UD allows.
 *
 * Return: MIRROR_RESP_DONE (delivered or dropped); MIRROR_RESP_STOPPED
 * when @segs is nofault and a page of the receive is missing (the receive
 * stays held for this datagram, or the next); MIRROR_RESP_NAK_OP when the
 * receive was bad (too short, a bad key, memory that cannot be had): it
 * completed with an error and the QP must enter ERR.
 */
enum mirror_resp_verdict mirror_resp_ud(struct mirror_qp *qp,
					struct mirror_segs *segs,
					const struct mirror_pkt *p,
					const u8 *grh, u8 net_type, bool lost)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_cqe cqe = {};
	int err;

	if (p->qkey != READ_ONCE(qp->attr.qkey)) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_QKEY);
		return MIRROR_RESP_DONE;
	}
	err = mirror_resp_hold_recv(qp);
	if (err == -EAGAIN)
		return MIRROR_RESP_DONE;	/* no receive posted: dropped */
	mirror_segs_put(segs);
	if (!err)
		err = mirror_resp_recv_segs(qp, segs, 0, (u64)MIRROR_GRH_BYTES +
					    p->paylen);
	if (!err)
		err = mirror_segs_xfer(segs, 0, (void *)grh, MIRROR_GRH_BYTES,
				       true);
	if (!err && p->paylen)
		err = mirror_resp_payload(segs, MIRROR_GRH_BYTES, p, NULL);
	if (err == -EAGAIN && segs->missed) {
		if (!lost)
			return MIRROR_RESP_STOPPED;
		err = -EFAULT;
	}
	mirror_segs_put(segs);
	if (err) {
		mirror_resp_recv_error(qp, err == -EMSGSIZE ?
				       IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR,
				       p->sqpn);
		return MIRROR_RESP_NAK_OP;
	}
	cqe.opcode = MIRROR_WC_RECV;
	cqe.src_qp = p->sqpn;
	cqe.byte_len = MIRROR_GRH_BYTES + p->paylen;
	cqe.wc_flags = IB_WC_GRH;
	cqe.network_hdr_type = net_type;
	if (p->has_imm) {
		cqe.imm_data = (__force u32)p->imm;
		cqe.wc_flags |= IB_WC_WITH_IMM;
	}
	mirror_resp_recv_done(qp, &cqe, p->se);
	return MIRROR_RESP_DONE;
}

/* The held receive is complete: a SEND or a WRITE with immediate is in. */
static void mirror_resp_msg_in(struct mirror_qp *qp, const struct mirror_pkt *p,
			       u32 src_qp, u8 wc_opcode)
{
	struct mirror_cqe cqe = {
		.opcode = wc_opcode,
		.byte_len = qp->resp.off,
		.src_qp = src_qp,
	};

	if (p->has_imm) {
		cqe.imm_data = (__force u32)p->imm;
		cqe.wc_flags = IB_WC_WITH_IMM;
	}
	if (p->has_inv) {
		cqe.imm_data = p->inv_rkey;	/* the union's invalidate_rkey */
		cqe.wc_flags = MIRROR_CQE_F_WITH_INV;
	}
	mirror_resp_recv_done(qp, &cqe, p->se);
}

/* The message is over (completed or not): the next one may start. */
static void mirror_resp_msg_end(struct mirror_qp *qp)
{
	qp->resp.msg = MIRROR_RESP_IDLE;
	qp->resp.msn++;
}

/*
 * A SEND's payload into the held receive at qp->resp.off. A faulting list
 * (RoCEv2) has a missing page of the receive faulted in with the rest of
 * the receive's chunk from there, not page by page with each packet;
 * beyond the payload only as far as the receive's keys and memory allow
 * (what the message never reaches may be bad without failing it). A
 * nofault list (same device) stops at a missing page instead: -EAGAIN,
 * @segs (or @p->src) naming it, and @segs left filled for the caller.
 */
static int mirror_resp_recv_payload(struct mirror_qp *qp,
				    struct mirror_segs *segs,
				    const struct mirror_pkt *p, u64 *done)
{
	u64 from, ahead, miss;
	int err;

	err = mirror_resp_recv_segs(qp, segs, qp->resp.off, p->paylen);
	if (!err && !segs->nofault &&
	    !mirror_segs_present(segs, 0, p->paylen, true, &miss)) {
		from = qp->resp.off + miss;
		ahead = min_t(u64, qp->resp.len - from, MIRROR_FAULT_CHUNK);
		if (!mirror_resp_recv_segs(qp, segs, from, ahead))
			mirror_segs_fault(segs, 0, ahead, true);
		err = mirror_resp_recv_segs(qp, segs, qp->resp.off, p->paylen);
	}
	/* Faults what is still missing of the payload's own part. */
	if (!err)
		err = mirror_resp_payload(segs, 0, p, done);
	if (err != -EAGAIN || !segs->nofault)
		mirror_segs_put(segs);
	return err;
}

/**
 * mirror_resp_send() - the responder's part of an RC/UC SEND
 * @qp: the responding QP (resp_lock held)
 * @segs: the list to resolve the receive's memory in: faulting (RoCEv2)
 *	or nofault (same device)
 * @p: the request: a SEND packet (FIRST, MIDDLE, LAST or ONLY), or the
 *	rest of a same-device message as an ONLY (nothing of it in yet) or
 *	a LAST (it resumes at qp->resp.off) with its payload in @p->src
 * @src_qp: the requester's QPN, for the receive's completion
 * @lost: the receive's memory could not be faulted in (same device)
 *
 * The message's state (which receive it fills, how far) is the
 * responder's, qp->resp: a packet that does not continue it, or a
 * message longer than its receive, is refused.
 *
 * Return: MIRROR_RESP_DONE; MIRROR_RESP_RNR (no receive posted);
 * MIRROR_RESP_NAK_INVALID or _OP (the receive, if one was held, completed
 * in error); MIRROR_RESP_STOPPED when a nofault list met a missing page:
 * qp->resp.off says how far the message got, @segs or @p->src where the
 * page is.
 */
enum mirror_resp_verdict mirror_resp_send(struct mirror_qp *qp,
					  struct mirror_segs *segs,
					  const struct mirror_pkt *p,
					  u32 src_qp, bool lost)
{
	bool first = p->op == MIRROR_OP_SEND_FIRST ||
		     p->op == MIRROR_OP_SEND_ONLY ||
		     p->op == MIRROR_OP_SEND_ONLY_IMM ||
		     p->op == MIRROR_OP_SEND_ONLY_INV;
	bool last = p->op != MIRROR_OP_SEND_FIRST &&
		    p->op != MIRROR_OP_SEND_MIDDLE;
	enum mirror_resp_verdict v;
	u64 done = 0;
	int err = 0;

	lockdep_assert_held(&qp->resp_lock);
	if (first) {
		if (qp->resp.msg == MIRROR_RESP_SEND ||
		    qp->resp.msg == MIRROR_RESP_WRITE)
			return MIRROR_RESP_NAK_INVALID;
		v = mirror_resp_need_recv(qp, src_qp);
		if (v != MIRROR_RESP_DONE)
			return v;
		qp->resp.off = 0;
		qp->resp.msg = MIRROR_RESP_SEND;
	} else if (qp->resp.msg != MIRROR_RESP_SEND) {
		return MIRROR_RESP_NAK_INVALID;
	}
	/* A middle packet shorter than the MTU breaks the message too. */
	v = mirror_resp_recv_fits(qp, !last && p->paylen != mirror_qp_mtu(qp) ?
				  U64_MAX : (u64)qp->resp.off + p->paylen,
				  src_qp);
	if (v != MIRROR_RESP_DONE) {
		qp->resp.msg = MIRROR_RESP_IDLE;
		return v;
	}
	if (lost)
		err = -EFAULT;
	else if (p->paylen)
		err = mirror_resp_recv_payload(qp, segs, p, &done);
	if (err == -EAGAIN && segs->nofault) {
		qp->resp.off += done;
		return MIRROR_RESP_STOPPED;
	}
	if (err) {
		/* A receive buffer whose key or ODP memory went away. */
		mirror_resp_recv_error(qp, IB_WC_LOC_PROT_ERR, src_qp);
		qp->resp.msg = MIRROR_RESP_IDLE;
		return MIRROR_RESP_NAK_OP;
	}
	qp->resp.off += p->paylen;
	if (!last)
		return MIRROR_RESP_DONE;
	/*
	 * SEND with Invalidate: the key must name a fast-registration MR of
	 * this QP's PD, registered now, or a type 2 window bound through
	 * this QP; it is invalid before the receive completes, so that its
	 * consumer may free the pages at once.
	 */
	if (p->has_inv) {
		struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);

		if (mirror_key_invalidate(qp, p->inv_rkey, true)) {
			mirror_resp_recv_error(qp, IB_WC_REM_INV_REQ_ERR,
					       src_qp);
			qp->resp.msg = MIRROR_RESP_IDLE;
			return MIRROR_RESP_NAK_INVALID;
		}
		mirror_count(dev, MIRROR_CNT_REMOTE_INV);
	}
	mirror_resp_msg_in(qp, p, src_qp, MIRROR_WC_RECV);
	mirror_resp_msg_end(qp);
	return MIRROR_RESP_DONE;
}

/*
 * A WRITE's payload into the range at qp->resp.va + qp->resp.off, @left
 * bytes of which remain: the key is checked for all of them at every
 * packet or step; a faulting list has ODP memory faulted a chunk ahead
 * (the first with the first packet, so that a WRITE to memory that cannot
 * be had is refused before anything lands). A nofault list stops at a
 * missing page: -EAGAIN, @segs left filled for the caller.
 */
static int mirror_resp_write_payload(struct mirror_qp *qp,
				     struct mirror_segs *segs,
				     const struct mirror_pkt *p, u32 left,
				     u64 *done)
{
	int err = 0;

	if (mirror_resp_target(qp, segs, qp->resp.va + qp->resp.off,
			       qp->resp.rkey, left, IB_ACCESS_REMOTE_WRITE) !=
	    MIRROR_RESP_DONE)
		err = -EACCES;
	if (!err && !segs->nofault && qp->resp.off % MIRROR_FAULT_CHUNK == 0)
		err = mirror_segs_fault(segs, 0,
					min_t(u32, left, MIRROR_FAULT_CHUNK),
					true);
	if (!err && p->paylen)
		err = mirror_resp_payload(segs, 0, p, done);
	if (err != -EAGAIN || !segs->nofault)
		mirror_segs_put(segs);
	return err;
}

/**
 * mirror_resp_write() - the responder's part of an RC/UC RDMA WRITE
 * @qp: the responding QP (resp_lock held)
 * @segs: the list to resolve the remote range in: faulting (RoCEv2) or
 *	nofault (same device)
 * @p: the request: a WRITE packet (FIRST with va, rkey and dma_len;
 *	MIDDLE, LAST or ONLY), or the rest of a same-device message as an
 *	ONLY or a LAST (resuming at qp->resp.off), payload in @p->src
 * @src_qp: the requester's QPN, for the completion of an immediate
 * @lost: the range's ODP memory could not be faulted in (same device)
 *
 * The data goes first: a WRITE with immediate that finds no receive is
 * answered RNR and sent again, rewriting the same bytes.
 *
 * Return: MIRROR_RESP_DONE; MIRROR_RESP_RNR; MIRROR_RESP_NAK_INVALID (a
 * packet that does not continue the message, lengths that do not add
 * up), _ACCESS (refused range, memory that cannot be had) or _OP (a bad
 * receive for the immediate); MIRROR_RESP_STOPPED when a nofault list met
 * a missing page (qp->resp.off says how far the message got).
 */
enum mirror_resp_verdict mirror_resp_write(struct mirror_qp *qp,
					   struct mirror_segs *segs,
					   const struct mirror_pkt *p,
					   u32 src_qp, bool lost)
{
	bool first = p->op == MIRROR_OP_WRITE_FIRST ||
		     p->op == MIRROR_OP_WRITE_ONLY ||
		     p->op == MIRROR_OP_WRITE_ONLY_IMM;
	bool last = p->op != MIRROR_OP_WRITE_FIRST &&
		    p->op != MIRROR_OP_WRITE_MIDDLE;
	enum mirror_resp_verdict v;
	u64 done = 0;
	u32 left;
	int err;

	lockdep_assert_held(&qp->resp_lock);
	if (first) {
		if (qp->resp.msg == MIRROR_RESP_SEND ||
		    qp->resp.msg == MIRROR_RESP_WRITE)
			return MIRROR_RESP_NAK_INVALID;
		if (!(READ_ONCE(qp->attr.qp_access_flags) &
		      IB_ACCESS_REMOTE_WRITE))
			return MIRROR_RESP_NAK_ACCESS;
		qp->resp.rkey = p->rkey;
		qp->resp.va = p->va;
		qp->resp.wlen = p->dma_len;
		qp->resp.off = 0;
	} else if (qp->resp.msg != MIRROR_RESP_WRITE) {
		return MIRROR_RESP_NAK_INVALID;
	}
	if ((!last && p->paylen != mirror_qp_mtu(qp)) ||
	    (u64)qp->resp.off + p->paylen > qp->resp.wlen ||
	    (last && qp->resp.off + p->paylen != qp->resp.wlen))
		return MIRROR_RESP_NAK_INVALID;
	left = qp->resp.wlen - qp->resp.off;
	if (left) {
		err = lost ? -EFAULT :
			     mirror_resp_write_payload(qp, segs, p, left, &done);
		if (err == -EAGAIN && segs->nofault) {
			qp->resp.off += done;
			qp->resp.msg = MIRROR_RESP_WRITE;
			return MIRROR_RESP_STOPPED;
		}
		if (err) {
			qp->resp.msg = MIRROR_RESP_IDLE;
			return MIRROR_RESP_NAK_ACCESS;
		}
	}
	qp->resp.msg = MIRROR_RESP_WRITE;
	if (last && p->has_imm) {
		v = mirror_resp_need_recv(qp, src_qp);
		if (v != MIRROR_RESP_DONE) {
			if (first)
				qp->resp.msg = MIRROR_RESP_IDLE;
			return v;
		}
	}
	qp->resp.off += p->paylen;
	if (!last)
		return MIRROR_RESP_DONE;
	if (p->has_imm)
		mirror_resp_msg_in(qp, p, src_qp,
				   MIRROR_WC_RECV_RDMA_WITH_IMM);
	mirror_resp_msg_end(qp);
	return MIRROR_RESP_DONE;
}
