/* SPDX-License-Identifier: MIT */
/*
 * memif: the shared memory packet interface of VPP, libmemif and DPDK's
 * net_memif, both roles, copy mode. docs/memif.md describes the protocol as
 * implemented.
 *
 * This header is the library-internal API for usnetd (daemon/), the memif:
 * port (src/ports/memif.c) and the test peers: everything they may call or
 * read is here, and nothing else of src/memif/ (none of it is in the public
 * include/usnet/ or exported by libusnet.so). Of struct usnet_memif_conn
 * they only read, never write: id, fd (>= 0 while a control socket is
 * open), fault, n_c2s, n_s2c, c2s[q].efd, peer_*, reason, connect_errno,
 * connects, violations, and user (theirs). internal.h is the
 * implementation's own header (msg.c, client.c, server.c, queue.c).
 *
 * A connection (struct usnet_memif_conn) is driven by two kinds of code:
 *
 *  - the control side: usnet_memif_client_poll() / usnet_memif_server_poll()
 *    run the socket state machines, never block, and must not run
 *    concurrently for the same object (the memif: port serialises them
 *    with a lock);
 *  - the data path: usnet_memif_rx/tx/arm() on one queue, one thread per
 *    queue, no system call except the eventfd kick when the peer sleeps.
 *
 * The two meet at conn->gen (odd while connected) and each ring's busy flag:
 * the control side tears a connection down only after the data path has
 * left it (usnet_memif_quiesce()), so no burst ever touches unmapped or
 * re-initialised memory.
 */
#ifndef USNET_MEMIF_H
#define USNET_MEMIF_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <usnet/port.h>

#include "proto.h"

#define USNET_MEMIF_MAX_RINGS	    USNET_MAX_QUEUES /* per direction */
#define USNET_MEMIF_MAX_REGIONS	    8		     /* regions a client may add */
#define USNET_MEMIF_MAX_REGION_SIZE (1ull << 32)     /* descriptor offsets are 32-bit */

enum usnet_memif_role {
	USNET_MEMIF_CLIENT,
	USNET_MEMIF_SERVER,
};

/* One ring, as this side sees it. */
struct usnet_memif_ring {
	struct memif_ring *ring; /* in shared memory; NULL if not in this connection */
	int efd;		 /* interrupt eventfd: the sender writes, the receiver reads */
	uint16_t size, mask;
	uint8_t log2;
	bool added;	 /* server: announced by ADD_RING */
	uint16_t region; /* where the ring header is, as announced */
	uint32_t offset;
	uint32_t buf_off; /* client: offset of slot 0's buffer in region 0 */

	/* Data path state, touched only by the queue's thread. */
	uint16_t own;	   /* the index this side writes (client: head, server: tail) */
	uint16_t own0;	   /* its value when the connection starts (set by the control side) */
	uint16_t last;	   /* receiver: next slot to consume */
	bool armed;	   /* receiver: MASK_INT cleared, see usnet_memif_arm() */
	bool stall;	   /* receiver: the chain at `last` was unfinished ... */
	uint16_t stalled;  /* ... when the peer's index was this: no need to look again */
	uint32_t gen;	   /* the connection these cursors belong to */
	_Atomic bool busy; /* inside a burst */
};

struct usnet_memif_region {
	uint8_t *addr; /* NULL if not mapped */
	uint64_t size;
	int fd;
};

struct usnet_memif_conn {
	enum usnet_memif_role role;
	int state; /* MEMIF_ST_*, internal.h */
	int fd;	   /* control socket, -1 if none */
	uint32_t id;
	_Atomic uint32_t gen;	     /* odd while connected; written by the control side */
	_Atomic(const char *) fault; /* a violation the data path found; the control side acts */
	bool release_pending;	     /* torn down, but a burst was still running */

	uint16_t n_c2s, n_s2c;	   /* rings in this connection */
	uint16_t max_c2s, max_s2c; /* rings allowed (server) or wanted (client) */
	struct usnet_memif_ring c2s[USNET_MEMIF_MAX_RINGS];
	struct usnet_memif_ring s2c[USNET_MEMIF_MAX_RINGS];
	uint16_t nregions;
	struct usnet_memif_region region[USNET_MEMIF_MAX_REGIONS];
	uint16_t buf_size; /* client: bytes per buffer */

	char secret[MEMIF_SECRET_SZ + 1];
	char peer_name[MEMIF_NAME_SZ + 1];    /* from HELLO or INIT */
	char peer_if_name[MEMIF_NAME_SZ + 1]; /* from CONNECT or CONNECTED */
	char reason[MEMIF_REASON_SZ + 1];     /* why the last connection ended */
	int connect_errno;		      /* client: errno of the last failed connect(), 0 */
	uint64_t dials;			      /* client: connect() calls that succeeded */
	pid_t peer_pid;			      /* server: SO_PEERCRED of the client */
	uid_t peer_uid;
	gid_t peer_gid;
	uint64_t connects;    /* times it reached CONNECTED */
	uint64_t violations;  /* protocol violations by the peer (it was disconnected) */
	uint64_t deadline_ns; /* server: handshake must finish by then */
	unsigned step;	      /* client: next message of the handshake */
	void *user;
};

/* ---- data path (queue.c) ---- */

/* Copy up to n frames from RX ring q into packets of pool. Counts in st. */
uint16_t usnet_memif_rx(struct usnet_memif_conn *c, uint16_t q, struct usnet_pool *pool,
			struct usnet_pkt **pkts, uint16_t n, struct usnet_queue_stats *st);
