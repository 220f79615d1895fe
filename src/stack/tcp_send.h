/* SPDX-License-Identifier: MIT */
/*
 * TCP's send side, its own parts (tcp_impl.h has the seam with the
 * receive side). The three pure pieces see only the structs below and are
 * unit-tested alone:
 *
 *   tcp_rtt.c   RFC 6298 retransmission timer: SRTT, RTTVAR, RTO, back-off
 *   tcp_sack.c  the segments sent and not acknowledged, with the RFC 6675
 *               scoreboard over them (SACKed, lost, retransmitted)
 *   tcp_cc.c    congestion control behind an ops table: NewReno (RFC 5681)
 *               and CUBIC (RFC 9438)
 *
 * tcp_output.c puts them together with the packet buffers and the timers.
 */
#ifndef USNET_TCP_SEND_H
#define USNET_TCP_SEND_H

#include <stdbool.h>
#include <stdint.h>

/* --- RFC 6298 (tcp_rtt.c) --- */

struct tcp_rtt {
	uint32_t srtt_us, rttvar_us; /* valid once have_sample */
	uint32_t rto_ms;	     /* RFC 6298 2.2 / 2.3, without back-off */
	uint32_t min_rto_ms, max_rto_ms;
	uint32_t min_rtt_us; /* smallest sample seen (CUBIC, info) */
	uint32_t last_us;    /* the latest sample */
	bool have_sample;
};

/* RFC 6298 2.1: RTO = init_ms until the first sample. */
void tcp_rtt_init(struct tcp_rtt *r, uint32_t init_ms, uint32_t min_ms, uint32_t max_ms);
/* One measurement (the caller applies Karn's rule, RFC 6298 3). */
void tcp_rtt_sample(struct tcp_rtt *r, uint32_t rtt_us);
/* The timer to arm after `backoff` expiries (RFC 6298 5.5: doubled each
 * time), at most max_rto_ms. */
uint32_t tcp_rtt_rto(const struct tcp_rtt *r, unsigned backoff);

/* --- segments and the RFC 6675 scoreboard (tcp_sack.c) --- */

#define TCP_SEG_SENT	1u  /* transmitted at least once */
#define TCP_SEG_SACKED	2u  /* covered by a SACK block */
#define TCP_SEG_LOST	4u  /* IsLost() or RTO: to be retransmitted */
#define TCP_SEG_RETRANS 8u  /* retransmitted since it was marked lost */
#define TCP_SEG_EVER_RX 16u /* retransmitted once at least (Karn) */
#define TCP_SEG_FIN	32u /* the FIN: len 0, one sequence number */

struct tcp_sseg {
	void *pkt;	  /* the packet buffer holding the payload (tcp_output.c's) */
	uint64_t xmit_ns; /* last transmission */
	uint32_t seq;
	uint16_t len; /* payload bytes */
	uint16_t off; /* payload offset in the buffer's data[] */
	uint8_t fl;   /* TCP_SEG_* */
};

/* Sequence space a segment takes. */
static inline uint32_t tcp_sseg_end(const struct tcp_sseg *s)
{
	return s->seq + s->len + ((s->fl & TCP_SEG_FIN) ? 1u : 0u);
}

/*
 * A ring of segments in sequence order: [0, nsent) sent and not fully
 * acknowledged, [nsent, n) queued. Byte counts over the sent ones give
 * RFC 6675's pipe without a walk: pipe = out - sacked - lost + retrans
 * (lost counts only segments not SACKed, retrans only lost ones resent).
 */
struct tcp_sb {
	struct tcp_sseg *s;
	uint32_t mask, head, n, nsent;
	uint32_t out, sacked, lost, retrans; /* bytes */
	uint32_t queued;		     /* payload bytes of all n */
	uint32_t high_sacked;		     /* end of the highest SACKed segment */
	uint32_t lost_scan;		     /* index below which IsLost is decided */
	uint32_t lost_next;		     /* no lost segment to resend below this index */
	uint32_t dupthresh;		     /* RFC 6675 DupThresh: 3, raised by reordering */
	uint32_t lost_retrans;		     /* retransmissions found lost (by SACKs) */
};

static inline struct tcp_sseg *tcp_sb_at(const struct tcp_sb *sb, uint32_t i)
{
	return &sb->s[(sb->head + i) & sb->mask];
}

int tcp_sb_init(struct tcp_sb *sb, uint32_t cap);
void tcp_sb_fini(struct tcp_sb *sb);
/* Append a queued segment (grows the ring); false: out of memory. */
bool tcp_sb_push(struct tcp_sb *sb, const struct tcp_sseg *seg);
/* Segment i (== nsent for new data) was transmitted at now. */
void tcp_sb_sent(struct tcp_sb *sb, uint32_t i, uint64_t now);

