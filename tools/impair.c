/* SPDX-License-Identifier: MIT */
/* Network impairment decisions and the delay queue (impair.h has the model). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "impair.h"

/* splitmix64 (Steele, Lea, Flood, "Fast splittable pseudorandom number
 * generators", OOPSLA 2014): one 64-bit state, every seed is good. */
static uint64_t rand64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1), 53 bits. */
static double rand01(uint64_t *s)
{
	return (double)(rand64(s) >> 11) * 0x1.0p-53;
}

/* An independent stream per process: the seed mixed with the stream's name. */
static uint64_t stream_seed(uint64_t seed, uint64_t salt)
{
	uint64_t s = seed ^ salt;

	return rand64(&s);
}

static bool prob_ok(double p)
{
	return p >= 0.0 && p <= 1.0; /* false for NaN too */
}

bool impair_conf_active(const struct impair_conf *c)
{
	return impair_loss_rate(c) > 0 || c->dup > 0 || c->reorder > 0 || c->delay_ns ||
	       c->jitter_ns || c->rate_bps;
}

void impair_loss_burst(struct impair_conf *c, double rate, double burst)
{
	if (burst <= 1.0) {
		c->loss_p = c->loss_r = c->loss_bad = 0;
		c->loss_good = rate;
		return;
	}
	/* Bad-state runs last 1/r frames on average; the chain is in the bad
	 * state p / (p + r) of the time, which is the loss rate. */
	c->loss_r = 1.0 / burst;
	c->loss_p = rate >= 1.0 ? 1.0 : rate * c->loss_r / (1.0 - rate);
	c->loss_bad = 1.0;
	c->loss_good = 0;
}

double impair_loss_rate(const struct impair_conf *c)
{
	if (c->loss_p + c->loss_r <= 0)
		return c->loss_good; /* never leaves the good state */
	return (c->loss_p * c->loss_bad + c->loss_r * c->loss_good) / (c->loss_p + c->loss_r);
}

int impair_init(struct impair *im, const struct impair_conf *c)
{
	memset(im, 0, sizeof(*im));
	if (!prob_ok(c->loss_p) || !prob_ok(c->loss_r) || !prob_ok(c->loss_bad) ||
	    !prob_ok(c->loss_good) || !prob_ok(c->dup) || !prob_ok(c->reorder) ||
	    (c->reorder > 0 && c->reorder_gap == 0) || c->cap == 0 || c->cap > IMPAIR_CAP_MAX)
		return -EINVAL;
	im->q = calloc(c->cap, sizeof(*im->q));
	if (!im->q)
		return -ENOMEM;
	im->conf = *c;
	im->rng_loss = stream_seed(c->seed, 0x6c6f7373); /* "loss" */
	im->rng_dup = stream_seed(c->seed, 0x647570);	 /* "dup" */
	im->rng_reorder = stream_seed(c->seed, 0x72656f72646572);
	im->rng_jitter = stream_seed(c->seed, 0x6a6974746572);
	return 0;
}

void impair_fini(struct impair *im)
{
	free(im->q);
	im->q = NULL;
}

/* Two draws per frame, whatever the state. */
static bool lose(struct impair *im)
{
	const struct impair_conf *c = &im->conf;
	double u_loss = rand01(&im->rng_loss), u_move = rand01(&im->rng_loss);
	bool lost = u_loss < (im->bad ? c->loss_bad : c->loss_good);

	if (im->bad ? u_move < c->loss_r : u_move < c->loss_p)
		im->bad = !im->bad;
	return lost;
}

/* A jitter sample in ns, in [-jitter, +jitter] (uniform) or [-3, +3] sigma;
 * two draws per frame, whatever the distribution. */
static int64_t jitter(struct impair *im)
{
	const struct impair_conf *c = &im->conf;
	double u1 = rand01(&im->rng_jitter), u2 = rand01(&im->rng_jitter), x;

	if (!c->jitter_ns)
		return 0;
	if (c->jitter_normal) {
		/* Box-Muller; 1 - u1 is in (0, 1], so the log is finite. */
		x = sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * M_PI * u2);
		x = x > 3.0 ? 3.0 : x < -3.0 ? -3.0 : x;
	} else {
		x = 2.0 * u1 - 1.0;
	}
	return (int64_t)(x * (double)c->jitter_ns);
}

