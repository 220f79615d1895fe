/* SPDX-License-Identifier: MIT */
/*
 * TCP segment arrival: header checks (a counter each), demultiplexing,
 * and RFC 9293 3.10.7's processing for every state, with RFC 5961's
 * defences (RST and SYN only at RCV.NXT, challenge ACKs, the ACK range),
 * RFC 7323's timestamps and PAWS, the receive and out-of-order queues,
 * SYN cookies on a listener whose half-open queue is full.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "tcp_impl.h"

#define TCP_MIN_MSS 64u		      /* a smaller MSS option is raised to this */
#define PAWS_IDLE_S (24u * 24 * 3600) /* RFC 7323 5.5: ts_recent is stale after 24 days */

static uint32_t now_s(const struct usnet_stack *st)
{
	return (uint32_t)(st->now / 1000000000u);
}

/* --- header checks --- */

static bool seg_parse(struct usnet_stack *st, struct ip_dgram *d, struct tcp_seg *seg)
{
	const struct usnet_tcp_hdr *h = (const struct usnet_tcp_hdr *)d->l4;
	uint32_t off;

	if (d->l4_len < sizeof(*h)) {
		st->c.tcp_short++;
		return false;
	}
	/* RFC 9293 3.9.2.1 / RFC 1122 4.2.3.10: never to a broadcast or
	 * multicast address (ip_input lets only broadcasts through). */
	if (d->bcast || (d->dst >> 28) == 0xe) {
		st->c.tcp_bad_dst++;
		return false;
	}
	off = (uint32_t)(h->off >> 4) * 4;
	if (off < sizeof(*h) || off > d->l4_len) {
		st->c.tcp_bad_off++;
		return false;
	}
	/* RFC 9293 3.1: the checksum covers the pseudo-header; a frame made
	 * on this host with its checksum left to an offload never crossed a
	 * wire (as udp.c). */
	if (!(d->pkt && (d->pkt->flags & USNET_PKT_F_CSUM_PARTIAL)) &&
	    usnet_csum_fold(
		usnet_csum_add(tcp_pseudo_sum(d->src, d->dst, d->l4_len), d->l4, d->l4_len)) != 0) {
		st->c.tcp_bad_csum++;
		return false;
	}
	seg->flags = h->flags;
	if (!tcp_opt_parse(d->l4 + sizeof(*h), off - sizeof(*h), seg->flags & TCP_SYN, &seg->opt)) {
		st->c.tcp_bad_opt++;
		return false;
	}
	if ((seg->flags & TCP_SYN) && (seg->flags & (TCP_RST | TCP_FIN))) {
		st->c.tcp_bad_flags++;
		return false;
	}
	seg->src = d->src;
	seg->dst = d->dst;
	seg->sport = ntohs(h->sport);
	seg->dport = ntohs(h->dport);
	seg->seq = ntohl(h->seq);
	seg->ack = ntohl(h->ack);
	seg->wnd = ntohs(h->wnd);
	seg->data = d->l4 + off;
	seg->len = d->l4_len - off;
	seg->d = d;
	return true;
}

static uint32_t seg_seqlen(const struct tcp_seg *seg)
{
	return seg->len + !!(seg->flags & TCP_SYN) + !!(seg->flags & TCP_FIN);
}

/* --- small helpers --- */

static void ack_now(struct usnet_tcp *c)
{
	c->ack_now = true;
}

static void challenge_ack(struct usnet_tcp *c)
{
	c->s.st->c.tcp_challenge_ack++;
	tcp_send_challenge_ack(c);
}

/* The peer's options on its SYN decide ours (RFC 7323 2.2, 3.2; RFC
 * 2018 2; RFC 9293 3.7.1). */
static void syn_options(struct usnet_tcp *c, const struct tcp_seg *seg)
{
	const struct tcp_opts *o = &seg->opt;
	uint32_t mss = o->mss_ok ? o->mss : 536;

	if (mss > c->adv_mss)
		mss = c->adv_mss;
	if (mss < TCP_MIN_MSS)
		mss = TCP_MIN_MSS;
	c->mss = (uint16_t)mss;
	c->ws_on = c->ws_on && o->ws_ok;
	c->snd_wscale = c->ws_on ? o->ws : 0;
	if (!c->ws_on)
		c->rcv_wscale = 0;
	c->sack_on = c->sack_on && o->sack_ok;
	c->ts_on = c->ts_on && o->ts_ok;
	if (c->ts_on) {
		c->ts_recent = o->tsval;
		c->ts_recent_age_s = now_s(c->s.st);
	}
}

