/* SPDX-License-Identifier: MIT */
/*
 * usnet-httpd's request parser and router (tools/http_parse.c): good heads,
 * pipelined ones, incomplete ones at every cut, and hostile ones.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "http_parse.h"

static long parse(const char *s, struct http_req *r)
{
	return http_parse_request((const uint8_t *)s, strlen(s), r);
}

static void test_good(void)
{
	struct http_req r;
	const char *get = "GET /x?y=1 HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n";

	CHECK_EQ(parse(get, &r), strlen(get));
	CHECK_EQ(r.status, 0);
	CHECK_EQ(r.method, HTTP_GET);
	CHECK(r.target_len == 6 && !memcmp(r.target, "/x?y=1", 6));
	CHECK_EQ(r.minor, 1);
	CHECK(!r.close);
	CHECK(r.has_host);
	CHECK_EQ(http_route(&r, "/x"), 200);
	CHECK_EQ(http_route(&r, "/"), 404);
	CHECK_EQ(http_route(&r, "/x?"), 404);

	CHECK(parse("HEAD / HTTP/1.1\nhost: a\n\n", &r) > 0);
	CHECK_EQ(r.method, HTTP_HEAD);
	CHECK_EQ(r.status, 0);
	CHECK_EQ(http_route(&r, "/"), 200);

	/* Connection: close in a list, any case; 1.0 closes unless keep-alive. */
	CHECK(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE\r\n\r\n", &r) > 0);
	CHECK(r.close);
	CHECK(parse("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	CHECK_EQ(r.status, 0);
	CHECK(r.close);
	CHECK(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r) > 0);
	CHECK(!r.close);
	/* Leading empty lines are skipped (RFC 9112 2.2). */
	CHECK(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &r) > 0);
	CHECK_EQ(r.status, 0);
	/* A body's length is reported for the caller to skip. */
	CHECK(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello", &r) > 0);
	CHECK_EQ(r.content_length, 5);
	CHECK_EQ(http_route(&r, "/"), 405);
}

/* Two requests in one buffer: the first's length, then the second. */
static void test_pipelined(void)
{
	const char *two = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_req r;
	long n = parse(two, &r);

	CHECK_EQ(n, 28);
	CHECK(r.target_len == 2 && !memcmp(r.target, "/a", 2));
	CHECK_EQ(parse(two + n, &r), strlen(two) - 28);
	CHECK_EQ(r.method, HTTP_HEAD);
}

/* Every proper prefix of a good head is incomplete, never an error. */
static void test_incomplete(void)
{
	const char *get = "GET /index HTTP/1.1\r\nHost: example\r\nAccept: */*\r\n\r\n";
	struct http_req r;
	unsigned bad = 0;

	for (size_t i = 0; i < strlen(get); i++)
		bad += http_parse_request((const uint8_t *)get, i, &r) != 0;
	CHECK_EQ(bad, 0);
}

struct bad_case {
	const char *req;
	int status;
};

static void test_bad(void)
{
	static const struct bad_case cases[] = {
	    {"GET\r\n\r\n", 400},
	    {"GET /\r\n\r\n", 400},
	    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400},
	    {"GET / http/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET / HTTP/11\r\nHost: a\r\n\r\n", 400},
	    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
	    {"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\n\r\n", 400},			   /* no Host in 1.1 */
	    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400}, /* two */
	    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400},	   /* space before colon */
	    {"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400}, /* obs-fold */
	    {"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
	    {"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
	};
	struct http_req r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long n = parse(cases[i].req, &r);

		if (n == 0 || r.status != cases[i].status)
			fprintf(stderr, "case %zu: returned %ld, status %d\n", i, n, r.status);
		CHECK(n != 0);
		CHECK_EQ(r.status, cases[i].status);
		CHECK(r.close);
	}
	/* A NUL in the request line. */
	static const uint8_t nul[] = "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n";
	CHECK(http_parse_request(nul, sizeof(nul) - 1, &r) < 0);
	CHECK_EQ(r.status, 400);
}

/* Random bytes: never a crash, never a length beyond the buffer. */
static void test_random(void)
{
	uint8_t buf[256];
	struct http_req r;
	unsigned bad = 0;
	uint64_t x = 88172645463325252ull;

	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(x % sizeof(buf));

		for (size_t i = 0; i < n; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			/* Mostly printable, with the separators that matter. */
			buf[i] = (uint8_t)("GET /HTP1.\r\n: \x00\x7f"[x % 17]);
		}
		long k = http_parse_request(buf, n, &r);
		bad += k > (long)n;
		if (k > 0 && !r.status)
			bad += r.target + r.target_len > buf + n || r.target < buf;
	}
	CHECK_EQ(bad, 0);
}

int main(void)
{
	test_good();
	test_pipelined();
	test_incomplete();
	test_bad();
	test_random();
	return check_done("test_http_parse");
}
