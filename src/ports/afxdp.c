/* SPDX-License-Identifier: MIT */
/*
 * afxdp:IFNAME — a Linux network interface through AF_XDP sockets
 * (the kernel's Documentation/networking/af_xdp.rst), with libxdp's xsk
 * API for the sockets and rings and libxdp for the XDP program, so that
 * the program shares the interface with others (libxdp's dispatcher).
 *
 * Memory: one UMEM per port, carved into usnet pools with
 * usnet_pool_create_in(): one per RX queue (the fill ring's buffers, handed
 * to the application by rx_burst without a copy) and one per TX queue (for
 * copies of packets that live outside the UMEM). Each buffer is one aligned
 * UMEM chunk of 2048 (or 4096) bytes: the 64-byte struct usnet_pkt, then
 * the data room. The UMEM's frame_headroom covers the header, so the
 * kernel writes a frame at chunk + 64 + XDP_PACKET_HEADROOM, which is
 * data_off 256 of the packet. A packet of the UMEM is sent as it is; its
 * chunk comes back on the completion ring and is freed to its pool.
 *
 * Queues: socket i is bound to the interface's queue (queue= + i) and has
 * its own fill and completion rings on the shared UMEM (XDP_SHARED_UMEM).
 *
 * The XDP program (afxdp_prog.bpf.c, built with clang -target bpf and
 * linked into the library) redirects every frame (prog=all) or the frames
 * that match the steer set (prog=steer) into xsks_map[rx_queue_index].
 * A process that dies leaves its program attached (libxdp pins it in
 * bpffs); it redirects nowhere then (the socket left xsks_map when it
 * closed) and the next open on the interface detaches it: usnet_cfg holds
 * the owner's pid.
 *
 * Hand-written ring code would duplicate libxdp's xsk.h; the rings'
 * producer/consumer atomics are libxdp's (libxdp_ring_*).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/if_xdp.h>
#include <linux/magic.h>
#include <linux/sockios.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include <usnet/proto.h>

#include "afxdp_obj.h"
#include "afxdp_prog.h"
#include "port_impl.h"

#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

#define XP_PKT_HDR     ((uint32_t)sizeof(struct usnet_pkt))
#define XP_DATA_OFF    (XP_PKT_HDR + XDP_PACKET_HEADROOM) /* from the chunk's start */
#define XP_DFLT_POOL   4096u
#define XP_DFLT_RING   2048u
#define XP_FILL_BATCH  64u   /* refill when this many fill slots are free */
#define XP_STATS_EVERY 1024u /* rx_bursts between XDP_STATISTICS reads */
#define XP_VLAN_HLEN   4u
#define XP_HUGE	       (2u << 20)
#define XP_BPFFS       "/sys/fs/bpf"

enum xp_prog { XP_PROG_STEER, XP_PROG_ALL, XP_PROG_NONE };
enum xp_zc { XP_ZC_AUTO, XP_ZC_ON, XP_ZC_OFF };

struct xp_queue {
	struct xsk_socket *xsk;
	struct xsk_ring_cons rx;
	struct xsk_ring_prod tx;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	int fd;
	uint32_t tx_outstanding;    /* descriptors given to the kernel, not yet completed */
	uint32_t rx_polls;	    /* rx_burst calls since XDP_STATISTICS was read */
	bool stalled;		    /* the pool was empty at the last refill */
	struct xdp_statistics seen; /* the kernel's counters, as last added */
	struct usnet_pool *txpool;  /* copies of packets from outside the UMEM */
};

struct xp_opts {
	uint32_t queue;
	uint32_t queues;
	uint32_t busy_poll;
	bool need_wakeup;
	enum xp_zc zc;
	enum xp_prog prog;
	uint32_t ip4;  /* network order */
	uint16_t port; /* network order */
	uint8_t proto;
};

struct xp_port {
	struct usnet_port port;
	int ifindex;
	char ifname[IFNAMSIZ];
	struct xp_opts o;
	uint16_t nsock;
	uint32_t chunk;	    /* UMEM chunk: a packet buffer with its header */
	uint32_t max_frame; /* mtu + 14 */
	uint32_t rx_room;   /* the longest frame the kernel writes into a chunk */
	uint32_t ring_size;
	uint8_t *umem_area;
	size_t umem_len;
	struct xsk_umem *umem;
	bool zerocopy;
	uint32_t fail_qid; /* the interface queue whose socket failed last */
	/* the XDP program */
	struct bpf_object *obj;
	struct xdp_program *prog;
	enum xdp_attach_mode attach_mode;
	bool attached;
	int promisc_fd;	 /* AF_PACKET socket holding a PACKET_MR_PROMISC membership */
	int ctl_fd;	 /* AF_INET datagram socket for interface ioctls */
	int xsks_map_fd; /* ours, or (prog=none) the one on the interface */
	int macs_fd;
	int cfg_fd;
	struct xp_queue q[USNET_MAX_QUEUES];
};

/* ---- fast path --------------------------------------------------------- */

static inline struct usnet_pkt *xp_pkt_of(const struct xp_port *xp, uint64_t addr)
{
	return (struct usnet_pkt *)(xp->umem_area + (addr & ~(uint64_t)(xp->chunk - 1)));
}

static inline bool xp_in_umem(const struct xp_port *xp, const struct usnet_pkt *p)
{
	return (const uint8_t *)p >= xp->umem_area &&
	       (const uint8_t *)p < xp->umem_area + xp->umem_len;
}

/* Add what the kernel counted since we last looked (XDP_STATISTICS is
 * cumulative per socket, af_xdp.rst "XDP_STATISTICS getsockopt"). */
static void xp_read_stats(struct xp_port *xp, uint16_t qi)
{
	struct xp_queue *q = &xp->q[qi];
	struct usnet_queue_stats *st = &xp->port.stats[qi];
	struct xdp_statistics now = {0}; /* kernels before 5.9 fill only three fields */
	socklen_t len = sizeof(now);

	q->rx_polls = 0;
	if (getsockopt(q->fd, SOL_XDP, XDP_STATISTICS, &now, &len) < 0)
		return;
	/* Dropped: no fill buffer or other reasons (rx_dropped), RX ring full
	 * (rx_ring_full). rx_fill_ring_empty_descs counts the same frames as
	 * rx_dropped when the fill ring was empty; rx_nobuf is usnet's own
	 * pool running dry (xp_refill()). */
	st->rx_dropped +=
	    (now.rx_dropped - q->seen.rx_dropped) + (now.rx_ring_full - q->seen.rx_ring_full);
	st->rx_errors += now.rx_invalid_descs - q->seen.rx_invalid_descs;
	st->tx_errors += now.tx_invalid_descs - q->seen.tx_invalid_descs;
	q->seen = now;
}

/* Give the kernel fill buffers from the queue's pool, in bursts of at
 * least XP_FILL_BATCH, up to a full fill ring. */
