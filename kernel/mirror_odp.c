// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_odp.c - on-demand paging: an ODP MR is an HMM mirror of a range
 * of the registering process's address space.
 *
 * Each mirrored range is a struct mirror_odp: one mmu_interval_notifier
 * and our own page table, one 6-byte entry per page (see "Entries" below).
 * The rules (design.md, ODP rules 1-6 and 8-10):
 *
 * - Entries are written in one place only, mirror_odp_fault_block(): it
 *   runs mmu_interval_read_begin() -> mmap_read_lock + hmm_range_fault()
 *   -> odp->lock -> mmu_interval_read_retry() and publishes the result
 *   under the lock, or starts over. Nothing is pinned.
 * - mirror_odp_invalidate() takes the same lock, always records the new
 *   sequence and clears the entries of the range. The data path
 *   (mirror_mem.c) holds the lock from the lookup of an entry until it is
 *   done with the page, so when invalidate() returns nothing touches the
 *   old pages any more; the next access faults the new ones in.
 * - Faults run in process context (doorbell, QP work, prefetch work) and
 *   never with odp->lock held.
 * - A huge CPU mapping (THP, hugetlb) is published whole: every entry of
 *   the block gets its pfn, and a lookup returns the rest of the block as
 *   one contiguous chunk.
 */
#include <linux/bitfield.h>
#include <linux/hmm.h>
#include <linux/memcontrol.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sched/mm.h>
#include <rdma/uverbs_ioctl.h>

#include "mirror.h"

#define CREATE_TRACE_POINTS
#include "mirror_trace.h"

/*
 * Entries. The table keeps 6 bytes per page in two arrays, @pfn_lo (the
 * pfn's low 32 bits) and @meta (u16: the pfn's bits 32-39, then the flags
 * below and the order of the CPU mapping the page belongs to). 40 bits of
 * pfn cover 52 physical address bits with 4 KiB pages, all that x86-64 and
 * arm64 can address; a page beyond that cannot be mirrored (-EFAULT).
 *
 * The code works on one entry at a time as an unsigned long in HMM's
 * format (pfn | HMM_PFN_VALID | HMM_PFN_WRITE | map order), plus
 * MIRROR_ODP_DIRTY; mirror_odp_get()/mirror_odp_set() convert. 0 means
 * "not mirrored". The lockless hints read @meta alone, which holds every
 * flag and the order.
 */
#define MIRROR_ODP_M_PFN_HI	GENMASK(7, 0)
#define MIRROR_ODP_M_VALID	BIT(8)
#define MIRROR_ODP_M_WRITE	BIT(9)
#define MIRROR_ODP_M_DIRTY	BIT(10)
#define MIRROR_ODP_M_ORDER	GENMASK(15, 11)
#define MIRROR_ODP_PFN_BITS	40

/*
 * An entry's bit saying the device has written the page: invalidate()
 * then marks the page dirty, so that writeback and reclaim do not lose
 * what the device wrote. In the unsigned long form it lies between the
 * largest pfn we store (40 bits) and HMM's flags, which newer kernels
 * extend downwards: mirror_odp_check_layout() fails the build if they
 * ever reach it.
 */
#define MIRROR_ODP_DIRTY_BIT	48
#define MIRROR_ODP_DIRTY	BIT(MIRROR_ODP_DIRTY_BIT)

static inline void mirror_odp_check_layout(void)
{
	BUILD_BUG_ON(MIRROR_ODP_DIRTY & HMM_PFN_FLAGS);
	BUILD_BUG_ON(MIRROR_ODP_DIRTY_BIT < MIRROR_ODP_PFN_BITS);
	BUILD_BUG_ON(sizeof(unsigned long) < 8);
}

/* The unsigned long form of @meta and @lo (0: not mirrored). */
static unsigned long mirror_odp_decode(u16 meta, u32 lo)
{
	unsigned long e;

	if (!(meta & MIRROR_ODP_M_VALID))
		return 0;
	e = lo | ((unsigned long)FIELD_GET(MIRROR_ODP_M_PFN_HI, meta) << 32) |
	    HMM_PFN_VALID |
	    ((unsigned long)FIELD_GET(MIRROR_ODP_M_ORDER, meta) <<
	     HMM_PFN_ORDER_SHIFT);
	if (meta & MIRROR_ODP_M_WRITE)
		e |= HMM_PFN_WRITE;
	if (meta & MIRROR_ODP_M_DIRTY)
		e |= MIRROR_ODP_DIRTY;
	return e;
}

/* Entry @idx; a consistent read needs odp->lock. */
static unsigned long mirror_odp_get(struct mirror_odp *odp, unsigned long idx)
{
	return mirror_odp_decode(READ_ONCE(odp->meta[idx]),
				 READ_ONCE(odp->pfn_lo[idx]));
}

/*
 * Entry @idx read without the lock, for its flags and order only (a
 * hint): the pfn's low 32 bits are left out.
 */
static unsigned long mirror_odp_peek(struct mirror_odp *odp, unsigned long idx)
{
	return mirror_odp_decode(READ_ONCE(odp->meta[idx]), 0);
}

/*
 * Stores @e (odp->lock held). Return: 0, or -EFAULT for a pfn wider than
 * an entry holds.
 */
static int mirror_odp_set(struct mirror_odp *odp, unsigned long idx,
			  unsigned long e)
{
	unsigned long pfn = e & ~(HMM_PFN_FLAGS | MIRROR_ODP_DIRTY);
	u16 meta = 0;

	if (e & HMM_PFN_VALID) {
		if (pfn >> MIRROR_ODP_PFN_BITS)
			return -EFAULT;
		meta = FIELD_PREP(MIRROR_ODP_M_PFN_HI, pfn >> 32) |
		       MIRROR_ODP_M_VALID |
		       FIELD_PREP(MIRROR_ODP_M_ORDER, hmm_pfn_to_map_order(e));
		if (e & HMM_PFN_WRITE)
			meta |= MIRROR_ODP_M_WRITE;
		if (e & MIRROR_ODP_DIRTY)
			meta |= MIRROR_ODP_M_DIRTY;
	} else {
		pfn = 0;
	}
	WRITE_ONCE(odp->pfn_lo[idx], lower_32_bits(pfn));
	WRITE_ONCE(odp->meta[idx], meta);
	return 0;
}

