/* SPDX-License-Identifier: MIT */
/*
 * tcp_kpeer: the Linux kernel's TCP as the peer of usnet's in the TCP tests
 * and benchmarks (tests/integration/tcp_*.sh, bench/tcp_*.sh). It speaks
 * the byte stream of tools/tcp_pattern.h and prints the same "sha256 HEX"
 * line as usnet-tcpperf, so either end can be usnet or Linux.
 *
 *   tcp_kpeer --listen [IP:]PORT | --connect IP:PORT [options]
 *
 * Modes: send (write the stream, shut down writing, wait for the peer's
 * FIN), recv (read to the end of the stream), rr (client: one -s byte
 * request, wait for the -s byte answer, repeat; server: answer every -s
 * bytes with -s bytes, many connections at once). --many N (client): N
 * concurrent connections, each one request and one answer, all held open
 * until every one is answered (or failed), then closed. Every wait is
 * bounded by --timeout. Exit 0 only if everything completed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* struct tcp_info of this kernel (glibc's lacks segs_out) */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../tools/tcp_pattern.h"
#include "../../tools/sha256.h"

#define CHUNK	 (256 * 1024)
#define MAX_SIZE (1u << 20) /* largest rr message */
#define MAX_MANY 1000000u
#define N_ERRNO	 8 /* distinct errors --many tallies */

enum mode { M_DEFAULT, M_SEND, M_RECV, M_RR };

static struct opts {
	bool listen;
	struct sockaddr_in addr;
	enum mode mode;
	uint64_t bytes; /* 0: until -t (send) or the peer's FIN (recv) */
	double secs;	/* send/rr: for this long (0: by bytes) */
	uint32_t size;	/* rr message size */
	bool sha256, verify, json, quiet, nodelay;
	unsigned conns;	  /* server: connections to serve */
	unsigned many;	  /* client: concurrent connections */
	unsigned pending; /* --many: connects in progress at most */
	double timeout;	  /* every wait, and --many in all */
	double interval;  /* progress lines */
	const char *cc;
	int busy_poll; /* SO_BUSY_POLL microseconds */
	int sndbuf, rcvbuf;
} o = {.size = 64, .conns = 1, .pending = 1000, .timeout = 60, .interval = 1};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tcp_kpeer --listen [IP:]PORT | --connect IP:PORT [options]\n"
		"The Linux kernel's TCP as a peer of usnet's (tests and benchmarks).\n"
		"  -l, --listen [IP:]PORT  server: accept --conns connections\n"
		"  -c, --connect IP:PORT   client\n"
		"  -m, --mode send|recv|rr default: client send, server recv\n"
		"  -n, --bytes N           send N bytes (K M G suffixes, powers of 2); rr: N/size\n"
		"                          requests; recv: expect exactly N bytes\n"
		"  -t, --time SECONDS      send or rr for this long instead\n"
		"  -s, --size BYTES        rr message size [64]\n"
		"      --sha256            print \"sha256 HEX\" of the bytes sent or received\n"
		"      --verify            recv: compare every byte with the pattern\n"
		"      --conns N           server: connections to serve (rr: at once) [1]\n"
		"      --many N            client: N concurrent connections, one request and one\n"
		"                          answer each, all open until all are answered\n"
		"      --pending N         --many: connects in progress at most [1000]\n"
		"      --timeout SECONDS   bound of every wait, and of --many [60]\n"
		"  -i, --interval SECONDS  progress line every interval [1]\n"
		"      --cc NAME           TCP_CONGESTION (cubic, reno, ...)\n"
		"      --nodelay           TCP_NODELAY\n"
		"      --busy-poll USEC    SO_BUSY_POLL\n"
		"      --sndbuf/--rcvbuf BYTES  SO_SNDBUF / SO_RCVBUF\n"
		"      --json              a final JSON summary on stdout\n"
		"  -q                      no progress lines\n"
		"  -h, --help\n");
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "tcp_kpeer: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n");
	exit(2);
}

