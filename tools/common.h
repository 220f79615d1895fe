/* SPDX-License-Identifier: MIT */
/*
 * What the usnet command-line tools share: the standard options and the
 * main skeleton (struct tool_def, tool_main()), option parsing with range
 * checks, the run loop's clock (per-second stats lines, -t deadline, signals),
 * waiting on several ports, a one-line JSON writer, and the test-frame
 * format that usnet-pktgen writes and usnet-sink checks.
 *
 * Exit statuses (docs/tools.md): 0 success, 1 runtime failure, 2 usage
 * error. Messages are one line on stderr, prefixed with the tool's name.
 */
#ifndef USNET_TOOLS_COMMON_H
#define USNET_TOOLS_COMMON_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <string.h>

#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/time.h>

#define TOOL_EXIT_OK	0
#define TOOL_EXIT_FAIL	1
#define TOOL_EXIT_USAGE 2

#define TOOL_MAX_SECONDS 31536000.0 /* -t: one year */

/* The program's name for messages, set by tool_init(). */
extern const char *tool_name;
/* Set by SIGINT/SIGTERM; every loop polls it. */
extern volatile sig_atomic_t tool_stop;

/* Record the name, install the SIGINT/SIGTERM handlers (no SA_RESTART, so
 * poll() and nanosleep() return early) and ignore SIGPIPE (write errors are
 * reported instead). */
void tool_init(const char *name);

/*
 * User input echoed in a message, cut to TOOL_ECHO characters with "...", so
 * that a huge argument cannot push the reason out of the line: pass
 * TOOL_ECHO_ARGS(s) for a "%.*s%s" in the format.
 */
#define TOOL_ECHO	  100
#define TOOL_ECHO_ARGS(s) TOOL_ECHO, (s), strlen(s) > TOOL_ECHO ? "..." : ""

/* "NAME: message\n" on stderr. */
void tool_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* tool_msg(), then exit with TOOL_EXIT_USAGE. */
void tool_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * Print the help text: head, then the PORT KINDS this build knows, then
 * the exit statuses every tool shares, then tail. Exits 0.
 */
void tool_help(const char *head, const char *tail) __attribute__((noreturn));

/*
 * getopt_long() returned '?' or ':' (optstring must start with ':'): name the
 * unknown option, the one missing its value or the one given a value it does
 * not take, and exit 2. argv/optind as getopt left them, opts its table.
 */
struct option;
void tool_bad_option(int c, char *const argv[], const struct option *opts)
    __attribute__((noreturn));

/*
 * Parsers: 0, or -EINVAL with a short reason in *why ("not a number").
 * Numbers are decimal with an optional SI suffix: k (10^3), M (10^6), G (10^9).
 * Seconds are decimal with an optional fraction ("2.5"), in (0, TOOL_MAX_SECONDS].
 */
int tool_parse_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char **why);
int tool_parse_seconds(const char *arg, uint64_t *ns, const char **why);
/* A size in bytes: as tool_parse_u64() but K, M, G are powers of 2 (KiB, MiB, GiB). */
int tool_parse_bytes(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char **why);

/* The same for option values: on error "NAME: invalid OPT 'ARG': reason" and exit 2. */
uint64_t tool_arg_u64(const char *opt, const char *arg, uint64_t min, uint64_t max);
uint64_t tool_arg_seconds(const char *opt, const char *arg);
uint64_t tool_arg_bytes(const char *opt, const char *arg, uint64_t min, uint64_t max);
void tool_arg_mac(const char *opt, const char *arg, uint8_t mac[6]);
uint32_t tool_arg_ipv4(const char *opt, const char *arg);

/*
 * Open a port: 0, or print "NAME: cannot open port 'SPEC': REASON" and
 * return the exit status: 2 if the library rejected the spec itself
 * (EINVAL), 1 otherwise.
 */
int tool_open_port(struct usnet_port **out, const char *spec, const struct usnet_port_conf *conf);

