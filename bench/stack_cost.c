/* SPDX-License-Identifier: MIT */
/*
 * The stack's cost per UDP datagram, for callgrind: two stacks on the ends
 * of a pair: port in one thread; stack A sends N datagrams to stack B, B
 * receives them. Run under
 *
 *   valgrind --tool=callgrind --callgrind-out-file=cg.out ./stack_cost [N] [PAYLOAD] [zc]
 *   callgrind_annotate --inclusive=yes cg.out | grep -E 'udp_sendto|udp_send_pkt|stack_poll|udp_recv'
 *
 * and divide the inclusive counts of the send call (TX: UDP, IPv4, ARP
 * lookup, Ethernet, the pair: port's tx_burst) and of B's usnet_stack_poll
 * (RX: the pair: port's rx_burst with its copy, Ethernet, IPv4, UDP
 * checksum, demultiplexing, queueing) by N. "zc" uses the zero-copy level
 * on both sides. Not a test: it prints what it did and fails only if
 * datagrams went missing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/port.h>
#include <usnet/stack.h>

static int open_side(struct usnet_port **port, struct usnet_stack **st, uint32_t ip, uint8_t last)
{
	struct usnet_iface_conf ic = {0};

	if (usnet_port_open(port, "pair:stack_cost", NULL) || usnet_stack_create(st, NULL))
		return -1;
	ic.port = *port;
	ic.addr = ip;
	ic.prefix_len = 24;
	ic.mac[0] = 2;
	ic.mac[5] = last;
	return usnet_stack_add_iface(*st, &ic) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 100000;
	size_t plen = argc > 2 ? strtoul(argv[2], NULL, 0) : 18;
	bool zc = argc > 3 && !strcmp(argv[3], "zc");
	struct usnet_addr4 to = {0xc6120002u, 9};
	struct usnet_port *pa, *pb;
	struct usnet_stack *a, *b;
	struct usnet_udp *sa, *sb;
	static uint8_t buf[2048];
	unsigned long sent = 0, got = 0;

	if (plen > 1472 || open_side(&pa, &a, 0xc6120001u, 1) ||
	    open_side(&pb, &b, 0xc6120002u, 2) || usnet_udp_open(a, &sa, NULL) ||
	    usnet_udp_open(b, &sb, NULL) || usnet_udp_bind(sb, 0, 9) ||
	    usnet_udp_bind(sa, 0, 5000)) {
		fprintf(stderr, "stack_cost: setup failed (payload at most 1472)\n");
		return 1;
	}
	/* Resolve ARP first so that the loop measures the steady state. */
	usnet_udp_sendto(sa, buf, plen, &to);
	for (int i = 0; i < 4; i++) {
		usnet_stack_poll(b);
		usnet_stack_poll(a);
	}
	while (usnet_udp_recvfrom(sb, buf, sizeof(buf), NULL) >= 0)
		;
	for (unsigned long i = 0; i < n; i++) {
		if (zc) {
			struct usnet_pkt *p = usnet_udp_alloc(sa);
			struct usnet_udp_msg m;

			if (p) {
				usnet_pkt_append(p, (uint16_t)plen);
				if (usnet_udp_send_pkt(sa, p, &to) == 0)
					sent++;
				else
					usnet_pkt_free(p);
			}
			usnet_stack_poll(b);
			while (usnet_udp_recv_burst(sb, &m, 1)) {
				got++;
				usnet_udp_msg_free(&m);
			}
		} else {
			sent += usnet_udp_sendto(sa, buf, plen, &to) == (int)plen;
			usnet_stack_poll(b);
			while (usnet_udp_recvfrom(sb, buf, sizeof(buf), NULL) >= 0)
				got++;
		}
	}
	printf("stack_cost: %lu datagrams of %zu bytes sent, %lu received (%s)\n", sent, plen, got,
	       zc ? "zero-copy" : "sendto/recvfrom");
	usnet_udp_close(sa);
	usnet_udp_close(sb);
	usnet_stack_destroy(a);
	usnet_stack_destroy(b);
	usnet_port_close(pa);
	usnet_port_close(pb);
	return sent == n && got == n ? 0 : 1;
}
