// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_wire.c - RC, UC and UD over RoCEv2: the requester that turns
 * WQEs into packets, the completer that turns ACKs and responses into
 * completions, and the responder that executes incoming requests.
 *
 * Everything here runs in process context: the requester from the
 * doorbell or the QP's req_work, the completer and the responder from
 * the QP's rx_work, which drains the packets the UDP receive path queued
 * (mirror_net.c; it has checked that they come from the QP's peer, and
 * rx_work checks again under the lock that makes the peer stable).
 *
 * Requester (RC): WQEs stay in the SQ until they complete; sq_cons is the
 * oldest incomplete WQE, sq_next the next one to send, and meta[] holds
 * each in-flight WQE's PSN range. The WQE itself is the kernel's copy
 * (mirror_sq_fetch()), read again for every packet and every response,
 * never the ring; its SGEs are looked up again for every packet, so no MR
 * reference is held while a peer takes its time. Per WQE:
 *
 *   SEND: check it -> packets (PSN first..last) -> wait
 *   WAIT: ACK covering last      -> DONE
 *         RNR NAK                -> rewind here, resend after the timer
 *         PSN sequence NAK       -> rewind here, resend now
 *         other NAK              -> DONE with the error (QP -> ERR)
 *         timeout                -> rewind to the oldest (retry_cnt)
 *   DONE: completions are reported strictly in SQ order.
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
 * Locks: req_lock covers the requester and the completer, resp_lock the
 * responder (lock order state_lock -> req_lock -> resp_lock).
 */
#include <linux/ip.h>
#include <linux/unaligned.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>

#include "mirror.h"

/*
 * PSNs in flight at most (but for one message longer than this): keeps
 * every PSN comparison unambiguous, and what a window brings back within
 * a QP's receive queue (MIRROR_RX_QUEUE_PKTS is twice this).
 */
#define MIRROR_WINDOW_PSNS	1024
/* Inside long messages the requester asks for an ACK this often. */
#define MIRROR_ACKREQ_EVERY	64
/* Packets the rx work handles before it yields. */
#define MIRROR_RX_BUDGET	64
/* READ responses sent per rx_work run before other work gets a turn. */
#define MIRROR_READ_BURST	64
/* Floor of the retransmission timeout: an emulated host is slow. */
#define MIRROR_MIN_RTO_MS	50

/* What kind of WQE an SQ slot holds, for the completer. */
enum mirror_wqe_kind {
	MIRROR_KIND_SEND,	/* SEND or WRITE: done when ACKed */
	MIRROR_KIND_READ,	/* done when the last response arrives */
	MIRROR_KIND_ATOMIC,	/* done when the atomic ACK arrives */
};

/* A packet to build: BTH fields, extension headers, payload. */
struct mirror_txp {
	u8 opcode;
	u8 flags;
	bool ackreq;
	u32 dqpn;
	u32 psn;
	u32 qkey;
	u32 sqpn;
	bool reth;
	bool atmeth;
	bool aeth;
	bool atmack;
	bool imm;
	u64 va;
	u32 rkey;
	u32 dma_len;
	u64 swap_add;
	u64 compare;
	u32 aeth_val;
	u64 orig;
	__be32 imm_data;
	struct mirror_segs *src;
	u64 src_off;
	u32 paylen;
};

/**
 * mirror_path_from_av() - the IPv4/UDP addressing of an address vector
 * @dev: the device
 * @av: the address vector (RoCEv2, with a GRH)
 * @lqpn: local QPN, for the flow label's entropy
 * @rqpn: remote QPN
 * @path: filled in
 *
 * Return: 0, -EAFNOSUPPORT when one GID is IPv4 and the other IPv6, or the
 * error of the source GID lookup.
 */
int mirror_path_from_av(struct mirror_dev *dev, const struct rdma_ah_attr *av,
			u32 lqpn, u32 rqpn, struct mirror_path *path)
{
	const struct ib_global_route *grh = &av->grh;
	union ib_gid sgid;
	u32 fl;
	int err;

	bool s4, d4;

	err = rdma_query_gid(&dev->ib_dev, 1, grh->sgid_index, &sgid);
	if (err)
		return err;
	s4 = ipv6_addr_v4mapped((struct in6_addr *)sgid.raw);
	d4 = ipv6_addr_v4mapped((const struct in6_addr *)grh->dgid.raw);
	if (s4 != d4)
		return -EAFNOSUPPORT;	/* one IPv4 end, one IPv6 end */
	memset(path, 0, sizeof(*path));
	path->v6 = !s4;
	if (s4) {
		memcpy(&path->saddr, sgid.raw + 12, sizeof(path->saddr));
		memcpy(&path->daddr, grh->dgid.raw + 12, sizeof(path->daddr));
	} else {
		memcpy(&path->saddr6, sgid.raw, sizeof(path->saddr6));
		memcpy(&path->daddr6, grh->dgid.raw, sizeof(path->daddr6));
	}
	fl = grh->flow_label ?: rdma_calc_flow_label(lqpn, rqpn);
	path->flow_label = cpu_to_be32(fl) & IPV6_FLOWLABEL_MASK;
	path->sport = htons(rdma_flow_label_to_udp_sport(fl));
	path->tos = grh->traffic_class;
	path->ttl = grh->hop_limit ?: 64;
	return 0;
}

/*
 * Builds one packet and hands it to the network. Return: 0 (sent, or lost
 * for want of a route: counted, and a loss like any other), -ENOMEM when
 * no packet could be allocated, -EFAULT when the payload could not be read
 * (its memory went away).
 */
static int mirror_txp_send(struct mirror_qp *qp, const struct mirror_txp *t,
			   const struct mirror_path *path)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool ud = (t->opcode & MIRROR_TR_MASK) == MIRROR_TR_UD;
	u32 pad = (4 - (t->paylen & 3)) & 3;
	u32 hlen = sizeof(struct mirror_bth), off;
	struct mirror_bth *bth;
	struct sk_buff *skb;
	u8 *p;
	int err;

	hlen += ud ? sizeof(struct mirror_deth) : 0;
	hlen += t->reth ? sizeof(struct mirror_reth) : 0;
	hlen += t->atmeth ? sizeof(struct mirror_atmeth) : 0;
	hlen += t->aeth ? sizeof(struct mirror_aeth) : 0;
	hlen += t->atmack ? sizeof(struct mirror_atmack) : 0;
	hlen += t->imm ? sizeof(__be32) : 0;
	skb = mirror_pkt_alloc(dev, hlen + t->paylen + pad + MIRROR_ICRC_BYTES);
	if (!skb)
		return -ENOMEM;
	p = skb_put_zero(skb, hlen + t->paylen + pad + MIRROR_ICRC_BYTES);

	bth = (struct mirror_bth *)p;
	bth->opcode = t->opcode;
	bth->flags = t->flags | (pad << MIRROR_BTH_PAD_SHIFT);
	bth->pkey = htons(MIRROR_DEFAULT_PKEY);
	bth->qpn = cpu_to_be32(t->dqpn & MIRROR_QPN_MASK);
	bth->apsn = cpu_to_be32((t->psn & MIRROR_PSN_MASK) |
				(t->ackreq ? MIRROR_BTH_ACKREQ : 0));
	off = sizeof(*bth);
	if (ud) {
		put_unaligned_be32(t->qkey, p + off);
		put_unaligned_be32(t->sqpn & MIRROR_QPN_MASK, p + off + 4);
		off += sizeof(struct mirror_deth);
	}
	if (t->reth) {
		put_unaligned_be64(t->va, p + off);
		put_unaligned_be32(t->rkey, p + off + 8);
		put_unaligned_be32(t->dma_len, p + off + 12);
		off += sizeof(struct mirror_reth);
	}
	if (t->atmeth) {
		put_unaligned_be64(t->va, p + off);
		put_unaligned_be32(t->rkey, p + off + 8);
		put_unaligned_be64(t->swap_add, p + off + 12);
		put_unaligned_be64(t->compare, p + off + 20);
		off += sizeof(struct mirror_atmeth);
	}
	if (t->aeth) {
		put_unaligned_be32(t->aeth_val, p + off);
		off += sizeof(struct mirror_aeth);
	}
	if (t->atmack) {
		put_unaligned_be64(t->orig, p + off);
		off += sizeof(struct mirror_atmack);
	}
	if (t->imm) {
		memcpy(p + off, &t->imm_data, sizeof(t->imm_data));
		off += sizeof(t->imm_data);
	}
	if (t->paylen) {
		err = mirror_segs_xfer(t->src, t->src_off, p + off, t->paylen,
				       false);
		if (err) {
			kfree_skb(skb);
			return -EFAULT;
		}
	}
	mirror_pkt_xmit(dev, skb, path);
	return 0;
}

