/* SPDX-License-Identifier: MIT */
/*
 * Helper for the port integration tests (afpacket_basic.sh, tap_basic.sh);
 * the scripts run it inside the namespaces they create.
 *
 *   port_roundtrip open SPEC [QUEUES [promisc]]
 *	open SPEC (with QUEUES RX and TX queues, 1; conf.promisc), print its
 *	info, link and, with promisc, the interface's flags from /sys while
 *	open; close. Exit 1 with usnet_last_error() on stderr if the open
 *	fails.
 *
 *   port_roundtrip wire [-n FRAMES] [-f FLOWS] [-q RXQUEUES] [-v VID] TXSPEC RXSPEC
 *	send FRAMES Ethernet/IPv4/UDP frames (usnet_udp4_build, lengths
 *	60..1514, a sequence number in each; with -v, 802.1Q-tagged with
 *	VID, so up to 1518) on TXSPEC and receive them on RXSPEC (the other
 *	end of a veth pair): every frame must arrive exactly once, in order
 *	within its flow, with valid checksums and its tag, and nothing be
 *	counted dropped. Then one frame of MTU+15 bytes must be refused
 *	(tx_errors) and not arrive. With -D the receiver does not read until
 *	everything is sent, so a small RX ring overflows: then frames may be
 *	missing, but each must be counted in rx_dropped (received + dropped
 *	= sent) and the rest still arrive in order.
 *
 *   port_roundtrip tap [-g|-k] [-e ERRORS] [-c CMD] SPEC LOCAL_IP KERNEL_IP
 *	open the TAP, run CMD (configures the kernel side), resolve
 *	KERNEL_IP with a hand-made ARP request, then ping it three times;
 *	answer the kernel's ARP requests for LOCAL_IP meanwhile. rx_errors
 *	must end at ERRORS (0; CMD may make the kernel send frames too long
 *	for our buffers). After close, -g: the device must be gone, -k: it
 *	must still exist.
 *
 *   port_roundtrip gso TXIF RXSPEC POOL
 *	open RXSPEC (an afpacket: port on the other end of a veth from TXIF,
 *	pool_size POOL), then send one TCP/IPv4 super-frame of 40000 bytes
 *	of payload (28 segments of 1448) on TXIF through a packet socket with
 *	PACKET_VNET_HDR, so that the kernel carries it as one GSO skb. POOL
 *	of 28 or more: the port returns the 28 segments (read 8 at a time,
 *	so the rest wait between calls), each with its length, sequence
 *	number, flags and payload, and a TCP checksum that verifies after
 *	usnet_pkt_csum_finish(); rx_gso_frames 1. POOL below 28: nothing
 *	arrives, rx_gso_dropped 1 and every packet back in the pool.
 *
 * Every wait is bounded; exit status 0 only if every check passed.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/time.h>

#include "../unit/check.h"

#define MAGIC 0x55534e54u /* "USNT" */
#define BURST 32

static void print_mac(const char *what, const uint8_t *m)
{
	printf("%s %02x:%02x:%02x:%02x:%02x:%02x\n", what, m[0], m[1], m[2], m[3], m[4], m[5]);
}

static int open_port(struct usnet_port **port, const char *spec,
		     const struct usnet_port_conf *conf)
{
	int err = usnet_port_open(port, spec, conf);

	if (err)
		fprintf(stderr, "%s: %s\n", spec, usnet_last_error());
	return err;
}

static int cmd_open(const char *spec, uint16_t queues, bool promisc)
{
	struct usnet_port_conf conf = {.rx_queues = queues, .tx_queues = queues, .promisc = promisc};
	struct usnet_port *port;
	struct usnet_link link;
	const struct usnet_port_info *info;

	if (open_port(&port, spec, &conf))
		return 1;
	info = usnet_port_info(port);
	printf("kind %s\nname %s\nmtu %u\nqueues %u %u\n", info->kind, info->name, info->mtu,
	       info->rx_queues, info->tx_queues);
	print_mac("mac", info->mac);
	usnet_port_link(port, &link);
	printf("link %s speed %u\n", link.up ? "up" : "down", link.speed_mbps);
	if (promisc) {
		char path[200], flags[32] = "?";
		FILE *f;

		snprintf(path, sizeof(path), "/sys/class/net/%s/flags", info->name);
		f = fopen(path, "r");
		if (f) {
			if (!fgets(flags, sizeof(flags), f))
				flags[0] = '\0';
			fclose(f);
		}
		printf("flags %s", flags);
	}
	usnet_port_close(port);
	return 0;
}

