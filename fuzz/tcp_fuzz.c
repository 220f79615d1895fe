/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: TCP with connection state (src/stack/tcp*.c). The
 * harness plays the peer (198.18.0.2) of a stack (198.18.0.1) on a fake
 * port, and the application above the stack; it follows what the stack
 * sends, so that the segments it builds can be exact (seq at the peer's
 * next byte, ack at the stack's) or off by what the input says, and the
 * fuzzer reaches ESTABLISHED, the closing states, recovery, zero windows.
 *
 * The input is a program of operations (fuzz_input.h: bytes taken from
 * the front, zero past the end):
 *
 *   op % 8 == 0 SEG    a segment from the peer on connection slot s:
 *                      flags, seq = peer's next + d1, ack = stack's next + d2,
 *                      window, options (built: MSS/WS/SACK-permitted, a
 *                      timestamp, a SACK block; or raw bytes from the input),
 *                      a payload length; a bad checksum or a lying data
 *                      offset on request. A free slot becomes a new peer
 *                      port (to the listener on 80, or to closed port 81).
 *   op % 8 == 1 CLOCK  the clock advances by u16 ms (x64 if op & 0x80), then a poll
 *   op % 8 == 2 APP    the application on socket k: send, recv, peek and
 *                      consume, shutdown, close, abort, connect (active
 *                      open to the peer), accept, nodelay, keepalive, cc,
 *                      info/events/error
 *   op % 8 == 3 POLL
 *   op % 8 == 4 ACK    the peer acknowledges everything the stack sent on
 *                      slot s, window u16 (a well-behaved peer, so that
 *                      transfers progress)
 *   op % 8 == 5 SYNACK the peer answers the stack's SYN on slot s (with
 *                      window scale, SACK-permitted, timestamps as it says)
 *   op % 8 == 6 SACK   the peer ACKs up to the start of one of the stack's
 *                      last 32 data segments on slot s and SACKs 0..3
 *                      ranges of them, on their boundaries (a peer that
 *                      lost some: recovery, the scoreboard)
 *   others      POLL
 *
 * What the stack sends is checked (a frame is 60..1514 bytes, IPv4 header
 * checksum and lengths, a TCP segment's checksum and data offset) and
 * followed (the stack's next sequence number per slot; its ARP requests
 * for the peer are answered). After every input the stack is destroyed
 * and every packet must be back in the pool; a leak or a bad frame
 * aborts, besides anything ASan/UBSan find.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when available
 * (fuzz/CMakeLists.txt); otherwise linked with fuzz/standalone.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/stack.h>
#include <usnet/tcp.h>

#include "../src/stack/tcp_impl.h" /* the connection's IRS, for the stream check */
#include "fuzz_input.h"

#define POOL_SIZE 1024
#define NSLOT	  6
#define NSOCK	  8
#define RXQ	  16
#define US	  0xc6120001u
#define PEER	  0xc6120002u
#define LPORT	  80
#define NDATA	  32

static const uint8_t us_mac[6] = {0x02, 0, 0, 0, 0, 1}, peer_mac[6] = {0x02, 0, 0, 0, 0, 2};

/* --- the fake port --- */

struct usnet_port {
	struct usnet_port_info info;
	struct usnet_pool *pool;
	uint8_t rx[RXQ][1600];
	uint16_t rx_len[RXQ];
	unsigned rx_n;
};

static struct usnet_port fport;
static uint64_t fclock;

/* One connection as the peer sees it. */
struct slot {
	bool used, synced; /* synced: the stack's ISN is known */
	uint16_t uport, pport;
	uint32_t p_nxt;	       /* the peer's next sequence number */
	uint32_t u_nxt;	       /* the stack's highest sequence number sent + 1 */
	uint32_t tsval, tsecr; /* ours; the stack's latest, echoed */
	/* The stack's last data segments (new ones, not retransmissions), for
	 * ACKs and SACK blocks on their boundaries. */
	uint32_t dseq[NDATA], dend[NDATA];
	uint8_t nd, di; /* how many held, the next to write */
	/* A segment with a lying data offset went out: what the stack takes
	 * as data is not stream_byte() of its sequence number. */
	bool tainted;
};

static struct slot slots[NSLOT];
/* TCP_FUZZ_TRACE=1: the segments both ways, each operation and the
 * sockets' states after it, on stderr (to see how deep a seed goes). */
static bool trace;

static bool fake_port_ready(const struct usnet_port *port)
{
	return port->rx_n > 0;
}

#include "fake_port.h"
#include "../src/proto/be.h"

uint16_t usnet_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n)
{
	uint16_t k = 0;

	(void)queue;
	while (k < n && k < port->rx_n) {
		struct usnet_pkt *p = usnet_pkt_alloc(port->pool);

		if (!p)
			break;
		memcpy(usnet_pkt_data(p), port->rx[k], port->rx_len[k]);
		p->len = port->rx_len[k];
		pkts[k++] = p;
	}
	/* What did not fit the burst (or the pool) is lost, as on a wire. */
	port->rx_n = 0;
	return k;
}

