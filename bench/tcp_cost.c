/* SPDX-License-Identifier: MIT */
/*
 * TCP's cost per segment, for callgrind: two stacks on the ends of a pair:
 * port in one thread, one connection; A sends BYTES bytes to B, B reads
 * them (usnet_tcp_recv, or the zero-copy peek/consume with "zc"). Each
 * side's work goes through a function of its own (noinline), so that
 * callgrind's inclusive counts split it:
 *
 *   send_path()  A: usnet_tcp_send() of what fits, then A's
 *                usnet_stack_poll() (ACKs in, segments out, timers)
 *   recv_path()  B: usnet_stack_poll() (segments in, ACKs out), then
 *                usnet_tcp_recv() of everything readable
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out ./tcp_cost [BYTES] [zc]
 *   callgrind_annotate --inclusive=yes cg.out | grep -E ' (send_path|recv_path) '
 *
 * divided by the data segments A sent / B received (printed, from
 * usnet_tcp_info()). bench/tcp_callgrind.sh does that. Not a test: it
 * fails only if bytes went missing or the connection did not open.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/port.h>
#include <usnet/stack.h>
#include <usnet/tcp.h>

#define CHUNK 65536

static uint8_t buf[CHUNK];

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

__attribute__((noinline)) static unsigned long send_path(struct usnet_stack *a, struct usnet_tcp *s,
							 unsigned long left)
{
	unsigned long sent = 0;

	while (left > sent) {
		unsigned long want = left - sent < CHUNK ? left - sent : CHUNK;
		long n = usnet_tcp_send(s, buf, want);
		if (n <= 0)
			break;
		sent += (unsigned long)n;
	}
	usnet_stack_poll(a);
	return sent;
}

__attribute__((noinline)) static unsigned long recv_path(struct usnet_stack *b, struct usnet_tcp *c,
							 bool zc, bool *eof)
{
	static uint8_t in[CHUNK];
	unsigned long got = 0;
	long n;

	usnet_stack_poll(b);
	if (zc) {
		struct usnet_tcp_iov iov[16];
		int k;
		while ((k = usnet_tcp_recv_peek(c, iov, 16)) > 0) {
			size_t bytes = 0;
			for (int i = 0; i < k; i++)
				bytes += iov[i].len;
			usnet_tcp_recv_consume(c, bytes);
			got += bytes;
		}
		n = usnet_tcp_recv(c, in, 1); /* 0 at the FIN, after the peeks ran dry */
		if (n > 0)
			got += (unsigned long)n;
	} else {
		while ((n = usnet_tcp_recv(c, in, sizeof(in))) > 0)
			got += (unsigned long)n;
	}
	*eof = n == 0;
	return got;
}

int main(int argc, char **argv)
{
	unsigned long total = argc > 1 ? strtoul(argv[1], NULL, 0) : 64ul << 20;
	bool zc = argc > 2 && !strcmp(argv[2], "zc");
	struct usnet_port *pa, *pb;
	struct usnet_stack *a, *b;
	struct usnet_tcp *ls, *sa, *sb = NULL;
	struct usnet_tcp_info ia, ib;
	unsigned long sent = 0, got = 0, spins = 0;
	bool eof = false, shut = false;

	if (open_side(&pa, &a, 0xc6120001u, 1) || open_side(&pb, &b, 0xc6120002u, 2) ||
	    usnet_tcp_open(b, &ls, NULL) || usnet_tcp_bind(ls, 0, 5001) ||
	    usnet_tcp_listen(ls, 4) || usnet_tcp_open(a, &sa, NULL) ||
	    usnet_tcp_connect(sa, 0xc6120002u, 5001) != -EINPROGRESS) {
		fprintf(stderr, "tcp_cost: setup failed\n");
		return 1;
	}
	for (int i = 0; i < 100 && !sb; i++) {
		usnet_stack_poll(a);
		usnet_stack_poll(b);
		if (usnet_tcp_accept(ls, &sb, NULL, NULL))
			sb = NULL;
	}
	if (!sb) {
		fprintf(stderr, "tcp_cost: the connection did not open\n");
		return 1;
	}
	memset(buf, 0x5a, sizeof(buf));
	/* Bounded: a stall (no progress) of 1e6 rounds ends it. */
	while (!eof && spins < 1000000) {
		unsigned long s = send_path(a, sa, total - sent);
		unsigned long g = recv_path(b, sb, zc, &eof);
		sent += s;
		got += g;
		if (sent == total && !shut) {
			usnet_tcp_shutdown(sa, USNET_SHUT_WR);
			shut = true;
		}
		spins = s || g ? 0 : spins + 1;
	}
	usnet_tcp_info(sa, &ia);
	usnet_tcp_info(sb, &ib);
	printf("tcp_cost: %lu bytes sent, %lu received (%s); A: %llu segments out, %llu "
	       "retransmits; B: %llu segments in, %llu out; mss %u\n",
	       sent, got, zc ? "zero-copy peek" : "usnet_tcp_recv", (unsigned long long)ia.segs_out,
	       (unsigned long long)ia.retransmits, (unsigned long long)ib.segs_in,
	       (unsigned long long)ib.segs_out, ia.mss);
	usnet_tcp_close(sa);
	usnet_tcp_close(sb);
	usnet_tcp_close(ls);
	usnet_stack_destroy(a);
	usnet_stack_destroy(b);
	usnet_port_close(pa);
	usnet_port_close(pb);
	return got == total && eof ? 0 : 1;
}
