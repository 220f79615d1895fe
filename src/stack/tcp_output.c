/* SPDX-License-Identifier: MIT */
/*
 * TCP's send side: the send queue, segments out, ACKs in.
 *
 * The application's bytes are copied once, into packet buffers of the
 * interface's pool laid out with room in front for Ethernet, IPv4 and a
 * TCP header with 40 bytes of options; at most one MSS each (tcp_sndq_*).
 * Sending and resending write the header into that room and hand the
 * buffer to the port with one more reference (pkt.h); a buffer that a
 * port still holds from an earlier transmission is not rewritten: its
 * segment goes out in a copy (tcp_tx_copy_inflight).
 *
 * What goes out when (tcp_output): lost segments first (RFC 6675 NextSeg
 * rule 1), then new data within min(cwnd, the peer's window) - pipe;
 * Nagle (RFC 9293 3.7.4) unless nodelay; sender SWS avoidance (RFC 9293
 * 3.8.6.2.1); the FIN after the data; an ACK when one is owed.
 * ACKs in (tcp_on_ack): the scoreboard (tcp_sack.c), RTT samples (tcp_rtt.c,
 * Karn's rule, timestamps per RFC 7323 4.1), congestion control (tcp_cc.c),
 * fast retransmit and recovery: SACK-based (RFC 6675 5) or NewReno (RFC 6582).
 * Timers: retransmission (RFC 6298), delayed ACK (RFC 5681 4.2), persist
 * (RFC 9293 3.8.6.1), keepalive (RFC 1122 4.2.3.6).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tcp_impl.h"
#include "tcp_send.h"

#define TCP_HDR_MAX  60u   /* header with 40 bytes of options */
#define TS_OPT_LEN   12u   /* NOP NOP TS(10) */
#define CHACK_PER_S  1000u /* challenge ACKs and RSTs per second per stack, as Linux */
#define POOL_RESERVE 4u	   /* the send queue leaves 1/4 of the pool for RX and ACKs */

struct tcp_sndq {
	struct tcp_sb sb;
	struct tcp_rtt rtt;
	struct tcp_cc cc;
	bool in_rec;	  /* fast recovery, SACK-based or NewReno */
	bool fin_queued;  /* the FIN is in sb */
	bool syn_acked;	  /* the handshake's ACK arrived */
	uint32_t recover; /* RFC 6582 "recover", RFC 6675 RecoveryPoint */
	uint32_t dupacks;
	uint32_t syn_tries;
	uint64_t syn_xmit_ns;
	uint32_t probes;     /* window probes since the window closed (their back-off) */
	uint32_t probes_out; /* of those, sent since the peer last answered (RFC 1122
			      * 4.2.2.17: a peer that answers keeps the connection) */
	uint64_t last_rcv_ns;
	/* Undo of a spurious fast retransmit (RFC 3708 with RFC 2883
	 * D-SACKs, as RFC 6675 10 suggests): the congestion state before
	 * the last recovery, [undo_lo, undo_hi) its window, and how many of
	 * its retransmissions no D-SACK has reported received twice yet.
	 * undo_retrans counts only while undo_on; an RTO ends it. */
	bool undo_on;
	uint32_t undo_lo, undo_hi, undo_retrans;
	struct tcp_cc undo_cc;
};

/* DupThresh grows by this after each undone recovery, up to the max:
 * the reordering that fooled it, as Linux's tcp_reordering adapts. */
#define DUPTHRESH_STEP 3u
#define DUPTHRESH_MAX  30u

static struct usnet_stack_counters *ctr(const struct usnet_tcp *c)
{
	return &c->s.st->c;
}

static uint64_t ms_ns(uint32_t ms)
{
	return (uint64_t)ms * 1000000u;
}

/* --- set-up --- */

static const struct tcp_cc_ops *cc_ops(const struct usnet_tcp *c)
{
	return c->cc_kind == USNET_TCP_CC_NEWRENO ? &tcp_cc_newreno : &tcp_cc_cubic;
}

void tcp_send_init(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;

	if (!q) {
		q = calloc(1, sizeof(*q));
		if (!q)
			return;
		if (tcp_sb_init(&q->sb, 64)) {
			free(q);
			return;
		}
		c->sq = q;
	}
	tcp_rtt_init(&q->rtt, st->conf.tcp_init_rto_ms, st->conf.tcp_min_rto_ms,
		     st->conf.tcp_max_rto_ms);
	tcp_cc_init(&q->cc, cc_ops(c), c->mss ? c->mss : 536);
	q->last_rcv_ns = st->now;
}

static void release_pkt(void *ctx, void *pkt)
{
	(void)ctx;
	usnet_pkt_free(pkt);
}

/* Off the list of deferred ACKs (tcp_ack_schedule), if on it. */
static void ack_undefer(struct usnet_tcp *c)
{
	struct usnet_tcp **pp = &c->s.st->tcp->ack_head;

	if (!c->ack_deferred)
		return;
	while (*pp != c)
		pp = &(*pp)->ack_next;
	*pp = c->ack_next;
	c->ack_deferred = false;
	c->ack_next = NULL;
}

void tcp_send_fini(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	ack_undefer(c);
	for (int k = 0; k < TCP_T_COUNT; k++)
		tcp_timer_stop(c, (enum tcp_timer_kind)k);
	if (!q)
		return;
	for (uint32_t i = 0; i < q->sb.n; i++) {
		struct tcp_sseg *s = tcp_sb_at(&q->sb, i);

		if (s->pkt)
			usnet_pkt_free(s->pkt);
	}
	tcp_sb_fini(&q->sb);
	free(q);
	c->sq = NULL;
}

/* --- the send queue --- */

