/* SPDX-License-Identifier: MIT */
/*
 * A TCP echo server (RFC 862) on the usnet stack, on any port kind: the
 * TCP counterpart of udp_echo.c.
 *
 *   tcp_echo SPEC ADDR/PREFIX [GATEWAY] [PORT]
 *   tcp_echo tap:usnet0 198.18.0.1/24 198.18.0.254 7
 *
 * Up to 64 connections at once; each gets back what it sends, and when it
 * shuts down its side the server sends its FIN after the last echoed byte.
 * The sockets' user pointers come back in the stack's events, so the loop
 * serves only the connections that have something; one whose peer does
 * not read keeps its unsent bytes and is not read from until they are
 * gone (TCP's window then holds the peer back). It sleeps in the stack's
 * fd when idle and prints the stack's non-zero counters when stopped with
 * SIGINT or SIGTERM.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/tcp.h>
#include <usnet/usnet.h>

#define MAX_CONNS 64

struct conn {
	struct usnet_tcp *s;
	uint8_t buf[16384];
	size_t len, off; /* buf[off..len) still to send back */
};

static volatile sig_atomic_t stop;
static struct conn *conns[MAX_CONNS];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int usage(void)
{
	fprintf(stderr, "usage: tcp_echo SPEC ADDR/PREFIX [GATEWAY] [PORT]\n"
			"  e.g. tcp_echo tap:usnet0 198.18.0.1/24 198.18.0.254 7\n");
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

static void conn_close(struct conn *c, bool reset)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	/* close() goes on sending what is queued and the FIN; abort() resets. */
	if (reset)
		usnet_tcp_abort(c->s);
	else
		usnet_tcp_close(c->s);
	free(c);
}

/* Echo what c has received, as far as its send buffer takes it. */
static void serve(struct conn *c)
{
	for (;;) {
		long n;

		if (c->off < c->len) {
			n = usnet_tcp_send(c->s, c->buf + c->off, c->len - c->off);
			if (n == -EAGAIN)
				return; /* the peer is not reading: wait for room */
			if (n < 0) {
				conn_close(c, true);
				return;
			}
			c->off += (size_t)n;
			continue;
		}
		n = usnet_tcp_recv(c->s, c->buf, sizeof(c->buf));
		if (n == -EAGAIN)
			return;
		if (n == 0) { /* the peer's FIN: ours follows the echoed bytes */
			usnet_tcp_shutdown(c->s, USNET_SHUT_WR);
			conn_close(c, false);
			return;
		}
		if (n < 0) { /* reset or timed out */
			conn_close(c, true);
			return;
		}
		c->off = 0;
		c->len = (size_t)n;
	}
}

/* Take the waiting connections; beyond MAX_CONNS, refuse with a reset. */
static void accept_all(struct usnet_tcp *listener)
{
	for (;;) {
		struct usnet_tcp *s;
		struct conn *c;
		int i;

		for (i = 0; i < MAX_CONNS && conns[i]; i++)
			;
		c = i < MAX_CONNS ? calloc(1, sizeof(*c)) : NULL;
		if (!c) {
			if (usnet_tcp_accept(listener, &s, NULL, NULL))
				return;
			usnet_tcp_abort(s);
			continue;
		}
		/* Events on the new connection carry c. */
		if (usnet_tcp_accept(listener, &s, c, NULL)) {
			free(c);
			return;
		}
		c->s = s;
		conns[i] = c;
		serve(c); /* data may have come with the handshake */
	}
}

int main(int argc, char **argv)
{
	struct usnet_iface_conf ic = {0};
	struct usnet_stack_counters c;
	struct usnet_port *port;
	struct usnet_stack *st;
	struct usnet_tcp *listener;
	struct usnet_event ev[32];
	unsigned long tcp_port = 7;
	int err, ret = 1;

	if (argc < 3 || argc > 5)
		return usage();
	if (parse_cidr(argv[2], &ic.addr, &ic.prefix_len))
		return usage();
	if (argc > 3 && usnet_parse_ipv4(argv[3], &ic.gateway))
		return usage();
	if (argc > 4) {
		char *end;

		tcp_port = strtoul(argv[4], &end, 10);
		if (*end || tcp_port == 0 || tcp_port > 65535)
			return usage();
	}
	err = usnet_port_open(&port, argv[1], NULL);
	if (err) {
		fprintf(stderr, "tcp_echo: %s\n", usnet_last_error());
		return 1;
	}
	err = usnet_stack_create(&st, NULL);
	if (err) {
		fprintf(stderr, "tcp_echo: %s\n", usnet_last_error());
		goto close_port;
	}
	ic.port = port;
	err = usnet_stack_add_iface(st, &ic);
	if (err < 0) {
		fprintf(stderr, "tcp_echo: %s\n", usnet_last_error());
		goto destroy_stack;
	}
	/* The listener's user pointer is NULL; a connection's is its struct conn. */
	err = usnet_tcp_open(st, &listener, NULL);
	if (!err)
		err = usnet_tcp_bind(listener, 0, (uint16_t)tcp_port);
	if (!err)
		err = usnet_tcp_listen(listener, 0);
	if (err) {
		fprintf(stderr, "tcp_echo: TCP port %lu: %s\n", tcp_port, strerror(-err));
		goto destroy_stack;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	printf("tcp_echo: %s, TCP port %lu\n", argv[2], tcp_port);
	fflush(stdout);
	while (!stop) {
		bool blocked = false;
		uint16_t n;

		/* Receive, run timers, send; then serve the sockets that have
		 * something: the listener (NULL) or a connection. */
		usnet_stack_poll(st);
		n = usnet_stack_events(st, ev, 32);
		for (uint16_t i = 0; i < n; i++)
			if (ev[i].user)
				serve(ev[i].user);
			else
				accept_all(listener);
		/* Connections with bytes still to send retry as ACKs free room. */
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i] && conns[i]->off < conns[i]->len) {
				serve(conns[i]);
				blocked = true;
			}
		/* Sleep until a frame arrives or a timer is due; at most a
		 * second so that a signal is seen even on kinds whose fd a
		 * signal does not interrupt (1 ms while echoes are blocked). */
		err = usnet_stack_wait(st, blocked ? 1 : 1000);
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "tcp_echo: wait: %s\n", strerror(-err));
			break;
		}
	}
	usnet_stack_counters(st, &c);
	usnet_stack_counters_print(&c, stdout, true);
	ret = 0;
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i])
			conn_close(conns[i], true);
	usnet_tcp_close(listener);
destroy_stack:
	usnet_stack_destroy(st);
close_port:
	usnet_port_close(port);
	return ret;
}
