/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_example.h - what the implicit-ODP examples share: options, two
 * processes connected by a socket, opening a mirror device with an IPv4
 * RoCEv2 GID, one side's verbs objects (RC QPs connected to a QP of the
 * same device, one implicit MR), waiting for a completion, data patterns,
 * and printing ODP counters.
 *
 * Everything here is ordinary libibverbs; the mirrorv_* calls in the
 * examples themselves are what libmirrorverbs adds.
 */
#ifndef MIRROR_EXAMPLE_H
#define MIRROR_EXAMPLE_H

#include <errno.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/mirrorverbs.h>

/* An open mirror device and the GID its QPs address each other with. */
struct ex_dev {
	struct ibv_context *ctx;
	union ibv_gid gid;
	uint8_t gid_index;
};

/* Queue depth of the examples' QPs and CQs. */
#define EX_DEPTH 64

static inline double ex_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Prints "PROG: WHAT: strerror(err)" and returns -1. */
static inline int ex_err(const char *prog, const char *what, int err)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(err));
	return -1;
}

/*
 * Opens device @name, or the first mirror device when @name is NULL, and
 * finds an IPv4 RoCEv2 GID of port 1 (the guest gives mirror0 one).
 */
static inline int ex_open(const char *prog, const char *name,
			  struct ex_dev *d)
{
	struct ibv_device **list;
	struct ibv_port_attr pattr;
	struct ibv_gid_entry e;
	struct ibv_device *dev = NULL;
	int i;

	memset(d, 0, sizeof(*d));
	list = ibv_get_device_list(NULL);
	if (!list)
		return ex_err(prog, "ibv_get_device_list", errno);
	for (i = 0; list[i] && !dev; i++)
		if (name ? !strcmp(ibv_get_device_name(list[i]), name) :
			   mirrorv_is_mirror_device(list[i]))
			dev = list[i];
	if (!dev || !mirrorv_is_mirror_device(dev)) {
		fprintf(stderr, "%s: no mirror device %s\n", prog,
			name ? name : "found");
		ibv_free_device_list(list);
		return -1;
	}
	d->ctx = ibv_open_device(dev);
	ibv_free_device_list(list);
	if (!d->ctx)
		return ex_err(prog, "ibv_open_device", errno);
	if (ibv_query_port(d->ctx, 1, &pattr))
		goto err_close;
	for (i = 0; i < pattr.gid_tbl_len && i < 256; i++) {
		if (ibv_query_gid_ex(d->ctx, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2 ||
		    !IN6_IS_ADDR_V4MAPPED((struct in6_addr *)e.gid.raw))
			continue;
		d->gid = e.gid;
		d->gid_index = (uint8_t)i;
		return 0;
	}
	fprintf(stderr, "%s: %s has no IPv4 RoCEv2 GID\n", prog,
		ibv_get_device_name(d->ctx->device));
err_close:
	ibv_close_device(d->ctx);
	d->ctx = NULL;
	return -1;
}

/*
 * Takes RC QP @qp through INIT, RTR and RTS, connected to QP @dest_qpn of
 * the same device; remote read, write and atomics allowed; RNR retried for
 * ever.
 */
static inline int ex_connect_rc(const struct ex_dev *d, struct ibv_qp *qp,
				uint32_t dest_qpn)
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
	a.dest_qp_num = dest_qpn;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = d->gid;
	a.ah_attr.grh.sgid_index = d->gid_index;
	a.ah_attr.grh.hop_limit = 64;
	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return -1;
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_TIMEOUT |
			     IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			     IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC) ? -1 : 0;
}

/*
 * Waits up to @secs seconds for one completion; -1 on timeout. Polls, and
 * naps between polls once the completion is slow, leaving the CPU to the
 * kernel's work (the peer's QP, page faults).
 */
static inline int ex_wait(struct ibv_cq *cq, struct ibv_wc *wc, int secs)
{
	double end = ex_now() + secs;
	unsigned int polls = 0;
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n == 1 ? 0 : -1;
		if (++polls < 200)
			continue;
		if (ex_now() > end)
			return -1;
		usleep(20);
	}
}

/*
 * One side of an example: a PD, a send and a receive CQ, an RC QP and ONE
 * implicit MR, the only registration. With a loop, a second QP (qb) is
 * connected to the first, so that the process RDMA-writes into its own
 * memory as a peer would.
 */
struct ex_side {
	struct ex_dev dev;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct ibv_qp *qp, *qb;
	struct ibv_mr *mr;
};

