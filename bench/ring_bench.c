/* SPDX-License-Identifier: MIT */
/*
 * ring_bench: throughput of the SPSC ring (include/usnet/ring.h) between two
 * threads pinned to two different cores.
 *
 * The producer enqueues the sequence 1, 2, 3, ... (as pointer values) in
 * bursts of -b items; the consumer dequeues bursts of -b items and checks
 * that it sees exactly that sequence, so a broken ring cannot report a good
 * number. The run stops after -n items or -t seconds, whichever comes first.
 *
 * With -S there is one thread and no sharing: it enqueues a burst and
 * dequeues it again, in ring_roundtrip(), kept out of line so that
 *   valgrind --tool=callgrind --toggle-collect=ring_roundtrip ring_bench -S
 * counts the instructions an item costs (enqueue + dequeue), with no cache
 * line ever moving between cores.
 *
 * Output: a human line and a machine line "RESULT ring ... mpps=X".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/ring.h>
#include <usnet/time.h>

#define MAX_BATCH 1024u

struct bench {
	struct usnet_ring *ring;
	uint64_t items;	 /* stop after this many (producer side) */
	uint64_t max_ns; /* or after this long */
	uint32_t batch;
	int cpu[2];	   /* producer, consumer */
	_Atomic int ready; /* threads pinned and waiting */
	_Atomic bool go;
	/* Set by the producer when it stops early on time: the real count. */
	_Atomic uint64_t produced;
	_Atomic bool producer_done;
	uint64_t consumed;
	uint64_t bad;	      /* items out of sequence */
	uint64_t empty_polls; /* consumer bursts that returned 0 */
	uint64_t full_polls;  /* producer bursts that enqueued less than asked */
	uint64_t t_start, t_end;
	uint64_t cpu_ns[2]; /* CPU time each thread got while running */
	int pin_err[2];
};

/* CPU time this thread has run: with the wall time it shows whether the
 * thread kept its core or was preempted (a shared machine). */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* One burst in and out again on the same thread; returns items that came out. */
__attribute__((noinline)) uint32_t ring_roundtrip(struct usnet_ring *r, void *const *in, void **out,
						  uint32_t n);
__attribute__((noinline)) uint32_t ring_roundtrip(struct usnet_ring *r, void *const *in, void **out,
						  uint32_t n)
{
	uint32_t put = usnet_ring_enqueue_burst(r, in, n);

	return usnet_ring_dequeue_burst(r, out, put);
}

static int single_thread(struct bench *b)
{
	void *in[MAX_BATCH], *out[MAX_BATCH];
	uint64_t done = 0, bad = 0;

	b->t_start = usnet_now_ns();
	while (done < b->items) {
		uint32_t want = b->batch, got;

		if (b->items - done < want)
			want = (uint32_t)(b->items - done);
		for (uint32_t i = 0; i < want; i++)
			in[i] = (void *)(uintptr_t)(done + 1 + i);
		got = ring_roundtrip(b->ring, in, out, want);
		for (uint32_t i = 0; i < got; i++)
			bad += out[i] != in[i];
		bad += got != want;
		done += got;
	}
	b->t_end = usnet_now_ns();
	b->consumed = done;
	b->bad = bad;
	return 0;
}

