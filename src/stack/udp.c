/* SPDX-License-Identifier: MIT */
/*
 * UDP (RFC 768, RFC 1122 4.1): sockets, demultiplexing by a hash of the
 * local port, checksums on both paths, ephemeral ports, both API levels.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>

#include "stack_impl.h"

static uint32_t port_hash(uint16_t port)
{
	return (uint32_t)((port * 0x9e37u) >> 4) & (UDP_HASH - 1);
}

/* The one's-complement sum of the RFC 768 pseudo-header (addresses in
 * host order). */
static uint32_t pseudo_sum(uint32_t src, uint32_t dst, uint32_t ulen)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + USNET_IPPROTO_UDP +
	       ulen;
}

/* The checksum field for header h (csum 0) and data. RFC 768: a computed
 * 0 is sent as all ones, 0 meaning "no checksum". */
static uint16_t udp_csum(uint32_t src, uint32_t dst, const struct usnet_udp_hdr *h,
			 const void *data, uint32_t dlen)
{
	uint32_t sum = pseudo_sum(src, dst, dlen + 8);
	uint16_t c;

	sum = usnet_csum_add(sum, h, 8);
	c = usnet_csum_fold(usnet_csum_add(sum, data, dlen));
	return c ? c : 0xffff;
}

/* --- input --- */

static struct usnet_udp *lookup(struct usnet_stack *st, uint32_t dst, uint16_t dport, uint32_t src,
				uint16_t sport)
{
	for (struct usnet_udp *s = st->udp_hash[port_hash(dport)]; s; s = s->hnext) {
		if (s->lport != dport || (s->lip && s->lip != dst))
			continue;
		if (s->connected && (s->rip != src || s->rport != sport))
			return NULL; /* the port's owner does not take this peer */
		return s;
	}
	return NULL;
}

void udp_input(struct usnet_stack *st, struct ip_dgram *d)
{
	const struct usnet_udp_hdr *u = (const struct usnet_udp_hdr *)d->l4;
	struct usnet_udp *s;
	struct stk_msg m;
	uint32_t ulen;

	st->c.udp_rx++;
	if (d->l4_len < 8) {
		st->c.udp_short++;
		goto out;
	}
	ulen = ntohs(u->len);
	/* RFC 768: the length covers header and data; the IP payload may be
	 * longer (RFC 1122 4.1.3.4 does not forbid it), never shorter. */
	if (ulen < 8 || ulen > d->l4_len) {
		st->c.udp_bad_len++;
		goto out;
	}
	/* RFC 1122 4.1.3.4: verify when present; 0 means none. A frame the
	 * port says was made on this host with its checksum left to an
	 * offload (USNET_PKT_F_CSUM_PARTIAL) never crossed a wire. */
	if (u->csum && !(d->pkt && (d->pkt->flags & USNET_PKT_F_CSUM_PARTIAL)) &&
	    usnet_csum_fold(usnet_csum_add(pseudo_sum(d->src, d->dst, ulen), u, ulen)) != 0) {
		st->c.udp_bad_csum++;
		goto out;
	}
	s = lookup(st, d->dst, ntohs(u->dport), d->src, ntohs(u->sport));
	if (!s) {
		st->c.udp_no_port++;
		/* RFC 1122 4.1.3.1: port unreachable, never for broadcasts. */
		icmp_send_unreach(st, d, 3);
		goto out;
	}
	memset(&m, 0, sizeof(m));
	m.from.ip = d->src;
	m.from.port = ntohs(u->sport);
	m.to.ip = d->dst;
	m.to.port = ntohs(u->dport);
	if (!stk_msgq_push(&s->s.q, d, 8, ulen - 8, &m)) {
		st->c.udp_rcvbuf_full++;
		goto out;
	}
	stk_sock_ready(&s->s);
out:
	stk_dgram_free(d);
}

void udp_icmp_error(struct usnet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
		    uint16_t rport, int err)
{
	struct usnet_udp *s = lookup(st, lip, lport, rip, rport);

	/* BSD semantics: only a connected socket hears about its peer,
	 * unless the application asked for every error (RFC 1122 4.1.3.3). */
	if (!s || (!s->connected && !s->recverr))
		return;
	s->s.err = err;
	s->err_dst.ip = rip;
	s->err_dst.port = rport;
	stk_sock_ready(&s->s);
}

