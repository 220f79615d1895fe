/* SPDX-License-Identifier: MIT */
/*
 * usnet-udpperf: load a UDP echo server from a host on a port, with usnet's
 * stack: ping-pong (one datagram in flight, round-trip percentiles) or
 * throughput (a window of datagrams in flight, rates both ways). Each
 * datagram carries its sequence number and send time, so every echo gives
 * a round trip without a table of requests.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_tool.h"

#define BURST	 32
#define HDR_LEN	 16 /* sequence number, send time: both 64-bit big-endian */
#define MAX_SIZE 65507
/* Defaults of --lost-ms: ping-pong, an echo later than this is lost; throughput,
 * no echo for this long and the window in flight is lost. */
#define LOST_NS	    USNET_NSEC_PER_SEC
#define SILENCE_NS  (USNET_NSEC_PER_SEC / 5)
#define SAMPLES_CAP (1u << 24)

static const char help_head[] =
    "NAME\n"
    "       usnet-udpperf - UDP ping-pong latency and throughput against an echo server\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-udpperf -p SPEC --ip ADDR[/PREFIX] [--gw ADDR] [--mac MAC] [--mtu N]\n"
    "                     [-m pingpong|throughput] [-s BYTES] [-n COUNT] [-t SECONDS]\n"
    "                     [-w WINDOW] [-r RATE] [--warmup N] [--sleep] [-q] [--json]\n"
    "                     DEST:PORT\n"
    "\n"
    "DESCRIPTION\n"
    "       Makes port SPEC a host with address ADDR, running usnet's stack, and\n"
    "       sends UDP datagrams of BYTES bytes to an echo server at DEST:PORT\n"
    "       (usnet-udpecho, or any server that sends datagrams back unchanged).\n"
    "       Each datagram starts with its sequence number and the time it was\n"
    "       sent; an echo is accepted when it has the length sent and a sequence\n"
    "       number that was sent and not yet answered.\n"
    "\n"
    "       pingpong    one datagram in flight: send, wait for its echo, repeat.\n"
    "                   An echo not back within 1 s counts as lost. Reports the\n"
    "                   round trip's percentiles (p50, p99, p99.9).\n"
    "       throughput  up to WINDOW datagrams in flight, sent as fast as the\n"
    "                   window (or -r RATE) allows. When no echo comes for 200 ms\n"
    "                   the datagrams in flight count as lost. Reports datagrams\n"
    "                   per second both ways, and the round trips too.\n"
    "\n"
    "       The socket is connected to DEST:PORT, so an ICMP port unreachable\n"
    "       ends the run with \"connection refused\". It busy-polls (unless\n"
    "       --sleep) and stops after COUNT datagrams, after SECONDS, or on\n"
    "       SIGINT/SIGTERM; then it waits up to 1 s for echoes still in flight.\n"
    "\n"
    "OPTIONS\n" TOOL_HOST_HELP "       -m, --mode pingpong|throughput\n"
    "              Default: pingpong.\n"
    "       -s, --size BYTES\n"
    "              UDP payload per datagram, 16 to 65507 (above the MTU: fragments).\n"
    "              Default: 64.\n"
    "       -n, --count COUNT\n"
    "              Datagrams to send (after the warm-up). 0: until stopped.\n"
    "              Default: 0 (with -t), else 10000.\n"
    "       -t, --time SECONDS\n"
    "              Stop sending after SECONDS. Default: no limit.\n"
    "       -w, --window WINDOW\n"
    "              throughput: datagrams in flight at most, 1 to 4096. Default: 64.\n"
    "       -r, --rate RATE\n"
    "              throughput: datagrams per second at most. 0: no limit. Default: 0.\n"
    "       --warmup N\n"
    "              Round trips before measuring (not counted). Default: 0.\n"
    "       --lost-ms MS\n"
    "              An echo not back after MS milliseconds is lost (ping-pong); no\n"
    "              echo for MS milliseconds loses the window in flight (throughput).\n"
    "              1 to 60000. Default: 1000 (ping-pong), 200 (throughput).\n"
    "       --sleep\n"
    "              Sleep in the stack's wait while waiting for an echo instead of\n"
    "              busy-polling.\n"
    "       -q, --quiet\n"
    "              No per-second stats line and no startup line on stderr.\n"
    "       --json\n"
    "              Print the final summary as one JSON object on stdout instead of a\n"
    "              line on stderr.\n"
    "       -h, --help\n"
    "              Print this help and exit.\n"
    "\n"
    "       Numbers take an SI suffix: k (x1000), M (x10^6), G (x10^9).\n";

