// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_info - show a mirror device and exercise its control verbs:
 * device and port attributes, RoCE GIDs, then a PD, a CQ, an RC QP and a
 * 1 MiB memory region, torn down again.
 *
 * Usage: mirror_info [-d DEVICE]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <infiniband/mirrorverbs.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MR_SIZE (1 << 20)

static int fail(const char *what)
{
	fprintf(stderr, "mirror_info: %s: %s\n", what, strerror(errno));
	return 1;
}

static const char *gid_type_str(enum ibv_gid_type t)
{
	switch (t) {
	case IBV_GID_TYPE_IB:
		return "IB";
	case IBV_GID_TYPE_ROCE_V1:
		return "RoCE v1";
	case IBV_GID_TYPE_ROCE_V2:
		return "RoCE v2";
	}
	return "?";
}

static int show(struct ibv_context *ctx)
{
	struct ibv_device_attr dattr;
	struct ibv_port_attr pattr;
	struct ibv_gid_entry gid;
	char buf[INET6_ADDRSTRLEN];
	int i;

	if (ibv_query_device(ctx, &dattr))
		return fail("ibv_query_device");
	if (ibv_query_port(ctx, 1, &pattr))
		return fail("ibv_query_port");
	printf("device      %s (firmware %s)\n",
	       ibv_get_device_name(ctx->device), dattr.fw_ver);
	printf("limits      %d QPs x %d WRs, %d CQs x %d CQEs, %d MRs, %d SGEs\n",
	       dattr.max_qp, dattr.max_qp_wr, dattr.max_cq, dattr.max_cqe,
	       dattr.max_mr, dattr.max_sge);
	printf("port 1      %s, link layer %s, active MTU %d\n",
	       ibv_port_state_str(pattr.state),
	       pattr.link_layer == IBV_LINK_LAYER_ETHERNET ? "Ethernet" : "other",
	       128 << pattr.active_mtu);
	for (i = 0; i < pattr.gid_tbl_len && i < 16; i++) {
		if (ibv_query_gid_ex(ctx, 1, i, &gid, 0))
			continue;
		inet_ntop(AF_INET6, gid.gid.raw, buf, sizeof(buf));
		printf("gid[%d]      %s (%s, ifindex %u)\n", i, buf,
		       gid_type_str(gid.gid_type), gid.ndev_ifindex);
	}
	return 0;
}

static int exercise(struct ibv_context *ctx)
{
	struct ibv_qp_init_attr qia = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 64, .max_recv_wr = 64,
			 .max_send_sge = 2, .max_recv_sge = 2 },
	};
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	struct ibv_mr *mr = NULL;
	void *buf = NULL;
	int ret = 1;

	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		fail("ibv_alloc_pd");
		goto out;
	}
	cq = ibv_create_cq(ctx, 128, NULL, NULL, 0);
	if (!cq) {
		fail("ibv_create_cq");
		goto out;
	}
	qia.send_cq = cq;
	qia.recv_cq = cq;
	qp = ibv_create_qp(pd, &qia);
	if (!qp) {
		fail("ibv_create_qp");
		goto out;
	}
	buf = malloc(MR_SIZE);
	if (!buf) {
		fail("malloc");
		goto out;
	}
	memset(buf, 0, MR_SIZE);
	mr = ibv_reg_mr(pd, buf, MR_SIZE, IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ);
	if (!mr) {
		fail("ibv_reg_mr");
		goto out;
	}
	printf("objects     PD, CQ of %d entries, RC QP #%u (%u send / %u recv WRs)\n",
	       cq->cqe, qp->qp_num, qia.cap.max_send_wr, qia.cap.max_recv_wr);
	printf("memory      1 MiB at %p: lkey 0x%08x rkey 0x%08x\n", buf,
	       mr->lkey, mr->rkey);
	ret = 0;
out:
	if (mr && ibv_dereg_mr(mr))
		ret = fail("ibv_dereg_mr");
	free(buf);
	if (qp && ibv_destroy_qp(qp))
		ret = fail("ibv_destroy_qp");
	if (cq && ibv_destroy_cq(cq))
		ret = fail("ibv_destroy_cq");
	if (pd && ibv_dealloc_pd(pd))
		ret = fail("ibv_dealloc_pd");
	return ret;
}

int main(int argc, char **argv)
{
	const char *name = NULL;
	struct ibv_device **list, *dev = NULL;
	struct ibv_context *ctx;
	int i, opt, ret;

	while ((opt = getopt(argc, argv, "d:")) != -1) {
		if (opt != 'd') {
			fprintf(stderr, "usage: %s [-d DEVICE]\n", argv[0]);
			return 2;
		}
		name = optarg;
	}
	list = ibv_get_device_list(NULL);
	if (!list)
		return fail("ibv_get_device_list");
	for (i = 0; list[i] && !dev; i++) {
		if (name ? !strcmp(ibv_get_device_name(list[i]), name) :
			   mirrorv_is_mirror_device(list[i]))
			dev = list[i];
	}
	if (!dev) {
		fprintf(stderr, "mirror_info: no %s device found\n",
			name ? name : "mirror");
		ibv_free_device_list(list);
		return 1;
	}
	if (!mirrorv_is_mirror_device(dev))
		printf("note        %s is not a mirror device\n",
		       ibv_get_device_name(dev));
	ctx = ibv_open_device(dev);
	if (!ctx) {
		ibv_free_device_list(list);
		return fail("ibv_open_device");
	}
	ret = show(ctx) || exercise(ctx);
	ibv_close_device(ctx);
	ibv_free_device_list(list);
	printf("%s\n", ret ? "FAILED" : "all control verbs worked");
	return ret;
}
