/* SPDX-License-Identifier: MIT */
/*
 * Helper for afxdp_veth.sh: several queues of one afxdp: port (one UMEM,
 * one socket per queue) across a multi-queue veth pair.
 *
 *   afxdp_queues [-n FRAMES] [-q QUEUES] TXSPEC RXSPEC
 *	open both ports with QUEUES (2) queues, send FRAMES UDP frames on
 *	each TX queue (payload: queue, sequence number) and receive them on
 *	RXSPEC: veth delivers what was sent on TX queue q to RX queue q of
 *	its peer, so every frame must arrive exactly once, on its queue, in
 *	order, with valid checksums. Then the receiver sends every frame
 *	back from the buffer it arrived in (no copy: the buffer is in the
 *	UMEM) and the sender must get all of them back, per queue, in order;
 *	the receiver's RX pools must be whole again once the kernel is done.
 *
 * Every wait is bounded; exit status 0 only if every check passed.
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/time.h>

#include "../unit/check.h"

#define BURST 32
#define MAXQ  4

struct rxq_state {
	uint32_t got, bad, order, wrong_queue, other;
	uint32_t next;
};

static struct usnet_port *open_port(const char *spec, uint16_t queues)
{
	struct usnet_port_conf conf = {.rx_queues = queues, .tx_queues = queues};
	struct usnet_port *port;

	if (usnet_port_open(&port, spec, &conf)) {
		fprintf(stderr, "%s: %s\n", spec, usnet_last_error());
		return NULL;
	}
	return port;
}

/* Frame check: UDP to port 2000, payload {queue, seq}, valid checksums. */
static void check(struct rxq_state *rs, uint16_t q, const struct usnet_pkt *p)
{
	struct usnet_udp4_view v;
	uint32_t pl[2];

	if (usnet_udp4_parse(usnet_pkt_data(p), p->len, &v) || ntohs(v.udp->dport) != 2000 ||
	    v.payload_len < 8) {
		rs->other++;
		return;
	}
	memcpy(pl, v.payload, 8);
	rs->got++;
	if (!v.ip_csum_ok || !v.udp_csum_ok)
		rs->bad++;
	if (ntohl(pl[0]) != q)
		rs->wrong_queue++;
	if (ntohl(pl[1]) != rs->next)
		rs->order++;
	rs->next = ntohl(pl[1]) + 1;
}

/* Receive on every queue until each has `want` frames or 5 s pass; with
 * echo, send each frame back on its queue from its own buffer. */
static void receive(struct usnet_port *port, uint16_t queues, struct rxq_state *rs, uint32_t want,
		    bool echo)
{
	uint64_t deadline = usnet_now_ns() + 5 * USNET_NSEC_PER_SEC;
	struct usnet_pkt *pkts[BURST];

	for (;;) {
		bool done = true;

		for (uint16_t q = 0; q < queues; q++) {
			uint16_t n = usnet_rx_burst(port, q, pkts, BURST), sent = 0;

			for (uint16_t i = 0; i < n; i++)
				check(&rs[q], q, pkts[i]);
			while (echo && sent < n && usnet_now_ns() < deadline)
				sent = (uint16_t)(sent + usnet_tx_burst(port, q, pkts + sent,
									(uint16_t)(n - sent)));
			usnet_pkt_free_bulk(pkts + sent, (uint32_t)(n - sent));
			done &= rs[q].got >= want;
		}
		if (done || usnet_now_ns() > deadline)
			break;
	}
}

/* Frames first..end-1 on TX queue q. */
static void send_queue(struct usnet_port *tx, uint16_t q, uint32_t first, uint32_t end,
		       const struct usnet_udp4_flow *flow)
{
	struct usnet_pkt *pkts[BURST];
	uint64_t deadline = usnet_now_ns() + 10 * USNET_NSEC_PER_SEC;

	for (uint32_t seq = first; seq < end && usnet_now_ns() < deadline;) {
		uint32_t want = end - seq < BURST ? end - seq : BURST;
		uint16_t n = (uint16_t)usnet_pool_alloc_bulk(usnet_port_pool(tx, q), pkts, want);
		uint16_t sent = 0;

		for (uint16_t i = 0; i < n; i++) {
			uint32_t pl[2] = {htonl(q), htonl(seq + i)};

			pkts[i]->len = (uint16_t)usnet_udp4_build(
			    usnet_pkt_data(pkts[i]), usnet_pkt_tailroom(pkts[i]), flow,
			    60 + (seq + i) % 200, pl, sizeof(pl));
		}
		while (sent < n && usnet_now_ns() < deadline)
			sent = (uint16_t)(sent +
					  usnet_tx_burst(tx, q, pkts + sent, (uint16_t)(n - sent)));
		usnet_pkt_free_bulk(pkts + sent, (uint32_t)(n - sent));
		seq += sent;
		if (!n)
			usnet_tx_burst(tx, q, NULL, 0); /* reclaim */
	}
}

int main(int argc, char **argv)
{
	uint32_t frames = 10000;
	uint16_t queues = 2;
	struct usnet_port *tx, *rx;
	struct rxq_state there[MAXQ] = {0}, back[MAXQ] = {0};
	struct usnet_udp4_flow flow = {
	    .src_ip = 0xc6120101,
	    .dst_ip = 0xc6120102,
	    .sport = 1000,
	    .dport = 2000,
	};
	int opt;

	while ((opt = getopt(argc, argv, "n:q:")) != -1) {
		if (opt == 'n')
			frames = (uint32_t)strtoul(optarg, NULL, 0);
		else if (opt == 'q')
			queues = (uint16_t)strtoul(optarg, NULL, 0);
		else
			return 2;
	}
	if (argc - optind != 2 || !queues || queues > MAXQ) {
		fprintf(stderr, "usage: afxdp_queues [-n N] [-q 1..%d] TXSPEC RXSPEC\n", MAXQ);
		return 2;
	}
	tx = open_port(argv[optind], queues);
	rx = tx ? open_port(argv[optind + 1], queues) : NULL;
	if (!rx) {
		usnet_port_close(tx);
		return 1;
	}
	CHECK_EQ(usnet_port_info(rx)->rx_queues, queues);
	memcpy(flow.src_mac, usnet_port_info(tx)->mac, 6);
	memcpy(flow.dst_mac, usnet_port_info(rx)->mac, 6);

	/* Interleave sending and receiving so that no ring overflows. */
	for (uint32_t sent = 0; sent < frames;) {
		uint32_t chunk = frames - sent < 512 ? frames - sent : 512;

		for (uint16_t q = 0; q < queues; q++)
			send_queue(tx, q, sent, sent + chunk, &flow);
		sent += chunk;
		receive(rx, queues, there, sent, true);
		receive(tx, queues, back, sent, false);
	}
	for (uint16_t q = 0; q < queues; q++) {
		printf("queue %u: there %u (bad %u, order %u, wrong queue %u, other %u), back %u "
		       "(bad %u, order %u, wrong queue %u, other %u)\n",
		       q, there[q].got, there[q].bad, there[q].order, there[q].wrong_queue,
		       there[q].other, back[q].got, back[q].bad, back[q].order, back[q].wrong_queue,
		       back[q].other);
		CHECK_EQ(there[q].got, frames);
		CHECK_EQ(there[q].bad + there[q].order + there[q].wrong_queue, 0);
		CHECK_EQ(back[q].got, frames);
		CHECK_EQ(back[q].bad + back[q].order + back[q].wrong_queue, 0);
	}
	usnet_port_close(tx);
	usnet_port_close(rx);
	return check_done("afxdp_queues");
}
