// SPDX-License-Identifier: MIT
/*
 * virtio-check: guest side of tests/vm/virtio.sh for what no tool prints.
 *
 *   virtio-check rx SPEC COUNT SECONDS
 *   virtio-check wake SPEC SECONDS
 *
 * Both open SPEC and print "virtio-check: ready" once the port is up.
 *
 * rx receives (polling) until COUNT frames of any kind arrived, or 1 s
 * passed without a frame after the first one, or SECONDS passed; then it
 * prints the port's counters and usnet_port_link():
 *
 *   virtio-check: received=R rx_errors=E link=up|down
 *
 * The IOMMU fault test runs it with USNET_FAULT_BAD_IOVA=1 and expects
 * R = COUNT - 1, E >= 1 and the link down.
 *
 * wake sleeps in usnet_port_wait() with a timeout of SECONDS until a frame
 * arrives, and prints when it woke, how many times wait returned without a
 * frame, and the CPU time it used meanwhile (getrusage):
 *
 *   virtio-check: woke_ms=W received=R empty_wakeups=E cpu_ms=C
 *
 * W < SECONDS * 1000 with R > 0 means an interrupt woke it (the test sends
 * the frame seconds after "ready"); W = -1 means the wait timed out.
 *
 * Exit status 0, 1 if the port cannot be opened, 2 usage.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/usnet.h>

static uint64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

static int wake(struct usnet_port *port, double secs)
{
	struct usnet_pkt *pkts[32];
	uint64_t t0 = usnet_now_ns(), c0 = cpu_ns(), limit = t0 + (uint64_t)(secs * 1e9);
	unsigned empty = 0, received = 0;
	long long woke_ms = -1;

	for (;;) {
		uint64_t now = usnet_now_ns();
		uint16_t n;
		int r;

		if (now >= limit)
			break;
		r = usnet_port_wait(port, 0, (int)((limit - now) / 1000000 + 1));
		if (r < 0) {
			fprintf(stderr, "virtio-check: wait: %s\n", usnet_last_error());
			break;
		}
		n = usnet_rx_burst(port, 0, pkts, 32);
		usnet_pkt_free_bulk(pkts, n);
		if (n) {
			received = n;
			woke_ms = (long long)((usnet_now_ns() - t0) / 1000000);
			break;
		}
		empty++;
	}
	printf("virtio-check: woke_ms=%lld received=%u empty_wakeups=%u cpu_ms=%llu\n", woke_ms,
	       received, empty, (unsigned long long)((cpu_ns() - c0) / 1000000));
	return 0;
}

int main(int argc, char **argv)
{
	struct usnet_pkt *pkts[32];
	struct usnet_queue_stats st;
	struct usnet_link link = {0};
	struct usnet_port *port;
	uint64_t received = 0, t0, last = 0, limit;
	long count = 0;
	double secs;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!(argc == 5 && !strcmp(argv[1], "rx")) && !(argc == 4 && !strcmp(argv[1], "wake"))) {
		fprintf(stderr, "usage: %s rx SPEC COUNT SECONDS | wake SPEC SECONDS\n", argv[0]);
		return 2;
	}
	if (argc == 5)
		count = strtol(argv[3], NULL, 0);
	secs = strtod(argv[argc - 1], NULL);
	usnet_log_set_level(USNET_LOG_INFO); /* the driver's bring-up line */
	if (usnet_port_open(&port, argv[2], NULL)) {
		fprintf(stderr, "virtio-check: %s\n", usnet_last_error());
		return 1;
	}
	printf("virtio-check: ready\n");
	if (!strcmp(argv[1], "wake")) {
		ret = wake(port, secs);
		usnet_port_close(port);
		return ret;
	}
	t0 = usnet_now_ns();
	limit = t0 + (uint64_t)(secs * 1e9);
	while (received < (uint64_t)count) {
		uint16_t n = usnet_rx_burst(port, 0, pkts, 32);
		uint64_t now = usnet_now_ns();

		received += n;
		usnet_pkt_free_bulk(pkts, n);
		if (n)
			last = now;
		if (now > limit || (last && now - last > 1000000000ull))
			break;
	}
	usnet_port_stats(port, -1, &st);
	usnet_port_link(port, &link);
	printf("virtio-check: received=%llu rx_errors=%llu link=%s\n",
	       (unsigned long long)received, (unsigned long long)st.rx_errors,
	       link.up ? "up" : "down");
	usnet_port_close(port);
	return 0;
}
