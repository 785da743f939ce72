// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_req.c - the requester: takes WQEs from the kernel's copy of the
 * SQ (mirror_sq.c), checks them, and moves them by one of two transports.
 * See docs/design.md, "The requester", and docs/architecture.md.
 *
 * RoCEv2 (the QP's peer is another device): the message becomes packets
 * (the codec lays them out, mirror_net.c sends them); RC WQEs stay in the
 * SQ until the completer (mirror_comp.c) finishes them. sq_cons is the
 * oldest incomplete WQE, sq_next the next one to send, and meta[] holds
 * each in-flight WQE's PSN range. The WQE's SGEs are looked up again for
 * every packet, so no MR reference is held while a peer takes its time.
 * Per WQE:
 *
 *   SEND: check it -> packets (PSN first..last) -> wait
 *   WAIT: ACK covering last      -> DONE
 *         RNR NAK                -> rewind here, resend after the timer
 *         PSN sequence NAK       -> rewind here, resend now
 *         other NAK              -> DONE with the error (QP -> ERR)
 *         timeout                -> rewind to the oldest (retry_cnt)
 *   A rewound READ asks only for the responses it still misses, a
 *   rewound SEND or WRITE goes on from its first unacknowledged packet.
 *   DONE: completions are reported strictly in SQ order.
 *
 * Same device (the short-circuit path, no packets): the destination's
 * responder runs for the WQE under its resp_lock, the same functions
 * (mirror_resp.c) a RoCEv2 packet goes to: a SEND or WRITE step hands it
 * one request (a struct mirror_pkt whose payload is our segments) and
 * turns its verdict into a completion status, an RNR wait, or FAULT /
 * DEST_FAULT for a missing page. Only a READ, which changes nothing at the
 * destination, is copied here, after the responder's range check.
 *
 * Both run in process context (the doorbell system call of the posting
 * process, or the QP's work item). The same-device requester drains the
 * SQ one WQE at a time and, for each, runs the responder of the
 * destination QP directly under that QP's resp_lock. Per WQE (always the
 * kernel's copy, mirror_sq_fetch()):
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
 * Locking: state_lock -> req_lock -> resp_lock (of any QP); req_lock also
 * covers the completer. The requester never takes a state_lock while
 * holding req_lock; a QP that must enter ERR does so after the locks are
 * dropped (mirror_qp_enter_err()).
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
	MIRROR_STEP_FAULT,	/* our memory at qp->req.local.miss is missing */
	MIRROR_STEP_DEST_FAULT,	/* the destination's memory, c->dfault_* */
};

/**
 * struct mirror_req_ctx - what the states of one WQE share
 * @qp: the requester's QP
 * @wqe: the kernel's copy of the WQE
 * @dest: the destination QP (a reference is held), or NULL
 * @status: the completion status for the requester
 * @byte_len: bytes for the completion
 * @rnr_timer: the RNR timer code to wait out before retrying
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
 * @dfault_told: the next EXECUTE runs with @dfault_failed; a step that
 *	stops at the destination's memory after that ends the WQE in error
 *	(a step that ignored @dfault_failed once went round for ever)
 */
struct mirror_req_ctx {
	struct mirror_qp *qp;
	struct mirror_send_wqe *wqe;
	struct mirror_qp *dest;
	enum ib_wc_status status;
	u32 byte_len;
	u8 rnr_timer;
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
	bool dfault_told;
};

/* A step that keeps losing its own pages gives up after this many. */
#define MIRROR_REQ_FAULT_ROUNDS	1000
/* The least a requester waits for a destination's fault (QP timeout 0 too). */
#define MIRROR_DEST_FAULT_MIN_MS	50

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

/* Inside long messages the requester asks for an ACK this often. */
#define MIRROR_ACKREQ_EVERY	64

/* ---------------------------------------------------------------------- */
/* The RoCEv2 transport: WQEs into packets */

/* A FLUSH WQE's FETH bits (mirror_wqe_local() checked that they fit). */
static u32 mirror_wqe_feth(const struct mirror_send_wqe *wqe)
{
	return wqe->wr.flush.type |
	       (u32)wqe->wr.flush.level << MIRROR_FETH_SEL_SHIFT;
}

/*
 * Sends packets of one WQE whose first PSN is @psn; *npsn gets the number
 * of its PSNs up to the first packet not sent (all of a READ's or an
 * atomic's once its request went). @answered PSNs of it are known to have
 * arrived: a READ whose first @answered responses arrived asks only for
 * the rest (at the PSN and address of the first one missing), a SEND or
 * WRITE goes on from packet @answered (a MIDDLE or LAST, which continues
 * the message the responder holds: IBA 9.7.6.1.3), and sends its packets
 * before packet @upto only (the window; the rest goes as ACKs open it, and
 * the last packet sent asks for one). Either still takes all its PSNs.
 * Return: 0; -ENOMEM when a packet could not be allocated (*npsn says how
 * far it got); -EFAULT when its local memory went away.
 */
static int mirror_send_wqe(struct mirror_qp *qp, struct mirror_send_wqe *wqe,
			   u32 len, u32 psn, u32 answered, u32 upto,
			   u32 *npsn)
{
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;
	u8 tr = rc ? MIRROR_TR_RC : MIRROR_TR_UC;
	u32 mtu = mirror_qp_mtu(qp);
	u32 n = mirror_npkts(len, mtu), i;
	bool write = wqe->opcode == IB_UVERBS_WR_RDMA_WRITE ||
		     wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	bool imm = wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM ||
		   wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	bool inv = wqe->opcode == IB_UVERBS_WR_SEND_WITH_INV;
	struct mirror_pkt t = {
		.dqpn = qp->peer.qpn,
		.src = &qp->req.local,
	};
	int err;

	*npsn = 0;
	switch (wqe->opcode) {
	case IB_UVERBS_WR_RDMA_READ:
		/* One request for the responses before @upto (one at least). */
		if (answered >= n)
			answered = 0;
		upto = clamp(upto, answered + 1, n);
		t.opcode = tr | MIRROR_OP_READ_REQUEST;
		t.va = wqe->wr.rdma.remote_addr + (u64)answered * mtu;
		t.rkey = wqe->wr.rdma.rkey;
		t.dma_len = min_t(u64, len, (u64)upto * mtu) - (u64)answered * mtu;
		t.psn = mirror_psn_add(psn, answered);
		t.ackreq = true;
		err = mirror_qp_pkt_send(qp, &t);
		if (!err)
			*npsn = upto;	/* the responses take these PSNs */
		return err;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		t.opcode = tr | (wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP ?
				 MIRROR_OP_CMP_SWAP : MIRROR_OP_FETCH_ADD);
		t.va = wqe->wr.atomic.remote_addr;
		t.rkey = wqe->wr.atomic.rkey;
		if (wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP) {
			t.swap_add = wqe->wr.atomic.swap;
			t.compare = wqe->wr.atomic.compare_add;
		} else {
			t.swap_add = wqe->wr.atomic.compare_add;
		}
		t.psn = psn;
		t.ackreq = true;
		err = mirror_qp_pkt_send(qp, &t);
		if (!err)
			*npsn = 1;
		return err;
	case MIRROR_WR_ATOMIC_WRITE:
		/* One packet: a RETH and the WQE's 8 bytes. */
		t.opcode = tr | MIRROR_OP_ATOMIC_WRITE;
		t.va = wqe->wr.atomic.remote_addr;
		t.rkey = wqe->wr.atomic.rkey;
		t.dma_len = sizeof(u64);
		t.paylen = sizeof(u64);
		t.psn = psn;
		t.ackreq = true;
		mirror_segs_put(&qp->req.local);
		mirror_segs_add_kbuf(&qp->req.local, &wqe->wr.atomic.compare_add,
				     sizeof(u64), false);
		err = mirror_qp_pkt_send(qp, &t);
		mirror_segs_put(&qp->req.local);
		if (!err)
			*npsn = 1;
		return err;
	case MIRROR_WR_FLUSH:
		/* One packet: a FETH and a RETH, no payload. */
		t.opcode = tr | MIRROR_OP_FLUSH;
		t.va = wqe->wr.flush.remote_addr;
		t.rkey = wqe->wr.flush.rkey;
		t.dma_len = wqe->wr.flush.length;
		t.feth = mirror_wqe_feth(wqe);
		t.psn = psn;
		t.ackreq = true;
		err = mirror_qp_pkt_send(qp, &t);
		if (!err)
			*npsn = 1;
		return err;
	}

	t.va = wqe->wr.rdma.remote_addr;
	t.rkey = wqe->wr.rdma.rkey;
	t.dma_len = len;
	t.imm = (__force __be32)wqe->imm_data;
	t.inv_rkey = wqe->imm_data;	/* the union's invalidate_rkey */
	upto = min(upto, n);
	i = answered < n ? answered : 0;
	*npsn = i;
	for (; i < upto; i++) {
		bool last = i == n - 1;

		t.opcode = mirror_op_nth(write ? MIRROR_OP_WRITE_FIRST :
						 MIRROR_OP_SEND_FIRST,
					 i, n, imm);
		if (inv)
			t.opcode = mirror_op_with_inv(t.opcode);
		t.opcode |= tr;
		t.psn = mirror_psn_add(psn, i);
		t.paylen = min(mtu, len - i * mtu);
		t.se = last && (wqe->send_flags & IB_SEND_SOLICITED) &&
		       (!write || imm);
		t.ackreq = rc && (last || i == upto - 1 ||
				  i % MIRROR_ACKREQ_EVERY ==
				  MIRROR_ACKREQ_EVERY - 1);
		if (t.paylen && mirror_sq_segs(qp, wqe, &qp->req.local,
						(u64)i * mtu, t.paylen, 0)) {
			mirror_segs_put(&qp->req.local);
			return -EFAULT;
		}
		err = mirror_qp_pkt_send(qp, &t);
		mirror_segs_put(&qp->req.local);
		if (err)
			return err;
		*npsn = i + 1;
	}
	return 0;
}

/*
 * The READs and atomics in flight the completer asks again for
 * (mirror_sq_ask_again()): each from its first missing response, with the
 * PSNs it had, nothing after it moved.
 */
static void mirror_wire_ask_again(struct mirror_qp *qp)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	u32 i;

	qp->req.ask_due = false;
	for (i = qp->req.sq_cons; i != qp->req.sq_next; i++) {
		struct mirror_sq_meta *m = mirror_sq_meta_of(qp, i);
		u32 n;

		if (!m->ask_due)
			continue;
		m->ask_due = false;
		if (m->done)
			continue;
		if (mirror_send_wqe(qp, mirror_sq_wqe(qp, i), m->len,
				    m->first_psn,
				    (m->next_resp - m->first_psn) &
				    MIRROR_PSN_MASK,
				    (m->next_send - m->first_psn) &
				    MIRROR_PSN_MASK, &n) == -ENOMEM) {
			/* Out of memory for a moment: try again soon. */
			m->ask_due = true;
			qp->req.ask_due = true;
			queue_delayed_work(dev->wq, &qp->req_work, 1);
			continue;
		}
		/* Another error means its memory went: the timer ends it. */
		m->asked = true;
		if (mirror_psn_cmp(m->next_send, m->next_resp) > 0)
			mirror_count_add(dev, MIRROR_CNT_RETRANS_PACKETS,
					 (m->next_send - m->next_resp) &
					 MIRROR_PSN_MASK);
	}
}

