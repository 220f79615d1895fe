/* SPDX-License-Identifier: MIT */
/*
 * tools/impair.c, usnet-fwd's impairment model: over 100k frames the
 * observed loss, duplication and reordering rates are within 5 standard
 * deviations of the asked ones (several seeds), the same seed gives the
 * same decisions, delays stay within delay +- jitter, order is kept unless
 * reordering is asked, the queue cap holds and draining returns everything.
 * Frames are integers cast to pointers; the clock is the test's.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "impair.h"

#define N	 100000u
#define MS	 1000000ull
#define FRAME(i) ((void *)(uintptr_t)((i) + 1))
#define INDEX(p) ((uint64_t)(uintptr_t)(p)-1)

static struct impair_conf base(uint64_t seed)
{
	return (struct impair_conf){.cap = 1u << 17, .seed = seed, .reorder_max_ns = 10 * MS};
}

/* |observed - n p| within 5 binomial standard deviations. */
static int near_binomial(uint64_t observed, uint64_t n, double p)
{
	double mean = (double)n * p, sd = sqrt((double)n * p * (1 - p));

	if (fabs((double)observed - mean) <= 5 * sd)
		return 1;
	fprintf(stderr, "  observed %llu, expected %.0f +- %.0f (5 sd)\n",
		(unsigned long long)observed, mean, 5 * sd);
	return 0;
}

/* run(): reorder timeouts before the final drain. */
static uint64_t timeouts_before_drain;

/* Push N frames 10 us apart, popping what is due after every `batch` of
 * them (usnet-fwd pushes a received burst, then pops); out[] gets the
 * order they left in (copies too), *nout how many. */
static uint64_t batch = 1;

static void run(struct impair *im, uint64_t *out, uint64_t *nout, uint64_t *verdicts)
{
	uint64_t now = 1000 * MS, k = 0;
	void *p;

	for (uint64_t i = 0; i < N; i++, now += 10000) {
		enum impair_verdict v = impair_push(im, now, FRAME(i), 100);

		if (verdicts)
			verdicts[i] = v;
		if (v == IMPAIR_QUEUED_DUP)
			CHECK(impair_push_copy(im, FRAME(i)));
		if (i % batch != batch - 1)
			continue;
		while ((p = impair_pop(im, now)))
			out[k++] = INDEX(p);
	}
	timeouts_before_drain = im->st.reorder_timeouts;
	while ((p = impair_pop(im, UINT64_MAX)))
		out[k++] = INDEX(p);
	*nout = k;
}

static void test_bernoulli_loss(uint64_t *out)
{
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct impair_conf c = base(seed);
		struct impair im;
		uint64_t n;

		impair_loss_burst(&c, 0.10, 1);
		CHECK(fabs(impair_loss_rate(&c) - 0.10) < 1e-12);
		CHECK_EQ(impair_init(&im, &c), 0);
		run(&im, out, &n, NULL);
		CHECK(near_binomial(im.st.lost, N, 0.10));
		CHECK_EQ(n, N - im.st.lost);
		CHECK_EQ(im.st.out, n);
		CHECK_EQ(im.st.in, N);
		/* Independent: a loss is followed by a loss about 10 % of the time. */
		uint64_t pairs = 0, lost_after_lost = 0;
		for (uint64_t i = 1; i < n; i++)
			if (out[i] - out[i - 1] > 1) {
				pairs++;
				lost_after_lost += out[i] - out[i - 1] > 2;
			}
		CHECK(near_binomial(lost_after_lost, pairs, 0.10));
		/* Without delay, reordering or duplication: in order, nothing delayed. */
		int sorted = 1;
		for (uint64_t i = 1; i < n; i++)
			sorted &= out[i] > out[i - 1];
		CHECK(sorted);
		CHECK_EQ(im.st.delayed, 0);
		impair_fini(&im);
	}
}

