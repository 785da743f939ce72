// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_implicit_pingpong - send/receive ping-pong where neither side
 * registers its buffers: each has one implicit ODP MR and sends from and
 * receives into ordinary heap memory with its lkey.
 *
 * Two processes on one mirror device, connected by RC QPs. The client
 * sends a ping of a size that changes every iteration; the server checks
 * every byte and answers with a pong of another pattern, which the client
 * checks. Each side receives into a different buffer every iteration.
 *
 * Usage: mirror_implicit_pingpong [-d DEVICE] [-n ITERATIONS]
 * Exit status: 0 when all iterations passed their checks, 1 otherwise.
 */
#include "mirror_example.h"

#define PROG "mirror_implicit_pingpong"
#define MAX_MSG (256 * 1024)
#define NBUFS 3		/* buffers each side cycles through */

static const uint32_t msg_len[] = { 1, 64, 1000, 4096, 4097, 65536, MAX_MSG };
#define NLEN (sizeof(msg_len) / sizeof(msg_len[0]))

/* Patterns: the ping and the pong of iteration @i differ. */
#define PING_SEED(i) (2 * (uint32_t)(i) + 1)
#define PONG_SEED(i) (2 * (uint32_t)(i) + 2)

/* One process: its side, and the plain malloc() buffers it cycles through. */
struct pp {
	struct ex_side s;
	uint8_t *rbuf[NBUFS], *sbuf[NBUFS];
};

static void pp_close(struct pp *pp)
{
	int i;

	ex_side_close(&pp->s);
	for (i = 0; i < NBUFS; i++) {
		free(pp->rbuf[i]);
		free(pp->sbuf[i]);
	}
}

/* Opens the side (implicit MR with local write only) and connects it. */
static int pp_open(struct pp *pp, const char *devname, int fd)
{
	uint32_t peer_qpn;
	int i;

	memset(pp, 0, sizeof(*pp));
	if (ex_side_open(PROG, devname, IBV_ACCESS_LOCAL_WRITE, false, &pp->s))
		return -1;
	for (i = 0; i < NBUFS; i++) {
		pp->rbuf[i] = malloc(MAX_MSG);
		pp->sbuf[i] = malloc(MAX_MSG);
		if (!pp->rbuf[i] || !pp->sbuf[i])
			return ex_err(PROG, "malloc", ENOMEM);
	}
	if (ex_send(fd, &pp->s.qp->qp_num) || ex_recv(fd, &peer_qpn) ||
	    ex_connect_rc(&pp->s.dev, pp->s.qp, peer_qpn))
		return ex_err(PROG, "connecting", errno ? errno : EIO);
	return 0;
}

