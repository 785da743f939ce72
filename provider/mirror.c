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
#include <sys/mman.h>
#include <unistd.h>

#include "mirror.h"

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

static int mirror_dereg_mr(struct verbs_mr *vmr)
{
	int ret = ibv_cmd_dereg_mr(vmr);

	if (!ret)
		free(vmr);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* CQ */

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
	if (ret) {
		free(cq);
		errno = ret;
		return NULL;
	}
	ret = mirror_ring_map(&cq->ring, ctx->cmd_fd, &resp.drv.cq,
			      sizeof(struct mirror_cqe));
	if (ret || !cq->ring.map) {
		ibv_cmd_destroy_cq(&cq->vcq.cq);
		free(cq);
		errno = ret ? -ret : EINVAL;
		return NULL;
	}
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
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
	wc->sl = e->sl;
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
/* QP */

static struct ibv_qp *mirror_create_qp_ex(struct ibv_context *ctx,
					  struct ibv_qp_init_attr_ex *attr)
{
	struct mirror_cmd_create_qp cmd;
	struct mirror_create_qp_resp_full resp;
	struct mirror_qp *qp;
	int ret;

	if (attr->comp_mask & ~(uint32_t)IBV_QP_INIT_ATTR_PD) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp) {
		errno = ENOMEM;
		return NULL;
	}
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_qp_ex(ctx, &qp->vqp, attr, &cmd, sizeof(cmd),
				   &resp.ibv_resp, sizeof(resp));
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

/* Tells the kernel the SQ has new WQEs: an empty POST_SEND command. */
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
	if (write(qp->context->cmd_fd, &cmd, sizeof(cmd)) != sizeof(cmd))
		return errno;
	return 0;
}

/*
 * Fills one SQ slot from @wr; returns 0 or an errno. The slot is not yet
 * published, so a half-written one is harmless.
 */
static int mirror_build_send_wqe(struct mirror_qp *qp, struct ibv_send_wr *wr,
				 struct mirror_send_wqe *wqe)
{
	uint32_t room = qp->sq.stride - sizeof(*wqe);
	int i;

	memset(wqe, 0, sizeof(*wqe));
	wqe->wr_id = wr->wr_id;
	wqe->opcode = wr->opcode;
	wqe->send_flags = wr->send_flags;
	wqe->imm_data = wr->imm_data;

	switch (qp->vqp.qp.qp_type) {
	case IBV_QPT_UD:
		if (!wr->wr.ud.ah)
			return EINVAL;
		wqe->wr.ud.ah_num = to_mirror_ah(wr->wr.ud.ah)->ah_num;
		wqe->wr.ud.remote_qpn = wr->wr.ud.remote_qpn;
		wqe->wr.ud.remote_qkey = wr->wr.ud.remote_qkey;
		break;
	default:
		switch (wr->opcode) {
		case IBV_WR_RDMA_WRITE:
		case IBV_WR_RDMA_WRITE_WITH_IMM:
		case IBV_WR_RDMA_READ:
			wqe->wr.rdma.remote_addr = wr->wr.rdma.remote_addr;
			wqe->wr.rdma.rkey = wr->wr.rdma.rkey;
			break;
		case IBV_WR_ATOMIC_CMP_AND_SWP:
		case IBV_WR_ATOMIC_FETCH_AND_ADD:
			wqe->wr.atomic.remote_addr = wr->wr.atomic.remote_addr;
			wqe->wr.atomic.compare_add = wr->wr.atomic.compare_add;
			wqe->wr.atomic.swap = wr->wr.atomic.swap;
			wqe->wr.atomic.rkey = wr->wr.atomic.rkey;
			break;
		default:
			break;
		}
	}

	if (wr->num_sge < 0)
		return EINVAL;
	if (wr->send_flags & IBV_SEND_INLINE) {
		uint32_t limit = qp->max_inline < room ? qp->max_inline : room;
		uint8_t *dst = (uint8_t *)(wqe + 1);
		uint32_t len = 0;

		/* Checked before every copy: the slot must never overflow. */
		for (i = 0; i < wr->num_sge; i++) {
			if (wr->sg_list[i].length > limit - len)
				return EINVAL;
			memcpy(dst + len,
			       (void *)(uintptr_t)wr->sg_list[i].addr,
			       wr->sg_list[i].length);
			len += wr->sg_list[i].length;
		}
		wqe->inline_len = len;
		wqe->flags |= MIRROR_WQE_F_INLINE;
	} else {
		struct mirror_sge *sge = (struct mirror_sge *)(wqe + 1);

		if ((uint32_t)wr->num_sge > qp->max_send_sge ||
		    !mirror_ring_wqe_fits(qp->sq.stride, sizeof(*wqe),
					  wr->num_sge, sizeof(*sge)))
			return EINVAL;
		for (i = 0; i < wr->num_sge; i++) {
			sge[i].addr = wr->sg_list[i].addr;
			sge[i].length = wr->sg_list[i].length;
			sge[i].lkey = wr->sg_list[i].lkey;
		}
		wqe->num_sge = wr->num_sge;
	}
	return 0;
}

static int mirror_post_send(struct ibv_qp *ibqp, struct ibv_send_wr *wr,
			    struct ibv_send_wr **bad_wr)
{
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	struct ibv_send_wr *first = wr;
	struct mirror_ring *r = &qp->sq;
	uint32_t prod, cons;
	int ret = 0, posted = 0;

	/*
	 * The verbs spec refuses sends before RTS. libibverbs keeps
	 * ibqp->state as last set by ibv_modify_qp(); a QP the kernel moved
	 * to ERR still takes WRs, which the kernel flushes.
	 */
	switch (ibqp->state) {
	case IBV_QPS_RESET:
	case IBV_QPS_INIT:
	case IBV_QPS_RTR:
		*bad_wr = wr;
		return EINVAL;
	default:
		break;
	}

	pthread_spin_lock(&qp->sq_lock);
	prod = mirror_ring_load_own(&r->hdr->producer);
	for (; wr; wr = wr->next) {
		cons = mirror_ring_load_acquire(&r->hdr->consumer);
		if (mirror_ring_full(prod, cons, r->num_slots)) {
			ret = ENOMEM;
			break;
		}
		ret = mirror_build_send_wqe(qp, wr, mirror_ring_slot(r, prod));
		if (ret)
			break;
		prod++;
		posted++;
	}
	if (posted)
		mirror_ring_store_release(&r->hdr->producer, prod);
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
	.alloc_pd = mirror_alloc_pd,
	.create_ah = mirror_create_ah,
	.create_cq = mirror_create_cq,
	.create_qp = mirror_create_qp,
	.create_qp_ex = mirror_create_qp_ex,
	.create_srq = mirror_create_srq,
	.dealloc_pd = mirror_dealloc_pd,
	.dereg_mr = mirror_dereg_mr,
	.destroy_ah = mirror_destroy_ah,
	.destroy_cq = mirror_destroy_cq,
	.destroy_qp = mirror_destroy_qp,
	.destroy_srq = mirror_destroy_srq,
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
