/* SPDX-License-Identifier: MIT */
/* pair: and loop: ports: frames cross intact and in order between two
 * threads, a sleeping receiver wakes, closing one end takes the link down. */
#include <pthread.h>
#include <string.h>

#include <usnet/port.h>

#include "check.h"

#define FRAMES 200000u

static void *sender(void *arg)
{
	struct usnet_port *port = arg;
	struct usnet_pool *pool = usnet_port_pool(port, 0);
	struct usnet_pkt *pkts[32];
	uint32_t seq = 0;

	while (seq < FRAMES) {
		uint16_t n = (uint16_t)usnet_pool_alloc_bulk(pool, pkts, 32), sent = 0;

		for (uint16_t i = 0; i < n; i++) {
			uint32_t s = seq + i;

			pkts[i]->len = (uint16_t)(60 + s % 1400);
			memset(usnet_pkt_data(pkts[i]), (int)(s & 0xff), pkts[i]->len);
			memcpy(usnet_pkt_data(pkts[i]), &s, sizeof(s));
		}
		if (n == 0)
			usnet_tx_burst(port, 0, pkts, 0); /* pool empty: reclaim */
		while (sent < n)
			sent = (uint16_t)(sent + usnet_tx_burst(port, 0, pkts + sent, (uint16_t)(n - sent)));
		seq += n;
	}
	return NULL;
}

static void test_two_threads(void)
{
	struct usnet_port *a, *b;
	struct usnet_pkt *pkts[32];
	struct usnet_link link;
	pthread_t t;
	uint32_t expect = 0, bad = 0;
	struct usnet_idle idle = {0};

	CHECK_EQ(usnet_port_open(&a, "pair:t1", NULL), 0);
	CHECK_EQ(usnet_port_link(a, &link), 0);
	CHECK(!link.up); /* no peer yet */
	CHECK_EQ(usnet_port_open(&b, "pair:t1", NULL), 0);
	CHECK_EQ(usnet_port_link(a, &link), 0);
	CHECK(link.up);
	CHECK_EQ(pthread_create(&t, NULL, sender, a), 0);
	while (expect < FRAMES) {
		uint16_t n = usnet_rx_burst(b, 0, pkts, 32);

		for (uint16_t i = 0; i < n; i++, expect++) {
			uint32_t s;
			const uint8_t *d = usnet_pkt_data(pkts[i]);

			memcpy(&s, d, sizeof(s));
			if (s != expect || pkts[i]->len != 60 + s % 1400 ||
			    d[pkts[i]->len - 1] != (uint8_t)(s & 0xff))
				bad++;
		}
		usnet_pkt_free_bulk(pkts, n);
		if (usnet_port_idle(b, 0, &idle, n, 1000) == 0)
			break; /* a second with nothing: lost frames */
	}
	pthread_join(t, NULL);
	CHECK_EQ(expect, FRAMES);
	CHECK_EQ(bad, 0);
	/* Every buffer the sender used came back (none lost on a full return
	 * ring) once its next send reclaims them. */
	struct usnet_pool_stats ps;
	CHECK_EQ(usnet_tx_burst(a, 0, pkts, 0), 0);
	usnet_pool_get_stats(usnet_port_pool(a, 0), &ps);
	CHECK_EQ(ps.available, ps.count);
	usnet_port_close(a);
	CHECK_EQ(usnet_port_link(b, &link), 0);
	CHECK(!link.up);
	CHECK_EQ(usnet_tx_burst(b, 0, pkts, 0), 0);
	usnet_port_close(b);
}

static void test_loop_and_wait(void)
{
	struct usnet_port *p;
	struct usnet_pkt *pkt, *got[4];
	struct usnet_queue_stats st;

	CHECK_EQ(usnet_port_open(&p, "loop:", NULL), 0);
	CHECK_EQ(usnet_port_wait(p, 0, 10), 0); /* nothing: times out */
	pkt = usnet_pkt_alloc(usnet_port_pool(p, 0));
	CHECK(pkt != NULL);
	memcpy(usnet_pkt_append(pkt, 64), "hello", 6);
	CHECK_EQ(usnet_tx_burst(p, 0, &pkt, 1), 1);
	CHECK_EQ(usnet_port_wait(p, 0, 1000), 1);
	CHECK_EQ(usnet_rx_burst(p, 0, got, 4), 1);
	CHECK_EQ(got[0]->len, 64);
	CHECK(!strcmp((char *)usnet_pkt_data(got[0]), "hello"));
	CHECK(got[0] != pkt); /* copied, like a wire */
	usnet_pkt_free(got[0]);
	CHECK_EQ(usnet_port_stats(p, 0, &st), 0);
	CHECK_EQ(st.tx_packets, 1);
	CHECK_EQ(st.rx_packets, 1);
	CHECK_EQ(st.rx_bytes, 64);
	usnet_port_close(p);
}

/* One ring's worth in flight at most, and the receiver never depends on the
 * sender to make progress (deterministic version of the two-thread case). */
static void test_flow_control(void)
{
	struct usnet_port_conf conf = {.rx_ring_size = 64, .pool_size = 256};
	struct usnet_port *a, *b;
	struct usnet_pkt *pkts[100], *in[32];
	struct usnet_pool_stats ps;

	CHECK_EQ(usnet_port_open(&a, "pair:fc", &conf), 0);
	CHECK_EQ(usnet_port_open(&b, "pair:fc", &conf), 0);
	CHECK_EQ(usnet_pool_alloc_bulk(usnet_port_pool(a, 0), pkts, 100), 100);
	for (int i = 0; i < 100; i++)
		pkts[i]->len = 60;
	CHECK_EQ(usnet_tx_burst(a, 0, pkts, 100), 64);
	CHECK_EQ(usnet_tx_burst(a, 0, pkts + 64, 36), 0); /* all 64 still outstanding */
	CHECK_EQ(usnet_rx_burst(b, 0, in, 32), 32);
	usnet_pkt_free_bulk(in, 32);
	CHECK_EQ(usnet_rx_burst(b, 0, in, 32), 32); /* no help from the sender */
	usnet_pkt_free_bulk(in, 32);
	CHECK_EQ(usnet_rx_burst(b, 0, in, 32), 0);
	usnet_pool_get_stats(usnet_port_pool(a, 0), &ps);
	CHECK_EQ(ps.available, 256 - 100);
	CHECK_EQ(usnet_tx_burst(a, 0, pkts, 0), 0); /* reclaims the 64 */
	usnet_pool_get_stats(usnet_port_pool(a, 0), &ps);
	CHECK_EQ(ps.available, 256 - 36);
	usnet_pkt_free_bulk(pkts + 64, 36);
	usnet_port_close(a);
	usnet_port_close(b);
}

int main(void)
{
	test_flow_control();
	test_two_threads();
	test_loop_and_wait();
	return check_done("test_pair");
}
