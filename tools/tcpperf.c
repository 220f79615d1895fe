/* SPDX-License-Identifier: MIT */
/*
 * usnet-tcpperf: TCP bulk transfer and request/response over usnet's stack
 * (include/usnet/tcp.h), as client or server, against another
 * usnet-tcpperf or the kernel peer tcp_kpeer. The bytes sent are the
 * shared stream of tools/tcp_pattern.h, so both ends can print the same
 * SHA-256 (--sha256) or check every byte (--verify) without storing data.
 *
 * One loop runs everything: poll the stack, accept, then let each
 * connection move what it can (conn_step()); connections are a fixed
 * table of --conns slots.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/tcp.h>

#include "sha256.h"
#include "stack_tool.h"
#include "tcp_pattern.h"

#define SCRATCH		(64 * 1024) /* bytes moved per send/recv call at most */
#define MAX_CONNS	100000
#define MAX_RR_SIZE	(1u << 20)
#define SAMPLES_CAP	(1u << 24)
#define LINGER_NS	(2 * USNET_NSEC_PER_SEC) /* for our FIN's ACK at exit */
#define DEFAULT_SECONDS 10
#define DRAIN_NS	(30 * USNET_NSEC_PER_SEC) /* after -t: the peer's FINs at most */
#define DRAIN_SIGNAL_NS (5 * USNET_NSEC_PER_SEC)  /* after SIGINT/SIGTERM */
#define MAX_MSGS	10			  /* connection failures printed */
#define DEFAULT_RR_S	10			  /* --rr-timeout */

static const char help_head[] =
    "NAME\n"
    "       usnet-tcpperf - TCP throughput and request/response latency on usnet's stack\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-tcpperf -p SPEC --ip ADDR[/PREFIX] [--gw ADDR] [--mac MAC] [--mtu N]\n"
    "                     (-l PORT | -c DEST:PORT) [-m send|recv|rr] [-n BYTES]\n"
    "                     [-t SECONDS] [-s BYTES] [--cc cubic|newreno] [--nodelay]\n"
    "                     [--sndbuf BYTES] [--rcvbuf BYTES] [-i SECONDS] [--sha256]\n"
    "                     [--verify] [--conns N] [--one-off] [--keepalive SECONDS]\n"
    "                     [--retries N] [--rr-timeout SECONDS] [--zero-copy] [--sleep]\n"
    "                     [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Makes port SPEC a host with address ADDR, running usnet's stack, and\n"
    "       either listens for TCP connections on PORT (-l, the server) or opens\n"
    "       them to DEST:PORT (-c, the client). Then on each connection:\n"
    "\n"
    "       send   write the data stream, then shut down writing (FIN) and wait\n"
    "              for the peer's FIN.\n"
    "       recv   read the stream to its end, then close.\n"
    "       rr     request/response: the client sends a request of -s bytes and\n"
    "              waits for the server's response of -s bytes, one at a time;\n"
    "              the latency of each is recorded (p50, p99, p99.9). Both ends\n"
    "              need the same -s: the bytes carry no sizes, so a request or\n"
    "              response left unfinished for --rr-timeout fails the\n"
    "              connection, naming the -s to check. (A client -s that is a\n"
    "              multiple of the server's is not caught: each of its requests\n"
    "              gets as many responses as fill it.)\n"
    "\n"
    "       The default is send for the client and recv for the server. The\n"
    "       stream is a deterministic pseudo-random byte pattern (xorshift64*\n"
    "       seeded with 0x75736e6574, tools/tcp_pattern.h), the same at every\n"
    "       end and in tcp_kpeer, so --sha256 prints the same digest at both\n"
    "       ends of a complete transfer.\n"
    "\n"
    "       A transfer is complete when every byte was moved and the stream\n"
    "       ended with a FIN both ways. The server serves connections until\n"
    "       SIGINT/SIGTERM, -t, or (--one-off) until --conns of them ended; the\n"
    "       client stops sending at -n or -t, or at SIGINT/SIGTERM, and waits 30 s\n"
    "       (5 s after a signal) for its peers to end their streams. It busy-polls\n"
    "       unless --sleep.\n"
    "\n"
    "OPTIONS\n" TOOL_HOST_HELP "       -l, --listen PORT\n"
    "              Server: accept connections on PORT, 1 to 65535.\n"
    "       -c, --connect DEST:PORT\n"
    "              Client: connect to DEST:PORT.\n"
    "       -m, --mode send|recv|rr\n"
    "              What this end does; see above. Default: send (client), recv\n"
    "              (server). In rr mode both ends must say rr.\n"
    "       -n, --bytes BYTES\n"
    "              send: write BYTES bytes, then shut down writing. recv: expect\n"
    "              exactly BYTES bytes (fewer or more is a failure). rr client:\n"
    "              send BYTES bytes of requests per connection (BYTES/-s\n"
    "              requests). Default: no limit (send and rr clients: -t 10).\n"
    "       -t, --time SECONDS\n"
    "              Client: stop sending (send, rr) after SECONDS; a receiving\n"
    "              client or a server stops then and counts connections still open\n"
    "              as failed. Default: no limit (with -n).\n"
    "       -s, --size BYTES\n"
    "              rr: request and response size, 1 to 1M; give both ends the same.\n"
    "              Default: 64.\n"
    "       --rr-timeout SECONDS\n"
    "              rr: fail a connection when a request (server) or its response\n"
    "              (client) is unfinished and nothing more arrives for SECONDS;\n"
    "              it then closes with a FIN, so that the other end names its\n"
    "              side too. Default: 10.\n"
    "       --cc cubic|newreno\n"
    "              Congestion control of every connection. Default: the stack's\n"
    "              (cubic).\n"
    "       --nodelay\n"
    "              Send small segments at once (Nagle's algorithm off).\n"
    "       --sndbuf BYTES, --rcvbuf BYTES\n"
    "              Send and receive buffer of each connection, 4K to 1G. Default:\n"
    "              the stack's (1M).\n"
    "       -i, --interval SECONDS\n"
    "              A progress line on stderr every SECONDS: Gbit/s, retransmits,\n"
    "              congestion window, smoothed round trip. Default: 1.\n"
    "       --sha256\n"
    "              Print \"sha256 HEX\" on stdout for every connection: the digest of\n"
    "              the bytes it sent (send), or received (recv, and rr at both ends).\n"
    "       --verify\n"
    "              Compare every byte received with the stream; the first one that\n"
    "              differs ends the connection with an error naming its offset.\n"
    "       --conns N\n"
    "              Server: serve up to N connections at once. Client: open N\n"
    "              connections in parallel, each doing the whole transfer. 1 to\n"
    "              100000. Default: 1.\n"
    "       --one-off\n"
    "              Server: exit after --conns connections have ended.\n"
    "       --keepalive SECONDS\n"
    "              Probe an idle connection after SECONDS, then every second; three\n"
    "              probes unanswered end it (a peer that vanished). Default: off.\n"
    "       --retries N\n"
    "              Retransmissions of a segment before the connection times out, 1\n"
    "              to 100. Default: the stack's (15, many minutes).\n"
    "       --sleep\n"
    "              Sleep in the stack's wait when idle instead of "
    "busy-polling.\n" TOOL_HELP_QUIET_JSON_HELP "\n"
    "       BYTES take a suffix: K (x1024), M (x1024^2), G (x1024^3).\n";

