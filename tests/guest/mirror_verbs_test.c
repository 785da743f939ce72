// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_verbs_test - the control-verb catalogue, run inside the guest
 * against a real mirror0 through the real libibverbs and our provider.
 *
 * One behaviour per test, each named for what it checks. Bad inputs
 * assert the exact errno. The harness (scripts/mirror-vm) checks the guest
 * kernel log afterwards.
 *
 * With -W DEV2 (guest_verbs_wire) the cases whose verbs take an address
 * (QP transitions with an AV, AHs) aim at DEV2's GID: a peer over RoCEv2;
 * the rest check the device alone and run without -W only.
 *
 * Usage: mirror_verbs_test [-d DEVICE] [-W DEV2] [-v] [TEST-NAME-SUBSTRING...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mirror_tap.h"

#define FAIL(...)                                                              \
	do {                                                                   \
		snprintf(failmsg, sizeof(failmsg), __VA_ARGS__);               \
		return -1;                                                     \
	} while (0)

/* A call that must fail with exactly @want. */
#define CHECK_ERRNO(got, want, what)                                           \
	CHECK((got) == (want), "%s: expected %s (%d), got %s (%d)", what,      \
	      strerror(want), want, strerror(got), got)

/* ---------------------------------------------------------------------- */
/* Helpers */

static struct ibv_qp *make_qp(struct ibv_pd *pd, struct ibv_cq *cq,
			      enum ibv_qp_type type, uint32_t wr, uint32_t sge)
{
	struct ibv_qp_init_attr ia = {
		.send_cq = cq,
		.recv_cq = cq,
		.qp_type = type,
		.cap = {
			.max_send_wr = wr,
			.max_recv_wr = wr,
			.max_send_sge = sge,
			.max_recv_sge = sge,
		},
	};

	return ibv_create_qp(pd, &ia);
}

/* Moves @qp to INIT with the attributes its type requires. */
static int to_init(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.pkey_index = 0,
		.port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ |
				   IBV_ACCESS_REMOTE_ATOMIC,
		.qkey = 0x11111111,
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	if (qp->qp_type == IBV_QPT_UD)
		mask |= IBV_QP_QKEY;
	else
		mask |= IBV_QP_ACCESS_FLAGS;
	if (qp->qp_type == IBV_QPT_UC)
		a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE;
	return ibv_modify_qp(qp, &a, mask);
}

static int to_rtr(struct ibv_qp *qp, uint32_t dest_qpn)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = IBV_MTU_1024,
		.dest_qp_num = dest_qpn,
		.rq_psn = 0x123,
		.max_dest_rd_atomic = 1,
		.min_rnr_timer = 12,
		.ah_attr = peer_av(),
	};
	int mask = IBV_QP_STATE;

	if (qp->qp_type == IBV_QPT_RC)
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			IBV_QP_MIN_RNR_TIMER;
	else if (qp->qp_type == IBV_QPT_UC)
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			IBV_QP_RQ_PSN;
	return ibv_modify_qp(qp, &a, mask);
}

static int to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTS,
		.sq_psn = 0x456,
		.timeout = 14,
		.retry_cnt = 7,
		.rnr_retry = 7,
		.max_rd_atomic = 1,
	};
	int mask = IBV_QP_STATE | IBV_QP_SQ_PSN;

	if (qp->qp_type == IBV_QPT_RC)
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	return ibv_modify_qp(qp, &a, mask);
}

