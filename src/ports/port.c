/* SPDX-License-Identifier: MIT */
/* The spec parser, the table of port kinds, and the calls every kind shares. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "port_impl.h"

extern const struct usnet_port_ops usnet_pci_ops;   /* src/drivers/registry.c */
extern const struct usnet_port_ops usnet_memif_ops; /* src/ports/memif.c */

static const struct usnet_port_ops *const kinds[] = {
	&usnet_null_ops, &usnet_loop_ops, &usnet_pair_ops, &usnet_afpacket_ops, &usnet_afxdp_ops,
	&usnet_tap_ops, &usnet_pci_ops, &usnet_memif_ops,
};

#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

static bool copy_bounded(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		return false;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return true;
}

/* Does the segment starting at s (up to the next ':' or ',') contain '='? */
static bool segment_has_eq(const char *s)
{
	for (; *s && *s != ':' && *s != ','; s++)
		if (*s == '=')
			return true;
	return false;
}

static int parse_opt(struct usnet_spec *spec, const char *s, size_t n, const char *whole)
{
	const char *eq = memchr(s, '=', n);
	struct usnet_spec_opt *o;

	if (!eq || eq == s)
		return usnet_error(EINVAL, "spec '%s': option '%.*s' is not KEY=VALUE", whole,
				   (int)n, s);
	if (spec->nopt == USNET_SPEC_MAX_OPTS)
		return usnet_error(EINVAL, "spec '%s': more than %d options", whole,
				   USNET_SPEC_MAX_OPTS);
	o = &spec->opt[spec->nopt];
	if (!copy_bounded(o->key, sizeof(o->key), s, (size_t)(eq - s)) ||
	    !copy_bounded(o->val, sizeof(o->val), eq + 1, n - (size_t)(eq - s) - 1))
		return usnet_error(EINVAL, "spec '%s': option '%.*s' is too long", whole, (int)n,
				   s);
	for (unsigned i = 0; i < spec->nopt; i++)
		if (!strcmp(spec->opt[i].key, o->key))
			return usnet_error(EINVAL, "spec '%s': option '%s' given twice", whole,
					   o->key);
	o->used = false;
	spec->nopt++;
	return 0;
}

