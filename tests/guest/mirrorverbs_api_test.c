// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirrorverbs_api_test - libmirrorverbs' API on a mirror device, run in
 * the guest: each function against what the device really does (bytes
 * moved through an implicit MR, exact counter deltas, page states after
 * writes, reads, prefetches and invalidations) and against bad arguments.
 *
 * Two RC QPs, connected to each other, move the data; the local side of
 * every transfer is a pinned MR, so the ODP counters only see the side
 * under test: the implicit MR at the responder, which is on the device
 * itself, or with -W DEV2 on DEV2 over RoCEv2 (guest_mirrorverbs_api and
 * guest_mirrorverbs_api_wire).
 *
 * Usage: mirrorverbs_api_test [-d DEVICE] [-W DEV2] [-v] [--other=DEVICE]
 *	[TEST-NAME-SUBSTRING...]
 * --other names a device of another driver (rxe0 in a --rxe guest): the
 * tests that need it are listed only then.
 */
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mirror_tap.h"
#include "mirror_testlib.h"
#include "mirrorverbs.h"

#define PAGE		4096UL
#define BLOCK		(2UL << 20)	/* one fault covers at most this */
#define CHILD		(16UL << 20)	/* an implicit MR's child */
#define PIN_SIZE	(1UL << 20)	/* the pinned local buffer */

static const char *other_dev;	/* --other=DEVICE */

/*
 * What each test sets up: two connected RC QPs and MRs. The requester qa
 * (on ctx) with the pinned MR; the responder qb (on peer_ctx) in the PD
 * of the implicit MR and of whatever MR a test reaches by rkey.
 */
struct env {
	struct ibv_pd *pda, *pd;
	struct ibv_cq *cq, *cqb;
	struct ibv_qp *qa, *qb;
	char *pinbuf;
	struct ibv_mr *pin;	/* pinned, over pinbuf, qa's */
	struct ibv_mr *im;	/* implicit, from mirrorv_reg_implicit_mr() */
};

static struct ibv_qp *make_qp(struct ibv_pd *pd, struct ibv_cq *cq)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 2, .max_recv_sge = 2 },
	};

	return ibv_create_qp(pd, &ia);
}

/* Connects @qp (qa when @from_a, else qb) to QP @dest. */
static int connect_qp(struct ibv_qp *qp, bool from_a, uint32_t dest)
{
	struct mirror_test_qp_params prm = mirror_test_qp_defaults(qp->qp_type);
	struct ibv_ah_attr av = from_a ? peer_av() : back_av();

	return mirror_test_connect(qp, dest, &av, &prm);
}

static void env_fini(struct env *e)
{
	if (e->qa)
		ibv_destroy_qp(e->qa);
	if (e->qb)
		ibv_destroy_qp(e->qb);
	if (e->im)
		ibv_dereg_mr(e->im);
	if (e->pin)
		ibv_dereg_mr(e->pin);
	if (e->cq)
		ibv_destroy_cq(e->cq);
	if (e->cqb)
		ibv_destroy_cq(e->cqb);
	if (e->pda)
		ibv_dealloc_pd(e->pda);
	if (e->pd)
		ibv_dealloc_pd(e->pd);
	free(e->pinbuf);
	memset(e, 0, sizeof(*e));
}

/* QPs, the pinned MR, and an implicit MR with @access (0: the default). */
static int env_init(struct env *e, unsigned int access)
{
	memset(e, 0, sizeof(*e));
	e->pda = ibv_alloc_pd(ctx);
	e->pd = ibv_alloc_pd(peer_ctx);
	e->cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	e->cqb = ibv_create_cq(peer_ctx, 64, NULL, NULL, 0);
	e->pinbuf = calloc(1, PIN_SIZE);
	if (!e->pda || !e->pd || !e->cq || !e->cqb || !e->pinbuf)
		goto err;
	e->pin = ibv_reg_mr(e->pda, e->pinbuf, PIN_SIZE,
			    IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ |
			    IBV_ACCESS_REMOTE_WRITE);
	e->im = mirrorv_reg_implicit_mr(e->pd, access);
	e->qa = make_qp(e->pda, e->cq);
	e->qb = make_qp(e->pd, e->cqb);
	if (!e->pin || !e->im || !e->qa || !e->qb ||
	    connect_qp(e->qa, true, e->qb->qp_num) ||
	    connect_qp(e->qb, false, e->qa->qp_num))
		goto err;
	return 0;
err:
	snprintf(failmsg, sizeof(failmsg), "setup: %s", strerror(errno));
	env_fini(e);
	return -1;
}

/*
 * One signalled RDMA WRITE or READ from qa: @len bytes between the local
 * @laddr (under @lkey) and the remote @raddr (under @rkey). Returns the
 * completion status, or -1 when posting failed or nothing completed in 5 s.
 */
static int rdma(struct env *e, enum ibv_wr_opcode op, void *laddr,
		uint32_t lkey, uint32_t len, void *raddr, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, lkey };
	struct ibv_send_wr wr = {
		.wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = (uintptr_t)raddr, .rkey = rkey },
	}, *bad;
	struct timespec t0, now;
	struct ibv_wc wc;
	int n;

	if (ibv_post_send(e->qa, &wr, &bad))
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		n = ibv_poll_cq(e->cq, 1, &wc);
		if (n)
			return n == 1 ? (int)wc.status : -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 5 * mirror_test_time_scale())
			return -1;
		usleep(50);
	}
}

/* Writes @len bytes of the pinned buffer to @dst through the implicit MR. */
static int write_to(struct env *e, void *dst, uint32_t len)
{
	return rdma(e, IBV_WR_RDMA_WRITE, e->pinbuf, e->pin->lkey, len, dst,
		    e->im->rkey);
}

/* Reads @len bytes at @src through the implicit MR into the pinned buffer. */
static int read_from(struct env *e, void *src, uint32_t len)
{
	return rdma(e, IBV_WR_RDMA_READ, e->pinbuf, e->pin->lkey, len, src,
		    e->im->rkey);
}

