/* SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB */
/*
 * mirror_testlib.h - what the test programs share (libmirror_testlib.a):
 * opening a device and finding its RoCEv2 GID, counters, the time scale
 * of the guest, one set of QP parameters and the connect that uses them,
 * and waiting for completions.
 *
 * Every suite connects its QPs through mirror_test_connect() with
 * mirror_test_qp_defaults() (changed only where a case is about a
 * parameter), so that one place says which timeouts, MTU and retry counts
 * the suites run with, on both paths: same device and RoCEv2.
 */
#ifndef MIRROR_TESTLIB_H
#define MIRROR_TESTLIB_H

#include <infiniband/verbs.h>
#include <stdint.h>

/* The device called @name, opened; NULL if there is none. */
struct ibv_context *mirror_test_open(const char *name);

/*
 * @c's RoCEv2 GID of IPv4 address @ip, or its first IPv4 RoCEv2 GID when
 * @ip is NULL: index into @idx, GID into @gid. 0, or -1 if there is none.
 */
int mirror_test_ipv4_gid(struct ibv_context *c, const char *ip, int *idx,
			 union ibv_gid *gid);

/*
 * @c's first RoCEv2 GID that is an IPv6 address (not IPv4-mapped): index
 * into @idx, GID into @gid. ib_core's default GID, the netdev's EUI-64
 * link-local address, is one on every RoCE device. 0, or -1 if none.
 */
int mirror_test_ipv6_gid(struct ibv_context *c, int *idx, union ibv_gid *gid);

/*
 * Port 1's hardware counter @name of device @dev (sysfs), counting all
 * that was done before the call (it waits out ib_core's cached copy: 15 ms
 * and more); -1 if unread.
 */
long long mirror_test_counter(const char *dev, const char *name);

/*
 * How much slower than Debian's kernel this guest is: MIRROR_TIME_SCALE,
 * set by the harness (4 on the debug kernel), 1 when unset or nonsense.
 */
int mirror_test_time_scale(void);

/*
 * The RC ACK timeout attribute (4.096 us << t) for a test that means
 * 4.096 us << @base on Debian's kernel: one step longer for each doubling
 * of the time scale, so that a slow guest's late ACK is not taken for a
 * lost one, while a really lost packet still costs a bounded wait.
 */
uint8_t mirror_test_ack_timeout(uint8_t base);

/*
 * Polls @cq for one completion for up to @ms milliseconds (stretched by
 * the time scale). 0 with *wc filled, -1 when none came (or poll failed).
 */
int mirror_test_wait_wc(struct ibv_cq *cq, struct ibv_wc *wc, int ms);

/* How a QP is connected: the attributes of INIT, RTR and RTS. */
struct mirror_test_qp_params {
	int access;		/* qp_access_flags (RC, UC) */
	uint32_t qkey;		/* UD */
	enum ibv_mtu mtu;
	uint32_t psn;		/* sq_psn of ours and rq_psn of the peer's */
	uint8_t rd_atomic;	/* max_rd_atomic and max_dest_rd_atomic */
	uint8_t min_rnr_timer;
	uint8_t timeout;	/* already scaled */
	uint8_t retry_cnt;
	uint8_t rnr_retry;
};

/*
 * The suites' QP parameters: every remote access (UC: WRITE only), Q_Key
 * 0x1234, MTU 1024, 4 READs/atomics each way, RNR timer code 1 (10 us),
 * ACK timeout 67 ms scaled by the time scale, 7 retries, RNR retries
 * forever (7).
 */
struct mirror_test_qp_params mirror_test_qp_defaults(enum ibv_qp_type type);

/*
 * Moves @qp through INIT, RTR and RTS: connected to QP @dest_qpn at @av
 * (RC, UC; UD ignores both). Return: 0, or -1 with errno.
 */
int mirror_test_connect(struct ibv_qp *qp, uint32_t dest_qpn,
			const struct ibv_ah_attr *av,
			const struct mirror_test_qp_params *p);

/* An address vector through source GID @sgid_index to @dgid. */
struct ibv_ah_attr mirror_test_av(const union ibv_gid *dgid, int sgid_index);

#endif /* MIRROR_TESTLIB_H */
