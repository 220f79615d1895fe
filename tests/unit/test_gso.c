/* SPDX-License-Identifier: MIT */
/*
 * src/proto/gso.c: super-frames as a Linux sender hands them to a packet
 * socket with PACKET_VNET_HDR, cut into segments, each checked field by
 * field and, after usnet_frame_csum_finish(), with checksums recomputed
 * here byte by byte (RFC 1071), not with the library's own code.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <usnet/proto.h>

#include "../../src/proto/gso.h"
#include "../common/csum_ref.h"
#include "check.h"

#define MAX_FRAME (65535 + 18)

static uint8_t frame[MAX_FRAME];
static uint8_t seg[MAX_FRAME];
static uint8_t joined[MAX_FRAME];

struct shape {
	bool v6, vlan, udp;
	unsigned opt;	  /* TCP option bytes (multiple of 4) */
	unsigned payload; /* bytes */
	uint8_t flags;	  /* TCP flags of the super-frame */
};

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static size_t l3_of(const struct shape *sh)
{
	return sh->vlan ? 18 : 14;
}

static size_t l4_of(const struct shape *sh)
{
	return l3_of(sh) + (sh->v6 ? 40 : 20);
}

static size_t hdr_of(const struct shape *sh)
{
	return l4_of(sh) + (sh->udp ? 8 : 20 + sh->opt);
}

