/* SPDX-License-Identifier: MIT */
/* Monotonic clock helpers. clock_gettime() is a vDSO call: no system call. */
#ifndef USNET_TIME_H
#define USNET_TIME_H

#include <stdint.h>
#include <time.h>

#define USNET_NSEC_PER_SEC 1000000000ull

static inline uint64_t usnet_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

static inline double usnet_ns_to_s(uint64_t ns)
{
	return (double)ns / (double)USNET_NSEC_PER_SEC;
}

#endif
