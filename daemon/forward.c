/* SPDX-License-Identifier: MIT */
/*
 * usnetd's forwarding (forward.h): per-source bursts, per-destination
 * batches, flooding.
 *
 * Each frame received from a client's C2S ring or an uplink RX queue gets
 * its verdict from the switch (switch.h) and goes into its destination's
 * batch; a batch is sent when it is full, when a client's frames change
 * S2C ring, and at the end of the loop (usnetd_flush_all()). Broadcast and
 * multicast are copied from the pool, one copy per destination but the
 * last, which gets the original. Frames are copied, never shared, between
 * clients; a destination that does not take its frames (a full ring, a
 * client gone) has them dropped and counted, never waited for.
 */
#include <stdatomic.h>
#include <string.h>

#include <usnet/pkt.h>

#include "forward.h"

static void batch_mark(struct usnetd *d, struct usnetd_batch *b)
{
	if (!b->dirty) {
		b->dirty = true;
		d->flush[d->nflush++] = b;
	}
}

static void send_iface(struct usnetd *d, struct usnetd_iface *f)
{
	struct usnetd_batch *b = &f->out;
	uint64_t bytes = b->bytes;
	uint16_t sent = 0;

	if (f->up)
		sent = usnet_memif_tx(f->conn, b->q, b->pkts, b->n, &f->txst[b->q]);
	for (uint16_t i = sent; i < b->n; i++) {
		bytes -= b->pkts[i]->len;
		usnet_pkt_free(b->pkts[i]);
	}
	f->tx_frames += sent;
	f->tx_bytes += bytes;
	f->tx_drops += (uint16_t)(b->n - sent);
	b->n = 0;
	b->bytes = 0;
	if (f->up && atomic_load_explicit(&f->conn->fault, memory_order_relaxed))
		d->ctl_due = true; /* it offered a bad buffer: the control side disconnects it */
}

static void send_uplink(struct usnetd_uplink *u)
{
	struct usnetd_batch *b = &u->out;
	uint64_t bytes = b->bytes;
	uint16_t sent;

	sent = usnet_tx_burst(u->port, 0, b->pkts, b->n);
	for (uint16_t i = sent; i < b->n; i++) {
		bytes -= b->pkts[i]->len;
		usnet_pkt_free(b->pkts[i]);
	}
	u->tx_frames += sent;
	u->tx_bytes += bytes;
	u->tx_drops += (uint16_t)(b->n - sent);
	b->n = 0;
	b->bytes = 0;
}

static void send_batch(struct usnetd *d, struct usnetd_batch *b)
{
	if (b->iface)
		send_iface(d, b->iface);
	else
		send_uplink(b->uplink);
}

/* Send everything collected this loop. */
void usnetd_flush_all(struct usnetd *d)
{
	for (unsigned i = 0; i < d->nflush; i++) {
		struct usnetd_batch *b = d->flush[i];

		if (b->n)
			send_batch(d, b);
		b->dirty = false;
	}
	d->nflush = 0;
}

static void to_iface(struct usnetd *d, struct usnetd_iface *f, struct usnet_pkt *p)
{
	struct usnetd_batch *b = &f->out;
	uint16_t q = 0;

	if (!f->up) {
		f->tx_drops++;
		usnet_pkt_free(p);
		return;
	}
	if (f->conn->n_s2c > 1)
		q = (uint16_t)(usnetd_flow_hash(usnet_pkt_data(p), p->len) % f->conn->n_s2c);
	if (b->n && (b->q != q || b->n == USNETD_BATCH))
		send_iface(d, f);
	b->q = q;
	b->bytes += p->len;
	b->pkts[b->n++] = p;
	batch_mark(d, b);
}

static void to_uplink(struct usnetd *d, struct usnetd_uplink *u, struct usnet_pkt *p)
{
	struct usnetd_batch *b = &u->out;

	if (b->n == USNETD_BATCH)
		send_uplink(u);
	b->bytes += p->len;
	b->pkts[b->n++] = p;
	batch_mark(d, b);
}

static struct usnet_pkt *clone_pkt(struct usnetd *d, const struct usnet_pkt *p)
{
	struct usnet_pkt *c = usnet_pkt_alloc(d->pool);