/* --- sockets --- */

int usnet_udp_open(struct usnet_stack *st, struct usnet_udp **out, void *user)
{
	struct usnet_udp *s;

	if (st->udp_count >= st->conf.udp_sockets)
		return usnet_error(EMFILE, "stack: %u UDP sockets open already",
				   st->conf.udp_sockets);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (stk_msgq_init(&s->s.q, st->conf.udp_rcvq_len, st->conf.udp_rcvbuf)) {
		free(s);
		return -ENOMEM;
	}
	s->s.st = st;
	s->s.user = user;
	s->s.kind = STK_UDP;
	s->anext = st->udp_all;
	if (s->anext)
		s->anext->aprev = s;
	st->udp_all = s;
	st->udp_count++;
	*out = s;
	return 0;
}

static void unhash(struct usnet_udp *s)
{
	struct usnet_udp **pp = &s->s.st->udp_hash[port_hash(s->lport)];

	if (!s->bound)
		return;
	while (*pp != s)
		pp = &(*pp)->hnext;
	*pp = s->hnext;
	s->bound = false;
}

void usnet_udp_close(struct usnet_udp *s)
{
	struct usnet_stack *st;

	if (!s)
		return;
	st = s->s.st;
	unhash(s);
	if (s->aprev)
		s->aprev->anext = s->anext;
	else
		st->udp_all = s->anext;
	if (s->anext)
		s->anext->aprev = s->aprev;
	stk_sock_fini(&s->s);
	st->udp_count--;
	free(s);
}

void udp_close_all(struct usnet_stack *st)
{
	while (st->udp_all)
		usnet_udp_close(st->udp_all);
}

static bool port_taken(struct usnet_stack *st, uint32_t ip, uint16_t port)
{
	for (struct usnet_udp *s = st->udp_hash[port_hash(port)]; s; s = s->hnext)
		if (s->lport == port && (!s->lip || !ip || s->lip == ip))
			return true;
	return false;
}

int usnet_udp_bind(struct usnet_udp *s, uint32_t ip, uint16_t port)
{
	struct usnet_stack *st = s->s.st;
	uint32_t h;

	if (s->bound)
		return usnet_error(EINVAL, "stack: socket already bound");
	if (ip && !stk_is_local(st, ip))
		return usnet_error(EADDRNOTAVAIL, "stack: not one of the stack's addresses");
	if (!port) {
		/* RFC 6056 3.3.1's simple scheme: the next free port after the
		 * last one given. */
		uint32_t range = (uint32_t)st->conf.ephemeral_max - st->conf.ephemeral_min + 1;

		for (uint32_t i = 0; i < range && !port; i++) {
			uint16_t p = st->ephemeral_next;

			st->ephemeral_next = p == st->conf.ephemeral_max ? st->conf.ephemeral_min
									 : (uint16_t)(p + 1);
			if (!port_taken(st, ip, p))
				port = p;
		}
		if (!port)
			return usnet_error(EADDRINUSE, "stack: no ephemeral port free");
	} else if (port_taken(st, ip, port)) {
		return usnet_error(EADDRINUSE, "stack: UDP port %u in use", port);
	}
	s->lip = ip;
	s->lport = port;
	s->bound = true;
	h = port_hash(port);
	s->hnext = st->udp_hash[h];
	st->udp_hash[h] = s;
	return 0;
}

int usnet_udp_connect(struct usnet_udp *s, uint32_t ip, uint16_t port)
{
	struct route rt;
	int err;

	if (!ip && !port) {
		s->connected = false;
		s->rip = 0;
		s->rport = 0;
		return 0;
	}
	if (!port || !ip)
		return usnet_error(EINVAL, "stack: connect needs an address and a port");
	err = ip_route(s->s.st, ip, &rt);
	if (err)
		return err;
	if (!s->bound) {
		err = usnet_udp_bind(s, 0, 0);
		if (err)
			return err;
	}
	s->rip = ip;
	s->rport = port;
	s->connected = true;
	s->s.err = 0;
	return 0;
}

int usnet_udp_local(const struct usnet_udp *s, struct usnet_addr4 *addr)
{
	if (!s->bound)
		return -EINVAL;
	addr->ip = s->lip;
	addr->port = s->lport;
	return 0;
}

