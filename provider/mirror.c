// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror.c - the libibverbs provider for mirror devices (rdma_mirror.ko).
 *
 * Control verbs are thin wrappers around libibverbs' ibv_cmd_* helpers;
 * the provider itself owns the shared rings (rdma_user_mirror.h): it
 * produces into the SQ and RQ, consumes the CQ, and rings the send
 * doorbell with an empty POST_SEND command.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/rdma_user_ioctl_cmds.h>

#include "mirror.h"
#include "mirror_wr_ext.h"

/*
 * Maps a ring the kernel described, whose slots must hold @min_stride
 * bytes; -errno on failure.
 */
static int mirror_ring_map(struct mirror_ring *r, int cmd_fd,
			   const struct mirror_queue_info *info,
			   uint32_t min_stride)
{
	memset(r, 0, sizeof(*r));
	if (!info->mmap_size)
		return 0;	/* no such queue (e.g. an RQ on an SRQ) */
	if (!mirror_ring_geometry_ok(info->num_slots, info->stride, min_stride,
				     info->mmap_size))
		return -EINVAL;
	r->map = mmap(NULL, info->mmap_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, cmd_fd, (off_t)info->mmap_offset);
	if (r->map == MAP_FAILED) {
		r->map = NULL;
		return -errno;
	}
	r->map_size = info->mmap_size;
	r->hdr = r->map;
	r->num_slots = info->num_slots;
	r->stride = info->stride;
	return 0;
}

static void mirror_ring_unmap(struct mirror_ring *r)
{
	if (r->map)
		munmap(r->map, r->map_size);
	memset(r, 0, sizeof(*r));
}

static void *mirror_ring_slot(const struct mirror_ring *r, uint32_t idx)
{
	return mirror_ring_slot_addr(r->map, idx, r->num_slots, r->stride);
}

/* ---------------------------------------------------------------------- */
/* Device and context */

static int mirror_query_device_ex(struct ibv_context *ctx,
				  const struct ibv_query_device_ex_input *input,
				  struct ibv_device_attr_ex *attr,
				  size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t fw;
	int ret;

	ret = ibv_cmd_query_device_any(ctx, input, attr, attr_size, &resp,
				       &resp_size);
	if (ret)
		return ret;
	/* The kernel reports the firmware version as major.minor.patch. */
	fw = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%u.%u.%u", (unsigned int)(fw >> 32) & 0xffff,
		 (unsigned int)(fw >> 16) & 0xffff, (unsigned int)fw & 0xffff);
	return 0;
}

static int mirror_query_port(struct ibv_context *ctx, uint8_t port,
			     struct ibv_port_attr *attr)
{
	struct mirror_cmd_query_port cmd;

	return ibv_cmd_query_port(ctx, port, attr, &cmd, sizeof(cmd));
}

static struct ibv_pd *mirror_alloc_pd(struct ibv_context *ctx)
{
	struct mirror_cmd_alloc_pd cmd;
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_alloc_pd(ctx, pd, &cmd, sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return pd;
}

static int mirror_dealloc_pd(struct ibv_pd *pd)
{
	int ret = ibv_cmd_dealloc_pd(pd);

	if (!ret)
		free(pd);
	return ret;
}

static struct ibv_mr *mirror_reg_mr(struct ibv_pd *pd, void *addr,
				    size_t length, uint64_t hca_va, int access)
{
	struct mirror_cmd_reg_mr cmd;
	struct ib_uverbs_reg_mr_resp resp;
	struct verbs_mr *vmr;
	int ret;

	vmr = calloc(1, sizeof(*vmr));
	if (!vmr) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(vmr);
		errno = ret;
		return NULL;
	}
	return &vmr->ibv_mr;
}

/*
 * Memory windows. The kernel gives a window its first rkey; a bind is a
 * BIND_MW WQE (mirror_wqe_set_bind()) that the kernel's requester runs in
 * the SQ's order.
 */
static struct ibv_mw *mirror_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type)
{
	struct mirror_cmd_alloc_mw cmd;
	struct ib_uverbs_alloc_mw_resp resp;
	struct ibv_mw *mw;
	int ret;

	mw = calloc(1, sizeof(*mw));
	if (!mw) {
		errno = ENOMEM;
		return NULL;
	}
	ret = ibv_cmd_alloc_mw(pd, type, mw, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(mw);
		errno = ret;
		return NULL;
	}
	return mw;
}

static int mirror_dealloc_mw(struct ibv_mw *mw)
{
	int ret = ibv_cmd_dealloc_mw(mw);

	if (!ret)
		free(mw);
	return ret;
}

/* ibv_advise_mr(): prefetch of ODP MRs, done by the kernel. */
static int mirror_advise_mr(struct ibv_pd *pd,
			    enum ibv_advise_mr_advice advice, uint32_t flags,
			    struct ibv_sge *sg_list, uint32_t num_sges)
{
	return ibv_cmd_advise_mr(pd, advice, flags, sg_list, num_sges);
}

static int mirror_dereg_mr(struct verbs_mr *vmr)
{
	int ret = ibv_cmd_dereg_mr(vmr);

	if (!ret)
		free(vmr);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* CQ */

/*
 * Maps the ring of a CQ the kernel has just created; on failure destroys
 * the CQ again and returns an errno. Shared by create_cq and create_cq_ex.
 */
static int mirror_cq_setup(struct mirror_cq *cq, struct ibv_context *ctx,
			   const struct mirror_queue_info *info)
{
	int ret;

	ret = mirror_ring_map(&cq->ring, ctx->cmd_fd, info,
			      sizeof(struct mirror_cqe));
	if (ret || !cq->ring.map) {
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		return ret ? -ret : EINVAL;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return 0;
}

static struct ibv_cq *mirror_create_cq(struct ibv_context *ctx, int cqe,
				       struct ibv_comp_channel *channel,
				       int comp_vector)
{
	struct mirror_cmd_create_cq cmd;
	struct mirror_create_cq_resp_full resp;
	struct mirror_cq *cq;
	int ret;

	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_cq(ctx, cqe, channel, comp_vector,
				&cq->vcq.cq, &cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (!ret)
		ret = mirror_cq_setup(cq, ctx, &resp.drv.cq);
	if (ret) {
		free(cq);
		errno = ret;
		return NULL;
	}
	return &cq->vcq.cq;
}

static int mirror_destroy_cq(struct ibv_cq *ibcq)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	int ret = ibv_cmd_destroy_cq(ibcq);

	if (ret)
		return ret;
	mirror_ring_unmap(&cq->ring);
	pthread_spin_destroy(&cq->lock);
	free(cq);
	return 0;
}

static int mirror_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	struct mirror_cmd_resize_cq cmd;
	struct mirror_resize_cq_resp_full resp;
	struct mirror_ring nring;
	int ret;

	pthread_spin_lock(&cq->lock);
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (ret)
		goto out;
	ret = -mirror_ring_map(&nring, ibcq->context->cmd_fd, &resp.drv.cq,
			       sizeof(struct mirror_cqe));
	if (ret)
		goto out;	/* the CQ works on in the kernel; we lost sight */
	mirror_ring_unmap(&cq->ring);
	cq->ring = nring;
out:
	pthread_spin_unlock(&cq->lock);
	return ret;
}

static int mirror_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	return ibv_cmd_req_notify_cq(ibcq, solicited_only);
}

