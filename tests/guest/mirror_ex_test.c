// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_ex_test - the extended verbs in the guest: ibv_create_qp_ex with
 * the ibv_wr_* post API and ibv_create_cq_ex with its poll API. Every
 * operation moves real bytes that are checked, and every completion is read
 * through the ibv_cq_ex read_* calls. Side a of a pair is on the device,
 * side b on the same device or, with -W DEV2, on DEV2 over RoCEv2
 * (guest_ex and guest_ex_wire).
 *
 * Usage: mirror_ex_test [-d DEVICE] [-W DEV2] [-v] [TEST-NAME-SUBSTRING...]
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mirror_tap.h"
#include "mirror_testlib.h"

#define BUF_SIZE (64 * 1024)
#define GRH_BYTES 40
#define QKEY 0x1234

#define ALL_RC_OPS                                                             \
	(IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM |                  \
	 IBV_QP_EX_WITH_RDMA_WRITE | IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM |      \
	 IBV_QP_EX_WITH_RDMA_READ | IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP |        \
	 IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD | IBV_QP_EX_WITH_LOCAL_INV |      \
	 IBV_QP_EX_WITH_BIND_MW | IBV_QP_EX_WITH_SEND_WITH_INV |              \
	 IBV_QP_EX_WITH_ATOMIC_WRITE)

/* One QP created with ibv_create_qp_ex on a CQ made with ibv_create_cq_ex. */
struct side {
	struct ibv_pd *pd;
	struct ibv_cq_ex *cq;
	struct ibv_qp *qp;
	struct ibv_qp_ex *qpx;
	struct ibv_mr *mr;
	struct ibv_qp_cap cap;	/* what the device granted */
	char *buf;
};

struct pair {
	struct side a, b;
	enum ibv_qp_type type;
	struct ibv_ah *ah_a2b;	/* UD */
};

/* A completion as read through the ibv_cq_ex read_* calls. */
struct cqe {
	uint64_t wr_id;
	enum ibv_wc_status status;
	enum ibv_wc_opcode opcode;
	uint32_t vendor_err, byte_len, qp_num, src_qp, slid;
	unsigned int wc_flags;
	uint32_t imm;	/* host order */
	uint8_t sl, dlid_path_bits;
};

static struct ibv_cq_ex *create_cq_ex(struct ibv_context *c, int cqe)
{
	struct ibv_cq_init_attr_ex ca = {
		.cqe = cqe,
		.wc_flags = IBV_WC_STANDARD_FLAGS,
	};

	return ibv_create_cq_ex(c, &ca);
}

static int side_init(struct side *s, struct ibv_context *c,
		     enum ibv_qp_type type, uint64_t ops, uint32_t max_send_wr)
{
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = type,
		.cap = { .max_send_wr = max_send_wr, .max_recv_wr = 64,
			 .max_send_sge = 4, .max_recv_sge = 4,
			 .max_inline_data = 128 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = ops,
	};
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	s->pd = ibv_alloc_pd(c);
	s->cq = create_cq_ex(c, 256);
	s->buf = aligned_alloc(4096, BUF_SIZE);
	if (!s->pd || !s->cq || !s->buf)
		return -1;
	memset(s->buf, 0, BUF_SIZE);
	ia.pd = s->pd;
	ia.send_cq = ibv_cq_ex_to_cq(s->cq);
	ia.recv_cq = ibv_cq_ex_to_cq(s->cq);
	s->qp = ibv_create_qp_ex(c, &ia);
	if (!s->qp)
		return -1;
	s->cap = ia.cap;
	s->qpx = ibv_qp_to_qp_ex(s->qp);
	s->mr = ibv_reg_mr(s->pd, s->buf, BUF_SIZE, access);
	return s->qpx && s->mr ? 0 : -1;
}

static void side_fini(struct side *s)
{
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->cq)
		ibv_destroy_cq(ibv_cq_ex_to_cq(s->cq));
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static int to_init(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1, .qkey = QKEY,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		   (qp->qp_type == IBV_QPT_UD ? IBV_QP_QKEY : IBV_QP_ACCESS_FLAGS);

	if (qp->qp_type == IBV_QPT_UC)
		a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
	return ibv_modify_qp(qp, &a, mask);
}

/* Connects @qp (on ctx when @from_a, else on peer_ctx) to QP @dest. */
static int connect_qp(struct ibv_qp *qp, bool from_a, uint32_t dest)
{
	struct mirror_test_qp_params prm = mirror_test_qp_defaults(qp->qp_type);
	struct ibv_ah_attr av = from_a ? peer_av() : back_av();

	prm.qkey = QKEY;
	return mirror_test_connect(qp, dest, &av, &prm);
}

static int pair_init_ops(struct pair *p, enum ibv_qp_type type, uint64_t ops,
			 uint32_t max_send_wr)
{
	struct ibv_ah_attr av = peer_av();

	memset(p, 0, sizeof(*p));
	p->type = type;
	if (side_init(&p->a, ctx, type, ops, max_send_wr) ||
	    side_init(&p->b, peer_ctx, type, ops, max_send_wr))
		return -1;
	if (connect_qp(p->a.qp, true, p->b.qp->qp_num) ||
	    connect_qp(p->b.qp, false, p->a.qp->qp_num))
		return -1;
	if (type == IBV_QPT_UD) {
		p->ah_a2b = ibv_create_ah(p->a.pd, &av);
		if (!p->ah_a2b)
			return -1;
	}
	return 0;
}

static int pair_init(struct pair *p, enum ibv_qp_type type)
{
	uint64_t ops = type == IBV_QPT_UD ?
		       IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_SEND_WITH_IMM :
		       ALL_RC_OPS;

	return pair_init_ops(p, type, ops, 64);
}

