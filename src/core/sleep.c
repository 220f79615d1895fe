/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>

#include "sleep.h"

void usnet_sleep_us(unsigned long us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
			      .tv_nsec = (long)(us % 1000000) * 1000};

	/* nanosleep(2): on EINTR, ts holds the time that was left. */
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}
