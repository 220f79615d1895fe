/* SPDX-License-Identifier: MIT */
/* Pools: sizing, exhaustion reported by counts, refill, double free refused. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <usnet/log.h>
#include <usnet/pkt.h>

#include "check.h"

#define N 100

static void test_exhaustion_and_refill(void)
{
	struct usnet_pool_conf conf = {.count = N, .name = "t"};
	struct usnet_pool *pool;
	struct usnet_pkt *pkts[N + 10];
	struct usnet_pool_stats st;

	CHECK_EQ(usnet_pool_create(&pool, &conf), 0);
	/* Ask for more than there is: get all, the shortfall is counted. */
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts, N + 10), N);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, 0);
	CHECK_EQ(st.alloc_fail, 10);
	CHECK(usnet_pkt_alloc(pool) == NULL);
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts + N, 5), 0);

	/* Every buffer is distinct, owned, fresh, and writable over its room. */
	for (int i = 0; i < N; i++) {
		CHECK(usnet_pool_owns(pool, pkts[i]));
		CHECK(pkts[i]->pool == pool);
		CHECK_EQ(pkts[i]->len, 0);
		CHECK_EQ(pkts[i]->data_off, USNET_PKT_HEADROOM);
		CHECK_EQ(pkts[i]->room, USNET_PKT_DATA_SIZE);
		memset(pkts[i]->data, i, pkts[i]->room);
		for (int j = 0; j < i; j++)
			if (pkts[j] == pkts[i])
				CHECK(!"duplicate buffer");
	}
	for (int i = 0; i < N; i++)
		CHECK_EQ(pkts[i]->data[pkts[i]->room - 1], (uint8_t)i); /* no overlap */

	/* Refill, then all can be taken again. */
	usnet_pkt_free_bulk(pkts, N / 2);
	for (int i = N / 2; i < N; i++)
		usnet_pkt_free(pkts[i]);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, N);
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts, N), N);
	usnet_pkt_free_bulk(pkts, N);

	/* A double free is refused and counted, not written past the stack. */
	usnet_pkt_free(pkts[0]);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, N);
	CHECK_EQ(st.bad_free, 1);
	CHECK(!usnet_pool_owns(pool, (uint8_t *)pkts[0] + 1));

	/* The same through the bulk path: a burst freed twice into a full pool
	 * is refused packet by packet, the stack never written past its end. */
	usnet_pkt_free_bulk(pkts, 5);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, N);
	CHECK_EQ(st.bad_free, 6);
	/* Fills the stack in the middle of a burst: the first 3 fit, 4 refused. */
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts, 3), 3);
	usnet_pkt_free_bulk(pkts, 7);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, N);
	CHECK_EQ(st.bad_free, 10);
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts, N), N); /* still N distinct buffers */
	for (int i = 1; i < N; i++)
		for (int j = 0; j < i; j++)
			if (pkts[j] == pkts[i])
				CHECK(!"duplicate buffer after a bulk double free");
	usnet_pkt_free_bulk(pkts, N);
	usnet_pool_destroy(pool);
}

static void test_headroom_ops(void)
{
	struct usnet_pool_conf conf = {.count = 1, .data_size = 256, .headroom = 32};
	struct usnet_pool *pool;
	struct usnet_pkt *p;

	CHECK_EQ(usnet_pool_create(&pool, &conf), 0);
	p = usnet_pkt_alloc(pool);
	CHECK(p != NULL);
	CHECK_EQ(usnet_pkt_headroom(p), 32);
	CHECK_EQ(usnet_pkt_tailroom(p), 256 - 32);
	CHECK(usnet_pkt_append(p, 100) == p->data + 32);
	CHECK(usnet_pkt_prepend(p, 14) == p->data + 18);
	CHECK_EQ(p->len, 114);
	CHECK(usnet_pkt_prepend(p, 19) == NULL);
	CHECK(usnet_pkt_append(p, 256 - 18 - 114 + 1) == NULL);
	CHECK(usnet_pkt_adj(p, 14));
	CHECK(!usnet_pkt_adj(p, 101));
	CHECK_EQ(p->len, 100);
	usnet_pkt_free(p);
	usnet_pool_destroy(pool);
}

static void test_bad_conf(void)
{
	struct usnet_pool *pool = NULL;
	struct usnet_pool_conf zero = {.count = 0};
	struct usnet_pool_conf tiny = {.count = 4, .data_size = 32};
	struct usnet_pool_conf headroom = {.count = 4, .data_size = 256, .headroom = 256};

	CHECK_EQ(usnet_pool_create(&pool, &zero), -EINVAL);
	CHECK_EQ(usnet_pool_create(&pool, &tiny), -EINVAL);
	CHECK_EQ(usnet_pool_create(&pool, &headroom), -EINVAL);
	CHECK(pool == NULL);
}