int usnet_spec_parse(struct usnet_spec *spec, const char *s)
{
	const char *colon, *p, *name_end;
	int err;

	memset(spec, 0, sizeof(*spec));
	if (!s || !*s)
		return usnet_error(EINVAL, "empty port spec: expected KIND:NAME, e.g. afpacket:eth0");
	if (strlen(s) > 200)
		return usnet_error(EINVAL, "spec '%.32s...' is longer than 200 characters", s);
	for (p = s; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return usnet_error(EINVAL, "spec '%s' contains a space or control character",
					   s);
	colon = strchr(s, ':');
	if (!colon)
		return usnet_error(EINVAL, "spec '%s' has no kind: expected KIND:NAME, e.g. tap:usnet0",
				   s);
	if (colon == s || !copy_bounded(spec->kind, sizeof(spec->kind), s, (size_t)(colon - s)))
		return usnet_error(EINVAL, "spec '%s': bad kind '%.*s'", s, (int)(colon - s), s);

	/* NAME ends at the first ',' or at a ':' that starts a KEY=VALUE. */
	for (name_end = colon + 1; *name_end; name_end++)
		if (*name_end == ',' || (*name_end == ':' && segment_has_eq(name_end + 1)))
			break;
	if (!copy_bounded(spec->name, sizeof(spec->name), colon + 1,
			  (size_t)(name_end - colon - 1)))
		return usnet_error(EINVAL, "spec '%s': name is longer than %zu characters", s,
				   sizeof(spec->name) - 1);
	if (strchr(spec->name, '='))
		return usnet_error(EINVAL, "spec '%s': name '%s' contains '='", s, spec->name);

	for (p = name_end; *p;) {
		const char *end = p + 1;

		while (*end && *end != ',' && *end != ':')
			end++;
		err = parse_opt(spec, p + 1, (size_t)(end - p - 1), s);
		if (err)
			return err;
		p = end;
	}
	return 0;
}

const char *usnet_spec_opt(struct usnet_spec *spec, const char *key)
{
	for (unsigned i = 0; i < spec->nopt; i++) {
		if (!strcmp(spec->opt[i].key, key)) {
			spec->opt[i].used = true;
			return spec->opt[i].val;
		}
	}
	return NULL;
}

int usnet_spec_opt_u32(struct usnet_spec *spec, const char *key, uint32_t min, uint32_t max,
		       uint32_t dflt, uint32_t *out)
{
	const char *v = usnet_spec_opt(spec, key);
	unsigned long long x;
	char *end;

	if (!v) {
		*out = dflt;
		return 0;
	}
	errno = 0;
	x = strtoull(v, &end, 0);
	if (!*v || *end || errno || *v == '-' || x < min || x > max)
		return usnet_error(EINVAL, "'%s:%s': option %s=%s is not a number in [%u, %u]",
				   spec->kind, spec->name, key, v, min, max);
	*out = (uint32_t)x;
	return 0;
}

int usnet_spec_check_unused(const struct usnet_spec *spec)
{
	for (unsigned i = 0; i < spec->nopt; i++)
		if (!spec->opt[i].used)
			return usnet_error(EINVAL, "'%s:%s': unknown option '%s'", spec->kind,
					   spec->name, spec->opt[i].key);
	return 0;
}

void usnet_port_kinds(void (*fn)(void *ctx, const char *kind, const char *usage), void *ctx)
{
	for (size_t i = 0; i < NKINDS; i++)
		fn(ctx, kinds[i]->kind, kinds[i]->usage);
}

int usnet_port_open(struct usnet_port **out, const char *spec_str,
		    const struct usnet_port_conf *conf)
{
	struct usnet_spec spec;
	char known[128] = "";
	int err;

	usnet_clear_error();
	err = usnet_spec_parse(&spec, spec_str);
	if (err)
		return err;
	for (size_t i = 0; i < NKINDS; i++) {
		if (strcmp(kinds[i]->kind, spec.kind))
			continue;
		struct usnet_port *port;

		err = kinds[i]->open(&port, &spec, conf);
		if (err)
			return err;
		err = usnet_spec_check_unused(&spec);
		if (err) {
			usnet_port_close(port);
			return err;
		}
		*out = port;
		return 0;
	}
	for (size_t i = 0; i < NKINDS; i++) {
		size_t used = strlen(known);

		snprintf(known + used, sizeof(known) - used, "%s%s", i ? ", " : "", kinds[i]->kind);
	}
	return usnet_error(EINVAL, "unknown port kind '%s' in '%s' (known: %s)", spec.kind,
			   spec_str, known);
}

void usnet_port_close(struct usnet_port *port)
{
	if (port)
		port->ops->close(port);
}

uint16_t usnet_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n)
{
	struct usnet_queue_stats *st;
	uint16_t got;
	uint64_t bytes = 0;

	if (queue >= port->info.rx_queues)
		return 0;
	if (n > USNET_MAX_BURST)
		n = USNET_MAX_BURST;
	got = port->ops->rx_burst(port, queue, pkts, n);
	for (uint16_t i = 0; i < got; i++)
		bytes += pkts[i]->len;
	st = &port->stats[queue];
	st->rx_packets += got;
	st->rx_bytes += bytes;
	return got;
}

uint16_t usnet_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n)
{
	struct usnet_queue_stats *st;
	uint64_t bytes = 0;
	uint16_t sent;

	if (queue >= port->info.tx_queues)
		return 0;
	if (n > USNET_MAX_BURST)
		n = USNET_MAX_BURST;
	/* Count before sending: once taken, a packet may already be freed. */
	for (uint16_t i = 0; i < n; i++)
		bytes += pkts[i]->len;
	sent = port->ops->tx_burst(port, queue, pkts, n);
	for (uint16_t i = sent; i < n; i++)
		bytes -= pkts[i]->len;
	st = &port->stats[queue];
	st->tx_packets += sent;
	st->tx_bytes += bytes;
	st->tx_full += (uint16_t)(n - sent);
	return sent;
}

int usnet_port_fd(struct usnet_port *port, uint16_t queue)
{
	if (queue >= port->info.rx_queues)
		return usnet_error(EINVAL, "%s:%s has no RX queue %u", port->info.kind,
				   port->info.name, queue);
	if (!port->ops->queue_fd)
		return usnet_error(ENOTSUP, "%s ports have no file descriptor to wait on",
				   port->info.kind);
	return port->ops->queue_fd(port, queue);
}

bool usnet_port_arm(struct usnet_port *port, uint16_t queue)
{
	if (queue >= port->info.rx_queues || !port->ops->arm)
		return false;
	return port->ops->arm(port, queue);
}

int usnet_port_wait(struct usnet_port *port, uint16_t queue, int timeout_ms)
{
	struct pollfd pfd = {.events = POLLIN};

	pfd.fd = usnet_port_fd(port, queue);
	if (pfd.fd < 0)
		return pfd.fd;
	if (usnet_port_arm(port, queue))
		return 1;
	switch (poll(&pfd, 1, timeout_ms)) {
	case -1:
		return -errno;
	case 0:
		return 0;
	default:
		return 1;
	}
}

