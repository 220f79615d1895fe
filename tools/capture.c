/* SPDX-License-Identifier: MIT */
/*
 * usnet-capture: write the frames a port receives to a pcap file with
 * libpcap (pcap_open_dead(3PCAP) for the link type, pcap_dump_fopen(3PCAP)
 * to write), so that tcpdump, tshark and Wireshark read it.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

#define BURST	    32
#define MAX_SNAPLEN 262144 /* tcpdump's default and largest snapshot length */

static const char help_head[] =
    "NAME\n"
    "       usnet-capture - write the frames a port receives to a pcap file\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-capture -p SPEC -w FILE [-n COUNT] [-t SECONDS] [-s SNAPLEN] [--nano]\n"
    "                     [-q] [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Receives frames on port SPEC and writes them to FILE in the pcap format\n"
    "       (link type DLT_EN10MB, Ethernet) that tcpdump -r and tshark -r read.\n"
    "       Timestamps are the host's real-time clock when a burst was received, in\n"
    "       microseconds, or nanoseconds with --nano. The file is opened before the\n"
    "       port: if it cannot be written, capture fails at once. It is emptied only\n"
    "       once the port is open, so a port that fails leaves an existing file as\n"
    "       it was (and no new one). Stops after COUNT frames, after SECONDS, or on\n"
    "       SIGINT/SIGTERM; the file is complete in every case. The file is flushed\n"
    "       once per second.\n"
    "\n"
    "OPTIONS\n"
    "       -p, --port SPEC\n"
    "              Port to capture on (required). See PORT KINDS.\n"
    "       -w, --write FILE\n"
    "              pcap file to write (required); it is replaced if it exists. '-'\n"
    "              writes to stdout (then --json is not allowed).\n"
    "       -n, --count COUNT\n"
    "              Stop after exactly COUNT frames. 0: no limit. Default: 0.\n" TOOL_HELP_TIME
    "       -s, --snaplen SNAPLEN\n"
    "              Store at most SNAPLEN bytes of each frame, 14..262144 (the\n"
    "              original length is recorded too). Default: 262144.\n"
    "       --nano\n"
    "              Nanosecond timestamps (pcap magic 0xa1b23c4d). Default: "
    "microseconds.\n" TOOL_HELP_QUIET_JSON_HELP TOOL_HELP_NUMBERS;

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       Once per second on stderr: elapsed time, RX rate in pps and Mbit/s, totals\n"
    "       and drops (the port's rx_dropped + rx_nobuf). JSON fields: tool, port,\n"
    "       file, stop (count, time, signal, error), seconds, packets, bytes (original\n"
    "       frame lengths), captured_bytes (bytes stored), pps, mbps, drops, snaplen,\n"
    "       precision (\"us\" or \"ns\").\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-capture -p afpacket:veth1 -w /tmp/veth1.pcap -n 1000\n"
    "       usnet-capture -p afpacket:veth1 -w - -q | tcpdump -n -r -\n";

enum {
	OPT_NANO = 256,
};

static const struct option long_opts[] = {
    {"write", required_argument, NULL, 'w'},
    {"snaplen", required_argument, NULL, 's'},
    {"nano", no_argument, NULL, OPT_NANO},
    {NULL, 0, NULL, 0},
};

struct opts {
	const struct tool_std *std;
	const char *file;
	uint32_t snaplen;
	bool nano;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	switch (c) {
	case 'w':
		if (o->file)
			tool_usage_error("-w given twice");
		if (!*arg)
			tool_usage_error("invalid -w '': empty file name");
		o->file = arg;
		break;
	case 's':
		o->snaplen = (uint32_t)tool_arg_u64("-s", arg, USNET_ETH_HLEN, MAX_SNAPLEN);
		break;
	case OPT_NANO:
		o->nano = true;
		break;
	}
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;

	o->std = std;
	if (!o->file)
		tool_usage_error("missing -w FILE: the pcap file to write ('-' for stdout)");
	if (std->json && !strcmp(o->file, "-"))
		tool_usage_error("--json and -w - both want stdout");
}

struct capture {
	pcap_t *pcap;
	pcap_dumper_t *dumper;
	FILE *f;
	const char *name; /* for messages: the file name, or "-" */
	int fd;		  /* reserved by capture_reserve(), -1 for stdout */
	bool created;	  /* capture_reserve() made the file: remove it if we give up */
	uint64_t captured_bytes;
	int write_errno; /* first write error, 0 if none */
};

/*
 * Before the port is opened: make sure the file can be written, without
 * truncating it yet, so that a port that then fails to open (a typo in the
 * spec) leaves an existing file as it was and leaves no new one behind.
 * 0, or 1 after saying why.
 */
