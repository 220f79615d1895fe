/* SPDX-License-Identifier: MIT */
/*
 * memif:SOCKETPATH[,role=client|server][,id=N][,secret=S][,rsize=LOG2][,bsize=B]
 *       [,rxq=N][,txq=N][,wait=0|1]
 *
 * A memif interface (VPP, libmemif, DPDK net_memif, usnetd), copy mode.
 * role=client (default) connects to a server and owns the shared memory;
 * role=server listens on SOCKETPATH ("@name": abstract socket) and serves
 * one client with interface id N. RX queue q is the ring the peer sends on,
 * TX queue q the ring it receives on; queue counts come from the port conf
 * (or rxq/txq), ring sizes from rsize (log2) or the conf ring sizes.
 *
 * The link is up while the peer is CONNECTED. The control socket is served
 * from the burst calls, rate-limited (every 100 ms while up, every 1 ms while
 * down; a client retries connect() at most every 100 ms), and from
 * usnet_port_wait(), whose fd also wakes on control traffic: an application
 * survives its peer's restart without doing anything. docs/memif.md.
 *
 * A client's first connection is made inside usnet_port_open(), so that a
 * wrong path, a server that refuses it (its DISCONNECT reason: a wrong
 * secret, an unknown or busy id, a uid it does not admit) or one that never
 * answers is an error of the open, not a link that silently stays down.
 * wait=1 makes none of that final (a server not there yet, or starting):
 * the open says once what it waits for and returns, and the client keeps
 * trying in the background. Losing the server later, and each new reason
 * for not getting it back, are logged as warnings, once per reason.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <usnet/time.h>

#include "../memif/memif.h"
#include "port_impl.h"

extern const struct usnet_port_ops usnet_memif_ops; /* in the kinds table, port.c */

#define CTL_UP_NS   (100 * 1000 * 1000ull)
#define CTL_DOWN_NS (1000 * 1000ull)
/* Open: how long a client waits for the handshake to end, beyond the 5 s
 * after which the client side itself gives up on a silent server. */
#define OPEN_NS (6 * USNET_NSEC_PER_SEC)

struct memif_port {
	struct usnet_port port;
	struct usnet_memif_client *cl;	/* role=client */
	struct usnet_memif_server *srv; /* role=server */
	struct usnet_memif_conn *conn;
	pthread_mutex_t ctl_lock; /* one thread runs the control side at a time */
	_Atomic uint64_t next_ctl_ns;
	int qep[USNET_MAX_QUEUES]; /* per RX queue: epoll of its eventfd + the control fd */
	/* Client, under ctl_lock: what was last said about the link, so that a
	 * lost server or a refusal is logged once, not at every retry. */
	bool was_up;
	char said[MEMIF_REASON_SZ + 1];
};

static struct memif_port *to_mp(struct usnet_port *port)
{
	return usnet_container_of(port, struct memif_port, port);
}

/* Client, under ctl_lock: warn when the link went down or, while down, the
 * reason changed (a server that appeared but refuses us); and when it is
 * back after such a warning. */
static void client_report(struct memif_port *mp)
{
	const struct usnet_memif_conn *c = mp->conn;

	if (usnet_memif_up(c)) {
		/* Close the story the warnings told (and only then). */
		if (mp->said[0])
			USNET_WARN("memif:%s: connected to '%s'", mp->port.info.name, c->peer_name);
		mp->was_up = true;
		mp->said[0] = '\0';
		return;
	}
	if (c->fd >= 0 || !strcmp(c->reason, mp->said))
		return; /* handshake running, or nothing new */
	USNET_WARN("memif:%s: %s: %s; reconnecting in the background", mp->port.info.name,
		   mp->was_up ? "disconnected" : "not connected", c->reason);
	mp->was_up = false;
	snprintf(mp->said, sizeof(mp->said), "%s", c->reason);
}