int usnet_udp_set_recverr(struct usnet_udp *s, bool on)
{
	s->recverr = on;
	return 0;
}

int usnet_udp_error_addr(struct usnet_udp *s, struct usnet_addr4 *dst)
{
	if (s->s.err && dst)
		*dst = s->err_dst;
	return usnet_udp_error(s);
}

int usnet_udp_error(struct usnet_udp *s)
{
	int err = s->s.err;

	s->s.err = 0;
	return err;
}

uint32_t usnet_udp_events(const struct usnet_udp *s)
{
	const struct usnet_stack *st = s->s.st;
	uint32_t ev = (s->s.q.n ? USNET_EV_READ : 0) | (s->s.err ? USNET_EV_ERROR : 0);
	struct usnet_pool_stats ps;

	if (st->nifc) {
		usnet_pool_get_stats(st->ifc[0].pool, &ps);
		if (ps.available)
			ev |= USNET_EV_WRITE;
	}
	return ev;
}

/* Everything a send needs: destination, route, a bound socket. */
static int send_prepare(struct usnet_udp *s, const struct usnet_addr4 *to, struct usnet_addr4 *dst,
			struct route *rt)
{
	struct usnet_stack *st = s->s.st;
	int err;

	if (to) {
		if (!to->ip || !to->port)
			return -EINVAL;
		*dst = *to;
	} else if (s->connected) {
		dst->ip = s->rip;
		dst->port = s->rport;
		if (s->s.err) {
			err = s->s.err;
			s->s.err = 0;
			return err;
		}
	} else {
		return -EDESTADDRREQ;
	}
	st->now = st->conf.clock(st->conf.clock_ctx);
	if (!s->bound) {
		err = usnet_udp_bind(s, 0, 0);
		if (err)
			return err;
	}
	err = ip_route(st, dst->ip, rt);
	if (err)
		return err;
	if (s->lip)
		rt->src = s->lip;
	rt->tos = s->tos;
	return 0;
}

static void fill_hdr(struct usnet_udp_hdr *h, const struct usnet_udp *s, const struct route *rt,
		     const struct usnet_addr4 *dst, const void *data, uint32_t len)
{
	h->sport = htons(s->lport);
	h->dport = htons(dst->port);
	h->len = htons((uint16_t)(len + 8));
	h->csum = 0;
	h->csum = udp_csum(rt->src, dst->ip, h, data, len);
}

int usnet_udp_sendto(struct usnet_udp *s, const void *buf, size_t len, const struct usnet_addr4 *to)
{
	struct usnet_stack *st = s->s.st;
	struct usnet_addr4 dst;
	struct usnet_udp_hdr h;
	struct route rt;
	int err;

	if (len > USNET_UDP_MAX_PAYLOAD)
		return -EMSGSIZE;
	if (len && !buf)
		return -EINVAL;
	err = send_prepare(s, to, &dst, &rt);
	if (err)
		return err;
	fill_hdr(&h, s, &rt, &dst, buf, (uint32_t)len);
	if (len + 8 <= ip_max_l4(&rt)) {
		/* One packet: build it where it will be sent from. */
		struct usnet_pkt *p = stk_alloc(st, rt.ifc);

		if (!p)
			return -ENOBUFS;
		p->data_off = (uint16_t)(rt.ifc->headroom + USNET_ETH_HLEN + 20);
		p->len = (uint16_t)(len + 8);
		memcpy(usnet_pkt_data(p), &h, 8);
		if (len)
			memcpy(usnet_pkt_data(p) + 8, buf, len);
		err = ip_send_pkt(st, &rt, dst.ip, USNET_IPPROTO_UDP,
				  s->ttl ? s->ttl : st->conf.ttl, p);
		if (err)
			usnet_pkt_free(p);
	} else {
		err = ip_send_copy(st, &rt, dst.ip, USNET_IPPROTO_UDP,
				   s->ttl ? s->ttl : st->conf.ttl, &h, 8, buf, (uint32_t)len);
	}
	stk_tx_sent(st, rt.ifc);
	if (err)
		return err;
	st->c.udp_tx++;
	return (int)len;
}

int usnet_udp_recvfrom(struct usnet_udp *s, void *buf, size_t len, struct usnet_addr4 *from)
{
	return usnet_udp_recvmsg(s, buf, len, from, NULL);
}

