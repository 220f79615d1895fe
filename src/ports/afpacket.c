/* SPDX-License-Identifier: MIT */
/*
 * afpacket:IFNAME — a Linux network interface through AF_PACKET sockets
 * (packet(7), Documentation/networking/packet_mmap.rst in the kernel tree).
 *
 * RX: one SOCK_RAW socket per RX queue, bound to the interface with
 * ETH_P_ALL, with a TPACKET_V3 ring mapped into the process. The kernel
 * fills fixed-size blocks with variable-size frames and hands a block over
 * (block_status = TP_STATUS_USER) when it is full or when its retire timer
 * (tp_retire_blk_tov, `retire_ms=`) expires; rx_burst copies each frame
 * into a packet from the queue's pool and gives the block back
 * (TP_STATUS_KERNEL) once every frame in it was taken. With more than one
 * RX queue the sockets form a PACKET_FANOUT_HASH group, so a flow always
 * lands on the same queue.
 *
 * GSO (`gso=on`, the default when a block holds 64 KiB): the RX sockets
 * set PACKET_VNET_HDR, so the kernel writes a struct virtio_net_hdr just
 * before each frame's MAC header (tpacket_rcv(): at tp_mac - 10). A frame
 * the kernel holds as several segments (TSO/GSO from a local sender on a
 * veth, GRO on a NIC: up to 64 KiB) is cut back into MTU-sized frames by
 * src/proto/gso.c, each in a packet of its own; those rx_burst cannot hand
 * out at once wait in the queue (pend) for the next call. The TX sockets
 * are separate and never set PACKET_VNET_HDR: TX frames carry no header.
 *
 * TX: one socket per TX queue, bound with protocol 0 so that it receives
 * nothing. `tx=ring`: a TPACKET_V2 TX ring; tx_burst copies frames into
 * ring slots, marks them TP_STATUS_SEND_REQUEST and kicks the kernel once
 * per burst with send(fd, NULL, 0, MSG_DONTWAIT). `tx=mmsg`: one
 * sendmmsg() per burst, one iovec per frame. Either way the frame is copied
 * and the packet freed as soon as it is taken. docs/ports.md has the
 * measurements behind the default.
 *
 * The port's MAC and MTU are the interface's: usnet speaks as that
 * interface, next to the kernel's own stack on it.
 */
#define _GNU_SOURCE /* sendmmsg() */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>

#include <usnet/proto.h>

#include "../proto/gso.h"
#include "port_impl.h"

/* Linux 6.2; older kernels accept the flag and ignore it, see afp_rx_burst(). */
#ifndef PACKET_FANOUT_FLAG_IGNORE_OUTGOING
#define PACKET_FANOUT_FLAG_IGNORE_OUTGOING 0x4000
#endif

#define AFP_DFLT_BLOCK_SIZE (256u << 10)
#define AFP_DFLT_BLOCKS 16u
#define AFP_DFLT_TX_FRAMES 1024u
#define AFP_DFLT_POOL 4096u
#define AFP_RX_FRAME_SIZE 2048u /* V3 only uses it to check tp_frame_nr */
#define AFP_MAX_RING_BYTES (1ull << 30)
/* Where a TPACKET_V2 TX frame's data starts when PACKET_TX_HAS_OFF is off:
 * tp_hdrlen - sizeof(struct sockaddr_ll), packet_mmap.rst "TX ring". */
#define AFP_TX_DATA_OFF TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
/* The sockaddr_ll the kernel writes after each V3 frame header. */
#define AFP_RX_SLL_OFF TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
#define AFP_VLAN_HLEN 4u
#define AFP_TX_MAX_SLOT (16u << 10) /* tx=ring slots: jumbo frames, not lo's 64 KiB */
/* The largest GSO frame: 64 KiB of IP datagram, Ethernet and a tag. */
#define AFP_GSO_MAX_FRAME (65535u + USNET_ETH_HLEN + AFP_VLAN_HLEN)
/* The least block_size that holds one: the frame, the block descriptor,
 * the frame header, sockaddr_ll and the virtio-net header (tpacket_rcv():
 * max_frame_len is the block size less the descriptor). */
#define AFP_GSO_MIN_BLOCK (72u << 10)

enum afp_tx_mode { AFP_TX_RING, AFP_TX_MMSG };

struct afp_rxq {
	int fd;
	uint8_t *ring;		/* tp_block_nr blocks of tp_block_size bytes */
	size_t ring_len;
	uint32_t block_size;
	uint32_t nblocks;
	uint32_t block;		/* the block we read next (or are reading) */
	uint32_t left;		/* frames not yet taken from it; 0: not started */
	uint8_t *frame;		/* the next of those frames */
	bool stalled;		/* a frame waits for a buffer; counted in rx_nobuf */
	/* Segments of a GSO frame not handed out yet: pend[pend_next..npend). */
	struct usnet_pkt *pend[USNET_GSO_MAX_SEGS];
	uint16_t npend;
	uint16_t pend_next;
	uint8_t *scratch; /* gso=on: a tagged GSO frame, tag put back */
};

struct afp_txq {
	int fd;
	/* tx=ring */
	uint8_t *ring;
	size_t ring_len;
	uint32_t frame_size;
	uint32_t max_len;	/* the longest frame a slot holds */
	uint32_t nframes;
	uint32_t head;		/* the slot we fill next */
	uint32_t last;		/* the slot filled last */
	bool kick_pending;	/* frames may still wait for a send() */
	/* tx=mmsg */
	struct mmsghdr *msgs;
	struct iovec *iov;
};

