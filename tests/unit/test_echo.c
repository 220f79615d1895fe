/* SPDX-License-Identifier: MIT */
/*
 * usnet-echo's frame handling (tools/echo_proto.c): the replies it makes,
 * byte by byte, with checksums verified by an independent computation; and
 * malformed frames, truncated at every length and mutated at random, each
 * handed over in a heap buffer of exactly its length so that AddressSanitizer
 * catches any read past it. A frame that is not answered must come back
 * unchanged.
 */
#include <stdlib.h>
#include <string.h>

#include <usnet/proto.h>

#include "check.h"
#include "echo_proto.h"
#include "../../src/proto/be.h"

static const uint8_t our_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
#define OUR_IP	0xc6120902u /* 198.18.9.2 */
#define PEER_IP 0xc6120901u /* 198.18.9.1 */

static struct echo_conf conf(bool udp)
{
	struct echo_conf c = {.ip = OUR_IP, .udp = udp};

	memcpy(c.mac, our_mac, 6);
	return c;
}

/* RFC 1071 the slow way: 16-bit one's-complement additions with an
 * end-around carry after each. Returns the sum, not complemented. */
static uint16_t naive_sum(const uint8_t *p, size_t len, uint32_t s)
{
	for (size_t i = 0; i < len; i += 2) {
		s += (uint32_t)(p[i] << 8 | (i + 1 < len ? p[i + 1] : 0));
		if (s > 0xffff)
			s = (s & 0xffff) + 1;
	}
	return (uint16_t)s;
}

static size_t eth(uint8_t *f, const uint8_t dst[6], const uint8_t src[6], uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
	return 14;
}

/* An ARP request from the peer for `target`, padded to 60 bytes like on a wire. */
static size_t arp_request(uint8_t *f, uint32_t target)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	memset(f, 0, 60);
	eth(f, bcast, peer_mac, 0x0806);
	put16(f + 14, 1);      /* htype Ethernet */
	put16(f + 16, 0x0800); /* ptype IPv4 */
	f[18] = 6;
	f[19] = 4;
	put16(f + 20, 1); /* request */
	memcpy(f + 22, peer_mac, 6);
	put32(f + 28, PEER_IP);
	put32(f + 38, target); /* tha (32..37) stays 0 */
	return 60;
}

/* IPv4 header (20 bytes, valid checksum) at f + 14 for a payload of plen bytes. */
static void ipv4(uint8_t *f, uint8_t proto, size_t plen, uint32_t src, uint32_t dst)
{
	uint8_t *ip = f + 14;

	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(20 + plen));
	put16(ip + 4, 0x1234); /* id */
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 17;	       /* TTL, so that the reply's 64 shows */
	ip[9] = proto;
	put16(ip + 10, 0);
	put32(ip + 12, src);
	put32(ip + 16, dst);
	put16(ip + 10, (uint16_t)~naive_sum(ip, 20, 0));
}

/* An ICMP echo request with dlen bytes of data, from the peer to `dst`. */
static size_t icmp_request(uint8_t *f, size_t dlen, uint32_t dst)
{
	uint8_t *icmp = f + 34;

	eth(f, our_mac, peer_mac, 0x0800);
	ipv4(f, 1, 8 + dlen, PEER_IP, dst);
	icmp[0] = 8;
	icmp[1] = 0;
	put16(icmp + 2, 0);
	put16(icmp + 4, 0xbeef); /* identifier */
	put16(icmp + 6, 7);	 /* sequence number */
	for (size_t i = 0; i < dlen; i++)
		icmp[8 + i] = (uint8_t)(i * 7 + 3);
	put16(icmp + 2, (uint16_t)~naive_sum(icmp, 8 + dlen, 0));
	return 34 + 8 + dlen;
}

static uint16_t udp_sum(const uint8_t *f, size_t ulen)
{
	uint32_t s = naive_sum(f + 26, 8, 0); /* source and destination address */

	s = naive_sum((const uint8_t[]){0, 17}, 2, s);
	s = naive_sum((const uint8_t[]){(uint8_t)(ulen >> 8), (uint8_t)ulen}, 2, s);
	return naive_sum(f + 34, ulen, s);
}