static u32 mirror_aeth_val(u8 syndrome, u32 msn)
{
	return (u32)syndrome << 24 | (msn & MIRROR_PSN_MASK);
}

/* Sends an ACK, RNR NAK or NAK for @psn from the responder. */
static void mirror_send_ack(struct mirror_qp *qp, u32 psn, u8 syndrome);

/*
 * ACK coalescing: the ACK that packets asked for (AckReq) is held while
 * rx_work drains its queue and sent once, for the newest PSN, before any
 * other packet of the responder and when the batch ends.
 */
static void mirror_flush_ack(struct mirror_qp *qp)
{
	if (!qp->ack_pending)
		return;
	qp->ack_pending = false;
	mirror_send_ack(qp, qp->ack_psn,
			MIRROR_AETH_ACK | MIRROR_AETH_NO_CREDITS);
}

static void mirror_send_ack(struct mirror_qp *qp, u32 psn, u8 syndrome)
{
	struct mirror_txp t = {
		.opcode = MIRROR_TR_RC | MIRROR_OP_ACK,
		.dqpn = qp->peer_qpn,
		.psn = psn,
		.aeth = true,
		.aeth_val = mirror_aeth_val(syndrome, qp->msn),
	};

	mirror_flush_ack(qp);	/* keeps the responder's packets in order */
	mirror_txp_send(qp, &t, &qp->path);
}

/* ---------------------------------------------------------------------- */
/* Requester */

static struct mirror_sq_meta *mirror_meta(struct mirror_qp *qp, u32 idx)
{
	return &qp->meta[idx & (qp->sq.num_slots - 1)];
}

static enum mirror_wqe_kind mirror_wqe_kind(u32 wr_opcode)
{
	if (wr_opcode == IB_UVERBS_WR_RDMA_READ)
		return MIRROR_KIND_READ;
	if (mirror_is_atomic(wr_opcode))
		return MIRROR_KIND_ATOMIC;
	return MIRROR_KIND_SEND;
}

/* Marks an in-flight WQE done with @status. */
static void mirror_meta_done(struct mirror_qp *qp, struct mirror_sq_meta *m,
			     enum ib_wc_status status, u32 byte_len)
{
	if (m->done)
		return;
	if (m->kind != MIRROR_KIND_SEND && qp->rd_out)
		qp->rd_out--;
	m->done = true;
	m->status = status;
	m->byte_len = byte_len;
}

static void mirror_arm_retrans(struct mirror_qp *qp)
{
	u8 timeout = qp->attr.timeout;
	u64 ms;

	if (!timeout)	/* 0: wait forever */
		return;
	ms = div_u64(4096ULL << min_t(u8, timeout, 31), 1000000);
	ms = max_t(u64, ms, MIRROR_MIN_RTO_MS);
	mod_timer(&qp->retrans_timer, jiffies + msecs_to_jiffies(ms));
}

/* Resends from WQE @idx on: its PSNs and everything after it again. */
static void mirror_rewind(struct mirror_qp *qp, u32 idx)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 i;

	mirror_count_add(dev, MIRROR_CNT_RETRANS_PACKETS,
			 (qp->req_psn - mirror_meta(qp, idx)->first_psn) &
			 MIRROR_PSN_MASK);
	qp->req_psn = mirror_meta(qp, idx)->first_psn;
	qp->sq_next = idx;
	qp->rd_out = 0;
	for (i = qp->sq_cons; i != idx; i++) {
		struct mirror_sq_meta *m = mirror_meta(qp, i);

		if (!m->done && m->kind != MIRROR_KIND_SEND)
			qp->rd_out++;
	}
}

/*
 * Packets after a gap keep arriving (the rest of a burst of READ
 * responses, answers to requests after the lost one): one resend per gap
 * is enough, the next one only after progress (or the timer) shows the
 * resend was answered or lost.
 */
static void mirror_gap_rewind(struct mirror_qp *qp, u32 idx)
{
	if (qp->gap_rewound)
		return;
	qp->gap_rewound = true;
	mirror_rewind(qp, idx);
}

/*
 * Reports the WQEs at the head of the SQ that are done, in order, from the
 * kernel's copies. A failed one sets *qp_err: the QP then enters ERR and
 * the rest is flushed.
 */
static void mirror_wire_complete(struct mirror_qp *qp, bool *qp_err)
{
	while (qp->sq_cons != qp->sq_next) {
		struct mirror_sq_meta *m = mirror_meta(qp, qp->sq_cons);
		struct mirror_send_wqe *w = mirror_sq_wqe(qp, qp->sq_cons);
		struct mirror_cqe cqe = {};

		if (!m->done)
			break;
		if (m->status != IB_WC_SUCCESS || qp->sq_sig_all ||
		    (w->send_flags & IB_SEND_SIGNALED)) {
			cqe.wr_id = w->wr_id;
			cqe.status = m->status;
			cqe.opcode = mirror_wc_opcode(w->opcode);
			cqe.byte_len = m->byte_len;
			cqe.qp_num = qp->ibqp.qp_num;
			mirror_complete(qp, false, &cqe, false);
		}
		qp->sq_cons++;
		mirror_queue_consumed(&qp->sq, qp->sq_cons);
		if (m->status != IB_WC_SUCCESS) {
			*qp_err = true;
			break;
		}
	}
	if (qp->sq_cons == qp->sq_next)
		del_timer(&qp->retrans_timer);
}

/*
 * The local memory of bytes [off, off + len) of a WQE's message, from the
 * kernel's copy of the WQE, into @segs: SGEs looked up again (and checked
 * for @access), or the inline data of the copy. Return: 0 or an error.
 */
