/* SPDX-License-Identifier: MIT */
/*
 * usnetd's forwarding (daemon/forward.[ch]) without the process: three
 * memif clients of an in-process memif server and one uplink over a pair:
 * wire, all on one segment, driven by the same calls as usnetd's poll loop
 * (usnetd_poll_uplink(), usnetd_poll_iface(), usnetd_flush_all()). The test
 * holds the other end of every wire: the clients' memif connections and the
 * pair:'s far end ("outside").
 *
 * What it asserts, frame by frame and counter by counter: unicast reaches
 * only its client; broadcast/multicast reach every member of the segment
 * but the source; unknown unicast leaves by the uplink from a client and is
 * filtered from the uplink; a client whose ring is full loses the excess,
 * counted, while another client's frames of the same bursts all arrive; a
 * client sending from a MAC not its own is refused and counted; frames of
 * many bursts arrive in the order they were sent; no packet is lost from
 * the daemon's pool.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <usnet/pkt.h>
#include <usnet/port.h>

#include "../../daemon/forward.h"
#include "../../daemon/usnetd.h"
#include "check.h"

#define NIF	   3
#define FRAME_LEN  60
#define SMALL_LOG2 5 /* client 1's S2C ring: 32 slots */

static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};
static const uint8_t stranger[6] = {0x02, 0x99, 0x00, 0x00, 0x00, 0x01}; /* no client's */
static const uint8_t outsider[6] = {0x02, 0x88, 0x00, 0x00, 0x00, 0x01}; /* beyond the uplink */

static struct usnetd *d;
static struct usnetd_iface_conf fconf[NIF];
static struct usnet_memif_server *srv;
static struct usnet_memif_client *cl[NIF];
static struct usnet_port *outside; /* the far end of the uplink's wire */
static struct usnet_pool *tp;	   /* the test's side: client and outside frames */
static struct usnet_queue_stats qs;

/* usnetd.c's on_up/on_down keep the same two things (and epoll, not needed here). */
static void on_up(void *ctx, struct usnet_memif_conn *c)
{
	struct usnetd_iface *f = c->user;

	(void)ctx;
	f->up = true;
	d->active[d->nactive++] = f;
}

static void on_down(void *ctx, struct usnet_memif_conn *c)
{
	struct usnetd_iface *f = c->user;

	(void)ctx;
	for (unsigned i = 0; i < d->nactive; i++)
		if (d->active[i] == f)
			d->active[i] = d->active[--d->nactive];
	f->up = false;
}

static struct usnet_memif_conn *cconn(int i)
{
	return usnet_memif_client_conn(cl[i]);
}

static struct usnet_pkt *frame(const uint8_t *dst, const uint8_t *src, uint32_t seq)
{
	struct usnet_pkt *p = usnet_pkt_alloc(tp);
	uint8_t *b = p ? usnet_pkt_append(p, FRAME_LEN) : NULL;

	if (!b) { /* the test's pool is sized for every test: a leak in the test */
		fprintf(stderr, "test_forward: the test's pool is empty\n");
		exit(EXIT_FAILURE);
	}
	memset(b, 0, FRAME_LEN);
	memcpy(b, dst, 6);
	memcpy(b + 6, src, 6);
	b[12] = 0x88; /* IEEE 802 local experimental EtherType */
	b[13] = 0xb5;
	memcpy(b + 14, &seq, 4);
	return p;
}

static uint32_t seq_of(const struct usnet_pkt *p)
{
	uint32_t seq;

	memcpy(&seq, usnet_pkt_data(p) + 14, 4);
	return seq;
}

/* Client i sends one frame. */
static void client_send(int i, const uint8_t *dst, const uint8_t *src, uint32_t seq)
{
	struct usnet_pkt *p = frame(dst, src, seq);

	CHECK_EQ(usnet_memif_tx(cconn(i), 0, &p, 1, &qs), 1);
}

static void outside_send(const uint8_t *dst, uint32_t seq)
{
	struct usnet_pkt *p = frame(dst, outsider, seq);

	CHECK_EQ(usnet_tx_burst(outside, 0, &p, 1), 1);
}

