/* SPDX-License-Identifier: MIT */
/* Sleeping: a stack waiting in usnet_stack_wait() (and on its fd in an
 * application's epoll) is woken by the port's eventfd when a datagram
 * arrives from a stack in another thread; arm says how long a timer
 * allows it to sleep. Real clock; no timing is asserted. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "stack_util.h"

#define ROUNDS 20

struct side {
	struct usnet_port *port;
	struct usnet_stack *st;
	struct usnet_udp *s;
};

static int side_open(struct side *x, const char *spec, uint32_t ip, const uint8_t *mac)
{
	struct usnet_iface_conf ic = {0};

	if (usnet_port_open(&x->port, spec, NULL) || usnet_stack_create(&x->st, NULL))
		return -1;
	ic.port = x->port;
	ic.addr = ip;
	ic.prefix_len = 24;
	memcpy(ic.mac, mac, 6);
	ic.no_garp = true;
	if (usnet_stack_add_iface(x->st, &ic) != 0 || usnet_udp_open(x->st, &x->s, NULL))
		return -1;
	return usnet_udp_bind(x->s, 0, 7);
}

/* The echo side: answers every datagram, sleeping in usnet_stack_wait()
 * in between; stops after ROUNDS answers or 30 s of nothing. */
static void *echo_thread(void *arg)
{
	struct side *x = arg;
	unsigned answered = 0, idle = 0;
	uint8_t buf[256];
	struct usnet_addr4 from;

	while (answered < ROUNDS && idle < 30) {
		int n;

		usnet_stack_poll(x->st);
		while ((n = usnet_udp_recvfrom(x->s, buf, sizeof(buf), &from)) >= 0) {
			/* Answer late, so that the other side goes to sleep first
			 * (if it does not, it polls again: no assertion on time). */
			usleep(20000);
			if (usnet_udp_sendto(x->s, buf, (size_t)n, &from) == n)
				answered++;
		}
		if (usnet_stack_wait(x->st, 1000) == 0)
			idle++;
	}
	return NULL;
}

int main(void)
{
	struct side a, b;
	pthread_t t;
	unsigned got = 0, woken = 0;
	int ep, r;
	struct epoll_event ev = {.events = EPOLLIN};

	CHECK_EQ(side_open(&a, "pair:wait", IP_US, MAC_US), 0);
	CHECK_EQ(side_open(&b, "pair:wait", IP_PEER, MAC_PEER), 0);
	/* Nothing pending, no timers: sleep without limit. */
	CHECK_EQ(usnet_stack_arm(a.st), -1);
	CHECK_EQ(usnet_stack_wait(a.st, 0), 0);
	CHECK_EQ(pthread_create(&t, NULL, echo_thread, &b), 0);

	/* The application's own epoll set holds the stack's fd. */
	ep = epoll_create1(0);
	CHECK(ep >= 0);
	CHECK(usnet_stack_fd(a.st) >= 0);
	CHECK_EQ(epoll_ctl(ep, EPOLL_CTL_ADD, usnet_stack_fd(a.st), &ev), 0);
	for (unsigned round = 0; round < ROUNDS; round++) {
		struct usnet_addr4 to = {IP_PEER, 7};
		char buf[32];
		int n, tries;

		snprintf(buf, sizeof(buf), "round %u", round);
		/* The first send waits for ARP: its request wakes the peer. */
		CHECK_EQ(usnet_udp_sendto(a.s, buf, strlen(buf), &to), (int)strlen(buf));
		for (tries = 0; tries < 200; tries++) {
			int t_ms;

			usnet_stack_poll(a.st);
			n = usnet_udp_recvfrom(a.s, buf, sizeof(buf), NULL);
			if (n >= 0)
				break;
			/* -1 or the next timer (ARP: 1 s retransmissions, then
			 * 30 s until REACHABLE turns STALE); 0: poll again. */
			t_ms = usnet_stack_arm(a.st);
			if (t_ms != 0) {
				r = epoll_wait(ep, &ev, 1, t_ms < 0 || t_ms > 1000 ? 1000 : t_ms);
				woken += r == 1;
			}
		}
		CHECK(n >= 0);
		got += n >= 0;
	}
	CHECK_EQ(got, ROUNDS);
	CHECK(woken > 0); /* at least once it slept and the eventfd woke it */
	pthread_join(t, NULL);
	close(ep);
	usnet_udp_close(a.s);
	usnet_udp_close(b.s);
	usnet_stack_destroy(a.st);
	usnet_stack_destroy(b.st);
	usnet_port_close(a.port);
	usnet_port_close(b.port);
	return check_done("test_stack_wait");
}
