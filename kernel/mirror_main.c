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
 * mirror_link_lock serialises newlink, so that the "one device per netdev"
 * check and the creation it guards are one step. Only newlink takes it; it
 * is never held together with rtnl_lock by us, nor taken under
 * mirror_dev_lock (the netdev notifier, which runs under rtnl, does not
 * take it).
 */
static DEFINE_MUTEX(mirror_link_lock);

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

	mirror_net_init();
	err = register_netdevice_notifier(&mirror_netdev_nb);
	if (err) {
		mirror_net_exit();
		return err;
	}
	mirror_inject_init();
	rdma_link_register(&mirror_link_ops);
	pr_info("rdma_mirror: loaded\n");
	return 0;
}

static void __exit mirror_exit(void)
{
	/* No new links from here on, then none of ours left. */
	rdma_link_unregister(&mirror_link_ops);
	unregister_netdevice_notifier(&mirror_netdev_nb);
	mirror_dev_list_exit();
	mirror_inject_exit();
	mirror_net_exit();
	pr_info("rdma_mirror: unloaded\n");
}

module_init(mirror_init);
module_exit(mirror_exit);
