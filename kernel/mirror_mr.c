// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_mr.c - memory regions: the DMA MR of kernel consumers, pinned
 * user MRs through ib_umem, and ODP MRs, which pin nothing and mirror the
 * process's page tables (mirror_odp.c).
 *
 * Keys. An lkey/rkey is (handle << 8) | key byte, the layout ib_core
 * assumes (ib_inc_rkey() changes only the low byte). Both parts are random:
 * the 24-bit handle is drawn at random among the free ones and finds the
 * MR in the device's hash table, the key byte must match too. So a key
 * tells nothing about the keys of other MRs: a peer that knows one of them
 * has to guess the other 32 bits of any other, with the MRs alive as its
 * only help (MIRROR_MAX_MR of 2^32 values at most). Sequential handles,
 * as an xarray allocation would give, would leave 8 bits to guess.
 */
#include <linux/random.h>
#include <rdma/uverbs_ioctl.h>

#include "mirror.h"

/* Handles are 24 bits; 0 is never used, so no key is below 256. */
#define MIRROR_KEY_HANDLE_MAX	((1U << 24) - 1)
/* Draws before giving up on finding a free handle (never near in use). */
#define MIRROR_KEY_DRAWS	32

/* The device's table of MRs, by key handle. */
const struct rhashtable_params mirror_mr_ht_params = {
	.key_len = sizeof(u32),
	.key_offset = offsetof(struct mirror_mr, handle),
	.head_offset = offsetof(struct mirror_mr, node),
	.automatic_shrinking = true,
};

static void mirror_mr_release(struct kref *ref)
{
	complete(&container_of(ref, struct mirror_mr, ref)->released);
}

/*
 * The MR of key handle @handle, referenced; with @match, only if its
 * current key is @key.
 */
static struct mirror_mr *mirror_mr_find(struct mirror_dev *dev, u32 handle,
					u32 key, bool match)
{
	struct mirror_mr *mr;

	rcu_read_lock();
	mr = rhashtable_lookup(&dev->mr_ht, &handle, mirror_mr_ht_params);
	/* The acquire pairs with the release of mirror_mr_fast_reg(). */
	if (mr && ((match && smp_load_acquire(&mr->key) != key) ||
		   !kref_get_unless_zero(&mr->ref)))
		mr = NULL;
	rcu_read_unlock();
	return mr;
}

/**
 * mirror_mr_get() - find an MR by lkey/rkey and take a reference
 * @dev: the device
 * @key: the full key; its key byte must match too
 *
 * Return: the MR, to be released with mirror_mr_put(), or NULL.
 */
struct mirror_mr *mirror_mr_get(struct mirror_dev *dev, u32 key)
{
	return mirror_mr_find(dev, key >> 8, key, true);
}

/**
 * mirror_mr_put() - drop a reference taken by mirror_mr_get()
 * @mr: the MR
 */
void mirror_mr_put(struct mirror_mr *mr)
{
	kref_put(&mr->ref, mirror_mr_release);
}

/* Allocates an MR; it gets its key when mirror_mr_publish() makes it known. */
static struct mirror_mr *mirror_mr_alloc(struct mirror_dev *dev,
					 struct ib_pd *ibpd, int access)
{
	struct mirror_mr *mr;

	if (atomic_inc_return(&dev->num_mrs) > MIRROR_MAX_MR) {
		atomic_dec(&dev->num_mrs);
		return ERR_PTR(-ENOMEM);
	}
	mr = kzalloc(sizeof(*mr), GFP_KERNEL_ACCOUNT);
	if (!mr) {
		atomic_dec(&dev->num_mrs);
		return ERR_PTR(-ENOMEM);
	}
	kref_init(&mr->ref);
	init_completion(&mr->released);
	mr->access = access;
	mr->ibmr.pd = ibpd;
	mr->ibmr.device = ibpd->device;
	return mr;
}

/* Frees an MR that was never published. */
static void mirror_mr_free_unpublished(struct mirror_dev *dev,
				       struct mirror_mr *mr)
{
	kfree(mr);
	atomic_dec(&dev->num_mrs);
}

