// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * uverbs_fuzz.c - random but well-shaped sequences of verbs against mirror
 * devices, from several processes and threads at once, as the local
 * attacker of docs/threat-model.md would send them: objects created,
 * modified and destroyed in random orders; QP state walks with random
 * attribute masks and values; WQEs with random opcodes, SGE counts,
 * lengths, keys and addresses (valid, at the boundaries, invalid); rings
 * and their indices scribbled on by a second thread while the kernel works;
 * ODP and implicit registrations over memory a third thread maps, unmaps,
 * mprotects and forks; advise_mr with random advice and flags; processes
 * killed with SIGKILL at random moments and replaced.
 *
 * The device must answer with errnos and error completions: the run fails
 * if a process crashes (any signal but our SIGKILL), if one makes no
 * progress for a while (a hang), or, after every process is gone, if the
 * device still holds ODP memory. The kernel log is the harness's to judge.
 *
 * Reproducible: every process draws its actions from its own generator,
 * seeded from the run's seed and its number (printed, with the seed of any
 * process that failed); `-s SEED` replays a run (the same actions in the
 * same order per process; how threads interleave is the machine's).
 *
 * Usage: uverbs_fuzz [-d DEVICE] [-W DEVICE2] [-s SEED] [-t SECONDS]
 *                    [-p PROCESSES] [-k KILL_EVERY_MS] [-v]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mirror.h"		/* the provider's rings, to scribble on */
#include "mirrorverbs.h"
#include "mirror_testlib.h"

#define MAX_PROCS	8
#define NPD		4
#define NCQ		6
#define NQP		12
#define NMR		12
#define NAH		6
#define NMW		6
#define ARENA		(64UL << 20)	/* memory the mapper thread churns */
#define BLOCK		(2UL << 20)

/* The actions; their names are the coverage report's rows. */
enum act {
	A_ALLOC_PD, A_DEALLOC_PD, A_CREATE_CQ, A_RESIZE_CQ, A_DESTROY_CQ,
	A_CREATE_QP, A_MODIFY_QP, A_CONNECT_QP, A_DESTROY_QP, A_REG_MR,
	A_REG_ODP, A_REG_IMPLICIT, A_DEREG_MR, A_CREATE_AH, A_DESTROY_AH,
	A_POST_SEND, A_POST_RECV, A_POLL_CQ, A_NOTIFY_CQ, A_ADVISE_MR,
	A_QUERY_QP, A_QUERY_ODP, A_ALLOC_MW, A_DEALLOC_MW, A_ATTACH_MCAST,
	A_DETACH_MCAST, A_COUNT,
};

static const char *const act_name[A_COUNT] = {
	"alloc_pd", "dealloc_pd", "create_cq", "resize_cq", "destroy_cq",
	"create_qp", "modify_qp", "connect_qp", "destroy_qp", "reg_mr",
	"reg_mr odp", "reg_mr implicit", "dereg_mr", "create_ah",
	"destroy_ah", "post_send", "post_recv", "poll_cq", "req_notify_cq",
	"advise_mr", "query_qp", "mirrorv_query_*", "alloc_mw", "dealloc_mw",
	"attach_mcast", "detach_mcast",
};

/* Relative weights: the data path gets most of the draws. */
static const int act_weight[A_COUNT] = {
	3, 2, 3, 2, 2, 4, 6, 8, 2, 4, 3, 1, 3, 2, 1, 30, 12, 12, 2, 3, 2, 2,
	2, 1, 2, 2,
};

/* What every process reports to the parent (shared memory). */
struct report {
	atomic_ullong ops;
	atomic_ullong tried[A_COUNT];
	atomic_ullong ok[A_COUNT];
	atomic_ullong scribbles;
	atomic_ullong mapper_ops;
	atomic_int last_act;
	uint64_t seed;
};

static struct report *rep;	/* MAX_PROCS entries */
static const char *dev_a = "mirror0", *dev_b;
static int verbose;

/* xorshift64*: small, fast, and the same on every machine. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static uint64_t below(uint64_t *s, uint64_t n)
{
	return n ? rnd(s) % n : 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---------------------------------------------------------------------- */
/* One fuzzing process */

struct dev {
	struct ibv_context *ctx;
	int gidx;
	union ibv_gid gid;
};

struct state {
	uint64_t rng;
	struct report *r;
	struct dev dev[2];
	int ndev;
	struct ibv_pd *pd[NPD];
	int pd_dev[NPD];
	struct ibv_cq *cq[NCQ];
	int cq_dev[NCQ];
	struct ibv_qp *qp[NQP];
	int qp_dev[NQP];
	struct ibv_mr *mr[NMR];
	struct ibv_ah *ah[NAH];
	struct ibv_mw *mw[NMW];
	char *heap;			/* plain memory, for pinned MRs */
	char *arena;			/* churned by the mapper thread */
	atomic_bool stop;
	/*
	 * Keeps the scribbler off rings being unmapped (QP and CQ destroy,
	 * CQ resize); every other action runs while it scribbles.
	 */
	pthread_mutex_t lock;
};

static int open_dev(struct dev *d, const char *name)
{
	d->ctx = mirror_test_open(name);
	if (!d->ctx || mirror_test_ipv4_gid(d->ctx, NULL, &d->gidx, &d->gid))
		return -1;
	return 0;
}

/* A random slot of a table: one that holds something, or any. */
static int pick(uint64_t *rng, void **tab, int n, bool want_used)
{
	int i, start = (int)below(rng, n);

	for (i = 0; i < n; i++) {
		int j = (start + i) % n;

		if (!!tab[j] == want_used)
			return j;
	}
	return -1;
}

/* Interesting numbers: boundaries and garbage as often as sane values. */
static uint32_t fuzz_u32(uint64_t *rng, uint32_t sane)
{
	static const uint32_t edge[] = {
		0, 1, 2, 63, 64, 65, 255, 256, 4095, 4096, 4097, 65535, 65536,
		0x7fffffff, 0x80000000, 0xffffffff, 0xfffffffe,
	};

	switch (below(rng, 4)) {
	case 0:
		return edge[below(rng, sizeof(edge) / sizeof(edge[0]))];
	case 1:
		return (uint32_t)rnd(rng);
	default:
		return sane;
	}
}

/* An address: in a buffer we own, at its edges, in the arena, or wild. */
static uint64_t fuzz_addr(struct state *st, uint64_t base, size_t len)
{
	switch (below(&st->rng, 6)) {
	case 0:
		return base + len - below(&st->rng, 16);
	case 1:
		return (uintptr_t)st->arena + below(&st->rng, ARENA);
	case 2:
		return rnd(&st->rng);
	case 3:
		return 0x7ffffffff000UL - below(&st->rng, 4096);
	default:
		return base + below(&st->rng, len);
	}
}

static struct ibv_mr *some_mr(struct state *st)
{
	int i = pick(&st->rng, (void **)st->mr, NMR, true);

	return i < 0 ? NULL : st->mr[i];
}

/* A CQ of device @d, or -1. */
static int pick_cq(struct state *st, int d)
{
	int i, start = (int)below(&st->rng, NCQ);

	for (i = 0; i < NCQ; i++) {
		int j = (start + i) % NCQ;

		if (st->cq[j] && st->cq_dev[j] == d)
			return j;
	}
	return -1;
}

static void act_create_qp(struct state *st)
{
	static const enum ibv_qp_type types[] = { IBV_QPT_RC, IBV_QPT_UC,
						  IBV_QPT_UD };
	int i = pick(&st->rng, (void **)st->qp, NQP, false);
	int p = pick(&st->rng, (void **)st->pd, NPD, true);
	struct ibv_qp_init_attr ia = {};
	int c, d;

	if (i < 0 || p < 0)
		return;
	/* The PD's device; the CQs must be of it too. */
	d = st->pd_dev[p];
	c = pick_cq(st, d);
	if (c < 0)
		return;
	ia.qp_type = types[below(&st->rng, 3)];
	ia.send_cq = st->cq[c];
	ia.recv_cq = st->cq[pick_cq(st, d)];
	ia.cap.max_send_wr = fuzz_u32(&st->rng, 1 + below(&st->rng, 64));
	ia.cap.max_recv_wr = fuzz_u32(&st->rng, 1 + below(&st->rng, 64));
	ia.cap.max_send_sge = fuzz_u32(&st->rng, 1 + below(&st->rng, 4));
	ia.cap.max_recv_sge = fuzz_u32(&st->rng, 1 + below(&st->rng, 4));
	ia.cap.max_inline_data = fuzz_u32(&st->rng, below(&st->rng, 256));
	ia.sq_sig_all = below(&st->rng, 2);
	st->qp[i] = ibv_create_qp(st->pd[p], &ia);
	st->qp_dev[i] = d;
	if (st->qp[i])
		atomic_fetch_add(&st->r->ok[A_CREATE_QP], 1);
}

/* A state walk with random masks and values, valid or not. */
static void act_modify_qp(struct state *st)
{
	int i = pick(&st->rng, (void **)st->qp, NQP, true);
	struct ibv_qp_attr a = {};
	int mask;

	if (i < 0)
		return;
	a.qp_state = (enum ibv_qp_state)below(&st->rng, 8);
	a.cur_qp_state = (enum ibv_qp_state)below(&st->rng, 8);
	a.pkey_index = (uint16_t)below(&st->rng, 3);
	a.port_num = (uint8_t)below(&st->rng, 3);
	a.qkey = fuzz_u32(&st->rng, 0x1234);
	a.qp_access_flags = (int)below(&st->rng, 64);
	a.path_mtu = (enum ibv_mtu)below(&st->rng, 7);
	a.dest_qp_num = fuzz_u32(&st->rng, st->qp[i]->qp_num) & 0xffffff;
	a.rq_psn = (uint32_t)rnd(&st->rng) & 0xffffff;
	a.sq_psn = (uint32_t)rnd(&st->rng) & 0xffffff;
	a.max_rd_atomic = (uint8_t)below(&st->rng, 200);
	a.max_dest_rd_atomic = (uint8_t)below(&st->rng, 200);
	a.min_rnr_timer = (uint8_t)below(&st->rng, 40);
	a.timeout = (uint8_t)below(&st->rng, 40);
	a.retry_cnt = (uint8_t)below(&st->rng, 9);
	a.rnr_retry = (uint8_t)below(&st->rng, 9);
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = st->dev[below(&st->rng, st->ndev)].gid;
	a.ah_attr.grh.sgid_index = (uint8_t)(below(&st->rng, 4) ?
					     (uint64_t)st->dev[st->qp_dev[i]].gidx :
					     below(&st->rng, 256));
	a.ah_attr.grh.hop_limit = 64;
	mask = (int)(rnd(&st->rng) & ((1 << 21) - 1)) | IBV_QP_STATE;
	if (below(&st->rng, 2)) {
		/* The mask a transition to a.qp_state needs, wild values. */
		bool ud = st->qp[i]->qp_type == IBV_QPT_UD;

		switch (a.qp_state) {
		case IBV_QPS_INIT:
			mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			       (ud ? IBV_QP_QKEY : IBV_QP_ACCESS_FLAGS);
			break;
		case IBV_QPS_RTR:
			mask = IBV_QP_STATE | (ud ? 0 : IBV_QP_AV |
				IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				IBV_QP_MIN_RNR_TIMER);
			break;
		case IBV_QPS_RTS:
			mask = IBV_QP_STATE | IBV_QP_SQ_PSN | (ud ? 0 :
				IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
			break;
		default:
			mask = IBV_QP_STATE;
			break;
		}
		if (!below(&st->rng, 4))	/* and one bit too many */
			mask |= 1 << below(&st->rng, 21);
	}
	if (!ibv_modify_qp(st->qp[i], &a, mask))
		atomic_fetch_add(&st->r->ok[A_MODIFY_QP], 1);
}

/* A proper INIT -> RTR -> RTS to another QP of ours (maybe itself). */
static void act_connect_qp(struct state *st)
{
	int i = pick(&st->rng, (void **)st->qp, NQP, true);
	int j = pick(&st->rng, (void **)st->qp, NQP, true);
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RESET,
	};
	struct ibv_qp *qp;
	bool ud;

	if (i < 0 || j < 0)
		return;
	qp = st->qp[i];
	ud = qp->qp_type == IBV_QPT_UD;
	ibv_modify_qp(qp, &a, IBV_QP_STATE);
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qkey = 0x1111;
	a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			    IBV_ACCESS_REMOTE_ATOMIC;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | (ud ? IBV_QP_QKEY :
					 IBV_QP_ACCESS_FLAGS)))
		return;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = st->qp[j]->qp_num;
	a.rq_psn = (uint32_t)below(&st->rng, 3);
	a.max_dest_rd_atomic = (uint8_t)below(&st->rng, 5);
	a.min_rnr_timer = (uint8_t)below(&st->rng, 12);
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	/* The peer's device: on the wire when it is the other one. */
	a.ah_attr.grh.dgid = st->dev[st->qp_dev[j]].gid;
	a.ah_attr.grh.sgid_index = (uint8_t)st->dev[st->qp_dev[i]].gidx;
	a.ah_attr.grh.hop_limit = 64;
	if (ibv_modify_qp(qp, &a, ud ? IBV_QP_STATE :
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  (qp->qp_type == IBV_QPT_RC ?
			   IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER :
			   0)))
		return;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = (uint32_t)below(&st->rng, 3);
	a.timeout = (uint8_t)(8 + below(&st->rng, 6));
	a.retry_cnt = (uint8_t)below(&st->rng, 3);
	a.rnr_retry = (uint8_t)below(&st->rng, 8);
	a.max_rd_atomic = (uint8_t)below(&st->rng, 5);
	if (!ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			   (qp->qp_type == IBV_QPT_RC ?
			    IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			    IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC : 0)))
		atomic_fetch_add(&st->r->ok[A_CONNECT_QP], 1);
}

