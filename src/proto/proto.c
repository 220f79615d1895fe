/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <usnet/pkt.h>
#include <usnet/proto.h>

#include "frame_ip.h"

/* s + x, the carry out added to *c (an add and an add-with-carry). */
static inline uint64_t csum_add64(uint64_t s, const uint8_t *p, uint64_t *c)
{
	uint64_t x;

	memcpy(&x, p, 8);
	*c += __builtin_add_overflow(s, x, &s);
	return s;
}

/* The 64-bit words' sum s with its c carries added back (end-around
 * carry, RFC 1071 2(C)), folded to at most 32 bits. */
static uint64_t csum_fold64(uint64_t s, uint64_t c)
{
	uint64_t t = s + c;

	t += t < s; /* at most once: t < s means t <= UINT64_MAX - 1 */
	t = (t & 0xffffffff) + (t >> 32);
	return (t & 0xffffffff) + (t >> 32);
}

uint32_t usnet_csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t s = 0, c = 0, acc;
	uint32_t w;

	/* RFC 1071 2(B): the one's-complement sum does not depend on byte
	 * order, and 2(C): any word size with end-around carry gives the same
	 * sum once folded. So add the data as native 64-bit words, count the
	 * carries apart and add them back at the end, and swap the folded
	 * result once into the big-endian value callers mix with host-order
	 * numbers (bench/README.md, "TCP — instructions per segment"). */
	for (; len >= 32; p += 32, len -= 32) {
		s = csum_add64(s, p, &c);
		s = csum_add64(s, p + 8, &c);
		s = csum_add64(s, p + 16, &c);
		s = csum_add64(s, p + 24, &c);
	}
	for (; len >= 8; p += 8, len -= 8)
		s = csum_add64(s, p, &c);
	acc = csum_fold64(s, c);
	if (len >= 4) {
		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;

		memcpy(&h, p, 2);
		acc += h;
		p += 2;
		len -= 2;
	}
	if (len) {
		/* The odd byte is the high half of a big-endian word. */
		uint16_t h = 0;

		memcpy(&h, (const uint8_t[2]){p[0], 0}, 2);
		acc += h;
	}
	while (acc >> 16)
		acc = (acc & 0xffff) + (acc >> 16);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	acc = ((acc & 0xff) << 8) | (acc >> 8);
#endif
	acc += sum;
	while (acc >> 32)
		acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return (uint32_t)acc;
}

uint16_t usnet_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

uint16_t usnet_ipv4_csum(const struct usnet_ipv4_hdr *ip)
{
	size_t hlen = (size_t)(ip->ver_ihl & 0xf) * 4;
	uint32_t sum = usnet_csum_add(0, ip, 10); /* up to the checksum field */

	return usnet_csum_fold(usnet_csum_add(sum, (const uint8_t *)ip + 12, hlen - 12));
}

uint16_t usnet_udp4_csum(const struct usnet_ipv4_hdr *ip, const struct usnet_udp_hdr *udp,
			 uint16_t udp_len)
{
	/* RFC 768: pseudo-header of source, destination, zero, protocol, length. */
	uint32_t sum = usnet_csum_add(0, &ip->src, 8);
	uint16_t csum;

	sum += USNET_IPPROTO_UDP + udp_len;
	sum = usnet_csum_add(sum, udp, 6);
	sum = usnet_csum_add(sum, (const uint8_t *)udp + 8, (size_t)udp_len - 8);
	csum = usnet_csum_fold(sum);
	return csum ? csum : 0xffff; /* 0 means "no checksum" */
}

/* Sum, complement and store the L4 checksum at l4 + off over l4[0..l4len)
 * and a pseudo-header sum already taken. */
static void l4_csum_store(uint8_t *l4, size_t l4len, size_t off, uint32_t pseudo, bool udp)
{
	uint16_t c;

	memset(l4 + off, 0, 2);
	c = usnet_csum_fold(usnet_csum_add(pseudo, l4, l4len));
	if (udp && !c)
		c = 0xffff; /* RFC 768: 0 means none */
	memcpy(l4 + off, &c, 2);
}

