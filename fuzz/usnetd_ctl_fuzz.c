/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: usnetd's control socket (daemon/ctl.c), as usnetctl or
 * anyone else who can open it talks to it. A daemon with one uplink (null:)
 * and three served interfaces answers; the input is a program of
 * operations, the high nibble of each operation byte picking one of ten
 * peer connections (more than the eight usnetd serves at once):
 *
 *   0 CONNECT                 open that peer's connection
 *   1 SEND  len, nfd, bytes   one datagram of 0 to 63 bytes (requests are
 *                             16) carrying 0 to 2 fds
 *   2 REQUEST cmd, start      a well-formed request with these fields
 *   3 POLL                    usnetd_ctl_poll(), then read every answer
 *   4 CLOSE                   close that peer's connection
 *   5 SHUTDOWN                shut its writing side (usnetd reads end of file)
 *
 * Every answer read is checked against ctl_proto.h: magic, version, a
 * status of 0, -EINVAL or -EACCES, and for 0 a length of exactly `count`
 * records of the command's size, count <= total, the right total and a
 * `next` that is the end or inside the list. After every input the peers
 * close and usnetd must hold no fd more than before. A violation aborts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/time.h>

#include "../daemon/ctl_proto.h"
#include "../daemon/usnetd.h"
#include "../tests/common/fd_util.h"
#include "fuzz_input.h"

#define NPEER	10
#define MAX_OPS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct usnetd_conf conf;
static struct usnetd d;
static struct usnetd_ctl *ctl;
static char ctl_path[64], srv_path[64];
static int peer[NPEER];

static void setup(void)
{
	static const char text[] = "[uplink sink]\nspec = null:\nrx = no\n"
				   "[interface 1]\n[interface 2]\nsecret = x\n[interface 3]\n";
	struct usnet_memif_server_conf sc = {.path = srv_path};
	struct usnet_pool_conf pc = {.count = 64, .name = "ctlfuzz"};

	usnet_log_set_level(USNET_LOG_ERR);
	snprintf(srv_path, sizeof(srv_path), "@usnet-ctlfuzz-%d.sock", (int)getpid());
	snprintf(ctl_path, sizeof(ctl_path), "@usnet-ctlfuzz-%d.ctl", (int)getpid());
	usnetd_conf_init(&conf);
	snprintf(conf.socket_path, sizeof(conf.socket_path), "%s", srv_path);
	if (usnetd_conf_parse(&conf, text, "ctlfuzz") || usnetd_conf_finish(&conf))
		goto fail;
	d.conf = &conf;
	d.start_ns = usnet_now_ns();
	if (usnet_pool_create(&d.pool, &pc) || usnet_memif_server_create(&d.srv, &sc))
		goto fail;
	d.nup = 1;
	d.up[0].conf = &conf.uplink[0];
	if (usnet_port_open(&d.up[0].port, conf.uplink[0].spec, NULL))
		goto fail;
	d.nifs = conf.nifaces;
	d.ifs = calloc(d.nifs, sizeof(*d.ifs));
	if (!d.ifs)
		goto fail;
	for (unsigned i = 0; i < d.nifs; i++) {
		d.ifs[i].conf = &conf.iface[i];
		d.ifs[i].idx = i;
		d.ifs[i].uplink = &d.up[0];
		if (usnet_memif_server_add(d.srv, &d.ifs[i].conn, conf.iface[i].id,
					   conf.iface[i].secret, 1, 1, NULL))
			goto fail;
	}
	if (usnetd_ctl_open(&ctl, &d, ctl_path))
		goto fail;
	for (int i = 0; i < NPEER; i++)
		peer[i] = -1;
	return;
fail:
	fprintf(stderr, "usnetd_ctl_fuzz setup: %s\n", usnet_last_error());
	abort();
}

