// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_odp_test - explicit ODP MRs (HMM mirrors of the process address
 * space) in the guest: a catalogue in the spirit of the kernel's
 * hmm-tests. Every case changes the CPU side of the memory in one way
 * (first touch, MADV_DONTNEED, munmap + MAP_FIXED, mprotect, fork,
 * files, huge pages, migration, ...) and then moves bytes with RDMA
 * WRITE, RDMA READ and SEND, with the ODP memory as the local buffer and
 * as the remote (rkey / receive) side, against an ordinary pinned MR.
 * Every byte is compared, and the device's ODP counters in sysfs
 * (odp_faults, odp_pages_faulted, ...) must move exactly as the contract
 * says.
 *
 * Side a of every transfer is on the device, side b on the same device or,
 * with -W DEV2, on DEV2 over RoCEv2 (guest_odp and guest_odp_wire); the
 * ODP memory is registered on the side that uses it.
 *
 * Usage: mirror_odp_test [-d DEVICE] [-W DEV2] [-v] [TEST-NAME-SUBSTRING...]
 * The migration cases need two NUMA nodes (scripts/mirror-vm --numa).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <infiniband/verbs.h>
#include <inttypes.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mirror_tap.h"
#include "mirror_testlib.h"

#define PG 4096UL
#define BLOCK (2UL << 20)		/* one aligned 2 MiB block */
#define BLOCK_PAGES (BLOCK / PG)
#define NPG 16				/* pages most cases move */
#define LEN (NPG * PG)
#define PLAIN_SIZE (1UL << 20)		/* the pinned MR on the other side */
#define QKEY 0x11110000u

#define PLAIN_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |       \
		      IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define ODP_ACCESS (PLAIN_ACCESS | IBV_ACCESS_ON_DEMAND)

#ifndef MPOL_MF_MOVE
#define MPOL_MF_MOVE (1 << 1)
#endif

/* ---------------------------------------------------------------------- */
/* Patterns: byte i of pattern @seed; seed 0 is all zeros. Two seeds less
 * than 251 apart differ in every byte, and no pattern byte is 0 or the
 * poison 0xa5, so zeros, poison and each generation are told apart. */

static inline char patbyte(unsigned int seed, size_t i)
{
	unsigned int v;

	if (!seed)
		return 0;
	v = 1 + (seed * 131u + (unsigned int)i * 7u +
		 (unsigned int)(i >> 8) * 13u + (unsigned int)(i >> 12) * 101u) %
		251u;
	return (char)(v == 0xa5 ? 0xfc : v);
}

static void fill(void *buf, size_t len, unsigned int seed)
{
	char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		b[i] = patbyte(seed, i);
}

/* Offset of the first byte of @buf that is not pattern @seed, or -1. */
static long diff_pat(const void *buf, size_t len, unsigned int seed)
{
	const char *b = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i] != patbyte(seed, i))
			return (long)i;
	return -1;
}

/* How many bytes of @buf are not pattern @seed. */
static size_t count_diff(const void *buf, size_t len, unsigned int seed)
{
	const char *b = buf;
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		n += b[i] != patbyte(seed, i);
	return n;
}

static const char *st(int status)
{
	return status < 0 ? "no completion" :
			    ibv_wc_status_str((enum ibv_wc_status)status);
}

/* ---------------------------------------------------------------------- */
/* The device's ODP counters (sysfs). */

enum { C_FAULTS, C_PAGES, C_INVAL, C_PAGES_INVAL, C_PREFETCH, C_RETRIES,
       C_NUM };

static const char *const cnt_names[C_NUM] = {
	"odp_faults", "odp_pages_faulted", "odp_invalidations",
	"odp_pages_invalidated", "odp_prefetches", "odp_fault_retries",
};

struct cnt {
	long long v[C_NUM];
};

static int read_counter_of(const char *dev, const char *name, long long *v)
{
	char path[256];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	ok = fscanf(f, "%lld", v) == 1;
	fclose(f);
	return ok ? 0 : -1;
}

/*
 * A counter of the device, plus the peer device's over the wire: a test's
 * ODP memory sits on one of them (the other side of every transfer is a
 * pinned MR, which counts nothing), so the sum is what that memory did.
 */
static int read_counter(const char *name, long long *v)
{
	long long w = 0;

	if (read_counter_of(dev_name, name, v) ||
	    (wire && read_counter_of(peer_name, name, &w)))
		return -1;
	*v += w;
	return 0;
}

/*
 * ib_core caches hw counters for RDMA_HW_STATS_DEFAULT_LIFESPAN (10 ms)
 * after each read: wait that out, so a snapshot shows everything done
 * before it.
 */
static int cnt_read(struct cnt *c)
{
	int i;

	usleep(30000);
	for (i = 0; i < C_NUM; i++)
		if (read_counter(cnt_names[i], &c->v[i]))
			return -1;
	return 0;
}

#define SNAP(c)                                                                \
	CHECK(cnt_read(&(c)) == 0, "cannot read the ODP counters in sysfs")

static long long dlt(const struct cnt *b, const struct cnt *a, int i)
{
	return a->v[i] - b->v[i];
}

static char why[512];

/* True when odp_faults and odp_pages_faulted grew by exactly this much. */
static bool faults_are(const struct cnt *b, const struct cnt *a,
		       long long faults, long long pages)
{
	long long f = dlt(b, a, C_FAULTS), p = dlt(b, a, C_PAGES);

	snprintf(why, sizeof(why),
		 "odp_faults +%lld (want +%lld), odp_pages_faulted +%lld (want +%lld)",
		 f, faults, p, pages);
	return f == faults && p == pages;
}

/* True when an invalidation cleared exactly @pages mirrored entries. */
static bool invalidated(const struct cnt *b, const struct cnt *a,
			long long pages)
{
	long long n = dlt(b, a, C_INVAL), p = dlt(b, a, C_PAGES_INVAL);

	snprintf(why, sizeof(why),
		 "odp_invalidations +%lld (want >= 1), odp_pages_invalidated +%lld (want +%lld)",
		 n, p, pages);
	return n >= 1 && p == pages;
}

/* ---------------------------------------------------------------------- */
/* Memory. */

/*
 * Test memory lives in its own stretch of the address space, far below
 * where mmap(NULL) puts things, and no address is used twice: a hole a
 * test makes is never the highest free gap, so a queue the provider maps
 * meanwhile (new QPs after an error) cannot land in it and be replaced
 * by the test's next MAP_FIXED.
 */
static uintptr_t next_at = 0x100000000000UL;	/* 16 TiB */

/*
 * @len bytes of fresh, never touched private anonymous memory starting
 * @off bytes after a 2 MiB boundary. @huge: MADV_HUGEPAGE, else
 * MADV_NOHUGEPAGE.
 */
static char *map_fresh(size_t len, size_t off, bool huge)
{
	char *p = (char *)next_at + off;

	next_at += (off + len + 2 * BLOCK - 1) & ~(BLOCK - 1);
	if (mmap(p, len, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
		 MAP_FIXED_NOREPLACE, -1, 0) != p)
		return NULL;
	if (madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		munmap(p, len);
		return NULL;
	}
	return p;
}

/* Maps @len bytes of @fd (@flags MAP_SHARED or MAP_PRIVATE) over @at. */
static char *map_file_at(char *at, size_t len, int fd, int flags)
{
	char *p = mmap(at, len, PROT_READ | PROT_WRITE, flags | MAP_FIXED, fd,
		       0);

	return p == MAP_FAILED ? NULL : p;
}