/* Payload bytes per segment: the MSS less the options every segment
 * carries (RFC 6691), and what the buffers hold behind the largest header. */
static uint32_t seg_max(const struct usnet_tcp *c, const struct stk_iface *ifc)
{
	uint32_t m = c->mss - (c->ts_on ? TS_OPT_LEN : 0u);
	uint32_t room = (uint32_t)ifc->l3_room - 20 - TCP_HDR_MAX;

	return m < room ? m : room;
}

uint32_t tcp_sndq_bytes(const struct usnet_tcp *c)
{
	return c->sq ? c->sq->sb.queued : 0;
}

static bool pool_low(struct usnet_pool *pool)
{
	struct usnet_pool_stats ps;

	usnet_pool_get_stats(pool, &ps);
	return ps.available < ps.count / POOL_RESERVE;
}

uint32_t tcp_sndq_append(struct usnet_tcp *c, const void *buf, uint32_t len)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;
	const uint8_t *src = buf;
	uint32_t taken = 0, room, max;
	struct route rt;

	if (!q || q->fin_queued || c->mss == 0 || ip_route(st, c->rip, &rt))
		return 0;
	max = seg_max(c, rt.ifc);
	room = c->sndbuf > q->sb.queued ? c->sndbuf - q->sb.queued : 0;
	/* Tiny writes with nodelay each make a segment (and hold a buffer):
	 * bound their number too. */
	if (q->sb.n >= c->sndbuf / 512 + 16)
		room = 0;
	if (len > room)
		len = room;
	/* Fill the last segment if it has not been sent yet (small writes
	 * coalesce, which Nagle waits for). */
	if (len && q->sb.n > q->sb.nsent) {
		struct tcp_sseg *t = tcp_sb_at(&q->sb, q->sb.n - 1);

		if (!(t->fl & TCP_SEG_FIN) && t->len < max) {
			struct usnet_pkt *p = t->pkt;
			uint32_t k = max - t->len < len ? max - t->len : len;

			memcpy(p->data + t->off + t->len, src, k);
			t->len = (uint16_t)(t->len + k);
			q->sb.queued += k;
			taken += k;
		}
	}
	while (taken < len) {
		struct tcp_sseg s = {0};
		struct usnet_pkt *p;
		uint32_t k = len - taken < max ? len - taken : max;

		if (pool_low(rt.ifc->pool) || !(p = stk_alloc(st, rt.ifc))) {
			ctr(c)->tcp_tx_nobuf++;
			break;
		}
		s.pkt = p;
		s.off = (uint16_t)(p->data_off + USNET_ETH_HLEN + 20 + TCP_HDR_MAX);
		s.seq = q->sb.n ? tcp_sseg_end(tcp_sb_at(&q->sb, q->sb.n - 1)) : c->snd_max;
		s.len = (uint16_t)k;
		memcpy(p->data + s.off, src + taken, k);
		if (!tcp_sb_push(&q->sb, &s)) {
			usnet_pkt_free(p);
			break;
		}
		taken += k;
	}
	return taken;
}

/* --- building segments --- */

static void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

/* Timestamps (RFC 7323 3.2) when negotiated, then as many SACK blocks
 * (RFC 2018 3) as fit in room bytes of options. */
static uint32_t data_opts(const struct usnet_tcp *c, uint8_t *o, uint32_t room)
{
	uint32_t n = 0, k;

	if (c->ts_on) {
		o[0] = 1;
		o[1] = 1;
		o[2] = 8;
		o[3] = 10;
		put32(o + 4, tcp_ts_now(c));
		put32(o + 8, c->ts_recent);
		n = TS_OPT_LEN;
	}
	if (c->sack_on && (c->rcv_nsack || c->rcv_dsack) && room >= n + 12) {
		uint32_t d = c->rcv_dsack ? 1 : 0;

		k = (room - n - 4) / 8;
		if (k > c->rcv_nsack + d)
			k = c->rcv_nsack + d;
		o[n] = 1;
		o[n + 1] = 1;
		o[n + 2] = 5;
		o[n + 3] = (uint8_t)(2 + 8 * k);
		/* RFC 2883 4: a D-SACK block first, then the SACK blocks. */
		if (d) {
			put32(o + n + 4, c->dsack_start);
			put32(o + n + 8, c->dsack_end);
		}
		for (uint32_t i = d; i < k; i++) {
			put32(o + n + 4 + 8 * i, c->rcv_sack[i - d].start);
			put32(o + n + 8 + 8 * i, c->rcv_sack[i - d].end);
		}
		n += 4 + 8 * k;
	}
	return n;
}

/* Header at h (hlen bytes, options written already) for dlen bytes of
 * payload that follow it, checksum included. */
static void put_hdr(const struct tcp_bare *b, uint8_t *h, uint32_t hlen, uint32_t dlen)
{
	struct usnet_tcp_hdr *t = (struct usnet_tcp_hdr *)h;
	uint32_t sum;

	t->sport = htons(b->sport);
	t->dport = htons(b->dport);
	t->seq = htonl(b->seq);
	t->ack = htonl(b->ack);
	t->off = (uint8_t)((hlen / 4) << 4);
	t->flags = b->flags;
	t->wnd = htons(b->wnd);
	t->csum = 0;
	t->urg = 0;
	sum = tcp_pseudo_sum(b->src, b->dst, hlen + dlen);
	t->csum = usnet_csum_fold(usnet_csum_add(sum, h, hlen + dlen));
}

