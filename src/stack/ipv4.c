/* SPDX-License-Identifier: MIT */
/*
 * IPv4 (RFC 791, RFC 1122 3.2.1 and 3.3): input validation with a counter
 * per reason, options skipped after their lengths are checked, fragments
 * to frag.c; routing (on-link or via the gateway); output with
 * fragmentation at the interface MTU.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"
#include "tcp_impl.h"

/* RFC 791 3.1 options: End of Option List and No Operation are one byte. */
#define IPOPT_EOL  0
#define IPOPT_NOP  1
#define IPOPT_LSRR 131 /* loose source and record route */
#define IPOPT_SSRR 137 /* strict source and record route */

bool ip_unicast_src_ok(uint32_t ip)
{
	uint8_t first = (uint8_t)(ip >> 24);

	/* RFC 1122 3.2.1.3: 0/8 ("this network"), 127/8 (loopback), 224/4
	 * (multicast) and 240/4 (reserved, and 255.255.255.255) never name
	 * a single remote host. */
	return first != 0 && first != 127 && first < 224;
}

enum opt_verdict {
	OPT_OK,
	OPT_BAD,      /* ip_bad_options */
	OPT_ROUTE_ON, /* a source route goes on from here: not ours (ip_not_ours) */
};

/* RFC 791 3.1: every option but EOL and NOP has a length octet counting
 * type and length, and none runs past the header. Loose and strict source
 * routes (131, 137) have a pointer, at least 4; while it is not past the
 * option's end the route has hops left and we are not its destination
 * (RFC 1122 3.2.1.8c; a host that does not forward drops it, 3.3.5). */
static enum opt_verdict options_check(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint8_t type = opt[i], olen;

		if (type == IPOPT_EOL)
			return OPT_OK;
		if (type == IPOPT_NOP) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || opt[i + 1] > len - i)
			return OPT_BAD;
		olen = opt[i + 1];
		if (type == IPOPT_LSRR || type == IPOPT_SSRR) {
			if (olen < 3 || opt[i + 2] < 4)
				return OPT_BAD;
			if (opt[i + 2] <= olen)
				return OPT_ROUTE_ON;
		}
		i += olen;
	}
	return OPT_OK;
}

static struct stk_iface *iface_of_dst(struct usnet_stack *st, struct stk_iface *ifc, uint32_t dst,
				      bool *bcast)
{
	*bcast = dst == IPV4_BCAST || dst == ifc->bcast;
	if (*bcast || dst == ifc->addr)
		return ifc;
	/* RFC 1122 3.3.4.2: a multihomed host may accept datagrams for any of
	 * its addresses on any interface (the weak host model). */
	for (unsigned i = 0; i < st->nifc; i++)
		if (st->ifc[i].addr == dst)
			return &st->ifc[i];
	return NULL;
}

static void deliver(struct usnet_stack *st, struct ip_dgram *d)
{
	switch (d->ip.proto) {
	case USNET_IPPROTO_ICMP:
		icmp_input(st, d);
		return;
	case USNET_IPPROTO_UDP:
		udp_input(st, d);
		return;
	case USNET_IPPROTO_TCP:
		tcp_input(st, d);
		return;
	default:
		st->c.ip_unknown_proto++;
		/* RFC 1122 3.2.2.1: a host SHOULD send protocol unreachable. */
		icmp_send_unreach(st, d, 2);
		stk_dgram_free(d);
		return;
	}
}

static void fragment_input(struct usnet_stack *st, struct ip_dgram *d, const uint8_t *payload,
			   uint32_t plen)
{
	struct frag_out out;
	enum frag_result r;

	st->c.ip_frag_rx++;
	r = frag_input(&st->frag, &d->ip, payload, plen, st->now, &out);
	stk_timer_at(st, st->now + st->frag.conf.timeout_ns);
	usnet_pkt_free(d->pkt);
	d->pkt = NULL;
	switch (r) {
	case FRAG_HELD:
		return;
	case FRAG_DONE:
		st->c.ip_reasm_ok++;
		d->ip = out.ip;
		d->heap = out.data;
		d->l4 = out.data;
		d->l4_len = out.len;
		deliver(st, d);
		return;
	case FRAG_BAD:
		st->c.ip_frag_bad++;
		return;
	case FRAG_DUP:
		st->c.ip_reasm_dup++;
		return;
	case FRAG_OVERLAP:
		st->c.ip_reasm_overlap++;
		return;
	case FRAG_MEM_SRC:
		st->c.ip_reasm_mem_src++;
		return;
	case FRAG_MEM_TOTAL:
		st->c.ip_reasm_mem_total++;
		return;
	case FRAG_TOO_MANY:
		st->c.ip_reasm_too_many++;
		return;
	}
}

