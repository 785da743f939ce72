// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_fault_cost - benchmark (figures only, never fails on them): what the
 * device's first touch of fresh memory through an ODP MR costs per 4 KiB
 * page, against the CPU's own first touch of fresh anonymous memory, in the
 * same guest.
 *
 * Device: an ODP MR over a fresh mapping of SIZE (default 64 MiB) that
 * nothing has touched, filled once by RDMA writes of 1 MiB from a hot pinned
 * buffer over a same-device RC QP pair; timed from the first post to the
 * last completion. CPU: memcpy of the same 1 MiB buffer over a fresh mapping
 * of SIZE. Three kinds of memory:
 *   fault_4k     MADV_NOHUGEPAGE (4 KiB pages), the device faults them in;
 *   prefetch_4k  the same, but timed as a synchronous
 *                ibv_advise_mr(PREFETCH_WRITE, FLUSH) of the whole MR plus
 *                the writes (which then fault nothing);
 *   fault_thp    2 MiB-aligned MADV_HUGEPAGE memory (THP) on both sides;
 * and warm_4k: the same writes again over the now-mirrored (device) or
 * populated (CPU) 4 KiB memory, the cost of the copy alone.
 * Each figure is the best of ROUNDS runs.
 *
 * Output: "result NAME DEVICE_NS CPU_NS" (nanoseconds per 4 KiB page),
 * "skip NAME REASON", and "# ..." notes (counter deltas, THP coverage).
 * Usage: odp_fault_cost [-d DEV] [-m MiB] [-r ROUNDS]
 */
#include <getopt.h>
#include <unistd.h>

#include "odp_bench.h"

#define CHUNK	(1UL << 20)
#define DEPTH	32
#define WAIT_NS	(120ULL * 1000000000ULL)

static struct bench b;
static char *src;		/* the hot pinned source, CHUNK bytes */
static struct ibv_mr *src_mr;

/* RDMA-writes [dst, dst + len) from src in CHUNK pieces; ns, 0 on error. */
static uint64_t rdma_fill(char *dst, size_t len, uint32_t rkey)
{
	size_t n = len / CHUNK, posted = 0, done = 0;
	uint64_t start = bench_now_ns();
	struct ibv_wc wc[16];
	int i, k;

	while (done < n) {
		while (posted < n && posted - done < DEPTH) {
			struct ibv_sge sge = {
				.addr = (uintptr_t)src, .length = CHUNK,
				.lkey = src_mr->lkey,
			};
			struct ibv_send_wr wr = {
				.wr_id = posted, .sg_list = &sge, .num_sge = 1,
				.opcode = IBV_WR_RDMA_WRITE,
				.send_flags = IBV_SEND_SIGNALED,
				.wr.rdma = {
					.remote_addr = (uintptr_t)dst +
						       posted * CHUNK,
					.rkey = rkey,
				},
			}, *bad;

			if (ibv_post_send(b.qp[0], &wr, &bad)) {
				fprintf(stderr, "post_send: %s\n",
					strerror(errno));
				return 0;
			}
			posted++;
		}
		k = ibv_poll_cq(b.cq, 16, wc);
		if (k < 0)
			return 0;
		for (i = 0; i < k; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "RDMA write: %s\n",
					ibv_wc_status_str(wc[i].status));
				return 0;
			}
		}
		done += k;
		if (!k && bench_now_ns() - start > WAIT_NS) {
			fprintf(stderr, "RDMA writes did not complete\n");
			return 0;
		}
	}
	return bench_now_ns() - start;
}

/* The CPU's memcpy of src over [dst, dst + len); ns. */
static uint64_t cpu_fill(char *dst, size_t len)
{
	uint64_t start = bench_now_ns();
	size_t off;

	for (off = 0; off < len; off += CHUNK) {
		memcpy(dst + off, src, CHUNK);
		__asm__ __volatile__("" : : "r"(dst) : "memory");
	}
	return bench_now_ns() - start;
}

static bool landed(const char *dst, size_t len)
{
	return !memcmp(dst, src, 64) &&
	       !memcmp(dst + len - CHUNK, src, CHUNK);
}

