/* SPDX-License-Identifier: MIT */
/*
 * TCP segment arrival against a peer that crafts every segment (the test,
 * on the other end of a pair: port): header checks and their counters,
 * RST for no connection, RFC 5961 (RST and SYN at RCV.NXT only, challenge
 * ACKs, the ACK range), PAWS (RFC 7323 5) with its 24-day rule, the
 * out-of-order queue and the SACK blocks we report (RFC 2018 4), its
 * bound, and SYN cookies once the half-open queue is full.
 */
#include "../../src/stack/tcp_impl.h"
#include "tcp_util.h"

#define PEER_ISS 1000000u

struct tseg {
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd, sport, dport;
	uint32_t len;
	uint8_t data[1600];
	struct tcp_opts o;
};

/* A TCP segment from the peer (IP_PEER:sport -> IP_US:dport) in frame f. */
static size_t make_tcp(uint8_t *f, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		       uint8_t flags, uint16_t wnd, const struct tcp_opts *o, const void *data,
		       size_t len)
{
	uint8_t seg[1600];
	struct usnet_tcp_hdr *t = (struct usnet_tcp_hdr *)seg;
	uint32_t olen = o ? tcp_opt_build(o, flags & TCP_SYN, seg + 20) : 0;
	uint32_t n = 20 + olen + (uint32_t)len;

	t->sport = htons(sport);
	t->dport = htons(dport);
	t->seq = htonl(seq);
	t->ack = htonl(ack);
	t->off = (uint8_t)((20 + olen) / 4 << 4);
	t->flags = flags;
	t->wnd = htons(wnd);
	t->csum = 0;
	t->urg = 0;
	if (len)
		memcpy(seg + 20 + olen, data, len);
	t->csum = usnet_csum_fold(usnet_csum_add(tcp_pseudo_sum(IP_PEER, IP_US, n), seg, n));
	return make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_TCP, 1, 0, NULL, 0, seg,
		       n);
}

static void send_tcp(struct harness *h, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		     uint8_t flags, const struct tcp_opts *o, const void *data, size_t len)
{
	uint8_t f[1700];

	inject(h, f, make_tcp(f, sport, dport, seq, ack, flags, 4096, o, data, len));
}

/* The next TCP segment the stack sent (ARP requests answered on the way). */
static bool peer_tcp(struct harness *h, struct tseg *s)
{
	uint8_t f[2048];
	size_t n;

	while ((n = peer_recv(h, f, sizeof(f)))) {
		const struct usnet_tcp_hdr *t = (const struct usnet_tcp_hdr *)(f + 34);
		uint32_t off;

		if (f[12] == 0x08 && f[13] == 0x06) {
			if (f[21] == 1) {
				answer_arp(h, get32(f + 38));
			}
			continue;
		}
		if (n < 54 || f[23] != USNET_IPPROTO_TCP)
			continue;
		off = (uint32_t)(t->off >> 4) * 4;
		s->sport = ntohs(t->sport);
		s->dport = ntohs(t->dport);
		s->seq = ntohl(t->seq);
		s->ack = ntohl(t->ack);
		s->flags = t->flags;
		s->wnd = ntohs(t->wnd);
		s->len = (uint32_t)(get16(f + 16) - 20 - off);
		if (s->len > sizeof(s->data))
			s->len = sizeof(s->data);
		memcpy(s->data, f + 34 + off, s->len);
		CHECK(tcp_opt_parse(f + 54, off - 20, t->flags & TCP_SYN, &s->o));
		CHECK_EQ(usnet_csum_fold(usnet_csum_add(
			     tcp_pseudo_sum(IP_US, IP_PEER, off + s->len), f + 34, off + s->len)),
			 0);
		return true;
	}
	return false;
}

struct conn {
	uint16_t sport;
	uint32_t snd, rcv; /* the peer's next sequence number; ours to acknowledge */
	uint32_t tsval, our_ts;
	struct usnet_tcp *s;
};

static struct tcp_opts ts_opt(struct conn *k)
{
	struct tcp_opts o = {.ts_ok = true, .tsval = k->tsval, .tsecr = k->our_ts};

	return o;
}

/* The peer opens a connection to the listener on port 80, with every
 * option; c->s is the accepted socket (NULL if it failed). */
static void peer_open(struct harness *h, struct usnet_tcp *ls, struct conn *k, uint16_t sport)
{
	struct tcp_opts o = {.mss_ok = true,
			     .mss = 1460,
			     .ws_ok = true,
			     .ws = 7,
			     .sack_ok = true,
			     .ts_ok = true,
			     .tsval = 100};
	struct tseg r;

	memset(k, 0, sizeof(*k));
	k->sport = sport;
	k->tsval = 100;
	send_tcp(h, sport, 80, PEER_ISS, 0, TCP_SYN, &o, NULL, 0);
	if (!peer_tcp(h, &r) || r.flags != (TCP_SYN | TCP_ACK)) {
		CHECK(!"no SYN-ACK");
		return;
	}
	CHECK_EQ(r.ack, PEER_ISS + 1);
	CHECK(r.o.mss_ok && r.o.ws_ok && r.o.sack_ok && r.o.ts_ok);
	CHECK_EQ(r.o.tsecr, 100);
	k->snd = PEER_ISS + 1;
	k->rcv = r.seq + 1;
	k->our_ts = r.o.tsval;
	k->tsval = 101;
	o = ts_opt(k);
	send_tcp(h, sport, 80, k->snd, k->rcv, TCP_ACK, &o, NULL, 0);
	CHECK_EQ(usnet_tcp_accept(ls, &k->s, NULL, NULL), 0);
}