static uint8_t *rx_slot(uint16_t len)
{
	if (fport.rx_n == RXQ)
		return NULL;
	fport.rx_len[fport.rx_n] = len;
	return fport.rx[fport.rx_n++];
}

static void eth_hdr(uint8_t *f, uint16_t type)
{
	memcpy(f, us_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, type);
}

/* The peer answers the stack's ARP request. */
static void arp_reply(void)
{
	uint8_t *f = rx_slot(60);

	if (!f)
		return;
	memset(f, 0, 60);
	eth_hdr(f, 0x0806);
	memcpy(f + 14, (const uint8_t[]){0, 1, 8, 0, 6, 4, 0, 2}, 8);
	memcpy(f + 22, peer_mac, 6);
	put32(f + 28, PEER);
	memcpy(f + 32, us_mac, 6);
	put32(f + 38, US);
}

/* TCP checksum over the IPv4 pseudo-header and tcp[0..len). */
static uint16_t tcp_csum(uint32_t src, uint32_t dst, const uint8_t *tcp, uint16_t len)
{
	uint8_t ph[12];

	put32(ph, src);
	put32(ph + 4, dst);
	ph[8] = 0;
	ph[9] = 6;
	put16(ph + 10, len);
	return usnet_csum_fold(usnet_csum_add(usnet_csum_add(0, ph, 12), tcp, len));
}

static struct slot *slot_of(uint16_t uport, uint16_t pport)
{
	for (int i = 0; i < NSLOT; i++)
		if (slots[i].used && slots[i].uport == uport && slots[i].pport == pport)
			return &slots[i];
	return NULL;
}

