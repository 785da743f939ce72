// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * pkt_traffic.c - the real RoCEv2 conversation the packet fuzzer captures
 * and attacks (tests/fuzz/pkt_fuzz.py): RC, UC and UD QP pairs between two
 * devices on the two ends of a veth pair, running every opcode in both
 * directions - RC WRITE, WRITE with immediate, READ, SEND, SEND with
 * immediate, fetch-and-add and compare-and-swap; UC SEND and WRITE; UD
 * SEND. Device A's buffer is a pinned MR, device B's an ODP MR, so the
 * fuzzer meets both kinds of memory.
 *
 *   pkt_traffic -a DEV_A -b DEV_B -t SECONDS   rounds for SECONDS
 *   pkt_traffic -a DEV_A -b DEV_B -V           three rounds, checked
 *
 * In the first mode forged packets are arriving: a round may end in error
 * completions or not end at all. Such a pair is torn down and made anew
 * (fresh QPNs and PSNs, which the fuzzer captures again), so that real
 * connected QPs stand in the fuzzer's way for the whole run. The mode
 * prints what happened and fails only when the devices refuse to make QPs.
 *
 * -V runs after the fuzzer is gone: fresh pairs, three rounds that must
 * all complete successfully, every byte that moved compared with what was
 * sent and the atomics' results checked. It prints one TAP line.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <infiniband/mirrorverbs.h>
#include <infiniband/verbs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mirror_testlib.h"

#define BUF_SIZE	(64 * 1024)
#define CQ_DEPTH	256
#define QKEY		0x11111111u
#define UD_GRH		40	/* a UD receive starts with room for the GRH */

/* Where each operation's bytes live in both sides' buffers. */
enum {
	OFF_WRITE_SRC = 0,	OFF_WRITE_DST = 4096,	LEN_WRITE = 3000,
	OFF_READ_SRC = 8192,	OFF_READ_DST = 12288,	LEN_READ = 3000,
	OFF_SEND_SRC = 16384,	OFF_RECV = 20480,	LEN_SEND = 2000,
	OFF_IMM_SRC = 24576,	OFF_IMM_DST = 28672,	LEN_IMM = 500,
	OFF_ATOMIC = 32768,	OFF_ATOMIC_RES = 32784,
	OFF_UC_SRC = 36864,	OFF_UC_DST = 40960,	LEN_UC = 1500,
	OFF_UD_SRC = 45056,	OFF_UD_RECV = 49152,	LEN_UD = 512,
};

enum kind { K_RC, K_UC, K_UD, K_COUNT };

static const char *const kind_name[K_COUNT] = { "RC", "UC", "UD" };

struct side {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	char *buf;
	int gidx;
	union ibv_gid gid;
	struct ibv_qp *qp[K_COUNT];
	struct ibv_ah *ah;		/* UD: to the other side */
	bool flush;			/* the device offers FLUSH */
};

struct stats {
	unsigned long rounds[K_COUNT];
	unsigned long failed[K_COUNT];
	unsigned long remade[K_COUNT];
};

static struct side side[2];
static double scale = 1.0;
static uint32_t psn_seed;
static bool tell;		/* -V: say why a round failed */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* FLUSH to global visibility: bit 38 of device_cap_flags_ex (6.2+). */
static bool flush_offered(struct ibv_context *c)
{
	struct ibv_device_attr_ex a = {};

	return !ibv_query_device_ex(c, NULL, &a) &&
	       (a.device_cap_flags_ex & (1ULL << 38));
}