static void snd_wnd_update(struct usnet_tcp *c, const struct tcp_seg *seg, bool syn)
{
	c->snd_wnd = syn ? seg->wnd : seg->wnd << c->snd_wscale;
	c->snd_wl1 = seg->seq;
	c->snd_wl2 = seg->ack;
	if (c->snd_wnd > c->max_snd_wnd)
		c->max_snd_wnd = c->snd_wnd;
}

static void established(struct usnet_tcp *c)
{
	/* Closed for writing while in SYN_RECEIVED: the FIN goes now
	 * (RFC 9293 3.10.4 CLOSE in SYN-RECEIVED). */
	c->state = c->shut_wr ? USNET_TCP_FIN_WAIT_1 : USNET_TCP_ESTABLISHED;
	c->s.st->c.tcp_established++;
	if (c->ka_idle_ms)
		tcp_timer_set(c, TCP_T_KEEPALIVE,
			      c->s.st->now + (uint64_t)c->ka_idle_ms * 1000000u);
}

/* --- LISTEN (RFC 9293 3.10.7.2) --- */

static void child_setup(struct usnet_tcp *c, struct usnet_tcp *l, const struct tcp_seg *seg)
{
	struct usnet_stack *st = l->s.st;
	struct tcp_tuple tu = {seg->dst, seg->src, seg->dport, seg->sport};

	c->lip = seg->dst;
	c->lport = seg->dport;
	c->rip = seg->src;
	c->rport = seg->sport;
	c->listener = l;
	c->passive = true;
	c->user_closed = true; /* nobody holds it until accept() */
	c->rcvbuf = l->rcvbuf;
	c->sndbuf = l->sndbuf;
	c->nodelay = l->nodelay;
	c->cc_kind = l->cc_kind;
	c->ka_idle_ms = l->ka_idle_ms;
	c->ka_intvl_ms = l->ka_intvl_ms;
	c->ka_count = l->ka_count;
	c->adv_mss = seg->d->ifc->mtu - 40;
	if (c->adv_mss > seg->d->ifc->l3_room - 40)
		c->adv_mss = (uint16_t)(seg->d->ifc->l3_room - 40);
	c->rcv_wscale = tcp_wscale_for(c->rcvbuf);
	c->ts_offset = tcp_ts_offset(st->tcp->ts_key, &tu);
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	c->rcv_adv = c->rcv_nxt + (c->rcvbuf < 65535 ? c->rcvbuf : 65535);
	c->state = USNET_TCP_SYN_RECEIVED;
}

/* The MSS a SYN cookie encodes: the peer's, at most our interface's. */
static uint16_t cookie_mss(const struct tcp_seg *seg)
{
	uint16_t mss = seg->d->ifc->mtu - 40;

	if (seg->opt.mss_ok && seg->opt.mss < mss)
		mss = seg->opt.mss;
	return mss;
}

/* Whether l answered a SYN with a cookie in the last 128 s (two cookie
 * periods: as long as such a cookie's final ACK is valid). */
static bool cookies_recent(const struct usnet_tcp *l, uint64_t now)
{
	return l->cookie_at && now - l->cookie_at < 128ull * 1000000000u;
}

