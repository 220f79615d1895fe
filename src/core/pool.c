/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <usnet/log.h>
#include <usnet/pkt.h>

#define HUGE_PAGE  (2u << 20)
#define SMALL_PAGE 4096u

struct usnet_pool {
	uint8_t *base;	   /* first buffer */
	size_t region_len; /* bytes mapped at base, a multiple of page_size */
	size_t page_size;  /* of the backing: HUGE_PAGE or SMALL_PAGE */
	bool own_region;   /* mapped by usnet_pool_create(), unmapped by destroy */
	uint32_t chunk;	   /* buffers are laid out per chunk; none straddles one */
	uint32_t stride;   /* bytes from one buffer to the next within a chunk */
	uint32_t per_page; /* buffers per chunk */
	uint32_t count;
	uint32_t nfree; /* entries in free[] */
	uint16_t data_size;
	uint16_t headroom;
	uint64_t alloc_fail;
	uint64_t bad_free;
	char name[32];
	struct usnet_pkt **free; /* stack of free buffers */
};

static size_t round_up(size_t x, size_t a)
{
	return (x + a - 1) & ~(a - 1);
}

/* Bytes the buffers need with `per_chunk` of them per `chunk`: full
 * chunks, then the last one only as long as its buffers need. */
static size_t layout_len(uint32_t count, uint32_t chunk, uint32_t per_chunk, uint32_t stride)
{
	return (size_t)((count - 1) / per_chunk) * chunk +
	       (size_t)((count - 1) % per_chunk + 1) * stride;
}

/*
 * Hugepages when the system has some free, so DMA mappings need fewer IOMMU
 * entries; plain pages otherwise. MAP_POPULATE: no page faults on the fast
 * path, and a device never sees a page that is not there yet. The length
 * is rounded up to whole pages: VFIO_IOMMU_MAP_DMA refuses (EINVAL) a size
 * that is not a multiple of the IOMMU page size (vfio_iommu_type1.c,
 * vfio_dma_do_map).
 *
 * On hugepages buffers are laid out in 2 MiB chunks and never straddle a
 * chunk boundary: without an IOMMU (UIO) two hugepages are rarely
 * physically adjacent, so a buffer must sit inside one to have a single bus
 * address. On 4 KiB pages the same holds per 4 KiB page, which costs
 * memory, so only pools created with USNET_POOL_F_PAGE_LOCAL get it.
 */
static int map_region(struct usnet_pool *pool, uint32_t flags)
{
	const char *force = getenv("USNET_DMA_PAGES");
	size_t len;
	void *p;

	if (!(force && !strcmp(force, "4k"))) {
		pool->chunk = HUGE_PAGE;
		pool->per_page = HUGE_PAGE / pool->stride;
		len = round_up(layout_len(pool->count, HUGE_PAGE, pool->per_page, pool->stride),
			       HUGE_PAGE);
		p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
		if (p != MAP_FAILED) {
			pool->base = p;
			pool->region_len = len;
			pool->page_size = HUGE_PAGE;
			return 0;
		}
	}
	if (flags & USNET_POOL_F_PAGE_LOCAL) {
		if (pool->stride > SMALL_PAGE)
			return usnet_error(EINVAL,
					   "pool %s: buffers of %u bytes (header and data "
					   "room) do not fit a 4 KiB page, and there are no "
					   "free 2 MiB hugepages: reserve hugepages or use "
					   "smaller buffers",
					   pool->name, pool->stride);
		pool->chunk = SMALL_PAGE;
	} else {
		pool->chunk = HUGE_PAGE;
	}
	pool->per_page = pool->chunk / pool->stride;
	len = round_up(layout_len(pool->count, pool->chunk, pool->per_page, pool->stride),
		       SMALL_PAGE);
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
		 0);
	if (p == MAP_FAILED)
		return usnet_error(ENOMEM, "no memory for a pool of %u buffers of %u bytes",
				   pool->count, pool->data_size);
	pool->base = p;
	pool->region_len = len;
	pool->page_size = SMALL_PAGE;
	return 0;
}