static struct usnet_tcp *listener(struct harness *h)
{
	struct usnet_tcp *ls;

	CHECK_EQ(usnet_tcp_open(h->st, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 80), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 16), 0);
	return ls;
}

#define CTR(h, name) (counters(h).name)

static void test_header_checks(void)
{
	struct harness h;
	uint8_t f[256], seg[64];
	struct tseg r;
	size_t n;

	CHECK_EQ(harness_open(&h, "tcp_hdr", NULL), 0);
	/* Shorter than a header. */
	memset(seg, 0, sizeof(seg));
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_TCP, 1, 0, NULL, 0, seg, 12);
	inject(&h, f, n);
	CHECK_EQ(CTR(&h, tcp_short), 1);
	/* Data offset 4 words, then 15 words in a 20-byte segment. */
	n = make_tcp(f, 1, 80, 0, 0, TCP_SYN, 100, NULL, NULL, 0);
	f[34 + 12] = 4 << 4;
	inject(&h, f, n);
	f[34 + 12] = 15 << 4;
	inject(&h, f, n);
	CHECK_EQ(CTR(&h, tcp_bad_off), 2);
	/* Checksum one bit off. */
	n = make_tcp(f, 1, 80, 0, 0, TCP_SYN, 100, NULL, "x", 1);
	f[n - 1] ^= 1;
	inject(&h, f, n);
	CHECK_EQ(CTR(&h, tcp_bad_csum), 1);
	/* An option whose length runs past the header; an MSS of length 3. */
	{
		uint8_t t[24] = {0};
		struct usnet_tcp_hdr *th = (struct usnet_tcp_hdr *)t;

		th->sport = htons(1);
		th->dport = htons(80);
		th->off = 6 << 4;
		th->flags = TCP_SYN;
		memcpy(t + 20, (const uint8_t[4]){1, 8, 10, 0}, 4); /* TS of 10 in 3 bytes */
		th->csum =
		    usnet_csum_fold(usnet_csum_add(tcp_pseudo_sum(IP_PEER, IP_US, 24), t, 24));
		n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_TCP, 1, 0, NULL, 0,
			    t, 24);
		inject(&h, f, n);
		th->csum = 0;
		memcpy(t + 20, (const uint8_t[4]){2, 3, 5, 0}, 4);
		th->csum =
		    usnet_csum_fold(usnet_csum_add(tcp_pseudo_sum(IP_PEER, IP_US, 24), t, 24));
		n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_TCP, 1, 0, NULL, 0,
			    t, 24);
		inject(&h, f, n);
	}
	CHECK_EQ(CTR(&h, tcp_bad_opt), 2);
	/* SYN+FIN. */
	n = make_tcp(f, 1, 80, 0, 0, TCP_SYN | TCP_FIN, 100, NULL, NULL, 0);
	inject(&h, f, n);
	CHECK_EQ(CTR(&h, tcp_bad_flags), 1);
	/* To the subnet broadcast. */
	n = make_tcp(f, 1, 80, 0, 0, TCP_SYN, 100, NULL, NULL, 0);
	{
		struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(f + 14);

		/* The pseudo-header changes with the address: fix both sums. */
		uint32_t bc = (IP_US | 0xff);
		struct usnet_tcp_hdr *th = (struct usnet_tcp_hdr *)(f + 34);

		ip->dst = htonl(bc);
		ip->csum = 0;
		ip->csum = usnet_ipv4_csum(ip);
		th->csum = 0;
		th->csum = usnet_csum_fold(usnet_csum_add(tcp_pseudo_sum(IP_PEER, bc, 20), th, 20));
		memcpy(f, MAC_BCAST, 6);
	}
	inject(&h, f, n);
	CHECK_EQ(CTR(&h, tcp_bad_dst), 1);
	/* None of them was answered. */
	CHECK(!peer_tcp(&h, &r));
	CHECK_EQ(CTR(&h, tcp_no_conn), 0);

	/* A SYN to a closed port: RST|ACK acknowledging it (RFC 9293 3.10.7.1);
	 * an ACK: RST at its ack; a RST: nothing. */
	send_tcp(&h, 7, 81, 5000, 0, TCP_SYN, NULL, NULL, 0);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.flags, TCP_RST | TCP_ACK);
	CHECK_EQ(r.seq, 0);
	CHECK_EQ(r.ack, 5001);
	send_tcp(&h, 7, 81, 5000, 777, TCP_ACK, NULL, "abc", 3);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.flags, TCP_RST);
	CHECK_EQ(r.seq, 777);
	send_tcp(&h, 7, 81, 5000, 777, TCP_RST, NULL, NULL, 0);
	CHECK(!peer_tcp(&h, &r));
	CHECK_EQ(CTR(&h, tcp_no_conn), 3);
	harness_close(&h);
}

