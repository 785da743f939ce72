// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_engine.c - the requester and the responder of user QPs, for
 * traffic between QPs of the same device (the short-circuit path; the
 * RoCEv2 wire path plugs in beside it).
 *
 * The requester runs in the QP's work item (process context, so memory
 * access may sleep), drains the SQ ring one WQE at a time and, for each,
 * runs the responder of the destination QP directly under that QP's
 * resp_lock. Per WQE the requester walks explicit states:
 *
 *   FETCH -> LOCAL (check opcode, resolve local memory) -> ROUTE (find the
 *   destination) -> EXECUTE (the responder) -> COMPLETE
 *                  \-> RNR_WAIT (no receive posted: retry after the timer)
 *
 * Locking: state_lock -> req_lock -> resp_lock (of any QP). The requester
 * never takes a state_lock while holding req_lock; a QP that must enter
 * ERR does so after the locks are dropped (mirror_qp_enter_err()).
 */
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>

#include "mirror.h"


/* Outcome of one WQE. */
enum mirror_req_state {
	MIRROR_REQ_FETCH,
	MIRROR_REQ_LOCAL,
	MIRROR_REQ_ROUTE,
	MIRROR_REQ_EXECUTE,
	MIRROR_REQ_COMPLETE,
	MIRROR_REQ_RNR_WAIT,
};

/**
 * struct mirror_req_ctx - what the states of one WQE share
 * @qp: the requester's QP
 * @wqe: the WQE (a copy out of the ring)
 * @dest: the destination QP (a reference is held), or NULL
 * @status: the completion status for the requester
 * @byte_len: bytes for the completion
 * @rnr_delay: jiffies to wait before retrying after an RNR
 * @dest_err: the destination QP must enter ERR afterwards
 * @dgid: destination GID
 * @sgid_index: source GID index (UD)
 * @dqpn: destination QP number
 * @qkey: Q_Key of a UD send
 * @av: the AH's address vector (UD)
 */
struct mirror_req_ctx {
	struct mirror_qp *qp;
	struct mirror_send_wqe *wqe;
	struct mirror_qp *dest;
	enum ib_wc_status status;
	u32 byte_len;
	unsigned long rnr_delay;
	bool dest_err;
	union ib_gid dgid;
	u8 sgid_index;
	u32 dqpn;
	u32 qkey;
	struct rdma_ah_attr av;
};

/* RNR timer values of the IB spec (table 45), in microseconds. */
static const u32 mirror_rnr_usecs[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

/**
 * mirror_rnr_jiffies() - the wait an RNR timer code asks for
 * @timer: the 5-bit code (min_rnr_timer, or an RNR NAK's)
 *
 * Return: jiffies, at least 1.
 */
unsigned long mirror_rnr_jiffies(u8 timer)
{
	return max(usecs_to_jiffies(mirror_rnr_usecs[timer & 31]), 1UL);
}

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
	default:
		return MIRROR_WC_SEND;
	}
}

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
		return type == IB_QPT_RC;
	default:
		/* Memory windows, LSO and the rest are not offered. */
		return false;
	}
}

bool mirror_gid_is_local(struct mirror_dev *dev, const union ib_gid *gid)
{
	const struct ib_gid_attr *attr;

	attr = rdma_find_gid_by_port(&dev->ib_dev, gid,
				     IB_GID_TYPE_ROCE_UDP_ENCAP, 1, NULL);
	if (IS_ERR(attr))
		return false;
	rdma_put_gid_attr(attr);
	return true;
}

/* Posts a completion for the QP's send or receive side. */
void mirror_complete(struct mirror_qp *qp, bool recv,
		     const struct mirror_cqe *cqe, bool solicited)
{
	struct ib_cq *ibcq = recv ? qp->ibqp.recv_cq : qp->ibqp.send_cq;

	mirror_cq_post(to_mirror_cq(ibcq), cqe, solicited);
}

