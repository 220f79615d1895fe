/* SPDX-License-Identifier: MIT */
/*
 * usnet-fwd: forward frames between two ports in both directions, in one
 * thread; optionally impaired (loss, duplication, reordering, delay, rate:
 * impair.h has the model).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "impair.h"

/* How long one burst may wait for a full TX queue before the rest is dropped. */
#define TX_RETRY_NS 100000ull

static const char help_head[] =
    "NAME\n"
    "       usnet-fwd - forward frames between two ports, both directions\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-fwd -p SPEC0 -p SPEC1 [-t SECONDS] [-b BURST] [-q] [--json]\n"
    "                 [--loss P[,BURST] | --loss-ge P,R[,BAD[,GOOD]]] [--dup P]\n"
    "                 [--reorder P[,GAP]] [--delay MS[,JITTER[,normal]]] [--rate BITS]\n"
    "                 [--queue FRAMES] [--seed N] [--dir both|0|1]\n"
    "\n"
    "DESCRIPTION\n"
    "       Receives on each port and sends what it got, unchanged, out of the other\n"
    "       (0>1 and 1>0), in one thread. When the other port's TX queue is full, the\n"
    "       rest of the burst is retried for up to 100 microseconds, then freed and\n"
    "       counted as drops: without impairment options the only place fwd drops\n"
    "       frames, and it counts them.\n"
    "       When both ports are idle it sleeps in poll() on both ports' descriptors\n"
    "       instead of spinning. Runs for SECONDS, or until SIGINT/SIGTERM.\n"
    "\n"
    "       With impairment options it is a user-space netem: each direction (or the\n"
    "       one --dir names) loses, duplicates, reorders, delays and rate-limits\n"
    "       frames, every decision drawn from a PRNG seeded with --seed, so that a run\n"
    "       is reproducible. Frames waiting to leave are held in a queue of at most\n"
    "       --queue frames per direction; the loop sleeps until the next is due.\n"
    "       --queue, --seed and --dir need an impairment option.\n"
    "\n"
    "OPTIONS\n"
    "       -p, --port SPEC\n"
    "              A port; give exactly two (required). See PORT KINDS.\n" TOOL_HELP_TIME
    "       -b, --burst BURST\n"
    "              Frames per rx_burst call, 1..256. Default: 32.\n"
    "       --loss P[,BURST]\n"
    "              Lose P percent of the frames (0..100, decimal). With BURST (>= 1,\n"
    "              decimal) losses come in runs of BURST frames on average (a\n"
    "              Gilbert chain); without, each frame independently.\n"
    "       --loss-ge P,R[,BAD[,GOOD]]\n"
    "              Gilbert-Elliott loss, percentages as netem's gemodel: P good to\n"
    "              bad, R bad to good (per frame), BAD loss in the bad state (100),\n"
    "              GOOD loss in the good state (0).\n"
    "       --dup P\n"
    "              Send P percent of the frames twice (a copy right behind).\n"
    "       --reorder P[,GAP]\n"
    "              Hold P percent of the frames back until GAP later frames (1..1000,\n"
    "              default 3) have left, then send them; one whose GAP frames do\n"
    "              not come within 10 ms goes then.\n"
    "       --delay MS[,JITTER[,normal]]\n"
    "              Delay every frame MS milliseconds (decimal, at most 10000), plus a\n"
    "              jitter uniform within JITTER ms either way, or with normal normally\n"
    "              distributed with sigma JITTER, cut at 3 sigma. Frames keep their\n"
    "              order.\n"
    "       --rate BITS\n"
    "              Serialise frames on a link of BITS bit/s (SI suffix: 100M),\n"
    "              counting 24 bytes of preamble, FCS and gap per frame.\n"
    "       --queue FRAMES\n"
    "              Frames held at most per direction, 1..1048576 (default 8192); a\n"
    "              frame that finds it full is dropped (queue_full). The ports'\n"
    "              pools are sized to hold it.\n"
    "       --seed N\n"
    "              The PRNG seed, 0..2^64-1 (default 1); the two directions draw\n"
    "              from different streams of it.\n"
    "       --dir both|0|1\n"
    "              Impair both directions (default), or only the frames received on\n"
    "              port 0 (0>1) or port 1 (1>0).\n" TOOL_HELP_QUIET_JSON_HELP;

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       Once per second on stderr, per direction: forwarded rate in pps and Mbit/s,\n"
    "       totals, and drops (TX refused); when impairing, the impairment counters.\n"
    "       JSON fields: tool, stop (time, signal), seconds, forwarded, drops, and\n"
    "       directions: an array of two objects with from, to, rx, rx_bytes, tx,\n"
    "       tx_bytes, drops, port_drops (the input port's rx_dropped + rx_nobuf), pps,\n"
    "       mbps. When impairing, also seed, and per direction impaired (true or\n"
    "       false) and impair: lost, duplicated, dup_nobuf, reordered,\n"
    "       reorder_timeouts, delayed, queue_full, flushed (held at the end, freed);\n"
    "       rx + duplicated = tx + drops + lost + queue_full + flushed.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-fwd -p afpacket:veth1 -p afpacket:veth2\n"
    "       usnet-fwd -p null: -p null: -t 5 --json -q\n"
    "       usnet-fwd -p afpacket:veth1 -p afpacket:veth2 --loss 1 --delay 20,5 --seed 7\n";

