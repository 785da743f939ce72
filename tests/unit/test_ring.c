// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/* test_ring - index arithmetic of the shared rings (provider/mirror_ring.h). */
#include <stdint.h>
#include <stdio.h>

#include "mirror_ring.h"

static int failed, passed;

#define EXPECT(cond)                                                           \
	do {                                                                   \
		if (cond) {                                                    \
			passed++;                                              \
			printf("ok - %s\n", #cond);                            \
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

static void test_slot_addresses(void)
{
	static uint8_t area[MIRROR_RING_HDR_SIZE + 4 * 64];
	uint32_t i;

	EXPECT(mirror_ring_slot_index(5, 4) == 1);
	EXPECT(mirror_ring_slot_index(0xffffffffu, 4) == 3);
	EXPECT(mirror_ring_slot_addr(area, 0, 4, 64) ==
	       area + MIRROR_RING_HDR_SIZE);
	EXPECT(mirror_ring_slot_addr(area, 3, 4, 64) ==
	       area + MIRROR_RING_HDR_SIZE + 3 * 64);
	/* Every counter value lands inside the area, also across 2^32. */
	for (i = 0xfffffff0u; i != 0x10u; i++) {
		uint8_t *p = mirror_ring_slot_addr(area, i, 4, 64);

		if (p < area + MIRROR_RING_HDR_SIZE ||
		    p + 64 > area + sizeof(area)) {
			EXPECT(!"slot outside the ring");
			return;
		}
	}
	passed++;
}

static void test_geometry(void)
{
	EXPECT(mirror_ring_geometry_ok(8, 64, 64, 4096));
	EXPECT(!mirror_ring_geometry_ok(0, 64, 64, 4096));
	EXPECT(!mirror_ring_geometry_ok(6, 64, 64, 4096));
	EXPECT(!mirror_ring_geometry_ok(8, 48, 16, 4096));
	EXPECT(!mirror_ring_geometry_ok(8, 0, 16, 4096));
	EXPECT(!mirror_ring_geometry_ok(64, 64, 64, 4096)); /* 128 + 4096 > 4096 */
	EXPECT(mirror_ring_geometry_ok(64, 64, 64, 8192));
	/* A slot smaller than one CQE or send WQE header is refused. */
	EXPECT(!mirror_ring_geometry_ok(8, 32, sizeof(struct mirror_cqe), 4096));
	EXPECT(mirror_ring_geometry_ok(8, 16, sizeof(struct mirror_recv_wqe),
				       4096));
	/* Huge values do not wrap the size computation. */
	EXPECT(!mirror_ring_geometry_ok(0x80000000u, 0x80000000u, 64, 4096));
}

static void test_wqe_room(void)
{
	/* 64-byte send header + 16-byte SGEs in a 128-byte slot: 4 SGEs. */
	EXPECT(mirror_ring_sge_room(128, sizeof(struct mirror_send_wqe)) == 4);
	EXPECT(mirror_ring_sge_room(64, sizeof(struct mirror_send_wqe)) == 0);
	EXPECT(mirror_ring_sge_room(32, sizeof(struct mirror_send_wqe)) == 0);
	EXPECT(mirror_ring_wqe_fits(128, sizeof(struct mirror_send_wqe), 4,
				    sizeof(struct mirror_sge)));
	EXPECT(!mirror_ring_wqe_fits(128, sizeof(struct mirror_send_wqe), 5,
				     sizeof(struct mirror_sge)));
	EXPECT(mirror_ring_wqe_fits(16, sizeof(struct mirror_recv_wqe), 0,
				    sizeof(struct mirror_sge)));
	EXPECT(!mirror_ring_wqe_fits(16, sizeof(struct mirror_recv_wqe), 1,
				     sizeof(struct mirror_sge)));
	EXPECT(!mirror_ring_wqe_fits(32, sizeof(struct mirror_send_wqe), 0,
				     sizeof(struct mirror_sge)));
}

static void test_index_publication(void)
{
	struct mirror_ring_hdr hdr = { 0 };

	mirror_ring_store_release(&hdr.producer, 0xfffffffeu);
	EXPECT(mirror_ring_load_acquire(&hdr.producer) == 0xfffffffeu);
	EXPECT(mirror_ring_load_own(&hdr.producer) == 0xfffffffeu);
	EXPECT(hdr.consumer == 0);
	mirror_ring_store_release(&hdr.consumer, 7);
	EXPECT(mirror_ring_load_acquire(&hdr.consumer) == 7);
	EXPECT(hdr.producer == 0xfffffffeu);
}

int main(void)
{
	test_empty_and_full();
	test_wrap_at_2_32();
	test_corrupt_index_reads_as_full();
	test_slot_offsets();
	test_slot_addresses();
	test_geometry();
	test_wqe_room();
	test_index_publication();
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