/* Serve the control socket if it is due (or forced). Never blocks. */
static void ctl_step(struct memif_port *mp, bool force)
{
	uint64_t now = usnet_now_ns();

	if (!force && now < atomic_load_explicit(&mp->next_ctl_ns, memory_order_relaxed) &&
	    !atomic_load_explicit(&mp->conn->fault, memory_order_relaxed))
		return;
	if (pthread_mutex_trylock(&mp->ctl_lock))
		return; /* another queue's thread is at it */
	if (mp->cl) {
		usnet_memif_client_poll(mp->cl);
		client_report(mp);
	} else {
		usnet_memif_server_poll(mp->srv);
	}
	atomic_store_explicit(&mp->next_ctl_ns,
			      now + (usnet_memif_up(mp->conn) ? CTL_UP_NS : CTL_DOWN_NS),
			      memory_order_relaxed);
	pthread_mutex_unlock(&mp->ctl_lock);
}

static uint16_t memif_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			       uint16_t n)
{
	struct memif_port *mp = to_mp(port);

	ctl_step(mp, false);
	return usnet_memif_rx(mp->conn, queue, port->pool[queue], pkts, n, &port->stats[queue]);
}

static uint16_t memif_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			       uint16_t n)
{
	struct memif_port *mp = to_mp(port);

	ctl_step(mp, false);
	return usnet_memif_tx(mp->conn, queue, pkts, n, &port->stats[queue]);
}

static int memif_queue_fd(struct usnet_port *port, uint16_t queue)
{
	return to_mp(port)->qep[queue];
}

static bool memif_arm(struct usnet_port *port, uint16_t queue)
{
	struct memif_port *mp = to_mp(port);

	ctl_step(mp, true); /* drains the control fds so that poll() waits for news */
	return usnet_memif_arm(mp->conn, queue);
}

static int memif_link(struct usnet_port *port, struct usnet_link *link)
{
	struct memif_port *mp = to_mp(port);

	ctl_step(mp, false);
	link->up = usnet_memif_up(mp->conn);
	link->speed_mbps = 0;
	return 0;
}

/* Server role: the client's eventfds come and go with its connection. */
static void on_up(void *ctx, struct usnet_memif_conn *c)
{
	struct memif_port *mp = ctx;

	for (uint16_t q = 0; q < mp->port.info.rx_queues && q < c->n_c2s; q++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = c->c2s[q].efd};

		epoll_ctl(mp->qep[q], EPOLL_CTL_ADD, c->c2s[q].efd, &ev);
	}
}

static void on_down(void *ctx, struct usnet_memif_conn *c)
{
	struct memif_port *mp = ctx;

	/* Before the server closes them: the client holds the same eventfds, so
	 * closing ours would not take them out of our epoll sets. */
	for (uint16_t q = 0; q < mp->port.info.rx_queues && q < c->n_c2s; q++)
		epoll_ctl(mp->qep[q], EPOLL_CTL_DEL, c->c2s[q].efd, NULL);
}

static void memif_close(struct usnet_port *port)
{
	struct memif_port *mp = to_mp(port);

	usnet_memif_client_destroy(mp->cl);
	usnet_memif_server_destroy(mp->srv);
	for (int q = 0; q < USNET_MAX_QUEUES; q++)
		if (mp->qep[q] >= 0)
			close(mp->qep[q]);
	pthread_mutex_destroy(&mp->ctl_lock);
	usnet_port_teardown(port);
	free(mp);
}

static int log2_of(struct usnet_spec *spec, uint16_t ring_size, uint32_t rsize, uint8_t *out)
{
	uint8_t l = 0;

	if (rsize || !ring_size) {
		*out = (uint8_t)rsize; /* 0: the default */
		return 0;
	}
	while ((1u << l) < ring_size)
		l++;
	if ((1u << l) != ring_size || l > MEMIF_MAX_LOG2_RING)
		return usnet_error(EINVAL, "memif:%s: ring size %u is not a power of two <= %u",
				   spec->name, ring_size, 1u << MEMIF_MAX_LOG2_RING);
	*out = l;
	return 0;
}

/*
 * The open's view of a client after a poll: 1 while the attempt goes on,
 * 0 once up, else -errno with why (reached: a connect() succeeded). A
 * server that answers at once can connect and refuse the client within one
 * poll, so reached is the count of connects, not an open socket seen
 * between polls: else the refusal is missed, the client dials again every
 * 100 ms, and the open ends in "did not answer".
 */
