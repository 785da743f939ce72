/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mirror_param.h - the limits mirror devices advertise and enforce. One
 * place, so query_device and every check agree.
 */
#ifndef MIRROR_PARAM_H
#define MIRROR_PARAM_H

#include <linux/sizes.h>

enum mirror_limits {
	MIRROR_MAX_QP		= 16384,
	MIRROR_MAX_QP_WR	= 16384,
	MIRROR_MAX_SGE		= 32,
	MIRROR_MAX_SGE_RD	= 32,
	MIRROR_MAX_INLINE	= 512,
	MIRROR_MAX_CQ		= 16384,
	MIRROR_MAX_CQE		= (1 << 15) - 1,
	MIRROR_MAX_SRQ		= 16384,
	MIRROR_MAX_SRQ_WR	= 16384,
	MIRROR_MAX_MR		= (1 << 20),	/* key index fits 24 bits */
	MIRROR_MAX_MW		= (1 << 16),	/* windows share the key space */
	MIRROR_MAX_PD		= (1 << 16),
	/* Multicast: groups, QPs per group, attachments in all (rxe's 56). */
	MIRROR_MAX_MCAST_GRP	= 1024,
	MIRROR_MAX_MCAST_QP_ATTACH = 56,
	MIRROR_MAX_MCAST_TOTAL	= 16384,
	MIRROR_MCAST_BUCKETS	= 64,
	MIRROR_MAX_AH		= (1 << 16),
	MIRROR_MAX_RD_ATOM	= 128,
	/* Pages of one fast registration (FRWR): 2 MiB in 4 KiB pages. */
	MIRROR_MAX_FAST_PAGES	= 512,
	MIRROR_MAX_MTU		= 4096,	/* IB_MTU_4096: the largest datagram */
	MIRROR_MAX_PKEYS	= 1,
	MIRROR_GID_TBL_LEN	= 1024,
	MIRROR_LOCAL_ACK_DELAY	= 15,
	/* First QPN handed to RC/UC/UD QPs; 0 and 1 are QP0/QP1. */
	MIRROR_FIRST_QPN	= 16,
	MIRROR_MAX_QPN		= (1 << 24) - 1,
	/*
	 * Bytes a RoCEv2 packet needs around its payload: IPv6 (the larger IP
	 * header) 40, UDP 8, BTH 12, the largest extension header (RETH 16)
	 * and ICRC 4.
	 */
	MIRROR_ROCE_HEADROOM	= 40 + 8 + 12 + 16 + 4,
	/*
	 * Packets waiting for one QP's rx_work at most (two PSN windows: a
	 * window of READ responses or requests, with the ACKs, duplicates
	 * and the peer's own requests beside it), and the memory waiting
	 * for all QPs of a device: beyond, packets are dropped and counted
	 * (rx_drop_queue_full); RC resends them.
	 */
	MIRROR_RX_QUEUE_PKTS	= 2048,
	MIRROR_RX_DEV_BYTES	= SZ_64M,
	/*
	 * PSNs an RC requester has in flight at most (but for one message
	 * longer than this): keeps every PSN comparison unambiguous, and
	 * what a window brings back within a QP's receive queue
	 * (MIRROR_RX_QUEUE_PKTS is twice this).
	 */
	MIRROR_WINDOW_PSNS	= 1024,
	/*
	 * After a retransmission timeout the requester resends one PSN, and
	 * the PSNs it lets fly grow by one for each PSN answered (they
	 * double per round trip) up to half the window the timeout found,
	 * then by one per window answered, back up to MIRROR_WINDOW_PSNS; a
	 * loss the peer reports halves the window (mirror_sq_congestion());
	 * each timeout doubles the timeout, up to
	 * 2^MIRROR_RTO_MAX_SHIFT times the QP's, and each progress halves
	 * it again, down to the QP's.
	 */
	MIRROR_CWND_AFTER_TIMEOUT = 1,
	/* The least a loss the peer reports halves the window to. */
	MIRROR_CWND_MIN		= 4,
	MIRROR_RTO_MAX_SHIFT	= 2,
};

/*
 * The largest MR: its page array (pinned) or mirror page table (ODP), 8
 * bytes per page, stays well under kvmalloc()'s INT_MAX limit whatever the
 * alignment (2^27 + 1 pages at most).
 */
#define MIRROR_MAX_MR_SIZE	(1ULL << 39)
#define MIRROR_FW_VERSION	"0.1.0"
/* The same, as major << 32 | minor << 16 | patch for query_device. */
#define MIRROR_FW_VERSION_RAW	((0ULL << 32) | (1ULL << 16) | 0ULL)

#endif /* MIRROR_PARAM_H */
