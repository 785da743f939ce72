// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_stats.c - the counters, in one place: the device's (what
 * 'rdma statistic show' and /sys/class/infiniband/DEV/ports/1/hw_counters
 * print), the per-MR ODP counters ('rdma statistic mr show'), the names
 * of both, and the ODP counters libmirrorverbs reads (mirror_uapi.c).
 *
 * Every counter is an atomic64_t bumped where the event happens
 * (mirror_count(), mirror_count_add(), mirror_odp_count()); nothing here
 * takes a lock, and a reader sees each counter as of its own read.
 */
#include <linux/log2.h>
#include <rdma/restrack.h>

#include "mirror.h"

static const struct rdma_stat_desc mirror_counter_descs[MIRROR_CNT_COUNT] = {
	[MIRROR_CNT_TX_PACKETS].name = "tx_packets",
	[MIRROR_CNT_TX_BYTES].name = "tx_bytes",
	[MIRROR_CNT_RX_PACKETS].name = "rx_packets",
	[MIRROR_CNT_RX_BYTES].name = "rx_bytes",
	[MIRROR_CNT_RX_DROP_LEN].name = "rx_drop_malformed",
	[MIRROR_CNT_RX_DROP_ICRC].name = "rx_drop_bad_icrc",
	[MIRROR_CNT_RX_DROP_OPCODE].name = "rx_drop_bad_opcode",
	[MIRROR_CNT_RX_DROP_NO_QP].name = "rx_drop_unknown_qp",
	[MIRROR_CNT_RX_DROP_QP_STATE].name = "rx_drop_qp_state",
	[MIRROR_CNT_RX_DROP_QKEY].name = "rx_drop_bad_qkey",
	[MIRROR_CNT_RX_DROP_PSN].name = "rx_drop_out_of_window",
	[MIRROR_CNT_RX_DROP_BAD_DEST].name = "rx_drop_bad_dest",
	[MIRROR_CNT_RX_DROP_BAD_SRC].name = "rx_drop_bad_src",
	[MIRROR_CNT_RX_DROP_WRONG_PATH].name = "rx_drop_wrong_path",
	[MIRROR_CNT_RX_DROP_QUEUE_FULL].name = "rx_drop_queue_full",
	[MIRROR_CNT_RX_DROP_MCAST].name = "rx_drop_mcast",
	[MIRROR_CNT_RX_MCAST].name = "rx_mcast",
	[MIRROR_CNT_SEQ_NAK_SENT].name = "seq_err_nak_sent",
	[MIRROR_CNT_SEQ_NAK_RCVD].name = "seq_err_nak_rcvd",
	[MIRROR_CNT_RNR_NAK_SENT].name = "rnr_nak_sent",
	[MIRROR_CNT_RNR_NAK_RCVD].name = "rnr_nak_rcvd",
	[MIRROR_CNT_NAK_SENT].name = "nak_sent",
	[MIRROR_CNT_NAK_RCVD].name = "nak_rcvd",
	[MIRROR_CNT_RETRANS_TIMEOUT].name = "retrans_timeouts",
	[MIRROR_CNT_RETRANS_PACKETS].name = "retrans_packets",
	[MIRROR_CNT_DUP_REQUEST].name = "duplicate_requests",
	[MIRROR_CNT_TX_NO_ROUTE].name = "tx_drop_no_route",
	[MIRROR_CNT_RX_ACK_COALESCED].name = "rx_acks_coalesced",
	[MIRROR_CNT_FAST_REG].name = "fast_reg",
	[MIRROR_CNT_LOCAL_INV].name = "local_inv",
	[MIRROR_CNT_REMOTE_INV].name = "remote_inv",
	[MIRROR_CNT_MW_BIND].name = "mw_bind",
	[MIRROR_CNT_MW_INV].name = "mw_inv",
	[MIRROR_CNT_ODP_FAULTS].name = "odp_faults",
	[MIRROR_CNT_ODP_PAGES_FAULTED].name = "odp_pages_faulted",
	[MIRROR_CNT_ODP_INVALIDATIONS].name = "odp_invalidations",
	[MIRROR_CNT_ODP_PAGES_INVALIDATED].name = "odp_pages_invalidated",
	[MIRROR_CNT_ODP_PREFETCHES].name = "odp_prefetches",
	[MIRROR_CNT_ODP_FAULT_RETRIES].name = "odp_fault_retries",
	[MIRROR_CNT_ODP_CHILDREN_CREATED].name = "odp_children_created",
	[MIRROR_CNT_ODP_CHILDREN_DESTROYED].name = "odp_children_destroyed",
	[MIRROR_CNT_ODP_CHILDREN_LIVE].name = "odp_children_live",
	[MIRROR_CNT_ODP_MIRROR_BYTES].name = "odp_mirror_bytes",
#define MIRROR_LAT_NAME(n) \
	[MIRROR_CNT_ODP_LAT_FIRST + (n) - MIRROR_ODP_LAT_MIN_LOG2].name = \
		"odp_fault_ns_log2_" #n
	MIRROR_LAT_NAME(10), MIRROR_LAT_NAME(11), MIRROR_LAT_NAME(12),
	MIRROR_LAT_NAME(13), MIRROR_LAT_NAME(14), MIRROR_LAT_NAME(15),
	MIRROR_LAT_NAME(16), MIRROR_LAT_NAME(17), MIRROR_LAT_NAME(18),
	MIRROR_LAT_NAME(19), MIRROR_LAT_NAME(20), MIRROR_LAT_NAME(21),
	MIRROR_LAT_NAME(22), MIRROR_LAT_NAME(23), MIRROR_LAT_NAME(24),
	MIRROR_LAT_NAME(25), MIRROR_LAT_NAME(26), MIRROR_LAT_NAME(27),
	MIRROR_LAT_NAME(28), MIRROR_LAT_NAME(29),
#undef MIRROR_LAT_NAME
};

