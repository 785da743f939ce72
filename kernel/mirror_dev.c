// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_dev.c - the ib_device: creation on a netdev, its ops table, device
 * and port queries, user contexts, mmap of shared queues, and PDs.
 */
#include <linux/etherdevice.h>
#include <linux/pci.h>
#include <linux/platform_device.h>
#include <linux/vmalloc.h>
#include <net/addrconf.h>
#include <rdma/ib_mad.h>
#include <rdma/ib_cache.h>
#include <rdma/uverbs_ioctl.h>

#include "mirror.h"

static int mirror_query_device(struct ib_device *ibdev,
			       struct ib_device_attr *attr,
			       struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibdev);

	if (udata && udata->inlen && !ib_is_udata_cleared(udata, 0, udata->inlen))
		return -EINVAL;

	memset(attr, 0, sizeof(*attr));
	attr->fw_ver = MIRROR_FW_VERSION_RAW;
	attr->sys_image_guid = dev->ib_dev.node_guid;
	attr->max_mr_size = MIRROR_MAX_MR_SIZE;
	attr->page_size_cap = PAGE_SIZE;
	/*
	 * No IEEE OUI of its own: 0xFFFFFF is what IBTA (v1.4, A3.3.1) lets
	 * a generic device use, and what rdma_rxe reports. rdma-core's tests
	 * require a vendor_id other than 0.
	 */
	attr->vendor_id = 0xffffff;
	attr->vendor_part_id = 0;
	attr->hw_ver = 0;
	attr->max_qp = MIRROR_MAX_QP;
	attr->max_qp_wr = MIRROR_MAX_QP_WR;
	/*
	 * MEM_MGT_EXTENSIONS: fast registration (alloc_mr, map_mr_sg,
	 * IB_WR_REG_MR), IB_WR_LOCAL_INV and SEND with Invalidate, which
	 * kernel ULPs (nvme-rdma, NFS/RDMA) require. Memory windows of type
	 * 1 and 2B (bound to a QP and its PD) for user QPs (mirror_mw.c).
	 * ATOMIC WRITE and FLUSH to global visibility (RC, user QPs; FLUSH
	 * where the kernel has it); not FLUSH to persistence.
	 */
	attr->device_cap_flags = IB_DEVICE_SYS_IMAGE_GUID |
				 IB_DEVICE_PORT_ACTIVE_EVENT |
				 IB_DEVICE_CHANGE_PHY_PORT |
				 IB_DEVICE_MEM_MGT_EXTENSIONS |
				 IB_DEVICE_MEM_WINDOW |
				 IB_DEVICE_MEM_WINDOW_TYPE_2B |
				 MIRROR_DEVICE_ATOMIC_WRITE;
	if (mirror_flush_offered())
		attr->device_cap_flags |= MIRROR_DEVICE_FLUSH_GLOBAL;
	attr->kernel_cap_flags = IBK_ALLOW_USER_UNREG | IBK_ON_DEMAND_PAGING;
	attr->max_send_sge = MIRROR_MAX_SGE;
	attr->max_recv_sge = MIRROR_MAX_SGE;
	attr->max_sge_rd = MIRROR_MAX_SGE_RD;
	attr->max_cq = MIRROR_MAX_CQ;
	attr->max_cqe = MIRROR_MAX_CQE;
	attr->max_mr = MIRROR_MAX_MR;
	attr->max_mw = MIRROR_MAX_MW;
	attr->max_mcast_grp = MIRROR_MAX_MCAST_GRP;
	attr->max_mcast_qp_attach = MIRROR_MAX_MCAST_QP_ATTACH;
	attr->max_total_mcast_qp_attach = MIRROR_MAX_MCAST_TOTAL;
	attr->max_pd = MIRROR_MAX_PD;
	attr->max_qp_rd_atom = MIRROR_MAX_RD_ATOM;
	attr->max_qp_init_rd_atom = MIRROR_MAX_RD_ATOM;
	attr->max_res_rd_atom = MIRROR_MAX_RD_ATOM * MIRROR_MAX_QP;
	/* Atomics are atomic against other atomics of this device (one lock). */
	attr->atomic_cap = IB_ATOMIC_HCA;
	/*
	 * ODP: every transport reaches memory through mirror_mem.c, which
	 * faults ODP pages in, so each claimed operation really works.
	 * Implicit MRs cover the address space with children.
	 */
	attr->odp_caps.general_caps = IB_ODP_SUPPORT |
				      IB_ODP_SUPPORT_IMPLICIT;
	attr->odp_caps.per_transport_caps.rc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE | IB_ODP_SUPPORT_READ |
		IB_ODP_SUPPORT_ATOMIC | IB_ODP_SUPPORT_SRQ_RECV;
	attr->odp_caps.per_transport_caps.uc_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_WRITE;
	attr->odp_caps.per_transport_caps.ud_odp_caps =
		IB_ODP_SUPPORT_SEND | IB_ODP_SUPPORT_RECV |
		IB_ODP_SUPPORT_SRQ_RECV;
	attr->max_srq = MIRROR_MAX_SRQ;
	attr->max_srq_wr = MIRROR_MAX_SRQ_WR;
	attr->max_srq_sge = MIRROR_MAX_SGE;
	attr->max_ah = MIRROR_MAX_AH;
	attr->max_pkeys = MIRROR_MAX_PKEYS;
	attr->local_ca_ack_delay = MIRROR_LOCAL_ACK_DELAY;
	attr->max_fast_reg_page_list_len = MIRROR_MAX_FAST_PAGES;
	return 0;
}