/*
 * The SL of a completion. RoCE has no SL to report, and what verbs users
 * (UCX's UD transport among them) read there for a UD receive, following
 * the layout of ConnectX CQEs, is the packet's type: bit 3 set for a
 * RoCEv2 (UDP) packet, bits 2:0 its L3 header, 1 IPv6, 2 IPv4. They take
 * it to know where the GRH area holds the destination address.
 */
enum {
	MIRROR_SL_ROCE_UDP = 0x8,
	MIRROR_SL_ROCE_IPV6 = 0x1,
	MIRROR_SL_ROCE_IPV4 = 0x2,
};

static uint8_t mirror_cqe_sl(const struct mirror_cqe *e)
{
	switch (e->network_hdr_type) {
	case MIRROR_CQE_NET_IPV4:
		return MIRROR_SL_ROCE_UDP | MIRROR_SL_ROCE_IPV4;
	case MIRROR_CQE_NET_IPV6:
		return MIRROR_SL_ROCE_UDP | MIRROR_SL_ROCE_IPV6;
	default:
		return e->sl;
	}
}

static void mirror_cqe_to_wc(const struct mirror_cqe *e, struct ibv_wc *wc)
{
	memset(wc, 0, sizeof(*wc));
	wc->wr_id = e->wr_id;
	wc->status = e->status;
	wc->opcode = e->opcode;
	wc->vendor_err = e->vendor_err;
	wc->byte_len = e->byte_len;
	wc->imm_data = e->imm_data;
	wc->qp_num = e->qp_num;
	wc->src_qp = e->src_qp;
	wc->wc_flags = e->wc_flags;
	wc->pkey_index = e->pkey_index;
	wc->slid = e->slid;
	wc->sl = mirror_cqe_sl(e);
	wc->dlid_path_bits = e->dlid_path_bits;
}

static int mirror_poll_cq(struct ibv_cq *ibcq, int num, struct ibv_wc *wc)
{
	struct mirror_cq *cq = to_mirror_cq(ibcq);
	struct mirror_ring *r = &cq->ring;
	uint32_t prod, cons;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	cons = mirror_ring_load_own(&r->hdr->consumer);
	prod = mirror_ring_load_acquire(&r->hdr->producer);
	while (n < num && !mirror_ring_empty(prod, cons)) {
		mirror_cqe_to_wc(mirror_ring_slot(r, cons), &wc[n]);
		n++;
		cons++;
	}
	if (n)
		mirror_ring_store_release(&r->hdr->consumer, cons);
	pthread_spin_unlock(&cq->lock);
	return n;
}

/* ---------------------------------------------------------------------- */
/* ibv_cq_ex: a poll runs from start_poll to end_poll under cq->lock */

/*
 * Stands the poll on the oldest unread CQE and shows its wr_id and status;
 * ENOENT when the ring is empty.
 */
static int mirror_cq_ex_peek(struct mirror_cq *cq)
{
	struct mirror_ring *r = &cq->ring;
	uint32_t cons = mirror_ring_load_own(&r->hdr->consumer);
	uint32_t prod = mirror_ring_load_acquire(&r->hdr->producer);

	if (mirror_ring_empty(prod, cons)) {
		cq->cur = NULL;
		return ENOENT;
	}
	cq->cur = mirror_ring_slot(r, cons);
	cq->vcq.cq_ex.wr_id = cq->cur->wr_id;
	cq->vcq.cq_ex.status = cq->cur->status;
	return 0;
}

/* Hands the current CQE's slot back to the kernel. */
static void mirror_cq_ex_consume(struct mirror_cq *cq)
{
	uint32_t *cons = &cq->ring.hdr->consumer;

	if (!cq->cur)
		return;
	mirror_ring_store_release(cons, mirror_ring_load_own(cons) + 1);
	cq->cur = NULL;
}

static int mirror_start_poll(struct ibv_cq_ex *ibcq,
			     struct ibv_poll_cq_attr *attr)
{
	struct mirror_cq *cq = to_mirror_cq_ex(ibcq);
	int ret;

	if (attr->comp_mask)
		return EINVAL;
	pthread_spin_lock(&cq->lock);
	ret = mirror_cq_ex_peek(cq);
	/* An empty poll ends here: the caller must not call end_poll. */
	if (ret)
		pthread_spin_unlock(&cq->lock);
	return ret;
}

static int mirror_next_poll(struct ibv_cq_ex *ibcq)
{
	struct mirror_cq *cq = to_mirror_cq_ex(ibcq);

	mirror_cq_ex_consume(cq);
	return mirror_cq_ex_peek(cq);
}

static void mirror_end_poll(struct ibv_cq_ex *ibcq)
{
	struct mirror_cq *cq = to_mirror_cq_ex(ibcq);

	mirror_cq_ex_consume(cq);
	pthread_spin_unlock(&cq->lock);
}

/* The read_* callbacks: valid between a successful start/next and the next. */
static const struct mirror_cqe *mirror_cq_ex_cur(struct ibv_cq_ex *ibcq)
{
	return to_mirror_cq_ex(ibcq)->cur;
}

static enum ibv_wc_opcode mirror_wc_read_opcode(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->opcode;
}

static uint32_t mirror_wc_read_vendor_err(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->vendor_err;
}

static uint32_t mirror_wc_read_byte_len(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->byte_len;
}

/* Also ibv_wc_read_invalidated_rkey(), which libibverbs derives from it. */
static __be32 mirror_wc_read_imm_data(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->imm_data;
}

static uint32_t mirror_wc_read_qp_num(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->qp_num;
}

static uint32_t mirror_wc_read_src_qp(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->src_qp;
}

static unsigned int mirror_wc_read_wc_flags(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->wc_flags;
}

static uint32_t mirror_wc_read_slid(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->slid;
}

static uint8_t mirror_wc_read_sl(struct ibv_cq_ex *ibcq)
{
	return mirror_cqe_sl(mirror_cq_ex_cur(ibcq));
}

static uint8_t mirror_wc_read_dlid_path_bits(struct ibv_cq_ex *ibcq)
{
	return mirror_cq_ex_cur(ibcq)->dlid_path_bits;
}

/*
 * Every CQE carries all the standard fields, so all of them can be read
 * whatever wc_flags asked for; extra ones (timestamps, flow tags, ...)
 * the device does not produce.
 */
static struct ibv_cq_ex *mirror_create_cq_ex(struct ibv_context *ctx,
					     struct ibv_cq_init_attr_ex *attr)
{
	struct mirror_cmd_create_cq_ex cmd;
	struct mirror_create_cq_ex_resp_full resp;
	struct ibv_cq_ex *ex;
	struct mirror_cq *cq;
	int ret;

