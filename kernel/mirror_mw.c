// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_mw.c - memory windows: a range of an MR, with remote access
 * flags of its own, that a consumer grants a peer and takes back without
 * registering anything.
 *
 * A window is an entry of the device's key table like an MR (a struct
 * mirror_mr of type MIRROR_MR_MW, its handle drawn from the same space),
 * so that one lookup of an rkey finds either. Its key is an rkey only: a
 * local SGE naming it is refused (mirror_segs_add()). A BIND_MW WQE (the
 * requester, mirror_sq_local_op()) gives it a range of an MR of the same
 * PD that allows MW_BIND, access flags and a key (the same handle, the key
 * byte the consumer chose); each access by a peer resolves the window
 * again, where it happens, to its MR and range (mirror_mw_take()).
 *
 *  type 1: ibv_bind_mw() binds it (a rebind replaces the binding, one of
 *          length 0 leaves it bound to nothing); any QP of its PD may
 *          serve it; it cannot be invalidated.
 *  type 2: IBV_WR_BIND_MW binds it while it is unbound, to the QP that
 *          posted it (type 2B): only that QP's peer may use it.
 *          IBV_WR_LOCAL_INV on a QP of its PD, or a SEND with Invalidate
 *          arriving at that QP, unbinds it.
 *
 * A bound window counts in its MR's bound_mws, and dereg of an MR with
 * bound windows fails (-EBUSY), so the MR a binding names stays
 * registered; the device's mw_lock makes the count and dereg's check
 * exclusive. An unbinding takes effect for every access resolved after
 * it: a packet being copied at that moment finishes into the MR, which
 * is still registered and still the consumer's.
 */
#include "mirror.h"

/* The access a window grants. */
#define MIRROR_MW_REMOTE	(IB_ACCESS_REMOTE_READ | \
				 IB_ACCESS_REMOTE_WRITE | \
				 IB_ACCESS_REMOTE_ATOMIC)
/*
 * The flags a bind may carry: local write means nothing for a window but
 * is commonly passed (rdma-core's tests do); ZERO_BASED is refused.
 */
#define MIRROR_MW_BIND_FLAGS	(MIRROR_MW_REMOTE | IB_ACCESS_LOCAL_WRITE)

/**
 * mirror_alloc_mw() - allocate a memory window (ibv_alloc_mw())
 * @ibmw: the ib_core MW: its PD and type (1 or 2) are set
 * @udata: unused
 *
 * The window is unbound: its rkey, returned in @ibmw, grants nothing yet.
 *
 * Return: 0, -EINVAL for another type, -ENOMEM past MIRROR_MAX_MW, or
 * -EBUSY when no free key handle was found.
 */
int mirror_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibmw->device);
	struct mirror_mw *mw = to_mirror_mw(ibmw);
	struct mirror_mr *win;
	int err;

	if (ibmw->type != IB_MW_TYPE_1 && ibmw->type != IB_MW_TYPE_2)
		return -EINVAL;
	if (atomic_inc_return(&dev->num_mws) > MIRROR_MAX_MW) {
		err = -ENOMEM;
		goto err_count;
	}
	win = kzalloc(sizeof(*win), GFP_KERNEL_ACCOUNT);
	if (!win) {
		err = -ENOMEM;
		goto err_count;
	}
	kref_init(&win->ref);
	init_completion(&win->released);
	win->type = MIRROR_MR_MW;
	win->ibmr.pd = ibmw->pd;
	win->ibmr.device = ibmw->device;
	spin_lock_init(&win->win.lock);
	win->win.type = ibmw->type;
	err = mirror_mr_publish(dev, win);
	if (err)
		goto err_free;
	mw->win = win;
	ibmw->rkey = win->ibmr.rkey;
	return 0;

err_free:
	kfree(win);
err_count:
	atomic_dec(&dev->num_mws);
	return err;
}

/*
 * Takes the window's binding away: no lookup resolved after this reaches
 * the MR. Returns the MR it was bound to, whose count the caller drops
 * (mirror_mw_release_parent()) once the window's lock is released.
 */
static struct mirror_mr *mirror_mw_unbind_locked(struct mirror_mr *win)
{
	struct mirror_mr *parent = win->win.parent;

	lockdep_assert_held(&win->win.lock);
	win->win.parent = NULL;
	win->win.length = 0;
	win->win.access = 0;
	win->win.qp_uid = 0;
	return parent;
}

