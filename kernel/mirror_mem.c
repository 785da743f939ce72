// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_mem.c - the one memory-access abstraction of the data path.
 *
 * Every copy the engines make goes through a segment list: each segment is
 * "[iova, iova + len) of this MR, checked for this access" (or a kernel
 * buffer: inline data, packet payloads). mirror_seg_map() turns a position
 * in a segment into a mapped address and the bytes left in that page; it
 * is the single place that knows how an MR finds its pages. Pinned MRs look
 * them up in the page array built at registration; ODP MRs look them up in
 * their mirror (mirror_odp.c), under its lock, and fault missing pages in
 * (which may sleep: the engines run in process context).
 *
 * Rules the lists keep:
 * - A segment is written only if it was checked for a writing access
 *   (local write, remote write, remote atomic); the map helper refuses
 *   anything else, whatever kind of MR is behind it.
 * - A list holds MR references only for the operation at hand: the engines
 *   resolve keys again for every packet (or step) from their kernel copies
 *   of WQEs and headers, so that dereg never waits for a peer.
 * - Faults cover at most MIRROR_FAULT_CHUNK bytes at a time, as data moves.
 * - A list marked nofault never faults: a missing page ends the copy with
 *   -EAGAIN and the position, so that the caller can drop what it holds of
 *   another process (a QP, its locks) before faulting its own memory, or
 *   have another process's memory faulted where that cannot hold it up.
 */
#include <linux/highmem.h>

#include "mirror.h"

/* Accesses that allow a segment to be written. */
#define MIRROR_WRITING_ACCESS	(IB_ACCESS_LOCAL_WRITE | \
				 IB_ACCESS_REMOTE_WRITE | \
				 IB_ACCESS_REMOTE_ATOMIC)

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
 * mirror_segs_init() - an empty list
 * @segs: the list
 * @nofault: a missing ODP page ends a copy with -EAGAIN instead of being
 *	faulted in (see the file comment)
 */
void mirror_segs_init(struct mirror_segs *segs, bool nofault)
{
	segs->n = 0;
	segs->total = 0;
	segs->failed = false;
	segs->nofault = nofault;
	segs->missed = false;
	segs->miss = 0;
}

/* Appends [iova, iova + len) of @mr, checked, taking over its reference. */
static void mirror_segs_append(struct mirror_segs *segs, struct mirror_mr *mr,
			       u32 key, u64 iova, u32 len, int access)
{
	struct mirror_seg *s = &segs->seg[segs->n++];

	s->mr = mr;
	s->key = key;
	/*
	 * Read after the acquire of the key in mirror_mr_get(): at worst a
	 * newer registration's, and then the map below fails if the range
	 * was checked in the older one.
	 */
	s->gen = READ_ONCE(mr->fast.gen);
	s->iova = iova;
	s->len = len;
	s->kaddr = NULL;
	s->access = access;
	segs->total += len;
}

/*
 * Appends [iova, iova + len) of @mr, which @key found, if @mr is an MR of
 * @pd that allows @access there; the reference is the list's, or dropped.
 */
static int mirror_segs_add_mr(struct mirror_segs *segs, struct mirror_mr *mr,
			      struct ib_pd *pd, u32 key, u64 iova, u32 len,
			      int access)
{
	int err = -EINVAL;

	if (mr->ibmr.pd != pd || mr->type == MIRROR_MR_MW)
		goto err_put;
	err = mirror_mr_check(mr, iova, len, access);
	if (err)
		goto err_put;
	mirror_segs_append(segs, mr, key, iova, len, access);
	return 0;

err_put:
	mirror_mr_put(mr);
	return err;
}

