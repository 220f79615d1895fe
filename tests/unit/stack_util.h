/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the stack's unit tests: a stack on one end of a pair: port
 * with an injectable clock, and the test on the other end as the "peer"
 * crafting frames byte by byte and reading what the stack sends.
 */
#ifndef USNET_TEST_STACK_UTIL_H
#define USNET_TEST_STACK_UTIL_H

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/stack.h>

#include "check.h"

#define MS 1000000ull

static uint64_t fake_now = 1000 * MS;

static inline uint64_t fake_clock(void *ctx)
{
	(void)ctx;
	return fake_now;
}

/* 198.18.0.0/15 (RFC 2544) only. */
#define IP_US	0xc6120001u /* 198.18.0.1, the stack */
#define IP_PEER 0xc6120002u /* 198.18.0.2, the test */
#define IP_GW	0xc61200feu /* 198.18.0.254 */
#define IP_FAR	0xc6130005u /* 198.19.0.5, off-link */

static const uint8_t MAC_US[6] = {0x02, 0, 0, 0, 0, 1};
static const uint8_t MAC_PEER[6] = {0x02, 0, 0, 0, 0, 2};
static const uint8_t MAC_BCAST[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

struct harness {
	struct usnet_port *port, *peer;
	struct usnet_stack *st;
	char name[32];
};

static inline int harness_open(struct harness *h, const char *name, struct usnet_stack_conf *conf)
{
	struct usnet_stack_conf c = {0};
	struct usnet_iface_conf ic = {0};
	char spec[64];
	int idx;

	if (conf)
		c = *conf;
	if (!c.clock)
		c.clock = fake_clock;
	snprintf(h->name, sizeof(h->name), "%s", name);
	snprintf(spec, sizeof(spec), "pair:%s", name);
	if (usnet_port_open(&h->port, spec, NULL) || usnet_port_open(&h->peer, spec, NULL))
		return -1;
	if (usnet_stack_create(&h->st, &c))
		return -1;
	ic.port = h->port;
	ic.addr = IP_US;
	ic.prefix_len = 24;
	ic.gateway = IP_GW;
	memcpy(ic.mac, MAC_US, 6);
	ic.no_garp = true;
	idx = usnet_stack_add_iface(h->st, &ic);
	return idx == 0 ? 0 : -1;
}

static inline void harness_close(struct harness *h)
{
	struct usnet_pkt *p[32];
	uint16_t n;

	usnet_stack_destroy(h->st);
	while ((n = usnet_rx_burst(h->peer, 0, p, 32)))
		usnet_pkt_free_bulk(p, n);
	usnet_port_close(h->peer);
	usnet_port_close(h->port);
}

/* The peer sends len bytes as one frame (padded to 60); the stack has not
 * polled yet: frames queued so alike arrive in one receive burst. */
static inline void peer_queue(struct harness *h, const void *frame, size_t len)
{
	struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(h->peer, 0));

	if (!p) {
		CHECK(!"peer pool empty");
		return;
	}
	memcpy(usnet_pkt_data(p), frame, len);
	p->len = (uint16_t)len;
	if (len < 60) {
		memset(usnet_pkt_data(p) + len, 0, 60 - len);
		p->len = 60;
	}
	if (usnet_tx_burst(h->peer, 0, &p, 1) != 1) {
		usnet_pkt_free(p);
		CHECK(!"peer tx refused");
	}
}

/* The peer sends len bytes as one frame (padded to 60) and the stack polls. */
static inline void inject(struct harness *h, const void *frame, size_t len)
{
	peer_queue(h, frame, len);
	usnet_stack_poll(h->st);
}

/* Inject with an exact length (no padding): for truncated frames. */
static inline void inject_raw(struct harness *h, const void *frame, size_t len)
{
	struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(h->peer, 0));

	memcpy(usnet_pkt_data(p), frame, len);
	p->len = (uint16_t)len;
	if (usnet_tx_burst(h->peer, 0, &p, 1) != 1)
		usnet_pkt_free(p);
	usnet_stack_poll(h->st);
}

