/* SPDX-License-Identifier: MIT */
/*
 * memif control channel, the server role: listen, admit each peer at
 * accept before it takes a pending slot, take INIT on a pending socket,
 * then regions (checked: shmem memfd, seals before size) and rings until
 * CONNECT, for any number of interfaces (msg.c has the message sequence
 * and the transport).
 */
#define _GNU_SOURCE /* accept4(), struct ucred, F_GET_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <linux/magic.h>
#include <usnet/log.h>
#include <usnet/time.h>

#include "internal.h"

#define MAX_PENDING	64  /* accepted sockets that have not sent INIT yet */
#define MAX_PENDING_UID 4   /* ... of them from one uid */
#define BACKLOG		128 /* connections the kernel queues before accept() */
#define MAX_IFACES	256

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

/*
 * One message from a client past INIT (msg_pump() took DISCONNECT and
 * closes the fd unless we keep it). NULL, or the violation to disconnect
 * with.
 */
static const char *conn_handle(void *role, struct usnet_memif_conn *c, const struct memif_msg *m,
			       int *fd)
{
	struct usnet_memif_server *srv = role;
	const char *bad;

	if (c->state != MEMIF_ST_CONFIG)
		return "Unexpected message";
	switch (m->type) {
	case MEMIF_MSG_ADD_REGION:
		bad = server_add_region(c, &m->add_region, *fd);
		*fd = bad ? *fd : -1; /* taken */
		break;
	case MEMIF_MSG_ADD_RING:
		bad = server_add_ring(c, &m->add_ring, *fd);
		*fd = bad ? *fd : -1;
		break;
	case MEMIF_MSG_CONNECT:
		bad = server_connect(c);
		if (!bad)
			copy_name(c->peer_if_name, sizeof(c->peer_if_name), m->connect.if_name,
				  MEMIF_NAME_SZ);
		break;
	default:
		bad = "Unexpected message";
	}
	if (bad)
		return bad;
	if (send_simple(c->fd,
			m->type == MEMIF_MSG_CONNECT ? MEMIF_MSG_CONNECTED : MEMIF_MSG_ACK)) {
		server_down(srv, c, "Failed to send a control message", false, false);
		return NULL;
	}
	if (m->type == MEMIF_MSG_CONNECT) {
		c->state = MEMIF_ST_UP;
		c->connects++;
		c->reason[0] = '\0';
		usnet_memif_publish(c);
		USNET_INFO("memif: server %s: id %u up, client '%s' pid %d (%u+%u rings)",
			   srv->path, c->id, c->peer_name, (int)c->peer_pid, c->n_c2s, c->n_s2c);
		if (srv->conf.on_up)
			srv->conf.on_up(srv->conf.ctx, c);
	}
	return NULL;
}

static void conn_down_op(void *role, struct usnet_memif_conn *c, const char *reason, bool tell,
			 bool violation)
{
	server_down(role, c, reason, tell, violation);
}

static const struct memif_role_ops server_ops = {.handle = conn_handle, .down = conn_down_op};

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
			msg_pump(srv->ifs[idx], &server_ops, srv);
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