/* Long-only options. */
enum {
	OPT_LOSS = 256,
	OPT_LOSS_GE,
	OPT_DUP,
	OPT_REORDER,
	OPT_DELAY,
	OPT_RATE,
	OPT_QUEUE,
	OPT_SEED,
	OPT_DIR,
};

static const struct option fwd_opts[] = {
    {"loss", required_argument, NULL, OPT_LOSS},
    {"loss-ge", required_argument, NULL, OPT_LOSS_GE},
    {"dup", required_argument, NULL, OPT_DUP},
    {"reorder", required_argument, NULL, OPT_REORDER},
    {"delay", required_argument, NULL, OPT_DELAY},
    {"rate", required_argument, NULL, OPT_RATE},
    {"queue", required_argument, NULL, OPT_QUEUE},
    {"seed", required_argument, NULL, OPT_SEED},
    {"dir", required_argument, NULL, OPT_DIR},
    {NULL, 0, NULL, 0},
};

#define REORDER_MAX_NS (10 * 1000000ull) /* longest hold of a reordered frame */
#define DELAY_MAX_MS   10000.0
#define POOL_SPARE     4096u /* pool buffers beyond --queue: the ring, a burst, TX */

struct fwd_ctx {
	struct impair_conf conf; /* both directions' (seed adjusted per direction) */
	bool loss_set, loss_ge_set;
	bool impair_opt;   /* an impairment option was given */
	const char *needs; /* an option that means nothing without one */
	int dir;	   /* -1: both, else the input port */
};

/*
 * One comma-separated field of an option's value as a decimal number (digits
 * and at most one '.'; a '%' at the end if pct) in [min, max]; *arg moves
 * past it and its comma. Bad input: the usage error names the whole value.
 */
static double field(const char *opt, const char *whole, const char **arg, bool pct, double min,
		    double max)
{
	const char *p = *arg;
	size_t n = strcspn(p, ",");
	char buf[32], *end;
	double v;

	if (n && pct && p[n - 1] == '%')
		n--;
	if (!n || n >= sizeof(buf) || strspn(p, "0123456789.") < n)
		tool_usage_error("invalid %s '%.*s%s': not a decimal number", opt,
				 TOOL_ECHO_ARGS(whole));
	memcpy(buf, p, n);
	buf[n] = 0;
	v = strtod(buf, &end);
	if (*end || strchr(buf, '.') != strrchr(buf, '.') || !isfinite(v))
		tool_usage_error("invalid %s '%.*s%s': not a decimal number", opt,
				 TOOL_ECHO_ARGS(whole));
	if (v < min || v > max)
		tool_usage_error("invalid %s '%.*s%s': %g is not between %g and %g", opt,
				 TOOL_ECHO_ARGS(whole), v, min, max);
	p += n;
	if (*p == '%')
		p++;
	if (*p && *p != ',')
		tool_usage_error("invalid %s '%.*s%s': not a decimal number", opt,
				 TOOL_ECHO_ARGS(whole));
	*arg = *p ? p + 1 : p;
	if (*p && !**arg)
		tool_usage_error("invalid %s '%.*s%s': a value after ',' is missing", opt,
				 TOOL_ECHO_ARGS(whole));
	return v;
}

static void no_more(const char *opt, const char *whole, const char *rest)
{
	if (*rest)
		tool_usage_error("invalid %s '%.*s%s': too many values", opt,
				 TOOL_ECHO_ARGS(whole));
}

