// SPDX-License-Identifier: GPL-2.0
/*
 * mirror_net.c - RoCEv2 over UDP: the device's UDP tunnel socket, packet
 * transmission, the invariant CRC, and the receive path.
 *
 * The receive path runs in softirq and only validates and queues: a
 * unicast destination that is one of our addresses, length, BTH version
 * and opcode, ICRC, a known destination QP of the right type in a state
 * that accepts packets, and for RC/UC a QP connected over the wire to the
 * packet's source. Everything that touches memory happens later in the
 * QP's rx_work (process context), because ODP memory may have to be
 * faulted in. The queues are bounded (mirror_rx_enqueue()).
 *
 * Each device has its own socket, in its netdev's network namespace and
 * bound to that netdev, so two mirror devices (or one per namespace) can
 * listen on 4791 side by side. A socket bound to no device on 4791 in the
 * same namespace (rdma_rxe's) leaves no room for ours: the device then
 * serves same-device traffic only and says so once at link add.
 */
#include <linux/crc32.h>
#include <linux/inetdevice.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <net/ip.h>
#include <net/addrconf.h>
#include <net/ip6_route.h>
#include <net/ipv6.h>
#include <net/route.h>
#include <net/udp_tunnel.h>
#include <crypto/hash.h>

#include "mirror.h"

/*
 * CRC-32 (IEEE 802.3) through the crypto API's "crc32": the kernel picks
 * its fastest driver for the CPU (crc32-pclmul on x86 with PCLMULQDQ).
 * Before 6.14, lib/crc32.c's crc32_le() has no arch version on x86 and
 * runs a table per byte, several times slower on a real host; rdma_rxe
 * uses the crypto API for that reason. The key is the initial value,
 * ~0; the digest is the register, uninverted, little endian. Set once at
 * load and only read after, by every device. NULL when the kernel has no
 * "crc32" (CONFIG_CRYPTO_CRC32 off): crc32_le() then.
 */
static struct crypto_shash *mirror_crc_tfm;

/**
 * mirror_net_init() - choose the CRC-32 implementation of the ICRC
 *
 * Called once at module load, in process context (it may load a module).
 */
void mirror_net_init(void)
{
	static const u8 key[4] = { 0xff, 0xff, 0xff, 0xff };
	struct crypto_shash *tfm;

	tfm = crypto_alloc_shash("crc32", 0, 0);
	if (IS_ERR(tfm)) {
		pr_info("rdma_mirror: no crc32 in the crypto API (%ld), ICRC by crc32_le\n",
			PTR_ERR(tfm));
		return;
	}
	if (crypto_shash_digestsize(tfm) != 4 ||
	    crypto_shash_setkey(tfm, key, sizeof(key))) {
		pr_info("rdma_mirror: %s does not take an initial value, ICRC by crc32_le\n",
			crypto_shash_driver_name(tfm));
		crypto_free_shash(tfm);
		return;
	}
	mirror_crc_tfm = tfm;
	pr_info("rdma_mirror: ICRC by %s\n", crypto_shash_driver_name(tfm));
}

/**
 * mirror_net_exit() - release what mirror_net_init() took
 *
 * Called at module unload, once no device is left.
 */
void mirror_net_exit(void)
{
	crypto_free_shash(mirror_crc_tfm);	/* NULL-safe */
	mirror_crc_tfm = NULL;
}

/* The inverted CRC-32 of @a then @b, as the ICRC wants it. */
static u32 mirror_crc32(const u8 *a, u32 alen, const u8 *b, u32 blen)
{
	if (mirror_crc_tfm) {
		SHASH_DESC_ON_STACK(desc, mirror_crc_tfm);
		__le32 out;

		desc->tfm = mirror_crc_tfm;
		/* A CRC driver cannot fail these; crc32_le() if one did. */
		if (!crypto_shash_init(desc) &&
		    !crypto_shash_update(desc, a, alen) &&
		    !crypto_shash_finup(desc, b, blen, (u8 *)&out))
			return ~le32_to_cpu(out);
	}
	return ~crc32_le(crc32_le(~0U, a, alen), b, blen);
}