static int open_side(struct side *s, const char *name, bool odp)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;

	s->ctx = mirror_test_open(name);
	if (!s->ctx) {
		fprintf(stderr, "cannot open %s\n", name);
		return -1;
	}
	if (mirror_test_ipv4_gid(s->ctx, NULL, &s->gidx, &s->gid)) {
		fprintf(stderr, "%s has no IPv4 RoCEv2 GID\n", name);
		return -1;
	}
	s->flush = flush_offered(s->ctx);
	if (s->flush)
		access |= MIRRORV_ACCESS_FLUSH_GLOBAL;
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = s->pd ? ibv_create_cq(s->ctx, CQ_DEPTH, NULL, NULL, 0) : NULL;
	s->buf = aligned_alloc(4096, BUF_SIZE);
	if (!s->cq || !s->buf)
		return -1;
	memset(s->buf, 0, BUF_SIZE);
	s->mr = ibv_reg_mr(s->pd, s->buf, BUF_SIZE,
			   access | (odp ? IBV_ACCESS_ON_DEMAND : 0));
	if (!s->mr) {
		fprintf(stderr, "reg_mr on %s: %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

static void drop_pair(enum kind k)
{
	int i;

	for (i = 0; i < 2; i++) {
		if (side[i].qp[k])
			ibv_destroy_qp(side[i].qp[k]);
		side[i].qp[k] = NULL;
	}
	/* What the dead QPs completed (flushes) must not count later. */
	for (i = 0; i < 2; i++) {
		struct ibv_wc wc[16];

		while (ibv_poll_cq(side[i].cq, 16, wc) > 0)
			;
	}
}

/* S's QP of kind K to PEER's; S sends from SQ_PSN and expects RQ_PSN. */
static int connect_qp(struct side *s, struct side *peer, enum kind k,
		      uint32_t sq_psn, uint32_t rq_psn)
{
	struct ibv_qp *qp = s->qp[k];
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qkey = QKEY,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};

	if (k == K_RC && s->flush)
		a.qp_access_flags |= MIRRORV_ACCESS_FLUSH_GLOBAL;

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | (k == K_UD ? IBV_QP_QKEY :
					 IBV_QP_ACCESS_FLAGS)))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = peer->qp[k]->qp_num;
	a.rq_psn = rq_psn;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = peer->gid;
	a.ah_attr.grh.sgid_index = (uint8_t)s->gidx;
	a.ah_attr.grh.hop_limit = 64;
	if (ibv_modify_qp(qp, &a, k == K_UD ? IBV_QP_STATE :
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  (k == K_RC ? IBV_QP_MAX_DEST_RD_ATOMIC |
			   IBV_QP_MIN_RNR_TIMER : 0)))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = sq_psn;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			     (k == K_RC ? IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			      IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC :
			      0));
}

/* Both ends of a fresh pair of kind K, connected to each other. */
static int make_pair(enum kind k)
{
	static const enum ibv_qp_type type[K_COUNT] = {
		IBV_QPT_RC, IBV_QPT_UC, IBV_QPT_UD,
	};
	uint32_t psn_a = psn_seed++ & 0xffffff, psn_b = psn_seed++ & 0xffffff;
	int i;

	for (i = 0; i < 2; i++) {
		struct ibv_qp_init_attr init = {
			.send_cq = side[i].cq,
			.recv_cq = side[i].cq,
			.qp_type = type[k],
			.cap = {
				.max_send_wr = 16, .max_recv_wr = 16,
				.max_send_sge = 1, .max_recv_sge = 1,
			},
		};

		side[i].qp[k] = ibv_create_qp(side[i].pd, &init);
		if (!side[i].qp[k])
			goto fail;
	}
	if (connect_qp(&side[0], &side[1], k, psn_a, psn_b) ||
	    connect_qp(&side[1], &side[0], k, psn_b, psn_a))
		goto fail;
	return 0;
fail:
	fprintf(stderr, "%s pair: %s\n", kind_name[k], strerror(errno));
	drop_pair(k);
	return -1;
}

static int make_ah(struct side *s, struct side *peer)
{
	struct ibv_ah_attr av = {
		.is_global = 1,
		.port_num = 1,
		.grh = {
			.dgid = peer->gid,
			.sgid_index = (uint8_t)s->gidx,
			.hop_limit = 64,
		},
	};

	s->ah = ibv_create_ah(s->pd, &av);
	return s->ah ? 0 : -1;
}

static int post_recv(struct side *s, enum kind k, size_t off, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->buf + off,
		.length = len,
		.lkey = s->mr->lkey,
	};
	struct ibv_recv_wr wr = { .sg_list = &sge, .num_sge = 1 }, *bad;

	return ibv_post_recv(s->qp[k], &wr, &bad);
}

/* One work request from S to its peer D on S's QP of kind K. */
static int post(struct side *s, struct side *d, enum kind k,
		enum ibv_wr_opcode op, size_t off, uint32_t len,
		size_t remote_off)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)s->buf + off,
		.length = len,
		.lkey = s->mr->lkey,
	};
	struct ibv_send_wr wr = {
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.imm_data = htobe32(0x1234abcd),
	}, *bad;

	switch (op) {
	case IBV_WR_ATOMIC_FETCH_AND_ADD:
	case IBV_WR_ATOMIC_CMP_AND_SWP:
		wr.wr.atomic.remote_addr = (uintptr_t)d->buf + remote_off;
		wr.wr.atomic.rkey = d->mr->rkey;
		wr.wr.atomic.compare_add = op == IBV_WR_ATOMIC_FETCH_AND_ADD ?
					   1 : 0;
		wr.wr.atomic.swap = 0x5555;
		break;
	case IBV_WR_SEND:
	case IBV_WR_SEND_WITH_IMM:
		if (k == K_UD) {
			wr.wr.ud.ah = s->ah;
			wr.wr.ud.remote_qpn = d->qp[K_UD]->qp_num;
			wr.wr.ud.remote_qkey = QKEY;
		}
		break;
	default:
		wr.wr.rdma.remote_addr = (uintptr_t)d->buf + remote_off;
		wr.wr.rdma.rkey = d->mr->rkey;
		break;
	}
	return ibv_post_send(s->qp[k], &wr, &bad);
}

