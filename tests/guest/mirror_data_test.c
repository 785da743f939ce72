// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_data_test - the data path between QPs of one device, run in the
 * guest: each operation moves real bytes that are checked, and each
 * completion status is provoked for real.
 *
 * Usage: mirror_data_test [-d DEVICE] [-v] [TEST-NAME-SUBSTRING...]
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

#define BUF_SIZE (256 * 1024)

static const char *dev_name = "mirror0";
static bool verbose;
static struct ibv_context *ctx;
static int gid_index = -1;
static union ibv_gid gid;
static char failmsg[1024];

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			char _m[600];                                          \
			snprintf(_m, sizeof(_m), __VA_ARGS__);                 \
			snprintf(failmsg, sizeof(failmsg), "line %d: %s",      \
				 __LINE__, _m);                                \
			goto out;                                              \
		}                                                              \
	} while (0)

/* Two QPs of one type, connected to each other, with their own memory. */
struct side {
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	char *buf;
};

struct pair {
	struct side a, b;
	enum ibv_qp_type type;
	struct ibv_ah *ah_a2b;	/* UD */
};

static void note(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	fputs("    # ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
}

static struct ibv_ah_attr own_av(void)
{
	struct ibv_ah_attr av = {
		.is_global = 1,
		.port_num = 1,
		.grh = { .dgid = gid, .sgid_index = (uint8_t)gid_index,
			 .hop_limit = 64 },
	};

	return av;
}

static int side_init(struct side *s, enum ibv_qp_type type, int access)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = type,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 4, .max_recv_sge = 4,
			 .max_inline_data = 128 },
	};

	s->pd = ibv_alloc_pd(ctx);
	s->cq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	s->buf = calloc(1, BUF_SIZE);
	if (!s->pd || !s->cq || !s->buf)
		return -1;
	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	s->qp = ibv_create_qp(s->pd, &ia);
	s->mr = ibv_reg_mr(s->pd, s->buf, BUF_SIZE, access);
	return s->qp && s->mr ? 0 : -1;
}