/*
 * The ICRC of a RoCEv2 packet (IBA annex A17.4.5.1): CRC-32 over eight
 * 0xff bytes standing for the absent LRH, the IP and UDP headers with the
 * fields routers may change set to ones (IPv4: TOS, TTL, checksum; IPv6:
 * traffic class, flow label, hop limit; the UDP checksum), the BTH with its
 * reserved byte before the QPN set to ones, then everything after the BTH
 * up to the ICRC. @nh is the IPv4 or IPv6 header (by @v6). The masked
 * headers are gathered in one buffer, so the CRC runs in two pieces.
 */
static u32 mirror_icrc(const void *nh, bool v6, const struct udphdr *udph,
		       const u8 *bth, u32 bth_to_icrc)
{
	u8 pseudo[8 + sizeof(struct ipv6hdr) + sizeof(struct udphdr) +
		  sizeof(struct mirror_bth)];
	struct udphdr udp = *udph;
	u32 n = 8;

	memset(pseudo, 0xff, n);
	if (v6) {
		struct ipv6hdr ip = *(const struct ipv6hdr *)nh;

		ip.priority = 0xf;
		memset(ip.flow_lbl, 0xff, sizeof(ip.flow_lbl));
		ip.hop_limit = 0xff;
		memcpy(pseudo + n, &ip, sizeof(ip));
		n += sizeof(ip);
	} else {
		struct iphdr ip = *(const struct iphdr *)nh;

		ip.tos = 0xff;
		ip.ttl = 0xff;
		ip.check = (__force __sum16)htons(0xffff);
		memcpy(pseudo + n, &ip, sizeof(ip));
		n += sizeof(ip);
	}
	udp.check = (__force __sum16)htons(0xffff);
	memcpy(pseudo + n, &udp, sizeof(udp));
	n += sizeof(udp);
	memcpy(pseudo + n, bth, sizeof(struct mirror_bth));
	pseudo[n + offsetof(struct mirror_bth, qpn)] = 0xff;
	n += sizeof(struct mirror_bth);

	return mirror_crc32(pseudo, n, bth + sizeof(struct mirror_bth),
			    bth_to_icrc - sizeof(struct mirror_bth));
}

/**
 * mirror_pkt_alloc() - an skb with room for headers and @len bytes
 * @dev: the device
 * @len: BTH to ICRC, included
 *
 * Return: the skb with its data at the BTH's place (empty), or NULL.
 */
struct sk_buff *mirror_pkt_alloc(struct mirror_dev *dev, u32 len)
{
	u32 head = LL_RESERVED_SPACE(dev->ndev) + sizeof(struct ipv6hdr) +
		   sizeof(struct udphdr);
	struct sk_buff *skb;

	if (mirror_fail_alloc())
		return NULL;
	skb = alloc_skb(head + len + dev->ndev->needed_tailroom, GFP_KERNEL);
	if (!skb)
		return NULL;
	skb_reserve(skb, head);
	return skb;
}

/* Pushes the UDP header in front of the BTH. */
static struct udphdr *mirror_push_udp(struct sk_buff *skb,
				      const struct mirror_path *path)
{
	struct udphdr *udph;

	skb_push(skb, sizeof(*udph));
	skb_reset_transport_header(skb);
	udph = udp_hdr(skb);
	udph->source = path->sport;
	udph->dest = htons(MIRROR_ROCE_UDP_PORT);
	udph->len = htons(skb->len);
	udph->check = 0;	/* zero, as RoCEv2 allows (IPv6 too) */
	return udph;
}

/*
 * The route of @path: from @routes when it holds one still valid, else
 * looked up (and kept in @routes, when there is one). A dst_cache is per
 * CPU and wants bottom halves off around its use.
 */
static struct rtable *mirror_route4(struct net *net, struct mirror_dev *dev,
				    const struct mirror_path *path,
				    struct dst_cache *routes)
{
	struct flowi4 fl = {};
	struct rtable *rt;
	__be32 saddr;

