/* SPDX-License-Identifier: MIT */
/* SPSC ring: wrap-around and full/empty edges on one thread, then 10^7
 * items (3 * 10^5 under ThreadSanitizer, the tsan.test_ring ctest, which
 * also proves the release/acquire pairs) between two threads arriving
 * complete and in order. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include <usnet/ring.h>

#include "check.h"

/* ThreadSanitizer runs ~10x slower; a race shows within far fewer items. */
#if defined(__SANITIZE_THREAD__)
#define ITEMS 300000ull
#else
#define ITEMS 10000000ull
#endif

static void test_single_thread(void)
{
	struct usnet_ring *r;
	void *in[8], *out[8];

	CHECK_EQ(usnet_ring_create(&r, 3), -EINVAL);
	CHECK_EQ(usnet_ring_create(&r, 0), -EINVAL);
	CHECK_EQ(usnet_ring_create(&r, 4), 0);
	for (uintptr_t i = 0; i < 8; i++)
		in[i] = (void *)(i + 1);
	CHECK_EQ(usnet_ring_dequeue_burst(r, out, 8), 0);
	/* Many wraps of a 4-slot ring; indices also cross 2^32 below. */
	for (int round = 0; round < 1000; round++) {
		CHECK_EQ(usnet_ring_enqueue_burst(r, in, 3), 3);
		CHECK_EQ(usnet_ring_enqueue_burst(r, in + 3, 3), 1); /* full at 4 */
		CHECK_EQ(usnet_ring_count(r), 4);
		CHECK_EQ(usnet_ring_dequeue_burst(r, out, 8), 4);
		for (int i = 0; i < 4; i++)
			CHECK(out[i] == in[i]);
	}
	usnet_ring_destroy(r);

	/* Free-running indices across the 32-bit wrap. */
	CHECK_EQ(usnet_ring_create(&r, 4), 0);
	atomic_store(&r->head, UINT32_MAX - 1);
	atomic_store(&r->tail, UINT32_MAX - 1);
	r->cached_head = r->cached_tail = UINT32_MAX - 1;
	CHECK_EQ(usnet_ring_enqueue_burst(r, in, 4), 4);
	CHECK_EQ(usnet_ring_count(r), 4);
	CHECK_EQ(usnet_ring_enqueue_burst(r, in, 1), 0);
	CHECK_EQ(usnet_ring_dequeue_burst(r, out, 4), 4);
	for (int i = 0; i < 4; i++)
		CHECK(out[i] == in[i]);
	usnet_ring_destroy(r);
}

static void *producer(void *arg)
{
	struct usnet_ring *r = arg;
	void *batch[32];
	uint64_t next = 1;

	while (next <= ITEMS) {
		uint32_t n = 0, done = 0;

		for (; n < 32 && next + n <= ITEMS; n++)
			batch[n] = (void *)(uintptr_t)(next + n);
		while (done < n)
			done += usnet_ring_enqueue_burst(r, batch + done, n - done);
		next += n;
	}
	return NULL;
}

static void test_two_threads(void)
{
	struct usnet_ring *r;
	pthread_t t;
	void *batch[32];
	uint64_t expect = 1, out_of_order = 0;

	CHECK_EQ(usnet_ring_create(&r, 1024), 0);
	CHECK_EQ(pthread_create(&t, NULL, producer, r), 0);
	while (expect <= ITEMS) {
		uint32_t n = usnet_ring_dequeue_burst(r, batch, 32);

		for (uint32_t i = 0; i < n; i++, expect++)
			if ((uintptr_t)batch[i] != expect && out_of_order++ == 0)
				fprintf(stderr, "item %llu arrived as %llu\n",
					(unsigned long long)expect,
					(unsigned long long)(uintptr_t)batch[i]);
	}
	pthread_join(t, NULL);
	CHECK_EQ(out_of_order, 0);
	CHECK_EQ(expect - 1, ITEMS);
	CHECK_EQ(usnet_ring_count(r), 0);
	usnet_ring_destroy(r);
}

int main(void)
{
	test_single_thread();
	test_two_threads();
	return check_done("test_ring");
}
