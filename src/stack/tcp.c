/* SPDX-License-Identifier: MIT */
/*
 * TCP sockets and connections: the API of <usnet/tcp.h>, the 4-tuple hash
 * and the port hash (listeners, bound sockets), ephemeral ports, the
 * accept queue, TIME_WAIT and its bound, closing and freeing connections.
 * Segment processing is tcp_input.c; sending is tcp_output.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <usnet/log.h>

#include "tcp_impl.h"

#define TCP_MAX_BUF (1u << 30)

/* --- the stack's part --- */

int tcp_init(struct usnet_stack *st)
{
	struct tcp_stack *t = calloc(1, sizeof(*t));
	uint32_t n = 1024;
	uint64_t keys[6];

	if (!t)
		return -ENOMEM;
	while (n < st->conf.tcp_sockets && n < (1u << 20))
		n <<= 1;
	t->hash = calloc(n, sizeof(*t->hash));
	if (!t->hash) {
		free(t);
		return -ENOMEM;
	}
	t->hmask = n - 1;
	/* RFC 6528 3: the secret; RFC 4086 randomness from the kernel. */
	if (getrandom(keys, sizeof(keys), 0) != (ssize_t)sizeof(keys)) {
		free(t->hash);
		free(t);
		return usnet_error(EIO, "stack: getrandom failed");
	}
	memcpy(t->isn_key, keys, 16);
	memcpy(t->cookie_key, keys + 2, 16);
	memcpy(t->ts_key, keys + 4, 16);
	st->tcp = t;
	return 0;
}

static uint32_t tuple_bucket(const struct tcp_stack *t, uint32_t lip, uint16_t lport, uint32_t rip,
			     uint16_t rport)
{
	/* A keyed mix (the ISN key's first word): a peer that picks its
	 * ports cannot aim at one chain. */
	uint64_t h = ((uint64_t)rip << 32 | (uint32_t)rport << 16 | lport) ^ t->isn_key[0];

	h ^= (uint64_t)lip * 0x9e3779b97f4a7c15ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return (uint32_t)h & t->hmask;
}

static uint32_t port_bucket(uint16_t port)
{
	return (uint32_t)((port * 0x9e37u) >> 4) & (TCP_LHASH - 1);
}

struct usnet_tcp *tcp_lookup(struct usnet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
			     uint16_t rport)
{
	struct tcp_stack *t = st->tcp;

	for (struct usnet_tcp *c = t->hash[tuple_bucket(t, lip, lport, rip, rport)]; c;
	     c = c->hnext)
		if (c->lport == lport && c->rport == rport && c->lip == lip && c->rip == rip)
			return c;
	return NULL;
}

struct usnet_tcp *tcp_listener(struct usnet_stack *st, uint32_t lip, uint16_t lport)
{
	struct usnet_tcp *wild = NULL;

	for (struct usnet_tcp *c = st->tcp->lhash[port_bucket(lport)]; c; c = c->lnext) {
		if (c->state != USNET_TCP_LISTEN || c->lport != lport)
			continue;
		if (c->lip == lip)
			return c;
		if (!c->lip)
			wild = c;
	}
	return wild;
}

void tcp_hash_add(struct usnet_tcp *c)
{
	struct tcp_stack *t = c->s.st->tcp;
	uint32_t b = tuple_bucket(t, c->lip, c->lport, c->rip, c->rport);

	c->hnext = t->hash[b];
	t->hash[b] = c;
	c->hashed = true;
}

static void hash_del(struct usnet_tcp *c)
{
	struct tcp_stack *t = c->s.st->tcp;
	struct usnet_tcp **pp;

	if (!c->hashed)
		return;
	pp = &t->hash[tuple_bucket(t, c->lip, c->lport, c->rip, c->rport)];
	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	c->hashed = false;
}

static void lhash_add(struct usnet_tcp *c)
{
	struct tcp_stack *t = c->s.st->tcp;
	uint32_t b = port_bucket(c->lport);

	c->lnext = t->lhash[b];
	t->lhash[b] = c;
	c->lhashed = true;
}