/* The value (kB) of @field in /proc/self/smaps for the VMA holding @addr. */
static long smaps_kb(const void *addr, const char *field)
{
	size_t flen = strlen(field);
	char line[512];
	bool in = false;
	long v = -1;
	FILE *f;

	f = fopen("/proc/self/smaps", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			in = s <= (uintptr_t)addr && (uintptr_t)addr < e;
			continue;
		}
		if (in && !strncmp(line, field, flen) && line[flen] == ':') {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

/* A "Name:   N kB" (or "name N") line of a /proc file. */
static long proc_kb(const char *file, const char *field)
{
	size_t flen = strlen(field);
	char line[256];
	long v = -1;
	FILE *f;

	f = fopen(file, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) &&
		    (line[flen] == ':' || line[flen] == ' ')) {
			v = strtol(line + flen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/*
 * The number a one-number /proc file holds, or -1. For KSM's count of this
 * process's merged pages: /proc/self/ksm_merging_pages has it on every
 * kernel since 6.0; /proc/self/ksm_stat lists it too, but not on 6.1.
 */
static long proc_num(const char *file)
{
	long v = -1;
	FILE *f;

	f = fopen(file, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%ld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static int write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

static struct ibv_mr *reg_odp(struct ibv_pd *pd, void *addr, size_t len)
{
	return ibv_reg_mr(pd, addr, len, ODP_ACCESS);
}

/* ---------------------------------------------------------------------- */
/*
 * Two QPs connected to each other: a requests, b responds and receives.
 * a is on the device, b on the same device in the same PD, or with -W on
 * the peer device over RoCEv2, in a PD there. The plain buffer is an
 * ordinary (pinned) MR, registered on each side that uses it; ODP memory
 * is registered on the side a combo puts it (odp_pd()).
 */

struct rig {
	struct ibv_context *ctx, *ctxb;
	enum ibv_qp_type type;
	bool use_srq;
	struct ibv_pd *pd, *pdb;	/* pdb == pd on the same device */
	struct ibv_cq *cq_a, *cq_b;
	struct ibv_srq *srq;
	struct ibv_qp *a, *b;
	struct ibv_ah *ah;	/* UD: to b */
	char *plain;
	struct ibv_mr *plain_mr;	/* a's */
	struct ibv_mr *plain_mr_b;	/* b's (== plain_mr on one device) */
};

/* Connects @qp (a's when @from_a, else b's) to QP @dest. */
static int qp_connect(struct ibv_qp *qp, bool from_a, uint32_t dest)
{
	struct mirror_test_qp_params prm = mirror_test_qp_defaults(qp->qp_type);
	struct ibv_ah_attr av = from_a ? peer_av() : back_av();

	prm.qkey = QKEY;
	return mirror_test_connect(qp, dest, &av, &prm);
}

static void rig_drop_qps(struct rig *r)
{
	if (r->ah)
		ibv_destroy_ah(r->ah);
	if (r->a)
		ibv_destroy_qp(r->a);
	if (r->b)
		ibv_destroy_qp(r->b);
	if (r->srq)
		ibv_destroy_srq(r->srq);
	if (r->cq_a)
		ibv_destroy_cq(r->cq_a);
	if (r->cq_b)
		ibv_destroy_cq(r->cq_b);
	r->ah = NULL;
	r->a = r->b = NULL;
	r->srq = NULL;
	r->cq_a = r->cq_b = NULL;
}

/* (Re)creates the CQs and the connected QPs: after an error completion. */
static int rig_qps(struct rig *r)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = r->type,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 4, .max_recv_sge = 4 },
	};
	struct ibv_srq_init_attr sa = { .attr = { .max_wr = 64, .max_sge = 4 } };
	struct ibv_ah_attr av = peer_av();

	rig_drop_qps(r);
	r->cq_a = ibv_create_cq(r->ctx, 256, NULL, NULL, 0);
	r->cq_b = ibv_create_cq(r->ctxb, 256, NULL, NULL, 0);
	if (!r->cq_a || !r->cq_b)
		return -1;
	if (r->use_srq) {
		r->srq = ibv_create_srq(r->pdb, &sa);
		if (!r->srq)
			return -1;
	}
	ia.send_cq = ia.recv_cq = r->cq_a;
	r->a = ibv_create_qp(r->pd, &ia);
	ia.send_cq = ia.recv_cq = r->cq_b;
	ia.srq = r->srq;
	r->b = ibv_create_qp(r->pdb, &ia);
	if (!r->a || !r->b)
		return -1;
	if (qp_connect(r->a, true, r->b->qp_num) ||
	    qp_connect(r->b, false, r->a->qp_num))
		return -1;
	if (r->type == IBV_QPT_UD) {
		r->ah = ibv_create_ah(r->pd, &av);
		if (!r->ah)
			return -1;
	}
	return 0;
}

static void rig_fini(struct rig *r)
{
	rig_drop_qps(r);
	if (r->plain_mr_b && r->plain_mr_b != r->plain_mr)
		ibv_dereg_mr(r->plain_mr_b);
	if (r->plain_mr)
		ibv_dereg_mr(r->plain_mr);
	if (r->pdb && r->pdb != r->pd)
		ibv_dealloc_pd(r->pdb);
	if (r->pd)
		ibv_dealloc_pd(r->pd);
	if (r->plain)
		munmap(r->plain, PLAIN_SIZE);
	memset(r, 0, sizeof(*r));
}

/* A rig with a on @c and b on @cb (the same device when @cb == @c). */
static int rig_init_on(struct rig *r, struct ibv_context *c,
		       struct ibv_context *cb, enum ibv_qp_type type,
		       bool use_srq)
{
	memset(r, 0, sizeof(*r));
	r->ctx = c;
	r->ctxb = cb;
	r->type = type;
	r->use_srq = use_srq;
	r->pd = ibv_alloc_pd(c);
	r->pdb = cb == c ? r->pd : ibv_alloc_pd(cb);
	r->plain = mmap(NULL, PLAIN_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->plain == MAP_FAILED) {
		r->plain = NULL;
		return -1;
	}
	/* A forked child gets none of it (the fork cases). */
	madvise(r->plain, PLAIN_SIZE, MADV_DONTFORK);
	memset(r->plain, 0x5c, PLAIN_SIZE);
	if (!r->pd || !r->pdb)
		return -1;
	r->plain_mr = ibv_reg_mr(r->pd, r->plain, PLAIN_SIZE, PLAIN_ACCESS);
	r->plain_mr_b = r->pdb == r->pd ? r->plain_mr :
		ibv_reg_mr(r->pdb, r->plain, PLAIN_SIZE, PLAIN_ACCESS);
	if (!r->plain_mr || !r->plain_mr_b)
		return -1;
	return rig_qps(r);
}

static int rig_init(struct rig *r)
{
	return rig_init_on(r, ctx, peer_ctx, IBV_QPT_RC, false);
}

/* Waits up to @ms (scaled) for one completion. */
static int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, int ms)
{
	return mirror_test_wait_wc(cq, wc, ms);
}

static void wr_init(struct rig *r, struct ibv_send_wr *wr,
		    struct ibv_sge *sge, enum ibv_wr_opcode op, uint64_t id,
		    uint64_t laddr, uint32_t len, uint32_t lkey,
		    uint64_t raddr, uint32_t rkey)
{
	sge->addr = laddr;
	sge->length = len;
	sge->lkey = lkey;
	memset(wr, 0, sizeof(*wr));
	wr->wr_id = id;
	wr->sg_list = sge;
	wr->num_sge = 1;
	wr->opcode = op;
	wr->send_flags = IBV_SEND_SIGNALED;
	if (r->type == IBV_QPT_UD) {
		wr->wr.ud.ah = r->ah;
		wr->wr.ud.remote_qpn = r->b->qp_num;
		wr->wr.ud.remote_qkey = QKEY;
	} else {
		wr->wr.rdma.remote_addr = raddr;
		wr->wr.rdma.rkey = rkey;
	}
}

static int post_wr(struct rig *r, enum ibv_wr_opcode op, uint64_t id,
		   uint64_t laddr, uint32_t len, uint32_t lkey,
		   uint64_t raddr, uint32_t rkey)
{
	struct ibv_send_wr wr, *bad;
	struct ibv_sge sge;

	wr_init(r, &wr, &sge, op, id, laddr, len, lkey, raddr, rkey);
	return ibv_post_send(r->a, &wr, &bad);
}

static int post_atomic(struct rig *r, enum ibv_wr_opcode op, uint64_t id,
		       void *result, uint32_t lkey, uint64_t raddr,
		       uint32_t rkey, uint64_t cmp_add, uint64_t swap)
{
	struct ibv_sge sge = { (uintptr_t)result, 8, lkey };
	struct ibv_send_wr wr = {
		.wr_id = id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	wr.wr.atomic.remote_addr = raddr;
	wr.wr.atomic.rkey = rkey;
	wr.wr.atomic.compare_add = cmp_add;
	wr.wr.atomic.swap = swap;
	return ibv_post_send(r->a, &wr, &bad);
}

static int post_recv_b(struct rig *r, uint64_t id, uint64_t addr,
		       uint32_t len, uint32_t lkey)
{
	struct ibv_sge sge = { addr, len, lkey };
	struct ibv_recv_wr wr = { .wr_id = id, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	if (r->srq)
		return ibv_post_srq_recv(r->srq, &wr, &bad);
	return ibv_post_recv(r->b, &wr, &bad);
}

/* ---------------------------------------------------------------------- */
/* The six ways bytes move between ODP memory and the plain MR. */

enum op { OP_WRITE, OP_READ, OP_SEND };

struct combo {
	enum op op;
	bool odp_local;	/* the ODP memory is a's local SGE; else b's side */
	const char *name;
};

static const struct combo combos[] = {
	{ OP_WRITE, true, "WRITE from ODP (local source)" },
	{ OP_WRITE, false, "WRITE into ODP (rkey target)" },
	{ OP_READ, true, "READ into ODP (local target)" },
	{ OP_READ, false, "READ from ODP (rkey source)" },
	{ OP_SEND, true, "SEND from ODP (local source)" },
	{ OP_SEND, false, "SEND into ODP (receive buffer)" },
};

#define NCOMBOS ((int)(sizeof(combos) / sizeof(combos[0])))
#define M_ALL 0x3f
#define M_INTO 0x26	/* the device writes the ODP memory */
#define M_OUT 0x19	/* the device reads it */
#define M_LOCAL 0x15	/* ODP memory in a's local SGE */
#define M_RKEY 0x0a	/* ODP memory reached by rkey */
#define M_RECV 0x20	/* ODP memory as b's receive buffer */

/* The PD the ODP memory of @c belongs in: a's for a local SGE, else b's. */
static struct ibv_pd *odp_pd(struct rig *r, const struct combo *c)
{
	return c->odp_local ? r->pd : r->pdb;
}

/*
 * For a test that uses one ODP MR @mrb (b's, over [@addr, @addr + @len))
 * from both QPs: the MR a's SGEs use. @mrb itself on one device; over the
 * wire an ODP MR of a's PD over the same memory.
 */
static struct ibv_mr *odp_for_a(struct rig *r, struct ibv_mr *mrb,
				void *addr, size_t len)
{
	if (!mrb || r->pd == r->pdb)
		return mrb;
	return reg_odp(r->pd, addr, len);
}

/* Deregisters what odp_for_a() returned (when it is not @mrb). */
static void dereg_for_a(struct ibv_mr *mra, struct ibv_mr *mrb)
{
	if (mra && mra != mrb)
		ibv_dereg_mr(mra);
}

static bool into_odp(const struct combo *c)
{
	return (c->op == OP_READ) == c->odp_local;
}

static enum ibv_wr_opcode wr_op(enum op op)
{
	return op == OP_WRITE ? IBV_WR_RDMA_WRITE :
	       op == OP_READ ? IBV_WR_RDMA_READ : IBV_WR_SEND;
}

struct xres {
	int req, recv, probe;	/* statuses, -1: no completion */
	uint32_t byte_len;
};

/*
 * A UC WRITE's completion says its packets left, not that they landed:
 * over RoCEv2 the responder may still be writing them. A SEND behind it
 * on the same QP arrives after it, so its receive says the WRITE is in.
 */
static int uc_fence(struct rig *r)
{
	char *end = r->plain + PLAIN_SIZE;
	struct ibv_wc wc;

	if (post_recv_b(r, 4, (uintptr_t)end - 4096, 64,
			r->plain_mr_b->lkey) ||
	    post_wr(r, IBV_WR_SEND, 5, (uintptr_t)end - 8192, 8,
		    r->plain_mr->lkey, 0, 0) ||
	    wait_wc(r->cq_a, &wc, 10000) || wc.status != IBV_WC_SUCCESS ||
	    wait_wc(r->cq_b, &wc, 10000) || wc.status != IBV_WC_SUCCESS) {
		snprintf(failmsg, sizeof(failmsg),
			 "UC: the SEND behind the WRITE did not arrive");
		return -1;
	}
	return 0;
}

/*
 * Runs @c once: @len bytes between @o (in @omr) and the start of the
 * plain buffer. Waits for a's completion and, for a SEND, b's. With
 * @probe a second WR (an 8-byte WRITE between plain bytes) follows in
 * the same post, to see it flushed after an error.
 */
static int xfer(struct rig *r, const struct combo *c, struct ibv_mr *omr,
		char *o, uint32_t len, bool probe, struct xres *x)
{
	uint64_t laddr = c->odp_local ? (uintptr_t)o : (uintptr_t)r->plain;
	uint32_t lkey = c->odp_local ? omr->lkey : r->plain_mr->lkey;
	uint64_t raddr = c->odp_local ? (uintptr_t)r->plain : (uintptr_t)o;
	uint32_t rkey = c->odp_local ? r->plain_mr_b->rkey : omr->rkey;
	uint32_t rlkey = c->odp_local ? r->plain_mr_b->lkey : omr->lkey;
	struct ibv_send_wr wr[2], *bad;
	struct ibv_sge sge[2];
	struct ibv_wc wc;

	x->req = x->recv = x->probe = -1;
	x->byte_len = 0;
	if (c->op == OP_SEND && post_recv_b(r, 2, raddr, len, rlkey)) {
		snprintf(failmsg, sizeof(failmsg), "post_recv: %s",
			 strerror(errno));
		return -1;
	}
	wr_init(r, &wr[0], &sge[0], wr_op(c->op), 1, laddr, len, lkey, raddr,
		rkey);
	if (probe) {
		wr_init(r, &wr[1], &sge[1], IBV_WR_RDMA_WRITE, 3,
			(uintptr_t)r->plain + PLAIN_SIZE - 8, 8,
			r->plain_mr->lkey,
			(uintptr_t)r->plain + PLAIN_SIZE - 16,
			r->plain_mr_b->rkey);
		wr[0].next = &wr[1];
	}
	if (ibv_post_send(r->a, wr, &bad)) {
		snprintf(failmsg, sizeof(failmsg), "post_send: %s",
			 strerror(errno));
		return -1;
	}
	if (wait_wc(r->cq_a, &wc, 10000)) {
		snprintf(failmsg, sizeof(failmsg),
			 "%s: no completion in 10 s", c->name);
		return -1;
	}
	x->req = wc.status;
	if (wc.wr_id != 1) {
		snprintf(failmsg, sizeof(failmsg),
			 "%s: first completion has wr_id %" PRIu64, c->name,
			 wc.wr_id);
		return -1;
	}
	if (probe && wait_wc(r->cq_a, &wc, 5000) == 0)
		x->probe = wc.status;
	if (r->type == IBV_QPT_UC && c->op == OP_WRITE &&
	    x->req == IBV_WC_SUCCESS && uc_fence(r))
		return -1;
	if (c->op == OP_SEND) {
		/* The receive completes unless the send never left a. */
		int ms = x->req == IBV_WC_SUCCESS ||
			 x->req == IBV_WC_REM_OP_ERR ? 10000 : 300;

		if (wait_wc(r->cq_b, &wc, ms) == 0) {
			x->recv = wc.status;
			x->byte_len = wc.byte_len;
		}
	}
	return 0;
}

/*
 * @c must succeed and move every byte of [@o, @o + @len): into the ODP
 * memory the pattern @seed (checked through the CPU's view of @o), out
 * of it the pattern @want (0: zeros) into the plain buffer, which is
 * poisoned first.
 */
static int move_ok(struct rig *r, const struct combo *c, struct ibv_mr *omr,
		   char *o, uint32_t len, unsigned int seed, unsigned int want)
{
	struct xres x;
	long d;

	if (into_odp(c))
		fill(r->plain, len, seed);
	else
		memset(r->plain, 0xa5, len);
	if (xfer(r, c, omr, o, len, false, &x))
		return -1;
	if (x.req != IBV_WC_SUCCESS ||
	    (c->op == OP_SEND && (x.recv != IBV_WC_SUCCESS ||
				  x.byte_len != len))) {
		snprintf(failmsg, sizeof(failmsg),
			 "%s: completion %s, receive %s (byte_len %u of %u)",
			 c->name, st(x.req),
			 c->op == OP_SEND ? st(x.recv) : "-", x.byte_len, len);
		return -1;
	}
	if (into_odp(c))
		d = diff_pat(o, len, seed);
	else
		d = diff_pat(r->plain, len, want);
	if (d >= 0) {
		snprintf(failmsg, sizeof(failmsg),
			 "%s: %zu of %u bytes differ, first at offset %ld (%s)",
			 c->name,
			 into_odp(c) ? count_diff(o, len, seed) :
				       count_diff(r->plain, len, want),
			 len, d,
			 into_odp(c) ? "the ODP memory, as the CPU sees it" :
				       want ? "the bytes read out of ODP memory" :
					      "read out of ODP memory; want zeros");
		return -1;
	}
	return 0;
}

/*
 * @c must fail: a's completion @want_req, then the probe WR flushed; for
 * a SEND b's receive completes with @want_recv (-1: it must not complete).
 * New QPs afterwards.
 */
static int move_fails(struct rig *r, const struct combo *c,
		      struct ibv_mr *omr, char *o, uint32_t len, int want_req,
		      int want_recv)
{
	struct xres x;

	if (into_odp(c))
		fill(r->plain, len, 99);
	if (xfer(r, c, omr, o, len, true, &x))
		return -1;
	if (x.req != want_req ||
	    (c->op == OP_SEND && x.recv != want_recv)) {
		snprintf(failmsg, sizeof(failmsg),
			 "%s: completion %s (want %s), receive %s (want %s)",
			 c->name, st(x.req), st(want_req),
			 c->op == OP_SEND ? st(x.recv) : "-",
			 c->op == OP_SEND ? st(want_recv) : "-");
		return -1;
	}
	if (x.probe != IBV_WC_WR_FLUSH_ERR) {
		snprintf(failmsg, sizeof(failmsg),
			 "%s: the WR after the error completed %s, not flushed",
			 c->name, st(x.probe));
		return -1;
	}
	if (rig_qps(r)) {
		snprintf(failmsg, sizeof(failmsg), "new QPs: %s",
			 strerror(errno));
		return -1;
	}
	return 0;
}

typedef int (*combo_fn)(struct rig *r, const struct combo *c);

/* Runs @fn for each combo in @mask, each with a fresh rig. */
static int for_each_combo(unsigned int mask, combo_fn fn)
{
	char msg[sizeof(failmsg)];
	struct rig r;
	int i, rc;

	for (i = 0; i < NCOMBOS; i++) {
		if (!(mask & (1u << i)))
			continue;
		if (rig_init(&r)) {
			snprintf(failmsg, sizeof(failmsg), "setup: %s",
				 strerror(errno));
			rig_fini(&r);
			return -1;
		}
		failmsg[0] = '\0';
		rc = fn(&r, &combos[i]);
		rig_fini(&r);
		if (rc) {
			snprintf(msg, sizeof(msg), "[%s] %s", combos[i].name,
				 failmsg);
			memcpy(failmsg, msg, sizeof(failmsg));
			return -1;
		}
	}
	return 0;
}

/* ---------------------------------------------------------------------- */
/* What the device reports. */

static int test_odp_caps_are_reported(void)
{
	const uint32_t rc_want = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
				 IBV_ODP_SUPPORT_WRITE | IBV_ODP_SUPPORT_READ |
				 IBV_ODP_SUPPORT_ATOMIC |
				 IBV_ODP_SUPPORT_SRQ_RECV;
	const uint32_t ud_want = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
				 IBV_ODP_SUPPORT_SRQ_RECV;
	const uint32_t uc_want = IBV_ODP_SUPPORT_SEND | IBV_ODP_SUPPORT_RECV |
				 IBV_ODP_SUPPORT_WRITE;
	struct ibv_device_attr_ex ex;
	int ret;

	memset(&ex, 0, sizeof(ex));
	ret = ibv_query_device_ex(ctx, NULL, &ex);
	CHECK(ret == 0, "ibv_query_device_ex: %s", strerror(ret));
	CHECK(ex.odp_caps.general_caps & IBV_ODP_SUPPORT, "no IBV_ODP_SUPPORT");
	CHECK(ex.odp_caps.general_caps & IBV_ODP_SUPPORT_IMPLICIT,
	      "implicit ODP not claimed");
	CHECK(ex.odp_caps.per_transport_caps.rc_odp_caps == rc_want,
	      "rc_odp_caps 0x%x, want 0x%x",
	      ex.odp_caps.per_transport_caps.rc_odp_caps, rc_want);
	CHECK(ex.odp_caps.per_transport_caps.ud_odp_caps == ud_want,
	      "ud_odp_caps 0x%x, want 0x%x",
	      ex.odp_caps.per_transport_caps.ud_odp_caps, ud_want);
	CHECK(ex.odp_caps.per_transport_caps.uc_odp_caps == uc_want,
	      "uc_odp_caps 0x%x, want 0x%x",
	      ex.odp_caps.per_transport_caps.uc_odp_caps, uc_want);
	return 0;
out:
	return -1;
}

static int test_odp_counters_are_in_sysfs(void)
{
	char name[64];
	long long v;
	int i;

	for (i = 0; i < C_NUM; i++)
		CHECK(read_counter(cnt_names[i], &v) == 0 && v >= 0,
		      "hw_counters/%s missing or unreadable", cnt_names[i]);
	for (i = 10; i <= 29; i++) {
		snprintf(name, sizeof(name), "odp_fault_ns_log2_%d", i);
		CHECK(read_counter(name, &v) == 0 && v >= 0,
		      "hw_counters/%s missing or unreadable", name);
	}
	snprintf(name, sizeof(name), "odp_fault_ns_log2_%d", 30);
	CHECK(read_counter(name, &v) != 0, "an extra bucket %s", name);
	return 0;
out:
	return -1;
}

/* A fault lands in exactly one latency bucket. */
static int test_fault_latency_histogram_counts_each_fault(void)
{
	long long before = 0, after = 0, v;
	struct cnt c0, c1;
	struct rig r = {};
	struct ibv_mr *mr = NULL;
	char name[64], *o = map_fresh(LEN, 0, false);
	int i, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	for (i = 10; i <= 29; i++) {
		snprintf(name, sizeof(name), "odp_fault_ns_log2_%d", i);
		CHECK(read_counter(name, &v) == 0, "%s", name);
		before += v;
	}
	if (move_ok(&r, &combos[1], mr, o, LEN, 3, 0))
		goto out;
	SNAP(c1);
	for (i = 10; i <= 29; i++) {
		snprintf(name, sizeof(name), "odp_fault_ns_log2_%d", i);
		CHECK(read_counter(name, &v) == 0, "%s", name);
		after += v;
	}
	CHECK(faults_are(&c0, &c1, 1, NPG), "%s", why);
	CHECK(after - before == 1, "the histogram grew by %lld for 1 fault",
	      after - before);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Registration. */

static int test_odp_reg_over_unmapped_range_succeeds(void)
{
	struct ibv_mr *mr = NULL, *pinned = NULL;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false);
	int rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	CHECK(munmap(o, LEN) == 0, "munmap");
	pinned = ibv_reg_mr(r.pd, o, LEN, PLAIN_ACCESS);
	CHECK(!pinned && errno == EFAULT,
	      "a pinned MR over nothing: %s (want EFAULT)",
	      pinned ? "registered" : strerror(errno));
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "ODP MR over an unmapped range: %s", strerror(errno));
	/* The mapping made after registration is what the device uses. */
	CHECK(mmap(o, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == o,
	      "mmap MAP_FIXED");
	if (move_ok(&r, &combos[1], mr, o, LEN, 5, 0))
		goto out;
	if (move_ok(&r, &combos[3], mr, o, LEN, 0, 5))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (pinned)
		ibv_dereg_mr(pinned);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/*
 * The whole address space registers as an implicit ODP MR (its own suite,
 * guest_implicit, moves data through it); without ON_DEMAND it is refused.
 */
static int test_implicit_odp_mr_registers_pinned_is_refused(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL, *pinned = NULL;
	int rc = -1;

	CHECK(pd, "alloc_pd");
	mr = ibv_reg_mr(pd, NULL, SIZE_MAX, ODP_ACCESS);
	CHECK(mr, "implicit ODP MR: %s", strerror(errno));
	CHECK(mr->addr == NULL && mr->length == SIZE_MAX,
	      "implicit MR reports addr %p length %zu", mr->addr, mr->length);
	pinned = ibv_reg_mr(pd, NULL, SIZE_MAX,
			    ODP_ACCESS & ~IBV_ACCESS_ON_DEMAND);
	CHECK(!pinned, "the whole address space was pinned");
	note("pinned refused: %s", strerror(errno));
	rc = 0;
out:
	if (pinned)
		ibv_dereg_mr(pinned);
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	return rc;
}

/* A pinned MR adds to VmPin; an ODP MR, even in use, never does. */
static int test_odp_mr_pins_nothing(void)
{
	const size_t sz = 1UL << 20;
	struct ibv_mr *pinned = NULL, *mr = NULL;
	long pin0, pin1, pin2, pin3;
	struct rig r = {};
	char *p = map_fresh(sz, 0, false), *o = map_fresh(sz, 0, false);
	int rc = -1;

	CHECK(p && o && rig_init(&r) == 0, "setup");
	memset(p, 1, sz);
	memset(o, 2, sz);
	pin0 = proc_kb("/proc/self/status", "VmPin");
	CHECK(pin0 >= 0, "no VmPin in /proc/self/status");
	pinned = ibv_reg_mr(r.pd, p, sz, PLAIN_ACCESS);
	CHECK(pinned, "pinned reg_mr: %s", strerror(errno));
	pin1 = proc_kb("/proc/self/status", "VmPin");
	CHECK(pin1 - pin0 == (long)(sz >> 10),
	      "a pinned 1 MiB MR moved VmPin by %ld kB (the measure is off)",
	      pin1 - pin0);
	mr = reg_odp(r.pdb, o, sz);
	CHECK(mr, "ODP reg_mr: %s", strerror(errno));
	pin2 = proc_kb("/proc/self/status", "VmPin");
	CHECK(pin2 == pin1, "ODP registration pinned %ld kB", pin2 - pin1);
	if (move_ok(&r, &combos[1], mr, o, LEN, 7, 0))
		goto out;
	pin3 = proc_kb("/proc/self/status", "VmPin");
	CHECK(pin3 == pin1, "ODP traffic pinned %ld kB", pin3 - pin1);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (pinned)
		ibv_dereg_mr(pinned);
	rig_fini(&r);
	if (p)
		munmap(p, sz);
	if (o)
		munmap(o, sz);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* First touch and the registration snapshot. */

static int first_touch_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	/* Never touched: out of it come zeros. */
	if (move_ok(r, c, mr, o, LEN, 11, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "first transfer: %s", why);
	if (move_ok(r, c, mr, o, LEN, 12, 0))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 0, 0), "second transfer: %s", why);
	note("%s: +1 fault, +%d pages; then none", c->name, NPG);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_first_touch_is_one_fault_per_block(void)
{
	return for_each_combo(M_ALL, first_touch_one);
}

static int across_boundary_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, BLOCK - LEN / 2, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	int rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	if (move_ok(r, c, mr, o, LEN, 13, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 2, NPG), "%s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_first_touch_across_2mib_boundary_is_two_faults(void)
{
	return for_each_combo(M_ALL, across_boundary_one);
}

static int touched_after_reg_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	int rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	fill(o, LEN, 21);	/* present now, but not mirrored */
	SNAP(c0);
	if (move_ok(r, c, mr, o, LEN, 22, 21))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "%s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_pages_touched_after_registration_fault_once(void)
{
	return for_each_combo(M_ALL, touched_after_reg_one);
}

static int snapshot_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int rc = -1;

	CHECK(o, "mmap");
	fill(o, LEN, 23);
	SNAP(c0);
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 0, 0), "registration: %s", why);
	if (move_ok(r, c, mr, o, LEN, 24, 23))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 0, 0), "transfer: %s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_registration_snapshot_needs_no_fault(void)
{
	return for_each_combo(M_ALL, snapshot_one);
}

/*
 * Read first (the zero page, mirrored read-only), then write: the write
 * faults again for a page of its own, and the zero page stays zero.
 */
static int test_read_mirror_is_upgraded_for_a_write(void)
{
	static const int pairs[3][2] = { { 3, 1 }, { 0, 2 }, { 4, 5 } };
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	struct rig r = {};
	char *o = NULL, *z = NULL;
	int i, rc = -1;

	for (i = 0; i < 3; i++) {
		const struct combo *out_c = &combos[pairs[i][0]];
		const struct combo *in_c = &combos[pairs[i][1]];

		/*
		 * A SEND from the MR into itself: one MR on both QPs, which
		 * over the wire are on two devices.
		 */
		if (wire && out_c->odp_local != in_c->odp_local) {
			note("over RoCEv2: %s then %s needs one MR on both devices",
			     out_c->name, in_c->name);
			continue;
		}
		CHECK(rig_init(&r) == 0, "setup");
		o = map_fresh(LEN, 0, false);
		CHECK(o, "mmap");
		mr = reg_odp(odp_pd(&r, out_c), o, LEN);
		CHECK(mr, "reg_mr: %s", strerror(errno));
		SNAP(c0);
		if (move_ok(&r, out_c, mr, o, LEN, 0, 0))
			goto out;
		SNAP(c1);
		CHECK(faults_are(&c0, &c1, 1, NPG), "%s: %s", out_c->name, why);
		if (move_ok(&r, in_c, mr, o, LEN, 31 + i, 0))
			goto out;
		SNAP(c2);
		CHECK(faults_are(&c1, &c2, 1, NPG), "%s after %s: %s",
		      in_c->name, out_c->name, why);
		z = map_fresh(LEN, 0, false);
		CHECK(z, "mmap");
		CHECK(diff_pat(z, LEN, 0) < 0,
		      "fresh memory is not zero after %s: the zero page was written",
		      in_c->name);
		munmap(z, LEN);
		z = NULL;
		ibv_dereg_mr(mr);
		mr = NULL;
		munmap(o, LEN);
		o = NULL;
		rig_fini(&r);
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	rig_fini(&r);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* The CPU side changes: the device follows. */

static int dontneed_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int rc = -1;

	CHECK(o, "mmap");
	fill(o, LEN, 41);
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	if (move_ok(r, c, mr, o, LEN, 42, 41))	/* the device uses the page */
		goto out;
	SNAP(c0);
	CHECK(madvise(o, LEN, MADV_DONTNEED) == 0, "madvise");
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "MADV_DONTNEED: %s", why);
	/* Out of it: zeros now. Into it: the new page, as the CPU sees. */
	if (move_ok(r, c, mr, o, LEN, 43, 0))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 1, NPG), "refault: %s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_dontneed_device_sees_zeros_and_refaults(void)
{
	return for_each_combo(M_ALL, dontneed_one);
}

/*
 * A memfd mapped twice: @o (registered) and an alias that keeps the old
 * pages alive. The range of @o is replaced by fresh anonymous memory
 * (after munmap, or MAP_FIXED over the live mapping); the device must
 * use the new pages and never write the old ones again.
 */
static int replace_mapping_one(struct rig *r, const struct combo *c,
			       bool unmap_first)
{
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	char *o = map_fresh(LEN, 0, false), *alias = MAP_FAILED;
	unsigned int old_seed;
	int fd, rc = -1;

	fd = memfd_create("odp-replace", 0);
	CHECK(o && fd >= 0 && ftruncate(fd, LEN) == 0, "memfd");
	CHECK(map_file_at(o, LEN, fd, MAP_SHARED) == o, "mmap memfd");
	alias = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(alias != MAP_FAILED, "alias mmap");
	fill(o, LEN, 51);
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	/* The device reaches the old pages through @o. */
	if (move_ok(r, c, mr, o, LEN, 52, 51))
		goto out;
	old_seed = into_odp(c) ? 52 : 51;
	CHECK(diff_pat(alias, LEN, old_seed) < 0, "alias does not show %s",
	      into_odp(c) ? "the device's bytes" : "the CPU's bytes");
	SNAP(c0);
	if (unmap_first)
		CHECK(munmap(o, LEN) == 0, "munmap");
	CHECK(mmap(o, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == o,
	      "mmap MAP_FIXED");
	CHECK(madvise(o, LEN, MADV_NOHUGEPAGE) == 0, "madvise");
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "%s: %s",
	      unmap_first ? "munmap" : "MAP_FIXED", why);
	if (!into_odp(c))
		fill(o, LEN, 53);	/* the new page's own bytes */
	if (move_ok(r, c, mr, o, LEN, 54, 53))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 1, NPG), "new mapping: %s", why);
	CHECK(diff_pat(alias, LEN, old_seed) < 0,
	      "the old page changed: %zu bytes (the device wrote it after it was unmapped)",
	      count_diff(alias, LEN, old_seed));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (alias != MAP_FAILED)
		munmap(alias, LEN);
	if (o)
		munmap(o, LEN);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int munmap_remap_one(struct rig *r, const struct combo *c)
{
	return replace_mapping_one(r, c, true);
}

static int map_fixed_one(struct rig *r, const struct combo *c)
{
	return replace_mapping_one(r, c, false);
}

static int test_munmap_then_map_fixed_device_uses_new_page(void)
{
	return for_each_combo(M_ALL, munmap_remap_one);
}

static int test_map_fixed_over_live_mapping_device_uses_new_page(void)
{
	return for_each_combo(M_ALL, map_fixed_one);
}

/* Read-only memory is still a source: local and by rkey. */
static int mprotect_reads_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int rc = -1;

	CHECK(o, "mmap");
	fill(o, LEN, 61);
	mr = reg_odp(odp_pd(r, c), o, LEN);	/* mirrored writable */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(mprotect(o, LEN, PROT_READ) == 0, "mprotect");
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "mprotect(PROT_READ): %s", why);
	if (move_ok(r, c, mr, o, LEN, 0, 61))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 1, NPG), "%s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_mprotect_read_only_still_serves_reads(void)
{
	return for_each_combo(M_OUT, mprotect_reads_one);
}

