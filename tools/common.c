/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <usnet/log.h>

#include "common.h"

const char *tool_name = "usnet-tool";
volatile sig_atomic_t tool_stop;

static void on_stop_signal(int sig)
{
	(void)sig;
	tool_stop = 1;
}

void tool_init(const char *name)
{
	struct sigaction sa;

	tool_name = name;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a sleeping poll() or nanosleep() returns EINTR and
	 * the loop sees tool_stop at once (signal(7), "Interruption of system
	 * calls"). */
	sa.sa_flags = 0;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* A closed stdout pipe ("-w - | head") becomes EPIPE from a write,
	 * reported as an error, instead of killing the process. */
	signal(SIGPIPE, SIG_IGN);
}

static void vmsg(const char *fmt, va_list ap)
{
	char line[1024];

	vsnprintf(line, sizeof(line), fmt, ap);
	fprintf(stderr, "%s: %s\n", tool_name, line);
}

void tool_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
}

void tool_usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vmsg(fmt, ap);
	va_end(ap);
	exit(TOOL_EXIT_USAGE);
}

static void print_kind(void *ctx, const char *kind, const char *usage)
{
	(void)kind;
	fprintf(ctx, "       %s\n", usage);
}

void tool_help(const char *head, const char *tail)
{
	fputs(head, stdout);
	fputs("\nPORT KINDS\n"
	      "       SPEC is KIND:NAME[,KEY=VALUE...]. The kinds this build knows:\n\n",
	      stdout);
	usnet_port_kinds(print_kind, stdout);
	fputs("\nEXIT STATUS\n"
	      "       0  success (also when stopped by SIGINT or SIGTERM)\n"
	      "       1  runtime failure: a port or file that cannot be opened, a write error\n"
	      "       2  usage error: unknown option, bad value, a spec the library rejects\n",
	      stdout);
	fputs(tail, stdout);
	exit(ferror(stdout) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK);
}

void tool_bad_option(int c, char *const argv[], const struct option *opts)
{
	/* getopt_long() leaves the offending word at argv[optind - 1]; for a
	 * short option it also sets optopt (getopt(3), "RETURN VALUE"). */
	const char *word = optind > 0 ? argv[optind - 1] : "?";
	bool is_long = !strncmp(word, "--", 2);
	int len = (int)strcspn(word, "="); /* "--size=" names "--size" */

	if (c == ':') {
		if (is_long || !optopt)
			tool_usage_error("option '%.*s' needs a value", len, word);
		tool_usage_error("option '-%c' needs a value", optopt);
	}
	if (is_long && word[len] == '=')
		for (const struct option *o = opts; o->name; o++)
			if (o->has_arg == no_argument && (int)strlen(o->name) == len - 2 &&
			    !strncmp(o->name, word + 2, (size_t)len - 2))
				tool_usage_error("option '%.*s' takes no value", len, word);
	if (is_long || !optopt)
		tool_usage_error("unknown option '%.*s'", len, word);
	tool_usage_error("unknown option '-%c'", optopt);
}

/* k/K, M, G: powers of 10 (SI), or of 2 when binary (sizes in bytes). */
static int parse_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char **why,
		     bool binary)
{
	static char range[96];
	unsigned long long x;
	uint64_t mult = 1;
	char *end;

	if (*arg == '-') {
		*why = "must not be negative";
		return -EINVAL;
	}
	if (*arg < '0' || *arg > '9') {
		*why = "not a number";
		return -EINVAL;
	}
	errno = 0;
	x = strtoull(arg, &end, 10);
	if (errno == ERANGE) {
		*why = "too large";
		return -EINVAL;
	}
	switch (*end) {
	case 'k':
	case 'K':
		mult = binary ? 1u << 10 : 1000;
		end++;
		break;
	case 'M':
		mult = binary ? 1u << 20 : 1000000;
		end++;
		break;
	case 'G':
		mult = binary ? 1u << 30 : 1000000000;
		end++;
		break;
	}
	if (*end) {
		*why = "not a number";
		return -EINVAL;
	}
	if (x > UINT64_MAX / mult || x * mult < min || x * mult > max) {
		snprintf(range, sizeof(range), "must be between %llu and %llu",
			 (unsigned long long)min, (unsigned long long)max);
		*why = range;
		return -EINVAL;
	}
	*out = x * mult;
	return 0;
}