static uint64_t parse_size(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned shift = 0;

	if (errno || end == s || *s == '-')
		die("bad size '%s'", s);
	switch (*end) {
	case 'K':
		shift = 10, end++;
		break;
	case 'M':
		shift = 20, end++;
		break;
	case 'G':
		shift = 30, end++;
		break;
	case 0:
		break;
	default:
		die("bad size '%s' (a number with K, M or G)", s);
	}
	if (*end || v > (UINT64_MAX >> shift))
		die("bad size '%s'", s);
	return (uint64_t)v << shift;
}

static double parse_secs(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end || !(v >= 0) || v > 1e6)
		die("bad number of seconds '%s'", s);
	return v;
}

static unsigned parse_uint(const char *s, unsigned max)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v > max)
		die("bad number '%s'", s);
	return (unsigned)v;
}

/* "[IP:]PORT" (ip optional only for --listen). */
static void parse_addr(const char *s, bool need_ip)
{
	const char *colon = strrchr(s, ':');
	char ip[64];

	memset(&o.addr, 0, sizeof(o.addr));
	o.addr.sin_family = AF_INET;
	if (!colon) {
		if (need_ip)
			die("'%s': IP:PORT expected", s);
		o.addr.sin_addr.s_addr = htonl(INADDR_ANY);
	} else {
		if ((size_t)(colon - s) >= sizeof(ip))
			die("bad address '%s'", s);
		memcpy(ip, s, (size_t)(colon - s));
		ip[colon - s] = 0;
		if (inet_pton(AF_INET, ip, &o.addr.sin_addr) != 1)
			die("bad IPv4 address in '%s'", s);
		s = colon + 1;
	}
	unsigned port = parse_uint(s, 65535);
	if (!port)
		die("port 0 in '%s'", s);
	o.addr.sin_port = htons((uint16_t)port);
}

static void parse_args(int argc, char **argv)
{
	enum {
		O_SHA = 256,
		O_VERIFY,
		O_CONNS,
		O_MANY,
		O_PENDING,
		O_TIMEOUT,
		O_CC,
		O_NODELAY,
		O_BUSY,
		O_SNDBUF,
		O_RCVBUF,
		O_JSON
	};
	static const struct option lo[] = {
	    {"listen", required_argument, 0, 'l'},
	    {"connect", required_argument, 0, 'c'},
	    {"mode", required_argument, 0, 'm'},
	    {"bytes", required_argument, 0, 'n'},
	    {"time", required_argument, 0, 't'},
	    {"size", required_argument, 0, 's'},
	    {"interval", required_argument, 0, 'i'},
	    {"sha256", no_argument, 0, O_SHA},
	    {"verify", no_argument, 0, O_VERIFY},
	    {"conns", required_argument, 0, O_CONNS},
	    {"many", required_argument, 0, O_MANY},
	    {"pending", required_argument, 0, O_PENDING},
	    {"timeout", required_argument, 0, O_TIMEOUT},
	    {"cc", required_argument, 0, O_CC},
	    {"nodelay", no_argument, 0, O_NODELAY},
	    {"busy-poll", required_argument, 0, O_BUSY},
	    {"sndbuf", required_argument, 0, O_SNDBUF},
	    {"rcvbuf", required_argument, 0, O_RCVBUF},
	    {"json", no_argument, 0, O_JSON},
	    {"help", no_argument, 0, 'h'},
	    {0, 0, 0, 0},
	};
	const char *where = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "l:c:m:n:t:s:i:qh", lo, NULL)) != -1) {
		switch (c) {
		case 'l':
		case 'c':
			if (where)
				die("%s", "give one of --listen and --connect");
			where = optarg;
			o.listen = c == 'l';
			break;
		case 'm':
			if (!strcmp(optarg, "send"))
				o.mode = M_SEND;
			else if (!strcmp(optarg, "recv"))
				o.mode = M_RECV;
			else if (!strcmp(optarg, "rr"))
				o.mode = M_RR;
			else
				die("bad mode '%s' (send, recv or rr)", optarg);
			break;
		case 'n':
			o.bytes = parse_size(optarg);
			break;
		case 't':
			o.secs = parse_secs(optarg);
			break;
		case 's':
			o.size = (uint32_t)parse_size(optarg);
			if (!o.size || o.size > MAX_SIZE)
				die("-s '%s': 1 to 1M bytes", optarg);
			break;
		case 'i':
			o.interval = parse_secs(optarg);
			break;
		case 'q':
			o.quiet = true;
			break;
		case O_SHA:
			o.sha256 = true;
			break;
		case O_VERIFY:
			o.verify = true;
			break;
		case O_CONNS:
			o.conns = parse_uint(optarg, MAX_MANY);
			break;
		case O_MANY:
			o.many = parse_uint(optarg, MAX_MANY);
			break;
		case O_PENDING:
			o.pending = parse_uint(optarg, MAX_MANY);
			break;
		case O_TIMEOUT:
			o.timeout = parse_secs(optarg);
			break;
		case O_CC:
			o.cc = optarg;
			break;
		case O_NODELAY:
			o.nodelay = true;
			break;
		case O_BUSY:
			o.busy_poll = (int)parse_uint(optarg, 1000000);
			break;
		case O_SNDBUF:
			o.sndbuf = (int)parse_size(optarg);
			break;
		case O_RCVBUF:
			o.rcvbuf = (int)parse_size(optarg);
			break;
		case O_JSON:
			o.json = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind < argc)
		die("unexpected argument '%s'", argv[optind]);
	if (!where)
		die("%s", "--listen or --connect is required (--help)");
	parse_addr(where, !o.listen);
	if (o.mode == M_DEFAULT)
		o.mode = o.listen ? M_RECV : M_SEND;
	if (o.many && (o.listen || o.mode == M_SEND || o.mode == M_RECV))
		o.mode = M_RR;
	if (o.many && o.listen)
		die("%s", "--many is a client option");
	if (!o.conns || !o.pending || !(o.timeout > 0))
		die("%s", "--conns, --pending and --timeout must be positive");
	if (o.verify && o.mode != M_RECV)
		die("%s", "--verify is for -m recv");
	if (!o.listen && !o.many && o.mode != M_RECV && !o.bytes && !o.secs)
		die("%s", "the client needs -n BYTES or -t SECONDS");
}

