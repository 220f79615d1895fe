/* SPDX-License-Identifier: MIT */
/*
 * TCP's pure send-side pieces alone (src/stack/tcp_send.h): the RFC 6298
 * estimator, the RFC 6675 scoreboard, NewReno and CUBIC under a synthetic
 * ACK clock.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "tcp_send.h"

/* --- RFC 6298 --- */

static void test_rtt(void)
{
	struct tcp_rtt r;

	tcp_rtt_init(&r, 1000, 200, 120000);
	CHECK_EQ(tcp_rtt_rto(&r, 0), 1000); /* 2.1 */
	CHECK_EQ(tcp_rtt_rto(&r, 1), 2000); /* 5.5 */
	CHECK_EQ(tcp_rtt_rto(&r, 3), 8000);
	CHECK_EQ(tcp_rtt_rto(&r, 30), 120000); /* capped */
	/* 2.2: SRTT = 100 ms, RTTVAR = 50 ms, RTO = 100 + 4 * 50 = 300 ms. */
	tcp_rtt_sample(&r, 100000);
	CHECK_EQ(r.srtt_us, 100000);
	CHECK_EQ(r.rttvar_us, 50000);
	CHECK_EQ(tcp_rtt_rto(&r, 0), 300);
	/* 2.3: RTTVAR = 3/4 50 + 1/4 |100 - 200| = 62.5; SRTT = 7/8 100 + 1/8 200. */
	tcp_rtt_sample(&r, 200000);
	CHECK_EQ(r.rttvar_us, 62500);
	CHECK_EQ(r.srtt_us, 112500);
	CHECK_EQ(tcp_rtt_rto(&r, 0), 363); /* 112.5 + 250 = 362.5, rounded up */
	/* A steady small RTT converges to the 200 ms floor (2.4, Linux's). */
	for (int i = 0; i < 200; i++)
		tcp_rtt_sample(&r, 50);
	CHECK(r.srtt_us < 1000);
	CHECK_EQ(tcp_rtt_rto(&r, 0), 200);
	CHECK_EQ(tcp_rtt_rto(&r, 2), 800);
	CHECK_EQ(r.min_rtt_us, 50);
	/* An enormous sample is capped at max. */
	tcp_rtt_sample(&r, 4000000000u);
	CHECK_EQ(tcp_rtt_rto(&r, 0), 120000);
}

/* --- RFC 6675 scoreboard --- */

static unsigned released;
static void rel(void *ctx, void *pkt)
{
	(void)ctx;
	(void)pkt;
	released++;
}

/* n segments of 1000 bytes from seq 1000, all sent. */
static void fill(struct tcp_sb *sb, uint32_t n)
{
	static char token;

	CHECK_EQ(tcp_sb_init(sb, 4), 0);
	for (uint32_t i = 0; i < n; i++) {
		struct tcp_sseg s = {.pkt = &token, .seq = 1000 + 1000 * i, .len = 1000};

		CHECK(tcp_sb_push(sb, &s));
	}
	for (uint32_t i = 0; i < n; i++)
		tcp_sb_sent(sb, i, 100 + i);
	CHECK_EQ(sb->nsent, n);
	CHECK_EQ(sb->out, n * 1000);
}

