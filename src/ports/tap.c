/* SPDX-License-Identifier: MIT */
/*
 * tap:NAME — a TAP device (Documentation/networking/tuntap.rst): the kernel
 * sees an Ethernet interface NAME, and every frame it sends there is read
 * by usnet, every frame usnet writes arrives at the kernel as if received
 * from a wire. usnet is the other end of that wire, so the port has a MAC
 * of its own (stable, locally administered, from the name), distinct from
 * the kernel side's.
 *
 * The device is created if it does not exist and attached to if it does
 * (a persistent device, `ip tuntap add NAME mode tap`). A device we
 * created is not persistent: the kernel removes it when we close the last
 * queue. One we attached to stays, and gets its admin state back. With
 * more than one RX queue the device is IFF_MULTI_QUEUE, one fd per queue;
 * the kernel spreads its transmissions over them by flow.
 *
 * One readv() or write() per frame: a TAP fd has no batched interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include <usnet/proto.h>

#include "port_impl.h"

#define TAP_DEV "/dev/net/tun"
#define TAP_DFLT_POOL 4096u
#define TAP_VLAN_HLEN 4u

struct tap_port {
	struct usnet_port port;
	int fd[USNET_MAX_QUEUES]; /* one per RX queue; TX queue q writes on fd[q % nfd] */
	uint16_t nfd;
	int ctl_fd;		  /* for interface ioctls */
	int ifindex;
	char ifname[IFNAMSIZ];
	bool restore_down;	  /* attached to a down device and brought it up */
	bool stalled[USNET_MAX_QUEUES]; /* RX stopped on an empty pool; counted */
	uint32_t max_frame;	  /* mtu + 14 */
};

static int tap_ifreq(int fd, unsigned long req, const char *ifname, struct ifreq *ifr)
{
	memset(ifr, 0, sizeof(*ifr));
	snprintf(ifr->ifr_name, sizeof(ifr->ifr_name), "%s", ifname);
	return ioctl(fd, req, ifr) < 0 ? -errno : 0;
}

static uint16_t tap_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			     uint16_t n)
{
	struct tap_port *tp = usnet_container_of(port, struct tap_port, port);
	struct usnet_queue_stats *st = &port->stats[queue];
	int fd = tp->fd[queue];
	uint8_t scratch;
	struct iovec iov[2] = {{0}, {.iov_base = &scratch, .iov_len = 1}};
	uint16_t got = 0;

	while (got < n) {
		struct usnet_pkt *p = usnet_pkt_alloc(port->pool[queue]);
		uint16_t room;
		ssize_t r;

		if (!p) {
			/* Frames wait in the device's queue (tx_queue_len) meanwhile. */
			if (!tp->stalled[queue])
				st->rx_nobuf++;
			tp->stalled[queue] = true;
			break;
		}
		room = usnet_pkt_tailroom(p);
		/* One byte more than the buffer, in a scratch iovec: the read
		 * returns what it copied, so a longer frame shows as r > room. */
		iov[0] = (struct iovec){.iov_base = usnet_pkt_data(p), .iov_len = room};
		r = readv(fd, iov, 2);
		if (r < 0) {
			usnet_pkt_free(p);
			if (errno != EAGAIN && errno != EINTR)
				st->rx_errors++;
			break;
		}
		tp->stalled[queue] = false;
		if (r > room || r < USNET_ETH_HLEN) {
			usnet_pkt_free(p);
			st->rx_errors++;
			continue;
		}
		p->len = (uint16_t)r;
		pkts[got++] = p;
	}
	return got;
}

static uint16_t tap_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			     uint16_t n)
{
	struct tap_port *tp = usnet_container_of(port, struct tap_port, port);
	struct usnet_queue_stats *st = &port->stats[queue];
	int fd = tp->fd[queue % tp->nfd];
	uint16_t i;

	for (i = 0; i < n; i++) {
		struct usnet_pkt *p = pkts[i];
		const uint8_t *d = usnet_pkt_data(p);
		bool tagged = p->len >= USNET_ETH_HLEN && d[12] == 0x81 && d[13] == 0x00;

		if (p->len < USNET_ETH_HLEN ||
		    p->len > tp->max_frame + (tagged ? TAP_VLAN_HLEN : 0)) {
			st->tx_errors++;
			usnet_pkt_free(p);
			continue;
		}
		if (write(fd, d, p->len) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break; /* the caller keeps this one and the rest */
			st->tx_errors++;
		}
		usnet_pkt_free(p);
	}
	return i;
}

static int tap_queue_fd(struct usnet_port *port, uint16_t queue)
{
	return usnet_container_of(port, struct tap_port, port)->fd[queue];
}

/* The carrier as the driver sees it (ETHTOOL_GLINK: netif_carrier_ok()).
 * IFF_RUNNING follows it only once linkwatch has run, up to a second
 * after a device comes up. */
