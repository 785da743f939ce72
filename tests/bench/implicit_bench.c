// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * implicit_bench - figures for implicit ODP (ibv_reg_mr(pd, NULL, SIZE_MAX,
 * IBV_ACCESS_ON_DEMAND | ...)) on one device, measured in one process:
 *
 *   registration: the time ibv_reg_mr() takes for an implicit MR against
 *     a pinned MR over a touched 1 GiB buffer (smaller when 1 GiB cannot
 *     be pinned; the table says which size was used);
 *   mirror memory: the device's odp_mirror_bytes counter after an implicit
 *     MR is registered and nothing touched, and its growth per mirrored
 *     4 KiB page after RDMA-writing fresh (never touched) memory through
 *     the implicit rkey; the source of those writes is a pinned MR so that
 *     only the destination is mirrored;
 *   bandwidth: 64 KiB RDMA writes between two RC QPs of the device, the
 *     same warm buffers addressed through the implicit MR's keys or through
 *     pinned MRs' keys, runs interleaved, the median of each reported
 *     (and, for comparison, through explicit ODP MRs over the buffers).
 *
 * The counters come from sysfs (hw_counters of port 1), read with
 * bench_counter(), which first waits out ib_core's hw_counters lifespan so
 * that the value is fresh. Prints a table and never judges the figures;
 * the exit status is non-zero only when the device cannot be opened or
 * set up.
 *
 * Usage: implicit_bench [-d DEVICE] [-p PINNED_MIB] [-w WRITE_MIB]
 *			 [-n WRITES]
 */
#include <getopt.h>

#include "odp_bench.h"

#define MIB		(1UL << 20)
#define CHILD_SIZE	(16 * MIB)	/* the kernel's implicit child size */
#define MSG		(64UL << 10)	/* bandwidth message size */
#define WRITE_CHUNK	MIB		/* one RDMA write of the memory test */
#define DEPTH		16		/* writes in flight */
#define REG_REPS	21		/* implicit registrations timed */
#define PINNED_REPS	3		/* pinned registrations timed */
#define BW_RUNS		3		/* bandwidth runs of each kind */
#define NA		(-1.0)

#define ACCESS	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |          \
		 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

static const char *dev_name = "mirror0";
static unsigned long pinned_mib = 1024;
static unsigned long write_mib = 256;
static unsigned long bw_writes = 20000;

/* b.qp[0] writes into memory b.qp[1]'s side owns */
static struct bench b;

static int cmp_double(const void *pa, const void *pb)
{
	double x = *(const double *)pa, y = *(const double *)pb;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static struct ibv_mr *reg_implicit(void)
{
	return ibv_reg_mr(b.pd, NULL, SIZE_MAX, ACCESS | IBV_ACCESS_ON_DEMAND);
}

/*
 * RDMA-writes @n messages of @len bytes from @src (lkey @lkey) to @dst
 * (rkey @rkey), @step bytes further each time (0: the same buffers),
 * with up to DEPTH in flight. Returns the nanoseconds it took, 0 on error.
 */
static uint64_t write_many(uint32_t lkey, char *src, uint32_t rkey, char *dst,
			   size_t len, size_t step, unsigned long n)
{
	unsigned long posted = 0, done = 0;
	struct ibv_wc wc[DEPTH];
	uint64_t t0 = bench_now_ns();
	int i, got;

	while (done < n) {
		while (posted < n && posted - done < DEPTH) {
			struct ibv_sge sge = {
				.addr = (uintptr_t)src, .length = (uint32_t)len,
				.lkey = lkey,
			};
			struct ibv_send_wr wr = {
				.wr_id = posted, .sg_list = &sge, .num_sge = 1,
				.opcode = IBV_WR_RDMA_WRITE,
				.send_flags = IBV_SEND_SIGNALED,
				.wr.rdma = {
					.remote_addr = (uintptr_t)dst +
						       posted * step,
					.rkey = rkey,
				},
			}, *bad;

			if (ibv_post_send(b.qp[0], &wr, &bad)) {
				fprintf(stderr, "implicit_bench: post: %s\n",
					strerror(errno));
				return 0;
			}
			posted++;
		}
		got = ibv_poll_cq(b.cq, DEPTH, wc);
		if (got < 0)
			return 0;
		for (i = 0; i < got; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr,
					"implicit_bench: write: %s\n",
					ibv_wc_status_str(wc[i].status));
				return 0;
			}
		}
		done += got;
	}
	return bench_now_ns() - t0 ?: 1;
}