/* A super-frame as the kernel's TCP (or UDP GSO) leaves it; its length. */
static size_t build(const struct shape *sh)
{
	size_t l3 = l3_of(sh), l4 = l4_of(sh), h = hdr_of(sh), n = h + sh->payload;
	uint8_t *ip = frame + l3, *t = frame + l4;

	memset(frame, 0, h);
	memcpy(frame, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01", 12);
	if (sh->vlan)
		memcpy(frame + 12, "\x81\x00\x20\x07", 4);
	if (sh->v6) {
		memcpy(frame + l3 - 2, "\x86\xdd", 2);
		ip[0] = 0x60;
		ip[4] = (uint8_t)((n - l4) >> 8);
		ip[5] = (uint8_t)(n - l4);
		ip[6] = sh->udp ? 17 : 6;
		ip[7] = 64;
		ip[8] = 0x20, ip[9] = 0x01, ip[23] = 1;
		ip[24] = 0x20, ip[25] = 0x01, ip[39] = 2;
	} else {
		memcpy(frame + l3 - 2, "\x08\x00", 2);
		ip[0] = 0x45;
		ip[2] = (uint8_t)((n - l3) >> 8);
		ip[3] = (uint8_t)(n - l3);
		ip[4] = 0xff, ip[5] = 0xfe; /* ID wraps after the second segment */
		ip[6] = 0x40;		    /* DF */
		ip[8] = 64;
		ip[9] = sh->udp ? 17 : 6;
		memcpy(ip + 12, "\xc6\x12\x00\x01\xc6\x12\x00\x02", 8);
	}
	t[0] = 0x13, t[1] = 0x88, t[2] = 0x9c, t[3] = 0x40;
	if (sh->udp) {
		t[4] = (uint8_t)((n - l4) >> 8);
		t[5] = (uint8_t)(n - l4);
	} else {
		memcpy(t + 4, "\xff\xff\xf0\x00", 4); /* the sequence number wraps */
		t[12] = (uint8_t)((20 + sh->opt) / 4 << 4);
		t[13] = sh->flags;
		for (unsigned i = 0; i < sh->opt; i++)
			t[20 + i] = 1; /* NOP */
	}
	for (unsigned i = 0; i < sh->payload; i++)
		frame[h + i] = (uint8_t)(i * 7 + (i >> 8));
	return n;
}

static struct usnet_vnet_hdr vnet(const struct shape *sh, uint16_t mss)
{
	struct usnet_vnet_hdr vh = {
	    .flags = USNET_VNET_F_NEEDS_CSUM,
	    .gso_type = (uint8_t)(sh->udp  ? USNET_VNET_GSO_UDP_L4
				  : sh->v6 ? USNET_VNET_GSO_TCPV6
					   : USNET_VNET_GSO_TCPV4),
	    .hdr_len = 1, /* only a hint (Linux: skb_headlen); must not matter */
	    .gso_size = mss,
	};
	return vh;
}

/* The L4 checksum of a segment verifies over its pseudo-header. */
static bool l4_verifies(const struct shape *sh, const uint8_t *f, size_t n)
{
	size_t l3 = l3_of(sh), l4 = l4_of(sh);
	uint32_t s = sh->v6 ? ref_sum(0, f + l3 + 8, 32) : ref_sum(0, f + l3 + 12, 8);

	s += (sh->udp ? 17u : 6u) + (uint32_t)(n - l4);
	return ref_fold(ref_sum(s, f + l4, n - l4)) == 0xffff;
}

static void check_segments(const struct shape *sh, uint16_t mss)
{
	size_t n = build(sh), l3 = l3_of(sh), l4 = l4_of(sh), h = hdr_of(sh), at = 0;
	struct usnet_vnet_hdr vh = vnet(sh, mss);
	struct usnet_gso_plan plan;
	unsigned want = (sh->payload + mss - 1) / mss;

	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), 0);
	CHECK_EQ(plan.nsegs, want);
	CHECK_EQ(plan.hdr_len, h);
	CHECK_EQ(plan.payload, sh->payload);
	for (unsigned i = 0; i < plan.nsegs; i++) {
		size_t len = usnet_gso_seg_len(&plan, i), plen = len - h;
		bool last = i + 1 == plan.nsegs;

		memset(seg, 0xee, sizeof(seg));
		usnet_gso_segment(frame, &plan, i, seg);
		CHECK_EQ(plen, last ? sh->payload - (size_t)i * mss : mss);
		CHECK(len <= plan.seg_max);
		CHECK(memcmp(seg, frame, l3) == 0); /* Ethernet and tag as they were */
		memcpy(joined + at, seg + h, plen);
		at += plen;
		if (sh->v6) {
			CHECK_EQ(ref_rd16(seg + l3 + 4), len - l4);
		} else {
			CHECK_EQ(ref_rd16(seg + l3 + 2), len - l3);
			CHECK_EQ(ref_rd16(seg + l3 + 4), (0xfffeu + i) & 0xffff);
			CHECK_EQ(ref_fold(ref_sum(0, seg + l3, 20)), 0xffff);
		}
		if (sh->udp) {
			CHECK_EQ(ref_rd16(seg + l4 + 4), len - l4);
		} else {
			uint8_t f = seg[l4 + 13];

			CHECK_EQ(rd32(seg + l4 + 4), (uint32_t)(0xfffff000u + (uint32_t)i * mss));
			CHECK_EQ(!!(f & 0x01), last && (sh->flags & 0x01));   /* FIN */
			CHECK_EQ(!!(f & 0x08), last && (sh->flags & 0x08));   /* PSH */
			CHECK_EQ(!!(f & 0x80), i == 0 && (sh->flags & 0x80)); /* CWR */
			CHECK_EQ(f & 0x76, sh->flags & 0x76); /* ACK, ECE, SYN, RST, URG */
			CHECK(memcmp(seg + l4 + 20, frame + l4 + 20, sh->opt) == 0);
		}
		/* The field holds the pseudo-header sum: adding the segment's
		 * bytes with it in place verifies once the data is summed in,
		 * which is what usnet_frame_csum_finish() then stores. */
		CHECK_EQ(usnet_frame_csum_finish(seg, len), 0);
		CHECK(l4_verifies(sh, seg, len));
	}
	CHECK_EQ(at, sh->payload);
	CHECK(memcmp(joined, frame + h, sh->payload) == 0);
}

/* usnet_gso_csum_ok(): a super-frame with its full checksum in place. */
static void test_csum_ok(void)
{
	static const struct shape shapes[] = {
	    {.payload = 5001, .opt = 12, .flags = 0x10},
	    {.v6 = true, .vlan = true, .payload = 3000, .flags = 0x18},
	    {.udp = true, .payload = 4000},
	};

	for (unsigned k = 0; k < 3; k++) {
		const struct shape *sh = &shapes[k];
		size_t n = build(sh), l4 = l4_of(sh), at = l4 + (sh->udp ? 6 : 16);
		struct usnet_vnet_hdr vh = vnet(sh, 1448);
		struct usnet_gso_plan plan;
		uint32_t s = sh->v6 ? ref_sum(0, frame + l3_of(sh) + 8, 32)
				    : ref_sum(0, frame + l3_of(sh) + 12, 8);
		unsigned c;

		s += (sh->udp ? 17u : 6u) + (uint32_t)(n - l4);
		c = (~ref_fold(ref_sum(s, frame + l4, n - l4))) & 0xffff;
		frame[at] = (uint8_t)(c >> 8);
		frame[at + 1] = (uint8_t)c;
		CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), 0);
		CHECK(usnet_gso_csum_ok(frame, &plan));
		frame[n - 1] ^= 0x40; /* one bit of the last segment's payload */
		CHECK(!usnet_gso_csum_ok(frame, &plan));
	}
}