	if ((attr->wc_flags & ~(uint64_t)IBV_WC_STANDARD_FLAGS) ||
	    (attr->comp_mask & ~(uint32_t)IBV_CQ_INIT_ATTR_MASK_FLAGS) ||
	    ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	     (attr->flags & ~(uint32_t)IBV_CREATE_CQ_ATTR_SINGLE_THREADED))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	cq = calloc(1, sizeof(*cq));
	if (!cq) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_cq_ex(ctx, attr, &cq->vcq, &cmd, sizeof(cmd),
				   &resp.ibv_resp, sizeof(resp), 0);
	if (!ret)
		ret = mirror_cq_setup(cq, ctx, &resp.drv.cq);
	if (ret) {
		free(cq);
		errno = ret;
		return NULL;
	}
	ex = &cq->vcq.cq_ex;
	ex->start_poll = mirror_start_poll;
	ex->next_poll = mirror_next_poll;
	ex->end_poll = mirror_end_poll;
	ex->read_opcode = mirror_wc_read_opcode;
	ex->read_vendor_err = mirror_wc_read_vendor_err;
	ex->read_byte_len = mirror_wc_read_byte_len;
	ex->read_imm_data = mirror_wc_read_imm_data;
	ex->read_qp_num = mirror_wc_read_qp_num;
	ex->read_src_qp = mirror_wc_read_src_qp;
	ex->read_wc_flags = mirror_wc_read_wc_flags;
	ex->read_slid = mirror_wc_read_slid;
	ex->read_sl = mirror_wc_read_sl;
	ex->read_dlid_path_bits = mirror_wc_read_dlid_path_bits;
	return ex;
}

/* ---------------------------------------------------------------------- */
/* Send queue: WQE encoding shared by ibv_post_send and the ibv_wr_* API */

/* Tells the kernel the SQ has new WQEs: an empty POST_SEND command. */
/*
 * The doorbell through the ioctl that carries write() commands
 * (UVERBS_METHOD_INVOKE_WRITE): ib_core refuses write() to a task whose
 * credentials are not the opener's (a forked child, a process after exec
 * or setuid), but not this. The command and reply are write()'s.
 */
static int mirror_doorbell_ioctl(struct ibv_qp *qp,
				 struct mirror_cmd_post_send *cmd,
				 struct ib_uverbs_post_send_resp *resp)
{
	union {
		struct ib_uverbs_ioctl_hdr hdr;
		uint8_t buf[sizeof(struct ib_uverbs_ioctl_hdr) +
			    3 * sizeof(struct ib_uverbs_attr)];
	} c;
	struct ib_uverbs_attr *a = c.hdr.attrs;

	memset(&c, 0, sizeof(c));
	c.hdr.length = sizeof(c);
	c.hdr.object_id = UVERBS_OBJECT_DEVICE;
	c.hdr.method_id = UVERBS_METHOD_INVOKE_WRITE;
	c.hdr.num_attrs = 3;
	a[0].attr_id = UVERBS_ATTR_CORE_IN;
	a[0].len = sizeof(cmd->core);
	a[0].flags = UVERBS_ATTR_F_MANDATORY;
	a[0].data = (uintptr_t)&cmd->core;
	a[1].attr_id = UVERBS_ATTR_CORE_OUT;
	a[1].len = sizeof(*resp);
	a[1].flags = UVERBS_ATTR_F_MANDATORY;
	a[1].data = (uintptr_t)resp;
	/* A constant of 8 bytes or less travels in data itself. */
	a[2].attr_id = UVERBS_ATTR_WRITE_CMD;
	a[2].len = sizeof(uint64_t);
	a[2].flags = UVERBS_ATTR_F_MANDATORY;
	a[2].data = IB_USER_VERBS_CMD_POST_SEND;
	if (ioctl(qp->context->cmd_fd, RDMA_VERBS_IOCTL, &c.hdr))
		return errno ? errno : EIO;
	return 0;
}

static int mirror_ring_doorbell(struct ibv_qp *qp)
{
	struct mirror_cmd_post_send cmd;
	struct ib_uverbs_post_send_resp resp;

	memset(&cmd, 0, sizeof(cmd));
	cmd.hdr.command = IB_USER_VERBS_CMD_POST_SEND;
	cmd.hdr.in_words = sizeof(cmd) / 4;
	cmd.hdr.out_words = sizeof(resp) / 4;
	cmd.core.response = (uintptr_t)&resp;
	cmd.core.qp_handle = qp->handle;
	cmd.core.wr_count = 0;
	cmd.core.sge_count = 0;
	cmd.core.wqe_size = sizeof(struct ibv_send_wr);
	/* write() is the cheaper path; the ioctl when it is refused. */
	if (write(qp->context->cmd_fd, &cmd, sizeof(cmd)) == sizeof(cmd))
		return 0;
	if (errno != EACCES)
		return errno;
	return mirror_doorbell_ioctl(qp, &cmd, &resp);
}

/* Whether the verbs spec lets @qp post sends in its current state. */
static bool mirror_qp_can_send(const struct ibv_qp *qp)
{
	/*
	 * libibverbs keeps qp->state as last set by ibv_modify_qp(); a QP the
	 * kernel moved to ERR still takes WRs, which the kernel flushes.
	 */
	switch (qp->state) {
	case IBV_QPS_RESET:
	case IBV_QPS_INIT:
	case IBV_QPS_RTR:
		return false;
	default:
		return true;
	}
}

/* The SQ slot counter @prod falls on, or NULL while the kernel holds it. */
static struct mirror_send_wqe *mirror_sq_claim(struct mirror_qp *qp,
					       uint32_t prod)
{
	struct mirror_ring *r = &qp->sq;
	uint32_t cons = mirror_ring_load_acquire(&r->hdr->consumer);

	if (mirror_ring_full(prod, cons, r->num_slots))
		return NULL;
	return mirror_ring_slot(r, prod);
}

/*
 * Starts a WQE in a claimed slot: header only, no data. The slot is not
 * yet published, so a half-written one is harmless.
 */
static void mirror_wqe_init(struct mirror_send_wqe *wqe, uint64_t wr_id,
			    enum ibv_wr_opcode opcode, unsigned int send_flags,
			    __be32 imm_data)
{
	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr_id;
	wqe->opcode = opcode;
	wqe->send_flags = send_flags;
	wqe->imm_data = imm_data;
}

static void mirror_wqe_set_rdma(struct mirror_send_wqe *wqe, uint32_t rkey,
				uint64_t remote_addr)
{
	wqe->wr.rdma.remote_addr = remote_addr;
	wqe->wr.rdma.rkey = rkey;
}

static void mirror_wqe_set_atomic(struct mirror_send_wqe *wqe, uint32_t rkey,
				  uint64_t remote_addr, uint64_t compare_add,
				  uint64_t swap)
{
	wqe->wr.atomic.remote_addr = remote_addr;
	wqe->wr.atomic.compare_add = compare_add;
	wqe->wr.atomic.swap = swap;
	wqe->wr.atomic.rkey = rkey;
}

/* A FLUSH from mirrorv_post_flush() (mirror_wr_ext.h): no data. */
static int mirror_wqe_set_flush(struct mirror_send_wqe *wqe,
				const struct ibv_send_wr *wr)
{
	uint64_t tl = wr->wr.atomic.swap;

	if (wr->num_sge || wr->wr.atomic.compare_add > UINT32_MAX ||
	    tl >> (MIRROR_WR_EXT_FLUSH_LEVEL_SHIFT + 8))
		return EINVAL;
	wqe->wr.flush.remote_addr = wr->wr.atomic.remote_addr;
	wqe->wr.flush.rkey = wr->wr.atomic.rkey;
	wqe->wr.flush.length = (uint32_t)wr->wr.atomic.compare_add;
	wqe->wr.flush.type = tl & 0xff;
	wqe->wr.flush.level = (tl >> MIRROR_WR_EXT_FLUSH_LEVEL_SHIFT) & 0xff;
	return 0;
}

