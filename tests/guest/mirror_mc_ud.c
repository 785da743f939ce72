// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_mc_ud - UD multicast through the verbs alone, for IPv4 and IPv6
 * groups, between hosts.
 *
 * rdma_cm (mckey, mirror_mc_send) cannot join an IPv6 group on RoCEv2:
 * ib_core's cma answers ENOTSUPP for every device. This tool attaches a
 * UD QP to the group with ibv_attach_mcast() and sends with an address
 * handle to it, as a verbs application does.
 *
 * Usage: mirror_mc_ud -d DEV -m GROUP (-r | -s) [-C COUNT] [-S SIZE]
 * GROUP: an IPv4 (224.0.0.0/4) or IPv6 (ff00::/8) multicast address.
 * -r: attaches a UD QP of DEV to GROUP, prints "attached", and waits until
 *     it has datagrams 0 to COUNT-1 (giving up when none comes for 60 s
 *     times the time scale), each checked: its GRH area holds an IP header
 *     of GROUP's family addressed to GROUP, its bytes are the sender's.
 *     Copies seen twice are counted and ignored. Exit status 0 when all
 *     came.
 * -s: sends datagrams 0 to COUNT-1 of SIZE bytes to GROUP from DEV's first
 *     RoCEv2 GID of GROUP's family, each signaled and waited for. Exit
 *     status 0 when all completed with success.
 * UD is unreliable: a caller that must see every datagram arrive sends
 * again while the receiver waits.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror_testlib.h"

#define MC_QKEY		0x1234
#define MC_QPN		0xffffff
#define MC_GRH		40
#define MC_MAX_COUNT	256
#define MC_MAX_SIZE	1024
#define MC_WAIT_MS	60000
#define MC_SEND_MS	10000

static const char *prog = "mirror_mc_ud";

/* Byte @j of datagram @n: its number first (4 bytes, big endian). */
static uint8_t mc_byte(uint32_t n, int j)
{
	if (j < 4)
		return (uint8_t)(n >> (8 * (3 - j)));
	return (uint8_t)(n * 7 + j);
}

/* The multicast GID of @s (IPv4-mapped for IPv4); @v4 says which. */
static int mc_group(const char *s, union ibv_gid *g, bool *v4)
{
	struct in_addr a4;

	memset(g, 0, sizeof(*g));
	if (inet_pton(AF_INET, s, &a4) == 1) {
		if ((ntohl(a4.s_addr) >> 28) != 0xe)
			return -1;
		g->raw[10] = 0xff;
		g->raw[11] = 0xff;
		memcpy(&g->raw[12], &a4, 4);
		*v4 = true;
		return 0;
	}
	if (inet_pton(AF_INET6, s, g->raw) == 1 && g->raw[0] == 0xff) {
		*v4 = false;
		return 0;
	}
	return -1;
}

/*
 * Is the GRH area @grh the IP header of a datagram to @g? IPv4: the
 * header in its last 20 bytes; IPv6: the whole IPv6 header.
 */
static bool mc_grh_ok(const uint8_t *grh, const union ibv_gid *g, bool v4)
{
	if (v4)
		return (grh[20] >> 4) == 4 && !memcmp(grh + 36, &g->raw[12], 4);
	return (grh[0] >> 4) == 6 && !memcmp(grh + 24, g->raw, 16);
}

static int mc_post_recv(struct ibv_qp *qp, struct ibv_mr *mr, uint8_t *buf,
			int slot, int size)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(buf + (size_t)slot * (MC_GRH + size)),
		.length = (uint32_t)(MC_GRH + size),
		.lkey = mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)slot, .sg_list = &sge,
				  .num_sge = 1 }, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

