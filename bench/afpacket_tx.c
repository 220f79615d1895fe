/* SPDX-License-Identifier: MIT */
/*
 * afpacket_tx — the afpacket: port's TX methods and RX retire latency,
 * measured on a veth pair (run it inside a namespace that has one).
 *
 *   afpacket_tx rate [-t SECS] [-s SIZE] [-b BURST] [-c CPU] [-p PEER] SPEC
 *	Send SIZE-byte UDP frames (60: 64 B on a wire with the FCS) on SPEC
 *	as fast as the port takes them, for SECS seconds after a 0.5 s
 *	warm-up. Prints the rate the port took frames at and, with -p, the
 *	rate the peer interface counted them arriving
 *	(/sys/class/net/PEER/statistics/rx_packets): the frames actually sent.
 *	Also the CPU time the process used per frame sent (the veth's
 *	receive side runs in the sender's context, so it is included), which
 *	other load on the machine moves much less than the rates.
 *
 *   afpacket_tx rx [-t SECS] [-c CPU] SPEC
 *	Receive on SPEC for SECS seconds (start the sender first); prints the
 *	rate rx_burst delivered frames at and what the port counted dropped.
 *
 *   afpacket_tx lat [-n COUNT] [-w] [-c CPU] TXSPEC RXSPEC
 *	One frame at a time from TXSPEC to RXSPEC, at random moments 0-3 ms
 *	apart; prints the one-way latency (send to rx_burst returning it).
 *	The receiver busy-polls, or with -w sleeps in usnet_port_wait().
 *
 * A benchmark, not a test: numbers depend on the machine and its load.
 */
#define _GNU_SOURCE /* sched_setaffinity */
#include <arpa/inet.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/time.h>

static int pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set)) {
		perror("sched_setaffinity");
		return -1;
	}
	return 0;
}

