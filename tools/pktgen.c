/* SPDX-License-Identifier: MIT */
/*
 * usnet-pktgen: send Ethernet/IPv4/UDP frames carrying sequence numbers.
 *
 * Fast path: every flow's header bytes are built once with
 * usnet_udp4_build() (its UDP checksum computed for sequence number 0), the
 * payload template once; per frame the header and payload are copied, the
 * sequence number written and the UDP checksum updated incrementally
 * (tool_seq_stamp(), RFC 1624) instead of summing the frame again.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common.h"

#define TOKEN	 1000000000ull		  /* one frame's worth of credit: PPS * ns per frame */
#define STALL_NS (5 * USNET_NSEC_PER_SEC) /* no frame accepted this long: give up */

static const char help_head[] =
    "NAME\n"
    "       usnet-pktgen - send Ethernet/IPv4/UDP test frames with sequence numbers\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-pktgen -p SPEC [-n COUNT] [-s SIZE] [-r PPS] [-t SECONDS] [-f FLOWS]\n"
    "                    [--src-mac MAC] [--dst-mac MAC] [--src-ip ADDR] [--dst-ip ADDR]\n"
    "                    [--sport PORT] [--dport PORT] [-b BURST] [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Sends UDP frames on port SPEC, as fast as the port takes them or at PPS\n"
    "       frames per second. The UDP payload of every frame starts with a 64-bit\n"
    "       big-endian sequence number 0, 1, 2, ... (one sequence across all flows),\n"
    "       which usnet-sink checks for loss, duplication and reordering; the rest of\n"
    "       the payload is zero. IPv4 and UDP checksums are valid.\n"
    "\n"
    "       Frames the port refuses (its queue is full) are retried, never skipped:\n"
    "       with -n exactly COUNT frames are handed to the port, in sequence order.\n"
    "       pktgen stops after COUNT frames, after SECONDS, or on SIGINT/SIGTERM,\n"
    "       and fails (exit 1) if the port takes no frame at all for 5 seconds while\n"
    "       its link is up; while it is down (a memif client waiting for usnetd\n"
    "       with wait=1, an interface that is down) it says so and waits.\n"
    "\n"
    "OPTIONS\n"
    "       -p, --port SPEC\n"
    "              Port to send on (required). See PORT KINDS.\n"
    "       -n, --count COUNT\n"
    "              Send exactly COUNT frames, then stop. 0: no limit. Default: 0.\n"
    "       -s, --size SIZE\n"
    "              Frame size in bytes without FCS, 60..1514. Default: 60.\n"
    "       -r, --rate PPS\n"
    "              Send at most PPS frames per second, 1..1G, on average: a token\n"
    "              bucket as deep as 1 ms of frames (at least one burst) makes up for\n"
    "              short scheduling delays. Default: as fast as possible.\n" TOOL_HELP_TIME
    "       -f, --flows FLOWS\n"
    "              Number of flows, 1..65535: the UDP source port goes round-robin\n"
    "              through SPORT, SPORT+1, ..., SPORT+FLOWS-1. Default: 1.\n"
    "       --src-mac MAC\n"
    "              Source MAC address. Default: the port's own MAC.\n"
    "       --dst-mac MAC\n"
    "              Destination MAC address. Default: 02:00:00:00:00:02 (locally\n"
    "              administered, so a kernel peer does not take the frames for itself).\n"
    "       --src-ip ADDR\n"
    "              Source IPv4 address. Default: 198.18.0.1.\n"
    "       --dst-ip ADDR\n"
    "              Destination IPv4 address. Default: 198.18.0.2.\n"
    "       --sport PORT\n"
    "              First UDP source port, 0..65535. Default: 1024.\n"
    "       --dport PORT\n"
    "              UDP destination port, 0..65535. Default: 9 (discard).\n"
    "       -b, --burst BURST\n"
    "              Frames per tx_burst call, 1..256. Default: 32.\n" TOOL_HELP_QUIET_JSON_HELP
	TOOL_HELP_NUMBERS;

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       Once per second on stderr: elapsed time, TX rate in pps and Mbit/s\n"
    "       (frame bytes without FCS), totals, and drops (the port's tx_errors).\n"
    "       Summary: sent, bytes, seconds, pps, Mbit/s, tx_full retries, tx_errors,\n"
    "       pool allocation failures, and why it stopped. JSON fields: tool, port,\n"
    "       stop (count, time, signal, stall), seconds, sent, bytes, pps, mbps,\n"
    "       tx_full, tx_errors, alloc_fail, size, flows, rate.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-pktgen -p afpacket:veth0 -n 1M -s 128 -r 100k\n"
    "       usnet-pktgen -p null: -t 5 --json\n"
    "       usnet-pktgen -p afpacket:veth0 -f 256 --dst-mac 52:54:00:12:34:56 -t 10\n";