/*
 * Writes into memory made read-only after the device wrote it: RDMA
 * WRITE by rkey -> REM_ACCESS_ERR, RDMA READ into it -> LOC_PROT_ERR, a
 * receive into it -> LOC_PROT_ERR with REM_OP_ERR for the sender. The
 * bytes stay; after mprotect(RW) new QPs succeed.
 */
static int mprotect_writes_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	int want_req, want_recv = -1, rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	if (move_ok(r, c, mr, o, LEN, 62, 0))	/* mirrored writable */
		goto out;
	CHECK(mprotect(o, LEN, PROT_READ) == 0, "mprotect");
	if (c->op == OP_WRITE) {
		want_req = IBV_WC_REM_ACCESS_ERR;
	} else if (c->op == OP_READ) {
		want_req = IBV_WC_LOC_PROT_ERR;
	} else {
		want_req = IBV_WC_REM_OP_ERR;
		want_recv = IBV_WC_LOC_PROT_ERR;
	}
	if (move_fails(r, c, mr, o, LEN, want_req, want_recv))
		goto out;
	CHECK(diff_pat(o, LEN, 62) < 0,
	      "read-only memory changed: %zu bytes", count_diff(o, LEN, 62));
	CHECK(mprotect(o, LEN, PROT_READ | PROT_WRITE) == 0, "mprotect RW");
	if (move_ok(r, c, mr, o, LEN, 63, 0))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_mprotect_read_only_refuses_writes_until_rw(void)
{
	return for_each_combo(M_INTO, mprotect_writes_one);
}

/* ---------------------------------------------------------------------- */
/* Holes. */

/*
 * What a transfer over memory the device cannot use (no VMA, or no
 * access) completes with: a local SGE LOC_PROT_ERR; an rkey range
 * REM_ACCESS_ERR; a receive buffer LOC_PROT_ERR, its sender REM_OP_ERR.
 */
static void no_access_expect(const struct combo *c, int *req, int *recv)
{
	*recv = -1;
	if (c->odp_local) {
		*req = IBV_WC_LOC_PROT_ERR;
	} else if (c->op != OP_SEND) {
		*req = IBV_WC_REM_ACCESS_ERR;
	} else {
		*req = IBV_WC_REM_OP_ERR;
		*recv = IBV_WC_LOC_PROT_ERR;
	}
}