/* Figures, NA where a measurement failed. */
struct figures {
	double reg_implicit_us, reg_implicit_min_us, reg_implicit_max_us;
	double reg_pinned_us;		/* THP as the kernel decides */
	double reg_pinned_4k_us;	/* MADV_NOHUGEPAGE: 4 KiB pages */
	unsigned long pinned_mib_used;
	char pinned_note[160];
	double untouched_bytes;		/* mirror bytes of an untouched MR */
	double bytes_per_page;
	long long mirrored_pages, mirror_delta, children;
	double after_dereg_bytes;	/* mirror bytes left after dereg */
	double bw_implicit, bw_pinned;	/* medians */
	double bw_implicit_runs[BW_RUNS], bw_pinned_runs[BW_RUNS];
	double bw_explicit_odp;		/* explicit ODP MRs, same buffers */
	double bw_explicit_odp_runs[BW_RUNS];
};

/*
 * Median time (usec) of PINNED_REPS pinned registrations of a touched
 * @mib MiB buffer, backed by transparent huge pages as the kernel decides,
 * or (@small) by 4 KiB pages only. NA with *@err set when it cannot.
 */
static double pinned_reg_us(unsigned long mib, bool small, int *err)
{
	double t[PINNED_REPS];
	size_t len = mib * MIB;
	struct ibv_mr *mr;
	uint64_t t0;
	char *buf;
	int i;

	buf = small ? bench_map(len, false) : bench_map_plain(len);
	if (!buf) {
		*err = errno;
		return NA;
	}
	memset(buf, 0x5a, len);		/* touched: nothing to fault in */
	for (i = 0; i < PINNED_REPS; i++) {
		t0 = bench_now_ns();
		mr = ibv_reg_mr(b.pd, buf, len, ACCESS);
		t[i] = (bench_now_ns() - t0) / 1e3;
		if (!mr) {
			*err = errno;
			goto err_unmap;
		}
		ibv_dereg_mr(mr);
	}
	bench_unmap(buf, len);
	return median(t, PINNED_REPS);

err_unmap:
	bench_unmap(buf, len);
	return NA;
}

static void measure_registration(struct figures *f)
{
	double t[REG_REPS];
	struct ibv_mr *mr;
	unsigned long mib;
	int i, k, err = 0;
	uint64_t t0;

	f->reg_implicit_us = f->reg_implicit_min_us = NA;
	f->reg_implicit_max_us = f->reg_pinned_us = f->reg_pinned_4k_us = NA;
	for (i = 0; i < REG_REPS; i++) {
		t0 = bench_now_ns();
		mr = reg_implicit();
		t[i] = (bench_now_ns() - t0) / 1e3;
		if (!mr) {
			fprintf(stderr, "implicit_bench: implicit MR: %s\n",
				strerror(errno));
			return;
		}
		ibv_dereg_mr(mr);
	}
	f->reg_implicit_us = median(t, REG_REPS);	/* sorts t */
	f->reg_implicit_min_us = t[0];
	f->reg_implicit_max_us = t[REG_REPS - 1];

	/* The largest of 1 GiB (or -p), 3/4, 1/2, 1/4 of it that pins. */
	for (k = 4; k > 0 && f->reg_pinned_us == NA; k--) {
		mib = pinned_mib * k / 4;
		if (!mib)
			break;
		f->reg_pinned_us = pinned_reg_us(mib, false, &err);
		if (f->reg_pinned_us == NA) {
			snprintf(f->pinned_note, sizeof(f->pinned_note),
				 "pinning %lu MiB failed (%s); ", mib,
				 strerror(err));
			continue;
		}
		f->pinned_mib_used = mib;
		f->reg_pinned_4k_us = pinned_reg_us(mib, true, &err);
	}
}