/* A segment from the stack: checked, and followed. */
static void follow_tcp(const uint8_t *ip, uint16_t tot)
{
	size_t hl = (size_t)(ip[0] & 0xf) * 4;
	const uint8_t *t = ip + hl;
	uint16_t tl = (uint16_t)(tot - hl), doff;
	uint32_t seq, end;
	uint8_t fl;
	struct slot *s;

	if (tl < 20 || tcp_csum(get32(ip + 12), get32(ip + 16), t, tl) != 0) {
		fprintf(stderr, "stack sent a TCP segment of %u bytes with a bad checksum\n", tl);
		abort();
	}
	doff = (uint16_t)((t[12] >> 4) * 4);
	if (doff < 20 || doff > tl) {
		fprintf(stderr, "stack sent a TCP data offset of %u in %u bytes\n", doff, tl);
		abort();
	}
	fl = t[13];
	seq = get32(t + 4);
	if (trace)
		fprintf(stderr, "  out %u>%u fl %02x seq %u ack %u wnd %u len %u\n", get16(t),
			get16(t + 2), fl, seq, get32(t + 8), get16(t + 14), tl - doff);
	end = seq + (tl - doff) + !!(fl & 0x02) + !!(fl & 0x01);
	s = slot_of(get16(t), get16(t + 2));
	if (!s && (fl & 0x12) == 0x02) { /* the stack's SYN: an active open */
		for (int i = 0; i < NSLOT && !s; i++)
			if (!slots[i].used) {
				s = &slots[i];
				memset(s, 0, sizeof(*s));
				s->used = true;
				s->uport = get16(t);
				s->pport = get16(t + 2);
				s->p_nxt = 0x10000000u * (unsigned)i;
			}
	}
	if (!s)
		return;
	if (fl & 0x02) {
		s->synced = true;
		s->u_nxt = end;
	} else if (s->synced && (int32_t)(end - s->u_nxt) > 0) {
		if (tl > doff && seq == s->u_nxt) {
			s->dseq[s->di] = seq;
			s->dend[s->di] = end;
			s->di = (uint8_t)((s->di + 1) % NDATA);
			if (s->nd < NDATA)
				s->nd++;
		}
		s->u_nxt = end;
	}
	for (uint16_t o = 20; o + 1 < doff;) { /* the stack's timestamp, to echo */
		uint8_t k = t[o], n = t[o + 1];

		if (k == 0)
			break;
		if (k == 1) {
			o++;
			continue;
		}
		if (n < 2 || o + n > doff) {
			fprintf(stderr, "stack sent a malformed option (kind %u length %u)\n", k,
				n);
			abort();
		}
		if (k == 8 && n == 10)
			s->tsecr = get32(t + o + 2);
		o = (uint16_t)(o + n);
	}
}

/* What the stack sends: checked (fake_port.h), followed, its ARP requests
 * for the peer answered. */
static void fake_port_sent(const uint8_t *f, size_t len)
{
	size_t tot;

	if (fake_port_check_frame(f, len, &tot) == 0x0800) {
		if (f[23] == 6)
			follow_tcp(f + 14, (uint16_t)tot);
	} else if (get16(f + 20) == 1 && get32(f + 38) == PEER) {
		arp_reply();
	}
}

/* --- the peer's segments --- */

/* The byte the peer sends at sequence number x, whatever the segment: so
 * the application must read stream_byte(IRS + 1 + offset) at every offset,
 * however the stack trimmed, queued and reassembled what it accepted. */
static uint8_t stream_byte(uint32_t x)
{
	return (uint8_t)((x * 2654435761u) >> 24);
}

struct seg {
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t wnd;
	uint8_t opt[40];
	uint8_t olen;
	uint16_t plen;
	bool bad_csum;
	int8_t doff_lie; /* added to the data offset, in words */
};

static void inject(const struct slot *s, const struct seg *g)
{
	uint8_t olen = (uint8_t)((g->olen + 3) & ~3);
	uint16_t tl = (uint16_t)(20 + olen + g->plen), tot = (uint16_t)(20 + tl);
	uint16_t flen = (uint16_t)(14 + tot < 60 ? 60 : 14 + tot);
	uint8_t *f = rx_slot(flen), *ip, *t;
	uint16_t c;

	if (!f)
		return;
	memset(f, 0, flen);
	eth_hdr(f, 0x0800);
	ip = f + 14;
	ip[0] = 0x45;
	put16(ip + 2, tot);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, PEER);
	put32(ip + 16, US);
	c = usnet_csum_fold(usnet_csum_add(0, ip, 20)); /* in memory order */
	memcpy(ip + 10, &c, 2);
	t = ip + 20;
	put16(t, s->pport);
	put16(t + 2, s->uport);
	put32(t + 4, g->seq);
	put32(t + 8, g->ack);
	t[12] = (uint8_t)(((5 + olen / 4 + g->doff_lie) & 0xf) << 4);
	t[13] = g->flags;
	put16(t + 14, g->wnd);
	memcpy(t + 20, g->opt, g->olen);
	for (uint16_t i = 0; i < g->plen; i++)
		t[20 + olen + i] = stream_byte(g->seq + i);
	if (trace)
		fprintf(stderr, "  in  %u>%u fl %02x seq %u ack %u wnd %u len %u\n", s->pport,
			s->uport, g->flags, g->seq, g->ack, g->wnd, g->plen);
	c = tcp_csum(PEER, US, t, tl);
	if (g->bad_csum)
		c ^= 0x5a5a;
	memcpy(t + 16, &c, 2);
}

