/* SPDX-License-Identifier: MIT */
/*
 * memif control channel, message transport (both roles): SOCK_SEQPACKET
 * messages of 128 bytes, file descriptors passed with SCM_RIGHTS and every
 * received one kept or closed on every path, the message builders, the
 * connection's init and teardown, and the receive/dispatch pump that
 * client.c and server.c both drive their connected socket with.
 *
 * Message sequence (DPDK 22.11 doc/guides/nics/memif.rst, "Connection
 * establishment"; memif_socket.c):
 *
 *   client                        server
 *   connect()          ------>    accept()
 *                      <------    HELLO (limits)
 *   INIT (id, secret)  ------>
 *                      <------    ACK
 *   ADD_REGION + memfd ------>    (one per region)
 *                      <------    ACK
 *   ADD_RING + eventfd ------>    (one per ring, C2S then S2C)
 *                      <------    ACK
 *   CONNECT            ------>    maps regions, checks rings
 *                      <------    CONNECTED
 *   DISCONNECT (reason) <----->   either side, any time
 *
 * The client sends its next message only after the ACK for the previous
 * one, as DPDK and libmemif do (one queued message per received message).
 * Nothing here blocks: sockets are non-blocking and every call does one
 * bounded step.
 */
#define _GNU_SOURCE /* struct ucred, MSG_CMSG_CLOEXEC */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <usnet/log.h>

#include "internal.h"

#define MSGS_PER_POLL 64 /* bound on the work one poll does per socket */

/* ---- messages ---- */

void copy_name(char *dst, size_t size, const uint8_t *src, size_t n)
{
	size_t i;

	/* Peer strings need not be terminated (libmemif uses strncpy); keep them printable. */
	for (i = 0; i < n && i + 1 < size && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[i] = '\0';
}

void put_name(uint8_t *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	memcpy(dst, src, len < n ? len : n); /* the rest is already zero */
}

int sock_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(path);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (n == 0 || n >= sizeof(sa->sun_path))
		return usnet_error(EINVAL, "memif: socket path '%s' is empty or longer than %zu",
				   path, sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, path, n);
	if (path[0] == '@') /* abstract namespace, as DPDK's socket-abstract=yes */
		sa->sun_path[0] = '\0';
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'));
	return 0;
}

int msg_send(int fd, const struct memif_msg *m, int pass_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	ssize_t r;

	if (pass_fd >= 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = sizeof(ctl.buf);
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &pass_fd, sizeof(int));
	}
	r = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0)
		return -errno;
	return r == (ssize_t)sizeof(*m) ? 0 : -EIO;
}

int send_simple(int fd, uint16_t type)
{
	struct memif_msg m = {.type = type};

	return msg_send(fd, &m, -1);
}

void send_disconnect(int fd, const char *reason)
{
	struct memif_msg m = {.type = MEMIF_MSG_DISCONNECT};

	put_name(m.disconnect.string, sizeof(m.disconnect.string) - 1, reason);
	msg_send(fd, &m, -1); /* best effort: we close the socket next */
}

/*
 * Receive one message. 1: *m holds it, *pass_fd the fd that came with it
 * (or -1), *bad a reason if it is malformed; 0: nothing waiting; -errno:
 * the peer closed the socket (-ECONNRESET) or it failed.
 */
int msg_recv(int fd, struct memif_msg *m, int *pass_fd, const char **bad)
{
	union {
		char buf[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {
	    .msg_iov = &iov,
	    .msg_iovlen = 1,
	    .msg_control = ctl.buf,
	    .msg_controllen = sizeof(ctl.buf),
	};
	ssize_t r;

	*pass_fd = -1;
	*bad = NULL;
	r = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (r < 0)
		return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
	/* The descriptors are ours from here on, whatever the message is: every
	 * one is kept in *pass_fd or closed before we return, on every path. */
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t nfd;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue; /* SCM_CREDENTIALS and others carry no descriptor */
		nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*pass_fd < 0) {
				*pass_fd = f;
			} else { /* memif passes at most one fd per message */
				close(f);
				*bad = "Too many file descriptors";
			}
		}
	}
	if (r == 0) {
		/* SOCK_SEQPACKET: end of file, or a zero-length datagram (which may
		 * carry descriptors); either way the connection ends. */
		if (*pass_fd >= 0)
			close(*pass_fd);
		*pass_fd = -1;
		return -ECONNRESET;
	}
	if (r != (ssize_t)sizeof(*m) || (mh.msg_flags & MSG_TRUNC))
		*bad = "Invalid message size";
	else if (mh.msg_flags & MSG_CTRUNC) /* the kernel closed what did not fit */
		*bad = "Too many file descriptors";
	if (*bad && *pass_fd >= 0) {
		close(*pass_fd);
		*pass_fd = -1;
	}
	return 1;
}

