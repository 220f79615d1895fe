/* SPDX-License-Identifier: MIT */
/*
 * TCP's pure pieces: option parsing and building (tcp_opt.c), SipHash-2-4
 * against the reference vectors, RFC 6528 ISNs, SYN cookies (tcp_isn.c),
 * and the receive queues with their SACK blocks (tcp_rcvq.c).
 */
#include <stdlib.h>
#include <string.h>

#include "../../src/stack/tcp_impl.h"
#include "check.h"

static void test_opt_parse(void)
{
	struct tcp_opts o;
	/* MSS 1460, SACK-permitted, TS 1/2, NOP, WS 7: a Linux SYN. */
	static const uint8_t syn[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
				      0, 1, 0,	  0,	0, 2, 1, 3,  3, 7};
	static const uint8_t ws99[] = {3, 3, 99, 0};
	static const uint8_t sack[] = {1, 1,  5, 18, 0, 0,  0, 10, 0, 0,
				       0, 20, 0, 0,  0, 30, 0, 0,  0, 40};

	CHECK(tcp_opt_parse(syn, sizeof(syn), true, &o));
	CHECK(o.mss_ok && o.sack_ok && o.ts_ok && o.ws_ok);
	CHECK_EQ(o.mss, 1460);
	CHECK_EQ(o.ws, 7);
	CHECK_EQ(o.tsval, 1);
	CHECK_EQ(o.tsecr, 2);
	/* Not on a SYN: MSS, WS and SACK-permitted are ignored, TS is not. */
	CHECK(tcp_opt_parse(syn, sizeof(syn), false, &o));
	CHECK(!o.mss_ok && !o.sack_ok && !o.ws_ok && o.ts_ok);
	/* RFC 7323 2.3: a shift above 14 is taken as 14. */
	CHECK(tcp_opt_parse(ws99, sizeof(ws99), true, &o));
	CHECK_EQ(o.ws, 14);
	CHECK(tcp_opt_parse(sack, sizeof(sack), false, &o));
	CHECK_EQ(o.nsack, 2);
	CHECK_EQ(o.sack[1].start, 30);
	CHECK_EQ(o.sack[1].end, 40);
	/* Malformed: length past the end, length 0 or 1, wrong fixed
	 * lengths, a SACK of 9, a kind without its length octet. */
	CHECK(!tcp_opt_parse((const uint8_t[]){8, 10, 0, 0}, 4, false, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){30, 0, 0, 0}, 4, false, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){30, 1, 0, 0}, 4, false, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){2, 3, 5, 0}, 4, true, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){3, 4, 5, 0}, 4, true, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){4, 3, 0, 0}, 4, true, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){5, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 12, false, &o));
	CHECK(!tcp_opt_parse((const uint8_t[]){1, 1, 1, 2}, 4, true, &o));
	/* Unknown kinds are skipped; EOL ends the list. */
	CHECK(tcp_opt_parse((const uint8_t[]){99, 4, 1, 2, 0, 77, 77, 77}, 8, true, &o));
	CHECK(!o.mss_ok && !o.ts_ok);
}

static void test_opt_build(void)
{
	struct tcp_opts o = {.mss_ok = true,
			     .mss = 1460,
			     .ws_ok = true,
			     .ws = 20,
			     .sack_ok = true,
			     .ts_ok = true,
			     .tsval = 7,
			     .tsecr = 9},
			p;
	uint8_t b[40];
	uint32_t n = tcp_opt_build(&o, true, b);

	CHECK_EQ(n, 20);
	CHECK(tcp_opt_parse(b, n, true, &p));
	CHECK(p.mss_ok && p.ws_ok && p.sack_ok && p.ts_ok);
	CHECK_EQ(p.mss, 1460);
	CHECK_EQ(p.ws, 14); /* capped when built too */
	CHECK_EQ(p.tsval, 7);
	CHECK_EQ(p.tsecr, 9);
	/* Data segment: timestamps and 3 SACK blocks fill the 40 bytes; a
	 * fourth does not fit. */
	o.nsack = 4;
	for (int i = 0; i < 4; i++) {
		o.sack[i].start = 100u * (uint32_t)i;
		o.sack[i].end = 100u * (uint32_t)i + 50;
	}
	n = tcp_opt_build(&o, false, b);
	CHECK_EQ(n, 40);
	CHECK(tcp_opt_parse(b, n, false, &p));
	CHECK(!p.mss_ok && p.ts_ok);
	CHECK_EQ(p.nsack, 3);
	CHECK_EQ(p.sack[2].start, 200);
	o.ts_ok = false;
	n = tcp_opt_build(&o, false, b);
	CHECK(tcp_opt_parse(b, n, false, &p));
	CHECK_EQ(p.nsack, 4);
	CHECK_EQ(n % 4, 0);
}

