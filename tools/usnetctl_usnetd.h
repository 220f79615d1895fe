/* SPDX-License-Identifier: MIT */
/* usnetctl's usnetd subcommands (usnetctl_usnetd.c). */
#ifndef USNETCTL_USNETD_H
#define USNETCTL_USNETD_H

#include <stdbool.h>

#define USNETCTL_DFLT_CONTROL "/run/usnet/usnetd.ctl"

/* cmd: "clients", "uplinks" or "stats"; sock: usnetd's control socket.
 * all: list every served interface, not just those with a history. Exit status. */
int usnetctl_usnetd(const char *cmd, const char *sock, bool json, bool all);

#endif
