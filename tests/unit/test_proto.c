/* SPDX-License-Identifier: MIT */
/* Checksums against known vectors and an independent, deliberately naive
 * computation; the UDP builder and parser, including malformed frames. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <usnet/proto.h>

#include "check.h"

/* RFC 1071 computed the slow way: 16-bit one's-complement additions with an
 * end-around carry after every word. Shares no code with proto.c. */
static uint16_t naive_csum(const uint8_t *const *parts, const size_t *lens, int nparts)
{
	uint32_t s = 0;
	uint8_t odd = 0;
	int have_odd = 0;

	for (int k = 0; k < nparts; k++) {
		for (size_t i = 0; i < lens[k]; i++) {
			if (!have_odd) {
				odd = parts[k][i];
				have_odd = 1;
				continue;
			}
			s += (uint32_t)(odd << 8 | parts[k][i]);
			if (s > 0xffff)
				s = (s & 0xffff) + 1;
			have_odd = 0;
		}
	}
	if (have_odd) {
		s += (uint32_t)odd << 8;
		if (s > 0xffff)
			s = (s & 0xffff) + 1;
	}
	return (uint16_t)~s;
}

static void test_known_vector(void)
{
	/* A commonly cited IPv4 header with checksum 0xb861. */
	static const uint8_t hdr[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
					0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	struct usnet_ipv4_hdr ip;

	memcpy(&ip, hdr, sizeof(ip));
	CHECK_EQ(ntohs(usnet_ipv4_csum(&ip)), 0xb861);
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, hdr, 20)), 0); /* verifies as valid */
}

static void test_udp_frames(void)
{
	struct usnet_udp4_flow flow = {
	    .src_mac = {0x02, 0, 0, 0, 0, 1},
	    .dst_mac = {0x02, 0, 0, 0, 0, 2},
	    .src_ip = 0xc6120001, /* 198.18.0.1 */
	    .dst_ip = 0xc6120002,
	    .sport = 1024,
	    .dport = 9,
	};
	uint8_t frame[1600];
	uint8_t payload[1500];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (uint16_t len = 60; len <= 1514; len = (uint16_t)(len + 37)) {
		struct usnet_udp4_view v;
		const uint8_t *ip = frame + 14, *udp = frame + 34;
		uint8_t pseudo[12];
		const uint8_t *parts[3];
		size_t lens[3];
		uint16_t udp_len = (uint16_t)(len - 34), stored;
		uint8_t zero_udp[8];

		flow.sport = (uint16_t)(1024 + len);
		CHECK_EQ(usnet_udp4_build(frame, sizeof(frame), &flow, len, payload, len % 200),
			 len);

		/* IPv4 header checksum, recomputed naively with the field zeroed. */
		uint8_t iph[20];
		memcpy(iph, ip, 20);
		iph[10] = iph[11] = 0;
		parts[0] = iph;
		lens[0] = 20;
		CHECK_EQ(naive_csum(parts, lens, 1), ip[10] << 8 | ip[11]);

		/* UDP checksum over pseudo-header, header with csum zeroed, payload. */
		memcpy(pseudo, ip + 12, 8);
		pseudo[8] = 0;
		pseudo[9] = 17;
		pseudo[10] = (uint8_t)(udp_len >> 8);
		pseudo[11] = (uint8_t)udp_len;
		memcpy(zero_udp, udp, 8);
		zero_udp[6] = zero_udp[7] = 0;
		parts[0] = pseudo;
		lens[0] = 12;
		parts[1] = zero_udp;
		lens[1] = 8;
		parts[2] = udp + 8;
		lens[2] = udp_len - 8u;
		stored = (uint16_t)(udp[6] << 8 | udp[7]);
		uint16_t expect = naive_csum(parts, lens, 3);
		CHECK_EQ(stored, expect ? expect : 0xffff);

		CHECK_EQ(usnet_udp4_parse(frame, len, &v), 0);
		CHECK(v.ip_csum_ok);
		CHECK(v.udp_csum_ok);
		CHECK_EQ(v.payload_len, len - 42);
		CHECK_EQ(ntohs(v.udp->sport), flow.sport);
		CHECK_EQ(memcmp(v.payload, payload, len % 200 < len - 42u ? len % 200 : len - 42u),
			 0);

		/* Any flipped bit in IP header or UDP part is detected. */
		frame[len - 1] ^= 0x10;
		CHECK_EQ(usnet_udp4_parse(frame, len, &v), 0);
		CHECK(!v.udp_csum_ok);
		frame[len - 1] ^= 0x10;
		frame[22] ^= 0x01; /* TTL */
		CHECK_EQ(usnet_udp4_parse(frame, len, &v), 0);
		CHECK(!v.ip_csum_ok);
	}
}

