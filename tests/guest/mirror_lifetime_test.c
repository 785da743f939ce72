/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_lifetime_test.c - what an ODP MR must survive when the memory or
 * the process behind it changes under the device:
 *
 * A. Pages moved by userfaultfd's UFFDIO_MOVE (Linux 6.8+). The mirrored
 *    range's pages are moved out to another area and other pages are
 *    moved in; the move clears the old page table entries, which the MR's
 *    interval notifier must see. After the ioctl the device reads and
 *    writes only the new pages and never again the old ones, for an
 *    explicit and an implicit ODP MR, through an rkey (responder) and an
 *    lkey (requester); and READs racing a thread that keeps moving pages
 *    in and out only ever see pages that are, or were, in the range.
 *
 * B. The uverbs file outliving the mm its ODP MRs mirror. The MR keeps a
 *    reference to the registering process's mm (mm_count, not mm_users);
 *    once that mm is torn down (a moment after the process is reaped, at
 *    worst: see struct mm_watch), every fault on it fails
 *    mmget_not_zero() and the data path turns that into an error
 *    completion (the requester's LOC_PROT_ERR, the responder's NAK:
 *    REM_ACCESS_ERR for RDMA, REM_OP_ERR for a SEND whose receive cannot
 *    be filled). The cases: the owner exits, or is killed, while a forked
 *    child holds the file; the child exits first while the owner goes on;
 *    exec in between (the owner execs with the file kept open, or a child
 *    execs holding it). Nothing may hang, and once the file is closed the
 *    device's ODP counters (odp_children_live, odp_mirror_bytes) return to
 *    where they were.
 *
 * What a forked child may do with the inherited context. The provider's
 * rings are MAP_SHARED mappings of the uverbs file, inherited by fork, so
 * the child can poll the CQ and post receives. libibverbs sends its
 * commands through ioctl() (write commands by UVERBS_METHOD_INVOKE_WRITE),
 * so dereg_mr, query_qp and the like work from the child. But the
 * provider rings the send doorbell with a plain write(), and ib_core
 * refuses write() to a task whose credentials are not the opener's (a
 * forked child always has its own struct cred): ibv_post_send() fails
 * there with EACCES. So the child's post is expected to fail with an
 * errno, or, should it run anyway, to complete with an error; never to
 * succeed. The memory the child's WRs name belongs to the dead owner,
 * never to the child: an ODP MR mirrors the mm that registered it,
 * whoever uses its keys.
 *
 * Every case runs on both paths: "same device" (all QPs on DEVICE) and
 * "RoCEv2" (the peer QP on DEVICE2, mirror1 across the veth pair in
 * namespace "peer", opened from here).
 *
 * Usage: mirror_lifetime_test [-d DEVICE] -W DEVICE2 [-v] [TEST-SUBSTRING...]
 * (run as root; it forks and re-executes itself with --hold, see
 * hold_main()).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "mirror_tap.h"
#include "mirror_testlib.h"

/* UFFDIO_MOVE (Linux 6.8), for headers older than the guest's kernel. */
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE	(1 << 16)
#endif
#ifndef UFFDIO_MOVE
#define _UFFDIO_MOVE		(0x05)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
	__u64 mode;
	__s64 move;
};
#define UFFDIO_MOVE		_IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY	1
#endif

#define ODP_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_ON_DEMAND)
#define PIN_ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
			 IBV_ACCESS_REMOTE_READ)
#define MAX_QP		12

enum path { PATH_SAME, PATH_WIRE };

static const char *wire_dev;
static int time_scale = 1;
static size_t pg;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *path_dev(enum path p, bool far)
{
	return far && p == PATH_WIRE ? wire_dev : dev_name;
}

static const char *dev_ip(const char *dev)
{
	return strcmp(dev, dev_name) ? "10.11.0.2" : "10.11.0.1";
}

/* Anonymous private memory, never THP (UFFDIO_MOVE moves small pages). */
static uint8_t *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

/*
 * Patterns whose every 64-bit word says what it is: the tag, the page
 * and the word's place in the page. A word from any other page, or from
 * a freed one, cannot pass for it.
 */
static uint64_t pat_word(unsigned int tag, size_t page, size_t word)
{
	return ((uint64_t)tag << 48) | ((uint64_t)page << 24) | word;
}

static void pat_fill(void *buf, size_t len, unsigned int tag)
{
	uint64_t *w = buf;
	size_t i, per = pg / 8;

	for (i = 0; i < len / 8; i++)
		w[i] = pat_word(tag, i / per, i % per);
}

/* The first byte of @buf that differs from pattern @tag, or -1. */
static long pat_diff(const void *buf, size_t len, unsigned int tag)
{
	const uint8_t *b = buf;
	uint64_t w;
	size_t i, per = pg / 8;

	for (i = 0; i < len; i++) {
		w = pat_word(tag, i / 8 / per, i / 8 % per);
		if (b[i] != ((const uint8_t *)&w)[i % 8])
			return (long)i;
	}
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Verbs: one context, PD, CQ and some RC QPs, in whichever process */

struct side {
	struct ibv_context *ctx;
	int gidx;
	union ibv_gid gid;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[MAX_QP];
	int nqp;
};

static void side_close(struct side *s)
{
	int i;

	for (i = 0; i < s->nqp; i++)
		if (s->qp[i])
			ibv_destroy_qp(s->qp[i]);
	if (s->cq)
		ibv_destroy_cq(s->cq);
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	if (s->ctx)
		ibv_close_device(s->ctx);
	memset(s, 0, sizeof(*s));
}

static int side_open(struct side *s, const char *dev, int nqp)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 32, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	int i;

	memset(s, 0, sizeof(*s));
	s->ctx = mirror_test_open(dev);
	if (!s->ctx || mirror_test_ipv4_gid(s->ctx, dev_ip(dev), &s->gidx, &s->gid))
		return -1;
	s->pd = ibv_alloc_pd(s->ctx);
	s->cq = ibv_create_cq(s->ctx, 512, NULL, NULL, 0);
	if (!s->pd || !s->cq)
		return -1;
	ia.send_cq = s->cq;
	ia.recv_cq = s->cq;
	for (i = 0; i < nqp; i++) {
		s->qp[i] = ibv_create_qp(s->pd, &ia);
		if (!s->qp[i])
			return -1;
		s->nqp = i + 1;
	}
	return 0;
}

/* Takes @qp through INIT, RTR and RTS to (@dqpn, @dgid); PSN @psn both ways. */
static int qp_connect(struct ibv_qp *qp, int gidx, uint32_t dqpn,
		      const union ibv_gid *dgid, uint32_t psn)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dqpn;
	a.rq_psn = psn;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 20;		/* 10 ms between RNR retries */
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = *dgid;
	a.ah_attr.grh.sgid_index = (uint8_t)gidx;
	a.ah_attr.grh.hop_limit = 64;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = psn;
	/*
	 * Patience beyond the responder's longest fault: one whose range
	 * keeps being moved gives up after HMM's 1 s (and 32 tries), and
	 * the requester must still be waiting for its answer then: 268 ms
	 * (scaled) times 8 sendings.
	 */
	a.timeout = mirror_test_ack_timeout(16);
	a.retry_cnt = 7;
	a.rnr_retry = 7;		/* an RNR wait lasts until a receive */
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			     IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC) ? -1 : 0;
}

/* Connects QP @i of @a to QP @i of @b (both in this process). */
static int pair_connect(struct side *a, struct side *b, int i, uint32_t psn)
{
	return qp_connect(a->qp[i], a->gidx, b->qp[i]->qp_num, &b->gid, psn) ||
	       qp_connect(b->qp[i], b->gidx, a->qp[i]->qp_num, &a->gid, psn) ?
	       -1 : 0;
}

static int qp_reset(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RESET };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

static int post(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t wr_id,
		void *laddr, uint32_t len, uint32_t lkey, uint64_t raddr,
		uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)laddr, .length = len,
			       .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	}, *bad;

	return ibv_post_send(qp, &wr, &bad);
}

static int post_recv(struct ibv_qp *qp, uint64_t wr_id, void *addr,
		     uint32_t len, uint32_t lkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len,
			       .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge,
				  .num_sge = 1 }, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

/* The next completion on @cq within @secs (scaled): 1, 0 (none) or -1. */
static int wait_cq(struct ibv_cq *cq, struct ibv_wc *wc, double secs)
{
	double end = now() + secs * time_scale;
	int n;

	do {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n < 0 ? -1 : 1;
		usleep(200);
	} while (now() < end);
	return 0;
}

#define OP_POST_FAILED	-1
#define OP_TIMEOUT	-2

/*
 * Posts one WR on QP @i of @s and waits for its completion: the status,
 * OP_POST_FAILED or OP_TIMEOUT (30 s, scaled: a hang is a failure).
 */
static int op(struct side *s, int i, enum ibv_wr_opcode opc, void *laddr,
	      uint32_t len, uint32_t lkey, uint64_t raddr, uint32_t rkey)
{
	struct ibv_wc wc;

	if (post(s->qp[i], opc, 0x1000 + i, laddr, len, lkey, raddr, rkey))
		return OP_POST_FAILED;
	do {
		if (wait_cq(s->cq, &wc, 30) != 1)
			return OP_TIMEOUT;
	} while (wc.wr_id != (uint64_t)(0x1000 + i));
	return wc.status;
}

static const char *st_str(int st)
{
	if (st == OP_POST_FAILED)
		return "post failed";
	if (st == OP_TIMEOUT)
		return "no completion (hang)";
	if (st == -3)
		return "never completed";
	return ibv_wc_status_str((enum ibv_wc_status)st);
}

/* ---------------------------------------------------------------------- */
/* The device's ODP counters (rdma statistic show link DEV/1) */

struct odp_cnt {
	long long live[2], bytes[2];	/* DEVICE, DEVICE2 */
};

static void odp_cnt_read(struct odp_cnt *c)
{
	const char *devs[2] = { dev_name, wire_dev };
	int i;

	for (i = 0; i < 2; i++) {
		c->live[i] = mirror_test_counter(devs[i], "odp_children_live");
		c->bytes[i] = mirror_test_counter(devs[i], "odp_mirror_bytes");
	}
}

/*
 * Waits (10 s, scaled: deferred work) until both devices' counters are
 * back at @base; 0, or -1 with @why saying which is not.
 */
