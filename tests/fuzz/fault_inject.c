// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * fault_inject.c - the device's failure paths, driven by the kernel's own
 * fault injection (failslab and fail_page_alloc, debug kernel): rounds of
 * object creation (PD, CQ, pinned, ODP and implicit MRs, same-device and
 * RoCEv2 RC QPs, their connection), then traffic that makes the device
 * fault ODP pages and create implicit children, all with kernel
 * allocations failing at random: this process's (failslab's task filter:
 * its system calls and the work they run in its context, which includes
 * the requester and the same-device responder), or the device's own in
 * every context (debugfs fail_rdma_mirror: also the RoCEv2 responder, its
 * faults and the implicit children it creates, which run in work items).
 * fault-inject.sh chooses which.
 *
 * Every step may fail: with an errno, an error completion, or nothing at
 * all. What must hold: nothing hangs (every wait is bounded), after every
 * round all objects can be destroyed, and when injection stops fresh
 * objects carry data byte for byte and the device holds no mirror memory;
 * kmemleak and the harness's log verdict judge the rest.
 *
 * Usage: fault_inject -d DEV -W DEV2 [-r ROUNDS] [-s SEED] [-F FILE [-p RATE]]
 * -F: the probability file of a fault attribute that fails allocations in
 * every context (debugfs fail_rdma_mirror); the program sets it to RATE
 * (default 10) while it injects and to 0 otherwise, so that its clean
 * rounds are clean. Run by tests/fuzz/fault-inject.sh, which sets the
 * failure rate of failslab and fail_page_alloc.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mirror_testlib.h"

#define BUF		(64 * 1024)
#define REGION		(4UL << 20)
#define IMPLICIT_SPAN	(16UL << 20)

enum step {
	S_PD, S_CQ, S_MR, S_ODP, S_IMPLICIT, S_QP, S_CONNECT, S_POST, S_WC,
	S_COUNT,
};

static const char *const step_name[S_COUNT] = {
	"alloc_pd", "create_cq", "reg_mr", "reg_mr odp", "reg_mr implicit",
	"create_qp", "connect", "post_send", "completion",
};

struct dev {
	struct ibv_context *ctx;
	int gidx;
	union ibv_gid gid;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr, *odp, *imp;
	char *region;			/* the ODP MR's memory */
};

/* A round's objects: two devices, a same-device pair, a wire pair. */
struct round {
	struct dev d[2];
	struct ibv_qp *qa, *qb;		/* both on d[0] */
	struct ibv_qp *qw0, *qw1;	/* d[0] to d[1] */
	char *span;			/* where the implicit MR gets children */
};

static unsigned long tried[S_COUNT], okays[S_COUNT];
static char *buf[2];
static double scale = 1;
static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static bool did(enum step s, bool ok)
{
	tried[s]++;
	okays[s] += ok;
	return ok;
}

/* Records whether a creation step gave an object; returns the object. */
static void *counted(enum step s, void *obj)
{
	did(s, obj);
	return obj;
}

/*
 * Tries EXPR (which records itself, see counted()) up to 8 times until it
 * yields something: a round gets past a failed creation and on to the
 * steps after it, which would otherwise never see an injected failure.
 */
#define RETRY(var, expr)                                                       \
	do {                                                                   \
		int _t;                                                        \
		for (_t = 0; _t < 8 && !(var); _t++)                           \
			(var) = (expr);                                        \
	} while (0)

/* /proc/thread-self/make-it-fail, opened before any failure is injected. */
static int fail_fd = -1;
/* -F: a fault attribute's probability file, and -p: what it is set to. */
static int attr_fd = -1;
static const char *attr_rate = "10";
static bool injecting;

/*
 * This task's kernel allocations fail (at the configured rate) or not. The
 * write itself allocates nothing, but a failure injected into the system
 * call's path can refuse it: turning injection off tries until it works.
 */
static void inject(bool on)
{
	const char *rate = on ? attr_rate : "0";
	int tries;

	/*
	 * The device's own failures (-F) are this program's to switch too
	 * (a debugfs attribute file takes write(), not pwrite()).
	 */
	if (attr_fd >= 0 &&
	    write(attr_fd, rate, strlen(rate)) != (ssize_t)strlen(rate)) {
		perror("fault attribute");
		exit(2);
	}
	if (fail_fd < 0) {	/* no make-it-fail on this kernel */
		injecting = on;
		return;
	}
	for (tries = 0; tries < 10000; tries++)
		if (pwrite(fail_fd, on ? "1" : "0", 1, 0) == 1) {
			injecting = on;
			return;
		}
	perror("make-it-fail");
	exit(2);
}