/*
 * One hmm_range_fault() call covers at most one aligned block of this
 * size, so a THP or a 2 MiB hugetlb page is one fault.
 */
#define MIRROR_ODP_BLOCK	PMD_SIZE
#define MIRROR_ODP_BLOCK_PAGES	(MIRROR_ODP_BLOCK >> PAGE_SHIFT)

/*
 * The mirror page tables one user context may hold, in MiB. 0, the
 * default, means 1/32 of the machine's memory: a context can mirror about
 * 21 times the memory (6 bytes of table per 4 KiB page), and no single
 * process can fill the kernel with tables (they are also charged to its
 * memory cgroup).
 */
static unsigned int max_odp_table_mb;
module_param(max_odp_table_mb, uint, 0644);
MODULE_PARM_DESC(max_odp_table_mb,
		 "Mirror page-table memory per user context, MiB (0: RAM/32)");

/**
 * mirror_odp_table_limit() - the mirror page-table bytes a context may hold
 *
 * Return: bytes.
 */
u64 mirror_odp_table_limit(void)
{
	unsigned int mb = READ_ONCE(max_odp_table_mb);

	if (mb)
		return (u64)mb << 20;
	return ((u64)totalram_pages() << PAGE_SHIFT) >> 5;
}

static bool mirror_odp_entry_ok(unsigned long e, bool write)
{
	return (e & HMM_PFN_VALID) && (!write || (e & HMM_PFN_WRITE));
}

static struct page *mirror_odp_entry_page(unsigned long e)
{
	return hmm_pfn_to_page(e & ~MIRROR_ODP_DIRTY);
}

/* Bytes an entry's CPU mapping covers (a whole THP/hugetlb page). */
static unsigned long mirror_odp_entry_size(unsigned long e)
{
	if (IS_ENABLED(CONFIG_HIGHMEM))
		return PAGE_SIZE;	/* pages are mapped one at a time */
	return PAGE_SIZE << hmm_pfn_to_map_order(e);
}

/**
 * mirror_odp_lookup() - map the mirrored page holding @va
 * @odp: the mirror; its lock is held and stays held while the returned
 *	address is used
 * @va: user address inside the mirror
 * @write: the caller will write
 * @chunk: gets the bytes mapped contiguously from @va (to the end of the
 *	page, or of the huge mapping the page belongs to)
 *
 * Return: the kernel address of @va (release with kunmap_local()), or NULL
 * when the page is not mirrored, or only read-only for a write.
 */
void *mirror_odp_lookup(struct mirror_odp *odp, unsigned long va, bool write,
			u32 *chunk)
{
	unsigned long idx = (va - odp->start) >> PAGE_SHIFT;
	unsigned long e, size, end;

	lockdep_assert_held(&odp->lock);
	/* Callers stay inside (mirror_mr_check()); never read past the end. */
	if (WARN_ON_ONCE(va < odp->start || va >= odp->end))
		return NULL;
	e = mirror_odp_get(odp, idx);
	if (!mirror_odp_entry_ok(e, write))
		return NULL;
	if (write && !(e & MIRROR_ODP_DIRTY))
		WRITE_ONCE(odp->meta[idx], odp->meta[idx] | MIRROR_ODP_M_DIRTY);
	size = mirror_odp_entry_size(e);
	end = min(ALIGN_DOWN(va, size) + size, odp->end);
	*chunk = min_t(unsigned long, end - va, SZ_1G);
	return kmap_local_page(mirror_odp_entry_page(e)) + offset_in_page(va);
}

/*
 * Finds the first page of [va, va + len) not mirrored (writably, for
 * @write) and stores its address in *miss. A hint, read without the
 * lock: an entry seen valid may be cleared right after, which whoever
 * uses the page notices under the lock (and faults again). Keeps the
 * common case, everything mirrored, free of locking.
 */
static bool mirror_odp_missing(struct mirror_odp *odp, unsigned long va,
			       unsigned long len, bool write,
			       unsigned long *miss)
{
	unsigned long a = ALIGN_DOWN(va, PAGE_SIZE), end = va + len, e;
	unsigned long all = (odp->end - odp->start) >> PAGE_SHIFT;

	/* Everything mirrored (the steady state): nothing to walk. */
	if ((write ? READ_ONCE(odp->nwritable) : READ_ONCE(odp->npresent)) ==
	    all)
		return false;
	while (a < end) {
		e = mirror_odp_peek(odp, (a - odp->start) >> PAGE_SHIFT);
		if (!mirror_odp_entry_ok(e, write)) {
			*miss = a;
			return true;
		}
		a = ALIGN_DOWN(a, mirror_odp_entry_size(e)) +
		    mirror_odp_entry_size(e);
	}
	return false;
}

/*
 * Stores one entry from HMM's output. Return: 1 when the page was not
 * mirrored before (or only read-only and is writable now), 0 otherwise,
 * -EFAULT when its pfn does not fit an entry.
 */