static void peer_connect(int k)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(ctl_path);

	if (peer[k] >= 0)
		return;
	memcpy(sa.sun_path, ctl_path, n);
	sa.sun_path[0] = '\0';
	peer[k] = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (peer[k] < 0)
		abort();
	if (connect(peer[k], (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
		close(peer[k]); /* backlog full: usnetd's right */
		peer[k] = -1;
	}
}

static void peer_send(int k, const void *buf, size_t len, int nfd)
{
	int fds[2] = {-1, -1};

	if (peer[k] < 0)
		return;
	for (int i = 0; i < nfd; i++)
		if ((fds[i] = eventfd(0, EFD_CLOEXEC)) < 0)
			abort();
	/* may fail: the peer gone */
	(void)test_send_fds(peer[k], buf, len, fds, nfd, MSG_NOSIGNAL | MSG_DONTWAIT);
	for (int i = 0; i < nfd; i++)
		close(fds[i]);
}

static void check_answer(const uint8_t *buf, ssize_t len)
{
	const struct usnetd_ctl_resp *h = (const void *)buf;
	size_t size = 0;
	uint32_t total = 0;

	if (len < (ssize_t)sizeof(*h) || h->magic != USNETD_CTL_MAGIC ||
	    h->version != USNETD_CTL_VERSION)
		goto bad;
	if (h->status) {
		if ((h->status != -EINVAL && h->status != -EACCES) || len != sizeof(*h))
			goto bad;
		return;
	}
	switch (h->cmd) {
	case USNETD_CTL_INFO:
		size = sizeof(struct usnetd_ctl_info);
		total = 1;
		break;
	case USNETD_CTL_UPLINKS:
		size = sizeof(struct usnetd_ctl_uplink);
		total = d.nup;
		break;
	case USNETD_CTL_CLIENTS:
		size = sizeof(struct usnetd_ctl_client);
		total = d.nifs;
		break;
	default:
		goto bad; /* an unknown command answered with status 0 */
	}
	if (h->total != total || h->count > total ||
	    (size_t)len != sizeof(*h) + (size_t)h->count * size ||
	    (h->next != USNETD_CTL_END && (h->next == 0 || h->next >= total)))
		goto bad;
	return;
bad:
	fprintf(stderr,
		"usnetd_ctl_fuzz: bad answer of %zd bytes: cmd %u status %d count %u next %u total "
		"%u\n",
		len, len >= 8 ? h->cmd : 0, len >= 12 ? h->status : 0, len >= 16 ? h->count : 0,
		len >= 20 ? h->next : 0, len >= 24 ? h->total : 0);
	abort();
}

static void poll_and_read(void)
{
	static uint8_t buf[USNETD_CTL_MAX_MSG + 16];

	usnetd_ctl_poll(ctl);
	for (int k = 0; k < NPEER; k++) {
		ssize_t n;

		while (peer[k] >= 0 &&
		       (n = recv(peer[k], buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC)) > 0) {
			if (n > USNETD_CTL_MAX_MSG) {
				fprintf(stderr, "usnetd_ctl_fuzz: answer of %zd bytes\n", n);
				abort();
			}
			check_answer(buf, n);
		}
	}
}

/* Whether usnetd's control socket has anything to do (its epoll fd is readable). */
static bool ctl_ready(void)
{
	struct pollfd p = {.fd = usnetd_ctl_fd(ctl), .events = POLLIN};

	return poll(&p, 1, 0) > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	int base, fds;

	if (!ctl)
		setup();
	base = test_count_fds();
	for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
		uint8_t op = in_u8(&in);
		int k = (op >> 4) % NPEER;

		switch ((op & 0xf) % 6) {
		case 0:
			peer_connect(k);
			break;
		case 1: {
			uint8_t buf[64];
			size_t len = in_u8(&in) % sizeof(buf);
			int nfd = in_u8(&in) % 3;

			for (size_t i = 0; i < len; i++)
				buf[i] = in_u8(&in);
			peer_send(k, buf, len, nfd);
			break;
		}
		case 2: {
			struct usnetd_ctl_req req = {.magic = USNETD_CTL_MAGIC,
						     .version = USNETD_CTL_VERSION};

			req.cmd = in_u8(&in);
			req.start = in_u32(&in);
			peer_send(k, &req, sizeof(req), 0);
			break;
		}
		case 3:
			poll_and_read();
			break;
		case 4:
			if (peer[k] >= 0)
				close(peer[k]);
			peer[k] = -1;
			break;
		case 5:
			if (peer[k] >= 0)
				shutdown(peer[k], SHUT_WR);
			break;
		}
	}
	poll_and_read();
	for (int k = 0; k < NPEER; k++) {
		if (peer[k] >= 0)
			close(peer[k]);
		peer[k] = -1;
	}
	/* usnetd accepts at most eight connections a poll, so closed peers can
	 * still wait in its listen backlog: poll until nothing is ready (a
	 * backlog of 64 needs about ten rounds), or this input's leftovers
	 * would be accepted during the next one and counted against it. */
	for (int i = 0; i < 64 && ctl_ready(); i++)
		usnetd_ctl_poll(ctl);
	if (ctl_ready()) {
		fprintf(stderr, "usnetd_ctl_fuzz: usnetd still busy after 64 polls\n");
		abort();
	}
	fds = test_count_fds();
	if (fds != base) {
		fprintf(stderr, "usnetd_ctl_fuzz: %d fds open after the input, %d before\n", fds,
			base);
		abort();
	}
	return 0;
}