static uint8_t opt_ts(struct slot *s, uint8_t *o, uint8_t step)
{
	o[0] = 1;
	o[1] = 1;
	o[2] = 8;
	o[3] = 10;
	s->tsval += step;
	put32(o + 4, s->tsval);
	put32(o + 8, s->tsecr);
	return 12;
}

static struct slot *slot_pick(uint8_t i, bool to_listener)
{
	struct slot *s = &slots[i % NSLOT];

	if (!s->used) {
		memset(s, 0, sizeof(*s));
		s->used = true;
		s->uport = to_listener ? LPORT : LPORT + 1;
		s->pport = (uint16_t)(1000 + i % NSLOT);
		s->p_nxt = 0x01000000u * (i % NSLOT) + 12345;
		s->tsval = 100;
	}
	return s;
}

static void op_seg(struct in *in)
{
	uint8_t si = in_u8(in), ctl = in_u8(in);
	struct slot *s = slot_pick(si, !(si & 0x80));
	struct seg g = {0};

	g.flags = in_u8(in);
	g.seq = s->p_nxt + (uint32_t)(int32_t)(int16_t)in_u16(in);
	g.ack = s->u_nxt + (uint32_t)(int32_t)(int16_t)in_u16(in);
	if (ctl & 0x40) /* far away */
		g.seq += in_u32(in);
	g.wnd = in_u16(in);
	if (ctl & 0x01) { /* the SYN's options */
		memcpy(g.opt + g.olen, (const uint8_t[]){2, 4, 5, 0xb4, 1, 3, 3, 7, 4, 2}, 10);
		g.opt[g.olen + 7] = in_u8(in) % 16; /* window scale, up to 15 (bad beyond 14) */
		g.olen = (uint8_t)(g.olen + 10);
	}
	if (ctl & 0x02)
		g.olen = (uint8_t)(g.olen + opt_ts(s, g.opt + g.olen, in_u8(in)));
	if (ctl & 0x04 && g.olen <= 30) { /* one SACK block around the stack's next */
		uint32_t a = s->u_nxt - in_u16(in), b = a + in_u16(in);

		g.opt[g.olen] = 5;
		g.opt[g.olen + 1] = 10;
		put32(g.opt + g.olen + 2, a);
		put32(g.opt + g.olen + 6, b);
		g.olen = (uint8_t)(g.olen + 10);
	}
	if (ctl & 0x08) { /* raw option bytes */
		uint8_t n = (uint8_t)(in_u8(in) % (41 - g.olen));

		for (uint8_t k = 0; k < n; k++)
			g.opt[g.olen + k] = in_u8(in);
		g.olen = (uint8_t)(g.olen + n);
	}
	g.bad_csum = ctl & 0x10;
	if (ctl & 0x20)
		g.doff_lie = (int8_t)(in_u8(in) % 16 - 8);
	g.plen = (uint16_t)(in_u16(in) % 1461);
	if (g.flags & 0x02) /* a SYN carries no data here: keeps p_nxt simple */
		g.plen = 0;
	inject(s, &g);
	if (g.doff_lie && !g.bad_csum)
		s->tainted = true;
	if (!(ctl & 0x80) && !g.bad_csum && !g.doff_lie && g.seq == s->p_nxt)
		s->p_nxt += g.plen + !!(g.flags & 0x02) + !!(g.flags & 0x01);
}

