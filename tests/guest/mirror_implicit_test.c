// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_implicit_test - implicit ODP MRs in the guest: one
 * ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND | ...) per side, and
 * every transfer into and out of ordinary addresses of the process (heap,
 * stack, data and bss segments, fresh and far-away mmaps) with nothing
 * but that MR's lkey and rkey.
 *
 * Besides the data, the tests prove what the implicit MR does behind the
 * scenes through its counters (libmirrorverbs' exact queries, and sysfs):
 * 16 MiB children created on first use and removed after munmap, mirror
 * invalidation on MADV_DONTNEED, munmap, mmap and mprotect, prefetch, and
 * that a process that churns its address space, or dies with transfers in
 * flight, leaves nothing behind.
 *
 * Side a of every pair is on the device, side b (the responder, whose
 * implicit MR the counters watch) on the same device, or with -W DEV2 on
 * DEV2 over RoCEv2 (guest_implicit and guest_implicit_wire).
 *
 * Usage: mirror_implicit_test [-d DEVICE] [-W DEV2] [-v] [TEST-NAME-SUBSTRING...]
 */
#define _GNU_SOURCE
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

#include "mirror_tap.h"
#include "mirror_testlib.h"
#include "mirrorverbs.h"

#define CHILD_SIZE	(16UL << 20)	/* an implicit MR's child */
#define QP_DEPTH	256
#define MAX_SGE		8
#define QKEY		0x11111111
#define GRH_LEN		40
#define WAIT_SECS	10		/* for one completion */
#define IMPLICIT_ACCESS (IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE | \
			 IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ | \
			 IBV_ACCESS_REMOTE_ATOMIC)

static size_t page;

/* Memory of the program image: the data and bss segments. */
static uint8_t data_seg[2 * 4096] = { 1 };
static uint8_t bss_seg[2 * 4096];
static uint64_t bss_words[4];

/* A QP with its own PD, CQ and implicit MR. */
struct side {
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
};

/* a requests, b responds (and receives); connected to each other. */
struct pair {
	enum ibv_qp_type type;
	struct side a, b;
	struct ibv_ah *ah;	/* UD: a to b */
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct ibv_mr *reg_implicit(struct ibv_pd *pd)
{
	return ibv_reg_mr(pd, NULL, SIZE_MAX, IMPLICIT_ACCESS);
}

/* What the last failed pair_init() could not do, and why. */
static char setup_why[160];

static int setup_failed(const char *what)
{
	snprintf(setup_why, sizeof(setup_why), "%s: %s", what, strerror(errno));
	return -1;
}

static int side_init(struct side *s, struct ibv_context *c,
		     enum ibv_qp_type type)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = type,
		.cap = { .max_send_wr = QP_DEPTH, .max_recv_wr = QP_DEPTH,
			 .max_send_sge = MAX_SGE, .max_recv_sge = MAX_SGE },
	};

	s->pd = ibv_alloc_pd(c);
	if (!s->pd)
		return setup_failed("ibv_alloc_pd");
	s->cq = ibv_create_cq(c, 2 * QP_DEPTH, NULL, NULL, 0);
	if (!s->cq)
		return setup_failed("ibv_create_cq");
	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	s->qp = ibv_create_qp(s->pd, &ia);
	if (!s->qp)
		return setup_failed("ibv_create_qp");
	s->mr = reg_implicit(s->pd);
	if (!s->mr)
		return setup_failed("implicit ibv_reg_mr");
	return 0;
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
	memset(s, 0, sizeof(*s));
}

/* Connects @qp (a's when @from_a, else b's) to QP @dest. */
static int connect_qp(struct ibv_qp *qp, bool from_a, uint32_t dest)
{
	struct mirror_test_qp_params prm = mirror_test_qp_defaults(qp->qp_type);
	struct ibv_ah_attr av = from_a ? peer_av() : back_av();

	prm.qkey = QKEY;
	prm.rd_atomic = 8;
	return mirror_test_connect(qp, dest, &av, &prm);
}

static int pair_connect(struct pair *p)
{
	if (connect_qp(p->a.qp, true, p->b.qp->qp_num))
		return setup_failed("connect a to b (ibv_modify_qp)");
	if (connect_qp(p->b.qp, false, p->a.qp->qp_num))
		return setup_failed("connect b to a (ibv_modify_qp)");
	return 0;
}

/* A pair with side a on @ca and side b on @cb. */
static int pair_init_ctx(struct pair *p, struct ibv_context *ca,
			 struct ibv_context *cb, enum ibv_qp_type type)
{
	struct ibv_ah_attr av = peer_av();

	memset(p, 0, sizeof(*p));
	p->type = type;
	if (side_init(&p->a, ca, type) || side_init(&p->b, cb, type) ||
	    pair_connect(p))
		return -1;
	if (type == IBV_QPT_UD) {
		p->ah = ibv_create_ah(p->a.pd, &av);
		if (!p->ah)
			return setup_failed("ibv_create_ah");
	}
	return 0;
}

static int pair_init(struct pair *p, enum ibv_qp_type type)
{
	return pair_init_ctx(p, ctx, peer_ctx, type);
}

static void pair_fini(struct pair *p)
{
	if (p->ah)
		ibv_destroy_ah(p->ah);
	side_fini(&p->a);
	side_fini(&p->b);
}

/* After an error completion: both QPs back to RTS, the CQs empty. */
static int pair_reconnect(struct pair *p)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };
	struct ibv_wc wc;

	if (ibv_modify_qp(p->a.qp, &a, IBV_QP_STATE) ||
	    ibv_modify_qp(p->b.qp, &a, IBV_QP_STATE))
		return -1;
	while (ibv_poll_cq(p->a.cq, 1, &wc) > 0)
		;
	while (ibv_poll_cq(p->b.cq, 1, &wc) > 0)
		;
	return pair_connect(p);
}

/* Waits up to WAIT_SECS (scaled) for one completion: its status, or -1. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc)
{
	double end = now() + WAIT_SECS * mirror_test_time_scale();
	unsigned int polls = 0;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n == 1 ? (int)wc->status : -1;
		if (++polls < 100)
			continue;
		if (now() > end)
			return -1;
		usleep(20);
	}
}

static const char *status_str(int st)
{
	return st < 0 ? "no completion" : ibv_wc_status_str(st);
}

/* Posts one signalled WR from a: RDMA, atomic (@cmp_add, @swap) or send. */
static int post_wr(struct pair *p, enum ibv_wr_opcode op, struct ibv_sge *sg,
		   int nsge, uint64_t raddr, uint64_t cmp_add, uint64_t swap)
{
	struct ibv_send_wr wr = {
		.wr_id = op, .sg_list = sg, .num_sge = nsge, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};
	struct ibv_send_wr *bad;

	if (p->type == IBV_QPT_UD) {
		wr.wr.ud.ah = p->ah;
		wr.wr.ud.remote_qpn = p->b.qp->qp_num;
		wr.wr.ud.remote_qkey = QKEY;
	} else if (op == IBV_WR_ATOMIC_CMP_AND_SWP ||
		   op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = p->b.mr->rkey;
		wr.wr.atomic.compare_add = cmp_add;
		wr.wr.atomic.swap = swap;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = p->b.mr->rkey;
	}
	return ibv_post_send(p->a.qp, &wr, &bad);
}

/*
 * RDMA write or read between @local (a's implicit lkey) and @remote (b's
 * implicit rkey): the completion's status, or -1.
 */
static int rdma(struct pair *p, enum ibv_wr_opcode op, void *local,
		const void *remote, uint32_t len)
{
	struct ibv_sge sge = { (uintptr_t)local, len, p->a.mr->lkey };
	struct ibv_wc wc;

	if (post_wr(p, op, &sge, 1, (uintptr_t)remote, 0, 0))
		return -1;
	return wait_wc(p->a.cq, &wc);
}

static int rdma_write(struct pair *p, const void *src, void *dst,
		      uint32_t len)
{
	return rdma(p, IBV_WR_RDMA_WRITE, (void *)src, dst, len);
}

static int rdma_read(struct pair *p, void *dst, const void *src, uint32_t len)
{
	return rdma(p, IBV_WR_RDMA_READ, dst, src, len);
}

/* An atomic on the remote word @remote; the old value lands in @result. */
static int atomic_op(struct pair *p, enum ibv_wr_opcode op, uint64_t *result,
		     uint64_t *remote, uint64_t cmp_add, uint64_t swap)
{
	struct ibv_sge sge = { (uintptr_t)result, 8, p->a.mr->lkey };
	struct ibv_wc wc;

	if (post_wr(p, op, &sge, 1, (uintptr_t)remote, cmp_add, swap))
		return -1;
	return wait_wc(p->a.cq, &wc);
}

static int post_recv_sges(struct side *s, struct ibv_sge *sg, int n)
{
	struct ibv_recv_wr wr = { .wr_id = 7, .sg_list = sg, .num_sge = n };
	struct ibv_recv_wr *bad;

	return ibv_post_recv(s->qp, &wr, &bad);
}

/*
 * A send of the @n SGEs @ssg (a's lkey filled in) into one receive of the
 * @m SGEs @rsg (b's lkey filled in). *@sst and *@rst get the statuses
 * (-1: none), *@rlen the received byte count.
 */
