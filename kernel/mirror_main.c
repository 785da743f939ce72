// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_main.c - module init/exit, "rdma link add ... type mirror", and the
 * netdev notifier that ties each device's life to its netdev.
 */
#include <linux/module.h>
#include <rdma/rdma_netlink.h>

#include "mirror.h"

MODULE_AUTHOR("The mirrorverbs authors");
MODULE_DESCRIPTION("Software RoCEv2 device with HMM-mirrored memory regions");
MODULE_LICENSE("GPL");
MODULE_ALIAS_RDMA_LINK("mirror");

/*
 * mirror_dev_lock protects mirror_dev_list and its devices' ->dead: every
 * mirror device from just before its registration until ib_core is done
 * with it. The list holds a reference on each device's struct device.
 *
 * dealloc_driver does not unlist its device but marks it dead: module exit
 * must not return while ib_core still runs that function of ours (from
 * ib_unregister_device_queued()'s work, say). The reaper, or module exit,
 * unlists a device only after ib_unregister_device() on it, which waits for
 * an unregistration in progress elsewhere (ib_core's unregistration_lock)
 * and does nothing once it is complete. Taken under rtnl_lock by the
 * netdev notifier.
 */
static DEFINE_MUTEX(mirror_dev_lock);
static LIST_HEAD(mirror_dev_list);

static void mirror_reap(struct work_struct *work);
static DECLARE_WORK(mirror_reap_work, mirror_reap);

/*
 * mirror_link_lock serialises newlink, so that the "one device per netdev"
 * check and the creation it guards are one step. Only newlink takes it; it
 * is never held together with rtnl_lock by us, nor taken under
 * mirror_dev_lock (the netdev notifier, which runs under rtnl, does not
 * take it).
 */
static DEFINE_MUTEX(mirror_link_lock);

/**
 * mirror_dev_list_add() - make a device known to the module
 * @dev: the device, not yet registered
 *
 * Listed devices are found by the netdev notifier (once registered), by
 * the one-device-per-netdev check and by module exit.
 */
void mirror_dev_list_add(struct mirror_dev *dev)
{
	get_device(&dev->ib_dev.dev);
	mutex_lock(&mirror_dev_lock);
	list_add_tail(&dev->list, &mirror_dev_list);
	mutex_unlock(&mirror_dev_lock);
}

/**
 * mirror_dev_list_del() - forget a device whose registration failed
 * @dev: the device, listed and never registered
 *
 * Before ib_dealloc_device(): nothing else can be unregistering it.
 */
void mirror_dev_list_del(struct mirror_dev *dev)
{
	mutex_lock(&mirror_dev_lock);
	list_del_init(&dev->list);
	mutex_unlock(&mirror_dev_lock);
	put_device(&dev->ib_dev.dev);
}

/**
 * mirror_dev_list_dead() - note that a device's dealloc_driver has run
 * @dev: the device
 *
 * Called by dealloc_driver, listed or not; the reaper unlists the device
 * once ib_core has returned from its unregistration.
 */
void mirror_dev_list_dead(struct mirror_dev *dev)
{
	bool listed;

	mutex_lock(&mirror_dev_lock);
	dev->dead = true;
	listed = !list_empty(&dev->list);
	mutex_unlock(&mirror_dev_lock);
	if (listed)
		schedule_work(&mirror_reap_work);
}

/* Takes the first device (the first dead one if @dead_only) off the list. */
static struct mirror_dev *mirror_dev_list_take(bool dead_only)
{
	struct mirror_dev *dev, *found = NULL;

	mutex_lock(&mirror_dev_lock);
	list_for_each_entry(dev, &mirror_dev_list, list) {
		if (!dead_only || dev->dead) {
			list_del_init(&dev->list);
			found = dev;
			break;
		}
	}
	mutex_unlock(&mirror_dev_lock);
	return found;
}

/*
 * Unregisters a device taken off the list, or waits until its
 * unregistration elsewhere has returned, then drops the list's reference.
 */