static void listen_syn(struct usnet_tcp *l, struct tcp_seg *seg)
{
	struct usnet_stack *st = l->s.st;
	struct tcp_tuple tu = {seg->dst, seg->src, seg->dport, seg->sport};
	struct usnet_tcp *c;

	if (l->acc_n >= l->acc_max) {
		st->c.tcp_backlog_full++;
		return;
	}
	if (l->syn_n >= st->conf.tcp_syn_backlog) {
		/* A SYN cookie answers: no state until the final ACK. */
		struct tcp_opts o = {0};
		uint32_t cookie;
		struct tcp_bare b = {.src = seg->dst,
				     .dst = seg->src,
				     .sport = seg->dport,
				     .dport = seg->sport,
				     .ack = seg->seq + 1,
				     .flags = TCP_SYN | TCP_ACK,
				     .wnd = (uint16_t)(l->rcvbuf < 65535 ? l->rcvbuf : 65535),
				     .opt = &o};

		cookie =
		    tcp_cookie_make(st->tcp->cookie_key, &tu, seg->seq, cookie_mss(seg), st->now);
		b.seq = cookie;
		o.mss_ok = true;
		(void)tcp_cookie_check(st->tcp->cookie_key, &tu, seg->seq, cookie, st->now, &o.mss);
		if (seg->opt.ts_ok) {
			/* Without timestamps the cookie's connection goes
			 * without window scaling and SACK (docs/stack.md). */
			o.ts_ok = true;
			o.ws_ok = seg->opt.ws_ok;
			o.ws = tcp_wscale_for(l->rcvbuf);
			o.sack_ok = seg->opt.sack_ok;
			o.tsval = tcp_cookie_ts_encode(
			    (uint32_t)(st->now / 1000000u) + tcp_ts_offset(st->tcp->ts_key, &tu),
			    seg->opt.ws_ok, seg->opt.ws, seg->opt.sack_ok);
			o.tsecr = seg->opt.tsval;
		}
		st->c.tcp_syn_cookies_sent++;
		l->cookie_at = st->now ? st->now : 1;
		tcp_send_bare(st, &b);
		return;
	}
	c = tcp_conn_new(st, NULL);
	if (!c)
		return;
	child_setup(c, l, seg);
	c->ws_on = c->sack_on = c->ts_on = true;
	syn_options(c, seg);
	/* While cookies go out, this SYN may be a retransmission of one that
	 * got a cookie, whose SYN-ACK the peer may still take: the same ISS
	 * lets its ACK complete this connection instead of drawing a RST. */
	if (cookies_recent(l, st->now))
		c->iss =
		    tcp_cookie_make(st->tcp->cookie_key, &tu, seg->seq, cookie_mss(seg), st->now);
	else
		c->iss = tcp_isn(st->tcp->isn_key, &tu, st->now);
	c->snd_una = c->snd_nxt = c->snd_max = c->iss;
	snd_wnd_update(c, seg, true);
	tcp_hash_add(c);
	l->syn_n++;
	st->c.tcp_passive_opens++;
	tcp_send_init(c);
	tcp_send_syn(c);
}

/* The final ACK of a handshake we answered with a cookie: the
 * connection, in SYN_RECEIVED, or NULL. */
static struct usnet_tcp *cookie_conn(struct usnet_tcp *l, struct tcp_seg *seg)
{
	struct usnet_stack *st = l->s.st;
	struct tcp_tuple tu = {seg->dst, seg->src, seg->dport, seg->sport};
	struct usnet_tcp *c;
	uint16_t mss;

	if (!tcp_cookie_check(st->tcp->cookie_key, &tu, seg->seq - 1, seg->ack - 1, st->now, &mss))
		return NULL;
	if (l->acc_n >= l->acc_max) {
		st->c.tcp_backlog_full++;
		return NULL;
	}
	c = tcp_conn_new(st, NULL);
	if (!c)
		return NULL;
	child_setup(c, l, seg);
	c->irs = seg->seq - 1;
	c->rcv_nxt = seg->seq;
	c->iss = seg->ack - 1;
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = seg->ack;
	c->mss = mss < c->adv_mss ? mss : c->adv_mss;
	if (seg->opt.ts_ok) {
		c->ts_on = true;
		tcp_cookie_ts_decode(seg->opt.tsecr, &c->ws_on, &c->snd_wscale, &c->sack_on);
		c->ts_recent = seg->opt.tsval;
		c->ts_recent_age_s = now_s(st);
	}
	if (!c->ws_on)
		c->rcv_wscale = 0;
	/* As if our SYN-ACK had announced the unscaled window. */
	c->rcv_adv = c->rcv_nxt + (c->rcvbuf < 65535 ? c->rcvbuf : 65535);
	c->snd_wl1 = seg->seq - 1;
	tcp_hash_add(c);
	l->syn_n++;
	st->c.tcp_syn_cookies_ok++;
	st->c.tcp_passive_opens++;
	tcp_send_init(c);
	return c;
}