struct afp_port {
	struct usnet_port port;
	int ifindex;
	char ifname[IFNAMSIZ];
	enum afp_tx_mode tx_mode;
	uint32_t max_frame;	/* mtu + 14: the longest untagged frame we send */
	uint32_t rx_room;	/* the longest frame an RX packet holds */
	bool gso;		/* PACKET_VNET_HDR on the RX sockets */
	struct afp_rxq rxq[USNET_MAX_QUEUES];
	struct afp_txq txq[USNET_MAX_QUEUES];
};

/*
 * The ring words the kernel shares with us are plain __u32 in the mapping;
 * access them as atomics to give each access the ordering it needs.
 */
static inline uint32_t ring_load_acquire(const uint32_t *p)
{
	return atomic_load_explicit((const _Atomic uint32_t *)p, memory_order_acquire);
}

static inline void ring_store_release(uint32_t *p, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)p, v, memory_order_release);
}

static int afp_ifreq(int fd, unsigned long req, const char *ifname, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	return ioctl(fd, req, ifr) < 0 ? -errno : 0;
}

/* Add the kernel's drop count (clear-on-read, packet(7) PACKET_STATISTICS). */
static void afp_read_drops(struct usnet_port *port, uint16_t queue, int fd)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		port->stats[queue].rx_dropped += st.tp_drops;
}

/* ---- RX ---------------------------------------------------------------- */

static inline struct tpacket_block_desc *afp_block(const struct afp_rxq *q, uint32_t i)
{
	return (struct tpacket_block_desc *)(q->ring + (size_t)i * q->block_size);
}

static inline void afp_release_block(struct afp_rxq *q)
{
	/* Release: every read of the block's frames happens before the kernel
	 * sees it free; pairs with the smp_rmb() in the kernel's
	 * prb_dispatch_next_block() before it reuses the block. */
	ring_store_release(&afp_block(q, q->block)->hdr.bh1.block_status, TP_STATUS_KERNEL);
	q->block = q->block + 1 == q->nblocks ? 0 : q->block + 1;
	q->left = 0;
}

static inline void afp_next_frame(struct afp_rxq *q, const struct tpacket3_hdr *h)
{
	q->stalled = false;
	if (--q->left)
		q->frame += h->tp_next_offset;
	else
		afp_release_block(q);
}

/* Copy one frame, putting back the 802.1Q/802.1ad tag the kernel took off
 * into the skb's metadata before packet taps see it. */
static inline void afp_copy_frame(uint8_t *dst, const struct tpacket3_hdr *h, const uint8_t *src,
				  bool tagged)
{
	uint32_t len = h->tp_snaplen;

	if (!tagged) {
		memcpy(dst, src, len);
		return;
	}
	bool tpid_ok = h->tp_status & TP_STATUS_VLAN_TPID_VALID;
	uint16_t tpid = tpid_ok ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
	uint16_t tci = (uint16_t)h->hv1.tp_vlan_tci;

	memcpy(dst, src, 12);
	dst[12] = (uint8_t)(tpid >> 8);
	dst[13] = (uint8_t)tpid;
	dst[14] = (uint8_t)(tci >> 8);
	dst[15] = (uint8_t)tci;
	memcpy(dst + 16, src + 12, len - 12);
}

/* Hand out segments a GSO frame left for this call. */
static uint16_t afp_take_pending(struct afp_rxq *q, struct usnet_pkt **pkts, uint16_t n)
{
	uint16_t k = (uint16_t)(q->npend - q->pend_next);

	if (k > n)
		k = n;
	memcpy(pkts, q->pend + q->pend_next, k * sizeof(*pkts));
	q->pend_next = (uint16_t)(q->pend_next + k);
	if (q->pend_next == q->npend)
		q->npend = q->pend_next = 0;
	return k;
}

/*
 * Cut a GSO frame (vh says so) into q->pend. A frame the segmenter refuses
 * (gso.h: lengths that disagree, more than USNET_GSO_MAX_SEGS segments),
 * whose segments do not fit a packet or whose checksum is bad is counted in
 * rx_errors. When the pool runs dry part way, every packet taken for it
 * goes back and the frame is dropped whole, counted in rx_gso_dropped:
 * waiting for a pool that may never hold that many free buffers at once
 * could stall the queue forever, and TCP resends what is lost.
 */
static void afp_rx_gso(struct afp_port *ap, uint16_t queue, const struct tpacket3_hdr *h,
		       bool tagged, const struct usnet_vnet_hdr *vh)
{
	struct afp_rxq *q = &ap->rxq[queue];
	struct usnet_queue_stats *st = &ap->port.stats[queue];
	const uint8_t *src = q->frame + h->tp_mac;
	size_t len = h->tp_snaplen;
	struct usnet_gso_plan plan;

	if (tagged) {
		if (len + AFP_VLAN_HLEN > AFP_GSO_MAX_FRAME) {
			st->rx_errors++;
			return;
		}
		afp_copy_frame(q->scratch, h, src, true);
		src = q->scratch;
		len += AFP_VLAN_HLEN;
	}
	/* A checksum neither left partial by a local sender nor verified by
	 * the device is checked here: its segments are marked partial, which
	 * the stack does not check. */
	if (usnet_gso_plan(src, len, vh, &plan) != 0 || plan.seg_max > ap->rx_room ||
	    (!(vh->flags & (USNET_VNET_F_NEEDS_CSUM | USNET_VNET_F_DATA_VALID)) &&
	     !usnet_gso_csum_ok(src, &plan))) {
		st->rx_errors++;
		return;
	}
	for (unsigned i = 0; i < plan.nsegs; i++) {
		struct usnet_pkt *p = usnet_pkt_alloc(ap->port.pool[queue]);

		if (!p) {
			usnet_pkt_free_bulk(q->pend, i);
			st->rx_gso_dropped++;
			return;
		}
		usnet_gso_segment(src, &plan, i, usnet_pkt_data(p));
		p->len = (uint16_t)usnet_gso_seg_len(&plan, i);
		p->flags |= USNET_PKT_F_CSUM_PARTIAL;
		q->pend[i] = p;
	}
	q->npend = plan.nsegs;
	q->pend_next = 0;
	st->rx_gso_frames++;
}

