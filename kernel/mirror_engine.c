// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_engine.c - the requester and the responder of QPs whose peer is on
 * the same device (the short-circuit path; the RoCEv2 wire path plugs in
 * beside it, mirror_wire.c), and the responder helpers both paths share.
 *
 * The requester runs in process context (the doorbell system call of the
 * posting process, or the QP's work item), drains the SQ one WQE at a time
 * and, for each, runs the responder of the destination QP directly under
 * that QP's resp_lock. Per WQE (always the kernel's copy, mirror_sq_fetch()):
 *
 *   LOCAL (check it, resolve its local memory, fault the first chunk in)
 *     -> ROUTE (find the destination)
 *     -> EXECUTE (under the destination's resp_lock: is it our peer? run
 *                 its responder)
 *     -> COMPLETE
 *   EXECUTE -> FAULT (a page of our own memory is missing) -> ROUTE
 *   EXECUTE -> DEST_FAULT (one of the destination's) -> ROUTE | DEST_WAIT
 *   EXECUTE -> RNR_WAIT (no receive posted: retry after the timer)
 *
 * No fault happens while the destination is held, and no fault of the
 * destination's memory happens in the requester's context: both lists are
 * nofault while the destination is locked. A missing page of our own sends
 * the WQE to FAULT, which has dropped the destination (its lock and its
 * reference), faults, and looks it up again; the step resumes where it
 * stopped. A missing page of the destination's goes to DEST_FAULT: a work
 * item faults it (struct mirror_fault_job), and the requester waits for it
 * no longer than its QP's retransmission timeout; past that it lets go,
 * as for a peer that does not answer on the wire (DEST_WAIT: the WQE stays
 * first and is tried again; retry_cnt such waits end it with
 * RETRY_EXC_ERR). So no process, by making page faults of its memory slow
 * (serving a FUSE file, say), can make another process's system calls,
 * destroy_qp, dereg_mr or ERR transition wait.
 *
 * Binding: an RC/UC destination accepts the requester only if it is
 * connected back to it over this device (its dest_qp_num is our QPN, its
 * peer GID our GID) and, for RC, expects our PSN: the checks a RoCEv2
 * responder makes of a packet's source and PSN. Anything else is a peer
 * that does not answer (RC: RETRY_EXC_ERR) or a message lost (UC).
 *
 * Locking: state_lock -> req_lock -> resp_lock (of any QP). The requester
 * never takes a state_lock while holding req_lock; a QP that must enter
 * ERR does so after the locks are dropped (mirror_qp_enter_err()).
 */
#include <linux/ip.h>
#include <linux/udp.h>
#include <net/checksum.h>
#include <net/ipv6.h>
#include <rdma/ib_cache.h>

#include "mirror.h"

/* The states of one WQE. */
enum mirror_req_state {
	MIRROR_REQ_LOCAL,
	MIRROR_REQ_ROUTE,
	MIRROR_REQ_EXECUTE,
	MIRROR_REQ_FAULT,
	MIRROR_REQ_DEST_FAULT,
	MIRROR_REQ_DEST_WAIT,
	MIRROR_REQ_COMPLETE,
	MIRROR_REQ_RNR_WAIT,
};

/* What one EXECUTE made of the WQE. */
enum mirror_step {
	MIRROR_STEP_DONE,	/* executed, or failed with c->status */
	MIRROR_STEP_RNR,	/* no receive posted at the destination */
	MIRROR_STEP_FAULT,	/* our memory at qp->req_local.miss is missing */
	MIRROR_STEP_DEST_FAULT,	/* the destination's memory, c->dfault_* */
};

/**
 * struct mirror_req_ctx - what the states of one WQE share
 * @qp: the requester's QP
 * @wqe: the kernel's copy of the WQE
 * @dest: the destination QP (a reference is held), or NULL
 * @status: the completion status for the requester
 * @byte_len: bytes for the completion
 * @rnr_delay: jiffies to wait before retrying after an RNR
 * @dest_err: the destination QP must enter ERR afterwards
 * @dgid: destination GID
 * @sgid_index: source GID index (UD)
 * @dqpn: destination QP number
 * @qkey: Q_Key of a UD send
 * @av: the AH's address vector (UD)
 * @progress: bytes of the message moved so far (a step that stopped at a
 *	missing page of ours resumes here)
 * @faults: FAULT rounds in a row that moved nothing
 * @orig: an atomic's result, written to the local buffer once the
 *	destination is released
 * @have_orig: @orig is set
 * @dfault_mr: DEST_FAULT: the destination's MR to fault (a reference)
 * @dfault_iova: ... from this byte
 * @dfault_len: ... this many bytes (a chunk at most)
 * @dfault_write: ... writable
 * @dfault_failed: the destination's memory could not be faulted in: the
 *	next EXECUTE answers as a responder does when its memory is gone
 */
struct mirror_req_ctx {
	struct mirror_qp *qp;
	struct mirror_send_wqe *wqe;
	struct mirror_qp *dest;
	enum ib_wc_status status;
	u32 byte_len;
	unsigned long rnr_delay;
	bool dest_err;
	union ib_gid dgid;
	u8 sgid_index;
	u32 dqpn;
	u32 qkey;
	struct rdma_ah_attr av;
	u64 progress;
	u32 faults;
	u64 orig;
	bool have_orig;
	struct mirror_mr *dfault_mr;
	u64 dfault_iova;
	u64 dfault_len;
	bool dfault_write;
	bool dfault_failed;
};

/* A step that keeps losing its own pages gives up after this many. */
#define MIRROR_REQ_FAULT_ROUNDS	1000
/* The least a requester waits for a destination's fault (QP timeout 0 too). */
#define MIRROR_DEST_FAULT_MIN_MS	50

/* RNR timer values of the IB spec (table 45), in microseconds. */
static const u32 mirror_rnr_usecs[32] = {
	655360, 10, 20, 30, 40, 60, 80, 120, 160, 240, 320, 480, 640, 960,
	1280, 1920, 2560, 3840, 5120, 7680, 10240, 15360, 20480, 30720,
	40960, 61440, 81920, 122880, 163840, 245760, 327680, 491520,
};

/**
 * mirror_rnr_jiffies() - the wait an RNR timer code asks for
 * @timer: the 5-bit code (min_rnr_timer, or an RNR NAK's)
 *
 * Return: jiffies, at least 1.
 */
unsigned long mirror_rnr_jiffies(u8 timer)
{
	return max(usecs_to_jiffies(mirror_rnr_usecs[timer & 31]), 1UL);
}

/**
 * mirror_wc_opcode() - the completion opcode of a send WR opcode
 * @wr_opcode: IB_UVERBS_WR_*
 *
 * Return: MIRROR_WC_*.
 */
u32 mirror_wc_opcode(u32 wr_opcode)
{
	switch (wr_opcode) {
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		return MIRROR_WC_RDMA_WRITE;
	case IB_UVERBS_WR_RDMA_READ:
		return MIRROR_WC_RDMA_READ;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
		return MIRROR_WC_COMP_SWAP;
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		return MIRROR_WC_FETCH_ADD;
	default:
		return MIRROR_WC_SEND;
	}
}

static bool mirror_opcode_ok(enum ib_qp_type type, u32 opcode)
{
	switch (opcode) {
	case IB_UVERBS_WR_SEND:
	case IB_UVERBS_WR_SEND_WITH_IMM:
		return true;
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		return type == IB_QPT_RC || type == IB_QPT_UC;
	case IB_UVERBS_WR_RDMA_READ:
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		return type == IB_QPT_RC;
	default:
		/* Memory windows, LSO and the rest are not offered. */
		return false;
	}
}

/**
 * mirror_gid_is_local() - is @gid one of the device's RoCEv2 GIDs?
 * @dev: the device
 * @gid: the GID
 *
 * Return: true when it is.
 */
bool mirror_gid_is_local(struct mirror_dev *dev, const union ib_gid *gid)
{
	const struct ib_gid_attr *attr;

	attr = rdma_find_gid_by_port(&dev->ib_dev, gid,
				     IB_GID_TYPE_ROCE_UDP_ENCAP, 1, NULL);
	if (IS_ERR(attr))
		return false;
	rdma_put_gid_attr(attr);
	return true;
}

/**
 * mirror_complete() - post a completion for a QP's send or receive side
 * @qp: the QP
 * @recv: the receive side (else the send side)
 * @cqe: the completion
 * @solicited: it answers a solicited event
 */
void mirror_complete(struct mirror_qp *qp, bool recv,
		     const struct mirror_cqe *cqe, bool solicited)
{
	struct ib_cq *ibcq = recv ? qp->ibqp.recv_cq : qp->ibqp.send_cq;

	mirror_cq_post(to_mirror_cq(ibcq), cqe, solicited);
}

/**
 * mirror_qp_err_due() - record that @qp must enter ERR
 * @qp: the QP; its req_lock or resp_lock held (where the error was found)
 *
 * mirror_qp_enter_err() applies it once the locks are dropped.
 */
void mirror_qp_err_due(struct mirror_qp *qp)
{
	set_bit(0, &qp->err_due);
}

/**
 * mirror_qp_enter_err() - move a QP to ERR (flushing it), as recorded by
 *	mirror_qp_err_due()
 * @qp: the QP; none of its locks held
 *
 * Nothing happens when the QP is in ERR already, or when it was reset
 * since the error was found: that error belonged to a connection the
 * user has ended, and the reconnected QP must not inherit it.
 */
void mirror_qp_enter_err(struct mirror_qp *qp)
{
	mutex_lock(&qp->state_lock);
	if (test_and_clear_bit(0, &qp->err_due) &&
	    qp->state != MIRROR_QPS_ERR) {
		WRITE_ONCE(qp->state, MIRROR_QPS_ERR);
		mirror_qp_flush(qp);
		mirror_qp_last_wqe_event(qp);
	}
	mutex_unlock(&qp->state_lock);
}

/**
 * mirror_npkts() - packets (and PSNs) a message of @len bytes takes
 * @len: bytes
 * @mtu: the path MTU
 *
 * Return: at least 1.
 */
u32 mirror_npkts(u64 len, u32 mtu)
{
	return len ? DIV_ROUND_UP_ULL(len, mtu) : 1;
}

/**
 * mirror_qp_mtu() - the path MTU of a connected QP, in bytes
 * @qp: the QP
 *
 * Return: the MTU set at RTR, or the port's if none fits.
 */
u32 mirror_qp_mtu(struct mirror_qp *qp)
{
	u32 path = ib_mtu_enum_to_int(READ_ONCE(qp->attr.path_mtu));
	u32 port = mirror_dev_mtu(to_mirror_dev(qp->ibqp.device));

	if (path <= 0 || path > port)
		return port;
	return path;
}

/* ---------------------------------------------------------------------- */
/* The responder's receive, shared with the wire path */

/* The PD that covers the buffers of @qp's receives (its SRQ's, if any). */
static struct ib_pd *mirror_recv_pd(struct mirror_qp *qp)
{
	return qp->ibqp.srq ? qp->ibqp.srq->pd : qp->ibqp.pd;
}

/**
 * mirror_resp_hold_recv() - take a receive for the message starting now
 * @qp: the receiving QP (resp_lock held)
 *
 * Copies the next receive WQE of the QP's RQ (or SRQ) into qp->resp_*, so
 * that the message's packets (or steps) fill it from the kernel's copy.
 * A receive already held (a UD receive whose memory was being faulted in,
 * say) is kept: 0.
 *
 * Return: 0, -EAGAIN when none is posted, -EIO when user space broke its
 * ring, -E2BIG when the WQE names too many SGEs. After -EIO and -E2BIG a
 * receive is held nonetheless (wr_id 0 for -EIO): complete it with an
 * error (mirror_resp_recv_error()).
 */
int mirror_resp_hold_recv(struct mirror_qp *qp)
{
	struct ib_srq *ibsrq = qp->ibqp.srq;
	struct mirror_queue *q = &qp->rq;
	struct mirror_recv_wqe wqe = {};
	u32 avail, i;
	int err;

	lockdep_assert_held(&qp->resp_lock);
	if (qp->resp_have_recv)
		return 0;
	if (ibsrq) {
		err = mirror_srq_take(to_mirror_srq(ibsrq), &wqe, qp->resp_sge);
		if (err == -EAGAIN)
			return err;
	} else {
		err = mirror_queue_avail(q, qp->rq_cons, &avail);
		if (!err && !avail)
			return -EAGAIN;
		if (!err) {
			err = mirror_queue_fetch_recv(q, qp->rq_cons, &wqe,
						      qp->resp_sge,
						      qp->attr.cap.max_recv_sge);
			qp->rq_cons++;
			mirror_queue_consumed(q, qp->rq_cons);
		}
	}
	qp->resp_have_recv = true;
	qp->resp_wr_id = wqe.wr_id;
	qp->resp_nsge = err ? 0 : wqe.num_sge;
	qp->resp_len = 0;
	for (i = 0; i < qp->resp_nsge; i++)
		qp->resp_len += qp->resp_sge[i].length;
	return err;
}

/**
 * mirror_resp_recv_segs() - the memory of part of the held receive
 * @qp: the receiving QP (resp_lock held, a receive held)
 * @segs: gets [off, off + len) of the receive's buffers, checked for
 *	local write access in the receive's PD
 * @off: first byte
 * @len: bytes
 *
 * Return: 0, -EMSGSIZE when the receive is too short, or the error of a
 * key check.
 */
int mirror_resp_recv_segs(struct mirror_qp *qp, struct mirror_segs *segs,
			  u64 off, u64 len)
{
	mirror_segs_put(segs);
	if (off + len > qp->resp_len)
		return -EMSGSIZE;
	return mirror_segs_add_sges(segs, to_mirror_dev(qp->ibqp.device),
				    mirror_recv_pd(qp), qp->resp_sge,
				    qp->resp_nsge, off, len,
				    IB_ACCESS_LOCAL_WRITE);
}

/**
 * mirror_resp_recv_error() - complete the held receive with an error
 * @qp: the receiving QP (resp_lock held, a receive held)
 * @status: the completion status
 * @src_qp: the sender's QPN
 */
void mirror_resp_recv_error(struct mirror_qp *qp, enum ib_wc_status status,
			    u32 src_qp)
{
	struct mirror_cqe cqe = {
		.wr_id = qp->resp_wr_id,
		.status = status,
		.opcode = MIRROR_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
		.src_qp = src_qp,
	};

	lockdep_assert_held(&qp->resp_lock);
	qp->resp_have_recv = false;
	mirror_complete(qp, true, &cqe, false);
}

/**
 * mirror_resp_recv_done() - complete the held receive: a message is in
 * @qp: the receiving QP (resp_lock held, a receive held)
 * @cqe: the completion, but for wr_id, status and qp_num
 * @solicited: the message asked for a solicited event
 */
void mirror_resp_recv_done(struct mirror_qp *qp, struct mirror_cqe *cqe,
			   bool solicited)
{
	lockdep_assert_held(&qp->resp_lock);
	cqe->wr_id = qp->resp_wr_id;
	cqe->status = IB_WC_SUCCESS;
	cqe->qp_num = qp->ibqp.qp_num;
	qp->resp_have_recv = false;
	mirror_complete(qp, true, cqe, solicited);
}

/**
 * struct mirror_fault_job - a fault of a destination's ODP memory, done in
 *	a work item on behalf of a same-device requester
 * @work: runs on the device's fault_wq
 * @ref: the requester's reference and the work's
 * @done: completed when the fault returned
 * @mr: the destination's MR (a reference, dropped when the fault returns)
 * @iova: first byte
 * @len: bytes
 * @write: writable pages
 * @err: the fault's result, once @done
 * @kick: the requester stopped waiting: wake its QP's requester (found by
 *	@qpn, so that no reference on it is held meanwhile) when done
 * @qpn: the requester's QP number
 */
struct mirror_fault_job {
	struct work_struct work;
	struct kref ref;
	struct completion done;
	struct mirror_mr *mr;
	u64 iova;
	u64 len;
	bool write;
	int err;
	atomic_t kick;
	u32 qpn;
};

static void mirror_fault_job_release(struct kref *ref)
{
	kfree(container_of(ref, struct mirror_fault_job, ref));
}

static void mirror_fault_job_work(struct work_struct *work)
{
	struct mirror_fault_job *job = container_of(work,
						    struct mirror_fault_job,
						    work);
	struct mirror_dev *dev = to_mirror_dev(job->mr->ibmr.device);
	struct mirror_qp *qp;

	job->err = mirror_mr_fault_range(job->mr, job->iova, job->len,
					 job->write);
	mirror_mr_put(job->mr);
	complete(&job->done);
	if (atomic_read(&job->kick)) {
		qp = mirror_qp_get(dev, job->qpn);
		if (qp) {
			mod_delayed_work(dev->wq, &qp->req_work, 0);
			mirror_qp_put(qp);
		}
	}
	kref_put(&job->ref, mirror_fault_job_release);
}

static void mirror_fault_job_put(struct mirror_fault_job *job)
{
	if (job)
		kref_put(&job->ref, mirror_fault_job_release);
}

/* Is a fault job still running? */
static bool mirror_fault_job_busy(struct mirror_fault_job *job)
{
	return job && !completion_done(&job->done);
}

/*
 * Starts faulting what c->dfault_* name (the MR reference moves to the
 * job). Returns the job with a reference for the caller, or NULL without
 * memory (the MR reference is dropped then too).
 */
static struct mirror_fault_job *mirror_fault_job_start(struct mirror_req_ctx *c)
{
	struct mirror_dev *dev = to_mirror_dev(c->qp->ibqp.device);
	struct mirror_fault_job *job;

	job = mirror_fail_alloc() ? NULL : kzalloc(sizeof(*job), GFP_KERNEL);
	if (!job) {
		mirror_mr_put(c->dfault_mr);
		c->dfault_mr = NULL;
		return NULL;
	}
	INIT_WORK(&job->work, mirror_fault_job_work);
	kref_init(&job->ref);
	init_completion(&job->done);
	job->mr = c->dfault_mr;
	job->iova = c->dfault_iova;
	job->len = c->dfault_len;
	job->write = c->dfault_write;
	job->qpn = c->qp->ibqp.qp_num;
	c->dfault_mr = NULL;
	kref_get(&job->ref);
	queue_work(dev->fault_wq, &job->work);
	return job;
}

/* ---------------------------------------------------------------------- */
/* Responder steps of the same-device path (the destination's resp_lock) */

/*
 * The destination's memory at list position @pos of @segs is missing: say
 * which MR, range and access DEST_FAULT is to fault (a chunk from there).
 */
static enum mirror_step mirror_dest_missed(struct mirror_req_ctx *c,
					   struct mirror_segs *segs, u64 pos,
					   bool write)
{
	u32 i = 0;

	while (i < segs->n && pos >= segs->seg[i].len)
		pos -= segs->seg[i++].len;
	if (WARN_ON_ONCE(i == segs->n || !segs->seg[i].mr)) {
		c->dfault_failed = true;
		return MIRROR_STEP_DEST_FAULT;
	}
	c->dfault_mr = segs->seg[i].mr;
	kref_get(&c->dfault_mr->ref);
	c->dfault_iova = segs->seg[i].iova + pos;
	c->dfault_len = min_t(u64, segs->seg[i].len - pos,
			      MIRROR_FAULT_CHUNK);
	c->dfault_write = write;
	return MIRROR_STEP_DEST_FAULT;
}

/*
 * Resolves the WQE's remote range at the destination into qp->req_remote:
 * the destination QP must allow @access, and the rkey must name an MR of
 * its PD that allows it over the whole range. Return: 0, an error of the
 * key check, or -EAGAIN when the chunk from c->progress is not mirrored
 * (c->dfault_* say what DEST_FAULT is to fault).
 */
static int mirror_resp_remote(struct mirror_req_ctx *c, u64 va, u32 rkey,
			      u64 len, int access)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	bool write = access != IB_ACCESS_REMOTE_READ;
	u64 miss;
	int err;

	mirror_segs_put(&qp->req_remote);
	if (!(READ_ONCE(dest->attr.qp_access_flags) & access))
		return -EACCES;
	err = mirror_segs_add(&qp->req_remote, to_mirror_dev(qp->ibqp.device),
			      dest->ibqp.pd, rkey, va, len, access);
	if (err)
		return err;
	/* What comes next must be there: a missing page is DEST_FAULT's. */
	if (!mirror_segs_present(&qp->req_remote, c->progress,
				 min_t(u64, len - c->progress,
				       MIRROR_FAULT_CHUNK), write, &miss)) {
		mirror_dest_missed(c, &qp->req_remote, miss, write);
		return -EAGAIN;
	}
	return 0;
}

