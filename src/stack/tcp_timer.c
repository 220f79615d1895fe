/* SPDX-License-Identifier: MIT */
/*
 * Every connection's timers in one binary min-heap keyed on the deadline
 * (each connection has TCP_T_COUNT nodes, c->timer[k], that know their
 * place in it). Arming, moving and stopping cost O(log n); an idle
 * connection with no timer armed costs nothing, and the stack's poll
 * looks only at the top: tcp_timers_run() runs what is due and gives the
 * next deadline to stk_timer_at(), which usnet_stack_arm()/_wait() sleep
 * towards.
 */
#include <stdlib.h>

#include "tcp_impl.h"
#include "tcp_send.h"

struct tcp_hent {
	uint64_t when;
	struct usnet_tcp *c;
	uint8_t k; /* enum tcp_timer_kind */
};

struct tcp_timer {
	struct tcp_hent *h;
	uint32_t n, cap;
};

/* Runs per tcp_timers_run() at most: a handler that keeps re-arming in
 * the past cannot hold the poll loop (the rest run at the next poll). */
#define RUN_MAX 65536u

static void place(struct tcp_timer *t, uint32_t i, struct tcp_hent e)
{
	t->h[i] = e;
	e.c->timer[e.k].heap_idx = i;
}

static void sift_up(struct tcp_timer *t, uint32_t i)
{
	struct tcp_hent e = t->h[i];

	while (i) {
		uint32_t p = (i - 1) / 2;

		if (t->h[p].when <= e.when)
			break;
		place(t, i, t->h[p]);
		i = p;
	}
	place(t, i, e);
}

static void sift_down(struct tcp_timer *t, uint32_t i)
{
	struct tcp_hent e = t->h[i];

	for (;;) {
		uint32_t l = 2 * i + 1, m;

		if (l >= t->n)
			break;
		m = l + 1 < t->n && t->h[l + 1].when < t->h[l].when ? l + 1 : l;
		if (t->h[m].when >= e.when)
			break;
		place(t, i, t->h[m]);
		i = m;
	}
	place(t, i, e);
}

static struct tcp_timer *timers(struct usnet_stack *st)
{
	if (!st->tcp->timers)
		st->tcp->timers = calloc(1, sizeof(struct tcp_timer));
	return st->tcp->timers;
}

static void remove_at(struct tcp_timer *t, uint32_t i)
{
	struct tcp_hent last = t->h[--t->n];

	if (i == t->n)
		return;
	place(t, i, last);
	if (i && t->h[(i - 1) / 2].when > last.when)
		sift_up(t, i);
	else
		sift_down(t, i);
}

void tcp_timer_set(struct usnet_tcp *c, enum tcp_timer_kind k, uint64_t when)
{
	struct usnet_stack *st = c->s.st;
	struct tcp_timer *t = timers(st);
	struct tcp_timer_node *node = &c->timer[k];

	if (!when)
		when = 1; /* 0 means "not armed" */
	if (!t)
		return; /* out of memory at the first timer: nothing times out */
	if (node->when) {
		uint64_t old = node->when;

		node->when = when;
		t->h[node->heap_idx].when = when;
		if (when < old)
			sift_up(t, node->heap_idx);
		else
			sift_down(t, node->heap_idx);
	} else {
		if (t->n == t->cap) {
			uint32_t cap = t->cap ? t->cap * 2 : 256;
			struct tcp_hent *h = realloc(t->h, (size_t)cap * sizeof(*h));

			if (!h)
				return;
			t->h = h;
			t->cap = cap;
		}
		node->when = when;
		t->h[t->n] = (struct tcp_hent){.when = when, .c = c, .k = (uint8_t)k};
		sift_up(t, t->n++);
	}
	stk_timer_at(st, when);
}

void tcp_timer_stop(struct usnet_tcp *c, enum tcp_timer_kind k)
{
	struct tcp_timer_node *node = &c->timer[k];

	if (!node->when)
		return;
	node->when = 0;
	remove_at(c->s.st->tcp->timers, node->heap_idx);
}

static void fire(struct usnet_tcp *c, enum tcp_timer_kind k)
{
	switch (k) {
	case TCP_T_RTO:
		tcp_rto_fire(c);
		return;
	case TCP_T_DELACK:
		tcp_delack_fire(c);
		return;
	case TCP_T_PERSIST:
		tcp_persist_fire(c);
		return;
	case TCP_T_KEEPALIVE:
		tcp_keepalive_fire(c);
		return;
	case TCP_T_TIMEWAIT:
		tcp_time_wait_expired(c);
		return;
	case TCP_T_COUNT:
		return;
	}
}

void tcp_timers_run(struct usnet_stack *st, uint64_t now)
{
	struct tcp_timer *t = st->tcp ? st->tcp->timers : NULL;
	uint32_t runs = 0;

	if (!t)
		return;
	while (t->n && t->h[0].when <= now) {
		struct tcp_hent e = t->h[0];

		if (runs++ == RUN_MAX) {
			stk_timer_at(st, now);
			return;
		}
		e.c->timer[e.k].when = 0;
		remove_at(t, 0);
		fire(e.c, (enum tcp_timer_kind)e.k);
	}
	if (t->n)
		stk_timer_at(st, t->h[0].when);
}

void tcp_timer_fini(struct usnet_stack *st)
{
	if (!st->tcp || !st->tcp->timers)
		return;
	free(st->tcp->timers->h);
	free(st->tcp->timers);
	st->tcp->timers = NULL;
}