/* An RC QP with room for EX_DEPTH WRs each way. */
static inline struct ibv_qp *ex_create_rc_qp(struct ex_side *s)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = s->scq,
		.recv_cq = s->rcq,
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = EX_DEPTH, .max_recv_wr = EX_DEPTH,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};

	return ibv_create_qp(s->pd, &ia);
}

static inline void ex_side_close(struct ex_side *s)
{
	if (s->qp)
		ibv_destroy_qp(s->qp);
	if (s->qb)
		ibv_destroy_qp(s->qb);
	if (s->mr)
		ibv_dereg_mr(s->mr);
	if (s->scq)
		ibv_destroy_cq(s->scq);
	if (s->rcq)
		ibv_destroy_cq(s->rcq);
	if (s->pd)
		ibv_dealloc_pd(s->pd);
	if (s->dev.ctx)
		ibv_close_device(s->dev.ctx);
	memset(s, 0, sizeof(*s));
}

/*
 * Opens the device and makes the side's objects; the implicit MR gets
 * @access (0: libmirrorverbs' default, local and all remote access). With
 * @loop, qb is made and both QPs are connected to each other.
 */
static inline int ex_side_open(const char *prog, const char *devname,
			       unsigned int access, bool loop,
			       struct ex_side *s)
{
	memset(s, 0, sizeof(*s));
	if (ex_open(prog, devname, &s->dev))
		return -1;
	s->pd = ibv_alloc_pd(s->dev.ctx);
	if (!s->pd)
		goto err;
	s->scq = ibv_create_cq(s->dev.ctx, EX_DEPTH, NULL, NULL, 0);
	s->rcq = ibv_create_cq(s->dev.ctx, EX_DEPTH, NULL, NULL, 0);
	if (!s->scq || !s->rcq)
		goto err;
	s->qp = ex_create_rc_qp(s);
	if (!s->qp)
		goto err;
	if (loop) {
		s->qb = ex_create_rc_qp(s);
		if (!s->qb ||
		    ex_connect_rc(&s->dev, s->qp, s->qb->qp_num) ||
		    ex_connect_rc(&s->dev, s->qb, s->qp->qp_num))
			goto err;
	}
	s->mr = mirrorv_reg_implicit_mr(s->pd, access);
	if (!s->mr)
		goto err;
	return 0;
err:
	ex_err(prog, "creating a PD, CQs, QPs and an implicit MR", errno);
	ex_side_close(s);
	return -1;
}

/*
 * Posts one signalled WR on the side's QP: RDMA write or read between
 * @laddr (the side's implicit lkey) and @raddr (@rkey), or a send when
 * @raddr and @rkey are unused. Waits for its successful completion.
 */
static inline int ex_post_wait(const char *prog, struct ex_side *s,
			       enum ibv_wr_opcode op, void *laddr,
			       uint32_t len, uint64_t raddr, uint32_t rkey)
{
	struct ibv_sge sge = { (uintptr_t)laddr, len, s->mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = 1, .sg_list = &sge, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = raddr, .rkey = rkey },
	};
	struct ibv_send_wr *bad;
	struct ibv_wc wc;
	int err;

	err = ibv_post_send(s->qp, &wr, &bad);
	if (err)
		return ex_err(prog, "ibv_post_send", err);
	if (ex_wait(s->scq, &wc, 60)) {
		fprintf(stderr, "%s: no completion within 60 s\n", prog);
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, "%s: completion with status %s\n", prog,
			ibv_wc_status_str(wc.status));
		return -1;
	}
	return 0;
}

/* A loop side's RDMA write of [src, src + len) to its own @dst. */
static inline int ex_loop_write(const char *prog, struct ex_side *s,
				void *dst, void *src, uint32_t len)
{
	return ex_post_wait(prog, s, IBV_WR_RDMA_WRITE, src, len,
			    (uintptr_t)dst, s->mr->rkey);
}

/*
 * Parses "[-d DEVICE]" and, when @opt is not 0, "[-OPT NUMBER]" (a
 * positive number into *@value); makes stdout line-buffered, as the
 * examples' output interleaves across processes. Prints "usage: PROG
 * @usage" and returns -1 on anything else.
 */