/*
 * The error a destination answers a bad request with: RC completes the
 * requester's WQE with @status and the destination QP enters ERR, as a
 * RoCEv2 responder does after a NAK; UC loses the message.
 */
static enum mirror_step mirror_resp_refuse(struct mirror_req_ctx *c,
					   enum ib_wc_status status)
{
	if (c->qp->ibqp.qp_type == IB_QPT_RC) {
		c->status = status;
		c->dest_err = true;
	}
	return MIRROR_STEP_DONE;
}

/*
 * A copy between our memory and the destination's stopped at a missing
 * page (both lists are nofault): ours goes to FAULT, the destination's to
 * DEST_FAULT; the step resumes where it stopped.
 */
static enum mirror_step mirror_req_copy_stopped(struct mirror_req_ctx *c,
						struct mirror_segs *theirs,
						bool write, u64 done)
{
	c->progress += done;
	if (done)
		c->faults = 0;
	if (theirs->missed)
		return mirror_dest_missed(c, theirs, theirs->miss, write);
	return MIRROR_STEP_FAULT;
}

/*
 * Fills the 40 bytes in front of a UD receive the way a RoCEv2 device
 * does: for IPv4 the IPv4 header sits in the last 20 bytes (what
 * ib_get_gids_from_rdma_hdr() and ibv_init_ah_from_wc() parse), for IPv6
 * the bytes are the IPv6 header. Returns the mirror_cqe_net value.
 */
