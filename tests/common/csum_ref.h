/* SPDX-License-Identifier: MIT */
/*
 * A reference Internet checksum for tests and fuzz harnesses (RFC 1071),
 * one big-endian 16-bit word at a time: deliberately not the library's
 * usnet_csum_add(), so that a check made with it does not share a bug
 * with the code under test.
 */
#ifndef USNET_TEST_CSUM_REF_H
#define USNET_TEST_CSUM_REF_H

#include <stddef.h>
#include <stdint.h>

static inline unsigned ref_rd16(const uint8_t *p)
{
	return (unsigned)(p[0] << 8 | p[1]);
}

/* s plus the words of p[0..n), an odd last byte as the high half. */
static inline uint32_t ref_sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		s += ref_rd16(p + i);
	if (n & 1)
		s += (uint32_t)p[n - 1] << 8;
	return s;
}

/* Folded to 16 bits, not complemented: 0xffff when a sum verifies. */
static inline unsigned ref_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return s;
}

#endif