static int mirror_odp_store(struct mirror_odp *odp, unsigned long idx,
			    unsigned long e)
{
	unsigned long old = mirror_odp_get(odp, idx);
	bool was_w = (old & HMM_PFN_VALID) && (old & HMM_PFN_WRITE);
	bool is_w = e & HMM_PFN_WRITE;
	int err;

	/*
	 * An entry still present has not been invalidated since it was
	 * published, so it names the same page: keep its dirty bit.
	 */
	err = mirror_odp_set(odp, idx, e | (old & MIRROR_ODP_DIRTY));
	if (err)
		return err;
	if (is_w != was_w)
		WRITE_ONCE(odp->nwritable, odp->nwritable + (is_w ? 1 : -1));
	if (!(old & HMM_PFN_VALID)) {
		WRITE_ONCE(odp->npresent, odp->npresent + 1);
		return 1;
	}
	return is_w && !was_w;
}

/*
 * Publishes hmm_range_fault()'s output for [start, end); odp->lock held.
 * A huge mapping is published over its whole block, clipped to the
 * mirror. *newly gets the pages that became (writably) mirrored.
 * Return: 0, or -EFAULT when a page does not fit an entry (the pages
 * before it stay published).
 */
static int mirror_odp_publish(struct mirror_odp *odp, unsigned long start,
			      unsigned long end, const unsigned long *hmm_pfns,
			      unsigned long *newly)
{
	unsigned long va, i, done_to = start;
	int r;

	lockdep_assert_held(&odp->lock);
	for (va = start, i = 0; va < end; va += PAGE_SIZE, i++) {
		unsigned long e = hmm_pfns[i], size, first, last, a, pfn;

		if (!(e & HMM_PFN_VALID) || (e & HMM_PFN_ERROR))
			continue;
		size = mirror_odp_entry_size(e);
		if (size == PAGE_SIZE || va < done_to) {
			if (va >= done_to) {
				r = mirror_odp_store(odp,
					(va - odp->start) >> PAGE_SHIFT, e);
				if (r < 0)
					return r;
				*newly += r;
			}
			continue;
		}
		/* The whole block of a huge mapping, once. */
		first = max(ALIGN_DOWN(va, size), odp->start);
		last = min(ALIGN_DOWN(va, size) + size, odp->end);
		pfn = (e & ~HMM_PFN_FLAGS) - ((va - first) >> PAGE_SHIFT);
		for (a = first; a < last; a += PAGE_SIZE, pfn++) {
			r = mirror_odp_store(odp, (a - odp->start) >> PAGE_SHIFT,
					     pfn | (e & HMM_PFN_FLAGS));
			if (r < 0)
				return r;
			*newly += r;
		}
		done_to = last;
	}
	return 0;
}

/*
 * A fault that keeps losing its range to invalidations gives up after
 * HMM_RANGE_DEFAULT_TIMEOUT, as the kernel's own ODP does, but not before
 * this many attempts: on a starved host (a guest whose vCPU waits for the
 * CPU for long stretches) a second can pass in a few attempts, and the
 * sequence is the MR's, so any change anywhere in it restarts ours.
 */
#define MIRROR_ODP_MIN_TRIES	32

/*
 * The one fault helper (ODP rule 1), for [start, end) inside one block:
 * read_begin -> hmm_range_fault under mmap_read_lock -> odp->lock ->
 * read_retry -> publish, or start over. *newly gets the pages that became
 * mirrored, *retries the restarts.
 */
static int mirror_odp_fault_block(struct mirror_odp *odp, struct mm_struct *mm,
				  unsigned long start, unsigned long end,
				  unsigned int flags, unsigned long *hmm_pfns,
				  unsigned long *newly, u32 *retries)
{
	unsigned long timeout = jiffies +
				msecs_to_jiffies(HMM_RANGE_DEFAULT_TIMEOUT);
	struct hmm_range range = {
		.notifier = &odp->notifier,
		.start = start,
		.end = end,
		.hmm_pfns = hmm_pfns,
		.pfn_flags_mask = 0,
	};
	int ret;

	mirror_odp_check_layout();

	if (flags & MIRROR_ODP_FAULT)
		range.default_flags = HMM_PFN_REQ_FAULT;
	if (flags & MIRROR_ODP_WRITE)
		range.default_flags |= HMM_PFN_REQ_WRITE;

	for (;;) {
		/*
		 * hmm_range_fault() may read per-page input flags from the
		 * array (pfn_flags_mask, 0 here, says it does not today):
		 * never hand it stale output.
		 */
		memset(hmm_pfns, 0, ((end - start) >> PAGE_SHIFT) *
		       sizeof(*hmm_pfns));
		range.notifier_seq = mmu_interval_read_begin(&odp->notifier);
		mmap_read_lock(mm);
		ret = hmm_range_fault(&range);
		mmap_read_unlock(mm);
		if (!ret) {
			mutex_lock(&odp->lock);
			if (!mmu_interval_read_retry(&odp->notifier,
						     range.notifier_seq))
				break;
			mutex_unlock(&odp->lock);
			ret = -EBUSY;
		}
		if (ret != -EBUSY)
			return ret;
		/* The range changed under us: start over, for a while. */
		(*retries)++;
		if (time_after(jiffies, timeout) &&
		    *retries >= MIRROR_ODP_MIN_TRIES)
			return -EBUSY;
		cond_resched();
	}
	ret = mirror_odp_publish(odp, start, end, hmm_pfns, newly);
	mutex_unlock(&odp->lock);
	return ret;
}

/**
 * mirror_odp_fault() - mirror [va, va + len) of @odp
 * @odp: the mirror; its lock must not be held
 * @va: first user address (clipped to the mirror)
 * @len: bytes
 * @flags: MIRROR_ODP_FAULT to fault missing pages in (else only what is
 *	present is mirrored, the snapshot of registration and of
 *	PREFETCH_NO_FAULT), MIRROR_ODP_WRITE for writable entries,
 *	MIRROR_ODP_PREFETCH when ibv_advise_mr() asks (stops early when the
 *	MR is being destroyed)
 *
 * Blocks already mirrored as needed are skipped. May sleep.
 *
 * Return: 0, -EFAULT when a page cannot be mirrored with the access asked
 * for (no VMA, no permission, the process is gone), -EBUSY when the range
 * kept changing, -ENOMEM.
 */
