/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the TCP unit tests: two stacks on the two ends of a pair:
 * port sharing the injected clock (a "duo"), and bounded loops that poll
 * both until a condition holds.
 */
#ifndef USNET_TEST_TCP_UTIL_H
#define USNET_TEST_TCP_UTIL_H

#include <errno.h>

#include <usnet/tcp.h>

#include "stack_util.h"

struct duo {
	struct usnet_port *pa, *pb;
	struct usnet_stack *a, *b;
};

static inline int duo_open_conf(struct duo *d, const char *name, const struct usnet_stack_conf *ca,
				const struct usnet_stack_conf *cb)
{
	struct usnet_stack_conf a = {0}, b = {0};
	struct usnet_iface_conf ia = {0}, ib = {0};
	char spec[64];

	if (ca)
		a = *ca;
	if (cb)
		b = *cb;
	a.clock = b.clock = fake_clock;
	snprintf(spec, sizeof(spec), "pair:%s", name);
	if (usnet_port_open(&d->pa, spec, NULL) || usnet_port_open(&d->pb, spec, NULL))
		return -1;
	if (usnet_stack_create(&d->a, &a) || usnet_stack_create(&d->b, &b))
		return -1;
	ia.port = d->pa;
	ia.addr = IP_US;
	ia.prefix_len = 24;
	memcpy(ia.mac, MAC_US, 6);
	ib = ia;
	ib.port = d->pb;
	ib.addr = IP_PEER;
	memcpy(ib.mac, MAC_PEER, 6);
	if (usnet_stack_add_iface(d->a, &ia) != 0 || usnet_stack_add_iface(d->b, &ib) != 0)
		return -1;
	usnet_stack_poll(d->a);
	usnet_stack_poll(d->b);
	return 0;
}

static inline void duo_poll(struct duo *d, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		usnet_stack_poll(d->a);
		usnet_stack_poll(d->b);
	}
}

static inline void duo_close(struct duo *d)
{
	usnet_stack_destroy(d->a);
	usnet_stack_destroy(d->b);
	usnet_port_close(d->pa);
	usnet_port_close(d->pb);
}

/* Poll both stacks, moving the clock 1 ms a round, until cond holds (at
 * most `rounds` rounds); the condition's value. */
#define DUO_UNTIL(d, rounds, cond)                                                                 \
	({                                                                                         \
		int ok_ = 0;                                                                       \
		for (int r_ = 0; r_ < (rounds); r_++) {                                            \
			if ((cond)) {                                                              \
				ok_ = 1;                                                           \
				break;                                                             \
			}                                                                          \
			fake_now += MS;                                                            \
			duo_poll((d), 1);                                                          \
		}                                                                                  \
		ok_ || (cond);                                                                     \
	})

static inline struct usnet_stack_counters stack_ctr(struct usnet_stack *st)
{
	struct usnet_stack_counters c;

	usnet_stack_counters(st, &c);
	return c;
}

static inline int tcp_state(const struct usnet_tcp *s)
{
	struct usnet_tcp_info i;

	usnet_tcp_info(s, &i);
	return i.state;
}

/* Connect a (client) to a listener on b port `port`: *cl and *sv
 * established, or -1. */
static inline int duo_connect(struct duo *d, struct usnet_tcp *ls, uint16_t port,
			      struct usnet_tcp **cl, struct usnet_tcp **sv)
{
	*sv = NULL;
	if (usnet_tcp_open(d->a, cl, NULL) != 0)
		return -1;
	if (usnet_tcp_connect(*cl, IP_PEER, port) != -EINPROGRESS)
		return -1;
	if (!DUO_UNTIL(d, 2000, usnet_tcp_accept(ls, sv, NULL, NULL) == 0))
		return -1;
	if (!DUO_UNTIL(d, 2000, tcp_state(*cl) == USNET_TCP_ESTABLISHED))
		return -1;
	return 0;
}

#endif
