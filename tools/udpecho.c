/* SPDX-License-Identifier: MIT */
/*
 * usnet-udpecho: a host on a port, with usnet's stack (ARP, IPv4 with
 * reassembly, ICMP echo, UDP), that sends every UDP datagram to its port
 * back to the sender (RFC 862). Replies are zero copy where the datagram
 * sits in one received frame: the frame's buffer is handed back to the
 * stack with the payload in place. A reassembled datagram is copied.
 * --copy uses the socket-like calls (recvfrom/sendto) instead.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "sockperf_msg.h"
#include "stack_tool.h"

#define BURST 32

/* SIGUSR1 asks for the JSON summary now (--json), the run goes on. */
static volatile sig_atomic_t dump_asked;

static void on_usr1(int sig)
{
	(void)sig;
	dump_asked = 1;
}

static const char help_head[] =
    "NAME\n"
    "       usnet-udpecho - a UDP echo server (and ping target) on usnet's stack\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-udpecho -p SPEC --ip ADDR[/PREFIX] [--gw ADDR] [--mac MAC] [--mtu N]\n"
    "                     [-P PORT] [--copy] [--sockperf] [--busy] [-n COUNT]\n"
    "                     [-t SECONDS] [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Makes port SPEC a host with address ADDR, running usnet's stack: it\n"
    "       answers ARP and ping (ICMP echo), reassembles fragmented datagrams,\n"
    "       sends ICMP port unreachable for UDP to other ports, and sends every\n"
    "       UDP datagram to PORT back to where it came from, unchanged (RFC 862),\n"
    "       fragmented if it is larger than the MTU.\n"
    "\n"
    "       Replies are zero copy: a datagram that arrived in one frame goes back\n"
    "       in the same buffer. A reassembled one is copied into new buffers.\n"
    "\n"
    "       Every frame the stack drops is counted under its reason (--json shows\n"
    "       all counters, docs/stack.md explains them). When idle it sleeps in\n"
    "       the stack's wait instead of spinning (unless --busy). It stops after\n"
    "       COUNT datagrams echoed, after SECONDS, or on SIGINT/SIGTERM.\n"
    "\n"
    "OPTIONS\n" TOOL_HOST_HELP "       -P, --udp-port PORT\n"
    "              The UDP port to echo on. Default: 7.\n"
    "       --copy\n"
    "              Use the socket-like calls (usnet_udp_recvfrom/sendto, one copy\n"
    "              each way) instead of the zero-copy ones.\n"
    "       --sockperf\n"
    "              Answer like `sockperf server`: only datagrams whose sockperf\n"
    "              header asks for a reply, with its client flag cleared, so that\n"
    "              sockperf's ping-pong and throughput clients work against it.\n"
    "       --busy\n"
    "              Never sleep: poll the port without pause (lowest latency).\n"
    "       -n, --count COUNT\n"
    "              Stop after echoing COUNT datagrams. 0: no limit. Default: 0.\n"
    "       -t, --time SECONDS\n"
    "              Stop after SECONDS (decimal, e.g. 2.5). Default: no limit.\n"
    "       -q, --quiet\n"
    "              No per-second stats line and no startup line on stderr.\n"
    "       --json\n"
    "              Print the final summary as one JSON object on stdout instead of a\n"
    "              line on stderr; also one such line (\"stop\":\"running\") each time\n"
    "              SIGUSR1 arrives, so that the counters can be read while it runs.\n"
    "       -h, --help\n"
    "              Print this help and exit.\n"
    "\n"
    "       Numbers take an SI suffix: k (x1000), M (x10^6), G (x10^9).\n";

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       A startup line once the stack runs: \"usnet-udpecho: ADDR/PREFIX as MAC on\n"
    "       'SPEC', echoing UDP port PORT\". Once per second on stderr: datagrams\n"
    "       received (rx) and echoed (tx, drops: echoes the stack refused) and the\n"
    "       stack's non-zero drop counters. JSON fields: tool, port, ip, mac,\n"
    "       udp_port, stop (count, time, signal), seconds, datagrams, bytes,\n"
    "       echoed, echo_errors, zero_copy (echoes sent from the received\n"
    "       buffer), copied, stack (every counter of the stack by name), port_stats\n"
    "       (the port's queue 0 statistics).\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-udpecho -p afpacket:veth1 --ip 198.18.0.2/24\n"
    "           (then from the kernel: ping 198.18.0.2; nc -u 198.18.0.2 7)\n"
    "       usnet-udpecho -p memif:/run/usnet/usnetd.sock,id=1 --mac 02:75:00:00:00:01 \\\n"
    "                     --ip 198.18.0.11/24 -P 11111 --sockperf --busy\n";

