/* SPDX-License-Identifier: MIT */
/*
 * ARP (RFC 826) and the neighbour cache.
 *
 * States follow RFC 4861's neighbour unreachability detection, simplified
 * for ARP as Linux does: INCOMPLETE (requests sent every arp_retrans_ms,
 * packets wait in a bounded per-entry queue) -> REACHABLE on an answer ->
 * STALE after arp_reachable_ms (still used; each use at most every
 * arp_retrans_ms sends a unicast request, RFC 1122 2.3.2.1) -> forgotten
 * after arp_stale_ms unless an answer made it REACHABLE again. No answer
 * to arp_max_probes requests: FAILED (waiting packets dropped, sends
 * refused with -EHOSTUNREACH) for arp_failed_ms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"

static const uint8_t mac_bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mac_zero[6];

static uint64_t ms(uint32_t v)
{
	return (uint64_t)v * 1000000u;
}

static uint32_t get_ip(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_ip(uint8_t *p, uint32_t ip)
{
	p[0] = (uint8_t)(ip >> 24);
	p[1] = (uint8_t)(ip >> 16);
	p[2] = (uint8_t)(ip >> 8);
	p[3] = (uint8_t)ip;
}

int arp_init(struct arp_cache *a, const struct usnet_stack_conf *conf)
{
	memset(a, 0, sizeof(*a));
	a->n = conf->arp_entries;
	a->qcap = conf->arp_queue_len;
	for (a->nbuckets = 1; a->nbuckets < a->n; a->nbuckets <<= 1)
		;
	a->e = calloc(a->n, sizeof(*a->e));
	a->bucket = malloc(a->nbuckets * sizeof(*a->bucket));
	a->queue = calloc((size_t)a->n * a->qcap, sizeof(*a->queue));
	if (!a->e || !a->bucket || !a->queue) {
		arp_fini(a);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < a->nbuckets; i++)
		a->bucket[i] = -1;
	return 0;
}

static void queue_drop(struct arp_cache *a, struct arp_entry *e, uint64_t *counter)
{
	struct usnet_pkt **q = a->queue + (size_t)(e - a->e) * a->qcap;

	for (; e->qlen; e->qlen--, e->qhead = (uint16_t)((e->qhead + 1) % a->qcap)) {
		usnet_pkt_free(q[e->qhead]);
		if (counter)
			(*counter)++;
	}
}

void arp_fini(struct arp_cache *a)
{
	if (a->e && a->queue)
		for (uint32_t i = 0; i < a->n; i++)
			queue_drop(a, &a->e[i], NULL);
	free(a->e);
	free(a->bucket);
	free(a->queue);
	memset(a, 0, sizeof(*a));
}

static uint32_t hash_ip(const struct arp_cache *a, uint32_t ip)
{
	return (uint32_t)((ip * 0x9e3779b1u) >> 8) & (a->nbuckets - 1);
}

static struct arp_entry *lookup(const struct arp_cache *a, uint32_t ip)
{
	for (int32_t i = a->bucket[hash_ip(a, ip)]; i >= 0; i = a->e[i].next)
		if (a->e[i].ip == ip)
			return &a->e[i];
	return NULL;
}

static void unlink_entry(struct arp_cache *a, struct arp_entry *e)
{
	int32_t *pp = &a->bucket[hash_ip(a, e->ip)];
	int32_t idx = (int32_t)(e - a->e);

	while (*pp != idx)
		pp = &a->e[*pp].next;
	*pp = e->next;
	queue_drop(a, e, NULL);
	e->state = ARP_FREE;
}

/* How willingly an entry is reused for another neighbour: lower first;
 * entries being resolved never are (their queues would be lost). */
static int reuse_rank(uint8_t state)
{
	switch (state) {
	case ARP_FREE:
		return 0;
	case ARP_FAILED:
		return 1;
	case ARP_STALE:
		return 2;
	case ARP_REACHABLE:
		return 3;
	default:
		return -1;
	}
}

/* A free entry, else the one that matters least: FAILED, then STALE, then
 * even REACHABLE (closest to expiry first), so that no flood of ARP
 * packets can fill the cache and block resolving a new neighbour. */
static struct arp_entry *create(struct usnet_stack *st, uint32_t ip, uint8_t iface)
{
	struct arp_cache *a = &st->arp;
	struct arp_entry *victim = NULL;
	uint32_t h;

