/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mirror_pkt.h - the packet codec: one struct for a packet's transport
 * headers, whether parsed from the wire or about to be built, and the
 * IP/UDP addressing of a path. No state, no locks: mirror_pkt.c is a leaf
 * of the module's file graph (docs/design.md).
 */
#ifndef MIRROR_PKT_H
#define MIRROR_PKT_H

#include <linux/in6.h>
#include <rdma/ib_verbs.h>

#include "mirror_hdr.h"

struct mirror_dev;
struct mirror_qp;
struct mirror_segs;

/**
 * struct mirror_path - where the packets of a QP (or a UD WQE) go
 * @v6: IPv6 (the GIDs are not IPv4-mapped)
 * @saddr: source IPv4 address (of the source GID)
 * @daddr: destination IPv4 address
 * @saddr6: source IPv6 address
 * @daddr6: destination IPv6 address
 * @flow_label: IPv6 flow label
 * @sport: UDP source port (flow entropy)
 * @tos: IPv4 TOS / IPv6 traffic class (the GRH traffic class)
 * @ttl: IPv4 TTL / IPv6 hop limit (the GRH hop limit)
 */
struct mirror_path {
	bool v6;
	__be32 saddr;
	__be32 daddr;
	struct in6_addr saddr6;
	struct in6_addr daddr6;
	__be32 flow_label;
	__be16 sport;
	u8 tos;
	u8 ttl;
};

/**
 * struct mirror_pkt - one packet's transport headers, decoded or to encode
 * @opcode: BTH opcode
 * @op: its operation part (MIRROR_OP_*)
 * @type: its transport, as a QP type
 * @se: solicited event
 * @pad: pad bytes before the ICRC
 * @ackreq: AckReq
 * @psn: PSN
 * @dqpn: destination QP
 * @qkey: DETH Q_Key
 * @sqpn: DETH source QP
 * @va: RETH/AtomicETH address
 * @rkey: RETH/AtomicETH key
 * @dma_len: RETH length
 * @feth: FETH bits (a FLUSH's placement type and selectivity level)
 * @swap_add: AtomicETH swap or add value
 * @compare: AtomicETH compare value
 * @aeth: AETH (syndrome << 24 | MSN)
 * @has_aeth: the AETH is present
 * @orig: AtomicAckETH value
 * @imm: immediate data (network order)
 * @has_imm: the immediate data are present
 * @inv_rkey: IETH: the key a SEND with Invalidate ends
 * @has_inv: the IETH is present
 * @payload: first payload byte (parsed packets)
 * @paylen: payload bytes
 * @src: where the payload of a packet to build comes from
 * @src_off: from which byte of @src
 *
 * mirror_pkt_parse() fills in every field but @src and @src_off.
 * mirror_pkt_build() reads @opcode, the fields of the headers the opcode
 * carries (mirror_op_hdrs in mirror_pkt.c: the same table decides what a
 * parsed packet must hold), @se, @ackreq, @psn, @dqpn and @paylen; it
 * derives @pad, and ignores @op, @type, @has_aeth, @has_imm and @has_inv.
 */
struct mirror_pkt {
	u8 opcode;
	u8 op;
	enum ib_qp_type type;
	bool se;
	u8 pad;
	bool ackreq;
	u32 psn;
	u32 dqpn;
	u32 qkey;
	u32 sqpn;
	u64 va;
	u32 rkey;
	u32 dma_len;
	u32 feth;
	u64 swap_add;
	u64 compare;
	u32 aeth;
	bool has_aeth;
	u64 orig;
	__be32 imm;
	bool has_imm;
	u32 inv_rkey;
	bool has_inv;
	u8 *payload;
	u32 paylen;
	struct mirror_segs *src;
	u64 src_off;
};

int mirror_pkt_parse(u8 *data, u32 len, struct mirror_pkt *p);
u32 mirror_pkt_hdr_len(const struct mirror_pkt *p);
u8 mirror_pkt_pad(const struct mirror_pkt *p);
void mirror_pkt_build(const struct mirror_pkt *p, u8 *buf);
bool mirror_op_is_response(u8 op);
u8 mirror_op_nth(u8 first_op, u32 i, u32 n, bool imm);
u8 mirror_op_with_inv(u8 op);
bool mirror_op_acked(u8 op);
u32 mirror_rnr_usecs(u8 timer);
u32 mirror_npkts(u64 len, u32 mtu);
enum ib_mtu mirror_mtu_of(unsigned int netdev_mtu);
u32 mirror_dev_mtu(struct mirror_dev *dev);
u32 mirror_qp_mtu(struct mirror_qp *qp);
bool mirror_gid_is_local(struct mirror_dev *dev, const union ib_gid *gid);
int mirror_path_from_av(struct mirror_dev *dev, const struct rdma_ah_attr *av,
			u32 lqpn, u32 rqpn, struct mirror_path *path);

/**
 * mirror_aeth_value() - an AETH as mirror_pkt carries it
 * @syndrome: MIRROR_AETH_* kind with its detail
 * @msn: the responder's message sequence number
 *
 * Return: the AETH, host order.
 */
static inline u32 mirror_aeth_value(u8 syndrome, u32 msn)
{
	return (u32)syndrome << 24 | (msn & MIRROR_PSN_MASK);
}

#endif /* MIRROR_PKT_H */