static void fwd_opt(void *vctx, int c, const char *arg)
{
	struct fwd_ctx *x = vctx;
	struct impair_conf *k = &x->conf;
	const char *p = arg;

	if (c == OPT_QUEUE || c == OPT_SEED || c == OPT_DIR)
		x->needs = c == OPT_QUEUE ? "--queue" : c == OPT_SEED ? "--seed" : "--dir";
	else
		x->impair_opt = true;
	switch (c) {
	case OPT_LOSS: {
		double rate = field("--loss", arg, &p, true, 0, 100) / 100, burst = 1;

		if (*p)
			burst = field("--loss", arg, &p, false, 1, 1e6);
		no_more("--loss", arg, p);
		if (rate >= 1.0 && burst > 1)
			tool_usage_error("invalid --loss '%.*s%s': bursts need a rate below 100",
					 TOOL_ECHO_ARGS(arg));
		impair_loss_burst(k, rate, burst);
		x->loss_set = true;
		break;
	}
	case OPT_LOSS_GE:
		k->loss_p = field("--loss-ge", arg, &p, true, 0, 100) / 100;
		if (!*p)
			tool_usage_error("invalid --loss-ge '%.*s%s': needs P,R",
					 TOOL_ECHO_ARGS(arg));
		k->loss_r = field("--loss-ge", arg, &p, true, 0, 100) / 100;
		k->loss_bad = *p ? field("--loss-ge", arg, &p, true, 0, 100) / 100 : 1.0;
		k->loss_good = *p ? field("--loss-ge", arg, &p, true, 0, 100) / 100 : 0.0;
		no_more("--loss-ge", arg, p);
		x->loss_ge_set = true;
		break;
	case OPT_DUP:
		k->dup = field("--dup", arg, &p, true, 0, 100) / 100;
		no_more("--dup", arg, p);
		break;
	case OPT_REORDER:
		k->reorder = field("--reorder", arg, &p, true, 0, 100) / 100;
		k->reorder_gap = 3;
		if (*p) {
			double gap = field("--reorder", arg, &p, false, 1, 1000);

			if (gap != floor(gap))
				tool_usage_error(
				    "invalid --reorder '%.*s%s': GAP is a number of frames",
				    TOOL_ECHO_ARGS(arg));
			k->reorder_gap = (uint32_t)gap;
		}
		no_more("--reorder", arg, p);
		break;
	case OPT_DELAY:
		k->delay_ns = (uint64_t)(field("--delay", arg, &p, false, 0, DELAY_MAX_MS) * 1e6);
		k->jitter_ns = 0;
		k->jitter_normal = false;
		if (*p)
			k->jitter_ns =
			    (uint64_t)(field("--delay", arg, &p, false, 0, DELAY_MAX_MS) * 1e6);
		if (*p) {
			if (strcmp(p, "normal") && strcmp(p, "uniform"))
				tool_usage_error("invalid --delay '%.*s%s': the distribution is "
						 "uniform or normal",
						 TOOL_ECHO_ARGS(arg));
			k->jitter_normal = !strcmp(p, "normal");
		}
		break;
	case OPT_RATE:
		k->rate_bps = tool_arg_u64("--rate", arg, 1000, 1000000000000ull);
		break;
	case OPT_QUEUE:
		k->cap = (uint32_t)tool_arg_u64("--queue", arg, 1, IMPAIR_CAP_MAX);
		break;
	case OPT_SEED:
		k->seed = tool_arg_u64("--seed", arg, 0, UINT64_MAX);
		break;
	case OPT_DIR:
		if (!strcmp(arg, "both"))
			x->dir = -1;
		else if (!strcmp(arg, "0") || !strcmp(arg, "1"))
			x->dir = arg[0] - '0';
		else
			tool_usage_error("invalid --dir '%.*s%s': both, 0 or 1",
					 TOOL_ECHO_ARGS(arg));
		break;
	}
}

static void fwd_check(void *vctx, struct tool_std *std)
{
	struct fwd_ctx *x = vctx;

	if (x->loss_set && x->loss_ge_set)
		tool_usage_error("--loss and --loss-ge exclude each other");
	if (x->needs && !x->impair_opt)
		tool_usage_error(
		    "%s needs an impairment option (--loss, --loss-ge, --dup, --reorder, "
		    "--delay, --rate)",
		    x->needs);
	if (!impair_conf_active(&x->conf))
		return;
	/* Held frames are the input port's pool buffers: room for the queue. */
	std->port_conf.pool_size = x->conf.cap + POOL_SPARE;
}

