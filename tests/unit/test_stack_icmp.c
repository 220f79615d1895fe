/* SPDX-License-Identifier: MIT */
/* ICMP: echo replies, port unreachable and its rate limit, incoming
 * unreachables surfacing on the socket, echo endpoints (ping) between two
 * stacks, and errors for an echo endpoint. */
#include <errno.h>

#include "stack_util.h"

static size_t make_icmp(uint8_t *out, uint8_t type, uint8_t code, uint16_t id, uint16_t seq,
			const void *data, size_t len)
{
	uint16_t c;

	out[0] = type;
	out[1] = code;
	out[2] = out[3] = 0;
	out[4] = (uint8_t)(id >> 8), out[5] = (uint8_t)id;
	out[6] = (uint8_t)(seq >> 8), out[7] = (uint8_t)seq;
	memcpy(out + 8, data, len);
	c = usnet_csum_fold(usnet_csum_add(0, out, 8 + len));
	memcpy(out + 2, &c, 2);
	return 8 + len;
}

static void test_echo_reply(void)
{
	struct harness h;
	uint8_t m[128], f[256], r[256];
	size_t n;

	CHECK_EQ(harness_open(&h, "icmp_echo", NULL), 0);
	answer_arp(&h, IP_PEER);
	n = make_icmp(m, 8, 0, 0x1234, 7, "abcdefghij", 10);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 1, 0, NULL, 0, m, n);
	inject(&h, f, n);
	n = peer_recv(&h, r, sizeof(r));
	CHECK_EQ(n, 60);
	CHECK(!memcmp(r, MAC_PEER, 6));
	CHECK_EQ(r[23], USNET_IPPROTO_ICMP);
	CHECK_EQ(get32(r + 26), IP_US);
	CHECK_EQ(get32(r + 30), IP_PEER);
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, r + 14, 20)), 0);
	CHECK_EQ(get16(r + 16), 20 + 18);
	CHECK_EQ(r[34], 0); /* echo reply */
	CHECK_EQ(get16(r + 38), 0x1234);
	CHECK_EQ(get16(r + 40), 7);
	CHECK(!memcmp(r + 42, "abcdefghij", 10));
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, r + 34, 18)), 0);
	CHECK_EQ(counters(&h).icmp_tx_echo_reply, 1);

	/* Broadcast: ignored. A bad checksum and a runt: dropped. */
	n = make_icmp(m, 8, 0, 1, 1, "x", 1);
	n = make_ip(f, MAC_PEER, MAC_BCAST, IP_PEER, 0xc61200ffu, USNET_IPPROTO_ICMP, 2, 0, NULL, 0,
		    m, n);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_echo_bcast, 1);
	n = make_icmp(m, 8, 0, 1, 1, "x", 1);
	m[8] = 'y';
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 3, 0, NULL, 0, m, n);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_bad_csum, 1);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 4, 0, NULL, 0, m, 7);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_short, 1);
	/* A type we do not handle (timestamp request). */
	n = make_icmp(m, 13, 0, 1, 1, "123456789012", 12);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 5, 0, NULL, 0, m, n);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_unknown_type, 1);
	CHECK_EQ(peer_drain(&h), 0);
	harness_close(&h);
}

static void test_unreach_rate(void)
{
	struct usnet_stack_conf conf = {.icmp_unreach_per_s = 10, .icmp_unreach_burst = 3};
	struct harness h;
	uint8_t u[64], f[256], r[256];
	size_t n, ul;

	CHECK_EQ(harness_open(&h, "icmp_rate", &conf), 0);
	answer_arp(&h, IP_PEER);
	ul = make_udp(u, IP_PEER, IP_US, 1000, 9999, "nobody", 6);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, NULL, 0, u, ul);
	for (int i = 0; i < 5; i++)
		inject(&h, f, n);
	CHECK_EQ(counters(&h).udp_no_port, 5);
	CHECK_EQ(counters(&h).icmp_tx_unreach, 3);
	CHECK_EQ(counters(&h).icmp_unreach_limited, 2);
	n = peer_recv(&h, r, sizeof(r));
	CHECK_EQ(r[34], 3);
	CHECK_EQ(r[35], 3); /* port unreachable */
	CHECK_EQ(get32(r + 42 + 16), IP_US);
	CHECK_EQ(get16(r + 42 + 20 + 2), 9999); /* the quoted UDP destination port */
	CHECK_EQ(peer_drain(&h), 2);
	/* 100 ms later one token is back. */
	fake_now += 100 * MS;
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, NULL, 0, u, ul);
	inject(&h, f, n);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_tx_unreach, 4);
	CHECK_EQ(counters(&h).icmp_unreach_limited, 3);
	CHECK_EQ(peer_drain(&h), 1);
	/* Never for a broadcast. */
	fake_now += 10000 * MS;
	ul = make_udp(u, IP_PEER, 0xffffffffu, 1000, 9999, "nobody", 6);
	n = make_ip(f, MAC_PEER, MAC_BCAST, IP_PEER, 0xffffffffu, USNET_IPPROTO_UDP, 1, 0, NULL, 0,
		    u, ul);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).udp_no_port, 8);
	CHECK_EQ(counters(&h).icmp_tx_unreach, 4);
	CHECK_EQ(peer_drain(&h), 0);
	harness_close(&h);
}