static const char help_tail[] =
    "\n"
    "       usnet-udpperf exits 1 also when not one echo came back, or the server's\n"
    "       host refused the datagrams (ICMP port unreachable).\n"
    "\n"
    "OUTPUT\n"
    "       Once per second on stderr: datagrams sent (tx, drops: sends the stack\n"
    "       refused) and echoes received (rx) per second and in total. JSON\n"
    "       fields: tool, port, ip, mac, dest, mode, size, window, stop (count,\n"
    "       time, signal, error), error (null, or why the run failed), seconds,\n"
    "       sent, received, lost, bad (echoes of the wrong length or sequence),\n"
    "       send_errors, tx_pps, rx_pps, rx_mbps (payload), rtt_us {min, avg,\n"
    "       p50, p90, p99, p999, max}, stack (every counter of the stack by name),\n"
    "       port_stats.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-udpperf -p afpacket:veth1 --ip 198.18.0.2/24 -n 100k 198.18.0.1:7\n"
    "       usnet-udpperf -p memif:/run/usnet/usnetd.sock,id=2 --mac 02:75:00:00:00:02 \\\n"
    "                     --ip 198.18.0.12/24 -m throughput -t 10 --json 198.18.0.11:7\n";

enum {
	OPT_WARMUP = TOOL_HOST_OPT_END,
	OPT_SLEEP,
	OPT_LOST_MS,
};

static const struct option long_opts[] = {
    TOOL_HOST_LONG_OPTS,
    {"mode", required_argument, NULL, 'm'},
    {"size", required_argument, NULL, 's'},
    {"window", required_argument, NULL, 'w'},
    {"rate", required_argument, NULL, 'r'},
    {"warmup", required_argument, NULL, OPT_WARMUP},
    {"sleep", no_argument, NULL, OPT_SLEEP},
    {"lost-ms", required_argument, NULL, OPT_LOST_MS},
    {NULL, 0, NULL, 0}, /* end of table (getopt_long(3)) */
};

struct opts {
	struct tool_host_run hr; /* first: tool_host_run_open() and _close() */
	const struct tool_std *std;
	uint32_t dest_ip;
	uint16_t dest_port;
	char dest_str[24];
	bool throughput, sleep;
	uint32_t size, window;
	uint64_t rate, warmup;
	uint64_t lost_ns; /* --lost-ms; 0: the mode's default */
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	if (tool_host_opt(&o->hr.opts, c, arg))
		return;
	switch (c) {
	case 'm':
		if (!strcmp(arg, "throughput"))
			o->throughput = true;
		else if (strcmp(arg, "pingpong"))
			tool_usage_error("invalid -m '%s': pingpong or throughput", arg);
		break;
	case 's':
		o->size = (uint32_t)tool_arg_u64("-s", arg, HDR_LEN, MAX_SIZE);
		break;
	case 'w':
		o->window = (uint32_t)tool_arg_u64("-w", arg, 1, 4096);
		break;
	case 'r':
		o->rate = tool_arg_u64("-r", arg, 0, 1000000000);
		break;
	case OPT_WARMUP:
		o->warmup = tool_arg_u64("--warmup", arg, 0, 100000000);
		break;
	case OPT_SLEEP:
		o->sleep = true;
		break;
	case OPT_LOST_MS:
		o->lost_ns = tool_arg_u64("--lost-ms", arg, 1, 60000) * 1000000u;
		break;
	}
}

static void args(void *ctx, int argc, char **argv)
{
	struct opts *o = ctx;
	char ip[16];

	if (argc < 1)
		tool_usage_error("missing DEST:PORT: the echo server");
	if (argc > 1)
		tool_usage_error("unexpected argument '%s'", argv[1]);
	tool_arg_addr_port("DEST:PORT", argv[0], &o->dest_ip, &o->dest_port);
	snprintf(o->dest_str, sizeof(o->dest_str), "%s:%u", tool_ip_str(o->dest_ip, ip),
		 o->dest_port);
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;

	o->std = std;
	if (!std->count_set && !std->duration_ns)
		std->count = 10000;
	tool_host_check(&o->hr.opts, std);
}