static int to_state(struct ibv_qp *qp, enum ibv_qp_state s)
{
	struct ibv_qp_attr a = { .qp_state = s };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

static int qp_state(struct ibv_qp *qp, enum ibv_qp_state *s,
		    struct ibv_qp_attr *out)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr ia;
	int ret;

	memset(&a, 0, sizeof(a));
	ret = ibv_query_qp(qp, &a, IBV_QP_STATE | IBV_QP_CAP | IBV_QP_PORT |
			   IBV_QP_PKEY_INDEX, &ia);
	if (ret)
		return ret;
	*s = a.qp_state;
	if (out)
		*out = a;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Device and port */

static int test_device_attributes_are_sane(void)
{
	CHECK(dev_attr.phys_port_cnt == 1, "phys_port_cnt %u", dev_attr.phys_port_cnt);
	CHECK(dev_attr.max_qp >= 64, "max_qp %d", dev_attr.max_qp);
	CHECK(dev_attr.max_cq >= 64, "max_cq %d", dev_attr.max_cq);
	CHECK(dev_attr.max_cqe >= 1024, "max_cqe %d", dev_attr.max_cqe);
	CHECK(dev_attr.max_qp_wr >= 256, "max_qp_wr %d", dev_attr.max_qp_wr);
	CHECK(dev_attr.max_sge >= 4, "max_sge %d", dev_attr.max_sge);
	CHECK(dev_attr.max_mr >= 64, "max_mr %d", dev_attr.max_mr);
	CHECK(dev_attr.max_pd >= 64, "max_pd %d", dev_attr.max_pd);
	CHECK(dev_attr.max_mr_size >= (1ULL << 32), "max_mr_size %" PRIu64,
	      (uint64_t)dev_attr.max_mr_size);
	CHECK(dev_attr.node_guid != 0, "node_guid is zero");
	CHECK(dev_attr.fw_ver[0] != '\0', "no firmware version string");
	note("max_qp %d max_cqe %d max_qp_wr %d max_sge %d max_mr_size %" PRIu64,
	     dev_attr.max_qp, dev_attr.max_cqe, dev_attr.max_qp_wr, dev_attr.max_sge,
	     (uint64_t)dev_attr.max_mr_size);
	return 0;
out:
	return -1;
}

static int test_device_reports_odp_caps(void)
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
	struct ibv_odp_caps *odp = &ex.odp_caps;
	int ret;

	memset(&ex, 0, sizeof(ex));
	ret = ibv_query_device_ex(ctx, NULL, &ex);
	CHECK(ret == 0, "ibv_query_device_ex: %s", strerror(ret));
	/* Explicit and implicit (addr NULL, SIZE_MAX) ODP MRs both work. */
	CHECK(odp->general_caps & IBV_ODP_SUPPORT, "no IBV_ODP_SUPPORT");
	CHECK(odp->general_caps & IBV_ODP_SUPPORT_IMPLICIT,
	      "no IBV_ODP_SUPPORT_IMPLICIT");
	CHECK(odp->per_transport_caps.rc_odp_caps == rc_want,
	      "rc_odp_caps 0x%x, want 0x%x", odp->per_transport_caps.rc_odp_caps,
	      rc_want);
	CHECK(odp->per_transport_caps.ud_odp_caps == ud_want,
	      "ud_odp_caps 0x%x, want 0x%x", odp->per_transport_caps.ud_odp_caps,
	      ud_want);
	CHECK(odp->per_transport_caps.uc_odp_caps == uc_want,
	      "uc_odp_caps 0x%x, want 0x%x", odp->per_transport_caps.uc_odp_caps,
	      uc_want);
	return 0;
out:
	return -1;
}

static int test_port_is_active_ethernet(void)
{
	CHECK(port_attr.state == IBV_PORT_ACTIVE, "port state %s",
	      ibv_port_state_str(port_attr.state));
	CHECK(port_attr.link_layer == IBV_LINK_LAYER_ETHERNET, "link layer %u",
	      port_attr.link_layer);
	CHECK(port_attr.gid_tbl_len > 0, "gid_tbl_len %d", port_attr.gid_tbl_len);
	CHECK(port_attr.pkey_tbl_len >= 1, "pkey_tbl_len %u", port_attr.pkey_tbl_len);
	CHECK(port_attr.active_mtu >= IBV_MTU_256 && port_attr.active_mtu <= IBV_MTU_4096,
	      "active_mtu %d", port_attr.active_mtu);
	CHECK(port_attr.max_mtu >= port_attr.active_mtu, "max_mtu < active_mtu");
	return 0;
out:
	return -1;
}

static int test_port_has_rocev2_ipv4_gid(void)
{
	char buf[INET6_ADDRSTRLEN];

	CHECK(gid_index >= 0, "no RoCEv2 GID for 10.11.0.1 on port 1");
	inet_ntop(AF_INET6, gid.raw, buf, sizeof(buf));
	note("gid[%d] = %s", gid_index, buf);
	return 0;
out:
	return -1;
}

static int test_pkey_zero_is_default(void)
{
	__be16 pkey = 0;
	int ret = ibv_query_pkey(ctx, 1, 0, &pkey);

	CHECK(ret == 0, "ibv_query_pkey: %s", strerror(ret));
	CHECK(ntohs(pkey) == 0xffff, "pkey[0] = 0x%x", ntohs(pkey));
	return 0;
out:
	return -1;
}

/* ---------------------------------------------------------------------- */
/* PD, CQ */

static int test_pd_create_destroy_many(void)
{
	struct ibv_pd *pds[64];
	int i, n = 0, ret;

	for (i = 0; i < 64; i++) {
		pds[i] = ibv_alloc_pd(ctx);
		CHECK(pds[i], "ibv_alloc_pd #%d: %s", i, strerror(errno));
		n++;
	}
	for (i = 0; i < n; i++) {
		ret = ibv_dealloc_pd(pds[i]);
		pds[i] = NULL;
		CHECK(ret == 0, "ibv_dealloc_pd: %s", strerror(ret));
	}
	return 0;
out:
	for (i = 0; i < n; i++)
		if (pds[i])
			ibv_dealloc_pd(pds[i]);
	return -1;
}

