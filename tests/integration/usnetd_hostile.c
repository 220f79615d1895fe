/* SPDX-License-Identifier: MIT */
/*
 * Hostile memif clients for tests/integration/usnetd_hostile.sh: each
 * command attacks one hole of usnetd's trust boundary and prints what
 * happened. Every loop is bounded in count and time.
 *
 *   usnetd_hostile race SOCK ID TRIES SECONDS
 *       ADD_REGION with a memfd that is shrunk to 0 bytes and sealed while
 *       usnetd checks it, at a delay that homes in on usnetd's checks. A
 *       region accepted although its file is smaller than announced is
 *       completed with rings and CONNECT (usnetd reads the ring cookie).
 *       Exit 0: never accepted, usnetd answered every try; 1: accepted or
 *       usnetd gone.
 *   usnetd_hostile hugetlb SOCK ID
 *       ADD_REGION with a sealed hugetlbfs memfd. Prints "refused: REASON"
 *       (exit 3) or "accepted" (exit 0); 77 if hugetlbfs memfds are missing.
 *   usnetd_hostile fds SOCK ID ROUNDS [CTLSOCK]
 *       descriptors on every path that takes none or fewer: zero-length
 *       datagrams, INIT, CONNECT, DISCONNECT and short messages with fds,
 *       too many fds (MSG_CTRUNC), before and after INIT; with CTLSOCK the
 *       control socket gets them too. Each connection is waited out (usnetd
 *       has hung up). Exit 0 when all were sent and answered.
 *   usnetd_hostile hold SOCK SECONDS CONNS
 *       keep CONNS connections open, saying nothing, and reopen each one
 *       usnetd closes, for SECONDS. Prints the counts.
 *   usnetd_hostile chain SOCK ID long|short SECONDS
 *       connect properly, then publish a C2S descriptor chain that never
 *       ends: long, 1023 segments of 1500 bytes (exit 0 when usnetd
 *       disconnects us within SECONDS, printing the reason); short, 3
 *       segments of 64 bytes, then stay SECONDS (exit 0 if still connected).
 */
#define _GNU_SOURCE /* memfd_create, F_ADD_SEALS */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/time.h>

#include "../../src/memif/memif.h"
#include "../common/fd_util.h"

#define MS (1000 * 1000ull)

