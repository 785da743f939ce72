/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/* mirror.h - private structures of the mirror libibverbs provider. */
#ifndef MIRROR_PROVIDER_H
#define MIRROR_PROVIDER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "mirror_pabi.h"
#include "mirror_ring.h"
#include "rdma_user_mirror.h"

/* rdma_mirror.ko registers as RDMA_DRIVER_UNKNOWN; every ioctl carries it. */
#define MIRROR_DRIVER_ID	0
#define MIRROR_IBDEV_PREFIX	"mirror"

#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

/* A shared ring as mapped into this process. */
struct mirror_ring {
	void *map;
	size_t map_size;
	struct mirror_ring_hdr *hdr;
	uint32_t num_slots;
	uint32_t stride;
};

struct mirror_device {
	struct verbs_device vdev;
};

struct mirror_context {
	struct verbs_context vctx;
	uint32_t max_inline;
};

/*
 * lock serialises consumers of the ring (poll_cq, and an ibv_cq_ex poll
 * from start_poll to end_poll, which holds it throughout) and resize.
 */
struct mirror_cq {
	struct verbs_cq vcq;
	pthread_spinlock_t lock;
	struct mirror_ring ring;
	/* The CQE an ibv_cq_ex poll stands on; NULL outside one. */
	const struct mirror_cqe *cur;
};

/*
 * The ibv_wr_* batch being built between wr_start and wr_complete or
 * wr_abort. WQEs go into SQ slots from the published producer on; only
 * wr_complete publishes them, so an aborted or failed batch leaves no
 * trace the kernel could see.
 */
struct mirror_wr_batch {
	uint32_t start;		/* the producer index at wr_start */
	uint32_t prod;		/* the next slot to fill */
	int err;		/* the first error; wr_complete returns it */
	struct mirror_send_wqe *cur;	/* the WQE the setters fill */
	bool cur_needs_ud;	/* a UD WQE still waiting for wr_set_ud_addr */
};

/*
 * sq_lock serialises posters to sq (ibv_post_send, and an ibv_wr_* batch
 * from wr_start to wr_complete/wr_abort, which holds it throughout);
 * rq_lock posters to rq.
 */
struct mirror_qp {
	struct verbs_qp vqp;
	pthread_spinlock_t sq_lock;
	pthread_spinlock_t rq_lock;
	struct mirror_ring sq;
	struct mirror_ring rq;
	uint32_t max_inline;
	uint32_t max_send_sge;
	uint32_t max_recv_sge;
	uint64_t send_ops;	/* IBV_QP_EX_WITH_* granted at create_qp_ex */
	struct mirror_wr_batch wr;
};

/* lock serialises posters to rq. */
struct mirror_srq {
	struct ibv_srq ibsrq;
	pthread_spinlock_t lock;
	struct mirror_ring rq;
	uint32_t max_sge;
};

struct mirror_ah {
	struct ibv_ah ibah;
	uint32_t ah_num;
};

/* Core responses with our udata appended, as the kernel writes them. */
struct mirror_get_context_resp_full {
	struct ib_uverbs_get_context_resp ibv_resp;
	struct mirror_alloc_ucontext_resp drv;
};

struct mirror_create_cq_resp_full {
	struct ib_uverbs_create_cq_resp ibv_resp;
	struct mirror_create_cq_resp drv;
};

struct mirror_create_cq_ex_resp_full {
	struct ib_uverbs_ex_create_cq_resp ibv_resp;
	struct mirror_create_cq_resp drv;
};

struct mirror_resize_cq_resp_full {
	struct ib_uverbs_resize_cq_resp ibv_resp;
	struct mirror_resize_cq_resp drv;
};

struct mirror_create_qp_resp_full {
	struct ib_uverbs_create_qp_resp ibv_resp;
	struct mirror_create_qp_resp drv;
};

struct mirror_create_srq_resp_full {
	struct ib_uverbs_create_srq_resp ibv_resp;
	struct mirror_create_srq_resp drv;
};

struct mirror_create_ah_resp_full {
	struct ib_uverbs_create_ah_resp ibv_resp;
	struct mirror_create_ah_resp drv;
};

/* The kernel puts udata right after the core response. */
_Static_assert(offsetof(struct mirror_create_cq_resp_full, drv) ==
	       sizeof(struct ib_uverbs_create_cq_resp), "cq resp");
_Static_assert(offsetof(struct mirror_create_cq_ex_resp_full, drv) ==
	       sizeof(struct ib_uverbs_ex_create_cq_resp), "cq ex resp");
_Static_assert(offsetof(struct mirror_resize_cq_resp_full, drv) ==
	       sizeof(struct ib_uverbs_resize_cq_resp), "resize resp");
_Static_assert(offsetof(struct mirror_create_qp_resp_full, drv) ==
	       sizeof(struct ib_uverbs_create_qp_resp), "qp resp");
_Static_assert(offsetof(struct mirror_create_srq_resp_full, drv) ==
	       sizeof(struct ib_uverbs_create_srq_resp), "srq resp");
_Static_assert(offsetof(struct mirror_create_ah_resp_full, drv) ==
	       sizeof(struct ib_uverbs_create_ah_resp), "ah resp");
_Static_assert(offsetof(struct mirror_get_context_resp_full, drv) ==
	       sizeof(struct ib_uverbs_get_context_resp), "ctx resp");

static inline struct mirror_context *to_mirror_ctx(struct ibv_context *c)
{
	return container_of(c, struct mirror_context, vctx.context);
}

static inline struct mirror_cq *to_mirror_cq(struct ibv_cq *cq)
{
	return container_of(cq, struct mirror_cq, vcq.cq);
}

static inline struct mirror_cq *to_mirror_cq_ex(struct ibv_cq_ex *cq)
{
	return container_of(cq, struct mirror_cq, vcq.cq_ex);
}

static inline struct mirror_qp *to_mirror_qp(struct ibv_qp *qp)
{
	return container_of(qp, struct mirror_qp, vqp.qp);
}

static inline struct mirror_srq *to_mirror_srq(struct ibv_srq *srq)
{
	return container_of(srq, struct mirror_srq, ibsrq);
}

static inline struct mirror_qp *to_mirror_qp_ex(struct ibv_qp_ex *qp)
{
	return container_of(qp, struct mirror_qp, vqp.qp_ex);
}

static inline struct mirror_ah *to_mirror_ah(struct ibv_ah *ah)
{
	return container_of(ah, struct mirror_ah, ibah);
}

#endif /* MIRROR_PROVIDER_H */