int tool_parse_u64(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	return parse_u64(arg, min, max, out, why, false);
}

int tool_parse_bytes(const char *arg, uint64_t min, uint64_t max, uint64_t *out, const char **why)
{
	return parse_u64(arg, min, max, out, why, true);
}

int tool_parse_seconds(const char *arg, uint64_t *ns, const char **why)
{
	const char *p = arg;
	char *end;
	double s;

	/* strtod() would also take "inf", "nan" and hex; allow digits and one '.'. */
	if (*p == '-') {
		*why = "must not be negative";
		return -EINVAL;
	}
	if (!*p || strspn(p, "0123456789.") != strlen(p) || strchr(p, '.') != strrchr(p, '.') ||
	    !strcmp(p, ".")) {
		*why = "not a number of seconds";
		return -EINVAL;
	}
	s = strtod(arg, &end);
	if (*end || !isfinite(s)) {
		*why = "not a number of seconds";
		return -EINVAL;
	}
	if (s <= 0 || s > TOOL_MAX_SECONDS) {
		*why = "must be more than 0 and at most 31536000 (one year)";
		return -EINVAL;
	}
	*ns = (uint64_t)(s * 1e9);
	if (*ns == 0)
		*ns = 1;
	return 0;
}

uint64_t tool_arg_u64(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	const char *why;
	uint64_t v;

	if (tool_parse_u64(arg, min, max, &v, &why))
		tool_usage_error("invalid %s '%.*s%s': %s", opt, TOOL_ECHO_ARGS(arg), why);
	return v;
}

uint64_t tool_arg_bytes(const char *opt, const char *arg, uint64_t min, uint64_t max)
{
	const char *why;
	uint64_t v;

	if (tool_parse_bytes(arg, min, max, &v, &why))
		tool_usage_error("invalid %s '%.*s%s': %s", opt, TOOL_ECHO_ARGS(arg), why);
	return v;
}

uint64_t tool_arg_seconds(const char *opt, const char *arg)
{
	const char *why;
	uint64_t ns;

	if (tool_parse_seconds(arg, &ns, &why))
		tool_usage_error("invalid %s '%.*s%s': %s", opt, TOOL_ECHO_ARGS(arg), why);
	return ns;
}

void tool_arg_mac(const char *opt, const char *arg, uint8_t mac[6])
{
	if (usnet_parse_mac(arg, mac))
		tool_usage_error("invalid %s '%.*s%s': not a MAC address like 02:00:00:00:00:01",
				 opt, TOOL_ECHO_ARGS(arg));
}

uint32_t tool_arg_ipv4(const char *opt, const char *arg)
{
	uint32_t ip;

	if (usnet_parse_ipv4(arg, &ip))
		tool_usage_error("invalid %s '%.*s%s': not an IPv4 address like 198.18.0.1", opt,
				 TOOL_ECHO_ARGS(arg));
	return ip;
}

int tool_open_port(struct usnet_port **out, const char *spec, const struct usnet_port_conf *conf)
{
	int err = usnet_port_open(out, spec, conf);
	const char *why;

	if (!err)
		return 0;
	why = usnet_last_error();
	tool_msg("cannot open port '%.*s%s': %s", TOOL_ECHO_ARGS(spec),
		 *why ? why : strerror(-err));
	return err == -EINVAL ? TOOL_EXIT_USAGE : TOOL_EXIT_FAIL;
}

#define STD_ALWAYS (~0u) /* -h: every tool takes it */

