// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_data_test - the data path, run in the guest: each operation moves
 * real bytes that are checked, and each completion status is provoked for
 * real. Side a of every pair is on the device (-d, mirror0), side b on its
 * peer: the same device, or with -W DEV2 another device over RoCEv2
 * (guest_data and guest_data_wire).
 *
 * Usage: mirror_data_test [-d DEVICE] [-W DEV2] [-v] [TEST-NAME-SUBSTRING...]
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include <infiniband/mirrorverbs.h>

#include "mirror_tap.h"
#include "mirror_testlib.h"

#define BUF_SIZE (256 * 1024)

/*
 * Two QPs of one type, connected to each other, with their own memory:
 * a on ctx, b on peer_ctx.
 */
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

static int side_init(struct side *s, struct ibv_context *c,
		     enum ibv_qp_type type, int access)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = type,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 4, .max_recv_sge = 4,
			 .max_inline_data = 128 },
	};

	s->pd = ibv_alloc_pd(c);
	s->cq = ibv_create_cq(c, 256, NULL, NULL, 0);
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

/* The first PSN of the pairs pair_init() connects (both directions). */
static uint32_t pair_psn;

/* Connects @qp (on ctx when @from_a, else on peer_ctx) to QP @dest. */
static int connect_qp(struct ibv_qp *qp, bool from_a, uint32_t dest,
		      uint8_t rnr_retry, int access)
{
	struct mirror_test_qp_params prm = mirror_test_qp_defaults(qp->qp_type);
	struct ibv_ah_attr av = from_a ? peer_av() : back_av();

	prm.access = access;
	prm.rnr_retry = rnr_retry;
	prm.psn = pair_psn;
	return mirror_test_connect(qp, dest, &av, &prm);
}

static int pair_init(struct pair *p, enum ibv_qp_type type, uint8_t rnr_retry)
{
	int mr_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	int qp_access = type == IBV_QPT_UC ? IBV_ACCESS_REMOTE_WRITE :
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			IBV_ACCESS_REMOTE_ATOMIC;
	struct ibv_ah_attr av = peer_av();

	memset(p, 0, sizeof(*p));
	p->type = type;
	if (side_init(&p->a, ctx, type, mr_access) ||
	    side_init(&p->b, peer_ctx, type, mr_access))
		return -1;
	if (connect_qp(p->a.qp, true, p->b.qp->qp_num, rnr_retry, qp_access) ||
	    connect_qp(p->b.qp, false, p->a.qp->qp_num, rnr_retry, qp_access))
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

/* Waits up to 5 s (scaled) for one completion. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	return mirror_test_wait_wc(cq, wc, 5000);
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
	if (type == IBV_QPT_UD) {
		/*
		 * The SL says the packet type as ConnectX CQEs (and UCX)
		 * do: RoCEv2 (bit 3), over IPv4 (2, the IPv4 header in the
		 * GRH area's last 20 bytes) or IPv6 (1, a full GRH).
		 */
		bool v4 = (p.b.buf[20] & 0xf0) == 0x40;
		uint8_t want = 0x8 | (v4 ? 0x2 : 0x1);

		CHECK(wc.wc_flags & IBV_WC_GRH, "UD receive without GRH flag");
		CHECK(v4 || (p.b.buf[0] & 0xf0) == 0x60,
		      "GRH area holds neither an IPv4 nor an IPv6 header");
		CHECK(v4 == (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)peer_gid.raw) != 0),
		      "GRH area's header is not the GID's family");
		CHECK(wc.sl == want, "UD receive sl 0x%x, want 0x%x (RoCEv2, %s)",
		      wc.sl, want, v4 ? "IPv4" : "IPv6");
	}
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
	SKIP_ON_LOSSY("UC drops a message that lost a packet");
	return send_recv_moves_bytes(IBV_QPT_UC);
}

static int test_ud_send_recv_moves_bytes(void)
{
	SKIP_ON_LOSSY("UD drops a message that lost a packet");
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
	/*
	 * With immediate: consumes a receive. Its arrival also says that
	 * the WRITE before it has landed: an RC completion means the bytes
	 * were acknowledged, a UC one only that they left (over RoCEv2 the
	 * responder may still be writing them).
	 */
	CHECK(post_recv(&p.b, 33, 0, 0) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_RDMA_WRITE_WITH_IMM, 10, 0, 64, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0, "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "write_imm: %s", ibv_wc_status_str(wc.status));
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.wr_id == 33 &&
	      wc.opcode == IBV_WC_RECV_RDMA_WITH_IMM &&
	      be32toh(wc.imm_data) == 0xc0ffee, "write_imm receive: opcode %d",
	      wc.opcode);
	CHECK(memcmp(p.b.buf + 1000, p.a.buf, len) == 0, "remote bytes differ");
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
	SKIP_ON_LOSSY("UC drops a message that lost a packet");
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

/*
 * ibv_query_qp() reports the PSNs as they are now: a's next PSN to send and
 * b's next expected have moved by one per packet of a SEND and one per
 * response of a READ, across the 24-bit wrap (the pair starts 16 PSNs
 * before it), as hardware reports them and `rdma resource show qp` prints.
 */
#define QUERY_PSN_START 0xfffff0u

static int test_rc_query_qp_reports_the_current_psns(void)
{
	uint32_t send_len = 100000, read_len = 10000, mtu, want;
	struct ibv_qp_init_attr init;
	struct ibv_qp_attr attr;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	pair_psn = QUERY_PSN_START;
	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(ibv_query_qp(p.a.qp, &attr, IBV_QP_PATH_MTU | IBV_QP_SQ_PSN,
			   &init) == 0, "query a: %s", strerror(errno));
	CHECK(attr.sq_psn == QUERY_PSN_START, "a's sq_psn 0x%x before any "
	      "packet, want 0x%x", attr.sq_psn, QUERY_PSN_START);
	mtu = 128u << attr.path_mtu;
	want = (QUERY_PSN_START + (send_len + mtu - 1) / mtu +
		(read_len + mtu - 1) / mtu) & 0xffffff;

	fill(p.a.buf, send_len, 6);
	fill(p.b.buf + 131072, read_len, 7);
	CHECK(post_recv(&p.b, 1, 0, send_len) == 0, "post_recv");
	CHECK(post_send(&p, IBV_WR_SEND, 2, 0, send_len, p.a.mr->lkey, 0, 0,
			0) == 0, "post SEND");
	CHECK(post_send(&p, IBV_WR_RDMA_READ, 3, 131072, read_len, p.a.mr->lkey,
			(uintptr_t)p.b.buf + 131072, p.b.mr->rkey, 0) == 0,
	      "post READ");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.wr_id == 2, "SEND did not complete");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.wr_id == 3, "READ did not complete");
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "no receive completion");

	CHECK(ibv_query_qp(p.a.qp, &attr, IBV_QP_SQ_PSN, &init) == 0,
	      "query a: %s", strerror(errno));
	CHECK(attr.sq_psn == want, "a's sq_psn 0x%x after the SEND and the "
	      "READ, want 0x%x (mtu %u)", attr.sq_psn, want, mtu);
	CHECK(ibv_query_qp(p.b.qp, &attr, IBV_QP_RQ_PSN, &init) == 0,
	      "query b: %s", strerror(errno));
	CHECK(attr.rq_psn == want, "b's rq_psn 0x%x after the SEND and the "
	      "READ, want 0x%x (mtu %u)", attr.rq_psn, want, mtu);
	rc = 0;
out:
	pair_psn = 0;
	pair_fini(&p);
	return rc;
}

/* The requester's status for a failing WQE, then WR_FLUSH_ERR for the next. */
/*
 * The error a responder reports with a NAK, after which its QP is in ERR:
 * over a lossy link (-L) the NAK itself may be lost, the requester then
 * sends the request again into a QP that no longer answers, and ends in
 * RETRY_EXC_ERR, as the spec has it. Either ending is right there.
 */
static bool nak_lost_ending(enum ibv_wc_status want, enum ibv_wc_status got)
{
	return lossy && got == IBV_WC_RETRY_EXC_ERR &&
	       (want == IBV_WC_REM_ACCESS_ERR || want == IBV_WC_REM_INV_REQ_ERR ||
		want == IBV_WC_REM_OP_ERR);
}