/* Copy up to n frames into TX ring q; frees the packets it took. */
uint16_t usnet_memif_tx(struct usnet_memif_conn *c, uint16_t q, struct usnet_pkt **pkts, uint16_t n,
			struct usnet_queue_stats *st);
/* Ask the peer to kick RX ring q's eventfd; true if frames are already waiting. */
bool usnet_memif_arm(struct usnet_memif_conn *c, uint16_t q);
/* The eventfd of RX ring q, -1 if none. */
int usnet_memif_rx_efd(const struct usnet_memif_conn *c, uint16_t q);
bool usnet_memif_up(const struct usnet_memif_conn *c);
/* ---- control side (client.c, server.c) ---- */

struct usnet_memif_client_conf {
	const char *path;	    /* socket path; "@name" is an abstract socket */
	uint32_t id;		    /* interface id on the server */
	const char *secret;	    /* NULL or up to 24 characters */
	const char *name;	    /* application name; NULL: "usnet" */
	const char *if_name;	    /* interface name; NULL: "memif" */
	uint16_t c2s, s2c;	    /* rings wanted (TX, RX queues); 0: 1 */
	uint8_t log2_c2s, log2_s2c; /* 0: MEMIF_DEFAULT_LOG2_RING */
	uint16_t buf_size;	    /* 0: MEMIF_DEFAULT_BUF_SIZE */
};

struct usnet_memif_client;

int usnet_memif_client_create(struct usnet_memif_client **out,
			      const struct usnet_memif_client_conf *conf);
void usnet_memif_client_destroy(struct usnet_memif_client *cl);
/*
 * One non-blocking step: (re)connect at most every 100 ms while the server
 * is away, advance the handshake, notice a disconnect. 0, or -errno on a
 * local failure (which is also logged in conn->reason).
 */
int usnet_memif_client_poll(struct usnet_memif_client *cl);
/* An epoll fd that is readable when usnet_memif_client_poll() has work. */
int usnet_memif_client_fd(const struct usnet_memif_client *cl);
struct usnet_memif_conn *usnet_memif_client_conn(struct usnet_memif_client *cl);

struct usnet_memif_server;

struct usnet_memif_server_conf {
	const char *path;	   /* socket path; "@name" is an abstract socket */
	const char *name;	   /* application name in HELLO; NULL: "usnet" */
	uint16_t max_c2s, max_s2c; /* rings per client announced in HELLO; 0: 16 */
	/* Called from usnet_memif_server_poll() when a connection comes up or
	 * goes down (before its memory is released). May be NULL. */
	void (*on_up)(void *ctx, struct usnet_memif_conn *c);
	void (*on_down)(void *ctx, struct usnet_memif_conn *c);
	/* Called when a connection is accepted, with the peer's SO_PEERCRED,
	 * before it takes one of the pending (pre-INIT) slots: NULL admits it,
	 * anything else is the reason sent in DISCONNECT before the server
	 * hangs up (counted in `refused`). May be NULL (usnetd: may this uid or
	 * gid use any of its interfaces). One uid holds at most 4 of the 64
	 * pending slots whatever this says. */
	const char *(*on_accept)(void *ctx, pid_t pid, uid_t uid, gid_t gid);
	/* Called when a client's INIT names a served interface that is free,
	 * with the client's SO_PEERCRED, before mode and secret are checked:
	 * NULL admits it, anything else is the reason sent in DISCONNECT (and
	 * counted in `refused`). May be NULL (usnetd's per-interface ACL). */
	const char *(*on_init)(void *ctx, struct usnet_memif_conn *c, pid_t pid, uid_t uid,
			       gid_t gid);
	void *ctx;
};

struct usnet_memif_server_stats {
	uint64_t accepted;   /* control connections accepted */
	uint64_t refused;    /* closed before CONNECTED (bad id, secret, message...) */
	uint64_t violations; /* protocol violations, all interfaces */
};

/* Listen on conf->path (a stale socket file nobody listens on is replaced). */
int usnet_memif_server_create(struct usnet_memif_server **out,
			      const struct usnet_memif_server_conf *conf);
/* Disconnects every client and removes the socket file. */
void usnet_memif_server_destroy(struct usnet_memif_server *srv);
/*
 * Serve interface `id`: a client whose INIT names it, with the right secret,
 * may connect, with at most max_c2s/max_s2c rings. *out stays valid until
 * usnet_memif_server_remove() or destroy. 0, -EEXIST, -ENOSPC, -EINVAL.
 */
int usnet_memif_server_add(struct usnet_memif_server *srv, struct usnet_memif_conn **out,
			   uint32_t id, const char *secret, uint16_t max_c2s, uint16_t max_s2c,
			   void *user);
/* End c's connection (if any), sending DISCONNECT with reason; not a violation. */
void usnet_memif_server_disconnect(struct usnet_memif_server *srv, struct usnet_memif_conn *c,
				   const char *reason);
/* Disconnect (if connected) and forget interface id. No burst may run on it. */
void usnet_memif_server_remove(struct usnet_memif_server *srv, uint32_t id);
/* One non-blocking step: accept, handshakes, disconnects. 0 or -errno. */
int usnet_memif_server_poll(struct usnet_memif_server *srv);
/* An epoll fd that is readable when usnet_memif_server_poll() has work. */
int usnet_memif_server_fd(const struct usnet_memif_server *srv);
void usnet_memif_server_get_stats(const struct usnet_memif_server *srv,
				  struct usnet_memif_server_stats *st);

#endif