/* Socket options common to every socket. */
static int set_opts(int fd)
{
	int one = 1;

	if (o.cc && setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, o.cc, (socklen_t)strlen(o.cc))) {
		fprintf(stderr, "tcp_kpeer: TCP_CONGESTION %s: %s\n", o.cc, strerror(errno));
		return -1;
	}
	if (o.nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)))
		return -1;
	if (o.busy_poll &&
	    setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &o.busy_poll, sizeof(o.busy_poll)))
		return -1;
	if (o.sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o.sndbuf, sizeof(o.sndbuf)))
		return -1;
	if (o.rcvbuf && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o.rcvbuf, sizeof(o.rcvbuf)))
		return -1;
	return 0;
}

/* Wait for fd to be ready for events (bounded by --timeout); 0 ready,
 * -ETIMEDOUT, -EINTR (a signal asked us to stop). */
static int wait_fd(int fd, short events)
{
	struct pollfd p = {.fd = fd, .events = events};
	int r = poll(&p, 1, (int)(o.timeout * 1000));

	if (r > 0)
		return 0;
	if (r == 0)
		return -ETIMEDOUT;
	return -errno;
}

/* --- Results ----------------------------------------------------------- */

struct result {
	uint64_t bytes;
	double secs;
	char sha[65];
	bool have_sha;
	struct tcp_info ti;
	bool have_ti;
	const char *error; /* NULL: completed */
	/* rr */
	uint64_t requests;
	double p50_us, p99_us, p999_us;
};

static void read_info(int fd, struct result *r)
{
	socklen_t len = sizeof(r->ti);
	r->have_ti = !getsockopt(fd, IPPROTO_TCP, TCP_INFO, &r->ti, &len);
}

