/* SPDX-License-Identifier: MIT */
/*
 * Initial sequence numbers (RFC 6528) and SYN cookies (pure): a keyed
 * hash of the connection's 4-tuple, SipHash-2-4 (Aumasson and Bernstein,
 * "SipHash: a fast short-input PRF", 2012), written from the paper.
 */
#include <string.h>

#include "tcp_impl.h"

static uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = rotl(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = rotl(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = rotl(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = rotl(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = rotl(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = rotl(v2, 32);                                                                 \
	} while (0)

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

uint64_t tcp_siphash(const uint64_t key[2], const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = 0x736f6d6570736575ull ^ key[0], v1 = 0x646f72616e646f6dull ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ull ^ key[0], v3 = 0x7465646279746573ull ^ key[1];
	uint64_t b = (uint64_t)len << 56, m;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = le64(p + i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (size_t k = 0; i + k < len; k++)
		b |= (uint64_t)p[i + k] << (8 * k);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* The 4-tuple and up to two more words, as the hash's input. */
static uint64_t tuple_hash(const uint64_t key[2], const struct tcp_tuple *t, uint32_t a, uint32_t b)
{
	uint32_t w[5] = {t->lip, t->rip, (uint32_t)t->lport << 16 | t->rport, a, b};

	return tcp_siphash(key, w, sizeof(w));
}

uint32_t tcp_isn(const uint64_t key[2], const struct tcp_tuple *t, uint64_t now_ns)
{
	/* RFC 6528 3: ISN = M + F(localip, localport, remoteip, remoteport,
	 * secretkey), M a timer ticking every 4 microseconds. */
	return (uint32_t)(now_ns / 4000u) + (uint32_t)tuple_hash(key, t, 0, 0);
}

uint32_t tcp_ts_offset(const uint64_t key[2], const struct tcp_tuple *t)
{
	/* RFC 7323 7.1: a per-connection random offset, the same for the
	 * 4-tuple every time (a SYN cookie's connection needs it again). */
	return (uint32_t)tuple_hash(key, t, 0x7473u, 0);
}

/* --- SYN cookies ---
 *
 * The ISN we answer with when a listener's half-open queue is full:
 *
 *   bits 31..27  time counter (64 s units) mod 32
 *   bits 26..24  index of the MSS in mss_table
 *   bits 23..0   SipHash(key; 4-tuple, peer's ISN, counter, index)
 *
 * The final ACK acknowledges cookie + 1; it is valid while the counter is
 * now's or the one before (64 to 128 s). */
static const uint16_t mss_table[8] = {536, 1200, 1300, 1400, 1440, 1460, 4312, 8960};

#define COOKIE_PERIOD_NS (64ull * 1000000000ull)

static uint32_t cookie_hash(const uint64_t key[2], const struct tcp_tuple *t, uint32_t peer_isn,
			    uint32_t counter, uint32_t idx)
{
	return (uint32_t)tuple_hash(key, t, peer_isn, counter << 3 | idx) & 0xffffff;
}

uint32_t tcp_cookie_make(const uint64_t key[2], const struct tcp_tuple *t, uint32_t peer_isn,
			 uint16_t mss, uint64_t now_ns)
{
	uint32_t counter = (uint32_t)(now_ns / COOKIE_PERIOD_NS), idx = 0;

	for (uint32_t i = 0; i < 8; i++)
		if (mss_table[i] <= mss)
			idx = i;
	return (counter & 0x1f) << 27 | idx << 24 | cookie_hash(key, t, peer_isn, counter, idx);
}

bool tcp_cookie_check(const uint64_t key[2], const struct tcp_tuple *t, uint32_t peer_isn,
		      uint32_t cookie, uint64_t now_ns, uint16_t *mss)
{
	uint32_t now_c = (uint32_t)(now_ns / COOKIE_PERIOD_NS), idx = cookie >> 24 & 7;

	for (uint32_t age = 0; age < 2 && age <= now_c; age++) {
		uint32_t counter = now_c - age;

		if ((counter & 0x1f) != cookie >> 27)
			continue;
		if (cookie_hash(key, t, peer_isn, counter, idx) != (cookie & 0xffffff))
			return false;
		*mss = mss_table[idx];
		return true;
	}
	return false;
}

/* With timestamps, the cookie's SYN-ACK carries the peer's window scale
 * and SACK permission in the low 5 bits of our TSval, which the final
 * ACK echoes: bits 3..0 the shift (15: none), bit 4 SACK. */
uint32_t tcp_cookie_ts_encode(uint32_t tsval, bool ws_ok, uint8_t ws, bool sack_ok)
{
	uint32_t low = (ws_ok ? ws : 15u) | (sack_ok ? 16u : 0u);

	/* Keep the clock monotonic from the peer's view: never above tsval. */
	if ((tsval & 0x1f) < low)
		tsval -= 32;
	return (tsval & ~0x1fu) | low;
}

void tcp_cookie_ts_decode(uint32_t tsecr, bool *ws_ok, uint8_t *ws, bool *sack_ok)
{
	uint8_t w = tsecr & 0xf;

	*ws_ok = w != 15;
	*ws = w > 14 ? 0 : w;
	*sack_ok = tsecr & 16;
}
