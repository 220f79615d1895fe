/* SPDX-License-Identifier: MIT */
/*
 * memif data path, copy mode, both roles, and the checks on everything a
 * peer writes into shared memory.
 *
 * Who writes what (DPDK 22.11 rte_eth_memif.c eth_memif_rx/eth_memif_tx):
 *
 *   ring  producer of frames   client writes        server writes
 *   C2S   client               descs, head          tail (consumed up to)
 *   S2C   server               head (buffers        descs' length/flags,
 *                              offered), descs      tail (produced up to)
 *
 * Each side keeps the index it writes in a private copy (ring->own) and
 * never reads it back from shared memory, and reads each peer-written
 * descriptor field exactly once, so a hostile peer changing memory under
 * us can make us copy garbage but never step outside a mapped region.
 */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* ---- validation ---- */

const char *usnet_memif_check_hello(const struct memif_msg_hello *h)
{
	if (h->min_version > MEMIF_VERSION || h->max_version < MEMIF_VERSION)
		return "Incompatible memif version";
	return NULL;
}

const char *usnet_memif_check_add_region(const struct usnet_memif_conn *c,
					 const struct memif_msg_add_region *ar, int fd)
{
	uint16_t index = ar->index;
	uint64_t size = ar->size;

	if (fd < 0)
		return "Missing region fd";
	/* DPDK memif_msg_receive_add_region: regions arrive in index order. */
	if (index != c->nregions || index >= USNET_MEMIF_MAX_REGIONS)
		return "Invalid region index";
	if (size == 0 || size > USNET_MEMIF_MAX_REGION_SIZE)
		return "Invalid region size";
	return NULL;
}

const char *usnet_memif_check_add_ring(const struct usnet_memif_conn *c,
				       const struct memif_msg_add_ring *ar, int fd)
{
	bool c2s = ar->flags & MEMIF_ADD_RING_FLAG_C2S;
	uint16_t index = ar->index;

	if (fd < 0)
		return "Missing interrupt fd";
	if (ar->flags & ~MEMIF_ADD_RING_FLAG_C2S)
		return "Unknown ring flags";
	if (index >= (c2s ? c->max_c2s : c->max_s2c))
		return "Invalid ring index";
	if ((c2s ? c->c2s : c->s2c)[index].added)
		return "Ring added twice";
	if (ar->log2_ring_size > MEMIF_MAX_LOG2_RING)
		return "Invalid ring size";
	if (ar->private_hdr_size != 0) /* libmemif refuses it too (MEMIF_ERR_PRIVHDR) */
		return "Private header not supported";
	return NULL;
}

const char *usnet_memif_check_ring_place(uint64_t region_size, uint32_t offset, unsigned log2)
{
	if (log2 > MEMIF_MAX_LOG2_RING)
		return "Invalid ring size";
	/* 8-byte alignment keeps every index and descriptor naturally aligned. */
	if (offset % 8)
		return "Misaligned ring";
	if ((uint64_t)offset + memif_ring_bytes(log2) > region_size)
		return "Ring outside its region";
	return NULL;
}

const char *usnet_memif_check_buffer(const struct usnet_memif_conn *c, uint16_t region,
				     uint32_t offset, uint32_t length)
{
	if (region >= c->nregions || !c->region[region].addr)
		return "Descriptor region invalid";
	if ((uint64_t)offset + length > c->region[region].size)
		return "Descriptor outside its region";
	return NULL;
}

const char *usnet_memif_check_secret(const char *want, const uint8_t got[MEMIF_SECRET_SZ])
{
	uint8_t a[MEMIF_SECRET_SZ] = {0}, diff = 0;
	size_t wlen = strlen(want);

	if (!wlen)
		return NULL; /* DPDK memif_msg_receive_init: no secret configured, any accepted */
	if (!got[0])
		return "Secret required";
	memcpy(a, want, wlen < sizeof(a) ? wlen : sizeof(a));
	/* Whole field, no early exit: the time taken says nothing about the secret. */
	for (size_t i = 0; i < MEMIF_SECRET_SZ; i++)
		diff |= (uint8_t)(a[i] ^ got[i]);
	return diff ? "Incorrect secret" : NULL;
}