static int hole_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	int want_req, want_recv, rc = -1;

	CHECK(o, "mmap");
	fill(o, LEN, 71);
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	CHECK(munmap(o + LEN / 2, PG) == 0, "munmap");
	no_access_expect(c, &want_req, &want_recv);
	if (move_fails(r, c, mr, o, LEN, want_req, want_recv))
		goto out;
	/* The part before the hole works; filled again, all of it. */
	if (move_ok(r, c, mr, o, LEN / 2, 72, 71))
		goto out;
	CHECK(mmap(o + LEN / 2, PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      o + LEN / 2, "mmap MAP_FIXED");
	fill(o, LEN, 73);
	if (move_ok(r, c, mr, o, LEN, 74, 73))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_unmapped_hole_in_local_sge_is_loc_prot_err(void)
{
	return for_each_combo(M_LOCAL, hole_one);
}

static int test_unmapped_hole_in_rkey_range_is_rem_access_err(void)
{
	return for_each_combo(M_RKEY, hole_one);
}

static int test_unmapped_hole_in_receive_buffer_is_loc_prot_err(void)
{
	return for_each_combo(M_RECV, hole_one);
}

static int unmapped_recv_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	int rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	CHECK(munmap(o, LEN) == 0, "munmap");
	if (move_fails(r, c, mr, o, LEN, IBV_WC_REM_OP_ERR,
		       IBV_WC_LOC_PROT_ERR))
		goto out;
	CHECK(mmap(o, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == o,
	      "mmap MAP_FIXED");
	if (move_ok(r, c, mr, o, LEN, 75, 0))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_unmapped_receive_buffer_is_loc_prot_err_and_rem_op_err(void)
{
	return for_each_combo(M_RECV, unmapped_recv_one);
}

static int test_rdma_read_into_read_only_local_buffer_is_loc_prot_err(void)
{
	const struct combo *c = &combos[2];
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct rig r = {};
	int rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	fill(o, LEN, 76);
	mr = reg_odp(r.pd, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	CHECK(mprotect(o, LEN, PROT_READ) == 0, "mprotect");
	if (move_fails(&r, c, mr, o, LEN, IBV_WC_LOC_PROT_ERR, -1))
		goto out;
	CHECK(diff_pat(o, LEN, 76) < 0, "the read-only buffer changed");
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* fork(): copy-on-write. */

enum fork_mode { PARENT_WRITES_FIRST, CHILD_WRITES, NOBODY_WRITES };
enum mem_kind { MEM_ANON, MEM_THP, MEM_HUGETLB };

/*
 * The child: on "go" writes its own pattern (unless nobody writes), says
 * so, waits until the parent's RDMA is done and checks that its copy is
 * still its own. Exit 0 when it is. No verbs, only async-signal-safe
 * calls.
 */
static void fork_child(char *o, int rfd, int wfd, enum fork_mode m)
{
	unsigned int mine = m == NOBODY_WRITES ? 81 : 89;
	char b;

	if (read(rfd, &b, 1) != 1)
		_exit(90);
	if (m != NOBODY_WRITES)
		fill(o, LEN, 89);
	if (write(wfd, "w", 1) != 1)
		_exit(91);
	if (read(rfd, &b, 1) != 1)
		_exit(92);
	_exit(diff_pat(o, LEN, mine) < 0 ? 0 : 1);
}

/*
 * @size bytes of @kind: anonymous 4 KiB pages, a THP, or a hugetlb page
 * (2 MiB aligned). NULL on failure.
 */
static char *map_kind(enum mem_kind kind, size_t size)
{
	char *p;

	if (kind != MEM_HUGETLB)
		return map_fresh(size, 0, kind == MEM_THP);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static int fork_one(struct rig *r, const struct combo *c, enum fork_mode m,
		    enum mem_kind kind)
{
	int to_child[2] = { -1, -1 }, to_parent[2] = { -1, -1 };
	size_t size = kind == MEM_ANON ? LEN : BLOCK;
	char *o = map_kind(kind, size);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	unsigned int parent_seed;
	pid_t pid = -1;
	int status, rc = -1;
	char b;

	CHECK(o, "mmap");
	fill(o, size, 81);
	if (kind == MEM_THP)
		CHECK(smaps_kb(o, "AnonHugePages") >= 2048,
		      "no THP backs the range");
	mr = reg_odp(odp_pd(r, c), o, size);	/* mirrored writable */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	CHECK(pipe(to_child) == 0 && pipe(to_parent) == 0, "pipe");
	SNAP(c0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		close(to_child[1]);
		close(to_parent[0]);
		fork_child(o, to_child[0], to_parent[1], m);
		_exit(0);
	}
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, (long long)(size / PG)),
	      "fork (write-protect): %s", why);
	parent_seed = 81;
	if (m == PARENT_WRITES_FIRST) {
		fill(o, LEN, 82);
		parent_seed = 82;
	}
	CHECK(write(to_child[1], "g", 1) == 1, "pipe");
	CHECK(read(to_parent[0], &b, 1) == 1, "the child died");
	SNAP(c1);
	/* Out of the parent's page: its bytes, never the child's. */
	if (move_ok(r, c, mr, o, LEN, 83, parent_seed))
		goto out;
	SNAP(c2);
	if (kind == MEM_ANON)
		CHECK(faults_are(&c1, &c2, 1, NPG), "%s", why);
	CHECK(write(to_child[1], "c", 1) == 1, "pipe");
	CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
	pid = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child's copy changed (status 0x%x): the device wrote the child's page",
	      status);
	rc = 0;
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	close(to_child[0]);
	close(to_child[1]);
	close(to_parent[0]);
	close(to_parent[1]);
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, size);
	return rc;
}

static int fork_parent_first_one(struct rig *r, const struct combo *c)
{
	return fork_one(r, c, PARENT_WRITES_FIRST, MEM_ANON);
}

static int fork_child_writes_one(struct rig *r, const struct combo *c)
{
	return fork_one(r, c, CHILD_WRITES, MEM_ANON);
}

static int fork_nobody_writes_one(struct rig *r, const struct combo *c)
{
	return fork_one(r, c, NOBODY_WRITES, MEM_ANON);
}

static int fork_thp_one(struct rig *r, const struct combo *c)
{
	return fork_one(r, c, NOBODY_WRITES, MEM_THP) ||
	       fork_one(r, c, PARENT_WRITES_FIRST, MEM_THP) ? -1 : 0;
}

static int fork_hugetlb_one(struct rig *r, const struct combo *c)
{
	return fork_one(r, c, NOBODY_WRITES, MEM_HUGETLB) ||
	       fork_one(r, c, CHILD_WRITES, MEM_HUGETLB) ? -1 : 0;
}

static int test_fork_parent_and_child_write_device_follows_parent(void)
{
	return for_each_combo(M_ALL, fork_parent_first_one);
}

static int test_fork_child_writes_device_follows_parent(void)
{
	return for_each_combo(M_ALL, fork_child_writes_one);
}

static int test_fork_device_write_breaks_cow_in_parent(void)
{
	return for_each_combo(M_ALL, fork_nobody_writes_one);
}

static int thp_usable(void);
static int reserve_hugepages(long n);

static int test_fork_of_a_thp_device_follows_parent(void)
{
	CHECK(thp_usable() == 0,
	      "transparent_hugepage/enabled is [never] and cannot be changed");
	return for_each_combo(M_ALL, fork_thp_one);
out:
	return -1;
}

static int test_fork_of_a_hugetlb_page_device_follows_parent(void)
{
	CHECK(reserve_hugepages(4) == 0,
	      "cannot get 4 free huge pages through /proc/sys/vm/nr_hugepages");
	return for_each_combo(M_ALL, fork_hugetlb_one);
out:
	return -1;
}

/* ---------------------------------------------------------------------- */
/* File-backed memory. */

/* A tmpfs file in /dev/shm (unlinked at once), @len bytes. */
static int shm_file(size_t len)
{
	char path[] = "/dev/shm/mirror_odp_XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (ftruncate(fd, (off_t)len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * MAP_SHARED of @fd: what the device writes is in the file (pread, a
 * second mapping); what is written to the file (pwrite) is what the
 * device reads, also into a page it already mirrors.
 */
static int shared_file_one(struct rig *r, const struct combo *c, int fd)
{
	char *o = map_fresh(LEN, 0, false), *alias = MAP_FAILED;
	char *buf = malloc(LEN);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int rc = -1;

	CHECK(o && buf && fd >= 0, "setup");
	fill(buf, LEN, 101);
	CHECK(pwrite(fd, buf, LEN, 0) == (ssize_t)LEN, "pwrite");
	CHECK(map_file_at(o, LEN, fd, MAP_SHARED) == o, "mmap");
	alias = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(alias != MAP_FAILED, "alias mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	if (move_ok(r, c, mr, o, LEN, 102, 101))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "%s", why);
	if (into_odp(c)) {
		CHECK(pread(fd, buf, LEN, 0) == (ssize_t)LEN, "pread");
		CHECK(diff_pat(buf, LEN, 102) < 0,
		      "the file does not hold the device's bytes (read())");
		CHECK(diff_pat(alias, LEN, 102) < 0,
		      "a second mapping does not show the device's bytes");
	}
	fill(buf, LEN, 103);
	CHECK(pwrite(fd, buf, LEN, 0) == (ssize_t)LEN, "pwrite");
	if (move_ok(r, c, mr, o, LEN, 104, 103))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 0, 0), "same pages: %s", why);
	if (into_odp(c)) {
		CHECK(pread(fd, buf, LEN, 0) == (ssize_t)LEN &&
		      diff_pat(buf, LEN, 104) < 0,
		      "the file does not hold the device's second bytes");
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (alias != MAP_FAILED)
		munmap(alias, LEN);
	if (o)
		munmap(o, LEN);
	free(buf);
	return rc;
}

static int tmpfs_shared_one(struct rig *r, const struct combo *c)
{
	int fd = shm_file(LEN), rc;

	rc = shared_file_one(r, c, fd);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int memfd_shared_one(struct rig *r, const struct combo *c)
{
	int fd = memfd_create("odp-shared", 0), rc;

	if (fd >= 0 && ftruncate(fd, LEN)) {
		close(fd);
		fd = -1;
	}
	rc = shared_file_one(r, c, fd);
	if (fd >= 0)
		close(fd);
	return rc;
}

static int test_tmpfs_shared_mapping_is_the_file(void)
{
	return for_each_combo(M_ALL, tmpfs_shared_one);
}

static int test_memfd_shared_mapping_is_the_file(void)
{
	return for_each_combo(M_ALL, memfd_shared_one);
}

/*
 * MAP_PRIVATE of a tmpfs file: the device reads the file's pages until
 * someone writes; what the device writes goes into private copies, never
 * into the file.
 */
static int tmpfs_private_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false), *shared = MAP_FAILED;
	char *buf = malloc(LEN);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	int fd = shm_file(LEN), rc = -1;

	CHECK(o && buf && fd >= 0, "setup");
	fill(buf, LEN, 111);
	CHECK(pwrite(fd, buf, LEN, 0) == (ssize_t)LEN, "pwrite");
	CHECK(map_file_at(o, LEN, fd, MAP_PRIVATE) == o, "mmap");
	shared = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(shared != MAP_FAILED, "shared mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	if (move_ok(r, c, mr, o, LEN, 112, 111))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "%s", why);
	CHECK(pread(fd, buf, LEN, 0) == (ssize_t)LEN, "pread");
	CHECK(diff_pat(buf, LEN, 111) < 0,
	      "the file changed through a private mapping (%zu bytes)",
	      count_diff(buf, LEN, 111));
	CHECK(diff_pat(shared, LEN, 111) < 0,
	      "a shared mapping shows a private mapping's bytes");
	if (into_odp(c)) {
		/* Private copies now: the file's new bytes stay out. */
		fill(buf, LEN, 113);
		CHECK(pwrite(fd, buf, LEN, 0) == (ssize_t)LEN, "pwrite");
		CHECK(diff_pat(o, LEN, 112) < 0,
		      "the private copy changed with the file");
	} else {
		/* Still the file's pages: the device sees what the CPU sees. */
		fill(o, LEN, 114);	/* CPU write: private copies */
		if (move_ok(r, c, mr, o, LEN, 0, 114))
			goto out;
		CHECK(pread(fd, buf, LEN, 0) == (ssize_t)LEN &&
		      diff_pat(buf, LEN, 111) < 0,
		      "the file changed through a private mapping");
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (shared != MAP_FAILED)
		munmap(shared, LEN);
	if (o)
		munmap(o, LEN);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static int test_tmpfs_private_mapping_never_writes_the_file(void)
{
	return for_each_combo(M_ALL, tmpfs_private_one);
}

/* ---------------------------------------------------------------------- */
/* Huge pages. */

/* THP for MADV_HUGEPAGE regions: "madvise" or "always" (root may set it). */
static int thp_usable(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (strstr(buf, "[never]") &&
	    write_file("/sys/kernel/mm/transparent_hugepage/enabled",
		       "madvise"))
		return -1;
	return 0;
}

/*
 * One 2 MiB huge page (THP or hugetlb) under a 2 MiB ODP MR: a 64 KiB
 * transfer is one fault that mirrors all 512 pages, and a transfer
 * elsewhere in the block then needs none.
 */
static int huge_one(struct rig *r, const struct combo *c, char *o,
		    bool hugetlb)
{
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	long kb;
	int rc = -1;

	CHECK(o, "mmap of the huge page");
	mr = reg_odp(odp_pd(r, c), o, BLOCK);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	if (!into_odp(c))
		fill(o + PG, LEN, 121);	/* the CPU's fault makes the page */
	SNAP(c0);
	if (move_ok(r, c, mr, o + PG, LEN, 122, 121))
		goto out;
	SNAP(c1);
	if (hugetlb) {
		kb = smaps_kb(o, "Private_Hugetlb");
		CHECK(kb >= 2048, "no hugetlb page backs the range (Private_Hugetlb %ld kB)",
		      kb);
	} else {
		kb = smaps_kb(o, "AnonHugePages");
		CHECK(kb >= 2048, "no THP backs the range (AnonHugePages %ld kB): THP unavailable in the guest?",
		      kb);
	}
	CHECK(faults_are(&c0, &c1, 1, BLOCK_PAGES), "%s", why);
	if (!into_odp(c))
		fill(o + BLOCK / 2, LEN, 123);	/* same page: no new fault */
	if (move_ok(r, c, mr, o + BLOCK / 2, LEN, 124, 123))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 0, 0), "elsewhere in the block: %s", why);
	note("%s: %s %ld kB, +1 fault, +512 pages", c->name,
	     hugetlb ? "Private_Hugetlb" : "AnonHugePages", kb);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	return rc;
}

static int thp_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(BLOCK, 0, true);
	int rc;

	rc = huge_one(r, c, o, false);
	if (o)
		munmap(o, BLOCK);
	return rc;
}

static int test_thp_is_one_fault_of_512_pages(void)
{
	CHECK(thp_usable() == 0,
	      "transparent_hugepage/enabled is [never] and cannot be changed");
	return for_each_combo(M_ALL, thp_one);
out:
	return -1;
}