/* No buffer straddles a 2 MiB boundary of the region (UIO needs each buffer
 * inside one physically contiguous hugepage), and all are distinct. */
static void test_layout(void)
{
	struct usnet_pool_conf conf = {.count = 3000, .data_size = 2048};
	struct usnet_pool *pool;
	struct usnet_pkt *pkts[3000];
	void *base;
	size_t len;
	unsigned straddle = 0, outside = 0;

	CHECK_EQ(usnet_pool_create(&pool, &conf), 0);
	usnet_pool_region(pool, &base, &len);
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts, 3000), 3000);
	for (int i = 0; i < 3000; i++) {
		size_t start = (size_t)((uint8_t *)pkts[i] - (uint8_t *)base);
		size_t end = start + sizeof(struct usnet_pkt) + pkts[i]->room - 1;

		straddle += start / (2u << 20) != end / (2u << 20);
		outside += end >= len;
		CHECK(usnet_pool_owns(pool, pkts[i]));
	}
	CHECK_EQ(straddle, 0);
	CHECK_EQ(outside, 0);
	CHECK(len >= 2u * (2u << 20)); /* 3000 buffers of 2112 bytes need two chunks */
	CHECK(!usnet_pool_owns(pool, (uint8_t *)base + (2u << 20) - 64));
	usnet_pkt_free_bulk(pkts, 3000);
	usnet_pool_destroy(pool);
}

/*
 * On 4 KiB pages (forced with USNET_DMA_PAGES=4k, the state of a machine
 * without free hugepages) the region is a whole number of pages: VFIO maps
 * it as is, and VFIO_IOMMU_MAP_DMA refuses a length that is not a multiple
 * of the IOMMU page size (it did: 1536 buffers gave 3246080 bytes, EINVAL).
 * With USNET_POOL_F_PAGE_LOCAL no buffer crosses a 4 KiB page (UIO).
 */
static void test_small_pages(void)
{
	struct usnet_pool_conf conf = {.count = 1536};
	struct usnet_pool *pool;
	struct usnet_pkt *pkts[1536];
	void *base;
	size_t len;
	unsigned straddle = 0;

	setenv("USNET_DMA_PAGES", "4k", 1);
	CHECK_EQ(usnet_pool_create(&pool, &conf), 0);
	usnet_pool_region(pool, &base, &len);
	CHECK_EQ(usnet_pool_page_size(pool), 4096);
	CHECK_EQ(len % 4096, 0);
	CHECK_EQ((uintptr_t)base % 4096, 0);
	CHECK(len >= 1536u * 2112u && len < 1536u * 2112u + (2u << 20));
	usnet_pool_destroy(pool);

	conf.flags = USNET_POOL_F_PAGE_LOCAL;
	CHECK_EQ(usnet_pool_create(&pool, &conf), 0);
	usnet_pool_region(pool, &base, &len);
	CHECK_EQ(len, 1536u * 4096u); /* one 2112-byte buffer per page */
	CHECK_EQ(usnet_pool_alloc_bulk(pool, pkts, 1536), 1536);
	for (int i = 0; i < 1536; i++) {
		uintptr_t start = (uintptr_t)pkts[i];
		uintptr_t end = (uintptr_t)pkts[i]->data + pkts[i]->room - 1;

		straddle += start / 4096 != end / 4096;
		CHECK(usnet_pool_owns(pool, pkts[i]));
	}
	CHECK_EQ(straddle, 0);
	CHECK(!usnet_pool_owns(pool, (uint8_t *)base + 4096 - 64));
	usnet_pkt_free_bulk(pkts, 1536);
	usnet_pool_destroy(pool);

	/* 8 KiB buffers cannot be page-local on 4 KiB pages: a clear refusal. */
	conf.data_size = 8192;
	CHECK_EQ(usnet_pool_create(&pool, &conf), -EINVAL);
	CHECK(strstr(usnet_last_error(), "do not fit a 4 KiB page") != NULL);
	unsetenv("USNET_DMA_PAGES");
}

/* Two pools side by side in one caller-owned region (afxdp's UMEM): each
 * stays inside its own part, a 2048-byte stride packs buffers exactly,
 * and destroying the pools leaves the memory mapped and untouched. */