static struct usnet_pkt *buffer(const struct usnet_pool *pool, uint32_t i)
{
	size_t off = (size_t)(i / pool->per_page) * pool->chunk +
		     (size_t)(i % pool->per_page) * pool->stride;

	return (struct usnet_pkt *)(pool->base + off);
}

/*
 * Check conf; fill in the layout fields of a zeroed pool as for memory laid
 * out in 2 MiB chunks (map_region() may lay it out again for the pages it
 * gets); *len: the bytes that layout needs.
 */
static int pool_layout(struct usnet_pool *pool, const struct usnet_pool_conf *conf, size_t *len)
{
	uint32_t data_size = conf->data_size ? conf->data_size : USNET_PKT_DATA_SIZE;
	uint32_t headroom = conf->headroom ? conf->headroom : USNET_PKT_HEADROOM;

	if (conf->count == 0 || conf->count > (1u << 24))
		return usnet_error(EINVAL, "pool size %u is out of range [1, 2^24]", conf->count);
	if (data_size < 64 || headroom >= data_size)
		return usnet_error(EINVAL, "pool data size %u / headroom %u is invalid", data_size,
				   headroom);
	pool->stride = (uint32_t)((sizeof(struct usnet_pkt) + data_size + 63) & ~63u);
	pool->chunk = HUGE_PAGE;
	pool->per_page = HUGE_PAGE / pool->stride;
	pool->count = conf->count;
	pool->data_size = (uint16_t)data_size;
	pool->headroom = (uint16_t)headroom;
	snprintf(pool->name, sizeof(pool->name), "%s", conf->name ? conf->name : "pool");
	*len = layout_len(pool->count, pool->chunk, pool->per_page, pool->stride);
	return 0;
}

size_t usnet_pool_mem_size(const struct usnet_pool_conf *conf)
{
	struct usnet_pool layout = {0};
	size_t len = 0;

	return pool_layout(&layout, conf, &len) ? 0 : len;
}

/* The stack of free buffers and the buffer headers of a pool whose layout
 * and base are set. */
static int pool_init(struct usnet_pool *pool)
{
	pool->free = calloc(pool->count, sizeof(pool->free[0]));
	if (!pool->free)
		return usnet_error(ENOMEM, "no memory for a pool of %u buffers", pool->count);
	/* Push in reverse so the first allocations come from the region's start. */
	for (uint32_t i = pool->count; i-- > 0;) {
		struct usnet_pkt *p = buffer(pool, i);

		p->pool = pool;
		p->room = pool->data_size;
		p->refcnt = 0;
		pool->free[pool->nfree++] = p;
	}
	return 0;
}

int usnet_pool_create(struct usnet_pool **out, const struct usnet_pool_conf *conf)
{
	struct usnet_pool *pool;
	size_t len = 0;
	int err;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return usnet_error(ENOMEM, "no memory for a pool");
	err = pool_layout(pool, conf, &len);
	if (!err)
		err = map_region(pool, conf->flags);
	if (err) {
		free(pool);
		return err;
	}
	pool->own_region = true;
	err = pool_init(pool);
	if (err) {
		munmap(pool->base, pool->region_len);
		free(pool);
		return err;
	}
	*out = pool;
	return 0;
}

int usnet_pool_create_in(struct usnet_pool **out, const struct usnet_pool_conf *conf, void *mem,
			 size_t len)
{
	struct usnet_pool *pool;
	size_t need = 0;
	int err;

	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return usnet_error(ENOMEM, "no memory for a pool");
	err = pool_layout(pool, conf, &need);
	if (!err && (len < need || (uintptr_t)mem % 64))
		err =
		    usnet_error(EINVAL, "pool memory: %zu bytes at %p, needs %zu, 64-byte aligned",
				len, mem, need);
	if (!err) {
		pool->base = mem;
		pool->region_len = need;
		/* The caller's pages are of unknown size: promise only the smallest. */
		pool->page_size = SMALL_PAGE;
		err = pool_init(pool);
	}
	if (err) {
		free(pool);
		return err;
	}
	*out = pool;
	return 0;
}

