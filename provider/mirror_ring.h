/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_ring.h - index arithmetic of the shared rings (layout in
 * rdma_user_mirror.h). Pure functions, unit-tested on the host.
 *
 * producer and consumer are free-running 32-bit counters: their difference
 * is the fill level even across the 2^32 wrap.
 */
#ifndef MIRROR_RING_H
#define MIRROR_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rdma_user_mirror.h"

static inline uint32_t mirror_ring_used(uint32_t prod, uint32_t cons)
{
	return prod - cons;
}

static inline bool mirror_ring_empty(uint32_t prod, uint32_t cons)
{
	return prod == cons;
}

/* Also true for an impossible fill level (a corrupted index). */
static inline bool mirror_ring_full(uint32_t prod, uint32_t cons,
				    uint32_t num_slots)
{
	return mirror_ring_used(prod, cons) >= num_slots;
}

static inline uint32_t mirror_ring_free(uint32_t prod, uint32_t cons,
					uint32_t num_slots)
{
	uint32_t used = mirror_ring_used(prod, cons);

	return used >= num_slots ? 0 : num_slots - used;
}

/* Byte offset of the slot index @idx falls on, from the start of the area. */
static inline size_t mirror_ring_slot_offset(uint32_t idx, uint32_t num_slots,
					     uint32_t stride)
{
	return MIRROR_RING_HDR_SIZE + (size_t)(idx & (num_slots - 1)) * stride;
}

static inline bool mirror_ring_geometry_ok(uint32_t num_slots, uint32_t stride,
					   size_t map_size)
{
	if (!num_slots || (num_slots & (num_slots - 1)) || !stride ||
	    (stride & (stride - 1)))
		return false;
	return MIRROR_RING_HDR_SIZE + (size_t)num_slots * stride <= map_size;
}

#endif /* MIRROR_RING_H */
