/* SPDX-License-Identifier: MIT */
/* usnet_now_ns() for programs that cannot inline it (include/usnet/time.h). */
#define USNET_TIME_OUT_OF_LINE
#include <usnet/time.h>

uint64_t usnet_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * USNET_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}