static u8 mirror_resp_build_grh(struct mirror_req_ctx *c, u8 *buf, u32 len)
{
	struct mirror_dev *dev = to_mirror_dev(c->qp->ibqp.device);
	struct ib_grh *grh = (struct ib_grh *)buf;
	struct iphdr *iph = (struct iphdr *)(buf + MIRROR_GRH_BYTES -
					     sizeof(*iph));
	/* UDP, BTH, DETH and ICRC around the payload on the wire */
	u32 wire = sizeof(struct udphdr) + 12 + 8 + len + 4;
	union ib_gid sgid;

	memset(buf, 0, MIRROR_GRH_BYTES);
	if (rdma_query_gid(&dev->ib_dev, 1, c->sgid_index, &sgid))
		sgid = c->dgid;
	if (ipv6_addr_v4mapped((struct in6_addr *)c->dgid.raw)) {
		iph->version = 4;
		iph->ihl = 5;
		iph->tot_len = htons(sizeof(*iph) + wire);
		iph->ttl = 64;
		iph->protocol = IPPROTO_UDP;
		memcpy(&iph->saddr, sgid.raw + 12, 4);
		memcpy(&iph->daddr, c->dgid.raw + 12, 4);
		iph->check = ip_fast_csum(iph, iph->ihl);
		return MIRROR_CQE_NET_IPV4;
	}
	grh->version_tclass_flow = cpu_to_be32(6U << 28);
	grh->paylen = cpu_to_be16(wire);
	grh->next_hdr = IPPROTO_UDP;
	grh->hop_limit = 64;
	grh->sgid = sgid;
	grh->dgid = c->dgid;
	return MIRROR_CQE_NET_IPV6;
}

