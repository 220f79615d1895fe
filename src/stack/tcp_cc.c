/* SPDX-License-Identifier: MIT */
/*
 * Congestion control behind one ops table (tcp_send.h). Pure: fed acked
 * bytes, RTT samples and a clock.
 *
 *   NewReno  RFC 5681: slow start and congestion avoidance with
 *            appropriate byte counting (RFC 3465, L = 2), ssthresh =
 *            max(FlightSize / 2, 2 SMSS) on loss (eq. 4), cwnd = 1 SMSS
 *            after an RTO (the loss window). The recovery itself (RFC
 *            6582, RFC 6675) is tcp_output.c's.
 *   CUBIC    RFC 9438: W_cubic(t) = C (t - K)^3 + W_max with C = 0.4,
 *            beta = 0.7, the Reno-friendly estimate W_est (4.3), fast
 *            convergence (4.7), the same slow start. No HyStart.
 *
 * Both start from RFC 6928's initial window: min(10 MSS, max(2 MSS, 14600)).
 */
#include "tcp_send.h"

#define CUBIC_C	   0.4
#define CUBIC_BETA 0.7
#define ABC_L	   2 /* RFC 3465: at most L SMSS of growth per ACK in slow start */

double tcp_cc_cbrt(double x)
{
	double y = 1.0;
	bool neg = x < 0;

	if (neg)
		x = -x;
	if (x == 0)
		return 0;
	/* A start within a factor of 2 (powers of 8), then Newton. */
	while (y * y * y < x)
		y *= 2;
	while (y * y * y > 8 * x)
		y /= 2;
	for (int i = 0; i < 40; i++) {
		double n = (2 * y + x / (y * y)) / 3;

		if (n == y)
			break;
		y = n;
	}
	return neg ? -y : y;
}

static uint32_t initial_window(uint32_t mss)
{
	uint32_t w = 2 * mss > 14600 ? 2 * mss : 14600;

	return 10 * mss < w ? 10 * mss : w;
}

static void set_cwnd(struct tcp_cc *cc, double w)
{
	if (w < cc->mss)
		w = cc->mss;
	if (w > (double)(1u << 30))
		w = (double)(1u << 30);
	cc->cwnd_f = w;
	cc->cwnd = (uint32_t)w;
}

/* Slow start (RFC 5681 3.1 with RFC 3465); returns the bytes left over
 * past ssthresh for congestion avoidance. */
static uint32_t slow_start(struct tcp_cc *cc, uint32_t acked)
{
	uint32_t inc = acked < ABC_L * cc->mss ? acked : ABC_L * cc->mss;
	uint32_t room = cc->ssthresh - cc->cwnd;

	if (inc > room) {
		set_cwnd(cc, cc->ssthresh);
		return acked - room < acked ? acked - room : 0;
	}
	set_cwnd(cc, cc->cwnd_f + inc);
	return 0;
}

static uint32_t half_flight(const struct tcp_cc *cc, uint32_t flight)
{
	return flight / 2 > 2 * cc->mss ? flight / 2 : 2 * cc->mss;
}

/* --- NewReno --- */

static void reno_init(struct tcp_cc *cc)
{
	cc->ca_acked = 0;
}

static void reno_on_ack(struct tcp_cc *cc, uint32_t acked, uint32_t rtt_us, uint64_t now)
{
	(void)rtt_us;
	(void)now;
	if (cc->cwnd < cc->ssthresh) {
		acked = slow_start(cc, acked);
		if (!acked)
			return;
	}
	/* 3.1 congestion avoidance, byte counting: one SMSS per cwnd acked. */
	cc->ca_acked += acked;
	if (cc->ca_acked >= cc->cwnd) {
		cc->ca_acked -= cc->cwnd;
		set_cwnd(cc, cc->cwnd_f + cc->mss);
	}
}

static void reno_on_loss(struct tcp_cc *cc, uint32_t flight, uint64_t now)
{
	(void)now;
	cc->ssthresh = half_flight(cc, flight);
	set_cwnd(cc, cc->ssthresh);
	cc->ca_acked = 0;
}

static void reno_on_rto(struct tcp_cc *cc, uint32_t flight, uint64_t now)
{
	(void)now;
	cc->ssthresh = half_flight(cc, flight);
	set_cwnd(cc, cc->mss);
	cc->ca_acked = 0;
}