/* Where the checksum field sits for an L4 protocol, and the least length. */
static int l4_csum_off(uint8_t proto, size_t l4len, size_t *off)
{
	if (proto != USNET_IPPROTO_TCP && proto != USNET_IPPROTO_UDP)
		return -EPROTO;
	*off = proto == USNET_IPPROTO_TCP ? 16 : 6; /* RFC 9293 3.1, RFC 768 */
	return l4len < (proto == USNET_IPPROTO_TCP ? 20u : 8u) ? -EBADMSG : 0;
}

int usnet_frame_ip_parse(const uint8_t *frame, size_t len, struct usnet_frame_ip *fi)
{
	size_t l3 = USNET_ETH_HLEN;
	uint16_t type;

	if (len < USNET_ETH_HLEN)
		return -EBADMSG;
	type = (uint16_t)(frame[12] << 8 | frame[13]);
	if (type == 0x8100) { /* IEEE 802.1Q */
		if (len < USNET_ETH_HLEN + 4)
			return -EBADMSG;
		type = (uint16_t)(frame[16] << 8 | frame[17]);
		l3 += 4;
	}
	fi->l3 = (uint16_t)l3;
	if (type == USNET_ETHERTYPE_IPV4) {
		const uint8_t *ip = frame + l3;
		size_t ihl, total;

		if (len < l3 + 20 || (ip[0] >> 4) != 4)
			return -EBADMSG;
		ihl = (size_t)(ip[0] & 0xf) * 4;
		total = (size_t)(ip[2] << 8 | ip[3]);
		if (ihl < 20 || total < ihl || len < l3 + total)
			return -EBADMSG;
		if ((ip[6] & 0x3f) || ip[7]) /* MF or an offset: a fragment */
			return -EPROTO;
		fi->ipv = 4;
		fi->l4proto = ip[9];
		fi->l4 = (uint16_t)(l3 + ihl);
		fi->end = (uint32_t)(l3 + total);
		return 0;
	}
	if (type == 0x86dd) { /* IPv6, RFC 8200 3 */
		const uint8_t *ip = frame + l3;
		size_t plen;

		if (len < l3 + 40 || (ip[0] >> 4) != 6)
			return -EBADMSG;
		plen = (size_t)(ip[4] << 8 | ip[5]);
		if (len < l3 + 40 + plen)
			return -EBADMSG;
		fi->ipv = 6;
		fi->l4proto = ip[6];
		fi->l4 = (uint16_t)(l3 + 40);
		fi->end = (uint32_t)(l3 + 40 + plen);
		return 0;
	}
	return -EPROTO;
}

uint32_t usnet_ip_pseudo_sum(const uint8_t *ip, uint8_t ipv, uint8_t proto, uint32_t l4len)
{
	/* IPv4: source, destination, zero, protocol, length; IPv6: source,
	 * destination, 32-bit length, three zero bytes, next header. */
	uint32_t sum = ipv == 4 ? usnet_csum_add(0, ip + 12, 8) : usnet_csum_add(0, ip + 8, 32);

	return sum + proto + l4len;
}

int usnet_frame_csum_finish(uint8_t *frame, size_t len)
{
	struct usnet_frame_ip fi;
	size_t off, l4len;
	int err = usnet_frame_ip_parse(frame, len, &fi);

	if (err)
		return err;
	l4len = fi.end - fi.l4;
	err = l4_csum_off(fi.l4proto, l4len, &off);
	if (err)
		return err;
	l4_csum_store(frame + fi.l4, l4len, off,
		      usnet_ip_pseudo_sum(frame + fi.l3, fi.ipv, fi.l4proto, (uint32_t)l4len),
		      fi.l4proto == USNET_IPPROTO_UDP);
	return 0;
}

void usnet_pkt_csum_finish_slow(struct usnet_pkt *p)
{
	/* A frame it cannot finish (not TCP/UDP over IPv4/IPv6) goes as it is:
	 * the flag is only ever set on frames whose L4 checksum is partial. */
	(void)usnet_frame_csum_finish(usnet_pkt_data(p), p->len);
	p->flags &= ~USNET_PKT_F_CSUM_PARTIAL;
}

