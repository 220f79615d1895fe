/* SPDX-License-Identifier: MIT */
/*
 * memif control channel: SOCK_SEQPACKET messages of 128 bytes, file
 * descriptors passed with SCM_RIGHTS, the client and server state machines.
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
#define _GNU_SOURCE /* memfd_create(), F_ADD_SEALS, accept4(), struct ucred */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <usnet/log.h>
#include <usnet/time.h>

#include "memif.h"

enum {
	MEMIF_ST_IDLE,		 /* no control socket */
	MEMIF_ST_HELLO,		 /* client: waiting for HELLO */
	MEMIF_ST_ACK,		 /* client: waiting for the ACK of message `step` */
	MEMIF_ST_CONNECTED_WAIT, /* client: CONNECT sent */
	MEMIF_ST_CONFIG,	 /* server: INIT accepted, taking regions and rings */
	MEMIF_ST_UP,
};

#define RECONNECT_NS	(100 * 1000 * 1000ull)	 /* client: at most one connect() per 100 ms */
#define HANDSHAKE_NS	(5 * USNET_NSEC_PER_SEC) /* a peer that stalls the handshake is dropped */
#define MSGS_PER_POLL	64			 /* bound on the work one poll does per socket */
#define MAX_PENDING	64			 /* accepted sockets that have not sent INIT yet */
#define MAX_PENDING_UID 4			 /* ... of them from one uid */
#define BACKLOG		128			 /* connections the kernel queues before accept() */
#define MAX_IFACES	256
#define DRAIN_NS	(200 * 1000 * 1000ull) /* client close: wait this long for the server */

/* ---- messages ---- */

