/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * rdma_user_mirror.h - the user ABI between rdma_mirror.ko and the mirror
 * libibverbs provider (libmirror-rdmav34.so).
 *
 * This is the only header shared by the kernel driver and userspace. It
 * holds the uverbs ABI version, the udata appended to the core uverbs
 * commands, and the layout of the queues shared through mmap().
 *
 * Shared queues
 * -------------
 * Every queue (CQ, SQ, RQ) is one vmalloc'ed area mapped into the process:
 *
 *   offset 0                      struct mirror_ring_hdr (MIRROR_RING_HDR_SIZE)
 *   offset MIRROR_RING_HDR_SIZE   num_slots slots of 'stride' bytes each
 *
 * num_slots and stride are powers of two. producer and consumer are
 * free-running 32-bit counters; slot i lives at (i & (num_slots - 1)).
 * The queue is empty when producer == consumer and full when
 * producer - consumer == num_slots. Each side writes only its own index
 * and publishes it with a release store after writing (or finishing with)
 * the slots; the other side reads it with an acquire load.
 *
 *   queue  producer          consumer
 *   CQ     kernel            user (ibv_poll_cq)
 *   SQ     user (post_send)  kernel (requester)
 *   RQ     user (post_recv)  kernel (responder)
 *
 * The kernel never trusts what user space wrote: it copies a WQE out of the
 * ring before validating it and treats an index that claims more than
 * num_slots outstanding entries as a broken queue.
 *
 * Doorbell
 * --------
 * Posting receives needs no system call: the responder reads the RQ when a
 * message arrives. Posting sends is a ring write followed by one doorbell:
 * a write() of the core IB_USER_VERBS_CMD_POST_SEND command with
 * wr_count == 0 and sge_count == 0 for the QP. The kernel's post_send
 * callback then sees no work request and kicks the QP's requester, which
 * drains the SQ ring. Arming a CQ is the core IB_USER_VERBS_CMD_REQ_NOTIFY_CQ
 * command.
 */
#ifndef RDMA_USER_MIRROR_H
#define RDMA_USER_MIRROR_H

#include <linux/types.h>

/* The uverbs ABI version; the provider accepts exactly this one. */
#define MIRROR_UVERBS_ABI_VERSION	1

/* Bytes before the first slot of every shared queue. */
#define MIRROR_RING_HDR_SIZE		128

/**
 * struct mirror_ring_hdr - indices at the start of every shared queue
 * @producer: count of slots ever produced; written only by the producer
 * @pad0: keeps @consumer off @producer's cache line
 * @consumer: count of slots ever consumed; written only by the consumer
 * @pad1: pads the header to MIRROR_RING_HDR_SIZE bytes
 */
struct mirror_ring_hdr {
	__u32 producer;
	__u32 pad0[15];
	__u32 consumer;
	__u32 pad1[15];
};

/**
 * struct mirror_sge - one scatter/gather element of a WQE (16 bytes)
 * @addr: virtual address (or IOVA) inside the MR
 * @length: byte count
 * @lkey: local key of the MR
 */
struct mirror_sge {
	__aligned_u64 addr;
	__u32 length;
	__u32 lkey;
};

/**
 * struct mirror_wqe_bind - binding a memory window (32 bytes)
 * @addr: first byte of the window, an address of the MR
 * @length: bytes; 0 leaves a type 1 window bound to nothing
 * @mw_rkey: the window's current rkey, which names it
 * @new_rkey: the rkey it gets: the same upper 24 bits, the low byte the
 *	consumer's (ibv_inc_rkey())
 * @mr_lkey: the MR it is bound to, or 0 with @length 0
 * @access: IBV_ACCESS_REMOTE_* the window grants
 */
struct mirror_wqe_bind {
	__aligned_u64 addr;
	__aligned_u64 length;
	__u32 mw_rkey;
	__u32 new_rkey;
	__u32 mr_lkey;
	__u32 access;
};

/* Flags in mirror_send_wqe.flags (next to the ibv send_flags). */
#define MIRROR_WQE_F_INLINE	(1U << 0)	/* payload is inline data */