/*
 * A bind of @mw to @info (length 0 and no MR: a type 1 window bound to
 * nothing); the window's key becomes @rkey once the WQE completes.
 */
static int mirror_wqe_set_bind(struct mirror_send_wqe *wqe, struct ibv_mw *mw,
			       uint32_t rkey,
			       const struct ibv_mw_bind_info *info)
{
	if (!mw || (!info->mr && info->length))
		return EINVAL;
	wqe->wr.bind.addr = info->addr;
	wqe->wr.bind.length = info->length;
	wqe->wr.bind.mw_rkey = mw->rkey;
	wqe->wr.bind.new_rkey = rkey;
	wqe->wr.bind.mr_lkey = info->mr ? info->mr->lkey : 0;
	wqe->wr.bind.access = info->mw_access_flags;
	return 0;
}

static int mirror_wqe_set_ud(struct mirror_send_wqe *wqe, struct ibv_ah *ah,
			     uint32_t remote_qpn, uint32_t remote_qkey)
{
	if (!ah)
		return EINVAL;
	wqe->wr.ud.ah_num = to_mirror_ah(ah)->ah_num;
	wqe->wr.ud.remote_qpn = remote_qpn;
	wqe->wr.ud.remote_qkey = remote_qkey;
	return 0;
}

/* Gives @wqe its data as @n SGEs, replacing any data it had. */
static int mirror_wqe_set_sges(const struct mirror_qp *qp,
			       struct mirror_send_wqe *wqe,
			       const struct ibv_sge *sg, size_t n)
{
	struct mirror_sge *sge = (struct mirror_sge *)(wqe + 1);
	size_t i;

	if (n > qp->max_send_sge ||
	    !mirror_ring_wqe_fits(qp->sq.stride, sizeof(*wqe), (uint32_t)n,
				  sizeof(*sge)))
		return EINVAL;
	for (i = 0; i < n; i++) {
		sge[i].addr = sg[i].addr;
		sge[i].length = sg[i].length;
		sge[i].lkey = sg[i].lkey;
	}
	wqe->num_sge = (uint32_t)n;
	wqe->inline_len = 0;
	wqe->flags &= ~MIRROR_WQE_F_INLINE;
	return 0;
}

/* Makes @wqe an inline one with no data yet, replacing any data it had. */
static void mirror_wqe_start_inline(struct mirror_send_wqe *wqe)
{
	wqe->num_sge = 0;
	wqe->inline_len = 0;
	wqe->flags |= MIRROR_WQE_F_INLINE;
}

/* Appends @len bytes at @addr to an inline WQE. */
static int mirror_wqe_add_inline(const struct mirror_qp *qp,
				 struct mirror_send_wqe *wqe, const void *addr,
				 size_t len)
{
	uint32_t room = qp->sq.stride - sizeof(*wqe);
	uint32_t limit = qp->max_inline < room ? qp->max_inline : room;

	/* Checked before every copy: the slot must never overflow. */
	if (len > limit - wqe->inline_len)
		return EINVAL;
	memcpy((uint8_t *)(wqe + 1) + wqe->inline_len, addr, len);
	wqe->inline_len += (uint32_t)len;
	return 0;
}

/* Fills one claimed SQ slot from @wr; returns 0 or an errno. */
static int mirror_build_send_wqe(struct mirror_qp *qp, struct ibv_send_wr *wr,
				 struct mirror_send_wqe *wqe)
{
	int i, ret;

	mirror_wqe_init(wqe, wr->wr_id, wr->opcode, wr->send_flags,
			wr->imm_data);
	if (qp->vqp.qp.qp_type == IBV_QPT_UD) {
		ret = mirror_wqe_set_ud(wqe, wr->wr.ud.ah, wr->wr.ud.remote_qpn,
					wr->wr.ud.remote_qkey);
		if (ret)
			return ret;
	} else {
		/* As a number: it takes values the enum lacks (FLUSH). */
		switch ((unsigned int)wr->opcode) {
		case IBV_WR_RDMA_WRITE:
		case IBV_WR_RDMA_WRITE_WITH_IMM:
		case IBV_WR_RDMA_READ:
			mirror_wqe_set_rdma(wqe, wr->wr.rdma.rkey,
					    wr->wr.rdma.remote_addr);
			break;
		case IBV_WR_ATOMIC_CMP_AND_SWP:
		case IBV_WR_ATOMIC_FETCH_AND_ADD:
			mirror_wqe_set_atomic(wqe, wr->wr.atomic.rkey,
					      wr->wr.atomic.remote_addr,
					      wr->wr.atomic.compare_add,
					      wr->wr.atomic.swap);
			break;
		case IBV_WR_BIND_MW:
			/* A bind carries no data. */
			return mirror_wqe_set_bind(wqe, wr->bind_mw.mw,
						   wr->bind_mw.rkey,
						   &wr->bind_mw.bind_info);
		case IBV_WR_LOCAL_INV:
			return 0;	/* the key is in imm_data */
		case MIRROR_WR_EXT_FLUSH:
			return mirror_wqe_set_flush(wqe, wr);
		default:
			break;
		}
	}

	if (wr->num_sge < 0)
		return EINVAL;
	if (!(wr->send_flags & IBV_SEND_INLINE))
		return mirror_wqe_set_sges(qp, wqe, wr->sg_list,
					   (size_t)wr->num_sge);
	mirror_wqe_start_inline(wqe);
	for (i = 0; i < wr->num_sge; i++) {
		ret = mirror_wqe_add_inline(qp, wqe,
				(const void *)(uintptr_t)wr->sg_list[i].addr,
				wr->sg_list[i].length);
		if (ret)
			return ret;
	}
	return 0;
}

static int mirror_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
			    struct ibv_send_wr **bad_wr)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	struct ibv_send_wr *first = wr;
	struct mirror_send_wqe *wqe;
	uint32_t prod;
	int ret = 0, posted = 0;

	if (!mirror_qp_can_send(ibqp)) {
		*bad_wr = wr;
		return EINVAL;
	}

	pthread_spin_lock(&qp->sq_lock);
	prod = mirror_ring_load_own(&qp->sq.hdr->producer);
	for (; wr; wr = wr->next) {
		wqe = mirror_sq_claim(qp, prod);
		if (!wqe) {
			ret = ENOMEM;
			break;
		}
		ret = mirror_build_send_wqe(qp, wr, wqe);
		if (ret)
			break;
		prod++;
		posted++;
	}
	if (posted)
		mirror_ring_store_release(&qp->sq.hdr->producer, prod);
	pthread_spin_unlock(&qp->sq_lock);
	if (ret)
		*bad_wr = wr;
	/*
	 * The doorbell fails only when the device is gone: what this call
	 * published will never run, so report its first WR as the bad one
	 * (callers read *bad_wr whenever we return an error).
	 */
	if (posted) {
		int db = mirror_ring_doorbell(ibqp);

		if (db && !ret) {
			*bad_wr = first;
			ret = db;
		}
	}
	return ret;
}

