// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* mirrorverbs.c - libmirrorverbs, direct verbs for mirror devices. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mirror_pabi.h"
#include "mirrorverbs.h"

/* The name the provider registers with (provider/mirror.c). */
#define MIRRORV_PROVIDER_NAME	"mirror"

/* Is the kernel module behind @device, as sysfs tells, rdma_mirror? */
static bool mirrorv_sysfs_says_mirror(struct ibv_device *device)
{
	char path[PATH_MAX], target[PATH_MAX], desc[65] = "";
	const char *base;
	bool ok = false;
	ssize_t n;
	FILE *f;

	/* A device with a parent: the parent's driver module. */
	if (snprintf(path, sizeof(path), "%s/device/driver/module",
		     device->ibdev_path) < (int)sizeof(path)) {
		n = readlink(path, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			base = strrchr(target, '/');
			if (!strcmp(base ? base + 1 : target, "rdma_mirror"))
				return true;
		}
	}
	/* Software devices: rdma_mirror.ko names its nodes "mirrorverbs". */
	if (snprintf(path, sizeof(path), "%s/node_desc", device->ibdev_path) >=
	    (int)sizeof(path))
		return false;
	f = fopen(path, "re");
	if (!f)
		return false;
	ok = fgets(desc, sizeof(desc), f) &&
	     strncmp(desc, "mirrorverbs", strlen("mirrorverbs")) == 0;
	fclose(f);
	return ok;
}

bool mirrorv_is_mirror_device(struct ibv_device *device)
{
	const struct verbs_device *vdev;

	if (!device)
		return false;
	/*
	 * Every device libibverbs lists is a verbs_device bound to the
	 * provider that claimed it: ours registers as "mirror".
	 */
	vdev = (const struct verbs_device *)device;
	if (vdev->ops && vdev->ops->name &&
	    !strcmp(vdev->ops->name, MIRRORV_PROVIDER_NAME))
		return true;
	return mirrorv_sysfs_says_mirror(device);
}