static void act_reg(struct state *st, enum act kind)
{
	int i = pick(&st->rng, (void **)st->mr, NMR, false);
	int p = pick(&st->rng, (void **)st->pd, NPD, true);
	int access = (int)(rnd(&st->rng) & (IBV_ACCESS_LOCAL_WRITE |
					      IBV_ACCESS_REMOTE_WRITE |
					      IBV_ACCESS_REMOTE_READ |
					      IBV_ACCESS_REMOTE_ATOMIC));
	void *addr;
	size_t len;

	if (i < 0 || p < 0)
		return;
	switch (kind) {
	case A_REG_IMPLICIT:
		addr = NULL;
		len = SIZE_MAX;
		access |= IBV_ACCESS_ON_DEMAND;
		break;
	case A_REG_ODP:
		addr = st->arena + below(&st->rng, ARENA / BLOCK) * BLOCK;
		len = BLOCK * (1 + below(&st->rng, 4));
		if ((char *)addr + len > st->arena + ARENA)
			len = st->arena + ARENA - (char *)addr;
		access |= IBV_ACCESS_ON_DEMAND;
		if (!below(&st->rng, 8))
			len = fuzz_u32(&st->rng, len);	/* odd sizes */
		break;
	default:
		addr = st->heap + below(&st->rng, 4096);
		len = 1 + below(&st->rng, 60000);
		if (!below(&st->rng, 8))
			addr = (void *)(uintptr_t)fuzz_addr(st,
				(uintptr_t)st->heap, 65536);
		break;
	}
	st->mr[i] = ibv_reg_mr(st->pd[p], addr, len, access);
	if (st->mr[i])
		atomic_fetch_add(&st->r->ok[kind], 1);
}