/* Loss in bursts: the rate, and the mean length of a run of lost frames. */
static void test_burst_loss(uint64_t *out)
{
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct impair_conf c = base(seed);
		struct impair im;
		uint64_t n, runs = 0, lost = 0;

		impair_loss_burst(&c, 0.05, 4);
		CHECK(fabs(impair_loss_rate(&c) - 0.05) < 1e-12);
		CHECK_EQ(impair_init(&im, &c), 0);
		run(&im, out, &n, NULL);
		for (uint64_t i = 0, prev = UINT64_MAX; i < n; prev = out[i], i++) {
			uint64_t gap = out[i] - (prev == UINT64_MAX ? 0 : prev + 1);

			if (gap) {
				runs++;
				lost += gap;
			}
		}
		/* Bursts of mean 4 raise the variance of the count: by the
		 * renewal argument about (1 + 2 (1/r - 1)... ) ~ 7x; allow 3 %
		 * of N = 5 % +- 0.6 points, still tight around 5 %. */
		CHECK(fabs((double)im.st.lost / N - 0.05) < 0.006);
		CHECK(runs > 0 && fabs((double)lost / (double)runs - 4.0) < 0.4);
		impair_fini(&im);
	}
	/* The general chain: rate (p * bad + r * good) / (p + r). */
	struct impair_conf c = base(9);
	struct impair im;
	uint64_t n;

	c.loss_p = 0.01, c.loss_r = 0.3, c.loss_bad = 0.8, c.loss_good = 0.002;
	CHECK(fabs(impair_loss_rate(&c) - (0.01 * 0.8 + 0.3 * 0.002) / 0.31) < 1e-12);
	CHECK_EQ(impair_init(&im, &c), 0);
	run(&im, out, &n, NULL);
	CHECK(fabs((double)im.st.lost / N - impair_loss_rate(&c)) < 0.005);
	impair_fini(&im);
}

static void test_dup(uint64_t *out)
{
	for (uint64_t seed = 1; seed <= 5; seed++) {
		struct impair_conf c = base(seed);
		struct impair im;
		uint64_t n, adjacent = 0;

		c.dup = 0.005;
		CHECK_EQ(impair_init(&im, &c), 0);
		run(&im, out, &n, NULL);
		CHECK(near_binomial(im.st.duplicated, N, 0.005));
		CHECK_EQ(n, N + im.st.duplicated);
		/* Every copy right behind its original; otherwise in order. */
		int order = 1;
		for (uint64_t i = 1; i < n; i++) {
			adjacent += out[i] == out[i - 1];
			order &= out[i] >= out[i - 1];
		}
		CHECK_EQ(adjacent, im.st.duplicated);
		CHECK(order);
		CHECK_EQ(im.st.lost + im.st.queue_full, 0);
		impair_fini(&im);
	}
}

static void test_reorder(uint64_t *out)
{
	for (uint64_t seed = 1; seed <= 6; seed++) {
		/* Half the runs push bursts of 32 before popping: frames queued
		 * in front of a held-back one do not count as overtaking it. */
		batch = seed % 2 ? 1 : 32;
		struct impair_conf c = base(seed);
		struct impair im;
		uint64_t n, late = 0, by_gap = 0, max = 0;

		c.reorder = 0.05;
		c.reorder_gap = 3;
		CHECK_EQ(impair_init(&im, &c), 0);
		run(&im, out, &n, NULL);
		CHECK_EQ(n, N);
		/* A frame that left after a larger number was reordered; count
		 * those and how many frames passed it. */
		for (uint64_t i = 0; i < n; i++) {
			if (out[i] < max) {
				late++;
				uint64_t passed = 0;
				for (uint64_t k = i; k-- > 0 && k + 8 > i;)
					passed += out[k] > out[i];
				by_gap += passed >= 3;
			}
			if (out[i] > max)
				max = out[i];
		}
		CHECK_EQ(late, im.st.reordered);
		CHECK(near_binomial(im.st.reordered, N, 0.05));
		/* Frames every 10 us: all 3 overtakers come well within 10 ms
		 * (only the frames still held at the end are drained early). */
		CHECK_EQ(timeouts_before_drain, 0);
		CHECK_EQ(by_gap, late);
		/* Each number once. */
		uint64_t sum = 0;
		for (uint64_t i = 0; i < n; i++)
			sum += out[i];
		CHECK(sum == (uint64_t)N * (N - 1) / 2);
		impair_fini(&im);
	}
	batch = 1;
}