static int sock_connect(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0 || n >= sizeof(sa.sun_path)) {
		perror("usnetd_hostile: socket");
		exit(2);
	}
	memcpy(sa.sun_path, path, n);
	if (path[0] == '@')
		sa.sun_path[0] = '\0';
	if (connect(fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] != '@'))) <
	    0) {
		int err = errno;

		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* Send len bytes of m (len may be 0) with nfd copies of fd. */
static int send_fds(int sock, const struct memif_msg *m, size_t len, int fd, int nfd)
{
	int fds[TEST_MAX_SEND_FDS];

	if (nfd > TEST_MAX_SEND_FDS)
		return -EINVAL;
	for (int i = 0; i < nfd; i++)
		fds[i] = fd;
	return test_send_fds(sock, m, len, fds, nfd, MSG_NOSIGNAL) < 0 ? -errno : 0;
}

/* One message within ms: its type, 0 on hang-up or timeout. */
static int recv_msg(int fd, struct memif_msg *m, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	ssize_t n;

	if (poll(&p, 1, ms) <= 0)
		return 0;
	n = recv(fd, m, sizeof(*m), MSG_DONTWAIT);
	return n == (ssize_t)sizeof(*m) ? m->type : 0;
}

/* Wait (bounded) until the peer hangs up; true if it did. */
static bool wait_hangup(int fd, int ms)
{
	uint64_t end = usnet_now_ns() + (uint64_t)ms * MS;
	struct memif_msg m;

	while (usnet_now_ns() < end) {
		struct pollfd p = {.fd = fd, .events = POLLIN};

		if (poll(&p, 1, 50) > 0 && recv(fd, &m, sizeof(m), MSG_DONTWAIT) <= 0)
			return true;
	}
	return false;
}

static const char *reason_of(const struct memif_msg *m, int type)
{
	static char why[MEMIF_REASON_SZ + 1];

	if (type != MEMIF_MSG_DISCONNECT)
		return type ? "unexpected message" : "no answer (hang-up or timeout)";
	memcpy(why, m->disconnect.string, MEMIF_REASON_SZ);
	why[MEMIF_REASON_SZ] = '\0';
	return why;
}

/* HELLO, INIT id, ACK. The socket, or -1 (reason printed unless quiet). */
static int start_init(const char *path, uint32_t id, bool quiet)
{
	struct memif_msg m;
	int fd = sock_connect(path), t = 0;

	if (fd < 0) {
		if (!quiet)
			fprintf(stderr, "usnetd_hostile: connect %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (recv_msg(fd, &m, 2000) != MEMIF_MSG_HELLO) {
		if (!quiet)
			fprintf(stderr, "usnetd_hostile: no HELLO\n");
		close(fd);
		return -1;
	}
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_INIT;
	m.init.version = MEMIF_VERSION;
	m.init.id = id;
	memcpy(m.init.name, "hostile", 7);
	if (send_fds(fd, &m, sizeof(m), -1, 0) || (t = recv_msg(fd, &m, 2000)) != MEMIF_MSG_ACK) {
		if (!quiet)
			fprintf(stderr, "usnetd_hostile: INIT: %s\n", reason_of(&m, t));
		close(fd);
		return -1;
	}
	return fd;
}

static void send_add_region(int fd, uint64_t size, int mfd)
{
	struct memif_msg m = {.type = MEMIF_MSG_ADD_REGION};

	m.add_region.index = 0;
	m.add_region.size = size;
	if (send_fds(fd, &m, sizeof(m), mfd, 1))
		perror("usnetd_hostile: send ADD_REGION");
}

/* ---- race: shrink and seal the region between usnetd's checks ---- */

#define RACE_SIZE (64 * 1024)

static void spin_ns(uint64_t ns)
{
	uint64_t end = usnet_now_ns() + ns;

	while (usnet_now_ns() < end)
		;
}

/* After a region was accepted: rings and CONNECT. Returns what usnetd said. */
static const char *race_finish(int fd)
{
	static char out[160];
	struct memif_msg m;
	int t = 0;

	for (int dir = 0; dir < 2; dir++) {
		int efd = eventfd(0, EFD_CLOEXEC);

		memset(&m, 0, sizeof(m));
		m.type = MEMIF_MSG_ADD_RING;
		m.add_ring.flags = dir ? 0 : MEMIF_ADD_RING_FLAG_C2S;
		m.add_ring.offset = dir ? 4096 : 0;
		m.add_ring.log2_ring_size = 4;
		send_fds(fd, &m, sizeof(m), efd, 1);
		close(efd);
		if ((t = recv_msg(fd, &m, 2000)) != MEMIF_MSG_ACK)
			goto done;
	}
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_CONNECT;
	send_fds(fd, &m, sizeof(m), -1, 0);
	t = recv_msg(fd, &m, 2000);
done:
	snprintf(out, sizeof(out), "%s",
		 t == MEMIF_MSG_CONNECTED ? "CONNECTED"
		 : t == MEMIF_MSG_ACK	  ? "ACK"
					  : reason_of(&m, t));
	return out;
}

static int cmd_race(const char *path, uint32_t id, long tries, double secs)
{
	uint64_t end = usnet_now_ns() + (uint64_t)(secs * 1e9);
	uint64_t delay = 20000, early = 0, late = 0, other = 0; /* ns after sendmsg */
	long i, failed_starts = 0;

	srand((unsigned)getpid());
	for (i = 0; i < tries && usnet_now_ns() < end; i++) {
		struct memif_msg m;
		struct stat st;
		const char *why;
		int fd = start_init(path, id, true), mfd, t;
		uint64_t d;

		if (fd < 0) {
			/* The previous try's connection may still be going down:
			 * allow that a few times, but a dead usnetd ends the test. */
			int probe = sock_connect(path);

			if (probe < 0) {
				printf("race: usnetd is gone after %ld tries (connect: %s)\n", i,
				       strerror(errno));
				return 1;
			}
			close(probe);
			if (++failed_starts > 1000) {
				printf("race: usnetd answered no INIT in 1000 tries\n");
				return 1;
			}
			usleep(1000);
			continue;
		}
		mfd = memfd_create("hostile-race", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (mfd < 0 || ftruncate(mfd, RACE_SIZE) < 0) {
			perror("usnetd_hostile: memfd");
			return 2;
		}
		/* Jitter around the delay that lands between usnetd's two checks. */
		d = delay / 2 + (uint64_t)rand() % (delay + 1);
		send_add_region(fd, RACE_SIZE, mfd);
		spin_ns(d);
		if (ftruncate(mfd, 0) < 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
			perror("usnetd_hostile: shrink and seal");
			return 2;
		}
		t = recv_msg(fd, &m, 2000);
		if (t == MEMIF_MSG_ACK) {
			fstat(mfd, &st);
			printf(
			    "race: try %ld: usnetd accepted a region announced as %d bytes whose "
			    "file has %lld (delay %llu ns)\n",
			    i + 1, RACE_SIZE, (long long)st.st_size, (unsigned long long)d);
			why = race_finish(fd);
			close(fd);
			for (int k = 0; k < 40 && (fd = sock_connect(path)) >= 0; k++)
				close(fd),
				    usleep(50000); /* a dying usnetd may still be reporting */
			printf("race: then, after CONNECT: %s; usnetd %s\n", why,
			       fd >= 0 ? "still listens after 2 s" : "is gone");
			return 1;
		}
		why = reason_of(&m, t);
		if (strstr(why, "smaller")) { /* shrunk before usnetd looked: later */
			early++;
			delay += delay / 8 + 100;
		} else if (strstr(why, "sealed")) { /* sealed after it looked: sooner */
			late++;
			delay -= delay / 8;
		} else {
			other++;
			if (other <= 3)
				printf("race: try %ld: %s\n", i + 1, why);
			if (t == 0) {
				printf("race: usnetd hung up without a reason at try %ld\n", i + 1);
				return 1;
			}
		}
		wait_hangup(fd, 2000);
		close(fd);
		close(mfd);
	}
	printf("race: %ld tries (too early %llu, too late %llu, other %llu, last delay %llu ns): "
	       "never accepted\n",
	       i, (unsigned long long)early, (unsigned long long)late, (unsigned long long)other,
	       (unsigned long long)delay);
	return 0;
}

/* ---- hugetlb ---- */

static int cmd_hugetlb(const char *path, uint32_t id)
{
	size_t size = 2 * 1024 * 1024;
	struct memif_msg m;
	int mfd = memfd_create("hostile-huge", MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB);
	int fd, t;

	if (mfd < 0) {
		printf("SKIP: memfd_create(MFD_HUGETLB): %s\n", strerror(errno));
		return 77;
	}
	if (ftruncate(mfd, (off_t)size) < 0 || fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0) {
		printf("SKIP: sizing/sealing a hugetlbfs memfd: %s\n", strerror(errno));
		return 77;
	}
	fd = start_init(path, id, false);
	if (fd < 0)
		return 1;
	send_add_region(fd, size, mfd);
	t = recv_msg(fd, &m, 2000);
	if (t == MEMIF_MSG_ACK) {
		printf("accepted\n");
		return 0;
	}
	printf("refused: %s\n", reason_of(&m, t));
	return t == MEMIF_MSG_DISCONNECT ? 3 : 1;
}

/* ---- fds: descriptors on every path ---- */

struct fd_case {
	const char *name;
	bool after_init; /* sent in CONFIG state, else before INIT */
	uint16_t type;	 /* message type; the rest zero */
	size_t len;	 /* bytes sent */
	int nfd;	 /* copies of an eventfd attached */
};

static const struct fd_case fd_cases[] = {
    {"zero-length datagram + 3 fds before INIT", false, 0, 0, 3},
    {"INIT + 3 fds", false, MEMIF_MSG_INIT, sizeof(struct memif_msg), 3},
    {"INIT + 12 fds (MSG_CTRUNC)", false, MEMIF_MSG_INIT, sizeof(struct memif_msg), 12},
    {"10-byte message + 2 fds before INIT", false, MEMIF_MSG_INIT, 10, 2},
    {"zero-length datagram + 3 fds after INIT", true, 0, 0, 3},
    {"CONNECT + 1 fd", true, MEMIF_MSG_CONNECT, sizeof(struct memif_msg), 1},
    {"DISCONNECT + 2 fds", true, MEMIF_MSG_DISCONNECT, sizeof(struct memif_msg), 2},
    {"10-byte message + 2 fds after INIT", true, MEMIF_MSG_ADD_RING, 10, 2},
    {"ADD_REGION + 2 fds", true, MEMIF_MSG_ADD_REGION, sizeof(struct memif_msg), 2},
    {"ADD_REGION + 12 fds (MSG_CTRUNC)", true, MEMIF_MSG_ADD_REGION, sizeof(struct memif_msg), 12},
};

static int fd_case_run(const char *path, uint32_t id, const struct fd_case *fc, int efd)
{
	struct memif_msg m;
	int fd;

	if (fc->after_init) {
		fd = start_init(path, id, false);
	} else {
		fd = sock_connect(path);
		if (fd >= 0 && recv_msg(fd, &m, 2000) != MEMIF_MSG_HELLO)
			close(fd), fd = -1;
	}
	if (fd < 0)
		return -1;
	memset(&m, 0, sizeof(m));
	m.type = fc->type;
	m.init.version = MEMIF_VERSION; /* INIT: otherwise valid, for interface id */
	m.init.id = id;
	if (fc->type == MEMIF_MSG_ADD_REGION) {
		memset(&m, 0, sizeof(m));
		m.type = fc->type;
		m.add_region.size = 4096;
	}
	if (send_fds(fd, &m, fc->len, efd, fc->nfd)) {
		close(fd);
		return -1;
	}
	/* Every case is malformed: usnetd must hang up. */
	if (!wait_hangup(fd, 3000)) {
		fprintf(stderr, "usnetd_hostile: %s: usnetd did not hang up\n", fc->name);
		close(fd);
		return -1;
	}
	close(fd);
	return fc->nfd;
}

/* The control socket: a zero-length datagram and a request, each with fds. */
static int fd_ctl_run(const char *path, int efd)
{
	uint8_t req[64] = {0};
	int fd = sock_connect(path), sent = 0;

	if (fd < 0)
		return -1;
	if (send_fds(fd, (const void *)req, 0, efd, 3) == 0)
		sent += 3;
	close(fd);
	fd = sock_connect(path);
	if (fd < 0)
		return -1;
	if (send_fds(fd, (const void *)req, sizeof(req), efd, 3) == 0)
		sent += 3;
	wait_hangup(fd, 300);
	close(fd);
	return sent;
}

static int cmd_fds(const char *path, uint32_t id, int rounds, const char *ctlpath)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	long msgs = 0, fds = 0;

	for (int r = 0; r < rounds; r++) {
		for (size_t k = 0; k < sizeof(fd_cases) / sizeof(fd_cases[0]); k++) {
			int n = fd_case_run(path, id, &fd_cases[k], efd);

			if (n < 0) {
				printf("fds: %s failed in round %d\n", fd_cases[k].name, r + 1);
				return 1;
			}
			msgs++;
			fds += n;
		}
		if (ctlpath) {
			int n = fd_ctl_run(ctlpath, efd);

			if (n < 0) {
				printf("fds: control socket failed in round %d\n", r + 1);
				return 1;
			}
			msgs += 2;
			fds += n;
		}
	}
	printf("fds: %ld messages carrying %ld descriptors sent, every connection answered\n", msgs,
	       fds);
	return 0;
}

/* ---- hold: take every slot there is ---- */

static int cmd_hold(const char *path, double secs, int conns)
{
	uint64_t end = usnet_now_ns() + (uint64_t)(secs * 1e9);
	struct pollfd *p = calloc((size_t)conns, sizeof(*p));
	long opened = 0, closed = 0, failed = 0;

	if (!p)
		return 2;
	for (int i = 0; i < conns; i++)
		p[i].fd = -1;
	while (usnet_now_ns() < end) {
		for (int i = 0; i < conns; i++) {
			if (p[i].fd >= 0)
				continue;
			p[i].fd = sock_connect(path);
			p[i].events = POLLIN;
			if (p[i].fd >= 0)
				opened++;
			else
				failed++;
		}
		if (poll(p, (nfds_t)conns, 5) <= 0)
			continue;
		for (int i = 0; i < conns; i++) {
			struct memif_msg m;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			/* HELLO is ignored; a hang-up is refilled at once. */
			if (recv(p[i].fd, &m, sizeof(m), MSG_DONTWAIT) <= 0 ||
			    (p[i].revents & (POLLHUP | POLLERR))) {
				close(p[i].fd);
				p[i].fd = -1;
				closed++;
			}
		}
		if (failed > opened + 1000)
			usleep(1000); /* refused by the backlog: do not spin the CPU away */
	}
	printf("hold: %d slots for %.1f s: %ld connections opened, %ld closed by the server, "
	       "%ld connects failed\n",
	       conns, secs, opened, closed, failed);
	for (int i = 0; i < conns; i++)
		if (p[i].fd >= 0)
			close(p[i].fd);
	free(p);
	return 0;
}

/* ---- chain: a C2S descriptor chain without end ---- */

static int cmd_chain(const char *path, uint32_t id, const char *kind, double secs)
{
	struct usnet_memif_client_conf cc = {.path = path, .id = id, .name = "hostile"};
	bool longer = !strcmp(kind, "long");
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	uint64_t end = usnet_now_ns() + 5 * USNET_NSEC_PER_SEC;
	struct memif_ring *ring;
	uint16_t head, segs, len;

	if (!longer && strcmp(kind, "short")) {
		fprintf(stderr, "usnetd_hostile: chain long|short\n");
		return 2;
	}
	if (usnet_memif_client_create(&cl, &cc)) {
		fprintf(stderr, "usnetd_hostile: %s\n", usnet_last_error());
		return 2;
	}
	c = usnet_memif_client_conn(cl);
	while (usnet_now_ns() < end && !usnet_memif_up(c))
		usnet_memif_client_poll(cl), usleep(200);
	if (!usnet_memif_up(c)) {
		fprintf(stderr, "usnetd_hostile: not up: %s\n", c->reason);
		usnet_memif_client_destroy(cl);
		return 1;
	}
	ring = c->c2s[0].ring;
	head = atomic_load(&ring->head);
	segs = longer ? (uint16_t)(c->c2s[0].size - 1) : 3;
	len = longer ? 1500 : 64;
	for (uint16_t s = 0; s < segs; s++) {
		struct memif_desc *d = &ring->desc[(uint16_t)(head + s) & c->c2s[0].mask];

		d->length = len;
		d->flags = MEMIF_DESC_FLAG_NEXT; /* the last one too: no end */
	}
	atomic_store(&ring->head, (uint16_t)(head + segs));
	if (write(c->c2s[0].efd, &(uint64_t){1}, 8) < 0) /* wake usnetd if it sleeps */
		perror("usnetd_hostile: kick");
	printf("chain: published %u segments of %u bytes, the last with NEXT\n", segs, len);
	fflush(stdout);
	end = usnet_now_ns() + (uint64_t)(secs * 1e9);
	while (usnet_now_ns() < end && c->fd >= 0) {
		usnet_memif_client_poll(cl);
		usleep(1000);
	}
	if (c->fd < 0) {
		printf("disconnected: %s\n", c->reason);
		usnet_memif_client_destroy(cl);
		return longer ? 0 : 1;
	}
	printf("still connected after %.1f s\n", secs);
	usnet_memif_client_destroy(cl);
	return longer ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	usnet_log_set_level(USNET_LOG_WARN);
	if (argc == 6 && !strcmp(argv[1], "race"))
		return cmd_race(argv[2], (uint32_t)strtoul(argv[3], NULL, 0), atol(argv[4]),
				atof(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "hugetlb"))
		return cmd_hugetlb(argv[2], (uint32_t)strtoul(argv[3], NULL, 0));
	if ((argc == 5 || argc == 6) && !strcmp(argv[1], "fds"))
		return cmd_fds(argv[2], (uint32_t)strtoul(argv[3], NULL, 0), atoi(argv[4]),
			       argc == 6 ? argv[5] : NULL);
	if (argc == 5 && !strcmp(argv[1], "hold"))
		return cmd_hold(argv[2], atof(argv[3]), atoi(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "chain"))
		return cmd_chain(argv[2], (uint32_t)strtoul(argv[3], NULL, 0), argv[4],
				 atof(argv[5]));
	fprintf(stderr, "usage: usnetd_hostile race SOCK ID TRIES SECONDS\n"
			"       usnetd_hostile hugetlb SOCK ID\n"
			"       usnetd_hostile fds SOCK ID ROUNDS [CTLSOCK]\n"
			"       usnetd_hostile hold SOCK SECONDS CONNS\n"
			"       usnetd_hostile chain SOCK ID long|short SECONDS\n");
	return 2;
}
