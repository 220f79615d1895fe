/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <string.h>

#include <usnet/proto.h>

#include "echo_proto.h"

/* RFC 791 section 3.1: flags MF and the fragment offset; DF alone is no fragment. */
#define IPV4_MF_OFFSET 0x3fff

static const uint8_t mac_broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

bool echo_ip_unicast(uint32_t ip)
{
	uint8_t first = (uint8_t)(ip >> 24);

	/* RFC 1122 3.2.1.3: 0/8 ("this network"), 127/8 (loopback), 224/4
	 * (multicast, RFC 1112), 240/4 (reserved) and 255.255.255.255 are
	 * never the address of a single remote host. */
	return first != 0 && first != 127 && first < 224;
}

/* IEEE 802-2014 8.2: the I/G bit, the least significant bit of the first octet. */
static bool mac_is_group(const uint8_t *mac)
{
	return mac[0] & 1;
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static enum echo_verdict arp(const struct echo_conf *c, uint8_t *frame, size_t len)
{
	struct usnet_eth_hdr *eth = (struct usnet_eth_hdr *)frame;
	struct usnet_arp_hdr *a = (struct usnet_arp_hdr *)(frame + USNET_ETH_HLEN);
	uint8_t spa[4];

	if (len < USNET_ETH_HLEN + USNET_ARP_LEN)
		return ECHO_MALFORMED;
	/* RFC 826 "Packet Reception": a hardware or protocol type we do not
	 * speak is not ours to answer. Lengths other than 6 and 4 would be a
	 * different packet layout. */
	if (ntohs(a->htype) != USNET_ARP_HTYPE_ETHER || ntohs(a->ptype) != USNET_ETHERTYPE_IPV4)
		return ECHO_IGNORED;
	if (a->hlen != 6 || a->plen != 4)
		return ECHO_MALFORMED;
	if (ntohs(a->op) != USNET_ARP_OP_REQUEST || be32_at(a->tpa) != c->ip)
		return ECHO_IGNORED;
	/* The reply goes to sha: a group address there would make it a
	 * broadcast, and our own MAC means we hear ourselves (a looped hub). */
	if (mac_is_group(a->sha) || !memcmp(a->sha, c->mac, 6))
		return ECHO_IGNORED;
	/* "swap hardware and protocol fields, putting the local hardware and
	 * protocol addresses in the sender fields", opcode to reply, and "send
	 * the packet to the (new) target hardware address". */
	memcpy(spa, a->spa, 4);
	memcpy(a->tha, a->sha, 6);
	memcpy(a->tpa, spa, 4);
	memcpy(a->sha, c->mac, 6);
	a->spa[0] = (uint8_t)(c->ip >> 24);
	a->spa[1] = (uint8_t)(c->ip >> 16);
	a->spa[2] = (uint8_t)(c->ip >> 8);
	a->spa[3] = (uint8_t)c->ip;
	a->op = htons(USNET_ARP_OP_REPLY);
	memcpy(eth->dst, a->tha, 6);
	memcpy(eth->src, c->mac, 6);
	return ECHO_ARP;
}

/* Turn the IPv4 header around for the reply: addresses swapped, a fresh
 * TTL, the header checksum recomputed. The header has no options. */
static void ipv4_reverse(struct usnet_ipv4_hdr *ip, struct usnet_eth_hdr *eth, const uint8_t mac[6])
{
	uint32_t src = ip->src;

	ip->src = ip->dst;
	ip->dst = src;
	ip->ttl = ECHO_TTL;
	ip->csum = usnet_ipv4_csum(ip);
	memcpy(eth->dst, eth->src, 6);
	memcpy(eth->src, mac, 6);
}

static enum echo_verdict icmp(const struct echo_conf *c, struct usnet_eth_hdr *eth,
			      struct usnet_ipv4_hdr *ip, uint8_t *l4, size_t l4_len)
{
	struct usnet_icmp_hdr *h = (struct usnet_icmp_hdr *)l4;

	if (l4_len < USNET_ICMP_HLEN)
		return ECHO_MALFORMED;
	/* RFC 1122 3.2.2: a message with a bad checksum is silently
	 * discarded. The checksum covers the whole ICMP message (RFC 792). */
	if (usnet_csum_fold(usnet_csum_add(0, l4, l4_len)) != 0)
		return ECHO_MALFORMED;
	if (h->type != USNET_ICMP_ECHO_REQUEST)
		return ECHO_IGNORED;
	/* RFC 792 "Echo or Echo Reply Message": the reply has type 0 and the
	 * identifier, sequence number and data of the request. */
	h->type = USNET_ICMP_ECHO_REPLY;
	h->code = 0;
	h->csum = 0;
	h->csum = usnet_csum_fold(usnet_csum_add(0, l4, l4_len));
	ipv4_reverse(ip, eth, c->mac);
	return ECHO_ICMP;
}

static enum echo_verdict udp(const struct echo_conf *c, struct usnet_eth_hdr *eth,
			     struct usnet_ipv4_hdr *ip, uint8_t *l4, size_t l4_len)
{
	struct usnet_udp_hdr *u = (struct usnet_udp_hdr *)l4;
	uint16_t ulen, sport;

	if (l4_len < sizeof(*u))
		return ECHO_MALFORMED;
	ulen = ntohs(u->len);
	/* RFC 768: the length covers header and data and fits the datagram. */
	if (ulen < sizeof(*u) || ulen > l4_len)
		return ECHO_MALFORMED;
	/* A zero checksum means the sender computed none (RFC 768). */
	if (u->csum && usnet_udp4_csum(ip, u, ulen) != u->csum)
		return ECHO_MALFORMED;
	if (!c->udp || ntohs(u->dport) != ECHO_UDP_PORT)
		return ECHO_IGNORED;
	sport = ntohs(u->sport);
	/* Port 0 cannot be answered; from port 7 it is another echo server's
	 * reply, and answering it would start an endless exchange. */
	if (sport == 0 || sport == ECHO_UDP_PORT)
		return ECHO_IGNORED;
	/* RFC 862: "send back the data as it was received". */
	u->dport = u->sport;
	u->sport = htons(ECHO_UDP_PORT);
	ipv4_reverse(ip, eth, c->mac);
	u->csum = usnet_udp4_csum(ip, u, ulen);
	return ECHO_UDP;
}

static enum echo_verdict ipv4(const struct echo_conf *c, uint8_t *frame, size_t len)
{
	struct usnet_eth_hdr *eth = (struct usnet_eth_hdr *)frame;
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(frame + USNET_ETH_HLEN);
	size_t avail = len - USNET_ETH_HLEN, hlen, total;

	/* RFC 791 3.1 / RFC 1122 3.2.1.1-3.2.1.2: version 4, a header of at
	 * least 5 words inside the datagram, the datagram inside the frame
	 * (anything after it is Ethernet padding), a valid header checksum. */
	if (avail < sizeof(*ip))
		return ECHO_MALFORMED;
	hlen = (size_t)(ip->ver_ihl & 0xf) * 4;
	total = ntohs(ip->total_len);
	if (ip->ver_ihl >> 4 != 4 || hlen < sizeof(*ip) || total < hlen || total > avail)
		return ECHO_MALFORMED;
	if (usnet_csum_fold(usnet_csum_add(0, ip, hlen)) != 0)
		return ECHO_MALFORMED;
	if (ntohl(ip->dst) != c->ip)
		return ECHO_IGNORED;
	/* No reassembly: a fragment is not answered. */
	if (ntohs(ip->frag_off) & IPV4_MF_OFFSET)
		return ECHO_IGNORED;
	/* RFC 1122 3.2.2.6 wants Record Route and Timestamp options updated
	 * and a Source Route reversed in the echo reply; this responder does
	 * not implement options, so it does not answer datagrams with them. */
	if (hlen != sizeof(*ip))
		return ECHO_IGNORED;
	/* RFC 1122 3.2.1.3: discard a datagram whose source is not a single host. */
	if (!echo_ip_unicast(ntohl(ip->src)))
		return ECHO_IGNORED;
	switch (ip->proto) {
	case USNET_IPPROTO_ICMP:
		return icmp(c, eth, ip, frame + USNET_ETH_HLEN + hlen, total - hlen);
	case USNET_IPPROTO_UDP:
		return udp(c, eth, ip, frame + USNET_ETH_HLEN + hlen, total - hlen);
	default:
		return ECHO_IGNORED;
	}
}

enum echo_verdict echo_frame(const struct echo_conf *c, uint8_t *frame, size_t len)
{
	const struct usnet_eth_hdr *eth = (const struct usnet_eth_hdr *)frame;
	bool to_us;

	if (len < USNET_ETH_HLEN)
		return ECHO_MALFORMED;
	to_us = !memcmp(eth->dst, c->mac, 6);
	/* Replies go back to the source: never to a group address, and never
	 * to ourselves (our own frame looped back by a hub). */
	if (mac_is_group(eth->src) || !memcmp(eth->src, c->mac, 6))
		return ECHO_IGNORED;
	switch (ntohs(eth->type)) {
	case USNET_ETHERTYPE_ARP:
		/* Requests are broadcast; RFC 1122 2.3.2.1 also has unicast ones. */
		if (!to_us && memcmp(eth->dst, mac_broadcast, 6))
			return ECHO_IGNORED;
		return arp(c, frame, len);
	case USNET_ETHERTYPE_IPV4:
		/* A promiscuous port also sees unicast frames for other hosts. */
		if (!to_us)
			return ECHO_IGNORED;
		return ipv4(c, frame, len);
	default:
		return ECHO_IGNORED;
	}
}