/* The standard options, in the order they are put into the getopt table. */
static const struct {
	unsigned bit;
	char shortopt[3];
	struct option lopt;
} std_opts[] = {
    {TOOL_OPT_PORT, "p:", {"port", required_argument, NULL, 'p'}},
    {TOOL_OPT_COUNT, "n:", {"count", required_argument, NULL, 'n'}},
    {TOOL_OPT_TIME, "t:", {"time", required_argument, NULL, 't'}},
    {TOOL_OPT_BURST, "b:", {"burst", required_argument, NULL, 'b'}},
    {TOOL_OPT_QUIET, "q", {"quiet", no_argument, NULL, 'q'}},
    {STD_ALWAYS, "h", {"help", no_argument, NULL, 'h'}},
    {TOOL_OPT_JSON, "", {"json", no_argument, NULL, TOOL_OPT_JSON_CODE}},
};

#define STD_COUNT (sizeof(std_opts) / sizeof(std_opts[0]))
#define OWN_MAX	  48 /* a tool's own long options at most */

/* Does the tool take std_opts[i]? */
static bool std_wanted(const struct tool_def *def, size_t i)
{
	return std_opts[i].bit == STD_ALWAYS || (def->std & std_opts[i].bit);
}

/* optstring and long table: ':' (tool_bad_option() reports), standard, own. */
static void build_table(const struct tool_def *def, char *shorts, size_t size, struct option *longs)
{
	size_t n = 0;

	snprintf(shorts, size, ":");
	for (size_t i = 0; i < STD_COUNT; i++) {
		if (!std_wanted(def, i))
			continue;
		strncat(shorts, std_opts[i].shortopt, size - strlen(shorts) - 1);
		longs[n++] = std_opts[i].lopt;
	}
	if (def->short_opts)
		strncat(shorts, def->short_opts, size - strlen(shorts) - 1);
	for (const struct option *o = def->long_opts; o && o->name; o++) {
		if (n == STD_COUNT + OWN_MAX) {
			fprintf(stderr, "%s: too many options in the table\n", def->name);
			abort(); /* a programming error, not the user's */
		}
		longs[n++] = *o;
	}
	memset(&longs[n], 0, sizeof(longs[n]));
}

static void add_port(const struct tool_def *def, struct tool_std *std, const char *arg)
{
	if (std->nspec == def->ports) {
		if (def->ports == 1)
			tool_usage_error("-p given twice");
		tool_usage_error("more than two -p options");
	}
	std->spec[std->nspec++] = arg;
}

/* A standard option: true if c was one. */
static bool std_opt(const struct tool_def *def, struct tool_std *std, int c, const char *arg)
{
	switch (c) {
	case 'p':
		add_port(def, std, arg);
		return true;
	case 'n':
		std->count = tool_arg_u64("-n", arg, 0, UINT64_MAX);
		std->count_set = true;
		return true;
	case 't':
		std->duration_ns = tool_arg_seconds("-t", arg);
		return true;
	case 'b':
		std->burst = (uint16_t)tool_arg_u64("-b", arg, 1, USNET_MAX_BURST);
		return true;
	case 'q':
		std->quiet = true;
		return true;
	case 'h':
		tool_help(def->help_head, def->help_tail);
	case TOOL_OPT_JSON_CODE:
		std->json = true;
		return true;
	}
	return false;
}

/* Is c a standard option this tool takes? (its own handler gets the others) */
static bool std_taken(const struct tool_def *def, int c)
{
	for (size_t i = 0; i < STD_COUNT; i++)
		if (std_opts[i].lopt.val == c)
			return std_wanted(def, i);
	return false;
}

