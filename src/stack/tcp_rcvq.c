/* SPDX-License-Identifier: MIT */
/*
 * The receive queues of a connection (no I/O): the in-order bytes waiting
 * for the application, kept in the buffers they arrived in (zero-copy
 * peek), and the bounded out-of-order queue, sorted by sequence number
 * and without overlaps, that reports SACK blocks (RFC 2018 4).
 */
#include <stdlib.h>
#include <string.h>

#include "tcp_impl.h"

/* Segments this small are copied (into the tail's chunk when it has
 * room) rather than pinning a packet buffer for a few bytes. */
#define RSEG_COPY_BELOW 1024u
#define RSEG_CHUNK	4096u

static void rseg_free(struct tcp_rseg *r)
{
	if (r->pkt)
		usnet_pkt_free(r->pkt);
	free(r->heap);
	r->pkt = NULL;
	r->heap = NULL;
}

void tcp_rcvq_fini(struct tcp_rcvq *q)
{
	while (q->n) {
		rseg_free(&q->q[q->head]);
		q->head = (q->head + 1) % q->cap;
		q->n--;
	}
	for (uint32_t i = 0; i < q->ooo_n; i++)
		rseg_free(&q->ooo[i]);
	free(q->q);
	free(q->ooo);
	memset(q, 0, sizeof(*q));
}

/* A packet buffer is kept only while its pool has more than half its
 * buffers free: a receiver that does not read must not starve RX. */
static bool pool_roomy(const struct usnet_pkt *p)
{
	struct usnet_pool_stats ps;

	usnet_pool_get_stats(p->pool, &ps);
	return ps.available > ps.count / 2;
}

/* Fill *r with len bytes at data: the buffer taken from *pkt / *heap
 * (set to NULL), or a copy. false: out of memory. */
static bool rseg_take(struct tcp_rseg *r, struct usnet_pkt **pkt, uint8_t **heap,
		      const uint8_t *data, uint32_t len, uint32_t copy_room)
{
	memset(r, 0, sizeof(*r));
	if (*heap && len >= RSEG_COPY_BELOW) {
		r->heap = *heap;
		*heap = NULL;
	} else if (*pkt && len >= RSEG_COPY_BELOW && pool_roomy(*pkt)) {
		r->pkt = *pkt;
		*pkt = NULL;
	} else {
		uint32_t cap = len > copy_room ? len : copy_room;

		r->heap = malloc(cap);
		if (!r->heap)
			return false;
		memcpy(r->heap, data, len);
		r->cap = cap;
		data = r->heap;
	}
	r->data = data;
	r->len = len;
	return true;
}

static bool ring_grow(struct tcp_rcvq *q)
{
	uint32_t cap = q->cap ? q->cap * 2 : 16;
	struct tcp_rseg *n = malloc(cap * sizeof(*n));

	if (!n)
		return false;
	for (uint32_t i = 0; i < q->n; i++)
		n[i] = q->q[(q->head + i) % q->cap];
	free(q->q);
	q->q = n;
	q->cap = cap;
	q->head = 0;
	return true;
}

bool tcp_rcvq_append(struct tcp_rcvq *q, struct usnet_pkt **pkt, uint8_t **heap,
		     const uint8_t *data, uint32_t len)
{
	struct tcp_rseg *tail = q->n ? &q->q[(q->head + q->n - 1) % q->cap] : NULL;

	if (!len)
		return true;
	/* A small segment goes into the tail's chunk when it fits. */
	if (len < RSEG_COPY_BELOW && tail && tail->cap &&
	    tail->data + tail->len + len <= tail->heap + tail->cap) {
		memcpy((uint8_t *)tail->data + tail->len, data, len);
		tail->len += len;
		q->bytes += len;
		return true;
	}
	if (q->n == q->cap && !ring_grow(q))
		return false;
	if (!rseg_take(&q->q[(q->head + q->n) % q->cap], pkt, heap, data, len, RSEG_CHUNK))
		return false;
	q->n++;
	q->bytes += len;
	return true;
}