/**
 * mirror_alloc_hw_port_stats() - the device counters' descriptions, for
 *	'rdma statistic' and sysfs hw_counters
 * @ibdev: the device
 * @port: its port
 *
 * Return: the stats struct, or NULL.
 */
struct rdma_hw_stats *mirror_alloc_hw_port_stats(struct ib_device *ibdev,
						 u32 port)
{
	/*
	 * Reading the counters is cheap: no caching beyond the current
	 * jiffy, so that a test sees what a verb it just ran counted.
	 */
	return rdma_alloc_hw_stats_struct(mirror_counter_descs,
					  ARRAY_SIZE(mirror_counter_descs), 0);
}

/**
 * mirror_get_hw_stats() - read the device counters
 * @ibdev: the device
 * @stats: where they go
 * @port: its port
 * @index: which (all of them are read)
 *
 * Return: how many were read.
 */
int mirror_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
			u32 port, int index)
{
	struct mirror_dev *dev = to_mirror_dev(ibdev);
	int i;

	for (i = 0; i < MIRROR_CNT_COUNT; i++)
		stats->value[i] = atomic64_read(&dev->counters[i]);
	return MIRROR_CNT_COUNT;
}

static const char * const mirror_mr_counter_names[MIRROR_MR_CNT_COUNT] = {
	[MIRROR_MR_CNT_FAULTS] = "page_faults",
	[MIRROR_MR_CNT_PAGES_FAULTED] = "pages_faulted",
	[MIRROR_MR_CNT_INVALIDATIONS] = "invalidations",
	[MIRROR_MR_CNT_PAGES_INVALIDATED] = "pages_invalidated",
	[MIRROR_MR_CNT_PREFETCHES] = "prefetches",
	[MIRROR_MR_CNT_FAULT_RETRIES] = "fault_retries",
	[MIRROR_MR_CNT_CHILDREN_CREATED] = "children_created",
	[MIRROR_MR_CNT_CHILDREN_DESTROYED] = "children_destroyed",
};

/* The device counter that matches each per-MR counter. */
static const int mirror_mr_counter_dev[MIRROR_MR_CNT_COUNT] = {
	[MIRROR_MR_CNT_FAULTS] = MIRROR_CNT_ODP_FAULTS,
	[MIRROR_MR_CNT_PAGES_FAULTED] = MIRROR_CNT_ODP_PAGES_FAULTED,
	[MIRROR_MR_CNT_INVALIDATIONS] = MIRROR_CNT_ODP_INVALIDATIONS,
	[MIRROR_MR_CNT_PAGES_INVALIDATED] = MIRROR_CNT_ODP_PAGES_INVALIDATED,
	[MIRROR_MR_CNT_PREFETCHES] = MIRROR_CNT_ODP_PREFETCHES,
	[MIRROR_MR_CNT_FAULT_RETRIES] = MIRROR_CNT_ODP_FAULT_RETRIES,
	[MIRROR_MR_CNT_CHILDREN_CREATED] = MIRROR_CNT_ODP_CHILDREN_CREATED,
	[MIRROR_MR_CNT_CHILDREN_DESTROYED] = MIRROR_CNT_ODP_CHILDREN_DESTROYED,
};