/*
 * The standard options and the main skeleton. A tool describes itself in a
 * struct tool_def: which standard options it takes (TOOL_OPT_*; -h/--help
 * always), its own short and long options with a handler, and hooks; then
 * main() is tool_main(). The skeleton records the name and installs the
 * signal handlers (tool_init()), parses standard and own options with one
 * getopt_long() table (bad ones: tool_bad_option()), checks -p, opens the
 * ports (tool_open_port(): the standard error line), runs the tool, closes
 * the ports and turns a failed --json write into exit status 1.
 */
enum {
	TOOL_OPT_PORT = 1 << 0,	 /* -p, --port SPEC: def->ports of them, required */
	TOOL_OPT_COUNT = 1 << 1, /* -n, --count COUNT: 0..2^64-1 */
	TOOL_OPT_TIME = 1 << 2,	 /* -t, --time SECONDS: tool_arg_seconds() */
	TOOL_OPT_BURST = 1 << 3, /* -b, --burst BURST: 1..USNET_MAX_BURST */
	TOOL_OPT_QUIET = 1 << 4, /* -q, --quiet */
	TOOL_OPT_JSON = 1 << 5,	 /* --json */
};

/* --help text of the standard options whose meaning is the same in every tool. */
#define TOOL_HELP_TIME                                                                             \
	"       -t, --time SECONDS\n"                                                              \
	"              Stop after SECONDS (decimal, e.g. 2.5). Default: no limit.\n"
#define TOOL_HELP_QUIET_JSON_HELP                                                                  \
	"       -q, --quiet\n"                                                                     \
	"              No per-second stats line and no startup line on stderr.\n"                  \
	"       --json\n"                                                                          \
	"              Print the final summary as one JSON object on stdout instead of a\n"        \
	"              line on stderr.\n"                                                          \
	"       -h, --help\n"                                                                      \
	"              Print this help and exit.\n"
#define TOOL_HELP_NUMBERS                                                                          \
	"\n"                                                                                       \
	"       Numbers take an SI suffix: k or K (x1000), M (x10^6), G (x10^9).\n"

/* getopt_long() code of --json; a tool's own long-only options use 256..4095. */
#define TOOL_OPT_JSON_CODE 4096
#define TOOL_MAX_PORTS	   2

/* The standard options' values, and the ports opened from -p. */
struct tool_std {
	const char *spec[TOOL_MAX_PORTS];
	unsigned nspec;
	uint64_t count; /* -n; 0: no limit */
	bool count_set;
	uint64_t duration_ns; /* -t; 0: no limit */
	uint16_t burst;	      /* -b; def->burst when not given */
	bool quiet, json;
	/* How the skeleton opens the ports; a check hook may change it. */
	struct usnet_port_conf port_conf;
	struct usnet_port *port[TOOL_MAX_PORTS];
};

struct tool_def {
	const char *name; /* "usnet-sink" */
	unsigned std;	  /* TOOL_OPT_* */
	unsigned ports;	  /* with TOOL_OPT_PORT: exactly this many -p, 1 or 2 (TOOL_MAX_PORTS) */
	/* With one port: what it is for, in "missing -p SPEC: the port to ..." */
	const char *port_role;
	uint16_t burst; /* -b's default */
	const char *help_head, *help_tail;
	/* The tool's own options: getopt syntax ("s:r:f:"), a NULL-terminated
	 * table (may be NULL), and their handler (bad values exit 2). */
	const char *short_opts;
	const struct option *long_opts;
	void (*opt)(void *ctx, int c, const char *arg);
	/* The words after the options (argc may be 0); NULL: there must be none. */
	void (*args)(void *ctx, int argc, char **argv);
	/* After the -p check: checks across options, defaults. May be NULL. */
	void (*check)(void *ctx, struct tool_std *std);
	/* Open what the tool runs on: 0 or an exit status after a message.
	 * NULL: std->port[] from std->spec[] with std->port_conf. */
	int (*open)(void *ctx, struct tool_std *std);
	/* The run itself and its summary: the exit status. */
	int (*run)(void *ctx, struct tool_std *std);
	/* Undo open (called only after it succeeded). NULL: close std->port[]. */
	void (*close)(void *ctx, struct tool_std *std);
};