/* Moves @qp to ERR (flushing it) unless it is there already. */
void mirror_qp_enter_err(struct mirror_qp *qp)
{
	mutex_lock(&qp->state_lock);
	if (qp->state != MIRROR_QPS_ERR) {
		WRITE_ONCE(qp->state, MIRROR_QPS_ERR);
		mirror_qp_flush(qp);
		mirror_qp_last_wqe_event(qp);
	}
	mutex_unlock(&qp->state_lock);
}

/* ---------------------------------------------------------------------- */
/* Responder */

/*
 * Takes the next receive WQE of @dest (from its SRQ, if it has one) and
 * resolves its buffers into dest->resp_recv. Return: 0, -EAGAIN when none
 * is posted, or the error of the buffer check (the WQE is then consumed).
 */
int mirror_resp_take_recv(struct mirror_qp *dest, u64 *wr_id)
{
	struct mirror_dev *dev = to_mirror_dev(dest->ibqp.device);
	struct ib_srq *ibsrq = dest->ibqp.srq;
	struct mirror_queue *q = &dest->rq;
	struct mirror_sge *sge = dest->resp_sge;
	struct ib_pd *pd = dest->ibqp.pd;
	struct mirror_recv_wqe wqe;
	u32 avail, i, max_sge;
	int err = 0;

	lockdep_assert_held(&dest->resp_lock);
	mirror_segs_put(&dest->resp_recv);
	if (ibsrq) {
		/* The SRQ's PD covers the buffers of its receives. */
		pd = ibsrq->pd;
		err = mirror_srq_take(to_mirror_srq(ibsrq), &wqe, sge);
		if (err == -EAGAIN || err == -EIO)
			return err;
		*wr_id = wqe.wr_id;
	} else {
		avail = READ_ONCE(q->hdr->producer) - dest->rq_cons;
		if (!avail)
			return -EAGAIN;
		if (avail > q->num_slots)
			return -EIO;	/* user space broke its ring */
		memcpy(&wqe, mirror_queue_slot(q, dest->rq_cons), sizeof(wqe));
		*wr_id = wqe.wr_id;
		max_sge = min_t(u32, dest->attr.cap.max_recv_sge,
				(q->stride - sizeof(wqe)) / sizeof(*sge));
		if (wqe.num_sge > max_sge)
			err = -E2BIG;
		else
			memcpy(sge, mirror_queue_slot(q, dest->rq_cons) +
			       sizeof(wqe), wqe.num_sge * sizeof(*sge));
		dest->rq_cons++;
		smp_store_release(&q->hdr->consumer, dest->rq_cons);
	}
	for (i = 0; !err && i < wqe.num_sge; i++)
		err = mirror_segs_add(&dest->resp_recv, dev, pd, sge[i].lkey,
				      sge[i].addr, sge[i].length,
				      IB_ACCESS_LOCAL_WRITE);
	return err;
}

/* Completes a receive of @dest with an error; @dest then enters ERR. */
static void mirror_resp_recv_error(struct mirror_req_ctx *c, u64 wr_id,
				   enum ib_wc_status status)
{
	struct mirror_cqe cqe = {
		.wr_id = wr_id,
		.status = status,
		.opcode = MIRROR_WC_RECV,
		.qp_num = c->dest->ibqp.qp_num,
		.src_qp = c->qp->ibqp.qp_num,
	};

	mirror_complete(c->dest, true, &cqe, false);
	c->dest_err = true;
}

/*
 * A copy into a receive failed: an ODP page could not be faulted in.
 * When the receive buffer is at fault the receive completes with a
 * protection error and an RC sender learns of a remote operational error
 * (as for a bad receive lkey); when the sender's memory went away under
 * the transfer the sender gets the protection error and the receive, which
 * holds part of a message, completes as aborted by the remote.
 */