/**
 * mirror_mr_publish() - draw the key of a complete MR or window and
 *	make it known
 * @dev: the device
 * @mr: the MR (or a window, mirror_mw.c), its type set
 *
 * Until this returns no lookup can find it, and its key is known to
 * nobody, so a handle taken by another MR is simply drawn again.
 *
 * Return: 0, or -EBUSY when no free handle was drawn.
 */
int mirror_mr_publish(struct mirror_dev *dev, struct mirror_mr *mr)
{
	int tries, err = -EBUSY;

	for (tries = 0; tries < MIRROR_KEY_DRAWS; tries++) {
		mr->handle = get_random_u32_inclusive(1, MIRROR_KEY_HANDLE_MAX);
		mr->ibmr.lkey = (mr->handle << 8) | get_random_u8();
		mr->ibmr.rkey = mr->ibmr.lkey;
		/* A fast MR has no valid key until its first REG_MR. */
		mr->key = mr->type == MIRROR_MR_FAST ? 0 : mr->ibmr.lkey;
		err = rhashtable_lookup_insert_fast(&dev->mr_ht, &mr->node,
						    mirror_mr_ht_params);
		if (err != -EEXIST)
			break;
	}
	return err == -EEXIST ? -EBUSY : err;
}

/**
 * mirror_mr_unpublish() - no lookup finds the MR (or window) any more
 * @dev: the device
 * @mr: a published MR; its own reference is dropped
 *
 * Returns once the references lookups took are dropped too: nothing of
 * the data path uses @mr after this, and it may be freed (after an RCU
 * grace period: a lookup may still be reading the table).
 */
void mirror_mr_unpublish(struct mirror_dev *dev, struct mirror_mr *mr)
{
	rhashtable_remove_fast(&dev->mr_ht, &mr->node, mirror_mr_ht_params);
	mirror_mr_put(mr);
	wait_for_completion(&mr->released);
}

/**
 * mirror_get_dma_mr() - the MR kernel consumers use for kernel memory
 * @ibpd: the PD
 * @access: IB_ACCESS_* flags
 *
 * Return: the MR or an ERR_PTR.
 */
struct ib_mr *mirror_get_dma_mr(struct ib_pd *ibpd, int access)
{
	struct mirror_dev *dev = to_mirror_dev(ibpd->device);
	struct mirror_mr *mr;

	int err;

	mr = mirror_mr_alloc(dev, ibpd, access);
	if (IS_ERR(mr))
		return ERR_CAST(mr);
	mr->type = MIRROR_MR_DMA;
	mr->iova = 0;
	mr->length = U64_MAX;
	err = mirror_mr_publish(dev, mr);
	if (err) {
		mirror_mr_free_unpublished(dev, mr);
		return ERR_PTR(err);
	}
	return &mr->ibmr;
}

/* Remembers the pinned pages in order, for mirror_mem.c's lookups. */
static int mirror_mr_collect_pages(struct mirror_mr *mr, struct ib_umem *umem)
{
	struct sg_page_iter iter;
	unsigned long i = 0;

	mr->npages = ib_umem_num_pages(umem);
	mr->pages = kvcalloc(mr->npages, sizeof(*mr->pages), GFP_KERNEL);
	if (!mr->pages)
		return -ENOMEM;
	for_each_sgtable_page(&umem->sgt_append.sgt, &iter, 0) {
		if (WARN_ON_ONCE(i >= mr->npages))
			break;
		mr->pages[i++] = sg_page_iter_page(&iter);
	}
	mr->page_offset = ib_umem_offset(umem);
	return 0;
}

/* An ODP MR: a mirror of [start, start + length), nothing pinned. */
static struct ib_mr *mirror_reg_odp_mr(struct mirror_dev *dev,
				       struct mirror_ucontext *uctx,
				       struct ib_pd *ibpd, u64 start,
				       u64 length, u64 iova, int access)
{
	struct mirror_mr *mr;
	int err;

	mr = mirror_mr_alloc(dev, ibpd, access);
	if (IS_ERR(mr))
		return ERR_CAST(mr);
	mr->uctx = uctx;
	mr->type = MIRROR_MR_ODP;
	mr->iova = iova;
	mr->length = length;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;
	if (!start && length == U64_MAX)
		err = mirror_odp_create_implicit(mr);
	else
		err = mirror_odp_create(mr, start, length);
	if (err)
		goto err_free_mr;
	err = mirror_mr_publish(dev, mr);
	if (err)
		goto err_destroy_odp;
	mirror_dbg_mr(mr, "ODP, %llu bytes at 0x%llx\n", length, iova);
	return &mr->ibmr;

err_destroy_odp:
	mirror_odp_destroy(mr);
err_free_mr:
	mirror_mr_free_unpublished(dev, mr);
	return ERR_PTR(err);
}

