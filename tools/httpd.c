/* SPDX-License-Identifier: MIT */
/*
 * usnet-httpd: an HTTP/1.1 server on usnet's stack with one resource, a
 * body held in memory (the pattern of tools/tcp_pattern.h, or a file read
 * at start). Persistent connections, pipelined requests answered in order,
 * GET and HEAD; the parsing is tools/http_parse.c.
 *
 * Each connection has a bounded request buffer and a bounded queue of
 * responses; while the queue is full it reads nothing more, so a client
 * that pipelines without reading is held back by TCP's window, not by
 * the server's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <usnet/tcp.h>

#include "http_parse.h"
#include "stack_tool.h"
#include "tcp_pattern.h"

#define RESP_QUEUE	 16	      /* responses queued per connection */
#define HDR_MAX		 320	      /* a response head (and an error's body) */
#define SEND_CHUNK	 (256 * 1024) /* body bytes per send call at most */
#define SCRATCH		 (16 * 1024)  /* a head and the first body bytes, one send */
#define MAX_FILE	 (1ull << 30)
#define CLOSE_LINGER_NS	 (5 * USNET_NSEC_PER_SEC) /* after our FIN, for the peer's */
#define DEFAULT_BODY	 1024
#define DEFAULT_MAX_HEAD 8192
#define DEFAULT_HEAD_S	 10 /* --head-timeout */
#define DEFAULT_IDLE_S	 60 /* --idle-timeout */

static const char help_head[] =
    "NAME\n"
    "       usnet-httpd - a small HTTP/1.1 server on usnet's stack\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-httpd -p SPEC --ip ADDR[/PREFIX] [--gw ADDR] [--mac MAC] [--mtu N]\n"
    "                   [-l PORT] [--body-size BYTES | --file PATH] [--path PATH]\n"
    "                   [--max-conns N] [--max-request BYTES] [--head-timeout SECONDS]\n"
    "                   [--idle-timeout SECONDS] [-t SECONDS] [--sleep] [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Makes port SPEC a host with address ADDR, running usnet's stack, and\n"
    "       serves one resource over HTTP/1.1 on TCP port PORT: a body of BYTES\n"
    "       bytes of the deterministic pattern of usnet-tcpperf (the default,\n"
    "       1024 bytes), or the content of the file PATH read into memory at\n"
    "       start. GET returns it, HEAD its head. Connections persist (HTTP/1.1\n"
    "       keep-alive; HTTP/1.0 with \"Connection: keep-alive\") until the client\n"
    "       sends \"Connection: close\", closes, or is idle for the idle timeout;\n"
    "       pipelined requests are answered in order. Segments go out at once\n"
    "       (Nagle's algorithm off).\n"
    "\n"
    "       Answers: 200 for GET or HEAD of the path (a query is ignored), 404\n"
    "       for another path, 405 for another method (its body is skipped), 400\n"
    "       for a malformed request (RFC 9112: request line, fields, Host,\n"
    "       Content-Length), 431 for a request head longer than --max-request,\n"
    "       501 for a Transfer-Encoding, 505 for an HTTP version other than 1.x,\n"
    "       408 for a request head (or the body of a refused request) not whole\n"
    "       within the head timeout of its first byte. After a 400, 408, 431, 501\n"
    "       or 505 the connection is closed.\n"
    "\n"
    "       The two timeouts keep slow or silent clients from holding the\n"
    "       --max-conns connections: a client that sends its head a byte at a\n"
    "       time is answered 408 and closed after --head-timeout, one that sends\n"
    "       nothing, or reads nothing of what is sent to it, is closed after\n"
    "       --idle-timeout.\n"
    "\n"
    "       It runs until SIGINT, SIGTERM or -t, then prints its counters. It\n"
    "       busy-polls unless --sleep.\n"
    "\n"
    "OPTIONS\n" TOOL_HOST_HELP "       -l, --listen PORT\n"
    "              The TCP port, 1 to 65535. Default: 80.\n"
    "       --body-size BYTES\n"
    "              Serve BYTES bytes of the pattern, 0 to 1G. Default: 1024.\n"
    "       --file PATH\n"
    "              Serve the content of PATH (a regular file of at most 1G), read\n"
    "              once at start.\n"
    "       --path PATH\n"
    "              The resource's path, starting with /. Default: /.\n"
    "       --max-conns N\n"
    "              Connections open at most, 1 to 100000; more wait in the listen\n"
    "              backlog. Default: 1024.\n"
    "       --max-request BYTES\n"
    "              A request head's size at most, 256 to 1M. Default: 8K.\n"
    "       --head-timeout SECONDS\n"
    "              A request head must be whole this long after its first byte\n"
    "              arrived, else 408 and close. Default: 10.\n"
    "       --idle-timeout SECONDS\n"
    "              Close a connection on which no byte moved either way for this\n"
    "              long (between requests, or a client that reads nothing).\n"
    "              Default: 60.\n"
    "       -t, --time SECONDS\n"
    "              Stop after SECONDS. Default: no limit.\n"
    "       --sleep\n"
    "              Sleep in the stack's wait when idle instead of busy-polling.\n"
    "       -q, --quiet\n"
    "              No startup line on stderr.\n"
    "       --json\n"
    "              Print the counters at the end as one JSON object on stdout instead\n"
    "              of a line on stderr.\n"
    "       -h, --help\n"
    "              Print this help and exit.\n"
    "\n"
    "       BYTES take a suffix: K (x1024), M (x1024^2), G (x1024^3).\n";

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       At the end, on stderr (or as JSON on stdout): requests answered by\n"
    "       status; connections accepted, closed, reset or failed, timed out (of\n"
    "       them by the head timeout and by the idle timeout; the rest waited in\n"
    "       vain for the client's FIN after ours), open at the end (reset then)\n"
    "       and open at most; bytes received and sent. JSON fields: tool, port,\n"
    "       ip, listen, path, body_bytes, seconds, requests, status {200, 400,\n"
    "       404, 405, 408, 431, 501, 505}, conns {accepted, closed, errors,\n"
    "       timeouts, head_timeouts, idle_timeouts, open_at_exit, max_open},\n"
    "       bytes_in, bytes_out, stack, port_stats.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-httpd -p afpacket:veth0 --ip 198.18.0.1/24 -l 8080 --body-size 1M\n"
    "       usnet-httpd -p afpacket:veth0 --ip 198.18.0.1/24 --file index.html \\\n"
    "                   --path /index.html\n";