static void side_fini(struct side *s)
{
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->cq)
		ibv_destroy_cq(s->cq);
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static int connect_qp(struct ibv_qp *qp, uint32_t dest, uint8_t rnr_retry,
		      int access)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = access, .qkey = 0x1234,
	};
	int init_mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			(qp->qp_type == IBV_QPT_UD ? IBV_QP_QKEY :
						     IBV_QP_ACCESS_FLAGS);
	int rtr_mask = IBV_QP_STATE, rts_mask = IBV_QP_STATE | IBV_QP_SQ_PSN;

	if (ibv_modify_qp(qp, &a, init_mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dest;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;	/* 10 us */
	a.ah_attr = own_av();
	if (qp->qp_type == IBV_QPT_RC)
		rtr_mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			    IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			    IBV_QP_MIN_RNR_TIMER;
	else if (qp->qp_type == IBV_QPT_UC)
		rtr_mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			    IBV_QP_RQ_PSN;
	if (ibv_modify_qp(qp, &a, rtr_mask))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 10;
	a.retry_cnt = 1;
	a.rnr_retry = rnr_retry;
	a.max_rd_atomic = 4;
	if (qp->qp_type == IBV_QPT_RC)
		rts_mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			    IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC;
	return ibv_modify_qp(qp, &a, rts_mask) ? -1 : 0;
}

static int pair_init(struct pair *p, enum ibv_qp_type type, uint8_t rnr_retry)
{
	int mr_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ;
	int qp_access = type == IBV_QPT_UC ? IBV_ACCESS_REMOTE_WRITE :
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_ah_attr av = own_av();

	memset(p, 0, sizeof(*p));
	p->type = type;
	if (side_init(&p->a, type, mr_access) || side_init(&p->b, type, mr_access))
		return -1;
	if (connect_qp(p->a.qp, p->b.qp->qp_num, rnr_retry, qp_access) ||
	    connect_qp(p->b.qp, p->a.qp->qp_num, rnr_retry, qp_access))
		return -1;
	if (type == IBV_QPT_UD) {
		p->ah_a2b = ibv_create_ah(p->a.pd, &av);
		if (!p->ah_a2b)
			return -1;
	}
	return 0;
}

static void pair_fini(struct pair *p)
{
	if (p->ah_a2b)
		ibv_destroy_ah(p->ah_a2b);
	side_fini(&p->a);
	side_fini(&p->b);
}

/* Waits up to 5 s for one completion. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	struct timespec start, now;
	int n;

	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n == 1 ? 0 : -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > 5)
			return -1;
		usleep(100);
	}
}

static int post_recv(struct side *s, uint64_t wr_id, uint32_t off, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)s->buf + off, len, s->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(s->qp, &wr, &bad);
}

static int post_send(struct pair *p, enum ibv_wr_opcode op, uint64_t wr_id,
		     uint32_t off, uint32_t len, uint32_t lkey, uint64_t raddr,
		     uint32_t rkey, int flags)
{
	struct ibv_sge sge = { (uintptr_t)p->a.buf + off, len, lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED | flags,
		.imm_data = htobe32(0xc0ffee),
	};
	struct ibv_send_wr *bad;

	if (p->type == IBV_QPT_UD) {
		wr.wr.ud.ah = p->ah_a2b;
		wr.wr.ud.remote_qpn = p->b.qp->qp_num;
		wr.wr.ud.remote_qkey = 0x1234;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	return ibv_post_send(p->a.qp, &wr, &bad);
}

static void fill(char *buf, uint32_t len, unsigned int seed)
{
	uint32_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)(seed * 131 + i * 7 + (i >> 8));
}

/* ---------------------------------------------------------------------- */

static int send_recv_moves_bytes(enum ibv_qp_type type)
{
	uint32_t len = type == IBV_QPT_UD ? 1000 : 100000;
	uint32_t hdr = type == IBV_QPT_UD ? 40 : 0;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, type, 7) == 0, "setup: %s", strerror(errno));
	fill(p.a.buf, len, 1);
	CHECK(post_recv(&p.b, 77, 0, len + hdr) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_SEND_WITH_IMM, 5, 0, len, p.a.mr->lkey, 0, 0,
			0) == 0, "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0, "no send completion");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 5 &&
	      wc.opcode == IBV_WC_SEND, "send wc: %s, wr_id %lu, opcode %d",
	      ibv_wc_status_str(wc.status), (unsigned long)wc.wr_id, wc.opcode);
	CHECK(wait_wc(p.b.cq, &wc) == 0, "no receive completion");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 77 &&
	      wc.opcode == IBV_WC_RECV, "recv wc: %s opcode %d",
	      ibv_wc_status_str(wc.status), wc.opcode);
	CHECK(wc.byte_len == len + hdr, "byte_len %u, want %u", wc.byte_len,
	      len + hdr);
	CHECK((wc.wc_flags & IBV_WC_WITH_IMM) && be32toh(wc.imm_data) == 0xc0ffee,
	      "immediate data missing");
	CHECK(wc.src_qp == p.a.qp->qp_num && wc.qp_num == p.b.qp->qp_num,
	      "src_qp %u qp_num %u", wc.src_qp, wc.qp_num);
	if (type == IBV_QPT_UD)
		CHECK(wc.wc_flags & IBV_WC_GRH, "UD receive without GRH flag");
	CHECK(memcmp(p.b.buf + hdr, p.a.buf, len) == 0, "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_send_recv_moves_bytes(void)
{
	return send_recv_moves_bytes(IBV_QPT_RC);
}

static int test_uc_send_recv_moves_bytes(void)
{
	return send_recv_moves_bytes(IBV_QPT_UC);
}

static int test_ud_send_recv_moves_bytes(void)
{
	return send_recv_moves_bytes(IBV_QPT_UD);
}

static int test_rc_inline_send(void)
{
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	fill(p.a.buf, 100, 3);
	CHECK(post_recv(&p.b, 1, 0, 4096) == 0, "post_recv");
	/* An inline send needs no valid lkey. */
	CHECK(post_send(&p, IBV_WR_SEND, 2, 0, 100, 0xdead, 0, 0,
			IBV_SEND_INLINE) == 0, "post_send");
	memset(p.a.buf, 0, 100);	/* the data was taken at post time */
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "send: %s", ibv_wc_status_str(wc.status));
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.byte_len == 100, "recv");
	fill(p.a.buf, 100, 3);
	CHECK(memcmp(p.b.buf, p.a.buf, 100) == 0, "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int rdma_write_moves_bytes(enum ibv_qp_type type)
{
	uint32_t len = 150000;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, type, 7) == 0, "setup");
	fill(p.a.buf, len, 2);
	CHECK(post_send(&p, IBV_WR_RDMA_WRITE, 9, 0, len, p.a.mr->lkey,
			(uintptr_t)p.b.buf + 1000, p.b.mr->rkey, 0) == 0,
	      "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0, "no completion");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RDMA_WRITE,
	      "write: %s", ibv_wc_status_str(wc.status));
	CHECK(memcmp(p.b.buf + 1000, p.a.buf, len) == 0, "remote bytes differ");
	/* With immediate: consumes a receive. */
	CHECK(post_recv(&p.b, 33, 0, 0) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_RDMA_WRITE_WITH_IMM, 10, 0, 64, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0, "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "write_imm: %s", ibv_wc_status_str(wc.status));
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.wr_id == 33 &&
	      wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
	      be32toh(wc.imm_data) == 0xc0ffee, "write_imm receive: opcode %d",
	      wc.opcode);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_rdma_write_moves_bytes(void)
{
	return rdma_write_moves_bytes(IBV_QPT_RC);
}