/* A held-back frame with nothing behind it leaves after reorder_max_ns. */
static void test_reorder_timeout(void)
{
	struct impair_conf c = base(3);
	struct impair im;
	uint64_t t0 = 5 * MS;

	c.reorder = 1.0;
	c.reorder_gap = 2;
	CHECK_EQ(impair_init(&im, &c), 0);
	CHECK_EQ(impair_push(&im, t0, FRAME(0), 60), IMPAIR_QUEUED);
	CHECK(impair_pop(&im, t0) == NULL);
	CHECK_EQ(impair_next_ns(&im), t0 + 10 * MS);
	CHECK(impair_pop(&im, t0 + 10 * MS - 1) == NULL);
	CHECK(impair_pop(&im, t0 + 10 * MS) == FRAME(0));
	CHECK_EQ(im.st.reorder_timeouts, 1);
	CHECK_EQ(im.st.reordered, 0);
	CHECK_EQ(impair_next_ns(&im), UINT64_MAX);
	impair_fini(&im);
}

/* Same seed, same decisions and order; another seed, others. */
static void test_reproducible(uint64_t *out)
{
	uint64_t *out2 = malloc(2 * N * sizeof(*out2)), *v1 = malloc(N * sizeof(*v1)),
		 *v2 = malloc(N * sizeof(*v2)), n1, n2, same;

	if (!out2 || !v1 || !v2) {
		CHECK(!"out of memory");
		goto out;
	}
	for (int seed_b = 42; seed_b <= 43; seed_b++) {
		struct impair_conf a = base(42), b = base((uint64_t)seed_b);
		struct impair ia, ib;

		impair_loss_burst(&a, 0.02, 2);
		a.dup = 0.01, a.reorder = 0.03, a.reorder_gap = 2;
		a.delay_ns = 1 * MS, a.jitter_ns = MS / 2;
		impair_loss_burst(&b, 0.02, 2);
		b.dup = 0.01, b.reorder = 0.03, b.reorder_gap = 2;
		b.delay_ns = 1 * MS, b.jitter_ns = MS / 2;
		CHECK_EQ(impair_init(&ia, &a), 0);
		CHECK_EQ(impair_init(&ib, &b), 0);
		run(&ia, out, &n1, v1);
		run(&ib, out2, &n2, v2);
		same = n1 == n2 && !memcmp(out, out2, n1 * sizeof(*out)) &&
		       !memcmp(v1, v2, N * sizeof(*v1));
		if (seed_b == 42)
			CHECK(same && !memcmp(&ia.st, &ib.st, sizeof(ia.st)));
		else
			CHECK(!same);
		impair_fini(&ia);
		impair_fini(&ib);
	}
	/* Loss picks the same frames whether or not duplication is on. */
	struct impair_conf a = base(7), b = base(7);
	struct impair ia, ib;

	impair_loss_burst(&a, 0.1, 1);
	impair_loss_burst(&b, 0.1, 1);
	b.dup = 0.2;
	CHECK_EQ(impair_init(&ia, &a), 0);
	CHECK_EQ(impair_init(&ib, &b), 0);
	run(&ia, out, &n1, v1);
	run(&ib, out2, &n2, v2);
	same = 1;
	for (uint64_t i = 0; i < N; i++)
		same &= (v1[i] == IMPAIR_LOST) == (v2[i] == IMPAIR_LOST);
	CHECK(same);
	CHECK(ib.st.duplicated > 0);
	impair_fini(&ia);
	impair_fini(&ib);
out:
	free(out2);
	free(v1);
	free(v2);
}