static int capture_reserve(struct capture *cap, const struct opts *o)
{
	cap->name = o->file;
	cap->fd = -1;
	if (!strcmp(o->file, "-"))
		return 0;
	cap->fd = open(o->file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	cap->created = cap->fd >= 0;
	if (cap->fd < 0 && errno == EEXIST)
		cap->fd = open(o->file, O_WRONLY | O_CLOEXEC);
	if (cap->fd < 0) {
		tool_msg("cannot write '%.*s%s': %s", TOOL_ECHO_ARGS(o->file), strerror(errno));
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

/* The port did not open: put things back as capture_reserve() found them. */
static void capture_abandon(struct capture *cap)
{
	if (cap->fd < 0)
		return;
	close(cap->fd);
	if (cap->created)
		unlink(cap->name);
}

/* Empty the reserved file and write the pcap header: 0, or 1 after saying why. */
static int capture_open(struct capture *cap, const struct opts *o)
{
	struct stat st;

	if (cap->fd < 0) {
		cap->f = stdout;
	} else {
		/* Only a regular file has a length; a FIFO or a device is written as is. */
		if (fstat(cap->fd, &st) == 0 && S_ISREG(st.st_mode) && ftruncate(cap->fd, 0) < 0) {
			tool_msg("cannot write '%.*s%s': %s", TOOL_ECHO_ARGS(o->file),
				 strerror(errno));
			close(cap->fd);
			return TOOL_EXIT_FAIL;
		}
		cap->f = fdopen(cap->fd, "wb");
		if (!cap->f) {
			tool_msg("cannot write '%.*s%s': %s", TOOL_ECHO_ARGS(o->file),
				 strerror(errno));
			close(cap->fd);
			return TOOL_EXIT_FAIL;
		}
	}
	cap->pcap = pcap_open_dead_with_tstamp_precision(DLT_EN10MB, (int)o->snaplen,
							 o->nano ? PCAP_TSTAMP_PRECISION_NANO
								 : PCAP_TSTAMP_PRECISION_MICRO);
	if (!cap->pcap) {
		tool_msg("cannot write '%.*s%s': libpcap: out of memory", TOOL_ECHO_ARGS(o->file));
		goto err_close;
	}
	/* Writes the file header; the dumper owns cap->f from here on. */
	cap->dumper = pcap_dump_fopen(cap->pcap, cap->f);
	if (!cap->dumper) {
		tool_msg("cannot write '%.*s%s': %s", TOOL_ECHO_ARGS(o->file),
			 pcap_geterr(cap->pcap));
		goto err_pcap;
	}
	return 0;

err_pcap:
	pcap_close(cap->pcap);
err_close:
	if (cap->f != stdout)
		fclose(cap->f);
	return TOOL_EXIT_FAIL;
}

/* Push buffered frames to the file: false once any write failed. */
static bool capture_flush(struct capture *cap)
{
	errno = 0;
	if (!cap->write_errno && (pcap_dump_flush(cap->dumper) || ferror(cap->f)))
		cap->write_errno = errno ? errno : EIO;
	return !cap->write_errno;
}

/* 0, or 1 if the file could not be completed. */
static int capture_close(struct capture *cap)
{
	bool ok = capture_flush(cap);

	pcap_dump_close(cap->dumper); /* fclose()s the stream */
	pcap_close(cap->pcap);
	if (!ok) {
		tool_msg("cannot write '%.*s%s': %s", TOOL_ECHO_ARGS(cap->name),
			 strerror(cap->write_errno));
		return TOOL_EXIT_FAIL;
	}
	return 0;
}

static void dump_burst(struct capture *cap, const struct opts *o, struct usnet_pkt **pkts,
		       uint16_t n)
{
	struct pcap_pkthdr h;
	struct timespec ts;

	/* One timestamp per burst: the frames arrived no later than now. */
	clock_gettime(CLOCK_REALTIME, &ts);
	h.ts.tv_sec = ts.tv_sec;
	/* With nanosecond precision the dumper takes tv_usec as nanoseconds
	 * (pcap_open_dead_with_tstamp_precision(3PCAP)). */
	h.ts.tv_usec = o->nano ? ts.tv_nsec : ts.tv_nsec / 1000;
	errno = 0;
	for (uint16_t i = 0; i < n; i++) {
		h.len = pkts[i]->len;
		h.caplen = h.len < o->snaplen ? h.len : o->snaplen;
		pcap_dump((u_char *)cap->dumper, &h, usnet_pkt_data(pkts[i]));
		cap->captured_bytes += h.caplen;
	}
	/* pcap_dump() reports nothing; the stream's error flag and errno do. */
	if (ferror(cap->f) && !cap->write_errno)
		cap->write_errno = errno ? errno : EIO;
}

static const char *capture_loop(const struct opts *o, struct usnet_port *port, struct capture *cap,
				struct tool_meter *meter, double *seconds)
{
	struct usnet_pkt *pkts[BURST];
	struct usnet_idle idle = {0};
	struct tool_run run;
	const char *stop;
	uint64_t now;

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	for (;;) {
		uint16_t want = BURST, n;

		if (o->std->count && o->std->count - meter->pkts < want)
			want = (uint16_t)(o->std->count - meter->pkts);
		n = usnet_rx_burst(port, 0, pkts, want);
		if (n) {
			dump_burst(cap, o, pkts, n);
			for (uint16_t i = 0; i < n; i++)
				meter->bytes += pkts[i]->len;
			meter->pkts += n;
			usnet_pkt_free_bulk(pkts, n);
		}
		now = usnet_now_ns();
		if (tool_run_line_due(&run, now)) {
			meter->drops = tool_port_rx_drops(port);
			tool_run_line(&run, now, meter, 1, NULL);
			if (!capture_flush(cap)) {
				stop = "error";
				break;
			}
		}
		if (cap->write_errno) {
			stop = "error";
			break;
		}
		if (o->std->count && meter->pkts >= o->std->count) {
			stop = "count";
			break;
		}
		if (tool_run_over(&run, now)) {
			stop = tool_stop ? "signal" : "time";
			break;
		}
		usnet_port_idle(port, 0, &idle, n, tool_run_timeout_ms(&run, now, 100));
	}
	meter->drops = tool_port_rx_drops(port);
	*seconds = tool_run_seconds(&run, now);
	return stop;
}

static void report(const struct opts *o, const struct capture *cap, const struct tool_meter *m,
		   double seconds, const char *stop)
{
	double pps = tool_rate(m->pkts, seconds), mbps = tool_rate(m->bytes, seconds) * 8e-6;

	if (o->std->json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		tool_json_str(&j, "tool", tool_name);
		tool_json_str(&j, "port", o->std->spec[0]);
		tool_json_str(&j, "file", o->file);
		tool_json_str(&j, "stop", stop);
		tool_json_f64(&j, "seconds", seconds, 6);
		tool_json_u64(&j, "packets", m->pkts);
		tool_json_u64(&j, "bytes", m->bytes);
		tool_json_u64(&j, "captured_bytes", cap->captured_bytes);
		tool_json_f64(&j, "pps", pps, 1);
		tool_json_f64(&j, "mbps", mbps, 3);
		tool_json_u64(&j, "drops", m->drops);
		tool_json_u64(&j, "snaplen", o->snaplen);
		tool_json_str(&j, "precision", o->nano ? "ns" : "us");
		tool_json_end(&j);
		return;
	}
	tool_msg("%llu frames (%llu bytes, %llu stored) written to '%s' in %.3f s: %.0f pps, "
		 "%.2f Mbit/s; port drops %llu (stopped: %s)",
		 (unsigned long long)m->pkts, (unsigned long long)m->bytes,
		 (unsigned long long)cap->captured_bytes, o->file, seconds, pps, mbps,
		 (unsigned long long)m->drops, stop);
}

/* The file is reserved before the port is opened (capture_reserve()). The
 * option hooks get a struct run as the struct opts it starts with. */
struct run {
	struct opts o; /* first */
	struct capture cap;
};

static int open_all(void *ctx, struct tool_std *std)
{
	struct run *r = ctx;
	int status = capture_reserve(&r->cap, &r->o);

	if (status)
		return status;
	status = tool_open_ports(std);
	if (status)
		capture_abandon(&r->cap);
	return status;
}

static int run(void *ctx, struct tool_std *std)
{
	struct tool_meter meter = {.label = "rx"};
	struct run *r = ctx;
	const char *stop;
	double seconds;
	int status;

	status = capture_open(&r->cap, &r->o);
	if (status)
		return status;
	if (!std->quiet)
		tool_msg("capturing on '%s' to '%s'", std->spec[0], r->o.file);
	stop = capture_loop(&r->o, std->port[0], &r->cap, &meter, &seconds);
	tool_close_ports(std);
	status = capture_close(&r->cap);
	report(&r->o, &r->cap, &meter, seconds, stop);
	return status;
}

static const struct tool_def capture = {
    .name = "usnet-capture",
    .std = TOOL_OPT_PORT | TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON,
    .ports = 1,
    .port_role = "the port to capture on",
    .help_head = help_head,
    .help_tail = help_tail,
    .short_opts = "w:s:",
    .long_opts = long_opts,
    .opt = own_opt,
    .check = check,
    .open = open_all,
    .run = run,
};

int main(int argc, char **argv)
{
	struct run r = {.o = {.snaplen = MAX_SNAPLEN}};

	return tool_main(&capture, &r, argc, argv);
}