	if (routes) {
		local_bh_disable();
		rt = dst_cache_get_ip4(routes, &saddr);
		local_bh_enable();
		if (rt)
			return rt;
	}
	fl.flowi4_oif = dev->ndev->ifindex;
	fl.flowi4_proto = IPPROTO_UDP;
	fl.daddr = path->daddr;
	fl.saddr = path->saddr;
	fl.fl4_dport = htons(MIRROR_ROCE_UDP_PORT);
	fl.fl4_sport = path->sport;
	rt = ip_route_output_key(net, &fl);
	if (!IS_ERR(rt) && routes) {
		local_bh_disable();
		dst_cache_set_ip4(routes, &rt->dst, path->saddr);
		local_bh_enable();
	}
	return rt;
}

static int mirror_xmit4(struct mirror_dev *dev, struct sk_buff *skb,
			const struct mirror_path *path, u32 bth_to_icrc,
			struct dst_cache *routes)
{
	struct net *net = dev_net(dev->ndev);
	u8 *bth = skb->data;
	struct udphdr *udph;
	struct iphdr *iph;
	struct rtable *rt;

	rt = mirror_route4(net, dev, path, routes);
	if (IS_ERR(rt)) {
		kfree_skb(skb);
		mirror_count(dev, MIRROR_CNT_TX_NO_ROUTE);
		return PTR_ERR(rt);
	}

	udph = mirror_push_udp(skb, path);
	skb_push(skb, sizeof(*iph));
	skb_reset_network_header(skb);
	iph = ip_hdr(skb);
	iph->version = 4;
	iph->ihl = sizeof(*iph) / 4;
	iph->tos = path->tos;
	iph->tot_len = htons(skb->len);
	iph->frag_off = htons(IP_DF);
	iph->ttl = path->ttl;
	iph->protocol = IPPROTO_UDP;
	iph->saddr = path->saddr;
	iph->daddr = path->daddr;
	iph->check = 0;
	__ip_select_ident(net, iph, 1);

	/* The ICRC covers the finished IP header, so it comes last. */
	put_unaligned_le32(mirror_icrc(iph, false, udph, bth, bth_to_icrc),
			   bth + bth_to_icrc);

	skb->protocol = htons(ETH_P_IP);
	skb->ip_summed = CHECKSUM_NONE;
	skb->dev = rt->dst.dev;
	skb_dst_set(skb, &rt->dst);
	memset(IPCB(skb), 0, sizeof(*IPCB(skb)));
	/* ip_local_out() consumes the skb, also when it fails. */
	ip_local_out(net, dev->sock->sk, skb);
	return 0;
}

/* As mirror_route4(), for IPv6. */
static struct dst_entry *mirror_route6(struct net *net, struct mirror_dev *dev,
				       const struct mirror_path *path,
				       struct dst_cache *routes)
{
	struct flowi6 fl = {};
	struct dst_entry *dst;
	struct in6_addr saddr;

	if (routes) {
		local_bh_disable();
		dst = dst_cache_get_ip6(routes, &saddr);
		local_bh_enable();
		if (dst)
			return dst;
	}
	fl.flowi6_oif = dev->ndev->ifindex;
	fl.flowi6_proto = IPPROTO_UDP;
	fl.daddr = path->daddr6;
	fl.saddr = path->saddr6;
	fl.fl6_dport = htons(MIRROR_ROCE_UDP_PORT);
	fl.fl6_sport = path->sport;
	dst = ip6_dst_lookup_flow(net, dev->sock6->sk, &fl, NULL);
	if (!IS_ERR(dst) && routes) {
		local_bh_disable();
		dst_cache_set_ip6(routes, dst, &path->saddr6);
		local_bh_enable();
	}
	return dst;
}

static int mirror_xmit6(struct mirror_dev *dev, struct sk_buff *skb,
			const struct mirror_path *path, u32 bth_to_icrc,
			struct dst_cache *routes)
{
	struct net *net = dev_net(dev->ndev);
	u8 *bth = skb->data;
	struct ipv6hdr *ip6h;
	struct udphdr *udph;
	struct dst_entry *dst;

	dst = mirror_route6(net, dev, path, routes);
	if (IS_ERR(dst)) {
		kfree_skb(skb);
		mirror_count(dev, MIRROR_CNT_TX_NO_ROUTE);
		return PTR_ERR(dst);
	}