/*
 * Delay and jitter: step the clock by 10 us, record each frame's time in
 * the queue. spacing: between arrivals.
 */
static void delays(struct impair_conf *c, uint64_t count, uint64_t spacing, double *min,
		   double *max, double *mean, double *sd, int *ordered)
{
	struct impair im;
	uint64_t step = 10000, now = 0, next_in = 0, i = 0, got = 0, last = 0;
	double sum = 0, sum2 = 0;
	int early = 0;
	void *p;

	*min = 1e18, *max = 0, *ordered = 1;
	CHECK_EQ(impair_init(&im, c), 0);
	while (got < count) {
		if (i < count && now >= next_in) {
			CHECK_EQ(impair_push(&im, now, FRAME(now), 1000), IMPAIR_QUEUED);
			i++;
			next_in += spacing;
		}
		while ((p = impair_pop(&im, now))) {
			double d = (double)(now - INDEX(p)) / 1e6;

			*ordered &= got == 0 || INDEX(p) > last;
			last = INDEX(p);
			*min = d < *min ? d : *min;
			*max = d > *max ? d : *max;
			sum += d;
			sum2 += d * d;
			got++;
		}
		/* Nothing due before impair_next_ns(). */
		early |= impair_next_ns(&im) <= now;
		now += step;
		if (now > 1000000 * MS)
			break;
	}
	CHECK_EQ(got, count);
	CHECK(!early);
	*mean = sum / (double)count;
	*sd = sqrt(sum2 / (double)count - *mean * *mean);
	impair_fini(&im);
}

static void test_delay(void)
{
	struct impair_conf c = base(11);
	double min, max, mean, sd;
	int ordered;

	/* Uniform 20 +- 5 ms, frames 50 ms apart: independent samples. The
	 * clock steps 10 us, so a frame leaves up to 0.01 ms after it is due. */
	c.delay_ns = 20 * MS, c.jitter_ns = 5 * MS;
	delays(&c, 4000, 50 * MS, &min, &max, &mean, &sd, &ordered);
	CHECK(min >= 15.0 && max <= 25.01);
	CHECK(min < 15.2 && max > 24.8); /* the whole range is used */
	CHECK(fabs(mean - 20.0) < 0.2);
	CHECK(fabs(sd - 5.0 / sqrt(3.0)) < 0.2);
	CHECK(ordered);
	/* Frames 0.1 ms apart, far closer than the jitter: order kept, the
	 * bounds still hold, delays bunch towards the top. */
	delays(&c, 20000, MS / 10, &min, &max, &mean, &sd, &ordered);
	CHECK(ordered);
	CHECK(min >= 15.0 && max <= 25.01);
	CHECK(mean > 22.0);
	/* Normal, sigma 5 ms, cut at 3 sigma. */
	c.jitter_normal = true;
	delays(&c, 4000, 50 * MS, &min, &max, &mean, &sd, &ordered);
	CHECK(min >= 5.0 && max <= 35.01);
	CHECK(fabs(mean - 20.0) < 0.4);
	CHECK(fabs(sd - 5.0) < 0.3);
	/* No jitter: exactly the delay (to the clock's step). */
	c.jitter_ns = 0;
	delays(&c, 1000, MS, &min, &max, &mean, &sd, &ordered);
	CHECK(min >= 20.0 && max <= 20.01);
	/* Jitter larger than the delay: never before the arrival. */
	c.delay_ns = 1 * MS, c.jitter_ns = 5 * MS, c.jitter_normal = false;
	delays(&c, 1000, 50 * MS, &min, &max, &mean, &sd, &ordered);
	CHECK(min >= 0.0 && max <= 6.01);
}