/* The window that counted in @parent's bound_mws is gone from it. */
static void mirror_mw_release_parent(struct mirror_dev *dev,
				     struct mirror_mr *parent)
{
	if (!parent)
		return;
	spin_lock_bh(&dev->mw_lock);
	parent->bound_mws--;
	spin_unlock_bh(&dev->mw_lock);
}

/**
 * mirror_dealloc_mw() - free a memory window, bound or not
 * @ibmw: the MW
 *
 * Return: 0.
 */
int mirror_dealloc_mw(struct ib_mw *ibmw)
{
	struct mirror_dev *dev = to_mirror_dev(ibmw->device);
	struct mirror_mr *win = to_mirror_mw(ibmw)->win;
	struct mirror_mr *parent;

	/*
	 * Unpublished first: a bind found the window before it may still
	 * bind it, and is done once this returns; none can start after.
	 */
	mirror_mr_unpublish(dev, win);
	spin_lock_bh(&win->win.lock);
	parent = mirror_mw_unbind_locked(win);
	spin_unlock_bh(&win->win.lock);
	mirror_mw_release_parent(dev, parent);
	kfree_rcu_mightsleep(win);
	atomic_dec(&dev->num_mws);
	return 0;
}

/* A type 1 bind of length 0 leaves the window bound to nothing. */
static bool mirror_mw_is_unbind(struct mirror_mr *win,
				const struct mirror_wqe_bind *b)
{
	return win->win.type == IB_MW_TYPE_1 && !b->length;
}

/*
 * Checks a bind against the window, the MR and the QP (IBA 10.6.7.2):
 * the MR of the QP's PD, not a window, with MW_BIND access; the range in
 * the MR; remote write or atomic access only over an MR that allows local
 * write; a type 2 window unbound and given a key of its own handle.
 */
static bool mirror_mw_bind_ok(struct mirror_qp *qp, struct mirror_mr *win,
			      struct mirror_mr *mr,
			      const struct mirror_wqe_bind *b)
{
	if (b->access & ~MIRROR_MW_BIND_FLAGS)
		return false;
	if ((b->new_rkey >> 8) != win->handle)
		return false;
	if (win->win.type == IB_MW_TYPE_2 && win->win.parent)
		return false;
	if (mirror_mw_is_unbind(win, b))
		return true;
	if (!mr)
		return false;
	if (mr->type != MIRROR_MR_USER && mr->type != MIRROR_MR_ODP)
		return false;
	if (mr->ibmr.pd != qp->ibqp.pd || !(mr->access & IB_ACCESS_MW_BIND))
		return false;
	if ((b->access & (IB_ACCESS_REMOTE_WRITE | IB_ACCESS_REMOTE_ATOMIC)) &&
	    !(mr->access & IB_ACCESS_LOCAL_WRITE))
		return false;
	return !mirror_mr_check(mr, b->addr, b->length, 0);
}

/**
 * mirror_mw_bind() - run a BIND_MW WQE
 * @qp: the QP it was posted on (req_lock held): a user RC or UC QP
 * @b: the kernel's copy of the WQE's bind fields
 *
 * Return: IB_WC_SUCCESS; IB_WC_MW_BIND_ERR when the window (named by its
 * current rkey, of the QP's PD) or the MR (by its lkey) is not found, or
 * mirror_mw_bind_ok() refuses the binding.
 */
enum ib_wc_status mirror_mw_bind(struct mirror_qp *qp,
				 const struct mirror_wqe_bind *b)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	enum ib_wc_status status = IB_WC_MW_BIND_ERR;
	struct mirror_mr *win, *mr = NULL, *old = NULL, *parent;

	win = mirror_mr_get(dev, b->mw_rkey);
	if (!win)
		return status;
	if (win->type != MIRROR_MR_MW || win->ibmr.pd != qp->ibqp.pd)
		goto out_put_win;
	if (b->mr_lkey) {
		mr = mirror_mr_get(dev, b->mr_lkey);
		if (!mr)
			goto out_put_win;
	}

	spin_lock_bh(&win->win.lock);
	/* The key it was named by may have changed since the lookup. */
	if (win->key != b->mw_rkey || !mirror_mw_bind_ok(qp, win, mr, b))
		goto out_unlock;
	parent = mirror_mw_is_unbind(win, b) ? NULL : mr;
	if (parent) {
		spin_lock_bh(&dev->mw_lock);
		if (parent->dying) {
			spin_unlock_bh(&dev->mw_lock);
			goto out_unlock;
		}
		parent->bound_mws++;
		spin_unlock_bh(&dev->mw_lock);
	}
	old = mirror_mw_unbind_locked(win);
	win->win.parent = parent;
	win->win.iova = b->addr;
	win->win.length = parent ? b->length : 0;
	win->win.access = parent ? b->access & MIRROR_MW_REMOTE : 0;
	win->win.qp_uid = win->win.type == IB_MW_TYPE_2 ? qp->uid : 0;
	WRITE_ONCE(win->key, b->new_rkey);
	status = IB_WC_SUCCESS;