static void conn_input(struct usnet_tcp *c, struct tcp_seg *seg);

static void listen_input(struct usnet_tcp *l, struct tcp_seg *seg)
{
	struct usnet_stack *st = l->s.st;

	if (seg->flags & TCP_RST) {
		st->c.tcp_no_conn++;
		return;
	}
	if (seg->flags & TCP_ACK) {
		struct usnet_tcp *c = NULL;

		if (!(seg->flags & TCP_SYN))
			c = cookie_conn(l, seg);
		if (c) {
			conn_input(c, seg);
			return;
		}
		if (cookies_recent(l, st->now))
			st->c.tcp_syn_cookies_bad++;
		else
			st->c.tcp_listen_bad++;
		tcp_send_reset(st, seg);
		return;
	}
	if (!(seg->flags & TCP_SYN)) {
		st->c.tcp_no_conn++;
		return;
	}
	listen_syn(l, seg);
}

/* --- SYN_SENT (RFC 9293 3.10.7.3) --- */

static bool text_input(struct usnet_tcp *c, struct tcp_seg *seg);

static void syn_sent_input(struct usnet_tcp *c, struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;
	bool ack_ok = false;

	if (seg->flags & TCP_ACK) {
		if (seq_leq(seg->ack, c->iss) || seq_gt(seg->ack, c->snd_max)) {
			if (!(seg->flags & TCP_RST)) {
				st->c.tcp_syn_sent_bad_ack++;
				tcp_send_reset(st, seg);
			}
			return;
		}
		ack_ok = true;
	}
	if (seg->flags & TCP_RST) {
		/* RFC 5961 3.2: in SYN_SENT a RST counts when it acknowledges our SYN. */
		if (ack_ok) {
			st->c.tcp_conn_refused++;
			tcp_conn_drop(c, -ECONNREFUSED);
		} else {
			st->c.tcp_rst_out_of_window++;
		}
		return;
	}
	if (!(seg->flags & TCP_SYN)) {
		st->c.tcp_no_ack++;
		return;
	}
	c->irs = seg->seq;
	c->rcv_nxt = seg->seq + 1;
	/* What our SYN announced (unscaled, RFC 7323 2.2). */
	c->rcv_adv = c->rcv_nxt + (c->rcvbuf < 65535 ? c->rcvbuf : 65535);
	syn_options(c, seg);
	snd_wnd_update(c, seg, true);
	if (!ack_ok) {
		/* Simultaneous open (RFC 9293 figure 8). */
		c->state = USNET_TCP_SYN_RECEIVED;
		tcp_send_syn(c);
		return;
	}
	established(c);
	tcp_on_ack(c, seg);
	ack_now(c);
	tcp_wake(c);
	if (seg->len || (seg->flags & TCP_FIN)) {
		seg->seq++; /* the text starts after the SYN */
		seg->flags &= (uint8_t)~TCP_SYN;
		if (!text_input(c, seg))
			return;
	}
	tcp_output(c);
}

/* --- synchronized states (RFC 9293 3.10.7.4) --- */

/* RFC 9293 3.10.7.4 first: the acceptability table against the window we
 * announced. */
static bool seq_acceptable(const struct usnet_tcp *c, const struct tcp_seg *seg)
{
	uint32_t wnd = seq_gt(c->rcv_adv, c->rcv_nxt) ? c->rcv_adv - c->rcv_nxt : 0;
	uint32_t len = seg_seqlen(seg);

	/* A zero window still takes a segment at RCV.NXT for its ACK, RST
	 * or FIN, its text trimmed away ("special allowance", as Linux does):
	 * else a receiver whose application stops reading ignores the ACKs
	 * of its own data and both ends wait for ever. */
	if (!wnd)
		return seg->seq == c->rcv_nxt;
	if (!len)
		return seq_in(seg->seq, c->rcv_nxt, c->rcv_nxt + wnd);
	return seq_in(seg->seq, c->rcv_nxt, c->rcv_nxt + wnd) ||
	       seq_in(seg->seq + len - 1, c->rcv_nxt, c->rcv_nxt + wnd);
}

/* RFC 7323 5.3 R1: false (the segment dropped with an ACK) when its
 * timestamp is older than ts_recent, unless that one is 24 days idle. */