static void test_sack(void)
{
	struct tcp_sb sb;
	struct tcp_sb_acked a;
	uint32_t bad = 0, blk[4][2];

	fill(&sb, 10); /* [1000, 11000), grown from 16 entries? no: 4 -> 16 */
	CHECK_EQ(tcp_sb_pipe(&sb), 10000);
	/* One SACKed segment above the hole: not lost yet (DupThresh 3). */
	blk[0][0] = 3000, blk[0][1] = 4000;
	CHECK_EQ(tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 1, 1000, 11000, &bad), 1000);
	CHECK_EQ(bad, 0);
	CHECK_EQ(tcp_sb_mark_lost(&sb, 1000), 0);
	CHECK_EQ(tcp_sb_next_lost(&sb), -1);
	/* Three: segments 0 and 1 are lost; pipe = 10000 - 3000 - 2000. */
	blk[0][0] = 3000, blk[0][1] = 6000;
	CHECK_EQ(tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 1, 1000, 11000, &bad), 2000);
	CHECK_EQ(sb.sacked, 3000);
	CHECK_EQ(tcp_sb_mark_lost(&sb, 1000), 2000);
	CHECK_EQ(sb.lost, 2000);
	CHECK_EQ(tcp_sb_pipe(&sb), 5000);
	CHECK_EQ(tcp_sb_next_lost(&sb), 0);
	tcp_sb_retransmitted(&sb, 0, 500);
	CHECK_EQ(tcp_sb_pipe(&sb), 6000); /* a retransmission is in the pipe again */
	CHECK_EQ(tcp_sb_next_lost(&sb), 1);
	tcp_sb_retransmitted(&sb, 1, 501);
	CHECK_EQ(tcp_sb_next_lost(&sb), -1);
	/* Invalid blocks: below snd_una (D-SACK), beyond snd_max, empty,
	 * and a first block inside the second (RFC 2883 D-SACK). */
	blk[0][0] = 500, blk[0][1] = 900;
	blk[1][0] = 20000, blk[1][1] = 21000;
	blk[2][0] = 7000, blk[2][1] = 7000;
	CHECK_EQ(tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 3, 1000, 11000, &bad), 0);
	CHECK_EQ(bad, 3);
	blk[0][0] = 4000, blk[0][1] = 5000;
	blk[1][0] = 3000, blk[1][1] = 6000;
	CHECK_EQ(tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 2, 1000, 11000, &bad), 0);
	CHECK_EQ(bad, 4);
	/* A block that covers a segment only in part marks nothing. */
	blk[0][0] = 7500, blk[0][1] = 8000;
	CHECK_EQ(tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 1, 1000, 11000, &bad), 0);
	/* The cumulative ACK covers the holes: their counts go with them. */
	released = 0;
	tcp_sb_ack(&sb, 3000, rel, NULL, &a);
	CHECK_EQ(a.bytes, 2000);
	CHECK_EQ(a.segs, 2);
	CHECK(a.retransmitted); /* Karn: no RTT sample from these */
	CHECK_EQ(released, 2);
	CHECK_EQ(sb.lost, 0);
	CHECK_EQ(sb.retrans, 0);
	CHECK_EQ(sb.sacked, 3000);
	CHECK_EQ(tcp_sb_pipe(&sb), 5000);
	/* A partial ACK inside a segment trims it. */
	tcp_sb_ack(&sb, 6500, rel, NULL, &a);
	CHECK_EQ(a.bytes, 3500);
	CHECK(!a.retransmitted);
	CHECK_EQ(a.newest_xmit, 104);
	CHECK_EQ(tcp_sb_at(&sb, 0)->seq, 6500);
	CHECK_EQ(tcp_sb_at(&sb, 0)->len, 500);
	CHECK_EQ(sb.out, 4500);
	CHECK_EQ(sb.sacked, 0);
	/* RTO: every sent segment lost, SACKs forgotten (RFC 6675 5.1). */
	blk[0][0] = 9000, blk[0][1] = 11000;
	CHECK_EQ(tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 1, 6500, 11000, &bad), 2000);
	tcp_sb_rto(&sb);
	CHECK_EQ(sb.sacked, 0);
	CHECK_EQ(sb.lost, 4500);
	CHECK_EQ(tcp_sb_pipe(&sb), 0);
	CHECK_EQ(tcp_sb_next_lost(&sb), 0);
	tcp_sb_ack(&sb, 11000, rel, NULL, &a);
	CHECK_EQ(sb.n, 0);
	CHECK_EQ(sb.out, 0);
	CHECK_EQ(sb.lost, 0);
	CHECK_EQ(tcp_sb_pipe(&sb), 0);
	tcp_sb_fini(&sb);

	/* More than 2 MSS SACKed above a hole, in fewer than 3 segments. */
	fill(&sb, 4);
	blk[0][0] = 2000, blk[0][1] = 4000;
	tcp_sb_sack(&sb, (const uint32_t(*)[2])blk, 1, 1000, 5000, &bad);
	CHECK_EQ(tcp_sb_mark_lost(&sb, 1000), 0);   /* 2000 is not > 2 * 1000 */
	CHECK_EQ(tcp_sb_mark_lost(&sb, 900), 1000); /* 2000 > 1800 */
	/* Without SACK: the head marked lost for a fast retransmit. */
	tcp_sb_recovery_done(&sb);
	CHECK_EQ(sb.lost, 0);
	CHECK_EQ(sb.sacked, 2000);
	tcp_sb_mark_head_lost(&sb);
	CHECK_EQ(sb.lost, 1000);
	CHECK_EQ(tcp_sb_next_lost(&sb), 0);
	tcp_sb_retransmitted(&sb, 0, 1);
	tcp_sb_mark_head_lost(&sb); /* the resent hole again: resend once more */
	CHECK_EQ(tcp_sb_next_lost(&sb), 0);
	CHECK_EQ(sb.retrans, 0);
	tcp_sb_fini(&sb);

	/* Queued segments: a split inserts behind the split one. */
	CHECK_EQ(tcp_sb_init(&sb, 2), 0);
	for (uint32_t i = 0; i < 40; i++) {
		struct tcp_sseg s = {.seq = 100 * i, .len = 100};

		CHECK(tcp_sb_push(&sb, &s));
	}
	CHECK_EQ(sb.queued, 4000);
	tcp_sb_sent(&sb, 0, 1);
	{
		struct tcp_sseg t = {.seq = 150, .len = 50};

		tcp_sb_at(&sb, 1)->len = 50;
		sb.queued -= 50;
		CHECK(!tcp_sb_insert(&sb, 0, &t)); /* not behind a sent segment's slot 0 */
		CHECK(tcp_sb_insert(&sb, 1, &t));
	}
	CHECK_EQ(sb.n, 41);
	CHECK_EQ(sb.queued, 4000);
	CHECK_EQ(tcp_sb_at(&sb, 2)->seq, 150);
	CHECK_EQ(tcp_sb_at(&sb, 3)->seq, 200);
	CHECK_EQ(tcp_sb_at(&sb, 40)->seq, 3900);
	tcp_sb_fini(&sb);
}