/* A UDP datagram with dlen bytes of data from the peer's sport to our dport. */
static size_t udp_datagram(uint8_t *f, size_t dlen, uint16_t sport, uint16_t dport, bool csum)
{
	uint8_t *u = f + 34;
	uint16_t c;

	eth(f, our_mac, peer_mac, 0x0800);
	ipv4(f, 17, 8 + dlen, PEER_IP, OUR_IP);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + dlen));
	put16(u + 6, 0);
	for (size_t i = 0; i < dlen; i++)
		u[8 + i] = (uint8_t)(0xa5 ^ i);
	if (csum) {
		c = (uint16_t)~udp_sum(f, 8 + dlen);
		put16(u + 6, c ? c : 0xffff);
	}
	return 34 + 8 + dlen;
}

/*
 * echo_frame() on a heap copy of exactly len bytes. Returns the verdict;
 * the (possibly rewritten) frame is copied back into f. For a verdict that
 * is not a reply, also checks that the frame was left unchanged.
 */
static enum echo_verdict run(const struct echo_conf *c, uint8_t *f, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	enum echo_verdict v;

	if (!copy)
		abort();
	memcpy(copy, f, len);
	v = echo_frame(c, copy, len);
	if (v == ECHO_IGNORED || v == ECHO_MALFORMED)
		CHECK(!memcmp(copy, f, len));
	memcpy(f, copy, len);
	free(copy);
	return v;
}

static bool ip_header_ok(const uint8_t *f)
{
	return naive_sum(f + 14, 20, 0) == 0xffff;
}

static void test_arp(void)
{
	struct echo_conf c = conf(false);
	uint8_t f[64], req[64];
	size_t len = arp_request(f, OUR_IP);

	memcpy(req, f, len);
	CHECK_EQ(run(&c, f, len), ECHO_ARP);
	CHECK(!memcmp(f, peer_mac, 6));	   /* Ethernet destination: the requester */
	CHECK(!memcmp(f + 6, our_mac, 6)); /* source: us */
	CHECK_EQ(get16(f + 12), 0x0806);
	CHECK(!memcmp(f + 14, req + 14, 6));  /* htype, ptype, hlen, plen unchanged */
	CHECK_EQ(get16(f + 20), 2);	      /* reply */
	CHECK(!memcmp(f + 22, our_mac, 6));   /* sha */
	CHECK_EQ(get32(f + 28), OUR_IP);      /* spa */
	CHECK(!memcmp(f + 32, peer_mac, 6));  /* tha */
	CHECK_EQ(get32(f + 38), PEER_IP);     /* tpa */
	CHECK(!memcmp(f + 42, req + 42, 18)); /* padding kept */

	/* Unicast to us (RFC 1122 2.3.2.1) is answered too; the reply goes to sha. */
	arp_request(f, OUR_IP);
	memcpy(f, our_mac, 6);
	CHECK_EQ(run(&c, f, 42), ECHO_ARP);
	CHECK(!memcmp(f, peer_mac, 6));

	/* Not for us, or nothing to answer: ignored. */
	arp_request(f, OUR_IP + 1);
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	put16(f + 20, 2); /* a reply, e.g. gratuitous */
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	put16(f + 14, 6); /* IEEE 802 hardware */
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	put16(f + 16, 0x86dd);
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	f[5] = 0x03; /* unicast to someone else */
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	f[22] = 0x01; /* sha is a group address */
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	memcpy(f + 22, our_mac, 6); /* our own request, looped back */
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);
	arp_request(f, OUR_IP);
	f[6] = 0x01; /* Ethernet source is a group address */
	CHECK_EQ(run(&c, f, 60), ECHO_IGNORED);

	/* Inconsistent lengths: malformed. */
	arp_request(f, OUR_IP);
	f[18] = 8;
	CHECK_EQ(run(&c, f, 60), ECHO_MALFORMED);
	arp_request(f, OUR_IP);
	f[19] = 16;
	CHECK_EQ(run(&c, f, 60), ECHO_MALFORMED);
	/* Truncated anywhere before the end of the ARP packet. */
	for (size_t l = 0; l < 42; l++) {
		arp_request(f, OUR_IP);
		CHECK_EQ(run(&c, f, l), ECHO_MALFORMED);
	}
	arp_request(f, OUR_IP);
	CHECK_EQ(run(&c, f, 42), ECHO_ARP);
}

static void check_icmp_reply(const uint8_t *f, const uint8_t *req, size_t len, size_t icmp_len)
{
	CHECK(!memcmp(f, peer_mac, 6));
	CHECK(!memcmp(f + 6, our_mac, 6));
	CHECK(ip_header_ok(f));
	CHECK_EQ(get32(f + 26), OUR_IP);     /* source */
	CHECK_EQ(get32(f + 30), PEER_IP);    /* destination */
	CHECK_EQ(f[22], 64);		     /* TTL */
	CHECK(!memcmp(f + 14, req + 14, 8)); /* version .. fragment field unchanged */
	CHECK_EQ(f[23], 1);
	CHECK_EQ(f[34], 0); /* echo reply */
	CHECK_EQ(f[35], 0);
	CHECK_EQ(naive_sum(f + 34, icmp_len, 0), 0xffff);
	/* Identifier, sequence number, data, and anything after the datagram. */
	CHECK(!memcmp(f + 38, req + 38, len - 38));
}