/**
 * struct mirror_send_wqe - header of an SQ slot (64 bytes)
 * @wr_id: returned in the completion
 * @opcode: numeric value of enum ibv_wr_opcode
 * @send_flags: numeric IBV_SEND_* flags
 * @imm_data: immediate data (big endian, as in ibv_send_wr) or the rkey to
 *	invalidate for SEND_WITH_INV and LOCAL_INV (host order)
 * @num_sge: number of struct mirror_sge following the header
 * @inline_len: bytes of inline data following the header (with
 *	MIRROR_WQE_F_INLINE)
 * @flags: MIRROR_WQE_F_*
 * @wr: opcode-specific part
 * @wr.rdma: remote address and key for RDMA READ/WRITE
 * @wr.atomic: remote address, key and operands for atomics
 * @wr.ud: destination of a UD send
 * @wr.bind: BIND_MW (ibv_bind_mw() posts one for a type 1 window)
 * @wr.flush: FLUSH (opcode 14): the range's address, key and length, the
 *	placement type (1: global visibility) and the selectivity level (0:
 *	the range, 1: the whole MR the key names)
 * @wr.raw: the union's size
 *
 * The header is followed by either @num_sge SGEs or @inline_len bytes of
 * data, up to the QP's sq_stride.
 */
struct mirror_send_wqe {
	__aligned_u64 wr_id;
	__u32 opcode;
	__u32 send_flags;
	__u32 imm_data;
	__u32 num_sge;
	__u32 inline_len;
	__u32 flags;
	union {
		struct {
			__aligned_u64 remote_addr;
			__u32 rkey;
			__u32 reserved;
		} rdma;
		struct {
			__aligned_u64 remote_addr;
			__aligned_u64 compare_add;
			__aligned_u64 swap;
			__u32 rkey;
			__u32 reserved;
		} atomic;
		struct {
			__u32 ah_num;
			__u32 remote_qpn;
			__u32 remote_qkey;
			__u32 reserved;
		} ud;
		struct mirror_wqe_bind bind;
		struct {
			__aligned_u64 remote_addr;
			__u32 rkey;
			__u32 length;
			__u8 type;
			__u8 level;
			__u8 reserved[6];
		} flush;
		__u8 raw[32];
	} wr;
};

/**
 * struct mirror_recv_wqe - header of an RQ (or SRQ) slot (16 bytes)
 * @wr_id: returned in the completion
 * @num_sge: number of struct mirror_sge following the header
 * @reserved: zero
 */
struct mirror_recv_wqe {
	__aligned_u64 wr_id;
	__u32 num_sge;
	__u32 reserved;
};

/* Values of mirror_cqe.network_hdr_type. */
enum mirror_cqe_net {
	MIRROR_CQE_NET_NONE = 0,
	MIRROR_CQE_NET_IPV4 = 2,	/* RoCEv2 over IPv4: iphdr at offset 20 */
	MIRROR_CQE_NET_IPV6 = 3,	/* RoCEv2 over IPv6: a full GRH */
};

/**
 * struct mirror_cqe - one CQ slot (64 bytes)
 * @wr_id: the work request's wr_id
 * @status: numeric value of enum ibv_wc_status
 * @opcode: numeric value of enum ibv_wc_opcode
 * @vendor_err: driver-specific detail for an error status
 * @byte_len: bytes received (receive completions)
 * @imm_data: immediate data (big endian) or the invalidated rkey
 * @qp_num: local QP number
 * @src_qp: remote QP number (UD)
 * @wc_flags: numeric IBV_WC_* flags (GRH, WITH_IMM, WITH_INV, ...)
 * @pkey_index: P_Key index
 * @slid: source LID (0 on RoCE)
 * @sl: service level
 * @dlid_path_bits: 0 on RoCE
 * @network_hdr_type: enum mirror_cqe_net: the headers a UD receive
 *	arrived with (and which header its 40-byte GRH area holds)
 * @reserved: zero
 */
struct mirror_cqe {
	__aligned_u64 wr_id;
	__u32 status;
	__u32 opcode;
	__u32 vendor_err;
	__u32 byte_len;
	__u32 imm_data;
	__u32 qp_num;
	__u32 src_qp;
	__u32 wc_flags;
	__u16 pkey_index;
	__u16 slid;
	__u8 sl;
	__u8 dlid_path_bits;
	__u8 network_hdr_type;
	__u8 reserved[17];
};

/* Returned by alloc_ucontext (appended to ib_uverbs_get_context_resp). */
struct mirror_alloc_ucontext_resp {
	__u32 abi_version;	/* MIRROR_UVERBS_ABI_VERSION */
	__u32 max_inline_data;	/* largest inline payload of a send WQE */
};