static void mirror_dev_forget(struct mirror_dev *dev)
{
	ib_unregister_device(&dev->ib_dev);
	put_device(&dev->ib_dev.dev);
}

static void mirror_reap(struct work_struct *work)
{
	struct mirror_dev *dev;

	while ((dev = mirror_dev_list_take(true)))
		mirror_dev_forget(dev);
}

/*
 * Finds our registered device on @ndev and takes an ib_device reference on
 * it; a device still being registered is skipped (mirror_dev_add() checks
 * the netdev again once registered).
 */
static struct mirror_dev *mirror_dev_get_by_netdev(struct net_device *ndev)
{
	struct mirror_dev *dev, *found = NULL;

	mutex_lock(&mirror_dev_lock);
	list_for_each_entry(dev, &mirror_dev_list, list) {
		/* A dead device's netdev pointer may be stale: skip it. */
		if (!dev->dead && dev->ndev == ndev &&
		    ib_device_try_get(&dev->ib_dev)) {
			found = dev;
			break;
		}
	}
	mutex_unlock(&mirror_dev_lock);
	return found;
}

static bool mirror_netdev_taken(struct net_device *ndev)
{
	struct mirror_dev *dev;
	bool taken = false;

	mutex_lock(&mirror_dev_lock);
	list_for_each_entry(dev, &mirror_dev_list, list)
		taken |= !dev->dead && dev->ndev == ndev;
	mutex_unlock(&mirror_dev_lock);
	return taken;
}

/* rdma link add NAME type mirror netdev IFACE */
static int mirror_newlink(const char *name, struct net_device *ndev)
{
	int err;

	if (ndev->type != ARPHRD_ETHER || (ndev->flags & IFF_LOOPBACK))
		return -EINVAL;
	mutex_lock(&mirror_link_lock);
	if (mirror_netdev_taken(ndev))
		err = -EEXIST;
	else
		err = mirror_dev_add(name, ndev);
	mutex_unlock(&mirror_link_lock);
	return err;
}

static struct rdma_link_ops mirror_link_ops = {
	.type = "mirror",
	.newlink = mirror_newlink,
};

static int mirror_netdev_event(struct notifier_block *nb, unsigned long event,
			       void *ptr)
{
	struct net_device *ndev = netdev_notifier_info_to_dev(ptr);
	struct mirror_dev *dev = mirror_dev_get_by_netdev(ndev);

	if (!dev)
		return NOTIFY_DONE;

	switch (event) {
	case NETDEV_UNREGISTER:
		ib_unregister_device_queued(&dev->ib_dev);
		break;
	case NETDEV_UP:
	case NETDEV_DOWN:
	case NETDEV_CHANGE:
		mirror_dev_port_event(dev, netif_running(ndev) &&
				      netif_carrier_ok(ndev) ?
				      IB_EVENT_PORT_ACTIVE : IB_EVENT_PORT_ERR);
		break;
	default:
		break;
	}
	ib_device_put(&dev->ib_dev);
	return NOTIFY_DONE;
}

static struct notifier_block mirror_netdev_nb = {
	.notifier_call = mirror_netdev_event,
};

static int __init mirror_init(void)
{
	int err;

	err = register_netdevice_notifier(&mirror_netdev_nb);
	if (err)
		return err;
	mirror_inject_init();
	rdma_link_register(&mirror_link_ops);
	pr_info("rdma_mirror: loaded\n");
	return 0;
}

static void __exit mirror_exit(void)
{
	struct mirror_dev *dev;

	/* No new links from here on, then none of ours left. */
	rdma_link_unregister(&mirror_link_ops);
	unregister_netdevice_notifier(&mirror_netdev_nb);
	while ((dev = mirror_dev_list_take(false)))
		mirror_dev_forget(dev);
	/* The reaper may still be waiting on a device it took. */
	cancel_work_sync(&mirror_reap_work);
	mirror_inject_exit();
	pr_info("rdma_mirror: unloaded\n");
}

module_init(mirror_init);
module_exit(mirror_exit);
