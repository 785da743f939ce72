// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_mem.c - the one memory-access abstraction of the data path.
 *
 * Every copy the engines make goes through a segment list: each segment is
 * "[iova, iova + len) of this MR, checked for this access" (or a kernel
 * buffer, for inline data). mirror_seg_map() turns a position in a segment
 * into a mapped address and the bytes left in that page; it is the single
 * place that knows how an MR finds its pages. Pinned MRs look them up in
 * the page array built at registration; ODP MRs look them up in their
 * mirror (mirror_odp.c), under its lock, and fault missing pages in
 * (which may sleep: the engines run in process context).
 */
#include <linux/highmem.h>

#include "mirror.h"

/**
 * mirror_mr_check() - may @access touch [iova, iova + len) of @mr?
 * @mr: the MR
 * @iova: first byte
 * @len: byte count (0 is always in range)
 * @access: IB_ACCESS_* flags needed (0 for a local read)
 *
 * Return: 0, -EACCES when the MR lacks the access, -ERANGE when the range
 * leaves the MR.
 */
int mirror_mr_check(struct mirror_mr *mr, u64 iova, u64 len, int access)
{
	if (access & ~mr->access)
		return -EACCES;
	if (!len)
		return 0;
	if (iova < mr->iova || iova + len < iova ||
	    iova + len > mr->iova + mr->length)
		return -ERANGE;
	return 0;
}

/* The user address of @iova in an ODP MR. */
static unsigned long mirror_mr_va(struct mirror_mr *mr, u64 iova)
{
	return mr->odp_va + (iova - mr->iova);
}

/*
 * Maps the page holding @iova of @mr; *chunk gets the bytes mapped
 * contiguously. For an ODP MR @odp is the mirror covering @iova (NULL:
 * none yet), its lock held, and NULL means "not mirrored (writably):
 * fault it in and try again".
 */
static void *mirror_mr_map(struct mirror_mr *mr, struct mirror_odp *odp,
			   u64 iova, bool write, u32 *chunk)
{
	u64 off;

	switch (mr->type) {
	case MIRROR_MR_DMA:
		/* Kernel consumers hand us kernel virtual addresses. */
		*chunk = PAGE_SIZE - offset_in_page(iova);
		return (void *)(uintptr_t)iova;
	case MIRROR_MR_ODP:
		if (!odp)
			return NULL;
		return mirror_odp_lookup(odp, mirror_mr_va(mr, iova), write,
					 chunk);
	default:
		off = iova - mr->iova + mr->page_offset;
		*chunk = PAGE_SIZE - offset_in_page(off);
		return kmap_local_page(mr->pages[off >> PAGE_SHIFT]) +
		       offset_in_page(off);
	}
}

static void mirror_mr_unmap(struct mirror_mr *mr, void *addr)
{
	if (mr->type != MIRROR_MR_DMA)
		kunmap_local(addr);
}

/**
 * mirror_segs_add() - append "[iova, iova + len) of the MR named by key"
 * @segs: the list
 * @dev: the device
 * @pd: the PD the MR must belong to
 * @key: lkey or rkey
 * @iova: first byte
 * @len: bytes
 * @access: access needed
 *
 * Takes a reference on the MR, dropped by mirror_segs_put().
 *
 * Return: 0, -EINVAL for an unknown key or another PD's MR, -EACCES or
 * -ERANGE as mirror_mr_check(), -E2BIG when the list is full.
 */
int mirror_segs_add(struct mirror_segs *segs, struct mirror_dev *dev,
		    struct ib_pd *pd, u32 key, u64 iova, u32 len, int access)
{
	struct mirror_seg *s;
	struct mirror_mr *mr;
	int err;

	if (segs->n >= ARRAY_SIZE(segs->seg))
		return -E2BIG;
	if (!len)
		return 0;
	mr = mirror_mr_get(dev, key);
	if (!mr)
		return -EINVAL;
	if (mr->ibmr.pd != pd) {
		mirror_mr_put(mr);
		return -EINVAL;
	}
	err = mirror_mr_check(mr, iova, len, access);
	if (err) {
		mirror_mr_put(mr);
		return err;
	}
	s = &segs->seg[segs->n++];
	s->mr = mr;
	s->iova = iova;
	s->len = len;
	s->kaddr = NULL;
	segs->total += len;
	return 0;
}

/**
 * mirror_segs_add_kbuf() - append a kernel buffer (inline data)
 * @segs: the list
 * @buf: the buffer
 * @len: bytes
 *
 * Return: 0 or -E2BIG.
 */