	udph = mirror_push_udp(skb, path);
	skb_push(skb, sizeof(*ip6h));
	skb_reset_network_header(skb);
	ip6h = ipv6_hdr(skb);
	ip6_flow_hdr(ip6h, path->tos, path->flow_label);
	ip6h->payload_len = htons(skb->len - sizeof(*ip6h));
	ip6h->nexthdr = IPPROTO_UDP;
	ip6h->hop_limit = path->ttl;
	ip6h->saddr = path->saddr6;
	ip6h->daddr = path->daddr6;

	put_unaligned_le32(mirror_icrc(ip6h, true, udph, bth, bth_to_icrc),
			   bth + bth_to_icrc);

	skb->protocol = htons(ETH_P_IPV6);
	skb->ip_summed = CHECKSUM_NONE;
	skb->dev = dst->dev;
	skb_dst_set(skb, dst);
	memset(IP6CB(skb), 0, sizeof(*IP6CB(skb)));
	ip6_local_out(net, dev->sock6->sk, skb);
	return 0;
}

/**
 * mirror_pkt_xmit() - wrap a transport packet in UDP/IP and send it
 * @dev: the device
 * @skb: data from the BTH to the ICRC's place (the last 4 bytes)
 * @path: addresses (IPv4 or IPv6) and UDP source port
 * @routes: where the route to @path is kept between packets (a connected
 *	QP's, whose path is fixed; the caller's lock keeps it stable), or
 *	NULL to look the route up for this packet alone
 *
 * Consumes @skb. Process context.
 *
 * Return: 0, or a negative errno when there is no route or no socket.
 */
int mirror_pkt_xmit(struct mirror_dev *dev, struct sk_buff *skb,
		    const struct mirror_path *path, struct dst_cache *routes)
{
	u32 bth_to_icrc = skb->len - MIRROR_ICRC_BYTES;

	if (!(path->v6 ? dev->sock6 : dev->sock)) {
		kfree_skb(skb);
		return -ENOTCONN;
	}
	mirror_count(dev, MIRROR_CNT_TX_PACKETS);
	mirror_count_add(dev, MIRROR_CNT_TX_BYTES, bth_to_icrc);
	if (path->v6)
		return mirror_xmit6(dev, skb, path, bth_to_icrc, routes);
	return mirror_xmit4(dev, skb, path, bth_to_icrc, routes);
}

/**
 * mirror_pkt_send() - build a packet and send it
 * @dev: the device
 * @p: the packet (see struct mirror_pkt for the fields read); its payload,
 *     @p->paylen bytes, is read from @p->src at @p->src_off
 * @path: where it goes
 * @routes: as for mirror_pkt_xmit()
 *
 * Process context.
 *
 * Return: 0 (sent, or lost for want of a route: counted, and a loss like
 * any other), -ENOMEM when no packet could be allocated, -EFAULT when the
 * payload could not be read (its memory went away).
 */
int mirror_pkt_send(struct mirror_dev *dev, const struct mirror_pkt *p,
		    const struct mirror_path *path, struct dst_cache *routes)
{
	u32 hlen = mirror_pkt_hdr_len(p);
	u32 len = hlen + p->paylen + mirror_pkt_pad(p) + MIRROR_ICRC_BYTES;
	struct sk_buff *skb;
	u8 *buf;

	skb = mirror_pkt_alloc(dev, len);
	if (!skb)
		return -ENOMEM;
	/*
	 * Every byte but the payload's is zeroed first, the payload is
	 * copied over in full or the packet dropped: no byte of the buffer
	 * leaves unwritten, without zeroing 4 KiB that are written next.
	 */
	buf = skb_put(skb, len);
	memset(buf, 0, hlen);
	memset(buf + hlen + p->paylen, 0, len - hlen - p->paylen);
	mirror_pkt_build(p, buf);
	if (p->paylen &&
	    mirror_segs_xfer(p->src, p->src_off, buf + hlen, p->paylen,
			     false)) {
		kfree_skb(skb);
		return -EFAULT;
	}
	mirror_pkt_xmit(dev, skb, path, routes);
	return 0;
}

