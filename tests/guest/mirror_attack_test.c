// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_attack_test.c - the local attacker of the threat model: an
 * unprivileged user (uid 65534) who can open the uverbs devices, runs as
 * many processes as it likes, and rewrites the rings it has mapped at any
 * moment. Each test attacks one hole found in the review of main at
 * 28dfa1e and asserts that it is closed: the attacker gets a clean errno
 * or error completion, the victim (a root process) sees nothing, and the
 * kernel log stays clean (the harness checks it).
 *
 * Every attack runs on both paths: "same device" (all QPs on DEVICE) and
 * "RoCEv2" (the attacker's end, or the victim's peer, on DEVICE2: mirror1
 * across the veth pair); a case that cannot apply to a path says so as a
 * skip with a reason. The attacker runs in a forked child that has dropped
 * to uid/gid 65534 before it opens a device; it reaches the ring slots it
 * rewrites through the provider's own structures, the mapping any process
 * has of its rings.
 *
 * Setup the suite expects (tests/guest/attack-local.sh does it): DEVICE2
 * up in another namespace with 10.11.0.2 and a second address, 10.11.0.3,
 * and /dev/infiniband readable and writable by everyone (what rdma-core's
 * udev rules give a real host).
 *
 * Usage: mirror_attack_test [-d DEVICE] -W DEVICE2 [-v] [TEST-SUBSTRING...]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <infiniband/verbs.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuse_stall.h"
#include "mirror.h"		/* the provider's QP: where its SQ ring is */
#include "mirror_tap.h"
#include "mirror_testlib.h"
#include "mirrorverbs.h"

#define NOBODY		65534
#define MSG_LEN		64
#define RO_FILE		"/tmp/mirror_attack_ro"
#define RO_LEN		(1 << 20)
#define ADDR_OTHER	"10.11.0.3"	/* a second address on DEVICE2's netdev */

enum path { PATH_SAME, PATH_WIRE };

static const char *wire_dev;
static int time_scale = 1;

/* What the victim (parent) and the attacker (child) tell each other. */
struct shared {
	atomic_int stage;
	uint32_t v_qpn, a_qpn;
	union ibv_gid v_gid, a_gid;
	uint32_t v_rkey, v_psn, a_psn;
	uint64_t v_addr;
	int a_status[8];
	char msg[512];
};

static struct shared *sh;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Waits (bounded) until the other process has reached @want. */
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

/* One end of a connection, in whichever process opened it. */
struct end {
	struct ibv_context *ctx;
	int gidx;
	union ibv_gid gid;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
};

static const char *dev_of(enum path p, bool far)
{
	return far && p == PATH_WIRE ? wire_dev : dev_name;
}

static const char *ip_of(const char *dev)
{
	return strcmp(dev, dev_name) ? "10.11.0.2" : "10.11.0.1";
}