enum {
	OPT_SRC_MAC = 256,
	OPT_DST_MAC,
	OPT_SRC_IP,
	OPT_DST_IP,
	OPT_SPORT,
	OPT_DPORT,
};

static const struct option long_opts[] = {
    {"size", required_argument, NULL, 's'},
    {"rate", required_argument, NULL, 'r'},
    {"flows", required_argument, NULL, 'f'},
    {"src-mac", required_argument, NULL, OPT_SRC_MAC},
    {"dst-mac", required_argument, NULL, OPT_DST_MAC},
    {"src-ip", required_argument, NULL, OPT_SRC_IP},
    {"dst-ip", required_argument, NULL, OPT_DST_IP},
    {"sport", required_argument, NULL, OPT_SPORT},
    {"dport", required_argument, NULL, OPT_DPORT},
    {NULL, 0, NULL, 0},
};

struct opts {
	const struct tool_std *std;
	uint64_t pps; /* 0: unlimited */
	uint16_t size;
	uint32_t flows;
	bool src_mac_set;
	struct usnet_udp4_flow flow; /* sport is the first flow's */
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	switch (c) {
	case 's':
		o->size =
		    (uint16_t)tool_arg_u64("-s", arg, USNET_ETH_MIN_FRAME, USNET_ETH_MAX_FRAME);
		break;
	case 'r':
		o->pps = tool_arg_u64("-r", arg, 1, 1000000000);
		break;
	case 'f':
		o->flows = (uint32_t)tool_arg_u64("-f", arg, 1, 65535);
		break;
	case OPT_SRC_MAC:
		tool_arg_mac("--src-mac", arg, o->flow.src_mac);
		/* IEEE 802 I/G bit: a source address is always an individual one;
		 * switches (usnetd too) drop or misdeliver frames from a group. */
		if (o->flow.src_mac[0] & 1)
			tool_usage_error("invalid --src-mac '%s': a group (multicast) address "
					 "cannot be a source",
					 arg);
		o->src_mac_set = true;
		break;
	case OPT_DST_MAC:
		tool_arg_mac("--dst-mac", arg, o->flow.dst_mac);
		break;
	case OPT_SRC_IP:
		o->flow.src_ip = tool_arg_ipv4("--src-ip", arg);
		break;
	case OPT_DST_IP:
		o->flow.dst_ip = tool_arg_ipv4("--dst-ip", arg);
		break;
	case OPT_SPORT:
		o->flow.sport = (uint16_t)tool_arg_u64("--sport", arg, 0, 65535);
		break;
	case OPT_DPORT:
		o->flow.dport = (uint16_t)tool_arg_u64("--dport", arg, 0, 65535);
		break;
	}
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;

	o->std = std;
	if ((uint32_t)o->flow.sport + o->flows - 1 > 65535)
		tool_usage_error("--sport %u with -f %u runs past UDP port 65535", o->flow.sport,
				 o->flows);
}

/*
 * Per-flow headers and the shared payload, built once. Each flow keeps the
 * first HDR_COPY bytes of its frame: the 42 header bytes and 6 bytes of the
 * (zero) sequence number, so that the copy is three 16-byte moves rather
 * than an odd-sized one (which GCC turns into a slow-starting rep movsb).
 */
#define HDR_COPY 48
_Static_assert(HDR_COPY >= TOOL_SEQ_OFF && HDR_COPY <= USNET_ETH_MIN_FRAME, "header copy size");

