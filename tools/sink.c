/* SPDX-License-Identifier: MIT */
/*
 * usnet-sink: receive frames and check usnet-pktgen's sequence numbers for
 * loss, duplication, reordering and bad checksums.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

#define BURST 32

static const char help_head[] =
    "NAME\n"
    "       usnet-sink - receive frames and check usnet-pktgen's sequence numbers\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-sink -p SPEC [-n COUNT] [-t SECONDS] [--idle-timeout MS] [--expect N]\n"
    "                  [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Receives frames on port SPEC and parses them as Ethernet/IPv4/UDP. A frame\n"
    "       with valid IPv4 and UDP checksums and at least 8 bytes of UDP payload is a\n"
    "       test frame: its payload starts with a 64-bit big-endian sequence number\n"
    "       (usnet-pktgen writes 0, 1, 2, ...). For those sink counts:\n"
    "\n"
    "         received    test frames, duplicates included\n"
    "         unique      distinct sequence numbers\n"
    "         lost        numbers from 0 to the largest seen that never arrived:\n"
    "                     max_seq + 1 - unique\n"
    "         duplicated  frames whose number had been seen before\n"
    "         reordered   frames that arrived after a larger number, not duplicates\n"
    "\n"
    "       Frames that parse as UDP but fail a checksum count as bad_csum, IPv4\n"
    "       frames with inconsistent lengths as malformed, everything else (ARP,\n"
    "       IPv6 neighbour discovery, UDP with a short payload...) as other, which\n"
    "       is not an error. Sequence numbers are tracked in a bitmap of up to 2^27\n"
    "       numbers (16 MiB); frames with larger numbers count as untracked and are\n"
    "       not checked for loss or duplication.\n"
    "\n"
    "       sink stops after COUNT test frames, after SECONDS, after MS milliseconds\n"
    "       without a test frame (once one arrived), or on SIGINT/SIGTERM. When idle\n"
    "       it sleeps in the port's wait instead of spinning.\n"
    "\n"
    "OPTIONS\n"
    "       -p, --port SPEC\n"
    "              Port to receive on (required). See PORT KINDS.\n"
    "       -n, --count COUNT\n"
    "              Stop after COUNT test frames. 0: no limit. Default: 0.\n" TOOL_HELP_TIME
    "       --idle-timeout MS\n"
    "              Stop when no test frame arrived for MS milliseconds, counted from\n"
    "              the first one, 0..86400000. 0: off. Default: 0.\n"
    "       --expect N\n"
    "              Exit 1 unless exactly N unique test frames arrived, with none lost,\n"
    "              duplicated or with a bad checksum. Default: no "
    "check.\n" TOOL_HELP_QUIET_JSON_HELP TOOL_HELP_NUMBERS;

static const char help_tail[] =
    "\n"
    "       With --expect, exit status 1 also means the check failed.\n"
    "\n"
    "OUTPUT\n"
    "       Once per second on stderr: elapsed time, RX rate of all frames in pps and\n"
    "       Mbit/s, totals, drops (the port's rx_dropped + rx_nobuf) and the sequence\n"
    "       counters. JSON fields: tool, port, stop (count, time, idle, signal),\n"
    "       seconds, frames, bytes, pps, mbps, received, unique, lost, duplicated,\n"
    "       reordered, bad_csum, malformed, other, untracked, max_seq (null before the\n"
    "       first test frame), gaps (where the lost numbers are: the first 8 runs,\n"
    "       \"A-B,C,...\"; \"\" when none is lost), port_drops, port_errors (frames the\n"
    "       port discarded as bad: its rx_errors), and with --expect: expect,\n"
    "       expect_ok.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-sink -p afpacket:veth1 --idle-timeout 1000\n"
    "       usnet-sink -p afpacket:veth1 -n 1M --expect 1M --json -q\n";

enum {
	OPT_IDLE = 256,
	OPT_EXPECT,
};

static const struct option long_opts[] = {
    {"idle-timeout", required_argument, NULL, OPT_IDLE},
    {"expect", required_argument, NULL, OPT_EXPECT},
    {NULL, 0, NULL, 0},
};

struct opts {
	const struct tool_std *std;
	uint64_t idle_ns; /* 0: off */
	uint64_t expect;
	bool expect_set;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	if (c == OPT_IDLE) {
		o->idle_ns = tool_arg_u64("--idle-timeout", arg, 0, 86400000) * 1000000;
	} else {
		o->expect = tool_arg_u64("--expect", arg, 0, UINT64_MAX);
		o->expect_set = true;
	}
}