/*
 * ibv_bind_mw() of a type 1 window: a BIND_MW WQE giving the window the
 * next key. The window's rkey is the new one from now on; if the bind
 * completes in error, the consumer sets it back (ibv_bind_mw(3)).
 */
static int mirror_bind_mw(struct ibv_qp *ibqp, struct ibv_mw *mw,
			  struct ibv_mw_bind *bind)
{
	struct ibv_send_wr wr = {
		.wr_id = bind->wr_id,
		.opcode = IBV_WR_BIND_MW,
		.send_flags = bind->send_flags,
	};
	struct ibv_send_wr *bad;
	int ret;

	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info = bind->bind_info;
	ret = mirror_post_send(ibqp, &wr, &bad);
	if (ret)
		return ret;
	mw->rkey = wr.bind_mw.rkey;
	return 0;
}

/* ---------------------------------------------------------------------- */
/*
 * The ibv_wr_* API (ibv_wr_post(3)). Builders and setters return nothing:
 * they record the first error in qp->wr.err and turn into no-ops after
 * it, and wr_complete reports it and posts nothing of the batch.
 */

static void mirror_wr_fail(struct mirror_qp *qp, int err)
{
	if (!qp->wr.err)
		qp->wr.err = err;
	qp->wr.cur = NULL;
}

/* Ends the current WQE: a UD one must have been given its address. */
static void mirror_wr_close(struct mirror_qp *qp)
{
	if (qp->wr.cur && qp->wr.cur_needs_ud)
		mirror_wr_fail(qp, EINVAL);
	qp->wr.cur = NULL;
}

/* The WQE a setter applies to; a setter without a builder is an error. */
static struct mirror_send_wqe *mirror_wr_cur(struct mirror_qp *qp)
{
	if (!qp->wr.cur)
		mirror_wr_fail(qp, EINVAL);
	return qp->wr.cur;
}

static void mirror_wr_start(struct ibv_qp_ex *ibqpx)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);

	pthread_spin_lock(&qp->sq_lock);
	qp->wr.start = mirror_ring_load_own(&qp->sq.hdr->producer);
	qp->wr.prod = qp->wr.start;
	qp->wr.err = 0;
	qp->wr.cur = NULL;
	qp->wr.cur_needs_ud = false;
}

static int mirror_wr_complete(struct ibv_qp_ex *ibqpx)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);
	struct ibv_qp *ibqp = &qp->vqp.qp;
	bool posted;
	int ret;

	mirror_wr_close(qp);
	ret = qp->wr.err;
	posted = qp->wr.prod != qp->wr.start;
	if (!ret && posted && !mirror_qp_can_send(ibqp))
		ret = EINVAL;
	if (!ret && posted)
		mirror_ring_store_release(&qp->sq.hdr->producer, qp->wr.prod);
	pthread_spin_unlock(&qp->sq_lock);
	if (!ret && posted)
		ret = mirror_ring_doorbell(ibqp);
	return ret;
}

/* Slots written since wr_start stay unpublished: the kernel never saw them. */
static void mirror_wr_abort(struct ibv_qp_ex *ibqpx)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);

	qp->wr.cur = NULL;
	pthread_spin_unlock(&qp->sq_lock);
}

/*
 * Common part of every builder: claims the next slot for a WQE of
 * @opcode, which create_qp_ex must have granted as @op_flag.
 */
static struct mirror_send_wqe *mirror_wr_new(struct ibv_qp_ex *ibqpx,
					     enum ibv_wr_opcode opcode,
					     uint64_t op_flag, __be32 imm_data)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);
	struct mirror_send_wqe *wqe;

	mirror_wr_close(qp);
	if (qp->wr.err)
		return NULL;
	if (!(qp->send_ops & op_flag)) {
		mirror_wr_fail(qp, EOPNOTSUPP);
		return NULL;
	}
	wqe = mirror_sq_claim(qp, qp->wr.prod);
	if (!wqe) {
		mirror_wr_fail(qp, ENOMEM);
		return NULL;
	}
	/* Inline-ness comes from the data setter, not from the flag. */
	mirror_wqe_init(wqe, ibqpx->wr_id, opcode,
			ibqpx->wr_flags & ~(unsigned int)IBV_SEND_INLINE,
			imm_data);
	qp->wr.prod++;
	qp->wr.cur = wqe;
	qp->wr.cur_needs_ud = qp->vqp.qp.qp_type == IBV_QPT_UD;
	return wqe;
}

static void mirror_wr_send(struct ibv_qp_ex *ibqpx)
{
	mirror_wr_new(ibqpx, IBV_WR_SEND, IBV_QP_EX_WITH_SEND, 0);
}

static void mirror_wr_send_imm(struct ibv_qp_ex *ibqpx, __be32 imm_data)
{
	mirror_wr_new(ibqpx, IBV_WR_SEND_WITH_IMM, IBV_QP_EX_WITH_SEND_WITH_IMM,
		      imm_data);
}

static void mirror_wr_rdma_write(struct ibv_qp_ex *ibqpx, uint32_t rkey,
				 uint64_t remote_addr)
{
	struct mirror_send_wqe *wqe;

	wqe = mirror_wr_new(ibqpx, IBV_WR_RDMA_WRITE,
			    IBV_QP_EX_WITH_RDMA_WRITE, 0);
	if (wqe)
		mirror_wqe_set_rdma(wqe, rkey, remote_addr);
}

static void mirror_wr_rdma_write_imm(struct ibv_qp_ex *ibqpx, uint32_t rkey,
				     uint64_t remote_addr, __be32 imm_data)
{
	struct mirror_send_wqe *wqe;

	wqe = mirror_wr_new(ibqpx, IBV_WR_RDMA_WRITE_WITH_IMM,
			    IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM, imm_data);
	if (wqe)
		mirror_wqe_set_rdma(wqe, rkey, remote_addr);
}

static void mirror_wr_rdma_read(struct ibv_qp_ex *ibqpx, uint32_t rkey,
				uint64_t remote_addr)
{
	struct mirror_send_wqe *wqe;

	wqe = mirror_wr_new(ibqpx, IBV_WR_RDMA_READ, IBV_QP_EX_WITH_RDMA_READ,
			    0);
	if (wqe)
		mirror_wqe_set_rdma(wqe, rkey, remote_addr);
}

static void mirror_wr_atomic_cmp_swp(struct ibv_qp_ex *ibqpx, uint32_t rkey,
				     uint64_t remote_addr, uint64_t compare,
				     uint64_t swap)
{
	struct mirror_send_wqe *wqe;

	wqe = mirror_wr_new(ibqpx, IBV_WR_ATOMIC_CMP_AND_SWP,
			    IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP, 0);
	if (wqe)
		mirror_wqe_set_atomic(wqe, rkey, remote_addr, compare, swap);
}

static void mirror_wr_atomic_fetch_add(struct ibv_qp_ex *ibqpx, uint32_t rkey,
				       uint64_t remote_addr, uint64_t add)
{
	struct mirror_send_wqe *wqe;

	wqe = mirror_wr_new(ibqpx, IBV_WR_ATOMIC_FETCH_AND_ADD,
			    IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD, 0);
	if (wqe)
		mirror_wqe_set_atomic(wqe, rkey, remote_addr, add, 0);
}