static struct ibv_context *open_dev(const char *name, struct dev *d)
{
	d->ctx = mirror_test_open(name);
	if (!d->ctx || mirror_test_ipv4_gid(d->ctx, NULL, &d->gidx, &d->gid))
		return NULL;
	return d->ctx;
}

static struct ibv_qp *make_qp(struct dev *d)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 8, .max_recv_wr = 8,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp;

	if (!d->pd || !d->cq)
		return NULL;
	init.send_cq = init.recv_cq = d->cq;
	qp = ibv_create_qp(d->pd, &init);
	did(S_QP, qp);
	return qp;
}

/*
 * The ACK timeout, as the QP attribute's exponent: 67 ms (4.096 us << 14)
 * on Debian's kernel, stretched by MIRROR_TIME_SCALE on slower ones. With
 * retry_cnt 7 a silent peer is given eight of them: a slow fault on the
 * responder's side (a debug kernel sharing its machine takes well over a
 * tenth of a second) must not end a clean round in RETRY_EXC_ERR, while a
 * packet lost to an injected failure still costs one timeout only.
 */
static uint8_t ack_timeout(void)
{
	return mirror_test_ack_timeout(14);
}

/* QP on device D to PEER on device P, all the way to RTS. */
static bool connect_qp(struct ibv_qp *qp, struct dev *d, struct ibv_qp *peer,
		       struct dev *p)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ,
	};
	bool ok;

	ok = !ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			    IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = peer->qp_num;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = p->gid;
	a.ah_attr.grh.sgid_index = (uint8_t)d->gidx;
	a.ah_attr.grh.hop_limit = 64;
	ok = ok && !ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV |
				  IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = ack_timeout();
	a.retry_cnt = 7;
	a.rnr_retry = 2;
	a.max_rd_atomic = 1;
	ok = ok && !ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
				  IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				  IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
	return did(S_CONNECT, ok);
}

/* Both pairs to RTS; a failed attempt resets all four QPs and tries again. */
static bool connect_all(struct round *r)
{
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct dev *a = &r->d[0], *b = &r->d[1];
	struct ibv_qp *all[] = { r->qa, r->qb, r->qw0, r->qw1 };
	int t, i;

	for (t = 0; t < 4; t++) {
		if (connect_qp(r->qa, a, r->qb, a) &
		    connect_qp(r->qb, a, r->qa, a) &
		    connect_qp(r->qw0, a, r->qw1, b) &
		    connect_qp(r->qw1, b, r->qw0, a))
			return true;
		for (i = 0; i < 4; i++)
			ibv_modify_qp(all[i], &reset, IBV_QP_STATE);
	}
	return false;
}

static void setup_dev(struct dev *d, int i)
{
	int all = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		  IBV_ACCESS_REMOTE_READ;

	RETRY(d->pd, counted(S_PD, ibv_alloc_pd(d->ctx)));
	if (!d->pd)
		return;
	RETRY(d->cq, counted(S_CQ, ibv_create_cq(d->ctx, 32, NULL, NULL, 0)));
	RETRY(d->mr, counted(S_MR, ibv_reg_mr(d->pd, buf[i], BUF, all)));
	d->region = mmap(NULL, REGION, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d->region == MAP_FAILED) {
		d->region = NULL;
		return;
	}
	RETRY(d->odp, counted(S_ODP, ibv_reg_mr(d->pd, d->region, REGION,
						all | IBV_ACCESS_ON_DEMAND)));
	RETRY(d->imp, counted(S_IMPLICIT,
			      ibv_reg_mr(d->pd, NULL, SIZE_MAX,
					 all | IBV_ACCESS_ON_DEMAND)));
}

static bool post(struct ibv_qp *qp, enum ibv_wr_opcode op, void *laddr,
		 uint32_t lkey, uint32_t len, void *raddr, uint32_t rkey)
{
	static uint64_t seq;
	struct ibv_sge sge = {
		.addr = (uintptr_t)laddr, .length = len, .lkey = lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = ++seq, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)raddr, .rkey = rkey },
	}, *bad;

	return did(S_POST, qp && !ibv_post_send(qp, &wr, &bad));
}

