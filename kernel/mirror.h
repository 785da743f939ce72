/* SPDX-License-Identifier: GPL-2.0 */
/*
 * mirror.h - private umbrella header of rdma_mirror.ko.
 *
 * Object lifetime: ib_core allocates the memory of PDs, CQs, QPs, AHs and
 * ucontexts (INIT_RDMA_OBJ_SIZE) and frees it right after our destroy
 * callback returns. Objects that other paths find by number (QPs by QPN,
 * MRs by key index, AV copies by ah_num) sit in per-device xarrays; a lookup
 * takes a reference with kref_get_unless_zero() (QPs under the xarray's
 * lock, MRs under RCU, their memory being RCU-freed), and destroy removes
 * the object from its xarray, drops the initial reference and waits
 * (without a timeout) until the last reference is gone.
 */
#ifndef MIRROR_H
#define MIRROR_H

#include <linux/completion.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mmu_notifier.h>
#include <linux/mutex.h>
#include <linux/rhashtable.h>
#include <linux/netdevice.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <net/dst_cache.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>

#include "compat.h"
#include "mirror_pkt.h"
#include "mirror_param.h"
#include "rdma_user_mirror.h"

struct mirror_fault_job;	/* mirror_req.c */

/* Numeric values shared with libibverbs' enum ibv_wc_opcode. */
enum {
	MIRROR_WC_SEND = IB_UVERBS_WC_SEND,
	MIRROR_WC_RDMA_WRITE = IB_UVERBS_WC_RDMA_WRITE,
	MIRROR_WC_RDMA_READ = IB_UVERBS_WC_RDMA_READ,
	MIRROR_WC_COMP_SWAP = IB_UVERBS_WC_COMP_SWAP,
	MIRROR_WC_FETCH_ADD = IB_UVERBS_WC_FETCH_ADD,
	MIRROR_WC_LOCAL_INV = IB_UVERBS_WC_LOCAL_INV,
	MIRROR_WC_BIND_MW = IB_UVERBS_WC_BIND_MW,
	MIRROR_WC_REG_MR = IB_WC_REG_MR,	/* kernel consumers only */
	MIRROR_WC_RECV = 1 << 7,
	MIRROR_WC_RECV_RDMA_WITH_IMM = (1 << 7) + 1,
};

/*
 * CQEs carry the user ABI's numeric IBV_WC_* flags (rdma_user_mirror.h);
 * two of them sit on other bits than the kernel's IB_WC_* flags.
 */
enum {
	MIRROR_CQE_F_GRH	= 1 << 0,	/* IBV_WC_GRH */
	MIRROR_CQE_F_WITH_IMM	= 1 << 1,	/* IBV_WC_WITH_IMM */
	MIRROR_CQE_F_IP_CSUM_OK	= 1 << 2,	/* IBV_WC_IP_CSUM_OK */
	MIRROR_CQE_F_WITH_INV	= 1 << 3,	/* IBV_WC_WITH_INV */
};

/* Bytes of GRH in front of every UD receive. */
#define MIRROR_GRH_BYTES	40