static const char help_tail[] =
    "\n"
    "       usnet-tcpperf exits 1 when a connection failed (refused, reset, timed\n"
    "       out, a --verify mismatch, or -n bytes not all moved) or did not end\n"
    "       with a FIN both ways.\n"
    "\n"
    "OUTPUT\n"
    "       Each interval on stderr: seconds, Gbit/s over the interval and the\n"
    "       bytes so far, connections open, retransmits so far, the mean\n"
    "       congestion window and smoothed round trip of the open connections\n"
    "       (rr: requests per second). At the end a summary line on stderr, or\n"
    "       with --json one object on stdout: tool, role, mode, port, ip,\n"
    "       peer, conns, completed, failed, error, seconds, bytes (in the\n"
    "       mode's direction: sent for send, received for recv, requests and\n"
    "       responses for rr), bytes_sent, bytes_received, gbps, retransmits,\n"
    "       rtt_us, cwnd, requests, p50_us, p99_us, p999_us (rr), sha256 (an\n"
    "       array, with --sha256; then no \"sha256\" lines), stack, port_stats.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-tcpperf -p afpacket:veth0 --ip 198.18.0.1/24 -l 5001 --sha256\n"
    "       usnet-tcpperf -p afpacket:veth1 --ip 198.18.0.2/24 -c 198.18.0.1:5001 \\\n"
    "                     -n 1G --sha256\n"
    "       usnet-tcpperf -p afpacket:veth1 --ip 198.18.0.2/24 -c 198.18.0.1:5001 \\\n"
    "                     -m rr -s 64 -t 5 --conns 4 --json\n";

enum mode { MODE_SEND, MODE_RECV, MODE_RR };
static const char *const mode_names[] = {"send", "recv", "rr"};

enum {
	OPT_CC = TOOL_HOST_OPT_END,
	OPT_NODELAY,
	OPT_SNDBUF,
	OPT_RCVBUF,
	OPT_SHA256,
	OPT_VERIFY,
	OPT_CONNS,
	OPT_ONE_OFF,
	OPT_KEEPALIVE,
	OPT_RETRIES,
	OPT_SLEEP,
	OPT_ZERO_COPY,
	OPT_RR_TIMEOUT,
};

static const struct option long_opts[] = {
    TOOL_HOST_LONG_OPTS,
    {"listen", required_argument, NULL, 'l'},
    {"connect", required_argument, NULL, 'c'},
    {"mode", required_argument, NULL, 'm'},
    {"bytes", required_argument, NULL, 'n'},
    {"size", required_argument, NULL, 's'},
    {"interval", required_argument, NULL, 'i'},
    {"cc", required_argument, NULL, OPT_CC},
    {"nodelay", no_argument, NULL, OPT_NODELAY},
    {"sndbuf", required_argument, NULL, OPT_SNDBUF},
    {"rcvbuf", required_argument, NULL, OPT_RCVBUF},
    {"sha256", no_argument, NULL, OPT_SHA256},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"conns", required_argument, NULL, OPT_CONNS},
    {"one-off", no_argument, NULL, OPT_ONE_OFF},
    {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
    {"retries", required_argument, NULL, OPT_RETRIES},
    {"sleep", no_argument, NULL, OPT_SLEEP},
    {"zero-copy", no_argument, NULL, OPT_ZERO_COPY},
    {"rr-timeout", required_argument, NULL, OPT_RR_TIMEOUT},
    {NULL, 0, NULL, 0}, /* end of table (getopt_long(3)) */
};

