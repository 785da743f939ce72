// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_devlist.c - the module's list of mirror devices: who is bound to
 * which netdev, and the reaper that waits for ib_core to be done with a
 * device before the module may forget it.
 */
#include "mirror.h"

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

/**
 * mirror_dev_get_by_netdev() - our registered device on a netdev
 * @ndev: the netdev
 *
 * A device still being registered is skipped (mirror_dev_add() checks the
 * netdev again once registered).
 *
 * Return: the device with an ib_device reference (ib_device_put()), or
 * NULL.
 */
struct mirror_dev *mirror_dev_get_by_netdev(struct net_device *ndev)
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

/**
 * mirror_netdev_taken() - is a device of ours bound to @ndev?
 * @ndev: the netdev
 *
 * Return: true when a live device (registered or not yet) is.
 */
bool mirror_netdev_taken(struct net_device *ndev)
{
	struct mirror_dev *dev;
	bool taken = false;

	mutex_lock(&mirror_dev_lock);
	list_for_each_entry(dev, &mirror_dev_list, list)
		taken |= !dev->dead && dev->ndev == ndev;
	mutex_unlock(&mirror_dev_lock);
	return taken;
}

/**
 * mirror_dev_list_exit() - unregister every device left, at module exit
 *
 * Also waits for the reaper, which may still be waiting on a device it
 * took.
 */
void mirror_dev_list_exit(void)
{
	struct mirror_dev *dev;

	while ((dev = mirror_dev_list_take(false)))
		mirror_dev_forget(dev);
	cancel_work_sync(&mirror_reap_work);
}