static int odp_cnt_wait(const struct odp_cnt *base, char *why, size_t n)
{
	const char *devs[2] = { dev_name, wire_dev };
	double t0 = now(), end = t0 + 10.0 * time_scale;
	struct odp_cnt c;
	int i;

	for (;;) {
		odp_cnt_read(&c);
		if (!memcmp(&c, base, sizeof(c))) {
			note("ODP counters back after %.0f ms",
			     (now() - t0) * 1e3);
			return 0;
		}
		if (now() > end)
			break;
		usleep(5000);
	}
	for (i = 0; i < 2; i++)
		if (c.live[i] != base->live[i] || c.bytes[i] != base->bytes[i])
			snprintf(why, n, "%s: odp_children_live %lld (was %lld), "
				 "odp_mirror_bytes %lld (was %lld) %d s after",
				 devs[i], c.live[i], base->live[i], c.bytes[i],
				 base->bytes[i], 10 * time_scale);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* A. Pages moved by UFFDIO_MOVE */

#define MV_PAGES	16
#define TAG_OLD		0xa1
#define TAG_NEW		0xb2

/*
 * One scenario: @m mirrored by an ODP MR on each side (explicit over @m,
 * or implicit), connected QP 0 of @a (DEVICE) and @b (DEVICE or DEVICE2),
 * a pinned helper buffer @h on both. "Remote" ops go from @a's @h to @m
 * through @mb's rkey (the responder uses the mirror); "local" ops move
 * @m through @ma's lkey to @h through @hb's rkey (the requester does).
 */
struct mv {
	enum path path;
	bool implicit;
	struct side a, b;
	size_t len;
	uint8_t *m, *in, *out, *h, *old;
	struct ibv_mr *ma, *mb, *ha, *hb;
	int uffd;
};

static void mv_fini(struct mv *v)
{
	struct ibv_mr *mrs[4] = { v->ma, v->mb, v->ha, v->hb };
	int i;

	for (i = 0; i < 4; i++)
		if (mrs[i])
			ibv_dereg_mr(mrs[i]);
	side_close(&v->a);
	side_close(&v->b);
	if (v->uffd >= 0)
		close(v->uffd);
	if (v->m)
		munmap(v->m, v->len);
	if (v->in)
		munmap(v->in, v->len);
	if (v->out)
		munmap(v->out, v->len);
	if (v->h)
		munmap(v->h, v->len);
	free(v->old);
	memset(v, 0, sizeof(*v));
	v->uffd = -1;
}

/* READ @m into @h through the rkey; WRITE @h into @m; the local forms. */
static int mv_remote(struct mv *v, enum ibv_wr_opcode opc)
{
	return op(&v->a, 0, opc, v->h, (uint32_t)v->len, v->ha->lkey,
		  (uintptr_t)v->m, v->mb->rkey);
}

static int mv_local(struct mv *v, enum ibv_wr_opcode opc)
{
	return op(&v->a, 0, opc, v->m, (uint32_t)v->len, v->ma->lkey,
		  (uintptr_t)v->h, v->hb->rkey);
}

/*
 * A userfaultfd that can UFFDIO_MOVE: 0, 1 (skip, skipmsg says why) or
 * -1 (failmsg). Kernel faults on a hole of a registered range (the
 * device's, through hmm_range_fault()) must fail, not wait for a handler
 * nobody runs: UFFD_USER_MODE_ONLY, or else UFFD_FEATURE_SIGBUS, does it;
 * SIGBUS also makes a CPU touch of a hole (a bug of this test) a crash
 * rather than a hang.
 */
static int uffd_open_move(int *fdp)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_MOVE | UFFD_FEATURE_SIGBUS,
	};
	int fd;

	fd = (int)syscall(__NR_userfaultfd,
			  O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd < 0 && errno == EINVAL)
		fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(skipmsg, sizeof(skipmsg), "userfaultfd(): %s",
			 strerror(errno));
		return 1;
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = errno;

		/* Which features are there? A second fd answers. */
		close(fd);
		memset(&api, 0, sizeof(api));
		api.api = UFFD_API;
		fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
		if (fd >= 0 && !ioctl(fd, UFFDIO_API, &api) &&
		    !(api.features & UFFD_FEATURE_MOVE)) {
			close(fd);
			snprintf(skipmsg, sizeof(skipmsg),
				 "the kernel lacks UFFD_FEATURE_MOVE (UFFDIO_API "
				 "features 0x%llx)",
				 (unsigned long long)api.features);
			return 1;
		}
		if (fd >= 0)
			close(fd);
		snprintf(failmsg, sizeof(failmsg), "UFFDIO_API: %s",
			 strerror(err));
		return -1;
	}
	*fdp = fd;
	return 0;
}

/* Registers [@p, @p + @len) for missing faults: what a MOVE target needs. */
static int uffd_register(int fd, void *p, size_t len)
{
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &r))
		return -errno;
	return r.ioctls & (1ULL << _UFFDIO_MOVE) ? 0 : 1;
}

/*
 * UFFDIO_MOVE of @len bytes from @src to @dst: 0, 1 (the kernel has no
 * such ioctl: skipmsg) or -errno. EINVAL with the feature advertised is
 * this test breaking a rule of the move, a failure.
 */
static int uffd_move(int fd, void *dst, void *src, size_t len)
{
	struct uffdio_move m;
	size_t done = 0;

	while (done < len) {
		m = (struct uffdio_move){ .dst = (uintptr_t)dst + done,
					  .src = (uintptr_t)src + done,
					  .len = len - done };
		if (!ioctl(fd, UFFDIO_MOVE, &m)) {
			if (m.move != (__s64)(len - done))
				return -EIO;
			return 0;
		}
		if (errno == EAGAIN && m.move > 0) {
			done += (size_t)m.move;	/* partly moved: the rest */
			continue;
		}
		if (errno == ENOTTY) {
			snprintf(skipmsg, sizeof(skipmsg),
				 "UFFDIO_MOVE: ENOTTY (the kernel has no such ioctl)");
			return 1;
		}
		return -errno;
	}
	return 0;
}

/*
 * Sets up @v and has the device mirror @m through both MRs, writably
 * (remote WRITE and READ, local READ and WRITE), with pattern TAG_OLD.
 * Returns 0, 1 (skip) or -1 (failmsg).
 */
static int mv_setup(struct mv *v, enum path path, bool implicit)
{
	int st, rc = -1;

	memset(v, 0, sizeof(*v));
	v->uffd = -1;
	v->path = path;
	v->implicit = implicit;
	v->len = MV_PAGES * pg;
	CHECK(side_open(&v->a, dev_name, 1) == 0 &&
	      side_open(&v->b, path_dev(path, true), 1) == 0 &&
	      pair_connect(&v->a, &v->b, 0, 0) == 0, "QPs: %s",
	      strerror(errno));
	v->m = map_anon(v->len);
	v->in = map_anon(v->len);
	v->out = map_anon(v->len);
	v->h = map_anon(v->len);
	v->old = malloc(v->len);
	CHECK(v->m && v->in && v->out && v->h && v->old, "memory");
	if (implicit) {
		v->ma = ibv_reg_mr(v->a.pd, NULL, SIZE_MAX, ODP_ACCESS);
		v->mb = ibv_reg_mr(v->b.pd, NULL, SIZE_MAX, ODP_ACCESS);
	} else {
		v->ma = ibv_reg_mr(v->a.pd, v->m, v->len, ODP_ACCESS);
		v->mb = ibv_reg_mr(v->b.pd, v->m, v->len, ODP_ACCESS);
	}
	v->ha = ibv_reg_mr(v->a.pd, v->h, v->len, PIN_ACCESS);
	v->hb = ibv_reg_mr(v->b.pd, v->h, v->len, PIN_ACCESS);
	CHECK(v->ma && v->mb && v->ha && v->hb, "reg_mr: %s", strerror(errno));

	pat_fill(v->m, v->len, TAG_OLD);
	pat_fill(v->h, v->len, TAG_OLD);
	st = mv_remote(v, IBV_WR_RDMA_WRITE);
	CHECK(st == IBV_WC_SUCCESS, "priming remote WRITE: %s", st_str(st));
	st = mv_remote(v, IBV_WR_RDMA_READ);
	CHECK(st == IBV_WC_SUCCESS, "priming remote READ: %s", st_str(st));
	st = mv_local(v, IBV_WR_RDMA_READ);
	CHECK(st == IBV_WC_SUCCESS, "priming local READ: %s", st_str(st));
	st = mv_local(v, IBV_WR_RDMA_WRITE);
	CHECK(st == IBV_WC_SUCCESS, "priming local WRITE: %s", st_str(st));
	CHECK(pat_diff(v->m, v->len, TAG_OLD) < 0 &&
	      pat_diff(v->h, v->len, TAG_OLD) < 0, "priming moved wrong bytes");
	memcpy(v->old, v->m, v->len);

	rc = uffd_open_move(&v->uffd);
	if (rc)
		return rc;
	rc = -1;
	st = uffd_register(v->uffd, v->m, v->len);
	if (st == 0)
		st = uffd_register(v->uffd, v->out, v->len);
	if (st == 1) {
		snprintf(skipmsg, sizeof(skipmsg),
			 "UFFDIO_REGISTER offers no UFFDIO_MOVE");
		return 1;
	}
	CHECK(st == 0, "UFFDIO_REGISTER: %s", strerror(-st));
	rc = 0;
out:
	return rc;
}

/* Moves @m's pages to @out, then pattern @tag's pages from @in to @m. */
static int mv_swap(struct mv *v, unsigned int tag)
{
	int rc = -1, r;

	pat_fill(v->in, v->len, tag);
	r = uffd_move(v->uffd, v->out, v->m, v->len);
	if (r == 1)
		return 1;
	CHECK(r == 0, "UFFDIO_MOVE out of the mirrored range: %s",
	      strerror(-r));
	r = uffd_move(v->uffd, v->m, v->in, v->len);
	if (r == 1)
		return 1;
	CHECK(r == 0, "UFFDIO_MOVE into the mirrored range: %s",
	      strerror(-r));
	/* The CPU's view after the move: sanity of the test itself. */
	CHECK(pat_diff(v->m, v->len, tag) < 0 &&
	      memcmp(v->out, v->old, v->len) == 0,
	      "the move did not move what it said");
	rc = 0;
out:
	return rc;
}

enum mv_check { MV_READ_NEW, MV_WRITE_NEW, MV_OLD_UNTOUCHED };