static bool paws_ok(struct usnet_tcp *c, const struct tcp_seg *seg)
{
	if (!c->ts_on || !seg->opt.ts_ok || (seg->flags & TCP_RST))
		return true;
	if (!seq_lt(seg->opt.tsval, c->ts_recent))
		return true;
	if (now_s(c->s.st) - c->ts_recent_age_s > PAWS_IDLE_S) {
		/* RFC 7323 5.5: too old to compare; take the new one. */
		c->ts_recent = seg->opt.tsval;
		c->ts_recent_age_s = now_s(c->s.st);
		return true;
	}
	return false;
}

static void fin_input(struct usnet_tcp *c)
{
	c->rcv_nxt++;
	c->fin_rcvd = true;
	ack_now(c);
	switch (c->state) {
	case USNET_TCP_SYN_RECEIVED:
	case USNET_TCP_ESTABLISHED:
		c->state = USNET_TCP_CLOSE_WAIT;
		break;
	case USNET_TCP_FIN_WAIT_1:
		/* Our FIN is not acknowledged (else we would be in FIN_WAIT_2). */
		c->state = USNET_TCP_CLOSING;
		break;
	case USNET_TCP_FIN_WAIT_2:
		tcp_timer_stop(c, TCP_T_TIMEWAIT);
		tcp_time_wait_enter(c);
		break;
	default:
		break;
	}
	tcp_wake(c);
}

/* In-order bytes at RCV.NXT: to the application's queue. */
static void data_in_order(struct usnet_tcp *c, struct tcp_seg *seg, const uint8_t *data,
			  uint32_t len)
{
	struct tcp_rcvq *q = &c->rq;
	bool hole = q->ooo_n != 0;

	if (c->shut_rd) {
		c->rcv_nxt += len; /* SHUT_RD: acknowledged and discarded */
	} else {
		if (!tcp_rcvq_append(q, &seg->d->pkt, &seg->d->heap, data, len))
			return; /* out of memory: not acknowledged, sent again */
		c->rcv_nxt += len;
		c->stats.bytes_received += len;
	}
	if (hole) {
		c->rcv_nxt += tcp_rcvq_ooo_pull(q, c->rcv_nxt);
		tcp_sack_trim(c);
	}
	tcp_wake(c);
	/* RFC 5681 4.2: ACK at once a segment that fills a hole. */
	tcp_ack_schedule(c, hole);
}

/* Entries the out-of-order queue may hold: tcp_ooo_segs, or one per full
 * segment of the receive buffer if that is more, so that it holds every
 * segment the window we announce lets the peer send past a hole (else we
 * drop data we offered room for, never SACK it, and the peer sends it
 * all again). Its bytes are bounded by that window (beyond it is
 * trimmed), its entries by this. */
static uint32_t ooo_max(const struct usnet_tcp *c)
{
	uint32_t mss = c->adv_mss > 536 ? c->adv_mss : 536;
	uint32_t segs = c->rcvbuf / mss + 1, conf = c->s.st->conf.tcp_ooo_segs;

	return segs > conf ? segs : conf;
}

static void data_out_of_order(struct usnet_tcp *c, struct tcp_seg *seg, uint32_t seq,
			      const uint8_t *data, uint32_t len)
{
	struct usnet_stack *st = c->s.st;
	uint32_t start, end;

	c->stats.ooo_segs_in++;
	switch (tcp_rcvq_ooo_add(&c->rq, ooo_max(c), seq, &seg->d->pkt, &seg->d->heap, data, len)) {
	case TCP_OOO_QUEUED:
		st->c.tcp_ooo_queued++;
		if (tcp_rcvq_ooo_range(&c->rq, seq, &start, &end))
			tcp_sack_note(c, start, end);
		break;
	case TCP_OOO_DUP:
		st->c.tcp_dup_data++;
		tcp_dsack_note(c, seq, seq + len);
		break;
	case TCP_OOO_FULL:
		st->c.tcp_ooo_drop++;
		break;
	}
	/* RFC 5681 4.2: an out-of-order segment is acknowledged at once
	 * (a duplicate ACK, with SACK blocks). */
	tcp_ack_schedule(c, true);
}

/* The segment's text and FIN (RFC 9293 3.10.7.4 seventh and eighth);
 * false if c is gone. */