static uint16_t afp_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			     uint16_t n)
{
	struct afp_port *ap = usnet_container_of(port, struct afp_port, port);
	struct afp_rxq *q = &ap->rxq[queue];
	struct usnet_queue_stats *st = &port->stats[queue];
	uint16_t got = 0;

	while (got < n) {
		if (q->npend) {
			got =
			    (uint16_t)(got + afp_take_pending(q, pkts + got, (uint16_t)(n - got)));
			continue;
		}
		if (!q->left) {
			struct tpacket_block_desc *bd = afp_block(q, q->block);
			/* Acquire: the frames and the block header are read after
			 * we see TP_STATUS_USER; pairs with the smp_wmb() in the
			 * kernel's prb_close_block()/prb_flush_block(). */
			uint32_t status = ring_load_acquire(&bd->hdr.bh1.block_status);

			if (!(status & TP_STATUS_USER))
				break;
			/* The kernel dropped frames since we last asked: the ring
			 * was full. One system call per such block. */
			if (status & TP_STATUS_LOSING)
				afp_read_drops(port, queue, q->fd);
			q->left = bd->hdr.bh1.num_pkts;
			q->frame = (uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
			if (!q->left) {
				afp_release_block(q);
				continue;
			}
		}

		const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)q->frame;
		const struct sockaddr_ll *sll =
			(const struct sockaddr_ll *)(q->frame + AFP_RX_SLL_OFF);
		bool tagged = h->tp_status & TP_STATUS_VLAN_VALID;
		uint32_t len = h->tp_snaplen + (tagged ? AFP_VLAN_HLEN : 0);
		struct usnet_vnet_hdr vh = {0};
		struct usnet_pkt *p;

		/* Our own transmissions: PACKET_IGNORE_OUTGOING keeps them out,
		 * except in a fanout group on kernels before 6.2. */
		if (sll->sll_pkttype == PACKET_OUTGOING) {
			afp_next_frame(q, h);
			continue;
		}
		/* Clamped by the kernel (longer than a block: it wrote no
		 * virtio-net header then), or shorter than an Ethernet header. */
		if (h->tp_snaplen < h->tp_len || h->tp_snaplen < USNET_ETH_HLEN) {
			st->rx_errors++;
			afp_next_frame(q, h);
			continue;
		}
		if (ap->gso) {
			usnet_vnet_hdr_decode(q->frame + h->tp_mac - USNET_VNET_HDR_LEN, &vh);
			if (vh.gso_type != USNET_VNET_GSO_NONE) {
				afp_rx_gso(ap, queue, h, tagged, &vh);
				afp_next_frame(q, h);
				continue;
			}
		}
		/* Too long for our buffers. */
		if (len > ap->rx_room) {
			st->rx_errors++;
			afp_next_frame(q, h);
			continue;
		}
		p = usnet_pkt_alloc(port->pool[queue]);
		if (!p) {
			/* Leave the frame in the ring for the next call; count the
			 * stall once, not once per call. */
			if (!q->stalled)
				st->rx_nobuf++;
			q->stalled = true;
			break;
		}
		afp_copy_frame(usnet_pkt_data(p), h, q->frame + h->tp_mac, tagged);
		p->len = (uint16_t)len;
		/* packet(7): "the checksum will be computed in hardware" that
		 * this frame never reaches (a local sender on a veth). */
		if ((h->tp_status & TP_STATUS_CSUMNOTREADY) || (vh.flags & USNET_VNET_F_NEEDS_CSUM))
			p->flags |= USNET_PKT_F_CSUM_PARTIAL;
		pkts[got++] = p;
		afp_next_frame(q, h);
	}
	return got;
}

static int afp_queue_fd(struct usnet_port *port, uint16_t queue)
{
	return usnet_container_of(port, struct afp_port, port)->rxq[queue].fd;
}

/*
 * Before the caller sleeps in poll(): collect the drop count, and clear a
 * pending socket error (ENETDOWN after the interface went down), which
 * would otherwise make poll() return POLLERR at once, forever.
 */
static bool afp_arm(struct usnet_port *port, uint16_t queue)
{
	struct afp_rxq *q = &usnet_container_of(port, struct afp_port, port)->rxq[queue];
	int err;
	socklen_t len = sizeof(err);

	afp_read_drops(port, queue, q->fd);
	(void)getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &len);
	return q->left || q->npend ||
	       (ring_load_acquire(&afp_block(q, q->block)->hdr.bh1.block_status) & TP_STATUS_USER);
}

/* ---- TX ---------------------------------------------------------------- */

static inline bool afp_tx_len_ok(const struct afp_port *ap, const struct usnet_pkt *p)
{
	const uint8_t *d;

	if (p->len < USNET_ETH_HLEN)
		return false;
	if (p->len <= ap->max_frame)
		return true;
	/* The kernel allows 4 more bytes for an 802.1Q tag (packet_snd(),
	 * packet_extra_vlan_len_allowed()). */
	d = usnet_pkt_data(p);
	return p->len <= ap->max_frame + AFP_VLAN_HLEN && d[12] == 0x81 && d[13] == 0x00;
}