/*
 * Waits for WANT successful completions on both sides' CQs together;
 * false on an error completion or when the deadline passes.
 */
static bool reap(int want, double secs)
{
	double end = now() + secs * scale;
	struct ibv_wc wc[16];
	int got = 0, i, j, n;

	while (got < want || want < 0) {
		if (now() > end) {
			if (tell)
				printf("# %d of %d completions in time\n",
				       got, want);
			return false;
		}
		for (i = 0; i < 2; i++) {
			n = ibv_poll_cq(side[i].cq, 16, wc);
			for (j = 0; j < n; j++) {
				if (wc[j].status == IBV_WC_SUCCESS) {
					got++;
					continue;
				}
				if (tell)
					printf("# %s: %s (wr opcode %d, vendor error %u)\n",
					       i ? "B" : "A",
					       ibv_wc_status_str(wc[j].status),
					       wc[j].opcode, wc[j].vendor_err);
				if (!tell)
					return false;
				want = -1;	/* see the rest, then fail */
			}
		}
		if (got < want)
			usleep(200);
	}
	return true;
}

static void fill(struct side *s, uint8_t seed)
{
	size_t i;

	for (i = 0; i < BUF_SIZE; i++)
		s->buf[i] = (char)(seed + i * 7);
	/* The atomics' target and result words start known. */
	memset(s->buf + OFF_ATOMIC, 0, 32);
}

/* One round of kind K from S to D: posts everything, reaps everything. */
static bool round_of(struct side *s, struct side *d, enum kind k)
{
	int want;

	switch (k) {
	case K_RC:
		if (post_recv(d, k, OFF_RECV, LEN_SEND) ||
		    post_recv(d, k, OFF_RECV, LEN_SEND) ||
		    post_recv(d, k, OFF_IMM_DST, LEN_IMM) ||
		    post(s, d, k, IBV_WR_RDMA_WRITE, OFF_WRITE_SRC, LEN_WRITE,
			 OFF_WRITE_DST) ||
		    post(s, d, k, IBV_WR_RDMA_READ, OFF_READ_DST, LEN_READ,
			 OFF_READ_SRC) ||
		    post(s, d, k, IBV_WR_SEND, OFF_SEND_SRC, LEN_SEND, 0) ||
		    post(s, d, k, IBV_WR_SEND_WITH_IMM, OFF_SEND_SRC, 64, 0) ||
		    post(s, d, k, IBV_WR_RDMA_WRITE_WITH_IMM, OFF_IMM_SRC,
			 LEN_IMM, OFF_IMM_DST) ||
		    post(s, d, k, IBV_WR_ATOMIC_FETCH_AND_ADD, OFF_ATOMIC_RES,
			 8, OFF_ATOMIC) ||
		    post(s, d, k, IBV_WR_ATOMIC_CMP_AND_SWP, OFF_ATOMIC_RES + 8,
			 8, OFF_ATOMIC + 8))
			return false;
		want = 7 + 3;
		/* FLUSH (FETH + RETH) of what the WRITE wrote, where offered. */
		if (s->flush && d->flush) {
			if (mirrorv_post_flush(s->qp[k], 0, IBV_SEND_SIGNALED,
					       d->mr->rkey,
					       (uintptr_t)d->buf + OFF_WRITE_DST,
					       LEN_WRITE, MIRRORV_FLUSH_GLOBAL,
					       MIRRORV_FLUSH_RANGE))
				return false;
			want++;
		}
		break;
	case K_UC:
		if (post_recv(d, k, OFF_UC_DST, LEN_UC) ||
		    post(s, d, k, IBV_WR_SEND, OFF_UC_SRC, LEN_UC, 0) ||
		    post(s, d, k, IBV_WR_RDMA_WRITE, OFF_UC_SRC, LEN_UC,
			 OFF_UC_DST))
			return false;
		want = 2 + 1;
		break;
	default:
		if (post_recv(d, k, OFF_UD_RECV, UD_GRH + LEN_UD) ||
		    post(s, d, k, IBV_WR_SEND, OFF_UD_SRC, LEN_UD, 0))
			return false;
		want = 1 + 1;
		break;
	}
	return reap(want, 5);
}