static int mirror_query_port(struct ib_device *ibdev, u32 port,
			     struct ib_port_attr *attr)
{
	struct mirror_dev *dev = to_mirror_dev(ibdev);
	struct net_device *ndev = dev->ndev;
	bool up = netif_running(ndev) && netif_carrier_ok(ndev);

	/* ib_core zeroes *attr before calling us. */
	attr->state = up ? IB_PORT_ACTIVE : IB_PORT_DOWN;
	attr->phys_state = up ? IB_PORT_PHYS_STATE_LINK_UP :
				IB_PORT_PHYS_STATE_DISABLED;
	attr->max_mtu = IB_MTU_4096;
	attr->active_mtu = mirror_mtu_of(READ_ONCE(ndev->mtu));
	attr->gid_tbl_len = MIRROR_GID_TBL_LEN;
	attr->port_cap_flags = IB_PORT_CM_SUP | IB_PORT_REINIT_SUP |
			       IB_PORT_VENDOR_CLASS_SUP;
	attr->max_msg_sz = 1U << 31;
	attr->pkey_tbl_len = MIRROR_MAX_PKEYS;
	attr->lid = 0;
	attr->sm_lid = 0;
	attr->lmc = 0;
	attr->max_vl_num = 1;
	attr->sm_sl = 0;
	attr->subnet_timeout = 0;
	attr->init_type_reply = 0;
	/*
	 * The speed comes from ethtool. While the netdev is being
	 * unregistered ib_core no longer hands it out (-ENODEV); the port
	 * still exists until our device goes, so report a nominal speed
	 * rather than failing (ib_cache would log every failure).
	 */
	if (ib_get_eth_speed(ibdev, port, &attr->active_speed,
			     &attr->active_width)) {
		attr->active_speed = IB_SPEED_SDR;
		attr->active_width = IB_WIDTH_1X;
	}
	return 0;
}

static int mirror_query_pkey(struct ib_device *ibdev, u32 port, u16 index,
			     u16 *pkey)
{
	if (index >= MIRROR_MAX_PKEYS)
		return -EINVAL;
	*pkey = IB_DEFAULT_PKEY_FULL;
	return 0;
}

static enum rdma_link_layer mirror_get_link_layer(struct ib_device *ibdev,
						  u32 port)
{
	return IB_LINK_LAYER_ETHERNET;
}

static int mirror_get_port_immutable(struct ib_device *ibdev, u32 port,
				     struct ib_port_immutable *imm)
{
	imm->pkey_tbl_len = MIRROR_MAX_PKEYS;
	imm->gid_tbl_len = MIRROR_GID_TBL_LEN;
	imm->core_cap_flags = RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
	imm->max_mad_size = IB_MGMT_MAD_SIZE;
	return 0;
}

