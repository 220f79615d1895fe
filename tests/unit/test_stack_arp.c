/* SPDX-License-Identifier: MIT */
/* ARP: answering for our address only, malformed packets each with their
 * counter, the neighbour cache's states and time-outs (injected clock),
 * the bounded wait queue, gratuitous ARP at start-up. */
#include <errno.h>

#include "../../src/stack/stack_impl.h"
#include "stack_util.h"

static void test_gratuitous(void)
{
	struct usnet_stack_conf conf = {.clock = fake_clock};
	struct usnet_iface_conf ic = {0};
	struct usnet_port *a, *b;
	struct usnet_stack *st;
	struct usnet_pkt *p;

	CHECK_EQ(usnet_port_open(&a, "pair:arp_garp", NULL), 0);
	CHECK_EQ(usnet_port_open(&b, "pair:arp_garp", NULL), 0);
	CHECK_EQ(usnet_stack_create(&st, &conf), 0);
	ic.port = a;
	ic.addr = IP_US;
	ic.prefix_len = 24;
	memcpy(ic.mac, MAC_US, 6);
	CHECK_EQ(usnet_stack_add_iface(st, &ic), 0);
	CHECK_EQ(usnet_rx_burst(b, 0, &p, 1), 1);
	{
		const uint8_t *f = usnet_pkt_data(p);

		CHECK(!memcmp(f, MAC_BCAST, 6));
		CHECK_EQ(get16(f + 12), 0x0806);
		CHECK_EQ(get16(f + 20), 1);
		CHECK_EQ(get32(f + 28), IP_US); /* sender and target: our address */
		CHECK_EQ(get32(f + 38), IP_US);
		CHECK(!memcmp(f + 22, MAC_US, 6));
		usnet_pkt_free(p);
	}
	/* A second interface with the same address or port queue is refused. */
	CHECK_EQ(usnet_stack_add_iface(st, &ic), -EEXIST);
	ic.addr = 0xc6120000u; /* the subnet's network address */
	CHECK_EQ(usnet_stack_add_iface(st, &ic), -EINVAL);
	ic.addr = 0xe0000001u;
	CHECK_EQ(usnet_stack_add_iface(st, &ic), -EINVAL);
	usnet_stack_destroy(st);
	usnet_port_close(a);
	usnet_port_close(b);
}

static void test_reply(void)
{
	struct harness h;
	uint8_t f[128], r[128];
	size_t n;

	CHECK_EQ(harness_open(&h, "arp_reply", NULL), 0);
	n = make_arp(f, MAC_BCAST, MAC_PEER, 1, IP_PEER, (const uint8_t[6]){0}, IP_US);
	inject(&h, f, n);
	n = peer_recv(&h, r, sizeof(r));
	CHECK_EQ(n, 60);
	CHECK(!memcmp(r, MAC_PEER, 6) && !memcmp(r + 6, MAC_US, 6));
	CHECK_EQ(get16(r + 20), 2);
	CHECK(!memcmp(r + 22, MAC_US, 6));
	CHECK_EQ(get32(r + 28), IP_US);
	CHECK(!memcmp(r + 32, MAC_PEER, 6));
	CHECK_EQ(get32(r + 38), IP_PEER);
	CHECK_EQ(counters(&h).arp_rx_request, 1);
	CHECK_EQ(counters(&h).arp_tx_reply, 1);
	/* The requester was learnt (STALE: heard, not confirmed). */
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_STALE);

	/* For another address: no answer, counted. */
	n = make_arp(f, MAC_BCAST, MAC_PEER, 1, IP_PEER, (const uint8_t[6]){0}, IP_US + 5);
	inject(&h, f, n);
	CHECK_EQ(peer_recv(&h, r, sizeof(r)), 0);
	CHECK_EQ(counters(&h).arp_not_for_us, 1);
	harness_close(&h);
}

static void test_malformed(void)
{
	struct harness h;
	uint8_t f[128];
	size_t n;

	CHECK_EQ(harness_open(&h, "arp_bad", NULL), 0);
	n = make_arp(f, MAC_BCAST, MAC_PEER, 1, IP_PEER, (const uint8_t[6]){0}, IP_US);
	inject_raw(&h, f, 14 + 27); /* one byte short */
	CHECK_EQ(counters(&h).arp_short, 1);
	f[15] = 6; /* hardware type IEEE 802 */
	inject(&h, f, n);
	f[15] = 1;
	f[19] = 16; /* protocol length */
	inject(&h, f, n);
	CHECK_EQ(counters(&h).arp_bad_format, 2);
	f[19] = 4;
	f[21] = 3; /* RARP request */
	inject(&h, f, n);
	CHECK_EQ(counters(&h).arp_bad_op, 1);
	f[21] = 1;
	/* Sender: a multicast MAC in the ARP body, then a broadcast IP. */
	f[22] = 0x01;
	inject(&h, f, n);
	f[22] = 0x02;
	put32(f + 28, 0xc61200ffu);
	inject(&h, f, n);
	put32(f + 28, 0x7f000001u);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).arp_bad_sender, 3);
	/* Someone claims our address. */
	put32(f + 28, IP_US);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).arp_conflict, 1);
	CHECK_EQ(counters(&h).arp_tx_reply, 0);
	CHECK_EQ(peer_drain(&h), 0);
	/* An RFC 5227 probe (sender 0.0.0.0) is answered, not learnt. */
	put32(f + 28, 0);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).arp_tx_reply, 1);
	CHECK_EQ(arp_state_of(h.st, 0), ARP_FREE);
	peer_drain(&h);
	harness_close(&h);
}