static double elapsed(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) +
	       (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * Fresh anonymous memory: @size bytes aligned to @align (a power of two,
 * at least a page), never touched. @thp: MADV_HUGEPAGE, else
 * MADV_NOHUGEPAGE, so that the page count of a fault is known.
 */
static char *fresh_map(size_t size, size_t align, bool thp)
{
	size_t span = size + align;
	char *p, *a;

	p = mmap(NULL, span, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	a = (char *)(((uintptr_t)p + align - 1) & ~(uintptr_t)(align - 1));
	if (a > p)
		munmap(p, a - p);
	if (p + span > a + size)
		munmap(a + size, p + span - (a + size));
	if (madvise(a, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		munmap(a, size);
		return NULL;
	}
	return a;
}

/* 2 MiB blocks that [p, p + len) touches: the faults it costs. */
static uint64_t blocks_spanned(const void *p, size_t len)
{
	return (((uintptr_t)p + len - 1) / BLOCK) - ((uintptr_t)p / BLOCK) + 1;
}

/* The counters of the device of the implicit MR (the responder's). */
static int dev_counters(struct mirrorv_odp_counters *c)
{
	return mirrorv_query_odp_counters(peer_ctx, c);
}

/*
 * Checks that the @n page states from @from on are all @want; on a
 * mismatch describes the first one in failmsg and returns -1.
 */
static int states_are(const uint8_t *st, size_t from, size_t n, uint8_t want)
{
	size_t i;

	for (i = from; i < from + n; i++) {
		if (st[i] != want) {
			snprintf(failmsg, sizeof(failmsg),
				 "page %zu is 0x%x, want 0x%x", i, st[i], want);
			return -1;
		}
	}
	return 0;
}

/* Polls the page states of [p, p + n pages) until all are @want (5 s). */
static int wait_states(struct ibv_mr *mr, void *p, size_t n, uint8_t want,
		       uint8_t *st)
{
	struct timespec t0;
	int err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		err = mirrorv_query_mirror(mr, p, n * PAGE, st);
		if (err) {
			snprintf(failmsg, sizeof(failmsg),
				 "mirrorv_query_mirror: %s", strerror(err));
			return -1;
		}
		if (!states_are(st, 0, n, want))
			return 0;
		if (elapsed(&t0) > 5)
			return -1;	/* failmsg says which page */
		usleep(1000);
	}
}

/* ---------------------------------------------------------------------- */
/* mirrorv_is_mirror_device() */

static struct ibv_device *find_device(struct ibv_device **list,
				      const char *name)
{
	int i;

	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			return list[i];
	return NULL;
}

static int test_is_mirror_device_true_for_mirror_device(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_device *dev = find_device(list, dev_name);
	int rc = -1;

	CHECK(dev, "%s not listed", dev_name);
	CHECK(mirrorv_is_mirror_device(dev), "false for %s", dev_name);
	CHECK(mirrorv_is_mirror_device(ctx->device),
	      "false for the open context's device");
	rc = 0;
out:
	ibv_free_device_list(list);
	return rc;
}

static int test_is_mirror_device_false_for_null(void)
{
	int rc = -1;

	CHECK(!mirrorv_is_mirror_device(NULL), "true for NULL");
	rc = 0;
out:
	return rc;
}

/* ---------------------------------------------------------------------- */
/* mirrorv_reg_implicit_mr() */

static int test_reg_implicit_mr_default_access_writes_and_reads(void)
{
	const uint32_t len = 100000;
	struct env e;
	char *buf = NULL;
	uint32_t i;
	int rc = -1, st;

	if (env_init(&e, 0))
		return -1;
	CHECK(e.im->addr == NULL && e.im->length == SIZE_MAX,
	      "addr %p length %zu", e.im->addr, e.im->length);
	buf = malloc(len);	/* fresh: never registered, never touched */
	CHECK(buf, "malloc");
	for (i = 0; i < len; i++)
		e.pinbuf[i] = (char)(i * 7 + 3);
	st = write_to(&e, buf, len);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	CHECK(!memcmp(buf, e.pinbuf, len), "written bytes differ");
	/* Remote read is in the default access too. */
	memset(e.pinbuf, 0, len);
	st = read_from(&e, buf, len);
	CHECK(st == IBV_WC_SUCCESS, "RDMA read: %d", st);
	CHECK(!memcmp(buf, e.pinbuf, len), "read bytes differ");
	rc = 0;
out:
	env_fini(&e);
	free(buf);
	return rc;
}

static int test_reg_implicit_mr_explicit_access_is_honoured(void)
{
	const uint32_t len = 8192;
	struct env e;
	char *buf = NULL;
	int rc = -1, st;

	/* Remote write but no remote read. */
	if (env_init(&e, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE))
		return -1;
	buf = malloc(len);
	CHECK(buf, "malloc");
	memset(e.pinbuf, 0x5a, len);
	st = write_to(&e, buf, len);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	CHECK(buf[0] == 0x5a && buf[len - 1] == 0x5a, "bytes not written");
	st = read_from(&e, buf, len);
	CHECK(st == IBV_WC_REM_ACCESS_ERR,
	      "RDMA read without remote read access: %d, want REM_ACCESS_ERR",
	      st);
	rc = 0;
out:
	env_fini(&e);
	free(buf);
	return rc;
}

static int test_reg_implicit_mr_null_pd_is_einval(void)
{
	struct ibv_mr *mr;
	int rc = -1;

	errno = 0;
	mr = mirrorv_reg_implicit_mr(NULL, 0);
	CHECK(!mr && errno == EINVAL, "mr %p errno %d", (void *)mr, errno);
	rc = 0;
out:
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Counters */

static int test_counters_count_pages_of_a_write_exactly(void)
{
	const size_t npages = 37;
	struct mirrorv_odp_counters d0, d1, m0, m1, o0, o1;
	struct ibv_mr *other = NULL;
	uint64_t hist = 0, faults;
	struct env e;
	char *buf = NULL;
	int rc = -1, st, i;

	if (env_init(&e, 0))
		return -1;
	other = mirrorv_reg_implicit_mr(e.pd, 0);
	CHECK(other, "second implicit MR: %s", strerror(errno));
	/* 2 MiB aligned plus 3 pages, so the write crosses no block. */
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	CHECK(dev_counters(&d0) == 0, "device counters");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	CHECK(mirrorv_query_mr_odp_counters(other, &o0) == 0, "MR counters");
	st = write_to(&e, buf + 3 * PAGE, npages * PAGE);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	CHECK(dev_counters(&d1) == 0, "device counters");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(mirrorv_query_mr_odp_counters(other, &o1) == 0, "MR counters");
	faults = blocks_spanned(buf + 3 * PAGE, npages * PAGE);
	note("device: faults +%llu pages_faulted +%llu children_created +%llu",
	     (unsigned long long)(d1.faults - d0.faults),
	     (unsigned long long)(d1.pages_faulted - d0.pages_faulted),
	     (unsigned long long)(d1.children_created - d0.children_created));
	CHECK(d1.faults - d0.faults == faults, "device faults +%llu, want %llu",
	      (unsigned long long)(d1.faults - d0.faults),
	      (unsigned long long)faults);
	CHECK(d1.pages_faulted - d0.pages_faulted == npages,
	      "device pages_faulted +%llu, want %zu",
	      (unsigned long long)(d1.pages_faulted - d0.pages_faulted),
	      npages);
	CHECK(d1.children_created - d0.children_created == 1,
	      "device children_created +%llu, want 1",
	      (unsigned long long)(d1.children_created - d0.children_created));
	CHECK(d1.children_live - d0.children_live == 1,
	      "device children_live +%lld, want 1",
	      (long long)(d1.children_live - d0.children_live));
	for (i = 0; i < MIRRORV_FAULT_LAT_BUCKETS; i++)
		hist += d1.fault_ns_log2[i] - d0.fault_ns_log2[i];
	CHECK(hist == d1.faults - d0.faults,
	      "latency histogram +%llu, faults +%llu",
	      (unsigned long long)hist,
	      (unsigned long long)(d1.faults - d0.faults));
	/* The MR's own counters grow the same. */
	CHECK(m1.faults - m0.faults == faults && m0.faults == 0,
	      "MR faults %llu -> %llu, want 0 -> %llu",
	      (unsigned long long)m0.faults, (unsigned long long)m1.faults,
	      (unsigned long long)faults);
	CHECK(m1.pages_faulted - m0.pages_faulted == npages,
	      "MR pages_faulted +%llu, want %zu",
	      (unsigned long long)(m1.pages_faulted - m0.pages_faulted),
	      npages);
	CHECK(m1.children_created == 1 && m1.children_live == 1,
	      "MR children created %llu live %llu, want 1 and 1",
	      (unsigned long long)m1.children_created,
	      (unsigned long long)m1.children_live);
	CHECK(m1.mirror_bytes == 0 && m1.fault_ns_log2[0] == 0,
	      "device-only fields of an MR are not zero");
	/* The other MR saw nothing. */
	CHECK(!memcmp(&o0, &o1, sizeof(o0)) && o1.faults == 0 &&
	      o1.pages_faulted == 0 && o1.children_live == 0,
	      "the other MR's counters changed: faults %llu pages %llu",
	      (unsigned long long)o1.faults,
	      (unsigned long long)o1.pages_faulted);
	rc = 0;
out:
	if (other)
		ibv_dereg_mr(other);
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_counters_count_a_fault_per_2m_block(void)
{
	struct mirrorv_odp_counters m0, m1;
	const size_t npages = 64;
	struct env e;
	char *buf = NULL, *p;
	int rc = -1, st;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(2 * BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	p = buf + BLOCK - 16 * PAGE;	/* 16 pages before the boundary */
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	st = write_to(&e, p, npages * PAGE);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(m1.faults - m0.faults == 2, "faults +%llu, want 2",
	      (unsigned long long)(m1.faults - m0.faults));
	CHECK(m1.pages_faulted - m0.pages_faulted == npages,
	      "pages_faulted +%llu, want %zu",
	      (unsigned long long)(m1.pages_faulted - m0.pages_faulted),
	      npages);
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, 2 * BLOCK);
	return rc;
}

static int test_counters_count_invalidations_of_madv_dontneed(void)
{
	struct mirrorv_odp_counters m0, m1;
	const size_t npages = 20;
	struct env e;
	char *buf = NULL;
	int rc = -1, st;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	st = write_to(&e, buf, npages * PAGE);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	CHECK(madvise(buf, npages * PAGE, MADV_DONTNEED) == 0, "madvise");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(m1.invalidations > m0.invalidations, "no invalidation counted");
	CHECK(m1.pages_invalidated - m0.pages_invalidated == npages,
	      "pages_invalidated +%llu, want %zu",
	      (unsigned long long)(m1.pages_invalidated -
				   m0.pages_invalidated), npages);
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_counters_track_children_and_their_memory(void)
{
	struct mirrorv_odp_counters d0, d1, d2, m;
	struct timespec t0;
	struct env e;
	size_t size = 3 * CHILD;
	char *buf = NULL;
	int rc = -1, st, i;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(size, CHILD, false);
	CHECK(buf, "mmap");
	CHECK(dev_counters(&d0) == 0, "device counters");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m) == 0 &&
	      m.children_live == 0, "a fresh implicit MR has %llu children",
	      (unsigned long long)m.children_live);
	/* One page in each of three children. */
	for (i = 0; i < 3; i++) {
		st = write_to(&e, buf + i * CHILD + 5 * PAGE, 64);
		CHECK(st == IBV_WC_SUCCESS, "RDMA write %d: %d", i, st);
	}
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m) == 0, "MR counters");
	CHECK(m.children_live == 3 && m.children_created == 3,
	      "MR children live %llu created %llu, want 3 and 3",
	      (unsigned long long)m.children_live,
	      (unsigned long long)m.children_created);
	CHECK(dev_counters(&d1) == 0, "device counters");
	CHECK(d1.children_live - d0.children_live == 3,
	      "device children_live +%lld, want 3",
	      (long long)(d1.children_live - d0.children_live));
	/* Each child's page table: 6 bytes per 4 KiB page at least. */
	CHECK(d1.mirror_bytes - d0.mirror_bytes >= 3 * (CHILD / PAGE) * 6,
	      "mirror_bytes +%lld for 3 children",
	      (long long)(d1.mirror_bytes - d0.mirror_bytes));
	note("3 children: mirror_bytes +%lld",
	     (long long)(d1.mirror_bytes - d0.mirror_bytes));

	/* Emptied by munmap: removed by deferred work, soon. */
	munmap(buf, size);
	buf = NULL;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		CHECK(mirrorv_query_mr_odp_counters(e.im, &m) == 0,
		      "MR counters");
		if (!m.children_live)
			break;
		usleep(10000);
	} while (elapsed(&t0) < 5);
	note("children gone %.3f s after munmap", elapsed(&t0));
	CHECK(m.children_live == 0 && m.children_destroyed == 3,
	      "5 s after munmap: live %llu destroyed %llu, want 0 and 3",
	      (unsigned long long)m.children_live,
	      (unsigned long long)m.children_destroyed);

	/* Used again, then deregistered: everything goes with the MR. */
	size = 2 * CHILD;
	buf = fresh_map(size, CHILD, false);
	CHECK(buf, "mmap");
	for (i = 0; i < 2; i++) {
		st = write_to(&e, buf + i * CHILD, 64);
		CHECK(st == IBV_WC_SUCCESS, "RDMA write %d: %d", i, st);
	}
	CHECK(dev_counters(&d1) == 0, "device counters");
	CHECK(d1.children_live - d0.children_live == 2,
	      "device children_live +%lld, want 2",
	      (long long)(d1.children_live - d0.children_live));
	CHECK(ibv_dereg_mr(e.im) == 0, "dereg");
	e.im = NULL;
	CHECK(dev_counters(&d2) == 0, "device counters");
	CHECK(d2.children_live == d0.children_live,
	      "device children_live %llu after dereg, was %llu before",
	      (unsigned long long)d2.children_live,
	      (unsigned long long)d0.children_live);
	CHECK(d2.mirror_bytes == d0.mirror_bytes,
	      "device mirror_bytes %llu after dereg, was %llu before",
	      (unsigned long long)d2.mirror_bytes,
	      (unsigned long long)d0.mirror_bytes);
	CHECK(d2.children_destroyed - d0.children_destroyed == 5,
	      "device children_destroyed +%llu, want 5",
	      (unsigned long long)(d2.children_destroyed -
				   d0.children_destroyed));
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, size);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* mirrorv_query_mirror() */