static int send_recv_sges(struct pair *p, struct ibv_sge *ssg, int n,
			  struct ibv_sge *rsg, int m, int *sst, int *rst,
			  uint32_t *rlen)
{
	struct ibv_wc wc;
	int i;

	for (i = 0; i < n; i++)
		ssg[i].lkey = p->a.mr->lkey;
	for (i = 0; i < m; i++)
		rsg[i].lkey = p->b.mr->lkey;
	*sst = -1;
	*rst = -1;
	if (post_recv_sges(&p->b, rsg, m) ||
	    post_wr(p, IBV_WR_SEND, ssg, n, 0, 0, 0))
		return -1;
	*sst = wait_wc(p->a.cq, &wc);
	*rst = wait_wc(p->b.cq, &wc);
	*rlen = wc.byte_len;
	return 0;
}

/* One buffer to one buffer: 0 when both sides completed successfully. */
static int send_recv(struct pair *p, const void *src, void *dst, uint32_t len)
{
	uint32_t hdr = p->type == IBV_QPT_UD ? GRH_LEN : 0, rlen = 0;
	struct ibv_sge ssg = { (uintptr_t)src, len, 0 };
	struct ibv_sge rsg = { (uintptr_t)dst, len + hdr, 0 };
	int sst, rst;

	if (send_recv_sges(p, &ssg, 1, &rsg, 1, &sst, &rst, &rlen))
		return -1;
	return sst == IBV_WC_SUCCESS && rst == IBV_WC_SUCCESS &&
	       rlen == len + hdr ? 0 : -1;
}

static uint8_t pattern(uint32_t seed, size_t i)
{
	uint32_t h = ((uint32_t)i ^ (seed * 0x9e3779b9u)) * 0x85ebca6bu;

	return (uint8_t)((h >> 24) ^ (i >> 12) ^ 0x5a);
}

static void fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = pattern(seed, i);
}

/* Bytes of @buf that differ from pattern @seed. */
static size_t bad_bytes(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *b = buf;
	size_t i, bad = 0;

	for (i = 0; i < len; i++)
		bad += b[i] != pattern(seed, i);
	return bad;
}