static int uffd_move_case(enum path path, bool implicit, enum mv_check what)
{
	struct mv v;
	long d;
	int rc, st;

	rc = mv_setup(&v, path, implicit);
	if (rc)
		goto out;
	rc = mv_swap(&v, TAG_NEW);
	if (rc)
		goto out;
	rc = -1;
	switch (what) {
	case MV_READ_NEW:
		/* The responder reads the range through the rkey... */
		memset(v.h, 0, v.len);
		st = mv_remote(&v, IBV_WR_RDMA_READ);
		CHECK(st == IBV_WC_SUCCESS, "remote READ after the move: %s",
		      st_str(st));
		d = pat_diff(v.h, v.len, TAG_NEW);
		CHECK(d < 0, "remote READ: byte %ld (page %ld) is 0x%02x, not "
		      "the new page's 0x%02x%s", d, d / (long)pg, v.h[d],
		      v.m[d], v.h[d] == v.old[d] ? " (the old page's)" : "");
		/* ...and the requester through the lkey. */
		memset(v.h, 0, v.len);
		st = mv_local(&v, IBV_WR_RDMA_WRITE);
		CHECK(st == IBV_WC_SUCCESS, "local WRITE after the move: %s",
		      st_str(st));
		d = pat_diff(v.h, v.len, TAG_NEW);
		CHECK(d < 0, "local WRITE sent byte %ld (page %ld) 0x%02x, not "
		      "the new page's 0x%02x%s", d, d / (long)pg, v.h[d],
		      v.m[d], v.h[d] == v.old[d] ? " (the old page's)" : "");
		break;
	case MV_WRITE_NEW:
	case MV_OLD_UNTOUCHED:
		pat_fill(v.h, v.len, 0xc3);
		st = mv_remote(&v, IBV_WR_RDMA_WRITE);
		CHECK(st == IBV_WC_SUCCESS, "remote WRITE after the move: %s",
		      st_str(st));
		d = pat_diff(v.m, v.len, 0xc3);
		CHECK(what != MV_WRITE_NEW || d < 0,
		      "remote WRITE: byte %ld (page %ld) of the new page is "
		      "0x%02x, not the written one", d, d / (long)pg, v.m[d]);
		pat_fill(v.h, v.len, 0xd4);
		st = mv_local(&v, IBV_WR_RDMA_READ);
		CHECK(st == IBV_WC_SUCCESS, "local READ after the move: %s",
		      st_str(st));
		d = pat_diff(v.m, v.len, 0xd4);
		CHECK(what != MV_WRITE_NEW || d < 0,
		      "local READ: byte %ld (page %ld) of the new page is "
		      "0x%02x, not the read one", d, d / (long)pg, v.m[d]);
		if (what == MV_OLD_UNTOUCHED) {
			usleep(20000 * time_scale);	/* anything late */
			for (d = 0; d < (long)v.len; d++)
				CHECK(v.out[d] == v.old[d],
				      "the old page (now outside the range) "
				      "changed at byte %ld (page %ld): 0x%02x, "
				      "was 0x%02x", d, d / (long)pg, v.out[d],
				      v.old[d]);
		}
		break;
	}
	rc = 0;
out:
	mv_fini(&v);
	return rc;
}

static int uffd_move_in_read_returns_new_pages(enum path p)
{
	return uffd_move_case(p, false, MV_READ_NEW);
}

static int uffd_move_in_read_returns_new_pages_implicit(enum path p)
{
	return uffd_move_case(p, true, MV_READ_NEW);
}

static int uffd_move_in_write_lands_in_new_pages(enum path p)
{
	return uffd_move_case(p, false, MV_WRITE_NEW);
}

static int uffd_move_in_write_lands_in_new_pages_implicit(enum path p)
{
	return uffd_move_case(p, true, MV_WRITE_NEW);
}

static int uffd_move_out_device_never_touches_old_pages(enum path p)
{
	return uffd_move_case(p, false, MV_OLD_UNTOUCHED);
}

static int uffd_move_out_device_never_touches_old_pages_implicit(enum path p)
{
	return uffd_move_case(p, true, MV_OLD_UNTOUCHED);
}

/*
 * The concurrent form. A thread moves, page by page, @m's page out to
 * @out and a page of generation g in from @in, for g = 1, 2, ...; the
 * pages moved out before are dropped (MADV_DONTNEED) at the start of each
 * generation, so their memory goes back to the allocator and may hold
 * anything. Meanwhile READs of all of @m through the rkey: one started
 * after generation g was complete may return, word by word, only
 * generations g and later, each word the right one of its page; a READ
 * that faults a page in the instant between its move out and the move in
 * finds a hole of a registered range, which the kernel refuses to fill
 * (no handler): a clean REM_ACCESS_ERR, after which the QPs are
 * reconnected. After the thread stops, a READ returns the last
 * generation exactly.
 */
#define MV_GENS		24	/* at least, and ... */
#define MV_READS	40	/* ... at least, within 60 s (scaled) */

struct mover {
	struct mv *v;
	atomic_int started, done;
	atomic_bool stop;
	int err;
};

static void *mover_thread(void *arg)
{
	struct mover *mo = arg;
	struct mv *v = mo->v;
	size_t i;
	int g, r;

	for (g = 1; g < 0xffff && !atomic_load(&mo->stop); g++) {
		madvise(v->out, v->len, MADV_DONTNEED);
		pat_fill(v->in, v->len, (unsigned int)g);
		atomic_store(&mo->started, g);
		for (i = 0; i < v->len; i += pg) {
			r = uffd_move(v->uffd, v->out + i, v->m + i, pg);
			if (!r)
				r = uffd_move(v->uffd, v->m + i, v->in + i, pg);
			if (r) {
				mo->err = r == 1 ? -ENOTTY : r;
				return NULL;
			}
		}
		atomic_store(&mo->done, g);
		usleep(3000);	/* room for READs that find no hole */
	}
	return NULL;
}

/* The first word of @buf not of a generation in [lo, hi] (or not its own). */
static long gen_check(const uint8_t *buf, size_t len, int lo, int hi, int *gen)
{
	const uint64_t *w = (const void *)buf;
	size_t i, per = pg / 8;
	uint64_t x;

	for (i = 0; i < len / 8; i++) {
		x = w[i];
		*gen = (int)(x >> 48);
		if (*gen < lo || *gen > hi ||
		    (x & ((1ULL << 48) - 1)) != (pat_word(0, i / per, i % per)))
			return (long)i * 8;
	}
	return -1;
}

static int uffd_move_racing_reads(enum path path, bool implicit)
{
	struct mover mo = {};
	pthread_t thr;
	bool running = false;
	int rc, st, lo, hi, gen, ok = 0, holes = 0, n = 0, last;
	uint32_t psn = 0;
	double end;
	struct mv v;
	long d;

	rc = mv_setup(&v, path, implicit);
	if (rc)
		goto out;
	rc = -1;
	/* Generation 0 is what is there now: the same word layout, tag 0. */
	pat_fill(v.m, v.len, 0);
	mo.v = &v;
	CHECK(pthread_create(&thr, NULL, mover_thread, &mo) == 0, "thread");
	running = true;
	end = now() + 60.0 * time_scale;
	while ((atomic_load(&mo.done) < MV_GENS || n < MV_READS) && !mo.err &&
	       now() < end) {
		lo = atomic_load(&mo.done);
		memset(v.h, 0xee, v.len);
		st = mv_remote(&v, IBV_WR_RDMA_READ);
		hi = atomic_load(&mo.started);
		n++;
		if (st == IBV_WC_REM_ACCESS_ERR) {
			/* A hole, between a page's move out and in. */
			holes++;
			psn += 4096;
			CHECK(qp_reset(v.a.qp[0]) == 0 &&
			      qp_reset(v.b.qp[0]) == 0 &&
			      pair_connect(&v.a, &v.b, 0, psn) == 0,
			      "reconnect: %s", strerror(errno));
			continue;
		}
		CHECK(st == IBV_WC_SUCCESS, "READ %d during the moves: %s", n,
		      st_str(st));
		d = gen_check(v.h, v.len, lo, hi, &gen);
		CHECK(d < 0, "READ %d (after generation %d was in, before %d "
		      "started) returned at byte %ld (page %ld) word 0x%016llx "
		      "(generation %d)", n, lo, hi + 1, d, d / (long)pg,
		      (unsigned long long)*(uint64_t *)(v.h + d), gen);
		ok++;
	}
	atomic_store(&mo.stop, true);
	pthread_join(thr, NULL);
	running = false;
	CHECK(!mo.err, "the mover: %s", strerror(-mo.err));
	last = atomic_load(&mo.done);
	note("%d READs against %d generations: %d clean, %d found a hole "
	     "(REM_ACCESS_ERR)", n, last, ok, holes);
	CHECK(last >= MV_GENS, "only %d generations moved in 60 s", last);
	CHECK(ok > 0, "no READ got through between the moves");
	memset(v.h, 0, v.len);
	st = mv_remote(&v, IBV_WR_RDMA_READ);
	CHECK(st == IBV_WC_SUCCESS, "READ after the moves: %s", st_str(st));
	d = pat_diff(v.h, v.len, (unsigned int)last);
	CHECK(d < 0, "READ after the moves: byte %ld (page %ld) is not the "
	      "last generation's (%d)", d, d / (long)pg, last);
	rc = 0;
out:
	if (running) {
		atomic_store(&mo.stop, true);
		pthread_join(thr, NULL);
	}
	if (v.len)
		mv_fini(&v);
	return rc;
}

static int uffd_move_racing_reads_see_only_current_pages(enum path p)
{
	return uffd_move_racing_reads(p, false);
}

static int uffd_move_racing_reads_see_only_current_pages_implicit(enum path p)
{
	return uffd_move_racing_reads(p, true);
}

/* ---------------------------------------------------------------------- */
/* B. The uverbs file outliving its mm */

/*
 * The owner's QPs (on DEVICE) and the test's (T, on DEVICE or DEVICE2),
 * pairwise connected; each case uses its own pair, since an error leaves
 * an RC QP in the error state.
 */
enum {
	Q_PRIME,	/* priming, both ways */
	Q_W_E,		/* T: WRITE into the explicit MR */
	Q_R_E,		/* T: READ from it */
	Q_W_I,		/* T: WRITE into the implicit MR, mirrored before */
	Q_R_I,		/* T: READ from it */
	Q_W_I_NEW,	/* T: WRITE into the implicit MR, never mirrored */
	Q_RECV_E,	/* owner's receive into the explicit MR, T sends */
	Q_RECV_I,	/* owner's receive into the implicit MR, T sends */
	Q_INFL_E,	/* owner: SEND held by RNR, READ into explicit behind */
	Q_INFL_I,	/* owner: SEND held by RNR, READ into implicit behind */
	Q_CHILD,	/* the child's own post */
	NQ
};

/* Completions the owner's CQ gets after its death, by wr_id. */
enum {
	W_RECV_E = 10, W_RECV_I, W_SEND_E, W_READ_E, W_SEND_I, W_READ_I,
	W_CHILD, W_MAX
};

#define B_LEN		(8 * 4096)
#define IMPL_FAR	(64UL << 20)	/* an implicit address never touched */

struct shared {
	atomic_int stage;
	uint32_t o_qpn[NQ], t_qpn[NQ];
	union ibv_gid o_gid, t_gid;
	uint64_t r_addr, i_addr, tb_addr;
	uint32_t e_rkey, i_rkey, tb_rkey;
	int c_pid;
	int wc[W_MAX];			/* statuses in the owner's CQ, -3: none */
	int c_post;			/* the child's post_send return */
	int c_dereg_e, c_dereg_i;	/* the child's dereg_mr returns */
	double c_secs;			/* the child's run, to its exit */
	char mm_file[64];		/* see mm_watch_open() */
	char msg[512];
};

static struct shared *sh;