static int hugetlb_one(struct rig *r, const struct combo *c)
{
	char *o = mmap(NULL, BLOCK, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
	int rc;

	if (o == MAP_FAILED)
		o = NULL;
	rc = huge_one(r, c, o, true);
	if (o)
		munmap(o, BLOCK);
	return rc;
}

/* At least @n free 2 MiB huge pages (as root in the guest). */
static int reserve_hugepages(long n)
{
	long total = proc_kb("/proc/meminfo", "HugePages_Total");
	long free_ = proc_kb("/proc/meminfo", "HugePages_Free");
	char s[32];

	if (total < 0 || free_ < 0)
		return -1;
	if (free_ >= n)
		return 0;
	snprintf(s, sizeof(s), "%ld", total + n - free_);
	if (write_file("/proc/sys/vm/nr_hugepages", s))
		return -1;
	return proc_kb("/proc/meminfo", "HugePages_Free") >= n ? 0 : -1;
}

static int test_hugetlb_2mib_page_is_one_fault_of_512_pages(void)
{
	long sz = proc_kb("/proc/meminfo", "Hugepagesize");

	CHECK(sz == 2048, "default huge page size %ld kB, want 2048", sz);
	CHECK(reserve_hugepages(4) == 0,
	      "cannot get 4 free huge pages through /proc/sys/vm/nr_hugepages");
	return for_each_combo(M_ALL, hugetlb_one);
out:
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Page migration between NUMA nodes. */

static long move_pages_(int count, void **pages, const int *nodes,
			int *status)
{
	return syscall(SYS_move_pages, 0, (unsigned long)count, pages, nodes,
		       status, MPOL_MF_MOVE);
}

/* Moves each page of @o (NPG pages) to the node it is not on now. */
static int migrate_all(char *o, int *now)
{
	void *pages[NPG];
	int nodes[NPG], status[NPG], i, tries;

	for (i = 0; i < NPG; i++)
		pages[i] = o + i * PG;
	if (move_pages_(NPG, pages, NULL, status))
		return -1;
	for (i = 0; i < NPG; i++) {
		if (status[i] < 0) {
			snprintf(why, sizeof(why), "page %d: node status %d",
				 i, status[i]);
			return -1;
		}
		nodes[i] = !status[i];
	}
	/* A page still in a per-CPU LRU batch can be busy for a moment. */
	for (tries = 0; tries < 5; tries++) {
		if (move_pages_(NPG, pages, nodes, status) < 0) {
			snprintf(why, sizeof(why), "move_pages: %s",
				 strerror(errno));
			return -1;
		}
		for (i = 0; i < NPG; i++)
			if (status[i] != nodes[i])
				break;
		if (i == NPG)
			break;
		usleep(10000);
	}
	if (i < NPG) {
		snprintf(why, sizeof(why),
			 "page %d not moved to node %d (status %d): pinned?", i,
			 nodes[i], status[i]);
		return -1;
	}
	memcpy(now, nodes, sizeof(nodes));
	return 0;
}

static int pages_on(char *o, const int *want)
{
	void *pages[NPG];
	int status[NPG], i;

	for (i = 0; i < NPG; i++)
		pages[i] = o + i * PG;
	if (move_pages_(NPG, pages, NULL, status))
		return -1;
	for (i = 0; i < NPG; i++)
		if (status[i] != want[i])
			return -1;
	return 0;
}

static int migrate_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int nodes[NPG], round, rc = -1;
	unsigned int have = 131;

	CHECK(o, "mmap");
	fill(o, LEN, have);
	mr = reg_odp(odp_pd(r, c), o, LEN);	/* mirrored */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	for (round = 0; round < 2; round++) {
		SNAP(c0);
		CHECK(migrate_all(o, nodes) == 0, "round %d: %s", round, why);
		SNAP(c1);
		CHECK(invalidated(&c0, &c1, NPG), "round %d, migration: %s",
		      round, why);
		if (move_ok(r, c, mr, o, LEN, 132 + round, have))
			goto out;
		if (into_odp(c))
			have = 132 + round;
		SNAP(c2);
		CHECK(faults_are(&c1, &c2, 1, NPG), "round %d, refault: %s",
		      round, why);
		CHECK(pages_on(o, nodes) == 0,
		      "round %d: the pages left the node they were moved to",
		      round);
		CHECK(diff_pat(o, LEN, have) < 0, "round %d: the CPU sees other bytes",
		      round);
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_migrated_pages_are_followed(void)
{
	CHECK(access("/sys/devices/system/node/node1", F_OK) == 0,
	      "one NUMA node only: run under scripts/mirror-vm --numa");
	return for_each_combo(M_ALL, migrate_one);
out:
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Lifetime: process exit, dereg during prefetch. */

/*
 * A child with its own context: ODP MRs with traffic in flight, then
 * gone without any cleanup. Mode 0: _exit; 1: munmap half the memory,
 * then _exit; 2: an asynchronous prefetch of 16 MiB, then _exit; 3:
 * steady traffic until SIGKILL; 4: execve() of /bin/true (a new mm).
 */
static void exit_child(int mode, int wfd)
{
	const size_t osz = 256 * 1024, big = 16UL << 20;
	struct ibv_context *c, *cb;
	struct ibv_mr *mr, *bmr;
	struct ibv_sge sge;
	struct ibv_wc wc[16];
	struct rig r;
	char *o, *bigp;
	int i, n;

	c = mirror_test_open(dev_name);
	cb = wire ? mirror_test_open(peer_name) : c;
	if (!c || !cb || rig_init_on(&r, c, cb, IBV_QPT_RC, false))
		_exit(3);
	o = map_fresh(osz, 0, false);
	bigp = map_fresh(big, 0, false);
	if (!o || !bigp)
		_exit(4);
	mr = reg_odp(r.pdb, o, osz);
	bmr = reg_odp(r.pdb, bigp, big);
	if (!mr || !bmr)
		_exit(5);
	for (i = 0; i < 16; i++)
		if (post_recv_b(&r, 100 + i, (uintptr_t)o + i * 8 * PG,
				8 * PG, mr->lkey))
			_exit(6);
	for (i = 0; i < 48; i++) {
		uint64_t at = (uintptr_t)o + (i % 16) * 8 * PG;

		if (i % 3 == 0)
			n = post_wr(&r, IBV_WR_RDMA_WRITE, i,
				    (uintptr_t)r.plain, 8 * PG,
				    r.plain_mr->lkey, at, mr->rkey);
		else if (i % 3 == 1)
			n = post_wr(&r, IBV_WR_RDMA_READ, i,
				    (uintptr_t)r.plain + 8 * PG, 8 * PG,
				    r.plain_mr->lkey, at, mr->rkey);
		else
			n = post_wr(&r, IBV_WR_SEND, i, (uintptr_t)r.plain,
				    8 * PG, r.plain_mr->lkey, 0, 0);
		if (n)
			_exit(7);
	}
	if (mode == 1)
		munmap(o + osz / 2, osz / 2);
	if (mode == 2) {
		sge.addr = (uintptr_t)bigp;
		sge.length = (uint32_t)big;
		sge.lkey = bmr->lkey;
		if (ibv_advise_mr(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0,
				  &sge, 1))
			_exit(8);
	}
	if (mode == 4) {
		char *const argv[] = { "true", NULL };

		execv("/bin/true", argv);
		_exit(10);
	}
	if (mode != 3)
		_exit(0);
	if (write(wfd, "r", 1) != 1)
		_exit(9);
	for (i = 0;; i++) {
		n = ibv_poll_cq(r.cq_a, 16, wc);
		while (n-- > 0)
			post_wr(&r, i & 1 ? IBV_WR_RDMA_WRITE :
					    IBV_WR_RDMA_READ, i,
				(uintptr_t)r.plain, 8 * PG, r.plain_mr->lkey,
				(uintptr_t)o + (i % 32) * 8 * PG, mr->rkey);
	}
}

static int test_process_exit_with_live_odp_mrs_and_traffic(void)
{
	struct rig r = {};
	int round, status, p[2] = { -1, -1 }, rc = -1;
	char *o = NULL;
	struct ibv_mr *mr = NULL;
	pid_t pid;
	char b;

	for (round = 0; round < 10; round++) {
		int mode = round % 5;

		CHECK(pipe(p) == 0, "pipe");
		fflush(stdout);
		pid = fork();
		CHECK(pid >= 0, "fork");
		if (pid == 0) {
			close(p[0]);
			exit_child(mode, p[1]);
			_exit(0);
		}
		close(p[1]);
		p[1] = -1;
		if (mode == 3) {
			CHECK(read(p[0], &b, 1) == 1,
			      "round %d: the child failed to start traffic",
			      round);
			usleep(50000);
			kill(pid, SIGKILL);
		}
		CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
		close(p[0]);
		p[0] = -1;
		if (mode == 3)
			CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
			      "round %d: status 0x%x", round, status);
		else
			CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			      "round %d (mode %d): the child failed at step %d",
			      round, mode,
			      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	}
	/* The device still works for everybody else. */
	CHECK(rig_init(&r) == 0, "setup after the children");
	o = map_fresh(LEN, 0, false);
	CHECK(o, "mmap");
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	if (move_ok(&r, &combos[1], mr, o, LEN, 141, 0) ||
	    move_ok(&r, &combos[3], mr, o, LEN, 0, 141))
		goto out;
	note("10 children gone with live ODP MRs (exit, unmap+exit, prefetch+exit, SIGKILL, exec)");
	rc = 0;
out:
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	rig_fini(&r);
	return rc;
}

static int test_dereg_during_async_prefetch_is_safe(void)
{
	const size_t big = 16UL << 20;
	const int rounds = 24;
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = NULL;
	int i, ret, rc = -1;

	CHECK(rig_init(&r) == 0, "setup");
	SNAP(c0);
	for (i = 0; i < rounds; i++) {
		struct ibv_sge sge;

		o = map_fresh(big, 0, false);
		CHECK(o, "mmap");
		mr = reg_odp(r.pdb, o, big);
		CHECK(mr, "reg_mr: %s", strerror(errno));
		sge.addr = (uintptr_t)o;
		sge.length = (uint32_t)big;
		sge.lkey = mr->lkey;
		ret = ibv_advise_mr(r.pdb, i & 1 ? IBV_ADVISE_MR_ADVICE_PREFETCH :
					    IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				    0, &sge, 1);
		CHECK(ret == 0, "round %d: async advise: %s", i, strerror(ret));
		/* Every third round the memory goes first. */
		if (i % 3 == 2)
			CHECK(munmap(o, big) == 0, "munmap");
		CHECK(ibv_dereg_mr(mr) == 0, "round %d: dereg during prefetch",
		      i);
		mr = NULL;
		if (i % 3 != 2)
			munmap(o, big);
		o = NULL;
	}
	SNAP(c1);
	CHECK(dlt(&c0, &c1, C_PREFETCH) == rounds,
	      "odp_prefetches +%lld, want +%d", dlt(&c0, &c1, C_PREFETCH),
	      rounds);
	note("%d x 16 MiB prefetches cut short: %lld of %d pages faulted",
	     rounds, dlt(&c0, &c1, C_PAGES), rounds * 4096);
	/* And the device still moves bytes. */
	o = map_fresh(LEN, 0, false);
	CHECK(o, "mmap");
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	if (move_ok(&r, &combos[1], mr, o, LEN, 142, 0))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	rig_fini(&r);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* More ways the CPU side changes. */

/*
 * mremap() moves the very pages elsewhere: the MR's range is empty, the
 * moved pages must never see the device again.
 */
static int mremap_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false), *n = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	int want_req, want_recv, rc = -1;

	CHECK(o && n, "mmap");
	fill(o, LEN, 181);
	mr = reg_odp(odp_pd(r, c), o, LEN);	/* mirrored writable */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(mremap(o, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, n) == n,
	      "mremap: %s", strerror(errno));
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "mremap: %s", why);
	no_access_expect(c, &want_req, &want_recv);
	if (move_fails(r, c, mr, o, LEN, want_req, want_recv))
		goto out;
	CHECK(diff_pat(n, LEN, 181) < 0,
	      "the moved pages changed: %zu bytes", count_diff(n, LEN, 181));
	CHECK(mmap(o, LEN, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == o,
	      "mmap MAP_FIXED");
	if (!into_odp(c))
		fill(o, LEN, 182);
	if (move_ok(r, c, mr, o, LEN, 183, 182))
		goto out;
	CHECK(diff_pat(n, LEN, 181) < 0,
	      "the moved pages changed: %zu bytes", count_diff(n, LEN, 181));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	if (n)
		munmap(n, LEN);
	return rc;
}

static int test_mremap_away_device_never_touches_moved_pages(void)
{
	return for_each_combo(M_ALL, mremap_one);
}

/* PROT_NONE: neither reads nor writes, until it is readable again. */
static int prot_none_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	int want_req, want_recv, rc = -1;

	CHECK(o, "mmap");
	fill(o, LEN, 211);
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(mprotect(o, LEN, PROT_NONE) == 0, "mprotect");
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "mprotect(PROT_NONE): %s", why);
	no_access_expect(c, &want_req, &want_recv);
	if (move_fails(r, c, mr, o, LEN, want_req, want_recv))
		goto out;
	CHECK(mprotect(o, LEN, PROT_READ | PROT_WRITE) == 0, "mprotect RW");
	CHECK(diff_pat(o, LEN, 211) < 0, "PROT_NONE memory changed");
	if (move_ok(r, c, mr, o, LEN, 212, 211))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_mprotect_none_refuses_reads_and_writes(void)
{
	return for_each_combo(M_ALL, prot_none_one);
}

/* KSM on, fast; returns the old "run" value, or -1. */
static int ksm_start(void)
{
	char buf[16] = "";
	FILE *f = fopen("/sys/kernel/mm/ksm/run", "r");

	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (write_file("/sys/kernel/mm/ksm/sleep_millisecs", "10") ||
	    write_file("/sys/kernel/mm/ksm/pages_to_scan", "1000") ||
	    write_file("/sys/kernel/mm/ksm/run", "1"))
		return -1;
	return atoi(buf);
}

/*
 * Pages KSM merged are write-protected and shared with another range:
 * a device write must break the sharing like a CPU write, never write
 * the shared page.
 */
static int ksm_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false), *twin = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	long merged = 0;
	int i, rc = -1;

	CHECK(o && twin, "mmap");
	fill(o, LEN, 191);
	fill(twin, LEN, 191);
	mr = reg_odp(odp_pd(r, c), o, LEN);	/* mirrored writable */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(madvise(o, LEN, MADV_MERGEABLE) == 0 &&
	      madvise(twin, LEN, MADV_MERGEABLE) == 0, "MADV_MERGEABLE: %s",
	      strerror(errno));
	for (i = 0; i < 300; i++) {
		merged = proc_num("/proc/self/ksm_merging_pages");
		if (merged >= 2 * NPG)
			break;
		usleep(50000);
	}
	CHECK(merged >= 2 * NPG, "KSM merged %ld of %d pages in 15 s", merged,
	      2 * NPG);
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "KSM merge: %s", why);
	if (move_ok(r, c, mr, o, LEN, 192, 191))
		goto out;
	CHECK(diff_pat(twin, LEN, 191) < 0,
	      "the page KSM shared changed: %zu bytes of its twin",
	      count_diff(twin, LEN, 191));
	rc = 0;
out:
	if (o)
		madvise(o, LEN, MADV_UNMERGEABLE);
	if (twin)
		madvise(twin, LEN, MADV_UNMERGEABLE);
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	if (twin)
		munmap(twin, LEN);
	return rc;
}

static int test_ksm_merged_pages_are_unshared_by_device_writes(void)
{
	int old = ksm_start(), rc;
	char s[16];

	CHECK(old >= 0, "cannot start KSM through /sys/kernel/mm/ksm");
	rc = for_each_combo(M_ALL, ksm_one);
	snprintf(s, sizeof(s), "%d", old);
	write_file("/sys/kernel/mm/ksm/run", s);
	return rc;
out:
	return -1;
}

/*
 * A THP the device mirrors whole, then cut: MADV_DONTNEED of 64 KiB in
 * it and munmap of one page. The device sees zeros in the first piece,
 * an error over the hole, and the untouched parts as they are.
 */
static int thp_cut_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(BLOCK, 0, true);
	char *w1, *w2, *w3;
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	int want_req, want_recv, rc = -1;
	long kb;

	CHECK(o, "mmap");
	w1 = o + 256 * 1024;
	w2 = o + 512 * 1024;
	w3 = o + 1024 * 1024;
	memset(o, 1, BLOCK);
	fill(w1, LEN, 201);
	fill(w2, LEN, 202);
	fill(w3, LEN, 203);
	kb = smaps_kb(o, "AnonHugePages");
	CHECK(kb >= 2048, "no THP backs the range (AnonHugePages %ld kB)", kb);
	mr = reg_odp(odp_pd(r, c), o, BLOCK);	/* the whole block, mirrored */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(madvise(w1, LEN, MADV_DONTNEED) == 0, "madvise");
	SNAP(c1);
	CHECK(dlt(&c0, &c1, C_INVAL) >= 1 &&
	      dlt(&c0, &c1, C_PAGES_INVAL) >= NPG,
	      "DONTNEED in a THP: odp_invalidations +%lld, odp_pages_invalidated +%lld",
	      dlt(&c0, &c1, C_INVAL), dlt(&c0, &c1, C_PAGES_INVAL));
	if (move_ok(r, c, mr, w1, LEN, 204, 0))
		goto out;
	CHECK(munmap(w2 + LEN / 2, PG) == 0, "munmap");
	no_access_expect(c, &want_req, &want_recv);
	if (move_fails(r, c, mr, w2, LEN, want_req, want_recv))
		goto out;
	if (move_ok(r, c, mr, w2, LEN / 2, 205, 202))
		goto out;
	if (move_ok(r, c, mr, w3, LEN, 206, 203))
		goto out;
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, BLOCK);
	return rc;
}

static int test_thp_cut_by_dontneed_and_munmap_device_follows(void)
{
	CHECK(thp_usable() == 0,
	      "transparent_hugepage/enabled is [never] and cannot be changed");
	return for_each_combo(M_ALL, thp_cut_one);
out:
	return -1;
}

/* ---------------------------------------------------------------------- */
/* MR shapes. */

/* Posts one WR on a and returns its status (-1: none in 10 s). */
static int one_wr(struct rig *r, enum ibv_wr_opcode op, uint64_t laddr,
		  uint32_t len, uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_wc wc;

	if (post_wr(r, op, 1, laddr, len, lkey, raddr, rkey) ||
	    wait_wc(r->cq_a, &wc, 10000))
		return -1;
	return wc.status;
}

/*
 * An ODP MR that starts and ends inside pages, with an iova of its own
 * (same offset in the page, as ib_uverbs requires): addresses are in
 * iova space, the first and last bytes work, one past either end does
 * not.
 */
static int test_odp_mr_with_iova_and_unaligned_bounds(void)
{
	const uint64_t iova = 0x7000000 + 100;
	const uint32_t mlen = LEN - 200;
	struct ibv_mr *mr = NULL, *mra = NULL;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false), *m;
	int s, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	m = o + 100;
	mr = ibv_reg_mr_iova(r.pdb, m, mlen, iova, ODP_ACCESS);
	CHECK(mr, "reg_mr_iova: %s", strerror(errno));
	/* For a's local SGEs: the same MR, or one like it on a's device. */
	mra = r.pd == r.pdb ? mr :
	      ibv_reg_mr_iova(r.pd, m, mlen, iova, ODP_ACCESS);
	CHECK(mra, "reg_mr_iova for a: %s", strerror(errno));
	fill(r.plain, 8000, 231);
	s = one_wr(&r, IBV_WR_RDMA_WRITE, (uintptr_t)r.plain, 8000,
		   r.plain_mr->lkey, iova, mr->rkey);
	CHECK(s == IBV_WC_SUCCESS, "write at iova: %s", st(s));
	CHECK(diff_pat(m, 8000, 231) < 0, "the bytes are not at addr");
	CHECK(o[99] == 0, "a byte before the MR was written");
	r.plain[0] = 0x42;
	s = one_wr(&r, IBV_WR_RDMA_WRITE, (uintptr_t)r.plain, 1,
		   r.plain_mr->lkey, iova + mlen - 1, mr->rkey);
	CHECK(s == IBV_WC_SUCCESS && m[mlen - 1] == 0x42,
	      "write of the last byte: %s", st(s));
	fill(m + 5000, 3000, 232);
	s = one_wr(&r, IBV_WR_RDMA_READ, (uintptr_t)r.plain, 3000,
		   r.plain_mr->lkey, iova + 5000, mr->rkey);
	CHECK(s == IBV_WC_SUCCESS && diff_pat(r.plain, 3000, 232) < 0,
	      "read at iova + 5000: %s", st(s));
	fill(m + 300, 4000, 233);
	s = one_wr(&r, IBV_WR_RDMA_WRITE, iova + 300, 4000, mra->lkey,
		   (uintptr_t)r.plain + 8192, r.plain_mr_b->rkey);
	CHECK(s == IBV_WC_SUCCESS && diff_pat(r.plain + 8192, 4000, 233) < 0,
	      "local SGE at iova + 300: %s", st(s));
	s = one_wr(&r, IBV_WR_RDMA_WRITE, (uintptr_t)r.plain, 2,
		   r.plain_mr->lkey, iova + mlen - 1, mr->rkey);
	CHECK(s == IBV_WC_REM_ACCESS_ERR, "write past the end: %s", st(s));
	CHECK(rig_qps(&r) == 0, "new QPs");
	s = one_wr(&r, IBV_WR_RDMA_READ, (uintptr_t)r.plain, 8,
		   r.plain_mr->lkey, iova - 1, mr->rkey);
	CHECK(s == IBV_WC_REM_ACCESS_ERR, "read before the start: %s", st(s));
	CHECK(rig_qps(&r) == 0, "new QPs");
	s = one_wr(&r, IBV_WR_RDMA_WRITE, iova - 1, 8, mra->lkey,
		   (uintptr_t)r.plain, r.plain_mr_b->rkey);
	CHECK(s == IBV_WC_LOC_PROT_ERR, "local SGE before the start: %s",
	      st(s));
	rc = 0;