/* ---- wire: many frames across a veth pair ------------------------------ */

static uint16_t frame_len(uint32_t seq)
{
	return (uint16_t)(USNET_ETH_MIN_FRAME + (seq * 7u) % (USNET_ETH_MAX_FRAME - 59u));
}

struct rx_state {
	uint32_t frames, flows, got, bad, order, other;
	uint16_t vid; /* 0: untagged */
	bool gaps_ok; /* -D: frames may be missing (counted as dropped) */
	uint32_t next[64]; /* per flow: the sequence number expected next */
	uint64_t per_queue[USNET_MAX_QUEUES];
};

static void check_frame(struct rx_state *rs, const struct usnet_pkt *p)
{
	const uint8_t *d = usnet_pkt_data(p);
	uint8_t untagged[USNET_ETH_MAX_FRAME];
	uint16_t len = p->len, tag_len = 0;
	struct usnet_udp4_view v;
	uint32_t seq, magic;

	if (rs->vid) {
		/* The tag must be where we put it, not stripped by the kernel. */
		if (len < 18 || len - 4 > (int)sizeof(untagged) || d[12] != 0x81 || d[13] != 0 ||
		    ((d[14] << 8 | d[15]) & 0xfff) != rs->vid) {
			rs->other++;
			return;
		}
		memcpy(untagged, d, 12);
		memcpy(untagged + 12, d + 16, len - 16u);
		d = untagged;
		len = (uint16_t)(len - 4);
		tag_len = 4;
	}
	if (usnet_udp4_parse(d, len, &v) || ntohs(v.udp->dport) != 2000 || v.payload_len < 8) {
		rs->other++;
		return;
	}
	memcpy(&magic, v.payload + 4, 4);
	if (ntohl(magic) != MAGIC) {
		rs->other++;
		return;
	}
	memcpy(&seq, v.payload, 4);
	seq = ntohl(seq);
	rs->got++;
	if (!v.ip_csum_ok || !v.udp_csum_ok || p->len != frame_len(seq) + tag_len ||
	    seq >= rs->frames) {
		rs->bad++;
		return;
	}
	if (rs->gaps_ok ? seq < rs->next[seq % rs->flows] : seq != rs->next[seq % rs->flows])
		rs->order++;
	rs->next[seq % rs->flows] = seq + rs->flows;
}

static void drain(struct usnet_port *rx, struct rx_state *rs, uint16_t queues)
{
	struct usnet_pkt *pkts[BURST];

	for (uint16_t q = 0; q < queues; q++) {
		uint16_t n;

		while ((n = usnet_rx_burst(rx, q, pkts, BURST)) > 0) {
			for (uint16_t i = 0; i < n; i++)
				check_frame(rs, pkts[i]);
			rs->per_queue[q] += n;
			usnet_pkt_free_bulk(pkts, n);
		}
	}
}

/* Insert an 802.1Q tag after the MAC addresses (IEEE 802.1Q clause 9). */
static void add_tag(struct usnet_pkt *p, uint16_t vid)
{
	uint8_t *d = usnet_pkt_prepend(p, 4);

	if (!d)
		return; /* pool buffers always have the headroom; never taken */
	memmove(d, d + 4, 12);
	d[12] = 0x81;
	d[13] = 0x00;
	d[14] = (uint8_t)(vid >> 8);
	d[15] = (uint8_t)vid;
}

static bool pool_full(const struct usnet_pool *pool)
{
	struct usnet_pool_stats ps;

	usnet_pool_get_stats(pool, &ps);
	if (ps.available != ps.count || ps.bad_free)
		printf("pool: %u of %u available, %llu bad frees\n", ps.available, ps.count,
		       (unsigned long long)ps.bad_free);
	return ps.available == ps.count && !ps.bad_free;
}