/* A QP of @type on @dev (through @ip's GID), with its own PD unless @pd. */
static int end_init(struct end *e, const char *dev, const char *ip,
		    enum ibv_qp_type type, struct ibv_pd *pd)
{
	struct ibv_qp_init_attr ia = {
		.qp_type = type,
		.cap = { .max_send_wr = 64, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	memset(e, 0, sizeof(*e));
	e->ctx = mirror_test_open(dev);
	if (!e->ctx || mirror_test_ipv4_gid(e->ctx, ip, &e->gidx, &e->gid))
		return -1;
	e->pd = pd ? pd : ibv_alloc_pd(e->ctx);
	e->cq = ibv_create_cq(e->ctx, 256, NULL, NULL, 0);
	if (!e->pd || !e->cq)
		return -1;
	ia.send_cq = e->cq;
	ia.recv_cq = e->cq;
	e->qp = ibv_create_qp(e->pd, &ia);
	return e->qp ? 0 : -1;
}

static void end_fini(struct end *e)
{
	if (e->qp)
		ibv_destroy_qp(e->qp);
	if (e->cq)
		ibv_destroy_cq(e->cq);
	if (e->pd)
		ibv_dealloc_pd(e->pd);
	if (e->ctx)
		ibv_close_device(e->ctx);
	memset(e, 0, sizeof(*e));
}

/* How a QP is connected: its peer, PSNs, limits. */
struct conn {
	uint32_t dqpn;
	union ibv_gid dgid;
	uint32_t rq_psn, sq_psn;
	int max_dest_rd;	/* -1: 4 */
	uint8_t rnr_timer;
	int access;		/* -1: remote write, read, atomic */
	uint8_t timeout;	/* RC: 0 is 14 (67 ms) */
};

static int end_connect(struct end *e, const struct conn *c)
{
	bool rc = e->qp->qp_type == IBV_QPT_RC;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = c->access >= 0 ? c->access :
				   IBV_ACCESS_REMOTE_WRITE |
				   (rc ? IBV_ACCESS_REMOTE_READ |
					 IBV_ACCESS_REMOTE_ATOMIC : 0),
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		   IBV_QP_ACCESS_FLAGS;

	if (ibv_modify_qp(e->qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = c->dqpn;
	a.rq_psn = c->rq_psn;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = c->dgid;
	a.ah_attr.grh.sgid_index = (uint8_t)e->gidx;
	a.ah_attr.grh.hop_limit = 64;
	mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	       IBV_QP_RQ_PSN;
	if (rc) {
		a.max_dest_rd_atomic = (uint8_t)(c->max_dest_rd >= 0 ?
						 c->max_dest_rd : 4);
		a.min_rnr_timer = c->rnr_timer ? c->rnr_timer : 1;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (ibv_modify_qp(e->qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = c->sq_psn;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (rc) {
		/* 14: 67 ms, at least 50 ms here */
		a.timeout = c->timeout ? c->timeout : 14;
		a.retry_cnt = 2;
		a.rnr_retry = 7;
		a.max_rd_atomic = 4;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(e->qp, &a, mask) ? -1 : 0;
}

/* Connects two ends to each other (PSN 0 both ways). */
static int end_pair(struct end *a, struct end *b, int max_dest_rd)
{
	struct conn ca = { .dqpn = b->qp->qp_num, .dgid = b->gid,
			   .max_dest_rd = max_dest_rd, .access = -1 };
	struct conn cb = { .dqpn = a->qp->qp_num, .dgid = a->gid,
			   .max_dest_rd = max_dest_rd, .access = -1 };

	return end_connect(a, &ca) || end_connect(b, &cb) ? -1 : 0;
}

static int post_send(struct end *e, enum ibv_wr_opcode op, uint64_t wr_id,
		     void *addr, uint32_t len, uint32_t lkey, uint64_t raddr,
		     uint32_t rkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len,
			       .lkey = lkey };
	struct ibv_send_wr wr = {
		.wr_id = wr_id, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		wr.wr.atomic.remote_addr = raddr;
		wr.wr.atomic.rkey = rkey;
		wr.wr.atomic.compare_add = 1;
	} else {
		wr.wr.rdma.remote_addr = raddr;
		wr.wr.rdma.rkey = rkey;
	}
	return ibv_post_send(e->qp, &wr, &bad);
}

static int post_recv(struct end *e, uint64_t wr_id, void *addr, uint32_t len,
		     uint32_t lkey)
{
	struct ibv_sge sge = { .addr = (uintptr_t)addr, .length = len,
			       .lkey = lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge,
				  .num_sge = 1 }, *bad;

	return ibv_post_recv(e->qp, &wr, &bad);
}

/* The next completion within @secs (scaled); 1 when there was one. */
static int wait_wc(struct end *e, struct ibv_wc *wc, double secs)
{
	double end = now() + secs * time_scale;
	int n;

	do {
		n = ibv_poll_cq(e->cq, 1, wc);
		if (n)
			return n < 0 ? -1 : 1;
		usleep(200);
	} while (now() < end);
	return 0;
}

/* ---------------------------------------------------------------------- */
/* The attacker's process */

static int drop_privileges(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY))
		return -1;
	return getuid() == NOBODY && geteuid() == NOBODY ? 0 : -1;
}

/*
 * Runs @fn as uid 65534 in a child; returns its result (0 = all its
 * checks held), or -1 if it crashed or did not finish within @secs.
 */
static int as_nobody(int (*fn)(void *), void *arg, double secs)
{
	double end;
	pid_t pid;
	int st;

	sh->msg[0] = '\0';
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (drop_privileges()) {
			snprintf(sh->msg, sizeof(sh->msg), "cannot drop to %d",
				 NOBODY);
			_exit(3);
		}
		_exit(fn(arg) ? 1 : 0);
	}
	end = now() + secs * time_scale;
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (now() > end) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			snprintf(sh->msg, sizeof(sh->msg),
				 "the attacker did not finish in %.0f s", secs);
			return -1;
		}
		usleep(2000);
	}
	if (!WIFEXITED(st))
		snprintf(sh->msg, sizeof(sh->msg), "the attacker died (%d)",
			 WTERMSIG(st));
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs @fn as the attacker: 0 when all its checks held (it may note why). */
static int run_attacker(int (*fn)(void *), void *arg, double secs)
{
	int rc = -1;

	CHECK(as_nobody(fn, arg, secs) == 0, "%s", sh->msg);
	if (sh->msg[0])
		note("%s", sh->msg);
	rc = 0;
out:
	return rc;
}

#define AFAIL(...)                                                             \
	do {                                                                   \
		snprintf(sh->msg, sizeof(sh->msg), __VA_ARGS__);               \
		goto out;                                                      \
	} while (0)

/* The provider's SQ slot of the WQE posted last on @qp. */
static struct mirror_send_wqe *last_sq_slot(struct ibv_qp *qp)
{
	struct mirror_qp *mqp = container_of(qp, struct mirror_qp, vqp.qp);
	uint32_t prod = mirror_ring_load_own(&mqp->sq.hdr->producer);

	return mirror_ring_slot_addr(mqp->sq.map, prod - 1,
				     mqp->sq.num_slots, mqp->sq.stride);
}

/* Rewrites a posted WQE as a SEND from @addr of MR @lkey, as an attacker. */
static void rewrite_as_send(struct mirror_send_wqe *w, void *addr,
			    uint32_t len, uint32_t lkey, uint64_t wr_id)
{
	volatile struct mirror_sge *sge = (void *)(w + 1);

	((volatile struct mirror_send_wqe *)w)->opcode = IBV_WR_SEND;
	((volatile struct mirror_send_wqe *)w)->wr_id = wr_id;
	sge->addr = (uintptr_t)addr;
	sge->length = len;
	sge->lkey = lkey;
}

/* ---------------------------------------------------------------------- */
/* 1. A WQE rewritten in the ring after it was posted changes nothing */

struct rewrite_arg {
	enum path path;
};

static int rewrite_attacker(void *arg)
{
	enum path path = ((struct rewrite_arg *)arg)->path;
	struct end a = {}, b = {};
	struct ibv_mr *w_mr = NULL, *ro_mr = NULL, *b_mr = NULL;
	char *w = NULL, *bbuf = NULL, *ro = MAP_FAILED;
	struct ibv_wc wc;
	int fd, rc = -1, i;

	w = aligned_alloc(4096, RO_LEN);
	bbuf = aligned_alloc(4096, RO_LEN);
	if (!w || !bbuf)
		AFAIL("alloc");
	memset(w, 0, RO_LEN);
	memset(bbuf, 0xab, RO_LEN);
	/* A file the attacker may read, not write. */
	fd = open(RO_FILE, O_RDONLY);
	if (fd < 0)
		AFAIL("open " RO_FILE ": %s", strerror(errno));
	ro = mmap(NULL, RO_LEN, PROT_READ, MAP_SHARED, fd, 0);
	if (ro == MAP_FAILED) {
		close(fd);
		AFAIL("mmap: %s", strerror(errno));
	}
	if (end_init(&a, dev_of(path, false), ip_of(dev_of(path, false)),
		     IBV_QPT_RC, NULL) ||
	    end_init(&b, dev_of(path, true), ip_of(dev_of(path, true)),
		     IBV_QPT_RC, NULL)) {
		close(fd);
		AFAIL("setup: %s", strerror(errno));
	}
	w_mr = ibv_reg_mr(a.pd, w, RO_LEN, IBV_ACCESS_LOCAL_WRITE);
	/* No local write: the kernel may only ever read through this MR. */
	ro_mr = ibv_reg_mr(a.pd, ro, RO_LEN, 0);
	if (!ro_mr && errno == EFAULT) {
		/*
		 * Before 6.2, ib_umem_get() pins even a read-only MR with
		 * FOLL_WRITE | FOLL_FORCE, which GUP refuses on a shared
		 * mapping without write permission. A private read-only
		 * mapping it pins as private copies of the file's pages:
		 * the MR must not write those either (checked below).
		 */
		munmap(ro, RO_LEN);
		ro = mmap(NULL, RO_LEN, PROT_READ, MAP_PRIVATE, fd, 0);
		if (ro == MAP_FAILED) {
			close(fd);
			AFAIL("mmap private: %s", strerror(errno));
		}
		ro_mr = ibv_reg_mr(a.pd, ro, RO_LEN, 0);
	}
	close(fd);
	b_mr = ibv_reg_mr(b.pd, bbuf, RO_LEN, IBV_ACCESS_LOCAL_WRITE |
			  IBV_ACCESS_REMOTE_READ);
	if (!w_mr || !ro_mr || !b_mr)
		AFAIL("reg_mr: %s", strerror(errno));

	if (path == PATH_WIRE) {
		/*
		 * A 1 MiB READ: 1024 responses. The slot is rewritten right
		 * after the doorbell, so nearly all of them arrive after: a
		 * completer that fetched the slot again would write them
		 * through the read-only MR into the file's page cache.
		 */
		if (end_pair(&a, &b, -1))
			AFAIL("connect: %s", strerror(errno));
		if (post_send(&a, IBV_WR_RDMA_READ, 7, w, RO_LEN, w_mr->lkey,
			      (uintptr_t)bbuf, b_mr->rkey))
			AFAIL("post READ: %s", strerror(errno));
		rewrite_as_send(last_sq_slot(a.qp), ro, RO_LEN, ro_mr->lkey,
				99);
		if (wait_wc(&a, &wc, 30) != 1)
			AFAIL("no completion of the READ");
		if (wc.status != IBV_WC_SUCCESS || wc.wr_id != 7 ||
		    wc.opcode != IBV_WC_RDMA_READ)
			AFAIL("READ completed %s, wr_id %llu, opcode %d",
			      ibv_wc_status_str(wc.status),
			      (unsigned long long)wc.wr_id, wc.opcode);
		for (i = 0; i < RO_LEN; i++)
			if ((unsigned char)w[i] != 0xab)
				AFAIL("byte %d of the READ's buffer is 0x%x", i,
				      (unsigned char)w[i]);
	} else {
		/*
		 * Same device: a SEND waits out an RNR (no receive posted);
		 * while it waits the slot becomes a SEND of the read-only
		 * file with another wr_id. The retry must send the original.
		 */
		struct conn ca = { .dqpn = b.qp->qp_num, .dgid = b.gid,
				   .access = -1, .max_dest_rd = -1 };
		struct conn cb = { .dqpn = a.qp->qp_num, .dgid = a.gid,
				   .access = -1, .max_dest_rd = -1,
				   .rnr_timer = 20 };	/* 10 ms */

		memset(w, 0xcd, MSG_LEN);
		if (end_connect(&a, &ca) || end_connect(&b, &cb))
			AFAIL("connect: %s", strerror(errno));
		if (post_send(&a, IBV_WR_SEND, 7, w, MSG_LEN, w_mr->lkey, 0, 0))
			AFAIL("post SEND: %s", strerror(errno));
		rewrite_as_send(last_sq_slot(a.qp), ro, MSG_LEN, ro_mr->lkey,
				99);
		usleep(30000);	/* a few retries */
		if (post_recv(&b, 1, bbuf, 4096, b_mr->lkey))
			AFAIL("post_recv: %s", strerror(errno));
		if (wait_wc(&b, &wc, 10) != 1 || wc.status != IBV_WC_SUCCESS ||
		    wc.byte_len != MSG_LEN)
			AFAIL("the receive did not complete with 64 bytes");
		for (i = 0; i < MSG_LEN; i++)
			if ((unsigned char)bbuf[i] != 0xcd)
				AFAIL("received byte %d is 0x%x, not the posted 0xcd",
				      i, (unsigned char)bbuf[i]);
		if (wait_wc(&a, &wc, 10) != 1 || wc.wr_id != 7 ||
		    wc.status != IBV_WC_SUCCESS)
			AFAIL("the SEND completed with wr_id %llu, %s",
			      (unsigned long long)wc.wr_id,
			      ibv_wc_status_str(wc.status));
	}
	/* The pages behind the read-only MR, as this process maps them. */
	for (i = 0; i < RO_LEN; i++)
		if ((unsigned char)ro[i] != 0x11)
			AFAIL("byte %d behind the read-only MR is 0x%x", i,
			      (unsigned char)ro[i]);
	rc = 0;
out:
	if (b_mr)
		ibv_dereg_mr(b_mr);
	if (ro_mr)
		ibv_dereg_mr(ro_mr);
	if (w_mr)
		ibv_dereg_mr(w_mr);
	end_fini(&a);
	end_fini(&b);
	if (ro != MAP_FAILED)
		munmap(ro, RO_LEN);
	free(w);
	free(bbuf);
	return rc;
}

static int rewritten_wqe_changes_nothing(enum path path)
{
	struct rewrite_arg arg = { .path = path };
	unsigned char *page = NULL;
	int fd, i, rc = -1;

	/* Root's file, readable by everyone, full of 0x11. */
	page = malloc(RO_LEN);
	CHECK(page, "malloc");
	memset(page, 0x11, RO_LEN);
	fd = open(RO_FILE, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	CHECK(fd >= 0 && write(fd, page, RO_LEN) == RO_LEN, "write " RO_FILE);
	close(fd);
	CHECK(as_nobody(rewrite_attacker, &arg, 120) == 0, "%s", sh->msg);
	/* What the page cache holds now, as root sees it. */
	fd = open(RO_FILE, O_RDONLY);
	CHECK(fd >= 0 && read(fd, page, RO_LEN) == RO_LEN, "read back");
	close(fd);
	for (i = 0; i < RO_LEN; i++)
		CHECK(page[i] == 0x11, "the read-only file changed at byte %d "
		      "(0x%x)", i, page[i]);
	rc = 0;
out:
	free(page);
	unlink(RO_FILE);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* 2. A QP that is not the victim's peer reaches none of its QPs */

/* Attacker: connects to the victim's QP and tries every operation. */
static int bind_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	enum ibv_wr_opcode ops[] = { IBV_WR_SEND, IBV_WR_RDMA_WRITE,
				     IBV_WR_RDMA_READ,
				     IBV_WR_ATOMIC_FETCH_AND_ADD };
	const char *dev = dev_of(path, true);
	/* On the wire, from an address the victim's peer does not have. */
	const char *ip = path == PATH_WIRE ? ADDR_OTHER : ip_of(dev);
	uint64_t buf[512] = {};
	struct ibv_mr *mr = NULL;
	struct ibv_wc wc;
	struct end a = {};
	int rc = -1;
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		struct conn c = { .dqpn = sh->v_qpn, .dgid = sh->v_gid,
				  .access = -1, .max_dest_rd = -1,
				  .sq_psn = sh->v_psn };

		if (end_init(&a, dev, ip, IBV_QPT_RC, NULL) ||
		    end_connect(&a, &c))
			AFAIL("setup: %s", strerror(errno));
		mr = ibv_reg_mr(a.pd, buf, sizeof(buf),
				IBV_ACCESS_LOCAL_WRITE);
		if (!mr)
			AFAIL("reg_mr: %s", strerror(errno));
		memset(buf, 0x66, sizeof(buf));
		if (post_send(&a, ops[i], i, buf,
			      ops[i] == IBV_WR_ATOMIC_FETCH_AND_ADD ? 8 : 64,
			      mr->lkey, sh->v_addr, sh->v_rkey))
			AFAIL("post: %s", strerror(errno));
		if (wait_wc(&a, &wc, 30) != 1)
			AFAIL("op %zu: no completion", i);
		sh->a_status[i] = wc.status;
		if (wc.status != IBV_WC_RETRY_EXC_ERR)
			AFAIL("op %d reached the victim's QP: %s", ops[i],
			      ibv_wc_status_str(wc.status));
		ibv_dereg_mr(mr);
		mr = NULL;
		end_fini(&a);
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&a);
	return rc;
}

/*
 * The victim: a root process with an RC QP connected to its own peer
 * (on this device, or over the wire), receives posted, an MR the attacker
 * knows the key and address of. The attacker connects a QP of its own to
 * the victim's QPN and GID, with the right PSN, and tries SEND, WRITE,
 * READ and an atomic: each must end as a peer that never answers
 * (RETRY_EXC_ERR), and the victim must see nothing.
 */
static int foreign_qp_reaches_nothing(enum path path)
{
	struct end v = {}, p = {};
	struct ibv_mr *mr = NULL;
	uint64_t vbuf[512];
	struct ibv_wc wc;
	long long drops;
	int rc = -1, i;

	/* The victim's QP on DEVICE; its peer on DEVICE or DEVICE2. */
	CHECK(end_init(&v, dev_name, "10.11.0.1", IBV_QPT_RC, NULL) == 0 &&
	      end_init(&p, dev_of(path, true), ip_of(dev_of(path, true)),
		       IBV_QPT_RC, NULL) == 0, "setup");
	CHECK(end_pair(&v, &p, -1) == 0, "connect the victim to its peer");
	memset(vbuf, 0x77, sizeof(vbuf));
	mr = ibv_reg_mr(v.pd, vbuf, sizeof(vbuf), IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			IBV_ACCESS_REMOTE_ATOMIC);
	CHECK(mr, "reg_mr");
	for (i = 0; i < 4; i++)
		CHECK(post_recv(&v, 100 + i, (char *)vbuf + 2048, 1024,
				mr->lkey) == 0, "post_recv");
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	sh->v_rkey = mr->rkey;
	sh->v_addr = (uintptr_t)vbuf;
	sh->v_psn = 0;		/* what the victim expects: the worst case */
	drops = mirror_test_counter(dev_name, "rx_drop_bad_src");
	CHECK(as_nobody(bind_attacker, &path, 180) == 0, "%s", sh->msg);
	CHECK(mirror_test_counter(dev_name, "rx_drop_bad_src") > drops,
	      "no refusal counted as rx_drop_bad_src");
	CHECK(wait_wc(&v, &wc, 0.5) == 0, "the victim got a completion: %s",
	      ibv_wc_status_str(wc.status));
	for (i = 0; i < 512; i++)
		CHECK(vbuf[i] == 0x7777777777777777ULL,
		      "the victim's memory changed at word %d", i);
	/* And the victim's own peer still reaches it. */
	CHECK(post_send(&p, IBV_WR_SEND, 1, NULL, 0, 0, 0, 0) == 0, "send");
	CHECK(wait_wc(&v, &wc, 10) == 1 && wc.status == IBV_WC_SUCCESS &&
	      wc.wr_id == 100, "the victim's peer did not get through");
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&p);
	end_fini(&v);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* 3. Knowing one rkey of a PD finds no other */

#define GUESS_SPAN	8	/* handles either side of the known one */

static int guess_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	const char *dev = dev_of(path, true);
	uint64_t bad = 0x6464646464646464ULL;
	struct ibv_mr *mr = NULL;
	struct ibv_wc wc;
	struct end a = {};
	uint32_t handle = sh->v_rkey >> 8, key;
	int d, b, n = 0, rc = -1;

	if (end_init(&a, dev, ip_of(dev), IBV_QPT_UC, NULL))
		AFAIL("setup: %s", strerror(errno));
	mr = ibv_reg_mr(a.pd, &bad, sizeof(bad), 0);
	if (!mr)
		AFAIL("reg_mr: %s", strerror(errno));
	sh->a_qpn = a.qp->qp_num;
	sh->a_gid = a.gid;
	set_stage(1);
	if (wait_stage(2, 30))
		AFAIL("the victim did not connect");
	{
		struct conn c = { .dqpn = sh->v_qpn, .dgid = sh->v_gid,
				  .access = -1, .max_dest_rd = -1 };

		if (end_connect(&a, &c))
			AFAIL("connect: %s", strerror(errno));
	}
	/*
	 * Every key of the handles around the known one: with sequential
	 * handles the next MR's key is among these 256 * 17. UC: a wrong
	 * key is silently dropped, so guessing costs the attacker nothing.
	 */
	for (d = -GUESS_SPAN; d <= GUESS_SPAN; d++) {
		for (b = 0; b < 256; b++) {
			key = ((handle + d) << 8) | (uint32_t)b;
			if (key == sh->v_rkey)
				continue;
			if (post_send(&a, IBV_WR_RDMA_WRITE, n, &bad, 8,
				      mr->lkey, sh->v_addr, key))
				AFAIL("post: %s", strerror(errno));
			if (wait_wc(&a, &wc, 10) != 1 ||
			    wc.status != IBV_WC_SUCCESS)
				AFAIL("UC write %d did not complete", n);
			/* Paced, so that no guess is lost to a full queue. */
			if (++n % 32 == 0)
				usleep(2000);
		}
	}
	snprintf(sh->msg, sizeof(sh->msg), "%d keys tried", n);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&a);
	return rc;
}

/*
 * The victim registers a public MR and, right after, a secret one in the
 * same PD, and connects a UC QP to the attacker (it serves it). The
 * attacker knows the public rkey and even the secret's address, and
 * writes through every key of the 17 handles around the public one.
 */
static int rkey_guessing_finds_no_other_mr(enum path path)
{
	struct ibv_mr *pub = NULL, *secret = NULL;
	uint64_t pbuf[8], sbuf[512];
	struct end v = {};
	pid_t pid;
	int rc = -1, i, st;

	memset(sbuf, 0x5e, sizeof(sbuf));
	CHECK(end_init(&v, dev_name, "10.11.0.1", IBV_QPT_UC, NULL) == 0,
	      "setup");
	pub = ibv_reg_mr(v.pd, pbuf, sizeof(pbuf), IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_REMOTE_WRITE);
	secret = ibv_reg_mr(v.pd, sbuf, sizeof(sbuf), IBV_ACCESS_LOCAL_WRITE |
			    IBV_ACCESS_REMOTE_WRITE);
	CHECK(pub && secret, "reg_mr");
	note("public rkey 0x%08x, secret rkey 0x%08x", pub->rkey, secret->rkey);
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	sh->v_rkey = pub->rkey;
	sh->v_addr = (uintptr_t)sbuf;
	set_stage(0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(drop_privileges() ? 3 : guess_attacker(&path) ? 1 : 0);
	if (wait_stage(1, 30) == 0) {
		struct conn c = { .dqpn = sh->a_qpn, .dgid = sh->a_gid,
				  .access = -1, .max_dest_rd = -1 };

		if (end_connect(&v, &c) == 0)
			set_stage(2);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "attacker: %s", sh->msg);
	note("%s", sh->msg);
	usleep(200000 * time_scale);	/* UC writes land without a reply */
	for (i = 0; i < 512; i++)
		CHECK(sbuf[i] == 0x5e5e5e5e5e5e5e5eULL,
		      "the secret MR was written at word %d", i);
	rc = 0;
out:
	if (secret)
		ibv_dereg_mr(secret);
	if (pub)
		ibv_dereg_mr(pub);
	end_fini(&v);
	return rc;
}

/* Keys of consecutive registrations are unrelated (any path). */
static int keys_say_nothing_of_each_other(enum path path)
{
	struct ibv_mr *mr[256] = {};
	uint32_t h[256];
	char buf[64];
	int i, j, near = 0, rc = -1;

	if (path == PATH_WIRE)
		SKIP("keys are a device's, whatever the path");
	for (i = 0; i < 256; i++) {
		mr[i] = ibv_reg_mr(ibv_alloc_pd(ctx), buf, sizeof(buf),
				   IBV_ACCESS_LOCAL_WRITE);
		CHECK(mr[i], "reg_mr %d", i);
		h[i] = mr[i]->rkey >> 8;
	}
	for (i = 0; i < 256; i++)
		for (j = i + 1; j < 256; j++) {
			CHECK(mr[i]->rkey != mr[j]->rkey, "two MRs share a key");
			if (h[i] - h[j] + 8 < 17)
				near++;
		}
	/*
	 * Random 24-bit handles: 0.03 of the 32640 pairs this close on
	 * average (4 or more: under 1e-7); sequential ones: all 255
	 * neighbours.
	 */
	CHECK(near <= 3, "%d pairs of handles within 8 of each other", near);
	rc = 0;
out:
	for (i = 0; i < 256 && mr[i]; i++) {
		struct ibv_pd *pd = mr[i]->pd;

		ibv_dereg_mr(mr[i]);
		ibv_dealloc_pd(pd);
	}
	return rc;
}

/* ---------------------------------------------------------------------- */
/* 4. A UD QP cannot use an AH of another PD */

static int foreign_ah_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	const char *far = dev_of(path, true);
	struct ibv_pd *other = NULL;
	struct ibv_ah *ah = NULL;
	struct ibv_mr *mr = NULL;
	struct end a = {}, b = {};
	char buf[64] = "datagram";
	struct ibv_send_wr wr = { .opcode = IBV_WR_SEND, .num_sge = 1,
				  .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_sge sge = { .addr = (uintptr_t)buf, .length = 16 };
	struct ibv_ah_attr av = { .is_global = 1, .port_num = 1 };
	struct ibv_qp_attr qa = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				  .qkey = 0x1111 };
	struct ibv_wc wc;
	int rc = -1, round;

	if (end_init(&a, dev_name, "10.11.0.1", IBV_QPT_UD, NULL) ||
	    end_init(&b, far, ip_of(far), IBV_QPT_UD, NULL))
		AFAIL("setup: %s", strerror(errno));
	for (round = 0; round < 2; round++) {
		struct end *e = round ? &b : &a;

		qa.qp_state = IBV_QPS_INIT;
		if (ibv_modify_qp(e->qp, &qa, IBV_QP_STATE |
				  IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_QKEY))
			AFAIL("init: %s", strerror(errno));
		qa.qp_state = IBV_QPS_RTR;
		if (ibv_modify_qp(e->qp, &qa, IBV_QP_STATE))
			AFAIL("rtr");
		qa.qp_state = IBV_QPS_RTS;
		qa.sq_psn = 0;
		if (ibv_modify_qp(e->qp, &qa, IBV_QP_STATE | IBV_QP_SQ_PSN))
			AFAIL("rts");
	}
	mr = ibv_reg_mr(a.pd, buf, sizeof(buf), 0);
	other = ibv_alloc_pd(a.ctx);
	if (!mr || !other)
		AFAIL("mr/pd");
	sge.lkey = mr->lkey;
	av.grh.dgid = b.gid;
	av.grh.sgid_index = (uint8_t)a.gidx;
	av.grh.hop_limit = 64;
	wr.sg_list = &sge;
	wr.wr.ud.remote_qpn = b.qp->qp_num;
	wr.wr.ud.remote_qkey = 0x1111;
	/* Round 0: the AH of another PD; round 1: its own (the control). */
	for (round = 0; round < 2; round++) {
		ah = ibv_create_ah(round ? a.pd : other, &av);
		if (!ah)
			AFAIL("create_ah: %s", strerror(errno));
		wr.wr.ud.ah = ah;
		wr.wr_id = round;
		if (ibv_post_send(a.qp, &wr, &bad))
			AFAIL("post: %s", strerror(errno));
		if (wait_wc(&a, &wc, 10) != 1)
			AFAIL("no completion");
		if (round == 0 && wc.status != IBV_WC_LOC_QP_OP_ERR)
			AFAIL("the AH of another PD gave %s",
			      ibv_wc_status_str(wc.status));
		if (round == 1 && wc.status != IBV_WC_SUCCESS)
			AFAIL("its own AH gave %s",
			      ibv_wc_status_str(wc.status));
		ibv_destroy_ah(ah);
		ah = NULL;
		if (round == 0) {
			/* The QP is in ERR now: back to RTS. */
			qa.qp_state = IBV_QPS_RESET;
			if (ibv_modify_qp(a.qp, &qa, IBV_QP_STATE))
				AFAIL("reset");
			qa.qp_state = IBV_QPS_INIT;
			if (ibv_modify_qp(a.qp, &qa, IBV_QP_STATE |
					  IBV_QP_PKEY_INDEX | IBV_QP_PORT |
					  IBV_QP_QKEY))
				AFAIL("init");
			qa.qp_state = IBV_QPS_RTR;
			ibv_modify_qp(a.qp, &qa, IBV_QP_STATE);
			qa.qp_state = IBV_QPS_RTS;
			if (ibv_modify_qp(a.qp, &qa, IBV_QP_STATE |
					  IBV_QP_SQ_PSN))
				AFAIL("rts");
		}
	}
	rc = 0;
out:
	if (ah)
		ibv_destroy_ah(ah);
	if (mr)
		ibv_dereg_mr(mr);
	if (other)
		ibv_dealloc_pd(other);
	end_fini(&a);
	end_fini(&b);
	return rc;
}

static int ah_of_another_pd_is_refused(enum path path)
{
	return run_attacker(foreign_ah_attacker, &path, 60);
}

/* ---------------------------------------------------------------------- */
/* 5. Nothing past the end of the address space, through an implicit MR */

struct oob_arg {
	enum path path;
};

static int oob_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	const char *far = dev_of(path, true);
	/* The last page of the 47-bit user address space (4-level paging). */
	char *top = (char *)0x7ffffffff000UL - 4096;
	struct ibv_mr *imr = NULL, *smr = NULL;
	struct end r = {}, s = {};
	char src[64] = "to the top";
	struct ibv_wc wc;
	int rc = -1, round;
	/* Receive buffers: the last page (a child now exists there), one
	 * that crosses the end, one past it. */
	struct { uint64_t addr; uint32_t len; int want; } cases[] = {
		{ 0x7ffffffff000UL - 4096, 64, IBV_WC_SUCCESS },
		{ 0x7ffffffff000UL - 8, 16, IBV_WC_LOC_PROT_ERR },
		{ 0x7ffffffff000UL, 8, IBV_WC_LOC_PROT_ERR },
	};

