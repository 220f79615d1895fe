/* SPDX-License-Identifier: MIT */
/*
 * Packet buffers and the pools they come from.
 *
 * A pool is one contiguous region cut into fixed-size buffers at creation
 * time. Each buffer is a 64-byte struct usnet_pkt followed by its data room;
 * a frame sits at data_off within the data room, leaving headroom in front
 * for headers a caller wants to prepend.
 *
 * A pool belongs to one thread: alloc and free are not synchronised. Hand
 * packets between threads with a usnet_ring and free them on the owner.
 */
#ifndef USNET_PKT_H
#define USNET_PKT_H

#include <assert.h> /* static_assert, in C11 and C++ */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USNET_PKT_HEADROOM  128u  /* default headroom in front of a received frame */
#define USNET_PKT_DATA_SIZE 2048u /* default data room, headroom included */

struct usnet_pool;

struct usnet_pkt {
	uint64_t iova;		 /* bus address of data[0]; 0 until a driver maps the pool */
	struct usnet_pool *pool; /* where usnet_pkt_free() returns it */
	uint16_t data_off;	 /* frame start, from data[0] */
	uint16_t len;		 /* frame length in bytes */
	uint16_t room;		 /* size of data[] */
	uint16_t port;		 /* free for the application (e.g. input port) */
	uint32_t flags;		 /* USNET_PKT_F_* */
	uint32_t hash;		 /* flow hash, 0 if unknown */
	uint64_t user;		 /* free for the application */
	uint16_t refcnt;	 /* holders: 1 from alloc, +1 per usnet_pkt_ref() */
	uint8_t reserved[22];
	/* A flexible array member: C99, an extension (__extension__) in C++. */
	__extension__ uint8_t data[] __attribute__((aligned(64)));
};
static_assert(sizeof(struct usnet_pkt) == 64, "packet header is one cache line");

#define USNET_PKT_F_BAD_CSUM (1u << 0) /* a device reported a checksum error */
/* The L4 checksum field holds only the pseudo-header sum: the frame was
 * made on this host, which left the rest to an offload that never ran
 * (Linux CHECKSUM_PARTIAL, seen by afpacket: on a veth). Not corrupt. */
#define USNET_PKT_F_CSUM_PARTIAL (1u << 1)

static inline uint8_t *usnet_pkt_data(const struct usnet_pkt *p)
{
	return (uint8_t *)p->data + p->data_off;
}

/*
 * Reference counts: a buffer kept by one holder (the TCP send queue, for
 * retransmission) while another sends it (a port's TX ring until the
 * frame is out). usnet_pkt_alloc() gives one reference, usnet_pkt_ref()
 * adds one, usnet_pkt_free() drops one and returns the buffer to its pool
 * at zero. A buffer with more than one holder must not be written: it may
 * be on its way out. Same thread rules as the pool (no atomics).
 */
static inline void usnet_pkt_ref(struct usnet_pkt *p)
{
	p->refcnt++;
}

static inline uint16_t usnet_pkt_refcnt(const struct usnet_pkt *p)
{
	return p->refcnt;
}

static inline uint64_t usnet_pkt_iova(const struct usnet_pkt *p)
{
	return p->iova + p->data_off;
}

/* Bytes free in front of / behind the frame. */
static inline uint16_t usnet_pkt_headroom(const struct usnet_pkt *p)
{
	return p->data_off;
}

static inline uint16_t usnet_pkt_tailroom(const struct usnet_pkt *p)
{
	return (uint16_t)(p->room - p->data_off - p->len);
}

/* Grow the frame at the front; NULL (frame unchanged) if headroom is short. */
static inline uint8_t *usnet_pkt_prepend(struct usnet_pkt *p, uint16_t n)
{
	if (n > p->data_off)
		return NULL;
	p->data_off = (uint16_t)(p->data_off - n);
	p->len = (uint16_t)(p->len + n);
	return usnet_pkt_data(p);
}

/* Grow the frame at the end; NULL (frame unchanged) if tailroom is short. */
static inline uint8_t *usnet_pkt_append(struct usnet_pkt *p, uint16_t n)
{
	uint8_t *tail;

	if (n > usnet_pkt_tailroom(p))
		return NULL;
	tail = usnet_pkt_data(p) + p->len;
	p->len = (uint16_t)(p->len + n);
	return tail;
}