static int mirror_odp_fault(struct mirror_odp *odp, unsigned long va,
			    unsigned long len, unsigned int flags)
{
	struct mirror_mr *mr = odp->mr;
	bool fault = flags & MIRROR_ODP_FAULT;
	unsigned long start, end, bstart, bend, newly, *hmm_pfns;
	struct mm_struct *mm = odp->notifier.mm;
	u32 retries = 0;
	u64 t0;
	int err = 0;

	start = max(ALIGN_DOWN(va, PAGE_SIZE), odp->start);
	end = min(ALIGN(va + len, PAGE_SIZE), odp->end);
	if (start >= end)
		return 0;
	/* The common case: everything is mirrored already. */
	if (fault && !mirror_odp_missing(odp, start, end - start,
					 flags & MIRROR_ODP_WRITE, &start))
		return 0;
	hmm_pfns = mirror_fail_alloc() ? NULL :
		   kmalloc_array(MIRROR_ODP_BLOCK_PAGES, sizeof(*hmm_pfns),
				 GFP_KERNEL);
	if (!hmm_pfns)
		return -ENOMEM;
	if (!mmget_not_zero(mm)) {
		kfree(hmm_pfns);
		return -EFAULT;
	}
	for (bstart = start; bstart < end && !err; bstart = bend) {
		bend = min(ALIGN_DOWN(bstart, MIRROR_ODP_BLOCK) +
			   MIRROR_ODP_BLOCK, end);
		if ((flags & MIRROR_ODP_PREFETCH) && READ_ONCE(mr->dying))
			break;
		if (fault && !mirror_odp_missing(odp, bstart, bend - bstart,
						 flags & MIRROR_ODP_WRITE,
						 &bstart))
			continue;

		trace_mirror_odp_fault_begin(mr->ibmr.lkey, bstart, bend,
					     flags);
		t0 = ktime_get_ns();
		newly = 0;
		retries = 0;
		err = mirror_odp_fault_block(odp, mm, bstart, bend, flags,
					     hmm_pfns, &newly, &retries);
		t0 = ktime_get_ns() - t0;
		trace_mirror_odp_fault_end(mr->ibmr.lkey, bstart, bend, err,
					   newly, retries, t0);
		mirror_odp_count(mr, MIRROR_MR_CNT_FAULT_RETRIES, retries);
		if (fault) {
			mirror_odp_count(mr, MIRROR_MR_CNT_FAULTS, 1);
			mirror_odp_count(mr, MIRROR_MR_CNT_PAGES_FAULTED, newly);
			mirror_odp_count_latency(mr, t0);
		}
	}
	/* The last user reference may go here; never tear down inline. */
	mmput_async(mm);
	kfree(hmm_pfns);
	if (err && err != -EBUSY && err != -ENOMEM)
		err = -EFAULT;
	return err;
}

static void mirror_child_queue_removal(struct mirror_odp *odp);

/*
 * Clears entries [first, last) (odp->lock held) and returns how many were
 * mirrored. A page the device wrote is marked dirty first, with
 * set_page_dirty(): an invalidating caller may hold the page lock.
 */
static unsigned long mirror_odp_clear(struct mirror_odp *odp,
				      unsigned long first, unsigned long last)
{
	unsigned long i, e, cleared = 0, clearedw = 0;

	lockdep_assert_held(&odp->lock);
	for (i = first; i < last; i++) {
		e = mirror_odp_get(odp, i);
		if (!e)
			continue;
		if (e & MIRROR_ODP_DIRTY)
			set_page_dirty(mirror_odp_entry_page(e));
		mirror_odp_set(odp, i, 0);
		cleared++;
		clearedw += !!(e & HMM_PFN_WRITE);
	}
	WRITE_ONCE(odp->npresent, odp->npresent - cleared);
	WRITE_ONCE(odp->nwritable, odp->nwritable - clearedw);
	return cleared;
}

/*
 * ODP rule 2: the CPU page tables of [range->start, range->end) are about
 * to change. Clear our entries under the lock the data path holds while
 * it uses them, after recording the new sequence for the fault helper.
 */
static bool mirror_odp_invalidate(struct mmu_interval_notifier *mni,
				  const struct mmu_notifier_range *range,
				  unsigned long cur_seq)
{
	struct mirror_odp *odp = container_of(mni, struct mirror_odp,
					      notifier);
	unsigned long start = max(range->start, odp->start);
	unsigned long end = min(range->end, odp->end);
	unsigned long first, last, e, cleared = 0;

	if (mmu_notifier_range_blockable(range))
		mutex_lock(&odp->lock);
	else if (!mutex_trylock(&odp->lock))
		return false;
	mmu_interval_set_seq(mni, cur_seq);
	if (start >= end)
		goto out;

	first = (ALIGN_DOWN(start, PAGE_SIZE) - odp->start) >> PAGE_SHIFT;
	last = (ALIGN(end, PAGE_SIZE) - odp->start) >> PAGE_SHIFT;
	/*
	 * An entry of a huge mapping vouches for its whole block: when the
	 * range cuts a block, clear all of it.
	 */
	e = mirror_odp_get(odp, first);
	if (e && mirror_odp_entry_size(e) > PAGE_SIZE)
		first = (max(ALIGN_DOWN(odp->start + (first << PAGE_SHIFT),
					mirror_odp_entry_size(e)),
			     odp->start) - odp->start) >> PAGE_SHIFT;
	e = mirror_odp_get(odp, last - 1);
	if (e && mirror_odp_entry_size(e) > PAGE_SIZE)
		last = (min(ALIGN(odp->start + (last << PAGE_SHIFT),
				  mirror_odp_entry_size(e)),
			    odp->end) - odp->start) >> PAGE_SHIFT;

	cleared = mirror_odp_clear(odp, first, last);
	/*
	 * A child emptied by an unmap goes away later (ODP rule 7): never
	 * insert or remove notifiers here.
	 */
	if (odp->child && range->event == MMU_NOTIFY_UNMAP && !odp->npresent)
		mirror_child_queue_removal(odp);
out:
	mutex_unlock(&odp->lock);
	mirror_odp_count(odp->mr, MIRROR_MR_CNT_INVALIDATIONS, 1);
	mirror_odp_count(odp->mr, MIRROR_MR_CNT_PAGES_INVALIDATED, cleared);
	trace_mirror_odp_invalidate(odp->mr->ibmr.lkey, range->start,
				    range->end, cleared, range->event);
	return true;
}

