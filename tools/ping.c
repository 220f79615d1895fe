/* SPDX-License-Identifier: MIT */
/*
 * usnet-ping: ICMP echo requests from a host on a port, with usnet's stack
 * (ARP to reach the target or the gateway, fragmentation for large
 * payloads), and the round-trip times' distribution.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stack_tool.h"

#define MAX_PAYLOAD (65507 - 8) /* IPv4 total length minus IPv4 and ICMP headers */
#define SEQ_SLOTS   65536	/* one per 16-bit sequence number */
#define RTT_CAP	    (1u << 24)	/* round-trip samples kept for percentiles */

static const char help_head[] =
    "NAME\n"
    "       usnet-ping - send ICMP echo requests from usnet's stack, report round trips\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-ping -p SPEC --ip ADDR[/PREFIX] [--gw ADDR] [--mac MAC] [--mtu N]\n"
    "                  [-c COUNT] [-i SECONDS] [-s BYTES] [-W SECONDS] [--ttl N]\n"
    "                  [--id N] [-t SECONDS] [-q] [--json] DEST\n"
    "\n"
    "DESCRIPTION\n"
    "       Makes port SPEC a host with address ADDR, running usnet's stack (which\n"
    "       also answers ARP and ping), and sends ICMP echo requests (RFC 792) to\n"
    "       DEST: one every -i SECONDS, COUNT of them. DEST is reached directly if\n"
    "       it is in ADDR's subnet, else through --gw. Each request carries BYTES\n"
    "       of payload (a pattern and the sequence number); payloads larger than\n"
    "       the MTU are sent as fragments, and each reply must carry the same bytes.\n"
    "\n"
    "       A reply is matched to its request by the identifier (--id) and the\n"
    "       sequence number; its round-trip time is from the request's send to\n"
    "       the reply's arrival in the stack. Replies that come twice count as\n"
    "       duplicates, replies whose payload differs as corrupt, neither as\n"
    "       received. ICMP errors about the requests (unreachable, time exceeded)\n"
    "       are counted and shown.\n"
    "\n"
    "       After the last request it waits up to -W SECONDS for the missing\n"
    "       replies; it also stops after -t SECONDS or on SIGINT/SIGTERM.\n"
    "\n"
    "OPTIONS\n" TOOL_HOST_HELP "       -c, --count COUNT\n"
    "              Requests to send. 0: until stopped. Default: 0 (with -t), else 5.\n"
    "       -i, --interval SECONDS\n"
    "              Between requests (decimal). Default: 1. 0.0001 at least.\n"
    "       -s, --size BYTES\n"
    "              Payload bytes per request, 8 to 65499. Default: 56.\n"
    "       -W, --wait SECONDS\n"
    "              After the last request, how long to wait for replies. Default: 1.\n"
    "       --ttl N\n"
    "              The requests' TTL, 1 to 255. Default: the stack's (64).\n"
    "       --id N\n"
    "              The ICMP identifier, 0 to 65535. Default: from the process id.\n"
    "       -t, --time SECONDS\n"
    "              Stop after SECONDS in all. Default: no limit.\n"
    "       -q, --quiet\n"
    "              No line per reply, no per-second line, no startup line.\n"
    "       --json\n"
    "              Print the final summary as one JSON object on stdout instead of\n"
    "              lines on stderr.\n"
    "       -h, --help\n"
    "              Print this help and exit.\n"
    "\n"
    "       Numbers take an SI suffix: k (x1000), M (x10^6), G (x10^9).\n";

