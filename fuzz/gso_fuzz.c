/* SPDX-License-Identifier: MIT */
/*
 * The GSO segmenter (src/proto/gso.c) and usnet_frame_csum_finish()
 * (src/proto/proto.c): what a packet socket hands over is the kernel's, but
 * a frame's bytes came from whoever sent them, and its lengths are trusted
 * by nothing here.
 *
 * An input: one byte of mode, then (mode even) the 10 bytes of a struct
 * virtio_net_hdr and a super-frame, cut into segments; or (mode odd) a
 * frame whose checksum usnet_frame_csum_finish() completes. Every segment
 * goes into a buffer of exactly its length (ASan sees any overrun).
 * Invariants, abort() when broken:
 *   segments: lengths as the plan says, each IP length field consistent
 *   with the segment, IPv4 header checksum valid, the payloads joined equal
 *   the super-frame's; usnet_frame_csum_finish() accepts each and its L4
 *   checksum then verifies (summed here byte by byte, RFC 1071);
 *   csum_finish: 0 and the checksum verifies, or an error and the frame
 *   unchanged.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/proto.h>

#include "../src/proto/gso.h"
#include "../tests/common/csum_ref.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Where IP starts in a frame csum_finish accepted (it checked the lengths). */
static size_t l3_off(const uint8_t *f)
{
	return ref_rd16(f + 12) == 0x8100 ? 18 : 14;
}

/* The frame's TCP/UDP checksum verifies over its pseudo-header; the frame
 * is one usnet_frame_csum_finish() returned 0 for. */
static bool l4_verifies(const uint8_t *f)
{
	size_t l3 = l3_off(f), l4, l4len;
	uint32_t s;
	uint8_t proto;

	if ((f[l3] >> 4) == 4) {
		l4 = l3 + (size_t)(f[l3] & 0xf) * 4;
		l4len = ref_rd16(f + l3 + 2) - (l4 - l3);
		proto = f[l3 + 9];
		s = ref_sum(0, f + l3 + 12, 8);
	} else {
		l4 = l3 + 40;
		l4len = ref_rd16(f + l3 + 4);
		proto = f[l3 + 6];
		s = ref_sum(0, f + l3 + 8, 32);
	}
	/* A UDP sum of 0 sent as 0xffff (RFC 768) verifies as well. */
	return ref_fold(ref_sum(s + proto + (uint32_t)l4len, f + l4, l4len)) == 0xffff;
}

static void fuzz_segment(const uint8_t *raw, size_t len)
{
	struct usnet_vnet_hdr vh;
	struct usnet_gso_plan plan;
	const uint8_t *frame = raw + USNET_VNET_HDR_LEN;
	size_t flen, joined = 0;

	if (len < USNET_VNET_HDR_LEN)
		return;
	usnet_vnet_hdr_decode(raw, &vh);
	flen = len - USNET_VNET_HDR_LEN;
	if (usnet_gso_plan(frame, flen, &vh, &plan) != 0)
		return;
	if (!plan.nsegs || plan.nsegs > USNET_GSO_MAX_SEGS || plan.hdr_len > flen ||
	    plan.hdr_len + plan.payload > flen)
		abort();
	(void)usnet_gso_csum_ok(frame, &plan); /* reads only what the plan checked */
	for (unsigned i = 0; i < plan.nsegs; i++) {
		size_t sl = usnet_gso_seg_len(&plan, i), l3 = plan.l3, plen = sl - plan.hdr_len;
		uint8_t *s = malloc(sl);

		if (!s || sl > plan.seg_max || sl <= plan.hdr_len)
			abort();
		usnet_gso_segment(frame, &plan, i, s);
		if (memcmp(s + plan.hdr_len, frame + plan.hdr_len + joined, plen))
			abort();
		joined += plen;
		if (plan.ipv == 4 && (ref_rd16(s + l3 + 2) != sl - l3 ||
				      ref_fold(ref_sum(0, s + l3, plan.l4 - l3)) != 0xffff))
			abort();
		if (plan.ipv == 6 && ref_rd16(s + l3 + 4) != sl - plan.l4)
			abort();
		if (plan.l4proto == USNET_IPPROTO_UDP && ref_rd16(s + plan.l4 + 4) != sl - plan.l4)
			abort();
		if (usnet_frame_csum_finish(s, sl) != 0 || !l4_verifies(s))
			abort();
		free(s);
	}
	if (joined != plan.payload)
		abort();
}

static void fuzz_csum_finish(const uint8_t *frame, size_t len)
{
	uint8_t *f = malloc(len ? len : 1), *copy = malloc(len ? len : 1);
	int err;

	if (!f || !copy)
		abort();
	memcpy(f, frame, len);
	memcpy(copy, frame, len);
	err = usnet_frame_csum_finish(f, len);
	if (err == 0 && !l4_verifies(f))
		abort();
	if (err && memcmp(f, copy, len))
		abort();
	free(f);
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	uint8_t mode = in_u8(&in);

	if (mode & 1)
		fuzz_csum_finish(in.p, in.n);
	else
		fuzz_segment(in.p, in.n);
	return 0;
}