static void pair_fini(struct pair *p)
{
	if (p->ah_a2b)
		ibv_destroy_ah(p->ah_a2b);
	side_fini(&p->a);
	side_fini(&p->b);
}

static void read_cqe(struct ibv_cq_ex *cq, struct cqe *e)
{
	e->wr_id = cq->wr_id;
	e->status = cq->status;
	e->opcode = ibv_wc_read_opcode(cq);
	e->vendor_err = ibv_wc_read_vendor_err(cq);
	e->byte_len = ibv_wc_read_byte_len(cq);
	e->imm = be32toh(ibv_wc_read_imm_data(cq));
	e->qp_num = ibv_wc_read_qp_num(cq);
	e->src_qp = ibv_wc_read_src_qp(cq);
	e->wc_flags = ibv_wc_read_wc_flags(cq);
	e->slid = ibv_wc_read_slid(cq);
	e->sl = ibv_wc_read_sl(cq);
	e->dlid_path_bits = ibv_wc_read_dlid_path_bits(cq);
}

/*
 * Waits up to 5 s for @n completions on @cq, read with start/next/end
 * poll; -1 when fewer came.
 */
static int wait_cqes(struct ibv_cq_ex *cq, struct cqe *e, int n)
{
	struct ibv_poll_cq_attr pa = {};
	struct timespec start, now;
	int got = 0, ret;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (got < n) {
		ret = ibv_start_poll(cq, &pa);
		if (ret == 0) {
			do {
				read_cqe(cq, &e[got++]);
				ret = got < n ? ibv_next_poll(cq) : 0;
			} while (ret == 0 && got < n);
			ibv_end_poll(cq);
			if (ret && ret != ENOENT)
				return -1;
			continue;
		}
		if (ret != ENOENT)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5 * mirror_test_time_scale())
			return -1;
		usleep(100);
	}
	return 0;
}

static int wait_cqe(struct ibv_cq_ex *cq, struct cqe *e)
{
	return wait_cqes(cq, e, 1);
}

/* True when @cq stays empty for 50 ms. */
static bool cq_stays_empty(struct ibv_cq_ex *cq)
{
	struct ibv_poll_cq_attr pa = {};

	usleep(50000);
	if (ibv_start_poll(cq, &pa) != ENOENT) {
		ibv_end_poll(cq);
		return false;
	}
	return true;
}

static int post_recv(struct side *s, uint64_t wr_id, uint32_t off, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)s->buf + off, len, s->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(s->qp, &wr, &bad);
}

static void fill(char *buf, uint32_t len, unsigned int seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)(seed * 131 + i * 7 + (i >> 8));
}

static bool all_zero(const char *buf, uint32_t len)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		if (buf[i])
			return false;
	return true;
}

static uint64_t addr_of(struct side *s, uint32_t off)
{
	return (uintptr_t)s->buf + off;
}

/* ---------------------------------------------------------------------- */

static int test_rc_wr_send_moves_bytes(void)
{
	uint32_t len = 20000;
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", strerror(errno));
	fill(p.a.buf, len, 1);
	CHECK(post_recv(&p.b, 77, 0, len) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 5;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), len);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0, "no send completion");
	CHECK(e.status == IBV_WC_SUCCESS && e.wr_id == 5 &&
	      e.opcode == IBV_WC_SEND && e.qp_num == p.a.qp->qp_num,
	      "send cqe: %s wr_id %lu opcode %d qp_num %u",
	      ibv_wc_status_str(e.status), (unsigned long)e.wr_id, e.opcode,
	      e.qp_num);
	CHECK(wait_cqe(p.b.cq, &e) == 0, "no receive completion");
	CHECK(e.status == IBV_WC_SUCCESS && e.wr_id == 77 &&
	      e.opcode == IBV_WC_RECV && e.byte_len == len,
	      "recv cqe: %s opcode %d byte_len %u", ibv_wc_status_str(e.status),
	      e.opcode, e.byte_len);
	CHECK(e.qp_num == p.b.qp->qp_num && e.src_qp == p.a.qp->qp_num,
	      "qp_num %u src_qp %u", e.qp_num, e.src_qp);
	CHECK(!(e.wc_flags & IBV_WC_WITH_IMM), "WITH_IMM on a plain send");
	CHECK(memcmp(p.b.buf, p.a.buf, len) == 0, "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/*
 * The builders of memory windows and ATOMIC WRITE: b binds a type 2
 * window with wr_bind_mw, a stores 8 bytes through it with
 * wr_atomic_write, b ends it with wr_local_inv; bound again, a ends it
 * with wr_send_inv, which b's receive reports.
 */
static int test_rc_wr_window_atomic_write_and_invalidations(void)
{
	uint64_t value = 0x1122334455667788ULL;
	struct ibv_mw_bind_info info = {};
	struct ibv_mr *mr = NULL;
	struct ibv_mw *mw = NULL;
	uint32_t rkey;
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", strerror(errno));
	mr = ibv_reg_mr(p.b.pd, p.b.buf, BUF_SIZE,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
	mw = ibv_alloc_mw(p.b.pd, IBV_MW_TYPE_2);
	CHECK(mr && mw, "MR and window: %s", strerror(errno));
	info.mr = mr;
	info.addr = addr_of(&p.b, 8192);
	info.length = 4096;
	info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;

	rkey = ibv_inc_rkey(mw->rkey);
	ibv_wr_start(p.b.qpx);
	p.b.qpx->wr_id = 1;
	p.b.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_bind_mw(p.b.qpx, mw, rkey, &info);
	CHECK(ibv_wr_complete(p.b.qpx) == 0, "bind: wr_complete");
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_BIND_MW, "bind: %s, opcode %d",
	      ibv_wc_status_str(e.status), e.opcode);
	mw->rkey = rkey;

	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 2;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_write(p.a.qpx, rkey, addr_of(&p.b, 8192 + 64), &value);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "atomic write: wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_ATOMIC_WRITE, "atomic write: %s, opcode %d",
	      ibv_wc_status_str(e.status), e.opcode);
	CHECK(memcmp(p.b.buf + 8192 + 64, &value, 8) == 0,
	      "the 8 bytes did not land");

	ibv_wr_start(p.b.qpx);
	p.b.qpx->wr_id = 3;
	p.b.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_local_inv(p.b.qpx, rkey);
	CHECK(ibv_wr_complete(p.b.qpx) == 0, "local inv: wr_complete");
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_LOCAL_INV, "local inv: %s, opcode %d",
	      ibv_wc_status_str(e.status), e.opcode);

	rkey = ibv_inc_rkey(mw->rkey);
	ibv_wr_start(p.b.qpx);
	p.b.qpx->wr_id = 4;
	p.b.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_bind_mw(p.b.qpx, mw, rkey, &info);
	CHECK(ibv_wr_complete(p.b.qpx) == 0, "rebind: wr_complete");
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS,
	      "rebind: %s", ibv_wc_status_str(e.status));
	mw->rkey = rkey;

	CHECK(post_recv(&p.b, 77, 0, 64) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 5;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send_inv(p.a.qpx, rkey);
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 16);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "send inv: wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS,
	      "send inv: %s", ibv_wc_status_str(e.status));
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.wr_id == 77 && (e.wc_flags & IBV_WC_WITH_INV) &&
	      htobe32(e.imm) == rkey, "receive: %s, flags 0x%x, rkey 0x%x",
	      ibv_wc_status_str(e.status), e.wc_flags, htobe32(e.imm));
	rc = 0;
