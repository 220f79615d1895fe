/* SPDX-License-Identifier: MIT */
/*
 * usnetd's control protocol: what usnetctl and usnetd exchange over the
 * control socket (default /run/usnet/usnetd.ctl, SOCK_SEQPACKET, mode 0600,
 * and only root or usnetd's own uid are answered).
 *
 * Each request is one 16-byte datagram; each answer one datagram of a
 * header and `count` fixed-size records of the kind asked for. Lists are
 * paged: a request names the first record it wants (`start`), the answer
 * says where the next page starts (`next`, USNETD_CTL_END when done).
 * Everything is fixed-width and asserted below; both ends run on the same
 * host, so fields are in host byte order. Strings are NUL-terminated.
 */
#ifndef USNETD_CTL_PROTO_H
#define USNETD_CTL_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define USNETD_CTL_MAGIC   0x444e5355u /* "USND" in little-endian memory */
#define USNETD_CTL_VERSION 1
#define USNETD_CTL_END	   0xffffffffu
#define USNETD_CTL_MAX_MSG 65536 /* an answer is never longer */

enum usnetd_ctl_cmd {
	USNETD_CTL_INFO = 1,	/* one usnetd_ctl_info */
	USNETD_CTL_UPLINKS = 2, /* usnetd_ctl_uplink records */
	USNETD_CTL_CLIENTS = 3, /* usnetd_ctl_client records, one per served interface */
};

struct usnetd_ctl_req {
	uint32_t magic;
	uint16_t version;
	uint16_t cmd;
	uint32_t start; /* first record wanted */
	uint32_t reserved;
};
static_assert(sizeof(struct usnetd_ctl_req) == 16, "request is 16 bytes");

struct usnetd_ctl_resp {
	uint32_t magic;
	uint16_t version;
	uint16_t cmd;
	int32_t status; /* 0, or -errno: -EACCES (not allowed), -EINVAL (bad request) */
	uint32_t count; /* records that follow */
	uint32_t next;	/* `start` of the next page, or USNETD_CTL_END */
	uint32_t total; /* records in the whole list */
};
static_assert(sizeof(struct usnetd_ctl_resp) == 24, "answer header is 24 bytes");

struct usnetd_ctl_info {
	char version[16];
	char socket[108];
	int32_t pid;
	int32_t core; /* -1: not pinned */
	uint32_t uplinks, interfaces, connected;
	uint32_t pool_size, pool_free; /* daemon packet pool: all free when idle */
	uint32_t spin_us;
	uint32_t pad;
	uint64_t uptime_ns;
	uint64_t accepted;   /* memif connections accepted */
	uint64_t refused;    /* refused before CONNECTED (id, ACL, secret, handshake) */
	uint64_t violations; /* clients disconnected for a protocol violation */
	uint64_t loops;	     /* poll loop iterations */
	uint64_t sleeps;     /* times it went to sleep in epoll */
	uint64_t busy_ns;    /* time spent outside epoll_wait */
};
static_assert(sizeof(struct usnetd_ctl_info) == 216, "usnetd_ctl_info");
static_assert(offsetof(struct usnetd_ctl_info, uptime_ns) == 160, "info.uptime_ns");

struct usnetd_ctl_uplink {
	uint32_t index;
	uint8_t mac[6];
	uint8_t link_up;
	uint8_t rx_polled;
	char name[32];
	char spec[208];
	uint16_t rx_queues, tx_queues;
	uint32_t pad[2];
	/* the switch's view */
	uint64_t rx_frames, rx_bytes, rx_flooded, rx_filtered;
	uint64_t tx_frames, tx_bytes, tx_drops;
	/* the port's own counters (struct usnet_queue_stats, summed) */
	uint64_t port_rx_dropped, port_rx_nobuf, port_rx_errors;
	uint64_t port_tx_full, port_tx_errors;
};
static_assert(sizeof(struct usnetd_ctl_uplink) == 360, "usnetd_ctl_uplink");
static_assert(offsetof(struct usnetd_ctl_uplink, rx_frames) == 264, "uplink.rx_frames");

struct usnetd_ctl_client {
	uint32_t id;
	uint8_t mac[6];
	uint8_t connected;
	uint8_t any_src_mac;
	char name[32];
	char uplink[32];
	char peer_name[33]; /* from the client's INIT */
	char peer_if[33];   /* from its CONNECT */
	char reason[98];    /* why its last connection ended, or the last refusal */
	int32_t pid;	    /* SO_PEERCRED of the connected (or last) client; 0: never */
	uint32_t uid, gid;
	uint16_t rx_queues; /* C2S rings: what usnetd receives on */
	uint16_t tx_queues; /* S2C rings */
	uint64_t up_ns;	    /* connected for this long; 0 if not */
	uint64_t connects, violations, refused;
	uint64_t rx_frames, rx_bytes; /* frames the client sent */
	uint64_t tx_frames, tx_bytes; /* frames delivered to it */
	uint64_t tx_drops;	      /* for it, but its rings were full */
	uint64_t src_mac_drops;	      /* sent from a MAC not its own */
	uint64_t rx_errors;	      /* chains longer than usnetd's buffers */
	uint64_t other_drops;	      /* runts, hairpins, nowhere to go, pool empty */
};
static_assert(sizeof(struct usnetd_ctl_client) == 352, "usnetd_ctl_client");
static_assert(offsetof(struct usnetd_ctl_client, up_ns) == 256, "client.up_ns");

#endif
