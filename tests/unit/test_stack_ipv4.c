/* SPDX-License-Identifier: MIT */
/* Ethernet and IPv4 input validation: each malformed case is dropped and
 * increments its own counter, and only that one; options are skipped. */
#include <errno.h>

#include "stack_util.h"

/* The counters as an array, to check that exactly one moved. */
static unsigned moved(const struct usnet_stack_counters *a, const struct usnet_stack_counters *b,
		      const char **which)
{
	unsigned n = 0;

	for (unsigned i = 0; i < usnet_stack_counter_count(); i++) {
		const char *name = usnet_stack_counter_name(i);

		/* Totals that every frame or datagram moves. */
		if (!strcmp(name, "rx_frames") || !strcmp(name, "rx_bytes") ||
		    !strcmp(name, "ip_rx"))
			continue;
		if (usnet_stack_counter_value(a, i) != usnet_stack_counter_value(b, i)) {
			*which = name;
			n++;
		}
	}
	return n;
}

/* Inject f and check that `counter` and no other drop counter moved. */
static void expect_drop(struct harness *h, const uint8_t *f, size_t n, bool raw,
			const char *counter, int line)
{
	struct usnet_stack_counters before = counters(h), after;
	const char *which = "none";
	unsigned k;

	if (raw)
		inject_raw(h, f, n);
	else
		inject(h, f, n);
	after = counters(h);
	k = moved(&before, &after, &which);
	if (k != 1 || strcmp(which, counter))
		fprintf(stderr, "line %d: expected only %s to move, %u moved (last %s)\n", line,
			counter, k, which);
	CHECK(k == 1 && !strcmp(which, counter));
	CHECK_EQ(peer_drain(h), 0);
}

#define DROP(f, n, name)     expect_drop(&h, f, n, false, name, __LINE__)
#define DROP_RAW(f, n, name) expect_drop(&h, f, n, true, name, __LINE__)

static size_t good(uint8_t *f, uint16_t dport)
{
	uint8_t u[64];
	size_t n = make_udp(u, IP_PEER, IP_US, 1111, dport, "data", 4);

	return make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 7, 0, NULL, 0, u, n);
}

static void fix_csum(uint8_t *f)
{
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(f + 14);

	ip->csum = 0;
	ip->csum = usnet_ipv4_csum(ip);
}

static void test_eth(struct harness *h_)
{
	struct harness h = *h_;
	uint8_t f[128];
	size_t n = good(f, 5000);

	DROP_RAW(f, 13, "eth_short");
	f[6] |= 1;
	DROP(f, n, "eth_bad_src");
	memcpy(f + 6, MAC_US, 6);
	DROP(f, n, "eth_own_src");
	memcpy(f + 6, MAC_PEER, 6);
	f[5] = 0x99;
	DROP(f, n, "eth_not_ours");
	f[0] = 0x01; /* multicast: no group joined */
	DROP(f, n, "eth_not_ours");
	memcpy(f, MAC_US, 6);
	f[12] = 0x86, f[13] = 0xdd; /* IPv6 */
	DROP(f, n, "eth_unknown_type");
}

static void test_ipv4(struct harness *h_)
{
	struct harness h = *h_;
	struct usnet_ipv4_hdr *ip;
	uint8_t f[256];
	size_t n;

	n = good(f, 5000);
	DROP_RAW(f, 14 + 19, "ip_short");
	n = good(f, 5000);
	f[14] = 0x65, fix_csum(f);
	DROP(f, n, "ip_bad_version");
	n = good(f, 5000);
	f[14] = 0x44, fix_csum(f);
	DROP(f, n, "ip_bad_ihl");
	n = good(f, 5000);
	ip = (struct usnet_ipv4_hdr *)(f + 14);
	ip->total_len = htons(19), fix_csum(f);
	DROP(f, n, "ip_bad_len"); /* below the header */
	n = good(f, 5000);
	ip->total_len = htons((uint16_t)(n - 14 + 1)), fix_csum(f);
	DROP_RAW(f, n, "ip_bad_len"); /* one byte beyond the frame */
	n = good(f, 5000);
	f[14 + 10] ^= 0x40;
	DROP(f, n, "ip_bad_csum");
	n = good(f, 5000);
	ip->ttl = 0, fix_csum(f);
	DROP(f, n, "ip_bad_ttl");
	/* Sources that are not one host. */
	{
		const uint32_t bad[] = {0xffffffffu, 0xc61200ffu, 0xe0000001u,
					0x7f000001u, 0,		  0xf0000001u};

		for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			n = good(f, 5000);
			ip->src = htonl(bad[i]), fix_csum(f);
			DROP(f, n, "ip_bad_src");
		}
	}
	/* Not ours: another unicast address, and a link broadcast that carries a unicast IP. */
	n = good(f, 5000);
	ip->dst = htonl(IP_US + 1), fix_csum(f);
	DROP(f, n, "ip_not_ours");
	n = good(f, 5000);
	memcpy(f, MAC_BCAST, 6);
	DROP(f, n, "ip_not_ours");
}