/* The i-th oldest of the data segments held for s (i < s->nd). */
static uint32_t held(const struct slot *s, unsigned i, bool end)
{
	unsigned k = (s->di + NDATA - s->nd + i % s->nd) % NDATA;

	return end ? s->dend[k] : s->dseq[k];
}

/* Forget the held segments the peer has acknowledged (all of them below ack). */
static void held_acked(struct slot *s, uint32_t ack)
{
	while (s->nd && (int32_t)(held(s, 0, true) - ack) <= 0)
		s->nd--;
}

static void op_ack(struct in *in, bool synack)
{
	struct slot *s = &slots[in_u8(in) % NSLOT];
	struct seg g = {0};

	if (!s->used || !s->synced)
		return;
	g.flags = synack ? 0x12 : 0x10;
	g.seq = s->p_nxt;
	g.ack = s->u_nxt;
	g.wnd = in_u16(in);
	held_acked(s, g.ack);
	if (synack) {
		/* MSS, then as the input says (bits 0, 1, 2 clear: all of them)
		 * window scale, SACK-permitted and a timestamp */
		uint8_t m = (uint8_t)~in_u8(in);

		memcpy(g.opt, (const uint8_t[]){2, 4, 5, 0xb4}, 4);
		g.olen = 4;
		if (m & 1) {
			memcpy(g.opt + g.olen, (const uint8_t[]){1, 3, 3, 7}, 4);
			g.olen = (uint8_t)(g.olen + 4);
		}
		if (m & 2) {
			memcpy(g.opt + g.olen, (const uint8_t[]){1, 1, 4, 2}, 4);
			g.olen = (uint8_t)(g.olen + 4);
		}
		if (m & 4)
			g.olen = (uint8_t)(g.olen + opt_ts(s, g.opt + g.olen, 1));
	} else if (s->tsecr) {
		g.olen = (uint8_t)(g.olen + opt_ts(s, g.opt + g.olen, 1));
	}
	inject(s, &g);
	if (synack)
		s->p_nxt++;
}

/*
 * As a peer that lost segments: ACK up to the start of held segment a,
 * SACK blocks covering held segments [b, b + n) (up to three blocks, each
 * on segment boundaries), window u16.
 */
static void op_sack(struct in *in)
{
	struct slot *s = &slots[in_u8(in) % NSLOT];
	uint8_t a = in_u8(in), nb = in_u8(in) % 4;
	struct seg g = {0};

	g.wnd = in_u16(in);
	if (!s->used || !s->synced || !s->nd)
		return;
	g.flags = 0x10;
	g.seq = s->p_nxt;
	g.ack = held(s, a, false);
	held_acked(s, g.ack);
	if (!s->nd)
		return;
	if (s->tsecr)
		g.olen = opt_ts(s, g.opt, 1);
	g.opt[g.olen] = 1;
	g.opt[g.olen + 1] = 1;
	g.opt[g.olen + 2] = 5;
	g.opt[g.olen + 3] = (uint8_t)(2 + 8 * nb);
	for (uint8_t k = 0; k < nb; k++) {
		unsigned b = in_u8(in) % s->nd, e = b + in_u8(in) % 4;

		if (e >= s->nd)
			e = s->nd - 1u;
		put32(g.opt + g.olen + 4 + 8 * k, held(s, b, false));
		put32(g.opt + g.olen + 8 + 8 * k, held(s, e, true));
	}
	if (nb)
		g.olen = (uint8_t)(g.olen + 4 + 8 * nb);
	inject(s, &g);
}

/* --- the application --- */

static struct usnet_tcp *socks[NSOCK]; /* [0]: the listener on LPORT */
static uint64_t rcvd[NSOCK];	       /* bytes the application took from each */