static inline int ex_options(int argc, char **argv, const char *usage,
			     char opt, long *value, const char **devname)
{
	char optstring[] = { 'd', ':', opt, ':', '\0' };
	int o;

	*devname = NULL;
	while ((o = getopt(argc, argv, opt ? optstring : "d:")) != -1) {
		if (o == 'd') {
			*devname = optarg;
		} else if (opt && o == opt && atol(optarg) > 0) {
			*value = atol(optarg);
		} else {
			fprintf(stderr, "usage: %s %s\n", argv[0], usage);
			return -1;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	return 0;
}

/* One process of a two-process example, on its end of the socket. */
typedef int ex_role_fn(int fd, const char *devname, long arg);

/*
 * Runs @child in a forked process and @parent in this one, connected by
 * a stream socketpair; each opens the device itself, after the fork.
 * Returns 0 when both returned 0.
 */
static inline int ex_fork_pair(const char *prog, ex_role_fn *parent,
			       ex_role_fn *child, const char *devname,
			       long arg)
{
	int sv[2], status, ret;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return ex_err(prog, "socketpair", errno);
	pid = fork();
	if (pid < 0)
		return ex_err(prog, "fork", errno);
	if (pid == 0) {
		close(sv[0]);
		_exit(child(sv[1], devname, arg) ? 1 : 0);
	}
	close(sv[1]);
	ret = parent(sv[0], devname, arg);
	close(sv[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		ret = -1;
	return ret;
}

/* Sends or receives exactly @len bytes over a stream socket. */
static inline int ex_xfer(int fd, void *buf, size_t len, bool send)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = send ? write(fd, p, len) : read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

#define ex_send(fd, msg) ex_xfer((fd), (msg), sizeof(*(msg)), true)
#define ex_recv(fd, msg) ex_xfer((fd), (msg), sizeof(*(msg)), false)

/* The byte of pattern @seed at offset @i: depends on both. */
static inline uint8_t ex_pattern(uint32_t seed, size_t i)
{
	uint32_t h = ((uint32_t)i ^ (seed * 0x9e3779b9u)) * 0x85ebca6bu;

	return (uint8_t)((h >> 24) ^ (i >> 12));
}

static inline void ex_fill(void *buf, size_t len, uint32_t seed)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = ex_pattern(seed, i);
}

/* Bytes of @buf that differ from pattern @seed. */
static inline size_t ex_check(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf;
	size_t i, bad = 0;

	for (i = 0; i < len; i++)
		bad += p[i] != ex_pattern(seed, i);
	return bad;
}

/* Pages of [addr, addr + len) mirrored (writable in *@writable). */
static inline int ex_mirrored_pages(struct ibv_mr *mr, const void *addr,
				    size_t len, size_t *mirrored,
				    size_t *writable)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t first = (uintptr_t)addr & ~(uintptr_t)(page - 1);
	size_t i, n = ((uintptr_t)addr + len - first + page - 1) / page;
	uint8_t *st = malloc(n);
	int err;

	if (!st)
		return ENOMEM;
	err = mirrorv_query_mirror(mr, addr, len, st);
	*mirrored = 0;
	*writable = 0;
	for (i = 0; !err && i < n; i++) {
		*mirrored += !!(st[i] & MIRRORV_PAGE_READ);
		*writable += !!(st[i] & MIRRORV_PAGE_WRITE);
	}
	free(st);
	return err;
}

/* mirrorv_query_mr_odp_counters(), with a message on failure. */
static inline int ex_mr_counters(const char *prog, struct ibv_mr *mr,
				 struct mirrorv_odp_counters *c)
{
	int err = mirrorv_query_mr_odp_counters(mr, c);

	return err ? ex_err(prog, "mirrorv_query_mr_odp_counters", err) : 0;
}

/* One line of the counters that moved between @a and @b. */
static inline void ex_print_delta(const char *what,
				  const struct mirrorv_odp_counters *a,
				  const struct mirrorv_odp_counters *b)
{
	printf("%s: faults %llu, pages faulted %llu, invalidations %llu "
	       "(%llu pages), prefetches %llu, children +%llu -%llu\n", what,
	       (unsigned long long)(b->faults - a->faults),
	       (unsigned long long)(b->pages_faulted - a->pages_faulted),
	       (unsigned long long)(b->invalidations - a->invalidations),
	       (unsigned long long)(b->pages_invalidated -
				    a->pages_invalidated),
	       (unsigned long long)(b->prefetches - a->prefetches),
	       (unsigned long long)(b->children_created -
				    a->children_created),
	       (unsigned long long)(b->children_destroyed -
				    a->children_destroyed));
}

#endif /* MIRROR_EXAMPLE_H */
