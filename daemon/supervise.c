/* SPDX-License-Identifier: MIT */
/*
 * usnetd --supervise: the daemon as a child process, restarted when it
 * crashes (docs/usnetd.md, "Running it").
 */
#define _GNU_SOURCE /* prctl, strsignal */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/time.h>

#include "usnetd.h"

#define BACKOFF_MIN 100			      /* ms before the first restart */
#define BACKOFF_MAX 5000		      /* ms */
#define STABLE_NS   (10 * USNET_NSEC_PER_SEC) /* a child that ran this long resets the backoff */

static const char *describe_status(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(st),
			 strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "ended (status 0x%x)", (unsigned)st);
	return buf;
}

/*
 * Run usnetd as a child; restart it when it crashes (a signal, or exit
 * status 1), with a backoff that doubles while it keeps crashing within 10 s
 * of its start. A clean exit (0) or a configuration error (2) ends the
 * supervisor with that status; SIGTERM/SIGINT are passed to the child.
 */
int usnetd_supervise(struct usnetd_conf *c, int (*run)(struct usnetd_conf *c))
{
	unsigned delay_ms = BACKOFF_MIN;
	pid_t parent = getpid();
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		uint64_t t0 = usnet_now_ns();
		bool stopping = false;
		pid_t pid = fork();
		int st = 0;
		char why[64];

		if (pid < 0) {
			USNET_ERR("supervise: fork: %s", strerror(errno));
			return USNETD_EXIT_FAIL;
		}
		if (pid == 0) {
			/* Do not outlive the supervisor (a SIGKILLed supervisor cannot pass
			 * anything on), and close the race with a parent already gone. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() != parent)
				_exit(0);
			_exit(run(c));
		}
		USNET_INFO("supervise: started usnetd pid %d", (int)pid);
		for (;;) {
			siginfo_t si;
			int sig = sigwaitinfo(&set, &si);

			if (sig == SIGCHLD) {
				if (waitpid(pid, &st, WNOHANG) == pid)
					break;
			} else if (sig == SIGTERM || sig == SIGINT) {
				stopping = true;
				kill(pid, sig);
			} else if (sig == SIGHUP) {
				kill(pid, sig);
			}
		}
		describe_status(st, why, sizeof(why));
		if (stopping) {
			USNET_INFO("supervise: usnetd %s; stopping", why);
			return WIFEXITED(st) ? WEXITSTATUS(st) : 0;
		}
		if (WIFEXITED(st) &&
		    (WEXITSTATUS(st) == 0 || WEXITSTATUS(st) == USNETD_EXIT_USAGE)) {
			USNET_INFO("supervise: usnetd %s; not restarting", why);
			return WEXITSTATUS(st);
		}
		if (usnet_now_ns() - t0 >= STABLE_NS)
			delay_ms = BACKOFF_MIN;
		USNET_WARN("supervise: usnetd pid %d %s; restarting in %u ms", (int)pid, why,
			   delay_ms);
		{
			struct timespec ts = {.tv_sec = delay_ms / 1000,
					      .tv_nsec = (long)(delay_ms % 1000) * 1000000};
			siginfo_t si;
			uint64_t until = usnet_now_ns() + (uint64_t)delay_ms * 1000000;

			/* Sleep out the backoff, but stop at once if told to. */
			while (usnet_now_ns() < until) {
				int sig = sigtimedwait(&set, &si, &ts);

				if (sig == SIGTERM || sig == SIGINT) {
					USNET_INFO("supervise: stopping");
					return 0;
				}
				if (sig < 0 && errno == EAGAIN)
					break;
			}
		}
		delay_ms = delay_ms * 2 > BACKOFF_MAX ? BACKOFF_MAX : delay_ms * 2;
	}
}