/* A WQE with random everything (and a sane one now and then). */
static void act_post_send(struct state *st)
{
	static const enum ibv_wr_opcode ops[] = {
		IBV_WR_SEND, IBV_WR_SEND_WITH_IMM, IBV_WR_RDMA_WRITE,
		IBV_WR_RDMA_WRITE_WITH_IMM, IBV_WR_RDMA_READ,
		IBV_WR_ATOMIC_CMP_AND_SWP, IBV_WR_ATOMIC_FETCH_AND_ADD,
		IBV_WR_LOCAL_INV, IBV_WR_BIND_MW, IBV_WR_SEND_WITH_INV,
		IBV_WR_TSO, IBV_WR_ATOMIC_WRITE,
		(enum ibv_wr_opcode)14,	/* FLUSH, as mirrorv_post_flush() */
		99,
	};
	int q = pick(&st->rng, (void **)st->qp, NQP, true);
	struct ibv_sge sge[6];
	struct ibv_send_wr wr = {}, *bad;
	struct ibv_mr *mr, *rmr;
	int n, k, a;

	if (q < 0)
		return;
	n = (int)below(&st->rng, 6);
	for (k = 0; k < n; k++) {
		mr = some_mr(st);
		sge[k].lkey = mr && below(&st->rng, 5) ? mr->lkey :
			      (uint32_t)rnd(&st->rng);
		sge[k].addr = mr && mr->addr ?
			      fuzz_addr(st, (uintptr_t)mr->addr, mr->length) :
			      fuzz_addr(st, (uintptr_t)st->heap, 65536);
		sge[k].length = fuzz_u32(&st->rng, (uint32_t)below(&st->rng,
								    8192));
	}
	wr.wr_id = rnd(&st->rng);
	wr.sg_list = sge;
	wr.num_sge = n;
	wr.opcode = ops[below(&st->rng, sizeof(ops) / sizeof(ops[0]))];
	wr.send_flags = (unsigned int)(rnd(&st->rng) & 0x1f);
	/*
	 * Inline data is copied by the provider, in this process: a wild
	 * address would only crash us. The kernel sees the copy, which is
	 * random enough.
	 */
	if (wr.send_flags & IBV_SEND_INLINE)
		for (k = 0; k < n; k++) {
			sge[k].addr = (uintptr_t)st->heap +
				      below(&st->rng, 65536 - 64);
			sge[k].length = (uint32_t)below(&st->rng, 64);
		}
	wr.imm_data = (uint32_t)rnd(&st->rng);
	rmr = some_mr(st);
	wr.wr.rdma.rkey = rmr && below(&st->rng, 4) ? rmr->rkey :
			  (uint32_t)rnd(&st->rng);
	wr.wr.rdma.remote_addr = rmr && rmr->addr ?
				 fuzz_addr(st, (uintptr_t)rmr->addr,
					   rmr->length) :
				 rnd(&st->rng);
	if (wr.opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
	    wr.opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = wr.wr.rdma.remote_addr & ~7ULL;
		wr.wr.atomic.rkey = wr.wr.rdma.rkey;
		wr.wr.atomic.compare_add = rnd(&st->rng);
	}
	if ((unsigned int)wr.opcode == 14) {
		/* FLUSH: range, length, type and level, valid or not. */
		wr.wr.atomic.remote_addr = wr.wr.rdma.remote_addr;
		wr.wr.atomic.rkey = wr.wr.rdma.rkey;
		wr.wr.atomic.compare_add = below(&st->rng, 2) ?
			below(&st->rng, 65536) : rnd(&st->rng);
		wr.wr.atomic.swap = below(&st->rng, 2) ?
			1 | below(&st->rng, 2) << 8 : rnd(&st->rng);
		if (below(&st->rng, 2))
			wr.num_sge = 0;
	}
	if (wr.opcode == IBV_WR_BIND_MW) {
		/* Any window (or none), any MR, any range, key and access. */
		k = pick(&st->rng, (void **)st->mw, NMW, true);
		mr = some_mr(st);
		wr.bind_mw.mw = k >= 0 ? st->mw[k] : NULL;
		wr.bind_mw.rkey = wr.bind_mw.mw && below(&st->rng, 2) ?
				  ibv_inc_rkey(wr.bind_mw.mw->rkey) :
				  (uint32_t)rnd(&st->rng);
		wr.bind_mw.bind_info.mr = mr;
		wr.bind_mw.bind_info.addr = mr && mr->addr ?
			fuzz_addr(st, (uintptr_t)mr->addr, mr->length) :
			rnd(&st->rng);
		wr.bind_mw.bind_info.length = fuzz_u32(&st->rng, 4096);
		wr.bind_mw.bind_info.mw_access_flags =
			(unsigned int)(rnd(&st->rng) & 0x3ff);
	}
	if (wr.opcode == IBV_WR_LOCAL_INV) {
		k = pick(&st->rng, (void **)st->mw, NMW, true);
		if (k >= 0 && below(&st->rng, 2))
			wr.invalidate_rkey = st->mw[k]->rkey;
	}
	if (st->qp[q]->qp_type == IBV_QPT_UD) {
		a = pick(&st->rng, (void **)st->ah, NAH, true);
		if (a < 0)
			return;
		wr.wr.ud.ah = st->ah[a];
		wr.wr.ud.remote_qpn = below(&st->rng, 2) ?
			st->qp[pick(&st->rng, (void **)st->qp, NQP, true)]->qp_num :
			(uint32_t)rnd(&st->rng);
		wr.wr.ud.remote_qkey = below(&st->rng, 2) ? 0x1111 :
				       (uint32_t)rnd(&st->rng);
	}
	if (!ibv_post_send(st->qp[q], &wr, &bad))
		atomic_fetch_add(&st->r->ok[A_POST_SEND], 1);
}