/**
 * mirror_reg_user_mr() - register user memory: pin it, or mirror it (ODP)
 * @ibpd: the PD
 * @start: user virtual address
 * @length: bytes
 * @iova: the address the region is known by on the wire
 * @access: IB_ACCESS_* flags (ib_core has checked their combination);
 *	with IB_ACCESS_ON_DEMAND nothing is pinned and the range need not
 *	be mapped yet
 * @udata: unused
 *
 * An ODP registration of start 0 and length U64_MAX (what
 * ibv_reg_mr(pd, NULL, SIZE_MAX, IBV_ACCESS_ON_DEMAND) sends) is an
 * implicit MR over the whole user address space.
 *
 * Return: the MR, or ERR_PTR(-EINVAL) for an empty, overflowing or too
 * large range, ERR_PTR(-EFAULT) for (pinned) memory that is not mapped
 * with the needed permission, or for a range outside the user address
 * space.
 */
struct ib_mr *mirror_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				 u64 iova, int access, struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibpd->device);
	struct mirror_ucontext *uctx = NULL;
	struct ib_umem *umem;
	struct mirror_mr *mr;
	int err;

	if (udata)
		uctx = rdma_udata_to_drv_context(udata, struct mirror_ucontext,
						 ibuc);
	if ((access & IB_ACCESS_ON_DEMAND) && !uctx)
		return ERR_PTR(-EOPNOTSUPP);	/* ODP mirrors a process */
	/* Implicit ODP: the whole user address space, at iova 0. */
	if ((access & IB_ACCESS_ON_DEMAND) && !start && length == U64_MAX) {
		if (iova)
			return ERR_PTR(-EINVAL);
		return mirror_reg_odp_mr(dev, uctx, ibpd, 0, U64_MAX, 0,
					 access);
	}
	if (!length || length > MIRROR_MAX_MR_SIZE || start + length < start ||
	    iova + length < iova)
		return ERR_PTR(-EINVAL);
	if (access & IB_ACCESS_ON_DEMAND)
		return mirror_reg_odp_mr(dev, uctx, ibpd, start, length, iova,
					 access);

	umem = ib_umem_get(ibpd->device, start, length, access);
	if (IS_ERR(umem))
		return ERR_CAST(umem);

	mr = mirror_mr_alloc(dev, ibpd, access);
	if (IS_ERR(mr)) {
		err = PTR_ERR(mr);
		goto err_release_umem;
	}
	err = mirror_mr_collect_pages(mr, umem);
	if (err)
		goto err_free_mr;
	mr->type = MIRROR_MR_USER;
	mr->umem = umem;
	mr->iova = iova;
	mr->length = length;
	mr->ibmr.iova = iova;
	mr->ibmr.length = length;
	err = mirror_mr_publish(dev, mr);
	if (err)
		goto err_free_pages;
	mirror_dbg_mr(mr, "%llu bytes at 0x%llx\n", length, iova);
	return &mr->ibmr;

err_free_pages:
	kvfree(mr->pages);
err_free_mr:
	mirror_mr_free_unpublished(dev, mr);
err_release_umem:
	ib_umem_release(umem);
	return ERR_PTR(err);
}

/**
 * mirror_dereg_mr() - destroy an MR once nothing uses it any more
 * @ibmr: the MR
 * @udata: unused
 *
 * Return: 0, or -EBUSY while memory windows are bound to the MR (IBA
 * 10.6.7.2.6): it stays registered, and can be deregistered once they
 * are unbound or freed.
 */
