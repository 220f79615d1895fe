/* SPDX-License-Identifier: MIT */
/*
 * usnetd: owns uplink ports, serves memif clients, and switches frames
 * between them, on one thread (docs/usnetd.md).
 *
 * The poll loop: receive a burst from every uplink RX queue and every
 * connected client's C2S rings, decide each frame's destination
 * (switch.c), collect frames per destination, send each destination's
 * batch once per loop (forward.c). After spin_us without a frame it arms
 * every queue (usnet_port_arm(), usnet_memif_arm()) and sleeps in epoll on the uplink
 * fds, the clients' C2S eventfds and the control events; any of them wakes
 * it. The memif control side (accept, handshakes, disconnects), the
 * control socket and signals are served between bursts, at most every
 * millisecond while busy, and at once after a wake-up.
 *
 * Clients are untrusted: everything they write is validated by the memif
 * layer (src/memif/queue.c) before use, a violation ends only that client's
 * connection, and frames are copied, never shared, between clients.
 */
#define _GNU_SOURCE /* sched_setaffinity(), signalfd */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/pkt.h>
#include <usnet/time.h>

#include "forward.h"
#include "usnetd.h"

#define HOUSE_NS    (1000 * 1000ull)	   /* control events at most this late while busy */
#define SRV_POLL_NS (100 * 1000 * 1000ull) /* memif timeouts (handshake) checked this often */
#define SLEEP_MS    100			   /* longest sleep: timeouts need a look now and then */

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
				work += usnetd_poll_uplink(d, &d->up[i]);
		for (unsigned i = 0; i < d->nactive; i++)
			work += usnetd_poll_iface(d, d->active[i]);
		usnetd_flush_all(d);
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
		return USNETD_EXIT_FAIL;
	}
	d->conf = c;
	d->sigfd = d->ep_ctl = d->ep_sleep = -1;
	err = setup(d);
	if (err) {
		USNET_ERR("%s", usnet_last_error());
		teardown(d);
		free(d);
		return USNETD_EXIT_FAIL;
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

int main(int argc, char **argv)
{
	static struct usnetd_conf conf; /* large: not on the stack */

	usnetd_conf_init(&conf);
	usnet_log_set_handler(log_handler, NULL);
	usnet_log_set_level(USNET_LOG_INFO);
	usnetd_parse_args(argc, argv, &conf);
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
	return conf.supervise ? usnetd_supervise(&conf, run_daemon) : run_daemon(&conf);
}