/*
 * More of the SEND, WRITE or READ @idx (the newest in flight) that the
 * window held back: what fits now, the oldest WQE one PSN at least. A
 * READ asks for its next part once every response it asked for came.
 * Return: true when all of it went (the next WQE may go).
 */
static bool mirror_wire_continue(struct mirror_qp *qp, u32 idx)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	struct mirror_sq_meta *m = mirror_sq_meta_of(qp, idx);
	u32 total = ((m->last_psn - m->first_psn) & MIRROR_PSN_MASK) + 1;
	u32 sent = (m->next_send - m->first_psn) & MIRROR_PSN_MASK;
	u32 room = qp->req.cwnd - min(mirror_sq_window_used(qp),
				      qp->req.cwnd);
	u32 upto, n;
	int err;

	if (m->kind == MIRROR_KIND_READ && m->next_resp != m->next_send)
		return false;	/* the part asked for is still coming */
	upto = sent + max_t(u32, min(room, total - sent),
			    idx == qp->req.sq_cons);
	if (upto <= sent)
		return false;	/* the window is full: ACKs reopen it */
	err = mirror_send_wqe(qp, mirror_sq_wqe(qp, idx), m->len, m->first_psn,
			      sent, upto, &n);
	if (n > sent)
		m->next_send = mirror_psn_add(m->first_psn, n);
	if (!timer_pending(&qp->req.retrans_timer))
		mirror_comp_arm_timer(qp);
	if (err == -ENOMEM) {
		queue_delayed_work(dev->wq, &qp->req_work, 1);
		return false;
	}
	if (err) {
		/* Its memory went away while it was being sent. */
		mirror_sq_done(qp, m, IB_WC_LOC_PROT_ERR, 0);
		return false;
	}
	return n >= total;
}