static int test_cq_sizes_are_granted(void)
{
	int sizes[] = { 1, 2, 15, 16, 17, 1000, 4096, dev_attr.max_cqe };
	struct ibv_cq *cq = NULL;
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cq = ibv_create_cq(ctx, sizes[i], NULL, NULL, 0);
		CHECK(cq, "ibv_create_cq(%d): %s", sizes[i], strerror(errno));
		CHECK(cq->cqe >= sizes[i], "asked %d got %d", sizes[i], cq->cqe);
		CHECK(ibv_destroy_cq(cq) == 0, "ibv_destroy_cq");
		cq = NULL;
	}
	return 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	return -1;
}

static int test_cq_empty_poll_returns_zero(void)
{
	struct ibv_cq *cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	struct ibv_wc wc[4];
	int n;

	CHECK(cq, "ibv_create_cq: %s", strerror(errno));
	n = ibv_poll_cq(cq, 4, wc);
	CHECK(n == 0, "poll on a new CQ returned %d", n);
	CHECK(ibv_destroy_cq(cq) == 0, "ibv_destroy_cq");
	return 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	return -1;
}

static int test_cq_negative_size_is_einval(void)
{
	struct ibv_cq *cq = ibv_create_cq(ctx, -1, NULL, NULL, 0);
	int err = errno;

	CHECK(!cq, "a CQ of -1 entries was created");
	CHECK_ERRNO(err, EINVAL, "ibv_create_cq(-1)");
	cq = ibv_create_cq(ctx, 0, NULL, NULL, 0);
	err = errno;
	CHECK(!cq, "a CQ of 0 entries was created");
	CHECK_ERRNO(err, EINVAL, "ibv_create_cq(0)");
	return 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	return -1;
}

static int test_cq_over_cap_is_einval(void)
{
	struct ibv_cq *cq = ibv_create_cq(ctx, dev_attr.max_cqe + 1, NULL, NULL, 0);
	int err = errno;

	CHECK(!cq, "a CQ of max_cqe+1 entries was created");
	CHECK_ERRNO(err, EINVAL, "ibv_create_cq(max_cqe + 1)");
	return 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	return -1;
}

static int test_cq_resize_grows_and_shrinks(void)
{
	struct ibv_cq *cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	struct ibv_wc wc;
	int ret;

	CHECK(cq, "ibv_create_cq: %s", strerror(errno));
	ret = ibv_resize_cq(cq, 500);
	CHECK(ret == 0, "resize to 500: %s", strerror(ret));
	CHECK(cq->cqe >= 500, "resized cqe %d", cq->cqe);
	CHECK(ibv_poll_cq(cq, 1, &wc) == 0, "poll after resize");
	ret = ibv_resize_cq(cq, 32);
	CHECK(ret == 0, "resize to 32: %s", strerror(ret));
	CHECK(cq->cqe >= 32, "resized cqe %d", cq->cqe);
	CHECK(ibv_poll_cq(cq, 1, &wc) == 0, "poll after second resize");
	ret = ibv_resize_cq(cq, dev_attr.max_cqe + 1);
	CHECK_ERRNO(ret, EINVAL, "resize over max_cqe");
	CHECK(ibv_poll_cq(cq, 1, &wc) == 0, "poll after failed resize");
	CHECK(ibv_destroy_cq(cq) == 0, "ibv_destroy_cq");
	return 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	return -1;
}

static int test_cq_with_completion_channel(void)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);
	struct ibv_cq *cq = NULL;
	int ret;

	CHECK(ch, "ibv_create_comp_channel: %s", strerror(errno));
	cq = ibv_create_cq(ctx, 64, NULL, ch, 0);
	CHECK(cq, "ibv_create_cq with channel: %s", strerror(errno));
	ret = ibv_req_notify_cq(cq, 0);
	CHECK(ret == 0, "ibv_req_notify_cq: %s", strerror(ret));
	ret = ibv_req_notify_cq(cq, 1);
	CHECK(ret == 0, "ibv_req_notify_cq(solicited): %s", strerror(ret));
	CHECK(ibv_destroy_cq(cq) == 0, "ibv_destroy_cq");
	cq = NULL;
	CHECK(ibv_destroy_comp_channel(ch) == 0, "ibv_destroy_comp_channel");
	return 0;
out:
	if (cq)
		ibv_destroy_cq(cq);
	if (ch)
		ibv_destroy_comp_channel(ch);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* QP */