static int mirror_wqe_segs(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
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

/*
 * Sends the packets of one WQE from @psn on; *npsn gets the PSNs used
 * (also those of packets sent before a failure). Return: 0; -ENOMEM when
 * a packet could not be allocated (nothing counts: the WQE is sent again
 * from its start); -EFAULT when its local memory went away.
 */
static int mirror_send_wqe(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
			   u32 len, u32 psn, u32 *npsn)
{
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	u8 tr = rc ? MIRROR_TR_RC : MIRROR_TR_UC;
	u32 mtu = mirror_qp_mtu(qp);
	u32 n = mirror_npkts(len, mtu), i;
	bool write = wqe->opcode == IB_UVERBS_WR_RDMA_WRITE ||
		     wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	bool imm = wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM ||
		   wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	struct mirror_txp t = {
		.dqpn = qp->peer_qpn,
		.src = &qp->req_local,
	};
	int err;

	*npsn = 0;
	switch (wqe->opcode) {
	case IB_UVERBS_WR_RDMA_READ:
		t.opcode = tr | MIRROR_OP_READ_REQUEST;
		t.reth = true;
		t.va = wqe->wr.rdma.remote_addr;
		t.rkey = wqe->wr.rdma.rkey;
		t.dma_len = len;
		t.psn = psn;
		t.ackreq = true;
		err = mirror_txp_send(qp, &t, &qp->path);
		if (!err)
			*npsn = n;	/* the responses take these PSNs */
		return err;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		t.opcode = tr | (wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP ?
				 MIRROR_OP_CMP_SWAP : MIRROR_OP_FETCH_ADD);
		t.atmeth = true;
		t.va = wqe->wr.atomic.remote_addr;
		t.rkey = wqe->wr.atomic.rkey;
		if (wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP) {
			t.swap_add = wqe->wr.atomic.swap;
			t.compare = wqe->wr.atomic.compare_add;
		} else {
			t.swap_add = wqe->wr.atomic.compare_add;
		}
		t.psn = psn;
		t.ackreq = true;
		err = mirror_txp_send(qp, &t, &qp->path);
		if (!err)
			*npsn = 1;
		return err;
	}

	for (i = 0; i < n; i++) {
		bool first = i == 0, last = i == n - 1;
		u8 op;

		if (write)
			op = first && last ? (imm ? MIRROR_OP_WRITE_ONLY_IMM :
						    MIRROR_OP_WRITE_ONLY) :
			     first ? MIRROR_OP_WRITE_FIRST :
			     !last ? MIRROR_OP_WRITE_MIDDLE :
			     imm ? MIRROR_OP_WRITE_LAST_IMM :
				   MIRROR_OP_WRITE_LAST;
		else
			op = first && last ? (imm ? MIRROR_OP_SEND_ONLY_IMM :
						    MIRROR_OP_SEND_ONLY) :
			     first ? MIRROR_OP_SEND_FIRST :
			     !last ? MIRROR_OP_SEND_MIDDLE :
			     imm ? MIRROR_OP_SEND_LAST_IMM :
				   MIRROR_OP_SEND_LAST;
		t.opcode = tr | op;
		t.psn = mirror_psn_add(psn, i);
		t.paylen = min(mtu, len - i * mtu);
		t.reth = write && first;
		t.va = wqe->wr.rdma.remote_addr;
		t.rkey = wqe->wr.rdma.rkey;
		t.dma_len = len;
		t.imm = imm && last;
		t.imm_data = (__force __be32)wqe->imm_data;
		t.flags = last && (wqe->send_flags & IB_SEND_SOLICITED) &&
			  (!write || imm) ? MIRROR_BTH_SE : 0;
		t.ackreq = rc && (last || i % MIRROR_ACKREQ_EVERY ==
					  MIRROR_ACKREQ_EVERY - 1);
		if (t.paylen && mirror_wqe_segs(qp, wqe, &qp->req_local,
						(u64)i * mtu, t.paylen, 0)) {
			mirror_segs_put(&qp->req_local);
			return -EFAULT;
		}
		err = mirror_txp_send(qp, &t, &qp->path);
		mirror_segs_put(&qp->req_local);
		if (err == -ENOMEM) {
			*npsn = 0;
			return err;
		}
		if (err)
			return err;
		*npsn = i + 1;
	}
	return 0;
}

/* The requester's loop; req_lock held. */
static void mirror_wire_req_locked(struct mirror_qp *qp, bool *qp_err)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;

	lockdep_assert_held(&qp->req_lock);
	if (test_and_clear_bit(0, &qp->retrans_due) && rc &&
	    qp->sq_cons != qp->sq_next && !qp->rnr_wait) {
		struct mirror_sq_meta *m = mirror_meta(qp, qp->sq_cons);

		mirror_count(dev, MIRROR_CNT_RETRANS_TIMEOUT);
		if (!qp->retry_left) {
			mirror_meta_done(qp, m, IB_WC_RETRY_EXC_ERR, 0);
			mirror_wire_complete(qp, qp_err);
			return;
		}
		qp->retry_left--;
		qp->gap_rewound = false;
		mirror_rewind(qp, qp->sq_cons);
	}

	while (READ_ONCE(qp->state) == MIRROR_QPS_RTS && !qp->rnr_wait) {
		u32 idx = qp->sq_next, n = 1, avail;
		struct mirror_send_wqe *wqe;
		struct mirror_sq_meta *m;
		enum ib_wc_status status;
		int err;

		if (mirror_queue_avail(&qp->sq, qp->sq_cons, &avail)) {
			*qp_err = true;	/* user space broke its ring */
			break;
		}
		if (idx - qp->sq_cons >= avail)
			break;
		/* Cheap first: a full window needs no look at the WQE. */
		if (rc && idx != qp->sq_cons &&
		    mirror_psn_cmp(qp->req_psn,
				   mirror_meta(qp, qp->sq_cons)->first_psn) >=
		    MIRROR_WINDOW_PSNS)
			break;
		wqe = mirror_sq_fetch(qp, idx);
		m = mirror_meta(qp, idx);
		m->kind = mirror_wqe_kind(wqe->opcode);
		if (m->kind != MIRROR_KIND_SEND &&
		    qp->rd_out >= max_t(u32, qp->attr.max_rd_atomic, 1))
			break;
		m->done = false;
		m->first_psn = qp->req_psn;
		m->next_resp = qp->req_psn;
		/* Checked (and its first chunk faulted in) at every send. */
		status = mirror_wqe_local(qp, wqe, &qp->req_local);
		m->len = qp->req_local.total;
		mirror_segs_put(&qp->req_local);
		if (status != IB_WC_SUCCESS) {
			m->last_psn = qp->req_psn;
			m->kind = MIRROR_KIND_SEND;
			mirror_meta_done(qp, m, status, 0);
			qp->sq_next++;
			break;
		}
		/*
		 * All of the message's PSNs inside the window (one message
		 * alone may exceed it): the packets and READ responses in
		 * flight then fit the peer's and our receive queues.
		 */
		if (rc && idx != qp->sq_cons &&
		    mirror_psn_cmp(mirror_psn_add(qp->req_psn,
						  mirror_npkts(m->len,
							       mirror_qp_mtu(qp)) - 1),
				   mirror_meta(qp, qp->sq_cons)->first_psn) >=
		    MIRROR_WINDOW_PSNS)
			break;
		if (m->kind != MIRROR_KIND_SEND)
			qp->rd_out++;
		err = mirror_send_wqe(qp, wqe, m->len, qp->req_psn, &n);
		if (err == -ENOMEM) {
			if (m->kind != MIRROR_KIND_SEND)
				qp->rd_out--;
			queue_delayed_work(dev->wq, &qp->req_work, 1);
			break;
		}
		m->last_psn = mirror_psn_add(qp->req_psn, max(n, 1U) - 1);
		qp->req_psn = mirror_psn_add(qp->req_psn, n);
		qp->sq_next++;
		if (err) {
			/* Its memory went away while it was being sent. */
			m->kind = MIRROR_KIND_SEND;
			mirror_meta_done(qp, m, IB_WC_LOC_PROT_ERR, 0);
			break;
		}
		if (!rc)
			mirror_meta_done(qp, m, IB_WC_SUCCESS, 0);
		else if (!timer_pending(&qp->retrans_timer))
			mirror_arm_retrans(qp);
		cond_resched();
	}
	mirror_wire_complete(qp, qp_err);
}