out:
	if (mw)
		ibv_dealloc_mw(mw);
	if (mr)
		ibv_dereg_mr(mr);
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_send_imm_carries_immediate(void)
{
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, 64, 2);
	CHECK(post_recv(&p.b, 8, 0, 64) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 6;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send_imm(p.a.qpx, htobe32(0xc0ffee));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 64);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_SEND, "send: %s", ibv_wc_status_str(e.status));
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_RECV, "recv: %s", ibv_wc_status_str(e.status));
	CHECK((e.wc_flags & IBV_WC_WITH_IMM) && e.imm == 0xc0ffee,
	      "wc_flags %#x imm %#x", e.wc_flags, e.imm);
	CHECK(e.byte_len == 64 && memcmp(p.b.buf, p.a.buf, 64) == 0,
	      "payload");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_rdma_write_moves_bytes(void)
{
	uint32_t len = 30000;
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, len, 3);
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 9;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 1000));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), len);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0, "no completion");
	CHECK(e.status == IBV_WC_SUCCESS && e.opcode == IBV_WC_RDMA_WRITE &&
	      e.wr_id == 9, "write: %s opcode %d", ibv_wc_status_str(e.status),
	      e.opcode);
	CHECK(memcmp(p.b.buf + 1000, p.a.buf, len) == 0, "remote bytes differ");
	CHECK(all_zero(p.b.buf, 1000) && all_zero(p.b.buf + 1000 + len, 64),
	      "write went outside its range");
	CHECK(cq_stays_empty(p.b.cq), "a plain write made a receive completion");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_rdma_write_imm_consumes_receive(void)
{
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, 128, 4);
	CHECK(post_recv(&p.b, 33, 0, 0) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 10;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_write_imm(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 4096),
			      htobe32(0x1234abcd));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 128);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_RDMA_WRITE, "write_imm: %s",
	      ibv_wc_status_str(e.status));
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.wr_id == 33 && e.opcode == IBV_WC_RECV_RDMA_WITH_IMM,
	      "receive: %s opcode %d", ibv_wc_status_str(e.status), e.opcode);
	CHECK((e.wc_flags & IBV_WC_WITH_IMM) && e.imm == 0x1234abcd,
	      "imm %#x flags %#x", e.imm, e.wc_flags);
	CHECK(e.byte_len == 128, "byte_len %u", e.byte_len);
	CHECK(memcmp(p.b.buf + 4096, p.a.buf, 128) == 0, "remote bytes differ");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_rdma_read_moves_bytes(void)
{
	uint32_t len = 40000;
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.b.buf + 4096, len, 5);
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 11;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_rdma_read(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 4096));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 3), len);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0, "no completion");
	CHECK(e.status == IBV_WC_SUCCESS && e.opcode == IBV_WC_RDMA_READ &&
	      e.byte_len == len, "read: %s byte_len %u",
	      ibv_wc_status_str(e.status), e.byte_len);
	CHECK(memcmp(p.a.buf + 3, p.b.buf + 4096, len) == 0,
	      "local bytes differ");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_inline_send_copies_at_post(void)
{
	char msg[100], part[3][20];
	struct ibv_data_buf list[3];
	struct cqe e[2];
	struct pair p;
	int rc = -1, i;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(msg, sizeof(msg), 6);
	for (i = 0; i < 3; i++) {
		fill(part[i], sizeof(part[i]), 10 + i);
		list[i].addr = part[i];
		list[i].length = sizeof(part[i]);
	}
	CHECK(post_recv(&p.b, 1, 0, 4096) == 0 &&
	      post_recv(&p.b, 2, 4096, 4096) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED | IBV_SEND_INLINE;
	p.a.qpx->wr_id = 20;
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_inline_data(p.a.qpx, msg, sizeof(msg));
	p.a.qpx->wr_id = 21;
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_inline_data_list(p.a.qpx, 3, list);
	/* The data was copied by the setters: this must not show. */
	memset(msg, 0, sizeof(msg));
	memset(part, 0, sizeof(part));
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqes(p.a.cq, e, 2) == 0, "send completions missing");
	CHECK(e[0].wr_id == 20 && e[1].wr_id == 21 &&
	      e[0].status == IBV_WC_SUCCESS && e[1].status == IBV_WC_SUCCESS,
	      "sends: %lu %s, %lu %s", (unsigned long)e[0].wr_id,
	      ibv_wc_status_str(e[0].status), (unsigned long)e[1].wr_id,
	      ibv_wc_status_str(e[1].status));
	CHECK(wait_cqes(p.b.cq, e, 2) == 0, "receive completions missing");
	CHECK(e[0].byte_len == sizeof(msg) && e[1].byte_len == sizeof(part),
	      "byte_len %u, %u", e[0].byte_len, e[1].byte_len);
	fill(msg, sizeof(msg), 6);
	CHECK(memcmp(p.b.buf, msg, sizeof(msg)) == 0, "inline payload differs");
	for (i = 0; i < 3; i++) {
		fill(part[i], sizeof(part[i]), 10 + i);
		CHECK(memcmp(p.b.buf + 4096 + i * sizeof(part[i]), part[i],
			     sizeof(part[i])) == 0,
		      "inline list element %d differs", i);
	}
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_inline_rdma_write(void)
{
	char msg[48];
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(msg, sizeof(msg), 7);
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	p.a.qpx->wr_id = 22;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 512));
	ibv_wr_set_inline_data(p.a.qpx, msg, sizeof(msg));
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS,
	      "write: %s", ibv_wc_status_str(e.status));
	CHECK(memcmp(p.b.buf + 512, msg, sizeof(msg)) == 0,
	      "remote bytes differ");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_sge_list_gathers(void)
{
	struct ibv_sge sg[3];
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, 12288, 8);
	sg[0] = (struct ibv_sge){ addr_of(&p.a, 8000), 100, p.a.mr->lkey };
	sg[1] = (struct ibv_sge){ addr_of(&p.a, 10), 2000, p.a.mr->lkey };
	sg[2] = (struct ibv_sge){ addr_of(&p.a, 5000), 333, p.a.mr->lkey };
	CHECK(post_recv(&p.b, 3, 0, 8192) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	p.a.qpx->wr_id = 23;
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_sge_list(p.a.qpx, 3, sg);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS,
	      "send: %s", ibv_wc_status_str(e.status));
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.byte_len == 2433, "recv: %s byte_len %u",
	      ibv_wc_status_str(e.status), e.byte_len);
	CHECK(memcmp(p.b.buf, p.a.buf + 8000, 100) == 0 &&
	      memcmp(p.b.buf + 100, p.a.buf + 10, 2000) == 0 &&
	      memcmp(p.b.buf + 2100, p.a.buf + 5000, 333) == 0,
	      "gathered payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* WQEs built between start and complete run only once complete returns. */
static int test_rc_wr_batch_runs_at_complete(void)
{
	struct cqe e[3];
	struct pair p;
	int rc = -1, i;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, 3 * 256, 9);
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	for (i = 0; i < 3; i++) {
		p.a.qpx->wr_id = 30 + i;
		ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, i * 256));
		ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, i * 256),
			       256);
	}
	CHECK(cq_stays_empty(p.a.cq) && all_zero(p.b.buf, 3 * 256),
	      "work ran before wr_complete");
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqes(p.a.cq, e, 3) == 0, "completions missing");
	for (i = 0; i < 3; i++)
		CHECK(e[i].wr_id == 30u + i && e[i].status == IBV_WC_SUCCESS,
		      "completion %d: wr_id %lu %s", i, (unsigned long)e[i].wr_id,
		      ibv_wc_status_str(e[i].status));
	CHECK(memcmp(p.b.buf, p.a.buf, 3 * 256) == 0, "remote bytes differ");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* Unsignaled WQEs make no completion; a signaled one after them does. */