/* Where each per-MR counter goes in the user ABI's struct. */
static const size_t mirror_mr_counter_abi[MIRROR_MR_CNT_COUNT] = {
	[MIRROR_MR_CNT_FAULTS] = offsetof(struct mirror_odp_counters, faults),
	[MIRROR_MR_CNT_PAGES_FAULTED] =
		offsetof(struct mirror_odp_counters, pages_faulted),
	[MIRROR_MR_CNT_INVALIDATIONS] =
		offsetof(struct mirror_odp_counters, invalidations),
	[MIRROR_MR_CNT_PAGES_INVALIDATED] =
		offsetof(struct mirror_odp_counters, pages_invalidated),
	[MIRROR_MR_CNT_PREFETCHES] =
		offsetof(struct mirror_odp_counters, prefetches),
	[MIRROR_MR_CNT_FAULT_RETRIES] =
		offsetof(struct mirror_odp_counters, fault_retries),
	[MIRROR_MR_CNT_CHILDREN_CREATED] =
		offsetof(struct mirror_odp_counters, children_created),
	[MIRROR_MR_CNT_CHILDREN_DESTROYED] =
		offsetof(struct mirror_odp_counters, children_destroyed),
};

/**
 * mirror_odp_count() - count @n events of an ODP MR
 * @mr: the MR
 * @counter: enum mirror_mr_counter
 * @n: how many (0 counts nothing)
 *
 * Counts for the MR and for its device.
 */
void mirror_odp_count(struct mirror_mr *mr, int counter, u64 n)
{
	if (!n)
		return;
	atomic64_add(n, &mr->stats[counter]);
	mirror_count_add(to_mirror_dev(mr->ibmr.device),
			 mirror_mr_counter_dev[counter], n);
}

/**
 * mirror_odp_count_latency() - count one fault's duration in its bucket
 * @mr: the MR whose fault it was
 * @ns: how long the fault took
 */
void mirror_odp_count_latency(struct mirror_mr *mr, u64 ns)
{
	int bucket = ns ? ilog2(ns) - MIRROR_ODP_LAT_MIN_LOG2 : 0;

	bucket = clamp(bucket, 0, MIRROR_ODP_LAT_BUCKETS - 1);
	mirror_count(to_mirror_dev(mr->ibmr.device),
		     MIRROR_CNT_ODP_LAT_FIRST + bucket);
}

/**
 * mirror_odp_counters() - fill the user ABI's counters
 * @dev: the device, for the device-wide counters, or NULL
 * @mr: the MR, for its own counters (when @dev is NULL)
 * @c: the counters
 */
void mirror_odp_counters(struct mirror_dev *dev, struct mirror_mr *mr,
			 struct mirror_odp_counters *c)
{
	u64 *field;
	int i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < MIRROR_MR_CNT_COUNT; i++) {
		field = (void *)c + mirror_mr_counter_abi[i];
		*field = mr ? atomic64_read(&mr->stats[i]) :
			      atomic64_read(&dev->counters[mirror_mr_counter_dev[i]]);
	}
	if (mr) {
		c->children_live = mr->implicit ?
				   atomic_read(&mr->nchildren) : 0;
		return;
	}
	c->children_live =
		atomic64_read(&dev->counters[MIRROR_CNT_ODP_CHILDREN_LIVE]);
	c->mirror_bytes =
		atomic64_read(&dev->counters[MIRROR_CNT_ODP_MIRROR_BYTES]);
	for (i = 0; i < MIRROR_ODP_LAT_BUCKETS; i++)
		c->fault_ns_log2[i] =
			atomic64_read(&dev->counters[MIRROR_CNT_ODP_LAT_FIRST + i]);
}

/**
 * mirror_fill_stat_mr_entry() - the per-MR ODP counters for netlink
 * @msg: the message ('rdma statistic mr show')
 * @ibmr: the MR
 *
 * Return: 0 or -EMSGSIZE.
 */
int mirror_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr)
{
	struct mirror_mr *mr = to_mirror_mr(ibmr);
	struct nlattr *table;
	int i;

	table = nla_nest_start(msg, RDMA_NLDEV_ATTR_STAT_HWCOUNTERS);
	if (!table)
		return -EMSGSIZE;
	for (i = 0; i < MIRROR_MR_CNT_COUNT; i++) {
		if (rdma_nl_stat_hwcounter_entry(msg,
						 mirror_mr_counter_names[i],
						 atomic64_read(&mr->stats[i]))) {
			nla_nest_cancel(msg, table);
			return -EMSGSIZE;
		}
	}
	nla_nest_end(msg, table);
	return 0;
}
