// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_wire.c - RC, UC and UD over RoCEv2: the requester that turns
 * WQEs into packets, the completer that turns ACKs and responses into
 * completions, and the responder that executes incoming requests.
 *
 * Everything here runs in process context: the requester from the
 * doorbell or the QP's req_work, the completer and the responder from
 * the QP's rx_work, which drains the packets the UDP receive path queued.
 *
 * Requester (RC): WQEs stay in the SQ ring until they complete; sq_cons
 * is the oldest incomplete WQE, sq_next the next one to send, and
 * meta[] holds each in-flight WQE's PSN range. Per WQE:
 *
 *   SEND: resolve local memory -> packets (PSN first..last) -> wait
 *   WAIT: ACK covering last      -> DONE
 *         RNR NAK                -> rewind here, resend after the timer
 *         PSN sequence NAK       -> rewind here, resend now
 *         other NAK              -> DONE with the error (QP -> ERR)
 *         timeout                -> rewind to the oldest (retry_cnt)
 *   DONE: completions are reported strictly in SQ order.
 *
 * Responder (RC): expected PSN epsn; ACKs are coalesced per rx_work batch
 * (one for the newest PSN that asked). A packet beyond it gets one PSN
 * sequence NAK; one before it is a duplicate (re-ACKed, READs re-run,
 * atomics answered from the replay cache); one at it is executed:
 *
 *   IDLE --SEND_FIRST--> SEND --SEND_MIDDLE--> SEND --SEND_LAST--> IDLE
 *   IDLE --WRITE_FIRST-> WRITE -...-> IDLE;  ONLY packets stay in IDLE
 *
 * Locks: req_lock covers the requester and the completer, resp_lock the
 * responder (lock order state_lock -> req_lock -> resp_lock).
 */
#include <linux/ip.h>
#include <linux/unaligned.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>

#include "mirror.h"

/* PSNs in flight at most: keeps every PSN comparison unambiguous. */
#define MIRROR_WINDOW_PSNS	1024
/* Inside long messages the requester asks for an ACK this often. */
#define MIRROR_ACKREQ_EVERY	64
/* Packets the rx work handles before it yields. */
#define MIRROR_RX_BUDGET	64
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

/* Builds one packet and hands it to the network. */
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
			return err;
		}
	}
	return mirror_pkt_xmit(dev, skb, path);
}

/* The path MTU of a connected QP, in bytes. */
static u32 mirror_qp_mtu(struct mirror_qp *qp)
{
	u32 path = ib_mtu_enum_to_int(qp->attr.path_mtu);
	u32 port = mirror_dev_mtu(to_mirror_dev(qp->ibqp.device));

	if (path <= 0 || path > port)
		return port;
	return path;
}