const struct tcp_cc_ops tcp_cc_newreno = {
    .name = "newreno",
    .init = reno_init,
    .on_ack = reno_on_ack,
    .on_loss = reno_on_loss,
    .on_rto = reno_on_rto,
};

/* --- CUBIC --- */

static void cubic_init(struct tcp_cc *cc)
{
	cc->w_max = 0;
	cc->k = 0;
	cc->w_est = 0;
	cc->epoch_ns = 0;
	cc->min_rtt_us = 0;
}

/* 4.6 / 4.7: a congestion event; returns the new ssthresh in bytes. */
static uint32_t cubic_reduce(struct tcp_cc *cc)
{
	double w = cc->cwnd_f / cc->mss;
	double ss;

	/* 4.7 fast convergence: below the last W_max, release bandwidth. */
	if (w < cc->w_max)
		cc->w_max = w * (1.0 + CUBIC_BETA) / 2.0;
	else
		cc->w_max = w;
	cc->epoch_ns = 0;
	ss = cc->cwnd_f * CUBIC_BETA;
	if (ss < 2.0 * cc->mss)
		ss = 2.0 * cc->mss;
	return (uint32_t)ss;
}

static double cubic_w(const struct tcp_cc *cc, double t)
{
	double d = t - cc->k;

	return CUBIC_C * d * d * d + cc->w_max;
}

static void cubic_on_ack(struct tcp_cc *cc, uint32_t acked, uint32_t rtt_us, uint64_t now)
{
	double w, t, rtt, target, segs, alpha;

	if (rtt_us && (!cc->min_rtt_us || rtt_us < cc->min_rtt_us))
		cc->min_rtt_us = rtt_us;
	if (cc->cwnd < cc->ssthresh) {
		acked = slow_start(cc, acked);
		if (!acked)
			return;
	}
	w = cc->cwnd_f / cc->mss;
	if (!cc->epoch_ns) {
		/* 4.2: a new congestion avoidance epoch. */
		cc->epoch_ns = now ? now : 1;
		if (w < cc->w_max) {
			cc->k = tcp_cc_cbrt((cc->w_max - w) / CUBIC_C);
		} else {
			cc->k = 0;
			cc->w_max = w;
		}
		cc->w_est = w;
	}
	t = (double)(now - cc->epoch_ns) / 1e9;
	rtt = (double)(cc->min_rtt_us ? cc->min_rtt_us : 100000) / 1e6;
	segs = (double)acked / cc->mss;
	/* 4.3 Reno-friendly region: W_est grows by alpha_cubic per RTT, and
	 * by 1 once it passed the W_max of the last event. */
	alpha = cc->w_est >= cc->w_max ? 1.0 : 3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA);
	cc->w_est += alpha * segs / w;
	if (cubic_w(cc, t) < cc->w_est) {
		set_cwnd(cc, cc->w_est * cc->mss);
		return;
	}
	/* 4.4 concave / 4.5 convex: towards W_cubic(t + RTT), no faster than
	 * 1.5 cwnd per RTT, never down. */
	target = cubic_w(cc, t + rtt);
	if (target > 1.5 * w)
		target = 1.5 * w;
	if (target > w)
		set_cwnd(cc, cc->cwnd_f + (target - w) / w * segs * cc->mss);
}

static void cubic_on_loss(struct tcp_cc *cc, uint32_t flight, uint64_t now)
{
	(void)flight;
	(void)now;
	cc->ssthresh = cubic_reduce(cc);
	set_cwnd(cc, cc->ssthresh);
}

static void cubic_on_rto(struct tcp_cc *cc, uint32_t flight, uint64_t now)
{
	(void)flight;
	(void)now;
	/* 4.8: ssthresh as for a loss, cwnd to the loss window. */
	cc->ssthresh = cubic_reduce(cc);
	set_cwnd(cc, cc->mss);
}

const struct tcp_cc_ops tcp_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .on_ack = cubic_on_ack,
    .on_loss = cubic_on_loss,
    .on_rto = cubic_on_rto,
};

void tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss)
{
	cc->ops = ops;
	cc->mss = mss ? mss : 536;
	cc->ssthresh = UINT32_MAX;
	cc->ca_acked = 0;
	set_cwnd(cc, initial_window(cc->mss));
	ops->init(cc);
}