static long long read_counter(const char *ifname)
{
	char path[256];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/class/net/%s/statistics/rx_packets", ifname);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	fclose(f);
	return v;
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void build(uint8_t *buf, size_t room, const uint8_t *src_mac, uint16_t size)
{
	struct usnet_udp4_flow flow = {
		.dst_mac = {0x02, 0, 0, 0, 0, 0x01}, /* no one's: the peer drops it */
		.src_ip = 0xc6120101,
		.dst_ip = 0xc6120102,
		.sport = 1000,
		.dport = 2000,
	};

	memcpy(flow.src_mac, src_mac, 6);
	usnet_udp4_build(buf, room, &flow, size, NULL, 0);
}

static int cmd_rate(int argc, char **argv)
{
	double secs = 3;
	uint16_t size = 60, burst = 32;
	const char *peer = NULL;
	int cpu = -1, opt;
	struct usnet_port *port;
	struct usnet_pool *pool;
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	struct usnet_queue_stats st0, st1;
	uint8_t tmpl[2048];
	uint16_t held = 0;
	uint64_t t0, t1, end, c0 = 0, c1;
	long long rx0 = -1, rx1 = -1;

	while ((opt = getopt(argc, argv, "t:s:b:c:p:")) != -1) {
		switch (opt) {
		case 't':
			secs = atof(optarg);
			break;
		case 's':
			size = (uint16_t)atoi(optarg);
			break;
		case 'b':
			burst = (uint16_t)atoi(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'p':
			peer = optarg;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 1 || size < 60 || size > 1514 || !burst || burst > USNET_MAX_BURST) {
		fprintf(stderr, "usage: afpacket_tx rate [-t S] [-s 60..1514] [-b BURST] [-c CPU] "
				"[-p PEER] SPEC\n");
		return 2;
	}
	if (pin(cpu))
		return 1;
	if (usnet_port_open(&port, argv[optind], NULL)) {
		fprintf(stderr, "%s\n", usnet_last_error());
		return 1;
	}
	pool = usnet_port_pool(port, 0);
	build(tmpl, sizeof(tmpl), usnet_port_info(port)->mac, size);

	/* Warm-up, then the measured interval. Frames the port did not take
	 * stay in hand and go first in the next burst, as in a real sender. */
	t0 = usnet_now_ns();
	end = t0 + (uint64_t)((secs + 0.5) * 1e9);
	for (int phase = 0; phase < 2; phase++) {
		uint64_t stop = phase ? end : t0 + USNET_NSEC_PER_SEC / 2;
		uint32_t iter = 0;

		if (phase) {
			usnet_port_stats(port, 0, &st0);
			rx0 = peer ? read_counter(peer) : -1;
			t0 = usnet_now_ns();
			c0 = cpu_ns();
		}
		for (;;) {
			uint16_t sent;

			if ((++iter & 63) == 0 && usnet_now_ns() >= stop)
				break;
			held = (uint16_t)(held + usnet_pool_alloc_bulk(pool, pkts + held,
								       (uint32_t)(burst - held)));
			for (uint16_t i = 0; i < held; i++) {
				if (pkts[i]->len != size) {
					memcpy(usnet_pkt_data(pkts[i]), tmpl, size);
					pkts[i]->len = size;
				}
			}
			sent = usnet_tx_burst(port, 0, pkts, held);
			memmove(pkts, pkts + sent, (size_t)(held - sent) * sizeof(pkts[0]));
			held = (uint16_t)(held - sent);
		}
	}
	t1 = usnet_now_ns();
	c1 = cpu_ns();
	usnet_port_stats(port, 0, &st1);
	/* Let the last frames land before reading the peer's counter. */
	usleep(50000);
	rx1 = peer ? read_counter(peer) : -1;
	{
		double dt = (double)(t1 - t0) / 1e9;
		double took = (double)(st1.tx_packets - st0.tx_packets) / dt / 1e6;
		double got = rx0 >= 0 && rx1 >= 0 ? (double)(rx1 - rx0) / dt / 1e6 : -1;
		double frames = (double)(st1.tx_packets - st0.tx_packets);

		printf("%-40s size %4u burst %3u  took %7.3f Mpps  delivered %7.3f Mpps "
		       "(%6.2f Gb/s)  cpu %6.1f ns/frame  tx_full %llu tx_errors %llu\n",
		       argv[optind], size, burst, took, got, got * size * 8 / 1e3,
		       frames ? (double)(c1 - c0) / frames : 0,
		       (unsigned long long)(st1.tx_full - st0.tx_full),
		       (unsigned long long)(st1.tx_errors - st0.tx_errors));
	}
	usnet_pkt_free_bulk(pkts, held);
	usnet_port_close(port);
	return 0;
}

static int cmd_rx(int argc, char **argv)
{
	double secs = 3;
	int cpu = -1, opt;
	struct usnet_port *port;
	struct usnet_pkt *pkts[64];
	struct usnet_queue_stats st0, st1;
	uint64_t t0, t1, end, c0, c1;

	while ((opt = getopt(argc, argv, "t:c:")) != -1) {
		switch (opt) {
		case 't':
			secs = atof(optarg);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "usage: afpacket_tx rx [-t S] [-c CPU] SPEC\n");
		return 2;
	}
	if (pin(cpu))
		return 1;
	if (usnet_port_open(&port, argv[optind], NULL)) {
		fprintf(stderr, "%s\n", usnet_last_error());
		return 1;
	}
	/* Drain what is there, then count. */
	end = usnet_now_ns() + USNET_NSEC_PER_SEC / 2;
	while (usnet_now_ns() < end)
		usnet_pkt_free_bulk(pkts, usnet_rx_burst(port, 0, pkts, 64));
	usnet_port_arm(port, 0); /* collects the drop count so far */
	usnet_port_stats(port, 0, &st0);
	t0 = usnet_now_ns();
	c0 = cpu_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	for (uint32_t iter = 0;; iter++) {
		if ((iter & 63) == 0 && usnet_now_ns() >= end)
			break;
		usnet_pkt_free_bulk(pkts, usnet_rx_burst(port, 0, pkts, 64));
	}
	t1 = usnet_now_ns();
	c1 = cpu_ns();
	usnet_port_arm(port, 0);
	usnet_port_stats(port, 0, &st1);
	{
		double dt = (double)(t1 - t0) / 1e9;

		double frames = (double)(st1.rx_packets - st0.rx_packets);

		printf("%-40s received %7.3f Mpps  dropped %7.3f Mpps  cpu %.0f%% of a core, "
		       "%.1f ns/frame  (rx_nobuf %llu rx_errors %llu)\n",
		       argv[optind], frames / dt / 1e6,
		       (double)(st1.rx_dropped - st0.rx_dropped) / dt / 1e6,
		       100.0 * (double)(c1 - c0) / (double)(t1 - t0),
		       frames ? (double)(c1 - c0) / frames : 0,
		       (unsigned long long)(st1.rx_nobuf - st0.rx_nobuf),
		       (unsigned long long)(st1.rx_errors - st0.rx_errors));
	}
	usnet_port_close(port);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int cmd_lat(int argc, char **argv)
{
	uint32_t count = 500, lost = 0, got = 0;
	bool wait = false;
	int cpu = -1, opt;
	struct usnet_port *tx, *rx;
	uint64_t *lat, sum = 0;
	uint8_t tmpl[2048];

	while ((opt = getopt(argc, argv, "n:wc:")) != -1) {
		switch (opt) {
		case 'n':
			count = (uint32_t)atoi(optarg);
			break;
		case 'w':
			wait = true;
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 2 || !count) {
		fprintf(stderr, "usage: afpacket_tx lat [-n COUNT] [-w] [-c CPU] TXSPEC RXSPEC\n");
		return 2;
	}
	if (pin(cpu))
		return 1;
	if (usnet_port_open(&tx, argv[optind], NULL) ||
	    usnet_port_open(&rx, argv[optind + 1], NULL)) {
		fprintf(stderr, "%s\n", usnet_last_error());
		return 1;
	}
	lat = calloc(count, sizeof(*lat));
	if (!lat)
		return 1;
	build(tmpl, sizeof(tmpl), usnet_port_info(tx)->mac, 60);
	srand(1);
	for (uint32_t i = 0; i < count; i++) {
		struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(tx, 0)), *in[8];
		uint64_t t0, deadline;
		bool seen = false;

		usleep((useconds_t)(rand() % 3000));
		if (!p)
			break;
		memcpy(usnet_pkt_data(p), tmpl, 60);
		p->len = 60;
		t0 = usnet_now_ns();
		if (!usnet_tx_burst(tx, 0, &p, 1)) {
			usnet_pkt_free(p);
			lost++;
			continue;
		}
		deadline = t0 + 100 * 1000 * 1000ull;
		while (!seen && usnet_now_ns() < deadline) {
			uint16_t n = usnet_rx_burst(rx, 0, in, 8);

			if (n) {
				lat[got++] = usnet_now_ns() - t0;
				seen = true;
				usnet_pkt_free_bulk(in, n);
			} else if (wait) {
				usnet_port_wait(rx, 0, 100);
			}
		}
		lost += !seen;
	}
	qsort(lat, got, sizeof(*lat), cmp_u64);
	for (uint32_t i = 0; i < got; i++)
		sum += lat[i];
	if (got)
		printf("%-36s %s  n %u lost %u  one-way us: min %.1f avg %.1f p50 %.1f p99 %.1f "
		       "max %.1f\n",
		       argv[optind + 1], wait ? "wait" : "spin", got, lost, lat[0] / 1e3,
		       (double)sum / got / 1e3, lat[got / 2] / 1e3, lat[got * 99 / 100] / 1e3,
		       lat[got - 1] / 1e3);
	free(lat);
	usnet_port_close(rx);
	usnet_port_close(tx);
	return got ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "rate"))
		return cmd_rate(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "rx"))
		return cmd_rx(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "lat"))
		return cmd_lat(argc - 1, argv + 1);
	fprintf(stderr, "usage: afpacket_tx rate ... | rx ... | lat ...  (see the source)\n");
	return 2;
}
