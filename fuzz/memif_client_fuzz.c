/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the memif client (the memif: port's control side and
 * data path), driven by a hostile server: a usnetd, VPP or DPDK that lies.
 * Each input gets a fresh client; the harness listens where it connects.
 * The input is a program of operations:
 *
 *   0 SEND     len, nfd, bytes, fds  a message of 0 to 300 bytes (memif's are
 *                                    128) with 0 to 6 fds (eventfd, pipe, memfd)
 *   1 HELLO    flags, fields         a HELLO; flags: fuzzed version, ring
 *                                    counts, log2 size
 *   2 SERVE                          answer the client's handshake by the book
 *                                    (ACKs, CONNECTED), mapping its region
 *   3 POKE     offset, len, bytes    write anything into the client's region
 *                                    (ring headers, descriptors, buffers)
 *   4 INDEX    which, value          set S2C tail / C2S tail / flags, absolute
 *                                    or relative
 *   5 RX       n                     the application: usnet_memif_rx()
 *   6 TX       n, len                usnet_memif_tx()
 *   7 ARM                            usnet_memif_arm()
 *   8 POLL                           usnet_memif_client_poll()
 *   9 HANGUP                         the server closes the connection
 *
 * RX also checks that no S2C descriptor the client consumed claimed more
 * than its buffer. After every input the client is destroyed: no fd,
 * mapping or packet may be left over (the harness aborts), besides what
 * ASan/UBSan find.
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

#define MAX_OPS 256
#define MAX_FDS 6

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];
static int lfd = -1;
static struct usnet_pool *pool;

/* The server's side of the current connection. */
static struct {
	int fd;
	uint8_t *mem;
	uint64_t size;
	uint32_t ring_off[2]; /* C2S, S2C ring 0 */
} srv;

static struct usnet_memif_client *cl;

static void setup(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct usnet_pool_conf pc = {.count = 256, .name = "cfuzz"};
	size_t n;

	usnet_log_set_level(USNET_LOG_ERR);
	snprintf(path, sizeof(path), "@usnet-cfuzz-%d", (int)getpid());
	n = strlen(path);
	memcpy(sa.sun_path, path, n);
	sa.sun_path[0] = '\0';
	lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    bind(lfd, (struct sockaddr *)&sa,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) ||
	    listen(lfd, 8) || usnet_pool_create(&pool, &pc))
		abort();
}

static void srv_hangup(void)
{
	if (srv.fd >= 0)
		close(srv.fd);
	if (srv.mem)
		munmap(srv.mem, srv.size);
	memset(&srv, 0, sizeof(srv));
	srv.fd = -1;
}