static void mirror_resp_copy_error(struct mirror_req_ctx *c, u64 wr_id)
{
	bool rc = c->qp->ibqp.qp_type == IB_QPT_RC;

	if (c->dest->resp_recv.failed) {
		mirror_resp_recv_error(c, wr_id, IB_WC_LOC_PROT_ERR);
		if (rc)
			c->status = IB_WC_REM_OP_ERR;
	} else {
		mirror_resp_recv_error(c, wr_id, IB_WC_REM_ABORT_ERR);
		c->status = IB_WC_LOC_PROT_ERR;
	}
}

/*
 * Fills the 40 bytes in front of a UD receive the way a RoCEv2 device
 * does: for IPv4 the IPv4 header sits in the last 20 bytes (what
 * ib_get_gids_from_rdma_hdr() and ibv_init_ah_from_wc() parse), for IPv6
 * the bytes are the IPv6 header. Returns the mirror_cqe_net value.
 */
static u8 mirror_resp_build_grh(struct mirror_req_ctx *c, u8 *buf, u32 len)
{
	struct mirror_dev *dev = to_mirror_dev(c->qp->ibqp.device);
	struct ib_grh *grh = (struct ib_grh *)buf;
	struct iphdr *iph = (struct iphdr *)(buf + MIRROR_GRH_BYTES -
					     sizeof(*iph));
	/* UDP, BTH, DETH and ICRC around the payload on the wire */
	u32 wire = sizeof(struct udphdr) + 12 + 8 + len + 4;
	union ib_gid sgid;

	memset(buf, 0, MIRROR_GRH_BYTES);
	if (rdma_query_gid(&dev->ib_dev, 1, c->sgid_index, &sgid))
		sgid = c->dgid;
	if (ipv6_addr_v4mapped((struct in6_addr *)c->dgid.raw)) {
		iph->version = 4;
		iph->ihl = 5;
		iph->tot_len = htons(sizeof(*iph) + wire);
		iph->ttl = 64;
		iph->protocol = IPPROTO_UDP;
		memcpy(&iph->saddr, sgid.raw + 12, 4);
		memcpy(&iph->daddr, c->dgid.raw + 12, 4);
		iph->check = ip_fast_csum(iph, iph->ihl);
		return MIRROR_CQE_NET_IPV4;
	}
	grh->version_tclass_flow = cpu_to_be32(6U << 28);
	grh->paylen = cpu_to_be16(wire);
	grh->next_hdr = IPPROTO_UDP;
	grh->hop_limit = 64;
	grh->sgid = sgid;
	grh->dgid = c->dgid;
	return MIRROR_CQE_NET_IPV6;
}

/*
 * Delivers a SEND (or SEND_WITH_IMM) to c->dest. Returns false when the
 * destination has no receive posted (RNR).
 */
static bool mirror_resp_send(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	enum ib_qp_type type = qp->ibqp.qp_type;
	u32 len = qp->req_local.total;
	u32 hdr = mirror_type_is_ud(type) ? MIRROR_GRH_BYTES : 0;
	struct mirror_cqe cqe = {};
	u8 grh[MIRROR_GRH_BYTES];
	u64 wr_id = 0;
	int err;

	if (hdr && c->qkey != READ_ONCE(dest->attr.qkey))
		return true;	/* silently dropped, as on the wire */

	err = mirror_resp_take_recv(dest, &wr_id);
	if (err == -EAGAIN) {
		if (type == IB_QPT_RC)
			return false;
		return true;	/* UC/UD: dropped */
	}
	if (err) {
		mirror_resp_recv_error(c, wr_id, IB_WC_LOC_PROT_ERR);
		if (type == IB_QPT_RC)
			c->status = IB_WC_REM_OP_ERR;
		return true;
	}
	if (dest->resp_recv.total < (u64)len + hdr) {
		mirror_resp_recv_error(c, wr_id, IB_WC_LOC_LEN_ERR);
		if (type == IB_QPT_RC)
			c->status = IB_WC_REM_INV_REQ_ERR;
		return true;
	}
	if (hdr) {
		cqe.network_hdr_type = mirror_resp_build_grh(c, grh, len);
		err = mirror_segs_write_kbuf(&dest->resp_recv, grh,
					     sizeof(grh));
		cqe.wc_flags |= IB_WC_GRH;
	}
	if (!err)
		err = mirror_segs_copy(&dest->resp_recv, hdr, &qp->req_local,
				       len);
	if (err) {
		mirror_resp_copy_error(c, wr_id);
		return true;
	}

	cqe.wr_id = wr_id;
	cqe.status = IB_WC_SUCCESS;
	cqe.opcode = MIRROR_WC_RECV;
	cqe.byte_len = len + hdr;
	cqe.qp_num = dest->ibqp.qp_num;
	cqe.src_qp = qp->ibqp.qp_num;
	if (c->wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM) {
		cqe.imm_data = c->wqe->imm_data;
		cqe.wc_flags |= IB_WC_WITH_IMM;
	}
	mirror_complete(dest, true, &cqe,
			c->wqe->send_flags & IB_SEND_SOLICITED);
	return true;
}

