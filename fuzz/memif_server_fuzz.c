/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the memif server as usnetd runs it, driven by a hostile
 * client. The input is a little program of operations; the top bit of each
 * operation byte picks which of two client connections acts:
 *
 *   0 SEND     len, nfd, bytes, fds  one control message of 0 to 300 bytes
 *                                    with 0 to 8 fds of any kind (sealed or
 *                                    unsealed memfd of any size, eventfd, pipe)
 *   1 POLL                           usnet_memif_server_poll() + drain replies
 *   2 HANDSHAKE params               a well-formed INIT..CONNECT with fuzzed
 *                                    id, secret, ring sizes and offsets, region
 *                                    size: gets past the control checks
 *   3 POKE     offset, len, bytes    write anything into the shared region
 *                                    (ring headers, descriptors, buffers)
 *   4 HEAD     ring, value           set a C2S or S2C ring's head
 *   5 RX       queue                 usnetd's side: usnet_memif_rx()
 *   6 TX       queue, count, len     usnetd's side: usnet_memif_tx()
 *   7 ARM      queue                 usnet_memif_arm()
 *   8 RECONNECT                      close the client socket, open a new one
 *   9 TEARDOWN how                   usnetd ends a live connection (DISCONNECT,
 *                                    or the interface removed and re-added)
 *  10 DIE                            the client process dies (all its fds)
 *  11 CONNECT                        a dead client comes back
 *
 * After every input the clients go away and the server must release
 * everything: the test fails (abort) if a file descriptor (any kind), a
 * mapping or a packet is left over, besides anything ASan/UBSan find.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when available
 * (fuzz/CMakeLists.txt); otherwise with fuzz/standalone.c, a main()
 * that replays the seeds and a fixed number of pseudo-random inputs, so the
 * harness runs with any compiler.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/pkt.h>

#include "../src/memif/memif.h"
#include "../tests/common/fd_util.h"
#include "fuzz_input.h"

#define NIF	   2
#define MAX_REGION (1u << 20) /* what the harness maps on its side */
#define MAX_OPS	   256
#define MAX_FDS	   8 /* more than the server's control buffer holds (4) */

static struct usnet_memif_server *srv;
static struct usnet_memif_conn *conn[NIF];
static struct usnet_pool *pool;
static char sock_path[64];
static int base_fds;
static unsigned ups, downs;
static bool refuse_next;

/* The client side of one input: NCLI connections at once, `cli` the one
 * the next operation acts on. */
#define NCLI 2
static struct client {
	int fd;
	int mfd;
	uint8_t *mem;
	uint32_t size;
	int efd[4];
	uint16_t c2s_off, s2c_off;
	uint8_t log2;
} clients[NCLI], *cli = &clients[0];

static void on_up(void *ctx, struct usnet_memif_conn *c)
{
	(void)ctx;
	(void)c;
	ups++;
}

static void on_down(void *ctx, struct usnet_memif_conn *c)
{
	(void)ctx;
	(void)c;
	downs++;
}

static const char *on_init(void *ctx, struct usnet_memif_conn *c, pid_t pid, uid_t uid, gid_t gid)
{
	(void)ctx, (void)c, (void)pid, (void)uid, (void)gid;
	return refuse_next ? "Permission denied" : NULL;
}

static void setup(void)
{
	struct usnet_memif_server_conf sc = {
	    .path = sock_path,
	    .name = "fuzz",
	    .max_c2s = 2,
	    .max_s2c = 2,
	    .on_up = on_up,
	    .on_down = on_down,
	    .on_init = on_init,
	};
	struct usnet_pool_conf pc = {.count = 512, .name = "fuzz"};

	usnet_log_set_level(USNET_LOG_ERR);
	snprintf(sock_path, sizeof(sock_path), "@usnet-fuzz-%d", (int)getpid());
	if (usnet_pool_create(&pool, &pc) || usnet_memif_server_create(&srv, &sc) ||
	    usnet_memif_server_add(srv, &conn[0], 0, NULL, 2, 2, NULL) ||
	    usnet_memif_server_add(srv, &conn[1], 1, "s3cret", 1, 2, NULL)) {
		fprintf(stderr, "fuzz setup: %s\n", usnet_last_error());
		abort();
	}
}

/* ---- the client's side ---- */

