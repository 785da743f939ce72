// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* test_ring - index arithmetic of the shared rings (provider/mirror_ring.h). */
#include <stdio.h>

#include "mirror_ring.h"

static int failed, passed;

#define EXPECT(cond)                                                           \
	do {                                                                   \
		if (cond) {                                                    \
			passed++;                                              \
		} else {                                                       \
			failed++;                                              \
			printf("not ok - %s:%d: %s\n", __FILE__, __LINE__,     \
			       #cond);                                         \
		}                                                              \
	} while (0)

static void test_empty_and_full(void)
{
	EXPECT(mirror_ring_empty(0, 0));
	EXPECT(!mirror_ring_full(0, 0, 8));
	EXPECT(mirror_ring_free(0, 0, 8) == 8);
	EXPECT(!mirror_ring_empty(8, 0));
	EXPECT(mirror_ring_full(8, 0, 8));
	EXPECT(mirror_ring_free(8, 0, 8) == 0);
	EXPECT(mirror_ring_used(5, 2) == 3);
	EXPECT(mirror_ring_free(5, 2, 8) == 5);
}

static void test_wrap_at_2_32(void)
{
	uint32_t cons = 0xfffffffdu, prod = cons;
	int i;

	for (i = 0; i < 6; i++)
		prod++;		/* wraps past zero */
	EXPECT(prod == 3);
	EXPECT(mirror_ring_used(prod, cons) == 6);
	EXPECT(!mirror_ring_full(prod, cons, 8));
	EXPECT(mirror_ring_free(prod, cons, 8) == 2);
	prod += 2;
	EXPECT(mirror_ring_full(prod, cons, 8));
	cons += 8;
	EXPECT(mirror_ring_empty(prod, cons));
}

static void test_corrupt_index_reads_as_full(void)
{
	/* A consumer ahead of the producer (user space scribbled). */
	EXPECT(mirror_ring_full(3, 10, 8));
	EXPECT(mirror_ring_free(3, 10, 8) == 0);
}

static void test_slot_offsets(void)
{
	EXPECT(mirror_ring_slot_offset(0, 8, 64) == MIRROR_RING_HDR_SIZE);
	EXPECT(mirror_ring_slot_offset(1, 8, 64) == MIRROR_RING_HDR_SIZE + 64);
	EXPECT(mirror_ring_slot_offset(7, 8, 64) == MIRROR_RING_HDR_SIZE + 7 * 64);
	EXPECT(mirror_ring_slot_offset(8, 8, 64) == MIRROR_RING_HDR_SIZE);
	EXPECT(mirror_ring_slot_offset(0xffffffffu, 8, 64) ==
	       MIRROR_RING_HDR_SIZE + 7 * 64);
	EXPECT(mirror_ring_slot_offset(0x100000000ull - 8 + 3, 8, 128) ==
	       MIRROR_RING_HDR_SIZE + 3 * 128);
}

static void test_geometry(void)
{
	EXPECT(mirror_ring_geometry_ok(8, 64, 4096));
	EXPECT(!mirror_ring_geometry_ok(0, 64, 4096));
	EXPECT(!mirror_ring_geometry_ok(6, 64, 4096));
	EXPECT(!mirror_ring_geometry_ok(8, 48, 4096));
	EXPECT(!mirror_ring_geometry_ok(64, 64, 4096));	/* 128 + 4096 > 4096 */
	EXPECT(mirror_ring_geometry_ok(63 + 1, 64, 8192));
}

int main(void)
{
	test_empty_and_full();
	test_wrap_at_2_32();
	test_corrupt_index_reads_as_full();
	test_slot_offsets();
	test_geometry();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
