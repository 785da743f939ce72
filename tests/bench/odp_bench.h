/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * odp_bench.h - what the ODP benchmarks share: one open device with a PD,
 * a CQ and two RC QPs connected to each other (same-device traffic), the
 * device's hw counters from sysfs, fresh anonymous mappings (4 KiB pages,
 * 2 MiB-aligned THP or as the kernel decides) and a clock.
 */
#ifndef ODP_BENCH_H
#define ODP_BENCH_H

#include <errno.h>
#include <infiniband/verbs.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define BENCH_PAGE	4096UL
#define BENCH_HUGE	(2UL << 20)

struct bench {
	const char *name;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_qp *qp[2];
	int gid_index;
	union ibv_gid gid;
};

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline long long bench_read_counter(const struct bench *b,
					   const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", b->name,
		 name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

/*
 * Hardware counter NAME of the device's port 1, fresh (-1 if unreadable):
 * ib_core answers hw_counters reads from a copy refreshed only once it is
 * older than "lifespan" ms, so this first sleeps that long and a bit.
 * Never call it inside a timed section.
 */
static inline long long bench_counter(const struct bench *b, const char *name)
{
	long long ms = bench_read_counter(b, "lifespan");

	usleep((useconds_t)((ms > 0 ? ms : 10) + 15) * 1000);
	return bench_read_counter(b, name);
}

/*
 * A fresh private anonymous mapping of @len bytes, no madvise(): its pages
 * are as the kernel's THP mode decides. Free with bench_unmap(). NULL on
 * failure.
 */
static inline char *bench_map_plain(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * A fresh private anonymous mapping of @len bytes. @thp: 2 MiB aligned and
 * MADV_HUGEPAGE; otherwise MADV_NOHUGEPAGE (4 KiB pages). Free with
 * bench_unmap(). NULL on failure.
 */
static inline char *bench_map(size_t len, bool thp)
{
	size_t slack = thp ? BENCH_HUGE : 0;
	char *p, *a;

	p = bench_map_plain(len + slack);
	if (!p)
		return NULL;
	a = p;
	if (thp) {
		a = (char *)(((uintptr_t)p + BENCH_HUGE - 1) &
			     ~(BENCH_HUGE - 1));
		if (a > p)
			munmap(p, a - p);
		if (a + len < p + len + slack)
			munmap(a + len, p + len + slack - (a + len));
	}
	if (madvise(a, len, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE)) {
		munmap(a, len);
		return NULL;
	}
	return a;
}

static inline void bench_unmap(char *p, size_t len)
{
	munmap(p, len);
}

/* Whether the kernel gives THP to MADV_HUGEPAGE mappings; why not in @why. */
static inline bool bench_thp_possible(char *why, size_t n)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f) {
		snprintf(why, n, "no /sys/kernel/mm/transparent_hugepage");
		return false;
	}
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	if (strstr(buf, "[never]")) {
		snprintf(why, n, "transparent_hugepage/enabled is [never]");
		return false;
	}
	return true;
}

/* AnonHugePages of this process in KiB (from /proc/self/smaps_rollup). */
static inline long bench_anon_huge_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static inline int bench_find_gid(struct bench *b)
{
	struct ibv_port_attr pa;
	struct ibv_gid_entry e;
	int i;

	if (ibv_query_port(b->ctx, 1, &pa))
		return -1;
	for (i = 0; i < pa.gid_tbl_len && i < 256; i++) {
		if (ibv_query_gid_ex(b->ctx, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		if (IN6_IS_ADDR_V4MAPPED((struct in6_addr *)e.gid.raw)) {
			b->gid_index = i;
			b->gid = e.gid;
			return 0;
		}
	}
	return -1;
}

static inline int bench_connect(struct bench *b, struct ibv_qp *qp,
				uint32_t dest)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ,
	};

	if (ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
			  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = dest;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = b->gid;
	a.ah_attr.grh.sgid_index = (uint8_t)b->gid_index;
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
	return ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN |
			     IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
			     IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC) ? -1 : 0;
}

/*
 * Opens device @name with a PD; with @qps also a CQ and two connected RC
 * QPs of @depth send WRs each. Prints why and returns -1 on failure.
 */
static inline int bench_open(struct bench *b, const char *name, bool qps,
			     int depth)
{
	struct ibv_device **list;
	int i;

	memset(b, 0, sizeof(*b));
	b->name = name;
	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			b->ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!b->ctx || !(b->pd = ibv_alloc_pd(b->ctx))) {
		fprintf(stderr, "cannot open %s: %s\n", name, strerror(errno));
		return -1;
	}
	if (!qps)
		return 0;
	if (bench_find_gid(b)) {
		fprintf(stderr, "no IPv4 RoCEv2 GID on %s\n", name);
		return -1;
	}
	b->cq = ibv_create_cq(b->ctx, 2 * depth, NULL, NULL, 0);
	if (!b->cq)
		return -1;
	for (i = 0; i < 2; i++) {
		struct ibv_qp_init_attr ia = {
			.send_cq = b->cq, .recv_cq = b->cq,
			.qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = depth, .max_recv_wr = 1,
				 .max_send_sge = 1, .max_recv_sge = 1 },
		};

		b->qp[i] = ibv_create_qp(b->pd, &ia);
		if (!b->qp[i]) {
			fprintf(stderr, "create QP: %s\n", strerror(errno));
			return -1;
		}
	}
	if (bench_connect(b, b->qp[0], b->qp[1]->qp_num) ||
	    bench_connect(b, b->qp[1], b->qp[0]->qp_num)) {
		fprintf(stderr, "connect QPs: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static inline void bench_close(struct bench *b)
{
	int i;

	for (i = 0; i < 2; i++)
		if (b->qp[i])
			ibv_destroy_qp(b->qp[i]);
	if (b->cq)
		ibv_destroy_cq(b->cq);
	if (b->pd)
		ibv_dealloc_pd(b->pd);
	if (b->ctx)
		ibv_close_device(b->ctx);
}

#endif /* ODP_BENCH_H */
