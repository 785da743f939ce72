// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_queue.c - rings in the layout of rdma_user_mirror.h: a header with
 * producer/consumer indices on separate cache lines, then power-of-two
 * slots. A ring shared with user space is offered to mmap() through an
 * rdma_user_mmap_entry that owns the buffer from then on.
 */
#include <linux/vmalloc.h>
#include <rdma/uverbs_ioctl.h>

#include "mirror.h"

/**
 * mirror_queue_init() - allocate a ring, shared with user space if @udata
 * @q: the queue to set up
 * @udata: the caller's udata, or NULL for a kernel-owned ring
 * @num_slots: slots, a power of two
 * @stride: bytes per slot, a power of two
 *
 * Return: 0 or a negative errno.
 */
int mirror_queue_init(struct mirror_queue *q, struct ib_udata *udata,
		      u32 num_slots, u32 stride)
{
	struct mirror_ucontext *uc;
	size_t size;
	int err;

	if (WARN_ON_ONCE(!is_power_of_2(num_slots) || !is_power_of_2(stride)))
		return -EINVAL;
	size = PAGE_ALIGN(MIRROR_RING_HDR_SIZE + (size_t)num_slots * stride);

	memset(q, 0, sizeof(*q));
	q->buf = vmalloc_user(size);	/* zeroed */
	if (!q->buf)
		return -ENOMEM;
	q->hdr = q->buf;
	q->num_slots = num_slots;
	q->stride = stride;
	q->size = size;
	if (!udata)
		return 0;

	uc = rdma_udata_to_drv_context(udata, struct mirror_ucontext, ibuc);
	q->mentry = kzalloc(sizeof(*q->mentry), GFP_KERNEL);
	if (!q->mentry) {
		err = -ENOMEM;
		goto err_free_buf;
	}
	q->mentry->buf = q->buf;
	err = rdma_user_mmap_entry_insert(&uc->ibuc, &q->mentry->rdma, size);
	if (err)
		goto err_free_entry;
	return 0;

err_free_entry:
	kfree(q->mentry);
	q->mentry = NULL;
err_free_buf:
	vfree(q->buf);
	q->buf = NULL;
	return err;
}

/**
 * mirror_queue_destroy() - release a ring
 * @q: the queue (may be empty)
 *
 * A shared ring's buffer is freed by mmap_free once ib_core drops the
 * entry; pages already mapped by the process stay valid until munmap.
 */
void mirror_queue_destroy(struct mirror_queue *q)
{
	if (q->mentry)
		rdma_user_mmap_entry_remove(&q->mentry->rdma);
	else
		vfree(q->buf);
	memset(q, 0, sizeof(*q));
}

/**
 * mirror_queue_info() - describe a ring for the provider
 * @q: the queue
 * @info: filled with offset, size and geometry (zero for an empty queue)
 */
void mirror_queue_info(const struct mirror_queue *q,
		       struct mirror_queue_info *info)
{
	memset(info, 0, sizeof(*info));
	if (!q->buf)
		return;
	if (q->mentry)
		info->mmap_offset = rdma_user_mmap_get_offset(&q->mentry->rdma);
	info->mmap_size = q->size;
	info->num_slots = q->num_slots;
	info->stride = q->stride;
}

/**
 * mirror_queue_slot() - address of the slot an index falls on
 * @q: the queue
 * @index: free-running index
 *
 * Return: the slot.
 */
void *mirror_queue_slot(const struct mirror_queue *q, u32 index)
{
	return q->buf + MIRROR_RING_HDR_SIZE +
	       (size_t)(index & (q->num_slots - 1)) * q->stride;
}

/**
 * mirror_queue_count() - entries between consumer and producer
 * @q: the queue
 *
 * Reads both indices; a count over num_slots (only possible when user
 * space scribbled on the header) is clamped to num_slots.
 *
 * Return: entries in the ring.
 */
u32 mirror_queue_count(const struct mirror_queue *q)
{
	u32 prod = smp_load_acquire(&q->hdr->producer);
	u32 cons = smp_load_acquire(&q->hdr->consumer);

	return min(prod - cons, q->num_slots);
}

/**
 * mirror_queue_producer() - the producer index of a ring, read once
 * @q: the ring (its producer may be user space)
 *
 * An acquire load: slots the index covers are read after it.
 *
 * Return: the producer index.
 */
