// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_testlib.c - the test programs' shared helpers (mirror_testlib.h).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mirror_testlib.h"

struct ibv_context *mirror_test_open(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *c = NULL;
	int i;

	for (i = 0; list && list[i] && !c; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			c = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	return c;
}

int mirror_test_ipv4_gid(struct ibv_context *c, const char *ip, int *idx,
			 union ibv_gid *gid)
{
	struct ibv_gid_entry e;
	uint8_t want[4];
	int i;

	if (ip && inet_pton(AF_INET, ip, want) != 1)
		return -1;
	for (i = 0; i < 256; i++) {
		if (ibv_query_gid_ex(c, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		/*
		 * ::ffff:a.b.c.d: ten zero bytes first. Bytes 10 and 11
		 * alone are not enough: an EUI-64 link-local GID
		 * (fe80::XX:XXff:feXX:XXXX) has 0xff in both when its MAC's
		 * third byte is 0xff.
		 */
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)e.gid.raw) &&
		    (!ip || !memcmp(&e.gid.raw[12], want, 4))) {
			*idx = i;
			*gid = e.gid;
			return 0;
		}
	}
	return -1;
}

int mirror_test_ipv6_gid(struct ibv_context *c, int *idx, union ibv_gid *gid)
{
	struct ibv_gid_entry e;
	int i;

	for (i = 0; i < 256; i++) {
		if (ibv_query_gid_ex(c, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2 ||
		    IN6_IS_ADDR_UNSPECIFIED((struct in6_addr *)e.gid.raw) ||
		    IN6_IS_ADDR_V4MAPPED((struct in6_addr *)e.gid.raw))
			continue;
		*idx = i;
		*gid = e.gid;
		return 0;
	}
	return -1;
}

/* One read of sysfs file @name of @dev's port 1 hw_counters; -1 if unread. */
static long long counter_file(const char *dev, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

/*
 * ib_core answers hw_counters reads from a copy it refreshes only once the
 * copy is older than the port's "lifespan" (ms): even at 0, a read in the
 * jiffy of the last refresh gets the copy. A case that reads a counter,
 * runs a verb for a millisecond and reads again would see no change. So
 * wait out the lifespan and a jiffy (at most 10 ms) first.
 */
long long mirror_test_counter(const char *dev, const char *name)
{
	long long ms = counter_file(dev, "lifespan");

	usleep((useconds_t)((ms > 0 ? ms : 0) + 15) * 1000);
	return counter_file(dev, name);
}

int mirror_test_time_scale(void)
{
	const char *env = getenv("MIRROR_TIME_SCALE");
	int s = env ? atoi(env) : 1;

	return s > 0 ? s : 1;
}

uint8_t mirror_test_ack_timeout(uint8_t base)
{
	int s = mirror_test_time_scale();
	uint8_t t = base;

	for (; s >= 2 && t < 31; s /= 2)
		t++;
	return t;
}

static double mirror_test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int mirror_test_wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, int ms)
{
	double end = mirror_test_now() +
		     ms / 1000.0 * mirror_test_time_scale();
	int n;

	for (;;) {
		n = ibv_poll_cq(cq, 1, wc);
		if (n)
			return n == 1 ? 0 : -1;
		if (mirror_test_now() > end)
			return -1;
		usleep(100);
	}
}

struct mirror_test_qp_params mirror_test_qp_defaults(enum ibv_qp_type type)
{
	struct mirror_test_qp_params p = {
		.access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
			  IBV_ACCESS_REMOTE_ATOMIC,
		.qkey = 0x1234,
		.mtu = IBV_MTU_1024,
		.rd_atomic = 4,
		.min_rnr_timer = 1,
		.timeout = mirror_test_ack_timeout(14),
		.retry_cnt = 7,
		.rnr_retry = 7,
	};

	if (type == IBV_QPT_UC)
		p.access = IBV_ACCESS_REMOTE_WRITE;
	return p;
}

int mirror_test_connect(struct ibv_qp *qp, uint32_t dest_qpn,
			const struct ibv_ah_attr *av,
			const struct mirror_test_qp_params *p)
{
	bool rc = qp->qp_type == IBV_QPT_RC, uc = qp->qp_type == IBV_QPT_UC;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = p->access,
		.qkey = p->qkey,
	};
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	mask |= rc || uc ? IBV_QP_ACCESS_FLAGS : IBV_QP_QKEY;
	if (ibv_modify_qp(qp, &a, mask))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	mask = IBV_QP_STATE;
	if (rc || uc) {
		a.path_mtu = p->mtu;
		a.dest_qp_num = dest_qpn;
		a.rq_psn = p->psn;
		a.ah_attr = *av;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			IBV_QP_RQ_PSN;
	}
	if (rc) {
		a.max_dest_rd_atomic = p->rd_atomic;
		a.min_rnr_timer = p->min_rnr_timer;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (ibv_modify_qp(qp, &a, mask))
		return -1;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = p->psn;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (rc) {
		a.timeout = p->timeout;
		a.retry_cnt = p->retry_cnt;
		a.rnr_retry = p->rnr_retry;
		a.max_rd_atomic = p->rd_atomic;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(qp, &a, mask) ? -1 : 0;
}

struct ibv_ah_attr mirror_test_av(const union ibv_gid *dgid, int sgid_index)
{
	struct ibv_ah_attr av = {
		.is_global = 1,
		.port_num = 1,
		.grh = {
			.dgid = *dgid,
			.sgid_index = (uint8_t)sgid_index,
			.hop_limit = 64,
		},
	};

	return av;
}