out:
	dereg_for_a(mra, mr);
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* Two ODP MRs over the same pages: both follow every change. */
static int test_two_odp_mrs_over_the_same_pages_both_follow(void)
{
	struct ibv_mr *m1 = NULL, *m2 = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false);
	int s, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	fill(o, LEN, 221);
	m1 = reg_odp(r.pdb, o, LEN);
	m2 = reg_odp(r.pdb, o, LEN);
	CHECK(m1 && m2, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(madvise(o, LEN, MADV_DONTNEED) == 0, "madvise");
	SNAP(c1);
	CHECK(dlt(&c0, &c1, C_INVAL) >= 2 &&
	      dlt(&c0, &c1, C_PAGES_INVAL) == 2 * NPG,
	      "odp_invalidations +%lld (want >= 2), odp_pages_invalidated +%lld (want +%d)",
	      dlt(&c0, &c1, C_INVAL), dlt(&c0, &c1, C_PAGES_INVAL), 2 * NPG);
	if (move_ok(&r, &combos[3], m2, o, LEN, 0, 0) ||	/* zeros */
	    move_ok(&r, &combos[1], m1, o, LEN, 222, 0) ||
	    move_ok(&r, &combos[3], m2, o, LEN, 0, 222))
		goto out;
	CHECK(mprotect(o, LEN, PROT_READ) == 0, "mprotect");
	s = one_wr(&r, IBV_WR_RDMA_WRITE, (uintptr_t)r.plain, LEN,
		   r.plain_mr->lkey, (uintptr_t)o, m2->rkey);
	CHECK(s == IBV_WC_REM_ACCESS_ERR, "write through the second MR: %s",
	      st(s));
	CHECK(diff_pat(o, LEN, 222) < 0, "read-only memory changed");
	CHECK(mprotect(o, LEN, PROT_READ | PROT_WRITE) == 0, "mprotect");
	CHECK(rig_qps(&r) == 0, "new QPs");
	CHECK(ibv_dereg_mr(m1) == 0, "dereg");
	m1 = NULL;
	if (move_ok(&r, &combos[1], m2, o, LEN, 223, 0))
		goto out;
	rc = 0;
out:
	if (m1)
		ibv_dereg_mr(m1);
	if (m2)
		ibv_dereg_mr(m2);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* ODP's point: an MR far larger than RAM, used in a few places. */
static int test_odp_mr_larger_than_ram_faults_only_what_is_used(void)
{
	const size_t big = 8UL << 30;
	const size_t at[3] = { 0, 4UL << 30, (8UL << 30) - LEN };
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(big, 0, false);
	int i, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup: %s", strerror(errno));
	CHECK(dev_attr.max_mr_size >= big, "max_mr_size %" PRIu64,
	      (uint64_t)dev_attr.max_mr_size);
	mr = reg_odp(r.pdb, o, big);
	CHECK(mr, "8 GiB ODP MR in a 2 GiB guest: %s", strerror(errno));
	for (i = 0; i < 3; i++) {
		SNAP(c0);
		if (move_ok(&r, &combos[1], mr, o + at[i], LEN, 241 + i, 0) ||
		    move_ok(&r, &combos[3], mr, o + at[i], LEN, 0, 241 + i))
			goto out;
		SNAP(c1);
		CHECK(faults_are(&c0, &c1, 1, NPG), "at %zu MiB: %s",
		      at[i] >> 20, why);
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, big);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Reclaim and file changes. */

/*
 * Keeps the calling thread on the CPU it runs on (the old affinity into
 * @was): 0, or -1. Pages a CPU faults in or frees lazily wait in that
 * CPU's LRU batches, and MADV_PAGEOUT drains only its own CPU's batches
 * before it looks for them on the LRU: a migration in between leaves them
 * unseen and nothing is reclaimed. Stay put from the first touch to the
 * MADV_PAGEOUT.
 */
static int stay_on_this_cpu(cpu_set_t *was)
{
	cpu_set_t here;

	CPU_ZERO(&here);
	CPU_SET(sched_getcpu(), &here);
	if (sched_getaffinity(0, sizeof(*was), was))
		return -1;
	return sched_setaffinity(0, sizeof(here), &here) ? -1 : 0;
}

/*
 * A page freed lazily (MADV_FREE) and then written by the device only:
 * the device's write must make it dirty, so that reclaim keeps it. A
 * page nobody wrote after MADV_FREE is the control: reclaim drops it.
 */
static int madv_free_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false), *ctl = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	cpu_set_t was;
	int rc = -1, pinned;

	/* From MADV_FREE (a lazyfree batch) to MADV_PAGEOUT. */
	pinned = !stay_on_this_cpu(&was);
	CHECK(pinned, "pin to one CPU: %s", strerror(errno));
	CHECK(o && ctl, "mmap");
	fill(o, LEN, 261);
	fill(ctl, LEN, 261);
	mr = reg_odp(odp_pd(r, c), o, LEN);	/* mirrored writable */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(madvise(o, LEN, MADV_FREE) == 0 && madvise(ctl, LEN, MADV_FREE) == 0,
	      "MADV_FREE: %s", strerror(errno));
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "MADV_FREE: %s", why);
	if (move_ok(r, c, mr, o, LEN, 262, 0))
		goto out;
	CHECK(madvise(o, LEN, MADV_PAGEOUT) == 0 &&
	      madvise(ctl, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s",
	      strerror(errno));
	CHECK(diff_pat(ctl, LEN, 0) < 0,
	      "control: reclaim kept a clean MADV_FREE page (the test proves nothing)");
	CHECK(diff_pat(o, LEN, 262) < 0,
	      "the device's write was lost: %zu bytes (reclaim dropped a page only the device wrote)",
	      count_diff(o, LEN, 262));
	rc = 0;
out:
	if (pinned)
		sched_setaffinity(0, sizeof(was), &was);
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	if (ctl)
		munmap(ctl, LEN);
	return rc;
}

static int test_madv_free_page_written_by_device_survives_reclaim(void)
{
	return for_each_combo(M_INTO, madv_free_one);
}

/* zram swap in the guest (root), once. */
static int swap_on(void)
{
	char line[256];
	FILE *f = fopen("/proc/swaps", "r");
	bool on = false;

	if (f) {
		while (fgets(line, sizeof(line), f))
			on |= strstr(line, "/dev/zram0") != NULL;
		fclose(f);
	}
	if (on)
		return 0;
	return system("modprobe zram num_devices=1 && "
		      "echo 128M > /sys/block/zram0/disksize && "
		      "mkswap /dev/zram0 >/dev/null && swapon /dev/zram0") ? -1 : 0;
}

/* ODP pages are not pinned: they swap out, and come back on a fault. */
static int swap_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	cpu_set_t was;
	int rc = -1, pinned;
	long kb;

	/* From the first touch (an lru_add batch) to MADV_PAGEOUT. */
	pinned = !stay_on_this_cpu(&was);
	CHECK(pinned, "pin to one CPU: %s", strerror(errno));
	CHECK(o, "mmap");
	fill(o, LEN, 271);
	mr = reg_odp(odp_pd(r, c), o, LEN);	/* mirrored */
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	CHECK(madvise(o, LEN, MADV_PAGEOUT) == 0, "MADV_PAGEOUT: %s",
	      strerror(errno));
	sched_setaffinity(0, sizeof(was), &was);
	pinned = 0;
	kb = smaps_kb(o, "Swap");
	CHECK(kb == (long)(LEN >> 10),
	      "%ld of %lu kB swapped out (pinned pages stay)", kb, LEN >> 10);
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, NPG), "swap-out: %s", why);
	if (move_ok(r, c, mr, o, LEN, 272, 271))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 1, NPG), "swap-in: %s", why);
	rc = 0;
out:
	if (pinned)
		sched_setaffinity(0, sizeof(was), &was);
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_swapped_out_pages_are_faulted_back_in(void)
{
	int rc;

	CHECK(swap_on() == 0, "cannot set up zram swap in the guest");
	rc = for_each_combo(M_ALL, swap_one);
	if (system("swapoff /dev/zram0"))
		note("swapoff failed");
	return rc;
out:
	return -1;
}

/*
 * A shared tmpfs file loses pages under the device: a hole punched in
 * it reads as zeros and takes writes again; truncated to nothing, it
 * gives the same errors as unmapped memory; grown back, it works.
 */
static int tmpfs_shrink_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false), *buf = malloc(LEN);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	struct xres x;
	int fd = shm_file(LEN), want_req, want_recv, rc = -1;
	unsigned int have;

	CHECK(o && buf && fd >= 0, "setup");
	fill(buf, LEN, 281);
	CHECK(pwrite(fd, buf, LEN, 0) == (ssize_t)LEN, "pwrite");
	CHECK(map_file_at(o, LEN, fd, MAP_SHARED) == o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	if (move_ok(r, c, mr, o, LEN, 282, 281))	/* mirrored */
		goto out;
	have = into_odp(c) ? 282 : 281;
	SNAP(c0);
	CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
			LEN / 2, 4 * PG) == 0, "punch: %s", strerror(errno));
	SNAP(c1);
	CHECK(invalidated(&c0, &c1, 4), "hole punch: %s", why);
	if (into_odp(c)) {
		if (move_ok(r, c, mr, o, LEN, 283, 0))
			goto out;
		CHECK(pread(fd, buf, LEN, 0) == (ssize_t)LEN &&
		      diff_pat(buf, LEN, 283) < 0,
		      "the file does not hold the device's bytes after the punch");
	} else {
		memset(r->plain, 0xa5, LEN);
		if (xfer(r, c, mr, o, LEN, false, &x))
			goto out;
		CHECK(x.req == IBV_WC_SUCCESS &&
		      (c->op != OP_SEND || x.recv == IBV_WC_SUCCESS),
		      "transfer over the punched hole: %s / %s", st(x.req),
		      st(x.recv));
		fill(buf, LEN, have);
		memset(buf + LEN / 2, 0, 4 * PG);
		CHECK(memcmp(r->plain, buf, LEN) == 0,
		      "not the file with a hole of zeros");
	}
	CHECK(ftruncate(fd, 0) == 0, "truncate");
	no_access_expect(c, &want_req, &want_recv);
	if (move_fails(r, c, mr, o, LEN, want_req, want_recv))
		goto out;
	CHECK(ftruncate(fd, LEN) == 0, "grow");
	if (move_ok(r, c, mr, o, LEN, 284, 0))
		goto out;
	if (into_odp(c))
		CHECK(pread(fd, buf, LEN, 0) == (ssize_t)LEN &&
		      diff_pat(buf, LEN, 284) < 0,
		      "the regrown file does not hold the device's bytes");
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

static int test_tmpfs_hole_punch_and_truncate_device_follows(void)
{
	return for_each_combo(M_ALL, tmpfs_shrink_one);
}

/* ---------------------------------------------------------------------- */
/* Prefetch (ibv_advise_mr). */

static int advise(struct ibv_pd *pd, enum ibv_advise_mr_advice a,
		  uint32_t flags, void *addr, uint32_t len, uint32_t lkey)
{
	struct ibv_sge sge = { (uintptr_t)addr, len, lkey };

	return ibv_advise_mr(pd, a, flags, &sge, 1);
}

/* PREFETCH (read) of untouched memory: reads need no fault, writes one. */
static int prefetch_read_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int ret, rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	ret = advise(odp_pd(r, c), IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == 0, "advise: %s", strerror(ret));
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "prefetch: %s", why);
	CHECK(dlt(&c0, &c1, C_PREFETCH) == 1, "odp_prefetches +%lld",
	      dlt(&c0, &c1, C_PREFETCH));
	if (move_ok(r, c, mr, o, LEN, 151, 0))
		goto out;
	SNAP(c2);
	/* A read-only mirror of the zero page cannot take a write. */
	if (into_odp(c))
		CHECK(faults_are(&c1, &c2, 1, NPG), "write after read prefetch: %s",
		      why);
	else
		CHECK(faults_are(&c1, &c2, 0, 0), "read after read prefetch: %s",
		      why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_prefetch_sync_read_then_reads_need_no_fault(void)
{
	return for_each_combo(M_ALL, prefetch_read_one);
}

/* PREFETCH_WRITE, synchronous or not: then no transfer faults. */
static int prefetch_write_one(struct rig *r, const struct combo *c,
			      bool sync)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2;
	int ret, waited, rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	ret = advise(odp_pd(r, c), IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     sync ? IBV_ADVISE_MR_FLAG_FLUSH : 0, o, LEN, mr->lkey);
	CHECK(ret == 0, "advise: %s", strerror(ret));
	/*
	 * Asynchronous: the work runs later; wait for its pages. The
	 * counters are read one by one while the work may be counting: the
	 * reading that first shows the pages can show the fault before it
	 * was counted (odp_faults is read first, counted first). Once the
	 * pages are there, the fault is done: read again.
	 */
	for (waited = 0;; waited++) {
		SNAP(c1);
		if (sync || dlt(&c0, &c1, C_PAGES) >= NPG || waited > 150)
			break;
	}
	if (!sync)
		SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "prefetch%s: %s",
	      sync ? "" : " (after waiting)", why);
	CHECK(dlt(&c0, &c1, C_PREFETCH) == 1, "odp_prefetches +%lld",
	      dlt(&c0, &c1, C_PREFETCH));
	if (move_ok(r, c, mr, o, LEN, 152, 0))
		goto out;
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 0, 0), "after PREFETCH_WRITE: %s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int prefetch_write_sync_one(struct rig *r, const struct combo *c)
{
	return prefetch_write_one(r, c, true);
}

static int prefetch_write_async_one(struct rig *r, const struct combo *c)
{
	return prefetch_write_one(r, c, false);
}

static int test_prefetch_sync_write_then_nothing_faults(void)
{
	return for_each_combo(M_ALL, prefetch_write_sync_one);
}

static int test_prefetch_async_write_runs_in_background(void)
{
	return for_each_combo(M_ALL, prefetch_write_async_one);
}

/*
 * PREFETCH_NO_FAULT faults nothing: on untouched memory it mirrors
 * nothing; of half-touched memory it mirrors the touched half, so a
 * transfer over all of it faults only the other half.
 */
static int prefetch_no_fault_one(struct rig *r, const struct combo *c)
{
	char *o = map_fresh(LEN, 0, false);
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1, c2, c3;
	int ret, rc = -1;

	CHECK(o, "mmap");
	mr = reg_odp(odp_pd(r, c), o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	ret = advise(odp_pd(r, c), IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == 0, "advise on untouched memory: %s", strerror(ret));
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 0, 0), "NO_FAULT, untouched: %s", why);
	CHECK(dlt(&c0, &c1, C_PREFETCH) == 1, "odp_prefetches +%lld",
	      dlt(&c0, &c1, C_PREFETCH));
	/* Touched after registration: present, not mirrored. */
	fill(o, LEN / 2, 161);
	ret = advise(odp_pd(r, c), IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == 0, "advise on half-touched memory: %s", strerror(ret));
	SNAP(c2);
	CHECK(faults_are(&c1, &c2, 0, 0), "NO_FAULT, half touched: %s", why);
	if (move_ok(r, c, mr, o, LEN / 2, 162, 161))
		goto out;
	SNAP(c3);
	CHECK(faults_are(&c2, &c3, 0, 0), "the touched half: %s", why);
	if (move_ok(r, c, mr, o + LEN / 2, LEN / 2, 164, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c3, &c1, 1, NPG / 2), "the untouched half: %s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_prefetch_no_fault_mirrors_only_present_pages(void)
{
	return for_each_combo(M_ALL, prefetch_no_fault_one);
}

static int test_prefetch_counts_one_per_sge(void)
{
	struct ibv_mr *mr = NULL, *mr2 = NULL;
	struct ibv_sge sge[3];
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false), *o2 = map_fresh(LEN, 0, false);
	int ret, rc = -1;

	CHECK(o && o2 && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pd, o, LEN);
	mr2 = reg_odp(r.pd, o2, LEN);
	CHECK(mr && mr2, "reg_mr: %s", strerror(errno));
	sge[0] = (struct ibv_sge){ (uintptr_t)o, LEN / 2, mr->lkey };
	sge[1] = (struct ibv_sge){ (uintptr_t)o + LEN / 2, LEN / 2, mr->lkey };
	sge[2] = (struct ibv_sge){ (uintptr_t)o2, LEN, mr2->lkey };
	SNAP(c0);
	ret = ibv_advise_mr(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			    IBV_ADVISE_MR_FLAG_FLUSH, sge, 3);
	CHECK(ret == 0, "advise: %s", strerror(ret));
	SNAP(c1);
	CHECK(dlt(&c0, &c1, C_PREFETCH) == 3, "odp_prefetches +%lld, want +3",
	      dlt(&c0, &c1, C_PREFETCH));
	CHECK(faults_are(&c0, &c1, 3, 2 * NPG), "%s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (mr2)
		ibv_dereg_mr(mr2);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	if (o2)
		munmap(o2, LEN);
	return rc;
}

/* A prefetch over 2.5 blocks: one fault per 2 MiB block, every page. */
static int test_prefetch_of_5mib_is_one_fault_per_2mib_block(void)
{
	const size_t sz = 5UL << 20;
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(sz, 0, false);
	int ret, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pdb, o, sz);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	ret = advise(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, (uint32_t)sz, mr->lkey);
	CHECK(ret == 0, "advise: %s", strerror(ret));
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 3, (long long)(sz / PG)), "%s", why);
	SNAP(c0);
	if (move_ok(&r, &combos[1], mr, o + BLOCK - LEN / 2, LEN, 251, 0) ||
	    move_ok(&r, &combos[3], mr, o + sz - LEN, LEN, 0, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 0, 0), "after the prefetch: %s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, sz);
	return rc;
}