void tool_parse(const struct tool_def *def, void *ctx, struct tool_std *std, int argc, char **argv)
{
	struct option longs[STD_COUNT + OWN_MAX + 1];
	char shorts[128];
	int c;

	memset(std, 0, sizeof(*std));
	std->burst = def->burst;
	build_table(def, shorts, sizeof(shorts), longs);
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (c == '?' || c == ':')
			tool_bad_option(c, argv, longs);
		if (std_taken(def, c) && std_opt(def, std, c, optarg))
			continue;
		if (!def->opt)
			tool_bad_option('?', argv, longs);
		def->opt(ctx, c, optarg);
	}
	if (def->args)
		def->args(ctx, argc - optind, argv + optind);
	else if (optind < argc)
		tool_usage_error("unexpected argument '%s'", argv[optind]);
	if ((def->std & TOOL_OPT_PORT) && std->nspec != def->ports) {
		if (def->ports == 1)
			tool_usage_error("missing -p SPEC: %s", def->port_role);
		tool_usage_error("missing -p SPEC: needs two ports, got %u", std->nspec);
	}
	if (def->check)
		def->check(ctx, std);
}

int tool_open_ports(struct tool_std *std)
{
	for (unsigned i = 0; i < std->nspec; i++) {
		int status = tool_open_port(&std->port[i], std->spec[i], &std->port_conf);

		if (status) {
			while (i--)
				usnet_port_close(std->port[i]);
			return status;
		}
	}
	return 0;
}

void tool_close_ports(struct tool_std *std)
{
	/* Last opened, first closed (usnet-fwd always closed port 1 first). */
	for (unsigned i = std->nspec; i--;)
		if (std->port[i])
			usnet_port_close(std->port[i]);
	memset(std->port, 0, sizeof(std->port));
}

int tool_main(const struct tool_def *def, void *ctx, int argc, char **argv)
{
	struct tool_std std;
	int status;

	tool_init(def->name);
	tool_parse(def, ctx, &std, argc, argv);
	status = def->open ? def->open(ctx, &std) : tool_open_ports(&std);
	if (status)
		return status;
	status = def->run(ctx, &std);
	if (def->close)
		def->close(ctx, &std);
	else
		tool_close_ports(&std);
	if (std.json && (fflush(stdout) || ferror(stdout)))
		status = TOOL_EXIT_FAIL;
	return status;
}

uint16_t tool_tx_retry(struct usnet_port *port, struct usnet_pkt **pkts, uint16_t n,
		       uint64_t retry_ns)
{
	uint16_t sent = usnet_tx_burst(port, 0, pkts, n);
	uint64_t deadline = 0;

	while (sent < n) {
		uint64_t now = usnet_now_ns();

		if (!deadline)
			deadline = now + retry_ns;
		else if (now >= deadline)
			break;
		sent =
		    (uint16_t)(sent + usnet_tx_burst(port, 0, pkts + sent, (uint16_t)(n - sent)));
	}
	return sent;
}

uint64_t tool_port_rx_drops(struct usnet_port *port)
{
	struct usnet_queue_stats st;

	usnet_port_stats(port, 0, &st);
	return st.rx_dropped + st.rx_nobuf;
}

void tool_run_start(struct tool_run *r, uint64_t duration_ns, bool quiet)
{
	r->start_ns = usnet_now_ns();
	r->end_ns = duration_ns ? r->start_ns + duration_ns : 0;
	r->line_ns = r->start_ns;
	r->next_line_ns = r->start_ns + USNET_NSEC_PER_SEC;
	r->quiet = quiet;
}

double tool_run_seconds(const struct tool_run *r, uint64_t now)
{
	return usnet_ns_to_s(now - r->start_ns);
}

double tool_rate(uint64_t count, double seconds)
{
	return seconds > 0 ? (double)count / seconds : 0;
}

