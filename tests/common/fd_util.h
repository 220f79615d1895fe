/* SPDX-License-Identifier: MIT */
/*
 * Descriptor helpers the hostile-peer tests and the fuzz harnesses share
 * (tests/unit/test_memif.c, tests/integration/usnetd_hostile.c, fuzz/):
 * counting this process's open descriptors, so a leak shows, and sending
 * a message with descriptors attached (SCM_RIGHTS), as a peer does.
 * Header-only: each user includes it by its relative path.
 */
#ifndef USNET_TESTS_FD_UTIL_H
#define USNET_TESTS_FD_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* The most descriptors test_send_fds() attaches to one message. */
#define TEST_MAX_SEND_FDS 16

/* Every open descriptor of this process: a leaked pipe end counts as much
 * as a memfd. Aborts if /proc/self/fd cannot be read. */
static inline int test_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory stream's own */
}

/* sendmsg() of len bytes of m (len may be 0) on sock with the nfd
 * descriptors fds[] attached; flags as sendmsg's. Its result, or -1 with
 * errno EINVAL for more than TEST_MAX_SEND_FDS descriptors. */
static inline ssize_t test_send_fds(int sock, const void *m, size_t len, const int *fds, int nfd,
				    int flags)
{
	union {
		char b[CMSG_SPACE(TEST_MAX_SEND_FDS * sizeof(int))];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (nfd > TEST_MAX_SEND_FDS) {
		errno = EINVAL;
		return -1;
	}
	if (nfd > 0) {
		struct cmsghdr *cm;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE((size_t)nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN((size_t)nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, (size_t)nfd * sizeof(int));
	}
	return sendmsg(sock, &mh, flags);
}

#endif