static void usage(const char *prog)
{
	fprintf(
	    stderr,
	    "usage: %s [-n ITEMS] [-t SECONDS] [-b BATCH] [-s RING_SIZE] [-p CPU] [-c CPU] [-S]\n"
	    "  -n ITEMS      items to pass (default 100000000)\n"
	    "  -t SECONDS    stop after this long even if ITEMS are not through (default 30)\n"
	    "  -b BATCH      items per enqueue/dequeue burst, 1..%u (default 32)\n"
	    "  -s RING_SIZE  ring slots, power of two (default 1024)\n"
	    "  -p CPU -c CPU producer and consumer cores (default 0 and 1)\n"
	    "  -S            single thread: enqueue and dequeue each burst on one core\n"
	    "                (for instruction counts under callgrind)\n",
	    prog, MAX_BATCH);
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return -pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static void wait_for_go(struct bench *b)
{
	atomic_fetch_add_explicit(&b->ready, 1, memory_order_release);
	while (!atomic_load_explicit(&b->go, memory_order_acquire))
		;
}

static void *producer(void *arg)
{
	struct bench *b = arg;
	void *items[MAX_BATCH];
	uint64_t next = 1, sent = 0, full = 0, bursts = 0, cpu0;

	b->pin_err[0] = pin(b->cpu[0]);
	wait_for_go(b);
	cpu0 = thread_cpu_ns();
	while (sent < b->items) {
		uint32_t want = b->batch;
		uint32_t n;

		if (b->items - sent < want)
			want = (uint32_t)(b->items - sent);
		for (uint32_t i = 0; i < want; i++)
			items[i] = (void *)(uintptr_t)(next + i);
		/* Retry the unsent tail of the burst until the consumer makes room,
		 * so the sequence the consumer checks has no holes. */
		n = usnet_ring_enqueue_burst(b->ring, items, want);
		while (n < want) {
			full++;
			n += usnet_ring_enqueue_burst(b->ring, items + n, want - n);
		}
		next += want;
		sent += want;
		/* The clock is read every 4096 bursts: cheap enough not to show. */
		if ((++bursts & 4095) == 0 && usnet_now_ns() - b->t_start > b->max_ns)
			break;
	}
	b->full_polls = full;
	b->cpu_ns[0] = thread_cpu_ns() - cpu0;
	atomic_store_explicit(&b->produced, sent, memory_order_relaxed);
	/* Release pairs with the consumer's acquire load of producer_done: the
	 * consumer sees the final count once it sees done. */
	atomic_store_explicit(&b->producer_done, true, memory_order_release);
	return NULL;
}

static void *consumer(void *arg)
{
	struct bench *b = arg;
	void *items[MAX_BATCH];
	uint64_t expect = 1, got = 0, bad = 0, empty = 0, cpu0;

	b->pin_err[1] = pin(b->cpu[1]);
	wait_for_go(b);
	cpu0 = thread_cpu_ns();
	for (;;) {
		uint32_t n = usnet_ring_dequeue_burst(b->ring, items, b->batch);

		if (n == 0) {
			empty++;
			/* Acquire pairs with the producer's release store of
			 * producer_done: produced is final once done is seen. Items
			 * enqueued before done are visible to the dequeue that
			 * follows (ring acquire/release). */
			if (atomic_load_explicit(&b->producer_done, memory_order_acquire) &&
			    usnet_ring_count(b->ring) == 0 &&
			    got == atomic_load_explicit(&b->produced, memory_order_relaxed))
				break;
			continue;
		}
		for (uint32_t i = 0; i < n; i++)
			bad += (uintptr_t)items[i] != expect + i;
		expect += n;
		got += n;
	}
	b->t_end = usnet_now_ns();
	b->cpu_ns[1] = thread_cpu_ns() - cpu0;
	b->consumed = got;
	b->bad = bad;
	b->empty_polls = empty;
	return NULL;
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end); /* accepts 1e8 */
	if (errno || *end || d < 0 || d > 1e18)
		return -EINVAL;
	*out = (uint64_t)d;
	return 0;
}