void usnet_pool_destroy(struct usnet_pool *pool)
{
	if (!pool)
		return;
	if (pool->nfree != pool->count)
		USNET_WARN("pool %s destroyed with %u of %u packets still in use", pool->name,
			   pool->count - pool->nfree, pool->count);
	if (pool->own_region)
		munmap(pool->base, pool->region_len);
	free(pool->free);
	free(pool);
}

uint32_t usnet_pool_alloc_bulk(struct usnet_pool *pool, struct usnet_pkt **pkts, uint32_t n)
{
	if (n > pool->nfree) {
		pool->alloc_fail += n - pool->nfree;
		n = pool->nfree;
	}
	pool->nfree -= n;
	for (uint32_t i = 0; i < n; i++) {
		struct usnet_pkt *p = pool->free[pool->nfree + i];

		p->data_off = pool->headroom;
		p->len = 0;
		p->flags = 0;
		p->hash = 0;
		p->refcnt = 1;
		pkts[i] = p;
	}
	return n;
}

struct usnet_pkt *usnet_pkt_alloc(struct usnet_pool *pool)
{
	struct usnet_pkt *p;

	return usnet_pool_alloc_bulk(pool, &p, 1) ? p : NULL;
}

void usnet_pkt_free(struct usnet_pkt *pkt)
{
	struct usnet_pool *pool = pkt->pool;

	/* No reference left, or a full stack: this packet was freed twice.
	 * Refuse rather than write past the stack, and count it. */
	if (pkt->refcnt == 0 || pool->nfree == pool->count) {
		pool->bad_free++;
		return;
	}
	if (--pkt->refcnt)
		return; /* another holder keeps it */
	pool->free[pool->nfree++] = pkt;
}

void usnet_pkt_free_bulk(struct usnet_pkt **pkts, uint32_t n)
{
	uint32_t i = 0;

	/* Per run of packets from one pool (the common case: the whole
	 * burst), the stack and its top stay in registers. */
	while (i < n) {
		struct usnet_pool *pool = pkts[i]->pool;
		struct usnet_pkt **stack = pool->free;
		uint32_t nfree = pool->nfree, cap = pool->count;

		for (; i < n; i++) {
			struct usnet_pkt *p = pkts[i];

			if (p->pool != pool)
				break;
			if (p->refcnt == 0 ||
			    nfree == cap) { /* a double free, see usnet_pkt_free() */
				pool->bad_free++;
				continue;
			}
			if (--p->refcnt)
				continue; /* another holder keeps it */
			stack[nfree++] = p;
		}
		pool->nfree = nfree;
	}
}

void usnet_pool_get_stats(const struct usnet_pool *pool, struct usnet_pool_stats *st)
{
	st->count = pool->count;
	st->available = pool->nfree;
	st->alloc_fail = pool->alloc_fail;
	st->bad_free = pool->bad_free;
}

void usnet_pool_region(const struct usnet_pool *pool, void **base, size_t *len)
{
	*base = pool->base;
	*len = pool->region_len;
}

size_t usnet_pool_page_size(const struct usnet_pool *pool)
{
	return pool->page_size;
}

int usnet_pool_set_iova(struct usnet_pool *pool, uint64_t (*xlate)(void *ctx, const void *va),
			void *ctx)
{
	for (uint32_t i = 0; i < pool->count; i++) {
		struct usnet_pkt *p = buffer(pool, i);
		uint64_t iova = xlate(ctx, p->data);

		if (!iova)
			return usnet_error(EFAULT, "pool %s: no bus address for buffer %u",
					   pool->name, i);
		p->iova = iova;
	}
	return 0;
}

bool usnet_pool_owns(const struct usnet_pool *pool, const void *p)
{
	const uint8_t *b = p;
	size_t off, in_page, i;

	if (b < pool->base || b >= pool->base + pool->region_len)
		return false;
	off = (size_t)(b - pool->base);
	in_page = off % pool->chunk;
	i = off / pool->chunk * pool->per_page + in_page / pool->stride;
	return in_page % pool->stride == 0 && in_page / pool->stride < pool->per_page &&
	       i < pool->count;
}