/* RFC 5961: RST and SYN only at RCV.NXT; in-window ones get a challenge
 * ACK; the ACK field in [SND.UNA - MAX.SND.WND, SND.NXT]. */
static void test_rfc5961(void)
{
	struct usnet_tcp *ls;
	struct harness h;
	struct tcp_opts o;
	struct conn k;
	struct tseg r;
	char buf[16];

	CHECK_EQ(harness_open(&h, "tcp_5961", NULL), 0);
	ls = listener(&h);
	peer_open(&h, ls, &k, 3000);
	if (!k.s)
		goto out;
	CHECK_EQ(tcp_state(k.s), USNET_TCP_ESTABLISHED);
	o = ts_opt(&k);

	/* In the window, not at RCV.NXT: a challenge ACK, the connection stays. */
	send_tcp(&h, 3000, 80, k.snd + 1000, 0, TCP_RST, &o, NULL, 0);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.flags, TCP_ACK);
	CHECK_EQ(r.ack, k.snd);
	CHECK_EQ(r.seq, k.rcv);
	CHECK_EQ(CTR(&h, tcp_rst_in_window_ignored), 1);
	CHECK_EQ(tcp_state(k.s), USNET_TCP_ESTABLISHED);
	/* Outside the window: silently dropped. */
	send_tcp(&h, 3000, 80, k.snd + 100000000u, 0, TCP_RST, &o, NULL, 0);
	CHECK(!peer_tcp(&h, &r));
	CHECK_EQ(CTR(&h, tcp_rst_out_of_window), 1);
	/* A SYN at any sequence number: a challenge ACK. */
	send_tcp(&h, 3000, 80, k.snd + 5, 0, TCP_SYN, &o, NULL, 0);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.flags, TCP_ACK);
	CHECK_EQ(r.ack, k.snd);
	CHECK_EQ(CTR(&h, tcp_syn_in_sync), 1);
	CHECK_EQ(tcp_state(k.s), USNET_TCP_ESTABLISHED);
	/* An ACK far below SND.UNA: challenge ACK, the data not taken. */
	send_tcp(&h, 3000, 80, k.snd, k.rcv - 0x40000000u, TCP_ACK, &o, "evil", 4);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.ack, k.snd);
	CHECK_EQ(CTR(&h, tcp_ack_too_old), 1);
	/* An ACK of data never sent: an ACK back, the data not taken. */
	send_tcp(&h, 3000, 80, k.snd, k.rcv + 5000, TCP_ACK, &o, "evil", 4);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.ack, k.snd);
	CHECK_EQ(CTR(&h, tcp_ack_too_new), 1);
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), -EAGAIN);
	CHECK_EQ(CTR(&h, tcp_challenge_ack), 3);
	/* Exactly at RCV.NXT: the connection is reset. */
	send_tcp(&h, 3000, 80, k.snd, 0, TCP_RST, &o, NULL, 0);
	CHECK_EQ(tcp_state(k.s), USNET_TCP_CLOSED);
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), -ECONNRESET);
	CHECK_EQ(CTR(&h, tcp_resets_rx), 1);
	CHECK(!peer_tcp(&h, &r));
	usnet_tcp_close(k.s);
out:
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* RFC 5961 7: challenge ACKs at most 1000 a second, over any interval: a
 * burst that straddles a second's edge gets no more than 1000 plus the
 * refill (a fixed one-second window let 2000 through). */
static int challenge_burst(struct harness *h, struct conn *k, int n)
{
	struct tcp_opts o = ts_opt(k);
	struct tseg r;
	int acks = 0;

	for (int i = 0; i < n; i++) {
		send_tcp(h, k->sport, 80, k->snd + 1000, 0, TCP_RST, &o, NULL, 0);
		while (peer_tcp(h, &r))
			acks += r.flags == TCP_ACK;
	}
	return acks;
}

