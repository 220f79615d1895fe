/* SPDX-License-Identifier: MIT */
/*
 * The segments sent and not yet acknowledged, and the RFC 6675 scoreboard
 * over them: which are SACKed (RFC 2018), which are lost (IsLost), which
 * were retransmitted, and the byte counts that make Pipe. Pure: the
 * packet buffers are opaque pointers handed back through a callback.
 */
#include <stdlib.h>
#include <string.h>

#include "tcp_impl.h"
#include "tcp_send.h"

#define DUP_THRESH 3 /* RFC 6675 2 DupThresh, until reordering raises it */

int tcp_sb_init(struct tcp_sb *sb, uint32_t cap)
{
	uint32_t c = 16;

	while (c < cap)
		c *= 2;
	memset(sb, 0, sizeof(*sb));
	sb->s = calloc(c, sizeof(*sb->s));
	if (!sb->s)
		return -1;
	sb->mask = c - 1;
	sb->dupthresh = DUP_THRESH;
	return 0;
}

void tcp_sb_fini(struct tcp_sb *sb)
{
	free(sb->s);
	sb->s = NULL;
}

static bool grow(struct tcp_sb *sb)
{
	uint32_t cap = sb->mask + 1;
	struct tcp_sseg *s = calloc((size_t)cap * 2, sizeof(*s));

	if (!s)
		return false;
	for (uint32_t i = 0; i < sb->n; i++)
		s[i] = *tcp_sb_at(sb, i);
	free(sb->s);
	sb->s = s;
	sb->head = 0;
	sb->mask = cap * 2 - 1;
	return true;
}

bool tcp_sb_push(struct tcp_sb *sb, const struct tcp_sseg *seg)
{
	if (sb->n == sb->mask + 1 && !grow(sb))
		return false;
	*tcp_sb_at(sb, sb->n) = *seg;
	tcp_sb_at(sb, sb->n)->fl &= TCP_SEG_FIN;
	sb->n++;
	sb->queued += seg->len;
	return true;
}

bool tcp_sb_insert(struct tcp_sb *sb, uint32_t i, const struct tcp_sseg *seg)
{
	if (i < sb->nsent || i >= sb->n)
		return false;
	if (sb->n == sb->mask + 1 && !grow(sb))
		return false;
	for (uint32_t k = sb->n; k > i + 1; k--)
		*tcp_sb_at(sb, k) = *tcp_sb_at(sb, k - 1);
	*tcp_sb_at(sb, i + 1) = *seg;
	tcp_sb_at(sb, i + 1)->fl &= TCP_SEG_FIN;
	sb->n++;
	sb->queued += seg->len;
	return true;
}

void tcp_sb_sent(struct tcp_sb *sb, uint32_t i, uint64_t now)
{
	struct tcp_sseg *s = tcp_sb_at(sb, i);

	s->xmit_ns = now;
	if (i == sb->nsent) {
		s->fl |= TCP_SEG_SENT;
		sb->out += s->len;
		sb->nsent++;
	}
}

/* Take segment s's flags out of the counts. */
static void uncount(struct tcp_sb *sb, const struct tcp_sseg *s, uint32_t len)
{
	if (s->fl & TCP_SEG_SACKED)
		sb->sacked -= len;
	if (s->fl & TCP_SEG_LOST)
		sb->lost -= len;
	if (s->fl & TCP_SEG_RETRANS)
		sb->retrans -= len;
}

void tcp_sb_ack(struct tcp_sb *sb, uint32_t ack, void (*release)(void *ctx, void *pkt), void *ctx,
		struct tcp_sb_acked *out)
{
	memset(out, 0, sizeof(*out));
	while (sb->nsent) {
		struct tcp_sseg *s = tcp_sb_at(sb, 0);
		uint32_t end = tcp_sseg_end(s);

		if (seq_leq(end, ack)) {
			uncount(sb, s, s->len);
			sb->out -= s->len;
			sb->queued -= s->len;
			out->bytes += s->len;
			out->segs++;
			out->fin |= (s->fl & TCP_SEG_FIN) != 0;
			out->retransmitted |= (s->fl & TCP_SEG_EVER_RX) != 0;
			if (!(s->fl & TCP_SEG_EVER_RX) && s->xmit_ns > out->newest_xmit)
				out->newest_xmit = s->xmit_ns;
			if (release && s->pkt)
				release(ctx, s->pkt);
			s->pkt = NULL;
			sb->head = (sb->head + 1) & sb->mask;
			sb->n--;
			sb->nsent--;
			if (sb->lost_scan)
				sb->lost_scan--;
			if (sb->lost_next)
				sb->lost_next--;
			continue;
		}
		if (seq_gt(ack, s->seq)) {
			/* A receiver that acknowledged part of a segment (it
			 * trimmed it to its window): keep the rest. */
			uint32_t k = ack - s->seq;

			uncount(sb, s, k);
			sb->out -= k;
			sb->queued -= k;
			out->bytes += k;
			s->seq += k;
			s->len = (uint16_t)(s->len - k);
			s->off = (uint16_t)(s->off + k);
		}
		break;
	}
}