/* ATOMIC WRITE: the 8 bytes at @atomic_wr travel in the WQE, as they are. */
static void mirror_wr_atomic_write(struct ibv_qp_ex *ibqpx, uint32_t rkey,
				   uint64_t remote_addr, const void *atomic_wr)
{
	struct mirror_send_wqe *wqe;
	uint64_t value;

	wqe = mirror_wr_new(ibqpx, IBV_WR_ATOMIC_WRITE,
			    IBV_QP_EX_WITH_ATOMIC_WRITE, 0);
	if (!wqe)
		return;
	memcpy(&value, atomic_wr, sizeof(value));
	mirror_wqe_set_atomic(wqe, rkey, remote_addr, value, 0);
}

static void mirror_wr_bind_mw(struct ibv_qp_ex *ibqpx, struct ibv_mw *mw,
			      uint32_t rkey,
			      const struct ibv_mw_bind_info *info)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);
	struct mirror_send_wqe *wqe;
	int ret;

	wqe = mirror_wr_new(ibqpx, IBV_WR_BIND_MW, IBV_QP_EX_WITH_BIND_MW, 0);
	if (!wqe)
		return;
	ret = mirror_wqe_set_bind(wqe, mw, rkey, info);
	if (ret)
		mirror_wr_fail(qp, ret);
}

static void mirror_wr_local_inv(struct ibv_qp_ex *ibqpx, uint32_t rkey)
{
	mirror_wr_new(ibqpx, IBV_WR_LOCAL_INV, IBV_QP_EX_WITH_LOCAL_INV,
		      (__be32)rkey);
}

static void mirror_wr_send_inv(struct ibv_qp_ex *ibqpx, uint32_t rkey)
{
	mirror_wr_new(ibqpx, IBV_WR_SEND_WITH_INV, IBV_QP_EX_WITH_SEND_WITH_INV,
		      (__be32)rkey);
}

static void mirror_wr_set_sge_list(struct ibv_qp_ex *ibqpx, size_t num_sge,
				   const struct ibv_sge *sg_list)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);
	struct mirror_send_wqe *wqe = mirror_wr_cur(qp);
	int ret;

	if (!wqe)
		return;
	ret = mirror_wqe_set_sges(qp, wqe, sg_list, num_sge);
	if (ret)
		mirror_wr_fail(qp, ret);
}

static void mirror_wr_set_sge(struct ibv_qp_ex *ibqpx, uint32_t lkey,
			      uint64_t addr, uint32_t length)
{
	struct ibv_sge sge = { .addr = addr, .length = length, .lkey = lkey };

	mirror_wr_set_sge_list(ibqpx, 1, &sge);
}

/* Inline data is for SEND and RDMA WRITE only (ibv_wr_post(3)). */
static bool mirror_opcode_takes_inline(uint32_t opcode)
{
	switch (opcode) {
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
	case IBV_WR_RDMA_WRITE:
	case IBV_WR_RDMA_WRITE_WITH_IMM:
		return true;
	default:
		return false;
	}
}

static void mirror_wr_set_inline_data_list(struct ibv_qp_ex *ibqpx,
					   size_t num_buf,
					   const struct ibv_data_buf *buf_list)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);
	struct mirror_send_wqe *wqe = mirror_wr_cur(qp);
	size_t i;
	int ret;

	if (!wqe)
		return;
	if (!mirror_opcode_takes_inline(wqe->opcode)) {
		mirror_wr_fail(qp, EINVAL);
		return;
	}
	mirror_wqe_start_inline(wqe);
	for (i = 0; i < num_buf; i++) {
		ret = mirror_wqe_add_inline(qp, wqe, buf_list[i].addr,
					    buf_list[i].length);
		if (ret) {
			mirror_wr_fail(qp, ret);
			return;
		}
	}
}

static void mirror_wr_set_inline_data(struct ibv_qp_ex *ibqpx, void *addr,
				      size_t length)
{
	struct ibv_data_buf buf = { .addr = addr, .length = length };

	mirror_wr_set_inline_data_list(ibqpx, 1, &buf);
}

static void mirror_wr_set_ud_addr(struct ibv_qp_ex *ibqpx, struct ibv_ah *ah,
				  uint32_t remote_qpn, uint32_t remote_qkey)
{
	struct mirror_qp *qp = to_mirror_qp_ex(ibqpx);
	struct mirror_send_wqe *wqe = mirror_wr_cur(qp);
	int ret;

	if (!wqe)
		return;
	/* Only UD WQEs have an address; elsewhere wr.ud would clobber wr.rdma. */
	if (qp->vqp.qp.qp_type != IBV_QPT_UD) {
		mirror_wr_fail(qp, EINVAL);
		return;
	}
	ret = mirror_wqe_set_ud(wqe, ah, remote_qpn, remote_qkey);
	if (ret) {
		mirror_wr_fail(qp, ret);
		return;
	}
	qp->wr.cur_needs_ud = false;
}

/* The operations each QP type can carry (ibv_wr_post(3), WORK REQUESTS). */
static uint64_t mirror_send_ops_supported(enum ibv_qp_type type)
{
	uint64_t ops = IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM;

	if (type == IBV_QPT_RC || type == IBV_QPT_UC)
		ops |= IBV_QP_EX_WITH_RDMA_WRITE |
		       IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |
		       IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_LOCAL_INV;
	if (type == IBV_QPT_RC)
		ops |= IBV_QP_EX_WITH_RDMA_READ |
		       IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |
		       IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD |
		       IBV_QP_EX_WITH_SEND_WITH_INV |
		       IBV_QP_EX_WITH_ATOMIC_WRITE;
	return ops;
}

/* Makes ibv_qp_to_qp_ex() return the QP, with our builders and setters. */
static void mirror_qp_init_ex(struct mirror_qp *qp, uint64_t send_ops)
{
	struct ibv_qp_ex *ex = &qp->vqp.qp_ex;

	qp->send_ops = send_ops;
	ex->wr_start = mirror_wr_start;
	ex->wr_complete = mirror_wr_complete;
	ex->wr_abort = mirror_wr_abort;
	ex->wr_send = mirror_wr_send;
	ex->wr_send_imm = mirror_wr_send_imm;
	ex->wr_rdma_write = mirror_wr_rdma_write;
	ex->wr_rdma_write_imm = mirror_wr_rdma_write_imm;
	ex->wr_rdma_read = mirror_wr_rdma_read;
	ex->wr_atomic_cmp_swp = mirror_wr_atomic_cmp_swp;
	ex->wr_atomic_fetch_add = mirror_wr_atomic_fetch_add;
	ex->wr_atomic_write = mirror_wr_atomic_write;
	ex->wr_bind_mw = mirror_wr_bind_mw;
	ex->wr_local_inv = mirror_wr_local_inv;
	ex->wr_send_inv = mirror_wr_send_inv;
	ex->wr_set_sge = mirror_wr_set_sge;
	ex->wr_set_sge_list = mirror_wr_set_sge_list;
	ex->wr_set_inline_data = mirror_wr_set_inline_data;
	ex->wr_set_inline_data_list = mirror_wr_set_inline_data_list;
	ex->wr_set_ud_addr = mirror_wr_set_ud_addr;
	qp->vqp.comp_mask |= MIRROR_VERBS_QP_EX;
}

/* ---------------------------------------------------------------------- */
/* QP */