static bool text_input(struct usnet_tcp *c, struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;
	const uint8_t *data = seg->data;
	uint32_t seq = seg->seq, len = seg->len;
	bool fin = seg->flags & TCP_FIN;

	if (c->state != USNET_TCP_ESTABLISHED && c->state != USNET_TCP_FIN_WAIT_1 &&
	    c->state != USNET_TCP_FIN_WAIT_2)
		return true; /* the peer's FIN came already: ignore */
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t skip = c->rcv_nxt - seq;

		if (skip > len) {
			/* Everything, a FIN included, arrived before. */
			st->c.tcp_dup_data++;
			c->stats.dup_segs_in++;
			tcp_dsack_note(c, seq, seq + len);
			ack_now(c);
			return true;
		}
		data += skip;
		len -= skip;
		seq = c->rcv_nxt;
		if (!len && !fin) {
			st->c.tcp_dup_data++;
			c->stats.dup_segs_in++;
			tcp_dsack_note(c, seg->seq, c->rcv_nxt);
			ack_now(c);
			return true;
		}
	}
	if (seq_gt(seq + len, c->rcv_adv)) {
		/* Beyond the window we announced: trimmed, its FIN too. */
		len = seq_gt(c->rcv_adv, seq) ? c->rcv_adv - seq : 0;
		fin = false;
		st->c.tcp_rcv_pruned++;
		ack_now(c);
	}
	if (len && c->user_closed && !c->listener) {
		/* Nobody will read it (RFC 9293 3.10.4 / RFC 2525 2.17). */
		st->c.tcp_data_after_close++;
		tcp_abort_conn(c);
		tcp_conn_drop(c, -ECONNRESET);
		return false;
	}
	c->stats.segs_in++;
	if (fin) {
		/* Where the FIN is; processed once RCV.NXT gets there. */
		c->rq.ooo_fin = true;
		c->rq.ooo_fin_seq = seq + len;
	}
	if (seq == c->rcv_nxt) {
		if (len)
			data_in_order(c, seg, data, len);
	} else if (len) {
		data_out_of_order(c, seg, seq, data, len);
	} else {
		tcp_ack_schedule(c, true);
	}
	if (c->rq.ooo_fin && c->rcv_nxt == c->rq.ooo_fin_seq) {
		c->rq.ooo_fin = false;
		fin_input(c);
	}
	return true;
}

/* RFC 9293 3.10.7.4 fifth, from ESTABLISHED on; false if c is gone. */
static bool ack_input(struct usnet_tcp *c, struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;
	uint32_t acked = 0, una;
	bool fin_acked;

	/* RFC 5961 5.2: acceptable in [SND.UNA - MAX.SND.WND, SND.NXT]. */
	if (seq_gt(seg->ack, c->snd_max)) {
		st->c.tcp_ack_too_new++;
		ack_now(c);
		tcp_output(c);
		return false;
	}
	if (seq_lt(seg->ack, c->snd_una - c->max_snd_wnd)) {
		st->c.tcp_ack_too_old++;
		challenge_ack(c);
		return false;
	}
	una = c->snd_una;
	if (seq_geq(seg->ack, c->snd_una))
		acked = tcp_on_ack(c, seg);
	/* The window, from the newest segment only (SND.WL1 / SND.WL2), or
	 * from one that acknowledges new data: a retransmission from the
	 * peer moves SND.UNA, and its window is the one that goes with that
	 * SND.UNA (else SND.UNA + SND.WND drifts past the peer's right
	 * edge; Linux's tcp_may_update_window() has the same rule). */
	if (seq_geq(seg->ack, c->snd_una) &&
	    (seq_lt(c->snd_wl1, seg->seq) || seq_gt(seg->ack, una) ||
	     (c->snd_wl1 == seg->seq && seq_leq(c->snd_wl2, seg->ack))))
		snd_wnd_update(c, seg, false);
	fin_acked = c->fin_sent && c->snd_una == c->snd_max;
	switch (c->state) {
	case USNET_TCP_FIN_WAIT_1:
		if (fin_acked) {
			c->state = USNET_TCP_FIN_WAIT_2;
			if (c->user_closed)
				tcp_timer_set(c, TCP_T_TIMEWAIT,
					      st->now +
						  (uint64_t)st->conf.tcp_fin_timeout_ms * 1000000u);
		}
		break;
	case USNET_TCP_CLOSING:
		if (fin_acked) {
			tcp_time_wait_enter(c);
			return false;
		}
		break;
	case USNET_TCP_LAST_ACK:
		if (fin_acked) {
			tcp_conn_drop(c, 0);
			return false;
		}
		break;
	default:
		break;
	}
	if (acked && (c->state == USNET_TCP_ESTABLISHED || c->state == USNET_TCP_CLOSE_WAIT))
		tcp_wake(c); /* room in the send buffer */
	return true;
}