static void measure_memory(struct figures *f)
{
	long long mb0, mb1, mb2, pf0, pf1, ch0, ch1;
	struct ibv_mr *im = NULL, *src_mr = NULL;
	size_t len = write_mib * MIB;
	char *src = NULL, *area = NULL, *dst;
	unsigned long n = len / WRITE_CHUNK;

	f->untouched_bytes = f->bytes_per_page = f->after_dereg_bytes = NA;
	f->mirrored_pages = f->mirror_delta = f->children = -1;

	src = bench_map_plain(WRITE_CHUNK);
	/* Fresh memory, the mirror's children aligned with it. */
	area = bench_map_plain(len + CHILD_SIZE);
	if (!src || !area)
		goto out;
	memset(src, 0xa5, WRITE_CHUNK);
	src_mr = ibv_reg_mr(b.pd, src, WRITE_CHUNK, ACCESS);
	if (!src_mr)
		goto out;
	dst = (char *)(((uintptr_t)area + CHILD_SIZE - 1) & ~(CHILD_SIZE - 1));

	mb0 = bench_counter(&b, "odp_mirror_bytes");
	im = reg_implicit();
	if (!im)
		goto out;
	mb1 = bench_counter(&b, "odp_mirror_bytes");
	if (mb0 >= 0 && mb1 >= 0)
		f->untouched_bytes = (double)(mb1 - mb0);

	pf0 = bench_counter(&b, "odp_pages_faulted");
	ch0 = bench_counter(&b, "odp_children_created");
	if (!write_many(src_mr->lkey, src, im->rkey, dst, WRITE_CHUNK,
			WRITE_CHUNK, n))
		goto out;
	mb2 = bench_counter(&b, "odp_mirror_bytes");
	pf1 = bench_counter(&b, "odp_pages_faulted");
	ch1 = bench_counter(&b, "odp_children_created");
	if (dst[0] != (char)0xa5 || dst[len - 1] != (char)0xa5) {
		fprintf(stderr, "implicit_bench: written memory is wrong\n");
		goto out;
	}
	f->mirrored_pages = pf1 - pf0;
	f->mirror_delta = mb2 - mb1;
	f->children = ch1 - ch0;
	if (f->mirrored_pages > 0 && mb1 >= 0 && mb2 >= 0)
		f->bytes_per_page = (double)f->mirror_delta / f->mirrored_pages;
	ibv_dereg_mr(im);
	im = NULL;
	if (mb0 >= 0)
		f->after_dereg_bytes =
			(double)(bench_counter(&b, "odp_mirror_bytes") - mb0);
out:
	if (im)
		ibv_dereg_mr(im);
	if (src_mr)
		ibv_dereg_mr(src_mr);
	if (area)
		bench_unmap(area, len + CHILD_SIZE);
	if (src)
		bench_unmap(src, WRITE_CHUNK);
}

/* MB/s (10^6 bytes) of bw_writes 64 KiB writes; NA on error. */
static double bandwidth(uint32_t lkey, char *src, uint32_t rkey, char *dst)
{
	uint64_t ns;

	/* Warm-up: faults (implicit) and caches out of the way. */
	if (!write_many(lkey, src, rkey, dst, MSG, 0, 200))
		return NA;
	ns = write_many(lkey, src, rkey, dst, MSG, 0, bw_writes);
	return ns ? (double)bw_writes * MSG / (ns / 1e9) / 1e6 : NA;
}