/*
 * Resolves the remote range of an RDMA WRITE/READ at the destination into
 * qp->req_remote: the destination QP must allow @access, and the rkey
 * must name an MR of its PD that allows it over the whole range.
 */
static int mirror_resp_remote(struct mirror_req_ctx *c, int access)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;

	int err;

	mirror_segs_put(&qp->req_remote);
	if (!(READ_ONCE(dest->attr.qp_access_flags) & access))
		return -EACCES;
	err = mirror_segs_add(&qp->req_remote, to_mirror_dev(qp->ibqp.device),
			      dest->ibqp.pd, c->wqe->wr.rdma.rkey,
			      c->wqe->wr.rdma.remote_addr, qp->req_local.total,
			      access);
	if (err)
		return err;
	/* ODP: the remote pages must be there (and writable) first. */
	return mirror_segs_fault(&qp->req_remote,
				 access & IB_ACCESS_REMOTE_WRITE);
}

/* RDMA WRITE (with immediate). Returns false on RNR. */
static bool mirror_resp_write(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	bool imm = c->wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	u32 len = qp->req_local.total;
	struct mirror_cqe cqe = {};
	u64 wr_id = 0;
	int err;

	err = mirror_resp_remote(c, IB_ACCESS_REMOTE_WRITE);
	if (err) {
		if (rc)
			c->status = IB_WC_REM_ACCESS_ERR;
		return true;	/* UC: dropped */
	}
	if (imm) {
		err = mirror_resp_take_recv(dest, &wr_id);
		if (err == -EAGAIN)
			return !rc;	/* RC: RNR; UC: dropped */
		if (err) {
			mirror_resp_recv_error(c, wr_id, IB_WC_LOC_PROT_ERR);
			if (rc)
				c->status = IB_WC_REM_OP_ERR;
			return true;
		}
	}
	err = mirror_segs_copy(&qp->req_remote, 0, &qp->req_local, len);
	if (err) {
		/* The memory of one side went away during the transfer. */
		c->status = qp->req_remote.failed ? IB_WC_REM_ACCESS_ERR :
						    IB_WC_LOC_PROT_ERR;
		if (imm)
			mirror_resp_recv_error(c, wr_id, IB_WC_REM_ABORT_ERR);
		return true;
	}
	if (imm) {
		cqe.wr_id = wr_id;
		cqe.status = IB_WC_SUCCESS;
		cqe.opcode = MIRROR_WC_RECV_RDMA_WITH_IMM;
		cqe.byte_len = len;
		cqe.qp_num = dest->ibqp.qp_num;
		cqe.src_qp = qp->ibqp.qp_num;
		cqe.imm_data = c->wqe->imm_data;
		cqe.wc_flags = IB_WC_WITH_IMM;
		mirror_complete(dest, true, &cqe,
				c->wqe->send_flags & IB_SEND_SOLICITED);
	}
	return true;
}

