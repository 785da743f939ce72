// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * mirror_implicit_write - RDMA write into a peer's ordinary memory.
 *
 * Two processes on one mirror device, connected by RC QPs. The target
 * allocates buffers the way any program does (malloc of several sizes and
 * a fresh anonymous mmap), registers nothing but ONE implicit ODP MR
 * (mirrorv_reg_implicit_mr()) and hands the writer the buffers' addresses
 * and that MR's rkey. The writer fills its own buffers with a pattern and
 * RDMA-writes each into the target; the target then checks every byte and
 * shows what the implicit MR did: the pages it faulted in and the 16 MiB
 * children it created.
 *
 * Usage: mirror_implicit_write [-d DEVICE]
 * Exit status: 0 when every byte arrived, 1 otherwise.
 */
#include <sys/mman.h>

#include "mirror_example.h"

#define PROG "mirror_implicit_write"
#define NBUF 7

/* Buffer sizes: malloc's small and large (mmap-backed) paths, then an mmap. */
static const size_t buf_len[NBUF] = {
	1, 200, 4096, 65536 + 13, 1 << 20, (3 << 20) + 5, 8 << 20,
};
#define MMAP_BUF (NBUF - 1)	/* the last one comes from mmap() */

/* What the target tells the writer. */
struct target_info {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr[NBUF];
};

/* The target: offers its buffers, then checks what arrived in them. */
static int target(int fd, const char *devname, long unused)
{
	struct mirrorv_odp_counters before, after;
	struct target_info ti = { 0 };
	uint8_t *buf[NBUF] = { NULL };
	size_t bad, total_bad = 0, mirrored, writable;
	uint32_t writer_qpn;
	struct ex_side s;
	int i, err, ret = 1;
	uint8_t done;

	if (ex_side_open(PROG, devname, 0, false, &s))
		goto out;
	for (i = 0; i < NBUF; i++) {
		if (i == MMAP_BUF) {
			buf[i] = mmap(NULL, buf_len[i], PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (buf[i] == MAP_FAILED)
				buf[i] = NULL;
		} else {
			buf[i] = malloc(buf_len[i]);
		}
		if (!buf[i]) {
			ex_err(PROG, "allocating a buffer", ENOMEM);
			goto out;
		}
		ti.addr[i] = (uintptr_t)buf[i];
	}
	ti.qpn = s.qp->qp_num;
	ti.rkey = s.mr->rkey;
	printf("target: one implicit MR, lkey 0x%08x rkey 0x%08x; buffers:",
	       s.mr->lkey, s.mr->rkey);
	for (i = 0; i < NBUF; i++)
		printf(" %zu B at %p%s", buf_len[i], (void *)buf[i],
		       i == MMAP_BUF ? " (mmap)" : "");
	printf("\n");
	if (ex_mr_counters(PROG, s.mr, &before))
		goto out;
	if (ex_send(fd, &ti) || ex_recv(fd, &writer_qpn) ||
	    ex_connect_rc(&s.dev, s.qp, writer_qpn) || ex_send(fd, &ti.qpn)) {
		ex_err(PROG, "target: connecting", errno ? errno : EIO);
		goto out;
	}
	/* The writer works; we do nothing until it says it is done. */
	if (ex_recv(fd, &done)) {
		fprintf(stderr, PROG ": target: the writer went away\n");
		goto out;
	}
	for (i = 0; i < NBUF; i++) {
		bad = ex_check(buf[i], buf_len[i], (uint32_t)i + 1);
		total_bad += bad;
		err = ex_mirrored_pages(s.mr, buf[i], buf_len[i], &mirrored,
					&writable);
		if (err) {
			ex_err(PROG, "mirrorv_query_mirror", err);
			goto out;
		}
		printf("target: %9zu B at %p: %s; %zu pages mirrored, %zu writable\n",
		       buf_len[i], (void *)buf[i],
		       bad ? "WRONG BYTES" : "every byte as written",
		       mirrored, writable);
		if (bad)
			printf("target:   %zu of %zu bytes differ\n", bad,
			       buf_len[i]);
	}
	if (ex_mr_counters(PROG, s.mr, &after))
		goto out;
	ex_print_delta("target: implicit MR", &before, &after);
	printf("target: %llu children of 16 MiB live\n",
	       (unsigned long long)after.children_live);
	ret = total_bad ? 1 : 0;
	if (ex_send(fd, &total_bad))
		ret = 1;
out:
	for (i = 0; i < NBUF; i++) {
		if (i == MMAP_BUF && buf[i])
			munmap(buf[i], buf_len[i]);
		else
			free(buf[i]);
	}
	ex_side_close(&s);
	return ret;
}

/* The writer: writes a pattern into each of the target's buffers. */
static int writer(int fd, const char *devname, long unused)
{
	struct target_info ti;
	size_t total_bad = (size_t)-1, total = 0;
	uint32_t target_qpn;
	uint8_t *src = NULL, done = 1;
	struct ex_side s;
	double t0, t;
	int i, ret = 1;

	if (ex_side_open(PROG, devname, 0, false, &s))
		goto out;
	if (ex_recv(fd, &ti) || ex_send(fd, &s.qp->qp_num) ||
	    ex_connect_rc(&s.dev, s.qp, ti.qpn) || ex_recv(fd, &target_qpn) ||
	    target_qpn != ti.qpn) {
		ex_err(PROG, "writer: connecting", errno ? errno : EIO);
		goto out;
	}
	/* Our source buffer is ordinary memory under our own implicit MR. */
	src = malloc(buf_len[NBUF - 1]);
	if (!src) {
		ex_err(PROG, "malloc", ENOMEM);
		goto out;
	}
	t0 = ex_now();
	for (i = 0; i < NBUF; i++) {
		ex_fill(src, buf_len[i], (uint32_t)i + 1);
		t = ex_now();
		if (ex_post_wait(PROG, &s, IBV_WR_RDMA_WRITE, src,
				 (uint32_t)buf_len[i], ti.addr[i], ti.rkey))
			goto out;
		printf("writer: RDMA write of %9zu B to 0x%llx took %.3f ms\n",
		       buf_len[i], (unsigned long long)ti.addr[i],
		       (ex_now() - t) * 1e3);
		total += buf_len[i];
	}
	printf("writer: %zu bytes in %d writes, %.3f ms\n", total, NBUF,
	       (ex_now() - t0) * 1e3);
	/* Tell the target to check, and hear what it found. */
	if (!ex_send(fd, &done) && !ex_recv(fd, &total_bad) && !total_bad)
		ret = 0;
out:
	/* After a failure, the closed socket tells the target to stop. */
	shutdown(fd, SHUT_RDWR);
	free(src);
	ex_side_close(&s);
	return ret;
}

int main(int argc, char **argv)
{
	const char *devname;
	int ret;

	if (ex_options(argc, argv, "[-d DEVICE]", 0, NULL, &devname))
		return 2;
	ret = ex_fork_pair(PROG, writer, target, devname, 0) ? 1 : 0;
	printf("%s\n", ret ? "FAILED" :
	       "every byte arrived in the target's ordinary memory");
	return ret;
}