static const struct mmu_interval_notifier_ops mirror_odp_ops = {
	.invalidate = mirror_odp_invalidate,
};

/* What the allocator gave for @n bytes at @p (kvcalloc()). */
static size_t mirror_kv_size(const void *p, size_t n)
{
	return is_vmalloc_addr(p) ? PAGE_ALIGN(n) : ksize(p);
}

/* Memory one mirror uses: the struct and its entries (allocator sizes). */
static u64 mirror_odp_bytes(struct mirror_odp *odp)
{
	unsigned long npages = (odp->end - odp->start) >> PAGE_SHIFT;

	return ksize(odp) +
	       mirror_kv_size(odp->pfn_lo, npages * sizeof(*odp->pfn_lo)) +
	       mirror_kv_size(odp->meta, npages * sizeof(*odp->meta));
}

/* What a mirror of @npages counts against its context's limit. */
static u64 mirror_odp_charge_bytes(unsigned long npages)
{
	return sizeof(struct mirror_odp) +
	       npages * (sizeof(u32) + sizeof(u16));
}

/*
 * Counts @bytes of mirror page tables against the MR's user context
 * (kernel MRs have none): the per-context cap of mirror_odp_table_limit().
 */
static int mirror_odp_charge(struct mirror_mr *mr, u64 bytes)
{
	struct mirror_ucontext *uc = mr->uctx;

	if (!uc)
		return 0;
	if (atomic64_add_return(bytes, &uc->odp_table_bytes) >
	    mirror_odp_table_limit()) {
		atomic64_sub(bytes, &uc->odp_table_bytes);
		return -ENOMEM;
	}
	return 0;
}

static void mirror_odp_uncharge(struct mirror_mr *mr, u64 bytes)
{
	if (mr->uctx)
		atomic64_sub(bytes, &mr->uctx->odp_table_bytes);
}

static void mirror_child_remove_work(struct work_struct *work);
static void mirror_child_free_work(struct work_struct *work);

/*
 * A mirror of [start, end) of @mm, for @mr. The notifier is inserted;
 * nothing is mirrored yet. Its memory is charged to the MR's context
 * (and, by the caller's choice of memory cgroup, to the process). A child
 * starts as a candidate with @removing set, so that an unmap before it is
 * published in the MR's xarray queues no removal (mirror_child_get()).
 */
static struct mirror_odp *mirror_odp_alloc(struct mirror_mr *mr,
					   struct mm_struct *mm,
					   unsigned long start,
					   unsigned long end, bool child)
{
	unsigned long npages = (end - start) >> PAGE_SHIFT;
	struct mirror_odp *odp;
	int err;

	err = mirror_odp_charge(mr, mirror_odp_charge_bytes(npages));
	if (err)
		return ERR_PTR(err);
	odp = mirror_fail_alloc() ? NULL : kzalloc(sizeof(*odp),
						    GFP_KERNEL_ACCOUNT);
	if (!odp) {
		err = -ENOMEM;
		goto err_uncharge;
	}
	odp->mr = mr;
	odp->start = start;
	odp->end = end;
	odp->child = child;
	mutex_init(&odp->lock);
	kref_init(&odp->ref);
	atomic_set(&odp->removing, child);
	INIT_WORK(&odp->work, mirror_child_remove_work);
	INIT_WORK(&odp->free_work, mirror_child_free_work);
	odp->pfn_lo = mirror_fail_alloc() ? NULL :
		      kvcalloc(npages, sizeof(*odp->pfn_lo), GFP_KERNEL_ACCOUNT);
	odp->meta = mirror_fail_alloc() ? NULL :
		    kvcalloc(npages, sizeof(*odp->meta), GFP_KERNEL_ACCOUNT);
	if (!odp->pfn_lo || !odp->meta) {
		err = -ENOMEM;
		goto err_free_pfns;
	}
	err = mmu_interval_notifier_insert(&odp->notifier, mm, start,
					   end - start, &mirror_odp_ops);
	if (err)
		goto err_free_pfns;
	mirror_count_add(to_mirror_dev(mr->ibmr.device),
			 MIRROR_CNT_ODP_MIRROR_BYTES, mirror_odp_bytes(odp));
	return odp;

err_free_pfns:
	kvfree(odp->meta);
	kvfree(odp->pfn_lo);
	mutex_destroy(&odp->lock);
	kfree(odp);
err_uncharge:
	mirror_odp_uncharge(mr, mirror_odp_charge_bytes(npages));
	return ERR_PTR(err);
}

