/* SPDX-License-Identifier: MIT */
/*
 * usnetctl clients|uplinks|stats: ask a running usnetd over its control
 * socket (daemon/ctl_proto.h) and print the answer as a table or as one
 * JSON object.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "../daemon/ctl_proto.h"
#include "common.h"
#include "usnetctl_usnetd.h"

#define RECV_TIMEOUT_S 5

struct list {
	uint8_t *recs; /* total records of size `size` */
	uint32_t n;
	size_t size;
};

static int ctl_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = RECV_TIMEOUT_S};
	size_t n = strlen(path);
	int fd;

	if (!n || n >= sizeof(sa.sun_path)) {
		tool_msg("control socket path '%.*s%s' is empty or longer than %zu characters",
			 TOOL_ECHO_ARGS(path), sizeof(sa.sun_path) - 1);
		return -1;
	}
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		tool_msg("socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'))) <
	    0) {
		tool_msg("cannot connect to usnetd at %s: %s (is usnetd running? --socket PATH)",
			 path, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Fetch a whole list, page by page. 0 or -1 (reported). */
static int fetch(int fd, uint16_t cmd, size_t size, struct list *out)
{
	static uint8_t buf[USNETD_CTL_MAX_MSG];
	const struct usnetd_ctl_resp *h = (const void *)buf;
	uint32_t start = 0;

	memset(out, 0, sizeof(*out));
	out->size = size;
	do {
		struct usnetd_ctl_req req = {.magic = USNETD_CTL_MAGIC,
					     .version = USNETD_CTL_VERSION,
					     .cmd = cmd,
					     .start = start};
		ssize_t n;
		uint8_t *grown;

		if (send(fd, &req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
			int err = errno;

			/* usnetd answers a peer it refuses at once and hangs up: the
			 * refusal may be waiting for us. */
			n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (n < (ssize_t)sizeof(*h)) {
				tool_msg("control socket: send: %s", strerror(err));
				return -1;
			}
		} else {
			n = recv(fd, buf, sizeof(buf), 0);
		}
		if (n < 0) {
			tool_msg("control socket: no answer: %s", strerror(errno));
			return -1;
		}
		if (n < (ssize_t)sizeof(*h) || h->magic != USNETD_CTL_MAGIC ||
		    h->version != USNETD_CTL_VERSION) {
			tool_msg("control socket: %s",
				 n ? "not an answer from a usnetd of this version (--socket "
				     "names the control socket, e.g. /run/usnet/usnetd.ctl, not "
				     "the memif one)"
				   : "usnetd hung up");
			return -1;
		}
		if (h->status) {
			tool_msg("usnetd refused the request: %s%s", strerror(-h->status),
				 h->status == -EACCES ? " (only root and usnetd's own user may ask)"
						      : "");
			return -1;
		}
		if ((size_t)n != sizeof(*h) + (size_t)h->count * size || h->cmd != cmd ||
		    out->n + h->count > h->total) {
			tool_msg("control socket: malformed answer");
			return -1;
		}
		grown = realloc(out->recs, (out->n + h->count) * size + 1);
		if (!grown) {
			tool_msg("out of memory");
			return -1;
		}
		out->recs = grown;
		memcpy(out->recs + out->n * size, buf + sizeof(*h), h->count * size);
		out->n += h->count;
		if (h->next != USNETD_CTL_END && h->next <= start) {
			tool_msg("control socket: paging went backwards");
			return -1;
		}
		start = h->next;
	} while (start != USNETD_CTL_END);
	return 0;
}

static void fmt_mac(char *buf, size_t len, const uint8_t *m)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* Copy a string field that should be NUL-terminated, forcing it to be. */
#define FIELD(dst, src)                                                                            \
	do {                                                                                       \
		memcpy(dst, src, sizeof(src));                                                     \
		dst[sizeof(src)] = '\0';                                                           \
	} while (0)

/* ---- JSON ---- */

static void json_info(struct tool_json *j, const struct usnetd_ctl_info *r)
{
	char s[sizeof(r->socket) + 1];

	tool_json_open(j, "usnetd", '{');
	FIELD(s, r->version);
	tool_json_str(j, "version", s);
	FIELD(s, r->socket);
	tool_json_str(j, "socket", s);
	tool_json_u64(j, "pid", (uint64_t)r->pid);
	if (r->core >= 0)
		tool_json_u64(j, "core", (uint64_t)r->core);
	else
		tool_json_null(j, "core");
	tool_json_u64(j, "uplinks", r->uplinks);
	tool_json_u64(j, "interfaces", r->interfaces);
	tool_json_u64(j, "connected", r->connected);
	tool_json_u64(j, "pool_size", r->pool_size);
	tool_json_u64(j, "pool_free", r->pool_free);
	tool_json_u64(j, "spin_us", r->spin_us);
	tool_json_f64(j, "uptime_s", (double)r->uptime_ns / 1e9, 3);
	tool_json_f64(j, "busy_s", (double)r->busy_ns / 1e9, 3);
	tool_json_u64(j, "accepted", r->accepted);
	tool_json_u64(j, "refused", r->refused);
	tool_json_u64(j, "violations", r->violations);
	tool_json_u64(j, "loops", r->loops);
	tool_json_u64(j, "sleeps", r->sleeps);
	tool_json_close(j, '}');
}

static void json_uplink(struct tool_json *j, const struct usnetd_ctl_uplink *r)
{
	char s[sizeof(r->spec) + 1], mac[18];

	tool_json_open(j, NULL, '{');
	tool_json_u64(j, "index", r->index);
	FIELD(s, r->name);
	tool_json_str(j, "name", s);
	FIELD(s, r->spec);
	tool_json_str(j, "spec", s);
	fmt_mac(mac, sizeof(mac), r->mac);
	tool_json_str(j, "mac", mac);
	tool_json_bool(j, "link_up", r->link_up);
	tool_json_bool(j, "rx_polled", r->rx_polled);
	tool_json_u64(j, "rx_queues", r->rx_queues);
	tool_json_u64(j, "tx_queues", r->tx_queues);
	tool_json_u64(j, "rx_frames", r->rx_frames);
	tool_json_u64(j, "rx_bytes", r->rx_bytes);
	tool_json_u64(j, "rx_flooded", r->rx_flooded);
	tool_json_u64(j, "rx_filtered", r->rx_filtered);
	tool_json_u64(j, "tx_frames", r->tx_frames);
	tool_json_u64(j, "tx_bytes", r->tx_bytes);
	tool_json_u64(j, "tx_drops", r->tx_drops);
	tool_json_u64(j, "port_rx_dropped", r->port_rx_dropped);
	tool_json_u64(j, "port_rx_nobuf", r->port_rx_nobuf);
	tool_json_u64(j, "port_rx_errors", r->port_rx_errors);
	tool_json_u64(j, "port_tx_full", r->port_tx_full);
	tool_json_u64(j, "port_tx_errors", r->port_tx_errors);
	tool_json_close(j, '}');
}

static void json_client(struct tool_json *j, const struct usnetd_ctl_client *r)
{
	char s[sizeof(r->reason) + 1], mac[18];

	tool_json_open(j, NULL, '{');
	tool_json_u64(j, "id", r->id);
	FIELD(s, r->name);
	tool_json_str(j, "name", s);
	fmt_mac(mac, sizeof(mac), r->mac);
	tool_json_str(j, "mac", mac);
	tool_json_bool(j, "connected", r->connected);
	tool_json_bool(j, "allow_any_src_mac", r->any_src_mac);
	FIELD(s, r->uplink);
	tool_json_str(j, "uplink", s);
	if (r->pid > 0) {
		tool_json_u64(j, "pid", (uint64_t)r->pid);
		tool_json_u64(j, "uid", r->uid);
		tool_json_u64(j, "gid", r->gid);
	} else {
		tool_json_null(j, "pid");
		tool_json_null(j, "uid");
		tool_json_null(j, "gid");
	}
	FIELD(s, r->peer_name);
	tool_json_str(j, "peer_name", s);
	FIELD(s, r->peer_if);
	tool_json_str(j, "peer_if", s);
	tool_json_u64(j, "rx_queues", r->rx_queues);
	tool_json_u64(j, "tx_queues", r->tx_queues);
	tool_json_f64(j, "up_s", (double)r->up_ns / 1e9, 3);
	FIELD(s, r->reason);
	tool_json_str(j, "reason", s);
	tool_json_u64(j, "connects", r->connects);
	tool_json_u64(j, "violations", r->violations);
	tool_json_u64(j, "refused", r->refused);
	tool_json_u64(j, "rx_frames", r->rx_frames);
	tool_json_u64(j, "rx_bytes", r->rx_bytes);
	tool_json_u64(j, "tx_frames", r->tx_frames);
	tool_json_u64(j, "tx_bytes", r->tx_bytes);
	tool_json_u64(j, "tx_drops", r->tx_drops);
	tool_json_u64(j, "src_mac_drops", r->src_mac_drops);
	tool_json_u64(j, "rx_errors", r->rx_errors);
	tool_json_u64(j, "other_drops", r->other_drops);
	tool_json_close(j, '}');
}

/* ---- text ---- */

/* Interfaces worth a line without --all: connected, or something happened on them. */
static bool client_shown(const struct usnetd_ctl_client *r, bool all)
{
	return all || r->connected || r->connects || r->refused || r->violations;
}

static void text_uplinks(const struct list *l)
{
	printf("%-8s %-24s %-17s %-4s %-3s %10s %10s %10s %9s %9s %8s\n", "UPLINK", "SPEC", "MAC",
	       "LINK", "RX", "RX-FRAMES", "TX-FRAMES", "TX-DROPS", "FLOODED", "FILTERED",
	       "PORT-ERR");
	for (uint32_t i = 0; i < l->n; i++) {
		const struct usnetd_ctl_uplink *r = (const void *)(l->recs + i * l->size);
		char name[sizeof(r->name) + 1], spec[sizeof(r->spec) + 1], mac[18];

		FIELD(name, r->name);
		FIELD(spec, r->spec);
		fmt_mac(mac, sizeof(mac), r->mac);
		printf("%-8s %-24s %-17s %-4s %-3s %10llu %10llu %10llu %9llu %9llu %8llu\n", name,
		       spec, mac, r->link_up ? "up" : "down", r->rx_polled ? "on" : "off",
		       (unsigned long long)r->rx_frames, (unsigned long long)r->tx_frames,
		       (unsigned long long)r->tx_drops, (unsigned long long)r->rx_flooded,
		       (unsigned long long)r->rx_filtered,
		       (unsigned long long)(r->port_rx_dropped + r->port_rx_nobuf +
					    r->port_rx_errors + r->port_tx_errors));
	}
	if (!l->n)
		printf("(no uplinks)\n");
}

static void text_clients(const struct list *l, bool all)
{
	unsigned shown = 0;

	printf("%-6s %-10s %-5s %-7s %-6s %-6s %-17s %-6s %-16s %s\n", "ID", "NAME", "STATE", "PID",
	       "UID", "GID", "MAC", "QUEUES", "PEER", "UP/REASON");
	for (uint32_t i = 0; i < l->n; i++) {
		const struct usnetd_ctl_client *r = (const void *)(l->recs + i * l->size);
		char name[sizeof(r->name) + 1], peer[sizeof(r->peer_name) + 1];
		char why[sizeof(r->reason) + 1], mac[18], pid[16], uid[16], gid[16], qs[16];

		if (!client_shown(r, all))
			continue;
		shown++;
		FIELD(name, r->name);
		FIELD(peer, r->peer_name);
		FIELD(why, r->reason);
		fmt_mac(mac, sizeof(mac), r->mac);
		snprintf(pid, sizeof(pid), r->pid > 0 ? "%d" : "-", r->pid);
		snprintf(uid, sizeof(uid), r->pid > 0 ? "%u" : "-", r->uid);
		snprintf(gid, sizeof(gid), r->pid > 0 ? "%u" : "-", r->gid);
		snprintf(qs, sizeof(qs), r->connected ? "%u/%u" : "-", r->rx_queues, r->tx_queues);
		printf("%-6u %-10s %-5s %-7s %-6s %-6s %-17s %-6s %-16s ", r->id, name,
		       r->connected ? "up" : "down", pid, uid, gid, mac, qs, peer[0] ? peer : "-");
		if (r->connected)
			printf("%.1f s\n", (double)r->up_ns / 1e9);
		else
			printf("%s\n", why[0] ? why : "-");
	}
	if (!shown)
		printf("(no clients%s)\n", all ? "" : "; --all lists every served interface id");
}

static void text_stats(const struct usnetd_ctl_info *in, const struct list *up,
		       const struct list *cl, bool all)
{
	char ver[sizeof(in->version) + 1];
	double up_s = (double)in->uptime_ns / 1e9;

	FIELD(ver, in->version);
	printf("usnetd %s pid %d, up %.1f s, busy %.2f%%, %u interfaces (%u connected), %u "
	       "uplinks, pool %u/%u free\n",
	       ver, in->pid, up_s, up_s > 0 ? 100.0 * (double)in->busy_ns / 1e9 / up_s : 0.0,
	       in->interfaces, in->connected, in->uplinks, in->pool_free, in->pool_size);
	printf("connections: %llu accepted, %llu refused, %llu violations\n\n",
	       (unsigned long long)in->accepted, (unsigned long long)in->refused,
	       (unsigned long long)in->violations);
	printf("%-8s %12s %14s %12s %14s %10s %10s %10s\n", "UPLINK", "RX-FRAMES", "RX-BYTES",
	       "TX-FRAMES", "TX-BYTES", "TX-DROPS", "FILTERED", "PORT-ERR");
	for (uint32_t i = 0; i < up->n; i++) {
		const struct usnetd_ctl_uplink *r = (const void *)(up->recs + i * up->size);
		char name[sizeof(r->name) + 1];

		FIELD(name, r->name);
		printf("%-8s %12llu %14llu %12llu %14llu %10llu %10llu %10llu\n", name,
		       (unsigned long long)r->rx_frames, (unsigned long long)r->rx_bytes,
		       (unsigned long long)r->tx_frames, (unsigned long long)r->tx_bytes,
		       (unsigned long long)r->tx_drops, (unsigned long long)r->rx_filtered,
		       (unsigned long long)(r->port_rx_dropped + r->port_rx_nobuf +
					    r->port_rx_errors + r->port_tx_errors));
	}
	printf("\n%-8s %12s %14s %12s %14s %10s %9s %9s %7s %7s\n", "CLIENT", "RX-FRAMES",
	       "RX-BYTES", "TX-FRAMES", "TX-BYTES", "TX-DROPS", "SRC-DROPS", "RX-ERRORS", "INVALID",
	       "REFUSED");
	for (uint32_t i = 0; i < cl->n; i++) {
		const struct usnetd_ctl_client *r = (const void *)(cl->recs + i * cl->size);

		if (!client_shown(r, all) && !r->rx_frames && !r->tx_frames)
			continue;
		printf("%-8u %12llu %14llu %12llu %14llu %10llu %9llu %9llu %7llu %7llu\n", r->id,
		       (unsigned long long)r->rx_frames, (unsigned long long)r->rx_bytes,
		       (unsigned long long)r->tx_frames, (unsigned long long)r->tx_bytes,
		       (unsigned long long)r->tx_drops, (unsigned long long)r->src_mac_drops,
		       (unsigned long long)r->rx_errors, (unsigned long long)r->violations,
		       (unsigned long long)r->refused);
	}
}

int usnetctl_usnetd(const char *cmd, const char *sock, bool json, bool all)
{
	struct list info = {0}, up = {0}, cl = {0};
	bool stats = !strcmp(cmd, "stats");
	int fd = ctl_connect(sock), rc = TOOL_EXIT_FAIL;

	if (fd < 0)
		return TOOL_EXIT_FAIL;
	if ((stats && fetch(fd, USNETD_CTL_INFO, sizeof(struct usnetd_ctl_info), &info)) ||
	    ((stats || !strcmp(cmd, "uplinks")) &&
	     fetch(fd, USNETD_CTL_UPLINKS, sizeof(struct usnetd_ctl_uplink), &up)) ||
	    ((stats || !strcmp(cmd, "clients")) &&
	     fetch(fd, USNETD_CTL_CLIENTS, sizeof(struct usnetd_ctl_client), &cl)))
		goto out;
	if (stats && info.n != 1) {
		tool_msg("control socket: no daemon information in the answer");
		goto out;
	}
	if (json) {
		struct tool_json j;

		tool_json_begin(&j, stdout);
		if (stats)
			json_info(&j, (const void *)info.recs);
		if (stats || !strcmp(cmd, "uplinks")) {
			tool_json_open(&j, "uplinks", '[');
			for (uint32_t i = 0; i < up.n; i++)
				json_uplink(&j, (const void *)(up.recs + i * up.size));
			tool_json_close(&j, ']');
		}
		if (stats || !strcmp(cmd, "clients")) {
			tool_json_open(&j, "clients", '[');
			for (uint32_t i = 0; i < cl.n; i++)
				json_client(&j, (const void *)(cl.recs + i * cl.size));
			tool_json_close(&j, ']');
		}
		tool_json_end(&j);
	} else if (stats) {
		text_stats((const void *)info.recs, &up, &cl, all);
	} else if (!strcmp(cmd, "uplinks")) {
		text_uplinks(&up);
	} else {
		text_clients(&cl, all);
	}
	rc = fflush(stdout) ? TOOL_EXIT_FAIL : TOOL_EXIT_OK;
out:
	free(info.recs);
	free(up.recs);
	free(cl.recs);
	close(fd);
	return rc;
}