/* RDMA READ: the remote range lands in the local (writable) buffers. */
static void mirror_resp_read(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	u32 len = qp->req_local.total;
	int err;

	err = mirror_resp_remote(c, IB_ACCESS_REMOTE_READ);
	if (err) {
		c->status = IB_WC_REM_ACCESS_ERR;
		return;
	}
	err = mirror_segs_copy(&qp->req_local, 0, &qp->req_remote, len);
	if (err) {
		c->status = qp->req_remote.failed ? IB_WC_REM_ACCESS_ERR :
						    IB_WC_LOC_PROT_ERR;
		return;
	}
	c->byte_len = len;
}

/*
 * Compare-and-swap or fetch-and-add on 8 aligned bytes at the destination;
 * the value found there lands in the local buffer.
 */
static void mirror_resp_atomic(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_send_wqe *wqe = c->wqe;
	u64 orig;
	int err;

	/* A misaligned atomic is an invalid request (IBA 9.4.5). */
	if (wqe->wr.atomic.remote_addr & (sizeof(u64) - 1)) {
		c->status = IB_WC_REM_INV_REQ_ERR;
		return;
	}
	mirror_segs_put(&qp->req_remote);
	err = -EACCES;
	if (READ_ONCE(dest->attr.qp_access_flags) & IB_ACCESS_REMOTE_ATOMIC)
		err = mirror_segs_add(&qp->req_remote, dev, dest->ibqp.pd,
				      wqe->wr.atomic.rkey,
				      wqe->wr.atomic.remote_addr, sizeof(u64),
				      IB_ACCESS_REMOTE_ATOMIC);
	if (!err)
		err = mirror_segs_fault(&qp->req_remote, true);
	if (err) {
		c->status = IB_WC_REM_ACCESS_ERR;
		return;
	}
	mutex_lock(&dev->atomic_lock);
	err = mirror_segs_atomic(&qp->req_remote,
				 wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP,
				 wqe->wr.atomic.compare_add,
				 wqe->wr.atomic.swap, &orig);
	mutex_unlock(&dev->atomic_lock);
	if (err) {
		c->status = qp->req_remote.failed ? IB_WC_REM_ACCESS_ERR :
						    IB_WC_REM_OP_ERR;
		return;
	}
	if (mirror_segs_write_kbuf(&qp->req_local, &orig, sizeof(orig))) {
		c->status = IB_WC_LOC_PROT_ERR;
		return;
	}
	c->byte_len = sizeof(orig);
}

/* ---------------------------------------------------------------------- */
/* Requester states */

/* LOCAL: the opcode fits the QP and the local buffers are ours. */
/**
 * mirror_wqe_local() - check a send WQE and resolve its local memory
 * @qp: the QP (req_lock held)
 * @wqe: the WQE, copied out of the ring
 *
 * Fills qp->req_local with the WQE's buffers (writable ones for READ
 * and atomics).
 *
 * Return: IB_WC_SUCCESS, or the completion status of a WQE that cannot run.
 */
enum ib_wc_status mirror_wqe_local(struct mirror_qp *qp,
				   struct mirror_send_wqe *wqe)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 room = qp->sq.stride - sizeof(*wqe);
	bool atomic = mirror_is_atomic(wqe->opcode);
	bool read = wqe->opcode == IB_UVERBS_WR_RDMA_READ || atomic;
	struct mirror_sge *sge = (struct mirror_sge *)(wqe + 1);
	u32 i;
	int err = 0;

	mirror_segs_put(&qp->req_local);
	if (!mirror_opcode_ok(qp->ibqp.qp_type, wqe->opcode))
		return IB_WC_LOC_QP_OP_ERR;
	if (wqe->flags & MIRROR_WQE_F_INLINE) {
		if (read || wqe->inline_len > qp->max_inline ||
		    wqe->inline_len > room)
			return IB_WC_LOC_LEN_ERR;
		mirror_segs_add_kbuf(&qp->req_local, wqe + 1, wqe->inline_len);
		return IB_WC_SUCCESS;
	}
	if (wqe->num_sge > qp->attr.cap.max_send_sge ||
	    wqe->num_sge > room / sizeof(*sge))
		return IB_WC_LOC_LEN_ERR;
	for (i = 0; i < wqe->num_sge && !err; i++)
		err = mirror_segs_add(&qp->req_local, dev, qp->ibqp.pd,
				      sge[i].lkey, sge[i].addr, sge[i].length,
				      read ? IB_ACCESS_LOCAL_WRITE : 0);
	if (err)
		return err == -E2BIG ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
	if (atomic && qp->req_local.total != sizeof(u64))
		return IB_WC_LOC_LEN_ERR;
	if (qp->req_local.total > (1ULL << 31) ||
	    (mirror_type_is_ud(qp->ibqp.qp_type) &&
	     qp->req_local.total > mirror_dev_mtu(dev)))
		return IB_WC_LOC_LEN_ERR;
	/* ODP: the local pages must be there (writable for READ/atomics). */
	if (mirror_segs_fault(&qp->req_local, read))
		return IB_WC_LOC_PROT_ERR;
	return IB_WC_SUCCESS;
}