/*
 * When the owner's (old) mm is gone, as userspace can tell. A process's
 * death, or its exec, tears down its mm only when the last mm_users
 * reference goes, and that may not be the process's own: a fault the
 * device started for it a moment before (its requester faults the first
 * chunk of a READ's sink at every RNR retry) holds one and, being the
 * last, queues the teardown to a work item (mmput_async()). Until the
 * teardown's unmap has run, the pages mirrored before are still the mm's
 * and the device may use them; the keys must fail from then on.
 *
 * So the owner maps a file of T's, shared and not inherited by fork, and
 * closes its descriptor: the mapping then holds the file's last reference,
 * which goes when the teardown removes the mm's mappings (after its
 * invalidations), and inotify reports that close to T.
 */
struct mm_watch {
	int ino;
};

static int mm_watch_open(struct mm_watch *w)
{
	char path[] = "/dev/shm/mirror_lifetime_XXXXXX";
	int fd;

	w->ino = -1;
	fd = mkstemp(path);
	if (fd < 0)
		return -1;
	if (ftruncate(fd, 4096)) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);	/* before the watch: this close is not reported */
	w->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ino < 0 || inotify_add_watch(w->ino, path, IN_CLOSE) < 0) {
		unlink(path);
		return -1;
	}
	snprintf(sh->mm_file, sizeof(sh->mm_file), "%s", path);
	return 0;
}

/* In the owner: maps T's file for the life of its mm. */
static int mm_watch_map(void)
{
	void *p;
	int fd;

	fd = open(sh->mm_file, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -1;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);	/* not the last reference: not reported */
	if (p == MAP_FAILED || madvise(p, 4096, MADV_DONTFORK))
		return -1;
	return 0;
}

/* Waits (10 s, scaled) for the close that ends the owner's mm. */
static int mm_watch_wait(struct mm_watch *w, char *why, size_t n)
{
	double t0 = now();
	char ev[sizeof(struct inotify_event) + 64];
	struct pollfd pfd = { .fd = w->ino, .events = POLLIN };
	int r;

	r = poll(&pfd, 1, 10000 * time_scale);
	if (r == 1 && read(w->ino, ev, sizeof(ev)) > 0) {
		note("the owner's old mm torn down %.0f ms after it was gone",
		     (now() - t0) * 1e3);
		return 0;
	}
	snprintf(why, n, "the owner's old mm was never torn down: no close "
		 "of the file it mapped in %d s", 10 * time_scale);
	return -1;
}

static void mm_watch_close(struct mm_watch *w)
{
	if (w->ino >= 0)
		close(w->ino);
	w->ino = -1;
	if (sh->mm_file[0])
		unlink(sh->mm_file);
}

static int wait_stage(int want, double secs)
{
	double end = now() + secs * time_scale;

	while (atomic_load(&sh->stage) < want) {
		if (now() > end)
			return -1;
		usleep(1000);
	}
	return 0;
}

static void set_stage(int s)
{
	atomic_store(&sh->stage, s);
}

#define PFAIL(...)                                                             \
	do {                                                                   \
		snprintf(sh->msg, sizeof(sh->msg), __VA_ARGS__);               \
		goto out;                                                      \
	} while (0)

