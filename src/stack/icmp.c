/* SPDX-License-Identifier: MIT */
/*
 * ICMP (RFC 792, RFC 1122 3.2.2): echo replies, rate-limited port and
 * protocol unreachables, incoming unreachables and time exceededs handed
 * to the socket or echo endpoint they concern, and echo endpoints for ping.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>

#include "stack_impl.h"
#include "tcp_impl.h"

#define ICMP_ECHO_REPLY	   0
#define ICMP_UNREACH	   3
#define ICMP_ECHO_REQUEST  8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAM_PROBLEM 12
#define ICMP_HLEN	   8

/* RFC 792 destination unreachable codes. */
#define UNREACH_NET	 0
#define UNREACH_HOST	 1
#define UNREACH_PROTO	 2
#define UNREACH_PORT	 3
#define UNREACH_NEEDFRAG 4

#define ICMP_QUEUE_LEN	 64
#define ICMP_QUEUE_BYTES (1u << 20)

struct icmp_hdr {
	uint8_t type;
	uint8_t code;
	uint16_t csum;
	uint16_t id; /* echo; "unused" in errors */
	uint16_t seq;
} __attribute__((packed));
_Static_assert(sizeof(struct icmp_hdr) == ICMP_HLEN, "ICMP header");

static uint16_t icmp_csum(const void *hdr, uint32_t hlen, const void *data, uint32_t dlen)
{
	/* hlen is even, so data's words line up. */
	return usnet_csum_fold(usnet_csum_add(usnet_csum_add(0, hdr, hlen), data, dlen));
}

