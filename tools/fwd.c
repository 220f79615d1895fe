/* SPDX-License-Identifier: MIT */
/*
 * usnet-fwd: forward frames between two ports in both directions, in one
 * thread.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* How long one burst may wait for a full TX queue before the rest is dropped. */
#define TX_RETRY_NS 100000ull

static const char help_head[] =
    "NAME\n"
    "       usnet-fwd - forward frames between two ports, both directions\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-fwd -p SPEC0 -p SPEC1 [-t SECONDS] [-b BURST] [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Receives on each port and sends what it got, unchanged, out of the other\n"
    "       (0>1 and 1>0), in one thread. When the other port's TX queue is full, the\n"
    "       rest of the burst is retried for up to 100 microseconds, then freed and\n"
    "       counted as drops: the only place fwd drops frames, and it counts them.\n"
    "       When both ports are idle it sleeps in poll() on both ports' descriptors\n"
    "       instead of spinning. Runs for SECONDS, or until SIGINT/SIGTERM.\n"
    "\n"
    "OPTIONS\n"
    "       -p, --port SPEC\n"
    "              A port; give exactly two (required). See PORT KINDS.\n" TOOL_HELP_TIME
    "       -b, --burst BURST\n"
    "              Frames per rx_burst call, 1..256. Default: 32.\n" TOOL_HELP_QUIET_JSON_HELP;

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       Once per second on stderr, per direction: forwarded rate in pps and Mbit/s,\n"
    "       totals, and drops (TX refused). JSON fields: tool, stop (time, signal),\n"
    "       seconds, forwarded, drops, and directions: an array of two objects with\n"
    "       from, to, rx, rx_bytes, tx, tx_bytes, drops, port_drops (the input port's\n"
    "       rx_dropped + rx_nobuf), pps, mbps.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-fwd -p afpacket:veth1 -p afpacket:veth2\n"
    "       usnet-fwd -p null: -p null: -t 5 --json -q\n";

struct dir {
	struct usnet_port *in, *out;
	const char *from, *to;
	uint64_t rx, rx_bytes, port_drops;
	struct tool_meter *m; /* pkts/bytes: forwarded; drops: refused by out */
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

static void report(const struct tool_std *o, const struct dir d[2], double seconds,
		   const char *stop)
{
	if (o->json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		tool_json_str(&j, "tool", tool_name);
		tool_json_str(&j, "stop", stop);
		tool_json_f64(&j, "seconds", seconds, 6);
		tool_json_u64(&j, "forwarded", d[0].m->pkts + d[1].m->pkts);
		tool_json_u64(&j, "drops", d[0].m->drops + d[1].m->drops);
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
			tool_json_close(&j, '}');
		}
		tool_json_close(&j, ']');
		tool_json_end(&j);
		return;
	}
	for (int i = 0; i < 2; i++)
		tool_msg("%s: '%s' -> '%s': rx %llu, tx %llu frames %llu bytes, drops %llu, port "
			 "drops %llu; %.0f pps, %.2f Mbit/s in %.3f s (stopped: %s)",
			 d[i].m->label, d[i].from, d[i].to, (unsigned long long)d[i].rx,
			 (unsigned long long)d[i].m->pkts, (unsigned long long)d[i].m->bytes,
			 (unsigned long long)d[i].m->drops, (unsigned long long)d[i].port_drops,
			 tool_rate(d[i].m->pkts, seconds), tool_rate(d[i].m->bytes, seconds) * 8e-6,
			 seconds, stop);
}

static int run(void *ctx, struct tool_std *o)
{
	struct usnet_port **ports = o->port;
	struct tool_idle idle = {0};
	struct tool_meter m[2] = {{.label = "0>1"}, {.label = "1>0"}};
	struct tool_run run;
	struct dir d[2];
	const char *stop;
	uint64_t now;

	(void)ctx;
	memset(d, 0, sizeof(d));
	for (int i = 0; i < 2; i++) {
		d[i].in = ports[i];
		d[i].out = ports[1 - i];
		d[i].from = o->spec[i];
		d[i].to = o->spec[1 - i];
		d[i].m = &m[i];
	}
	if (!o->quiet)
		tool_msg("forwarding between '%s' and '%s'", o->spec[0], o->spec[1]);
	tool_run_start(&run, o->duration_ns, o->quiet);
	for (;;) {
		unsigned handled = forward(&d[0], o->burst);

		handled += forward(&d[1], o->burst);
		now = usnet_now_ns();
		if (tool_run_line_due(&run, now))
			tool_run_line(&run, now, m, 2, NULL);
		if (tool_run_over(&run, now)) {
			stop = tool_stop ? "signal" : "time";
			break;
		}
		tool_idle_many(ports, 2, &idle, handled, tool_run_timeout_ms(&run, now, 100));
	}
	for (int i = 0; i < 2; i++)
		d[i].port_drops = tool_port_rx_drops(ports[i]);
	report(o, d, tool_run_seconds(&run, now), stop);
	return TOOL_EXIT_OK;
}

static const struct tool_def fwd = {
    .name = "usnet-fwd",
    .std = TOOL_OPT_PORT | TOOL_OPT_TIME | TOOL_OPT_BURST | TOOL_OPT_QUIET | TOOL_OPT_JSON,
    .ports = 2,
    .burst = 32,
    .help_head = help_head,
    .help_tail = help_tail,
    .run = run,
};

int main(int argc, char **argv)
{
	return tool_main(&fwd, NULL, argc, argv);
}