/* The application got len bytes at offset rcvd[k] of socket k's stream. */
static void check_stream(unsigned k, const uint8_t *p, size_t len)
{
	uint32_t at = socks[k]->irs + 1 + (uint32_t)rcvd[k];
	struct slot *s = slot_of(socks[k]->lport, socks[k]->rport);

	if (!s || s->tainted)
		return;

	for (size_t i = 0; i < len; i++)
		if (p[i] != stream_byte(at + (uint32_t)i)) {
			fprintf(stderr,
				"socket %u: byte %llu of the stream is %02x, the peer sent %02x\n",
				k, (unsigned long long)(rcvd[k] + i), p[i],
				stream_byte(at + (uint32_t)i));
			abort();
		}
}

static void op_app(struct usnet_stack *st, struct in *in)
{
	static uint8_t buf[65536];
	uint8_t k = in_u8(in) % NSOCK, act = in_u8(in) % 13;
	struct usnet_tcp *c = socks[k];
	struct usnet_tcp_iov iov[8];
	struct usnet_tcp_info info;
	struct usnet_addr4 a;
	int n;

	if (act == 6) { /* connect from a new socket */
		for (k = 1; k < NSOCK && socks[k]; k++)
			;
		if (k == NSOCK || usnet_tcp_open(st, &socks[k], NULL))
			return;
		rcvd[k] = 0;
		if (in_u8(in) & 1) {
			uint16_t snd = in_u16(in), rcv = in_u16(in);

			usnet_tcp_set_bufs(socks[k], snd, rcv);
		}
		n = in_u8(in);
		usnet_tcp_connect(socks[k], n & 1 ? PEER : 0x08080808u, (uint16_t)(2000 + n % 4));
		return;
	}
	if (act == 7) { /* accept into a free socket */
		for (k = 1; k < NSOCK && socks[k]; k++)
			;
		if (k < NSOCK && socks[0]) /* the listener may have been closed */
			if (usnet_tcp_accept(socks[0], &socks[k], NULL, &a) == 0)
				rcvd[k] = 0;
		return;
	}
	if (!c)
		return;
	switch (act) {
	case 0: {
		uint16_t len = in_u16(in);
		long r = usnet_tcp_send(c, buf, len);

		if (r > (long)len || (r == 0 && len)) {
			fprintf(stderr, "usnet_tcp_send(%u bytes) returned %ld\n", len, r);
			abort();
		}
		break;
	}
	case 1: {
		uint16_t len = in_u16(in);
		long r = usnet_tcp_recv(c, buf, len);

		if (r > (long)len) {
			fprintf(stderr, "usnet_tcp_recv(%u bytes) returned %ld\n", len, r);
			abort();
		}
		if (trace)
			fprintf(stderr, "  recv(%u) on %u: %ld\n", len, k, r);
		if (r > 0) {
			check_stream(k, buf, (size_t)r);
			rcvd[k] += (uint64_t)r;
		}
		break;
	}
	case 2: {
		uint8_t want = in_u8(in) % 9;

		n = usnet_tcp_recv_peek(c, iov, want);
		if (n > want) {
			fprintf(stderr, "usnet_tcp_recv_peek(%u) returned %d\n", want, n);
			abort();
		}
		if (n > 0) {
			size_t tot = 0, take;

			for (int i = 0; i < n; i++) {
				check_stream(k, iov[i].data, iov[i].len);
				rcvd[k] += iov[i].len;
				tot += iov[i].len;
			}
			rcvd[k] -= tot;
			take = in_u16(in) % (tot + 1);
			if (usnet_tcp_recv_consume(c, take) == 0)
				rcvd[k] += take;
		}
		break;
	}
	case 3:
		usnet_tcp_shutdown(c, in_u8(in) % 4);
		break;
	case 4:
	case 5:
		if (act == 4)
			usnet_tcp_close(c);
		else
			usnet_tcp_abort(c);
		socks[k] = NULL;
		break;
	case 8:
		usnet_tcp_set_nodelay(c, in_u8(in) & 1);
		break;
	case 9:
		a.ip = in_u16(in);
		a.port = in_u16(in);
		usnet_tcp_set_keepalive(c, a.ip, a.port, in_u8(in) % 10);
		break;
	case 10:
		usnet_tcp_set_cc(c, (enum usnet_tcp_cc)(in_u8(in) % 3));
		break;
	case 11:
		usnet_tcp_info(c, &info);
		usnet_tcp_events(c);
		usnet_tcp_local(c, &a);
		usnet_tcp_peer(c, &a);
		break;
	default:
		usnet_tcp_error(c);
		break;
	}
}

