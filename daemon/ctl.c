/* SPDX-License-Identifier: MIT */
/*
 * usnetd's control socket: usnetctl asks, usnetd answers (ctl_proto.h).
 *
 * Served from the poll loop's housekeeping, never from the data path. The
 * socket file is created mode 0600, and a peer whose SO_PEERCRED uid is
 * neither root's nor usnetd's own gets -EACCES for its request and is hung
 * up on. The two kinds of peer never share slots: MAX_CONNS are for the
 * admitted ones, MAX_DENIED (with a short idle limit) for the others, so
 * that no number of refused peers can keep root's usnetctl out. Every
 * call does bounded work and never blocks: a peer that does not read its
 * answer loses it (the answer is one datagram, well under the socket's
 * send buffer).
 */
#define _GNU_SOURCE /* struct ucred, accept4() */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/time.h>

#include "ctl_proto.h"
#include "usnetd.h"

#define MAX_CONNS    8 /* admitted peers: root, usnetd's uid */
#define MAX_DENIED   2 /* the others, there to read -EACCES */
#define IDLE_NS	     (10 * USNET_NSEC_PER_SEC)
#define DENIED_NS    (USNET_NSEC_PER_SEC / 2) /* a refused peer's idle limit */
#define REQ_PER_POLL 16

struct ctl_conn {
	int fd;	     /* -1: free */
	bool denied; /* not root nor usnetd's uid: every request gets -EACCES */
	uint64_t last_ns;
};

struct usnetd_ctl {
	struct usnetd *d;
	char path[USNETD_PATH_SZ];
	int lfd, ep;
	struct ctl_conn conn[MAX_CONNS + MAX_DENIED]; /* admitted first, then denied */
	uint64_t warned_ns;			      /* last warning about a refused peer */
	union {
		uint8_t buf[USNETD_CTL_MAX_MSG];
		struct usnetd_ctl_resp hdr;
	} out;
};

int usnetd_ctl_fd(const struct usnetd_ctl *ctl)
{
	return ctl->ep;
}

static void put_str(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src ? src : "");
}

static void fill_info(struct usnetd *d, struct usnetd_ctl_info *r)
{
	struct usnet_memif_server_stats st;
	struct usnet_pool_stats ps;

	usnet_memif_server_get_stats(d->srv, &st);
	usnet_pool_get_stats(d->pool, &ps);
	put_str(r->version, sizeof(r->version), USNETD_VERSION);
	put_str(r->socket, sizeof(r->socket), d->conf->socket_path);
	r->pid = (int32_t)getpid();
	r->core = d->conf->core;
	r->uplinks = d->nup;
	r->interfaces = d->nifs;
	r->connected = d->nactive;
	r->pool_size = ps.count;
	r->pool_free = ps.available;
	r->spin_us = d->conf->spin_us;
	r->uptime_ns = usnet_now_ns() - d->start_ns;
	r->busy_ns = r->uptime_ns > d->sleep_ns ? r->uptime_ns - d->sleep_ns : 0;
	r->accepted = st.accepted;
	r->refused = st.refused;
	r->violations = st.violations;
	r->loops = d->loops;
	r->sleeps = d->sleeps;
}

static void fill_uplink(struct usnetd_uplink *u, struct usnetd_ctl_uplink *r)
{
	const struct usnet_port_info *pi = usnet_port_info(u->port);
	struct usnet_queue_stats qs;
	struct usnet_link link = {0};

	r->index = u->idx;
	memcpy(r->mac, pi->mac, 6);
	r->link_up = usnet_port_link(u->port, &link) == 0 && link.up;
	r->rx_polled = u->rxq > 0;
	put_str(r->name, sizeof(r->name), u->conf->name);
	put_str(r->spec, sizeof(r->spec), u->conf->spec);
	r->rx_queues = pi->rx_queues;
	r->tx_queues = pi->tx_queues;
	r->rx_frames = u->rx_frames;
	r->rx_bytes = u->rx_bytes;
	r->rx_flooded = u->rx_flooded;
	r->rx_filtered = u->rx_filtered;
	r->tx_frames = u->tx_frames;
	r->tx_bytes = u->tx_bytes;
	r->tx_drops = u->tx_drops;
	if (usnet_port_stats(u->port, -1, &qs) == 0) {
		r->port_rx_dropped = qs.rx_dropped;
		r->port_rx_nobuf = qs.rx_nobuf;
		r->port_rx_errors = qs.rx_errors;
		r->port_tx_full = qs.tx_full;
		r->port_tx_errors = qs.tx_errors;
	}
}