/* --- congestion control under a synthetic ACK clock --- */

#define MSS 1000u

/* One RTT: a window's worth of ACKs of one MSS each, spread over rtt. */
static void one_rtt(struct tcp_cc *cc, uint64_t *now, uint32_t rtt_us)
{
	uint32_t segs = cc->cwnd / MSS;
	uint64_t step = (uint64_t)rtt_us * 1000 / (segs ? segs : 1);

	for (uint32_t i = 0; i < segs; i++) {
		*now += step;
		cc->ops->on_ack(cc, MSS, rtt_us, *now);
	}
}

static void test_cc_common(const struct tcp_cc_ops *ops)
{
	struct tcp_cc cc;
	uint64_t now = 1000000000;

	/* RFC 6928: min(10 MSS, max(2 MSS, 14600)). */
	tcp_cc_init(&cc, ops, 1460);
	CHECK_EQ(cc.cwnd, 14600);
	tcp_cc_init(&cc, ops, 536);
	CHECK_EQ(cc.cwnd, 5360);
	tcp_cc_init(&cc, ops, 8960);
	CHECK_EQ(cc.cwnd, 17920);
	/* Slow start doubles per RTT; byte counting: at most 2 MSS per ACK. */
	tcp_cc_init(&cc, ops, MSS);
	CHECK_EQ(cc.cwnd, 10 * MSS);
	one_rtt(&cc, &now, 10000);
	CHECK_EQ(cc.cwnd, 20 * MSS);
	cc.ops->on_ack(&cc, 10 * MSS, 10000, now);
	CHECK_EQ(cc.cwnd, 22 * MSS);
	/* An RTO: one MSS, ssthresh from the flight. */
	cc.ops->on_rto(&cc, 22 * MSS, now);
	CHECK_EQ(cc.cwnd, MSS);
	CHECK(cc.ssthresh >= 2 * MSS && cc.ssthresh <= 16 * MSS);
	/* Slow start up to ssthresh, then congestion avoidance. */
	for (int i = 0; i < 10; i++)
		one_rtt(&cc, &now, 10000);
	CHECK(cc.cwnd >= cc.ssthresh);
}

static void test_newreno(void)
{
	struct tcp_cc cc;
	uint64_t now = 1000000000;
	uint32_t before;

	test_cc_common(&tcp_cc_newreno);
	tcp_cc_init(&cc, &tcp_cc_newreno, MSS);
	cc.ssthresh = 40 * MSS;
	while (cc.cwnd < 40 * MSS)
		one_rtt(&cc, &now, 10000);
	CHECK_EQ(cc.cwnd, 40 * MSS);
	/* Congestion avoidance: one MSS per RTT (RFC 5681 3.1). */
	for (int i = 0; i < 10; i++) {
		before = cc.cwnd;
		one_rtt(&cc, &now, 10000);
		CHECK_EQ(cc.cwnd - before, MSS);
	}
	/* A loss halves it (FlightSize = cwnd here). */
	before = cc.cwnd;
	cc.ops->on_loss(&cc, before, now);
	CHECK_EQ(cc.cwnd, before / 2);
	CHECK_EQ(cc.ssthresh, before / 2);
	/* Never below 2 MSS. */
	cc.ops->on_loss(&cc, MSS, now);
	CHECK_EQ(cc.ssthresh, 2 * MSS);
}

