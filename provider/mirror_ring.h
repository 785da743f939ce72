/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_ring.h - index arithmetic of the shared rings (layout in
 * rdma_user_mirror.h). Pure functions, unit-tested on the host.
 *
 * producer and consumer are free-running 32-bit counters: their difference
 * is the fill level even across the 2^32 wrap.
 *
 * Ordering: each side reads the other side's index with an acquire load
 * (the kernel's smp_load_acquire) before touching the slots it covers, and
 * publishes its own index with a release store (smp_store_release) after
 * writing, or finishing with, its slots.
 */
#ifndef MIRROR_RING_H
#define MIRROR_RING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rdma_user_mirror.h"

_Static_assert(sizeof(_Atomic uint32_t) == sizeof(uint32_t) &&
		       _Alignof(_Atomic uint32_t) == _Alignof(uint32_t),
	       "ring indices are plain 32-bit words shared with the kernel");

/* Reads the other side's index: orders the slot reads that follow it. */
static inline uint32_t mirror_ring_load_acquire(const uint32_t *idx)
{
	return atomic_load_explicit((const _Atomic uint32_t *)idx,
				    memory_order_acquire);
}

/* Reads our own index: nobody else writes it. */
static inline uint32_t mirror_ring_load_own(const uint32_t *idx)
{
	return atomic_load_explicit((const _Atomic uint32_t *)idx,
				    memory_order_relaxed);
}

/* Publishes our index: orders the slot accesses before it. */
static inline void mirror_ring_store_release(uint32_t *idx, uint32_t val)
{
	atomic_store_explicit((_Atomic uint32_t *)idx, val,
			      memory_order_release);
}

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

/* Slot number counter @idx falls on; num_slots is a power of two. */
static inline uint32_t mirror_ring_slot_index(uint32_t idx, uint32_t num_slots)
{
	return idx & (num_slots - 1);
}

/* Byte offset of the slot @idx falls on, from the start of the area. */
static inline size_t mirror_ring_slot_offset(uint32_t idx, uint32_t num_slots,
					     uint32_t stride)
{
	return MIRROR_RING_HDR_SIZE +
	       (size_t)mirror_ring_slot_index(idx, num_slots) * stride;
}

/* Address of the slot @idx falls on, in a ring mapped at @base. */
static inline void *mirror_ring_slot_addr(void *base, uint32_t idx,
					  uint32_t num_slots, uint32_t stride)
{
	return (uint8_t *)base + mirror_ring_slot_offset(idx, num_slots, stride);
}

/*
 * Whether a ring the kernel described is usable: powers of two, a slot
 * large enough for @min_stride bytes, and everything inside the mapping.
 */
static inline bool mirror_ring_geometry_ok(uint32_t num_slots, uint32_t stride,
					   uint32_t min_stride, size_t map_size)
{
	if (!num_slots || (num_slots & (num_slots - 1)) || !stride ||
	    (stride & (stride - 1)) || stride < min_stride)
		return false;
	return MIRROR_RING_HDR_SIZE + (size_t)num_slots * stride <= map_size;
}

/* How many SGEs of 16 bytes fit in a slot of @stride after a @hdr header. */
static inline uint32_t mirror_ring_sge_room(uint32_t stride, size_t hdr)
{
	return stride > hdr ? (uint32_t)((stride - hdr) /
					 sizeof(struct mirror_sge)) :
			      0;
}

/* Does a WQE header of @hdr bytes plus @n elements of @elem bytes fit a slot? */
static inline bool mirror_ring_wqe_fits(uint32_t stride, size_t hdr,
					uint32_t n, size_t elem)
{
	return hdr <= stride && (size_t)n <= (stride - hdr) / elem;
}

#endif /* MIRROR_RING_H */