/* LOCAL: the opcode fits the QP and the local buffers are ours. */
static enum mirror_req_state mirror_req_local(struct mirror_req_ctx *c)
{
	c->status = mirror_wqe_local(c->qp, c->wqe);
	return c->status == IB_WC_SUCCESS ? MIRROR_REQ_ROUTE :
					    MIRROR_REQ_COMPLETE;
}

/* ROUTE: find the destination QP on this device. */
static enum mirror_req_state mirror_req_route(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	enum ib_qp_type type = qp->ibqp.qp_type;
	struct mirror_av *av;
	enum mirror_qp_state ds;

	if (mirror_type_is_ud(type)) {
		rcu_read_lock();
		av = xa_load(&dev->av_xa, c->wqe->wr.ud.ah_num);
		if (av) {
			c->av = av->attr;
			c->dgid = av->attr.grh.dgid;
			c->sgid_index = av->attr.grh.sgid_index;
		}
		rcu_read_unlock();
		if (!av) {
			c->status = IB_WC_LOC_QP_OP_ERR;
			return MIRROR_REQ_COMPLETE;
		}
		c->dqpn = c->wqe->wr.ud.remote_qpn & 0xffffff;
		c->qkey = c->wqe->wr.ud.remote_qkey;
		if (c->qkey & 0x80000000)	/* use the QP's own Q_Key */
			c->qkey = READ_ONCE(qp->attr.qkey);
	} else {
		c->dgid = qp->attr.ah_attr.grh.dgid;
		c->dqpn = qp->attr.dest_qp_num;
	}

	if (!mirror_gid_is_local(dev, &c->dgid)) {
		/*
		 * Over RoCEv2. (RC/UC QPs with remote peers never get here:
		 * their requester is mirror_wire_requester().) A datagram
		 * that cannot leave is lost, as UD allows.
		 */
		if (mirror_type_is_ud(type))
			mirror_wire_send_ud(qp, c->wqe, &c->av, c->dqpn,
					    c->qkey);
		else if (type == IB_QPT_RC)
			c->status = IB_WC_RETRY_EXC_ERR;
		return MIRROR_REQ_COMPLETE;
	}
	/*
	 * On this device: RC reports a missing peer the way a dead link
	 * does, UC and UD lose the message.
	 */
	dest = mirror_qp_get(dev, c->dqpn);
	if (dest) {
		ds = READ_ONCE(dest->state);
		if (dest->ibqp.qp_type != type ||
		    ds < MIRROR_QPS_RTR || ds == MIRROR_QPS_ERR) {
			mirror_qp_put(dest);
			dest = NULL;
		}
	}
	if (!dest) {
		if (type == IB_QPT_RC)
			c->status = IB_WC_RETRY_EXC_ERR;
		return MIRROR_REQ_COMPLETE;
	}
	c->dest = dest;
	return MIRROR_REQ_EXECUTE;
}