static void print_result(const char *what, const struct result *r)
{
	double gbps = r->secs > 0 ? (double)r->bytes * 8 / r->secs / 1e9 : 0;

	if (r->have_sha)
		printf("sha256 %s\n", r->sha);
	if (!o.json) {
		printf("%s: %" PRIu64 " bytes in %.3f s, %.3f Gbit/s", what, r->bytes, r->secs,
		       gbps);
		if (r->have_ti)
			printf(", retransmits %u, rtt %u us, cwnd %u", r->ti.tcpi_total_retrans,
			       r->ti.tcpi_rtt, r->ti.tcpi_snd_cwnd);
		if (r->requests)
			printf(", %" PRIu64 " requests, p50 %.1f us, p99 %.1f us, p99.9 %.1f us",
			       r->requests, r->p50_us, r->p99_us, r->p999_us);
		printf("%s%s\n", r->error ? ", error: " : "", r->error ? r->error : "");
		return;
	}
	printf("{\"mode\": \"%s\", \"bytes\": %" PRIu64 ", \"seconds\": %.6f, \"gbps\": %.4f", what,
	       r->bytes, r->secs, gbps);
	if (r->have_ti)
		printf(", \"retransmits\": %u, \"rtt_us\": %u, \"rttvar_us\": %u, \"cwnd\": %u, "
		       "\"mss\": %u, \"segs_out\": %u, \"segs_in\": %u",
		       r->ti.tcpi_total_retrans, r->ti.tcpi_rtt, r->ti.tcpi_rttvar,
		       r->ti.tcpi_snd_cwnd, r->ti.tcpi_snd_mss, r->ti.tcpi_segs_out,
		       r->ti.tcpi_segs_in);
	if (r->have_sha)
		printf(", \"sha256\": \"%s\"", r->sha);
	if (o.mode == M_RR)
		printf(", \"requests\": %" PRIu64 ", \"p50_us\": %.2f, \"p99_us\": %.2f, "
		       "\"p999_us\": %.2f",
		       r->requests, r->p50_us, r->p99_us, r->p999_us);
	if (r->error)
		printf(", \"error\": \"%s\"", r->error);
	else
		printf(", \"error\": null");
	printf("}\n");
}

static void progress(double t0, double *next, uint64_t bytes, uint64_t *last, int fd)
{
	double t = now_s();
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (o.quiet || o.interval <= 0 || t < *next)
		return;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len))
		memset(&ti, 0, sizeof(ti));
	fprintf(stderr, "%7.1f s %10.3f Gbit/s  retransmits %u  cwnd %u  rtt %u us\n", t - t0,
		(double)(bytes - *last) * 8 / (t - *next + o.interval) / 1e9, ti.tcpi_total_retrans,
		ti.tcpi_snd_cwnd, ti.tcpi_rtt);
	*last = bytes;
	*next = t + o.interval;
}

/* --- send / recv --------------------------------------------------------- */

static void do_send(int fd, struct result *r)
{
	static uint8_t buf[CHUNK];
	struct tcp_pattern pat;
	struct sha256 sh;
	double t0 = now_s(), next = t0 + o.interval, end = o.secs ? t0 + o.secs : 0;
	uint64_t last = 0;
	size_t have = 0, off = 0;

	tcp_pattern_init(&pat, 0);
	sha256_init(&sh);
	while (!stop_flag) {
		if (off == have) {
			uint64_t left = o.bytes ? o.bytes - r->bytes : CHUNK;
			if ((o.bytes && !left) || (end && now_s() >= end))
				break;
			have = left < CHUNK ? (size_t)left : CHUNK;
			off = 0;
			tcp_pattern_fill(&pat, buf, have);
			if (o.sha256)
				sha256_update(&sh, buf, have);
		}
		ssize_t n = send(fd, buf + off, have - off, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->error = strerror(errno);
			break;
		}
		off += (size_t)n;
		r->bytes += (uint64_t)n;
		progress(t0, &next, r->bytes, &last, fd);
	}
	if (stop_flag && !r->error)
		r->error = "interrupted";
	/* The bytes of a partly sent chunk were hashed whole: not a hash of
	 * what was sent, so none is printed then. */
	r->have_sha = o.sha256 && off == have && !r->error;
	if (r->have_sha)
		sha256_hex(&sh, r->sha);
	if (!r->error && shutdown(fd, SHUT_WR))
		r->error = strerror(errno);
	/* The peer's FIN: it has read everything. */
	while (!r->error) {
		int w = wait_fd(fd, POLLIN);
		if (w) {
			r->error = w == -ETIMEDOUT ? "no FIN from the peer within --timeout"
						   : strerror(-w);
			break;
		}
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0)
			break;
		if (n < 0 && errno != EINTR)
			r->error = strerror(errno);
		if (n > 0)
			r->error = "the peer sent data while receiving";
	}
	r->secs = now_s() - t0;
	read_info(fd, r);
}