static void mirror_get_dev_fw_str(struct ib_device *ibdev, char *str)
{
	snprintf(str, IB_FW_VERSION_NAME_MAX, "%s", MIRROR_FW_VERSION);
}

/**
 * mirror_alloc_ucontext() - open a user context (one per uverbs file)
 * @uc: the context ib_core allocated
 * @udata: carries struct mirror_alloc_ucontext_resp back
 *
 * Return: 0 or a negative errno.
 */
int mirror_alloc_ucontext(struct ib_ucontext *uc, struct ib_udata *udata)
{
	struct mirror_alloc_ucontext_resp resp = {
		.abi_version = MIRROR_UVERBS_ABI_VERSION,
		.max_inline_data = MIRROR_MAX_INLINE,
	};

	if (!udata)
		return 0;
	return ib_copy_to_udata(udata, &resp, min(udata->outlen, sizeof(resp)));
}

/**
 * mirror_dealloc_ucontext() - close a user context
 * @uc: the context
 */
void mirror_dealloc_ucontext(struct ib_ucontext *uc)
{
}

/*
 * The device goes away (link delete, netdev removal, module unload) while
 * a process still has it open. ib_core has already destroyed every object
 * of the context, which is all a context owns here; ring pages the process
 * still maps were handed out with their own page references and are no
 * longer read by the kernel. Offering this callback is what lets the
 * removal proceed instead of waiting for every process to exit.
 */
static void mirror_disassociate_ucontext(struct ib_ucontext *uc)
{
}

/**
 * mirror_mmap() - map a shared queue offered through an mmap entry
 * @uc: the caller's context
 * @vma: the mapping; its offset names the entry
 *
 * The pages are inserted with remap_vmalloc_range(), which takes page
 * references, so the mapping stays valid even after the queue is destroyed
 * and its buffer freed.
 *
 * Return: 0 or a negative errno.
 */
int mirror_mmap(struct ib_ucontext *uc, struct vm_area_struct *vma)
{
	struct rdma_user_mmap_entry *entry;
	int err;

	/* Rings hold data, never code. */
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	mirror_vma_clear_flags(vma, VM_MAYEXEC);

	/* Checks VM_SHARED and that the size is exactly the entry's. */
	entry = rdma_user_mmap_entry_get(uc, vma);
	if (!entry)
		return -EINVAL;
	err = remap_vmalloc_range(vma, to_mirror_mentry(entry)->buf, 0);
	rdma_user_mmap_entry_put(entry);
	return err;
}

/**
 * mirror_mmap_free() - free a queue buffer once its mmap entry is gone
 * @entry: the entry
 */
void mirror_mmap_free(struct rdma_user_mmap_entry *entry)
{
	struct mirror_mmap_entry *me = to_mirror_mentry(entry);

	vfree(me->buf);
	kfree(me);
}

/**
 * mirror_alloc_pd() - allocate a protection domain
 * @ibpd: the PD ib_core allocated
 * @udata: unused
 *
 * Return: 0, or -ENOMEM past MIRROR_MAX_PD.
 */
int mirror_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	struct mirror_dev *dev = to_mirror_dev(ibpd->device);

	if (atomic_inc_return(&dev->num_pds) > MIRROR_MAX_PD) {
		atomic_dec(&dev->num_pds);
		return -ENOMEM;
	}
	return 0;
}

/**
 * mirror_dealloc_pd() - free a protection domain
 * @ibpd: the PD (ib_core has checked nothing uses it)
 * @udata: unused
 *
 * Return: 0.
 */
int mirror_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata)
{
	atomic_dec(&to_mirror_dev(ibpd->device)->num_pds);
	return 0;
}

/**
 * mirror_dev_port_event() - tell consumers the port's state, if it changed
 * @dev: the device
 * @type: IB_EVENT_PORT_ACTIVE or IB_EVENT_PORT_ERR
 *
 * Called by the netdev notifier, under rtnl_lock. NETDEV_CHANGE comes for
 * many reasons besides the carrier; only a real change is dispatched.
 */