/* One turn of usnetd's loop: every source once, then the batches out. */
static unsigned pump(void)
{
	unsigned work = 0;

	for (unsigned i = 0; i < d->nup; i++)
		work += usnetd_poll_uplink(d, &d->up[i]);
	for (unsigned i = 0; i < d->nactive; i++)
		work += usnetd_poll_iface(d, d->active[i]);
	usnetd_flush_all(d);
	return work;
}

/* Turns until nothing moves (bounded): pair: frames may need a turn to cross. */
static void pump_all(void)
{
	for (int idle = 0, k = 0; idle < 3 && k < 1000; k++)
		idle = pump() ? 0 : idle + 1;
}

/* What client i received: up to max sequence numbers, in order; their count. */
static unsigned client_recv(int i, uint32_t *seqs, unsigned max)
{
	struct usnet_pkt *pkts[32];
	unsigned got = 0;
	uint16_t n;

	while ((n = usnet_memif_rx(cconn(i), 0, tp, pkts, 32, &qs)) > 0) {
		for (uint16_t k = 0; k < n; k++) {
			CHECK_EQ(pkts[k]->len, FRAME_LEN);
			if (got < max)
				seqs[got] = seq_of(pkts[k]);
			got++;
		}
		usnet_pkt_free_bulk(pkts, n);
	}
	return got;
}

static unsigned outside_recv(uint32_t *seqs, unsigned max)
{
	struct usnet_pkt *pkts[32];
	unsigned got = 0;

	for (int k = 0; k < 100; k++) { /* a frame on the wire is there at once; bounded anyway */
		uint16_t n = usnet_rx_burst(outside, 0, pkts, 32);

		for (uint16_t j = 0; j < n; j++) {
			if (got < max)
				seqs[got] = seq_of(pkts[j]);
			got++;
		}
		usnet_pkt_free_bulk(pkts, n);
		if (!n)
			break;
	}
	return got;
}

/* Nobody received anything still pending. */
static void nothing_pending(void)
{
	uint32_t s[1];

	for (int i = 0; i < NIF; i++)
		CHECK_EQ(client_recv(i, s, 1), 0);
	CHECK_EQ(outside_recv(s, 1), 0);
}

static void zero_counters(void)
{
	for (int i = 0; i < NIF; i++) {
		struct usnetd_iface *f = &d->ifs[i];

		f->rx_frames = f->rx_bytes = f->tx_frames = f->tx_bytes = 0;
		f->tx_drops = f->src_mac_drops = f->other_drops = 0;
	}
	d->up[0].rx_frames = d->up[0].rx_bytes = d->up[0].rx_flooded = 0;
	d->up[0].rx_filtered = d->up[0].tx_frames = d->up[0].tx_bytes = d->up[0].tx_drops = 0;
}