/* Send every packet, retrying while the port refuses some; bounded. */
static uint16_t send_all(struct usnet_port *tx, struct usnet_pkt **pkts, uint16_t n)
{
	uint16_t sent = 0;
	uint64_t deadline = usnet_now_ns() + 2 * USNET_NSEC_PER_SEC;

	while (sent < n && usnet_now_ns() < deadline) {
		sent = (uint16_t)(sent + usnet_tx_burst(tx, 0, pkts + sent, (uint16_t)(n - sent)));
		if (sent < n)
			usleep(100);
	}
	usnet_pkt_free_bulk(pkts + sent, (uint32_t)(n - sent));
	return sent;
}

static int cmd_wire(int argc, char **argv)
{
	struct usnet_port_conf rxconf = {.rx_queues = 1};
	struct usnet_port *tx, *rx;
	struct rx_state rs = {.frames = 1000, .flows = 1};
	struct usnet_queue_stats txst, rxst;
	struct usnet_udp4_flow flow = {
		.src_ip = 0xc6120101, /* 198.18.1.1 */
		.dst_ip = 0xc6120102,
		.dport = 2000,
	};
	struct usnet_pkt *pkts[BURST];
	uint32_t seq = 0, sent = 0;
	uint64_t deadline;
	int opt;

	while ((opt = getopt(argc, argv, "n:f:q:v:D")) != -1) {
		switch (opt) {
		case 'D':
			rs.gaps_ok = true;
			break;
		case 'v':
			rs.vid = (uint16_t)(strtoul(optarg, NULL, 0) & 0xfff);
			break;
		case 'n':
			rs.frames = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'f':
			rs.flows = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'q':
			rxconf.rx_queues = (uint16_t)strtoul(optarg, NULL, 0);
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 2 || !rs.flows || rs.flows > 64 || !rxconf.rx_queues) {
		fprintf(stderr, "usage: port_roundtrip wire [-n N] [-f FLOWS<=64] [-q RXQ] "
				"[-v VID] TX RX\n");
		return 2;
	}
	for (uint32_t f = 0; f < rs.flows; f++)
		rs.next[f] = f;
	if (open_port(&tx, argv[optind], NULL))
		return 1;
	if (open_port(&rx, argv[optind + 1], &rxconf)) {
		usnet_port_close(tx);
		return 1;
	}
	memcpy(flow.src_mac, usnet_port_info(tx)->mac, 6);
	memcpy(flow.dst_mac, usnet_port_info(rx)->mac, 6);

	while (seq < rs.frames) {
		uint32_t want = rs.frames - seq < BURST ? rs.frames - seq : BURST;
		uint16_t n = (uint16_t)usnet_pool_alloc_bulk(usnet_port_pool(tx, 0), pkts, want);

		for (uint16_t i = 0; i < n; i++, seq++) {
			uint32_t payload[2] = {htonl(seq), htonl(MAGIC)};

			flow.sport = (uint16_t)(1000 + seq % rs.flows);
			pkts[i]->len = (uint16_t)usnet_udp4_build(
				usnet_pkt_data(pkts[i]), usnet_pkt_tailroom(pkts[i]), &flow,
				frame_len(seq), payload, sizeof(payload));
			if (rs.vid)
				add_tag(pkts[i], rs.vid);
		}
		sent += send_all(tx, pkts, n);
		if (!rs.gaps_ok)
			drain(rx, &rs, rxconf.rx_queues);
	}
	/* Everything should arrive within a few retire timeouts; allow 3 s. */
	deadline = usnet_now_ns() + 3 * USNET_NSEC_PER_SEC;
	while (rs.got < rs.frames && usnet_now_ns() < deadline) {
		if (rs.gaps_ok && rs.got) {
			/* Frames stop arriving once the backlog is read: done when
			 * a wait finds nothing. */
			uint32_t before = rs.got;

			usnet_port_wait(rx, 0, 50);
			drain(rx, &rs, rxconf.rx_queues);
			if (rs.got == before)
				break;
			continue;
		}
		for (uint16_t q = 0; q < rxconf.rx_queues; q++)
			usnet_port_wait(rx, q, 10);
		drain(rx, &rs, rxconf.rx_queues);
	}
	/* An oversize frame: refused, counted, never on the wire. */
	{
		struct usnet_pkt *big = usnet_pkt_alloc(usnet_port_pool(tx, 0));
		uint16_t len = (uint16_t)(usnet_port_info(tx)->mtu + USNET_ETH_HLEN + 1);

		CHECK(big != NULL);
		if (big && len <= usnet_pkt_tailroom(big)) {
			uint32_t payload[2] = {htonl(rs.frames), htonl(MAGIC)};

			usnet_udp4_build(usnet_pkt_data(big), usnet_pkt_tailroom(big), &flow, 1514,
					 payload, sizeof(payload));
			big->len = len;
			CHECK_EQ(usnet_tx_burst(tx, 0, &big, 1), 1);
		} else if (big) {
			usnet_pkt_free(big);
		}
	}
	usleep(20000);
	drain(rx, &rs, rxconf.rx_queues);

	/* The sender's own RX queue must not see what it sent
	 * (PACKET_IGNORE_OUTGOING): no frame of ours arrives there. */
	{
		struct rx_state own = {.frames = rs.frames, .flows = rs.flows, .vid = rs.vid};

		drain(tx, &own, 1);
		printf("sender's RX: %u of our frames, %u others\n", own.got, own.other);
		CHECK_EQ(own.got, 0);
	}
	usnet_port_stats(tx, -1, &txst);
	/* wait() collects the kernel's drop count before it sleeps */
	for (uint16_t q = 0; q < rxconf.rx_queues; q++)
		usnet_port_wait(rx, q, 0);
	usnet_port_stats(rx, -1, &rxst);
	printf("sent %u received %u bad %u out_of_order %u other %u\n", sent, rs.got, rs.bad,
	       rs.order, rs.other);
	printf("tx: packets %llu errors %llu full %llu; rx: packets %llu dropped %llu nobuf %llu "
	       "errors %llu\n",
	       (unsigned long long)txst.tx_packets, (unsigned long long)txst.tx_errors,
	       (unsigned long long)txst.tx_full, (unsigned long long)rxst.rx_packets,
	       (unsigned long long)rxst.rx_dropped, (unsigned long long)rxst.rx_nobuf,
	       (unsigned long long)rxst.rx_errors);
	for (uint16_t q = 0; q < rxconf.rx_queues; q++)
		printf("rx queue %u: %llu frames\n", q, (unsigned long long)rs.per_queue[q]);
	CHECK_EQ(sent, rs.frames);
	if (rs.gaps_ok) {
		CHECK(rxst.rx_dropped > 0);
		CHECK_EQ(rs.got + rxst.rx_dropped, rs.frames);
	} else {
		CHECK_EQ(rs.got, rs.frames);
		CHECK_EQ(rxst.rx_dropped, 0);
	}
	CHECK_EQ(rs.bad, 0);
	CHECK_EQ(rs.order, 0);
	CHECK_EQ(txst.tx_errors, 1);
	CHECK_EQ(rxst.rx_errors, 0);
	if (rxconf.rx_queues > 1 && rs.flows >= 16)
		for (uint16_t q = 0; q < rxconf.rx_queues; q++)
			CHECK(rs.per_queue[q] > 0); /* fanout spread the flows */
	/* Every packet is back in its pool: TX freed what it took, RX handed
	 * out only what we freed. */
	CHECK(pool_full(usnet_port_pool(tx, 0)));
	for (uint16_t q = 0; q < rxconf.rx_queues; q++)
		CHECK(pool_full(usnet_port_pool(rx, q)));
	usnet_port_close(rx);
	usnet_port_close(tx);
	return check_done("wire") == EXIT_SUCCESS ? 0 : 1;
}

/* ---- tap: ARP and ICMP with the kernel --------------------------------- */

struct arp_eth_ipv4 {
	uint16_t htype, ptype;
	uint8_t hlen, plen;
	uint16_t oper;
	uint8_t sha[6];
	uint32_t spa;
	uint8_t tha[6];
	uint32_t tpa;
} __attribute__((packed));

struct icmp_echo {
	uint8_t type, code;
	uint16_t csum, id, seq;
} __attribute__((packed));

struct tap_ctx {
	struct usnet_port *port;
	const uint8_t *mac;
	uint32_t local_ip, kernel_ip; /* host order */
	uint8_t kernel_mac[6];
	bool have_kernel_mac;
	uint32_t arp_answered, replies, bad;
};

static void send_arp(struct tap_ctx *c, uint16_t oper, const uint8_t *dst_mac, uint32_t tpa)
{
	struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(c->port, 0));
	struct usnet_eth_hdr *eth;
	struct arp_eth_ipv4 *arp;

	if (!p)
		return;
	memset(usnet_pkt_data(p), 0, USNET_ETH_MIN_FRAME);
	p->len = USNET_ETH_MIN_FRAME;
	eth = (struct usnet_eth_hdr *)usnet_pkt_data(p);
	arp = (struct arp_eth_ipv4 *)(eth + 1);
	memcpy(eth->dst, dst_mac, 6);
	memcpy(eth->src, c->mac, 6);
	eth->type = htons(USNET_ETHERTYPE_ARP);
	/* RFC 826 */
	arp->htype = htons(1);
	arp->ptype = htons(USNET_ETHERTYPE_IPV4);
	arp->hlen = 6;
	arp->plen = 4;
	arp->oper = htons(oper);
	memcpy(arp->sha, c->mac, 6);
	arp->spa = htonl(c->local_ip);
	if (oper == 2)
		memcpy(arp->tha, dst_mac, 6);
	arp->tpa = htonl(tpa);
	if (!usnet_tx_burst(c->port, 0, &p, 1))
		usnet_pkt_free(p);
}

