/* SPDX-License-Identifier: MIT */
/*
 * IPv4 reassembly (RFC 791 3.2, RFC 1122 3.3.2), pure: fragments and a
 * clock in, datagrams out, no I/O.
 *
 * Hostile input is bounded three ways: each datagram has a deadline
 * (conf.timeout_ns from its first fragment), memory is capped per source
 * and in total, and at most FRAG_MAX_PIECES fragments and
 * conf.max_datagrams datagrams are held. Overlaps follow RFC 5722 (written
 * for IPv6, applied here to IPv4): a fragment overlapping another discards
 * the whole datagram, and fragments of it arriving later too, until its
 * deadline. An exact duplicate (same range, same bytes) is dropped alone,
 * as RFC 8200 4.5 allows.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stack_impl.h"

/* What a datagram costs besides its buffer, so that empty ones count too. */
#define FRAG_OVERHEAD ((uint32_t)sizeof(struct frag_dgram))

int frag_init(struct frag_table *t, const struct frag_conf *conf)
{
	memset(t, 0, sizeof(*t));
	t->conf = *conf;
	t->d = calloc(conf->max_datagrams, sizeof(*t->d));
	t->used = calloc(conf->max_datagrams, sizeof(*t->used));
	if (!t->d || !t->used) {
		frag_fini(t);
		return -ENOMEM;
	}
	return 0;
}

static void release(struct frag_table *t, uint32_t i)
{
	struct frag_dgram *d = &t->d[i];

	t->mem -= d->mem;
	free(d->buf);
	memset(d, 0, sizeof(*d));
	t->used[i] = false;
	t->n--;
}

void frag_fini(struct frag_table *t)
{
	if (t->d && t->used)
		for (uint32_t i = 0; i < t->conf.max_datagrams; i++)
			if (t->used[i])
				release(t, i);
	free(t->d);
	free(t->used);
	memset(t, 0, sizeof(*t));
}

uint32_t frag_expire(struct frag_table *t, uint64_t now, uint64_t *next, struct frag_expired *rep,
		     uint32_t nrep_max, uint32_t *nrep)
{
	uint32_t n = 0;

	if (nrep)
		*nrep = 0;
	for (uint32_t i = 0; i < t->conf.max_datagrams && t->n; i++) {
		struct frag_dgram *d = &t->d[i];

		if (!t->used[i])
			continue;
		if (now < d->deadline) {
			if (d->deadline < *next)
				*next = d->deadline;
			continue;
		}
		/* A datagram killed by an overlap was counted then. */
		if (!d->dead) {
			n++;
			/* The first fragment carries at least 8 bytes: all but
			 * the last are multiples of 8, and first and last
			 * together would have completed it. */
			if (rep && d->have_first && *nrep < nrep_max) {
				rep[*nrep].ip = d->first;
				memcpy(rep[*nrep].data, d->buf, 8);
				(*nrep)++;
			}
		}
		release(t, i);
	}
	return n;
}

static uint32_t mem_of_src(const struct frag_table *t, uint32_t src)
{
	uint32_t m = 0;

	for (uint32_t i = 0; i < t->conf.max_datagrams; i++)
		if (t->used[i] && t->d[i].src == src)
			m += t->d[i].mem;
	return m;
}

/* RFC 791 3.2: a datagram is named by source, destination, protocol and id. */
static int32_t find(struct frag_table *t, const struct usnet_ipv4_hdr *ip, bool create,
		    uint64_t now, enum frag_result *why)
{
	int32_t slot = -1;

	for (uint32_t i = 0; i < t->conf.max_datagrams; i++) {
		struct frag_dgram *d = &t->d[i];

		if (!t->used[i]) {
			if (slot < 0)
				slot = (int32_t)i;
			continue;
		}
		if (d->src == ip->src && d->dst == ip->dst && d->id == ip->id &&
		    d->proto == ip->proto)
			return (int32_t)i;
	}
	if (!create)
		return -1;
	if (slot < 0) {
		*why = FRAG_TOO_MANY;
		return -1;
	}
	if (t->mem + FRAG_OVERHEAD > t->conf.mem_total) {
		*why = FRAG_MEM_TOTAL;
		return -1;
	}
	if (mem_of_src(t, ip->src) + FRAG_OVERHEAD > t->conf.mem_per_src) {
		*why = FRAG_MEM_SRC;
		return -1;
	}
	t->used[slot] = true;
	t->n++;
	memset(&t->d[slot], 0, sizeof(t->d[slot]));
	t->d[slot].src = ip->src;
	t->d[slot].dst = ip->dst;
	t->d[slot].id = ip->id;
	t->d[slot].proto = ip->proto;
	t->d[slot].deadline = now + t->conf.timeout_ns;
	t->d[slot].mem = FRAG_OVERHEAD;
	t->mem += FRAG_OVERHEAD;
	return slot;
}