static void test_states(void)
{
	struct usnet_stack_conf conf = {.arp_reachable_ms = 1000,
					.arp_stale_ms = 5000,
					.arp_retrans_ms = 100,
					.arp_max_probes = 3,
					.arp_failed_ms = 2000,
					.arp_queue_len = 2};
	struct usnet_addr4 to = {IP_PEER, 9};
	struct usnet_udp *s;
	struct harness h;
	uint8_t f[128];
	size_t n;

	CHECK_EQ(harness_open(&h, "arp_states", &conf), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	/* INCOMPLETE: one request, then two packets wait, a third is refused. */
	CHECK_EQ(usnet_udp_sendto(s, "1", 1, &to), 1);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_INCOMPLETE);
	CHECK_EQ(usnet_udp_sendto(s, "2", 1, &to), 1);
	CHECK_EQ(usnet_udp_sendto(s, "3", 1, &to), -ENOBUFS);
	CHECK_EQ(peer_drain(&h), 1);
	CHECK_EQ(counters(&h).arp_tx_request, 1);
	/* The answer sends both, in order. */
	answer_arp(&h, IP_PEER);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_REACHABLE);
	n = peer_recv(&h, f, sizeof(f));
	CHECK(n >= 43 && f[42] == '1');
	n = peer_recv(&h, f, sizeof(f));
	CHECK(n >= 43 && f[42] == '2');
	CHECK_EQ(peer_drain(&h), 0);

	/* REACHABLE -> STALE after arp_reachable_ms. */
	fake_now += 999 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_REACHABLE);
	fake_now += 1 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_STALE);
	/* Using a STALE entry sends at once plus one unicast probe. */
	CHECK_EQ(usnet_udp_sendto(s, "4", 1, &to), 1);
	n = peer_recv(&h, f, sizeof(f));
	CHECK_EQ(get16(f + 12), 0x0806);
	CHECK(!memcmp(f, MAC_PEER, 6)); /* unicast (RFC 1122 2.3.2.1) */
	n = peer_recv(&h, f, sizeof(f));
	CHECK(n >= 43 && get16(f + 12) == 0x0800 && f[42] == '4');
	CHECK_EQ(usnet_udp_sendto(s, "5", 1, &to), 1); /* no second probe so soon */
	CHECK_EQ(peer_drain(&h), 1);
	/* The probe's answer makes it REACHABLE again. */
	answer_arp(&h, IP_PEER);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_REACHABLE);
	/* Unanswered: STALE, then forgotten after arp_stale_ms. */
	fake_now += 1000 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_STALE);
	fake_now += 5000 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_FREE);

	/* Nobody answers: arp_max_probes requests arp_retrans_ms apart, then
	 * FAILED, the waiting packets dropped and counted. */
	CHECK_EQ(usnet_udp_sendto(s, "6", 1, &to), 1);
	CHECK_EQ(peer_drain(&h), 1);
	for (int i = 0; i < 2; i++) {
		fake_now += 100 * MS;
		usnet_stack_poll(h.st);
		CHECK_EQ(peer_drain(&h), 1);
		CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_INCOMPLETE);
	}
	CHECK_EQ(counters(&h).arp_tx_request, 5); /* 1 + the STALE probe + 3 */
	/* The arm timeout says when the next retransmission is due. */
	CHECK_EQ(usnet_stack_arm(h.st), 100);
	fake_now += 100 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_FAILED);
	CHECK_EQ(counters(&h).arp_resolve_failed, 1);
	CHECK_EQ(peer_drain(&h), 0);
	CHECK_EQ(usnet_udp_sendto(s, "7", 1, &to), -EHOSTUNREACH);
	fake_now += 2000 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_FREE);
	CHECK_EQ(usnet_stack_arm(h.st), -1); /* no timers left */
	CHECK_EQ(usnet_udp_sendto(s, "8", 1, &to), 1);
	CHECK_EQ(arp_state_of(h.st, IP_PEER), ARP_INCOMPLETE);
	peer_drain(&h);
	usnet_udp_close(s);
	harness_close(&h);
}

static void test_cache_full(void)
{
	struct usnet_stack_conf conf = {.arp_entries = 2};
	struct usnet_addr4 to = {IP_PEER, 9};
	struct usnet_udp *s;
	struct harness h;

	CHECK_EQ(harness_open(&h, "arp_full", &conf), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_sendto(s, "a", 1, &to), 1);
	to.ip++;
	CHECK_EQ(usnet_udp_sendto(s, "b", 1, &to), 1);
	to.ip++;
	/* Both entries are being resolved: the third neighbour cannot get one. */
	CHECK_EQ(usnet_udp_sendto(s, "c", 1, &to), -ENOBUFS);
	CHECK_EQ(counters(&h).arp_cache_full, 1);
	CHECK_EQ(arp_state_of(h.st, to.ip), ARP_FREE);
	peer_drain(&h);
	usnet_udp_close(s);
	harness_close(&h);
}

int main(void)
{
	test_gratuitous();
	test_reply();
	test_malformed();
	test_states();
	test_cache_full();
	return check_done("test_stack_arp");
}
