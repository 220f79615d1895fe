/* SPDX-License-Identifier: MIT */
/*
 * usnetd's command line: options on top of the configuration file
 * (config.c), the checks --check makes beyond the configuration's own,
 * --help. Usage errors exit with status 2.
 */
#define _GNU_SOURCE /* sched_getaffinity() */
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/port.h>

#include "../src/ports/port_impl.h" /* usnet_spec_parse(): --check */
#include "usnetd.h"

static const char usage_text[] =
    "usage: usnetd [OPTIONS]\n"
    "\n"
    "The usnet driver as a process: owns uplink ports and serves memif clients\n"
    "(VPP, DPDK net_memif, usnet's memif: port) on a UNIX socket, switching frames\n"
    "between them by MAC address on one polling thread. docs/usnetd.md.\n"
    "\n"
    "  -f, --config FILE      read the configuration file first (key = value,\n"
    "                         [uplink NAME] and [interface NAME] sections)\n"
    "  -s, --socket PATH      memif socket (default " USNETD_DFLT_SOCKET "; @NAME: abstract)\n"
    "  -C, --control PATH     control socket for usnetctl (default: the memif socket\n"
    "                         with .ctl for .sock, i.e. " USNETD_DFLT_CONTROL ")\n"
    "  -u, --uplink SPEC      an uplink port (any spec: afpacket:eth0, tap:x, null:...);\n"
    "                         repeatable; the first is the default segment\n"
    "  -U, --send-only SPEC   an uplink usnetd sends to but never receives from\n"
    "                         (e.g. null:, whose RX yields frames without end)\n"
    "  -i, --interface ID[,KEY=VALUE...]\n"
    "                         serve interface ID; keys as in an [interface] section:\n"
    "                         mac=, uids=A:B, gids=A:B, secret=, allow_any_src_mac=yes,\n"
    "                         queues=, uplink=NAME|none\n"
    "  -c, --core CORE        pin the polling thread to CORE (default: not pinned)\n"
    "      --rt-priority N    run it SCHED_FIFO at priority N (1..99): wake-ups preempt\n"
    "                         other work on its core (default: 0, an ordinary task)\n"
    "      --auto-ids LO-HI|none   also serve ids LO..HI with defaults (default 0-15\n"
    "                         when no interface is configured, else none)\n"
    "      --socket-mode MODE socket file mode, octal (default 0660)\n"
    "      --socket-owner USER[:GROUP]\n"
    "      --spin-us N        busy-poll N us after the last frame before sleeping (100)\n"
    "      --queues N         rings per direction a client may have (default 4)\n"
    "      --supervise        run usnetd as a child and restart it when it crashes\n"
    "      --syslog           log to syslog instead of stderr\n"
    "  -v, --verbose          log debug messages too (-q: warnings and errors only)\n"
    "  -q, --quiet\n"
    "      --check            print the effective configuration and exit\n"
    "  -h, --help             this text\n"
    "\n"
    "Signals: SIGTERM/SIGINT shut down cleanly (clients get DISCONNECT \"usnetd\n"
    "shutting down\" and reconnect when it is back). Exit status: 0 clean, 1 runtime\n"
    "failure, 2 usage or configuration error.\n";

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "usnetd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see usnetd --help)\n");
	exit(USNETD_EXIT_USAGE);
}

enum {
	OPT_AUTO = 256,
	OPT_MODE,
	OPT_OWNER,
	OPT_SPIN,
	OPT_QUEUES,
	OPT_SUPERVISE,
	OPT_SYSLOG,
	OPT_CHECK,
	OPT_RT,
};