void tool_run_line(struct tool_run *r, uint64_t now, struct tool_meter *m, unsigned n,
		   const char *extra)
{
	double dt = usnet_ns_to_s(now - r->line_ns);
	char line[1024];
	int len;

	len = snprintf(line, sizeof(line), "%s: %.1f s", tool_name, tool_run_seconds(r, now));
	for (unsigned i = 0; i < n && len > 0 && (size_t)len < sizeof(line); i++) {
		uint64_t dp = m[i].pkts - m[i].line_pkts, db = m[i].bytes - m[i].line_bytes;

		len += snprintf(line + len, sizeof(line) - (size_t)len,
				" | %s %.0f pps %.2f Mbit/s, total %llu pkts %llu B, drops %llu",
				m[i].label, tool_rate(dp, dt), tool_rate(db, dt) * 8 / 1e6,
				(unsigned long long)m[i].pkts, (unsigned long long)m[i].bytes,
				(unsigned long long)m[i].drops);
		m[i].line_pkts = m[i].pkts;
		m[i].line_bytes = m[i].bytes;
	}
	if (!r->quiet)
		fprintf(stderr, "%s%s%s\n", line, extra ? " | " : "", extra ? extra : "");
	r->line_ns = now;
	/* Skip lines that a long stall made us miss rather than print a burst of them. */
	while (r->next_line_ns <= now)
		r->next_line_ns += USNET_NSEC_PER_SEC;
}

int tool_run_timeout_ms(const struct tool_run *r, uint64_t now, int cap_ms)
{
	uint64_t until = r->next_line_ns;
	uint64_t ms;

	if (r->end_ns && r->end_ns < until)
		until = r->end_ns;
	if (until <= now)
		return 0;
	/* Round up so that the wait does not end just before the event. */
	ms = (until - now + 999999) / 1000000;
	return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

void tool_idle_many(struct usnet_port *const *ports, unsigned n, struct tool_idle *idle,
		    unsigned handled, int timeout_ms)
{
	struct pollfd pfd[USNET_MAX_QUEUES];
	unsigned nfd = 0;

	if (handled) {
		idle->empty = 0;
		return;
	}
	if (++idle->empty < (idle->spin ? idle->spin : 256))
		return;
	idle->empty = 0;
	if (n > USNET_MAX_QUEUES)
		n = USNET_MAX_QUEUES;
	for (unsigned i = 0; i < n; i++) {
		int fd = usnet_port_fd(ports[i], 0);

		if (fd < 0) {
			/* Nothing to sleep on: nap briefly instead of spinning. */
			struct timespec ts = {0, 1000000};

			nanosleep(&ts, NULL);
			return;
		}
		pfd[nfd].fd = fd;
		pfd[nfd].events = POLLIN;
		nfd++;
	}
	/* Arm all before sleeping on any: a port that already has frames is
	 * served now, and one that gets frames after its arm wakes the poll. */
	for (unsigned i = 0; i < n; i++)
		if (usnet_port_arm(ports[i], 0))
			return;
	/* EINTR is a signal: the caller checks tool_stop next. */
	(void)poll(pfd, nfd, timeout_ms);
}

static void json_sep(struct tool_json *j)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(f, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(f, "\\u%04x", *p);
		else
			fputc(*p, f);
	}
	fputc('"', f);
}

static void json_key(struct tool_json *j, const char *key)
{
	json_sep(j);
	if (key) {
		json_string(j->f, key);
		fputc(':', j->f);
	}
}

void tool_json_begin(struct tool_json *j, FILE *f)
{
	j->f = f;
	j->depth = 0;
	j->first[0] = true;
	fputc('{', f);
}

void tool_json_str(struct tool_json *j, const char *key, const char *val)
{
	json_key(j, key);
	json_string(j->f, val);
}

void tool_json_u64(struct tool_json *j, const char *key, uint64_t val)
{
	json_key(j, key);
	fprintf(j->f, "%llu", (unsigned long long)val);
}

void tool_json_f64(struct tool_json *j, const char *key, double val, int decimals)
{
	json_key(j, key);
	/* JSON has no NaN or infinity (RFC 8259 section 6). */
	fprintf(j->f, "%.*f", decimals, isfinite(val) ? val : 0.0);
}