enum {
	OPT_COPY = TOOL_HOST_OPT_END,
	OPT_SOCKPERF,
	OPT_BUSY,
};

static const struct option long_opts[] = {
    TOOL_HOST_LONG_OPTS,
    {"udp-port", required_argument, NULL, 'P'},
    {"copy", no_argument, NULL, OPT_COPY},
    {"sockperf", no_argument, NULL, OPT_SOCKPERF},
    {"busy", no_argument, NULL, OPT_BUSY},
    {NULL, 0, NULL, 0}, /* end of table (getopt_long(3)) */
};

struct opts {
	struct tool_host_run hr; /* first: tool_host_run_open() and _close() */
	const struct tool_std *std;
	uint16_t udp_port;
	bool copy, sockperf, busy;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	if (tool_host_opt(&o->hr.opts, c, arg))
		return;
	switch (c) {
	case 'P':
		o->udp_port = (uint16_t)tool_arg_u64("-P", arg, 1, 65535);
		break;
	case OPT_COPY:
		o->copy = true;
		break;
	case OPT_SOCKPERF:
		o->sockperf = true;
		break;
	case OPT_BUSY:
		o->busy = true;
		break;
	}
}

static void check(void *ctx, struct tool_std *std)
{
	struct sigaction sa = {.sa_handler = on_usr1};
	struct opts *o = ctx;

	o->std = std;
	tool_host_check(&o->hr.opts, std);
	/* No SA_RESTART: the stack's wait returns at once (as for SIGINT). */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
}

struct counts {
	uint64_t echo_errors, zero_copy, copied;
	int last_error; /* -errno of the last refused echo */
	double seconds;
	const char *stop;
};

/* One datagram back to its sender; counts it. The message is consumed. */
static void echo_msg(const struct opts *o, struct usnet_udp *s, struct usnet_udp_msg *msg,
		     struct counts *c, struct tool_meter *m)
{
	struct usnet_pkt *pkt = msg->pkt;
	int err;

	m[0].pkts++;
	m[0].bytes += msg->len;
	if (o->sockperf && !sockperf_msg_answer((uint8_t *)msg->data, msg->len)) {
		usnet_udp_msg_free(msg);
		return;
	}
	if (pkt) {
		/* Zero copy: the payload becomes the packet's data, where
		 * usnet_udp_send_pkt() expects it, headroom in front. */
		usnet_pkt_adj(pkt, msg->off);
		pkt->len = msg->len;
		err = usnet_udp_send_pkt(s, pkt, &msg->from);
		if (!err) {
			c->zero_copy++;
			m[1].pkts++;
			m[1].bytes += msg->len;
			return;
		}
		usnet_pkt_free(pkt);
	} else {
		err = usnet_udp_sendto(s, msg->data, msg->len, &msg->from);
		usnet_udp_msg_free(msg);
		if (err >= 0) {
			c->copied++;
			m[1].pkts++;
			m[1].bytes += (uint64_t)err;
			return;
		}
	}
	c->echo_errors++;
	c->last_error = err;
	m[1].drops++;
}

/* --copy: the socket-like calls. Returns datagrams handled. */
static unsigned echo_copy(struct usnet_udp *s, struct counts *c, struct tool_meter *m, uint8_t *buf,
			  size_t size)
{
	struct usnet_addr4 from;
	unsigned n = 0;

	for (; n < BURST; n++) {
		int len = usnet_udp_recvfrom(s, buf, size, &from), err;

		if (len == -EAGAIN)
			break;
		if (len < 0) /* a pending error: we are not connected, so none is expected */
			continue;
		m[0].pkts++;
		m[0].bytes += (uint64_t)len;
		err = usnet_udp_sendto(s, buf, (size_t)len, &from);
		if (err < 0) {
			c->echo_errors++;
			c->last_error = err;
			m[1].drops++;
		} else {
			c->copied++;
			m[1].pkts++;
			m[1].bytes += (uint64_t)len;
		}
	}
	return n;
}

static void report(const struct opts *o, struct tool_host *host, const struct counts *c,
		   const struct tool_meter *m);