out_unlock:
	spin_unlock_bh(&win->win.lock);
	mirror_mw_release_parent(dev, old);
	if (status == IB_WC_SUCCESS)
		mirror_count(dev, MIRROR_CNT_MW_BIND);
	if (mr)
		mirror_mr_put(mr);
out_put_win:
	mirror_mr_put(win);
	return status;
}

/**
 * mirror_mw_take() - the MR behind a window, for one access by a peer
 * @win: the window (a lookup's reference held)
 * @pd: the PD of the QP serving the access
 * @qp_uid: that QP's uid
 * @iova: first byte
 * @len: bytes
 * @access: IB_ACCESS_REMOTE_* needed
 *
 * Return: the MR the window is bound to, referenced (mirror_mr_put());
 * ERR_PTR(-EINVAL) for an unbound window, one of another PD or, type 2,
 * bound through another QP; -EACCES or -ERANGE as mirror_mr_check() for
 * what the window does not grant.
 */
struct mirror_mr *mirror_mw_take(struct mirror_mr *win, struct ib_pd *pd,
				 u64 qp_uid, u64 iova, u64 len, int access)
{
	struct mirror_window *w = &win->win;
	struct mirror_mr *parent = ERR_PTR(-EINVAL);

	spin_lock_bh(&w->lock);
	if (!w->parent || win->ibmr.pd != pd ||
	    (w->type == IB_MW_TYPE_2 && w->qp_uid != qp_uid))
		goto out;
	if (access & ~w->access) {
		parent = ERR_PTR(-EACCES);
		goto out;
	}
	if (len && (iova < w->iova || iova + len < iova ||
		    iova + len > w->iova + w->length)) {
		parent = ERR_PTR(-ERANGE);
		goto out;
	}
	/* Bound: the MR counts the window, so it is not deregistered. */
	parent = w->parent;
	kref_get(&parent->ref);
out:
	spin_unlock_bh(&w->lock);
	return parent;
}

/* LOCAL_INV or SEND with Invalidate of a window (see the file comment). */
static int mirror_mw_invalidate(struct mirror_dev *dev, struct mirror_qp *qp,
				struct mirror_mr *win, u32 key, bool remote)
{
	struct mirror_mr *parent = NULL;
	int err = -EINVAL;

	spin_lock_bh(&win->win.lock);
	if (win->win.type == IB_MW_TYPE_2 && win->win.parent &&
	    win->key == key && win->ibmr.pd == qp->ibqp.pd &&
	    (!remote || win->win.qp_uid == qp->uid)) {
		parent = mirror_mw_unbind_locked(win);
		err = 0;
	}
	spin_unlock_bh(&win->win.lock);
	mirror_mw_release_parent(dev, parent);
	if (!err)
		mirror_count(dev, MIRROR_CNT_MW_INV);
	return err;
}

/**
 * mirror_key_invalidate() - IB_WR_LOCAL_INV, or a SEND with Invalidate
 * @qp: the QP it was posted on, or that the SEND arrived at
 * @key: the rkey to invalidate
 * @remote: a SEND with Invalidate (a type 2 window must be bound
 *	through @qp)
 *
 * The key names a fast-registration MR of the QP's PD registered now
 * (kernel consumers, mirror_mr_invalidate()) or a bound type 2 window of
 * that PD.
 *
 * Return: 0, or -EINVAL when it names neither.
 */
int mirror_key_invalidate(struct mirror_qp *qp, u32 key, bool remote)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_mr *mr = mirror_mr_get(dev, key);
	int err;

	if (!mr)
		return -EINVAL;
	if (mr->type == MIRROR_MR_MW)
		err = mirror_mw_invalidate(dev, qp, mr, key, remote);
	else
		err = mirror_mr_invalidate(mr, qp->ibqp.pd);
	mirror_mr_put(mr);
	return err;
}