/* ---- entering and leaving a connection ---- */

static void fault(struct usnet_memif_conn *c, const char *why)
{
	const char *none = NULL;

	/* First reason wins; the control side reads it, sends DISCONNECT, counts it. */
	atomic_compare_exchange_strong_explicit(&c->fault, &none, why, memory_order_relaxed,
						memory_order_relaxed);
}

static void leave(struct usnet_memif_ring *r)
{
	/* Release: our last accesses to the ring happen before the control side
	 * sees busy == false (acquire in usnet_memif_quiesce()). */
	atomic_store_explicit(&r->busy, false, memory_order_release);
}

static bool enter(struct usnet_memif_conn *c, struct usnet_memif_ring *r)
{
	uint32_t gen;

	atomic_store_explicit(&r->busy, true, memory_order_relaxed);
	/* Pairs with the fence in usnet_memif_quiesce(): either it sees busy set,
	 * or we see the even gen it stored before looking. */
	atomic_thread_fence(memory_order_seq_cst);
	/* Acquire pairs with the release in usnet_memif_publish(): the ring
	 * pointers and sizes written before it are visible. */
	gen = atomic_load_explicit(&c->gen, memory_order_acquire);
	if (!(gen & 1) || !r->ring || atomic_load_explicit(&c->fault, memory_order_relaxed)) {
		leave(r);
		return false;
	}
	if (r->gen != gen) { /* first burst of a new connection */
		r->gen = gen;
		r->own = r->own0;
		r->last = 0;
		r->armed = false;
		r->stall = false;
	}
	return true;
}

bool usnet_memif_quiesce(struct usnet_memif_conn *c)
{
	uint32_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);

	if (gen & 1)
		atomic_store_explicit(&c->gen, gen + 1, memory_order_relaxed);
	atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in enter() */
	/* A burst is a bounded copy loop; 1000 yields is far longer than one. */
	for (int spin = 0; spin < 1000; spin++) {
		bool busy = false;

		for (int i = 0; i < USNET_MEMIF_MAX_RINGS; i++)
			busy |= atomic_load_explicit(&c->c2s[i].busy, memory_order_acquire) ||
				atomic_load_explicit(&c->s2c[i].busy, memory_order_acquire);
		if (!busy)
			return true;
		sched_yield();
	}
	return false;
}

void usnet_memif_publish(struct usnet_memif_conn *c)
{
	uint32_t gen = atomic_load_explicit(&c->gen, memory_order_relaxed);

	/* Release pairs with the acquire in enter(). */
	atomic_store_explicit(&c->gen, gen | 1, memory_order_release);
}

bool usnet_memif_up(const struct usnet_memif_conn *c)
{
	return (atomic_load_explicit(&c->gen, memory_order_relaxed) & 1) &&
	       !atomic_load_explicit(&c->fault, memory_order_relaxed);
}

/* ---- the bursts ---- */

/*
 * The client's C2S descriptor for a segment: flags, region 0 and length are
 * its first 8 bytes (offset is the slot's own, set up with the ring), and
 * they are stored only if they differ. A store takes the cache line away
 * from the server's core and its next read brings it back; frames of the
 * length the slot carried last time (a stream of same-size frames) leave the
 * descriptor lines shared in both caches. The value read is compared, never
 * used: a server that rewrites it only garbles frames sent to itself.
 */
static void client_desc_set(struct memif_desc *d, uint16_t flags, uint32_t length)
{
	uint64_t want = (uint64_t)flags | (uint64_t)length << 32, have; /* region 0 */

	static_assert(offsetof(struct memif_desc, flags) == 0 &&
			  offsetof(struct memif_desc, region) == 2,
		      "flags, region, length: the first 8 bytes");
	memcpy(&have, d, sizeof(have));
	if (have != want)
		memcpy(d, &want, sizeof(want));
}

/* One descriptor, each field read once (the peer may be writing it). */
static struct memif_desc desc_read(const struct memif_desc *d)
{
	const volatile struct memif_desc *v = d;
	struct memif_desc x;

