// SPDX-License-Identifier: MIT
/*
 * virtio-check: guest side of tests/vm/virtio.sh for what no tool prints.
 *
 *   virtio-check rx SPEC COUNT SECONDS
 *   virtio-check wake SPEC SECONDS
 *   virtio-check mq SPEC QUEUES COUNT SECONDS TX_PER_QUEUE
 *
 * All open SPEC and print "virtio-check: ready" once the port is up.
 *
 * rx receives (polling) until COUNT frames of any kind arrived, or 1 s
 * passed without a frame after the first one, or SECONDS passed; then it
 * prints the port's counters and usnet_port_link():
 *
 *   virtio-check: received=R rx_errors=E link=up|down sent=S
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
 * mq opens SPEC with QUEUES RX and TX queues, receives like rx on all of
 * them and prints how many frames each got ("virtio-check: rx q0=A q1=B"),
 * then sends TX_PER_QUEUE 60-byte UDP frames on each TX queue, with UDP
 * source port 2000 + queue, and prints the line above with S frames sent.
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

/* Frames sent on TX queue q carry UDP source port 2000 + q and their
 * number within the queue as payload, so a capture tells them apart. */
static unsigned send_on_queues(struct usnet_port *port, uint16_t nq, unsigned per_queue)
{
	struct usnet_udp4_flow flow = {.dst_mac = {0x02, 0, 0, 0, 0, 0x09},
				       .src_ip = 0xc6120001, /* 198.18.0.1 */
				       .dst_ip = 0xc6120002,
				       .dport = 9};
	unsigned total = 0;

	memcpy(flow.src_mac, usnet_port_info(port)->mac, 6);
	for (uint16_t q = 0; q < nq; q++) {
		uint64_t limit = usnet_now_ns() + 5000000000ull;

		flow.sport = (uint16_t)(2000 + q);
		for (unsigned i = 0; i < per_queue && usnet_now_ns() < limit;) {
			struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(port, 0));
			uint32_t seq = i;

			if (!p)
				continue; /* the TX ring still holds them: retry */
			usnet_udp4_build(usnet_pkt_data(p), usnet_pkt_tailroom(p), &flow, 60, &seq,
					 sizeof(seq));
			p->len = 60;
			if (usnet_tx_burst(port, q, &p, 1) == 1) {
				i++;
				total++;
			} else {
				usnet_pkt_free(p);
			}
		}
	}
	return total;
}

/* Receive on every RX queue (one thread may poll several) until count
 * frames, 1 s of silence after the first, or the time limit. */
static void receive(struct usnet_port *port, uint16_t nq, long count, double secs,
		    uint64_t *per_queue)
{
	struct usnet_pkt *pkts[32];
	uint64_t received = 0, last = 0, limit = usnet_now_ns() + (uint64_t)(secs * 1e9);

	while (received < (uint64_t)count) {
		uint64_t now = usnet_now_ns();

		for (uint16_t q = 0; q < nq; q++) {
			uint16_t n = usnet_rx_burst(port, q, pkts, 32);

			received += n;
			per_queue[q] += n;
			usnet_pkt_free_bulk(pkts, n);
			if (n)
				last = now;
		}
		if (now > limit || (last && now - last > 1000000000ull))
			break;
	}
}

int main(int argc, char **argv)
{
	struct usnet_port_conf conf = {0};
	struct usnet_queue_stats st;
	struct usnet_link link = {0};
	struct usnet_port *port;
	uint64_t per_queue[USNET_MAX_QUEUES] = {0}, received = 0;
	unsigned sent = 0;
	long count = 0, nq = 1;
	const char *mode = argc > 1 ? argv[1] : "";
	double secs;
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!(argc == 5 && !strcmp(mode, "rx")) && !(argc == 4 && !strcmp(mode, "wake")) &&
	    !(argc == 7 && !strcmp(mode, "mq"))) {
		fprintf(stderr,
			"usage: %s rx SPEC COUNT SECONDS | wake SPEC SECONDS |\n"
			"       %s mq SPEC QUEUES COUNT SECONDS TX_PER_QUEUE\n",
			argv[0], argv[0]);
		return 2;
	}
	if (!strcmp(mode, "mq")) {
		nq = strtol(argv[3], NULL, 0);
		if (nq < 1 || nq > USNET_MAX_QUEUES) {
			fprintf(stderr, "virtio-check: bad queue count %s\n", argv[3]);
			return 2;
		}
		conf.rx_queues = conf.tx_queues = (uint16_t)nq;
		count = strtol(argv[4], NULL, 0);
		secs = strtod(argv[5], NULL);
	} else {
		if (argc == 5)
			count = strtol(argv[3], NULL, 0);
		secs = strtod(argv[argc - 1], NULL);
	}
	usnet_log_set_level(USNET_LOG_INFO); /* the driver's bring-up line */
	if (usnet_port_open(&port, argv[2], &conf)) {
		fprintf(stderr, "virtio-check: %s\n", usnet_last_error());
		return 1;
	}
	printf("virtio-check: ready\n");
	if (!strcmp(mode, "wake")) {
		ret = wake(port, secs);
		usnet_port_close(port);
		return ret;
	}
	receive(port, (uint16_t)nq, count, secs, per_queue);
	for (long q = 0; q < nq; q++)
		received += per_queue[q];
	if (!strcmp(mode, "mq")) {
		printf("virtio-check: rx");
		for (long q = 0; q < nq; q++)
			printf(" q%ld=%llu", q, (unsigned long long)per_queue[q]);
		printf("\n");
		sent = send_on_queues(port, (uint16_t)nq, (unsigned)strtoul(argv[6], NULL, 0));
	}
	usnet_port_stats(port, -1, &st);
	usnet_port_link(port, &link);
	printf("virtio-check: received=%llu rx_errors=%llu link=%s sent=%u\n",
	       (unsigned long long)received, (unsigned long long)st.rx_errors,
	       link.up ? "up" : "down", sent);
	usnet_port_close(port);
	return 0;
}