int usnet_udp4_build(uint8_t *buf, size_t room, const struct usnet_udp4_flow *flow,
		     uint16_t frame_len, const void *payload, size_t plen)
{
	struct usnet_eth_hdr *eth = (struct usnet_eth_hdr *)buf;
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(buf + USNET_ETH_HLEN);
	struct usnet_udp_hdr *udp = (struct usnet_udp_hdr *)(ip + 1);
	size_t room_for_payload = (size_t)frame_len - USNET_UDP4_HLEN;

	if (frame_len < USNET_ETH_MIN_FRAME || frame_len > USNET_ETH_MAX_FRAME || frame_len > room)
		return -EINVAL;
	memcpy(eth->dst, flow->dst_mac, 6);
	memcpy(eth->src, flow->src_mac, 6);
	eth->type = htons(USNET_ETHERTYPE_IPV4);
	ip->ver_ihl = 0x45;
	ip->tos = 0;
	ip->total_len = htons((uint16_t)(frame_len - USNET_ETH_HLEN));
	ip->id = 0;
	ip->frag_off = htons(0x4000); /* DF */
	ip->ttl = flow->ttl ? flow->ttl : 64;
	ip->proto = USNET_IPPROTO_UDP;
	ip->src = htonl(flow->src_ip);
	ip->dst = htonl(flow->dst_ip);
	ip->csum = usnet_ipv4_csum(ip);
	udp->sport = htons(flow->sport);
	udp->dport = htons(flow->dport);
	udp->len = htons((uint16_t)(frame_len - USNET_ETH_HLEN - 20));
	if (plen > room_for_payload)
		plen = room_for_payload;
	if (plen)
		memcpy(udp + 1, payload, plen);
	memset((uint8_t *)(udp + 1) + plen, 0, room_for_payload - plen);
	udp->csum = usnet_udp4_csum(ip, udp, ntohs(udp->len));
	return frame_len;
}

int usnet_udp4_parse(const uint8_t *frame, size_t len, struct usnet_udp4_view *v)
{
	const struct usnet_ipv4_hdr *ip;
	const struct usnet_udp_hdr *udp;
	size_t ihl, ip_len, udp_len;

	memset(v, 0, sizeof(*v));
	if (len < USNET_ETH_HLEN + 20)
		return -EBADMSG;
	v->eth = (const struct usnet_eth_hdr *)frame;
	if (v->eth->type != htons(USNET_ETHERTYPE_IPV4))
		return -EPROTO;
	ip = (const struct usnet_ipv4_hdr *)(frame + USNET_ETH_HLEN);
	ihl = (size_t)(ip->ver_ihl & 0xf) * 4;
	ip_len = ntohs(ip->total_len);
	if ((ip->ver_ihl >> 4) != 4 || ihl < 20 || ip_len < ihl || USNET_ETH_HLEN + ip_len > len)
		return -EBADMSG;
	if (ip->proto != USNET_IPPROTO_UDP || (ntohs(ip->frag_off) & 0x3fff))
		return -EPROTO;
	if (ip_len < ihl + 8)
		return -EBADMSG;
	udp = (const struct usnet_udp_hdr *)((const uint8_t *)ip + ihl);
	udp_len = ntohs(udp->len);
	if (udp_len < 8 || udp_len > ip_len - ihl)
		return -EBADMSG;
	v->ip = ip;
	v->udp = udp;
	v->payload = (const uint8_t *)(udp + 1);
	v->payload_len = (uint16_t)(udp_len - 8);
	v->ip_csum_ok = usnet_csum_fold(usnet_csum_add(0, ip, ihl)) == 0;
	if (udp->csum == 0) {
		v->udp_csum_ok = true;
	} else {
		uint32_t sum = usnet_csum_add(0, &ip->src, 8);

		sum += USNET_IPPROTO_UDP + (uint32_t)udp_len;
		v->udp_csum_ok = usnet_csum_fold(usnet_csum_add(sum, udp, udp_len)) == 0;
	}
	return 0;
}

int usnet_parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &end) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

int usnet_parse_ipv4(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	return 0;
}