static void trace_step(uint8_t op)
{
	struct usnet_tcp_info info;

	fprintf(stderr, "op %u:", op % 8);
	for (int k = 0; k < NSOCK; k++)
		if (socks[k] && usnet_tcp_info(socks[k], &info) == 0)
			fprintf(stderr, " [%d] %s", k, usnet_tcp_state_name(info.state));
	fprintf(stderr, "\n");
}

static uint64_t fuzz_clock(void *ctx)
{
	(void)ctx;
	return fclock;
}

static void setup(struct usnet_stack **st)
{
	struct usnet_stack_conf conf = {.clock = fuzz_clock,
					.arp_queue_len = 4,
					.tcp_sockets = 16,
					.tcp_sndbuf = 32768,
					.tcp_rcvbuf = 32768,
					.tcp_syn_backlog = 2,
					.tcp_max_time_wait = 2,
					.tcp_ooo_segs = 8};
	struct usnet_iface_conf ic = {0};

	fclock = 1000000000ull;
	if (usnet_stack_create(st, &conf))
		abort();
	ic.port = &fport;
	ic.addr = US;
	ic.prefix_len = 24;
	ic.gateway = 0xc61200feu;
	ic.no_garp = true;
	if (usnet_stack_add_iface(*st, &ic) < 0)
		abort();
	memset(slots, 0, sizeof(slots));
	memset(socks, 0, sizeof(socks));
	if (usnet_tcp_open(*st, &socks[0], NULL) || usnet_tcp_bind(socks[0], 0, LPORT) ||
	    usnet_tcp_listen(socks[0], 2))
		abort();
	fport.rx_n = 0;
	arp_reply(); /* the peer's MAC, known before anything is sent */
	usnet_stack_poll(*st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct usnet_pool *pool;
	struct usnet_stack *st;
	struct usnet_event ev[16];
	struct in in = {data, size};
	unsigned steps = 0;

	if (!pool) {
		pool = fake_port_init(&fport, POOL_SIZE, us_mac);
		trace = getenv("TCP_FUZZ_TRACE") != NULL;
	}
	setup(&st);
	while (in.n && steps++ < 2000) {
		uint8_t op = in_u8(&in);

		switch (op % 8) {
		case 0:
			op_seg(&in);
			break;
		case 1:
			fclock += (uint64_t)in_u16(&in) * 1000000u * (op & 0x80 ? 64 : 1);
			break;
		case 2:
			op_app(st, &in);
			break;
		case 4:
			op_ack(&in, false);
			break;
		case 5:
			op_ack(&in, true);
			break;
		case 6:
			op_sack(&in);
			break;
		default:
			break;
		}
		usnet_stack_poll(st);
		usnet_stack_events(st, ev, 16);
		if (trace)
			trace_step(op);
	}
	/* Half the inputs close their sockets first, the others leave them to
	 * the stack's destruction. */
	if (size & 1)
		for (int k = NSOCK - 1; k >= 0; k--)
			if (socks[k]) {
				usnet_tcp_close(socks[k]);
				usnet_stack_poll(st);
			}
	if (trace) {
		struct usnet_stack_counters cs;

		usnet_stack_counters(st, &cs);
		usnet_stack_counters_print(&cs, stderr, true);
		for (int k = 0; k < NSOCK; k++)
			if (rcvd[k])
				fprintf(stderr, "socket %d: %llu bytes read, as sent\n", k,
					(unsigned long long)rcvd[k]);
	}
	usnet_stack_destroy(st);
	fake_port_check_pool(&fport, POOL_SIZE);
	return 0;
}
