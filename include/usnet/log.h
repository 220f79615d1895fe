/* SPDX-License-Identifier: MIT */
/*
 * Leveled logging and the last-error message.
 *
 * Library functions that fail return -errno and, where there is more to say
 * than strerror() can, record a one-line reason that usnet_last_error()
 * returns (per thread). Logging goes to stderr unless the caller installs a
 * handler. USNET_DEBUG() compiles to nothing unless USNET_ENABLE_DEBUG is
 * defined, so it may sit on the fast path.
 */
#ifndef USNET_LOG_H
#define USNET_LOG_H

#include <stdarg.h>

#ifdef __cplusplus
extern "C" {
#endif

enum usnet_log_level {
	USNET_LOG_ERR = 0,
	USNET_LOG_WARN = 1,
	USNET_LOG_INFO = 2,
	USNET_LOG_DEBUG = 3,
};

typedef void (*usnet_log_fn)(void *ctx, enum usnet_log_level level, const char *msg);

/* Messages above level are dropped. Default: USNET_LOG_WARN, or the
 * environment's USNET_LOG=error|warning|info|debug. */
void usnet_log_set_level(enum usnet_log_level level);
enum usnet_log_level usnet_log_get_level(void);
/* fn == NULL restores the stderr handler. */
void usnet_log_set_handler(usnet_log_fn fn, void *ctx);

void usnet_log(enum usnet_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define USNET_ERR(...) usnet_log(USNET_LOG_ERR, __VA_ARGS__)
#define USNET_WARN(...) usnet_log(USNET_LOG_WARN, __VA_ARGS__)
#define USNET_INFO(...) usnet_log(USNET_LOG_INFO, __VA_ARGS__)
#ifdef USNET_ENABLE_DEBUG
#define USNET_DEBUG(...) usnet_log(USNET_LOG_DEBUG, __VA_ARGS__)
#else
#define USNET_DEBUG(...) ((void)0)
#endif

/*
 * Record why the calling thread's last operation failed and return -err, so
 * that `return usnet_error(ENODEV, "interface '%s' not found", name);` reads
 * naturally. err is a positive errno value.
 */
int usnet_error(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The reason recorded last on this thread, or strerror of nothing: "" if none. */
const char *usnet_last_error(void);
void usnet_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
