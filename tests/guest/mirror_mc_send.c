// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_mc_send - sends datagrams to an rdma_cm multicast group and waits
 * for each one's completion before the next, and for the last before it
 * leaves the group.
 *
 * mckey's sender (rdma-core's example) posts its sends unsignaled and at
 * once leaves the group and destroys its address handle and QP. A device
 * that sends from a work item after ibv_post_send() returns (rdma_rxe)
 * then finds the address handle gone and sends only the first datagrams.
 * This sender is for such devices: with it, a receiver that does not get
 * every datagram lost them on the way, not in the sender's teardown.
 *
 * Usage: mirror_mc_send -b BIND_ADDR -m GROUP [-C COUNT] [-S SIZE]
 * Joins GROUP (IPv4) from the RDMA device of BIND_ADDR, sends COUNT
 * datagrams of SIZE bytes (SEND with immediate, as mckey: its receivers
 * count them), each signaled and completed with success. Exit status 0
 * when all were; prints what failed otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mirror_testlib.h"

#define WAIT_MS 10000

static struct rdma_event_channel *chan;

/* The next rdma_cm event, which must be @want; acked by the caller. */
static struct rdma_cm_event *cm_expect(enum rdma_cm_event_type want)
{
	struct rdma_cm_event *ev;

	if (rdma_get_cm_event(chan, &ev)) {
		perror("mirror_mc_send: rdma_get_cm_event");
		return NULL;
	}
	if (ev->event != want) {
		fprintf(stderr, "mirror_mc_send: event %s (status %d), want %s\n",
			rdma_event_str(ev->event), ev->status,
			rdma_event_str(want));
		rdma_ack_cm_event(ev);
		return NULL;
	}
	return ev;
}

static int ipv4(const char *s, struct sockaddr_in *sin)
{
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	return inet_pton(AF_INET, s, &sin->sin_addr) == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *bind_s = NULL, *group_s = NULL;
	struct sockaddr_in src, group;
	struct ibv_qp_init_attr qia = {
		.qp_type = IBV_QPT_UD,
		.cap = { .max_send_wr = 4, .max_recv_wr = 1,
			 .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct rdma_cm_event *ev;
	struct rdma_cm_id *id = NULL;
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_mr *mr = NULL;
	struct ibv_ah *ah = NULL;
	uint32_t rqpn = 0, rqkey = 0;
	int count = 20, size = 100, sent = 0, joined = 0, op, i;
	char *buf = NULL;
	int rc = 1;

	while ((op = getopt(argc, argv, "b:m:C:S:")) != -1) {
		switch (op) {
		case 'b':
			bind_s = optarg;
			break;
		case 'm':
			group_s = optarg;
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
	if (!bind_s || !group_s || ipv4(bind_s, &src) ||
	    ipv4(group_s, &group) || count <= 0 || size <= 0 ||
	    size > 4096)
		goto usage;

	chan = rdma_create_event_channel();
	if (!chan || rdma_create_id(chan, &id, NULL, RDMA_PS_UDP)) {
		perror("mirror_mc_send: rdma_cm id");
		goto out;
	}
	if (rdma_resolve_addr(id, (struct sockaddr *)&src,
			      (struct sockaddr *)&group, 2000)) {
		perror("mirror_mc_send: rdma_resolve_addr");
		goto out;
	}
	ev = cm_expect(RDMA_CM_EVENT_ADDR_RESOLVED);
	if (!ev)
		goto out;
	rdma_ack_cm_event(ev);

	buf = calloc(1, (size_t)size);
	pd = ibv_alloc_pd(id->verbs);
	cq = pd ? ibv_create_cq(id->verbs, 8, NULL, NULL, 0) : NULL;
	mr = cq && buf ? ibv_reg_mr(pd, buf, (size_t)size, 0) : NULL;
	if (!mr) {
		perror("mirror_mc_send: PD, CQ or MR");
		goto out;
	}
	qia.send_cq = qia.recv_cq = cq;
	if (rdma_create_qp(id, pd, &qia)) {
		perror("mirror_mc_send: rdma_create_qp");
		goto out;
	}
	if (rdma_join_multicast(id, (struct sockaddr *)&group, NULL)) {
		perror("mirror_mc_send: rdma_join_multicast");
		goto out;
	}
	ev = cm_expect(RDMA_CM_EVENT_MULTICAST_JOIN);
	if (!ev)
		goto out;
	joined = 1;
	rqpn = ev->param.ud.qp_num;
	rqkey = ev->param.ud.qkey;
	ah = ibv_create_ah(pd, &ev->param.ud.ah_attr);
	rdma_ack_cm_event(ev);
	if (!ah) {
		perror("mirror_mc_send: ibv_create_ah");
		goto out;
	}

	for (i = 0; i < count; i++) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)buf, .length = (uint32_t)size,
			.lkey = mr->lkey,
		};
		struct ibv_send_wr wr = {
			.wr_id = (uint64_t)i, .sg_list = &sge, .num_sge = 1,
			.opcode = IBV_WR_SEND_WITH_IMM,
			.send_flags = IBV_SEND_SIGNALED,
			.imm_data = htonl(id->qp->qp_num),
		}, *bad;
		struct ibv_wc wc;
		int err;

		wr.wr.ud.ah = ah;
		wr.wr.ud.remote_qpn = rqpn;
		wr.wr.ud.remote_qkey = rqkey;
		memset(buf, 'a' + i % 26, (size_t)size);
		err = ibv_post_send(id->qp, &wr, &bad);
		if (err) {
			fprintf(stderr, "mirror_mc_send: post_send %d: %s\n",
				i, strerror(err));
			goto out;
		}
		if (mirror_test_wait_wc(cq, &wc, WAIT_MS)) {
			fprintf(stderr, "mirror_mc_send: datagram %d: no completion in %d ms (times the time scale)\n",
				i, WAIT_MS);
			goto out;
		}
		if (wc.status != IBV_WC_SUCCESS) {
			fprintf(stderr, "mirror_mc_send: datagram %d: %s\n",
				i, ibv_wc_status_str(wc.status));
			goto out;
		}
		sent++;
	}
	rc = 0;
out:
	printf("mirror_mc_send: %d of %d datagrams sent to %s\n", sent, count,
	       group_s ? group_s : "?");
	if (joined)
		rdma_leave_multicast(id, (struct sockaddr *)&group);
	if (ah)
		ibv_destroy_ah(ah);
	if (id && id->qp)
		rdma_destroy_qp(id);
	if (mr)
		ibv_dereg_mr(mr);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	free(buf);
	if (id)
		rdma_destroy_id(id);
	if (chan)
		rdma_destroy_event_channel(chan);
	return rc;
usage:
	fprintf(stderr, "usage: %s -b BIND_ADDR -m GROUP [-C COUNT] [-S SIZE]\n",
		argv[0]);
	return 2;
}
