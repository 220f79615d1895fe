/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4), incremental: what usnet-tcpperf --sha256 prints of
 * the stream it sent or received. Not constant-time and not meant for
 * secrets; it checks data integrity.
 *
 *   struct sha256 h;
 *   sha256_init(&h);
 *   sha256_update(&h, buf, len);       // any number of times
 *   sha256_final(&h, digest);          // 32 bytes; or sha256_hex()
 */
#ifndef USNET_TOOLS_SHA256_H
#define USNET_TOOLS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST 32
#define SHA256_HEX    (2 * SHA256_DIGEST + 1)

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;	   /* message length so far */
	uint8_t block[64]; /* the partial block */
	uint32_t used;	   /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Pad, finish and write the digest; s must be initialised again to reuse. */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST]);
/* sha256_final() as lowercase hex, NUL-terminated. */
void sha256_hex(struct sha256 *s, char out[SHA256_HEX]);

#endif
