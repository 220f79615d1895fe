/* SPDX-License-Identifier: MIT */
/* UDP over the stack: checksums both ways, bind/connect/demultiplexing,
 * ephemeral ports, readiness, the zero-copy level, and two stacks talking
 * over a pair: port. */
#include <errno.h>
#include <stdlib.h>

#include "../../src/stack/stack_impl.h"
#include "stack_util.h"

/* A datagram from the peer to the stack, as a whole frame. */
static size_t peer_datagram(uint8_t *f, uint16_t sport, uint16_t dport, const char *text)
{
	uint8_t u[256];
	size_t n = make_udp(u, IP_PEER, IP_US, sport, dport, text, strlen(text));

	return make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, NULL, 0, u, n);
}

static void test_rx_checksums(void)
{
	struct harness h;
	struct usnet_udp *s;
	struct usnet_addr4 from;
	uint8_t f[512];
	char buf[64];
	size_t n;

	CHECK_EQ(harness_open(&h, "udp_rx", NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_bind(s, 0, 5000), 0);

	n = peer_datagram(f, 1234, 5000, "hello");
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), &from), 5);
	CHECK(!memcmp(buf, "hello", 5));
	CHECK_EQ(from.ip, IP_PEER);
	CHECK_EQ(from.port, 1234);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), &from), -EAGAIN);

	/* A flipped payload bit: dropped, counted. */
	f[n - 1] ^= 1;
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), -EAGAIN);
	CHECK_EQ(counters(&h).udp_bad_csum, 1);

	/* Checksum 0: none, accepted even with the flipped bit (RFC 768). */
	f[14 + 20 + 6] = 0;
	f[14 + 20 + 7] = 0;
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), 5);
	CHECK_EQ(counters(&h).udp_bad_csum, 1);

	/* recvmsg also gives the address it was sent to. */
	{
		struct usnet_addr4 to;

		n = peer_datagram(f, 1234, 5000, "dst");
		inject(&h, f, n);
		CHECK_EQ(usnet_udp_recvmsg(s, buf, sizeof(buf), &from, &to), 3);
		CHECK_EQ(to.ip, IP_US);
		CHECK_EQ(to.port, 5000);
	}
	/* Truncation reports the full length, like MSG_TRUNC. */
	n = peer_datagram(f, 1234, 5000, "a longer datagram");
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, 4, NULL), 17);
	CHECK(!memcmp(buf, "a lo", 4));

	/* UDP length above the IP payload, below 8, and a runt. */
	n = peer_datagram(f, 1234, 5000, "xyz");
	f[14 + 20 + 5] = 200;
	inject(&h, f, n);
	f[14 + 20 + 5] = 7;
	inject(&h, f, n);
	CHECK_EQ(counters(&h).udp_bad_len, 2);
	{
		uint8_t u[4] = {0};

		n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, NULL, 0,
			    u, sizeof(u));
		inject(&h, f, n);
		CHECK_EQ(counters(&h).udp_short, 1);
	}
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), -EAGAIN);
	usnet_udp_close(s);
	harness_close(&h);
}

/* A frame whose UDP checksum was left to an offload (the field holds the
 * pseudo-header sum, as Linux's CHECKSUM_PARTIAL): dropped as corrupt,
 * unless the port flags it USNET_PKT_F_CSUM_PARTIAL. */
static void test_csum_partial(void)
{
	struct harness h;
	struct usnet_udp *s;
	uint8_t f[256];
	char buf[16];
	size_t n;

	CHECK_EQ(harness_open(&h, "udp_partial", NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_bind(s, 0, 5001), 0);
	n = peer_datagram(f, 1234, 5001, "offload");
	{
		/* The pseudo-header sum, not complemented, in the field. */
		uint32_t sum = (IP_PEER >> 16) + (IP_PEER & 0xffff) + (IP_US >> 16) +
			       (IP_US & 0xffff) + 17 + 15;
		uint16_t partial;

		sum = (sum & 0xffff) + (sum >> 16);
		partial = htons((uint16_t)sum);
		memcpy(f + 14 + 20 + 6, &partial, 2);
	}
	for (int flagged = 0; flagged < 2; flagged++) {
		struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(h.port, 0));

		CHECK(p != NULL);
		if (!p)
			break;
		memcpy(usnet_pkt_data(p), f, n);
		p->len = (uint16_t)n;
		p->flags = flagged ? USNET_PKT_F_CSUM_PARTIAL : 0;
		eth_input(h.st, &h.st->ifc[0], p);
		if (flagged) {
			CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), 7);
			CHECK(!memcmp(buf, "offload", 7));
		} else {
			CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), -EAGAIN);
			CHECK_EQ(counters(&h).udp_bad_csum, 1);
		}
	}
	usnet_udp_close(s);
	harness_close(&h);
}

