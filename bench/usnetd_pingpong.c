/* SPDX-License-Identifier: MIT */
/*
 * usnetd_pingpong: round trips client -> usnetd -> client, one frame in
 * flight (bench/usnetd_latency.sh runs it; bench/README.md, "usnetd").
 *
 *   usnetd_pingpong -s SOCK [-a ID] [-b ID] [-n COUNT] [-w WARMUP] [-m busy|sleep]
 *                   [-i INTERVAL_US] [-l LEN] [-c CPU] [--json]
 *   usnetd_pingpong --floor CPU [-n COUNT] [-i INTERVAL_US] [-c CPU] [--json]
 *
 * One thread holds two memif: clients of usnetd, A (id -a, default 1) and
 * B (id -b, default 2), with usnetd's derived MACs (02:75 + the id). Each
 * round trip: A sends a frame to B's MAC; when it arrives on B, B sends it
 * back to A's MAC; the time from A's tx_burst to the frame back on A is one
 * sample, so it contains two passes through usnetd and two receptions.
 * One thread for both ends keeps the clients from competing for a core on
 * a 2-CPU machine (usnetd owns the other one).
 *
 * -m busy   the thread spins on rx_burst while it waits
 * -m sleep  it sleeps in usnet_port_wait() (arm + epoll) until the frame
 *           is there, as an idle application would
 * -i US     pause between round trips (nanosleep): with more than usnetd's
 *           spin time, usnetd is asleep when each frame arrives, so the
 *           samples include its wake-up
 *
 * --floor CPU measures the machine's own cost of waking a thread that sleeps
 * in epoll_wait() on CPU (no usnetd involved): the reference for usnetd's
 * wake-up on the same machine at the same time.
 *
 * Prints min/p50/p90/p99/p99.9/max in microseconds, the A->B half (tx on
 * A to the frame read on B) as p50/p99, and the frames lost (no answer
 * within 1 s). Exit 0, or 1 if a frame was lost or wrong.
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/time.h>

#define LOST_NS USNET_NSEC_PER_SEC

static bool sleep_mode;

static void mac_of(uint32_t id, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x75;
	mac[2] = (uint8_t)(id >> 24);
	mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8);
	mac[5] = (uint8_t)id;
}

/* The next frame on port, within 1 s; NULL if none. */
static struct usnet_pkt *wait_one(struct usnet_port *port)
{
	uint64_t end = usnet_now_ns() + LOST_NS;
	struct usnet_pkt *p;