static void do_recv(int fd, struct result *r)
{
	static uint8_t buf[CHUNK];
	struct tcp_pattern pat;
	struct sha256 sh;
	double t0 = now_s(), next = t0 + o.interval;
	uint64_t last = 0;
	static char msg[128];

	tcp_pattern_init(&pat, 0);
	sha256_init(&sh);
	while (!stop_flag) {
		int w = wait_fd(fd, POLLIN);
		if (w) {
			r->error =
			    w == -ETIMEDOUT ? "nothing received within --timeout" : strerror(-w);
			break;
		}
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			r->error = strerror(errno);
			break;
		}
		if (n == 0)
			break;
		if (o.sha256)
			sha256_update(&sh, buf, (size_t)n);
		if (o.verify) {
			size_t bad = tcp_pattern_check(&pat, buf, (size_t)n);
			if (bad < (size_t)n) {
				snprintf(msg, sizeof(msg),
					 "byte %" PRIu64 " (0x%02x) differs from the pattern's",
					 r->bytes + bad, buf[bad]);
				r->error = msg;
			}
		}
		r->bytes += (uint64_t)n;
		if (r->error)
			break;
		progress(t0, &next, r->bytes, &last, fd);
	}
	if (stop_flag && !r->error)
		r->error = "interrupted";
	if (!r->error && o.bytes && r->bytes != o.bytes) {
		snprintf(msg, sizeof(msg), "%" PRIu64 " bytes received, %" PRIu64 " expected",
			 r->bytes, o.bytes);
		r->error = msg;
	}
	r->secs = now_s() - t0;
	read_info(fd, r);
	r->have_sha = o.sha256;
	if (o.sha256)
		sha256_hex(&sh, r->sha);
}

/* --- rr client ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(const double *v, uint64_t n, double p)
{
	uint64_t i = (uint64_t)(p * (double)n);
	return n ? v[i < n ? i : n - 1] : 0;
}

/* All of len bytes through fd (blocking, bounded); 0 or an error string. */
static const char *xfer(int fd, uint8_t *buf, size_t len, bool out)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = out ? send(fd, buf + done, len - done, MSG_NOSIGNAL | MSG_DONTWAIT)
				: recv(fd, buf + done, len - done, MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return "the peer closed the connection";
		if (errno != EAGAIN && errno != EINTR)
			return strerror(errno);
		/* With busy polling, spin in recv (the socket polls the device). */
		if (o.busy_poll && !out)
			continue;
		int w = wait_fd(fd, out ? POLLOUT : POLLIN);
		if (w)
			return w == -ETIMEDOUT ? "no answer within --timeout" : strerror(-w);
		if (stop_flag)
			return "interrupted";
	}
	return NULL;
}

static void do_rr_client(int fd, struct result *r)
{
	uint8_t *buf = malloc(o.size);
	uint64_t count = o.bytes ? (o.bytes + o.size - 1) / o.size : 0, cap = 1 << 16;
	double *lat = malloc(cap * sizeof(*lat));
	double t0 = now_s(), next = t0 + o.interval, end = o.secs ? t0 + o.secs : 0;
	struct tcp_pattern pat;
	uint64_t last = 0;

	if (!buf || !lat) {
		r->error = "out of memory";
		goto out;
	}
	tcp_pattern_init(&pat, 0);
	while (!stop_flag && (!count || r->requests < count) && (!end || now_s() < end)) {
		tcp_pattern_fill(&pat, buf, o.size);
		double t = now_s();
		if ((r->error = xfer(fd, buf, o.size, true)) ||
		    (r->error = xfer(fd, buf, o.size, false)))
			break;
		if (r->requests == cap) {
			double *more = realloc(lat, 2 * cap * sizeof(*lat));
			if (!more) {
				r->error = "out of memory";
				break;
			}
			lat = more, cap *= 2;
		}
		lat[r->requests++] = (now_s() - t) * 1e6;
		r->bytes += 2 * (uint64_t)o.size;
		progress(t0, &next, r->bytes, &last, fd);
	}
	if (stop_flag && !r->error)
		r->error = "interrupted";
	r->secs = now_s() - t0;
	qsort(lat, r->requests, sizeof(*lat), cmp_double);
	r->p50_us = pct(lat, r->requests, 0.5);
	r->p99_us = pct(lat, r->requests, 0.99);
	r->p999_us = pct(lat, r->requests, 0.999);
	read_info(fd, r);
	if (!r->error)
		shutdown(fd, SHUT_WR);
out:
	free(buf);
	free(lat);
}