/**
 * mirror_qp_pkt_send() - send a packet of an RC or UC QP to its peer
 * @qp: the QP, connected over RoCEv2
 * @p: the packet, as for mirror_pkt_send()
 *
 * The caller holds req_lock or resp_lock, which keep the path and its
 * route cache stable.
 *
 * Return: as mirror_pkt_send().
 */
int mirror_qp_pkt_send(struct mirror_qp *qp, const struct mirror_pkt *p)
{
	return mirror_pkt_send(to_mirror_dev(qp->ibqp.device), p,
			       &qp->peer.path, &qp->peer.routes);
}

/* Drops a received packet and counts why. */
static int mirror_rx_drop(struct mirror_dev *dev, struct sk_buff *skb,
			  int reason)
{
	mirror_count(dev, reason);
	kfree_skb(skb);
	return 0;
}

/*
 * Is the packet addressed to one of the device's GIDs: unicast, to an
 * address of our netdev (whence the GIDs come)? Broadcast, multicast and
 * addresses of other interfaces are not (the stack would deliver those to
 * our socket too). Under RCU (the receive path).
 */
static bool mirror_pkt_to_us(struct mirror_dev *dev, struct sk_buff *skb)
{
	struct in_device *in_dev;
	const struct in_ifaddr *ifa;
	__be32 daddr;

	if (skb->pkt_type != PACKET_HOST)
		return false;
	if (skb->protocol == htons(ETH_P_IPV6)) {
		const struct in6_addr *d = &ipv6_hdr(skb)->daddr;

		return !ipv6_addr_is_multicast(d) &&
		       ipv6_chk_addr(dev_net(dev->ndev), d, dev->ndev, 0);
	}
	daddr = ip_hdr(skb)->daddr;
	if (ipv4_is_multicast(daddr) || ipv4_is_lbcast(daddr) ||
	    ipv4_is_zeronet(daddr))
		return false;
	in_dev = __in_dev_get_rcu(dev->ndev);
	if (!in_dev)
		return false;
	in_dev_for_each_ifa_rcu(ifa, in_dev)
		if (ifa->ifa_local == daddr)
			return true;
	return false;
}

/*
 * Is the packet sent to a multicast group, from the link (PACKET_MULTICAST)
 * or looped back by the IP stack from our own sending (PACKET_LOOPBACK)?
 * Then *@mgid gets the group's GID (IPv4-mapped for IPv4).
 */
static bool mirror_pkt_to_group(struct sk_buff *skb, union ib_gid *mgid)
{
	if (skb->pkt_type != PACKET_MULTICAST &&
	    skb->pkt_type != PACKET_LOOPBACK)
		return false;
	if (skb->protocol == htons(ETH_P_IPV6)) {
		const struct in6_addr *d = &ipv6_hdr(skb)->daddr;

		if (!ipv6_addr_is_multicast(d))
			return false;
		memcpy(mgid->raw, d, sizeof(mgid->raw));
		return true;
	}
	if (!ipv4_is_multicast(ip_hdr(skb)->daddr))
		return false;
	ipv6_addr_set_v4mapped(ip_hdr(skb)->daddr,
			       (struct in6_addr *)mgid->raw);
	return true;
}

/**
 * mirror_pkt_from_peer() - does a packet come from a QP's connected peer?
 * @qp: an RC/UC QP connected over RoCEv2
 * @skb: a received packet (its network header set)
 *
 * The source address must be the peer's, as the QP's path names it. The
 * receive path asks without the QP's locks (to drop early); rx_work asks
 * again under one of them, which keeps the path stable.
 *
 * Return: true when it does.
 */
bool mirror_pkt_from_peer(const struct mirror_qp *qp,
			  const struct sk_buff *skb)
{
	const struct mirror_path *path = &qp->peer.path;

	if (skb->protocol == htons(ETH_P_IPV6))
		return path->v6 &&
		       ipv6_addr_equal(&ipv6_hdr(skb)->saddr, &path->daddr6);
	return !path->v6 && ip_hdr(skb)->saddr == path->daddr;
}

/* What the receive path remembers of a queued response, in skb->cb. */
struct mirror_rx_cb {
	u32 psn;
	bool plain_ack;		/* an ACK that is neither NAK nor RNR NAK */
};