/* A segment of c's without payload. */
static int send_ctl(struct usnet_tcp *c, uint32_t seq, uint8_t flags)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_bare b = {.src = c->lip, .dst = c->rip, .sport = c->lport, .dport = c->rport};
	uint8_t opt[40];
	struct usnet_pkt *p;
	struct route rt;
	uint32_t olen;
	uint8_t *h;
	int err;

	err = ip_route(st, c->rip, &rt);
	if (err)
		return err;
	p = stk_alloc(st, rt.ifc);
	if (!p) {
		ctr(c)->tcp_tx_nobuf++;
		return -ENOBUFS;
	}
	rt.src = c->lip;
	olen = data_opts(c, opt, 40);
	p->data_off = (uint16_t)(p->data_off + USNET_ETH_HLEN + 20);
	p->len = (uint16_t)(20 + olen);
	h = usnet_pkt_data(p);
	memcpy(h + 20, opt, olen);
	b.seq = seq;
	b.ack = c->rcv_nxt;
	b.flags = flags;
	b.wnd = tcp_rcv_wnd_field(c, false);
	put_hdr(&b, h, 20 + olen, 0);
	err = ip_send_pkt(st, &rt, c->rip, USNET_IPPROTO_TCP, st->conf.ttl, p);
	if (err) {
		usnet_pkt_free(p);
		return err;
	}
	ctr(c)->tcp_tx_segs++;
	c->stats.segs_out++;
	stk_tx_sent(st, rt.ifc);
	return 0;
}

/* An ACK went out (alone or on data): nothing owed any more. */
static void ack_sent(struct usnet_tcp *c)
{
	c->ack_now = false;
	c->rcv_dsack = false; /* reported once (RFC 2883 4) */
	c->delack = 0;
	tcp_timer_stop(c, TCP_T_DELACK);
}

static void arm_rto(struct usnet_tcp *c)
{
	uint32_t ms = tcp_rtt_rto(&c->sq->rtt, c->backoff);

	tcp_timer_set(c, TCP_T_RTO, c->s.st->now + ms_ns(ms));
}

/* Segment i: its payload in its buffer, or in a copy if a port still holds
 * that buffer. */
static int xmit(struct usnet_tcp *c, uint32_t i, bool retrans)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;
	struct tcp_sseg *s = tcp_sb_at(&q->sb, i);
	struct tcp_bare b = {.src = c->lip, .dst = c->rip, .sport = c->lport, .dport = c->rport};
	struct usnet_pkt *p = s->pkt, *np;
	uint8_t opt[40], *h;
	uint32_t olen, room;
	struct route rt;
	int err;

	err = ip_route(st, c->rip, &rt);
	if (err)
		return err;
	rt.src = c->lip;
	room = c->mss > s->len ? c->mss - s->len : 0;
	olen = data_opts(c, opt, room < 40 ? room : 40);
	if (!p || usnet_pkt_refcnt(p) > 1) {
		/* No buffer (the FIN), or one still on its way out. */
		np = stk_alloc(st, rt.ifc);
		if (!np) {
			ctr(c)->tcp_tx_nobuf++;
			return -ENOBUFS;
		}
		np->data_off = (uint16_t)(np->data_off + USNET_ETH_HLEN + 20 + TCP_HDR_MAX);
		if (p) {
			memcpy(usnet_pkt_data(np), p->data + s->off, s->len);
			ctr(c)->tcp_tx_copy_inflight++;
		}
	} else {
		np = p;
		np->data_off = s->off;
		usnet_pkt_ref(np); /* ours stays when the port frees its reference */
	}
	np->len = (uint16_t)(20 + olen + s->len);
	np->data_off = (uint16_t)(np->data_off - 20 - olen);
	np->flags = 0;
	h = usnet_pkt_data(np);
	memcpy(h + 20, opt, olen);
	b.seq = s->seq;
	b.ack = c->rcv_nxt;
	b.flags = TCP_ACK | ((s->fl & TCP_SEG_FIN) ? TCP_FIN : 0);
	if (s->len && i + 1 == q->sb.n)
		b.flags |= TCP_PSH;
	b.wnd = tcp_rcv_wnd_field(c, false);
	put_hdr(&b, h, 20 + olen, s->len);
	err = ip_send_pkt(st, &rt, c->rip, USNET_IPPROTO_TCP, st->conf.ttl, np);
	if (err) {
		usnet_pkt_free(np);
		return err;
	}
	ctr(c)->tcp_tx_segs++;
	ctr(c)->tcp_tx_bytes += s->len;
	c->stats.segs_out++;
	c->stats.bytes_sent += s->len;
	if (retrans) {
		ctr(c)->tcp_retransmits++;
		c->stats.retransmits++;
		if (q->undo_on)
			q->undo_retrans++;
		tcp_sb_retransmitted(&q->sb, i, st->now);
	} else {
		tcp_sb_sent(&q->sb, i, st->now);
		if (s->fl & TCP_SEG_FIN)
			c->fin_sent = true;
		c->snd_nxt = c->snd_max = tcp_sseg_end(s);
	}
	ack_sent(c);
	if (!c->timer[TCP_T_RTO].when)
		arm_rto(c);
	return 0;
}

/* --- deciding what goes out --- */

/* Split queued segment i so that its first `keep` bytes are a segment of
 * their own (the peer's window ends there); the rest moves to a new
 * buffer. false: no buffer. */