struct tcp_sb_acked {
	uint32_t bytes, segs; /* payload bytes and segments fully acknowledged */
	bool fin;	      /* the FIN was among them */
	bool retransmitted;   /* one of them had been (Karn) */
	uint64_t newest_xmit; /* send time of the newest of them, for an RTT sample */
};
/* Cumulative ACK up to ack: drops the segments below it (release() gets
 * each one's pkt) and trims one that it splits. */
void tcp_sb_ack(struct tcp_sb *sb, uint32_t ack, void (*release)(void *ctx, void *pkt), void *ctx,
		struct tcp_sb_acked *out);
/*
 * SACK blocks (RFC 2018 3) of an ACK that acknowledged up to snd_una: mark
 * the segments they cover whole. Blocks that are D-SACKs (RFC 2883: below
 * snd_una or inside the next block), empty, or reach beyond snd_max are
 * ignored and counted in *bad. Returns bytes newly SACKed. A
 * retransmission sent before a segment now SACKed is lost again: to be
 * resent (lost_retrans counts them).
 */
uint32_t tcp_sb_sack(struct tcp_sb *sb, const uint32_t (*blk)[2], uint32_t n, uint32_t snd_una,
		     uint32_t snd_max, uint32_t *bad);
/* RFC 6675 4 IsLost: mark the unSACKed sent segments with DupThresh
 * SACKed segments or more than DupThresh - 1 MSS SACKed above them.
 * Returns bytes newly marked. */
uint32_t tcp_sb_mark_lost(struct tcp_sb *sb, uint32_t mss);
/* Mark segment 0 (snd_una's) lost: fast retransmit without SACK (RFC
 * 6582), or a partial ACK. */
void tcp_sb_mark_head_lost(struct tcp_sb *sb);
/* RFC 6675 NextSeg() rule 1: the first lost segment not yet resent;
 * -1: none. */
int32_t tcp_sb_next_lost(struct tcp_sb *sb);
/* Segment i was retransmitted. */
void tcp_sb_retransmitted(struct tcp_sb *sb, uint32_t i, uint64_t now);
/* RTO (RFC 6675 5.1, RFC 2018 8): forget SACKs, every sent segment lost. */
void tcp_sb_rto(struct tcp_sb *sb);
/* Recovery over: retransmission marks cleared. */
void tcp_sb_recovery_done(struct tcp_sb *sb);
/* Insert a queued segment after queued segment i (for a split); false: no memory. */
bool tcp_sb_insert(struct tcp_sb *sb, uint32_t i, const struct tcp_sseg *seg);

static inline uint32_t tcp_sb_pipe(const struct tcp_sb *sb)
{
	return sb->out - sb->sacked - sb->lost + sb->retrans;
}

/* --- congestion control (tcp_cc.c) --- */

struct tcp_cc;

struct tcp_cc_ops {
	const char *name;
	void (*init)(struct tcp_cc *cc);
	/* acked bytes newly acknowledged outside recovery; rtt_us: a sample
	 * (0: none); now in ns. */
	void (*on_ack)(struct tcp_cc *cc, uint32_t acked, uint32_t rtt_us, uint64_t now);
	/* Fast recovery entered (one per window of data); flight: bytes out. */
	void (*on_loss)(struct tcp_cc *cc, uint32_t flight, uint64_t now);
	/* The retransmission timer expired. */
	void (*on_rto)(struct tcp_cc *cc, uint32_t flight, uint64_t now);
};

struct tcp_cc {
	const struct tcp_cc_ops *ops;
	uint32_t mss;
	uint32_t cwnd, ssthresh; /* bytes */
	double cwnd_f;		 /* cwnd with the fractions growth adds */
	uint32_t ca_acked;	 /* NewReno: bytes acked towards the next MSS */
	/* CUBIC (RFC 9438 4), windows in segments, time in s */
	double w_max, k, w_est;
	uint64_t epoch_ns; /* 0: no epoch started */
	uint32_t min_rtt_us;
};

extern const struct tcp_cc_ops tcp_cc_newreno, tcp_cc_cubic;

/* Set up for ops and mss: the RFC 6928 initial window, ssthresh infinite. */
void tcp_cc_init(struct tcp_cc *cc, const struct tcp_cc_ops *ops, uint32_t mss);
/* Cube root (no libm in the library). */
double tcp_cc_cbrt(double x);

/* --- tcp_output.c: what the timers (tcp_timer.c) call when they fire --- */

struct usnet_tcp;
void tcp_rto_fire(struct usnet_tcp *c);
void tcp_delack_fire(struct usnet_tcp *c);
void tcp_persist_fire(struct usnet_tcp *c);
void tcp_keepalive_fire(struct usnet_tcp *c);

#endif