struct counts {
	struct tool_seq seq;
	uint64_t bad_csum, malformed, other;
	uint64_t port_drops;
	uint64_t port_errors; /* frames the port discarded as bad (rx_errors) */
	double seconds;
	const char *stop;
};

static void classify(struct counts *c, const struct usnet_pkt *p)
{
	struct usnet_udp4_view v;
	int err = usnet_udp4_parse(usnet_pkt_data(p), p->len, &v);

	/* -EBADMSG: an IPv4 frame whose lengths do not add up; a frame too
	 * short for an IPv4 header at all need not be IPv4, so it is other. */
	if (err == -EPROTO || (err && p->len < USNET_ETH_HLEN + 20))
		c->other++;
	else if (err)
		c->malformed++;
	else if (!v.ip_csum_ok || !v.udp_csum_ok)
		c->bad_csum++;
	else if (v.payload_len < 8)
		c->other++;
	else
		tool_seq_add(&c->seq, tool_seq_read(v.payload));
}

static void seq_summary(const struct counts *c, char *buf, size_t size)
{
	snprintf(buf, size,
		 "received %llu, unique %llu, lost %llu, duplicated %llu, reordered %llu, "
		 "bad_csum %llu, malformed %llu, other %llu",
		 (unsigned long long)c->seq.received, (unsigned long long)c->seq.unique,
		 (unsigned long long)tool_seq_lost(&c->seq), (unsigned long long)c->seq.duplicated,
		 (unsigned long long)c->seq.reordered, (unsigned long long)c->bad_csum,
		 (unsigned long long)c->malformed, (unsigned long long)c->other);
}

static void receive_loop(const struct opts *o, struct usnet_port *port, struct counts *c,
			 struct tool_meter *meter)
{
	struct usnet_pkt *pkts[BURST];
	struct usnet_queue_stats st;
	struct usnet_idle idle = {0};
	struct tool_run run;
	uint64_t now, last_seq_ns = 0;

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	for (;;) {
		uint16_t want = BURST, n;
		uint64_t before = c->seq.received;
		int timeout;

		/* Ask for no more than -n still allows, since any frame may count. */
		if (o->std->count && o->std->count - c->seq.received < want)
			want = (uint16_t)(o->std->count - c->seq.received);
		n = usnet_rx_burst(port, 0, pkts, want);
		for (uint16_t i = 0; i < n; i++) {
			meter->pkts++;
			meter->bytes += pkts[i]->len;
			classify(c, pkts[i]);
		}
		usnet_pkt_free_bulk(pkts, n);
		now = usnet_now_ns();
		if (c->seq.received != before)
			last_seq_ns = now;
		if (tool_run_line_due(&run, now)) {
			char extra[256];

			meter->drops = tool_port_rx_drops(port);
			seq_summary(c, extra, sizeof(extra));
			tool_run_line(&run, now, meter, 1, extra);
		}
		if (o->std->count && c->seq.received >= o->std->count) {
			c->stop = "count";
			break;
		}
		if (o->idle_ns && last_seq_ns && now - last_seq_ns >= o->idle_ns) {
			c->stop = "idle";
			break;
		}
		if (tool_run_over(&run, now)) {
			c->stop = tool_stop ? "signal" : "time";
			break;
		}
		timeout = tool_run_timeout_ms(&run, now, 100);
		if (o->idle_ns && last_seq_ns) {
			uint64_t left = last_seq_ns + o->idle_ns - now;
			int ms = (int)((left + 999999) / 1000000);

			if (ms < timeout)
				timeout = ms;
		}
		/* -EINTR means a signal: tool_stop is checked above on the next turn. */
		usnet_port_idle(port, 0, &idle, n, timeout);
	}
	c->seconds = tool_run_seconds(&run, now);
	c->port_drops = meter->drops = tool_port_rx_drops(port);
	usnet_port_stats(port, 0, &st);
	c->port_errors = st.rx_errors;
}

static bool expect_ok(const struct opts *o, const struct counts *c)
{
	return c->seq.unique == o->expect && tool_seq_lost(&c->seq) == 0 &&
	       c->seq.duplicated == 0 && c->bad_csum == 0;
}

