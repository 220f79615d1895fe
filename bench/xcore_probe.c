/* SPDX-License-Identifier: MIT */
/*
 * xcore_probe: how fast can this machine move cache lines from one core to
 * another right now?  A yardstick for benchmarks whose result is bounded by
 * cross-core traffic (usnetd's memif path), run before each of their slices
 * so that slices can be compared only with slices taken in the same mode of
 * the machine (a shared VM's two vCPUs may sit on one core's two hyper-
 * threads, on two cores of one CCX, or on two CCXs, and move between them).
 *
 * A producer thread on core A writes 64-byte slots (one whole cache line
 * each: a sequence number and seven words derived from it) into a ring of
 * -s slots; a consumer thread on core B reads every slot and checks all
 * eight words, so a broken run cannot report a good number. The indices
 * are published every 32 slots (release) and read with acquire, each on a
 * line of its own, as a batched SPSC ring does.
 *
 *   xcore_probe [-a CPU] [-b CPU] [-t MS] [-s SLOTS]
 *
 * Output: "RESULT xcore mslots=X" (million slots a second over the run)
 * and "RESULT xcore_bad N" when a slot was wrong (exit 1).
 */
#define _GNU_SOURCE
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
#include <time.h>

#define CACHE_LINE 64
#define PUBLISH	   32u /* slots between index publications */

struct slot {
	uint64_t w[8];
};

struct probe {
	struct slot *slots;
	uint32_t mask;
	int cpu[2];
	uint64_t stop_ns;
	/* Written by the producer only, read by the consumer (pair: the
	 * consumer's acquire load in consume()). */
	_Alignas(CACHE_LINE) _Atomic uint64_t head;
	/* Written by the consumer only, read by the producer (pair: the
	 * producer's acquire load in produce()). */
	_Alignas(CACHE_LINE) _Atomic uint64_t tail;
	/* Set by the producer when it stops (pair: the consumer's acquire
	 * load of it, after which head is final). */
	_Alignas(CACHE_LINE) _Atomic bool done;
	_Atomic int ready;
	uint64_t consumed, bad, t0, t1;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pin(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
		fprintf(stderr, "xcore_probe: cannot pin to cpu %d\n", cpu);
		exit(2);
	}
}

static void start_together(struct probe *p)
{
	atomic_fetch_add(&p->ready, 1);
	while (atomic_load(&p->ready) < 2)
		;
}

static void *produce(void *arg)
{
	struct probe *p = arg;
	uint64_t head = 0, tail = 0;
	uint32_t size = p->mask + 1;

	pin(p->cpu[0]);
	start_together(p);
	p->t0 = now_ns();
	for (;;) {
		if (head - tail + PUBLISH > size) {
			/* Pairs with the consumer's release store of tail. */
			tail = atomic_load_explicit(&p->tail, memory_order_acquire);
			if ((head & 0xffff) == 0 && now_ns() >= p->stop_ns)
				break;
			continue;
		}
		for (uint32_t i = 0; i < PUBLISH; i++, head++) {
			struct slot *s = &p->slots[head & p->mask];
			for (int w = 0; w < 8; w++)
				s->w[w] = head * 8 + (uint64_t)w;
		}
		/* Pairs with the consumer's acquire load of head. */
		atomic_store_explicit(&p->head, head, memory_order_release);
		if ((head & 0xfff) == 0 && now_ns() >= p->stop_ns)
			break;
	}
	/* Pairs with the consumer's acquire load of done. */
	atomic_store_explicit(&p->done, true, memory_order_release);
	return NULL;
}

static void *consume(void *arg)
{
	struct probe *p = arg;
	uint64_t tail = 0, head = 0;

	pin(p->cpu[1]);
	start_together(p);
	for (;;) {
		if (tail == head) {
			/* Read done before head: once done is seen, head is final. */
			bool done = atomic_load_explicit(&p->done, memory_order_acquire);
			/* Pairs with the producer's release store of head. */
			head = atomic_load_explicit(&p->head, memory_order_acquire);
			if (tail == head && done)
				break;
			continue;
		}
		for (; tail < head; tail++) {
			const struct slot *s = &p->slots[tail & p->mask];
			for (int w = 0; w < 8; w++)
				p->bad += s->w[w] != tail * 8 + (uint64_t)w;
			if ((tail & (PUBLISH - 1)) == PUBLISH - 1)
				/* Pairs with the producer's acquire load of tail. */
				atomic_store_explicit(&p->tail, tail + 1, memory_order_release);
		}
		atomic_store_explicit(&p->tail, tail, memory_order_release);
	}
	p->t1 = now_ns();
	p->consumed = tail;
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: xcore_probe [-a CPU] [-b CPU] [-t MS] [-s SLOTS]\n"
		   "  Streams 64-byte slots from core A (default 0) to core B (default 1)\n"
		   "  for MS milliseconds (default 200) through a ring of SLOTS slots\n"
		   "  (a power of two >= 64, default 1024) and prints million slots/s.\n");
}

static long number(const char *s, const char *what)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v < 0 || v > 1000000) {
		fprintf(stderr, "xcore_probe: bad %s '%s'\n", what, s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	static struct probe p;
	long ms = 200, slots = 1024;
	int c;

	p.cpu[0] = 0;
	p.cpu[1] = 1;
	while ((c = getopt(argc, argv, "a:b:t:s:h")) != -1) {
		switch (c) {
		case 'a': p.cpu[0] = (int)number(optarg, "cpu"); break;
		case 'b': p.cpu[1] = (int)number(optarg, "cpu"); break;
		case 't': ms = number(optarg, "duration"); break;
		case 's': slots = number(optarg, "slot count"); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc || slots < 64 || (slots & (slots - 1)) != 0 || ms < 1) {
		usage(stderr);
		return 2;
	}
	p.mask = (uint32_t)slots - 1;
	p.slots = aligned_alloc(CACHE_LINE, (size_t)slots * sizeof(struct slot));
	if (p.slots == NULL) {
		fprintf(stderr, "xcore_probe: out of memory\n");
		return 2;
	}
	memset(p.slots, 0, (size_t)slots * sizeof(struct slot));
	p.stop_ns = now_ns() + (uint64_t)ms * 1000000u;

	pthread_t t[2];
	if (pthread_create(&t[0], NULL, produce, &p) != 0 ||
	    pthread_create(&t[1], NULL, consume, &p) != 0) {
		fprintf(stderr, "xcore_probe: cannot start threads\n");
		return 2;
	}
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	double secs = (double)(p.t1 - p.t0) / 1e9;
	printf("xcore_probe: cpu %d -> cpu %d, %" PRIu64 " slots in %.3f s\n", p.cpu[0], p.cpu[1],
	       p.consumed, secs);
	printf("RESULT xcore mslots=%.1f\n", secs > 0 ? (double)p.consumed / secs / 1e6 : 0.0);
	free(p.slots);
	if (p.bad != 0) {
		printf("RESULT xcore_bad %" PRIu64 "\n", p.bad);
		return 1;
	}
	return 0;
}