static struct mirror_rx_cb *mirror_rx_cb(struct sk_buff *skb)
{
	BUILD_BUG_ON(sizeof(struct mirror_rx_cb) > sizeof(skb->cb));
	return (struct mirror_rx_cb *)skb->cb;
}

/*
 * ACK coalescing: an ACK acknowledges every PSN up to its own, so one
 * that arrives while the ACK at the tail of the response queue still
 * waits makes one of the two redundant: the newer PSN stays, in the
 * tail's place. A peer that ACKs every duplicate of a resent window
 * (rdma_rxe does) would otherwise fill the queue with ACKs for old PSNs
 * while a slow rx_work drains them, and the drops at the cap would take
 * the ACKs that say the window moved: the requester would time out and
 * resend again, and again. Return: true when @skb was consumed.
 */
static bool mirror_rx_coalesce_ack(struct mirror_dev *dev,
				   struct mirror_qp *qp, struct sk_buff *skb)
{
	struct sk_buff_head *q = &qp->rx.resp_queue;
	struct sk_buff *tail, *gone = NULL;
	unsigned long flags;

	spin_lock_irqsave(&q->lock, flags);
	tail = skb_peek_tail(q);
	if (tail && mirror_rx_cb(tail)->plain_ack) {
		if (mirror_psn_cmp(mirror_rx_cb(skb)->psn,
				   mirror_rx_cb(tail)->psn) >= 0) {
			__skb_unlink(tail, q);
			__skb_queue_tail(q, skb);
			/* truesize is unsigned: the difference may be < 0 */
			atomic_long_add((long)skb->truesize -
					(long)tail->truesize,
					&dev->rx_queued_bytes);
			gone = tail;
		} else {
			gone = skb;
		}
	}
	spin_unlock_irqrestore(&q->lock, flags);
	if (!gone)
		return false;
	mirror_count(dev, MIRROR_CNT_RX_ACK_COALESCED);
	consume_skb(gone);
	return true;
}

/*
 * Queues a packet for the QP's rx_work, unless the QP already has
 * MIRROR_RX_QUEUE_PKTS waiting or the device MIRROR_RX_DEV_BYTES: then it
 * is dropped and counted. A plain ACK may replace the one queued before
 * it instead (mirror_rx_coalesce_ack()). Consumes the skb.
 */
static void mirror_rx_enqueue(struct mirror_dev *dev, struct mirror_qp *qp,
			      struct sk_buff *skb, const struct mirror_pkt *p)
{
	bool response = mirror_op_is_response(p->op);
	long bytes = skb->truesize;

	if (response) {
		mirror_rx_cb(skb)->psn = p->psn;
		mirror_rx_cb(skb)->plain_ack =
			p->op == MIRROR_OP_ACK &&
			((p->aeth >> 24) & MIRROR_AETH_KIND_MASK) ==
			MIRROR_AETH_ACK;
		if (mirror_rx_cb(skb)->plain_ack &&
		    mirror_rx_coalesce_ack(dev, qp, skb)) {
			queue_work(dev->wq, &qp->rx.work);
			return;
		}
	}
	if (atomic_inc_return(&qp->rx.queued) > MIRROR_RX_QUEUE_PKTS)
		goto drop;
	if (atomic_long_add_return(bytes, &dev->rx_queued_bytes) >
	    MIRROR_RX_DEV_BYTES) {
		atomic_long_sub(bytes, &dev->rx_queued_bytes);
		goto drop;
	}
	skb_queue_tail(response ? &qp->rx.resp_queue : &qp->rx.queue, skb);
	queue_work(dev->wq, &qp->rx.work);
	return;

drop:
	atomic_dec(&qp->rx.queued);
	mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_QUEUE_FULL);
}

/* A packet leaves the QP's queues: it no longer counts against the caps. */
static void mirror_rx_unqueued(struct mirror_qp *qp, struct sk_buff *skb)
{
	struct mirror_dev *dev = to_mirror_dev(qp->ibqp.device);

	atomic_dec(&qp->rx.queued);
	atomic_long_sub(skb->truesize, &dev->rx_queued_bytes);
}