static void test_build_limits(void)
{
	struct usnet_udp4_flow flow = {0};
	uint8_t frame[1600];

	CHECK_EQ(usnet_udp4_build(frame, sizeof(frame), &flow, 59, NULL, 0), -EINVAL);
	CHECK_EQ(usnet_udp4_build(frame, sizeof(frame), &flow, 1515, NULL, 0), -EINVAL);
	CHECK_EQ(usnet_udp4_build(frame, 100, &flow, 101, NULL, 0), -EINVAL);
	CHECK_EQ(usnet_udp4_build(frame, sizeof(frame), &flow, 60, NULL, 0), 60);
}

static void test_parse_malformed(void)
{
	struct usnet_udp4_flow flow = {.src_ip = 1, .dst_ip = 2};
	struct usnet_udp4_view v;
	uint8_t f[128];

	CHECK_EQ(usnet_udp4_build(f, sizeof(f), &flow, 100, NULL, 0), 100);
	for (size_t len = 0; len < 34; len++) /* truncated anywhere in the headers */
		CHECK(usnet_udp4_parse(f, len, &v) < 0);
	CHECK_EQ(usnet_udp4_parse(f, 99, &v), -EBADMSG); /* IP total length > frame */
	f[12] = 0x86;					 /* EtherType IPv6 */
	CHECK_EQ(usnet_udp4_parse(f, 100, &v), -EPROTO);
	f[12] = 0x08;
	f[14] = 0x44; /* IHL 4 */
	CHECK_EQ(usnet_udp4_parse(f, 100, &v), -EBADMSG);
	f[14] = 0x4f; /* IHL 15 = 60 bytes > total length - UDP */
	CHECK(usnet_udp4_parse(f, 100, &v) < 0);
	f[14] = 0x45;
	f[23] = 6; /* TCP */
	CHECK_EQ(usnet_udp4_parse(f, 100, &v), -EPROTO);
	f[23] = 17;
	f[38] = 0xff; /* UDP length > IP payload */
	CHECK_EQ(usnet_udp4_parse(f, 100, &v), -EBADMSG);
	f[38] = 0;
	f[39] = 7; /* UDP length < 8 */
	CHECK_EQ(usnet_udp4_parse(f, 100, &v), -EBADMSG);
}

static void test_addr_parsers(void)
{
	uint8_t mac[6];
	uint32_t ip;

	CHECK_EQ(usnet_parse_mac("02:00:0a:0B:ff:01", mac), 0);
	CHECK_EQ(mac[3], 0x0b);
	CHECK_EQ(usnet_parse_mac("02:00:0a:0b:ff", mac), -EINVAL);
	CHECK_EQ(usnet_parse_mac("02:00:0a:0b:ff:01:02", mac), -EINVAL);
	CHECK_EQ(usnet_parse_mac("zz:00:0a:0b:ff:01", mac), -EINVAL);
	CHECK_EQ(usnet_parse_ipv4("198.18.0.1", &ip), 0);
	CHECK_EQ(ip, 0xc6120001);
	CHECK_EQ(usnet_parse_ipv4("198.18.0.256", &ip), -EINVAL);
	CHECK_EQ(usnet_parse_ipv4("198.18.0", &ip), -EINVAL);
}

/* usnet_csum_add() against the naive sum for every length 0..300 at every
 * alignment 0..7, in one call and split in two at an even offset with the
 * first sum carried into the second (how the stack chains pseudo-header,
 * header and payload). */