struct opts {
	struct tool_host_run hr; /* first: tool_host_run_open() and _close() */
	const struct tool_std *std;
	bool server, client;
	uint16_t port; /* -l, or -c's */
	uint32_t dest_ip;
	char peer_str[24];
	enum mode mode;
	bool mode_set;
	uint64_t bytes; /* -n; 0: none */
	uint32_t size;
	int cc; /* -1: the stack's */
	bool nodelay, sha256, verify, one_off, sleep, zero_copy;
	uint32_t sndbuf, rcvbuf, conns, keepalive_s, retries;
	uint64_t interval_ns;
	uint64_t rr_timeout_ns;
	bool rr_timeout_set;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	if (tool_host_opt(&o->hr.opts, c, arg))
		return;
	switch (c) {
	case 'l':
		o->server = true;
		o->port = (uint16_t)tool_arg_u64("-l", arg, 1, 65535);
		break;
	case 'c':
		o->client = true;
		tool_arg_addr_port("-c", arg, &o->dest_ip, &o->port);
		break;
	case 'm':
		for (o->mode = MODE_SEND; o->mode <= MODE_RR; o->mode++)
			if (!strcmp(arg, mode_names[o->mode]))
				break;
		if (o->mode > MODE_RR)
			tool_usage_error("invalid -m '%.*s%s': send, recv or rr",
					 TOOL_ECHO_ARGS(arg));
		o->mode_set = true;
		break;
	case 'n':
		o->bytes = tool_arg_bytes("-n", arg, 1, UINT64_MAX);
		break;
	case 's':
		o->size = (uint32_t)tool_arg_bytes("-s", arg, 1, MAX_RR_SIZE);
		break;
	case 'i':
		o->interval_ns = tool_arg_seconds("-i", arg);
		break;
	case OPT_CC:
		if (!strcmp(arg, "cubic"))
			o->cc = USNET_TCP_CC_CUBIC;
		else if (!strcmp(arg, "newreno"))
			o->cc = USNET_TCP_CC_NEWRENO;
		else
			tool_usage_error("invalid --cc '%.*s%s': cubic or newreno",
					 TOOL_ECHO_ARGS(arg));
		break;
	case OPT_NODELAY:
		o->nodelay = true;
		break;
	case OPT_SNDBUF:
		o->sndbuf = (uint32_t)tool_arg_bytes("--sndbuf", arg, 4096, 1u << 30);
		break;
	case OPT_RCVBUF:
		o->rcvbuf = (uint32_t)tool_arg_bytes("--rcvbuf", arg, 4096, 1u << 30);
		break;
	case OPT_SHA256:
		o->sha256 = true;
		break;
	case OPT_VERIFY:
		o->verify = true;
		break;
	case OPT_CONNS:
		o->conns = (uint32_t)tool_arg_u64("--conns", arg, 1, MAX_CONNS);
		break;
	case OPT_ONE_OFF:
		o->one_off = true;
		break;
	case OPT_KEEPALIVE:
		o->keepalive_s = (uint32_t)tool_arg_u64("--keepalive", arg, 1, 86400);
		break;
	case OPT_RETRIES:
		o->retries = (uint32_t)tool_arg_u64("--retries", arg, 1, 100);
		break;
	case OPT_SLEEP:
		o->sleep = true;
		break;
	case OPT_ZERO_COPY:
		o->zero_copy = true;
		break;
	case OPT_RR_TIMEOUT:
		o->rr_timeout_ns = tool_arg_seconds("--rr-timeout", arg);
		o->rr_timeout_set = true;
		break;
	}
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;
	char ip[16];

	o->std = std;
	if (o->server == o->client)
		tool_usage_error(o->server ? "-l and -c: give one (server or client)"
					   : "missing -l PORT (server) or -c DEST:PORT (client)");
	if (!o->mode_set)
		o->mode = o->client ? MODE_SEND : MODE_RECV;
	if (o->one_off && o->client)
		tool_usage_error("--one-off is for the server (-l)");
	if (o->rr_timeout_set && o->mode != MODE_RR)
		tool_usage_error("--rr-timeout is for -m rr");
	if (o->server && o->bytes && o->mode == MODE_RR)
		tool_usage_error("-n with -m rr is for the client: the server answers what comes");
	if (o->client && o->mode != MODE_RECV && !o->bytes && !std->duration_ns)
		std->duration_ns = DEFAULT_SECONDS * USNET_NSEC_PER_SEC;
	if (o->client && o->mode == MODE_RR && o->bytes && o->bytes % o->size)
		tool_usage_error("-n %llu is not a multiple of -s %u (whole requests)",
				 (unsigned long long)o->bytes, o->size);
	tool_host_check(&o->hr.opts, std);
	/* The stack's TCP settings from the options. */
	o->hr.conf.tcp_retries = o->retries;
	tool_host_tcp_room(&o->hr.conf, o->conns);
	if (o->client)
		snprintf(o->peer_str, sizeof(o->peer_str), "%s:%u", tool_ip_str(o->dest_ip, ip),
			 o->port);
	else
		snprintf(o->peer_str, sizeof(o->peer_str), "%s:%u", o->hr.opts.ip_str, o->port);
}

struct conn {
	struct usnet_tcp *s;
	bool used, established, wr_shut, eof, done, failed;
	bool fin_on_fail; /* conn_fail() closes with a FIN, not a reset */
	struct tcp_pattern tx, rx;
	struct sha256 sha;
	uint64_t sent, received;
	uint64_t start_ns, end_ns;
	/* rr */
	bool busy;		    /* client: a request is out */
	uint64_t req_left;	    /* client: bytes of the request still to send */
	uint64_t got;		    /* client: response bytes; server: request bytes */
	uint64_t resp_left;	    /* server: response bytes owed */
	uint64_t t0;		    /* client: when the request started */
	uint64_t rr_ns;		    /* when bytes last moved (--rr-timeout) */
	struct usnet_tcp_info info; /* at the end */
};

struct perf {
	const struct opts *o;
	struct tool_host *host;
	struct usnet_tcp *listener;
	struct conn *c;
	uint32_t nslots, open, started, completed, failed;
	bool stopping; /* no new requests or bytes: -t, a signal */
	const char *stop;
	uint8_t *scratch;
	uint64_t sent, received, requests, retransmits_done;
	uint64_t *lat;
	size_t nlat, lat_room;
	char **sha; /* --sha256 --json: the digests, sha_room at most */
	size_t nsha, sha_room;
	const char *error; /* the first connection's failure, for the summary */
	char error_buf[160];
	uint64_t start_ns, first_ns, last_ns;
};

