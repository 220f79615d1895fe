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
