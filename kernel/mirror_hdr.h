/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mirror_hdr.h - the InfiniBand transport headers RoCEv2 carries in UDP
 * (IBA vol. 1, chapter 9 and annex A17), as they sit on the wire: all
 * fields big-endian, no padding, so every struct is __packed and read
 * through the accessors below.
 */
#ifndef MIRROR_HDR_H
#define MIRROR_HDR_H

#include <linux/types.h>

#define MIRROR_ROCE_UDP_PORT	4791
#define MIRROR_PSN_MASK		0xffffff
#define MIRROR_QPN_MASK		0xffffff
#define MIRROR_DEFAULT_PKEY	0xffff

/* BTH.OpCode: the transport in bits 7..5, the operation in bits 4..0. */
enum mirror_transport {
	MIRROR_TR_RC = 0x00,
	MIRROR_TR_UC = 0x20,
	MIRROR_TR_UD = 0x60,
	MIRROR_TR_MASK = 0xe0,
};

enum mirror_operation {
	MIRROR_OP_SEND_FIRST		= 0x00,
	MIRROR_OP_SEND_MIDDLE		= 0x01,
	MIRROR_OP_SEND_LAST		= 0x02,
	MIRROR_OP_SEND_LAST_IMM		= 0x03,
	MIRROR_OP_SEND_ONLY		= 0x04,
	MIRROR_OP_SEND_ONLY_IMM		= 0x05,
	MIRROR_OP_WRITE_FIRST		= 0x06,
	MIRROR_OP_WRITE_MIDDLE		= 0x07,
	MIRROR_OP_WRITE_LAST		= 0x08,
	MIRROR_OP_WRITE_LAST_IMM	= 0x09,
	MIRROR_OP_WRITE_ONLY		= 0x0a,
	MIRROR_OP_WRITE_ONLY_IMM	= 0x0b,
	MIRROR_OP_READ_REQUEST		= 0x0c,
	MIRROR_OP_READ_RESP_FIRST	= 0x0d,
	MIRROR_OP_READ_RESP_MIDDLE	= 0x0e,
	MIRROR_OP_READ_RESP_LAST	= 0x0f,
	MIRROR_OP_READ_RESP_ONLY	= 0x10,
	MIRROR_OP_ACK			= 0x11,
	MIRROR_OP_ATOMIC_ACK		= 0x12,
	MIRROR_OP_CMP_SWAP		= 0x13,
	MIRROR_OP_FETCH_ADD		= 0x14,
	MIRROR_OP_SEND_LAST_INV		= 0x16,
	MIRROR_OP_SEND_ONLY_INV		= 0x17,
	MIRROR_OP_FLUSH			= 0x1c,
	MIRROR_OP_ATOMIC_WRITE		= 0x1d,
	MIRROR_OP_COUNT			= 0x1e,
	MIRROR_OP_MASK			= 0x1f,
};

/* Base transport header, 12 bytes. */
struct mirror_bth {
	u8 opcode;
	u8 flags;	/* SE:1 M:1 PadCnt:2 TVer:4 */
	__be16 pkey;
	__be32 qpn;	/* FECN:1 BECN:1 resv:6 DestQP:24 */
	__be32 apsn;	/* AckReq:1 resv:7 PSN:24 */
} __packed;

#define MIRROR_BTH_SE		0x80
#define MIRROR_BTH_MIG		0x40
#define MIRROR_BTH_PAD_SHIFT	4
#define MIRROR_BTH_PAD_MASK	0x30
#define MIRROR_BTH_TVER_MASK	0x0f
#define MIRROR_BTH_ACKREQ	0x80000000U

/* RDMA extended transport header, 16 bytes. */
struct mirror_reth {
	__be64 va;
	__be32 rkey;
	__be32 len;
} __packed;

/* Atomic extended transport header, 28 bytes. */
struct mirror_atmeth {
	__be64 va;
	__be32 rkey;
	__be64 swap_add;
	__be64 compare;
} __packed;

/*
 * FLUSH extended transport header, 4 bytes (IBA 1.5, memory placement
 * extensions): the placement type in bits 3:0 (a mask: 1 global
 * visibility, 2 persistence) and the selectivity level in bits 5:4 (0 the
 * RETH's range, 1 the whole MR its key names). It precedes the RETH.
 */
struct mirror_feth {
	__be32 bits;
} __packed;

#define MIRROR_FETH_PLT_MASK		0x0000000f
#define MIRROR_FETH_SEL_MASK		0x00000030
#define MIRROR_FETH_SEL_SHIFT		4
#define MIRROR_FLUSH_GLOBAL		1	/* placement types */
#define MIRROR_FLUSH_PERSISTENT		2
#define MIRROR_FLUSH_RANGE		0	/* selectivity levels */
#define MIRROR_FLUSH_MR			1

/* ACK extended transport header, 4 bytes: syndrome and MSN. */
struct mirror_aeth {
	__be32 smsn;
} __packed;

/* Atomic acknowledge: the value found at the target, 8 bytes. */
struct mirror_atmack {
	__be64 orig;
} __packed;

/* Datagram extended transport header, 8 bytes. */
struct mirror_deth {
	__be32 qkey;
	__be32 sqpn;	/* resv:8 SrcQP:24 */
} __packed;

/* AETH syndromes: bits 7..5 say what, bits 4..0 carry the detail. */
enum mirror_aeth_kind {
	MIRROR_AETH_ACK		= 0x00,	/* detail: credits (0x1f: none) */
	MIRROR_AETH_RNR_NAK	= 0x20,	/* detail: RNR timer */
	MIRROR_AETH_NAK		= 0x60,	/* detail: enum mirror_nak_code */
	MIRROR_AETH_KIND_MASK	= 0xe0,
	MIRROR_AETH_DETAIL_MASK	= 0x1f,
};

enum mirror_nak_code {
	MIRROR_NAK_PSN_SEQ	= 0,
	MIRROR_NAK_INVALID_REQ	= 1,
	MIRROR_NAK_REM_ACCESS	= 2,
	MIRROR_NAK_REM_OP	= 3,
};

#define MIRROR_AETH_NO_CREDITS	0x1f

/* Bytes of the invariant CRC that ends every packet. */
#define MIRROR_ICRC_BYTES	4

/* PSN arithmetic modulo 2^24: the sign of a - b. */
static inline int mirror_psn_cmp(u32 a, u32 b)
{
	return ((s32)((a - b) << 8)) >> 8;
}

static inline u32 mirror_psn_add(u32 psn, u32 n)
{
	return (psn + n) & MIRROR_PSN_MASK;
}

#endif /* MIRROR_HDR_H */
