/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirrorverbs.h - direct verbs for mirror devices (rdma_mirror.ko).
 *
 * Functions here only work on mirror devices; use mirrorv_is_mirror_device()
 * to find out.
 */
#ifndef MIRRORVERBS_H
#define MIRRORVERBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <infiniband/verbs.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * mirrorv_is_mirror_device() - is this device driven by rdma_mirror.ko?
 * @device: a device from ibv_get_device_list()
 *
 * Return: true for a mirror device, false otherwise (also for NULL).
 */
bool mirrorv_is_mirror_device(struct ibv_device *device);

/*
 * Access flags mirrorv_reg_implicit_mr() uses when given 0: local write,
 * remote read, remote write and remote atomics.
 */
#define MIRRORV_IMPLICIT_DEFAULT_ACCESS                                      \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |                   \
	 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC)

/**
 * mirrorv_reg_implicit_mr() - register the whole address space, on demand
 * @pd: a PD of a mirror device
 * @access: IBV_ACCESS_* flags (IBV_ACCESS_ON_DEMAND is added), or 0 for
 *	MIRRORV_IMPLICIT_DEFAULT_ACCESS
 *
 * The same as ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND | access):
 * its lkey (and rkey) work for any address of the process; nothing is
 * pinned, pages are mirrored when first used. Release with ibv_dereg_mr().
 *
 * Return: the MR, or NULL with errno set (EOPNOTSUPP: not a mirror device
 * or no implicit ODP; EINVAL: bad arguments).
 */
struct ibv_mr *mirrorv_reg_implicit_mr(struct ibv_pd *pd, unsigned int access);

/* Number of buckets of the fault-latency histogram. */
#define MIRRORV_FAULT_LAT_BUCKETS 20

/**
 * struct mirrorv_odp_counters - ODP counters of a device or of one MR
 * @faults: fault calls that faulted pages in (one per 2 MiB block at most)
 * @pages_faulted: pages that became mirrored through faults
 * @invalidations: invalidations of mirrored ranges (munmap, madvise,
 *	mprotect, COW, migration, reclaim, exit)
 * @pages_invalidated: mirrored pages they cleared
 * @prefetches: prefetch ranges accepted (ibv_advise_mr(), mirrorv_prefetch())
 * @fault_retries: faults started over because the range changed meanwhile
 * @children_created: implicit MR children (16 MiB each) created
 * @children_destroyed: implicit MR children destroyed
 * @children_live: implicit MR children existing now
 * @mirror_bytes: device only: memory the mirrors' page tables use now
 * @fault_ns_log2: device only: @fault_ns_log2[i] counts faults that took
 *	2^(10+i) to 2^(11+i) nanoseconds ([0] also faster, [19] also slower)
 */
struct mirrorv_odp_counters {
	uint64_t faults;
	uint64_t pages_faulted;
	uint64_t invalidations;
	uint64_t pages_invalidated;
	uint64_t prefetches;
	uint64_t fault_retries;
	uint64_t children_created;
	uint64_t children_destroyed;
	uint64_t children_live;
	uint64_t mirror_bytes;
	uint64_t fault_ns_log2[MIRRORV_FAULT_LAT_BUCKETS];
};

/**
 * mirrorv_query_odp_counters() - the ODP counters of a whole device
 * @context: an open mirror device
 * @counters: filled in
 *
 * Return: 0, or an errno value (EOPNOTSUPP: not a mirror device; EINVAL:
 * NULL argument).
 */
int mirrorv_query_odp_counters(struct ibv_context *context,
			       struct mirrorv_odp_counters *counters);

/**
 * mirrorv_query_mr_odp_counters() - the ODP counters of one MR
 * @mr: an MR of a mirror device (for an implicit MR: over all children)
 * @counters: filled in (fault_ns_log2 is zero)
 *
 * Return: 0, or an errno value (EOPNOTSUPP, EINVAL).
 */