static void lhash_del(struct usnet_tcp *c)
{
	struct usnet_tcp **pp;

	if (!c->lhashed)
		return;
	pp = &c->s.st->tcp->lhash[port_bucket(c->lport)];
	while (*pp != c)
		pp = &(*pp)->lnext;
	*pp = c->lnext;
	c->lhashed = false;
}

/* --- connections: creation and freeing --- */

struct usnet_tcp *tcp_conn_new(struct usnet_stack *st, void *user)
{
	struct tcp_stack *t = st->tcp;
	struct usnet_tcp *c;

	if (t->count >= st->conf.tcp_sockets) {
		st->c.tcp_sock_limit++;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->s.st = st;
	c->s.user = user;
	c->s.kind = STK_TCP;
	c->state = USNET_TCP_CLOSED;
	c->rcvbuf = st->conf.tcp_rcvbuf;
	c->sndbuf = st->conf.tcp_sndbuf;
	c->mss = 536;
	c->adv_mss = 536;
	c->anext = t->all;
	if (c->anext)
		c->anext->aprev = c;
	t->all = c;
	t->count++;
	return c;
}

static void tw_unlink(struct usnet_tcp *c)
{
	struct tcp_stack *t = c->s.st->tcp;

	if (c->state != USNET_TCP_TIME_WAIT || (!c->twprev && t->tw_head != c))
		return;
	if (c->twprev)
		c->twprev->twnext = c->twnext;
	else
		t->tw_head = c->twnext;
	if (c->twnext)
		c->twnext->twprev = c->twprev;
	else
		t->tw_tail = c->twprev;
	c->twnext = c->twprev = NULL;
	t->tw_n--;
}

/* Take child c off its listener's queues. */
static void child_unlink(struct usnet_tcp *c)
{
	struct usnet_tcp *l = c->listener, **pp;

	if (!l)
		return;
	if (c->state == USNET_TCP_SYN_RECEIVED) {
		l->syn_n--;
	} else {
		struct usnet_tcp *prev = NULL;

		for (pp = &l->acc_head; *pp && *pp != c; pp = &(*pp)->acc_next)
			prev = *pp;
		if (*pp) {
			*pp = c->acc_next;
			if (l->acc_tail == c)
				l->acc_tail = prev;
			l->acc_n--;
		}
	}
	c->listener = NULL;
}

static void conn_free(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_stack *t = st->tcp;

	tcp_send_fini(c);
	child_unlink(c);
	tw_unlink(c);
	hash_del(c);
	lhash_del(c);
	tcp_rcvq_fini(&c->rq);
	if (c->aprev)
		c->aprev->anext = c->anext;
	else
		t->all = c->anext;
	if (c->anext)
		c->anext->aprev = c->aprev;
	stk_sock_fini(&c->s);
	t->count--;
	free(c);
}

/* The connection is over: CLOSED for an application that still holds it
 * (with err), freed otherwise. */
static void conn_end(struct usnet_tcp *c, int err)
{
	if (err == -ETIMEDOUT && c->soft_err)
		err = c->soft_err; /* RFC 1122 4.2.3.9: say why, if we know */
	tcp_send_fini(c);
	tw_unlink(c);
	hash_del(c);
	if (c->user_closed) {
		conn_free(c);
		return;
	}
	c->state = USNET_TCP_CLOSED;
	if (err) {
		c->err = err;
		c->s.err = err;
	}
	tcp_wake(c);
}

void tcp_conn_drop(struct usnet_tcp *c, int err)
{
	conn_end(c, err);
}

/* A RST for c's connection from its own state (RFC 9293 3.10.4 ABORT). */
static void send_rst(struct usnet_tcp *c)
{
	struct tcp_bare b = {.src = c->lip,
			     .dst = c->rip,
			     .sport = c->lport,
			     .dport = c->rport,
			     .seq = c->snd_nxt,
			     .ack = c->rcv_nxt,
			     .flags = TCP_RST | TCP_ACK};

	tcp_send_bare(c->s.st, &b);
}

void tcp_abort_conn(struct usnet_tcp *c)
{
	switch (c->state) {
	case USNET_TCP_SYN_RECEIVED:
	case USNET_TCP_ESTABLISHED:
	case USNET_TCP_FIN_WAIT_1:
	case USNET_TCP_FIN_WAIT_2:
	case USNET_TCP_CLOSE_WAIT:
		send_rst(c);
		break;
	default:
		break;
	}
}

void tcp_time_wait_enter(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_stack *t = st->tcp;

	c->state = USNET_TCP_TIME_WAIT;
	tcp_timer_stop(c, TCP_T_RTO);
	tcp_timer_stop(c, TCP_T_PERSIST);
	tcp_timer_stop(c, TCP_T_KEEPALIVE);
	tcp_timer_set(c, TCP_T_TIMEWAIT, st->now + (uint64_t)st->conf.tcp_time_wait_ms * 1000000u);
	c->twnext = NULL;
	c->twprev = t->tw_tail;
	if (t->tw_tail)
		t->tw_tail->twnext = c;
	else
		t->tw_head = c;
	t->tw_tail = c;
	t->tw_n++;
	tcp_wake(c);
	/* The bound: the oldest goes early (its 4-tuple may be reused). */
	while (t->tw_n > st->conf.tcp_max_time_wait && t->tw_head != c) {
		st->c.tcp_time_wait_recycled++;
		conn_end(t->tw_head, 0);
	}
}

void tcp_time_wait_expired(struct usnet_tcp *c)
{
	if (c->state == USNET_TCP_FIN_WAIT_2)
		c->s.st->c.tcp_fin_wait2_timeout++;
	conn_end(c, c->state == USNET_TCP_FIN_WAIT_2 ? -ETIMEDOUT : 0);
}

void tcp_close_all(struct usnet_stack *st)
{
	if (!st->tcp)
		return;
	while (st->tcp->all)
		conn_free(st->tcp->all);
	tcp_timer_fini(st);
	free(st->tcp->hash);
	free(st->tcp);
	st->tcp = NULL;
}

void tcp_wake(struct usnet_tcp *c)
{
	if (!c->user_closed)
		stk_sock_ready(&c->s);
}

uint16_t tcp_rcv_wnd_field(struct usnet_tcp *c, bool syn)
{
	uint32_t space = c->rcvbuf > c->rq.bytes ? c->rcvbuf - c->rq.bytes : 0;
	uint32_t cur, step, w, field;
	uint8_t ws;

	if (syn) {
		/* RFC 7323 2.2: a SYN's window is never scaled. */
		w = space < 65535 ? space : 65535;
		c->rcv_adv = c->rcv_nxt + w;
		c->rcv_wnd = w;
		return (uint16_t)w;
	}
	ws = c->ws_on ? c->rcv_wscale : 0;
	cur = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	/* RFC 9293 3.8.6.2.2 (receiver SWS avoidance): the right edge moves
	 * on by min(RCV.BUFF / 2, Eff.snd.MSS) at least, and never back. */
	step = c->rcvbuf / 2 < c->adv_mss ? c->rcvbuf / 2 : c->adv_mss;
	w = space > cur && space - cur >= step ? space : cur;
	if (w > 65535u << ws)
		w = 65535u << ws;
	field = w >> ws;
	if (field < 65535 && seq_lt(c->rcv_nxt + (field << ws), c->rcv_adv))
		field++; /* rounding must not pull the edge back */
	w = field << ws;
	if (seq_geq(c->rcv_nxt + w, c->rcv_adv))
		c->rcv_adv = c->rcv_nxt + w;
	c->rcv_wnd = w;
	return (uint16_t)field;
}

/* --- the accept queue --- */

void tcp_child_established(struct usnet_tcp *c)
{
	struct usnet_tcp *l = c->listener;

	if (!l)
		return;
	l->syn_n--;
	c->acc_next = NULL;
	if (l->acc_tail)
		l->acc_tail->acc_next = c;
	else
		l->acc_head = c;
	l->acc_tail = c;
	l->acc_n++;
	stk_sock_ready(&l->s);
}

/* --- the API --- */

/* As every send call: what an API call made goes to the port now unless
 * conf.tx_defer. */
static void api_flush(struct usnet_stack *st)
{
	if (!st->conf.tx_defer)
		stk_flush_all(st);
}

const char *usnet_tcp_state_name(int state)
{
	static const char *const names[] = {
	    "CLOSED",	  "LISTEN",	"SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "FIN_WAIT_1",
	    "FIN_WAIT_2", "CLOSE_WAIT", "CLOSING",  "LAST_ACK",	    "TIME_WAIT",
	};

	if (state < 0 || state > USNET_TCP_TIME_WAIT)
		return "?";
	return names[state];
}

int usnet_tcp_open(struct usnet_stack *st, struct usnet_tcp **out, void *user)
{
	struct usnet_tcp *c;

	if (!st || !out)
		return -EINVAL;
	if (st->tcp->count >= st->conf.tcp_sockets)
		return usnet_error(EMFILE, "stack: %u TCP sockets open already",
				   st->conf.tcp_sockets);
	c = tcp_conn_new(st, user);
	if (!c)
		return -ENOMEM;
	*out = c;
	return 0;
}

static bool port_taken(struct usnet_stack *st, uint32_t ip, uint16_t port)
{
	for (struct usnet_tcp *c = st->tcp->lhash[port_bucket(port)]; c; c = c->lnext)
		if (c->lport == port && (!c->lip || !ip || c->lip == ip))
			return true;
	return false;
}

/* The next ephemeral port (RFC 6056 3.3.1's scheme) that ok() accepts. */
static uint16_t ephemeral(struct usnet_stack *st, uint32_t ip, uint32_t rip, uint16_t rport)
{
	uint32_t range = (uint32_t)st->conf.ephemeral_max - st->conf.ephemeral_min + 1;

	for (uint32_t i = 0; i < range; i++) {
		uint16_t p = st->ephemeral_next;

		st->ephemeral_next =
		    p == st->conf.ephemeral_max ? st->conf.ephemeral_min : (uint16_t)(p + 1);
		if (port_taken(st, ip, p))
			continue;
		if (rip && tcp_lookup(st, ip, p, rip, rport))
			continue;
		return p;
	}
	return 0;
}

int usnet_tcp_bind(struct usnet_tcp *s, uint32_t ip, uint16_t port)
{
	struct usnet_stack *st = s->s.st;

	if (s->bound || s->state != USNET_TCP_CLOSED)
		return usnet_error(EINVAL, "stack: TCP socket already bound");
	if (ip && !stk_is_local(st, ip))
		return usnet_error(EADDRNOTAVAIL, "stack: not one of the stack's addresses");
	if (!port) {
		port = ephemeral(st, ip, 0, 0);
		if (!port)
			return usnet_error(EADDRINUSE, "stack: no ephemeral TCP port free");
	} else if (port_taken(st, ip, port)) {
		return usnet_error(EADDRINUSE, "stack: TCP port %u in use", port);
	}
	s->lip = ip;
	s->lport = port;
	s->bound = true;
	lhash_add(s);
	return 0;
}

int usnet_tcp_listen(struct usnet_tcp *s, uint32_t backlog)
{
	int err;

	if (s->state == USNET_TCP_LISTEN) {
		s->acc_max = backlog ? backlog : 128;
		return 0;
	}
	if (s->state != USNET_TCP_CLOSED || s->err)
		return usnet_error(EINVAL, "stack: listen on a connected socket");
	if (!s->bound) {
		err = usnet_tcp_bind(s, 0, 0);
		if (err)
			return err;
	}
	s->acc_max = backlog ? backlog : 128;
	s->state = USNET_TCP_LISTEN;
	return 0;
}

int usnet_tcp_accept(struct usnet_tcp *s, struct usnet_tcp **out, void *user,
		     struct usnet_addr4 *peer)
{
	struct usnet_tcp *c;