u32 mirror_queue_producer(const struct mirror_queue *q)
{
	return smp_load_acquire(&q->hdr->producer);
}

/**
 * mirror_queue_avail() - entries waiting for a kernel consumer
 * @q: the ring
 * @cons: the consumer's own index (the kernel's copy, never the ring's)
 * @avail: gets the number of entries between @cons and the producer
 *
 * The one way a kernel consumer learns what it may take: the producer index
 * is read once (mirror_queue_producer()) and every later decision uses that
 * value.
 *
 * Return: 0, or -EIO when the producer claims more than num_slots entries
 * (only user space scribbling on its ring does that).
 */
int mirror_queue_avail(const struct mirror_queue *q, u32 cons, u32 *avail)
{
	u32 n = mirror_queue_producer(q) - cons;

	if (n > q->num_slots)
		return -EIO;
	*avail = n;
	return 0;
}

/**
 * mirror_queue_consumed() - publish the consumer index
 * @q: the ring
 * @cons: the consumer's own index, past the slots it is done with
 *
 * A release store: the producer may reuse the slots once it sees it.
 */
void mirror_queue_consumed(struct mirror_queue *q, u32 cons)
{
	smp_store_release(&q->hdr->consumer, cons);
}

/**
 * mirror_queue_fetch_recv() - copy a receive WQE out of its slot, once
 * @q: an RQ or SRQ ring
 * @cons: the slot's index
 * @wqe: gets the WQE header
 * @sge: gets its SGEs (room for MIRROR_MAX_SGE)
 * @max_sge: SGEs a receive of this queue may name
 *
 * The header is copied first and the SGE count taken from that copy, so
 * the slot is read once whatever user space writes into it meanwhile.
 *
 * Return: 0, or -E2BIG when the WQE names more than @max_sge SGEs (@wqe
 * still holds its header, for the completion).
 */
int mirror_queue_fetch_recv(const struct mirror_queue *q, u32 cons,
			    struct mirror_recv_wqe *wqe, struct mirror_sge *sge,
			    u32 max_sge)
{
	const void *slot = mirror_queue_slot(q, cons);

	memcpy(wqe, slot, sizeof(*wqe));
	max_sge = min3(max_sge, (u32)MIRROR_MAX_SGE,
		       (q->stride - (u32)sizeof(*wqe)) / (u32)sizeof(*sge));
	if (wqe->num_sge > max_sge)
		return -E2BIG;
	memcpy(sge, slot + sizeof(*wqe), wqe->num_sge * sizeof(*sge));
	return 0;
}

/**
 * mirror_sges_from_ib() - copy a kernel WR's SGEs into a ring slot
 * @dst: the slot's SGE array
 * @src: the WR's sg_list
 * @n: how many; the caller has checked that they fit
 */
void mirror_sges_from_ib(struct mirror_sge *dst, const struct ib_sge *src,
			 int n)
{
	int i;

	for (i = 0; i < n; i++) {
		dst[i].addr = src[i].addr;
		dst[i].length = src[i].length;
		dst[i].lkey = src[i].lkey;
	}
}

/**
 * mirror_queue_post_recv() - write one kernel receive WR into a ring
 * @q: an RQ or SRQ ring
 * @wr: the WR
 * @max_sge: SGEs a slot may carry
 *
 * The caller serialises the producers of @q.
 *
 * Return: 0, -ENOMEM when the ring is full, -EINVAL for too many SGEs.
 */
int mirror_queue_post_recv(struct mirror_queue *q, const struct ib_recv_wr *wr,
			   u32 max_sge)
{
	u32 prod = q->hdr->producer;
	struct mirror_recv_wqe *wqe;

	if (prod - smp_load_acquire(&q->hdr->consumer) >= q->num_slots)
		return -ENOMEM;
	if (wr->num_sge < 0 || wr->num_sge > max_sge)
		return -EINVAL;
	wqe = mirror_queue_slot(q, prod);
	wqe->wr_id = wr->wr_id;
	wqe->num_sge = wr->num_sge;
	wqe->reserved = 0;
	mirror_sges_from_ib((struct mirror_sge *)(wqe + 1), wr->sg_list,
			    wr->num_sge);
	smp_store_release(&q->hdr->producer, prod + 1);
	return 0;
}