static int test_rc_wr_flags_select_signaled(void)
{
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = 0;
	p.a.qpx->wr_id = 40;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 8);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	p.a.qpx->wr_id = 41;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 8);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.wr_id == 41,
	      "first completion is wr_id %lu, want 41", (unsigned long)e.wr_id);
	CHECK(cq_stays_empty(p.a.cq), "extra completion");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_abort_posts_nothing(void)
{
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, 512, 10);
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	p.a.qpx->wr_id = 50;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 256);
	p.a.qpx->wr_id = 51;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 256));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 256), 256);
	ibv_wr_abort(p.a.qpx);
	CHECK(cq_stays_empty(p.a.cq), "an aborted WQE completed");
	CHECK(all_zero(p.b.buf, 512), "an aborted write reached remote memory");
	/* The next batch reuses the slots; only its WQE may run. */
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 52;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 1024));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 64);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete after abort");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.wr_id == 52 &&
	      e.status == IBV_WC_SUCCESS, "completion after abort: wr_id %lu %s",
	      (unsigned long)e.wr_id, ibv_wc_status_str(e.status));
	CHECK(cq_stays_empty(p.a.cq), "aborted WQEs ran later");
	CHECK(all_zero(p.b.buf, 512) &&
	      memcmp(p.b.buf + 1024, p.a.buf, 64) == 0, "remote memory");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/*
 * A batch in which one WQE is bad: wr_complete returns @want and nothing
 * of the batch runs, not even the good WQE before the bad one.
 */
static int expect_batch_fails(struct pair *p, int got, int want)
{
	if (got != want) {
		snprintf(failmsg, sizeof(failmsg), "wr_complete returned %d (%s), want %s",
			 got, strerror(got), strerror(want));
		return -1;
	}
	if (!cq_stays_empty(p->a.cq) || !all_zero(p->b.buf, 256)) {
		snprintf(failmsg, sizeof(failmsg),
			 "part of a failed batch was posted");
		return -1;
	}
	note("wr_complete: %s, nothing posted", strerror(want));
	return 0;
}