static inline struct tpacket2_hdr *afp_tx_slot(const struct afp_txq *q, uint32_t i)
{
	return (struct tpacket2_hdr *)(q->ring + (size_t)i * q->frame_size);
}

/* Give back every slot still waiting for a send(): the interface is gone
 * or down, so they would never leave. Only send() on this socket processes
 * SEND_REQUEST slots, and it is not running now. */
static void afp_tx_ring_drop_pending(struct usnet_port *port, uint16_t queue, struct afp_txq *q)
{
	for (uint32_t i = 0; i < q->nframes; i++) {
		struct tpacket2_hdr *h = afp_tx_slot(q, i);

		if (ring_load_acquire(&h->tp_status) & TP_STATUS_SEND_REQUEST) {
			ring_store_release(&h->tp_status, TP_STATUS_AVAILABLE);
			port->stats[queue].tx_errors++;
		}
	}
	q->kick_pending = false;
}

/*
 * Ask the kernel to send every SEND_REQUEST slot. It stops early when the
 * socket's send buffer is full or the device drops a frame (that frame is
 * left SEND_REQUEST and retried; tpacket_snd()), so note whether our last
 * slot went out and kick again on the next tx_burst if not.
 */
static void afp_tx_kick(struct usnet_port *port, uint16_t queue, struct afp_txq *q)
{
	if (send(q->fd, NULL, 0, MSG_DONTWAIT) < 0 && (errno == ENETDOWN || errno == ENXIO)) {
		afp_tx_ring_drop_pending(port, queue, q);
		return;
	}
	q->kick_pending =
		ring_load_acquire(&afp_tx_slot(q, q->last)->tp_status) & TP_STATUS_SEND_REQUEST;
}

static uint16_t afp_tx_ring(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			    uint16_t n)
{
	struct afp_port *ap = usnet_container_of(port, struct afp_port, port);
	struct afp_txq *q = &ap->txq[queue];
	uint16_t i, queued = 0;

	for (i = 0; i < n; i++) {
		struct usnet_pkt *p = pkts[i];
		struct tpacket2_hdr *h = afp_tx_slot(q, q->head);

		if (!afp_tx_len_ok(ap, p) || p->len > q->max_len) {
			port->stats[queue].tx_errors++;
			usnet_pkt_free(p);
			continue;
		}
		/* Acquire: the kernel is done with the slot's data before we
		 * overwrite it; pairs with the smp_wmb() in __packet_set_status()
		 * from tpacket_destruct_skb(). Any other status bits are
		 * timestamps, not ownership. */
		if (ring_load_acquire(&h->tp_status) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING))
			break; /* ring full */
		memcpy((uint8_t *)h + AFP_TX_DATA_OFF, usnet_pkt_data(p), p->len);
		h->tp_len = p->len;
		/* Release: the frame is written before the kernel sees the
		 * request; pairs with the smp_rmb() in __packet_get_status(). */
		ring_store_release(&h->tp_status, TP_STATUS_SEND_REQUEST);
		q->last = q->head;
		q->head = q->head + 1 == q->nframes ? 0 : q->head + 1;
		usnet_pkt_free(p);
		queued++;
	}
	if (queued || q->kick_pending)
		afp_tx_kick(port, queue, q);
	return i;
}

/* sendmmsg() pkts[0..n), all of a valid length. Returns how many the port
 * took (sent, or dropped and counted); the rest stay with the caller. */
static uint16_t afp_tx_mmsg_run(struct usnet_port *port, uint16_t queue, struct afp_txq *q,
				struct usnet_pkt **pkts, uint16_t n)
{
	uint16_t done = 0;

	for (uint16_t i = 0; i < n; i++) {
		q->iov[i].iov_base = usnet_pkt_data(pkts[i]);
		q->iov[i].iov_len = pkts[i]->len;
	}
	/* Every pass takes at least one packet or leaves, so at most n passes. */
	while (done < n) {
		int r = sendmmsg(q->fd, q->msgs + done, n - done, MSG_DONTWAIT);

		if (r > 0) {
			done = (uint16_t)(done + r);
			continue;
		}
		if (errno == EAGAIN || errno == EINTR)
			break; /* send buffer full: the caller keeps the rest */
		if (errno == ENETDOWN || errno == ENXIO) {
			/* Down or gone: like a NIC without link, drop the lot. */
			port->stats[queue].tx_errors += n - done;
			done = n;
			break;
		}
		/* ENOBUFS (the device dropped it) or anything else: that one
		 * frame is lost; carry on with the next. */
		port->stats[queue].tx_errors++;
		done++;
	}
	usnet_pkt_free_bulk(pkts, done);
	return done;
}

static uint16_t afp_tx_mmsg(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			    uint16_t n)
{
	struct afp_port *ap = usnet_container_of(port, struct afp_port, port);
	struct afp_txq *q = &ap->txq[queue];
	uint16_t i = 0;

	/* Runs of sendable frames, one system call each; a frame of a bad
	 * length is taken, counted and freed where it stands, so that the
	 * port always takes a prefix of pkts. */
	while (i < n) {
		uint16_t j = i, took;

		while (j < n && afp_tx_len_ok(ap, pkts[j]))
			j++;
		if (j > i) {
			took = afp_tx_mmsg_run(port, queue, q, pkts + i, (uint16_t)(j - i));
			i = (uint16_t)(i + took);
			if (i < j)
				break;
		}
		if (i < n) {
			port->stats[queue].tx_errors++;
			usnet_pkt_free(pkts[i]);
			i++;
		}
	}
	return i;
}