static void setup(void)
{
	struct usnet_pool_conf pc = {.count = 2048, .name = "fwd-daemon"};
	struct usnet_pool_conf tpc = {.count = 2048, .name = "fwd-test"};
	struct usnet_port_conf portc = {.rx_queues = 1, .tx_queues = 1, .promisc = true};
	char path[64], wire[64];
	struct usnet_memif_server_conf sc = {
	    .path = path, .name = "test_forward", .on_up = on_up, .on_down = on_down};

	snprintf(path, sizeof(path), "@usnet-test-forward-%d", (int)getpid());
	snprintf(wire, sizeof(wire), "pair:fwd%d", (int)getpid());
	d = calloc(1, sizeof(*d));
	d->ifs = calloc(NIF, sizeof(*d->ifs));
	d->swp = calloc(NIF, sizeof(*d->swp));
	CHECK(d && d->ifs && d->swp);
	CHECK(usnet_pool_create(&d->pool, &pc) == 0);
	CHECK(usnet_pool_create(&tp, &tpc) == 0);

	/* The uplink, as usnetd.c's open_uplinks() leaves it. */
	CHECK(usnet_port_open(&d->up[0].port, wire, &portc) == 0);
	CHECK(usnet_port_open(&outside, wire, &portc) == 0);
	d->up[0].idx = 0;
	d->up[0].rxq = 1;
	d->up[0].out.uplink = &d->up[0];
	d->nup = 1;

	/* The interfaces, as setup() leaves them: all on the uplink's segment. */
	CHECK(usnet_memif_server_create(&srv, &sc) == 0);
	usnetd_mactab_init(&d->mactab);
	for (int i = 0; i < NIF; i++) {
		struct usnetd_iface *f = &d->ifs[i];
		struct usnet_memif_client_conf cc = {
		    .path = path, .id = (uint32_t)i, .log2_s2c = i == 1 ? SMALL_LOG2 : 0};

		fconf[i].id = (uint32_t)i;
		usnetd_mac_derive((const uint8_t[2]){0x02, 0x00}, (uint32_t)i + 1, fconf[i].mac);
		f->conf = &fconf[i];
		f->idx = (unsigned)i;
		f->out.iface = f;
		f->cache.dst = USNETD_SW_CACHE_NONE;
		f->uplink = &d->up[0];
		d->swp[i].mac = usnetd_mac_key(fconf[i].mac);
		d->swp[i].segment = 0;
		CHECK(usnetd_mactab_add(&d->mactab, fconf[i].mac, i) == 0);
		CHECK(usnet_memif_server_add(srv, &f->conn, (uint32_t)i, NULL, 1, 1, f) == 0);
		CHECK(usnet_memif_client_create(&cl[i], &cc) == 0);
	}
	for (int k = 0; k < 2000; k++) {
		bool up = d->nactive == NIF;

		usnet_memif_server_poll(srv);
		for (int i = 0; i < NIF; i++) {
			usnet_memif_client_poll(cl[i]);
			up &= usnet_memif_up(cconn(i));
		}
		if (up)
			break;
		usleep(500);
	}
	CHECK_EQ(d->nactive, NIF);
	for (int i = 0; i < NIF; i++)
		CHECK(usnet_memif_up(cconn(i)) && d->ifs[i].up);
}

static const uint8_t *mac(int i)
{
	return fconf[i].mac;
}

static void test_unicast(void)
{
	uint32_t s[4];

	zero_counters();
	/* From outside to client 1: it alone gets it. */
	outside_send(mac(1), 7);
	pump_all();
	CHECK_EQ(client_recv(1, s, 4), 1);
	CHECK_EQ(s[0], 7);
	CHECK_EQ(client_recv(0, s, 4), 0);
	CHECK_EQ(client_recv(2, s, 4), 0);
	CHECK_EQ(d->up[0].rx_frames, 1);
	CHECK_EQ(d->up[0].rx_bytes, FRAME_LEN);
	CHECK_EQ(d->ifs[1].tx_frames, 1);
	CHECK_EQ(d->ifs[1].tx_bytes, FRAME_LEN);
	CHECK_EQ(d->ifs[0].tx_frames + d->ifs[2].tx_frames, 0);

	/* From client 0 to client 2: not to the uplink, not back to 0. */
	client_send(0, mac(2), mac(0), 8);
	pump_all();
	CHECK_EQ(client_recv(2, s, 4), 1);
	CHECK_EQ(s[0], 8);
	CHECK_EQ(d->ifs[0].rx_frames, 1);
	CHECK_EQ(d->ifs[0].rx_bytes, FRAME_LEN);
	CHECK_EQ(d->ifs[2].tx_frames, 1);
	CHECK_EQ(d->up[0].tx_frames, 0);
	nothing_pending();

	/* To itself: a switch does not hairpin; counted as another drop. */
	client_send(0, mac(0), mac(0), 9);
	pump_all();
	CHECK_EQ(d->ifs[0].other_drops, 1);
	CHECK_EQ(d->ifs[0].tx_frames, 0);
	nothing_pending();
}