/* Rate: 1250 bytes on the wire at 10 Mbit/s is 1 ms a frame. */
static void test_rate(void)
{
	struct impair_conf c = base(1);
	struct impair im;
	uint64_t due_last = 0;
	void *p;

	c.rate_bps = 10000000;
	CHECK_EQ(impair_init(&im, &c), 0);
	for (uint64_t i = 0; i < 1000; i++)
		CHECK_EQ(impair_push(&im, 0, FRAME(i), 1250 - IMPAIR_WIRE_OVERHEAD), IMPAIR_QUEUED);
	CHECK_EQ(impair_next_ns(&im), 1 * MS);
	for (uint64_t i = 0; i < 1000; i++) {
		due_last = impair_next_ns(&im);
		p = impair_pop(&im, due_last);
		CHECK(p == FRAME(i));
	}
	CHECK_EQ(due_last, 1000 * MS);
	impair_fini(&im);
}

static void test_cap(void)
{
	struct impair_conf c = base(1);
	struct impair im;
	uint64_t queued = 0, full = 0, n = 0;
	void *p;

	c.cap = 100;
	c.delay_ns = 1000 * MS;
	c.dup = 0.3;
	CHECK_EQ(impair_init(&im, &c), 0);
	for (uint64_t i = 0; i < 150; i++) {
		enum impair_verdict v = impair_push(&im, i, FRAME(i), 60);

		if (v == IMPAIR_FULL) {
			full++;
			continue;
		}
		queued++;
		if (v == IMPAIR_QUEUED_DUP)
			queued += impair_push_copy(&im, FRAME(i));
		CHECK(impair_held_frames(&im) <= 100);
	}
	CHECK_EQ(queued, 100);
	CHECK_EQ(impair_held_frames(&im), 100);
	CHECK(full >= 50);
	CHECK_EQ(im.st.queue_full, 150 - (queued - im.st.duplicated));
	CHECK(impair_pop(&im, 999 * MS) == NULL);
	while ((p = impair_pop(&im, UINT64_MAX)))
		n++;
	CHECK_EQ(n, 100);
	CHECK_EQ(impair_held_frames(&im), 0);
	/* A copy that was not made is counted, and a stray push_copy refused. */
	c.cap = 10, c.dup = 1.0, c.delay_ns = 0;
	impair_fini(&im);
	CHECK_EQ(impair_init(&im, &c), 0);
	CHECK_EQ(impair_push(&im, 0, FRAME(1), 60), IMPAIR_QUEUED_DUP);
	impair_copy_failed(&im);
	CHECK(!impair_push_copy(&im, FRAME(2)));
	CHECK_EQ(im.st.dup_nobuf, 1);
	CHECK_EQ(im.st.duplicated, 0);
	impair_fini(&im);
}

static void test_bad_conf(void)
{
	struct impair_conf c = base(1);
	struct impair im;

	CHECK(!impair_conf_active(&c));
	c.dup = 1.5;
	CHECK_EQ(impair_init(&im, &c), -EINVAL);
	c.dup = NAN;
	CHECK_EQ(impair_init(&im, &c), -EINVAL);
	c.dup = 0, c.loss_good = -0.1;
	CHECK_EQ(impair_init(&im, &c), -EINVAL);
	c.loss_good = 0, c.reorder = 0.1, c.reorder_gap = 0;
	CHECK_EQ(impair_init(&im, &c), -EINVAL);
	c.reorder_gap = 1, c.cap = 0;
	CHECK_EQ(impair_init(&im, &c), -EINVAL);
	c.cap = IMPAIR_CAP_MAX + 1;
	CHECK_EQ(impair_init(&im, &c), -EINVAL);
	c.cap = 1;
	CHECK_EQ(impair_init(&im, &c), 0);
	CHECK(impair_conf_active(&c));
	impair_fini(&im);
}

int main(void)
{
	uint64_t *out = malloc(2 * N * sizeof(*out));

	if (!out)
		return 1;
	test_bernoulli_loss(out);
	test_burst_loss(out);
	test_dup(out);
	test_reorder(out);
	test_reorder_timeout();
	test_reproducible(out);
	test_delay();
	test_rate();
	test_cap();
	test_bad_conf();
	free(out);
	return check_done("test_impair");
}