/* SYN_RECEIVED's ACK (RFC 9293 3.10.7.4 fifth); false: drop the segment. */
static bool syn_received_ack(struct usnet_tcp *c, struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;
	struct usnet_tcp *l = c->listener;

	if (!seq_gt(seg->ack, c->snd_una) || seq_gt(seg->ack, c->snd_max)) {
		tcp_send_reset(st, seg);
		return false;
	}
	if (l && l->acc_n >= l->acc_max) {
		/* Linux's choice: stay half-open; the SYN-ACK is sent again. */
		st->c.tcp_backlog_full++;
		return false;
	}
	established(c);
	tcp_on_ack(c, seg);
	snd_wnd_update(c, seg, false);
	if (l)
		tcp_child_established(c);
	else
		tcp_wake(c); /* simultaneous open: connect() completed */
	return true;
}

static void rst_input(struct usnet_tcp *c, const struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;

	/* RFC 5961 3.2: only a RST exactly at RCV.NXT resets; one elsewhere
	 * in the window gets a challenge ACK. */
	if (seg->seq != c->rcv_nxt) {
		st->c.tcp_rst_in_window_ignored++;
		challenge_ack(c);
		return;
	}
	switch (c->state) {
	case USNET_TCP_SYN_RECEIVED:
		if (c->passive) {
			tcp_conn_drop(c, 0); /* back to LISTEN: forget it */
			return;
		}
		st->c.tcp_conn_refused++;
		tcp_conn_drop(c, -ECONNREFUSED);
		return;
	case USNET_TCP_CLOSING:
	case USNET_TCP_LAST_ACK:
	case USNET_TCP_TIME_WAIT:
		tcp_conn_drop(c, 0);
		return;
	default:
		st->c.tcp_resets_rx++;
		tcp_conn_drop(c, c->state == USNET_TCP_CLOSE_WAIT && c->shut_wr ? -EPIPE
										: -ECONNRESET);
		return;
	}
}

static void sync_input(struct usnet_tcp *c, struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;
	uint32_t rcv_nxt0 = c->rcv_nxt;

	if (c->state == USNET_TCP_SYN_RECEIVED && !c->passive &&
	    (seg->flags & (TCP_SYN | TCP_ACK)) == (TCP_SYN | TCP_ACK) &&
	    seg->seq + 1 == c->rcv_nxt && seg->ack == c->snd_max && !seg->len) {
		/* Simultaneous open: the peer's SYN-ACK acknowledges our SYN and
		 * repeats its own; the ACK is what counts (as Linux does). */
		seg->flags &= (uint8_t)~TCP_SYN;
		seg->seq++;
	}
	if (!paws_ok(c, seg)) {
		st->c.tcp_paws_drop++;
		ack_now(c);
		tcp_output(c);
		return;
	}
	if (!seq_acceptable(c, seg)) {
		if (seg->flags & TCP_RST) {
			st->c.tcp_rst_out_of_window++;
			return;
		}
		if (c->state == USNET_TCP_SYN_RECEIVED && (seg->flags & TCP_SYN) &&
		    seg->seq == c->irs) {
			tcp_send_syn(c); /* the SYN again: the SYN-ACK again */
			return;
		}
		if (seq_leq(seg->seq + seg_seqlen(seg), c->rcv_nxt)) {
			st->c.tcp_dup_data++;
			c->stats.dup_segs_in++;
			if (seg->len) /* RFC 2883 4: a duplicate, said in a D-SACK */
				tcp_dsack_note(c, seg->seq, seg->seq + seg->len);
		} else {
			st->c.tcp_out_of_window++;
		}
		if (c->state == USNET_TCP_TIME_WAIT && (seg->flags & TCP_FIN))
			tcp_timer_set(c, TCP_T_TIMEWAIT,
				      st->now + (uint64_t)st->conf.tcp_time_wait_ms * 1000000u);
		ack_now(c);
		tcp_output(c);
		return;
	}
	/* RFC 7323 4.3 R3: the timestamp to echo, from a segment at or
	 * before the left edge. */
	if (c->ts_on && seg->opt.ts_ok && seq_geq(seg->opt.tsval, c->ts_recent) &&
	    seq_leq(seg->seq, rcv_nxt0)) {
		c->ts_recent = seg->opt.tsval;
		c->ts_recent_age_s = now_s(st);
	}
	if (seg->flags & TCP_RST) {
		rst_input(c, seg);
		return;
	}
	if (seg->flags & TCP_SYN) {
		/* RFC 5961 4.2: any SYN on a synchronized connection. */
		st->c.tcp_syn_in_sync++;
		challenge_ack(c);
		return;
	}
	if (!(seg->flags & TCP_ACK)) {
		st->c.tcp_no_ack++;
		return;
	}
	if (c->state == USNET_TCP_SYN_RECEIVED) {
		if (!syn_received_ack(c, seg))
			return;
	} else if (!ack_input(c, seg)) {
		return;
	}
	if (c->state == USNET_TCP_TIME_WAIT) {
		ack_now(c);
		tcp_output(c);
		return;
	}
	if ((seg->len || (seg->flags & TCP_FIN)) && !text_input(c, seg))
		return;
	tcp_output(c);
}