static bool split(struct usnet_tcp *c, uint32_t i, uint32_t keep)
{
	struct tcp_sb *sb = &c->sq->sb;
	struct tcp_sseg *s = tcp_sb_at(sb, i), t = *s;
	struct usnet_pkt *src = s->pkt, *p = usnet_pkt_alloc(src->pool);

	if (!p)
		return false;
	t.pkt = p;
	t.seq = s->seq + keep;
	t.len = (uint16_t)(s->len - keep);
	t.off = (uint16_t)(p->data_off + USNET_ETH_HLEN + 20 + TCP_HDR_MAX);
	t.fl = 0;
	memcpy(p->data + t.off, src->data + s->off + keep, t.len);
	s->len = (uint16_t)keep;
	sb->queued -= t.len; /* tcp_sb_insert() adds it back */
	if (!tcp_sb_insert(sb, i, &t)) {
		memcpy(src->data + s->off + keep, p->data + t.off, t.len);
		s->len = (uint16_t)(keep + t.len);
		sb->queued += t.len;
		usnet_pkt_free(p);
		return false;
	}
	return true;
}

static uint32_t pipe_bytes(const struct usnet_tcp *c)
{
	const struct tcp_sndq *q = c->sq;
	uint32_t pipe = tcp_sb_pipe(&q->sb);

	if (!c->sack_on) {
		/* Without SACK each duplicate ACK says a segment left the
		 * network (RFC 6582 3.2's window inflation, counted this way). */
		uint32_t left = q->dupacks * c->mss;

		pipe = pipe > left ? pipe - left : 0;
	}
	return pipe;
}

enum verdict { SEND, WAIT, SPLIT };

/* May new segment i go now (RFC 9293 3.7.4 Nagle, 3.8.6.2.1 SWS)? */
static enum verdict new_data_ok(struct usnet_tcp *c, uint32_t i, uint32_t max, uint32_t *keep)
{
	struct tcp_sndq *q = c->sq;
	struct tcp_sseg *s = tcp_sb_at(&q->sb, i);
	uint32_t wnd_end = c->snd_una + c->snd_wnd, usable, pipe;
	bool last = i + 1 == q->sb.n;

	if (s->fl & TCP_SEG_FIN)
		return SEND;
	if (seq_gt(tcp_sseg_end(s), wnd_end)) {
		usable = seq_gt(wnd_end, s->seq) ? wnd_end - s->seq : 0;
		/* Sender SWS: a piece of the window only if it is at least
		 * half the largest window the peer offered, or a full segment. */
		if (usable && (usable >= max || usable >= c->max_snd_wnd / 2)) {
			*keep = usable;
			return SPLIT;
		}
		return WAIT;
	}
	pipe = pipe_bytes(c);
	if (pipe && pipe + s->len > q->cc.cwnd)
		return WAIT;
	/* Nagle: a short last segment waits while data is unacknowledged
	 * (unless a FIN follows, or nodelay). */
	if (last && s->len < max && !c->nodelay && q->sb.nsent)
		return WAIT;
	return SEND;
}

static void queue_fin(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;
	struct tcp_sseg f = {0};

	f.seq = q->sb.n ? tcp_sseg_end(tcp_sb_at(&q->sb, q->sb.n - 1)) : c->snd_max;
	f.fl = TCP_SEG_FIN;
	if (tcp_sb_push(&q->sb, &f))
		q->fin_queued = true;
}

static bool can_send_data(const struct usnet_tcp *c)
{
	switch (c->state) {
	case USNET_TCP_ESTABLISHED:
	case USNET_TCP_CLOSE_WAIT:
	case USNET_TCP_FIN_WAIT_1:
	case USNET_TCP_CLOSING:
	case USNET_TCP_LAST_ACK:
		return true;
	default:
		return false;
	}
}

/* Lost segments (RFC 6675 NextSeg rule 1) and new data while cwnd allows. */
static void send_segments(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;
	struct route rt;
	uint32_t max, guard = q->sb.n * 2 + 8;

	if (ip_route(c->s.st, c->rip, &rt))
		return;
	max = seg_max(c, rt.ifc);
	while (guard--) {
		int32_t lost = tcp_sb_next_lost(&q->sb);
		uint32_t keep = 0, i;

		if (lost >= 0) {
			struct tcp_sseg *s = tcp_sb_at(&q->sb, (uint32_t)lost);
			uint32_t pipe = pipe_bytes(c);

			if (pipe && pipe + s->len > q->cc.cwnd)
				return;
			if (xmit(c, (uint32_t)lost, true))
				return;
			continue;
		}
		i = q->sb.nsent;
		if (i == q->sb.n)
			return;
		switch (new_data_ok(c, i, max, &keep)) {
		case WAIT:
			return;
		case SPLIT:
			if (!split(c, i, keep))
				return;
			break;
		case SEND:
			break;
		}
		if (xmit(c, i, false)) {
			/* Dropped before the wire: count it sent, the
			 * retransmission timer recovers it. */
			tcp_sb_sent(&q->sb, i, c->s.st->now);
			c->snd_nxt = c->snd_max = tcp_sseg_end(tcp_sb_at(&q->sb, i));
			if (!c->timer[TCP_T_RTO].when)
				arm_rto(c);
			return;
		}
	}
}

/* Persist (RFC 9293 3.8.6.1) while data waits with nothing in flight. */
static void persist_check(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	if (q->sb.nsent == 0 && q->sb.n > 0 && !c->timer[TCP_T_RTO].when) {
		if (!c->timer[TCP_T_PERSIST].when)
			tcp_timer_set(c, TCP_T_PERSIST,
				      c->s.st->now + ms_ns(tcp_rtt_rto(&q->rtt, q->probes)));
	} else if (c->timer[TCP_T_PERSIST].when) {
		tcp_timer_stop(c, TCP_T_PERSIST);
	}
}