static void send_ping(struct tap_ctx *c, uint16_t seq)
{
	struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(c->port, 0));
	struct usnet_eth_hdr *eth;
	struct usnet_ipv4_hdr *ip;
	struct icmp_echo *icmp;
	uint16_t icmp_len = sizeof(*icmp) + 56;

	if (!p)
		return;
	p->len = (uint16_t)(USNET_ETH_HLEN + sizeof(*ip) + icmp_len);
	eth = (struct usnet_eth_hdr *)usnet_pkt_data(p);
	ip = (struct usnet_ipv4_hdr *)(eth + 1);
	icmp = (struct icmp_echo *)(ip + 1);
	memcpy(eth->dst, c->kernel_mac, 6);
	memcpy(eth->src, c->mac, 6);
	eth->type = htons(USNET_ETHERTYPE_IPV4);
	*ip = (struct usnet_ipv4_hdr){
		.ver_ihl = 0x45,
		.total_len = htons((uint16_t)(sizeof(*ip) + icmp_len)),
		.ttl = 64,
		.proto = USNET_IPPROTO_ICMP,
		.src = htonl(c->local_ip),
		.dst = htonl(c->kernel_ip),
	};
	ip->csum = usnet_ipv4_csum(ip);
	/* RFC 792 echo request */
	*icmp = (struct icmp_echo){.type = 8, .id = htons(0x5553), .seq = htons(seq)};
	for (int i = 0; i < 56; i++)
		((uint8_t *)(icmp + 1))[i] = (uint8_t)(seq + i);
	icmp->csum = usnet_csum_fold(usnet_csum_add(0, icmp, icmp_len));
	if (!usnet_tx_burst(c->port, 0, &p, 1))
		usnet_pkt_free(p);
}