/* --- rr server: every connection at once, over epoll ------------------- */

struct rconn {
	int fd;
	uint32_t got; /* bytes of the current request */
	uint32_t owe; /* answer bytes still to send */
	uint64_t served;
};

static void rr_close(int ep, struct rconn *c, unsigned *open)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
	(*open)--;
}

/* Serve what is ready on c; false when it is done with (closed or failed). */
static bool rr_serve(int ep, struct rconn *c, uint8_t *buf, uint64_t *reqs, uint64_t *errs)
{
	for (;;) {
		while (c->owe) {
			ssize_t n = send(c->fd, buf, c->owe, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN) {
					struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT,
								 .data.ptr = c};
					epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
					return true;
				}
				(*errs)++;
				return false;
			}
			c->owe -= (uint32_t)n;
			if (!c->owe) {
				struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			}
		}
		ssize_t n = recv(c->fd, buf, o.size - c->got, MSG_DONTWAIT);
		if (n == 0)
			return false;
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return true;
			(*errs)++;
			return false;
		}
		c->got += (uint32_t)n;
		if (c->got == o.size) {
			c->got = 0;
			c->owe = o.size;
			c->served++;
			(*reqs)++;
		}
	}
}

static int do_rr_server(int lfd)
{
	uint8_t *buf = malloc(o.size);
	int ep = epoll_create1(0);
	unsigned accepted = 0, open = 0;
	uint64_t reqs = 0, errs = 0;
	double t0 = now_s(), next = t0 + o.interval, idle_since = t0;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL}, evs[256];

	if (!buf || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev)) {
		perror("tcp_kpeer: epoll");
		return 1;
	}
	memset(buf, 0x5a, o.size);
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	while (!stop_flag && (accepted < o.conns || open)) {
		int n = epoll_wait(ep, evs, 256, 100);
		double t = now_s();
		if (n > 0)
			idle_since = t;
		else if (t - idle_since > o.timeout) {
			fprintf(stderr, "tcp_kpeer: nothing happened for --timeout %.0f s\n",
				o.timeout);
			break;
		}
		for (int i = 0; i < n; i++) {
			struct rconn *c = evs[i].data.ptr;
			if (!c) {
				int fd;
				while (accepted < o.conns &&
				       (fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
					c = calloc(1, sizeof(*c));
					struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = c};
					if (!c || set_opts(fd) ||
					    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2)) {
						close(fd);
						free(c);
						errs++;
						continue;
					}
					c->fd = fd;
					accepted++, open++;
				}
				continue;
			}
			if (!rr_serve(ep, c, buf, &reqs, &errs))
				rr_close(ep, c, &open);
		}
		if (!o.quiet && o.interval > 0 && t >= next) {
			fprintf(stderr, "%7.1f s  accepted %u  open %u  requests %" PRIu64 "\n",
				t - t0, accepted, open, reqs);
			next = t + o.interval;
		}
	}
	printf("rr server: %u connections served, %" PRIu64 " requests answered, %" PRIu64
	       " errors\n",
	       accepted, reqs, errs);
	free(buf);
	close(ep);
	return stop_flag || errs || accepted < o.conns ? 1 : 0;
}

/* --- --many: N concurrent connections ---------------------------------- */

enum { C_CONNECTING = 1, C_WAITING, C_DONE, C_FAILED };

struct mconn {
	int fd;
	uint8_t state;
	uint32_t got;
};