static void report(const struct opts *o, const struct counts *c, const struct tool_meter *m)
{
	double pps = tool_rate(m->pkts, c->seconds), mbps = tool_rate(m->bytes, c->seconds) * 8e-6;
	char seq[256], gaps[256];

	if (c->seq.untracked)
		tool_msg("note: %llu frames had sequence numbers of 2^27 or more (or the bitmap "
			 "could not grow); they were not checked for loss or duplication",
			 (unsigned long long)c->seq.untracked);
	if (o->std->json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		tool_json_str(&j, "tool", tool_name);
		tool_json_str(&j, "port", o->std->spec[0]);
		tool_json_str(&j, "stop", c->stop);
		tool_json_f64(&j, "seconds", c->seconds, 6);
		tool_json_u64(&j, "frames", m->pkts);
		tool_json_u64(&j, "bytes", m->bytes);
		tool_json_f64(&j, "pps", pps, 1);
		tool_json_f64(&j, "mbps", mbps, 3);
		tool_json_u64(&j, "received", c->seq.received);
		tool_json_u64(&j, "unique", c->seq.unique);
		tool_json_u64(&j, "lost", tool_seq_lost(&c->seq));
		tool_json_u64(&j, "duplicated", c->seq.duplicated);
		tool_json_u64(&j, "reordered", c->seq.reordered);
		tool_json_u64(&j, "bad_csum", c->bad_csum);
		tool_json_u64(&j, "malformed", c->malformed);
		tool_json_u64(&j, "other", c->other);
		tool_json_u64(&j, "untracked", c->seq.untracked);
		if (c->seq.unique)
			tool_json_u64(&j, "max_seq", c->seq.max_seq);
		else
			tool_json_null(&j, "max_seq");
		tool_seq_gaps(&c->seq, 8, gaps, sizeof(gaps));
		tool_json_str(&j, "gaps", gaps);
		tool_json_u64(&j, "port_drops", c->port_drops);
		tool_json_u64(&j, "port_errors", c->port_errors);
		if (o->expect_set) {
			tool_json_u64(&j, "expect", o->expect);
			tool_json_bool(&j, "expect_ok", expect_ok(o, c));
		}
		tool_json_end(&j);
	} else {
		seq_summary(c, seq, sizeof(seq));
		tool_msg("%llu frames, %llu bytes in %.3f s: %.0f pps, %.2f Mbit/s, port drops "
			 "%llu; %s (stopped: %s)",
			 (unsigned long long)m->pkts, (unsigned long long)m->bytes, c->seconds, pps,
			 mbps, (unsigned long long)c->port_drops, seq, c->stop);
	}
	if (o->expect_set && !expect_ok(o, c))
		tool_msg("--expect %llu failed: unique %llu, lost %llu, duplicated %llu, bad_csum "
			 "%llu",
			 (unsigned long long)o->expect, (unsigned long long)c->seq.unique,
			 (unsigned long long)tool_seq_lost(&c->seq),
			 (unsigned long long)c->seq.duplicated, (unsigned long long)c->bad_csum);
}

static int run(void *ctx, struct tool_std *std)
{
	struct tool_meter meter = {.label = "rx"};
	struct counts c = {0};
	struct opts *o = ctx;
	int status = TOOL_EXIT_OK;

	o->std = std;
	if (tool_seq_init(&c.seq, TOOL_SEQ_CAP)) {
		tool_msg("out of memory for the sequence bitmap");
		return TOOL_EXIT_FAIL;
	}
	if (!std->quiet)
		tool_msg("receiving on '%s'", std->spec[0]);
	receive_loop(o, std->port[0], &c, &meter);
	report(o, &c, &meter);
	if (o->expect_set && !expect_ok(o, &c))
		status = TOOL_EXIT_FAIL;
	tool_seq_free(&c.seq);
	return status;
}

static const struct tool_def sink = {
    .name = "usnet-sink",
    .std = TOOL_OPT_PORT | TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON,
    .ports = 1,
    .port_role = "the port to receive on",
    .help_head = help_head,
    .help_tail = help_tail,
    .long_opts = long_opts,
    .opt = own_opt,
    .run = run,
};

int main(int argc, char **argv)
{
	struct opts o = {0};

	return tool_main(&sink, &o, argc, argv);
}