int tcp_rcvq_peek(const struct tcp_rcvq *q, struct usnet_tcp_iov *iov, int n)
{
	int k = 0;

	for (uint32_t i = 0; i < q->n && k < n; i++) {
		const struct tcp_rseg *r = &q->q[(q->head + i) % q->cap];

		iov[k].data = r->data;
		iov[k].len = r->len;
		k++;
	}
	return k;
}

uint32_t tcp_rcvq_consume(struct tcp_rcvq *q, uint32_t bytes)
{
	uint32_t done = 0;

	while (done < bytes && q->n) {
		struct tcp_rseg *r = &q->q[q->head];
		uint32_t k = bytes - done < r->len ? bytes - done : r->len;

		r->data += k;
		r->len -= k;
		done += k;
		if (!r->len) {
			rseg_free(r);
			q->head = (q->head + 1) % q->cap;
			q->n--;
		}
	}
	q->bytes -= done;
	return done;
}

uint32_t tcp_rcvq_copy(struct tcp_rcvq *q, uint8_t *buf, uint32_t len)
{
	uint32_t done = 0;

	for (uint32_t i = 0; i < q->n && done < len; i++) {
		const struct tcp_rseg *r = &q->q[(q->head + i) % q->cap];
		uint32_t k = len - done < r->len ? len - done : r->len;

		memcpy(buf + done, r->data, k);
		done += k;
	}
	return tcp_rcvq_consume(q, done);
}

/* --- out of order --- */

/* Drop bytes from the front of r. */
static void rseg_trim_front(struct tcp_rseg *r, uint32_t k)
{
	r->data += k;
	r->len -= k;
	r->seq += k;
}

enum tcp_ooo_result tcp_rcvq_ooo_add(struct tcp_rcvq *q, uint32_t max, uint32_t seq,
				     struct usnet_pkt **pkt, uint8_t **heap, const uint8_t *data,
				     uint32_t len)
{
	uint32_t end = seq + len, i, j;
	struct tcp_rseg *r;

	if (q->ooo_n == q->ooo_cap && q->ooo_cap < max) {
		/* Grown on demand: a connection that never sees reordering
		 * costs nothing, one that does pays for what it holds. */
		uint32_t cap = q->ooo_cap ? q->ooo_cap * 2 : 8;
		struct tcp_rseg *n;

		if (cap > max)
			cap = max;
		n = realloc(q->ooo, cap * sizeof(*n));
		if (!n)
			return TCP_OOO_FULL;
		q->ooo = n;
		q->ooo_cap = cap;
	}
	/* i: the first entry that ends after seq. */
	for (i = 0; i < q->ooo_n && seq_leq(q->ooo[i].seq + q->ooo[i].len, seq); i++)
		;
	if (i < q->ooo_n && seq_leq(q->ooo[i].seq, seq) &&
	    seq_geq(q->ooo[i].seq + q->ooo[i].len, end))
		return TCP_OOO_DUP; /* all of it is held already */
	/* The part before entry i that overlaps goes (entry i keeps its bytes). */
	if (i < q->ooo_n && seq_lt(q->ooo[i].seq, seq)) {
		uint32_t k = q->ooo[i].seq + q->ooo[i].len - seq;

		seq += k;
		data += k;
		len -= k;
		i++;
	}
	/* Entries the new segment covers whole are replaced by it. */
	for (j = i; j < q->ooo_n && seq_leq(q->ooo[j].seq + q->ooo[j].len, end); j++) {
		q->ooo_bytes -= q->ooo[j].len;
		rseg_free(&q->ooo[j]);
	}
	if (j > i) {
		memmove(&q->ooo[i], &q->ooo[j], (q->ooo_n - j) * sizeof(*q->ooo));
		q->ooo_n -= j - i;
	}
	/* The tail that overlaps the next entry goes. */
	if (i < q->ooo_n && seq_lt(q->ooo[i].seq, end))
		len = q->ooo[i].seq - seq;
	if (!len)
		return TCP_OOO_DUP;
	if (q->ooo_n == max || q->ooo_n == q->ooo_cap)
		return TCP_OOO_FULL;
	memmove(&q->ooo[i + 1], &q->ooo[i], (q->ooo_n - i) * sizeof(*q->ooo));
	r = &q->ooo[i];
	if (!rseg_take(r, pkt, heap, data, len, 0)) {
		memmove(&q->ooo[i], &q->ooo[i + 1], (q->ooo_n - i) * sizeof(*q->ooo));
		return TCP_OOO_FULL;
	}
	r->seq = seq;
	q->ooo_n++;
	q->ooo_bytes += len;
	return TCP_OOO_QUEUED;
}