struct frames {
	uint8_t *hdr;	  /* flows x HDR_COPY bytes */
	uint8_t *payload; /* frame bytes HDR_COPY..size, sequence number 0 */
	uint32_t flows, next_flow;
	uint16_t size;
};

static int frames_build(struct frames *fr, const struct opts *o, const uint8_t port_mac[6])
{
	struct usnet_udp4_flow flow = o->flow;
	uint8_t frame[USNET_ETH_MAX_FRAME];
	static const uint8_t seq0[8];

	if (!o->src_mac_set)
		memcpy(flow.src_mac, port_mac, 6);
	fr->flows = o->flows;
	fr->next_flow = 0;
	fr->size = o->size;
	fr->hdr = malloc((size_t)o->flows * HDR_COPY);
	fr->payload = malloc((size_t)o->size - HDR_COPY);
	if (!fr->hdr || !fr->payload)
		return -ENOMEM;
	for (uint32_t f = 0; f < o->flows; f++) {
		flow.sport = (uint16_t)(o->flow.sport + f);
		if (usnet_udp4_build(frame, sizeof(frame), &flow, o->size, seq0, sizeof(seq0)) < 0)
			return -EINVAL;
		memcpy(fr->hdr + (size_t)f * HDR_COPY, frame, HDR_COPY);
	}
	/* The payload does not depend on the flow. */
	memcpy(fr->payload, frame + HDR_COPY, (size_t)o->size - HDR_COPY);
	return 0;
}

static void frames_free(struct frames *fr)
{
	free(fr->hdr);
	free(fr->payload);
}

static inline void frame_fill(struct frames *fr, struct usnet_pkt *p, uint64_t seq)
{
	uint8_t *d = usnet_pkt_data(p);

	memcpy(d, fr->hdr + (size_t)fr->next_flow * HDR_COPY, HDR_COPY);
	memcpy(d + HDR_COPY, fr->payload, (size_t)fr->size - HDR_COPY);
	tool_seq_stamp(d, seq);
	p->len = fr->size;
	if (++fr->next_flow == fr->flows)
		fr->next_flow = 0;
}

/* Does a buffer from this pool hold a SIZE-byte frame? */
static bool pool_fits(struct usnet_pool *pool, uint16_t size)
{
	struct usnet_pkt *p = usnet_pkt_alloc(pool);
	bool fits;

	if (!p)
		return true; /* cannot tell yet; the port fills it */
	fits = usnet_pkt_tailroom(p) >= size;
	usnet_pkt_free(p);
	return fits;
}

/* Sleep most of the way to the next frame's credit, when that is far off. */
static void rate_wait(uint64_t tokens, uint64_t pps, int max_ms)
{
	uint64_t wait_ns = (TOKEN - tokens) / pps;
	struct timespec ts;

	/* Under 200 us: spin, nanosleep's own latency is of that order. */
	if (wait_ns < 200000)
		return;
	wait_ns -= 100000;
	if (wait_ns > (uint64_t)max_ms * 1000000)
		wait_ns = (uint64_t)max_ms * 1000000;
	ts.tv_sec = (time_t)(wait_ns / USNET_NSEC_PER_SEC);
	ts.tv_nsec = (long)(wait_ns % USNET_NSEC_PER_SEC);
	nanosleep(&ts, NULL);
}

/*
 * Nothing was taken: is the link down (a memif client waiting for its
 * server with wait=1, an interface that is down)? Then waiting is no stall,
 * said once per down period, and sleeping on the port beats spinning on
 * tx_burst. Looked at every 100 ms while up, every time while down.
 * true: it was down (and we slept).
 */
static bool link_down_wait(const struct opts *o, struct usnet_port *port, uint64_t now,
			   uint64_t *next_ns, int max_ms)
{
	struct usnet_link link;

	if (now < *next_ns)
		return false;
	if (usnet_port_link(port, &link) || link.up) {
		*next_ns = now + USNET_NSEC_PER_SEC / 10;
		return false;
	}
	if (*next_ns)
		tool_msg("port '%s': link is down; waiting for it to send", o->std->spec[0]);
	*next_ns = 0;
	if (usnet_port_wait(port, 0, max_ms) < 0) {
		struct timespec ts = {0, 1000000};

		nanosleep(&ts, NULL);
	}
	return true;
}