/* Stops mirroring: hands the device's writes over, removes the notifier. */
static void mirror_odp_free(struct mirror_odp *odp)
{
	/* Pages still mirrored are still mapped: hand their dirt over. */
	mutex_lock(&odp->lock);
	mirror_odp_clear(odp, 0, (odp->end - odp->start) >> PAGE_SHIFT);
	mutex_unlock(&odp->lock);
	/* Waits for a running invalidate(); drops the mm. */
	mmu_interval_notifier_remove(&odp->notifier);
	atomic64_sub(mirror_odp_bytes(odp),
		     &to_mirror_dev(odp->mr->ibmr.device)
		     ->counters[MIRROR_CNT_ODP_MIRROR_BYTES]);
	mirror_odp_uncharge(odp->mr, mirror_odp_charge_bytes(
				(odp->end - odp->start) >> PAGE_SHIFT));
	kvfree(odp->meta);
	kvfree(odp->pfn_lo);
	mutex_destroy(&odp->lock);
}

/**
 * mirror_odp_create() - make @mr a mirror of [start, start + length)
 * @mr: the MR being registered
 * @start: user address of the range
 * @length: bytes
 *
 * Inserts the interval notifier on the current process's mm and mirrors
 * the pages already present, faulting nothing in.
 *
 * Return: 0, -EFAULT for a range outside the user address space, -ENOMEM.
 */
int mirror_odp_create(struct mirror_mr *mr, u64 start, u64 length)
{
	struct mirror_odp *odp;

	if (!access_ok((void __user *)(uintptr_t)start, length))
		return -EFAULT;
	odp = mirror_odp_alloc(mr, current->mm, ALIGN_DOWN(start, PAGE_SIZE),
			       ALIGN(start + length, PAGE_SIZE), false);
	if (IS_ERR(odp))
		return PTR_ERR(odp);
	mr->odp = odp;
	mr->odp_va = start;
	/* The snapshot is best effort: a page it misses faults later. */
	mirror_odp_fault(odp, odp->start, odp->end - odp->start, 0);
	return 0;
}

/*
 * Implicit MRs (ODP rule 7). The root covers the user address space;
 * children of MIRROR_CHILD_SIZE, aligned, are created on the first fault
 * in their range and each has its own notifier and page table.
 *
 * Why 16 MiB: a child's entries are then 16 + 8 KiB (6 B per 4 KiB page,
 * order-2 and order-1 allocations that rarely need vmalloc), and its
 * fixed cost (struct, notifier, xarray slot, about 600 B) adds under
 * 0.2 B per mirrored page; a program that touches scattered addresses
 * pays 24 KiB per 16 MiB region touched. 2 MiB children would cost a
 * notifier and a creation per 512 pages (and 7 B per page); 1 GiB
 * children would cost 1.5 MiB of entries for a single touched page. Children are multiples of
 * the 2 MiB fault block, so a THP never straddles two children.
 */
#define MIRROR_CHILD_SHIFT	24
#define MIRROR_CHILD_SIZE	(1UL << MIRROR_CHILD_SHIFT)
/* Children of one MR beyond which a new one waits for pending removals. */
#define MIRROR_CHILDREN_SOFT_MAX	32
/* Times one fault goes again after its child was removed under it. */
#define MIRROR_CHILD_RELINKS	4

/*
 * One child of @mr is gone. The count drops and the waiter is woken under
 * the wait queue's lock, and dereg takes that lock once it sees zero: so
 * no one touches @mr after dereg has gone on to free it.
 */
static void mirror_child_gone(struct mirror_mr *mr)
{
	spin_lock(&mr->children_wq.lock);
	if (atomic_dec_and_test(&mr->nchildren))
		wake_up_locked(&mr->children_wq);
	spin_unlock(&mr->children_wq.lock);
}

static void mirror_child_free_work(struct work_struct *work)
{
	struct mirror_odp *odp = container_of(work, struct mirror_odp,
					      free_work);
	struct mirror_mr *mr = odp->mr;
	struct mirror_dev *dev = to_mirror_dev(mr->ibmr.device);

	mirror_odp_free(odp);
	mirror_odp_count(mr, MIRROR_MR_CNT_CHILDREN_DESTROYED, 1);
	atomic64_dec(&dev->counters[MIRROR_CNT_ODP_CHILDREN_LIVE]);
	kfree_rcu(odp, rcu);
	mirror_child_gone(mr);
}

/*
 * The last reference is gone. Removing a notifier sleeps and must not
 * run inside another notifier's callback, so freeing is work.
 */
static void mirror_child_release(struct kref *ref)
{
	struct mirror_odp *odp = container_of(ref, struct mirror_odp, ref);

	queue_work(to_mirror_dev(odp->mr->ibmr.device)->odp_wq,
		   &odp->free_work);
}

/**
 * mirror_odp_put() - drop a reference from mirror_mr_odp_get()
 * @odp: the mirror (nothing happens for an explicit MR's)
 */
void mirror_odp_put(struct mirror_odp *odp)
{
	if (odp && odp->child)
		kref_put(&odp->ref, mirror_child_release);
}

/* Takes the child out of the xarray (if it is still there) for good. */
static void mirror_child_unlink(struct mirror_odp *odp)
{
	if (xa_cmpxchg(&odp->mr->children, odp->index, odp, NULL, 0) == odp)
		mirror_odp_put(odp);	/* the xarray's reference */
}

/*
 * After a fault on a child: one that mirrors nothing (the fault failed, or
 * found nothing to snapshot) leaves the xarray, so that probing unmapped
 * addresses costs no memory. The test and the unlink are one step under
 * the child's lock, which a fault holds to publish: either the fault's
 * entries are seen and the child stays, or it was unlinked before they
 * landed. Returns true in that last case: the child mirrors pages but is
 * no longer the MR's, so they are lost with it (the fault goes again).
 */
static bool mirror_child_drop_if_empty(struct mirror_odp *odp)
{
	bool lost = false;

	mutex_lock(&odp->lock);
	if (!odp->npresent)
		mirror_child_unlink(odp);	/* the caller keeps a reference */
	else
		lost = xa_load(&odp->mr->children, odp->index) != odp;
	mutex_unlock(&odp->lock);
	return lost;
}

