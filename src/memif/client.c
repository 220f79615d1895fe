/* SPDX-License-Identifier: MIT */
/*
 * memif control channel, the client role: it owns the memory (one memfd
 * region, one eventfd per ring), connects (again at most every 100 ms while
 * the server is away), and runs the handshake one message per ACK
 * (msg.c has the message sequence and the transport).
 */
#define _GNU_SOURCE /* memfd_create(), F_ADD_SEALS */
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
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/time.h>

#include "internal.h"

#define RECONNECT_NS (100 * 1000 * 1000ull) /* at most one connect() per 100 ms */
#define DRAIN_NS     (200 * 1000 * 1000ull) /* close: wait this long for the server */

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

/*
 * One message from the server (msg_pump() took DISCONNECT and closes the
 * fd: a server never passes one). NULL, or the violation to disconnect with.
 */
static const char *client_handle(void *role, struct usnet_memif_conn *c, const struct memif_msg *m,
				 int *fd)
{
	struct usnet_memif_client *cl = role;
	const char *bad = NULL;
	int err;

	(void)fd;
	switch (c->state == MEMIF_ST_IDLE ? MEMIF_MSG_NONE : m->type) {
	case MEMIF_MSG_HELLO:
		if (c->state != MEMIF_ST_HELLO)
			break;
		bad = usnet_memif_check_hello(&m->hello);
		if (bad)
			return bad;
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
		return NULL;
	default:
		break;
	}
	return "Unexpected message";
send:
	err = client_send_step(cl);
	if (err)
		conn_down(c, "Failed to send a control message", false, false);
	return NULL;
}

static void client_down(void *role, struct usnet_memif_conn *c, const char *reason, bool tell,
			bool violation)
{
	(void)role;
	conn_down(c, reason, tell, violation);
}

static const struct memif_role_ops client_ops = {.handle = client_handle, .down = client_down};

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
	c->dials++;
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
	msg_pump(c, &client_ops, cl);
	if (c->fd >= 0 && c->state != MEMIF_ST_UP && now > cl->deadline_ns)
		conn_down(c, "Handshake timeout", true, false);
	return 0;
}

/* What client_create() made, once it has its region mapped; no control socket is open. */
static void client_free(struct usnet_memif_client *cl)
{
	struct usnet_memif_conn *c = &cl->conn;

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
	close(c->region[0].fd);
	free(cl);
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
	client_free(cl);
	return err;
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
	client_free(cl);
}