/**
 * mirror_segs_add() - append "[iova, iova + len) of the MR named by key"
 * @segs: the list
 * @dev: the device
 * @pd: the PD the MR must belong to
 * @key: an lkey (a memory window's key is refused: it is an rkey only)
 * @iova: first byte
 * @len: bytes
 * @access: access needed; the segment may be written only if this is a
 *	writing access
 *
 * Takes a reference on the MR, dropped by mirror_segs_put().
 *
 * Return: 0, -EINVAL for an unknown key or another PD's MR, -EACCES or
 * -ERANGE as mirror_mr_check(), -E2BIG when the list is full.
 */
int mirror_segs_add(struct mirror_segs *segs, struct mirror_dev *dev,
		    struct ib_pd *pd, u32 key, u64 iova, u32 len, int access)
{
	struct mirror_mr *mr;

	if (segs->n >= ARRAY_SIZE(segs->seg))
		return -E2BIG;
	if (!len)
		return 0;
	mr = mirror_mr_get(dev, key);
	if (!mr)
		return -EINVAL;
	return mirror_segs_add_mr(segs, mr, pd, key, iova, len, access);
}

/**
 * mirror_segs_add_remote() - append the target of a peer's access
 * @segs: the list
 * @qp: the QP serving the access: the MR must be of its PD, a window
 *	bound in that PD (type 2: through @qp)
 * @rkey: the key the peer sent: an MR's or a memory window's
 * @iova: first byte
 * @len: bytes
 * @access: IB_ACCESS_REMOTE_* needed
 *
 * A window is resolved to the MR it is bound to, now (mirror_mw_take()).
 *
 * Return: as mirror_segs_add().
 */
int mirror_segs_add_remote(struct mirror_segs *segs, struct mirror_qp *qp,
			   u32 rkey, u64 iova, u32 len, int access)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_mr *mr, *win;

	if (segs->n >= ARRAY_SIZE(segs->seg))
		return -E2BIG;
	if (!len)
		return 0;
	win = mirror_mr_get(dev, rkey);
	if (!win)
		return -EINVAL;
	if (win->type != MIRROR_MR_MW)
		return mirror_segs_add_mr(segs, win, qp->ibqp.pd, rkey, iova,
					  len, access);
	mr = mirror_mw_take(win, qp->ibqp.pd, qp->uid, iova, len, access);
	mirror_mr_put(win);
	if (IS_ERR(mr))
		return PTR_ERR(mr);
	mirror_segs_append(segs, mr, mr->key, iova, len, access);
	return 0;
}

/**
 * mirror_segs_add_kbuf() - append a kernel buffer
 * @segs: the list
 * @buf: the buffer
 * @len: bytes
 * @writable: copies may write into @buf
 *
 * Return: 0 or -E2BIG.
 */
int mirror_segs_add_kbuf(struct mirror_segs *segs, void *buf, u32 len,
			 bool writable)
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
	s->access = writable ? IB_ACCESS_LOCAL_WRITE : 0;
	segs->total += len;
	return 0;
}

/**
 * mirror_segs_add_sges() - append the part of an SGE list a step touches
 * @segs: the list
 * @dev: the device
 * @pd: the PD the MRs must belong to
 * @sge: the SGEs (a kernel copy)
 * @nsge: entries in @sge
 * @off: first byte of the message the step touches
 * @len: bytes it touches
 * @access: access needed
 *
 * Each SGE touched is checked whole, as when it was first resolved, so a
 * deregistered MR or a changed key fails the same way on every packet.
 *
 * Return: 0, an error of mirror_segs_add(), or -EMSGSIZE when the SGEs
 * end before @off + @len.
 */
int mirror_segs_add_sges(struct mirror_segs *segs, struct mirror_dev *dev,
			 struct ib_pd *pd, const struct mirror_sge *sge,
			 u32 nsge, u64 off, u64 len, int access)
{
	struct mirror_seg *s;
	u32 i, take;
	int err;

	for (i = 0; i < nsge && len; i++) {
		if (off >= sge[i].length) {
			off -= sge[i].length;
			continue;
		}
		take = min_t(u64, sge[i].length - off, len);
		err = mirror_segs_add(segs, dev, pd, sge[i].lkey, sge[i].addr,
				      sge[i].length, access);
		if (err)
			return err;
		/* Narrow the segment just added to the part touched. */
		s = &segs->seg[segs->n - 1];
		s->iova += off;
		s->len = take;
		segs->total -= sge[i].length - take;
		len -= take;
		off = 0;
	}
	return len ? -EMSGSIZE : 0;
}

