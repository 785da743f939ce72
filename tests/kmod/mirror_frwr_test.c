// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_frwr_test.c - a kernel consumer of fast registration, for the
 * guest suite guest_frwr (tests/guest/frwr.sh): the catalogue of what
 * IB_WR_REG_MR, IB_WR_LOCAL_INV and SEND with Invalidate do and how each
 * ends in error, which no user-space verb can reach.
 *
 * At load it connects RC QP A on device dev_a to RC QP B on dev_b (the
 * same device, or another one reached over RoCEv2), runs every case on a
 * fresh pair, prints "ok - NAME" or "not ok - NAME: why" to the kernel
 * log and a last line "mirror_frwr_test: N passed, N failed", and loads
 * (the shell suite reads the log and unloads it). Everything polls its CQ
 * directly with a deadline, so a case that goes wrong ends as "not ok".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/delay.h>
#include <linux/etherdevice.h>
#include <linux/inet.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>
#include <rdma/ib_verbs.h>

static char *dev_a = "mirror0";
static char *dev_b = "mirror0";
static char *addr_a = "10.11.0.1";
static char *addr_b = "10.11.0.1";
module_param(dev_a, charp, 0444);
module_param(dev_b, charp, 0444);
module_param(addr_a, charp, 0444);
module_param(addr_b, charp, 0444);
MODULE_PARM_DESC(dev_a, "device of QP A (the requester)");
MODULE_PARM_DESC(dev_b, "device of QP B (the MR's owner)");
MODULE_PARM_DESC(addr_a, "IPv4 address of dev_a's RoCEv2 GID");
MODULE_PARM_DESC(addr_b, "IPv4 address of dev_b's RoCEv2 GID");

#define FT_PAGES	2
#define FT_WAIT_MS	5000

/* One end: its device, PD, CQ, QP and two pages of kernel memory. */
struct ft_side {
	struct ib_device *dev;
	const struct ib_gid_attr *gid;
	u8 mac[ETH_ALEN];
	struct ib_pd *pd;
	struct ib_cq *cq;
	struct ib_qp *qp;
	struct page *pages;
	void *buf;
	u64 dma;
};

struct ft_pair {
	struct ft_side a, b;
};

static int ft_passed, ft_failed;
static char ft_why[160];

#define FT_CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			snprintf(ft_why, sizeof(ft_why), __VA_ARGS__);	\
			return -1;					\
		}							\
	} while (0)

static int ft_side_init(struct ft_side *s, const char *name, const char *addr)
{
	union ib_gid gid;
	struct net_device *ndev;
	__be32 ip = in_aton(addr);

	s->dev = ib_device_get_by_name(name, RDMA_DRIVER_UNKNOWN);
	if (!s->dev)
		return -ENODEV;
	ipv6_addr_set_v4mapped(ip, (struct in6_addr *)gid.raw);
	s->gid = rdma_find_gid(s->dev, &gid, IB_GID_TYPE_ROCE_UDP_ENCAP, NULL);
	if (IS_ERR(s->gid)) {
		s->gid = NULL;
		return -ENOENT;
	}
	rcu_read_lock();
	ndev = rdma_read_gid_attr_ndev_rcu(s->gid);
	if (!IS_ERR(ndev))
		ether_addr_copy(s->mac, ndev->dev_addr);
	rcu_read_unlock();
	if (IS_ERR(ndev))
		return PTR_ERR(ndev);
	s->pd = ib_alloc_pd(s->dev, 0);
	if (IS_ERR(s->pd)) {
		s->pd = NULL;
		return -ENOMEM;
	}
	s->cq = ib_alloc_cq(s->dev, NULL, 64, 0, IB_POLL_DIRECT);
	if (IS_ERR(s->cq)) {
		s->cq = NULL;
		return -ENOMEM;
	}
	s->pages = alloc_pages(GFP_KERNEL | __GFP_ZERO, get_order(FT_PAGES * PAGE_SIZE));
	if (!s->pages)
		return -ENOMEM;
	s->buf = page_address(s->pages);
	s->dma = ib_dma_map_single(s->dev, s->buf, FT_PAGES * PAGE_SIZE,
				   DMA_BIDIRECTIONAL);
	if (ib_dma_mapping_error(s->dev, s->dma))
		return -ENOMEM;
	return 0;
}