static void xp_refill(struct xp_port *xp, uint16_t qi)
{
	struct xp_queue *q = &xp->q[qi];
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	uint32_t idx = 0, room = xsk_prod_nb_free(&q->fill, xp->ring_size), got = 0;

	if (room < XP_FILL_BATCH)
		return;
	while (room) {
		uint32_t want = room < USNET_MAX_BURST ? room : USNET_MAX_BURST;
		uint32_t n = usnet_pool_alloc_bulk(xp->port.pool[qi], pkts, want);

		if (!n)
			break;
		/* nb_free above saw room for these; the reservation cannot fail. */
		xsk_ring_prod__reserve(&q->fill, n, &idx);
		for (uint32_t i = 0; i < n; i++)
			*xsk_ring_prod__fill_addr(&q->fill, idx + i) =
			    (uint64_t)((uint8_t *)pkts[i] - xp->umem_area);
		xsk_ring_prod__submit(&q->fill, n);
		got += n;
		room -= n;
		if (n < want)
			break;
	}
	if (room && !q->stalled) {
		xp->port.stats[qi].rx_nobuf++;
		q->stalled = true;
	} else if (!room) {
		q->stalled = false;
	}
	/* A zero-copy driver may sleep until told that buffers are back. */
	if (got && xsk_ring_prod__needs_wakeup(&q->fill))
		(void)recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
}

static uint16_t xp_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			    uint16_t n)
{
	struct xp_port *xp = usnet_container_of(port, struct xp_port, port);
	struct xp_queue *q = &xp->q[queue];
	uint32_t idx, got, kept = 0;

	got = xsk_ring_cons__peek(&q->rx, n, &idx);
	for (uint32_t i = 0; i < got; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&q->rx, idx + i);
		uint64_t addr = d->addr;
		struct usnet_pkt *p = xp_pkt_of(xp, addr);
		uint64_t off = (addr & (xp->chunk - 1)) - XP_PKT_HDR;

		/* The kernel writes inside the chunks we gave it; check anyway,
		 * a bad descriptor must not become a wild pointer. */
		if (addr >= xp->umem_len || off + d->len > p->room || d->len < USNET_ETH_HLEN ||
		    (addr & (xp->chunk - 1)) < XP_PKT_HDR) {
			port->stats[queue].rx_errors++;
			if (addr < xp->umem_len && usnet_pool_owns(port->pool[queue], p))
				usnet_pkt_free(p);
			continue;
		}
		p->data_off = (uint16_t)off;
		p->len = (uint16_t)d->len;
		p->flags = 0;
		p->hash = 0;
		pkts[kept++] = p;
	}
	if (got)
		xsk_ring_cons__release(&q->rx, got);
	xp_refill(xp, queue);
	if (!got && xp->o.busy_poll)
		/* Drive the driver's NAPI from here (SO_PREFER_BUSY_POLL). */
		(void)recvfrom(q->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	if (++q->rx_polls >= XP_STATS_EVERY)
		xp_read_stats(xp, queue);
	return (uint16_t)kept;
}

/* Free what the kernel finished sending. */
static void xp_complete(struct xp_port *xp, struct xp_queue *q)
{
	struct usnet_pkt *done[USNET_MAX_BURST];
	uint32_t idx, n;

	while ((n = xsk_ring_cons__peek(&q->comp, USNET_MAX_BURST, &idx)) > 0) {
		for (uint32_t i = 0; i < n; i++)
			done[i] = xp_pkt_of(xp, *xsk_ring_cons__comp_addr(&q->comp, idx + i));
		xsk_ring_cons__release(&q->comp, n);
		q->tx_outstanding -= n;
		usnet_pkt_free_bulk(done, n);
	}
}

/*
 * Make the kernel send what the TX ring holds. In copy mode each sendto()
 * sends a bounded batch (32 frames, xsk_generic_xmit()) and says EAGAIN
 * if more wait, so kick once per such batch, a bounded number of times;
 * what is left goes with the next tx_burst.
 */
static void xp_kick_tx(struct xp_port *xp, uint16_t qi, uint32_t queued)
{
	struct xp_queue *q = &xp->q[qi];

	if (xp->o.need_wakeup && !xsk_ring_prod__needs_wakeup(&q->tx))
		return;
	for (uint32_t tries = queued / 32 + 2; tries-- > 0;) {
		if (sendto(q->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) >= 0)
			return;
		if (errno != EAGAIN && errno != EBUSY && errno != EINTR)
			return; /* ENETDOWN, ENOBUFS: the descriptors stay; counted by the kernel */
	}
}

static inline bool xp_tx_len_ok(const struct xp_port *xp, const struct usnet_pkt *p)
{
	const uint8_t *d;

	if (p->len < USNET_ETH_HLEN)
		return false;
	if (p->len <= xp->max_frame)
		return true;
	d = usnet_pkt_data(p);
	return p->len <= xp->max_frame + XP_VLAN_HLEN && d[12] == 0x81 && d[13] == 0x00;
}

static uint16_t xp_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			    uint16_t n)
{
	struct xp_port *xp = usnet_container_of(port, struct xp_port, port);
	struct xp_queue *q = &xp->q[queue];
	uint32_t idx = 0, room, queued = 0;
	uint16_t i;

	xp_complete(xp, q);
	room = xsk_prod_nb_free(&q->tx, n);
	if (room > n)
		room = n;
	if (!room) {
		xp_kick_tx(xp, queue, 0);
		return 0;
	}
	xsk_ring_prod__reserve(&q->tx, room, &idx);
	for (i = 0; i < n && queued < room; i++) {
		struct usnet_pkt *p = pkts[i];
		struct xdp_desc *d;

		if (!xp_tx_len_ok(xp, p) || p->data_off + (uint32_t)p->len > p->room) {
			port->stats[queue].tx_errors++;
			usnet_pkt_free(p);
			continue;
		}
		if (!xp_in_umem(xp, p)) {
			/* Not ours to lend the kernel: copy into a TX buffer. */
			struct usnet_pkt *c = usnet_pkt_alloc(q->txpool);

			if (!c || p->len > c->room - c->data_off) {
				if (c)
					usnet_pkt_free(c);
				break; /* the caller keeps pkts[i..] */
			}
			memcpy(usnet_pkt_data(c), usnet_pkt_data(p), p->len);
			c->len = p->len;
			usnet_pkt_free(p);
			p = c;
		}
		d = xsk_ring_prod__tx_desc(&q->tx, idx + queued);
		d->addr = (uint64_t)(usnet_pkt_data(p) - xp->umem_area);
		d->len = p->len;
		d->options = 0;
		queued++;
	}
	/* Slots reserved and not filled go back (the producer is private
	 * until submit). */
	q->tx.cached_prod -= room - queued;
	if (queued) {
		xsk_ring_prod__submit(&q->tx, queued);
		q->tx_outstanding += queued;
	}
	if (queued || q->tx_outstanding)
		xp_kick_tx(xp, queue, queued);
	return i;
}