static void test_siphash(void)
{
	/* The reference vectors of the SipHash paper (appendix A): key
	 * 00..0f, messages 00..(n-1). */
	uint64_t key[2];
	uint8_t k[16], m[64];

	for (int i = 0; i < 16; i++)
		k[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		m[i] = (uint8_t)i;
	memcpy(key, k, 16);
	CHECK(tcp_siphash(key, m, 0) == 0x726fdb47dd0e0e31ull);
	CHECK(tcp_siphash(key, m, 15) == 0xa129ca6149be45e5ull);
	CHECK(tcp_siphash(key, m, 8) == 0x93f5f5799a932462ull);
}

static void test_isn_cookie(void)
{
	uint64_t key[2] = {0x1234, 0x5678}, key2[2] = {0x1234, 0x5679};
	struct tcp_tuple t = {0xc6120001u, 0xc6120002u, 80, 40000}, u = t;
	uint64_t now = 1000ull * 1000000000u;
	uint32_t a, b, c;
	uint16_t mss = 0;
	bool ws_ok, sack_ok;
	uint8_t ws;

	/* RFC 6528: the clock moves it (4 us ticks), the tuple and the key
	 * change it. */
	a = tcp_isn(key, &t, now);
	CHECK_EQ(tcp_isn(key, &t, now + 4000), a + 1);
	u.rport++;
	CHECK(tcp_isn(key, &u, now) != a);
	CHECK(tcp_isn(key2, &t, now) != a);
	/* Cookies: the MSS rounds down to the table; valid for 64..128 s. */
	c = tcp_cookie_make(key, &t, 777, 1450, now);
	CHECK(tcp_cookie_check(key, &t, 777, c, now, &mss));
	CHECK_EQ(mss, 1440);
	CHECK(tcp_cookie_check(key, &t, 777, c, now + 64ull * 1000000000u, &mss));
	CHECK(!tcp_cookie_check(key, &t, 777, c, now + 129ull * 1000000000u, &mss));
	CHECK(!tcp_cookie_check(key, &t, 778, c, now, &mss));
	CHECK(!tcp_cookie_check(key, &u, 777, c, now, &mss));
	CHECK(!tcp_cookie_check(key2, &t, 777, c, now, &mss));
	CHECK(!tcp_cookie_check(key, &t, 777, c ^ 1, now, &mss));
	CHECK(!tcp_cookie_check(key, &t, 777, c ^ (1u << 24), now, &mss));
	c = tcp_cookie_make(key, &t, 777, 100, now);
	CHECK(tcp_cookie_check(key, &t, 777, c, now, &mss));
	CHECK_EQ(mss, 536);
	/* WS and SACK in the TSval's low bits, never above the clock. */
	b = tcp_cookie_ts_encode(1000, true, 9, true);
	CHECK(b <= 1000);
	tcp_cookie_ts_decode(b, &ws_ok, &ws, &sack_ok);
	CHECK(ws_ok && sack_ok);
	CHECK_EQ(ws, 9);
	b = tcp_cookie_ts_encode(1000, false, 0, false);
	tcp_cookie_ts_decode(b, &ws_ok, &ws, &sack_ok);
	CHECK(!ws_ok && !sack_ok);
}

static void test_rcvq(void)
{
	struct tcp_rcvq q = {0};
	static uint8_t d[10000], out[10000];
	struct usnet_pkt *pkt = NULL;
	uint8_t *heap = NULL;
	struct usnet_tcp_iov iov[8];
	uint32_t s, e;

	for (size_t i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)(i * 31 + 3);
	/* In order: small segments share a chunk. */
	CHECK(tcp_rcvq_append(&q, &pkt, &heap, d, 100));
	CHECK(tcp_rcvq_append(&q, &pkt, &heap, d + 100, 100));
	CHECK_EQ(q.n, 1);
	CHECK_EQ(q.bytes, 200);
	CHECK_EQ(tcp_rcvq_peek(&q, iov, 8), 1);
	CHECK_EQ(iov[0].len, 200);
	CHECK_EQ(tcp_rcvq_copy(&q, out, 150), 150);
	CHECK(!memcmp(out, d, 150));
	CHECK_EQ(q.bytes, 50);
	/* Out of order, with overlaps (base 1000 = RCV.NXT after 200 bytes
	 * of a stream that starts at 800). */
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 1500, &pkt, &heap, d + 700, 100), TCP_OOO_QUEUED);
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 1550, &pkt, &heap, d + 750, 100), TCP_OOO_QUEUED);
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 1520, &pkt, &heap, d + 720, 50), TCP_OOO_DUP);
	CHECK_EQ(q.ooo_n, 2);
	CHECK(tcp_rcvq_ooo_range(&q, 1560, &s, &e));
	CHECK_EQ(s, 1500);
	CHECK_EQ(e, 1650);
	/* One segment covering both, and more. */
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 1400, &pkt, &heap, d + 600, 400), TCP_OOO_QUEUED);
	CHECK_EQ(q.ooo_n, 1);
	CHECK_EQ(q.ooo_bytes, 400);
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 3000, &pkt, &heap, d + 2200, 10), TCP_OOO_QUEUED);
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 3100, &pkt, &heap, d + 2300, 10), TCP_OOO_QUEUED);
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 3200, &pkt, &heap, d + 2400, 10), TCP_OOO_QUEUED);
	CHECK_EQ(tcp_rcvq_ooo_add(&q, 4, 3300, &pkt, &heap, d + 2500, 10), TCP_OOO_FULL);
	/* RCV.NXT 1000 gets [1000, 1400) in order: the held range follows. */
	CHECK(tcp_rcvq_append(&q, &pkt, &heap, d + 200, 400));
	CHECK_EQ(tcp_rcvq_ooo_pull(&q, 1400), 400);
	CHECK_EQ(q.ooo_n, 3);
	CHECK_EQ(q.bytes, 50 + 400 + 400);
	CHECK_EQ(tcp_rcvq_copy(&q, out, sizeof(out)), 850);
	CHECK(!memcmp(out, d + 150, 850));
	tcp_rcvq_fini(&q); /* frees the rest (ASan) */
}