int mirror_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibmr->device);
	struct mirror_mr *mr = to_mirror_mr(ibmr);

	spin_lock_bh(&dev->mw_lock);
	if (mr->bound_mws) {
		spin_unlock_bh(&dev->mw_lock);
		return -EBUSY;
	}
	/* No window binds to it now; prefetch work stops early. */
	WRITE_ONCE(mr->dying, true);
	spin_unlock_bh(&dev->mw_lock);
	mirror_mr_unpublish(dev, mr);
	if (mr->type == MIRROR_MR_ODP)
		mirror_odp_destroy(mr);
	kvfree(mr->fast.staged);
	kvfree(mr->fast.pages);
	kvfree(mr->pages);
	if (mr->umem)
		ib_umem_release(mr->umem);
	kfree_rcu_mightsleep(mr);
	atomic_dec(&dev->num_mrs);
	return 0;
}

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

/*
 * Fast registration (FRWR), for kernel consumers. alloc_mr() makes an MR
 * with a key (its lkey/rkey) that nothing may use yet; ib_map_mr_sg()
 * stages a page list; an IB_WR_REG_MR posted on a QP of the MR's PD gives
 * the MR that list, an iova, a length, access flags and a key (the same
 * handle, the key byte the consumer chose); IB_WR_LOCAL_INV, or a peer's
 * SEND with Invalidate, takes them away again. The key a lookup must
 * match (mr->key) is 0 while there is no registration, so a peer holding
 * an old key finds nothing; an invalidation also waits for copies already
 * mapping one of the pages (one page's memcpy: mirror_mem.c), so that
 * when it completes the consumer may free them.
 */

/**
 * mirror_alloc_mr() - an MR for fast registration (kernel consumers)
 * @ibpd: the PD
 * @type: IB_MR_TYPE_MEM_REG only
 * @max_num_sg: the longest page list a registration may carry
 *
 * Return: the MR, ERR_PTR(-EINVAL) for another type or a list longer than
 * MIRROR_MAX_FAST_PAGES, or ERR_PTR(-ENOMEM).
 */
struct ib_mr *mirror_alloc_mr(struct ib_pd *ibpd, enum ib_mr_type type,
			      u32 max_num_sg)
{
	struct mirror_dev *dev = to_mirror_dev(ibpd->device);
	struct mirror_mr *mr;
	int err;

	if (type != IB_MR_TYPE_MEM_REG || !max_num_sg ||
	    max_num_sg > MIRROR_MAX_FAST_PAGES)
		return ERR_PTR(-EINVAL);
	mr = mirror_mr_alloc(dev, ibpd, 0);
	if (IS_ERR(mr))
		return ERR_CAST(mr);
	mr->type = MIRROR_MR_FAST;
	mr->fast.max = max_num_sg;
	mr->fast.staged = kvcalloc(max_num_sg, sizeof(u64), GFP_KERNEL);
	mr->fast.pages = kvcalloc(max_num_sg, sizeof(u64), GFP_KERNEL);
	if (!mr->fast.staged || !mr->fast.pages) {
		err = -ENOMEM;
		goto err_free;
	}
	err = mirror_mr_publish(dev, mr);
	if (err)
		goto err_free;
	return &mr->ibmr;

err_free:
	kvfree(mr->fast.staged);
	kvfree(mr->fast.pages);
	mirror_mr_free_unpublished(dev, mr);
	return ERR_PTR(err);
}

static int mirror_fast_set_page(struct ib_mr *ibmr, u64 addr)
{
	struct mirror_mr *mr = to_mirror_mr(ibmr);

	if (mr->fast.nstaged >= mr->fast.max)
		return -ENOMEM;
	mr->fast.staged[mr->fast.nstaged++] = addr;
	return 0;
}

/**
 * mirror_map_mr_sg() - stage the page list of the next registration
 * @ibmr: a fast-registration MR
 * @sg: DMA-mapped scatterlist (for a software device, addresses are
 *	kernel virtual addresses)
 * @sg_nents: entries in @sg
 * @sg_offset: offset into the first entry, or NULL
 *
 * Return: the entries of @sg mapped (ib_sg_to_pages()).
 */
int mirror_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		     unsigned int *sg_offset)
{
	struct mirror_mr *mr = to_mirror_mr(ibmr);

	if (mr->type != MIRROR_MR_FAST)
		return -EINVAL;
	mr->fast.nstaged = 0;
	return ib_sg_to_pages(ibmr, sg, sg_nents, sg_offset,
			      mirror_fast_set_page);
}