void mirror_dev_port_event(struct mirror_dev *dev, enum ib_event_type type)
{
	struct ib_event ev = {
		.device = &dev->ib_dev,
		.element.port_num = 1,
		.event = type,
	};

	ASSERT_RTNL();
	if (dev->last_port_event == type)
		return;
	dev->last_port_event = type;
	ib_dispatch_event(&ev);
}

static void mirror_dealloc_driver(struct ib_device *ibdev)
{
	struct mirror_dev *dev = to_mirror_dev(ibdev);

	mirror_dev_list_dead(dev);
	mirror_net_close(dev);
	destroy_workqueue(dev->wq);
	destroy_workqueue(dev->fault_wq);
	destroy_workqueue(dev->odp_wq);
	WARN_ON_ONCE(!xa_empty(&dev->qp_xa));
	WARN_ON_ONCE(atomic_read(&dev->num_mrs));
	WARN_ON_ONCE(!xa_empty(&dev->av_xa));
	xa_destroy(&dev->qp_xa);
	rhashtable_destroy(&dev->mr_ht);
	xa_destroy(&dev->av_xa);
	mutex_destroy(&dev->atomic_lock);
	mutex_destroy(&dev->mcast_lock);
	netdev_put(dev->ndev, &dev->ndev_tracker);
}

/* One table, callbacks in alphabetical order. */
static const struct ib_device_ops mirror_dev_ops = {
	.owner = THIS_MODULE,
	.driver_id = RDMA_DRIVER_UNKNOWN,
	.uverbs_abi_ver = MIRROR_UVERBS_ABI_VERSION,

	.advise_mr = mirror_advise_mr,
	.alloc_hw_port_stats = mirror_alloc_hw_port_stats,
	.alloc_mr = mirror_alloc_mr,
	.alloc_mw = mirror_alloc_mw,
	.alloc_pd = mirror_alloc_pd,
	.alloc_ucontext = mirror_alloc_ucontext,
	.attach_mcast = mirror_attach_mcast,
	.create_ah = mirror_create_ah,
	.create_cq = mirror_create_cq,
	.create_qp = mirror_create_qp,
	.create_srq = mirror_create_srq,
	.create_user_ah = mirror_create_ah,
	.dealloc_driver = mirror_dealloc_driver,
	.dealloc_mw = mirror_dealloc_mw,
	.dealloc_pd = mirror_dealloc_pd,
	.dealloc_ucontext = mirror_dealloc_ucontext,
	.dereg_mr = mirror_dereg_mr,
	.detach_mcast = mirror_detach_mcast,
	.disassociate_ucontext = mirror_disassociate_ucontext,
	.destroy_ah = mirror_destroy_ah,
	.destroy_cq = mirror_destroy_cq,
	.destroy_qp = mirror_destroy_qp,
	.destroy_srq = mirror_destroy_srq,
	.fill_stat_mr_entry = mirror_fill_stat_mr_entry,
	.get_dev_fw_str = mirror_get_dev_fw_str,
	.get_dma_mr = mirror_get_dma_mr,
	.get_hw_stats = mirror_get_hw_stats,
	.get_link_layer = mirror_get_link_layer,
	.get_port_immutable = mirror_get_port_immutable,
	.map_mr_sg = mirror_map_mr_sg,
	.mmap = mirror_mmap,
	.mmap_free = mirror_mmap_free,
	.modify_qp = mirror_modify_qp,
	.modify_srq = mirror_modify_srq,
	.poll_cq = mirror_poll_cq,
	.post_recv = mirror_post_recv,
	.post_send = mirror_post_send,
	.post_srq_recv = mirror_post_srq_recv,
	.query_device = mirror_query_device,
	.query_pkey = mirror_query_pkey,
	.query_port = mirror_query_port,
	.query_qp = mirror_query_qp,
	.query_srq = mirror_query_srq,
	.reg_user_mr = mirror_reg_user_mr,
	.req_notify_cq = mirror_req_notify_cq,
	.resize_cq = mirror_resize_cq,

	INIT_RDMA_OBJ_SIZE(ib_ah, mirror_ah, ibah),
	INIT_RDMA_OBJ_SIZE(ib_cq, mirror_cq, ibcq),
	INIT_RDMA_OBJ_SIZE(ib_mw, mirror_mw, ibmw),
	INIT_RDMA_OBJ_SIZE(ib_pd, mirror_pd, ibpd),
	INIT_RDMA_OBJ_SIZE(ib_qp, mirror_qp, ibqp),
	INIT_RDMA_OBJ_SIZE(ib_srq, mirror_srq, ibsrq),
	INIT_RDMA_OBJ_SIZE(ib_ucontext, mirror_ucontext, ibuc),
};

