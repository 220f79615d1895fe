/* SPDX-License-Identifier: MIT */
/*
 * usnetd's L2 switch: which interface owns a MAC, and where a frame goes.
 *
 * The switch has one segment per uplink: the uplink and the client
 * interfaces attached to it (interfaces without an uplink form segment -1).
 * Client MACs are configured, never learned, so the table is filled once
 * and only read on the fast path. Within a segment (IEEE 802.1Q clause 8.7
 * in spirit, without learning or VLANs):
 *
 *   from a client   source MAC must be the client's (unless allowed);
 *                   group address -> every other client + the uplink;
 *                   a client's MAC -> that client; anything else -> uplink
 *   from the uplink group address -> every client; a client's MAC -> that
 *                   client; anything else is not ours (promiscuous uplink)
 *
 * The verdicts are inline in switch.h (they run for every frame); they only
 * decide, forward.c moves the frames.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <usnet/proto.h>

#include "switch.h"

void usnetd_mac_derive(const uint8_t prefix[2], uint32_t id, uint8_t mac[6])
{
	/* The prefix has the locally administered bit set and the group bit
	 * clear (IEEE 802 clause 8.2.2); the id fills the other 32 bits, so
	 * every id gets its own MAC and the same one on every start. */
	mac[0] = (uint8_t)((prefix[0] | 0x02) & ~0x01);
	mac[1] = prefix[1];
	mac[2] = (uint8_t)(id >> 24);
	mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8);
	mac[5] = (uint8_t)id;
}

int usnetd_mac_format(char *buf, unsigned len, const uint8_t mac[6])
{
	return snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
			mac[4], mac[5]);
}

void usnetd_mactab_init(struct usnetd_mactab *t)
{
	for (unsigned i = 0; i < USNETD_MAC_SLOTS; i++)
		t->slot[i].idx = -1;
}

int usnetd_mactab_add(struct usnetd_mactab *t, const uint8_t mac[6], int idx)
{
	uint64_t key = usnetd_mac_key(mac);
	unsigned h = usnetd_mac_hash(key);

	for (unsigned n = 0; n < USNETD_MAC_SLOTS; n++, h = (h + 1) & (USNETD_MAC_SLOTS - 1)) {
		if (t->slot[h].idx < 0) {
			t->slot[h].key = key;
			t->slot[h].idx = idx;
			return 0;
		}
		if (t->slot[h].key == key)
			return -EEXIST;
	}
	return -ENOSPC;
}

int usnetd_mactab_find(const struct usnetd_mactab *t, const uint8_t mac[6])
{
	return usnetd_mactab_find_key(t, usnetd_mac_key(mac));
}

static inline uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

uint32_t usnetd_flow_hash(const uint8_t *frame, uint32_t len)
{
	uint32_t h;

	if (len < USNET_ETH_HLEN)
		return 0;
	if (len >= USNET_ETH_HLEN + 20 && frame[12] == 0x08 && frame[13] == 0x00 &&
	    (frame[14] >> 4) == 4) {
		const uint8_t *ip = frame + USNET_ETH_HLEN;
		uint32_t ihl = (uint32_t)(ip[0] & 0xf) * 4;
		/* RFC 791: fragments after the first have no L4 header. */
		bool first = !((ip[6] & 0x1f) | ip[7]);

		h = rd32(ip + 12) ^ (rd32(ip + 16) * 0x9e3779b1u);
		if (first && (ip[9] == 6 || ip[9] == 17) && ihl >= 20 &&
		    len >= USNET_ETH_HLEN + ihl + 4)
			h ^= rd32(ip + ihl) * 0x85ebca6bu;
	} else {
		h = rd32(frame) ^ rd32(frame + 6) * 0x9e3779b1u;
	}
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	return h;
}