/* Deferred removal of a child emptied by an unmap. */
static void mirror_child_remove_work(struct work_struct *work)
{
	struct mirror_odp *odp = container_of(work, struct mirror_odp, work);

	/*
	 * A fault that refilled it meanwhile keeps it. One that comes after
	 * the unlink creates a new child; a fault still holding this one is
	 * safe: its notifier stays until the last reference is gone.
	 */
	mirror_child_drop_if_empty(odp);
	atomic_set(&odp->removing, 0);
	mirror_odp_put(odp);	/* the work's reference */
}

/* From invalidate(), odp->lock held: no sleeping, no notifier changes. */
static void mirror_child_queue_removal(struct mirror_odp *odp)
{
	if (atomic_xchg(&odp->removing, 1))
		return;
	if (!kref_get_unless_zero(&odp->ref)) {
		atomic_set(&odp->removing, 0);
		return;		/* already on its way out */
	}
	/* Initialised once (mirror_odp_alloc()): it may still be running. */
	queue_work(to_mirror_dev(odp->mr->ibmr.device)->odp_wq, &odp->work);
}

/* The child at @index, with a reference, or NULL. */
static struct mirror_odp *mirror_child_lookup(struct mirror_mr *mr,
					      unsigned long index)
{
	struct mirror_odp *odp;

	rcu_read_lock();
	odp = xa_load(&mr->children, index);
	if (odp && !kref_get_unless_zero(&odp->ref))
		odp = NULL;
	rcu_read_unlock();
	return odp;
}

/*
 * The child covering @va, created when missing. Two creators may race:
 * the xarray's cmpxchg picks one, the other frees its child. A candidate
 * has its notifier inserted (so that no change of the range is missed
 * between its first fault and publication) but stays marked removing
 * until it is published: an unmap in that window queues no removal work
 * on a child that may lose and be freed.
 *
 * Its memory is charged to the process that registered the MR, whoever
 * faults (a peer's request runs in a kworker).
 */
static struct mirror_odp *mirror_child_get(struct mirror_mr *mr,
					   unsigned long va)
{
	struct mm_struct *mm = mr->mm;
	unsigned long index = va >> MIRROR_CHILD_SHIFT, start, end;
	struct mem_cgroup *memcg;
	struct mirror_odp *odp, *old;
	int err;

	if (va >= mm->task_size)
		return ERR_PTR(-EFAULT);
	for (;;) {
		odp = mirror_child_lookup(mr, index);
		if (odp)
			return odp;
		/*
		 * Children emptied by unmaps go away in work. A process that
		 * maps, touches and unmaps faster than the work runs would
		 * pile them up: past a few, let the pending removals finish
		 * first (they never wait for anything a fault holds).
		 */
		if (atomic_read(&mr->nchildren) >= MIRROR_CHILDREN_SOFT_MAX)
			flush_workqueue(to_mirror_dev(mr->ibmr.device)->odp_wq);
		start = index << MIRROR_CHILD_SHIFT;
		end = min(start + MIRROR_CHILD_SIZE, mm->task_size & PAGE_MASK);
		if (!mmget_not_zero(mm))
			return ERR_PTR(-EFAULT);	/* the process is gone */
		memcg = set_active_memcg(mr->memcg);
		odp = mirror_odp_alloc(mr, mm, start, end, true);
		mmput_async(mm);
		if (IS_ERR(odp)) {
			set_active_memcg(memcg);
			return odp;
		}
		odp->index = index;
		kref_get(&odp->ref);	/* the caller's; the first is the xarray's */
		atomic_inc(&mr->nchildren);
		old = xa_cmpxchg(&mr->children, index, NULL, odp,
				 GFP_KERNEL_ACCOUNT);
		set_active_memcg(memcg);
		if (!old) {
			/* Published: from now on an unmap may remove it. */
			atomic_set(&odp->removing, 0);
			mirror_odp_count(mr, MIRROR_MR_CNT_CHILDREN_CREATED, 1);
			atomic64_inc(&to_mirror_dev(mr->ibmr.device)
				     ->counters[MIRROR_CNT_ODP_CHILDREN_LIVE]);
			return odp;
		}
		/* Lost the race (or no memory): ours was never seen. */
		err = xa_is_err(old) ? xa_err(old) : 0;
		mirror_odp_free(odp);
		kfree(odp);
		mirror_child_gone(mr);
		if (err)
			return ERR_PTR(err);
	}
}

/**
 * mirror_mr_odp_get() - the mirror covering @va of an ODP MR, if any
 * @mr: an ODP MR
 * @va: user address
 *
 * Creates nothing: a missing child means "fault first"
 * (mirror_mr_odp_fault() creates it).
 *
 * Return: the mirror (release with mirror_odp_put()) or NULL.
 */
struct mirror_odp *mirror_mr_odp_get(struct mirror_mr *mr, unsigned long va)
{
	if (!mr->implicit)
		return mr->odp;
	if (va >= mr->mm->task_size)
		return NULL;
	return mirror_child_lookup(mr, va >> MIRROR_CHILD_SHIFT);
}

/**
 * mirror_mr_odp_present() - is [va, va + len) of an ODP MR mirrored now?
 * @mr: an ODP MR
 * @va: first user address
 * @len: bytes
 * @write: writably
 * @miss: gets an address at or before the first page that is not
 *
 * A hint, read without the mirrors' locks (see mirror_odp_missing()):
 * whoever uses a page checks it again under the lock.
 *
 * Return: true when every page of the range is mirrored as asked.
 */
bool mirror_mr_odp_present(struct mirror_mr *mr, unsigned long va,
			   unsigned long len, bool write, unsigned long *miss)
{
	unsigned long end = va + len, next;
	struct mirror_odp *odp;
	bool gap;

	for (; va < end; va = next) {
		odp = mirror_mr_odp_get(mr, va);
		if (!odp) {
			*miss = va;
			return false;
		}
		next = min(end, odp->end);
		gap = mirror_odp_missing(odp, va, next - va, write, miss);
		mirror_odp_put(odp);
		if (gap)
			return false;
	}
	return true;
}

