// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* mirrorverbs.c - libmirrorverbs, direct verbs for mirror devices. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mirrorverbs.h"

bool mirrorv_is_mirror_device(struct ibv_device *device)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (!device)
		return false;
	/* The kernel driver behind the device, as sysfs names it. */
	if (snprintf(path, sizeof(path), "%s/device/driver/module",
		     device->ibdev_path) < (int)sizeof(path)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			base = strrchr(target, '/');
			return strcmp(base ? base + 1 : target, "rdma_mirror") == 0;
		}
	}
	/* Software devices have no parent device: go by the node description. */
	if (snprintf(path, sizeof(path), "%s/node_desc", device->ibdev_path) <
	    (int)sizeof(path)) {
		FILE *f = fopen(path, "r");
		char desc[65] = "";
		bool ok;

		if (!f)
			return false;
		ok = fgets(desc, sizeof(desc), f) &&
		     strncmp(desc, "mirrorverbs", strlen("mirrorverbs")) == 0;
		fclose(f);
		return ok;
	}
	return false;
}