struct many {
	struct mconn *c;
	unsigned started, pending, established, answered, failed;
	int errnos[N_ERRNO];
	unsigned errcount[N_ERRNO];
	double t_established, t_answered;
};

static void many_fail(int ep, struct many *m, struct mconn *c, int err)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->state == C_CONNECTING)
		m->pending--;
	c->state = C_FAILED;
	m->failed++;
	for (int i = 0; i < N_ERRNO; i++) {
		if (!m->errcount[i] || m->errnos[i] == err) {
			m->errnos[i] = err;
			m->errcount[i]++;
			break;
		}
	}
}

static void many_start(int ep, struct many *m)
{
	while (m->started < o.many && m->pending < o.pending) {
		struct mconn *c = &m->c[m->started++];
		struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		c->state = C_CONNECTING;
		m->pending++;
		if (c->fd < 0 || set_opts(c->fd)) {
			many_fail(ep, m, c, errno);
			continue;
		}
		if (connect(c->fd, (struct sockaddr *)&o.addr, sizeof(o.addr)) &&
		    errno != EINPROGRESS) {
			many_fail(ep, m, c, errno);
			continue;
		}
		if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev))
			many_fail(ep, m, c, errno);
	}
}

static void many_event(int ep, struct many *m, struct mconn *c, const uint8_t *req, uint8_t *buf)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (c->state == C_CONNECTING) {
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			many_fail(ep, m, c, err ? err : errno);
			return;
		}
		m->pending--;
		m->established++;
		/* One small request: a fresh socket's buffer takes it whole. */
		ssize_t n = send(c->fd, req, o.size, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != (ssize_t)o.size) {
			many_fail(ep, m, c, n < 0 ? errno : EMSGSIZE);
			return;
		}
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		c->state = C_WAITING;
		return;
	}
	ssize_t n = recv(c->fd, buf, o.size - c->got, MSG_DONTWAIT);
	if (n == 0) {
		many_fail(ep, m, c, ECONNRESET);
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			many_fail(ep, m, c, errno);
		return;
	}
	c->got += (uint32_t)n;
	if (c->got == o.size) {
		epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
		c->state = C_DONE;
		m->answered++;
	}
}

/* Enough descriptors for N sockets. */
static int raise_nofile(unsigned n)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)n + 64;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	if (rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max < want)
		rl.rlim_max = want;
	rl.rlim_cur = want;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static int do_many(void)
{
	struct many m = {0};
	uint8_t *req = malloc(o.size), *buf = malloc(o.size);
	int ep = epoll_create1(0);
	struct epoll_event evs[512];
	double t0 = now_s(), next = t0 + o.interval, t;
	struct tcp_pattern pat;

	m.c = calloc(o.many, sizeof(*m.c));
	if (!m.c || !req || !buf || ep < 0) {
		perror("tcp_kpeer: --many");
		return 1;
	}
	if (raise_nofile(o.many)) {
		fprintf(stderr, "tcp_kpeer: cannot raise RLIMIT_NOFILE to %u: %s\n", o.many + 64,
			strerror(errno));
		return 1;
	}
	tcp_pattern_init(&pat, 0);
	tcp_pattern_fill(&pat, req, o.size);
	while (!stop_flag && m.answered + m.failed < o.many && (t = now_s()) - t0 < o.timeout) {
		many_start(ep, &m);
		int n = epoll_wait(ep, evs, 512, 100);
		for (int i = 0; i < n; i++)
			many_event(ep, &m, evs[i].data.ptr, req, buf);
		t = now_s();
		if (m.established == o.many && !m.t_established)
			m.t_established = t - t0;
		if (!o.quiet && o.interval > 0 && t >= next) {
			fprintf(stderr,
				"%7.1f s  started %u  connecting %u  established %u  answered %u  "
				"failed %u\n",
				t - t0, m.started, m.pending, m.established, m.answered, m.failed);
			next = t + o.interval;
		}
	}
	t = now_s() - t0;
	m.t_answered = t;
	unsigned unfinished = o.many - m.answered - m.failed;
	/* Every answered connection is still open here: that many were open at once. */
	unsigned open = 0;
	for (unsigned i = 0; i < m.started; i++)
		open += m.c[i].state == C_DONE;
	printf("many: %u connections to %s:%u: %u answered, %u failed, %u unfinished; "
	       "%u open at once; all established %s%.3f s, done in %.3f s\n",
	       o.many, inet_ntoa(o.addr.sin_addr), ntohs(o.addr.sin_port), m.answered, m.failed,
	       unfinished, open, m.t_established ? "after " : "(not all) ",
	       m.t_established ? m.t_established : t, t);
	for (int i = 0; i < N_ERRNO && m.errcount[i]; i++)
		printf("many: %u failed with %s\n", m.errcount[i], strerror(m.errnos[i]));
	if (o.json)
		printf(
		    "{\"mode\": \"many\", \"connections\": %u, \"answered\": %u, \"failed\": %u, "
		    "\"unfinished\": %u, \"open_at_once\": %u, \"established_s\": %.3f, "
		    "\"seconds\": %.3f}\n",
		    o.many, m.answered, m.failed, unfinished, open, m.t_established, t);
	for (unsigned i = 0; i < m.started; i++)
		if (m.c[i].fd >= 0)
			close(m.c[i].fd);
	free(m.c);
	free(req);
	free(buf);
	close(ep);
	return m.answered == o.many ? 0 : 1;
}