/* Handle one received frame; returns true if it is what we wait for
 * (ARP reply from the kernel, or echo reply seq `want_seq`). */
static bool tap_handle(struct tap_ctx *c, const struct usnet_pkt *p, uint16_t want_seq)
{
	const uint8_t *d = usnet_pkt_data(p);
	const struct usnet_eth_hdr *eth = (const struct usnet_eth_hdr *)d;

	if (p->len < USNET_ETH_HLEN)
		return false;
	if (ntohs(eth->type) == USNET_ETHERTYPE_ARP && p->len >= USNET_ETH_HLEN + 28) {
		const struct arp_eth_ipv4 *arp = (const struct arp_eth_ipv4 *)(eth + 1);

		if (ntohs(arp->oper) == 1 && ntohl(arp->tpa) == c->local_ip) {
			send_arp(c, 2, arp->sha, ntohl(arp->spa));
			c->arp_answered++;
			return false;
		}
		if (ntohs(arp->oper) == 2 && ntohl(arp->spa) == c->kernel_ip &&
		    ntohl(arp->tpa) == c->local_ip && !memcmp(arp->tha, c->mac, 6) &&
		    !memcmp(eth->dst, c->mac, 6) && want_seq == 0) {
			memcpy(c->kernel_mac, arp->sha, 6);
			c->have_kernel_mac = true;
			return true;
		}
		return false;
	}
	if (ntohs(eth->type) == USNET_ETHERTYPE_IPV4 &&
	    p->len >= USNET_ETH_HLEN + 20 + sizeof(struct icmp_echo)) {
		const struct usnet_ipv4_hdr *ip = (const struct usnet_ipv4_hdr *)(eth + 1);
		const struct icmp_echo *icmp = (const struct icmp_echo *)(ip + 1);
		uint16_t tot = ntohs(ip->total_len);

		if (ip->ver_ihl != 0x45 || ip->proto != USNET_IPPROTO_ICMP || icmp->type != 0 ||
		    ntohs(icmp->id) != 0x5553 || ntohs(icmp->seq) != want_seq)
			return false;
		if (tot > p->len - USNET_ETH_HLEN || ip->csum != usnet_ipv4_csum(ip) ||
		    usnet_csum_fold(usnet_csum_add(0, icmp, tot - 20u)) != 0 ||
		    ntohl(ip->src) != c->kernel_ip || ntohl(ip->dst) != c->local_ip ||
		    memcmp(eth->dst, c->mac, 6) || tot != 20 + sizeof(*icmp) + 56) {
			c->bad++;
			return false;
		}
		for (int i = 0; i < 56; i++)
			if (((const uint8_t *)(icmp + 1))[i] != (uint8_t)(want_seq + i)) {
				c->bad++;
				return false;
			}
		c->replies++;
		return true;
	}
	return false;
}

