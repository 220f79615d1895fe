/* SPDX-License-Identifier: MIT */
/*
 * Helper for tests/integration/tcp_hostile.sh: a usnet TCP server on a
 * port, the target of a hostile peer.
 *
 *   tcp_target -p SPEC --ip ADDR/PREFIX [--gw GW] [--syn-backlog N]
 *              [--retries N] [--syn-retries N] [--max-rto MS]
 *              [--keepalive IDLE_MS,INTVL_MS,COUNT] [--rcvbuf B] [--sndbuf B]
 *              [-t SECONDS]
 *
 * It listens on three ports:
 *   7   echo: every byte received is sent back; the peer's FIN is answered
 *       by ours once everything is echoed.
 *   9   discard: what arrives is read and thrown away, nothing is sent;
 *       --keepalive applies to these connections (only).
 *   19  source: once accepted, the connection is sent a byte pattern for
 *       ever (as fast as the peer's window lets it); what arrives is read
 *       and thrown away.
 * At most MAX_CONNS connections at once; more are accepted and closed.
 *
 * SIGUSR1 prints one JSON line on stdout: {"stack": {every counter},
 * "target": {...}} where target counts accepted connections, how each one
 * ended (eof: the peer's FIN; reset: -ECONNRESET; timeout: -ETIMEDOUT;
 * other: any other error; refused: over MAX_CONNS), the connections open
 * now, bytes echoed and sent. SIGUSR2 aborts (RST) every open connection of
 * the source port. SIGINT/SIGTERM or -t: every connection is aborted, the
 * stack destroyed and the port closed, the same JSON line printed a last
 * time with "stop": "signal" or "time", exit 0. Errors: exit 1 (2: usage).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/stack.h>
#include <usnet/tcp.h>

#define MAX_CONNS    64
#define ECHO_PORT    7
#define DISCARD_PORT 9
#define SOURCE_PORT  19
#define BUF	     65536

enum kind { ECHO, DISCARD, SOURCE };

struct conn {
	struct usnet_tcp *s;
	enum kind kind;
	uint32_t pend_off, pend_len; /* echo: bytes received, not yet sent */
	uint8_t pend[BUF];
};

static struct conn conns[MAX_CONNS];
static volatile sig_atomic_t dump_asked, abort_asked, stop_asked;
static uint64_t n_accepted, n_eof, n_reset, n_timeout, n_other, n_refused, n_echoed, n_sent;
static uint8_t pattern[BUF];
static uint32_t ka[3]; /* --keepalive, set on every discard connection */

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		dump_asked = 1;
	else if (sig == SIGUSR2)
		abort_asked = 1;
	else
		stop_asked = 1;
}

static void usage(int rc)
{
	fprintf(rc ? stderr : stdout,
		"usage: tcp_target -p SPEC --ip ADDR/PREFIX [--gw GW] [--syn-backlog N]\n"
		"                  [--retries N] [--syn-retries N] [--max-rto MS]\n"
		"                  [--keepalive IDLE_MS,INTVL_MS,COUNT] [--rcvbuf B] [--sndbuf B]\n"
		"                  [-t SECONDS]\n"
		"Echo server on TCP port 7, discard on 9 (with --keepalive), endless source\n"
		"on 19; SIGUSR1 dumps the counters as JSON, SIGUSR2 aborts the source\n"
		"connections.\n");
	exit(rc);
}

static unsigned long num(const char *opt, const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || end == s || *end) {
		fprintf(stderr, "tcp_target: %s: not a number: '%s'\n", opt, s);
		exit(2);
	}
	return v;
}

static uint32_t ip_arg(const char *opt, const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1) {
		fprintf(stderr, "tcp_target: %s: not an IPv4 address: '%s'\n", opt, s);
		exit(2);
	}
	return ntohl(a.s_addr);
}

