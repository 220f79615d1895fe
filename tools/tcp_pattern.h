/* SPDX-License-Identifier: MIT */
/*
 * The byte stream of the TCP tools and tests (usnet-tcpperf, tests/common/
 * tcp_kpeer.c): deterministic pseudo-random bytes, so that either end can
 * check what arrived (SHA-256 of the whole stream, or byte for byte).
 * xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
 * generators, scrambled", 2016: shifts 12, 25, 27, multiplier
 * 0x2545F4914F6CDD1D) seeded with 0x75736e6574 ("usnet"); each 64-bit
 * output gives 8 bytes, least significant first. Byte i of the stream is
 * byte i % 8 of output i / 8 (the first output is the state after one step).
 */
#ifndef USNET_TOOLS_TCP_PATTERN_H
#define USNET_TOOLS_TCP_PATTERN_H

#include <stddef.h>
#include <stdint.h>

#define TCP_PATTERN_SEED 0x75736e6574ull

struct tcp_pattern {
	uint64_t x;    /* generator state */
	uint64_t word; /* the current output, bytes not yet used in its low end */
	unsigned left; /* bytes of word not yet used */
};

static inline void tcp_pattern_init(struct tcp_pattern *p)
{
	p->x = TCP_PATTERN_SEED;
	p->word = 0;
	p->left = 0;
}

static inline uint64_t tcp_pattern_next(struct tcp_pattern *p)
{
	uint64_t x = p->x;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	p->x = x;
	return x * 0x2545F4914F6CDD1Dull;
}

/* The next len bytes of the stream into buf. */
static inline void tcp_pattern_fill(struct tcp_pattern *p, void *buf, size_t len)
{
	uint8_t *b = buf;

	while (len && p->left) {
		*b++ = (uint8_t)p->word;
		p->word >>= 8;
		p->left--;
		len--;
	}
	for (; len >= 8; b += 8, len -= 8) {
		uint64_t w = tcp_pattern_next(p);
		for (unsigned i = 0; i < 8; i++)
			b[i] = (uint8_t)(w >> (8 * i));
	}
	if (len) {
		p->word = tcp_pattern_next(p);
		p->left = 8;
		while (len--) {
			*b++ = (uint8_t)p->word;
			p->word >>= 8;
			p->left--;
		}
	}
}

#endif