static void ft_side_fini(struct ft_side *s)
{
	if (s->qp)
		ib_destroy_qp(s->qp);
	if (s->dma)
		ib_dma_unmap_single(s->dev, s->dma, FT_PAGES * PAGE_SIZE,
				    DMA_BIDIRECTIONAL);
	if (s->pages)
		__free_pages(s->pages, get_order(FT_PAGES * PAGE_SIZE));
	if (s->cq)
		ib_free_cq(s->cq);
	if (s->pd)
		ib_dealloc_pd(s->pd);
	if (s->gid)
		rdma_put_gid_attr(s->gid);
	if (s->dev)
		ib_device_put(s->dev);
	memset(s, 0, sizeof(*s));
}

static int ft_create_qp(struct ft_side *s)
{
	struct ib_qp_init_attr init = {
		.send_cq = s->cq,
		.recv_cq = s->cq,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16,
			 .max_send_sge = 1, .max_recv_sge = 1 },
		.sq_sig_type = IB_SIGNAL_ALL_WR,
		.qp_type = IB_QPT_RC,
	};

	s->qp = ib_create_qp(s->pd, &init);
	if (IS_ERR(s->qp)) {
		s->qp = NULL;
		return -ENOMEM;
	}
	return 0;
}

/* INIT, RTR and RTS towards @peer's QP. */
static int ft_connect(struct ft_side *s, struct ft_side *peer)
{
	struct ib_qp_attr attr = {
		.qp_state = IB_QPS_INIT,
		.port_num = 1,
		.qp_access_flags = IB_ACCESS_LOCAL_WRITE |
				   IB_ACCESS_REMOTE_WRITE |
				   IB_ACCESS_REMOTE_READ,
	};
	union ib_gid dgid;
	int err;

	err = ib_modify_qp(s->qp, &attr, IB_QP_STATE | IB_QP_PKEY_INDEX |
			   IB_QP_PORT | IB_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IB_QPS_RTR;
	attr.path_mtu = IB_MTU_1024;
	attr.dest_qp_num = peer->qp->qp_num;
	attr.max_dest_rd_atomic = 1;
	attr.min_rnr_timer = 12;
	attr.ah_attr.type = RDMA_AH_ATTR_TYPE_ROCE;
	rdma_ah_set_port_num(&attr.ah_attr, 1);
	dgid = peer->gid->gid;
	rdma_ah_set_grh(&attr.ah_attr, &dgid, 0, s->gid->index, 64, 0);
	memcpy(attr.ah_attr.roce.dmac, peer->mac, ETH_ALEN);
	err = ib_modify_qp(s->qp, &attr, IB_QP_STATE | IB_QP_AV |
			   IB_QP_PATH_MTU | IB_QP_DEST_QPN | IB_QP_RQ_PSN |
			   IB_QP_MAX_DEST_RD_ATOMIC | IB_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = IB_QPS_RTS;
	attr.timeout = 14;
	attr.retry_cnt = 7;
	attr.rnr_retry = 7;
	attr.max_rd_atomic = 1;
	return ib_modify_qp(s->qp, &attr, IB_QP_STATE | IB_QP_TIMEOUT |
			    IB_QP_RETRY_CNT | IB_QP_RNR_RETRY | IB_QP_SQ_PSN |
			    IB_QP_MAX_QP_RD_ATOMIC);
}

static void ft_pair_fini(struct ft_pair *p)
{
	ft_side_fini(&p->a);
	ft_side_fini(&p->b);
}

static int ft_pair_init(struct ft_pair *p)
{
	int err;

	memset(p, 0, sizeof(*p));
	err = ft_side_init(&p->a, dev_a, addr_a);
	if (!err)
		err = ft_side_init(&p->b, dev_b, addr_b);
	if (!err)
		err = ft_create_qp(&p->a);
	if (!err)
		err = ft_create_qp(&p->b);
	if (!err)
		err = ft_connect(&p->a, &p->b);
	if (!err)
		err = ft_connect(&p->b, &p->a);
	if (err)
		ft_pair_fini(p);
	return err;
}

/*
 * The next completion of @s, within FT_WAIT_MS. Without one, *wc reads
 * as a GENERAL_ERR completion, for the messages that print it.
 */
static int ft_wait(struct ft_side *s, struct ib_wc *wc)
{
	unsigned long end = jiffies + msecs_to_jiffies(FT_WAIT_MS);

	memset(wc, 0, sizeof(*wc));
	wc->status = IB_WC_GENERAL_ERR;
	do {
		if (ib_poll_cq(s->cq, 1, wc) == 1)
			return 0;
		usleep_range(100, 1000);
	} while (time_before(jiffies, end));
	return -ETIMEDOUT;
}

/* Posts @wr on @s and waits for its completion; 0 or -ETIMEDOUT. */
static int ft_post_wait(struct ft_side *s, struct ib_send_wr *wr,
			struct ib_wc *wc)
{
	const struct ib_send_wr *bad;
	int err;

	wr->send_flags |= IB_SEND_SIGNALED;
	err = ib_post_send(s->qp, wr, &bad);
	if (err) {
		memset(wc, 0, sizeof(*wc));
		wc->status = IB_WC_GENERAL_ERR;
		return err;
	}
	return ft_wait(s, wc);
}

static int ft_post_recv(struct ft_side *s, u64 wr_id)
{
	struct ib_sge sge = {
		.addr = s->dma, .length = PAGE_SIZE, .lkey = s->pd->local_dma_lkey,
	};
	struct ib_recv_wr wr = { .wr_id = wr_id, .sg_list = &sge, .num_sge = 1 };
	const struct ib_recv_wr *bad;

	return ib_post_recv(s->qp, &wr, &bad);
}

/* A fast MR of @pd over @s's two pages, mapped (not registered yet). */
static struct ib_mr *ft_mr(struct ft_side *s, struct ib_pd *pd,
			   struct scatterlist *sg)
{
	struct ib_mr *mr;
	int n;

	mr = ib_alloc_mr(pd, IB_MR_TYPE_MEM_REG, FT_PAGES);
	if (IS_ERR(mr))
		return mr;
	sg_init_table(sg, FT_PAGES);
	sg_set_buf(&sg[0], s->buf, PAGE_SIZE);
	sg_set_buf(&sg[1], s->buf + PAGE_SIZE, PAGE_SIZE);
	if (ib_dma_map_sg(s->dev, sg, FT_PAGES, DMA_BIDIRECTIONAL) != FT_PAGES) {
		ib_dereg_mr(mr);
		return ERR_PTR(-ENOMEM);
	}
	n = ib_map_mr_sg(mr, sg, FT_PAGES, NULL, PAGE_SIZE);
	if (n != FT_PAGES) {
		ib_dma_unmap_sg(s->dev, sg, FT_PAGES, DMA_BIDIRECTIONAL);
		ib_dereg_mr(mr);
		return ERR_PTR(n < 0 ? n : -EINVAL);
	}
	return mr;
}

static void ft_mr_put(struct ft_side *s, struct ib_mr *mr,
		      struct scatterlist *sg)
{
	ib_dma_unmap_sg(s->dev, sg, FT_PAGES, DMA_BIDIRECTIONAL);
	ib_dereg_mr(mr);
}

/* IB_WR_REG_MR of @mr on @s with a fresh key byte and @access. */
static int ft_reg(struct ft_side *s, struct ib_mr *mr, int access,
		  struct ib_wc *wc)
{
	struct ib_reg_wr wr = {
		.wr.opcode = IB_WR_REG_MR,
		.wr.wr_id = 1,
		.mr = mr,
		.access = access,
	};

	ib_update_fast_reg_key(mr, ib_inc_rkey(mr->rkey));
	wr.key = mr->rkey;
	return ft_post_wait(s, &wr.wr, wc);
}

static int ft_local_inv(struct ft_side *s, u32 key, struct ib_wc *wc)
{
	struct ib_send_wr wr = {
		.opcode = IB_WR_LOCAL_INV,
		.wr_id = 2,
		.ex.invalidate_rkey = key,
	};

	return ft_post_wait(s, &wr, wc);
}

/* RDMA WRITE of 64 bytes from A's memory to @iova/@rkey of B. */
static int ft_write(struct ft_pair *p, u64 iova, u32 rkey, struct ib_wc *wc)
{
	struct ib_sge sge = {
		.addr = p->a.dma, .length = 64, .lkey = p->a.pd->local_dma_lkey,
	};
	struct ib_rdma_wr wr = {
		.wr.opcode = IB_WR_RDMA_WRITE,
		.wr.wr_id = 3,
		.wr.sg_list = &sge,
		.wr.num_sge = 1,
		.remote_addr = iova,
		.rkey = rkey,
	};

	return ft_post_wait(&p->a, &wr.wr, wc);
}

/* REG_MR, a WRITE through the key lands, LOCAL_INV, the key is dead. */
static int ft_reg_write_local_inv(struct ft_pair *p)
{
	struct scatterlist sg[FT_PAGES];
	struct ib_mr *mr;
	struct ib_wc wc;
	int rc = -1;

	mr = ft_mr(&p->b, p->b.pd, sg);
	FT_CHECK(!IS_ERR(mr), "ib_alloc_mr/ib_map_mr_sg: %ld", PTR_ERR(mr));
	memset(p->a.buf, 0x5a, 64);
	if (ft_reg(&p->b, mr, IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE,
		   &wc) || wc.status || wc.opcode != IB_WC_REG_MR) {
		snprintf(ft_why, sizeof(ft_why), "REG_MR: %s, opcode %d",
			 ib_wc_status_msg(wc.status), wc.opcode);
		goto out;
	}
	/* Into the second page, at the iova ib_map_mr_sg() gave. */
	if (ft_write(p, mr->iova + PAGE_SIZE + 8, mr->rkey, &wc) || wc.status ||
	    memchr_inv(p->b.buf + PAGE_SIZE + 8, 0x5a, 64)) {
		snprintf(ft_why, sizeof(ft_why), "WRITE: %s, or the bytes did not land",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	if (ft_local_inv(&p->b, mr->rkey, &wc) || wc.status ||
	    wc.opcode != IB_WC_LOCAL_INV) {
		snprintf(ft_why, sizeof(ft_why), "LOCAL_INV: %s",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	memset(p->a.buf, 0xa5, 64);
	if (ft_write(p, mr->iova + 8, mr->rkey, &wc) ||
	    wc.status != IB_WC_REM_ACCESS_ERR ||
	    !memchr_inv(p->b.buf + 8, 0xa5, 64)) {
		snprintf(ft_why, sizeof(ft_why),
			 "WRITE after LOCAL_INV: %s, want remote access error",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	rc = 0;
out:
	ft_mr_put(&p->b, mr, sg);
	return rc;
}

/* A's SEND with Invalidate ends B's registration, and B's receive says so. */
static int ft_send_with_inv(struct ft_pair *p)
{
	struct scatterlist sg[FT_PAGES];
	struct ib_sge sge = {
		.addr = p->a.dma, .length = 16, .lkey = p->a.pd->local_dma_lkey,
	};
	struct ib_send_wr wr = {
		.opcode = IB_WR_SEND_WITH_INV, .wr_id = 4,
		.sg_list = &sge, .num_sge = 1,
	};
	struct ib_mr *mr;
	struct ib_wc wc;
	int rc = -1;

	mr = ft_mr(&p->b, p->b.pd, sg);
	FT_CHECK(!IS_ERR(mr), "ib_alloc_mr/ib_map_mr_sg: %ld", PTR_ERR(mr));
	if (ft_reg(&p->b, mr, IB_ACCESS_LOCAL_WRITE | IB_ACCESS_REMOTE_WRITE,
		   &wc) || wc.status) {
		snprintf(ft_why, sizeof(ft_why), "REG_MR: %s",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	wr.ex.invalidate_rkey = mr->rkey;
	if (ft_post_recv(&p->b, 40) || ft_post_wait(&p->a, &wr, &wc) ||
	    wc.status) {
		snprintf(ft_why, sizeof(ft_why), "SEND_WITH_INV: %s",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	if (ft_wait(&p->b, &wc) || wc.status || wc.wr_id != 40 ||
	    !(wc.wc_flags & IB_WC_WITH_INVALIDATE) ||
	    wc.ex.invalidate_rkey != mr->rkey) {
		snprintf(ft_why, sizeof(ft_why),
			 "receive: %s, flags 0x%x, key 0x%x (want 0x%x)",
			 ib_wc_status_msg(wc.status), wc.wc_flags,
			 wc.ex.invalidate_rkey, mr->rkey);
		goto out;
	}
	if (ft_write(p, mr->iova, mr->rkey, &wc) ||
	    wc.status != IB_WC_REM_ACCESS_ERR) {
		snprintf(ft_why, sizeof(ft_why),
			 "WRITE after the remote invalidation: %s",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	rc = 0;
out:
	ft_mr_put(&p->b, mr, sg);
	return rc;
}

/* A local operation on B that must fail with @want (and take B to ERR). */
static int ft_reg_fails(struct ft_side *s, struct ib_mr *mr, int access,
			enum ib_wc_status want)
{
	struct ib_wc wc;

	if (ft_reg(s, mr, access, &wc) || wc.status != want) {
		snprintf(ft_why, sizeof(ft_why), "REG_MR: %s, want %s",
			 ib_wc_status_msg(wc.status), ib_wc_status_msg(want));
		return -1;
	}
	return 0;
}

/* REG_MR of an MR that is registered already. */
static int ft_reg_twice(struct ft_pair *p)
{
	struct scatterlist sg[FT_PAGES];
	struct ib_mr *mr;
	struct ib_wc wc;
	int rc = -1;

	mr = ft_mr(&p->b, p->b.pd, sg);
	FT_CHECK(!IS_ERR(mr), "ib_alloc_mr/ib_map_mr_sg: %ld", PTR_ERR(mr));
	if (ft_reg(&p->b, mr, IB_ACCESS_LOCAL_WRITE, &wc) || wc.status) {
		snprintf(ft_why, sizeof(ft_why), "first REG_MR: %s",
			 ib_wc_status_msg(wc.status));
		goto out;
	}
	rc = ft_reg_fails(&p->b, mr, IB_ACCESS_LOCAL_WRITE, IB_WC_LOC_PROT_ERR);
out:
	ft_mr_put(&p->b, mr, sg);
	return rc;
}

/* REG_MR on a QP of another PD than the MR's. */
static int ft_reg_other_pd(struct ft_pair *p)
{
	struct scatterlist sg[FT_PAGES];
	struct ib_pd *pd;
	struct ib_mr *mr;
	int rc;

	pd = ib_alloc_pd(p->b.dev, 0);
	FT_CHECK(!IS_ERR(pd), "ib_alloc_pd");
	mr = ft_mr(&p->b, pd, sg);
	if (IS_ERR(mr)) {
		ib_dealloc_pd(pd);
		FT_CHECK(0, "ib_alloc_mr/ib_map_mr_sg: %ld", PTR_ERR(mr));
	}
	rc = ft_reg_fails(&p->b, mr, IB_ACCESS_LOCAL_WRITE, IB_WC_LOC_PROT_ERR);
	ft_mr_put(&p->b, mr, sg);
	ib_dealloc_pd(pd);
	return rc;
}

/*
 * REG_MR of a fresh MR of B's own PD that must fail: @grow bytes added to
 * the length ib_map_mr_sg() set (a page list that does not cover it), or
 * an @access it cannot have.
 */
static int ft_reg_refused(struct ft_pair *p, u64 grow, int access)
{
	struct scatterlist sg[FT_PAGES];
	struct ib_mr *mr;
	int rc;

	mr = ft_mr(&p->b, p->b.pd, sg);
	FT_CHECK(!IS_ERR(mr), "ib_alloc_mr/ib_map_mr_sg: %ld", PTR_ERR(mr));
	mr->length += grow;
	rc = ft_reg_fails(&p->b, mr, access, IB_WC_LOC_PROT_ERR);
	ft_mr_put(&p->b, mr, sg);
	return rc;
}

static int ft_reg_beyond_pages(struct ft_pair *p)
{
	return ft_reg_refused(p, PAGE_SIZE, IB_ACCESS_LOCAL_WRITE);
}

/* Remote write without local write is not a valid access (IBA). */
static int ft_reg_remote_write_alone(struct ft_pair *p)
{
	return ft_reg_refused(p, 0, IB_ACCESS_REMOTE_WRITE);
}

/* LOCAL_INV of a key that names no registration. */
static int ft_local_inv_unknown_key(struct ft_pair *p)
{
	struct ib_wc wc;

	FT_CHECK(!ft_local_inv(&p->b, 0x12345678, &wc), "no completion");
	FT_CHECK(wc.status == IB_WC_LOC_PROT_ERR, "LOCAL_INV: %s, want %s",
		 ib_wc_status_msg(wc.status),
		 ib_wc_status_msg(IB_WC_LOC_PROT_ERR));
	return 0;
}

/* A SEND with Invalidate naming B's DMA MR: refused at B, MR untouched. */
static int ft_send_with_inv_of_dma_mr(struct ft_pair *p)
{
	struct ib_sge sge = {
		.addr = p->a.dma, .length = 16, .lkey = p->a.pd->local_dma_lkey,
	};
	struct ib_send_wr wr = {
		.opcode = IB_WR_SEND_WITH_INV, .wr_id = 5,
		.sg_list = &sge, .num_sge = 1,
		.ex.invalidate_rkey = p->b.pd->local_dma_lkey,
	};
	struct ib_wc wc;

	FT_CHECK(!ft_post_recv(&p->b, 41), "post_recv");
	FT_CHECK(!ft_post_wait(&p->a, &wr, &wc), "no completion");
	FT_CHECK(wc.status == IB_WC_REM_INV_REQ_ERR, "sender: %s",
		 ib_wc_status_msg(wc.status));
	FT_CHECK(!ft_wait(&p->b, &wc) && wc.wr_id == 41 &&
		 wc.status == IB_WC_REM_INV_REQ_ERR, "receiver: %s",
		 ib_wc_status_msg(wc.status));
	return 0;
}

/* The limits alloc_mr() reports. */
static int ft_alloc_mr_limits(struct ft_pair *p)
{
	u32 max = p->b.dev->attrs.max_fast_reg_page_list_len;
	struct ib_mr *mr;

	FT_CHECK(p->b.dev->attrs.device_cap_flags &
		 IB_DEVICE_MEM_MGT_EXTENSIONS, "no MEM_MGT_EXTENSIONS");
	FT_CHECK(max > 0, "max_fast_reg_page_list_len 0");
	mr = ib_alloc_mr(p->b.pd, IB_MR_TYPE_MEM_REG, max);
	FT_CHECK(!IS_ERR(mr), "ib_alloc_mr(%u): %ld", max, PTR_ERR(mr));
	ib_dereg_mr(mr);
	mr = ib_alloc_mr(p->b.pd, IB_MR_TYPE_MEM_REG, max + 1);
	if (!IS_ERR(mr)) {
		ib_dereg_mr(mr);
		FT_CHECK(0, "ib_alloc_mr(%u) beyond the limit succeeded", max + 1);
	}
	return 0;
}

struct ft_case {
	const char *name;
	int (*run)(struct ft_pair *p);
};

static const struct ft_case ft_cases[] = {
	{ "alloc_mr_within_the_reported_limit_only", ft_alloc_mr_limits },
	{ "reg_mr_write_lands_local_inv_ends_it", ft_reg_write_local_inv },
	{ "send_with_inv_ends_the_registration", ft_send_with_inv },
	{ "reg_mr_of_a_registered_mr_is_loc_prot_err", ft_reg_twice },
	{ "reg_mr_of_another_pds_mr_is_loc_prot_err", ft_reg_other_pd },
	{ "reg_mr_beyond_its_page_list_is_loc_prot_err", ft_reg_beyond_pages },
	{ "reg_mr_remote_write_without_local_write_is_loc_prot_err",
	  ft_reg_remote_write_alone },
	{ "local_inv_of_an_unknown_key_is_loc_prot_err",
	  ft_local_inv_unknown_key },
	{ "send_with_inv_of_a_dma_mr_is_rem_inv_req_err",
	  ft_send_with_inv_of_dma_mr },
};

static int __init mirror_frwr_test_init(void)
{
	struct ft_pair p;
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(ft_cases); i++) {
		ft_why[0] = 0;
		err = ft_pair_init(&p);
		if (err) {
			pr_info("not ok - %s: setup of %s <-> %s: %d\n",
				ft_cases[i].name, dev_a, dev_b, err);
			ft_failed++;
			continue;
		}
		if (ft_cases[i].run(&p)) {
			pr_info("not ok - %s: %s\n", ft_cases[i].name, ft_why);
			ft_failed++;
		} else {
			pr_info("ok - %s\n", ft_cases[i].name);
			ft_passed++;
		}
		ft_pair_fini(&p);
	}
	pr_info("%d passed, %d failed\n", ft_passed, ft_failed);
	return 0;
}

static void __exit mirror_frwr_test_exit(void)
{
}

module_init(mirror_frwr_test_init);
module_exit(mirror_frwr_test_exit);
MODULE_DESCRIPTION("mirrorverbs: fast registration cases as a kernel consumer");
MODULE_LICENSE("GPL");
