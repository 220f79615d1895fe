/* SPDX-License-Identifier: MIT */
/*
 * usnetd: owns uplink ports, serves memif clients, and switches frames
 * between them, on one thread (docs/usnetd.md).
 *
 * The poll loop: receive a burst from every uplink RX queue and every
 * connected client's C2S rings, decide each frame's destination
 * (switch.c), collect frames per destination, send each destination's
 * batch once per loop. After spin_us without a frame it arms every queue
 * (usnet_port_arm(), usnet_memif_arm()) and sleeps in epoll on the uplink
 * fds, the clients' C2S eventfds and the control events; any of them wakes
 * it. The memif control side (accept, handshakes, disconnects), the
 * control socket and signals are served between bursts, at most every
 * millisecond while busy, and at once after a wake-up.
 *
 * Clients are untrusted: everything they write is validated by the memif
 * layer (src/memif/queue.c) before use, a violation ends only that client's
 * connection, and frames are copied, never shared, between clients.
 */
#define _GNU_SOURCE /* sched_setaffinity(), signalfd, prctl */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/pkt.h>
#include <usnet/time.h>

#include "../src/ports/port_impl.h" /* usnet_spec_parse(): --check */
#include "usnetd.h"

#define HOUSE_NS    (1000 * 1000ull)	   /* control events at most this late while busy */
#define SRV_POLL_NS (100 * 1000 * 1000ull) /* memif timeouts (handshake) checked this often */
#define SLEEP_MS    100			   /* longest sleep: timeouts need a look now and then */
#define EXIT_FAIL   1
#define EXIT_USAGE  2
#define BACKOFF_MIN 100			      /* ms before the first restart */
#define BACKOFF_MAX 5000		      /* ms */
#define STABLE_NS   (10 * USNET_NSEC_PER_SEC) /* a child that ran this long resets the backoff */

enum { EV_SRV = 1, EV_CTL, EV_SIG, EV_CTLSET, EV_DATA };

/* ---- logging ---- */

static bool log_syslog;

