/* SPDX-License-Identifier: MIT */
/* Software segmentation of GSO super-frames (gso.h). */
#include <errno.h>
#include <string.h>

#include <usnet/proto.h>

#include "be.h"
#include "frame_ip.h"
#include "gso.h"

#define TCP_FIN 0x01 /* RFC 9293 3.1 */
#define TCP_PSH 0x08
#define TCP_CWR 0x80 /* RFC 3168 6.1.2 */

static inline uint16_t rd16le(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

void usnet_vnet_hdr_decode(const uint8_t *raw, struct usnet_vnet_hdr *h)
{
	h->flags = raw[0];
	h->gso_type = raw[1];
	h->hdr_len = rd16le(raw + 2);
	h->gso_size = rd16le(raw + 4);
	h->csum_start = rd16le(raw + 6);
	h->csum_offset = rd16le(raw + 8);
}

/* Ethernet, an optional 802.1Q tag, then IPv4 or IPv6 (frame_ip.h): fill
 * l3, l4, ipv and l4proto; *end is where the IP datagram ends (the frame
 * may be longer: padding is not carried into the segments). */
static int gso_parse_ip(const uint8_t *f, size_t len, struct usnet_gso_plan *pl, size_t *end)
{
	struct usnet_frame_ip fi;
	int err = usnet_frame_ip_parse(f, len, &fi);

	if (err)
		return err;
	pl->l3 = fi.l3;
	pl->l4 = fi.l4;
	pl->ipv = fi.ipv;
	pl->l4proto = fi.l4proto;
	*end = fi.end;
	return 0;
}

/* The transport header the GSO type names: where it ends (hdr_len). */
static int gso_parse_l4(const uint8_t *f, uint8_t gso_type, struct usnet_gso_plan *pl, size_t end)
{
	const uint8_t *l4 = f + pl->l4;

	switch (gso_type & ~USNET_VNET_GSO_ECN) {
	case USNET_VNET_GSO_TCPV4:
	case USNET_VNET_GSO_TCPV6: {
		size_t doff;

		if (pl->ipv != ((gso_type & ~USNET_VNET_GSO_ECN) == USNET_VNET_GSO_TCPV4 ? 4 : 6) ||
		    pl->l4proto != USNET_IPPROTO_TCP)
			return -EPROTO;
		if (end < (size_t)pl->l4 + 20)
			return -EBADMSG;
		doff = (size_t)(l4[12] >> 4) * 4;
		if (doff < 20 || end < pl->l4 + doff)
			return -EBADMSG;
		pl->hdr_len = (uint16_t)(pl->l4 + doff);
		return 0;
	}
	case USNET_VNET_GSO_UDP_L4:
		if (pl->l4proto != USNET_IPPROTO_UDP)
			return -EPROTO;
		if (end < (size_t)pl->l4 + 8 || get16(l4 + 4) != end - pl->l4)
			return -EBADMSG;
		pl->hdr_len = (uint16_t)(pl->l4 + 8);
		return 0;
	default: /* none, UFO, or unknown */
		return -EPROTO;
	}
}

int usnet_gso_plan(const uint8_t *frame, size_t len, const struct usnet_vnet_hdr *vh,
		   struct usnet_gso_plan *plan)
{
	struct usnet_gso_plan pl = {0};
	size_t end = 0, nsegs;
	int err;

	if ((err = gso_parse_ip(frame, len, &pl, &end)) != 0 ||
	    (err = gso_parse_l4(frame, vh->gso_type, &pl, end)) != 0)
		return err;
	if (!vh->gso_size || end == pl.hdr_len)
		return -EBADMSG;
	pl.mss = vh->gso_size;
	pl.payload = (uint32_t)(end - pl.hdr_len);
	nsegs = (pl.payload + pl.mss - 1) / pl.mss;
	if (nsegs > USNET_GSO_MAX_SEGS)
		return -E2BIG;
	pl.nsegs = (uint16_t)nsegs;
	pl.seg_max = pl.hdr_len + (pl.payload < pl.mss ? pl.payload : pl.mss);
	*plan = pl;
	return 0;
}

bool usnet_gso_csum_ok(const uint8_t *frame, const struct usnet_gso_plan *plan)
{
	uint32_t l4len = (uint32_t)(plan->hdr_len - plan->l4) + plan->payload;
	uint32_t sum = usnet_ip_pseudo_sum(frame + plan->l3, plan->ipv, plan->l4proto, l4len);

	return usnet_csum_fold(usnet_csum_add(sum, frame + plan->l4, l4len)) == 0;
}

static inline uint32_t gso_seg_payload(const struct usnet_gso_plan *plan, unsigned i)
{
	uint32_t off = (uint32_t)i * plan->mss;

	return plan->payload - off < plan->mss ? plan->payload - off : plan->mss;
}

size_t usnet_gso_seg_len(const struct usnet_gso_plan *plan, unsigned i)
{
	return (size_t)plan->hdr_len + gso_seg_payload(plan, i);
}

/* Fix the IP header of a segment of seg_len bytes; returns its
 * pseudo-header sum (RFC 9293 3.1 / RFC 8200 8.1) for l4len bytes. */
static uint32_t gso_fix_ip(uint8_t *out, const struct usnet_gso_plan *plan, unsigned i,
			   size_t seg_len)
{
	uint8_t *ip = out + plan->l3;
	uint32_t l4len = (uint32_t)(seg_len - plan->l4);

	if (plan->ipv == 4) {
		uint16_t csum;

		put16(ip + 2, (uint16_t)(seg_len - plan->l3));
		put16(ip + 4, (uint16_t)(get16(ip + 4) + i)); /* Linux: ID + 1 per segment */
		memset(ip + 10, 0, 2);
		csum = usnet_csum_fold(usnet_csum_add(0, ip, (size_t)(plan->l4 - plan->l3)));
		memcpy(ip + 10, &csum, 2);
	} else {
		put16(ip + 4, (uint16_t)l4len);
	}
	return usnet_ip_pseudo_sum(ip, plan->ipv, plan->l4proto, l4len);
}

void usnet_gso_segment(const uint8_t *frame, const struct usnet_gso_plan *plan, unsigned i,
		       uint8_t *out)
{
	uint32_t off = (uint32_t)i * plan->mss, plen = gso_seg_payload(plan, i);
	size_t seg_len = (size_t)plan->hdr_len + plen;
	uint8_t *l4 = out + plan->l4;
	uint32_t pseudo;
	uint16_t partial;

	memcpy(out, frame, plan->hdr_len);
	memcpy(out + plan->hdr_len, frame + plan->hdr_len + off, plen);
	pseudo = gso_fix_ip(out, plan, i, seg_len);
	if (plan->l4proto == USNET_IPPROTO_TCP) {
		uint32_t seq =
		    (uint32_t)l4[4] << 24 | (uint32_t)l4[5] << 16 | (uint32_t)l4[6] << 8 | l4[7];

		seq += off;
		l4[4] = (uint8_t)(seq >> 24);
		l4[5] = (uint8_t)(seq >> 16);
		l4[6] = (uint8_t)(seq >> 8);
		l4[7] = (uint8_t)seq;
		if (i + 1u != plan->nsegs)
			l4[13] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
		if (i)
			l4[13] &= (uint8_t)~TCP_CWR;
	} else {
		put16(l4 + 4, (uint16_t)(seg_len - plan->l4));
	}
	/* The pseudo-header sum, folded, not complemented: Linux's
	 * CHECKSUM_PARTIAL convention (usnet_csum_fold() complements). */
	partial = (uint16_t)~usnet_csum_fold(pseudo);
	memcpy(l4 + (plan->l4proto == USNET_IPPROTO_TCP ? 16 : 6), &partial, 2);
}