static int mc_receive(struct ibv_qp *qp, struct ibv_cq *cq, struct ibv_mr *mr,
		      uint8_t *buf, const union ibv_gid *g, bool v4, int count,
		      int size)
{
	bool seen[MC_MAX_COUNT] = { false };
	int got = 0, twice = 0, slot, j;
	const uint8_t *d;
	struct ibv_wc wc;
	uint32_t n;

	for (slot = 0; slot < count; slot++)
		if (mc_post_recv(qp, mr, buf, slot, size)) {
			fprintf(stderr, "%s: post_recv: %s\n", prog,
				strerror(errno));
			return -1;
		}
	if (ibv_attach_mcast(qp, g, 0)) {
		fprintf(stderr, "%s: attach_mcast: %s\n", prog,
			strerror(errno));
		return -1;
	}
	printf("%s: attached\n", prog);
	fflush(stdout);
	while (got < count) {
		if (mirror_test_wait_wc(cq, &wc, MC_WAIT_MS)) {
			fprintf(stderr, "%s: %d of %d datagrams came (%d twice)\n",
				prog, got, count, twice);
			goto fail;
		}
		if (wc.status != IBV_WC_SUCCESS || !(wc.wc_flags & IBV_WC_GRH) ||
		    wc.byte_len != (uint32_t)(MC_GRH + size)) {
			fprintf(stderr, "%s: receive: %s, %u bytes, flags 0x%x\n",
				prog, ibv_wc_status_str(wc.status),
				wc.byte_len, wc.wc_flags);
			goto fail;
		}
		slot = (int)wc.wr_id;
		d = buf + (size_t)slot * (MC_GRH + size);
		if (!mc_grh_ok(d, g, v4)) {
			fprintf(stderr, "%s: the GRH area holds no IPv%d header to the group\n",
				prog, v4 ? 4 : 6);
			goto fail;
		}
		d += MC_GRH;
		n = (uint32_t)d[0] << 24 | (uint32_t)d[1] << 16 |
		    (uint32_t)d[2] << 8 | d[3];
		if (n >= (uint32_t)count) {
			fprintf(stderr, "%s: datagram number %u\n", prog, n);
			goto fail;
		}
		for (j = 4; j < size; j++)
			if (d[j] != mc_byte(n, j)) {
				fprintf(stderr, "%s: datagram %u: byte %d is 0x%02x, want 0x%02x\n",
					prog, n, j, d[j], mc_byte(n, j));
				goto fail;
			}
		if (seen[n]) {
			twice++;
		} else {
			seen[n] = true;
			got++;
		}
		if (mc_post_recv(qp, mr, buf, slot, size)) {
			fprintf(stderr, "%s: post_recv: %s\n", prog,
				strerror(errno));
			goto fail;
		}
	}
	printf("%s: %d datagrams received and checked (%d copies twice)\n",
	       prog, count, twice);
	ibv_detach_mcast(qp, g, 0);
	return 0;
fail:
	ibv_detach_mcast(qp, g, 0);
	return -1;
}

static int mc_send(struct ibv_context *ctx, struct ibv_pd *pd,
		   struct ibv_qp *qp, struct ibv_cq *cq, struct ibv_mr *mr,
		   uint8_t *buf, const union ibv_gid *g, bool v4, int count,
		   int size)
{
	struct ibv_ah_attr av;
	union ibv_gid sgid;
	struct ibv_ah *ah;
	struct ibv_wc wc;
	int sidx, i, j, rc = -1;

	if (v4 ? mirror_test_ipv4_gid(ctx, NULL, &sidx, &sgid) :
		 mirror_test_ipv6_gid(ctx, &sidx, &sgid)) {
		fprintf(stderr, "%s: no IPv%d RoCEv2 GID\n", prog, v4 ? 4 : 6);
		return -1;
	}
	av = mirror_test_av(g, sidx);
	ah = ibv_create_ah(pd, &av);
	if (!ah) {
		fprintf(stderr, "%s: create_ah: %s\n", prog, strerror(errno));
		return -1;
	}
	for (i = 0; i < count; i++) {
		struct ibv_sge sge = { (uintptr_t)buf, (uint32_t)size,
				       mr->lkey };
		struct ibv_send_wr wr = {
			.wr_id = (uint64_t)i, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_SEND, .send_flags = IBV_SEND_SIGNALED,
		}, *bad;

		for (j = 0; j < size; j++)
			buf[j] = mc_byte((uint32_t)i, j);
		wr.wr.ud.ah = ah;
		wr.wr.ud.remote_qpn = MC_QPN;
		wr.wr.ud.remote_qkey = MC_QKEY;
		errno = ibv_post_send(qp, &wr, &bad);
		if (errno) {
			fprintf(stderr, "%s: post_send %d: %s\n", prog, i,
				strerror(errno));
			goto out;
		}
		if (mirror_test_wait_wc(cq, &wc, MC_SEND_MS)) {
			fprintf(stderr, "%s: datagram %d: no completion\n",
				prog, i);
			goto out;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "%s: datagram %d: %s\n", prog, i,
				ibv_wc_status_str(wc.status));
			goto out;
		}
	}
	printf("%s: %d datagrams sent from GID %d\n", prog, count, sidx);
	rc = 0;