static void test_icmp(void)
{
	struct echo_conf c = conf(false);
	uint8_t f[1600], req[1600];
	size_t len;

	/* Data lengths: none, odd, ping's default 56, a full 1500-byte datagram. */
	static const size_t dlens[] = {0, 1, 17, 56, 1472};
	for (size_t i = 0; i < sizeof(dlens) / sizeof(dlens[0]); i++) {
		len = icmp_request(f, dlens[i], OUR_IP);
		memcpy(req, f, len);
		CHECK_EQ(run(&c, f, len), ECHO_ICMP);
		check_icmp_reply(f, req, len, 8 + dlens[i]);
	}
	/* Ethernet padding after the datagram is kept and not summed. */
	len = icmp_request(f, 0, OUR_IP);
	memset(f + len, 0xee, 60 - len);
	memcpy(req, f, 60);
	CHECK_EQ(run(&c, f, 60), ECHO_ICMP);
	check_icmp_reply(f, req, 60, 8);
	CHECK_EQ(f[59], 0xee);

	/* Not for us / not answered: ignored. */
	len = icmp_request(f, 8, OUR_IP + 1);
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	len = icmp_request(f, 8, OUR_IP);
	f[0] = 0x04; /* another host's MAC */
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	len = icmp_request(f, 8, OUR_IP);
	memset(f, 0xff, 6); /* broadcast: only ARP is accepted that way */
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	len = icmp_request(f, 8, OUR_IP);
	put16(f + 12, 0x86dd);
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	len = icmp_request(f, 8, OUR_IP);
	put16(f + 12, 0x8100); /* VLAN tag */
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	/* An echo reply, a destination unreachable: valid, not answered. */
	for (int type = 0; type < 20; type++) {
		if (type == 8)
			continue;
		len = icmp_request(f, 8, OUR_IP);
		f[34] = (uint8_t)type;
		put16(f + 36, 0);
		put16(f + 36, (uint16_t)~naive_sum(f + 34, 16, 0));
		CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	}
	/* Sources that are not a single host (RFC 1122 3.2.1.3). */
	static const uint32_t bad_src[] = {0, 0x7f000001, 0xe0000001, 0xf0000001, 0xffffffff};
	for (size_t i = 0; i < sizeof(bad_src) / sizeof(bad_src[0]); i++) {
		len = icmp_request(f, 8, OUR_IP);
		ipv4(f, 1, 16, bad_src[i], OUR_IP);
		CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	}
	/* A fragment: MF set, or a non-zero offset. */
	len = icmp_request(f, 8, OUR_IP);
	put16(f + 20, 0x2000);
	put16(f + 24, 0);
	put16(f + 24, (uint16_t)~naive_sum(f + 14, 20, 0));
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	len = icmp_request(f, 8, OUR_IP);
	put16(f + 20, 0x0001);
	put16(f + 24, 0);
	put16(f + 24, (uint16_t)~naive_sum(f + 14, 20, 0));
	CHECK_EQ(run(&c, f, len), ECHO_IGNORED);
	/* IP options (a 24-byte header, NOP NOP NOP EOL), consistent: ignored. */
	{
		uint8_t g[80] = {0};
		uint8_t *ip = g + 14;

		eth(g, our_mac, peer_mac, 0x0800);
		ip[0] = 0x46;
		put16(ip + 2, 24 + 8);
		ip[8] = 64;
		ip[9] = 1;
		put32(ip + 12, PEER_IP);
		put32(ip + 16, OUR_IP);
		ip[20] = ip[21] = ip[22] = 1;
		put16(ip + 10, (uint16_t)~naive_sum(ip, 24, 0));
		ip[24] = 8;
		put16(ip + 26, (uint16_t)~naive_sum(ip + 24, 8, 0));
		CHECK_EQ(run(&c, g, 14 + 32), ECHO_IGNORED);
		/* The same without the options is answered: the test frame is right. */
		ip[0] = 0x45;
		memmove(ip + 20, ip + 24, 8);
		put16(ip + 2, 28);
		put16(ip + 10, 0);
		put16(ip + 10, (uint16_t)~naive_sum(ip, 20, 0));
		CHECK_EQ(run(&c, g, 14 + 28), ECHO_ICMP);
	}

	/* Malformed: bad checksums, inconsistent lengths, wrong version. */
	len = icmp_request(f, 8, OUR_IP);
	f[24] ^= 1; /* IPv4 header checksum */
	CHECK_EQ(run(&c, f, len), ECHO_MALFORMED);
	len = icmp_request(f, 8, OUR_IP);
	f[40] ^= 0x80; /* the sequence number: the ICMP checksum no longer matches */
	CHECK_EQ(run(&c, f, len), ECHO_MALFORMED);
	len = icmp_request(f, 8, OUR_IP);
	f[len - 1] ^= 1; /* last data byte */
	CHECK_EQ(run(&c, f, len), ECHO_MALFORMED);
	struct {
		uint8_t ver_ihl;
		uint16_t total;
	} bad_len[] = {
	    {0x45, 8 + 20 + 16}, /* total length past the frame */
	    {0x45, 19},		 /* shorter than the header */
	    {0x45, 20 + 4},	 /* ICMP message shorter than its header */
	    {0x44, 20 + 16},	 /* header length 16 */
	    {0x40, 20 + 16},	 /* header length 0 */
	    {0x4f, 20 + 16},	 /* 60-byte header, longer than the datagram */
	    {0x65, 20 + 16},	 /* version 6 */
	    {0x05, 20 + 16},	 /* version 0 */
	};
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		len = icmp_request(f, 8, OUR_IP);
		f[14] = bad_len[i].ver_ihl;
		put16(f + 16, bad_len[i].total);
		put16(f + 24, 0);
		/* A valid checksum over what the header claims, where it fits. */
		if ((size_t)(f[14] & 0xf) * 4 <= len - 14 && (f[14] & 0xf) >= 5)
			put16(f + 24, (uint16_t)~naive_sum(f + 14, (size_t)(f[14] & 0xf) * 4, 0));
		CHECK_EQ(run(&c, f, len), ECHO_MALFORMED);
	}
	/* Truncated at every length: never a reply, never a read past the end. */
	for (size_t l = 0; l < 34 + 8 + 56; l++) {
		enum echo_verdict v;

		icmp_request(f, 56, OUR_IP);
		v = run(&c, f, l);
		CHECK(v == ECHO_MALFORMED);
	}
}