/* ---- link -------------------------------------------------------------- */

/* The carrier as the driver sees it (ETHTOOL_GLINK: netif_carrier_ok()).
 * IFF_RUNNING follows it only once linkwatch has run, up to a second after
 * a change; it is the answer for drivers without ethtool. */
static bool afp_carrier(int fd, const char *ifname, short flags)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_GLINK};
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0)
		return ev.data != 0;
	return flags & IFF_RUNNING;
}

static int afp_link(struct usnet_port *port, struct usnet_link *link)
{
	struct afp_port *ap = usnet_container_of(port, struct afp_port, port);
	struct ethtool_cmd ecmd = {.cmd = ETHTOOL_GSET};
	struct ifreq ifr;
	int fd = ap->rxq[0].fd;

	link->up = false;
	link->speed_mbps = 0;
	/* Gone, or replaced by another interface of the same name that our
	 * sockets are not bound to: down. */
	if (afp_ifreq(fd, SIOCGIFINDEX, ap->ifname, &ifr) || ifr.ifr_ifindex != ap->ifindex)
		return 0;
	if (afp_ifreq(fd, SIOCGIFFLAGS, ap->ifname, &ifr))
		return 0;
	link->up = (ifr.ifr_flags & IFF_UP) && afp_carrier(fd, ap->ifname, ifr.ifr_flags);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ap->ifname);
	ifr.ifr_data = (char *)&ecmd;
	if (ioctl(fd, SIOCETHTOOL, &ifr) == 0) {
		uint32_t speed = ethtool_cmd_speed(&ecmd);

		if (speed != (uint32_t)SPEED_UNKNOWN && speed != 0)
			link->speed_mbps = speed;
	}
	return 0;
}

/* ---- open / close ------------------------------------------------------ */

static int afp_socket(const char *ifname, int *out)
{
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);

	if (fd >= 0) {
		*out = fd;
		return 0;
	}
	if (errno == EPERM || errno == EACCES)
		return usnet_error(EPERM, "afpacket: opening a packet socket needs CAP_NET_RAW "
					  "(run as root)");
	if (errno == EAFNOSUPPORT)
		return usnet_error(EAFNOSUPPORT, "afpacket: this kernel has no AF_PACKET support");
	return usnet_error(errno, "afpacket:%s: socket(AF_PACKET): %s", ifname, strerror(errno));
}

static int afp_setopt(int fd, int level, int opt, const void *val, socklen_t len,
		      const char *ifname, const char *what)
{
	if (setsockopt(fd, level, opt, val, len) == 0)
		return 0;
	return usnet_error(errno, "afpacket:%s: %s: %s", ifname, what, strerror(errno));
}

static int afp_bind(int fd, int ifindex, uint16_t proto, const char *ifname)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(proto),
		.sll_ifindex = ifindex,
	};

	if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) == 0)
		return 0;
	if (errno == ENODEV)
		return usnet_error(ENODEV, "afpacket: interface '%s' disappeared while opening",
				   ifname);
	return usnet_error(errno, "afpacket:%s: bind: %s", ifname, strerror(errno));
}

struct afp_opts {
	uint32_t block_size;
	uint32_t blocks;
	uint32_t retire_ms;
	uint32_t qdisc_bypass;
	bool gso;
	enum afp_tx_mode tx_mode;
};

static int afp_setup_rxq(struct afp_port *ap, uint16_t qi, const struct afp_opts *o,
			 uint16_t *fanout_id)
{
	struct afp_rxq *q = &ap->rxq[qi];
	const char *ifname = ap->ifname;
	int v3 = TPACKET_V3, one = 1, err;
	struct tpacket_req3 req = {
		.tp_block_size = o->block_size,
		.tp_block_nr = o->blocks,
		.tp_frame_size = AFP_RX_FRAME_SIZE,
		.tp_frame_nr = o->blocks * (o->block_size / AFP_RX_FRAME_SIZE),
		.tp_retire_blk_tov = o->retire_ms,
	};

	if (q->fd < 0 && (err = afp_socket(ifname, &q->fd)) != 0)
		return err;
	/* Before the version and the ring, or the kernel refuses it (EBUSY,
	 * packet_setsockopt()). */
	if (ap->gso) {
		if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one), ifname,
				      "PACKET_VNET_HDR (gso=off does without)")) != 0)
			return err;
		q->scratch = malloc(AFP_GSO_MAX_FRAME);
		if (!q->scratch)
			return usnet_error(ENOMEM, "afpacket:%s: out of memory", ifname);
	}
	/* The ring goes in before bind(), so that no frame ever waits in the
	 * socket's ordinary receive queue. */
	if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3), ifname,
			      "PACKET_VERSION TPACKET_V3")) != 0)
		return err;
	if (setsockopt(q->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0) {
		if (errno == ENOMEM)
			return usnet_error(ENOMEM,
					   "afpacket:%s: no kernel memory for an RX ring of %u "
					   "blocks of %u bytes (try fewer blocks= or a smaller "
					   "block_size=)",
					   ifname, o->blocks, o->block_size);
		return usnet_error(errno, "afpacket:%s: PACKET_RX_RING (%u blocks of %u bytes): %s",
				   ifname, o->blocks, o->block_size, strerror(errno));
	}
	q->block_size = o->block_size;
	q->nblocks = o->blocks;
	q->ring_len = (size_t)o->block_size * o->blocks;
	q->ring = mmap(NULL, q->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd, 0);
	if (q->ring == MAP_FAILED) {
		q->ring = NULL;
		return usnet_error(errno, "afpacket:%s: mmap of the RX ring: %s", ifname,
				   strerror(errno));
	}
	if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one),
			      ifname, "PACKET_IGNORE_OUTGOING (needs Linux 4.20)")) != 0)
		return err;
	if ((err = afp_bind(q->fd, ap->ifindex, ETH_P_ALL, ifname)) != 0)
		return err;
	if (qi == 0 && ap->port.conf.promisc) {
		/* Dropped by the kernel when the socket closes. */
		struct packet_mreq mr = {.mr_ifindex = ap->ifindex, .mr_type = PACKET_MR_PROMISC};

		if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr),
				      ifname, "promiscuous mode")) != 0)
			return err;
	}
	if (ap->port.info.rx_queues > 1) {
		/* The first socket asks for a fresh group id, the others join it
		 * (packet(7) PACKET_FANOUT, PACKET_FANOUT_FLAG_UNIQUEID). */
		uint32_t type_flags = PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_IGNORE_OUTGOING;
		uint32_t arg, got;
		socklen_t len = sizeof(got);

		/* The int argument: group id in the low 16 bits, type and flags
		 * in the high 16 (packet(7)). */
		if (qi == 0)
			arg = (type_flags | PACKET_FANOUT_FLAG_UNIQUEID) << 16;
		else
			arg = type_flags << 16 | *fanout_id;
		if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg), ifname,
				      "PACKET_FANOUT")) != 0)
			return err;
		if (qi == 0) {
			if (getsockopt(q->fd, SOL_PACKET, PACKET_FANOUT, &got, &len) < 0)
				return usnet_error(errno, "afpacket:%s: PACKET_FANOUT id: %s",
						   ifname, strerror(errno));
			*fanout_id = (uint16_t)(got & 0xffff);
		}
	}
	return 0;
}

