// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_mcast.c - multicast groups of UD QPs.
 *
 * RoCEv2 multicast is IP multicast: a UD datagram sent to a multicast GID
 * (an IPv4-mapped 224.0.0.0/4 address, or an IPv6 ff00::/8 one) with the
 * destination QPN 0xFFFFFF goes out as a UDP datagram to that IP group,
 * and every QP attached to the group on a receiving device gets a copy.
 *
 * attach_mcast and detach_mcast keep the device's table of groups (RCU
 * lists, read by the receive path, mirror_net.c). The first attachment to
 * a group joins the IP group on the netdev, the last one leaves it, so
 * that the IP stack takes the group's datagrams off the link; ip_mc_output
 * loops a copy of what the device sends back to it, which is how QPs of
 * the sending device itself receive. Everything sent to a multicast
 * address that no QP here is attached to, or not as a UD datagram to QPN
 * 0xFFFFFF, is dropped and counted (rx_drop_mcast).
 */
#include <linux/igmp.h>
#include <linux/inetdevice.h>
#include <linux/jhash.h>
#include <net/addrconf.h>
#include <rdma/ib_addr.h>

#include "mirror.h"

static struct hlist_head *mirror_mcast_bucket(struct mirror_dev *dev,
					      const union ib_gid *mgid)
{
	u32 h = jhash(mgid->raw, sizeof(mgid->raw), 0);

	return &dev->mcast_hash[h % MIRROR_MCAST_BUCKETS];
}

/**
 * mirror_mcast_find() - the group of a multicast GID
 * @dev: the device
 * @mgid: the GID
 *
 * Under rcu_read_lock() (the receive path), or with mcast_lock held.
 *
 * Return: the group, or NULL when no QP of the device is attached to it.
 */
struct mirror_mcast *mirror_mcast_find(struct mirror_dev *dev,
				       const union ib_gid *mgid)
{
	struct mirror_mcast *g;

	hlist_for_each_entry_rcu(g, mirror_mcast_bucket(dev, mgid), node,
				 lockdep_is_held(&dev->mcast_lock))
		if (!memcmp(g->mgid.raw, mgid->raw, sizeof(mgid->raw)))
			return g;
	return NULL;
}

/*
 * Joins (or leaves) the IP group of @mgid on the netdev, so that the IP
 * stack accepts (or no longer accepts) its datagrams for our socket.
 */
static int mirror_mcast_ip(struct mirror_dev *dev, const union ib_gid *mgid,
			   bool join)
{
	const struct in6_addr *a6 = (const struct in6_addr *)mgid->raw;
	struct in_device *in_dev;
	int err = 0;

	rtnl_lock();
	if (ipv6_addr_v4mapped(a6)) {
		in_dev = __in_dev_get_rtnl(dev->ndev);
		if (!in_dev)
			err = -ENODEV;
		else if (join)
			ip_mc_inc_group(in_dev, a6->s6_addr32[3]);
		else
			ip_mc_dec_group(in_dev, a6->s6_addr32[3]);
	} else if (IS_ENABLED(CONFIG_IPV6)) {
		if (join)
			err = ipv6_dev_mc_inc(dev->ndev, a6);
		else
			err = ipv6_dev_mc_dec(dev->ndev, a6);
	} else {
		err = -EAFNOSUPPORT;
	}
	rtnl_unlock();
	return err;
}

/**
 * mirror_attach_mcast() - attach a UD QP to a multicast group
 * @ibqp: the QP (ib_core has checked it is UD and @gid multicast)
 * @gid: the group's GID
 * @lid: unused on RoCE
 *
 * Return: 0 (also when the QP is attached already); -EINVAL for a QP that
 * is not UD or a GID that is not multicast; -ENOMEM past the caps
 * (MIRROR_MAX_MCAST_GRP groups, MIRROR_MAX_MCAST_QP_ATTACH QPs per group,
 * MIRROR_MAX_MCAST_TOTAL in all); the error of the IP join.
 */
int mirror_attach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid)
{
	struct mirror_dev *dev = to_mirror_dev(ibqp->device);
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	struct mirror_mcast_qp *m;
	struct mirror_mcast *g;
	int err = 0;

	if (ibqp->qp_type != IB_QPT_UD ||
	    !rdma_is_multicast_addr((struct in6_addr *)gid->raw))
		return -EINVAL;
	mutex_lock(&dev->mcast_lock);
	g = mirror_mcast_find(dev, gid);
	if (g) {
		list_for_each_entry(m, &g->qps, node)
			if (m->qp == qp)
				goto out_unlock;
	}
	if (dev->num_mcast_attach >= MIRROR_MAX_MCAST_TOTAL ||
	    (g && g->nqps >= MIRROR_MAX_MCAST_QP_ATTACH) ||
	    (!g && dev->num_mcast_groups >= MIRROR_MAX_MCAST_GRP)) {
		err = -ENOMEM;
		goto out_unlock;
	}
	m = kzalloc(sizeof(*m), GFP_KERNEL_ACCOUNT);
	if (!m) {
		err = -ENOMEM;
		goto out_unlock;
	}
	m->qp = qp;
	if (!g) {
		g = kzalloc(sizeof(*g), GFP_KERNEL_ACCOUNT);
		if (!g) {
			err = -ENOMEM;
			goto err_free_m;
		}
		g->mgid = *gid;
		INIT_LIST_HEAD(&g->qps);
		err = mirror_mcast_ip(dev, gid, true);
		if (err) {
			kfree(g);
			goto err_free_m;
		}
		hlist_add_head_rcu(&g->node, mirror_mcast_bucket(dev, gid));
		dev->num_mcast_groups++;
	}
	list_add_tail_rcu(&m->node, &g->qps);
	g->nqps++;
	dev->num_mcast_attach++;
	goto out_unlock;

err_free_m:
	kfree(m);
out_unlock:
	mutex_unlock(&dev->mcast_lock);
	return err;
}

/**
 * mirror_detach_mcast() - detach a QP from a multicast group
 * @ibqp: the QP
 * @gid: the group's GID
 * @lid: unused on RoCE
 *
 * Returns once no receive path can still see the attachment, so that
 * ib_core may destroy the QP at once.
 *
 * Return: 0, or -EINVAL when the QP is not attached to @gid.
 */
int mirror_detach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid)
{
	struct mirror_dev *dev = to_mirror_dev(ibqp->device);
	struct mirror_qp *qp = to_mirror_qp(ibqp);
	struct mirror_mcast_qp *m, *found = NULL;
	struct mirror_mcast *g;
	bool leave = false;

	mutex_lock(&dev->mcast_lock);
	g = mirror_mcast_find(dev, gid);
	if (g) {
		list_for_each_entry(m, &g->qps, node) {
			if (m->qp == qp) {
				found = m;
				break;
			}
		}
	}
	if (!found) {
		mutex_unlock(&dev->mcast_lock);
		return -EINVAL;
	}
	list_del_rcu(&found->node);
	g->nqps--;
	dev->num_mcast_attach--;
	if (!g->nqps) {
		hlist_del_rcu(&g->node);
		dev->num_mcast_groups--;
		/* A failed leave leaves only a membership the stack counts. */
		mirror_mcast_ip(dev, gid, false);
		leave = true;
	}
	mutex_unlock(&dev->mcast_lock);
	/* No receive path reads the entry (and its QP) after this. */
	synchronize_rcu();
	kfree(found);
	if (leave)
		kfree(g);
	return 0;
}