/* EXECUTE: run the destination's responder. */
static enum mirror_req_state mirror_req_execute(struct mirror_req_ctx *c)
{
	struct mirror_qp *dest = c->dest;
	bool done = true;
	u8 timer;

	mutex_lock(&dest->resp_lock);
	switch (c->wqe->opcode) {
	case IB_UVERBS_WR_SEND:
	case IB_UVERBS_WR_SEND_WITH_IMM:
		done = mirror_resp_send(c);
		break;
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		done = mirror_resp_write(c);
		break;
	case IB_UVERBS_WR_RDMA_READ:
		mirror_resp_read(c);
		break;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		mirror_resp_atomic(c);
		break;
	}
	mirror_segs_put(&dest->resp_recv);
	timer = READ_ONCE(dest->attr.min_rnr_timer) & 31;
	mutex_unlock(&dest->resp_lock);
	if (!done) {
		c->rnr_delay = mirror_rnr_jiffies(timer);
		return MIRROR_REQ_RNR_WAIT;
	}
	return MIRROR_REQ_COMPLETE;
}

/* RNR_WAIT: retry later, or give up when the retries are spent. */
static bool mirror_req_rnr(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	u8 retry = READ_ONCE(qp->attr.rnr_retry);

	if (qp->rnr_left == MIRROR_RNR_NOT_STARTED)
		qp->rnr_left = retry;
	if (retry != 7) {	/* 7 means retry forever */
		if (!qp->rnr_left) {
			c->status = IB_WC_RNR_RETRY_EXC_ERR;
			return false;
		}
		qp->rnr_left--;
	}
	queue_delayed_work(to_mirror_dev(qp->ibqp.device)->wq, &qp->req_work,
			   c->rnr_delay);
	return true;
}

/*
 * Runs one WQE through the states. Returns false when the requester must
 * stop (RNR wait) without consuming the WQE.
 */
static bool mirror_req_one(struct mirror_req_ctx *c)
{
	enum mirror_req_state state = MIRROR_REQ_LOCAL;

	while (state != MIRROR_REQ_COMPLETE) {
		switch (state) {
		case MIRROR_REQ_LOCAL:
			state = mirror_req_local(c);
			break;
		case MIRROR_REQ_ROUTE:
			state = mirror_req_route(c);
			break;
		case MIRROR_REQ_EXECUTE:
			state = mirror_req_execute(c);
			break;
		case MIRROR_REQ_RNR_WAIT:
			if (mirror_req_rnr(c))
				return false;
			state = MIRROR_REQ_COMPLETE;
			break;
		default:
			WARN_ON_ONCE(1);
			c->status = IB_WC_GENERAL_ERR;
			state = MIRROR_REQ_COMPLETE;
			break;
		}
	}
	return true;
}

/**
 * mirror_qp_req_work() - the requester, run from the QP's work item
 * @work: the QP's req_work
 */
void mirror_qp_req_work(struct work_struct *work)
{
	struct mirror_qp *qp = container_of(to_delayed_work(work),
					    struct mirror_qp, req_work);

	/* An RNR wait on the wire ends when this work runs. */
	mutex_lock(&qp->req_lock);
	qp->rnr_wait = false;
	mutex_unlock(&qp->req_lock);
	mirror_qp_requester(qp);
}

/**
 * mirror_qp_requester() - the requester of a QP
 * @qp: the QP
 *
 * Runs in process context: from the doorbell system call of the posting
 * process, or from the QP's work item (after an RNR wait, or on RTS).
 *
 * Drains the SQ ring while the QP is in RTS. A failed WQE completes with
 * its error and moves the QP to ERR, which flushes the rest; in ERR, every
 * doorbell flushes what was posted since (receives included).
 */