/*
 * A UD SEND. Its payload (at most an MTU) was copied into the QP's bounce
 * buffer before the destination was locked (qp->req_local names it), so
 * nothing here faults our memory: a receive, once taken, is filled in one
 * step.
 */
static enum mirror_step mirror_exec_send_ud(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 len = qp->req_local.total;
	struct mirror_segs *segs = &qp->req_remote;
	struct mirror_cqe cqe = {};
	u8 grh[MIRROR_GRH_BYTES];
	int err;

	if (c->qkey != READ_ONCE(dest->attr.qkey)) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_QKEY);
		return MIRROR_STEP_DONE;	/* dropped, as on the wire */
	}
	err = mirror_resp_hold_recv(dest);
	if (err == -EAGAIN)
		return MIRROR_STEP_DONE;	/* no receive: dropped */
	mirror_segs_put(segs);
	if (!err)
		err = mirror_resp_recv_segs(dest, segs, 0,
					    MIRROR_GRH_BYTES + (u64)len);
	if (!err) {
		cqe.network_hdr_type = mirror_resp_build_grh(c, grh, len);
		err = mirror_segs_xfer(segs, 0, grh, sizeof(grh), true);
	}
	if (!err)
		err = mirror_segs_copy(segs, MIRROR_GRH_BYTES, &qp->req_local,
				       0, len, NULL);
	if (err == -EAGAIN && segs->missed) {
		/*
		 * The receive's memory is not mirrored: it stays held for
		 * this datagram (or the next), and DEST_FAULT has it faulted
		 * in; should that take longer than a moment, the datagram is
		 * lost, as UD allows.
		 */
		enum mirror_step step = mirror_dest_missed(c, segs,
							   segs->miss, true);

		mirror_segs_put(segs);
		return step;
	}
	mirror_segs_put(segs);
	if (err) {
		/* A bad receive: the receiver's problem, not the sender's. */
		mirror_resp_recv_error(dest, err == -EMSGSIZE ?
				       IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR,
				       qp->ibqp.qp_num);
		c->dest_err = true;
		return MIRROR_STEP_DONE;
	}
	cqe.opcode = MIRROR_WC_RECV;
	cqe.byte_len = len + MIRROR_GRH_BYTES;
	cqe.src_qp = qp->ibqp.qp_num;
	cqe.wc_flags = IB_WC_GRH;
	if (c->wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM) {
		cqe.imm_data = c->wqe->imm_data;
		cqe.wc_flags |= IB_WC_WITH_IMM;
	}
	mirror_resp_recv_done(dest, &cqe,
			      c->wqe->send_flags & IB_SEND_SOLICITED);
	return MIRROR_STEP_DONE;
}

/*
 * An RC/UC SEND: the receive it fills stays held by the destination
 * between steps (binding makes us its only sender), so a step that stops
 * at a missing page of ours resumes in the same receive.
 */
static enum mirror_step mirror_exec_send(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	u32 qpn = qp->ibqp.qp_num;
	u64 len = qp->req_local.total, done = 0;
	struct mirror_segs *segs = &qp->req_remote;
	struct mirror_cqe cqe = {};
	int err;

	if (!dest->resp_have_recv) {
		err = mirror_resp_hold_recv(dest);
		if (err == -EAGAIN)	/* RC: RNR; UC: dropped */
			return qp->ibqp.qp_type == IB_QPT_RC ?
			       MIRROR_STEP_RNR : MIRROR_STEP_DONE;
		if (err) {
			mirror_resp_recv_error(dest, IB_WC_LOC_PROT_ERR, qpn);
			c->dest_err = true;
			return mirror_resp_refuse(c, IB_WC_REM_OP_ERR);
		}
	}
	if (dest->resp_len < len) {
		mirror_resp_recv_error(dest, IB_WC_LOC_LEN_ERR, qpn);
		c->dest_err = true;
		return mirror_resp_refuse(c, IB_WC_REM_INV_REQ_ERR);
	}
	if (c->dfault_failed)
		err = -EFAULT;	/* the receive's ODP memory cannot be had */
	else
		err = mirror_resp_recv_segs(dest, segs, c->progress,
					    len - c->progress);
	/* The list starts at the receive's first byte not yet filled. */
	if (!err)
		err = mirror_segs_copy(segs, 0, &qp->req_local, c->progress,
				       len - c->progress, &done);
	if (err == -EAGAIN) {
		enum mirror_step step;

		step = mirror_req_copy_stopped(c, segs, true, done);
		mirror_segs_put(segs);
		return step;
	}
	if (err) {
		/* The receive's memory: a bad key, or ODP that cannot be had. */
		mirror_segs_put(segs);
		mirror_resp_recv_error(dest, IB_WC_LOC_PROT_ERR, qpn);
		c->dest_err = true;
		return mirror_resp_refuse(c, IB_WC_REM_OP_ERR);
	}
	mirror_segs_put(segs);
	cqe.opcode = MIRROR_WC_RECV;
	cqe.byte_len = len;
	cqe.src_qp = qpn;
	if (c->wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM) {
		cqe.imm_data = c->wqe->imm_data;
		cqe.wc_flags = IB_WC_WITH_IMM;
	}
	mirror_resp_recv_done(dest, &cqe,
			      c->wqe->send_flags & IB_SEND_SOLICITED);
	return MIRROR_STEP_DONE;
}