	if (!c)
		return NULL;
	if (!usnet_pkt_append(c, p->len)) {
		usnet_pkt_free(c);
		return NULL;
	}
	memcpy(usnet_pkt_data(c), usnet_pkt_data(p), p->len);
	return c;
}

/*
 * Broadcast/multicast: a copy to every connected client of segment seg but
 * `from`, and to the segment's uplink if the frame came from a client.
 * The last destination gets the original.
 */
static void flood(struct usnetd *d, struct usnet_pkt *p, int seg, struct usnetd_iface *from)
{
	struct usnetd_uplink *u = (from && seg >= 0) ? &d->up[seg] : NULL;
	struct usnetd_iface *prev = NULL;

	for (unsigned i = 0; i < d->nactive; i++) {
		struct usnetd_iface *f = d->active[i];

		if (f == from || d->swp[f->idx].segment != seg)
			continue;
		if (prev) {
			struct usnet_pkt *c = clone_pkt(d, p);

			if (c)
				to_iface(d, prev, c);
			else
				prev->tx_drops++;
		}
		prev = f;
	}
	if (u) {
		if (prev) {
			struct usnet_pkt *c = clone_pkt(d, p);

			if (c)
				to_iface(d, prev, c);
			else
				prev->tx_drops++;
		}
		to_uplink(d, u, p);
	} else if (prev) {
		to_iface(d, prev, p);
	} else {
		usnet_pkt_free(p);
	}
}

unsigned usnetd_poll_iface(struct usnetd *d, struct usnetd_iface *f)
{
	struct usnet_memif_conn *c = f->conn;
	int seg = d->swp[f->idx].segment;
	unsigned total = 0;

	for (uint16_t q = 0; q < c->n_c2s; q++) {
		struct usnet_pkt *pkts[USNETD_BATCH];
		uint16_t n = usnet_memif_rx(c, q, d->pool, pkts, USNETD_BATCH, &f->rxst[q]);

		for (uint16_t i = 0; i < n; i++) {
			struct usnet_pkt *p = pkts[i];
			int dst = -1;

			f->rx_frames++;
			f->rx_bytes += p->len;
			switch (usnetd_switch_from_iface_cached(&d->mactab, d->swp, (int)f->idx,
								usnet_pkt_data(p), p->len, &dst,
								&f->cache)) {
			case USNETD_TO_IFACE:
				to_iface(d, &d->ifs[dst], p);
				break;
			case USNETD_TO_UPLINK:
				to_uplink(d, &d->up[seg], p);
				break;
			case USNETD_FLOOD:
				flood(d, p, seg, f);
				break;
			case USNETD_DROP_SRC_MAC:
				f->src_mac_drops++;
				usnet_pkt_free(p);
				break;
			default:
				f->other_drops++;
				usnet_pkt_free(p);
				break;
			}
		}
		total += n;
	}
	/* Relaxed: a hint; the control side re-reads it (server_poll). */
	if (atomic_load_explicit(&c->fault, memory_order_relaxed))
		d->ctl_due = true;
	return total;
}

unsigned usnetd_poll_uplink(struct usnetd *d, struct usnetd_uplink *u)
{
	unsigned total = 0;

	for (uint16_t q = 0; q < u->rxq; q++) {
		struct usnet_pkt *pkts[USNETD_BATCH];
		uint16_t n = usnet_rx_burst(u->port, q, pkts, USNETD_BATCH);

		for (uint16_t i = 0; i < n; i++) {
			struct usnet_pkt *p = pkts[i];
			int dst = -1;

			u->rx_frames++;
			u->rx_bytes += p->len;
			/* memif carries no offload flags: a local sender's frame
			 * (afpacket: on a veth) leaves here with its checksum whole. */
			usnet_pkt_csum_finish(p);
			switch (usnetd_switch_from_uplink(&d->mactab, d->swp, (int)u->idx,
							  usnet_pkt_data(p), p->len, &dst)) {
			case USNETD_TO_IFACE:
				to_iface(d, &d->ifs[dst], p);
				break;
			case USNETD_FLOOD:
				u->rx_flooded++;
				flood(d, p, (int)u->idx, NULL);
				break;
			default:
				u->rx_filtered++;
				usnet_pkt_free(p);
				break;
			}
		}
		total += n;
	}
	return total;
}