static void log_handler(void *ctx, enum usnet_log_level level, const char *msg)
{
	static const char *const name[] = {"error", "warning", "info", "debug"};
	static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

	struct timespec ts;
	struct tm tm;

	(void)ctx;
	if (log_syslog) {
		syslog(prio[level], "%s", msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	fprintf(stderr, "%02d:%02d:%02d.%06ld usnetd[%d]: %s: %s\n", tm.tm_hour, tm.tm_min,
		tm.tm_sec, ts.tv_nsec / 1000, (int)getpid(), name[level], msg);
}

/* ---- moving frames ---- */

static void batch_mark(struct usnetd *d, struct usnetd_batch *b)
{
	if (!b->dirty) {
		b->dirty = true;
		d->flush[d->nflush++] = b;
	}
}

static void send_iface(struct usnetd *d, struct usnetd_iface *f)
{
	struct usnetd_batch *b = &f->out;
	uint64_t bytes = b->bytes;
	uint16_t sent = 0;

	if (f->up)
		sent = usnet_memif_tx(f->conn, b->q, b->pkts, b->n, &f->txst[b->q]);
	for (uint16_t i = sent; i < b->n; i++) {
		bytes -= b->pkts[i]->len;
		usnet_pkt_free(b->pkts[i]);
	}
	f->tx_frames += sent;
	f->tx_bytes += bytes;
	f->tx_drops += (uint16_t)(b->n - sent);
	b->n = 0;
	b->bytes = 0;
	if (f->up && atomic_load_explicit(&f->conn->fault, memory_order_relaxed))
		d->ctl_due = true; /* it offered a bad buffer: the control side disconnects it */
}

static void send_uplink(struct usnetd_uplink *u)
{
	struct usnetd_batch *b = &u->out;
	uint64_t bytes = b->bytes;
	uint16_t sent;

	sent = usnet_tx_burst(u->port, 0, b->pkts, b->n);
	for (uint16_t i = sent; i < b->n; i++) {
		bytes -= b->pkts[i]->len;
		usnet_pkt_free(b->pkts[i]);
	}
	u->tx_frames += sent;
	u->tx_bytes += bytes;
	u->tx_drops += (uint16_t)(b->n - sent);
	b->n = 0;
	b->bytes = 0;
}

static void send_batch(struct usnetd *d, struct usnetd_batch *b)
{
	if (b->iface)
		send_iface(d, b->iface);
	else
		send_uplink(b->uplink);
}

/* Send everything collected this loop. */
static void flush_all(struct usnetd *d)
{
	for (unsigned i = 0; i < d->nflush; i++) {
		struct usnetd_batch *b = d->flush[i];

		if (b->n)
			send_batch(d, b);
		b->dirty = false;
	}
	d->nflush = 0;
}

static void to_iface(struct usnetd *d, struct usnetd_iface *f, struct usnet_pkt *p)
{
	struct usnetd_batch *b = &f->out;
	uint16_t q = 0;

	if (!f->up) {
		f->tx_drops++;
		usnet_pkt_free(p);
		return;
	}
	if (f->conn->n_s2c > 1)
		q = (uint16_t)(usnetd_flow_hash(usnet_pkt_data(p), p->len) % f->conn->n_s2c);
	if (b->n && (b->q != q || b->n == USNETD_BATCH))
		send_iface(d, f);
	b->q = q;
	b->bytes += p->len;
	b->pkts[b->n++] = p;
	batch_mark(d, b);
}

static void to_uplink(struct usnetd *d, struct usnetd_uplink *u, struct usnet_pkt *p)
{
	struct usnetd_batch *b = &u->out;

	if (b->n == USNETD_BATCH)
		send_uplink(u);
	b->bytes += p->len;
	b->pkts[b->n++] = p;
	batch_mark(d, b);
}

static struct usnet_pkt *clone_pkt(struct usnetd *d, const struct usnet_pkt *p)
{
	struct usnet_pkt *c = usnet_pkt_alloc(d->pool);

	if (!c)
		return NULL;
	if (!usnet_pkt_append(c, p->len)) {
		usnet_pkt_free(c);
		return NULL;
	}
	memcpy(usnet_pkt_data(c), usnet_pkt_data(p), p->len);
	return c;
}

/*
 * Broadcast/multicast: a copy to every connected client of segment seg but
 * `from`, and to the segment's uplink if the frame came from a client.
 * The last destination gets the original.
 */
static void flood(struct usnetd *d, struct usnet_pkt *p, int seg, struct usnetd_iface *from)
{
	struct usnetd_uplink *u = (from && seg >= 0) ? &d->up[seg] : NULL;
	struct usnetd_iface *prev = NULL;

	for (unsigned i = 0; i < d->nactive; i++) {
		struct usnetd_iface *f = d->active[i];

		if (f == from || d->swp[f->idx].segment != seg)
			continue;
		if (prev) {
			struct usnet_pkt *c = clone_pkt(d, p);

			if (c)
				to_iface(d, prev, c);
			else
				prev->tx_drops++;
		}
		prev = f;
	}
	if (u) {
		if (prev) {
			struct usnet_pkt *c = clone_pkt(d, p);

			if (c)
				to_iface(d, prev, c);
			else
				prev->tx_drops++;
		}
		to_uplink(d, u, p);
	} else if (prev) {
		to_iface(d, prev, p);
	} else {
		usnet_pkt_free(p);
	}
}

static unsigned poll_iface(struct usnetd *d, struct usnetd_iface *f)
{
	struct usnet_memif_conn *c = f->conn;
	int seg = d->swp[f->idx].segment;
	unsigned total = 0;

	for (uint16_t q = 0; q < c->n_c2s; q++) {
		struct usnet_pkt *pkts[USNETD_BATCH];
		uint16_t n = usnet_memif_rx(c, q, d->pool, pkts, USNETD_BATCH, &f->rxst[q]);

		for (uint16_t i = 0; i < n; i++) {
			struct usnet_pkt *p = pkts[i];
			int dst = -1;

			f->rx_frames++;
			f->rx_bytes += p->len;
			switch (usnetd_switch_from_iface_cached(&d->mactab, d->swp, (int)f->idx,
								usnet_pkt_data(p), p->len, &dst,
								&f->cache)) {
			case USNETD_TO_IFACE:
				to_iface(d, &d->ifs[dst], p);
				break;
			case USNETD_TO_UPLINK:
				to_uplink(d, &d->up[seg], p);
				break;
			case USNETD_FLOOD:
				flood(d, p, seg, f);
				break;
			case USNETD_DROP_SRC_MAC:
				f->src_mac_drops++;
				usnet_pkt_free(p);
				break;
			default:
				f->other_drops++;
				usnet_pkt_free(p);
				break;
			}
		}
		total += n;
	}
	/* Relaxed: a hint; the control side re-reads it (server_poll). */
	if (atomic_load_explicit(&c->fault, memory_order_relaxed))
		d->ctl_due = true;
	return total;
}

static unsigned poll_uplink(struct usnetd *d, struct usnetd_uplink *u)
{
	unsigned total = 0;

	for (uint16_t q = 0; q < u->rxq; q++) {
		struct usnet_pkt *pkts[USNETD_BATCH];
		uint16_t n = usnet_rx_burst(u->port, q, pkts, USNETD_BATCH);

		for (uint16_t i = 0; i < n; i++) {
			struct usnet_pkt *p = pkts[i];
			int dst = -1;

			u->rx_frames++;
			u->rx_bytes += p->len;
			switch (usnetd_switch_from_uplink(&d->mactab, d->swp, (int)u->idx,
							  usnet_pkt_data(p), p->len, &dst)) {
			case USNETD_TO_IFACE:
				to_iface(d, &d->ifs[dst], p);
				break;
			case USNETD_FLOOD:
				u->rx_flooded++;
				flood(d, p, (int)u->idx, NULL);
				break;
			default:
				u->rx_filtered++;
				usnet_pkt_free(p);
				break;
			}
		}
		total += n;
	}
	return total;
}

/* ---- memif server callbacks (from usnet_memif_server_poll()) ---- */

static bool id_listed(const uint32_t *list, unsigned n, uint32_t x)
{
	for (unsigned i = 0; i < n; i++)
		if (list[i] == x)
			return true;
	return false;
}

/* The interface's uid/gid allow-list; both empty: whoever may open the socket. */
static bool iface_admits(const struct usnetd_iface_conf *fc, uid_t uid, gid_t gid)
{
	return (!fc->nuids && !fc->ngids) || id_listed(fc->uids, fc->nuids, uid) ||
	       id_listed(fc->gids, fc->ngids, gid);
}

/* At accept, before the peer holds a pending slot: may it use any interface? */
static const char *on_accept(void *ctx, pid_t pid, uid_t uid, gid_t gid)
{
	struct usnetd *d = ctx;
	uint64_t now;

	for (unsigned i = 0; i < d->nifs; i++)
		if (iface_admits(d->ifs[i].conf, uid, gid))
			return NULL;
	snprintf(d->accept_refusal, sizeof(d->accept_refusal),
		 "Permission denied: uid %u gid %u may not use any interface", (unsigned)uid,
		 (unsigned)gid);
	/* A peer that retries would fill the log: one warning per 10 s. */
	now = usnet_now_ns();
	if (!d->accept_refused_warned_ns ||
	    now - d->accept_refused_warned_ns >= 10 * USNET_NSEC_PER_SEC) {
		d->accept_refused_warned_ns = now;
		USNET_WARN("refused pid %d at accept: uid %u gid %u may not use any interface",
			   (int)pid, (unsigned)uid, (unsigned)gid);
	}
	return d->accept_refusal;
}

static const char *on_init(void *ctx, struct usnet_memif_conn *c, pid_t pid, uid_t uid, gid_t gid)
{
	struct usnetd_iface *f = c->user;
	const struct usnetd_iface_conf *fc = f->conf;

	(void)ctx;
	if (iface_admits(fc, uid, gid))
		return NULL;
	f->refused++;
	f->refused_ns = usnet_now_ns();
	snprintf(f->refusal, sizeof(f->refusal),
		 "Permission denied: uid %u gid %u may not use interface %u", (unsigned)uid,
		 (unsigned)gid, fc->id);
	USNET_WARN("interface %u (%s): refused pid %d: uid %u gid %u not allowed", fc->id, fc->name,
		   (int)pid, (unsigned)uid, (unsigned)gid);
	return f->refusal;
}

static void on_up(void *ctx, struct usnet_memif_conn *c)
{
	struct usnetd *d = ctx;
	struct usnetd_iface *f = c->user;
	char mac[18];

	for (uint16_t q = 0; q < c->n_c2s; q++) {
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_DATA};

		if (epoll_ctl(d->ep_sleep, EPOLL_CTL_ADD, c->c2s[q].efd, &ev) < 0)
			USNET_WARN("interface %u: cannot watch ring %u's eventfd: %s", f->conf->id,
				   q, strerror(errno));
	}
	f->up = true;
	f->up_since_ns = usnet_now_ns();
	f->out.n = 0;
	f->out.bytes = 0;
	d->active[d->nactive++] = f;
	usnetd_mac_format(mac, sizeof(mac), f->conf->mac);
	USNET_INFO("interface %u (%s) up: '%s' pid %d uid %u gid %u, %u+%u queues, MAC %s",
		   f->conf->id, f->conf->name, c->peer_name, (int)c->peer_pid,
		   (unsigned)c->peer_uid, (unsigned)c->peer_gid, c->n_c2s, c->n_s2c, mac);
}

static void on_down(void *ctx, struct usnet_memif_conn *c)
{
	struct usnetd *d = ctx;
	struct usnetd_iface *f = c->user;

	/* Before the server closes them: the client holds the same eventfds, so
	 * closing ours alone would leave them in the epoll set. */
	for (uint16_t q = 0; q < c->n_c2s; q++)
		epoll_ctl(d->ep_sleep, EPOLL_CTL_DEL, c->c2s[q].efd, NULL);
	for (unsigned i = 0; i < d->nactive; i++) {
		if (d->active[i] == f) {
			d->active[i] = d->active[--d->nactive];
			break;
		}
	}
	/* Batches are flushed before the control side runs: nothing is queued
	 * for it. Frames in its rings were in its own memory: nothing to free. */
	f->up = false;
	f->out.n = 0;
	f->out.bytes = 0;
	f->down_ns = usnet_now_ns();
	USNET_INFO("interface %u (%s) down: pid %d, %llu frames in, %llu out", f->conf->id,
		   f->conf->name, (int)c->peer_pid, (unsigned long long)f->rx_frames,
		   (unsigned long long)f->tx_frames);
}

/* ---- control events ---- */

static void read_signals(struct usnetd *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			USNET_INFO("SIGHUP ignored (restart usnetd to change its configuration)");
			continue;
		}
		USNET_INFO("%s: shutting down", strsignal((int)si.ssi_signo));
		d->stop = true;
	}
}