static int walk_qp_states(enum ibv_qp_type type)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	enum ibv_qp_state s;
	int ret;

	CHECK(pd, "ibv_alloc_pd");
	cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	CHECK(cq, "ibv_create_cq");
	qp = make_qp(pd, cq, type, 32, 2);
	CHECK(qp, "ibv_create_qp(type %d): %s", type, strerror(errno));
	CHECK(qp->qp_num > 1, "qp_num %u", qp->qp_num);

	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_RESET,
	      "new QP not in RESET");
	ret = to_init(qp);
	CHECK(ret == 0, "RESET->INIT: %s", strerror(ret));
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_INIT, "not INIT");
	ret = to_rtr(qp, qp->qp_num);
	CHECK(ret == 0, "INIT->RTR: %s", strerror(ret));
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_RTR, "not RTR");
	ret = to_rts(qp);
	CHECK(ret == 0, "RTR->RTS: %s", strerror(ret));
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_RTS, "not RTS");
	ret = to_state(qp, IBV_QPS_ERR);
	CHECK(ret == 0, "RTS->ERR: %s", strerror(ret));
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_ERR, "not ERR");
	ret = to_state(qp, IBV_QPS_RESET);
	CHECK(ret == 0, "ERR->RESET: %s", strerror(ret));
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_RESET, "not RESET");
	/* And once more from RESET, proving the QP is reusable. */
	ret = to_init(qp);
	CHECK(ret == 0, "RESET->INIT again: %s", strerror(ret));

	CHECK(ibv_destroy_qp(qp) == 0, "ibv_destroy_qp");
	qp = NULL;
	CHECK(ibv_destroy_cq(cq) == 0, "ibv_destroy_cq");
	cq = NULL;
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_qp_rc_walks_all_states(void)
{
	return walk_qp_states(IBV_QPT_RC);
}

static int test_qp_uc_walks_all_states(void)
{
	return walk_qp_states(IBV_QPT_UC);
}

static int test_qp_ud_walks_all_states(void)
{
	return walk_qp_states(IBV_QPT_UD);
}

/* Creates an RC QP in RESET for the bad-input tests below. */
static int bad_qp_setup(struct ibv_pd **pd, struct ibv_cq **cq,
			struct ibv_qp **qp, enum ibv_qp_type type)
{
	*pd = ibv_alloc_pd(ctx);
	*cq = *pd ? ibv_create_cq(ctx, 16, NULL, NULL, 0) : NULL;
	*qp = *cq ? make_qp(*pd, *cq, type, 8, 1) : NULL;
	if (!*qp)
		FAIL("QP setup: %s", strerror(errno));
	return 0;
}

static void bad_qp_teardown(struct ibv_pd *pd, struct ibv_cq *cq,
			    struct ibv_qp *qp)
{
	if (qp)
		ibv_destroy_qp(qp);
	if (cq)
		ibv_destroy_cq(cq);
	if (pd)
		ibv_dealloc_pd(pd);
}

static int test_qp_illegal_transition_is_einval(void)
{
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	enum ibv_qp_state s;
	int ret, rc = -1;

	if (bad_qp_setup(&pd, &cq, &qp, IBV_QPT_RC))
		goto out;
	/* RESET -> RTS skips INIT and RTR. */
	ret = to_rts(qp);
	CHECK_ERRNO(ret, EINVAL, "RESET->RTS");
	/* RESET -> RTR skips INIT. */
	ret = to_rtr(qp, qp->qp_num);
	CHECK_ERRNO(ret, EINVAL, "RESET->RTR");
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_RESET,
	      "a refused transition changed the state");
	/* INIT -> RTS skips RTR. */
	CHECK(to_init(qp) == 0, "RESET->INIT");
	ret = to_rts(qp);
	CHECK_ERRNO(ret, EINVAL, "INIT->RTS");
	CHECK(qp_state(qp, &s, NULL) == 0 && s == IBV_QPS_INIT,
	      "a refused transition changed the state");
	rc = 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return rc;
}

static int test_qp_missing_required_attr_is_einval(void)
{
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
	};
	int ret, rc = -1;

	if (bad_qp_setup(&pd, &cq, &qp, IBV_QPT_RC))
		goto out;
	/* RC RESET->INIT requires PKEY_INDEX, PORT and ACCESS_FLAGS. */
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT);
	CHECK_ERRNO(ret, EINVAL, "RC INIT without PKEY_INDEX/ACCESS_FLAGS");
	rc = 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return rc;
}

