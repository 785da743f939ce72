// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * test_abi - the user ABI shared with the kernel has the layout both sides
 * were written against, and the provider's private-ABI declarations
 * compile with all their layout assertions (mirror_pabi.h).
 */
#include <stddef.h>
#include <stdio.h>

#include "mirror.h"

static int failed, passed;

#define EXPECT_EQ(a, b)                                                        \
	do {                                                                   \
		if ((size_t)(a) == (size_t)(b)) {                              \
			passed++;                                              \
			printf("ok - %s == %zu\n", #a, (size_t)(b));            \
		} else {                                                       \
			failed++;                                              \
			printf("not ok - %s is %zu, want %zu\n", #a,           \
			       (size_t)(a), (size_t)(b));                      \
		}                                                              \
	} while (0)

int main(void)
{
	EXPECT_EQ(sizeof(struct mirror_ring_hdr), MIRROR_RING_HDR_SIZE);
	EXPECT_EQ(offsetof(struct mirror_ring_hdr, producer), 0);
	EXPECT_EQ(offsetof(struct mirror_ring_hdr, consumer), 64);
	EXPECT_EQ(sizeof(struct mirror_sge), 16);
	EXPECT_EQ(sizeof(struct mirror_send_wqe), 64);
	EXPECT_EQ(offsetof(struct mirror_send_wqe, wr), 32);
	EXPECT_EQ(sizeof(struct mirror_recv_wqe), 16);
	EXPECT_EQ(sizeof(struct mirror_cqe), 64);
	EXPECT_EQ(offsetof(struct mirror_cqe, wc_flags), 36);
	EXPECT_EQ(sizeof(struct mirror_queue_info), 24);
	EXPECT_EQ(sizeof(struct mirror_create_qp_resp), 56);
	EXPECT_EQ(sizeof(struct mirror_create_ah_resp), 8);
	EXPECT_EQ(sizeof(struct mirror_alloc_ucontext_resp), 8);
	EXPECT_EQ(offsetof(struct verbs_context_ops, poll_cq), 424);
	EXPECT_EQ(offsetof(struct verbs_context_ops, post_recv), 432);
	EXPECT_EQ(offsetof(struct verbs_context_ops, post_send), 440);
	EXPECT_EQ(offsetof(struct verbs_context_ops, unimport_pd), 600);
	EXPECT_EQ(sizeof(struct verbs_context_ops), 608);
	EXPECT_EQ(offsetof(struct mirror_context, vctx.context), 320);
	/* libibverbs' private structures as mirror_pabi.h declares them. */
	EXPECT_EQ(sizeof(struct verbs_context), 648);
	EXPECT_EQ(sizeof(struct verbs_device), 712);
	EXPECT_EQ(sizeof(struct verbs_sysfs_dev), 992);
	EXPECT_EQ(sizeof(struct verbs_device_ops), 72);
	EXPECT_EQ(sizeof(struct verbs_match_ent), 24);
	EXPECT_EQ(sizeof(struct verbs_cq), 288);
	EXPECT_EQ(sizeof(struct verbs_qp), 368);
	EXPECT_EQ(sizeof(struct verbs_mr), 56);
	/* Command buffers: uverbs header + core command, no driver data. */
	EXPECT_EQ(sizeof(struct mirror_cmd_get_context), 16);
	EXPECT_EQ(sizeof(struct mirror_cmd_create_cq), 40);
	EXPECT_EQ(sizeof(struct mirror_cmd_create_qp), 64);
	EXPECT_EQ(sizeof(struct mirror_cmd_post_send), 32);
	/* Driver data follows the core responses directly. */
	EXPECT_EQ(offsetof(struct mirror_create_cq_resp_full, drv),
		  sizeof(struct ib_uverbs_create_cq_resp));
	EXPECT_EQ(offsetof(struct mirror_create_qp_resp_full, drv),
		  sizeof(struct ib_uverbs_create_qp_resp));
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