/**
 * mirror_wire_requester() - send what is posted on an RC/UC QP whose
 *	peer is reached over RoCEv2
 * @qp: the QP
 */
void mirror_wire_requester(struct mirror_qp *qp)
{
	bool qp_err = false;

	mutex_lock(&qp->req_lock);
	mirror_wire_req_locked(qp, &qp_err);
	if (qp_err)
		mirror_qp_err_due(qp);
	mutex_unlock(&qp->req_lock);
	if (qp_err)
		mirror_qp_enter_err(qp);
}

/**
 * mirror_qp_retrans_timer() - the retransmission timer fired
 * @t: the QP's retrans_timer
 */
void mirror_qp_retrans_timer(struct timer_list *t)
{
	struct mirror_qp *qp = from_timer(qp, t, retrans_timer);

	set_bit(0, &qp->retrans_due);
	queue_delayed_work(to_mirror_dev(qp->ibqp.device)->wq, &qp->req_work,
			   0);
}

/**
 * mirror_wire_send_ud() - send a UD WQE over RoCEv2
 * @qp: the UD (or GSI) QP; req_lock held, qp->req_local resolved
 * @wqe: the kernel's copy of the WQE
 * @av: the AH's address vector
 * @dqpn: destination QP
 * @qkey: the Q_Key to send with
 *
 * Return: 0, or a negative errno (UD losses are not reported to the WQE).
 */
int mirror_wire_send_ud(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
			const struct rdma_ah_attr *av, u32 dqpn, u32 qkey)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool imm = wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM;
	struct mirror_path path;
	struct mirror_txp t = {
		.opcode = MIRROR_TR_UD | (imm ? MIRROR_OP_SEND_ONLY_IMM :
						MIRROR_OP_SEND_ONLY),
		.flags = wqe->send_flags & IB_SEND_SOLICITED ? MIRROR_BTH_SE : 0,
		.dqpn = dqpn,
		.qkey = qkey,
		.sqpn = qp->ibqp.qp_num,
		.imm = imm,
		.imm_data = (__force __be32)wqe->imm_data,
		.src = &qp->req_local,
		.paylen = qp->req_local.total,
	};
	int err;

	err = mirror_path_from_av(dev, av, qp->ibqp.qp_num, dqpn, &path);
	if (err)
		return err;
	t.psn = qp->req_psn;
	qp->req_psn = mirror_psn_add(qp->req_psn, 1);
	return mirror_txp_send(qp, &t, &path);
}

/* ---------------------------------------------------------------------- */
/* Completer */

/**
 * mirror_op_is_response() - is a BTH operation a responder's answer?
 * @op: the operation (MIRROR_OP_*)
 *
 * Return: true for READ responses, ACKs and atomic ACKs.
 */
bool mirror_op_is_response(u8 op)
{
	return op >= MIRROR_OP_READ_RESP_FIRST && op <= MIRROR_OP_ATOMIC_ACK;
}

static enum ib_wc_status mirror_nak_status(u8 code)
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
 * A READ response at the PSN expected for WQE @idx: its payload lands in
 * the part of the WQE's buffers it answers, looked up for this packet.
 */
static void mirror_rx_read_resp(struct mirror_qp *qp, u32 idx,
				struct mirror_sq_meta *m,
				const struct mirror_pkt *p)
{
	struct mirror_send_wqe *wqe = mirror_sq_wqe(qp, idx);
	bool last = p->op == MIRROR_OP_READ_RESP_LAST ||
		    p->op == MIRROR_OP_READ_RESP_ONLY;
	u32 mtu = mirror_qp_mtu(qp);
	u64 off;

	off = (u64)((p->psn - m->first_psn) & MIRROR_PSN_MASK) * mtu;
	if ((!last && p->paylen != mtu) || off + p->paylen > m->len ||
	    (last && off + p->paylen != m->len)) {
		mirror_meta_done(qp, m, IB_WC_BAD_RESP_ERR, 0);
		return;
	}
	if (p->paylen &&
	    (mirror_wqe_segs(qp, wqe, &qp->req_local, off, p->paylen,
			     IB_ACCESS_LOCAL_WRITE) ||
	     mirror_segs_xfer(&qp->req_local, 0, p->payload, p->paylen,
			      true))) {
		/* The READ's buffers went away (or their key) meanwhile. */
		mirror_segs_put(&qp->req_local);
		mirror_meta_done(qp, m, IB_WC_LOC_PROT_ERR, 0);
		return;
	}
	mirror_segs_put(&qp->req_local);
	m->next_resp = mirror_psn_add(m->next_resp, 1);
	if (last)
		mirror_meta_done(qp, m, IB_WC_SUCCESS, m->len);
}

static void mirror_rx_atomic_ack(struct mirror_qp *qp, u32 idx,
				 struct mirror_sq_meta *m, u64 orig)
{
	struct mirror_send_wqe *wqe = mirror_sq_wqe(qp, idx);
	enum ib_wc_status status = IB_WC_SUCCESS;

	if (mirror_wqe_segs(qp, wqe, &qp->req_local, 0, sizeof(orig),
			    IB_ACCESS_LOCAL_WRITE) ||
	    mirror_segs_xfer(&qp->req_local, 0, &orig, sizeof(orig), true))
		status = IB_WC_LOC_PROT_ERR;
	mirror_segs_put(&qp->req_local);
	mirror_meta_done(qp, m, status, status ? 0 : sizeof(orig));
}