	x.flags = v->flags;
	x.region = v->region;
	x.length = v->length;
	x.offset = v->offset;
	x.metadata = 0;
	return x;
}

static uint8_t *client_buf(const struct usnet_memif_conn *c, const struct usnet_memif_ring *r,
			   uint16_t slot)
{
	return c->region[0].addr + r->buf_off + (size_t)(slot & r->mask) * c->buf_size;
}

/*
 * Start the cache misses on a burst's descriptors (k slots from `slot`, four
 * to a line) together, instead of one line at a time as the loop reaches
 * them: the peer wrote them on the other core (RX), or read them there (TX:
 * with intent to write). A hint only: nothing read here is used.
 * (bench/README.md, "cache lines per frame".)
 */
static void prefetch_descs(const struct usnet_memif_ring *r, uint16_t slot, unsigned k, bool write)
{
	const struct memif_desc *desc = r->ring->desc;

	for (unsigned i = 0; i < k; i += 4) {
		const struct memif_desc *d = &desc[(slot + i) & r->mask];

		if (write)
			__builtin_prefetch(d, 1, 3);
		else
			__builtin_prefetch(d, 0, 3);
	}
}

/* Client: offer every slot we have consumed back to the server as an empty buffer. */
static void client_refill(const struct usnet_memif_conn *c, struct usnet_memif_ring *r)
{
	uint16_t head = (uint16_t)(r->last + r->size);

	if (head == r->own)
		return;
	for (uint16_t s = r->own; s != head; s++) {
		struct memif_desc *d = &r->ring->desc[s & r->mask];

		d->flags = 0;
		d->region = 0;
		d->offset = (uint32_t)(client_buf(c, r, s) - c->region[0].addr);
		d->length = c->buf_size;
	}
	r->own = head;
	/* Release pairs with the server's acquire of head: descriptors first. */
	atomic_store_explicit(&r->ring->head, head, memory_order_release);
}

uint16_t usnet_memif_rx(struct usnet_memif_conn *c, uint16_t q, struct usnet_pool *pool,
			struct usnet_pkt **pkts, uint16_t n, struct usnet_queue_stats *st)
{
	bool client = c->role == USNET_MEMIF_CLIENT;
	struct usnet_memif_ring *r;
	struct memif_ring *ring;
	uint16_t peer, avail, limit, slot, got = 0, have;

