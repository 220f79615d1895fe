/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <usnet/log.h>

#include "stack_tool.h"

const char *tool_ip_str(uint32_t ip, char buf[16])
{
	snprintf(buf, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
	return buf;
}

/* ADDR or ADDR/PREFIX. */
static void arg_ip_prefix(struct tool_host_opts *h, const char *arg)
{
	const char *slash = strchr(arg, '/');
	char addr[32];

	h->prefix_len = 24;
	if (slash) {
		if ((size_t)(slash - arg) >= sizeof(addr))
			tool_usage_error("invalid --ip '%s': not an IPv4 address like 198.18.0.1",
					 arg);
		memcpy(addr, arg, (size_t)(slash - arg));
		addr[slash - arg] = '\0';
		h->prefix_len = (uint8_t)tool_arg_u64("--ip prefix", slash + 1, 1, 31);
	} else {
		snprintf(addr, sizeof(addr), "%s", arg);
	}
	h->ip = tool_arg_ipv4("--ip", addr);
	h->ip_set = true;
}

bool tool_host_opt(struct tool_host_opts *h, int c, const char *arg)
{
	switch (c) {
	case TOOL_HOST_OPT_IP:
		arg_ip_prefix(h, arg);
		return true;
	case TOOL_HOST_OPT_GW:
		h->gw = tool_arg_ipv4("--gw", arg);
		return true;
	case TOOL_HOST_OPT_MAC:
		tool_arg_mac("--mac", arg, h->mac);
		/* IEEE 802 I/G bit: a group address cannot be a host's. */
		if (h->mac[0] & 1)
			tool_usage_error("invalid --mac '%s': a group (multicast) address", arg);
		h->mac_set = true;
		return true;
	case TOOL_HOST_OPT_MTU:
		h->mtu = (uint16_t)tool_arg_u64("--mtu", arg, 576, 65535);
		return true;
	}
	return false;
}

void tool_host_check(struct tool_host_opts *h, const struct tool_std *std)
{
	uint32_t mask;

	h->spec = std->spec[0];
	if (!h->ip_set)
		tool_usage_error("missing --ip ADDR[/PREFIX]: the host's address");
	mask = ~0u << (32 - h->prefix_len);
	if (h->gw && ((h->gw ^ h->ip) & mask))
		tool_usage_error("invalid --gw: not in the subnet of --ip (/%u)", h->prefix_len);
	tool_ip_str(h->ip, h->ip_str);
}

/*
 * Wait up to LINK_WAIT_MS for the link (a memif: client is down until its
 * handshake with the server is done): what the stack sends before, its
 * gratuitous ARP and first ARP requests, would be refused by the port.
 */
#define LINK_WAIT_MS 5000

static void wait_link(struct usnet_port *port, const char *spec)
{
	struct usnet_link link = {0};

	for (int ms = 0; ms < LINK_WAIT_MS && !tool_stop; ms++) {
		if (usnet_port_link(port, &link) || link.up)
			return;
		usleep(1000);
	}
	tool_msg("warning: the link of '%s' is still down after %d s; going on", spec,
		 LINK_WAIT_MS / 1000);
}

int tool_host_open(struct tool_host *host, const struct tool_host_opts *h,
		   const struct usnet_stack_conf *stack_conf)
{
	struct usnet_port_conf pconf = {.promisc = h->mac_set};
	struct usnet_iface_conf ic = {
	    .queue = 0,
	    .addr = h->ip,
	    .prefix_len = h->prefix_len,
	    .gateway = h->gw,
	    .mtu = h->mtu,
	};
	const uint8_t *mac;
	int err, status;

	memset(host, 0, sizeof(*host));
	status = tool_open_port(&host->port, h->spec, &pconf);
	if (status)
		return status;
	err = usnet_stack_create(&host->stack, stack_conf);
	if (err) {
		tool_msg("cannot create the stack: %s",
			 *usnet_last_error() ? usnet_last_error() : strerror(-err));
		usnet_port_close(host->port);
		return TOOL_EXIT_FAIL;
	}
	wait_link(host->port, h->spec);
	ic.port = host->port;
	if (h->mac_set)
		memcpy(ic.mac, h->mac, 6);
	err = usnet_stack_add_iface(host->stack, &ic);
	if (err < 0) {
		tool_msg("cannot add %s/%u on '%s': %s", h->ip_str, h->prefix_len, h->spec,
			 *usnet_last_error() ? usnet_last_error() : strerror(-err));
		tool_host_close(host);
		return err == -EINVAL ? TOOL_EXIT_USAGE : TOOL_EXIT_FAIL;
	}
	mac = h->mac_set ? h->mac : usnet_port_info(host->port)->mac;
	snprintf(host->mac_str, sizeof(host->mac_str), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0],
		 mac[1], mac[2], mac[3], mac[4], mac[5]);
	return 0;
}