/*
 * Moves the rest of an RDMA WRITE (@write) or READ between the WQE's local
 * memory and the remote range at the destination. *moved says whether it
 * all arrived; else the step says what a missing page or a refused range
 * leads to.
 */
static enum mirror_step mirror_exec_rdma(struct mirror_req_ctx *c, bool write,
					 bool *moved)
{
	struct mirror_qp *qp = c->qp;
	struct mirror_segs *dst = write ? &qp->req_remote : &qp->req_local;
	struct mirror_segs *src = write ? &qp->req_local : &qp->req_remote;
	u64 len = qp->req_local.total, done = 0;
	int err;

	*moved = false;
	if (c->dfault_failed)	/* its ODP memory cannot be had */
		return mirror_resp_refuse(c, IB_WC_REM_ACCESS_ERR);
	err = mirror_resp_remote(c, c->wqe->wr.rdma.remote_addr,
				 c->wqe->wr.rdma.rkey, len,
				 write ? IB_ACCESS_REMOTE_WRITE :
					 IB_ACCESS_REMOTE_READ);
	if (err == -EAGAIN)
		return MIRROR_STEP_DEST_FAULT;
	if (err)
		return mirror_resp_refuse(c, IB_WC_REM_ACCESS_ERR);
	err = mirror_segs_copy(dst, c->progress, src, c->progress,
			       len - c->progress, &done);
	if (err == -EAGAIN)
		return mirror_req_copy_stopped(c, &qp->req_remote, write, done);
	if (err)
		return mirror_resp_refuse(c, IB_WC_REM_ACCESS_ERR);
	c->progress = len;
	*moved = true;
	return MIRROR_STEP_DONE;
}

/* RDMA WRITE (with immediate): the data first, then the receive. */
static enum mirror_step mirror_exec_write(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	bool imm = c->wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	struct mirror_cqe cqe = {};
	enum mirror_step step;
	bool moved;
	int err;

	step = mirror_exec_rdma(c, true, &moved);
	if (!moved || !imm)
		return step;

	/* A packet answered with an RNR NAK rewrites the same bytes. */
	if (!dest->resp_have_recv) {
		err = mirror_resp_hold_recv(dest);
		if (err == -EAGAIN)
			return qp->ibqp.qp_type == IB_QPT_RC ?
			       MIRROR_STEP_RNR : MIRROR_STEP_DONE;
		if (err) {
			mirror_resp_recv_error(dest, IB_WC_LOC_PROT_ERR,
					       qp->ibqp.qp_num);
			c->dest_err = true;
			return mirror_resp_refuse(c, IB_WC_REM_OP_ERR);
		}
	}
	cqe.opcode = MIRROR_WC_RECV_RDMA_WITH_IMM;
	cqe.byte_len = qp->req_local.total;
	cqe.src_qp = qp->ibqp.qp_num;
	cqe.imm_data = c->wqe->imm_data;
	cqe.wc_flags = IB_WC_WITH_IMM;
	mirror_resp_recv_done(dest, &cqe,
			      c->wqe->send_flags & IB_SEND_SOLICITED);
	return MIRROR_STEP_DONE;
}

/* Does the destination accept READs and atomics at all? */
static bool mirror_dest_takes_rd_atomic(struct mirror_qp *dest)
{
	return READ_ONCE(dest->attr.max_dest_rd_atomic) > 0;
}

/* RDMA READ: the remote range lands in the local (writable) buffers. */
static enum mirror_step mirror_exec_read(struct mirror_req_ctx *c)
{
	enum mirror_step step;
	bool moved;

	if (!mirror_dest_takes_rd_atomic(c->dest))
		return mirror_resp_refuse(c, IB_WC_REM_INV_REQ_ERR);
	step = mirror_exec_rdma(c, false, &moved);
	if (moved)
		c->byte_len = c->qp->req_local.total;
	return step;
}

/*
 * Compare-and-swap or fetch-and-add on 8 aligned bytes at the destination.
 * The value found there is kept in c->orig and written to the local buffer
 * after the destination is released (mirror_req_one()).
 */
static enum mirror_step mirror_exec_atomic(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_send_wqe *wqe = c->wqe;
	int err;

	/* A misaligned atomic is an invalid request (IBA 9.4.5). */
	if ((wqe->wr.atomic.remote_addr & (sizeof(u64) - 1)) ||
	    !mirror_dest_takes_rd_atomic(c->dest))
		return mirror_resp_refuse(c, IB_WC_REM_INV_REQ_ERR);
	if (c->dfault_failed)
		return mirror_resp_refuse(c, IB_WC_REM_ACCESS_ERR);
	err = mirror_resp_remote(c, wqe->wr.atomic.remote_addr,
				 wqe->wr.atomic.rkey, sizeof(u64),
				 IB_ACCESS_REMOTE_ATOMIC);
	if (err == -EAGAIN)
		return MIRROR_STEP_DEST_FAULT;
	if (err)
		return mirror_resp_refuse(c, IB_WC_REM_ACCESS_ERR);
	err = mirror_segs_atomic(&qp->req_remote, &dev->atomic_lock,
				 wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP,
				 wqe->wr.atomic.compare_add,
				 wqe->wr.atomic.swap, &c->orig);
	if (err == -EAGAIN)	/* invalidated since the check above */
		return mirror_dest_missed(c, &qp->req_remote, 0, true);
	if (err)
		return mirror_resp_refuse(c, qp->req_remote.failed ?
					  IB_WC_REM_ACCESS_ERR :
					  IB_WC_REM_OP_ERR);
	c->have_orig = true;
	return MIRROR_STEP_DONE;
}

/* ---------------------------------------------------------------------- */
/* Requester states */

/**
 * mirror_wqe_local() - check a send WQE and resolve its local memory
 * @qp: the QP (req_lock held)
 * @wqe: the kernel's copy of the WQE
 * @segs: gets the WQE's memory (references held until mirror_segs_put())
 *
 * Checks the opcode against the QP type, the SGE count and the lengths,
 * and the key, PD, access and range of every SGE (writable ones for READ
 * and atomics); faults the first chunk of ODP memory in.
 *
 * Return: IB_WC_SUCCESS, or the completion status of a WQE that cannot run.
 */
enum ib_wc_status mirror_wqe_local(struct mirror_qp *qp,
				   struct mirror_send_wqe *wqe,
				   struct mirror_segs *segs)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 room = qp->sq.stride - sizeof(*wqe);
	bool atomic = mirror_is_atomic(wqe->opcode);
	bool read = wqe->opcode == IB_UVERBS_WR_RDMA_READ || atomic;
	struct mirror_sge *sge = (struct mirror_sge *)(wqe + 1);
	u32 i;
	int err = 0;

	mirror_segs_put(segs);
	if (!mirror_opcode_ok(qp->ibqp.qp_type, wqe->opcode))
		return IB_WC_LOC_QP_OP_ERR;
	if (wqe->flags & MIRROR_WQE_F_INLINE) {
		if (read || wqe->inline_len > qp->max_inline ||
		    wqe->inline_len > room)
			return IB_WC_LOC_LEN_ERR;
		mirror_segs_add_kbuf(segs, wqe + 1, wqe->inline_len, false);
		goto check_len;
	}
	if (wqe->num_sge > qp->attr.cap.max_send_sge ||
	    wqe->num_sge > room / sizeof(*sge))
		return IB_WC_LOC_LEN_ERR;
	for (i = 0; i < wqe->num_sge && !err; i++)
		err = mirror_segs_add(segs, dev, qp->ibqp.pd, sge[i].lkey,
				      sge[i].addr, sge[i].length,
				      read ? IB_ACCESS_LOCAL_WRITE : 0);
	if (err)
		return err == -E2BIG ? IB_WC_LOC_LEN_ERR : IB_WC_LOC_PROT_ERR;
	if (atomic && segs->total != sizeof(u64))
		return IB_WC_LOC_LEN_ERR;