	for (uint32_t i = 0; i < a->n; i++) {
		struct arp_entry *e = &a->e[i];
		int r = reuse_rank(e->state);

		if (r == 0) {
			victim = e;
			break;
		}
		if (r < 0)
			continue;
		if (!victim || r < reuse_rank(victim->state) ||
		    (r == reuse_rank(victim->state) && e->deadline < victim->deadline))
			victim = e;
	}
	if (!victim) {
		st->c.arp_cache_full++;
		return NULL;
	}
	if (victim->state != ARP_FREE)
		unlink_entry(a, victim);
	memset(victim, 0, sizeof(*victim));
	victim->ip = ip;
	victim->iface = iface;
	h = hash_ip(a, ip);
	victim->next = a->bucket[h];
	a->bucket[h] = (int32_t)(victim - a->e);
	return victim;
}

static void set_state(struct usnet_stack *st, struct arp_entry *e, enum arp_state s,
		      uint64_t deadline)
{
	e->state = (uint8_t)s;
	e->deadline = deadline;
	stk_timer_at(st, deadline);
}

/* Fill pkt with an ARP packet (Ethernet header included). */
static void build(struct usnet_pkt *pkt, const struct stk_iface *ifc, uint16_t op,
		  const uint8_t *eth_dst, const uint8_t *tha, uint32_t tpa)
{
	struct usnet_eth_hdr *eth = (struct usnet_eth_hdr *)usnet_pkt_data(pkt);
	struct usnet_arp_hdr *a = (struct usnet_arp_hdr *)(eth + 1);

	memcpy(eth->dst, eth_dst, 6);
	memcpy(eth->src, ifc->mac, 6);
	eth->type = htons(USNET_ETHERTYPE_ARP);
	a->htype = htons(USNET_ARP_HTYPE_ETHER);
	a->ptype = htons(USNET_ETHERTYPE_IPV4);
	a->hlen = 6;
	a->plen = 4;
	a->op = htons(op);
	memcpy(a->sha, ifc->mac, 6);
	put_ip(a->spa, ifc->addr);
	memcpy(a->tha, tha, 6);
	put_ip(a->tpa, tpa);
	pkt->len = USNET_ETH_HLEN + USNET_ARP_LEN;
}

static void send_request(struct usnet_stack *st, struct stk_iface *ifc, uint32_t ip,
			 const uint8_t *unicast_mac)
{
	struct usnet_pkt *pkt = stk_alloc(st, ifc);

	if (!pkt)
		return;
	build(pkt, ifc, USNET_ARP_OP_REQUEST, unicast_mac ? unicast_mac : mac_bcast, mac_zero, ip);
	st->c.arp_tx_request++;
	stk_tx(st, ifc, pkt);
}

void arp_send_gratuitous(struct usnet_stack *st, struct stk_iface *ifc)
{
	struct usnet_pkt *pkt = stk_alloc(st, ifc);

	if (!pkt)
		return;
	/* RFC 5227 2.4 / RFC 5944 4.6: a request with our address as both
	 * sender and target, broadcast, updates every cache that has us. */
	build(pkt, ifc, USNET_ARP_OP_REQUEST, mac_bcast, mac_zero, ifc->addr);
	st->c.arp_tx_gratuitous++;
	stk_tx(st, ifc, pkt);
}

static void send_eth(struct usnet_stack *st, struct stk_iface *ifc, const uint8_t *mac,
		     struct usnet_pkt *pkt)
{
	struct usnet_eth_hdr *eth = (struct usnet_eth_hdr *)usnet_pkt_prepend(pkt, USNET_ETH_HLEN);

	if (!eth) {
		/* The stack reserves the headroom it needs; only an application's
		 * zero-copy packet with its data_off moved could get here. */
		st->c.tx_nobuf++;
		usnet_pkt_free(pkt);
		return;
	}
	memcpy(eth->dst, mac, 6);
	memcpy(eth->src, ifc->mac, 6);
	eth->type = htons(USNET_ETHERTYPE_IPV4);
	stk_tx(st, ifc, pkt);
}

/* The entry got its MAC: send what waited for it. */
static void resolved(struct usnet_stack *st, struct arp_entry *e, const uint8_t *mac)
{
	struct arp_cache *a = &st->arp;
	struct usnet_pkt **q = a->queue + (size_t)(e - a->e) * a->qcap;
	struct stk_iface *ifc = &st->ifc[e->iface];

	memcpy(e->mac, mac, 6);
	set_state(st, e, ARP_REACHABLE, st->now + ms(st->conf.arp_reachable_ms));
	for (; e->qlen; e->qlen--, e->qhead = (uint16_t)((e->qhead + 1) % a->qcap))
		send_eth(st, ifc, e->mac, q[e->qhead]);
}