/* Lockdep classes of the device's xarray locks (see mirror_dev_add()). */
static struct lock_class_key mirror_qp_xa_key;
static struct lock_class_key mirror_av_xa_key;

/**
 * mirror_dev_add() - create and register a mirror device on a netdev
 * @name: the ib device name asked for ("mirror0")
 * @ndev: an Ethernet netdev
 *
 * Return: 0 or a negative errno.
 */
int mirror_dev_add(const char *name, struct net_device *ndev)
{
	struct mirror_dev *dev;
	int err;

	dev = ib_alloc_device(mirror_dev, ib_dev);
	if (!dev)
		return -ENOMEM;
	INIT_LIST_HEAD(&dev->list);
	mutex_init(&dev->atomic_lock);
	spin_lock_init(&dev->mw_lock);
	mutex_init(&dev->mcast_lock);
	xa_init_flags(&dev->qp_xa, XA_FLAGS_ALLOC | XA_FLAGS_LOCK_BH);
	xa_init_flags(&dev->av_xa, XA_FLAGS_ALLOC1 | XA_FLAGS_LOCK_IRQ);
	/*
	 * Both xarrays were initialised here, so lockdep would put their
	 * locks in one class; they are taken with different flavours (BH,
	 * IRQ), which one class would report as an inconsistent usage.
	 */
	lockdep_set_class(&dev->qp_xa.xa_lock, &mirror_qp_xa_key);
	lockdep_set_class(&dev->av_xa.xa_lock, &mirror_av_xa_key);
	dev->last_port_event = MIRROR_PORT_EVENT_NONE;
	dev->next_qpn = MIRROR_FIRST_QPN;
	err = rhashtable_init(&dev->mr_ht, &mirror_mr_ht_params);
	if (err) {
		ib_dealloc_device(&dev->ib_dev);
		return err;
	}
	dev->ndev = ndev;
	netdev_hold(ndev, &dev->ndev_tracker, GFP_KERNEL);

	/*
	 * dev->wq runs each QP's rx_work (every packet that arrives over
	 * RoCEv2) and its req_work. Bound, so the work runs on the CPU whose
	 * softirq queued it, and high priority, so that it preempts a task
	 * busy-polling a CQ on that CPU (as perftest and most RDMA programs
	 * do) instead of waiting for its time slice: on a one-CPU guest that
	 * wait was most of the wire path's latency. rx_work does a bounded
	 * batch per run (MIRROR_RX_BUDGET) and queues itself again, so a
	 * flood yields the CPU between batches, as softirq processing would
	 * not.
	 */
	dev->wq = alloc_workqueue("%s", WQ_HIGHPRI | WQ_MEM_RECLAIM, 0, name);
	if (!dev->wq) {
		err = -ENOMEM;
		goto err_put_netdev;
	}
	dev->odp_wq = alloc_workqueue("%s_odp", WQ_UNBOUND | WQ_MEM_RECLAIM, 0,
				      name);
	if (!dev->odp_wq) {
		err = -ENOMEM;
		goto err_destroy_wq;
	}
	dev->fault_wq = alloc_workqueue("%s_fault", WQ_UNBOUND, 0, name);
	if (!dev->fault_wq) {
		err = -ENOMEM;
		goto err_destroy_odp_wq;
	}

	dev->ib_dev.node_type = RDMA_NODE_IB_CA;
	dev->ib_dev.phys_port_cnt = 1;
	dev->ib_dev.num_comp_vectors = 1;
	dev->ib_dev.local_dma_lkey = 0;
	strscpy(dev->ib_dev.node_desc, "mirrorverbs",
		sizeof(dev->ib_dev.node_desc));
	addrconf_addr_eui48((unsigned char *)&dev->ib_dev.node_guid,
			    ndev->dev_addr);
	dev->ib_dev.uverbs_cmd_mask |=
		BIT_ULL(IB_USER_VERBS_CMD_POST_SEND) |
		BIT_ULL(IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
	ib_set_device_ops(&dev->ib_dev, &mirror_dev_ops);
	dev->ib_dev.driver_def = mirror_uapi_defs;

	/*
	 * From here on ib_dealloc_device() runs mirror_dealloc_driver(),
	 * which undoes everything above: it is the only unwind path.
	 */
	err = ib_device_set_netdev(&dev->ib_dev, ndev, 1);
	if (err)
		goto err_dealloc;
	err = mirror_net_open(dev);
	if (err == -EADDRINUSE) {
		pr_info("rdma_mirror: %s: UDP port %d is taken in %s's network namespace (rdma_rxe?): same-device traffic only\n",
			name, MIRROR_ROCE_UDP_PORT, netdev_name(ndev));
	} else if (err) {
		goto err_dealloc;
	}

	/*
	 * The netdev's parent device, as hardware has, so that
	 * /sys/class/infiniband/DEV/device/net names the interface (rdma-core's
	 * RDMA CM tests look there, UCX reads the vendor there). Not a PCI or
	 * platform parent: libibverbs also matches providers to a device by
	 * its parent's modalias, and a hardware provider (mlx5 for a ConnectX,
	 * irdma for an E810...) that comes before ours in its list would take
	 * mirror0 for its own NIC; our driver id is RDMA_DRIVER_UNKNOWN, so
	 * nothing makes ours win. No provider matches a virtio, Xen or USB
	 * modalias.
	 */
	if (ndev->dev.parent && !dev_is_pci(ndev->dev.parent) &&
	    !dev_is_platform(ndev->dev.parent))
		dev->ib_dev.dev.parent = ndev->dev.parent;

	/*
	 * Listed before registration: once ib_register_device() has made the
	 * device visible, "rdma link delete" may unregister it at any time,
	 * and its dealloc_driver marks it dead for the reaper to unlist. The
	 * netdev notifier skips it until registration completes
	 * (ib_device_try_get() fails before that). Our own reference on the
	 * struct device keeps the memory valid until we return.
	 */
	mirror_dev_list_add(dev);
	get_device(&dev->ib_dev.dev);
	err = ib_register_device(&dev->ib_dev, name, NULL);
	if (err)
		goto err_dealloc_held;
	mirror_dbg(dev, "bound to %s\n", netdev_name(ndev));

	/*
	 * A NETDEV_UNREGISTER that ran during registration found no reference
	 * to take. The netdev left NETREG_REGISTERED before the notifier chain
	 * ran, so we see that here; without this the device would keep its
	 * netdev reference and the netdev's unregistration would wait forever.
	 */
	smp_mb();	/* pairs with the notifier's failed ib_device_try_get() */
	if (READ_ONCE(ndev->reg_state) != NETREG_REGISTERED &&
	    ib_device_try_get(&dev->ib_dev)) {
		ib_unregister_device_queued(&dev->ib_dev);
		ib_device_put(&dev->ib_dev);
	}
	put_device(&dev->ib_dev.dev);
	return 0;

err_dealloc_held:
	mirror_dev_list_del(dev);
	ib_dealloc_device(&dev->ib_dev);
	put_device(&dev->ib_dev.dev);
	return err;

err_dealloc:
	ib_dealloc_device(&dev->ib_dev);
	return err;

err_destroy_odp_wq:
	destroy_workqueue(dev->odp_wq);
err_destroy_wq:
	destroy_workqueue(dev->wq);
err_put_netdev:
	netdev_put(ndev, &dev->ndev_tracker);
	rhashtable_destroy(&dev->mr_ht);
	ib_dealloc_device(&dev->ib_dev);
	return err;
}
