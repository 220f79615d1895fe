/* SPDX-License-Identifier: MIT */
/*
 * kernel_udpecho: the Linux kernel's side of bench/udp_echo.sh, a UDP echo
 * server on an ordinary socket that moves datagrams in batches with
 * recvmmsg(2)/sendmmsg(2), the fastest the kernel's socket API allows
 * without kernel-bypass. Each datagram goes back to its sender unchanged.
 *
 *   kernel_udpecho [-a ADDR] [-p PORT] [-b BATCH] [-t SECONDS] [--busy-poll US]
 *                  [--sockperf]
 *
 * -t      stop after SECONDS (default: on SIGINT/SIGTERM only)
 * --busy-poll US   SO_BUSY_POLL on the socket (socket(7)): the kernel spins on
 *                  the device queue for up to US microseconds in recv.
 * --sockperf       answer like `sockperf server`: only datagrams whose header
 *                  asks for a reply, with the header's client flag cleared
 *                  (tools/sockperf_msg.h has the header), so that sockperf's
 *                  ping-pong and throughput clients can measure it.
 *
 * On exit it prints one line: RESULT kernel_udpecho datagrams=N bytes=N
 * seconds=S cpu_seconds=C (CPU time of the process, user + system), so
 * the script can compute requests per server CPU-second.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../tools/sockperf_msg.h"

#define MAX_BATCH 64
#define BUF_SIZE  65536

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(void)
{
	fprintf(stderr, "usage: kernel_udpecho [-a ADDR] [-p PORT] [-b BATCH] [-t SECONDS] "
			"[--busy-poll US]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"busy-poll", required_argument, NULL, 'B'},
	    {"sockperf", no_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	static uint8_t bufs[MAX_BATCH][BUF_SIZE];
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(7)};
	struct sockaddr_in peers[MAX_BATCH];
	struct mmsghdr msgs[MAX_BATCH];
	struct iovec iov[MAX_BATCH];
	unsigned long long dgrams = 0, bytes = 0;
	int batch = 32, busy_us = 0, fd, c, one = 1, nout;
	bool sockperf = false;
	double secs = 0, t0;
	struct sigaction sa;
	struct rusage ru;

	while ((c = getopt_long(argc, argv, "a:p:b:t:", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (inet_pton(AF_INET, optarg, &addr.sin_addr) != 1)
				usage();
			break;
		case 'p':
			addr.sin_port = htons((uint16_t)atoi(optarg));
			break;
		case 'b':
			batch = atoi(optarg);
			if (batch < 1 || batch > MAX_BATCH)
				usage();
			break;
		case 't':
			secs = atof(optarg);
			break;
		case 'B':
			busy_us = atoi(optarg);
			break;
		case 'S':
			sockperf = true;
			break;
		default:
			usage();
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("kernel_udpecho: socket/bind");
		return 1;
	}
	if (busy_us && setsockopt(fd, SOL_SOCKET, SO_BUSY_POLL, &busy_us, sizeof(busy_us)))
		perror("kernel_udpecho: SO_BUSY_POLL (ignored)");
	/* A receive timeout so that -t and signals are seen without traffic. */
	{
		struct timeval tv = {0, 100000};

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	fprintf(stderr, "kernel_udpecho: echoing on %s:%u\n", inet_ntoa(addr.sin_addr),
		ntohs(addr.sin_port));
	t0 = now_s(CLOCK_MONOTONIC);
	while (!stop && (secs <= 0 || now_s(CLOCK_MONOTONIC) - t0 < secs)) {
		int n;

		for (int i = 0; i < batch; i++) {
			iov[i].iov_base = bufs[i];
			iov[i].iov_len = BUF_SIZE;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &peers[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(peers[i]);
		}
		/* Block for the first datagram, take what else is queued. */
		n = recvmmsg(fd, msgs, (unsigned)batch, MSG_WAITFORONE, NULL);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			perror("kernel_udpecho: recvmmsg");
			return 1;
		}
		nout = 0;
		for (int i = 0; i < n; i++) {
			bytes += msgs[i].msg_len;
			if (sockperf && !sockperf_msg_answer(bufs[i], msgs[i].msg_len))
				continue;
			iov[i].iov_len = msgs[i].msg_len;
			msgs[nout] = msgs[i];
			nout++;
		}
		dgrams += (unsigned)n;
		for (int sent = 0; sent < nout;) {
			int k = sendmmsg(fd, msgs + sent, (unsigned)(nout - sent), 0);

			if (k < 0) {
				if (errno == EINTR)
					continue;
				break; /* ENOBUFS etc.: drop the rest, as a server would */
			}
			sent += k;
		}
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("RESULT kernel_udpecho datagrams=%llu bytes=%llu seconds=%.3f cpu_seconds=%.3f\n",
	       dgrams, bytes, now_s(CLOCK_MONOTONIC) - t0,
	       (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		   (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
	close(fd);
	return 0;
}
