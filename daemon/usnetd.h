/* SPDX-License-Identifier: MIT */
/*
 * usnetd: the network driver as its own process (docs/usnetd.md).
 *
 * One thread owns the uplink ports and serves memif clients (the internal
 * server API of src/memif/memif.h); every client interface is a port of an
 * L2 switch whose other port is its segment's uplink. This header is what
 * the daemon's files share; nothing here is public API.
 *
 *   config.c    the configuration: file, command line keys, defaults
 *   cmdline.c   the command line: options, --help, --check's own checks
 *   switch.c    MAC table, MAC derivation, flow hash (switch.h: the verdicts,
 *               inline for the fast path)
 *   forward.c   bursts, per-destination batches, flooding (forward.h)
 *   ctl.c       the control socket usnetctl talks to (ctl_proto.h)
 *   supervise.c --supervise: the daemon as a child, restarted on a crash
 *   usnetd.c    main(), memif callbacks, the poll loop, sleeping, setup,
 *               logging
 */
#ifndef USNETD_H
#define USNETD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <usnet/port.h>

#include "../src/memif/memif.h"
#include "switch.h"

#define USNETD_VERSION	    "0.1.0"
#define USNETD_MAX_UPLINKS  8
#define USNETD_MAX_IFACES   256 /* what the memif server serves at most */
#define USNETD_MAX_ACL	    16	/* uids, and gids, per interface */
#define USNETD_NAME_SZ	    32
#define USNETD_PATH_SZ	    108 /* sockaddr_un.sun_path */
#define USNETD_SPEC_SZ	    208 /* usnet_spec_parse() takes up to 200 characters */
#define USNETD_BATCH	    32	/* frames per burst and per destination batch */
#define USNETD_DFLT_SOCKET  "/run/usnet/usnetd.sock"
#define USNETD_DFLT_CONTROL "/run/usnet/usnetd.ctl"
#define USNETD_EXIT_FAIL    1 /* exit status: runtime failure */
#define USNETD_EXIT_USAGE   2 /* exit status: usage or configuration error */

/* ---- configuration (config.c) ---- */

struct usnetd_uplink_conf {
	char name[USNETD_NAME_SZ]; /* "u0", "u1"... unless a section names it */
	char spec[USNETD_SPEC_SZ];
	bool rx;      /* poll its RX queues (off: a send-only uplink such as null:) */
	bool promisc; /* receive frames for client MACs, not just the port's own */
	uint16_t rx_queues;
};

struct usnetd_iface_conf {
	uint32_t id;
	bool id_set;
	char name[USNETD_NAME_SZ];
	uint8_t mac[6];
	bool mac_set; /* else derived from id (usnetd_mac_derive()) */
	uid_t uids[USNETD_MAX_ACL];
	gid_t gids[USNETD_MAX_ACL];
	unsigned nuids, ngids; /* both 0: anyone who can open the socket */
	char secret[MEMIF_SECRET_SZ + 1];
	bool any_src_mac;	     /* may send from any source MAC */
	uint16_t queues;	     /* rings per direction at most; 0: the global `queues` */
	char uplink[USNETD_NAME_SZ]; /* "": the first uplink; "none": no uplink */
	bool auto_made;		     /* from auto_ids, not configured */
	bool from_cli;		     /* given with -i (once: a second -i ID is an error) */
};

struct usnetd_conf {
	char socket_path[USNETD_PATH_SZ];
	char control_path[USNETD_PATH_SZ]; /* "": derived from socket_path */
	mode_t socket_mode;
	uid_t socket_uid; /* (uid_t)-1: leave as created */
	gid_t socket_gid;
	int core;	       /* -1: no pinning */
	int rt_priority;       /* > 0: SCHED_FIFO at this priority (wake-ups preempt others) */
	uint32_t spin_us;      /* busy-poll this long after the last frame, then sleep */
	uint32_t pool_size;    /* daemon packet pool */
	uint16_t queues;       /* rings per direction and client at most */
	uint8_t mac_prefix[2]; /* derived MACs: PREFIX:ID(32 bits, big-endian) */
	uint32_t auto_lo, auto_hi;
	bool auto_ids;	   /* serve ids auto_lo..auto_hi without a section */
	bool auto_ids_set; /* given explicitly (else: 0-15 when nothing is configured) */
	bool use_syslog;
	int log_level; /* enum usnet_log_level */
	bool supervise;
	bool check_only; /* --check: print the configuration and exit */
	unsigned nuplinks, nifaces;
	struct usnetd_uplink_conf uplink[USNETD_MAX_UPLINKS];
	struct usnetd_iface_conf iface[USNETD_MAX_IFACES];
};

/* Defaults: socket paths, mode 0660, no pinning, 100 us spin... */
void usnetd_conf_init(struct usnetd_conf *c);
/* Read a config file into c (on top of what is there). 0 or -errno with usnet_last_error(). */
int usnetd_conf_load(struct usnetd_conf *c, const char *path);
/* Parse config text (for tests and the file reader); `origin` names it in errors. */
int usnetd_conf_parse(struct usnetd_conf *c, const char *text, const char *origin);
/* One global "key = value" setting, as the command line gives them. */
int usnetd_conf_set(struct usnetd_conf *c, const char *key, const char *val);
/* "-i ID[,key=value...]": add or amend interface ID. */
int usnetd_conf_iface_arg(struct usnetd_conf *c, const char *arg);
/* "-u SPEC" (rx polled) or "-U SPEC" (send-only). */
int usnetd_conf_uplink_arg(struct usnetd_conf *c, const char *spec, bool rx);
/*
 * Check consistency and fill in what is derived: control path, auto ids,
 * MACs, interface names, uplink references. 0 or -EINVAL.
 */
