// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_wire_target.c - a victim for the RoCEv2 attack suite (attack.sh):
 * one RC or UC QP on DEVICE in RTS, connected to PEER_IP / PEER_QPN (a peer
 * that may not exist: the attacker forges its packets), with an MR the
 * attacker may know. It prints what the attacker needs on one line, then
 * takes commands on stdin, one per line, and answers each with one line:
 *
 *   recv N          post N receives of 4 KiB into the MR        -> ok
 *   read LEN        post an RDMA READ of LEN bytes (to va 0x1000,
 *                   rkey 0x1234) into the MR                     -> ok
 *   send LEN        post a SEND of LEN bytes from the MR         -> ok
 *   fadd            post a fetch-and-add into the MR's first 8 bytes -> ok
 *   poll MS         wait up to MS ms for completions             -> wc N
 *                   status/opcode/byte_len per completion: "wc 1 0:128:64"
 *   peek OFF LEN    LEN bytes of the MR at OFF, as hex           -> hex ...
 *   dereg           ibv_dereg_mr(); prints the time it took      -> dereg MS
 *   exit            exits at once (without cleaning up: the kernel must)
 *
 * Usage: mirror_wire_target DEVICE GID_INDEX PEER_IP PEER_QPN|self rc|uc
 *                           [odp|pinned] [MR_BYTES] [MAX_DEST_RD_ATOMIC]
 * "self" connects the QP to itself (on this device; PEER_IP is then the
 * device's own address), with the same PSN both ways.
 * First line: "qpn QPN rq_psn PSN sq_psn PSN rkey RKEY va VA len LEN"
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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

#define RQ_PSN	0x1000
#define SQ_PSN	0x5000
#define SLOT	4096

static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_cq *cq;
static struct ibv_qp *qp;
static struct ibv_mr *mr;
static char *buf;
static size_t buf_len = 1 << 20;
static unsigned int nrecv;
static uint32_t sq_psn = SQ_PSN;

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int die(const char *what)
{
	fprintf(stderr, "mirror_wire_target: %s: %s\n", what, strerror(errno));
	exit(2);
}

static int connect_qp(int gid_index, const char *peer_ip, uint32_t peer_qpn,
		      int max_rd)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   (qp->qp_type == IBV_QPT_RC ?
				    IBV_ACCESS_REMOTE_READ |
				    IBV_ACCESS_REMOTE_ATOMIC : 0),
	};
	union ibv_gid dgid = { .raw = { [10] = 0xff, [11] = 0xff } };
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
		   IBV_QP_ACCESS_FLAGS;

	if (inet_pton(AF_INET, peer_ip, &dgid.raw[12]) != 1)
		return -1;
	if (!peer_qpn) {
		/* "self": a QP connected to itself, on this device. */
		peer_qpn = qp->qp_num;
		sq_psn = RQ_PSN;
	}
	if (ibv_modify_qp(qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = peer_qpn;
	a.rq_psn = RQ_PSN;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = dgid;
	a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
	a.ah_attr.grh.hop_limit = 64;
	mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
	       IBV_QP_RQ_PSN;
	if (qp->qp_type == IBV_QPT_RC) {
		a.max_dest_rd_atomic = (uint8_t)max_rd;
		a.min_rnr_timer = 1;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (ibv_modify_qp(qp, &a, mask))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = sq_psn;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (qp->qp_type == IBV_QPT_RC) {
		/*
		 * No retransmission timeout: the only answers are the
		 * attacker's packets, which come when its scripts get to
		 * them (seconds apart on a slow or busy guest). A request
		 * left waiting is what the forged answers are tested on;
		 * resending it to a peer that does not exist would only
		 * end it in RETRY_EXC_ERR before the control answer came.
		 */
		a.timeout = 0;
		a.retry_cnt = 7;
		a.rnr_retry = 7;
		a.max_rd_atomic = 1;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(qp, &a, mask) ? -1 : 0;
}

static void post_send(enum ibv_wr_opcode op, uint32_t len)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)buf,
		.length = len,
		.lkey = mr->lkey,
	};
	struct ibv_send_wr wr = {
		.wr_id = op,
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	}, *bad;

	if (op == IBV_WR_RDMA_READ) {
		wr.wr.rdma.remote_addr = 0x1000;
		wr.wr.rdma.rkey = 0x1234;
	} else if (op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		sge.length = 8;
		wr.wr.atomic.remote_addr = 0x1000;
		wr.wr.atomic.rkey = 0x1234;
		wr.wr.atomic.compare_add = 1;
	}
	if (ibv_post_send(qp, &wr, &bad))
		die("ibv_post_send");
	printf("ok\n");
}