/* Make the buffer hold at least `end` bytes, within the memory caps. */
static enum frag_result grow(struct frag_table *t, struct frag_dgram *d, uint32_t end)
{
	uint32_t cap = d->cap ? d->cap : 2048, extra;
	uint8_t *buf;

	if (end <= d->cap)
		return FRAG_HELD;
	while (cap < end)
		cap *= 2;
	if (cap > 65536)
		cap = 65536;
	extra = cap - d->cap;
	if (t->mem + extra > t->conf.mem_total)
		return FRAG_MEM_TOTAL;
	if (mem_of_src(t, d->src) + extra > t->conf.mem_per_src)
		return FRAG_MEM_SRC;
	buf = realloc(d->buf, cap);
	if (!buf)
		return FRAG_MEM_TOTAL;
	d->buf = buf;
	d->cap = cap;
	d->mem += extra;
	t->mem += extra;
	return FRAG_HELD;
}

/* Kill the datagram: its memory goes, its slot stays until the deadline so
 * that later fragments of it are dropped too (RFC 5722 section 4). */
static enum frag_result kill(struct frag_table *t, struct frag_dgram *d, enum frag_result why)
{
	free(d->buf);
	d->buf = NULL;
	t->mem -= d->mem - FRAG_OVERHEAD;
	d->mem = FRAG_OVERHEAD;
	d->cap = 0;
	d->npieces = 0;
	d->dead = true;
	return why;
}

enum frag_result frag_input(struct frag_table *t, const struct usnet_ipv4_hdr *ip,
			    const uint8_t *data, uint32_t len, uint64_t now, struct frag_out *out)
{
	uint16_t fo = ntohs(ip->frag_off);
	uint32_t start = (uint32_t)(fo & IP_OFFMASK) * 8, end = start + len;
	bool more = fo & IP_MF;
	enum frag_result r = FRAG_HELD;
	struct frag_dgram *d;
	uint32_t covered = 0;
	int32_t i;

	/* RFC 791 3.2: all but the last fragment carry a multiple of 8 bytes,
	 * none is empty, and no datagram exceeds 65535 bytes with its header. */
	if ((more && (len % 8 || len == 0)) || end + 20 > 65535)
		return FRAG_BAD;
	i = find(t, ip, true, now, &r);
	if (i < 0)
		return r;
	d = &t->d[i];
	if (d->dead)
		return FRAG_OVERLAP;
	/* The last fragment fixes the length; nothing may lie past it, and a
	 * second, different last fragment is an overlap in all but name. */
	if (!more) {
		if ((d->have_last && d->total != end) ||
		    (d->npieces && d->piece[d->npieces - 1].end > end))
			return kill(t, d, FRAG_OVERLAP);
		d->have_last = true;
		d->total = end;
	} else if (d->have_last && end > d->total) {
		return kill(t, d, FRAG_OVERLAP);
	}
	for (uint16_t k = 0; k < d->npieces; k++) {
		uint32_t s = d->piece[k].start, e = d->piece[k].end;

		if (start == s && end == e && !memcmp(d->buf + s, data, len))
			return FRAG_DUP;
		if (start < e && s < end)
			return kill(t, d, FRAG_OVERLAP);
	}
	if (d->npieces == FRAG_MAX_PIECES)
		return kill(t, d, FRAG_TOO_MANY);
	r = grow(t, d, end);
	if (r != FRAG_HELD) {
		/* Out of memory for this one: free the datagram entirely, a
		 * resender will start afresh. */
		release(t, (uint32_t)i);
		return r;
	}
	memcpy(d->buf + start, data, len);
	{
		/* Keep the pieces sorted by start. */
		uint16_t k = d->npieces;

		while (k && d->piece[k - 1].start > start) {
			d->piece[k] = d->piece[k - 1];
			k--;
		}
		d->piece[k].start = (uint16_t)start;
		d->piece[k].end = (uint16_t)end;
		d->npieces++;
	}
	if (start == 0) {
		d->first = *ip;
		d->have_first = true;
	}
	if (!d->have_last || !d->have_first)
		return FRAG_HELD;
	for (uint16_t k = 0; k < d->npieces; k++)
		covered += (uint32_t)(d->piece[k].end - d->piece[k].start);
	if (covered != d->total)
		return FRAG_HELD;
	/* Complete: hand the buffer over. */
	out->ip = d->first;
	out->ip.ver_ihl = 0x45;
	out->ip.frag_off = 0;
	out->ip.total_len = htons((uint16_t)(d->total + 20));
	out->ip.csum = 0;
	out->ip.csum = usnet_ipv4_csum(&out->ip);
	out->data = d->buf;
	out->len = d->total;
	d->buf = NULL;
	release(t, (uint32_t)i);
	return FRAG_DONE;
}
