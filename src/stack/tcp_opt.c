/* SPDX-License-Identifier: MIT */
/*
 * TCP options (pure): parsing every option a segment carries, building
 * the ones we send. RFC 9293 3.1 / 3.2 (MSS, EOL, NOP), RFC 7323 2 and 3
 * (window scale, timestamps), RFC 2018 2 and 3 (SACK-permitted, SACK).
 */
#include <string.h>

#include "tcp_impl.h"
#include "../proto/be.h"

/* Option kinds and their fixed lengths. */
#define OPT_EOL	       0
#define OPT_NOP	       1
#define OPT_MSS	       2  /* RFC 9293 3.2: length 4 */
#define OPT_WS	       3  /* RFC 7323 2.2: length 3 */
#define OPT_SACK_OK    4  /* RFC 2018 2: length 2 */
#define OPT_SACK       5  /* RFC 2018 3: 2 + 8n */
#define OPT_TS	       8  /* RFC 7323 3.2: length 10 */
#define TCP_MAX_WSCALE 14 /* RFC 7323 2.3 */

/* One option of kind k with its length octet l (the whole option at p):
 * false if l is wrong for k. Options that belong only on a SYN are
 * ignored elsewhere (RFC 7323 2.2, RFC 9293 3.2 "MUST ignore"). */
static bool opt_one(uint8_t k, uint8_t l, const uint8_t *p, bool syn, struct tcp_opts *o)
{
	switch (k) {
	case OPT_MSS:
		if (l != 4)
			return false;
		if (syn) {
			o->mss_ok = true;
			o->mss = get16(p + 2);
		}
		return true;
	case OPT_WS:
		if (l != 3)
			return false;
		if (syn) {
			o->ws_ok = true;
			/* RFC 7323 2.3: a shift above 14 is logged and used as 14. */
			o->ws = p[2] > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : p[2];
		}
		return true;
	case OPT_SACK_OK:
		if (l != 2)
			return false;
		if (syn)
			o->sack_ok = true;
		return true;
	case OPT_SACK:
		if (l < 10 || (l - 2) % 8)
			return false;
		o->nsack = 0;
		for (uint8_t i = 2; i < l && o->nsack < TCP_MAX_SACK; i += 8) {
			o->sack[o->nsack].start = get32(p + i);
			o->sack[o->nsack].end = get32(p + i + 4);
			o->nsack++;
		}
		return true;
	case OPT_TS:
		if (l != 10)
			return false;
		o->ts_ok = true;
		o->tsval = get32(p + 2);
		o->tsecr = get32(p + 6);
		return true;
	default:
		/* RFC 9293 3.2: unknown options are skipped by their length. */
		return true;
	}
}

bool tcp_opt_parse(const uint8_t *opt, uint32_t len, bool syn, struct tcp_opts *o)
{
	uint32_t i = 0;

	memset(o, 0, sizeof(*o));
	while (i < len) {
		uint8_t k = opt[i], l;

		if (k == OPT_EOL)
			break;
		if (k == OPT_NOP) {
			i++;
			continue;
		}
		/* Every other option has a length octet counting kind and
		 * length, at least 2, not running past the header. */
		if (i + 1 >= len)
			return false;
		l = opt[i + 1];
		if (l < 2 || l > len - i)
			return false;
		if (!opt_one(k, l, opt + i, syn, o))
			return false;
		i += l;
	}
	return true;
}

uint32_t tcp_opt_build(const struct tcp_opts *o, bool syn, uint8_t *out)
{
	uint32_t n = 0;

	if (syn && o->mss_ok) {
		out[n++] = OPT_MSS;
		out[n++] = 4;
		put16(out + n, o->mss);
		n += 2;
	}
	/* The usual layouts: SACK-permitted + timestamps in 12 bytes, NOPs
	 * aligning the 4-byte fields (RFC 7323 appendix A). */
	if (syn && o->sack_ok && o->ts_ok) {
		out[n++] = OPT_SACK_OK;
		out[n++] = 2;
	} else if (syn && o->sack_ok) {
		out[n++] = OPT_NOP;
		out[n++] = OPT_NOP;
		out[n++] = OPT_SACK_OK;
		out[n++] = 2;
	}
	if (o->ts_ok) {
		if (!(syn && o->sack_ok)) {
			out[n++] = OPT_NOP;
			out[n++] = OPT_NOP;
		}
		out[n++] = OPT_TS;
		out[n++] = 10;
		put32(out + n, o->tsval);
		put32(out + n + 4, o->tsecr);
		n += 8;
	}
	if (syn && o->ws_ok) {
		out[n++] = OPT_NOP;
		out[n++] = OPT_WS;
		out[n++] = 3;
		out[n++] = o->ws > TCP_MAX_WSCALE ? TCP_MAX_WSCALE : o->ws;
	}
	if (!syn && o->nsack) {
		/* 40 bytes: 4 blocks alone, 3 behind timestamps (12 bytes). */
		uint32_t room = (40 - n - 4) / 8, k = o->nsack < room ? o->nsack : room;

		if (k) {
			out[n++] = OPT_NOP;
			out[n++] = OPT_NOP;
			out[n++] = OPT_SACK;
			out[n++] = (uint8_t)(2 + 8 * k);
			for (uint32_t i = 0; i < k; i++) {
				put32(out + n, o->sack[i].start);
				put32(out + n + 4, o->sack[i].end);
				n += 8;
			}
		}
	}
	while (n % 4)
		out[n++] = OPT_EOL;
	return n;
}