/* Waits for @pid (bounded); kills it when it is late. 0 if it exited 0. */
static int reap(pid_t pid, double secs)
{
	double end = now() + secs * time_scale;
	int st;

	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return -2;
		}
		usleep(2000);
	}
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Kills and waits for @pid, if any; for the unwinding of a failed case. */
static void reap_now(pid_t pid)
{
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

/* What a B1 scenario found, for the tests that each assert one part. */
struct b1_result {
	bool ran;
	int setup;			/* 0, or -1 with why */
	char why[600];
	int t_st[NQ];			/* T's completions per QP */
	int t_send_e, t_send_i;		/* T's SENDs to the dead receives */
	struct shared c;		/* the child's findings */
	int child_exit;			/* reap() of the child */
	int cnt;			/* odp_cnt_wait() */
	char cnt_why[300];
	long long live_mid;		/* odp_children_live while alive */
};

/*
 * The owner, a child of T: its context on DEVICE, QPs connected to T's,
 * an explicit ODP MR over @r and an implicit one (used at @i), mirrored
 * both ways; receives and RNR-held SENDs with READs behind them posted;
 * then it forks the child that keeps the file and exits (or waits to be
 * killed, @linger).
 */
static void owner_main(bool linger)
{
	struct ibv_mr *emr = NULL, *imr = NULL, *pmr = NULL;
	uint8_t *r, *i, *pb;
	struct side o;
	struct ibv_wc wc;
	pid_t c;
	int q, n;

	r = map_anon(B_LEN);
	i = map_anon(B_LEN);
	pb = map_anon(B_LEN);
	if (!r || !i || !pb || mm_watch_map() || side_open(&o, dev_name, NQ))
		PFAIL("owner: setup: %s", strerror(errno));
	emr = ibv_reg_mr(o.pd, r, B_LEN, ODP_ACCESS);
	imr = ibv_reg_mr(o.pd, NULL, SIZE_MAX, ODP_ACCESS);
	pmr = ibv_reg_mr(o.pd, pb, B_LEN, PIN_ACCESS);
	if (!emr || !imr || !pmr)
		PFAIL("owner: reg_mr: %s", strerror(errno));
	pat_fill(r, B_LEN, 0x11);
	pat_fill(i, B_LEN, 0x22);
	pat_fill(pb, B_LEN, 0x33);
	for (q = 0; q < NQ; q++)
		sh->o_qpn[q] = o.qp[q]->qp_num;
	sh->o_gid = o.gid;
	sh->r_addr = (uintptr_t)r;
	sh->i_addr = (uintptr_t)i;
	sh->e_rkey = emr->rkey;
	sh->i_rkey = imr->rkey;
	set_stage(1);
	if (wait_stage(2, 30))
		PFAIL("owner: T did not connect");
	for (q = 0; q < NQ; q++)
		if (qp_connect(o.qp[q], o.gidx, sh->t_qpn[q], &sh->t_gid, 0))
			PFAIL("owner: connect %d: %s", q, strerror(errno));
	/* The requester mirrors both MRs writably... */
	if (post(o.qp[Q_PRIME], IBV_WR_RDMA_WRITE, 1, r, B_LEN, emr->lkey,
		 sh->tb_addr, sh->tb_rkey) ||
	    post(o.qp[Q_PRIME], IBV_WR_RDMA_READ, 2, i, B_LEN, imr->lkey,
		 sh->tb_addr, sh->tb_rkey))
		PFAIL("owner: post: %s", strerror(errno));
	for (n = 0; n < 2; n++)
		if (wait_cq(o.cq, &wc, 30) != 1 || wc.status != IBV_WC_SUCCESS)
			PFAIL("owner: priming op %d: %s", n,
			      ibv_wc_status_str(wc.status));
	/* ...receives into both, and SENDs that wait for T's receives. */
	if (post_recv(o.qp[Q_RECV_E], W_RECV_E, r, 256, emr->lkey) ||
	    post_recv(o.qp[Q_RECV_I], W_RECV_I, i, 256, imr->lkey) ||
	    post(o.qp[Q_INFL_E], IBV_WR_SEND, W_SEND_E, pb, 64, pmr->lkey,
		 0, 0) ||
	    post(o.qp[Q_INFL_E], IBV_WR_RDMA_READ, W_READ_E, r, 4096,
		 emr->lkey, sh->tb_addr, sh->tb_rkey) ||
	    post(o.qp[Q_INFL_I], IBV_WR_SEND, W_SEND_I, pb, 64, pmr->lkey,
		 0, 0) ||
	    post(o.qp[Q_INFL_I], IBV_WR_RDMA_READ, W_READ_I, i, 4096,
		 imr->lkey, sh->tb_addr, sh->tb_rkey))
		PFAIL("owner: post: %s", strerror(errno));
	set_stage(3);	/* T now writes and reads both MRs */
	if (wait_stage(4, 60))
		PFAIL("owner: T did not prime");

	fflush(stdout);
	c = fork();
	if (c < 0)
		PFAIL("owner: fork: %s", strerror(errno));
	if (c == 0) {
		/*
		 * The child: the owner's context, QPs and MRs by inheritance.
		 * It waits until T has reaped the owner and used its keys.
		 */
		double t0 = now();
		int seen = 0, want = W_CHILD - W_RECV_E;

		if (wait_stage(6, 120))
			_exit(3);
		/* What the device completed for the dead owner (10 s). */
		while (seen < want && wait_cq(o.cq, &wc, 10) == 1) {
			if (wc.wr_id >= W_RECV_E && wc.wr_id < W_MAX) {
				sh->wc[wc.wr_id] = wc.status;
				seen++;
			}
		}
		/*
		 * Its own WRITE from the dead owner's explicit MR: the
		 * doorbell is a plain write(), which ib_core refuses this
		 * process (EACCES); should it run anyway, it must fail.
		 */
		sh->c_post = post(o.qp[Q_CHILD], IBV_WR_RDMA_WRITE, W_CHILD,
				  r, 4096, emr->lkey, sh->tb_addr,
				  sh->tb_rkey);
		if (!sh->c_post && wait_cq(o.cq, &wc, 10) == 1)
			sh->wc[wc.wr_id < W_MAX ? wc.wr_id : W_CHILD] =
				wc.status;
		/* dereg_mr is an ioctl(): it works from here. */
		sh->c_dereg_e = ibv_dereg_mr(emr);
		sh->c_dereg_i = ibv_dereg_mr(imr);
		sh->c_secs = now() - t0;
		set_stage(7);
		_exit(0);	/* the last reference to the file goes */
	}
	sh->c_pid = c;
	set_stage(5);
	if (linger)
		for (;;)
			pause();
	_exit(0);
out:
	set_stage(100);
	_exit(1);
}

/*
 * Runs the owner/child scenario once per path and kill mode (@kill_it:
 * SIGKILL instead of exit) and remembers what happened.
 */
static struct b1_result *owner_gone(enum path path, bool kill_it)
{
	static struct b1_result res[2][2];
	struct b1_result *b = &res[path][kill_it];
	uint8_t *tb = NULL;
	struct ibv_mr *tmr = NULL;
	struct odp_cnt base, mid;
	struct mm_watch mw = { .ino = -1 };
	struct side t = {};
	pid_t owner = -1, child = -1;
	int q, st;

	if (b->ran)
		return b;
	memset(b, 0, sizeof(*b));
	b->ran = true;
	b->setup = -1;
	memset(sh, 0, sizeof(*sh));
	for (q = 0; q < W_MAX; q++)
		sh->wc[q] = -3;
	sh->c_post = -1;
	sh->c_dereg_e = sh->c_dereg_i = -1;
	odp_cnt_read(&base);

	tb = map_anon(B_LEN);
	if (!tb || mm_watch_open(&mw) ||
	    side_open(&t, path_dev(path, true), NQ)) {
		snprintf(b->why, sizeof(b->why), "T: setup: %s",
			 strerror(errno));
		goto out;
	}
	tmr = ibv_reg_mr(t.pd, tb, B_LEN, PIN_ACCESS);
	if (!tmr) {
		snprintf(b->why, sizeof(b->why), "T: reg_mr: %s",
			 strerror(errno));
		goto out;
	}
	for (q = 0; q < NQ; q++)
		sh->t_qpn[q] = t.qp[q]->qp_num;
	sh->t_gid = t.gid;
	sh->tb_addr = (uintptr_t)tb;
	sh->tb_rkey = tmr->rkey;
	fflush(stdout);
	owner = fork();
	if (owner == 0)
		owner_main(kill_it);
	if (owner < 0 || wait_stage(1, 60) || sh->stage >= 100) {
		snprintf(b->why, sizeof(b->why), "owner setup: %s", sh->msg);
		goto out;
	}
	for (q = 0; q < NQ; q++)
		if (qp_connect(t.qp[q], t.gidx, sh->o_qpn[q], &sh->o_gid, 0)) {
			snprintf(b->why, sizeof(b->why), "T: connect: %s",
				 strerror(errno));
			goto out;
		}
	set_stage(2);
	if (wait_stage(3, 60) || sh->stage >= 100) {
		snprintf(b->why, sizeof(b->why), "owner: %s", sh->msg);
		goto out;
	}
	/* T mirrors both of the owner's MRs through their rkeys. */
	pat_fill(tb, B_LEN, 0x44);
	st = op(&t, Q_PRIME, IBV_WR_RDMA_WRITE, tb, B_LEN, tmr->lkey,
		sh->r_addr, sh->e_rkey);
	if (st == IBV_WC_SUCCESS)
		st = op(&t, Q_PRIME, IBV_WR_RDMA_WRITE, tb, B_LEN, tmr->lkey,
			sh->i_addr, sh->i_rkey);
	if (st == IBV_WC_SUCCESS)
		st = op(&t, Q_PRIME, IBV_WR_RDMA_READ, tb, B_LEN, tmr->lkey,
			sh->r_addr, sh->e_rkey);
	if (st != IBV_WC_SUCCESS) {
		snprintf(b->why, sizeof(b->why), "T: priming: %s", st_str(st));
		goto out;
	}
	odp_cnt_read(&mid);
	b->live_mid = mid.live[0];
	set_stage(4);
	if (wait_stage(5, 60) || sh->stage >= 100) {
		snprintf(b->why, sizeof(b->why), "owner: %s", sh->msg);
		goto out;
	}
	child = sh->c_pid;
	if (kill_it)
		kill(owner, SIGKILL);
	st = reap(owner, 30);
	owner = -1;
	if (st != 0 && !kill_it) {
		snprintf(b->why, sizeof(b->why), "the owner did not exit");
		goto out;
	}
	if (mm_watch_wait(&mw, b->why, sizeof(b->why)))
		goto out;
	b->setup = 0;

	/* The owner's mm is gone; its file lives on in the child. */
	b->t_st[Q_W_E] = op(&t, Q_W_E, IBV_WR_RDMA_WRITE, tb, 4096, tmr->lkey,
			    sh->r_addr, sh->e_rkey);
	b->t_st[Q_R_E] = op(&t, Q_R_E, IBV_WR_RDMA_READ, tb, 4096, tmr->lkey,
			    sh->r_addr, sh->e_rkey);
	b->t_st[Q_W_I] = op(&t, Q_W_I, IBV_WR_RDMA_WRITE, tb, 4096, tmr->lkey,
			    sh->i_addr, sh->i_rkey);
	b->t_st[Q_R_I] = op(&t, Q_R_I, IBV_WR_RDMA_READ, tb, 4096, tmr->lkey,
			    sh->i_addr, sh->i_rkey);
	b->t_st[Q_W_I_NEW] = op(&t, Q_W_I_NEW, IBV_WR_RDMA_WRITE, tb, 4096,
				tmr->lkey, sh->i_addr + IMPL_FAR, sh->i_rkey);
	b->t_send_e = op(&t, Q_RECV_E, IBV_WR_SEND, tb, 64, tmr->lkey, 0, 0);
	b->t_send_i = op(&t, Q_RECV_I, IBV_WR_SEND, tb, 64, tmr->lkey, 0, 0);
	/* Let the owner's RNR-held SENDs in: the READs behind them follow. */
	if (post_recv(t.qp[Q_INFL_E], 1, tb, 256, tmr->lkey) ||
	    post_recv(t.qp[Q_INFL_I], 2, tb + 256, 256, tmr->lkey))
		note("T: post_recv: %s", strerror(errno));
	set_stage(6);
	b->child_exit = reap(child, 90);
	child = -1;
	memcpy(&b->c, sh, sizeof(*sh));
	b->cnt = odp_cnt_wait(&base, b->cnt_why, sizeof(b->cnt_why));
out:
	reap_now(owner);
	reap_now(child);
	mm_watch_close(&mw);
	if (tmr)
		ibv_dereg_mr(tmr);
	side_close(&t);
	if (tb)
		munmap(tb, B_LEN);
	return b;
}

#define B1_SETUP(b)                                                            \
	CHECK((b)->setup == 0, "scenario: %.400s", (b)->why)

static int owner_gone_rkeys_of_its_odp_mrs_fail_cleanly(enum path path,
							bool kill_it)
{
	struct b1_result *b = owner_gone(path, kill_it);
	static const struct { int q; const char *what; } ops[] = {
		{ Q_W_E, "WRITE into the explicit MR" },
		{ Q_R_E, "READ from the explicit MR" },
		{ Q_W_I, "WRITE into the implicit MR (mirrored before)" },
		{ Q_R_I, "READ from the implicit MR (mirrored before)" },
		{ Q_W_I_NEW, "WRITE into the implicit MR (a new child)" },
	};
	int rc = -1;
	size_t k;

	B1_SETUP(b);
	for (k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
		CHECK(b->t_st[ops[k].q] == IBV_WC_REM_ACCESS_ERR,
		      "%s of the dead owner: %s, not REM_ACCESS_ERR",
		      ops[k].what, st_str(b->t_st[ops[k].q]));
	rc = 0;
out:
	return rc;
}

static int owner_gone_receives_into_its_odp_mrs_fail_cleanly(enum path path,
							     bool kill_it)
{
	struct b1_result *b = owner_gone(path, kill_it);
	int rc = -1;

	B1_SETUP(b);
	CHECK(b->t_send_e == IBV_WC_REM_OP_ERR &&
	      b->t_send_i == IBV_WC_REM_OP_ERR,
	      "T's SENDs to receives in the dead owner's explicit/implicit "
	      "MR: %s / %s, not REM_OP_ERR", st_str(b->t_send_e),
	      st_str(b->t_send_i));
	CHECK(b->c.wc[W_RECV_E] == IBV_WC_LOC_PROT_ERR &&
	      b->c.wc[W_RECV_I] == IBV_WC_LOC_PROT_ERR,
	      "the receives completed %s / %s, not LOC_PROT_ERR",
	      st_str(b->c.wc[W_RECV_E]), st_str(b->c.wc[W_RECV_I]));
	rc = 0;
out:
	return rc;
}

static int owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors(
	enum path path, bool kill_it)
{
	struct b1_result *b = owner_gone(path, kill_it);
	int rc = -1;

	B1_SETUP(b);
	/* The SENDs come from pinned memory: it outlives the mm. */
	CHECK(b->c.wc[W_SEND_E] == IBV_WC_SUCCESS &&
	      b->c.wc[W_SEND_I] == IBV_WC_SUCCESS,
	      "the RNR-held SENDs (pinned memory) completed %s / %s",
	      st_str(b->c.wc[W_SEND_E]), st_str(b->c.wc[W_SEND_I]));
	CHECK(b->c.wc[W_READ_E] == IBV_WC_LOC_PROT_ERR &&
	      b->c.wc[W_READ_I] == IBV_WC_LOC_PROT_ERR,
	      "READs into the dead owner's explicit/implicit MR completed "
	      "%s / %s, not LOC_PROT_ERR", st_str(b->c.wc[W_READ_E]),
	      st_str(b->c.wc[W_READ_I]));
	rc = 0;
out:
	return rc;
}

static int owner_gone_child_with_the_file_gets_errors_and_deregisters(
	enum path path, bool kill_it)
{
	struct b1_result *b = owner_gone(path, kill_it);
	int rc = -1;

	B1_SETUP(b);
	CHECK(b->child_exit == 0, "the child %s",
	      b->child_exit == -2 ? "hung (killed after 90 s)" :
				    "did not finish its steps");
	note("child: post_send %d (%s), WR %s, dereg %d/%d, %.2f s",
	     b->c.c_post, b->c.c_post > 0 ? strerror(b->c.c_post) : "-",
	     st_str(b->c.wc[W_CHILD]), b->c.c_dereg_e, b->c.c_dereg_i,
	     b->c.c_secs);
	CHECK(b->c.c_post > 0 || (b->c.c_post == 0 &&
				  b->c.wc[W_CHILD] != IBV_WC_SUCCESS &&
				  b->c.wc[W_CHILD] != -3),
	      "the child's WRITE from the dead owner's ODP MR: post %d, "
	      "completion %s", b->c.c_post, st_str(b->c.wc[W_CHILD]));
	CHECK(b->c.c_dereg_e == 0 && b->c.c_dereg_i == 0,
	      "the child's dereg_mr of the explicit/implicit MR: %s / %s",
	      strerror(b->c.c_dereg_e), strerror(b->c.c_dereg_i));
	rc = 0;
out:
	return rc;
}

static int owner_gone_odp_counters_return(enum path path, bool kill_it)
{
	struct b1_result *b = owner_gone(path, kill_it);
	int rc = -1;

	B1_SETUP(b);
	CHECK(b->live_mid > 0, "odp_children_live was %lld with the implicit "
	      "MR mirrored: the counter says nothing", b->live_mid);
	CHECK(b->cnt == 0, "%.500s", b->cnt_why);
	rc = 0;
out:
	return rc;
}

#define B1_EXIT(n)                                                             \
	static int n##_exit(enum path p) { return n(p, false); }
#define B1_KILL(n)                                                             \
	static int n##_kill(enum path p) { return n(p, true); }

B1_EXIT(owner_gone_rkeys_of_its_odp_mrs_fail_cleanly)
B1_EXIT(owner_gone_receives_into_its_odp_mrs_fail_cleanly)
B1_EXIT(owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors)
B1_EXIT(owner_gone_child_with_the_file_gets_errors_and_deregisters)
B1_EXIT(owner_gone_odp_counters_return)
B1_KILL(owner_gone_rkeys_of_its_odp_mrs_fail_cleanly)
B1_KILL(owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors)
B1_KILL(owner_gone_child_with_the_file_gets_errors_and_deregisters)
B1_KILL(owner_gone_odp_counters_return)

/* ---------------------------------------------------------------------- */
/* B2 and B3: T owns the MRs; a child comes and goes (or execs) */

/*
 * T's own set: @a on DEVICE with an explicit ODP MR over @r and an
 * implicit one (used at @i), @b on DEVICE or DEVICE2 with a pinned buffer
 * @tb; QP 0 connected. "Remote" ops: @b reads and writes @r/@i through
 * the rkeys; "local": @a moves @r/@i through the lkeys to/from @tb.
 */
struct own {
	struct side a, b;
	uint8_t *r, *i, *tb;
	struct ibv_mr *emr, *imr, *tmr;
};

static void own_fini(struct own *w)
{
	if (w->emr)
		ibv_dereg_mr(w->emr);
	if (w->imr)
		ibv_dereg_mr(w->imr);
	if (w->tmr)
		ibv_dereg_mr(w->tmr);
	side_close(&w->a);
	side_close(&w->b);
	if (w->r)
		munmap(w->r, B_LEN);
	if (w->i)
		munmap(w->i, B_LEN);
	if (w->tb)
		munmap(w->tb, B_LEN);
	memset(w, 0, sizeof(*w));
}

static int own_remote(struct own *w, enum ibv_wr_opcode opc, bool implicit)
{
	return op(&w->b, 0, opc, w->tb, B_LEN, w->tmr->lkey,
		  (uintptr_t)(implicit ? w->i : w->r),
		  implicit ? w->imr->rkey : w->emr->rkey);
}

static int own_local(struct own *w, enum ibv_wr_opcode opc, bool implicit)
{
	return op(&w->a, 0, opc, implicit ? w->i : w->r, B_LEN,
		  implicit ? w->imr->lkey : w->emr->lkey, (uintptr_t)w->tb,
		  w->tmr->rkey);
}

/* Sets @w up and mirrors both MRs writably; 0 or -1 (failmsg). */
static int own_setup(struct own *w, enum path path)
{
	int rc = -1, st, k;

	memset(w, 0, sizeof(*w));
	CHECK(side_open(&w->a, dev_name, 1) == 0 &&
	      side_open(&w->b, path_dev(path, true), 1) == 0 &&
	      pair_connect(&w->a, &w->b, 0, 0) == 0, "QPs: %s",
	      strerror(errno));
	w->r = map_anon(B_LEN);
	w->i = map_anon(B_LEN);
	w->tb = map_anon(B_LEN);
	CHECK(w->r && w->i && w->tb, "memory");
	w->emr = ibv_reg_mr(w->a.pd, w->r, B_LEN, ODP_ACCESS);
	w->imr = ibv_reg_mr(w->a.pd, NULL, SIZE_MAX, ODP_ACCESS);
	w->tmr = ibv_reg_mr(w->b.pd, w->tb, B_LEN, PIN_ACCESS);
	CHECK(w->emr && w->imr && w->tmr, "reg_mr: %s", strerror(errno));
	for (k = 0; k < 2; k++) {
		pat_fill(w->tb, B_LEN, 0x50);
		st = own_remote(w, IBV_WR_RDMA_WRITE, k);
		CHECK(st == IBV_WC_SUCCESS, "priming WRITE: %s", st_str(st));
		st = own_remote(w, IBV_WR_RDMA_READ, k);
		CHECK(st == IBV_WC_SUCCESS, "priming READ: %s", st_str(st));
		CHECK(pat_diff(k ? w->i : w->r, B_LEN, 0x50) < 0,
		      "priming WRITE landed wrong");
	}
	rc = 0;
out:
	return rc;
}

/*
 * Byte-for-byte: a remote WRITE of pattern @tag into both MRs lands (CPU),
 * a remote READ returns it, a local READ puts @tag + 1 into them and a
 * local WRITE sends it. 0 or -1 (failmsg).
 */
static int own_all_work(struct own *w, unsigned int tag, const char *when)
{
	int rc = -1, st, k;
	long d;

	for (k = 0; k < 2; k++) {
		const char *mr = k ? "implicit" : "explicit";
		uint8_t *mem = k ? w->i : w->r;

		pat_fill(w->tb, B_LEN, tag);
		st = own_remote(w, IBV_WR_RDMA_WRITE, k);
		CHECK(st == IBV_WC_SUCCESS, "%s: remote WRITE into the %s MR: "
		      "%s", when, mr, st_str(st));
		d = pat_diff(mem, B_LEN, tag);
		CHECK(d < 0, "%s: remote WRITE into the %s MR: byte %ld is "
		      "0x%02x", when, mr, d, mem[d]);
		memset(w->tb, 0, B_LEN);
		st = own_remote(w, IBV_WR_RDMA_READ, k);
		CHECK(st == IBV_WC_SUCCESS, "%s: remote READ of the %s MR: %s",
		      when, mr, st_str(st));
		d = pat_diff(w->tb, B_LEN, tag);
		CHECK(d < 0, "%s: remote READ of the %s MR: byte %ld is 0x%02x",
		      when, mr, d, w->tb[d]);
		pat_fill(w->tb, B_LEN, tag + 1);
		st = own_local(w, IBV_WR_RDMA_READ, k);
		CHECK(st == IBV_WC_SUCCESS, "%s: local READ into the %s MR: %s",
		      when, mr, st_str(st));
		d = pat_diff(mem, B_LEN, tag + 1);
		CHECK(d < 0, "%s: local READ into the %s MR: byte %ld is 0x%02x",
		      when, mr, d, mem[d]);
		memset(w->tb, 0, B_LEN);
		st = own_local(w, IBV_WR_RDMA_WRITE, k);
		CHECK(st == IBV_WC_SUCCESS, "%s: local WRITE from the %s MR: %s",
		      when, mr, st_str(st));
		d = pat_diff(w->tb, B_LEN, tag + 1);
		CHECK(d < 0, "%s: local WRITE from the %s MR: byte %ld is "
		      "0x%02x", when, mr, d, w->tb[d]);
	}
	rc = 0;
out:
	return rc;
}

/* What the B2 scenario (the child exits first) found. */
struct b2_result {
	bool ran;
	int setup;
	char why[700];
	int parent_sees_child;	/* -1: fine; else the failing byte */
	int parent_after;	/* own_all_work() after the child's exit */
	char after_why[700];
	int cnt;
	char cnt_why[300];
	int c_copy_before, c_copy_after;	/* -1 fine; else a byte */
	int c_query;		/* the child's ibv_query_qp() return */
	int child_exit;
};

/*
 * T forks a child after mirroring its MRs. T's device writes pattern Y
 * into them; the child must still see the pre-fork bytes (its copy),
 * then writes X into its copy; T's device must read Y, never X. The
 * child exits; T's MRs must go on working byte for byte, and after T
 * deregisters them the counters return.
 */
static struct b2_result *child_first(enum path path)
{
	static struct b2_result res[2];
	struct b2_result *b = &res[path];
	struct odp_cnt base;
	struct own w;
	pid_t child = -1;
	int st, k;
	long d;

	if (b->ran)
		return b;
	memset(b, 0, sizeof(*b));
	b->ran = true;
	b->setup = -1;
	b->parent_sees_child = -1;
	memset(sh, 0, sizeof(*sh));
	odp_cnt_read(&base);
	failmsg[0] = '\0';
	if (own_setup(&w, path)) {
		snprintf(b->why, sizeof(b->why), "%.600s", failmsg);
		goto out;
	}
	fflush(stdout);
	child = fork();
	if (child < 0) {
		snprintf(b->why, sizeof(b->why), "fork: %s", strerror(errno));
		goto out;
	}
	if (child == 0) {
		struct ibv_qp_attr qa;
		struct ibv_qp_init_attr qi;

		if (wait_stage(1, 60))
			_exit(3);
		/* T's device wrote 0x60 after the fork: not into our copy. */
		d = pat_diff(w.r, B_LEN, 0x50);
		if (d < 0)
			d = pat_diff(w.i, B_LEN, 0x50);
		sh->wc[0] = (int)d;
		pat_fill(w.r, B_LEN, 0x70);
		pat_fill(w.i, B_LEN, 0x70);
		set_stage(2);
		if (wait_stage(3, 60))
			_exit(3);
		d = pat_diff(w.r, B_LEN, 0x70);
		if (d < 0)
			d = pat_diff(w.i, B_LEN, 0x70);
		sh->wc[1] = (int)d;
		/*
		 * A verb through the kernel on the inherited QP (not a post:
		 * the rings are shared with T's, a WQE published here would
		 * be T's to run). libibverbs sends query_qp by ioctl(): it
		 * works from the child (noted, not judged: ib_core's rule).
		 */
		sh->wc[2] = ibv_query_qp(w.a.qp[0], &qa, IBV_QP_STATE, &qi);
		_exit(0);
	}
	b->setup = 0;
	pat_fill(w.tb, B_LEN, 0x60);
	st = own_remote(&w, IBV_WR_RDMA_WRITE, false);
	if (st == IBV_WC_SUCCESS)
		st = own_remote(&w, IBV_WR_RDMA_WRITE, true);
	if (st != IBV_WC_SUCCESS) {
		b->setup = -1;
		snprintf(b->why, sizeof(b->why),
			 "remote WRITE after the fork: %s", st_str(st));
		goto out;
	}
	set_stage(1);
	if (wait_stage(2, 60)) {
		b->setup = -1;
		snprintf(b->why, sizeof(b->why), "the child did not write");
		goto out;
	}
	/* The child wrote 0x70 into its copy: the device reads ours. */
	for (k = 0; k < 2; k++) {
		memset(w.tb, 0, B_LEN);
		st = own_remote(&w, IBV_WR_RDMA_READ, k);
		d = pat_diff(w.tb, B_LEN, 0x60);
		if (st != IBV_WC_SUCCESS || d >= 0) {
			b->parent_sees_child = st != IBV_WC_SUCCESS ? 0 :
					       (int)d;
			snprintf(b->why, sizeof(b->why),
				 "READ of T's %s MR after the child wrote its "
				 "copy: %s, byte %ld = 0x%02x%s",
				 k ? "implicit" : "explicit", st_str(st), d,
				 d >= 0 ? w.tb[d] : 0,
				 d >= 0 && w.tb[d] == 0x70 ? " (the child's)" :
				 "");
			break;
		}
	}
	set_stage(3);
	b->child_exit = reap(child, 60);
	child = -1;
	b->c_copy_before = sh->wc[0];
	b->c_copy_after = sh->wc[1];
	b->c_query = sh->wc[2];
	failmsg[0] = '\0';
	b->parent_after = own_all_work(&w, 0x80, "after the child exited");
	snprintf(b->after_why, sizeof(b->after_why), "%.600s", failmsg);
	own_fini(&w);
	b->cnt = odp_cnt_wait(&base, b->cnt_why, sizeof(b->cnt_why));
	return b;
out:
	reap_now(child);
	own_fini(&w);
	return b;
}

static int device_writes_after_fork_never_reach_the_child(enum path path)
{
	struct b2_result *b = child_first(path);
	int rc = -1;

	CHECK(b->setup == 0, "scenario: %.400s", b->why);
	CHECK(b->child_exit == 0, "the child did not finish (%d)",
	      b->child_exit);
	CHECK(b->c_copy_before < 0, "the child's copy changed at byte %d after "
	      "T's device wrote T's MRs", b->c_copy_before);
	CHECK(b->c_copy_after < 0, "the child's copy lost its own writes at "
	      "byte %d", b->c_copy_after);
	rc = 0;
out:
	return rc;
}

static int child_writes_never_reach_the_parent_odp_mrs(enum path path)
{
	struct b2_result *b = child_first(path);
	int rc = -1;

	CHECK(b->setup == 0, "scenario: %.400s", b->why);
	CHECK(b->parent_sees_child < 0, "%.500s", b->why);
	rc = 0;
out:
	return rc;
}

static int child_exit_parent_odp_mrs_still_work(enum path path)
{
	struct b2_result *b = child_first(path);
	int rc = -1;

	CHECK(b->setup == 0, "scenario: %.400s", b->why);
	note("the child's query_qp on the inherited QP: %d (%s)", b->c_query,
	     b->c_query > 0 ? strerror(b->c_query) : "-");
	CHECK(b->parent_after == 0, "%.500s", b->after_why);
	rc = 0;
out:
	return rc;
}

static int child_exit_odp_counters_return(enum path path)
{
	struct b2_result *b = child_first(path);
	int rc = -1;

	CHECK(b->setup == 0, "scenario: %.400s", b->why);
	CHECK(b->cnt == 0, "%.500s", b->cnt_why);
	rc = 0;
out:
	return rc;
}

/* ---------------------------------------------------------------------- */
/* B3. exec with the file open */

/*
 * "mirror_lifetime_test --hold FD IN OUT": what an exec'd image holding a
 * uverbs file does. It says on OUT whether FD is an open uverbs file
 * ('h') or not ('x'), then waits until IN has a byte or closes, and exits.
 */
static int hold_main(int argc, char **argv)
{
	char link[64], target[256] = "";
	int fd, in, outfd;
	char c = 'x';
	ssize_t n;

	if (argc != 5)
		return 2;
	fd = atoi(argv[2]);
	in = atoi(argv[3]);
	outfd = atoi(argv[4]);
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, target, sizeof(target) - 1);
	if (n > 0 && strstr(target, "uverbs"))
		c = 'h';
	if (write(outfd, &c, 1) != 1)
		return 1;
	n = read(in, &c, 1);
	(void)n;
	return 0;
}

/* Execs the --hold image with @fd kept open across the exec. */
static void exec_holder(int fd, int in, int outfd)
{
	char a[3][16];

	snprintf(a[0], sizeof(a[0]), "%d", fd);
	snprintf(a[1], sizeof(a[1]), "%d", in);
	snprintf(a[2], sizeof(a[2]), "%d", outfd);
	/* libibverbs opens the file close-on-exec: keep it. */
	fcntl(fd, F_SETFD, 0);
	execl("/proc/self/exe", "mirror_lifetime_test", "--hold", a[0], a[1],
	      a[2], (char *)NULL);
	_exit(127);
}

/* Reads the holder's one-byte report (bounded): the byte, or 0. */
static char holder_says(int fd, double secs)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c = 0;

	if (poll(&p, 1, (int)(secs * 1000 * time_scale)) == 1 &&
	    read(fd, &c, 1) == 1)
		return c;
	return 0;
}