static const char help_tail[] =
    "\n"
    "       usnet-ping exits 1 also when not one reply came back.\n"
    "\n"
    "OUTPUT\n"
    "       On stderr, a line per reply (\"64 bytes from DEST: icmp_seq=N ttl=T\n"
    "       time=X ms\") and per ICMP error while the interval is 0.1 s or more,\n"
    "       else one line per second with the counts so far. At the end a\n"
    "       summary: sent, received, loss, and round trip min/avg/p50/p90/p99/\n"
    "       p99.9/max in ms. JSON fields: tool, port, ip, mac, dest, size, stop\n"
    "       (count, time, signal), seconds, transmitted, received, duplicates,\n"
    "       corrupt, errors (ICMP errors received), send_errors, loss_percent,\n"
    "       rtt_us {min, avg, p50, p90, p99, p999, max} (all 0 without replies),\n"
    "       stack (every counter of the stack by name), port_stats.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-ping -p afpacket:veth1 --ip 198.18.0.2/24 -c 10 198.18.0.1\n"
    "       usnet-ping -p tap:usnet0 --ip 198.18.0.2/24 -s 8000 -c 3 198.18.0.1\n"
    "       usnet-ping -p pci:0000:00:03.0 --ip 198.18.1.2 --gw 198.18.1.1 -i 0.01 \\\n"
    "                  -c 1000 -q --json 198.51.100.1\n";

enum {
	OPT_TTL = TOOL_HOST_OPT_END,
	OPT_ID,
};

static const struct option long_opts[] = {
    TOOL_HOST_LONG_OPTS,
    {"count", required_argument, NULL, 'c'},
    {"interval", required_argument, NULL, 'i'},
    {"size", required_argument, NULL, 's'},
    {"wait", required_argument, NULL, 'W'},
    {"ttl", required_argument, NULL, OPT_TTL},
    {"id", required_argument, NULL, OPT_ID},
    {NULL, 0, NULL, 0}, /* end of table (getopt_long(3)) */
};

struct opts {
	struct tool_host_run hr; /* first: tool_host_run_open() and _close() */
	const struct tool_std *std;
	uint32_t dest;
	char dest_str[16];
	uint64_t count, interval_ns, wait_ns;
	uint32_t size;
	uint16_t id;
	uint8_t ttl;
	bool count_set;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	if (tool_host_opt(&o->hr.opts, c, arg))
		return;
	switch (c) {
	case 'c':
		o->count = tool_arg_u64("-c", arg, 0, UINT64_MAX);
		o->count_set = true;
		break;
	case 'i':
		o->interval_ns = tool_arg_seconds("-i", arg);
		if (o->interval_ns < 100000)
			tool_usage_error("invalid -i '%s': at least 0.0001", arg);
		break;
	case 's':
		o->size = (uint32_t)tool_arg_u64("-s", arg, 8, MAX_PAYLOAD);
		break;
	case 'W':
		o->wait_ns = tool_arg_seconds("-W", arg);
		break;
	case OPT_TTL:
		o->ttl = (uint8_t)tool_arg_u64("--ttl", arg, 1, 255);
		break;
	case OPT_ID:
		o->id = (uint16_t)tool_arg_u64("--id", arg, 0, 65535);
		break;
	}
}

static void args(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;

	if (argc < 1)
		tool_usage_error("missing DEST: the address to ping");
	if (argc > 1)
		tool_usage_error("unexpected argument '%s'", argv[1]);
	o->dest = tool_arg_ipv4("DEST", argv[0]);
	tool_ip_str(o->dest, o->dest_str);
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;

	o->std = std;
	if (!o->count_set && !std->duration_ns)
		o->count = 5;
	tool_host_check(&o->hr.opts, std);
}

struct pinger {
	uint64_t sent_ns[SEQ_SLOTS]; /* 0: no request outstanding with this seq */
	uint64_t *rtt;		     /* ns, one per reply, up to RTT_CAP */
	size_t rtt_room;	     /* samples rtt[] has room for */
	uint64_t transmitted, received, duplicates, corrupt, errors, send_errors;
	int last_send_error;
	uint8_t *payload, *reply;
	const char *stop;
	double seconds;
};