/* The next frame the stack sent, copied into buf; its length, 0 if none. */
static inline size_t peer_recv(struct harness *h, uint8_t *buf, size_t room)
{
	struct usnet_pkt *p;
	size_t len;

	if (usnet_rx_burst(h->peer, 0, &p, 1) != 1)
		return 0;
	len = p->len < room ? p->len : room;
	memcpy(buf, usnet_pkt_data(p), len);
	usnet_pkt_free(p);
	return len;
}

/* Drain what the stack sent; returns how many frames. */
static inline unsigned peer_drain(struct harness *h)
{
	uint8_t buf[2048];
	unsigned n = 0;

	while (peer_recv(h, buf, sizeof(buf)))
		n++;
	return n;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	v = htonl(v);
	memcpy(p, &v, 4);
}

static inline uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* An ARP packet (Ethernet header included, 42 bytes). */
static inline size_t make_arp(uint8_t *f, const uint8_t *eth_dst, const uint8_t *sha, uint16_t op,
			      uint32_t spa, const uint8_t *tha, uint32_t tpa)
{
	memcpy(f, eth_dst, 6);
	memcpy(f + 6, sha, 6);
	f[12] = 0x08, f[13] = 0x06;
	f[14] = 0, f[15] = 1;	    /* Ethernet */
	f[16] = 0x08, f[17] = 0x00; /* IPv4 */
	f[18] = 6, f[19] = 4;
	f[20] = 0, f[21] = (uint8_t)op;
	memcpy(f + 22, sha, 6);
	put32(f + 28, spa);
	memcpy(f + 32, tha, 6);
	put32(f + 38, tpa);
	return 42;
}

/* Ethernet + IPv4 (options optlen bytes, zero-filled NOPs) + payload.
 * frag: the flags/offset field. Returns the frame length. */
static inline size_t make_ip(uint8_t *f, const uint8_t *src_mac, const uint8_t *dst_mac,
			     uint32_t src, uint32_t dst, uint8_t proto, uint16_t id, uint16_t frag,
			     const uint8_t *opt, size_t optlen, const void *payload, size_t plen)
{
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(f + 14);
	size_t hlen = 20 + optlen;

	memcpy(f, dst_mac, 6);
	memcpy(f + 6, src_mac, 6);
	f[12] = 0x08, f[13] = 0x00;
	ip->ver_ihl = (uint8_t)(0x40 | (hlen / 4));
	ip->tos = 0;
	ip->total_len = htons((uint16_t)(hlen + plen));
	ip->id = htons(id);
	ip->frag_off = htons(frag);
	ip->ttl = 64;
	ip->proto = proto;
	ip->src = htonl(src);
	ip->dst = htonl(dst);
	if (optlen)
		memcpy(ip + 1, opt, optlen);
	memcpy(f + 14 + hlen, payload, plen);
	ip->csum = 0;
	ip->csum = usnet_ipv4_csum(ip);
	return 14 + hlen + plen;
}

/* A UDP datagram (header + data) with a valid checksum into out; returns its length. */
static inline size_t make_udp(uint8_t *out, uint32_t src, uint32_t dst, uint16_t sport,
			      uint16_t dport, const void *data, size_t len)
{
	struct usnet_ipv4_hdr ip = {0};
	struct usnet_udp_hdr *u = (struct usnet_udp_hdr *)out;

	u->sport = htons(sport);
	u->dport = htons(dport);
	u->len = htons((uint16_t)(8 + len));
	u->csum = 0;
	memcpy(out + 8, data, len);
	ip.src = htonl(src);
	ip.dst = htonl(dst);
	u->csum = usnet_udp4_csum(&ip, u, (uint16_t)(8 + len));
	return 8 + len;
}

/* Answer the ARP request the stack just sent for ip (if any), as MAC_PEER. */
static inline void answer_arp(struct harness *h, uint32_t ip)
{
	uint8_t f[64];
	size_t n = make_arp(f, MAC_US, MAC_PEER, 2, ip, MAC_US, IP_US);

	inject(h, f, n);
}

static inline struct usnet_stack_counters counters(struct harness *h)
{
	struct usnet_stack_counters c;

	usnet_stack_counters(h->st, &c);
	return c;
}

#endif