int mirrorv_query_mr_odp_counters(struct ibv_mr *mr,
				  struct mirrorv_odp_counters *counters);

/**
 * struct mirrorv_odp_stats - ODP counters, in a struct that can grow
 * @comp_mask: output: MIRRORV_ODP_STATS_* bits, one for each group of
 *	fields after @fault_ns_log2 that the library filled in (none yet)
 * @faults: ... @fault_ns_log2: as in struct mirrorv_odp_counters
 *
 * Fields are only ever added at the end, each group with a @comp_mask
 * bit. A program passes the size of the struct it was built with; a
 * newer library fills only that much, an older one zeroes what it does
 * not know and leaves its bit clear.
 */
struct mirrorv_odp_stats {
	uint64_t comp_mask;
	uint64_t faults;
	uint64_t pages_faulted;
	uint64_t invalidations;
	uint64_t pages_invalidated;
	uint64_t prefetches;
	uint64_t fault_retries;
	uint64_t children_created;
	uint64_t children_destroyed;
	uint64_t children_live;
	uint64_t mirror_bytes;
	uint64_t fault_ns_log2[MIRRORV_FAULT_LAT_BUCKETS];
};

/* The smallest @inlen the mirrorv_query_*odp_stats() functions accept. */
#define MIRRORV_ODP_STATS_MIN_LEN                                            \
	(offsetof(struct mirrorv_odp_stats, fault_ns_log2) +                 \
	 MIRRORV_FAULT_LAT_BUCKETS * sizeof(uint64_t))

/**
 * mirrorv_query_odp_stats() - the ODP counters of a whole device
 * @context: an open mirror device
 * @stats: filled in: @inlen bytes
 * @inlen: sizeof(*@stats) as the caller knows it, at least
 *	MIRRORV_ODP_STATS_MIN_LEN
 *
 * Return: 0, or an errno value (EOPNOTSUPP: not a mirror device; EINVAL:
 * NULL argument or @inlen too small).
 */
int mirrorv_query_odp_stats(struct ibv_context *context,
			    struct mirrorv_odp_stats *stats, uint32_t inlen);

/**
 * mirrorv_query_mr_odp_stats() - the ODP counters of one MR
 * @mr: an MR of a mirror device (for an implicit MR: over all children)
 * @stats: filled in: @inlen bytes (mirror_bytes and fault_ns_log2 are 0)
 * @inlen: as for mirrorv_query_odp_stats()
 *
 * Return: 0, or an errno value (EOPNOTSUPP, EINVAL).
 */
int mirrorv_query_mr_odp_stats(struct ibv_mr *mr,
			       struct mirrorv_odp_stats *stats, uint32_t inlen);

/* One byte per page from mirrorv_query_mirror(); 0: not mirrored. */
enum mirrorv_page_state {
	MIRRORV_PAGE_READ = 1 << 0,	/* mirrored; the device may read it */
	MIRRORV_PAGE_WRITE = 1 << 1,	/* ... and write it */
	MIRRORV_PAGE_HUGE = 1 << 2,	/* part of a THP or hugetlb mapping */
};

/**
 * mirrorv_query_mirror() - which pages of a range are mirrored right now
 * @mr: an ODP MR (explicit or implicit) of a mirror device
 * @addr: first address (rounded down to its page)
 * @length: bytes (at least 1); the range must lie inside @mr
 * @pages: one enum mirrorv_page_state byte per page spanned by
 *	[@addr, @addr + @length): the caller provides that many bytes
 *
 * A snapshot for debugging and tests: faults nothing in, and the answer
 * may be stale as soon as it returns.
 *
 * Return: 0, or an errno value (EINVAL: not an ODP MR or NULL argument;
 * ERANGE: range outside @mr; EOPNOTSUPP: not a mirror device).
 */
int mirrorv_query_mirror(struct ibv_mr *mr, const void *addr, size_t length,
			 uint8_t *pages);

