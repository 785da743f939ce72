// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_coherency - an implicit ODP MR follows the address space.
 *
 * RDMA writes go to an address X through one implicit MR (rkey) while the
 * program changes what X is: munmap() it and mmap() new memory at the same
 * address (MAP_FIXED). The device must write the page mapped at X now,
 * never the one that was there before:
 *
 * 1. anonymous memory: write, munmap, mmap at X again, write again; the
 *    new page has the new data; the emptied 16 MiB child of the implicit
 *    MR goes away after the munmap and comes back with the next write;
 * 2. a memfd mapped twice, at X and at a second address V: a write to X
 *    shows through V (same page); after munmap of X and a new anonymous
 *    mmap at X, the next write lands in the new page and V still shows
 *    the old data: the old page was not written.
 *
 * Each step prints the MR's ODP counters that moved and the mirror state
 * of X's pages from mirrorv_query_mirror() ('W' writable, 'R' read-only,
 * 'H' part of a huge page, '-' not mirrored).
 *
 * Usage: mirror_coherency [-d DEVICE]
 * Exit status: 0 when every check held, 1 otherwise.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "mirror_example.h"

#define PROG "mirror_coherency"
#define NPAGES 2
#define CHILD_SIZE (16UL << 20)	/* an implicit MR's child */

struct demo {
	struct ex_side l;
	struct mirrorv_odp_counters c;	/* as of the last step */
	uint8_t *x;			/* the address that changes */
	size_t len;
	uint8_t *src;
	int failed;
};

/* Prints "STEP: ok|FAILED (why)", counting failures. */
static void verdict(struct demo *d, const char *step, bool ok,
		    const char *why)
{
	printf("%-44s %s%s%s\n", step, ok ? "ok" : "FAILED",
	       ok ? "" : ": ", ok ? "" : why);
	d->failed += !ok;
}

/* X's page states as a string; false when the query fails. */
static bool states(struct demo *d, char *out)
{
	uint8_t st[NPAGES];
	int i, err;

	err = mirrorv_query_mirror(d->l.mr, d->x, d->len, st);
	if (err) {
		ex_err(PROG, "mirrorv_query_mirror", err);
		return false;
	}
	for (i = 0; i < NPAGES; i++)
		out[i] = st[i] & MIRRORV_PAGE_HUGE ? 'H' :
			 st[i] & MIRRORV_PAGE_WRITE ? 'W' :
			 st[i] & MIRRORV_PAGE_READ ? 'R' : '-';
	out[NPAGES] = '\0';
	return true;
}

/*
 * Prints what moved since the last step and X's states; with @want, the
 * verdict of step @step: X's states must read @want.
 */
static void show(struct demo *d, const char *step, const char *want)
{
	struct mirrorv_odp_counters now;
	char st[NPAGES + 1] = "?", why[64];
	bool ok;

	if (ex_mr_counters(PROG, d->l.mr, &now)) {
		d->failed++;
		return;
	}
	ok = states(d, st);
	if (want) {
		snprintf(why, sizeof(why), "X's pages are [%s], not [%s]", st,
			 want);
		verdict(d, step, ok && !strcmp(st, want), why);
	}
	printf("    X: [%s]  ", st);
	ex_print_delta("counters", &d->c, &now);
	d->c = now;
}

/* RDMA write of pattern @seed to X and check that X reads it. */
static void write_x(struct demo *d, const char *step, uint32_t seed)
{
	ex_fill(d->src, d->len, seed);
	if (ex_loop_write(PROG, &d->l, d->x, d->src, (uint32_t)d->len)) {
		verdict(d, step, false, "the RDMA write failed");
		return;
	}
	verdict(d, step, !ex_check(d->x, d->len, seed),
		"X does not read what was written");
}

