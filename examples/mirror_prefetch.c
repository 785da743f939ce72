// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_prefetch - what mirrorv_prefetch() saves a transfer.
 *
 * The same RDMA write (16 MiB by default) goes into freshly mmap()ed
 * memory through an implicit ODP MR three times: cold, where every page is
 * faulted in by the transfer itself; after a synchronous
 * mirrorv_prefetch(); and after an asynchronous one (waiting, with
 * mirrorv_query_mirror(), until every page is mirrored). Each run prints
 * its times and the ODP counters that moved, from
 * mirrorv_query_mr_odp_counters() for the MR and
 * mirrorv_query_odp_counters() for the fault-latency histogram.
 *
 * Usage: mirror_prefetch [-d DEVICE] [-m MIB]
 * Exit status: 0 when every run delivered every byte and the prefetched
 * transfers faulted fewer pages than the cold one; 1 otherwise.
 */
#include <sys/mman.h>

#include "mirror_example.h"

#define PROG "mirror_prefetch"
#define SEED 0x5eed

enum run_kind { RUN_COLD, RUN_SYNC, RUN_ASYNC };

static const char *const run_name[] = {
	[RUN_COLD] = "no prefetch",
	[RUN_SYNC] = "sync prefetch",
	[RUN_ASYNC] = "async prefetch",
};

/* Waits up to 30 s until all of [buf, buf + len) is mirrored writable. */
static int wait_mirrored(struct ibv_mr *mr, void *buf, size_t len,
			 size_t npages)
{
	size_t mirrored, writable;
	double end = ex_now() + 30;
	int err;

	do {
		err = ex_mirrored_pages(mr, buf, len, &mirrored, &writable);
		if (err)
			return ex_err(PROG, "mirrorv_query_mirror", err);
		if (writable == npages)
			return 0;
		usleep(1000);
	} while (ex_now() < end);
	fprintf(stderr, PROG ": async prefetch: %zu of %zu pages after 30 s\n",
		writable, npages);
	return -1;
}

/* The fault-latency buckets that moved: "[low, high) us: count". */
static void print_latency(const struct mirrorv_odp_counters *a,
			  const struct mirrorv_odp_counters *b)
{
	int i;

	printf("    fault latency (device, whole run):");
	for (i = 0; i < MIRRORV_FAULT_LAT_BUCKETS; i++)
		if (b->fault_ns_log2[i] != a->fault_ns_log2[i])
			printf(" [%.0f, %.0f) us: %llu",
			       i ? (double)(1UL << (10 + i)) / 1e3 : 0.0,
			       (double)(1UL << (11 + i)) / 1e3,
			       (unsigned long long)(b->fault_ns_log2[i] -
						    a->fault_ns_log2[i]));
	printf("\n");
}

/*
 * One run into fresh memory; *@faulted gets the pages the transfer itself
 * faulted in. Returns 0 when every byte arrived.
 */
static int run(struct ex_side *l, enum run_kind kind, void *src, size_t len,
	       uint64_t *faulted)
{
	struct mirrorv_odp_counters c0, c1, c2, d0, d2;
	size_t npages = len / (size_t)sysconf(_SC_PAGESIZE), bad;
	double t, t_pre = 0, t_xfer;
	unsigned int flags = MIRRORV_PREFETCH_WRITE;
	void *dst;
	int err, ret = -1;

	dst = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (dst == MAP_FAILED)
		return ex_err(PROG, "mmap", errno);
	err = mirrorv_query_odp_counters(l->dev.ctx, &d0);
	if (err) {
		ex_err(PROG, "mirrorv_query_odp_counters", err);
		goto out;
	}
	if (ex_mr_counters(PROG, l->mr, &c0))
		goto out;
	c1 = c0;
	if (kind != RUN_COLD) {
		if (kind == RUN_ASYNC)
			flags |= MIRRORV_PREFETCH_ASYNC;
		t = ex_now();
		err = mirrorv_prefetch(l->mr, dst, len, flags);
		if (err) {
			ex_err(PROG, "mirrorv_prefetch", err);
			goto out;
		}
		if (kind == RUN_ASYNC) {
			printf("%-15s returned after %.3f ms\n", run_name[kind],
			       (ex_now() - t) * 1e3);
			if (wait_mirrored(l->mr, dst, len, npages))
				goto out;
		}
		t_pre = ex_now() - t;
		if (ex_mr_counters(PROG, l->mr, &c1))
			goto out;
	}
	t = ex_now();
	if (ex_loop_write(PROG, l, dst, src, (uint32_t)len))
		goto out;
	t_xfer = ex_now() - t;
	if (ex_mr_counters(PROG, l->mr, &c2))
		goto out;
	err = mirrorv_query_odp_counters(l->dev.ctx, &d2);
	if (err) {
		ex_err(PROG, "mirrorv_query_odp_counters", err);
		goto out;
	}
	bad = ex_check(dst, len, SEED);
	*faulted = c2.pages_faulted - c1.pages_faulted;

	if (kind != RUN_COLD) {
		printf("%-15s %8.2f ms%s\n", run_name[kind], t_pre * 1e3,
		       kind == RUN_ASYNC ? " until every page was mirrored" :
					   "");
		ex_print_delta("    prefetch", &c0, &c1);
	}
	printf("%-15s %8.2f ms for the RDMA write of %zu MiB (%.0f MiB/s)%s\n",
	       kind == RUN_COLD ? run_name[kind] : "  then transfer",
	       t_xfer * 1e3, len >> 20, (len >> 20) / t_xfer,
	       bad ? ", WRONG BYTES" : ", every byte checked");
	ex_print_delta("    transfer", &c1, &c2);
	print_latency(&d0, &d2);
	ret = bad ? -1 : 0;
out:
	munmap(dst, len);
	return ret;
}

int main(int argc, char **argv)
{
	uint64_t faulted[3] = { 0 };
	const char *devname;
	long mib = 16;
	size_t len;
	struct ex_side l;
	int k, err, ret = 0;
	void *src;

	if (ex_options(argc, argv, "[-d DEVICE] [-m MIB (up to 2047)]", 'm',
		       &mib, &devname) || mib > 2047)
		return 2;
	len = (size_t)mib << 20;
	if (ex_side_open(PROG, devname, 0, true, &l))
		return 1;
	src = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (src == MAP_FAILED) {
		ex_err(PROG, "mmap", errno);
		ex_side_close(&l);
		return 1;
	}
	ex_fill(src, len, SEED);
	/* The source is mirrored once, up front: the runs differ in dst only. */
	err = mirrorv_prefetch(l.mr, src, len, 0);
	if (err) {
		ex_err(PROG, "mirrorv_prefetch of the source", err);
		ret = 1;
		goto out;
	}
	printf("%zu MiB RDMA write into fresh mmap() memory, one implicit MR "
	       "(lkey 0x%08x rkey 0x%08x)\n", len >> 20, l.mr->lkey,
	       l.mr->rkey);
	for (k = RUN_COLD; k <= RUN_ASYNC; k++)
		if (run(&l, (enum run_kind)k, src, len, &faulted[k]))
			ret = 1;
	if (!ret && (faulted[RUN_SYNC] >= faulted[RUN_COLD] ||
		     faulted[RUN_ASYNC] >= faulted[RUN_COLD])) {
		printf("the prefetched transfers faulted as much as the cold one\n");
		ret = 1;
	}
out:
	munmap(src, len);
	ex_side_close(&l);
	printf("%s\n", ret ? "FAILED" :
	       "prefetched transfers needed fewer faults; every byte arrived");
	return ret;
}