enum {
	OPT_BODY_SIZE = TOOL_HOST_OPT_END,
	OPT_FILE,
	OPT_PATH,
	OPT_MAX_CONNS,
	OPT_MAX_REQUEST,
	OPT_HEAD_TIMEOUT,
	OPT_IDLE_TIMEOUT,
	OPT_SLEEP,
};

static const struct option long_opts[] = {
    TOOL_HOST_LONG_OPTS,
    {"listen", required_argument, NULL, 'l'},
    {"body-size", required_argument, NULL, OPT_BODY_SIZE},
    {"file", required_argument, NULL, OPT_FILE},
    {"path", required_argument, NULL, OPT_PATH},
    {"max-conns", required_argument, NULL, OPT_MAX_CONNS},
    {"max-request", required_argument, NULL, OPT_MAX_REQUEST},
    {"head-timeout", required_argument, NULL, OPT_HEAD_TIMEOUT},
    {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
    {"sleep", no_argument, NULL, OPT_SLEEP},
    {NULL, 0, NULL, 0}, /* end of table (getopt_long(3)) */
};

struct opts {
	struct tool_host_run hr; /* first: tool_host_run_open() and _close() */
	const struct tool_std *std;
	uint16_t port;
	uint64_t body_size;
	bool body_set;
	const char *file, *path;
	uint32_t max_conns, max_request;
	uint64_t head_ns, idle_ns;
	bool sleep;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	if (tool_host_opt(&o->hr.opts, c, arg))
		return;
	switch (c) {
	case 'l':
		o->port = (uint16_t)tool_arg_u64("-l", arg, 1, 65535);
		break;
	case OPT_BODY_SIZE:
		o->body_size = tool_arg_bytes("--body-size", arg, 0, MAX_FILE);
		o->body_set = true;
		break;
	case OPT_FILE:
		o->file = arg;
		break;
	case OPT_PATH:
		if (arg[0] != '/' || strlen(arg) > 1024 || strpbrk(arg, " ?#\t\r\n"))
			tool_usage_error("invalid --path '%.*s%s': a path like /index.html",
					 TOOL_ECHO_ARGS(arg));
		o->path = arg;
		break;
	case OPT_MAX_CONNS:
		o->max_conns = (uint32_t)tool_arg_u64("--max-conns", arg, 1, 100000);
		break;
	case OPT_MAX_REQUEST:
		o->max_request = (uint32_t)tool_arg_bytes("--max-request", arg, 256, 1u << 20);
		break;
	case OPT_HEAD_TIMEOUT:
		o->head_ns = tool_arg_seconds("--head-timeout", arg);
		break;
	case OPT_IDLE_TIMEOUT:
		o->idle_ns = tool_arg_seconds("--idle-timeout", arg);
		break;
	case OPT_SLEEP:
		o->sleep = true;
		break;
	}
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;

	o->std = std;
	if (o->file && o->body_set)
		tool_usage_error("--file and --body-size: give one");
	tool_host_check(&o->hr.opts, std);
	tool_host_tcp_room(&o->hr.conf, o->max_conns);
}

/* One response being sent: a head (and a short error body) in hdr, then
 * body bytes from the served resource. */
struct resp {
	char hdr[HDR_MAX];
	uint32_t hlen, hsent;
	const uint8_t *body;
	uint64_t blen, bsent;
	bool close; /* FIN after it */
};

struct hconn {
	struct usnet_tcp *s;
	uint32_t slot; /* in the server's list of open connections */
	uint8_t *rx;
	size_t rx_len;
	uint64_t skip; /* body bytes of the last request still to discard */
	struct resp q[RESP_QUEUE];
	unsigned qhead, qn;
	bool closing; /* no more requests: the queue drains, then FIN */
	bool wr_shut, eof;
	bool head_late; /* the head timeout ended it: close once the queue is sent */
	uint64_t last_ns, linger_end;
	uint64_t head_ns; /* when the first byte of the request being received came; 0: none */
};

enum { ST_200, ST_400, ST_404, ST_405, ST_408, ST_431, ST_501, ST_505, ST_N };
static const int st_codes[ST_N] = {200, 400, 404, 405, 408, 431, 501, 505};

struct server {
	const struct opts *o;
	struct tool_host *host;
	struct usnet_tcp *listener;
	uint8_t *body;
	uint64_t body_len;
	char ok_hdr[2][HDR_MAX]; /* 200's head: keep-alive, close */
	uint32_t ok_len[2];
	struct hconn **open;
	uint32_t nopen;
	uint8_t scratch[SCRATCH];
	/* counters */
	uint64_t requests, status[ST_N], accepted, closed, errors, at_exit, max_open;
	uint64_t timeouts;		       /* every connection a timer ended */
	uint64_t head_timeouts, idle_timeouts; /* of them: --head-timeout, --idle-timeout */
	uint64_t bytes_in, bytes_out;
};

static unsigned st_index(int code)
{
	for (unsigned i = 0; i < ST_N; i++)
		if (st_codes[i] == code)
			return i;
	return ST_400;
}

/* Load the body: the pattern, or the file. 0 or an exit status after a message. */
static int load_body(struct server *sv)
{
	const struct opts *o = sv->o;
	struct stat sb;
	int fd;

	if (!o->file) {
		struct tcp_pattern p;

		sv->body_len = o->body_set ? o->body_size : DEFAULT_BODY;
		sv->body = malloc(sv->body_len ? sv->body_len : 1);
		if (!sv->body) {
			tool_msg("out of memory for a %llu-byte body",
				 (unsigned long long)sv->body_len);
			return TOOL_EXIT_FAIL;
		}
		tcp_pattern_init(&p, 0);
		tcp_pattern_fill(&p, sv->body, sv->body_len);
		return 0;
	}
	fd = open(o->file, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size > MAX_FILE) {
		const char *why = fd < 0		 ? strerror(errno)
				  : !S_ISREG(sb.st_mode) ? "not a regular file"
							 : "larger than 1 GiB";
		tool_msg("cannot serve --file '%.*s%s': %s", TOOL_ECHO_ARGS(o->file), why);
		if (fd >= 0)
			close(fd);
		return TOOL_EXIT_FAIL;
	}
	sv->body_len = (uint64_t)sb.st_size;
	sv->body = malloc(sv->body_len ? sv->body_len : 1);
	for (uint64_t got = 0; sv->body && got < sv->body_len;) {
		ssize_t n = read(fd, sv->body + got, sv->body_len - got);

		if (n <= 0) {
			tool_msg("cannot read --file '%.*s%s': %s", TOOL_ECHO_ARGS(o->file),
				 n ? strerror(errno) : "it shrank while read");
			close(fd);
			return TOOL_EXIT_FAIL;
		}
		got += (uint64_t)n;
	}
	close(fd);
	if (!sv->body) {
		tool_msg("out of memory for --file '%.*s%s'", TOOL_ECHO_ARGS(o->file));
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

static void build_ok_heads(struct server *sv)
{
	for (int close = 0; close < 2; close++)
		sv->ok_len[close] = (uint32_t)snprintf(
		    sv->ok_hdr[close], HDR_MAX,
		    "HTTP/1.1 200 OK\r\nServer: usnet-httpd\r\nContent-Type: "
		    "application/octet-stream\r\nContent-Length: %llu\r\n%s\r\n",
		    (unsigned long long)sv->body_len, close ? "Connection: close\r\n" : "");
}

/* Queue the answer to one request (the queue has room). */
static void queue_resp(struct server *sv, struct hconn *c, int status, bool head, bool close)
{
	struct resp *r = &c->q[(c->qhead + c->qn++) % RESP_QUEUE];

	r->hsent = 0;
	r->bsent = 0;
	r->close = close;
	sv->requests++;
	sv->status[st_index(status)]++;
	if (status == 200) {
		memcpy(r->hdr, sv->ok_hdr[close], sv->ok_len[close]);
		r->hlen = sv->ok_len[close];
		r->body = sv->body;
		r->blen = head ? 0 : sv->body_len;
		return;
	}
	const char *reason = http_reason(status);
	int n = snprintf(r->hdr, HDR_MAX,
			 "HTTP/1.1 %d %s\r\nServer: usnet-httpd\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %zu\r\n%s%s\r\n",
			 status, reason, strlen(reason) + 1,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "",
			 close ? "Connection: close\r\n" : "");
	if (!head)
		n += snprintf(r->hdr + n, HDR_MAX - (size_t)n, "%s\n", reason);
	r->hlen = (uint32_t)n;
	r->body = NULL;
	r->blen = 0;
}

static void consume_rx(struct hconn *c, size_t n)
{
	memmove(c->rx, c->rx + n, c->rx_len - n);
	c->rx_len -= n;
}

/* Answer the complete requests in the buffer, in order, while the queue has room. */
static void parse_requests(struct server *sv, struct hconn *c)
{
	const struct opts *o = sv->o;

	while (!c->closing && c->qn < RESP_QUEUE) {
		struct http_req req;
		long n;
		int status;

		if (c->skip) {
			size_t k = c->skip < c->rx_len ? (size_t)c->skip : c->rx_len;

			consume_rx(c, k);
			c->skip -= k;
			if (c->skip)
				return;
		}
		if (!c->rx_len)
			return;
		n = http_parse_request(c->rx, c->rx_len, &req);
		if (n == 0) {
			/* Incomplete: a head that does not fit is refused. */
			if (c->rx_len >= o->max_request) {
				queue_resp(sv, c, 431, false, true);
				c->closing = true;
			} else if (c->eof) {
				c->closing = true; /* a request cut short: nothing to answer */
			}
			return;
		}
		if (n < 0) {
			queue_resp(sv, c, req.status, false, true);
			c->closing = true;
			return;
		}
		status = req.status ? req.status : http_route(&req, o->path);
		queue_resp(sv, c, status, req.method == HTTP_HEAD, req.close);
		consume_rx(c, (size_t)n);
		c->head_ns = 0; /* the next request's clock starts at its first byte */
		c->skip = req.content_length;
		if (req.close)
			c->closing = true;
	}
}

/* Send what the queue holds: false if the connection failed. */
static bool pump(struct server *sv, struct hconn *c)
{
	while (c->qn) {
		struct resp *r = &c->q[c->qhead];
		const uint8_t *p;
		size_t len, hrest = r->hlen - r->hsent;
		long n;

		if (hrest) {
			/* The head and the first body bytes in one segment. */
			size_t b = r->blen - r->bsent < SCRATCH - hrest ? r->blen - r->bsent
									: SCRATCH - hrest;

			memcpy(sv->scratch, r->hdr + r->hsent, hrest);
			if (b)
				memcpy(sv->scratch + hrest, r->body + r->bsent, b);
			p = sv->scratch;
			len = hrest + b;
		} else if (r->bsent < r->blen) {
			p = r->body + r->bsent;
			len = r->blen - r->bsent < SEND_CHUNK ? r->blen - r->bsent : SEND_CHUNK;
		} else {
			len = 0;
			p = NULL;
		}
		if (len) {
			n = usnet_tcp_send(c->s, p, len);
			if (n == -EAGAIN)
				return true;
			if (n < 0)
				return false;
			sv->bytes_out += (uint64_t)n;
			if ((size_t)n <= hrest) {
				r->hsent += (uint32_t)n;
			} else {
				r->bsent += (uint64_t)n - hrest;
				r->hsent = r->hlen;
			}
			if ((size_t)n < len)
				return true;
			if (r->hsent < r->hlen || r->bsent < r->blen)
				continue;
		}
		c->qhead = (c->qhead + 1) % RESP_QUEUE;
		c->qn--;
		if (r->close) {
			c->closing = true;
			c->qn = 0; /* nothing is queued after a close */
		}
	}
	return true;
}

/* Read into the request buffer (or, closing, away): false if the connection failed. */
static bool read_in(struct server *sv, struct hconn *c, unsigned *moved)
{
	const struct opts *o = sv->o;

	for (int i = 0; i < 8 && !c->eof; i++) {
		uint8_t *dst = c->rx + c->rx_len;
		size_t room = o->max_request - c->rx_len;
		long n;

		if (c->closing) {
			dst = sv->scratch; /* drained and dropped */
			room = SCRATCH;
		} else if (!room || c->qn == RESP_QUEUE) {
			return true; /* held back until responses leave */
		}
		n = usnet_tcp_recv(c->s, dst, room);
		if (n == -EAGAIN)
			return true;
		if (n == 0) {
			c->eof = true;
			return true;
		}
		if (n < 0)
			return false;
		sv->bytes_in += (uint64_t)n;
		*moved += 1;
		if (!c->closing) {
			c->rx_len += (size_t)n;
			parse_requests(sv, c);
		}
	}
	return true;
}

static void conn_free(struct server *sv, struct hconn *c)
{
	struct hconn *last = sv->open[--sv->nopen];

	last->slot = c->slot;
	sv->open[c->slot] = last;
	free(c->rx);
	free(c);
}

/*
 * End a connection, counted in *counter: closed cleanly, or by the head or
 * idle timeout (given back to the stack, which sends what is queued, then
 * FIN); or reset: failed, its linger over, open at exit.
 */
static void conn_end(struct server *sv, struct hconn *c, uint64_t *counter)
{
	bool timer = counter == &sv->head_timeouts || counter == &sv->idle_timeouts;

	(*counter)++;
	if (timer)
		sv->timeouts++;
	if (timer || counter == &sv->closed)
		usnet_tcp_close(c->s);
	else
		usnet_tcp_abort(c->s);
	conn_free(sv, c);
}

/*
 * The head timeout: a request head, or the body of a refused request being
 * skipped, must be whole --head-timeout after its first byte; a client that
 * trickles it would hold a connection slot for ever ("slowloris"). Past it:
 * 408 (RFC 9110 15.5.9) unless the request was answered already, and close.
 */
static void head_clock(struct server *sv, struct hconn *c, uint64_t now)
{
	bool receiving = !c->closing && (c->skip || (c->rx_len && c->qn < RESP_QUEUE));

	if (!receiving) {
		c->head_ns = 0;
		return;
	}
	if (!c->head_ns) {
		c->head_ns = now;
		return;
	}
	if (now - c->head_ns < sv->o->head_ns)
		return;
	if (!c->skip)
		queue_resp(sv, c, 408, false, true);
	c->closing = true;
	c->head_late = true;
}

/* One connection's turn: how much it did (0: idle). */
static unsigned conn_step(struct server *sv, struct hconn *c, uint64_t now)
{
	unsigned moved = 0;
	uint64_t before = sv->bytes_out;

	if (!read_in(sv, c, &moved) || !pump(sv, c)) {
		conn_end(sv, c, &sv->errors);
		return 1;
	}
	parse_requests(sv, c); /* room freed in the queue */
	if (!pump(sv, c)) {
		conn_end(sv, c, &sv->errors);
		return 1;
	}
	moved += sv->bytes_out != before;
	if (moved)
		c->last_ns = now;
	/* The peer's FIN: answer what is complete (the queue may hold it back), then close. */
	if (c->eof && !c->closing) {
		parse_requests(sv, c);
		if (c->qn < RESP_QUEUE)
			c->closing = true;
	}
	head_clock(sv, c, now);
	/* Timed out: once its answer is with the stack, the slot is free (no linger). */
	if (c->head_late && !c->qn) {
		conn_end(sv, c, &sv->head_timeouts);
		return 1;
	}
	/* Closing: once the queue is empty, FIN; then the peer's FIN, or the linger. */
	if (c->closing && !c->qn && !c->wr_shut) {
		c->wr_shut = true;
		c->linger_end = now + CLOSE_LINGER_NS;
		if (usnet_tcp_shutdown(c->s, USNET_SHUT_WR)) {
			conn_end(sv, c, &sv->errors);
			return 1;
		}
	}
	if (c->wr_shut && c->eof) {
		conn_end(sv, c, &sv->closed);
		return 1;
	}
	if (c->wr_shut && now >= c->linger_end) {
		conn_end(sv, c, &sv->timeouts);
		return 1;
	}
	/* Nothing moved either way: idle between requests, or a client that reads nothing. */
	if (!c->wr_shut && now - c->last_ns >= sv->o->idle_ns) {
		conn_end(sv, c, &sv->idle_timeouts);
		return 1;
	}
	return moved;
}

static unsigned accept_conns(struct server *sv, uint64_t now)
{
	unsigned n = 0;

	while (sv->nopen < sv->o->max_conns) {
		struct usnet_tcp *s;
		struct hconn *c;

		if (usnet_tcp_accept(sv->listener, &s, NULL, NULL))
			break;
		sv->accepted++;
		c = calloc(1, sizeof(*c));
		if (c)
			c->rx = malloc(sv->o->max_request);
		if (!c || !c->rx || usnet_tcp_set_nodelay(s, true)) {
			if (c)
				free(c->rx);
			free(c);
			usnet_tcp_abort(s);
			sv->errors++;
			continue;
		}
		c->s = s;
		c->last_ns = now;
		c->slot = sv->nopen;
		sv->open[sv->nopen++] = c;
		if (sv->nopen > sv->max_open)
			sv->max_open = sv->nopen;
		n++;
	}
	return n;
}

static void serve(struct server *sv)
{
	const struct opts *o = sv->o;
	struct tool_host_idle idle = {.spin = o->sleep ? 16 : UINT32_MAX};
	struct tool_run run;

	tool_run_start(&run, o->std->duration_ns, true);
	for (;;) {
		unsigned handled = (unsigned)usnet_stack_poll(sv->host->stack);
		uint64_t now = usnet_now_ns();

		if (tool_run_over(&run, now))
			break;
		handled += accept_conns(sv, now);
		/* Backwards: conn_free() moves the last connection into a freed slot. */
		for (uint32_t i = sv->nopen; i-- > 0;)
			handled += conn_step(sv, sv->open[i], now);
		tool_host_idle(sv->host, &idle, handled, 10);
	}
	while (sv->nopen)
		conn_end(sv, sv->open[sv->nopen - 1], &sv->at_exit);
}

static void report(const struct server *sv, double secs)
{
	const struct opts *o = sv->o;

	if (o->std->json) {
		struct tool_json j;
		char code[8];

		tool_host_json_begin(&j, &o->hr, false);
		tool_json_u64(&j, "listen", o->port);
		tool_json_str(&j, "path", o->path);
		tool_json_u64(&j, "body_bytes", sv->body_len);
		tool_json_f64(&j, "seconds", secs, 3);
		tool_json_u64(&j, "requests", sv->requests);
		tool_json_open(&j, "status", '{');
		for (unsigned i = 0; i < ST_N; i++) {
			snprintf(code, sizeof(code), "%d", st_codes[i]);
			tool_json_u64(&j, code, sv->status[i]);
		}
		tool_json_close(&j, '}');
		tool_json_open(&j, "conns", '{');
		tool_json_u64(&j, "accepted", sv->accepted);
		tool_json_u64(&j, "closed", sv->closed);
		tool_json_u64(&j, "errors", sv->errors);
		tool_json_u64(&j, "timeouts", sv->timeouts);
		tool_json_u64(&j, "head_timeouts", sv->head_timeouts);
		tool_json_u64(&j, "idle_timeouts", sv->idle_timeouts);
		tool_json_u64(&j, "open_at_exit", sv->at_exit);
		tool_json_u64(&j, "max_open", sv->max_open);
		tool_json_close(&j, '}');
		tool_json_u64(&j, "bytes_in", sv->bytes_in);
		tool_json_u64(&j, "bytes_out", sv->bytes_out);
		tool_host_json(&j, sv->host);
		tool_json_end(&j);
		return;
	}
	tool_msg("%llu requests in %.1f s (200: %llu, 400: %llu, 404: %llu, 405: %llu, 408: %llu, "
		 "431: %llu, 501: %llu, 505: %llu); connections: %llu accepted, %llu closed, %llu "
		 "reset or failed, %llu timed out (head %llu, idle %llu), %llu open at the end, "
		 "%llu open at most; %llu bytes in, %llu out",
		 (unsigned long long)sv->requests, secs, (unsigned long long)sv->status[ST_200],
		 (unsigned long long)sv->status[ST_400], (unsigned long long)sv->status[ST_404],
		 (unsigned long long)sv->status[ST_405], (unsigned long long)sv->status[ST_408],
		 (unsigned long long)sv->status[ST_431], (unsigned long long)sv->status[ST_501],
		 (unsigned long long)sv->status[ST_505], (unsigned long long)sv->accepted,
		 (unsigned long long)sv->closed, (unsigned long long)sv->errors,
		 (unsigned long long)sv->timeouts, (unsigned long long)sv->head_timeouts,
		 (unsigned long long)sv->idle_timeouts, (unsigned long long)sv->at_exit,
		 (unsigned long long)sv->max_open, (unsigned long long)sv->bytes_in,
		 (unsigned long long)sv->bytes_out);
}

static int run(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;
	struct server *sv = calloc(1, sizeof(*sv));
	uint64_t start = usnet_now_ns();
	int status, err;

	if (!sv) {
		tool_msg("out of memory");
		return TOOL_EXIT_FAIL;
	}
	sv->o = o;
	sv->host = &o->hr.host;
	status = load_body(sv);
	if (status)
		goto out;
	build_ok_heads(sv);
	sv->open = calloc(o->max_conns, sizeof(*sv->open));
	err = sv->open ? usnet_tcp_open(sv->host->stack, &sv->listener, NULL) : -ENOMEM;
	if (!err)
		err = usnet_tcp_bind(sv->listener, 0, o->port);
	if (!err)
		err = usnet_tcp_listen(sv->listener, 1024);
	if (err) {
		tool_msg("cannot listen on %s:%u: %s", o->hr.opts.ip_str, o->port, strerror(-err));
		status = TOOL_EXIT_FAIL;
		goto out;
	}
	if (!std->quiet)
		tool_msg("serving %llu bytes at http://%s:%u%s on '%s' (%s)",
			 (unsigned long long)sv->body_len, o->hr.opts.ip_str, o->port, o->path,
			 o->hr.opts.spec, sv->host->mac_str);
	serve(sv);
	report(sv, usnet_ns_to_s(usnet_now_ns() - start));
out:
	if (sv->listener)
		usnet_tcp_close(sv->listener);
	free(sv->open);
	free(sv->body);
	free(sv);
	return status;
}

static const struct tool_def httpd = {
    TOOL_HOST_DEF("usnet-httpd", "the port to serve on",
		  TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON),
    .short_opts = "l:",
};

int main(int argc, char **argv)
{
	struct opts o = {
	    .port = 80,
	    .path = "/",
	    .max_conns = 1024,
	    .max_request = DEFAULT_MAX_HEAD,
	    .head_ns = DEFAULT_HEAD_S * USNET_NSEC_PER_SEC,
	    .idle_ns = DEFAULT_IDLE_S * USNET_NSEC_PER_SEC,
	};

	return tool_main(&httpd, &o, argc, argv);
}