	if (s->state != USNET_TCP_LISTEN || !out)
		return -EINVAL;
	c = s->acc_head;
	if (!c)
		return -EAGAIN;
	s->acc_head = c->acc_next;
	if (!s->acc_head)
		s->acc_tail = NULL;
	s->acc_n--;
	c->acc_next = NULL;
	c->listener = NULL;
	c->user_closed = false;
	c->s.user = user;
	if (peer) {
		peer->ip = c->rip;
		peer->port = c->rport;
	}
	/* What happened before accept() is news to the application. */
	if (c->rq.bytes || c->fin_rcvd || c->s.err || c->state == USNET_TCP_CLOSED)
		stk_sock_ready(&c->s);
	*out = c;
	return 0;
}

/* Our MSS to announce and the one to send with, from the route's MTU
 * (RFC 9293 3.7.1: MTU - 40; 536 without the peer's option). */
uint16_t tcp_route_mss(const struct route *rt)
{
	uint32_t m = ip_max_l4(rt) - 20;

	return (uint16_t)(m > 65535 ? 65535 : m);
}

/* The smallest shift that lets a 16-bit window cover buf (RFC 7323 2.3). */
uint8_t tcp_wscale_for(uint32_t buf)
{
	uint8_t ws = 0;

	while (ws < 14 && (65535u << ws) < buf)
		ws++;
	return ws;
}

int usnet_tcp_connect(struct usnet_tcp *s, uint32_t ip, uint16_t port)
{
	struct usnet_stack *st = s->s.st;
	struct tcp_tuple tu;
	struct route rt;
	uint16_t lport;
	int err;

	if (s->state == USNET_TCP_SYN_SENT)
		return -EALREADY;
	if (s->state != USNET_TCP_CLOSED)
		return s->state == USNET_TCP_LISTEN ? -EINVAL : -EISCONN;
	if (s->err || s->fin_sent || s->snd_max)
		return -EISCONN; /* a socket connects once */
	if (!ip || !port || !ip_unicast_src_ok(ip))
		return usnet_error(EINVAL, "stack: connect needs a unicast address and a port");
	st->now = st->conf.clock(st->conf.clock_ctx);
	err = ip_route(st, ip, &rt);
	if (err)
		return err;
	tu.lip = s->lip ? s->lip : rt.src;
	if (s->bound) {
		lport = s->lport;
		if (tcp_lookup(st, tu.lip, lport, ip, port))
			return -EADDRINUSE;
	} else {
		lport = ephemeral(st, tu.lip, ip, port);
		if (!lport)
			return usnet_error(EADDRNOTAVAIL, "stack: no ephemeral TCP port free");
	}
	tu.lport = lport;
	tu.rip = ip;
	tu.rport = port;
	s->lip = tu.lip;
	s->lport = lport;
	s->rip = ip;
	s->rport = port;
	s->adv_mss = tcp_route_mss(&rt);
	s->mss = 536;
	s->rcv_wscale = tcp_wscale_for(s->rcvbuf);
	/* In a SYN we offer all of them; the SYN-ACK says which stay on. */
	s->ws_on = s->sack_on = s->ts_on = true;
	s->ts_offset = tcp_ts_offset(st->tcp->ts_key, &tu);
	s->iss = tcp_isn(st->tcp->isn_key, &tu, st->now);
	s->snd_una = s->snd_nxt = s->snd_max = s->iss;
	s->state = USNET_TCP_SYN_SENT;
	s->passive = false;
	tcp_hash_add(s);
	tcp_send_init(s);
	st->c.tcp_active_opens++;
	err = tcp_send_syn(s);
	if (err && err != -ENOBUFS && err != -EAGAIN) {
		/* Nothing went out and no retry will (no route...). */
		tcp_send_fini(s);
		hash_del(s);
		s->state = USNET_TCP_CLOSED;
		return err;
	}
	return -EINPROGRESS;
}

long usnet_tcp_send(struct usnet_tcp *s, const void *buf, size_t len)
{
	uint32_t n;
	int err;

	if (len && !buf)
		return -EINVAL;
	if (s->s.err) {
		err = s->s.err;
		s->s.err = 0;
		return err;
	}
	switch (s->state) {
	case USNET_TCP_ESTABLISHED:
	case USNET_TCP_CLOSE_WAIT:
		break;
	case USNET_TCP_LISTEN:
	case USNET_TCP_SYN_SENT:
	case USNET_TCP_SYN_RECEIVED:
		return -ENOTCONN;
	case USNET_TCP_CLOSED:
		return s->snd_max ? -EPIPE : -ENOTCONN;
	default:
		return -EPIPE;
	}
	if (s->shut_wr)
		return -EPIPE;
	if (!len)
		return 0;
	s->s.st->now = s->s.st->conf.clock(s->s.st->conf.clock_ctx);
	n = tcp_sndq_append(s, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
	if (!n)
		return -EAGAIN;
	tcp_output(s);
	api_flush(s->s.st);
	return n;
}

static bool readable_state(const struct usnet_tcp *s)
{
	return s->state >= USNET_TCP_ESTABLISHED || s->fin_rcvd;
}

/* After the application took bytes: announce the window if it opened
 * enough (RFC 9293 3.8.6.2.2: by min(RCV.BUFF / 2, MSS) at least). */
static void window_opened(struct usnet_tcp *s)
{
	uint32_t space, cur, step;

	if (s->state < USNET_TCP_ESTABLISHED || s->state == USNET_TCP_TIME_WAIT || s->fin_rcvd)
		return;
	space = s->rcvbuf - s->rq.bytes;
	cur = seq_gt(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	step = s->rcvbuf / 2 < s->adv_mss ? s->rcvbuf / 2 : s->adv_mss;
	/* Linux's rule of thumb too: an update when the window at least
	 * doubles, or grows from below the step. */
	if (space > cur && space - cur >= step && (cur < step || space >= 2 * cur)) {
		s->ack_now = true;
		tcp_output(s);
		api_flush(s->s.st);
	}
}

long usnet_tcp_recv(struct usnet_tcp *s, void *buf, size_t len)
{
	uint32_t n;

	if (len && !buf)
		return -EINVAL;
	if (s->state == USNET_TCP_LISTEN)
		return -ENOTCONN;
	if (s->rq.bytes && len && !s->shut_rd) {
		n = tcp_rcvq_copy(&s->rq, buf, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len);
		window_opened(s);
		return n;
	}
	if (s->fin_rcvd || s->shut_rd)
		return 0;
	if (s->s.err) {
		long err = s->s.err;

		s->s.err = 0;
		return err;
	}
	if (s->state == USNET_TCP_CLOSED)
		return s->snd_max ? 0 : -ENOTCONN;
	if (!readable_state(s))
		return s->state == USNET_TCP_SYN_SENT || s->state == USNET_TCP_SYN_RECEIVED
			   ? -EAGAIN
			   : -ENOTCONN;
	return len ? -EAGAIN : 0;
}

int usnet_tcp_recv_peek(struct usnet_tcp *s, struct usnet_tcp_iov *iov, int n)
{
	if (!iov || n <= 0)
		return -EINVAL;
	if (s->shut_rd)
		return 0;
	return tcp_rcvq_peek(&s->rq, iov, n);
}

int usnet_tcp_recv_consume(struct usnet_tcp *s, size_t bytes)
{
	if (bytes > s->rq.bytes)
		return -EINVAL;
	tcp_rcvq_consume(&s->rq, (uint32_t)bytes);
	window_opened(s);
	return 0;
}

/* RFC 9293 3.10.4 CLOSE for the sending direction: a FIN goes after the
 * queued data (tcp_output sends it once c->shut_wr and all is sent). */
static void shut_write(struct usnet_tcp *s)
{
	if (s->shut_wr)
		return;
	switch (s->state) {
	case USNET_TCP_ESTABLISHED:
		s->shut_wr = true;
		s->state = USNET_TCP_FIN_WAIT_1;
		break;
	case USNET_TCP_CLOSE_WAIT:
		s->shut_wr = true;
		s->state = USNET_TCP_LAST_ACK;
		break;
	case USNET_TCP_SYN_SENT:
		s->shut_wr = true;
		conn_end(s, 0);
		return;
	default:
		s->shut_wr = true;
		return;
	}
	tcp_output(s);
	api_flush(s->s.st);
}

int usnet_tcp_shutdown(struct usnet_tcp *s, int how)
{
	if (how < USNET_SHUT_RD || how > USNET_SHUT_RDWR)
		return -EINVAL;
	if (s->state == USNET_TCP_LISTEN || (s->state == USNET_TCP_CLOSED && !s->snd_max))
		return -ENOTCONN;
	s->s.st->now = s->s.st->conf.clock(s->s.st->conf.clock_ctx);
	if (how & USNET_SHUT_RD) {
		s->shut_rd = true;
		tcp_rcvq_consume(&s->rq, s->rq.bytes);
	}
	if (how & USNET_SHUT_WR)
		shut_write(s);
	return 0;
}

static void listener_close(struct usnet_tcp *l)
{
	struct tcp_stack *t = l->s.st->tcp;

	/* Its children: established ones not accepted get a RST (as Linux
	 * does), half-open ones are forgotten. */
	for (struct usnet_tcp *c = t->all, *next; c; c = next) {
		next = c->anext;
		if (c->listener != l)
			continue;
		tcp_abort_conn(c);
		conn_free(c);
	}
	conn_free(l);
}

void usnet_tcp_close(struct usnet_tcp *s)
{
	struct usnet_stack *st;

	if (!s)
		return;
	st = s->s.st;
	st->now = st->conf.clock(st->conf.clock_ctx);
	if (s->state == USNET_TCP_LISTEN) {
		listener_close(s);
		return;
	}
	stk_sock_fini(&s->s);
	s->s.user = NULL;
	s->user_closed = true;
	switch (s->state) {
	case USNET_TCP_CLOSED:
	case USNET_TCP_SYN_SENT:
		conn_free(s);
		return;
	case USNET_TCP_TIME_WAIT:
		return; /* its timer frees it */
	default:
		break;
	}
	if (s->rq.bytes) {
		/* RFC 2525 2.17 / RFC 9293 3.10.4: data would be lost; say so. */
		st->c.tcp_close_unread++;
		send_rst(s);
		conn_free(s);
		return;
	}
	lhash_del(s);
	shut_write(s);
	if (s->state == USNET_TCP_FIN_WAIT_2)
		tcp_timer_set(s, TCP_T_TIMEWAIT,
			      st->now + (uint64_t)st->conf.tcp_fin_timeout_ms * 1000000u);
}

void usnet_tcp_abort(struct usnet_tcp *s)
{
	if (!s)
		return;
	if (s->state == USNET_TCP_LISTEN) {
		listener_close(s);
		return;
	}
	s->s.st->now = s->s.st->conf.clock(s->s.st->conf.clock_ctx);
	tcp_abort_conn(s);
	conn_free(s);
}

/* --- state and options --- */

uint32_t usnet_tcp_events(const struct usnet_tcp *s)
{
	uint32_t ev = s->s.err ? USNET_EV_ERROR : 0;

	if (s->state == USNET_TCP_LISTEN)
		return ev | (s->acc_n ? USNET_EV_READ : 0);
	if (s->rq.bytes || s->fin_rcvd || s->shut_rd ||
	    (s->state == USNET_TCP_CLOSED && s->snd_max))
		ev |= USNET_EV_READ;
	if ((s->state == USNET_TCP_ESTABLISHED || s->state == USNET_TCP_CLOSE_WAIT) &&
	    !s->shut_wr && tcp_sndq_bytes(s) < s->sndbuf)
		ev |= USNET_EV_WRITE;
	return ev;
}

uint32_t tcp_sock_events(const struct stk_sock *s)
{
	return usnet_tcp_events((const struct usnet_tcp *)s);
}

int usnet_tcp_error(struct usnet_tcp *s)
{
	int err = s->s.err;

	s->s.err = 0;
	return err;
}

int usnet_tcp_local(const struct usnet_tcp *s, struct usnet_addr4 *addr)
{
	if (!s->bound && !s->lport)
		return -EINVAL;
	addr->ip = s->lip;
	addr->port = s->lport;
	return 0;
}

int usnet_tcp_peer(const struct usnet_tcp *s, struct usnet_addr4 *addr)
{
	if (!s->rport)
		return -ENOTCONN;
	addr->ip = s->rip;
	addr->port = s->rport;
	return 0;
}

int usnet_tcp_set_nodelay(struct usnet_tcp *s, bool on)
{
	s->nodelay = on;
	if (on && s->state >= USNET_TCP_ESTABLISHED)
		tcp_output(s);
	return 0;
}

int usnet_tcp_set_cc(struct usnet_tcp *s, enum usnet_tcp_cc cc)
{
	if (cc != USNET_TCP_CC_CUBIC && cc != USNET_TCP_CC_NEWRENO)
		return -EINVAL;
	s->cc_kind = (uint8_t)cc;
	return 0;
}

int usnet_tcp_set_bufs(struct usnet_tcp *s, uint32_t sndbuf, uint32_t rcvbuf)
{
	const struct usnet_stack_conf *conf = &s->s.st->conf;

	if (s->state != USNET_TCP_CLOSED || s->snd_max)
		return usnet_error(EINVAL, "stack: buffer sizes before connect or listen");
	if ((sndbuf && (sndbuf < 4096 || sndbuf > TCP_MAX_BUF)) ||
	    (rcvbuf && (rcvbuf < 4096 || rcvbuf > TCP_MAX_BUF)))
		return usnet_error(EINVAL, "stack: TCP buffers in 4096..2^30 bytes");
	s->sndbuf = sndbuf ? sndbuf : conf->tcp_sndbuf;
	s->rcvbuf = rcvbuf ? rcvbuf : conf->tcp_rcvbuf;
	return 0;
}

int usnet_tcp_set_keepalive(struct usnet_tcp *s, uint32_t idle_ms, uint32_t intvl_ms,
			    uint32_t count)
{
	if (idle_ms && (!intvl_ms || !count))
		return -EINVAL;
	s->ka_idle_ms = idle_ms;
	s->ka_intvl_ms = intvl_ms;
	s->ka_count = count;
	s->ka_sent = 0;
	if (s->state >= USNET_TCP_ESTABLISHED && s->state != USNET_TCP_TIME_WAIT) {
		if (idle_ms)
			tcp_timer_set(s, TCP_T_KEEPALIVE,
				      s->s.st->now + (uint64_t)idle_ms * 1000000u);
		else
			tcp_timer_stop(s, TCP_T_KEEPALIVE);
	}
	return 0;
}

int usnet_tcp_info(const struct usnet_tcp *s, struct usnet_tcp_info *info)
{
	if (!info)
		return -EINVAL;
	*info = s->stats; /* the send side keeps rtt, cwnd, ... there */
	info->state = s->state;
	info->cc = s->cc_kind;
	info->sack = s->sack_on;
	info->timestamps = s->ts_on;
	info->wscale = s->ws_on;
	info->snd_wscale = s->ws_on ? s->snd_wscale : 0;
	info->rcv_wscale = s->ws_on ? s->rcv_wscale : 0;
	info->mss = s->mss;
	info->snd_wnd = s->snd_wnd;
	info->rcv_wnd = seq_gt(s->rcv_adv, s->rcv_nxt) ? s->rcv_adv - s->rcv_nxt : 0;
	info->in_flight = s->snd_max - s->snd_una;
	info->sndbuf_used = tcp_sndq_bytes(s);
	info->rcvbuf_used = s->rq.bytes;
	return 0;
}