static void test_csum_lengths(void)
{
	static uint8_t buf[320];
	uint32_t x = 12345;

	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t off = 0; off < 8; off++) {
		for (size_t len = 0; len <= 300; len++) {
			const uint8_t *parts[1] = {buf + off};
			size_t lens[1] = {len}, half = (len / 2) & ~(size_t)1;
			uint16_t want = naive_csum(parts, lens, 1);
			uint32_t split = usnet_csum_add(usnet_csum_add(0, buf + off, half),
							buf + off + half, len - half);

			CHECK_EQ(ntohs(usnet_csum_fold(usnet_csum_add(0, buf + off, len))), want);
			CHECK_EQ(ntohs(usnet_csum_fold(split)), want);
		}
	}
}

/* usnet_csum_add() adds 64-bit words with their carries kept apart: the
 * most carries (every byte 0xff, and words just below a carry) and frame
 * and jumbo lengths at every alignment, against the 16-bit reference. */
static void test_csum_carries(void)
{
	static uint8_t buf[65536 + 8];
	static const size_t lens[] = {1448, 1468, 1500, 1514, 9000, 65535, 65536};
	static const uint8_t fill[] = {0xff, 0xfe, 0x80, 0x01};

	for (size_t f = 0; f < sizeof(fill); f++) {
		memset(buf, fill[f], sizeof(buf));
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
			for (size_t off = 0; off < 8; off += 3) {
				const uint8_t *parts[1] = {buf + off};
				size_t n[1] = {lens[k]};
				uint32_t sum = usnet_csum_add(0xffffffffu, buf + off, lens[k]);

				CHECK_EQ(
				    ntohs(usnet_csum_fold(usnet_csum_add(0, buf + off, lens[k]))),
				    naive_csum(parts, n, 1));
				/* A caller's running sum of 0xffffffff adds 0x1fffe: 0xffff
				 * once folded, the one's-complement zero. */
				CHECK_EQ(ntohs(usnet_csum_fold(sum)), naive_csum(parts, n, 1));
			}
		}
	}
}

/* A frame with a TCP or UDP segment whose checksum field holds only the
 * pseudo-header sum, as a local Linux sender hands it to a veth. */
static size_t partial_frame(uint8_t *f, bool v6, bool vlan, uint8_t proto, size_t plen)
{
	size_t l3 = 14 + (vlan ? 4 : 0), iphl = v6 ? 40 : 20, l4hl = proto == 6 ? 20 : 8;
	size_t l4len = l4hl + plen, n = l3 + iphl + l4len;
	uint8_t *ip = f + l3, *l4 = ip + iphl;

	memset(f, 0, n);
	f[12] = vlan ? 0x81 : (v6 ? 0x86 : 0x08);
	f[13] = vlan ? 0x00 : (v6 ? 0xdd : 0x00);
	if (vlan) {
		f[15] = 7; /* VID 7 */
		f[16] = v6 ? 0x86 : 0x08;
		f[17] = v6 ? 0xdd : 0x00;
	}
	if (v6) {
		ip[0] = 0x60;
		ip[4] = (uint8_t)(l4len >> 8);
		ip[5] = (uint8_t)l4len;
		ip[6] = proto;
		ip[7] = 64;
		for (int i = 0; i < 32; i++)
			ip[8 + i] = (uint8_t)(0x20 + i * 7);
	} else {
		ip[0] = 0x45;
		ip[2] = (uint8_t)((20 + l4len) >> 8);
		ip[3] = (uint8_t)(20 + l4len);
		ip[6] = 0x40; /* DF */
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, (const uint8_t[]){198, 18, 0, 1, 198, 18, 0, 2}, 8);
	}
	l4[0] = 0x9c;
	l4[1] = 0x41;
	l4[2] = 0x00;
	l4[3] = 0x50;
	if (proto == 6)
		l4[12] = 0x50;
	else {
		l4[4] = (uint8_t)(l4len >> 8);
		l4[5] = (uint8_t)l4len;
	}
	for (size_t i = 0; i < plen; i++)
		l4[l4hl + i] = (uint8_t)(i * 13 + 1);
	/* What the kernel leaves: some value the receiver must not trust */
	l4[proto == 6 ? 16 : 6] = 0x12;
	l4[proto == 6 ? 17 : 7] = 0x34;
	return n;
}