static void sync_stats(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	c->stats.cwnd = q->cc.cwnd;
	c->stats.ssthresh = q->cc.ssthresh;
	c->stats.rtt_us = q->rtt.srtt_us;
	c->stats.rttvar_us = q->rtt.rttvar_us;
	c->stats.rto_ms = tcp_rtt_rto(&q->rtt, c->backoff);
	c->stats.in_flight = q->sb.out;
	c->stats.sndbuf_used = q->sb.queued;
	c->stats.snd_wnd = c->snd_wnd;
	c->stats.mss = c->mss;
}

int tcp_output(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	if (!q || c->state < USNET_TCP_ESTABLISHED)
		return 0;
	if (q->cc.ops != cc_ops(c)) {
		/* usnet_tcp_set_cc() on a connection: the new one starts
		 * from the current window. */
		uint32_t cwnd = q->cc.cwnd, ssthresh = q->cc.ssthresh;

		tcp_cc_init(&q->cc, cc_ops(c), q->cc.mss);
		q->cc.cwnd = cwnd;
		q->cc.cwnd_f = cwnd;
		q->cc.ssthresh = ssthresh;
	}
	if (can_send_data(c)) {
		if (c->shut_wr && !q->fin_queued)
			queue_fin(c);
		send_segments(c);
		persist_check(c);
	}
	if (c->ack_now && c->state != USNET_TCP_CLOSED) {
		if (send_ctl(c, c->snd_nxt, TCP_ACK) == 0)
			ack_sent(c);
	}
	if (c->ka_idle_ms && !c->timer[TCP_T_KEEPALIVE].when &&
	    (c->state == USNET_TCP_ESTABLISHED || c->state == USNET_TCP_CLOSE_WAIT))
		tcp_timer_set(c, TCP_T_KEEPALIVE, q->last_rcv_ns + ms_ns(c->ka_idle_ms));
	sync_stats(c);
	return 0;
}

/* Stretch ACKs (tcp_ack_schedule): at most this many segments per ACK,
 * ~64 KiB of full segments, the most Linux's GRO merges into one. */
#define TCP_STRETCH_MAX 44
/* After out-of-order data or a filled hole (a loss, or recovery from one),
 * this many in-order segments are acknowledged every second one again:
 * a sender in recovery, with a small window, gets every ACK it can (as
 * Linux's quick-ACK mode after out-of-order data). */
#define TCP_QUICKACK_SEGS 255

void tcp_ack_schedule(struct usnet_tcp *c, bool now)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_stack *t = st->tcp;

	/* RFC 5681 4.2 / RFC 1122 4.2.3.2: at least every second segment,
	 * at once for out-of-order data or a filled gap, else within
	 * tcp_delack_ms. In-order segments that arrived in one receive burst
	 * are acknowledged together at its end, microseconds later: one
	 * stretch ACK, as Linux sends for the segments GRO merged (RFC 9293
	 * 3.8.6.3 lets an implementation ACK fewer than every second segment;
	 * the sender's byte counting, RFC 3465, sees the same bytes acked). */
	if (c->delack < 255)
		c->delack++;
	if (now)
		c->quickack = TCP_QUICKACK_SEGS;
	else if (c->quickack)
		c->quickack--;
	if (!now && c->delack >= 2 && t->in_burst && !c->quickack && c->delack < TCP_STRETCH_MAX) {
		if (!c->ack_deferred) {
			c->ack_deferred = true;
			c->ack_next = t->ack_head;
			t->ack_head = c;
		}
		return;
	}
	if (now || c->delack >= 2) {
		c->ack_now = true;
		return;
	}
	if (!c->timer[TCP_T_DELACK].when)
		tcp_timer_set(c, TCP_T_DELACK, st->now + ms_ns(st->conf.tcp_delack_ms));
}

void tcp_burst_begin(struct usnet_stack *st)
{
	st->tcp->in_burst = true;
}

void tcp_burst_end(struct usnet_stack *st)
{
	struct tcp_stack *t = st->tcp;
	struct usnet_tcp *c;

	t->in_burst = false;
	while ((c = t->ack_head)) {
		t->ack_head = c->ack_next;
		c->ack_deferred = false;
		c->ack_next = NULL;
		/* A segment sent since (data, a window update) carried the ACK. */
		if (c->delack >= 2 && !c->ack_now) {
			c->ack_now = true;
			tcp_output(c);
		}
	}
}

/* --- ACKs in --- */

/* The ACK of our SYN: congestion control starts with the real MSS, and
 * the handshake gives the first RTT sample (unless it was resent). */
static void syn_acked(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;
	struct usnet_stack *st = c->s.st;

	q->syn_acked = true;
	tcp_cc_init(&q->cc, cc_ops(c), c->mss ? c->mss : 536);
	if (q->syn_tries == 1 && st->now > q->syn_xmit_ns)
		tcp_rtt_sample(&q->rtt, (uint32_t)((st->now - q->syn_xmit_ns) / 1000));
	c->backoff = 0;
	q->recover = c->iss;
	tcp_timer_stop(c, TCP_T_RTO);
}

static void rtt_from_ack(struct usnet_tcp *c, const struct tcp_seg *seg,
			 const struct tcp_sb_acked *a)
{
	struct tcp_sndq *q = c->sq;
	uint64_t now = c->s.st->now;

	if (!a->retransmitted && a->newest_xmit && now >= a->newest_xmit) {
		tcp_rtt_sample(&q->rtt, (uint32_t)((now - a->newest_xmit) / 1000));
		c->backoff = 0;
	} else if (c->ts_on && seg->opt.ts_ok && seg->opt.tsecr) {
		/* RFC 7323 4.1: the echoed TSval says which transmission. */
		uint32_t ms = tcp_ts_now(c) - seg->opt.tsecr;

		if (ms < 60000u) {
			tcp_rtt_sample(&q->rtt, ms * 1000u);
			c->backoff = 0;
		}
	}
}

