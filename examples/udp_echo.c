/* SPDX-License-Identifier: MIT */
/*
 * The example of docs/stack.md: a UDP echo server (RFC 862) on the usnet
 * stack, on any port kind.
 *
 *   udp_echo SPEC ADDR/PREFIX [GATEWAY] [PORT]
 *   udp_echo tap:usnet0 198.18.0.1/24 198.18.0.254 7
 *
 * It answers ARP and ping by itself (the stack does), echoes every UDP
 * datagram sent to PORT (default 7), sleeps in the stack's fd when idle,
 * and prints the stack's non-zero counters when stopped with SIGINT or
 * SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/usnet.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: udp_echo SPEC ADDR/PREFIX [GATEWAY] [PORT]\n"
			"  e.g. udp_echo tap:usnet0 198.18.0.1/24 198.18.0.254 7\n");
	return 2;
}

/* "198.18.0.1/24" -> address and prefix length. */
static int parse_cidr(const char *s, uint32_t *ip, uint8_t *prefix)
{
	char buf[32], *slash, *end;
	long len;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -EINVAL;
	*slash = '\0';
	len = strtol(slash + 1, &end, 10);
	if (*end || len < 1 || len > 31)
		return -EINVAL;
	*prefix = (uint8_t)len;
	return usnet_parse_ipv4(buf, ip);
}

/* Echo everything queued on s back to where it came from. */
static void echo_all(struct usnet_udp *s)
{
	static uint8_t buf[65536];
	struct usnet_addr4 from;
	int n;

	while ((n = usnet_udp_recvfrom(s, buf, sizeof(buf), &from)) != -EAGAIN) {
		if (n < 0)
			continue; /* an ICMP error for an earlier reply: nothing to do */
		/* -ENOBUFS (pool or ARP queue full) drops this reply, as a
		 * kernel socket would; the counters show it. */
		usnet_udp_sendto(s, buf, (size_t)n, &from);
	}
}

int main(int argc, char **argv)
{
	struct usnet_iface_conf ic = {0};
	struct usnet_stack_counters c;
	struct usnet_port *port;
	struct usnet_stack *st;
	struct usnet_udp *sock;
	struct usnet_event ev[16];
	unsigned long udp_port = 7;
	int err, ret = 1;

	if (argc < 3 || argc > 5)
		return usage();
	if (parse_cidr(argv[2], &ic.addr, &ic.prefix_len))
		return usage();
	if (argc > 3 && usnet_parse_ipv4(argv[3], &ic.gateway))
		return usage();
	if (argc > 4) {
		char *end;

		udp_port = strtoul(argv[4], &end, 10);
		if (*end || udp_port == 0 || udp_port > 65535)
			return usage();
	}
	err = usnet_port_open(&port, argv[1], NULL);
	if (err) {
		fprintf(stderr, "udp_echo: %s\n", usnet_last_error());
		return 1;
	}
	err = usnet_stack_create(&st, NULL);
	if (err) {
		fprintf(stderr, "udp_echo: %s\n", usnet_last_error());
		goto close_port;
	}
	ic.port = port;
	err = usnet_stack_add_iface(st, &ic);
	if (err < 0) {
		fprintf(stderr, "udp_echo: %s\n", usnet_last_error());
		goto destroy_stack;
	}
	err = usnet_udp_open(st, &sock, NULL);
	if (!err)
		err = usnet_udp_bind(sock, 0, (uint16_t)udp_port);
	if (err) {
		fprintf(stderr, "udp_echo: UDP port %lu: %s\n", udp_port, strerror(-err));
		goto destroy_stack;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("udp_echo: %s, UDP port %lu\n", argv[2], udp_port);
	fflush(stdout);
	while (!stop) {
		/* Receive, run timers, send: then serve the sockets that have
		 * something. With one socket usnet_udp_recvfrom() alone would
		 * do; the events show how an event loop finds its sockets. */
		usnet_stack_poll(st);
		if (usnet_stack_events(st, ev, 16))
			echo_all(sock);
		/* Sleep until a frame arrives or a timer is due; at most a
		 * second so that a signal is seen even on kinds whose fd a
		 * signal does not interrupt. */
		err = usnet_stack_wait(st, 1000);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "udp_echo: wait: %s\n", strerror(-err));
			break;
		}
	}
	usnet_stack_counters(st, &c);
	usnet_stack_counters_print(&c, stdout, true);
	ret = 0;
	usnet_udp_close(sock);
destroy_stack:
	usnet_stack_destroy(st);
close_port:
	usnet_port_close(port);
	return ret;
}