static void housekeeping(struct usnetd *d, uint64_t now, bool force_srv)
{
	struct epoll_event ev[8];
	bool srv = force_srv || d->ctl_due || now >= d->next_srv;
	int n = epoll_wait(d->ep_ctl, ev, 8, 0);

	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == EV_SRV)
			srv = true;
		else if (ev[i].data.u64 == EV_CTL)
			usnetd_ctl_poll(d->ctl);
		else if (ev[i].data.u64 == EV_SIG)
			read_signals(d);
	}
	if (srv) {
		d->ctl_due = false;
		usnet_memif_server_poll(d->srv);
		d->next_srv = now + SRV_POLL_NS;
	}
}

/*
 * Everything is idle: arm every queue and sleep until one of them wakes us.
 * Returns false if the sleep only timed out (nothing to spin for).
 */
static bool sleep_idle(struct usnetd *d)
{
	struct epoll_event ev[16];
	bool ready = false, blind = false;
	int timeout = SLEEP_MS, n;
	uint64_t t0, t1;

	for (unsigned i = 0; i < d->nup; i++) {
		struct usnetd_uplink *u = &d->up[i];

		for (uint16_t q = 0; q < u->rxq; q++)
			ready |= usnet_port_arm(u->port, q);
		blind |= u->rxq && !u->fd_ok;
	}
	for (unsigned i = 0; i < d->nactive; i++) {
		struct usnet_memif_conn *c = d->active[i]->conn;

		for (uint16_t q = 0; q < c->n_c2s; q++)
			ready |= usnet_memif_arm(c, q);
	}
	if (ready)
		return true;
	if (blind)
		timeout = 1; /* an uplink without an fd: nap instead of sleeping */
	t0 = usnet_now_ns();
	n = epoll_wait(d->ep_sleep, ev, 16, timeout);
	t1 = usnet_now_ns();
	d->sleeps++;
	d->sleep_ns += t1 - t0;
	return n != 0 || blind;
}

