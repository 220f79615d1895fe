/* SPDX-License-Identifier: MIT */
/* Sleeping in polling loops (drivers waiting for a register). Internal. */
#ifndef USNET_SLEEP_H
#define USNET_SLEEP_H

/*
 * Sleep at least us microseconds. A signal handler that runs meanwhile
 * (EINTR) does not cut the sleep short: it resumes for the time left, so a
 * caller's minimum delay (a device reset that needs 1 ms) holds.
 */
void usnet_sleep_us(unsigned long us);

#endif
