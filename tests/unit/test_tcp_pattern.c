/* SPDX-License-Identifier: MIT */
/*
 * tools/tcp_pattern.h (the TCP test stream) and tools/sha256.c: the
 * stream's first bytes against an independent reference, seeking to any
 * offset against generating from 0, FIPS 180-4's example vectors, and the
 * digest of the stream against coreutils' sha256sum.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "sha256.h"
#include "tcp_pattern.h"

/* The first 48 bytes, from a Python transcription of the definition in
 * tcp_pattern.h (x ^= x >> 12; x ^= x << 25; x ^= x >> 27; out = x * M). */
static const char first48[] = "7895dbd176c2a56caedf695d525de9cea86dd9b9eca0202eb3c3b1f0d74705b2"
			      "2c12a5244c1e0c3af4bdd5d6a3a6ab26";

static void hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static void test_reference(void)
{
	struct tcp_pattern p;
	uint8_t b[48];
	char h[97];
	tcp_pattern_init(&p, 0);
	tcp_pattern_fill(&p, b, sizeof(b));
	hex(b, sizeof(b), h);
	CHECK(strcmp(h, first48) == 0);
	CHECK_EQ(p.offset, 48);
}

/* Seeking and odd-sized fills give the bytes of one fill from offset 0. */
static void test_seek(void)
{
	enum { N = 70000 };
	uint8_t *all = malloc(N), *b = malloc(N);
	struct tcp_pattern p;
	tcp_pattern_init(&p, 0);
	tcp_pattern_fill(&p, all, N);

	/* Pieces of 1..19 bytes in a row. */
	tcp_pattern_init(&p, 0);
	size_t off = 0;
	for (size_t n = 1; off < N; n = n % 19 + 1) {
		size_t k = N - off < n ? N - off : n;
		tcp_pattern_fill(&p, b + off, k);
		off += k;
	}
	CHECK(memcmp(all, b, N) == 0);

	/* Seeks to offsets of every alignment. */
	unsigned bad = 0;
	for (uint64_t o = 0; o < N - 100; o += 997 + (o & 7)) {
		tcp_pattern_init(&p, o);
		tcp_pattern_fill(&p, b, 100);
		bad += memcmp(b, all + o, 100) != 0;
	}
	CHECK_EQ(bad, 0);

	/* Far offsets: a seek equals stepping (state after k steps). */
	uint64_t x = TCP_PATTERN_SEED;
	for (int i = 0; i < 100001; i++)
		x = tcp_pattern_step(x);
	tcp_pattern_init(&p, 100000ull * 8);
	CHECK(p.state == x);
	CHECK(tcp_pattern_jump(TCP_PATTERN_SEED, 0) == TCP_PATTERN_SEED);

	/* Skipping small and large distances lands where a fill would. */
	tcp_pattern_init(&p, 3);
	for (uint64_t o = 3, n = 1; o + n + 100 < N; o += n, n = n * 3 + 1) {
		tcp_pattern_skip(&p, n);
		struct tcp_pattern q = p;
		tcp_pattern_fill(&q, b, 100);
		bad += memcmp(b, all + o + n, 100) != 0;
	}
	tcp_pattern_init(&p, 1);
	tcp_pattern_skip(&p, 100000ull * 8 - 1);
	CHECK(p.state == x);
	CHECK_EQ(bad, 0);

	/* tcp_pattern_check finds the first difference. */
	tcp_pattern_init(&p, 5);
	CHECK_EQ(tcp_pattern_check(&p, all + 5, 1000), 1000);
	CHECK_EQ(p.offset, 1005);
	memcpy(b, all + 5, 1000);
	b[777] ^= 1;
	b[900] ^= 1;
	tcp_pattern_init(&p, 5);
	CHECK_EQ(tcp_pattern_check(&p, b, 1000), 777);
	CHECK_EQ(p.offset, 1005);
	free(all);
	free(b);
}

static void digest_of(const void *msg, size_t len, char out[SHA256_HEX])
{
	struct sha256 s;
	sha256_init(&s);
	sha256_update(&s, msg, len);
	sha256_hex(&s, out);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf") and the empty message. */
static void test_sha256_vectors(void)
{
	char h[SHA256_HEX];
	digest_of("abc", 3, h);
	CHECK(strcmp(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
	digest_of("", 0, h);
	CHECK(strcmp(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
	const char *m2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	digest_of(m2, strlen(m2), h);
	CHECK(strcmp(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
	/* One million 'a', fed in uneven pieces. */
	static char a[1000];
	memset(a, 'a', sizeof(a));
	struct sha256 s;
	sha256_init(&s);
	size_t left = 1000000;
	for (size_t n = 1; left; n = n * 7 % 1000 + 1) {
		size_t k = left < n ? left : n;
		sha256_update(&s, a, k);
		left -= k;
	}
	sha256_hex(&s, h);
	CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
	/* Padding edges: 55, 56, 63, 64 bytes (one or two final blocks). */
	digest_of(a, 55, h);
	CHECK(strcmp(h, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318") == 0);
	digest_of(a, 56, h);
	CHECK(strcmp(h, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a") == 0);
}

/* The stream's digest equals what sha256sum says of the same bytes. */
static void test_sha256sum(void)
{
	if (system("command -v sha256sum >/dev/null 2>&1") != 0) {
		fprintf(stderr, "sha256sum missing\n");
		CHECK(0);
		return;
	}
	char path[] = "/tmp/usnet-pattern-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	enum { N = (1 << 20) + 13 };
	uint8_t *b = malloc(N);
	struct tcp_pattern p;
	tcp_pattern_init(&p, 0);
	tcp_pattern_fill(&p, b, N);
	CHECK_EQ(write(fd, b, N), N);
	close(fd);
	char h[SHA256_HEX], cmd[128], line[128] = "";
	digest_of(b, N, h);
	snprintf(cmd, sizeof(cmd), "sha256sum %s", path);
	FILE *f = popen(cmd, "r");
	CHECK(f != NULL);
	if (f) {
		CHECK(fgets(line, sizeof(line), f) != NULL);
		CHECK_EQ(pclose(f), 0);
	}
	CHECK(strlen(line) > 64 && strncmp(line, h, 64) == 0);
	unlink(path);
	free(b);
}

int main(void)
{
	test_reference();
	test_seek();
	test_sha256_vectors();
	test_sha256sum();
	return check_done("test_tcp_pattern");
}