static int first_verdict(const struct usnet_memif_conn *c, const char *path, bool *reached)
{
	if (usnet_memif_up(c))
		return 0;
	if (c->dials)
		*reached = true;
	if (c->fd >= 0)
		return 1;
	if (*reached && !strcmp(c->reason, "Handshake timeout"))
		return usnet_error(ETIMEDOUT,
				   "memif: the server at '%s' accepted but did not complete the "
				   "handshake in 5 s",
				   path);
	if (*reached) /* the server ended the handshake: DISCONNECT's reason or a hang-up */
		return usnet_error(ECONNREFUSED,
				   "memif: %s%s%s at '%s' refused interface id %u: %s",
				   c->peer_name[0] ? "'" : "the server", c->peer_name,
				   c->peer_name[0] ? "'" : "", path, c->id, c->reason);
	/* EAGAIN: its backlog is full, try again. The rest is final. */
	if (c->connect_errno && c->connect_errno != EAGAIN)
		return usnet_error(c->connect_errno,
				   "memif: no usnetd (or other memif server) listening at '%s': %s "
				   "(add ,wait=1 to wait for it)",
				   path, strerror(c->connect_errno));
	return 1;
}

/*
 * Client: connect and run the handshake to its end (bounded). 0 once up;
 * else -errno and why, or with wait set, 0 after saying once what it waits
 * for (the client then keeps trying in the background).
 */
static int client_first_connect(struct memif_port *mp, bool wait)
{
	const struct usnet_memif_conn *c = mp->conn;
	const char *path = mp->port.info.name;
	struct pollfd pfd = {.fd = usnet_memif_client_fd(mp->cl), .events = POLLIN};
	uint64_t end = usnet_now_ns() + OPEN_NS;
	bool reached = false;
	int v;

	for (;;) {
		usnet_memif_client_poll(mp->cl);
		v = first_verdict(c, path, &reached);
		if (v <= 0)
			break;
		if (usnet_now_ns() >= end) {
			v = usnet_error(ETIMEDOUT,
					"memif: the server at '%s' did not answer in %llu s", path,
					(unsigned long long)(OPEN_NS / USNET_NSEC_PER_SEC));
			break;
		}
		/* Wakes on the control socket and on the reconnect timer. */
		(void)poll(&pfd, 1, 100);
	}
	if (!v) {
		mp->was_up = true;
		return 0;
	}
	if (!wait)
		return v;
	/* A server that is starting may have its socket but not yet our id
	 * (DPDK's testpmd): with wait=1 nothing here is final. */
	USNET_WARN("memif:%s: waiting for usnetd (or another memif server) at '%s' (%s)...", path,
		   path, c->reason);
	snprintf(mp->said, sizeof(mp->said), "%s", c->reason);
	return 0;
}