static void dump(struct usnet_stack *st, const char *stop)
{
	struct usnet_stack_counters c;
	unsigned open_n = 0;

	for (int i = 0; i < MAX_CONNS; i++)
		open_n += conns[i].s != NULL;
	usnet_stack_counters(st, &c);
	printf("{");
	if (stop)
		printf("\"stop\": \"%s\", ", stop);
	printf("\"stack\": {");
	for (unsigned i = 0; i < usnet_stack_counter_count(); i++)
		printf("%s\"%s\": %llu", i ? ", " : "", usnet_stack_counter_name(i),
		       (unsigned long long)usnet_stack_counter_value(&c, i));
	/* The counters that are verdicts on a frame (their description says
	 * "drop"), for the test's "nothing else moved" check. */
	printf("}, \"drops\": [");
	for (unsigned i = 0, k = 0; i < usnet_stack_counter_count(); i++)
		if (!strncmp(usnet_stack_counter_desc(i), "drop", 4))
			printf("%s\"%s\"", k++ ? ", " : "", usnet_stack_counter_name(i));
	printf("], \"target\": {\"accepted\": %llu, \"eof\": %llu, \"reset\": %llu, "
	       "\"timeout\": %llu, \"other\": %llu, \"refused\": %llu, \"open\": %u, "
	       "\"echoed\": %llu, \"sent\": %llu}}\n",
	       (unsigned long long)n_accepted, (unsigned long long)n_eof,
	       (unsigned long long)n_reset, (unsigned long long)n_timeout,
	       (unsigned long long)n_other, (unsigned long long)n_refused, open_n,
	       (unsigned long long)n_echoed, (unsigned long long)n_sent);
	fflush(stdout);
}

static void conn_end(struct conn *c, long err)
{
	if (err == 0)
		n_eof++;
	else if (err == -ECONNRESET)
		n_reset++;
	else if (err == -ETIMEDOUT)
		n_timeout++;
	else {
		n_other++;
		fprintf(stderr, "tcp_target: connection ended: %s\n", strerror((int)-err));
	}
	usnet_tcp_close(c->s);
	c->s = NULL;
}

static void accept_all(struct usnet_tcp *ls, enum kind kind)
{
	struct usnet_tcp *s;

	while (usnet_tcp_accept(ls, &s, NULL, NULL) == 0) {
		int i, err;

		n_accepted++;
		for (i = 0; i < MAX_CONNS && conns[i].s; i++)
			;
		if (i == MAX_CONNS) {
			n_refused++;
			usnet_tcp_abort(s);
			continue;
		}
		if (kind == DISCARD && ka[0] &&
		    (err = usnet_tcp_set_keepalive(s, ka[0], ka[1], ka[2]))) {
			fprintf(stderr, "tcp_target: keepalive: %s\n", strerror(-err));
			exit(1);
		}
		conns[i].s = s;
		conns[i].kind = kind;
		conns[i].pend_off = conns[i].pend_len = 0;
	}
}

/* One connection's work: false once it ended. */
static bool serve(struct conn *c)
{
	static uint8_t sink[BUF];
	long n;

	if (c->kind != ECHO) {
		while (c->kind == SOURCE &&
		       (n = usnet_tcp_send(c->s, pattern, sizeof(pattern))) > 0)
			n_sent += (uint64_t)n;
		if (c->kind == SOURCE && n != -EAGAIN) {
			conn_end(c, n);
			return false;
		}
		while ((n = usnet_tcp_recv(c->s, sink, sizeof(sink))) > 0)
			;
		if (n != -EAGAIN) {
			conn_end(c, n);
			return false;
		}
		return true;
	}
	for (;;) {
		while (c->pend_len) {
			n = usnet_tcp_send(c->s, c->pend + c->pend_off, c->pend_len);
			if (n == -EAGAIN)
				return true;
			if (n < 0) {
				conn_end(c, n);
				return false;
			}
			n_echoed += (uint64_t)n;
			c->pend_off += (uint32_t)n;
			c->pend_len -= (uint32_t)n;
		}
		n = usnet_tcp_recv(c->s, c->pend, sizeof(c->pend));
		if (n == -EAGAIN)
			return true;
		if (n <= 0) {
			if (n == 0)
				usnet_tcp_shutdown(c->s, USNET_SHUT_WR);
			conn_end(c, n);
			return false;
		}
		c->pend_off = 0;
		c->pend_len = (uint32_t)n;
	}
}