static void test_shapes(void)
{
	static const struct shape shapes[] = {
	    {.payload = 65535 - 20 - 32, .opt = 12, .flags = 0x18 | 0x80 | 0x01}, /* 64 KiB */
	    {.v6 = true, .payload = 20000, .opt = 12, .flags = 0x10 | 0x08},
	    {.vlan = true, .payload = 4000, .flags = 0x10 | 0x01 | 0x80},
	    {.v6 = true, .vlan = true, .payload = 2897, .opt = 40, .flags = 0x18},
	    {.payload = 1448, .opt = 12, .flags = 0x18}, /* exactly one segment */
	    {.udp = true, .payload = 9000},
	    {.udp = true, .v6 = true, .vlan = true, .payload = 3001},
	};

	for (unsigned i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		check_segments(&shapes[i], 1448);
		check_segments(&shapes[i], 1000);
	}
	check_segments(&shapes[0], 257); /* 255 segments: within the limit */
}

static void test_refused(void)
{
	struct shape sh = {.payload = 3000, .opt = 12, .flags = 0x10};
	size_t n = build(&sh);
	struct usnet_vnet_hdr vh = vnet(&sh, 1448);
	struct usnet_gso_plan plan;

	vh.gso_size = 0;
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EBADMSG);
	vh.gso_size = 11; /* 273 segments */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -E2BIG);
	vh = vnet(&sh, 1448);
	vh.hdr_len = 60000; /* a lie that changes nothing */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), 0);
	CHECK_EQ(plan.hdr_len, hdr_of(&sh));
	CHECK_EQ(usnet_gso_plan(frame, n - 1, &vh, &plan), -EBADMSG); /* IP beyond the frame */
	CHECK_EQ(usnet_gso_plan(frame, 40, &vh, &plan), -EBADMSG);    /* TCP header cut */
	CHECK_EQ(usnet_gso_plan(frame, 13, &vh, &plan), -EBADMSG);
	vh.gso_type = USNET_VNET_GSO_TCPV6; /* an IPv4 frame */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EPROTO);
	vh.gso_type = USNET_VNET_GSO_UDP; /* UFO */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EPROTO);
	vh.gso_type = USNET_VNET_GSO_UDP_L4; /* but TCP inside */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EPROTO);
	vh.gso_type = USNET_VNET_GSO_TCPV4 | USNET_VNET_GSO_ECN;
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), 0);
	frame[14 + 20 + 12] = 0xf0; /* data offset 60: 60: within the frame */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), 0);
	CHECK_EQ(plan.hdr_len, 14 + 20 + 60);
	CHECK_EQ(usnet_gso_plan(frame, 14 + 20 + 59, &vh, &plan), -EBADMSG);
	frame[14 + 20 + 12] = 0x40; /* 16 bytes: less than a TCP header */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EBADMSG);
	n = build(&sh);
	frame[14 + 6] = 0x20; /* MF: a fragment */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EPROTO);
	n = build(&sh);
	frame[14] = 0x44; /* IHL below 5 */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EBADMSG);
	n = build(&sh);
	frame[14 + 2] = 0, frame[14 + 3] = 20 + 32; /* headers only: no payload */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EBADMSG);

	sh = (struct shape){.udp = true, .payload = 3000};
	n = build(&sh);
	vh = vnet(&sh, 1000);
	frame[14 + 20 + 5]++; /* UDP length disagrees with IP's */
	CHECK_EQ(usnet_gso_plan(frame, n, &vh, &plan), -EBADMSG);
}

static void test_vnet_decode(void)
{
	static const uint8_t raw[10] = {1, 0x81, 0x42, 0, 0xa8, 0x05, 0x22, 0, 0x10, 0};
	struct usnet_vnet_hdr h;

	usnet_vnet_hdr_decode(raw, &h);
	CHECK_EQ(h.flags, USNET_VNET_F_NEEDS_CSUM);
	CHECK_EQ(h.gso_type, USNET_VNET_GSO_TCPV4 | USNET_VNET_GSO_ECN);
	CHECK_EQ(h.hdr_len, 0x42);
	CHECK_EQ(h.gso_size, 1448);
	CHECK_EQ(h.csum_start, 34);
	CHECK_EQ(h.csum_offset, 16);
}

int main(void)
{
	test_vnet_decode();
	test_shapes();
	test_refused();
	test_csum_ok();
	return check_done("test_gso");
}