/* The good first WQE of every failing batch below. */
static void good_write(struct pair *p)
{
	fill(p->a.buf, 256, 60);
	p->a.qpx->wr_flags = IBV_SEND_SIGNALED;
	p->a.qpx->wr_id = 60;
	ibv_wr_rdma_write(p->a.qpx, p->b.mr->rkey, addr_of(&p->b, 0));
	ibv_wr_set_sge(p->a.qpx, p->a.mr->lkey, addr_of(&p->a, 0), 256);
}

static int test_rc_wr_inline_too_long_fails_at_complete(void)
{
	static char big[8192];
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	note("max_inline_data granted: %u", p.a.cap.max_inline_data);
	CHECK(p.a.cap.max_inline_data < sizeof(big), "inline cap %u",
	      p.a.cap.max_inline_data);
	ibv_wr_start(p.a.qpx);
	good_write(&p);
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_inline_data(p.a.qpx, big, p.a.cap.max_inline_data + 1);
	rc = expect_batch_fails(&p, ibv_wr_complete(p.a.qpx), EINVAL);
	if (rc)
		goto out;
	/* Exactly the cap is fine. */
	rc = -1;
	CHECK(post_recv(&p.b, 1, 4096, 4096) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 61;
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_inline_data(p.a.qpx, big, p.a.cap.max_inline_data);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "an inline send of exactly the cap");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_too_many_sges_fails_at_complete(void)
{
	struct ibv_sge sg[64];
	struct pair p;
	uint32_t i, n;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	n = p.a.cap.max_send_sge + 1;
	note("max_send_sge granted: %u", p.a.cap.max_send_sge);
	CHECK(n <= 64, "max_send_sge %u", p.a.cap.max_send_sge);
	for (i = 0; i < n; i++)
		sg[i] = (struct ibv_sge){ addr_of(&p.a, 1024 + i * 8), 8,
					  p.a.mr->lkey };
	ibv_wr_start(p.a.qpx);
	good_write(&p);
	p.a.qpx->wr_id = 62;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
	ibv_wr_set_sge_list(p.a.qpx, n, sg);
	rc = expect_batch_fails(&p, ibv_wr_complete(p.a.qpx), EINVAL);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_full_ring_fails_at_complete(void)
{
	struct pair p;
	uint32_t i;
	int rc = -1;

	CHECK(pair_init_ops(&p, IBV_QPT_RC, ALL_RC_OPS, 8) == 0, "setup");
	note("max_send_wr granted: %u", p.a.cap.max_send_wr);
	ibv_wr_start(p.a.qpx);
	good_write(&p);
	for (i = 0; i < p.a.cap.max_send_wr; i++) {
		p.a.qpx->wr_id = 100 + i;
		ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
		ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 8);
	}
	rc = expect_batch_fails(&p, ibv_wr_complete(p.a.qpx), ENOMEM);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_before_rts_fails_at_complete(void)
{
	struct side s = {};
	int rc = -1, ret;

	CHECK(side_init(&s, ctx, IBV_QPT_RC, ALL_RC_OPS, 16) == 0, "setup");
	CHECK(to_init(s.qp) == 0, "to INIT");
	ibv_wr_start(s.qpx);
	s.qpx->wr_id = 1;
	ibv_wr_send(s.qpx);
	ibv_wr_set_sge(s.qpx, s.mr->lkey, addr_of(&s, 0), 8);
	ret = ibv_wr_complete(s.qpx);
	CHECK(ret == EINVAL, "wr_complete in INIT returned %d", ret);
	rc = 0;
out:
	side_fini(&s);
	return rc;
}

static int test_rc_wr_unrequested_op_fails_at_complete(void)
{
	struct pair p;
	int rc = -1;

	CHECK(pair_init_ops(&p, IBV_QPT_RC, IBV_QP_EX_WITH_SEND, 16) == 0,
	      "setup");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 63;
	ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 256);
	rc = expect_batch_fails(&p, ibv_wr_complete(p.a.qpx), EOPNOTSUPP);
out:
	pair_fini(&p);
	return rc;
}

static int test_ud_wr_send_moves_bytes(void)
{
	uint32_t len = 900;
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_UD) == 0, "setup: %s", strerror(errno));
	fill(p.a.buf, len, 12);
	CHECK(post_recv(&p.b, 70, 0, len + GRH_BYTES) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 71;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send_imm(p.a.qpx, htobe32(0x55aa));
	ibv_wr_set_ud_addr(p.a.qpx, p.ah_a2b, p.b.qp->qp_num, QKEY);
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), len);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.opcode == IBV_WC_SEND, "send: %s", ibv_wc_status_str(e.status));
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.wr_id == 70 && e.opcode == IBV_WC_RECV, "recv: %s",
	      ibv_wc_status_str(e.status));
	CHECK(e.byte_len == len + GRH_BYTES, "byte_len %u", e.byte_len);
	CHECK(e.src_qp == p.a.qp->qp_num && e.qp_num == p.b.qp->qp_num,
	      "src_qp %u qp_num %u", e.src_qp, e.qp_num);
	CHECK((e.wc_flags & IBV_WC_GRH) && (e.wc_flags & IBV_WC_WITH_IMM) &&
	      e.imm == 0x55aa, "wc_flags %#x imm %#x", e.wc_flags, e.imm);
	CHECK(e.slid == 0 && e.dlid_path_bits == 0, "slid %u path bits %u",
	      e.slid, e.dlid_path_bits);
	CHECK(memcmp(p.b.buf + GRH_BYTES, p.a.buf, len) == 0,
	      "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_ud_wr_inline_send_moves_bytes(void)
{
	char msg[60];
	struct cqe e;
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_UD) == 0, "setup");
	fill(msg, sizeof(msg), 13);
	CHECK(post_recv(&p.b, 72, 0, 4096) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 73;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.a.qpx);
	/* Setters in either order. */
	ibv_wr_set_inline_data(p.a.qpx, msg, sizeof(msg));
	ibv_wr_set_ud_addr(p.a.qpx, p.ah_a2b, p.b.qp->qp_num, QKEY);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, &e) == 0 && e.status == IBV_WC_SUCCESS,
	      "send: %s", ibv_wc_status_str(e.status));
	CHECK(wait_cqe(p.b.cq, &e) == 0 && e.status == IBV_WC_SUCCESS &&
	      e.byte_len == sizeof(msg) + GRH_BYTES, "recv: %s byte_len %u",
	      ibv_wc_status_str(e.status), e.byte_len);
	CHECK(memcmp(p.b.buf + GRH_BYTES, msg, sizeof(msg)) == 0,
	      "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_ud_wr_without_address_fails_at_complete(void)
{
	struct pair p;
	int rc = -1, ret;

	CHECK(pair_init(&p, IBV_QPT_UD) == 0, "setup");
	CHECK(post_recv(&p.b, 74, 0, 4096) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 75;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send(p.a.qpx);
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 16);
	ret = ibv_wr_complete(p.a.qpx);
	CHECK(ret == EINVAL, "wr_complete returned %d", ret);
	CHECK(cq_stays_empty(p.a.cq) && cq_stays_empty(p.b.cq),
	      "the WQE without an address was posted");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int try_create_qp_ex(enum ibv_qp_type type, uint64_t ops)
{
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = type,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = ops,
	};
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq_ex *cq = create_cq_ex(ctx, 8);
	struct ibv_qp *qp;
	int err = -1;

	if (!pd || !cq)
		goto out;
	ia.pd = pd;
	ia.send_cq = ibv_cq_ex_to_cq(cq);
	ia.recv_cq = ibv_cq_ex_to_cq(cq);
	errno = 0;
	qp = ibv_create_qp_ex(ctx, &ia);
	err = qp ? 0 : errno;
	if (qp) {
		if (!ibv_qp_to_qp_ex(qp))
			err = -1;
		ibv_destroy_qp(qp);
	}
out:
	if (cq)
		ibv_destroy_cq(ibv_cq_ex_to_cq(cq));
	if (pd)
		ibv_dealloc_pd(pd);
	return err;
}

static int test_create_qp_ex_refuses_unsupported_send_ops(void)
{
	static const struct {
		enum ibv_qp_type type;
		uint64_t ops;
		const char *what;
	} bad[] = {
		{ IBV_QPT_UD, IBV_QP_EX_WITH_LOCAL_INV, "UD LOCAL_INV" },
		{ IBV_QPT_UD, IBV_QP_EX_WITH_BIND_MW, "UD BIND_MW" },
		{ IBV_QPT_UC, IBV_QP_EX_WITH_SEND_WITH_INV, "UC SEND_WITH_INV" },
		{ IBV_QPT_UC, IBV_QP_EX_WITH_ATOMIC_WRITE, "UC ATOMIC_WRITE" },
		{ IBV_QPT_RC, IBV_QP_EX_WITH_SEND | IBV_QP_EX_WITH_TSO, "RC TSO" },
		{ IBV_QPT_UD, IBV_QP_EX_WITH_RDMA_WRITE, "UD RDMA_WRITE" },
		{ IBV_QPT_UC, IBV_QP_EX_WITH_RDMA_READ, "UC RDMA_READ" },
		{ IBV_QPT_UC, IBV_QP_EX_WITH_ATOMIC_FETCH_AND_ADD, "UC atomic" },
	};
	unsigned int i;
	int rc = -1, err;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = try_create_qp_ex(bad[i].type, bad[i].ops);
		CHECK(err == EOPNOTSUPP, "%s: got %d (%s), want EOPNOTSUPP",
		      bad[i].what, err, err > 0 ? strerror(err) : "?");
	}
	/* What each type does support is granted, with ibv_qp_to_qp_ex(). */
	err = try_create_qp_ex(IBV_QPT_RC, ALL_RC_OPS);
	CHECK(err == 0, "RC with all supported ops: %d", err);
	err = try_create_qp_ex(IBV_QPT_UC, IBV_QP_EX_WITH_SEND |
				IBV_QP_EX_WITH_RDMA_WRITE_WITH_IMM);
	CHECK(err == 0, "UC send + write_imm: %d", err);
	err = try_create_qp_ex(IBV_QPT_UD, IBV_QP_EX_WITH_SEND_WITH_IMM);
	CHECK(err == 0, "UD send_imm: %d", err);
	rc = 0;
out:
	return rc;
}

