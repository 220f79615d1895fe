/* SPDX-License-Identifier: MIT */
/*
 * usnet-echo: a minimal host on a port. It answers ARP requests for its
 * IPv4 address, ICMP echo requests and (with -u) UDP echo, in place: each
 * reply is the received buffer rewritten (tools/echo_proto.c) and handed
 * back to the same port, so nothing is copied or allocated per frame.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common.h"
#include "echo_proto.h"

#define BURST 32
/* How long one burst of replies may wait for a full TX queue before the rest is dropped. */
#define TX_RETRY_NS 100000ull

static const char help_head[] =
    "NAME\n"
    "       usnet-echo - answer ARP, ping and UDP echo for an IPv4 address on a port\n"
    "\n"
    "SYNOPSIS\n"
    "       usnet-echo -p SPEC --ip ADDR [--mac MAC] [-u] [-n COUNT] [-t SECONDS] [-q]\n"
    "                  [--json]\n"
    "\n"
    "DESCRIPTION\n"
    "       Makes port SPEC look like a host with IPv4 address ADDR, enough to be\n"
    "       pinged. It answers:\n"
    "\n"
    "         ARP requests for ADDR (RFC 826), broadcast or sent to MAC, with an\n"
    "                    ARP reply giving MAC;\n"
    "         ICMP echo requests to ADDR (RFC 792) with an echo reply carrying the\n"
    "                    request's identifier, sequence number and data;\n"
    "         UDP datagrams to ADDR port 7, with -u (RFC 862), with the same data\n"
    "                    sent back from port 7.\n"
    "\n"
    "       Replies are made in place: the received buffer is rewritten (addresses\n"
    "       swapped, TTL 64, checksums recomputed) and sent back on the same port,\n"
    "       zero copy. Nothing else is answered, and there is no ARP cache: a reply\n"
    "       goes to the MAC address the request came from.\n"
    "\n"
    "       Every frame is counted once. Frames that are not for ADDR or MAC, other\n"
    "       protocols, ICMP other than echo requests, UDP to other ports, IPv4\n"
    "       fragments, datagrams with IP options (their echo reply would need the\n"
    "       options processed, RFC 1122 3.2.2.6), and requests from a group MAC\n"
    "       address or from a source IPv4 address that is not a single host count\n"
    "       as ignored. Frames that claim to be ARP or IPv4 but whose lengths do not\n"
    "       add up, whose IPv4, ICMP or UDP checksum is wrong, or that are shorter\n"
    "       than an Ethernet header count as malformed. Neither is an error. Every\n"
    "       length is checked before the bytes it covers are read.\n"
    "\n"
    "       When the port's TX queue is full, the rest of a burst of replies is\n"
    "       retried for up to 100 microseconds, then dropped and counted as tx drops.\n"
    "       When idle, echo sleeps in the port's wait instead of spinning. It stops\n"
    "       after COUNT echo replies, after SECONDS, or on SIGINT/SIGTERM.\n"
    "\n"
    "OPTIONS\n"
    "       -p, --port SPEC\n"
    "              Port to answer on (required). See PORT KINDS.\n"
    "       --ip ADDR\n"
    "              The IPv4 address to answer for (required): a unicast address, not\n"
    "              in 0.0.0.0/8, 127.0.0.0/8 or 224.0.0.0/3.\n"
    "       --mac MAC\n"
    "              The MAC address to answer as, in ARP replies and as the source of\n"
    "              every reply. When given, the port is opened promiscuous so that\n"
    "              frames sent to MAC arrive. Default: the port's own MAC.\n"
    "       -u, --udp\n"
    "              Also answer UDP echo (port 7). Default: off.\n"
    "       -n, --count COUNT\n"
    "              Stop after sending COUNT echo replies, ICMP and UDP together (ARP\n"
    "              replies do not count). 0: no limit. Default: 0.\n" TOOL_HELP_TIME
	TOOL_HELP_QUIET_JSON_HELP TOOL_HELP_NUMBERS;

static const char help_tail[] =
    "\n"
    "OUTPUT\n"
    "       A startup line once the port is open: \"usnet-echo: answering for ADDR as\n"
    "       MAC on 'SPEC'\". Once per second on stderr: elapsed time, frames received\n"
    "       (rx) and replies sent (tx, drops: tx drops) in pps and Mbit/s, totals,\n"
    "       and the per-protocol counters. JSON fields: tool, port, ip, mac, stop\n"
    "       (count, time, signal), seconds, frames, bytes, arp_requests, arp_replies,\n"
    "       icmp_requests, icmp_replies, udp_requests, udp_replies, ignored,\n"
    "       malformed, tx_drops, port_drops (the port's rx_dropped + rx_nobuf).\n"
    "       A request counts when it is answered; its reply when the port took it.\n"
    "\n"
    "EXAMPLES\n"
    "       usnet-echo -p tap:usnet0 --ip 198.18.0.2\n"
    "           (then: ip addr add 198.18.0.1/24 dev usnet0; ping 198.18.0.2)\n"
    "       usnet-echo -p pci:0000:00:03.0 --ip 198.18.1.2 -u -n 20 -t 60 --json\n"
    "       usnet-echo -p afpacket:veth1 --ip 198.18.0.2 --mac 02:00:00:00:00:02\n";