static void act_post_recv(struct state *st)
{
	int q = pick(&st->rng, (void **)st->qp, NQP, true);
	struct ibv_recv_wr wr = {}, *bad;
	struct ibv_sge sge[5];
	struct ibv_mr *mr;
	int n, k;

	if (q < 0)
		return;
	n = (int)below(&st->rng, 5);
	for (k = 0; k < n; k++) {
		mr = some_mr(st);
		sge[k].lkey = mr && below(&st->rng, 5) ? mr->lkey :
			      (uint32_t)rnd(&st->rng);
		sge[k].addr = mr && mr->addr ?
			      fuzz_addr(st, (uintptr_t)mr->addr, mr->length) :
			      fuzz_addr(st, (uintptr_t)st->heap, 65536);
		sge[k].length = fuzz_u32(&st->rng, 4096);
	}
	wr.wr_id = rnd(&st->rng);
	wr.sg_list = sge;
	wr.num_sge = n;
	if (!ibv_post_recv(st->qp[q], &wr, &bad))
		atomic_fetch_add(&st->r->ok[A_POST_RECV], 1);
}

static void act_advise(struct state *st)
{
	int p = pick(&st->rng, (void **)st->pd, NPD, true);
	struct ibv_mr *mr = some_mr(st);
	struct ibv_sge sge;

	if (p < 0)
		return;
	sge.lkey = mr ? mr->lkey : (uint32_t)rnd(&st->rng);
	sge.addr = mr && mr->addr ? fuzz_addr(st, (uintptr_t)mr->addr,
					      mr->length) :
				    fuzz_addr(st, (uintptr_t)st->arena, ARENA);
	sge.length = fuzz_u32(&st->rng, (uint32_t)BLOCK);
	if (!ibv_advise_mr(st->pd[p],
			   (enum ibv_advise_mr_advice)below(&st->rng, 4),
			   (uint32_t)below(&st->rng, 3), &sge, 1))
		atomic_fetch_add(&st->r->ok[A_ADVISE_MR], 1);
}