/* Completions of WANT work requests on CQ, or as many as come in time. */
static int reap(struct ibv_cq *cq, int want, bool *all_good)
{
	double end = now() + 5 * scale;
	struct ibv_wc wc;
	int got = 0, n;

	while (cq && got < want && now() < end) {
		n = ibv_poll_cq(cq, 1, &wc);
		if (n < 0)
			break;
		if (!n) {
			usleep(500);
			continue;
		}
		got++;
		if (!did(S_WC, wc.status == IBV_WC_SUCCESS))
			*all_good = false;
		/* With injection off every completion must succeed: say why not. */
		if (!injecting && wc.status != IBV_WC_SUCCESS)
			printf("# clean round: WR %llu of QP %u: %s (vendor_err %u)\n",
			       (unsigned long long)wc.wr_id, wc.qp_num,
			       ibv_wc_status_str(wc.status), wc.vendor_err);
	}
	if (got < want)
		*all_good = false;
	return got;
}

/*
 * One round. Returns true when every step and completion succeeded and
 * the data arrived (so that with injection off it is the check).
 */
static bool run_round(struct round *r)
{
	struct dev *a = &r->d[0], *b = &r->d[1];
	bool good = true, was = injecting;
	char *dst = NULL, *dst2;
	int want0 = 0;
	size_t off;

	setup_dev(a, 0);
	setup_dev(b, 1);
	RETRY(r->qa, make_qp(a));
	RETRY(r->qb, make_qp(a));
	RETRY(r->qw0, make_qp(a));
	RETRY(r->qw1, make_qp(b));
	if (!r->qa || !r->qb || !r->qw0 || !r->qw1 || !a->mr || !a->odp ||
	    !a->imp || !b->odp || !b->imp)
		return false;
	if (!connect_all(r))
		return false;

	/* A fresh 16 MiB span: the implicit MR's children are new too. */
	off = (rnd() % (IMPLICIT_SPAN / 4096 - 16)) * 4096;
	dst = r->span + off;
	/* 8 MiB away: the far device's implicit MR writes there. */
	dst2 = r->span + (off + IMPLICIT_SPAN / 2) % (IMPLICIT_SPAN - 16 * 4096);
	/* The CPU's own touches of fresh memory with injection off. */
	inject(false);
	memset(buf[0], 0x5a, BUF);
	memset(a->region, 0x3c, 8192);
	inject(was);
	/* Same device: into the implicit MR, out of the ODP MR. */
	want0 += post(r->qa, IBV_WR_RDMA_WRITE, buf[0], a->mr->lkey, 8192,
		      dst, a->imp->rkey);
	want0 += post(r->qa, IBV_WR_RDMA_READ, buf[0] + 16384, a->mr->lkey,
		      8192, a->region, a->odp->rkey);
	/* RoCEv2: into and out of the far device's ODP MR. */
	want0 += post(r->qw0, IBV_WR_RDMA_WRITE, buf[0], a->mr->lkey, 8192,
		      b->region + 65536, b->odp->rkey);
	want0 += post(r->qw0, IBV_WR_RDMA_READ, buf[0] + 32768, a->mr->lkey,
		      4096, b->region + 65536, b->odp->rkey);
	/* RoCEv2: the far responder creates an implicit child. */
	want0 += post(r->qw0, IBV_WR_RDMA_WRITE, buf[0], a->mr->lkey, 8192,
		      dst2, b->imp->rkey);
	if (want0 < 5)
		good = false;
	if (reap(a->cq, want0, &good) < want0 && !injecting)
		printf("# clean round: %d WRs posted, fewer completed\n", want0);
	if (!good)
		return false;
	if (memcmp(dst, buf[0], 8192) || memcmp(dst2, buf[0], 8192) ||
	    memcmp(buf[0] + 16384, a->region, 8192) ||
	    memcmp(b->region + 65536, buf[0], 8192) ||
	    memcmp(buf[0] + 32768, buf[0], 4096)) {
		if (!injecting)
			printf("# clean round: the data differ\n");
		return false;
	}
	return true;
}