static struct ibv_qp *mirror_create_qp_ex(struct ibv_context *ctx,
					  struct ibv_qp_init_attr_ex *attr)
{
	struct mirror_cmd_create_qp cmd;
	struct mirror_create_qp_resp_full resp;
	struct mirror_qp *qp;
	uint32_t mask;
	int ret;

	/* Creation flags: none is supported, and none asked for is fine. */
	if ((attr->comp_mask & ~(uint32_t)(IBV_QP_INIT_ATTR_PD |
					   IBV_QP_INIT_ATTR_CREATE_FLAGS |
					   IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)) ||
	    ((attr->comp_mask & IBV_QP_INIT_ATTR_CREATE_FLAGS) &&
	     attr->create_flags)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	/* ibv_wr_post(3): creation fails unless every operation is possible. */
	if ((attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS) &&
	    (attr->send_ops_flags & ~mirror_send_ops_supported(attr->qp_type))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	/*
	 * No flags: the same QP as without the field, which the write
	 * command cannot carry (libibverbs refuses it with EINVAL).
	 */
	mask = attr->comp_mask;
	attr->comp_mask &= ~(uint32_t)IBV_QP_INIT_ATTR_CREATE_FLAGS;
	ret = ibv_cmd_create_qp_ex(ctx, &qp->vqp, attr, &cmd, sizeof(cmd),
				   &resp.ibv_resp, sizeof(resp));
	attr->comp_mask = mask;
	if (ret) {
		free(qp);
		errno = ret;
		return NULL;
	}
	ret = mirror_ring_map(&qp->sq, ctx->cmd_fd, &resp.drv.sq,
			      sizeof(struct mirror_send_wqe));
	if (!ret)
		ret = mirror_ring_map(&qp->rq, ctx->cmd_fd, &resp.drv.rq,
				      sizeof(struct mirror_recv_wqe));
	if (ret || !qp->sq.map) {
		mirror_ring_unmap(&qp->sq);
		mirror_ring_unmap(&qp->rq);
		ibv_cmd_destroy_qp(&qp->vqp.qp);
		free(qp);
		errno = ret ? -ret : EINVAL;
		return NULL;
	}
	/* libibverbs has written the granted caps into attr->cap. */
	qp->max_inline = resp.drv.max_inline_data;
	qp->max_send_sge = attr->cap.max_send_sge;
	qp->max_recv_sge = attr->cap.max_recv_sge;
	pthread_spin_init(&qp->sq_lock, PTHREAD_PROCESS_PRIVATE);
	pthread_spin_init(&qp->rq_lock, PTHREAD_PROCESS_PRIVATE);
	if (attr->comp_mask & IBV_QP_INIT_ATTR_SEND_OPS_FLAGS)
		mirror_qp_init_ex(qp, attr->send_ops_flags);
	return &qp->vqp.qp;
}

static struct ibv_qp *mirror_create_qp(struct ibv_pd *pd,
				       struct ibv_qp_init_attr *attr)
{
	struct ibv_qp_init_attr_ex ex;
	struct ibv_qp *qp;

	memset(&ex, 0, sizeof(ex));
	memcpy(&ex, attr, sizeof(*attr));
	ex.comp_mask = IBV_QP_INIT_ATTR_PD;
	ex.pd = pd;
	qp = mirror_create_qp_ex(pd->context, &ex);
	if (qp)
		attr->cap = ex.cap;
	return qp;
}

static int mirror_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			    int mask)
{
	struct mirror_cmd_modify_qp cmd;

	return ibv_cmd_modify_qp(qp, attr, mask, &cmd, sizeof(cmd));
}

static int mirror_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			   int mask, struct ibv_qp_init_attr *init)
{
	struct mirror_cmd_query_qp cmd;

	return ibv_cmd_query_qp(qp, attr, mask, init, &cmd, sizeof(cmd));
}

static int mirror_destroy_qp(struct ibv_qp *ibqp)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	int ret = ibv_cmd_destroy_qp(ibqp);

	if (ret)
		return ret;
	mirror_ring_unmap(&qp->sq);
	mirror_ring_unmap(&qp->rq);
	pthread_spin_destroy(&qp->sq_lock);
	pthread_spin_destroy(&qp->rq_lock);
	free(qp);
	return 0;
}

/*
 * Writes receive WRs into an RQ or SRQ ring whose posters the caller
 * serialises, and publishes them; returns 0 or an errno, with *bad_wr
 * then naming the first WR not posted.
 */
static int mirror_post_recv_ring(struct mirror_ring *r, uint32_t max_sge,
				 struct ibv_recv_wr *wr,
				 struct ibv_recv_wr **bad_wr)
{
	uint32_t prod, cons;
	int ret = 0, posted = 0, i;

	prod = mirror_ring_load_own(&r->hdr->producer);
	for (; wr; wr = wr->next) {
		struct mirror_recv_wqe *wqe;
		struct mirror_sge *sge;

		cons = mirror_ring_load_acquire(&r->hdr->consumer);
		if (mirror_ring_full(prod, cons, r->num_slots)) {
			ret = ENOMEM;
			break;
		}
		if (wr->num_sge < 0 || (uint32_t)wr->num_sge > max_sge ||
		    !mirror_ring_wqe_fits(r->stride, sizeof(*wqe), wr->num_sge,
					  sizeof(*sge))) {
			ret = EINVAL;
			break;
		}
		wqe = mirror_ring_slot(r, prod);
		wqe->wr_id = wr->wr_id;
		wqe->num_sge = wr->num_sge;
		wqe->reserved = 0;
		sge = (struct mirror_sge *)(wqe + 1);
		for (i = 0; i < wr->num_sge; i++) {
			sge[i].addr = wr->sg_list[i].addr;
			sge[i].length = wr->sg_list[i].length;
			sge[i].lkey = wr->sg_list[i].lkey;
		}
		prod++;
		posted++;
	}
	if (posted)
		mirror_ring_store_release(&r->hdr->producer, prod);
	if (ret)
		*bad_wr = wr;
	return ret;
}

static int mirror_post_recv(struct ibv_qp *ibqp, struct ibv_recv_wr *wr,
			    struct ibv_recv_wr **bad_wr)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	int ret;

	/* No RQ (an SRQ QP), or a QP in RESET: the verbs spec refuses. */
	if (!qp->rq.map || ibqp->state == IBV_QPS_RESET) {
		*bad_wr = wr;
		return EINVAL;
	}
	pthread_spin_lock(&qp->rq_lock);
	ret = mirror_post_recv_ring(&qp->rq, qp->max_recv_sge, wr, bad_wr);
	pthread_spin_unlock(&qp->rq_lock);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* SRQ */

static struct ibv_srq *mirror_create_srq(struct ibv_pd *pd,
					 struct ibv_srq_init_attr *attr)
{
	struct mirror_cmd_create_srq cmd;
	struct mirror_create_srq_resp_full resp;
	struct mirror_srq *srq;
	int ret;

