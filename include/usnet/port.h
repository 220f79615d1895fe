/* SPDX-License-Identifier: MIT */
/*
 * Ports: one API over every kind of packet I/O.
 *
 *   struct usnet_port *port;
 *   int err = usnet_port_open(&port, "afpacket:veth0", NULL);
 *   if (err) fprintf(stderr, "%s\n", usnet_last_error());
 *   n = usnet_rx_burst(port, 0, pkts, 32);   // caller now owns pkts[0..n)
 *   m = usnet_tx_burst(port, 0, pkts, n);    // port took pkts[0..m); caller keeps the rest
 *
 * Spec strings are "KIND:NAME[,KEY=VALUE...]". NAME may contain ':' (PCI
 * addresses do); options may also follow NAME after ':' when they contain
 * '=' ("afxdp:veth0:queue=0"). Kinds: null, loop, pair, afpacket, afxdp
 * (AF_XDP through libxdp; "not built in" without it), tap, pci, memif;
 * docs/ports.md lists them and their options.
 *
 * Burst calls never fail: they return counts, and problems are counted in
 * the per-queue statistics. A port's queues are single-threaded: one thread
 * per RX queue and one per TX queue at a time.
 */
#ifndef USNET_PORT_H
#define USNET_PORT_H

#include <stdbool.h>
#include <stdint.h>

#include <usnet/pkt.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USNET_MAX_QUEUES 16
#define USNET_MAX_BURST 256

struct usnet_port;

struct usnet_port_conf {
	uint16_t rx_queues;	/* 0: 1 */
	uint16_t tx_queues;	/* 0: 1 */
	uint16_t rx_ring_size;	/* descriptors per RX queue; 0: the kind's default */
	uint16_t tx_ring_size;	/* descriptors per TX queue; 0: the kind's default */
	uint32_t pool_size;	/* packets in each RX queue's pool; 0: the kind's default */
	uint16_t buf_size;	/* data room per packet; 0: USNET_PKT_DATA_SIZE */
	bool promisc;		/* receive frames for any destination MAC */
};

struct usnet_port_info {
	char name[128];		/* NAME from the spec */
	char kind[16];		/* KIND from the spec */
	uint8_t mac[6];
	uint16_t mtu;		/* largest L3 payload; frames are up to mtu + 14 bytes */
	uint16_t rx_queues;
	uint16_t tx_queues;
};

struct usnet_link {
	bool up;
	uint32_t speed_mbps; /* 0 if unknown */
};

struct usnet_queue_stats {
	uint64_t rx_packets;
	uint64_t rx_bytes;
	uint64_t rx_dropped; /* frames lost before reaching usnet (ring overrun, kernel drops) */
	uint64_t rx_nobuf;   /* times a frame or a ring refill found the pool empty; the
				frame waits (afpacket) or the device drops it (rx_dropped) */
	uint64_t rx_errors;  /* malformed or truncated frames */
	uint64_t tx_packets; /* packets tx_burst took, including those counted in tx_errors */
	uint64_t tx_bytes;   /* their bytes */
	uint64_t tx_full;    /* packets refused (left with the caller) because the queue was full */
	uint64_t tx_errors;  /* packets taken but not sent (too long, device error) */
	/* afpacket: with gso=on: GSO/GRO frames of several segments cut back into
	   MTU-sized frames (counted in rx_packets once per segment), and such
	   frames dropped whole because the pool ran dry part way. */
	uint64_t rx_gso_frames;
	uint64_t rx_gso_dropped;
};

/* 0 or -errno; on failure usnet_last_error() says why. conf may be NULL. */
int usnet_port_open(struct usnet_port **out, const char *spec, const struct usnet_port_conf *conf);
void usnet_port_close(struct usnet_port *port);

uint16_t usnet_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n);
/* Ports reclaim finished transmissions (freeing the packets to their pools)
 * inside tx_burst; n == 0 only reclaims. Call it when a TX pool runs dry. */
uint16_t usnet_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n);

/*
 * Sleep until RX queue `queue` may have packets, the timeout (ms, -1: none)
 * expires, or a signal arrives. 1: ready, 0: timed out, -errno (-EINTR).
 */
int usnet_port_wait(struct usnet_port *port, uint16_t queue, int timeout_ms);
/* An fd that polls readable when RX queue `queue` may have packets, or -errno. */
int usnet_port_fd(struct usnet_port *port, uint16_t queue);
/*
 * For callers that poll() several ports' fds at once: prepare RX queue
 * `queue` to make its fd readable when packets arrive. true: packets may
 * already be there, so poll the queue again instead of sleeping. Kinds
 * whose fd needs no preparation return false. usnet_port_wait() does this.
 */
bool usnet_port_arm(struct usnet_port *port, uint16_t queue);

/* The pool that backs RX queue `queue`; allocate TX packets from it too. */
struct usnet_pool *usnet_port_pool(struct usnet_port *port, uint16_t queue);

const struct usnet_port_info *usnet_port_info(const struct usnet_port *port);
int usnet_port_link(struct usnet_port *port, struct usnet_link *link);
/* queue < 0: the sum over all queues. 0 or -EINVAL. */
int usnet_port_stats(const struct usnet_port *port, int queue, struct usnet_queue_stats *st);

/*
 * Ask the port to receive frames for destination MAC `mac` too. Only kinds
 * that filter frames by MAC need it (afxdp with prog=steer: the MAC joins
 * the set its XDP program redirects to usnet); for the others, which see
 * every frame of the interface, it does nothing. 0 or -errno.
 */
int usnet_port_steer_mac(struct usnet_port *port, const uint8_t mac[6]);

/* The kinds this build knows, for --help texts: calls fn once per kind. */
void usnet_port_kinds(void (*fn)(void *ctx, const char *kind, const char *usage), void *ctx);

/*
 * Adaptive polling: call after each rx_burst with its count. After `spin`
 * empty polls in a row it sleeps in usnet_port_wait() for up to timeout_ms.
 * Returns what usnet_port_wait() returned, or 1 if it did not sleep.
 */
struct usnet_idle {
	uint32_t spin;	/* empty polls before sleeping; 0: 256 */
	uint32_t empty; /* empty polls so far */
};
int usnet_port_idle(struct usnet_port *port, uint16_t queue, struct usnet_idle *idle,
		    uint16_t received, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
