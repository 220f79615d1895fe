/* SPDX-License-Identifier: MIT */
/*
 * usnet-httpd's request parsing and routing: pure functions over a byte
 * buffer, no I/O (tests/unit/test_http_parse.c feeds them hostile input).
 * HTTP/1.1 message syntax per RFC 9112, semantics per RFC 9110; what the
 * server does not implement is refused with a status, never guessed at.
 *
 * The bytes come from the network: every length is bounded by the buffer,
 * nothing is NUL-terminated, numbers are checked for overflow.
 */
#ifndef USNET_TOOLS_HTTP_PARSE_H
#define USNET_TOOLS_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum http_method { HTTP_GET, HTTP_HEAD, HTTP_OTHER };

/* One request's head (request line and header fields). */
struct http_req {
	enum http_method method;
	const uint8_t *target; /* into the buffer, target_len bytes: origin-form */
	size_t target_len;
	uint8_t minor;		 /* HTTP/1.minor (0 or 1) */
	bool close;		 /* the connection ends after the response */
	bool has_host;		 /* a Host field (RFC 9112 3.2: required in 1.1) */
	uint64_t content_length; /* body bytes that follow the head */
	int status;		 /* 0, or the error status to answer (400, 501, 505) */
};

/* Content-Length values above this are refused (400): the body is discarded. */
#define HTTP_MAX_BODY (1ull << 40)

/*
 * Parse the request head at buf[0..len). Returns:
 *   > 0: the head is complete and takes that many bytes; *r is filled.
 *        r->status != 0: answer it and close (the stream cannot be trusted).
 *   0:   incomplete; more bytes needed (the caller bounds the head's size).
 *   < 0: malformed before the head's end (the request line is bad):
 *        r->status is 400 or 505; answer it and close.
 * Empty lines before the request line are skipped (RFC 9112 2.2). Lines
 * end in CRLF or a bare LF (2.2 allows LF alone).
 */
long http_parse_request(const uint8_t *buf, size_t len, struct http_req *r);

/*
 * The status for a well-formed request to a server that has one resource,
 * at path: 200, 404 (another path; the query is ignored), 405 (a method
 * other than GET or HEAD).
 */
int http_route(const struct http_req *r, const char *path);

/* "OK", "Not Found", ...; "Error" for a status it does not know. */
const char *http_reason(int status);

#endif