static int afp_setup_txq(struct afp_port *ap, uint16_t qi, const struct afp_opts *o)
{
	struct afp_txq *q = &ap->txq[qi];
	const char *ifname = ap->ifname;
	uint32_t frames = ap->port.conf.tx_ring_size ? ap->port.conf.tx_ring_size
						     : AFP_DFLT_TX_FRAMES;
	int bypass = (int)o->qdisc_bypass, sndbuf;
	int err;

	if ((err = afp_socket(ifname, &q->fd)) != 0)
		return err;
	/* Protocol 0: a send-only socket, no copy of anything received. */
	if ((err = afp_bind(q->fd, ap->ifindex, 0, ifname)) != 0)
		return err;
	if (bypass && (err = afp_setopt(q->fd, SOL_PACKET, PACKET_QDISC_BYPASS, &bypass,
					sizeof(bypass), ifname, "PACKET_QDISC_BYPASS")) != 0)
		return err;

	/* Room in the send buffer for a whole ring of frames in flight, or
	 * send() stops early with frames left behind (tpacket_snd()). An skb
	 * costs its data plus about 1 KiB of overhead. Without CAP_NET_ADMIN
	 * the kernel caps SO_SNDBUF at net.core.wmem_max; good enough. */
	sndbuf = (int)((uint64_t)frames * (ap->max_frame + 1024u) > (1u << 30)
			       ? (1u << 30)
			       : frames * (ap->max_frame + 1024u));
	if (setsockopt(q->fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)) < 0)
		(void)setsockopt(q->fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));

	if (o->tx_mode == AFP_TX_MMSG) {
		q->msgs = calloc(USNET_MAX_BURST, sizeof(*q->msgs));
		q->iov = calloc(USNET_MAX_BURST, sizeof(*q->iov));
		if (!q->msgs || !q->iov)
			return usnet_error(ENOMEM, "afpacket:%s: out of memory", ifname);
		for (unsigned i = 0; i < USNET_MAX_BURST; i++) {
			q->msgs[i].msg_hdr.msg_iov = &q->iov[i];
			q->msgs[i].msg_hdr.msg_iovlen = 1;
		}
		return 0;
	}

	/* tx=ring: TPACKET_V2 slots of a power-of-two size that holds the
	 * header and the longest frame (up to 16 KiB), at least two per
	 * page-sized block. */
	int v2 = TPACKET_V2, one = 1;
	uint32_t fsize = 2048, page = (uint32_t)sysconf(_SC_PAGESIZE), bsize, per_block;
	struct tpacket_req req;

	while (fsize < AFP_TX_DATA_OFF + ap->max_frame + AFP_VLAN_HLEN && fsize < AFP_TX_MAX_SLOT)
		fsize *= 2;
	bsize = fsize * 2 > page ? fsize * 2 : page;
	per_block = bsize / fsize;
	frames = (frames + per_block - 1) / per_block * per_block;
	req = (struct tpacket_req){
		.tp_block_size = bsize,
		.tp_block_nr = frames / per_block,
		.tp_frame_size = fsize,
		.tp_frame_nr = frames,
	};
	if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_VERSION, &v2, sizeof(v2), ifname,
			      "PACKET_VERSION TPACKET_V2")) != 0)
		return err;
	/* A frame the kernel refuses is skipped instead of stopping the ring
	 * (tpacket_snd(): tp_loss). We check lengths first; this is the net. */
	if ((err = afp_setopt(q->fd, SOL_PACKET, PACKET_LOSS, &one, sizeof(one), ifname,
			      "PACKET_LOSS")) != 0)
		return err;
	if (setsockopt(q->fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0)
		return usnet_error(errno, "afpacket:%s: PACKET_TX_RING (%u frames of %u bytes): %s",
				   ifname, frames, fsize, strerror(errno));
	q->frame_size = fsize;
	q->max_len = fsize - AFP_TX_DATA_OFF;
	q->nframes = frames;
	q->ring_len = (size_t)bsize * req.tp_block_nr;
	q->ring = mmap(NULL, q->ring_len, PROT_READ | PROT_WRITE, MAP_SHARED, q->fd, 0);
	if (q->ring == MAP_FAILED) {
		q->ring = NULL;
		return usnet_error(errno, "afpacket:%s: mmap of the TX ring: %s", ifname,
				   strerror(errno));
	}
	return 0;
}

