/* SPDX-License-Identifier: MIT */
/*
 * usnet_sleep_us() (src/core/sleep.c), the drivers' one sleep: a signal
 * handler running during the sleep must not cut it short, or a minimum
 * delay a device needs (e1000: 1 ms after CTRL.RST) would not hold.
 */
#include <signal.h>
#include <string.h>
#include <sys/time.h>

#include <usnet/time.h>

#include "../../src/core/sleep.h"
#include "check.h"

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

int main(void)
{
	struct sigaction sa;
	struct itimerval every_2ms = {.it_interval = {0, 2000}, .it_value = {0, 2000}};
	struct itimerval off = {0};
	uint64_t t0, slept;

	/* Without SA_RESTART: nanosleep() returns EINTR on every alarm. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);

	/* Plain: at least the time asked. */
	t0 = usnet_now_ns();
	usnet_sleep_us(20000);
	CHECK(usnet_now_ns() - t0 >= 20000000ull);

	/* Interrupted many times: still at least the time asked. Only lower
	 * bounds are checked (a loaded machine sleeps longer, never less). */
	CHECK_EQ(setitimer(ITIMER_REAL, &every_2ms, NULL), 0);
	t0 = usnet_now_ns();
	usnet_sleep_us(100000);
	slept = usnet_now_ns() - t0;
	CHECK_EQ(setitimer(ITIMER_REAL, &off, NULL), 0);
	printf("  100 ms asked: %.1f ms slept, %d signals handled meanwhile\n", slept / 1e6,
	       (int)alarms);
	CHECK(alarms >= 1); /* the sleep really was interrupted */
	CHECK(slept >= 100000000ull);
	return check_done("test_sleep");
}
