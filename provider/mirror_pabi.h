/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_pabi.h - our own declarations of libibverbs' private ABI 34.
 *
 * rdma-core installs no driver.h, so the few private structures and
 * functions a provider needs are declared here, in our words, to the
 * layout of libibverbs v36..v56 (see ../shared/docs/libibverbs-pabi34.md).
 * Every structure is checked by size and offset at compile time: one
 * misplaced member would silently mis-wire every verb.
 */
#ifndef MIRROR_PABI_H
#define MIRROR_PABI_H

#include <infiniband/verbs.h>
#include <rdma/ib_user_verbs.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#define MIRROR_PABI_STATIC_ASSERT(cond) _Static_assert(cond, #cond)

struct mirror_list_node {
	struct mirror_list_node *next, *prev;
};

/* How a provider names the devices it drives. */
enum mirror_match_kind {
	MIRROR_MATCH_SENTINEL = 0,
	MIRROR_MATCH_PCI = 1,
	MIRROR_MATCH_MODALIAS = 2,
	MIRROR_MATCH_DRIVER_ID = 3,
};

struct verbs_match_ent {
	void *driver_data;
	union {
		const char *modalias;
		uint64_t driver_id;
	} u;
	uint16_t vendor;
	uint16_t device;
	uint8_t kind;
};

/* What libibverbs learned about a device from sysfs and netlink. */
struct verbs_sysfs_dev {
	struct mirror_list_node entry;
	void *provider_data;
	const struct verbs_match_ent *match;
	unsigned int flags;
	char sysfs_name[64];
	dev_t sysfs_cdev;
	char ibdev_name[64];
	char ibdev_path[256];
	char modalias[512];
	uint64_t node_guid;
	uint32_t driver_id;
	enum ibv_node_type node_type;
	int ibdev_idx;
	uint32_t num_ports;
	uint32_t abi_ver;
	struct timespec time_created;
};

struct verbs_device;

struct verbs_device_ops {
	const char *name;
	uint32_t match_min_abi_version;
	uint32_t match_max_abi_version;
	const struct verbs_match_ent *match_table;
	const struct verbs_device_ops **static_providers;
	bool (*match_device)(struct verbs_sysfs_dev *sysfs_dev);
	struct verbs_context *(*alloc_context)(struct ibv_device *device,
					       int cmd_fd, void *private_data);
	struct verbs_context *(*import_context)(struct ibv_device *device,
						int cmd_fd);
	struct verbs_device *(*alloc_device)(struct verbs_sysfs_dev *sysfs_dev);
	void (*uninit_device)(struct verbs_device *device);
};

struct verbs_device {
	struct ibv_device device;
	const struct verbs_device_ops *ops;
	atomic_int refcount;
	struct mirror_list_node entry;
	struct verbs_sysfs_dev *sysfs;
	uint64_t core_support;
};

struct verbs_mr {
	struct ibv_mr ibv_mr;
	uint32_t mr_type;	/* libibverbs' private enum ibv_mr_type */
	int access;
};

struct verbs_cq {
	union {
		struct ibv_cq cq;
		struct ibv_cq_ex cq_ex;
	};
};

struct verbs_qp {
	union {
		struct ibv_qp qp;
		struct ibv_qp_ex qp_ex;
	};
	uint32_t comp_mask;
	void *xrcd;
};

/*
 * Bits of verbs_qp.comp_mask. ibv_qp_to_qp_ex() hands out &qp_ex only when
 * MIRROR_VERBS_QP_EX is set; libibverbs clears comp_mask while creating
 * the QP, so the provider sets the bit afterwards.
 */
enum mirror_verbs_qp_mask {
	MIRROR_VERBS_QP_XRCD = 1 << 0,
	MIRROR_VERBS_QP_EX = 1 << 1,
};

/*
 * The provider's verbs, in libibverbs' order. Members we implement have
 * their real types; the rest are opaque pointers of the same size.
 */
typedef void *mirror_unused_op;