struct result {
	const char *stop;
	uint64_t sent, bytes, tx_full, alloc_fail, tx_errors;
	double seconds;
};

static void send_loop(const struct opts *o, struct usnet_port *port, struct frames *fr,
		      struct result *res)
{
	struct usnet_pool *pool = usnet_port_pool(port, 0);
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	struct tool_meter meter = {.label = "tx"};
	struct usnet_queue_stats st;
	struct tool_run run;
	uint64_t seq = 0, tokens = TOKEN, last_fill, progress_ns, now = 0, link_ns = 1;
	uint16_t pending = 0; /* built, not yet taken: pkts[0..pending), in sequence order */

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	last_fill = progress_ns = run.start_ns;
	for (;;) {
		uint64_t want = o->std->burst;
		uint16_t ntx, taken;

		now = usnet_now_ns();
		if (tool_run_line_due(&run, now)) {
			usnet_port_stats(port, 0, &st);
			meter.drops = st.tx_errors;
			tool_run_line(&run, now, &meter, 1, NULL);
		}
		if (o->std->count && meter.pkts == o->std->count) {
			res->stop = "count";
			break;
		}
		if (tool_run_over(&run, now)) {
			res->stop = tool_stop ? "signal" : "time";
			break;
		}
		if (o->std->count && o->std->count - meter.pkts < want)
			want = o->std->count - meter.pkts;
		if (o->pps) {
			/* Token bucket: credit in units of 1/TOKEN frame, as deep as
			 * 1 ms of frames (at least a burst) so that being descheduled
			 * for that long costs no rate. Clamping the interval keeps
			 * pps * ns within 64 bits. */
			uint64_t dt = now - last_fill;
			uint64_t cap =
			    (o->pps / 1000 > o->std->burst ? o->pps / 1000 : o->std->burst) * TOKEN;

			last_fill = now;
			tokens += (dt > USNET_NSEC_PER_SEC ? USNET_NSEC_PER_SEC : dt) * o->pps;
			if (tokens > cap)
				tokens = cap;
			if (tokens < TOKEN) {
				progress_ns = now; /* waiting by choice is no stall */
				rate_wait(tokens, o->pps, tool_run_timeout_ms(&run, now, 100));
				continue;
			}
			if (tokens / TOKEN < want)
				want = tokens / TOKEN;
		}
		if (pending < want) {
			uint32_t got =
			    usnet_pool_alloc_bulk(pool, pkts + pending, (uint32_t)(want - pending));

			res->alloc_fail += want - pending - got;
			for (uint32_t i = 0; i < got; i++)
				frame_fill(fr, pkts[pending + i], seq++);
			pending = (uint16_t)(pending + got);
		}
		ntx = pending < want ? pending : (uint16_t)want;
		/* Called even with nothing to send: a port reclaims finished
		 * transmissions in tx_burst, which is how an empty pool refills. */
		taken = usnet_tx_burst(port, 0, pkts, ntx);
		if (taken) {
			meter.pkts += taken;
			meter.bytes += (uint64_t)taken * fr->size;
			if (o->pps)
				tokens -= (uint64_t)taken * TOKEN;
			pending = (uint16_t)(pending - taken);
			if (pending)
				memmove(pkts, pkts + taken, pending * sizeof(pkts[0]));
			progress_ns = now;
		} else if (link_down_wait(o, port, now, &link_ns,
					  tool_run_timeout_ms(&run, now, 100))) {
			progress_ns = usnet_now_ns(); /* waiting for the link is no stall */
		} else if (now - progress_ns > STALL_NS) {
			res->stop = "stall";
			break;
		}
		res->tx_full += (uint16_t)(ntx - taken);
	}
	/* Frames built but never taken carry the highest sequence numbers, so
	 * freeing them leaves no gap in what was sent. */
	usnet_pkt_free_bulk(pkts, pending);
	res->seconds = tool_run_seconds(&run, now);
	res->sent = meter.pkts;
	res->bytes = meter.bytes;
	usnet_port_stats(port, 0, &st);
	res->tx_errors = st.tx_errors;
}