/* Parse argv into std and (through the hooks) ctx; exits 0 for -h, 2 on a usage error. */
void tool_parse(const struct tool_def *def, void *ctx, struct tool_std *std, int argc, char **argv);
/* Open std->port[] from std->spec[]: 0, or tool_open_port()'s status
 * (closing the ones already opened). */
int tool_open_ports(struct tool_std *std);
void tool_close_ports(struct tool_std *std);
/* The whole program: init, parse, open, run, close; returns the exit status. */
int tool_main(const struct tool_def *def, void *ctx, int argc, char **argv);

/*
 * usnet_tx_burst() of n packets on queue 0, retried while the port refuses
 * some (its queue is full), for up to retry_ns after the first refusal:
 * how many it took. The rest are still the caller's.
 */
uint16_t tool_tx_retry(struct usnet_port *port, struct usnet_pkt **pkts, uint16_t n,
		       uint64_t retry_ns);

/* The frames a port lost on RX queue 0: its rx_dropped + rx_nobuf. */
uint64_t tool_port_rx_drops(struct usnet_port *port);

/* One counter set on the per-second line, e.g. "tx" or "0>1". */
struct tool_meter {
	const char *label;
	uint64_t pkts, bytes, drops;	/* totals, kept by the tool */
	uint64_t line_pkts, line_bytes; /* totals at the previous line */
};

/* The run loop's clock. */
struct tool_run {
	uint64_t start_ns;
	uint64_t end_ns;       /* start + -t, or 0 for none */
	uint64_t next_line_ns; /* when the next per-second line is due */
	uint64_t line_ns;      /* when the previous one was printed */
	bool quiet;
};

void tool_run_start(struct tool_run *r, uint64_t duration_ns, bool quiet);

/* Stop now? (a signal arrived or the -t deadline passed) */
static inline bool tool_run_over(const struct tool_run *r, uint64_t now)
{
	return tool_stop || (r->end_ns && now >= r->end_ns);
}

/* Is a per-second line due? Does not print; call tool_run_line() then. */
static inline bool tool_run_line_due(const struct tool_run *r, uint64_t now)
{
	return now >= r->next_line_ns;
}

/*
 * Print one stats line to stderr (unless quiet) and schedule the next:
 *   NAME: 3.0 s | tx 14880952 pps 7142.86 Mbit/s, total 44642856 pkts 2678571360 B, drops 0 | EXTRA
 * extra may be NULL.
 */
void tool_run_line(struct tool_run *r, uint64_t now, struct tool_meter *m, unsigned n,
		   const char *extra);

/* Milliseconds a wait may last before the loop has something to do, at most cap_ms. */
int tool_run_timeout_ms(const struct tool_run *r, uint64_t now, int cap_ms);

/* Seconds since start, and a rate over that time (0 when no time passed). */
double tool_run_seconds(const struct tool_run *r, uint64_t now);
double tool_rate(uint64_t count, double seconds);

/*
 * Adaptive wait over several ports' RX queue 0: call once per loop with the
 * number of frames the loop handled. After `spin` empty rounds in a row it
 * arms every port and sleeps in poll() on their fds for up to timeout_ms.
 * Ports without an fd make it sleep 1 ms instead (documented in tools.md).
 */
struct tool_idle {
	uint32_t spin;	/* empty rounds before sleeping; 0: 256 */
	uint32_t empty; /* empty rounds so far */
};
void tool_idle_many(struct usnet_port *const *ports, unsigned n, struct tool_idle *idle,
		    unsigned handled, int timeout_ms);

/*
 * One-line JSON object writer. Keys and string values are escaped; numbers
 * use the C locale (tools never call setlocale()).
 */