	for (unsigned spins = 1;; spins++) {
		if (usnet_rx_burst(port, 0, &p, 1) == 1)
			return p;
		if (sleep_mode) {
			if (usnet_port_wait(port, 0, 100) < 0 || usnet_now_ns() > end)
				return usnet_rx_burst(port, 0, &p, 1) ? p : NULL;
		} else if (spins % 1024 == 0 && usnet_now_ns() > end) {
			return NULL;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return (double)v[i < n ? i : n - 1] / 1000.0;
}

static bool wait_links(struct usnet_port *a, struct usnet_port *b)
{
	uint64_t end = usnet_now_ns() + 5 * USNET_NSEC_PER_SEC;

	while (usnet_now_ns() < end) {
		struct usnet_link la = {0}, lb = {0};
		struct usnet_pkt *p[32];

		usnet_pkt_free_bulk(p, usnet_rx_burst(a, 0, p, 32));
		usnet_pkt_free_bulk(p, usnet_rx_burst(b, 0, p, 32));
		usnet_port_link(a, &la);
		usnet_port_link(b, &lb);
		if (la.up && lb.up)
			return true;
		usnet_port_wait(a, 0, 1);
	}
	return false;
}

/*
 * --floor CPU: what waking a thread sleeping in epoll_wait() on an eventfd
 * costs on this machine, without usnetd: a thread pinned to CPU sleeps,
 * the main thread writes the eventfd every interval and times until the
 * sleeper runs. The same-run reference for usnetd's wake-up.
 */
static int floor_efd, floor_ep;
static _Atomic uint64_t floor_woke;
static _Atomic bool floor_stop;

static void *floor_sleeper(void *arg)
{
	int cpu = *(int *)arg;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
	while (!atomic_load(&floor_stop)) {
		struct epoll_event ev;
		uint64_t x;

		if (epoll_wait(floor_ep, &ev, 1, 100) == 1) {
			atomic_store(&floor_woke, usnet_now_ns());
			if (read(floor_efd, &x, sizeof(x)) < 0)
				continue;
		}
	}
	return NULL;
}

static int run_floor(int cpu, unsigned long n, unsigned long interval_us, bool json)
{
	struct epoll_event ev = {.events = EPOLLIN};
	uint64_t *v = calloc(n, sizeof(*v));
	pthread_t th;

	floor_efd = eventfd(0, EFD_NONBLOCK);
	floor_ep = epoll_create1(0);
	if (!v || floor_efd < 0 || floor_ep < 0 ||
	    epoll_ctl(floor_ep, EPOLL_CTL_ADD, floor_efd, &ev) < 0 ||
	    pthread_create(&th, NULL, floor_sleeper, &cpu)) {
		perror("usnetd_pingpong: floor");
		return 2;
	}
	for (unsigned long i = 0; i < n; i++) {
		struct timespec ts = {.tv_sec = (time_t)(interval_us / 1000000),
				      .tv_nsec = (long)(interval_us % 1000000) * 1000};
		uint64_t t0, one = 1, end;

		nanosleep(&ts, NULL);
		atomic_store(&floor_woke, 0);
		t0 = usnet_now_ns();
		end = t0 + LOST_NS;
		if (write(floor_efd, &one, sizeof(one)) < 0)
			return 2;
		while (!atomic_load(&floor_woke) && usnet_now_ns() < end)
			;
		v[i] = atomic_load(&floor_woke) ? atomic_load(&floor_woke) - t0 : LOST_NS;
	}
	atomic_store(&floor_stop, true);
	pthread_join(th, NULL);
	qsort(v, n, sizeof(*v), cmp_u64);
	if (json)
		printf("{\"mode\":\"floor\",\"interval_us\":%lu,\"samples\":%lu,\"p50_us\":%.2f,"
		       "\"p90_us\":%.2f,\"p99_us\":%.2f}\n",
		       interval_us, n, pct(v, n, 50), pct(v, n, 90), pct(v, n, 99));
	else
		printf(
		    "epoll wake-up of a thread on cpu %d, %lu us apart, %lu samples: us p50 %.2f "
		    "p90 %.2f p99 %.2f\n",
		    cpu, interval_us, n, pct(v, n, 50), pct(v, n, 90), pct(v, n, 99));
	free(v);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'J'},
	    {"floor", required_argument, NULL, 'F'},
	    {NULL, 0, NULL, 0},
	};
	int floor_cpu = -1;
	const char *sock = NULL;
	uint32_t ida = 1, idb = 2, len = 64;
	unsigned long n = 10000, warm = 1000, interval_us = 0;
	int cpu = -1, opt;
	bool json = false;
	struct usnet_port *a, *b;
	uint8_t ma[6], mb[6];
	char spec[256];
	uint64_t *rtt, *fwd, lost = 0, bad = 0;
	size_t k = 0;

	while ((opt = getopt_long(argc, argv, "s:a:b:n:w:m:i:l:c:", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'a':
			ida = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'b':
			idb = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'n':
			n = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			warm = strtoul(optarg, NULL, 0);
			break;
		case 'm':
			sleep_mode = !strcmp(optarg, "sleep");
			break;
		case 'i':
			interval_us = strtoul(optarg, NULL, 0);
			break;
		case 'l':
			len = (uint32_t)strtoul(optarg, NULL, 0);
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'J':
			json = true;
			break;
		case 'F':
			floor_cpu = atoi(optarg);
			break;
		default:
			fprintf(stderr,
				"usage: %s -s SOCK [-a ID] [-b ID] [-n N] [-w N] [-m busy|sleep] "
				"[-i US] [-l LEN] [-c CPU] [--json]\n",
				argv[0]);
			return 2;
		}
	}
	if (floor_cpu >= 0) {
		if (cpu >= 0) {
			cpu_set_t set;

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			sched_setaffinity(0, sizeof(set), &set);
		}
		return run_floor(floor_cpu, n, interval_us ? interval_us : 10000, json);
	}
	if (!sock || !n || len < 60 || len > 1514) {
		fprintf(stderr, "usnetd_pingpong: -s SOCK is required; -n > 0; -l 60..1514\n");
		return 2;
	}
	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		if (sched_setaffinity(0, sizeof(set), &set)) {
			perror("usnetd_pingpong: sched_setaffinity");
			return 2;
		}
	}
	mac_of(ida, ma);
	mac_of(idb, mb);
	snprintf(spec, sizeof(spec), "memif:%s,id=%u", sock, ida);
	if (usnet_port_open(&a, spec, NULL)) {
		fprintf(stderr, "usnetd_pingpong: %s: %s\n", spec, usnet_last_error());
		return 2;
	}
	snprintf(spec, sizeof(spec), "memif:%s,id=%u", sock, idb);
	if (usnet_port_open(&b, spec, NULL)) {
		fprintf(stderr, "usnetd_pingpong: %s: %s\n", spec, usnet_last_error());
		return 2;
	}
	rtt = calloc(n, sizeof(*rtt));
	fwd = calloc(n, sizeof(*fwd));
	if (!rtt || !fwd || !wait_links(a, b)) {
		fprintf(stderr,
			"usnetd_pingpong: links not up (is usnetd serving ids %u and %u?)\n", ida,
			idb);
		return 2;
	}
	for (unsigned long i = 0; i < warm + n; i++) {
		struct usnet_udp4_flow fl = {
		    .src_ip = 0xc6120001, .dst_ip = 0xc6120002, .sport = 7, .dport = 7};
		struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(a, 0)), *q;
		uint64_t t0, tb, t1, seq = i;

