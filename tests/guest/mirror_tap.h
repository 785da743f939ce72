/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_tap.h - what the C guest suites share: one open device, its
 * IPv4 RoCEv2 GID, CHECK() and a runner printing "ok - NAME" /
 * "not ok - NAME: why" per test and "N passed, N failed" at the end.
 *
 * A test is "static int test_NAME(void)" returning 0 on success; CHECK()
 * records why it failed and jumps to the test's "out:" label, where the
 * test cleans up and returns -1 unless it got to set its result to 0.
 * SKIP("why") returns 1: a case that cannot apply (say, to one path),
 * printed as "ok - NAME # SKIP why" and counted apart, never as a pass.
 * Usage of a suite: PROG [-d DEVICE] [-v] [TEST-NAME-SUBSTRING...]
 */
#ifndef MIRROR_TAP_H
#define MIRROR_TAP_H

#include <errno.h>
#include <infiniband/verbs.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *dev_name = "mirror0";
static bool verbose;

/* Shared by all tests: one open device, queried once. */
static struct ibv_context *ctx;
static struct ibv_device_attr dev_attr;
static struct ibv_port_attr port_attr;
static int gid_index = -1;	/* an IPv4 (::ffff:a.b.c.d) RoCEv2 GID of port 1 */
static union ibv_gid gid;

static char failmsg[1024];

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			char _m[600];                                          \
			snprintf(_m, sizeof(_m), __VA_ARGS__);                 \
			snprintf(failmsg, sizeof(failmsg), "%s:%d: %s (%s)",   \
				 __FILE__, __LINE__, _m, #cond);               \
			goto out;                                              \
		}                                                              \
	} while (0)

static char skipmsg[256];

#define SKIP(...)                                                              \
	do {                                                                   \
		snprintf(skipmsg, sizeof(skipmsg), __VA_ARGS__);               \
		return 1;                                                      \
	} while (0)

struct test {
	const char *name;
	int (*fn)(void);
};

#define T(n) { #n, test_##n }

/* A "# ..." line under the current test, with -v only. */
static inline void note(const char *fmt, ...)
{
	va_list ap;

	if (!verbose)
		return;
	va_start(ap, fmt);
	fputs("    # ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	va_end(ap);
}

/* An address vector from the device to itself through gid_index. */
static inline struct ibv_ah_attr own_av(void)
{
	struct ibv_ah_attr av = {
		.is_global = 1,
		.port_num = 1,
		.grh = { .dgid = gid, .sgid_index = (uint8_t)gid_index,
			 .hop_limit = 64 },
	};

	return av;
}

static inline void mirror_tap_find_gid(void)
{
	struct ibv_gid_entry e;
	int i;

	for (i = 0; i < port_attr.gid_tbl_len && i < 256; i++) {
		if (ibv_query_gid_ex(ctx, 1, i, &e, 0) ||
		    e.gid_type != IBV_GID_TYPE_ROCE_V2)
			continue;
		if (e.gid.raw[10] == 0xff && e.gid.raw[11] == 0xff) {
			gid_index = i;
			gid = e.gid;
			return;
		}
	}
}

static inline bool mirror_tap_selected(const char *name, int argc, char **argv)
{
	int i;

	if (argc == 0)
		return true;
	for (i = 0; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}

/*
 * Opens the device, queries it, finds the GID (a failure when @need_gid
 * and there is none), runs the selected tests; returns main()'s status.
 */
static inline int mirror_tap_main(int argc, char **argv,
				  const struct test *tests, int ntests,
				  bool need_gid)
{
	struct ibv_device **list;
	int i, opt, passed = 0, failed = 0, skipped = 0, r;

	while ((opt = getopt(argc, argv, "d:v")) != -1) {
		switch (opt) {
		case 'd':
			dev_name = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-d DEV] [-v] [TEST-SUBSTRING...]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	list = ibv_get_device_list(NULL);
	for (i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), dev_name))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx || ibv_query_device(ctx, &dev_attr) ||
	    ibv_query_port(ctx, 1, &port_attr)) {
		printf("not ok - open and query %s: %s\n", dev_name,
		       strerror(errno));
		printf("0 passed, 1 failed\n");
		return 1;
	}
	mirror_tap_find_gid();
	if (need_gid && gid_index < 0) {
		printf("not ok - find an IPv4 RoCEv2 GID on %s\n", dev_name);
		printf("0 passed, 1 failed\n");
		return 1;
	}
	for (i = 0; i < ntests; i++) {
		if (!mirror_tap_selected(tests[i].name, argc - optind,
					 argv + optind))
			continue;
		failmsg[0] = '\0';
		r = tests[i].fn();
		if (r == 0) {
			printf("ok - %s\n", tests[i].name);
			passed++;
		} else if (r == 1) {
			printf("ok - %s # SKIP %s\n", tests[i].name, skipmsg);
			skipped++;
		} else {
			printf("not ok - %s: %s\n", tests[i].name, failmsg);
			failed++;
		}
	}
	ibv_close_device(ctx);
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed,
		       skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif /* MIRROR_TAP_H */