out:
	ibv_destroy_ah(ah);
	return rc;
}

int main(int argc, char **argv)
{
	struct mirror_test_qp_params qpp = mirror_test_qp_defaults(IBV_QPT_UD);
	struct ibv_qp_init_attr qia = {
		.qp_type = IBV_QPT_UD,
		.cap = { .max_send_wr = 4, .max_recv_wr = MC_MAX_COUNT,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	const char *dev = NULL, *group_s = NULL;
	int count = 20, size = 500, op, role = 0, rc = 1;
	struct ibv_context *ctx = NULL;
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_mr *mr = NULL;
	struct ibv_qp *qp = NULL;
	uint8_t *buf = NULL;
	union ibv_gid g;
	size_t len;
	bool v4;

	while ((op = getopt(argc, argv, "d:m:rsC:S:")) != -1) {
		switch (op) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			group_s = optarg;
			break;
		case 'r':
		case 's':
			role = op;
			break;
		case 'C':
			count = atoi(optarg);
			break;
		case 'S':
			size = atoi(optarg);
			break;
		default:
			goto usage;
		}
	}
	if (!dev || !group_s || !role || mc_group(group_s, &g, &v4) ||
	    count <= 0 || count > MC_MAX_COUNT || size < 4 ||
	    size > MC_MAX_SIZE)
		goto usage;

	ctx = mirror_test_open(dev);
	if (!ctx) {
		fprintf(stderr, "%s: no device %s\n", prog, dev);
		return 1;
	}
	len = (size_t)count * (MC_GRH + size);
	buf = calloc(1, len);
	pd = ibv_alloc_pd(ctx);
	cq = pd ? ibv_create_cq(ctx, MC_MAX_COUNT + 4, NULL, NULL, 0) : NULL;
	mr = cq && buf ? ibv_reg_mr(pd, buf, len, IBV_ACCESS_LOCAL_WRITE) :
			 NULL;
	if (!mr) {
		fprintf(stderr, "%s: PD, CQ or MR: %s\n", prog, strerror(errno));
		goto out;
	}
	qia.send_cq = qia.recv_cq = cq;
	qp = ibv_create_qp(pd, &qia);
	qpp.qkey = MC_QKEY;
	if (!qp || mirror_test_connect(qp, 0, NULL, &qpp)) {
		fprintf(stderr, "%s: UD QP: %s\n", prog, strerror(errno));
		goto out;
	}
	if (role == 'r')
		rc = mc_receive(qp, cq, mr, buf, &g, v4, count, size) ? 1 : 0;
	else
		rc = mc_send(ctx, pd, qp, cq, mr, buf, &g, v4, count, size) ?
			     1 : 0;
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (mr)
		ibv_dereg_mr(mr);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	free(buf);
	ibv_close_device(ctx);
	return rc;
usage:
	fprintf(stderr, "usage: %s -d DEV -m GROUP (-r | -s) [-C COUNT (1-%d)] [-S SIZE (4-%d)]\n",
		prog, MC_MAX_COUNT, MC_MAX_SIZE);
	return 2;
}