struct odp_delta {
	long long faults, pages;
};

static struct odp_delta odp_snap(void)
{
	struct odp_delta d = {
		bench_counter(&b, "odp_faults"),
		bench_counter(&b, "odp_pages_faulted"),
	};

	return d;
}

static struct odp_delta odp_since(struct odp_delta s)
{
	struct odp_delta now = odp_snap();

	now.faults -= s.faults;
	now.pages -= s.pages;
	return now;
}

static uint64_t min_ns(uint64_t best, uint64_t t)
{
	return !best || (t && t < best) ? t : best;
}

struct dev_run {
	uint64_t first;		/* the first fill (faults), or prefetch+fill */
	uint64_t second;	/* the same fill again (mirrored) */
	uint64_t prefetch;	/* of first, the prefetch */
	struct odp_delta d_prefetch, d_first, d_second;
	long thp_kb;		/* AnonHugePages gained */
};

/* One device run over fresh memory; false on error. */
static bool dev_run(size_t len, bool thp, bool prefetch, struct dev_run *r)
{
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		     IBV_ACCESS_ON_DEMAND;
	char *dst = bench_map(len, thp);
	struct ibv_mr *mr;
	struct odp_delta s;
	long huge0;
	uint64_t t0;
	bool ok = false;
	int rc;

	memset(r, 0, sizeof(*r));
	if (!dst) {
		fprintf(stderr, "mmap %zu: %s\n", len, strerror(errno));
		return false;
	}
	mr = ibv_reg_mr(b.pd, dst, len, access);
	if (!mr) {
		fprintf(stderr, "ODP reg_mr: %s\n", strerror(errno));
		goto out_unmap;
	}
	huge0 = bench_anon_huge_kb();
	if (prefetch) {
		struct ibv_sge sge = {
			.addr = (uintptr_t)dst, .length = (uint32_t)len,
			.lkey = mr->lkey,
		};

		s = odp_snap();
		t0 = bench_now_ns();
		rc = ibv_advise_mr(b.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
				   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
		r->prefetch = bench_now_ns() - t0;
		if (rc) {
			fprintf(stderr, "advise_mr: %s\n", strerror(rc));
			goto out_dereg;
		}
		r->d_prefetch = odp_since(s);
	}
	/* The counters are read outside the timed sections (they sleep). */
	s = odp_snap();
	r->first = rdma_fill(dst, len, mr->rkey);
	if (!r->first)
		goto out_dereg;
	r->first += r->prefetch;
	r->d_first = odp_since(s);
	r->thp_kb = bench_anon_huge_kb() - huge0;
	s = odp_snap();
	r->second = rdma_fill(dst, len, mr->rkey);
	r->d_second = odp_since(s);
	if (!r->second)
		goto out_dereg;
	if (!landed(dst, len)) {
		fprintf(stderr, "the RDMA writes did not land\n");
		goto out_dereg;
	}
	ok = true;
out_dereg:
	ibv_dereg_mr(mr);
out_unmap:
	bench_unmap(dst, len);
	return ok;
}

struct cpu_run {
	uint64_t first, second;
	long thp_kb;
};

static bool cpu_run(size_t len, bool thp, struct cpu_run *r)
{
	char *dst = bench_map(len, thp);
	long huge0 = bench_anon_huge_kb();

	if (!dst)
		return false;
	r->first = cpu_fill(dst, len);
	r->thp_kb = bench_anon_huge_kb() - huge0;
	r->second = cpu_fill(dst, len);
	bench_unmap(dst, len);
	return true;
}

static double per_page(uint64_t ns, size_t len)
{
	return (double)ns / (double)(len / BENCH_PAGE);
}

int main(int argc, char **argv)
{
	const char *dev = "mirror0";
	size_t len = 64UL << 20;
	uint64_t d4 = 0, d4w = 0, c4 = 0, c4w = 0, p4 = 0, p4p = 0;
	uint64_t dthp = 0, cthp = 0;
	struct dev_run dr;
	struct cpu_run cr;
	char why[128];
	bool thp;
	int rounds = 3, i, opt;

	while ((opt = getopt(argc, argv, "d:m:r:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			len = strtoul(optarg, NULL, 0) << 20;
			break;
		case 'r':
			rounds = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s [-d DEV] [-m MiB] [-r ROUNDS]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	len = (len + BENCH_HUGE - 1) & ~(BENCH_HUGE - 1);
	if (!len || rounds < 1 || bench_open(&b, dev, true, DEPTH))
		return 1;
	src = bench_map(CHUNK, false);
	if (!src)
		return 1;
	memset(src, 0x5a, CHUNK);
	for (i = 0; i < (int)CHUNK; i += 4093)
		src[i] = (char)i;
	src_mr = ibv_reg_mr(b.pd, src, CHUNK, IBV_ACCESS_LOCAL_WRITE);
	if (!src_mr) {
		fprintf(stderr, "reg_mr: %s\n", strerror(errno));
		return 1;
	}
	thp = bench_thp_possible(why, sizeof(why));
	printf("# odp_fault_cost on %s: %zu MiB of fresh memory per run, 1 MiB "
	       "RDMA writes from a hot pinned buffer (same-device RC), best of "
	       "%d runs\n", dev, len >> 20, rounds);

	for (i = 0; i < rounds; i++) {
		if (!dev_run(len, false, false, &dr))
			return 1;
		d4 = min_ns(d4, dr.first);
		d4w = min_ns(d4w, dr.second);
		if (i == 0)
			printf("# 4 KiB pages, device: first fill odp_faults "
			       "+%lld odp_pages_faulted +%lld (%zu pages); "
			       "second fill odp_faults +%lld\n",
			       dr.d_first.faults, dr.d_first.pages,
			       len / BENCH_PAGE, dr.d_second.faults);
		if (!cpu_run(len, false, &cr))
			return 1;
		c4 = min_ns(c4, cr.first);
		c4w = min_ns(c4w, cr.second);
		if (!dev_run(len, false, true, &dr))
			return 1;
		if (!p4 || dr.first < p4) {
			p4 = dr.first;
			p4p = dr.prefetch;
		}
		if (i == 0)
			printf("# 4 KiB pages, prefetch: odp_faults +%lld "
			       "odp_pages_faulted +%lld; the writes after it: "
			       "odp_faults +%lld\n", dr.d_prefetch.faults,
			       dr.d_prefetch.pages, dr.d_first.faults);
		if (!thp)
			continue;
		if (!dev_run(len, true, false, &dr))
			return 1;
		dthp = min_ns(dthp, dr.first);
		if (i == 0)
			printf("# THP, device: odp_faults +%lld "
			       "odp_pages_faulted +%lld, AnonHugePages +%ld "
			       "KiB of %zu\n", dr.d_first.faults,
			       dr.d_first.pages, dr.thp_kb, len >> 10);
		if (!cpu_run(len, true, &cr))
			return 1;
		cthp = min_ns(cthp, cr.first);
		if (i == 0)
			printf("# THP, CPU: AnonHugePages +%ld KiB of %zu\n",
			       cr.thp_kb, len >> 10);
	}
	printf("# prefetch + fill: %.1f ns/page in the prefetch, %.1f in the "
	       "writes\n", per_page(p4p, len), per_page(p4 - p4p, len));
	printf("result fault_4k %.1f %.1f\n", per_page(d4, len),
	       per_page(c4, len));
	printf("result prefetch_4k %.1f %.1f\n", per_page(p4, len),
	       per_page(c4, len));
	if (thp)
		printf("result fault_thp %.1f %.1f\n", per_page(dthp, len),
		       per_page(cthp, len));
	else
		printf("skip fault_thp %s\n", why);
	printf("result warm_4k %.1f %.1f\n", per_page(d4w, len),
	       per_page(c4w, len));
	ibv_dereg_mr(src_mr);
	bench_unmap(src, CHUNK);
	bench_close(&b);
	return 0;
}