static int test_uc_rdma_write_moves_bytes(void)
{
	return rdma_write_moves_bytes(IBV_QPT_UC);
}

static int test_rc_rdma_read_moves_bytes(void)
{
	uint32_t len = 200000;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	fill(p.b.buf + 4096, len, 4);
	CHECK(post_send(&p, IBV_WR_RDMA_READ, 11, 3, len, p.a.mr->lkey,
			(uintptr_t)p.b.buf + 4096, p.b.mr->rkey, 0) == 0,
	      "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0, "no completion");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RDMA_READ &&
	      wc.byte_len == len, "read: %s, byte_len %u",
	      ibv_wc_status_str(wc.status), wc.byte_len);
	CHECK(memcmp(p.a.buf + 3, p.b.buf + 4096, len) == 0, "local bytes differ");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* The requester's status for a failing WQE, then WR_FLUSH_ERR for the next. */
static int expect_error_then_flush(struct pair *p, enum ibv_wc_status want)
{
	struct ibv_wc wc;

	if (wait_wc(p->a.cq, &wc)) {
		snprintf(failmsg, sizeof(failmsg), "no completion");
		return -1;
	}
	if (wc.status != want || wc.wr_id != 100) {
		snprintf(failmsg, sizeof(failmsg), "got %s (wr_id %lu), want %s",
			 ibv_wc_status_str(wc.status), (unsigned long)wc.wr_id,
			 ibv_wc_status_str(want));
		return -1;
	}
	if (wait_wc(p->a.cq, &wc) || wc.status != IBV_WC_WR_FLUSH_ERR ||
	    wc.wr_id != 101) {
		snprintf(failmsg, sizeof(failmsg),
			 "the WQE after the error was not flushed (%s)",
			 ibv_wc_status_str(wc.status));
		return -1;
	}
	note("%s, then WR_FLUSH_ERR", ibv_wc_status_str(want));
	return 0;
}

static int test_rc_wrong_rkey_is_rem_access_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_send(&p, IBV_WR_RDMA_WRITE, 100, 0, 64, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey ^ 0x80, 0) == 0 &&
	      post_send(&p, IBV_WR_RDMA_WRITE, 101, 0, 64, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0, "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_REM_ACCESS_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_write_past_remote_mr_is_rem_access_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_send(&p, IBV_WR_RDMA_WRITE, 100, 0, 4096, p.a.mr->lkey,
			(uintptr_t)p.b.buf + BUF_SIZE - 100, p.b.mr->rkey, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_REM_ACCESS_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_bad_lkey_is_loc_prot_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_recv(&p.b, 1, 0, 4096) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_SEND, 100, 0, 64, p.a.mr->lkey + 0x100, 0, 0,
			0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_LOC_PROT_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_too_long_send_is_rem_inv_req_err(void)
{
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_recv(&p.b, 55, 0, 100) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_SEND, 100, 0, 5000, p.a.mr->lkey, 0, 0, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	if (expect_error_then_flush(&p, IBV_WC_REM_INV_REQ_ERR))
		goto out;
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.wr_id == 55 &&
	      wc.status == IBV_WC_LOC_LEN_ERR, "receiver: %s",
	      ibv_wc_status_str(wc.status));
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_no_receive_is_rnr_retry_exc_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 2) == 0, "setup");
	CHECK(post_send(&p, IBV_WR_SEND, 100, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_RNR_RETRY_EXC_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_late_receive_succeeds_after_rnr(void)
{
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_send(&p, IBV_WR_SEND, 100, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	usleep(50000);	/* the requester meets an empty RQ and waits */
	CHECK(post_recv(&p.b, 7, 0, 4096) == 0, "post_recv");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "send after RNR: %s", ibv_wc_status_str(wc.status));
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.wr_id == 7, "receive");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_destroyed_peer_is_retry_exc_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(ibv_destroy_qp(p.b.qp) == 0, "destroy peer");
	p.b.qp = NULL;
	CHECK(post_send(&p, IBV_WR_SEND, 100, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_RETRY_EXC_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_unsupported_opcode_is_loc_qp_op_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	/* Atomics are not offered (atomic_cap NONE). */
	CHECK(post_send(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, 100, 0, 8, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_LOC_QP_OP_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_err_state_flushes_posted_receives(void)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1, i;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	for (i = 0; i < 3; i++)
		CHECK(post_recv(&p.b, 200 + i, 0, 64) == 0, "post_recv");
	CHECK(ibv_modify_qp(p.b.qp, &a, IBV_QP_STATE) == 0, "to ERR");
	for (i = 0; i < 3; i++) {
		CHECK(wait_wc(p.b.cq, &wc) == 0, "flush completion %d missing", i);
		CHECK(wc.status == IBV_WC_WR_FLUSH_ERR && wc.wr_id == 200u + i,
		      "got %s wr_id %lu", ibv_wc_status_str(wc.status),
		      (unsigned long)wc.wr_id);
	}
	CHECK(ibv_poll_cq(p.b.cq, 1, &wc) == 0, "extra completion");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_completion_channel_wakes_up(void)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);
	struct ibv_cq *ev_cq;
	void *ev_ctx;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(ch, "channel");
	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	/* Give b's QP a CQ with a channel: recreate b's side on it. */
	ibv_destroy_qp(p.b.qp);
	ibv_destroy_cq(p.b.cq);
	p.b.cq = ibv_create_cq(ctx, 16, NULL, ch, 0);
	CHECK(p.b.cq, "cq with channel");
	{
		struct ibv_qp_init_attr ia = {
			.send_cq = p.b.cq, .recv_cq = p.b.cq,
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = 4, .max_recv_wr = 4,
				 .max_send_sge = 1, .max_recv_sge = 1 },
		};

		p.b.qp = ibv_create_qp(p.b.pd, &ia);
	}
	CHECK(p.b.qp, "qp");
	CHECK(connect_qp(p.b.qp, p.a.qp->qp_num, 7, IBV_ACCESS_REMOTE_WRITE) == 0,
	      "connect b");
	{
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

		/* a must point at the new b */
		CHECK(ibv_modify_qp(p.a.qp, &a, IBV_QP_STATE) == 0, "reset a");
		CHECK(connect_qp(p.a.qp, p.b.qp->qp_num, 7,
				 IBV_ACCESS_REMOTE_WRITE) == 0, "connect a");
	}
	CHECK(ibv_req_notify_cq(p.b.cq, 0) == 0, "arm");
	CHECK(post_recv(&p.b, 9, 0, 64) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_SEND, 1, 0, 8, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	CHECK(ibv_get_cq_event(ch, &ev_cq, &ev_ctx) == 0 && ev_cq == p.b.cq,
	      "no CQ event");
	ibv_ack_cq_events(ev_cq, 1);
	CHECK(ibv_poll_cq(p.b.cq, 1, &wc) == 1 && wc.wr_id == 9, "event without wc");
	rc = 0;
out:
	pair_fini(&p);
	if (ch)
		ibv_destroy_comp_channel(ch);
	return rc;
}

static int test_many_signaled_writes_all_complete(void)
{
	struct ibv_wc wc[64];
	struct pair p = {};
	int rc = -1, i, got = 0, n;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	/* 40 signaled writes into a CQ of 256: then drain all of them. */
	for (i = 0; i < 40; i++)
		CHECK(post_send(&p, IBV_WR_RDMA_WRITE, i, 0, 16, p.a.mr->lkey,
				(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0,
		      "post %d", i);
	for (i = 0; i < 200 && got < 40; i++) {
		n = ibv_poll_cq(p.a.cq, 64, wc);
		CHECK(n >= 0, "poll");
		got += n;
		if (!n)
			usleep(1000);
	}
	CHECK(got == 40, "%d of 40 completions", got);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

struct test {
	const char *name;
	int (*fn)(void);
};

#define T(n) { #n, test_##n }
static const struct test tests[] = {
	T(rc_send_recv_moves_bytes),
	T(uc_send_recv_moves_bytes),
	T(ud_send_recv_moves_bytes),
	T(rc_inline_send),
	T(rc_rdma_write_moves_bytes),
	T(uc_rdma_write_moves_bytes),
	T(rc_rdma_read_moves_bytes),
	T(rc_wrong_rkey_is_rem_access_err),
	T(rc_write_past_remote_mr_is_rem_access_err),
	T(rc_bad_lkey_is_loc_prot_err),
	T(rc_too_long_send_is_rem_inv_req_err),
	T(rc_no_receive_is_rnr_retry_exc_err),
	T(rc_late_receive_succeeds_after_rnr),
	T(rc_destroyed_peer_is_retry_exc_err),
	T(rc_unsupported_opcode_is_loc_qp_op_err),
	T(err_state_flushes_posted_receives),
	T(completion_channel_wakes_up),
	T(many_signaled_writes_all_complete),
};

static void find_gid(void)
{
	struct ibv_port_attr pattr;
	struct ibv_gid_entry e;
	int i;

	if (ibv_query_port(ctx, 1, &pattr))
		return;
	for (i = 0; i < pattr.gid_tbl_len && i < 256; i++) {
		if (ibv_query_gid_ex(ctx, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		if (e.gid.raw[10] == 0xff && e.gid.raw[11] == 0xff) {
			gid_index = i;
			gid = e.gid;
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	int i, j, opt, passed = 0, failed = 0;

	while ((opt = getopt(argc, argv, "d:v")) != -1) {
		if (opt == 'd')
			dev_name = optarg;
		else if (opt == 'v')
			verbose = true;
		else
			return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev_name))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (ctx)
		find_gid();
	if (!ctx || gid_index < 0) {
		printf("not ok - open %s and find its IPv4 RoCEv2 GID\n", dev_name);
		printf("0 passed, 1 failed\n");
		return 1;
	}
	for (i = 0; i < (int)(sizeof(tests) / sizeof(tests[0])); i++) {
		bool sel = optind >= argc;

		for (j = optind; j < argc; j++)
			sel |= strstr(tests[i].name, argv[j]) != NULL;
		if (!sel)
			continue;
		failmsg[0] = '\0';
		if (tests[i].fn() == 0) {
			printf("ok - %s\n", tests[i].name);
			passed++;
		} else {
			printf("not ok - %s: %s\n", tests[i].name, failmsg);
			failed++;
		}
	}
	ibv_close_device(ctx);
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