/* An ICMP error from the peer quoting the frame q (as the stack sent it). */
static size_t error_about(uint8_t *f, uint8_t type, uint8_t code, const uint8_t *q)
{
	uint8_t m[128];
	size_t n = make_icmp(m, type, code, 0, 0, q + 14, 28);

	return make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 9, 0, NULL, 0, m,
		       n);
}

static void test_unreach_in(void)
{
	struct usnet_addr4 to = {IP_PEER, 53};
	struct usnet_udp *c, *u;
	struct usnet_event ev[2];
	struct harness h;
	uint8_t sent[256], f[256];
	char buf[8];
	size_t n;
	int tag;

	CHECK_EQ(harness_open(&h, "icmp_in", NULL), 0);
	answer_arp(&h, IP_PEER);
	CHECK_EQ(usnet_udp_open(h.st, &c, &tag), 0);
	CHECK_EQ(usnet_udp_connect(c, IP_PEER, 53), 0);
	CHECK_EQ(usnet_udp_sendto(c, "query", 5, NULL), 5);
	CHECK(peer_recv(&h, sent, sizeof(sent)) > 0);
	n = error_about(f, 3, 3, sent);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_rx_unreach, 1);
	CHECK_EQ(usnet_udp_events(c) & USNET_EV_ERROR, USNET_EV_ERROR);
	CHECK_EQ(usnet_stack_events(h.st, ev, 2), 1);
	CHECK(ev[0].user == &tag && ev[0].events == USNET_EV_ERROR);
	/* Reported once, by the next call. */
	CHECK_EQ(usnet_udp_sendto(c, "query", 5, NULL), -ECONNREFUSED);
	CHECK_EQ(usnet_udp_sendto(c, "query", 5, NULL), 5);
	peer_recv(&h, sent, sizeof(sent));
	n = error_about(f, 3, 1, sent); /* host unreachable */
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(c, buf, sizeof(buf), NULL), -EHOSTUNREACH);
	CHECK_EQ(usnet_udp_error(c), 0);
	n = error_about(f, 11, 0, sent); /* time exceeded */
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_rx_time_exceeded, 1);
	CHECK_EQ(usnet_udp_error(c), -EHOSTUNREACH);
	n = error_about(f, 12, 0, sent); /* parameter problem */
	inject(&h, f, n);
	CHECK_EQ(counters(&h).icmp_rx_param_problem, 1);
	CHECK_EQ(usnet_udp_error(c), -EPROTO);

	/* An unconnected socket hears nothing (BSD semantics)... */
	CHECK_EQ(usnet_udp_open(h.st, &u, NULL), 0);
	CHECK_EQ(usnet_udp_sendto(u, "q", 1, &to), 1);
	peer_recv(&h, sent, sizeof(sent));
	n = error_about(f, 3, 3, sent);
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_error(u), 0);
	/* ...unless it asks (RFC 1122 4.1.3.3), and then it learns which
	 * destination the error is about. */
	CHECK_EQ(usnet_udp_set_recverr(u, true), 0);
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_events(u) & USNET_EV_ERROR, USNET_EV_ERROR);
	{
		struct usnet_addr4 dst = {0, 0};

		CHECK_EQ(usnet_udp_error_addr(u, &dst), -ECONNREFUSED);
		CHECK_EQ(dst.ip, IP_PEER);
		CHECK_EQ(dst.port, 53);
		CHECK_EQ(usnet_udp_error_addr(u, &dst), 0);
	}
	CHECK_EQ(usnet_udp_set_recverr(u, false), 0);

	/* Quotes of something we did not send, or too short: counted. */
	peer_recv(&h, sent, sizeof(sent));
	put32(sent + 14 + 12, IP_PEER); /* "we" did not send from there */
	n = error_about(f, 3, 3, sent);
	inject(&h, f, n);
	{
		uint8_t m[64];

		n = make_icmp(m, 3, 3, 0, 0, sent + 14, 20);
		n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_ICMP, 9, 0, NULL, 0,
			    m, n);
		inject(&h, f, n);
	}
	CHECK_EQ(counters(&h).icmp_err_bad, 2);
	usnet_udp_close(c);
	usnet_udp_close(u);
	harness_close(&h);
}