/* Drop n bytes from the front; false (frame unchanged) if shorter. */
static inline bool usnet_pkt_adj(struct usnet_pkt *p, uint16_t n)
{
	if (n > p->len)
		return false;
	p->data_off = (uint16_t)(p->data_off + n);
	p->len = (uint16_t)(p->len - n);
	return true;
}

struct usnet_pool_conf {
	uint32_t count;	    /* buffers in the pool, > 0 */
	uint16_t data_size; /* data room per buffer incl. headroom; 0: USNET_PKT_DATA_SIZE */
	uint16_t headroom;  /* data_off of a fresh packet; 0: USNET_PKT_HEADROOM */
	const char *name;   /* for logs; may be NULL */
	uint32_t flags;	    /* USNET_POOL_F_* */
};

/*
 * When the pool is not on 2 MiB hugepages, lay buffers out so that no
 * buffer crosses a 4 KiB page boundary (one buffer per page with the
 * default sizes, so about twice the memory). DMA without an IOMMU (UIO)
 * needs it: physically, consecutive 4 KiB pages are rarely adjacent, and
 * a device is given one address per buffer. Creating such a pool fails if
 * a buffer (64-byte header + data_size) is larger than 4 KiB.
 */
#define USNET_POOL_F_PAGE_LOCAL (1u << 0)

struct usnet_pool_stats {
	uint32_t count;	     /* buffers in the pool */
	uint32_t available;  /* buffers free right now */
	uint64_t alloc_fail; /* packets asked for and not given */
	uint64_t bad_free;   /* frees refused: no reference left, or the pool full (double free) */
};

/* 0 or -errno. The region is hugepage-backed when hugepages are available
 * (USNET_DMA_PAGES=4k in the environment forces 4 KiB pages); its length is
 * always a whole number of its pages, so it can be IOMMU-mapped as is. */
int usnet_pool_create(struct usnet_pool **out, const struct usnet_pool_conf *conf);
/*
 * A pool inside memory the caller maps and keeps (an AF_XDP UMEM shared by
 * several pools): len bytes at mem, 64-byte aligned, at least
 * usnet_pool_mem_size(conf). Buffers never straddle a 2 MiB boundary of mem.
 * usnet_pool_destroy() leaves the memory alone. 0 or -errno.
 */
int usnet_pool_create_in(struct usnet_pool **out, const struct usnet_pool_conf *conf, void *mem,
			 size_t len);
/* The bytes usnet_pool_create_in() needs for conf; 0 if conf is invalid. */
size_t usnet_pool_mem_size(const struct usnet_pool_conf *conf);
/* All packets should be back; a pool destroyed with packets out logs a warning. */
void usnet_pool_destroy(struct usnet_pool *pool);

/* Allocate up to n packets; returns how many were allocated (all-or-some). */
uint32_t usnet_pool_alloc_bulk(struct usnet_pool *pool, struct usnet_pkt **pkts, uint32_t n);
struct usnet_pkt *usnet_pkt_alloc(struct usnet_pool *pool);
/* Drop a reference; the last one returns the buffer to its pool. Freeing
 * a buffer with no reference left (a double free) is refused and counted
 * (usnet_pool_stats.bad_free). */
void usnet_pkt_free(struct usnet_pkt *pkt);
/* Packets may come from different pools. */
void usnet_pkt_free_bulk(struct usnet_pkt **pkts, uint32_t n);

void usnet_pool_get_stats(const struct usnet_pool *pool, struct usnet_pool_stats *st);
/* The contiguous region the buffers are carved from, for DMA mapping. */
void usnet_pool_region(const struct usnet_pool *pool, void **base, size_t *len);
/* The page size behind that region: 2 MiB (hugepages) or 4 KiB. */
size_t usnet_pool_page_size(const struct usnet_pool *pool);
/*
 * Give every buffer its bus address: pkt->iova = xlate(ctx, pkt->data).
 * xlate returns 0 for an address it cannot translate; then -EFAULT.
 */
int usnet_pool_set_iova(struct usnet_pool *pool, uint64_t (*xlate)(void *ctx, const void *va),
			void *ctx);
/* Is this buffer one of the pool's (and correctly aligned)? */
bool usnet_pool_owns(const struct usnet_pool *pool, const void *p);

#ifdef __cplusplus
}
#endif
#endif