static void act_create_ah(struct state *st)
{
	int i = pick(&st->rng, (void **)st->ah, NAH, false);
	int p = pick(&st->rng, (void **)st->pd, NPD, true);
	struct ibv_ah_attr av = { .is_global = 1, .port_num = 1 };

	if (i < 0 || p < 0)
		return;
	av.grh.dgid = st->dev[below(&st->rng, st->ndev)].gid;
	av.grh.sgid_index = (uint8_t)(below(&st->rng, 4) ?
				      (uint64_t)st->dev[st->pd_dev[p]].gidx :
				      below(&st->rng, 256));
	av.grh.hop_limit = 64;
	st->ah[i] = ibv_create_ah(st->pd[p], &av);
	if (st->ah[i])
		atomic_fetch_add(&st->r->ok[A_CREATE_AH], 1);
}

static void act(struct state *st, enum act a)
{
	int d = (int)below(&st->rng, st->ndev);
	struct ibv_context *c = st->dev[d].ctx;
	struct ibv_wc wc[8];
	int i;

	atomic_store(&st->r->last_act, a);
	atomic_fetch_add(&st->r->tried[a], 1);
	switch (a) {
	case A_ALLOC_PD:
		i = pick(&st->rng, (void **)st->pd, NPD, false);
		if (i >= 0 && (st->pd[i] = ibv_alloc_pd(c))) {
			st->pd_dev[i] = d;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_DEALLOC_PD:
		i = pick(&st->rng, (void **)st->pd, NPD, true);
		if (i >= 0 && !ibv_dealloc_pd(st->pd[i])) {
			st->pd[i] = NULL;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_CREATE_CQ:
		i = pick(&st->rng, (void **)st->cq, NCQ, false);
		if (i >= 0 && (st->cq[i] = ibv_create_cq(c,
				(int)fuzz_u32(&st->rng, 16 + below(&st->rng, 256)),
				NULL, NULL, 0))) {
			st->cq_dev[i] = d;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_RESIZE_CQ:
		i = pick(&st->rng, (void **)st->cq, NCQ, true);
		pthread_mutex_lock(&st->lock);
		if (i >= 0 && !ibv_resize_cq(st->cq[i],
				(int)fuzz_u32(&st->rng, 16 + below(&st->rng, 512))))
			atomic_fetch_add(&st->r->ok[a], 1);
		pthread_mutex_unlock(&st->lock);
		break;
	case A_DESTROY_CQ:
		i = pick(&st->rng, (void **)st->cq, NCQ, true);
		pthread_mutex_lock(&st->lock);
		if (i >= 0 && !ibv_destroy_cq(st->cq[i])) {
			st->cq[i] = NULL;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		pthread_mutex_unlock(&st->lock);
		break;
	case A_CREATE_QP:
		act_create_qp(st);
		break;
	case A_MODIFY_QP:
		act_modify_qp(st);
		break;
	case A_CONNECT_QP:
		act_connect_qp(st);
		break;
	case A_DESTROY_QP:
		i = pick(&st->rng, (void **)st->qp, NQP, true);
		pthread_mutex_lock(&st->lock);
		if (i >= 0 && !ibv_destroy_qp(st->qp[i])) {
			st->qp[i] = NULL;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		pthread_mutex_unlock(&st->lock);
		break;
	case A_REG_MR:
	case A_REG_ODP:
	case A_REG_IMPLICIT:
		act_reg(st, a);
		break;
	case A_DEREG_MR:
		i = pick(&st->rng, (void **)st->mr, NMR, true);
		if (i >= 0 && !ibv_dereg_mr(st->mr[i])) {
			st->mr[i] = NULL;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_CREATE_AH:
		act_create_ah(st);
		break;
	case A_DESTROY_AH:
		i = pick(&st->rng, (void **)st->ah, NAH, true);
		if (i >= 0 && !ibv_destroy_ah(st->ah[i])) {
			st->ah[i] = NULL;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_POST_SEND:
		act_post_send(st);
		break;
	case A_ALLOC_MW:
		i = pick(&st->rng, (void **)st->mw, NMW, false);
		if (i >= 0) {
			int p = pick(&st->rng, (void **)st->pd, NPD, true);

			if (p >= 0 && (st->mw[i] = ibv_alloc_mw(st->pd[p],
					below(&st->rng, 2) ? IBV_MW_TYPE_1 :
							     IBV_MW_TYPE_2)))
				atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_DEALLOC_MW:
		i = pick(&st->rng, (void **)st->mw, NMW, true);
		if (i >= 0 && !ibv_dealloc_mw(st->mw[i])) {
			st->mw[i] = NULL;
			atomic_fetch_add(&st->r->ok[a], 1);
		}
		break;
	case A_ATTACH_MCAST:
	case A_DETACH_MCAST: {
		/* One of four groups, or any GID at all. */
		union ibv_gid g = { .raw = { [10] = 0xff, [11] = 0xff,
					     [12] = 239, [13] = 1, [14] = 1 } };

		i = pick(&st->rng, (void **)st->qp, NQP, true);
		if (i < 0)
			break;
		g.raw[15] = (uint8_t)below(&st->rng, 4);
		if (!below(&st->rng, 4))
			for (int k = 0; k < 16; k++)
				g.raw[k] = (uint8_t)rnd(&st->rng);
		if (!(a == A_ATTACH_MCAST ? ibv_attach_mcast(st->qp[i], &g, 0) :
					    ibv_detach_mcast(st->qp[i], &g, 0)))
			atomic_fetch_add(&st->r->ok[a], 1);
		break;
	}
	case A_POST_RECV:
		act_post_recv(st);
		break;
	case A_POLL_CQ:
		i = pick(&st->rng, (void **)st->cq, NCQ, true);
		if (i >= 0 && ibv_poll_cq(st->cq[i], 8, wc) >= 0)
			atomic_fetch_add(&st->r->ok[a], 1);
		break;
	case A_NOTIFY_CQ:
		i = pick(&st->rng, (void **)st->cq, NCQ, true);
		if (i >= 0 && !ibv_req_notify_cq(st->cq[i],
						 (int)below(&st->rng, 2)))
			atomic_fetch_add(&st->r->ok[a], 1);
		break;
	case A_ADVISE_MR:
		act_advise(st);
		break;
	case A_QUERY_QP: {
		struct ibv_qp_attr qa;
		struct ibv_qp_init_attr ia;

		i = pick(&st->rng, (void **)st->qp, NQP, true);
		/* libibverbs refuses bits from IBV_QP_RATE_LIMIT up */
		if (i >= 0 && !ibv_query_qp(st->qp[i], &qa,
					    (int)below(&st->rng,
						       IBV_QP_RATE_LIMIT),
					    &ia))
			atomic_fetch_add(&st->r->ok[a], 1);
		break;
	}
	case A_QUERY_ODP: {
		struct mirrorv_odp_counters oc;
		struct ibv_mr *mr = some_mr(st);
		uint8_t pages[64];

		if (!mirrorv_query_odp_counters(st->dev[0].ctx, &oc))
			atomic_fetch_add(&st->r->ok[a], 1);
		if (mr && mr->addr)
			mirrorv_query_mirror(mr, mr->addr, 64 * 4096, pages);
		break;
	}
	default:
		break;
	}
}

/* The second thread: garbage into our own rings and their indices. */
static void *scribbler(void *arg)
{
	struct state *st = arg;
	uint64_t rng = st->rng ^ 0x5c5c5c5c5c5c5c5cULL;

	while (!atomic_load(&st->stop)) {
		struct mirror_ring *ring = NULL;
		int i;

		usleep((useconds_t)(200 + below(&rng, 3000)));
		pthread_mutex_lock(&st->lock);
		if (below(&rng, 3)) {
			i = pick(&rng, (void **)st->qp, NQP, true);
			if (i >= 0) {
				struct mirror_qp *q = container_of(st->qp[i],
						struct mirror_qp, vqp.qp);

				ring = below(&rng, 2) ? &q->sq : &q->rq;
			}
		} else {
			i = pick(&rng, (void **)st->cq, NCQ, true);
			if (i >= 0)
				ring = &container_of(st->cq[i],
						     struct mirror_cq,
						     vcq.cq)->ring;
		}
		if (ring && ring->map) {
			uint8_t *p = ring->map;
			size_t off = below(&rng, ring->map_size);

			switch (below(&rng, 4)) {
			case 0:		/* an index */
				((volatile uint32_t *)p)[below(&rng, 2) * 16] =
					(uint32_t)rnd(&rng);
				break;
			default:	/* a few bytes of a slot */
				if (off < MIRROR_RING_HDR_SIZE)
					off += MIRROR_RING_HDR_SIZE;
				if (off + 8 <= ring->map_size)
					*(volatile uint64_t *)(p + (off & ~7UL)) =
						rnd(&rng);
				break;
			}
			atomic_fetch_add(&st->r->scribbles, 1);
		}
		pthread_mutex_unlock(&st->lock);
	}
	return NULL;
}

/* The third thread: the arena's mappings change under the MRs. */
static void *mapper(void *arg)
{
	struct state *st = arg;
	uint64_t rng = st->rng ^ 0xa5a5a5a5a5a5a5a5ULL;

	while (!atomic_load(&st->stop)) {
		char *b = st->arena + below(&rng, ARENA / BLOCK) * BLOCK;
		pid_t pid;

		usleep((useconds_t)(500 + below(&rng, 5000)));
		switch (below(&rng, 6)) {
		case 0:
			/*
			 * As munmap for the MRs (the pages go, the range no
			 * longer resolves), without leaving a hole that the
			 * provider's next ring mmap could land in and case 1
			 * then map over.
			 */
			mmap(b, BLOCK, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS |
			     MAP_FIXED | MAP_NORESERVE, -1, 0);
			break;
		case 1:
			mmap(b, BLOCK, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
			memset(b, (int)below(&rng, 256), 4096);
			break;
		case 2:
			mprotect(b, BLOCK, below(&rng, 2) ? PROT_READ :
				 PROT_NONE);
			break;
		case 3:
			mprotect(b, BLOCK, PROT_READ | PROT_WRITE);
			madvise(b, BLOCK, MADV_DONTNEED);
			break;
		case 4:
			/* A child that writes to its copy and goes. */
			pid = fork();
			if (pid == 0) {
				volatile char *p = b;

				if (!mprotect(b, 4096, PROT_READ | PROT_WRITE))
					p[0] = 1;
				_exit(0);
			}
			if (pid > 0)
				waitpid(pid, NULL, 0);
			break;
		default:
			madvise(b, BLOCK, MADV_HUGEPAGE);
			break;
		}
		atomic_fetch_add(&st->r->mapper_ops, 1);
	}
	return NULL;
}

static enum act draw(uint64_t *rng)
{
	static int total;
	int i, x;

	if (!total)
		for (i = 0; i < A_COUNT; i++)
			total += act_weight[i];
	x = (int)below(rng, total);
	for (i = 0; i < A_COUNT; i++) {
		x -= act_weight[i];
		if (x < 0)
			return (enum act)i;
	}
	return A_POLL_CQ;
}

static int fuzz_process(struct report *r, uint64_t seed, double secs)
{
	struct state *st = calloc(1, sizeof(*st));
	pthread_t ts, tm;
	double end = now() + secs;
	int i;

	if (!st)
		return 2;
	st->rng = seed ? seed : 1;
	st->r = r;
	pthread_mutex_init(&st->lock, NULL);
	if (open_dev(&st->dev[0], dev_a))
		return 2;
	st->ndev = 1;
	if (dev_b && !open_dev(&st->dev[1], dev_b))
		st->ndev = 2;
	st->heap = aligned_alloc(4096, 65536);
	st->arena = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!st->heap || st->arena == MAP_FAILED)
		return 2;
	memset(st->heap, 0x3c, 65536);
	/* Something to work with from the start, on each device. */
	for (i = 0; i < st->ndev; i++) {
		st->pd[i] = ibv_alloc_pd(st->dev[i].ctx);
		st->pd_dev[i] = i;
		st->cq[i] = ibv_create_cq(st->dev[i].ctx, 64, NULL, NULL, 0);
		st->cq_dev[i] = i;
	}
	pthread_create(&ts, NULL, scribbler, st);
	pthread_create(&tm, NULL, mapper, st);
	while (now() < end) {
		act(st, draw(&st->rng));
		atomic_fetch_add(&r->ops, 1);
	}
	atomic_store(&st->stop, true);
	pthread_join(ts, NULL);
	pthread_join(tm, NULL);
	/* What is left the kernel cleans up on exit; a part we do here. */
	for (i = 0; i < NQP; i++)
		if (st->qp[i])
			ibv_destroy_qp(st->qp[i]);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The parent: spawns, kills, respawns, watches for hangs, reports */

struct child {
	pid_t pid;
	uint64_t seed;
	double started;
	unsigned long long last_ops;
	double last_progress;
};

static uint64_t child_seed(uint64_t seed, int generation, int slot)
{
	uint64_t s = seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(generation *
							   MAX_PROCS + slot + 1));

	rnd(&s);
	return s ? s : 1;
}

static pid_t spawn(int slot, uint64_t seed, double secs)
{
	pid_t pid;

	memset(&rep[slot], 0, sizeof(rep[slot]));
	rep[slot].seed = seed;
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(fuzz_process(&rep[slot], seed, secs));
	return pid;
}

/* Whether device @dev still holds implicit children or mirror memory. */
static bool odp_held(const char *dev)
{
	return mirror_test_counter(dev, "odp_children_live") ||
	       mirror_test_counter(dev, "odp_mirror_bytes");
}

int main(int argc, char **argv)
{
	uint64_t seed = (uint64_t)time(NULL);
	double secs = 60, kill_ms = 3000, t0, next_kill, hang_secs, tscale;
	unsigned long long tried[A_COUNT] = {}, ok[A_COUNT] = {}, ops = 0;
	unsigned long long scribbles = 0, maps = 0;
	struct child ch[MAX_PROCS] = {};
	int nprocs = 3, opt, i, generation = 0, failed = 0, st, kills = 0;
	const char *scale = getenv("MIRROR_TIME_SCALE");
	uint64_t krng;

	while ((opt = getopt(argc, argv, "d:W:s:t:p:k:v")) != -1) {
		switch (opt) {
		case 'd': dev_a = optarg; break;
		case 'W': dev_b = optarg; break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't': secs = atof(optarg); break;
		case 'p': nprocs = atoi(optarg); break;
		case 'k': kill_ms = atof(optarg); break;
		case 'v': verbose = 1; break;
		default:
			fprintf(stderr, "usage: %s [-d DEV] [-W DEV2] [-s SEED] [-t SECS] [-p PROCS] [-k KILL_MS] [-v]\n",
				argv[0]);
			return 2;
		}
	}
	if (nprocs < 1 || nprocs > MAX_PROCS)
		nprocs = 3;
	/* MIRROR_TIME_SCALE: how much slower than usual the kernel runs. */
	tscale = scale && atoi(scale) > 0 ? atoi(scale) : 1;
	hang_secs = 60.0 * tscale;
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("# uverbs_fuzz: seed %llu, %d processes, %.0f s, SIGKILL every ~%.0f ms, devices %s%s%s (uid %d)\n",
	       (unsigned long long)seed, nprocs, secs, kill_ms, dev_a,
	       dev_b ? " and " : "", dev_b ? dev_b : "", getuid());
	rep = mmap(NULL, sizeof(*rep) * MAX_PROCS, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (rep == MAP_FAILED)
		return 2;
	krng = seed ^ 0x6b696c6cULL;
	t0 = now();
	next_kill = t0 + kill_ms / 1000.0;
	for (i = 0; i < nprocs; i++) {
		ch[i].seed = child_seed(seed, 0, i);
		ch[i].pid = spawn(i, ch[i].seed, secs);
		ch[i].started = ch[i].last_progress = now();
	}
	while (now() < t0 + secs + 5) {
		usleep(20000);
		for (i = 0; i < nprocs; i++) {
			unsigned long long o = atomic_load(&rep[i].ops);
			pid_t w;

			if (!ch[i].pid)
				continue;
			if (o != ch[i].last_ops) {
				ch[i].last_ops = o;
				ch[i].last_progress = now();
			}
			w = waitpid(ch[i].pid, &st, WNOHANG);
			if (w == ch[i].pid) {
				for (int a = 0; a < A_COUNT; a++) {
					tried[a] += rep[i].tried[a];
					ok[a] += rep[i].ok[a];
				}
				ops += o;
				scribbles += rep[i].scribbles;
				maps += rep[i].mapper_ops;
				if (WIFSIGNALED(st) && WTERMSIG(st) != SIGKILL) {
					printf("not ok - process seed %llu died of signal %d after %s\n",
					       (unsigned long long)ch[i].seed,
					       WTERMSIG(st),
					       act_name[rep[i].last_act]);
					failed++;
				} else if (WIFEXITED(st) && WEXITSTATUS(st)) {
					printf("not ok - process seed %llu could not start (%d)\n",
					       (unsigned long long)ch[i].seed,
					       WEXITSTATUS(st));
					failed++;
				}
				ch[i].pid = 0;
				/* Replace it while the run lasts. */
				if (now() < t0 + secs - 1) {
					generation++;
					ch[i].seed = child_seed(seed, generation, i);
					ch[i].pid = spawn(i, ch[i].seed,
							  t0 + secs - now());
					ch[i].last_progress = now();
					ch[i].last_ops = 0;
				}
				continue;
			}
			if (now() - ch[i].last_progress > hang_secs) {
				printf("not ok - process seed %llu made no progress for %.0f s, in %s\n",
				       (unsigned long long)ch[i].seed, hang_secs,
				       act_name[rep[i].last_act]);
				failed++;
				kill(ch[i].pid, SIGKILL);
				ch[i].last_progress = now();
			}
		}
		if (kill_ms > 0 && now() > next_kill && now() < t0 + secs - 1) {
			i = (int)below(&krng, nprocs);
			if (ch[i].pid) {
				kill(ch[i].pid, SIGKILL);
				kills++;
			}
			next_kill = now() + (kill_ms / 1000.0) *
					    (0.5 + below(&krng, 100) / 100.0);
		}
	}
	/*
	 * A process that does not go within 30 s of SIGKILL is stuck in
	 * the kernel: say which (uverbs-fuzz.sh prints its threads' kernel
	 * stacks) rather than wait for it for ever.
	 */
	for (i = 0; i < nprocs; i++)
		if (ch[i].pid) {
			double end = now() + 30.0 * tscale;
			pid_t w;

			kill(ch[i].pid, SIGKILL);
			while ((w = waitpid(ch[i].pid, NULL, WNOHANG)) == 0 &&
			       now() < end)
				usleep(20000);
			failed++;
			if (w == 0) {
				printf("not ok - process seed %llu is still there 30 s after SIGKILL, in %s\n",
				       (unsigned long long)ch[i].seed,
				       act_name[rep[i].last_act]);
				printf("# stuck pid %d\n", (int)ch[i].pid);
				continue;
			}
			printf("not ok - process seed %llu did not finish\n",
			       (unsigned long long)ch[i].seed);
		}

	printf("# %llu actions in %.1f s: %.0f per second; %llu ring scribbles, %llu mapping changes, %d processes killed\n",
	       ops, now() - t0, ops / (now() - t0), scribbles, maps, kills);
	printf("# coverage (tried / succeeded):\n");
	for (i = 0; i < A_COUNT; i++)
		printf("#   %-18s %8llu %8llu\n", act_name[i], tried[i], ok[i]);
	for (i = 0; i < A_COUNT; i++)
		if (!tried[i]) {
			printf("not ok - %s was never tried\n", act_name[i]);
			failed++;
		}
	/* Every process is gone: the device holds no mirror memory. */
	{
		double end = now() + 30.0 * tscale;
		const char *devs[2] = { dev_a, dev_b };
		int d;

		for (d = 0; d < 2 && devs[d]; d++) {
			while (odp_held(devs[d]) && now() < end)
				usleep(100000);
			if (odp_held(devs[d])) {
				printf("not ok - %s still holds ODP memory: %lld children, %lld bytes\n",
				       devs[d],
				       mirror_test_counter(devs[d],
							   "odp_children_live"),
				       mirror_test_counter(devs[d],
							   "odp_mirror_bytes"));
				failed++;
			}
		}
	}
	if (!failed)
		printf("ok - %llu actions from %d generations of processes, no crash, no hang, no ODP memory left\n",
		       ops, generation + nprocs);
	return failed ? 1 : 0;
}
