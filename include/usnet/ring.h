/* SPDX-License-Identifier: MIT */
/*
 * Lock-free single-producer / single-consumer ring of pointers.
 *
 * Indices are free-running 32-bit counters; slot = index & mask, and
 * head - tail is the fill level even across wrap-around. Each side keeps a
 * cached copy of the other side's index on its own cache line, so in steady
 * state a burst touches the shared index once, not once per item.
 */
#ifndef USNET_RING_H
#define USNET_RING_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usnet_ring {
	/* Producer's cache line. */
	alignas(64) _Atomic uint32_t head; /* next slot to fill; written by producer only */
	uint32_t cached_tail;		   /* producer's last view of tail */
	uint32_t mask;
	/* Consumer's cache line. */
	alignas(64) _Atomic uint32_t tail; /* next slot to drain; written by consumer only */
	uint32_t cached_head;		   /* consumer's last view of head */
	uint32_t cmask;			   /* copy of mask, so the consumer stays on its line */
	alignas(64) void *slot[];
};

/* size: a power of two, 2..2^31. 0 or -errno. */
int usnet_ring_create(struct usnet_ring **out, uint32_t size);
void usnet_ring_destroy(struct usnet_ring *r);

/* Enqueue up to n items; returns how many were enqueued (in order). */
static inline uint32_t usnet_ring_enqueue_burst(struct usnet_ring *r, void *const *items,
						uint32_t n)
{
	uint32_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint32_t free_slots = r->mask + 1 - (head - r->cached_tail);

	if (free_slots < n) {
		/* Acquire pairs with the consumer's release store of tail: the
		 * consumer has finished reading the slots it gave back. */
		r->cached_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		free_slots = r->mask + 1 - (head - r->cached_tail);
		if (n > free_slots)
			n = free_slots;
	}
	for (uint32_t i = 0; i < n; i++)
		r->slot[(head + i) & r->mask] = items[i];
	/* Release pairs with the consumer's acquire load of head: the slots
	 * written above are visible before the new head is. */
	atomic_store_explicit(&r->head, head + n, memory_order_release);
	return n;
}

/* Dequeue up to n items; returns how many were dequeued (in order). */
static inline uint32_t usnet_ring_dequeue_burst(struct usnet_ring *r, void **items, uint32_t n)
{
	uint32_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint32_t avail = r->cached_head - tail;

	if (avail < n) {
		/* Acquire pairs with the producer's release store of head. */
		r->cached_head = atomic_load_explicit(&r->head, memory_order_acquire);
		avail = r->cached_head - tail;
		if (n > avail)
			n = avail;
	}
	for (uint32_t i = 0; i < n; i++)
		items[i] = r->slot[(tail + i) & r->cmask];
	/* Release pairs with the producer's acquire load of tail: our reads of
	 * the slots complete before the producer may overwrite them. */
	atomic_store_explicit(&r->tail, tail + n, memory_order_release);
	return n;
}

/* Approximate fill level; exact when called by either side while the other is idle. */
static inline uint32_t usnet_ring_count(const struct usnet_ring *r)
{
	return atomic_load_explicit(&r->head, memory_order_acquire) -
	       atomic_load_explicit(&r->tail, memory_order_acquire);
}

#ifdef __cplusplus
}
#endif
#endif