/* Per-object debug output (dynamic debug; nothing on the fast path). */
#define mirror_dbg(dev, fmt, ...) \
	ibdev_dbg(&(dev)->ib_dev, "%s: " fmt, __func__, ##__VA_ARGS__)
#define mirror_dbg_qp(qp, fmt, ...) \
	ibdev_dbg((qp)->ibqp.device, "qp#%u %s: " fmt, (qp)->ibqp.qp_num, \
		  __func__, ##__VA_ARGS__)
#define mirror_dbg_cq(cq, fmt, ...) \
	ibdev_dbg((cq)->ibcq.device, "cq %s: " fmt, __func__, ##__VA_ARGS__)
#define mirror_dbg_mr(mr, fmt, ...) \
	ibdev_dbg((mr)->ibmr.device, "mr 0x%x %s: " fmt, (mr)->ibmr.lkey, \
		  __func__, ##__VA_ARGS__)

/*
 * The fault-latency histogram: buckets 2^10 ns (and faster) .. 2^29 ns;
 * MIRROR_ODP_LAT_BUCKETS is in the user ABI header.
 */
#define MIRROR_ODP_LAT_MIN_LOG2	10

/* Device counters, shown by 'rdma statistic show link DEV/1'. */
enum mirror_counter {
	MIRROR_CNT_TX_PACKETS,
	MIRROR_CNT_TX_BYTES,
	MIRROR_CNT_RX_PACKETS,
	MIRROR_CNT_RX_BYTES,
	MIRROR_CNT_RX_DROP_LEN,		/* truncated or garbage */
	MIRROR_CNT_RX_DROP_ICRC,
	MIRROR_CNT_RX_DROP_OPCODE,	/* unknown, or wrong for the QP */
	MIRROR_CNT_RX_DROP_NO_QP,
	MIRROR_CNT_RX_DROP_QP_STATE,
	MIRROR_CNT_RX_DROP_QKEY,
	MIRROR_CNT_RX_DROP_PSN,		/* outside the window */
	MIRROR_CNT_RX_DROP_BAD_DEST,	/* not unicast to one of our addresses */
	MIRROR_CNT_RX_DROP_BAD_SRC,	/* not from the QP's connected peer */
	MIRROR_CNT_RX_DROP_WRONG_PATH,	/* for a QP connected the other way */
	MIRROR_CNT_RX_DROP_QUEUE_FULL,	/* the QP's receive queue is full */
	MIRROR_CNT_RX_DROP_MCAST,	/* multicast nobody here attached to */
	MIRROR_CNT_RX_MCAST,		/* multicast copies given to QPs */
	MIRROR_CNT_SEQ_NAK_SENT,
	MIRROR_CNT_SEQ_NAK_RCVD,
	MIRROR_CNT_RNR_NAK_SENT,
	MIRROR_CNT_RNR_NAK_RCVD,
	MIRROR_CNT_NAK_SENT,		/* invalid request, access, operation */
	MIRROR_CNT_NAK_RCVD,
	MIRROR_CNT_RETRANS_TIMEOUT,
	MIRROR_CNT_RETRANS_PACKETS,
	MIRROR_CNT_DUP_REQUEST,
	MIRROR_CNT_TX_NO_ROUTE,
	MIRROR_CNT_RX_ACK_COALESCED,	/* a queued ACK made redundant */
	MIRROR_CNT_FAST_REG,		/* IB_WR_REG_MR done */
	MIRROR_CNT_LOCAL_INV,		/* IB_WR_LOCAL_INV done */
	MIRROR_CNT_REMOTE_INV,		/* SEND with Invalidate taken */
	MIRROR_CNT_MW_BIND,		/* memory window binds done */
	MIRROR_CNT_MW_INV,		/* windows invalidated (local or remote) */
	/* On-demand paging (mirror_odp.c) */
	MIRROR_CNT_ODP_FAULTS,		/* fault helper calls that faulted */
	MIRROR_CNT_ODP_PAGES_FAULTED,
	MIRROR_CNT_ODP_INVALIDATIONS,
	MIRROR_CNT_ODP_PAGES_INVALIDATED,
	MIRROR_CNT_ODP_PREFETCHES,
	MIRROR_CNT_ODP_FAULT_RETRIES,
	MIRROR_CNT_ODP_CHILDREN_CREATED,	/* implicit MRs */
	MIRROR_CNT_ODP_CHILDREN_DESTROYED,
	MIRROR_CNT_ODP_CHILDREN_LIVE,
	MIRROR_CNT_ODP_MIRROR_BYTES,	/* memory of all mirrors now */
	/* fault latency, log2 buckets of ns: [2^10, 2^11) ... [2^29, inf) */
	MIRROR_CNT_ODP_LAT_FIRST,
	MIRROR_CNT_ODP_LAT_LAST = MIRROR_CNT_ODP_LAT_FIRST +
				  MIRROR_ODP_LAT_BUCKETS - 1,
	MIRROR_CNT_COUNT,
};

/**
 * struct mirror_dev - one mirror device, bound to one Ethernet netdev
 * @ib_dev: the ib_core device (must be first: ib_alloc_device)
 * @list: entry in the module's device list (mirror_dev_lock)
 * @dead: its dealloc_driver has run; still listed until the module's
 *	reaper or exit has waited for ib_core to be done (mirror_dev_lock)
 * @ndev: the bound netdev; a reference is held until dealloc_driver
 * @ndev_tracker: tracks that reference
 * @qp_xa: QPN -> struct mirror_qp (allocation-cyclic; lookups take a
 *	reference under its BH lock)
 * @next_qpn: cursor of @qp_xa's cyclic allocation
 * @mr_ht: key handle (lkey >> 8) -> struct mirror_mr; lookups under RCU
 * @num_mrs: MRs allocated, against MIRROR_MAX_MR
 * @num_mws: memory windows allocated, against MIRROR_MAX_MW
 * @mcast_lock: serialises attach_mcast and detach_mcast: the writers of
 *	@mcast_hash and the counts below; taken before rtnl_lock (to join
 *	and leave the IP groups)
 * @mcast_hash: multicast groups with QPs attached (struct mirror_mcast),
 *	by a hash of the MGID; RCU lists, read by the receive path
 * @num_mcast_groups: groups in @mcast_hash, against MIRROR_MAX_MCAST_GRP
 * @num_mcast_attach: attachments of all groups, against
 *	MIRROR_MAX_MCAST_TOTAL
 * @mw_lock: makes binding a window to an MR and deregistering the MR
 *	exclusive: protects every MR's @bound_mws and @dying
 * @av_xa: ah_num -> struct mirror_av; IRQ-safe lock because kernel AHs
 *	may be created and destroyed in atomic context
 * @next_ah: cursor of @av_xa's cyclic allocation
 * @num_pds: PDs allocated, against MIRROR_MAX_PD
 * @num_cqs: CQs allocated, against MIRROR_MAX_CQ
 * @num_srqs: SRQs allocated, against MIRROR_MAX_SRQ
 * @num_qps: QPs allocated, against MIRROR_MAX_QP
 * @wq: per-device workqueue of the QP engines (process context)
 * @odp_wq: the removal and freeing of implicit MRs' children: apart from
 *	@wq, so that a fault (which may run in @wq) can wait for it
 * @fault_wq: faults of a destination's memory on behalf of a same-device
 *	requester (mirror_req.c): apart, so that faults another process
 *	makes slow hold up only each other
 * @atomic_lock: serialises the atomic operations of all QPs of the device,
 *	so that each read-modify-write is atomic against the others (the
 *	IB_ATOMIC_HCA guarantee); a mutex because ODP pages may be faulted in
 * @sock: the RoCEv2 UDP socket (IPv4), or NULL (port 4791 taken in the
 *	namespace): set before registration, released in dealloc_driver
 * @sock6: the same for IPv6, or NULL
 * @rx_queued_bytes: memory (truesize) of the packets queued for all QPs,
 *	against MIRROR_RX_DEV_BYTES
 * @counters: enum mirror_counter, updated without a lock
 * @last_port_event: the port event last dispatched, or
 *	MIRROR_PORT_EVENT_NONE; only the netdev notifier uses it, under
 *	rtnl_lock
 */
struct mirror_dev {
	struct ib_device ib_dev;
	struct list_head list;
	bool dead;
	struct net_device *ndev;
	netdevice_tracker ndev_tracker;
	struct xarray qp_xa;
	u32 next_qpn;
	struct rhashtable mr_ht;
	atomic_t num_mrs;
	atomic_t num_mws;
	spinlock_t mw_lock;
	struct mutex mcast_lock;
	struct hlist_head mcast_hash[MIRROR_MCAST_BUCKETS];
	u32 num_mcast_groups;
	u32 num_mcast_attach;
	struct xarray av_xa;
	u32 next_ah;
	atomic_t num_pds;
	atomic_t num_cqs;
	atomic_t num_srqs;
	atomic_t num_qps;
	struct workqueue_struct *wq;
	struct workqueue_struct *odp_wq;
	struct workqueue_struct *fault_wq;
	struct mutex atomic_lock;
	struct socket *sock;
	struct socket *sock6;
	atomic_long_t rx_queued_bytes;
	atomic64_t counters[MIRROR_CNT_COUNT];
	int last_port_event;
};

#define MIRROR_PORT_EVENT_NONE	(-1)

/**
 * struct mirror_mcast - a multicast group QPs of the device are attached to
 * @node: in the device's mcast_hash
 * @mgid: the group's GID: an IPv4-mapped or IPv6 multicast address
 * @qps: struct mirror_mcast_qp, RCU list
 * @nqps: entries in @qps, against MIRROR_MAX_MCAST_QP_ATTACH
 *
 * Freed by detach after an RCU grace period.
 */
struct mirror_mcast {
	struct hlist_node node;
	union ib_gid mgid;
	struct list_head qps;
	u32 nqps;
};

/**
 * struct mirror_mcast_qp - a QP attached to a group
 * @node: in the group's @qps
 * @qp: the QP; ib_core keeps it alive while it is attached, and detach
 *	waits for the readers before it returns
 */
struct mirror_mcast_qp {
	struct list_head node;
	struct mirror_qp *qp;
};

/**
 * struct mirror_ucontext - per-process (per uverbs file) context
 * @ibuc: the ib_core context
 * @odp_table_bytes: memory of the mirror page tables of the context's ODP
 *	MRs (explicit and implicit children), against
 *	mirror_odp_table_limit()
 */
struct mirror_ucontext {
	struct ib_ucontext ibuc;
	atomic64_t odp_table_bytes;
};

/**
 * struct mirror_pd - protection domain
 * @ibpd: the ib_core PD
 */
struct mirror_pd {
	struct ib_pd ibpd;
};

/**
 * struct mirror_mmap_entry - a queue buffer offered to mmap()
 * @rdma: the ib_core entry (offset, size, refcount)
 * @buf: vmalloc_user() buffer; freed by mmap_free once the entry is gone
 */
struct mirror_mmap_entry {
	struct rdma_user_mmap_entry rdma;
	void *buf;
};

/**
 * struct mirror_queue - a ring in the layout of rdma_user_mirror.h
 * @buf: start of the area: struct mirror_ring_hdr, then the slots
 * @hdr: == @buf
 * @num_slots: power of two
 * @stride: bytes per slot, power of two
 * @size: bytes of the area (page aligned)
 * @mentry: mmap entry when the ring is shared with user space, else NULL
 *
 * The ring itself has no lock: the owner of the queue says which lock
 * serialises its producer and its consumer.
 */
struct mirror_queue {
	void *buf;
	struct mirror_ring_hdr *hdr;
	u32 num_slots;
	u32 stride;
	size_t size;
	struct mirror_mmap_entry *mentry;
};

/**
 * struct mirror_cq - completion queue
 * @ibcq: the ib_core CQ
 * @lock: serialises the producer side (completion writers), resize and,
 *	for kernel CQs, the consumer side (poll_cq); taken with irqsave
 * @queue: the CQE ring
 * @notify: armed notification flags (IB_CQ_SOLICITED/NEXT_COMP); @lock
 * @is_user: the ring is shared with user space
 * @prod: our copy of the producer index (user space cannot change it); @lock
 */
struct mirror_cq {
	struct ib_cq ibcq;
	spinlock_t lock;
	struct mirror_queue queue;
	u32 notify;
	bool is_user;
	u32 prod;
};

/**
 * struct mirror_seg - part of a transfer: a checked MR range or a buffer
 * @mr: the MR (a reference is held), or NULL for @kaddr
 * @key: the key @mr was found by
 * @gen: a fast MR's registration the range was checked in
 * @iova: first byte in @mr
 * @len: bytes
 * @access: the IB_ACCESS_* flags the range was checked for; only a
 *	writing access (local write, remote write, remote atomic) lets a
 *	copy write it
 * @kaddr: kernel buffer when @mr is NULL
 */
struct mirror_seg {
	struct mirror_mr *mr;
	u32 key;
	u32 gen;
	u64 iova;
	u32 len;
	int access;
	void *kaddr;
};

/**
 * struct mirror_segs - the memory one side of a transfer touches
 * @seg: segments, in order
 * @n: segments used
 * @total: bytes in all segments
 * @failed: an access to this list failed (an ODP page could not be
 *	faulted in, or a write was refused); set by the copy helpers so that
 *	callers can tell which side of a transfer went wrong
 * @nofault: a missing ODP page is not faulted in: the copy stops with
 *	-EAGAIN, @missed and @miss (mirror_mem.c)
 * @missed: a nofault copy stopped at a page of this list
 * @miss: where in the list that page is
 */
struct mirror_segs {
	struct mirror_seg seg[MIRROR_MAX_SGE];
	u32 n;
	u64 total;
	bool failed;
	bool nofault;
	bool missed;
	u64 miss;
};

/* ODP faults cover at most this much at a time (as mlx5 does). */
#define MIRROR_FAULT_CHUNK	SZ_4M

/* Sizes of the ring slots' parts. */
enum {
	MIRROR_SEND_WQE_HDR = sizeof(struct mirror_send_wqe),
	MIRROR_RECV_WQE_HDR = sizeof(struct mirror_recv_wqe),
	MIRROR_SGE_SIZE = sizeof(struct mirror_sge),
};

/**
 * struct mirror_srq - shared receive queue
 * @ibsrq: the ib_core SRQ
 * @rq: the receive ring
 * @post_lock: serialises kernel consumers posting to @rq
 * @take_lock: serialises the responders taking from @rq: @cons, @limit
 * @cons: our copy of the consumer index
 * @limit: armed limit (IB_EVENT_SRQ_LIMIT_REACHED below it), 0 = disarmed
 * @max_sge: SGEs per receive
 * @is_user: the ring is shared with user space
 */
struct mirror_srq {
	struct ib_srq ibsrq;
	struct mirror_queue rq;
	spinlock_t post_lock;
	struct mutex take_lock;
	u32 cons;
	u32 limit;
	u32 max_sge;
	bool is_user;
};

/* What kind of WQE an SQ slot holds, for the completer. */
enum mirror_wqe_kind {
	MIRROR_KIND_SEND,	/* SEND or WRITE: done when ACKed */
	MIRROR_KIND_READ,	/* done when the last response arrives */
	MIRROR_KIND_ATOMIC,	/* done when the atomic ACK arrives */
};

/**
 * struct mirror_sq_meta - the wire state of one SQ slot's WQE
 * @first_psn: PSN of its first packet
 * @last_psn: PSN of its last packet (of the last response, for a READ)
 * @next_resp: the first of its PSNs not known to have arrived: a READ's
 *	next response expected; for a SEND or WRITE, the PSN after an ACK
 *	(or the one a sequence NAK names) inside the message
 * @next_send: the PSN of its next packet to send (a READ: of the first
 *	response not asked for yet): a message longer than the window goes
 *	out as the window opens (past @last_psn once all of it went)
 * @len: bytes of the message, from the kernel's copy of the WQE
 * @status: completion status once @done
 * @kind: enum mirror_wqe_kind
 * @done: completed on the wire, waiting to be reported in order
 * @resend: sent before and rewound since (mirror_sq_rewind()): it then
 *	goes on from @next_resp, and until it is sent again its PSNs (the
 *	same ones again) still take the answers to its first sending
 * @rd_counted: a READ or atomic in flight, counted in the QP's rd_out
 * @ask_due: a READ or atomic in flight whose answers have a gap: its
 *	missing part alone is to be asked for again (mirror_sq_ask_again())
 * @asked: that request is out; no other until the WQE makes progress,
 *	goes again or the timer fires
 * @byte_len: bytes for the completion
 */
struct mirror_sq_meta {
	u32 first_psn;
	u32 last_psn;
	u32 next_resp;
	u32 next_send;
	u32 len;
	u8 status;
	u8 kind;
	bool done;
	bool resend;
	bool rd_counted;
	bool ask_due;
	bool asked;
	u32 byte_len;
};

/* Responder message state of an RC/UC QP. */
enum mirror_resp_msg {
	MIRROR_RESP_IDLE,	/* between messages */
	MIRROR_RESP_SEND,	/* a multi-packet SEND is being received */
	MIRROR_RESP_WRITE,	/* a multi-packet WRITE is being received */
	MIRROR_RESP_DROP,	/* UC: the rest of a broken message is dropped */
};

/* What a responder resource holds. */
enum mirror_res_kind {
	MIRROR_RES_FREE,
	MIRROR_RES_READ,
	MIRROR_RES_ATOMIC,
};

/**
 * struct mirror_rd_res - a READ or atomic the responder accepted
 * @kind: enum mirror_res_kind
 * @first_psn: PSN of the request (and of the first response)
 * @last_psn: PSN of the last response
 * @next_psn: READ: the next response to send; != @last_psn + 1 while the
 *	READ is still being answered (see @active)
 * @active: READ: responses are still to be sent
 * @va: READ: the remote address of the first byte
 * @rkey: READ: its key, looked up again for every burst of responses
 * @len: READ: bytes asked for
 * @orig: atomic: the value returned, for a duplicate request
 *
 * The IB spec's "responder resources": a QP keeps max_dest_rd_atomic of
 * them, in a ring, so that a duplicate request (the requester resending
 * after a loss) is answered from here, an atomic never executed twice.
 */
struct mirror_rd_res {
	u8 kind;
	bool active;
	u32 first_psn;
	u32 last_psn;
	u32 next_psn;
	u64 va;
	u32 rkey;
	u32 len;
	u64 orig;
};

/* QP states, in the order of the verbs spec. */
enum mirror_qp_state {
	MIRROR_QPS_RESET,
	MIRROR_QPS_INIT,
	MIRROR_QPS_RTR,
	MIRROR_QPS_RTS,
	MIRROR_QPS_SQD,
	MIRROR_QPS_SQE,
	MIRROR_QPS_ERR,
	MIRROR_QPS_COUNT,
};

/**
 * struct mirror_qp_req - the requester's and the completer's state of a QP,
 *	all under its req_lock
 * @sq_copy: user QPs: the kernel's copy of each SQ slot, made once when
 *	the requester first reaches it (mirror_sq_fetch()); every later use
 *	(execution, RNR retries, retransmission, completion, flush) reads the
 *	copy, never the ring user space may rewrite. NULL for kernel QPs,
 *	whose ring only the kernel writes.
 * @sq_cons: the oldest WQE not completed
 * @sq_fetched: slots before this one are in @sq_copy
 * @sq_next: wire: next WQE to send (between @sq_cons and @sq_fetched + 1)
 * @meta: per SQ slot wire state
 * @psn: PSN of the next new packet (same device: of the next message)
 * @rd_out: READs and atomics in flight
 * @retry_left: timeouts left before RETRY_EXC_ERR
 * @rnr_left: RNR retries left for the current WQE, or
 *	MIRROR_RNR_NOT_STARTED
 * @rnr_wait: the requester waits out an RNR NAK
 * @ask_due: some WQE in flight has @ask_due set
 * @cwnd: PSNs that may be in flight (MIRROR_WINDOW_PSNS; after a
 *	timeout one, then one more for each PSN answered, twice as many per
 *	round trip, up to @ssthresh; past it one more per window answered;
 *	a loss the peer reports halves it: mirror_sq_congestion(); an RNR
 *	NAK makes it one: mirror_sq_receiver_full())
 * @ssthresh: where the doubling of @cwnd stops: half the window a loss
 *	or a timeout found, or the window an RNR NAK found
 * @cwnd_acc: PSNs answered since @cwnd last grew past @ssthresh
 * @rto_shift: the timeout is the QP's doubled this many times (one more
 *	per timeout, up to MIRROR_RTO_MAX_SHIFT; one less per progress)
 * @retrans_timer: the retransmission timer
 * @retrans_due: the timer fired (bit 0), handled by the requester
 * @rnr_timer: ends an RNR wait (mirror_qp_rnr_wait()): queues req_work
 * @dfault_left: same device: waits for the destination's memory left for
 *	the current WQE (from retry_cnt), or MIRROR_RNR_NOT_STARTED
 * @dfault_job: same device: the last fault of a destination's memory
 *	started for this requester (one at a time), or NULL
 * @dmsg_begun: same device: the first WQE's SEND or WRITE has begun at the
 *	destination (a step of it stopped at a missing page): its next step
 *	continues that message, which the destination must still hold
 * @ud_bounce: UD/GSI: a datagram's payload, copied out of the sender's
 *	memory before any destination is held (MIRROR_MAX_MTU bytes)
 * @local: scratch list: the local memory of one step
 * @remote: scratch list: the other side's memory of one same-device step
 */
struct mirror_qp_req {
	void *sq_copy;
	u32 sq_cons;
	u32 sq_fetched;
	u32 sq_next;
	struct mirror_sq_meta *meta;
	u32 psn;
	u32 rd_out;
	u8 retry_left;
	u8 rnr_left;
	bool rnr_wait;
	bool ask_due;
	u32 cwnd;
	u32 ssthresh;
	u32 cwnd_acc;
	u8 rto_shift;
	struct timer_list retrans_timer;
	unsigned long retrans_due;
	struct hrtimer rnr_timer;
	u8 dfault_left;
	struct mirror_fault_job *dfault_job;
	bool dmsg_begun;
	void *ud_bounce;
	struct mirror_segs local;
	struct mirror_segs remote;
};

/**
 * struct mirror_qp_peer - where an RC/UC QP's peer is; set at INIT -> RTR
 *	under both req_lock and resp_lock, so either lock makes it stable
 * @wire: the peer is not on this device: packets go over RoCEv2
 * @path: addresses of the peer (wire)
 * @qpn: the peer's QPN (dest_qp_num)
 * @gid: the peer's GID (the AV's destination GID)
 * @own_gid: our GID towards the peer (the AV's source GID)
 * @routes: the route to @path's destination, looked up once per CPU and
 *	kept while the kernel's routing still holds it (RC/UC); emptied
 *	when @path is set
 */
struct mirror_qp_peer {
	bool wire;
	struct mirror_path path;
	struct dst_cache routes;
	u32 qpn;
	union ib_gid gid;
	union ib_gid own_gid;
};

/**
 * struct mirror_qp_resp - the responder's state of a QP, all under its
 *	resp_lock
 * @rq_cons: our copy of the RQ consumer index
 * @epsn: the expected PSN
 * @msn: messages completed
 * @nak_sent: a PSN sequence NAK is outstanding
 * @ack_pending: an ACK for @ack_psn waits to be sent
 * @ack_psn: the newest PSN an ACK was asked for
 * @msg: the message being received
 * @off: bytes of it received so far
 * @have_recv: a receive is taken for the message being received: its
 *	@wr_id, @sge (a kernel copy), @nsge and @len
 * @wr_id: its wr_id
 * @sge: its SGEs
 * @nsge: entries in @sge
 * @len: bytes its SGEs hold
 * @rkey: the WRITE being received: its key (looked up per packet)
 * @va: ... its address
 * @wlen: ... its length
 * @res: the responder resources (max_dest_rd_atomic of them used)
 * @res_head: the next resource to use
 * @res_cur: the READ whose responses are being sent, or NULL
 * @segs: scratch list: the memory one packet or step touches
 */
struct mirror_qp_resp {
	u32 rq_cons;
	u32 epsn;
	u32 msn;
	bool nak_sent;
	bool ack_pending;
	u32 ack_psn;
	enum mirror_resp_msg msg;
	u32 off;
	bool have_recv;
	u64 wr_id;
	struct mirror_sge sge[MIRROR_MAX_SGE];
	u32 nsge;
	u64 len;
	u32 rkey;
	u64 va;
	u32 wlen;
	struct mirror_rd_res *res;
	u32 res_head;
	struct mirror_rd_res *res_cur;
	struct mirror_segs segs;
};

/**
 * struct mirror_qp_rx - the packets received for a QP (wire), queued in
 *	softirq and handled by @work; each queue has its own lock
 * @queue: requests, for the responder
 * @resp_queue: ACKs and responses, for the completer; two queues, so that
 *	responses still flow while READ responses stream
 * @queued: packets in both queues, against MIRROR_RX_QUEUE_PKTS
 * @work: runs the completer, then the responder, on the queues
 */
struct mirror_qp_rx {
	struct sk_buff_head queue;
	struct sk_buff_head resp_queue;
	atomic_t queued;
	struct work_struct work;
};

/**
 * struct mirror_qp - queue pair
 * @ibqp: the ib_core QP
 * @ref: lookups by QPN hold a reference
 * @released: completed when @ref drops to zero
 * @state_lock: protects @state and @attr (modify/query, and later the
 *	engines reading them); taken before @req_lock
 * @state: current state
 * @err_due: bit 0: the requester or responder decided, under req_lock or
 *	resp_lock, that the QP enters ERR; mirror_qp_enter_err() applies it
 *	under @state_lock after those locks are dropped, unless a reset
 *	(which takes both) withdrew it in between
 * @attr: attributes as last set through modify_qp
 * @sq_lock: serialises posting to @sq from kernel consumers
 * @rq_lock: serialises posting to @rq from kernel consumers
 * @sq: send ring
 * @rq: receive ring (empty for QPs on an SRQ)
 * @max_inline: granted inline payload bytes
 * @sq_sig_all: every send WR completes (IB_SIGNAL_ALL_WR)
 * @is_user: the rings are shared with user space
 * @uid: a number no other QP of the module has had: type 2 memory
 *	windows name the QP they are bound to by it (QPNs are reused)
 * @req_work: the requester, kicked by the doorbell (and after an RNR wait)
 * @req_lock: guards @req; taken before @resp_lock when both are needed
 * @req: the requester and the completer
 * @peer: where the peer is (both @req_lock and @resp_lock to change it)
 * @resp_lock: guards @resp
 * @resp: the responder
 * @rx: received packets (wire)
 */
struct mirror_qp {
	struct ib_qp ibqp;
	struct kref ref;
	struct completion released;
	struct mutex state_lock;
	enum mirror_qp_state state;
	unsigned long err_due;
	struct ib_qp_attr attr;
	spinlock_t sq_lock;
	spinlock_t rq_lock;
	struct mirror_queue sq;
	struct mirror_queue rq;
	u32 max_inline;
	bool sq_sig_all;
	bool is_user;
	u64 uid;
	struct delayed_work req_work;

	struct mutex req_lock;
	struct mirror_qp_req req;

	struct mirror_qp_peer peer;

	struct mutex resp_lock;
	struct mirror_qp_resp resp;

	struct mirror_qp_rx rx;
};

#define MIRROR_RNR_NOT_STARTED	0xff

/* How an MR maps addresses. */
enum mirror_mr_type {
	MIRROR_MR_DMA,		/* kernel: all of kernel memory */
	MIRROR_MR_USER,		/* pinned user memory through ib_umem */
	MIRROR_MR_ODP,		/* an HMM mirror of user memory (mirror_odp.c) */
	MIRROR_MR_FAST,		/* kernel: pages given by IB_WR_REG_MR (FRWR) */
	MIRROR_MR_MW,		/* a memory window: a range of another MR */
};

/**
 * struct mirror_window - what a memory window grants (mirror_mw.c)
 * @lock: protects the fields below and the window's key (its struct
 *	mirror_mr's @key) against the bind, invalidation and dealloc that
 *	change them and the lookups that read them; taken before the
 *	device's @mw_lock
 * @type: IB_MW_TYPE_1 or IB_MW_TYPE_2
 * @parent: the MR the window is bound to, or NULL: unbound, no access
 *	(the parent's @bound_mws counts the window, so it stays registered)
 * @qp_uid: type 2: the QP it was bound through, the only one whose peer
 *	may use it (struct mirror_qp's @uid, never reused)
 * @iova: first byte, in the parent's addresses
 * @length: bytes
 * @access: IB_ACCESS_REMOTE_* it grants
 */
struct mirror_window {
	spinlock_t lock;
	enum ib_mw_type type;
	struct mirror_mr *parent;
	u64 qp_uid;
	u64 iova;
	u64 length;
	int access;
};

/**
 * struct mirror_mw - a memory window as ib_core knows it
 * @ibmw: the ib_core MW (its rkey is the one alloc_mw gave)
 * @win: the window's entry in the device's key table
 */
struct mirror_mw {
	struct ib_mw ibmw;
	struct mirror_mr *win;
};

/**
 * struct mirror_fast - the page lists of a fast-registration (FRWR) MR
 * @staged: what ib_map_mr_sg() gave last (kernel virtual addresses of
 *	pages of @page_size bytes), taken by the next IB_WR_REG_MR
 * @nstaged: entries in @staged
 * @pages: the registered list, valid while the MR's key is not 0
 * @npages: entries in @pages
 * @max: entries either list holds (alloc_mr's max_num_sg)
 * @page_size: bytes each entry covers (a power of two)
 * @gen: counts registrations; a segment resolved under one registration
 *	maps nothing under another (mirror_mem.c)
 * @busy: copies mapping a page of the MR right now; an invalidation
 *	waits for it to be 0 after the key is 0, so that once it completes
 *	nothing touches the pages (they may be the ULP's to free)
 *
 * @staged is written by the consumer's ib_map_mr_sg() only; @pages,
 * @npages, @page_size and @gen by the requester's REG_MR only, while the
 * key is 0 (no lookup finds the MR), before the key is published with
 * release semantics.
 */
struct mirror_fast {
	u64 *staged;
	u32 nstaged;
	u64 *pages;
	u32 npages;
	u32 max;
	u32 page_size;
	u32 gen;
	atomic_t busy;
};

/*
 * The part of an SQ slot's union an IB_WR_REG_MR takes (kernel QPs only:
 * their rings are written by mirror_post_send() alone).
 */
struct mirror_reg_wr {
	u32 handle;		/* the MR, by its key's upper 24 bits */
	u32 key;		/* the key it gets */
	u32 access;		/* IB_ACCESS_* it gets */
};
static_assert(sizeof(struct mirror_reg_wr) <=
	      sizeof_field(struct mirror_send_wqe, wr.raw));

/* Per-MR ODP counters ('rdma statistic mr show'); names in mirror_odp.c. */
enum mirror_mr_counter {
	MIRROR_MR_CNT_FAULTS,
	MIRROR_MR_CNT_PAGES_FAULTED,
	MIRROR_MR_CNT_INVALIDATIONS,
	MIRROR_MR_CNT_PAGES_INVALIDATED,
	MIRROR_MR_CNT_PREFETCHES,
	MIRROR_MR_CNT_FAULT_RETRIES,
	MIRROR_MR_CNT_CHILDREN_CREATED,
	MIRROR_MR_CNT_CHILDREN_DESTROYED,
	MIRROR_MR_CNT_COUNT,
};

/**
 * struct mirror_odp - our page table for one mirrored range (ODP rule 1)
 * @notifier: the interval notifier over [@start, @end); it holds the mm
 * @mr: the MR this mirror belongs to (for counters and keys)
 * @lock: protects @pfn_lo and @meta: the fault helper publishes entries
 *	under it, invalidate() clears them under it, and the data path holds
 *	it while it touches the pages the entries name
 * @start: first mirrored user address (page aligned)
 * @end: end of the mirrored range (page aligned)
 * @pfn_lo: one per page: the low 32 bits of its pfn
 * @meta: one per page: the pfn's bits 32-39, valid, writable, dirty (the
 *	device wrote it) and the order of the CPU mapping (mirror_odp.c,
 *	"Entries"); 0 when the page is not mirrored
 * @npresent: entries mirrored now; written under @lock, read as a hint
 * @nwritable: entries mirrored writable now; as @npresent
 * @child: a child of an implicit MR (else the mirror of an explicit one)
 * @ref: children only: the MR's children xarray holds one reference,
 *	every user (a fault, a transfer, the removal work) another
 * @index: children only: the key in the MR's children xarray
 * @removing: children only: the removal work is queued
 * @work: children only: removal after an unmap
 * @free_work: children only: freeing after the last reference
 * @rcu: children only: lookups under RCU may still see a freed child
 */
struct mirror_odp {
	struct mmu_interval_notifier notifier;
	struct mirror_mr *mr;
	struct mutex lock;
	unsigned long start;
	unsigned long end;
	u32 *pfn_lo;
	u16 *meta;
	unsigned long npresent;
	unsigned long nwritable;
	bool child;
	struct kref ref;
	unsigned long index;
	atomic_t removing;
	struct work_struct work;
	struct work_struct free_work;
	struct rcu_head rcu;
};

/**
 * struct mirror_mr - memory region
 * @ibmr: the ib_core MR
 * @ref: lookups by key hold a reference
 * @released: completed when @ref drops to zero
 * @type: DMA or pinned user memory
 * @umem: pinned pages of a user MR
 * @node: entry in the device's mr_ht
 * @handle: the key's upper 24 bits, mr_ht's key
 * @key: the key lookups must match: the lkey/rkey, or for a fast MR the
 *	key of its current registration and 0 (never a key) when it has
 *	none (read with acquire semantics: what a registration set up is
 *	visible once its key is)
 * @fast: the page lists of a fast-registration MR
 * @iova: first address of the region
 * @length: bytes
 * @access: IB_ACCESS_* flags
 * @pages: the pinned pages of a user MR, in order
 * @npages: entries in @pages
 * @page_offset: offset of @iova in pages[0]
 * @odp: the mirror of an explicit ODP MR
 * @implicit: an implicit ODP MR: the whole user address space, mirrored
 *	by children created on demand (mirror_odp.c)
 * @children: implicit MR: child index -> struct mirror_odp
 * @nchildren: implicit MR: children not yet freed
 * @children_wq: implicit MR: dereg waits here for @nchildren to be 0
 * @mm: implicit MR: the address space (mmgrab'ed; children's notifiers
 *	are inserted on it whoever faults)
 * @memcg: implicit MR: the memory cgroup of the registering process, which
 *	children are charged to whoever faults (a reference is held)
 * @uctx: the user context of an ODP MR, whose page-table limit it counts
 *	against; NULL for kernel MRs
 * @odp_va: user address of @iova in an ODP MR
 * @dying: set by dereg (under the device's @mw_lock): prefetch work
 *	stops early, and no window may be bound to the MR any more
 * @bound_mws: windows bound to the MR now, under the device's @mw_lock;
 *	dereg fails while there are any
 * @win: a memory window's binding (type MIRROR_MR_MW)
 * @stats: enum mirror_mr_counter
 */
struct mirror_mr {
	struct ib_mr ibmr;
	struct kref ref;
	struct completion released;
	enum mirror_mr_type type;
	struct ib_umem *umem;
	struct rhash_head node;
	u32 handle;
	u32 key;
	struct mirror_fast fast;
	u64 iova;
	u64 length;
	int access;
	struct page **pages;
	unsigned long npages;
	unsigned int page_offset;
	struct mirror_odp *odp;
	bool implicit;
	struct xarray children;
	atomic_t nchildren;
	wait_queue_head_t children_wq;
	struct mm_struct *mm;
	struct mem_cgroup *memcg;
	struct mirror_ucontext *uctx;
	u64 odp_va;
	bool dying;
	u32 bound_mws;
	struct mirror_window win;
	atomic64_t stats[MIRROR_MR_CNT_COUNT];
};

/**
 * struct mirror_av - the address vector of an AH, as the data path reads it
 * @attr: copy of the AH attributes (with resolved dmac)
 * @pd: the AH's PD: a QP of another PD may not use it
 * @rcu: frees the copy after concurrent RCU readers are done
 *
 * Lives apart from the AH so that a lookup by ah_num under RCU never
 * touches memory ib_core has already freed.
 */
struct mirror_av {
	struct rdma_ah_attr attr;
	struct ib_pd *pd;
	struct rcu_head rcu;
};

/**
 * struct mirror_ah - address handle
 * @ibah: the ib_core AH
 * @av: the published address vector
 * @ah_num: key of @av in the device's av_xa
 */
struct mirror_ah {
	struct ib_ah ibah;
	struct mirror_av *av;
	u32 ah_num;
};

/* The GSI QP is a UD QP with a fixed number. */
static inline bool mirror_type_is_ud(enum ib_qp_type type)
{
	return type == IB_QPT_UD || type == IB_QPT_GSI;
}

/*
 * ATOMIC WRITE (IBA 1.5): 8 bytes written at once. The ABI's numbers
 * (IB_UVERBS_WR_ATOMIC_WRITE, IB_UVERBS_WC_ATOMIC_WRITE and
 * IB_UVERBS_DEVICE_ATOMIC_WRITE since 6.2), here for 6.1 too.
 */
#define MIRROR_WR_ATOMIC_WRITE		15
#define MIRROR_WC_ATOMIC_WRITE		9
#define MIRROR_DEVICE_ATOMIC_WRITE	BIT_ULL(40)

/*
 * FLUSH (IBA 1.5): the ABI's numbers (IB_UVERBS_WR_FLUSH, IB_UVERBS_WC_FLUSH,
 * IB_UVERBS_DEVICE_FLUSH_GLOBAL, IB_UVERBS_ACCESS_FLUSH_GLOBAL and
 * _PERSISTENT since 6.2). Offered where ib_core lets an MR have the access
 * (mirror_flush_offered()); global visibility only, never persistence.
 */
#define MIRROR_WR_FLUSH			14
#define MIRROR_WC_FLUSH			8
#define MIRROR_DEVICE_FLUSH_GLOBAL	BIT_ULL(38)
#define MIRROR_ACCESS_FLUSH_GLOBAL	BIT(8)
#define MIRROR_ACCESS_FLUSH_PERSISTENT	BIT(9)

/* The read-modify-writes of mirror_segs_atomic(). */
enum mirror_atomic_op {
	MIRROR_ATOMIC_CMP_SWAP,
	MIRROR_ATOMIC_FETCH_ADD,
	MIRROR_ATOMIC_STORE,
};

/* Work requests that run at the requester alone (mirror_sq_local_op()). */
static inline bool mirror_is_local_op(u32 wr_opcode)
{
	return wr_opcode == IB_UVERBS_WR_LOCAL_INV ||
	       wr_opcode == IB_UVERBS_WR_BIND_MW || wr_opcode == IB_WR_REG_MR;
}

static inline bool mirror_is_atomic(u32 wr_opcode)
{
	return wr_opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP ||
	       wr_opcode == IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD;
}

static inline void mirror_count(struct mirror_dev *dev, int counter)
{
	atomic64_inc(&dev->counters[counter]);
}

static inline void mirror_count_add(struct mirror_dev *dev, int counter,
				    u64 n)
{
	atomic64_add(n, &dev->counters[counter]);
}

static inline struct mirror_dev *to_mirror_dev(struct ib_device *ibdev)
{
	return container_of(ibdev, struct mirror_dev, ib_dev);
}

static inline struct mirror_ucontext *to_mirror_uc(struct ib_ucontext *uc)
{
	return container_of(uc, struct mirror_ucontext, ibuc);
}

static inline struct mirror_pd *to_mirror_pd(struct ib_pd *pd)
{
	return container_of(pd, struct mirror_pd, ibpd);
}

static inline struct mirror_cq *to_mirror_cq(struct ib_cq *cq)
{
	return container_of(cq, struct mirror_cq, ibcq);
}

static inline struct mirror_srq *to_mirror_srq(struct ib_srq *srq)
{
	return container_of(srq, struct mirror_srq, ibsrq);
}

static inline struct mirror_qp *to_mirror_qp(struct ib_qp *qp)
{
	return container_of(qp, struct mirror_qp, ibqp);
}

static inline struct mirror_mr *to_mirror_mr(struct ib_mr *mr)
{
	return container_of(mr, struct mirror_mr, ibmr);
}

static inline struct mirror_mw *to_mirror_mw(struct ib_mw *mw)
{
	return container_of(mw, struct mirror_mw, ibmw);
}

static inline struct mirror_ah *to_mirror_ah(struct ib_ah *ah)
{
	return container_of(ah, struct mirror_ah, ibah);
}

static inline struct mirror_mmap_entry *
to_mirror_mentry(struct rdma_user_mmap_entry *e)
{
	return container_of(e, struct mirror_mmap_entry, rdma);
}

/* mirror_devlist.c: the module's device list */
void mirror_dev_list_add(struct mirror_dev *dev);
void mirror_dev_list_del(struct mirror_dev *dev);
void mirror_dev_list_dead(struct mirror_dev *dev);
struct mirror_dev *mirror_dev_get_by_netdev(struct net_device *ndev);
bool mirror_netdev_taken(struct net_device *ndev);
void mirror_dev_list_exit(void);

/* mirror_inject.c: injected allocation failures (debug kernels) */
#ifdef CONFIG_FAULT_INJECTION
bool mirror_fail_alloc(void);
void mirror_inject_init(void);
void mirror_inject_exit(void);
#else
static inline bool mirror_fail_alloc(void)
{
	return false;
}

static inline void mirror_inject_init(void)
{
}

static inline void mirror_inject_exit(void)
{
}
#endif

/* mirror_dev.c */
int mirror_dev_add(const char *name, struct net_device *ndev);
void mirror_dev_port_event(struct mirror_dev *dev, enum ib_event_type type);

/* mirror_mem.c: the memory-access abstraction */
void mirror_segs_init(struct mirror_segs *segs, bool nofault);
int mirror_segs_add(struct mirror_segs *segs, struct mirror_dev *dev,
		    struct ib_pd *pd, u32 key, u64 iova, u32 len, int access);
int mirror_segs_add_remote(struct mirror_segs *segs, struct mirror_qp *qp,
			   u32 rkey, u64 iova, u32 len, int access);
int mirror_segs_add_kbuf(struct mirror_segs *segs, void *buf, u32 len,
			 bool writable);
int mirror_segs_add_sges(struct mirror_segs *segs, struct mirror_dev *dev,
			 struct ib_pd *pd, const struct mirror_sge *sge,
			 u32 nsge, u64 off, u64 len, int access);
void mirror_segs_put(struct mirror_segs *segs);
int mirror_segs_copy(struct mirror_segs *dst, u64 dst_off,
		     struct mirror_segs *src, u64 src_off, u64 len, u64 *done);
int mirror_segs_xfer(struct mirror_segs *segs, u64 off, void *buf, u32 len,
		     bool to_segs);
int mirror_segs_atomic(struct mirror_segs *target, struct mutex *serialise,
		       enum mirror_atomic_op op, u64 compare_add, u64 swap,
		       u64 *orig);
int mirror_segs_fault(struct mirror_segs *segs, u64 off, u64 len, bool write);
bool mirror_segs_present(struct mirror_segs *segs, u64 off, u64 len,
			 bool write, u64 *miss);
int mirror_mr_fault_range(struct mirror_mr *mr, u64 iova, u64 len,
			  bool write);

/* mirror_odp.c: on-demand paging through an HMM mirror */
#define MIRROR_ODP_FAULT	BIT(0)	/* fault missing pages in */
#define MIRROR_ODP_WRITE	BIT(1)	/* ... writable */
#define MIRROR_ODP_PREFETCH	BIT(2)	/* on behalf of ibv_advise_mr() */
u64 mirror_odp_table_limit(void);
int mirror_odp_create(struct mirror_mr *mr, u64 start, u64 length);
int mirror_odp_create_implicit(struct mirror_mr *mr);
void mirror_odp_destroy(struct mirror_mr *mr);
struct mirror_odp *mirror_mr_odp_get(struct mirror_mr *mr, unsigned long va);
void mirror_odp_put(struct mirror_odp *odp);
int mirror_mr_odp_fault(struct mirror_mr *mr, unsigned long va,
			unsigned long len, unsigned int flags);
bool mirror_mr_odp_present(struct mirror_mr *mr, unsigned long va,
			   unsigned long len, bool write, unsigned long *miss);
void *mirror_odp_lookup(struct mirror_odp *odp, unsigned long va, bool write,
			u32 *chunk);
extern const struct uapi_definition mirror_uapi_defs[];
void mirror_mr_odp_states(struct mirror_mr *mr, unsigned long va,
			  unsigned long n, u8 *out);

/* mirror_stats.c: the device and per-MR counters, their names and readers */
struct rdma_hw_stats *mirror_alloc_hw_port_stats(struct ib_device *ibdev,
						 u32 port);
int mirror_get_hw_stats(struct ib_device *ibdev, struct rdma_hw_stats *stats,
			u32 port, int index);
void mirror_odp_count(struct mirror_mr *mr, int counter, u64 n);
void mirror_odp_count_latency(struct mirror_mr *mr, u64 ns);
void mirror_odp_counters(struct mirror_dev *dev, struct mirror_mr *mr,
			 struct mirror_odp_counters *c);
int mirror_fill_stat_mr_entry(struct sk_buff *msg, struct ib_mr *ibmr);

/* mirror_cq.c: completions */
int mirror_cq_post(struct mirror_cq *cq, const struct mirror_cqe *cqe,
		   bool solicited);
void mirror_complete(struct mirror_qp *qp, bool recv,
		     const struct mirror_cqe *cqe, bool solicited);

/* mirror_sq.c: the SQ slots, shared by the requester and the completer */
struct mirror_send_wqe *mirror_sq_wqe(struct mirror_qp *qp, u32 idx);
struct mirror_send_wqe *mirror_sq_fetch(struct mirror_qp *qp, u32 idx);
struct mirror_sq_meta *mirror_sq_meta_of(struct mirror_qp *qp, u32 idx);
enum mirror_wqe_kind mirror_sq_kind(u32 wr_opcode);
void mirror_sq_done(struct mirror_qp *qp, struct mirror_sq_meta *m,
		    enum ib_wc_status status, u32 byte_len);
void mirror_sq_rewind(struct mirror_qp *qp, u32 idx);
void mirror_sq_ask_again(struct mirror_qp *qp, u32 idx);
u32 mirror_sq_window_used(struct mirror_qp *qp);
void mirror_sq_congestion(struct mirror_qp *qp, bool timeout);
void mirror_sq_receiver_full(struct mirror_qp *qp);
void mirror_sq_window_grow(struct mirror_qp *qp, u32 answered);
int mirror_sq_segs(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
		   struct mirror_segs *segs, u64 off, u32 len, int access);
u32 mirror_wc_opcode(u32 wr_opcode);
enum ib_wc_status mirror_sq_local_op(struct mirror_qp *qp,
				     const struct mirror_send_wqe *wqe);
void mirror_sq_consume(struct mirror_qp *qp);
enum ib_wc_status mirror_wqe_local(struct mirror_qp *qp,
				   struct mirror_send_wqe *wqe,
				   struct mirror_segs *segs);

/* mirror_comp.c: the RoCEv2 completer */
void mirror_comp_arm_timer(struct mirror_qp *qp);
void mirror_comp_report(struct mirror_qp *qp, bool *qp_err);
enum ib_wc_status mirror_nak_status(u8 code);
void mirror_comp_rx(struct mirror_qp *qp, const struct mirror_pkt *p);
void mirror_qp_retrans_timer(struct timer_list *t);
void mirror_qp_rnr_wait(struct mirror_qp *qp, u8 timer);
bool mirror_qp_rnr_waiting(struct mirror_qp *qp);
enum hrtimer_restart mirror_qp_rnr_timer(struct hrtimer *t);

/**
 * enum mirror_resp_verdict - what a responder made of a request
 * @MIRROR_RESP_DONE: executed (or, where the transport allows, dropped)
 * @MIRROR_RESP_RNR: no receive posted
 * @MIRROR_RESP_NAK_INVALID: an invalid request
 * @MIRROR_RESP_NAK_ACCESS: a remote access error
 * @MIRROR_RESP_NAK_OP: a remote operational error
 * @MIRROR_RESP_STOPPED: a nofault list met a missing page (same device)
 */
enum mirror_resp_verdict {
	MIRROR_RESP_DONE,
	MIRROR_RESP_RNR,
	MIRROR_RESP_NAK_INVALID,
	MIRROR_RESP_NAK_ACCESS,
	MIRROR_RESP_NAK_OP,
	MIRROR_RESP_STOPPED,
};

/* mirror_resp.c: the responder's decisions, for both transports */
int mirror_resp_hold_recv(struct mirror_qp *qp);
int mirror_resp_recv_segs(struct mirror_qp *qp, struct mirror_segs *segs,
			  u64 off, u64 len);
void mirror_resp_recv_error(struct mirror_qp *qp, enum ib_wc_status status,
			    u32 src_qp);
void mirror_resp_recv_done(struct mirror_qp *qp, struct mirror_cqe *cqe,
			   bool solicited);
int mirror_resp_payload(struct mirror_segs *dst, u64 dst_off,
			const struct mirror_pkt *p, u64 *done);
enum mirror_resp_verdict mirror_resp_need_recv(struct mirror_qp *qp,
					       u32 src_qp);
enum mirror_resp_verdict mirror_resp_recv_fits(struct mirror_qp *qp, u64 end,
					       u32 src_qp);
u8 mirror_resp_nak_code(enum mirror_resp_verdict v);
u32 mirror_resp_res_count(struct mirror_qp *qp);
enum mirror_resp_verdict mirror_resp_send(struct mirror_qp *qp,
					  struct mirror_segs *segs,
					  const struct mirror_pkt *p,
					  u32 src_qp, bool lost);
enum mirror_resp_verdict mirror_resp_write(struct mirror_qp *qp,
					   struct mirror_segs *segs,
					   const struct mirror_pkt *p,
					   u32 src_qp, bool lost);
enum mirror_resp_verdict mirror_resp_target(struct mirror_qp *qp,
					    struct mirror_segs *segs, u64 va,
					    u32 rkey, u64 len, int access);
enum mirror_resp_verdict mirror_resp_atomic(struct mirror_qp *qp,
					    struct mirror_segs *segs,
					    const struct mirror_pkt *p,
					    u64 *orig);
enum mirror_resp_verdict mirror_resp_atomic_write(struct mirror_qp *qp,
						  struct mirror_segs *segs,
						  u64 va, u32 rkey, u64 value);
enum mirror_resp_verdict mirror_resp_flush(struct mirror_qp *qp, u64 va,
					   u32 rkey, u32 len, u32 feth);
enum mirror_resp_verdict mirror_resp_ud(struct mirror_qp *qp,
					struct mirror_segs *segs,
					const struct mirror_pkt *p,
					const u8 *grh, u8 net_type, bool lost);

/* mirror_qp_state.c: QP lookup and the move to ERR, for every engine */
struct mirror_qp *mirror_qp_get(struct mirror_dev *dev, u32 qpn);
void mirror_qp_put(struct mirror_qp *qp);
void mirror_qp_last_wqe_event(struct mirror_qp *qp);
void mirror_qp_err_due(struct mirror_qp *qp);
void mirror_qp_enter_err(struct mirror_qp *qp);
void mirror_qp_flush(struct mirror_qp *qp);

/* mirror_req.c: the requester, same device and RoCEv2 */
void mirror_qp_req_work(struct work_struct *work);
void mirror_qp_requester(struct mirror_qp *qp);
void mirror_req_forget_faults(struct mirror_qp *qp);
void mirror_wire_req_locked(struct mirror_qp *qp, bool *qp_err);

/* mirror_net.c: RoCEv2 packets over UDP */
void mirror_net_init(void);
void mirror_net_exit(void);
int mirror_net_open(struct mirror_dev *dev);
void mirror_net_close(struct mirror_dev *dev);
struct sk_buff *mirror_pkt_alloc(struct mirror_dev *dev, u32 len);
int mirror_pkt_xmit(struct mirror_dev *dev, struct sk_buff *skb,
		    const struct mirror_path *path, struct dst_cache *routes);
int mirror_pkt_send(struct mirror_dev *dev, const struct mirror_pkt *p,
		    const struct mirror_path *path, struct dst_cache *routes);
int mirror_qp_pkt_send(struct mirror_qp *qp, const struct mirror_pkt *p);
bool mirror_pkt_from_peer(const struct mirror_qp *qp,
			  const struct sk_buff *skb);
struct sk_buff *mirror_rx_dequeue(struct mirror_qp *qp, bool responses);
void mirror_rx_purge(struct mirror_qp *qp);

/* mirror_rx.c: received packets to the completer and the responder */
void mirror_qp_rx_work(struct work_struct *work);
void mirror_wire_qp_init(struct mirror_qp *qp);
void mirror_wire_qp_reset(struct mirror_qp *qp);

/* mirror_queue.c */
int mirror_queue_init(struct mirror_queue *q, struct ib_udata *udata,
		      u32 num_slots, u32 stride);
void mirror_queue_destroy(struct mirror_queue *q);
void mirror_queue_info(const struct mirror_queue *q,
		       struct mirror_queue_info *info);
void *mirror_queue_slot(const struct mirror_queue *q, u32 index);
u32 mirror_queue_count(const struct mirror_queue *q);
u32 mirror_queue_producer(const struct mirror_queue *q);
int mirror_queue_avail(const struct mirror_queue *q, u32 cons, u32 *avail);
void mirror_queue_consumed(struct mirror_queue *q, u32 cons);
int mirror_queue_fetch_recv(const struct mirror_queue *q, u32 cons,
			    struct mirror_recv_wqe *wqe, struct mirror_sge *sge,
			    u32 max_sge);
void mirror_sges_from_ib(struct mirror_sge *dst, const struct ib_sge *src,
			 int n);
int mirror_queue_post_recv(struct mirror_queue *q, const struct ib_recv_wr *wr,
			   u32 max_sge);

/* Callbacks of mirror_dev_ops, one file per object. */
int mirror_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int mirror_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int mirror_alloc_ucontext(struct ib_ucontext *uc, struct ib_udata *udata);
void mirror_dealloc_ucontext(struct ib_ucontext *uc);
int mirror_mmap(struct ib_ucontext *uc, struct vm_area_struct *vma);
void mirror_mmap_free(struct rdma_user_mmap_entry *entry);

int mirror_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		     mirror_cq_call_t *attrs);
int mirror_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int mirror_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);
int mirror_poll_cq(struct ib_cq *ibcq, int num, struct ib_wc *wc);
int mirror_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);

int mirror_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		     struct ib_udata *udata);
int mirror_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		     struct ib_udata *udata);
int mirror_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr, int mask,
		    struct ib_qp_init_attr *init);