enum {
	OPT_IP = 256,
	OPT_MAC,
};

static const struct option long_opts[] = {
    {"ip", required_argument, NULL, OPT_IP},
    {"mac", required_argument, NULL, OPT_MAC},
    {"udp", no_argument, NULL, 'u'},
    {NULL, 0, NULL, 0}, /* end of table (getopt_long(3)) */
};

struct opts {
	const struct tool_std *std;
	char ip_str[16]; /* --ip, as dotted quad */
	struct echo_conf conf;
	bool ip_set, mac_set;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct opts *o = ctx;

	switch (c) {
	case OPT_IP:
		o->conf.ip = tool_arg_ipv4("--ip", arg);
		if (!echo_ip_unicast(o->conf.ip))
			tool_usage_error("invalid --ip '%s': not a unicast host address", arg);
		o->ip_set = true;
		break;
	case OPT_MAC:
		tool_arg_mac("--mac", arg, o->conf.mac);
		/* IEEE 802 I/G bit: a group address cannot be a host's. */
		if (o->conf.mac[0] & 1)
			tool_usage_error("invalid --mac '%s': a group (multicast) address", arg);
		o->mac_set = true;
		break;
	case 'u':
		o->conf.udp = true;
		break;
	}
}

static void check(void *ctx, struct tool_std *std)
{
	struct opts *o = ctx;

	o->std = std;
	if (!o->ip_set)
		tool_usage_error("missing --ip ADDR: the IPv4 address to answer for");
	snprintf(o->ip_str, sizeof(o->ip_str), "%u.%u.%u.%u", o->conf.ip >> 24,
		 (o->conf.ip >> 16) & 0xff, (o->conf.ip >> 8) & 0xff, o->conf.ip & 0xff);
	/* Frames for a MAC other than the port's reach us only in promiscuous mode. */
	std->port_conf.promisc = o->mac_set;
}

struct counts {
	uint64_t verdict[ECHO_NVERDICTS]; /* requests answered, by kind; ignored; malformed */
	uint64_t sent[ECHO_NVERDICTS];	  /* replies the port took, by kind */
	uint64_t tx_drops, port_drops;
	double seconds;
	const char *stop;
};

static uint64_t echoes_sent(const struct counts *c)
{
	return c->sent[ECHO_ICMP] + c->sent[ECHO_UDP];
}

static void counters(const struct counts *c, char *buf, size_t size)
{
	snprintf(buf, size,
		 "arp %llu/%llu, icmp echo %llu/%llu, udp echo %llu/%llu (requests/replies), "
		 "ignored %llu, malformed %llu",
		 (unsigned long long)c->verdict[ECHO_ARP], (unsigned long long)c->sent[ECHO_ARP],
		 (unsigned long long)c->verdict[ECHO_ICMP], (unsigned long long)c->sent[ECHO_ICMP],
		 (unsigned long long)c->verdict[ECHO_UDP], (unsigned long long)c->sent[ECHO_UDP],
		 (unsigned long long)c->verdict[ECHO_IGNORED],
		 (unsigned long long)c->verdict[ECHO_MALFORMED]);
}

/*
 * Send the replies back; what the port still refuses after TX_RETRY_NS is
 * freed and counted. kind[i] says what reply pkts[i] is.
 */
static void send_replies(struct usnet_port *port, struct usnet_pkt **pkts,
			 const enum echo_verdict *kind, uint16_t n, struct counts *c,
			 struct tool_meter *tx)
{
	uint16_t sent = tool_tx_retry(port, pkts, n, TX_RETRY_NS);

	for (uint16_t i = 0; i < n; i++) {
		if (i < sent) {
			c->sent[kind[i]]++;
			tx->pkts++;
			tx->bytes += pkts[i]->len;
		} else {
			c->tx_drops++;
		}
	}
	tx->drops = c->tx_drops;
	if (sent < n)
		usnet_pkt_free_bulk(pkts + sent, (uint32_t)(n - sent));
}

static void answer_loop(const struct opts *o, struct usnet_port *port, struct counts *c,
			struct tool_meter m[2])
{
	struct usnet_pkt *pkts[BURST], *replies[BURST], *drop[BURST];
	enum echo_verdict kind[BURST];
	struct usnet_idle idle = {0};
	struct tool_run run;
	uint64_t now;