static void fill_client(struct usnetd_iface *f, struct usnetd_ctl_client *r)
{
	const struct usnet_memif_conn *c = f->conn;

	r->id = f->conf->id;
	memcpy(r->mac, f->conf->mac, 6);
	r->connected = f->up;
	r->any_src_mac = f->conf->any_src_mac;
	put_str(r->name, sizeof(r->name), f->conf->name);
	put_str(r->uplink, sizeof(r->uplink), f->uplink ? f->uplink->conf->name : "none");
	put_str(r->peer_name, sizeof(r->peer_name), c->peer_name);
	put_str(r->peer_if, sizeof(r->peer_if), c->peer_if_name);
	/* Why it is not up: a refusal of the ACL if that came last, else the memif reason. */
	put_str(r->reason, sizeof(r->reason),
		f->up			     ? ""
		: f->refused_ns > f->down_ns ? f->refusal
					     : c->reason);
	r->pid = (int32_t)c->peer_pid;
	r->uid = (uint32_t)c->peer_uid;
	r->gid = (uint32_t)c->peer_gid;
	r->rx_queues = f->up ? c->n_c2s : 0;
	r->tx_queues = f->up ? c->n_s2c : 0;
	r->up_ns = f->up ? usnet_now_ns() - f->up_since_ns : 0;
	r->connects = c->connects;
	r->violations = c->violations;
	r->refused = f->refused;
	r->rx_frames = f->rx_frames;
	r->rx_bytes = f->rx_bytes;
	r->tx_frames = f->tx_frames;
	r->tx_bytes = f->tx_bytes;
	r->tx_drops = f->tx_drops;
	r->src_mac_drops = f->src_mac_drops;
	r->other_drops = f->other_drops;
	for (int q = 0; q < USNET_MEMIF_MAX_RINGS; q++)
		r->rx_errors += f->rxst[q].rx_errors;
}

/* Build the answer to *req in ctl->out; returns its length. */
static size_t answer(struct usnetd_ctl *ctl, const struct usnetd_ctl_req *req, int32_t status)
{
	struct usnetd *d = ctl->d;
	struct usnetd_ctl_resp *h = &ctl->out.hdr;
	uint8_t *rec = ctl->out.buf + sizeof(*h);
	size_t size = 0, room;
	uint32_t total = 0, i;

	memset(ctl->out.buf, 0, sizeof(ctl->out.buf));
	h->magic = USNETD_CTL_MAGIC;
	h->version = USNETD_CTL_VERSION;
	h->cmd = req->cmd;
	h->next = USNETD_CTL_END;
	if (status) {
		h->status = status;
		return sizeof(*h);
	}
	switch (req->cmd) {
	case USNETD_CTL_INFO:
		size = sizeof(struct usnetd_ctl_info);
		total = 1;
		break;
	case USNETD_CTL_UPLINKS:
		size = sizeof(struct usnetd_ctl_uplink);
		total = d->nup;
		break;
	case USNETD_CTL_CLIENTS:
		size = sizeof(struct usnetd_ctl_client);
		total = d->nifs;
		break;
	default:
		h->status = -EINVAL;
		return sizeof(*h);
	}
	h->total = total;
	room = (sizeof(ctl->out.buf) - sizeof(*h)) / size;
	for (i = req->start; i < total && h->count < room; i++, h->count++, rec += size) {
		if (req->cmd == USNETD_CTL_INFO)
			fill_info(d, (struct usnetd_ctl_info *)(void *)rec);
		else if (req->cmd == USNETD_CTL_UPLINKS)
			fill_uplink(&d->up[i], (struct usnetd_ctl_uplink *)(void *)rec);
		else
			fill_client(&d->ifs[i], (struct usnetd_ctl_client *)(void *)rec);
	}
	if (i < total)
		h->next = i;
	return sizeof(*h) + h->count * size;
}

static void conn_close(struct usnetd_ctl *ctl, struct ctl_conn *cc)
{
	epoll_ctl(ctl->ep, EPOLL_CTL_DEL, cc->fd, NULL);
	close(cc->fd);
	cc->fd = -1;
}