struct dir {
	struct usnet_port *in, *out;
	const char *from, *to;
	uint64_t rx, rx_bytes, port_drops;
	struct tool_meter *m; /* pkts/bytes: forwarded; drops: refused by out */
	struct impair *im;    /* NULL: not impaired */
	uint64_t flushed;     /* held at the end, freed */
	char line[160];	      /* the stats line's impairment part */
};

/* One burst from in to out; returns the frames received. */
static uint16_t forward(struct dir *d, uint16_t burst)
{
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	uint16_t n = usnet_rx_burst(d->in, 0, pkts, burst), sent;
	uint64_t bytes = 0;

	if (!n)
		return 0;
	for (uint16_t i = 0; i < n; i++) {
		bytes += pkts[i]->len;
		usnet_pkt_csum_finish(pkts[i]); /* the next link carries no offload flag */
	}
	d->rx += n;
	d->rx_bytes += bytes;
	sent = tool_tx_retry(d->out, pkts, n, TX_RETRY_NS);
	for (uint16_t i = sent; i < n; i++)
		bytes -= pkts[i]->len;
	if (sent < n) {
		usnet_pkt_free_bulk(pkts + sent, (uint32_t)(n - sent));
		d->m->drops += (uint64_t)(n - sent);
	}
	d->m->pkts += sent;
	d->m->bytes += bytes;
	return n;
}

/* A copy of p from its own pool, or NULL. */
static struct usnet_pkt *copy_pkt(const struct usnet_pkt *p)
{
	struct usnet_pkt *c = usnet_pkt_alloc(p->pool);

	if (!c)
		return NULL;
	if (usnet_pkt_tailroom(c) < p->len) {
		usnet_pkt_free(c);
		return NULL;
	}
	memcpy(usnet_pkt_data(c), usnet_pkt_data(p), p->len);
	c->len = p->len;
	return c;
}

/* One burst from in into the impairment queue; returns the frames received. */
static uint16_t impair_in(struct dir *d, uint16_t burst, uint64_t now)
{
	struct usnet_pkt *pkts[USNET_MAX_BURST], *c;
	uint16_t n = usnet_rx_burst(d->in, 0, pkts, burst);

	for (uint16_t i = 0; i < n; i++) {
		d->rx++;
		d->rx_bytes += pkts[i]->len;
		switch (impair_push(d->im, now, pkts[i], pkts[i]->len)) {
		case IMPAIR_LOST:
		case IMPAIR_FULL:
			usnet_pkt_free(pkts[i]);
			break;
		case IMPAIR_QUEUED:
			break;
		case IMPAIR_QUEUED_DUP:
			c = copy_pkt(pkts[i]);
			if (!c)
				impair_copy_failed(d->im);
			else if (!impair_push_copy(d->im, c))
				usnet_pkt_free(c);
			break;
		}
	}
	return n;
}

/* Send what is due at now (a few bursts at most); returns the frames sent. */
static unsigned impair_out(struct dir *d, uint16_t burst, uint64_t now)
{
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	unsigned total = 0;

	for (int round = 0; round < 8; round++) {
		uint16_t k = 0, sent;
		uint64_t bytes = 0;

		while (k < burst && (pkts[k] = impair_pop(d->im, now)) != NULL)
			bytes += pkts[k++]->len;
		if (!k)
			break;
		sent = tool_tx_retry(d->out, pkts, k, TX_RETRY_NS);
		for (uint16_t i = sent; i < k; i++)
			bytes -= pkts[i]->len;
		if (sent < k) {
			usnet_pkt_free_bulk(pkts + sent, (uint32_t)(k - sent));
			d->m->drops += (uint64_t)(k - sent);
		}
		d->m->pkts += sent;
		d->m->bytes += bytes;
		total += k;
	}
	return total;
}

/* At the end: free what is still held. */
static void impair_flush(struct dir *d)
{
	struct usnet_pkt *p;

	while ((p = impair_pop(d->im, UINT64_MAX)) != NULL) {
		usnet_pkt_free(p);
		d->flushed++;
	}
	/* Popped frames count as out in the model; they were not sent. */
	d->im->st.out -= d->flushed;
}

/* Milliseconds until the next held frame is due, at most cap_ms (rounded up:
 * a frame leaves at most ~1 ms late rather than the loop spinning). */
static int impair_timeout_ms(const struct dir d[2], uint64_t now, int cap_ms)
{
	uint64_t next = UINT64_MAX, ms;

	for (int i = 0; i < 2; i++)
		if (d[i].im) {
			uint64_t t = impair_next_ns(d[i].im);

			next = t < next ? t : next;
		}
	if (next == UINT64_MAX)
		return cap_ms;
	if (next <= now)
		return 0;
	ms = (next - now + 999999) / 1000000;
	return ms < (uint64_t)cap_ms ? (int)ms : cap_ms;
}