/* Push out what the TX rings still hold, for at most a second: frames sent
 * just before close should not be lost. Not a blocking send(): that also
 * waits, without a bound, for frames the driver holds (tpacket_snd()). */
static void afp_tx_flush(struct afp_port *ap)
{
	for (uint16_t i = 0; i < ap->port.info.tx_queues; i++) {
		struct afp_txq *q = &ap->txq[i];

		for (int tries = 0; q->ring && q->kick_pending && tries < 1000; tries++) {
			afp_tx_kick(&ap->port, i, q);
			if (q->kick_pending)
				usleep(1000);
		}
	}
}

static void afp_free(struct afp_port *ap)
{
	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++) {
		struct afp_rxq *rq = &ap->rxq[i];
		struct afp_txq *tq = &ap->txq[i];

		usnet_pkt_free_bulk(rq->pend + rq->pend_next,
				    (uint32_t)(rq->npend - rq->pend_next));
		free(rq->scratch);
		if (rq->ring)
			munmap(rq->ring, rq->ring_len);
		if (rq->fd >= 0)
			close(rq->fd);
		if (tq->ring)
			munmap(tq->ring, tq->ring_len);
		if (tq->fd >= 0)
			close(tq->fd);
		free(tq->msgs);
		free(tq->iov);
	}
	usnet_port_teardown(&ap->port);
	free(ap);
}

static void afp_close(struct usnet_port *port)
{
	struct afp_port *ap = usnet_container_of(port, struct afp_port, port);

	afp_tx_flush(ap);
	afp_free(ap);
}

static int afp_parse_opts(struct usnet_spec *spec, const struct usnet_port_conf *conf,
			  struct afp_opts *o)
{
	const char *tx = usnet_spec_opt(spec, "tx"), *gso = usnet_spec_opt(spec, "gso");
	long page = sysconf(_SC_PAGESIZE);
	uint64_t dflt_blocks = AFP_DFLT_BLOCKS;
	int err;

	if ((err = usnet_spec_opt_u32(spec, "block_size", (uint32_t)page, 1u << 26,
				      AFP_DFLT_BLOCK_SIZE, &o->block_size)) != 0)
		return err;
	/* conf->rx_ring_size asks for room for that many full-size frames. */
	if (conf && conf->rx_ring_size) {
		uint64_t bytes = (uint64_t)conf->rx_ring_size * AFP_RX_FRAME_SIZE;

		dflt_blocks = (bytes + o->block_size - 1) / o->block_size;
		if (dflt_blocks < 2)
			dflt_blocks = 2;
		if (dflt_blocks > (1u << 16))
			dflt_blocks = 1u << 16;
	}
	if ((err = usnet_spec_opt_u32(spec, "blocks", 2, 1u << 16, (uint32_t)dflt_blocks,
				      &o->blocks)) != 0 ||
	    (err = usnet_spec_opt_u32(spec, "retire_ms", 1, 1000, 1, &o->retire_ms)) != 0 ||
	    (err = usnet_spec_opt_u32(spec, "qdisc_bypass", 0, 1, 0, &o->qdisc_bypass)) != 0)
		return err;
	if (o->block_size % (uint32_t)page)
		return usnet_error(EINVAL, "afpacket:%s: block_size=%u is not a multiple of the "
				   "page size (%ld)", spec->name, o->block_size, page);
	if ((uint64_t)o->block_size * o->blocks > AFP_MAX_RING_BYTES)
		return usnet_error(EINVAL, "afpacket:%s: an RX ring of %u blocks of %u bytes is "
				   "larger than 1 GiB", spec->name, o->blocks, o->block_size);
	/* gso: on unless asked off or a block cannot hold a 64 KiB frame (the
	 * kernel would cut such frames short; they are counted in rx_errors). */
	if (gso && strcmp(gso, "on") && strcmp(gso, "off"))
		return usnet_error(EINVAL, "afpacket:%s: option gso=%s: expected gso=on or gso=off",
				   spec->name, gso);
	o->gso = gso ? !strcmp(gso, "on") : o->block_size >= AFP_GSO_MIN_BLOCK;
	if (o->gso && o->block_size < AFP_GSO_MIN_BLOCK)
		return usnet_error(EINVAL,
				   "afpacket:%s: gso=on needs block_size=%u or more (a "
				   "block holds a whole 64 KiB frame); block_size=%u",
				   spec->name, AFP_GSO_MIN_BLOCK, o->block_size);
	if (!tx || !strcmp(tx, "mmsg"))
		o->tx_mode = AFP_TX_MMSG;
	else if (!strcmp(tx, "ring"))
		o->tx_mode = AFP_TX_RING;
	else
		return usnet_error(EINVAL, "afpacket:%s: option tx=%s: expected tx=ring or tx=mmsg",
				   spec->name, tx);
	return 0;
}

