/* SPDX-License-Identifier: MIT */
/*
 * Ethernet, IPv4 and UDP headers, the Internet checksum, and a builder and
 * a parser for Ethernet/IPv4/UDP frames. Header fields are in network byte
 * order; function arguments and results are in host order unless named _be.
 */
#ifndef USNET_PROTO_H
#define USNET_PROTO_H

#include <assert.h> /* static_assert, in C11 and C++ */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USNET_ETH_HLEN 14
#define USNET_ETH_MIN_FRAME 60	  /* without FCS (IEEE 802.3 clause 3.2.8) */
#define USNET_ETH_MAX_FRAME 1514 /* without FCS, 1500-byte MTU */
#define USNET_ETHERTYPE_IPV4 0x0800
#define USNET_ETHERTYPE_ARP 0x0806
#define USNET_IPPROTO_ICMP 1
#define USNET_IPPROTO_UDP 17
#define USNET_IPPROTO_TCP 6

struct usnet_eth_hdr {
	uint8_t dst[6];
	uint8_t src[6];
	uint16_t type;
} __attribute__((packed));
static_assert(sizeof(struct usnet_eth_hdr) == 14, "Ethernet header");

/* RFC 791 section 3.1 */
struct usnet_ipv4_hdr {
	uint8_t ver_ihl; /* version 4, header length in 32-bit words */
	uint8_t tos;
	uint16_t total_len;
	uint16_t id;
	uint16_t frag_off; /* flags and fragment offset */
	uint8_t ttl;
	uint8_t proto;
	uint16_t csum;
	uint32_t src;
	uint32_t dst;
} __attribute__((packed));
static_assert(sizeof(struct usnet_ipv4_hdr) == 20, "IPv4 header");

/* RFC 768 */
struct usnet_udp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint16_t len;
	uint16_t csum;
} __attribute__((packed));
static_assert(sizeof(struct usnet_udp_hdr) == 8, "UDP header");

/* RFC 9293 3.1; off_flags: data offset (4 bits, in 32-bit words), 4
 * reserved bits, then the flags byte (CWR ECE URG ACK PSH RST SYN FIN). */
struct usnet_tcp_hdr {
	uint16_t sport;
	uint16_t dport;
	uint32_t seq;
	uint32_t ack;
	uint8_t off;   /* data offset << 4 */
	uint8_t flags;
	uint16_t wnd;
	uint16_t csum;
	uint16_t urg;
} __attribute__((packed));
static_assert(sizeof(struct usnet_tcp_hdr) == 20, "TCP header");

#define USNET_UDP4_HLEN (USNET_ETH_HLEN + 20 + 8) /* 42 */

/* RFC 1071: one's-complement sum of 16-bit words, not yet folded. */
uint32_t usnet_csum_add(uint32_t sum, const void *data, size_t len);
/* Fold and complement: the value to store in a checksum field. */
uint16_t usnet_csum_fold(uint32_t sum);
/* Checksum field value for an IPv4 header (its csum field is ignored). */
uint16_t usnet_ipv4_csum(const struct usnet_ipv4_hdr *ip);
/* Checksum field value for a UDP datagram of udp_len bytes (header +
 * payload, csum field ignored) under IPv4 pseudo-header; never 0 (RFC 768). */
uint16_t usnet_udp4_csum(const struct usnet_ipv4_hdr *ip, const struct usnet_udp_hdr *udp,
			 uint16_t udp_len);

struct usnet_udp4_flow {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	uint32_t src_ip; /* host order */
	uint32_t dst_ip;
	uint16_t sport;
	uint16_t dport;
	uint8_t ttl;	 /* 0: 64 */
};

/*
 * Write an Ethernet/IPv4/UDP frame of exactly frame_len bytes (60..room,
 * at most 1514) into buf: headers from flow, payload copied from payload
 * (plen bytes, truncated to fit) and zero after that, valid IPv4 and UDP
 * checksums. Returns frame_len, or -EINVAL if it does not fit.
 */
int usnet_udp4_build(uint8_t *buf, size_t room, const struct usnet_udp4_flow *flow,
		     uint16_t frame_len, const void *payload, size_t plen);

struct usnet_udp4_view {
	const struct usnet_eth_hdr *eth;
	const struct usnet_ipv4_hdr *ip;
	const struct usnet_udp_hdr *udp;
	const uint8_t *payload;
	uint16_t payload_len;
	bool ip_csum_ok;
	bool udp_csum_ok; /* true also when the sender left it 0 (none) */
};

/*
 * Parse an Ethernet/IPv4/UDP frame; lengths are checked against len before
 * anything is read. 0, or -EPROTO (not IPv4/UDP, fragment) or -EBADMSG
 * (truncated or inconsistent lengths). Checksums are checked, not required.
 */
int usnet_udp4_parse(const uint8_t *frame, size_t len, struct usnet_udp4_view *v);

/* "aa:bb:cc:dd:ee:ff" → mac; "198.18.0.1" → host order. 0 or -EINVAL. */
int usnet_parse_mac(const char *s, uint8_t mac[6]);
int usnet_parse_ipv4(const char *s, uint32_t *ip);

#ifdef __cplusplus
}
#endif
#endif