static void test_udp(void)
{
	struct echo_conf off = conf(false), on = conf(true);
	uint8_t f[1600], req[1600];
	size_t len;

	len = udp_datagram(f, 32, 40000, 7, true);
	CHECK_EQ(run(&off, f, len), ECHO_IGNORED); /* UDP echo is off by default */
	static const size_t dlens[] = {0, 1, 32, 1472};
	for (size_t i = 0; i < sizeof(dlens) / sizeof(dlens[0]); i++) {
		for (int csum = 0; csum < 2; csum++) {
			len = udp_datagram(f, dlens[i], 40000, 7, csum);
			memcpy(req, f, len);
			CHECK_EQ(run(&on, f, len), ECHO_UDP);
			CHECK(!memcmp(f, peer_mac, 6));
			CHECK(!memcmp(f + 6, our_mac, 6));
			CHECK(ip_header_ok(f));
			CHECK_EQ(get32(f + 26), OUR_IP);
			CHECK_EQ(get32(f + 30), PEER_IP);
			CHECK_EQ(f[22], 64);
			CHECK_EQ(get16(f + 34), 7);
			CHECK_EQ(get16(f + 36), 40000);
			CHECK_EQ(get16(f + 38), 8 + dlens[i]);
			/* The reply always has a checksum, and it verifies. */
			CHECK(get16(f + 40) != 0);
			CHECK_EQ(udp_sum(f, 8 + dlens[i]), 0xffff);
			CHECK(!memcmp(f + 42, req + 42, dlens[i]));
		}
	}
	/* Other ports; from port 0 or 7 (another echo server): ignored. */
	len = udp_datagram(f, 8, 40000, 9, true);
	CHECK_EQ(run(&on, f, len), ECHO_IGNORED);
	len = udp_datagram(f, 8, 7, 7, true);
	CHECK_EQ(run(&on, f, len), ECHO_IGNORED);
	len = udp_datagram(f, 8, 0, 7, true);
	CHECK_EQ(run(&on, f, len), ECHO_IGNORED);
	/* A UDP length shorter than the IPv4 payload (the rest is padding): answered. */
	len = udp_datagram(f, 8, 40000, 7, false);
	put16(f + 38, 12);
	CHECK_EQ(run(&on, f, len), ECHO_UDP);
	CHECK_EQ(get16(f + 38), 12);
	CHECK_EQ(udp_sum(f, 12), 0xffff);
	/* Malformed: bad checksum, lengths. */
	len = udp_datagram(f, 8, 40000, 7, true);
	f[len - 1] ^= 0x10;
	CHECK_EQ(run(&on, f, len), ECHO_MALFORMED);
	CHECK_EQ(run(&off, f, len), ECHO_MALFORMED); /* checked whether answered or not */
	len = udp_datagram(f, 8, 40000, 7, false);
	put16(f + 38, 17); /* longer than the IPv4 payload */
	CHECK_EQ(run(&on, f, len), ECHO_MALFORMED);
	len = udp_datagram(f, 8, 40000, 7, false);
	put16(f + 38, 7); /* shorter than its header */
	CHECK_EQ(run(&on, f, len), ECHO_MALFORMED);
	for (size_t l = 0; l < 34 + 8 + 20; l++) {
		udp_datagram(f, 20, 40000, 7, true);
		CHECK_EQ(run(&on, f, l), ECHO_MALFORMED);
	}
	/* Another IP protocol (TCP) to us: ignored. */
	len = udp_datagram(f, 8, 40000, 7, false);
	ipv4(f, 6, 16, PEER_IP, OUR_IP);
	CHECK_EQ(run(&on, f, len), ECHO_IGNORED);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 16);
}