static int test_plain_qp_has_no_qp_ex(void)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 8, NULL, NULL, 0);
	struct ibv_qp *qp = NULL;
	int rc = -1;

	CHECK(pd && cq, "setup");
	ia.send_cq = cq;
	ia.recv_cq = cq;
	qp = ibv_create_qp(pd, &ia);
	CHECK(qp, "create_qp");
	CHECK(ibv_qp_to_qp_ex(qp) == NULL,
	      "a QP created without send_ops_flags has a qp_ex");
	rc = 0;
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	return rc;
}

static int test_create_cq_ex_refuses_unsupported_wc_flags(void)
{
	static const struct {
		uint64_t wc_flags;
		uint32_t flags;
		const char *what;
	} bad[] = {
		{ IBV_WC_EX_WITH_COMPLETION_TIMESTAMP, 0, "completion timestamp" },
		{ IBV_WC_EX_WITH_COMPLETION_TIMESTAMP_WALLCLOCK, 0, "wallclock" },
		{ IBV_WC_EX_WITH_CVLAN, 0, "cvlan" },
		{ IBV_WC_EX_WITH_FLOW_TAG, 0, "flow tag" },
		{ IBV_WC_STANDARD_FLAGS, IBV_CREATE_CQ_ATTR_IGNORE_OVERRUN,
		  "ignore overrun" },
	};
	struct ibv_cq_ex *cq;
	unsigned int i;
	int rc = -1;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct ibv_cq_init_attr_ex ca = {
			.cqe = 8, .wc_flags = bad[i].wc_flags,
			.comp_mask = bad[i].flags ? IBV_CQ_INIT_ATTR_MASK_FLAGS : 0,
			.flags = bad[i].flags,
		};

		errno = 0;
		cq = ibv_create_cq_ex(ctx, &ca);
		if (cq)
			ibv_destroy_cq(ibv_cq_ex_to_cq(cq));
		CHECK(!cq && errno == EOPNOTSUPP, "%s: %s", bad[i].what,
		      cq ? "created" : strerror(errno));
	}
	{
		struct ibv_cq_init_attr_ex ca = {
			.cqe = 8, .wc_flags = IBV_WC_STANDARD_FLAGS,
			.comp_mask = IBV_CQ_INIT_ATTR_MASK_FLAGS,
			.flags = IBV_CREATE_CQ_ATTR_SINGLE_THREADED,
		};

		cq = ibv_create_cq_ex(ctx, &ca);
		CHECK(cq, "standard flags, single threaded: %s",
		      strerror(errno));
		ibv_destroy_cq(ibv_cq_ex_to_cq(cq));
	}
	rc = 0;