void mirror_qp_requester(struct mirror_qp *qp)
{
	struct mirror_qp *dest_err = NULL;
	bool qp_err = false;

	if (READ_ONCE(qp->state) == MIRROR_QPS_ERR) {
		/* WRs posted in ERR complete at once with WR_FLUSH_ERR. */
		mutex_lock(&qp->state_lock);
		if (qp->state == MIRROR_QPS_ERR)
			mirror_qp_flush(qp);
		mutex_unlock(&qp->state_lock);
		return;
	}
	if (qp->wire) {
		mirror_wire_requester(qp);
		return;
	}
	mutex_lock(&qp->req_lock);
	while (READ_ONCE(qp->state) == MIRROR_QPS_RTS) {
		struct mirror_req_ctx c = {
			.qp = qp,
			.wqe = qp->wqe,
			.status = IB_WC_SUCCESS,
		};
		u32 avail = READ_ONCE(qp->sq.hdr->producer) - qp->sq_cons;
		struct mirror_cqe cqe = {};
		bool done;

		if (!avail)
			break;
		if (avail > qp->sq.num_slots) {	/* a broken ring */
			qp_err = true;
			break;
		}
		/* FETCH: copy first, so user space cannot change it under us. */
		memcpy(qp->wqe, mirror_queue_slot(&qp->sq, qp->sq_cons),
		       qp->sq.stride);
		done = mirror_req_one(&c);
		mirror_segs_put(&qp->req_local);
		mirror_segs_put(&qp->req_remote);
		if (c.dest) {
			if (c.dest_err && !dest_err) {
				dest_err = c.dest;	/* keep the reference */
			} else {
				mirror_qp_put(c.dest);
			}
		}
		if (!done)
			break;

		qp->rnr_left = MIRROR_RNR_NOT_STARTED;
		if (c.status != IB_WC_SUCCESS || qp->sq_sig_all ||
		    (c.wqe->send_flags & IB_SEND_SIGNALED)) {
			cqe.wr_id = c.wqe->wr_id;
			cqe.status = c.status;
			cqe.opcode = mirror_wc_opcode(c.wqe->opcode);
			cqe.byte_len = c.byte_len;
			cqe.qp_num = qp->ibqp.qp_num;
			mirror_complete(qp, false, &cqe, false);
		}
		qp->sq_cons++;
		smp_store_release(&qp->sq.hdr->consumer, qp->sq_cons);
		if (c.status != IB_WC_SUCCESS) {
			qp_err = true;
			break;
		}
		if (dest_err)
			break;
		cond_resched();
	}
	mutex_unlock(&qp->req_lock);

	if (dest_err) {
		mirror_qp_enter_err(dest_err);
		mirror_qp_put(dest_err);
		/* Carry on with the rest of the SQ. */
		if (!qp_err)
			queue_delayed_work(to_mirror_dev(qp->ibqp.device)->wq,
					   &qp->req_work, 0);
	}
	if (qp_err)
		mirror_qp_enter_err(qp);
}

/* Completes every WQE between our consumer copy and the producer. */
static void mirror_flush_ring(struct mirror_qp *qp, struct mirror_queue *q,
			      u32 *cons, bool recv)
{
	u32 avail = min(READ_ONCE(q->hdr->producer) - *cons, q->num_slots);
	struct mirror_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.qp_num = qp->ibqp.qp_num,
	};

	while (avail--) {
		void *slot = mirror_queue_slot(q, *cons);

		if (recv) {
			cqe.wr_id = ((struct mirror_recv_wqe *)slot)->wr_id;
			cqe.opcode = MIRROR_WC_RECV;
		} else {
			struct mirror_send_wqe *w = slot;

			cqe.wr_id = w->wr_id;
			cqe.opcode = mirror_wc_opcode(w->opcode);
		}
		mirror_complete(qp, recv, &cqe, false);
		(*cons)++;
	}
	smp_store_release(&q->hdr->consumer, *cons);
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
		mirror_flush_ring(qp, &qp->sq, &qp->sq_cons, false);
	qp->sq_next = qp->sq_cons;	/* nothing in flight any more */
	del_timer(&qp->retrans_timer);
	mutex_lock(&qp->resp_lock);
	if (qp->rq.buf)
		mirror_flush_ring(qp, &qp->rq, &qp->rq_cons, true);
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}
