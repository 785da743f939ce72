// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * odp_munmap - benchmark (figures only, never fails on them): what an ODP
 * mirror adds to munmap(). Times munmap() of a region of SIZE (default
 * 1 GiB, 4 KiB pages: MADV_NOHUGEPAGE) whose pages are all touched, once
 * unmirrored and once with an ODP MR registered over it and every page
 * mirrored (the MR is registered after the CPU touched the pages, and a
 * synchronous PREFETCH_WRITE over the whole MR makes sure), so that munmap
 * goes through the MR's invalidation. Rounds alternate; best of ROUNDS.
 *
 * SIZE shrinks (halving) while it does not fit in MemAvailable with 256 MiB
 * to spare; a note says so.
 *
 * Output: "result munmap MIRRORED_MS UNMIRRORED_MS SIZE_MIB" and "# ..."
 * notes (the size, the counters that show the mirror was hit).
 * Usage: odp_munmap [-d DEV] [-m MiB] [-r ROUNDS]
 */
#include <getopt.h>
#include <unistd.h>

#include "odp_bench.h"

#define SPARE_MIB 256

static struct bench b;

static long mem_available_mib(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb >> 10;
}

static void touch(char *p, size_t len)
{
	size_t off;

	for (off = 0; off < len; off += BENCH_PAGE)
		p[off] = (char)(off >> 12);
}

/* munmap() of a touched region, unmirrored; ns, 0 on error. */
static uint64_t plain_run(size_t len)
{
	char *p = bench_map(len, false);
	uint64_t t0;

	if (!p)
		return 0;
	touch(p, len);
	t0 = bench_now_ns();
	munmap(p, len);
	return bench_now_ns() - t0;
}

/*
 * munmap() of a touched region with every page mirrored by an ODP MR; ns,
 * 0 on error. @inval: odp_pages_invalidated during the munmap.
 */
static uint64_t mirrored_run(size_t len, long long *inval, long long *mirrored)
{
	char *p = bench_map(len, false);
	struct ibv_sge sge;
	struct ibv_mr *mr;
	long long i0, f0;
	uint64_t t0, t;
	int rc;

	if (!p)
		return 0;
	touch(p, len);
	f0 = bench_counter(&b, "odp_pages_faulted");
	mr = ibv_reg_mr(b.pd, p, len, IBV_ACCESS_LOCAL_WRITE |
			IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_ON_DEMAND);
	if (!mr) {
		fprintf(stderr, "ODP reg_mr of %zu MiB: %s\n", len >> 20,
			strerror(errno));
		munmap(p, len);
		return 0;
	}
	sge.addr = (uintptr_t)p;
	sge.length = (uint32_t)len;
	sge.lkey = mr->lkey;
	rc = ibv_advise_mr(b.pd, IBV_ADVISE_MR_ADVICE_PREFETCH_WRITE,
			   IBV_ADVISE_MR_FLAG_FLUSH, &sge, 1);
	if (rc) {
		fprintf(stderr, "advise_mr: %s\n", strerror(rc));
		ibv_dereg_mr(mr);
		munmap(p, len);
		return 0;
	}
	*mirrored = bench_counter(&b, "odp_pages_faulted") - f0;
	i0 = bench_counter(&b, "odp_pages_invalidated");
	t0 = bench_now_ns();
	munmap(p, len);
	t = bench_now_ns() - t0;
	*inval = bench_counter(&b, "odp_pages_invalidated") - i0;
	ibv_dereg_mr(mr);
	return t;
}

int main(int argc, char **argv)
{
	const char *dev = "mirror0";
	size_t want = 1024, mib;
	uint64_t plain = 0, mir = 0, t;
	long long inval = 0, mirrored = 0;
	long avail;
	int rounds = 2, i, opt;

	while ((opt = getopt(argc, argv, "d:m:r:")) != -1) {
		switch (opt) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			want = strtoul(optarg, NULL, 0);
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
	if (rounds < 1 || bench_open(&b, dev, false, 0))
		return 1;
	avail = mem_available_mib();
	mib = want;
	while (mib > 16 && avail >= 0 && (long)mib + SPARE_MIB > avail)
		mib /= 2;
	if (mib != want)
		printf("# %zu MiB does not fit (MemAvailable %ld MiB, %d MiB "
		       "kept spare): using %zu MiB\n", want, avail, SPARE_MIB,
		       mib);
	printf("# odp_munmap on %s: %zu MiB, 4 KiB pages, all touched; best of "
	       "%d\n", dev, mib, rounds);
	for (i = 0; i < rounds; i++) {
		t = plain_run(mib << 20);
		if (!t)
			return 1;
		plain = !plain || t < plain ? t : plain;
		t = mirrored_run(mib << 20, &inval, &mirrored);
		if (!t)
			return 1;
		mir = !mir || t < mir ? t : mir;
		if (i == 0)
			printf("# mirrored run: prefetch mirrored +%lld pages "
			       "(the rest at registration), munmap invalidated "
			       "+%lld pages of %zu\n", mirrored, inval,
			       (mib << 20) / BENCH_PAGE);
	}
	printf("result munmap %.3f %.3f %zu\n", mir / 1e6, plain / 1e6, mib);
	bench_close(&b);
	return 0;
}