static void enter_recovery(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	q->in_rec = true;
	q->recover = c->snd_max;
	q->undo_on = c->sack_on;
	q->undo_lo = c->snd_una;
	q->undo_hi = c->snd_max;
	q->undo_retrans = 0;
	q->undo_cc = q->cc;
	q->cc.ops->on_loss(&q->cc, q->sb.out, c->s.st->now);
	if (c->sack_on) {
		ctr(c)->tcp_sack_recovery++;
	} else {
		ctr(c)->tcp_fast_recovery++;
	}
	c->stats.fast_recoveries++;
	/* RFC 6675 5 (4.2) / RFC 6582 3.2 (2): retransmit the first hole. */
	tcp_sb_mark_head_lost(&q->sb);
}

static void exit_recovery(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	q->in_rec = false;
	q->dupacks = 0;
	tcp_sb_recovery_done(&q->sb);
}

/* Every retransmission of the last recovery arrived twice (D-SACKs):
 * the recovery was reordering, not loss. cwnd and ssthresh as they were
 * (RFC 3708 / RFC 4015 3.3's undo), DupThresh raised so that the same
 * reordering is tolerated next time. */
static void undo_recovery(struct usnet_tcp *c)
{
	struct tcp_sndq *q = c->sq;

	q->undo_on = false;
	if (q->undo_cc.ops == q->cc.ops) {
		if (q->undo_cc.cwnd > q->cc.cwnd)
			q->cc = q->undo_cc;
		else if (q->undo_cc.ssthresh > q->cc.ssthresh)
			q->cc.ssthresh = q->undo_cc.ssthresh;
	}
	if (q->sb.dupthresh < DUPTHRESH_MAX)
		q->sb.dupthresh = q->sb.dupthresh + DUPTHRESH_STEP < DUPTHRESH_MAX
				      ? q->sb.dupthresh + DUPTHRESH_STEP
				      : DUPTHRESH_MAX;
	if (q->in_rec) {
		q->in_rec = false;
		q->dupacks = 0;
		tcp_sb_recovery_done(&q->sb);
		q->recover = c->snd_una;
	}
	ctr(c)->tcp_undo++;
}

/* RFC 2883 4: the first block is a D-SACK when it lies below the ACK or
 * inside the second block. */
static bool is_dsack(const struct tcp_seg *seg)
{
	uint32_t start = seg->opt.sack[0].start, end = seg->opt.sack[0].end;

	if (!seg->opt.nsack || !seq_lt(start, end))
		return false;
	return seq_leq(end, seg->ack) ||
	       (seg->opt.nsack > 1 && seq_geq(start, seg->opt.sack[1].start) &&
		seq_leq(end, seg->opt.sack[1].end));
}

/* A D-SACK for data the last recovery retransmitted counts against its
 * retransmissions; when none is left, undo. */
static void dsack_check(struct usnet_tcp *c, const struct tcp_seg *seg)
{
	struct tcp_sndq *q = c->sq;
	uint32_t start = seg->opt.sack[0].start, end = seg->opt.sack[0].end, segs;

	if (!is_dsack(seg))
		return;
	if (!q->undo_on || !q->undo_retrans || seq_lt(start, q->undo_lo) || seq_gt(end, q->undo_hi))
		return;
	ctr(c)->tcp_dsack_rx++;
	segs = (end - start + c->mss - 1) / c->mss;
	q->undo_retrans = segs < q->undo_retrans ? q->undo_retrans - segs : 0;
	if (!q->undo_retrans)
		undo_recovery(c);
}

uint32_t tcp_on_ack(struct usnet_tcp *c, const struct tcp_seg *seg)
{
	struct tcp_sndq *q = c->sq;
	struct usnet_stack *st = c->s.st;
	struct tcp_sb_acked a = {0};
	uint32_t ack = seg->ack, newly_sacked = 0, prior_out;
	bool dup;

	if (!q)
		return 0;
	prior_out = q->sb.out;
	q->last_rcv_ns = st->now;
	q->probes_out = 0;
	c->ka_sent = 0;
	if (!q->syn_acked && seq_gt(ack, c->iss) && c->snd_una == c->iss) {
		syn_acked(c);
		c->snd_una = c->iss + 1;
	}
	if (c->sack_on && seg->opt.nsack) {
		uint32_t blk[TCP_MAX_SACK][2], bad = 0, lr = q->sb.lost_retrans, n = 0;
		/* A D-SACK says nothing new about what is held: it is counted
		 * apart (the peer got a segment twice), not as a bad block. */
		uint32_t first = is_dsack(seg) ? 1 : 0;

		ctr(c)->tcp_dsack_in += first;
		for (uint32_t i = first; i < seg->opt.nsack && i < TCP_MAX_SACK; i++, n++) {
			blk[n][0] = seg->opt.sack[i].start;
			blk[n][1] = seg->opt.sack[i].end;
		}
		newly_sacked =
		    tcp_sb_sack(&q->sb, (const uint32_t(*)[2])blk, n,
				seq_gt(ack, c->snd_una) ? ack : c->snd_una, c->snd_max, &bad);
		ctr(c)->tcp_sack_bad_block += bad;
		ctr(c)->tcp_lost_retrans += q->sb.lost_retrans - lr;
	}
	/* RFC 5681 2: a duplicate ACK acknowledges nothing new, carries no
	 * data, no SYN or FIN, the same window, with data outstanding. */
	dup = ack == c->snd_una && seg->len == 0 && !(seg->flags & (TCP_SYN | TCP_FIN)) &&
	      ((uint32_t)seg->wnd << c->snd_wscale) == c->snd_wnd && q->sb.nsent;
	if (seq_gt(ack, c->snd_una)) {
		tcp_sb_ack(&q->sb, ack, release_pkt, NULL, &a);
		c->snd_una = ack;
		c->stats.bytes_acked += a.bytes;
		rtt_from_ack(c, seg, &a);
		if (q->in_rec) {
			if (seq_geq(ack, q->recover)) {
				exit_recovery(c);
			} else if (!c->sack_on) {
				/* RFC 6582 3.2 (5): a partial ACK; the next hole
				 * goes now, the duplicates it covered left. */
				q->dupacks = q->dupacks > a.segs ? q->dupacks - a.segs : 0;
				tcp_sb_mark_head_lost(&q->sb);
			}
		} else {
			q->dupacks = 0;
			/* Grow only a window that is used (RFC 7661's point;
			 * Linux's is_cwnd_limited): half of it in flight. */
			if (prior_out >= q->cc.cwnd / 2)
				q->cc.ops->on_ack(&q->cc, a.bytes, q->rtt.last_us, st->now);
		}
		if (q->sb.nsent)
			arm_rto(c); /* RFC 6298 5.3 */
		else
			tcp_timer_stop(c, TCP_T_RTO);
	} else if (dup || newly_sacked) {
		q->dupacks++;
	}
	if (c->sack_on && seg->opt.nsack)
		dsack_check(c, seg);
	/* RFC 6582 4: not again for losses in the window of the last
	 * recovery or timeout (recover is one past its highest sequence). */
	if (!q->in_rec && q->sb.nsent && seq_geq(c->snd_una, q->recover)) {
		bool lost = c->sack_on && tcp_sb_mark_lost(&q->sb, c->mss);

		if (lost || q->dupacks >= q->sb.dupthresh)
			enter_recovery(c);
	}
	if (q->in_rec && c->sack_on && newly_sacked)
		tcp_sb_mark_lost(&q->sb, c->mss);
	if (seg->wnd)
		q->probes = 0;
	sync_stats(c);
	return a.bytes;
}