static int test_qp_disallowed_attr_is_einval(void)
{
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qkey = 7,
	};
	int ret, rc = -1;

	if (bad_qp_setup(&pd, &cq, &qp, IBV_QPT_RC))
		goto out;
	/* A Q_Key means nothing to an RC QP. */
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT |
			    IBV_QP_PKEY_INDEX | IBV_QP_ACCESS_FLAGS |
			    IBV_QP_QKEY);
	CHECK_ERRNO(ret, EINVAL, "RC INIT with a QKEY");
	rc = 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return rc;
}

static int test_qp_bad_port_is_einval(void)
{
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 2,
	};
	int ret, rc = -1;

	if (bad_qp_setup(&pd, &cq, &qp, IBV_QPT_RC))
		goto out;
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT |
			    IBV_QP_PKEY_INDEX | IBV_QP_ACCESS_FLAGS);
	CHECK_ERRNO(ret, EINVAL, "RC INIT on port 2");
	a.port_num = 1;
	a.pkey_index = 5;
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PORT |
			    IBV_QP_PKEY_INDEX | IBV_QP_ACCESS_FLAGS);
	CHECK_ERRNO(ret, EINVAL, "RC INIT with pkey_index 5");
	rc = 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return rc;
}

static int test_qp_rd_atomic_over_cap_is_einval(void)
{
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = IBV_MTU_1024,
		.rq_psn = 1,
		.min_rnr_timer = 1,
	};
	int ret, rc = -1;

	if (bad_qp_setup(&pd, &cq, &qp, IBV_QPT_RC))
		goto out;
	CHECK(to_init(qp) == 0, "RESET->INIT");
	a.ah_attr = peer_av();
	a.dest_qp_num = qp->qp_num;
	a.max_dest_rd_atomic = dev_attr.max_qp_init_rd_atom + 1;
	ret = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			    IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
			    IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	CHECK_ERRNO(ret, EINVAL, "max_dest_rd_atomic over the cap");
	rc = 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return rc;
}

static int test_qp_caps_over_limit_are_einval(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	int err;

	CHECK(pd, "ibv_alloc_pd");
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq, "ibv_create_cq");
	qp = make_qp(pd, cq, IBV_QPT_RC, dev_attr.max_qp_wr + 1, 1);
	err = errno;
	CHECK(!qp, "QP with max_qp_wr+1 created");
	CHECK_ERRNO(err, EINVAL, "max_send_wr over the cap");
	qp = make_qp(pd, cq, IBV_QPT_RC, 4, dev_attr.max_sge + 1);
	err = errno;
	CHECK(!qp, "QP with max_sge+1 created");
	CHECK_ERRNO(err, EINVAL, "max_send_sge over the cap");
	bad_qp_teardown(pd, cq, NULL);
	return 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return -1;
}

static int test_qp_granted_caps_are_at_least_asked(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	struct ibv_qp_init_attr ia = {
		.qp_type = IBV_QPT_RC,
		.cap = {
			.max_send_wr = 100,
			.max_recv_wr = 50,
			.max_send_sge = 3,
			.max_recv_sge = 2,
			.max_inline_data = 64,
		},
	};

	CHECK(pd, "ibv_alloc_pd");
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq, "ibv_create_cq");
	ia.send_cq = cq;
	ia.recv_cq = cq;
	qp = ibv_create_qp(pd, &ia);
	CHECK(qp, "ibv_create_qp: %s", strerror(errno));
	CHECK(ia.cap.max_send_wr >= 100 && ia.cap.max_recv_wr >= 50 &&
	      ia.cap.max_send_sge >= 3 && ia.cap.max_recv_sge >= 2 &&
	      ia.cap.max_inline_data >= 64,
	      "granted wr %u/%u sge %u/%u inline %u", ia.cap.max_send_wr,
	      ia.cap.max_recv_wr, ia.cap.max_send_sge, ia.cap.max_recv_sge,
	      ia.cap.max_inline_data);
	bad_qp_teardown(pd, cq, qp);
	return 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return -1;
}

static int test_qp_many_create_destroy(void)
{
	enum { N = 300 };
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = NULL;
	static struct ibv_qp *qps[N];
	int i, n = 0;

	CHECK(pd, "ibv_alloc_pd");
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq, "ibv_create_cq");
	for (i = 0; i < N; i++) {
		qps[i] = make_qp(pd, cq, (enum ibv_qp_type[]){ IBV_QPT_RC,
			IBV_QPT_UC, IBV_QPT_UD }[i % 3], 4, 1);
		CHECK(qps[i], "QP #%d: %s", i, strerror(errno));
		n++;
	}
	for (i = 0; i < n; i++) {
		int j;

		for (j = 0; j < i; j++)
			CHECK(qps[j]->qp_num != qps[i]->qp_num,
			      "QPs %d and %d share qp_num %u", i, j,
			      qps[i]->qp_num);
	}
	for (i = n - 1; i >= 0; i--) {
		CHECK(ibv_destroy_qp(qps[i]) == 0, "destroy QP #%d", i);
		qps[i] = NULL;
	}
	bad_qp_teardown(pd, cq, NULL);
	return 0;