		if (!p) {
			fprintf(stderr, "usnetd_pingpong: pool empty\n");
			return 1;
		}
		memcpy(fl.src_mac, ma, 6);
		memcpy(fl.dst_mac, mb, 6);
		usnet_udp4_build(usnet_pkt_append(p, (uint16_t)len), len, &fl, (uint16_t)len, &seq,
				 sizeof(seq));
		t0 = usnet_now_ns();
		if (usnet_tx_burst(a, 0, &p, 1) != 1) {
			usnet_pkt_free(p);
			lost++;
			continue;
		}
		q = wait_one(b); /* the ping, on B: send it back */
		tb = usnet_now_ns();
		if (!q) {
			lost++;
			continue;
		}
		memcpy(usnet_pkt_data(q), ma, 6);
		memcpy(usnet_pkt_data(q) + 6, mb, 6);
		if (usnet_tx_burst(b, 0, &q, 1) != 1) {
			usnet_pkt_free(q);
			lost++;
			continue;
		}
		q = wait_one(a); /* the pong */
		t1 = usnet_now_ns();
		if (!q) {
			lost++;
			continue;
		}
		if (q->len != len || memcmp(usnet_pkt_data(q) + USNET_UDP4_HLEN, &seq, 8))
			bad++;
		usnet_pkt_free(q);
		if (i >= warm) {
			fwd[k] = tb - t0;
			rtt[k++] = t1 - t0;
		}
		if (interval_us) {
			struct timespec ts = {.tv_sec = (time_t)(interval_us / 1000000),
					      .tv_nsec = (long)(interval_us % 1000000) * 1000};

			nanosleep(&ts, NULL);
		}
	}
	if (!k) {
		fprintf(stderr, "usnetd_pingpong: no sample (lost %llu)\n",
			(unsigned long long)lost);
		return 1;
	}
	qsort(rtt, k, sizeof(*rtt), cmp_u64);
	qsort(fwd, k, sizeof(*fwd), cmp_u64);
	if (json)
		printf(
		    "{\"mode\":\"%s\",\"interval_us\":%lu,\"len\":%u,\"samples\":%zu,\"lost\":%llu,"
		    "\"bad\":%llu,\"min_us\":%.2f,\"p50_us\":%.2f,\"p90_us\":%.2f,\"p99_us\":%.2f,"
		    "\"p999_us\":%.2f,\"max_us\":%.2f,\"oneway_p50_us\":%.2f,"
		    "\"oneway_p99_us\":%.2f}\n",
		    sleep_mode ? "sleep" : "busy", interval_us, len, k, (unsigned long long)lost,
		    (unsigned long long)bad, pct(rtt, k, 0), pct(rtt, k, 50), pct(rtt, k, 90),
		    pct(rtt, k, 99), pct(rtt, k, 99.9), pct(rtt, k, 100), pct(fwd, k, 50),
		    pct(fwd, k, 99));
	else
		printf("%s clients, %lu us apart, %u-byte frames: %zu round trips, lost %llu, bad "
		       "%llu; RTT us: min %.2f p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f; "
		       "A->B one way p50 %.2f p99 %.2f\n",
		       sleep_mode ? "sleeping" : "busy-polling", interval_us, len, k,
		       (unsigned long long)lost, (unsigned long long)bad, pct(rtt, k, 0),
		       pct(rtt, k, 50), pct(rtt, k, 90), pct(rtt, k, 99), pct(rtt, k, 99.9),
		       pct(rtt, k, 100), pct(fwd, k, 50), pct(fwd, k, 99));
	free(rtt);
	free(fwd);
	usnet_port_close(a);
	usnet_port_close(b);
	return lost || bad ? 1 : 0;
}