static void cli_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(sock_path);

	memcpy(sa.sun_path, sock_path, n);
	sa.sun_path[0] = '\0';
	cli->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cli->fd < 0)
		abort();
	/* A full backlog (EAGAIN) is the server's right: this client stays away. */
	if (connect(cli->fd, (struct sockaddr *)&sa,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
		close(cli->fd);
		cli->fd = -1;
	}
}

static void cli_reset(void)
{
	if (cli->fd >= 0)
		close(cli->fd);
	if (cli->mfd >= 0)
		close(cli->mfd);
	if (cli->mem)
		munmap(cli->mem, cli->size);
	for (int i = 0; i < 4; i++)
		if (cli->efd[i] >= 0)
			close(cli->efd[i]);
	memset(cli, 0, sizeof(*cli));
	cli->fd = cli->mfd = -1;
	for (int i = 0; i < 4; i++)
		cli->efd[i] = -1;
}

static void reset_all(void)
{
	for (int i = 0; i < NCLI; i++) {
		cli = &clients[i];
		cli_reset();
	}
	cli = &clients[0];
}

/* Read (and drop) every reply on every client socket. */
static void drain(void)
{
	char buf[256];

	for (int i = 0; i < NCLI; i++)
		while (clients[i].fd >= 0 &&
		       recv(clients[i].fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
}

static void poll_srv(void)
{
	usnet_memif_server_poll(srv);
	drain();
}

static void send_fds(const void *m, size_t len, const int *fds, int nfd)
{
	if (cli->fd < 0 ||
	    test_send_fds(cli->fd, m, len, fds, nfd, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		drain();
}

static void send_msg(const void *m, size_t len, int fd)
{
	send_fds(m, len, &fd, fd >= 0);
}

/* A region of `size` bytes (sealed or not) mapped on our side too. */
static int make_region(uint32_t size, bool seal)
{
	if (cli->mfd >= 0)
		return cli->mfd;
	if (size < 256)
		size = 256;
	if (size > MAX_REGION)
		size = MAX_REGION;
	cli->mfd = memfd_create("fuzz", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (cli->mfd < 0 || ftruncate(cli->mfd, size) < 0)
		abort();
	if (seal && fcntl(cli->mfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		abort();
	cli->mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cli->mfd, 0);
	if (cli->mem == MAP_FAILED)
		abort();
	cli->size = size;
	return cli->mfd;
}

static int make_efd(int i)
{
	if (cli->efd[i & 3] < 0)
		cli->efd[i & 3] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return cli->efd[i & 3];
}

/* ---- the input ---- */

/* One more fd of kind k for op_send; the harness's own copy of a fresh one
 * is closed after sending, so any copy the server keeps is counted. */
static int fd_of_kind(struct in *in, uint8_t k, int *fresh, int *nfresh)
{
	int p[2], fd = -1;

	switch (k % 7) {
	case 1:
		return make_region(in_u32(in) & (MAX_REGION * 2 - 1), true);
	case 2:
		return make_region(in_u32(in) & (MAX_REGION * 2 - 1), false);
	case 3:
		return make_efd(k >> 4);
	case 4:
		if (pipe2(p, O_CLOEXEC) < 0)
			abort();
		close(p[1]);
		fd = p[0];
		break;
	case 5:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	case 6:
		fd = memfd_create("fuzz-extra", MFD_CLOEXEC | MFD_ALLOW_SEALING);
		if (fd >= 0 &&
		    (ftruncate(fd, 4096) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0))
			abort();
		break;
	default:
		return -1;
	}
	if (fd < 0)
		abort();
	fresh[(*nfresh)++] = fd;
	return fd;
}

/* Any message: 0 to 300 bytes (memif's are 128), 0 to MAX_FDS fds. */
static void op_send(struct in *in)
{
	uint8_t buf[300] = {0};
	uint8_t l = in_u8(in), kinds = in_u8(in);
	size_t len = l == 0xff ? MEMIF_MSG_SIZE : l == 0xfe ? sizeof(buf) : l % 140;
	int fds[MAX_FDS], nfd = 0, fresh[MAX_FDS], nfresh = 0, want = kinds % (MAX_FDS + 1);

	for (size_t i = 0; i < len && in->n; i++)
		buf[i] = in_u8(in);
	for (int i = 0; i < want; i++) {
		int fd = fd_of_kind(in, in_u8(in), fresh, &nfresh);

		if (fd >= 0)
			fds[nfd++] = fd;
	}
	send_fds(buf, len, fds, nfd);
	for (int i = 0; i < nfresh; i++)
		close(fresh[i]);
	poll_srv();
}

/* INIT, ADD_REGION, ADD_RINGs, CONNECT by the book, each field fuzzed a little. */
static void op_handshake(struct in *in)
{
	struct memif_msg m;
	uint8_t flags = in_u8(in), log2 = in_u8(in) % 16, nr = 1 + in_u8(in) % 2;
	uint32_t id = flags & 1, ring_bytes, size;
	bool bad_off = flags & 0x10;

	refuse_next = (flags & 0xe0) == 0xe0;
	cli->log2 = log2 > 12 ? 4 : log2; /* big rings would not fit our 1 MiB */
	ring_bytes = memif_ring_bytes(cli->log2);
	size = 4 * ring_bytes + (2u << cli->log2) * 64 + (in_u16(in) & 0x3ff);
	if (flags & 8)
		size = in_u32(in) % MAX_REGION; /* maybe too small for its rings */
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_INIT;
	m.init.version = (flags & 2) ? in_u16(in) : MEMIF_VERSION;
	m.init.id = id;
	if (id == 1 && !(flags & 4))
		memcpy(m.init.secret, "s3cret", 6);
	memcpy(m.init.name, "fuzz-client", 11);
	send_msg(&m, sizeof(m), -1);
	poll_srv();
	make_region(size, !(flags & 0x40));
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_ADD_REGION;
	m.add_region.size = cli->size;
	send_msg(&m, sizeof(m), cli->mfd);
	poll_srv();
	/* Rings at the start of the region, as the usnet client lays them out. */
	cli->c2s_off = 0;
	cli->s2c_off = (uint16_t)(nr * ring_bytes);
	for (int dir = 0; dir < 2; dir++)
		for (int i = 0; i < nr; i++) {
			uint32_t off =
			    (dir ? cli->s2c_off : cli->c2s_off) + (uint32_t)i * ring_bytes;
			struct memif_ring *r;

			if (bad_off)
				off += in_u8(in);
			if (off % 8 == 0 && (uint64_t)off + ring_bytes <= cli->size) {
				r = (struct memif_ring *)(cli->mem + off);
				r->cookie = MEMIF_COOKIE;
				for (uint32_t s = 0; s < (1u << cli->log2); s++) {
					r->desc[s].offset = 4 * ring_bytes + (uint32_t)s * 64;
					r->desc[s].length = 64;
				}
			}
			memset(&m, 0, sizeof(m));
			m.type = MEMIF_MSG_ADD_RING;
			m.add_ring.flags = dir ? 0 : MEMIF_ADD_RING_FLAG_C2S;
			m.add_ring.index = (uint16_t)i;
			m.add_ring.offset = off;
			m.add_ring.log2_ring_size = log2;
			send_msg(&m, sizeof(m), make_efd(dir * 2 + i));
			poll_srv();
		}
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_CONNECT;
	send_msg(&m, sizeof(m), -1);
	poll_srv();
	refuse_next = false;
}

static void op_poke(struct in *in)
{
	uint32_t off = in_u32(in), len = in_u8(in);

	if (!cli->mem)
		return;
	off %= cli->size;
	if (len > cli->size - off)
		len = cli->size - off;
	for (uint32_t i = 0; i < len && in->n; i++)
		cli->mem[off + i] = in_u8(in);
}

static void op_head(struct in *in)
{
	uint8_t which = in_u8(in);
	uint16_t v = in_u16(in);
	uint32_t off = (which & 1 ? cli->s2c_off : cli->c2s_off) +
		       (uint32_t)((which >> 1) & 1) * memif_ring_bytes(cli->log2);
	struct memif_ring *r;

	if (!cli->mem || (uint64_t)off + sizeof(*r) > cli->size)
		return;
	r = (struct memif_ring *)(cli->mem + off);
	if (which & 4) /* relative: plausible values are the interesting ones */
		v = (uint16_t)(atomic_load_explicit(&r->head, memory_order_relaxed) + (v & 0x3f));
	atomic_store_explicit(&r->head, v, memory_order_release);
}

static void op_rx(struct in *in)
{
	uint8_t q = in_u8(in);
	struct usnet_pkt *pkts[32];
	struct usnet_queue_stats st = {0};

	for (int i = 0; i < NIF; i++)
		usnet_pkt_free_bulk(pkts, usnet_memif_rx(conn[i], q % 3, pool, pkts, 32, &st));
}

static void op_tx(struct in *in)
{
	uint8_t q = in_u8(in), n = in_u8(in) % 33;
	uint16_t len = in_u16(in) % 1600;
	struct usnet_queue_stats st = {0};
	struct usnet_pkt *pkts[32];

	if (len < 14)
		len = 14;
	for (int i = 0; i < NIF; i++) {
		uint32_t got = usnet_pool_alloc_bulk(pool, pkts, n);
		uint16_t sent;

		for (uint32_t k = 0; k < got; k++) {
			uint8_t *d = usnet_pkt_append(pkts[k], len);

			if (d)
				memset(d, (int)k, len);
		}
		sent = usnet_memif_tx(conn[i], q % 3, pkts, (uint16_t)got, &st);
		usnet_pkt_free_bulk(pkts + sent, got - sent); /* what tx did not take is ours */
	}
}

static void op_arm(struct in *in)
{
	uint8_t q = in_u8(in);

	for (int i = 0; i < NIF; i++)
		(void)usnet_memif_arm(conn[i], q % 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* usnetd's side ends a live connection: DISCONNECT with a reason, or the
 * interface removed and served again (a reconfiguration). */
static void op_teardown(struct in *in)
{
	uint8_t how = in_u8(in);
	int i = how & 1;

	if (how & 2) {
		usnet_memif_server_remove(srv, (uint32_t)i);
		if (usnet_memif_server_add(srv, &conn[i], (uint32_t)i, i ? "s3cret" : NULL,
					   (uint16_t)(2 - i), 2, NULL))
			abort();
	} else {
		usnet_memif_server_disconnect(srv, conn[i], "fuzz: torn down");
	}
	poll_srv();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct usnet_pool_stats ps;
	int fds;

	if (!srv)
		setup();
	reset_all();
	/* Counted per input: libFuzzer itself may hold a file open at the first. */
	base_fds = test_count_fds();
	for (int i = 0; i < NCLI; i++) {
		cli = &clients[i];
		cli_connect();
	}
	cli = &clients[0];
	poll_srv(); /* accept + HELLO */
	for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
		uint8_t op = in_u8(&in);

		cli = &clients[(op >> 7) % NCLI]; /* which connection acts */
		switch ((op & 0x7f) % 12) {
		case 0:
			op_send(&in);
			break;
		case 1:
			poll_srv();
			break;
		case 2:
			op_handshake(&in);
			break;
		case 3:
			op_poke(&in);
			break;
		case 4:
			op_head(&in);
			break;
		case 5:
			op_rx(&in);
			break;
		case 6:
			op_tx(&in);
			break;
		case 7:
			op_arm(&in);
			break;
		case 8: /* the client hangs up, keeps its memory, comes back */
			if (cli->fd >= 0)
				close(cli->fd);
			usnet_memif_server_poll(srv);
			cli_connect();
			poll_srv();
			break;
		case 9:
			op_teardown(&in);
			break;
		case 10: /* the client dies: socket, memory and eventfds gone at once */
			cli_reset();
			poll_srv();
			break;
		case 11:
			if (cli->fd < 0)
				cli_connect();
			poll_srv();
			break;
		}
	}
	/* The clients go away; the server must give everything back. */
	reset_all();
	for (int i = 0; i < 3; i++)
		usnet_memif_server_poll(srv);
	for (int i = 0; i < NIF; i++)
		if (conn[i]->fd >= 0 || conn[i]->nregions || conn[i]->release_pending)
			abort(); /* a connection outlived its client */
	if (ups != downs)
		abort();
	usnet_pool_get_stats(pool, &ps);
	if (ps.available != ps.count)
		abort(); /* a packet leaked */
	fds = test_count_fds();
	if (fds != base_fds) {
		fprintf(stderr, "memif_server_fuzz: %d fds open after the input, %d before\n", fds,
			base_fds);
		abort(); /* an fd leaked */
	}
	return 0;
}
