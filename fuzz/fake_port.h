/* SPDX-License-Identifier: MIT */
/*
 * The fuzz harnesses' fake port: the port API's functions the stack calls
 * besides the bursts (usnet_port_info, _pool, _fd, _arm), over a struct
 * usnet_port each harness defines itself. Include this after that
 * definition, which must have the members
 *
 *   struct usnet_port_info info;
 *   struct usnet_pool *pool;
 *
 * The harness defines fake_port_ready(port), whether frames wait to be
 * received (what usnet_port_arm answers), fake_port_sent(frame, len), what
 * it does with each frame the stack sends (usnet_tx_burst here calls it,
 * then frees the packets), and usnet_rx_burst.
 */
#ifndef USNET_FUZZ_FAKE_PORT_H
#define USNET_FUZZ_FAKE_PORT_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>

static bool fake_port_ready(const struct usnet_port *port);
static void fake_port_sent(const uint8_t *f, size_t len);

const struct usnet_port_info *usnet_port_info(const struct usnet_port *port)
{
	return &port->info;
}

struct usnet_pool *usnet_port_pool(struct usnet_port *port, uint16_t queue)
{
	(void)queue;
	return port->pool;
}

/* No fd: the stack polls instead of waiting. */
int usnet_port_fd(struct usnet_port *port, uint16_t queue)
{
	(void)port;
	(void)queue;
	return -ENOTSUP;
}

bool usnet_port_arm(struct usnet_port *port, uint16_t queue)
{
	(void)queue;
	return fake_port_ready(port);
}

uint16_t usnet_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n)
{
	(void)port;
	(void)queue;
	for (uint16_t i = 0; i < n; i++)
		fake_port_sent(usnet_pkt_data(pkts[i]), pkts[i]->len);
	usnet_pkt_free_bulk(pkts, n);
	return n;
}

/* fake_port_init(port, count, mac): on the first call (port->pool NULL),
 * the pool of count packets the port's frames use, the port's info (name
 * "fuzz", MAC mac, MTU 1500, one queue each way) and quiet logs; after it,
 * nothing. Returns the pool. */
static inline struct usnet_pool *fake_port_init(struct usnet_port *port, uint32_t count,
						const uint8_t mac[6])
{
	struct usnet_pool_conf pc = {.count = count, .name = "fuzz"};

	if (port->pool)
		return port->pool;
	usnet_log_set_level(USNET_LOG_ERR);
	if (usnet_pool_create(&port->pool, &pc))
		abort();
	snprintf(port->info.name, sizeof(port->info.name), "fuzz");
	snprintf(port->info.kind, sizeof(port->info.kind), "fake");
	memcpy(port->info.mac, mac, 6);
	port->info.mtu = 1500;
	port->info.rx_queues = port->info.tx_queues = 1;
	return port->pool;
}

/* After the stack is destroyed: all count packets back in the pool, none
 * freed twice; aborts otherwise. */
static inline void fake_port_check_pool(struct usnet_port *port, uint32_t count)
{
	struct usnet_pool_stats ps;

	usnet_pool_get_stats(port->pool, &ps);
	if (ps.available != count) {
		fprintf(stderr, "%u packets not returned to the pool\n", count - ps.available);
		abort();
	}
	if (ps.bad_free) {
		fprintf(stderr, "double free\n");
		abort();
	}
}

/* A frame the stack sent: 60..1514 bytes, IPv4 or ARP (the EtherType is
 * returned); an IPv4 one with a header of version 4, at least 20 bytes, a
 * total length from the header's to the frame's end and a good checksum,
 * the total length then in *tot. Anything else aborts. */
static inline uint16_t fake_port_check_frame(const uint8_t *f, size_t len, size_t *tot)
{
	uint16_t type;

	if (len < 60 || len > 1514) {
		fprintf(stderr, "stack sent a %zu-byte frame\n", len);
		abort();
	}
	type = (uint16_t)(f[12] << 8 | f[13]);
	if (type == 0x0800) {
		size_t hl = (size_t)(f[14] & 0xf) * 4;

		*tot = (size_t)(f[16] << 8 | f[17]);
		if (f[14] >> 4 != 4 || hl < 20 || *tot < hl || 14 + *tot > len ||
		    usnet_csum_fold(usnet_csum_add(0, f + 14, hl)) != 0) {
			fprintf(stderr, "stack sent a bad IPv4 header\n");
			abort();
		}
	} else if (type != 0x0806) {
		fprintf(stderr, "stack sent EtherType %04x\n", type);
		abort();
	}
	return type;
}

#endif