static int xp_queue_fd(struct usnet_port *port, uint16_t queue)
{
	return usnet_container_of(port, struct xp_port, port)->q[queue].fd;
}

/* Before sleeping: buffers in the fill ring, counters read. poll() on the
 * socket wakes the driver itself if it asked for it (need_wakeup). */
static bool xp_arm(struct usnet_port *port, uint16_t queue)
{
	struct xp_port *xp = usnet_container_of(port, struct xp_port, port);
	struct xp_queue *q = &xp->q[queue];

	xp_refill(xp, queue);
	xp_read_stats(xp, queue);
	return xsk_cons_nb_avail(&q->rx, 1) > 0;
}

static void xp_stats_sync(const struct usnet_port *port)
{
	/* The stats live in the port, which is never const itself. */
	struct xp_port *xp = usnet_container_of((struct usnet_port *)port, struct xp_port, port);

	for (uint16_t i = 0; i < xp->nsock; i++)
		xp_read_stats(xp, i);
}

/* ---- link -------------------------------------------------------------- */

static int xp_ifreq(int fd, unsigned long req, const char *ifname, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	return ioctl(fd, req, ifr) < 0 ? -errno : 0;
}

static int xp_link(struct usnet_port *port, struct usnet_link *link)
{
	struct xp_port *xp = usnet_container_of(port, struct xp_port, port);
	struct ethtool_value ev = {.cmd = ETHTOOL_GLINK};
	struct ethtool_cmd ecmd = {.cmd = ETHTOOL_GSET};
	struct ifreq ifr;
	int fd = xp->ctl_fd; /* an AF_XDP socket takes no interface ioctls */

	link->up = false;
	link->speed_mbps = 0;
	if (xp_ifreq(fd, SIOCGIFFLAGS, xp->ifname, &ifr) || !(ifr.ifr_flags & IFF_UP))
		return 0;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", xp->ifname);
	ifr.ifr_data = (char *)&ev;
	link->up = ioctl(fd, SIOCETHTOOL, &ifr) == 0 ? ev.data != 0 : true;
	ifr.ifr_data = (char *)&ecmd;
	if (link->up && ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
		uint32_t speed = ethtool_cmd_speed(&ecmd);

		if (speed != (uint32_t)SPEED_UNKNOWN && speed)
			link->speed_mbps = speed;
	}
	return 0;
}

/* ---- the XDP program ----------------------------------------------------- */

static int xp_libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	if (level != LIBXDP_WARN)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	if (len && msg[len - 1] == '\n')
		msg[len - 1] = '\0';
	USNET_INFO("afxdp: libxdp/libbpf: %s", msg);
	return 0;
}

static int xp_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? xp_libxdp_print(LIBXDP_WARN, fmt, ap) : 0;
}

/* libxdp pins its dispatcher in bpffs; without it, two programs cannot
 * share an interface and a crashed owner's program cannot be found. */
static int xp_need_bpffs(void)
{
	struct statfs sf;

	if (statfs(XP_BPFFS, &sf) == 0 && sf.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", XP_BPFFS, "bpf", 0, "mode=0700") == 0) {
		USNET_INFO("afxdp: mounted a BPF filesystem on %s (libxdp pins its "
			   "dispatcher there)",
			   XP_BPFFS);
		return 0;
	}
	return usnet_error(errno,
			   "afxdp: %s is not a BPF filesystem and mounting one failed "
			   "(%s): mount -t bpf bpf %s",
			   XP_BPFFS, strerror(errno), XP_BPFFS);
}

/* The value of map `name` used by program fd, copied to val; -ENOENT if none. */
static int xp_prog_map_value(int prog_fd, const char *name, void *val)
{
	struct bpf_prog_info info = {0};
	uint32_t ids[8], len = sizeof(info), zero = 0;
	int err = -ENOENT;

	info.nr_map_ids = 8;
	info.map_ids = (uint64_t)(uintptr_t)ids;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len))
		return -errno;
	for (uint32_t i = 0; i < info.nr_map_ids && i < 8 && err == -ENOENT; i++) {
		struct bpf_map_info mi = {0};
		uint32_t mlen = sizeof(mi);
		int fd = bpf_map_get_fd_by_id(ids[i]);

		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) && !strcmp(mi.name, name))
			err = bpf_map_lookup_elem(fd, &zero, val) ? -errno : 0;
		close(fd);
	}
	return err;
}

/* Detach usnet programs on the interface whose owner process is gone. */
static void xp_detach_stale(struct xp_port *xp)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(xp->ifindex);
	struct xdp_program *p, *stale[16];
	enum xdp_attach_mode mode;
	int nstale = 0;

	if (libxdp_get_error(mp))
		return;
	mode = xdp_multiprog__attach_mode(mp);
	if (xdp_multiprog__is_legacy(mp))
		p = xdp_multiprog__main_prog(mp);
	else
		p = xdp_multiprog__next_prog(NULL, mp);
	for (; p && nstale < 16;
	     p = xdp_multiprog__is_legacy(mp) ? NULL : xdp_multiprog__next_prog(p, mp)) {
		struct usnet_xdp_cfg cfg;

		if (strcmp(xdp_program__name(p), USNET_XDP_PROG_NAME) ||
		    xp_prog_map_value(xdp_program__fd(p), "usnet_cfg", &cfg))
			continue;
		if (cfg.owner_pid && kill((pid_t)cfg.owner_pid, 0) < 0 && errno == ESRCH)
			stale[nstale++] = p;
	}
	for (int i = 0; i < nstale; i++) {
		int err = xdp_program__detach(stale[i], xp->ifindex, mode, 0);

		if (err)
			USNET_WARN("afxdp:%s: could not detach the program of a process that is "
				   "gone (id %u): %s",
				   xp->ifname, xdp_program__id(stale[i]), strerror(-err));
		else
			USNET_INFO("afxdp:%s: detached the XDP program of a process that is gone "
				   "(id %u)",
				   xp->ifname, xdp_program__id(stale[i]));
	}
	xdp_multiprog__close(mp);
}

static const char *xp_mode_name(enum xdp_attach_mode m)
{
	return m == XDP_MODE_NATIVE ? "native" : m == XDP_MODE_SKB ? "generic (skb)" : "offload";
}

static int xp_map_fd(struct xp_port *xp, const char *name)
{
	struct bpf_map *m = bpf_object__find_map_by_name(xp->obj, name);

	return m ? bpf_map__fd(m) : -ENOENT;
}