struct verbs_context_ops {
	int (*advise_mr)(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
			 uint32_t flags, struct ibv_sge *sg_list,
			 uint32_t num_sges);
	mirror_unused_op alloc_dm;
	struct ibv_mw *(*alloc_mw)(struct ibv_pd *pd, enum ibv_mw_type type);
	mirror_unused_op alloc_null_mr;
	mirror_unused_op alloc_parent_domain;
	struct ibv_pd *(*alloc_pd)(struct ibv_context *context);
	mirror_unused_op alloc_td;
	mirror_unused_op async_event;
	mirror_unused_op attach_counters_point_flow;
	int (*attach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid,
			    uint16_t lid);
	int (*bind_mw)(struct ibv_qp *qp, struct ibv_mw *mw,
		       struct ibv_mw_bind *mw_bind);
	mirror_unused_op close_xrcd;
	mirror_unused_op cq_event;
	struct ibv_ah *(*create_ah)(struct ibv_pd *pd, struct ibv_ah_attr *attr);
	mirror_unused_op create_counters;
	struct ibv_cq *(*create_cq)(struct ibv_context *context, int cqe,
				    struct ibv_comp_channel *channel,
				    int comp_vector);
	struct ibv_cq_ex *(*create_cq_ex)(struct ibv_context *context,
					  struct ibv_cq_init_attr_ex *attr);
	mirror_unused_op create_flow;
	mirror_unused_op create_flow_action_esp;
	struct ibv_qp *(*create_qp)(struct ibv_pd *pd,
				    struct ibv_qp_init_attr *attr);
	struct ibv_qp *(*create_qp_ex)(struct ibv_context *context,
				       struct ibv_qp_init_attr_ex *attr);
	mirror_unused_op create_rwq_ind_table;
	struct ibv_srq *(*create_srq)(struct ibv_pd *pd,
				      struct ibv_srq_init_attr *attr);
	mirror_unused_op create_srq_ex;
	mirror_unused_op create_wq;
	int (*dealloc_mw)(struct ibv_mw *mw);
	int (*dealloc_pd)(struct ibv_pd *pd);
	mirror_unused_op dealloc_td;
	int (*dereg_mr)(struct verbs_mr *vmr);
	int (*destroy_ah)(struct ibv_ah *ah);
	mirror_unused_op destroy_counters;
	int (*destroy_cq)(struct ibv_cq *cq);
	mirror_unused_op destroy_flow;
	mirror_unused_op destroy_flow_action;
	int (*destroy_qp)(struct ibv_qp *qp);
	mirror_unused_op destroy_rwq_ind_table;
	int (*destroy_srq)(struct ibv_srq *srq);
	mirror_unused_op destroy_wq;
	int (*detach_mcast)(struct ibv_qp *qp, const union ibv_gid *gid,
			    uint16_t lid);
	void (*free_context)(struct ibv_context *context);
	mirror_unused_op free_dm;
	mirror_unused_op get_srq_num;
	mirror_unused_op import_dm;
	mirror_unused_op import_mr;
	mirror_unused_op import_pd;
	mirror_unused_op modify_cq;
	mirror_unused_op modify_flow_action_esp;
	int (*modify_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			 int attr_mask);
	mirror_unused_op modify_qp_rate_limit;
	int (*modify_srq)(struct ibv_srq *srq, struct ibv_srq_attr *attr,
			  int mask);
	mirror_unused_op modify_wq;
	mirror_unused_op open_qp;
	mirror_unused_op open_xrcd;
	int (*poll_cq)(struct ibv_cq *cq, int num_entries, struct ibv_wc *wc);
	int (*post_recv)(struct ibv_qp *qp, struct ibv_recv_wr *wr,
			 struct ibv_recv_wr **bad_wr);
	int (*post_send)(struct ibv_qp *qp, struct ibv_send_wr *wr,
			 struct ibv_send_wr **bad_wr);
	mirror_unused_op post_srq_ops;
	int (*post_srq_recv)(struct ibv_srq *srq, struct ibv_recv_wr *wr,
			     struct ibv_recv_wr **bad_wr);
	int (*query_device_ex)(struct ibv_context *context,
			       const struct ibv_query_device_ex_input *input,
			       struct ibv_device_attr_ex *attr,
			       size_t attr_size);
	mirror_unused_op query_ece;
	int (*query_port)(struct ibv_context *context, uint8_t port_num,
			  struct ibv_port_attr *port_attr);
	int (*query_qp)(struct ibv_qp *qp, struct ibv_qp_attr *attr,
			int attr_mask, struct ibv_qp_init_attr *init_attr);
	mirror_unused_op query_qp_data_in_order;
	mirror_unused_op query_rt_values;
	int (*query_srq)(struct ibv_srq *srq, struct ibv_srq_attr *attr);
	mirror_unused_op read_counters;
	mirror_unused_op reg_dm_mr;
	mirror_unused_op reg_dmabuf_mr;
	struct ibv_mr *(*reg_mr)(struct ibv_pd *pd, void *addr, size_t length,
				 uint64_t hca_va, int access);
	int (*req_notify_cq)(struct ibv_cq *cq, int solicited_only);
	mirror_unused_op rereg_mr;
	int (*resize_cq)(struct ibv_cq *cq, int cqe);
	mirror_unused_op set_ece;
	mirror_unused_op unimport_dm;
	mirror_unused_op unimport_mr;
	mirror_unused_op unimport_pd;
};