void ip_input(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt)
{
	const struct usnet_eth_hdr *eth = (const struct usnet_eth_hdr *)usnet_pkt_data(pkt);
	const struct usnet_ipv4_hdr *ip = (const struct usnet_ipv4_hdr *)(eth + 1);
	size_t avail = (size_t)pkt->len - USNET_ETH_HLEN, hlen, total;
	struct ip_dgram d;
	uint64_t *drop;
	uint16_t frag;

	st->c.ip_rx++;
	/* RFC 1122 3.2.1.1 - 3.2.1.2: version, header length, total length
	 * against what arrived (anything after it is link padding), checksum. */
	if (avail < sizeof(*ip)) {
		drop = &st->c.ip_short;
		goto drop;
	}
	if (ip->ver_ihl >> 4 != 4) {
		drop = &st->c.ip_bad_version;
		goto drop;
	}
	hlen = (size_t)(ip->ver_ihl & 0xf) * 4;
	if (hlen < sizeof(*ip)) {
		drop = &st->c.ip_bad_ihl;
		goto drop;
	}
	total = ntohs(ip->total_len);
	if (total < hlen || total > avail) {
		drop = &st->c.ip_bad_len;
		goto drop;
	}
	if (usnet_csum_fold(usnet_csum_add(0, ip, hlen)) != 0) {
		drop = &st->c.ip_bad_csum;
		goto drop;
	}
	/* No router forwards TTL 0 (RFC 791 3.2, RFC 1812 5.3.1); a host
	 * keeps TTL 1 (RFC 1122 3.2.1.7). */
	if (ip->ttl == 0) {
		drop = &st->c.ip_bad_ttl;
		goto drop;
	}
	memset(&d, 0, sizeof(d));
	d.src = ntohl(ip->src);
	d.dst = ntohl(ip->dst);
	/* RFC 1122 3.2.1.3: discard a source that is not one host. */
	if (!ip_unicast_src_ok(d.src) || d.src == ifc->bcast) {
		drop = &st->c.ip_bad_src;
		goto drop;
	}
	if (hlen > sizeof(*ip)) {
		enum opt_verdict v = options_check((const uint8_t *)(ip + 1), hlen - sizeof(*ip));

		if (v != OPT_OK) {
			drop = v == OPT_BAD ? &st->c.ip_bad_options : &st->c.ip_not_ours;
			goto drop;
		}
	}
	d.ifc = iface_of_dst(st, ifc, d.dst, &d.bcast);
	/* RFC 1122 3.3.6: a link-layer broadcast must carry an IP broadcast. */
	if (!d.ifc || (!d.bcast && mac_is_group(eth->dst))) {
		drop = &st->c.ip_not_ours;
		goto drop;
	}
	memcpy(&d.ip, ip, sizeof(d.ip));
	d.pkt = pkt;
	frag = ntohs(ip->frag_off);
	if (frag & (IP_MF | IP_OFFMASK)) {
		fragment_input(st, &d, (const uint8_t *)ip + hlen, (uint32_t)(total - hlen));
		return;
	}
	d.l4 = (uint8_t *)ip + hlen;
	d.l4_len = (uint32_t)(total - hlen);
	deliver(st, &d);
	return;
drop:
	(*drop)++;
	usnet_pkt_free(pkt);
}

/* --- output --- */

int ip_route(struct usnet_stack *st, uint32_t dst, struct route *rt)
{
	struct stk_iface *gw = NULL;

	for (unsigned i = 0; i < st->nifc; i++) {
		struct stk_iface *ifc = &st->ifc[i];

		if ((dst & ifc->mask) == (ifc->addr & ifc->mask) || dst == IPV4_BCAST) {
			if (dst == ifc->addr)
				break; /* no loopback; see docs/stack.md */
			rt->ifc = ifc;
			rt->nexthop = dst;
			rt->src = ifc->addr;
			rt->tos = 0;
			return 0;
		}
		if (ifc->gateway && !gw)
			gw = ifc;
	}
	if (!gw || dst == 0 || !ip_unicast_src_ok(dst) || stk_is_local(st, dst)) {
		st->c.ip_tx_no_route++;
		return -ENETUNREACH;
	}
	rt->ifc = gw;
	rt->nexthop = gw->gateway;
	rt->src = gw->addr;
	rt->tos = 0;
	return 0;
}

uint32_t ip_max_l4(const struct route *rt)
{
	uint32_t room = (uint32_t)rt->ifc->l3_room - 20;
	uint32_t mtu = (uint32_t)rt->ifc->mtu - 20;

	return mtu < room ? mtu : room;
}