static void test_ping_two_stacks(void)
{
	struct usnet_stack_conf conf = {.clock = fake_clock};
	struct usnet_iface_conf ia = {0}, ib;
	struct usnet_port *pa, *pb;
	struct usnet_stack *a, *b;
	struct usnet_icmp *e, *e2;
	struct usnet_icmp_echo echo;
	char buf[64];

	CHECK_EQ(usnet_port_open(&pa, "pair:icmp_ping", NULL), 0);
	CHECK_EQ(usnet_port_open(&pb, "pair:icmp_ping", NULL), 0);
	CHECK_EQ(usnet_stack_create(&a, &conf), 0);
	CHECK_EQ(usnet_stack_create(&b, &conf), 0);
	ia.port = pa;
	ia.addr = IP_US;
	ia.prefix_len = 24;
	memcpy(ia.mac, MAC_US, 6);
	ib = ia;
	ib.port = pb;
	ib.addr = IP_PEER;
	memcpy(ib.mac, MAC_PEER, 6);
	CHECK_EQ(usnet_stack_add_iface(a, &ia), 0);
	CHECK_EQ(usnet_stack_add_iface(b, &ib), 0);
	CHECK_EQ(usnet_icmp_open(a, &e, 0x77, NULL), 0);
	CHECK_EQ(usnet_icmp_open(a, &e2, 0x77, NULL), -EADDRINUSE);
	CHECK_EQ(usnet_icmp_echo_recv(e, &echo, buf, sizeof(buf)), -EAGAIN);
	CHECK_EQ(usnet_icmp_echo_send(e, IP_PEER, 1, "hello ping", 10, 0), 0);
	fake_now += 5 * MS;
	for (int i = 0; i < 3; i++) {
		usnet_stack_poll(b);
		usnet_stack_poll(a);
	}
	CHECK_EQ(usnet_icmp_events(e) & USNET_EV_READ, USNET_EV_READ);
	CHECK_EQ(usnet_icmp_echo_recv(e, &echo, buf, sizeof(buf)), 10);
	CHECK(!memcmp(buf, "hello ping", 10));
	CHECK_EQ(echo.from, IP_PEER);
	CHECK_EQ(echo.id, 0x77);
	CHECK_EQ(echo.seq, 1);
	CHECK_EQ(echo.type, 0);
	CHECK_EQ(echo.ttl, 64);
	CHECK_EQ(echo.rx_ns, fake_now);
	/* A large ping: fragmented both ways. */
	{
		static uint8_t big[5000], got[5000];

		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)(i * 13);
		CHECK_EQ(usnet_icmp_echo_send(e, IP_PEER, 2, big, sizeof(big), 0), 0);
		for (int i = 0; i < 3; i++) {
			usnet_stack_poll(b);
			usnet_stack_poll(a);
		}
		CHECK_EQ(usnet_icmp_echo_recv(e, &echo, got, sizeof(got)), (int)sizeof(big));
		CHECK_EQ(echo.seq, 2);
		CHECK(!memcmp(got, big, sizeof(big)));
	}
	/* No route, and B has no endpoint for the replies of its own pings to
	 * nobody: nothing to receive. */
	CHECK_EQ(usnet_icmp_echo_send(e, 0xe0000001u, 3, NULL, 0, 0), -ENETUNREACH);
	usnet_icmp_close(e);
	usnet_stack_destroy(a);
	usnet_stack_destroy(b);
	usnet_port_close(pa);
	usnet_port_close(pb);
}

static void test_echo_error(void)
{
	struct harness h;
	struct usnet_icmp *e;
	struct usnet_icmp_echo echo;
	uint8_t sent[256], f[256];
	size_t n;

	CHECK_EQ(harness_open(&h, "icmp_eperr", NULL), 0);
	answer_arp(&h, IP_GW);
	CHECK_EQ(usnet_icmp_open(h.st, &e, 0x99, NULL), 0);
	CHECK_EQ(usnet_icmp_echo_send(e, IP_FAR, 5, "ttl", 3, 1), 0);
	n = peer_recv(&h, sent, sizeof(sent));
	CHECK(n > 0 && sent[14 + 8] == 1); /* our TTL */
	n = error_about(f, 11, 0, sent);
	inject(&h, f, n);
	CHECK_EQ(usnet_icmp_echo_recv(e, &echo, NULL, 0), 0);
	CHECK_EQ(echo.type, 11);
	CHECK_EQ(echo.seq, 5);
	CHECK_EQ(echo.from, IP_PEER);
	usnet_icmp_close(e);
	harness_close(&h);
}

int main(void)
{
	test_echo_reply();
	test_unreach_rate();
	test_unreach_in();
	test_ping_two_stacks();
	test_echo_error();
	return check_done("test_stack_icmp");
}