/* --- main ------------------------------------------------------------------ */

static int one_connection(int fd, const char *what)
{
	struct result r = {0};

	if (o.mode == M_SEND)
		do_send(fd, &r);
	else if (o.mode == M_RECV)
		do_recv(fd, &r);
	else
		do_rr_client(fd, &r);
	print_result(what, &r);
	fflush(stdout);
	if (r.error)
		fprintf(stderr, "tcp_kpeer: %s: %s\n", what, r.error);
	return r.error ? 1 : 0;
}

static int client(void)
{
	const char *what = o.mode == M_SEND ? "send" : o.mode == M_RECV ? "recv" : "rr";
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0 || set_opts(fd))
		return perror("tcp_kpeer: socket"), 1;
	if (connect(fd, (struct sockaddr *)&o.addr, sizeof(o.addr)) && errno != EINPROGRESS)
		return perror("tcp_kpeer: connect"), 1;
	int w = wait_fd(fd, POLLOUT), err = 0;
	socklen_t len = sizeof(err);
	if (!w && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (w || err) {
		fprintf(stderr, "tcp_kpeer: connect to %s:%u: %s\n", inet_ntoa(o.addr.sin_addr),
			ntohs(o.addr.sin_port), strerror(w ? -w : err));
		return 1;
	}
	fcntl(fd, F_SETFL, 0); /* blocking from here: waits are polls with --timeout */
	int rc = one_connection(fd, what);
	close(fd);
	return rc;
}

static int server(void)
{
	int one = 1, lfd = socket(AF_INET, SOCK_STREAM, 0), rc = 0;

	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    set_opts(lfd) || bind(lfd, (struct sockaddr *)&o.addr, sizeof(o.addr)) ||
	    listen(lfd, 4096)) {
		fprintf(stderr, "tcp_kpeer: listen on port %u: %s\n", ntohs(o.addr.sin_port),
			strerror(errno));
		return 1;
	}
	fprintf(stderr, "tcp_kpeer: listening on %s:%u\n", inet_ntoa(o.addr.sin_addr),
		ntohs(o.addr.sin_port));
	if (o.mode == M_RR)
		rc = do_rr_server(lfd);
	for (unsigned i = 0; o.mode != M_RR && i < o.conns; i++) {
		int w = wait_fd(lfd, POLLIN);
		if (w) {
			fprintf(stderr, "tcp_kpeer: no connection within --timeout\n");
			rc = 1;
			break;
		}
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			perror("tcp_kpeer: accept");
			rc = 1;
			continue;
		}
		rc |= one_connection(fd, o.mode == M_SEND ? "send" : "recv");
		close(fd);
	}
	close(lfd);
	return rc;
}

int main(int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_signal};

	parse_args(argc, argv);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (o.listen)
		return server();
	return o.many ? do_many() : client();
}