static int xp_attach_prog(struct xp_port *xp)
{
	LIBBPF_OPTS(bpf_object_open_opts, oopts, .object_name = "usnet_afxdp");
	DECLARE_LIBXDP_OPTS(xdp_program_opts, popts, .prog_name = USNET_XDP_PROG_NAME);
	struct usnet_xdp_cfg cfg = {
	    .mode = xp->o.prog == XP_PROG_ALL ? USNET_XDP_ALL : USNET_XDP_STEER,
	    .owner_pid = (uint32_t)getpid(),
	    .ip4 = xp->o.ip4,
	    .port = xp->o.port,
	    .proto = xp->o.proto,
	};
	uint32_t zero = 0;
	int err;

	xp->obj = bpf_object__open_mem(usnet_afxdp_obj, usnet_afxdp_obj_len, &oopts);
	if (!xp->obj) {
		err = errno;
		return usnet_error(err, "afxdp:%s: opening the built-in XDP program: %s",
				   xp->ifname, strerror(err));
	}
	popts.obj = xp->obj;
	xp->prog = xdp_program__create(&popts);
	err = (int)libxdp_get_error(xp->prog);
	if (err) {
		xp->prog = NULL;
		return usnet_error(-err, "afxdp:%s: libxdp could not take the XDP program: %s",
				   xp->ifname, strerror(-err));
	}
	xp_detach_stale(xp);
	/* Native first; the generic (skb) hook works on every driver, slower. */
	xp->attach_mode = XDP_MODE_NATIVE;
	err = xdp_program__attach(xp->prog, xp->ifindex, XDP_MODE_NATIVE, 0);
	if (err == -EOPNOTSUPP || err == -EINVAL) {
		int native_err = err;

		xp->attach_mode = XDP_MODE_SKB;
		err = xdp_program__attach(xp->prog, xp->ifindex, XDP_MODE_SKB, 0);
		if (!err)
			USNET_INFO("afxdp:%s: the driver has no native XDP (%s): program in "
				   "generic (skb) mode",
				   xp->ifname, strerror(-native_err));
	}
	if (err == -EPERM || err == -EACCES)
		return usnet_error(EPERM,
				   "afxdp:%s: loading an XDP program needs CAP_BPF and "
				   "CAP_NET_ADMIN (run as root)",
				   xp->ifname);
	if (err == -EEXIST || err == -EBUSY)
		return usnet_error(EBUSY,
				   "afxdp:%s: the interface has an XDP program that libxdp "
				   "cannot share (attached without libxdp's dispatcher, or in "
				   "another mode); remove it (xdp-loader unload %s --all, or ip "
				   "link set %s xdp off) or use prog=none",
				   xp->ifname, xp->ifname, xp->ifname);
	if (err == -ENOENT)
		return usnet_error(ENOENT,
				   "afxdp:%s: libxdp could not find its dispatcher program "
				   "(xdp-dispatcher.o, from the libxdp1 package; or set "
				   "LIBXDP_OBJECT_PATH)",
				   xp->ifname);
	if (err == -ENOSYS)
		return usnet_error(ENOSYS,
				   "afxdp: this kernel has no BPF support (CONFIG_BPF_SYSCALL)");
	if (err)
		return usnet_error(-err, "afxdp:%s: attaching the XDP program: %s", xp->ifname,
				   strerror(-err));
	xp->attached = true;
	xp->xsks_map_fd = xp_map_fd(xp, "xsks_map");
	xp->macs_fd = xp_map_fd(xp, "usnet_macs");
	xp->cfg_fd = xp_map_fd(xp, "usnet_cfg");
	if (xp->xsks_map_fd < 0 || xp->macs_fd < 0 || xp->cfg_fd < 0)
		return usnet_error(EINVAL, "afxdp:%s: the XDP program's maps are missing",
				   xp->ifname);
	/* The interface's own MAC is the application's only when ip=, port=
	 * or proto= tell its frames from the host's; otherwise the set starts
	 * empty and the application adds its MACs (usnet_port_steer_mac()). */
	if (xp->o.prog == XP_PROG_STEER && (xp->o.ip4 || xp->o.port || xp->o.proto)) {
		struct usnet_xdp_mac key = {0};
		uint8_t one = 1;

		memcpy(key.addr, xp->port.info.mac, 6);
		if (bpf_map_update_elem(xp->macs_fd, &key, &one, BPF_ANY))
			return usnet_error(errno, "afxdp:%s: usnet_macs: %s", xp->ifname,
					   strerror(errno));
	}
	if (bpf_map_update_elem(xp->cfg_fd, &zero, &cfg, BPF_ANY))
		return usnet_error(errno, "afxdp:%s: usnet_cfg: %s", xp->ifname, strerror(errno));
	if (xp->o.prog == XP_PROG_STEER && !(xp->o.ip4 || xp->o.port || xp->o.proto))
		USNET_INFO("afxdp:%s: prog=steer without ip=, port= or proto=: no frame is "
			   "steered to usnet until the application adds a MAC (prog=all takes "
			   "every frame)",
			   xp->ifname);
	USNET_INFO("afxdp:%s: XDP program (prog=%s) attached in %s mode through libxdp", xp->ifname,
		   xp->o.prog == XP_PROG_ALL ? "all" : "steer", xp_mode_name(xp->attach_mode));
	return 0;
}

/* prog=none: the sockets go into the XSKMAP named xsks_map of a program
 * someone else attached. */
static int xp_find_foreign_map(struct xp_port *xp)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex(xp->ifindex);
	struct xdp_program *p;

	if (libxdp_get_error(mp) || !mp)
		return usnet_error(ENOENT,
				   "afxdp:%s: prog=none, and the interface has no XDP "
				   "program: load one with an XSKMAP named xsks_map first",
				   xp->ifname);
	p = xdp_multiprog__is_legacy(mp) ? xdp_multiprog__main_prog(mp)
					 : xdp_multiprog__next_prog(NULL, mp);
	for (; p && xp->xsks_map_fd < 0;
	     p = xdp_multiprog__is_legacy(mp) ? NULL : xdp_multiprog__next_prog(p, mp)) {
		struct bpf_prog_info info = {0};
		uint32_t ids[8], len = sizeof(info);

		info.nr_map_ids = 8;
		info.map_ids = (uint64_t)(uintptr_t)ids;
		if (bpf_obj_get_info_by_fd(xdp_program__fd(p), &info, &len))
			continue;
		for (uint32_t i = 0; i < info.nr_map_ids && i < 8; i++) {
			struct bpf_map_info mi = {0};
			uint32_t mlen = sizeof(mi);
			int fd = bpf_map_get_fd_by_id(ids[i]);

			if (fd < 0)
				continue;
			if (!bpf_obj_get_info_by_fd(fd, &mi, &mlen) &&
			    mi.type == BPF_MAP_TYPE_XSKMAP && !strcmp(mi.name, "xsks_map")) {
				xp->xsks_map_fd = fd;
				break;
			}
			close(fd);
		}
	}
	xdp_multiprog__close(mp);
	if (xp->xsks_map_fd < 0)
		return usnet_error(ENOENT,
				   "afxdp:%s: prog=none, and no XDP program on the "
				   "interface has an XSKMAP named xsks_map",
				   xp->ifname);
	return 0;
}