static void conn_input(struct usnet_tcp *c, struct tcp_seg *seg)
{
	struct usnet_stack *st = c->s.st;

	if (c->state == USNET_TCP_SYN_SENT) {
		syn_sent_input(c, seg);
		return;
	}
	if (c->state == USNET_TCP_TIME_WAIT &&
	    (seg->flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN) {
		/* A new connection for the 4-tuple, as Linux takes it: a higher
		 * sequence number, or a newer timestamp. */
		bool newer = c->ts_on && seg->opt.ts_ok ? seq_gt(seg->opt.tsval, c->ts_recent)
							: seq_gt(seg->seq, c->rcv_nxt);
		struct usnet_tcp *l = tcp_listener(st, seg->dst, seg->dport);

		if (newer && l) {
			st->c.tcp_time_wait_reused++;
			tcp_conn_drop(c, 0);
			listen_input(l, seg);
			return;
		}
	}
	sync_input(c, seg);
}

static void no_conn(struct usnet_stack *st, const struct tcp_seg *seg)
{
	/* RFC 9293 3.10.7.1: a RST answers everything but a RST. */
	st->c.tcp_no_conn++;
	if (!(seg->flags & TCP_RST))
		tcp_send_reset(st, seg);
}

void tcp_input(struct usnet_stack *st, struct ip_dgram *d)
{
	struct usnet_tcp *c, *l;
	struct tcp_seg seg;

	st->c.tcp_rx++;
	if (!st->tcp || !seg_parse(st, d, &seg))
		goto out;
	c = tcp_lookup(st, seg.dst, seg.dport, seg.src, seg.sport);
	if (c) {
		conn_input(c, &seg);
		goto out;
	}
	l = tcp_listener(st, seg.dst, seg.dport);
	if (l)
		listen_input(l, &seg);
	else
		no_conn(st, &seg);
out:
	stk_dgram_free(d);
}

void tcp_icmp_error(struct usnet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
		    uint16_t rport, uint32_t seq, int err)
{
	struct usnet_tcp *c = tcp_lookup(st, lip, lport, rip, rport);

	/* RFC 5927 4.1: only for a sequence number in flight. */
	if (!c || !seq_in(seq, c->snd_una, c->snd_max + (c->snd_max == c->snd_una)))
		return;
	st->c.tcp_icmp_error++;
	/* RFC 1122 4.2.3.9: port and protocol unreachable are hard errors
	 * for a connection being opened; the others are soft. */
	if (c->state == USNET_TCP_SYN_SENT && err == -ECONNREFUSED) {
		tcp_conn_drop(c, err);
		return;
	}
	if (err != -EMSGSIZE)
		c->soft_err = err;
}
