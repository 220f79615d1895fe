/* SPDX-License-Identifier: MIT */
/* The stack object: interfaces, the poll loop, waiting, TX batching, the
 * ready list of sockets and the message queues they share. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/time.h>

#include "stack_impl.h"
#include "tcp_impl.h"

static uint64_t default_clock(void *ctx)
{
	(void)ctx;
	return usnet_now_ns();
}

#define DEF(field, value)                                                                          \
	do {                                                                                       \
		if (!c->field)                                                                     \
			c->field = (value);                                                        \
	} while (0)

static int conf_defaults(struct usnet_stack_conf *c)
{
	DEF(arp_entries, 256);
	DEF(arp_reachable_ms, 30000);
	DEF(arp_stale_ms, 60000);
	DEF(arp_retrans_ms, 1000);
	DEF(arp_max_probes, 3);
	DEF(arp_failed_ms, 20000);
	DEF(arp_queue_len, 64);
	DEF(reasm_timeout_ms, 30000);
	DEF(reasm_mem_per_src, 262144);
	DEF(reasm_mem_total, 4194304);
	DEF(reasm_max_datagrams, 64);
	DEF(icmp_unreach_per_s, 100);
	DEF(icmp_unreach_burst, 20);
	DEF(udp_rcvbuf, 262144);
	DEF(udp_rcvq_len, 256);
	DEF(udp_sockets, 1024);
	DEF(tcp_sockets, 16384);
	DEF(tcp_sndbuf, 1048576);
	DEF(tcp_rcvbuf, 1048576);
	DEF(tcp_syn_backlog, 256);
	DEF(tcp_time_wait_ms, 60000);
	DEF(tcp_max_time_wait, 8192);
	DEF(tcp_fin_timeout_ms, 60000);
	DEF(tcp_min_rto_ms, 200);
	DEF(tcp_init_rto_ms, 1000);
	DEF(tcp_max_rto_ms, 120000);
	DEF(tcp_delack_ms, 40);
	DEF(tcp_syn_retries, 6);
	DEF(tcp_retries, 15);
	DEF(tcp_ooo_segs, 1024);
	DEF(ephemeral_min, 49152);
	DEF(ephemeral_max, 65535);
	DEF(ttl, 64);
	DEF(rx_burst, 32);
	if (!c->clock)
		c->clock = default_clock;
	if (c->arp_entries > 65536 || c->arp_queue_len > 1024 || c->arp_max_probes > 255)
		return usnet_error(EINVAL, "stack: arp_entries <= 65536, arp_queue_len <= 1024, "
					   "arp_max_probes <= 255");
	if (c->ephemeral_min > c->ephemeral_max)
		return usnet_error(EINVAL, "stack: ephemeral_min %u > ephemeral_max %u",
				   c->ephemeral_min, c->ephemeral_max);
	if (c->rx_burst > USNET_MAX_BURST)
		return usnet_error(EINVAL, "stack: rx_burst above %d", USNET_MAX_BURST);
	/* The window scale caps a window at 2^30 (RFC 7323 2.3); a buffer
	 * below 4096 bytes cannot hold two full segments. */
	if (c->tcp_rcvbuf < 4096 || c->tcp_rcvbuf > (1u << 30) || c->tcp_sndbuf < 4096 ||
	    c->tcp_sndbuf > (1u << 30))
		return usnet_error(EINVAL, "stack: tcp_sndbuf and tcp_rcvbuf in 4096..2^30");
	if (c->tcp_sockets > (1u << 22) || c->tcp_ooo_segs > 65536)
		return usnet_error(EINVAL, "stack: tcp_sockets <= 4194304, tcp_ooo_segs <= 65536");
	if (c->tcp_min_rto_ms > c->tcp_max_rto_ms || c->tcp_init_rto_ms > c->tcp_max_rto_ms)
		return usnet_error(EINVAL, "stack: tcp_min_rto_ms and tcp_init_rto_ms above "
					   "tcp_max_rto_ms");
	if (c->reasm_max_datagrams > 4096 || c->udp_rcvq_len > 65536)
		return usnet_error(EINVAL,
				   "stack: reasm_max_datagrams <= 4096, udp_rcvq_len <= 65536");
	return 0;
}