static void run_loop(struct usnetd *d)
{
	uint64_t spin_ns = (uint64_t)d->conf->spin_us * 1000;
	uint64_t now = usnet_now_ns(), last_work = now, next_house = now;

	while (!d->stop) {
		unsigned work = 0;

		for (unsigned i = 0; i < d->nup; i++)
			if (d->up[i].rxq)
				work += poll_uplink(d, &d->up[i]);
		for (unsigned i = 0; i < d->nactive; i++)
			work += poll_iface(d, d->active[i]);
		flush_all(d);
		d->loops++;
		now = usnet_now_ns();
		if (work)
			last_work = now;
		if (d->ctl_due || now >= next_house) {
			housekeeping(d, now, false);
			next_house = now + HOUSE_NS;
		}
		if (!work && now - last_work >= spin_ns) {
			/* Woken by an fd: spin again for a while, frames first (the
			 * control events are served right after the next burst).
			 * Woken by the timeout: one look, then back to sleep. */
			next_house = usnet_now_ns();
			if (sleep_idle(d))
				last_work = next_house;
		}
	}
}

/* ---- setup and teardown ---- */

/* mkdir -p of path's directory (for /run/usnet). */
static void make_parent(const char *path)
{
	char dir[USNETD_PATH_SZ];
	char *slash;

	if (path[0] == '@')
		return;
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	if (mkdir(dir, 0755) == 0)
		USNET_INFO("created %s", dir);
}

static void notify_ready(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char msg[64];
	size_t n;
	int fd;

	/* sd_notify(3)'s protocol: one datagram to $NOTIFY_SOCKET; '@' = abstract. */
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path))
		return;
	n = strlen(path);
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	snprintf(msg, sizeof(msg), "READY=1\nMAINPID=%d", (int)getpid());
	if (sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		USNET_WARN("sd_notify: %s", strerror(errno));
	close(fd);
}

static int setup_socket_perms(const struct usnetd_conf *c)
{
	const char *p = c->socket_path;

	if (p[0] == '@') {
		USNET_WARN("abstract socket %s: file permissions do not apply; only the uid/gid "
			   "lists and secrets restrict who connects",
			   p);
		return 0;
	}
	if (chmod(p, c->socket_mode) < 0)
		return usnet_error(errno, "chmod %s: %s", p, strerror(errno));
	if ((c->socket_uid != (uid_t)-1 || c->socket_gid != (gid_t)-1) &&
	    chown(p, c->socket_uid, c->socket_gid) < 0)
		return usnet_error(errno, "chown %s: %s", p, strerror(errno));
	return 0;
}

static int open_uplinks(struct usnetd *d)
{
	for (unsigned i = 0; i < d->conf->nuplinks; i++) {
		const struct usnetd_uplink_conf *uc = &d->conf->uplink[i];
		struct usnetd_uplink *u = &d->up[i];
		struct usnet_port_conf pc = {
		    .rx_queues = uc->rx_queues,
		    .tx_queues = 1,
		    .promisc = uc->promisc,
		};
		int err;

		u->conf = uc;
		u->idx = i;
		u->out.uplink = u;
		err = usnet_port_open(&u->port, uc->spec, &pc);
		if (err)
			return usnet_error(-err, "uplink %s (%.100s%s): %s", uc->name, uc->spec,
					   strlen(uc->spec) > 100 ? "..." : "", usnet_last_error());
		d->nup++;
		u->rxq = uc->rx ? usnet_port_info(u->port)->rx_queues : 0;
		u->fd_ok = 1;
		for (uint16_t q = 0; q < u->rxq; q++) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = EV_DATA};
			int fd = usnet_port_fd(u->port, q);

			if (fd < 0 || epoll_ctl(d->ep_sleep, EPOLL_CTL_ADD, fd, &ev) < 0)
				u->fd_ok = 0;
		}
		if (uc->rx && !strcmp(usnet_port_info(u->port)->kind, "null"))
			USNET_WARN("uplink %s: the RX of null: yields frames without end; "
				   "use -U %s (send-only) unless that is what you want",
				   uc->name, uc->spec);
		USNET_INFO("uplink %s: %s%s", uc->name, uc->spec, uc->rx ? "" : " (send-only)");
	}
	return 0;
}