/**
 * mirror_wire_req_locked() - send what the window allows of an RC/UC QP
 *	connected over RoCEv2
 * @qp: the QP (req_lock held)
 * @qp_err: set when the QP must enter ERR (the caller records it)
 *
 * Run by the doorbell and req_work, and by rx_work after the completer
 * took a response (the window may have opened).
 */
void mirror_wire_req_locked(struct mirror_qp *qp, bool *qp_err)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;

	lockdep_assert_held(&qp->req_lock);
	if (test_and_clear_bit(0, &qp->req.retrans_due) && rc &&
	    qp->req.sq_cons != qp->req.sq_next && !qp->req.rnr_wait) {
		struct mirror_sq_meta *m = mirror_sq_meta_of(qp, qp->req.sq_cons);

		mirror_count(dev, MIRROR_CNT_RETRANS_TIMEOUT);
		if (!qp->req.retry_left) {
			mirror_sq_done(qp, m, IB_WC_RETRY_EXC_ERR, 0);
			mirror_comp_report(qp, qp_err);
			return;
		}
		qp->req.retry_left--;
		/*
		 * The peer is slow or the path lossy: the oldest message
		 * alone goes again, not the window (a slow peer answering
		 * every duplicate of each resent window never caught up:
		 * guest_interop_rxe on the debug kernel), and the next
		 * timeout waits longer.
		 */
		mirror_sq_congestion(qp, true);
		if (qp->req.rto_shift < MIRROR_RTO_MAX_SHIFT)
			qp->req.rto_shift++;
		mirror_sq_rewind(qp, qp->req.sq_cons);
	}

	/*
	 * What the completer finished leaves the window first: the window
	 * counts from the oldest WQE not reported, and a message that filled
	 * it alone, once answered, must not keep the next one back (nothing
	 * else would send it: no timer runs with nothing in flight).
	 */
	mirror_comp_report(qp, qp_err);
	if (*qp_err)
		return;
	if (qp->req.ask_due && rc && READ_ONCE(qp->state) == MIRROR_QPS_RTS)
		mirror_wire_ask_again(qp);

	while (READ_ONCE(qp->state) == MIRROR_QPS_RTS && !qp->req.rnr_wait) {
		u32 idx = qp->req.sq_next, n = 1, avail, total, start, room, upto;
		struct mirror_send_wqe *wqe;
		struct mirror_sq_meta *m;
		enum ib_wc_status status;
		bool fresh;
		int err;

		if (mirror_queue_avail(&qp->sq, qp->req.sq_cons, &avail)) {
			*qp_err = true;	/* user space broke its ring */
			break;
		}
		if (rc && idx != qp->req.sq_cons) {
			m = mirror_sq_meta_of(qp, idx - 1);
			/* A message sent in part goes on first. */
			if (!m->done && m->kind != MIRROR_KIND_ATOMIC &&
			    mirror_psn_cmp(m->next_send, m->last_psn) <= 0 &&
			    !mirror_wire_continue(qp, idx - 1))
				break;
		}
		if (idx - qp->req.sq_cons >= avail)
			break;
		m = mirror_sq_meta_of(qp, idx);
		if (rc && idx != qp->req.sq_fetched && m->resend && m->done &&
		    m->first_psn == qp->req.psn) {
			/*
			 * Answered while it waited to go again: step over it,
			 * and out of the window (as above).
			 */
			m->resend = false;
			m->next_send = mirror_psn_add(m->last_psn, 1);
			qp->req.psn = m->next_send;
			qp->req.sq_next++;
			mirror_comp_report(qp, qp_err);
			if (*qp_err)
				return;
			continue;
		}
		/* Cheap first: a full window needs no look at the WQE. */
		if (rc && idx != qp->req.sq_cons &&
		    mirror_sq_window_used(qp) >= qp->req.cwnd)
			break;
		fresh = idx == qp->req.sq_fetched;	/* never sent before */
		wqe = mirror_sq_fetch(qp, idx);
		if (mirror_is_local_op(wqe->opcode)) {
			/*
			 * REG_MR, LOCAL_INV: run once everything before them
			 * is reported (a fence of their own, never in flight,
			 * so no rewind meets them), then reported at once.
			 */
			m->resend = false;
			m->done = false;
			if (idx != qp->req.sq_cons) {
				/* UC WQEs are done once sent: report them. */
				mirror_comp_report(qp, qp_err);
				if (*qp_err || idx != qp->req.sq_cons)
					break;
			}
			status = mirror_sq_local_op(qp, wqe);
			m->kind = MIRROR_KIND_SEND;
			m->first_psn = qp->req.psn;
			m->next_resp = qp->req.psn;
			m->next_send = qp->req.psn;
			m->last_psn = mirror_psn_add(qp->req.psn, MIRROR_PSN_MASK);
			mirror_sq_done(qp, m, status, 0);
			qp->req.sq_next++;
			mirror_comp_report(qp, qp_err);
			if (*qp_err)
				return;
			continue;
		}
		if (fresh) {
			m->resend = false;
			m->rd_counted = false;
		}
		m->ask_due = false;
		m->asked = false;
		m->kind = mirror_sq_kind(wqe->opcode);
		if (m->kind != MIRROR_KIND_SEND &&
		    qp->req.rd_out >= max_t(u32, qp->attr.max_rd_atomic, 1))
			break;
		/* Sent before: it keeps what is known to have arrived. */
		if (!m->resend || m->first_psn != qp->req.psn)
			m->next_resp = qp->req.psn;
		m->done = false;
		m->first_psn = qp->req.psn;
		/* Checked (and its first chunk faulted in) at every send. */
		status = mirror_wqe_local(qp, wqe, &qp->req.local);
		m->len = qp->req.local.total;
		mirror_segs_put(&qp->req.local);
		if (status != IB_WC_SUCCESS) {
			m->resend = false;
			m->last_psn = qp->req.psn;
			m->next_send = qp->req.psn;	/* nothing went */
			m->kind = MIRROR_KIND_SEND;
			mirror_sq_done(qp, m, status, 0);
			qp->req.sq_next++;
			break;
		}
		total = m->kind == MIRROR_KIND_ATOMIC ? 1 :
			max(mirror_npkts(m->len, mirror_qp_mtu(qp)), 1U);
		start = (m->next_resp - m->first_psn) & MIRROR_PSN_MASK;
		if (start >= total)
			start = 0;
		/*
		 * The window holds the PSNs in flight: the packets and READ
		 * responses then fit the peer's and our receive queues. A
		 * SEND or WRITE sends what fits (the oldest WQE one packet at
		 * least) and the rest as ACKs open the window, a READ asks
		 * for the responses that fit and for the rest when they came
		 * (mirror_wire_continue()).
		 */
		room = rc ? qp->req.cwnd - min(mirror_sq_window_used(qp),
					       qp->req.cwnd) : U32_MAX;
		upto = m->kind != MIRROR_KIND_ATOMIC && rc ?
		       start + max_t(u32, min(room, total - start),
				     idx == qp->req.sq_cons) : total;
		if (!upto || upto <= start)
			break;	/* the window is full */
		if (m->kind != MIRROR_KIND_SEND) {
			m->rd_counted = true;
			qp->req.rd_out++;
		}
		err = mirror_send_wqe(qp, wqe, m->len, qp->req.psn, start,
				      upto, &n);
		if (err == -ENOMEM && (n <= start || !rc ||
				       m->kind != MIRROR_KIND_SEND)) {
			/* Nothing went: not in flight, try again soon. */
			if (m->rd_counted) {
				m->rd_counted = false;
				qp->req.rd_out--;
			}
			queue_delayed_work(dev->wq, &qp->req_work, 1);
			break;
		}
		m->resend = false;
		m->last_psn = mirror_psn_add(qp->req.psn, total - 1);
		m->next_send = mirror_psn_add(qp->req.psn, n);
		qp->req.psn = mirror_psn_add(qp->req.psn, total);
		qp->req.sq_next++;
		if (err == -ENOMEM) {
			/* Sent in part: the rest goes when memory is back. */
			queue_delayed_work(dev->wq, &qp->req_work, 1);
		} else if (err) {
			/* Its memory went away while it was being sent. */
			m->kind = MIRROR_KIND_SEND;
			mirror_sq_done(qp, m, IB_WC_LOC_PROT_ERR, 0);
			break;
		}
		if (!rc)
			mirror_sq_done(qp, m, IB_WC_SUCCESS, 0);
		else if (!timer_pending(&qp->req.retrans_timer))
			mirror_comp_arm_timer(qp);
		if (err || n < total)
			break;	/* the rest of it first, nothing after it */
		cond_resched();
	}
	mirror_comp_report(qp, qp_err);
}

