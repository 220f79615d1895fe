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

#include <stdint.h>

/*
 * C sees the indices as C11 _Atomic uint32_t, C++ as std::atomic<uint32_t>:
 * the same 4 bytes, lock-free, with the same representation on every GCC
 * and Clang target, so a ring may be shared between C and C++ code.
 * USNET_RING_LOAD/STORE name the memory order without its prefix.
 */
#ifdef __cplusplus
#include <atomic>
#define USNET_RING_ATOMIC_U32	    std::atomic<uint32_t>
#define USNET_RING_LOAD(obj, order) std::atomic_load_explicit(obj, std::memory_order_##order)
#define USNET_RING_STORE(obj, v, order)                                                            \
	std::atomic_store_explicit(obj, v, std::memory_order_##order)
static_assert(sizeof(std::atomic<uint32_t>) == 4 && alignof(std::atomic<uint32_t>) == 4 &&
		  ATOMIC_INT_LOCK_FREE == 2,
	      "std::atomic<uint32_t> is laid out as C's _Atomic uint32_t");
#else
#include <stdalign.h>
#include <stdatomic.h>
#define USNET_RING_ATOMIC_U32		_Atomic uint32_t
#define USNET_RING_LOAD(obj, order)	atomic_load_explicit(obj, memory_order_##order)
#define USNET_RING_STORE(obj, v, order) atomic_store_explicit(obj, v, memory_order_##order)
#endif

#ifdef __cplusplus
extern "C" {
#endif

struct usnet_ring {
	/* Producer's cache line. */
	alignas(64) USNET_RING_ATOMIC_U32 head; /* next slot to fill; written by producer only */
	uint32_t cached_tail;			/* producer's last view of tail */
	uint32_t mask;
	/* Consumer's cache line. */
	alignas(64) USNET_RING_ATOMIC_U32 tail; /* next slot to drain; written by consumer only */
	uint32_t cached_head;			/* consumer's last view of head */
	uint32_t cmask; /* copy of mask, so the consumer stays on its line */
	__extension__ alignas(64) void *slot[]; /* flexible: an extension in C++ */
};

/* size: a power of two, 2..2^31. 0 or -errno. */
int usnet_ring_create(struct usnet_ring **out, uint32_t size);
void usnet_ring_destroy(struct usnet_ring *r);

/* Enqueue up to n items; returns how many were enqueued (in order). */
static inline uint32_t usnet_ring_enqueue_burst(struct usnet_ring *r, void *const *items,
						uint32_t n)
{
	uint32_t head = USNET_RING_LOAD(&r->head, relaxed);
	uint32_t free_slots = r->mask + 1 - (head - r->cached_tail);

	if (free_slots < n) {
		/* Acquire pairs with the consumer's release store of tail: the
		 * consumer has finished reading the slots it gave back. */
		r->cached_tail = USNET_RING_LOAD(&r->tail, acquire);
		free_slots = r->mask + 1 - (head - r->cached_tail);
		if (n > free_slots)
			n = free_slots;
	}
	for (uint32_t i = 0; i < n; i++)
		r->slot[(head + i) & r->mask] = items[i];
	/* Release pairs with the consumer's acquire load of head: the slots
	 * written above are visible before the new head is. */
	USNET_RING_STORE(&r->head, head + n, release);
	return n;
}

/* Dequeue up to n items; returns how many were dequeued (in order). */
static inline uint32_t usnet_ring_dequeue_burst(struct usnet_ring *r, void **items, uint32_t n)
{
	uint32_t tail = USNET_RING_LOAD(&r->tail, relaxed);
	uint32_t avail = r->cached_head - tail;

	if (avail < n) {
		/* Acquire pairs with the producer's release store of head. */
		r->cached_head = USNET_RING_LOAD(&r->head, acquire);
		avail = r->cached_head - tail;
		if (n > avail)
			n = avail;
	}
	for (uint32_t i = 0; i < n; i++)
		items[i] = r->slot[(tail + i) & r->cmask];
	/* Release pairs with the producer's acquire load of tail: our reads of
	 * the slots complete before the producer may overwrite them. */
	USNET_RING_STORE(&r->tail, tail + n, release);
	return n;
}

/* Approximate fill level; exact when called by either side while the other is idle. */
static inline uint32_t usnet_ring_count(const struct usnet_ring *r)
{
	return USNET_RING_LOAD(&r->head, acquire) - USNET_RING_LOAD(&r->tail, acquire);
}

#ifdef __cplusplus
}
#endif
#endif