static void teardown(struct round *r)
{
	struct ibv_qp *qps[] = { r->qa, r->qb, r->qw0, r->qw1 };
	int i;

	for (i = 0; i < 4; i++)
		if (qps[i] && ibv_destroy_qp(qps[i]))
			fprintf(stderr, "destroy_qp: %s\n", strerror(errno));
	for (i = 0; i < 2; i++) {
		struct dev *d = &r->d[i];

		if (d->imp)
			ibv_dereg_mr(d->imp);
		if (d->odp)
			ibv_dereg_mr(d->odp);
		if (d->mr)
			ibv_dereg_mr(d->mr);
		if (d->cq)
			ibv_destroy_cq(d->cq);
		if (d->pd)
			ibv_dealloc_pd(d->pd);
		if (d->region)
			munmap(d->region, REGION);
		d->pd = NULL;
		d->cq = NULL;
		d->mr = d->odp = d->imp = NULL;
		d->region = NULL;
	}
	r->qa = r->qb = r->qw0 = r->qw1 = NULL;
	/* The implicit MR's children go with their pages. */
	madvise(r->span, IMPLICIT_SPAN, MADV_DONTNEED);
}

int main(int argc, char **argv)
{
	const char *dev = "mirror0", *dev2 = NULL;
	const char *env = getenv("MIRROR_TIME_SCALE");
	struct round r = { 0 };
	unsigned long seed = 20261202;
	int rounds = 200, i, opt, clean;

	while ((opt = getopt(argc, argv, "d:W:r:s:F:p:")) != -1) {
		switch (opt) {
		case 'd': dev = optarg; break;
		case 'W': dev2 = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 's': seed = strtoul(optarg, NULL, 0); break;
		case 'F':
			attr_fd = open(optarg, O_WRONLY);
			if (attr_fd < 0) {
				perror(optarg);
				return 2;
			}
			break;
		case 'p': attr_rate = optarg; break;
		default: goto usage;
		}
	}
	if (!dev2)
		goto usage;
	if (env && atof(env) >= 1)
		scale = atof(env);
	rng_state = seed * 2 + 1;
	printf("# seed %lu, %d rounds\n", seed, rounds);
	buf[0] = aligned_alloc(4096, BUF);
	buf[1] = aligned_alloc(4096, BUF);
	r.span = mmap(NULL, IMPLICIT_SPAN, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!buf[0] || !buf[1] || r.span == MAP_FAILED ||
	    !open_dev(dev, &r.d[0]) || !open_dev(dev2, &r.d[1])) {
		printf("not ok - setup: %s\n", strerror(errno));
		return 1;
	}
	fail_fd = open("/proc/thread-self/make-it-fail", O_WRONLY);
	if (fail_fd < 0 && errno != ENOENT) {
		printf("not ok - setup: make-it-fail: %s\n", strerror(errno));
		return 1;
	}
	/*
	 * Our own memory present first: the injection is for the kernel's
	 * work, and a failed fault on this program's text (read from the
	 * guest's 9p root) would be a SIGBUS. Memory mapped later is filled
	 * with injection off (see run_round).
	 */
	memset(buf[0], 0, BUF);
	memset(buf[1], 0, BUF);
	if (mlockall(MCL_CURRENT)) {
		printf("not ok - setup: mlockall: %s\n", strerror(errno));
		return 1;
	}

	for (i = 0; i < rounds; i++) {
		inject(true);
		run_round(&r);
		/* Half the rounds also tear down while allocations fail. */
		if (rnd() & 1)
			inject(false);
		teardown(&r);
		inject(false);
	}
	for (i = 0; i < S_COUNT; i++)
		printf("# %-16s %6lu tried, %6lu failed\n", step_name[i],
		       tried[i], tried[i] - okays[i]);

	/* Injection off: every step works again, byte for byte, thrice. */
	for (clean = 0, i = 0; i < 3; i++) {
		clean += run_round(&r);
		teardown(&r);
	}
	printf("%s - with injection off, every step and byte works again (%d of 3 rounds)\n",
	       clean == 3 ? "ok" : "not ok", clean);
	return clean == 3 ? 0 : 1;
usage:
	fprintf(stderr, "usage: %s -d DEV -W DEV2 [-r ROUNDS] [-s SEED] [-F FILE [-p RATE]]\n",
		argv[0]);
	return 2;
}
