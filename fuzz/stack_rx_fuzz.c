/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the stack's receive path (src/stack/), frames in,
 * frames out. The input is a little program of records:
 *
 *   op (1 byte), len (2 bytes, big endian), then for FRAME len bytes
 *
 *   op % 4 == 0 FRAME  the stack receives these len bytes (at most 2048) as a frame
 *   op % 4 == 1 CLOCK  the clock advances by len * 4 ms (ARP, reassembly timers)
 *   op % 4 == 2 SEND   the application sends len bytes (fragmented above 1472)
 *                      from socket op/4 % 3 to the peer, its gateway or beyond
 *   op % 4 == 3 POLL   a poll with nothing received
 *
 * The stack sits on a fake port (the port API's six functions the stack
 * calls: fake_port.h, and usnet_rx_burst here), so the harness owns both
 * directions: what it sends is checked on the way out (a frame is
 * 60..1514 bytes, IPv4 or ARP; an IPv4 frame has a valid header checksum
 * and a total length inside the frame). After every input the stack is
 * destroyed and every packet must be back in the pool; a leak or a bad
 * frame aborts, besides anything ASan/UBSan find.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when available
 * (fuzz/CMakeLists.txt); otherwise linked with fuzz/standalone.c, which
 * replays the seeds and a fixed number of pseudo-random inputs.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/stack.h>

#define POOL_SIZE 512
#define MAX_RX 2048

/* --- the fake port --- */

struct usnet_port {
	struct usnet_port_info info;
	struct usnet_pool *pool;
	const uint8_t *rx;
	size_t rx_len;
	bool rx_ready;
};

static struct usnet_port fport;
static uint64_t fclock;

static bool fake_port_ready(const struct usnet_port *port)
{
	return port->rx_ready;
}

#include "fake_port.h"

uint16_t usnet_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			uint16_t n)
{
	struct usnet_pkt *p;

	(void)queue;
	if (!port->rx_ready || n == 0)
		return 0;
	port->rx_ready = false;
	p = usnet_pkt_alloc(port->pool);
	if (!p)
		return 0;
	/* A port never hands out more than fits its buffers. */
	if (port->rx_len > usnet_pkt_tailroom(p))
		port->rx_len = usnet_pkt_tailroom(p);
	memcpy(usnet_pkt_data(p), port->rx, port->rx_len);
	p->len = (uint16_t)port->rx_len;
	pkts[0] = p;
	return 1;
}

static void fake_port_sent(const uint8_t *f, size_t len)
{
	size_t tot;

	fake_port_check_frame(f, len, &tot);
}

/* --- the harness --- */

static uint64_t fuzz_clock(void *ctx)
{
	(void)ctx;
	return fclock;
}

static void drain(struct usnet_udp **s, unsigned ns, struct usnet_icmp *e)
{
	static uint8_t buf[65536];
	struct usnet_udp_msg m[8];
	struct usnet_icmp_echo echo;

	for (unsigned i = 0; i < ns; i++) {
		uint16_t n;

		/* Socket 0 copies, the others take packets zero-copy. */
		if (i == 0) {
			while (usnet_udp_recvfrom(s[i], buf, sizeof(buf), NULL) != -EAGAIN)
				;
			continue;
		}
		while ((n = usnet_udp_recv_burst(s[i], m, 8)))
			for (uint16_t k = 0; k < n; k++)
				usnet_udp_msg_free(&m[k]);
		usnet_udp_error(s[i]);
	}
	while (usnet_icmp_echo_recv(e, &echo, buf, sizeof(buf)) != -EAGAIN)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct usnet_pool *pool;
	static uint8_t payload[65507];
	struct usnet_stack_conf conf = {.clock = fuzz_clock,
					.arp_queue_len = 4,
					.reasm_mem_total = 1 << 20,
					.reasm_max_datagrams = 8,
					.udp_rcvq_len = 16};
	struct usnet_iface_conf ic = {0};
	struct usnet_stack *st;
	struct usnet_udp *s[3];
	struct usnet_icmp *e;
	struct usnet_event ev[16];
	size_t i = 0;

	if (!pool) {
		pool = fake_port_init(&fport, POOL_SIZE, (const uint8_t[6]){0x02, 0, 0, 0, 0, 1});
		for (size_t k = 0; k < sizeof(payload); k++)
			payload[k] = (uint8_t)k;
	}
	fclock = 1000000000ull;
	if (usnet_stack_create(&st, &conf))
		abort();
	ic.port = &fport;
	ic.addr = 0xc6120001u; /* 198.18.0.1/24 via 198.18.0.254 */
	ic.prefix_len = 24;
	ic.gateway = 0xc61200feu;
	if (usnet_stack_add_iface(st, &ic) != 0)
		abort();
	if (usnet_udp_open(st, &s[0], NULL) || usnet_udp_bind(s[0], 0, 7) ||
	    usnet_udp_open(st, &s[1], NULL) || usnet_udp_bind(s[1], 0xc6120001u, 9) ||
	    usnet_udp_open(st, &s[2], NULL) || usnet_udp_connect(s[2], 0xc6120002u, 53) ||
	    usnet_icmp_open(st, &e, 0x1234, NULL))
		abort();
	while (i + 3 <= size) {
		uint8_t op = data[i];
		size_t len = (size_t)(data[i + 1] << 8 | data[i + 2]);

		i += 3;
		switch (op % 4) {
		case 0:
			if (len > size - i)
				len = size - i;
			fport.rx = data + i;
			fport.rx_len = len > MAX_RX ? MAX_RX : len;
			fport.rx_ready = true;
			i += len;
			usnet_stack_poll(st);
			break;
		case 1:
			fclock += (uint64_t)len * 4000000u;
			usnet_stack_poll(st);
			break;
		case 2: {
			static const uint32_t dst[] = {0xc6120002u, 0xc61200feu, 0x08080808u};
			struct usnet_addr4 to = {dst[(op >> 2) % 3], 7};
			unsigned k = (op >> 4) % 3;

			if (len > sizeof(payload))
				len = sizeof(payload);
			if (k == 2)
				usnet_udp_sendto(s[2], payload, len, NULL);
			else if (len < 1400 && k == 1) {
				struct usnet_pkt *p = usnet_udp_alloc(s[1]);

				if (p) {
					memcpy(usnet_pkt_append(p, (uint16_t)len), payload, len);
					if (usnet_udp_send_pkt(s[1], p, &to))
						usnet_pkt_free(p);
				}
			} else {
				usnet_udp_sendto(s[k], payload, len, &to);
			}
			if (op & 0x80)
				usnet_icmp_echo_send(e, to.ip, (uint16_t)len, payload, len & 0xfff,
						     0);
			break;
		}
		default:
			usnet_stack_poll(st);
			break;
		}
		usnet_stack_events(st, ev, 16);
		drain(s, 3, e);
	}
	usnet_stack_destroy(st);
	fake_port_check_pool(&fport, POOL_SIZE);
	return 0;
}