static const struct option long_opts[] = {
    {"config", required_argument, NULL, 'f'},
    {"socket", required_argument, NULL, 's'},
    {"control", required_argument, NULL, 'C'},
    {"uplink", required_argument, NULL, 'u'},
    {"send-only", required_argument, NULL, 'U'},
    {"interface", required_argument, NULL, 'i'},
    {"core", required_argument, NULL, 'c'},
    {"auto-ids", required_argument, NULL, OPT_AUTO},
    {"socket-mode", required_argument, NULL, OPT_MODE},
    {"socket-owner", required_argument, NULL, OPT_OWNER},
    {"spin-us", required_argument, NULL, OPT_SPIN},
    {"queues", required_argument, NULL, OPT_QUEUES},
    {"supervise", no_argument, NULL, OPT_SUPERVISE},
    {"syslog", no_argument, NULL, OPT_SYSLOG},
    {"verbose", no_argument, NULL, 'v'},
    {"quiet", no_argument, NULL, 'q'},
    {"check", no_argument, NULL, OPT_CHECK},
    {"rt-priority", required_argument, NULL, OPT_RT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/*
 * A core this process may not run on made only the real start fail
 * (sched_setaffinity(): EINVAL), after --check had said OK: check it here,
 * against the CPUs usnetd may use now (sched_getaffinity(2): cpusets,
 * taskset and offline CPUs included).
 */
static void check_core(const struct usnetd_conf *c)
{
	char cpus[256] = "";
	size_t len = 0;
	cpu_set_t set;

	if (c->core < 0 || sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	if (c->core < CPU_SETSIZE && CPU_ISSET(c->core, &set))
		return;
	for (int i = 0; i < CPU_SETSIZE && len < sizeof(cpus) - 16; i++) {
		int j = i;

		if (!CPU_ISSET(i, &set))
			continue;
		while (j + 1 < CPU_SETSIZE && CPU_ISSET(j + 1, &set))
			j++;
		len += (size_t)snprintf(cpus + len, sizeof(cpus) - len, "%s%d", len ? "," : "", i);
		if (j > i)
			len += (size_t)snprintf(cpus + len, sizeof(cpus) - len, "-%d", j);
		i = j;
	}
	usage_error("core %d: usnetd may run only on CPUs %s", c->core, cpus);
}

struct kinds {
	const char *want;
	bool found;
	char list[128];
};

static void kind_known(void *ctx, const char *kind, const char *usage)
{
	struct kinds *k = ctx;
	size_t n = strlen(k->list);

	(void)usage;
	k->found |= !strcmp(k->want, kind);
	snprintf(k->list + n, sizeof(k->list) - n, "%s%s", n ? ", " : "", kind);
}

/*
 * What can be known of an uplink without opening it: its spec parses and
 * names a kind of this build. So --check does not say OK to "foo:x" or
 * "afpacket:eth0,x" (the port itself checks its NAME and options at open).
 */
static void check_uplink_specs(const struct usnetd_conf *c)
{
	for (unsigned i = 0; i < c->nuplinks; i++) {
		const struct usnetd_uplink_conf *u = &c->uplink[i];
		struct usnet_spec spec;
		struct kinds k = {.want = spec.kind};

		if (usnet_spec_parse(&spec, u->spec))
			usage_error("uplink %s: %s", u->name, usnet_last_error());
		usnet_port_kinds(kind_known, &k);
		if (!k.found)
			usage_error("uplink %s: unknown port kind '%s' in '%s' (known: %s)",
				    u->name, spec.kind, u->spec, k.list);
	}
}

static void set_or_die(struct usnetd_conf *c, const char *key, const char *val)
{
	if (usnetd_conf_set(c, key, val))
		usage_error("%s", usnet_last_error());
}

void usnetd_parse_args(int argc, char **argv, struct usnetd_conf *c)
{
	const char *optstr = ":f:s:C:u:U:i:c:vqh";
	int opt;

	/* The file first, wherever -f is, so that the other options override it. */
	while ((opt = getopt_long(argc, argv, optstr, long_opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_text, stdout);
			exit(0);
		}
		if (opt == ':')
			usage_error("option '%s' needs a value", argv[optind - 1]);
		if (opt == '?')
			usage_error("unknown option '%s'", argv[optind - 1]);
		if (opt == 'f' && usnetd_conf_load(c, optarg))
			usage_error("%s", usnet_last_error());
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	optind = 1;
	while ((opt = getopt_long(argc, argv, optstr, long_opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			set_or_die(c, "socket", optarg);
			break;
		case 'C':
			set_or_die(c, "control", optarg);
			break;
		case 'u':
		case 'U':
			if (usnetd_conf_uplink_arg(c, optarg, opt == 'u'))
				usage_error("%s", usnet_last_error());
			break;
		case 'i':
			if (usnetd_conf_iface_arg(c, optarg))
				usage_error("%s", usnet_last_error());
			break;
		case 'c':
			set_or_die(c, "core", optarg);
			break;
		case OPT_AUTO:
			set_or_die(c, "auto_ids", optarg);
			break;
		case OPT_MODE:
			set_or_die(c, "socket_mode", optarg);
			break;
		case OPT_OWNER: {
			char user[64];
			const char *colon = strchr(optarg, ':');

			snprintf(user, sizeof(user), "%.*s",
				 colon ? (int)(colon - optarg) : (int)strlen(optarg), optarg);
			if (*user)
				set_or_die(c, "socket_owner", user);
			if (colon)
				set_or_die(c, "socket_group", colon + 1);
			break;
		}
		case OPT_SPIN:
			set_or_die(c, "spin_us", optarg);
			break;
		case OPT_QUEUES:
			set_or_die(c, "queues", optarg);
			break;
		case OPT_SUPERVISE:
			c->supervise = true;
			break;
		case OPT_SYSLOG:
			c->use_syslog = true;
			break;
		case 'v':
			c->log_level = USNET_LOG_DEBUG;
			break;
		case 'q':
			c->log_level = USNET_LOG_WARN;
			break;
		case OPT_CHECK:
			c->check_only = true;
			break;
		case OPT_RT:
			set_or_die(c, "rt_priority", optarg);
			break;
		default:
			break; /* -f: done above */
		}
	}
	if (usnetd_conf_finish(c))
		usage_error("%s", usnet_last_error());
	check_core(c);
	check_uplink_specs(c);
}