static int setup(struct usnetd *d)
{
	struct usnetd_conf *c = d->conf;
	struct usnet_pool_conf pc = {.count = c->pool_size, .name = "usnetd"};
	struct usnet_memif_server_conf sc = {
	    .path = c->socket_path,
	    .name = "usnetd",
	    .max_c2s = c->queues,
	    .max_s2c = c->queues,
	    .on_up = on_up,
	    .on_down = on_down,
	    .on_accept = on_accept,
	    .on_init = on_init,
	    .ctx = d,
	};
	struct epoll_event ev = {.events = EPOLLIN};
	sigset_t sigs;
	mode_t old;
	int err;

	d->start_ns = usnet_now_ns();
	for (unsigned i = 0; i < c->nifaces; i++)
		if (c->iface[i].queues > sc.max_c2s)
			sc.max_c2s = sc.max_s2c = c->iface[i].queues;
	if (c->core >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(c->core, &set);
		if (sched_setaffinity(0, sizeof(set), &set) < 0)
			return usnet_error(errno, "cannot pin to core %d: %s", c->core,
					   strerror(errno));
		USNET_INFO("pinned to core %d", c->core);
	}
	if (c->rt_priority > 0) {
		/* A woken SCHED_FIFO thread preempts ordinary ones at once instead of
		 * waiting for its turn (sched(7)); the kernel's RT throttling
		 * (sched_rt_runtime_us) still leaves others 5% of a core it spins on. */
		struct sched_param sp = {.sched_priority = c->rt_priority};

		if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
			return usnet_error(errno, "SCHED_FIFO priority %d: %s", c->rt_priority,
					   strerror(errno));
		USNET_INFO("SCHED_FIFO priority %d", c->rt_priority);
	}
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	d->sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	d->ep_ctl = epoll_create1(EPOLL_CLOEXEC);
	d->ep_sleep = epoll_create1(EPOLL_CLOEXEC);
	if (d->sigfd < 0 || d->ep_ctl < 0 || d->ep_sleep < 0)
		return usnet_error(errno, "signalfd/epoll: %s", strerror(errno));
	ev.data.u64 = EV_SIG;
	epoll_ctl(d->ep_ctl, EPOLL_CTL_ADD, d->sigfd, &ev);
	ev.data.u64 = EV_CTLSET;
	if (epoll_ctl(d->ep_sleep, EPOLL_CTL_ADD, d->ep_ctl, &ev) < 0)
		return usnet_error(errno, "epoll: %s", strerror(errno));

	err = usnet_pool_create(&d->pool, &pc);
	if (err)
		return usnet_error(-err, "packet pool of %u: %s", c->pool_size, usnet_last_error());
	d->ifs = calloc(c->nifaces ? c->nifaces : 1, sizeof(*d->ifs));
	d->swp = calloc(c->nifaces ? c->nifaces : 1, sizeof(*d->swp));
	if (!d->ifs || !d->swp)
		return usnet_error(ENOMEM, "out of memory");
	err = open_uplinks(d);
	if (err)
		return err;

	make_parent(c->socket_path);
	make_parent(c->control_path);
	old = umask(0077); /* bound 0600, then opened up to socket_mode: no early window */
	err = usnet_memif_server_create(&d->srv, &sc);
	umask(old);
	if (err == -EADDRINUSE)
		return usnet_error(EADDRINUSE,
				   "memif socket %s is in use: another usnetd (or memif "
				   "server) listens there; stop it or give another -s PATH",
				   c->socket_path);
	if (err)
		return err;
	err = setup_socket_perms(c);
	if (err)
		return err;
	ev.data.u64 = EV_SRV;
	epoll_ctl(d->ep_ctl, EPOLL_CTL_ADD, usnet_memif_server_fd(d->srv), &ev);

	usnetd_mactab_init(&d->mactab);
	for (unsigned i = 0; i < c->nifaces; i++) {
		struct usnetd_iface_conf *fc = &c->iface[i];
		struct usnetd_iface *f = &d->ifs[i];

		f->conf = fc;
		f->idx = i;
		f->out.iface = f;
		f->cache.dst = USNETD_SW_CACHE_NONE;
		f->uplink = NULL;
		for (unsigned k = 0; k < d->nup; k++)
			if (!strcmp(d->up[k].conf->name, fc->uplink))
				f->uplink = &d->up[k];
		/* An uplink that filters by MAC (afxdp: prog=steer) must take
		 * frames for this client; the host keeps the rest. */
		if (f->uplink && usnet_port_steer_mac(f->uplink->port, fc->mac))
			return usnet_error(EINVAL, "interface %u: uplink %s: %s", fc->id,
					   f->uplink->conf->name, usnet_last_error());
		d->swp[i].mac = usnetd_mac_key(fc->mac);
		d->swp[i].segment = f->uplink ? (int)f->uplink->idx : -1;
		d->swp[i].any_src_mac = fc->any_src_mac;
		err = usnetd_mactab_add(&d->mactab, fc->mac, (int)i);
		if (err)
			return usnet_error(-err, "interface %u: its MAC is taken", fc->id);
		err = usnet_memif_server_add(d->srv, &f->conn, fc->id, fc->secret, fc->queues,
					     fc->queues, f);
		if (err)
			return err;
		d->nifs++;
	}
	err = usnetd_ctl_open(&d->ctl, d, c->control_path);
	if (err == -EADDRINUSE)
		return usnet_error(EADDRINUSE,
				   "control socket %s is in use: another usnetd listens "
				   "there; stop it or give another -C PATH",
				   c->control_path);
	if (err)
		return err;
	ev.data.u64 = EV_CTL;
	epoll_ctl(d->ep_ctl, EPOLL_CTL_ADD, usnetd_ctl_fd(d->ctl), &ev);
	return 0;
}