/**
 * mirror_segs_put() - drop the MR references of a list and empty it
 * @segs: the list (its nofault mode stays)
 */
void mirror_segs_put(struct mirror_segs *segs)
{
	u32 i;

	for (i = 0; i < segs->n; i++)
		if (segs->seg[i].mr)
			mirror_mr_put(segs->seg[i].mr);
	mirror_segs_init(segs, segs->nofault);
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
 * Maps byte @iova of segment @s of a fast MR, if the registration the
 * segment was checked in is still the MR's: fast.busy is raised first and
 * the key read after it, so that an invalidation (key to 0, then a wait
 * for busy to be 0: mirror_mr_fast_inv()) either sees this copy or is seen
 * by it. mirror_seg_unmap() lowers busy. Nothing here or between the two
 * sleeps.
 */
static int mirror_fast_map(struct mirror_seg *s, u64 iova, void **addr,
			   u32 *chunk)
{
	struct mirror_mr *mr = s->mr;
	struct mirror_fast *f = &mr->fast;
	u64 off;
	u32 idx;

	atomic_inc(&f->busy);
	/* Pairs with the smp_mb() of mirror_mr_fast_inv(): busy, then key. */
	smp_mb__after_atomic();
	/* The acquire orders the reads below after the key's. */
	if (smp_load_acquire(&mr->key) != s->key ||
	    READ_ONCE(f->gen) != s->gen)
		goto gone;
	off = iova - mr->iova + mr->page_offset;
	idx = off / f->page_size;
	if (iova < mr->iova || idx >= f->npages)	/* checked: cannot be */
		goto gone;
	off &= f->page_size - 1;
	*chunk = min_t(u64, f->page_size - off, U32_MAX);
	*addr = (void *)(uintptr_t)(f->pages[idx] + off);
	return 0;
gone:
	/* Nothing of the MR was read for use: release order suffices. */
	smp_mb__before_atomic();
	atomic_dec(&f->busy);
	return -ENOENT;
}

/*
 * Maps position @off of segment @s (its mirror locked) into *addr; *chunk
 * gets the contiguous bytes. Return: 0, -EAGAIN when an ODP page must be
 * faulted in first, -EACCES for a write to a segment not checked for one,
 * -ENOENT for a fast MR's registration that ended.
 */
static int mirror_seg_map(struct mirror_seg *s, struct mirror_odp *odp,
			  u32 off, bool write, void **addr, u32 *chunk)
{
	int err;

	if (write && !(s->access & MIRROR_WRITING_ACCESS))
		return -EACCES;
	if (!s->mr) {
		*chunk = s->len - off;
		*addr = s->kaddr + off;
		return 0;
	}
	if (s->mr->type == MIRROR_MR_FAST) {
		err = mirror_fast_map(s, s->iova + off, addr, chunk);
		if (!err)
			*chunk = min(*chunk, s->len - off);
		return err;
	}
	*addr = mirror_mr_map(s->mr, odp, s->iova + off, write, chunk);
	if (!*addr)
		return -EAGAIN;
	*chunk = min(*chunk, s->len - off);
	return 0;
}

static void mirror_seg_unmap(struct mirror_seg *s, void *addr)
{
	if (!s->mr || !addr)
		return;
	if (s->mr->type == MIRROR_MR_FAST) {
		/* The copy is done before an invalidation may return. */
		smp_mb__before_atomic();
		atomic_dec(&s->mr->fast.busy);
		return;
	}
	mirror_mr_unmap(s->mr, addr);
}

/*
 * Faults in at most MIRROR_FAULT_CHUNK bytes, and no more than @len, of
 * segment @s from position @off, its mirror not locked. On failure the
 * list is marked failed.
 */
static int mirror_seg_fault(struct mirror_segs *segs, struct mirror_seg *s,
			    u32 off, u64 len, bool write)
{
	struct mirror_mr *mr = s->mr;
	int err;

	len = min3(len, (u64)(s->len - off), (u64)MIRROR_FAULT_CHUNK);
	err = mirror_mr_odp_fault(mr, mirror_mr_va(mr, s->iova + off), len,
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
 * A page of @segs at list position @pos is missing (writably, for
 * @write): fault it in, or, for a nofault list, record where and say so.
 */
static int mirror_segs_miss(struct mirror_segs *segs, struct mirror_seg *s,
			    u32 soff, u64 pos, u64 len, bool write)
{
	if (segs->nofault) {
		segs->missed = true;
		segs->miss = pos;
		return -EAGAIN;
	}
	return mirror_seg_fault(segs, s, soff, len, write);
}

/**
 * mirror_segs_copy() - copy @len bytes between two lists
 * @dst: destination list
 * @dst_off: where in @dst the bytes go
 * @src: source list
 * @src_off: where in @src they come from
 * @len: bytes
 * @done: gets the bytes copied (also on failure), or NULL
 *
 * The one loop that maps both sides of a transfer, faulting ODP pages in
 * as needed (chunk by chunk), except on a nofault list.
 *
 * Return: 0; -EINVAL when a list is too short; -EACCES when @dst was not
 * checked for writing; -EFAULT (or another fault error) when an ODP page
 * cannot be faulted in, the failing list being marked failed; -EAGAIN
 * when a page of a nofault list is missing (its ->miss says where).
 */
int mirror_segs_copy(struct mirror_segs *dst, u64 dst_off,
		     struct mirror_segs *src, u64 src_off, u64 len, u64 *done)
{
	struct mirror_odp *hd = NULL, *hs = NULL;
	u32 di, doff, si, soff, batch = 0;
	u64 moved = 0;
	int err = 0;

	if (dst->total < dst_off + len || src->total < src_off + len) {
		err = -EINVAL;
		goto out;
	}
	mirror_segs_seek(dst, dst_off, &di, &doff);
	mirror_segs_seek(src, src_off, &si, &soff);
	/*
	 * The mirrors locked (and referenced) for the current chunks stay
	 * locked for the next ones while they are the same, up to
	 * MIRROR_LOCK_BATCH bytes, so that a large transfer takes the locks
	 * once per batch rather than once per page.
	 */
	while (moved < len) {
		struct mirror_seg *d = &dst->seg[di], *s = &src->seg[si];
		void *daddr = NULL, *saddr = NULL;
		u32 dchunk, schunk, n, tries = 0;
		int derr, serr = 0;

		for (;;) {
			if (batch >= MIRROR_LOCK_BATCH ||
			    !mirror_seg_covered(d, doff, hd) ||
			    !mirror_seg_covered(s, soff, hs)) {
				mirror_segs_release(hd, hs);
				hd = mirror_seg_odp(d, doff);
				hs = mirror_seg_odp(s, soff);
				mirror_segs_lock(hd, hs);
				batch = 0;
			}
			derr = mirror_seg_map(d, hd, doff, true, &daddr,
					      &dchunk);
			if (!derr) {
				serr = mirror_seg_map(s, hs, soff, false,
						      &saddr, &schunk);
				if (!serr)
					break;
				mirror_seg_unmap(d, daddr);
			}
			mirror_segs_release(hd, hs);
			hd = NULL;
			hs = NULL;
			if (derr == -EACCES || derr == -ENOENT) {
				dst->failed = true;
				err = derr == -EACCES ? -EACCES : -EFAULT;
				goto out;
			}
			if (serr == -ENOENT) {
				src->failed = true;
				err = -EFAULT;
				goto out;
			}
			if (++tries > MIRROR_MAP_TRIES) {
				dst->failed = !!derr;
				src->failed = !derr;
				err = -EFAULT;
				goto out;
			}
			if (derr)
				err = mirror_segs_miss(dst, d, doff,
						       dst_off + moved,
						       len - moved, true);
			else
				err = mirror_segs_miss(src, s, soff,
						       src_off + moved,
						       len - moved, false);
			if (err)
				goto out;
		}
		n = min3((u64)dchunk, (u64)schunk, len - moved);
		memcpy(daddr, saddr, n);
		mirror_seg_unmap(s, saddr);
		mirror_seg_unmap(d, daddr);
		batch += n;
		moved += n;
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
out:
	mirror_segs_release(hd, hs);
	if (done)
		*done = moved;
	return err;
}

/**
 * mirror_segs_xfer() - copy between a kernel buffer and part of a list
 * @segs: the list
 * @off: where in @segs
 * @buf: the kernel buffer
 * @len: bytes
 * @to_segs: copy @buf into @segs; else @segs into @buf
 *
 * Return: as mirror_segs_copy().
 */
int mirror_segs_xfer(struct mirror_segs *segs, u64 off, void *buf, u32 len,
		     bool to_segs)
{
	struct mirror_segs kbuf;

	/* One segment: the rest of the array is never read. */
	mirror_segs_init(&kbuf, false);
	mirror_segs_add_kbuf(&kbuf, buf, len, !to_segs);
	if (to_segs)
		return mirror_segs_copy(segs, off, &kbuf, 0, len, NULL);
	return mirror_segs_copy(&kbuf, 0, segs, off, len, NULL);
}

/**
 * mirror_segs_atomic() - an 8-byte compare-and-swap, fetch-and-add or
 *	store (ATOMIC WRITE)
 * @target: one segment of 8 bytes, 8-byte aligned (the caller checks),
 *	checked for remote atomic access (remote write for a store)
 * @serialise: held around the read-modify-write (the device's atomic_lock,
 *	which makes it atomic against every other atomic of the device)
 * @op: what to do
 * @compare_add: the compare value, the addend, or the value to store
 *	(its bytes as they are to be in memory)
 * @swap: the swap value
 * @orig: gets the value found in memory
 *
 * @serialise is never held across a fault: the page is mapped without
 * faulting under it, and a miss drops it, faults, and tries again.
 *
 * Return: 0; -EINVAL when @target is not one 8-byte segment; -EACCES when
 * it was not checked for writing; -EFAULT (and @target marked failed) when
 * its ODP page cannot be faulted in.
 */
int mirror_segs_atomic(struct mirror_segs *target, struct mutex *serialise,
		       enum mirror_atomic_op op, u64 compare_add, u64 swap,
		       u64 *orig)
{
	struct mirror_seg *s = &target->seg[0];
	struct mirror_odp *odp;
	u32 chunk, tries = 0;
	void *addr;
	u64 *word;
	int err;

	if (target->n != 1 || s->len != sizeof(u64))
		return -EINVAL;
	for (;;) {
		odp = mirror_seg_odp(s, 0);
		mutex_lock(serialise);
		mirror_segs_lock(odp, NULL);
		err = mirror_seg_map(s, odp, 0, true, &addr, &chunk);
		if (!err)
			break;
		mirror_segs_release(odp, NULL);
		mutex_unlock(serialise);
		if (err != -EAGAIN) {
			target->failed = true;
			return err;
		}
		if (++tries > MIRROR_MAP_TRIES) {
			target->failed = true;
			return -EFAULT;
		}
		err = mirror_segs_miss(target, s, 0, 0, sizeof(u64), true);
		if (err)
			return err;
	}
	word = addr;
	if (chunk < sizeof(u64)) {	/* cannot happen when aligned */
		err = -EINVAL;
		goto out;
	}
	*orig = READ_ONCE(*word);
	switch (op) {
	case MIRROR_ATOMIC_CMP_SWAP:
		if (*orig == compare_add)
			WRITE_ONCE(*word, swap);
		break;
	case MIRROR_ATOMIC_FETCH_ADD:
		WRITE_ONCE(*word, *orig + compare_add);
		break;
	case MIRROR_ATOMIC_STORE:
		/* One 8-byte store: no reader sees half of it. */
		WRITE_ONCE(*word, compare_add);
		break;
	}
out:
	mirror_seg_unmap(s, addr);
	mirror_segs_release(odp, NULL);
	mutex_unlock(serialise);
	return err;
}

/**
 * mirror_segs_present() - are bytes [off, off + len) of a list mirrored?
 * @segs: the list
 * @off: first byte
 * @len: bytes
 * @write: writably
 * @miss: gets the list position of (or just before) a page that is not
 *
 * A hint without locks (mirror_mr_odp_present()), for a caller that must
 * not fault now but may have the faulting done elsewhere first.
 *
 * Return: true when every ODP page of the range is mirrored.
 */
bool mirror_segs_present(struct mirror_segs *segs, u64 off, u64 len,
			 bool write, u64 *miss)
{
	unsigned long va, mva;
	u64 pos = off, n;
	u32 i, soff;

	mirror_segs_seek(segs, off, &i, &soff);
	for (; i < segs->n && len; i++, soff = 0) {
		struct mirror_seg *s = &segs->seg[i];

		n = min_t(u64, s->len - soff, len);
		if (mirror_seg_is_odp(s)) {
			va = mirror_mr_va(s->mr, s->iova + soff);
			if (!mirror_mr_odp_present(s->mr, va, n, write, &mva)) {
				*miss = pos + (mva > va ? mva - va : 0);
				return false;
			}
		}
		pos += n;
		len -= n;
	}
	return true;
}

/**
 * mirror_mr_fault_range() - fault in [iova, iova + len) of an ODP MR
 * @mr: the MR (a reference is held)
 * @iova: first byte, as the MR's keys name it
 * @len: bytes (at most MIRROR_FAULT_CHUNK are faulted)
 * @write: writable pages are needed
 *
 * Return: 0 or the fault's error.
 */
int mirror_mr_fault_range(struct mirror_mr *mr, u64 iova, u64 len,
			  bool write)
{
	return mirror_mr_odp_fault(mr, mirror_mr_va(mr, iova),
				   min_t(u64, len, MIRROR_FAULT_CHUNK),
				   MIRROR_ODP_FAULT |
				   (write ? MIRROR_ODP_WRITE : 0));
}

/**
 * mirror_segs_fault() - fault in ODP pages of part of a list now
 * @segs: the list
 * @off: first byte of the list to fault
 * @len: bytes (faulted MIRROR_FAULT_CHUNK at a time)
 * @write: writable pages are needed
 *
 * Used ahead of a transfer (its first chunk, so that a page that cannot be
 * had is reported before anything moves, with the status of that side),
 * and by a requester that stopped at a missing page of its nofault list.
 *
 * Return: 0, or the fault's error (and @segs marked failed).
 */
int mirror_segs_fault(struct mirror_segs *segs, u64 off, u64 len, bool write)
{
	u32 i, soff;
	u64 n;
	int err;

	mirror_segs_seek(segs, off, &i, &soff);
	for (; i < segs->n && len; i++, soff = 0) {
		struct mirror_seg *s = &segs->seg[i];

		n = min_t(u64, s->len - soff, len);
		len -= n;
		if (!mirror_seg_is_odp(s))
			continue;
		while (n) {
			u32 step = min_t(u64, n, MIRROR_FAULT_CHUNK);

			err = mirror_seg_fault(segs, s, soff, step, write);
			if (err)
				return err;
			soff += step;
			n -= step;
		}
	}
	return 0;
}