static void add_sample(struct perf *pf, uint64_t ns)
{
	if (pf->nlat == pf->lat_room) {
		size_t room = pf->lat_room ? 2 * pf->lat_room : 65536;
		uint64_t *v;

		if (pf->lat_room >= SAMPLES_CAP || !(v = realloc(pf->lat, room * sizeof(*v))))
			return;
		pf->lat = v;
		pf->lat_room = room;
	}
	pf->lat[pf->nlat++] = ns;
}

static unsigned conn_index(const struct perf *pf, const struct conn *c)
{
	return (unsigned)(c - pf->c);
}

static void conn_fail(struct perf *pf, struct conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* End a connection with a reset, recording why. */
static void conn_fail(struct perf *pf, struct conn *c, const char *fmt, ...)
{
	char why[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	usnet_tcp_info(c->s, &c->info);
	c->done = c->failed = true;
	c->end_ns = usnet_now_ns();
	pf->failed++;
	if (!pf->error) {
		snprintf(pf->error_buf, sizeof(pf->error_buf), "connection %u: %s",
			 conn_index(pf, c), why);
		pf->error = pf->error_buf;
	}
	pf->retransmits_done += c->info.retransmits;
	if (pf->failed <= MAX_MSGS)
		tool_msg("connection %u with %s: %s%s", conn_index(pf, c), pf->o->peer_str, why,
			 pf->failed == MAX_MSGS ? " (no more of these messages)" : "");
	if (c->fin_on_fail)
		usnet_tcp_close(c->s);
	else
		usnet_tcp_abort(c->s);
	c->s = NULL;
	pf->open--;
}

static void conn_digest(struct perf *pf, struct conn *c)
{
	char hex[SHA256_HEX];

	if (!pf->o->sha256)
		return;
	sha256_hex(&c->sha, hex);
	if (pf->o->std->json) {
		if (pf->nsha < pf->sha_room && (pf->sha[pf->nsha] = strdup(hex)))
			pf->nsha++;
	} else {
		printf("sha256 %s\n", hex);
		fflush(stdout);
	}
}

/* The stream ended both ways: the transfer is complete. */
static void conn_complete(struct perf *pf, struct conn *c)
{
	usnet_tcp_info(c->s, &c->info);
	c->done = true;
	c->end_ns = usnet_now_ns();
	pf->completed++;
	pf->open--;
	pf->retransmits_done += c->info.retransmits;
	conn_digest(pf, c);
	/* A server goes on: the stack finishes the close (LAST_ACK, TIME_WAIT).
	 * A client keeps the handle to linger for the last ACK (linger()). */
	if (pf->o->server) {
		usnet_tcp_close(c->s);
		c->s = NULL;
	}
}

/* Hash and check n received bytes at p. */
static bool conn_take(struct perf *pf, struct conn *c, const uint8_t *p, size_t n)
{
	if (pf->o->sha256 && pf->o->mode != MODE_SEND)
		sha256_update(&c->sha, p, n);
	if (pf->o->verify) {
		uint64_t at = c->rx.offset;
		size_t bad = tcp_pattern_check(&c->rx, p, n);

		if (bad != n) {
			conn_fail(pf, c, "byte %llu differs from the stream (--verify)",
				  (unsigned long long)(at + bad));
			return false;
		}
	}
	c->received += n;
	pf->received += n;
	return true;
}

/*
 * --zero-copy: take the queued bytes where the stack holds them
 * (usnet_tcp_recv_peek()), then release them: how many, 0 if none, -1 if
 * the connection failed.
 */
static long recv_zero_copy(struct perf *pf, struct conn *c)
{
	struct usnet_tcp_iov iov[16];
	int k = usnet_tcp_recv_peek(c->s, iov, 16), err;
	size_t total = 0;

	if (k < 0) {
		conn_fail(pf, c, "receive (peek): %s", strerror(-k));
		return -1;
	}
	for (int i = 0; i < k; i++) {
		if (!conn_take(pf, c, iov[i].data, iov[i].len))
			return -1;
		total += iov[i].len;
	}
	err = total ? usnet_tcp_recv_consume(c->s, total) : 0;
	if (err) {
		conn_fail(pf, c, "receive (consume): %s", strerror(-err));
		return -1;
	}
	return (long)total;
}

/*
 * Read what is there (at most 16 calls): bytes moved, or 0. Sets c->eof at
 * the peer's FIN; a receive error fails the connection.
 */
static uint64_t conn_recv(struct perf *pf, struct conn *c)
{
	uint64_t moved = 0;

	for (int i = 0; i < 16 && !c->eof && !c->done; i++) {
		long n;

		if (pf->o->zero_copy) {
			long k = recv_zero_copy(pf, c);

			if (k) { /* bytes taken, or the connection failed */
				moved += k > 0 ? (uint64_t)k : 0;
				continue;
			}
			/* Nothing queued: recv() tells the end of the stream or an error. */
		}
		n = usnet_tcp_recv(c->s, pf->scratch, SCRATCH);

		if (n == -EAGAIN)
			break;
		if (n == 0) {
			c->eof = true;
			break;
		}
		if (n < 0) {
			conn_fail(pf, c, "receive: %s", strerror((int)-n));
			break;
		}
		if (!conn_take(pf, c, pf->scratch, (size_t)n))
			break;
		moved += (uint64_t)n;
	}
	return moved;
}

/* Send up to limit bytes of the stream in total: bytes moved. */
static uint64_t conn_send(struct perf *pf, struct conn *c, uint64_t limit)
{
	uint64_t moved = 0;

	while (c->sent < limit && !c->done) {
		size_t len = limit - c->sent < SCRATCH ? (size_t)(limit - c->sent) : SCRATCH;
		struct tcp_pattern save = c->tx;
		long n;

		tcp_pattern_fill(&c->tx, pf->scratch, len);
		n = usnet_tcp_send(c->s, pf->scratch, len);
		if (n < 0) {
			c->tx = save;
			if (n != -EAGAIN)
				conn_fail(pf, c, "send: %s", strerror((int)-n));
			break;
		}
		if ((size_t)n < len) {
			c->tx = save;
			tcp_pattern_skip(&c->tx, (uint64_t)n);
		}
		if (pf->o->sha256 && pf->o->mode == MODE_SEND)
			sha256_update(&c->sha, pf->scratch, (size_t)n);
		c->sent += (uint64_t)n;
		pf->sent += (uint64_t)n;
		moved += (uint64_t)n;
		if ((size_t)n < len)
			break;
	}
	return moved;
}

static void conn_shut(struct perf *pf, struct conn *c)
{
	int err = usnet_tcp_shutdown(c->s, USNET_SHUT_WR);

	c->wr_shut = true;
	if (err)
		conn_fail(pf, c, "shutdown: %s", strerror(-err));
}

/* send: the stream up to -n (or until stopping), FIN, then the peer's FIN. */
static uint64_t step_send(struct perf *pf, struct conn *c)
{
	const struct opts *o = pf->o;
	uint64_t limit = o->bytes ? o->bytes : UINT64_MAX, moved = 0;

	if (pf->stopping && c->sent < limit)
		limit = c->sent;
	if (!c->wr_shut) {
		moved += conn_send(pf, c, limit);
		if (!c->done && c->sent >= limit)
			conn_shut(pf, c);
	}
	if (!c->done)
		moved += conn_recv(pf, c);
	if (c->done || !c->eof)
		return moved;
	if (c->received)
		conn_fail(pf, c, "the peer sent %llu bytes in send mode",
			  (unsigned long long)c->received);
	else if (!c->wr_shut)
		conn_fail(pf, c, "the peer closed after %llu bytes", (unsigned long long)c->sent);
	else
		conn_complete(pf, c);
	return moved;
}

/* recv: read to the end of the stream, then FIN back. */
static uint64_t step_recv(struct perf *pf, struct conn *c)
{
	uint64_t bytes = pf->o->bytes, moved = conn_recv(pf, c);

	if (c->done)
		return moved;
	if (bytes && c->received > bytes) {
		conn_fail(pf, c, "received more than -n %llu bytes", (unsigned long long)bytes);
		return moved;
	}
	if (!c->eof)
		return moved;
	if (bytes && c->received != bytes) {
		conn_fail(pf, c, "the stream ended after %llu of %llu bytes",
			  (unsigned long long)c->received, (unsigned long long)bytes);
		return moved;
	}
	conn_shut(pf, c);
	if (!c->done)
		conn_complete(pf, c);
	return moved;
}

/*
 * rr: true if a message (request or response) is unfinished and nothing moved
 * for --rr-timeout; the bytes carry no sizes, so that is how -s differing
 * between the ends shows, instead of both waiting for ever.
 */
static bool rr_stalled(const struct perf *pf, struct conn *c, uint64_t moved, uint64_t now)
{
	if (moved || !c->rr_ns) {
		c->rr_ns = now;
		return false;
	}
	return now - c->rr_ns >= pf->o->rr_timeout_ns;
}

/* rr client: one request of -s bytes out, its response back, again. */
static uint64_t step_rr_client(struct perf *pf, struct conn *c, uint64_t now)
{
	const struct opts *o = pf->o;
	uint64_t moved = 0, before;

	if (!c->busy && !c->wr_shut) {
		if (pf->stopping || (o->bytes && c->sent >= o->bytes)) {
			conn_shut(pf, c);
		} else {
			c->busy = true;
			c->req_left = o->size;
			c->t0 = now;
		}
	}
	if (c->req_left && !c->done) {
		before = c->sent;
		moved += conn_send(pf, c, c->sent + c->req_left);
		c->req_left -= c->sent - before;
	}
	if (c->done)
		return moved;
	before = c->received;
	moved += conn_recv(pf, c);
	if (c->done)
		return moved;
	c->got += c->received - before;
	if (c->got > (c->busy ? o->size : 0)) {
		conn_fail(pf, c, "the server answered more than -s %u bytes (is its -s %u too?)",
			  o->size, o->size);
		return moved;
	}
	if (c->busy && c->got == o->size) {
		add_sample(pf, usnet_now_ns() - c->t0);
		pf->requests++;
		c->busy = false;
		c->got = 0;
	}
	if (c->eof) {
		if (c->busy)
			conn_fail(
			    pf, c,
			    "the server closed with a request unanswered (%llu of -s %u bytes "
			    "came: is the server's -s %u too?)",
			    (unsigned long long)c->got, o->size, o->size);
		else if (!c->wr_shut)
			conn_fail(pf, c, "the server closed with a request unanswered");
		else
			conn_complete(pf, c);
		return moved;
	}
	if (c->busy && !c->req_left && rr_stalled(pf, c, moved, now)) {
		/* A FIN, so that the server names its side of it (a reset would not). */
		c->fin_on_fail = true;
		conn_fail(pf, c,
			  "no more of the response for %g s: %llu of -s %u bytes came (is the "
			  "server's -s %u too?)",
			  usnet_ns_to_s(o->rr_timeout_ns), (unsigned long long)c->got, o->size,
			  o->size);
	}
	return moved;
}

/* rr server: answer each whole request of -s bytes with -s bytes. */
static uint64_t step_rr_server(struct perf *pf, struct conn *c, uint64_t now)
{
	uint32_t size = pf->o->size;
	uint64_t before = c->received, moved = conn_recv(pf, c);

	if (c->done)
		return moved;
	c->got += c->received - before;
	c->resp_left += c->got / size * size;
	pf->requests += c->got / size;
	c->got %= size;
	if (c->resp_left) {
		before = c->sent;
		moved += conn_send(pf, c, c->sent + c->resp_left);
		c->resp_left -= c->sent - before;
	}
	if (c->done)
		return moved;
	if (!c->eof) {
		if (!c->got) {
			c->rr_ns = 0; /* between requests: the client may think */
		} else if (rr_stalled(pf, c, moved, now)) {
			c->fin_on_fail = true; /* so that the client names its side */
			conn_fail(pf, c,
				  "no more of the request for %g s: %llu of -s %u bytes came (is "
				  "the client's -s %u too?)",
				  usnet_ns_to_s(pf->o->rr_timeout_ns), (unsigned long long)c->got,
				  size, size);
		}
		return moved;
	}
	if (c->resp_left)
		return moved;
	if (c->got)
		conn_fail(pf, c,
			  "the stream ended inside a request (%llu of -s %u bytes: is the client's "
			  "-s %u too?)",
			  (unsigned long long)c->got, size, size);
	else
		conn_shut(pf, c);
	if (!c->done)
		conn_complete(pf, c);
	return moved;
}

/* Options on a new connection (or the listener, which passes them on). */
static int conn_setup(const struct opts *o, struct usnet_tcp *s)
{
	int err = 0;

	if (o->cc >= 0)
		err = usnet_tcp_set_cc(s, (enum usnet_tcp_cc)o->cc);
	if (!err && o->nodelay)
		err = usnet_tcp_set_nodelay(s, true);
	if (!err && o->keepalive_s)
		err = usnet_tcp_set_keepalive(s, o->keepalive_s * 1000, 1000, 3);
	return err;
}

static void conn_init(struct perf *pf, struct conn *c, struct usnet_tcp *s, bool established)
{
	memset(c, 0, sizeof(*c));
	c->s = s;
	c->used = true;
	c->established = established;
	c->start_ns = usnet_now_ns();
	tcp_pattern_init(&c->tx, 0);
	tcp_pattern_init(&c->rx, 0);
	sha256_init(&c->sha);
	pf->open++;
	pf->started++;
	if (!pf->first_ns)
		pf->first_ns = c->start_ns;
}

/* One connection's turn: bytes moved. */
static uint64_t conn_step(struct perf *pf, struct conn *c, uint64_t now)
{
	if (!c->established) {
		int err = usnet_tcp_error(c->s);
		struct usnet_tcp_info info;

		if (err) {
			conn_fail(pf, c, "connect: %s", strerror(-err));
			return 0;
		}
		if (usnet_tcp_info(c->s, &info) || info.state < USNET_TCP_ESTABLISHED)
			return 0;
		c->established = true;
		c->start_ns = now;
	}
	switch (pf->o->mode) {
	case MODE_SEND:
		return step_send(pf, c);
	case MODE_RECV:
		return step_recv(pf, c);
	case MODE_RR:
		return pf->o->client ? step_rr_client(pf, c, now) : step_rr_server(pf, c, now);
	}
	return 0;
}

static int open_client_conns(struct perf *pf)
{
	const struct opts *o = pf->o;

	for (uint32_t i = 0; i < o->conns; i++) {
		struct usnet_tcp *s;
		int err = usnet_tcp_open(pf->host->stack, &s, NULL);

		if (!err)
			err = usnet_tcp_set_bufs(s, o->sndbuf, o->rcvbuf);
		if (!err)
			err = conn_setup(o, s);
		if (!err) {
			err = usnet_tcp_connect(s, o->dest_ip, o->port);
			err = err == -EINPROGRESS ? 0 : err;
		}
		if (err) {
			tool_msg("cannot connect to %s: %s", o->peer_str, strerror(-err));
			return TOOL_EXIT_FAIL;
		}
		conn_init(pf, &pf->c[i], s, false);
	}
	return 0;
}

static int open_listener(struct perf *pf)
{
	const struct opts *o = pf->o;
	int err = usnet_tcp_open(pf->host->stack, &pf->listener, NULL);

	if (!err)
		err = usnet_tcp_set_bufs(pf->listener, o->sndbuf, o->rcvbuf);
	if (!err)
		err = usnet_tcp_bind(pf->listener, 0, o->port);
	if (!err)
		err = usnet_tcp_listen(pf->listener, o->conns < 128 ? 128 : o->conns);
	if (err) {
		tool_msg("cannot listen on %s: %s", o->peer_str, strerror(-err));
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

/* Take waiting connections into free slots: how many. */
static unsigned accept_conns(struct perf *pf)
{
	const struct opts *o = pf->o;
	unsigned n = 0;

	for (uint32_t i = 0; i < pf->nslots && pf->open < o->conns && !pf->stopping; i++) {
		struct usnet_tcp *s;
		struct conn *c = &pf->c[i];

		if (c->used && !c->done)
			continue;
		if (o->one_off && pf->started >= o->conns)
			break;
		if (usnet_tcp_accept(pf->listener, &s, NULL, NULL))
			break;
		conn_init(pf, c, s, true);
		if (conn_setup(o, s)) {
			conn_fail(pf, c, "cannot set its options");
			continue;
		}
		n++;
	}
	return n;
}

/* The progress line: sums and means over the open connections. */
static void progress(struct perf *pf, uint64_t now, uint64_t *line_ns, uint64_t *line_bytes,
		     uint64_t *line_reqs)
{
	const struct opts *o = pf->o;
	uint64_t bytes = pf->sent + pf->received, retrans = pf->retransmits_done;
	double dt = usnet_ns_to_s(now - *line_ns), cwnd = 0, rtt = 0;
	unsigned live = 0;
	char rr[64] = "";

	for (uint32_t i = 0; i < pf->nslots; i++) {
		struct usnet_tcp_info info;
		struct conn *c = &pf->c[i];

		if (!c->used)
			continue;
		if (c->done)
			continue;
		if (usnet_tcp_info(c->s, &info))
			continue;
		retrans += info.retransmits;
		cwnd += info.cwnd;
		rtt += info.rtt_us;
		live++;
	}
	if (live) {
		cwnd /= live;
		rtt /= live;
	}
	if (o->mode == MODE_RR)
		snprintf(rr, sizeof(rr), ", %.0f requests/s",
			 dt > 0 ? (double)(pf->requests - *line_reqs) / dt : 0.0);
	tool_msg("%.1f s | %.3f Gbit/s, total %llu B%s | conns %u, retransmits %llu, cwnd %.0f B, "
		 "rtt %.0f us",
		 usnet_ns_to_s(now - pf->start_ns),
		 dt > 0 ? (double)(bytes - *line_bytes) * 8 / dt / 1e9 : 0.0,
		 (unsigned long long)bytes, rr, pf->open, (unsigned long long)retrans, cwnd, rtt);
	*line_ns = now;
	*line_bytes = bytes;
	*line_reqs = pf->requests;
}

/* Everything over? */
static bool finished(const struct perf *pf)
{
	const struct opts *o = pf->o;

	if (o->client || pf->stopping)
		return pf->open == 0;
	if (o->one_off)
		return pf->started >= o->conns && pf->open == 0;
	return false;
}

static void fail_open(struct perf *pf, const char *why)
{
	for (uint32_t i = 0; i < pf->nslots; i++)
		if (pf->c[i].used && !pf->c[i].done)
			conn_fail(pf, &pf->c[i], "still open at the end (%s)", why);
}

/* Stop: no new bytes from senders; a server or receiving client fails what is open. */
static void stop_now(struct perf *pf, const char *why)
{
	const struct opts *o = pf->o;

	if (pf->stopping)
		return;
	pf->stopping = true;
	pf->stop = why;
	if (o->client && o->mode != MODE_RECV) {
		/* Senders finish what they send; a connect still pending fails now. */
		for (uint32_t i = 0; i < pf->nslots; i++)
			if (pf->c[i].used && !pf->c[i].done && !pf->c[i].established)
				conn_fail(pf, &pf->c[i],
					  "connect: not established at the stop (%s)", why);
		return;
	}
	fail_open(pf, why);
}

static void perf_loop(struct perf *pf)
{
	const struct opts *o = pf->o;
	struct tool_host_idle idle = {.spin = o->sleep ? 16 : UINT32_MAX};
	uint64_t now = usnet_now_ns(), line_ns = now, line_bytes = 0, line_reqs = 0;
	uint64_t next_line = now + o->interval_ns, drain_end = 0;
	struct tool_run run;

	tool_run_start(&run, o->std->duration_ns, true);
	pf->start_ns = now;
	while (!finished(pf)) {
		uint64_t handled = (uint64_t)usnet_stack_poll(pf->host->stack);

		now = usnet_now_ns();
		if (o->server)
			handled += accept_conns(pf);
		for (uint32_t i = 0; i < pf->nslots; i++)
			if (pf->c[i].used && !pf->c[i].done)
				handled += conn_step(pf, &pf->c[i], now);
		if (!pf->stopping && tool_run_over(&run, now)) {
			stop_now(pf, tool_stop ? "signal" : "time");
			drain_end = now + (tool_stop ? DRAIN_SIGNAL_NS : DRAIN_NS);
		}
		/* Senders wait for their peers' FINs, but not for ever. */
		if (drain_end && now >= drain_end)
			fail_open(pf,
				  tool_stop
				      ? "the peer did not end the stream within 5 s of the signal"
				      : "the peer did not end the stream within 30 s of the stop");
		if (now >= next_line) {
			if (!o->std->quiet)
				progress(pf, now, &line_ns, &line_bytes, &line_reqs);
			next_line = now + o->interval_ns;
		}
		tool_host_idle(pf->host, &idle, handled ? 1 : 0, 10);
	}
	pf->last_ns = usnet_now_ns();
	if (!pf->stop)
		pf->stop = "done";
}

/* Client: poll until our FINs are acknowledged (or LINGER_NS), then close. */
static void linger(struct perf *pf)
{
	uint64_t end = usnet_now_ns() + LINGER_NS;
	bool waiting = true;

	while (waiting && usnet_now_ns() < end) {
		usnet_stack_poll(pf->host->stack);
		waiting = false;
		for (uint32_t i = 0; i < pf->nslots; i++) {
			struct usnet_tcp_info info;
			struct conn *c = &pf->c[i];

			if (!c->s || usnet_tcp_info(c->s, &info))
				continue;
			if (info.state != USNET_TCP_CLOSED && info.state != USNET_TCP_TIME_WAIT)
				waiting = true;
		}
	}
	for (uint32_t i = 0; i < pf->nslots; i++)
		if (pf->c[i].s) {
			usnet_tcp_close(pf->c[i].s);
			pf->c[i].s = NULL;
		}
}

static uint64_t mode_bytes(const struct perf *pf)
{
	switch (pf->o->mode) {
	case MODE_SEND:
		return pf->sent;
	case MODE_RECV:
		return pf->received;
	default:
		return pf->sent + pf->received;
	}
}

/* Mean round trip and congestion window over the connections that ended. */
static void final_means(const struct perf *pf, double *rtt, double *cwnd)
{
	unsigned n = 0;

	*rtt = *cwnd = 0;
	for (uint32_t i = 0; i < pf->nslots; i++) {
		const struct conn *c = &pf->c[i];

		if (!c->used || !c->done)
			continue;
		*rtt += c->info.rtt_us;
		*cwnd += c->info.cwnd;
		n++;
	}
	if (n) {
		*rtt /= n;
		*cwnd /= n;
	}
}

static void report_json(const struct perf *pf, double secs, double gbps, double rtt, double cwnd,
			uint64_t p[3])
{
	const struct opts *o = pf->o;
	struct tool_json j;

	tool_json_begin(&j, stdout);
	tool_json_str(&j, "tool", tool_name);
	tool_json_str(&j, "role", o->server ? "server" : "client");
	tool_json_str(&j, "mode", mode_names[o->mode]);
	tool_json_str(&j, "port", o->hr.opts.spec);
	tool_json_str(&j, "ip", o->hr.opts.ip_str);
	tool_json_str(&j, "peer", o->peer_str);
	tool_json_u64(&j, "conns", pf->started);
	tool_json_u64(&j, "completed", pf->completed);
	tool_json_u64(&j, "failed", pf->failed);
	tool_json_str(&j, "stop", pf->stop);
	if (pf->error)
		tool_json_str(&j, "error", pf->error);
	else
		tool_json_null(&j, "error");
	tool_json_f64(&j, "seconds", secs, 6);
	tool_json_u64(&j, "bytes", mode_bytes(pf));
	tool_json_u64(&j, "bytes_sent", pf->sent);
	tool_json_u64(&j, "bytes_received", pf->received);
	tool_json_f64(&j, "gbps", gbps, 4);
	tool_json_u64(&j, "retransmits", pf->retransmits_done);
	tool_json_f64(&j, "rtt_us", rtt, 1);
	tool_json_f64(&j, "cwnd", cwnd, 0);
	if (o->mode == MODE_RR) {
		tool_json_u64(&j, "size", o->size);
		tool_json_u64(&j, "requests", pf->requests);
		if (o->client) {
			tool_json_f64(&j, "p50_us", (double)p[0] / 1e3, 3);
			tool_json_f64(&j, "p99_us", (double)p[1] / 1e3, 3);
			tool_json_f64(&j, "p999_us", (double)p[2] / 1e3, 3);
		}
	}
	if (o->sha256) {
		tool_json_open(&j, "sha256", '[');
		for (size_t i = 0; i < pf->nsha; i++)
			tool_json_str(&j, NULL, pf->sha[i]);
		tool_json_close(&j, ']');
	}
	tool_host_json(&j, pf->host);
	tool_json_end(&j);
}

static void report(struct perf *pf)
{
	const struct opts *o = pf->o;
	uint64_t from = pf->first_ns ? pf->first_ns : pf->start_ns, p[3];
	double secs = usnet_ns_to_s(pf->last_ns - from), rtt, cwnd;
	double gbps = secs > 0 ? (double)mode_bytes(pf) * 8 / secs / 1e9 : 0;

	tool_sort_u64(pf->lat, pf->nlat);
	p[0] = tool_percentile(pf->lat, pf->nlat, 50);
	p[1] = tool_percentile(pf->lat, pf->nlat, 99);
	p[2] = tool_percentile(pf->lat, pf->nlat, 99.9);
	final_means(pf, &rtt, &cwnd);
	if (o->std->json) {
		report_json(pf, secs, gbps, rtt, cwnd, p);
		return;
	}
	tool_msg("%s %s %s: %u connections, %u complete, %u failed; %llu bytes in %.3f s = "
		 "%.3f Gbit/s, %llu retransmits (stopped: %s)",
		 o->server ? "server" : "client", mode_names[o->mode], o->peer_str, pf->started,
		 pf->completed, pf->failed, (unsigned long long)mode_bytes(pf), secs, gbps,
		 (unsigned long long)pf->retransmits_done, pf->stop);
	if (o->mode == MODE_RR && o->client && pf->requests)
		tool_msg("rr %u bytes: %llu requests, %.0f/s; latency p50/p99/p99.9 = "
			 "%.1f/%.1f/%.1f us",
			 o->size, (unsigned long long)pf->requests,
			 secs > 0 ? (double)pf->requests / secs : 0.0, (double)p[0] / 1e3,
			 (double)p[1] / 1e3, (double)p[2] / 1e3);
}

static int run(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;
	struct perf pf = {.o = o, .host = &o->hr.host, .nslots = o->conns};
	int status;

	pf.c = calloc(pf.nslots, sizeof(*pf.c));
	pf.scratch = malloc(SCRATCH);
	pf.sha_room = o->one_off || o->client ? o->conns : 65536;
	pf.sha = calloc(pf.sha_room, sizeof(char *));
	if (!pf.c || !pf.scratch || !pf.sha) {
		tool_msg("out of memory");
		status = TOOL_EXIT_FAIL;
		goto out;
	}
	status = o->server ? open_listener(&pf) : open_client_conns(&pf);
	if (status)
		goto out;
	if (!std->quiet)
		tool_msg("%s %s %s from %s/%u (%s) on '%s'", mode_names[o->mode],
			 o->server ? "server on" : "client to", o->peer_str, o->hr.opts.ip_str,
			 o->hr.opts.prefix_len, pf.host->mac_str, o->hr.opts.spec);
	perf_loop(&pf);
	if (o->client)
		linger(&pf);
	report(&pf);
	status = pf.failed || pf.completed != pf.started || (o->client && !pf.completed) ||
			 (o->one_off && pf.completed < o->conns)
		     ? TOOL_EXIT_FAIL
		     : TOOL_EXIT_OK;
	if (status && !pf.failed && !std->json)
		tool_msg("%u of %u connections completed (stopped: %s)", pf.completed,
			 o->one_off ? o->conns : pf.started, pf.stop);
out:
	if (pf.listener)
		usnet_tcp_close(pf.listener);
	for (size_t i = 0; i < pf.nsha; i++)
		free(pf.sha[i]);
	free(pf.sha);
	free(pf.lat);
	free(pf.scratch);
	free(pf.c);
	return status;
}

static const struct tool_def tcpperf = {
    TOOL_HOST_DEF("usnet-tcpperf", "the port to use",
		  TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON),
    .short_opts = "l:c:m:n:s:i:",
};

int main(int argc, char **argv)
{
	struct opts o = {
	    .size = 64,
	    .cc = -1,
	    .conns = 1,
	    .interval_ns = USNET_NSEC_PER_SEC,
	    .rr_timeout_ns = DEFAULT_RR_S * USNET_NSEC_PER_SEC,
	};

	return tool_main(&tcpperf, &o, argc, argv);
}