int mirror_segs_add_kbuf(struct mirror_segs *segs, void *buf, u32 len)
{
	struct mirror_seg *s;

	if (segs->n >= ARRAY_SIZE(segs->seg))
		return -E2BIG;
	if (!len)
		return 0;
	s = &segs->seg[segs->n++];
	s->mr = NULL;
	s->kaddr = buf;
	s->iova = 0;
	s->len = len;
	segs->total += len;
	return 0;
}

/**
 * mirror_segs_put() - drop the MR references of a list and empty it
 * @segs: the list
 */
void mirror_segs_put(struct mirror_segs *segs)
{
	u32 i;

	for (i = 0; i < segs->n; i++)
		if (segs->seg[i].mr)
			mirror_mr_put(segs->seg[i].mr);
	segs->n = 0;
	segs->total = 0;
	segs->failed = false;
}

static bool mirror_seg_is_odp(struct mirror_seg *s)
{
	return s->mr && s->mr->type == MIRROR_MR_ODP;
}

/*
 * The mirror behind position @off of segment @s (a reference, for an
 * implicit MR's child), or NULL: not ODP, or no child there yet.
 */
static struct mirror_odp *mirror_seg_odp(struct mirror_seg *s, u32 off)
{
	if (!mirror_seg_is_odp(s))
		return NULL;
	return mirror_mr_odp_get(s->mr, mirror_mr_va(s->mr, s->iova + off));
}

/*
 * Is position @off of segment @s served by @held (the mirror a copy holds
 * locked, NULL for none)? Saves a lookup per page.
 */
static bool mirror_seg_covered(struct mirror_seg *s, u32 off,
			       struct mirror_odp *held)
{
	unsigned long va;

	if (!mirror_seg_is_odp(s))
		return !held;
	if (!held || held->mr != s->mr)
		return false;
	va = mirror_mr_va(s->mr, s->iova + off);
	return va >= held->start && va < held->end;
}

/*
 * Locks the mirrors of up to two segments (ODP rule 3: pages are touched
 * only under their mirror's lock). Two different mirrors are locked in
 * address order, so that two transfers never wait for each other.
 */
static void mirror_segs_lock(struct mirror_odp *a, struct mirror_odp *b)
{
	if (a == b)
		b = NULL;
	if (a && b && a > b)
		swap(a, b);
	if (a)
		mutex_lock(&a->lock);
	if (b)
		mutex_lock_nested(&b->lock, SINGLE_DEPTH_NESTING);
}

static void mirror_segs_unlock(struct mirror_odp *a, struct mirror_odp *b)
{
	if (a)
		mutex_unlock(&a->lock);
	if (b && b != a)
		mutex_unlock(&b->lock);
}

/* Unlocks two mirrors and drops their references. */
static void mirror_segs_release(struct mirror_odp *a, struct mirror_odp *b)
{
	mirror_segs_unlock(a, b);
	mirror_odp_put(a);
	mirror_odp_put(b);
}

/*
 * Bytes a copy moves under the same mirror locks before it lets an
 * invalidation in.
 */
#define MIRROR_LOCK_BATCH	SZ_64K

/*
 * Maps position @off of segment @s (its mirror locked); *chunk gets the
 * contiguous bytes. NULL: an ODP page must be faulted in first.
 */
static void *mirror_seg_map(struct mirror_seg *s, struct mirror_odp *odp,
			    u32 off, bool write, u32 *chunk)
{
	void *addr;

	if (!s->mr) {
		*chunk = s->len - off;
		return s->kaddr + off;
	}
	addr = mirror_mr_map(s->mr, odp, s->iova + off, write, chunk);
	*chunk = min(*chunk, s->len - off);
	return addr;
}

static void mirror_seg_unmap(struct mirror_seg *s, void *addr)
{
	if (s->mr && addr)
		mirror_mr_unmap(s->mr, addr);
}

/*
 * Faults in @len bytes (at most) of segment @s from position @off, its
 * mirror not locked. On failure the list is marked failed.
 */
static int mirror_seg_fault(struct mirror_segs *segs, struct mirror_seg *s,
			    u32 off, u64 len, bool write)
{
	struct mirror_mr *mr = s->mr;
	int err;

	err = mirror_mr_odp_fault(mr, mirror_mr_va(mr, s->iova + off),
				  min_t(u64, len, s->len - off),
				  MIRROR_ODP_FAULT |
				  (write ? MIRROR_ODP_WRITE : 0));
	if (err)
		segs->failed = true;
	return err;
}

/*
 * A transfer that keeps losing its pages to invalidations gives up after
 * this many faults in a row (each of which succeeded).
 */