static void test_challenge_rate(void)
{
	struct usnet_tcp *ls;
	struct harness h;
	struct conn k;
	uint64_t lim0;
	int a, b;

	CHECK_EQ(harness_open(&h, "tcp_chrate", NULL), 0);
	ls = listener(&h);
	peer_open(&h, ls, &k, 3001);
	if (!k.s)
		goto out;
	lim0 = CTR(&h, tcp_tx_rate_limited);
	CHECK_EQ(challenge_burst(&h, &k, 1), 1);
	fake_now += 999 * MS;
	a = challenge_burst(&h, &k, 750);
	fake_now += 2 * MS;
	b = challenge_burst(&h, &k, 750);
	CHECK_EQ(a, 750);
	CHECK(a + b <= 1000 + 2);
	CHECK(b >= 1);
	CHECK_EQ(CTR(&h, tcp_tx_rate_limited) - lim0, 1501u - 1 - (uint64_t)(a + b));
	/* A quiet second refills the whole bucket. */
	fake_now += 1000 * MS;
	CHECK_EQ(challenge_burst(&h, &k, 1200), 1000);
	CHECK_EQ(tcp_state(k.s), USNET_TCP_ESTABLISHED);
	usnet_tcp_close(k.s);
out:
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* RFC 7323 5: an older timestamp is dropped (with an ACK) unless
 * ts_recent is 24 days idle. */
static void test_paws(void)
{
	struct usnet_tcp *ls;
	struct harness h;
	struct tcp_opts o;
	struct conn k;
	struct tseg r;
	char buf[16];

	CHECK_EQ(harness_open(&h, "tcp_paws", NULL), 0);
	ls = listener(&h);
	peer_open(&h, ls, &k, 3001);
	if (!k.s)
		goto out;
	k.tsval = 200;
	o = ts_opt(&k);
	send_tcp(&h, 3001, 80, k.snd, k.rcv, TCP_ACK | TCP_PSH, &o, "aaaa", 4);
	k.snd += 4;
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), 4);
	peer_drain(&h);
	o.tsval = 150; /* older */
	send_tcp(&h, 3001, 80, k.snd, k.rcv, TCP_ACK | TCP_PSH, &o, "bbbb", 4);
	CHECK_EQ(CTR(&h, tcp_paws_drop), 1);
	CHECK(peer_tcp(&h, &r)); /* the ACK PAWS owes */
	CHECK_EQ(r.ack, k.snd);
	CHECK_EQ(r.o.tsecr, 200);
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), -EAGAIN);
	o.tsval = 300;
	send_tcp(&h, 3001, 80, k.snd, k.rcv, TCP_ACK | TCP_PSH, &o, "bbbb", 4);
	k.snd += 4;
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "bbbb", 4));
	/* 25 days later an old timestamp is taken again (RFC 7323 5.5). */
	fake_now += 25ull * 86400 * 1000 * MS;
	o.tsval = 10;
	send_tcp(&h, 3001, 80, k.snd, k.rcv, TCP_ACK | TCP_PSH, &o, "cccc", 4);
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), 4);
	CHECK(!memcmp(buf, "cccc", 4));
	CHECK_EQ(CTR(&h, tcp_paws_drop), 1);
	usnet_tcp_abort(k.s);
out:
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* Out-of-order segments are held, reported in SACK blocks (the newest
 * first, RFC 2018 4) and delivered in order once the holes fill. */
static void test_ooo_sack(void)
{
	/* The queue holds max(tcp_ooo_segs, rcvbuf / MSS + 1) segments: 4 here. */
	struct usnet_stack_conf conf = {.tcp_ooo_segs = 4, .tcp_rcvbuf = 4096};
	static uint8_t data[8000], got[8000];
	struct usnet_tcp *ls;
	struct harness h;
	struct tcp_opts o;
	struct conn k;
	struct tseg r;
	uint32_t b;
	long n;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 1);
	CHECK_EQ(harness_open(&h, "tcp_ooo", &conf), 0);
	ls = listener(&h);
	peer_open(&h, ls, &k, 3002);
	if (!k.s)
		goto out;
	b = k.snd;
	o = ts_opt(&k);
	/* [1000, 2000) first. */
	send_tcp(&h, 3002, 80, b + 1000, k.rcv, TCP_ACK, &o, data + 1000, 1000);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.ack, b);
	CHECK_EQ(r.o.nsack, 1);
	CHECK_EQ(r.o.sack[0].start, b + 1000);
	CHECK_EQ(r.o.sack[0].end, b + 2000);
	/* [3000, 4000): its block comes first. */
	send_tcp(&h, 3002, 80, b + 3000, k.rcv, TCP_ACK, &o, data + 3000, 1000);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.o.nsack, 2);
	CHECK_EQ(r.o.sack[0].start, b + 3000);
	CHECK_EQ(r.o.sack[1].start, b + 1000);
	/* [2000, 3000) joins them: one block [1000, 4000). */
	send_tcp(&h, 3002, 80, b + 2000, k.rcv, TCP_ACK, &o, data + 2000, 1000);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.o.nsack, 1);
	CHECK_EQ(r.o.sack[0].start, b + 1000);
	CHECK_EQ(r.o.sack[0].end, b + 4000);
	CHECK_EQ(usnet_tcp_recv(k.s, got, sizeof(got)), -EAGAIN);
	/* The hole at the front fills: everything in order, ACKed at once. */
	send_tcp(&h, 3002, 80, b, k.rcv, TCP_ACK, &o, data, 1000);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.ack, b + 4000);
	CHECK_EQ(r.o.nsack, 0);
	n = usnet_tcp_recv(k.s, got, sizeof(got));
	CHECK_EQ(n, 4000);
	CHECK(!memcmp(got, data, 4000));
	CHECK_EQ(CTR(&h, tcp_ooo_queued), 3);
	/* The bound: 4 held segments, the fifth dropped. */
	for (int i = 0; i < 5; i++)
		send_tcp(&h, 3002, 80, b + 4000 + 200 + (uint32_t)i * 400, k.rcv, TCP_ACK, &o,
			 data + 4200 + i * 400, 100);
	CHECK_EQ(CTR(&h, tcp_ooo_queued), 7);
	CHECK_EQ(CTR(&h, tcp_ooo_drop), 1);
	/* A duplicate of held data changes nothing. */
	send_tcp(&h, 3002, 80, b + 4200, k.rcv, TCP_ACK, &o, data + 4200, 100);
	CHECK_EQ(CTR(&h, tcp_ooo_queued), 7);
	usnet_tcp_abort(k.s);