static void measure_bandwidth(struct figures *f)
{
	struct ibv_mr *im = NULL, *smr = NULL, *dmr = NULL;
	struct ibv_mr *sodp = NULL, *dodp = NULL;
	double imp[BW_RUNS], pin[BW_RUNS], odp[BW_RUNS];
	char *src, *dst;
	int i;

	f->bw_implicit = f->bw_pinned = f->bw_explicit_odp = NA;
	src = bench_map_plain(MSG);
	dst = bench_map_plain(MSG);
	if (!src || !dst)
		goto out;
	memset(src, 0x3c, MSG);
	memset(dst, 0, MSG);
	im = reg_implicit();
	smr = ibv_reg_mr(b.pd, src, MSG, ACCESS);
	dmr = ibv_reg_mr(b.pd, dst, MSG, ACCESS);
	sodp = ibv_reg_mr(b.pd, src, MSG, ACCESS | IBV_ACCESS_ON_DEMAND);
	dodp = ibv_reg_mr(b.pd, dst, MSG, ACCESS | IBV_ACCESS_ON_DEMAND);
	if (!im || !smr || !dmr || !sodp || !dodp)
		goto out;
	for (i = 0; i < BW_RUNS; i++) {
		pin[i] = bandwidth(smr->lkey, src, dmr->rkey, dst);
		imp[i] = bandwidth(im->lkey, src, im->rkey, dst);
		odp[i] = bandwidth(sodp->lkey, src, dodp->rkey, dst);
		if (pin[i] == NA || imp[i] == NA || odp[i] == NA)
			goto out;
		f->bw_pinned_runs[i] = pin[i];
		f->bw_implicit_runs[i] = imp[i];
		f->bw_explicit_odp_runs[i] = odp[i];
	}
	if (memcmp(src, dst, MSG)) {
		fprintf(stderr, "implicit_bench: written memory is wrong\n");
		goto out;
	}
	f->bw_pinned = median(pin, BW_RUNS);
	f->bw_implicit = median(imp, BW_RUNS);
	f->bw_explicit_odp = median(odp, BW_RUNS);
out:
	if (dodp)
		ibv_dereg_mr(dodp);
	if (sodp)
		ibv_dereg_mr(sodp);
	if (im)
		ibv_dereg_mr(im);
	if (smr)
		ibv_dereg_mr(smr);
	if (dmr)
		ibv_dereg_mr(dmr);
	if (src)
		bench_unmap(src, MSG);
	if (dst)
		bench_unmap(dst, MSG);
}

/* "%.*f" of @v into @buf, or "n/a". */
static const char *fmt(char *buf, size_t size, double v, int prec)
{
	if (v == NA)
		snprintf(buf, size, "n/a");
	else
		snprintf(buf, size, "%.*f", prec, v);
	return buf;
}

#define ROW_FMT	"%-44s %-7s %12s %12s %18s   %s\n"

static void row(const char *test, const char *unit, const char *implicit,
		const char *pinned, const char *ratio, const char *target)
{
	printf(ROW_FMT, test, unit, implicit, pinned, ratio, target);
}

/* One registration row: implicit against a pinned time. */
static void reg_row(const struct figures *f, const char *what, double pinned)
{
	char name[64], a[32], b[32], r[48];
	double ratio;

	ratio = f->reg_implicit_us > 0 && pinned != NA ?
		pinned / f->reg_implicit_us : NA;
	snprintf(name, sizeof(name), "ibv_reg_mr: implicit vs %lu MiB pinned%s",
		 f->pinned_mib_used, what);
	fmt(r, sizeof(r), ratio, 0);
	if (ratio != NA)
		strcat(r, "x faster");
	row(name, "usec", fmt(a, sizeof(a), f->reg_implicit_us, 1),
	    fmt(b, sizeof(b), pinned, 1), r,
	    "implicit <= 100 usec and >= 1000x faster");
}

/* The kernel's transparent huge page mode ("always", "madvise", ...). */
static const char *thp_mode(char *buf, size_t size)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char *l, *r;

	snprintf(buf, size, "unknown");
	if (!f)
		return buf;
	if (fgets(buf, (int)size, f) && (l = strchr(buf, '[')) &&
	    (r = strchr(l, ']'))) {
		*r = '\0';
		memmove(buf, l + 1, strlen(l + 1) + 1);
	}
	fclose(f);
	return buf;
}