check_len:
	if (segs->total > (1ULL << 31) ||
	    (mirror_type_is_ud(qp->ibqp.qp_type) &&
	     segs->total > mirror_dev_mtu(dev)))
		return IB_WC_LOC_LEN_ERR;
	/* ODP: the first chunk must be there (writable for READ/atomics). */
	if (mirror_segs_fault(segs, 0, min_t(u64, segs->total,
					     MIRROR_FAULT_CHUNK), read))
		return IB_WC_LOC_PROT_ERR;
	return IB_WC_SUCCESS;
}

/* LOCAL: the opcode fits the QP and the local buffers are ours. */
static enum mirror_req_state mirror_req_local(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	int err;

	c->status = mirror_wqe_local(qp, c->wqe, &qp->req_local);
	if (c->status != IB_WC_SUCCESS)
		return MIRROR_REQ_COMPLETE;
	if (mirror_type_is_ud(qp->ibqp.qp_type)) {
		/*
		 * A datagram is at most an MTU: copy it out of our memory now,
		 * faulting as needed, so that no fault of ours happens while
		 * a destination (which any sender may reach) is held.
		 */
		u32 len = qp->req_local.total;

		err = mirror_segs_xfer(&qp->req_local, 0, qp->ud_bounce, len,
				       false);
		if (err) {
			c->status = IB_WC_LOC_PROT_ERR;
			return MIRROR_REQ_COMPLETE;
		}
		mirror_segs_put(&qp->req_local);
		mirror_segs_add_kbuf(&qp->req_local, qp->ud_bounce, len, false);
	}
	return MIRROR_REQ_ROUTE;
}

/* ROUTE: find the destination QP on this device. */
static enum mirror_req_state mirror_req_route(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	enum ib_qp_type type = qp->ibqp.qp_type;
	struct mirror_av *av;

	if (mirror_type_is_ud(type)) {
		rcu_read_lock();
		av = xa_load(&dev->av_xa, c->wqe->wr.ud.ah_num);
		/* An AH of another PD (another process's) is not ours to use. */
		if (av && av->pd == qp->ibqp.pd) {
			c->av = av->attr;
			c->dgid = av->attr.grh.dgid;
			c->sgid_index = av->attr.grh.sgid_index;
		} else {
			av = NULL;
		}
		rcu_read_unlock();
		if (!av) {
			c->status = IB_WC_LOC_QP_OP_ERR;
			return MIRROR_REQ_COMPLETE;
		}
		c->dqpn = c->wqe->wr.ud.remote_qpn & MIRROR_QPN_MASK;
		c->qkey = c->wqe->wr.ud.remote_qkey;
		if (c->qkey & 0x80000000)	/* use the QP's own Q_Key */
			c->qkey = READ_ONCE(qp->attr.qkey);
		if (!mirror_gid_is_local(dev, &c->dgid)) {
			/* Over RoCEv2; a datagram that cannot leave is lost. */
			mirror_wire_send_ud(qp, c->wqe, &c->av, c->dqpn,
					    c->qkey);
			return MIRROR_REQ_COMPLETE;
		}
	} else {
		/* Decided at RTR: RC/UC peers elsewhere use mirror_wire.c. */
		c->dgid = qp->peer_gid;
		c->dqpn = qp->peer_qpn;
	}
	/*
	 * On this device: RC reports a missing peer the way a dead link
	 * does, UC and UD lose the message.
	 */
	dest = mirror_qp_get(dev, c->dqpn);
	if (!dest) {
		if (type == IB_QPT_RC)
			c->status = IB_WC_RETRY_EXC_ERR;
		return MIRROR_REQ_COMPLETE;
	}
	c->dest = dest;
	return MIRROR_REQ_EXECUTE;
}

/*
 * Will the destination take this WQE from us? Its resp_lock is held, so
 * its peer fields and PSN are stable; they are what a RoCEv2 responder
 * checks of a packet's source and PSN. Counts the reason of a refusal.
 */
static bool mirror_req_accepted(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	enum ib_qp_type type = qp->ibqp.qp_type;
	enum mirror_qp_state ds = READ_ONCE(dest->state);

	lockdep_assert_held(&dest->resp_lock);
	if (ds < MIRROR_QPS_RTR || ds == MIRROR_QPS_ERR) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_QP_STATE);
		return false;
	}
	if (mirror_type_is_ud(type)) {
		if (mirror_type_is_ud(dest->ibqp.qp_type))
			return true;
		mirror_count(dev, MIRROR_CNT_RX_DROP_OPCODE);
		return false;
	}
	if (dest->ibqp.qp_type != type) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_OPCODE);
		return false;
	}
	if (dest->wire) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_WRONG_PATH);
		return false;
	}
	if (dest->peer_qpn != qp->ibqp.qp_num ||
	    memcmp(&dest->peer_gid, &qp->own_gid, sizeof(qp->own_gid))) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_BAD_SRC);
		return false;
	}
	if (type == IB_QPT_RC && dest->epsn != qp->req_psn) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_PSN);
		return false;
	}
	return true;
}

/* The PSNs a message takes on the wire, for the same-device PSN check. */
static u32 mirror_req_npsn(struct mirror_req_ctx *c)
{
	if (mirror_is_atomic(c->wqe->opcode))
		return 1;
	return mirror_npkts(c->qp->req_local.total, mirror_qp_mtu(c->qp));
}

/* EXECUTE: run the destination's responder. */
static enum mirror_req_state mirror_req_execute(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	enum ib_qp_type type = qp->ibqp.qp_type;
	enum mirror_step step = MIRROR_STEP_DONE;
	u32 n;
	u8 timer;

	/* Nothing is faulted while the destination is held. */
	qp->req_local.nofault = true;
	qp->req_remote.nofault = true;
	mutex_lock(&dest->resp_lock);
	if (!mirror_req_accepted(c)) {
		mutex_unlock(&dest->resp_lock);
		qp->req_local.nofault = false;
		qp->req_remote.nofault = false;
		if (type == IB_QPT_RC)
			c->status = IB_WC_RETRY_EXC_ERR;
		return MIRROR_REQ_COMPLETE;
	}
	switch (c->wqe->opcode) {
	case IB_UVERBS_WR_SEND:
	case IB_UVERBS_WR_SEND_WITH_IMM:
		step = mirror_type_is_ud(type) ? mirror_exec_send_ud(c) :
						 mirror_exec_send(c);
		break;
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		step = mirror_exec_write(c);
		break;
	case IB_UVERBS_WR_RDMA_READ:
		step = mirror_exec_read(c);
		break;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		step = mirror_exec_atomic(c);
		break;
	}
	mirror_segs_put(&qp->req_remote);
	if (step == MIRROR_STEP_DONE && !mirror_type_is_ud(type)) {
		/* As many PSNs as the message takes on the wire. */
		n = mirror_req_npsn(c);
		qp->req_psn = mirror_psn_add(qp->req_psn, n);
		dest->epsn = qp->req_psn;
	}
	timer = READ_ONCE(dest->attr.min_rnr_timer) & 31;
	if (c->dest_err)
		mirror_qp_err_due(dest);
	mutex_unlock(&dest->resp_lock);
	qp->req_local.nofault = false;
	qp->req_remote.nofault = false;

	switch (step) {
	case MIRROR_STEP_RNR:
		c->rnr_delay = mirror_rnr_jiffies(timer);
		return MIRROR_REQ_RNR_WAIT;
	case MIRROR_STEP_FAULT:
		return MIRROR_REQ_FAULT;
	case MIRROR_STEP_DEST_FAULT:
		return MIRROR_REQ_DEST_FAULT;
	default:
		return MIRROR_REQ_COMPLETE;
	}
}