out:
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* SYN cookies: with tcp_syn_backlog half-open connections, the next SYN
 * is answered statelessly and its final ACK still makes a connection. */
static void test_syn_cookies(void)
{
	struct usnet_stack_conf conf = {.tcp_syn_backlog = 2};
	struct tcp_opts syn = {.mss_ok = true,
			       .mss = 1400,
			       .ws_ok = true,
			       .ws = 9,
			       .sack_ok = true,
			       .ts_ok = true,
			       .tsval = 5000};
	struct usnet_tcp *ls, *c;
	struct usnet_tcp_info info;
	struct usnet_addr4 peer;
	struct harness h;
	struct tcp_opts o;
	struct tseg r;
	char buf[16];
	uint32_t cookie;

	CHECK_EQ(harness_open(&h, "tcp_cookie", NULL), 0);
	harness_close(&h);
	CHECK_EQ(harness_open(&h, "tcp_cookie", &conf), 0);
	ls = listener(&h);
	/* Two half-open connections fill the queue. */
	send_tcp(&h, 4001, 80, 100, 0, TCP_SYN, &syn, NULL, 0);
	send_tcp(&h, 4002, 80, 200, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r) && peer_tcp(&h, &r));
	CHECK_EQ(CTR(&h, tcp_syn_cookies_sent), 0);
	/* The third gets a cookie. */
	send_tcp(&h, 4003, 80, 300, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.flags, TCP_SYN | TCP_ACK);
	CHECK_EQ(r.ack, 301);
	CHECK_EQ(CTR(&h, tcp_syn_cookies_sent), 1);
	CHECK(r.o.ts_ok && r.o.mss_ok && r.o.ws_ok && r.o.sack_ok);
	CHECK_EQ(r.o.mss, 1400);
	cookie = r.seq;
	/* A forged final ACK: RST, no connection. */
	o = (struct tcp_opts){.ts_ok = true, .tsval = 5001, .tsecr = r.o.tsval};
	send_tcp(&h, 4003, 80, 301, cookie + 2, TCP_ACK, &o, NULL, 0);
	CHECK(peer_tcp(&h, &r) && r.flags == TCP_RST);
	CHECK_EQ(CTR(&h, tcp_syn_cookies_bad), 1);
	CHECK_EQ(usnet_tcp_accept(ls, &c, NULL, NULL), -EAGAIN);
	/* The real one, with data. */
	send_tcp(&h, 4003, 80, 301, cookie + 1, TCP_ACK | TCP_PSH, &o, "cookie", 6);
	CHECK_EQ(CTR(&h, tcp_syn_cookies_ok), 1);
	c = NULL;
	CHECK_EQ(usnet_tcp_accept(ls, &c, NULL, &peer), 0);
	if (c) {
		CHECK_EQ(peer.port, 4003);
		CHECK_EQ(usnet_tcp_recv(c, buf, sizeof(buf)), 6);
		CHECK(!memcmp(buf, "cookie", 6));
		usnet_tcp_info(c, &info);
		CHECK_EQ(info.state, USNET_TCP_ESTABLISHED);
		CHECK_EQ(info.mss, 1400);
		CHECK(info.timestamps && info.sack && info.wscale);
		CHECK_EQ(info.snd_wscale, 9); /* carried in the TSval's low bits */
		usnet_tcp_abort(c);
		{
			bool rst = false;

			while (peer_tcp(&h, &r))
				rst |= r.flags == (TCP_RST | TCP_ACK) && r.dport == 4003;
			CHECK(rst);
		}
	}
	/* Without timestamps: a cookie connection without WS and SACK. */
	syn.ts_ok = false;
	send_tcp(&h, 4004, 80, 400, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r));
	CHECK(!r.o.ts_ok && !r.o.ws_ok && !r.o.sack_ok);
	send_tcp(&h, 4004, 80, 401, r.seq + 1, TCP_ACK, NULL, NULL, 0);
	CHECK_EQ(CTR(&h, tcp_syn_cookies_ok), 2);
	c = NULL;
	CHECK_EQ(usnet_tcp_accept(ls, &c, NULL, NULL), 0);
	if (c) {
		usnet_tcp_info(c, &info);
		CHECK(!info.timestamps && !info.sack && !info.wscale);
		usnet_tcp_abort(c);
		peer_drain(&h);
	}
	/* A cookie older than two periods (64 s each) is refused. */
	send_tcp(&h, 4005, 80, 500, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r));
	fake_now += 200ull * 1000 * MS;
	send_tcp(&h, 4005, 80, 501, r.seq + 1, TCP_ACK, NULL, NULL, 0);
	CHECK_EQ(CTR(&h, tcp_syn_cookies_ok), 2);
	/* (No cookie sent in the last 128 s: counted as a stray ACK.) */
	CHECK_EQ(CTR(&h, tcp_listen_bad), 1);
	CHECK(peer_tcp(&h, &r) && r.flags == TCP_RST);
	CHECK_EQ(usnet_tcp_accept(ls, &c, NULL, NULL), -EAGAIN);
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* A SYN answered with a cookie, then (its SYN-ACK late) the same SYN again
 * when the half-open queue has room: the connection made now answers with
 * the cookie as its ISS, so that the peer's ACK of the first SYN-ACK
 * completes it. Before, it had an ISS of its own, the ACK did not
 * acknowledge it, and the peer, established by the cookie's SYN-ACK, got a
 * RST (tcp_many under load: 110 of 10000 connections reset). */
