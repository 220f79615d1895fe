/* SPDX-License-Identifier: MIT */
/*
 * null_bench: io-forwarding on a null: port, the usnet twin of
 *   dpdk-testpmd --vdev net_null0 -- --forward-mode=io --burst=32
 *
 * One thread, pinned to one core, loops on fwd_burst(): rx_burst up to -b
 * packets from queue 0 and tx_burst the same packets back to queue 0 (a
 * null: port frees what it is given). No packet data is touched, on either
 * side. Stops after -n packets or -t seconds, whichever comes first.
 *
 * fwd_burst() is kept out of line on purpose so that
 *   valgrind --tool=callgrind --toggle-collect=fwd_burst
 * counts exactly the steady-state forwarding work, the way toggling on
 * testpmd's pkt_burst_io_forward() does (bench/null_vs_testpmd.sh).
 *
 * Output: a human line and "RESULT null ... mpps=X cycles_per_pkt=Y".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/time.h>

/* One burst of io forwarding; returns the packets forwarded. */
__attribute__((noinline)) uint16_t fwd_burst(struct usnet_port *port, uint16_t burst);
__attribute__((noinline)) uint16_t fwd_burst(struct usnet_port *port, uint16_t burst)
{
	struct usnet_pkt *pkts[USNET_MAX_BURST];
	uint16_t nb_rx, nb_tx;

	nb_rx = usnet_rx_burst(port, 0, pkts, burst);
	if (nb_rx == 0)
		return 0;
	nb_tx = usnet_tx_burst(port, 0, pkts, nb_rx);
	/* The caller still owns what tx_burst refused: drop it, as testpmd
	 * does after its retries. */
	if (nb_tx < nb_rx)
		usnet_pkt_free_bulk(pkts + nb_tx, (uint32_t)(nb_rx - nb_tx));
	return nb_tx;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s [-n PACKETS] [-t SECONDS] [-b BURST] [-c CPU] [-p SPEC]\n"
		"  -n PACKETS  packets to forward (default 1e9)\n"
		"  -t SECONDS  stop after this long even if PACKETS are not through (default 5)\n"
		"  -b BURST    packets per rx/tx burst, 1..%u (default 32)\n"
		"  -c CPU      core to pin to (default 1; -1: do not pin)\n"
		"  -p SPEC     port spec (default \"null:\")\n",
		prog, USNET_MAX_BURST);
}

static int parse_num(const char *s, double max, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end); /* accepts 1e8 */
	return errno || *end || *out < 0 || *out > max ? -EINVAL : 0;
}

int main(int argc, char **argv)
{
	const char *spec = "null:";
	double n_opt = 1e9, t_opt = 5, b_opt = 32;
	uint64_t packets, max_ns, done = 0, bursts = 0, t0, t1;
	uint64_t c0 = 0, c1 = 0, cpu_t0, cpu_t1;
	struct timespec ts;
	struct usnet_queue_stats st;
	struct usnet_port *port;
	uint16_t burst;
	int cpu = 1, opt, err;
	double secs, mpps;

	while ((opt = getopt(argc, argv, "n:t:b:c:p:h")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_num(optarg, 1e15, &n_opt) || n_opt < 1)
				goto bad_arg;
			break;
		case 't':
			if (parse_num(optarg, 1e6, &t_opt) || t_opt <= 0)
				goto bad_arg;
			break;
		case 'b':
			if (parse_num(optarg, USNET_MAX_BURST, &b_opt) || b_opt < 1)
				goto bad_arg;
			break;
		case 'c':
			cpu = atoi(optarg);
			break;
		case 'p':
			spec = optarg;
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	packets = (uint64_t)n_opt;
	max_ns = (uint64_t)(t_opt * 1e9);
	burst = (uint16_t)b_opt;

	if (cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
		if (err)
			fprintf(stderr, "null_bench: warning: cannot pin to cpu %d: %s\n", cpu,
				strerror(err));
	}
	err = usnet_port_open(&port, spec, NULL);
	if (err) {
		fprintf(stderr, "null_bench: %s: %s\n", spec, usnet_last_error());
		return 1;
	}

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	cpu_t0 = (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
	t0 = usnet_now_ns();
#ifdef HAVE_TSC
	c0 = __rdtsc();
#endif
	while (done < packets) {
		done += fwd_burst(port, burst);
		/* Check the clock every 4096 bursts: off the per-packet path. */
		if ((++bursts & 4095) == 0 && usnet_now_ns() - t0 > max_ns)
			break;
	}
#ifdef HAVE_TSC
	c1 = __rdtsc();
#endif
	t1 = usnet_now_ns();
	/* CPU time against wall time: below ~100% the thread was preempted
	 * (shared machine) and the rate understates the code. */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	cpu_t1 = (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;

	usnet_port_stats(port, 0, &st);
	usnet_port_close(port);
	secs = usnet_ns_to_s(t1 - t0);
	mpps = (double)done / secs / 1e6;
	printf("null: %s burst %u, cpu %d: %" PRIu64 " packets in %.3f s = %.2f Mpps", spec, burst,
	       cpu, done, secs, mpps);
	if (c1 != c0)
		printf(", %.2f TSC cycles/packet", (double)(c1 - c0) / (double)done);
	printf(", cpu share %.0f%% (port stats: rx %" PRIu64 " tx %" PRIu64 " rx_nobuf %" PRIu64
	       ")\n",
	       100.0 * (double)(cpu_t1 - cpu_t0) / (double)(t1 - t0), st.rx_packets, st.tx_packets,
	       st.rx_nobuf);
	printf("RESULT null burst=%u packets=%" PRIu64 " seconds=%.3f mpps=%.2f "
	       "cycles_per_pkt=%.2f cpu=%.0f\n",
	       burst, done, secs, mpps, c1 != c0 ? (double)(c1 - c0) / (double)done : 0.0,
	       100.0 * (double)(cpu_t1 - cpu_t0) / (double)(t1 - t0));
	if (st.tx_packets != done) {
		fprintf(stderr, "null_bench: port counted %" PRIu64 " sent, loop %" PRIu64 "\n",
			st.tx_packets, done);
		return 1;
	}
	return 0;

bad_arg:
	fprintf(stderr, "null_bench: bad value '%s' for -%c\n", optarg, opt);
	usage(argv[0]);
	return 2;
}