void tool_json_null(struct tool_json *j, const char *key)
{
	json_key(j, key);
	fputs("null", j->f);
}

void tool_json_bool(struct tool_json *j, const char *key, bool val)
{
	json_key(j, key);
	fputs(val ? "true" : "false", j->f);
}

void tool_json_open(struct tool_json *j, const char *key, char bracket)
{
	json_key(j, key);
	fputc(bracket, j->f);
	if (j->depth + 1 < sizeof(j->first) / sizeof(j->first[0]))
		j->depth++;
	j->first[j->depth] = true;
}

void tool_json_close(struct tool_json *j, char bracket)
{
	fputc(bracket, j->f);
	if (j->depth)
		j->depth--;
}

void tool_json_end(struct tool_json *j)
{
	fputs("}\n", j->f);
	fflush(j->f);
}

int tool_seq_init(struct tool_seq *s, uint64_t cap)
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	s->nbits = cap < (1u << 16) ? cap : (1u << 16);
	s->bits = calloc((s->nbits + 63) / 64, sizeof(uint64_t));
	return s->bits ? 0 : -ENOMEM;
}

void tool_seq_free(struct tool_seq *s)
{
	free(s->bits);
	s->bits = NULL;
}

/* Cover seq in the bitmap: double until it fits, at most up to cap. */
static bool seq_seen(const struct tool_seq *s, uint64_t seq)
{
	return s->bits[seq / 64] & (1ull << (seq % 64));
}

void tool_seq_gaps(const struct tool_seq *s, unsigned max, char *buf, size_t size)
{
	uint64_t end = s->unique ? s->max_seq : 0, a = 0;
	size_t len = 0;
	unsigned runs = 0;

	if (size)
		buf[0] = '\0';
	while (s->unique && a < end) {
		uint64_t b;
		int w;

		/* Whole words seen at once: a 2^27 bitmap is scanned quickly. */
		if (a % 64 == 0 && s->bits[a / 64] == UINT64_MAX) {
			a += 64;
			continue;
		}
		if (seq_seen(s, a)) {
			a++;
			continue;
		}
		for (b = a; b + 1 < end && !seq_seen(s, b + 1); b++)
			;
		if (runs++ == max) {
			w = snprintf(buf + len, size - len, ",...");
		} else {
			w = snprintf(buf + len, size - len, b > a ? "%s%llu-%llu" : "%s%llu",
				     runs > 1 ? "," : "", (unsigned long long)a,
				     (unsigned long long)b);
		}
		if (w < 0 || (size_t)w >= size - len || runs > max)
			return;
		len += (size_t)w;
		a = b + 1;
	}
}

static bool seq_grow(struct tool_seq *s, uint64_t seq)
{
	uint64_t n = s->nbits, old_words = (s->nbits + 63) / 64, words;
	uint64_t *bits;

	while (n <= seq)
		n *= 2;
	if (n > s->cap)
		n = s->cap;
	words = (n + 63) / 64;
	bits = realloc(s->bits, words * sizeof(uint64_t));
	if (!bits)
		return false;
	memset(bits + old_words, 0, (words - old_words) * sizeof(uint64_t));
	s->bits = bits;
	s->nbits = n;
	return true;
}

void tool_seq_add(struct tool_seq *s, uint64_t seq)
{
	uint64_t bit;

	s->received++;
	if (seq >= s->cap || (seq >= s->nbits && !seq_grow(s, seq))) {
		s->untracked++;
		return;
	}
	bit = 1ull << (seq % 64);
	if (s->bits[seq / 64] & bit) {
		s->duplicated++;
		return;
	}
	s->bits[seq / 64] |= bit;
	if (s->unique && seq < s->max_seq)
		s->reordered++;
	if (!s->unique || seq > s->max_seq)
		s->max_seq = seq;
	s->unique++;
}