int usnet_stack_create(struct usnet_stack **out, const struct usnet_stack_conf *conf)
{
	struct usnet_stack *st;
	struct frag_conf fc;
	int err;

	st = calloc(1, sizeof(*st));
	if (!st)
		return usnet_error(ENOMEM, "stack: out of memory");
	if (conf)
		st->conf = *conf;
	err = conf_defaults(&st->conf);
	if (err)
		goto free_st;
	err = arp_init(&st->arp, &st->conf);
	if (err)
		goto free_st;
	fc.timeout_ns = (uint64_t)st->conf.reasm_timeout_ms * 1000000u;
	fc.mem_per_src = st->conf.reasm_mem_per_src;
	fc.mem_total = st->conf.reasm_mem_total;
	fc.max_datagrams = st->conf.reasm_max_datagrams;
	err = frag_init(&st->frag, &fc);
	if (err)
		goto fini_arp;
	st->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (st->epfd < 0) {
		err = usnet_error(errno, "stack: epoll_create1: %s", strerror(errno));
		goto fini_frag;
	}
	st->now = st->conf.clock(st->conf.clock_ctx);
	st->next_timer = UINT64_MAX;
	st->ephemeral_next = st->conf.ephemeral_min;
	st->unreach_tokens = st->conf.icmp_unreach_burst;
	st->unreach_tokens_at = st->now;
	st->ip_id = (uint16_t)st->now;
	err = tcp_init(st);
	if (err)
		goto close_ep;
	*out = st;
	return 0;

close_ep:
	close(st->epfd);

fini_frag:
	frag_fini(&st->frag);
fini_arp:
	arp_fini(&st->arp);
free_st:
	free(st);
	return err;
}

void usnet_stack_destroy(struct usnet_stack *st)
{
	struct usnet_icmp *ic;

	if (!st)
		return;
	stk_flush_all(st);
	udp_close_all(st);
	tcp_close_all(st);
	while ((ic = st->icmp_list))
		usnet_icmp_close(ic);
	for (unsigned i = 0; i < st->nifc; i++)
		usnet_pkt_free_bulk(st->ifc[i].tx, st->ifc[i].ntx);
	frag_fini(&st->frag);
	arp_fini(&st->arp);
	close(st->epfd);
	free(st);
}