/* --- SYN, RST, challenge ACK --- */

int tcp_send_syn(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;
	bool synack = c->state != USNET_TCP_SYN_SENT;
	struct tcp_opts o = {0};
	struct tcp_bare b = {.src = c->lip, .dst = c->rip, .sport = c->lport, .dport = c->rport};
	int err;

	if (!q)
		return -ENOMEM;
	o.mss_ok = true;
	o.mss = c->adv_mss;
	o.ws_ok = !synack || c->ws_on;
	o.ws = c->rcv_wscale;
	o.sack_ok = !synack || c->sack_on;
	o.ts_ok = !synack || c->ts_on;
	o.tsval = tcp_ts_now(c);
	o.tsecr = synack ? c->ts_recent : 0;
	b.seq = c->iss;
	b.ack = synack ? c->rcv_nxt : 0;
	b.flags = synack ? TCP_SYN | TCP_ACK : TCP_SYN;
	b.wnd = tcp_rcv_wnd_field(c, true);
	b.opt = &o;
	if (q->syn_tries++ == 0)
		q->syn_xmit_ns = st->now;
	c->snd_nxt = c->snd_max = c->iss + 1;
	err = tcp_send_bare(st, &b);
	if (!err) {
		c->stats.segs_out++;
		if (q->syn_tries > 1) {
			ctr(c)->tcp_retransmits++;
			c->stats.retransmits++;
		}
	}
	/* Resent with back-off; a failed send is retried the same way. */
	tcp_timer_set(c, TCP_T_RTO, st->now + ms_ns(tcp_rtt_rto(&q->rtt, q->syn_tries - 1)));
	return err;
}

int tcp_send_bare(struct usnet_stack *st, const struct tcp_bare *b)
{
	uint8_t opt[40];
	uint32_t olen = b->opt ? tcp_opt_build(b->opt, (b->flags & TCP_SYN) != 0, opt) : 0;
	struct usnet_pkt *p;
	struct route rt;
	uint8_t *h;
	int err;

	err = ip_route(st, b->dst, &rt);
	if (err)
		return err;
	rt.src = b->src;
	p = stk_alloc(st, rt.ifc);
	if (!p) {
		st->c.tcp_tx_nobuf++;
		return -ENOBUFS;
	}
	p->data_off = (uint16_t)(p->data_off + USNET_ETH_HLEN + 20);
	p->len = (uint16_t)(20 + olen);
	h = usnet_pkt_data(p);
	memcpy(h + 20, opt, olen);
	put_hdr(b, h, 20 + olen, 0);
	err = ip_send_pkt(st, &rt, b->dst, USNET_IPPROTO_TCP, st->conf.ttl, p);
	if (err) {
		usnet_pkt_free(p);
		return err;
	}
	st->c.tcp_tx_segs++;
	stk_tx_sent(st, rt.ifc);
	return 0;
}

/*
 * RFC 5961 7: challenge ACKs (and our RSTs) at most CHACK_PER_S a second,
 * as a token bucket of CHACK_PER_S refilled at CHACK_PER_S a second (kept
 * as one deadline, the generic cell rate algorithm): any interval of T
 * seconds sends at most CHACK_PER_S * (1 + T). A fixed one-second window
 * would let twice that through across its edge.
 */
static bool rate_ok(struct usnet_stack *st)
{
	const uint64_t gap = 1000000000u / CHACK_PER_S;
	struct tcp_stack *t = st->tcp;
	uint64_t tat = t->chack_tat > st->now ? t->chack_tat : st->now;

	if (tat + gap > st->now + (uint64_t)CHACK_PER_S * gap) {
		st->c.tcp_tx_rate_limited++;
		return false;
	}
	t->chack_tat = tat + gap;
	return true;
}