struct perf {
	struct tool_host *host;
	struct usnet_udp *sock;
	uint64_t next_seq;  /* of the next datagram */
	uint64_t acked_seq; /* throughput: every seq below was answered or declared lost */
	uint64_t inflight, sent, received, lost, bad, send_errors;
	uint64_t warm; /* warm-up round trips still to make */
	uint64_t *rtt; /* ns */
	size_t nrtt, rtt_room;
	uint64_t last_echo_ns;
	int error; /* -errno that ended the run, 0 if none */
	const char *stop;
	double seconds;
	struct tool_meter m[2]; /* tx, rx */
	uint8_t *buf;
};

static void put_be64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static void add_rtt(struct perf *pf, uint64_t ns)
{
	if (pf->nrtt == pf->rtt_room) {
		size_t room = pf->rtt_room ? 2 * pf->rtt_room : 65536;
		uint64_t *v;

		if (pf->rtt_room >= SAMPLES_CAP || !(v = realloc(pf->rtt, room * sizeof(*v))))
			return;
		pf->rtt = v;
		pf->rtt_room = room;
	}
	pf->rtt[pf->nrtt++] = ns;
}

/*
 * Send datagram next_seq: zero copy when it fits in one buffer, else from
 * pf->buf through sendto (the stack fragments it). 0 or -errno.
 */
static int send_one(const struct opts *o, struct perf *pf)
{
	uint64_t now = usnet_now_ns();
	struct usnet_pkt *pkt = NULL;
	uint8_t *p = pf->buf;
	int err;

	if (o->size <= 1400)
		pkt = usnet_udp_alloc(pf->sock);
	if (pkt && usnet_pkt_tailroom(pkt) >= o->size) {
		p = usnet_pkt_data(pkt);
		memset(p + HDR_LEN, 0xa5, o->size - HDR_LEN);
	} else if (pkt) {
		usnet_pkt_free(pkt);
		pkt = NULL;
	}
	put_be64(p, pf->next_seq);
	put_be64(p + 8, now);
	if (pkt) {
		pkt->len = (uint16_t)o->size;
		err = usnet_udp_send_pkt(pf->sock, pkt, NULL);
		if (err)
			usnet_pkt_free(pkt);
	} else {
		err = usnet_udp_sendto(pf->sock, p, o->size, NULL);
		err = err < 0 ? err : 0;
	}
	if (err) {
		pf->send_errors++;
		pf->m[0].drops++;
		return err;
	}
	pf->next_seq++;
	pf->inflight++;
	if (!pf->warm) {
		pf->sent++;
		pf->m[0].pkts++;
		pf->m[0].bytes += o->size;
	}
	return 0;
}

/* One echo: check it, take its round trip. */
static void take_echo(const struct opts *o, struct perf *pf, const uint8_t *data, uint32_t len,
		      uint64_t now)
{
	uint64_t seq, ts;

	if (len != o->size || len < HDR_LEN) {
		pf->bad++;
		return;
	}
	seq = get_be64(data);
	ts = get_be64(data + 8);
	/* Only sequence numbers in flight: not answered, not declared lost. */
	if (seq < pf->acked_seq || seq >= pf->next_seq || ts > now || !pf->inflight) {
		pf->bad++;
		return;
	}
	if (!o->throughput)
		pf->acked_seq = seq + 1;
	pf->inflight--;
	pf->last_echo_ns = now;
	if (pf->warm) {
		pf->warm--;
		return;
	}
	pf->received++;
	pf->m[1].pkts++;
	pf->m[1].bytes += len;
	add_rtt(pf, now - ts);
}

/* Poll the stack and take the echoes; returns frames + echoes handled. */
static unsigned poll_echoes(const struct opts *o, struct perf *pf)
{
	struct usnet_udp_msg msgs[BURST];
	unsigned handled = (unsigned)usnet_stack_poll(pf->host->stack);
	uint16_t n = usnet_udp_recv_burst(pf->sock, msgs, BURST);
	uint64_t now = usnet_now_ns();
	int err;

	for (uint16_t i = 0; i < n; i++) {
		take_echo(o, pf, msgs[i].data, msgs[i].len, now);
		usnet_udp_msg_free(&msgs[i]);
	}
	/* A connected socket learns of ICMP port unreachable (RFC 1122 4.1.3.3). */
	err = usnet_udp_error(pf->sock);
	if (err && !pf->error)
		pf->error = err;
	return handled + n;
}