/* Receive until tap_handle() says done, or 3 s pass. */
static bool tap_wait(struct tap_ctx *c, uint16_t want_seq)
{
	uint64_t deadline = usnet_now_ns() + 3 * USNET_NSEC_PER_SEC;
	struct usnet_pkt *pkts[BURST];
	bool done = false;

	while (!done && usnet_now_ns() < deadline) {
		uint16_t n = usnet_rx_burst(c->port, 0, pkts, BURST);

		for (uint16_t i = 0; i < n; i++)
			done |= tap_handle(c, pkts[i], want_seq);
		usnet_pkt_free_bulk(pkts, n);
		if (!n)
			usnet_port_wait(c->port, 0, 50);
	}
	return done;
}

static int cmd_tap(int argc, char **argv)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct tap_ctx c = {0};
	struct usnet_queue_stats st;
	struct usnet_link link;
	const char *cmd = NULL;
	char ifname[sizeof(((struct usnet_port_info *)0)->name)];
	int opt, expect = 0; /* 'g': gone after close, 'k': kept */
	unsigned long rx_errors = 0;

	while ((opt = getopt(argc, argv, "gke:c:")) != -1) {
		switch (opt) {
		case 'g':
		case 'k':
			expect = opt;
			break;
		case 'c':
			cmd = optarg;
			break;
		case 'e':
			rx_errors = strtoul(optarg, NULL, 0);
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 3 || usnet_parse_ipv4(argv[optind + 1], &c.local_ip) ||
	    usnet_parse_ipv4(argv[optind + 2], &c.kernel_ip)) {
		fprintf(stderr, "usage: port_roundtrip tap [-g|-k] [-e N] [-c CMD] SPEC LOCAL_IP "
				"KERNEL_IP\n");
		return 2;
	}
	if (open_port(&c.port, argv[optind], NULL))
		return 1;
	c.mac = usnet_port_info(c.port)->mac;
	snprintf(ifname, sizeof(ifname), "%s", usnet_port_info(c.port)->name);
	print_mac("usnet mac", c.mac);
	CHECK_EQ(usnet_port_link(c.port, &link), 0);
	CHECK(link.up);
	if (cmd) {
		int rc = system(cmd);

		CHECK_EQ(rc, 0);
	}
	send_arp(&c, 1, bcast, c.kernel_ip);
	CHECK(tap_wait(&c, 0));
	if (c.have_kernel_mac) {
		print_mac("kernel mac", c.kernel_mac);
		CHECK(memcmp(c.kernel_mac, c.mac, 6) != 0);
		for (uint16_t seq = 1; seq <= 3; seq++) {
			send_ping(&c, seq);
			CHECK(tap_wait(&c, seq));
		}
	}
	usnet_port_stats(c.port, -1, &st);
	printf("echo replies %u bad %u arp requests answered %u; tx %llu errors %llu; "
	       "rx %llu errors %llu\n",
	       c.replies, c.bad, c.arp_answered, (unsigned long long)st.tx_packets,
	       (unsigned long long)st.tx_errors, (unsigned long long)st.rx_packets,
	       (unsigned long long)st.rx_errors);
	CHECK_EQ(c.replies, 3);
	CHECK_EQ(c.bad, 0);
	CHECK_EQ(st.tx_errors, 0);
	CHECK_EQ(st.rx_errors, rx_errors);
	CHECK(pool_full(usnet_port_pool(c.port, 0)));
	usnet_port_close(c.port);
	if (expect == 'g')
		CHECK_EQ(if_nametoindex(ifname), 0); /* we created it: gone with us */
	if (expect == 'k')
		CHECK(if_nametoindex(ifname) != 0); /* it was there before: kept */
	return check_done("tap") == EXIT_SUCCESS ? 0 : 1;
}