/* ---- sockets ------------------------------------------------------------- */

static int xp_map_umem(struct xp_port *xp)
{
	size_t len = 0;

	for (uint16_t i = 0; i < xp->nsock; i++) {
		struct usnet_pool_conf pc = {
		    .count = i < xp->port.info.rx_queues ? xp->port.conf.pool_size : 0,
		    .data_size = (uint16_t)(xp->chunk - XP_PKT_HDR),
		    .headroom = XDP_PACKET_HEADROOM,
		};
		struct usnet_pool_conf tc = pc;

		tc.count = xp->ring_size * 2;
		if (pc.count)
			len += (usnet_pool_mem_size(&pc) + XP_HUGE - 1) & ~(size_t)(XP_HUGE - 1);
		len += (usnet_pool_mem_size(&tc) + XP_HUGE - 1) & ~(size_t)(XP_HUGE - 1);
	}
	xp->umem_area = mmap(NULL, len, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
	if (xp->umem_area == MAP_FAILED)
		xp->umem_area = mmap(NULL, len, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (xp->umem_area == MAP_FAILED) {
		xp->umem_area = NULL;
		return usnet_error(ENOMEM, "afxdp:%s: no memory for a UMEM of %zu bytes",
				   xp->ifname, len);
	}
	xp->umem_len = len;
	return 0;
}

/* Cut the UMEM into the RX pools (port->pool[i]) and the TX copy pools. */
static int xp_carve_pools(struct xp_port *xp)
{
	size_t off = 0;
	int err;

	for (uint16_t i = 0; i < xp->nsock; i++) {
		char name[32];
		struct usnet_pool_conf pc = {
		    .count = xp->port.conf.pool_size,
		    .data_size = (uint16_t)(xp->chunk - XP_PKT_HDR),
		    .headroom = XDP_PACKET_HEADROOM,
		    .name = name,
		};
		size_t len;

		if (i < xp->port.info.rx_queues) {
			snprintf(name, sizeof(name), "afxdp-rx%u", i);
			len = usnet_pool_mem_size(&pc);
			err =
			    usnet_pool_create_in(&xp->port.pool[i], &pc, xp->umem_area + off, len);
			if (err)
				return err;
			off += (len + XP_HUGE - 1) & ~(size_t)(XP_HUGE - 1);
		}
		snprintf(name, sizeof(name), "afxdp-tx%u", i);
		pc.count = xp->ring_size * 2;
		len = usnet_pool_mem_size(&pc);
		err = usnet_pool_create_in(&xp->q[i].txpool, &pc, xp->umem_area + off, len);
		if (err)
			return err;
		off += (len + XP_HUGE - 1) & ~(size_t)(XP_HUGE - 1);
	}
	return 0;
}

/* The interface's RX queues, as /sys/class/net/IF/queues lists them. */
static uint32_t xp_rx_queue_count(const struct xp_port *xp)
{
	char path[64];
	uint32_t n = 0;

	for (; n < 4096; n++) {
		snprintf(path, sizeof(path), "/sys/class/net/%s/queues/rx-%u", xp->ifname, n);
		if (access(path, F_OK))
			break;
	}
	return n;
}

static int xp_socket_error(struct xp_port *xp, uint32_t qid, int err)
{
	const char *ifname = xp->ifname;

	switch (err) {
	case EPERM:
	case EACCES:
		return usnet_error(EPERM, "afxdp: an AF_XDP socket needs CAP_NET_RAW, the XDP "
					  "program CAP_BPF and CAP_NET_ADMIN (run as root)");
	case EAFNOSUPPORT:
		return usnet_error(EAFNOSUPPORT, "afxdp: this kernel has no AF_XDP sockets "
						 "(CONFIG_XDP_SOCKETS; Linux >= 5.11 needed)");
	case EINVAL:
		if (qid >= xp_rx_queue_count(xp))
			return usnet_error(EINVAL,
					   "afxdp:%s: queue %u does not exist: the "
					   "interface has %u RX queue(s) (ethtool -l %s)",
					   ifname, qid, xp_rx_queue_count(xp), ifname);
		return usnet_error(EINVAL, "afxdp:%s: queue %u: binding the AF_XDP socket: %s",
				   ifname, qid, strerror(err));
	case EBUSY:
		return usnet_error(EBUSY,
				   "afxdp:%s: queue %u is in use by another AF_XDP socket "
				   "(another process?); pick another with queue=",
				   ifname, qid);
	case ENOMEM:
	case ENOBUFS:
		return usnet_error(err,
				   "afxdp:%s: queue %u: no memory for the rings or UMEM "
				   "(locked memory limit? ulimit -l)",
				   ifname, qid);
	default:
		return usnet_error(err, "afxdp:%s: queue %u: AF_XDP socket: %s", ifname, qid,
				   strerror(err));
	}
}

static int xp_create_socket(struct xp_port *xp, uint16_t i, uint16_t bind_flags)
{
	struct xp_queue *q = &xp->q[i];
	struct xsk_socket_config cfg = {
	    .rx_size = xp->ring_size,
	    .tx_size = xp->ring_size,
	    .libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
	    .bind_flags = bind_flags,
	};

	return xsk_socket__create_shared(&q->xsk, xp->ifname, xp->o.queue + i, xp->umem, &q->rx,
					 &q->tx, &q->fill, &q->comp, &cfg);
}

/*
 * conf.promisc: frames for MACs other than the interface's (usnetd's
 * clients) must get past the NIC's filter. A packet socket's
 * PACKET_MR_PROMISC membership does it, and the kernel drops it when the
 * socket closes, also when the process dies (packet(7)). Bound to
 * protocol 0, the socket receives nothing.
 */
static int xp_promisc(struct xp_port *xp)
{
	struct packet_mreq mr = {.mr_ifindex = xp->ifindex, .mr_type = PACKET_MR_PROMISC};

	xp->promisc_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (xp->promisc_fd < 0 ||
	    setsockopt(xp->promisc_fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0)
		return usnet_error(errno, "afxdp:%s: promiscuous mode: %s", xp->ifname,
				   strerror(errno));
	return 0;
}

/* Before touching anything: may this process make AF_XDP sockets? */
static int xp_check_af_xdp(struct xp_port *xp)
{
	int fd = socket(AF_XDP, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return xp_socket_error(xp, xp->o.queue, errno);
	close(fd);
	return 0;
}

static void xp_close_sockets(struct xp_port *xp)
{
	for (uint16_t i = 0; i < USNET_MAX_QUEUES; i++) {
		if (xp->q[i].xsk)
			xsk_socket__delete(xp->q[i].xsk);
		xp->q[i].xsk = NULL;
		xp->q[i].fd = -1;
	}
	if (xp->umem)
		xsk_umem__delete(xp->umem);
	xp->umem = NULL;
}

/* The UMEM and one socket per queue, zero-copy or copy as bind_flags say. */
static int xp_open_sockets(struct xp_port *xp, uint16_t bind_flags)
{
	struct xsk_umem_config ucfg = {
	    .fill_size = xp->ring_size,
	    .comp_size = xp->ring_size,
	    .frame_size = xp->chunk,
	    .frame_headroom = XP_PKT_HDR,
	};
	int err = xsk_umem__create(&xp->umem, xp->umem_area, xp->umem_len, &xp->q[0].fill,
				   &xp->q[0].comp, &ucfg);

	if (err) {
		xp->umem = NULL;
		xp->fail_qid = xp->o.queue;
		return err;
	}
	for (uint16_t i = 0; i < xp->nsock; i++) {
		err = xp_create_socket(xp, i, bind_flags);
		if (err) {
			xp->q[i].xsk = NULL;
			xp->fail_qid = xp->o.queue + i;
			return err;
		}
		xp->q[i].fd = xsk_socket__fd(xp->q[i].xsk);
	}
	return 0;
}

/*
 * A queue stays bound for a moment after its previous socket closed: the
 * kernel releases the buffer pool from a work queue (xp_put_pool()). So a
 * port reopened at once may see EBUSY; retry for up to a second before
 * calling the queue busy.
 */
static int xp_open_sockets_retry(struct xp_port *xp, uint16_t bind_flags)
{
	int err = xp_open_sockets(xp, bind_flags);

	for (int tries = 0; err == -EBUSY && tries < 20; tries++) {
		xp_close_sockets(xp);
		usleep(50000);
		err = xp_open_sockets(xp, bind_flags);
	}
	return err;
}

/* zc=auto: zero-copy if the driver takes it, else copy; say which and why. */
static int xp_bind_all(struct xp_port *xp)
{
	uint16_t wake = xp->o.need_wakeup ? XDP_USE_NEED_WAKEUP : 0;
	const char *why;
	int err = -EOPNOTSUPP;

	if (xp->o.zc != XP_ZC_OFF) {
		err = xp_open_sockets_retry(xp, XDP_ZEROCOPY | wake);
		if (!err) {
			xp->zerocopy = true;
			USNET_INFO("afxdp:%s: %u queue(s) from %u: zero-copy mode (the driver "
				   "supports AF_XDP zero-copy), XDP %s",
				   xp->ifname, xp->nsock, xp->o.queue,
				   xp_mode_name(xp->attach_mode));
			return 0;
		}
		xp_close_sockets(xp);
		if (xp->o.zc == XP_ZC_ON && err == -EOPNOTSUPP)
			return usnet_error(EOPNOTSUPP,
					   "afxdp:%s: zc=on, but the driver has no AF_XDP "
					   "zero-copy support (use zc=auto or zc=off)",
					   xp->ifname);
		if (xp->o.zc == XP_ZC_ON ||
		    (err != -EOPNOTSUPP && err != -EINVAL && err != -EPROTONOSUPPORT))
			return xp_socket_error(xp, xp->fail_qid, -err);
	}
	err = xp_open_sockets_retry(xp, XDP_COPY | wake);
	if (err)
		return xp_socket_error(xp, xp->fail_qid, -err);
	why = xp->o.zc == XP_ZC_OFF ? "zc=off"
	      : xp->attach_mode == XDP_MODE_SKB
		  ? "zero-copy refused: the program runs in generic (skb) mode"
		  : "zero-copy refused: the driver has no AF_XDP zero-copy support";
	USNET_INFO("afxdp:%s: %u queue(s) from %u: copy mode (%s), XDP %s", xp->ifname, xp->nsock,
		   xp->o.queue, why, xp_mode_name(xp->attach_mode));
	return 0;
}

static int xp_setup_queue(struct xp_port *xp, uint16_t i)
{
	struct xp_queue *q = &xp->q[i];
	uint32_t qid = xp->o.queue + i;

	if (xp->o.busy_poll) {
		int one = 1, usecs = (int)xp->o.busy_poll, budget = 64;

		if (setsockopt(q->fd, SOL_SOCKET, SO_PREFER_BUSY_POLL, &one, sizeof(one)) ||
		    setsockopt(q->fd, SOL_SOCKET, SO_BUSY_POLL, &usecs, sizeof(usecs)) ||
		    setsockopt(q->fd, SOL_SOCKET, SO_BUSY_POLL_BUDGET, &budget, sizeof(budget)))
			return usnet_error(errno,
					   "afxdp:%s: busy_poll=%u: %s (needs Linux 5.11 "
					   "and CAP_NET_ADMIN)",
					   xp->ifname, xp->o.busy_poll, strerror(errno));
	}
	if (i < xp->port.info.rx_queues) {
		int fd = xsk_socket__fd(q->xsk);

		xp_refill(xp, i);
		if (xp->xsks_map_fd >= 0 &&
		    bpf_map_update_elem(xp->xsks_map_fd, &qid, &fd, BPF_ANY))
			return usnet_error(errno,
					   "afxdp:%s: queue %u: adding the socket to "
					   "xsks_map: %s",
					   xp->ifname, qid, strerror(errno));
	}
	return 0;
}

/* ---- open / close -------------------------------------------------------- */

static int xp_parse_ip(struct usnet_spec *spec, struct xp_opts *o)
{
	const char *ip = usnet_spec_opt(spec, "ip"), *proto = usnet_spec_opt(spec, "proto");
	struct in_addr a;
	uint32_t port;
	int err;

	if (ip && inet_pton(AF_INET, ip, &a) != 1)
		return usnet_error(EINVAL, "afxdp:%s: ip=%s is not an IPv4 address", spec->name,
				   ip);
	o->ip4 = ip ? a.s_addr : 0;
	if ((err = usnet_spec_opt_u32(spec, "port", 1, 65535, 0, &port)) != 0)
		return err;
	o->port = htons((uint16_t)port);
	if (!proto)
		o->proto = 0;
	else if (!strcmp(proto, "udp"))
		o->proto = IPPROTO_UDP;
	else if (!strcmp(proto, "tcp"))
		o->proto = IPPROTO_TCP;
	else
		return usnet_error(EINVAL, "afxdp:%s: proto=%s: expected udp or tcp", spec->name,
				   proto);
	return 0;
}

static int xp_parse_opts(struct usnet_spec *spec, const struct usnet_port_conf *conf,
			 struct xp_opts *o)
{
	const char *zc = usnet_spec_opt(spec, "zc"), *wake = usnet_spec_opt(spec, "need_wakeup");
	const char *prog = usnet_spec_opt(spec, "prog");
	uint32_t dflt_q = conf && conf->rx_queues > conf->tx_queues ? conf->rx_queues
			  : conf && conf->tx_queues		    ? conf->tx_queues
								    : 1;
	int err;

	if ((err = usnet_spec_opt_u32(spec, "queue", 0, USNET_XDP_MAX_QUEUES - 1, 0, &o->queue)) ||
	    (err = usnet_spec_opt_u32(spec, "queues", 1, USNET_MAX_QUEUES, dflt_q, &o->queues)) ||
	    (err = usnet_spec_opt_u32(spec, "busy_poll", 0, 1000000, 0, &o->busy_poll)) ||
	    (err = xp_parse_ip(spec, o)))
		return err;
	if (o->queue + o->queues > USNET_XDP_MAX_QUEUES)
		return usnet_error(EINVAL,
				   "afxdp:%s: queues %u..%u: the program serves queue ids "
				   "below %u",
				   spec->name, o->queue, o->queue + o->queues - 1,
				   USNET_XDP_MAX_QUEUES);
	if (!zc || !strcmp(zc, "auto"))
		o->zc = XP_ZC_AUTO;
	else if (!strcmp(zc, "on"))
		o->zc = XP_ZC_ON;
	else if (!strcmp(zc, "off"))
		o->zc = XP_ZC_OFF;
	else
		return usnet_error(EINVAL, "afxdp:%s: zc=%s: expected auto, on or off", spec->name,
				   zc);
	if (!wake || !strcmp(wake, "on"))
		o->need_wakeup = true;
	else if (!strcmp(wake, "off"))
		o->need_wakeup = false;
	else
		return usnet_error(EINVAL, "afxdp:%s: need_wakeup=%s: expected on or off",
				   spec->name, wake);
	if (!prog || !strcmp(prog, "steer"))
		o->prog = XP_PROG_STEER;
	else if (!strcmp(prog, "all"))
		o->prog = XP_PROG_ALL;
	else if (!strcmp(prog, "none"))
		o->prog = XP_PROG_NONE;
	else
		return usnet_error(EINVAL, "afxdp:%s: prog=%s: expected steer, all or none",
				   spec->name, prog);
	if (o->prog != XP_PROG_STEER && (o->ip4 || o->port || o->proto))
		return usnet_error(EINVAL, "afxdp:%s: ip=, port= and proto= are for prog=steer",
				   spec->name);
	return 0;
}

/* The interface: exists, is Ethernet and up; its index, MAC and MTU. The
 * socket for the ioctls stays open for usnet_port_link() (xp->ctl_fd). */
static int xp_probe_if(struct xp_port *xp)
{
	const char *ifname = xp->ifname;
	struct ifreq ifr;
	int fd = xp->ctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err;

	if (fd < 0)
		return usnet_error(errno, "afxdp: socket(AF_INET): %s", strerror(errno));
	err = xp_ifreq(fd, SIOCGIFINDEX, ifname, &ifr);
	if (err == -ENODEV) {
		err = usnet_error(ENODEV, "afxdp: interface '%s' does not exist", ifname);
		goto out;
	}
	xp->ifindex = ifr.ifr_ifindex;
	if (!err && !(err = xp_ifreq(fd, SIOCGIFHWADDR, ifname, &ifr)) &&
	    ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
		err = usnet_error(EPROTONOSUPPORT,
				  "afxdp: interface '%s' is not an Ethernet "
				  "interface (ARPHRD type %u)",
				  ifname, ifr.ifr_hwaddr.sa_family);
		goto out;
	}
	if (!err)
		memcpy(xp->port.info.mac, ifr.ifr_hwaddr.sa_data, 6);
	if (!err && !(err = xp_ifreq(fd, SIOCGIFMTU, ifname, &ifr)))
		xp->port.info.mtu = (uint16_t)(ifr.ifr_mtu > 9000 ? 9000 : ifr.ifr_mtu);
	if (!err && !(err = xp_ifreq(fd, SIOCGIFFLAGS, ifname, &ifr)) &&
	    !(ifr.ifr_flags & IFF_UP)) {
		err = usnet_error(ENETDOWN,
				  "afxdp: interface '%s' is down (bring it up first: ip "
				  "link set %s up)",
				  ifname, ifname);
		goto out;
	}
	if (err)
		err = usnet_error(-err, "afxdp:%s: interface ioctl: %s", ifname, strerror(-err));
out:
	return err;
}

/*
 * At close, with the program detached: take back the buffers the rings
 * still hold (unread RX, unused fill, finished or never-taken TX), so that the pools are
 * whole when destroyed. Buffers the kernel took from the fill ring and has
 * not handed back are the UMEM's until the socket closes; the pool counts
 * them as missing.
 */
static void xp_reclaim(struct xp_port *xp, uint16_t qi)
{
	struct xp_queue *q = &xp->q[qi];
	uint32_t idx, n;

	xp_complete(xp, q);
	while ((n = xsk_ring_cons__peek(&q->rx, USNET_MAX_BURST, &idx)) > 0) {
		for (uint32_t i = 0; i < n; i++)
			usnet_pkt_free(
			    xp_pkt_of(xp, xsk_ring_cons__rx_desc(&q->rx, idx + i)->addr));
		xsk_ring_cons__release(&q->rx, n);
	}
	/* TX descriptors the kernel never took (the interface went down):
	 * between its consumer and our producer. Acquire: pairs with the
	 * release of the consumer index in the kernel's xskq_cons_release(). */
	n = *q->tx.producer - __atomic_load_n(q->tx.consumer, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0, c = *q->tx.consumer; i < n && i < q->tx.size; i++)
		usnet_pkt_free(xp_pkt_of(xp, xsk_ring_prod__tx_desc(&q->tx, c + i)->addr));
	if (qi >= xp->port.info.rx_queues)
		return;
	/* Fill entries the kernel has not consumed: between its consumer and
	 * our producer (the kernel stopped using the ring: no program sends
	 * to the socket any more). Acquire: pairs with the release of the
	 * consumer index in the kernel's xskq_cons_release(). */
	n = *q->fill.producer - __atomic_load_n(q->fill.consumer, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0, c = *q->fill.consumer; i < n && i < q->fill.size; i++)
		usnet_pkt_free(xp_pkt_of(xp, *xsk_ring_prod__fill_addr(&q->fill, c + i)));
}

static void xp_free(struct xp_port *xp)
{
	/* The program first: nothing is redirected to a socket being closed. */
	if (xp->prog && xp->attached) {
		int err = xdp_program__detach(xp->prog, xp->ifindex, xp->attach_mode, 0);

		if (err && err != -ENOENT && err != -ENODEV)
			USNET_WARN("afxdp:%s: detaching the XDP program: %s", xp->ifname,
				   strerror(-err));
	}
	if (xp->prog)
		xdp_program__close(xp->prog);
	if (xp->obj)
		bpf_object__close(xp->obj);
	if (xp->o.prog == XP_PROG_NONE && xp->xsks_map_fd >= 0)
		close(xp->xsks_map_fd);
	if (xp->promisc_fd >= 0)
		close(xp->promisc_fd);
	if (xp->ctl_fd >= 0)
		close(xp->ctl_fd);
	for (uint16_t i = 0; i < USNET_MAX_QUEUES; i++)
		if (xp->q[i].xsk)
			xp_reclaim(xp, i);
	xp_close_sockets(xp);
	for (uint16_t i = 0; i < USNET_MAX_QUEUES; i++)
		usnet_pool_destroy(xp->q[i].txpool);
	usnet_port_teardown(&xp->port);
	if (xp->umem_area)
		munmap(xp->umem_area, xp->umem_len);
	free(xp);
}

static void xp_close(struct usnet_port *port)
{
	xp_free(usnet_container_of(port, struct xp_port, port));
}

/* The port's shape from spec options and conf: queues, chunk and ring
 * sizes, pool size, names. 0 or -EINVAL. */
static int xp_configure(struct xp_port *xp, struct usnet_spec *spec,
			const struct usnet_port_conf *conf)
{
	struct usnet_port_conf c = conf ? *conf : (struct usnet_port_conf){0};
	int err = xp_parse_opts(spec, conf, &xp->o);

	if (err)
		return err;
	/* queues= sets both directions; the pools come from the UMEM. */
	c.rx_queues = c.tx_queues = (uint16_t)xp->o.queues;
	c.pool_size = c.pool_size ? c.pool_size : XP_DFLT_POOL;
	c.buf_size = 0;
	xp->chunk = conf && conf->buf_size > 2048 - XP_PKT_HDR ? 4096 : 2048;
	xp->ring_size = conf && conf->rx_ring_size ? conf->rx_ring_size : XP_DFLT_RING;
	if (xp->ring_size & (xp->ring_size - 1))
		return usnet_error(EINVAL,
				   "afxdp:%s: rx_ring_size %u is not a power of two (AF_XDP "
				   "rings are)",
				   spec->name, xp->ring_size);
	if (c.pool_size < xp->ring_size + USNET_MAX_BURST)
		return usnet_error(EINVAL,
				   "afxdp:%s: pool_size %u is too small for a fill ring of "
				   "%u (needs at least %u)",
				   spec->name, c.pool_size, xp->ring_size,
				   xp->ring_size + USNET_MAX_BURST);
	xp->port.ops = &usnet_afxdp_ops;
	xp->port.conf = c;
	xp->nsock = (uint16_t)xp->o.queues;
	snprintf(xp->port.info.kind, sizeof(xp->port.info.kind), "%s", spec->kind);
	snprintf(xp->port.info.name, sizeof(xp->port.info.name), "%s", spec->name);
	xp->port.info.rx_queues = xp->port.info.tx_queues = xp->nsock;
	return 0;
}

static int xp_open(struct usnet_port **out, struct usnet_spec *spec,
		   const struct usnet_port_conf *conf)
{
	static bool print_set;
	struct xp_port *xp;
	int err;

	if (!spec->name[0])
		return usnet_error(EINVAL, "afxdp: needs an interface name, e.g. afxdp:eth0");
	if (strlen(spec->name) >= IFNAMSIZ)
		return usnet_error(EINVAL,
				   "afxdp: interface name '%s' is longer than %d characters",
				   spec->name, IFNAMSIZ - 1);
	xp = calloc(1, sizeof(*xp));
	if (!xp)
		return usnet_error(ENOMEM, "afxdp: out of memory");
	xp->xsks_map_fd = xp->macs_fd = xp->cfg_fd = xp->promisc_fd = xp->ctl_fd = -1;
	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++)
		xp->q[i].fd = -1;
	memcpy(xp->ifname, spec->name, strlen(spec->name) + 1);
	if ((err = xp_configure(xp, spec, conf)) != 0) {
		free(xp);
		return err;
	}
	if (!print_set) {
		/* libbpf's and libxdp's warnings into usnet's log, at info level. */
		libxdp_set_print(xp_libxdp_print);
		libbpf_set_print(xp_libbpf_print);
		print_set = true;
	}
	if ((err = xp_probe_if(xp)) != 0 || (err = xp_check_af_xdp(xp)) != 0)
		goto err_free;
	xp->max_frame = xp->port.info.mtu + (uint32_t)USNET_ETH_HLEN;
	xp->rx_room = xp->chunk - XP_DATA_OFF;
	if (xp->max_frame > xp->rx_room) {
		err = usnet_error(EINVAL,
				  "afxdp:%s: MTU %u needs frames of %u bytes; a UMEM chunk "
				  "holds %u (set buf_size for 4096-byte chunks, or lower the MTU)",
				  xp->ifname, xp->port.info.mtu, xp->max_frame, xp->rx_room);
		goto err_free;
	}
	if ((err = xp_map_umem(xp)) != 0 || (err = xp_carve_pools(xp)) != 0)
		goto err_free;
	if (xp->port.conf.promisc && (err = xp_promisc(xp)) != 0)
		goto err_free;
	if (xp->o.prog != XP_PROG_NONE) {
		if ((err = xp_need_bpffs()) != 0 || (err = xp_attach_prog(xp)) != 0)
			goto err_free;
	} else if ((err = xp_find_foreign_map(xp)) != 0) {
		goto err_free;
	}
	if ((err = xp_bind_all(xp)) != 0)
		goto err_free;
	for (uint16_t i = 0; i < xp->nsock; i++)
		if ((err = xp_setup_queue(xp, i)) != 0)
			goto err_free;
	*out = &xp->port;
	return 0;

err_free:
	xp_free(xp);
	return err;
}

static int xp_steer_mac(struct usnet_port *port, const uint8_t mac[6])
{
	struct xp_port *xp = usnet_container_of(port, struct xp_port, port);
	struct usnet_xdp_mac key = {0};
	uint8_t one = 1;

	if (xp->o.prog != XP_PROG_STEER)
		return 0; /* prog=all takes every frame anyway; prog=none is the user's */
	memcpy(key.addr, mac, 6);
	if (bpf_map_update_elem(xp->macs_fd, &key, &one, BPF_ANY))
		return usnet_error(errno, "afxdp:%s: adding a MAC to the steer set: %s%s",
				   xp->ifname, strerror(errno),
				   errno == E2BIG ? " (at most 256 MACs)" : "");
	return 0;
}

const struct usnet_port_ops usnet_afxdp_ops = {
    .kind = "afxdp",
    .usage = "afxdp:IFNAME[,OPTS]      Linux interface via AF_XDP (queue=, queues=, "
	     "zc=auto|on|off, need_wakeup=on|off, busy_poll=US, prog=steer|all|none, "
	     "ip=, port=, proto=)",
    .open = xp_open,
    .close = xp_close,
    .rx_burst = xp_rx_burst,
    .tx_burst = xp_tx_burst,
    .queue_fd = xp_queue_fd,
    .arm = xp_arm,
    .link = xp_link,
    .stats_sync = xp_stats_sync,
    .steer_mac = xp_steer_mac,
};