static void test_sack_blocks(void)
{
	struct usnet_tcp c;

	memset(&c, 0, sizeof(c));
	c.rcv_nxt = 100;
	tcp_sack_note(&c, 200, 300);
	tcp_sack_note(&c, 400, 500);
	tcp_sack_note(&c, 600, 700);
	CHECK_EQ(c.rcv_nsack, 3);
	CHECK_EQ(c.rcv_sack[0].start, 600);
	CHECK_EQ(c.rcv_sack[2].start, 200);
	/* A segment joining two blocks: the merged one first, the others
	 * it covers gone. */
	tcp_sack_note(&c, 400, 700);
	CHECK_EQ(c.rcv_nsack, 2);
	CHECK_EQ(c.rcv_sack[0].start, 400);
	CHECK_EQ(c.rcv_sack[0].end, 700);
	CHECK_EQ(c.rcv_sack[1].start, 200);
	tcp_sack_note(&c, 800, 900);
	tcp_sack_note(&c, 1000, 1100);
	tcp_sack_note(&c, 1200, 1300);
	CHECK_EQ(c.rcv_nsack, TCP_MAX_SACK);
	CHECK_EQ(c.rcv_sack[0].start, 1200);
	CHECK_EQ(c.rcv_sack[3].start, 400);
	/* RCV.NXT moves past some blocks. */
	c.rcv_nxt = 1050;
	tcp_sack_trim(&c);
	CHECK_EQ(c.rcv_nsack, 2);
	CHECK_EQ(c.rcv_sack[0].start, 1200);
	CHECK_EQ(c.rcv_sack[1].start, 1050);
}

int main(void)
{
	test_opt_parse();
	test_opt_build();
	test_siphash();
	test_isn_cookie();
	test_rcvq();
	test_sack_blocks();
	return check_done("test_stack_tcp_opt");
}
