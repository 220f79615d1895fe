/* SPDX-License-Identifier: MIT */
/* What a port kind implements, and the helpers every kind shares. Internal. */
#ifndef USNET_PORT_IMPL_H
#define USNET_PORT_IMPL_H

#include <stddef.h>

#include <usnet/log.h>
#include <usnet/port.h>

#include "../core/container_of.h"

#define USNET_SPEC_MAX_OPTS 8

struct usnet_spec_opt {
	char key[32];
	char val[96];
	bool used;
};

/* A parsed "KIND:NAME[,KEY=VALUE...]" string. */
struct usnet_spec {
	char kind[16];
	char name[128];
	unsigned nopt;
	struct usnet_spec_opt opt[USNET_SPEC_MAX_OPTS];
};

/* 0 or -EINVAL with usnet_last_error() naming what is wrong. */
int usnet_spec_parse(struct usnet_spec *spec, const char *s);
/* The value of option key, or NULL; marks the option used. */
const char *usnet_spec_opt(struct usnet_spec *spec, const char *key);
/* Option key as an integer in [min, max]; *out = dflt if absent. 0 or -EINVAL. */
int usnet_spec_opt_u32(struct usnet_spec *spec, const char *key, uint32_t min, uint32_t max,
		       uint32_t dflt, uint32_t *out);
/* -EINVAL naming the first option no one asked for, else 0. */
int usnet_spec_check_unused(const struct usnet_spec *spec);

struct usnet_port_ops {
	const char *kind;
	const char *usage; /* one line: "KIND:ARGS  what it is" */
	int (*open)(struct usnet_port **out, struct usnet_spec *spec,
		    const struct usnet_port_conf *conf);
	void (*close)(struct usnet_port *port);
	uint16_t (*rx_burst)(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			     uint16_t n);
	uint16_t (*tx_burst)(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			     uint16_t n);
	/* Optional: fd that polls readable when the RX queue has work. */
	int (*queue_fd)(struct usnet_port *port, uint16_t queue);
	/* Optional: enable the queue's interrupt before sleeping; return true if
	 * packets arrived meanwhile (then the caller does not sleep). */
	bool (*arm)(struct usnet_port *port, uint16_t queue);
	/* Optional: default reports the link up, speed unknown. */
	int (*link)(struct usnet_port *port, struct usnet_link *link);
	/* Optional: bring port->stats up to date with counters the kernel
	 * keeps (called by usnet_port_stats()). */
	void (*stats_sync)(const struct usnet_port *port);
	/* Optional: also receive frames for this destination MAC (a kind that
	 * filters by MAC, afxdp prog=steer). Kinds without it see every frame. */
	int (*steer_mac)(struct usnet_port *port, const uint8_t mac[6]);
};

/* Embedded first in every kind's own port struct. */
struct usnet_port {
	const struct usnet_port_ops *ops;
	struct usnet_port_info info;
	struct usnet_port_conf conf; /* with defaults filled in */
	struct usnet_pool *pool[USNET_MAX_QUEUES];
	struct usnet_queue_stats stats[USNET_MAX_QUEUES];
	uint32_t pool_flags; /* USNET_POOL_F_* for the pools usnet_port_setup() creates */
};

/*
 * Fill in port->info and port->conf from spec and conf (NULL allowed),
 * checking queue counts against max_queues, and create one pool per RX
 * queue of conf->pool_size packets (dflt_pool if 0). 0 or -errno.
 */
int usnet_port_setup(struct usnet_port *port, const struct usnet_port_ops *ops,
		     const struct usnet_spec *spec, const struct usnet_port_conf *conf,
		     uint16_t max_queues, uint32_t dflt_pool);
/* Undo usnet_port_setup(). */
void usnet_port_teardown(struct usnet_port *port);

/* Generic locally administered MAC derived from a name, stable across runs. */
void usnet_mac_from_name(uint8_t mac[6], const char *kind, const char *name);

extern const struct usnet_port_ops usnet_null_ops;
extern const struct usnet_port_ops usnet_pair_ops;
extern const struct usnet_port_ops usnet_loop_ops;
extern const struct usnet_port_ops usnet_afpacket_ops;
extern const struct usnet_port_ops usnet_tap_ops;
extern const struct usnet_port_ops usnet_afxdp_ops; /* afxdp.c, or afxdp_stub.c without libxdp */

#endif
