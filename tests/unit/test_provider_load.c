// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * test_provider_load - the built provider loads into a process with the
 * real libibverbs, every symbol it needs resolves (RTLD_NOW), its
 * constructor registers with libibverbs without crashing, and it exports
 * nothing of its own.
 */
#include <dlfcn.h>
#include <infiniband/verbs.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	struct ibv_device **list;
	void *h;
	int n = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-libmirror-rdmav34.so\n", argv[0]);
		return 2;
	}
	/* Make libibverbs initialise first, as it does before loading providers. */
	list = ibv_get_device_list(&n);
	if (list)
		ibv_free_device_list(list);

	h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		printf("not ok - dlopen: %s\n0 passed, 1 failed\n", dlerror());
		return 1;
	}
	if (dlsym(h, "mirror_register_driver") || dlsym(h, "mirror_poll_cq")) {
		printf("not ok - the provider exports private symbols\n");
		printf("1 passed, 1 failed\n");
		return 1;
	}
	printf("ok - %s loads with all symbols resolved and exports nothing\n",
	       argv[1]);
	printf("1 passed, 0 failed\n");
	return 0;
}