/* ---- connection state shared by both roles ---- */

void conn_init(struct usnet_memif_conn *c, enum usnet_memif_role role)
{
	memset(c, 0, sizeof(*c));
	c->role = role;
	c->fd = -1;
	for (int i = 0; i < USNET_MEMIF_MAX_RINGS; i++)
		c->c2s[i].efd = c->s2c[i].efd = -1;
	for (int i = 0; i < USNET_MEMIF_MAX_REGIONS; i++)
		c->region[i].fd = -1;
}

/* Server: give back what the client lent us. Only once the data path left. */
void server_release(struct usnet_memif_conn *c)
{
	for (int i = 0; i < USNET_MEMIF_MAX_RINGS; i++) {
		struct usnet_memif_ring *rings[2] = {&c->c2s[i], &c->s2c[i]};

		for (int k = 0; k < 2; k++) {
			if (rings[k]->efd >= 0)
				close(rings[k]->efd);
			rings[k]->efd = -1;
			rings[k]->ring = NULL;
			rings[k]->added = false;
		}
	}
	for (int i = 0; i < c->nregions; i++) {
		struct usnet_memif_region *rg = &c->region[i];

		if (rg->addr)
			munmap(rg->addr, rg->size);
		if (rg->fd >= 0)
			close(rg->fd);
		rg->addr = NULL;
		rg->fd = -1;
	}
	c->nregions = 0;
	c->n_c2s = c->n_s2c = 0;
}

void try_release(struct usnet_memif_conn *c)
{
	if (!usnet_memif_quiesce(c)) {
		c->release_pending = true;
		return;
	}
	c->release_pending = false;
	atomic_store_explicit(&c->fault, NULL, memory_order_relaxed);
	if (c->role == USNET_MEMIF_SERVER)
		server_release(c);
}

/*
 * End the connection: tell the peer why (unless it told us), close the
 * socket, and release the memory once no burst runs. The data path sees the
 * link down from here on.
 */
void conn_down(struct usnet_memif_conn *c, const char *reason, bool tell, bool violation)
{
	if (c->fd >= 0) {
		if (tell)
			send_disconnect(c->fd, reason);
		close(c->fd);
		c->fd = -1;
	}
	if (violation) {
		c->violations++;
		USNET_WARN("memif: id %u: disconnecting peer '%s': %s", c->id, c->peer_name,
			   reason);
	} else {
		USNET_INFO("memif: id %u: disconnected: %s", c->id, reason);
	}
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
	c->state = MEMIF_ST_IDLE;
	try_release(c);
}

void msg_pump(struct usnet_memif_conn *c, const struct memif_role_ops *ops, void *role)
{
	for (int i = 0; i < MSGS_PER_POLL && c->fd >= 0; i++) {
		struct memif_msg m;
		const char *bad;
		int pass_fd, r = msg_recv(c->fd, &m, &pass_fd, &bad);

		if (r == 0)
			return;
		if (r < 0) {
			ops->down(role, c, "Connection closed by peer", false, false);
			return;
		}
		if (!bad && m.type == MEMIF_MSG_DISCONNECT) {
			char why[MEMIF_REASON_SZ + 1];

			if (pass_fd >= 0)
				close(pass_fd);
			copy_name(why, sizeof(why), m.disconnect.string, MEMIF_REASON_SZ);
			ops->down(role, c, why[0] ? why : "Disconnected by peer", false, false);
			return;
		}
		if (!bad)
			bad = ops->handle(role, c, &m, &pass_fd);
		if (pass_fd >= 0)
			close(pass_fd);
		if (bad) {
			ops->down(role, c, bad, true, true);
			return;
		}
	}
}