/* The interface: exists, is Ethernet, is up; its index, MAC and MTU. */
static int afp_probe_if(struct afp_port *ap, int fd)
{
	const char *ifname = ap->ifname;
	struct ifreq ifr;
	int err;

	err = afp_ifreq(fd, SIOCGIFINDEX, ifname, &ifr);
	if (err == -ENODEV)
		return usnet_error(ENODEV, "afpacket: interface '%s' does not exist", ifname);
	if (err)
		return usnet_error(-err, "afpacket:%s: SIOCGIFINDEX: %s", ifname, strerror(-err));
	ap->ifindex = ifr.ifr_ifindex;

	if ((err = afp_ifreq(fd, SIOCGIFHWADDR, ifname, &ifr)) != 0)
		return usnet_error(-err, "afpacket:%s: SIOCGIFHWADDR: %s", ifname, strerror(-err));
	if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER && ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK)
		return usnet_error(EPROTONOSUPPORT,
				   "afpacket: interface '%s' is not an Ethernet interface "
				   "(ARPHRD type %u)", ifname, ifr.ifr_hwaddr.sa_family);
	memcpy(ap->port.info.mac, ifr.ifr_hwaddr.sa_data, 6);

	if ((err = afp_ifreq(fd, SIOCGIFMTU, ifname, &ifr)) != 0)
		return usnet_error(-err, "afpacket:%s: SIOCGIFMTU: %s", ifname, strerror(-err));
	ap->port.info.mtu = (uint16_t)(ifr.ifr_mtu > 65535 - USNET_ETH_HLEN
					       ? 65535 - USNET_ETH_HLEN
					       : ifr.ifr_mtu);
	ap->max_frame = ap->port.info.mtu + (uint32_t)USNET_ETH_HLEN;

	if ((err = afp_ifreq(fd, SIOCGIFFLAGS, ifname, &ifr)) != 0)
		return usnet_error(-err, "afpacket:%s: SIOCGIFFLAGS: %s", ifname, strerror(-err));
	/* A socket bound to a down interface cannot join a fanout group and
	 * has an error pending; like libpcap, refuse it with the fix. */
	if (!(ifr.ifr_flags & IFF_UP))
		return usnet_error(ENETDOWN,
				   "afpacket: interface '%s' is down (bring it up first: "
				   "ip link set %s up)", ifname, ifname);
	if (!afp_carrier(fd, ifname, ifr.ifr_flags))
		USNET_WARN("afpacket: interface '%s' has no carrier (link down); frames will flow "
			   "once it comes up", ifname);
	return 0;
}

static int afp_open(struct usnet_port **out, struct usnet_spec *spec,
		    const struct usnet_port_conf *conf)
{
	struct afp_port *ap;
	struct afp_opts o;
	uint16_t fanout_id = 0;
	int err;

	if (!spec->name[0])
		return usnet_error(EINVAL, "afpacket: needs an interface name, e.g. afpacket:eth0");
	if (strlen(spec->name) >= IFNAMSIZ)
		return usnet_error(EINVAL, "afpacket: interface name '%s' is longer than %d "
				   "characters", spec->name, IFNAMSIZ - 1);
	if ((err = afp_parse_opts(spec, conf, &o)) != 0)
		return err;
	ap = calloc(1, sizeof(*ap));
	if (!ap)
		return usnet_error(ENOMEM, "afpacket: out of memory");
	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++)
		ap->rxq[i].fd = ap->txq[i].fd = -1;
	memcpy(ap->ifname, spec->name, strlen(spec->name) + 1); /* length checked above */
	ap->tx_mode = o.tx_mode;
	ap->gso = o.gso;
	err = usnet_port_setup(&ap->port, &usnet_afpacket_ops, spec, conf, USNET_MAX_QUEUES,
			       AFP_DFLT_POOL);
	if (err) {
		free(ap);
		return err;
	}
	ap->rx_room = ap->port.conf.buf_size - USNET_PKT_HEADROOM;

	/* The first socket doubles as the handle for interface ioctls. */
	if ((err = afp_socket(ap->ifname, &ap->rxq[0].fd)) != 0 ||
	    (err = afp_probe_if(ap, ap->rxq[0].fd)) != 0)
		goto err_free;
	for (uint16_t i = 0; i < ap->port.info.rx_queues; i++)
		if ((err = afp_setup_rxq(ap, i, &o, &fanout_id)) != 0)
			goto err_free;
	for (uint16_t i = 0; i < ap->port.info.tx_queues; i++)
		if ((err = afp_setup_txq(ap, i, &o)) != 0)
			goto err_free;
	*out = &ap->port;
	return 0;

err_free:
	afp_free(ap);
	return err;
}

static uint16_t afp_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			     uint16_t n)
{
	struct afp_port *ap = usnet_container_of(port, struct afp_port, port);

	return ap->tx_mode == AFP_TX_RING ? afp_tx_ring(port, queue, pkts, n)
					  : afp_tx_mmsg(port, queue, pkts, n);
}

const struct usnet_port_ops usnet_afpacket_ops = {
    .kind = "afpacket",
    .usage = "afpacket:IFNAME[,OPTS]   Linux interface via AF_PACKET (tx=mmsg|ring, "
	     "qdisc_bypass=1, blocks=, block_size=, retire_ms=, gso=on|off)",
    .open = afp_open,
    .close = afp_close,
    .rx_burst = afp_rx_burst,
    .tx_burst = afp_tx_burst,
    .queue_fd = afp_queue_fd,
    .arm = afp_arm,
    .link = afp_link,
};