/* What the B3 owner-execs scenario found. */
struct b3_result {
	bool ran;
	int setup;
	char why[600];
	int st_w_e, st_r_i, st_send;
	int holder_exit;
	int cnt;
	char cnt_why[300];
};

enum { X_W_E, X_R_I, X_RECV, X_PRIME, NX };

/*
 * The owner of the exec case: registers both MRs, mirrors them through
 * its requester, posts a receive into the explicit one and execs the
 * --hold image with its uverbs file kept open.
 */
static void exec_owner_main(int to_h[2], int from_h[2])
{
	uint8_t *r = map_anon(B_LEN), *i = map_anon(B_LEN);
	struct ibv_mr *emr, *imr;
	struct ibv_wc wc;
	struct side o;
	int q;

	close(to_h[1]);
	close(from_h[0]);
	if (!r || !i || mm_watch_map() || side_open(&o, dev_name, NX))
		PFAIL("owner: setup: %s", strerror(errno));
	emr = ibv_reg_mr(o.pd, r, B_LEN, ODP_ACCESS);
	imr = ibv_reg_mr(o.pd, NULL, SIZE_MAX, ODP_ACCESS);
	if (!emr || !imr)
		PFAIL("owner: reg_mr: %s", strerror(errno));
	for (q = 0; q < NX; q++)
		sh->o_qpn[q] = o.qp[q]->qp_num;
	sh->o_gid = o.gid;
	sh->r_addr = (uintptr_t)r;
	sh->i_addr = (uintptr_t)i;
	sh->e_rkey = emr->rkey;
	sh->i_rkey = imr->rkey;
	set_stage(1);
	if (wait_stage(2, 60))
		PFAIL("owner: T did not connect");
	for (q = 0; q < NX; q++)
		if (qp_connect(o.qp[q], o.gidx, sh->t_qpn[q], &sh->t_gid, 0))
			PFAIL("owner: connect: %s", strerror(errno));
	pat_fill(r, B_LEN, 0x91);
	pat_fill(i, B_LEN, 0x92);
	if (post(o.qp[X_PRIME], IBV_WR_RDMA_READ, 1, r, B_LEN, emr->lkey,
		 sh->tb_addr, sh->tb_rkey) ||
	    post(o.qp[X_PRIME], IBV_WR_RDMA_READ, 2, i, B_LEN, imr->lkey,
		 sh->tb_addr, sh->tb_rkey) ||
	    post_recv(o.qp[X_RECV], 3, r, 256, emr->lkey))
		PFAIL("owner: post: %s", strerror(errno));
	for (q = 0; q < 2; q++)
		if (wait_cq(o.cq, &wc, 30) != 1 || wc.status != IBV_WC_SUCCESS)
			PFAIL("owner: priming: %s",
			      ibv_wc_status_str(wc.status));
	set_stage(3);
	exec_holder(o.ctx->cmd_fd, to_h[0], from_h[1]);
out:
	set_stage(100);
	_exit(1);
}