static void ip_header(struct usnet_ipv4_hdr *ip, const struct route *rt, uint32_t dst,
		      uint8_t proto, uint8_t ttl, uint16_t id, uint16_t frag, uint32_t total)
{
	ip->ver_ihl = 0x45;
	ip->tos = rt->tos;
	ip->total_len = htons((uint16_t)total);
	ip->id = htons(id);
	ip->frag_off = htons(frag);
	ip->ttl = ttl;
	ip->proto = proto;
	ip->src = htonl(rt->src);
	ip->dst = htonl(dst);
	ip->csum = 0;
	ip->csum = usnet_ipv4_csum(ip);
}

int ip_send_pkt(struct usnet_stack *st, const struct route *rt, uint32_t dst, uint8_t proto,
		uint8_t ttl, struct usnet_pkt *pkt)
{
	struct usnet_ipv4_hdr *ip;
	int err = arp_check(st, rt->ifc, rt->nexthop, 1);

	if (err)
		return err;
	if (pkt->len > ip_max_l4(rt) || usnet_pkt_headroom(pkt) < 20 + USNET_ETH_HLEN)
		return -EMSGSIZE;
	ip = (struct usnet_ipv4_hdr *)usnet_pkt_prepend(pkt, 20);
	/* Datagrams that fit are sent with DF clear like the rest: a host may
	 * set DF only for path MTU discovery (RFC 1191), which we do not do. */
	ip_header(ip, rt, dst, proto, ttl, st->ip_id++, 0, pkt->len);
	st->c.ip_tx++;
	arp_output(st, rt->ifc, rt->nexthop, pkt);
	return 0;
}

/* Copy bytes [off, off+n) of the message hdr||data to out. */
static void gather(uint8_t *out, const uint8_t *hdr, uint32_t hlen, const uint8_t *data,
		   uint32_t off, uint32_t n)
{
	if (off < hlen) {
		uint32_t k = hlen - off < n ? hlen - off : n;

		memcpy(out, hdr + off, k);
		out += k;
		off += k;
		n -= k;
	}
	if (n)
		memcpy(out, data + (off - hlen), n);
}

/* n packets or none (the pool gives all-or-some). */
static bool alloc_all(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt **pkts,
		      uint32_t n)
{
	for (int tries = 0; tries < 2; tries++) {
		uint32_t got = usnet_pool_alloc_bulk(ifc->pool, pkts, n);

		if (got == n)
			return true;
		usnet_pkt_free_bulk(pkts, got);
		/* Buffers may be waiting in the TX path: send and reclaim. */
		stk_tx_flush(st, ifc);
		usnet_tx_burst(ifc->port, ifc->queue, NULL, 0);
	}
	return false;
}

int ip_send_copy(struct usnet_stack *st, const struct route *rt, uint32_t dst, uint8_t proto,
		 uint8_t ttl, const void *hdr, uint32_t hlen, const void *data, uint32_t dlen)
{
	uint32_t total = hlen + dlen, max = ip_max_l4(rt);
	/* RFC 791 3.2: every fragment but the last carries a multiple of 8. */
	uint32_t per = total <= max ? total : max & ~7u;
	uint32_t nfrag = total ? (total + per - 1) / per : 1;
	struct usnet_pkt *pkts[65536 / 512 + 2];
	uint16_t id = st->ip_id++;
	int err;

	if (total > 65535 - 20)
		return -EMSGSIZE;
	err = arp_check(st, rt->ifc, rt->nexthop, nfrag);
	if (err)
		return err;
	/* All buffers first, so that a datagram is sent whole or not at all. */
	if (!alloc_all(st, rt->ifc, pkts, nfrag)) {
		st->c.tx_nobuf++;
		return -ENOBUFS;
	}
	for (uint32_t i = 0, off = 0; i < nfrag; i++, off += per) {
		struct usnet_pkt *p = pkts[i];
		uint32_t n = total - off < per ? total - off : per;
		uint16_t frag = (uint16_t)(off / 8);
		struct usnet_ipv4_hdr *ip;

		if (i + 1 < nfrag)
			frag |= IP_MF;
		p->flags = 0;
		p->data_off = (uint16_t)(rt->ifc->headroom + USNET_ETH_HLEN);
		p->len = (uint16_t)(20 + n);
		ip = (struct usnet_ipv4_hdr *)usnet_pkt_data(p);
		gather((uint8_t *)(ip + 1), hdr, hlen, data, off, n);
		ip_header(ip, rt, dst, proto, ttl, id, frag, 20 + n);
		if (nfrag > 1)
			st->c.ip_tx_frag++;
		/* The first fragment starts resolving the neighbour; the others
		 * queue behind it: arp_check() said there is room for all. */
		arp_output(st, rt->ifc, rt->nexthop, p);
	}
	st->c.ip_tx++;
	return 0;
}