/*
 * Kernel command buffers for the write() path helpers: the uverbs header
 * followed by the core command of <rdma/ib_user_verbs.h>. We append no
 * driver data to any command.
 */
#define MIRROR_DECLARE_CMD(name, core_type)                                    \
	struct name {                                                          \
		struct ib_uverbs_cmd_hdr hdr;                                  \
		struct core_type core;                                         \
	}

MIRROR_DECLARE_CMD(mirror_cmd_get_context, ib_uverbs_get_context);
MIRROR_DECLARE_CMD(mirror_cmd_query_port, ib_uverbs_query_port);
MIRROR_DECLARE_CMD(mirror_cmd_alloc_pd, ib_uverbs_alloc_pd);
MIRROR_DECLARE_CMD(mirror_cmd_reg_mr, ib_uverbs_reg_mr);
MIRROR_DECLARE_CMD(mirror_cmd_alloc_mw, ib_uverbs_alloc_mw);
MIRROR_DECLARE_CMD(mirror_cmd_create_cq, ib_uverbs_create_cq);
MIRROR_DECLARE_CMD(mirror_cmd_resize_cq, ib_uverbs_resize_cq);
MIRROR_DECLARE_CMD(mirror_cmd_create_qp, ib_uverbs_create_qp);
MIRROR_DECLARE_CMD(mirror_cmd_modify_qp, ib_uverbs_modify_qp);
MIRROR_DECLARE_CMD(mirror_cmd_query_qp, ib_uverbs_query_qp);
MIRROR_DECLARE_CMD(mirror_cmd_post_send, ib_uverbs_post_send);
MIRROR_DECLARE_CMD(mirror_cmd_create_srq, ib_uverbs_create_srq);
MIRROR_DECLARE_CMD(mirror_cmd_modify_srq, ib_uverbs_modify_srq);
MIRROR_DECLARE_CMD(mirror_cmd_query_srq, ib_uverbs_query_srq);

/* Extended commands carry a second header between the two. */
#define MIRROR_DECLARE_CMD_EX(name, core_type)                                 \
	struct name {                                                          \
		struct ib_uverbs_cmd_hdr hdr;                                  \
		struct ib_uverbs_ex_cmd_hdr ex_hdr;                            \
		struct core_type core;                                         \
	}

MIRROR_DECLARE_CMD_EX(mirror_cmd_create_cq_ex, ib_uverbs_ex_create_cq);