#define GSO_PAYLOAD 40000u
#define GSO_MSS	    1448u
#define GSO_SEGS    ((GSO_PAYLOAD + GSO_MSS - 1) / GSO_MSS)
#define GSO_SEQ	    0x10000000u

/* A virtio-net header (virtio 1.2 5.1.6, little endian) and an
 * Ethernet/IPv4/TCP frame to dst whose checksum is left partial. */
static size_t gso_frame(uint8_t *b, const uint8_t dst[6])
{
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(b + 10 + 14);
	struct usnet_tcp_hdr *tcp = (struct usnet_tcp_hdr *)(ip + 1);
	uint32_t pseudo;
	uint16_t partial;

	memset(b, 0, 10 + 54);
	b[0] = 1;  /* VIRTIO_NET_HDR_F_NEEDS_CSUM */
	b[1] = 1;  /* VIRTIO_NET_HDR_GSO_TCPV4 */
	b[2] = 54; /* hdr_len */
	b[4] = GSO_MSS & 0xff, b[5] = GSO_MSS >> 8;
	b[6] = 34; /* csum_start */
	b[8] = 16; /* csum_offset */
	memcpy(b + 10, dst, 6);
	memcpy(b + 16, "\x02\0\0\0\0\x01\x08\x00", 8);
	ip->ver_ihl = 0x45;
	ip->total_len = htons(40 + GSO_PAYLOAD);
	ip->id = htons(0x1234);
	ip->frag_off = htons(0x4000);
	ip->ttl = 64;
	ip->proto = USNET_IPPROTO_TCP;
	ip->src = htonl(0xc6120001);
	ip->dst = htonl(0xc6120002);
	ip->csum = usnet_ipv4_csum(ip);
	tcp->sport = htons(1000);
	tcp->dport = htons(2000);
	tcp->seq = htonl(GSO_SEQ);
	tcp->ack = htonl(1);
	tcp->off = 5 << 4;
	tcp->flags = 0x18 | 0x01; /* ACK PSH FIN */
	tcp->wnd = htons(1000);
	pseudo = usnet_csum_add(0, &ip->src, 8) + USNET_IPPROTO_TCP + 20 + GSO_PAYLOAD;
	partial = (uint16_t)~usnet_csum_fold(pseudo);
	memcpy(&tcp->csum, &partial, 2);
	for (unsigned i = 0; i < GSO_PAYLOAD; i++)
		b[10 + 54 + i] = (uint8_t)(i * 13);
	return 10 + 54 + GSO_PAYLOAD;
}

