/* SPDX-License-Identifier: MIT */
/*
 * null: — RX hands out freshly allocated frames of a fixed size (contents
 * not written), TX frees what it is given. A port with no I/O at all, to
 * measure what the rest of a program costs per packet.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "port_impl.h"

struct null_port {
	struct usnet_port port;
	uint16_t frame_len;
	int ready_fd; /* always readable: a null port never makes anyone wait */
};

static uint16_t null_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			      uint16_t n)
{
	struct null_port *np = usnet_container_of(port, struct null_port, port);
	uint16_t got = (uint16_t)usnet_pool_alloc_bulk(port->pool[queue], pkts, n);

	for (uint16_t i = 0; i < got; i++)
		pkts[i]->len = np->frame_len;
	port->stats[queue].rx_nobuf += (uint16_t)(n - got);
	return got;
}

static uint16_t null_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			      uint16_t n)
{
	(void)port;
	(void)queue;
	usnet_pkt_free_bulk(pkts, n);
	return n;
}

static int null_queue_fd(struct usnet_port *port, uint16_t queue)
{
	(void)queue;
	return usnet_container_of(port, struct null_port, port)->ready_fd;
}

static void null_close(struct usnet_port *port)
{
	struct null_port *np = usnet_container_of(port, struct null_port, port);

	close(np->ready_fd);
	usnet_port_teardown(port);
	free(np);
}

static int null_open(struct usnet_port **out, struct usnet_spec *spec,
		     const struct usnet_port_conf *conf)
{
	struct null_port *np = calloc(1, sizeof(*np));
	uint32_t size;
	int err;

	if (!np)
		return usnet_error(ENOMEM, "null: out of memory");
	err = usnet_spec_opt_u32(spec, "size", 60, 9000, 60, &size);
	if (err)
		goto err_free;
	err = usnet_port_setup(&np->port, &usnet_null_ops, spec, conf, USNET_MAX_QUEUES, 4096);
	if (err)
		goto err_free;
	if (size > np->port.conf.buf_size - USNET_PKT_HEADROOM) {
		err = usnet_error(EINVAL, "null: size=%u does not fit a %u-byte buffer", size,
				  np->port.conf.buf_size);
		goto err_teardown;
	}
	np->frame_len = (uint16_t)size;
	np->ready_fd = eventfd(1, EFD_CLOEXEC | EFD_NONBLOCK);
	if (np->ready_fd < 0) {
		err = usnet_error(errno, "null: eventfd: %m");
		goto err_teardown;
	}
	usnet_mac_from_name(np->port.info.mac, spec->kind, spec->name);
	*out = &np->port;
	return 0;

err_teardown:
	usnet_port_teardown(&np->port);
err_free:
	free(np);
	return err;
}

const struct usnet_port_ops usnet_null_ops = {
	.kind = "null",
	.usage = "null:[,size=N]          discard TX; RX yields N-byte frames (60), as fast as asked",
	.open = null_open,
	.close = null_close,
	.rx_burst = null_rx_burst,
	.tx_burst = null_tx_burst,
	.queue_fd = null_queue_fd,
};