static bool may_send(const struct opts *o, const struct perf *pf, uint64_t now, uint64_t start)
{
	if (o->std->count && pf->sent >= o->std->count && !pf->warm)
		return false;
	if (!o->throughput)
		return pf->inflight == 0;
	if (pf->inflight >= o->window)
		return false;
	/* -r: datagram k (after the warm-up) leaves no earlier than start + k / rate. */
	return !o->rate || pf->warm ||
	       (now - start) >= (uint64_t)((double)pf->sent * 1e9 / (double)o->rate);
}

/* Echoes overdue: pingpong after LOST_NS, throughput after SILENCE_NS of silence
 * (or --lost-ms). */
static void expire(const struct opts *o, struct perf *pf, uint64_t now, uint64_t sent_ns)
{
	uint64_t limit = o->lost_ns ? o->lost_ns : o->throughput ? SILENCE_NS : LOST_NS;
	uint64_t since = pf->last_echo_ns > sent_ns ? pf->last_echo_ns : sent_ns;

	if (!pf->inflight || now - since < limit)
		return;
	if (pf->warm)
		pf->warm = pf->warm > pf->inflight ? pf->warm - pf->inflight : 0;
	else
		pf->lost += pf->inflight;
	pf->inflight = 0;
	pf->acked_seq = pf->next_seq;
	pf->last_echo_ns = now;
}

static void perf_loop(const struct opts *o, struct perf *pf)
{
	struct tool_host_idle idle = {.spin = o->sleep ? 16 : UINT32_MAX};
	uint64_t now = usnet_now_ns(), start = now, last_send = now, drain_end = 0;
	struct tool_run run;

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	for (;;) {
		unsigned handled = poll_echoes(o, pf);

		now = usnet_now_ns();
		if (pf->error) {
			pf->stop = "error";
			break;
		}
		while (!drain_end && may_send(o, pf, now, start)) {
			if (send_one(o, pf)) {
				usnet_stack_poll(pf->host->stack); /* -ENOBUFS: let TX drain */
				break;
			}
			last_send = now;
			handled++;
			if (pf->warm == 0 && pf->sent == 0)
				start = now;
		}
		expire(o, pf, now, last_send);
		if (tool_run_line_due(&run, now))
			tool_run_line(&run, now, pf->m, 2, NULL);
		if (!drain_end) {
			bool done = o->std->count && pf->sent >= o->std->count && !pf->warm;

			if (done || tool_run_over(&run, now)) {
				pf->stop = done ? "count" : tool_stop ? "signal" : "time";
				pf->seconds = tool_run_seconds(&run, now);
				drain_end = now + USNET_NSEC_PER_SEC;
			}
		}
		if (drain_end && (!pf->inflight || now >= drain_end))
			break;
		tool_host_idle(pf->host, &idle, handled, 10);
	}
	if (!pf->seconds)
		pf->seconds = tool_run_seconds(&run, now);
	pf->lost += pf->inflight;
	pf->inflight = 0;
}

