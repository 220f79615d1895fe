/* SPDX-License-Identifier: MIT */
/*
 * usnetd's L2 switch, the part that runs for every frame: the MAC table
 * lookup and the forwarding verdicts (switch.c has the rest and the rules).
 * Inline, because usnetd's poll loop calls them once per frame.
 */
#ifndef USNETD_SWITCH_H
#define USNETD_SWITCH_H

#include <stdbool.h>
#include <stdint.h>

#include <usnet/proto.h>

/* A stable locally administered unicast MAC for interface id. */
void usnetd_mac_derive(const uint8_t prefix[2], uint32_t id, uint8_t mac[6]);
int usnetd_mac_format(char *buf, unsigned len, const uint8_t mac[6]);

#define USNETD_MAC_SLOTS 1024 /* power of two, > 2 * USNETD_MAX_IFACES */

/* A MAC as an integer (its 6 bytes in memory order, zero-extended): one compare. */
static inline uint64_t usnetd_mac_key(const uint8_t *mac)
{
	uint32_t lo;
	uint16_t hi;

	__builtin_memcpy(&lo, mac, 4);
	__builtin_memcpy(&hi, mac + 4, 2);
	return (uint64_t)lo | (uint64_t)hi << 32;
}

/* MAC -> interface index, open addressing; filled once at start. */
struct usnetd_mactab {
	struct {
		uint64_t key; /* usnetd_mac_key() */
		int64_t idx;  /* -1: empty */
	} slot[USNETD_MAC_SLOTS];
};

void usnetd_mactab_init(struct usnetd_mactab *t);
/* 0, -EEXIST (that MAC is taken), -ENOSPC. */
int usnetd_mactab_add(struct usnetd_mactab *t, const uint8_t mac[6], int idx);
/* The interface index owning mac, or -1. */
int usnetd_mactab_find(const struct usnetd_mactab *t, const uint8_t mac[6]);

/* Where a frame goes (usnetd_switch_from_*()). */
enum usnetd_verdict {
	USNETD_TO_IFACE,     /* unicast to one client interface (*dst) */
	USNETD_TO_UPLINK,    /* unicast to the segment's uplink */
	USNETD_FLOOD,	     /* broadcast/multicast: every client of the segment and the uplink */
	USNETD_DROP_RUNT,    /* shorter than an Ethernet header */
	USNETD_DROP_SRC_MAC, /* a client sent from a MAC not its own */
	USNETD_DROP_NOWHERE, /* unicast to no client, and no uplink to send it to */
	USNETD_DROP_FILTERED /* from the uplink: not for a client, or looped back */
};

/* Who a segment member is, for the verdict functions. */
struct usnetd_sw_port {
	uint64_t mac; /* the interface's MAC, usnetd_mac_key() */
	int segment;  /* uplink index, -1 for none */
	bool any_src_mac;
};

static inline unsigned usnetd_mac_hash(uint64_t key)
{
	/* Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): the top bits of the
	 * product are the best mixed. */
	return (unsigned)((key * 0x9e3779b97f4a7c15ull) >> 54) & (USNETD_MAC_SLOTS - 1);
}

static inline int usnetd_mactab_find_key(const struct usnetd_mactab *t, uint64_t key)
{
	unsigned h = usnetd_mac_hash(key);

	/* Linear probing; the table is at most a quarter full, so runs are short. */
	for (unsigned n = 0; n < USNETD_MAC_SLOTS; n++, h = (h + 1) & (USNETD_MAC_SLOTS - 1)) {
		if (t->slot[h].idx < 0)
			return -1;
		if (t->slot[h].key == key)
			return (int)t->slot[h].idx;
	}
	return -1;
}

/*
 * A frame from client interface `src` (ports[src]). *dst: the interface
 * for USNETD_TO_IFACE. Frames to a client of another segment leave
 * through this segment's uplink, like any other unicast.
 */
static inline enum usnetd_verdict usnetd_switch_from_iface(const struct usnetd_mactab *t,
							   const struct usnetd_sw_port *ports,
							   int src, const uint8_t *frame,
							   uint32_t len, int *dst)
{
	const struct usnetd_sw_port *p = &ports[src];
	int j;

	if (len < USNET_ETH_HLEN)
		return USNETD_DROP_RUNT;
	if (!p->any_src_mac && usnetd_mac_key(frame + 6) != p->mac)
		return USNETD_DROP_SRC_MAC;
	if (frame[0] & 1) /* I/G bit: broadcast or multicast */
		return USNETD_FLOOD;
	j = usnetd_mactab_find_key(t, usnetd_mac_key(frame));
	if (j >= 0 && ports[j].segment == p->segment) {
		if (j == src)
			return USNETD_DROP_FILTERED; /* to itself: a switch does not hairpin */
		*dst = j;
		return USNETD_TO_IFACE;
	}
	return p->segment >= 0 ? USNETD_TO_UPLINK : USNETD_DROP_NOWHERE;
}

/* A frame from the uplink of segment `seg`. */
static inline enum usnetd_verdict usnetd_switch_from_uplink(const struct usnetd_mactab *t,
							    const struct usnetd_sw_port *ports,
							    int seg, const uint8_t *frame,
							    uint32_t len, int *dst)
{
	int j;

	if (len < USNET_ETH_HLEN)
		return USNETD_DROP_RUNT;
	/* A frame from outside claiming one of our clients' MACs is a loop or a spoof. */
	j = usnetd_mactab_find_key(t, usnetd_mac_key(frame + 6));
	if (j >= 0 && ports[j].segment == seg)
		return USNETD_DROP_FILTERED;
	if (frame[0] & 1)
		return USNETD_FLOOD;
	j = usnetd_mactab_find_key(t, usnetd_mac_key(frame));
	if (j >= 0 && ports[j].segment == seg) {
		*dst = j;
		return USNETD_TO_IFACE;
	}
	return USNETD_DROP_FILTERED;
}

/*
 * A one-entry memory of the last destination a client sent to: frames of a
 * burst mostly go to the same place, and the verdict for a destination MAC
 * never changes (the table and the segments are fixed at start). Verdicts
 * that depend on the source or the length are never remembered.
 */
struct usnetd_sw_cache {
	uint64_t dst; /* MAC key; USNETD_SW_CACHE_NONE: empty (keys are < 2^48) */
	int j;
	enum usnetd_verdict v;
};

#define USNETD_SW_CACHE_NONE UINT64_MAX

static inline enum usnetd_verdict
usnetd_switch_from_iface_cached(const struct usnetd_mactab *t, const struct usnetd_sw_port *ports,
				int src, const uint8_t *frame, uint32_t len, int *dst,
				struct usnetd_sw_cache *cache)
{
	enum usnetd_verdict v;

	if (len >= USNET_ETH_HLEN && usnetd_mac_key(frame) == cache->dst &&
	    (ports[src].any_src_mac || usnetd_mac_key(frame + 6) == ports[src].mac)) {
		*dst = cache->j;
		return cache->v;
	}
	v = usnetd_switch_from_iface(t, ports, src, frame, len, dst);
	if (v != USNETD_DROP_RUNT && v != USNETD_DROP_SRC_MAC) {
		cache->dst = usnetd_mac_key(frame);
		cache->j = *dst;
		cache->v = v;
	}
	return v;
}

/* A hash of the frame's flow (IPv4 addresses and ports, else MACs) to spread queues. */
uint32_t usnetd_flow_hash(const uint8_t *frame, uint32_t len);

#endif