uint32_t tcp_rcvq_ooo_pull(struct tcp_rcvq *q, uint32_t rcv_nxt)
{
	uint32_t moved = 0, k = 0;

	while (k < q->ooo_n && seq_leq(q->ooo[k].seq, rcv_nxt + moved)) {
		struct tcp_rseg *r = &q->ooo[k++];
		uint32_t skip = rcv_nxt + moved - r->seq;

		q->ooo_bytes -= r->len;
		if (skip >= r->len) {
			rseg_free(r);
			continue;
		}
		rseg_trim_front(r, skip);
		if (q->n == q->cap && !ring_grow(q)) {
			rseg_free(r);
			break; /* out of memory: the peer sends it again */
		}
		moved += r->len;
		q->q[(q->head + q->n) % q->cap] = *r;
		q->n++;
		q->bytes += r->len;
	}
	if (k) {
		memmove(&q->ooo[0], &q->ooo[k], (q->ooo_n - k) * sizeof(*q->ooo));
		q->ooo_n -= k;
	}
	return moved;
}

bool tcp_rcvq_ooo_range(const struct tcp_rcvq *q, uint32_t seq, uint32_t *start, uint32_t *end)
{
	uint32_t i;

	for (i = 0; i < q->ooo_n; i++)
		if (seq_in(seq, q->ooo[i].seq, q->ooo[i].seq + q->ooo[i].len))
			break;
	if (i == q->ooo_n)
		return false;
	*start = q->ooo[i].seq;
	*end = q->ooo[i].seq + q->ooo[i].len;
	for (uint32_t k = i; k > 0 && q->ooo[k - 1].seq + q->ooo[k - 1].len == *start; k--)
		*start = q->ooo[k - 1].seq;
	for (uint32_t k = i + 1; k < q->ooo_n && q->ooo[k].seq == *end; k++)
		*end = q->ooo[k].seq + q->ooo[k].len;
	return true;
}

void tcp_sack_note(struct usnet_tcp *c, uint32_t start, uint32_t end)
{
	uint8_t n = 1, old_n = c->rcv_nsack;
	struct {
		uint32_t start, end;
	} old[TCP_MAX_SACK];

	memcpy(old, c->rcv_sack, sizeof(old));
	/* RFC 2018 4: the first block holds the segment that just arrived;
	 * then the most recently reported blocks it does not cover. */
	c->rcv_sack[0].start = start;
	c->rcv_sack[0].end = end;
	for (uint8_t i = 0; i < old_n && n < TCP_MAX_SACK; i++) {
		if (seq_geq(old[i].start, start) && seq_leq(old[i].end, end))
			continue;
		c->rcv_sack[n].start = old[i].start;
		c->rcv_sack[n].end = old[i].end;
		n++;
	}
	c->rcv_nsack = n;
}

void tcp_dsack_note(struct usnet_tcp *c, uint32_t start, uint32_t end)
{
	if (!c->sack_on || !seq_lt(start, end))
		return;
	c->rcv_dsack = true;
	c->s.st->c.tcp_dsack_tx++;
	c->dsack_start = start;
	c->dsack_end = end;
}

void tcp_sack_trim(struct usnet_tcp *c)
{
	uint8_t n = 0;

	for (uint8_t i = 0; i < c->rcv_nsack; i++) {
		if (seq_leq(c->rcv_sack[i].end, c->rcv_nxt))
			continue;
		c->rcv_sack[n] = c->rcv_sack[i];
		if (seq_lt(c->rcv_sack[n].start, c->rcv_nxt))
			c->rcv_sack[n].start = c->rcv_nxt;
		n++;
	}
	c->rcv_nsack = n;
}