/* The first sent segment whose end is above seq (binary search). */
static uint32_t find_sent(const struct tcp_sb *sb, uint32_t seq)
{
	uint32_t lo = 0, hi = sb->nsent;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (seq_leq(tcp_sseg_end(tcp_sb_at(sb, mid)), seq))
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool block_ok(const uint32_t (*blk)[2], uint32_t i, uint32_t n, uint32_t snd_una,
		     uint32_t snd_max)
{
	uint32_t start = blk[i][0], end = blk[i][1];

	if (!seq_lt(start, end) || seq_lt(start, snd_una) || seq_gt(end, snd_max))
		return false; /* empty, a D-SACK below the ACK, or never sent */
	/* RFC 2883 4: a first block inside the second reports a duplicate. */
	if (i == 0 && n > 1 && seq_geq(start, blk[1][0]) && seq_leq(end, blk[1][1]))
		return false;
	return true;
}

/* A segment sent after a retransmission was SACKed while the
 * retransmission was not: on a path that keeps order the retransmission
 * was lost too. It goes again now (as Linux's tcp_mark_lost_retrans, the
 * idea of RACK, RFC 8985 3), not after a timeout. */
static void lost_retrans(struct tcp_sb *sb, uint64_t newest_sacked_xmit)
{
	uint32_t seen = 0;

	for (uint32_t i = 0; i < sb->nsent && seen < sb->retrans; i++) {
		struct tcp_sseg *s = tcp_sb_at(sb, i);

		if ((s->fl & (TCP_SEG_LOST | TCP_SEG_RETRANS | TCP_SEG_SACKED)) !=
		    (TCP_SEG_LOST | TCP_SEG_RETRANS))
			continue;
		seen += s->len;
		if (s->xmit_ns >= newest_sacked_xmit)
			continue;
		s->fl &= (uint8_t)~TCP_SEG_RETRANS;
		sb->retrans -= s->len;
		seen -= s->len;
		sb->lost_retrans++;
		sb->lost_next = 0;
	}
}

uint32_t tcp_sb_sack(struct tcp_sb *sb, const uint32_t (*blk)[2], uint32_t n, uint32_t snd_una,
		     uint32_t snd_max, uint32_t *bad)
{
	uint32_t newly = 0;
	uint64_t newest = 0;

	for (uint32_t b = 0; b < n; b++) {
		if (!block_ok(blk, b, n, snd_una, snd_max)) {
			(*bad)++;
			continue;
		}
		for (uint32_t i = find_sent(sb, blk[b][0]); i < sb->nsent; i++) {
			struct tcp_sseg *s = tcp_sb_at(sb, i);

			if (seq_gt(tcp_sseg_end(s), blk[b][1]))
				break;
			if (seq_lt(s->seq, blk[b][0]) || (s->fl & TCP_SEG_SACKED))
				continue; /* only partly covered, or known */
			uncount(sb, s, s->len);
			s->fl =
			    (uint8_t)((s->fl & ~(TCP_SEG_LOST | TCP_SEG_RETRANS)) | TCP_SEG_SACKED);
			sb->sacked += s->len;
			newly += s->len;
			if (s->xmit_ns > newest)
				newest = s->xmit_ns;
			if (seq_gt(tcp_sseg_end(s), sb->high_sacked) || sb->sacked == s->len)
				sb->high_sacked = tcp_sseg_end(s);
		}
	}
	if (newest && sb->retrans)
		lost_retrans(sb, newest);
	return newly;
}

static void mark_lost(struct tcp_sb *sb, struct tcp_sseg *s)
{
	s->fl |= TCP_SEG_LOST;
	sb->lost += s->len;
	sb->lost_next = 0; /* tcp_sb_next_lost() looks from the start again, once */
}

uint32_t tcp_sb_mark_lost(struct tcp_sb *sb, uint32_t mss)
{
	uint32_t segs = 0, bytes = 0, before = sb->lost;
	uint32_t i = sb->nsent;

	if (!sb->sacked)
		return 0;
	/* From the top down, count what is SACKed above; once IsLost holds
	 * it holds for everything below. */
	while (i > sb->lost_scan) {
		struct tcp_sseg *s = tcp_sb_at(sb, --i);

		if (s->fl & TCP_SEG_SACKED) {
			segs++;
			bytes += s->len;
			continue;
		}
		if (segs >= sb->dupthresh || bytes > (sb->dupthresh - 1) * mss) {
			uint32_t top = i + 1;

			for (;;) {
				s = tcp_sb_at(sb, i);
				if (!(s->fl & (TCP_SEG_SACKED | TCP_SEG_LOST)))
					mark_lost(sb, s);
				if (i == sb->lost_scan)
					break;
				i--;
			}
			sb->lost_scan = top;
			break;
		}
	}
	return sb->lost - before;
}

void tcp_sb_mark_head_lost(struct tcp_sb *sb)
{
	struct tcp_sseg *s;

	if (!sb->nsent)
		return;
	s = tcp_sb_at(sb, 0);
	if (s->fl & TCP_SEG_SACKED)
		return;
	if (s->fl & TCP_SEG_RETRANS) {
		/* Resent and still the hole: send it again. */
		s->fl &= (uint8_t)~TCP_SEG_RETRANS;
		sb->retrans -= s->len;
		sb->lost_next = 0;
	}
	if (!(s->fl & TCP_SEG_LOST))
		mark_lost(sb, s);
}

/* A bare FIN (the last segment, len 0) marked lost and not resent: sb->lost
 * counts bytes, and it adds none. */
static bool fin_lost(const struct tcp_sb *sb)
{
	const struct tcp_sseg *s;

	if (!sb->nsent)
		return false;
	s = tcp_sb_at(sb, sb->nsent - 1);
	return !s->len && (s->fl & (TCP_SEG_FIN | TCP_SEG_LOST | TCP_SEG_RETRANS)) ==
			      (TCP_SEG_FIN | TCP_SEG_LOST);
}

int32_t tcp_sb_next_lost(struct tcp_sb *sb)
{
	if (!sb->lost && !fin_lost(sb))
		return -1;
	/* The segments below lost_next are no candidates (resent or not
	 * lost); marking one lost resets it, so each segment is passed over
	 * once per marking rather than once per segment sent. */
	for (uint32_t i = sb->lost_next; i < sb->nsent; i++) {
		const struct tcp_sseg *s = tcp_sb_at(sb, i);

		if ((s->fl & (TCP_SEG_LOST | TCP_SEG_RETRANS)) == TCP_SEG_LOST) {
			sb->lost_next = i;
			return (int32_t)i;
		}
	}
	sb->lost_next = sb->nsent;
	return -1;
}

void tcp_sb_retransmitted(struct tcp_sb *sb, uint32_t i, uint64_t now)
{
	struct tcp_sseg *s = tcp_sb_at(sb, i);

	s->xmit_ns = now;
	s->fl |= TCP_SEG_EVER_RX;
	if ((s->fl & (TCP_SEG_LOST | TCP_SEG_RETRANS)) == TCP_SEG_LOST) {
		s->fl |= TCP_SEG_RETRANS;
		sb->retrans += s->len;
	}
}

void tcp_sb_rto(struct tcp_sb *sb)
{
	sb->sacked = sb->lost = sb->retrans = 0;
	for (uint32_t i = 0; i < sb->nsent; i++) {
		struct tcp_sseg *s = tcp_sb_at(sb, i);

		s->fl = (uint8_t)((s->fl & ~(TCP_SEG_SACKED | TCP_SEG_RETRANS)) | TCP_SEG_LOST);
		sb->lost += s->len;
	}
	sb->lost_scan = sb->nsent;
	sb->lost_next = 0;
	sb->high_sacked = 0;
}

void tcp_sb_recovery_done(struct tcp_sb *sb)
{
	for (uint32_t i = 0; i < sb->nsent && (sb->lost || sb->retrans); i++) {
		struct tcp_sseg *s = tcp_sb_at(sb, i);

		uncount(sb, s, s->len);
		if (s->fl & TCP_SEG_SACKED)
			sb->sacked += s->len;
		s->fl &= (uint8_t) ~(TCP_SEG_LOST | TCP_SEG_RETRANS);
	}
	sb->lost = sb->retrans = 0;
	sb->lost_scan = 0;
	sb->lost_next = 0;
}