void tcp_send_reset(struct usnet_stack *st, const struct tcp_seg *seg)
{
	struct tcp_bare b = {
	    .src = seg->dst, .dst = seg->src, .sport = seg->dport, .dport = seg->sport};

	if (seg->flags & TCP_RST)
		return; /* never answer a reset */
	if (!rate_ok(st))
		return;
	/* RFC 9293 3.10.7.1: from the ACK field if there is one, else
	 * acknowledging what the segment took. */
	if (seg->flags & TCP_ACK) {
		b.seq = seg->ack;
		b.flags = TCP_RST;
	} else {
		b.ack = seg->seq + seg->len + ((seg->flags & TCP_SYN) ? 1 : 0) +
			((seg->flags & TCP_FIN) ? 1 : 0);
		b.flags = TCP_RST | TCP_ACK;
	}
	if (tcp_send_bare(st, &b) == 0)
		st->c.tcp_tx_rst++;
}

void tcp_send_challenge_ack(struct usnet_tcp *c)
{
	if (rate_ok(c->s.st) && send_ctl(c, c->snd_nxt, TCP_ACK) == 0)
		ack_sent(c);
}

/* --- timers --- */

void tcp_rto_fire(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;

	if (!q)
		return;
	if (c->state == USNET_TCP_SYN_SENT || c->state == USNET_TCP_SYN_RECEIVED) {
		int err;

		if (q->syn_tries > st->conf.tcp_syn_retries) {
			tcp_conn_drop(c, -ETIMEDOUT);
			return;
		}
		err = tcp_send_syn(c);
		/* ARP gave up on the next hop (arp_check: FAILED). An active
		 * open ends now, as Linux's connect() does, instead of
		 * retrying for minutes; otherwise it is the soft error an
		 * eventual time-out reports (RFC 1122 4.2.3.9). */
		if (err == -EHOSTUNREACH && c->state == USNET_TCP_SYN_SENT)
			tcp_conn_drop(c, err);
		else if (err == -EHOSTUNREACH)
			c->soft_err = err;
		return;
	}
	if (!q->sb.nsent)
		return;
	if (c->backoff >= st->conf.tcp_retries) {
		tcp_conn_drop(c, -ETIMEDOUT);
		return;
	}
	ctr(c)->tcp_rto++;
	c->stats.rto_expiries++;
	/* RFC 5681 3.1 eq. 4 once per series of timeouts; cwnd to one MSS;
	 * RFC 6582 4: recover = the highest sequence sent. */
	if (c->backoff == 0)
		q->cc.ops->on_rto(&q->cc, q->sb.out, st->now);
	else
		q->cc.cwnd_f = q->cc.cwnd = q->cc.mss;
	c->backoff++;
	q->in_rec = false;
	q->dupacks = 0;
	q->recover = c->snd_max;
	q->undo_on = false; /* a timeout is not undone by D-SACKs here */
	tcp_sb_rto(&q->sb);
	send_segments(c);
	arm_rto(c);
	sync_stats(c);
}

void tcp_delack_fire(struct usnet_tcp *c)
{
	if (!c->delack && !c->ack_now)
		return;
	ctr(c)->tcp_delack++;
	c->ack_now = true;
	tcp_output(c);
}

void tcp_persist_fire(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;
	uint32_t i;

	if (!q || q->sb.nsent || q->sb.n == 0 || !can_send_data(c))
		return;
	i = q->sb.nsent;
	if (c->snd_wnd == 0) {
		/* A probe outside the window (seq snd_una - 1, no data)
		 * makes the peer answer with its window, as Linux does. */
		if (q->probes_out >= st->conf.tcp_retries) {
			tcp_conn_drop(c, -ETIMEDOUT);
			return;
		}
		q->probes++;
		q->probes_out++;
		ctr(c)->tcp_persist_probes++;
		send_ctl(c, c->snd_una - 1, TCP_ACK);
	} else {
		/* A window too small for SWS avoidance: send into it anyway
		 * (RFC 9293 3.8.6.2.1, the override timeout). */
		struct tcp_sseg *s = tcp_sb_at(&q->sb, i);

		if (!(s->fl & TCP_SEG_FIN) && s->len > c->snd_wnd)
			split(c, i, c->snd_wnd);
		if (xmit(c, i, false) == 0)
			return;
	}
	tcp_timer_set(c, TCP_T_PERSIST, st->now + ms_ns(tcp_rtt_rto(&q->rtt, q->probes)));
}

void tcp_keepalive_fire(struct usnet_tcp *c)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_sndq *q = c->sq;

	if (!q || !c->ka_idle_ms ||
	    (c->state != USNET_TCP_ESTABLISHED && c->state != USNET_TCP_CLOSE_WAIT))
		return;
	if (st->now < q->last_rcv_ns + ms_ns(c->ka_idle_ms) && !c->ka_sent) {
		tcp_timer_set(c, TCP_T_KEEPALIVE, q->last_rcv_ns + ms_ns(c->ka_idle_ms));
		return;
	}
	if (c->ka_sent >= c->ka_count) {
		ctr(c)->tcp_keepalive_drop++;
		tcp_conn_drop(c, -ETIMEDOUT);
		return;
	}
	/* RFC 1122 4.2.3.6: seq snd_una - 1 with no data. */
	c->ka_sent++;
	ctr(c)->tcp_keepalive_probes++;
	send_ctl(c, c->snd_una - 1, TCP_ACK);
	tcp_timer_set(c, TCP_T_KEEPALIVE, st->now + ms_ns(c->ka_intvl_ms ? c->ka_intvl_ms : 75000));
}