static int gso_send(const char *ifname, const uint8_t *b, size_t len)
{
	int fd = socket(AF_PACKET, SOCK_RAW, 0), one = 1;
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_IP),
				  .sll_ifindex = (int)if_nametoindex(ifname)};
	ssize_t n;

	if (fd < 0 || setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) {
		perror("gso: packet socket with PACKET_VNET_HDR");
		return -1;
	}
	n = sendto(fd, b, len, 0, (struct sockaddr *)&sll, sizeof(sll));
	if (n != (ssize_t)len)
		perror("gso: sendto");
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* One segment as the port returned it: everything but its index checked. */
static void gso_check_seg(struct usnet_pkt *p, unsigned *bytes)
{
	uint8_t *f = usnet_pkt_data(p);
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(f + 14);
	struct usnet_tcp_hdr *tcp = (struct usnet_tcp_hdr *)(ip + 1);
	uint32_t off = ntohl(tcp->seq) - GSO_SEQ, plen = p->len - 54u;
	bool last = off + plen == GSO_PAYLOAD;
	unsigned bad = 0;

	CHECK(p->flags & USNET_PKT_F_CSUM_PARTIAL);
	CHECK_EQ(off, *bytes); /* in order, none missing */
	CHECK_EQ(plen, last ? GSO_PAYLOAD - off : GSO_MSS);
	CHECK_EQ(ntohs(ip->total_len), p->len - 14u);
	CHECK_EQ(ntohs(ip->id), 0x1234u + off / GSO_MSS);
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, ip, 20)), 0);
	CHECK_EQ(tcp->flags, last ? 0x19 : 0x10);
	for (uint32_t i = 0; i < plen; i++)
		bad += f[54 + i] != (uint8_t)((off + i) * 13);
	CHECK_EQ(bad, 0);
	usnet_pkt_csum_finish(p);
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(usnet_csum_add(0, &ip->src, 8) + USNET_IPPROTO_TCP +
						    p->len - 34u,
						tcp, p->len - 34u)),
		 0);
	*bytes += plen;
}

static int cmd_gso(int argc, char **argv)
{
	static uint8_t buf[10 + 54 + GSO_PAYLOAD];
	struct usnet_port_conf conf = {0};
	struct usnet_queue_stats st;
	struct usnet_port *port;
	struct usnet_pkt *pkts[8];
	unsigned bytes = 0, segs = 0;
	uint64_t deadline;
	bool fits;

	if (argc != 4) {
		fprintf(stderr, "usage: port_roundtrip gso TXIF RXSPEC POOL\n");
		return 2;
	}
	conf.pool_size = (uint32_t)atoi(argv[3]);
	fits = conf.pool_size >= GSO_SEGS;
	if (open_port(&port, argv[2], &conf))
		return 1;
	if (gso_send(argv[1], buf, gso_frame(buf, usnet_port_info(port)->mac))) {
		usnet_port_close(port);
		return 1;
	}
	deadline = usnet_now_ns() + 5000000000ull;
	do {
		uint16_t n = usnet_rx_burst(port, 0, pkts, 8);

		for (uint16_t i = 0; i < n; i++) {
			gso_check_seg(pkts[i], &bytes);
			usnet_pkt_free(pkts[i]);
		}
		segs += n;
		usnet_port_stats(port, 0, &st);
		if (!n)
			usleep(1000);
	} while ((fits ? bytes < GSO_PAYLOAD : !st.rx_gso_dropped) && usnet_now_ns() < deadline);
	usleep(100000); /* anything more would arrive now */
	segs += usnet_rx_burst(port, 0, pkts, 8);
	usnet_port_stats(port, 0, &st);
	printf("gso: %u segments, %u bytes; rx_gso_frames %llu rx_gso_dropped %llu rx_errors "
	       "%llu\n",
	       segs, bytes, (unsigned long long)st.rx_gso_frames,
	       (unsigned long long)st.rx_gso_dropped, (unsigned long long)st.rx_errors);
	CHECK_EQ(segs, fits ? GSO_SEGS : 0);
	CHECK_EQ(bytes, fits ? GSO_PAYLOAD : 0);
	CHECK_EQ(st.rx_gso_frames, fits ? 1 : 0);
	CHECK_EQ(st.rx_gso_dropped, fits ? 0 : 1);
	CHECK_EQ(st.rx_errors, 0);
	CHECK(pool_full(usnet_port_pool(port, 0)));
	usnet_port_close(port);
	return check_done("gso") == EXIT_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "open"))
		return cmd_open(argv[2], (uint16_t)(argc > 3 ? atoi(argv[3]) : 1),
				argc > 4 && !strcmp(argv[4], "promisc"));
	if (argc >= 2 && !strcmp(argv[1], "wire"))
		return cmd_wire(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "tap"))
		return cmd_tap(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "gso"))
		return cmd_gso(argc - 1, argv + 1);
	fprintf(
	    stderr,
	    "usage: port_roundtrip open SPEC | wire ... | tap ... | gso ... (see the source)\n");
	return 2;
}