static bool tap_carrier(struct tap_port *tp, short flags)
{
	struct ethtool_value ev = {.cmd = ETHTOOL_GLINK};
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, tp->ifname, sizeof(tp->ifname));
	ifr.ifr_data = (char *)&ev;
	if (ioctl(tp->ctl_fd, SIOCETHTOOL, &ifr) == 0)
		return ev.data != 0;
	return flags & IFF_RUNNING;
}

static int tap_link(struct usnet_port *port, struct usnet_link *link)
{
	struct tap_port *tp = usnet_container_of(port, struct tap_port, port);
	struct ifreq ifr;

	/* A TAP's ethtool speed is a made-up 10 Mb/s: report unknown. */
	link->speed_mbps = 0;
	link->up = false;
	if (tap_ifreq(tp->ctl_fd, SIOCGIFINDEX, tp->ifname, &ifr) ||
	    ifr.ifr_ifindex != tp->ifindex ||
	    tap_ifreq(tp->ctl_fd, SIOCGIFFLAGS, tp->ifname, &ifr))
		return 0;
	link->up = (ifr.ifr_flags & IFF_UP) && tap_carrier(tp, ifr.ifr_flags);
	return 0;
}

static void tap_free(struct tap_port *tp)
{
	struct ifreq ifr;

	if (tp->restore_down &&
	    tap_ifreq(tp->ctl_fd, SIOCGIFFLAGS, tp->ifname, &ifr) == 0) {
		ifr.ifr_flags &= ~IFF_UP;
		if (ioctl(tp->ctl_fd, SIOCSIFFLAGS, &ifr) < 0)
			USNET_WARN("tap:%s: could not bring it back down: %s", tp->ifname,
				   strerror(errno));
	}
	/* Closing the last queue of a device that is not persistent removes it. */
	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++)
		if (tp->fd[i] >= 0)
			close(tp->fd[i]);
	if (tp->ctl_fd >= 0)
		close(tp->ctl_fd);
	usnet_port_teardown(&tp->port);
	free(tp);
}

static void tap_close(struct usnet_port *port)
{
	tap_free(usnet_container_of(port, struct tap_port, port));
}

/* dev_valid_name() in the kernel, plus no '%' (a name template) so that
 * the device gets exactly the name asked for. */
static int tap_check_name(const char *name)
{
	if (!name[0])
		return usnet_error(EINVAL, "tap: needs a device name, e.g. tap:usnet0");
	if (strlen(name) > IFNAMSIZ - 1)
		return usnet_error(EINVAL, "tap: name '%s' is longer than %d characters "
				   "(IFNAMSIZ-1)", name, IFNAMSIZ - 1);
	if (!strcmp(name, ".") || !strcmp(name, ".."))
		return usnet_error(EINVAL, "tap: '%s' is not a valid interface name", name);
	for (const char *s = name; *s; s++)
		if (*s == '/' || *s == ':' || *s == '%' || (unsigned char)*s <= ' ' || *s == 0x7f)
			return usnet_error(EINVAL, "tap: name '%s' contains '%c', which an "
					   "interface name cannot", name, *s);
	return 0;
}

/* Why TUNSETIFF said EINVAL about an existing NAME: ask its driver. */
static int tap_explain_einval(struct tap_port *tp, bool multi)
{
	struct ethtool_drvinfo di = {.cmd = ETHTOOL_GDRVINFO};
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tp->ifname);
	ifr.ifr_data = (char *)&di;
	if (ioctl(tp->ctl_fd, SIOCETHTOOL, &ifr) == 0) {
		if (strcmp(di.driver, "tun"))
			return usnet_error(EEXIST, "tap: '%s' exists and is not a TAP device "
					   "(driver %s)", tp->ifname, di.driver);
		if (!strcmp(di.bus_info, "tun"))
			return usnet_error(EEXIST, "tap: '%s' exists and is a TUN (layer 3) "
					   "device, not a TAP", tp->ifname);
	}
	return usnet_error(EINVAL, "tap: '%s' exists %s IFF_MULTI_QUEUE; asked %s queue (recreate "
			   "it with 'ip tuntap add %s mode tap%s')", tp->ifname,
			   multi ? "without" : "with", multi ? "more than one" : "one", tp->ifname,
			   multi ? " multi_queue" : "");
}

