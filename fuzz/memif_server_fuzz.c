/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the memif server as usnetd runs it, driven by a hostile
 * client. The input is a little program of operations:
 *
 *   0 SEND     len, fd kind, bytes  one control message of any length and
 *                                   content, with an fd (none, sealed or
 *                                   unsealed memfd of any size, eventfd, pipe)
 *   1 POLL                          usnet_memif_server_poll() + drain replies
 *   2 HANDSHAKE params              a well-formed INIT..CONNECT with fuzzed
 *                                   id, secret, ring sizes and offsets, region
 *                                   size: gets past the control checks
 *   3 POKE     offset, len, bytes   write anything into the shared region
 *                                   (ring headers, descriptors, buffers)
 *   4 HEAD     ring, value          set a C2S or S2C ring's head
 *   5 RX       queue                usnetd's side: usnet_memif_rx()
 *   6 TX       queue, count, len    usnetd's side: usnet_memif_tx()
 *   7 ARM      queue                usnet_memif_arm()
 *   8 RECONNECT                     close the client socket, open a new one
 *
 * After every input the client goes away and the server must release
 * everything: the test fails (abort) if a file descriptor, a mapping or a
 * packet is left over, besides anything ASan/UBSan find on the way.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined when available
 * (fuzz/CMakeLists.txt); otherwise with USNET_FUZZ_STANDALONE, a main()
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

#define NIF	   2
#define MAX_REGION (1u << 20) /* what the harness maps on its side */
#define MAX_OPS	   64

static struct usnet_memif_server *srv;
static struct usnet_memif_conn *conn[NIF];
static struct usnet_pool *pool;
static char sock_path[64];
static int base_fds;
static unsigned ups, downs;
static bool refuse_next;

/* The client side of one input. */
static struct {
	int fd;
	int mfd;
	uint8_t *mem;
	uint32_t size;
	int efd[4];
	uint16_t c2s_off, s2c_off;
	uint8_t log2;
} cli;

/* Descriptors of the kinds the server could leak: sockets, eventfds/epolls, memfds. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		abort();
	while ((e = readdir(d))) {
		char path[64], link[128];
		ssize_t k;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		k = readlink(path, link, sizeof(link) - 1);
		if (k <= 0)
			continue;
		link[k] = '\0';
		n += !strncmp(link, "socket:", 7) || !strncmp(link, "/memfd:", 7) ||
		     (!strncmp(link, "anon_inode:", 11) && !strstr(link, "[eventpoll]"));
	}
	closedir(d);
	return n;
}

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
	base_fds = count_fds();
}

/* ---- the client's side ---- */

