/* SPDX-License-Identifier: MIT */
/* Monotonic clock helpers. clock_gettime() is a vDSO call: no system call. */
#ifndef USNET_TIME_H
#define USNET_TIME_H

#include <stdint.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#define USNET_NSEC_PER_SEC 1000000000ull

/*
 * Nanoseconds on the monotonic clock. Inline where <time.h> declares POSIX's
 * clock_gettime() (GNU C, C++, _POSIX_C_SOURCE); a program built as strict
 * ISO C (-std=c11 without _POSIX_C_SOURCE) calls the library's copy,
 * src/core/time.c, instead.
 */
#if defined(CLOCK_MONOTONIC) && !defined(USNET_TIME_OUT_OF_LINE)
static inline uint64_t usnet_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}
#else
uint64_t usnet_now_ns(void);
#endif

static inline double usnet_ns_to_s(uint64_t ns)
{
	return (double)ns / (double)USNET_NSEC_PER_SEC;
}

#ifdef __cplusplus
}
#endif
#endif