static void report(const struct opts *o, struct perf *pf)
{
	uint64_t p50, p90, p99, p999, min = 0, max = 0;
	double avg = 0, secs = pf->seconds;

	tool_sort_u64(pf->rtt, pf->nrtt);
	if (pf->nrtt) {
		min = pf->rtt[0];
		max = pf->rtt[pf->nrtt - 1];
		for (size_t i = 0; i < pf->nrtt; i++)
			avg += (double)pf->rtt[i];
		avg /= (double)pf->nrtt;
	}
	p50 = tool_percentile(pf->rtt, pf->nrtt, 50);
	p90 = tool_percentile(pf->rtt, pf->nrtt, 90);
	p99 = tool_percentile(pf->rtt, pf->nrtt, 99);
	p999 = tool_percentile(pf->rtt, pf->nrtt, 99.9);
	if (o->std->json) {
		struct tool_json j;

		tool_host_json_begin(&j, &o->hr, true);
		tool_json_str(&j, "dest", o->dest_str);
		tool_json_str(&j, "mode", o->throughput ? "throughput" : "pingpong");
		tool_json_u64(&j, "size", o->size);
		tool_json_u64(&j, "window", o->throughput ? o->window : 1);
		tool_json_str(&j, "stop", pf->stop);
		if (pf->error)
			tool_json_str(&j, "error", strerror(-pf->error));
		else
			tool_json_null(&j, "error");
		tool_json_f64(&j, "seconds", secs, 6);
		tool_json_u64(&j, "sent", pf->sent);
		tool_json_u64(&j, "received", pf->received);
		tool_json_u64(&j, "lost", pf->lost);
		tool_json_u64(&j, "bad", pf->bad);
		tool_json_u64(&j, "send_errors", pf->send_errors);
		tool_json_f64(&j, "tx_pps", tool_rate(pf->sent, secs), 1);
		tool_json_f64(&j, "rx_pps", tool_rate(pf->received, secs), 1);
		tool_json_f64(&j, "rx_mbps", tool_rate(pf->m[1].bytes, secs) * 8 / 1e6, 3);
		tool_json_open(&j, "rtt_us", '{');
		tool_json_f64(&j, "min", (double)min / 1e3, 3);
		tool_json_f64(&j, "avg", avg / 1e3, 3);
		tool_json_f64(&j, "p50", (double)p50 / 1e3, 3);
		tool_json_f64(&j, "p90", (double)p90 / 1e3, 3);
		tool_json_f64(&j, "p99", (double)p99 / 1e3, 3);
		tool_json_f64(&j, "p999", (double)p999 / 1e3, 3);
		tool_json_f64(&j, "max", (double)max / 1e3, 3);
		tool_json_close(&j, '}');
		tool_host_json(&j, pf->host);
		tool_json_end(&j);
		return;
	}
	if (pf->error)
		tool_msg("%s: %s", o->dest_str, strerror(-pf->error));
	tool_msg("%s %s, %u bytes: sent %llu, received %llu, lost %llu, bad %llu, not sent %llu "
		 "in %.3f s: %.0f/s out, %.0f/s back (stopped: %s)",
		 o->throughput ? "throughput" : "pingpong", o->dest_str, o->size,
		 (unsigned long long)pf->sent, (unsigned long long)pf->received,
		 (unsigned long long)pf->lost, (unsigned long long)pf->bad,
		 (unsigned long long)pf->send_errors, secs, tool_rate(pf->sent, secs),
		 tool_rate(pf->received, secs), pf->stop);
	if (pf->nrtt)
		tool_msg(
		    "rtt min/avg/p50/p90/p99/p99.9/max = %.1f/%.1f/%.1f/%.1f/%.1f/%.1f/%.1f us",
		    (double)min / 1e3, avg / 1e3, (double)p50 / 1e3, (double)p90 / 1e3,
		    (double)p99 / 1e3, (double)p999 / 1e3, (double)max / 1e3);
}

static int run(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;
	struct perf pf = {.m = {{.label = "tx"}, {.label = "rx"}}};
	int status = TOOL_EXIT_FAIL, err;

	pf.host = &o->hr.host;
	pf.warm = o->warmup;
	pf.buf = malloc(MAX_SIZE);
	if (!pf.buf) {
		tool_msg("out of memory");
		return TOOL_EXIT_FAIL;
	}
	memset(pf.buf, 0xa5, MAX_SIZE);
	err = usnet_udp_open(pf.host->stack, &pf.sock, NULL);
	if (!err)
		err = usnet_udp_connect(pf.sock, o->dest_ip, o->dest_port);
	if (err) {
		tool_msg("cannot open a UDP socket to %s: %s", o->dest_str, strerror(-err));
		goto out;
	}
	if (!std->quiet)
		tool_msg("%s to %s from %s/%u (%s) on '%s', %u bytes",
			 o->throughput ? "throughput" : "pingpong", o->dest_str, o->hr.opts.ip_str,
			 o->hr.opts.prefix_len, pf.host->mac_str, o->hr.opts.spec, o->size);
	perf_loop(o, &pf);
	report(o, &pf);
	if (!pf.error && pf.received)
		status = TOOL_EXIT_OK;
	usnet_udp_close(pf.sock);
out:
	free(pf.rtt);
	free(pf.buf);
	return status;
}

static const struct tool_def udpperf = {
    TOOL_HOST_DEF("usnet-udpperf", "the port to use",
		  TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON),
    .short_opts = "m:s:w:r:",
    .args = args,
};

int main(int argc, char **argv)
{
	struct opts o = {.size = 64, .window = 64};

	return tool_main(&udpperf, &o, argc, argv);
}