/* An ACK, NAK or response for the requester of @qp; req_lock held. */
static void mirror_wire_rx_response(struct mirror_qp *qp,
				    const struct mirror_pkt *p)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u8 syn = p->has_aeth ? p->aeth >> 24 : MIRROR_AETH_ACK;
	u8 kind = syn & MIRROR_AETH_KIND_MASK;
	u32 inflight = qp->sq_next - qp->sq_cons, k, i = qp->sq_cons;
	struct mirror_sq_meta *m = NULL;
	bool progress = false;

	lockdep_assert_held(&qp->req_lock);
	if (qp->ibqp.qp_type != IB_QPT_RC ||
	    WARN_ON_ONCE(inflight > qp->sq.num_slots))
		return;
	/* Find the WQE the PSN belongs to; the ones before it are acked. */
	for (k = 0; k < inflight; k++) {
		i = qp->sq_cons + k;
		m = mirror_meta(qp, i);
		if (m->done)
			continue;
		if (mirror_psn_cmp(p->psn, m->first_psn) < 0)
			return;	/* older than everything in flight */
		if (mirror_psn_cmp(p->psn, m->last_psn) <= 0)
			break;
		if (m->kind != MIRROR_KIND_SEND) {
			/* Past a READ/atomic: its responses were lost. */
			mirror_gap_rewind(qp, i);
			return;
		}
		mirror_meta_done(qp, m, IB_WC_SUCCESS, 0);
		progress = true;
	}
	if (k == inflight)
		goto out;

	switch (p->op) {
	case MIRROR_OP_ACK:
		if (kind == MIRROR_AETH_ACK) {
			/* Inside a long message too: the peer is alive. */
			progress = true;
			if (m->kind == MIRROR_KIND_SEND && p->psn == m->last_psn)
				mirror_meta_done(qp, m, IB_WC_SUCCESS, 0);
		} else if (kind == MIRROR_AETH_RNR_NAK) {
			mirror_count(dev, MIRROR_CNT_RNR_NAK_RCVD);
			if (qp->rnr_left == MIRROR_RNR_NOT_STARTED)
				qp->rnr_left = qp->attr.rnr_retry;
			if (qp->attr.rnr_retry != 7) {	/* 7: forever */
				if (!qp->rnr_left) {
					mirror_meta_done(qp, m,
							 IB_WC_RNR_RETRY_EXC_ERR, 0);
					goto out;
				}
				qp->rnr_left--;
			}
			mirror_rewind(qp, i);
			qp->rnr_wait = true;
			del_timer(&qp->retrans_timer);
			mod_delayed_work(dev->wq, &qp->req_work,
					 mirror_rnr_jiffies(syn));
			return;
		} else if (kind == MIRROR_AETH_NAK &&
			   (syn & MIRROR_AETH_DETAIL_MASK) ==
			   MIRROR_NAK_PSN_SEQ) {
			mirror_count(dev, MIRROR_CNT_SEQ_NAK_RCVD);
			mirror_rewind(qp, i);
			progress = true;
		} else if (kind == MIRROR_AETH_NAK) {
			mirror_count(dev, MIRROR_CNT_NAK_RCVD);
			mirror_meta_done(qp, m,
					 mirror_nak_status(syn &
							   MIRROR_AETH_DETAIL_MASK),
					 0);
		}
		break;
	case MIRROR_OP_ATOMIC_ACK:
		if (m->kind == MIRROR_KIND_ATOMIC && p->psn == m->first_psn) {
			mirror_rx_atomic_ack(qp, i, m, p->orig);
			progress = true;
		}
		break;
	default:	/* READ responses */
		if (m->kind != MIRROR_KIND_READ)
			break;
		if (p->psn != m->next_resp) {
			/* A gap: ask for the READ again. */
			if (mirror_psn_cmp(p->psn, m->next_resp) > 0)
				mirror_gap_rewind(qp, i);
			break;
		}
		mirror_rx_read_resp(qp, i, m, p);
		progress = true;
		break;
	}
out:
	if (progress) {
		qp->gap_rewound = false;
		qp->retry_left = qp->attr.retry_cnt;
		qp->rnr_left = MIRROR_RNR_NOT_STARTED;
		if (qp->sq_cons != qp->sq_next)
			mirror_arm_retrans(qp);
	}
}

/* ---------------------------------------------------------------------- */
/* Responder */

/* What the responder makes of a packet at the expected PSN. */
enum mirror_rx_verdict {
	MIRROR_RX_DONE,
	MIRROR_RX_RNR,
	MIRROR_RX_NAK_INVALID,
	MIRROR_RX_NAK_ACCESS,
	MIRROR_RX_NAK_OP,
};

/* Takes a receive for the message starting now, unless one is held. */
static enum mirror_rx_verdict mirror_rx_need_recv(struct mirror_qp *qp)
{
	int err;

	if (qp->resp_have_recv)
		return MIRROR_RX_DONE;
	err = mirror_resp_hold_recv(qp);
	if (err == -EAGAIN)
		return MIRROR_RX_RNR;
	if (err) {
		mirror_resp_recv_error(qp, IB_WC_LOC_PROT_ERR, qp->peer_qpn);
		return MIRROR_RX_NAK_OP;
	}
	return MIRROR_RX_DONE;
}

/* The message is in: complete the receive it used. */
static void mirror_rx_recv_done(struct mirror_qp *qp,
				const struct mirror_pkt *p, u8 wc_opcode)
{
	struct mirror_cqe cqe = {
		.opcode = wc_opcode,
		.byte_len = qp->resp_off,
		.src_qp = qp->peer_qpn,
	};

	if (p->has_imm) {
		cqe.imm_data = (__force u32)p->imm;
		cqe.wc_flags = IB_WC_WITH_IMM;
	}
	mirror_resp_recv_done(qp, &cqe, p->se);
}

static enum mirror_rx_verdict mirror_rx_send(struct mirror_qp *qp,
					     const struct mirror_pkt *p)
{
	struct mirror_segs *segs = &qp->resp_segs;
	bool first = p->op == MIRROR_OP_SEND_FIRST ||
		     p->op == MIRROR_OP_SEND_ONLY ||
		     p->op == MIRROR_OP_SEND_ONLY_IMM;
	bool last = p->op != MIRROR_OP_SEND_FIRST &&
		    p->op != MIRROR_OP_SEND_MIDDLE;
	enum mirror_rx_verdict v;
	int err = 0;

	if (first) {
		if (qp->resp_msg == MIRROR_RESP_SEND ||
		    qp->resp_msg == MIRROR_RESP_WRITE)
			return MIRROR_RX_NAK_INVALID;
		v = mirror_rx_need_recv(qp);
		if (v != MIRROR_RX_DONE)
			return v;
		qp->resp_off = 0;
		qp->resp_msg = MIRROR_RESP_SEND;
	} else if (qp->resp_msg != MIRROR_RESP_SEND) {
		return MIRROR_RX_NAK_INVALID;
	}
	if ((!last && p->paylen != mirror_qp_mtu(qp)) ||
	    (u64)qp->resp_off + p->paylen > qp->resp_len) {
		mirror_resp_recv_error(qp, IB_WC_LOC_LEN_ERR, qp->peer_qpn);
		qp->resp_msg = MIRROR_RESP_IDLE;
		return MIRROR_RX_NAK_INVALID;
	}
	if (p->paylen) {
		err = mirror_resp_recv_segs(qp, segs, qp->resp_off,
					    p->paylen);
		if (!err)
			err = mirror_segs_xfer(segs, 0, p->payload, p->paylen,
					       true);
		mirror_segs_put(segs);
	}
	if (err) {
		/* A receive buffer whose key or ODP memory went away. */
		mirror_resp_recv_error(qp, IB_WC_LOC_PROT_ERR, qp->peer_qpn);
		qp->resp_msg = MIRROR_RESP_IDLE;
		return MIRROR_RX_NAK_OP;
	}
	qp->resp_off += p->paylen;
	if (!last)
		return MIRROR_RX_DONE;

	mirror_rx_recv_done(qp, p, MIRROR_WC_RECV);
	qp->resp_msg = MIRROR_RESP_IDLE;
	qp->msn++;
	return MIRROR_RX_DONE;
}