#define MIRROR_MAP_TRIES	1000

/*
 * Maps position @off of segment @s of @segs with its mirror locked,
 * faulting up to @len bytes in when needed; release with
 * mirror_seg_put(). NULL (and @segs marked failed) when the page cannot
 * be had.
 */
static void *mirror_seg_get(struct mirror_segs *segs, struct mirror_seg *s,
			    u32 off, u64 len, bool write, u32 *chunk,
			    struct mirror_odp **odpp)
{
	struct mirror_odp *odp;
	u32 tries = 0;
	void *addr;

	for (;;) {
		odp = mirror_seg_odp(s, off);
		mirror_segs_lock(odp, NULL);
		addr = mirror_seg_map(s, odp, off, write, chunk);
		if (addr) {
			*odpp = odp;
			return addr;
		}
		mirror_segs_unlock(odp, NULL);
		mirror_odp_put(odp);
		if (++tries > MIRROR_MAP_TRIES) {
			segs->failed = true;
			return NULL;
		}
		if (mirror_seg_fault(segs, s, off, len, write))
			return NULL;
	}
}

static void mirror_seg_put(struct mirror_seg *s, struct mirror_odp *odp,
			   void *addr)
{
	mirror_seg_unmap(s, addr);
	mirror_segs_unlock(odp, NULL);
	mirror_odp_put(odp);
}

static int mirror_segs_copy_at(struct mirror_segs *dst, u64 dst_off,
			       struct mirror_segs *src, u64 src_off, u64 len);

/**
 * mirror_segs_copy() - copy @len bytes from @src into @dst at @dst_off
 * @dst: destination list (its total must be at least @dst_off + @len)
 * @dst_off: where in @dst the bytes go
 * @src: source list (its total must be at least @len)
 * @len: bytes
 *
 * Return: 0, -EINVAL when a list is too short, -EFAULT when an ODP page
 * cannot be faulted in (the list it belongs to is marked failed).
 */
int mirror_segs_copy(struct mirror_segs *dst, u64 dst_off,
		     struct mirror_segs *src, u64 len)
{
	return mirror_segs_copy_at(dst, dst_off, src, 0, len);
}

/* Finds byte @off of @segs: segment *i, offset *soff in it. */
static void mirror_segs_seek(struct mirror_segs *segs, u64 off, u32 *i,
			     u32 *soff)
{
	*i = 0;
	while (*i < segs->n && off >= segs->seg[*i].len) {
		off -= segs->seg[*i].len;
		(*i)++;
	}
	*soff = off;
}

/*
 * mirror_segs_copy() with an offset into the source too. The one loop
 * that maps both sides of a transfer, faulting ODP pages in as needed.
 */
static int mirror_segs_copy_at(struct mirror_segs *dst, u64 dst_off,
			       struct mirror_segs *src, u64 src_off, u64 len)
{
	struct mirror_odp *hd = NULL, *hs = NULL;
	u32 di, doff, si, soff, batch = 0;

	if (dst->total < dst_off + len || src->total < src_off + len)
		return -EINVAL;
	mirror_segs_seek(dst, dst_off, &di, &doff);
	mirror_segs_seek(src, src_off, &si, &soff);
	/*
	 * The mirrors locked (and referenced) for the current chunks stay
	 * locked for the next ones while they are the same, up to
	 * MIRROR_LOCK_BATCH bytes, so that a large transfer takes the locks
	 * once per batch rather than once per page.
	 */
	while (len) {
		struct mirror_seg *d = &dst->seg[di], *s = &src->seg[si];
		struct mirror_odp *dodp, *sodp;
		void *daddr, *saddr = NULL;
		u32 dchunk, schunk, n, tries = 0;
		int err;

		for (;;) {
			if (batch >= MIRROR_LOCK_BATCH ||
			    !mirror_seg_covered(d, doff, hd) ||
			    !mirror_seg_covered(s, soff, hs)) {
				mirror_segs_release(hd, hs);
				dodp = mirror_seg_odp(d, doff);
				sodp = mirror_seg_odp(s, soff);
				mirror_segs_lock(dodp, sodp);
				hd = dodp;
				hs = sodp;
				batch = 0;
			}
			daddr = mirror_seg_map(d, hd, doff, true, &dchunk);
			if (daddr) {
				saddr = mirror_seg_map(s, hs, soff, false,
						       &schunk);
				if (saddr)
					break;
				mirror_seg_unmap(d, daddr);
			}
			mirror_segs_release(hd, hs);
			hd = NULL;
			hs = NULL;
			if (++tries > MIRROR_MAP_TRIES) {
				dst->failed = !daddr;
				src->failed = !!daddr;
				return -EFAULT;
			}
			if (!daddr)
				err = mirror_seg_fault(dst, d, doff, len, true);
			else
				err = mirror_seg_fault(src, s, soff, len, false);
			if (err)
				return err;
		}
		n = min3((u64)dchunk, (u64)schunk, len);
		memcpy(daddr, saddr, n);
		mirror_seg_unmap(s, saddr);
		mirror_seg_unmap(d, daddr);
		batch += n;
		len -= n;
		doff += n;
		soff += n;
		if (doff == d->len) {
			di++;
			doff = 0;
		}
		if (soff == s->len) {
			si++;
			soff = 0;
		}
	}
	mirror_segs_release(hd, hs);
	return 0;
}