/* When a frame of len bytes that arrived at now may leave. */
static uint64_t due_time(struct impair *im, uint64_t now, uint32_t len)
{
	const struct impair_conf *c = &im->conf;
	int64_t j = jitter(im);
	uint64_t t = now;

	if (c->rate_bps) {
		uint64_t bits = (uint64_t)(len + IMPAIR_WIRE_OVERHEAD) * 8;
		uint64_t start = im->link_free_ns > now ? im->link_free_ns : now;

		im->link_free_ns = start + (uint64_t)((double)bits * 1e9 / (double)c->rate_bps);
		t = im->link_free_ns;
	}
	t += c->delay_ns;
	t = j < 0 && (uint64_t)-j > t ? 0 : t + (uint64_t)j;
	if (t < im->last_due_ns)
		t = im->last_due_ns; /* keep the direction's order */
	im->last_due_ns = t;
	return t;
}

static void ring_add(struct impair *im, void *frame, uint64_t due)
{
	struct impair_slot *s = &im->q[(im->head + im->count) % im->conf.cap];

	s->frame = frame;
	s->due_ns = due;
	s->serial = im->serial++;
	im->count++;
}

enum impair_verdict impair_push(struct impair *im, uint64_t now, void *frame, uint32_t len)
{
	const struct impair_conf *c = &im->conf;
	bool lost = lose(im);
	/* Drawn for every frame, so that each stream advances alike. */
	bool dup = rand01(&im->rng_dup) < c->dup;
	bool hold = rand01(&im->rng_reorder) < c->reorder;
	uint64_t due = due_time(im, now, len);

	im->st.in++;
	im->dup_pending = false;
	if (lost) {
		im->st.lost++;
		return IMPAIR_LOST;
	}
	if (impair_held_frames(im) >= c->cap) {
		im->st.queue_full++;
		return IMPAIR_FULL;
	}
	if (due > now)
		im->st.delayed++;
	if (hold && im->nheld < IMPAIR_HOLD_MAX) {
		im->held[im->nheld++] = (struct impair_held){
		    .frame = frame, .due_ns = due, .serial = im->serial++, .left = c->reorder_gap};
	} else {
		ring_add(im, frame, due);
	}
	if (!dup)
		return IMPAIR_QUEUED;
	im->dup_pending = true;
	im->dup_due_ns = due;
	return IMPAIR_QUEUED_DUP;
}

bool impair_push_copy(struct impair *im, void *copy)
{
	if (!im->dup_pending)
		return false;
	im->dup_pending = false;
	if (impair_held_frames(im) >= im->conf.cap) {
		im->st.dup_nobuf++;
		return false;
	}
	ring_add(im, copy, im->dup_due_ns);
	im->st.duplicated++;
	return true;
}

void impair_copy_failed(struct impair *im)
{
	if (im->dup_pending)
		im->st.dup_nobuf++;
	im->dup_pending = false;
}

/* The held-back frame that may go now: overtaken enough, or past its limit. */
static int held_ready(const struct impair *im, uint64_t now)
{
	for (uint32_t i = 0; i < im->nheld; i++) {
		const struct impair_held *h = &im->held[i];

		if ((h->left == 0 && h->due_ns <= now) ||
		    h->due_ns + im->conf.reorder_max_ns <= now ||
		    h->due_ns + im->conf.reorder_max_ns < h->due_ns /* overflow: now */)
			return (int)i;
	}
	return -1;
}

static void *held_take(struct impair *im, uint32_t i)
{
	struct impair_held h = im->held[i];

	memmove(&im->held[i], &im->held[i + 1], (im->nheld - i - 1) * sizeof(im->held[0]));
	im->nheld--;
	if (h.overtaken)
		im->st.reordered++;
	if (h.left)
		im->st.reorder_timeouts++;
	im->st.out++;
	return h.frame;
}

void *impair_pop(struct impair *im, uint64_t now)
{
	int i = held_ready(im, now);
	struct impair_slot *s;

	if (i >= 0)
		return held_take(im, (uint32_t)i);
	if (!im->count || im->q[im->head].due_ns > now) {
		/* Draining: what is still held back goes too, in order. */
		if (now == UINT64_MAX && im->nheld)
			return held_take(im, 0);
		return NULL;
	}
	s = &im->q[im->head];
	im->head = (im->head + 1) % im->conf.cap;
	im->count--;
	for (uint32_t k = 0; k < im->nheld; k++) {
		/* Frames queued before it are not overtaking it. */
		if (im->held[k].left && s->serial > im->held[k].serial) {
			im->held[k].left--;
			im->held[k].overtaken = true;
		}
	}
	im->st.out++;
	return s->frame;
}

uint64_t impair_next_ns(const struct impair *im)
{
	uint64_t next = im->count ? im->q[im->head].due_ns : UINT64_MAX;

	for (uint32_t i = 0; i < im->nheld; i++) {
		const struct impair_held *h = &im->held[i];
		uint64_t t = h->left ? h->due_ns + im->conf.reorder_max_ns : h->due_ns;

		if (t < h->due_ns)
			t = UINT64_MAX - 1; /* overflow */
		if (t < next)
			next = t;
	}
	return next;
}
