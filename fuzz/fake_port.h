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
 * and after a definition of fake_port_ready(port): whether frames wait to
 * be received (what usnet_port_arm answers). The harness defines
 * usnet_rx_burst and usnet_tx_burst too: those are what it fuzzes, and
 * its usnet_tx_burst checks each frame with fake_port_check_frame.
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

/* A frame the stack sent: 60..1514 bytes, and if it is IPv4 (the EtherType
 * returned is 0x0800) a header of version 4, at least 20 bytes, a total
 * length from the header's to the frame's end and a good checksum; the
 * total length is then in *tot. Anything else aborts. */
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
	}
	return type;
}

#endif