/* Private functions libibverbs exports with version IBVERBS_PRIVATE_34. */
void verbs_register_driver_34(const struct verbs_device_ops *ops);
void *_verbs_init_and_alloc_context(struct ibv_device *device, int cmd_fd,
				    size_t alloc_size,
				    struct verbs_context *context_offset,
				    uint32_t driver_id);
void verbs_uninit_context(struct verbs_context *context);
void verbs_set_ops(struct verbs_context *vctx,
		   const struct verbs_context_ops *ops);
int ibv_cmd_get_context(struct verbs_context *context,
			struct mirror_cmd_get_context *cmd, size_t cmd_size,
			struct ib_uverbs_get_context_resp *resp,
			size_t resp_size);
int ibv_cmd_query_device_any(struct ibv_context *context,
			     const struct ibv_query_device_ex_input *input,
			     struct ibv_device_attr_ex *attr, size_t attr_size,
			     struct ib_uverbs_ex_query_device_resp *resp,
			     size_t *resp_size);
int ibv_cmd_query_port(struct ibv_context *context, uint8_t port_num,
		       struct ibv_port_attr *port_attr,
		       struct mirror_cmd_query_port *cmd, size_t cmd_size);
int ibv_cmd_alloc_pd(struct ibv_context *context, struct ibv_pd *pd,
		     struct mirror_cmd_alloc_pd *cmd, size_t cmd_size,
		     struct ib_uverbs_alloc_pd_resp *resp, size_t resp_size);
int ibv_cmd_dealloc_pd(struct ibv_pd *pd);
int ibv_cmd_advise_mr(struct ibv_pd *pd, enum ibv_advise_mr_advice advice,
		      uint32_t flags, struct ibv_sge *sg_list,
		      uint32_t num_sge);
int ibv_cmd_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
		   uint64_t hca_va, int access, struct verbs_mr *vmr,
		   struct mirror_cmd_reg_mr *cmd, size_t cmd_size,
		   struct ib_uverbs_reg_mr_resp *resp, size_t resp_size);
int ibv_cmd_dereg_mr(struct verbs_mr *vmr);
int ibv_cmd_alloc_mw(struct ibv_pd *pd, enum ibv_mw_type type,
		     struct ibv_mw *mw, struct mirror_cmd_alloc_mw *cmd,
		     size_t cmd_size, struct ib_uverbs_alloc_mw_resp *resp,
		     size_t resp_size);
int ibv_cmd_dealloc_mw(struct ibv_mw *mw);
int ibv_cmd_attach_mcast(struct ibv_qp *qp, const union ibv_gid *gid,
			 uint16_t lid);
int ibv_cmd_detach_mcast(struct ibv_qp *qp, const union ibv_gid *gid,
			 uint16_t lid);
int ibv_cmd_create_cq(struct ibv_context *context, int cqe,
		      struct ibv_comp_channel *channel, int comp_vector,
		      struct ibv_cq *cq, struct mirror_cmd_create_cq *cmd,
		      size_t cmd_size, struct ib_uverbs_create_cq_resp *resp,
		      size_t resp_size);
/* @cmd_flags: libibverbs-internal flags, 0 for a provider. */
int ibv_cmd_create_cq_ex(struct ibv_context *context,
			 const struct ibv_cq_init_attr_ex *attr,
			 struct verbs_cq *cq,
			 struct mirror_cmd_create_cq_ex *cmd, size_t cmd_size,
			 struct ib_uverbs_ex_create_cq_resp *resp,
			 size_t resp_size, uint32_t cmd_flags);
int ibv_cmd_destroy_cq(struct ibv_cq *cq);
int ibv_cmd_req_notify_cq(struct ibv_cq *cq, int solicited_only);
int ibv_cmd_resize_cq(struct ibv_cq *cq, int cqe,
		      struct mirror_cmd_resize_cq *cmd, size_t cmd_size,
		      struct ib_uverbs_resize_cq_resp *resp, size_t resp_size);
int ibv_cmd_create_qp_ex(struct ibv_context *context, struct verbs_qp *qp,
			 struct ibv_qp_init_attr_ex *attr_ex,
			 struct mirror_cmd_create_qp *cmd, size_t cmd_size,
			 struct ib_uverbs_create_qp_resp *resp,
			 size_t resp_size);