static struct usnet_tcp *listen_on(struct usnet_stack *st, uint16_t port, uint32_t sndbuf,
				   uint32_t rcvbuf)
{
	struct usnet_tcp *ls;
	int err;

	if ((err = usnet_tcp_open(st, &ls, NULL)) ||
	    (err = usnet_tcp_set_bufs(ls, sndbuf, rcvbuf)) || (err = usnet_tcp_bind(ls, 0, port)) ||
	    (err = usnet_tcp_listen(ls, 0))) {
		fprintf(stderr, "tcp_target: listening on %u: %s\n", port, strerror(-err));
		exit(1);
	}
	return ls;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {{"port", required_argument, NULL, 'p'},
					   {"ip", required_argument, NULL, 'i'},
					   {"gw", required_argument, NULL, 'g'},
					   {"syn-backlog", required_argument, NULL, 'b'},
					   {"retries", required_argument, NULL, 'r'},
					   {"syn-retries", required_argument, NULL, 'R'},
					   {"max-rto", required_argument, NULL, 'm'},
					   {"keepalive", required_argument, NULL, 'k'},
					   {"rcvbuf", required_argument, NULL, 'V'},
					   {"sndbuf", required_argument, NULL, 'S'},
					   {"time", required_argument, NULL, 't'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	struct usnet_stack_conf conf = {0};
	struct usnet_iface_conf ic = {0};
	struct usnet_port *port;
	struct usnet_stack *st;
	struct usnet_tcp *echo_ls, *discard_ls, *src_ls;
	const char *spec = NULL, *stop = "signal";
	uint32_t sndbuf = 0, rcvbuf = 0;
	double seconds = 0;
	struct timespec t0, now;
	struct sigaction sa;
	int c, err;

	while ((c = getopt_long(argc, argv, "p:t:h", lo, NULL)) != -1) {
		switch (c) {
		case 'p':
			spec = optarg;
			break;
		case 'i': {
			char *slash = strchr(optarg, '/');

			ic.prefix_len = 24;
			if (slash) {
				*slash = 0;
				ic.prefix_len = (uint8_t)num("--ip", slash + 1);
			}
			ic.addr = ip_arg("--ip", optarg);
			break;
		}
		case 'g':
			ic.gateway = ip_arg("--gw", optarg);
			break;
		case 'b':
			conf.tcp_syn_backlog = (uint32_t)num("--syn-backlog", optarg);
			break;
		case 'r':
			conf.tcp_retries = (uint32_t)num("--retries", optarg);
			break;
		case 'R':
			conf.tcp_syn_retries = (uint32_t)num("--syn-retries", optarg);
			break;
		case 'm':
			conf.tcp_max_rto_ms = (uint32_t)num("--max-rto", optarg);
			break;
		case 'k':
			if (sscanf(optarg, "%u,%u,%u", &ka[0], &ka[1], &ka[2]) != 3) {
				fprintf(stderr, "tcp_target: --keepalive IDLE_MS,INTVL_MS,COUNT\n");
				return 2;
			}
			break;
		case 'V':
			rcvbuf = (uint32_t)num("--rcvbuf", optarg);
			break;
		case 'S':
			sndbuf = (uint32_t)num("--sndbuf", optarg);
			break;
		case 't':
			seconds = strtod(optarg, NULL);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (!spec || !ic.addr || optind != argc)
		usage(2);
	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 8));
	usnet_log_set_level(USNET_LOG_ERR);
	if ((err = usnet_port_open(&port, spec, NULL))) {
		fprintf(stderr, "tcp_target: %s: %s\n", spec, usnet_last_error());
		return 1;
	}
	if ((err = usnet_stack_create(&st, &conf))) {
		fprintf(stderr, "tcp_target: stack: %s\n", usnet_last_error());
		return 1;
	}
	ic.port = port;
	if ((err = usnet_stack_add_iface(st, &ic)) < 0) {
		fprintf(stderr, "tcp_target: interface: %s\n", usnet_last_error());
		return 1;
	}
	echo_ls = listen_on(st, ECHO_PORT, sndbuf, rcvbuf);
	discard_ls = listen_on(st, DISCARD_PORT, sndbuf, rcvbuf);
	src_ls = listen_on(st, SOURCE_PORT, sndbuf, rcvbuf);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fprintf(stderr, "tcp_target: listening on ports %d, %d and %d\n", ECHO_PORT, DISCARD_PORT,
		SOURCE_PORT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!stop_asked) {
		usnet_stack_poll(st);
		accept_all(echo_ls, ECHO);
		accept_all(discard_ls, DISCARD);
		accept_all(src_ls, SOURCE);
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].s)
				serve(&conns[i]);
		if (abort_asked) {
			abort_asked = 0;
			for (int i = 0; i < MAX_CONNS; i++)
				if (conns[i].s && conns[i].kind == SOURCE) {
					usnet_tcp_abort(conns[i].s);
					conns[i].s = NULL;
				}
		}
		usnet_stack_poll(st);
		if (dump_asked) {
			dump_asked = 0;
			dump(st, NULL);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (seconds > 0 &&
		    (double)(now.tv_sec - t0.tv_sec) + (double)(now.tv_nsec - t0.tv_nsec) / 1e9 >=
			seconds) {
			stop = "time";
			break;
		}
		usnet_stack_wait(st, 5);
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].s)
			usnet_tcp_abort(conns[i].s);
	usnet_tcp_close(echo_ls);
	usnet_tcp_close(discard_ls);
	usnet_tcp_close(src_ls);
	usnet_stack_poll(st);
	dump(st, stop);
	usnet_stack_destroy(st);
	usnet_port_close(port);
	return 0;
}