static const char *impair_line(struct dir *d)
{
	const struct impair_stats *s = &d->im->st;

	snprintf(d->line, sizeof(d->line),
		 "%s lost %llu dup %llu reord %llu delayed %llu full %llu held %u", d->m->label,
		 (unsigned long long)s->lost, (unsigned long long)s->duplicated,
		 (unsigned long long)s->reordered, (unsigned long long)s->delayed,
		 (unsigned long long)s->queue_full, impair_held_frames(d->im));
	return d->line;
}

static void json_impair(struct tool_json *j, const struct dir *d)
{
	static const struct impair_stats none;
	const struct impair_stats *s = d->im ? &d->im->st : &none;

	tool_json_open(j, "impair", '{');
	tool_json_u64(j, "lost", s->lost);
	tool_json_u64(j, "duplicated", s->duplicated);
	tool_json_u64(j, "dup_nobuf", s->dup_nobuf);
	tool_json_u64(j, "reordered", s->reordered);
	tool_json_u64(j, "reorder_timeouts", s->reorder_timeouts);
	tool_json_u64(j, "delayed", s->delayed);
	tool_json_u64(j, "queue_full", s->queue_full);
	tool_json_u64(j, "flushed", d->flushed);
	tool_json_close(j, '}');
}

static void report(const struct tool_std *o, const struct fwd_ctx *x, const struct dir d[2],
		   double seconds, const char *stop)
{
	bool impaired = d[0].im || d[1].im;

	if (o->json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		tool_json_str(&j, "tool", tool_name);
		tool_json_str(&j, "stop", stop);
		tool_json_f64(&j, "seconds", seconds, 6);
		tool_json_u64(&j, "forwarded", d[0].m->pkts + d[1].m->pkts);
		tool_json_u64(&j, "drops", d[0].m->drops + d[1].m->drops);
		if (impaired)
			tool_json_u64(&j, "seed", x->conf.seed);
		tool_json_open(&j, "directions", '[');
		for (int i = 0; i < 2; i++) {
			tool_json_open(&j, NULL, '{');
			tool_json_str(&j, "from", d[i].from);
			tool_json_str(&j, "to", d[i].to);
			tool_json_u64(&j, "rx", d[i].rx);
			tool_json_u64(&j, "rx_bytes", d[i].rx_bytes);
			tool_json_u64(&j, "tx", d[i].m->pkts);
			tool_json_u64(&j, "tx_bytes", d[i].m->bytes);
			tool_json_u64(&j, "drops", d[i].m->drops);
			tool_json_u64(&j, "port_drops", d[i].port_drops);
			tool_json_f64(&j, "pps", tool_rate(d[i].m->pkts, seconds), 1);
			tool_json_f64(&j, "mbps", tool_rate(d[i].m->bytes, seconds) * 8e-6, 3);
			if (impaired) {
				tool_json_bool(&j, "impaired", d[i].im != NULL);
				json_impair(&j, &d[i]);
			}
			tool_json_close(&j, '}');
		}
		tool_json_close(&j, ']');
		tool_json_end(&j);
		return;
	}
	for (int i = 0; i < 2; i++) {
		tool_msg("%s: '%s' -> '%s': rx %llu, tx %llu frames %llu bytes, drops %llu, port "
			 "drops %llu; %.0f pps, %.2f Mbit/s in %.3f s (stopped: %s)",
			 d[i].m->label, d[i].from, d[i].to, (unsigned long long)d[i].rx,
			 (unsigned long long)d[i].m->pkts, (unsigned long long)d[i].m->bytes,
			 (unsigned long long)d[i].m->drops, (unsigned long long)d[i].port_drops,
			 tool_rate(d[i].m->pkts, seconds), tool_rate(d[i].m->bytes, seconds) * 8e-6,
			 seconds, stop);
		if (d[i].im) {
			const struct impair_stats *st = &d[i].im->st;

			tool_msg(
			    "%s: impaired (seed %llu): lost %llu, duplicated %llu (not made "
			    "%llu), reordered %llu (timeouts %llu), delayed %llu, queue full "
			    "%llu, flushed %llu",
			    d[i].m->label, (unsigned long long)x->conf.seed,
			    (unsigned long long)st->lost, (unsigned long long)st->duplicated,
			    (unsigned long long)st->dup_nobuf, (unsigned long long)st->reordered,
			    (unsigned long long)st->reorder_timeouts,
			    (unsigned long long)st->delayed, (unsigned long long)st->queue_full,
			    (unsigned long long)d[i].flushed);
		}
	}
}