static void test_create_in(void)
{
	struct usnet_pool_conf conf = {.count = 1500, .data_size = 2048 - 64, .name = "in"};
	size_t need = usnet_pool_mem_size(&conf), bad_need;
	struct usnet_pool_conf bad = {.count = 0};
	struct usnet_pool *a = NULL, *b = NULL;
	struct usnet_pkt *pkts[1500];
	uint8_t *mem;

	/* 1500 x 2048 bytes: the first 2 MiB chunk holds exactly 1024. */
	CHECK_EQ(need, (size_t)1500 * 2048);
	bad_need = usnet_pool_mem_size(&bad);
	CHECK_EQ(bad_need, 0);
	mem = mmap(NULL, 2 * need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(mem != MAP_FAILED);
	if (mem == MAP_FAILED)
		return;
	CHECK_EQ(usnet_pool_create_in(&a, &conf, mem, need - 1), -EINVAL);
	CHECK_EQ(usnet_pool_create_in(&a, &conf, mem + 8, need), -EINVAL);
	CHECK_EQ(usnet_pool_create_in(&a, &conf, mem, need), 0);
	CHECK_EQ(usnet_pool_create_in(&b, &conf, mem + need, need), 0);
	CHECK_EQ(usnet_pool_alloc_bulk(a, pkts, 1500), 1500);
	for (int i = 0; i < 1500; i++) {
		size_t off = (size_t)((uint8_t *)pkts[i] - mem);

		CHECK(off < need && off % 2048 == 0);
		CHECK(usnet_pool_owns(a, pkts[i]) && !usnet_pool_owns(b, pkts[i]));
	}
	usnet_pkt_free_bulk(pkts, 1500);
	CHECK_EQ(usnet_pool_alloc_bulk(b, pkts, 1), 1); /* the region's first buffer */
	CHECK((uint8_t *)pkts[0] >= mem + need && (uint8_t *)pkts[0] < mem + 2 * need);
	memset(pkts[0]->data, 0xab, pkts[0]->room);
	usnet_pkt_free(pkts[0]);
	usnet_pool_destroy(a);
	usnet_pool_destroy(b);
	CHECK_EQ(mem[need + 64], 0xab); /* b's first buffer: still mapped, still written */
	munmap(mem, 2 * need);
}

/* Reference counts: a second holder keeps the buffer out of the pool until
 * it lets go; a free without a reference left is a double free. */
static void test_refcount(void)
{
	struct usnet_pool_conf conf = {.count = 8, .name = "ref"};
	struct usnet_pkt *p, *q, *burst[3];
	struct usnet_pool_stats st;
	struct usnet_pool *pool;

	CHECK_EQ(usnet_pool_create(&pool, &conf), 0);
	p = usnet_pkt_alloc(pool);
	CHECK(p != NULL);
	CHECK_EQ(usnet_pkt_refcnt(p), 1);
	usnet_pkt_ref(p); /* e.g. the TCP send queue keeps it while a port sends it */
	CHECK_EQ(usnet_pkt_refcnt(p), 2);
	usnet_pkt_free(p); /* the port is done */
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, 7);
	CHECK_EQ(usnet_pkt_refcnt(p), 1);
	/* Not handed out again while referenced. */
	for (int i = 0; i < 7; i++) {
		q = usnet_pkt_alloc(pool);
		CHECK(q != NULL && q != p);
		usnet_pkt_free(q);
	}
	usnet_pkt_free(p); /* the last holder: back to the pool */
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, 8);
	CHECK_EQ(usnet_pkt_refcnt(p), 0);
	CHECK_EQ(st.bad_free, 0);
	/* A double free is refused even when the pool is not full (before
	 * reference counts it went unnoticed and the buffer was handed out
	 * twice). */
	p = usnet_pkt_alloc(pool);
	q = usnet_pkt_alloc(pool);
	usnet_pkt_free(p);
	usnet_pkt_free(p);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.bad_free, 1);
	CHECK_EQ(st.available, 7);
	usnet_pkt_free(q);

	/* The bulk path drops one reference per entry the same way. */
	CHECK_EQ(usnet_pool_alloc_bulk(pool, burst, 3), 3);
	usnet_pkt_ref(burst[1]);
	usnet_pkt_free_bulk(burst, 3);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, 7);
	CHECK_EQ(usnet_pkt_refcnt(burst[1]), 1);
	usnet_pkt_free_bulk(burst + 1, 1);
	usnet_pool_get_stats(pool, &st);
	CHECK_EQ(st.available, 8);
	usnet_pool_destroy(pool);
}

int main(void)
{
	test_create_in();
	test_layout();
	test_small_pages();
	test_exhaustion_and_refill();
	test_headroom_ops();
	test_bad_conf();
	test_refcount();
	return check_done("test_pool");
}
