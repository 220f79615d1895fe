/* SPDX-License-Identifier: MIT */
/*
 * memif, the implementation's own header: shared by msg.c (transport and
 * pump), client.c, server.c (the two state machines) and queue.c (the data
 * path), and by tests/unit/test_memif.c, which tests the pure checks.
 * Nothing outside src/memif/ and that test includes it: usnetd, the memif:
 * port and the test peers use memif.h only (docs/memif.md, "Internal
 * API").
 */
#ifndef USNET_MEMIF_INTERNAL_H
#define USNET_MEMIF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <usnet/time.h>

#include "memif.h"

struct sockaddr_un;

/* conn->state */
enum {
	MEMIF_ST_IDLE,		 /* no control socket */
	MEMIF_ST_HELLO,		 /* client: waiting for HELLO */
	MEMIF_ST_ACK,		 /* client: waiting for the ACK of message `step` */
	MEMIF_ST_CONNECTED_WAIT, /* client: CONNECT sent */
	MEMIF_ST_CONFIG,	 /* server: INIT accepted, taking regions and rings */
	MEMIF_ST_UP,
};

#define HANDSHAKE_NS (5 * USNET_NSEC_PER_SEC) /* a peer that stalls the handshake is dropped */

/* ---- data path hooks for the control side (queue.c) ---- */

/* Control side: mark down and wait (bounded) until no burst runs. false: one still does. */
bool usnet_memif_quiesce(struct usnet_memif_conn *c);
/* Control side: publish a connection set up in *c to the data path. */
void usnet_memif_publish(struct usnet_memif_conn *c);

/*
 * Validation of what a peer sends, pure functions (queue.c). Each returns
 * NULL if acceptable, else the reason that goes into DISCONNECT.
 */
const char *usnet_memif_check_hello(const struct memif_msg_hello *h);
const char *usnet_memif_check_add_region(const struct usnet_memif_conn *c,
					 const struct memif_msg_add_region *ar, int fd);
const char *usnet_memif_check_add_ring(const struct usnet_memif_conn *c,
				       const struct memif_msg_add_ring *ar, int fd);
/* A ring of 1 << log2 descriptors at offset within a region of size bytes. */
const char *usnet_memif_check_ring_place(uint64_t region_size, uint32_t offset, unsigned log2);
/* A buffer [offset, offset + length) in region `region` of c. */
const char *usnet_memif_check_buffer(const struct usnet_memif_conn *c, uint16_t region,
				     uint32_t offset, uint32_t length);
/* The secret a client sent against the one configured; "" accepts any. */
const char *usnet_memif_check_secret(const char *want, const uint8_t got[MEMIF_SECRET_SZ]);

/* ---- messages (msg.c) ---- */

/* A peer's string of at most n bytes, not necessarily terminated, made printable. */
void copy_name(char *dst, size_t size, const uint8_t *src, size_t n);
/* src into a zeroed field of n bytes, cut at n. */
void put_name(uint8_t *dst, size_t n, const char *src);
/* "@name" is an abstract socket. 0 or -EINVAL (with usnet_last_error()). */
int sock_addr(const char *path, struct sockaddr_un *sa, socklen_t *len);
/* One message, with pass_fd (or none: -1). 0 or -errno. Never blocks. */
int msg_send(int fd, const struct memif_msg *m, int pass_fd);
int send_simple(int fd, uint16_t type);
/* Best effort: the caller closes the socket next. */
void send_disconnect(int fd, const char *reason);
/*
 * Receive one message. 1: *m holds it, *pass_fd the fd that came with it
 * (or -1; the caller's to keep or close), *bad a reason if it is malformed
 * (then no fd is left open); 0: nothing waiting; -errno: the peer closed
 * the socket (-ECONNRESET) or it failed. Every other descriptor that
 * arrived is closed before it returns.
 */
int msg_recv(int fd, struct memif_msg *m, int *pass_fd, const char **bad);

/* ---- the connection, both roles (msg.c) ---- */

void conn_init(struct usnet_memif_conn *c, enum usnet_memif_role role);
/* Server: give back what the client lent us. Only once the data path left. */
void server_release(struct usnet_memif_conn *c);
/* Release now if no burst runs, else mark release_pending for the next poll. */
void try_release(struct usnet_memif_conn *c);
/* End the connection: DISCONNECT with reason if tell, close, release (msg.c). */
void conn_down(struct usnet_memif_conn *c, const char *reason, bool tell, bool violation);

/*
 * A role's half of the pump. handle: one well-formed message that is not
 * DISCONNECT; *fd is the descriptor that came with it or -1, which handle
 * sets to -1 if it keeps it (the pump closes it otherwise). It returns NULL
 * or a violation, with which the pump ends the connection; it may also end
 * the connection itself (c->fd < 0 afterwards), which stops the pump.
 * down: how the role ends a connection (conn_down(), plus the server's
 * epoll and on_down).
 */
struct memif_role_ops {
	const char *(*handle)(void *role, struct usnet_memif_conn *c, const struct memif_msg *m,
			      int *fd);
	void (*down)(void *role, struct usnet_memif_conn *c, const char *reason, bool tell,
		     bool violation);
};

/*
 * The receive/dispatch pump of a connected control socket, both roles:
 * up to MSGS_PER_POLL (64) messages; a hang-up, a malformed message (size,
 * descriptors) and DISCONNECT end the connection here, every other message
 * goes to ops->handle. No descriptor stays open that handle did not keep.
 */
void msg_pump(struct usnet_memif_conn *c, const struct memif_role_ops *ops, void *role);

#endif