static void print_table(const struct figures *f)
{
	char a[32], b[32], r[48], thp[64];
	double ratio;
	int i;

	printf("\nimplicit ODP benchmark (implicit_bench) on %s, one process, "
	       "two RC QPs of the device\n", dev_name);
	printf(ROW_FMT, "test", "unit", "implicit", "pinned", "ratio",
	       "target");
	reg_row(f, "", f->reg_pinned_us);
	reg_row(f, ", 4K", f->reg_pinned_4k_us);
	row("mirror memory per mirrored 4 KiB page", "B/page",
	    fmt(a, sizeof(a), f->bytes_per_page, 2), "-", "-", "<= 8 B");
	row("mirror memory, implicit MR untouched", "B",
	    fmt(a, sizeof(a), f->untouched_bytes, 0), "-", "-", "0 B");
	ratio = f->bw_implicit != NA && f->bw_pinned > 0 ?
		f->bw_implicit / f->bw_pinned : NA;
	fmt(r, sizeof(r), ratio, 2);
	if (ratio != NA)
		strcat(r, " impl/pin");
	row("RDMA write 64 KiB, warm buffers", "MB/s",
	    fmt(a, sizeof(a), f->bw_implicit, 1),
	    fmt(b, sizeof(b), f->bw_pinned, 1), r, "-");

	printf("notes:\n");
	printf("- registration: median of %d implicit (min %.1f, max %.1f "
	       "usec) and of %d pinned registrations of a touched buffer; "
	       "%spinned size used: %lu MiB; \"pinned\": transparent huge "
	       "pages as the kernel gives them (mode %s), \"pinned, 4K\": "
	       "MADV_NOHUGEPAGE, 4 KiB pages\n", REG_REPS,
	       f->reg_implicit_min_us, f->reg_implicit_max_us, PINNED_REPS,
	       f->pinned_note, f->pinned_mib_used, thp_mode(thp, sizeof(thp)));
	printf("- mirror memory: %lu MiB of fresh memory RDMA-written through "
	       "the implicit rkey (source: a pinned MR): odp_mirror_bytes "
	       "+%lld for %lld pages mirrored, %lld children of 16 MiB "
	       "created; after ibv_dereg_mr the counter is %+.0f B from "
	       "before registration\n", write_mib, f->mirror_delta,
	       f->mirrored_pages, f->children, f->after_dereg_bytes);
	if (f->children > 0 && f->mirrored_pages > 0)
		printf("- of that, at 6 B per page of each child (a u32 and "
		       "a u16), %.0f B per child beside its page entries\n",
		       (double)(f->mirror_delta - f->children *
			       (long long)(CHILD_SIZE / BENCH_PAGE) * 6) /
		       f->children);
	printf("- bandwidth: %lu writes of 64 KiB per run, %d in flight, "
	       "%d runs of each kind interleaved, median; MB/s = 10^6 B/s; "
	       "runs (implicit/pinned/explicit ODP):", bw_writes, DEPTH,
	       BW_RUNS);
	for (i = 0; i < BW_RUNS; i++)
		printf(" %.0f/%.0f/%.0f", f->bw_implicit_runs[i],
		       f->bw_pinned_runs[i], f->bw_explicit_odp_runs[i]);
	printf("\n- for comparison, explicit ODP MRs over the same buffers: "
	       "%s MB/s (%s of pinned)",
	       fmt(a, sizeof(a), f->bw_explicit_odp, 1),
	       fmt(b, sizeof(b), f->bw_explicit_odp != NA && f->bw_pinned > 0 ?
		   f->bw_explicit_odp / f->bw_pinned : NA, 2));
	printf("\n- perftest 4.5's ib_write_bw has --odp (an explicit ODP MR "
	       "over its buffer) but no implicit ODP option\n");
}

int main(int argc, char **argv)
{
	struct figures f = { 0 };
	int opt;

	while ((opt = getopt(argc, argv, "d:p:w:n:")) != -1) {
		switch (opt) {
		case 'd':
			dev_name = optarg;
			break;
		case 'p':
			pinned_mib = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			write_mib = strtoul(optarg, NULL, 0);
			break;
		case 'n':
			bw_writes = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-d DEVICE] [-p PINNED_MIB] "
				"[-w WRITE_MIB] [-n WRITES]\n", argv[0]);
			return 2;
		}
	}
	if (!pinned_mib || !write_mib || !bw_writes) {
		fprintf(stderr, "implicit_bench: sizes must be positive\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (bench_open(&b, dev_name, true, 2 * DEPTH)) {
		fprintf(stderr,
			"implicit_bench: cannot set up an RC pair on %s\n",
			dev_name);
		bench_close(&b);
		return 1;
	}
	measure_registration(&f);
	measure_memory(&f);
	measure_bandwidth(&f);
	print_table(&f);
	bench_close(&b);
	return 0;
}