/*
 * The owner registers both MRs, mirrors them, posts a receive into the
 * explicit one and execs itself keeping the uverbs file: its mm is gone,
 * the file (and the QPs and MRs) stays with the new image. T's WRITE and
 * READ through the rkeys must fail with REM_ACCESS_ERR, its SEND with
 * REM_OP_ERR (the QP is alive: no RETRY_EXC_ERR). When the image exits,
 * the counters return.
 */
static struct b3_result *owner_execs(enum path path)
{
	static struct b3_result res[2];
	struct b3_result *b = &res[path];
	int to_h[2] = { -1, -1 }, from_h[2] = { -1, -1 }, q, st;
	struct ibv_mr *tmr = NULL;
	struct mm_watch mw = { .ino = -1 };
	struct odp_cnt base;
	struct side t = {};
	uint8_t *tb = NULL;
	pid_t owner = -1;
	char c;

	if (b->ran)
		return b;
	memset(b, 0, sizeof(*b));
	b->ran = true;
	b->setup = -1;
	memset(sh, 0, sizeof(*sh));
	odp_cnt_read(&base);
	tb = map_anon(B_LEN);
	if (!tb || mm_watch_open(&mw) ||
	    side_open(&t, path_dev(path, true), NX) ||
	    !(tmr = ibv_reg_mr(t.pd, tb, B_LEN, PIN_ACCESS)) || pipe(to_h) ||
	    pipe(from_h)) {
		snprintf(b->why, sizeof(b->why), "T: setup: %s",
			 strerror(errno));
		goto out;
	}
	for (q = 0; q < NX; q++)
		sh->t_qpn[q] = t.qp[q]->qp_num;
	sh->t_gid = t.gid;
	sh->tb_addr = (uintptr_t)tb;
	sh->tb_rkey = tmr->rkey;
	fflush(stdout);
	owner = fork();
	if (owner == 0)
		exec_owner_main(to_h, from_h);
	close(to_h[0]);
	close(from_h[1]);
	to_h[0] = from_h[1] = -1;
	if (owner < 0 || wait_stage(1, 60) || sh->stage >= 100) {
		snprintf(b->why, sizeof(b->why), "owner: %s", sh->msg);
		goto out;
	}
	for (q = 0; q < NX; q++)
		if (qp_connect(t.qp[q], t.gidx, sh->o_qpn[q], &sh->o_gid, 0)) {
			snprintf(b->why, sizeof(b->why), "T: connect: %s",
				 strerror(errno));
			goto out;
		}
	pat_fill(tb, B_LEN, 0x93);
	set_stage(2);
	if (wait_stage(3, 60) || sh->stage >= 100) {
		snprintf(b->why, sizeof(b->why), "owner: %s", sh->msg);
		goto out;
	}
	c = holder_says(from_h[0], 60);
	if (c != 'h') {
		snprintf(b->why, sizeof(b->why), "the exec'd owner %s",
			 c ? "lost the uverbs file" : "never reported");
		goto out;
	}
	if (mm_watch_wait(&mw, b->why, sizeof(b->why)))
		goto out;
	b->setup = 0;
	/* The owner's old mm is gone (exec); its file lives on. */
	b->st_w_e = op(&t, X_W_E, IBV_WR_RDMA_WRITE, tb, 4096, tmr->lkey,
		       sh->r_addr, sh->e_rkey);
	b->st_r_i = op(&t, X_R_I, IBV_WR_RDMA_READ, tb, 4096, tmr->lkey,
		       sh->i_addr, sh->i_rkey);
	st = op(&t, X_RECV, IBV_WR_SEND, tb, 64, tmr->lkey, 0, 0);
	b->st_send = st;
	close(to_h[1]);		/* the holder exits, closing the file */
	to_h[1] = -1;
	b->holder_exit = reap(owner, 60);
	owner = -1;
	b->cnt = odp_cnt_wait(&base, b->cnt_why, sizeof(b->cnt_why));
out:
	reap_now(owner);
	mm_watch_close(&mw);
	if (to_h[1] >= 0)
		close(to_h[1]);
	if (from_h[0] >= 0)
		close(from_h[0]);
	if (to_h[0] >= 0)
		close(to_h[0]);
	if (from_h[1] >= 0)
		close(from_h[1]);
	if (tmr)
		ibv_dereg_mr(tmr);
	side_close(&t);
	if (tb)
		munmap(tb, B_LEN);
	return b;
}

static int exec_owner_odp_mrs_fail_cleanly_while_the_file_lives(
	enum path path)
{
	struct b3_result *b = owner_execs(path);
	int rc = -1;