/*
 * [off, off + len) of the WRITE being received, looked up again by its
 * key: the MR must still exist, in our PD, allow remote writes and hold
 * the whole rest of the WRITE.
 */
static int mirror_rx_write_segs(struct mirror_qp *qp, u64 off, u32 len)
{
	struct mirror_segs *segs = &qp->resp_segs;

	mirror_segs_put(segs);
	return mirror_segs_add(segs, to_mirror_dev(qp->ibqp.device),
			       qp->ibqp.pd, qp->resp_rkey, qp->resp_va + off,
			       len, IB_ACCESS_REMOTE_WRITE);
}

static enum mirror_rx_verdict mirror_rx_write(struct mirror_qp *qp,
					      const struct mirror_pkt *p)
{
	struct mirror_segs *segs = &qp->resp_segs;
	bool first = p->op == MIRROR_OP_WRITE_FIRST ||
		     p->op == MIRROR_OP_WRITE_ONLY ||
		     p->op == MIRROR_OP_WRITE_ONLY_IMM;
	bool last = p->op != MIRROR_OP_WRITE_FIRST &&
		    p->op != MIRROR_OP_WRITE_MIDDLE;
	enum mirror_rx_verdict v;
	u32 left;
	int err;

	if (first) {
		if (qp->resp_msg == MIRROR_RESP_SEND ||
		    qp->resp_msg == MIRROR_RESP_WRITE)
			return MIRROR_RX_NAK_INVALID;
		if (!(READ_ONCE(qp->attr.qp_access_flags) &
		      IB_ACCESS_REMOTE_WRITE))
			return MIRROR_RX_NAK_ACCESS;
		qp->resp_rkey = p->rkey;
		qp->resp_va = p->va;
		qp->resp_wlen = p->dma_len;
		qp->resp_off = 0;
	} else if (qp->resp_msg != MIRROR_RESP_WRITE) {
		return MIRROR_RX_NAK_INVALID;
	}
	if ((!last && p->paylen != mirror_qp_mtu(qp)) ||
	    (u64)qp->resp_off + p->paylen > qp->resp_wlen ||
	    (last && qp->resp_off + p->paylen != qp->resp_wlen))
		return MIRROR_RX_NAK_INVALID;
	left = qp->resp_wlen - qp->resp_off;
	if (left) {
		/*
		 * The key is checked for the rest of the WRITE at every
		 * packet; ODP memory is faulted a chunk ahead (the first
		 * with the first packet, so that a WRITE to memory that
		 * cannot be had is refused before anything lands).
		 */
		err = mirror_rx_write_segs(qp, qp->resp_off, left);
		if (!err && qp->resp_off % MIRROR_FAULT_CHUNK == 0)
			err = mirror_segs_fault(segs, 0,
						min_t(u32, left,
						      MIRROR_FAULT_CHUNK),
						true);
		/*
		 * The data goes first: a packet answered with an RNR NAK
		 * below is sent again and rewrites the same bytes.
		 */
		if (!err && p->paylen)
			err = mirror_segs_xfer(segs, 0, p->payload, p->paylen,
					       true);
		mirror_segs_put(segs);
		if (err) {
			qp->resp_msg = MIRROR_RESP_IDLE;
			return MIRROR_RX_NAK_ACCESS;
		}
	}
	qp->resp_msg = MIRROR_RESP_WRITE;
	if (last && p->has_imm) {
		v = mirror_rx_need_recv(qp);
		if (v != MIRROR_RX_DONE) {
			if (first)
				qp->resp_msg = MIRROR_RESP_IDLE;
			return v;
		}
	}
	qp->resp_off += p->paylen;
	if (!last)
		return MIRROR_RX_DONE;

	if (p->has_imm)
		mirror_rx_recv_done(qp, p, MIRROR_WC_RECV_RDMA_WITH_IMM);
	qp->resp_msg = MIRROR_RESP_IDLE;
	qp->msn++;
	return MIRROR_RX_DONE;
}

/* How many responder resources the QP keeps (0: it takes no READ/atomic). */
static u32 mirror_res_count(struct mirror_qp *qp)
{
	return min_t(u32, READ_ONCE(qp->attr.max_dest_rd_atomic),
		     MIRROR_MAX_RD_ATOM);
}

/* The next resource, the oldest one's place. */
static struct mirror_rd_res *mirror_res_next(struct mirror_qp *qp)
{
	u32 n = mirror_res_count(qp);
	struct mirror_rd_res *r = &qp->res[qp->res_head % n];

	qp->res_head = (qp->res_head + 1) % n;
	memset(r, 0, sizeof(*r));
	return r;
}