static int test_query_mirror_write_makes_pages_read_write(void)
{
	const size_t npages = 32;
	uint8_t st[32];
	struct env e;
	char *buf = NULL;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	if (states_are(st, 0, npages, 0))
		goto out;	/* untouched memory is not mirrored */
	s = write_to(&e, buf + 4 * PAGE, 8 * PAGE);
	CHECK(s == IBV_WC_SUCCESS, "RDMA write: %d", s);
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	if (states_are(st, 0, 4, 0) ||
	    states_are(st, 4, 8, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE) ||
	    states_are(st, 12, npages - 12, 0))
		goto out;
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_query_mirror_read_of_fresh_memory_is_read_only(void)
{
	const size_t npages = 16;
	struct mirrorv_odp_counters m0, m1;
	uint8_t st[16];
	struct env e;
	char *buf = NULL;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	memset(e.pinbuf, 0x77, npages * PAGE);
	s = read_from(&e, buf, npages * PAGE);
	CHECK(s == IBV_WC_SUCCESS, "RDMA read: %d", s);
	CHECK(e.pinbuf[0] == 0 && e.pinbuf[npages * PAGE - 1] == 0,
	      "fresh memory did not read as zeroes");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(m1.pages_faulted - m0.pages_faulted == npages,
	      "pages_faulted +%llu, want %zu",
	      (unsigned long long)(m1.pages_faulted - m0.pages_faulted),
	      npages);
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	/* The device reads the shared zero page: read-only. */
	if (states_are(st, 0, npages, MIRRORV_PAGE_READ))
		goto out;
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_query_mirror_clears_after_madv_dontneed(void)
{
	const size_t npages = 16;
	uint8_t st[16];
	struct env e;
	char *buf = NULL;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	s = write_to(&e, buf, npages * PAGE);
	CHECK(s == IBV_WC_SUCCESS, "RDMA write: %d", s);
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	if (states_are(st, 0, npages, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE))
		goto out;
	CHECK(madvise(buf, npages * PAGE, MADV_DONTNEED) == 0, "madvise");
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	if (states_are(st, 0, npages, 0))
		goto out;
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_query_mirror_shows_huge_for_thp(void)
{
	const size_t npages = BLOCK / PAGE;
	struct mirrorv_odp_counters m0, m1;
	uint8_t *st = NULL;
	struct env e;
	char *buf = NULL;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	st = malloc(npages);
	buf = fresh_map(BLOCK, BLOCK, true);
	CHECK(st && buf, "mmap");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	/* One written page faults in (and mirrors) the whole THP. */
	s = write_to(&e, buf + 7 * PAGE, 64);
	CHECK(s == IBV_WC_SUCCESS, "RDMA write: %d", s);
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(mirrorv_query_mirror(e.im, buf, BLOCK, st) == 0, "query");
	if (states_are(st, 0, npages, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE |
					  MIRRORV_PAGE_HUGE))
		goto out;
	CHECK(m1.faults - m0.faults == 1 &&
	      m1.pages_faulted - m0.pages_faulted == npages,
	      "faults +%llu pages_faulted +%llu, want 1 and %zu",
	      (unsigned long long)(m1.faults - m0.faults),
	      (unsigned long long)(m1.pages_faulted - m0.pages_faulted),
	      npages);
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	free(st);
	return rc;
}

static int test_query_mirror_shows_huge_for_hugetlb(void)
{
	const size_t npages = BLOCK / PAGE;
	uint8_t *st = NULL;
	struct env e;
	char *buf = MAP_FAILED;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	st = malloc(npages);
	buf = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	CHECK(st && buf != MAP_FAILED, "mmap MAP_HUGETLB: %s",
	      strerror(errno));
	s = write_to(&e, buf + BLOCK - 64, 64);
	CHECK(s == IBV_WC_SUCCESS, "RDMA write: %d", s);
	CHECK(mirrorv_query_mirror(e.im, buf, BLOCK, st) == 0, "query");
	if (states_are(st, 0, npages, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE |
					  MIRRORV_PAGE_HUGE))
		goto out;
	rc = 0;
out:
	env_fini(&e);
	if (buf != MAP_FAILED)
		munmap(buf, BLOCK);
	free(st);
	return rc;
}

static int test_query_mirror_beyond_65535_pages(void)
{
	const size_t len = 300UL << 20, npages = len / PAGE;
	const size_t hit = 70001;	/* past the first ioctl's pages */
	uint8_t *st = NULL;
	struct env e;
	char *buf = NULL;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	st = malloc(npages);
	buf = fresh_map(len, PAGE, false);
	CHECK(st && buf, "mmap");
	s = write_to(&e, buf + hit * PAGE + 100, 64);
	CHECK(s == IBV_WC_SUCCESS, "RDMA write: %d", s);
	memset(st, 0xee, npages);
	CHECK(mirrorv_query_mirror(e.im, buf, len, st) == 0, "query");
	if (states_are(st, 0, hit, 0) ||
	    states_are(st, hit, 1, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE) ||
	    states_are(st, hit + 1, npages - hit - 1, 0))
		goto out;
	/* An unaligned start and length: the pages they span. */
	CHECK(mirrorv_query_mirror(e.im, buf + hit * PAGE - 1, 2, st) == 0,
	      "query");
	if (states_are(st, 0, 1, 0) ||
	    states_are(st, 1, 1, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE))
		goto out;
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, len);
	free(st);
	return rc;
}

/* An explicit ODP MR over fresh memory: the same states, its own range. */
static int test_query_mirror_of_explicit_odp_mr(void)
{
	const size_t npages = 8;
	struct ibv_mr *mr = NULL;
	struct mirrorv_odp_counters c;
	uint8_t st[8];
	struct env e;
	char *buf = NULL;
	int rc = -1, s;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	mr = ibv_reg_mr(e.pd, buf, npages * PAGE,
			IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE);
	CHECK(mr, "ODP MR: %s", strerror(errno));
	s = rdma(&e, IBV_WR_RDMA_WRITE, e.pinbuf, e.pin->lkey, 2 * PAGE,
		 buf + PAGE, mr->rkey);
	CHECK(s == IBV_WC_SUCCESS, "RDMA write: %d", s);
	CHECK(mirrorv_query_mirror(mr, buf, npages * PAGE, st) == 0, "query");
	if (states_are(st, 0, 1, 0) ||
	    states_are(st, 1, 2, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE) ||
	    states_are(st, 3, npages - 3, 0))
		goto out;
	CHECK(mirrorv_query_mr_odp_counters(mr, &c) == 0 &&
	      c.pages_faulted == 2 && c.children_live == 0,
	      "explicit MR: pages_faulted %llu children_live %llu, want 2, 0",
	      (unsigned long long)c.pages_faulted,
	      (unsigned long long)c.children_live);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

/*
 * An explicit ODP MR whose ends are not page aligned: the header promises
 * the pages spanned by any range inside the MR, the first and the last
 * partial page included.
 */
static int test_query_mirror_of_unaligned_explicit_mr(void)
{
	struct ibv_mr *mr = NULL;
	uint8_t st[4];
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	mr = ibv_reg_mr(e.pd, buf + 100, 3 * PAGE,
			IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr, "ODP MR: %s", strerror(errno));
	err = mirrorv_query_mirror(mr, buf + 100, 3 * PAGE, st);
	CHECK(err == 0, "query of the whole MR: %s", strerror(err));
	err = mirrorv_query_mirror(mr, buf + 100, 1, st);
	CHECK(err == 0, "query of its first byte: %s", strerror(err));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* mirrorv_prefetch() */

static int prefetch_shows(unsigned int flags, uint8_t want)
{
	const size_t npages = 24;
	struct mirrorv_odp_counters m0, m1;
	uint8_t st[24];
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	err = mirrorv_prefetch(e.im, buf + PAGE, (npages - 2) * PAGE, flags);
	CHECK(err == 0, "mirrorv_prefetch(0x%x): %s", flags, strerror(err));
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(m1.prefetches - m0.prefetches == 1,
	      "prefetches +%llu, want 1",
	      (unsigned long long)(m1.prefetches - m0.prefetches));
	if (flags & MIRRORV_PREFETCH_ASYNC) {
		if (wait_states(e.im, buf + PAGE, npages - 2, want, st))
			goto out;
	} else {
		CHECK(m1.pages_faulted - m0.pages_faulted == npages - 2,
		      "pages_faulted +%llu, want %zu",
		      (unsigned long long)(m1.pages_faulted -
					   m0.pages_faulted), npages - 2);
	}
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	if (states_are(st, 0, 1, 0) || states_are(st, 1, npages - 2, want) ||
	    states_are(st, npages - 1, 1, 0))
		goto out;
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_prefetch_sync_read_mirrors_read_only(void)
{
	return prefetch_shows(0, MIRRORV_PAGE_READ);
}

static int test_prefetch_sync_write_mirrors_writable(void)
{
	return prefetch_shows(MIRRORV_PREFETCH_WRITE,
			      MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE);
}

static int test_prefetch_async_write_mirrors_writable_soon(void)
{
	return prefetch_shows(MIRRORV_PREFETCH_WRITE | MIRRORV_PREFETCH_ASYNC,
			      MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE);
}

static int test_prefetch_async_read_mirrors_read_only_soon(void)
{
	return prefetch_shows(MIRRORV_PREFETCH_ASYNC, MIRRORV_PAGE_READ);
}

static int test_prefetch_no_fault_mirrors_present_pages_only(void)
{
	const size_t npages = 16;
	struct mirrorv_odp_counters m0, m1;
	uint8_t st[16];
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	memset(buf, 1, 6 * PAGE);	/* the CPU makes 6 pages present */
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	err = mirrorv_prefetch(e.im, buf, npages * PAGE,
			       MIRRORV_PREFETCH_NO_FAULT);
	CHECK(err == 0, "mirrorv_prefetch(NO_FAULT): %s", strerror(err));
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(mirrorv_query_mirror(e.im, buf, npages * PAGE, st) == 0,
	      "query");
	if (states_are(st, 0, 6, MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE) ||
	    states_are(st, 6, npages - 6, 0))
		goto out;
	/* Nothing was faulted in. */
	CHECK(m1.faults == m0.faults, "faults +%llu, want 0",
	      (unsigned long long)(m1.faults - m0.faults));
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

/* Over 2 GiB: split into ranges of at most 2 GiB, one prefetch each. */
static int test_prefetch_splits_ranges_over_2g(void)
{
	const size_t len = 5UL << 30;
	struct mirrorv_odp_counters m0, m1;
	struct env e;
	char *buf = NULL;
	uint8_t st[2];
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(len, PAGE, false);
	CHECK(buf, "mmap 5 GiB (no reserve)");
	buf[0] = 1;
	buf[len - 1] = 1;
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m0) == 0, "MR counters");
	err = mirrorv_prefetch(e.im, buf, len, MIRRORV_PREFETCH_NO_FAULT);
	CHECK(err == 0, "mirrorv_prefetch: %s", strerror(err));
	CHECK(mirrorv_query_mr_odp_counters(e.im, &m1) == 0, "MR counters");
	CHECK(m1.prefetches - m0.prefetches == 3,
	      "prefetches +%llu for 5 GiB, want 3",
	      (unsigned long long)(m1.prefetches - m0.prefetches));
	/* Both ends, which the first and the last range covered. */
	CHECK(mirrorv_query_mirror(e.im, buf, 1, st) == 0 &&
	      mirrorv_query_mirror(e.im, buf + len - 1, 1, st + 1) == 0,
	      "query");
	CHECK(st[0] == (MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE) &&
	      st[1] == (MIRRORV_PAGE_READ | MIRRORV_PAGE_WRITE),
	      "first page 0x%x, last page 0x%x", st[0], st[1]);
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, len);
	return rc;
}

static int test_prefetch_of_unmapped_memory_is_efault(void)
{
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	munmap(buf, BLOCK);
	err = mirrorv_prefetch(e.im, buf, 4 * PAGE, 0);
	CHECK(err == EFAULT, "got %d (%s), want EFAULT", err, strerror(err));
	rc = 0;
out:
	env_fini(&e);
	return rc;
}

static int test_prefetch_write_without_local_write_is_eacces(void)
{
	struct ibv_mr *mr = NULL;
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	mr = mirrorv_reg_implicit_mr(e.pd, IBV_ACCESS_REMOTE_READ);
	CHECK(mr, "implicit MR: %s", strerror(errno));
	err = mirrorv_prefetch(mr, buf, PAGE, MIRRORV_PREFETCH_WRITE);
	CHECK(err == EACCES, "got %d (%s), want EACCES", err, strerror(err));
	err = mirrorv_prefetch(mr, buf, PAGE, 0);
	CHECK(err == 0, "a read prefetch: %s", strerror(err));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Bad arguments */

/* ---------------------------------------------------------------------- */
/* mirrorv_query_odp_stats(), mirrorv_query_mr_odp_stats() */

/* The first version's fields of @s equal @c. */
static bool stats_equal_counters(const struct mirrorv_odp_stats *s,
				 const struct mirrorv_odp_counters *c)
{
	return s->faults == c->faults &&
	       s->pages_faulted == c->pages_faulted &&
	       s->invalidations == c->invalidations &&
	       s->pages_invalidated == c->pages_invalidated &&
	       s->prefetches == c->prefetches &&
	       s->fault_retries == c->fault_retries &&
	       s->children_created == c->children_created &&
	       s->children_destroyed == c->children_destroyed &&
	       s->children_live == c->children_live &&
	       s->mirror_bytes == c->mirror_bytes &&
	       !memcmp(s->fault_ns_log2, c->fault_ns_log2,
		       sizeof(c->fault_ns_log2));
}

/*
 * After a write through the implicit MR, with nothing else going on, the
 * extensible queries read what the first ones read, for the MR and the
 * device, and set no comp_mask bit (this version adds no field).
 */
static int test_odp_stats_read_what_odp_counters_read(void)
{
	struct mirrorv_odp_counters c;
	struct mirrorv_odp_stats s;
	char *buf = fresh_map(4 * PAGE, BLOCK, false);	/* one block */
	struct env e;
	int rc = -1, st;

	if (env_init(&e, 0))
		return -1;
	CHECK(buf, "mmap");
	st = write_to(&e, buf, 4 * PAGE);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	memset(&s, 0xff, sizeof(s));
	CHECK(mirrorv_query_mr_odp_stats(e.im, &s, sizeof(s)) == 0 &&
	      mirrorv_query_mr_odp_counters(e.im, &c) == 0, "MR queries");
	CHECK(s.comp_mask == 0, "MR comp_mask 0x%llx",
	      (unsigned long long)s.comp_mask);
	CHECK(stats_equal_counters(&s, &c) && s.faults == 1 &&
	      s.pages_faulted == 4, "MR: stats faults %llu pages %llu, counters %llu %llu",
	      (unsigned long long)s.faults, (unsigned long long)s.pages_faulted,
	      (unsigned long long)c.faults, (unsigned long long)c.pages_faulted);
	memset(&s, 0xff, sizeof(s));
	CHECK(mirrorv_query_odp_stats(peer_ctx, &s, sizeof(s)) == 0 &&
	      mirrorv_query_odp_counters(peer_ctx, &c) == 0, "device queries");
	CHECK(s.comp_mask == 0 && stats_equal_counters(&s, &c),
	      "device: comp_mask 0x%llx, faults %llu vs %llu",
	      (unsigned long long)s.comp_mask, (unsigned long long)s.faults,
	      (unsigned long long)c.faults);
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, 4 * PAGE);
	return rc;
}

/*
 * A caller built with a longer struct (a newer header) gets the known
 * fields and zeros after them; one with less than the first version's
 * fields gets EINVAL and nothing written.
 */
static int test_odp_stats_inlen_is_honoured(void)
{
	struct {
		struct mirrorv_odp_stats s;
		uint64_t later[8];	/* fields of some later version */
	} big;
	struct mirrorv_odp_stats s;
	unsigned int i;
	int err, rc = -1;

	memset(&big, 0xff, sizeof(big));
	err = mirrorv_query_odp_stats(ctx, &big.s, sizeof(big));
	CHECK(err == 0, "longer struct: %s", strerror(err));
	CHECK(big.s.comp_mask == 0, "comp_mask 0x%llx",
	      (unsigned long long)big.s.comp_mask);
	for (i = 0; i < 8; i++)
		CHECK(big.later[i] == 0, "unknown field %u is 0x%llx, want 0", i,
		      (unsigned long long)big.later[i]);
	memset(&s, 0xab, sizeof(s));
	err = mirrorv_query_odp_stats(ctx, &s, MIRRORV_ODP_STATS_MIN_LEN - 8);
	CHECK(err == EINVAL, "short inlen: %d, want EINVAL", err);
	CHECK(s.faults == 0xababababababababULL, "a refused query wrote");
	err = mirrorv_query_mr_odp_stats(NULL, &s, sizeof(s));
	CHECK(err == EINVAL, "NULL MR: %d", err);
	err = mirrorv_query_odp_stats(ctx, NULL, sizeof(s));
	CHECK(err == EINVAL, "NULL stats: %d", err);
	rc = 0;
out:
	return rc;
}

static int test_null_arguments_are_einval(void)
{
	struct mirrorv_odp_counters c;
	struct env e;
	uint8_t st[1];
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	err = mirrorv_query_odp_counters(NULL, &c);
	CHECK(err == EINVAL, "query_odp_counters(NULL ctx): %d", err);
	err = mirrorv_query_odp_counters(ctx, NULL);
	CHECK(err == EINVAL, "query_odp_counters(NULL counters): %d", err);
	err = mirrorv_query_mr_odp_counters(NULL, &c);
	CHECK(err == EINVAL, "query_mr_odp_counters(NULL mr): %d", err);
	err = mirrorv_query_mr_odp_counters(e.im, NULL);
	CHECK(err == EINVAL, "query_mr_odp_counters(NULL counters): %d", err);
	err = mirrorv_query_mirror(NULL, e.pinbuf, 1, st);
	CHECK(err == EINVAL, "query_mirror(NULL mr): %d", err);
	err = mirrorv_query_mirror(e.im, e.pinbuf, 1, NULL);
	CHECK(err == EINVAL, "query_mirror(NULL pages): %d", err);
	err = mirrorv_query_mirror(e.im, e.pinbuf, 0, st);
	CHECK(err == EINVAL, "query_mirror(length 0): %d", err);
	err = mirrorv_prefetch(NULL, e.pinbuf, 1, 0);
	CHECK(err == EINVAL, "prefetch(NULL mr): %d", err);
	err = mirrorv_prefetch(e.im, e.pinbuf, 0, 0);
	CHECK(err == EINVAL, "prefetch(length 0): %d", err);
	err = mirrorv_post_flush(NULL, 0, 0, 0, 0, 0, MIRRORV_FLUSH_GLOBAL,
				 MIRRORV_FLUSH_MR);
	CHECK(err == EINVAL, "post_flush(NULL qp): %d", err);
	rc = 0;
out:
	env_fini(&e);
	return rc;
}

static int test_query_mirror_of_pinned_mr_is_einval(void)
{
	uint8_t st[2];
	struct env e;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	err = mirrorv_query_mirror(e.pin, e.pinbuf, 2 * PAGE, st);
	CHECK(err == EINVAL, "got %d (%s), want EINVAL", err, strerror(err));
	rc = 0;
out:
	env_fini(&e);
	return rc;
}

static int test_mr_counters_of_pinned_mr_are_zero(void)
{
	struct mirrorv_odp_counters c, zero;
	struct env e;
	int rc = -1, err, st;

	if (env_init(&e, 0))
		return -1;
	/* Used: its pages were copied, but nothing faults for a pinned MR. */
	st = write_to(&e, e.pinbuf + PAGE, PAGE);
	CHECK(st == IBV_WC_SUCCESS, "RDMA write: %d", st);
	memset(&c, 0xff, sizeof(c));
	memset(&zero, 0, sizeof(zero));
	err = mirrorv_query_mr_odp_counters(e.pin, &c);
	CHECK(err == 0, "query: %s", strerror(err));
	CHECK(!memcmp(&c, &zero, sizeof(c)),
	      "not all zero: faults %llu pages_faulted %llu",
	      (unsigned long long)c.faults,
	      (unsigned long long)c.pages_faulted);
	rc = 0;
out:
	env_fini(&e);
	return rc;
}

static int test_query_mirror_outside_explicit_mr_is_erange(void)
{
	struct ibv_mr *mr = NULL;
	uint8_t st[8];
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	mr = ibv_reg_mr(e.pd, buf + 4 * PAGE, 4 * PAGE,
			IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr, "ODP MR: %s", strerror(errno));
	err = mirrorv_query_mirror(mr, buf + 4 * PAGE, 4 * PAGE, st);
	CHECK(err == 0, "query of the MR itself: %s", strerror(err));
	err = mirrorv_query_mirror(mr, buf + 5 * PAGE, 4 * PAGE, st);
	CHECK(err == ERANGE, "past the end: %d (%s), want ERANGE", err,
	      strerror(err));
	err = mirrorv_query_mirror(mr, buf + 3 * PAGE, 2 * PAGE, st);
	CHECK(err == ERANGE, "before the start: %d (%s), want ERANGE", err,
	      strerror(err));
	err = mirrorv_query_mirror(mr, (void *)UINTPTR_MAX, 2, st);
	CHECK(err == ERANGE, "wrapping: %d (%s), want ERANGE", err,
	      strerror(err));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_prefetch_bad_flags_are_einval(void)
{
	struct env e;
	char *buf = NULL;
	uint8_t st[1];
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	err = mirrorv_prefetch(e.im, buf, PAGE,
			       MIRRORV_PREFETCH_WRITE |
			       MIRRORV_PREFETCH_NO_FAULT);
	CHECK(err == EINVAL, "WRITE|NO_FAULT: %d, want EINVAL", err);
	err = mirrorv_prefetch(e.im, buf, PAGE, 1U << 7);
	CHECK(err == EINVAL, "unknown flag: %d, want EINVAL", err);
	err = mirrorv_prefetch(e.im, buf, PAGE,
			       MIRRORV_PREFETCH_WRITE | 1U << 31);
	CHECK(err == EINVAL, "WRITE with an unknown flag: %d, want EINVAL",
	      err);
	/* None of them did anything. */
	CHECK(mirrorv_query_mirror(e.im, buf, PAGE, st) == 0 && st[0] == 0,
	      "a rejected prefetch mirrored the page (0x%x)", st[0]);
	rc = 0;
out:
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

static int test_prefetch_of_pinned_mr_is_einval(void)
{
	struct env e;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	err = mirrorv_prefetch(e.pin, e.pinbuf, PAGE, 0);
	CHECK(err == EINVAL, "got %d (%s), want EINVAL", err, strerror(err));
	rc = 0;
out:
	env_fini(&e);
	return rc;
}

static int test_prefetch_outside_explicit_mr_is_efault(void)
{
	struct ibv_mr *mr = NULL;
	struct env e;
	char *buf = NULL;
	int rc = -1, err;

	if (env_init(&e, 0))
		return -1;
	buf = fresh_map(BLOCK, BLOCK, false);
	CHECK(buf, "mmap");
	mr = ibv_reg_mr(e.pd, buf, 4 * PAGE,
			IBV_ACCESS_ON_DEMAND | IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr, "ODP MR: %s", strerror(errno));
	err = mirrorv_prefetch(mr, buf + 2 * PAGE, 4 * PAGE, 0);
	CHECK(err == EFAULT, "got %d (%s), want EFAULT", err, strerror(err));
	err = mirrorv_prefetch(mr, buf, 4 * PAGE, MIRRORV_PREFETCH_WRITE);
	CHECK(err == 0, "inside: %s", strerror(err));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	env_fini(&e);
	if (buf)
		munmap(buf, BLOCK);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Another driver's device (--other=DEV) */

static int test_non_mirror_device_is_not_a_mirror_device(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_device *dev = find_device(list, other_dev);
	int rc = -1;

	CHECK(dev, "%s not listed", other_dev);
	CHECK(!mirrorv_is_mirror_device(dev), "true for %s", other_dev);
	rc = 0;
out:
	ibv_free_device_list(list);
	return rc;
}

static int test_non_mirror_device_functions_are_eopnotsupp(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_device *dev = find_device(list, other_dev);
	struct ibv_context *octx = NULL;
	struct mirrorv_odp_counters c;
	struct ibv_mr *mr = NULL, *im = NULL;
	struct ibv_qp_init_attr qa = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 1, .max_recv_wr = 1, .max_send_sge = 1,
			 .max_recv_sge = 1 },
	};
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	char *buf = NULL;
	uint8_t st[1];
	int rc = -1, err;

	CHECK(dev, "%s not listed", other_dev);
	octx = ibv_open_device(dev);
	CHECK(octx, "open %s: %s", other_dev, strerror(errno));
	pd = ibv_alloc_pd(octx);
	buf = calloc(1, 2 * PAGE);
	CHECK(pd && buf, "PD on %s", other_dev);
	mr = ibv_reg_mr(pd, buf, 2 * PAGE, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr, "MR on %s: %s", other_dev, strerror(errno));
	errno = 0;
	im = mirrorv_reg_implicit_mr(pd, 0);
	CHECK(!im && errno == EOPNOTSUPP, "reg_implicit_mr: %p errno %d",
	      (void *)im, errno);
	err = mirrorv_query_odp_counters(octx, &c);
	CHECK(err == EOPNOTSUPP, "query_odp_counters: %d", err);
	err = mirrorv_query_mr_odp_counters(mr, &c);
	CHECK(err == EOPNOTSUPP, "query_mr_odp_counters: %d", err);
	err = mirrorv_query_mirror(mr, buf, PAGE, st);
	CHECK(err == EOPNOTSUPP, "query_mirror: %d", err);
	err = mirrorv_prefetch(mr, buf, PAGE, 0);
	CHECK(err == EOPNOTSUPP, "prefetch: %d", err);
	cq = ibv_create_cq(octx, 4, NULL, NULL, 0);
	CHECK(cq, "CQ on %s: %s", other_dev, strerror(errno));
	qa.send_cq = qa.recv_cq = cq;
	qp = ibv_create_qp(pd, &qa);
	CHECK(qp, "QP on %s: %s", other_dev, strerror(errno));
	err = mirrorv_post_flush(qp, 1, IBV_SEND_SIGNALED, mr->rkey,
				 (uintptr_t)buf, PAGE, MIRRORV_FLUSH_GLOBAL,
				 MIRRORV_FLUSH_RANGE);
	CHECK(err == EOPNOTSUPP, "post_flush: %d", err);
	rc = 0;
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (cq)
		ibv_destroy_cq(cq);
	if (im)
		ibv_dereg_mr(im);
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	if (octx)
		ibv_close_device(octx);
	free(buf);
	ibv_free_device_list(list);
	return rc;
}

static const struct test tests[] = {
	T_DEV(is_mirror_device_true_for_mirror_device),
	T_DEV(is_mirror_device_false_for_null),
	T(reg_implicit_mr_default_access_writes_and_reads),
	T(reg_implicit_mr_explicit_access_is_honoured),
	T_DEV(reg_implicit_mr_null_pd_is_einval),
	T(counters_count_pages_of_a_write_exactly),
	T(counters_count_a_fault_per_2m_block),
	T(counters_count_invalidations_of_madv_dontneed),
	T(counters_track_children_and_their_memory),
	T(query_mirror_write_makes_pages_read_write),
	T(query_mirror_read_of_fresh_memory_is_read_only),
	T(query_mirror_clears_after_madv_dontneed),
	T(query_mirror_shows_huge_for_thp),
	T(query_mirror_shows_huge_for_hugetlb),
	T(query_mirror_beyond_65535_pages),
	T(query_mirror_of_explicit_odp_mr),
	T_DEV(query_mirror_of_unaligned_explicit_mr),
	T_DEV(prefetch_sync_read_mirrors_read_only),
	T_DEV(prefetch_sync_write_mirrors_writable),
	T_DEV(prefetch_async_write_mirrors_writable_soon),
	T_DEV(prefetch_async_read_mirrors_read_only_soon),
	T_DEV(prefetch_no_fault_mirrors_present_pages_only),
	T_DEV(prefetch_splits_ranges_over_2g),
	T_DEV(prefetch_of_unmapped_memory_is_efault),
	T_DEV(prefetch_write_without_local_write_is_eacces),
	T(odp_stats_read_what_odp_counters_read),
	T_DEV(odp_stats_inlen_is_honoured),
	T_DEV(null_arguments_are_einval),
	T_DEV(query_mirror_of_pinned_mr_is_einval),
	T(mr_counters_of_pinned_mr_are_zero),
	T_DEV(query_mirror_outside_explicit_mr_is_erange),
	T_DEV(prefetch_bad_flags_are_einval),
	T_DEV(prefetch_of_pinned_mr_is_einval),
	T_DEV(prefetch_outside_explicit_mr_is_efault),
};

static const struct test other_tests[] = {
	T_DEV(non_mirror_device_is_not_a_mirror_device),
	T_DEV(non_mirror_device_functions_are_eopnotsupp),
};

#define NTESTS(a) ((int)(sizeof(a) / sizeof((a)[0])))

int main(int argc, char **argv)
{
	struct test all[NTESTS(tests) + NTESTS(other_tests)];
	int i, j, n = 0;

	/* Takes --other=DEV out of argv; the rest is mirror_tap's. */
	for (i = 1, j = 1; i < argc; i++) {
		if (!strncmp(argv[i], "--other=", 8))
			other_dev = argv[i] + 8;
		else
			argv[j++] = argv[i];
	}
	argc = j;
	argv[argc] = NULL;
	for (i = 0; i < NTESTS(tests); i++)
		all[n++] = tests[i];
	for (i = 0; other_dev && i < NTESTS(other_tests); i++)
		all[n++] = other_tests[i];
	return mirror_tap_main(argc, argv, all, n, true);
}