/**
 * mirror_mr_odp_fault() - mirror_odp_fault() for a range of an ODP MR
 * @mr: the MR (explicit or implicit)
 * @va: first user address
 * @len: bytes
 * @flags: as for mirror_odp_fault()
 *
 * For an implicit MR, walks the children of the range, creating them.
 *
 * Return: as mirror_odp_fault().
 */
int mirror_mr_odp_fault(struct mirror_mr *mr, unsigned long va,
			unsigned long len, unsigned int flags)
{
	unsigned long end = va + len, next;
	struct mirror_odp *odp;
	u32 relinks = 0;
	int err = 0;

	if (!mr->implicit)
		return mirror_odp_fault(mr->odp, va, len, flags);
	if (end < va)
		return -EFAULT;
	for (; va < end && !err; va = next) {
		next = min(ALIGN_DOWN(va, MIRROR_CHILD_SIZE) + MIRROR_CHILD_SIZE,
			   end);
		odp = mirror_child_get(mr, va);
		if (IS_ERR(odp))
			return PTR_ERR(odp);
		err = mirror_odp_fault(odp, va, next - va, flags);
		/*
		 * The child an earlier unmap emptied may have been unlinked
		 * by its removal work while we filled it: what we mirrored
		 * there goes with it. Fault the range again on a new child,
		 * a few times (each new unlink needs a new unmap).
		 */
		if (mirror_child_drop_if_empty(odp) && !err &&
		    ++relinks <= MIRROR_CHILD_RELINKS)
			next = va;
		mirror_odp_put(odp);
	}
	return err;
}

/**
 * mirror_odp_create_implicit() - make @mr an implicit ODP MR
 * @mr: the MR being registered over the whole address space
 *
 * Nothing is mirrored, and no memory is used, until the first fault.
 *
 * Return: 0.
 */
int mirror_odp_create_implicit(struct mirror_mr *mr)
{
	mr->implicit = true;
	xa_init(&mr->children);
	atomic_set(&mr->nchildren, 0);
	init_waitqueue_head(&mr->children_wq);
	mr->mm = current->mm;
	mmgrab(mr->mm);
	mr->memcg = get_mem_cgroup_from_mm(mr->mm);
	mr->odp_va = 0;
	/*
	 * The user address space, as this process has it: keys are checked
	 * against it, so no lookup goes past the last child.
	 */
	mr->length = mr->mm->task_size;
	return 0;
}

/**
 * mirror_odp_destroy() - stop mirroring (the MR has no users any more)
 * @mr: the MR
 *
 * For an implicit MR this unlinks every child and waits until all of
 * them, with removal work in flight, are freed.
 */
void mirror_odp_destroy(struct mirror_mr *mr)
{
	struct mirror_odp *odp;
	unsigned long index;

	if (!mr->implicit) {
		mirror_odp_free(mr->odp);
		kfree(mr->odp);
		mr->odp = NULL;
		return;
	}
	/*
	 * Removal work may unlink and free a child meanwhile: touch a child
	 * only once the cmpxchg has handed us the xarray's reference, and
	 * name its slot by the iteration's index, not by the child.
	 */
	xa_for_each(&mr->children, index, odp)
		if (xa_cmpxchg(&mr->children, index, odp, NULL, 0) == odp)
			mirror_odp_put(odp);
	wait_event(mr->children_wq, !atomic_read(&mr->nchildren));
	/* The last mirror_child_gone() has left the lock (and @mr) alone. */
	spin_lock(&mr->children_wq.lock);
	spin_unlock(&mr->children_wq.lock);
	xa_destroy(&mr->children);
	mem_cgroup_put(mr->memcg);
	mmdrop(mr->mm);
}

/* One byte per page of [va, va + n pages) of one mirror, under its lock. */
static void mirror_odp_states(struct mirror_odp *odp, unsigned long va,
			      unsigned long n, u8 *out)
{
	unsigned long i, e;

	mutex_lock(&odp->lock);
	for (i = 0; i < n; i++, va += PAGE_SIZE) {
		out[i] = 0;
		if (va < odp->start || va >= odp->end)
			continue;
		e = mirror_odp_get(odp, (va - odp->start) >> PAGE_SHIFT);
		if (!(e & HMM_PFN_VALID))
			continue;
		out[i] = MIRROR_PAGE_READ;
		if (e & HMM_PFN_WRITE)
			out[i] |= MIRROR_PAGE_WRITE;
		if (hmm_pfn_to_map_order(e))
			out[i] |= MIRROR_PAGE_HUGE;
	}
	mutex_unlock(&odp->lock);
}

/**
 * mirror_mr_odp_states() - which pages of an ODP MR are mirrored now
 * @mr: the MR
 * @va: first user address (page aligned)
 * @n: pages
 * @out: one MIRROR_PAGE_* byte per page
 *
 * Faults nothing in and creates no children.
 */
void mirror_mr_odp_states(struct mirror_mr *mr, unsigned long va,
			  unsigned long n, u8 *out)
{
	unsigned long step;
	struct mirror_odp *odp;

	while (n) {
		step = n;
		if (mr->implicit)
			step = min(n, (ALIGN_DOWN(va, MIRROR_CHILD_SIZE) +
				       MIRROR_CHILD_SIZE - va) >> PAGE_SHIFT);
		odp = mirror_mr_odp_get(mr, va);
		if (odp)
			mirror_odp_states(odp, va, step, out);
		else
			memset(out, 0, step);
		mirror_odp_put(odp);
		va += step << PAGE_SHIFT;
		out += step;
		n -= step;
	}
}
