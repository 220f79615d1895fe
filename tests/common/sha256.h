/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4, section 6.2) for the TCP tests' kernel peer
 * (tests/common/tcp_kpeer.c): the digest of a byte stream fed in pieces of
 * any length. Header-only, static functions; not constant-time, not for
 * secrets: it checks that what arrived is what was sent.
 */
#ifndef USNET_TESTS_SHA256_H
#define USNET_TESTS_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes fed so far */
	uint8_t block[64];
	unsigned used; /* bytes in block */
};

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube
 * roots of the first 64 primes. */
static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t sha256_ror(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* FIPS 180-4 5.3.3: the initial hash value. */
static inline void sha256_init(struct sha256 *s)
{
	static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
				       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
	memcpy(s->h, h0, sizeof(h0));
	s->len = 0;
	s->used = 0;
}

/* FIPS 180-4 6.2.2: one 64-byte block into the hash value. */
static inline void sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[64], a, b, c, d, e, f, g, hh;
	unsigned t;

	for (t = 0; t < 16; t++)
		w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
		       (uint32_t)p[4 * t + 2] << 8 | p[4 * t + 3];
	for (t = 16; t < 64; t++) {
		uint32_t s0 =
		    sha256_ror(w[t - 15], 7) ^ sha256_ror(w[t - 15], 18) ^ (w[t - 15] >> 3);
		uint32_t s1 =
		    sha256_ror(w[t - 2], 17) ^ sha256_ror(w[t - 2], 19) ^ (w[t - 2] >> 10);
		w[t] = w[t - 16] + s0 + w[t - 7] + s1;
	}
	a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (t = 0; t < 64; t++) {
		uint32_t s1 = sha256_ror(e, 6) ^ sha256_ror(e, 11) ^ sha256_ror(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = hh + s1 + ch + sha256_k[t] + w[t];
		uint32_t s0 = sha256_ror(a, 2) ^ sha256_ror(a, 13) ^ sha256_ror(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = s0 + maj;
		hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static inline void sha256_update(struct sha256 *s, const void *data, size_t len)
{
	const uint8_t *p = data;

	s->len += len;
	if (s->used) {
		size_t take = 64 - s->used < len ? 64 - s->used : len;
		memcpy(s->block + s->used, p, take);
		s->used += (unsigned)take;
		p += take;
		len -= take;
		if (s->used < 64)
			return;
		sha256_block(s->h, s->block);
		s->used = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(s->h, p);
	memcpy(s->block, p, len);
	s->used = (unsigned)len;
}

/* FIPS 180-4 5.1.1 padding, then the digest as 64 lowercase hex digits. */
static inline void sha256_hex(struct sha256 *s, char out[65])
{
	uint64_t bits = s->len * 8;
	uint8_t pad[72] = {0x80};
	size_t padlen = (s->used < 56 ? 56 : 120) - s->used;
	unsigned i;

	for (i = 0; i < 8; i++)
		pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(s, pad, padlen + 8);
	for (i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x",
			 (unsigned)(uint8_t)(s->h[i / 4] >> (24 - 8 * (i % 4))));
}

#endif
