/* SPDX-License-Identifier: MIT */
/*
 * Helper for tests/integration/memif_dpdk.sh: a memif: port that talks to
 * dpdk-testpmd and counts exactly.
 *
 *   memif_peer SPEC MODE COUNT [TIMEOUT_S [LINGER_S [LEN]]]
 *
 *   loop   send COUNT numbered LEN-byte frames (default 64), at most 256 in flight, and
 *          expect every one back in order (testpmd io-forwards them back)
 *   send   send COUNT frames as fast as the ring takes them
 *   recv   receive COUNT frames
 *
 * Waits for the link first. Prints one line "mode=... sent=... received=...
 * bad=... seconds=... mpps=..." and exits 0 if the counts are exact, 1 if
 * not, 2 on a usage or setup error. Every loop ends by TIMEOUT_S (default 30).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/time.h>

#define WINDOW 256u

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct usnet_port_conf conf = {.pool_size = 4096};
	uint64_t sent = 0, received = 0, bad = 0, count, t0 = 0, t1 = 0, end;
	struct usnet_port *port;
	struct usnet_pool *pool;
	const char *mode;
	struct usnet_link link = {0};
	int timeout, linger, len;
	uint64_t late = 0;

	if (argc < 4) {
		fprintf(stderr, "usage: %s SPEC loop|send|recv COUNT [TIMEOUT_S]\n", argv[0]);
		return 2;
	}
	mode = argv[2];
	count = strtoull(argv[3], NULL, 0);
	timeout = argc > 4 ? atoi(argv[4]) : 30;
	linger = argc > 5 ? atoi(argv[5]) : 0;
	len = argc > 6 ? atoi(argv[6]) : 64;
	if (len < 24 || len > 1514) {
		fprintf(stderr, "memif_peer: LEN must be in [24, 1514]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	usnet_log_set_level(USNET_LOG_INFO);
	if (usnet_port_open(&port, argv[1], &conf)) {
		fprintf(stderr, "memif_peer: %s\n", usnet_last_error());
		return 2;
	}
	pool = usnet_port_pool(port, 0);
	end = usnet_now_ns() + (uint64_t)timeout * USNET_NSEC_PER_SEC;
	while (!stop && usnet_now_ns() < end && !link.up) {
		struct usnet_pkt *p[32];

		usnet_pkt_free_bulk(p, usnet_rx_burst(port, 0, p, 32));
		usnet_port_wait(port, 0, 10);
		usnet_port_link(port, &link);
	}
	if (!link.up) {
		fprintf(stderr, "memif_peer: link not up after %d s\n", timeout);
		usnet_port_close(port);
		return 1;
	}
	t0 = usnet_now_ns();
	while (!stop && usnet_now_ns() < end) {
		struct usnet_pkt *pkts[32];
		uint16_t n = 0, k;

		bool want_tx = strcmp(mode, "recv") && sent < count &&
			       (strcmp(mode, "loop") || sent - received < WINDOW);
		if (want_tx) {
			uint64_t room = count - sent;

			if (!strcmp(mode, "loop") && WINDOW - (sent - received) < room)
				room = WINDOW - (sent - received);
			while (n < 32 && n < room) {
				struct usnet_pkt *p = usnet_pkt_alloc(pool);

				if (!p)
					break;
				memset(usnet_pkt_append(p, (uint16_t)len), 0, (size_t)len);
				memset(usnet_pkt_data(p), 0xff, 6); /* broadcast from 02:... */
				usnet_pkt_data(p)[6] = 0x02;
				usnet_pkt_data(p)[12] = 0x88; /* local experimental ethertype */
				usnet_pkt_data(p)[13] = 0xb5;
				/* The sequence number at both ends: chained frames must arrive
				 * whole. */
				memcpy(usnet_pkt_data(p) + 16, &(uint64_t){sent + n}, 8);
				memcpy(usnet_pkt_data(p) + len - 8, &(uint64_t){sent + n}, 8);
				pkts[n++] = p;
			}
			k = usnet_tx_burst(port, 0, pkts, n);
			usnet_pkt_free_bulk(pkts + k, (uint32_t)(n - k));
			sent += k;
		}
		n = usnet_rx_burst(port, 0, pkts, 32);
		if (n && !strcmp(mode, "recv")) { /* measure from the first frame to the last */
			t1 = usnet_now_ns();
			if (!received)
				t0 = t1;
		}
		for (uint16_t i = 0; i < n; i++) {
			uint64_t seq, tail = 0;

			memcpy(&seq, usnet_pkt_data(pkts[i]) + 16, 8);
			if (pkts[i]->len == len)
				memcpy(&tail, usnet_pkt_data(pkts[i]) + len - 8, 8);
			if (!strcmp(mode, "loop") && (seq != received || tail != seq))
				bad++;
			received++;
		}
		usnet_pkt_free_bulk(pkts, n);
		if (!strcmp(mode, "send")
			? sent == count
			: received >= count && (sent == count || !strcmp(mode, "recv")))
			break;
	}
	if (strcmp(mode, "recv") || !received)
		t1 = usnet_now_ns();
	end = usnet_now_ns() + (uint64_t)linger * USNET_NSEC_PER_SEC;
	while (!stop && usnet_now_ns() < end) {
		struct usnet_pkt *pkts[32];
		uint16_t n = usnet_rx_burst(port, 0, pkts, 32);

		late += n;
		usnet_pkt_free_bulk(pkts, n);
		usnet_port_wait(port, 0, 10);
	}
	printf("mode=%s sent=%llu received=%llu bad=%llu late=%llu seconds=%.3f mpps=%.3f\n", mode,
	       (unsigned long long)sent, (unsigned long long)received, (unsigned long long)bad,
	       (unsigned long long)late, usnet_ns_to_s(t1 - t0),
	       (double)(strcmp(mode, "recv") ? sent : received) / usnet_ns_to_s(t1 - t0) / 1e6);
	fflush(stdout);
	usnet_port_close(port);
	if (!strcmp(mode, "loop"))
		return sent == count && received == count && !bad ? 0 : 1;
	if (!strcmp(mode, "send"))
		return sent == count ? 0 : 1;
	return received >= count ? 0 : 1;
}