static int expect_error_then_flush(struct pair *p, enum ibv_wc_status want)
{
	struct ibv_wc wc;

	if (wait_wc(p->a.cq, &wc)) {
		snprintf(failmsg, sizeof(failmsg), "no completion");
		return -1;
	}
	if (wc.wr_id == 100 && nak_lost_ending(want, wc.status)) {
		note("%s: the link lost the NAK (%s)",
		     ibv_wc_status_str(wc.status), ibv_wc_status_str(want));
		want = wc.status;
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
	/* The responder's device counts the RNR NAKs it sent (on the same
	 * device, as a wire pair would), the requester's those it got. */
	const char *resp_dev = wire ? peer_name : dev_name;
	long long sent = mirror_test_counter(resp_dev, "rnr_nak_sent");
	long long rcvd = mirror_test_counter(dev_name, "rnr_nak_rcvd");
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 2) == 0, "setup");
	CHECK(post_send(&p, IBV_WR_SEND, 100, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	if (expect_error_then_flush(&p, IBV_WC_RNR_RETRY_EXC_ERR))
		goto out;	/* failmsg says why */
	/* rnr_retry 2: the first try and two retries, each refused. */
	CHECK(mirror_test_counter(resp_dev, "rnr_nak_sent") - sent >= 3 &&
	      mirror_test_counter(dev_name, "rnr_nak_rcvd") - rcvd >= 3,
	      "RNR NAKs counted: %lld sent, %lld received, want >= 3 each",
	      mirror_test_counter(resp_dev, "rnr_nak_sent") - sent,
	      mirror_test_counter(dev_name, "rnr_nak_rcvd") - rcvd);
	rc = 0;
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

/*
 * Connects an RC pair with @rnr_retry whose responder asks for waits of
 * 655 ms (min_rnr_timer 0) and posts a SEND (wr_id 100) while its receive
 * queue is empty. Return: 0 once the RNR NAK reached the requester.
 */
static int pair_in_rnr_wait(struct pair *p, uint8_t rnr_retry)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTS, .min_rnr_timer = 0 };
	long long rcvd = mirror_test_counter(dev_name, "rnr_nak_rcvd");
	int rc = -1, i;

	CHECK(pair_init(p, IBV_QPT_RC, rnr_retry) == 0, "setup");
	CHECK(ibv_modify_qp(p->b.qp, &a, IBV_QP_STATE | IBV_QP_MIN_RNR_TIMER) == 0,
	      "min_rnr_timer 0 (655 ms) at the responder");
	CHECK(post_send(p, IBV_WR_SEND, 100, 0, 64, p->a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	for (i = 0; i < 2000 &&
	     mirror_test_counter(dev_name, "rnr_nak_rcvd") == rcvd; i++)
		usleep(10000);
	CHECK(mirror_test_counter(dev_name, "rnr_nak_rcvd") > rcvd,
	      "no RNR NAK reached the requester");
	rc = 0;
out:
	return rc;
}

/*
 * A requester destroyed while it waits out an RNR NAK: the wait's timer
 * (655 ms: the responder's min_rnr_timer 0) goes with the QP; one left
 * running would queue work on freed memory when it fires. Once the wait
 * would have ended, the device still moves data.
 */
static int test_rc_destroy_during_rnr_wait(void)
{
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	if (pair_in_rnr_wait(&p, 7))
		goto out;	/* failmsg says why */
	CHECK(ibv_destroy_qp(p.a.qp) == 0, "destroy the waiting requester");
	p.a.qp = NULL;
	usleep(1000000);	/* past the wait */
	pair_fini(&p);
	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup again");
	CHECK(post_recv(&p.b, 7, 0, 4096) == 0 &&
	      post_send(&p, IBV_WR_SEND, 100, 0, 64, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "a new pair's send: %s", ibv_wc_status_str(wc.status));
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/*
 * Doorbells rung while the requester waits out an RNR NAK leave the wait
 * alone. Each one retrying at once would spend an RNR retry on a receive
 * queue still empty (rnr_retry 2: the third such retry ends the SEND in
 * RNR_RETRY_EXC_ERR). The receives posted after them take every SEND once
 * the wait (655 ms: the responder's min_rnr_timer 0) is over.
 */
static int test_rc_doorbells_leave_rnr_wait(void)
{
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1, i;

	if (pair_in_rnr_wait(&p, 2))
		goto out;	/* failmsg says why */
	for (i = 1; i <= 8; i++)
		CHECK(post_send(&p, IBV_WR_SEND, 100 + i, 0, 64, p.a.mr->lkey,
				0, 0, 0) == 0, "doorbell %d during the wait", i);
	for (i = 0; i <= 8; i++)
		CHECK(post_recv(&p.b, 200 + i, 0, 4096) == 0, "post_recv %d", i);
	for (i = 0; i <= 8; i++)
		CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.wr_id == 100 + (uint64_t)i &&
		      wc.status == IBV_WC_SUCCESS,
		      "send %d after the wait: wr_id %llu, %s", i,
		      (unsigned long long)wc.wr_id,
		      ibv_wc_status_str(wc.status));
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
	/* TSO: for UD and raw packet QPs, and not offered by the device. */
	CHECK(post_send(&p, IBV_WR_TSO, 100, 0, 8, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_LOC_QP_OP_ERR);
out:
	pair_fini(&p);
	return rc;
}

/*
 * A SEND with Invalidate may end only a fast registration (a kernel
 * consumer's) of the receiving QP's PD: naming the receiver's own user MR
 * completes the receive in error, NAKs the sender, and leaves the MR be.
 */
static int test_rc_send_with_inv_of_a_user_mr_is_rem_inv_req_err(void)
{
	struct ibv_sge sge;
	struct ibv_send_wr wr = {
		.wr_id = 100, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND_WITH_INV,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	const char *b_dev = wire ? peer_name : dev_name;
	long long inv0 = mirror_test_counter(b_dev, "remote_inv");
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	sge = (struct ibv_sge){ (uintptr_t)p.a.buf, 64, p.a.mr->lkey };
	wr.invalidate_rkey = p.b.mr->rkey;
	CHECK(post_recv(&p.b, 55, 0, 4096) == 0, "post_recv");
	CHECK(ibv_post_send(p.a.qp, &wr, &bad) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	if (expect_error_then_flush(&p, IBV_WC_REM_INV_REQ_ERR))
		goto out;
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.wr_id == 55 &&
	      wc.status == IBV_WC_REM_INV_REQ_ERR, "receiver: %s",
	      ibv_wc_status_str(wc.status));
	CHECK(inv0 >= 0 && mirror_test_counter(b_dev, "remote_inv") == inv0,
	      "%s counted a remote invalidation", b_dev);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* Posts one atomic from @qp: the old value lands at @local (8 bytes). */
static int post_atomic(struct ibv_qp *qp, enum ibv_wr_opcode op,
		       uint64_t wr_id, void *local, uint32_t len, uint32_t lkey,
		       uint64_t raddr, uint32_t rkey, uint64_t cmp_add,
		       uint64_t swap)
{
	struct ibv_sge sge = { (uintptr_t)local, len, lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = cmp_add;
	wr.wr.atomic.swap = swap;
	return ibv_post_send(qp, &wr, &bad);
}

/* Runs one atomic and returns the value it found, or fails the test. */
static int atomic_once(struct pair *p, enum ibv_wr_opcode op, uint64_t cmp_add,
		       uint64_t swap, uint64_t *found)
{
	uint64_t *local = (uint64_t *)(p->a.buf + 128);
	struct ibv_wc wc;
	enum ibv_wc_opcode want = op == IBV_WR_ATOMIC_CMP_AND_SWP ?
				  IBV_WC_COMP_SWAP : IBV_WC_FETCH_ADD;

	*local = 0xdeadbeef;
	if (post_atomic(p->a.qp, op, 9, local, 8, p->a.mr->lkey,
			(uintptr_t)p->b.buf + 64, p->b.mr->rkey, cmp_add, swap) ||
	    wait_wc(p->a.cq, &wc)) {
		snprintf(failmsg, sizeof(failmsg), "atomic not completed");
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS || wc.opcode != want ||
	    wc.byte_len != 8) {
		snprintf(failmsg, sizeof(failmsg),
			 "atomic: %s, opcode %d, byte_len %u",
			 ibv_wc_status_str(wc.status), wc.opcode, wc.byte_len);
		return -1;
	}
	*found = *local;
	return 0;
}

static int test_rc_atomics_return_old_value_and_update(void)
{
	uint64_t *remote, found;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	remote = (uint64_t *)(p.b.buf + 64);
	*remote = 5;
	if (atomic_once(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, 10, 0, &found))
		goto out;
	CHECK(found == 5 && *remote == 15, "fetch-add: found %lu, now %lu",
	      (unsigned long)found, (unsigned long)*remote);
	if (atomic_once(&p, IBV_WR_ATOMIC_CMP_AND_SWP, 15, 99, &found))
		goto out;
	CHECK(found == 15 && *remote == 99, "cmp-swap hit: found %lu, now %lu",
	      (unsigned long)found, (unsigned long)*remote);
	if (atomic_once(&p, IBV_WR_ATOMIC_CMP_AND_SWP, 1, 7, &found))
		goto out;
	CHECK(found == 99 && *remote == 99, "cmp-swap miss: found %lu, now %lu",
	      (unsigned long)found, (unsigned long)*remote);
	*remote = UINT64_MAX;
	if (atomic_once(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, 2, 0, &found))
		goto out;
	CHECK(found == UINT64_MAX && *remote == 1, "fetch-add wraps: now %lu",
	      (unsigned long)*remote);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_misaligned_atomic_is_rem_inv_req_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_atomic(p.a.qp, IBV_WR_ATOMIC_FETCH_AND_ADD, 100, p.a.buf, 8,
			  p.a.mr->lkey, (uintptr_t)p.b.buf + 4, p.b.mr->rkey,
			  1, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_REM_INV_REQ_ERR);
out:
	pair_fini(&p);
	return rc;
}

static int test_rc_atomic_without_atomic_access_is_rem_access_err(void)
{
	struct ibv_mr *plain = NULL;
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	plain = ibv_reg_mr(p.b.pd, p.b.buf, 4096, IBV_ACCESS_LOCAL_WRITE |
			   IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	CHECK(plain, "reg_mr");
	CHECK(post_atomic(p.a.qp, IBV_WR_ATOMIC_CMP_AND_SWP, 100, p.a.buf, 8,
			  p.a.mr->lkey, (uintptr_t)p.b.buf, plain->rkey,
			  0, 1) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	if (expect_error_then_flush(&p, IBV_WC_REM_ACCESS_ERR))
		goto out;
	CHECK(*(uint64_t *)p.b.buf == 0, "the remote word changed");
	rc = 0;
out:
	if (plain)
		ibv_dereg_mr(plain);
	pair_fini(&p);
	return rc;
}

static int test_rc_atomic_into_4_bytes_is_loc_len_err(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(post_atomic(p.a.qp, IBV_WR_ATOMIC_FETCH_AND_ADD, 100, p.a.buf, 4,
			  p.a.mr->lkey, (uintptr_t)p.b.buf, p.b.mr->rkey,
			  1, 0) == 0 &&
	      post_send(&p, IBV_WR_SEND, 101, 0, 4, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&p, IBV_WC_LOC_LEN_ERR);
out:
	pair_fini(&p);
	return rc;
}

/* One thread's share of the concurrent fetch-and-adds. */
struct adder {
	struct ibv_qp *qp;
	struct ibv_cq *cq;
	uint64_t *local;
	uint32_t lkey;
	uint64_t raddr;
	uint32_t rkey;
	int count;
	int failed;
};

static void *adder_run(void *arg)
{
	struct adder *a = arg;
	struct ibv_wc wc;
	int i;

	for (i = 0; i < a->count && !a->failed; i++)
		if (post_atomic(a->qp, IBV_WR_ATOMIC_FETCH_AND_ADD, i, a->local,
				8, a->lkey, a->raddr, a->rkey, 3, 0) ||
		    wait_wc(a->cq, &wc) || wc.status != IBV_WC_SUCCESS)
			a->failed = 1;
	return NULL;
}

/*
 * Two QPs in two threads add to the same word, each through its own pair
 * and its own MR of the word: no update may be lost, which is what
 * IB_ATOMIC_HCA promises of the atomics one device executes (both
 * responders are on peer_ctx).
 */
static int test_rc_concurrent_fetch_add_loses_no_update(void)
{
	struct ibv_mr *in_q = NULL;
	struct adder x = {}, y = {};
	pthread_t tx, ty;
	uint64_t *word;
	struct pair p = {}, q = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0 &&
	      pair_init(&q, IBV_QPT_RC, 7) == 0, "setup");
	word = (uint64_t *)(p.b.buf + 256);
	in_q = ibv_reg_mr(q.b.pd, p.b.buf, 4096, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_REMOTE_ATOMIC);
	CHECK(in_q, "reg_mr");
	x = (struct adder){ p.a.qp, p.a.cq, (uint64_t *)p.a.buf, p.a.mr->lkey,
			    (uintptr_t)word, p.b.mr->rkey, 2000, 0 };
	y = (struct adder){ q.a.qp, q.a.cq, (uint64_t *)q.a.buf, q.a.mr->lkey,
			    (uintptr_t)word, in_q->rkey, 2000, 0 };
	CHECK(pthread_create(&tx, NULL, adder_run, &x) == 0, "thread");
	if (pthread_create(&ty, NULL, adder_run, &y)) {
		y.failed = 1;
		adder_run(&y);
	}
	pthread_join(tx, NULL);
	if (!y.failed)
		pthread_join(ty, NULL);
	CHECK(!x.failed && !y.failed, "an atomic failed");
	CHECK(*word == 3 * 4000, "sum %lu, want %u", (unsigned long)*word,
	      3 * 4000);
	note("4000 concurrent fetch-adds from two QPs: %lu", (unsigned long)*word);
	rc = 0;
out:
	if (in_q)
		ibv_dereg_mr(in_q);
	pair_fini(&q);
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

/*
 * Two senders on ctx, two receivers on one SRQ on peer_ctx; each side has
 * its PD, CQ and buffer.
 */
struct srq_rig {
	struct ibv_pd *spd, *pd;
	struct ibv_cq *scq, *cq;
	struct ibv_srq *srq;
	struct ibv_qp *send[2], *recv[2];
	struct ibv_mr *smr, *mr;
	char *sbuf, *buf;
};

static struct ibv_qp *rig_qp(struct ibv_pd *pd, struct ibv_cq *cq,
			     struct ibv_srq *srq)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC, .send_cq = cq, .recv_cq = cq,
		.srq = srq,
		.cap = { .max_send_wr = 16, .max_recv_wr = srq ? 0 : 16,
			 .max_send_sge = 1, .max_recv_sge = srq ? 0 : 1 },
	};

	return ibv_create_qp(pd, &ia);
}

static int rig_init(struct srq_rig *r, uint32_t max_wr, uint8_t rnr_retry)
{
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = max_wr,
						  .max_sge = 2 } };
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	int i;

	memset(r, 0, sizeof(*r));
	r->spd = ibv_alloc_pd(ctx);
	r->pd = ibv_alloc_pd(peer_ctx);
	r->scq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	r->cq = ibv_create_cq(peer_ctx, 256, NULL, NULL, 0);
	r->sbuf = calloc(1, BUF_SIZE);
	r->buf = calloc(1, BUF_SIZE);
	if (!r->spd || !r->pd || !r->scq || !r->cq || !r->sbuf || !r->buf)
		return -1;
	r->smr = ibv_reg_mr(r->spd, r->sbuf, BUF_SIZE, access);
	r->mr = ibv_reg_mr(r->pd, r->buf, BUF_SIZE, access);
	r->srq = ibv_create_srq(r->pd, &sa);
	if (!r->smr || !r->mr || !r->srq)
		return -1;
	for (i = 0; i < 2; i++) {
		r->send[i] = rig_qp(r->spd, r->scq, NULL);
		r->recv[i] = rig_qp(r->pd, r->cq, r->srq);
		if (!r->send[i] || !r->recv[i])
			return -1;
		if (connect_qp(r->send[i], true, r->recv[i]->qp_num,
			       rnr_retry, access) ||
		    connect_qp(r->recv[i], false, r->send[i]->qp_num,
			       rnr_retry, access))
			return -1;
	}
	return 0;
}

static void rig_fini(struct srq_rig *r)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (r->send[i])
			ibv_destroy_qp(r->send[i]);
		if (r->recv[i])
			ibv_destroy_qp(r->recv[i]);
	}
	if (r->srq)
		ibv_destroy_srq(r->srq);
	if (r->smr)
		ibv_dereg_mr(r->smr);
	if (r->mr)
		ibv_dereg_mr(r->mr);
	if (r->scq)
		ibv_destroy_cq(r->scq);
	if (r->cq)
		ibv_destroy_cq(r->cq);
	if (r->spd)
		ibv_dealloc_pd(r->spd);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	free(r->sbuf);
	free(r->buf);
}

/* Receive i lands at 64 KiB + i * 4 KiB. */
static int rig_post_srq(struct srq_rig *r, uint64_t first, int n)
{
	struct ibv_recv_wr *bad;
	int i;

	for (i = 0; i < n; i++) {
		uint64_t id = first + i;
		struct ibv_sge sge = { (uintptr_t)r->buf + 65536 + id * 4096,
				       4096, r->mr->lkey };
		struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge,
					  .num_sge = 1 };

		if (ibv_post_srq_recv(r->srq, &wr, &bad))
			return -1;
	}
	return 0;
}

/*
 * Posts a SEND of @len bytes from QP @i. Each @seed (0..14) has its own
 * 16 KiB of the send buffer: a message posted before an earlier one has
 * completed must not overwrite it, since a lost packet is resent from
 * the buffer.
 */
static int rig_send(struct srq_rig *r, int i, uint32_t len, unsigned int seed)
{
	char *src = r->sbuf + seed * 16384;
	struct ibv_sge sge = { (uintptr_t)src, len, r->smr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1000 + i, .sg_list = &sge,
				  .num_sge = 1, .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;

	if (seed > 14 || len > 16384)
		return -1;
	fill(src, len, seed);
	return ibv_post_send(r->send[i], &wr, &bad);
}

/* One send's completion and one receive's, both successful. */
static int rig_both_complete(struct srq_rig *r)
{
	struct ibv_wc wc;

	return wait_wc(r->scq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	       wait_wc(r->cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS ?
	       0 : -1;
}

/*
 * Waits up to @ms for an async event of @type on @c and acknowledges it;
 * events of other types are acknowledged and skipped.
 */
static int wait_async(struct ibv_context *c, enum ibv_event_type type, int ms,
		      struct ibv_async_event *out)
{
	struct pollfd pfd = { .fd = c->async_fd, .events = POLLIN };
	struct ibv_async_event ev;

	for (;;) {
		if (poll(&pfd, 1, ms) <= 0)
			return -1;
		if (ibv_get_async_event(c, &ev))
			return -1;
		ibv_ack_async_event(&ev);
		if (ev.event_type == type) {
			*out = ev;
			return 0;
		}
		note("skipped async event %s", ibv_event_type_str(ev.event_type));
	}
}

static int test_srq_feeds_two_qps_in_order(void)
{
	static const uint32_t lens[3] = { 100, 2000, 300 };
	static const int from[3] = { 0, 1, 0 };
	struct ibv_srq_attr sa;
	struct ibv_wc wc;
	struct srq_rig r;
	unsigned int taken = 0, moved = 0;
	int i, m, rc = -1, sends = 0, recvs = 0;

	CHECK(rig_init(&r, 16, 7) == 0, "setup");
	CHECK(ibv_query_srq(r.srq, &sa) == 0, "query_srq");
	CHECK(sa.max_wr >= 16 && sa.max_sge >= 2 && sa.srq_limit == 0,
	      "query_srq: max_wr %u max_sge %u limit %u", sa.max_wr,
	      sa.max_sge, sa.srq_limit);
	CHECK(rig_post_srq(&r, 0, 4) == 0, "post_srq_recv");
	for (i = 0; i < 3; i++)
		CHECK(rig_send(&r, from[i], lens[i], i + 1) == 0, "post_send");
	for (sends = 0; sends < 3; sends++) {
		CHECK(wait_wc(r.scq, &wc) == 0, "only %d sends completed",
		      sends);
		CHECK(wc.status == IBV_WC_SUCCESS, "send: %s",
		      ibv_wc_status_str(wc.status));
	}
	/*
	 * The SRQ hands out its receives in the order they were posted, so
	 * the three messages take receives 0, 1 and 2, and 3 stays posted.
	 * On the same device each SEND executes as it is posted: message i
	 * takes receive i, completed in that order. Over RoCEv2 the two QPs'
	 * packets may arrive interleaved (and a two-packet message completes
	 * after a one-packet one that started later): a receive is matched
	 * to its message by QP and length.
	 */
	while (recvs < 3) {
		CHECK(wait_wc(r.cq, &wc) == 0, "only %d receives completed",
		      recvs);
		CHECK(wc.status == IBV_WC_SUCCESS &&
		      (wc.opcode & IBV_WC_RECV), "receive: %s, opcode %d",
		      ibv_wc_status_str(wc.status), wc.opcode);
		CHECK(wc.wr_id < 3 && !(taken & (1u << wc.wr_id)),
		      "completion %d: wr_id %lu (want one of 0..2, once)",
		      recvs, (unsigned long)wc.wr_id);
		taken |= 1u << wc.wr_id;
		for (m = 0; m < 3; m++)
			if (wc.qp_num == r.recv[from[m]]->qp_num &&
			    wc.byte_len == lens[m] && !(moved & (1u << m)))
				break;
		CHECK(m < 3, "receive %lu: qp 0x%x len %u is no message sent",
		      (unsigned long)wc.wr_id, wc.qp_num, wc.byte_len);
		moved |= 1u << m;
		CHECK(wire || (wc.wr_id == (uint64_t)recvs && m == recvs),
		      "completion %d: receive %lu got message %d", recvs,
		      (unsigned long)wc.wr_id, m);
		fill(r.sbuf + BUF_SIZE - 4096, lens[m], m + 1);
		CHECK(memcmp(r.buf + 65536 + wc.wr_id * 4096,
			     r.sbuf + BUF_SIZE - 4096, lens[m]) == 0,
		      "receive %lu: bytes differ", (unsigned long)wc.wr_id);
		recvs++;
	}
	CHECK(ibv_poll_cq(r.cq, 1, &wc) == 0, "a fourth receive completed");
	rc = 0;
out:
	rig_fini(&r);
	return rc;
}

static int test_srq_limit_event_fires_once(void)
{
	struct ibv_srq_attr sa = { .srq_limit = 4 };
	struct ibv_async_event ev;
	struct srq_rig r;
	int i, rc = -1;

	CHECK(rig_init(&r, 16, 7) == 0, "setup");
	CHECK(rig_post_srq(&r, 0, 8) == 0, "post_srq_recv");
	sa.srq_limit = 1000;
	CHECK(ibv_modify_srq(r.srq, &sa, IBV_SRQ_LIMIT) == EINVAL,
	      "a limit over the SRQ size was accepted");
	sa.srq_limit = 4;
	CHECK(ibv_modify_srq(r.srq, &sa, IBV_SRQ_LIMIT) == 0, "arm");
	memset(&sa, 0, sizeof(sa));
	CHECK(ibv_query_srq(r.srq, &sa) == 0 && sa.srq_limit == 4,
	      "armed limit reads %u", sa.srq_limit);
	/* 8 -> 4 receives left: not below the limit yet. */
	for (i = 0; i < 4; i++) {
		CHECK(rig_send(&r, i & 1, 10, i) == 0, "post_send");
		CHECK(rig_both_complete(&r) == 0, "completions");
	}
	CHECK(wait_async(peer_ctx, IBV_EVENT_SRQ_LIMIT_REACHED, 200, &ev) != 0,
	      "limit event with 4 receives left (limit 4)");
	/* 3 left: the event, once. */
	CHECK(rig_send(&r, 0, 10, 9) == 0, "post_send");
	CHECK(rig_both_complete(&r) == 0, "completions");
	CHECK(wait_async(peer_ctx, IBV_EVENT_SRQ_LIMIT_REACHED, 3000, &ev) == 0,
	      "no limit event with 3 receives left");
	CHECK(ev.element.srq == r.srq, "event names another SRQ");
	CHECK(ibv_query_srq(r.srq, &sa) == 0 && sa.srq_limit == 0,
	      "limit still armed after the event (%u)", sa.srq_limit);
	CHECK(rig_send(&r, 1, 10, 10) == 0, "post_send");
	CHECK(rig_both_complete(&r) == 0, "completions");
	CHECK(wait_async(peer_ctx, IBV_EVENT_SRQ_LIMIT_REACHED, 200, &ev) != 0,
	      "a second limit event without re-arming");
	note("limit 4: event after the 5th receive, once");
	rc = 0;
out:
	rig_fini(&r);
	return rc;
}

static int test_srq_qp_error_is_last_wqe_reached_not_flush(void)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_ERR };
	struct ibv_async_event ev;
	struct ibv_wc wc;
	struct srq_rig r;
	int rc = -1;

	CHECK(rig_init(&r, 16, 7) == 0, "setup");
	CHECK(rig_post_srq(&r, 0, 4) == 0, "post_srq_recv");
	CHECK(ibv_modify_qp(r.recv[0], &a, IBV_QP_STATE) == 0, "to ERR");
	CHECK(wait_async(peer_ctx, IBV_EVENT_QP_LAST_WQE_REACHED, 3000, &ev) == 0,
	      "no LAST_WQE_REACHED");
	CHECK(ev.element.qp == r.recv[0], "event names another QP");
	CHECK(ibv_poll_cq(r.cq, 1, &wc) == 0,
	      "the SRQ's receives were flushed with the QP (%s)",
	      ibv_wc_status_str(wc.status));
	/* The other QP still receives from the SRQ. */
	CHECK(rig_send(&r, 1, 50, 3) == 0, "post_send");
	CHECK(wait_wc(r.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.qp_num == r.recv[1]->qp_num,
	      "after the error: %s", ibv_wc_status_str(wc.status));
	rc = 0;
out:
	rig_fini(&r);
	return rc;
}

static int test_srq_empty_is_rnr_retry_exc_err(void)
{
	struct ibv_wc wc;
	struct srq_rig r;
	int rc = -1;

	CHECK(rig_init(&r, 16, 0) == 0, "setup");
	CHECK(rig_send(&r, 0, 10, 1) == 0, "post_send");
	CHECK(wait_wc(r.scq, &wc) == 0, "no completion");
	CHECK(wc.status == IBV_WC_RNR_RETRY_EXC_ERR && wc.wr_id == 1000,
	      "got %s", ibv_wc_status_str(wc.status));
	rc = 0;
out:
	rig_fini(&r);
	return rc;
}

static int test_srq_create_limits_are_checked(void)
{
	struct ibv_device_attr da;
	struct ibv_srq_init_attr sa = {};
	struct ibv_srq *srq = NULL;
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	int rc = -1;

	CHECK(pd && ibv_query_device(ctx, &da) == 0, "setup");
	CHECK(da.max_srq > 0 && da.max_srq_wr > 0 && da.max_srq_sge > 0,
	      "device claims no SRQs");
	sa.attr.max_wr = da.max_srq_wr + 1;
	sa.attr.max_sge = 1;
	srq = ibv_create_srq(pd, &sa);
	CHECK(!srq && errno == EINVAL, "max_wr over the limit: %s",
	      srq ? "created" : strerror(errno));
	sa.attr.max_wr = 4;
	sa.attr.max_sge = da.max_srq_sge + 1;
	srq = ibv_create_srq(pd, &sa);
	CHECK(!srq && errno == EINVAL, "max_sge over the limit: %s",
	      srq ? "created" : strerror(errno));
	rc = 0;
out:
	if (srq)
		ibv_destroy_srq(srq);
	if (pd)
		ibv_dealloc_pd(pd);
	return rc;
}

/* Thousands of QPs: distinct numbers, all usable, all destroyed, again. */
static int test_thousands_of_qps_come_and_go(void)
{
	enum { N = 4000 };
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				 .qp_access_flags = IBV_ACCESS_REMOTE_WRITE };
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp **qps = calloc(N, sizeof(*qps));
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	unsigned char *seen = calloc(1 << 24, 1);
	int round, i, rc = -1;

	CHECK(qps && pd && cq && seen, "setup");
	ia.send_cq = cq;
	ia.recv_cq = cq;
	for (round = 0; round < 2; round++) {
		memset(seen, 0, 1 << 24);
		for (i = 0; i < N; i++) {
			qps[i] = ibv_create_qp(pd, &ia);
			CHECK(qps[i], "round %d: QP %d not created: %s", round,
			      i, strerror(errno));
			CHECK(!seen[qps[i]->qp_num], "QPN 0x%x twice",
			      qps[i]->qp_num);
			seen[qps[i]->qp_num] = 1;
			CHECK(ibv_modify_qp(qps[i], &a, IBV_QP_STATE |
					    IBV_QP_PKEY_INDEX | IBV_QP_PORT |
					    IBV_QP_ACCESS_FLAGS) == 0,
			      "QP %d to INIT", i);
		}
		for (i = 0; i < N; i++) {
			CHECK(ibv_destroy_qp(qps[i]) == 0, "destroy QP %d", i);
			qps[i] = NULL;
		}
	}
	note("2 x %d QPs created, moved to INIT and destroyed", N);
	rc = 0;
out:
	for (i = 0; qps && i < N; i++)
		if (qps[i])
			ibv_destroy_qp(qps[i]);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	free(qps);
	free(seen);
	return rc;
}

/*
 * A packet lost on the link, the same one in every run: the harness of
 * guest_data_wire (lib.sh, drop_first_psn) has tc drop the first packet
 * with PSN GAP_SEND_PSN + GAP_AT leaving mirror0, the first with
 * GAP_READ_PSN + GAP_AT leaving mirror1, and the first with
 * GAP_READ2_PSN + GAP_PKTS - 1 (the last response of a first READ)
 * leaving mirror1, the first with GAP_TIMEOUT_PSN leaving each side (a
 * request and the sequence NAK that asks for it again), the first with
 * GAP_AW_PSN and the first with GAP_FLUSH_PSN leaving mirror1 (the answers
 * to an ATOMIC WRITE and to a FLUSH), and says so in MIRROR_GAP_RULES. No
 * other case uses these PSNs.
 */
#define GAP_SEND_PSN	0xabc000
#define GAP_READ_PSN	0xabd000
#define GAP_READ2_PSN	0xabe000
#define GAP_TIMEOUT_PSN	0xabf000
#define GAP_AW_PSN	0xac0000
#define GAP_FLUSH_PSN	0xac1000
#define GAP_AT		5
#define GAP_PKTS	10	/* of 1024 bytes: the suites' MTU */

static bool gap_rules(void)
{
	const char *e = getenv("MIRROR_GAP_RULES");

	return e && !strcmp(e, "1");
}

#define SKIP_WITHOUT_GAP_RULES()                                              \
	do {                                                                   \
		SKIP_ON_SAME_DEVICE("no packet to lose");                      \
		if (!gap_rules())                                              \
			SKIP("no rule drops a packet on this link "            \
			     "(guest_data_wire sets them)");                   \
	} while (0)

/* An RC pair whose PSNs start at @psn (the gap rules' PSNs). */
static int gap_pair_init(struct pair *p, uint32_t psn)
{
	int ret;

	pair_psn = psn;
	ret = pair_init(p, IBV_QPT_RC, 7);
	pair_psn = 0;
	return ret;
}

static long long counter_delta(const char *dev, const char *name,
			       long long before)
{
	long long now = mirror_test_counter(dev, name);

	return now < 0 || before < 0 ? -1 : now - before;
}

/*
 * A SEND of 10 packets whose 6th is lost: the responder asks for it with
 * one sequence NAK, and the requester sends the message again from the
 * lost packet on, not from its start (at most 5 packets again, not 10).
 */
static int test_rc_send_resends_from_the_lost_packet(void)
{
	uint32_t len = GAP_PKTS * 1024;
	long long resent, naks, r0, n0;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	SKIP_WITHOUT_GAP_RULES();
	CHECK(gap_pair_init(&p, GAP_SEND_PSN) == 0, "setup: %s",
	      strerror(errno));
	fill(p.a.buf, len, 9);
	CHECK(post_recv(&p.b, 1, 0, len) == 0, "post_recv");
	r0 = mirror_test_counter(dev_name, "retrans_packets");
	n0 = mirror_test_counter(dev_name, "seq_err_nak_rcvd");
	CHECK(post_send(&p, IBV_WR_SEND, 2, 0, len, p.a.mr->lkey, 0, 0, 0) == 0,
	      "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
	      "send: %s", ibv_wc_status_str(wc.status));
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.byte_len == len, "recv: %s, byte_len %u",
	      ibv_wc_status_str(wc.status), wc.byte_len);
	CHECK(memcmp(p.b.buf, p.a.buf, len) == 0, "payload differs");
	resent = counter_delta(dev_name, "retrans_packets", r0);
	naks = counter_delta(dev_name, "seq_err_nak_rcvd", n0);
	CHECK(naks == 1, "sequence NAKs received: %lld, want 1", naks);
	CHECK(resent >= 1 && resent <= GAP_PKTS - GAP_AT,
	      "packets sent again: %lld, want 1 to %d (from the lost one on)",
	      resent, GAP_PKTS - GAP_AT);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/*
 * A READ of 10 response packets whose 6th is lost: the requester asks
 * again only for the responses it misses (one request from the lost PSN),
 * so the responder sends at most 5 again, not 10.
 */
static int test_rc_read_asks_again_only_for_lost_responses(void)
{
	uint32_t len = GAP_PKTS * 1024;
	long long sent, dups, t0, d0;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	SKIP_WITHOUT_GAP_RULES();
	CHECK(gap_pair_init(&p, GAP_READ_PSN) == 0, "setup: %s",
	      strerror(errno));
	fill(p.b.buf, len, 10);
	t0 = mirror_test_counter(peer_name, "tx_packets");
	d0 = mirror_test_counter(peer_name, "duplicate_requests");
	CHECK(post_send(&p, IBV_WR_RDMA_READ, 3, 0, len, p.a.mr->lkey,
			(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0, "post_send");
	CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.byte_len == len, "read: %s, byte_len %u",
	      ibv_wc_status_str(wc.status), wc.byte_len);
	CHECK(memcmp(p.a.buf, p.b.buf, len) == 0, "local bytes differ");
	sent = counter_delta(peer_name, "tx_packets", t0);
	dups = counter_delta(peer_name, "duplicate_requests", d0);
	CHECK(dups >= 1, "the responder saw %lld repeated requests, want 1 or "
	      "more (it sent %lld packets)", dups, sent);
	CHECK(sent > GAP_PKTS && sent <= 2 * GAP_PKTS - GAP_AT,
	      "responses sent: %lld, want %d to %d (10, and again from the lost one on)",
	      sent, GAP_PKTS + 1, 2 * GAP_PKTS - GAP_AT);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/*
 * Two READs of 10 responses each, posted together; the last response of
 * the first is lost. The second one's responses show that the peer took
 * both requests: the requester asks again for the lost response alone and
 * takes the second READ's responses as they come, so the responder sends
 * 21 packets (not the second READ's 10 again), and sees one repeated
 * request.
 */
static int test_rc_read_after_a_lost_response_is_not_asked_again(void)
{
	uint32_t len = GAP_PKTS * 1024;
	long long sent, dups, t0, d0;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1, i;

	SKIP_WITHOUT_GAP_RULES();
	CHECK(gap_pair_init(&p, GAP_READ2_PSN) == 0, "setup: %s",
	      strerror(errno));
	fill(p.b.buf, 2 * len, 11);
	t0 = mirror_test_counter(peer_name, "tx_packets");
	d0 = mirror_test_counter(peer_name, "duplicate_requests");
	for (i = 0; i < 2; i++)
		CHECK(post_send(&p, IBV_WR_RDMA_READ, 20 + i, i * len, len,
				p.a.mr->lkey, (uintptr_t)p.b.buf + i * len,
				p.b.mr->rkey, 0) == 0, "post_send %d", i);
	for (i = 0; i < 2; i++)
		CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.wr_id == 20u + i &&
		      wc.status == IBV_WC_SUCCESS && wc.byte_len == len,
		      "read %d: %s, wr_id %llu, byte_len %u", i,
		      ibv_wc_status_str(wc.status),
		      (unsigned long long)wc.wr_id, wc.byte_len);
	CHECK(memcmp(p.a.buf, p.b.buf, 2 * len) == 0, "local bytes differ");
	sent = counter_delta(peer_name, "tx_packets", t0);
	dups = counter_delta(peer_name, "duplicate_requests", d0);
	CHECK(dups == 1, "the responder saw %lld repeated requests, want 1",
	      dups);
	CHECK(sent == 2 * GAP_PKTS + 1,
	      "responses sent: %lld, want %d (20, and the lost one again)",
	      sent, 2 * GAP_PKTS + 1);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/*
 * Eight WRITEs of 4 packets posted at once; the first packet is lost, and
 * so is the sequence NAK the responder sends for it (once), which then
 * drops everything after the gap: only the retransmission timer can
 * recover. After one timeout the requester starts again with the oldest
 * WRITE alone and lets the window grow with the ACKs, from the oldest WQE
 * not completed: every WRITE completes, its bytes land, one timeout was
 * enough, and each of the 32 packets went out exactly twice.
 */
static int test_rc_writes_after_a_timeout_all_complete(void)
{
	const uint32_t len = 4 * 1024, n = 8;
	long long tx, timeouts, naks, t0, to0, n0;
	struct ibv_send_wr wr[8], *bad;
	struct ibv_sge sge[8];
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;
	uint32_t i;

	SKIP_WITHOUT_GAP_RULES();
	CHECK(gap_pair_init(&p, GAP_TIMEOUT_PSN) == 0, "setup: %s",
	      strerror(errno));
	fill(p.a.buf, n * len, 12);
	t0 = mirror_test_counter(dev_name, "tx_packets");
	to0 = mirror_test_counter(dev_name, "retrans_timeouts");
	n0 = mirror_test_counter(peer_name, "seq_err_nak_sent");
	/*
	 * One list, one doorbell: all 32 packets leave before the timer can
	 * run out. Posted one by one, a poster kept off the CPU longer than
	 * the ACK timeout (a busy host) would see the timeout come between
	 * two posts, and the WRITEs posted after it go out once.
	 */
	for (i = 0; i < n; i++) {
		sge[i] = (struct ibv_sge){ (uintptr_t)p.a.buf + i * len, len,
					   p.a.mr->lkey };
		wr[i] = (struct ibv_send_wr){
			.wr_id = 30 + i, .next = i + 1 < n ? &wr[i + 1] : NULL,
			.sg_list = &sge[i], .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
		};
		wr[i].wr.rdma.remote_addr = (uintptr_t)p.b.buf + i * len;
		wr[i].wr.rdma.rkey = p.b.mr->rkey;
	}
	CHECK(ibv_post_send(p.a.qp, wr, &bad) == 0, "post_send of the 8 WRITEs");
	for (i = 0; i < n; i++)
		CHECK(wait_wc(p.a.cq, &wc) == 0 && wc.wr_id == 30u + i &&
		      wc.status == IBV_WC_SUCCESS, "write %u: %s, wr_id %llu",
		      i, ibv_wc_status_str(wc.status),
		      (unsigned long long)wc.wr_id);
	CHECK(memcmp(p.b.buf, p.a.buf, n * len) == 0, "remote bytes differ");
	tx = counter_delta(dev_name, "tx_packets", t0);
	timeouts = counter_delta(dev_name, "retrans_timeouts", to0);
	naks = counter_delta(peer_name, "seq_err_nak_sent", n0);
	CHECK(naks == 1, "sequence NAKs sent: %lld, want 1 (lost)", naks);
	CHECK(timeouts == 1, "retransmission timeouts: %lld, want 1", timeouts);
	CHECK(tx == 2 * 4 * n, "packets sent: %lld, want %u (each twice)", tx,
	      2 * 4 * n);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_completion_channel_wakes_up(void)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(peer_ctx);
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
	p.b.cq = ibv_create_cq(peer_ctx, 16, NULL, ch, 0);
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
	CHECK(connect_qp(p.b.qp, false, p.a.qp->qp_num, 7,
			 IBV_ACCESS_REMOTE_WRITE) == 0, "connect b");
	{
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

		/* a must point at the new b */
		CHECK(ibv_modify_qp(p.a.qp, &a, IBV_QP_STATE) == 0, "reset a");
		CHECK(connect_qp(p.a.qp, true, p.b.qp->qp_num, 7,
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
	int rc = -1, i, got = 0, n, k;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	/* 40 signaled writes into a CQ of 256: then drain all of them. */
	for (i = 0; i < 40; i++)
		CHECK(post_send(&p, IBV_WR_RDMA_WRITE, i, 0, 16, p.a.mr->lkey,
				(uintptr_t)p.b.buf, p.b.mr->rkey, 0) == 0,
		      "post %d", i);
	/*
	 * As long as wait_wc() gives one completion: over a lossy link
	 * (-L) a lost last packet costs retransmission timeouts, and on
	 * the debug kernel one timeout alone is half a second.
	 */
	for (i = 0; i < 5000 * mirror_test_time_scale() && got < 40; i++) {
		n = ibv_poll_cq(p.a.cq, 64, wc);
		CHECK(n >= 0, "poll");
		for (k = 0; k < n; k++)
			CHECK(wc[k].status == IBV_WC_SUCCESS, "completion %d: %s",
			      got + k, ibv_wc_status_str(wc[k].status));
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

/*
 * Messages longer than the requester's window of PSNs in flight (1024 over
 * RoCEv2: 1 MiB at the suites' MTU), two of each kind posted at once: the
 * second one goes out when the first is answered, not only at the next
 * doorbell (there is none: both are posted before either is answered).
 */
#define BIG_MSG (1024 * 1024 + 3 * 1024)

static int post_big(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
		    char *local, uint32_t lkey, char *remote, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)local, BIG_MSG, lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)remote, .rkey = rkey },
	};
	struct ibv_send_wr *bad;

	return ibv_post_send(qp, &wr, &bad);
}

static int test_rc_messages_longer_than_the_window_follow_each_other(void)
{
	int acc = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		  IBV_ACCESS_REMOTE_READ;
	size_t size = 2 * (size_t)BIG_MSG;
	struct ibv_mr *la = NULL, *lb = NULL;
	char *a = NULL, *b = NULL;
	struct pair p = {};
	struct ibv_wc wc;
	int rc = -1, i;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	a = malloc(size);
	b = malloc(size);
	CHECK(a && b, "malloc");
	la = ibv_reg_mr(p.a.pd, a, size, acc);
	lb = ibv_reg_mr(p.b.pd, b, size, acc);
	CHECK(la && lb, "reg_mr: %s", strerror(errno));
	fill(a, size, 21);
	memset(b, 0, size);
	for (i = 0; i < 2; i++)
		CHECK(post_big(p.a.qp, IBV_WR_RDMA_WRITE, i, a + i * BIG_MSG,
			       la->lkey, b + i * BIG_MSG, lb->rkey) == 0,
		      "post write %d", i);
	for (i = 0; i < 2; i++) {
		CHECK(wait_wc(p.a.cq, &wc) == 0, "write %d: no completion", i);
		CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == (uint64_t)i,
		      "write %d: %s (wr_id %llu)", i, ibv_wc_status_str(wc.status),
		      (unsigned long long)wc.wr_id);
	}
	CHECK(memcmp(a, b, size) == 0, "written bytes differ");
	fill(b, size, 22);
	memset(a, 0, size);
	for (i = 0; i < 2; i++)
		CHECK(post_big(p.a.qp, IBV_WR_RDMA_READ, 10 + i, a + i * BIG_MSG,
			       la->lkey, b + i * BIG_MSG, lb->rkey) == 0,
		      "post read %d", i);
	for (i = 0; i < 2; i++) {
		CHECK(wait_wc(p.a.cq, &wc) == 0, "read %d: no completion", i);
		CHECK(wc.status == IBV_WC_SUCCESS && wc.wr_id == 10u + i &&
		      wc.byte_len == BIG_MSG, "read %d: %s (wr_id %llu)", i,
		      ibv_wc_status_str(wc.status),
		      (unsigned long long)wc.wr_id);
	}
	CHECK(memcmp(a, b, size) == 0, "read bytes differ");
	rc = 0;
out:
	if (la)
		ibv_dereg_mr(la);
	if (lb)
		ibv_dereg_mr(lb);
	pair_fini(&p);
	free(a);
	free(b);
	return rc;
}

/* ---------------------------------------------------------------------- */
/*
 * Memory windows. Side b grants side a a window over its memory: an MR of
 * b that allows MW_BIND but no remote access of its own, and a window
 * bound to part of it that grants what a may do. Binds, invalidations
 * and the accesses through them are checked where they happen: b's
 * completions, a's completions, the bytes.
 */
#define WIN_OFF		8192
#define WIN_LEN		16384

struct mw_rig {
	struct pair p;
	struct ibv_mr *mr;	/* b's MR the window is bound to */
	struct ibv_mw *mw;
	char *mem;		/* its memory: b.buf, or an ODP mapping */
	size_t mem_len;
	bool mapped;
};

enum mw_mem { MW_PINNED, MW_ODP, MW_IMPLICIT };

static int mw_rig_init(struct mw_rig *r, enum ibv_mw_type type, int mr_access,
		       enum mw_mem mem)
{
	memset(r, 0, sizeof(*r));
	if (pair_init(&r->p, IBV_QPT_RC, 7))
		return -1;
	r->mem = r->p.b.buf;
	r->mem_len = BUF_SIZE;
	if (mem != MW_PINNED) {
		/* Fresh anonymous memory: no page is present yet. */
		r->mem = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->mem == MAP_FAILED) {
			r->mem = NULL;
			return -1;
		}
		r->mapped = true;
		mr_access |= IBV_ACCESS_ON_DEMAND;
	}
	if (mem == MW_IMPLICIT)
		r->mr = ibv_reg_mr(r->p.b.pd, NULL, SIZE_MAX, mr_access);
	else
		r->mr = ibv_reg_mr(r->p.b.pd, r->mem, r->mem_len, mr_access);
	r->mw = ibv_alloc_mw(r->p.b.pd, type);
	return r->mr && r->mw ? 0 : -1;
}

static void mw_rig_fini(struct mw_rig *r)
{
	if (r->mw)
		ibv_dealloc_mw(r->mw);
	if (r->mr)
		ibv_dereg_mr(r->mr);
	if (r->mapped)
		munmap(r->mem, r->mem_len);
	pair_fini(&r->p);
}

/* The window's bind info: [WIN_OFF, WIN_OFF + @len) of the rig's MR. */
static struct ibv_mw_bind_info mw_info(struct mw_rig *r, uint64_t len,
				       int access)
{
	struct ibv_mw_bind_info info = {
		.mr = r->mr,
		.addr = (uintptr_t)r->mem + WIN_OFF,
		.length = len,
		.mw_access_flags = (unsigned int)access,
	};

	return info;
}

/* Binds @r's window on b's QP and returns the bind's completion status. */
static int mw_bind(struct mw_rig *r, struct ibv_mw_bind_info info,
		   enum ibv_wc_status *status)
{
	struct ibv_wc wc;

	if (r->mw->type == IBV_MW_TYPE_1) {
		struct ibv_mw_bind bind = {
			.wr_id = 77, .send_flags = IBV_SEND_SIGNALED,
			.bind_info = info,
		};

		if (ibv_bind_mw(r->p.b.qp, r->mw, &bind))
			return -1;
	} else {
		struct ibv_send_wr wr = {
			.wr_id = 77, .opcode = IBV_WR_BIND_MW,
			.send_flags = IBV_SEND_SIGNALED,
		}, *bad;

		wr.bind_mw.mw = r->mw;
		wr.bind_mw.rkey = ibv_inc_rkey(r->mw->rkey);
		wr.bind_mw.bind_info = info;
		if (ibv_post_send(r->p.b.qp, &wr, &bad))
			return -1;
		if (wait_wc(r->p.b.cq, &wc))
			return -1;
		*status = wc.status;
		if (wc.status == IBV_WC_SUCCESS)
			r->mw->rkey = wr.bind_mw.rkey;	/* the consumer's part */
		return wc.wr_id == 77 && (wc.status != IBV_WC_SUCCESS ||
					  wc.opcode == IBV_WC_BIND_MW) ? 0 : -1;
	}
	if (wait_wc(r->p.b.cq, &wc))
		return -1;
	*status = wc.status;
	return wc.wr_id == 77 && (wc.status != IBV_WC_SUCCESS ||
				  wc.opcode == IBV_WC_BIND_MW) ? 0 : -1;
}

/* a's one RDMA op through the window, at @off of it; its status. */
static int mw_access(struct mw_rig *r, enum ibv_wr_opcode op, uint64_t wr_id,
		     uint32_t off, uint32_t len, enum ibv_wc_status *status)
{
	struct ibv_wc wc;

	if (post_send(&r->p, op, wr_id, 0, len, r->p.a.mr->lkey,
		      (uintptr_t)r->mem + WIN_OFF + off, r->mw->rkey, 0))
		return -1;
	if (wait_wc(r->p.a.cq, &wc) || wc.wr_id != wr_id)
		return -1;
	*status = wc.status;
	return 0;
}

/* A window moves bytes both ways, over pinned, ODP or implicit memory. */
static int window_moves_bytes(enum ibv_mw_type type, enum mw_mem mem)
{
	int mr_access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND;
	long long binds0 = mirror_test_counter(wire ? peer_name : dev_name,
					       "mw_bind");
	enum ibv_wc_status st;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, type, mr_access, mem) == 0, "setup: %s",
	      strerror(errno));
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE |
					       IBV_ACCESS_REMOTE_READ),
		      &st) == 0, "bind: no completion");
	CHECK(st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	fill(r.p.a.buf, WIN_LEN, 21);
	CHECK(mw_access(&r, IBV_WR_RDMA_WRITE, 1, 0, WIN_LEN, &st) == 0 &&
	      st == IBV_WC_SUCCESS, "write: %s", ibv_wc_status_str(st));
	CHECK(memcmp(r.mem + WIN_OFF, r.p.a.buf, WIN_LEN) == 0,
	      "the window's bytes differ");
	/* And back: b's bytes, read through the window into a fresh spot. */
	fill(r.mem + WIN_OFF + 100, 3000, 22);
	CHECK(post_send(&r.p, IBV_WR_RDMA_READ, 2, 65536, 3000,
			r.p.a.mr->lkey, (uintptr_t)r.mem + WIN_OFF + 100,
			r.mw->rkey, 0) == 0, "post read");
	{
		struct ibv_wc wc;

		CHECK(wait_wc(r.p.a.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS,
		      "read: %s", ibv_wc_status_str(wc.status));
	}
	CHECK(memcmp(r.p.a.buf + 65536, r.mem + WIN_OFF + 100, 3000) == 0,
	      "the bytes read differ");
	CHECK(binds0 >= 0 && mirror_test_counter(wire ? peer_name : dev_name,
						 "mw_bind") == binds0 + 1,
	      "mw_bind did not count the bind");
	note("type %d window over %s memory: 16 KiB written, 3000 B read", type,
	     mem == MW_PINNED ? "pinned" : mem == MW_ODP ? "ODP" : "implicit ODP");
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

static int test_rc_type1_window_moves_bytes(void)
{
	return window_moves_bytes(IBV_MW_TYPE_1, MW_PINNED);
}

static int test_rc_type2_window_moves_bytes(void)
{
	return window_moves_bytes(IBV_MW_TYPE_2, MW_PINNED);
}

static int test_rc_window_over_an_odp_mr_moves_bytes(void)
{
	return window_moves_bytes(IBV_MW_TYPE_2, MW_ODP);
}

static int test_rc_window_over_an_implicit_mr_moves_bytes(void)
{
	return window_moves_bytes(IBV_MW_TYPE_1, MW_IMPLICIT);
}

/*
 * A refused bind: MW_BIND_ERR on b, the window grants nothing, and its
 * rkey stays the old one.
 */
static int bind_refused(int mr_access, uint64_t len, int win_access)
{
	enum ibv_wc_status st;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_2, mr_access, MW_PINNED) == 0,
	      "setup");
	CHECK(mw_bind(&r, mw_info(&r, len, win_access), &st) == 0,
	      "bind: no completion");
	CHECK(st == IBV_WC_MW_BIND_ERR, "bind: %s, want MW_BIND_ERR",
	      ibv_wc_status_str(st));
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

static int test_rc_bind_beyond_the_mr_is_mw_bind_err(void)
{
	return bind_refused(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND,
			    BUF_SIZE, IBV_ACCESS_REMOTE_WRITE);
}

static int test_rc_bind_without_mw_bind_access_is_mw_bind_err(void)
{
	return bind_refused(IBV_ACCESS_LOCAL_WRITE, WIN_LEN,
			    IBV_ACCESS_REMOTE_WRITE);
}

/* Remote write through a window needs local write on its MR (IBA 10.6.7). */
static int test_rc_writable_window_over_a_read_only_mr_is_mw_bind_err(void)
{
	return bind_refused(IBV_ACCESS_MW_BIND, WIN_LEN,
			    IBV_ACCESS_REMOTE_WRITE);
}

static int test_rc_zero_based_window_is_mw_bind_err(void)
{
	return bind_refused(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND,
			    WIN_LEN, IBV_ACCESS_REMOTE_WRITE |
				     IBV_ACCESS_ZERO_BASED);
}

/*
 * An access the window does not grant: REM_ACCESS_ERR for a (then the
 * next WQE flushed), nothing written.
 */
static int window_refuses(enum ibv_wr_opcode op, uint32_t off, uint32_t len,
			  int win_access)
{
	enum ibv_wc_status st;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_1, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, win_access), &st) == 0 &&
	      st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	fill(r.p.a.buf, len, 5);
	CHECK(post_send(&r.p, op, 100, 0, len, r.p.a.mr->lkey,
			(uintptr_t)r.mem + WIN_OFF + off, r.mw->rkey, 0) == 0 &&
	      post_send(&r.p, IBV_WR_RDMA_WRITE, 101, 0, 8, r.p.a.mr->lkey,
			(uintptr_t)r.mem + WIN_OFF, r.mw->rkey, 0) == 0,
	      "post_send");
	if (expect_error_then_flush(&r.p, IBV_WC_REM_ACCESS_ERR))
		goto out;
	CHECK(op != IBV_WR_RDMA_WRITE ||
	      memcmp(r.mem + WIN_OFF + off, r.p.a.buf, 8) != 0,
	      "the refused write landed");
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

static int test_rc_write_past_a_window_is_rem_access_err(void)
{
	return window_refuses(IBV_WR_RDMA_WRITE, WIN_LEN - 64, 128,
			      IBV_ACCESS_REMOTE_WRITE);
}

static int test_rc_read_through_a_write_only_window_is_rem_access_err(void)
{
	return window_refuses(IBV_WR_RDMA_READ, 0, 64, IBV_ACCESS_REMOTE_WRITE);
}

static int test_rc_mr_rkey_is_not_the_window_is_rem_access_err(void)
{
	enum ibv_wc_status st;
	struct mw_rig r;
	int rc = -1;

	/* b's MR allows no remote access: its own rkey gives a nothing. */
	CHECK(mw_rig_init(&r, IBV_MW_TYPE_1, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	CHECK(post_send(&r.p, IBV_WR_RDMA_WRITE, 100, 0, 64, r.p.a.mr->lkey,
			(uintptr_t)r.mem + WIN_OFF, r.mr->rkey, 0) == 0 &&
	      post_send(&r.p, IBV_WR_RDMA_WRITE, 101, 0, 8, r.p.a.mr->lkey,
			(uintptr_t)r.mem + WIN_OFF, r.mw->rkey, 0) == 0,
	      "post_send");
	rc = expect_error_then_flush(&r.p, IBV_WC_REM_ACCESS_ERR);
out:
	mw_rig_fini(&r);
	return rc;
}

/*
 * How a window stops granting: a type 1 window rebound with length 0, a
 * type 2 window invalidated locally (LOCAL_INV on b) or by a's SEND with
 * Invalidate, or deallocated. Each access after it is REM_ACCESS_ERR.
 */
enum mw_end { END_REBIND_EMPTY, END_LOCAL_INV, END_SEND_WITH_INV, END_DEALLOC };

static int window_ends(enum mw_end how)
{
	enum ibv_mw_type type = how == END_REBIND_EMPTY ? IBV_MW_TYPE_1 :
							  IBV_MW_TYPE_2;
	const char *b_dev = wire ? peer_name : dev_name;
	long long inv0 = mirror_test_counter(b_dev, "mw_inv");
	enum ibv_wc_status st;
	struct ibv_wc wc;
	struct mw_rig r;
	uint32_t rkey;
	int rc = -1;

	CHECK(mw_rig_init(&r, type, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND,
			  MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	CHECK(mw_access(&r, IBV_WR_RDMA_WRITE, 1, 0, 64, &st) == 0 &&
	      st == IBV_WC_SUCCESS, "write before: %s", ibv_wc_status_str(st));
	rkey = r.mw->rkey;
	switch (how) {
	case END_REBIND_EMPTY:
		CHECK(mw_bind(&r, mw_info(&r, 0, 0), &st) == 0 &&
		      st == IBV_WC_SUCCESS, "empty bind: %s",
		      ibv_wc_status_str(st));
		break;
	case END_LOCAL_INV: {
		struct ibv_send_wr wr = {
			.wr_id = 78, .opcode = IBV_WR_LOCAL_INV,
			.send_flags = IBV_SEND_SIGNALED,
			.invalidate_rkey = rkey,
		}, *bad;

		CHECK(ibv_post_send(r.p.b.qp, &wr, &bad) == 0, "post LOCAL_INV");
		CHECK(wait_wc(r.p.b.cq, &wc) == 0 && wc.wr_id == 78 &&
		      wc.status == IBV_WC_SUCCESS &&
		      wc.opcode == IBV_WC_LOCAL_INV, "LOCAL_INV: %s",
		      ibv_wc_status_str(wc.status));
		break;
	}
	case END_SEND_WITH_INV: {
		struct ibv_sge sge = { (uintptr_t)r.p.a.buf, 16,
				       r.p.a.mr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = 79, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_SEND_WITH_INV,
			.send_flags = IBV_SEND_SIGNALED,
			.invalidate_rkey = rkey,
		}, *bad;

		CHECK(post_recv(&r.p.b, 56, 0, 4096) == 0, "post_recv");
		CHECK(ibv_post_send(r.p.a.qp, &wr, &bad) == 0,
		      "post SEND_WITH_INV");
		CHECK(wait_wc(r.p.a.cq, &wc) == 0 && wc.wr_id == 79 &&
		      wc.status == IBV_WC_SUCCESS, "SEND_WITH_INV: %s",
		      ibv_wc_status_str(wc.status));
		CHECK(wait_wc(r.p.b.cq, &wc) == 0 && wc.wr_id == 56 &&
		      wc.status == IBV_WC_SUCCESS &&
		      (wc.wc_flags & IBV_WC_WITH_INV) &&
		      wc.invalidated_rkey == rkey,
		      "receive: %s, flags 0x%x, rkey 0x%x (want 0x%x)",
		      ibv_wc_status_str(wc.status), wc.wc_flags,
		      wc.invalidated_rkey, rkey);
		break;
	}
	case END_DEALLOC:
		CHECK(ibv_dealloc_mw(r.mw) == 0, "dealloc: %s", strerror(errno));
		r.mw = NULL;
		break;
	}
	if (how == END_LOCAL_INV || how == END_SEND_WITH_INV)
		CHECK(inv0 >= 0 && mirror_test_counter(b_dev, "mw_inv") ==
		      inv0 + 1, "mw_inv did not count the invalidation");
	memset(r.mem + WIN_OFF, 0, 64);
	CHECK(post_send(&r.p, IBV_WR_RDMA_WRITE, 100, 0, 64, r.p.a.mr->lkey,
			(uintptr_t)r.mem + WIN_OFF, rkey, 0) == 0 &&
	      post_send(&r.p, IBV_WR_RDMA_WRITE, 101, 0, 8, r.p.a.mr->lkey,
			(uintptr_t)r.mem + WIN_OFF, rkey, 0) == 0, "post_send");
	if (expect_error_then_flush(&r.p, IBV_WC_REM_ACCESS_ERR))
		goto out;
	CHECK(r.mem[WIN_OFF] == 0, "a write landed after the window ended");
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

static int test_rc_type1_window_bound_to_nothing_grants_nothing(void)
{
	return window_ends(END_REBIND_EMPTY);
}

static int test_rc_type2_window_after_local_inv_grants_nothing(void)
{
	return window_ends(END_LOCAL_INV);
}

static int test_rc_type2_window_after_send_with_inv_grants_nothing(void)
{
	return window_ends(END_SEND_WITH_INV);
}

static int test_rc_type2_window_after_dealloc_grants_nothing(void)
{
	return window_ends(END_DEALLOC);
}

/* A type 2 window is bound already: a second bind is refused. */
static int test_rc_rebind_of_a_bound_type2_window_is_mw_bind_err(void)
{
	enum ibv_wc_status st;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_2, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	CHECK(mw_bind(&r, mw_info(&r, 64, IBV_ACCESS_REMOTE_WRITE), &st) == 0 &&
	      st == IBV_WC_MW_BIND_ERR, "second bind: %s, want MW_BIND_ERR",
	      ibv_wc_status_str(st));
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

/* LOCAL_INV ends type 2 windows only (and kernel FRWR registrations). */
static int test_rc_local_inv_of_a_type1_window_is_loc_prot_err(void)
{
	struct ibv_send_wr wr = {
		.wr_id = 78, .opcode = IBV_WR_LOCAL_INV,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	enum ibv_wc_status st;
	struct ibv_wc wc;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_1, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	wr.invalidate_rkey = r.mw->rkey;
	CHECK(ibv_post_send(r.p.b.qp, &wr, &bad) == 0, "post LOCAL_INV");
	CHECK(wait_wc(r.p.b.cq, &wc) == 0 && wc.wr_id == 78 &&
	      wc.status == IBV_WC_LOC_PROT_ERR, "LOCAL_INV: %s",
	      ibv_wc_status_str(wc.status));
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

/*
 * An MR with a window bound cannot be deregistered (EBUSY) and keeps
 * serving the window; once the window is gone it can.
 */
static int test_rc_mr_under_a_bound_window_is_busy(void)
{
	enum ibv_wc_status st;
	struct mw_rig r;
	int rc = -1, err;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_1, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	err = ibv_dereg_mr(r.mr);
	CHECK(err == EBUSY, "dereg with a bound window: %d (%s), want EBUSY",
	      err, strerror(err));
	CHECK(mw_access(&r, IBV_WR_RDMA_WRITE, 1, 0, 64, &st) == 0 &&
	      st == IBV_WC_SUCCESS, "write after the refused dereg: %s",
	      ibv_wc_status_str(st));
	CHECK(ibv_dealloc_mw(r.mw) == 0, "dealloc");
	r.mw = NULL;
	CHECK(ibv_dereg_mr(r.mr) == 0, "dereg after the window is gone");
	r.mr = NULL;
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

/*
 * Type 2B: the window serves only the QP it was bound through. A second
 * connection between the same PDs gets REM_ACCESS_ERR with its key.
 */
static int test_rc_type2_window_serves_only_its_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	int qp_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	struct ibv_qp *a2 = NULL, *b2 = NULL;
	struct ibv_cq *cq2 = NULL;
	enum ibv_wc_status st;
	struct ibv_wc wc;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_2, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	cq2 = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq2, "cq");
	ia.send_cq = ia.recv_cq = cq2;
	a2 = ibv_create_qp(r.p.a.pd, &ia);
	ia.send_cq = ia.recv_cq = r.p.b.cq;
	b2 = ibv_create_qp(r.p.b.pd, &ia);
	CHECK(a2 && b2, "second pair");
	CHECK(connect_qp(a2, true, b2->qp_num, 7, qp_access) == 0 &&
	      connect_qp(b2, false, a2->qp_num, 7, qp_access) == 0, "connect");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	{
		struct ibv_sge sge = { (uintptr_t)r.p.a.buf, 64,
				       r.p.a.mr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = 200, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
		}, *bad;

		wr.wr.rdma.remote_addr = (uintptr_t)r.mem + WIN_OFF;
		wr.wr.rdma.rkey = r.mw->rkey;
		CHECK(ibv_post_send(a2, &wr, &bad) == 0, "post on a2");
		CHECK(wait_wc(cq2, &wc) == 0 && wc.wr_id == 200, "no completion");
		CHECK(wc.status == IBV_WC_REM_ACCESS_ERR ||
		      nak_lost_ending(IBV_WC_REM_ACCESS_ERR, wc.status),
		      "through another QP: %s, want REM_ACCESS_ERR",
		      ibv_wc_status_str(wc.status));
	}
	CHECK(mw_access(&r, IBV_WR_RDMA_WRITE, 1, 0, 64, &st) == 0 &&
	      st == IBV_WC_SUCCESS, "through its own QP: %s",
	      ibv_wc_status_str(st));
	rc = 0;
out:
	if (a2)
		ibv_destroy_qp(a2);
	if (b2)
		ibv_destroy_qp(b2);
	if (cq2)
		ibv_destroy_cq(cq2);
	mw_rig_fini(&r);
	return rc;
}

/*
 * Invalidating a window while a's writes stream through it: the writes
 * succeed until one is refused (REM_ACCESS_ERR, the rest flushed), the
 * LOCAL_INV succeeds, and nothing hangs.
 */
static int test_rc_window_invalidated_in_use_ends_the_writes(void)
{
	struct ibv_send_wr inv = {
		.wr_id = 78, .opcode = IBV_WR_LOCAL_INV,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	int ok = 0, flushed = 0, posted = 0, done = 0, i;
	enum ibv_wc_status st, err = IBV_WC_SUCCESS;
	bool inv_posted = false;
	struct ibv_wc wc;
	struct mw_rig r;
	int rc = -1;

	CHECK(mw_rig_init(&r, IBV_MW_TYPE_2, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_MW_BIND, MW_PINNED) == 0, "setup");
	CHECK(mw_bind(&r, mw_info(&r, WIN_LEN, IBV_ACCESS_REMOTE_WRITE), &st) ==
	      0 && st == IBV_WC_SUCCESS, "bind: %s", ibv_wc_status_str(st));
	inv.invalidate_rkey = r.mw->rkey;
	for (i = 0; i < 8; i++, posted++)
		CHECK(post_send(&r.p, IBV_WR_RDMA_WRITE, 1000 + posted, 0,
				WIN_LEN, r.p.a.mr->lkey,
				(uintptr_t)r.mem + WIN_OFF, r.mw->rkey, 0) == 0,
		      "post");
	/* Until the error: a new write for each one completed. */
	while (done < posted) {
		CHECK(wait_wc(r.p.a.cq, &wc) == 0, "a: no completion after %d",
		      done);
		done++;
		if (wc.status == IBV_WC_SUCCESS) {
			ok++;
		} else if (wc.status == IBV_WC_WR_FLUSH_ERR) {
			flushed++;
			continue;
		} else {
			CHECK(err == IBV_WC_SUCCESS, "a second error: %s",
			      ibv_wc_status_str(wc.status));
			err = wc.status;
			continue;
		}
		if (ok == 2 && !inv_posted) {
			CHECK(ibv_post_send(r.p.b.qp, &inv, &bad) == 0,
			      "post LOCAL_INV");
			inv_posted = true;
		}
		if (err == IBV_WC_SUCCESS && posted < 100000) {
			CHECK(post_send(&r.p, IBV_WR_RDMA_WRITE, 1000 + posted,
					0, WIN_LEN, r.p.a.mr->lkey,
					(uintptr_t)r.mem + WIN_OFF, r.mw->rkey,
					0) == 0, "post");
			posted++;
		}
	}
	CHECK(inv_posted, "never invalidated");
	CHECK(wait_wc(r.p.b.cq, &wc) == 0 && wc.wr_id == 78 &&
	      wc.status == IBV_WC_SUCCESS, "LOCAL_INV: %s",
	      ibv_wc_status_str(wc.status));
	CHECK(err == IBV_WC_REM_ACCESS_ERR ||
	      nak_lost_ending(IBV_WC_REM_ACCESS_ERR, err),
	      "the writes ended with %s, want REM_ACCESS_ERR",
	      ibv_wc_status_str(err));
	note("%d writes of 16 KiB went through, then %s, %d flushed", ok,
	     ibv_wc_status_str(err), flushed);
	rc = 0;
out:
	mw_rig_fini(&r);
	return rc;
}

/* ---------------------------------------------------------------------- */
/*
 * Multicast UD: a's datagram to a group reaches every QP of b attached to
 * it, once each; a detached QP gets nothing more, nor does any QP from a
 * group nobody joined.
 */
#define MC_PAYLOAD	200

/* The IPv4-mapped GID of 239.255.77.@n. */
static union ibv_gid mc_gid(uint8_t n)
{
	union ibv_gid g = {};

	g.raw[10] = 0xff;
	g.raw[11] = 0xff;
	g.raw[12] = 239;
	g.raw[13] = 255;
	g.raw[14] = 77;
	g.raw[15] = n;
	return g;
}

static int post_recv_qp(struct ibv_qp *qp, struct side *s, uint64_t wr_id,
			uint32_t off)
{
	struct ibv_sge sge = { (uintptr_t)s->buf + off, 4096, s->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

/* Sends MC_PAYLOAD bytes (pattern @seed) from a to the group of @ah. */
static int mc_send(struct pair *p, struct ibv_ah *ah, unsigned int seed)
{
	struct ibv_sge sge = { (uintptr_t)p->a.buf, MC_PAYLOAD, p->a.mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = 300 + seed, .sg_list = &sge, .num_sge = 1,
		.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_wc wc;

	fill(p->a.buf, MC_PAYLOAD, seed);
	wr.wr.ud.ah = ah;
	wr.wr.ud.remote_qpn = 0xffffff;
	wr.wr.ud.remote_qkey = 0x1234;
	if (ibv_post_send(p->a.qp, &wr, &bad) || wait_wc(p->a.cq, &wc) ||
	    wc.status != IBV_WC_SUCCESS)
		return -1;
	return 0;
}

/* No completion on @cq for 300 ms (scaled): nothing was delivered. */
static bool cq_stays_empty(struct ibv_cq *cq, struct ibv_wc *wc)
{
	return mirror_test_wait_wc(cq, wc, 300) != 0;
}

static int test_ud_multicast_reaches_every_attached_qp(void)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_UD,
		.cap = { .max_send_wr = 4, .max_recv_wr = 8, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	const char *b_dev = wire ? peer_name : dev_name;
	union ibv_gid g1 = mc_gid(1), g2 = mc_gid(2), uni;
	long long mc0 = mirror_test_counter(b_dev, "rx_mcast");
	struct ibv_ah *ah1 = NULL, *ah2 = NULL;
	struct ibv_ah_attr av = peer_av();
	struct ibv_qp *b2 = NULL;
	bool b2_attached = false, b_attached = false;
	int got_b = 0, got_b2 = 0, i;
	struct ibv_wc wc;
	struct pair p = {};
	int rc = -1;

	SKIP_ON_LOSSY("UD loses datagrams by design");
	CHECK(pair_init(&p, IBV_QPT_UD, 0) == 0, "setup");
	ia.send_cq = ia.recv_cq = p.b.cq;
	b2 = ibv_create_qp(p.b.pd, &ia);
	CHECK(b2 && connect_qp(b2, false, 0, 0, 0) == 0, "second UD QP");
	/* Attaching takes UD QPs and multicast GIDs only. */
	memcpy(&uni, &g1, sizeof(uni));
	uni.raw[12] = 10;
	CHECK(ibv_attach_mcast(p.b.qp, &uni, 0) == EINVAL,
	      "a unicast GID was attached");
	CHECK(ibv_attach_mcast(p.b.qp, &g1, 0) == 0, "attach b");
	b_attached = true;
	CHECK(ibv_attach_mcast(b2, &g1, 0) == 0, "attach b2");
	b2_attached = true;
	CHECK(ibv_attach_mcast(b2, &g1, 0) == 0, "attach b2 again");
	for (i = 0; i < 2; i++)
		CHECK(post_recv_qp(p.b.qp, &p.b, 10 + i, 4096 * i) == 0 &&
		      post_recv_qp(b2, &p.b, 20 + i, 16384 + 4096 * i) == 0,
		      "post_recv");
	av.grh.dgid = g1;
	ah1 = ibv_create_ah(p.a.pd, &av);
	av.grh.dgid = g2;
	ah2 = ibv_create_ah(p.a.pd, &av);
	CHECK(ah1 && ah2, "multicast AHs: %s", strerror(errno));

	CHECK(mc_send(&p, ah1, 1) == 0, "first send");
	for (i = 0; i < 2; i++) {
		CHECK(wait_wc(p.b.cq, &wc) == 0, "only %d of 2 copies", i);
		CHECK(wc.status == IBV_WC_SUCCESS &&
		      wc.byte_len == 40 + MC_PAYLOAD &&
		      wc.src_qp == p.a.qp->qp_num && (wc.wc_flags & IBV_WC_GRH),
		      "copy: %s, %u bytes, from QP %u",
		      ibv_wc_status_str(wc.status), wc.byte_len, wc.src_qp);
		CHECK(memcmp(p.b.buf + (wc.qp_num == b2->qp_num ? 16384 : 0) + 40,
			     p.a.buf, MC_PAYLOAD) == 0, "copy's bytes differ");
		got_b += wc.qp_num == p.b.qp->qp_num;
		got_b2 += wc.qp_num == b2->qp_num;
	}
	CHECK(got_b == 1 && got_b2 == 1, "copies: b %d, b2 %d", got_b, got_b2);
	CHECK(cq_stays_empty(p.b.cq, &wc), "a third copy (QP %u)", wc.qp_num);

	/* b2 leaves: the next datagram reaches b only. */
	CHECK(ibv_detach_mcast(b2, &g1, 0) == 0, "detach b2");
	b2_attached = false;
	CHECK(ibv_detach_mcast(b2, &g1, 0) != 0, "detached twice");
	CHECK(mc_send(&p, ah1, 2) == 0, "second send");
	CHECK(wait_wc(p.b.cq, &wc) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.qp_num == p.b.qp->qp_num, "b's copy: %s, QP %u",
	      ibv_wc_status_str(wc.status), wc.qp_num);
	CHECK(memcmp(p.b.buf + 4096 + 40, p.a.buf, MC_PAYLOAD) == 0,
	      "copy's bytes differ");
	CHECK(cq_stays_empty(p.b.cq, &wc), "the detached QP got a copy");

	/* A group nobody joined: sent, and received by no one. */
	CHECK(post_recv_qp(p.b.qp, &p.b, 12, 8192) == 0, "post_recv");
	CHECK(mc_send(&p, ah2, 3) == 0, "send to an empty group");
	CHECK(cq_stays_empty(p.b.cq, &wc), "QP %u got a datagram of a group "
	      "it never joined", wc.qp_num);
	CHECK(mc0 >= 0 && mirror_test_counter(b_dev, "rx_mcast") >= mc0 + 3,
	      "rx_mcast counted %lld copies, want 3",
	      mirror_test_counter(b_dev, "rx_mcast") - mc0);
	note("2 QPs of %s attached: 2 copies; one detached: 1; none: 0", b_dev);
	rc = 0;
out:
	if (b2_attached)
		ibv_detach_mcast(b2, &g1, 0);
	if (b_attached)
		ibv_detach_mcast(p.b.qp, &g1, 0);
	if (ah1)
		ibv_destroy_ah(ah1);
	if (ah2)
		ibv_destroy_ah(ah2);
	if (b2)
		ibv_destroy_qp(b2);
	pair_fini(&p);
	return rc;
}

/*
 * Multicast over IPv6: a datagram from an IPv6 GID to a group of ff00::/8
 * goes out as an IPv6 UDP datagram to that group and reaches the QP
 * attached to it, the whole IPv6 header in its GRH area. Verbs only:
 * rdma_cm cannot join an IPv6 group on RoCEv2 (ib_core's cma answers
 * ENOTSUPP, whatever the device).
 */
static int test_ud_multicast_over_ipv6(void)
{
	/* ff1e::4d:7701, a transient group of global scope. */
	union ibv_gid grp = { .raw = { 0xff, 0x1e, [13] = 0x4d, [14] = 0x77,
				       [15] = 0x01 } };
	struct ibv_ah_attr av = peer_av();
	struct ibv_ah *ah = NULL;
	bool attached = false;
	union ibv_gid src;
	struct ibv_wc wc;
	struct pair p = {};
	int src_idx;
	int rc = -1;

	SKIP_ON_LOSSY("UD loses datagrams by design");
	CHECK(mirror_test_ipv6_gid(ctx, &src_idx, &src) == 0, "%s has no IPv6 GID",
	      dev_name);
	CHECK(pair_init(&p, IBV_QPT_UD, 0) == 0, "setup");
	CHECK(ibv_attach_mcast(p.b.qp, &grp, 0) == 0, "attach b");
	attached = true;
	CHECK(post_recv_qp(p.b.qp, &p.b, 10, 0) == 0, "post_recv");
	av.grh.dgid = grp;
	av.grh.sgid_index = (uint8_t)src_idx;
	ah = ibv_create_ah(p.a.pd, &av);
	CHECK(ah, "an AH from GID %d to an IPv6 group: %s", src_idx,
	      strerror(errno));
	CHECK(mc_send(&p, ah, 4) == 0, "send");
	CHECK(wait_wc(p.b.cq, &wc) == 0, "the attached QP got no copy");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.qp_num == p.b.qp->qp_num &&
	      wc.src_qp == p.a.qp->qp_num && (wc.wc_flags & IBV_WC_GRH) &&
	      wc.byte_len == 40 + MC_PAYLOAD,
	      "copy: %s, QP %u from %u, %u bytes", ibv_wc_status_str(wc.status),
	      wc.qp_num, wc.src_qp, wc.byte_len);
	CHECK(wc.sl == 0x9, "sl 0x%x, want 0x9 (RoCEv2 over IPv6)", wc.sl);
	CHECK((p.b.buf[0] & 0xf0) == 0x60, "the GRH area holds no IPv6 header");
	CHECK(!memcmp(p.b.buf + 8, src.raw, 16),
	      "the IPv6 source is not a's GID %d", src_idx);
	CHECK(!memcmp(p.b.buf + 24, grp.raw, 16),
	      "the IPv6 destination is not the group");
	CHECK(!memcmp(p.b.buf + 40, p.a.buf, MC_PAYLOAD), "copy's bytes differ");
	CHECK(cq_stays_empty(p.b.cq, &wc), "a second copy (QP %u)", wc.qp_num);
	note("from GID %d (IPv6) to ff1e::4d:7701: one copy, IPv6 header", src_idx);
	rc = 0;
out:
	if (attached)
		ibv_detach_mcast(p.b.qp, &grp, 0);
	if (ah)
		ibv_destroy_ah(ah);
	pair_fini(&p);
	return rc;
}

/* Multicast is for UD: an RC QP cannot be attached. */
static int test_rc_qp_cannot_attach_to_a_group(void)
{
	union ibv_gid g = mc_gid(3);
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC, 7) == 0, "setup");
	CHECK(ibv_attach_mcast(p.a.qp, &g, 0) == EINVAL,
	      "an RC QP was attached");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* ---------------------------------------------------------------------- */
/*
 * ATOMIC WRITE (ibv_wr_atomic_write()): 8 bytes stored at once at the
 * responder, on RC only. Side a gets an extended QP (the ibv_wr_* API
 * carries the operation), connected to a new QP of side b. The rig (its
 * pair, and b's target MR) serves FLUSH below too.
 */
struct op_rig {
	struct pair p;
	struct ibv_qp *qa, *qb;	/* ATOMIC WRITE: extended QP a, its peer */
	struct ibv_mr *target;	/* b's MR the operations aim at */
	char *mem;
	bool mapped;
};

/* Registers b's target: its buffer, or fresh anonymous memory for ODP. */
static int op_rig_target(struct op_rig *r, int access, bool odp)
{
	r->mem = r->p.b.buf;
	if (odp) {
		r->mem = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->mem == MAP_FAILED) {
			r->mem = NULL;
			return -1;
		}
		r->mapped = true;
		access |= IBV_ACCESS_ON_DEMAND;
	}
	r->target = ibv_reg_mr(r->p.b.pd, r->mem, BUF_SIZE, access);
	return r->target ? 0 : -1;
}

static int aw_rig_init(struct op_rig *r, int target_access, bool odp)
{
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE,
	};
	struct ibv_qp_init_attr ib = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	int qp_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			IBV_ACCESS_REMOTE_ATOMIC;

	memset(r, 0, sizeof(*r));
	if (pair_init(&r->p, IBV_QPT_RC, 7))
		return -1;
	ia.pd = r->p.a.pd;
	ia.send_cq = ia.recv_cq = r->p.a.cq;
	r->qa = ibv_create_qp_ex(ctx, &ia);
	ib.send_cq = ib.recv_cq = r->p.b.cq;
	r->qb = ibv_create_qp(r->p.b.pd, &ib);
	if (!r->qa || !r->qb)
		return -1;
	if (connect_qp(r->qa, true, r->qb->qp_num, 7, qp_access) ||
	    connect_qp(r->qb, false, r->qa->qp_num, 7, qp_access))
		return -1;
	return op_rig_target(r, target_access, odp);
}

static void op_rig_fini(struct op_rig *r)
{
	if (r->qa)
		ibv_destroy_qp(r->qa);
	if (r->qb)
		ibv_destroy_qp(r->qb);
	if (r->target)
		ibv_dereg_mr(r->target);
	if (r->mapped)
		munmap(r->mem, BUF_SIZE);
	pair_fini(&r->p);
}

/* Posts ATOMIC WRITEs of @vals[i] to b's target at @off[i] (wr_id 100+i). */
static int aw_post(struct op_rig *r, const uint64_t *vals, const uint32_t *off,
		   int n)
{
	struct ibv_qp_ex *qx = ibv_qp_to_qp_ex(r->qa);
	int i;

	ibv_wr_start(qx);
	for (i = 0; i < n; i++) {
		qx->wr_id = 100 + i;
		qx->wr_flags = IBV_SEND_SIGNALED;
		ibv_wr_atomic_write(qx, r->target->rkey,
				    (uintptr_t)r->mem + off[i], &vals[i]);
	}
	return ibv_wr_complete(qx);
}

static int atomic_write_stores(bool odp)
{
	uint64_t vals[2] = { 0x0123456789abcdefULL, 0xfedcba9876543210ULL };
	uint32_t off[2] = { 4096, 4096 + 8 * 1000 };
	struct ibv_wc wc;
	struct op_rig r;
	int rc = -1, i;

	CHECK(aw_rig_init(&r, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
			  odp) == 0, "setup: %s", strerror(errno));
	CHECK(aw_post(&r, vals, off, 2) == 0, "post: %s", strerror(errno));
	for (i = 0; i < 2; i++) {
		CHECK(wait_wc(r.p.a.cq, &wc) == 0, "no completion");
		CHECK(wc.status == IBV_WC_SUCCESS &&
		      wc.wr_id == (uint64_t)(100 + i) &&
		      wc.opcode == IBV_WC_ATOMIC_WRITE,
		      "atomic write %d: %s, opcode %d", i,
		      ibv_wc_status_str(wc.status), wc.opcode);
	}
	for (i = 0; i < 2; i++)
		CHECK(memcmp(r.mem + off[i], &vals[i], 8) == 0,
		      "the 8 bytes at %u differ", off[i]);
	CHECK(r.mem[off[0] - 1] == 0 && r.mem[off[0] + 8] == 0,
	      "bytes around the target changed");
	note("two ATOMIC WRITEs into %s memory, both landed",
	     odp ? "ODP (not yet faulted)" : "pinned");
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

static int test_rc_atomic_write_stores_8_bytes(void)
{
	return atomic_write_stores(false);
}

static int test_rc_atomic_write_into_odp_memory(void)
{
	return atomic_write_stores(true);
}

/* An ATOMIC WRITE refused by the responder: @want, then the next flushed. */
static int atomic_write_refused(int target_access, uint32_t first_off,
				enum ibv_wc_status want)
{
	uint64_t vals[2] = { 1, 2 };
	uint32_t off[2] = { first_off, 64 };
	struct op_rig r;
	int rc = -1;

	CHECK(aw_rig_init(&r, target_access, false) == 0, "setup");
	CHECK(aw_post(&r, vals, off, 2) == 0, "post: %s", strerror(errno));
	if (expect_error_then_flush(&r.p, want))
		goto out;
	CHECK(r.mem[first_off] == 0, "the refused write landed");
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

static int test_rc_misaligned_atomic_write_is_rem_inv_req_err(void)
{
	return atomic_write_refused(IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_WRITE, 4100,
				    IBV_WC_REM_INV_REQ_ERR);
}

static int test_rc_atomic_write_without_remote_write_is_rem_access_err(void)
{
	return atomic_write_refused(IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_ATOMIC, 4096,
				    IBV_WC_REM_ACCESS_ERR);
}

/*
 * An ATOMIC WRITE whose answer is lost (the gap rule drops the first packet
 * with PSN GAP_AW_PSN leaving mirror1): the requester sends it again after
 * its timeout, and the responder, which placed the 8 bytes already,
 * answers the repeated request without storing them again. b overwrites
 * the word once it has landed: the word must keep b's value.
 */
static int test_rc_atomic_write_answer_lost_is_answered_not_run_again(void)
{
	uint64_t val = 0x1122334455667788ULL, mine = 0x5a5a5a5a5a5a5a5aULL;
	uint32_t off = 4096;
	volatile uint64_t *w = NULL;
	long long d0, dups;
	struct ibv_wc wc;
	struct op_rig r;
	int rc = -1, ret, i;

	SKIP_WITHOUT_GAP_RULES();
	pair_psn = GAP_AW_PSN;
	ret = aw_rig_init(&r, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
			  false);
	pair_psn = 0;
	CHECK(ret == 0, "setup: %s", strerror(errno));
	w = (volatile uint64_t *)(r.mem + off);
	d0 = mirror_test_counter(peer_name, "duplicate_requests");
	CHECK(aw_post(&r, &val, &off, 1) == 0, "post: %s", strerror(errno));
	for (i = 0; i < 100000 && *w != val; i++)
		usleep(50);
	CHECK(*w == val, "the ATOMIC WRITE did not land in %d ms", i / 20);
	*w = mine;
	CHECK(wait_wc(r.p.a.cq, &wc) == 0, "no completion");
	CHECK(wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_ATOMIC_WRITE,
	      "atomic write: %s, opcode %d", ibv_wc_status_str(wc.status),
	      wc.opcode);
	dups = counter_delta(peer_name, "duplicate_requests", d0);
	CHECK(dups == 1, "the responder saw %lld repeated requests, want 1",
	      dups);
	CHECK(*w == mine, "the repeated ATOMIC WRITE was run again: %#llx",
	      (unsigned long long)*w);
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

/* ---------------------------------------------------------------------- */
/*
 * FLUSH (mirrorv_post_flush(): rdma-core 44 has no ibv_wr_flush()): a's QP
 * flushes b's target MR, both b's MR and b's QP allowing FLUSH unless a
 * case takes that away.
 */
#define FLUSH_QP_ACCESS                                                        \
	(IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |                    \
	 IBV_ACCESS_REMOTE_ATOMIC | MIRRORV_ACCESS_FLUSH_GLOBAL)
#define FLUSH_MR_ACCESS                                                        \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |                    \
	 MIRRORV_ACCESS_FLUSH_GLOBAL)
#define DEVICE_FLUSH_GLOBAL	(1ULL << 38)	/* device_cap_flags_ex */

static bool flush_offered(struct ibv_context *c)
{
	struct ibv_device_attr_ex a = {};

	return !ibv_query_device_ex(c, NULL, &a) &&
	       (a.device_cap_flags_ex & DEVICE_FLUSH_GLOBAL);
}

#define SKIP_WITHOUT_FLUSH()                                                   \
	do {                                                                   \
		if (!mirrorv_is_mirror_device(ctx->device))                    \
			SKIP("the requester %s is not a mirror device, and "   \
			     "rdma-core 44 has no ibv_wr_flush()", dev_name); \
		if (!flush_offered(peer_ctx))                                  \
			SKIP("%s offers no FLUSH (device_cap_flags_ex bit "    \
			     "38: Linux 6.2 and later)",                       \
			     ibv_get_device_name(peer_ctx->device));           \
	} while (0)

/*
 * The pair's own QPs (no extended ones: @r->qa and @r->qb stay NULL); b's
 * QP gets @qp_access, its target MR @mr_access (ODP memory: @odp).
 */
static int fl_rig_init(struct op_rig *r, int mr_access, int qp_access,
		       bool odp)
{
	struct ibv_qp_attr a = { .qp_access_flags = qp_access };

	memset(r, 0, sizeof(*r));
	if (pair_init(&r->p, IBV_QPT_RC, 7) ||
	    ibv_modify_qp(r->p.b.qp, &a, IBV_QP_ACCESS_FLAGS))
		return -1;
	return op_rig_target(r, mr_access, odp);
}

/* A FLUSH of b's target (wr_id @wr_id, signaled). */
static int fl_post(struct op_rig *r, uint64_t wr_id, uint32_t off,
		   uint64_t len, uint8_t type, uint8_t level)
{
	return mirrorv_post_flush(r->p.a.qp, wr_id, IBV_SEND_SIGNALED,
				  r->target->rkey, (uintptr_t)r->mem + off,
				  len, type, level);
}

static int expect_flush_done(struct op_rig *r, uint64_t wr_id)
{
	struct ibv_wc wc;

	if (wait_wc(r->p.a.cq, &wc)) {
		snprintf(failmsg, sizeof(failmsg), "no completion");
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS || wc.wr_id != wr_id ||
	    wc.opcode != MIRRORV_WC_FLUSH) {
		snprintf(failmsg, sizeof(failmsg),
			 "flush: %s, wr_id %lu, opcode %d (want %d)",
			 ibv_wc_status_str(wc.status), (unsigned long)wc.wr_id,
			 wc.opcode, MIRRORV_WC_FLUSH);
		return -1;
	}
	return 0;
}

/*
 * WRITEs, then a FLUSH of their range: the FLUSH completes after them, and
 * the bytes are in b's memory when it does.
 */
static int test_rc_flush_after_writes_completes_after_them(void)
{
	const uint32_t len = 3 * 4096 + 100;
	struct ibv_wc wc;
	struct op_rig r;
	int rc = -1, i;

	SKIP_WITHOUT_FLUSH();
	CHECK(fl_rig_init(&r, FLUSH_MR_ACCESS, FLUSH_QP_ACCESS, false) == 0,
	      "setup: %s", strerror(errno));
	fill(r.p.a.buf, 2 * len, 41);
	for (i = 0; i < 2; i++)
		CHECK(post_send(&r.p, IBV_WR_RDMA_WRITE, 10 + i, i * len, len,
				r.p.a.mr->lkey, (uintptr_t)r.mem + i * len,
				r.target->rkey, 0) == 0, "post write %d", i);
	CHECK(fl_post(&r, 20, 0, 2 * len, MIRRORV_FLUSH_GLOBAL,
		      MIRRORV_FLUSH_RANGE) == 0, "post flush: %s",
	      strerror(errno));
	for (i = 0; i < 2; i++)
		CHECK(wait_wc(r.p.a.cq, &wc) == 0 && wc.wr_id == 10u + i &&
		      wc.status == IBV_WC_SUCCESS, "write %d: %s", i,
		      ibv_wc_status_str(wc.status));
	if (expect_flush_done(&r, 20))
		goto out;
	CHECK(memcmp(r.mem, r.p.a.buf, 2 * len) == 0,
	      "the written bytes are not in b's memory");
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

/* One FLUSH at @level of b's target (@odp: ODP memory), which completes. */
static int flush_done(bool odp, uint32_t off, uint64_t len, uint8_t level)
{
	struct op_rig r;
	int rc = -1;

	SKIP_WITHOUT_FLUSH();
	CHECK(fl_rig_init(&r, FLUSH_MR_ACCESS, FLUSH_QP_ACCESS, odp) == 0,
	      "setup: %s", strerror(errno));
	CHECK(fl_post(&r, 20, off, len, MIRRORV_FLUSH_GLOBAL, level) == 0,
	      "post flush: %s", strerror(errno));
	if (expect_flush_done(&r, 20))
		goto out;
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

/* The whole MR: the address and length are not looked at. */
static int test_rc_flush_of_the_whole_mr(void)
{
	return flush_done(false, 0, 0, MIRRORV_FLUSH_MR);
}

/* ODP memory never touched: nothing to fault, nothing to refuse. */
static int test_rc_flush_of_odp_memory(void)
{
	return flush_done(true, 4096, 8 * 4096, MIRRORV_FLUSH_RANGE);
}

/* A FLUSH the target refuses: @want, then a WRITE behind it flushed. */
static int flush_refused(int mr_access, int qp_access, uint32_t off,
			 uint64_t len, uint8_t type, enum ibv_wc_status want)
{
	struct op_rig r;
	int rc = -1;

	SKIP_WITHOUT_FLUSH();
	CHECK(fl_rig_init(&r, mr_access, qp_access, false) == 0, "setup: %s",
	      strerror(errno));
	CHECK(fl_post(&r, 100, off, len, type, MIRRORV_FLUSH_RANGE) == 0,
	      "post flush: %s", strerror(errno));
	CHECK(post_send(&r.p, IBV_WR_RDMA_WRITE, 101, 0, 64, r.p.a.mr->lkey,
			(uintptr_t)r.mem, r.target->rkey, 0) == 0,
	      "post write");
	if (expect_error_then_flush(&r.p, want))
		goto out;
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

static int test_rc_flush_without_mr_flush_access_is_rem_access_err(void)
{
	return flush_refused(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
			     FLUSH_QP_ACCESS, 0, 4096, MIRRORV_FLUSH_GLOBAL,
			     IBV_WC_REM_ACCESS_ERR);
}

static int test_rc_flush_without_qp_flush_access_is_rem_access_err(void)
{
	return flush_refused(FLUSH_MR_ACCESS,
			     FLUSH_QP_ACCESS & ~MIRRORV_ACCESS_FLUSH_GLOBAL, 0,
			     4096, MIRRORV_FLUSH_GLOBAL,
			     IBV_WC_REM_ACCESS_ERR);
}

static int test_rc_flush_beyond_the_mr_is_rem_access_err(void)
{
	return flush_refused(FLUSH_MR_ACCESS, FLUSH_QP_ACCESS, BUF_SIZE - 64,
			     128, MIRRORV_FLUSH_GLOBAL, IBV_WC_REM_ACCESS_ERR);
}

/* Persistence (placement type 2) is not offered by a mirror device. */
static int test_rc_flush_to_persistence_is_rem_inv_req_err(void)
{
	if (!mirrorv_is_mirror_device(peer_ctx->device))
		SKIP("%s may offer persistence",
		     ibv_get_device_name(peer_ctx->device));
	return flush_refused(FLUSH_MR_ACCESS, FLUSH_QP_ACCESS, 0, 4096, 2,
			     IBV_WC_REM_INV_REQ_ERR);
}

/*
 * What the device says of FLUSH is what it does: an MR takes the access
 * exactly when device_cap_flags_ex says FLUSH to global visibility (so
 * not on 6.1), and never the access for persistence.
 */
static int test_flush_caps_match_what_registration_takes(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	char *buf = calloc(1, 4096);
	struct ibv_mr *g = NULL, *pm = NULL;
	bool offered = flush_offered(ctx);
	int rc = -1;

	CHECK(pd && buf, "setup");
	g = ibv_reg_mr(pd, buf, 4096, FLUSH_MR_ACCESS);
	CHECK(!g == !offered, "FLUSH %s offered, and an MR with its access %s",
	      offered ? "is" : "is not", g ? "registered" : "was refused");
	pm = ibv_reg_mr(pd, buf, 4096, IBV_ACCESS_LOCAL_WRITE | (1 << 9));
	CHECK(!pm, "an MR took FLUSH to persistence");
	note("FLUSH to global visibility %soffered", offered ? "" : "not ");
	rc = 0;
out:
	if (g)
		ibv_dereg_mr(g);
	if (pm)
		ibv_dereg_mr(pm);
	if (pd)
		ibv_dealloc_pd(pd);
	free(buf);
	return rc;
}

/*
 * A FLUSH whose answer is lost (the gap rule drops the first packet with
 * PSN GAP_FLUSH_PSN leaving mirror1): sent again after the timeout, and
 * answered again by the responder, which sees one repeated request.
 */
static int test_rc_flush_answer_lost_is_answered_again(void)
{
	long long d0, dups;
	struct op_rig r;
	int rc = -1, ret;

	SKIP_WITHOUT_GAP_RULES();
	SKIP_WITHOUT_FLUSH();
	pair_psn = GAP_FLUSH_PSN;
	ret = fl_rig_init(&r, FLUSH_MR_ACCESS, FLUSH_QP_ACCESS, false);
	pair_psn = 0;
	CHECK(ret == 0, "setup: %s", strerror(errno));
	d0 = mirror_test_counter(peer_name, "duplicate_requests");
	CHECK(fl_post(&r, 20, 0, 4096, MIRRORV_FLUSH_GLOBAL,
		      MIRRORV_FLUSH_RANGE) == 0, "post flush: %s",
	      strerror(errno));
	if (expect_flush_done(&r, 20))
		goto out;
	dups = counter_delta(peer_name, "duplicate_requests", d0);
	CHECK(dups == 1, "the responder saw %lld repeated requests, want 1",
	      dups);
	rc = 0;
out:
	op_rig_fini(&r);
	return rc;
}

/* mirrorv_post_flush() takes RC QPs only. */
static int test_uc_flush_is_refused(void)
{
	struct pair p = {};
	int rc = -1;

	CHECK(pair_init(&p, IBV_QPT_UC, 7) == 0, "setup");
	CHECK(mirrorv_post_flush(p.a.qp, 1, IBV_SEND_SIGNALED, p.b.mr->rkey,
				 (uintptr_t)p.b.buf, 64, MIRRORV_FLUSH_GLOBAL,
				 MIRRORV_FLUSH_RANGE) == EINVAL,
	      "a UC QP took a FLUSH");
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

/* ATOMIC WRITE is for RC: a UC extended QP cannot be created with it. */
static int test_uc_qp_with_atomic_write_is_refused(void)
{
	struct ibv_qp_init_attr_ex ia = {
		.qp_type = IBV_QPT_UC,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_WRITE,
	};
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 8, NULL, NULL, 0);
	struct ibv_qp *qp = NULL;
	int rc = -1;

	CHECK(pd && cq, "setup");
	ia.pd = pd;
	ia.send_cq = ia.recv_cq = cq;
	qp = ibv_create_qp_ex(ctx, &ia);
	CHECK(!qp, "a UC QP took ATOMIC WRITE");
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

static const struct test tests[] = {
	T(rc_send_recv_moves_bytes),
	T(uc_send_recv_moves_bytes),
	T(ud_send_recv_moves_bytes),
	T(rc_inline_send),
	T(rc_rdma_write_moves_bytes),
	T(uc_rdma_write_moves_bytes),
	T(rc_rdma_read_moves_bytes),
	T(rc_query_qp_reports_the_current_psns),
	T(rc_wrong_rkey_is_rem_access_err),
	T(rc_write_past_remote_mr_is_rem_access_err),
	T(rc_bad_lkey_is_loc_prot_err),
	T(rc_too_long_send_is_rem_inv_req_err),
	T(rc_no_receive_is_rnr_retry_exc_err),
	T(rc_late_receive_succeeds_after_rnr),
	T(rc_destroy_during_rnr_wait),
	T(rc_doorbells_leave_rnr_wait),
	T(rc_destroyed_peer_is_retry_exc_err),
	T(rc_unsupported_opcode_is_loc_qp_op_err),
	T(rc_atomics_return_old_value_and_update),
	T(rc_misaligned_atomic_is_rem_inv_req_err),
	T(rc_atomic_without_atomic_access_is_rem_access_err),
	T(rc_send_with_inv_of_a_user_mr_is_rem_inv_req_err),
	T(rc_atomic_into_4_bytes_is_loc_len_err),
	T(rc_concurrent_fetch_add_loses_no_update),
	T(err_state_flushes_posted_receives),
	T(srq_feeds_two_qps_in_order),
	T(srq_limit_event_fires_once),
	T(srq_qp_error_is_last_wqe_reached_not_flush),
	T(srq_empty_is_rnr_retry_exc_err),
	T_DEV(srq_create_limits_are_checked),
	T_DEV(thousands_of_qps_come_and_go),
	T(rc_send_resends_from_the_lost_packet),
	T(rc_read_asks_again_only_for_lost_responses),
	T(rc_read_after_a_lost_response_is_not_asked_again),
	T(rc_writes_after_a_timeout_all_complete),
	T(completion_channel_wakes_up),
	T(many_signaled_writes_all_complete),
	T(rc_messages_longer_than_the_window_follow_each_other),
	T(rc_type1_window_moves_bytes),
	T(rc_type2_window_moves_bytes),
	T(rc_window_over_an_odp_mr_moves_bytes),
	T(rc_window_over_an_implicit_mr_moves_bytes),
	T(rc_bind_beyond_the_mr_is_mw_bind_err),
	T(rc_bind_without_mw_bind_access_is_mw_bind_err),
	T(rc_writable_window_over_a_read_only_mr_is_mw_bind_err),
	T(rc_zero_based_window_is_mw_bind_err),
	T(rc_write_past_a_window_is_rem_access_err),
	T(rc_read_through_a_write_only_window_is_rem_access_err),
	T(rc_mr_rkey_is_not_the_window_is_rem_access_err),
	T(rc_type1_window_bound_to_nothing_grants_nothing),
	T(rc_type2_window_after_local_inv_grants_nothing),
	T(rc_type2_window_after_send_with_inv_grants_nothing),
	T(rc_type2_window_after_dealloc_grants_nothing),
	T(rc_rebind_of_a_bound_type2_window_is_mw_bind_err),
	T(rc_local_inv_of_a_type1_window_is_loc_prot_err),
	T(rc_mr_under_a_bound_window_is_busy),
	T(rc_type2_window_serves_only_its_qp),
	T(rc_window_invalidated_in_use_ends_the_writes),
	T(ud_multicast_reaches_every_attached_qp),
	T(ud_multicast_over_ipv6),
	T_DEV(rc_qp_cannot_attach_to_a_group),
	T(rc_atomic_write_stores_8_bytes),
	T(rc_atomic_write_into_odp_memory),
	T(rc_misaligned_atomic_write_is_rem_inv_req_err),
	T(rc_atomic_write_without_remote_write_is_rem_access_err),
	T(rc_atomic_write_answer_lost_is_answered_not_run_again),
	T(rc_flush_after_writes_completes_after_them),
	T(rc_flush_of_the_whole_mr),
	T(rc_flush_of_odp_memory),
	T(rc_flush_without_mr_flush_access_is_rem_access_err),
	T(rc_flush_without_qp_flush_access_is_rem_access_err),
	T(rc_flush_beyond_the_mr_is_rem_access_err),
	T(rc_flush_to_persistence_is_rem_inv_req_err),
	T(rc_flush_answer_lost_is_answered_again),
	T_DEV(flush_caps_match_what_registration_takes),
	T_DEV(uc_flush_is_refused),
	T_DEV(uc_qp_with_atomic_write_is_refused),
};

int main(int argc, char **argv)
{
	return mirror_tap_main(argc, argv, tests,
			       (int)(sizeof(tests) / sizeof(tests[0])), true);
}