static bool is_broadcast(const struct stk_iface *ifc, uint32_t ip)
{
	return ip == IPV4_BCAST || ip == ifc->bcast;
}

int arp_check(struct usnet_stack *st, struct stk_iface *ifc, uint32_t nexthop, uint32_t npkts)
{
	struct arp_entry *e;

	if (is_broadcast(ifc, nexthop))
		return 0;
	e = lookup(&st->arp, nexthop);
	if (!e) {
		if (npkts <= st->arp.qcap) {
			for (uint32_t i = 0; i < st->arp.n; i++)
				if (reuse_rank(st->arp.e[i].state) >= 0)
					return 0; /* arp_output() will get an entry */
			st->c.arp_cache_full++;
			return -ENOBUFS;
		}
		/* More fragments than a wait queue holds: start resolving so
		 * that a retry after the answer goes straight out. */
		e = create(st, nexthop, ifc->index);
		if (!e)
			return -ENOBUFS;
		e->probes = 1;
		set_state(st, e, ARP_INCOMPLETE, st->now + ms(st->conf.arp_retrans_ms));
		send_request(st, ifc, nexthop, NULL);
		return -ENOBUFS;
	}
	if (e->state == ARP_FAILED)
		return -EHOSTUNREACH;
	/* A datagram waits whole or not at all: its fragments are useless
	 * without each other. */
	if (e->state == ARP_INCOMPLETE && e->qlen + npkts > st->arp.qcap)
		return -ENOBUFS;
	return 0;
}

void arp_output(struct usnet_stack *st, struct stk_iface *ifc, uint32_t nexthop,
		struct usnet_pkt *pkt)
{
	struct arp_cache *a = &st->arp;
	struct arp_entry *e;

	if (is_broadcast(ifc, nexthop)) {
		send_eth(st, ifc, mac_bcast, pkt);
		return;
	}
	e = lookup(a, nexthop);
	if (!e) {
		e = create(st, nexthop, ifc->index);
		if (!e) {
			usnet_pkt_free(pkt);
			return;
		}
		e->probes = 1;
		set_state(st, e, ARP_INCOMPLETE, st->now + ms(st->conf.arp_retrans_ms));
		send_request(st, ifc, nexthop, NULL);
	}
	switch (e->state) {
	case ARP_INCOMPLETE:
		if (e->qlen >= a->qcap) {
			st->c.arp_queue_drop++;
			usnet_pkt_free(pkt);
		} else {
			a->queue[(size_t)(e - a->e) * a->qcap + (e->qhead + e->qlen) % a->qcap] =
			    pkt;
			e->qlen++;
		}
		return;
	case ARP_FAILED:
		st->c.arp_resolve_failed++;
		usnet_pkt_free(pkt);
		return;
	case ARP_STALE:
		if (st->now >= e->probe_at) {
			e->probe_at = st->now + ms(st->conf.arp_retrans_ms);
			send_request(st, ifc, nexthop, e->mac);
		}
		/* fall through */
	default:
		send_eth(st, ifc, e->mac, pkt);
		return;
	}
}

void arp_timers(struct usnet_stack *st, uint64_t now)
{
	struct arp_cache *a = &st->arp;

	for (uint32_t i = 0; i < a->n; i++) {
		struct arp_entry *e = &a->e[i];

		if (e->state == ARP_FREE)
			continue;
		if (now < e->deadline) {
			stk_timer_at(st, e->deadline);
			continue;
		}
		switch (e->state) {
		case ARP_INCOMPLETE:
			if (e->probes < st->conf.arp_max_probes) {
				e->probes++;
				set_state(st, e, ARP_INCOMPLETE, now + ms(st->conf.arp_retrans_ms));
				send_request(st, &st->ifc[e->iface], e->ip, NULL);
			} else {
				queue_drop(a, e, &st->c.arp_resolve_failed);
				set_state(st, e, ARP_FAILED, now + ms(st->conf.arp_failed_ms));
			}
			break;
		case ARP_REACHABLE:
			set_state(st, e, ARP_STALE, now + ms(st->conf.arp_stale_ms));
			break;
		default: /* STALE, FAILED: forget it */
			unlink_entry(a, e);
			break;
		}
	}
}

enum arp_state arp_state_of(const struct usnet_stack *st, uint32_t ip)
{
	const struct arp_entry *e = lookup(&st->arp, ip);

	return e ? (enum arp_state)e->state : ARP_FREE;
}