/* How long a requester waits for a destination's fault: its RTO. */
static unsigned long mirror_req_dest_wait_jiffies(struct mirror_qp *qp)
{
	u8 timeout = READ_ONCE(qp->attr.timeout);
	u64 ms = timeout ? div_u64(4096ULL << min_t(u8, timeout, 31),
				   1000000) : 0;

	return msecs_to_jiffies(max_t(u64, ms, MIRROR_DEST_FAULT_MIN_MS));
}

/*
 * DEST_FAULT: a page of the destination's memory is missing. Nothing of
 * the destination is held; a work item faults the page in, and we wait
 * for it as long as a peer on the wire would be waited for. Then resume
 * (or answer as the responder does for memory it cannot have), or let go.
 */
static enum mirror_req_state mirror_req_dest_fault(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	struct mirror_fault_job *job = qp->dfault_job;
	bool fresh = false;
	long left;
	int err;

	mirror_qp_put(c->dest);
	c->dest = NULL;
	if (c->dfault_failed)	/* decided under the destination's lock */
		return MIRROR_REQ_ROUTE;
	if (++c->faults > MIRROR_REQ_FAULT_ROUNDS) {
		mirror_mr_put(c->dfault_mr);
		c->dfault_mr = NULL;
		c->dfault_failed = true;
		return MIRROR_REQ_ROUTE;
	}
	if (mirror_fault_job_busy(job)) {
		/* The last one still runs: wait for it, start no other. */
		mirror_mr_put(c->dfault_mr);
		c->dfault_mr = NULL;
	} else {
		mirror_fault_job_put(job);
		job = mirror_fault_job_start(c);
		qp->dfault_job = job;
		fresh = true;
		if (!job)
			return MIRROR_REQ_DEST_WAIT;
	}
	left = wait_for_completion_timeout(&job->done,
					   mirror_req_dest_wait_jiffies(qp));
	if (!left) {
		/* Its memory takes its time: do not wait for it here. */
		atomic_set(&job->kick, 1);
		return MIRROR_REQ_DEST_WAIT;
	}
	err = job->err;
	mirror_fault_job_put(job);
	qp->dfault_job = NULL;
	/* An older job's result says nothing of this range: look again. */
	if (err && fresh)
		c->dfault_failed = true;
	return MIRROR_REQ_ROUTE;
}

/**
 * mirror_req_forget_faults() - drop a QP's hold on its fault job
 * @qp: a QP being destroyed (nothing runs its engines any more)
 *
 * The job finishes on its own; it holds no reference on the QP.
 */
void mirror_req_forget_faults(struct mirror_qp *qp)
{
	mirror_fault_job_put(qp->dfault_job);
	qp->dfault_job = NULL;
}

/*
 * DEST_WAIT: the destination did not have its memory ready in time. As
 * for a peer that does not answer: RC tries again later (retry_cnt times,
 * forever with timeout 0) and then fails with RETRY_EXC_ERR; UC and UD
 * lose the message. Returns true when the requester stops here (WQE kept).
 */
static bool mirror_req_dest_wait(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);

	if (qp->ibqp.qp_type != IB_QPT_RC)
		return false;		/* UC, UD: lost */
	mirror_count(dev, MIRROR_CNT_RETRANS_TIMEOUT);
	if (qp->dfault_left == MIRROR_RNR_NOT_STARTED)
		qp->dfault_left = READ_ONCE(qp->attr.retry_cnt);
	if (READ_ONCE(qp->attr.timeout)) {
		if (!qp->dfault_left) {
			c->status = IB_WC_RETRY_EXC_ERR;
			return false;
		}
		qp->dfault_left--;
	}
	queue_delayed_work(dev->wq, &qp->req_work,
			   mirror_req_dest_wait_jiffies(qp));
	return true;
}

/*
 * FAULT: a page of our own memory was missing. With nothing of the
 * destination held any more, fault it in (a chunk), then find the
 * destination again and resume.
 */
static enum mirror_req_state mirror_req_fault(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	bool write = c->wqe->opcode == IB_UVERBS_WR_RDMA_READ;

	mirror_qp_put(c->dest);
	c->dest = NULL;
	if (++c->faults > MIRROR_REQ_FAULT_ROUNDS ||
	    mirror_segs_fault(&qp->req_local, qp->req_local.miss,
			      MIRROR_FAULT_CHUNK, write)) {
		c->status = IB_WC_LOC_PROT_ERR;
		return MIRROR_REQ_COMPLETE;
	}
	return MIRROR_REQ_ROUTE;
}

/* RNR_WAIT: retry later, or give up when the retries are spent. */
static bool mirror_req_rnr(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	u8 retry = READ_ONCE(qp->attr.rnr_retry);

	if (qp->rnr_left == MIRROR_RNR_NOT_STARTED)
		qp->rnr_left = retry;
	if (retry != 7) {	/* 7 means retry forever */
		if (!qp->rnr_left) {
			c->status = IB_WC_RNR_RETRY_EXC_ERR;
			return false;
		}
		qp->rnr_left--;
	}
	queue_delayed_work(to_mirror_dev(qp->ibqp.device)->wq, &qp->req_work,
			   c->rnr_delay);
	return true;
}

/*
 * Runs one WQE through the states. Returns false when the requester must
 * stop (RNR wait) without consuming the WQE.
 */
static bool mirror_req_one(struct mirror_req_ctx *c)
{
	enum mirror_req_state state = MIRROR_REQ_LOCAL;

	while (state != MIRROR_REQ_COMPLETE) {
		switch (state) {
		case MIRROR_REQ_LOCAL:
			state = mirror_req_local(c);
			break;
		case MIRROR_REQ_ROUTE:
			state = mirror_req_route(c);
			break;
		case MIRROR_REQ_EXECUTE:
			state = mirror_req_execute(c);
			break;
		case MIRROR_REQ_FAULT:
			state = mirror_req_fault(c);
			break;
		case MIRROR_REQ_DEST_FAULT:
			state = mirror_req_dest_fault(c);
			break;
		case MIRROR_REQ_DEST_WAIT:
			if (mirror_req_dest_wait(c))
				return false;
			state = MIRROR_REQ_COMPLETE;
			break;
		case MIRROR_REQ_RNR_WAIT:
			if (mirror_req_rnr(c))
				return false;
			state = MIRROR_REQ_COMPLETE;
			break;
		default:
			WARN_ON_ONCE(1);
			c->status = IB_WC_GENERAL_ERR;
			state = MIRROR_REQ_COMPLETE;
			break;
		}
	}
	/* An atomic's result, now that nothing of the destination is held. */
	if (c->have_orig && c->status == IB_WC_SUCCESS) {
		if (mirror_segs_xfer(&c->qp->req_local, 0, &c->orig,
				     sizeof(c->orig), true))
			c->status = IB_WC_LOC_PROT_ERR;
		else
			c->byte_len = sizeof(c->orig);
	}
	return true;
}

