// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_pkt.c - the packet codec: what each operation carries (one table,
 * read by both the parser and the builder), the decoding of a received
 * packet's transport headers, their encoding for a packet to send, the
 * opcode of each packet of a message, the packets a message takes at a
 * path's MTU, the RNR timer codes, and the IP/UDP addressing of an address
 * vector. Functions of their arguments (and of a netdev's MTU): the
 * receive path (mirror_net.c), the requester, the completer and the
 * responder share them, so a header is laid out in exactly one place.
 */
#include <net/ipv6.h>
#include <rdma/ib_cache.h>

#include "mirror.h"

/* What each operation carries; see IBA table 38. */
enum {
	MIRROR_H_RETH	= BIT(0),
	MIRROR_H_IMM	= BIT(1),
	MIRROR_H_AETH	= BIT(2),
	MIRROR_H_ATMETH	= BIT(3),
	MIRROR_H_ATMACK	= BIT(4),
	MIRROR_H_PAYLOAD = BIT(5),
	MIRROR_H_RC	= BIT(6),	/* valid on RC */
	MIRROR_H_UC	= BIT(7),	/* valid on UC */
	MIRROR_H_UD	= BIT(8),	/* valid on UD (with a DETH) */
	MIRROR_H_IETH	= BIT(9),
	MIRROR_H_FETH	= BIT(10),	/* before the RETH */
};

static const u16 mirror_op_hdrs[MIRROR_OP_COUNT] = {
#define RCUC (MIRROR_H_RC | MIRROR_H_UC)
	[MIRROR_OP_SEND_FIRST]	= RCUC | MIRROR_H_PAYLOAD,
	[MIRROR_OP_SEND_MIDDLE]	= RCUC | MIRROR_H_PAYLOAD,
	[MIRROR_OP_SEND_LAST]	= RCUC | MIRROR_H_PAYLOAD,
	[MIRROR_OP_SEND_LAST_IMM] = RCUC | MIRROR_H_PAYLOAD | MIRROR_H_IMM,
	[MIRROR_OP_SEND_ONLY]	= RCUC | MIRROR_H_UD | MIRROR_H_PAYLOAD,
	[MIRROR_OP_SEND_ONLY_IMM] = RCUC | MIRROR_H_UD | MIRROR_H_PAYLOAD |
				    MIRROR_H_IMM,
	[MIRROR_OP_WRITE_FIRST]	= RCUC | MIRROR_H_PAYLOAD | MIRROR_H_RETH,
	[MIRROR_OP_WRITE_MIDDLE] = RCUC | MIRROR_H_PAYLOAD,
	[MIRROR_OP_WRITE_LAST]	= RCUC | MIRROR_H_PAYLOAD,
	[MIRROR_OP_WRITE_LAST_IMM] = RCUC | MIRROR_H_PAYLOAD | MIRROR_H_IMM,
	[MIRROR_OP_WRITE_ONLY]	= RCUC | MIRROR_H_PAYLOAD | MIRROR_H_RETH,
	[MIRROR_OP_WRITE_ONLY_IMM] = RCUC | MIRROR_H_PAYLOAD | MIRROR_H_RETH |
				     MIRROR_H_IMM,
	[MIRROR_OP_READ_REQUEST] = MIRROR_H_RC | MIRROR_H_RETH,
	[MIRROR_OP_READ_RESP_FIRST] = MIRROR_H_RC | MIRROR_H_PAYLOAD |
				      MIRROR_H_AETH,
	[MIRROR_OP_READ_RESP_MIDDLE] = MIRROR_H_RC | MIRROR_H_PAYLOAD,
	[MIRROR_OP_READ_RESP_LAST] = MIRROR_H_RC | MIRROR_H_PAYLOAD |
				     MIRROR_H_AETH,
	[MIRROR_OP_READ_RESP_ONLY] = MIRROR_H_RC | MIRROR_H_PAYLOAD |
				     MIRROR_H_AETH,
	[MIRROR_OP_ACK]		= MIRROR_H_RC | MIRROR_H_AETH,
	[MIRROR_OP_ATOMIC_ACK]	= MIRROR_H_RC | MIRROR_H_AETH | MIRROR_H_ATMACK,
	[MIRROR_OP_CMP_SWAP]	= MIRROR_H_RC | MIRROR_H_ATMETH,
	[MIRROR_OP_FETCH_ADD]	= MIRROR_H_RC | MIRROR_H_ATMETH,
	[MIRROR_OP_SEND_LAST_INV] = MIRROR_H_RC | MIRROR_H_PAYLOAD |
				    MIRROR_H_IETH,
	[MIRROR_OP_SEND_ONLY_INV] = MIRROR_H_RC | MIRROR_H_PAYLOAD |
				    MIRROR_H_IETH,
	[MIRROR_OP_FLUSH]	= MIRROR_H_RC | MIRROR_H_FETH | MIRROR_H_RETH,
	[MIRROR_OP_ATOMIC_WRITE] = MIRROR_H_RC | MIRROR_H_RETH |
				   MIRROR_H_PAYLOAD,
#undef RCUC
};

/**
 * mirror_pkt_parse() - decode the transport headers of a packet
 * @data: the BTH
 * @len: bytes from the BTH to the end of the ICRC
 * @p: filled in
 *
 * Return: 0, or the drop counter that says why the packet is malformed.
 */
int mirror_pkt_parse(u8 *data, u32 len, struct mirror_pkt *p)
{
	struct mirror_bth *bth = (struct mirror_bth *)data;
	u32 need = sizeof(*bth) + MIRROR_ICRC_BYTES, off = sizeof(*bth);
	u16 hdrs;
	u8 tr;

	memset(p, 0, sizeof(*p));
	if (len < need)
		return MIRROR_CNT_RX_DROP_LEN;
	if (bth->flags & MIRROR_BTH_TVER_MASK)
		return MIRROR_CNT_RX_DROP_OPCODE;
	p->opcode = bth->opcode;
	p->op = bth->opcode & MIRROR_OP_MASK;
	tr = bth->opcode & MIRROR_TR_MASK;
	if (p->op >= MIRROR_OP_COUNT)
		return MIRROR_CNT_RX_DROP_OPCODE;
	hdrs = mirror_op_hdrs[p->op];
	switch (tr) {
	case MIRROR_TR_RC:
		p->type = IB_QPT_RC;
		if (!(hdrs & MIRROR_H_RC))
			return MIRROR_CNT_RX_DROP_OPCODE;
		break;
	case MIRROR_TR_UC:
		p->type = IB_QPT_UC;
		if (!(hdrs & MIRROR_H_UC))
			return MIRROR_CNT_RX_DROP_OPCODE;
		break;
	case MIRROR_TR_UD:
		p->type = IB_QPT_UD;
		if (!(hdrs & MIRROR_H_UD))
			return MIRROR_CNT_RX_DROP_OPCODE;
		break;
	default:
		return MIRROR_CNT_RX_DROP_OPCODE;
	}
	p->se = bth->flags & MIRROR_BTH_SE;
	p->pad = (bth->flags & MIRROR_BTH_PAD_MASK) >> MIRROR_BTH_PAD_SHIFT;
	p->dqpn = be32_to_cpu(bth->qpn) & MIRROR_QPN_MASK;
	p->psn = be32_to_cpu(bth->apsn) & MIRROR_PSN_MASK;
	p->ackreq = be32_to_cpu(bth->apsn) & MIRROR_BTH_ACKREQ;

	if (tr == MIRROR_TR_UD) {
		struct mirror_deth *deth = (void *)(data + off);

		need += sizeof(*deth);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->qkey = be32_to_cpu(deth->qkey);
		p->sqpn = be32_to_cpu(deth->sqpn) & MIRROR_QPN_MASK;
		off += sizeof(*deth);
	}
	if (hdrs & MIRROR_H_FETH) {
		need += sizeof(struct mirror_feth);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->feth = get_unaligned_be32(data + off);
		off += sizeof(struct mirror_feth);
	}
	if (hdrs & MIRROR_H_RETH) {
		struct mirror_reth *reth = (void *)(data + off);

		need += sizeof(*reth);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->va = get_unaligned_be64(&reth->va);
		p->rkey = get_unaligned_be32(&reth->rkey);
		p->dma_len = get_unaligned_be32(&reth->len);
		off += sizeof(*reth);
	}
	if (hdrs & MIRROR_H_ATMETH) {
		struct mirror_atmeth *a = (void *)(data + off);

		need += sizeof(*a);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->va = get_unaligned_be64(&a->va);
		p->rkey = get_unaligned_be32(&a->rkey);
		p->swap_add = get_unaligned_be64(&a->swap_add);
		p->compare = get_unaligned_be64(&a->compare);
		off += sizeof(*a);
	}
	if (hdrs & MIRROR_H_AETH) {
		need += sizeof(struct mirror_aeth);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->aeth = get_unaligned_be32(data + off);
		p->has_aeth = true;
		off += sizeof(struct mirror_aeth);
	}
	if (hdrs & MIRROR_H_ATMACK) {
		need += sizeof(struct mirror_atmack);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->orig = get_unaligned_be64(data + off);
		off += sizeof(struct mirror_atmack);
	}
	if (hdrs & MIRROR_H_IMM) {
		need += sizeof(__be32);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		memcpy(&p->imm, data + off, sizeof(p->imm));
		p->has_imm = true;
		off += sizeof(__be32);
	}
	if (hdrs & MIRROR_H_IETH) {
		need += sizeof(__be32);
		if (len < need)
			return MIRROR_CNT_RX_DROP_LEN;
		p->inv_rkey = get_unaligned_be32(data + off);
		p->has_inv = true;
		off += sizeof(__be32);
	}
	if (len < need + p->pad)
		return MIRROR_CNT_RX_DROP_LEN;
	p->payload = data + off;
	p->paylen = len - need - p->pad;
	if (!(hdrs & MIRROR_H_PAYLOAD) && (p->paylen || p->pad))
		return MIRROR_CNT_RX_DROP_LEN;
	return 0;
}

/**
 * mirror_pkt_hdr_len() - bytes of a packet's BTH and extension headers
 * @p: the packet to build (its @opcode decides the headers)
 *
 * Return: the bytes before the payload.
 */
u32 mirror_pkt_hdr_len(const struct mirror_pkt *p)
{
	u16 hdrs = mirror_op_hdrs[p->opcode & MIRROR_OP_MASK];
	u32 len = sizeof(struct mirror_bth);

	if ((p->opcode & MIRROR_TR_MASK) == MIRROR_TR_UD)
		len += sizeof(struct mirror_deth);
	if (hdrs & MIRROR_H_FETH)
		len += sizeof(struct mirror_feth);
	if (hdrs & MIRROR_H_RETH)
		len += sizeof(struct mirror_reth);
	if (hdrs & MIRROR_H_ATMETH)
		len += sizeof(struct mirror_atmeth);
	if (hdrs & MIRROR_H_AETH)
		len += sizeof(struct mirror_aeth);
	if (hdrs & MIRROR_H_ATMACK)
		len += sizeof(struct mirror_atmack);
	if (hdrs & (MIRROR_H_IMM | MIRROR_H_IETH))
		len += sizeof(__be32);
	return len;
}

/**
 * mirror_pkt_pad() - pad bytes between a packet's payload and its ICRC
 * @p: the packet to build
 *
 * Return: what brings the payload to a multiple of four bytes.
 */
u8 mirror_pkt_pad(const struct mirror_pkt *p)
{
	return (4 - (p->paylen & 3)) & 3;
}

/**
 * mirror_pkt_build() - encode a packet's BTH and extension headers
 * @p: the packet; the fields read are listed at struct mirror_pkt
 * @buf: mirror_pkt_hdr_len(@p) bytes
 *
 * The payload, the pad and the ICRC that follow are the caller's.
 */
void mirror_pkt_build(const struct mirror_pkt *p, u8 *buf)
{
	u16 hdrs = mirror_op_hdrs[p->opcode & MIRROR_OP_MASK];
	struct mirror_bth *bth = (struct mirror_bth *)buf;
	u32 off = sizeof(*bth);

	bth->opcode = p->opcode;
	bth->flags = (p->se ? MIRROR_BTH_SE : 0) |
		     mirror_pkt_pad(p) << MIRROR_BTH_PAD_SHIFT;
	bth->pkey = htons(MIRROR_DEFAULT_PKEY);
	bth->qpn = cpu_to_be32(p->dqpn & MIRROR_QPN_MASK);
	bth->apsn = cpu_to_be32((p->psn & MIRROR_PSN_MASK) |
				(p->ackreq ? MIRROR_BTH_ACKREQ : 0));
	if ((p->opcode & MIRROR_TR_MASK) == MIRROR_TR_UD) {
		struct mirror_deth *deth = (void *)(buf + off);

		put_unaligned_be32(p->qkey, &deth->qkey);
		put_unaligned_be32(p->sqpn & MIRROR_QPN_MASK, &deth->sqpn);
		off += sizeof(*deth);
	}
	if (hdrs & MIRROR_H_FETH) {
		put_unaligned_be32(p->feth, buf + off);
		off += sizeof(struct mirror_feth);
	}
	if (hdrs & MIRROR_H_RETH) {
		struct mirror_reth *reth = (void *)(buf + off);

		put_unaligned_be64(p->va, &reth->va);
		put_unaligned_be32(p->rkey, &reth->rkey);
		put_unaligned_be32(p->dma_len, &reth->len);
		off += sizeof(*reth);
	}
	if (hdrs & MIRROR_H_ATMETH) {
		struct mirror_atmeth *a = (void *)(buf + off);

		put_unaligned_be64(p->va, &a->va);
		put_unaligned_be32(p->rkey, &a->rkey);
		put_unaligned_be64(p->swap_add, &a->swap_add);
		put_unaligned_be64(p->compare, &a->compare);
		off += sizeof(*a);
	}
	if (hdrs & MIRROR_H_AETH) {
		put_unaligned_be32(p->aeth, buf + off);
		off += sizeof(struct mirror_aeth);
	}
	if (hdrs & MIRROR_H_ATMACK) {
		put_unaligned_be64(p->orig, buf + off);
		off += sizeof(struct mirror_atmack);
	}
	if (hdrs & MIRROR_H_IMM)
		memcpy(buf + off, &p->imm, sizeof(p->imm));
	if (hdrs & MIRROR_H_IETH)
		put_unaligned_be32(p->inv_rkey, buf + off);
}

/**
 * mirror_op_nth() - the operation of one packet of a message
 * @first_op: MIRROR_OP_SEND_FIRST, MIRROR_OP_WRITE_FIRST or
 *	      MIRROR_OP_READ_RESP_FIRST: which kind of message
 * @i: the packet, from 0
 * @n: the message's packets (at least 1)
 * @imm: the message ends with immediate data (SEND and WRITE)
 *
 * Return: the FIRST, MIDDLE, LAST or ONLY operation (with immediate data
 * on the last packet when @imm).
 */
u8 mirror_op_nth(u8 first_op, u32 i, u32 n, bool imm)
{
	bool first = i == 0, last = i + 1 == n;

	switch (first_op) {
	case MIRROR_OP_SEND_FIRST:
		return first && last ? (imm ? MIRROR_OP_SEND_ONLY_IMM :
					      MIRROR_OP_SEND_ONLY) :
		       first ? MIRROR_OP_SEND_FIRST :
		       !last ? MIRROR_OP_SEND_MIDDLE :
		       imm ? MIRROR_OP_SEND_LAST_IMM : MIRROR_OP_SEND_LAST;
	case MIRROR_OP_WRITE_FIRST:
		return first && last ? (imm ? MIRROR_OP_WRITE_ONLY_IMM :
					      MIRROR_OP_WRITE_ONLY) :
		       first ? MIRROR_OP_WRITE_FIRST :
		       !last ? MIRROR_OP_WRITE_MIDDLE :
		       imm ? MIRROR_OP_WRITE_LAST_IMM : MIRROR_OP_WRITE_LAST;
	default:
		return first && last ? MIRROR_OP_READ_RESP_ONLY :
		       first ? MIRROR_OP_READ_RESP_FIRST :
		       !last ? MIRROR_OP_READ_RESP_MIDDLE :
			       MIRROR_OP_READ_RESP_LAST;
	}
}

/**
 * mirror_op_with_inv() - the operation of a SEND with Invalidate's packet
 * @op: what mirror_op_nth() gave for a SEND without immediate data
 *
 * Return: @op, or the operation that carries the IETH when @op ends the
 * message.
 */
u8 mirror_op_with_inv(u8 op)
{
	switch (op) {
	case MIRROR_OP_SEND_LAST:
		return MIRROR_OP_SEND_LAST_INV;
	case MIRROR_OP_SEND_ONLY:
		return MIRROR_OP_SEND_ONLY_INV;
	default:
		return op;
	}
}

/**
 * mirror_op_acked() - is a BTH operation answered by an ACK when it asks?
 * @op: the operation (MIRROR_OP_*)
 *
 * Return: true for the packets of SENDs and WRITEs (an ATOMIC WRITE gets
 * an empty READ response instead).
 */
bool mirror_op_acked(u8 op)
{
	return op <= MIRROR_OP_WRITE_ONLY_IMM ||
	       op == MIRROR_OP_SEND_LAST_INV || op == MIRROR_OP_SEND_ONLY_INV;
}

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

/**
 * mirror_gid_is_local() - is @gid one of the device's RoCEv2 GIDs?
 * @dev: the device
 * @gid: the GID
 *
 * Return: true when it is.
 */
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

/* RNR timer values of the IB spec (table 45), in microseconds. */
static const u32 mirror_rnr_usecs_of[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

/**
 * mirror_rnr_usecs() - the wait an RNR timer code asks for
 * @timer: the 5-bit code (min_rnr_timer, or an RNR NAK's)
 *
 * Return: microseconds, 10 to 655360.
 */
u32 mirror_rnr_usecs(u8 timer)
{
	return mirror_rnr_usecs_of[timer & 31];
}

/**
 * mirror_npkts() - packets (and PSNs) a message of @len bytes takes
 * @len: bytes
 * @mtu: the path MTU
 *
 * Return: at least 1.
 */
u32 mirror_npkts(u64 len, u32 mtu)
{
	return len ? DIV_ROUND_UP_ULL(len, mtu) : 1;
}

/**
 * mirror_mtu_of() - the IB MTU of RoCEv2 on a netdev
 * @netdev_mtu: the netdev's MTU
 *
 * Return: the largest IB MTU whose packets with their RoCEv2 headers fit.
 */
enum ib_mtu mirror_mtu_of(unsigned int netdev_mtu)
{
	return ib_mtu_int_to_enum((int)netdev_mtu - MIRROR_ROCE_HEADROOM);
}

/**
 * mirror_dev_mtu() - the port's active MTU in bytes
 * @dev: the device
 *
 * Return: the largest IB MTU that fits the netdev's MTU with RoCEv2
 * headers (the largest UD message).
 */
u32 mirror_dev_mtu(struct mirror_dev *dev)
{
	return ib_mtu_enum_to_int(mirror_mtu_of(READ_ONCE(dev->ndev->mtu)));
}

/**
 * mirror_qp_mtu() - the path MTU of a connected QP, in bytes
 * @qp: the QP
 *
 * Return: the MTU set at RTR, or the port's if none fits.
 */
u32 mirror_qp_mtu(struct mirror_qp *qp)
{
	u32 path = ib_mtu_enum_to_int(READ_ONCE(qp->attr.path_mtu));
	u32 port = mirror_dev_mtu(to_mirror_dev(qp->ibqp.device));

	if (path <= 0 || path > port)
		return port;
	return path;
}