	if (mmap(top, 4096, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
	    top)
		AFAIL("mmap at the top: %s", strerror(errno));
	for (round = 0; round < 3; round++) {
		if (end_init(&r, dev_name, "10.11.0.1", IBV_QPT_RC, NULL) ||
		    end_init(&s, far, ip_of(far), IBV_QPT_RC, NULL) ||
		    end_pair(&r, &s, -1))
			AFAIL("setup: %s", strerror(errno));
		imr = ibv_reg_mr(r.pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND |
				 IBV_ACCESS_LOCAL_WRITE);
		smr = ibv_reg_mr(s.pd, src, sizeof(src), 0);
		if (!imr || !smr)
			AFAIL("reg_mr: %s", strerror(errno));
		if (post_recv(&r, round, (void *)(uintptr_t)cases[round].addr,
			      cases[round].len, imr->lkey) ||
		    post_send(&s, IBV_WR_SEND, round, src, 8, smr->lkey, 0, 0))
			AFAIL("post: %s", strerror(errno));
		if (wait_wc(&r, &wc, 20) != 1)
			AFAIL("round %d: no receive completion", round);
		if ((int)wc.status != cases[round].want)
			AFAIL("receive at 0x%llx: %s, want %s",
			      (unsigned long long)cases[round].addr,
			      ibv_wc_status_str(wc.status),
			      ibv_wc_status_str(cases[round].want));
		ibv_dereg_mr(smr);
		ibv_dereg_mr(imr);
		smr = imr = NULL;
		end_fini(&r);
		end_fini(&s);
	}
	/* A local SGE past the end: the WQE fails, nothing is read. */
	if (end_init(&r, dev_name, "10.11.0.1", IBV_QPT_RC, NULL) ||
	    end_init(&s, far, ip_of(far), IBV_QPT_RC, NULL) ||
	    end_pair(&r, &s, -1))
		AFAIL("setup: %s", strerror(errno));
	imr = ibv_reg_mr(r.pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND |
			 IBV_ACCESS_LOCAL_WRITE);
	if (!imr || post_send(&r, IBV_WR_SEND, 9,
			      (void *)0x7ffffffff000UL, 8, imr->lkey, 0, 0))
		AFAIL("post: %s", strerror(errno));
	if (wait_wc(&r, &wc, 20) != 1 || wc.status != IBV_WC_LOC_PROT_ERR)
		AFAIL("a SEND from past the end gave %s",
		      ibv_wc_status_str(wc.status));
	rc = 0;
out:
	if (smr)
		ibv_dereg_mr(smr);
	if (imr)
		ibv_dereg_mr(imr);
	end_fini(&r);
	end_fini(&s);
	return rc;
}

static int sge_past_the_address_space_is_refused(enum path path)
{
	return run_attacker(oob_attacker, &path, 120);
}

/* ---------------------------------------------------------------------- */
/* 6. ODP registrations cannot make the kernel WARN or fill memory */

static int odp_limits_attacker(void *arg)
{
	size_t tib = 1ULL << 40, gib = 1ULL << 30;
	struct ibv_mr *mr[4096] = {};
	struct ibv_context *c = mirror_test_open(dev_name);
	struct ibv_pd *pd = c ? ibv_alloc_pd(c) : NULL;
	char *res;
	int n = 0, i, rc = -1, err;

	if (!pd)
		AFAIL("open: %s", strerror(errno));
	/* Address space only: nothing is mapped, nothing is ever touched. */
	res = mmap(NULL, tib + gib, PROT_NONE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		AFAIL("reserve 1 TiB: %s", strerror(errno));
	/* Exactly 1 TiB: its page table would pass INT_MAX (a WARN). */
	mr[0] = ibv_reg_mr(pd, res, tib, IBV_ACCESS_ON_DEMAND);
	err = errno;
	if (mr[0] || err != EINVAL)
		AFAIL("a 1 TiB ODP MR: %s", mr[0] ? "registered" :
		      strerror(err));
	/* 512 GiB: allowed in size, but its 1 GiB table passes the cap. */
	mr[0] = ibv_reg_mr(pd, res, tib / 2, IBV_ACCESS_ON_DEMAND);
	err = errno;
	if (mr[0] || err != ENOMEM)
		AFAIL("a 512 GiB ODP MR: %s", mr[0] ? "registered" :
		      strerror(err));
	/* 1 GiB MRs (2 MiB of table each) until the context's cap. */
	for (n = 0; n < 4096; n++) {
		mr[n] = ibv_reg_mr(pd, res + (size_t)(n % 1024) * gib, gib,
				   IBV_ACCESS_ON_DEMAND);
		if (!mr[n])
			break;
	}
	err = errno;
	if (n == 0 || n == 4096 || err != ENOMEM)
		AFAIL("%d 1 GiB ODP MRs, then %s", n, strerror(err));
	snprintf(sh->msg, sizeof(sh->msg),
		 "%d ODP MRs of 1 GiB fit the context's cap", n);
	ibv_dereg_mr(mr[n - 1]);
	mr[n - 1] = ibv_reg_mr(pd, res, gib, IBV_ACCESS_ON_DEMAND);
	if (!mr[n - 1])
		AFAIL("after a dereg there was no room again: %s",
		      strerror(errno));
	rc = 0;
out:
	for (i = 0; i < n; i++)
		if (mr[i])
			ibv_dereg_mr(mr[i]);
	if (pd)
		ibv_dealloc_pd(pd);
	if (c)
		ibv_close_device(c);
	return rc;
}

static int odp_registrations_are_bounded(enum path path)
{
	if (path == PATH_WIRE)
		SKIP("a registration has no path");
	return run_attacker(odp_limits_attacker, NULL, 120);
}

/* ---------------------------------------------------------------------- */
/* 7. First touches of one implicit child race an munmap inside it */

#define RACE_THREADS	4
#define RACE_ROUNDS	150
#define CHILD		(16UL << 20)

struct race {
	struct ibv_mr *mr;
	char *base;
	pthread_barrier_t go;
	int round;
	atomic_int errors;
};

static void *race_toucher(void *arg)
{
	struct race *r = arg;
	static atomic_int next;
	int me = atomic_fetch_add(&next, 1) % RACE_THREADS, i;

	for (i = 0; i < RACE_ROUNDS; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)r->base + (size_t)me * 4096,
			.length = 4096,
			.lkey = r->mr->lkey,
		};

		pthread_barrier_wait(&r->go);
		/* Sync prefetch: the first touch creates the child. */
		ibv_advise_mr(r->mr->pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			      IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		pthread_barrier_wait(&r->go);
	}
	return NULL;
}

static int race_attacker(void *arg)
{
	struct mirrorv_odp_counters c0, c;
	struct ibv_context *cx = mirror_test_open(dev_name);
	struct ibv_pd *pd = cx ? ibv_alloc_pd(cx) : NULL;
	pthread_t t[RACE_THREADS];
	struct race r = {};
	char *area, *base;
	int i, rc = -1;
	double end;

	if (!pd)
		AFAIL("open");
	r.mr = ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND |
			  IBV_ACCESS_LOCAL_WRITE);
	if (!r.mr || mirrorv_query_mr_odp_counters(r.mr, &c0))
		AFAIL("implicit MR: %s", strerror(errno));
	/* A 16 MiB-aligned range: one child. */
	area = mmap(NULL, 2 * CHILD, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		AFAIL("mmap");
	base = (char *)(((uintptr_t)area + CHILD - 1) & ~(CHILD - 1));
	r.base = base;
	pthread_barrier_init(&r.go, NULL, RACE_THREADS + 1);
	for (i = 0; i < RACE_THREADS; i++)
		pthread_create(&t[i], NULL, race_toucher, &r);
	for (i = 0; i < RACE_ROUNDS; i++) {
		mmap(base, CHILD, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		pthread_barrier_wait(&r.go);
		/* While the children are made: unmap inside the range. */
		munmap(base + CHILD / 2, CHILD / 2);
		pthread_barrier_wait(&r.go);
		munmap(base, CHILD);
	}
	for (i = 0; i < RACE_THREADS; i++)
		pthread_join(t[i], NULL);
	/* Every child made goes away again once its range is unmapped. */
	end = now() + 10 * time_scale;
	do {
		if (mirrorv_query_mr_odp_counters(r.mr, &c))
			AFAIL("counters");
		if (c.children_live == c0.children_live)
			break;
		usleep(10000);
	} while (now() < end);
	if (c.children_live != c0.children_live)
		AFAIL("%llu children live after the rounds, %llu before",
		      (unsigned long long)c.children_live,
		      (unsigned long long)c0.children_live);
	snprintf(sh->msg, sizeof(sh->msg), "%llu children made and gone",
		 (unsigned long long)(c.children_created -
				      c0.children_created));
	rc = 0;
out:
	if (r.mr)
		ibv_dereg_mr(r.mr);
	if (pd)
		ibv_dealloc_pd(pd);
	if (cx)
		ibv_close_device(cx);
	return rc;
}

static int first_touches_race_an_munmap(enum path path)
{
	if (path == PATH_WIRE)
		SKIP("prefetch touches memory from its own device; remote first touches create children through the same code (probing test)");
	return run_attacker(race_attacker, NULL, 300);
}

/* ---------------------------------------------------------------------- */
/* 8. Probing unmapped addresses leaves no implicit children behind */

#define PROBES		1000
#define PROBE_BASE	0x500000000000UL

static int probe_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	const char *dev = dev_of(path, true);
	uint64_t word = 0x1234;
	struct ibv_mr *mr = NULL;
	struct ibv_wc wc;
	struct end a = {};
	int i, rc = -1;

	if (end_init(&a, dev, ip_of(dev), IBV_QPT_UC, NULL))
		AFAIL("setup: %s", strerror(errno));
	mr = ibv_reg_mr(a.pd, &word, sizeof(word), 0);
	if (!mr)
		AFAIL("reg_mr");
	sh->a_qpn = a.qp->qp_num;
	sh->a_gid = a.gid;
	set_stage(1);
	if (wait_stage(2, 30))
		AFAIL("the victim did not connect");
	{
		struct conn c = { .dqpn = sh->v_qpn, .dgid = sh->v_gid,
				  .access = -1, .max_dest_rd = -1 };

		if (end_connect(&a, &c))
			AFAIL("connect: %s", strerror(errno));
	}
	for (i = 0; i < PROBES; i++) {
		if (post_send(&a, IBV_WR_RDMA_WRITE, i, &word, 8, mr->lkey,
			      PROBE_BASE + (uint64_t)i * CHILD, sh->v_rkey))
			AFAIL("post: %s", strerror(errno));
		if (wait_wc(&a, &wc, 10) != 1)
			AFAIL("probe %d did not complete", i);
	}
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&a);
	return rc;
}