/* Takes the registration away: no lookup, then no copy, uses it. */
static void mirror_mr_fast_inv(struct mirror_mr *mr)
{
	WRITE_ONCE(mr->key, 0);
	/* Orders the store above before the reads of busy below. */
	smp_mb();
	while (atomic_read(&mr->fast.busy))
		cond_resched();
}

/*
 * The access a fast registration may grant: local write and the remote
 * accesses, a remote write or atomic only with local write (IBA 10.6.3.1);
 * relaxed ordering is a hint with no meaning here.
 */
static bool mirror_fast_access_ok(u32 access)
{
	u32 known = IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE |
		    IB_ACCESS_REMOTE_READ | IB_ACCESS_REMOTE_ATOMIC |
		    IB_ACCESS_RELAXED_ORDERING;

	if (access & ~known)
		return false;
	return !(access & (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)) ||
	       (access & IB_ACCESS_LOCAL_WRITE);
}

/**
 * mirror_mr_fast_reg() - run an IB_WR_REG_MR
 * @qp: the kernel QP it was posted on (mirror_sq_local_op() refuses user
 *	QPs)
 * @reg: the WR: which MR, its new key and access flags
 *
 * The MR takes the list ib_map_mr_sg() staged, and the iova and length
 * ib_core recorded then (or the iova the consumer set since).
 *
 * Return: IB_WC_SUCCESS; IB_WC_LOC_PROT_ERR for an MR of another PD or
 * type, one that is registered already, a key of another MR, access flags
 * it cannot have, or a length the list does not cover.
 */
enum ib_wc_status mirror_mr_fast_reg(struct mirror_qp *qp,
				     const struct mirror_reg_wr *reg)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	enum ib_wc_status status = IB_WC_LOC_PROT_ERR;
	struct mirror_mr *mr;
	u64 offset;
	u32 ps;

	/* Any key: a registration gives the MR its key. */
	mr = mirror_mr_find(dev, reg->handle, 0, false);
	if (!mr)
		return status;
	ps = mr->ibmr.page_size;
	if (!mirror_fast_access_ok(reg->access) ||
	    mr->type != MIRROR_MR_FAST || mr->ibmr.pd != qp->ibqp.pd ||
	    READ_ONCE(mr->key) || (reg->key >> 8) != mr->handle ||
	    !is_power_of_2(ps) || ps < SZ_4K || !mr->fast.nstaged)
		goto out;
	offset = mr->ibmr.iova & (ps - 1);
	if (!mr->ibmr.length ||
	    offset + mr->ibmr.length > (u64)mr->fast.nstaged * ps)
		goto out;
	memcpy(mr->fast.pages, mr->fast.staged,
	       mr->fast.nstaged * sizeof(u64));
	mr->fast.npages = mr->fast.nstaged;
	mr->fast.page_size = ps;
	WRITE_ONCE(mr->fast.gen, mr->fast.gen + 1);
	mr->iova = mr->ibmr.iova;
	mr->length = mr->ibmr.length;
	mr->page_offset = offset;
	mr->access = reg->access & ~IB_ACCESS_RELAXED_ORDERING;
	/* Everything above is seen by whoever finds the key. */
	smp_store_release(&mr->key, reg->key);
	mirror_count(dev, MIRROR_CNT_FAST_REG);
	status = IB_WC_SUCCESS;
out:
	mirror_mr_put(mr);
	return status;
}

/**
 * mirror_mr_invalidate() - end a fast registration (IB_WR_LOCAL_INV, or a
 *	SEND with Invalidate; mirror_key_invalidate() looked the key up)
 * @mr: the MR its key found (a reference held)
 * @pd: the PD of the QP asking: the MR must be of it
 *
 * Return: 0; -EINVAL when @mr is not a fast MR of @pd.
 */
int mirror_mr_invalidate(struct mirror_mr *mr, struct ib_pd *pd)
{
	if (mr->type != MIRROR_MR_FAST || mr->ibmr.pd != pd)
		return -EINVAL;
	mirror_mr_fast_inv(mr);
	return 0;
}