static void test_tx_checksum(void)
{
	struct harness h;
	struct usnet_udp *s;
	struct usnet_addr4 to = {IP_PEER, 9};
	struct usnet_udp4_view v;
	uint8_t f[2048];
	size_t n;

	CHECK_EQ(harness_open(&h, "udp_tx", NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	/* Unresolved: the datagram waits for ARP. */
	CHECK_EQ(usnet_udp_sendto(s, "payload", 7, &to), 7);
	n = peer_recv(&h, f, sizeof(f));
	CHECK_EQ(n, 60);
	CHECK_EQ(get16(f + 12), 0x0806);
	CHECK_EQ(peer_recv(&h, f, sizeof(f)), 0);
	answer_arp(&h, IP_PEER);
	n = peer_recv(&h, f, sizeof(f));
	CHECK_EQ(n, 60);
	CHECK_EQ(usnet_udp4_parse(f, n, &v), 0);
	CHECK(v.ip_csum_ok);
	CHECK(v.udp_csum_ok && v.udp->csum != 0);
	CHECK_EQ(v.payload_len, 7);
	CHECK(!memcmp(v.payload, "payload", 7));
	CHECK_EQ(ntohs(v.udp->dport), 9);
	CHECK(ntohs(v.udp->sport) >= 49152);
	CHECK(!memcmp(v.eth->dst, MAC_PEER, 6) && !memcmp(v.eth->src, MAC_US, 6));
	CHECK_EQ(ntohl(v.ip->src), IP_US);
	CHECK_EQ(counters(&h).udp_tx, 1);
	CHECK_EQ(v.ip->ttl, 64);
	CHECK_EQ(v.ip->tos, 0);
	/* Per-socket TTL and TOS (RFC 1122 3.2.1.6-7). */
	CHECK_EQ(usnet_udp_set_ttl(s, 7), 0);
	CHECK_EQ(usnet_udp_set_tos(s, 0x10), 0);
	CHECK_EQ(usnet_udp_sendto(s, "ttl", 3, &to), 3);
	n = peer_recv(&h, f, sizeof(f));
	CHECK_EQ(usnet_udp4_parse(f, n, &v), 0);
	CHECK_EQ(v.ip->ttl, 7);
	CHECK_EQ(v.ip->tos, 0x10);
	CHECK(v.ip_csum_ok);
	CHECK_EQ(usnet_udp_set_ttl(s, 0), 0);
	CHECK_EQ(usnet_udp_set_tos(s, 0), 0);

	/* Off-link: through the gateway's MAC. */
	to.ip = IP_FAR;
	CHECK_EQ(usnet_udp_sendto(s, "far", 3, &to), 3);
	n = peer_recv(&h, f, sizeof(f));
	CHECK_EQ(get16(f + 12), 0x0806);
	CHECK_EQ(get32(f + 38), IP_GW);
	answer_arp(&h, IP_GW);
	n = peer_recv(&h, f, sizeof(f));
	CHECK_EQ(usnet_udp4_parse(f, n, &v), 0);
	CHECK_EQ(ntohl(v.ip->dst), IP_FAR);
	CHECK(v.udp_csum_ok);

	/* No route for 0.0.0.0 and multicast; too big; no address. */
	to.ip = 0xe0000001u;
	CHECK_EQ(usnet_udp_sendto(s, "x", 1, &to), -ENETUNREACH);
	to.ip = IP_PEER;
	CHECK_EQ(usnet_udp_sendto(s, f, 65508, &to), -EMSGSIZE);
	CHECK_EQ(usnet_udp_sendto(s, "x", 1, NULL), -EDESTADDRREQ);
	usnet_udp_close(s);
	harness_close(&h);
}

/* A fragmented datagram to an unresolved neighbour waits whole, or is
 * refused whole while the resolution starts. */
static void test_big_unresolved(void)
{
	static uint8_t big[60000];
	struct usnet_stack_conf conf = {.arp_queue_len = 16};
	struct usnet_addr4 to = {IP_PEER, 9};
	struct usnet_udp *s;
	struct harness h;
	uint8_t f[2048];
	unsigned frags = 0;
	size_t n;

	/* Default queue (64 packets): 41 fragments wait, all go after the answer. */
	CHECK_EQ(harness_open(&h, "udp_big", NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_sendto(s, big, sizeof(big), &to), (int)sizeof(big));
	CHECK_EQ(peer_drain(&h), 1); /* the ARP request */
	answer_arp(&h, IP_PEER);
	while ((n = peer_recv(&h, f, sizeof(f))))
		frags += get16(f + 12) == 0x0800;
	CHECK_EQ(frags, (sizeof(big) + 8 + 1479) / 1480);
	CHECK_EQ(counters(&h).arp_queue_drop, 0);
	usnet_udp_close(s);
	harness_close(&h);

	/* A 16-packet queue: refused, but the request goes out; after the
	 * answer the same call succeeds. */
	CHECK_EQ(harness_open(&h, "udp_big2", &conf), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_sendto(s, big, 30000, &to), -ENOBUFS);
	n = peer_recv(&h, f, sizeof(f));
	CHECK(n > 0 && get16(f + 12) == 0x0806);
	/* Smaller datagrams still queue, up to the cap, whole. */
	CHECK_EQ(usnet_udp_sendto(s, big, 14000, &to), 14000); /* 10 fragments */
	CHECK_EQ(usnet_udp_sendto(s, big, 14000, &to), -ENOBUFS);
	answer_arp(&h, IP_PEER);
	CHECK_EQ(peer_drain(&h), 10);
	CHECK_EQ(usnet_udp_sendto(s, big, 30000, &to), 30000);
	CHECK_EQ(peer_drain(&h), 21);
	usnet_udp_close(s);
	harness_close(&h);
}

/* conf.tx_defer: sends wait for a flush, a poll, or a full batch. */
static void test_tx_defer(void)
{
	struct usnet_stack_conf conf = {.tx_defer = true};
	struct usnet_addr4 to = {IP_PEER, 9};
	struct usnet_udp *s;
	struct harness h;

	CHECK_EQ(harness_open(&h, "udp_defer", &conf), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	answer_arp(&h, IP_PEER);
	CHECK_EQ(usnet_udp_sendto(s, "a", 1, &to), 1);
	CHECK_EQ(usnet_udp_sendto(s, "b", 1, &to), 1);
	CHECK_EQ(peer_drain(&h), 0);
	usnet_stack_flush(h.st);
	CHECK_EQ(peer_drain(&h), 2);
	CHECK_EQ(usnet_udp_sendto(s, "c", 1, &to), 1);
	usnet_stack_poll(h.st);
	CHECK_EQ(peer_drain(&h), 1);
	/* A full batch (64) goes by itself. */
	for (int i = 0; i < 64; i++)
		CHECK_EQ(usnet_udp_sendto(s, "d", 1, &to), 1);
	CHECK_EQ(peer_drain(&h), 64);
	CHECK_EQ(usnet_udp_sendto(s, "e", 1, &to), 1);
	CHECK_EQ(usnet_stack_arm(h.st), 30000); /* flushes; the ARP entry's timer next */
	CHECK_EQ(peer_drain(&h), 1);
	usnet_udp_close(s);
	harness_close(&h);
}

static void test_bind_demux(void)
{
	struct harness h;
	struct usnet_udp *a, *b, *c;
	struct usnet_addr4 local;
	uint8_t f[512];
	char buf[64];
	size_t n;

	CHECK_EQ(harness_open(&h, "udp_bind", NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &a, NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &b, NULL), 0);
	CHECK_EQ(usnet_udp_open(h.st, &c, NULL), 0);
	CHECK_EQ(usnet_udp_bind(a, 0, 7000), 0);
	CHECK_EQ(usnet_udp_bind(a, 0, 7001), -EINVAL);
	CHECK_EQ(usnet_udp_bind(b, 0, 7000), -EADDRINUSE);
	CHECK_EQ(usnet_udp_bind(b, IP_US, 7000), -EADDRINUSE);
	CHECK_EQ(usnet_udp_bind(b, IP_PEER, 7001), -EADDRNOTAVAIL);
	CHECK_EQ(usnet_udp_bind(b, IP_US, 7001), 0);
	CHECK_EQ(usnet_udp_local(b, &local), 0);
	CHECK_EQ(local.ip, IP_US);
	CHECK_EQ(local.port, 7001);
	/* c is connected to the peer's port 53 only. */
	CHECK_EQ(usnet_udp_connect(c, IP_PEER, 53), 0);
	CHECK_EQ(usnet_udp_local(c, &local), 0);
	CHECK(local.port >= 49152);

	n = peer_datagram(f, 1, 7000, "to-a");
	inject(&h, f, n);
	n = peer_datagram(f, 1, 7001, "to-b");
	inject(&h, f, n);
	n = peer_datagram(f, 53, local.port, "to-c");
	inject(&h, f, n);
	n = peer_datagram(f, 54, local.port, "not-c");
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(a, buf, sizeof(buf), NULL), 4);
	CHECK(!memcmp(buf, "to-a", 4));
	CHECK_EQ(usnet_udp_recvfrom(b, buf, sizeof(buf), NULL), 4);
	CHECK(!memcmp(buf, "to-b", 4));
	CHECK_EQ(usnet_udp_recvfrom(c, buf, sizeof(buf), NULL), 4);
	CHECK(!memcmp(buf, "to-c", 4));
	CHECK_EQ(usnet_udp_recvfrom(c, buf, sizeof(buf), NULL), -EAGAIN);
	CHECK_EQ(counters(&h).udp_no_port, 1); /* not-c */

	/* Closing frees the port. */
	usnet_udp_close(a);
	CHECK_EQ(usnet_udp_open(h.st, &a, NULL), 0);
	CHECK_EQ(usnet_udp_bind(a, 0, 7000), 0);
	usnet_udp_close(a);
	usnet_udp_close(b);
	usnet_udp_close(c);
	harness_close(&h);
}

static void test_ephemeral(void)
{
	struct usnet_stack_conf conf = {.ephemeral_min = 40000, .ephemeral_max = 40003};
	struct usnet_udp *s[5];
	struct usnet_addr4 l;
	struct harness h;
	unsigned seen = 0;

	CHECK_EQ(harness_open(&h, "udp_eph", &conf), 0);
	for (int i = 0; i < 4; i++) {
		CHECK_EQ(usnet_udp_open(h.st, &s[i], NULL), 0);
		CHECK_EQ(usnet_udp_bind(s[i], 0, 0), 0);
		CHECK_EQ(usnet_udp_local(s[i], &l), 0);
		CHECK(l.port >= 40000 && l.port <= 40003);
		seen |= 1u << (l.port - 40000);
	}
	CHECK_EQ(seen, 0xf); /* four different ports */
	CHECK_EQ(usnet_udp_open(h.st, &s[4], NULL), 0);
	CHECK_EQ(usnet_udp_bind(s[4], 0, 0), -EADDRINUSE); /* range exhausted */
	usnet_udp_close(s[1]);
	CHECK_EQ(usnet_udp_bind(s[4], 0, 0), 0);
	CHECK_EQ(usnet_udp_local(s[4], &l), 0);
	CHECK_EQ(l.port, 40001);
	usnet_udp_close(s[0]);
	usnet_udp_close(s[2]);
	usnet_udp_close(s[3]);
	/* s[4] is left open: destroy closes it (ASan would see a leak otherwise). */
	harness_close(&h);
}

static void test_events_and_rcvbuf(void)
{
	struct usnet_stack_conf conf = {.udp_rcvq_len = 2};
	struct usnet_event ev[4];
	struct harness h;
	struct usnet_udp *a, *b;
	int tag_a, tag_b;
	uint8_t f[512];
	size_t n;

	CHECK_EQ(harness_open(&h, "udp_ev", &conf), 0);
	CHECK_EQ(usnet_udp_open(h.st, &a, &tag_a), 0);
	CHECK_EQ(usnet_udp_open(h.st, &b, &tag_b), 0);
	CHECK_EQ(usnet_udp_bind(a, 0, 100), 0);
	CHECK_EQ(usnet_udp_bind(b, 0, 101), 0);
	CHECK_EQ(usnet_stack_events(h.st, ev, 4), 0);
	CHECK_EQ(usnet_udp_events(a), USNET_EV_WRITE);
	for (int i = 0; i < 3; i++) {
		n = peer_datagram(f, 1, 101, "b");
		inject(&h, f, n);
	}
	CHECK_EQ(counters(&h).udp_rcvbuf_full, 1);
	n = peer_datagram(f, 1, 100, "a");
	inject(&h, f, n);
	CHECK_EQ(usnet_stack_events(h.st, ev, 4), 2);
	CHECK(ev[0].user == &tag_b && ev[0].events == USNET_EV_READ);
	CHECK(ev[1].user == &tag_a && ev[1].events == USNET_EV_READ);
	CHECK_EQ(usnet_stack_events(h.st, ev, 4), 0);
	CHECK_EQ(usnet_udp_events(b), USNET_EV_READ | USNET_EV_WRITE);
	usnet_udp_close(a);
	usnet_udp_close(b);
	harness_close(&h);
}

/* Two stacks, one on each end of a pair: port, in one thread. */
struct duo {
	struct usnet_port *pa, *pb;
	struct usnet_stack *a, *b;
};

static int duo_open(struct duo *d, const char *name)
{
	struct usnet_stack_conf conf = {.clock = fake_clock};
	struct usnet_iface_conf ia = {0}, ib = {0};
	char spec[64];

	snprintf(spec, sizeof(spec), "pair:%s", name);
	if (usnet_port_open(&d->pa, spec, NULL) || usnet_port_open(&d->pb, spec, NULL))
		return -1;
	if (usnet_stack_create(&d->a, &conf) || usnet_stack_create(&d->b, &conf))
		return -1;
	ia.port = d->pa;
	ia.addr = IP_US;
	ia.prefix_len = 24;
	memcpy(ia.mac, MAC_US, 6);
	ib = ia;
	ib.port = d->pb;
	ib.addr = IP_PEER;
	memcpy(ib.mac, MAC_PEER, 6);
	return usnet_stack_add_iface(d->a, &ia) == 0 && usnet_stack_add_iface(d->b, &ib) == 0 ? 0
											      : -1;
}

static void duo_poll(struct duo *d, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		usnet_stack_poll(d->a);
		usnet_stack_poll(d->b);
	}
}

static void duo_close(struct duo *d)
{
	usnet_stack_destroy(d->a);
	usnet_stack_destroy(d->b);
	usnet_port_close(d->pa);
	usnet_port_close(d->pb);
}

static void test_two_stacks(void)
{
	static uint8_t big[20000], got[20000];
	struct usnet_stack_counters ca, cb;
	struct usnet_udp *sa, *sb;
	struct usnet_udp_msg msg;
	struct usnet_addr4 from, to = {IP_PEER, 4000};
	struct usnet_pkt *p;
	struct duo d;

	CHECK_EQ(duo_open(&d, "udp_duo"), 0);
	CHECK_EQ(usnet_udp_open(d.a, &sa, NULL), 0);
	CHECK_EQ(usnet_udp_open(d.b, &sb, NULL), 0);
	CHECK_EQ(usnet_udp_bind(sb, 0, 4000), 0);
	CHECK_EQ(usnet_udp_bind(sa, 0, 3000), 0);
	duo_poll(&d, 2); /* the gratuitous ARPs */

	CHECK_EQ(usnet_udp_sendto(sa, "ping", 4, &to), 4);
	duo_poll(&d, 3);
	CHECK_EQ(usnet_udp_recvfrom(sb, got, sizeof(got), &from), 4);
	CHECK(!memcmp(got, "ping", 4));
	CHECK_EQ(from.ip, IP_US);
	CHECK_EQ(from.port, 3000);

	/* Back, zero-copy both ways. */
	p = usnet_udp_alloc(sb);
	CHECK(p != NULL);
	if (p) {
		CHECK(usnet_pkt_headroom(p) >= USNET_UDP_HEADROOM);
		memcpy(usnet_pkt_append(p, 4), "pong", 4);
		CHECK_EQ(usnet_udp_send_pkt(sb, p, &from), 0);
	}
	duo_poll(&d, 2);
	CHECK_EQ(usnet_udp_recv_burst(sa, &msg, 1), 1);
	CHECK(msg.pkt != NULL);
	CHECK_EQ(msg.len, 4);
	CHECK(msg.data == usnet_pkt_data(msg.pkt) + msg.off);
	CHECK_EQ(msg.off, 42);
	CHECK(!memcmp(msg.data, "pong", 4));
	CHECK_EQ(msg.from.port, 4000);
	CHECK_EQ(msg.to.port, 3000);
	usnet_udp_msg_free(&msg);

	/* 20000 bytes: fragmented at a 1500 MTU, reassembled. */
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + (i >> 8));
	CHECK_EQ(usnet_udp_sendto(sa, big, sizeof(big), &to), (int)sizeof(big));
	duo_poll(&d, 4);
	memset(got, 0, sizeof(got));
	CHECK_EQ(usnet_udp_recvfrom(sb, got, sizeof(got), NULL), (int)sizeof(big));
	CHECK(!memcmp(got, big, sizeof(big)));
	usnet_stack_counters(d.a, &ca);
	usnet_stack_counters(d.b, &cb);
	CHECK_EQ(ca.ip_tx_frag, (sizeof(big) + 8 + 1479) / 1480);
	CHECK_EQ(cb.ip_frag_rx, ca.ip_tx_frag);
	CHECK_EQ(cb.ip_reasm_ok, 1);
	/* The same through the zero-copy receive: a heap buffer. */
	CHECK_EQ(usnet_udp_sendto(sa, big, sizeof(big), &to), (int)sizeof(big));
	duo_poll(&d, 4);
	CHECK_EQ(usnet_udp_recv_burst(sb, &msg, 1), 1);
	CHECK(msg.pkt == NULL);
	CHECK_EQ(msg.len, sizeof(big));
	CHECK(!memcmp(msg.data, big, sizeof(big)));
	usnet_udp_msg_free(&msg);
	usnet_stack_counters(d.b, &cb);
	CHECK_EQ(cb.udp_bad_csum, 0);
	CHECK_EQ(cb.ip_bad_csum, 0);

	usnet_udp_close(sa);
	usnet_udp_close(sb);
	duo_close(&d);
}

static void test_counter_names(void)
{
	struct usnet_stack_counters c;
	unsigned n = usnet_stack_counter_count();
	FILE *f = tmpfile();

	memset(&c, 0, sizeof(c));
	c.udp_bad_csum = 42;
	CHECK_EQ(n, sizeof(c) / sizeof(uint64_t));
	CHECK(usnet_stack_counter_name(n) == NULL);
	for (unsigned i = 0; i < n; i++) {
		CHECK(usnet_stack_counter_name(i) && usnet_stack_counter_desc(i));
		if (!strcmp(usnet_stack_counter_name(i), "udp_bad_csum"))
			CHECK_EQ(usnet_stack_counter_value(&c, i), 42);
	}
	if (f) {
		char line[128] = "";

		CHECK_EQ(usnet_stack_counters_print(&c, f, true), 1);
		rewind(f);
		CHECK(fgets(line, sizeof(line), f) != NULL);
		CHECK(!strncmp(line, "udp_bad_csum", 12) && strstr(line, " 42"));
		fclose(f);
	}
}

int main(void)
{
	test_rx_checksums();
	test_tx_checksum();
	test_csum_partial();
	test_big_unresolved();
	test_tx_defer();
	test_bind_demux();
	test_ephemeral();
	test_events_and_rcvbuf();
	test_two_stacks();
	test_counter_names();
	return check_done("test_stack_udp");
}