static void copy_name(char *dst, size_t size, const uint8_t *src, size_t n)
{
	size_t i;

	/* Peer strings need not be terminated (libmemif uses strncpy); keep them printable. */
	for (i = 0; i < n && i + 1 < size && src[i]; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[i] = '\0';
}

static void put_name(uint8_t *dst, size_t n, const char *src)
{
	size_t len = strlen(src);

	memcpy(dst, src, len < n ? len : n); /* the rest is already zero */
}

static int sock_addr(const char *path, struct sockaddr_un *sa, socklen_t *len)
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

static int msg_send(int fd, const struct memif_msg *m, int pass_fd)
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

static int send_simple(int fd, uint16_t type)
{
	struct memif_msg m = {.type = type};

	return msg_send(fd, &m, -1);
}

static void send_disconnect(int fd, const char *reason)
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
static int msg_recv(int fd, struct memif_msg *m, int *pass_fd, const char **bad)
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

static void conn_init(struct usnet_memif_conn *c, enum usnet_memif_role role)
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
static void server_release(struct usnet_memif_conn *c)
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

static void try_release(struct usnet_memif_conn *c)
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
static void conn_down(struct usnet_memif_conn *c, const char *reason, bool tell, bool violation)
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

/* ---- client ---- */

struct usnet_memif_client {
	struct usnet_memif_conn conn;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[MEMIF_NAME_SZ + 1];
	char if_name[MEMIF_NAME_SZ + 1];
	uint8_t log2_c2s, log2_s2c; /* configured; HELLO may lower them */
	int ep;			    /* epoll: control socket + reconnect timer */
	int tfd;		    /* timerfd: fires when the next connect() is due */
	uint64_t next_connect_ns;
	uint64_t deadline_ns; /* handshake must finish by then */
};

int usnet_memif_client_fd(const struct usnet_memif_client *cl)
{
	return cl->ep;
}

struct usnet_memif_conn *usnet_memif_client_conn(struct usnet_memif_client *cl)
{
	return &cl->conn;
}

/* Lay the rings out for this connection, from the server's limits in HELLO. */
static void client_setup_rings(struct usnet_memif_client *cl, const struct memif_msg_hello *h)
{
	struct usnet_memif_conn *c = &cl->conn;
	uint8_t max_log2 = h->max_log2_ring_size;

	c->n_c2s = c->max_c2s < h->max_c2s_ring + 1u ? c->max_c2s : (uint16_t)(h->max_c2s_ring + 1);
	c->n_s2c = c->max_s2c < h->max_s2c_ring + 1u ? c->max_s2c : (uint16_t)(h->max_s2c_ring + 1);
	for (int dir = 0; dir < 2; dir++) {
		struct usnet_memif_ring *rings = dir ? c->s2c : c->c2s;
		uint16_t n = dir ? c->n_s2c : c->n_c2s;
		uint8_t log2 = dir ? cl->log2_s2c : cl->log2_c2s;

		if (log2 > max_log2)
			log2 = max_log2;
		for (uint16_t i = 0; i < USNET_MEMIF_MAX_RINGS; i++) {
			struct usnet_memif_ring *r = &rings[i];
			struct memif_ring *ring;

			r->ring = NULL;
			r->own0 = 0;
			if (i >= n)
				continue;
			ring = (struct memif_ring *)(c->region[0].addr + r->offset);
			r->log2 = log2;
			r->size = (uint16_t)(1u << log2);
			r->mask = (uint16_t)(r->size - 1);
			/* DPDK memif_init_rings(): every slot owns one buffer, interrupts on. */
			ring->cookie = MEMIF_COOKIE;
			atomic_store_explicit(&ring->flags, 0, memory_order_relaxed);
			atomic_store_explicit(&ring->head, 0, memory_order_relaxed);
			atomic_store_explicit(&ring->tail, 0, memory_order_relaxed);
			for (uint32_t s = 0; s < r->size; s++) {
				ring->desc[s].flags = 0;
				ring->desc[s].region = 0;
				ring->desc[s].offset = r->buf_off + s * c->buf_size;
				ring->desc[s].length = c->buf_size;
				ring->desc[s].metadata = 0;
			}
			r->ring = ring;
		}
	}
}

/* The handshake's message number `step`: INIT, ADD_REGION, ADD_RINGs, CONNECT. */
static int client_send_step(struct usnet_memif_client *cl)
{
	struct usnet_memif_conn *c = &cl->conn;
	struct memif_msg m = {0};
	unsigned step = c->step;
	int fd = -1;

	if (step == 0) {
		m.type = MEMIF_MSG_INIT;
		m.init.version = MEMIF_VERSION;
		m.init.id = c->id;
		m.init.mode = MEMIF_MODE_ETHERNET;
		put_name(m.init.secret, MEMIF_SECRET_SZ, c->secret);
		put_name(m.init.name, MEMIF_NAME_SZ, cl->name);
	} else if (step == 1) {
		m.type = MEMIF_MSG_ADD_REGION;
		m.add_region.index = 0;
		m.add_region.size = c->region[0].size;
		fd = c->region[0].fd;
	} else if (step < 2u + c->n_c2s + c->n_s2c) {
		bool c2s = step < 2u + c->n_c2s;
		uint16_t i = (uint16_t)(c2s ? step - 2 : step - 2 - c->n_c2s);
		struct usnet_memif_ring *r = c2s ? &c->c2s[i] : &c->s2c[i];

		m.type = MEMIF_MSG_ADD_RING;
		m.add_ring.flags = c2s ? MEMIF_ADD_RING_FLAG_C2S : 0;
		m.add_ring.index = i;
		m.add_ring.region = 0;
		m.add_ring.offset = r->offset;
		m.add_ring.log2_ring_size = r->log2;
		fd = r->efd;
	} else {
		m.type = MEMIF_MSG_CONNECT;
		put_name(m.connect.if_name, MEMIF_NAME_SZ, cl->if_name);
		c->state = MEMIF_ST_CONNECTED_WAIT;
	}
	return msg_send(c->fd, &m, fd);
}

/* Handle one message from the server. false: the connection ended. */
static bool client_handle(struct usnet_memif_client *cl, const struct memif_msg *m)
{
	struct usnet_memif_conn *c = &cl->conn;
	const char *bad = NULL;
	int err;

	switch (c->state == MEMIF_ST_IDLE ? MEMIF_MSG_NONE : m->type) {
	case MEMIF_MSG_DISCONNECT: {
		char why[MEMIF_REASON_SZ + 1];

		copy_name(why, sizeof(why), m->disconnect.string, MEMIF_REASON_SZ);
		conn_down(c, why[0] ? why : "Disconnected by peer", false, false);
		return false;
	}
	case MEMIF_MSG_HELLO:
		if (c->state != MEMIF_ST_HELLO)
			break;
		bad = usnet_memif_check_hello(&m->hello);
		if (bad)
			goto violation;
		copy_name(c->peer_name, sizeof(c->peer_name), m->hello.name, MEMIF_NAME_SZ);
		client_setup_rings(cl, &m->hello);
		c->step = 0;
		c->state = MEMIF_ST_ACK;
		goto send;
	case MEMIF_MSG_ACK:
		if (c->state != MEMIF_ST_ACK)
			break;
		c->step++;
		goto send;
	case MEMIF_MSG_CONNECTED:
		if (c->state != MEMIF_ST_CONNECTED_WAIT)
			break;
		copy_name(c->peer_if_name, sizeof(c->peer_if_name), m->connected.if_name,
			  MEMIF_NAME_SZ);
		for (uint16_t i = 0; i < c->n_s2c; i++) {
			struct usnet_memif_ring *r = &c->s2c[i];

			/* As DPDK's memif_connect(): the receiver polls until it arms a ring. */
			atomic_store_explicit(&r->ring->flags, MEMIF_RING_FLAG_MASK_INT,
					      memory_order_relaxed);
			/* Offer every S2C buffer now, not at our first rx_burst (which is what
			 * DPDK's client does): a server that sends at once, like testpmd's
			 * io forward, would otherwise drop those frames. The descriptors were
			 * filled in client_setup_rings(); release publishes them. */
			r->own0 = r->size;
			atomic_store_explicit(&r->ring->head, r->size, memory_order_release);
		}
		c->state = MEMIF_ST_UP;
		c->connects++;
		c->reason[0] = '\0';
		usnet_memif_publish(c);
		USNET_INFO("memif: client id %u connected to '%s' (%u+%u rings)", c->id,
			   c->peer_name, c->n_c2s, c->n_s2c);
		return true;
	default:
		break;
	}
	bad = "Unexpected message";
violation:
	conn_down(c, bad, true, true);
	return false;
send:
	err = client_send_step(cl);
	if (err) {
		conn_down(c, "Failed to send a control message", false, false);
		return false;
	}
	return true;
}

static void client_arm_timer(struct usnet_memif_client *cl, uint64_t now)
{
	uint64_t wait = cl->next_connect_ns > now ? cl->next_connect_ns - now : 1;
	struct itimerspec its = {
	    .it_value = {.tv_sec = (time_t)(wait / USNET_NSEC_PER_SEC),
			 .tv_nsec = (long)(wait % USNET_NSEC_PER_SEC)},
	};

	timerfd_settime(cl->tfd, 0, &its, NULL);
}

static void client_try_connect(struct usnet_memif_client *cl, uint64_t now)
{
	struct usnet_memif_conn *c = &cl->conn;
	struct epoll_event ev = {.events = EPOLLIN};
	struct sockaddr_un sa;
	socklen_t len = 0;
	uint64_t ticks;
	int fd;

	if (read(cl->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		return;
	if (now < cl->next_connect_ns) {
		client_arm_timer(cl, now);
		return;
	}
	cl->next_connect_ns = now + RECONNECT_NS;
	client_arm_timer(cl, now);
	if (sock_addr(cl->path, &sa, &len))
		return;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	/* A UNIX connect completes at once or fails (ENOENT, ECONNREFUSED,
	 * EAGAIN when the backlog is full): no EINPROGRESS to track. */
	if (connect(fd, (struct sockaddr *)&sa, len) < 0) {
		c->connect_errno = errno;
		snprintf(c->reason, sizeof(c->reason), "connect: %s", strerror(errno));
		close(fd);
		return;
	}
	ev.data.fd = fd;
	epoll_ctl(cl->ep, EPOLL_CTL_ADD, fd, &ev);
	/* Connected: the timer must not wake a sleeping application any more. */
	timerfd_settime(cl->tfd, 0, &(struct itimerspec){0}, NULL);
	if (read(cl->tfd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		USNET_DEBUG("memif: timerfd read failed");
	c->fd = fd;
	c->connect_errno = 0;
	c->state = MEMIF_ST_HELLO;
	cl->deadline_ns = now + HANDSHAKE_NS;
}

int usnet_memif_client_poll(struct usnet_memif_client *cl)
{
	struct usnet_memif_conn *c = &cl->conn;
	const char *why = atomic_load_explicit(&c->fault, memory_order_relaxed);
	uint64_t now = usnet_now_ns();

	if (c->fd >= 0 && why)
		conn_down(c, why, true, true);
	if (c->fd < 0) {
		if (c->release_pending)
			try_release(c);
		if (c->release_pending)
			return 0;
		client_try_connect(cl, now);
		if (c->fd < 0)
			return 0;
	}
	for (int i = 0; i < MSGS_PER_POLL && c->fd >= 0; i++) {
		struct memif_msg m;
		const char *bad;
		int pass_fd, r = msg_recv(c->fd, &m, &pass_fd, &bad);

		if (r == 0)
			break;
		if (r < 0) {
			conn_down(c, "Connection closed by peer", false, false);
			break;
		}
		if (pass_fd >= 0)
			close(pass_fd); /* a server never passes fds */
		if (bad) {
			conn_down(c, bad, true, true);
			break;
		}
		if (!client_handle(cl, &m))
			break;
	}
	if (c->fd >= 0 && c->state != MEMIF_ST_UP && now > cl->deadline_ns)
		conn_down(c, "Handshake timeout", true, false);
	return 0;
}

int usnet_memif_client_create(struct usnet_memif_client **out,
			      const struct usnet_memif_client_conf *conf)
{
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	struct sockaddr_un sa;
	struct epoll_event ev = {.events = EPOLLIN};
	uint64_t off = 0, bufs = 0;
	socklen_t len = 0;
	int err;

	err = sock_addr(conf->path, &sa, &len);
	if (err)
		return err;
	if (conf->c2s > USNET_MEMIF_MAX_RINGS || conf->s2c > USNET_MEMIF_MAX_RINGS ||
	    conf->log2_c2s > MEMIF_MAX_LOG2_RING || conf->log2_s2c > MEMIF_MAX_LOG2_RING)
		return usnet_error(EINVAL, "memif: at most %d queues and 2^%d descriptors a ring",
				   USNET_MEMIF_MAX_RINGS, MEMIF_MAX_LOG2_RING);
	if (conf->secret && strlen(conf->secret) > MEMIF_SECRET_SZ)
		return usnet_error(EINVAL, "memif: secret is longer than %d characters",
				   MEMIF_SECRET_SZ);
	cl = calloc(1, sizeof(*cl));
	if (!cl)
		return usnet_error(ENOMEM, "memif: out of memory");
	c = &cl->conn;
	conn_init(c, USNET_MEMIF_CLIENT);
	cl->ep = cl->tfd = -1;
	snprintf(cl->path, sizeof(cl->path), "%s", conf->path);
	snprintf(cl->name, sizeof(cl->name), "%s", conf->name ? conf->name : "usnet");
	snprintf(cl->if_name, sizeof(cl->if_name), "%s", conf->if_name ? conf->if_name : "memif");
	snprintf(c->secret, sizeof(c->secret), "%s", conf->secret ? conf->secret : "");
	c->id = conf->id;
	c->max_c2s = conf->c2s ? conf->c2s : 1;
	c->max_s2c = conf->s2c ? conf->s2c : 1;
	c->buf_size = conf->buf_size ? conf->buf_size : MEMIF_DEFAULT_BUF_SIZE;
	cl->log2_c2s = conf->log2_c2s ? conf->log2_c2s : MEMIF_DEFAULT_LOG2_RING;
	cl->log2_s2c = conf->log2_s2c ? conf->log2_s2c : MEMIF_DEFAULT_LOG2_RING;

	/* One region, DPDK's copy-mode layout: C2S rings, S2C rings, then
	 * 1 << log2 buffers per ring (doc/guides/nics/memif.rst "Shared memory"). */
	for (int dir = 0; dir < 2; dir++)
		for (uint16_t i = 0; i < (dir ? c->max_s2c : c->max_c2s); i++) {
			uint8_t log2 = dir ? cl->log2_s2c : cl->log2_c2s;

			(dir ? c->s2c : c->c2s)[i].offset = (uint32_t)off;
			off += memif_ring_bytes(log2);
		}
	off = (off + 63) & ~63ull;
	for (int dir = 0; dir < 2; dir++)
		for (uint16_t i = 0; i < (dir ? c->max_s2c : c->max_c2s); i++) {
			uint8_t log2 = dir ? cl->log2_s2c : cl->log2_c2s;

			(dir ? c->s2c : c->c2s)[i].buf_off = (uint32_t)(off + bufs);
			bufs += ((uint64_t)c->buf_size << log2);
		}
	c->region[0].size = off + bufs;
	if (c->region[0].size >= USNET_MEMIF_MAX_REGION_SIZE) {
		err = usnet_error(EINVAL, "memif: rings and buffers need %llu bytes, over 4 GiB",
				  (unsigned long long)c->region[0].size);
		goto err_free;
	}
	c->region[0].fd = memfd_create("usnet-memif", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (c->region[0].fd < 0) {
		err = usnet_error(errno, "memif: memfd_create: %s", strerror(errno));
		goto err_free;
	}
	/* The server maps it: sealing against shrinking keeps its mapping valid. */
	if (ftruncate(c->region[0].fd, (off_t)c->region[0].size) < 0 ||
	    fcntl(c->region[0].fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		err = usnet_error(errno, "memif: sizing the region: %s", strerror(errno));
		goto err_region;
	}
	c->region[0].addr =
	    mmap(NULL, c->region[0].size, PROT_READ | PROT_WRITE, MAP_SHARED, c->region[0].fd, 0);
	if (c->region[0].addr == MAP_FAILED) {
		c->region[0].addr = NULL;
		err = usnet_error(errno, "memif: mmap of %llu bytes: %s",
				  (unsigned long long)c->region[0].size, strerror(errno));
		goto err_region;
	}
	c->nregions = 1;
	for (int i = 0; i < USNET_MEMIF_MAX_RINGS; i++) {
		if ((i < c->max_c2s &&
		     (c->c2s[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) ||
		    (i < c->max_s2c &&
		     (c->s2c[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)) {
			err = usnet_error(errno, "memif: eventfd: %s", strerror(errno));
			goto err_fds;
		}
	}
	cl->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	cl->ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = cl->tfd;
	if (cl->tfd < 0 || cl->ep < 0 || epoll_ctl(cl->ep, EPOLL_CTL_ADD, cl->tfd, &ev) < 0) {
		err = usnet_error(errno, "memif: timerfd/epoll: %s", strerror(errno));
		goto err_fds;
	}
	snprintf(c->reason, sizeof(c->reason), "not connected yet");
	*out = cl;
	return 0;

err_fds:
	if (cl->ep >= 0)
		close(cl->ep);
	if (cl->tfd >= 0)
		close(cl->tfd);
	for (int i = 0; i < USNET_MEMIF_MAX_RINGS; i++) {
		if (c->c2s[i].efd >= 0)
			close(c->c2s[i].efd);
		if (c->s2c[i].efd >= 0)
			close(c->s2c[i].efd);
	}
	munmap(c->region[0].addr, c->region[0].size);
err_region:
	close(c->region[0].fd);
err_free:
	free(cl);
	return err;
}

/*
 * Before a connected client hangs up: give the server a moment (bounded)
 * to take the frames tx_burst already accepted, so that a program that
 * sends N frames and closes has sent N. Ring cursors are valid only if a
 * burst ran in this connection (r->gen).
 */
static void client_drain(struct usnet_memif_conn *c)
{
	uint32_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);
	uint64_t end = usnet_now_ns() + DRAIN_NS;

	while (usnet_now_ns() < end) {
		bool pending = false;

		for (uint16_t i = 0; i < c->n_c2s; i++) {
			struct usnet_memif_ring *r = &c->c2s[i];

			/* Acquire pairs with the server's release of tail. */
			pending |=
			    r->ring && r->gen == gen &&
			    atomic_load_explicit(&r->ring->tail, memory_order_acquire) != r->own;
		}
		if (!pending)
			return;
		usleep(500);
	}
}

/* The caller guarantees no burst runs any more. */
void usnet_memif_client_destroy(struct usnet_memif_client *cl)
{
	struct usnet_memif_conn *c;

	if (!cl)
		return;
	c = &cl->conn;
	if (usnet_memif_up(c))
		client_drain(c);
	if (c->fd >= 0)
		conn_down(c, "Client closed", true, false);
	for (int i = 0; i < USNET_MEMIF_MAX_RINGS; i++) {
		if (c->c2s[i].efd >= 0)
			close(c->c2s[i].efd);
		if (c->s2c[i].efd >= 0)
			close(c->s2c[i].efd);
	}
	munmap(c->region[0].addr, c->region[0].size);
	close(c->region[0].fd);
	close(cl->tfd);
	close(cl->ep);
	free(cl);
}

/* ---- server ---- */

enum { TAG_LISTEN = 1, TAG_PENDING, TAG_CONN };

struct pending {
	int fd; /* -1: free slot */
	uid_t uid;
	uint64_t deadline_ns;
};

struct usnet_memif_server {
	struct usnet_memif_server_conf conf;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[MEMIF_NAME_SZ + 1];
	int lfd, ep;
	struct pending pend[MAX_PENDING];
	struct usnet_memif_conn *ifs[MAX_IFACES];
	struct usnet_memif_server_stats st;
};

static uint64_t tag(unsigned kind, unsigned idx)
{
	return ((uint64_t)kind << 32) | idx;
}

int usnet_memif_server_fd(const struct usnet_memif_server *srv)
{
	return srv->ep;
}

void usnet_memif_server_get_stats(const struct usnet_memif_server *srv,
				  struct usnet_memif_server_stats *st)
{
	*st = srv->st;
}

static void pending_close(struct usnet_memif_server *srv, struct pending *p, const char *reason)
{
	if (reason) {
		send_disconnect(p->fd, reason);
		srv->st.refused++;
		USNET_INFO("memif: server %s: refused a client: %s", srv->path, reason);
	}
	epoll_ctl(srv->ep, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	p->fd = -1;
}

static void server_down(struct usnet_memif_server *srv, struct usnet_memif_conn *c,
			const char *reason, bool tell, bool violation)
{
	bool was_up = c->state == MEMIF_ST_UP;

	if (c->fd >= 0)
		epoll_ctl(srv->ep, EPOLL_CTL_DEL, c->fd, NULL);
	if (violation)
		srv->st.violations++;
	else if (!was_up && c->fd >= 0)
		srv->st.refused++;
	/* Mark down for the data path first, then let the owner unhook the eventfds. */
	usnet_memif_quiesce(c);
	if (was_up && srv->conf.on_down)
		srv->conf.on_down(srv->conf.ctx, c);
	conn_down(c, reason, tell, violation);
}

/*
 * Admission, before a peer gets a pending slot (docs/usnetd.md, "Who may
 * connect"): its SO_PEERCRED must be one the owner may serve at all, and
 * one uid holds at most MAX_PENDING_UID of the slots, so that nobody can
 * take them all and lock the others out. NULL: admitted.
 */
static const char *admit(struct usnet_memif_server *srv, int fd, struct ucred *cred)
{
	socklen_t clen = sizeof(*cred);
	unsigned same = 0;
	const char *bad;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, &clen) < 0)
		return "Peer credentials unavailable";
	bad = srv->conf.on_accept
		  ? srv->conf.on_accept(srv->conf.ctx, cred->pid, cred->uid, cred->gid)
		  : NULL;
	if (bad)
		return bad;
	for (int i = 0; i < MAX_PENDING; i++)
		same += srv->pend[i].fd >= 0 && srv->pend[i].uid == cred->uid;
	return same >= MAX_PENDING_UID ? "Too many pending connections from this uid" : NULL;
}

/* Refused at accept: the reason, and no slot. Logged at debug level only:
 * a peer that retries would otherwise fill the log. */
static void refuse(struct usnet_memif_server *srv, int fd, const struct ucred *cred,
		   const char *reason)
{
	(void)cred; /* with debug messages compiled out */
	send_disconnect(fd, reason);
	close(fd);
	srv->st.refused++;
	USNET_DEBUG("memif: server %s: refused pid %d uid %u at accept: %s", srv->path,
		    (int)cred->pid, (unsigned)cred->uid, reason);
}

static void server_accept(struct usnet_memif_server *srv, uint64_t now)
{
	/* Bounded per call, so that a flood of connects cannot hold the loop. */
	for (int n = 0; n < MAX_PENDING; n++) {
		struct epoll_event ev = {.events = EPOLLIN};
		struct memif_msg m = {.type = MEMIF_MSG_HELLO};
		struct ucred cred = {.pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1};
		struct pending *p = NULL;
		int fd = accept4(srv->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		const char *bad;

		if (fd < 0)
			return;
		srv->st.accepted++;
		bad = admit(srv, fd, &cred);
		for (int i = 0; i < MAX_PENDING && !p && !bad; i++)
			if (srv->pend[i].fd < 0)
				p = &srv->pend[i];
		if (!bad && !p)
			bad = "Too many pending connections";
		if (bad) {
			refuse(srv, fd, &cred, bad);
			continue;
		}
		/* memif_msg_enq_hello(): our limits; ring limits are highest indices. */
		put_name(m.hello.name, MEMIF_NAME_SZ, srv->name);
		m.hello.min_version = MEMIF_VERSION;
		m.hello.max_version = MEMIF_VERSION;
		m.hello.max_region = USNET_MEMIF_MAX_REGIONS - 1;
		m.hello.max_c2s_ring = (uint16_t)(srv->conf.max_c2s - 1);
		m.hello.max_s2c_ring = (uint16_t)(srv->conf.max_s2c - 1);
		m.hello.max_log2_ring_size = MEMIF_MAX_LOG2_RING;
		ev.data.u64 = tag(TAG_PENDING, (unsigned)(p - srv->pend));
		if (msg_send(fd, &m, -1) < 0 || epoll_ctl(srv->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		p->fd = fd;
		p->uid = cred.uid;
		p->deadline_ns = now + HANDSHAKE_NS;
	}
}

static struct usnet_memif_conn *find_iface(struct usnet_memif_server *srv, uint32_t id,
					   unsigned *idx)
{
	for (unsigned i = 0; i < MAX_IFACES; i++) {
		if (srv->ifs[i] && srv->ifs[i]->id == id) {
			if (idx)
				*idx = i;
			return srv->ifs[i];
		}
	}
	return NULL;
}

/* A socket that has seen HELLO: the only acceptable message is INIT. */
static void pending_read(struct usnet_memif_server *srv, struct pending *p, uint64_t now)
{
	struct epoll_event ev = {.events = EPOLLIN};
	struct usnet_memif_conn *c;
	struct memif_msg m;
	const char *bad;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	unsigned idx;
	int pass_fd, r = msg_recv(p->fd, &m, &pass_fd, &bad);

	if (r == 0)
		return;
	if (r < 0) {
		pending_close(srv, p, NULL);
		return;
	}
	if (pass_fd >= 0)
		close(pass_fd); /* INIT carries no fd */
	if (bad) {
		pending_close(srv, p, bad);
		return;
	}
	/* memif_msg_receive_init() */
	if (m.type != MEMIF_MSG_INIT) {
		pending_close(srv, p, "Unexpected message");
		return;
	}
	if (m.init.version != MEMIF_VERSION) {
		pending_close(srv, p, "Incompatible memif version");
		return;
	}
	c = find_iface(srv, m.init.id, &idx);
	if (!c) {
		pending_close(srv, p, "ID not found");
		return;
	}
	if (c->fd >= 0 || c->release_pending) {
		pending_close(srv, p, "Already connected");
		return;
	}
	if (getsockopt(p->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		pending_close(srv, p, "Peer credentials unavailable");
		return;
	}
	bad = srv->conf.on_init ? srv->conf.on_init(srv->conf.ctx, c, cred.pid, cred.uid, cred.gid)
				: NULL;
	if (bad) {
		pending_close(srv, p, bad);
		return;
	}
	if (m.init.mode != MEMIF_MODE_ETHERNET) {
		pending_close(srv, p, "Only ethernet mode supported");
		return;
	}
	bad = usnet_memif_check_secret(c->secret, m.init.secret);
	if (bad) {
		pending_close(srv, p, bad);
		return;
	}
	ev.data.u64 = tag(TAG_CONN, idx);
	if (epoll_ctl(srv->ep, EPOLL_CTL_MOD, p->fd, &ev) < 0 ||
	    send_simple(p->fd, MEMIF_MSG_ACK)) {
		pending_close(srv, p, NULL);
		return;
	}
	c->fd = p->fd;
	p->fd = -1;
	c->state = MEMIF_ST_CONFIG;
	c->deadline_ns = now + HANDSHAKE_NS;
	c->peer_if_name[0] = '\0';
	copy_name(c->peer_name, sizeof(c->peer_name), m.init.name, MEMIF_NAME_SZ);
	c->peer_pid = cred.pid;
	c->peer_uid = cred.uid;
	c->peer_gid = cred.gid;
}

/*
 * We map the region for as long as the client is connected, so its memory
 * must not be able to vanish under us, which would be SIGBUS on our next
 * access (docs/memif.md, "The client's region"):
 *
 *  - shmem, i.e. a memfd_create() without MFD_HUGETLB: a page the client
 *    punches out (fallocate FALLOC_FL_PUNCH_HOLE) faults back in as a fresh
 *    zero page. A hugetlbfs memfd is refused: a punched huge page comes back
 *    only if a free huge page is left, and the client can take them all.
 *  - sealed with F_SEAL_SHRINK, looked at before the size: seals can be
 *    added but never removed, so the size seen afterwards can only grow.
 *    (Size first would let the client shrink and seal in between.)
 */
static const char *region_memory_check(int fd, uint64_t size)
{
	struct statfs sfs = {0};
	struct stat stt;
	int seals;

	if (fstatfs(fd, &sfs) < 0 || sfs.f_type != TMPFS_MAGIC)
		return sfs.f_type == HUGETLBFS_MAGIC ? "Region fd is hugetlbfs, not shmem"
						     : "Region fd is not a shmem memfd";
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		return "Region fd not sealed against shrinking";
	if (fstat(fd, &stt) < 0 || (uint64_t)stt.st_size < size)
		return "Region fd smaller than region";
	return NULL;
}

static const char *server_add_region(struct usnet_memif_conn *c,
				     const struct memif_msg_add_region *ar, int fd)
{
	const char *bad = usnet_memif_check_add_region(c, ar, fd);
	struct usnet_memif_region *rg;
	void *addr;

	if (!bad)
		bad = region_memory_check(fd, ar->size);
	if (bad)
		return bad;
	addr = mmap(NULL, ar->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (addr == MAP_FAILED)
		return "Region mmap failed";
	rg = &c->region[c->nregions++];
	rg->addr = addr;
	rg->size = ar->size;
	rg->fd = fd;
	return NULL;
}

static const char *server_add_ring(struct usnet_memif_conn *c, const struct memif_msg_add_ring *ar,
				   int fd)
{
	const char *bad = usnet_memif_check_add_ring(c, ar, fd);
	struct usnet_memif_ring *r;
	char path[64], link[64];
	ssize_t n;

	if (bad)
		return bad;
	/* We read and write it on the data path: it must be an eventfd, non-blocking. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0 || (link[n] = '\0', strcmp(link, "anon_inode:[eventfd]")) != 0)
		return "Interrupt fd is not an eventfd";
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return "Interrupt fd unusable";
	r = (ar->flags & MEMIF_ADD_RING_FLAG_C2S) ? &c->c2s[ar->index] : &c->s2c[ar->index];
	r->added = true;
	r->efd = fd;
	r->log2 = ar->log2_ring_size;
	r->region = ar->region;
	r->offset = ar->offset;
	return NULL;
}

/* CONNECT: everything announced must add up to usable rings. */
static const char *server_connect(struct usnet_memif_conn *c)
{
	for (int dir = 0; dir < 2; dir++) {
		struct usnet_memif_ring *rings = dir ? c->s2c : c->c2s;
		uint16_t n = 0;

		while (n < USNET_MEMIF_MAX_RINGS && rings[n].added)
			n++;
		if (n == 0)
			return "No rings";
		for (uint16_t i = n; i < USNET_MEMIF_MAX_RINGS; i++)
			if (rings[i].added)
				return "Ring indices not contiguous";
		for (uint16_t i = 0; i < n; i++) {
			struct usnet_memif_ring *r = &rings[i];
			const char *bad;

			if (r->region >= c->nregions)
				return "Ring region invalid";
			bad = usnet_memif_check_ring_place(c->region[r->region].size, r->offset,
							   r->log2);
			if (bad)
				return bad;
			r->ring = (struct memif_ring *)(c->region[r->region].addr + r->offset);
			if (r->ring->cookie != MEMIF_COOKIE)
				return "Wrong ring cookie";
			r->size = (uint16_t)(1u << r->log2);
			r->mask = (uint16_t)(r->size - 1);
		}
		if (dir)
			c->n_s2c = n;
		else
			c->n_c2s = n;
	}
	/* DPDK memif_connect(): our side's indices start at 0; we poll C2S. */
	for (uint16_t i = 0; i < c->n_c2s; i++) {
		atomic_store_explicit(&c->c2s[i].ring->tail, 0, memory_order_relaxed);
		atomic_store_explicit(&c->c2s[i].ring->flags, MEMIF_RING_FLAG_MASK_INT,
				      memory_order_relaxed);
	}
	for (uint16_t i = 0; i < c->n_s2c; i++)
		atomic_store_explicit(&c->s2c[i].ring->tail, 0, memory_order_relaxed);
	return NULL;
}

static void conn_read(struct usnet_memif_server *srv, struct usnet_memif_conn *c)
{
	for (int i = 0; i < MSGS_PER_POLL && c->fd >= 0; i++) {
		struct memif_msg m;
		const char *bad;
		int pass_fd, r = msg_recv(c->fd, &m, &pass_fd, &bad);

		if (r == 0)
			return;
		if (r < 0) {
			server_down(srv, c, "Connection closed by peer", false, false);
			return;
		}
		if (!bad && m.type == MEMIF_MSG_DISCONNECT) {
			char why[MEMIF_REASON_SZ + 1];

			if (pass_fd >= 0)
				close(pass_fd);
			copy_name(why, sizeof(why), m.disconnect.string, MEMIF_REASON_SZ);
			server_down(srv, c, why[0] ? why : "Disconnected by peer", false, false);
			return;
		}
		if (!bad && c->state == MEMIF_ST_CONFIG) {
			switch (m.type) {
			case MEMIF_MSG_ADD_REGION:
				bad = server_add_region(c, &m.add_region, pass_fd);
				pass_fd = bad ? pass_fd : -1; /* taken */
				break;
			case MEMIF_MSG_ADD_RING:
				bad = server_add_ring(c, &m.add_ring, pass_fd);
				pass_fd = bad ? pass_fd : -1;
				break;
			case MEMIF_MSG_CONNECT:
				bad = server_connect(c);
				if (!bad)
					copy_name(c->peer_if_name, sizeof(c->peer_if_name),
						  m.connect.if_name, MEMIF_NAME_SZ);
				break;
			default:
				bad = "Unexpected message";
			}
		} else if (!bad) {
			bad = "Unexpected message";
		}
		if (pass_fd >= 0)
			close(pass_fd);
		if (bad) {
			server_down(srv, c, bad, true, true);
			return;
		}
		if (send_simple(c->fd, m.type == MEMIF_MSG_CONNECT ? MEMIF_MSG_CONNECTED
								   : MEMIF_MSG_ACK)) {
			server_down(srv, c, "Failed to send a control message", false, false);
			return;
		}
		if (m.type == MEMIF_MSG_CONNECT) {
			c->state = MEMIF_ST_UP;
			c->connects++;
			c->reason[0] = '\0';
			usnet_memif_publish(c);
			USNET_INFO("memif: server %s: id %u up, client '%s' pid %d (%u+%u rings)",
				   srv->path, c->id, c->peer_name, (int)c->peer_pid, c->n_c2s,
				   c->n_s2c);
			if (srv->conf.on_up)
				srv->conf.on_up(srv->conf.ctx, c);
		}
	}
}

int usnet_memif_server_poll(struct usnet_memif_server *srv)
{
	struct epoll_event ev[32];
	uint64_t now = usnet_now_ns();
	int n = epoll_wait(srv->ep, ev, 32, 0);

	for (int i = 0; i < n; i++) {
		unsigned kind = (unsigned)(ev[i].data.u64 >> 32), idx = (unsigned)ev[i].data.u64;

		if (kind == TAG_LISTEN)
			server_accept(srv, now);
		else if (kind == TAG_PENDING && srv->pend[idx].fd >= 0)
			pending_read(srv, &srv->pend[idx], now);
		else if (kind == TAG_CONN && srv->ifs[idx] && srv->ifs[idx]->fd >= 0)
			conn_read(srv, srv->ifs[idx]);
	}
	for (int i = 0; i < MAX_PENDING; i++)
		if (srv->pend[i].fd >= 0 && now > srv->pend[i].deadline_ns)
			pending_close(srv, &srv->pend[i], "Handshake timeout");
	for (int i = 0; i < MAX_IFACES; i++) {
		struct usnet_memif_conn *c = srv->ifs[i];
		const char *why;

		if (!c)
			continue;
		why = atomic_load_explicit(&c->fault, memory_order_relaxed);
		if (c->fd >= 0 && why)
			server_down(srv, c, why, true, true);
		else if (c->fd >= 0 && c->state != MEMIF_ST_UP && now > c->deadline_ns)
			server_down(srv, c, "Handshake timeout", true, false);
		else if (c->fd < 0 && c->release_pending)
			try_release(c);
	}
	return n < 0 && errno != EINTR ? -errno : 0;
}

/* A socket file left behind by a server that died: nobody accepts on it. */
static bool stale_socket(const char *path, const struct sockaddr_un *sa, socklen_t len)
{
	int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	struct stat stt;
	bool stale;

	if (probe < 0)
		return false;
	stale = connect(probe, (const struct sockaddr *)sa, len) < 0 && errno == ECONNREFUSED &&
		lstat(path, &stt) == 0 && S_ISSOCK(stt.st_mode);
	close(probe);
	return stale;
}

static int server_bind(struct usnet_memif_server *srv)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	int err = sock_addr(srv->path, &sa, &len);

	if (err)
		return err;
	srv->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (srv->lfd < 0)
		return usnet_error(errno, "memif: socket: %s", strerror(errno));
	if (bind(srv->lfd, (struct sockaddr *)&sa, len) < 0) {
		err = errno;
		if (err != EADDRINUSE || srv->path[0] == '@' ||
		    !stale_socket(srv->path, &sa, len) || unlink(srv->path) < 0 ||
		    bind(srv->lfd, (struct sockaddr *)&sa, len) < 0)
			return usnet_error(err, "memif: bind %s: %s", srv->path, strerror(err));
	}
	if (listen(srv->lfd, BACKLOG) < 0)
		return usnet_error(errno, "memif: listen %s: %s", srv->path, strerror(errno));
	return 0;
}

int usnet_memif_server_create(struct usnet_memif_server **out,
			      const struct usnet_memif_server_conf *conf)
{
	struct usnet_memif_server *srv = calloc(1, sizeof(*srv));
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = tag(TAG_LISTEN, 0)};
	int err;

	if (!srv)
		return usnet_error(ENOMEM, "memif: out of memory");
	srv->conf = *conf;
	srv->conf.max_c2s = conf->max_c2s ? conf->max_c2s : USNET_MEMIF_MAX_RINGS;
	srv->conf.max_s2c = conf->max_s2c ? conf->max_s2c : USNET_MEMIF_MAX_RINGS;
	srv->lfd = srv->ep = -1;
	for (int i = 0; i < MAX_PENDING; i++)
		srv->pend[i].fd = -1;
	snprintf(srv->name, sizeof(srv->name), "%s", conf->name ? conf->name : "usnet");
	if (srv->conf.max_c2s > USNET_MEMIF_MAX_RINGS ||
	    srv->conf.max_s2c > USNET_MEMIF_MAX_RINGS) {
		err = usnet_error(EINVAL, "memif: at most %d rings a direction",
				  USNET_MEMIF_MAX_RINGS);
		goto err_free;
	}
	if (!conf->path || strlen(conf->path) >= sizeof(srv->path)) {
		err = usnet_error(EINVAL, "memif: socket path missing or too long");
		goto err_free;
	}
	snprintf(srv->path, sizeof(srv->path), "%s", conf->path);
	err = server_bind(srv);
	if (err)
		goto err_sock;
	srv->ep = epoll_create1(EPOLL_CLOEXEC);
	if (srv->ep < 0 || epoll_ctl(srv->ep, EPOLL_CTL_ADD, srv->lfd, &ev) < 0) {
		err = usnet_error(errno, "memif: epoll: %s", strerror(errno));
		goto err_bound;
	}
	*out = srv;
	return 0;

err_bound:
	if (srv->ep >= 0)
		close(srv->ep);
	if (srv->path[0] != '@')
		unlink(srv->path);
err_sock:
	if (srv->lfd >= 0)
		close(srv->lfd);
err_free:
	free(srv);
	return err;
}

int usnet_memif_server_add(struct usnet_memif_server *srv, struct usnet_memif_conn **out,
			   uint32_t id, const char *secret, uint16_t max_c2s, uint16_t max_s2c,
			   void *user)
{
	struct usnet_memif_conn *c;
	int slot = -1;

	if (find_iface(srv, id, NULL))
		return usnet_error(EEXIST, "memif: interface id %u is already served", id);
	if (secret && strlen(secret) > MEMIF_SECRET_SZ)
		return usnet_error(EINVAL, "memif: secret is longer than %d characters",
				   MEMIF_SECRET_SZ);
	if (!max_c2s || !max_s2c || max_c2s > srv->conf.max_c2s || max_s2c > srv->conf.max_s2c)
		return usnet_error(EINVAL, "memif: id %u: 1..%u C2S and 1..%u S2C rings", id,
				   srv->conf.max_c2s, srv->conf.max_s2c);
	for (int i = 0; i < MAX_IFACES && slot < 0; i++)
		if (!srv->ifs[i])
			slot = i;
	if (slot < 0)
		return usnet_error(ENOSPC, "memif: more than %d interfaces", MAX_IFACES);
	c = malloc(sizeof(*c));
	if (!c)
		return usnet_error(ENOMEM, "memif: out of memory");
	conn_init(c, USNET_MEMIF_SERVER);
	c->id = id;
	c->max_c2s = max_c2s;
	c->max_s2c = max_s2c;
	c->user = user;
	snprintf(c->secret, sizeof(c->secret), "%s", secret ? secret : "");
	snprintf(c->reason, sizeof(c->reason), "no client yet");
	srv->ifs[slot] = c;
	if (out)
		*out = c;
	return 0;
}

void usnet_memif_server_disconnect(struct usnet_memif_server *srv, struct usnet_memif_conn *c,
				   const char *reason)
{
	if (c->fd >= 0)
		server_down(srv, c, reason, true, false);
}

void usnet_memif_server_remove(struct usnet_memif_server *srv, uint32_t id)
{
	unsigned idx;
	struct usnet_memif_conn *c = find_iface(srv, id, &idx);

	if (!c)
		return;
	if (c->fd >= 0)
		server_down(srv, c, "Interface removed", true, false);
	server_release(c); /* the caller guarantees no burst runs */
	free(c);
	srv->ifs[idx] = NULL;
}

void usnet_memif_server_destroy(struct usnet_memif_server *srv)
{
	if (!srv)
		return;
	for (int i = 0; i < MAX_IFACES; i++)
		if (srv->ifs[i])
			usnet_memif_server_remove(srv, srv->ifs[i]->id);
	for (int i = 0; i < MAX_PENDING; i++)
		if (srv->pend[i].fd >= 0)
			pending_close(srv, &srv->pend[i], "Server shutting down");
	close(srv->ep);
	close(srv->lfd);
	if (srv->path[0] != '@')
		unlink(srv->path);
	free(srv);
}