/* The payload of request seq: seq in its first 8 bytes, then a pattern. */
static void fill_payload(uint8_t *p, uint32_t size, uint64_t seq)
{
	for (uint32_t i = 0; i < 8; i++)
		p[i] = (uint8_t)(seq >> (56 - 8 * i));
	for (uint32_t i = 8; i < size; i++)
		p[i] = (uint8_t)(i * 7 + 3);
}

static void send_one(const struct opts *o, struct usnet_icmp *s, struct pinger *pg, uint64_t now)
{
	uint16_t seq = (uint16_t)pg->transmitted;
	int err;

	fill_payload(pg->payload, o->size, pg->transmitted);
	err = usnet_icmp_echo_send(s, o->dest, seq, pg->payload, o->size, o->ttl);
	pg->transmitted++;
	if (err) {
		pg->send_errors++;
		pg->last_send_error = err;
		if (!o->std->quiet && o->interval_ns >= USNET_NSEC_PER_SEC / 10)
			tool_msg("icmp_seq=%u: not sent: %s", seq, strerror(-err));
		return;
	}
	pg->sent_ns[seq] = now ? now : 1;
}

static const char *icmp_error_name(uint8_t type, uint8_t code)
{
	if (type == 11)
		return "time to live exceeded";
	switch (code) {
	case 0:
		return "destination net unreachable";
	case 1:
		return "destination host unreachable";
	case 2:
		return "destination protocol unreachable";
	case 3:
		return "destination port unreachable";
	case 4:
		return "fragmentation needed";
	}
	return "destination unreachable";
}

/* Room for one more sample? Grows rtt[] by doubling, up to RTT_CAP. */
static bool rtt_room(struct pinger *pg)
{
	uint64_t *v;
	size_t room;

	if (pg->received < pg->rtt_room)
		return true;
	if (pg->rtt_room >= RTT_CAP)
		return false;
	room = pg->rtt_room ? 2 * pg->rtt_room : 4096;
	v = realloc(pg->rtt, room * sizeof(*v));
	if (!v)
		return false;
	pg->rtt = v;
	pg->rtt_room = room;
	return true;
}

/* Take every queued reply; returns how many. */
static unsigned take_replies(const struct opts *o, struct usnet_icmp *s, struct pinger *pg)
{
	struct usnet_icmp_echo e;
	unsigned n = 0;
	int len;
	char from[16];

	while ((len = usnet_icmp_echo_recv(s, &e, pg->reply, MAX_PAYLOAD)) != -EAGAIN) {
		uint64_t sent;
		bool verbose = !o->std->quiet && o->interval_ns >= USNET_NSEC_PER_SEC / 10;

		n++;
		if (len < 0)
			continue;
		if (e.type != 0) {
			pg->errors++;
			if (verbose)
				tool_msg("from %s: icmp_seq=%u %s", tool_ip_str(e.from, from),
					 e.seq, icmp_error_name(e.type, e.code));
			continue;
		}
		sent = pg->sent_ns[e.seq];
		if (!sent) {
			pg->duplicates++;
			if (verbose)
				tool_msg("icmp_seq=%u: a duplicate or unexpected reply from %s",
					 e.seq, tool_ip_str(e.from, from));
			continue;
		}
		/* The latest request with this 16-bit sequence number. */
		fill_payload(pg->payload, o->size,
			     pg->transmitted - 1 - (uint16_t)(pg->transmitted - 1 - e.seq));
		if ((uint32_t)len != o->size || memcmp(pg->reply, pg->payload, o->size)) {
			pg->corrupt++;
			if (verbose)
				tool_msg("icmp_seq=%u: reply of %d bytes does not match the "
					 "request",
					 e.seq, len);
			continue;
		}
		pg->sent_ns[e.seq] = 0;
		if (rtt_room(pg))
			pg->rtt[pg->received] = e.rx_ns > sent ? e.rx_ns - sent : 0;
		pg->received++;
		if (verbose)
			tool_msg("%d bytes from %s: icmp_seq=%u ttl=%u time=%.3f ms", len,
				 tool_ip_str(e.from, from), e.seq, e.ttl,
				 (double)(e.rx_ns - sent) / 1e6);
	}
	return n;
}