/* The client connects at its first poll; take that connection. */
static void srv_accept(void)
{
	if (srv.fd >= 0)
		return;
	usnet_memif_client_poll(cl);
	srv.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

static void srv_send(const void *m, size_t len, const int *fds, int nfd)
{
	if (srv.fd >= 0) /* may fail: the client may be gone */
		(void)test_send_fds(srv.fd, m, len, fds, nfd, MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* The client's next message, if any (its fd in *fd, else closed). */
static bool srv_recv(struct memif_msg *m, int *fd)
{
	union {
		char b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
	struct msghdr mh = {.msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = ctl.b,
			    .msg_controllen = sizeof(ctl.b)};
	ssize_t r;

	*fd = -1;
	if (srv.fd < 0)
		return false;
	usnet_memif_client_poll(cl);
	r = recvmsg(srv.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); r >= 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
		size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (size_t i = 0; cm->cmsg_type == SCM_RIGHTS && i < nfd; i++) {
			int f;

			memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (*fd < 0)
				*fd = f;
			else
				close(f);
		}
	}
	return r == (ssize_t)sizeof(*m);
}

static void op_send(struct in *in)
{
	uint8_t buf[300] = {0};
	uint8_t l = in_u8(in), want = in_u8(in) % (MAX_FDS + 1);
	size_t len = l == 0xff ? MEMIF_MSG_SIZE : l == 0xfe ? sizeof(buf) : l % 140;
	int fds[MAX_FDS], nfd = 0, p[2];

	for (size_t i = 0; i < len && in->n; i++)
		buf[i] = in_u8(in);
	for (int i = 0; i < want; i++) {
		switch (in_u8(in) % 3) {
		case 0:
			fds[nfd] = eventfd(0, EFD_CLOEXEC);
			break;
		case 1:
			if (pipe2(p, O_CLOEXEC))
				abort();
			close(p[1]);
			fds[nfd] = p[0];
			break;
		default:
			fds[nfd] = memfd_create("cfuzz", MFD_CLOEXEC);
			break;
		}
		if (fds[nfd] < 0)
			abort();
		nfd++;
	}
	srv_send(buf, len, fds, nfd);
	for (int i = 0; i < nfd; i++)
		close(fds[i]); /* any copy the client keeps is a leak */
	usnet_memif_client_poll(cl);
}

static void op_hello(struct in *in)
{
	struct memif_msg m = {.type = MEMIF_MSG_HELLO};
	uint8_t flags = in_u8(in);

	memcpy(m.hello.name, "cfuzz", 5);
	m.hello.min_version = m.hello.max_version = MEMIF_VERSION;
	m.hello.max_log2_ring_size = MEMIF_MAX_LOG2_RING;
	if (flags & 1) {
		m.hello.min_version = in_u16(in);
		m.hello.max_version = in_u16(in);
	}
	if (flags & 2) {
		m.hello.max_c2s_ring = in_u16(in);
		m.hello.max_s2c_ring = in_u16(in);
		m.hello.max_region = in_u16(in);
	}
	if (flags & 4)
		m.hello.max_log2_ring_size = in_u8(in);
	srv_send(&m, sizeof(m), NULL, 0);
	usnet_memif_client_poll(cl);
}

/* Answer every message the client sends by the book, up to CONNECTED. */
static void op_serve(void)
{
	for (int i = 0; i < 40 && srv.fd >= 0; i++) {
		struct memif_msg m, a = {.type = MEMIF_MSG_ACK};
		int fd;

		if (!srv_recv(&m, &fd))
			continue;
		if (m.type == MEMIF_MSG_ADD_REGION && fd >= 0 && !srv.mem && m.add_region.size &&
		    m.add_region.size <= USNET_MEMIF_MAX_REGION_SIZE) {
			void *p = mmap(NULL, m.add_region.size, PROT_READ | PROT_WRITE, MAP_SHARED,
				       fd, 0);

			if (p != MAP_FAILED) {
				srv.mem = p;
				srv.size = m.add_region.size;
			}
		}
		if (m.type == MEMIF_MSG_ADD_RING && m.add_ring.index == 0)
			srv.ring_off[(m.add_ring.flags & MEMIF_ADD_RING_FLAG_C2S) ? 0 : 1] =
			    m.add_ring.offset;
		if (fd >= 0)
			close(fd);
		if (m.type == MEMIF_MSG_CONNECT) {
			a.type = MEMIF_MSG_CONNECTED;
			srv_send(&a, sizeof(a), NULL, 0);
			usnet_memif_client_poll(cl);
			return;
		}
		if (m.type == MEMIF_MSG_DISCONNECT)
			return;
		srv_send(&a, sizeof(a), NULL, 0);
	}
}

static void op_poke(struct in *in)
{
	uint32_t off = in_u32(in), len = in_u8(in);

	if (!srv.mem)
		return;
	off %= srv.size;
	if (len > srv.size - off)
		len = (uint32_t)(srv.size - off);
	for (uint32_t i = 0; i < len && in->n; i++)
		srv.mem[off + i] = in_u8(in);
}

static void op_index(struct in *in)
{
	uint8_t which = in_u8(in);
	uint16_t v = in_u16(in);
	struct memif_ring *r;
	uint32_t off = srv.ring_off[which & 1];

	if (!srv.mem || (uint64_t)off + sizeof(*r) > srv.size || off % 8)
		return;
	r = (struct memif_ring *)(srv.mem + off);
	if (which & 4) { /* flags: MASK_INT on or off */
		atomic_store_explicit(&r->flags, v & 1, memory_order_relaxed);
		return;
	}
	if (which & 2) /* relative: the plausible values */
		v = (uint16_t)(atomic_load_explicit(&r->tail, memory_order_relaxed) + (v & 0x3f));
	atomic_store_explicit(&r->tail, v, memory_order_release);
}

static void op_rx(struct in *in)
{
	struct usnet_memif_conn *c = usnet_memif_client_conn(cl);
	const struct usnet_memif_ring *r = &c->s2c[0];
	struct usnet_queue_stats st = {0};
	struct usnet_pkt *pkts[64];
	static uint32_t len[1u << MEMIF_MAX_LOG2_RING];
	uint16_t n = in_u8(in) % 65, last = r->last;
	uint32_t gen = r->gen;

	/* What the server wrote, before the client refills the slots it takes. */
	for (uint32_t s = 0; r->ring && s < r->size; s++)
		len[s] = r->ring->desc[s].length;
	usnet_pkt_free_bulk(pkts, usnet_memif_rx(c, 0, pool, pkts, n, &st));
	/* No slot taken may have said more than the buffer the client lent for
	 * it (the copy would read its neighbour's bytes). A burst in a new
	 * connection starts from slot 0. */
	for (uint16_t s = r->gen == gen ? last : 0; r->ring && s != r->last; s++)
		if (len[s & r->mask] > c->buf_size) {
			fprintf(stderr, "memif_client_fuzz: took %u bytes from a %u-byte buffer\n",
				len[s & r->mask], c->buf_size);
			abort();
		}
}

static void op_tx(struct in *in)
{
	struct usnet_queue_stats st = {0};
	struct usnet_pkt *pkts[64];
	uint32_t n = in_u8(in) % 65, got;
	uint16_t len = in_u16(in) % 2000, sent;

	got = usnet_pool_alloc_bulk(pool, pkts, n);
	for (uint32_t k = 0; k < got; k++) {
		uint8_t *d = usnet_pkt_append(pkts[k], len);

		if (d)
			memset(d, (int)k, len);
	}
	sent = usnet_memif_tx(usnet_memif_client_conn(cl), 0, pkts, (uint16_t)got, &st);
	usnet_pkt_free_bulk(pkts + sent, got - sent);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usnet_memif_client_conf cc = {
	    .id = 1, .log2_c2s = 4, .log2_s2c = 4, .buf_size = 256};
	struct in in = {data, size};
	struct usnet_pool_stats ps;
	int base, fds;

	if (lfd < 0)
		setup();
	base = test_count_fds();
	srv.fd = -1;
	cc.path = path;
	cc.buf_size = (uint16_t)(64 << (size & 3)); /* 64..512-byte buffers */
	if (usnet_memif_client_create(&cl, &cc))
		abort();
	srv_accept();
	for (int ops = 0; in.n && ops < MAX_OPS; ops++) {
		switch (in_u8(&in) % 10) {
		case 0:
			op_send(&in);
			break;
		case 1:
			op_hello(&in);
			break;
		case 2:
			op_serve();
			break;
		case 3:
			op_poke(&in);
			break;
		case 4:
			op_index(&in);
			break;
		case 5:
			op_rx(&in);
			break;
		case 6:
			op_tx(&in);
			break;
		case 7:
			(void)usnet_memif_arm(usnet_memif_client_conn(cl), 0);
			break;
		case 8:
			usnet_memif_client_poll(cl);
			break;
		case 9:
			srv_hangup();
			usnet_memif_client_poll(cl);
			break;
		}
	}
	/* The server leaves first: a client that is up would wait (200 ms) for
	 * it to take the frames sent, on every input. */
	srv_hangup();
	usnet_memif_client_poll(cl);
	usnet_memif_client_destroy(cl);
	cl = NULL;
	for (int fd; (fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0;)
		close(fd); /* a reconnect that came in meanwhile */
	usnet_pool_get_stats(pool, &ps);
	if (ps.available != ps.count)
		abort(); /* a packet leaked */
	fds = test_count_fds();
	if (fds != base) {
		fprintf(stderr, "memif_client_fuzz: %d fds open after the input, %d before\n", fds,
			base);
		abort();
	}
	return 0;
}