static bool all_zero(const void *buf, size_t len)
{
	const uint8_t *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/*
 * @len bytes of untouched anonymous memory starting at a multiple of
 * @align, nothing else mapped in between (munmap(ret, len) frees it).
 */
static uint8_t *map_aligned(size_t len, size_t align)
{
	uint8_t *p, *a;
	size_t total = len + align;

	p = mmap(NULL, total, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (uint8_t *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (p + total > a + len)
		munmap(a + len, (size_t)(p + total - (a + len)));
	return a;
}

/* Fresh anonymous memory at exactly @addr, where nothing is mapped. */
static bool map_at(void *addr, size_t len)
{
	void *p = mmap(addr, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1,
		       0);

	if (p == addr)
		return true;
	if (p != MAP_FAILED)
		munmap(p, len);
	return false;
}

/* An address no mapping covers (a page in the middle of a fresh hole). */
static uint8_t *unmapped_addr(void)
{
	uint8_t *p = mmap(NULL, 3 * page, PROT_NONE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	munmap(p, 3 * page);
	return p + page;
}

static int mr_counters(struct ibv_mr *mr, struct mirrorv_odp_counters *c)
{
	int err = mirrorv_query_mr_odp_counters(mr, c);

	errno = err;
	return err ? -1 : 0;
}

static int dev_counters(struct ibv_context *c, struct mirrorv_odp_counters *o)
{
	int err = mirrorv_query_odp_counters(c, o);

	errno = err;
	return err ? -1 : 0;
}

/* A device counter from sysfs (the caller slept 10 ms after the verbs). */
static long long sysfs_counter(const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev_name,
		 name);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Polls @mr's counters every millisecond for up to @secs until its
 * children_live is @live and children_destroyed at least @destroyed;
 * @c gets the last reading. Returns the seconds it took, or -1.
 */
static double wait_children(struct ibv_mr *mr, uint64_t live,
			    uint64_t destroyed, double secs,
			    struct mirrorv_odp_counters *c)
{
	double t0 = now();

	do {
		if (mr_counters(mr, c))
			return -1;
		if (c->children_live == live &&
		    c->children_destroyed >= destroyed)
			return now() - t0;
		usleep(1000);
	} while (now() - t0 < secs);
	return -1;
}

/* Pages of [addr, addr + len) mirrored, and mirrored writable. */
static int mirrored(struct ibv_mr *mr, const void *addr, size_t len,
		    size_t *readable, size_t *writable)
{
	size_t i, n = ((uintptr_t)addr % page + len + page - 1) / page;
	uint8_t *st = malloc(n);
	int err;

	if (!st)
		return -1;
	err = mirrorv_query_mirror(mr, addr, len, st);
	*readable = 0;
	*writable = 0;
	for (i = 0; !err && i < n; i++) {
		*readable += !!(st[i] & MIRRORV_PAGE_READ);
		*writable += !!(st[i] & MIRRORV_PAGE_WRITE);
	}
	free(st);
	errno = err;
	return err ? -1 : 0;
}

/* ---------------------------------------------------------------------- */

static int test_device_claims_implicit_odp(void)
{
	struct ibv_device_attr_ex ex;
	uint32_t rc_need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
			   IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
			   IBV_ODP_SUPPORT_ATOMIC;
	uint32_t ud_need = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV;
	int rc = -1;

	CHECK(ibv_query_device_ex(ctx, NULL, &ex) == 0, "ibv_query_device_ex");
	CHECK((ex.odp_caps.general_caps & IBV_ODP_SUPPORT) &&
	      (ex.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT),
	      "general_caps 0x%llx",
	      (unsigned long long)ex.odp_caps.general_caps);
	CHECK((ex.odp_caps.per_transport_caps.rc_odp_caps & rc_need) ==
	      rc_need, "rc_odp_caps 0x%x",
	      ex.odp_caps.per_transport_caps.rc_odp_caps);
	CHECK((ex.odp_caps.per_transport_caps.ud_odp_caps & ud_need) ==
	      ud_need, "ud_odp_caps 0x%x",
	      ex.odp_caps.per_transport_caps.ud_odp_caps);
	rc = 0;
out:
	return rc;
}

static int test_implicit_mr_registers_and_creates_no_child_yet(void)
{
	struct mirrorv_odp_counters c;
	struct ibv_mr *mr = NULL, *lib = NULL;
	struct ibv_pd *pd;
	int rc = -1;

	pd = ibv_alloc_pd(ctx);
	CHECK(pd, "ibv_alloc_pd");
	mr = reg_implicit(pd);
	CHECK(mr, "ibv_reg_mr(NULL, SIZE_MAX, ON_DEMAND): %s",
	      strerror(errno));
	CHECK(mr->addr == NULL && mr->length == SIZE_MAX,
	      "addr %p length 0x%zx", mr->addr, mr->length);
	CHECK(mr_counters(mr, &c) == 0, "counters: %s", strerror(errno));
	CHECK(c.children_live == 0 && c.children_created == 0 &&
	      c.faults == 0, "a fresh implicit MR has %llu children, %llu faults",
	      (unsigned long long)c.children_live,
	      (unsigned long long)c.faults);
	/* libmirrorverbs' way to the same thing. */
	lib = mirrorv_reg_implicit_mr(pd, 0);
	CHECK(lib, "mirrorv_reg_implicit_mr: %s", strerror(errno));
	CHECK(lib->addr == NULL && lib->length == SIZE_MAX &&
	      lib->lkey != mr->lkey, "second implicit MR: addr %p length 0x%zx",
	      lib->addr, lib->length);
	rc = 0;
out:
	if (lib)
		ibv_dereg_mr(lib);
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	return rc;
}

static int test_rc_send_recv_between_heap_stack_data_and_fresh_mmap(void)
{
	uint8_t stack_buf[3000];
	uint8_t *heap = malloc(20000), *fresh = map_aligned(64 * 1024, page);
	struct pair p = {};
	int rc = -1;

	CHECK(heap && fresh, "allocations");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	fill(heap, sizeof(stack_buf), 1);
	CHECK(send_recv(&p, heap, stack_buf, sizeof(stack_buf)) == 0,
	      "heap -> stack");
	CHECK(!bad_bytes(stack_buf, sizeof(stack_buf), 1), "stack differs");
	/* Into memory nobody touched yet: the receive faults it in. */
	fill(stack_buf, sizeof(stack_buf), 2);
	CHECK(send_recv(&p, stack_buf, fresh + 5, sizeof(stack_buf)) == 0,
	      "stack -> fresh mmap");
	CHECK(!bad_bytes(fresh + 5, sizeof(stack_buf), 2), "mmap differs");
	fill(data_seg, sizeof(data_seg), 3);
	CHECK(send_recv(&p, data_seg, heap + 1, sizeof(data_seg)) == 0,
	      "data segment -> heap");
	CHECK(!bad_bytes(heap + 1, sizeof(data_seg), 3), "heap differs");
	/* And out of the mmap, into the heap. */
	fill(fresh, 20000, 4);
	CHECK(send_recv(&p, fresh, heap, 20000) == 0, "mmap -> heap");
	CHECK(!bad_bytes(heap, 20000, 4), "heap differs");
	rc = 0;
out:
	pair_fini(&p);
	free(heap);
	if (fresh)
		munmap(fresh, 64 * 1024);
	return rc;
}

static int test_rc_write_into_untouched_mmap_and_heap(void)
{
	size_t len = 300 * 1024;
	uint8_t *src = malloc(len), *heap = malloc(len);
	uint8_t *fresh = map_aligned(len, page);
	uint8_t stack_buf[2000];
	struct pair p = {};
	int st, rc = -1;

	CHECK(src && heap && fresh, "allocations");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	fill(src, len, 5);
	st = rdma_write(&p, src, fresh + 3, (uint32_t)(len - 3));
	CHECK(st == IBV_WC_SUCCESS, "write to mmap: %s", status_str(st));
	CHECK(!bad_bytes(fresh + 3, len - 3, 5), "mmap differs");
	fill(stack_buf, sizeof(stack_buf), 6);
	st = rdma_write(&p, stack_buf, heap + 17, sizeof(stack_buf));
	CHECK(st == IBV_WC_SUCCESS, "stack to heap: %s", status_str(st));
	CHECK(!bad_bytes(heap + 17, sizeof(stack_buf), 6), "heap differs");
	rc = 0;
out:
	pair_fini(&p);
	free(src);
	free(heap);
	if (fresh)
		munmap(fresh, len);
	return rc;
}

static int test_rc_read_from_data_and_bss_into_mmap_and_stack(void)
{
	uint8_t *fresh = map_aligned(64 * 1024, page);
	uint8_t stack_buf[sizeof(bss_seg)];
	struct pair p = {};
	int st, rc = -1;

	CHECK(fresh, "mmap");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	fill(data_seg, sizeof(data_seg), 7);
	fill(bss_seg, sizeof(bss_seg), 8);
	st = rdma_read(&p, fresh + 100, data_seg, sizeof(data_seg));
	CHECK(st == IBV_WC_SUCCESS, "read data segment: %s", status_str(st));
	CHECK(!bad_bytes(fresh + 100, sizeof(data_seg), 7), "mmap differs");
	memset(stack_buf, 0, sizeof(stack_buf));
	st = rdma_read(&p, stack_buf, bss_seg, sizeof(bss_seg));
	CHECK(st == IBV_WC_SUCCESS, "read bss: %s", status_str(st));
	CHECK(!bad_bytes(stack_buf, sizeof(stack_buf), 8), "stack differs");
	rc = 0;
out:
	pair_fini(&p);
	if (fresh)
		munmap(fresh, 64 * 1024);
	return rc;
}

static int test_rc_atomics_on_bss_and_heap_words(void)
{
	uint64_t *heap_word = malloc(64), old = 0;
	struct pair p = {};
	int st, rc = -1;

	CHECK(heap_word, "malloc");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	bss_words[1] = 1000;
	st = atomic_op(&p, IBV_WR_ATOMIC_FETCH_AND_ADD, &old, &bss_words[1],
		       234, 0);
	CHECK(st == IBV_WC_SUCCESS, "fetch&add: %s", status_str(st));
	CHECK(old == 1000 && bss_words[1] == 1234, "old %llu, now %llu",
	      (unsigned long long)old, (unsigned long long)bss_words[1]);
	*heap_word = 0xfeedface;
	st = atomic_op(&p, IBV_WR_ATOMIC_CMP_AND_SWP, &old, heap_word,
		       0xfeedface, 0xc0ffee);
	CHECK(st == IBV_WC_SUCCESS, "cmp&swap: %s", status_str(st));
	CHECK(old == 0xfeedface && *heap_word == 0xc0ffee,
	      "swap: old 0x%llx, now 0x%llx", (unsigned long long)old,
	      (unsigned long long)*heap_word);
	/* A compare that fails leaves the word. */
	st = atomic_op(&p, IBV_WR_ATOMIC_CMP_AND_SWP, &old, heap_word, 1, 2);
	CHECK(st == IBV_WC_SUCCESS && old == 0xc0ffee &&
	      *heap_word == 0xc0ffee, "failing compare: %s, old 0x%llx",
	      status_str(st), (unsigned long long)old);
	rc = 0;
out:
	pair_fini(&p);
	free(heap_word);
	return rc;
}

static int test_ud_send_recv_from_heap_into_stack(void)
{
	uint8_t stack_buf[GRH_LEN + 1000];
	uint8_t *heap = malloc(1000);
	struct pair p = {};
	int rc = -1;

	CHECK(heap, "malloc");
	CHECK(pair_init(&p, IBV_QPT_UD) == 0, "setup: %s", setup_why);
	fill(heap, 1000, 9);
	CHECK(send_recv(&p, heap, stack_buf, 1000) == 0, "UD heap -> stack");
	CHECK(!bad_bytes(stack_buf + GRH_LEN, 1000, 9), "payload differs");
	fill(stack_buf, 500, 10);
	CHECK(send_recv(&p, stack_buf, heap, 500) == 0, "UD stack -> heap");
	CHECK(!bad_bytes(heap + GRH_LEN, 500, 10), "payload differs");
	rc = 0;
out:
	pair_fini(&p);
	free(heap);
	return rc;
}

static int test_transfers_across_a_child_boundary(void)
{
	struct mirrorv_odp_counters c0, c1;
	uint8_t *region = map_aligned(4 * CHILD_SIZE, CHILD_SIZE);
	size_t len = 5 * page + 123, r, w;
	uint8_t *src = malloc(len), *wdst, *rdst, *rcv;
	struct pair p = {};
	int st, rc = -1;

	CHECK(region && src, "allocations");
	/* Each buffer straddles a 16 MiB boundary of the region. */
	wdst = region + 1 * CHILD_SIZE - 2 * page - 61;
	rdst = region + 2 * CHILD_SIZE - 3 * page - 7;
	rcv = region + 3 * CHILD_SIZE - page - 1;
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	CHECK(mr_counters(p.b.mr, &c0) == 0, "counters");
	fill(src, len, 11);
	st = rdma_write(&p, src, wdst, (uint32_t)len);
	CHECK(st == IBV_WC_SUCCESS, "write: %s", status_str(st));
	CHECK(!bad_bytes(wdst, len, 11), "written bytes differ");
	CHECK(mr_counters(p.b.mr, &c1) == 0, "counters");
	CHECK(c1.children_created - c0.children_created == 2 &&
	      c1.children_live == 2, "one write made %llu children (%llu live)",
	      (unsigned long long)(c1.children_created - c0.children_created),
	      (unsigned long long)c1.children_live);
	CHECK(mirrored(p.b.mr, wdst, len, &r, &w) == 0, "query_mirror");
	CHECK(w == 7, "%zu of 7 pages mirrored writable", w);
	/* Read it back into a's side, across another boundary. */
	st = rdma_read(&p, rdst, wdst, (uint32_t)len);
	CHECK(st == IBV_WC_SUCCESS, "read: %s", status_str(st));
	CHECK(!bad_bytes(rdst, len, 11), "read bytes differ");
	/* And a send whose receive buffer straddles the third boundary. */
	CHECK(send_recv(&p, rdst, rcv, (uint32_t)len) == 0, "send");
	CHECK(!bad_bytes(rcv, len, 11), "received bytes differ");
	rc = 0;
out:
	pair_fini(&p);
	free(src);
	if (region)
		munmap(region, 4 * CHILD_SIZE);
	return rc;
}

#define NCHILDREN 64

static int test_64_regions_make_64_children_and_munmap_removes_them(void)
{
	struct mirrorv_odp_counters c0, c1, c2, d;
	uint8_t *region = map_aligned(NCHILDREN * CHILD_SIZE, CHILD_SIZE);
	uint8_t src[256], back[256];
	struct pair p = {};
	double t;
	int i, st, rc = -1;

	CHECK(region, "mmap of 1 GiB of address space");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	CHECK(mr_counters(p.b.mr, &c0) == 0, "counters");
	for (i = 0; i < NCHILDREN; i++) {
		uint8_t *dst = region + i * CHILD_SIZE + (size_t)i * page + i;

		fill(src, sizeof(src), 100 + i);
		st = rdma_write(&p, src, dst, sizeof(src));
		CHECK(st == IBV_WC_SUCCESS, "write %d: %s", i, status_str(st));
		st = rdma_read(&p, back, dst, sizeof(back));
		CHECK(st == IBV_WC_SUCCESS, "read %d: %s", i, status_str(st));
		CHECK(!bad_bytes(back, sizeof(back), 100 + i) &&
		      !bad_bytes(dst, sizeof(src), 100 + i),
		      "region %d differs", i);
	}
	CHECK(mr_counters(p.b.mr, &c1) == 0, "counters");
	CHECK(c1.children_created - c0.children_created == NCHILDREN &&
	      c1.children_live == NCHILDREN,
	      "%llu children created, %llu live, want %d",
	      (unsigned long long)(c1.children_created - c0.children_created),
	      (unsigned long long)c1.children_live, NCHILDREN);
	CHECK(dev_counters(peer_ctx, &d) == 0 && d.children_live >= NCHILDREN,
	      "device children_live %llu", (unsigned long long)d.children_live);
	note("64 children: device mirror_bytes %llu",
	     (unsigned long long)d.mirror_bytes);
	munmap(region, NCHILDREN * CHILD_SIZE);
	region = NULL;
	t = wait_children(p.b.mr, 0, c1.children_destroyed + NCHILDREN, 5, &c2);
	CHECK(t >= 0, "after munmap: %llu children live, %llu destroyed",
	      (unsigned long long)c2.children_live,
	      (unsigned long long)(c2.children_destroyed -
				   c1.children_destroyed));
	note("all 64 children gone %.1f ms after munmap", t * 1e3);
	rc = 0;
out:
	pair_fini(&p);
	if (region)
		munmap(region, NCHILDREN * CHILD_SIZE);
	return rc;
}

/* Candidates for "far away": the top of the 47-bit user address space. */
static uint8_t *map_high(size_t len)
{
	static const uintptr_t at[] = {
		0x7e0000000000UL, 0x7d0000000000UL, 0x700000000000UL,
	};
	size_t i;

	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		if (map_at((void *)at[i], len))
			return (uint8_t *)at[i];
	return NULL;
}

#define NFAR 5

static int test_far_apart_addresses_with_one_key(void)
{
	struct mirrorv_odp_counters c;
	uint8_t stack_buf[2 * 4096];
	uint8_t *high = map_high(2 * page), *heap = malloc(2 * 4096);
	uint8_t *loc[NFAR] = { high, stack_buf, heap, data_seg, bss_seg };
	static const char *const name[NFAR] = {
		"high mmap", "stack", "heap", "data segment", "bss",
	};
	struct ibv_sge ssg[NFAR], rsg[NFAR];
	uintptr_t lo = UINTPTR_MAX, hi = 0;
	uint8_t src[4096];
	uint32_t rlen = 0;
	struct pair p = {};
	int i, st, sst, rst, rc = -1;

	CHECK(high && heap, "a mapping at 0x7e0000000000 or so, and malloc");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	for (i = 0; i < NFAR; i++) {
		lo = (uintptr_t)loc[i] < lo ? (uintptr_t)loc[i] : lo;
		hi = (uintptr_t)loc[i] > hi ? (uintptr_t)loc[i] : hi;
	}
	note("addresses span %#lx..%#lx", (unsigned long)lo,
	     (unsigned long)hi);
	CHECK(hi - lo > (1UL << 40), "span only %#lx",
	      (unsigned long)(hi - lo));
	/* Write each, and read each back into the next one's second half. */
	for (i = 0; i < NFAR; i++) {
		fill(src, 4096, 20 + i);
		st = rdma_write(&p, src, loc[i], 4096);
		CHECK(st == IBV_WC_SUCCESS, "write to %s: %s", name[i],
		      status_str(st));
		CHECK(!bad_bytes(loc[i], 4096, 20 + i), "%s differs", name[i]);
	}
	for (i = 0; i < NFAR; i++) {
		uint8_t *to = loc[(i + 1) % NFAR] + 4096;

		st = rdma_read(&p, to, loc[i], 4096);
		CHECK(st == IBV_WC_SUCCESS, "read from %s: %s", name[i],
		      status_str(st));
		CHECK(!bad_bytes(to, 4096, 20 + i), "read of %s differs",
		      name[i]);
	}
	/* One send gathering from all five, scattered into all five. */
	for (i = 0; i < NFAR; i++) {
		ssg[i] = (struct ibv_sge){ (uintptr_t)loc[i] + 1000, 100, 0 };
		rsg[i] = (struct ibv_sge){
			(uintptr_t)loc[NFAR - 1 - i] + 4096 + 2000, 100, 0 };
	}
	CHECK(send_recv_sges(&p, ssg, NFAR, rsg, NFAR, &sst, &rst, &rlen) == 0,
	      "post");
	CHECK(sst == IBV_WC_SUCCESS && rst == IBV_WC_SUCCESS &&
	      rlen == 100 * NFAR, "gather/scatter send: %s / %s, %u bytes",
	      status_str(sst), status_str(rst), rlen);
	for (i = 0; i < NFAR; i++)
		CHECK(!memcmp(loc[i] + 1000, loc[NFAR - 1 - i] + 4096 + 2000,
			      100), "SGE %d differs", i);
	CHECK(mr_counters(p.b.mr, &c) == 0, "counters");
	note("b's implicit MR: %llu children for five places",
	     (unsigned long long)c.children_live);
	CHECK(c.children_live >= 3, "only %llu children",
	      (unsigned long long)c.children_live);
	rc = 0;
out:
	pair_fini(&p);
	free(heap);
	if (high)
		munmap(high, 2 * page);
	return rc;
}

static int test_munmap_removes_child_and_next_access_recreates_it(void)
{
	struct mirrorv_odp_counters c0, c1, c2, c3, d1, d2;
	uint8_t *x = map_aligned(CHILD_SIZE, CHILD_SIZE), src[512];
	struct pair p = {};
	double t;
	int st, rc = -1;

	CHECK(x, "mmap");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	CHECK(mr_counters(p.b.mr, &c0) == 0, "counters");
	fill(src, sizeof(src), 30);
	st = rdma_write(&p, src, x + 5 * page, sizeof(src));
	CHECK(st == IBV_WC_SUCCESS, "write: %s", status_str(st));
	CHECK(mr_counters(p.b.mr, &c1) == 0 && dev_counters(peer_ctx, &d1) == 0,
	      "counters");
	CHECK(c1.children_created == c0.children_created + 1 &&
	      c1.children_live == 1, "created %llu live %llu",
	      (unsigned long long)c1.children_created,
	      (unsigned long long)c1.children_live);
	munmap(x, CHILD_SIZE);
	t = wait_children(p.b.mr, 0, c1.children_destroyed + 1, 5, &c2);
	CHECK(t >= 0, "child still there 5 s after munmap (live %llu)",
	      (unsigned long long)c2.children_live);
	note("child removed %.1f ms after munmap", t * 1e3);
	CHECK(dev_counters(peer_ctx, &d2) == 0 &&
	      d2.children_live == d1.children_live - 1 &&
	      d2.children_destroyed == d1.children_destroyed + 1,
	      "device: live %llu -> %llu",
	      (unsigned long long)d1.children_live,
	      (unsigned long long)d2.children_live);
	CHECK(d2.mirror_bytes < d1.mirror_bytes, "mirror_bytes %llu -> %llu",
	      (unsigned long long)d1.mirror_bytes,
	      (unsigned long long)d2.mirror_bytes);
	/* The same address, mapped again: the next write makes a new child. */
	CHECK(map_at(x, CHILD_SIZE), "mmap at %p again", (void *)x);
	fill(src, sizeof(src), 31);
	st = rdma_write(&p, src, x + 5 * page, sizeof(src));
	CHECK(st == IBV_WC_SUCCESS, "write again: %s", status_str(st));
	CHECK(!bad_bytes(x + 5 * page, sizeof(src), 31), "bytes differ");
	CHECK(mr_counters(p.b.mr, &c3) == 0, "counters");
	CHECK(c3.children_created == c1.children_created + 1 &&
	      c3.children_live == 1, "created %llu live %llu",
	      (unsigned long long)c3.children_created,
	      (unsigned long long)c3.children_live);
	rc = 0;
out:
	pair_fini(&p);
	if (x)
		munmap(x, CHILD_SIZE);
	return rc;
}

/*
 * What the memory-behaviour tests share: a pair, @npages pages of fresh
 * anonymous memory r (the target, through b's rkey) and a malloc() buffer
 * of as many (a's side).
 */
struct mem_fix {
	struct pair p;
	uint8_t *r, *buf;
	size_t len;
};

static int fix_init(struct mem_fix *f, size_t npages)
{
	memset(f, 0, sizeof(*f));
	f->len = npages * page;
	f->r = map_aligned(f->len, page);
	f->buf = malloc(f->len);
	if (!f->r || !f->buf)
		return -1;
	return pair_init(&f->p, IBV_QPT_RC);
}

static void fix_fini(struct mem_fix *f)
{
	pair_fini(&f->p);
	free(f->buf);
	if (f->r)
		munmap(f->r, f->len);
}

/* A status beyond ibv_wc_status: the write completed, the bytes differ. */
#define ST_BYTES_DIFFER 1000

/*
 * Fills @len bytes of f->buf with pattern @seed and RDMA-writes them to
 * @dst: the completion's status, or ST_BYTES_DIFFER when @dst does not
 * read the pattern afterwards.
 */
static int write_seed(struct mem_fix *f, void *dst, size_t len, uint32_t seed)
{
	int st;

	fill(f->buf, len, seed);
	st = rdma_write(&f->p, f->buf, dst, (uint32_t)len);
	if (st == IBV_WC_SUCCESS && bad_bytes(dst, len, seed))
		return ST_BYTES_DIFFER;
	return st;
}

/* RDMA read of @len bytes at @src into f->buf, prefilled with 0xaa. */
static int read_back(struct mem_fix *f, const void *src, size_t len)
{
	memset(f->buf, 0xaa, len);
	return rdma_read(&f->p, f->buf, src, (uint32_t)len);
}

static const char *wstatus_str(int st)
{
	return st == ST_BYTES_DIFFER ? "the bytes differ" : status_str(st);
}

static int test_first_touch_by_read_then_write(void)
{
	struct mem_fix f;
	size_t rd, wr;
	int st, rc = -1;

	CHECK(fix_init(&f, 4) == 0, "setup");
	/* Writes fault untouched pages in writable. */
	st = write_seed(&f, f.r, 2 * page, 40);
	CHECK(st == IBV_WC_SUCCESS, "write: %s", wstatus_str(st));
	CHECK(mirrored(f.p.b.mr, f.r, f.len, &rd, &wr) == 0 && rd == 2 &&
	      wr == 2, "after the write: %zu mirrored, %zu writable", rd, wr);
	/* A read of untouched memory reads zeros. */
	st = read_back(&f, f.r + 3 * page, page);
	CHECK(st == IBV_WC_SUCCESS, "read: %s", status_str(st));
	CHECK(all_zero(f.buf, page), "untouched memory did not read as zeros");
	CHECK(mirrored(f.p.b.mr, f.r + 3 * page, page, &rd, &wr) == 0 &&
	      rd == 1, "the read page is not mirrored");
	/* Then a write to the page that was only read. */
	st = write_seed(&f, f.r + 3 * page, page, 41);
	CHECK(st == IBV_WC_SUCCESS, "write after read: %s", wstatus_str(st));
	CHECK(mirrored(f.p.b.mr, f.r + 3 * page, page, &rd, &wr) == 0 &&
	      wr == 1, "the page is not mirrored writable after the write");
	rc = 0;
out:
	fix_fini(&f);
	return rc;
}

static int test_madv_dontneed_invalidates_and_reads_zeros(void)
{
	struct mirrorv_odp_counters c0, c1;
	struct mem_fix f;
	size_t rd, wr;
	int st, rc = -1;

	CHECK(fix_init(&f, 4) == 0, "setup");
	fill(f.r, f.len, 50);
	st = read_back(&f, f.r, f.len);
	CHECK(st == IBV_WC_SUCCESS && !bad_bytes(f.buf, f.len, 50),
	      "first read: %s", status_str(st));
	CHECK(mr_counters(f.p.b.mr, &c0) == 0, "counters");
	CHECK(madvise(f.r, f.len, MADV_DONTNEED) == 0, "madvise");
	CHECK(mr_counters(f.p.b.mr, &c1) == 0, "counters");
	CHECK(c1.invalidations > c0.invalidations &&
	      c1.pages_invalidated - c0.pages_invalidated == 4,
	      "invalidations +%llu, pages +%llu",
	      (unsigned long long)(c1.invalidations - c0.invalidations),
	      (unsigned long long)(c1.pages_invalidated -
				   c0.pages_invalidated));
	CHECK(mirrored(f.p.b.mr, f.r, f.len, &rd, &wr) == 0 && rd == 0,
	      "%zu pages still mirrored", rd);
	st = read_back(&f, f.r, f.len);
	CHECK(st == IBV_WC_SUCCESS, "read: %s", status_str(st));
	CHECK(all_zero(f.buf, f.len), "old data read after MADV_DONTNEED");
	st = write_seed(&f, f.r, f.len, 51);
	CHECK(st == IBV_WC_SUCCESS, "write: %s", wstatus_str(st));
	rc = 0;
out:
	fix_fini(&f);
	return rc;
}

static int test_munmap_and_mmap_at_same_address_gives_new_pages(void)
{
	struct mem_fix f;
	int st, rc = -1;

	CHECK(fix_init(&f, 2) == 0, "setup");
	st = write_seed(&f, f.r, f.len, 60);
	CHECK(st == IBV_WC_SUCCESS, "first write: %s", wstatus_str(st));
	munmap(f.r, f.len);
	CHECK(map_at(f.r, f.len), "mmap at %p again", (void *)f.r);
	st = read_back(&f, f.r, f.len);
	CHECK(st == IBV_WC_SUCCESS, "read: %s", status_str(st));
	CHECK(all_zero(f.buf, f.len), "the old pages' data was read");
	st = write_seed(&f, f.r, f.len, 61);
	CHECK(st == IBV_WC_SUCCESS, "write to the new pages: %s",
	      wstatus_str(st));
	rc = 0;
out:
	fix_fini(&f);
	return rc;
}

static int test_mprotect_read_only_is_rem_access_err_for_writes(void)
{
	struct mem_fix f;
	int st, rc = -1;

	CHECK(fix_init(&f, 2) == 0, "setup");
	st = write_seed(&f, f.r, f.len, 70);
	CHECK(st == IBV_WC_SUCCESS, "write before mprotect: %s",
	      wstatus_str(st));
	CHECK(mprotect(f.r, f.len, PROT_READ) == 0, "mprotect");
	st = read_back(&f, f.r, f.len);
	CHECK(st == IBV_WC_SUCCESS && !bad_bytes(f.buf, f.len, 70),
	      "read of read-only memory: %s", status_str(st));
	st = write_seed(&f, f.r + 100, 100, 71);
	CHECK(st == IBV_WC_REM_ACCESS_ERR, "write to read-only memory: %s",
	      wstatus_str(st));
	CHECK(!bad_bytes(f.r, f.len, 70), "read-only memory was written");
	/* Read-only memory as the local target of a read. */
	CHECK(pair_reconnect(&f.p) == 0, "reconnect");
	st = rdma_read(&f.p, f.r, f.buf, 100);
	CHECK(st == IBV_WC_LOC_PROT_ERR, "read into read-only memory: %s",
	      status_str(st));
	CHECK(!bad_bytes(f.r, f.len, 70), "read-only memory was written");
	/* Writable again: writes go through. */
	CHECK(mprotect(f.r, f.len, PROT_READ | PROT_WRITE) == 0, "mprotect");
	CHECK(pair_reconnect(&f.p) == 0, "reconnect");
	st = write_seed(&f, f.r, f.len, 72);
	CHECK(st == IBV_WC_SUCCESS, "write after mprotect RW: %s",
	      wstatus_str(st));
	rc = 0;
out:
	fix_fini(&f);
	return rc;
}

/* One operation on a fresh pair; its requester completion status. */
enum bad_op { BAD_SEND, BAD_WRITE_SRC, BAD_UD_SEND, BAD_WRITE_DST,
	      BAD_READ_SRC, BAD_ATOMIC, BAD_READ_DST };

static int bad_address_status(enum bad_op op, void *bad)
{
	enum ibv_qp_type type = op == BAD_UD_SEND ? IBV_QPT_UD : IBV_QPT_RC;
	uint8_t buf[256] = { 0 };
	struct ibv_sge sge = { (uintptr_t)bad, 64, 0 }, rsge;
	struct ibv_wc wc;
	struct pair p = {};
	int st = -1;

	if (pair_init(&p, type))
		goto out;
	sge.lkey = p.a.mr->lkey;
	switch (op) {
	case BAD_SEND:
	case BAD_UD_SEND:
		/* A receive is there: only the send side is wrong. */
		rsge = (struct ibv_sge){ (uintptr_t)buf, sizeof(buf),
					 p.b.mr->lkey };
		if (post_recv_sges(&p.b, &rsge, 1) ||
		    post_wr(&p, IBV_WR_SEND, &sge, 1, 0, 0, 0))
			goto out;
		st = wait_wc(p.a.cq, &wc);
		break;
	case BAD_WRITE_SRC:
		st = rdma_write(&p, bad, buf, 64);
		break;
	case BAD_WRITE_DST:
		st = rdma_write(&p, buf, bad, 64);
		break;
	case BAD_READ_SRC:
		st = rdma_read(&p, buf, bad, 64);
		break;
	case BAD_READ_DST:
		st = rdma_read(&p, bad, buf, 64);
		break;
	case BAD_ATOMIC:
		st = atomic_op(&p, IBV_WR_ATOMIC_FETCH_AND_ADD,
			       (uint64_t *)buf, bad, 1, 0);
		break;
	}
out:
	pair_fini(&p);
	return st;
}

static int test_unmapped_local_address_is_loc_prot_err(void)
{
	uint8_t *hole = unmapped_addr();
	int st, rc = -1;

	CHECK(hole, "mmap");
	st = bad_address_status(BAD_SEND, hole);
	CHECK(st == IBV_WC_LOC_PROT_ERR, "RC send: %s", status_str(st));
	st = bad_address_status(BAD_WRITE_SRC, hole);
	CHECK(st == IBV_WC_LOC_PROT_ERR, "RDMA write source: %s",
	      status_str(st));
	st = bad_address_status(BAD_READ_DST, hole);
	CHECK(st == IBV_WC_LOC_PROT_ERR, "RDMA read target: %s",
	      status_str(st));
	st = bad_address_status(BAD_UD_SEND, hole);
	CHECK(st == IBV_WC_LOC_PROT_ERR, "UD send: %s", status_str(st));
	rc = 0;
out:
	return rc;
}

static int test_unmapped_remote_address_is_rem_access_err(void)
{
	uint8_t *hole = unmapped_addr();
	void *kernel = (void *)0xffff888000000000UL;
	int st, rc = -1;

	CHECK(hole, "mmap");
	st = bad_address_status(BAD_WRITE_DST, hole);
	CHECK(st == IBV_WC_REM_ACCESS_ERR, "RDMA write: %s", status_str(st));
	st = bad_address_status(BAD_READ_SRC, hole);
	CHECK(st == IBV_WC_REM_ACCESS_ERR, "RDMA read: %s", status_str(st));
	st = bad_address_status(BAD_ATOMIC, hole);
	CHECK(st == IBV_WC_REM_ACCESS_ERR, "fetch&add: %s", status_str(st));
	/* Above the user address space. */
	st = bad_address_status(BAD_WRITE_DST, kernel);
	CHECK(st == IBV_WC_REM_ACCESS_ERR, "RDMA write to a kernel address: %s",
	      status_str(st));
	st = bad_address_status(BAD_READ_SRC, kernel);
	CHECK(st == IBV_WC_REM_ACCESS_ERR, "RDMA read of a kernel address: %s",
	      status_str(st));
	rc = 0;
out:
	return rc;
}

static int test_receive_into_unmapped_address_is_loc_prot_err(void)
{
	uint8_t *hole = unmapped_addr(), src[64] = { 1 };
	struct ibv_sge ssg = { (uintptr_t)src, sizeof(src), 0 };
	struct ibv_sge rsg = { 0, 256, 0 };
	uint32_t rlen = 0;
	struct pair p = {};
	int sst, rst, rc = -1;

	CHECK(hole, "mmap");
	rsg.addr = (uintptr_t)hole;
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	CHECK(send_recv_sges(&p, &ssg, 1, &rsg, 1, &sst, &rst, &rlen) == 0,
	      "post");
	CHECK(rst == IBV_WC_LOC_PROT_ERR, "receive: %s", status_str(rst));
	CHECK(sst == IBV_WC_REM_OP_ERR, "send: %s", status_str(sst));
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_sync_prefetch_mirrors_everything_before_the_write(void)
{
	struct mirrorv_odp_counters c0, c1, c2;
	size_t len = 4 << 20, npages = len / page, rd, wr;
	uint8_t *r = map_aligned(len, page), *src = malloc(len);
	uint8_t *hole = unmapped_addr();
	struct pair p = {};
	int st, err, rc = -1;

	CHECK(r && src && hole, "allocations");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	fill(src, len, 80);
	/* The source too, so that the write below faults nothing at all. */
	err = mirrorv_prefetch(p.a.mr, src, len, 0);
	CHECK(err == 0, "prefetch of the source: %s", strerror(err));
	CHECK(mr_counters(p.b.mr, &c0) == 0, "counters");
	err = mirrorv_prefetch(p.b.mr, r, len, MIRRORV_PREFETCH_WRITE);
	CHECK(err == 0, "mirrorv_prefetch: %s", strerror(err));
	CHECK(mr_counters(p.b.mr, &c1) == 0, "counters");
	CHECK(c1.prefetches > c0.prefetches &&
	      c1.pages_faulted - c0.pages_faulted == npages,
	      "prefetches +%llu, pages faulted +%llu (want %zu)",
	      (unsigned long long)(c1.prefetches - c0.prefetches),
	      (unsigned long long)(c1.pages_faulted - c0.pages_faulted),
	      npages);
	CHECK(mirrored(p.b.mr, r, len, &rd, &wr) == 0 && wr == npages,
	      "%zu of %zu pages mirrored writable", wr, npages);
	st = rdma_write(&p, src, r, (uint32_t)len);
	CHECK(st == IBV_WC_SUCCESS, "write: %s", status_str(st));
	CHECK(!bad_bytes(r, len, 80), "bytes differ");
	CHECK(mr_counters(p.b.mr, &c2) == 0, "counters");
	CHECK(c2.faults == c1.faults && c2.pages_faulted == c1.pages_faulted,
	      "the prefetched write still faulted %llu times",
	      (unsigned long long)(c2.faults - c1.faults));
	/* Synchronously, memory that is not there is an error. */
	err = mirrorv_prefetch(p.b.mr, hole, page, MIRRORV_PREFETCH_WRITE);
	CHECK(err == EFAULT, "prefetch of a hole: %s", strerror(err));
	rc = 0;
out:
	pair_fini(&p);
	free(src);
	if (r)
		munmap(r, len);
	return rc;
}

static int test_async_prefetch_mirrors_in_the_background(void)
{
	struct mirrorv_odp_counters c0, c1;
	size_t len = 4 << 20, npages = len / page, rd = 0, wr = 0;
	uint8_t *r = map_aligned(len, page);
	struct pair p = {};
	double t0, t;
	int err, rc = -1;

	CHECK(r, "mmap");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	CHECK(mr_counters(p.b.mr, &c0) == 0, "counters");
	t0 = now();
	err = mirrorv_prefetch(p.b.mr, r, len,
			       MIRRORV_PREFETCH_WRITE | MIRRORV_PREFETCH_ASYNC);
	t = now() - t0;
	CHECK(err == 0, "mirrorv_prefetch: %s", strerror(err));
	do {
		CHECK(mirrored(p.b.mr, r, len, &rd, &wr) == 0, "query_mirror");
		if (wr == npages)
			break;
		usleep(1000);
	} while (now() - t0 < 10);
	CHECK(wr == npages, "%zu of %zu pages mirrored 10 s later", wr,
	      npages);
	note("async prefetch returned after %.2f ms, done after %.2f ms",
	     t * 1e3, (now() - t0) * 1e3);
	CHECK(mr_counters(p.b.mr, &c1) == 0, "counters");
	CHECK(c1.prefetches > c0.prefetches &&
	      c1.pages_faulted - c0.pages_faulted == npages,
	      "prefetches +%llu, pages faulted +%llu",
	      (unsigned long long)(c1.prefetches - c0.prefetches),
	      (unsigned long long)(c1.pages_faulted - c0.pages_faulted));
	rc = 0;
out:
	pair_fini(&p);
	if (r)
		munmap(r, len);
	return rc;
}

static int test_no_fault_prefetch_mirrors_only_present_pages(void)
{
	size_t npages = 16, rd, wr, i;
	uint8_t *r = map_aligned(npages * page, page);
	struct pair p = {};
	int err, rc = -1;

	CHECK(r, "mmap");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	err = mirrorv_prefetch(p.b.mr, r, npages * page,
			       MIRRORV_PREFETCH_NO_FAULT);
	CHECK(err == 0, "prefetch: %s", strerror(err));
	CHECK(mirrored(p.b.mr, r, npages * page, &rd, &wr) == 0 && rd == 0,
	      "%zu untouched pages mirrored", rd);
	for (i = 0; i < npages; i += 2)
		r[i * page] = 1;	/* every other page present */
	err = mirrorv_prefetch(p.b.mr, r, npages * page,
			       MIRRORV_PREFETCH_NO_FAULT);
	CHECK(err == 0, "prefetch: %s", strerror(err));
	CHECK(mirrored(p.b.mr, r, npages * page, &rd, &wr) == 0 &&
	      rd == npages / 2, "%zu pages mirrored, want %zu", rd,
	      npages / 2);
	rc = 0;
out:
	pair_fini(&p);
	if (r)
		munmap(r, npages * page);
	return rc;
}

/*
 * Concurrent fault and unmap on one child: the main thread RDMA-writes
 * alternately into a stable half S and a churning half C of one 16 MiB
 * child while a thread keeps replacing C (mmap MAP_FIXED of PROT_NONE,
 * then of fresh memory: an unmap each time). S must always take the
 * write, byte for byte; C takes it or answers REM_ACCESS_ERR (both must
 * happen), and never holds anything but the latest write's bytes or
 * zeros.
 */
#define CHURN_LEN	(256 * 1024)
/* On Debian's kernel; times MIRROR_TIME_SCALE on a slower one. */
#define CHURN_SECS	8

struct churn {
	uint8_t *c;			/* the churning half */
	pthread_mutex_t lock;		/* held while C is remapped or read */
	bool c_mapped;			/* C is readable now; under lock */
	atomic_bool stop;
	unsigned long remaps;
	unsigned int quiet_us;		/* long enough for a whole write */
	int err;
};

static void *churn_thread(void *arg)
{
	struct churn *ch = arg;
	void *p;

	while (!atomic_load(&ch->stop)) {
		pthread_mutex_lock(&ch->lock);
		p = mmap(ch->c, CHURN_LEN, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		ch->c_mapped = false;
		pthread_mutex_unlock(&ch->lock);
		if (p != ch->c) {
			ch->err = errno;
			break;
		}
		usleep(50 + (unsigned int)(ch->remaps % 7) * 30);
		pthread_mutex_lock(&ch->lock);
		p = mmap(ch->c, CHURN_LEN, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		ch->c_mapped = p == ch->c;
		pthread_mutex_unlock(&ch->lock);
		if (p != ch->c) {
			ch->err = errno;
			break;
		}
		ch->remaps++;
		/* Now and then long enough for a whole write to get through. */
		if (ch->remaps % 16)
			usleep(100 + (unsigned int)(ch->remaps % 5) * 100);
		else
			usleep(ch->quiet_us);
	}
	return NULL;
}

/* Bytes of @buf that are neither pattern @seed nor zero. */
static size_t foreign_bytes(const uint8_t *buf, size_t len, uint32_t seed)
{
	size_t i, bad = 0;

	for (i = 0; i < len; i++)
		bad += buf[i] && buf[i] != pattern(seed, i);
	return bad;
}

static int test_concurrent_fault_and_unmap_on_one_child(void)
{
	struct mirrorv_odp_counters c0, c1;
	uint8_t *region = map_aligned(CHILD_SIZE, CHILD_SIZE), *s;
	uint8_t *src = malloc(CHURN_LEN);
	unsigned long s_ok = 0, c_ok = 0, c_err = 0, corrupt = 0, i;
	struct churn ch = { .lock = PTHREAD_MUTEX_INITIALIZER };
	bool started = false;
	pthread_t thr;
	struct pair p = {};
	double end;
	int st, rc = -1;

	CHECK(region && src, "allocations");
	s = region + CHILD_SIZE / 2;
	ch.c = s + CHURN_LEN;	/* same child, same 2 MiB block */
	ch.c_mapped = true;
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	/*
	 * The quiet spells: 10 ms, or four times as long as a write into S
	 * takes (a write over RoCEv2 is a few hundred packets).
	 */
	fill(src, CHURN_LEN, 999);
	end = now();
	st = rdma_write(&p, src, s, CHURN_LEN);
	CHECK(st == IBV_WC_SUCCESS, "first write to S: %s", status_str(st));
	ch.quiet_us = (unsigned int)((now() - end) * 4e6);
	if (ch.quiet_us < 10000)
		ch.quiet_us = 10000;
	note("a write of %d KiB takes %.1f ms: quiet spells of %.1f ms",
	     CHURN_LEN >> 10, ch.quiet_us / 4e3, ch.quiet_us / 1e3);
	CHECK(mr_counters(p.b.mr, &c0) == 0, "counters");
	CHECK(pthread_create(&thr, NULL, churn_thread, &ch) == 0, "thread");
	started = true;
	end = now() + CHURN_SECS * mirror_test_time_scale();
	for (i = 0; now() < end; i++) {
		bool to_c = i & 1;
		uint32_t seed = (uint32_t)i + 1000;

		fill(src, CHURN_LEN, seed);
		st = rdma_write(&p, src, to_c ? ch.c : s, CHURN_LEN);
		if (!to_c) {
			CHECK(st == IBV_WC_SUCCESS, "write %lu to S: %s", i,
			      status_str(st));
			corrupt += bad_bytes(s, CHURN_LEN, seed);
			s_ok++;
			continue;
		}
		if (st == IBV_WC_REM_ACCESS_ERR) {
			c_err++;
			CHECK(pair_reconnect(&p) == 0, "reconnect");
			continue;
		}
		CHECK(st == IBV_WC_SUCCESS, "write %lu to C: %s", i,
		      status_str(st));
		c_ok++;
		pthread_mutex_lock(&ch.lock);
		if (ch.c_mapped)
			corrupt += foreign_bytes(ch.c, CHURN_LEN, seed);
		pthread_mutex_unlock(&ch.lock);
	}
	atomic_store(&ch.stop, true);
	pthread_join(thr, NULL);
	started = false;
	CHECK(!ch.err, "remapping C: %s", strerror(ch.err));
	CHECK(mr_counters(p.b.mr, &c1) == 0, "counters");
	note("%lu writes to S, %lu to C (+%lu REM_ACCESS_ERR), %lu remaps, "
	     "%llu invalidations, %llu fault retries", s_ok, c_ok, c_err,
	     ch.remaps,
	     (unsigned long long)(c1.invalidations - c0.invalidations),
	     (unsigned long long)(c1.fault_retries - c0.fault_retries));
	CHECK(!corrupt, "%lu corrupted bytes", corrupt);
	CHECK(s_ok >= 10 && c_ok >= 5 && c_err >= 5 && ch.remaps >= 10,
	      "too little happened: %lu S, %lu+%lu C writes, %lu remaps", s_ok,
	      c_ok, c_err, ch.remaps);
	CHECK(c1.invalidations - c0.invalidations >= ch.remaps,
	      "%llu invalidations for %lu remaps",
	      (unsigned long long)(c1.invalidations - c0.invalidations),
	      ch.remaps);
	/* Quiet again: C is mapped and takes a write. */
	fill(src, CHURN_LEN, 7);
	st = rdma_write(&p, src, ch.c, CHURN_LEN);
	CHECK(st == IBV_WC_SUCCESS && !bad_bytes(ch.c, CHURN_LEN, 7),
	      "final write to C: %s", status_str(st));
	rc = 0;
out:
	if (started) {
		atomic_store(&ch.stop, true);
		pthread_join(thr, NULL);
	}
	pair_fini(&p);
	free(src);
	if (region)
		munmap(region, CHILD_SIZE);
	return rc;
}

/* What a forked process reports before it exits. */
struct exit_report {
	int children;	/* of the implicit MR its writes went to */
	int in_flight;	/* WRs posted and not completed */
};

/* Endless RDMA writes all over the region, each waited for. */
struct flood {
	struct pair *p;
	uint8_t *src, *region;
	int nchildren;
};

static void *flood_thread(void *arg)
{
	struct flood *f = arg;
	size_t i;

	for (i = 0;; i++)
		rdma_write(f->p, f->src, f->region +
			   (i % (size_t)f->nchildren) * CHILD_SIZE + 8192,
			   64 * 1024);
	return NULL;
}

/*
 * In a forked process, with its own context: @nchildren children on one
 * implicit MR, then traffic that is still going when the process ends:
 * on pair p a send that keeps being RNR-retried (nobody posts a receive)
 * with RDMA writes queued behind it; on pair q an asynchronous prefetch
 * of all the children's range and a thread writing without pause. Reports
 * through @fd, then exits at once (everything left open) or, with
 * @linger, waits to be killed.
 */
static void exiting_child(int fd, int nchildren, bool linger)
{
	struct exit_report rep = { -1, 0 };
	size_t len = (size_t)nchildren * CHILD_SIZE;
	struct mirrorv_odp_counters mc;
	struct ibv_context *ca, *cb;
	struct pair p = {}, q = {};
	struct flood f;
	struct ibv_sge sge;
	struct ibv_wc wc;
	uint8_t *region, *src;
	pthread_t thr;
	int i;

	ca = mirror_test_open(dev_name);
	cb = wire ? mirror_test_open(peer_name) : ca;
	region = map_aligned(len, CHILD_SIZE);
	src = malloc(256 * 1024);
	if (!ca || !cb || !region || !src ||
	    pair_init_ctx(&p, ca, cb, IBV_QPT_RC) ||
	    pair_init_ctx(&q, ca, cb, IBV_QPT_RC))
		goto tell;
	for (i = 0; i < nchildren; i++)
		if (rdma_write(&p, src, region + (size_t)i * CHILD_SIZE, 64) !=
		    IBV_WC_SUCCESS)
			goto tell;
	if (mr_counters(p.b.mr, &mc))
		goto tell;
	rep.children = (int)mc.children_live;
	sge = (struct ibv_sge){ (uintptr_t)src, 64, p.a.mr->lkey };
	if (post_wr(&p, IBV_WR_SEND, &sge, 1, 0, 0, 0))
		goto tell;
	rep.in_flight = 1;
	sge.length = 256 * 1024;
	for (i = 0; i < QP_DEPTH - 8; i++) {
		if (post_wr(&p, IBV_WR_RDMA_WRITE, &sge, 1,
			    (uintptr_t)region +
			    (size_t)(i % nchildren) * CHILD_SIZE + 4096, 0, 0))
			break;
		rep.in_flight++;
	}
	while (ibv_poll_cq(p.a.cq, 1, &wc) > 0)
		rep.in_flight--;
	mirrorv_prefetch(q.b.mr, region, len, MIRRORV_PREFETCH_ASYNC);
	f = (struct flood){ &q, src, region, nchildren };
	if (pthread_create(&thr, NULL, flood_thread, &f))
		goto tell;
	usleep(20000);
tell:
	if (write(fd, &rep, sizeof(rep)) != sizeof(rep) || !linger)
		_exit(0);
	for (;;)
		pause();
}

/*
 * After the process is gone: waits up to 10 s until @c's children_live is
 * back at @d0's, then checks that every child it made was destroyed and
 * that its mirror memory is back too. 0, or -1 with @why filled in.
 */
static int children_back(struct ibv_context *c,
			 const struct mirrorv_odp_counters *d0,
			 const char *how, const struct exit_report *rep,
			 char *why, size_t wlen)
{
	const char *name = ibv_get_device_name(c->device);
	struct mirrorv_odp_counters d1;
	double t0 = now();

	do {
		if (dev_counters(c, &d1)) {
			snprintf(why, wlen, "%s counters: %s", name,
				 strerror(errno));
			return -1;
		}
		if (d1.children_live == d0->children_live)
			break;
		usleep(2000);
	} while (now() - t0 < 10 * mirror_test_time_scale());
	note("%s: %s with %d children, %d WRs in flight: children_live back "
	     "to %llu after %.1f ms", name, how, rep->children,
	     rep->in_flight, (unsigned long long)d1.children_live,
	     (now() - t0) * 1e3);
	if (d1.children_live != d0->children_live) {
		snprintf(why, wlen, "%s: children_live %llu, was %llu, 10 s after %s",
			 name, (unsigned long long)d1.children_live,
			 (unsigned long long)d0->children_live, how);
		return -1;
	}
	if (d1.children_destroyed - d0->children_destroyed !=
	    d1.children_created - d0->children_created) {
		snprintf(why, wlen, "%s: created %llu, destroyed %llu", name,
			 (unsigned long long)(d1.children_created -
					      d0->children_created),
			 (unsigned long long)(d1.children_destroyed -
					      d0->children_destroyed));
		return -1;
	}
	if (d1.mirror_bytes != d0->mirror_bytes) {
		snprintf(why, wlen, "%s: mirror_bytes %llu, was %llu", name,
			 (unsigned long long)d1.mirror_bytes,
			 (unsigned long long)d0->mirror_bytes);
		return -1;
	}
	return 0;
}

/*
 * Forks exiting_child() and waits until the children_live of each device
 * it used (ctx, and peer_ctx over the wire) is back where it was: 0, or
 * -1 with @why filled in.
 */
static int fork_and_exit(int nchildren, bool kill_it, char *why, size_t wlen)
{
	const char *how = kill_it ? "SIGKILL" : "exit";
	struct mirrorv_odp_counters da, db;
	struct exit_report rep = { -1, 0 };
	int fds[2], status;
	pid_t pid;

	if (dev_counters(ctx, &da) || dev_counters(peer_ctx, &db) ||
	    pipe(fds)) {
		snprintf(why, wlen, "counters or pipe: %s", strerror(errno));
		return -1;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		snprintf(why, wlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		exiting_child(fds[1], nchildren, kill_it);
	}
	close(fds[1]);
	if (read(fds[0], &rep, sizeof(rep)) != sizeof(rep))
		rep.children = -1;
	close(fds[0]);
	if (kill_it)
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	if (rep.children != nchildren || rep.in_flight <= 0) {
		snprintf(why, wlen,
			 "the process made %d children (not %d), %d WRs in flight",
			 rep.children, nchildren, rep.in_flight);
		return -1;
	}
	if (children_back(ctx, &da, how, &rep, why, wlen))
		return -1;
	if (wire && children_back(peer_ctx, &db, how, &rep, why, wlen))
		return -1;
	return 0;
}

static int test_process_exit_with_children_and_traffic_in_flight(void)
{
	char why[256] = "";
	int rc = -1;

	/* exit() with threads running, and SIGKILL. */
	CHECK(fork_and_exit(32, false, why, sizeof(why)) == 0, "exit: %s",
	      why);
	CHECK(fork_and_exit(32, true, why, sizeof(why)) == 0, "SIGKILL: %s",
	      why);
	rc = 0;
out:
	return rc;
}

/*
 * Children are removed by deferred work, which may lag a few rounds behind
 * on a busy (emulated) machine; without removal there would be 2000.
 */
#define CHURN_ROUNDS	2000
#define CHURN_MAX_LIVE	64	/* children of b's MR at any time */

static int test_2000_map_write_unmap_rounds_stay_bounded(void)
{
	struct mirrorv_odp_counters c0, c, d0, d;
	uintptr_t base = 0x600000000000UL;
	uint64_t max_live = 0, max_bytes = 0, bound;
	uint8_t src[4096];
	struct pair p = {};
	double t0;
	int i, st, rc = -1;

	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	fill(src, sizeof(src), 90);
	/* The source's child exists before the baseline is taken. */
	st = rdma_write(&p, src, src, 1);
	CHECK(st == IBV_WC_SUCCESS, "warm-up: %s", status_str(st));
	CHECK(mr_counters(p.b.mr, &c0) == 0 &&
	      dev_counters(peer_ctx, &d0) == 0, "counters");
	t0 = now();
	for (i = 0; i < CHURN_ROUNDS; i++) {
		uint8_t *x = (uint8_t *)(base + (uintptr_t)i * CHILD_SIZE);

		CHECK(map_at(x, 16 * page), "mmap at %p", (void *)x);
		st = rdma_write(&p, src, x + (i % 16) * page, sizeof(src));
		CHECK(st == IBV_WC_SUCCESS, "write %d: %s", i, status_str(st));
		CHECK(!bad_bytes(x + (i % 16) * page, sizeof(src), 90),
		      "round %d: bytes differ", i);
		munmap(x, 16 * page);
		CHECK(mr_counters(p.b.mr, &c) == 0, "counters");
		if (c.children_live > max_live)
			max_live = c.children_live;
		CHECK(dev_counters(peer_ctx, &d) == 0, "counters");
		if (d.mirror_bytes > max_bytes)
			max_bytes = d.mirror_bytes;
	}
	note("%d rounds in %.1f s: at most %llu children live, mirror_bytes "
	     "at most %llu (baseline %llu)", CHURN_ROUNDS, now() - t0,
	     (unsigned long long)max_live, (unsigned long long)max_bytes,
	     (unsigned long long)d0.mirror_bytes);
	CHECK(max_live <= c0.children_live + CHURN_MAX_LIVE,
	      "%llu children live at once", (unsigned long long)max_live);
	/* About 33 KiB per child: 32 KiB of entries and the struct. */
	bound = d0.mirror_bytes + CHURN_MAX_LIVE * 40 * 1024;
	CHECK(max_bytes <= bound, "mirror_bytes reached %llu (bound %llu)",
	      (unsigned long long)max_bytes, (unsigned long long)bound);
	CHECK(wait_children(p.b.mr, c0.children_live,
			    c0.children_destroyed + CHURN_ROUNDS, 5, &c) >= 0,
	      "afterwards %llu children live, %llu destroyed",
	      (unsigned long long)c.children_live,
	      (unsigned long long)(c.children_destroyed -
				   c0.children_destroyed));
	CHECK(c.children_created - c0.children_created == CHURN_ROUNDS,
	      "%llu children created",
	      (unsigned long long)(c.children_created - c0.children_created));
	CHECK(dev_counters(peer_ctx, &d) == 0 &&
	      d.mirror_bytes == d0.mirror_bytes,
	      "mirror_bytes %llu, baseline %llu",
	      (unsigned long long)d.mirror_bytes,
	      (unsigned long long)d0.mirror_bytes);
	rc = 0;
out:
	pair_fini(&p);
	return rc;
}

static int test_sysfs_counters_match_libmirrorverbs(void)
{
	static const char *const names[] = {
		"odp_faults", "odp_pages_faulted", "odp_invalidations",
		"odp_children_created", "odp_children_destroyed",
		"odp_children_live", "odp_mirror_bytes",
	};
	struct mirrorv_odp_counters a, b;
	uint8_t *r = map_aligned(page, page), src[64] = { 0 };
	long long v[7];
	struct pair p = {};
	int i, tries, st, rc = -1;

	CHECK(r, "mmap");
	CHECK(pair_init(&p, IBV_QPT_RC) == 0, "setup: %s", setup_why);
	st = rdma_write(&p, src, r, sizeof(src));
	CHECK(st == IBV_WC_SUCCESS, "write: %s", status_str(st));
	/* Idle: two equal ioctl readings around the sysfs one. */
	for (tries = 0; tries < 20; tries++) {
		CHECK(dev_counters(ctx, &a) == 0, "counters");
		usleep(10000);
		for (i = 0; i < 7; i++)
			v[i] = sysfs_counter(names[i]);
		CHECK(dev_counters(ctx, &b) == 0, "counters");
		if (!memcmp(&a, &b, sizeof(a)))
			break;
	}
	CHECK(!memcmp(&a, &b, sizeof(a)), "counters never settled");
	CHECK(v[0] == (long long)a.faults &&
	      v[1] == (long long)a.pages_faulted &&
	      v[2] == (long long)a.invalidations &&
	      v[3] == (long long)a.children_created &&
	      v[4] == (long long)a.children_destroyed &&
	      v[5] == (long long)a.children_live &&
	      v[6] == (long long)a.mirror_bytes,
	      "sysfs %lld %lld %lld %lld %lld %lld %lld, ioctl %llu %llu %llu "
	      "%llu %llu %llu %llu", v[0], v[1], v[2], v[3], v[4], v[5], v[6],
	      (unsigned long long)a.faults,
	      (unsigned long long)a.pages_faulted,
	      (unsigned long long)a.invalidations,
	      (unsigned long long)a.children_created,
	      (unsigned long long)a.children_destroyed,
	      (unsigned long long)a.children_live,
	      (unsigned long long)a.mirror_bytes);
	CHECK(a.children_live >= 2, "children_live %llu with a pair in use",
	      (unsigned long long)a.children_live);
	rc = 0;
out:
	pair_fini(&p);
	if (r)
		munmap(r, page);
	return rc;
}

static const struct test tests[] = {
	T_DEV(device_claims_implicit_odp),
	T_DEV(implicit_mr_registers_and_creates_no_child_yet),
	T(rc_send_recv_between_heap_stack_data_and_fresh_mmap),
	T(rc_write_into_untouched_mmap_and_heap),
	T(rc_read_from_data_and_bss_into_mmap_and_stack),
	T(rc_atomics_on_bss_and_heap_words),
	T(ud_send_recv_from_heap_into_stack),
	T(transfers_across_a_child_boundary),
	T(64_regions_make_64_children_and_munmap_removes_them),
	T(far_apart_addresses_with_one_key),
	T(munmap_removes_child_and_next_access_recreates_it),
	T(first_touch_by_read_then_write),
	T(madv_dontneed_invalidates_and_reads_zeros),
	T(munmap_and_mmap_at_same_address_gives_new_pages),
	T(mprotect_read_only_is_rem_access_err_for_writes),
	T(unmapped_local_address_is_loc_prot_err),
	T(unmapped_remote_address_is_rem_access_err),
	T(receive_into_unmapped_address_is_loc_prot_err),
	T(sync_prefetch_mirrors_everything_before_the_write),
	T(async_prefetch_mirrors_in_the_background),
	T(no_fault_prefetch_mirrors_only_present_pages),
	T(concurrent_fault_and_unmap_on_one_child),
	T(process_exit_with_children_and_traffic_in_flight),
	T(2000_map_write_unmap_rounds_stay_bounded),
	T_DEV(sysfs_counters_match_libmirrorverbs),
};

int main(int argc, char **argv)
{
	page = (size_t)sysconf(_SC_PAGESIZE);
	return mirror_tap_main(argc, argv, tests,
			       sizeof(tests) / sizeof(tests[0]), true);
}