/* After a round from S to D in the checked mode: did every byte arrive? */
static const char *verify(struct side *s, struct side *d, enum kind k)
{
	uint64_t v;

	switch (k) {
	case K_RC:
		if (memcmp(d->buf + OFF_WRITE_DST, s->buf + OFF_WRITE_SRC,
			   LEN_WRITE))
			return "RC WRITE data";
		if (memcmp(s->buf + OFF_READ_DST, d->buf + OFF_READ_SRC,
			   LEN_READ))
			return "RC READ data";
		/* The second SEND (64 bytes) overwrote the first's start. */
		if (memcmp(d->buf + OFF_RECV, s->buf + OFF_SEND_SRC, LEN_SEND))
			return "RC SEND data";
		if (memcmp(d->buf + OFF_IMM_DST, s->buf + OFF_IMM_SRC, LEN_IMM))
			return "RC WRITE with immediate data";
		memcpy(&v, d->buf + OFF_ATOMIC, 8);
		if (v != 1)
			return "fetch-and-add target";
		memcpy(&v, d->buf + OFF_ATOMIC + 8, 8);
		if (v != 0x5555)
			return "compare-and-swap target";
		memcpy(&v, s->buf + OFF_ATOMIC_RES, 8);
		if (v != 0)
			return "fetch-and-add original value";
		break;
	case K_UC:
		if (memcmp(d->buf + OFF_UC_DST, s->buf + OFF_UC_SRC, LEN_UC))
			return "UC data";
		break;
	default:
		if (memcmp(d->buf + OFF_UD_RECV + UD_GRH, s->buf + OFF_UD_SRC,
			   LEN_UD))
			return "UD data";
		break;
	}
	return NULL;
}

static int checked_rounds(void)
{
	const char *bad = NULL;
	int r, k, dir;

	for (r = 0; r < 3 && !bad; r++)
		for (dir = 0; dir < 2 && !bad; dir++)
			for (k = 0; k < K_COUNT && !bad; k++) {
				struct side *s = &side[dir], *d = &side[!dir];

				fill(s, (uint8_t)(r * 16 + dir * 4 + k));
				fill(d, (uint8_t)(0x80 + r * 16 + dir * 4 + k));
				if (!round_of(s, d, k))
					bad = kind_name[k];
				else
					bad = verify(s, d, k);
				if (bad)
					printf("# round %d, %s -> %s: %s\n", r,
					       dir ? "B" : "A", dir ? "A" : "B",
					       bad);
			}
	if (bad) {
		printf("not ok - fresh QPs of every kind carry every opcode, byte for byte, after the fuzzing: %s\n",
		       bad);
		return 1;
	}
	printf("ok - fresh QPs of every kind carry every opcode, byte for byte, after the fuzzing\n");
	return 0;
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s -a DEV_A -b DEV_B (-t SECONDS | -V)\n",
		prog);
	return 2;
}

int main(int argc, char **argv)
{
	const char *a = NULL, *b = NULL, *env = getenv("MIRROR_TIME_SCALE");
	struct stats st = { 0 };
	double secs = 0, end;
	bool checked = false;
	int opt, k, dir;

	while ((opt = getopt(argc, argv, "a:b:t:V")) != -1) {
		switch (opt) {
		case 'a': a = optarg; break;
		case 'b': b = optarg; break;
		case 't': secs = atof(optarg); break;
		case 'V': checked = true; break;
		default: return usage(argv[0]);
		}
	}
	if (!a || !b || (!checked && secs <= 0))
		return usage(argv[0]);
	if (env && atof(env) >= 1)
		scale = atof(env);
	psn_seed = (uint32_t)getpid() * 2654435761u;	/* new PSNs per run */
	if (open_side(&side[0], a, false) || open_side(&side[1], b, true) ||
	    make_ah(&side[0], &side[1]) || make_ah(&side[1], &side[0]))
		return 1;
	for (k = 0; k < K_COUNT; k++)
		if (make_pair(k))
			return 1;
	if (checked) {
		tell = true;
		return checked_rounds();
	}

	end = now() + secs;
	while (now() < end) {
		for (k = 0; k < K_COUNT; k++) {
			for (dir = 0; dir < 2; dir++) {
				st.rounds[k]++;
				if (round_of(&side[dir], &side[!dir], k))
					continue;
				/* Forged packets got in its way: a new pair. */
				st.failed[k]++;
				drop_pair(k);
				if (make_pair(k))
					return 1;
				st.remade[k]++;
				break;
			}
		}
		/* Idle moments, in which the next PSN is easy to guess. */
		usleep(2000);
	}
	for (k = 0; k < K_COUNT; k++)
		printf("# traffic %s: %lu rounds, %lu ended early, pair made anew %lu times\n",
		       kind_name[k], st.rounds[k], st.failed[k], st.remade[k]);
	return 0;
}