static struct usnet_icmp *endpoint(struct usnet_stack *st, uint16_t id)
{
	for (struct usnet_icmp *e = st->icmp_list; e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

static void echo_reply(struct usnet_stack *st, struct ip_dgram *d)
{
	struct icmp_hdr h;
	struct route rt;

	/* RFC 1122 3.2.2.6: an echo request to a broadcast address MAY be
	 * silently discarded; answering invites smurf amplification. */
	if (d->bcast) {
		st->c.icmp_echo_bcast++;
		return;
	}
	/* RFC 792: type 0, same identifier, sequence number and data. */
	memcpy(&h, d->l4, ICMP_HLEN);
	h.type = ICMP_ECHO_REPLY;
	h.code = 0;
	h.csum = 0;
	h.csum = icmp_csum(&h, ICMP_HLEN, d->l4 + ICMP_HLEN, d->l4_len - ICMP_HLEN);
	if (ip_route(st, d->src, &rt))
		return;
	/* RFC 1122 3.2.2.6: the reply's source is the request's destination. */
	rt.src = d->dst;
	if (ip_send_copy(st, &rt, d->src, USNET_IPPROTO_ICMP, st->conf.ttl, &h, ICMP_HLEN,
			 d->l4 + ICMP_HLEN, d->l4_len - ICMP_HLEN) == 0)
		st->c.icmp_tx_echo_reply++;
}

static void to_endpoint(struct usnet_stack *st, struct ip_dgram *d, const struct icmp_hdr *echo,
			uint8_t type, uint8_t code, uint32_t off, uint32_t len)
{
	struct usnet_icmp *e = endpoint(st, ntohs(echo->id));
	struct stk_msg m;

	if (!e) {
		st->c.icmp_echo_no_endpoint++;
		return;
	}
	memset(&m, 0, sizeof(m));
	m.echo.from = d->src;
	m.echo.id = ntohs(echo->id);
	m.echo.seq = ntohs(echo->seq);
	m.echo.ttl = d->ip.ttl;
	m.echo.type = type;
	m.echo.code = code;
	m.echo.len = (uint16_t)len;
	m.echo.rx_ns = st->now;
	m.from.ip = d->src;
	if (!stk_msgq_push(&e->s.q, d, off, len, &m)) {
		st->c.icmp_echo_no_endpoint++;
		return;
	}
	if (type == ICMP_ECHO_REPLY)
		st->c.icmp_rx_echo_reply++;
	stk_sock_ready(&e->s);
}

static int unreach_errno(uint8_t type, uint8_t code)
{
	if (type == ICMP_TIME_EXCEEDED)
		return -EHOSTUNREACH;
	if (type == ICMP_PARAM_PROBLEM)
		return -EPROTO;
	switch (code) {
	case UNREACH_NET:
		return -ENETUNREACH;
	case UNREACH_HOST:
		return -EHOSTUNREACH;
	case UNREACH_PORT:
		return -ECONNREFUSED;
	case UNREACH_NEEDFRAG:
		return -EMSGSIZE;
	default:
		return -EPROTO;
	}
}

/* RFC 1122 3.2.2.1 / 4.1.3.3: an error quoting one of our datagrams goes
 * to the transport endpoint that sent it. The quote is the datagram's IP
 * header and at least its first 8 bytes (RFC 792). */
static void error_input(struct usnet_stack *st, struct ip_dgram *d, const struct icmp_hdr *h)
{
	const uint8_t *q = d->l4 + ICMP_HLEN;
	uint32_t qlen = d->l4_len - ICMP_HLEN, qhl;
	const struct usnet_ipv4_hdr *qip = (const struct usnet_ipv4_hdr *)q;
	const uint8_t *ql4;

	if (h->type == ICMP_UNREACH)
		st->c.icmp_rx_unreach++;
	else if (h->type == ICMP_TIME_EXCEEDED)
		st->c.icmp_rx_time_exceeded++;
	else
		st->c.icmp_rx_param_problem++;
	if (qlen < 20 + 8 || qip->ver_ihl >> 4 != 4)
		goto bad;
	qhl = (uint32_t)(qip->ver_ihl & 0xf) * 4;
	if (qhl < 20 || qlen < qhl + 8 || !stk_is_local(st, ntohl(qip->src)) ||
	    (ntohs(qip->frag_off) & IP_OFFMASK))
		goto bad;
	ql4 = q + qhl;
	if (qip->proto == USNET_IPPROTO_UDP) {
		const struct usnet_udp_hdr *u = (const struct usnet_udp_hdr *)ql4;

		udp_icmp_error(st, ntohl(qip->src), ntohs(u->sport), ntohl(qip->dst),
			       ntohs(u->dport), unreach_errno(h->type, h->code));
		return;
	}
	if (qip->proto == USNET_IPPROTO_TCP) {
		const struct usnet_tcp_hdr *t = (const struct usnet_tcp_hdr *)ql4;

		/* The quote's first 8 bytes hold the ports and the sequence number. */
		tcp_icmp_error(st, ntohl(qip->src), ntohs(t->sport), ntohl(qip->dst),
			       ntohs(t->dport), ntohl(t->seq), unreach_errno(h->type, h->code));
		return;
	}
	if (qip->proto == USNET_IPPROTO_ICMP && ql4[0] == ICMP_ECHO_REQUEST) {
		to_endpoint(st, d, (const struct icmp_hdr *)ql4, h->type, h->code, 0, 0);
		return;
	}
	return;
bad:
	st->c.icmp_err_bad++;
}

void icmp_input(struct usnet_stack *st, struct ip_dgram *d)
{
	const struct icmp_hdr *h = (const struct icmp_hdr *)d->l4;

	st->c.icmp_rx++;
	if (d->l4_len < ICMP_HLEN) {
		st->c.icmp_short++;
		goto out;
	}
	/* RFC 1122 3.2.2: a bad checksum is silently discarded. */
	if (usnet_csum_fold(usnet_csum_add(0, d->l4, d->l4_len)) != 0) {
		st->c.icmp_bad_csum++;
		goto out;
	}
	switch (h->type) {
	case ICMP_ECHO_REQUEST:
		st->c.icmp_rx_echo_request++;
		echo_reply(st, d);
		break;
	case ICMP_ECHO_REPLY:
		to_endpoint(st, d, h, ICMP_ECHO_REPLY, h->code, ICMP_HLEN, d->l4_len - ICMP_HLEN);
		break;
	case ICMP_UNREACH:
	case ICMP_TIME_EXCEEDED:
	case ICMP_PARAM_PROBLEM: /* RFC 1122 3.2.2.5: MUST be passed to the transport */
		/* RFC 1122 3.2.2: errors about errors or broadcasts never come
		 * from a correct host; a broadcast error is still only ours
		 * if it quotes our datagram, which error_input() checks. */
		error_input(st, d, h);
		break;
	default:
		st->c.icmp_unknown_type++;
		break;
	}
out:
	stk_dgram_free(d);
}

/* Token bucket: icmp_unreach_per_s, bursts of icmp_unreach_burst
 * (RFC 1812 4.3.2.8 and RFC 1122 3.2.2 say "limit the rate"). */
static bool unreach_allowed(struct usnet_stack *st)
{
	double add = (double)(st->now - st->unreach_tokens_at) * 1e-9 * st->conf.icmp_unreach_per_s;

	st->unreach_tokens_at = st->now;
	st->unreach_tokens += add;
	if (st->unreach_tokens > st->conf.icmp_unreach_burst)
		st->unreach_tokens = st->conf.icmp_unreach_burst;
	if (st->unreach_tokens < 1.0)
		return false;
	st->unreach_tokens -= 1.0;
	return true;
}

/* An ICMP error about a datagram we received: header ip (our copy of its
 * fixed part), the first bytes of its payload. */
static bool send_error(struct usnet_stack *st, uint8_t type, uint8_t code,
		       const struct usnet_ipv4_hdr *ip, const uint8_t *l4, uint32_t l4_len)
{
	struct {
		struct icmp_hdr h;
		struct usnet_ipv4_hdr ip;
		uint8_t l4[8];
	} __attribute__((packed)) m;
	uint32_t n = l4_len < 8 ? l4_len : 8;
	struct route rt;

	if (!unreach_allowed(st)) {
		st->c.icmp_unreach_limited++;
		return false;
	}
	memset(&m, 0, sizeof(m));
	m.h.type = type;
	m.h.code = code;
	/* The quoted header as received, without its options (our copy has
	 * only the fixed part), so IHL says 5 and the checksum is redone. */
	m.ip = *ip;
	m.ip.ver_ihl = 0x45;
	m.ip.csum = 0;
	m.ip.csum = usnet_ipv4_csum(&m.ip);
	memcpy(m.l4, l4, n);
	m.h.csum = icmp_csum(&m, (uint32_t)(sizeof(m) - 8 + n), NULL, 0);
	if (ip_route(st, ntohl(ip->src), &rt))
		return false;
	rt.src = ntohl(ip->dst);
	return ip_send_copy(st, &rt, ntohl(ip->src), USNET_IPPROTO_ICMP, st->conf.ttl, &m,
			    (uint32_t)(sizeof(m) - 8 + n), NULL, 0) == 0;
}

void icmp_send_unreach(struct usnet_stack *st, const struct ip_dgram *d, uint8_t code)
{
	/* RFC 1122 3.2.2: never about a broadcast, never about an ICMP error
	 * (we only call this for UDP and unknown protocols). */
	if (d->bcast)
		return;
	if (send_error(st, ICMP_UNREACH, code, &d->ip, d->l4, d->l4_len))
		st->c.icmp_tx_unreach++;
}

void icmp_send_reasm_timeout(struct usnet_stack *st, const struct usnet_ipv4_hdr *ip,
			     const uint8_t *l4, uint32_t l4_len)
{
	uint32_t dst = ntohl(ip->dst);

	/* RFC 1122 3.2.2 again: not about a datagram sent to a broadcast. */
	if (dst == IPV4_BCAST)
		return;
	for (unsigned i = 0; i < st->nifc; i++)
		if (dst == st->ifc[i].bcast)
			return;
	/* RFC 792: time exceeded, code 1 "fragment reassembly time exceeded". */
	if (send_error(st, ICMP_TIME_EXCEEDED, 1, ip, l4, l4_len))
		st->c.icmp_tx_time_exceeded++;
}

/* --- echo endpoints --- */

int usnet_icmp_open(struct usnet_stack *st, struct usnet_icmp **out, uint16_t id, void *user)
{
	struct usnet_icmp *e;

	if (endpoint(st, id))
		return usnet_error(EADDRINUSE, "stack: an ICMP endpoint has id %u already", id);
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	if (stk_msgq_init(&e->s.q, ICMP_QUEUE_LEN, ICMP_QUEUE_BYTES)) {
		free(e);
		return -ENOMEM;
	}
	e->s.st = st;
	e->s.user = user;
	e->s.kind = STK_ICMP;
	e->id = id;
	e->next = st->icmp_list;
	st->icmp_list = e;
	*out = e;
	return 0;
}

void usnet_icmp_close(struct usnet_icmp *e)
{
	struct usnet_icmp **pp;

	if (!e)
		return;
	for (pp = &e->s.st->icmp_list; *pp != e; pp = &(*pp)->next)
		;
	*pp = e->next;
	stk_sock_fini(&e->s);
	free(e);
}

int usnet_icmp_echo_send(struct usnet_icmp *e, uint32_t dst, uint16_t seq, const void *payload,
			 size_t len, uint8_t ttl)
{
	struct usnet_stack *st = e->s.st;
	struct icmp_hdr h;
	struct route rt;
	int err;

	if (len > 65507 - ICMP_HLEN)
		return -EMSGSIZE;
	if (len && !payload)
		return -EINVAL;
	st->now = st->conf.clock(st->conf.clock_ctx);
	err = ip_route(st, dst, &rt);
	if (err)
		return err;
	h.type = ICMP_ECHO_REQUEST;
	h.code = 0;
	h.csum = 0;
	h.id = htons(e->id);
	h.seq = htons(seq);
	h.csum = icmp_csum(&h, ICMP_HLEN, payload, (uint32_t)len);
	err = ip_send_copy(st, &rt, dst, USNET_IPPROTO_ICMP, ttl ? ttl : st->conf.ttl, &h,
			   ICMP_HLEN, payload, (uint32_t)len);
	stk_tx_sent(st, rt.ifc);
	return err;
}

int usnet_icmp_echo_recv(struct usnet_icmp *e, struct usnet_icmp_echo *echo, void *buf, size_t len)
{
	struct stk_msg m;
	int n;

	if (!stk_msgq_pop(&e->s.q, &m))
		return -EAGAIN;
	if (echo)
		*echo = m.echo;
	if (buf && len)
		memcpy(buf, m.data, len < m.len ? len : m.len);
	n = m.len;
	stk_msg_free(&m);
	return n;
}

uint32_t usnet_icmp_events(const struct usnet_icmp *e)
{
	struct usnet_pool_stats ps;
	uint32_t ev = e->s.q.n ? USNET_EV_READ : 0;

	if (e->s.st->nifc) {
		usnet_pool_get_stats(e->s.st->ifc[0].pool, &ps);
		if (ps.available)
			ev |= USNET_EV_WRITE;
	}
	return ev;
}