static uint32_t prefix_mask(uint8_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

int usnet_stack_add_iface(struct usnet_stack *st, const struct usnet_iface_conf *conf)
{
	static const uint8_t zero_mac[6];
	const struct usnet_port_info *info;
	struct stk_iface *ifc;
	int fd;

	if (!conf || !conf->port)
		return usnet_error(EINVAL, "stack: interface without a port");
	if (st->nifc == USNET_STACK_MAX_IFACES)
		return usnet_error(ENOSPC, "stack: at most %d interfaces", USNET_STACK_MAX_IFACES);
	info = usnet_port_info(conf->port);
	if (conf->queue >= info->rx_queues || conf->queue >= info->tx_queues)
		return usnet_error(EINVAL, "stack: port %s has no queue %u", info->name,
				   conf->queue);
	if (conf->prefix_len < 1 || conf->prefix_len > 31)
		return usnet_error(EINVAL, "stack: prefix length %u not in 1..31",
				   conf->prefix_len);
	if (!ip_unicast_src_ok(conf->addr))
		return usnet_error(EINVAL, "stack: address is not a unicast host address");
	{
		uint32_t m = prefix_mask(conf->prefix_len);

		if ((conf->addr & ~m) == 0 || (conf->addr & ~m) == ~m)
			return usnet_error(EINVAL, "stack: address is the subnet's network or "
						   "broadcast address");
		if (conf->gateway &&
		    ((conf->gateway & m) != (conf->addr & m) || conf->gateway == conf->addr))
			return usnet_error(EINVAL, "stack: gateway not on the interface's subnet");
	}
	if (conf->mtu && (conf->mtu < 576 || conf->mtu > info->mtu))
		return usnet_error(EINVAL, "stack: MTU %u not in 576..%u (the port's)", conf->mtu,
				   info->mtu);
	if (info->mtu < 576)
		return usnet_error(EINVAL, "stack: port MTU %u below 576", info->mtu);
	for (unsigned i = 0; i < st->nifc; i++) {
		if (st->ifc[i].addr == conf->addr ||
		    (st->ifc[i].port == conf->port && st->ifc[i].queue == conf->queue))
			return usnet_error(EEXIST, "stack: address or port queue already used");
	}
	ifc = &st->ifc[st->nifc];
	memset(ifc, 0, sizeof(*ifc));
	ifc->port = conf->port;
	ifc->queue = conf->queue;
	ifc->pool = usnet_port_pool(conf->port, conf->queue);
	ifc->mtu = conf->mtu ? conf->mtu : info->mtu;
	ifc->addr = conf->addr;
	ifc->mask = prefix_mask(conf->prefix_len);
	ifc->bcast = conf->addr | ~ifc->mask;
	ifc->gateway = conf->gateway;
	memcpy(ifc->mac, memcmp(conf->mac, zero_mac, 6) ? conf->mac : info->mac, 6);
	ifc->index = (uint8_t)st->nifc;
	{
		struct usnet_pkt *p = usnet_pkt_alloc(ifc->pool);

		if (!p)
			return usnet_error(ENOBUFS, "stack: port %s: pool empty", info->name);
		ifc->headroom = p->data_off;
		if (p->room < p->data_off + USNET_ETH_HLEN + 576) {
			usnet_pkt_free(p);
			return usnet_error(
			    EINVAL, "stack: port %s: buffers too small for 576 bytes", info->name);
		}
		ifc->l3_room = (uint16_t)(p->room - p->data_off - USNET_ETH_HLEN);
		usnet_pkt_free(p);
	}
	fd = usnet_port_fd(conf->port, conf->queue);
	if (fd < 0) {
		st->fd_err = fd;
	} else {
		struct epoll_event ev = {.events = EPOLLIN, .data.u32 = ifc->index};

		if (epoll_ctl(st->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 && errno != EEXIST)
			return usnet_error(errno, "stack: epoll_ctl: %s", strerror(errno));
	}
	st->nifc++;
	if (!conf->no_garp) {
		arp_send_gratuitous(st, ifc);
		stk_tx_flush(st, ifc);
	}
	return ifc->index;
}

/* --- TX --- */

void stk_tx_flush(struct usnet_stack *st, struct stk_iface *ifc)
{
	uint16_t done = 0;

	/* A full queue gets a few retries (tx_burst reclaims finished
	 * buffers each time); after that the frames are dropped and counted,
	 * as a NIC drops what it cannot queue. */
	for (int tries = 0; done < ifc->ntx && tries < 4; tries++)
		done = (uint16_t)(done + usnet_tx_burst(ifc->port, ifc->queue, ifc->tx + done,
							(uint16_t)(ifc->ntx - done)));
	if (done < ifc->ntx) {
		st->c.tx_port_full += (uint64_t)(ifc->ntx - done);
		usnet_pkt_free_bulk(ifc->tx + done, (uint32_t)(ifc->ntx - done));
	}
	ifc->ntx = 0;
}

void stk_tx(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt)
{
	if (pkt->len < USNET_ETH_MIN_FRAME) {
		/* IEEE 802.3 minimum frame: pad with zeros. */
		uint16_t pad = (uint16_t)(USNET_ETH_MIN_FRAME - pkt->len);
		uint8_t *p = usnet_pkt_append(pkt, pad);

		if (p)
			memset(p, 0, pad);
	}
	st->c.tx_frames++;
	st->c.tx_bytes += pkt->len;
	ifc->tx[ifc->ntx++] = pkt;
	if (ifc->ntx == STK_TX_BATCH)
		stk_tx_flush(st, ifc);
}

void stk_flush_all(struct usnet_stack *st)
{
	for (unsigned i = 0; i < st->nifc; i++)
		if (st->ifc[i].ntx)
			stk_tx_flush(st, &st->ifc[i]);
}

void stk_tx_sent(struct usnet_stack *st, struct stk_iface *ifc)
{
	if (!st->conf.tx_defer)
		stk_tx_flush(st, ifc);
}

void usnet_stack_flush(struct usnet_stack *st)
{
	stk_flush_all(st);
}

struct usnet_pkt *stk_alloc(struct usnet_stack *st, struct stk_iface *ifc)
{
	struct usnet_pkt *p = usnet_pkt_alloc(ifc->pool);

	if (!p) {
		/* Buffers may be waiting in the TX path: send and reclaim. */
		stk_tx_flush(st, ifc);
		usnet_tx_burst(ifc->port, ifc->queue, NULL, 0);
		p = usnet_pkt_alloc(ifc->pool);
		if (!p) {
			st->c.tx_nobuf++;
			return NULL;
		}
	}
	p->len = 0;
	p->flags = 0;
	return p;
}

/* --- timers and the poll loop --- */

void stk_timer_at(struct usnet_stack *st, uint64_t when)
{
	if (when < st->next_timer)
		st->next_timer = when;
}

static void run_timers(struct usnet_stack *st)
{
	struct frag_expired rep[8];
	uint64_t next = UINT64_MAX;
	uint32_t nrep;

	if (st->now < st->next_timer)
		return;
	st->next_timer = UINT64_MAX;
	st->c.ip_reasm_timeout += frag_expire(&st->frag, st->now, &next, rep, 8, &nrep);
	stk_timer_at(st, next);
	/* RFC 1122 3.3.2: time exceeded "SHOULD be sent" when fragment zero
	 * had arrived (at most 8 per poll, and rate-limited). */
	for (uint32_t i = 0; i < nrep; i++)
		icmp_send_reasm_timeout(st, &rep[i].ip, rep[i].data, sizeof(rep[i].data));
	arp_timers(st, st->now);
	tcp_timers_run(st, st->now);
}

uint64_t usnet_stack_now(const struct usnet_stack *st)
{
	return st->now;
}

int usnet_stack_poll(struct usnet_stack *st)
{
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	int total = 0;

	st->now = st->conf.clock(st->conf.clock_ctx);
	tcp_burst_begin(st);
	for (unsigned i = 0; i < st->nifc; i++) {
		struct stk_iface *ifc = &st->ifc[i];
		uint16_t n = usnet_rx_burst(ifc->port, ifc->queue, pkts, st->conf.rx_burst);

		for (uint16_t k = 0; k < n; k++) {
			st->c.rx_frames++;
			st->c.rx_bytes += pkts[k]->len;
			eth_input(st, ifc, pkts[k]);
		}
		total += n;
	}
	tcp_burst_end(st); /* the stretch ACKs of the burst (tcp_ack_schedule) */
	run_timers(st);
	stk_flush_all(st);
	return total;
}

int usnet_stack_fd(struct usnet_stack *st)
{
	if (st->fd_err)
		return usnet_error(-st->fd_err, "stack: an interface's port has no fd to wait on");
	return st->epfd;
}

int usnet_stack_arm(struct usnet_stack *st)
{
	uint64_t now;
	bool pending = false;

	stk_flush_all(st);
	for (unsigned i = 0; i < st->nifc; i++)
		pending |= usnet_port_arm(st->ifc[i].port, st->ifc[i].queue);
	if (pending)
		return 0;
	if (st->next_timer == UINT64_MAX)
		return -1;
	now = st->conf.clock(st->conf.clock_ctx);
	if (now >= st->next_timer)
		return 0;
	/* Round up so that the wake-up finds the timer due. */
	return (int)((st->next_timer - now + 999999) / 1000000);
}

int usnet_stack_wait(struct usnet_stack *st, int timeout_ms)
{
	struct pollfd pfd = {.fd = st->epfd, .events = POLLIN};
	int t = usnet_stack_arm(st), r;

	if (st->fd_err)
		return usnet_error(-st->fd_err, "stack: an interface's port has no fd to wait on");
	if (t == 0)
		return 1;
	if (t < 0 || (timeout_ms >= 0 && timeout_ms < t))
		t = timeout_ms;
	r = poll(&pfd, 1, t);
	if (r < 0)
		return -errno;
	return r > 0 ? 1 : 0;
}

/* --- readiness --- */

void stk_sock_ready(struct stk_sock *s)
{
	struct usnet_stack *st = s->st;

	if (s->in_ready)
		return;
	s->in_ready = true;
	s->rnext = NULL;
	s->rprev = st->ready_tail;
	if (st->ready_tail)
		st->ready_tail->rnext = s;
	else
		st->ready_head = s;
	st->ready_tail = s;
}

static void sock_unready(struct stk_sock *s)
{
	struct usnet_stack *st = s->st;

	if (!s->in_ready)
		return;
	if (s->rprev)
		s->rprev->rnext = s->rnext;
	else
		st->ready_head = s->rnext;
	if (s->rnext)
		s->rnext->rprev = s->rprev;
	else
		st->ready_tail = s->rprev;
	s->in_ready = false;
}

void stk_sock_fini(struct stk_sock *s)
{
	sock_unready(s);
	stk_msgq_fini(&s->q);
}

uint16_t usnet_stack_events(struct usnet_stack *st, struct usnet_event *ev, uint16_t n)
{
	uint16_t k = 0;

	while (k < n && st->ready_head) {
		struct stk_sock *s = st->ready_head;
		uint32_t e = s->kind == STK_TCP
				 ? tcp_sock_events(s)
				 : (s->q.n ? USNET_EV_READ : 0) | (s->err ? USNET_EV_ERROR : 0);

		sock_unready(s);
		if (!e)
			continue; /* drained since it was queued */
		ev[k].user = s->user;
		ev[k].events = e;
		k++;
	}
	return k;
}

/* --- message queues --- */

int stk_msgq_init(struct stk_msgq *q, uint32_t cap, uint32_t max_bytes)
{
	q->m = calloc(cap, sizeof(*q->m));
	if (!q->m)
		return -ENOMEM;
	q->cap = cap;
	q->head = q->n = q->bytes = 0;
	q->max_bytes = max_bytes;
	return 0;
}

void stk_msg_free(struct stk_msg *m)
{
	if (m->pkt)
		usnet_pkt_free(m->pkt);
	free(m->heap);
	m->pkt = NULL;
	m->heap = NULL;
}

void stk_msgq_fini(struct stk_msgq *q)
{
	struct stk_msg m;

	while (stk_msgq_pop(q, &m))
		stk_msg_free(&m);
	free(q->m);
	q->m = NULL;
}

static uint32_t dgram_truesize(const struct ip_dgram *d)
{
	return d->pkt ? d->pkt->room : d->l4_len;
}

bool stk_msgq_push(struct stk_msgq *q, struct ip_dgram *d, uint32_t off, uint32_t len,
		   const struct stk_msg *meta)
{
	uint32_t size = dgram_truesize(d);
	struct stk_msg *m;

	if (q->n == q->cap || q->bytes + size > q->max_bytes)
		return false;
	m = &q->m[(q->head + q->n) % q->cap];
	*m = *meta;
	m->pkt = d->pkt;
	m->heap = d->heap;
	m->data = d->l4 + off;
	m->len = (uint16_t)len;
	m->size = size;
	q->n++;
	q->bytes += size;
	d->pkt = NULL;
	d->heap = NULL;
	return true;
}

bool stk_msgq_pop(struct stk_msgq *q, struct stk_msg *m)
{
	if (!q->n)
		return false;
	*m = q->m[q->head];
	q->head = (q->head + 1) % q->cap;
	q->n--;
	q->bytes -= m->size;
	return true;
}

void stk_dgram_free(struct ip_dgram *d)
{
	if (d->pkt)
		usnet_pkt_free(d->pkt);
	free(d->heap);
	d->pkt = NULL;
	d->heap = NULL;
}

bool stk_is_local(const struct usnet_stack *st, uint32_t ip)
{
	for (unsigned i = 0; i < st->nifc; i++)
		if (st->ifc[i].addr == ip)
			return true;
	return false;
}