out:
	for (i = 0; i < n; i++)
		if (qps[i])
			ibv_destroy_qp(qps[i]);
	bad_qp_teardown(pd, cq, NULL);
	return -1;
}

static int test_qp_destroy_cq_in_use_is_ebusy(void)
{
	struct ibv_pd *pd = NULL;
	struct ibv_cq *cq = NULL;
	struct ibv_qp *qp = NULL;
	int ret, rc = -1;

	if (bad_qp_setup(&pd, &cq, &qp, IBV_QPT_RC))
		goto out;
	ret = ibv_destroy_cq(cq);
	CHECK_ERRNO(ret, EBUSY, "destroying a CQ that a QP uses");
	rc = 0;
out:
	bad_qp_teardown(pd, cq, qp);
	return rc;
}

/* ---------------------------------------------------------------------- */
/* MR */

static int test_mr_many_sizes_and_alignments(void)
{
	size_t sizes[] = { 1, 7, 4095, 4096, 4097, 65536, 1 << 20,
			   (16 << 20) + 3 };
	size_t offsets[] = { 0, 1, 63, 4095 };
	unsigned int i, j;
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL;
	char *buf = NULL;

	CHECK(pd, "ibv_alloc_pd");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (j = 0; j < sizeof(offsets) / sizeof(offsets[0]); j++) {
			buf = malloc(sizes[i] + offsets[j]);
			CHECK(buf, "malloc");
			memset(buf, 0x5a, sizes[i] + offsets[j]);
			mr = ibv_reg_mr(pd, buf + offsets[j], sizes[i],
					IBV_ACCESS_LOCAL_WRITE |
					IBV_ACCESS_REMOTE_WRITE |
					IBV_ACCESS_REMOTE_READ);
			CHECK(mr, "reg %zu bytes at +%zu: %s", sizes[i],
			      offsets[j], strerror(errno));
			CHECK(mr->addr == buf + offsets[j] &&
			      mr->length == sizes[i],
			      "mr addr/length not as registered");
			CHECK(mr->lkey != 0 && mr->rkey != 0, "zero key");
			CHECK(ibv_dereg_mr(mr) == 0, "ibv_dereg_mr");
			mr = NULL;
			free(buf);
			buf = NULL;
		}
	}
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	free(buf);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_mr_access_flag_combinations(void)
{
	int flags[] = {
		0,
		IBV_ACCESS_LOCAL_WRITE,
		IBV_ACCESS_REMOTE_READ,
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_ATOMIC,
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL;
	static char buf[8192];
	unsigned int i;

	CHECK(pd, "ibv_alloc_pd");
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		mr = ibv_reg_mr(pd, buf, sizeof(buf), flags[i]);
		CHECK(mr, "reg with access 0x%x: %s", flags[i], strerror(errno));
		CHECK(ibv_dereg_mr(mr) == 0, "ibv_dereg_mr");
		mr = NULL;
	}
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_mr_keys_are_unique_with_random_key_byte(void)
{
	enum { N = 64 };
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mrs[N] = { 0 };
	static char buf[4096];
	unsigned int key_bytes[256] = { 0 };
	int i, j, distinct = 0;

	CHECK(pd, "ibv_alloc_pd");
	for (i = 0; i < N; i++) {
		mrs[i] = ibv_reg_mr(pd, buf, sizeof(buf),
				    IBV_ACCESS_LOCAL_WRITE |
				    IBV_ACCESS_REMOTE_READ);
		CHECK(mrs[i], "reg #%d: %s", i, strerror(errno));
		key_bytes[mrs[i]->lkey & 0xff]++;
		for (j = 0; j < i; j++)
			CHECK(mrs[j]->lkey != mrs[i]->lkey,
			      "MRs %d and %d share lkey 0x%x", j, i,
			      mrs[i]->lkey);
	}
	for (i = 0; i < 256; i++)
		distinct += key_bytes[i] != 0;
	note("%d distinct key bytes over %d MRs", distinct, N);
	/* 64 draws from 256 values: fewer than 8 distinct means not random. */
	CHECK(distinct >= 8, "only %d distinct key bytes in %d keys", distinct,
	      N);
	for (i = 0; i < N; i++) {
		CHECK(ibv_dereg_mr(mrs[i]) == 0, "dereg #%d", i);
		mrs[i] = NULL;
	}
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	for (i = 0; i < N; i++)
		if (mrs[i])
			ibv_dereg_mr(mrs[i]);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_mr_remote_write_without_local_write_is_einval(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL;
	static char buf[4096];
	int err;

	CHECK(pd, "ibv_alloc_pd");
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_REMOTE_WRITE);
	err = errno;
	CHECK(!mr, "REMOTE_WRITE without LOCAL_WRITE was accepted");
	CHECK_ERRNO(err, EINVAL, "REMOTE_WRITE without LOCAL_WRITE");
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_REMOTE_ATOMIC);
	err = errno;
	CHECK(!mr, "REMOTE_ATOMIC without LOCAL_WRITE was accepted");
	CHECK_ERRNO(err, EINVAL, "REMOTE_ATOMIC without LOCAL_WRITE");
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_mr_unmapped_range_is_efault(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL;
	size_t len = 1 << 20;
	void *p;
	int err;

	CHECK(pd, "ibv_alloc_pd");
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	CHECK(p != MAP_FAILED, "mmap");
	munmap(p, len);
	mr = ibv_reg_mr(pd, p, len, IBV_ACCESS_LOCAL_WRITE);
	err = errno;
	CHECK(!mr, "an unmapped range was registered");
	CHECK_ERRNO(err, EFAULT, "registering an unmapped range");
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_mr_write_access_to_readonly_mapping_is_efault(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL;
	size_t len = 1 << 16;
	void *p = MAP_FAILED;
	int err;

	CHECK(pd, "ibv_alloc_pd");
	p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED, "mmap");
	mr = ibv_reg_mr(pd, p, len, IBV_ACCESS_LOCAL_WRITE);
	err = errno;
	CHECK(!mr, "a read-only mapping was registered for local write");
	CHECK_ERRNO(err, EFAULT, "writable MR over PROT_READ memory");
	mr = ibv_reg_mr(pd, p, len, IBV_ACCESS_REMOTE_READ);
	CHECK(mr, "read-only MR over PROT_READ memory: %s", strerror(errno));
	CHECK(ibv_dereg_mr(mr) == 0, "ibv_dereg_mr");
	mr = NULL;
	munmap(p, len);
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (p != MAP_FAILED)
		munmap(p, len);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_pd_with_mr_dealloc_is_ebusy(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mr *mr = NULL;
	static char buf[4096];
	int ret;

	CHECK(pd, "ibv_alloc_pd");
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr, "ibv_reg_mr: %s", strerror(errno));
	ret = ibv_dealloc_pd(pd);
	CHECK_ERRNO(ret, EBUSY, "deallocating a PD that has an MR");
	CHECK(ibv_dereg_mr(mr) == 0, "ibv_dereg_mr");
	mr = NULL;
	ret = ibv_dealloc_pd(pd);
	CHECK(ret == 0, "dealloc after dereg: %s", strerror(ret));
	return 0;
out:
	if (mr)
		ibv_dereg_mr(mr);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* AH */

static int test_ah_create_destroy(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_ah_attr av = peer_av();
	struct ibv_ah *ah = NULL;
	int i;

	CHECK(pd, "ibv_alloc_pd");
	for (i = 0; i < 32; i++) {
		ah = ibv_create_ah(pd, &av);
		CHECK(ah, "ibv_create_ah #%d: %s", i, strerror(errno));
		CHECK(ibv_destroy_ah(ah) == 0, "ibv_destroy_ah");
		ah = NULL;
	}
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (ah)
		ibv_destroy_ah(ah);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

static int test_ah_invalid_gid_index_is_rejected(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_ah_attr av = peer_av();
	struct ibv_ah *ah = NULL;
	int err;

	CHECK(pd, "ibv_alloc_pd");
	/* Beyond the table. */
	av.grh.sgid_index = (uint8_t)(port_attr.gid_tbl_len < 255 ?
				      port_attr.gid_tbl_len : 255);
	if (port_attr.gid_tbl_len <= 255) {
		ah = ibv_create_ah(pd, &av);
		err = errno;
		CHECK(!ah, "AH with sgid_index %u created", av.grh.sgid_index);
		CHECK_ERRNO(err, EINVAL, "AH with sgid_index past the table");
	}
	/*
	 * Inside the table, but empty: only a few GIDs exist here. ib_core
	 * resolves the source GID before the driver sees the AH and answers
	 * ENODATA for an empty entry (EINVAL is for an index past the table,
	 * which an 8-bit sgid_index cannot reach with 1024 entries).
	 */
	av.grh.sgid_index = 200;
	ah = ibv_create_ah(pd, &av);
	err = errno;
	CHECK(!ah, "AH with the empty sgid_index 200 created");
	CHECK_ERRNO(err, ENODATA, "AH with an empty sgid_index");
	CHECK(ibv_dealloc_pd(pd) == 0, "ibv_dealloc_pd");
	return 0;
out:
	if (ah)
		ibv_destroy_ah(ah);
	if (pd)
		ibv_dealloc_pd(pd);
	return -1;
}

/* ---------------------------------------------------------------------- */
/* Contexts */

static int test_second_context_is_independent(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *c2 = NULL;
	struct ibv_pd *pd = NULL;
	int i;

	CHECK(list, "ibv_get_device_list");
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev_name))
			c2 = ibv_open_device(list[i]);
	CHECK(c2, "second ibv_open_device: %s", strerror(errno));
	pd = ibv_alloc_pd(c2);
	CHECK(pd, "PD on second context");
	CHECK(ibv_dealloc_pd(pd) == 0, "dealloc");
	pd = NULL;
	CHECK(ibv_close_device(c2) == 0, "close second context");
	c2 = NULL;
	ibv_free_device_list(list);
	return 0;
out:
	if (pd)
		ibv_dealloc_pd(pd);
	if (c2)
		ibv_close_device(c2);
	if (list)
		ibv_free_device_list(list);
	return -1;
}

static int test_close_context_with_live_objects(void)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *c2 = NULL;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	static char buf[65536];
	int i;

	CHECK(list, "ibv_get_device_list");
	for (i = 0; list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev_name))
			c2 = ibv_open_device(list[i]);
	CHECK(c2, "ibv_open_device");
	pd = ibv_alloc_pd(c2);
	CHECK(pd, "ibv_alloc_pd");
	cq = ibv_create_cq(c2, 32, NULL, NULL, 0);
	CHECK(cq, "ibv_create_cq");
	qp = make_qp(pd, cq, IBV_QPT_RC, 8, 1);
	CHECK(qp, "ibv_create_qp");
	CHECK(to_init(qp) == 0, "RESET->INIT");
	mr = ibv_reg_mr(pd, buf, sizeof(buf), IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr, "ibv_reg_mr");
	/*
	 * Closing the uverbs file with everything alive: the kernel tears
	 * it all down (the provider's own state is leaked by libibverbs'
	 * design, which is fine in a test).
	 */
	CHECK(ibv_close_device(c2) == 0, "close with live objects");
	ibv_free_device_list(list);
	return 0;