int mirror_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int mirror_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		     const struct ib_send_wr **bad_wr);
int mirror_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		     const struct ib_recv_wr **bad_wr);

int mirror_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		      struct ib_udata *udata);
int mirror_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		      enum ib_srq_attr_mask mask, struct ib_udata *udata);
int mirror_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int mirror_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int mirror_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
			 const struct ib_recv_wr **bad_wr);
int mirror_srq_take(struct mirror_srq *srq, struct mirror_recv_wqe *wqe,
		    struct mirror_sge *sge);

struct ib_mr *mirror_get_dma_mr(struct ib_pd *ibpd, int access);
struct ib_mr *mirror_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
				 u64 iova, int access, struct ib_udata *udata);
int mirror_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);
struct ib_mr *mirror_alloc_mr(struct ib_pd *ibpd, enum ib_mr_type type,
			      u32 max_num_sg);
int mirror_map_mr_sg(struct ib_mr *ibmr, struct scatterlist *sg, int sg_nents,
		     unsigned int *sg_offset);
enum ib_wc_status mirror_mr_fast_reg(struct mirror_qp *qp,
				     const struct mirror_reg_wr *reg);
int mirror_mr_invalidate(struct mirror_mr *mr, struct ib_pd *pd);
extern const struct rhashtable_params mirror_mr_ht_params;
struct mirror_mr *mirror_mr_get(struct mirror_dev *dev, u32 key);
void mirror_mr_put(struct mirror_mr *mr);
int mirror_mr_check(struct mirror_mr *mr, u64 iova, u64 len, int access);
int mirror_mr_publish(struct mirror_dev *dev, struct mirror_mr *mr);
void mirror_mr_unpublish(struct mirror_dev *dev, struct mirror_mr *mr);