/*
 * The victim has an implicit MR with remote write and a UC QP connected
 * to the attacker (it serves it). The attacker writes to 1000 unmapped
 * 16 MiB regions: every child the probes make must go, so the victim's
 * children count ends where it began.
 */
static int probing_unmapped_addresses_leaves_no_children(enum path path)
{
	struct mirrorv_odp_counters c0, c;
	struct ibv_mr *imr = NULL;
	struct end v = {};
	pid_t pid;
	double end;
	int st, rc = -1;

	CHECK(end_init(&v, dev_name, "10.11.0.1", IBV_QPT_UC, NULL) == 0,
	      "setup");
	imr = ibv_reg_mr(v.pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND |
			 IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	CHECK(imr && mirrorv_query_mr_odp_counters(imr, &c0) == 0,
	      "implicit MR");
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	sh->v_rkey = imr->rkey;
	set_stage(0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(drop_privileges() ? 3 : probe_attacker(&path) ? 1 : 0);
	if (wait_stage(1, 30) == 0) {
		struct conn cn = { .dqpn = sh->a_qpn, .dgid = sh->a_gid,
				   .access = -1, .max_dest_rd = -1 };

		if (end_connect(&v, &cn) == 0)
			set_stage(2);
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "attacker: %s", sh->msg);
	/* UC: the last probes may still be in the victim's queue. */
	end = now() + 10 * time_scale;
	do {
		CHECK(mirrorv_query_mr_odp_counters(imr, &c) == 0, "counters");
		if (c.children_live == c0.children_live &&
		    c.children_created - c0.children_created >= PROBES)
			break;
		usleep(20000);
	} while (now() < end);
	note("%llu children made by %d probes, %llu live (%llu before)",
	     (unsigned long long)(c.children_created - c0.children_created),
	     PROBES, (unsigned long long)c.children_live,
	     (unsigned long long)c0.children_live);
	CHECK(c.children_live == c0.children_live,
	      "%llu children live after %d probes, %llu before",
	      (unsigned long long)c.children_live, PROBES,
	      (unsigned long long)c0.children_live);
	/* And a no-fault prefetch of the same ranges makes none either. */
	{
		struct ibv_sge sge = { .length = 4096, .lkey = imr->lkey };
		int i;

		for (i = 0; i < 100; i++) {
			sge.addr = PROBE_BASE + (uint64_t)i * CHILD;
			ibv_advise_mr(v.pd,
				      IBV_ADVISE_MR_ADVICE_PREFETCH_NO_FAULT,
				      IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		}
		/* A child dropped is freed by work: give it its moment. */
		end = now() + 10 * time_scale;
		do {
			CHECK(mirrorv_query_mr_odp_counters(imr, &c) == 0,
			      "counters");
			if (c.children_live == c0.children_live)
				break;
			usleep(20000);
		} while (now() < end);
		CHECK(c.children_live == c0.children_live,
		      "%llu children live after no-fault prefetches",
		      (unsigned long long)c.children_live);
	}
	rc = 0;
out:
	if (imr)
		ibv_dereg_mr(imr);
	end_fini(&v);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* 9. No READ or atomic to a responder that keeps no resources */

static int no_responder_resources_no_read(enum path path)
{
	enum ibv_wr_opcode ops[] = { IBV_WR_RDMA_READ,
				     IBV_WR_ATOMIC_FETCH_AND_ADD };
	uint64_t buf[8] = {};
	struct ibv_mr *amr = NULL, *bmr = NULL;
	struct end a = {}, b = {};
	struct ibv_wc wc;
	int rc = -1, i, max;

	for (i = 0; i < 2; i++) {
		for (max = 0; max <= 1; max++) {
			CHECK(end_init(&a, dev_name, "10.11.0.1", IBV_QPT_RC,
				       NULL) == 0 &&
			      end_init(&b, dev_of(path, true),
				       ip_of(dev_of(path, true)), IBV_QPT_RC,
				       NULL) == 0 &&
			      end_pair(&a, &b, max) == 0, "setup");
			amr = ibv_reg_mr(a.pd, buf, 8, IBV_ACCESS_LOCAL_WRITE);
			bmr = ibv_reg_mr(b.pd, buf + 1, 8,
					 IBV_ACCESS_LOCAL_WRITE |
					 IBV_ACCESS_REMOTE_READ |
					 IBV_ACCESS_REMOTE_ATOMIC);
			CHECK(amr && bmr, "reg_mr");
			CHECK(post_send(&a, ops[i], 1, buf, 8, amr->lkey,
					(uintptr_t)(buf + 1), bmr->rkey) == 0,
			      "post");
			CHECK(wait_wc(&a, &wc, 20) == 1, "no completion");
			/* max_dest_rd_atomic 0 refuses; 1 is the control. */
			CHECK(wc.status == (max ? IBV_WC_SUCCESS :
					    IBV_WC_REM_INV_REQ_ERR),
			      "op %d with max_dest_rd_atomic %d: %s", ops[i],
			      max, ibv_wc_status_str(wc.status));
			ibv_dereg_mr(amr);
			ibv_dereg_mr(bmr);
			amr = bmr = NULL;
			end_fini(&a);
			end_fini(&b);
		}
	}
	rc = 0;
out:
	if (amr)
		ibv_dereg_mr(amr);
	if (bmr)
		ibv_dereg_mr(bmr);
	end_fini(&a);
	end_fini(&b);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* 10, 11. A process serving its own page faults slowly holds up no one */

#define FUSE_MNT	"/tmp/mirror_fuse"
#define FUSE_FILE	FUSE_MNT "/f"

static struct fs fuse;

/* Something the victim does, in a thread, so that a hang is seen. */
struct timed {
	pthread_t thr;
	void (*fn)(void *);
	void *arg;
	atomic_bool done;
	double secs;
};

static void *timed_thread(void *arg)
{
	struct timed *t = arg;
	double t0 = now();

	t->fn(t->arg);
	t->secs = now() - t0;
	atomic_store(&t->done, true);
	return NULL;
}

/* Runs fn(arg) and waits up to @secs (scaled): true when it returned. */
static bool timed_run(struct timed *t, void (*fn)(void *), void *arg,
		      double secs)
{
	double end = now() + secs * time_scale;

	t->fn = fn;
	t->arg = arg;
	atomic_store(&t->done, false);
	pthread_create(&t->thr, NULL, timed_thread, t);
	while (!atomic_load(&t->done) && now() < end)
		usleep(2000);
	return atomic_load(&t->done);
}

/* After a timed_run, whatever happened: answer the faults, then join. */
static void timed_finish(struct timed *t)
{
	fs_stall(&fuse, false);
	pthread_join(t->thr, NULL);
}

static void victim_teardown(void *arg)
{
	struct end *v = arg;

	ibv_destroy_qp(v->qp);
	v->qp = NULL;
}

/* Waits (bounded) until the attacker is stuck in a held READ. */
static int wait_held(double secs)
{
	double end = now() + secs * time_scale;

	while (fs_nheld(&fuse) == 0) {
		if (now() > end)
			return -1;
		usleep(2000);
	}
	return 0;
}

/* The attacker of test 10: WRITEs its FUSE-backed file to the victim. */
static int stalled_source_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	const char *dev = dev_of(path, true);
	struct ibv_mr *mr = NULL;
	struct ibv_wc wc;
	struct end a = {};
	char *map;
	int fd, rc = -1;

	close(fuse.fd);		/* the server's, inherited: not ours */
	fd = open(FUSE_FILE, O_RDONLY);
	if (fd < 0)
		AFAIL("open " FUSE_FILE ": %s", strerror(errno));
	map = mmap(NULL, FS_FILE_LEN, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		AFAIL("mmap: %s", strerror(errno));
	madvise(map, FS_FILE_LEN, MADV_RANDOM);	/* a READ per fault */
	if (end_init(&a, dev, ip_of(dev), IBV_QPT_RC, NULL))
		AFAIL("setup: %s", strerror(errno));
	mr = ibv_reg_mr(a.pd, map, FS_FILE_LEN, IBV_ACCESS_ON_DEMAND);
	if (!mr)
		AFAIL("ODP reg_mr: %s", strerror(errno));
	sh->a_qpn = a.qp->qp_num;
	sh->a_gid = a.gid;
	set_stage(1);
	if (wait_stage(2, 30))
		AFAIL("the victim did not connect");
	{
		struct conn c = { .dqpn = sh->v_qpn, .dgid = sh->v_gid,
				  .access = -1, .max_dest_rd = -1 };

		if (end_connect(&a, &c))
			AFAIL("connect: %s", strerror(errno));
	}
	set_stage(3);
	/* Returns once the faults are answered, whatever the kernel does. */
	post_send(&a, IBV_WR_RDMA_WRITE, 1, map, FS_FILE_LEN, mr->lkey,
		  sh->v_addr, sh->v_rkey);
	wait_wc(&a, &wc, 60);
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&a);
	return rc;
}

/* Runs @fn as uid 65534 in a child, not waiting: returns its pid. */
static pid_t spawn_nobody(int (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (!pid)
		_exit(drop_privileges() ? 3 : fn(arg) ? 1 : 0);
	return pid;
}

static void reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/*
 * The attacker RDMA-WRITEs 64 MiB to the victim from an ODP MR over its
 * own FUSE file; once the data flows, the file's server drops the second
 * half from the page cache and stops answering, so the attacker's next
 * fault never returns. The victim's destroy_qp must still return at once:
 * the attacker must not be holding the victim's QP (its lock or a
 * reference) while it waits for its own fault.
 */
static int stalled_source_never_holds_the_destination(enum path path)
{
	volatile unsigned char *probe;
	struct ibv_mr *vmr = NULL;
	struct timed t = {};
	struct end v = {};
	char *vbuf = NULL;
	pid_t pid = -1;
	double end;
	int rc = -1;

	CHECK(fs_start(&fuse, FUSE_MNT) == 0, "FUSE: %s", strerror(errno));
	vbuf = mmap(NULL, FS_FILE_LEN, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(vbuf != MAP_FAILED, "mmap");
	memset(vbuf, 0, FS_FILE_LEN);
	CHECK(end_init(&v, dev_name, "10.11.0.1", IBV_QPT_RC, NULL) == 0,
	      "setup");
	vmr = ibv_reg_mr(v.pd, vbuf, FS_FILE_LEN, IBV_ACCESS_LOCAL_WRITE |
			 IBV_ACCESS_REMOTE_WRITE);
	CHECK(vmr, "reg_mr");
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	sh->v_rkey = vmr->rkey;
	sh->v_addr = (uintptr_t)vbuf;
	set_stage(0);
	pid = spawn_nobody(stalled_source_attacker, &path);
	CHECK(pid > 0 && wait_stage(1, 60) == 0, "attacker setup: %s",
	      sh->msg);
	{
		struct conn c = { .dqpn = sh->a_qpn, .dgid = sh->a_gid,
				  .access = -1, .max_dest_rd = -1 };

		CHECK(end_connect(&v, &c) == 0, "connect");
	}
	set_stage(2);
	CHECK(wait_stage(3, 30) == 0, "the attacker did not post");
	/* Data flows (byte 1 MiB + 1 holds 0x01): now the file stalls. */
	probe = (volatile unsigned char *)vbuf + (1 << 20) + 1;
	end = now() + 60 * time_scale;
	while (*probe != 1 && now() < end)
		;
	CHECK(*probe == 1, "no data arrived");
	fs_stall(&fuse, true);
	fs_drop(&fuse, FS_FILE_LEN / 2, FS_FILE_LEN / 2);
	CHECK(wait_held(60) == 0, "the attacker never waited for its file");
	CHECK(timed_run(&t, victim_teardown, &v, 10),
	      "the victim's destroy_qp waited for the attacker's fault");
	note("destroy_qp returned in %.3f s while the attacker's fault was held",
	     t.secs);
	timed_finish(&t);
	rc = 0;
out:
	if (t.thr) {
		fs_stall(&fuse, false);
		if (!atomic_load(&t.done))
			pthread_join(t.thr, NULL);
	}
	reap(pid);
	if (vmr)
		ibv_dereg_mr(vmr);
	end_fini(&v);
	fs_stop(&fuse);
	if (vbuf && vbuf != MAP_FAILED)
		munmap(vbuf, FS_FILE_LEN);
	return rc;
}

/* The attacker of test 11: a destination whose memory is its FUSE file. */
static int stalled_destination_attacker(void *arg)
{
	enum path path = *(enum path *)arg;
	const char *dev = dev_of(path, true);
	struct ibv_mr *mr = NULL;
	struct end d = {};
	char *map;
	int fd, rc = -1;

	close(fuse.fd);
	fd = open(FUSE_FILE, O_RDWR);
	if (fd < 0)
		AFAIL("open " FUSE_FILE ": %s", strerror(errno));
	map = mmap(NULL, FS_FILE_LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	close(fd);
	if (map == MAP_FAILED)
		AFAIL("mmap: %s", strerror(errno));
	madvise(map, FS_FILE_LEN, MADV_RANDOM);
	if (end_init(&d, dev, ip_of(dev), IBV_QPT_RC, NULL))
		AFAIL("setup: %s", strerror(errno));
	mr = ibv_reg_mr(d.pd, map, FS_FILE_LEN, IBV_ACCESS_ON_DEMAND |
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr)
		AFAIL("ODP reg_mr: %s", strerror(errno));
	sh->a_qpn = d.qp->qp_num;
	sh->a_gid = d.gid;
	sh->v_rkey = mr->rkey;
	sh->v_addr = (uintptr_t)map;
	set_stage(1);
	if (wait_stage(2, 30))
		AFAIL("the victim did not connect");
	{
		struct conn c = { .dqpn = sh->v_qpn, .dgid = sh->v_gid,
				  .access = -1, .max_dest_rd = -1 };

		if (end_connect(&d, &c))
			AFAIL("connect: %s", strerror(errno));
	}
	set_stage(3);
	pause();	/* until the victim is done with us */
	rc = 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&d);
	return rc;
}

struct victim_write {
	struct end *v;
	struct ibv_mr *mr;
	int ret;
};

static void victim_post_write(void *arg)
{
	struct victim_write *w = arg;

	w->ret = post_send(w->v, IBV_WR_RDMA_WRITE, 1, w->mr->addr, 4096,
			   w->mr->lkey, sh->v_addr, sh->v_rkey);
}

/*
 * The victim RDMA-WRITEs into the attacker's ODP MR, which maps the
 * attacker's FUSE file, whose server answers no READ: the attacker's
 * memory never becomes present. The victim's post_send must return at
 * once, its WQE end as for a peer that does not answer (RETRY_EXC_ERR),
 * and its destroy_qp return at once.
 */
static int stalled_destination_never_holds_the_requester(enum path path)
{
	struct victim_write w = {};
	struct ibv_mr *vmr = NULL;
	struct timed t = {};
	struct ibv_wc wc;
	struct end v = {};
	char vbuf[4096];
	pid_t pid = -1;
	int rc = -1;

	CHECK(fs_start(&fuse, FUSE_MNT) == 0, "FUSE: %s", strerror(errno));
	fs_stall(&fuse, true);
	memset(vbuf, 0x42, sizeof(vbuf));
	CHECK(end_init(&v, dev_name, "10.11.0.1", IBV_QPT_RC, NULL) == 0,
	      "setup");
	vmr = ibv_reg_mr(v.pd, vbuf, sizeof(vbuf), IBV_ACCESS_LOCAL_WRITE);
	CHECK(vmr, "reg_mr");
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	set_stage(0);
	pid = spawn_nobody(stalled_destination_attacker, &path);
	CHECK(pid > 0 && wait_stage(1, 60) == 0, "attacker setup: %s",
	      sh->msg);
	{
		struct conn c = { .dqpn = sh->a_qpn, .dgid = sh->a_gid,
				  .access = -1, .max_dest_rd = -1 };

		CHECK(end_connect(&v, &c) == 0, "connect");
	}
	set_stage(2);
	CHECK(wait_stage(3, 30) == 0, "the attacker did not connect");
	w.v = &v;
	w.mr = vmr;
	CHECK(timed_run(&t, victim_post_write, &w, 5),
	      "the victim's post_send waited for the attacker's memory");
	note("post_send returned in %.3f s", t.secs);
	pthread_join(t.thr, NULL);
	memset(&t, 0, sizeof(t));
	CHECK(w.ret == 0, "post_send: %s", strerror(w.ret));
	CHECK(wait_wc(&v, &wc, 30) == 1, "the WRITE never completed");
	CHECK(wc.status == IBV_WC_RETRY_EXC_ERR,
	      "the WRITE completed with %s, not as to a silent peer",
	      ibv_wc_status_str(wc.status));
	CHECK(timed_run(&t, victim_teardown, &v, 10),
	      "the victim's destroy_qp waited for the attacker's memory");
	timed_finish(&t);
	rc = 0;
out:
	if (t.thr) {
		fs_stall(&fuse, false);
		pthread_join(t.thr, NULL);
	}
	fs_stall(&fuse, false);
	reap(pid);
	if (vmr)
		ibv_dereg_mr(vmr);
	end_fini(&v);
	fs_stop(&fuse);
	return rc;
}

/*
 * The victim of the next test, in a process of its own: an RC QP with the
 * longest timeout there is (31: 2.4 hours) WRITEs into the attacker's
 * stalled memory. Stage 4: post_send called; 5: it returned.
 */
static int patient_victim(void *arg)
{
	static char vbuf[4096];
	struct end v = {};
	struct ibv_mr *mr;
	int ret;

	(void)arg;
	if (end_init(&v, dev_name, "10.11.0.1", IBV_QPT_RC, NULL))
		AFAIL("victim setup: %s", strerror(errno));
	mr = ibv_reg_mr(v.pd, vbuf, sizeof(vbuf), IBV_ACCESS_LOCAL_WRITE);
	if (!mr)
		AFAIL("victim reg_mr: %s", strerror(errno));
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	{
		struct conn c = { .dqpn = sh->a_qpn, .dgid = sh->a_gid,
				  .access = -1, .max_dest_rd = -1,
				  .timeout = 31 };

		if (end_connect(&v, &c))
			AFAIL("victim connect: %s", strerror(errno));
	}
	set_stage(2);
	if (wait_stage(3, 30))
		AFAIL("the attacker did not connect");
	set_stage(4);
	ret = post_send(&v, IBV_WR_RDMA_WRITE, 1, vbuf, sizeof(vbuf), mr->lkey,
			sh->v_addr, sh->v_rkey);
	if (ret)
		AFAIL("victim post_send: %s", strerror(ret));
	set_stage(5);
	pause();	/* until killed */
	return 0;
out:
	return -1;
}

/*
 * A process that waits for another's memory can still be killed at once.
 * On one device a post_send waits (up to its QP's retransmission timeout)
 * for the destination's missing page to be faulted in; here that page is
 * the attacker's FUSE file, whose server answers nothing, and the victim
 * chose the longest timeout. SIGKILL must end the victim within 5 s
 * (scaled), not after 2.4 hours. Over RoCEv2 post_send returns at once (the
 * page is faulted on the receiving side), and the kill is as quick.
 */
static int killed_poster_exits_while_the_destination_stalls(enum path path)
{
	pid_t apid = -1, vpid = -1;
	double t0, secs = -1;
	int rc = -1, stage;

	CHECK(fs_start(&fuse, FUSE_MNT) == 0, "FUSE: %s", strerror(errno));
	fs_stall(&fuse, true);
	set_stage(0);
	apid = spawn_nobody(stalled_destination_attacker, &path);
	CHECK(apid > 0 && wait_stage(1, 60) == 0, "attacker setup: %s",
	      sh->msg);
	vpid = spawn_nobody(patient_victim, NULL);
	CHECK(vpid > 0 && wait_stage(4, 60) == 0, "victim: %s", sh->msg);
	usleep(500000);
	stage = atomic_load(&sh->stage);
	if (path == PATH_SAME)
		CHECK(stage == 4, "the victim's post_send returned (stage %d: %s) while the destination stalls",
		      stage, sh->msg);
	t0 = now();
	kill(vpid, SIGKILL);
	while (waitpid(vpid, NULL, WNOHANG) == 0) {
		if (now() - t0 > 5.0 * time_scale)
			break;
		usleep(2000);
	}
	if (kill(vpid, 0) && errno == ESRCH) {
		secs = now() - t0;
		vpid = -1;
	}
	CHECK(secs >= 0, "the killed victim still runs after %.0f s (stage %d)",
	      5.0 * time_scale, stage);
	note("killed in post_send (stage %d), gone in %.3f s", stage, secs);
	rc = 0;
out:
	fs_stall(&fuse, false);
	reap(vpid);
	reap(apid);
	fs_stop(&fuse);
	return rc;
}

/*
 * Memory windows reach only their own PD. The victim binds a type 2
 * window over its MR (which allows MW_BIND) and the attacker knows both
 * keys (the worst case). The attacker's LOCAL_INV of the victim's window
 * is LOC_PROT_ERR and leaves it bound; its bind of a window of its own
 * PD to the victim's MR is MW_BIND_ERR; the victim's bytes stay as they
 * were, and its window still serves it.
 */
static int window_attacker(void *arg)
{
	struct ibv_send_wr wr = { .send_flags = IBV_SEND_SIGNALED }, *bad;
	struct ibv_qp_attr reset = { .qp_state = IBV_QPS_RESET };
	struct conn c = { .access = -1, .max_dest_rd = -1 };
	const char *dev = dev_of(*(enum path *)arg, true);
	struct ibv_mw *mw = NULL;
	struct ibv_wc wc;
	struct end a = {};
	int rc = -1;

	if (end_init(&a, dev, ip_of(dev), IBV_QPT_UC, NULL))
		AFAIL("setup: %s", strerror(errno));
	mw = ibv_alloc_mw(a.pd, IBV_MW_TYPE_2);
	if (!mw)
		AFAIL("alloc_mw: %s", strerror(errno));
	sh->a_qpn = a.qp->qp_num;
	sh->a_gid = a.gid;
	set_stage(1);
	if (wait_stage(2, 30))
		AFAIL("the victim did not connect");
	c.dqpn = sh->v_qpn;
	c.dgid = sh->v_gid;
	if (end_connect(&a, &c))
		AFAIL("connect: %s", strerror(errno));
	/* The victim's window, by its key. */
	wr.wr_id = 1;
	wr.opcode = IBV_WR_LOCAL_INV;
	wr.invalidate_rkey = sh->v_psn;
	if (ibv_post_send(a.qp, &wr, &bad) || wait_wc(&a, &wc, 10) != 1)
		AFAIL("LOCAL_INV did not complete");
	sh->a_status[0] = wc.status;
	/* The QP is in ERR after the error: connected again for the bind. */
	if (ibv_modify_qp(a.qp, &reset, IBV_QP_STATE) || end_connect(&a, &c))
		AFAIL("reconnect: %s", strerror(errno));
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 2;
	wr.opcode = IBV_WR_BIND_MW;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.bind_mw.mw = mw;
	wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
	wr.bind_mw.bind_info.addr = sh->v_addr;
	wr.bind_mw.bind_info.length = 64;
	wr.bind_mw.bind_info.mw_access_flags = IBV_ACCESS_REMOTE_WRITE;
	/* The victim's MR, by its lkey: a struct of ours that carries it. */
	{
		struct ibv_mr fake = { .lkey = sh->v_rkey, .pd = a.pd };

		wr.bind_mw.bind_info.mr = &fake;
		if (ibv_post_send(a.qp, &wr, &bad) || wait_wc(&a, &wc, 10) != 1)
			AFAIL("BIND_MW did not complete");
	}
	sh->a_status[1] = wc.status;
	snprintf(sh->msg, sizeof(sh->msg), "LOCAL_INV: %s; BIND_MW: %s",
		 ibv_wc_status_str(sh->a_status[0]),
		 ibv_wc_status_str(sh->a_status[1]));
	rc = 0;
out:
	if (mw)
		ibv_dealloc_mw(mw);
	end_fini(&a);
	return rc;
}

static int window_reaches_only_its_own_pd(enum path path)
{
	struct ibv_send_wr wr = {
		.wr_id = 9, .opcode = IBV_WR_BIND_MW,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	struct ibv_mr *mr = NULL;
	struct ibv_mw *mw = NULL;
	uint64_t vbuf[64];
	struct ibv_wc wc;
	struct end v = {};
	pid_t pid;
	int rc = -1, i, st;

	if (path == PATH_WIRE)
		SKIP("binds and LOCAL_INV name keys of the poster's own device");
	memset(vbuf, 0x5e, sizeof(vbuf));
	CHECK(end_init(&v, dev_name, "10.11.0.1", IBV_QPT_UC, NULL) == 0,
	      "setup");
	mr = ibv_reg_mr(v.pd, vbuf, sizeof(vbuf),
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_MW_BIND);
	mw = ibv_alloc_mw(v.pd, IBV_MW_TYPE_2);
	CHECK(mr && mw, "MR and window: %s", strerror(errno));
	sh->v_qpn = v.qp->qp_num;
	sh->v_gid = v.gid;
	sh->v_rkey = mr->lkey;
	sh->v_addr = (uintptr_t)vbuf;
	set_stage(0);
	fflush(stdout);
	pid = fork();
	CHECK(pid >= 0, "fork");
	if (!pid)
		_exit(drop_privileges() ? 3 : window_attacker(&path) ? 1 : 0);
	if (wait_stage(1, 30) == 0) {
		struct conn c = { .dqpn = sh->a_qpn, .dgid = sh->a_gid,
				  .access = -1, .max_dest_rd = -1 };

		if (end_connect(&v, &c) == 0) {
			wr.bind_mw.mw = mw;
			wr.bind_mw.rkey = ibv_inc_rkey(mw->rkey);
			wr.bind_mw.bind_info.mr = mr;
			wr.bind_mw.bind_info.addr = (uintptr_t)vbuf;
			wr.bind_mw.bind_info.length = sizeof(vbuf);
			wr.bind_mw.bind_info.mw_access_flags =
				IBV_ACCESS_REMOTE_WRITE;
			if (ibv_post_send(v.qp, &wr, &bad) == 0 &&
			    wait_wc(&v, &wc, 10) == 1 &&
			    wc.status == IBV_WC_SUCCESS) {
				mw->rkey = wr.bind_mw.rkey;
				sh->v_psn = mw->rkey;	/* the window's key */
				set_stage(2);
			}
		}
	}
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "attacker: %s", sh->msg);
	note("%s", sh->msg);
	CHECK(sh->a_status[0] == IBV_WC_LOC_PROT_ERR,
	      "the attacker's LOCAL_INV of the victim's window: %s",
	      ibv_wc_status_str(sh->a_status[0]));
	CHECK(sh->a_status[1] == IBV_WC_MW_BIND_ERR,
	      "the attacker's bind to the victim's MR: %s",
	      ibv_wc_status_str(sh->a_status[1]));
	for (i = 0; i < 64; i++)
		CHECK(vbuf[i] == 0x5e5e5e5e5e5e5e5eULL,
		      "the victim's memory changed at word %d", i);
	/* Still bound: the victim's own LOCAL_INV ends it. */
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 10;
	wr.opcode = IBV_WR_LOCAL_INV;
	wr.send_flags = IBV_SEND_SIGNALED;
	wr.invalidate_rkey = mw->rkey;
	CHECK(ibv_post_send(v.qp, &wr, &bad) == 0 &&
	      wait_wc(&v, &wc, 10) == 1 && wc.status == IBV_WC_SUCCESS,
	      "the victim's LOCAL_INV of its window: %s",
	      ibv_wc_status_str(wc.status));
	rc = 0;
out:
	if (mw)
		ibv_dealloc_mw(mw);
	if (mr)
		ibv_dereg_mr(mr);
	end_fini(&v);
	return rc;
}

/* ---------------------------------------------------------------------- */

#define BOTH(n)                                                                \
	static int n##_same(void) { return n(PATH_SAME); }                     \
	static int n##_wire(void) { return n(PATH_WIRE); }
#define TT(n) { #n " (same device)", n##_same, false }, \
	      { #n " (RoCEv2)", n##_wire, false }

BOTH(rewritten_wqe_changes_nothing)
BOTH(foreign_qp_reaches_nothing)
BOTH(rkey_guessing_finds_no_other_mr)
BOTH(keys_say_nothing_of_each_other)
BOTH(ah_of_another_pd_is_refused)
BOTH(sge_past_the_address_space_is_refused)
BOTH(odp_registrations_are_bounded)
BOTH(first_touches_race_an_munmap)
BOTH(probing_unmapped_addresses_leaves_no_children)
BOTH(no_responder_resources_no_read)
BOTH(stalled_source_never_holds_the_destination)
BOTH(stalled_destination_never_holds_the_requester)
BOTH(killed_poster_exits_while_the_destination_stalls)
BOTH(window_reaches_only_its_own_pd)

static const struct test tests[] = {
	TT(rewritten_wqe_changes_nothing),
	TT(foreign_qp_reaches_nothing),
	TT(rkey_guessing_finds_no_other_mr),
	TT(keys_say_nothing_of_each_other),
	TT(ah_of_another_pd_is_refused),
	TT(sge_past_the_address_space_is_refused),
	TT(odp_registrations_are_bounded),
	TT(first_touches_race_an_munmap),
	TT(probing_unmapped_addresses_leaves_no_children),
	TT(no_responder_resources_no_read),
	TT(stalled_source_never_holds_the_destination),
	TT(stalled_destination_never_holds_the_requester),
	TT(killed_poster_exits_while_the_destination_stalls),
	TT(window_reaches_only_its_own_pd),
};

int main(int argc, char **argv)
{
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	const char *scale = getenv("MIRROR_TIME_SCALE");
	int i, n = 0;

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
		fprintf(stderr, "usage: %s [-d DEVICE] -W DEVICE2 [-v] [TEST...]\n",
			argv[0]);
		return 2;
	}
	if (scale && atoi(scale) > 0)
		time_scale = atoi(scale);
	if (getuid() != 0) {
		fprintf(stderr, "%s: run as root (it drops to %d for the attacks)\n",
			argv[0], NOBODY);
		return 2;
	}
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	return mirror_tap_main(n, args, tests,
			       (int)(sizeof(tests) / sizeof(tests[0])), true);
}