static void ping_loop(const struct opts *o, struct tool_host *host, struct usnet_icmp *s,
		      struct pinger *pg)
{
	struct tool_host_idle idle = {.spin = 64};
	uint64_t next_send, last_send_done = 0, now;
	struct tool_meter m = {.label = "replies"};
	struct tool_run run;

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	now = usnet_now_ns();
	next_send = now;
	for (;;) {
		unsigned handled = (unsigned)usnet_stack_poll(host->stack);
		int timeout_ms;

		now = usnet_now_ns();
		if ((!o->count || pg->transmitted < o->count) && now >= next_send) {
			send_one(o, s, pg, now);
			handled++;
			next_send += o->interval_ns;
			if (next_send < now) /* a long stall: do not send a burst */
				next_send = now + o->interval_ns;
			if (o->count && pg->transmitted == o->count)
				last_send_done = now;
			usnet_stack_poll(host->stack);
		}
		handled += take_replies(o, s, pg);
		m.pkts = pg->received;
		m.drops = pg->transmitted - pg->received;
		if (tool_run_line_due(&run, now)) {
			char extra[512];

			tool_host_drops_line(host, extra, sizeof(extra));
			/* Per-reply lines say enough when they are slow. */
			run.quiet = o->std->quiet || o->interval_ns >= USNET_NSEC_PER_SEC / 10;
			tool_run_line(&run, now, &m, 1, extra);
		}
		if (o->count && pg->received + pg->errors >= o->count) {
			pg->stop = "count";
			break;
		}
		if (last_send_done && now - last_send_done >= o->wait_ns) {
			pg->stop = "count";
			break;
		}
		if (tool_run_over(&run, now)) {
			pg->stop = tool_stop ? "signal" : "time";
			break;
		}
		timeout_ms = tool_run_timeout_ms(&run, now, 100);
		if (!last_send_done && (!o->count || pg->transmitted < o->count)) {
			uint64_t ms = next_send > now ? (next_send - now) / 1000000 : 0;

			if (ms < (uint64_t)timeout_ms)
				timeout_ms = (int)ms;
		}
		tool_host_idle(host, &idle, handled, timeout_ms);
	}
	pg->seconds = tool_run_seconds(&run, now);
}