static void teardown(struct usnetd *d)
{
	struct usnet_pool_stats ps;

	if (d->srv) {
		for (unsigned i = 0; i < d->nifs; i++)
			usnet_memif_server_disconnect(d->srv, d->ifs[i].conn,
						      "usnetd shutting down");
		usnet_memif_server_destroy(d->srv);
	}
	usnetd_ctl_close(d->ctl);
	for (unsigned i = 0; i < d->nup; i++) {
		for (uint16_t k = 0; k < d->up[i].out.n; k++)
			usnet_pkt_free(d->up[i].out.pkts[k]);
		usnet_port_close(d->up[i].port);
	}
	if (d->pool) {
		usnet_pool_get_stats(d->pool, &ps);
		if (ps.available != ps.count)
			USNET_WARN("%u of %u packets were not returned to the pool",
				   ps.count - ps.available, ps.count);
		usnet_pool_destroy(d->pool);
	}
	free(d->ifs);
	free(d->swp);
	if (d->ep_sleep >= 0)
		close(d->ep_sleep);
	if (d->ep_ctl >= 0)
		close(d->ep_ctl);
	if (d->sigfd >= 0)
		close(d->sigfd);
}

static int run_daemon(struct usnetd_conf *c)
{
	struct usnetd *d = calloc(1, sizeof(*d));
	int err;

	if (!d) {
		USNET_ERR("out of memory");
		return EXIT_FAIL;
	}
	d->conf = c;
	d->sigfd = d->ep_ctl = d->ep_sleep = -1;
	err = setup(d);
	if (err) {
		USNET_ERR("%s", usnet_last_error());
		teardown(d);
		free(d);
		return EXIT_FAIL;
	}
	USNET_INFO("ready: memif socket %s, control %s, %u interfaces, %u uplinks", c->socket_path,
		   c->control_path, d->nifs, d->nup);
	notify_ready();
	run_loop(d);
	teardown(d);
	free(d);
	USNET_INFO("stopped");
	return 0;
}

/* ---- --supervise ---- */

static const char *describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (status 0x%x)", (unsigned)st);
	return buf;
}

/*
 * Run usnetd as a child; restart it when it crashes (a signal, or exit
 * status 1), with a backoff that doubles while it keeps crashing within 10 s
 * of its start. A clean exit (0) or a configuration error (2) ends the
 * supervisor with that status; SIGTERM/SIGINT are passed to the child.
 */
static int supervise(struct usnetd_conf *c)
{
	unsigned delay_ms = BACKOFF_MIN;
	pid_t parent = getpid();
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		uint64_t t0 = usnet_now_ns();
		bool stopping = false;
		pid_t pid = fork();
		int st = 0;
		char why[64];

		if (pid < 0) {
			USNET_ERR("supervise: fork: %s", strerror(errno));
			return EXIT_FAIL;
		}
		if (pid == 0) {
			/* Do not outlive the supervisor (a SIGKILLed supervisor cannot pass
			 * anything on), and close the race with a parent already gone. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
			_exit(run_daemon(c));
		}
		USNET_INFO("supervise: started usnetd pid %d", (int)pid);
		for (;;) {
			siginfo_t si;
			int sig = sigwaitinfo(&set, &si);

			if (sig == SIGCHLD) {
				if (waitpid(pid, &st, WNOHANG) == pid)
					break;
			} else if (sig == SIGTERM || sig == SIGINT) {
				stopping = true;
				kill(pid, sig);
			} else if (sig == SIGHUP) {
				kill(pid, sig);
			}
		}
		describe_status(st, why, sizeof(why));
		if (stopping) {
			USNET_INFO("supervise: usnetd %s; stopping", why);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 0;
		}
		if (WIFEXITED(st) && (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == EXIT_USAGE)) {
			USNET_INFO("supervise: usnetd %s; not restarting", why);
			return WEXITSTATUS(st);
		}
		if (usnet_now_ns() - t0 >= STABLE_NS)
			delay_ms = BACKOFF_MIN;
		USNET_WARN("supervise: usnetd pid %d %s; restarting in %u ms", (int)pid, why,
			   delay_ms);
		{
			struct timespec ts = {.tv_sec = delay_ms / 1000,
					      .tv_nsec = (long)(delay_ms % 1000) * 1000000};
			siginfo_t si;
			uint64_t until = usnet_now_ns() + (uint64_t)delay_ms * 1000000;

			/* Sleep out the backoff, but stop at once if told to. */
			while (usnet_now_ns() < until) {
				int sig = sigtimedwait(&set, &si, &ts);

				if (sig == SIGTERM || sig == SIGINT) {
					USNET_INFO("supervise: stopping");
					return 0;
				}
				if (sig < 0 && errno == EAGAIN)
					break;
			}
		}
		delay_ms = delay_ms * 2 > BACKOFF_MAX ? BACKOFF_MAX : delay_ms * 2;
	}
}