/* RFC 826 "Packet Reception", with RFC 4861's reachability: an answer to
 * us confirms (REACHABLE); anything else from a known sender only updates
 * its MAC, marking it STALE if it changed (never while REACHABLE); a
 * request to us from an unknown sender creates a STALE entry (we will
 * likely answer it soon). */
static void learn(struct usnet_stack *st, struct stk_iface *ifc, const struct usnet_arp_hdr *ap,
		  uint32_t spa, bool for_us, bool reply)
{
	struct arp_entry *e = lookup(&st->arp, spa);

	if (!e) {
		if (!for_us)
			return;
		e = create(st, spa, ifc->index);
		if (!e)
			return;
		memcpy(e->mac, ap->sha, 6);
		set_state(st, e, reply ? ARP_REACHABLE : ARP_STALE,
			  st->now + ms(reply ? st->conf.arp_reachable_ms : st->conf.arp_stale_ms));
		return;
	}
	if (e->iface != ifc->index)
		return; /* the same address on another link: leave it */
	if (e->state == ARP_INCOMPLETE) {
		resolved(st, e, ap->sha);
		return;
	}
	/* A neighbour confirmed less than arp_reachable_ms ago keeps its MAC:
	 * we asked nothing, so a different one is an unsolicited claim (a
	 * gratuitous ARP stealing the gateway). Linux's locktime refuses
	 * such changes for a second; a move is learnt once the entry is STALE. */
	if (e->state == ARP_REACHABLE && memcmp(e->mac, ap->sha, 6)) {
		st->c.arp_mac_change_refused++;
		return;
	}
	if (reply && for_us) {
		resolved(st, e, ap->sha);
	} else if (memcmp(e->mac, ap->sha, 6)) {
		memcpy(e->mac, ap->sha, 6);
		set_state(st, e, ARP_STALE, st->now + ms(st->conf.arp_stale_ms));
	}
}

void arp_input(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt)
{
	struct usnet_eth_hdr *eth = (struct usnet_eth_hdr *)usnet_pkt_data(pkt);
	struct usnet_arp_hdr *ap = (struct usnet_arp_hdr *)(eth + 1);
	uint64_t *drop;
	uint32_t spa, tpa;
	uint16_t op;
	bool for_us;

	if (pkt->len < USNET_ETH_HLEN + USNET_ARP_LEN) {
		drop = &st->c.arp_short;
		goto drop;
	}
	if (ntohs(ap->htype) != USNET_ARP_HTYPE_ETHER || ntohs(ap->ptype) != USNET_ETHERTYPE_IPV4 ||
	    ap->hlen != 6 || ap->plen != 4) {
		drop = &st->c.arp_bad_format;
		goto drop;
	}
	op = ntohs(ap->op);
	if (op != USNET_ARP_OP_REQUEST && op != USNET_ARP_OP_REPLY) {
		drop = &st->c.arp_bad_op;
		goto drop;
	}
	spa = get_ip(ap->spa);
	tpa = get_ip(ap->tpa);
	/* spa 0 is an RFC 5227 probe: answered, never learnt. */
	if (mac_is_group(ap->sha) || !memcmp(ap->sha, ifc->mac, 6) ||
	    (spa != 0 && (!ip_unicast_src_ok(spa) || is_broadcast(ifc, spa) ||
			  (spa & ifc->mask) != (ifc->addr & ifc->mask)))) {
		drop = &st->c.arp_bad_sender;
		goto drop;
	}
	if (spa == ifc->addr) {
		drop = &st->c.arp_conflict;
		goto drop;
	}
	for_us = tpa == ifc->addr;
	if (spa)
		learn(st, ifc, ap, spa, for_us, op == USNET_ARP_OP_REPLY);
	if (op == USNET_ARP_OP_REPLY) {
		st->c.arp_rx_reply++;
		usnet_pkt_free(pkt);
		return;
	}
	if (!for_us) {
		drop = &st->c.arp_not_for_us;
		goto drop;
	}
	st->c.arp_rx_request++;
	/* Answer in place, to the requester's MAC (RFC 826: "swap hardware
	 * and protocol fields, ... send the packet to the (new) target"). */
	{
		uint8_t sha[6];

		memcpy(sha, ap->sha, 6);
		build(pkt, ifc, USNET_ARP_OP_REPLY, sha, sha, spa);
	}
	st->c.arp_tx_reply++;
	stk_tx(st, ifc, pkt);
	return;
drop:
	(*drop)++;
	usnet_pkt_free(pkt);
}
