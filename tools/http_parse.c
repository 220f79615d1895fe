/* SPDX-License-Identifier: MIT */
/* HTTP/1.1 request heads (RFC 9112); sections cited below. */
#include "http_parse.h"

#include <string.h>

/* RFC 9110 5.6.2: tchar. */
static bool is_tchar(uint8_t c)
{
	if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 5.5: field-value characters: VCHAR, obs-text, SP, HTAB. */
static bool is_field_char(uint8_t c)
{
	return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

/* The end of the line at p (its LF), or NULL within the buffer. */
static const uint8_t *line_end(const uint8_t *p, const uint8_t *end)
{
	return memchr(p, '\n', (size_t)(end - p));
}

/* The line [p, lf) without its CR, if any. */
static size_t line_len(const uint8_t *p, const uint8_t *lf)
{
	size_t n = (size_t)(lf - p);

	return n && p[n - 1] == '\r' ? n - 1 : n;
}

static bool eq_nocase(const uint8_t *a, size_t n, const char *b)
{
	if (strlen(b) != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint8_t x = a[i], y = (uint8_t)b[i];

		if (x >= 'A' && x <= 'Z')
			x = (uint8_t)(x - 'A' + 'a');
		if (x != y)
			return false;
	}
	return true;
}

/* 3: method SP request-target SP HTTP-version. 0 or an error status. */
static int parse_request_line(const uint8_t *p, size_t n, struct http_req *r)
{
	const uint8_t *end = p + n, *sp1, *sp2;

	sp1 = memchr(p, ' ', n);
	if (!sp1 || sp1 == p)
		return 400;
	for (const uint8_t *q = p; q < sp1; q++)
		if (!is_tchar(*q))
			return 400;
	r->method = sp1 - p == 3 && !memcmp(p, "GET", 3)    ? HTTP_GET
		    : sp1 - p == 4 && !memcmp(p, "HEAD", 4) ? HTTP_HEAD
							    : HTTP_OTHER;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1));
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	r->target = sp1 + 1;
	r->target_len = (size_t)(sp2 - sp1 - 1);
	/* 3.2: the target has no whitespace or controls. */
	for (size_t i = 0; i < r->target_len; i++)
		if (r->target[i] <= 0x20 || r->target[i] == 0x7f)
			return 400;
	/* 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive. */
	if (end - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/", 5) || sp2[7] != '.' || sp2[6] < '0' ||
	    sp2[6] > '9' || sp2[8] < '0' || sp2[8] > '9')
		return 400;
	if (sp2[6] != '1')
		return 505;
	r->minor = (uint8_t)(sp2[8] - '0');
	return 0;
}

/* Content-Length (RFC 9110 8.6, RFC 9112 6.3): digits only, no overflow;
 * repeated fields must agree. 0 or 400. */
static int parse_content_length(const uint8_t *v, size_t n, struct http_req *r, bool *seen)
{
	uint64_t x = 0;

	if (!n)
		return 400;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return 400;
		x = x * 10 + (uint64_t)(v[i] - '0');
		if (x > HTTP_MAX_BODY)
			return 400;
	}
	if (*seen && x != r->content_length)
		return 400;
	*seen = true;
	r->content_length = x;
	return 0;
}

/* Connection: a comma-separated list of options (RFC 9110 7.6.1). */
static void parse_connection(const uint8_t *v, size_t n, bool *close, bool *keep)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;

		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (eq_nocase(v + s, e - s, "close"))
			*close = true;
		else if (eq_nocase(v + s, e - s, "keep-alive"))
			*keep = true;
	}
}

/* 5: field-name ":" OWS field-value OWS. 0 or an error status. */
struct field_state {
	bool cl_seen;	/* a Content-Length so far */
	bool opt_close; /* Connection: close */
	bool opt_keep;	/* Connection: keep-alive */
};

static int parse_field(const uint8_t *p, size_t n, struct http_req *r, struct field_state *fs)
{
	const uint8_t *colon = memchr(p, ':', n), *v, *end = p + n;

	/* 5.2: obs-fold (a line starting with whitespace) is rejected. */
	if (!colon || colon == p)
		return 400;
	/* 5.1: no whitespace between name and colon; the name is a token. */
	for (const uint8_t *q = p; q < colon; q++)
		if (!is_tchar(*q))
			return 400;
	v = colon + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	for (const uint8_t *q = v; q < end; q++)
		if (!is_field_char(*q))
			return 400;
	if (eq_nocase(p, (size_t)(colon - p), "host")) {
		if (r->has_host) /* 3.2: more than one Host: 400 */
			return 400;
		r->has_host = true;
	} else if (eq_nocase(p, (size_t)(colon - p), "content-length")) {
		return parse_content_length(v, (size_t)(end - v), r, &fs->cl_seen);
	} else if (eq_nocase(p, (size_t)(colon - p), "transfer-encoding")) {
		return 501; /* no chunked request bodies here (RFC 9112 6.1) */
	} else if (eq_nocase(p, (size_t)(colon - p), "connection")) {
		parse_connection(v, (size_t)(end - v), &fs->opt_close, &fs->opt_keep);
	}
	return 0;
}

long http_parse_request(const uint8_t *buf, size_t len, struct http_req *r)
{
	const uint8_t *p = buf, *end = buf + len, *lf;
	struct field_state fs = {0};
	int status;

	memset(r, 0, sizeof(*r));
	/* 2.2: empty lines before the request line. */
	while (p < end && (*p == '\n' || (*p == '\r' && p + 1 < end && p[1] == '\n')))
		p += *p == '\r' ? 2 : 1;
	lf = line_end(p, end);
	if (!lf)
		return 0;
	if (memchr(p, '\0', (size_t)(lf - p)) || memchr(p, '\r', line_len(p, lf))) {
		r->status = 400;
		r->close = true;
		return -1;
	}
	status = parse_request_line(p, line_len(p, lf), r);
	if (status) {
		r->status = status;
		r->close = true;
		return -1;
	}
	for (p = lf + 1;; p = lf + 1) {
		size_t n;

		lf = line_end(p, end);
		if (!lf)
			return 0;
		n = line_len(p, lf);
		if (!n)
			break; /* the empty line that ends the head */
		/* A bare CR or NUL inside a line (2.2: may be rejected). */
		if (!r->status && (memchr(p, '\r', n) || memchr(p, '\0', n)))
			r->status = 400;
		if (!r->status)
			r->status = parse_field(p, n, r, &fs);
	}
	if (!r->status && r->minor >= 1 && !r->has_host)
		r->status = 400;
	/* RFC 9112 9.3: 1.1 persists unless "close"; 1.0 only with "keep-alive". */
	r->close = fs.opt_close || (r->minor == 0 && !fs.opt_keep) || r->status;
	return (long)(lf + 1 - buf);
}

int http_route(const struct http_req *r, const char *path)
{
	size_t n = r->target_len, plen = strlen(path);
	const uint8_t *q = memchr(r->target, '?', n);

	if (r->method == HTTP_OTHER)
		return 405;
	if (q)
		n = (size_t)(q - r->target);
	return n == plen && !memcmp(r->target, path, n) ? 200 : 404;
}

const char *http_reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	}
	return "Error";
}