/* The resource a duplicate request at @psn belongs to, or NULL. */
static struct mirror_rd_res *mirror_res_find(struct mirror_qp *qp, u8 kind,
					     u32 psn)
{
	u32 i, n = mirror_res_count(qp);

	for (i = 0; i < n; i++) {
		struct mirror_rd_res *r = &qp->res[i];

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
 * away meanwhile ends with a remote access NAK. Return: true when the
 * QP must enter ERR.
 */
static bool mirror_rx_read_stream(struct mirror_qp *qp)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_rd_res *r = qp->res_cur;
	struct mirror_segs *segs = &qp->resp_segs;
	u32 mtu = mirror_qp_mtu(qp), n = mirror_npkts(r->len, mtu);
	u32 i = (r->next_psn - r->first_psn) & MIRROR_PSN_MASK;
	u32 burst = min(n - i, (u32)MIRROR_READ_BURST), k;
	u64 off = (u64)i * mtu;
	u32 bytes = min_t(u64, (u64)burst * mtu, r->len - off);
	struct mirror_txp t = {
		.dqpn = qp->peer_qpn,
		.src = segs,
	};
	int err = 0;

	mirror_flush_ack(qp);
	mirror_segs_put(segs);
	if (bytes) {
		err = mirror_segs_add(segs, dev, qp->ibqp.pd, r->rkey,
				      r->va + off, bytes,
				      IB_ACCESS_REMOTE_READ);
		if (!err)
			err = mirror_segs_fault(segs, 0, bytes, false);
	}
	if (err) {
		mirror_segs_put(segs);
		qp->res_cur = NULL;
		r->active = false;
		mirror_count(dev, MIRROR_CNT_NAK_SENT);
		mirror_send_ack(qp, r->next_psn,
				MIRROR_AETH_NAK | MIRROR_NAK_REM_ACCESS);
		return true;
	}
	for (k = 0; k < burst; k++, i++) {
		bool first = i == 0, last = i == n - 1;

		t.opcode = MIRROR_TR_RC |
			   (first && last ? MIRROR_OP_READ_RESP_ONLY :
			    first ? MIRROR_OP_READ_RESP_FIRST :
			    last ? MIRROR_OP_READ_RESP_LAST :
				   MIRROR_OP_READ_RESP_MIDDLE);
		t.psn = mirror_psn_add(r->first_psn, i);
		t.aeth = first || last;
		t.aeth_val = mirror_aeth_val(MIRROR_AETH_ACK |
					     MIRROR_AETH_NO_CREDITS, qp->msn);
		t.src_off = (u64)k * mtu;
		t.paylen = min_t(u64, mtu, r->len - (u64)i * mtu);
		if (mirror_txp_send(qp, &t, &qp->path))
			break;	/* the requester asks again for the rest */
	}
	mirror_segs_put(segs);
	r->next_psn = mirror_psn_add(r->first_psn, i);
	if (k < burst || i == n) {
		r->active = false;
		qp->res_cur = NULL;
	}
	return false;
}

/*
 * A new READ request at the expected PSN: takes a responder resource and
 * starts answering it (rx_work sends the responses, a burst at a time).
 * *npsn gets the PSNs the responses take.
 */
static enum mirror_rx_verdict mirror_rx_read(struct mirror_qp *qp,
					     const struct mirror_pkt *p,
					     u32 *npsn)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 n = mirror_npkts(p->dma_len, mirror_qp_mtu(qp));
	struct mirror_segs *segs = &qp->resp_segs;
	struct mirror_rd_res *r;
	int err = 0;

	if (p->dma_len > (1U << 31) || !mirror_res_count(qp))
		return MIRROR_RX_NAK_INVALID;
	if (!(READ_ONCE(qp->attr.qp_access_flags) & IB_ACCESS_REMOTE_READ))
		return MIRROR_RX_NAK_ACCESS;
	if (p->dma_len) {
		mirror_segs_put(segs);
		err = mirror_segs_add(segs, dev, qp->ibqp.pd, p->rkey, p->va,
				      p->dma_len, IB_ACCESS_REMOTE_READ);
		if (!err)
			err = mirror_segs_fault(segs, 0,
						min_t(u32, p->dma_len,
						      MIRROR_FAULT_CHUNK),
						false);
		mirror_segs_put(segs);
		if (err)
			return MIRROR_RX_NAK_ACCESS;
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
	qp->res_cur = r;
	qp->msn++;
	*npsn = n;
	return MIRROR_RX_DONE;
}

static void mirror_send_atomic_ack(struct mirror_qp *qp, u32 psn, u64 orig)
{
	struct mirror_txp t = {
		.opcode = MIRROR_TR_RC | MIRROR_OP_ATOMIC_ACK,
		.dqpn = qp->peer_qpn,
		.psn = psn,
		.aeth = true,
		.aeth_val = mirror_aeth_val(MIRROR_AETH_ACK |
					    MIRROR_AETH_NO_CREDITS, qp->msn),
		.atmack = true,
		.orig = orig,
	};

	mirror_flush_ack(qp);
	mirror_txp_send(qp, &t, &qp->path);
}

static enum mirror_rx_verdict mirror_rx_atomic(struct mirror_qp *qp,
					       const struct mirror_pkt *p)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_segs *segs = &qp->resp_segs;
	bool cmp_swap = p->op == MIRROR_OP_CMP_SWAP;
	struct mirror_rd_res *r;
	bool gone;
	u64 orig;
	int err;

	if ((p->va & (sizeof(u64) - 1)) || !mirror_res_count(qp))
		return MIRROR_RX_NAK_INVALID;
	mirror_segs_put(segs);
	if (!(READ_ONCE(qp->attr.qp_access_flags) & IB_ACCESS_REMOTE_ATOMIC) ||
	    mirror_segs_add(segs, dev, qp->ibqp.pd, p->rkey, p->va,
			    sizeof(u64), IB_ACCESS_REMOTE_ATOMIC)) {
		mirror_segs_put(segs);
		return MIRROR_RX_NAK_ACCESS;
	}
	err = mirror_segs_atomic(segs, &dev->atomic_lock, cmp_swap,
				 cmp_swap ? p->compare : p->swap_add,
				 p->swap_add, &orig);
	gone = segs->failed;
	mirror_segs_put(segs);
	if (err)
		return gone ? MIRROR_RX_NAK_ACCESS : MIRROR_RX_NAK_OP;
	r = mirror_res_next(qp);
	r->kind = MIRROR_RES_ATOMIC;
	r->first_psn = p->psn;
	r->last_psn = p->psn;
	r->orig = orig;
	qp->msn++;
	mirror_send_atomic_ack(qp, p->psn, orig);
	return MIRROR_RX_DONE;
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
		qp->res_cur = r;
		break;
	case MIRROR_OP_CMP_SWAP:
	case MIRROR_OP_FETCH_ADD:
		r = mirror_res_find(qp, MIRROR_RES_ATOMIC, p->psn);
		if (r)
			mirror_send_atomic_ack(qp, p->psn, r->orig);
		break;
	default:
		if (p->ackreq)
			mirror_send_ack(qp,
					(qp->epsn - 1) & MIRROR_PSN_MASK,
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
	int cmp = mirror_psn_cmp(p->psn, qp->epsn);
	enum mirror_rx_verdict v = MIRROR_RX_NAK_INVALID;
	u32 npsn = 1;

	if (!rc && cmp) {
		/* UC lost packets: the message in progress is gone. */
		qp->epsn = mirror_psn_add(p->psn, 1);
		if (!mirror_op_starts_message(p->op)) {
			qp->resp_msg = MIRROR_RESP_DROP;
			return false;
		}
		qp->resp_msg = MIRROR_RESP_IDLE;
	} else if (cmp > 0) {
		/* Ahead of the expected PSN: dropped, one NAK says so. */
		mirror_count(dev, MIRROR_CNT_RX_DROP_PSN);
		if (!qp->nak_sent) {
			mirror_count(dev, MIRROR_CNT_SEQ_NAK_SENT);
			mirror_send_ack(qp, qp->epsn, MIRROR_AETH_NAK |
						      MIRROR_NAK_PSN_SEQ);
			qp->nak_sent = true;
		}
		return false;
	} else if (cmp < 0) {
		mirror_rx_duplicate(qp, p);
		return false;
	}
	qp->nak_sent = false;
	if (!rc && qp->resp_msg == MIRROR_RESP_DROP) {
		if (!mirror_op_starts_message(p->op)) {
			qp->epsn = mirror_psn_add(p->psn, 1);
			return false;
		}
		qp->resp_msg = MIRROR_RESP_IDLE;
	}

	switch (p->op) {
	case MIRROR_OP_SEND_FIRST:
	case MIRROR_OP_SEND_MIDDLE:
	case MIRROR_OP_SEND_LAST:
	case MIRROR_OP_SEND_LAST_IMM:
	case MIRROR_OP_SEND_ONLY:
	case MIRROR_OP_SEND_ONLY_IMM:
		v = mirror_rx_send(qp, p);
		break;
	case MIRROR_OP_WRITE_FIRST:
	case MIRROR_OP_WRITE_MIDDLE:
	case MIRROR_OP_WRITE_LAST:
	case MIRROR_OP_WRITE_LAST_IMM:
	case MIRROR_OP_WRITE_ONLY:
	case MIRROR_OP_WRITE_ONLY_IMM:
		v = mirror_rx_write(qp, p);
		break;
	case MIRROR_OP_READ_REQUEST:
		if (qp->resp_msg == MIRROR_RESP_IDLE)
			v = mirror_rx_read(qp, p, &npsn);
		break;
	case MIRROR_OP_CMP_SWAP:
	case MIRROR_OP_FETCH_ADD:
		if (qp->resp_msg == MIRROR_RESP_IDLE)
			v = mirror_rx_atomic(qp, p);
		break;
	}

	switch (v) {
	case MIRROR_RX_DONE:
		qp->epsn = mirror_psn_add(p->psn, npsn);
		if (rc && p->ackreq && p->op <= MIRROR_OP_WRITE_ONLY_IMM) {
			qp->ack_pending = true;
			qp->ack_psn = p->psn;
		}
		return false;
	case MIRROR_RX_RNR:
		if (!rc) {
			qp->resp_msg = MIRROR_RESP_DROP;
			qp->epsn = mirror_psn_add(p->psn, 1);
			return false;
		}
		mirror_count(dev, MIRROR_CNT_RNR_NAK_SENT);
		mirror_send_ack(qp, p->psn, MIRROR_AETH_RNR_NAK |
				(READ_ONCE(qp->attr.min_rnr_timer) &
				 MIRROR_AETH_DETAIL_MASK));
		return false;
	default:
		if (!rc) {
			qp->resp_msg = MIRROR_RESP_DROP;
			qp->epsn = mirror_psn_add(p->psn, 1);
			return false;
		}
		mirror_count(dev, MIRROR_CNT_NAK_SENT);
		mirror_send_ack(qp, p->psn, MIRROR_AETH_NAK |
				(v == MIRROR_RX_NAK_ACCESS ? MIRROR_NAK_REM_ACCESS :
				 v == MIRROR_RX_NAK_OP ? MIRROR_NAK_REM_OP :
				 MIRROR_NAK_INVALID_REQ));
		return true;	/* the responder's QP enters ERR */
	}
}

/* A UD (or GSI) datagram; resp_lock held. Returns true on a QP error. */
static bool mirror_wire_rx_ud(struct mirror_qp *qp, const struct mirror_pkt *p,
			      struct sk_buff *skb)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_segs *segs = &qp->resp_segs;
	u8 grh[MIRROR_GRH_BYTES] = {};
	struct mirror_cqe cqe = {};
	int err;

	if (p->qkey != READ_ONCE(qp->attr.qkey)) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_QKEY);
		return false;
	}
	err = mirror_resp_hold_recv(qp);
	if (err == -EAGAIN)
		return false;	/* no receive posted: dropped */
	mirror_segs_put(segs);
	if (!err)
		err = mirror_resp_recv_segs(qp, segs, 0, (u64)MIRROR_GRH_BYTES +
					    p->paylen);
	if (!err) {
		/*
		 * IPv6: the GRH is the IPv6 header; IPv4: its header sits in
		 * the last 20 of the 40 bytes.
		 */
		if (skb->protocol == htons(ETH_P_IPV6))
			memcpy(grh, ipv6_hdr(skb), MIRROR_GRH_BYTES);
		else
			memcpy(grh + MIRROR_GRH_BYTES - sizeof(struct iphdr),
			       ip_hdr(skb), sizeof(struct iphdr));
		err = mirror_segs_xfer(segs, 0, grh, sizeof(grh), true);
	}
	if (!err && p->paylen)
		err = mirror_segs_xfer(segs, MIRROR_GRH_BYTES, p->payload,
				       p->paylen, true);
	mirror_segs_put(segs);
	if (err) {
		/* A bad lkey, or an ODP page that cannot be faulted in. */
		mirror_resp_recv_error(qp, err == -EMSGSIZE ?
				       IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR,
				       p->sqpn);
		return true;
	}
	cqe.opcode = MIRROR_WC_RECV;
	cqe.src_qp = p->sqpn;
	cqe.byte_len = MIRROR_GRH_BYTES + p->paylen;
	cqe.wc_flags = IB_WC_GRH;
	cqe.network_hdr_type = skb->protocol == htons(ETH_P_IPV6) ?
			       MIRROR_CQE_NET_IPV6 : MIRROR_CQE_NET_IPV4;
	if (p->has_imm) {
		cqe.imm_data = (__force u32)p->imm;
		cqe.wc_flags |= IB_WC_WITH_IMM;
	}
	mirror_resp_recv_done(qp, &cqe, p->se);
	return false;
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
	if (!qp->wire) {
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
				mirror_wire_rx_response(qp, &p);
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

		if (qp->res_cur) {
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
	struct mirror_qp *qp = container_of(work, struct mirror_qp, rx_work);
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
	more = qp->res_cur || !skb_queue_empty(&qp->rx_queue) ||
	       !skb_queue_empty(&qp->rx_resp_queue);
	mutex_unlock(&qp->resp_lock);
	if (more)
		queue_work(dev->wq, &qp->rx_work);
}

/**
 * mirror_wire_qp_init() - set up a new QP's wire state
 * @qp: the QP
 */
void mirror_wire_qp_init(struct mirror_qp *qp)
{
	skb_queue_head_init(&qp->rx_queue);
	skb_queue_head_init(&qp->rx_resp_queue);
	atomic_set(&qp->rx_queued, 0);
	INIT_WORK(&qp->rx_work, mirror_qp_rx_work);
	timer_setup(&qp->retrans_timer, mirror_qp_retrans_timer, 0);
	qp->rnr_left = MIRROR_RNR_NOT_STARTED;
	qp->dfault_left = MIRROR_RNR_NOT_STARTED;
}

/**
 * mirror_wire_qp_reset() - forget all wire state (RESET, and before RTR)
 * @qp: the QP; state_lock held, its work items idle or harmless
 */
void mirror_wire_qp_reset(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->state_lock);
	del_timer(&qp->retrans_timer);
	mirror_rx_purge(qp);
	mutex_lock(&qp->req_lock);
	qp->sq_next = qp->sq_cons;
	qp->sq_fetched = qp->sq_cons;
	qp->rd_out = 0;
	qp->rnr_wait = false;
	qp->rnr_left = MIRROR_RNR_NOT_STARTED;
	qp->dfault_left = MIRROR_RNR_NOT_STARTED;
	clear_bit(0, &qp->retrans_due);
	mutex_lock(&qp->resp_lock);
	/* An error found before the reset is not this connection's. */
	clear_bit(0, &qp->err_due);
	qp->resp_msg = MIRROR_RESP_IDLE;
	qp->resp_have_recv = false;
	qp->nak_sent = false;
	qp->ack_pending = false;
	qp->msn = 0;
	if (qp->res)
		memset(qp->res, 0, MIRROR_MAX_RD_ATOM * sizeof(*qp->res));
	qp->res_head = 0;
	qp->res_cur = NULL;
	mirror_segs_put(&qp->resp_segs);
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}