/* Flags of mirrorv_prefetch(). */
enum mirrorv_prefetch_flags {
	MIRRORV_PREFETCH_WRITE = 1 << 0,	/* writable (else readable) */
	MIRRORV_PREFETCH_ASYNC = 1 << 1,	/* return at once; work runs later */
	MIRRORV_PREFETCH_NO_FAULT = 1 << 2,	/* mirror what is present only */
};

/**
 * mirrorv_prefetch() - mirror a buffer of an ODP MR before it is used
 * @mr: an ODP MR of a mirror device
 * @addr: first byte
 * @length: bytes (any size: split into ibv_advise_mr() ranges)
 * @flags: enum mirrorv_prefetch_flags
 *
 * Return: 0, or an errno value: as ibv_advise_mr() (EFAULT for a range
 * outside @mr or, synchronously, not mapped; EINVAL for a non-ODP MR;
 * EACCES for a write prefetch on an MR without local write), EINVAL for
 * unknown flags or WRITE together with NO_FAULT.
 */
int mirrorv_prefetch(struct ibv_mr *mr, void *addr, size_t length,
		     unsigned int flags);

/*
 * FLUSH (IBA 1.5, memory placement extensions), for libibverbs without
 * ibv_wr_flush() (rdma-core before 45). The values are those of rdma-core's
 * IBV_ACCESS_FLUSH_GLOBAL, IBV_FLUSH_GLOBAL, IBV_FLUSH_RANGE,
 * IBV_FLUSH_MR and IBV_WC_FLUSH.
 *
 * MIRRORV_ACCESS_FLUSH_GLOBAL goes in the access flags of the target MR
 * (ibv_reg_mr()) and of the target QP (qp_access_flags of
 * ibv_modify_qp()); the device offers it when device_cap_flags_ex of
 * ibv_query_device_ex() has bit 38 (Linux 6.2 and later). Persistence
 * (placement type 2) is not offered.
 */
#define MIRRORV_ACCESS_FLUSH_GLOBAL	(1 << 8)
#define MIRRORV_FLUSH_GLOBAL		1
#define MIRRORV_FLUSH_RANGE		0
#define MIRRORV_FLUSH_MR		1
#define MIRRORV_WC_FLUSH		8

/**
 * mirrorv_post_flush() - post an RDMA FLUSH on an RC QP
 * @qp: a connected RC QP of a mirror device
 * @wr_id: returned in the completion
 * @send_flags: IBV_SEND_SIGNALED, IBV_SEND_FENCE, IBV_SEND_SOLICITED
 * @rkey: the target MR's key (a memory window cannot be flushed)
 * @remote_addr: first byte of the range (MIRRORV_FLUSH_RANGE)
 * @length: bytes of the range, at most UINT32_MAX (MIRRORV_FLUSH_RANGE)
 * @type: placement type: MIRRORV_FLUSH_GLOBAL
 * @level: MIRRORV_FLUSH_RANGE, or MIRRORV_FLUSH_MR for the whole MR
 *	(@remote_addr and @length are then not used)
 *
 * When it completes (opcode MIRRORV_WC_FLUSH), everything the QP wrote
 * to the target before it is visible to every reader of that memory.
 * A target without MIRRORV_ACCESS_FLUSH_GLOBAL (MR or QP), or a range
 * outside the MR, completes with IBV_WC_REM_ACCESS_ERR; another placement
 * type with IBV_WC_REM_INV_REQ_ERR.
 *
 * Return: 0, or an errno value: EINVAL for a bad argument or QP, ENOMEM
 * when the send queue is full, EOPNOTSUPP when @qp is not of a mirror
 * device.
 */
int mirrorv_post_flush(struct ibv_qp *qp, uint64_t wr_id,
		       unsigned int send_flags, uint32_t rkey,
		       uint64_t remote_addr, uint64_t length, uint8_t type,
		       uint8_t level);

#ifdef __cplusplus
}
#endif

#endif /* MIRRORVERBS_H */