static double cubic_ref(double t, double k, double wmax)
{
	return 0.4 * (t - k) * (t - k) * (t - k) + wmax;
}

static void test_cubic(void)
{
	struct tcp_cc cc;
	uint64_t now = 1000000000, t0;
	double k, w[64];
	int n = 0;

	test_cc_common(&tcp_cc_cubic);
	CHECK(tcp_cc_cbrt(27.0) > 2.999999 && tcp_cc_cbrt(27.0) < 3.000001);
	CHECK(tcp_cc_cbrt(-8.0) > -2.000001 && tcp_cc_cbrt(-8.0) < -1.999999);
	CHECK(tcp_cc_cbrt(1e-6) > 0.0099999 && tcp_cc_cbrt(1e-6) < 0.0100001);

	/* W_max = 100 segments; a loss leaves 0.7 of it (beta). */
	tcp_cc_init(&cc, &tcp_cc_cubic, MSS);
	cc.cwnd = 100 * MSS;
	cc.cwnd_f = cc.cwnd;
	cc.ssthresh = 50 * MSS;
	cc.ops->on_loss(&cc, cc.cwnd, now);
	CHECK_EQ(cc.cwnd, 70 * MSS);
	CHECK_EQ(cc.ssthresh, 70 * MSS);
	/* With a 100 ms RTT the cubic curve rules (Reno's estimate grows
	 * 0.53 segments per RTT, far slower): concave up to W_max near
	 * K = cbrt(30 / 0.4) = 4.2 s, flat there, convex beyond. */
	k = tcp_cc_cbrt(30.0 / 0.4);
	t0 = now;
	for (n = 0; n < 60; n++) {
		one_rtt(&cc, &now, 100000);
		w[n] = (double)cc.cwnd / MSS;
	}
	/* Follows W_cubic(t + RTT) within a segment or two. */
	for (int i = 5; i < 60; i += 5) {
		double t = (double)(i + 1) * 0.1, ref = cubic_ref(t, k, 100.0);

		CHECK(w[i] > ref - 3 && w[i] < ref + 3);
	}
	/* Concave: growth per RTT shrinks until K; convex: grows after. */
	CHECK(w[5] - w[0] > w[25] - w[20]);
	CHECK(w[25] - w[20] > w[40] - w[35]);
	CHECK(w[40] >= 99.0 && w[40] <= 102.0); /* the plateau at W_max */
	CHECK(w[59] - w[54] > w[48] - w[43]);
	CHECK((double)(now - t0) / 1e9 > k);

	/* Fast convergence: a loss below the last W_max lowers W_max further. */
	cc.cwnd = 80 * MSS;
	cc.cwnd_f = cc.cwnd;
	cc.w_max = 100;
	cc.ops->on_loss(&cc, cc.cwnd, now);
	CHECK(cc.w_max > 67.9 && cc.w_max < 68.1); /* 80 (1 + 0.7) / 2 */
	CHECK_EQ(cc.cwnd, 56 * MSS);

	/* Reno-friendly region: at a 1 ms RTT Reno's estimate outgrows the
	 * cubic curve, and cwnd follows W_est (RFC 9438 4.3). */
	tcp_cc_init(&cc, &tcp_cc_cubic, MSS);
	cc.cwnd = 100 * MSS;
	cc.cwnd_f = cc.cwnd;
	cc.ops->on_loss(&cc, cc.cwnd, now);
	t0 = now;
	for (n = 0; n < 100; n++)
		one_rtt(&cc, &now, 1000);
	{
		double t = (double)(now - t0) / 1e9, wc = cubic_ref(t, cc.k, 100.0);
		double wv = (double)cc.cwnd / MSS;
		/* 0.53 a RTT up to W_max (57 RTTs), then 1 a RTT: about
		 * 143 segments after 100 RTTs; the curve is near 72. */
		CHECK(wv > wc + 30);
		CHECK(wv > 138 && wv < 148);
	}
}

int main(void)
{
	test_rtt();
	test_sack();
	test_newreno();
	test_cubic();
	return check_done("test_tcp_send");
}