/* The checksum the naive sum gives for the segment of frame f. */
static uint16_t naive_l4(const uint8_t *f, bool v6, bool vlan, uint8_t proto)
{
	size_t l3 = 14 + (vlan ? 4 : 0), iphl = v6 ? 40 : 20;
	const uint8_t *ip = f + l3, *l4 = ip + iphl;
	size_t l4len = v6 ? (size_t)(ip[4] << 8 | ip[5]) : (size_t)(ip[2] << 8 | ip[3]) - 20;
	uint8_t pseudo[40] = {0}, seg[2048];
	size_t plen;

	if (v6) {
		memcpy(pseudo, ip + 8, 32);
		pseudo[34] = (uint8_t)(l4len >> 8);
		pseudo[35] = (uint8_t)l4len;
		pseudo[39] = proto;
		plen = 40;
	} else {
		memcpy(pseudo, ip + 12, 8);
		pseudo[9] = proto;
		pseudo[10] = (uint8_t)(l4len >> 8);
		pseudo[11] = (uint8_t)l4len;
		plen = 12;
	}
	memcpy(seg, l4, l4len);
	seg[proto == 6 ? 16 : 6] = 0;
	seg[proto == 6 ? 17 : 7] = 0;
	{
		const uint8_t *parts[2] = {pseudo, seg};
		size_t lens[2] = {plen, l4len};
		uint16_t c = naive_csum(parts, lens, 2);

		return proto == 17 && c == 0 ? 0xffff : c;
	}
}

static void test_csum_finish(void)
{
	uint8_t f[2048];

	for (int v6 = 0; v6 < 2; v6++)
		for (int vlan = 0; vlan < 2; vlan++)
			for (int k = 0; k < 2; k++) {
				uint8_t proto = k ? 17 : 6;
				size_t n = partial_frame(f, v6, vlan, proto, 101);
				size_t at = 14 + (vlan ? 4 : 0) + (v6 ? 40 : 20) + (k ? 6 : 16);
				uint16_t want = naive_l4(f, v6, vlan, proto);

				CHECK_EQ(usnet_frame_csum_finish(f, n), 0);
				CHECK_EQ(f[at] << 8 | f[at + 1], want);
				/* The finished segment verifies as a receiver checks it. */
				CHECK_EQ(naive_l4(f, v6, vlan, proto), want);
			}
	/* Not a frame it can finish: left alone. */
	{
		size_t n = partial_frame(f, false, false, 6, 10);
		uint8_t copy[2048];

		f[20] = 0x20; /* MF: a fragment */
		memcpy(copy, f, n);
		CHECK_EQ(usnet_frame_csum_finish(f, n), -EPROTO);
		CHECK(memcmp(copy, f, n) == 0);
		f[20] = 0x40;
		f[23] = 1; /* ICMP */
		CHECK_EQ(usnet_frame_csum_finish(f, n), -EPROTO);
		f[23] = 6;
		CHECK_EQ(usnet_frame_csum_finish(f, n - 1), -EBADMSG); /* total beyond the frame */
		f[14] = 0x44;					       /* IHL 4 */
		CHECK_EQ(usnet_frame_csum_finish(f, n), -EBADMSG);
		CHECK_EQ(usnet_frame_csum_finish(f, 13), -EBADMSG);
		n = partial_frame(f, true, false, 17, 0);
		CHECK_EQ(usnet_frame_csum_finish(f, n - 1), -EBADMSG);
		f[12] = 0x88; /* neither IPv4 nor IPv6 */
		CHECK_EQ(usnet_frame_csum_finish(f, n), -EPROTO);
	}
}

int main(void)
{
	test_csum_lengths();
	test_csum_carries();
	test_known_vector();
	test_udp_frames();
	test_build_limits();
	test_parse_malformed();
	test_addr_parsers();
	test_csum_finish();
	return check_done("test_proto");
}