static void test_flood(void)
{
	uint32_t s[4];

	zero_counters();
	/* Broadcast from client 0: clients 1 and 2 and the uplink, not client 0. */
	client_send(0, bcast, mac(0), 20);
	pump_all();
	CHECK_EQ(client_recv(0, s, 4), 0);
	CHECK_EQ(client_recv(1, s, 4), 1);
	CHECK_EQ(s[0], 20);
	CHECK_EQ(client_recv(2, s, 4), 1);
	CHECK_EQ(s[0], 20);
	CHECK_EQ(outside_recv(s, 4), 1);
	CHECK_EQ(s[0], 20);
	CHECK_EQ(d->ifs[0].rx_frames, 1);
	CHECK_EQ(d->ifs[0].tx_frames, 0);
	CHECK_EQ(d->ifs[1].tx_frames, 1);
	CHECK_EQ(d->ifs[2].tx_frames, 1);
	CHECK_EQ(d->up[0].tx_frames, 1);
	CHECK_EQ(d->up[0].tx_bytes, FRAME_LEN);

	/* Multicast from outside: every client, nothing back to the uplink. */
	outside_send(mcast, 21);
	pump_all();
	for (int i = 0; i < NIF; i++) {
		CHECK_EQ(client_recv(i, s, 4), 1);
		CHECK_EQ(s[0], 21);
		CHECK_EQ(d->ifs[i].tx_frames, i ? 2 : 1);
	}
	CHECK_EQ(outside_recv(s, 4), 0);
	CHECK_EQ(d->up[0].rx_frames, 1);
	CHECK_EQ(d->up[0].rx_flooded, 1);
	CHECK_EQ(d->up[0].tx_frames, 1);
	nothing_pending();
}

static void test_unknown_unicast(void)
{
	uint32_t s[4];

	zero_counters();
	/* From a client: out by the uplink, to no other client. */
	client_send(2, stranger, mac(2), 30);
	pump_all();
	CHECK_EQ(outside_recv(s, 4), 1);
	CHECK_EQ(s[0], 30);
	CHECK_EQ(client_recv(0, s, 4) + client_recv(1, s, 4), 0);
	CHECK_EQ(d->up[0].tx_frames, 1);

	/* From outside: for none of ours (a promiscuous uplink): filtered. */
	outside_send(stranger, 31);
	pump_all();
	CHECK_EQ(d->up[0].rx_frames, 1);
	CHECK_EQ(d->up[0].rx_filtered, 1);
	for (int i = 0; i < NIF; i++)
		CHECK_EQ(d->ifs[i].tx_frames, 0);
	nothing_pending();
}

static void test_spoofed_source(void)
{
	zero_counters();
	/* Client 0 claims client 1's MAC, then a stranger's: refused, counted, nowhere. */
	client_send(0, mac(2), mac(1), 40);
	client_send(0, bcast, stranger, 41);
	pump_all();
	CHECK_EQ(d->ifs[0].rx_frames, 2);
	CHECK_EQ(d->ifs[0].src_mac_drops, 2);
	for (int i = 0; i < NIF; i++)
		CHECK_EQ(d->ifs[i].tx_frames, 0);
	CHECK_EQ(d->up[0].tx_frames, 0);
	nothing_pending();
}

/*
 * Client 1 does not read; its ring (32 slots) fills. Frames for client 2,
 * interleaved with them in the same bursts, all arrive; client 1's excess
 * is dropped and counted, and what it got is what was counted as sent.
 */
static void test_full_ring(void)
{
	enum { N = 100 };
	uint32_t s1[N], s2[N];
	unsigned got1, got2;

	zero_counters();
	for (uint32_t k = 0; k < N; k++) {
		outside_send(mac(1), 1000 + k);
		outside_send(mac(2), 2000 + k);
		if (k % 16 == 15)
			pump_all(); /* client 2 reads only at the end: its ring holds 1024 */
	}
	pump_all();
	got1 = client_recv(1, s1, N);
	got2 = client_recv(2, s2, N);
	CHECK_EQ(got2, N);
	for (unsigned k = 0; k < got2 && k < N; k++)
		CHECK_EQ(s2[k], 2000 + k);
	CHECK_EQ(d->ifs[2].tx_frames, N);
	CHECK_EQ(d->ifs[2].tx_drops, 0);
	CHECK(got1 > 0 && got1 < N);
	CHECK(got1 <= 1u << SMALL_LOG2);
	CHECK_EQ(d->ifs[1].tx_frames, got1);
	CHECK_EQ(d->ifs[1].tx_bytes, (uint64_t)got1 * FRAME_LEN);
	CHECK_EQ(d->ifs[1].tx_drops, N - got1);
	for (unsigned k = 0; k < got1 && k < N; k++)
		CHECK_EQ(s1[k], 1000 + k); /* the first ones, in order: the rest were dropped */
	CHECK_EQ(d->up[0].rx_frames, 2 * N);
	CHECK_EQ(d->up[0].rx_filtered, 0);

	/* Read, client 1 takes frames again. */
	outside_send(mac(1), 3000);
	pump_all();
	CHECK_EQ(client_recv(1, s1, N), 1);
	CHECK_EQ(s1[0], 3000);
	CHECK_EQ(d->ifs[1].tx_frames, got1 + 1);
	nothing_pending();
}

