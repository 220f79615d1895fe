/* SPDX-License-Identifier: MIT */
/*
 * RFC 6298, the retransmission timer: SRTT and RTTVAR from measurements,
 * RTO = SRTT + max(G, 4 RTTVAR) within [min, max], doubled per expiry.
 * Pure: fed samples, no clock. Karn's rule (RFC 6298 3: no sample from a
 * retransmitted segment unless timestamps say which one was acked) is the
 * caller's.
 */
#include "tcp_send.h"

#define RTT_G_US 1000u /* clock granularity G: the timers run in ms */

static void rto_update(struct tcp_rtt *r)
{
	uint64_t var4 = (uint64_t)r->rttvar_us * 4;
	uint64_t rto_us = (uint64_t)r->srtt_us + (var4 > RTT_G_US ? var4 : RTT_G_US);
	uint64_t ms = (rto_us + 999) / 1000;

	/* 2.4: at least min (RFC 6298 says 1 s; Linux's 200 ms, as the
	 * issue asks); 2.5: a maximum of at least 60 s. */
	if (ms < r->min_rto_ms)
		ms = r->min_rto_ms;
	if (ms > r->max_rto_ms)
		ms = r->max_rto_ms;
	r->rto_ms = (uint32_t)ms;
}

void tcp_rtt_init(struct tcp_rtt *r, uint32_t init_ms, uint32_t min_ms, uint32_t max_ms)
{
	r->srtt_us = r->rttvar_us = r->last_us = 0;
	r->min_rtt_us = UINT32_MAX;
	r->min_rto_ms = min_ms;
	r->max_rto_ms = max_ms;
	r->rto_ms = init_ms < max_ms ? init_ms : max_ms;
	r->have_sample = false;
}

void tcp_rtt_sample(struct tcp_rtt *r, uint32_t rtt_us)
{
	if (rtt_us == 0)
		rtt_us = 1;
	r->last_us = rtt_us;
	if (rtt_us < r->min_rtt_us)
		r->min_rtt_us = rtt_us;
	if (!r->have_sample) {
		/* 2.2: SRTT = R, RTTVAR = R/2. */
		r->srtt_us = rtt_us;
		r->rttvar_us = rtt_us / 2;
		r->have_sample = true;
	} else {
		/* 2.3: beta = 1/4, alpha = 1/8, RTTVAR first with the old SRTT. */
		uint32_t d = r->srtt_us > rtt_us ? r->srtt_us - rtt_us : rtt_us - r->srtt_us;

		r->rttvar_us = r->rttvar_us - r->rttvar_us / 4 + d / 4;
		r->srtt_us = r->srtt_us - r->srtt_us / 8 + rtt_us / 8;
	}
	rto_update(r);
}

uint32_t tcp_rtt_rto(const struct tcp_rtt *r, unsigned backoff)
{
	uint64_t ms = r->rto_ms;

	/* 5.5: back off the timer; 5.7 keeps it until a new sample. */
	while (backoff-- && ms < r->max_rto_ms)
		ms *= 2;
	return ms > r->max_rto_ms ? r->max_rto_ms : (uint32_t)ms;
}