static void test_cookie_then_queue(void)
{
	struct usnet_stack_conf conf = {.tcp_syn_backlog = 1};
	struct tcp_opts syn = {.mss_ok = true, .mss = 1460};
	struct usnet_tcp *ls, *c1 = NULL, *c2 = NULL;
	struct harness h;
	struct tseg r;
	uint32_t cookie, iss1;

	CHECK_EQ(harness_open(&h, "tcp_cookieq", &conf), 0);
	ls = listener(&h);
	send_tcp(&h, 4101, 80, 100, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r) && r.flags == (TCP_SYN | TCP_ACK));
	iss1 = r.seq;
	send_tcp(&h, 4102, 80, 200, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r) && r.flags == (TCP_SYN | TCP_ACK) && r.ack == 201);
	CHECK_EQ(CTR(&h, tcp_syn_cookies_sent), 1);
	cookie = r.seq;
	/* 4101's handshake completes: the queue has room again. */
	send_tcp(&h, 4101, 80, 101, iss1 + 1, TCP_ACK, NULL, NULL, 0);
	peer_drain(&h);
	CHECK_EQ(usnet_tcp_accept(ls, &c1, NULL, NULL), 0);
	/* 4102's SYN again, before the cookie's SYN-ACK reached it. */
	send_tcp(&h, 4102, 80, 200, 0, TCP_SYN, &syn, NULL, 0);
	CHECK(peer_tcp(&h, &r) && r.flags == (TCP_SYN | TCP_ACK));
	CHECK_EQ(CTR(&h, tcp_syn_cookies_sent), 1);
	CHECK_EQ(r.seq, cookie);
	/* The ACK of the cookie's SYN-ACK completes the connection. */
	send_tcp(&h, 4102, 80, 201, cookie + 1, TCP_ACK, NULL, NULL, 0);
	CHECK(!peer_tcp(&h, &r) || !(r.flags & TCP_RST));
	CHECK_EQ(usnet_tcp_accept(ls, &c2, NULL, NULL), 0);
	if (c2)
		CHECK_EQ(tcp_state(c2), USNET_TCP_ESTABLISHED);
	if (c1)
		usnet_tcp_abort(c1);
	if (c2)
		usnet_tcp_abort(c2);
	peer_drain(&h);
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* The frame the stack sent last that is a TCP segment, raw (ARP answered). */
static size_t peer_tcp_raw(struct harness *h, uint8_t *f, size_t room)
{
	size_t n;

	while ((n = peer_recv(h, f, room))) {
		if (f[12] == 0x08 && f[13] == 0x06) {
			if (f[21] == 1)
				answer_arp(h, get32(f + 38));
			continue;
		}
		if (n >= 54 && f[23] == USNET_IPPROTO_TCP)
			return n;
	}
	return 0;
}

/* An ICMP error from the peer quoting the first 28 bytes of frame q's
 * IPv4 datagram. */
static void icmp_error(struct harness *h, uint8_t type, uint8_t code, const uint8_t *q)
{
	uint8_t m[64], f[128];
	uint16_t c;

	m[0] = type;
	m[1] = code;
	memset(m + 2, 0, 6);
	memcpy(m + 8, q + 14, 28);
	c = usnet_csum_fold(usnet_csum_add(0, m, 36));
	memcpy(m + 2, &c, 2);
	inject(
	    h, f,
	    make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 9, 0, NULL, 0, m, 36));
}

/* Active open: a RST that does not acknowledge our SYN is ignored, one
 * that does refuses the connection; an ICMP port unreachable for our SYN
 * refuses it too, one quoting a sequence number not in flight does not
 * (RFC 5927 4.1); a SYN-ACK with a wrong ACK gets a RST. */
