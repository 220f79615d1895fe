/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>

static const char *const level_name[] = {"error", "warning", "info", "debug"};

static void stderr_handler(void *ctx, enum usnet_log_level level, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "usnet: %s: %s\n", level_name[level], msg);
}

static enum usnet_log_level log_level = USNET_LOG_WARN;
static usnet_log_fn log_fn = stderr_handler;
static void *log_ctx;
static __thread char last_error[512];

/* USNET_LOG=error|warning|info|debug sets the starting level of any
 * program (an unknown value is reported and ignored). */
__attribute__((constructor)) static void level_from_env(void)
{
	const char *v = getenv("USNET_LOG");

	if (!v || !*v)
		return;
	for (unsigned i = 0; i < sizeof(level_name) / sizeof(level_name[0]); i++) {
		if (strcmp(v, level_name[i]) == 0) {
			log_level = (enum usnet_log_level)i;
			return;
		}
	}
	fprintf(stderr, "usnet: warning: USNET_LOG=%s is not one of error, warning, info, debug\n",
		v);
}

void usnet_log_set_level(enum usnet_log_level level)
{
	if (level > USNET_LOG_DEBUG)
		level = USNET_LOG_DEBUG;
	log_level = level;
}

enum usnet_log_level usnet_log_get_level(void)
{
	return log_level;
}

void usnet_log_set_handler(usnet_log_fn fn, void *ctx)
{
	log_fn = fn ? fn : stderr_handler;
	log_ctx = fn ? ctx : NULL;
}

void usnet_log(enum usnet_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_fn(log_ctx, level, msg);
}

int usnet_error(int err, const char *fmt, ...)
{
	char msg[sizeof(last_error)];
	va_list ap;

	/* Format aside first: a caller may pass usnet_last_error() itself as an
	 * argument ("uplink %s: %s", ..., usnet_last_error()), and vsnprintf()
	 * into the buffer it reads from is undefined (C11 7.21.6.5). */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	memcpy(last_error, msg, sizeof(msg));
	usnet_log(USNET_LOG_DEBUG, "%s", last_error);
	return -err;
}

const char *usnet_last_error(void)
{
	return last_error;
}

void usnet_clear_error(void)
{
	last_error[0] = '\0';
}