/*
 * 300 frames from client 0 (about ten bursts of USNETD_BATCH), alternately
 * to client 2 and out by the uplink: each destination gets its own in the
 * order sent, and every counter adds up.
 */
static void test_order_across_bursts(void)
{
	enum { N = 300 };
	static uint32_t s2[N], su[N];
	unsigned got2, gotu;

	zero_counters();
	for (uint32_t k = 0; k < N; k++)
		client_send(0, k % 2 ? stranger : mac(2), mac(0), k);
	for (int k = 0; k < 1000 && d->ifs[0].rx_frames < N; k++)
		CHECK(pump() <= USNETD_BATCH); /* one burst per turn, at most a batch */
	pump_all();
	CHECK_EQ(d->nflush, 0);
	got2 = client_recv(2, s2, N);
	gotu = outside_recv(su, N);
	CHECK_EQ(got2, N / 2);
	CHECK_EQ(gotu, N / 2);
	for (unsigned k = 0; k < N / 2; k++) {
		CHECK_EQ(s2[k], 2 * k);
		CHECK_EQ(su[k], 2 * k + 1);
	}
	CHECK_EQ(d->ifs[0].rx_frames, N);
	CHECK_EQ(d->ifs[0].rx_bytes, (uint64_t)N * FRAME_LEN);
	CHECK_EQ(d->ifs[2].tx_frames, N / 2);
	CHECK_EQ(d->ifs[2].tx_bytes, (uint64_t)N / 2 * FRAME_LEN);
	CHECK_EQ(d->up[0].tx_frames, N / 2);
	CHECK_EQ(d->up[0].tx_bytes, (uint64_t)N / 2 * FRAME_LEN);
	CHECK_EQ(d->ifs[2].tx_drops + d->up[0].tx_drops, 0);
	CHECK_EQ(d->ifs[0].other_drops + d->ifs[0].src_mac_drops, 0);
	nothing_pending();
}

/* A client that left: frames for it are dropped and counted, not queued. */
static void test_client_gone(void)
{
	uint32_t s[4];

	zero_counters();
	usnet_memif_client_destroy(cl[2]);
	cl[2] = NULL;
	for (int k = 0; k < 100 && d->ifs[2].up; k++) {
		usnet_memif_server_poll(srv);
		usleep(1000);
	}
	CHECK(!d->ifs[2].up);
	CHECK_EQ(d->nactive, NIF - 1);
	client_send(0, mac(2), mac(0), 50);
	client_send(0, bcast, mac(0), 51);
	pump_all();
	CHECK_EQ(d->ifs[2].tx_frames, 0);
	CHECK_EQ(d->ifs[2].tx_drops, 1); /* the unicast; a flood skips it */
	CHECK_EQ(client_recv(1, s, 4), 1);
	CHECK_EQ(s[0], 51);
	CHECK_EQ(outside_recv(s, 4), 1);
	CHECK_EQ(s[0], 51);
	CHECK(!d->ctl_due);
}

static void teardown(void)
{
	struct usnet_pool_stats ps;

	for (int i = 0; i < NIF; i++)
		if (cl[i])
			usnet_memif_client_destroy(cl[i]);
	usnet_memif_server_destroy(srv);
	usnet_tx_burst(d->up[0].port, 0, NULL, 0); /* reclaim what the wire handed back */
	usnet_port_close(outside);
	usnet_port_close(d->up[0].port);
	usnet_pool_get_stats(d->pool, &ps);
	CHECK_EQ(ps.available, ps.count); /* every frame the daemon took, it gave back */
	usnet_pool_destroy(d->pool);
	usnet_pool_destroy(tp);
	free(d->ifs);
	free(d->swp);
	free(d);
}

int main(void)
{
	setup();
	test_unicast();
	test_flood();
	test_unknown_unicast();
	test_spoofed_source();
	test_full_ring();
	test_order_across_bursts();
	test_client_gone();
	teardown();
	return check_done("test_forward");
}
