/* SPDX-License-Identifier: MIT */
/*
 * memif_cost: the instructions one frame costs on each side of a memif
 * ring, measured without a second core.
 *
 * A memif: server port and a memif: client port in one process. A helper
 * thread serves the server's handshake while the client opens; from then on
 * one thread alternates: the client sends a burst of -b frames of -s bytes
 * (usnet_tx_burst: the client's copy into its C2S ring), the server receives
 * it (usnet_rx_burst: the server's descriptor checks and copy out). Every
 * burst is full and no call finds the ring empty, so under
 *
 *   valgrind --tool=callgrind --toggle-collect=usnet_memif_tx  memif_cost -n 1e6
 *   valgrind --tool=callgrind --toggle-collect=usnet_memif_rx  memif_cost -n 1e6
 *
 * the total divided by the frame count is the per-frame cost of each side,
 * the same number on a busy and on an idle machine (the two-core benchmarks
 * count idle polls and full-ring spins too). Every received frame is
 * checked (length, sequence number in its first 8 bytes), so a broken
 * path cannot post a number.
 *
 *   memif_cost [-n FRAMES] [-s SIZE] [-b BURST]
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <usnet/usnet.h>

static _Atomic bool serving = true;

static void *serve(void *arg)
{
	struct usnet_port *srv = arg;
	struct usnet_pkt *pkts[32];

	while (atomic_load(&serving)) {
		uint16_t n = usnet_rx_burst(srv, 0, pkts, 32);

		usnet_pkt_free_bulk(pkts, n);
		usleep(100);
	}
	return NULL;
}

static long number(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (*s == '\0' || *end != '\0' || v < 1 || v > 1e10) {
		fprintf(stderr, "memif_cost: bad number '%s'\n", s);
		exit(2);
	}
	return (long)v;
}

int main(int argc, char **argv)
{
	long frames = 1000000, size = 64, burst = 32, sent = 0, bad = 0;
	char spec[128], path[64];
	struct usnet_port *srv, *cli;
	struct usnet_link link = {0};
	pthread_t t;
	int c;

	while ((c = getopt(argc, argv, "n:s:b:")) != -1) {
		switch (c) {
		case 'n':
			frames = number(optarg);
			break;
		case 's':
			size = number(optarg);
			break;
		case 'b':
			burst = number(optarg);
			break;
		default:
			fprintf(stderr, "usage: memif_cost [-n FRAMES] [-s SIZE] [-b BURST<=32]\n");
			return 2;
		}
	}
	if (size < 8 || size > 1500 || burst > 32) {
		fprintf(stderr, "memif_cost: SIZE 8..1500, BURST 1..32\n");
		return 2;
	}
	snprintf(path, sizeof(path), "@usnet-memif-cost-%d", (int)getpid());
	snprintf(spec, sizeof(spec), "memif:%s,role=server", path);
	if (usnet_port_open(&srv, spec, NULL)) {
		fprintf(stderr, "memif_cost: %s: %s\n", spec, usnet_last_error());
		return 1;
	}
	pthread_create(&t, NULL, serve, srv);
	snprintf(spec, sizeof(spec), "memif:%s", path);
	if (usnet_port_open(&cli, spec, NULL)) {
		fprintf(stderr, "memif_cost: %s: %s\n", spec, usnet_last_error());
		return 1;
	}
	for (int i = 0; i < 5000 && !link.up; i++) {
		struct usnet_link cl = {0};

		usnet_port_link(cli, &cl); /* drives the client's handshake */
		usnet_port_link(srv, &link);
		link.up = link.up && cl.up;
		usleep(1000);
	}
	atomic_store(&serving, false);
	pthread_join(t, NULL);
	if (!link.up) {
		fprintf(stderr, "memif_cost: no link\n");
		return 1;
	}

	struct usnet_pool *pool = usnet_port_pool(cli, 0);
	long received = 0;

	while (received < frames) {
		struct usnet_pkt *pkts[32];
		long want = frames - sent < burst ? frames - sent : burst;
		uint32_t n = usnet_pool_alloc_bulk(pool, pkts, (uint32_t)want);
		uint16_t got;

		for (uint32_t i = 0; i < n; i++) {
			uint64_t seq = (uint64_t)(sent + i);
			uint8_t *d = usnet_pkt_append(pkts[i], (uint16_t)size);

			memset(d, 0, (size_t)size);
			memcpy(d, &seq, sizeof(seq));
		}
		got = usnet_tx_burst(cli, 0, pkts, (uint16_t)n);
		usnet_pkt_free_bulk(pkts + got, n - got);
		sent += got;
		got = usnet_rx_burst(srv, 0, pkts, 32);
		for (uint16_t i = 0; i < got; i++) {
			uint64_t seq;

			memcpy(&seq, usnet_pkt_data(pkts[i]), sizeof(seq));
			bad += pkts[i]->len != size || seq != (uint64_t)(received + i);
		}
		usnet_pkt_free_bulk(pkts, got);
		received += got;
		if (!got && !n) {
			fprintf(stderr, "memif_cost: stuck after %ld frames\n", received);
			return 1;
		}
	}
	printf("memif_cost: %ld frames of %ld bytes, bursts of %ld, %ld bad\n", received, size,
	       burst, bad);
	usnet_port_close(cli);
	usnet_port_close(srv);
	return bad ? 1 : 0;
}