/* ---- command line ---- */

static const char usage_text[] =
    "usage: usnetd [OPTIONS]\n"
    "\n"
    "The usnet driver as a process: owns uplink ports and serves memif clients\n"
    "(VPP, DPDK net_memif, usnet's memif: port) on a UNIX socket, switching frames\n"
    "between them by MAC address on one polling thread. docs/usnetd.md.\n"
    "\n"
    "  -f, --config FILE      read the configuration file first (key = value,\n"
    "                         [uplink NAME] and [interface NAME] sections)\n"
    "  -s, --socket PATH      memif socket (default " USNETD_DFLT_SOCKET "; @NAME: abstract)\n"
    "  -C, --control PATH     control socket for usnetctl (default: the memif socket\n"
    "                         with .ctl for .sock, i.e. " USNETD_DFLT_CONTROL ")\n"
    "  -u, --uplink SPEC      an uplink port (any spec: afpacket:eth0, tap:x, null:...);\n"
    "                         repeatable; the first is the default segment\n"
    "  -U, --send-only SPEC   an uplink usnetd sends to but never receives from\n"
    "                         (e.g. null:, whose RX yields frames without end)\n"
    "  -i, --interface ID[,KEY=VALUE...]\n"
    "                         serve interface ID; keys as in an [interface] section:\n"
    "                         mac=, uids=A:B, gids=A:B, secret=, allow_any_src_mac=yes,\n"
    "                         queues=, uplink=NAME|none\n"
    "  -c, --core CORE        pin the polling thread to CORE (default: not pinned)\n"
    "      --rt-priority N    run it SCHED_FIFO at priority N (1..99): wake-ups preempt\n"
    "                         other work on its core (default: 0, an ordinary task)\n"
    "      --auto-ids LO-HI|none   also serve ids LO..HI with defaults (default 0-15\n"
    "                         when no interface is configured, else none)\n"
    "      --socket-mode MODE socket file mode, octal (default 0660)\n"
    "      --socket-owner USER[:GROUP]\n"
    "      --spin-us N        busy-poll N us after the last frame before sleeping (100)\n"
    "      --queues N         rings per direction a client may have (default 4)\n"
    "      --supervise        run usnetd as a child and restart it when it crashes\n"
    "      --syslog           log to syslog instead of stderr\n"
    "  -v, --verbose          log debug messages too (-q: warnings and errors only)\n"
    "  -q, --quiet\n"
    "      --check            print the effective configuration and exit\n"
    "  -h, --help             this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT shut down cleanly (clients get DISCONNECT \"usnetd\n"
    "shutting down\" and reconnect when it is back). Exit status: 0 clean, 1 runtime\n"
    "failure, 2 usage or configuration error.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "usnetd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see usnetd --help)\n");
	exit(EXIT_USAGE);
}

enum {
	OPT_AUTO = 256,
	OPT_MODE,
	OPT_OWNER,
	OPT_SPIN,
	OPT_QUEUES,
	OPT_SUPERVISE,
	OPT_SYSLOG,
	OPT_CHECK,
	OPT_RT,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'f'},
    {"socket", required_argument, NULL, 's'},
    {"control", required_argument, NULL, 'C'},
    {"uplink", required_argument, NULL, 'u'},
    {"send-only", required_argument, NULL, 'U'},
    {"interface", required_argument, NULL, 'i'},
    {"core", required_argument, NULL, 'c'},
    {"auto-ids", required_argument, NULL, OPT_AUTO},
    {"socket-mode", required_argument, NULL, OPT_MODE},
    {"socket-owner", required_argument, NULL, OPT_OWNER},
    {"spin-us", required_argument, NULL, OPT_SPIN},
    {"queues", required_argument, NULL, OPT_QUEUES},
    {"supervise", no_argument, NULL, OPT_SUPERVISE},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"check", no_argument, NULL, OPT_CHECK},
    {"rt-priority", required_argument, NULL, OPT_RT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/*
 * A core this process may not run on made only the real start fail
 * (sched_setaffinity(): EINVAL), after --check had said OK: check it here,
 * against the CPUs usnetd may use now (sched_getaffinity(2): cpusets,
 * taskset and offline CPUs included).
 */
static void check_core(const struct usnetd_conf *c)
{
	char cpus[256] = "";
	size_t len = 0;
	cpu_set_t set;

	if (c->core < 0 || sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	if (c->core < CPU_SETSIZE && CPU_ISSET(c->core, &set))
		return;
	for (int i = 0; i < CPU_SETSIZE && len < sizeof(cpus) - 16; i++) {
		int j = i;

		if (!CPU_ISSET(i, &set))
			continue;
		while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, &set))
			j++;
		len += (size_t)snprintf(cpus + len, sizeof(cpus) - len, "%s%d", len ? "," : "", i);
		if (j > i)
			len += (size_t)snprintf(cpus + len, sizeof(cpus) - len, "-%d", j);
		i = j;
	}
	usage_error("core %d: usnetd may run only on CPUs %s", c->core, cpus);
}