static void report(const struct opts *o, const struct result *r)
{
	double pps = tool_rate(r->sent, r->seconds), mbps = tool_rate(r->bytes, r->seconds) * 8e-6;

	if (o->std->json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		tool_json_str(&j, "tool", tool_name);
		tool_json_str(&j, "port", o->std->spec[0]);
		tool_json_str(&j, "stop", r->stop);
		tool_json_f64(&j, "seconds", r->seconds, 6);
		tool_json_u64(&j, "sent", r->sent);
		tool_json_u64(&j, "bytes", r->bytes);
		tool_json_f64(&j, "pps", pps, 1);
		tool_json_f64(&j, "mbps", mbps, 3);
		tool_json_u64(&j, "tx_full", r->tx_full);
		tool_json_u64(&j, "tx_errors", r->tx_errors);
		tool_json_u64(&j, "alloc_fail", r->alloc_fail);
		tool_json_u64(&j, "size", o->size);
		tool_json_u64(&j, "flows", o->flows);
		tool_json_u64(&j, "rate", o->pps);
		tool_json_end(&j);
		return;
	}
	tool_msg("sent %llu frames, %llu bytes in %.3f s: %.0f pps, %.2f Mbit/s; tx_full retries "
		 "%llu, tx_errors %llu, alloc failures %llu (stopped: %s)",
		 (unsigned long long)r->sent, (unsigned long long)r->bytes, r->seconds, pps, mbps,
		 (unsigned long long)r->tx_full, (unsigned long long)r->tx_errors,
		 (unsigned long long)r->alloc_fail, r->stop);
}

static int run(void *ctx, struct tool_std *std)
{
	struct usnet_port *port = std->port[0];
	struct result res = {0};
	struct frames fr = {0};
	struct opts *o = ctx;
	int status = TOOL_EXIT_OK;

	if (!pool_fits(usnet_port_pool(port, 0), o->size)) {
		tool_msg("port '%s': its buffers cannot hold %u-byte frames", std->spec[0],
			 o->size);
		return TOOL_EXIT_FAIL;
	}
	if (frames_build(&fr, o, usnet_port_info(port)->mac)) {
		tool_msg("cannot build %u flow templates (out of memory)", o->flows);
		frames_free(&fr);
		return TOOL_EXIT_FAIL;
	}
	if (!std->quiet)
		tool_msg("sending %u-byte frames on '%s'", o->size, std->spec[0]);
	send_loop(o, port, &fr, &res);
	report(o, &res);
	if (!strcmp(res.stop, "stall")) {
		tool_msg("port '%s' took no frame for %llu s; giving up", std->spec[0],
			 (unsigned long long)(STALL_NS / USNET_NSEC_PER_SEC));
		status = TOOL_EXIT_FAIL;
	}
	frames_free(&fr);
	return status;
}

static const struct tool_def pktgen = {
    .name = "usnet-pktgen",
    .std = TOOL_OPT_PORT | TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_BURST | TOOL_OPT_QUIET |
	   TOOL_OPT_JSON,
    .ports = 1,
    .port_role = "the port to send on",
    .burst = 32,
    .help_head = help_head,
    .help_tail = help_tail,
    .short_opts = "s:r:f:",
    .long_opts = long_opts,
    .opt = own_opt,
    .check = check,
    .run = run,
};

int main(int argc, char **argv)
{
	struct opts o = {
	    .size = 60,
	    .flows = 1,
	    .flow =
		{
		    .dst_mac = {0x02, 0, 0, 0, 0, 0x02},
		    .src_ip = 0xc6120001, /* 198.18.0.1 */
		    .dst_ip = 0xc6120002, /* 198.18.0.2 */
		    .sport = 1024,
		    .dport = 9,
		},
	};

	return tool_main(&pktgen, &o, argc, argv);
}