int usnetd_conf_finish(struct usnetd_conf *c);
/* The effective configuration, in the file's syntax. */
void usnetd_conf_print(const struct usnetd_conf *c, void *file);

/* ---- command line (cmdline.c) ---- */

/*
 * Fill c from argv (-f's file first, then the options over it) and finish
 * it (usnetd_conf_finish()). --help prints and exits 0; a usage or
 * configuration error is printed and exits USNETD_EXIT_USAGE.
 */
void usnetd_parse_args(int argc, char **argv, struct usnetd_conf *c);

/* ---- --supervise (supervise.c) ---- */

/*
 * Run run(c) in a child; restart it when it crashes (a signal, or exit
 * status 1), with a backoff that doubles while it keeps crashing within 10 s
 * of its start. A clean exit (0) or a configuration error (2) ends the
 * supervisor with that status; SIGTERM/SIGINT are passed to the child.
 */
int usnetd_supervise(struct usnetd_conf *c, int (*run)(struct usnetd_conf *c));

/* ---- the daemon (usnetd.c) ---- */

/* Frames collected for one destination during one source burst. */
struct usnetd_iface;
struct usnetd_uplink;

struct usnetd_batch {
	uint16_t n;
	uint64_t bytes;		      /* of the n frames */
	uint16_t q;		      /* client: the S2C ring they go to */
	bool dirty;		      /* on the flush list */
	struct usnetd_iface *iface;   /* the destination: a client... */
	struct usnetd_uplink *uplink; /* ...or an uplink */
	struct usnet_pkt *pkts[USNETD_BATCH];
};

struct usnetd_uplink {
	const struct usnetd_uplink_conf *conf;
	struct usnet_port *port;
	unsigned idx;
	uint16_t rxq; /* RX queues polled (0: send-only) */
	int fd_ok;    /* its RX queues have fds to sleep on */
	struct usnetd_batch out;
	/* Switch counters; the port keeps its own (usnet_port_stats()). */
	uint64_t rx_frames, rx_bytes; /* received from the uplink */
	uint64_t rx_flooded;	      /* of those, broadcast/multicast */
	uint64_t rx_filtered;	      /* of those, for no client (or looped back) */
	uint64_t tx_frames, tx_bytes; /* handed to the uplink */
	uint64_t tx_drops;	      /* the uplink refused them (queue full) */
};

struct usnetd_iface {
	struct usnetd_iface_conf *conf;
	unsigned idx;
	struct usnet_memif_conn *conn;
	struct usnetd_uplink *uplink; /* its segment's uplink, NULL if none */
	bool up;
	uint64_t up_since_ns;
	struct usnetd_batch out;
	struct usnetd_sw_cache cache;  /* where its last frame went */
	char refusal[MEMIF_REASON_SZ]; /* the last ACL refusal (on_init's return value) */
	uint64_t refused_ns, down_ns;  /* when it was last refused, last went down */
	struct usnet_queue_stats rxst[USNET_MEMIF_MAX_RINGS], txst[USNET_MEMIF_MAX_RINGS];
	/* Switch counters, kept across connections. */
	uint64_t rx_frames, rx_bytes; /* frames the client sent */
	uint64_t tx_frames, tx_bytes; /* frames copied into its rings */
	uint64_t tx_drops;	      /* for it, but its S2C rings were full (or it left) */
	uint64_t src_mac_drops;	      /* it sent from a MAC not its own */
	uint64_t other_drops;	      /* runts, hairpins, no uplink, pool empty */
	uint64_t refused;	      /* connections refused by the ACL */
};

struct usnetd_ctl;

struct usnetd {
	struct usnetd_conf *conf;
	struct usnet_memif_server *srv;
	struct usnet_pool *pool; /* client frames and flood copies */
	unsigned nup, nifs;
	struct usnetd_uplink up[USNETD_MAX_UPLINKS];
	struct usnetd_iface *ifs;
	struct usnetd_sw_port *swp; /* per interface, for the verdict functions */
	struct usnetd_iface *active[USNETD_MAX_IFACES]; /* connected interfaces */
	unsigned nactive;
	struct usnetd_mactab mactab;
	struct usnetd_batch *flush[USNETD_MAX_IFACES + USNETD_MAX_UPLINKS];
	unsigned nflush;
	int ep_ctl;   /* control events: memif server, control socket, signals */
	int ep_sleep; /* ep_ctl + uplink fds + client C2S eventfds */
	int sigfd;
	struct usnetd_ctl *ctl;
	bool stop;
	bool ctl_due; /* a data-path fault waits for the memif control side */
	uint64_t start_ns;
	uint64_t next_srv; /* when usnet_memif_server_poll() is due regardless */
	uint64_t loops, sleeps, sleep_ns;
	uint64_t accept_refused_warned_ns; /* last warning about a peer refused at accept */
	char accept_refusal[96];
};

/* ---- control socket (ctl.c) ---- */

/* Listen on path (mode 0600). 0 or -errno. */
int usnetd_ctl_open(struct usnetd_ctl **out, struct usnetd *d, const char *path);
void usnetd_ctl_close(struct usnetd_ctl *ctl);
/* Its epoll fd: readable when usnetd_ctl_poll() has work. */
int usnetd_ctl_fd(const struct usnetd_ctl *ctl);
/* Accept, answer requests, drop idle connections. Never blocks. */
void usnetd_ctl_poll(struct usnetd_ctl *ctl);

#endif