/**
 * mirror_qp_req_work() - the requester, run from the QP's work item
 * @work: the QP's req_work
 */
void mirror_qp_req_work(struct work_struct *work)
{
	struct mirror_qp *qp = container_of(to_delayed_work(work),
					    struct mirror_qp, req_work);

	/* An RNR wait on the wire ends when this work runs. */
	mutex_lock(&qp->req_lock);
	qp->rnr_wait = false;
	mutex_unlock(&qp->req_lock);
	mirror_qp_requester(qp);
}

/**
 * mirror_qp_requester() - the requester of a QP
 * @qp: the QP
 *
 * Runs in process context: from the doorbell system call of the posting
 * process, or from the QP's work item (after an RNR wait, or on RTS).
 *
 * Drains the SQ while the QP is in RTS. A failed WQE completes with its
 * error and moves the QP to ERR, which flushes the rest; in ERR, every
 * doorbell flushes what was posted since (receives included).
 */
void mirror_qp_requester(struct mirror_qp *qp)
{
	struct mirror_qp *dest_err = NULL;
	bool qp_err = false;

	if (READ_ONCE(qp->state) == MIRROR_QPS_ERR) {
		/* WRs posted in ERR complete at once with WR_FLUSH_ERR. */
		mutex_lock(&qp->state_lock);
		if (qp->state == MIRROR_QPS_ERR)
			mirror_qp_flush(qp);
		mutex_unlock(&qp->state_lock);
		return;
	}
	if (qp->wire) {
		mirror_wire_requester(qp);
		return;
	}
	mutex_lock(&qp->req_lock);
	while (READ_ONCE(qp->state) == MIRROR_QPS_RTS) {
		struct mirror_req_ctx c = {
			.qp = qp,
			.status = IB_WC_SUCCESS,
		};
		struct mirror_cqe cqe = {};
		u32 avail;
		bool done;

		if (mirror_queue_avail(&qp->sq, qp->sq_cons, &avail)) {
			qp_err = true;	/* user space broke its ring */
			break;
		}
		if (!avail)
			break;
		c.wqe = mirror_sq_fetch(qp, qp->sq_cons);
		done = mirror_req_one(&c);
		mirror_segs_put(&qp->req_local);
		mirror_segs_put(&qp->req_remote);
		if (c.dfault_mr)
			mirror_mr_put(c.dfault_mr);
		if (c.dest) {
			if (c.dest_err && !dest_err)
				dest_err = c.dest;	/* keep the reference */
			else
				mirror_qp_put(c.dest);
		}
		if (!done)
			break;

		qp->rnr_left = MIRROR_RNR_NOT_STARTED;
		qp->dfault_left = MIRROR_RNR_NOT_STARTED;
		if (c.status != IB_WC_SUCCESS || qp->sq_sig_all ||
		    (c.wqe->send_flags & IB_SEND_SIGNALED)) {
			cqe.wr_id = c.wqe->wr_id;
			cqe.status = c.status;
			cqe.opcode = mirror_wc_opcode(c.wqe->opcode);
			cqe.byte_len = c.byte_len;
			cqe.qp_num = qp->ibqp.qp_num;
			mirror_complete(qp, false, &cqe, false);
		}
		qp->sq_cons++;
		qp->sq_next = qp->sq_cons;	/* nothing is ever in flight */
		mirror_queue_consumed(&qp->sq, qp->sq_cons);
		if (c.status != IB_WC_SUCCESS) {
			qp_err = true;
			break;
		}
		if (dest_err)
			break;
		cond_resched();
	}
	if (qp_err)
		mirror_qp_err_due(qp);
	mutex_unlock(&qp->req_lock);

	if (dest_err) {
		mirror_qp_enter_err(dest_err);
		mirror_qp_put(dest_err);
		/* Carry on with the rest of the SQ. */
		if (!qp_err)
			queue_delayed_work(to_mirror_dev(qp->ibqp.device)->wq,
					   &qp->req_work, 0);
	}
	if (qp_err)
		mirror_qp_enter_err(qp);
}

/*
 * Completes every WQE the requester has not completed with WR_FLUSH_ERR:
 * those it has a copy of, then those still in the ring (each read once,
 * into the copy). A ring whose producer claims more than num_slots
 * entries is flushed for num_slots.
 */
static void mirror_flush_sq(struct mirror_qp *qp)
{
	struct mirror_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.qp_num = qp->ibqp.qp_num,
	};
	u32 n;

	if (mirror_queue_avail(&qp->sq, qp->sq_cons, &n))
		n = qp->sq.num_slots;
	n = max(n, qp->sq_fetched - qp->sq_cons);
	while (n--) {
		struct mirror_send_wqe *w = mirror_sq_fetch(qp, qp->sq_cons);

		cqe.wr_id = w->wr_id;
		cqe.opcode = mirror_wc_opcode(w->opcode);
		mirror_complete(qp, false, &cqe, false);
		qp->sq_cons++;
	}
	qp->sq_next = qp->sq_cons;	/* nothing in flight any more */
	mirror_queue_consumed(&qp->sq, qp->sq_cons);
}

/* The same for the receives: the one held for a message, then the RQ. */
static void mirror_flush_rq(struct mirror_qp *qp)
{
	struct mirror_queue *q = &qp->rq;
	struct mirror_cqe cqe = {
		.status = IB_WC_WR_FLUSH_ERR,
		.opcode = MIRROR_WC_RECV,
		.qp_num = qp->ibqp.qp_num,
	};
	struct mirror_recv_wqe wqe;
	u32 n;

	if (qp->resp_have_recv)
		mirror_resp_recv_error(qp, IB_WC_WR_FLUSH_ERR, 0);
	qp->resp_msg = MIRROR_RESP_IDLE;
	if (!q->buf)
		return;
	if (mirror_queue_avail(q, qp->rq_cons, &n))
		n = q->num_slots;
	while (n--) {
		memcpy(&wqe, mirror_queue_slot(q, qp->rq_cons), sizeof(wqe));
		cqe.wr_id = wqe.wr_id;
		mirror_complete(qp, true, &cqe, false);
		qp->rq_cons++;
	}
	mirror_queue_consumed(q, qp->rq_cons);
}

/**
 * mirror_qp_flush() - complete all outstanding WQEs with WR_FLUSH_ERR
 * @qp: a QP that has just entered ERR (state_lock held)
 */
void mirror_qp_flush(struct mirror_qp *qp)
{
	lockdep_assert_held(&qp->state_lock);
	mutex_lock(&qp->req_lock);
	if (qp->sq.buf)
		mirror_flush_sq(qp);
	del_timer(&qp->retrans_timer);
	mutex_lock(&qp->resp_lock);
	mirror_flush_rq(qp);
	mutex_unlock(&qp->resp_lock);
	mutex_unlock(&qp->req_lock);
}