/* One rejected ibv_advise_mr(): exactly @want, nothing counted. */
#define ADVISE_FAILS(pd, a, fl, addr, len, lkey, want, what)                   \
	do {                                                                   \
		struct cnt _b, _a;                                             \
		int _r;                                                        \
		SNAP(_b);                                                      \
		_r = advise(pd, a, fl, addr, len, lkey);                       \
		CHECK(_r == (want), "%s: got %s (%d), want %s", what,          \
		      strerror(_r), _r, strerror(want));                       \
		SNAP(_a);                                                      \
		CHECK(dlt(&_b, &_a, C_PREFETCH) == 0 &&                        \
		      dlt(&_b, &_a, C_FAULTS) == 0,                            \
		      "%s: counted as a prefetch (+%lld) or faulted (+%lld)",  \
		      what, dlt(&_b, &_a, C_PREFETCH),                         \
		      dlt(&_b, &_a, C_FAULTS));                                \
	} while (0)

static int test_advise_unknown_lkey_is_enoent(void)
{
	struct ibv_mr *mr = NULL, *gone;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false);
	uint32_t lkey;
	int rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	gone = reg_odp(r.pd, o, LEN);
	CHECK(gone, "reg_mr: %s", strerror(errno));
	lkey = gone->lkey;
	CHECK(ibv_dereg_mr(gone) == 0, "dereg");
	ADVISE_FAILS(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, lkey, ENOENT,
		     "the lkey of a deregistered MR");
	mr = reg_odp(r.pd, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	ADVISE_FAILS(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH, 0, o, LEN,
		     mr->lkey ^ 0x00ffff00u, ENOENT, "a made-up lkey (async)");
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_advise_non_odp_mr_is_einval(void)
{
	struct rig r = {};
	int rc = -1;

	CHECK(rig_init(&r) == 0, "setup");
	ADVISE_FAILS(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH, r.plain, LEN,
		     r.plain_mr->lkey, EINVAL, "a pinned MR");
	rc = 0;
out:
	rig_fini(&r);
	return rc;
}

static int test_advise_range_outside_mr_is_efault(void)
{
	struct ibv_mr *mr = NULL;
	struct rig r = {};
	char *o = map_fresh(3 * LEN, 0, false);
	int rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pd, o + LEN, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	ADVISE_FAILS(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH, o + 2 * LEN - PG, 2 * PG,
		     mr->lkey, EFAULT, "past the end");
	ADVISE_FAILS(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, o + LEN - 8,
		     16, mr->lkey, EFAULT, "before the start (async)");
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, 3 * LEN);
	return rc;
}

static int test_advise_write_without_local_write_is_eacces(void)
{
	struct ibv_mr *mr = NULL;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false);
	int ret, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	mr = ibv_reg_mr(r.pd, o, LEN,
			IBV_ACCESS_ON_DEMAND | IBV_ACCESS_REMOTE_READ);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	ADVISE_FAILS(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey, EACCES,
		     "PREFETCH_WRITE on a read-only MR");
	ret = advise(r.pd, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == 0, "PREFETCH (read) on the same MR: %s", strerror(ret));
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

static int test_advise_sync_over_unmapped_hole_is_efault(void)
{
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false);
	int ret, rc = -1;

	CHECK(o && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	CHECK(munmap(o + 4 * PG, 2 * PG) == 0, "munmap");
	ret = advise(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == EFAULT, "sync over a hole: %s (%d), want EFAULT",
	      strerror(ret), ret);
	ret = advise(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE, 0, o, LEN,
		     mr->lkey);
	CHECK(ret == 0, "async over a hole: %s, want 0 (the work fails later)",
	      strerror(ret));
	/* After the hole is filled a sync prefetch mirrors everything. */
	CHECK(mmap(o + 4 * PG, 2 * PG, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	      o + 4 * PG, "mmap MAP_FIXED");
	ret = advise(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == 0, "sync after the hole was filled: %s", strerror(ret));
	SNAP(c0);
	if (move_ok(&r, &combos[1], mr, o, LEN, 165, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 0, 0), "after the prefetch: %s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Atomics. */

/*
 * One atomic that must succeed; the old value lands in @result, which is
 * poisoned first unless it is ODP memory that must stay untouched.
 */
static int atomic_ok(struct rig *r, enum ibv_wr_opcode op, uint64_t *result,
		     uint32_t lkey, uint64_t *target, uint32_t rkey,
		     uint64_t cmp_add, uint64_t swap)
{
	struct ibv_wc wc;

	if (lkey == r->plain_mr->lkey)
		*result = 0xdeadbeefdeadbeefULL;
	if (post_atomic(r, op, 1, result, lkey, (uintptr_t)target, rkey,
			cmp_add, swap) || wait_wc(r->cq_a, &wc, 10000)) {
		snprintf(failmsg, sizeof(failmsg), "atomic: no completion");
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		snprintf(failmsg, sizeof(failmsg), "atomic: %s",
			 st(wc.status));
		return -1;
	}
	return 0;
}

static int atomic_status(struct rig *r, enum ibv_wr_opcode op,
			 uint64_t *result, uint32_t lkey, uint64_t *target,
			 uint32_t rkey)
{
	struct ibv_wc wc;

	if (post_atomic(r, op, 1, result, lkey, (uintptr_t)target, rkey, 1,
			2) || wait_wc(r->cq_a, &wc, 10000))
		return -1;
	return wc.status;
}

static bool atomics_supported(void)
{
	return dev_attr.atomic_cap != IBV_ATOMIC_NONE;
}

/*
 * Atomics with the ODP memory as the target (by rkey) and as the local
 * result buffer, into a fresh page and into a page just DONTNEEDed.
 */
static int test_atomics_into_fresh_and_dontneeded_odp_pages(void)
{
	uint64_t *plain_res, *plain_tgt, *t, *res;
	struct ibv_mr *mr = NULL, *mra = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(2 * PG, 0, false);
	int rc = -1;

	CHECK(atomics_supported(), "device atomic_cap is NONE");
	CHECK(o && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pdb, o, 2 * PG);	/* targets, by rkey */
	mra = odp_for_a(&r, mr, o, 2 * PG);	/* results, by lkey */
	CHECK(mr && mra, "reg_mr: %s", strerror(errno));
	plain_res = (uint64_t *)r.plain;
	plain_tgt = (uint64_t *)(r.plain + 4096);
	t = (uint64_t *)(o + 64);		/* target page */
	res = (uint64_t *)(o + PG + 128);	/* result page */

	/* Fresh target page. */
	SNAP(c0);
	if (atomic_ok(&r, IBV_WR_ATOMIC_FETCH_AND_ADD, plain_res,
		      r.plain_mr->lkey, t, mr->rkey, 5, 0))
		goto out;
	SNAP(c1);
	CHECK(*plain_res == 0 && *t == 5, "fetch-add into a fresh page: old %" PRIu64 ", now %" PRIu64,
	      *plain_res, *t);
	CHECK(faults_are(&c0, &c1, 1, 1), "target: %s", why);
	if (atomic_ok(&r, IBV_WR_ATOMIC_CMP_AND_SWP, plain_res,
		      r.plain_mr->lkey, t, mr->rkey, 5, 9))
		goto out;
	CHECK(*plain_res == 5 && *t == 9, "cmp-swap: old %" PRIu64 ", now %" PRIu64,
	      *plain_res, *t);

	/* Fresh result page. */
	*plain_tgt = 70;
	SNAP(c0);
	if (atomic_ok(&r, IBV_WR_ATOMIC_FETCH_AND_ADD, res, mra->lkey,
		      plain_tgt, r.plain_mr_b->rkey, 3, 0))
		goto out;
	SNAP(c1);
	CHECK(*res == 70 && *plain_tgt == 73, "result into a fresh page: %" PRIu64 ", target %" PRIu64,
	      *res, *plain_tgt);
	CHECK(faults_are(&c0, &c1, 1, 1), "result page: %s", why);

	/* Both pages DONTNEEDed: zeros for the target, a new result page. */
	CHECK(madvise(o, 2 * PG, MADV_DONTNEED) == 0, "madvise");
	SNAP(c0);
	if (atomic_ok(&r, IBV_WR_ATOMIC_FETCH_AND_ADD, plain_res,
		      r.plain_mr->lkey, t, mr->rkey, 1, 0))
		goto out;
	SNAP(c1);
	CHECK(*plain_res == 0 && *t == 1, "fetch-add after DONTNEED: old %" PRIu64 " (want 0), now %" PRIu64,
	      *plain_res, *t);
	CHECK(faults_are(&c0, &c1, 1, 1), "target after DONTNEED: %s", why);
	if (atomic_ok(&r, IBV_WR_ATOMIC_CMP_AND_SWP, plain_res,
		      r.plain_mr->lkey, t, mr->rkey, 1, 77))
		goto out;
	CHECK(*plain_res == 1 && *t == 77, "cmp-swap after DONTNEED: old %" PRIu64 ", now %" PRIu64,
	      *plain_res, *t);
	CHECK(madvise(o + PG, PG, MADV_DONTNEED) == 0, "madvise");
	if (post_atomic(&r, IBV_WR_ATOMIC_CMP_AND_SWP, 1, res, mra->lkey,
			(uintptr_t)plain_tgt, r.plain_mr_b->rkey, 73, 4)) {
		snprintf(failmsg, sizeof(failmsg), "post");
		goto out;
	}
	{
		struct ibv_wc wc;

		CHECK(wait_wc(r.cq_a, &wc, 10000) == 0 &&
		      wc.status == IBV_WC_SUCCESS, "cmp-swap, result DONTNEEDed: %s",
		      st(wc.status));
	}
	CHECK(*res == 73 && *plain_tgt == 4,
	      "result into a DONTNEEDed page: %" PRIu64 ", target %" PRIu64,
	      *res, *plain_tgt);
	rc = 0;
out:
	dereg_for_a(mra, mr);
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, 2 * PG);
	return rc;
}

static int test_atomics_and_read_only_odp_memory(void)
{
	struct ibv_mr *mr = NULL, *mra = NULL;
	struct rig r = {};
	char *o = map_fresh(2 * PG, 0, false);
	uint64_t *t, *res;
	int s, rc = -1;

	CHECK(atomics_supported(), "device atomic_cap is NONE");
	CHECK(o && rig_init(&r) == 0, "setup");
	t = (uint64_t *)o;
	res = (uint64_t *)(o + PG);
	*t = 1;
	*res = 2;
	mr = reg_odp(r.pdb, o, 2 * PG);	/* targets, by rkey */
	mra = odp_for_a(&r, mr, o, 2 * PG);	/* results, by lkey */
	CHECK(mr && mra, "reg_mr: %s", strerror(errno));
	CHECK(mprotect(o, 2 * PG, PROT_READ) == 0, "mprotect");
	s = atomic_status(&r, IBV_WR_ATOMIC_FETCH_AND_ADD,
			  (uint64_t *)r.plain, r.plain_mr->lkey, t, mr->rkey);
	CHECK(s == IBV_WC_REM_ACCESS_ERR,
	      "atomic into a PROT_READ target: %s, want REM_ACCESS_ERR", st(s));
	CHECK(*t == 1, "the read-only target changed");
	CHECK(rig_qps(&r) == 0, "new QPs");
	s = atomic_status(&r, IBV_WR_ATOMIC_CMP_AND_SWP, res, mra->lkey,
			  (uint64_t *)(r.plain + 4096), r.plain_mr_b->rkey);
	CHECK(s == IBV_WC_LOC_PROT_ERR,
	      "atomic result into a PROT_READ buffer: %s, want LOC_PROT_ERR",
	      st(s));
	CHECK(*res == 2, "the read-only result buffer changed");
	rc = 0;
out:
	dereg_for_a(mra, mr);
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, 2 * PG);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* Per-MR counters and trace events. */

/*
 * Runs @cmd and returns the number after token @field on the first line
 * of device @dev whose token @key has the numeric value @val (-1: not
 * found).
 */
static long long cmd_field(const char *cmd, const char *dev, const char *key,
			   unsigned long long val, const char *field)
{
	char line[1024], *tok[64], *save;
	long long v = -1;
	FILE *f = popen(cmd, "r");
	int n, i, j;

	if (!f)
		return -1;
	while (v < 0 && fgets(line, sizeof(line), f)) {
		n = 0;
		for (tok[n] = strtok_r(line, " \t\n", &save); tok[n] && n < 63;
		     tok[++n] = strtok_r(NULL, " \t\n", &save))
			;
		for (i = 0; i + 1 < n; i++) {
			/* Lines of another device (numbers repeat). */
			if (!strcmp(tok[i], "dev") && strcmp(tok[i + 1], dev))
				break;
			if (strcmp(tok[i], key) ||
			    strtoull(tok[i + 1], NULL, 0) != val)
				continue;
			for (j = 0; j + 1 < n; j++)
				if (!strcmp(tok[j], field))
					v = strtoll(tok[j + 1], NULL, 0);
			break;
		}
	}
	pclose(f);
	return v;
}

enum { M_FAULTS, M_PAGES, M_INVAL, M_PAGES_INVAL, M_PREFETCH, M_NUM };

static const char *const mr_cnt_names[M_NUM] = {
	"page_faults", "pages_faulted", "invalidations", "pages_invalidated",
	"prefetches",
};

/* The per-MR ODP counters of @mr (rdma statistic mr), by its restrack id. */
static int mr_counters(struct ibv_mr *mr, long long *v)
{
	const char *dev = ibv_get_device_name(mr->context->device);
	long long mrn = cmd_field("rdma resource show mr", dev, "lkey",
				  mr->lkey, "mrn");
	int i;

	if (mrn < 0)
		return -1;
	for (i = 0; i < M_NUM; i++) {
		v[i] = cmd_field("rdma statistic mr", dev, "mrn",
				 (unsigned long long)mrn, mr_cnt_names[i]);
		if (v[i] < 0)
			return -1;
	}
	return 0;
}

#define MR_SNAP(mr, v)                                                         \
	CHECK(mr_counters(mr, v) == 0,                                         \
	      "no counters for lkey 0x%x in 'rdma statistic mr'", (mr)->lkey)

/* Each MR counts its own faults, invalidations and prefetches. */
static int test_per_mr_counters_follow_their_mr(void)
{
	long long a0[M_NUM], a1[M_NUM], b0[M_NUM], b1[M_NUM];
	struct ibv_mr *m1 = NULL, *m2 = NULL;
	struct rig r = {};
	char *o1 = map_fresh(LEN, 0, false), *o2 = map_fresh(LEN, 0, false);
	int i, ret, rc = -1;

	CHECK(o1 && o2 && rig_init(&r) == 0, "setup");
	m1 = reg_odp(r.pdb, o1, LEN);
	m2 = reg_odp(r.pdb, o2, LEN);
	CHECK(m1 && m2, "reg_mr: %s", strerror(errno));
	MR_SNAP(m1, a0);
	MR_SNAP(m2, b0);
	if (move_ok(&r, &combos[1], m1, o1, LEN, 291, 0))
		goto out;
	MR_SNAP(m1, a1);
	MR_SNAP(m2, b1);
	CHECK(a1[M_FAULTS] - a0[M_FAULTS] == 1 &&
	      a1[M_PAGES] - a0[M_PAGES] == NPG,
	      "the faulting MR: page_faults +%lld, pages_faulted +%lld (want +1, +%d)",
	      a1[M_FAULTS] - a0[M_FAULTS], a1[M_PAGES] - a0[M_PAGES], NPG);
	for (i = 0; i < M_NUM; i++)
		CHECK(b1[i] == b0[i], "the other MR's %s moved", mr_cnt_names[i]);
	ret = advise(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
		     IBV_ADVISE_MR_FLAG_FLUSH, o2, LEN, m2->lkey);
	CHECK(ret == 0, "advise: %s", strerror(ret));
	CHECK(madvise(o1, LEN, MADV_DONTNEED) == 0, "madvise");
	MR_SNAP(m1, a0);
	MR_SNAP(m2, b0);
	CHECK(b0[M_PREFETCH] - b1[M_PREFETCH] == 1 &&
	      b0[M_FAULTS] - b1[M_FAULTS] == 1 &&
	      b0[M_PAGES] - b1[M_PAGES] == NPG &&
	      b0[M_INVAL] == b1[M_INVAL],
	      "the prefetched MR: prefetches +%lld, page_faults +%lld, pages_faulted +%lld, invalidations +%lld",
	      b0[M_PREFETCH] - b1[M_PREFETCH], b0[M_FAULTS] - b1[M_FAULTS],
	      b0[M_PAGES] - b1[M_PAGES], b0[M_INVAL] - b1[M_INVAL]);
	CHECK(a0[M_INVAL] - a1[M_INVAL] >= 1 &&
	      a0[M_PAGES_INVAL] - a1[M_PAGES_INVAL] == NPG &&
	      a0[M_PREFETCH] == a1[M_PREFETCH],
	      "the DONTNEEDed MR: invalidations +%lld, pages_invalidated +%lld, prefetches +%lld",
	      a0[M_INVAL] - a1[M_INVAL], a0[M_PAGES_INVAL] - a1[M_PAGES_INVAL],
	      a0[M_PREFETCH] - a1[M_PREFETCH]);
	rc = 0;
out:
	if (m1)
		ibv_dereg_mr(m1);
	if (m2)
		ibv_dereg_mr(m2);
	rig_fini(&r);
	if (o1)
		munmap(o1, LEN);
	if (o2)
		munmap(o2, LEN);
	return rc;
}

#define TRACEFS "/sys/kernel/tracing"

static int trace_write(const char *file, const char *s)
{
	char path[256];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), TRACEFS "/%s", file);
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0)
		return -1;
	n = write(fd, s, strlen(s));
	close(fd);
	return n == (ssize_t)strlen(s) ? 0 : -1;
}