out:
	if (list)
		ibv_free_device_list(list);
	return -1;
}

/* ---------------------------------------------------------------------- */

static const struct test tests[] = {
	T_DEV(device_attributes_are_sane),
	T_DEV(device_reports_odp_caps),
	T_DEV(port_is_active_ethernet),
	T_DEV(port_has_rocev2_ipv4_gid),
	T_DEV(pkey_zero_is_default),
	T_DEV(pd_create_destroy_many),
	T_DEV(cq_sizes_are_granted),
	T_DEV(cq_empty_poll_returns_zero),
	T_DEV(cq_negative_size_is_einval),
	T_DEV(cq_over_cap_is_einval),
	T_DEV(cq_resize_grows_and_shrinks),
	T_DEV(cq_with_completion_channel),
	T(qp_rc_walks_all_states),
	T(qp_uc_walks_all_states),
	T(qp_ud_walks_all_states),
	T_DEV(qp_illegal_transition_is_einval),
	T_DEV(qp_missing_required_attr_is_einval),
	T_DEV(qp_disallowed_attr_is_einval),
	T_DEV(qp_bad_port_is_einval),
	T(qp_rd_atomic_over_cap_is_einval),
	T_DEV(qp_caps_over_limit_are_einval),
	T_DEV(qp_granted_caps_are_at_least_asked),
	T_DEV(qp_many_create_destroy),
	T_DEV(qp_destroy_cq_in_use_is_ebusy),
	T_DEV(mr_many_sizes_and_alignments),
	T_DEV(mr_access_flag_combinations),
	T_DEV(mr_keys_are_unique_with_random_key_byte),
	T_DEV(mr_remote_write_without_local_write_is_einval),
	T_DEV(mr_unmapped_range_is_efault),
	T_DEV(mr_write_access_to_readonly_mapping_is_efault),
	T_DEV(pd_with_mr_dealloc_is_ebusy),
	T(ah_create_destroy),
	T(ah_invalid_gid_index_is_rejected),
	T_DEV(second_context_is_independent),
	T_DEV(close_context_with_live_objects),
};

int main(int argc, char **argv)
{
	return mirror_tap_main(argc, argv, tests,
			       (int)(sizeof(tests) / sizeof(tests[0])), false);
}
