/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_testdev.h - what every multi-device test program does first:
 * open a device by name, find its IPv4 RoCEv2 GID, read a port counter.
 * Header-only (static functions), so that each program stays one file.
 */
#ifndef MIRROR_TESTDEV_H
#define MIRROR_TESTDEV_H

#include <arpa/inet.h>
#include <infiniband/verbs.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* The device called @name, opened; NULL if there is none. */
static inline struct ibv_context *mirror_test_open(const char *name)
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

/*
 * @c's RoCEv2 GID of IPv4 address @ip, or its first IPv4 RoCEv2 GID when
 * @ip is NULL: index into @idx, GID into @gid. 0, or -1 if there is none.
 */
static inline int mirror_test_ipv4_gid(struct ibv_context *c, const char *ip,
				       int *idx, union ibv_gid *gid)
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
		if (e.gid.raw[10] == 0xff && e.gid.raw[11] == 0xff &&
		    (!ip || !memcmp(&e.gid.raw[12], want, 4))) {
			*idx = i;
			*gid = e.gid;
			return 0;
		}
	}
	return -1;
}

/* Port 1's hardware counter @name of device @dev (sysfs); -1 if unread. */
static inline long long mirror_test_counter(const char *dev, const char *name)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/class/infiniband/%s/ports/1/hw_counters/%s", dev, name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

#endif /* MIRROR_TESTDEV_H */