/* mirror_mcast.c */
int mirror_attach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid);
int mirror_detach_mcast(struct ib_qp *ibqp, union ib_gid *gid, u16 lid);
struct mirror_mcast *mirror_mcast_find(struct mirror_dev *dev,
				       const union ib_gid *mgid);

/* mirror_mw.c */
int mirror_alloc_mw(struct ib_mw *ibmw, struct ib_udata *udata);
int mirror_dealloc_mw(struct ib_mw *ibmw);
enum ib_wc_status mirror_mw_bind(struct mirror_qp *qp,
				 const struct mirror_wqe_bind *b);
struct mirror_mr *mirror_mw_take(struct mirror_mr *win, struct ib_pd *pd,
				 u64 qp_uid, u64 iova, u64 len, int access);
int mirror_key_invalidate(struct mirror_qp *qp, u32 key, bool remote);

/* mirror_advise.c */
int mirror_advise_mr(struct ib_pd *pd, enum ib_uverbs_advise_mr_advice advice,
		     u32 flags, struct ib_sge *sg_list, u32 num_sge,
		     struct uverbs_attr_bundle *attrs);

int mirror_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		     struct ib_udata *udata);
int mirror_destroy_ah(struct ib_ah *ibah, u32 flags);

#endif /* MIRROR_H */