static void post_recvs(unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++, nrecv++) {
		size_t off = (size_t)(nrecv % (buf_len / SLOT)) * SLOT;
		struct ibv_sge sge = {
			.addr = (uintptr_t)buf + off,
			.length = SLOT,
			.lkey = mr->lkey,
		};
		struct ibv_recv_wr wr = {
			.wr_id = nrecv, .sg_list = &sge, .num_sge = 1,
		}, *bad;

		if (ibv_post_recv(qp, &wr, &bad))
			die("ibv_post_recv");
	}
	printf("ok\n");
}

static void poll_for(double ms)
{
	double end = now_ms() + ms;
	struct ibv_wc wc[16];
	char line[1024] = "";
	int n, i, total = 0;
	size_t used = 0;

	do {
		n = ibv_poll_cq(cq, 16, wc);
		for (i = 0; i < n && used < sizeof(line) - 64; i++)
			used += snprintf(line + used, sizeof(line) - used,
					 " %d:%d:%u", wc[i].status,
					 wc[i].opcode, wc[i].byte_len);
		total += n > 0 ? n : 0;
		if (!n)
			usleep(1000);
	} while (now_ms() < end);
	printf("wc %d%s\n", total, line);
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	char cmd[128];
	bool odp = false;
	int i, max_rd = 1;

	if (argc < 6) {
		fprintf(stderr,
			"usage: %s DEVICE GID_INDEX PEER_IP PEER_QPN rc|uc [odp] [MR_BYTES] [MAX_DEST_RD_ATOMIC]\n",
			argv[0]);
		return 2;
	}
	if (argc > 6)
		odp = !strcmp(argv[6], "odp");
	if (argc > 7)
		buf_len = strtoull(argv[7], NULL, 0);
	if (argc > 8)
		max_rd = atoi(argv[8]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), argv[1]))
			ctx = ibv_open_device(list[i]);
	if (!ctx)
		die("open device");
	pd = ibv_alloc_pd(ctx);
	cq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	if (!pd || !cq)
		die("pd/cq");
	{
		struct ibv_qp_init_attr ia = {
			.send_cq = cq, .recv_cq = cq,
			.qp_type = strcmp(argv[5], "uc") ? IBV_QPT_RC :
							   IBV_QPT_UC,
			.cap = { .max_send_wr = 16, .max_recv_wr = 64,
				 .max_send_sge = 1, .max_recv_sge = 1 },
		};

		qp = ibv_create_qp(pd, &ia);
	}
	if (!qp)
		die("create qp");
	/* Fresh, untouched memory: an ODP MR mirrors none of it yet. */
	buf = mmap(NULL, buf_len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (buf == MAP_FAILED)
		die("mmap");
	mr = ibv_reg_mr(pd, buf, buf_len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |
			(odp ? IBV_ACCESS_ON_DEMAND : 0));
	if (!mr)
		die("reg mr");
	if (connect_qp(atoi(argv[2]), argv[3],
		       strcmp(argv[4], "self") ? strtoul(argv[4], NULL, 0) : 0,
		       max_rd))
		die("connect");
	printf("qpn %u rq_psn %u sq_psn %u rkey %u va %llu len %zu\n",
	       qp->qp_num, RQ_PSN, sq_psn, mr->rkey,
	       (unsigned long long)(uintptr_t)buf, buf_len);

	while (fgets(cmd, sizeof(cmd), stdin)) {
		unsigned long a = 0, b = 0;

		if (sscanf(cmd, "recv %lu", &a) == 1) {
			post_recvs(a);
		} else if (sscanf(cmd, "read %lu", &a) == 1) {
			post_send(IBV_WR_RDMA_READ, a);
		} else if (sscanf(cmd, "send %lu", &a) == 1) {
			post_send(IBV_WR_SEND, a);
		} else if (!strncmp(cmd, "fadd", 4)) {
			post_send(IBV_WR_ATOMIC_FETCH_AND_ADD, 8);
		} else if (sscanf(cmd, "poll %lu", &a) == 1) {
			poll_for(a);
		} else if (sscanf(cmd, "peek %lu %lu", &a, &b) == 2) {
			printf("hex ");
			for (i = 0; i < (int)b && a + i < buf_len; i++)
				printf("%02x", (unsigned char)buf[a + i]);
			printf("\n");
		} else if (!strncmp(cmd, "dereg", 5)) {
			double t = now_ms();

			if (ibv_dereg_mr(mr))
				die("dereg");
			printf("dereg %.0f\n", now_ms() - t);
		} else if (!strncmp(cmd, "exit", 4)) {
			exit(0);
		} else {
			printf("? %s", cmd);
		}
	}
	return 0;
}