static void cli_connect(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(sock_path);

	memcpy(sa.sun_path, sock_path, n);
	sa.sun_path[0] = '\0';
	cli.fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cli.fd < 0 || connect(cli.fd, (struct sockaddr *)&sa,
				  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		abort();
}

static void cli_reset(void)
{
	if (cli.fd >= 0)
		close(cli.fd);
	if (cli.mfd >= 0)
		close(cli.mfd);
	if (cli.mem)
		munmap(cli.mem, cli.size);
	for (int i = 0; i < 4; i++)
		if (cli.efd[i] >= 0)
			close(cli.efd[i]);
	memset(&cli, 0, sizeof(cli));
	cli.fd = cli.mfd = -1;
	for (int i = 0; i < 4; i++)
		cli.efd[i] = -1;
}

static void drain(void)
{
	char buf[256];

	while (recv(cli.fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void poll_srv(void)
{
	usnet_memif_server_poll(srv);
	drain();
}

static void send_msg(const void *m, size_t len, int fd)
{
	union {
		char b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = {.iov_base = (void *)m, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fds[2] = {fd, fd};

	if (fd >= 0) {
		struct cmsghdr *cm;
		int nfd = 1 + (fd == cli.mfd && len == 7); /* now and then two fds */

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.b;
		mh.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfd * sizeof(int));
	}
	if (sendmsg(cli.fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		drain();
}

/* A region of `size` bytes (sealed or not) mapped on our side too. */
static int make_region(uint32_t size, bool seal)
{
	if (cli.mfd >= 0)
		return cli.mfd;
	if (size < 256)
		size = 256;
	if (size > MAX_REGION)
		size = MAX_REGION;
	cli.mfd = memfd_create("fuzz", MFD_ALLOW_SEALING | MFD_CLOEXEC);
	if (cli.mfd < 0 || ftruncate(cli.mfd, size) < 0)
		abort();
	if (seal && fcntl(cli.mfd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)
		abort();
	cli.mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cli.mfd, 0);
	if (cli.mem == MAP_FAILED)
		abort();
	cli.size = size;
	return cli.mfd;
}

static int make_efd(int i)
{
	if (cli.efd[i & 3] < 0)
		cli.efd[i & 3] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return cli.efd[i & 3];
}

/* ---- the input ---- */

struct in {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct in *in)
{
	uint8_t v = 0;

	if (in->n) {
		v = *in->p++;
		in->n--;
	}
	return v;
}

static uint16_t u16(struct in *in)
{
	return (uint16_t)(u8(in) | u8(in) << 8);
}

static uint32_t u32(struct in *in)
{
	return (uint32_t)u16(in) | (uint32_t)u16(in) << 16;
}

static void op_send(struct in *in)
{
	uint8_t buf[160] = {0};
	size_t len = u8(in) % sizeof(buf);
	uint8_t kind = u8(in);
	int fd = -1, pipefd[2] = {-1, -1};

	if (len == 0)
		len = MEMIF_MSG_SIZE;
	for (size_t i = 0; i < len && in->n; i++)
		buf[i] = u8(in);
	switch (kind % 6) {
	case 1:
		fd = make_region(u32(in) & (MAX_REGION * 2 - 1), true);
		break;
	case 2:
		fd = make_region(u32(in) & (MAX_REGION * 2 - 1), false);
		break;
	case 3:
		fd = make_efd(kind >> 4);
		break;
	case 4:
		if (pipe2(pipefd, O_CLOEXEC) < 0)
			abort();
		fd = pipefd[0];
		break;
	default:
		break;
	}
	send_msg(buf, len, fd);
	if (pipefd[0] >= 0) {
		close(pipefd[0]);
		close(pipefd[1]);
	}
	poll_srv();
}

/* INIT, ADD_REGION, ADD_RINGs, CONNECT by the book, each field fuzzed a little. */
static void op_handshake(struct in *in)
{
	struct memif_msg m;
	uint8_t flags = u8(in), log2 = u8(in) % 16, nr = 1 + u8(in) % 2;
	uint32_t id = flags & 1, ring_bytes, size;
	bool bad_off = flags & 0x10;

	refuse_next = (flags & 0xe0) == 0xe0;
	cli.log2 = log2 > 12 ? 4 : log2; /* big rings would not fit our 1 MiB */
	ring_bytes = memif_ring_bytes(cli.log2);
	size = 4 * ring_bytes + (2u << cli.log2) * 64 + (u16(in) & 0x3ff);
	if (flags & 8)
		size = u32(in) % MAX_REGION; /* maybe too small for its rings */
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_INIT;
	m.init.version = (flags & 2) ? u16(in) : MEMIF_VERSION;
	m.init.id = id;
	if (id == 1 && !(flags & 4))
		memcpy(m.init.secret, "s3cret", 6);
	memcpy(m.init.name, "fuzz-client", 11);
	send_msg(&m, sizeof(m), -1);
	poll_srv();
	make_region(size, !(flags & 0x40));
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_ADD_REGION;
	m.add_region.size = cli.size;
	send_msg(&m, sizeof(m), cli.mfd);
	poll_srv();
	/* Rings at the start of the region, as the usnet client lays them out. */
	cli.c2s_off = 0;
	cli.s2c_off = (uint16_t)(nr * ring_bytes);
	for (int dir = 0; dir < 2; dir++)
		for (int i = 0; i < nr; i++) {
			uint32_t off = (dir ? cli.s2c_off : cli.c2s_off) + (uint32_t)i * ring_bytes;
			struct memif_ring *r;

			if (bad_off)
				off += u8(in);
			if (off % 8 == 0 && (uint64_t)off + ring_bytes <= cli.size) {
				r = (struct memif_ring *)(cli.mem + off);
				r->cookie = MEMIF_COOKIE;
				for (uint32_t s = 0; s < (1u << cli.log2); s++) {
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
	uint32_t off = u32(in), len = u8(in);

	if (!cli.mem)
		return;
	off %= cli.size;
	if (len > cli.size - off)
		len = cli.size - off;
	for (uint32_t i = 0; i < len && in->n; i++)
		cli.mem[off + i] = u8(in);
}

static void op_head(struct in *in)
{
	uint8_t which = u8(in);
	uint16_t v = u16(in);
	uint32_t off = (which & 1 ? cli.s2c_off : cli.c2s_off) +
		       (uint32_t)((which >> 1) & 1) * memif_ring_bytes(cli.log2);
	struct memif_ring *r;

	if (!cli.mem || (uint64_t)off + sizeof(*r) > cli.size)
		return;
	r = (struct memif_ring *)(cli.mem + off);
	if (which & 4) /* relative: plausible values are the interesting ones */
		v = (uint16_t)(atomic_load_explicit(&r->head, memory_order_relaxed) + (v & 0x3f));
	atomic_store_explicit(&r->head, v, memory_order_release);
}

static void op_rx(struct in *in)
{
	uint8_t q = u8(in);
	struct usnet_pkt *pkts[32];
	struct usnet_queue_stats st = {0};

	for (int i = 0; i < NIF; i++)
		usnet_pkt_free_bulk(pkts, usnet_memif_rx(conn[i], q % 3, pool, pkts, 32, &st));
}

static void op_tx(struct in *in)
{
	uint8_t q = u8(in), n = u8(in) % 33;
	uint16_t len = u16(in) % 1600;
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
	uint8_t q = u8(in);

	for (int i = 0; i < NIF; i++)
		(void)usnet_memif_arm(conn[i], q % 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = {data, size};
	struct usnet_pool_stats ps;

	if (!srv)
		setup();
	cli_reset();
	cli_connect();
	poll_srv(); /* accept + HELLO */
	for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
		switch (u8(&in) % 9) {
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
		case 8:
			close(cli.fd);
			usnet_memif_server_poll(srv);
			cli_connect();
			poll_srv();
			break;
		}
	}
	/* The client goes away; the server must give everything back. */
	cli_reset();
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
	if (count_fds() != base_fds)
		abort(); /* an fd leaked */
	return 0;
}

#ifdef USNET_FUZZ_STANDALONE
/*
 * Without libFuzzer: run every file given (seeds), then `-runs=N` inputs
 * from a fixed xorshift sequence, each 16..1024 bytes.
 */
int main(int argc, char **argv)
{
	static uint8_t buf[1 << 16];
	unsigned long runs = 0;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (int i = 1; i < argc; i++) {
		if (!strncmp(argv[i], "-runs=", 6)) {
			runs = strtoul(argv[i] + 6, NULL, 10);
			continue;
		}
		if (argv[i][0] == '-')
			continue;
		DIR *d = opendir(argv[i]);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char p[4096];
			FILE *f;
			size_t n;

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
			f = fopen(p, "rb");
			if (!f)
				continue;
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
			LLVMFuzzerTestOneInput(buf, n);
		}
		if (d)
			closedir(d);
	}
	for (unsigned long r = 0; r < runs; r++) {
		size_t n = 16 + (size_t)(x % 1009);

		for (size_t k = 0; k < n; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[k] = (uint8_t)x;
		}
		LLVMFuzzerTestOneInput(buf, n);
	}
	printf("memif_server_fuzz (standalone): %lu random inputs, no failure\n", runs);
	return 0;
}
#endif