void tool_host_close(struct tool_host *host)
{
	if (host->stack)
		usnet_stack_destroy(host->stack);
	if (host->port)
		usnet_port_close(host->port);
	host->stack = NULL;
	host->port = NULL;
}

int tool_host_run_open(void *ctx, struct tool_std *std)
{
	struct tool_host_run *hr = ctx;

	(void)std;
	return tool_host_open(&hr->host, &hr->opts, &hr->conf);
}

void tool_host_tcp_room(struct usnet_stack_conf *conf, uint32_t conns)
{
	if (conns + 1024 > 16384)
		conf->tcp_sockets = conns + 1024;
}

void tool_host_run_close(void *ctx, struct tool_std *std)
{
	(void)std;
	tool_host_close(&((struct tool_host_run *)ctx)->host);
}

void tool_host_idle(struct tool_host *host, struct tool_host_idle *idle, unsigned handled,
		    int timeout_ms)
{
	if (handled || idle->spin == UINT32_MAX) {
		idle->empty = 0;
		return;
	}
	if (++idle->empty < (idle->spin ? idle->spin : 256))
		return;
	idle->empty = 0;
	/* -EINTR is a signal: the caller checks tool_stop next. */
	(void)usnet_stack_wait(host->stack, timeout_ms);
}

/* The counters of frames dropped as malformed or unwanted: their description says "drop:". */
static bool is_drop(unsigned i)
{
	const char *d = usnet_stack_counter_desc(i);

	return d && !strncmp(d, "drop:", 5);
}

void tool_host_drops_line(struct tool_host *host, char *buf, size_t size)
{
	struct usnet_stack_counters c;
	size_t len = 0;

	usnet_stack_counters(host->stack, &c);
	buf[0] = '\0';
	for (unsigned i = 0; i < usnet_stack_counter_count() && len + 1 < size; i++) {
		uint64_t v = usnet_stack_counter_value(&c, i);
		int k;

		if (!v || !is_drop(i))
			continue;
		k = snprintf(buf + len, size - len, "%s%s %llu", len ? ", " : "",
			     usnet_stack_counter_name(i), (unsigned long long)v);
		if (k < 0)
			break;
		len += (size_t)k;
	}
	if (!len)
		snprintf(buf, size, "no stack drops");
}

void tool_host_json(struct tool_json *j, struct tool_host *host)
{
	struct usnet_stack_counters c;
	struct usnet_queue_stats st;

	usnet_stack_counters(host->stack, &c);
	tool_json_open(j, "stack", '{');
	for (unsigned i = 0; i < usnet_stack_counter_count(); i++)
		tool_json_u64(j, usnet_stack_counter_name(i), usnet_stack_counter_value(&c, i));
	tool_json_close(j, '}');
	memset(&st, 0, sizeof(st));
	usnet_port_stats(host->port, 0, &st);
	tool_json_open(j, "port_stats", '{');
	tool_json_u64(j, "rx_packets", st.rx_packets);
	tool_json_u64(j, "rx_dropped", st.rx_dropped);
	tool_json_u64(j, "rx_nobuf", st.rx_nobuf);
	tool_json_u64(j, "rx_errors", st.rx_errors);
	tool_json_u64(j, "rx_gso_frames", st.rx_gso_frames);
	tool_json_u64(j, "rx_gso_dropped", st.rx_gso_dropped);
	tool_json_u64(j, "tx_packets", st.tx_packets);
	tool_json_u64(j, "tx_full", st.tx_full);
	tool_json_u64(j, "tx_errors", st.tx_errors);
	tool_json_close(j, '}');
}

void tool_host_json_begin(struct tool_json *j, const struct tool_host_run *hr, bool mac)
{
	tool_json_begin(j, stdout);
	tool_json_str(j, "tool", tool_name);
	tool_json_str(j, "port", hr->opts.spec);
	tool_json_str(j, "ip", hr->opts.ip_str);
	if (mac)
		tool_json_str(j, "mac", hr->host.mac_str);
}

void tool_arg_addr_port(const char *opt, const char *arg, uint32_t *ip, uint16_t *port)
{
	const char *colon = strrchr(arg, ':'), *why;
	char addr[32];
	uint64_t p;

	if (!colon || (size_t)(colon - arg) >= sizeof(addr))
		tool_usage_error("invalid %s '%s': not ADDR:PORT like 198.18.0.1:7", opt, arg);
	memcpy(addr, arg, (size_t)(colon - arg));
	addr[colon - arg] = '\0';
	*ip = tool_arg_ipv4(opt, addr);
	if (tool_parse_u64(colon + 1, 1, 65535, &p, &why))
		tool_usage_error("invalid %s '%s': port %s", opt, arg, why);
	*port = (uint16_t)p;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

void tool_sort_u64(uint64_t *v, size_t n)
{
	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_u64);
}

uint64_t tool_percentile(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (!n)
		return 0;
	rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1];
}