	srq = calloc(1, sizeof(*srq));
	if (!srq) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_srq(pd, &srq->ibsrq, attr, &cmd, sizeof(cmd),
				 &resp.ibv_resp, sizeof(resp));
	if (ret) {
		free(srq);
		errno = ret;
		return NULL;
	}
	ret = mirror_ring_map(&srq->rq, pd->context->cmd_fd, &resp.drv.rq,
			      sizeof(struct mirror_recv_wqe));
	if (ret || !srq->rq.map) {
		ibv_cmd_destroy_srq(&srq->ibsrq);
		free(srq);
		errno = ret ? -ret : EINVAL;
		return NULL;
	}
	/* libibverbs has written the granted sizes into attr->attr. */
	srq->max_sge = attr->attr.max_sge;
	pthread_spin_init(&srq->lock, PTHREAD_PROCESS_PRIVATE);
	return &srq->ibsrq;
}

static int mirror_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr,
			     int mask)
{
	struct mirror_cmd_modify_srq cmd;

	return ibv_cmd_modify_srq(srq, attr, mask, &cmd, sizeof(cmd));
}

static int mirror_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *attr)
{
	struct mirror_cmd_query_srq cmd;

	return ibv_cmd_query_srq(srq, attr, &cmd, sizeof(cmd));
}

static int mirror_destroy_srq(struct ibv_srq *ibsrq)
{
	struct mirror_srq *srq = to_mirror_srq(ibsrq);
	int ret = ibv_cmd_destroy_srq(ibsrq);

	if (ret)
		return ret;
	mirror_ring_unmap(&srq->rq);
	pthread_spin_destroy(&srq->lock);
	free(srq);
	return 0;
}

static int mirror_post_srq_recv(struct ibv_srq *ibsrq, struct ibv_recv_wr *wr,
				struct ibv_recv_wr **bad_wr)
{
	struct mirror_srq *srq = to_mirror_srq(ibsrq);
	int ret;

	pthread_spin_lock(&srq->lock);
	ret = mirror_post_recv_ring(&srq->rq, srq->max_sge, wr, bad_wr);
	pthread_spin_unlock(&srq->lock);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* AH */

static struct ibv_ah *mirror_create_ah(struct ibv_pd *pd,
				       struct ibv_ah_attr *attr)
{
	struct mirror_create_ah_resp_full resp;
	struct mirror_ah *ah;
	int ret;

	ah = calloc(1, sizeof(*ah));
	if (!ah) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_ah(pd, &ah->ibah, attr, &resp.ibv_resp,
				sizeof(resp));
	if (ret) {
		free(ah);
		errno = ret;
		return NULL;
	}
	ah->ah_num = resp.drv.ah_num;
	return &ah->ibah;
}

static int mirror_destroy_ah(struct ibv_ah *ibah)
{
	int ret = ibv_cmd_destroy_ah(ibah);

	if (!ret)
		free(to_mirror_ah(ibah));
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Registration with libibverbs */

static void mirror_free_context(struct ibv_context *ibctx)
{
	struct mirror_context *ctx = to_mirror_ctx(ibctx);

	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

static const struct verbs_context_ops mirror_ctx_ops = {
	.advise_mr = mirror_advise_mr,
	.alloc_mw = mirror_alloc_mw,
	.alloc_pd = mirror_alloc_pd,
	.attach_mcast = ibv_cmd_attach_mcast,
	.bind_mw = mirror_bind_mw,
	.create_ah = mirror_create_ah,
	.create_cq = mirror_create_cq,
	.create_cq_ex = mirror_create_cq_ex,
	.create_qp = mirror_create_qp,
	.create_qp_ex = mirror_create_qp_ex,
	.create_srq = mirror_create_srq,
	.dealloc_mw = mirror_dealloc_mw,
	.dealloc_pd = mirror_dealloc_pd,
	.dereg_mr = mirror_dereg_mr,
	.destroy_ah = mirror_destroy_ah,
	.destroy_cq = mirror_destroy_cq,
	.destroy_qp = mirror_destroy_qp,
	.destroy_srq = mirror_destroy_srq,
	.detach_mcast = ibv_cmd_detach_mcast,
	.free_context = mirror_free_context,
	.modify_qp = mirror_modify_qp,
	.modify_srq = mirror_modify_srq,
	.poll_cq = mirror_poll_cq,
	.post_recv = mirror_post_recv,
	.post_send = mirror_post_send,
	.post_srq_recv = mirror_post_srq_recv,
	.query_device_ex = mirror_query_device_ex,
	.query_port = mirror_query_port,
	.query_qp = mirror_query_qp,
	.query_srq = mirror_query_srq,
	.reg_mr = mirror_reg_mr,
	.req_notify_cq = mirror_req_notify_cq,
	.resize_cq = mirror_resize_cq,
};

static struct verbs_context *mirror_alloc_context(struct ibv_device *ibdev,
						  int cmd_fd,
						  void *private_data)
{
	struct mirror_cmd_get_context cmd;
	struct mirror_get_context_resp_full resp;
	struct mirror_context *ctx;
	int ret;

	(void)private_data;
	ctx = _verbs_init_and_alloc_context(ibdev, cmd_fd, sizeof(*ctx),
					    &((struct mirror_context *)NULL)->vctx,
					    MIRROR_DRIVER_ID);
	if (!ctx)
		return NULL;
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_get_context(&ctx->vctx, &cmd, sizeof(cmd),
				  &resp.ibv_resp, sizeof(resp));
	if (ret) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		errno = ret;
		return NULL;
	}
	if (resp.drv.abi_version != MIRROR_UVERBS_ABI_VERSION) {
		verbs_uninit_context(&ctx->vctx);
		free(ctx);
		errno = EPROTO;
		return NULL;
	}
	ctx->max_inline = resp.drv.max_inline_data;
	verbs_set_ops(&ctx->vctx, &mirror_ctx_ops);
	return &ctx->vctx;
}

/*
 * rdma_mirror.ko is out of tree, so its driver id is RDMA_DRIVER_UNKNOWN:
 * claim mirror* devices that no in-tree driver owns. libibverbs checks the
 * uverbs ABI version against our range itself.
 */
static bool mirror_match_device(struct verbs_sysfs_dev *sysfs_dev)
{
	return sysfs_dev->driver_id == MIRROR_DRIVER_ID &&
	       strncmp(sysfs_dev->ibdev_name, MIRROR_IBDEV_PREFIX,
		       strlen(MIRROR_IBDEV_PREFIX)) == 0;
}

static struct verbs_device *mirror_alloc_device(struct verbs_sysfs_dev *sd)
{
	struct mirror_device *dev;

	(void)sd;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	return &dev->vdev;
}

static void mirror_uninit_device(struct verbs_device *vdev)
{
	free(container_of(vdev, struct mirror_device, vdev));
}

/*
 * libibverbs walks every provider's match table, up to its terminating
 * entry, when it matches a device by driver id (rxe0, say): we need one,
 * even though match_device() decides for our own devices.
 */
static const struct verbs_match_ent mirror_match_table[] = {
	{},
};

static const struct verbs_device_ops mirror_dev_ops = {
	.name = "mirror",
	.match_min_abi_version = MIRROR_UVERBS_ABI_VERSION,
	.match_max_abi_version = MIRROR_UVERBS_ABI_VERSION,
	.match_table = mirror_match_table,
	.match_device = mirror_match_device,
	.alloc_device = mirror_alloc_device,
	.uninit_device = mirror_uninit_device,
	.alloc_context = mirror_alloc_context,
};

static void __attribute__((constructor)) mirror_register_driver(void)
{
	verbs_register_driver_34(&mirror_dev_ops);
}
