/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_tap.h - what the C guest suites share: one open device, its
 * IPv4 RoCEv2 GID, CHECK() and a runner printing "ok - NAME" /
 * "not ok - NAME: why" per test and "N passed, N failed" at the end.
 *
 * The path: with -W DEV2 the suite runs over RoCEv2. Its QPs' peers live
 * on DEV2 (peer_ctx, usually mirror1 in a network namespace of its own
 * across a veth pair), reached through peer_av(); without -W, peer_ctx is
 * ctx and peer_av() the device's own address: the same-device path. A
 * suite written against ctx/peer_ctx and peer_av()/back_av() runs the
 * same cases on both paths; SKIP_ON_WIRE() and SKIP_ON_SAME_DEVICE() say
 * why a case cannot apply to one of them. -L says the link drops packets
 * (set up by the caller): SKIP_ON_LOSSY() marks the cases of transports
 * that lose messages by design.
 *
 * A test is "static int test_NAME(void)" returning 0 on success; CHECK()
 * records why it failed and jumps to the test's "out:" label, where the
 * test cleans up and returns -1 unless it got to set its result to 0.
 * SKIP("why") returns 1: a case that cannot apply (say, to one path),
 * printed as "ok - NAME # SKIP why" and counted apart, never as a pass.
 * Usage of a suite: PROG [-d DEVICE] [-W DEV2 [-L]] [-v] [TEST-NAME-SUBSTRING...]
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

#include "mirror_testlib.h"

static const char *dev_name = "mirror0";
static bool verbose;

/* Shared by all tests: one open device, queried once. */
static struct ibv_context *ctx;
static struct ibv_device_attr dev_attr;
static struct ibv_port_attr port_attr;
static int gid_index = -1;	/* an IPv4 (::ffff:a.b.c.d) RoCEv2 GID of port 1 */
static union ibv_gid gid;

/* The QPs' peers: another device over RoCEv2 (-W), or ctx itself. */
static struct ibv_context *peer_ctx;
static const char *peer_name;
static bool wire;
/* -L: the link between the devices drops packets (netem, set up outside). */
static bool lossy;
static int peer_gid_index = -1;
static union ibv_gid peer_gid;

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
	bool device_only;	/* moves no data: the same on either path */
};

#define T(n) { #n, test_##n, false }
/*
 * A case that checks the device alone (creation limits, attributes): the
 * run without -W covers it, the wire run reports it skipped.
 */
#define T_DEV(n) { #n, test_##n, true }

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

/* From a QP on ctx to its peer (on peer_ctx). */
static inline struct ibv_ah_attr peer_av(void)
{
	struct ibv_ah_attr av = own_av();

	av.grh.dgid = peer_gid;
	return av;
}

/* From a QP on peer_ctx back to its peer on ctx. */
static inline struct ibv_ah_attr back_av(void)
{
	struct ibv_ah_attr av = own_av();

	av.grh.sgid_index = (uint8_t)peer_gid_index;
	return av;
}

/* A case that cannot apply over RoCEv2: a skip with the reason. */
#define SKIP_ON_WIRE(...)                                                      \
	do {                                                                   \
		if (wire)                                                      \
			SKIP("over RoCEv2: " __VA_ARGS__);                     \
	} while (0)

/*
 * A case whose transport loses messages by design (UC, UD): over a lossy
 * link (-L) it is a skip with the reason, not a check.
 */
#define SKIP_ON_LOSSY(...)                                                     \
	do {                                                                   \
		if (lossy)                                                     \
			SKIP("over a lossy link: " __VA_ARGS__);               \
	} while (0)

/* A case that cannot apply between QPs of one device. */
#define SKIP_ON_SAME_DEVICE(...)                                               \
	do {                                                                   \
		if (!wire)                                                     \
			SKIP("on the same device: " __VA_ARGS__);              \
	} while (0)

static inline int mirror_tap_find_gid_of(struct ibv_context *c, int *idx,
					 union ibv_gid *g)
{
	return mirror_test_ipv4_gid(c, NULL, idx, g);
}

static inline void mirror_tap_find_gid(void)
{
	mirror_tap_find_gid_of(ctx, &gid_index, &gid);
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
	int i, opt, passed = 0, failed = 0, skipped = 0, r;

	while ((opt = getopt(argc, argv, "d:W:Lv")) != -1) {
		switch (opt) {
		case 'd':
			dev_name = optarg;
			break;
		case 'W':
			peer_name = optarg;
			break;
		case 'L':
			lossy = true;
			break;
		case 'v':
			verbose = true;
			break;
		default:
			fprintf(stderr,
				"usage: %s [-d DEV] [-W DEV2 [-L]] [-v] [TEST-SUBSTRING...]\n",
				argv[0]);
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ctx = mirror_test_open(dev_name);
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
	peer_ctx = ctx;
	peer_gid = gid;
	peer_gid_index = gid_index;
	if (peer_name) {
		peer_ctx = mirror_test_open(peer_name);
		if (!peer_ctx ||
		    mirror_tap_find_gid_of(peer_ctx, &peer_gid_index,
					   &peer_gid)) {
			printf("not ok - open %s and find its IPv4 RoCEv2 GID: %s\n",
			       peer_name, strerror(errno));
			printf("0 passed, 1 failed\n");
			return 1;
		}
		wire = true;
		printf("# path: RoCEv2, %s -> %s%s\n", dev_name, peer_name,
		       lossy ? ", over a lossy link" : "");
	} else {
		printf("# path: same device, %s\n", dev_name);
	}
	for (i = 0; i < ntests; i++) {
		if (!mirror_tap_selected(tests[i].name, argc - optind,
					 argv + optind))
			continue;
		failmsg[0] = '\0';
		if (wire && tests[i].device_only) {
			snprintf(skipmsg, sizeof(skipmsg),
				 "over RoCEv2: moves no data, a check of the device alone (run without -W)");
			r = 1;
		} else {
			r = tests[i].fn();
		}
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
	if (peer_ctx != ctx)
		ibv_close_device(peer_ctx);
	ibv_close_device(ctx);
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed,
		       skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}

#endif /* MIRROR_TAP_H */