out:
	return rc;
}

static int test_cq_ex_empty_start_poll_is_enoent(void)
{
	struct ibv_poll_cq_attr pa = {};
	struct ibv_cq_ex *cq = create_cq_ex(ctx, 8);
	int rc = -1, ret;

	CHECK(cq, "create_cq_ex");
	ret = ibv_start_poll(cq, &pa);
	CHECK(ret == ENOENT, "start_poll on an empty CQ: %d", ret);
	/* Twice: an empty start_poll leaves nothing held. */
	ret = ibv_start_poll(cq, &pa);
	CHECK(ret == ENOENT, "second start_poll: %d", ret);
	rc = 0;
out:
	if (cq)
		ibv_destroy_cq(ibv_cq_ex_to_cq(cq));
	return rc;
}

/* end_poll before the last entry leaves the rest for the next poll. */
static int test_cq_ex_end_poll_keeps_the_rest(void)
{
	struct ibv_poll_cq_attr pa = {};
	struct cqe e[2];
	struct pair p;
	int rc = -1, i;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	for (i = 0; i < 3; i++) {
		p.a.qpx->wr_id = 80 + i;
		ibv_wr_rdma_write(p.a.qpx, p.b.mr->rkey, addr_of(&p.b, 0));
		ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 8);
	}
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	CHECK(wait_cqe(p.a.cq, e) == 0 && e[0].wr_id == 80, "first: %lu",
	      (unsigned long)e[0].wr_id);
	CHECK(wait_cqes(p.a.cq, e, 2) == 0 && e[0].wr_id == 81 &&
	      e[1].wr_id == 82, "rest: %lu %lu", (unsigned long)e[0].wr_id,
	      (unsigned long)e[1].wr_id);
	CHECK(ibv_start_poll(p.a.cq, &pa) == ENOENT, "CQ not empty at the end");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_plain_poll_cq_works_on_cq_ex(void)
{
	struct ibv_wc wc;
	struct timespec start, now;
	struct pair p;
	int rc = -1, n = 0;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	fill(p.a.buf, 64, 14);
	CHECK(post_recv(&p.b, 90, 0, 64) == 0, "post_recv");
	ibv_wr_start(p.a.qpx);
	p.a.qpx->wr_id = 91;
	p.a.qpx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_send_imm(p.a.qpx, htobe32(7));
	ibv_wr_set_sge(p.a.qpx, p.a.mr->lkey, addr_of(&p.a, 0), 64);
	CHECK(ibv_wr_complete(p.a.qpx) == 0, "wr_complete");
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		n = ibv_poll_cq(ibv_cq_ex_to_cq(p.b.cq), 1, &wc);
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (n == 0 && now.tv_sec - start.tv_sec <= 5);
	CHECK(n == 1, "ibv_poll_cq returned %d", n);
	CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 90 &&
	      wc.opcode == IBV_WC_RECV && wc.byte_len == 64 &&
	      (wc.wc_flags & IBV_WC_WITH_IMM) && be32toh(wc.imm_data) == 7,
	      "wc: %s wr_id %lu", ibv_wc_status_str(wc.status),
	      (unsigned long)wc.wr_id);
	CHECK(memcmp(p.b.buf, p.a.buf, 64) == 0, "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Atomics: skipped while the device says it has none (atomic_cap NONE). */

static uint64_t *u64_at(struct side *s, uint32_t off)
{
	return (uint64_t *)(void *)(s->buf + off);
}

/* Posts one atomic through ibv_wr_* (@wr_api) or ibv_post_send. */
static int post_atomic(struct pair *p, bool wr_api, bool cmp_swp,
		       uint64_t wr_id, uint32_t loff, uint32_t roff,
		       uint64_t compare_add, uint64_t swap)
{
	struct ibv_sge sge = { addr_of(&p->a, loff), 8, p->a.mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1,
		.opcode = cmp_swp ? IBV_WR_ATOMIC_CMP_AND_SWP :
				    IBV_WR_ATOMIC_FETCH_AND_ADD,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	if (!wr_api) {
		wr.wr.atomic.remote_addr = addr_of(&p->b, roff);
		wr.wr.atomic.rkey = p->b.mr->rkey;
		wr.wr.atomic.compare_add = compare_add;
		wr.wr.atomic.swap = swap;
		return ibv_post_send(p->a.qp, &wr, &bad);
	}
	ibv_wr_start(p->a.qpx);
	p->a.qpx->wr_id = wr_id;
	p->a.qpx->wr_flags = IBV_SEND_SIGNALED;
	if (cmp_swp)
		ibv_wr_atomic_cmp_swp(p->a.qpx, p->b.mr->rkey,
				      addr_of(&p->b, roff), compare_add, swap);
	else
		ibv_wr_atomic_fetch_add(p->a.qpx, p->b.mr->rkey,
					addr_of(&p->b, roff), compare_add);
	ibv_wr_set_sge(p->a.qpx, p->a.mr->lkey, addr_of(&p->a, loff), 8);
	return ibv_wr_complete(p->a.qpx);
}

/* Waits for the atomic's completion and checks it. */
static int atomic_done(struct pair *p, uint64_t wr_id, bool cmp_swp)
{
	enum ibv_wc_opcode want = cmp_swp ? IBV_WC_COMP_SWAP : IBV_WC_FETCH_ADD;
	struct cqe e;

	if (wait_cqe(p->a.cq, &e)) {
		snprintf(failmsg, sizeof(failmsg), "no atomic completion");
		return -1;
	}
	if (e.status != IBV_WC_SUCCESS || e.wr_id != wr_id ||
	    e.opcode != want || e.byte_len != 8) {
		snprintf(failmsg, sizeof(failmsg),
			 "atomic cqe: %s wr_id %lu opcode %d byte_len %u",
			 ibv_wc_status_str(e.status), (unsigned long)e.wr_id,
			 e.opcode, e.byte_len);
		return -1;
	}
	return 0;
}

static int atomics_return_old_value(bool wr_api)
{
	struct pair p;
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup");
	/* The device offers atomics: one that stopped would fail here. */
	CHECK(dev_attr.atomic_cap != IBV_ATOMIC_NONE, "atomic_cap NONE");
	*u64_at(&p.b, 64) = 100;
	*u64_at(&p.a, 0) = 0xdeadbeef;
	CHECK(post_atomic(&p, wr_api, false, 1, 0, 64, 5, 0) == 0, "post F&A");
	if (atomic_done(&p, 1, false))
		goto out;
	CHECK(*u64_at(&p.a, 0) == 100, "fetch_add returned %lu, want 100",
	      (unsigned long)*u64_at(&p.a, 0));
	CHECK(*u64_at(&p.b, 64) == 105, "remote is %lu after +5, want 105",
	      (unsigned long)*u64_at(&p.b, 64));

	/* Compare matches: swapped. */
	CHECK(post_atomic(&p, wr_api, true, 2, 8, 64, 105, 42) == 0,
	      "post C&S");
	if (atomic_done(&p, 2, true))
		goto out;
	CHECK(*u64_at(&p.a, 8) == 105 && *u64_at(&p.b, 64) == 42,
	      "cmp_swp (match): old %lu remote %lu, want 105 and 42",
	      (unsigned long)*u64_at(&p.a, 8),
	      (unsigned long)*u64_at(&p.b, 64));

	/* Compare differs: remote unchanged, old value still returned. */
	CHECK(post_atomic(&p, wr_api, true, 3, 16, 64, 7, 9) == 0,
	      "post C&S");
	if (atomic_done(&p, 3, true))
		goto out;
	CHECK(*u64_at(&p.a, 16) == 42 && *u64_at(&p.b, 64) == 42,
	      "cmp_swp (mismatch): old %lu remote %lu, want 42 and 42",
	      (unsigned long)*u64_at(&p.a, 16),
	      (unsigned long)*u64_at(&p.b, 64));
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_wr_atomics_return_old_value(void)
{
	return atomics_return_old_value(true);
}

static int test_rc_post_send_atomics_return_old_value(void)
{
	return atomics_return_old_value(false);
}

static const struct test tests[] = {
	T(rc_wr_send_moves_bytes),
	T(rc_wr_window_atomic_write_and_invalidations),
	T(rc_wr_send_imm_carries_immediate),
	T(rc_wr_rdma_write_moves_bytes),
	T(rc_wr_rdma_write_imm_consumes_receive),
	T(rc_wr_rdma_read_moves_bytes),
	T(rc_wr_inline_send_copies_at_post),
	T(rc_wr_inline_rdma_write),
	T(rc_wr_sge_list_gathers),
	T(rc_wr_batch_runs_at_complete),
	T(rc_wr_flags_select_signaled),
	T(rc_wr_abort_posts_nothing),
	T(rc_wr_inline_too_long_fails_at_complete),
	T(rc_wr_too_many_sges_fails_at_complete),
	T(rc_wr_full_ring_fails_at_complete),
	T_DEV(rc_wr_before_rts_fails_at_complete),
	T(rc_wr_unrequested_op_fails_at_complete),
	T(ud_wr_send_moves_bytes),
	T(ud_wr_inline_send_moves_bytes),
	T(ud_wr_without_address_fails_at_complete),
	T_DEV(create_qp_ex_refuses_unsupported_send_ops),
	T_DEV(plain_qp_has_no_qp_ex),
	T_DEV(create_cq_ex_refuses_unsupported_wc_flags),
	T_DEV(cq_ex_empty_start_poll_is_enoent),
	T(cq_ex_end_poll_keeps_the_rest),
	T(plain_poll_cq_works_on_cq_ex),
	T(rc_wr_atomics_return_old_value),
	T(rc_post_send_atomics_return_old_value),
};

int main(int argc, char **argv)
{
	return mirror_tap_main(argc, argv, tests,
			       (int)(sizeof(tests) / sizeof(tests[0])), true);
}