	if (q >= USNET_MEMIF_MAX_RINGS)
		return 0;
	r = client ? &c->s2c[q] : &c->c2s[q];
	if (!enter(c, r))
		return 0;
	ring = r->ring;
	if (r->armed) { /* awake again: poll, no kicks wanted (memif_connect() sets the same) */
		atomic_store_explicit(&ring->flags, MEMIF_RING_FLAG_MASK_INT, memory_order_relaxed);
		r->armed = false;
	}
	/* Acquire pairs with the peer's release of its index after writing descriptors. */
	peer = atomic_load_explicit(client ? &ring->tail : &ring->head, memory_order_acquire);
	avail = (uint16_t)(peer - r->last);
	limit = client ? (uint16_t)(r->own - r->last) : r->size;
	if (avail > limit) {
		fault(c, client ? "S2C tail out of range" : "C2S head out of range");
		goto out;
	}
	if (r->stall && peer == r->stalled)
		goto out; /* the unfinished chain at `last` has not grown since we looked */
	r->stall = false;
	slot = r->last;
	prefetch_descs(r, slot, avail < n ? avail : n, false);
	have = avail ? (uint16_t)usnet_pool_alloc_bulk(pool, pkts, avail < n ? avail : n) : 0;
	while (avail && got < have) {
		struct usnet_pkt *p = pkts[got]; /* empty: len 0 */
		uint8_t *dst = usnet_pkt_data(p);
		uint64_t bytes = 0, max = usnet_pkt_tailroom(p); /* 64-bit: peer lengths add up */
		uint16_t used = 0;
		struct memif_desc d;

		do {
			const uint8_t *src;

			if (used == r->size) {
				/* Every slot holds this chain and the last still says NEXT:
				 * it can never end. */
				fault(c, "Descriptor chain longer than the ring");
				goto partial;
			}
			if (used == avail) {
				/* The rest of the chain is not published yet. Peers publish
				 * whole frames, so this is rare: remember it, and look again
				 * only when the peer's index moves (see usnet_memif_arm()).
				 * Longer already than the largest frame we take, it could
				 * never end in one: a violation. */
				if (bytes > max)
					fault(c, "Unfinished descriptor chain longer than a frame");
				r->stall = true;
				r->stalled = peer;
				goto partial;
			}
			d = desc_read(&ring->desc[(uint16_t)(slot + used) & r->mask]);
			bytes += d.length;
			if (client) {
				if (d.length > c->buf_size) {
					fault(c, "Descriptor longer than its buffer");
					goto partial;
				}
				src = client_buf(c, r, (uint16_t)(slot + used));
			} else {
				const char *bad =
				    usnet_memif_check_buffer(c, d.region, d.offset, d.length);
				if (bad) {
					fault(c, bad);
					goto partial;
				}
				src = c->region[d.region].addr + d.offset;
			}
			used++;
			/* bytes only grows: within max now, every segment so far was. */
			if (bytes <= max)
				memcpy(dst + (bytes - d.length), src, d.length);
		} while (d.flags & MEMIF_DESC_FLAG_NEXT);
		slot = (uint16_t)(slot + used);
		avail = (uint16_t)(avail - used);
		if (bytes > max) { /* longer than our packet buffers: dropped, documented */
			st->rx_errors++;
			continue;
		}
		p->len = (uint16_t)bytes;
		got++;
	}
partial:
	if (got < have)
		usnet_pkt_free_bulk(pkts + got, (uint32_t)(have - got));
	r->last = slot;
	if (client) {
		client_refill(c, r);
	} else {
		r->own = slot;
		/* Release: we are done reading those buffers before the client reuses them. */
		atomic_store_explicit(&ring->tail, slot, memory_order_release);
	}
out:
	leave(r);
	return got;
}