static int memif_open(struct usnet_port **out, struct usnet_spec *spec,
		      const struct usnet_port_conf *conf)
{
	static const struct usnet_port_conf none;
	struct usnet_port_conf pc = conf ? *conf : none;
	const char *role = usnet_spec_opt(spec, "role");
	const char *secret = usnet_spec_opt(spec, "secret");
	uint32_t id, rsize, bsize, rxq, txq, wait;
	struct memif_port *mp;
	bool server;
	int err;

	if (!spec->name[0])
		return usnet_error(EINVAL,
				   "memif: needs a socket path, e.g. memif:/run/usnet.sock");
	if (role && strcmp(role, "client") && strcmp(role, "server"))
		return usnet_error(EINVAL, "memif:%s: role=%s is not client or server", spec->name,
				   role);
	server = role && !strcmp(role, "server");
	if ((err = usnet_spec_opt_u32(spec, "id", 0, UINT32_MAX, 0, &id)) ||
	    (err = usnet_spec_opt_u32(spec, "rsize", 1, MEMIF_MAX_LOG2_RING, 0, &rsize)) ||
	    (err = usnet_spec_opt_u32(spec, "bsize", 64, 65535, MEMIF_DEFAULT_BUF_SIZE, &bsize)) ||
	    (err = usnet_spec_opt_u32(spec, "rxq", 1, USNET_MAX_QUEUES, pc.rx_queues, &rxq)) ||
	    (err = usnet_spec_opt_u32(spec, "txq", 1, USNET_MAX_QUEUES, pc.tx_queues, &txq)) ||
	    (err = usnet_spec_opt_u32(spec, "wait", 0, 1, 0, &wait)))
		return err;
	if (server && usnet_spec_opt(spec, "wait"))
		return usnet_error(EINVAL,
				   "memif:%s: wait= is for role=client (a server always "
				   "waits for its client)",
				   spec->name);
	if (secret && strlen(secret) > MEMIF_SECRET_SZ)
		return usnet_error(EINVAL, "memif:%s: secret is longer than %d characters",
				   spec->name, MEMIF_SECRET_SZ);
	pc.rx_queues = (uint16_t)rxq;
	pc.tx_queues = (uint16_t)txq;

	mp = calloc(1, sizeof(*mp));
	if (!mp)
		return usnet_error(ENOMEM, "memif: out of memory");
	for (int q = 0; q < USNET_MAX_QUEUES; q++)
		mp->qep[q] = -1;
	pthread_mutex_init(&mp->ctl_lock, NULL);
	err = usnet_port_setup(&mp->port, &usnet_memif_ops, spec, &pc, USNET_MAX_QUEUES, 4096);
	if (err) {
		pthread_mutex_destroy(&mp->ctl_lock);
		free(mp);
		return err;
	}
	usnet_mac_from_name(mp->port.info.mac, spec->kind, spec->name);
	mp->port.info.mac[5] = (uint8_t)(mp->port.info.mac[5] ^ id ^ (server ? 0x80 : 0));

	if (server) {
		struct usnet_memif_server_conf sc = {
		    .path = spec->name,
		    .max_c2s = mp->port.info.rx_queues,
		    .max_s2c = mp->port.info.tx_queues,
		    .on_up = on_up,
		    .on_down = on_down,
		    .ctx = mp,
		};

		err = usnet_memif_server_create(&mp->srv, &sc);
		if (!err)
			err = usnet_memif_server_add(mp->srv, &mp->conn, id, secret,
						     mp->port.info.rx_queues,
						     mp->port.info.tx_queues, mp);
	} else {
		struct usnet_memif_client_conf cc = {
		    .path = spec->name,
		    .id = id,
		    .secret = secret,
		    .c2s = mp->port.info.tx_queues,
		    .s2c = mp->port.info.rx_queues,
		    .buf_size = (uint16_t)bsize,
		};

		err = log2_of(spec, pc.tx_ring_size, rsize, &cc.log2_c2s);
		if (!err)
			err = log2_of(spec, pc.rx_ring_size, rsize, &cc.log2_s2c);
		if (!err)
			err = usnet_memif_client_create(&mp->cl, &cc);
		if (!err)
			mp->conn = usnet_memif_client_conn(mp->cl);
	}
	if (err)
		goto err_close;

	for (uint16_t q = 0; q < mp->port.info.rx_queues; q++) {
		int ctl = mp->cl ? usnet_memif_client_fd(mp->cl) : usnet_memif_server_fd(mp->srv);
		struct epoll_event ev = {.events = EPOLLIN, .data.fd = ctl};

		mp->qep[q] = epoll_create1(EPOLL_CLOEXEC);
		if (mp->qep[q] < 0 || epoll_ctl(mp->qep[q], EPOLL_CTL_ADD, ctl, &ev) < 0) {
			err =
			    usnet_error(errno, "memif:%s: epoll: %s", spec->name, strerror(errno));
			goto err_close;
		}
		if (mp->cl) {
			ev.data.fd = usnet_memif_rx_efd(mp->conn, q);
			if (epoll_ctl(mp->qep[q], EPOLL_CTL_ADD, ev.data.fd, &ev) < 0) {
				err = usnet_error(errno, "memif:%s: epoll: %s", spec->name,
						  strerror(errno));
				goto err_close;
			}
		}
	}
	if (mp->cl && (err = client_first_connect(mp, wait)))
		goto err_close;
	ctl_step(mp, true);
	*out = &mp->port;
	return 0;

err_close:
	memif_close(&mp->port);
	return err;
}

const struct usnet_port_ops usnet_memif_ops = {
    .kind = "memif",
    .usage = "memif:SOCKET[,role=client|server,id=N,secret=S,wait=1]  memif interface (VPP, "
	     "DPDK, usnetd)",
    .open = memif_open,
    .close = memif_close,
    .rx_burst = memif_rx_burst,
    .tx_burst = memif_tx_burst,
    .queue_fd = memif_queue_fd,
    .arm = memif_arm,
    .link = memif_link,
};