	CHECK(b->setup == 0, "scenario: %.400s", b->why);
	CHECK(b->st_w_e == IBV_WC_REM_ACCESS_ERR,
	      "WRITE into the exec'd owner's explicit MR: %s, not "
	      "REM_ACCESS_ERR", st_str(b->st_w_e));
	CHECK(b->st_r_i == IBV_WC_REM_ACCESS_ERR,
	      "READ from the exec'd owner's implicit MR: %s, not "
	      "REM_ACCESS_ERR", st_str(b->st_r_i));
	CHECK(b->st_send == IBV_WC_REM_OP_ERR,
	      "SEND to the receive in the exec'd owner's explicit MR: %s, not "
	      "REM_OP_ERR", st_str(b->st_send));
	rc = 0;
out:
	return rc;
}

static int exec_owner_odp_counters_return_when_the_file_closes(
	enum path path)
{
	struct b3_result *b = owner_execs(path);
	int rc = -1;

	CHECK(b->setup == 0, "scenario: %.400s", b->why);
	CHECK(b->holder_exit == 0, "the exec'd image %s",
	      b->holder_exit == -2 ? "hung" : "failed");
	CHECK(b->cnt == 0, "%.500s", b->cnt_why);
	rc = 0;
out:
	return rc;
}

/*
 * T mirrors its MRs and forks a child that execs holding T's uverbs file
 * (the child's copied mm is gone at the exec; T's is not). While the
 * exec'd image holds the file, and after it exits, T's MRs work byte for
 * byte; once T deregisters them the counters return.
 */
static int child_exec_with_the_file(enum path path, bool counters)
{
	int to_h[2] = { -1, -1 }, from_h[2] = { -1, -1 }, rc = -1, st;
	struct odp_cnt base;
	char why[300];
	struct own w;
	pid_t child = -1;
	char c;

	memset(&w, 0, sizeof(w));
	odp_cnt_read(&base);
	if (own_setup(&w, path))
		goto out;
	CHECK(pipe(to_h) == 0 && pipe(from_h) == 0, "pipe");
	fflush(stdout);
	child = fork();
	CHECK(child >= 0, "fork");
	if (child == 0) {
		close(to_h[1]);
		close(from_h[0]);
		exec_holder(w.a.ctx->cmd_fd, to_h[0], from_h[1]);
	}
	close(to_h[0]);
	close(from_h[1]);
	to_h[0] = from_h[1] = -1;
	c = holder_says(from_h[0], 60);
	CHECK(c == 'h', "the exec'd child %s",
	      c ? "lost the uverbs file" : "never reported");
	if (own_all_work(&w, 0xa0, "while the exec'd child holds the file"))
		goto out;
	close(to_h[1]);
	to_h[1] = -1;
	st = reap(child, 60);
	child = -1;
	CHECK(st == 0, "the exec'd child %s", st == -2 ? "hung" : "failed");
	if (own_all_work(&w, 0xb0, "after the exec'd child exited"))
		goto out;
	own_fini(&w);
	if (counters)
		CHECK(odp_cnt_wait(&base, why, sizeof(why)) == 0, "%s", why);
	rc = 0;
out:
	reap_now(child);
	if (to_h[1] >= 0)
		close(to_h[1]);
	if (from_h[0] >= 0)
		close(from_h[0]);
	if (to_h[0] >= 0)
		close(to_h[0]);
	if (from_h[1] >= 0)
		close(from_h[1]);
	own_fini(&w);
	return rc;
}

static int child_exec_with_the_file_parent_odp_mrs_still_work(enum path p)
{
	return child_exec_with_the_file(p, false);
}

static int child_exec_with_the_file_odp_counters_return(enum path p)
{
	return child_exec_with_the_file(p, true);
}

/* ---------------------------------------------------------------------- */

/*
 * A forked child posts on a QP its parent made: ib_core refuses write()
 * to a task with other credentials than the file's opener, so the
 * provider's doorbell must take the ioctl path. The child WRITEs from the
 * parent's pinned buffer (its pages, filled before the fork) into the far
 * side's MR and must see the completion succeed; the parent then checks
 * the bytes.
 */
static int forked_child_posts_on_the_inherited_qp(enum path path)
{
	struct side a = { 0 }, b = { 0 };
	struct ibv_mr *src_mr = NULL, *dst_mr = NULL;
	uint8_t *src = NULL, *dst = NULL;
	size_t len = 8192;
	pid_t child;
	int rc = -1, st;
	long d;

	CHECK(!side_open(&a, path_dev(path, false), 1), "open %s",
	      path_dev(path, false));
	CHECK(!side_open(&b, path_dev(path, true), 1), "open %s",
	      path_dev(path, true));
	CHECK(!pair_connect(&a, &b, 0, 0x1234), "connect: %s",
	      strerror(errno));
	src = map_anon(len);
	dst = map_anon(len);
	CHECK(src && dst, "mmap");
	pat_fill(src, len, 0x41);
	memset(dst, 0, len);
	src_mr = ibv_reg_mr(a.pd, src, len, PIN_ACCESS);
	dst_mr = ibv_reg_mr(b.pd, dst, len, PIN_ACCESS);
	CHECK(src_mr && dst_mr, "reg_mr: %s", strerror(errno));
	child = fork();
	CHECK(child >= 0, "fork: %s", strerror(errno));
	if (!child) {
		st = op(&a, 0, IBV_WR_RDMA_WRITE, src, (uint32_t)len,
			src_mr->lkey, (uintptr_t)dst, dst_mr->rkey);
		_exit(st == IBV_WC_SUCCESS ? 0 : 100 + st);
	}
	CHECK(waitpid(child, &st, 0) == child, "waitpid");
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "the child's WRITE on the inherited QP: %s",
	      !WIFEXITED(st) ? "the child died" :
	      st_str(WEXITSTATUS(st) - 100));
	d = pat_diff(dst, len, 0x41);
	CHECK(d < 0, "byte %ld of the target is 0x%02x, not the sent 0x%02x",
	      d, d < 0 ? 0 : dst[d], d < 0 ? 0 : src[d]);
	rc = 0;
out:
	if (src_mr)
		ibv_dereg_mr(src_mr);
	if (dst_mr)
		ibv_dereg_mr(dst_mr);
	side_close(&a);
	side_close(&b);
	if (src)
		munmap(src, len);
	if (dst)
		munmap(dst, len);
	return rc;
}

#define BOTH(n)                                                                \
	static int n##_same(void) { return n(PATH_SAME); }                     \
	static int n##_wire(void) { return n(PATH_WIRE); }
#define TT(n) { #n " (same device)", n##_same, false }, \
	      { #n " (RoCEv2)", n##_wire, false }

BOTH(uffd_move_in_read_returns_new_pages)
BOTH(uffd_move_in_read_returns_new_pages_implicit)
BOTH(uffd_move_in_write_lands_in_new_pages)
BOTH(uffd_move_in_write_lands_in_new_pages_implicit)
BOTH(uffd_move_out_device_never_touches_old_pages)
BOTH(uffd_move_out_device_never_touches_old_pages_implicit)
BOTH(uffd_move_racing_reads_see_only_current_pages)
BOTH(uffd_move_racing_reads_see_only_current_pages_implicit)
BOTH(owner_gone_rkeys_of_its_odp_mrs_fail_cleanly_exit)
BOTH(owner_gone_receives_into_its_odp_mrs_fail_cleanly_exit)
BOTH(owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors_exit)
BOTH(owner_gone_child_with_the_file_gets_errors_and_deregisters_exit)
BOTH(owner_gone_odp_counters_return_exit)
BOTH(owner_gone_rkeys_of_its_odp_mrs_fail_cleanly_kill)
BOTH(owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors_kill)
BOTH(owner_gone_child_with_the_file_gets_errors_and_deregisters_kill)
BOTH(owner_gone_odp_counters_return_kill)
BOTH(device_writes_after_fork_never_reach_the_child)
BOTH(child_writes_never_reach_the_parent_odp_mrs)
BOTH(child_exit_parent_odp_mrs_still_work)
BOTH(child_exit_odp_counters_return)
BOTH(exec_owner_odp_mrs_fail_cleanly_while_the_file_lives)
BOTH(exec_owner_odp_counters_return_when_the_file_closes)
BOTH(child_exec_with_the_file_parent_odp_mrs_still_work)
BOTH(child_exec_with_the_file_odp_counters_return)
BOTH(forked_child_posts_on_the_inherited_qp)

static const struct test tests[] = {
	TT(uffd_move_in_read_returns_new_pages),
	TT(uffd_move_in_read_returns_new_pages_implicit),
	TT(uffd_move_in_write_lands_in_new_pages),
	TT(uffd_move_in_write_lands_in_new_pages_implicit),
	TT(uffd_move_out_device_never_touches_old_pages),
	TT(uffd_move_out_device_never_touches_old_pages_implicit),
	TT(uffd_move_racing_reads_see_only_current_pages),
	TT(uffd_move_racing_reads_see_only_current_pages_implicit),
	TT(owner_gone_rkeys_of_its_odp_mrs_fail_cleanly_exit),
	TT(owner_gone_receives_into_its_odp_mrs_fail_cleanly_exit),
	TT(owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors_exit),
	TT(owner_gone_child_with_the_file_gets_errors_and_deregisters_exit),
	TT(owner_gone_odp_counters_return_exit),
	TT(owner_gone_rkeys_of_its_odp_mrs_fail_cleanly_kill),
	TT(owner_gone_queued_wrs_on_its_odp_mrs_complete_with_errors_kill),
	TT(owner_gone_child_with_the_file_gets_errors_and_deregisters_kill),
	TT(owner_gone_odp_counters_return_kill),
	TT(device_writes_after_fork_never_reach_the_child),
	TT(child_writes_never_reach_the_parent_odp_mrs),
	TT(child_exit_parent_odp_mrs_still_work),
	TT(child_exit_odp_counters_return),
	TT(exec_owner_odp_mrs_fail_cleanly_while_the_file_lives),
	TT(exec_owner_odp_counters_return_when_the_file_closes),
	TT(child_exec_with_the_file_parent_odp_mrs_still_work),
	TT(child_exec_with_the_file_odp_counters_return),
	TT(forked_child_posts_on_the_inherited_qp),
};

int main(int argc, char **argv)
{
	char **args;
	int i, n = 0;

	if (argc > 1 && !strcmp(argv[1], "--hold"))
		return hold_main(argc, argv);
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args)
		return 2;
	for (i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-W") && i + 1 < argc) {
			wire_dev = argv[++i];
			continue;
		}
		args[n++] = argv[i];
	}
	if (!wire_dev) {
		fprintf(stderr,
			"usage: %s [-d DEV] -W DEV2 [-v] [TEST...]\n", argv[0]);
		return 2;
	}
	time_scale = mirror_test_time_scale();
	pg = (size_t)sysconf(_SC_PAGESIZE);
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	/* The owners' children come back to us when their parent goes. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	return mirror_tap_main(n, args, tests,
			       (int)(sizeof(tests) / sizeof(tests[0])), true);
}