static void conn_read(struct usnetd_ctl *ctl, struct ctl_conn *cc, uint64_t now)
{
	for (int i = 0; i < REQ_PER_POLL; i++) {
		struct usnetd_ctl_req req;
		int32_t status = 0;
		ssize_t n = recv(cc->fd, &req, sizeof(req), MSG_DONTWAIT | MSG_TRUNC);
		size_t len;

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		if (n <= 0) {
			conn_close(ctl, cc);
			return;
		}
		cc->last_ns = now;
		if (n != (ssize_t)sizeof(req) || req.magic != USNETD_CTL_MAGIC ||
		    req.version != USNETD_CTL_VERSION) {
			memset(&req, 0, sizeof(req));
			status = -EINVAL;
		}
		if (cc->denied)
			status = -EACCES;
		len = answer(ctl, &req, status);
		if (send(cc->fd, ctl->out.buf, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len ||
		    status) {
			conn_close(ctl, cc);
			return;
		}
	}
}

static void accept_all(struct usnetd_ctl *ctl, uint64_t now)
{
	for (int k = 0; k < MAX_CONNS; k++) {
		struct epoll_event ev = {.events = EPOLLIN};
		struct ctl_conn *cc = NULL;
		struct ucred cred;
		socklen_t clen = sizeof(cred);
		int fd = accept4(ctl->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		bool denied;

		if (fd < 0)
			return;
		/* Root, or whoever runs usnetd: the answers show every client's pid and
		 * uid. Anyone else gets -EACCES as the answer to its request (closing
		 * before reading the request would reset the socket under it). */
		denied = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
			 (cred.uid != 0 && cred.uid != geteuid());
		/* One warning per 10 s: a peer that retries would fill the log. */
		if (denied &&
		    (!ctl->warned_ns || now - ctl->warned_ns >= 10 * USNET_NSEC_PER_SEC)) {
			ctl->warned_ns = now;
			USNET_WARN("control: refusing uid %u (pid %d)", (unsigned)cred.uid,
				   (int)cred.pid);
		}
		for (int i = denied ? MAX_CONNS : 0,
			 end = denied ? MAX_CONNS + MAX_DENIED : MAX_CONNS;
		     i < end && !cc; i++)
			if (ctl->conn[i].fd < 0)
				cc = &ctl->conn[i];
		if (!cc) {
			close(fd); /* too many at once; usnetctl says the daemon hung up */
			continue;
		}
		ev.data.ptr = cc;
		if (epoll_ctl(ctl->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			continue;
		}
		cc->fd = fd;
		cc->denied = denied;
		cc->last_ns = now;
	}
}

void usnetd_ctl_poll(struct usnetd_ctl *ctl)
{
	struct epoll_event ev[MAX_CONNS + MAX_DENIED + 1];
	uint64_t now = usnet_now_ns();
	int n = epoll_wait(ctl->ep, ev, MAX_CONNS + MAX_DENIED + 1, 0);

	for (int i = 0; i < n; i++) {
		struct ctl_conn *cc = ev[i].data.ptr;

		if (!cc)
			accept_all(ctl, now);
		else if (cc->fd >= 0)
			conn_read(ctl, cc, now);
	}
	for (int i = 0; i < MAX_CONNS + MAX_DENIED; i++)
		if (ctl->conn[i].fd >= 0 &&
		    now - ctl->conn[i].last_ns > (ctl->conn[i].denied ? DENIED_NS : IDLE_NS))
			conn_close(ctl, &ctl->conn[i]);
}

int usnetd_ctl_open(struct usnetd_ctl **out, struct usnetd *d, const char *path)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	struct usnetd_ctl *ctl = calloc(1, sizeof(*ctl));
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t plen = strlen(path);
	socklen_t len;
	mode_t old;
	int err;

	if (!ctl)
		return usnet_error(ENOMEM, "control: out of memory");
	ctl->d = d;
	ctl->lfd = ctl->ep = -1;
	for (int i = 0; i < MAX_CONNS + MAX_DENIED; i++)
		ctl->conn[i].fd = -1;
	if (!plen || plen >= sizeof(sa.sun_path)) {
		err = usnet_error(EINVAL, "control: socket path '%s' empty or too long", path);
		goto err_free;
	}
	snprintf(ctl->path, sizeof(ctl->path), "%s", path);
	memcpy(sa.sun_path, path, plen);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen + (path[0] != '@'));
	ctl->lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->lfd < 0) {
		err = usnet_error(errno, "control: socket: %s", strerror(errno));
		goto err_free;
	}
	/* A socket file left by a usnetd that died: nobody accepts on it any more. */
	if (path[0] != '@') {
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		struct stat st;

		if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, len) < 0 &&
		    errno == ECONNREFUSED && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		if (probe >= 0)
			close(probe);
	}
	old = umask(0177); /* born 0600: no window in which others may connect */
	err = bind(ctl->lfd, (struct sockaddr *)&sa, len) < 0 ? errno : 0;
	umask(old);
	if (err) {
		err = usnet_error(err, "control: bind %s: %s", path, strerror(err));
		goto err_sock;
	}
	if (listen(ctl->lfd, 64) < 0) {
		err = usnet_error(errno, "control: listen %s: %s", path, strerror(errno));
		goto err_bound;
	}
	ctl->ep = epoll_create1(EPOLL_CLOEXEC);
	if (ctl->ep < 0 || epoll_ctl(ctl->ep, EPOLL_CTL_ADD, ctl->lfd, &ev) < 0) {
		err = usnet_error(errno, "control: epoll: %s", strerror(errno));
		goto err_bound;
	}
	*out = ctl;
	return 0;

err_bound:
	if (ctl->ep >= 0)
		close(ctl->ep);
	if (path[0] != '@')
		unlink(path);
err_sock:
	close(ctl->lfd);
err_free:
	free(ctl);
	return err;
}

void usnetd_ctl_close(struct usnetd_ctl *ctl)
{
	if (!ctl)
		return;
	for (int i = 0; i < MAX_CONNS + MAX_DENIED; i++)
		if (ctl->conn[i].fd >= 0)
			conn_close(ctl, &ctl->conn[i]);
	close(ctl->ep);
	close(ctl->lfd);
	if (ctl->path[0] != '@')
		unlink(ctl->path);
	free(ctl);
}