int usnet_udp_set_ttl(struct usnet_udp *s, uint8_t ttl)
{
	s->ttl = ttl;
	return 0;
}

int usnet_udp_set_tos(struct usnet_udp *s, uint8_t tos)
{
	s->tos = tos;
	return 0;
}

int usnet_udp_recvmsg(struct usnet_udp *s, void *buf, size_t len, struct usnet_addr4 *from,
		      struct usnet_addr4 *to)
{
	struct stk_msg m;
	int n;

	if (s->s.err)
		return usnet_udp_error(s);
	if (!stk_msgq_pop(&s->s.q, &m))
		return -EAGAIN;
	if (from)
		*from = m.from;
	if (to)
		*to = m.to;
	if (len && buf)
		memcpy(buf, m.data, len < m.len ? len : m.len);
	n = m.len;
	stk_msg_free(&m);
	return n;
}

/* --- zero-copy --- */

uint16_t usnet_udp_recv_burst(struct usnet_udp *s, struct usnet_udp_msg *msgs, uint16_t n)
{
	uint16_t k = 0;
	struct stk_msg m;

	while (k < n && stk_msgq_pop(&s->s.q, &m)) {
		struct usnet_udp_msg *u = &msgs[k++];

		u->pkt = m.pkt;
		u->heap_ = m.heap;
		u->data = m.data;
		u->off = m.pkt ? (uint16_t)(m.data - usnet_pkt_data(m.pkt)) : 0;
		u->len = m.len;
		u->from = m.from;
		u->to = m.to;
	}
	return k;
}

void usnet_udp_msg_free(struct usnet_udp_msg *msg)
{
	if (msg->pkt)
		usnet_pkt_free(msg->pkt);
	free(msg->heap_);
	msg->pkt = NULL;
	msg->heap_ = NULL;
	msg->data = NULL;
}

struct usnet_pkt *usnet_udp_alloc(struct usnet_udp *s)
{
	struct usnet_stack *st = s->s.st;
	struct stk_iface *ifc;
	struct usnet_pkt *p;
	struct route rt;

	if (!st->nifc)
		return NULL;
	ifc = &st->ifc[0];
	if (s->connected && ip_route(st, s->rip, &rt) == 0)
		ifc = rt.ifc;
	p = stk_alloc(st, ifc);
	if (!p)
		return NULL;
	p->data_off = (uint16_t)(ifc->headroom + USNET_UDP_HEADROOM);
	p->len = 0;
	return p;
}

int usnet_udp_send_pkt(struct usnet_udp *s, struct usnet_pkt *pkt, const struct usnet_addr4 *to)
{
	struct usnet_stack *st = s->s.st;
	struct usnet_udp_hdr h, *hp;
	struct usnet_addr4 dst;
	struct route rt;
	int err;

	if (usnet_pkt_headroom(pkt) < USNET_UDP_HEADROOM)
		return -EINVAL;
	err = send_prepare(s, to, &dst, &rt);
	if (err)
		return err;
	if ((uint32_t)pkt->len + 8 > ip_max_l4(&rt) || pkt->pool != rt.ifc->pool) {
		/* Too big for one packet, or from another interface's pool:
		 * the copying path. */
		fill_hdr(&h, s, &rt, &dst, usnet_pkt_data(pkt), pkt->len);
		err =
		    ip_send_copy(st, &rt, dst.ip, USNET_IPPROTO_UDP, s->ttl ? s->ttl : st->conf.ttl,
				 &h, 8, usnet_pkt_data(pkt), pkt->len);
		if (!err)
			usnet_pkt_free(pkt);
	} else {
		fill_hdr(&h, s, &rt, &dst, usnet_pkt_data(pkt), pkt->len);
		hp = (struct usnet_udp_hdr *)usnet_pkt_prepend(pkt, 8);
		*hp = h;
		err = ip_send_pkt(st, &rt, dst.ip, USNET_IPPROTO_UDP,
				  s->ttl ? s->ttl : st->conf.ttl, pkt);
		if (err)
			usnet_pkt_adj(pkt, 8);
	}
	stk_tx_sent(st, rt.ifc);
	if (err)
		return err;
	st->c.udp_tx++;
	return 0;
}