int ibv_cmd_modify_qp(struct ibv_qp *qp, struct ibv_qp_attr *attr,
		      int attr_mask, struct mirror_cmd_modify_qp *cmd,
		      size_t cmd_size);
int ibv_cmd_query_qp(struct ibv_qp *qp, struct ibv_qp_attr *qp_attr,
		     int attr_mask, struct ibv_qp_init_attr *qp_init_attr,
		     struct mirror_cmd_query_qp *cmd, size_t cmd_size);
int ibv_cmd_destroy_qp(struct ibv_qp *qp);
int ibv_cmd_create_ah(struct ibv_pd *pd, struct ibv_ah *ah,
		      struct ibv_ah_attr *attr,
		      struct ib_uverbs_create_ah_resp *resp, size_t resp_size);
int ibv_cmd_destroy_ah(struct ibv_ah *ah);
int ibv_cmd_create_srq(struct ibv_pd *pd, struct ibv_srq *srq,
		       struct ibv_srq_init_attr *attr,
		       struct mirror_cmd_create_srq *cmd, size_t cmd_size,
		       struct ib_uverbs_create_srq_resp *resp,
		       size_t resp_size);
int ibv_cmd_modify_srq(struct ibv_srq *srq, struct ibv_srq_attr *srq_attr,
		       int srq_attr_mask, struct mirror_cmd_modify_srq *cmd,
		       size_t cmd_size);
int ibv_cmd_query_srq(struct ibv_srq *srq, struct ibv_srq_attr *srq_attr,
		      struct mirror_cmd_query_srq *cmd, size_t cmd_size);
int ibv_cmd_destroy_srq(struct ibv_srq *srq);

/* Layout proofs (rdma-core v36..v56, x86_64). */
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_match_ent) == 24);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_match_ent, vendor) == 16);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_match_ent, kind) == 20);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_sysfs_dev) == 992);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, sysfs_name) == 36);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, sysfs_cdev) == 104);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, ibdev_name) == 112);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, ibdev_path) == 176);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, modalias) == 432);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, node_guid) == 944);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, driver_id) == 952);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, abi_ver) == 968);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_sysfs_dev, time_created) == 976);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_device_ops) == 72);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device_ops, match_device) == 32);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device_ops, alloc_context) == 40);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device_ops, alloc_device) == 56);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device_ops, uninit_device) == 64);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct ibv_device) == 664);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_device) == 712);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device, ops) == 664);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device, refcount) == 672);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device, sysfs) == 696);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_device, core_support) == 704);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_context) == 648);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context, context) == 320);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_cq) == 288);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_qp) == 368);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_qp, comp_mask) ==
			  sizeof(struct ibv_qp_ex));
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_mr) == 56);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct verbs_context_ops) == 608);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, alloc_mw) == 16);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, alloc_pd) == 40);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, attach_mcast) == 72);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, bind_mw) == 80);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, detach_mcast) == 304);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, dealloc_mw) == 200);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_alloc_mw) == 24);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, create_cq_ex) == 128);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, create_qp_ex) == 160);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, poll_cq) == 424);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, post_recv) == 432);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, post_send) == 440);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, reg_mr) == 544);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, unimport_pd) == 600);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_get_context) == 16);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_create_cq) == 40);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_create_qp) == 64);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_post_send) == 32);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_create_srq) == 40);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_modify_srq) == 24);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_query_srq) == 24);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, create_srq) == 176);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, destroy_srq) == 288);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, modify_srq) == 392);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, post_srq_recv) == 456);
MIRROR_PABI_STATIC_ASSERT(offsetof(struct verbs_context_ops, query_srq) == 512);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct mirror_cmd_create_cq_ex) == 56);
MIRROR_PABI_STATIC_ASSERT(sizeof(struct ib_uverbs_ex_create_cq_resp) == 16);

#endif /* MIRROR_PABI_H */