/**
 * mirror_rx_dequeue() - take the next queued packet of a QP
 * @qp: the QP
 * @responses: from the queue of ACKs and responses; else of requests
 *
 * Return: the packet (the caller frees it), or NULL.
 */
struct sk_buff *mirror_rx_dequeue(struct mirror_qp *qp, bool responses)
{
	struct sk_buff *skb;

	skb = skb_dequeue(responses ? &qp->rx.resp_queue : &qp->rx.queue);
	if (skb)
		mirror_rx_unqueued(qp, skb);
	return skb;
}

/**
 * mirror_rx_purge() - drop every packet queued for a QP
 * @qp: the QP
 */
void mirror_rx_purge(struct mirror_qp *qp)
{
	struct sk_buff *skb;

	while ((skb = mirror_rx_dequeue(qp, true)))
		kfree_skb(skb);
	while ((skb = mirror_rx_dequeue(qp, false)))
		kfree_skb(skb);
}

/*
 * A UD datagram to a group: a copy for each QP of the device attached to
 * it that can receive (the Q_Key is checked by each one's rx_work, as for
 * unicast). Consumes @skb.
 */
static void mirror_rx_mcast(struct mirror_dev *dev, struct sk_buff *skb,
			    const struct mirror_pkt *p,
			    const union ib_gid *mgid)
{
	struct mirror_mcast_qp *m;
	struct mirror_mcast *g;
	struct sk_buff *copy;
	struct mirror_qp *qp;
	enum mirror_qp_state state;
	u32 given = 0;

	if (p->type != IB_QPT_UD || p->dqpn != MIRROR_QPN_MASK) {
		mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_MCAST);
		return;
	}
	rcu_read_lock();
	g = mirror_mcast_find(dev, mgid);
	if (g) {
		list_for_each_entry_rcu(m, &g->qps, node) {
			qp = m->qp;
			/* Pairs with the state change's release store. */
			state = smp_load_acquire(&qp->state);
			if (state < MIRROR_QPS_RTR || state == MIRROR_QPS_ERR ||
			    !kref_get_unless_zero(&qp->ref))
				continue;
			copy = skb_clone(skb, GFP_ATOMIC);
			if (copy) {
				mirror_rx_enqueue(dev, qp, copy, p);
				given++;
			}
			mirror_qp_put(qp);
		}
	}
	rcu_read_unlock();
	if (!given) {
		mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_MCAST);
		return;
	}
	mirror_count_add(dev, MIRROR_CNT_RX_MCAST, given);
	consume_skb(skb);
}

/*
 * The UDP tunnel's receive callback (softirq): validate, find the QP,
 * queue. Every check that needs no memory access happens here, so that a
 * packet that is not for a QP never waits in its queue (and never fills
 * it). Returns 0: the packet is always consumed.
 */