struct tool_json {
	FILE *f;
	unsigned depth;
	bool first[8]; /* no member written yet at this depth */
};
void tool_json_begin(struct tool_json *j, FILE *f);
void tool_json_str(struct tool_json *j, const char *key, const char *val);
void tool_json_u64(struct tool_json *j, const char *key, uint64_t val);
void tool_json_f64(struct tool_json *j, const char *key, double val, int decimals);
void tool_json_bool(struct tool_json *j, const char *key, bool val);
void tool_json_null(struct tool_json *j, const char *key);
/* key NULL inside an array. */
void tool_json_open(struct tool_json *j, const char *key, char bracket);
void tool_json_close(struct tool_json *j, char bracket);
/* Closes the top-level object and ends the line. */
void tool_json_end(struct tool_json *j);

/*
 * The test-frame format: an Ethernet/IPv4/UDP frame built by
 * usnet_udp4_build() with a 20-byte IPv4 header, whose UDP payload starts
 * with a 64-bit big-endian sequence number.
 */
#define TOOL_SEQ_OFF	  USNET_UDP4_HLEN /* 42: first payload byte */
#define TOOL_UDP_CSUM_OFF (USNET_ETH_HLEN + 20 + 6)

/*
 * Write seq into a frame whose template had 0 there, and update the UDP
 * checksum incrementally (RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'); here
 * m = 0, so ~m is +0 or -0, which the one's-complement sum ignores).
 */
static inline void tool_seq_stamp(uint8_t *frame, uint64_t seq)
{
	uint8_t *p = frame + TOOL_SEQ_OFF, *c = frame + TOOL_UDP_CSUM_OFF;
	uint32_t sum = (uint16_t) ~(c[0] << 8 | c[1]);
	uint16_t csum;

	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(seq >> (56 - 8 * i));
	sum += (uint32_t)(seq >> 48) + (uint32_t)((seq >> 32) & 0xffff) +
	       (uint32_t)((seq >> 16) & 0xffff) + (uint32_t)(seq & 0xffff);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	csum = (uint16_t)~sum;
	/* RFC 768: a computed 0 is sent as all ones; 0 would mean "no checksum". */
	if (csum == 0)
		csum = 0xffff;
	c[0] = (uint8_t)(csum >> 8);
	c[1] = (uint8_t)csum;
}

static inline uint64_t tool_seq_read(const uint8_t *payload)
{
	uint64_t seq = 0;

	for (int i = 0; i < 8; i++)
		seq = seq << 8 | payload[i];
	return seq;
}

/*
 * Sequence-number bookkeeping for usnet-sink: a bitmap of the numbers
 * seen, grown on demand up to `cap` numbers. Numbers at or above cap are
 * counted as untracked and checked for nothing.
 */
#define TOOL_SEQ_CAP (1ull << 27) /* 16 MiB of bitmap */

struct tool_seq {
	uint64_t *bits;
	uint64_t nbits; /* numbers the bitmap covers now */
	uint64_t cap;
	uint64_t received; /* every number given to tool_seq_add() */
	uint64_t unique;   /* tracked numbers seen at least once */
	uint64_t duplicated;
	uint64_t reordered; /* first seen after a larger number */
	uint64_t untracked; /* at or above cap, or the bitmap could not grow */
	uint64_t max_seq;   /* largest tracked number seen; valid if unique */
};

/* 0 or -ENOMEM. cap: numbers to track at most, > 0. */
int tool_seq_init(struct tool_seq *s, uint64_t cap);
void tool_seq_free(struct tool_seq *s);
void tool_seq_add(struct tool_seq *s, uint64_t seq);
/* Numbers in [0, max_seq] not seen (so far). */
static inline uint64_t tool_seq_lost(const struct tool_seq *s)
{
	return s->unique ? s->max_seq + 1 - s->unique : 0;
}
/* The first max runs of numbers in [0, max_seq] not seen, into buf as
 * "A-B,C,..." (A-B a run, C a single number), with ",..." when more runs
 * follow; "" when none is missing. Says where frames were lost (a burst at
 * the start, holes in the middle). */
void tool_seq_gaps(const struct tool_seq *s, unsigned max, char *buf, size_t size);

#endif
