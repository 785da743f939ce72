// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * test_provider_load - the built provider loads into a process with the
 * real libibverbs: every symbol it needs resolves (RTLD_NOW), its ELF
 * constructor registers it with verbs_register_driver_34(), what it
 * registers is sane, and it exports nothing of its own.
 *
 * This program defines verbs_register_driver_34() itself (the executable
 * exports it), so the provider's reference binds here first; the call is
 * recorded and then handed on to libibverbs' own function.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "mirror_pabi.h"
#include "rdma_user_mirror.h"

static int failed, passed;
static const struct verbs_device_ops *registered;
static int registrations;

#define EXPECT(cond, ...)                                                      \
	do {                                                                   \
		if (cond) {                                                    \
			passed++;                                              \
			printf("ok - ");                                       \
		} else {                                                       \
			failed++;                                              \
			printf("not ok - ");                                   \
		}                                                              \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
	} while (0)

/* Interposed: records the provider's registration, then forwards it. */
void verbs_register_driver_34(const struct verbs_device_ops *ops)
{
	void (*real)(const struct verbs_device_ops *);

	registered = ops;
	registrations++;
	real = (void (*)(const struct verbs_device_ops *))
		dlvsym(RTLD_NEXT, "verbs_register_driver_34",
		       "IBVERBS_PRIVATE_34");
	if (real)
		real(ops);
}

static bool match_name(const struct verbs_device_ops *ops, const char *name)
{
	struct verbs_sysfs_dev sd;

	memset(&sd, 0, sizeof(sd));
	snprintf(sd.ibdev_name, sizeof(sd.ibdev_name), "%s", name);
	sd.abi_ver = MIRROR_UVERBS_ABI_VERSION;
	return ops->match_device(&sd);
}

static void check_ops(const struct verbs_device_ops *ops)
{
	struct verbs_device *vdev;

	EXPECT(ops->name && !strcmp(ops->name, "mirror"),
	       "registers as \"%s\"", ops->name ? ops->name : "(null)");
	EXPECT(ops->match_min_abi_version == MIRROR_UVERBS_ABI_VERSION &&
	       ops->match_max_abi_version == MIRROR_UVERBS_ABI_VERSION,
	       "accepts uverbs ABI %u..%u (want exactly %u)",
	       ops->match_min_abi_version, ops->match_max_abi_version,
	       MIRROR_UVERBS_ABI_VERSION);
	EXPECT(ops->alloc_context && ops->alloc_device && ops->uninit_device,
	       "alloc_context, alloc_device and uninit_device are set");
	EXPECT(!ops->import_context && !ops->static_providers,
	       "import_context and static_providers are unset");
	if (!ops->match_device) {
		EXPECT(ops->match_table != NULL,
		       "no match_device, so a match table");
		return;
	}
	EXPECT(match_name(ops, "mirror0") && match_name(ops, "mirror_test"),
	       "match_device takes mirror0 and mirror_test");
	EXPECT(!match_name(ops, "rxe0") && !match_name(ops, "mlx5_0") &&
	       !match_name(ops, "mirro"),
	       "match_device refuses rxe0, mlx5_0 and mirro");
	EXPECT(ops->match_table && ops->match_table[0].kind == 0,
	       "has a match table, ended by its sentinel (libibverbs walks it)");
	{
		struct verbs_sysfs_dev sd;

		memset(&sd, 0, sizeof(sd));
		snprintf(sd.ibdev_name, sizeof(sd.ibdev_name), "mirror0");
		sd.driver_id = 9;	/* an in-tree driver's id */
		EXPECT(!ops->match_device(&sd),
		       "match_device refuses a mirror0 with a known driver id");
	}
	if (!ops->alloc_device || !ops->uninit_device)
		return;
	vdev = ops->alloc_device(NULL);
	EXPECT(vdev != NULL, "alloc_device returns a device");
	if (vdev)
		ops->uninit_device(vdev);
}

int main(int argc, char **argv)
{
	struct ibv_device **list;
	void *h;
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-libmirror-rdmav34.so\n",
			argv[0]);
		return 2;
	}
	/* Let libibverbs initialise first, as it does before loading plugins. */
	list = ibv_get_device_list(&n);
	if (list)
		ibv_free_device_list(list);

	/* Only what dlopen() below registers counts. */
	registered = NULL;
	registrations = 0;
	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	EXPECT(h != NULL, "dlopen(RTLD_NOW) of %s: %s", argv[1],
	       h ? "every symbol resolved" : dlerror());
	if (!h)
		goto out;
	EXPECT(registrations == 1,
	       "the constructor called verbs_register_driver_34 once (%d)",
	       registrations);
	EXPECT(dlvsym(RTLD_NEXT, "verbs_register_driver_34",
		      "IBVERBS_PRIVATE_34") != NULL,
	       "libibverbs exports verbs_register_driver_34@IBVERBS_PRIVATE_34");
	if (registered)
		check_ops(registered);
	EXPECT(!dlsym(h, "mirror_register_driver") &&
	       !dlsym(h, "mirror_poll_cq") && !dlsym(h, "mirror_dev_ops"),
	       "the provider exports none of its own symbols");
	/* Registered ops live in the plugin: like libibverbs, never unload. */
out:
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
