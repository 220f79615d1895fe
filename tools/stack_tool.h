/* SPDX-License-Identifier: MIT */
/*
 * What the stack tools (usnet-ping, usnet-udpecho, usnet-udpperf) share on
 * top of common.h (whose tool_main() they run on, with TOOL_OPT_PORT): the
 * options that make a host of the port (--ip ADDR[/PREFIX], --gw, --mac,
 * --mtu), opening the port and the stack from
 * them, the adaptive wait, and the stack's counters on the per-second
 * line and in the JSON summary.
 */
#ifndef USNET_TOOLS_STACK_TOOL_H
#define USNET_TOOLS_STACK_TOOL_H

#include <getopt.h>

#include <usnet/stack.h>

#include "common.h"

/* getopt_long() codes of the host options; a tool's own start at TOOL_HOST_OPT_END. */
enum {
	TOOL_HOST_OPT_IP = 300,
	TOOL_HOST_OPT_GW,
	TOOL_HOST_OPT_MAC,
	TOOL_HOST_OPT_MTU,
	TOOL_HOST_OPT_END,
};

/* The long options of the host, to put first in a tool's table (-p is
 * common.h's TOOL_OPT_PORT). */
#define TOOL_HOST_LONG_OPTS                                                                        \
	{"ip", required_argument, NULL, TOOL_HOST_OPT_IP},                                         \
	    {"gw", required_argument, NULL, TOOL_HOST_OPT_GW},                                     \
	    {"mac", required_argument, NULL, TOOL_HOST_OPT_MAC},                                   \
	{                                                                                          \
		"mtu", required_argument, NULL, TOOL_HOST_OPT_MTU                                  \
	}

/* The help text of those options. */
#define TOOL_HOST_HELP                                                                             \
	"       -p, --port SPEC\n"                                                                 \
	"              The port the host is on (required). See PORT KINDS.\n"                      \
	"       --ip ADDR[/PREFIX]\n"                                                              \
	"              The host's IPv4 address and the length of its subnet's prefix\n"            \
	"              (required; PREFIX 1-31, default 24).\n"                                     \
	"       --gw ADDR\n"                                                                       \
	"              The default gateway, in the subnet. Default: none (only the\n"              \
	"              subnet is reachable).\n"                                                    \
	"       --mac MAC\n"                                                                       \
	"              The host's MAC address. The port is then opened promiscuous so\n"           \
	"              that frames to MAC arrive. Default: the port's own MAC (a memif:\n"         \
	"              port behind usnetd needs the client's MAC here).\n"                         \
	"       --mtu BYTES\n"                                                                     \
	"              The largest IPv4 datagram sent unfragmented, 576 up to the port's\n"        \
	"              MTU. Default: the port's MTU.\n"

struct tool_host_opts {
	const char *spec; /* -p: tool_std's spec[0] */
	uint32_t ip, gw;
	uint8_t prefix_len;
	uint8_t mac[6];
	uint16_t mtu;
	bool ip_set, mac_set;
	char ip_str[16];
};

/*
 * Handle getopt_long()'s c if it is a host option (TOOL_HOST_OPT_*): true
 * if it was. Bad values exit 2 (tool_usage_error()).
 */
bool tool_host_opt(struct tool_host_opts *h, int c, const char *arg);
/* After parsing, from a tool_def's check hook: take -p's spec from std;
 * --ip given, the gateway in the subnet; else exit 2. */
void tool_host_check(struct tool_host_opts *h, const struct tool_std *std);

struct tool_host {
	struct usnet_port *port;
	struct usnet_stack *stack;
	char mac_str[18];
};

/*
 * Open the port and a stack with one interface from h; stack_conf may be
 * NULL. 0, or the exit status after a message (2: the library rejected a
 * value, 1: anything else).
 */
int tool_host_open(struct tool_host *host, const struct tool_host_opts *h,
		   const struct usnet_stack_conf *stack_conf);
/* Destroy the stack, then close the port. */
void tool_host_close(struct tool_host *host);

/*
 * The host a stack tool runs on: its options, the stack's configuration
 * (all zero: the defaults; a tool's check hook may set fields) and, once
 * open, its port and stack. A stack tool's ctx starts with one, so that
 * these tool_def hooks serve every stack tool: .open (tool_host_open()
 * with conf) and .close (tool_host_close()).
 */
struct tool_host_run {
	struct tool_host_opts opts;
	struct usnet_stack_conf conf;
	struct tool_host host;
};
int tool_host_run_open(void *ctx, struct tool_std *std);
void tool_host_run_close(void *ctx, struct tool_std *std);

/* conf's tcp_sockets: room for conns connections, a listener and some
 * closing (left at the default when that holds them). */
void tool_host_tcp_room(struct usnet_stack_conf *conf, uint32_t conns);

/*
 * The tool_def fields every stack tool shares: one -p port (role: its
 * "missing -p SPEC: ..." words), the tool's std options besides
 * TOOL_OPT_PORT, and the hooks by their names in the tool's file: help_head,
 * help_tail, long_opts, own_opt, check, run; .open and .close are
 * tool_host_run's. A tool adds .short_opts, .args.
 */
#define TOOL_HOST_DEF(tool, role, std_opts)                                                        \
	.name = (tool), .std = TOOL_OPT_PORT | (std_opts), .ports = 1, .port_role = (role),        \
	.help_head = help_head, .help_tail = help_tail, .long_opts = long_opts, .opt = own_opt,    \
	.check = check, .open = tool_host_run_open, .run = run, .close = tool_host_run_close

/*
 * Adaptive wait: call once per loop with the frames the loop handled. After
 * `spin` empty rounds it sleeps in usnet_stack_wait() for up to timeout_ms;
 * spin UINT32_MAX never sleeps (busy polling).
 */
struct tool_host_idle {
	uint32_t spin;
	uint32_t empty;
};
void tool_host_idle(struct tool_host *host, struct tool_host_idle *idle, unsigned handled,
		    int timeout_ms);

/* "NAME value, ..." for the stack's non-zero "drop:" counters, for the per-second line. */
void tool_host_drops_line(struct tool_host *host, char *buf, size_t size);

/*
 * Into an open JSON object: "stack": {every counter by name}, and
 * "port_stats": {rx_packets, rx_dropped, rx_nobuf, rx_errors, rx_gso_frames,
 * rx_gso_dropped, tx_packets, tx_full, tx_errors} of queue 0.
 */
void tool_host_json(struct tool_json *j, struct tool_host *host);

/* Begin a JSON summary on stdout with "tool", "port", "ip" and, if mac,
 * "mac" (open: the host's MAC). */
void tool_host_json_begin(struct tool_json *j, const struct tool_host_run *hr, bool mac);

/* ADDR:PORT, host order: 0 or exit 2 naming opt. */
void tool_arg_addr_port(const char *opt, const char *arg, uint32_t *ip, uint16_t *port);

/* "a.b.c.d" of a host-order address; buf has 16 bytes. */
const char *tool_ip_str(uint32_t ip, char buf[16]);

/*
 * Percentile p (0..100] of n samples sorted ascending (tool_sort_u64()):
 * the sample at rank ceil(p/100 * n), the nearest-rank method; 0 if n is 0.
 */
uint64_t tool_percentile(const uint64_t *v, size_t n, double p);
void tool_sort_u64(uint64_t *v, size_t n);

#endif