static int post_recv(struct pp *pp, uint8_t *buf)
{
	struct ibv_sge sge = { (uintptr_t)buf, MAX_MSG, pp->s.mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = 2, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int err = ibv_post_recv(pp->s.qp, &wr, &bad);

	return err ? ex_err(PROG, "ibv_post_recv", err) : 0;
}

/* Waits for the next completion on @cq; it must be a successful one. */
static int wait_ok(struct ibv_cq *cq, const char *what, int i)
{
	struct ibv_wc wc;

	if (ex_wait(cq, &wc, 60)) {
		fprintf(stderr, PROG ": %s %d: no completion in 60 s\n", what,
			i);
		return -1;
	}
	if (wc.status != IBV_WC_SUCCESS) {
		fprintf(stderr, PROG ": %s %d: %s\n", what, i,
			ibv_wc_status_str(wc.status));
		return -1;
	}
	return (int)wc.byte_len;
}

/* The server's iterations: check each ping, answer with a pong. */
static int serve(struct pp *pp, long iters)
{
	uint8_t *rbuf, *sbuf;
	int i, len;

	for (i = 0; i < iters; i++) {
		rbuf = pp->rbuf[i % NBUFS];
		sbuf = pp->sbuf[i % NBUFS];
		len = wait_ok(pp->s.rcq, "server: ping", i);
		if (len < 0)
			return -1;
		if ((uint32_t)len != msg_len[i % NLEN] ||
		    ex_check(rbuf, (size_t)len, PING_SEED(i))) {
			fprintf(stderr, PROG ": server: ping %d is wrong\n", i);
			return -1;
		}
		/* The next ping's buffer before the pong that triggers it. */
		if (i + 1 < iters && post_recv(pp, pp->rbuf[(i + 1) % NBUFS]))
			return -1;
		ex_fill(sbuf, (size_t)len, PONG_SEED(i));
		if (ex_post_wait(PROG, &pp->s, IBV_WR_SEND, sbuf,
				 (uint32_t)len, 0, 0))
			return -1;
	}
	return 0;
}

/* The client's iterations: send each ping, check its pong. */
static int ping(struct pp *pp, long iters)
{
	uint64_t bytes = 0;
	uint8_t *rbuf, *sbuf;
	double t0 = ex_now();
	int i, len;

	printf("client: %ld iterations, messages of 1 B to %u KiB from and "
	       "into malloc() memory, implicit MRs on both sides\n", iters,
	       MAX_MSG / 1024);
	for (i = 0; i < iters; i++) {
		rbuf = pp->rbuf[i % NBUFS];
		sbuf = pp->sbuf[i % NBUFS];
		len = (int)msg_len[i % NLEN];
		ex_fill(sbuf, (size_t)len, PING_SEED(i));
		/* Where the pong will land, before the ping goes. */
		if (post_recv(pp, rbuf) ||
		    ex_post_wait(PROG, &pp->s, IBV_WR_SEND, sbuf,
				 (uint32_t)len, 0, 0))
			return -1;
		if (wait_ok(pp->s.rcq, "client: pong", i) != len ||
		    ex_check(rbuf, (size_t)len, PONG_SEED(i))) {
			fprintf(stderr, PROG ": client: pong %d is wrong\n", i);
			return -1;
		}
		bytes += 2 * (uint64_t)len;
	}
	printf("client: %ld round trips checked, %llu bytes, %.1f us per "
	       "round trip\n", iters, (unsigned long long)bytes,
	       (ex_now() - t0) * 1e6 / (double)iters);
	return 0;
}

/*
 * Either process: connects, waits until the server's first receive is
 * posted, plays its part and prints what its implicit MR did.
 */
static int side_main(int fd, const char *devname, long iters, bool client)
{
	const char *who = client ? "client: implicit MR" :
				   "server: implicit MR";
	struct mirrorv_odp_counters a, b;
	int ready = 1, ret = -1;
	struct pp pp;

	if (pp_open(&pp, devname, fd) || ex_mr_counters(PROG, pp.s.mr, &a))
		goto out;
	if (client ? ex_recv(fd, &ready) :
		     post_recv(&pp, pp.rbuf[0]) || ex_send(fd, &ready))
		goto out;
	if ((client ? ping(&pp, iters) : serve(&pp, iters)) ||
	    ex_mr_counters(PROG, pp.s.mr, &b))
		goto out;
	ex_print_delta(who, &a, &b);
	ret = 0;
out:
	/* After a failure, the closed socket tells the peer to stop. */
	shutdown(fd, SHUT_RDWR);
	pp_close(&pp);
	return ret;
}

static int server(int fd, const char *devname, long iters)
{
	return side_main(fd, devname, iters, false);
}

static int client(int fd, const char *devname, long iters)
{
	return side_main(fd, devname, iters, true);
}

int main(int argc, char **argv)
{
	const char *devname;
	long iters = 500;
	int ret;

	if (ex_options(argc, argv, "[-d DEVICE] [-n ITERATIONS]", 'n', &iters,
		       &devname))
		return 2;
	ret = ex_fork_pair(PROG, client, server, devname, iters) ? 1 : 0;
	printf("%s\n", ret ? "FAILED" : "every ping and pong arrived intact");
	return ret;
}