/* The impairment of direction i (input port i), or 0 when it has none. */
static int impair_open(struct fwd_ctx *x, struct impair *im, int i, struct impair **out)
{
	struct impair_conf c = x->conf;
	int err;

	*out = NULL;
	if (!impair_conf_active(&c) || (x->dir >= 0 && x->dir != i))
		return 0;
	/* Direction 1 draws from another stream of the same seed. */
	c.seed = x->conf.seed + (uint64_t)i * 0x9e3779b97f4a7c15ull;
	err = impair_init(im, &c);
	if (err) {
		tool_msg("cannot set up the impairment: %s", strerror(-err));
		return TOOL_EXIT_FAIL;
	}
	*out = im;
	return 0;
}

static int run(void *ctx, struct tool_std *o)
{
	struct fwd_ctx *x = ctx;
	struct impair im[2];
	struct usnet_port **ports = o->port;
	struct tool_idle idle = {0};
	struct tool_meter m[2] = {{.label = "0>1"}, {.label = "1>0"}};
	struct tool_run run;
	struct dir d[2];
	const char *stop, *extra = NULL;
	char line[400];
	uint64_t now;

	memset(d, 0, sizeof(d));
	for (int i = 0; i < 2; i++) {
		d[i].in = ports[i];
		d[i].out = ports[1 - i];
		d[i].from = o->spec[i];
		d[i].to = o->spec[1 - i];
		d[i].m = &m[i];
		if (impair_open(x, &im[i], i, &d[i].im)) {
			if (i && d[0].im)
				impair_fini(d[0].im);
			return TOOL_EXIT_FAIL;
		}
	}
	if (!o->quiet)
		tool_msg("forwarding between '%s' and '%s'", o->spec[0], o->spec[1]);
	tool_run_start(&run, o->duration_ns, o->quiet);
	now = usnet_now_ns();
	for (;;) {
		unsigned handled = 0;
		int timeout;

		for (int i = 0; i < 2; i++) {
			if (!d[i].im) {
				handled += forward(&d[i], o->burst);
				continue;
			}
			handled += impair_in(&d[i], o->burst, now);
			now = usnet_now_ns();
			handled += impair_out(&d[i], o->burst, now);
		}
		now = usnet_now_ns();
		if (tool_run_line_due(&run, now)) {
			if (d[0].im || d[1].im) {
				snprintf(line, sizeof(line), "%s%s%s",
					 d[0].im ? impair_line(&d[0]) : "",
					 d[0].im && d[1].im ? ", " : "",
					 d[1].im ? impair_line(&d[1]) : "");
				extra = line;
			}
			tool_run_line(&run, now, m, 2, extra);
		}
		if (tool_run_over(&run, now)) {
			stop = tool_stop ? "signal" : "time";
			break;
		}
		timeout = impair_timeout_ms(d, now, tool_run_timeout_ms(&run, now, 100));
		tool_idle_many(ports, 2, &idle, handled || !timeout, timeout);
		now = usnet_now_ns();
	}
	for (int i = 0; i < 2; i++) {
		d[i].port_drops = tool_port_rx_drops(ports[i]);
		if (d[i].im)
			impair_flush(&d[i]);
	}
	report(o, x, d, tool_run_seconds(&run, now), stop);
	for (int i = 0; i < 2; i++)
		if (d[i].im)
			impair_fini(d[i].im);
	return TOOL_EXIT_OK;
}

static const struct tool_def fwd = {
    .name = "usnet-fwd",
    .std = TOOL_OPT_PORT | TOOL_OPT_TIME | TOOL_OPT_BURST | TOOL_OPT_QUIET | TOOL_OPT_JSON,
    .ports = 2,
    .burst = 32,
    .help_head = help_head,
    .help_tail = help_tail,
    .long_opts = fwd_opts,
    .opt = fwd_opt,
    .check = fwd_check,
    .run = run,
};

int main(int argc, char **argv)
{
	struct fwd_ctx x = {
	    .conf = {.cap = 8192, .seed = 1, .reorder_gap = 3, .reorder_max_ns = REORDER_MAX_NS},
	    .dir = -1,
	};

	return tool_main(&fwd, &x, argc, argv);
}
