/* SPDX-License-Identifier: MIT */
/*
 * The byte stream that usnet-tcpperf and the kernel peer tcp_kpeer send
 * and check: both ends generate it, so a receiver's SHA-256 (or a byte
 * compare) proves every byte arrived in order without the data being
 * stored anywhere.
 *
 * The stream is xorshift64* (Vigna, "An experimental exploration of
 * Marsaglia's xorshift generators, scrambled", 2016: shifts 12, 25, 27,
 * multiplier 0x2545f4914f6cdd1d) seeded with 0x75736e6574 ("usnet"): the
 * state is advanced, then multiplied; stream bytes 8k..8k+7 are output k
 * (k from 0) in little-endian order.
 *
 *   struct tcp_pattern p;
 *   tcp_pattern_init(&p, 0);           // or any stream offset
 *   tcp_pattern_fill(&p, buf, len);    // the next len bytes
 *
 * Header only (static functions, no library), so that programs outside
 * the tools (tests/common/tcp_kpeer.c) include it as it is.
 */
#ifndef USNET_TOOLS_TCP_PATTERN_H
#define USNET_TOOLS_TCP_PATTERN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TCP_PATTERN_SEED 0x75736e6574ull
#define TCP_PATTERN_MULT 0x2545f4914f6cdd1dull

struct tcp_pattern {
	uint64_t state;	 /* the generator's state after output offset/8 - 1 */
	uint64_t offset; /* stream offset of the next byte */
	uint8_t word[8]; /* output offset/8, little-endian */
};

/* The state transition (linear over GF(2)). */
static inline uint64_t tcp_pattern_step(uint64_t x)
{
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	return x;
}

static inline void tcp_pattern_store(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

/* The 64x64 bit matrix m (column j: the image of bit j) applied to v. */
static inline uint64_t tcp_pattern_mat_apply(const uint64_t m[64], uint64_t v)
{
	uint64_t r = 0;
	for (int j = 0; v; j++, v >>= 1)
		if (v & 1)
			r ^= m[j];
	return r;
}

/* The state after n steps from state x: the transition matrix raised to n
 * by squaring, so a seek costs O(64^2 log n), not O(n). */
static inline uint64_t tcp_pattern_jump(uint64_t x, uint64_t n)
{
	uint64_t m[64], sq[64];
	for (int j = 0; j < 64; j++)
		m[j] = tcp_pattern_step(1ull << j);
	while (n) {
		if (n & 1)
			x = tcp_pattern_mat_apply(m, x);
		n >>= 1;
		if (!n)
			break;
		for (int j = 0; j < 64; j++)
			sq[j] = tcp_pattern_mat_apply(m, m[j]);
		memcpy(m, sq, sizeof(m));
	}
	return x;
}

/* Position p at stream offset `offset` (any byte, not only multiples of 8). */
static inline void tcp_pattern_init(struct tcp_pattern *p, uint64_t offset)
{
	p->offset = offset;
	p->state = tcp_pattern_jump(TCP_PATTERN_SEED, offset / 8 + 1);
	tcp_pattern_store(p->word, p->state * TCP_PATTERN_MULT);
}

/* Write the next len bytes of the stream to buf and advance. */
static inline void tcp_pattern_fill(struct tcp_pattern *p, void *buf, size_t len)
{
	uint8_t *out = (uint8_t *)buf;
	size_t in = (size_t)(p->offset & 7);

	/* The rest of the current word. */
	while (len && in) {
		*out++ = p->word[in];
		len--;
		p->offset++;
		in = (in + 1) & 7;
		if (!in) {
			p->state = tcp_pattern_step(p->state);
			tcp_pattern_store(p->word, p->state * TCP_PATTERN_MULT);
		}
	}
	/* Whole words: the current one, then fresh ones. */
	while (len >= 8) {
		memcpy(out, p->word, 8);
		out += 8;
		len -= 8;
		p->offset += 8;
		p->state = tcp_pattern_step(p->state);
		tcp_pattern_store(p->word, p->state * TCP_PATTERN_MULT);
	}
	/* The head of the next one. */
	memcpy(out, p->word, len);
	p->offset += len;
}

/* Advance by len bytes without writing them: what fill() does, cheaper. */
static inline void tcp_pattern_skip(struct tcp_pattern *p, uint64_t len)
{
	uint64_t words = (p->offset + len) / 8 - p->offset / 8;

	if (!words) {
		p->offset += len;
		return;
	}
	if (words > 4096)
		p->state = tcp_pattern_jump(p->state, words);
	else
		for (uint64_t i = 0; i < words; i++)
			p->state = tcp_pattern_step(p->state);
	p->offset += len;
	tcp_pattern_store(p->word, p->state * TCP_PATTERN_MULT);
}

/*
 * Compare buf with the next len bytes of the stream and advance: the
 * offset in buf of the first byte that differs, or len if all match
 * (p has advanced by len either way).
 */
static inline size_t tcp_pattern_check(struct tcp_pattern *p, const void *buf, size_t len)
{
	const uint8_t *in = (const uint8_t *)buf;
	uint8_t tmp[256];
	size_t bad = len;
	for (size_t done = 0; done < len;) {
		size_t n = len - done < sizeof(tmp) ? len - done : sizeof(tmp);
		tcp_pattern_fill(p, tmp, n);
		if (bad == len && memcmp(tmp, in + done, n) != 0)
			for (size_t i = 0; i < n; i++)
				if (tmp[i] != in[done + i]) {
					bad = done + i;
					break;
				}
		done += n;
	}
	return bad;
}

#endif
