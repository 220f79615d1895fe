/* SPDX-License-Identifier: MIT */
/*
 * The fuzz harnesses' input reader: the bytes libFuzzer gives, taken from
 * the front little-endian; past the end every read is 0, so any input is
 * a whole program of operations.
 */
#ifndef USNET_FUZZ_INPUT_H
#define USNET_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

struct in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t in_u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static inline uint16_t in_u16(struct in *in)
{
	uint16_t lo = in_u8(in);

	return (uint16_t)(lo | in_u8(in) << 8);
}

static inline uint32_t in_u32(struct in *in)
{
	uint32_t lo = in_u16(in);

	return lo | (uint32_t)in_u16(in) << 16;
}

#endif