static int mirror_udp_encap_recv(struct sock *sk, struct sk_buff *skb)
{
	struct mirror_dev *dev = rcu_dereference_sk_user_data(sk);
	struct mirror_pkt p;
	struct mirror_qp *qp;
	struct udphdr *udph;
	enum mirror_qp_state state;
	union ib_gid mgid;
	bool group;
	u32 len;
	int why;

	if (!dev) {
		kfree_skb(skb);
		return 0;
	}
	if ((skb->protocol != htons(ETH_P_IP) &&
	     skb->protocol != htons(ETH_P_IPV6)) || skb_linearize(skb))
		return mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_LEN);
	group = mirror_pkt_to_group(skb, &mgid);
	if (!group && !mirror_pkt_to_us(dev, skb))
		return mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_BAD_DEST);
	udph = udp_hdr(skb);
	len = ntohs(udph->len);
	if (len < sizeof(*udph) || len > skb->len)
		return mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_LEN);
	len -= sizeof(*udph);
	skb_pull(skb, sizeof(*udph));
	if (skb->len > len)
		skb_trim(skb, len);
	mirror_count(dev, MIRROR_CNT_RX_PACKETS);
	mirror_count_add(dev, MIRROR_CNT_RX_BYTES, len);

	why = mirror_pkt_parse(skb->data, skb->len, &p);
	if (why)
		return mirror_rx_drop(dev, skb, why);
	if (get_unaligned_le32(skb->data + skb->len - MIRROR_ICRC_BYTES) !=
	    mirror_icrc(skb_network_header(skb),
			skb->protocol == htons(ETH_P_IPV6), udph, skb->data,
			skb->len - MIRROR_ICRC_BYTES))
		return mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_ICRC);
	if (group) {
		mirror_rx_mcast(dev, skb, &p, &mgid);
		return 0;
	}

	qp = mirror_qp_get(dev, p.dqpn);
	if (!qp)
		return mirror_rx_drop(dev, skb, MIRROR_CNT_RX_DROP_NO_QP);
	why = 0;
	/* Pairs with the state change's release store. */
	state = smp_load_acquire(&qp->state);
	if (qp->ibqp.qp_type != p.type &&
	    !(qp->ibqp.qp_type == IB_QPT_GSI && p.type == IB_QPT_UD))
		why = MIRROR_CNT_RX_DROP_OPCODE;
	else if (state < MIRROR_QPS_RTR || state == MIRROR_QPS_ERR)
		why = MIRROR_CNT_RX_DROP_QP_STATE;
	else if (p.type != IB_QPT_UD && !READ_ONCE(qp->peer.wire))
		/* Connected on this device: no packet is its peer's. */
		why = MIRROR_CNT_RX_DROP_WRONG_PATH;
	else if (p.type != IB_QPT_UD && !mirror_pkt_from_peer(qp, skb))
		why = MIRROR_CNT_RX_DROP_BAD_SRC;
	if (why)
		mirror_rx_drop(dev, skb, why);
	else
		mirror_rx_enqueue(dev, qp, skb, &p);
	mirror_qp_put(qp);
	return 0;
}

/* One UDP tunnel socket of @family on port 4791, bound to the netdev. */
static int mirror_sock_open(struct mirror_dev *dev, u8 family,
			    struct socket **sockp)
{
	struct udp_port_cfg cfg = {
		.family = family,
		.local_udp_port = htons(MIRROR_ROCE_UDP_PORT),
		.bind_ifindex = dev->ndev->ifindex,
		/* IPv4 has its own socket: this one takes only IPv6. */
		.ipv6_v6only = family == AF_INET6,
	};
	struct udp_tunnel_sock_cfg tcfg = {
		.sk_user_data = dev,
		.encap_type = 1,
		.encap_rcv = mirror_udp_encap_recv,
	};
	int err;

	err = udp_sock_create(dev_net(dev->ndev), &cfg, sockp);
	if (err)
		return err;
	setup_udp_tunnel_sock(dev_net(dev->ndev), *sockp, &tcfg);
	/*
	 * The tunnel setup turns IPv4 multicast loopback off; ours stays
	 * on, so that what the device sends to a group it has QPs attached
	 * to reaches them too (mirror_mcast.c).
	 */
	if (family == AF_INET)
		mirror_sock_set_mc_loop((*sockp)->sk);
	return 0;
}

/**
 * mirror_net_open() - create the device's RoCEv2 sockets (IPv4, IPv6)
 * @dev: the device (its netdev is set)
 *
 * Return: 0, or a negative errno; -EADDRINUSE when another socket holds
 * port 4791 for every netdev of the namespace. Without IPv6 in the
 * namespace only the IPv4 socket exists.
 */
int mirror_net_open(struct mirror_dev *dev)
{
	int err;

	err = mirror_sock_open(dev, AF_INET, &dev->sock);
	if (err)
		return err;
	err = mirror_sock_open(dev, AF_INET6, &dev->sock6);
	if (err == -EAFNOSUPPORT)
		return 0;
	if (err) {
		udp_tunnel_sock_release(dev->sock);
		dev->sock = NULL;
	}
	return err;
}

/**
 * mirror_net_close() - release the device's sockets
 * @dev: the device
 *
 * After this returns no receive callback runs for @dev.
 */
void mirror_net_close(struct mirror_dev *dev)
{
	if (dev->sock6) {
		udp_tunnel_sock_release(dev->sock6);
		dev->sock6 = NULL;
	}
	if (dev->sock) {
		udp_tunnel_sock_release(dev->sock);
		dev->sock = NULL;
	}
}