/* A fault, an invalidation and a prefetch each leave their event. */
static int test_trace_events_show_faults_invalidations_prefetches(void)
{
	static const char *const ev[4] = {
		"mirror_odp_fault_begin", "mirror_odp_fault_end",
		"mirror_odp_invalidate", "mirror_odp_prefetch",
	};
	int seen[4] = { 0 }, i, ret, rc = -1;
	struct ibv_mr *mr = NULL;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false), line[512], key[32];
	FILE *f = NULL;

	if (access(TRACEFS "/events", F_OK))
		mount("nodev", TRACEFS, "tracefs", 0, NULL);
	CHECK(access(TRACEFS "/events/rdma_mirror", F_OK) == 0,
	      "no rdma_mirror events in " TRACEFS);
	CHECK(o && rig_init(&r) == 0, "setup");
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	CHECK(trace_write("events/rdma_mirror/enable", "1") == 0 &&
	      trace_write("trace", "") == 0, "cannot enable the events");
	if (move_ok(&r, &combos[1], mr, o, LEN, 292, 0))
		goto out;
	CHECK(madvise(o, LEN, MADV_DONTNEED) == 0, "madvise");
	ret = advise(r.pdb, IBV_ADVISE_MR_ADVICE_PREFETCH,
		     IBV_ADVISE_MR_FLAG_FLUSH, o, LEN, mr->lkey);
	CHECK(ret == 0, "advise: %s", strerror(ret));
	CHECK(trace_write("events/rdma_mirror/enable", "0") == 0, "disable");
	f = fopen(TRACEFS "/trace", "r");
	CHECK(f, "cannot read the trace");
	snprintf(key, sizeof(key), "mr 0x%x ", mr->lkey);
	while (fgets(line, sizeof(line), f))
		for (i = 0; i < 4; i++)
			if (strstr(line, ev[i]) && strstr(line, key))
				seen[i]++;
	for (i = 0; i < 4; i++)
		CHECK(seen[i] > 0, "no %s event for the MR (lkey 0x%x)", ev[i],
		      mr->lkey);
	note("events: %d fault_begin, %d fault_end, %d invalidate, %d prefetch",
	     seen[0], seen[1], seen[2], seen[3]);
	rc = 0;
out:
	trace_write("events/rdma_mirror/enable", "0");
	if (f)
		fclose(f);
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* The other transports and receive paths the caps claim. */

static int test_uc_write_and_send_into_odp(void)
{
	struct ibv_mr *mr = NULL, *mra = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(2 * LEN, 0, false);
	int rc = -1;

	CHECK(o && rig_init_on(&r, ctx, peer_ctx, IBV_QPT_UC, false) == 0,
	      "setup");
	mr = reg_odp(r.pdb, o, 2 * LEN);	/* by rkey, as a receive */
	mra = odp_for_a(&r, mr, o, 2 * LEN);	/* as a's source */
	CHECK(mr && mra, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	if (move_ok(&r, &combos[1], mr, o, LEN, 171, 0) ||
	    move_ok(&r, &combos[5], mr, o + LEN, LEN, 172, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 2, 2 * NPG), "%s", why);
	if (move_ok(&r, &combos[0], mra, o, LEN, 0, 171) ||
	    move_ok(&r, &combos[4], mra, o + LEN, LEN, 0, 172))
		goto out;
	rc = 0;
out:
	dereg_for_a(mra, mr);
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, 2 * LEN);
	return rc;
}

/*
 * UD from a fresh ODP source (the first page) into a fresh ODP receive
 * buffer (the second page, GRH first). @no_access: the receive's page is
 * PROT_NONE.
 */
static int ud_into_odp(bool no_access)
{
	const uint32_t len = 1000, grh = 40;
	struct ibv_mr *mr = NULL, *mra = NULL;
	struct cnt c0, c1;
	struct ibv_wc wc;
	struct rig r = {};
	char *o = map_fresh(2 * PG, 0, false);
	int rc = -1;

	CHECK(o && rig_init_on(&r, ctx, peer_ctx, IBV_QPT_UD, false) == 0,
	      "setup");
	mr = reg_odp(r.pdb, o, 2 * PG);		/* the receive buffer */
	mra = odp_for_a(&r, mr, o, 2 * PG);	/* the source */
	CHECK(mr && mra, "reg_mr: %s", strerror(errno));
	fill(o, len, 173);	/* present, not mirrored */
	if (no_access)
		CHECK(mprotect(o + PG, PG, PROT_NONE) == 0, "mprotect: %s",
		      strerror(errno));
	SNAP(c0);
	CHECK(post_recv_b(&r, 2, (uintptr_t)o + PG, grh + len, mr->lkey) == 0,
	      "post_recv");
	CHECK(post_wr(&r, IBV_WR_SEND, 1, (uintptr_t)o, len, mra->lkey, 0, 0) ==
	      0, "post_send");
	CHECK(wait_wc(r.cq_a, &wc, 10000) == 0 && wc.status == IBV_WC_SUCCESS,
	      "send: %s", st(wc.status));
	CHECK(wait_wc(r.cq_b, &wc, 10000) == 0 && wc.wr_id == 2,
	      "no receive completion");
	if (no_access) {
		CHECK(wc.status == IBV_WC_LOC_PROT_ERR, "receive: %s, want %s",
		      st(wc.status), st(IBV_WC_LOC_PROT_ERR));
		dereg_for_a(mra, mr);
		mra = NULL;
		CHECK(ibv_dereg_mr(mr) == 0, "dereg_mr: %s", strerror(errno));
		mr = NULL;
	} else {
		CHECK(wc.status == IBV_WC_SUCCESS && wc.byte_len == grh + len,
		      "receive: %s, byte_len %u", st(wc.status), wc.byte_len);
		CHECK(diff_pat(o + PG + grh, len, 173) < 0, "payload differs");
		SNAP(c1);
		CHECK(faults_are(&c0, &c1, 2, 2), "%s", why);
	}
	rc = 0;
out:
	dereg_for_a(mra, mr);
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, 2 * PG);
	return rc;
}

static int test_ud_send_between_odp_buffers(void)
{
	return ud_into_odp(false);
}

/*
 * UD into a receive whose ODP memory cannot be had (PROT_NONE): the
 * datagram is not delivered, the receive completes with LOC_PROT_ERR, the
 * sender's WQE succeeds (UD), and the MR deregisters: nothing of the
 * device holds it any more. The same-device requester once went round for
 * ever here (the poster's system call never returned, and could not be
 * killed), taking a new reference on the MR at every round.
 */
static int test_ud_receive_into_prot_none_odp_memory_is_loc_prot_err(void)
{
	return ud_into_odp(true);
}

static int test_srq_receive_into_odp(void)
{
	struct ibv_mr *mr = NULL;
	struct cnt c0, c1;
	struct rig r = {};
	char *o = map_fresh(LEN, 0, false);
	int rc = -1;

	CHECK(o && rig_init_on(&r, ctx, peer_ctx, IBV_QPT_RC, true) == 0,
	      "setup");
	mr = reg_odp(r.pdb, o, LEN);
	CHECK(mr, "reg_mr: %s", strerror(errno));
	SNAP(c0);
	if (move_ok(&r, &combos[5], mr, o, LEN, 174, 0))
		goto out;
	SNAP(c1);
	CHECK(faults_are(&c0, &c1, 1, NPG), "%s", why);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	rig_fini(&r);
	if (o)
		munmap(o, LEN);
	return rc;
}

/* A gather list of ODP and pinned SGEs, scattered into two ODP MRs. */
static int test_sge_lists_mix_odp_and_pinned_mrs(void)
{
	struct ibv_mr *m1 = NULL, *m2 = NULL, *m1a = NULL, *m2a = NULL;
	struct ibv_recv_wr rwr = {}, *rbad;
	struct ibv_send_wr swr = {}, *sbad;
	struct ibv_sge s[3], d[2];
	struct ibv_wc wc;
	struct rig r = {};
	char *o1 = map_fresh(LEN, 0, false), *o2 = map_fresh(LEN, 0, false);
	char *want = malloc(3 * PG);
	int rc = -1;

	CHECK(o1 && o2 && want && rig_init(&r) == 0, "setup");
	m1 = reg_odp(r.pdb, o1, LEN);		/* receives */
	m2 = reg_odp(r.pdb, o2, LEN);
	m1a = odp_for_a(&r, m1, o1, LEN);	/* sources */
	m2a = odp_for_a(&r, m2, o2, LEN);
	CHECK(m1 && m2 && m1a && m2a, "reg_mr: %s", strerror(errno));
	fill(o1 + 100, PG, 175);
	fill(r.plain + 200, PG, 176);
	fill(o2 + 300, PG, 177);
	memcpy(want, o1 + 100, PG);
	memcpy(want + PG, r.plain + 200, PG);
	memcpy(want + 2 * PG, o2 + 300, PG);
	s[0] = (struct ibv_sge){ (uintptr_t)o1 + 100, PG, m1a->lkey };
	s[1] = (struct ibv_sge){ (uintptr_t)r.plain + 200, PG,
				 r.plain_mr->lkey };
	s[2] = (struct ibv_sge){ (uintptr_t)o2 + 300, PG, m2a->lkey };
	/* Receive: 5000 bytes into o1's upper half, the rest into o2's. */
	d[0] = (struct ibv_sge){ (uintptr_t)o1 + LEN / 2 + 7, 5000, m1->lkey };
	d[1] = (struct ibv_sge){ (uintptr_t)o2 + LEN / 2 + 9, 3 * PG - 5000,
				 m2->lkey };
	rwr.wr_id = 2;
	rwr.sg_list = d;
	rwr.num_sge = 2;
	CHECK(ibv_post_recv(r.b, &rwr, &rbad) == 0, "post_recv");
	swr.wr_id = 1;
	swr.sg_list = s;
	swr.num_sge = 3;
	swr.opcode = IBV_WR_SEND;
	swr.send_flags = IBV_SEND_SIGNALED;
	CHECK(ibv_post_send(r.a, &swr, &sbad) == 0, "post_send");
	CHECK(wait_wc(r.cq_a, &wc, 10000) == 0 && wc.status == IBV_WC_SUCCESS,
	      "send: %s", st(wc.status));
	CHECK(wait_wc(r.cq_b, &wc, 10000) == 0 && wc.status == IBV_WC_SUCCESS &&
	      wc.byte_len == 3 * PG, "receive: %s, %u bytes", st(wc.status),
	      wc.byte_len);
	CHECK(memcmp(o1 + LEN / 2 + 7, want, 5000) == 0,
	      "first receive SGE differs");
	CHECK(memcmp(o2 + LEN / 2 + 9, want + 5000, 3 * PG - 5000) == 0,
	      "second receive SGE differs");
	rc = 0;
out:
	dereg_for_a(m1a, m1);
	dereg_for_a(m2a, m2);
	if (m1)
		ibv_dereg_mr(m1);
	if (m2)
		ibv_dereg_mr(m2);
	rig_fini(&r);
	if (o1)
		munmap(o1, LEN);
	if (o2)
		munmap(o2, LEN);
	free(want);
	return rc;
}

static const struct test tests[] = {
	T_DEV(odp_caps_are_reported),
	T_DEV(odp_counters_are_in_sysfs),
	T(fault_latency_histogram_counts_each_fault),
	T(odp_reg_over_unmapped_range_succeeds),
	T(odp_mr_pins_nothing),
	T_DEV(implicit_odp_mr_registers_pinned_is_refused),
	T(first_touch_is_one_fault_per_block),
	T(first_touch_across_2mib_boundary_is_two_faults),
	T(pages_touched_after_registration_fault_once),
	T(registration_snapshot_needs_no_fault),
	T(read_mirror_is_upgraded_for_a_write),
	T(dontneed_device_sees_zeros_and_refaults),
	T(munmap_then_map_fixed_device_uses_new_page),
	T(map_fixed_over_live_mapping_device_uses_new_page),
	T(mprotect_read_only_still_serves_reads),
	T(mprotect_read_only_refuses_writes_until_rw),
	T(unmapped_hole_in_local_sge_is_loc_prot_err),
	T(unmapped_hole_in_rkey_range_is_rem_access_err),
	T(unmapped_hole_in_receive_buffer_is_loc_prot_err),
	T(unmapped_receive_buffer_is_loc_prot_err_and_rem_op_err),
	T(rdma_read_into_read_only_local_buffer_is_loc_prot_err),
	T(mremap_away_device_never_touches_moved_pages),
	T(mprotect_none_refuses_reads_and_writes),
	T(ksm_merged_pages_are_unshared_by_device_writes),
	T(thp_cut_by_dontneed_and_munmap_device_follows),
	T(odp_mr_with_iova_and_unaligned_bounds),
	T(two_odp_mrs_over_the_same_pages_both_follow),
	T(odp_mr_larger_than_ram_faults_only_what_is_used),
	T(madv_free_page_written_by_device_survives_reclaim),
	T(swapped_out_pages_are_faulted_back_in),
	T(tmpfs_hole_punch_and_truncate_device_follows),
	T(fork_parent_and_child_write_device_follows_parent),
	T(fork_child_writes_device_follows_parent),
	T(fork_device_write_breaks_cow_in_parent),
	T(fork_of_a_thp_device_follows_parent),
	T(fork_of_a_hugetlb_page_device_follows_parent),
	T(tmpfs_shared_mapping_is_the_file),
	T(memfd_shared_mapping_is_the_file),
	T(tmpfs_private_mapping_never_writes_the_file),
	T(thp_is_one_fault_of_512_pages),
	T(hugetlb_2mib_page_is_one_fault_of_512_pages),
	T(migrated_pages_are_followed),
	T(prefetch_sync_read_then_reads_need_no_fault),
	T(prefetch_sync_write_then_nothing_faults),
	T(prefetch_async_write_runs_in_background),
	T(prefetch_no_fault_mirrors_only_present_pages),
	T_DEV(prefetch_counts_one_per_sge),
	T(prefetch_of_5mib_is_one_fault_per_2mib_block),
	T_DEV(advise_unknown_lkey_is_enoent),
	T_DEV(advise_non_odp_mr_is_einval),
	T_DEV(advise_range_outside_mr_is_efault),
	T_DEV(advise_write_without_local_write_is_eacces),
	T(advise_sync_over_unmapped_hole_is_efault),
	T(atomics_into_fresh_and_dontneeded_odp_pages),
	T(atomics_and_read_only_odp_memory),
	T(uc_write_and_send_into_odp),
	T(ud_send_between_odp_buffers),
	T(ud_receive_into_prot_none_odp_memory_is_loc_prot_err),
	T(srq_receive_into_odp),
	T(sge_lists_mix_odp_and_pinned_mrs),
	T(per_mr_counters_follow_their_mr),
	T(trace_events_show_faults_invalidations_prefetches),
	T(dereg_during_async_prefetch_is_safe),
	T(process_exit_with_live_odp_mrs_and_traffic),
};

int main(int argc, char **argv)
{
	return mirror_tap_main(argc, argv, tests,
			       (int)(sizeof(tests) / sizeof(tests[0])), true);
}