int usnet_port_idle(struct usnet_port *port, uint16_t queue, struct usnet_idle *idle,
		    uint16_t received, int timeout_ms)
{
	if (received) {
		idle->empty = 0;
		return 1;
	}
	if (++idle->empty < (idle->spin ? idle->spin : 256))
		return 1;
	idle->empty = 0;
	return usnet_port_wait(port, queue, timeout_ms);
}

struct usnet_pool *usnet_port_pool(struct usnet_port *port, uint16_t queue)
{
	return queue < port->info.rx_queues ? port->pool[queue] : NULL;
}

const struct usnet_port_info *usnet_port_info(const struct usnet_port *port)
{
	return &port->info;
}

int usnet_port_link(struct usnet_port *port, struct usnet_link *link)
{
	if (port->ops->link)
		return port->ops->link(port, link);
	link->up = true;
	link->speed_mbps = 0;
	return 0;
}

int usnet_port_stats(const struct usnet_port *port, int queue, struct usnet_queue_stats *st)
{
	uint16_t nq = port->info.rx_queues > port->info.tx_queues ? port->info.rx_queues
								   : port->info.tx_queues;

	if (queue >= (int)nq)
		return -EINVAL;
	if (port->ops->stats_sync)
		port->ops->stats_sync(port);
	if (queue >= 0) {
		*st = port->stats[queue];
		return 0;
	}
	memset(st, 0, sizeof(*st));
	for (uint16_t q = 0; q < nq; q++) {
		const struct usnet_queue_stats *s = &port->stats[q];

		st->rx_packets += s->rx_packets;
		st->rx_bytes += s->rx_bytes;
		st->rx_dropped += s->rx_dropped;
		st->rx_nobuf += s->rx_nobuf;
		st->rx_errors += s->rx_errors;
		st->tx_packets += s->tx_packets;
		st->tx_bytes += s->tx_bytes;
		st->tx_full += s->tx_full;
		st->tx_errors += s->tx_errors;
		st->rx_gso_frames += s->rx_gso_frames;
		st->rx_gso_dropped += s->rx_gso_dropped;
	}
	return 0;
}

int usnet_port_steer_mac(struct usnet_port *port, const uint8_t mac[6])
{
	return port->ops->steer_mac ? port->ops->steer_mac(port, mac) : 0;
}

int usnet_port_setup(struct usnet_port *port, const struct usnet_port_ops *ops,
		     const struct usnet_spec *spec, const struct usnet_port_conf *conf,
		     uint16_t max_queues, uint32_t dflt_pool)
{
	static const struct usnet_port_conf none;
	struct usnet_port_conf *c = &port->conf;
	int err;

	*c = conf ? *conf : none;
	c->rx_queues = c->rx_queues ? c->rx_queues : 1;
	c->tx_queues = c->tx_queues ? c->tx_queues : 1;
	c->pool_size = c->pool_size ? c->pool_size : dflt_pool;
	c->buf_size = c->buf_size ? c->buf_size : USNET_PKT_DATA_SIZE;
	if (c->rx_queues > max_queues || c->tx_queues > max_queues)
		return usnet_error(EINVAL, "%s:%s supports at most %u queues (asked %u RX, %u TX)",
				   spec->kind, spec->name, max_queues, c->rx_queues, c->tx_queues);
	port->ops = ops;
	snprintf(port->info.kind, sizeof(port->info.kind), "%s", spec->kind);
	snprintf(port->info.name, sizeof(port->info.name), "%s", spec->name);
	port->info.mtu = 1500;
	port->info.rx_queues = c->rx_queues;
	port->info.tx_queues = c->tx_queues;
	for (uint16_t q = 0; q < c->rx_queues; q++) {
		char name[32];
		struct usnet_pool_conf pc = {
		    .count = c->pool_size,
		    .data_size = c->buf_size,
		    .name = name,
		    .flags = port->pool_flags,
		};

		snprintf(name, sizeof(name), "%s-rx%u", spec->kind, q);
		err = usnet_pool_create(&port->pool[q], &pc);
		if (err) {
			usnet_port_teardown(port);
			return err;
		}
	}
	return 0;
}

void usnet_port_teardown(struct usnet_port *port)
{
	for (uint16_t q = 0; q < USNET_MAX_QUEUES; q++) {
		usnet_pool_destroy(port->pool[q]);
		port->pool[q] = NULL;
	}
}

/* FNV-1a over kind and name; bit 1 of the first octet set (locally
 * administered), bit 0 clear (unicast), IEEE 802 clause 9.2. */
void usnet_mac_from_name(uint8_t mac[6], const char *kind, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (const char *s = kind; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	h = (h ^ ':') * 0x100000001b3ull;
	for (const char *s = name; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
	mac[0] = (uint8_t)((mac[0] & 0xfc) | 0x02);
}