static int tap_attach(struct tap_port *tp, uint16_t q, bool existed)
{
	bool multi = tp->nfd > 1;
	struct ifreq ifr;
	int fd = open(TAP_DEV, O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT || errno == ENODEV || errno == ENXIO)
			return usnet_error(ENODEV, "tap: " TAP_DEV " does not exist (modprobe tun; "
					   "in a container, pass the device in)");
		if (errno == EACCES || errno == EPERM)
			return usnet_error(EACCES, "tap: no permission to open " TAP_DEV
					   " (run as root)");
		return usnet_error(errno, "tap: open " TAP_DEV ": %s", strerror(errno));
	}
	tp->fd[q] = fd;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", tp->ifname);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
	if (ioctl(fd, TUNSETIFF, &ifr) == 0)
		return 0;
	switch (errno) {
	case EPERM:
		if (existed)
			return usnet_error(EPERM, "tap: not allowed to attach to '%s' (it "
					   "belongs to another user or group; run as root)",
					   tp->ifname);
		return usnet_error(EPERM, "tap: creating '%s' needs CAP_NET_ADMIN (run as root)",
				   tp->ifname);
	case EBUSY:
		return usnet_error(EBUSY, "tap: '%s' is in use by another process", tp->ifname);
	case EINVAL:
		if (existed)
			return tap_explain_einval(tp, multi);
		break;
	}
	return usnet_error(errno, "tap:%s: TUNSETIFF: %s", tp->ifname, strerror(errno));
}

static int tap_open(struct usnet_port **out, struct usnet_spec *spec,
		    const struct usnet_port_conf *conf)
{
	struct tap_port *tp;
	struct ifreq ifr;
	uint32_t up;
	bool existed;
	int err;

	if ((err = tap_check_name(spec->name)) != 0 ||
	    (err = usnet_spec_opt_u32(spec, "up", 0, 1, 1, &up)) != 0)
		return err;
	tp = calloc(1, sizeof(*tp));
	if (!tp)
		return usnet_error(ENOMEM, "tap: out of memory");
	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++)
		tp->fd[i] = -1;
	tp->ctl_fd = -1;
	memcpy(tp->ifname, spec->name, strlen(spec->name) + 1); /* length checked above */
	err = usnet_port_setup(&tp->port, &usnet_tap_ops, spec, conf, USNET_MAX_QUEUES,
			       TAP_DFLT_POOL);
	if (err) {
		free(tp);
		return err;
	}
	tp->nfd = tp->port.info.rx_queues;

	tp->ctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (tp->ctl_fd < 0) {
		err = usnet_error(errno, "tap: socket: %s", strerror(errno));
		goto err_free;
	}
	existed = tap_ifreq(tp->ctl_fd, SIOCGIFINDEX, tp->ifname, &ifr) == 0;
	for (uint16_t q = 0; q < tp->nfd; q++)
		if ((err = tap_attach(tp, q, existed)) != 0)
			goto err_free;

	if ((err = tap_ifreq(tp->ctl_fd, SIOCGIFINDEX, tp->ifname, &ifr)) != 0) {
		err = usnet_error(-err, "tap:%s: SIOCGIFINDEX: %s", tp->ifname, strerror(-err));
		goto err_free;
	}
	tp->ifindex = ifr.ifr_ifindex;
	if ((err = tap_ifreq(tp->ctl_fd, SIOCGIFMTU, tp->ifname, &ifr)) != 0) {
		err = usnet_error(-err, "tap:%s: SIOCGIFMTU: %s", tp->ifname, strerror(-err));
		goto err_free;
	}
	tp->port.info.mtu = (uint16_t)(ifr.ifr_mtu > 65535 - USNET_ETH_HLEN
					       ? 65535 - USNET_ETH_HLEN
					       : ifr.ifr_mtu);
	tp->max_frame = tp->port.info.mtu + (uint32_t)USNET_ETH_HLEN;

	/* Our MAC must differ from the kernel side's, or the kernel would
	 * take our frames for its own. */
	usnet_mac_from_name(tp->port.info.mac, spec->kind, tp->ifname);
	if (tap_ifreq(tp->ctl_fd, SIOCGIFHWADDR, tp->ifname, &ifr) == 0 &&
	    !memcmp(ifr.ifr_hwaddr.sa_data, tp->port.info.mac, 6))
		tp->port.info.mac[5] ^= 1;

	if ((err = tap_ifreq(tp->ctl_fd, SIOCGIFFLAGS, tp->ifname, &ifr)) != 0) {
		err = usnet_error(-err, "tap:%s: SIOCGIFFLAGS: %s", tp->ifname, strerror(-err));
		goto err_free;
	}
	if (up && !(ifr.ifr_flags & IFF_UP)) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(tp->ctl_fd, SIOCSIFFLAGS, &ifr) < 0) {
			err = usnet_error(errno, "tap:%s: bringing it up: %s (or open it with "
					  "up=0)", tp->ifname, strerror(errno));
			goto err_free;
		}
		tp->restore_down = existed;
	}
	*out = &tp->port;
	return 0;

err_free:
	tap_free(tp);
	return err;
}

const struct usnet_port_ops usnet_tap_ops = {
	.kind = "tap",
	.usage = "tap:NAME[,up=0]         TAP device NAME, created if missing; usnet: far end",
	.open = tap_open,
	.close = tap_close,
	.rx_burst = tap_rx_burst,
	.tx_burst = tap_tx_burst,
	.queue_fd = tap_queue_fd,
	.link = tap_link,
};