static void test_active_open(void)
{
	struct usnet_tcp *c;
	struct harness h;
	uint8_t syn[128];
	struct tseg r;
	uint32_t iss;
	size_t n;

	CHECK_EQ(harness_open(&h, "tcp_active", NULL), 0);
	CHECK_EQ(usnet_tcp_open(h.st, &c, NULL), 0);
	CHECK_EQ(usnet_tcp_connect(c, IP_PEER, 99), -EINPROGRESS);
	n = peer_tcp_raw(&h, syn, sizeof(syn));
	CHECK(n > 0);
	if (!n)
		goto out;
	iss = get32(syn + 38);
	CHECK_EQ(syn[47], TCP_SYN);
	{
		uint16_t sport = get16(syn + 34);

		/* A SYN-ACK acknowledging something else: RST at its ACK. */
		send_tcp(&h, 99, sport, 7000, iss + 5, TCP_SYN | TCP_ACK, NULL, NULL, 0);
		CHECK(peer_tcp(&h, &r));
		CHECK_EQ(r.flags, TCP_RST);
		CHECK_EQ(r.seq, iss + 5);
		CHECK_EQ(CTR(&h, tcp_syn_sent_bad_ack), 1);
		/* A RST without a valid ACK: ignored. */
		send_tcp(&h, 99, sport, 7000, iss + 7, TCP_RST | TCP_ACK, NULL, NULL, 0);
		CHECK_EQ(tcp_state(c), USNET_TCP_SYN_SENT);
		/* An ICMP error quoting a sequence number not in flight: ignored. */
		put32(syn + 38, iss + 100000);
		icmp_error(&h, 3, 3, syn);
		CHECK_EQ(tcp_state(c), USNET_TCP_SYN_SENT);
		put32(syn + 38, iss);
		/* Port unreachable for our SYN: refused. */
		icmp_error(&h, 3, 3, syn);
		CHECK_EQ(CTR(&h, tcp_icmp_error), 1);
		CHECK_EQ(tcp_state(c), USNET_TCP_CLOSED);
		CHECK_EQ(usnet_tcp_error(c), -ECONNREFUSED);
	}
	usnet_tcp_close(c);
	/* Again, refused by a RST|ACK acknowledging the SYN. */
	CHECK_EQ(usnet_tcp_open(h.st, &c, NULL), 0);
	CHECK_EQ(usnet_tcp_connect(c, IP_PEER, 99), -EINPROGRESS);
	n = peer_tcp_raw(&h, syn, sizeof(syn));
	CHECK(n > 0);
	if (n) {
		send_tcp(&h, 99, get16(syn + 34), 0, get32(syn + 38) + 1, TCP_RST | TCP_ACK, NULL,
			 NULL, 0);
		CHECK_EQ(tcp_state(c), USNET_TCP_CLOSED);
		CHECK_EQ(usnet_tcp_recv(c, syn, 1), -ECONNREFUSED);
		CHECK_EQ(CTR(&h, tcp_conn_refused), 1);
	}
	usnet_tcp_close(c);
out:
	harness_close(&h);
}

/* A receiver whose buffer is full (window 0) still takes the ACK of a
 * segment at RCV.NXT, its text trimmed (RFC 9293 3.10.7.4 "special
 * allowance"), and a bare FIN. */
static void test_zero_window(void)
{
	struct usnet_stack_conf conf = {.tcp_rcvbuf = 4096};
	static uint8_t data[4096], buf[8192];
	struct usnet_tcp_info info;
	struct usnet_tcp *ls;
	struct harness h;
	struct tcp_opts o;
	struct conn k;
	struct tseg r;

	CHECK_EQ(harness_open(&h, "tcp_zwnd", &conf), 0);
	ls = listener(&h);
	peer_open(&h, ls, &k, 3003);
	if (!k.s)
		goto out;
	o = ts_opt(&k);
	CHECK_EQ(usnet_tcp_send(k.s, "ours", 4), 4);
	CHECK(peer_tcp(&h, &r) && r.len == 4); /* sent at once (no tx_defer) */
	/* The peer fills the window without acknowledging "ours". */
	for (int i = 0; i < 4; i++)
		send_tcp(&h, 3003, 80, k.snd + 1024u * (uint32_t)i, k.rcv, TCP_ACK, &o, data, 1024);
	k.snd += 4096;
	peer_drain(&h);
	usnet_tcp_info(k.s, &info);
	CHECK_EQ(info.rcv_wnd, 0);
	CHECK_EQ(info.in_flight, 4);
	/* At RCV.NXT, with data and the ACK of "ours": the ACK counts, the
	 * data does not, an ACK goes back. */
	send_tcp(&h, 3003, 80, k.snd, k.rcv + 4, TCP_ACK, &o, data, 100);
	usnet_tcp_info(k.s, &info);
	CHECK_EQ(info.in_flight, 0);
	CHECK_EQ(CTR(&h, tcp_rcv_pruned), 1);
	CHECK(peer_tcp(&h, &r));
	CHECK_EQ(r.ack, k.snd);
	CHECK_EQ(r.wnd, 0);
	/* A bare FIN is taken. */
	send_tcp(&h, 3003, 80, k.snd, k.rcv + 4, TCP_ACK | TCP_FIN, &o, NULL, 0);
	CHECK_EQ(tcp_state(k.s), USNET_TCP_CLOSE_WAIT);
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), 4096);
	CHECK_EQ(usnet_tcp_recv(k.s, buf, sizeof(buf)), 0);
	usnet_tcp_close(k.s);
out:
	usnet_tcp_close(ls);
	harness_close(&h);
}

/* A connect to an on-link address nobody answers ARP for ends with
 * -EHOSTUNREACH once ARP gives up (3 probes, 1 s apart), at the next SYN
 * retry, as Linux's connect() does; not -ETIMEDOUT after all six SYN
 * retries (about 127 s). */