static void test_options(struct harness *h_)
{
	struct harness h = *h_;
	struct usnet_udp *s;
	uint8_t f[256], u[64], opt[8];
	char buf[16];
	size_t n, ul = make_udp(u, IP_PEER, IP_US, 1111, 6000, "opts", 4);

	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_bind(s, 0, 6000), 0);
	/* NOPs, a well-formed unknown option (type 0x1e, length 4), EOL. */
	memcpy(opt, (const uint8_t[8]){1, 1, 0x1e, 4, 0xaa, 0xbb, 0, 0}, 8);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), 4);
	CHECK(!memcmp(buf, "opts", 4));
	/* An option whose length runs past the header, and a length of 1. */
	memcpy(opt, (const uint8_t[8]){1, 1, 0x1e, 9, 0, 0, 0, 0}, 8);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	DROP(f, n, "ip_bad_options");
	memcpy(opt, (const uint8_t[8]){0x1e, 1, 0, 0, 0, 0, 0, 0}, 8);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	DROP(f, n, "ip_bad_options");
	/* Loose source route: finished (pointer 8 > length 7) is for us;
	 * with a hop left (pointer 4) it is not; pointer 3 is malformed. */
	memcpy(opt, (const uint8_t[8]){131, 7, 8, 198, 18, 0, 9, 0}, 8);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	inject(&h, f, n);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), 4);
	opt[2] = 4;
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	DROP(f, n, "ip_not_ours");
	opt[0] = 137; /* strict */
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	DROP(f, n, "ip_not_ours");
	opt[2] = 3;
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 8, u, ul);
	DROP(f, n, "ip_bad_options");
	/* A length byte missing at the end of the header. */
	memcpy(opt, (const uint8_t[4]){1, 1, 1, 0x83}, 4);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 1, 0, opt, 4, u, ul);
	DROP(f, n, "ip_bad_options");
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), -EAGAIN);
	usnet_udp_close(s);
}

static void test_unknown_proto(struct harness *h_)
{
	struct harness h = *h_;
	uint8_t f[256], r[256];
	size_t n;

	answer_arp(&h, IP_PEER); /* so the unreachable goes out at once */
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, 132 /* SCTP */, 9, 0, NULL, 0, "tcp-ish!", 8);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).ip_unknown_proto, 1);
	/* RFC 1122 3.2.2.1: protocol unreachable, quoting the datagram. */
	n = peer_recv(&h, r, sizeof(r));
	CHECK(n >= 14 + 20 + 8 + 28);
	CHECK_EQ(r[14 + 9], USNET_IPPROTO_ICMP);
	CHECK_EQ(r[34], 3);
	CHECK_EQ(r[35], 2);
	CHECK(!memcmp(r + 42 + 20, "tcp-ish!", 8));
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, r + 34, n - 34 < 36 ? n - 34 : 36)), 0);
	CHECK_EQ(get32(r + 42 + 12), IP_PEER); /* the quoted header's source */
}

/* Two interfaces: routing picks the on-link one, else the gateway's;
 * datagrams for either address are accepted on either (weak host). */
static void test_two_ifaces(void)
{
	static const uint8_t mac2[6] = {0x02, 0, 0, 0, 1, 1};
	struct usnet_iface_conf ic = {0};
	struct usnet_addr4 to = {0xc6130102u, 9};
	struct usnet_port *p2, *peer2;
	struct usnet_udp *s;
	struct harness h;
	uint8_t f[256];
	char buf[16];
	size_t n;

	CHECK_EQ(harness_open(&h, "ipv4_if1", NULL), 0);
	CHECK_EQ(usnet_port_open(&p2, "pair:ipv4_if2", NULL), 0);
	CHECK_EQ(usnet_port_open(&peer2, "pair:ipv4_if2", NULL), 0);
	ic.port = p2;
	ic.addr = 0xc6130101u; /* 198.19.1.1/24 */
	ic.prefix_len = 24;
	memcpy(ic.mac, mac2, 6);
	ic.no_garp = true;
	CHECK_EQ(usnet_stack_add_iface(h.st, &ic), 1);
	CHECK_EQ(usnet_stack_add_iface(h.st, &ic), -EEXIST);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_bind(s, 0, 9), 0);

	/* On-link on the second interface: its ARP request leaves there. */
	CHECK_EQ(usnet_udp_sendto(s, "x", 1, &to), 1);
	{
		struct usnet_pkt *p;

		CHECK_EQ(usnet_rx_burst(peer2, 0, &p, 1), 1);
		CHECK_EQ(get16(usnet_pkt_data(p) + 12), 0x0806);
		CHECK(!memcmp(usnet_pkt_data(p) + 6, mac2, 6));
		CHECK_EQ(get32(usnet_pkt_data(p) + 28), 0xc6130101u);
		usnet_pkt_free(p);
	}
	CHECK_EQ(peer_drain(&h), 0);
	/* Off-link: the first interface's gateway. */
	to.ip = 0x08080808u;
	CHECK_EQ(usnet_udp_sendto(s, "y", 1, &to), 1);
	n = peer_recv(&h, f, sizeof(f));
	CHECK(n > 0 && get32(f + 38) == IP_GW);
	/* Weak host: the second interface's address, received on the first. */
	{
		uint8_t u[64];
		size_t ul = make_udp(u, IP_PEER, 0xc6130101u, 7, 9, "weak", 4);

		n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, 0xc6130101u, USNET_IPPROTO_UDP, 1, 0,
			    NULL, 0, u, ul);
		inject(&h, f, n);
		CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), 4);
	}
	usnet_udp_close(s);
	harness_close(&h);
	{
		struct usnet_pkt *p[8];
		uint16_t k;

		while ((k = usnet_rx_burst(peer2, 0, p, 8)))
			usnet_pkt_free_bulk(p, k);
	}
	usnet_port_close(peer2);
	usnet_port_close(p2);
}

int main(void)
{
	struct harness h;

	test_two_ifaces();

	CHECK_EQ(harness_open(&h, "ipv4", NULL), 0);
	test_eth(&h);
	test_ipv4(&h);
	test_options(&h);
	test_unknown_proto(&h);
	harness_close(&h);
	return check_done("test_stack_ipv4");
}