static void report(const struct opts *o, struct tool_host *host, struct pinger *pg)
{
	size_t n = pg->received < pg->rtt_room ? pg->received : pg->rtt_room;
	uint64_t min = 0, max = 0, p50, p90, p99, p999;
	double avg = 0, loss;

	tool_sort_u64(pg->rtt, n);
	if (n) {
		min = pg->rtt[0];
		max = pg->rtt[n - 1];
		for (size_t i = 0; i < n; i++)
			avg += (double)pg->rtt[i];
		avg /= (double)n;
	}
	p50 = tool_percentile(pg->rtt, n, 50);
	p90 = tool_percentile(pg->rtt, n, 90);
	p99 = tool_percentile(pg->rtt, n, 99);
	p999 = tool_percentile(pg->rtt, n, 99.9);
	loss = pg->transmitted
		   ? 100.0 * (double)(pg->transmitted - pg->received) / (double)pg->transmitted
		   : 0;
	if (o->std->json) {
		struct tool_json j;

		tool_host_json_begin(&j, &o->hr, true);
		tool_json_str(&j, "dest", o->dest_str);
		tool_json_u64(&j, "size", o->size);
		tool_json_str(&j, "stop", pg->stop);
		tool_json_f64(&j, "seconds", pg->seconds, 6);
		tool_json_u64(&j, "transmitted", pg->transmitted);
		tool_json_u64(&j, "received", pg->received);
		tool_json_u64(&j, "duplicates", pg->duplicates);
		tool_json_u64(&j, "corrupt", pg->corrupt);
		tool_json_u64(&j, "errors", pg->errors);
		tool_json_u64(&j, "send_errors", pg->send_errors);
		tool_json_f64(&j, "loss_percent", loss, 3);
		tool_json_open(&j, "rtt_us", '{');
		tool_json_f64(&j, "min", (double)min / 1e3, 3);
		tool_json_f64(&j, "avg", avg / 1e3, 3);
		tool_json_f64(&j, "p50", (double)p50 / 1e3, 3);
		tool_json_f64(&j, "p90", (double)p90 / 1e3, 3);
		tool_json_f64(&j, "p99", (double)p99 / 1e3, 3);
		tool_json_f64(&j, "p999", (double)p999 / 1e3, 3);
		tool_json_f64(&j, "max", (double)max / 1e3, 3);
		tool_json_close(&j, '}');
		tool_host_json(&j, host);
		tool_json_end(&j);
		return;
	}
	tool_msg("--- %s ping statistics ---", o->dest_str);
	tool_msg("%llu transmitted, %llu received, %.1f%% loss, %llu duplicates, %llu corrupt, "
		 "%llu errors, %llu not sent%s%s (stopped: %s, %.3f s)",
		 (unsigned long long)pg->transmitted, (unsigned long long)pg->received, loss,
		 (unsigned long long)pg->duplicates, (unsigned long long)pg->corrupt,
		 (unsigned long long)pg->errors, (unsigned long long)pg->send_errors,
		 pg->send_errors ? ": " : "", pg->send_errors ? strerror(-pg->last_send_error) : "",
		 pg->stop, pg->seconds);
	if (n)
		tool_msg(
		    "rtt min/avg/p50/p90/p99/p99.9/max = %.3f/%.3f/%.3f/%.3f/%.3f/%.3f/%.3f ms",
		    (double)min / 1e6, avg / 1e6, (double)p50 / 1e6, (double)p90 / 1e6,
		    (double)p99 / 1e6, (double)p999 / 1e6, (double)max / 1e6);
}

static void free_pinger(struct pinger *pg)
{
	if (!pg)
		return;
	free(pg->rtt);
	free(pg->reply);
	free(pg->payload);
	free(pg);
}

static int run(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;
	struct tool_host *host = &o->hr.host;
	struct pinger *pg = calloc(1, sizeof(*pg));
	struct usnet_icmp *s;
	int status = TOOL_EXIT_OK, err;

	if (pg) {
		pg->payload = malloc(MAX_PAYLOAD);
		pg->reply = malloc(MAX_PAYLOAD);
	}
	if (!pg || !pg->payload || !pg->reply) {
		tool_msg("out of memory");
		free_pinger(pg);
		return TOOL_EXIT_FAIL;
	}
	err = usnet_icmp_open(host->stack, &s, o->id, NULL);
	if (err) {
		tool_msg("cannot open an ICMP echo endpoint with id %u: %s", o->id, strerror(-err));
		free_pinger(pg);
		return TOOL_EXIT_FAIL;
	}
	if (!std->quiet)
		tool_msg("PING %s from %s/%u (%s) on '%s': %u bytes of payload, id %u", o->dest_str,
			 o->hr.opts.ip_str, o->hr.opts.prefix_len, host->mac_str, o->hr.opts.spec,
			 o->size, o->id);
	ping_loop(o, host, s, pg);
	report(o, host, pg);
	usnet_icmp_close(s);
	if (!pg->received)
		status = TOOL_EXIT_FAIL;
	free_pinger(pg);
	return status;
}

static const struct tool_def ping = {
    TOOL_HOST_DEF("usnet-ping", "the port to use", TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON),
    .short_opts = "c:i:s:W:",
    .args = args,
};

int main(int argc, char **argv)
{
	struct opts o = {
	    .interval_ns = USNET_NSEC_PER_SEC,
	    .wait_ns = USNET_NSEC_PER_SEC,
	    .size = 56,
	    .id = (uint16_t)getpid(),
	};

	return tool_main(&ping, &o, argc, argv);
}