/* Packets a message of @len bytes takes at @mtu (at least one). */
static u32 mirror_npkts(u32 len, u32 mtu)
{
	return len ? DIV_ROUND_UP(len, mtu) : 1;
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
		.dqpn = qp->attr.dest_qp_num,
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
 * Reports the WQEs at the head of the SQ that are done, in order. A
 * failed one sets *qp_err: the QP then enters ERR and the rest is flushed.
 */
static void mirror_wire_complete(struct mirror_qp *qp, bool *qp_err)
{
	while (qp->sq_cons != qp->sq_next) {
		struct mirror_sq_meta *m = mirror_meta(qp, qp->sq_cons);
		struct mirror_send_wqe w;
		struct mirror_cqe cqe = {};

		if (!m->done)
			break;
		memcpy(&w, mirror_queue_slot(&qp->sq, qp->sq_cons), sizeof(w));
		if (m->status != IB_WC_SUCCESS || qp->sq_sig_all ||
		    (w.send_flags & IB_SEND_SIGNALED)) {
			cqe.wr_id = w.wr_id;
			cqe.status = m->status;
			cqe.opcode = mirror_wc_opcode(w.opcode);
			cqe.byte_len = m->byte_len;
			cqe.qp_num = qp->ibqp.qp_num;
			mirror_complete(qp, false, &cqe, false);
		}
		qp->sq_cons++;
		smp_store_release(&qp->sq.hdr->consumer, qp->sq_cons);
		if (m->status != IB_WC_SUCCESS) {
			*qp_err = true;
			break;
		}
	}
	if (qp->sq_cons == qp->sq_next)
		del_timer(&qp->retrans_timer);
}

/* Sends the packets of one WQE from @psn on; *npsn gets the PSNs used. */
static int mirror_send_wqe(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
			   u32 psn, u32 *npsn)
{
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	u8 tr = rc ? MIRROR_TR_RC : MIRROR_TR_UC;
	u32 len = qp->req_local.total, mtu = mirror_qp_mtu(qp);
	u32 n = mirror_npkts(len, mtu), i;
	bool write = wqe->opcode == IB_UVERBS_WR_RDMA_WRITE ||
		     wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	bool imm = wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM ||
		   wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	struct mirror_txp t = {
		.dqpn = qp->attr.dest_qp_num,
		.src = &qp->req_local,
	};
	int err;

	switch (wqe->opcode) {
	case IB_UVERBS_WR_RDMA_READ:
		t.opcode = tr | MIRROR_OP_READ_REQUEST;
		t.reth = true;
		t.va = wqe->wr.rdma.remote_addr;
		t.rkey = wqe->wr.rdma.rkey;
		t.dma_len = len;
		t.psn = psn;
		t.ackreq = true;
		*npsn = n;	/* the responses take these PSNs */
		return mirror_txp_send(qp, &t, &qp->path);
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
		*npsn = 1;
		return mirror_txp_send(qp, &t, &qp->path);
	}

	*npsn = n;
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
		t.src_off = (u64)i * mtu;
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
		err = mirror_txp_send(qp, &t, &qp->path);
		if (err)
			return err;
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
		u32 prod = READ_ONCE(qp->sq.hdr->producer);
		u32 idx = qp->sq_next, n = 1;
		struct mirror_send_wqe *wqe;
		struct mirror_sq_meta *m;
		enum ib_wc_status status;
		int err;

		if (idx == prod)
			break;
		if (prod - qp->sq_cons > qp->sq.num_slots) {
			*qp_err = true;	/* user space broke its ring */
			break;
		}
		if (rc && idx != qp->sq_cons &&
		    mirror_psn_cmp(qp->req_psn,
				   mirror_meta(qp, qp->sq_cons)->first_psn) >=
		    MIRROR_WINDOW_PSNS)
			break;
		memcpy(qp->wqe, mirror_queue_slot(&qp->sq, idx), qp->sq.stride);
		wqe = qp->wqe;
		m = mirror_meta(qp, idx);
		m->kind = mirror_wqe_kind(wqe->opcode);
		if (m->kind != MIRROR_KIND_SEND &&
		    qp->rd_out >= max_t(u32, qp->attr.max_rd_atomic, 1))
			break;
		m->done = false;
		m->first_psn = qp->req_psn;
		m->next_resp = qp->req_psn;
		status = mirror_wqe_local(qp, wqe);
		if (status != IB_WC_SUCCESS) {
			m->last_psn = qp->req_psn;
			m->kind = MIRROR_KIND_SEND;
			mirror_meta_done(qp, m, status, 0);
			qp->sq_next++;
			break;
		}
		if (m->kind != MIRROR_KIND_SEND)
			qp->rd_out++;
		err = mirror_send_wqe(qp, wqe, qp->req_psn, &n);
		mirror_segs_put(&qp->req_local);
		if (err == -ENOMEM) {
			if (m->kind != MIRROR_KIND_SEND)
				qp->rd_out--;
			queue_delayed_work(dev->wq, &qp->req_work, 1);
			break;
		}
		/* Other send errors (no route) are losses: RC retries. */
		m->last_psn = mirror_psn_add(qp->req_psn, n - 1);
		qp->req_psn = mirror_psn_add(qp->req_psn, n);
		qp->sq_next++;
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
 * @wqe: the WQE
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

static bool mirror_op_is_response(u8 op)
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

/* Resolves the local memory of in-flight WQE @idx again. */
static enum ib_wc_status mirror_refetch_local(struct mirror_qp *qp, u32 idx)
{
	memcpy(qp->wqe, mirror_queue_slot(&qp->sq, idx), qp->sq.stride);
	return mirror_wqe_local(qp, qp->wqe);
}

/* A READ response at the PSN expected for WQE @idx. */
static void mirror_rx_read_resp(struct mirror_qp *qp, u32 idx,
				struct mirror_sq_meta *m,
				const struct mirror_pkt *p)
{
	bool last = p->op == MIRROR_OP_READ_RESP_LAST ||
		    p->op == MIRROR_OP_READ_RESP_ONLY;
	u32 mtu = mirror_qp_mtu(qp);
	enum ib_wc_status status;
	u64 off;

	status = mirror_refetch_local(qp, idx);
	if (status != IB_WC_SUCCESS) {
		mirror_meta_done(qp, m, status, 0);
		goto out;
	}
	off = (u64)((p->psn - m->first_psn) & MIRROR_PSN_MASK) * mtu;
	if ((!last && p->paylen != mtu) ||
	    off + p->paylen > qp->req_local.total ||
	    (last && off + p->paylen != qp->req_local.total)) {
		mirror_meta_done(qp, m, IB_WC_BAD_RESP_ERR, 0);
		goto out;
	}
	if (mirror_segs_xfer(&qp->req_local, off, p->payload, p->paylen,
			     true)) {
		/* The ODP target went away during the READ. */
		mirror_meta_done(qp, m, IB_WC_LOC_PROT_ERR, 0);
		goto out;
	}
	m->next_resp = mirror_psn_add(m->next_resp, 1);
	if (last)
		mirror_meta_done(qp, m, IB_WC_SUCCESS, qp->req_local.total);
out:
	mirror_segs_put(&qp->req_local);
}

static void mirror_rx_atomic_ack(struct mirror_qp *qp, u32 idx,
				 struct mirror_sq_meta *m, u64 orig)
{
	enum ib_wc_status status = mirror_refetch_local(qp, idx);

	if (status == IB_WC_SUCCESS &&
	    mirror_segs_xfer(&qp->req_local, 0, &orig, sizeof(orig), true))
		status = IB_WC_LOC_PROT_ERR;
	mirror_meta_done(qp, m, status, status ? 0 : sizeof(orig));
	mirror_segs_put(&qp->req_local);
}

/* An ACK, NAK or response for the requester of @qp; req_lock held. */
static void mirror_wire_rx_response(struct mirror_qp *qp,
				    const struct mirror_pkt *p)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u8 syn = p->has_aeth ? p->aeth >> 24 : MIRROR_AETH_ACK;
	u8 kind = syn & MIRROR_AETH_KIND_MASK;
	struct mirror_sq_meta *m = NULL;
	bool progress = false;
	u32 i;

	if (qp->ibqp.qp_type != IB_QPT_RC)
		return;
	/* Find the WQE the PSN belongs to; the ones before it are acked. */
	for (i = qp->sq_cons; i != qp->sq_next; i++) {
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
	if (i == qp->sq_next)
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

/* Completes the receive being filled with an error. */
static void mirror_recv_error(struct mirror_qp *qp, u64 wr_id,
			      enum ib_wc_status status)
{
	struct mirror_cqe cqe = {
		.wr_id = wr_id,
		.status = status,
		.opcode = MIRROR_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
		.src_qp = qp->attr.dest_qp_num,
	};

	mirror_complete(qp, true, &cqe, false);
}

/* Takes a receive for the message starting now, unless one is held. */
static enum mirror_rx_verdict mirror_rx_need_recv(struct mirror_qp *qp)
{
	int err;

	if (qp->resp_have_recv)
		return MIRROR_RX_DONE;
	err = mirror_resp_take_recv(qp, &qp->resp_wr_id);
	if (err == -EAGAIN)
		return MIRROR_RX_RNR;
	if (err) {
		mirror_recv_error(qp, qp->resp_wr_id, IB_WC_LOC_PROT_ERR);
		mirror_segs_put(&qp->resp_recv);
		return MIRROR_RX_NAK_OP;
	}
	qp->resp_have_recv = true;
	return MIRROR_RX_DONE;
}

/* The message is in: complete the receive it used and let it go. */
static void mirror_rx_recv_done(struct mirror_qp *qp,
				const struct mirror_pkt *p, u8 wc_opcode)
{
	struct mirror_cqe cqe = {
		.wr_id = qp->resp_wr_id,
		.status = IB_WC_SUCCESS,
		.opcode = wc_opcode,
		.byte_len = qp->resp_off,
		.qp_num = qp->ibqp.qp_num,
		.src_qp = qp->attr.dest_qp_num,
	};

	if (p->has_imm) {
		cqe.imm_data = (__force u32)p->imm;
		cqe.wc_flags = IB_WC_WITH_IMM;
	}
	mirror_complete(qp, true, &cqe, p->se);
	mirror_segs_put(&qp->resp_recv);
	qp->resp_have_recv = false;
}

static enum mirror_rx_verdict mirror_rx_send(struct mirror_qp *qp,
					     const struct mirror_pkt *p)
{
	bool first = p->op == MIRROR_OP_SEND_FIRST ||
		     p->op == MIRROR_OP_SEND_ONLY ||
		     p->op == MIRROR_OP_SEND_ONLY_IMM;
	bool last = p->op != MIRROR_OP_SEND_FIRST &&
		    p->op != MIRROR_OP_SEND_MIDDLE;
	enum mirror_rx_verdict v;

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
	    (u64)qp->resp_off + p->paylen > qp->resp_recv.total) {
		mirror_recv_error(qp, qp->resp_wr_id, IB_WC_LOC_LEN_ERR);
		mirror_segs_put(&qp->resp_recv);
		qp->resp_have_recv = false;
		qp->resp_msg = MIRROR_RESP_IDLE;
		return MIRROR_RX_NAK_INVALID;
	}
	if (mirror_segs_xfer(&qp->resp_recv, qp->resp_off, p->payload,
			     p->paylen, true)) {
		/* An ODP receive buffer that cannot be faulted in. */
		mirror_recv_error(qp, qp->resp_wr_id, IB_WC_LOC_PROT_ERR);
		mirror_segs_put(&qp->resp_recv);
		qp->resp_have_recv = false;
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

static enum mirror_rx_verdict mirror_rx_write(struct mirror_qp *qp,
					      const struct mirror_pkt *p)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool first = p->op == MIRROR_OP_WRITE_FIRST ||
		     p->op == MIRROR_OP_WRITE_ONLY ||
		     p->op == MIRROR_OP_WRITE_ONLY_IMM;
	bool last = p->op != MIRROR_OP_WRITE_FIRST &&
		    p->op != MIRROR_OP_WRITE_MIDDLE;
	enum mirror_rx_verdict v;

	if (first) {
		if (qp->resp_msg == MIRROR_RESP_SEND ||
		    qp->resp_msg == MIRROR_RESP_WRITE)
			return MIRROR_RX_NAK_INVALID;
		mirror_segs_put(&qp->resp_write);
		if (!(READ_ONCE(qp->attr.qp_access_flags) &
		      IB_ACCESS_REMOTE_WRITE))
			return MIRROR_RX_NAK_ACCESS;
		if (p->dma_len &&
		    (mirror_segs_add(&qp->resp_write, dev, qp->ibqp.pd,
				     p->rkey, p->va, p->dma_len,
				     IB_ACCESS_REMOTE_WRITE) ||
		     mirror_segs_fault(&qp->resp_write, true)))
			return MIRROR_RX_NAK_ACCESS;
		qp->resp_off = 0;
		qp->resp_msg = MIRROR_RESP_WRITE;
	} else if (qp->resp_msg != MIRROR_RESP_WRITE) {
		return MIRROR_RX_NAK_INVALID;
	}
	if ((!last && p->paylen != mirror_qp_mtu(qp)) ||
	    (u64)qp->resp_off + p->paylen > qp->resp_write.total ||
	    (last && qp->resp_off + p->paylen != qp->resp_write.total))
		return MIRROR_RX_NAK_INVALID;
	/*
	 * The data goes first: a packet answered with an RNR NAK below is
	 * sent again and rewrites the same bytes.
	 */
	if (p->paylen &&
	    mirror_segs_xfer(&qp->resp_write, qp->resp_off, p->payload,
			     p->paylen, true))
		return MIRROR_RX_NAK_ACCESS;	/* ODP memory went away */
	if (last && p->has_imm) {
		v = mirror_rx_need_recv(qp);
		if (v != MIRROR_RX_DONE)
			return v;
	}
	qp->resp_off += p->paylen;
	if (!last)
		return MIRROR_RX_DONE;

	if (p->has_imm)
		mirror_rx_recv_done(qp, p, MIRROR_WC_RECV_RDMA_WITH_IMM);
	mirror_segs_put(&qp->resp_write);
	qp->resp_msg = MIRROR_RESP_IDLE;
	qp->msn++;
	return MIRROR_RX_DONE;
}

/*
 * A READ request (new or duplicate): sends the responses, which take the
 * PSNs from the request's on. *npsn gets their count.
 */
static enum mirror_rx_verdict mirror_rx_read(struct mirror_qp *qp,
					     const struct mirror_pkt *p,
					     bool dup, u32 *npsn)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 mtu = mirror_qp_mtu(qp), n = mirror_npkts(p->dma_len, mtu), i;
	struct mirror_txp t = {
		.dqpn = qp->attr.dest_qp_num,
		.src = &qp->resp_read,
	};

	if (p->dma_len > (1U << 31))
		return MIRROR_RX_NAK_INVALID;
	mirror_segs_put(&qp->resp_read);
	if (!(READ_ONCE(qp->attr.qp_access_flags) & IB_ACCESS_REMOTE_READ) ||
	    (p->dma_len &&
	     (mirror_segs_add(&qp->resp_read, dev, qp->ibqp.pd, p->rkey,
			      p->va, p->dma_len, IB_ACCESS_REMOTE_READ) ||
	      mirror_segs_fault(&qp->resp_read, false))))
		return MIRROR_RX_NAK_ACCESS;
	if (!dup)
		qp->msn++;
	mirror_flush_ack(qp);
	for (i = 0; i < n; i++) {
		bool first = i == 0, last = i == n - 1;

		t.opcode = MIRROR_TR_RC |
			   (first && last ? MIRROR_OP_READ_RESP_ONLY :
			    first ? MIRROR_OP_READ_RESP_FIRST :
			    last ? MIRROR_OP_READ_RESP_LAST :
				   MIRROR_OP_READ_RESP_MIDDLE);
		t.psn = mirror_psn_add(p->psn, i);
		t.aeth = first || last;
		t.aeth_val = mirror_aeth_val(MIRROR_AETH_ACK |
					     MIRROR_AETH_NO_CREDITS, qp->msn);
		t.src_off = (u64)i * mtu;
		t.paylen = min(mtu, p->dma_len - i * mtu);
		if (mirror_txp_send(qp, &t, &qp->path))
			break;	/* lost: the requester asks again */
	}
	mirror_segs_put(&qp->resp_read);
	*npsn = n;
	return MIRROR_RX_DONE;
}

static void mirror_send_atomic_ack(struct mirror_qp *qp, u32 psn, u64 orig)
{
	struct mirror_txp t = {
		.opcode = MIRROR_TR_RC | MIRROR_OP_ATOMIC_ACK,
		.dqpn = qp->attr.dest_qp_num,
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
	bool cmp_swap = p->op == MIRROR_OP_CMP_SWAP;
	struct mirror_replay *r;
	u64 orig;
	int err;

	if (p->va & (sizeof(u64) - 1))
		return MIRROR_RX_NAK_INVALID;
	mirror_segs_put(&qp->resp_read);
	if (!(READ_ONCE(qp->attr.qp_access_flags) & IB_ACCESS_REMOTE_ATOMIC) ||
	    mirror_segs_add(&qp->resp_read, dev, qp->ibqp.pd, p->rkey, p->va,
			    sizeof(u64), IB_ACCESS_REMOTE_ATOMIC) ||
	    mirror_segs_fault(&qp->resp_read, true))
		return MIRROR_RX_NAK_ACCESS;
	mutex_lock(&dev->atomic_lock);
	err = mirror_segs_atomic(&qp->resp_read, cmp_swap,
				 cmp_swap ? p->compare : p->swap_add,
				 p->swap_add, &orig);
	mutex_unlock(&dev->atomic_lock);
	if (err) {
		bool gone = qp->resp_read.failed;

		mirror_segs_put(&qp->resp_read);
		return gone ? MIRROR_RX_NAK_ACCESS : MIRROR_RX_NAK_OP;
	}
	mirror_segs_put(&qp->resp_read);
	r = &qp->replay[qp->replay_next++ % MIRROR_REPLAY_SLOTS];
	r->psn = p->psn;
	r->orig = orig;
	r->valid = true;
	qp->msn++;
	mirror_send_atomic_ack(qp, p->psn, orig);
	return MIRROR_RX_DONE;
}

/* A request with a PSN before the expected one. */
static void mirror_rx_duplicate(struct mirror_qp *qp,
				const struct mirror_pkt *p)
{
	u32 n, i;

	mirror_count(to_mirror_dev(qp->ibqp.device), MIRROR_CNT_DUP_REQUEST);
	switch (p->op) {
	case MIRROR_OP_READ_REQUEST:
		mirror_rx_read(qp, p, true, &n);
		break;
	case MIRROR_OP_CMP_SWAP:
	case MIRROR_OP_FETCH_ADD:
		/* Never executed twice: answered from the replay cache. */
		for (i = 0; i < MIRROR_REPLAY_SLOTS; i++)
			if (qp->replay[i].valid && qp->replay[i].psn == p->psn) {
				mirror_send_atomic_ack(qp, p->psn,
						       qp->replay[i].orig);
				break;
			}
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
			v = mirror_rx_read(qp, p, false, &npsn);
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
	u8 grh[MIRROR_GRH_BYTES] = {};
	struct mirror_cqe cqe = {};
	u64 wr_id = 0;
	int err;

	if (p->qkey != READ_ONCE(qp->attr.qkey)) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_QKEY);
		return false;
	}
	err = mirror_resp_take_recv(qp, &wr_id);
	if (err == -EAGAIN)
		return false;	/* no receive posted: dropped */
	cqe.wr_id = wr_id;
	cqe.opcode = MIRROR_WC_RECV;
	cqe.qp_num = qp->ibqp.qp_num;
	cqe.src_qp = p->sqpn;
	if (!err && qp->resp_recv.total < (u64)MIRROR_GRH_BYTES + p->paylen)
		err = -EMSGSIZE;
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
		err = mirror_segs_xfer(&qp->resp_recv, 0, grh, sizeof(grh),
				       true);
	}
	if (!err)
		err = mirror_segs_xfer(&qp->resp_recv, MIRROR_GRH_BYTES,
				       p->payload, p->paylen, true);
	if (err) {
		/* A bad lkey, or an ODP page that cannot be faulted in. */
		cqe.status = err == -EMSGSIZE ? IB_WC_LOC_LEN_ERR :
						IB_WC_LOC_PROT_ERR;
		mirror_complete(qp, true, &cqe, false);
		mirror_segs_put(&qp->resp_recv);
		return true;
	}
	cqe.status = IB_WC_SUCCESS;
	cqe.byte_len = MIRROR_GRH_BYTES + p->paylen;
	cqe.wc_flags = IB_WC_GRH;
	cqe.network_hdr_type = skb->protocol == htons(ETH_P_IPV6) ?
			       MIRROR_CQE_NET_IPV6 : MIRROR_CQE_NET_IPV4;
	if (p->has_imm) {
		cqe.imm_data = (__force u32)p->imm;
		cqe.wc_flags |= IB_WC_WITH_IMM;
	}
	mirror_complete(qp, true, &cqe, p->se);
	mirror_segs_put(&qp->resp_recv);
	return false;
}

/**
 * mirror_qp_rx_work() - handle the packets queued for a QP
 * @work: the QP's rx_work
 */
void mirror_qp_rx_work(struct work_struct *work)
{
	struct mirror_qp *qp = container_of(work, struct mirror_qp, rx_work);
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	int budget = MIRROR_RX_BUDGET;
	bool qp_err = false;
	struct sk_buff *skb;

	while (budget-- && !qp_err && (skb = skb_dequeue(&qp->rx_queue))) {
		enum mirror_qp_state state = READ_ONCE(qp->state);
		struct mirror_pkt p;

		if (mirror_pkt_parse(skb->data, skb->len, &p) ||
		    state < MIRROR_QPS_RTR || state == MIRROR_QPS_ERR) {
			kfree_skb(skb);
			continue;
		}
		if (mirror_type_is_ud(qp->ibqp.qp_type)) {
			mutex_lock(&qp->resp_lock);
			qp_err = mirror_wire_rx_ud(qp, &p, skb);
			mutex_unlock(&qp->resp_lock);
		} else if (mirror_op_is_response(p.op)) {
			mutex_lock(&qp->req_lock);
			if (state == MIRROR_QPS_RTS) {
				mirror_wire_rx_response(qp, &p);
				mirror_wire_req_locked(qp, &qp_err);
			}
			mutex_unlock(&qp->req_lock);
		} else {
			mutex_lock(&qp->resp_lock);
			qp_err = mirror_wire_rx_request(qp, &p);
			mutex_unlock(&qp->resp_lock);
		}
		kfree_skb(skb);
	}
	if (!mirror_type_is_ud(qp->ibqp.qp_type)) {
		mutex_lock(&qp->resp_lock);
		mirror_flush_ack(qp);
		mutex_unlock(&qp->resp_lock);
	}
	if (qp_err)
		mirror_qp_enter_err(qp);
	else if (!skb_queue_empty(&qp->rx_queue))
		queue_work(dev->wq, &qp->rx_work);
}

/**
 * mirror_wire_qp_init() - set up a new QP's wire state
 * @qp: the QP
 */
void mirror_wire_qp_init(struct mirror_qp *qp)
{
	skb_queue_head_init(&qp->rx_queue);
	INIT_WORK(&qp->rx_work, mirror_qp_rx_work);
	timer_setup(&qp->retrans_timer, mirror_qp_retrans_timer, 0);
	qp->rnr_left = MIRROR_RNR_NOT_STARTED;
}

/**
 * mirror_wire_qp_reset() - forget all wire state (RESET, and before RTR)
 * @qp: the QP; state_lock held, its work items idle or harmless
 */
void mirror_wire_qp_reset(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->state_lock);
	del_timer(&qp->retrans_timer);
	skb_queue_purge(&qp->rx_queue);
	mutex_lock(&qp->req_lock);
	qp->sq_next = qp->sq_cons;
	qp->rd_out = 0;
	qp->rnr_wait = false;
	qp->rnr_left = MIRROR_RNR_NOT_STARTED;
	clear_bit(0, &qp->retrans_due);
	mutex_lock(&qp->resp_lock);
	qp->resp_msg = MIRROR_RESP_IDLE;
	qp->resp_have_recv = false;
	qp->nak_sent = false;
	qp->ack_pending = false;
	qp->msn = 0;
	memset(qp->replay, 0, sizeof(qp->replay));
	mirror_segs_put(&qp->resp_recv);
	mirror_segs_put(&qp->resp_write);
	mirror_segs_put(&qp->resp_read);
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}