static void echo_loop(const struct opts *o, struct tool_host *host, struct usnet_udp *s,
		      struct counts *c, struct tool_meter m[2])
{
	static uint8_t buf[65536];
	struct usnet_udp_msg msgs[BURST];
	struct tool_host_idle idle = {.spin = o->busy ? UINT32_MAX : 0};
	struct tool_run run;
	uint64_t now;

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	for (;;) {
		unsigned frames = (unsigned)usnet_stack_poll(host->stack), n;

		if (o->copy) {
			n = echo_copy(s, c, m, buf, sizeof(buf));
		} else {
			n = usnet_udp_recv_burst(s, msgs, BURST);
			for (unsigned i = 0; i < n; i++)
				echo_msg(o, s, &msgs[i], c, m);
		}
		now = usnet_now_ns();
		if (tool_run_line_due(&run, now)) {
			char extra[512];

			tool_host_drops_line(host, extra, sizeof(extra));
			tool_run_line(&run, now, m, 2, extra);
		}
		if (dump_asked && o->std->json) {
			dump_asked = 0;
			/* The echoes queued so far leave first, as the counters will say. */
			usnet_stack_poll(host->stack);
			c->stop = "running";
			c->seconds = tool_run_seconds(&run, now);
			report(o, host, c, m);
		}
		if (o->std->count && m[1].pkts >= o->std->count) {
			c->stop = "count";
			break;
		}
		if (tool_run_over(&run, now)) {
			c->stop = tool_stop ? "signal" : "time";
			break;
		}
		tool_host_idle(host, &idle, frames + n, tool_run_timeout_ms(&run, now, 100));
	}
	/* Send what the last echoes queued. */
	usnet_stack_poll(host->stack);
	c->seconds = tool_run_seconds(&run, now);
}

static void report(const struct opts *o, struct tool_host *host, const struct counts *c,
		   const struct tool_meter *m)
{
	if (o->std->json) {
		struct tool_json j;

		tool_host_json_begin(&j, &o->hr, true);
		tool_json_u64(&j, "udp_port", o->udp_port);
		tool_json_str(&j, "stop", c->stop);
		tool_json_f64(&j, "seconds", c->seconds, 6);
		tool_json_u64(&j, "datagrams", m[0].pkts);
		tool_json_u64(&j, "bytes", m[0].bytes);
		tool_json_u64(&j, "echoed", m[1].pkts);
		tool_json_u64(&j, "echo_errors", c->echo_errors);
		tool_json_u64(&j, "zero_copy", c->zero_copy);
		tool_json_u64(&j, "copied", c->copied);
		tool_host_json(&j, host);
		tool_json_end(&j);
		return;
	}
	tool_msg("%llu datagrams, %llu bytes in %.3f s; echoed %llu (%llu zero copy), "
		 "%llu refused%s%s (stopped: %s)",
		 (unsigned long long)m[0].pkts, (unsigned long long)m[0].bytes, c->seconds,
		 (unsigned long long)m[1].pkts, (unsigned long long)c->zero_copy,
		 (unsigned long long)c->echo_errors, c->echo_errors ? ", last: " : "",
		 c->echo_errors ? strerror(-c->last_error) : "", c->stop);
}

static int run(void *ctx, struct tool_std *std)
{
	struct tool_meter m[2] = {{.label = "rx"}, {.label = "tx"}};
	struct opts *o = ctx;
	struct tool_host *host = &o->hr.host;
	struct counts c = {0};
	struct usnet_udp *s;
	int err;

	err = usnet_udp_open(host->stack, &s, NULL);
	if (!err)
		err = usnet_udp_bind(s, 0, o->udp_port);
	if (err) {
		tool_msg("cannot open UDP port %u: %s", o->udp_port, strerror(-err));
		return TOOL_EXIT_FAIL;
	}
	if (!std->quiet)
		tool_msg("%s/%u as %s on '%s', echoing UDP port %u", o->hr.opts.ip_str,
			 o->hr.opts.prefix_len, host->mac_str, o->hr.opts.spec, o->udp_port);
	echo_loop(o, host, s, &c, m);
	report(o, host, &c, m);
	usnet_udp_close(s);
	return TOOL_EXIT_OK;
}

static const struct tool_def udpecho = {
    TOOL_HOST_DEF("usnet-udpecho", "the port to use",
		  TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON),
    .short_opts = "P:",
};

int main(int argc, char **argv)
{
	struct opts o = {.udp_port = 7};

	return tool_main(&udpecho, &o, argc, argv);
}