	tool_run_start(&run, o->std->duration_ns, o->std->quiet);
	for (;;) {
		uint16_t n = usnet_rx_burst(port, 0, pkts, BURST), nrep = 0, ndrop = 0;

		for (uint16_t i = 0; i < n; i++) {
			enum echo_verdict v =
			    echo_frame(&o->conf, usnet_pkt_data(pkts[i]), pkts[i]->len);

			m[0].pkts++;
			m[0].bytes += pkts[i]->len;
			c->verdict[v]++;
			if (v == ECHO_IGNORED || v == ECHO_MALFORMED) {
				drop[ndrop++] = pkts[i];
			} else {
				kind[nrep] = v;
				replies[nrep++] = pkts[i];
			}
		}
		usnet_pkt_free_bulk(drop, ndrop);
		if (nrep)
			send_replies(port, replies, kind, nrep, c, &m[1]);
		now = usnet_now_ns();
		if (tool_run_line_due(&run, now)) {
			char extra[256];

			counters(c, extra, sizeof(extra));
			tool_run_line(&run, now, m, 2, extra);
		}
		if (o->std->count && echoes_sent(c) >= o->std->count) {
			c->stop = "count";
			break;
		}
		if (tool_run_over(&run, now)) {
			c->stop = tool_stop ? "signal" : "time";
			break;
		}
		/* -EINTR means a signal: tool_stop is checked above on the next turn. */
		usnet_port_idle(port, 0, &idle, n, tool_run_timeout_ms(&run, now, 100));
	}
	c->seconds = tool_run_seconds(&run, now);
	c->port_drops = tool_port_rx_drops(port);
}

static void report(const struct opts *o, const struct counts *c, const struct tool_meter *rx,
		   const char *mac)
{
	char line[256];

	if (o->std->json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		tool_json_str(&j, "tool", tool_name);
		tool_json_str(&j, "port", o->std->spec[0]);
		tool_json_str(&j, "ip", o->ip_str);
		tool_json_str(&j, "mac", mac);
		tool_json_str(&j, "stop", c->stop);
		tool_json_f64(&j, "seconds", c->seconds, 6);
		tool_json_u64(&j, "frames", rx->pkts);
		tool_json_u64(&j, "bytes", rx->bytes);
		tool_json_u64(&j, "arp_requests", c->verdict[ECHO_ARP]);
		tool_json_u64(&j, "arp_replies", c->sent[ECHO_ARP]);
		tool_json_u64(&j, "icmp_requests", c->verdict[ECHO_ICMP]);
		tool_json_u64(&j, "icmp_replies", c->sent[ECHO_ICMP]);
		tool_json_u64(&j, "udp_requests", c->verdict[ECHO_UDP]);
		tool_json_u64(&j, "udp_replies", c->sent[ECHO_UDP]);
		tool_json_u64(&j, "ignored", c->verdict[ECHO_IGNORED]);
		tool_json_u64(&j, "malformed", c->verdict[ECHO_MALFORMED]);
		tool_json_u64(&j, "tx_drops", c->tx_drops);
		tool_json_u64(&j, "port_drops", c->port_drops);
		tool_json_end(&j);
		return;
	}
	counters(c, line, sizeof(line));
	tool_msg("%llu frames, %llu bytes in %.3f s; %s; tx drops %llu, port drops %llu "
		 "(stopped: %s)",
		 (unsigned long long)rx->pkts, (unsigned long long)rx->bytes, c->seconds, line,
		 (unsigned long long)c->tx_drops, (unsigned long long)c->port_drops, c->stop);
}

static int run(void *ctx, struct tool_std *std)
{
	struct tool_meter m[2] = {{.label = "rx"}, {.label = "tx"}};
	struct counts c = {0};
	struct opts *o = ctx;
	const uint8_t *mac;
	char mac_str[18];

	if (!o->mac_set)
		memcpy(o->conf.mac, usnet_port_info(std->port[0])->mac, 6);
	mac = o->conf.mac;
	snprintf(mac_str, sizeof(mac_str), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
		 mac[3], mac[4], mac[5]);
	if (!std->quiet)
		tool_msg("answering for %s as %s on '%s'", o->ip_str, mac_str, std->spec[0]);
	answer_loop(o, std->port[0], &c, m);
	report(o, &c, &m[0], mac_str);
	return TOOL_EXIT_OK;
}

static const struct tool_def echo = {
    .name = "usnet-echo",
    .std = TOOL_OPT_PORT | TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_QUIET | TOOL_OPT_JSON,
    .ports = 1,
    .port_role = "the port to answer on",
    .help_head = help_head,
    .help_tail = help_tail,
    .short_opts = "u",
    .long_opts = long_opts,
    .opt = own_opt,
    .check = check,
    .run = run,
};

int main(int argc, char **argv)
{
	struct opts o = {0};

	return tool_main(&echo, &o, argc, argv);
}