/*
 * Random frames and random mutations of valid ones at random lengths. A
 * reply must be a valid reply (the checks of the tests above, in short);
 * anything else must leave the frame alone (run() checks that), and no
 * byte past the end may be touched (AddressSanitizer).
 */
static void test_fuzz(void)
{
	struct echo_conf c = conf(true);
	unsigned counts[ECHO_NVERDICTS] = {0}, bad = 0;
	uint8_t f[1600];

	for (unsigned i = 0; i < 200000; i++) {
		size_t len;
		enum echo_verdict v;

		switch (rnd() % 4) {
		case 0:
			len = arp_request(f, rnd() % 4 ? OUR_IP : rnd());
			break;
		case 1:
			len = icmp_request(f, rnd() % 100, OUR_IP);
			break;
		case 2:
			len = udp_datagram(f, rnd() % 100, (uint16_t)rnd(), 7, rnd() % 2);
			break;
		default:
			len = rnd() % 200;
			for (size_t k = 0; k < len; k++)
				f[k] = (uint8_t)rnd();
			if (len >= 14 && rnd() % 2) {
				memcpy(f, our_mac, 6);
				put16(f + 12, rnd() % 2 ? 0x0800 : 0x0806);
			}
			break;
		}
		/* A few flipped bytes, then a length anywhere up to a bit past the frame. */
		for (unsigned k = rnd() % 4; k > 0 && len; k--)
			f[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
		if (rnd() % 2)
			len = rnd() % (len + 8);
		v = run(&c, f, len);
		counts[v]++;
		if ((v == ECHO_ICMP || v == ECHO_UDP) &&
		    (!ip_header_ok(f) || memcmp(f + 6, our_mac, 6) || get32(f + 26) != OUR_IP))
			bad++;
		if (v == ECHO_ICMP && naive_sum(f + 34, get16(f + 16) - 20u, 0) != 0xffff)
			bad++;
		if (v == ECHO_ARP && (get16(f + 20) != 2 || get32(f + 28) != OUR_IP))
			bad++;
	}
	CHECK_EQ(bad, 0);
	/* The mix reaches every verdict. */
	for (int k = 0; k < ECHO_NVERDICTS; k++)
		CHECK(counts[k] > 100);
}

static void test_unicast(void)
{
	CHECK(echo_ip_unicast(0xc6120001));
	CHECK(echo_ip_unicast(0x01000000));
	CHECK(echo_ip_unicast(0xdfffffff));
	CHECK(!echo_ip_unicast(0));
	CHECK(!echo_ip_unicast(0x00ffffff));
	CHECK(!echo_ip_unicast(0x7f000001));
	CHECK(!echo_ip_unicast(0xe0000001));
	CHECK(!echo_ip_unicast(0xf0000000));
	CHECK(!echo_ip_unicast(0xffffffff));
}

int main(void)
{
	test_arp();
	test_icmp();
	test_udp();
	test_fuzz();
	test_unicast();
	return check_done("test_echo");
}