static void kick(struct usnet_memif_ring *r, struct usnet_queue_stats *st)
{
	uint64_t one = 1;

	/* Pairs with the fence in usnet_memif_arm(): the receiver clears MASK_INT
	 * then re-reads our index; we publish our index then read MASK_INT. One
	 * of us sees the other's store, so a frame never waits for a kick. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&r->ring->flags, memory_order_relaxed) & MEMIF_RING_FLAG_MASK_INT)
		return;
	if (write(r->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		st->tx_errors++;
}

/*
 * Copy one frame into the slots from `slot` on, chaining buffers with
 * MEMIF_DESC_FLAG_NEXT as DPDK's eth_memif_tx() does when a frame is longer
 * than one buffer. Returns the slots used, 0 if `room` slots are not
 * enough, -1 if the client offered a bad buffer (then c has a fault).
 */
static inline __attribute__((always_inline)) int tx_frame(struct usnet_memif_conn *c,
							  struct usnet_memif_ring *r, uint16_t slot,
							  uint16_t room, const struct usnet_pkt *p)
{
	bool client = c->role == USNET_MEMIF_CLIENT;
	const uint8_t *src = usnet_pkt_data(p);
	uint32_t left = p->len;
	uint16_t used = 0;

	do {
		struct memif_desc *d = &r->ring->desc[(uint16_t)(slot + used) & r->mask];
		uint32_t cap, seg;
		uint8_t *dst;

		if (used == room)
			return 0;
		if (client) {
			cap = c->buf_size;
			/* region and offset are the slot's own, written when the
			 * connection was set up (socket.c); only the server reads them. */
			dst = client_buf(c, r, (uint16_t)(slot + used));
		} else {
			/* S2C: the client says where its empty buffer is and how long. */
			struct memif_desc x = desc_read(d);
			const char *bad = usnet_memif_check_buffer(c, x.region, x.offset, x.length);

			if (!bad && x.length == 0)
				bad = "Zero-length buffer offered";
			if (bad) {
				fault(c, bad);
				return -1;
			}
			cap = x.length;
			dst = c->region[x.region].addr + x.offset;
		}
		seg = left < cap ? left : cap;
		memcpy(dst, src, seg);
		src += seg;
		left -= seg;
		if (client) { /* our own descriptors (C2S) */
			client_desc_set(d, left ? MEMIF_DESC_FLAG_NEXT : 0, seg);
		} else { /* the client's (S2C): not read again, plain stores */
			d->length = seg;
			d->flags = left ? MEMIF_DESC_FLAG_NEXT : 0;
		}
		used++;
	} while (left);
	return used;
}

uint16_t usnet_memif_tx(struct usnet_memif_conn *c, uint16_t q, struct usnet_pkt **pkts, uint16_t n,
			struct usnet_queue_stats *st)
{
	bool client = c->role == USNET_MEMIF_CLIENT;
	struct usnet_memif_ring *r;
	struct memif_ring *ring;
	uint16_t peer, room, slot, i;

	if (q >= USNET_MEMIF_MAX_RINGS)
		return 0;
	r = client ? &c->c2s[q] : &c->s2c[q];
	if (!enter(c, r))
		return 0;
	ring = r->ring;
	/* Acquire pairs with the peer's release: it is done with those slots. */
	if (client) {
		peer = atomic_load_explicit(&ring->tail, memory_order_acquire);
		room = (uint16_t)(r->own - peer); /* in flight */
		if (room > r->size) {
			fault(c, "C2S tail out of range");
			goto out;
		}
		room = (uint16_t)(r->size - room);
	} else {
		peer = atomic_load_explicit(&ring->head, memory_order_acquire);
		room = (uint16_t)(peer - r->own); /* buffers the client offers */
		if (room > r->size) {
			fault(c, "S2C head out of range");
			goto out;
		}
	}
	slot = r->own;
	prefetch_descs(r, slot, room < n ? room : n, true);
	for (i = 0; i < n; i++) {
		int used = tx_frame(c, r, slot, room, pkts[i]);

		if (used < 0)
			goto out; /* nothing published; the connection ends */
		if (used == 0 && room < r->size)
			break; /* wait for the peer to free slots */
		if (used == 0) {
			st->tx_errors++; /* does not fit even an empty ring: taken, dropped */
			continue;
		}
		slot = (uint16_t)(slot + used);
		room = (uint16_t)(room - used);
	}
	if (slot != r->own) {
		r->own = slot;
		/* Release pairs with the peer's acquire: descriptors and data first. */
		atomic_store_explicit(client ? &ring->head : &ring->tail, slot,
				      memory_order_release);
		kick(r, st);
	}
	usnet_pkt_free_bulk(pkts, i);
	leave(r);
	return i;
out:
	leave(r);
	return 0;
}

bool usnet_memif_arm(struct usnet_memif_conn *c, uint16_t q)
{
	bool client = c->role == USNET_MEMIF_CLIENT;
	struct usnet_memif_ring *r;
	uint64_t count;
	uint16_t peer;

	if (q >= USNET_MEMIF_MAX_RINGS)
		return false;
	r = client ? &c->s2c[q] : &c->c2s[q];
	if (!enter(c, r))
		return false;
	/* Consume old kicks so that poll() waits for a new one (the fd is non-blocking). */
	if (read(r->efd, &count, sizeof(count)) < 0 && errno != EAGAIN) {
		leave(r);
		return true;
	}
	atomic_store_explicit(&r->ring->flags, 0, memory_order_relaxed);
	r->armed = true;
	atomic_thread_fence(memory_order_seq_cst); /* pairs with the fence in kick() */
	peer = atomic_load_explicit(client ? &r->ring->tail : &r->ring->head, memory_order_acquire);
	leave(r);
	/* An unfinished chain that has not grown is no work: sleep until a kick. */
	return peer != r->last && !(r->stall && peer == r->stalled);
}

int usnet_memif_rx_efd(const struct usnet_memif_conn *c, uint16_t q)
{
	if (q >= USNET_MEMIF_MAX_RINGS)
		return -1;
	return c->role == USNET_MEMIF_CLIENT ? c->s2c[q].efd : c->c2s[q].efd;
}