int main(int argc, char **argv)
{
	struct bench b = {.items = 100000000, .batch = 32, .cpu = {0, 1}};
	uint64_t ring_size = 1024, batch = 32, secs = 30;
	pthread_t th[2];
	double elapsed, mpps, cpu_pct[2];
	bool single = false;
	int opt, err;

	while ((opt = getopt(argc, argv, "n:t:b:s:p:c:Sh")) != -1) {
		switch (opt) {
		case 'n':
			if (parse_u64(optarg, &b.items) || b.items == 0)
				goto bad_arg;
			break;
		case 't':
			if (parse_u64(optarg, &secs) || secs == 0)
				goto bad_arg;
			break;
		case 'b':
			if (parse_u64(optarg, &batch) || batch == 0 || batch > MAX_BATCH)
				goto bad_arg;
			break;
		case 's':
			if (parse_u64(optarg, &ring_size) || ring_size > (1u << 31))
				goto bad_arg;
			break;
		case 'p':
			b.cpu[0] = atoi(optarg);
			break;
		case 'c':
			b.cpu[1] = atoi(optarg);
			break;
		case 'S':
			single = true;
			break;
		default:
			usage(argv[0]);
			return opt == 'h' ? 0 : 2;
		}
	}
	b.batch = (uint32_t)batch;
	b.max_ns = secs * USNET_NSEC_PER_SEC;
	if (b.batch > ring_size) {
		fprintf(stderr, "ring_bench: batch %u is larger than the ring (%" PRIu64 ")\n",
			b.batch, ring_size);
		return 2;
	}
	err = usnet_ring_create(&b.ring, (uint32_t)ring_size);
	if (err) {
		fprintf(stderr, "ring_bench: %s\n", usnet_last_error());
		return 1;
	}
	if (single) {
		single_thread(&b);
		usnet_ring_destroy(b.ring);
		elapsed = usnet_ns_to_s(b.t_end - b.t_start);
		mpps = (double)b.consumed / elapsed / 1e6;
		printf("ring (single thread): %" PRIu64 " items, batch %u: %.3f s, %.2f Mpps\n",
		       b.consumed, b.batch, elapsed, mpps);
		printf("RESULT ring_single batch=%u items=%" PRIu64 " seconds=%.3f mpps=%.2f "
		       "bad=%" PRIu64 "\n",
		       b.batch, b.consumed, elapsed, mpps, b.bad);
		return b.bad ? 1 : 0;
	}
	if ((err = pthread_create(&th[0], NULL, producer, &b)) ||
	    (err = pthread_create(&th[1], NULL, consumer, &b))) {
		fprintf(stderr, "ring_bench: pthread_create: %s\n", strerror(err));
		return 1;
	}
	while (atomic_load_explicit(&b.ready, memory_order_acquire) < 2)
		;
	b.t_start = usnet_now_ns();
	/* Release pairs with wait_for_go()'s acquire: t_start is visible. */
	atomic_store_explicit(&b.go, true, memory_order_release);
	pthread_join(th[0], NULL);
	pthread_join(th[1], NULL);
	usnet_ring_destroy(b.ring);

	for (int i = 0; i < 2; i++)
		if (b.pin_err[i])
			fprintf(stderr, "ring_bench: warning: cannot pin to cpu %d: %s\n", b.cpu[i],
				strerror(-b.pin_err[i]));
	elapsed = usnet_ns_to_s(b.t_end - b.t_start);
	mpps = (double)b.consumed / elapsed / 1e6;
	/* The producer may finish a little before the consumer: its share is
	 * of the whole run too, so a low one means it was preempted. */
	cpu_pct[0] = 100.0 * (double)b.cpu_ns[0] / (double)(b.t_end - b.t_start);
	cpu_pct[1] = 100.0 * (double)b.cpu_ns[1] / (double)(b.t_end - b.t_start);
	printf("ring: %" PRIu64 " items, batch %u, ring %" PRIu64 ", cpus %d->%d: %.3f s, "
	       "%.2f Mpps (%.2f ns/item); producer full %" PRIu64 ", consumer empty %" PRIu64
	       "; cpu share producer %.0f%%, consumer %.0f%%\n",
	       b.consumed, b.batch, ring_size, b.cpu[0], b.cpu[1], elapsed, mpps,
	       elapsed * 1e9 / (double)b.consumed, b.full_polls, b.empty_polls, cpu_pct[0],
	       cpu_pct[1]);
	printf("RESULT ring batch=%u items=%" PRIu64 " seconds=%.3f mpps=%.2f bad=%" PRIu64
	       " cpu_prod=%.0f cpu_cons=%.0f\n",
	       b.batch, b.consumed, elapsed, mpps, b.bad, cpu_pct[0], cpu_pct[1]);
	if (b.bad) {
		fprintf(stderr, "ring_bench: %" PRIu64 " items out of sequence\n", b.bad);
		return 1;
	}
	return 0;

bad_arg:
	fprintf(stderr, "ring_bench: bad value '%s' for -%c\n", optarg, opt);
	usage(argv[0]);
	return 2;
}