/*
 * mirror_wire_requester() - send what is posted on an RC/UC QP whose
 *	peer is reached over RoCEv2
 * @qp: the QP
 */
static void mirror_wire_requester(struct mirror_qp *qp)
{
	bool qp_err = false;

	mutex_lock(&qp->req_lock);
	mirror_wire_req_locked(qp, &qp_err);
	if (qp_err)
		mirror_qp_err_due(qp);
	mutex_unlock(&qp->req_lock);
	if (qp_err)
		mirror_qp_enter_err(qp);
}

/*
 * mirror_wire_send_ud() - send a UD WQE over RoCEv2
 * @qp: the UD (or GSI) QP; req_lock held, qp->req.local resolved
 * @wqe: the kernel's copy of the WQE
 * @av: the AH's address vector
 * @dqpn: destination QP
 * @qkey: the Q_Key to send with
 *
 * Return: 0, or a negative errno (UD losses are not reported to the WQE).
 */
static int mirror_wire_send_ud(struct mirror_qp *qp,
			       struct mirror_send_wqe *wqe,
			       const struct rdma_ah_attr *av, u32 dqpn,
			       u32 qkey)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);
	bool imm = wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM;
	struct mirror_path path;
	struct mirror_pkt t = {
		.opcode = MIRROR_TR_UD | mirror_op_nth(MIRROR_OP_SEND_FIRST,
						       0, 1, imm),
		.se = wqe->send_flags & IB_SEND_SOLICITED,
		.dqpn = dqpn,
		.qkey = qkey,
		.sqpn = qp->ibqp.qp_num,
		.imm = (__force __be32)wqe->imm_data,
		.src = &qp->req.local,
		.paylen = qp->req.local.total,
	};
	int err;

	err = mirror_path_from_av(dev, av, qp->ibqp.qp_num, dqpn, &path);
	if (err)
		return err;
	t.psn = qp->req.psn;
	qp->req.psn = mirror_psn_add(qp->req.psn, 1);
	return mirror_pkt_send(dev, &t, &path, NULL);
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
 * Resolves a READ's remote range at the destination into qp->req.remote
 * (mirror_resp_target(): the responder's checks). Return: 0, -EACCES when
 * they refuse it, or -EAGAIN when the chunk from c->progress is not
 * mirrored (c->dfault_* say what DEST_FAULT is to fault).
 */
static int mirror_read_remote(struct mirror_req_ctx *c, u64 len)
{
	struct mirror_qp *qp = c->qp;
	u64 miss;

	if (mirror_resp_target(c->dest, &qp->req.remote,
			       c->wqe->wr.rdma.remote_addr,
			       c->wqe->wr.rdma.rkey, len,
			       IB_ACCESS_REMOTE_READ) != MIRROR_RESP_DONE)
		return -EACCES;
	/* What comes next must be there: a missing page is DEST_FAULT's. */
	if (!mirror_segs_present(&qp->req.remote, c->progress,
				 min_t(u64, len - c->progress,
				       MIRROR_FAULT_CHUNK), false, &miss)) {
		mirror_dest_missed(c, &qp->req.remote, miss, false);
		return -EAGAIN;
	}
	return 0;
}

/*
 * The destination refused the request (@v, a NAK verdict): RC completes the
 * requester's WQE with the status the completer gives that NAK on the wire
 * and the destination QP enters ERR, as a RoCEv2 responder does after a
 * NAK; UC loses the message.
 */
static enum mirror_step mirror_req_refused(struct mirror_req_ctx *c,
					   enum mirror_resp_verdict v)
{
	if (c->qp->ibqp.qp_type == IB_QPT_RC) {
		c->status = mirror_nak_status(mirror_resp_nak_code(v));
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
 * buffer before the destination was locked (qp->req.local names it), so
 * nothing here faults our memory: a receive, once taken, is filled in one
 * step.
 */
static enum mirror_step mirror_exec_send_ud(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	struct mirror_segs *segs = &qp->req.remote;
	bool imm = c->wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM;
	struct mirror_pkt d = {
		.op = imm ? MIRROR_OP_SEND_ONLY_IMM : MIRROR_OP_SEND_ONLY,
		.se = c->wqe->send_flags & IB_SEND_SOLICITED,
		.qkey = c->qkey,
		.sqpn = qp->ibqp.qp_num,
		.imm = (__force __be32)c->wqe->imm_data,
		.has_imm = imm,
		.src = &qp->req.local,
		.paylen = qp->req.local.total,
	};
	u8 grh[MIRROR_GRH_BYTES];
	enum mirror_resp_verdict v;
	enum mirror_step step;
	u8 net;

	net = mirror_resp_build_grh(c, grh, d.paylen);
	v = mirror_resp_ud(c->dest, segs, &d, grh, net, c->dfault_failed);
	if (v == MIRROR_RESP_STOPPED) {
		/*
		 * The receive's memory is not mirrored: it stays held for
		 * this datagram (or the next), and DEST_FAULT has it faulted
		 * in; should that take longer than a moment, the datagram is
		 * lost, as UD allows. Memory that cannot be had never gets
		 * here: with c->dfault_failed the receive completes in error.
		 */
		step = mirror_dest_missed(c, segs, segs->miss, true);
		mirror_segs_put(segs);
		return step;
	}
	/* A bad receive: the receiver's problem, not the sender's. */
	if (v != MIRROR_RESP_DONE)
		c->dest_err = true;
	return MIRROR_STEP_DONE;
}

/*
 * The rest of the WQE's message as one request for the destination's
 * responder: an ONLY (@only) when nothing of it is there yet, else a LAST
 * (@last) from where the destination got to, which it keeps (resp.off);
 * binding makes us its only sender. False when the message has begun but
 * the destination no longer holds it in @msg state (it was reset): the
 * step is refused as a LAST without its FIRST is on the wire.
 */
static bool mirror_exec_request(struct mirror_req_ctx *c,
				enum mirror_resp_msg msg, u8 only, u8 last,
				struct mirror_pkt *d)
{
	struct mirror_send_wqe *wqe = c->wqe;
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	u64 len = qp->req.local.total;
	u64 from = 0;

	if (qp->req.dmsg_begun) {
		if (dest->resp.msg != msg || dest->resp.off > len)
			return false;
		from = dest->resp.off;
	}
	c->progress = from;
	*d = (struct mirror_pkt) {
		.op = qp->req.dmsg_begun ? last : only,
		.se = wqe->send_flags & IB_SEND_SOLICITED,
		.imm = (__force __be32)wqe->imm_data,
		.has_imm = wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM ||
			   wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM,
		.inv_rkey = wqe->imm_data,
		.has_inv = wqe->opcode == IB_UVERBS_WR_SEND_WITH_INV,
		.va = wqe->wr.rdma.remote_addr,
		.rkey = wqe->wr.rdma.rkey,
		.dma_len = len,
		.src = &qp->req.local,
		.src_off = from,
		.paylen = len - from,
	};
	return true;
}

/*
 * What the destination's verdict on a SEND or a WRITE makes of the step.
 * A refusal that completed a receive in error (all but a refused range
 * of a UC WRITE) also moves the destination to ERR, as its completion
 * of that receive says.
 */
static enum mirror_step mirror_exec_verdict(struct mirror_req_ctx *c,
					    enum mirror_resp_verdict v)
{
	struct mirror_qp *qp = c->qp;
	bool rc = qp->ibqp.qp_type == IB_QPT_RC;

	switch (v) {
	case MIRROR_RESP_DONE:
		return MIRROR_STEP_DONE;
	case MIRROR_RESP_RNR:		/* RC: RNR; UC: the message is lost */
		return rc ? MIRROR_STEP_RNR : MIRROR_STEP_DONE;
	case MIRROR_RESP_STOPPED:
		qp->req.dmsg_begun = true;
		return mirror_req_copy_stopped(c, &qp->req.remote, true,
					       c->dest->resp.off - c->progress);
	default:
		if (rc || v != MIRROR_RESP_NAK_ACCESS)
			c->dest_err = true;
		return mirror_req_refused(c, v);
	}
}

/*
 * An RC/UC SEND or RDMA WRITE (@write), with or without immediate,
 * through the responder both paths share (mirror_resp_send(),
 * mirror_resp_write()): the receive or range it fills and how far it got
 * are the destination's, so a step that stopped at a missing page resumes
 * there.
 */
static enum mirror_step mirror_exec_message(struct mirror_req_ctx *c,
					    bool write)
{
	struct mirror_qp *qp = c->qp, *dest = c->dest;
	enum mirror_resp_verdict v;
	bool imm = c->wqe->opcode == IB_UVERBS_WR_SEND_WITH_IMM ||
		   c->wqe->opcode == IB_UVERBS_WR_RDMA_WRITE_WITH_IMM;
	struct mirror_pkt d;
	u8 only, last;

	if (write) {
		only = imm ? MIRROR_OP_WRITE_ONLY_IMM : MIRROR_OP_WRITE_ONLY;
		last = imm ? MIRROR_OP_WRITE_LAST_IMM : MIRROR_OP_WRITE_LAST;
	} else {
		only = imm ? MIRROR_OP_SEND_ONLY_IMM : MIRROR_OP_SEND_ONLY;
		last = imm ? MIRROR_OP_SEND_LAST_IMM : MIRROR_OP_SEND_LAST;
		if (c->wqe->opcode == IB_UVERBS_WR_SEND_WITH_INV) {
			only = MIRROR_OP_SEND_ONLY_INV;
			last = MIRROR_OP_SEND_LAST_INV;
		}
	}
	if (!mirror_exec_request(c, write ? MIRROR_RESP_WRITE :
					    MIRROR_RESP_SEND,
				 only, last, &d))
		return mirror_exec_verdict(c, MIRROR_RESP_NAK_INVALID);
	if (write)
		v = mirror_resp_write(dest, &qp->req.remote, &d,
				      qp->ibqp.qp_num, c->dfault_failed);
	else
		v = mirror_resp_send(dest, &qp->req.remote, &d,
				     qp->ibqp.qp_num, c->dfault_failed);
	return mirror_exec_verdict(c, v);
}

/*
 * RDMA READ: the remote range, checked by the responder's rules
 * (mirror_resp_target()), lands in the local (writable) buffers. A READ
 * changes nothing at the destination, so it has no state there: a step
 * that stopped at a missing page resumes at c->progress.
 */
static enum mirror_step mirror_exec_read(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	u64 len = qp->req.local.total, done = 0;
	int err;

	if (!mirror_resp_res_count(c->dest))
		return mirror_req_refused(c, MIRROR_RESP_NAK_INVALID);
	if (c->dfault_failed)	/* its ODP memory cannot be had */
		return mirror_req_refused(c, MIRROR_RESP_NAK_ACCESS);
	err = mirror_read_remote(c, len);
	if (err == -EAGAIN)
		return MIRROR_STEP_DEST_FAULT;
	if (err)
		return mirror_req_refused(c, MIRROR_RESP_NAK_ACCESS);
	err = mirror_segs_copy(&qp->req.local, c->progress, &qp->req.remote,
			       c->progress, len - c->progress, &done);
	if (err == -EAGAIN)
		return mirror_req_copy_stopped(c, &qp->req.remote, false, done);
	if (err)
		return mirror_req_refused(c, MIRROR_RESP_NAK_ACCESS);
	c->progress = len;
	c->byte_len = len;
	return MIRROR_STEP_DONE;
}

/* ATOMIC WRITE: the WQE's 8 bytes stored at once at the destination. */
static enum mirror_step mirror_exec_atomic_write(struct mirror_req_ctx *c)
{
	struct mirror_send_wqe *wqe = c->wqe;
	enum mirror_resp_verdict v;

	if (c->dfault_failed)	/* its ODP memory cannot be had */
		return mirror_req_refused(c, MIRROR_RESP_NAK_ACCESS);
	v = mirror_resp_atomic_write(c->dest, &c->qp->req.remote,
				     wqe->wr.atomic.remote_addr,
				     wqe->wr.atomic.rkey,
				     wqe->wr.atomic.compare_add);
	if (v == MIRROR_RESP_STOPPED)	/* not mirrored (any more) */
		return mirror_dest_missed(c, &c->qp->req.remote, 0, true);
	if (v != MIRROR_RESP_DONE)
		return mirror_req_refused(c, v);
	return MIRROR_STEP_DONE;
}

/* FLUSH: checked at the destination (mirror_resp_flush()), nothing moves. */
static enum mirror_step mirror_exec_flush(struct mirror_req_ctx *c)
{
	struct mirror_send_wqe *wqe = c->wqe;
	enum mirror_resp_verdict v;

	v = mirror_resp_flush(c->dest, wqe->wr.flush.remote_addr,
			      wqe->wr.flush.rkey, wqe->wr.flush.length,
			      mirror_wqe_feth(wqe));
	if (v != MIRROR_RESP_DONE)
		return mirror_req_refused(c, v);
	return MIRROR_STEP_DONE;
}

/*
 * Compare-and-swap or fetch-and-add on 8 aligned bytes at the destination.
 * The value found there is kept in c->orig and written to the local buffer
 * after the destination is released (mirror_req_one()).
 */
static enum mirror_step mirror_exec_atomic(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	struct mirror_send_wqe *wqe = c->wqe;
	bool cmp_swap = wqe->opcode == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP;
	struct mirror_pkt d = {
		.op = cmp_swap ? MIRROR_OP_CMP_SWAP : MIRROR_OP_FETCH_ADD,
		.va = wqe->wr.atomic.remote_addr,
		.rkey = wqe->wr.atomic.rkey,
		.compare = cmp_swap ? wqe->wr.atomic.compare_add : 0,
		.swap_add = cmp_swap ? wqe->wr.atomic.swap :
				       wqe->wr.atomic.compare_add,
	};
	enum mirror_resp_verdict v;

	if (c->dfault_failed)	/* its ODP memory cannot be had */
		return mirror_req_refused(c, MIRROR_RESP_NAK_ACCESS);
	v = mirror_resp_atomic(c->dest, &qp->req.remote, &d, &c->orig);
	if (v == MIRROR_RESP_STOPPED)	/* not mirrored (any more) */
		return mirror_dest_missed(c, &qp->req.remote, 0, true);
	if (v != MIRROR_RESP_DONE)
		return mirror_req_refused(c, v);
	c->have_orig = true;
	return MIRROR_STEP_DONE;
}

/* ---------------------------------------------------------------------- */
/* Requester states */

/* LOCAL: the opcode fits the QP and the local buffers are ours. */
static enum mirror_req_state mirror_req_local(struct mirror_req_ctx *c)
{
	struct mirror_qp *qp = c->qp;
	int err;

	if (mirror_is_local_op(c->wqe->opcode)) {
		c->status = mirror_sq_local_op(qp, c->wqe);
		return MIRROR_REQ_COMPLETE;
	}
	c->status = mirror_wqe_local(qp, c->wqe, &qp->req.local);
	if (c->status != IB_WC_SUCCESS)
		return MIRROR_REQ_COMPLETE;
	if (mirror_type_is_ud(qp->ibqp.qp_type)) {
		/*
		 * A datagram is at most an MTU: copy it out of our memory now,
		 * faulting as needed, so that no fault of ours happens while
		 * a destination (which any sender may reach) is held.
		 */
		u32 len = qp->req.local.total;

		err = mirror_segs_xfer(&qp->req.local, 0, qp->req.ud_bounce, len,
				       false);
		if (err) {
			c->status = IB_WC_LOC_PROT_ERR;
			return MIRROR_REQ_COMPLETE;
		}
		mirror_segs_put(&qp->req.local);
		mirror_segs_add_kbuf(&qp->req.local, qp->req.ud_bounce, len, false);
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
		/* Decided at RTR: RC/UC peers elsewhere go by packets. */
		c->dgid = qp->peer.gid;
		c->dqpn = qp->peer.qpn;
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
	if (dest->peer.wire) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_WRONG_PATH);
		return false;
	}
	if (dest->peer.qpn != qp->ibqp.qp_num ||
	    memcmp(&dest->peer.gid, &qp->peer.own_gid, sizeof(qp->peer.own_gid))) {
		mirror_count(dev, MIRROR_CNT_RX_DROP_BAD_SRC);
		return false;
	}
	if (type == IB_QPT_RC && dest->resp.epsn != qp->req.psn) {
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
	return mirror_npkts(c->qp->req.local.total, mirror_qp_mtu(c->qp));
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
	qp->req.local.nofault = true;
	qp->req.remote.nofault = true;
	mutex_lock(&dest->resp_lock);
	if (!mirror_req_accepted(c)) {
		mutex_unlock(&dest->resp_lock);
		qp->req.local.nofault = false;
		qp->req.remote.nofault = false;
		if (type == IB_QPT_RC)
			c->status = IB_WC_RETRY_EXC_ERR;
		return MIRROR_REQ_COMPLETE;
	}
	switch (c->wqe->opcode) {
	case IB_UVERBS_WR_SEND:
	case IB_UVERBS_WR_SEND_WITH_IMM:
	case IB_UVERBS_WR_SEND_WITH_INV:
		step = mirror_type_is_ud(type) ? mirror_exec_send_ud(c) :
						 mirror_exec_message(c, false);
		break;
	case IB_UVERBS_WR_RDMA_WRITE:
	case IB_UVERBS_WR_RDMA_WRITE_WITH_IMM:
		step = mirror_exec_message(c, true);
		break;
	case IB_UVERBS_WR_RDMA_READ:
		step = mirror_exec_read(c);
		break;
	case IB_UVERBS_WR_ATOMIC_CMP_AND_SWP:
	case IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD:
		step = mirror_exec_atomic(c);
		break;
	case MIRROR_WR_ATOMIC_WRITE:
		step = mirror_exec_atomic_write(c);
		break;
	case MIRROR_WR_FLUSH:
		step = mirror_exec_flush(c);
		break;
	}
	mirror_segs_put(&qp->req.remote);
	if (step == MIRROR_STEP_DONE && !mirror_type_is_ud(type)) {
		/* As many PSNs as the message takes on the wire. */
		n = mirror_req_npsn(c);
		qp->req.psn = mirror_psn_add(qp->req.psn, n);
		dest->resp.epsn = qp->req.psn;
	}
	timer = READ_ONCE(dest->attr.min_rnr_timer) & 31;
	if (c->dest_err)
		mirror_qp_err_due(dest);
	mutex_unlock(&dest->resp_lock);
	qp->req.local.nofault = false;
	qp->req.remote.nofault = false;

	switch (step) {
	case MIRROR_STEP_RNR:
		/*
		 * Counted as the two ends of a wire pair would count it: the
		 * responder's RNR NAK, and the requester's receipt of it.
		 */
		mirror_count(to_mirror_dev(qp->ibqp.device),
			     MIRROR_CNT_RNR_NAK_SENT);
		mirror_count(to_mirror_dev(qp->ibqp.device),
			     MIRROR_CNT_RNR_NAK_RCVD);
		c->rnr_timer = timer;
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
	struct mirror_fault_job *job = qp->req.dfault_job;
	bool fresh = false;
	long left;
	int err;

	mirror_qp_put(c->dest);
	c->dest = NULL;
	if (c->dfault_failed || ++c->faults > MIRROR_REQ_FAULT_ROUNDS) {
		/* Nothing more is faulted: drop what the step named. */
		if (c->dfault_mr) {
			mirror_mr_put(c->dfault_mr);
			c->dfault_mr = NULL;
		}
		/*
		 * The step was told its memory cannot be had and stopped at
		 * it all the same: going round again would never end.
		 */
		if (c->dfault_told) {
			c->status = IB_WC_GENERAL_ERR;
			return MIRROR_REQ_COMPLETE;
		}
		/* Once more, deciding under the destination's lock. */
		c->dfault_failed = true;
		c->dfault_told = true;
		return MIRROR_REQ_ROUTE;
	}
	if (mirror_fault_job_busy(job)) {
		/* The last one still runs: wait for it, start no other. */
		mirror_mr_put(c->dfault_mr);
		c->dfault_mr = NULL;
	} else {
		mirror_fault_job_put(job);
		job = mirror_fault_job_start(c);
		qp->req.dfault_job = job;
		fresh = true;
		if (!job)
			return MIRROR_REQ_DEST_WAIT;
	}
	/*
	 * Killable: a poster being killed stops waiting here (its system
	 * call ends), whatever the destination's memory does.
	 */
	left = wait_for_completion_killable_timeout(&job->done,
						    mirror_req_dest_wait_jiffies(qp));
	if (left <= 0) {
		/* Its memory takes its time: do not wait for it here. */
		atomic_set(&job->kick, 1);
		return MIRROR_REQ_DEST_WAIT;
	}
	err = job->err;
	mirror_fault_job_put(job);
	qp->req.dfault_job = NULL;
	/* An older job's result says nothing of this range: look again. */
	if (err && fresh) {
		c->dfault_failed = true;
		c->dfault_told = true;
	}
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
	mirror_fault_job_put(qp->req.dfault_job);
	qp->req.dfault_job = NULL;
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
	if (qp->req.dfault_left == MIRROR_RNR_NOT_STARTED)
		qp->req.dfault_left = READ_ONCE(qp->attr.retry_cnt);
	if (READ_ONCE(qp->attr.timeout)) {
		if (!qp->req.dfault_left) {
			c->status = IB_WC_RETRY_EXC_ERR;
			return false;
		}
		qp->req.dfault_left--;
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
	    mirror_segs_fault(&qp->req.local, qp->req.local.miss,
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

	if (qp->req.rnr_left == MIRROR_RNR_NOT_STARTED)
		qp->req.rnr_left = retry;
	if (retry != 7) {	/* 7 means retry forever */
		if (!qp->req.rnr_left) {
			c->status = IB_WC_RNR_RETRY_EXC_ERR;
			return false;
		}
		qp->req.rnr_left--;
	}
	mirror_qp_rnr_wait(qp, c->rnr_timer);
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
		if (mirror_segs_xfer(&c->qp->req.local, 0, &c->orig,
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

	/*
	 * An RNR wait ends when its timer queues this work, not when
	 * something else does (a kernel consumer's post, the retransmission
	 * timer): the timer queues it again.
	 */
	mutex_lock(&qp->req_lock);
	if (mirror_qp_rnr_waiting(qp)) {
		mutex_unlock(&qp->req_lock);
		return;
	}
	qp->req.rnr_wait = false;
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
	if (qp->peer.wire) {
		mirror_wire_requester(qp);
		return;
	}
	mutex_lock(&qp->req_lock);
	/* A doorbell that raced with an RNR wait's start leaves it alone. */
	while (READ_ONCE(qp->state) == MIRROR_QPS_RTS &&
	       !mirror_qp_rnr_waiting(qp)) {
		struct mirror_req_ctx c = {
			.qp = qp,
			.status = IB_WC_SUCCESS,
		};
		struct mirror_cqe cqe = {};
		bool done, signaled;
		u32 avail;

		if (mirror_queue_avail(&qp->sq, qp->req.sq_cons, &avail)) {
			qp_err = true;	/* user space broke its ring */
			break;
		}
		if (!avail)
			break;
		c.wqe = mirror_sq_fetch(qp, qp->req.sq_cons);
		done = mirror_req_one(&c);
		mirror_segs_put(&qp->req.local);
		mirror_segs_put(&qp->req.remote);
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

		qp->req.rnr_left = MIRROR_RNR_NOT_STARTED;
		qp->req.dfault_left = MIRROR_RNR_NOT_STARTED;
		qp->req.dmsg_begun = false;
		signaled = c.status != IB_WC_SUCCESS || qp->sq_sig_all ||
			   (c.wqe->send_flags & IB_SEND_SIGNALED);
		if (signaled) {
			cqe.wr_id = c.wqe->wr_id;
			cqe.status = c.status;
			cqe.opcode = mirror_wc_opcode(c.wqe->opcode);
			cqe.byte_len = c.byte_len;
			cqe.qp_num = qp->ibqp.qp_num;
		}
		mirror_sq_consume(qp);
		qp->req.sq_next = qp->req.sq_cons;	/* nothing is ever in flight */
		if (signaled)
			mirror_complete(qp, false, &cqe, false);
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