static void test_arp_fails(void)
{
	struct usnet_tcp *c;
	struct harness h;
	uint64_t t0 = fake_now;
	int rounds = 0;

	CHECK_EQ(harness_open(&h, "tcp_arpfail", NULL), 0);
	CHECK_EQ(usnet_tcp_open(h.st, &c, NULL), 0);
	CHECK_EQ(usnet_tcp_connect(c, IP_PEER + 70, 80), -EINPROGRESS);
	while (tcp_state(c) == USNET_TCP_SYN_SENT && rounds++ < 600) {
		fake_now += 50 * MS;
		usnet_stack_poll(h.st);
	}
	CHECK_EQ(tcp_state(c), USNET_TCP_CLOSED);
	CHECK(usnet_tcp_events(c) & USNET_EV_ERROR);
	CHECK_EQ(usnet_tcp_error(c), -EHOSTUNREACH);
	CHECK(fake_now - t0 <= 10000 * MS);
	usnet_tcp_close(c);
	harness_close(&h);
}

/* The peer's full segment number i from k->snd, queued (not yet polled). */
static void queue_full_seg(struct harness *h, struct conn *k, uint32_t i, const uint8_t *data)
{
	struct tcp_opts o = ts_opt(k);
	uint8_t f[1700];

	peer_queue(
	    h, f,
	    make_tcp(f, k->sport, 80, k->snd + 1448u * i, k->rcv, TCP_ACK, 4096, &o, data, 1448));
}

/* The ACKs the stack sent since the last look; *last the highest ack. */
static unsigned peer_acks(struct harness *h, uint32_t *last)
{
	struct tseg r;
	unsigned n = 0;

	while (peer_tcp(h, &r)) {
		CHECK_EQ(r.len, 0);
		*last = r.ack;
		n++;
	}
	return n;
}

/* n full segments from the peer's next sequence number in one receive
 * burst; the ACKs the stack sent for them, *last the highest ack. */
static unsigned in_order_burst(struct harness *h, struct conn *k, uint32_t n, uint32_t *last)
{
	static const uint8_t data[1448];

	for (uint32_t i = 0; i < n; i++)
		queue_full_seg(h, k, i, data);
	usnet_stack_poll(h->st);
	k->snd += n * 1448;
	return peer_acks(h, last);
}

/* In-order segments that arrive in one receive burst get one stretch ACK
 * at its end (tcp_ack_schedule), at most TCP_STRETCH_MAX (44) segments
 * apart; one at a time they get one ACK per two; an out-of-order one in a
 * burst is acknowledged at once, and for TCP_QUICKACK_SEGS after it there
 * are no stretch ACKs. */
static void test_stretch_ack(void)
{
	struct usnet_stack_conf conf = {.rx_burst = 64, .tcp_rcvbuf = 1 << 20};
	static uint8_t data[1448], buf[1 << 17];
	struct usnet_tcp *ls;
	struct harness h;
	struct conn k;
	uint32_t ack = 0;

	CHECK_EQ(harness_open(&h, "tcp_stretch", &conf), 0);
	ls = listener(&h);
	peer_open(&h, ls, &k, 3004);
	if (!k.s)
		goto out;
	/* Ten segments, one burst: one ACK for all of them. */
	CHECK_EQ(in_order_burst(&h, &k, 10, &ack), 1);
	CHECK_EQ(ack, k.snd);
	/* One per poll: every second one is acknowledged, as before. */
	for (uint32_t i = 0; i < 4; i++) {
		queue_full_seg(&h, &k, i, data);
		usnet_stack_poll(h.st);
	}
	k.snd += 4 * 1448;
	CHECK_EQ(peer_acks(&h, &ack), 2);
	CHECK_EQ(ack, k.snd);
	/* 50 in one burst: an ACK at the 44th, one for the rest at its end. */
	CHECK_EQ(in_order_burst(&h, &k, 50, &ack), 2);
	CHECK_EQ(ack, k.snd);
	/* Two in order, one beyond a hole, in one burst: the out-of-order one
	 * is acknowledged at once (a duplicate ACK), and nothing is owed at
	 * the end. */
	queue_full_seg(&h, &k, 0, data);
	queue_full_seg(&h, &k, 1, data);
	queue_full_seg(&h, &k, 3, data);
	usnet_stack_poll(h.st);
	CHECK_EQ(peer_acks(&h, &ack), 1);
	CHECK_EQ(ack, k.snd + 2 * 1448);
	/* The hole filled: acknowledged at once; then, a loss having been
	 * seen, quick-ACK mode: ten in one burst get an ACK every second. */
	queue_full_seg(&h, &k, 2, data);
	usnet_stack_poll(h.st);
	CHECK_EQ(peer_acks(&h, &ack), 1);
	CHECK_EQ(ack, k.snd + 4 * 1448);
	k.snd += 4 * 1448;
	CHECK_EQ(in_order_burst(&h, &k, 10, &ack), 5);
	CHECK_EQ(ack, k.snd);
	while (usnet_tcp_recv(k.s, buf, sizeof(buf)) > 0)
		;
	usnet_tcp_close(k.s);
out:
	usnet_tcp_close(ls);
	harness_close(&h);
}

int main(void)
{
	test_header_checks();
	test_rfc5961();
	test_challenge_rate();
	test_paws();
	test_ooo_sack();
	test_syn_cookies();
	test_cookie_then_queue();
	test_active_open();
	test_zero_window();
	test_arp_fails();
	test_stretch_ack();
	return check_done("test_stack_tcp_input");
}
