/* SPDX-License-Identifier: MIT */
/* Minimal test assertions: every CHECK counts, the first failure of each is
 * printed with its location, and check_done() prints the tally and the exit
 * status. */
#ifndef USNET_TEST_CHECK_H
#define USNET_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                                        \
	do {                                                                               \
		if (cond) {                                                                \
			check_passed++;                                                    \
		} else {                                                                   \
			check_failed++;                                                    \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
				#cond);                                                    \
		}                                                                          \
	} while (0)

#define CHECK_EQ(a, b)                                                                     \
	do {                                                                               \
		long long va_ = (long long)(a), vb_ = (long long)(b);                      \
		if (va_ == vb_) {                                                          \
			check_passed++;                                                    \
		} else {                                                                   \
			check_failed++;                                                    \
			fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %lld, %s == %lld\n", \
				__FILE__, __LINE__, #a, va_, #b, vb_);                     \
		}                                                                          \
	} while (0)

static inline int check_done(const char *name)
{
	printf("%s: %u checks passed, %u failed\n", name, check_passed, check_failed);
	return check_failed ? EXIT_FAILURE : (check_passed ? EXIT_SUCCESS : EXIT_FAILURE);
}

#endif
