/* SPDX-License-Identifier: MIT */
/*
 * TCP's cost per segment, for callgrind: two stacks on the ends of a
 * pair: port in one thread, one connection; A sends N segments of one MSS
 * (usnet_tcp_send of 1448 bytes, nodelay), B receives each. Run under
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out ./tcp_cost [N]
 *   callgrind_annotate --inclusive=yes cg.out | grep -E '(send_seg|rx_poll|recv_seg|ack_poll) \['
 *
 * and divide the inclusive counts by N: send_seg (usnet_tcp_send: the one
 * copy into the send queue, header, checksum, IPv4, the port's tx_burst),
 * rx_poll (B's usnet_stack_poll: the port's rx_burst, Ethernet, IPv4,
 * tcp_input, the receive queue, the ACK every second segment), recv_seg
 * (usnet_tcp_recv: the copy out) and ack_poll (A's usnet_stack_poll: the
 * ACK in, tcp_on_ack, freeing the acknowledged buffers). Not a test: it
 * fails only if bytes went missing.
 *
 * ./tcp_cost N BATCH: A sends BATCH segments before each of B's polls, so
 * that they arrive in one receive burst as a stream's do through usnetd
 * (one stretch ACK per burst, tcp_ack_schedule); BATCH 1 (the default) is
 * the one-segment round trip.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/port.h>
#include <usnet/stack.h>
#include <usnet/tcp.h>

#define SEG 1448

static int open_side(struct usnet_port **port, struct usnet_stack **st, uint32_t ip, uint8_t last)
{
	struct usnet_iface_conf ic = {0};

	if (usnet_port_open(port, "pair:tcp_cost", NULL) || usnet_stack_create(st, NULL))
		return -1;
	ic.port = *port;
	ic.addr = ip;
	ic.prefix_len = 24;
	ic.mac[0] = 2;
	ic.mac[5] = last;
	return usnet_stack_add_iface(*st, &ic) == 0 ? 0 : -1;
}

/* One function per path, so that callgrind counts them apart. */
__attribute__((noipa)) static long send_seg(struct usnet_tcp *s, const uint8_t *buf)
{
	return usnet_tcp_send(s, buf, SEG);
}

__attribute__((noipa)) static int rx_poll(struct usnet_stack *st)
{
	return usnet_stack_poll(st);
}

__attribute__((noipa)) static long recv_seg(struct usnet_tcp *s, uint8_t *buf)
{
	return usnet_tcp_recv(s, buf, 65536);
}

__attribute__((noipa)) static int ack_poll(struct usnet_stack *st)
{
	return usnet_stack_poll(st);
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	unsigned long batch = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
	static uint8_t out[SEG], in[65536];
	struct usnet_port *pa, *pb;
	struct usnet_stack *a, *b;
	struct usnet_tcp *ca, *l, *cb = NULL;
	unsigned long long sent = 0, got = 0;
	long r;

	if (batch < 1 || batch > 32 || n % batch) {
		fprintf(stderr, "tcp_cost: BATCH must be 1 to 32 and divide N\n");
		return 1;
	}
	if (open_side(&pa, &a, 0xc6120001u, 1) || open_side(&pb, &b, 0xc6120002u, 2) ||
	    usnet_tcp_open(b, &l, NULL) || usnet_tcp_bind(l, 0, 5001) || usnet_tcp_listen(l, 4) ||
	    usnet_tcp_open(a, &ca, NULL) || usnet_tcp_set_nodelay(ca, true) ||
	    usnet_tcp_connect(ca, 0xc6120002u, 5001) != -EINPROGRESS) {
		fprintf(stderr, "tcp_cost: setup failed\n");
		return 1;
	}
	for (int i = 0; i < 100 && !cb; i++) {
		usnet_stack_poll(a);
		usnet_stack_poll(b);
		usnet_tcp_accept(l, &cb, NULL, NULL);
	}
	if (!cb) {
		fprintf(stderr, "tcp_cost: no connection\n");
		return 1;
	}
	for (unsigned long i = 0; i < n; i += batch) {
		for (unsigned long k = 0; k < batch; k++) {
			memset(out, (int)(i + k), sizeof(out));
			r = send_seg(ca, out);
			if (r > 0)
				sent += (unsigned long long)r;
		}
		rx_poll(b);
		while ((r = recv_seg(cb, in)) > 0)
			got += (unsigned long long)r;
		ack_poll(a);
	}
	for (int i = 0; i < 1000 && got < sent; i++) {
		usnet_stack_poll(a);
		usnet_stack_poll(b);
		while ((r = usnet_tcp_recv(cb, in, sizeof(in))) > 0)
			got += (unsigned long long)r;
	}
	printf("tcp_cost: %lu sends, %llu bytes sent, %llu received\n", n, sent, got);
	usnet_tcp_abort(ca);
	usnet_tcp_abort(cb);
	usnet_tcp_close(l);
	usnet_stack_destroy(a);
	usnet_stack_destroy(b);
	usnet_port_close(pa);
	usnet_port_close(pb);
	return sent == got && sent == (unsigned long long)n * SEG ? 0 : 1;
}
