/* SPDX-License-Identifier: MIT */
/* Ethernet input: who the frame is for, and which protocol gets it. */
#include <arpa/inet.h>
#include <string.h>

#include "stack_impl.h"

static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* IEEE 802-2014 8.2: the I/G bit, the least significant bit of the first octet. */
bool mac_is_group(const uint8_t *mac)
{
	return mac[0] & 1;
}

void eth_input(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt)
{
	const struct usnet_eth_hdr *eth = (const struct usnet_eth_hdr *)usnet_pkt_data(pkt);
	uint64_t *drop;

	if (pkt->len < USNET_ETH_HLEN) {
		drop = &st->c.eth_short;
		goto drop;
	}
	/* A group source is never a station (IEEE 802.3 3.2.3); our own
	 * source is our frame heard back (a hub, a looped switch). */
	if (mac_is_group(eth->src)) {
		drop = &st->c.eth_bad_src;
		goto drop;
	}
	if (!memcmp(eth->src, ifc->mac, 6)) {
		drop = &st->c.eth_own_src;
		goto drop;
	}
	/* The stack joins no multicast group: only our MAC and broadcast. */
	if (memcmp(eth->dst, ifc->mac, 6) && memcmp(eth->dst, mac_bcast, 6)) {
		drop = &st->c.eth_not_ours;
		goto drop;
	}
	switch (ntohs(eth->type)) {
	case USNET_ETHERTYPE_ARP:
		arp_input(st, ifc, pkt);
		return;
	case USNET_ETHERTYPE_IPV4:
		ip_input(st, ifc, pkt);
		return;
	default:
		drop = &st->c.eth_unknown_type;
		goto drop;
	}
drop:
	(*drop)++;
	usnet_pkt_free(pkt);
}