/**
 * mirror_segs_write_kbuf() - copy a kernel buffer to the start of a list
 * @dst: destination list
 * @buf: source bytes
 * @len: bytes
 *
 * Return: 0 or -EINVAL when @dst is shorter than @len.
 */
int mirror_segs_write_kbuf(struct mirror_segs *dst, void *buf, u32 len)
{
	return mirror_segs_xfer(dst, 0, buf, len, true);
}
/**
 * mirror_segs_xfer() - copy between a kernel buffer and part of a list
 * @segs: the list
 * @off: where in @segs
 * @buf: the kernel buffer
 * @len: bytes
 * @to_segs: copy @buf into @segs; else @segs into @buf
 *
 * Return: 0, -EINVAL when @segs is shorter than @off + @len, -EFAULT
 * (and @segs marked failed) when an ODP page cannot be faulted in.
 */
int mirror_segs_xfer(struct mirror_segs *segs, u64 off, void *buf, u32 len,
		     bool to_segs)
{
	struct mirror_segs kbuf;

	/* One segment: the rest of the array is never read. */
	kbuf.n = 0;
	kbuf.total = 0;
	kbuf.failed = false;
	mirror_segs_add_kbuf(&kbuf, buf, len);
	if (to_segs)
		return mirror_segs_copy_at(segs, off, &kbuf, 0, len);
	return mirror_segs_copy_at(&kbuf, 0, segs, off, len);
}

/**
 * mirror_segs_atomic() - an 8-byte compare-and-swap or fetch-and-add
 * @target: one segment of 8 bytes, 8-byte aligned (the caller checks)
 * @cmp_swap: compare-and-swap; else fetch-and-add
 * @compare_add: the compare value, or the addend
 * @swap: the swap value
 * @orig: gets the value found in memory
 *
 * The caller holds the device's atomic_lock, which makes the
 * read-modify-write atomic against every other atomic of the device.
 *
 * Return: 0, -EINVAL when @target is not one 8-byte segment, -EFAULT
 * (and @target marked failed) when an ODP page cannot be faulted in.
 */
int mirror_segs_atomic(struct mirror_segs *target, bool cmp_swap,
		       u64 compare_add, u64 swap, u64 *orig)
{
	struct mirror_seg *s = &target->seg[0];
	struct mirror_odp *odp;
	u32 chunk;
	u64 *word;

	if (target->n != 1 || s->len != sizeof(u64))
		return -EINVAL;
	word = mirror_seg_get(target, s, 0, sizeof(u64), true, &chunk, &odp);
	if (!word)
		return -EFAULT;
	if (chunk < sizeof(u64)) {	/* cannot happen when aligned */
		mirror_seg_put(s, odp, word);
		return -EINVAL;
	}
	*orig = READ_ONCE(*word);
	if (cmp_swap) {
		if (*orig == compare_add)
			WRITE_ONCE(*word, swap);
	} else {
		WRITE_ONCE(*word, *orig + compare_add);
	}
	mirror_seg_put(s, odp, word);
	return 0;
}

/**
 * mirror_segs_fault() - fault in the ODP pages of a whole list now
 * @segs: the list
 * @write: writable pages are needed
 *
 * Used where the whole range will be touched (local SGEs, remote ranges),
 * so that a page that cannot be had is reported before anything moves,
 * with the status of that side. Receive buffers are faulted as they fill.
 *
 * Return: 0, or the fault's error (and @segs marked failed).
 */
int mirror_segs_fault(struct mirror_segs *segs, bool write)
{
	u32 i;
	int err;

	for (i = 0; i < segs->n; i++) {
		struct mirror_seg *s = &segs->seg[i];

		if (!mirror_seg_is_odp(s))
			continue;
		err = mirror_seg_fault(segs, s, 0, s->len, write);
		if (err)
			return err;
	}
	return 0;
}