/* Maps fresh anonymous memory at exactly X. */
static bool map_anon_at_x(struct demo *d)
{
	void *p = mmap(d->x, d->len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	if (p == d->x)
		return true;
	ex_err(PROG, "mmap MAP_FIXED", errno);
	return false;
}

/* Waits up to 5 s for the MR's children_destroyed to pass @than. */
static double wait_child_gone(struct demo *d, uint64_t than)
{
	struct mirrorv_odp_counters c;
	double t0 = ex_now();

	do {
		if (ex_mr_counters(PROG, d->l.mr, &c))
			return -1;
		if (c.children_destroyed > than)
			return ex_now() - t0;
		usleep(1000);
	} while (ex_now() - t0 < 5);
	return -1;
}

static void anonymous(struct demo *d)
{
	uint64_t destroyed, created;
	double t;

	printf("1. anonymous memory at X = %p (alone in its 16 MiB child)\n",
	       (void *)d->x);
	if (!map_anon_at_x(d)) {
		d->failed++;
		return;
	}
	write_x(d, "RDMA write A lands at X", 1);
	show(d, "X mirrored after the write", "WW");
	destroyed = d->c.children_destroyed;
	created = d->c.children_created;

	munmap(d->x, d->len);
	printf("   munmap(X)\n");
	show(d, "munmap(X) invalidates the mirror", "--");
	t = wait_child_gone(d, destroyed);
	verdict(d, "the emptied child is removed", t >= 0,
		"children_destroyed did not grow within 5 s");
	if (t >= 0)
		printf("    (after %.1f ms)\n", t * 1e3);
	show(d, NULL, NULL);

	if (!map_anon_at_x(d)) {
		d->failed++;
		return;
	}
	printf("   mmap(X, MAP_FIXED): a new zero page\n");
	verdict(d, "the new page does not hold A", d->x[0] == 0 &&
		d->x[d->len - 1] == 0, "old data at X");
	write_x(d, "RDMA write B lands in the new page", 2);
	show(d, "X mirrored again", "WW");
	verdict(d, "the write created a new child",
		d->c.children_created > created,
		"children_created did not grow");
}

static void memfd(struct demo *d)
{
	uint8_t *v = MAP_FAILED;
	int fd;

	printf("2. a memfd mapped at X and at V\n");
	fd = memfd_create("mirror_coherency", 0);
	if (fd < 0 || ftruncate(fd, (off_t)d->len)) {
		ex_err(PROG, "memfd_create", errno);
		d->failed++;
		goto out;
	}
	v = mmap(NULL, d->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (v == MAP_FAILED ||
	    mmap(d->x, d->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED,
		 fd, 0) != d->x) {
		ex_err(PROG, "mmap of the memfd", errno);
		d->failed++;
		goto out;
	}
	printf("   V = %p; the memfd replaced X's anonymous pages\n", (void *)v);
	show(d, NULL, NULL);
	write_x(d, "RDMA write C lands at X", 3);
	verdict(d, "V shows C: the same page", !ex_check(v, d->len, 3),
		"V does not show what was written to X");
	show(d, "X mirrored", "WW");

	munmap(d->x, d->len);
	printf("   munmap(X); mmap(X, MAP_FIXED) anonymous\n");
	show(d, "munmap(X) invalidates the mirror", "--");
	if (!map_anon_at_x(d)) {
		d->failed++;
		goto out;
	}
	write_x(d, "RDMA write D lands in the new page", 4);
	verdict(d, "V still shows C: old page not written",
		!ex_check(v, d->len, 3), "the old page was written");
	show(d, "X mirrored", "WW");
out:
	if (v != MAP_FAILED)
		munmap(v, d->len);
	if (fd >= 0)
		close(fd);
}

int main(int argc, char **argv)
{
	const char *devname;
	struct demo d = { .len = 0 };
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uint8_t *reserve;

	if (ex_options(argc, argv, "[-d DEVICE]", 0, NULL, &devname))
		return 2;
	d.len = NPAGES * page;
	if (ex_side_open(PROG, devname, 0, true, &d.l))
		return 1;
	d.src = malloc(d.len);
	/* A 16 MiB-aligned X with nothing else in its child's range. */
	reserve = mmap(NULL, 2 * CHILD_SIZE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (!d.src || reserve == MAP_FAILED ||
	    ex_mr_counters(PROG, d.l.mr, &d.c)) {
		ex_err(PROG, "setup", errno);
		ex_side_close(&d.l);
		return 1;
	}
	d.x = (uint8_t *)(((uintptr_t)reserve + CHILD_SIZE - 1) &
			  ~(CHILD_SIZE - 1));
	printf("implicit MR lkey 0x%08x rkey 0x%08x; writes go through its "
	       "rkey to X\n", d.l.mr->lkey, d.l.mr->rkey);
	anonymous(&d);
	memfd(&d);
	munmap(reserve, 2 * CHILD_SIZE);
	free(d.src);
	ex_side_close(&d.l);
	printf("%s\n", d.failed ? "FAILED" :
	       "every write landed in the page mapped at X at the time");
	return d.failed ? 1 : 0;
}