struct kinds {
	const char *want;
	bool found;
	char list[128];
};

static void kind_known(void *ctx, const char *kind, const char *usage)
{
	struct kinds *k = ctx;
	size_t n = strlen(k->list);

	(void)usage;
	k->found |= !strcmp(k->want, kind);
	snprintf(k->list + n, sizeof(k->list) - n, "%s%s", n ? ", " : "", kind);
}

/*
 * What can be known of an uplink without opening it: its spec parses and
 * names a kind of this build. So --check does not say OK to "foo:x" or
 * "afpacket:eth0,x" (the port itself checks its NAME and options at open).
 */
static void check_uplink_specs(const struct usnetd_conf *c)
{
	for (unsigned i = 0; i < c->nuplinks; i++) {
		const struct usnetd_uplink_conf *u = &c->uplink[i];
		struct usnet_spec spec;
		struct kinds k = {.want = spec.kind};

		if (usnet_spec_parse(&spec, u->spec))
			usage_error("uplink %s: %s", u->name, usnet_last_error());
		usnet_port_kinds(kind_known, &k);
		if (!k.found)
			usage_error("uplink %s: unknown port kind '%s' in '%s' (known: %s)",
				    u->name, spec.kind, u->spec, k.list);
	}
}

static void set_or_die(struct usnetd_conf *c, const char *key, const char *val)
{
	if (usnetd_conf_set(c, key, val))
		usage_error("%s", usnet_last_error());
}

static void parse_args(int argc, char **argv, struct usnetd_conf *c)
{
	const char *optstr = ":f:s:C:u:U:i:c:vqh";
	int opt;

	/* The file first, wherever -f is, so that the other options override it. */
	while ((opt = getopt_long(argc, argv, optstr, long_opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (opt == ':')
			usage_error("option '%s' needs a value", argv[optind - 1]);
		if (opt == '?')
			usage_error("unknown option '%s'", argv[optind - 1]);
		if (opt == 'f' && usnetd_conf_load(c, optarg))
			usage_error("%s", usnet_last_error());
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	optind = 1;
	while ((opt = getopt_long(argc, argv, optstr, long_opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			set_or_die(c, "socket", optarg);
			break;
		case 'C':
			set_or_die(c, "control", optarg);
			break;
		case 'u':
		case 'U':
			if (usnetd_conf_uplink_arg(c, optarg, opt == 'u'))
				usage_error("%s", usnet_last_error());
			break;
		case 'i':
			if (usnetd_conf_iface_arg(c, optarg))
				usage_error("%s", usnet_last_error());
			break;
		case 'c':
			set_or_die(c, "core", optarg);
			break;
		case OPT_AUTO:
			set_or_die(c, "auto_ids", optarg);
			break;
		case OPT_MODE:
			set_or_die(c, "socket_mode", optarg);
			break;
		case OPT_OWNER: {
			char user[64];
			const char *colon = strchr(optarg, ':');

			snprintf(user, sizeof(user), "%.*s",
				 colon ? (int)(colon - optarg) : (int)strlen(optarg), optarg);
			if (*user)
				set_or_die(c, "socket_owner", user);
			if (colon)
				set_or_die(c, "socket_group", colon + 1);
			break;
		}
		case OPT_SPIN:
			set_or_die(c, "spin_us", optarg);
			break;
		case OPT_QUEUES:
			set_or_die(c, "queues", optarg);
			break;
		case OPT_SUPERVISE:
			c->supervise = true;
			break;
		case OPT_SYSLOG:
			c->use_syslog = true;
			break;
		case 'v':
			c->log_level = USNET_LOG_DEBUG;
			break;
		case 'q':
			c->log_level = USNET_LOG_WARN;
			break;
		case OPT_CHECK:
			c->check_only = true;
			break;
		case OPT_RT:
			set_or_die(c, "rt_priority", optarg);
			break;
		default:
			break; /* -f: done above */
		}
	}
	if (usnetd_conf_finish(c))
		usage_error("%s", usnet_last_error());
	check_core(c);
	check_uplink_specs(c);
}

int main(int argc, char **argv)
{
	static struct usnetd_conf conf; /* large: not on the stack */

	usnetd_conf_init(&conf);
	usnet_log_set_handler(log_handler, NULL);
	usnet_log_set_level(USNET_LOG_INFO);
	parse_args(argc, argv, &conf);
	usnet_log_set_level((enum usnet_log_level)conf.log_level);
	if (conf.check_only) {
		usnetd_conf_print(&conf, stdout);
		return 0;
	}
	if (conf.use_syslog) {
		openlog("usnetd", LOG_PID, LOG_DAEMON);
		log_syslog = true;
	}
	if (!conf.nuplinks)
		USNET_WARN("no uplink: clients can only reach each other");
	return conf.supervise ? supervise(&conf) : run_daemon(&conf);
}