/**
 * struct mirror_queue_info - where a shared queue lives
 * @mmap_offset: offset to pass to mmap() on the uverbs file
 * @mmap_size: bytes to map (header plus slots, page aligned)
 * @num_slots: slots in the ring, a power of two
 * @stride: bytes per slot, a power of two
 * @reserved: zero
 */
struct mirror_queue_info {
	__aligned_u64 mmap_offset;
	__u32 mmap_size;
	__u32 num_slots;
	__u32 stride;
	__u32 reserved;
};

/* Returned by create_cq and resize_cq. */
struct mirror_create_cq_resp {
	struct mirror_queue_info cq;
};

struct mirror_resize_cq_resp {
	struct mirror_queue_info cq;
};

/*
 * Returned by create_qp. rq is all zero for a QP attached to an SRQ.
 * The provider computes nothing: it uses num_slots and stride as given.
 */
struct mirror_create_qp_resp {
	struct mirror_queue_info sq;
	struct mirror_queue_info rq;
	__u32 max_inline_data;
	__u32 reserved;
};

/* Returned by create_srq (issue 3). */
struct mirror_create_srq_resp {
	struct mirror_queue_info rq;
	__u32 srq_num;
	__u32 reserved;
};

/* Returned by create_ah: the handle a UD send WQE names in wr.ud.ah_num. */
struct mirror_create_ah_resp {
	__u32 ah_num;
	__u32 reserved;
};

/*
 * Driver methods of the uverbs ioctl interface, used by libmirrorverbs.
 * They live in the driver namespace of the standard objects: a device
 * method for the ODP counters and an MR method for one MR's counters and
 * the state of its mirror.
 */
#define MIRROR_UVERBS_NS(n)	((1U << 12) + (n))	/* UVERBS_ID_NS_SHIFT */

enum mirror_device_methods {
	MIRROR_METHOD_QUERY_ODP_COUNTERS = MIRROR_UVERBS_NS(0),
};

enum mirror_query_odp_counters_attrs {
	MIRROR_ATTR_ODP_COUNTERS = MIRROR_UVERBS_NS(0),	/* out */
};

enum mirror_mr_methods {
	MIRROR_METHOD_MR_QUERY_ODP = MIRROR_UVERBS_NS(0),
};

enum mirror_mr_query_odp_attrs {
	MIRROR_ATTR_MR_QUERY_HANDLE = MIRROR_UVERBS_NS(0),	/* the MR */
	MIRROR_ATTR_MR_QUERY_ADDR,		/* in: u64, first address */
	MIRROR_ATTR_MR_QUERY_PAGES,		/* out: u8 per page */
	MIRROR_ATTR_MR_QUERY_COUNTERS,		/* out: struct below */
};

/* Bits of a page's byte in MIRROR_ATTR_MR_QUERY_PAGES (0: not mirrored). */
enum {
	MIRROR_PAGE_READ = 1 << 0,	/* mirrored, the device may read */
	MIRROR_PAGE_WRITE = 1 << 1,	/* ... and write */
	MIRROR_PAGE_HUGE = 1 << 2,	/* part of a THP or hugetlb mapping */
};

#define MIRROR_ODP_LAT_BUCKETS	20

/**
 * struct mirror_odp_counters - ODP counters of a device or of one MR
 * @faults: fault helper calls that faulted pages in
 * @pages_faulted: pages that became mirrored through them
 * @invalidations: invalidate callbacks on mirrored ranges
 * @pages_invalidated: mirrored pages they cleared
 * @prefetches: ibv_advise_mr() ranges accepted
 * @fault_retries: fault loops started over (the range changed)
 * @children_created: implicit MR children created
 * @children_destroyed: implicit MR children destroyed
 * @children_live: implicit MR children existing now
 * @mirror_bytes: device only: memory our page tables use now (structs and
 *	entry arrays of every ODP MR and child)
 * @fault_ns_log2: device only: faults taking [2^(10+i), 2^(11+i)) ns
 *	(bucket 0 also holds faster ones, the last slower ones)
 */
struct mirror_odp_counters {
	__aligned_u64 faults;
	__aligned_u64 pages_faulted;
	__aligned_u64 invalidations;
	__aligned_u64 pages_invalidated;
	__aligned_u64 prefetches;
	__aligned_u64 fault_retries;
	__aligned_u64 children_created;
	__aligned_u64 children_destroyed;
	__aligned_u64 children_live;
	__aligned_u64 mirror_bytes;
	__aligned_u64 fault_ns_log2[MIRROR_ODP_LAT_BUCKETS];
};

#endif /* RDMA_USER_MIRROR_H */
