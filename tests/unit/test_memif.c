/* SPDX-License-Identifier: MIT */
/*
 * memif: the wire layout, the validation of everything a peer sends (a raw
 * client speaking to the real server code, malformed on purpose; a
 * hostile server, written by hand, lying to the real client code), and a
 * client and a server memif: port in one process exchanging 10^5 frames
 * each way, losing the link when the server closes and getting it back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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
#include <usnet/port.h>
#include <usnet/time.h>

#include "../../src/memif/internal.h" /* the pure checks, besides memif.h */
#include "../common/fd_util.h"
#include "check.h"

static char tmpdir[64], path[100];

/* ---- pure validation ---- */

static void test_layout_and_checks(void)
{
	struct memif_msg_hello h = {.min_version = MEMIF_VERSION, .max_version = MEMIF_VERSION};
	struct usnet_memif_conn c;
	struct memif_msg_add_region ar = {.index = 0, .size = 4096};
	struct memif_msg_add_ring rr = {
	    .flags = MEMIF_ADD_RING_FLAG_C2S, .index = 0, .log2_ring_size = 10};
	uint8_t secret[MEMIF_SECRET_SZ] = "abc";
	uint8_t region[4096];

	CHECK_EQ(sizeof(struct memif_msg), 128);
	CHECK_EQ(sizeof(struct memif_desc), 16);
	CHECK_EQ(memif_ring_bytes(10), 128 + 16 * 1024);
	CHECK_EQ(MEMIF_VERSION, 0x200);

	CHECK(usnet_memif_check_hello(&h) == NULL);
	h.min_version = 0x300;
	h.max_version = 0x300;
	CHECK(!strcmp(usnet_memif_check_hello(&h), "Incompatible memif version"));

	memset(&c, 0, sizeof(c));
	c.max_c2s = 2;
	c.max_s2c = 1;
	CHECK(usnet_memif_check_add_region(&c, &ar, 3) == NULL);
	CHECK(!strcmp(usnet_memif_check_add_region(&c, &ar, -1), "Missing region fd"));
	ar.index = 1; /* regions come in order */
	CHECK(!strcmp(usnet_memif_check_add_region(&c, &ar, 3), "Invalid region index"));
	ar.index = 0;
	ar.size = 0;
	CHECK(!strcmp(usnet_memif_check_add_region(&c, &ar, 3), "Invalid region size"));
	ar.size = 1ull << 33;
	CHECK(!strcmp(usnet_memif_check_add_region(&c, &ar, 3), "Invalid region size"));

	CHECK(usnet_memif_check_add_ring(&c, &rr, 3) == NULL);
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, -1), "Missing interrupt fd"));
	rr.index = 2;
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, 3), "Invalid ring index"));
	rr.index = 1;
	rr.flags = 0; /* S2C: only one allowed */
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, 3), "Invalid ring index"));
	rr.index = 0;
	rr.log2_ring_size = 15;
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, 3), "Invalid ring size"));
	rr.log2_ring_size = 4;
	rr.private_hdr_size = 8;
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, 3), "Private header not supported"));
	rr.private_hdr_size = 0;
	rr.flags = 0x8000;
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, 3), "Unknown ring flags"));
	rr.flags = 0;
	c.s2c[0].added = true;
	CHECK(!strcmp(usnet_memif_check_add_ring(&c, &rr, 3), "Ring added twice"));

	CHECK(usnet_memif_check_ring_place(4096, 0, 4) == NULL);
	CHECK(usnet_memif_check_ring_place(4096, 4096 - 128 - 256, 4) == NULL);
	CHECK(!strcmp(usnet_memif_check_ring_place(4096, 4096 - 128 - 248, 4),
		      "Ring outside its region"));
	CHECK(!strcmp(usnet_memif_check_ring_place(4096, 4, 4), "Misaligned ring"));
	CHECK(!strcmp(usnet_memif_check_ring_place(1ull << 32, 0xfffffff8u, 14),
		      "Ring outside its region")); /* 32-bit offset + size must not wrap */

	c.nregions = 1;
	c.region[0].addr = region;
	c.region[0].size = sizeof(region);
	CHECK(usnet_memif_check_buffer(&c, 0, 0, 4096) == NULL);
	CHECK(usnet_memif_check_buffer(&c, 0, 4000, 96) == NULL);
	CHECK(!strcmp(usnet_memif_check_buffer(&c, 0, 4000, 97), "Descriptor outside its region"));
	CHECK(!strcmp(usnet_memif_check_buffer(&c, 0, 0xffffff00u, 0x200),
		      "Descriptor outside its region"));
	CHECK(!strcmp(usnet_memif_check_buffer(&c, 1, 0, 1), "Descriptor region invalid"));

	CHECK(usnet_memif_check_secret("", secret) == NULL);
	CHECK(usnet_memif_check_secret("abc", secret) == NULL);
	CHECK(!strcmp(usnet_memif_check_secret("abd", secret), "Incorrect secret"));
	CHECK(!strcmp(usnet_memif_check_secret("ab", secret), "Incorrect secret"));
	memset(secret, 0, sizeof(secret));
	CHECK(!strcmp(usnet_memif_check_secret("abc", secret), "Secret required"));
}

/* ---- a raw client against the real server ---- */

#define RAW_LOG2  4
#define RAW_SLOTS (1u << RAW_LOG2)
#define RAW_BUF	  256u
#define RAW_RING  (128u + 16u * RAW_SLOTS)
#define RAW_SIZE  (2 * RAW_RING + 2 * RAW_SLOTS * RAW_BUF)

struct raw {
	int fd, mfd, efd[2];
	uint8_t *mem;
};

static struct memif_ring *raw_ring(struct raw *r, int s2c)
{
	return (struct memif_ring *)(r->mem + s2c * RAW_RING);
}

static uint32_t raw_buf(int s2c, unsigned slot)
{
	return 2 * RAW_RING + (unsigned)s2c * RAW_SLOTS * RAW_BUF + slot * RAW_BUF;
}

static void raw_send(struct raw *r, struct memif_msg *m, size_t len, int fd)
{
	CHECK(test_send_fds(r->fd, m, len, &fd, fd >= 0, MSG_NOSIGNAL) == (ssize_t)len);
}

/* The server's next message, serving it meanwhile; type 0 if none within 2 s. */
static struct memif_msg raw_recv(struct raw *r, struct usnet_memif_server *srv)
{
	struct memif_msg m = {0};
	uint64_t end = usnet_now_ns() + 2 * USNET_NSEC_PER_SEC;

	while (usnet_now_ns() < end) {
		usnet_memif_server_poll(srv);
		if (recv(r->fd, &m, sizeof(m), MSG_DONTWAIT) == (ssize_t)sizeof(m))
			return m;
		usleep(100);
	}
	m.type = 0;
	return m;
}

static bool got_disconnect(struct raw *r, struct usnet_memif_server *srv, const char *why)
{
	struct memif_msg m = raw_recv(r, srv);

	if (m.type != MEMIF_MSG_DISCONNECT) {
		fprintf(stderr, "expected DISCONNECT '%s', got type %u\n", why, m.type);
		return false;
	}
	if (strcmp((char *)m.disconnect.string, why)) {
		fprintf(stderr, "expected DISCONNECT '%s', got '%s'\n", why, m.disconnect.string);
		return false;
	}
	return true;
}

/* A raw peer connected to the server's socket, nothing read yet. */
static void raw_socket(struct raw *r)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	memset(r, 0, sizeof(*r));
	r->mfd = r->efd[0] = r->efd[1] = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	r->fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	CHECK(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
}

static void raw_open(struct raw *r, struct usnet_memif_server *srv)
{
	struct memif_msg m;

	raw_socket(r);
	m = raw_recv(r, srv);
	CHECK_EQ(m.type, MEMIF_MSG_HELLO);
	CHECK_EQ(m.hello.min_version, MEMIF_VERSION);
	CHECK_EQ(m.hello.max_c2s_ring, 1); /* the server below allows 2 */
	CHECK_EQ(m.hello.max_log2_ring_size, MEMIF_MAX_LOG2_RING);
}

static void raw_close(struct raw *r)
{
	close(r->fd);
	if (r->mfd >= 0)
		close(r->mfd);
	for (int i = 0; i < 2; i++)
		if (r->efd[i] >= 0)
			close(r->efd[i]);
	if (r->mem)
		munmap(r->mem, RAW_SIZE);
}

static void raw_init(struct raw *r, struct usnet_memif_server *srv, uint32_t id, const char *secret)
{
	struct memif_msg m = {.type = MEMIF_MSG_INIT};

	m.init.version = MEMIF_VERSION;
	m.init.id = id;
	if (secret)
		memcpy(m.init.secret, secret, strlen(secret));
	memcpy(m.init.name, "raw-test", 8);
	raw_send(r, &m, sizeof(m), -1);
	(void)srv;
}

/* A sealed memfd with one C2S and one S2C ring, as a client lays it out. */
static void raw_region(struct raw *r, bool seal)
{
	r->mfd = memfd_create("raw", MFD_ALLOW_SEALING);
	CHECK(ftruncate(r->mfd, RAW_SIZE) == 0);
	if (seal)
		CHECK(fcntl(r->mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
	r->mem = mmap(NULL, RAW_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, r->mfd, 0);
	for (int s2c = 0; s2c < 2; s2c++) {
		struct memif_ring *ring = raw_ring(r, s2c);

		ring->cookie = MEMIF_COOKIE;
		for (unsigned i = 0; i < RAW_SLOTS; i++) {
			ring->desc[i].offset = raw_buf(s2c, i);
			ring->desc[i].length = RAW_BUF;
		}
		r->efd[s2c] = eventfd(0, EFD_NONBLOCK);
	}
}

static void raw_add_region(struct raw *r)
{
	struct memif_msg m = {.type = MEMIF_MSG_ADD_REGION};

	m.add_region.index = 0;
	m.add_region.size = RAW_SIZE;
	raw_send(r, &m, sizeof(m), r->mfd);
}

static void raw_add_ring(struct raw *r, int s2c, uint32_t offset, uint8_t log2, int fd)
{
	struct memif_msg m = {.type = MEMIF_MSG_ADD_RING};

	m.add_ring.flags = s2c ? 0 : MEMIF_ADD_RING_FLAG_C2S;
	m.add_ring.index = 0;
	m.add_ring.offset = offset;
	m.add_ring.log2_ring_size = log2;
	raw_send(r, &m, sizeof(m), fd);
}

/* INIT..CONNECT by the book; CHECKs every ACK. true when CONNECTED. */
static bool raw_connect(struct raw *r, struct usnet_memif_server *srv)
{
	struct memif_msg m = {.type = MEMIF_MSG_CONNECT};

	raw_open(r, srv);
	raw_init(r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(r, srv).type, MEMIF_MSG_ACK);
	raw_region(r, true);
	raw_add_region(r);
	CHECK_EQ(raw_recv(r, srv).type, MEMIF_MSG_ACK);
	raw_add_ring(r, 0, 0, RAW_LOG2, r->efd[0]);
	CHECK_EQ(raw_recv(r, srv).type, MEMIF_MSG_ACK);
	raw_add_ring(r, 1, RAW_RING, RAW_LOG2, r->efd[1]);
	CHECK_EQ(raw_recv(r, srv).type, MEMIF_MSG_ACK);
	raw_send(r, &m, sizeof(m), -1);
	return raw_recv(r, srv).type == MEMIF_MSG_CONNECTED;
}

/* Put a frame of len bytes (filled with byte b) in C2S slot `slot`. */
static void raw_put(struct raw *r, unsigned slot, uint32_t len, uint8_t b, uint16_t flags)
{
	struct memif_desc *d = &raw_ring(r, 0)->desc[slot % RAW_SLOTS];

	memset(r->mem + raw_buf(0, slot % RAW_SLOTS), b, len);
	d->offset = raw_buf(0, slot % RAW_SLOTS);
	d->length = len;
	d->flags = flags;
}

static void test_server_validation(void)
{
	struct usnet_memif_server_conf sc = {.path = path, .max_c2s = 2, .max_s2c = 2};
	struct usnet_memif_server *srv;
	struct usnet_memif_server_stats st;
	struct usnet_memif_conn *c;
	struct usnet_queue_stats qs = {0};
	struct usnet_pool *pool;
	struct usnet_pool_conf pc = {.count = 64};
	struct usnet_pkt *pkts[8];
	struct memif_msg m;
	struct raw r;
	int pfd[2];

	CHECK(usnet_memif_server_create(&srv, &sc) == 0);
	CHECK(usnet_memif_server_add(srv, &c, 7, "s3cret", 1, 1, NULL) == 0);
	CHECK(usnet_memif_server_add(srv, NULL, 7, NULL, 1, 1, NULL) == -EEXIST);
	CHECK(usnet_memif_server_add(srv, NULL, 8, NULL, 3, 1, NULL) == -EINVAL);
	CHECK(usnet_pool_create(&pool, &pc) == 0);

	/* Before INIT: size, type, id, secret, version. */
	raw_open(&r, srv);
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_INIT;
	raw_send(&r, &m, 64, -1);
	CHECK(got_disconnect(&r, srv, "Invalid message size"));
	raw_close(&r);

	raw_open(&r, srv);
	raw_region(&r, true);
	raw_add_region(&r);
	CHECK(got_disconnect(&r, srv, "Unexpected message"));
	raw_close(&r);

	raw_open(&r, srv);
	raw_init(&r, srv, 99, "s3cret");
	CHECK(got_disconnect(&r, srv, "ID not found"));
	raw_close(&r);

	raw_open(&r, srv);
	raw_init(&r, srv, 7, "wrong");
	CHECK(got_disconnect(&r, srv, "Incorrect secret"));
	raw_close(&r);

	raw_open(&r, srv);
	raw_init(&r, srv, 7, NULL);
	CHECK(got_disconnect(&r, srv, "Secret required"));
	raw_close(&r);

	raw_open(&r, srv);
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_INIT;
	m.init.version = 0x100;
	m.init.id = 7;
	raw_send(&r, &m, sizeof(m), -1);
	CHECK(got_disconnect(&r, srv, "Incompatible memif version"));
	raw_close(&r);

	/* After INIT: regions and rings. Each a violation, counted. */
	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_ADD_REGION;
	m.add_region.size = RAW_SIZE;
	raw_send(&r, &m, sizeof(m), -1);
	CHECK(got_disconnect(&r, srv, "Missing region fd"));
	raw_close(&r);
	CHECK_EQ(c->violations, 1);
	CHECK(!strcmp(c->reason, "Missing region fd"));

	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	raw_region(&r, false); /* could be shrunk under the server's mapping */
	raw_add_region(&r);
	CHECK(got_disconnect(&r, srv, "Region fd not sealed against shrinking"));
	raw_close(&r);

	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	raw_region(&r, true);
	raw_add_region(&r);
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	raw_add_ring(&r, 0, 0, 15, r.efd[0]);
	CHECK(got_disconnect(&r, srv, "Invalid ring size"));
	raw_close(&r);

	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	raw_region(&r, true);
	raw_add_region(&r);
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	CHECK(pipe(pfd) == 0);
	raw_add_ring(&r, 0, 0, RAW_LOG2, pfd[0]);
	CHECK(got_disconnect(&r, srv, "Interrupt fd is not an eventfd"));
	close(pfd[0]);
	close(pfd[1]);
	raw_close(&r);

	/* CONNECT with a ring that does not fit, then one with a bad cookie. */
	for (int k = 0; k < 2; k++) {
		raw_open(&r, srv);
		raw_init(&r, srv, 7, "s3cret");
		CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
		raw_region(&r, true);
		raw_add_region(&r);
		CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
		raw_add_ring(&r, 0, k ? 0 : RAW_SIZE - 64, RAW_LOG2, r.efd[0]);
		CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
		raw_add_ring(&r, 1, RAW_RING, RAW_LOG2, r.efd[1]);
		CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
		raw_ring(&r, 0)->cookie = k ? 0xdead : MEMIF_COOKIE;
		memset(&m, 0, sizeof(m));
		m.type = MEMIF_MSG_CONNECT;
		raw_send(&r, &m, sizeof(m), -1);
		CHECK(got_disconnect(&r, srv, k ? "Wrong ring cookie" : "Ring outside its region"));
		raw_close(&r);
	}

	/* A good connection: frames, a chained frame, a frame too long. */
	CHECK(raw_connect(&r, srv));
	CHECK(usnet_memif_up(c));
	CHECK_EQ(atomic_load(&raw_ring(&r, 0)->flags), MEMIF_RING_FLAG_MASK_INT);
	raw_put(&r, 0, 60, 0xa1, 0);
	raw_put(&r, 1, 200, 0xb2, MEMIF_DESC_FLAG_NEXT);
	raw_put(&r, 2, 100, 0xb3, 0);
	atomic_store(&raw_ring(&r, 0)->head, 3);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 2);
	CHECK_EQ(pkts[0]->len, 60);
	CHECK_EQ(usnet_pkt_data(pkts[0])[59], 0xa1);
	CHECK_EQ(pkts[1]->len, 300);
	CHECK_EQ(usnet_pkt_data(pkts[1])[199], 0xb2);
	CHECK_EQ(usnet_pkt_data(pkts[1])[200], 0xb3);
	CHECK_EQ(atomic_load(&raw_ring(&r, 0)->tail), 3);
	usnet_pkt_free_bulk(pkts, 2);
	/* A chain whose last part is not written yet stays in the ring. */
	raw_put(&r, 3, 10, 1, MEMIF_DESC_FLAG_NEXT);
	atomic_store(&raw_ring(&r, 0)->head, 4);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 0);
	CHECK_EQ(atomic_load(&raw_ring(&r, 0)->tail), 3);
	/* ... and is no work: arming says nothing waits (else the owner never sleeps). */
	CHECK(!usnet_memif_arm(c, 0));
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 0);
	raw_put(&r, 4, 10, 2, 0);
	atomic_store(&raw_ring(&r, 0)->head, 5);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 1);
	CHECK_EQ(pkts[0]->len, 20);
	usnet_pkt_free(pkts[0]);

	/* Server TX into the buffers the raw client offers on S2C. */
	{
		struct usnet_pkt *p = usnet_pkt_alloc(pool);

		memset(usnet_pkt_append(p, 300), 0x5a, 300);
		CHECK_EQ(usnet_memif_tx(c, 0, &p, 1, &qs), 0); /* nothing offered yet */
		atomic_store(&raw_ring(&r, 1)->head, RAW_SLOTS);
		CHECK_EQ(usnet_memif_tx(c, 0, &p, 1, &qs),
			 1); /* 300 bytes in two 256-byte buffers */
		CHECK_EQ(atomic_load(&raw_ring(&r, 1)->tail), 2);
		CHECK_EQ(raw_ring(&r, 1)->desc[0].length, 256);
		CHECK_EQ(raw_ring(&r, 1)->desc[0].flags, MEMIF_DESC_FLAG_NEXT);
		CHECK_EQ(raw_ring(&r, 1)->desc[1].length, 44);
		CHECK_EQ(raw_ring(&r, 1)->desc[1].flags, 0);
		CHECK_EQ(r.mem[raw_buf(1, 1) + 43], 0x5a);
	}

	/* Violations found on the data path: the client is cut off with the reason. */
	raw_put(&r, 5, 10, 0, 0);
	raw_ring(&r, 0)->desc[5].offset = RAW_SIZE - 4;
	atomic_store(&raw_ring(&r, 0)->head, 6);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 0);
	CHECK(!usnet_memif_up(c));
	CHECK(got_disconnect(&r, srv, "Descriptor outside its region"));
	raw_close(&r);

	CHECK(raw_connect(&r, srv));
	atomic_store(&raw_ring(&r, 0)->head, RAW_SLOTS + 1);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 0);
	CHECK(got_disconnect(&r, srv, "C2S head out of range"));
	raw_close(&r);

	CHECK(raw_connect(&r, srv));
	raw_ring(&r, 1)->desc[0].length = 0;
	atomic_store(&raw_ring(&r, 1)->head, 1);
	pkts[0] = usnet_pkt_alloc(pool);
	pkts[0]->len = 60;
	CHECK_EQ(usnet_memif_tx(c, 0, pkts, 1, &qs), 0);
	usnet_pkt_free(pkts[0]);
	CHECK(got_disconnect(&r, srv, "Zero-length buffer offered"));
	raw_close(&r);

	/* A client that just goes away is not a violation. */
	CHECK(raw_connect(&r, srv));
	raw_close(&r);
	for (int i = 0; i < 100 && usnet_memif_up(c); i++) {
		usnet_memif_server_poll(srv);
		usleep(1000);
	}
	CHECK(!usnet_memif_up(c));
	CHECK(!strcmp(c->reason, "Connection closed by peer"));

	usnet_memif_server_get_stats(srv, &st);
	CHECK_EQ(c->violations, 9);
	CHECK_EQ(st.violations, 9);
	CHECK_EQ(st.refused, 6);
	CHECK_EQ(c->connects, 4);
	CHECK_EQ(qs.rx_errors, 0);
	usnet_memif_server_destroy(srv);
	usnet_pool_destroy(pool);
	CHECK(access(path, F_OK) != 0); /* the socket file is gone */
}

/* ---- hostile peers: descriptors, region memory, slots, chains ---- */

/* Send len bytes of m with nfd copies of fd (len may be 0). */
static void raw_send_fds(struct raw *r, struct memif_msg *m, size_t len, int fd, int nfd)
{
	int fds[TEST_MAX_SEND_FDS];

	CHECK(nfd <= TEST_MAX_SEND_FDS);
	for (int i = 0; i < nfd; i++)
		fds[i] = fd;
	CHECK(test_send_fds(r->fd, m, len, fds, nfd, MSG_NOSIGNAL) == (ssize_t)len);
}

/* Serve until the server hangs up on r (bounded); true if it did. */
static bool hung_up(struct raw *r, struct usnet_memif_server *srv)
{
	for (int i = 0; i < 2000; i++) {
		struct memif_msg m;
		ssize_t n;

		usnet_memif_server_poll(srv);
		n = recv(r->fd, &m, sizeof(m), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			return true;
		usleep(500);
	}
	return false;
}

static const char *deny_all(void *ctx, pid_t pid, uid_t uid, gid_t gid)
{
	(void)ctx, (void)pid, (void)uid, (void)gid;
	return "Go away";
}

static void test_hostile(void)
{
	struct usnet_memif_server_conf sc = {.path = path, .max_c2s = 2, .max_s2c = 2};
	struct usnet_memif_server *srv;
	struct usnet_memif_conn *c;
	struct usnet_queue_stats qs = {0};
	struct usnet_pool *pool;
	struct usnet_pool_conf pc = {.count = 64};
	struct usnet_pkt *pkts[8];
	struct memif_msg m;
	struct raw r, pend[4];
	int efd = eventfd(0, 0), fds0, mfd;

	CHECK(usnet_memif_server_create(&srv, &sc) == 0);
	CHECK(usnet_memif_server_add(srv, &c, 7, "s3cret", 1, 1, NULL) == 0);
	CHECK(usnet_pool_create(&pool, &pc) == 0);
	fds0 = test_count_fds();

	/* Zero-length datagrams with descriptors, before and after INIT: a
	 * hang-up, and every descriptor closed. */
	for (int k = 0; k < 2; k++) {
		raw_open(&r, srv);
		if (k) {
			raw_init(&r, srv, 7, "s3cret");
			CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
		}
		memset(&m, 0, sizeof(m));
		raw_send_fds(&r, &m, 0, efd, 3);
		CHECK(hung_up(&r, srv));
		raw_close(&r);
	}
	/* More descriptors than the control buffer takes (MSG_CTRUNC). */
	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	m.type = MEMIF_MSG_CONNECT;
	raw_send_fds(&r, &m, sizeof(m), efd, 8);
	CHECK(got_disconnect(&r, srv, "Too many file descriptors"));
	raw_close(&r);
	usnet_memif_server_poll(srv);
	CHECK_EQ(test_count_fds(), fds0);

	/* Region memory: only a shmem memfd, sealed, then large enough. */
	mfd = memfd_create("huge", MFD_ALLOW_SEALING | MFD_HUGETLB);
	if (mfd >= 0) {
		CHECK(ftruncate(mfd, 2 << 20) == 0);
		CHECK(fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
		raw_open(&r, srv);
		raw_init(&r, srv, 7, "s3cret");
		CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
		m.type = MEMIF_MSG_ADD_REGION;
		m.add_region.index = 0;
		m.add_region.size = 2 << 20;
		raw_send(&r, &m, sizeof(m), mfd);
		CHECK(got_disconnect(&r, srv, "Region fd is hugetlbfs, not shmem"));
		raw_close(&r);
		close(mfd);
	}
	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_ADD_REGION;
	m.add_region.size = 4096;
	raw_send(&r, &m, sizeof(m), efd);
	CHECK(got_disconnect(&r, srv, "Region fd is not a shmem memfd"));
	raw_close(&r);
	/* Sealed, then shrunk to nothing is impossible; shrunk, then sealed: too small. */
	raw_open(&r, srv);
	raw_init(&r, srv, 7, "s3cret");
	CHECK_EQ(raw_recv(&r, srv).type, MEMIF_MSG_ACK);
	raw_region(&r, false);
	CHECK(ftruncate(r.mfd, 0) == 0);
	CHECK(fcntl(r.mfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0);
	raw_add_region(&r);
	CHECK(got_disconnect(&r, srv, "Region fd smaller than region"));
	raw_close(&r);
	/* A refused region's memfd is closed, not kept. */
	usnet_memif_server_poll(srv);
	CHECK_EQ(test_count_fds(), fds0);

	/* One uid holds at most 4 pending slots; the 5th is refused at once. */
	for (int i = 0; i < 4; i++)
		raw_open(&pend[i], srv);
	raw_socket(&r);
	CHECK(got_disconnect(&r, srv, "Too many pending connections from this uid"));
	raw_close(&r);
	for (int i = 0; i < 4; i++)
		raw_close(&pend[i]);
	usnet_memif_server_poll(srv);

	/* An unfinished chain longer than any frame the pool takes: a violation. */
	CHECK(raw_connect(&r, srv));
	for (unsigned s = 0; s < RAW_SLOTS - 1; s++)
		raw_put(&r, s, RAW_BUF, 0, MEMIF_DESC_FLAG_NEXT);
	atomic_store(&raw_ring(&r, 0)->head, RAW_SLOTS - 1);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 8, &qs), 0);
	CHECK(got_disconnect(&r, srv, "Unfinished descriptor chain longer than a frame"));
	raw_close(&r);
	usnet_memif_server_destroy(srv);

	/* The owner's admission at accept: refused before HELLO, with its reason. */
	sc.on_accept = deny_all;
	CHECK(usnet_memif_server_create(&srv, &sc) == 0);
	raw_socket(&r);
	CHECK(got_disconnect(&r, srv, "Go away"));
	raw_close(&r);
	usnet_memif_server_destroy(srv);
	usnet_pool_destroy(pool);
	close(efd);
}

/* The client's side of the same discipline: a hostile server's descriptors. */
static void test_hostile_server(void)
{
	struct usnet_memif_client_conf cc = {.path = path, .id = 1};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	struct memif_msg m = {.type = MEMIF_MSG_HELLO};
	struct raw srv = {.mfd = -1, .efd = {-1, -1}};
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0), efd = eventfd(0, 0), fds0;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	CHECK(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(lfd, 4) == 0);
	CHECK(usnet_memif_client_create(&cl, &cc) == 0);
	c = usnet_memif_client_conn(cl);
	for (int k = 0; k < 4; k++) {
		usnet_memif_client_poll(cl); /* connects */
		CHECK(c->fd >= 0);
		srv.fd = accept(lfd, NULL, NULL);
		CHECK(srv.fd >= 0);
		fds0 = test_count_fds();
		m.type = MEMIF_MSG_HELLO;
		m.hello.min_version = m.hello.max_version = MEMIF_VERSION;
		if (k == 0) { /* a zero-length datagram with descriptors: a hang-up */
			raw_send_fds(&srv, &m, 0, efd, 3);
		} else if (k == 1) { /* HELLO with three descriptors: a violation */
			raw_send_fds(&srv, &m, sizeof(m), efd, 3);
		} else if (k == 2) { /* a message out of turn, with one: a violation */
			m.type = MEMIF_MSG_CONNECTED;
			raw_send_fds(&srv, &m, sizeof(m), efd, 1);
		} else { /* a good HELLO with one: answered (INIT), the fd closed */
			raw_send_fds(&srv, &m, sizeof(m), efd, 1);
			for (int i = 0; i < 100 && c->state == MEMIF_ST_HELLO; i++) {
				usnet_memif_client_poll(cl);
				usleep(1000);
			}
			{
				struct memif_msg in = {0};

				CHECK(recv(srv.fd, &in, sizeof(in), MSG_DONTWAIT) ==
				      (ssize_t)sizeof(in));
				CHECK(in.type == MEMIF_MSG_INIT);
			}
			CHECK(c->fd >= 0);
			CHECK_EQ(test_count_fds(), fds0);
			shutdown(srv.fd, SHUT_RDWR); /* then a hang-up */
		}
		for (int i = 0; i < 100 && c->fd >= 0; i++) {
			usnet_memif_client_poll(cl);
			usleep(1000);
		}
		CHECK(c->fd < 0);
		CHECK(!strcmp(c->reason, k == 1	  ? "Too many file descriptors"
					 : k == 2 ? "Unexpected message"
						  : "Connection closed by peer"));
		CHECK_EQ(test_count_fds(), fds0 - 1); /* its socket closed, and nothing came in */
		close(srv.fd);
		usleep(110 * 1000); /* the client reconnects at most every 100 ms */
	}
	usnet_memif_client_destroy(cl);
	close(lfd);
	close(efd);
	unlink(path);
}

/* ---- a hostile server against the real client: every client-side check ---- */

/*
 * The server side of a connection, written by hand so that it can lie:
 * it answers the client's handshake, maps the region the client passes
 * and writes S2C descriptors and C2S tail as a malicious usnetd could.
 */
struct hsrv {
	int lfd, fd;
	uint8_t *mem; /* the client's region, as the server maps it */
	uint64_t size;
	uint32_t ring_off[2]; /* 0: C2S, 1: S2C */
};

#define HS_LOG2 3
#define HS_BUF	128u

static char hpath[100];

static void hs_send(struct hsrv *h, const void *m, size_t len, const int *fds, int nfd)
{
	CHECK(test_send_fds(h->fd, m, len, fds, nfd, MSG_NOSIGNAL) == (ssize_t)len);
}

static void hs_send_type(struct hsrv *h, uint16_t type)
{
	struct memif_msg m = {.type = type};

	hs_send(h, &m, sizeof(m), NULL, 0);
}

static void hs_hello(struct hsrv *h, uint16_t version)
{
	struct memif_msg m = {.type = MEMIF_MSG_HELLO};

	memcpy(m.hello.name, "hostile", 7);
	m.hello.min_version = m.hello.max_version = version;
	m.hello.max_log2_ring_size = MEMIF_MAX_LOG2_RING;
	hs_send(h, &m, sizeof(m), NULL, 0);
}

/* The client's next message (its fd, if any, in *fd), polling the client
 * meanwhile; type 0 if none within 2 s. */
static struct memif_msg hs_recv(struct hsrv *h, struct usnet_memif_client *cl, int *fd)
{
	struct memif_msg m = {0};
	uint64_t end = usnet_now_ns() + 2 * USNET_NSEC_PER_SEC;
	union {
		char b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr a;
	} ctl;

	if (fd)
		*fd = -1;
	while (usnet_now_ns() < end) {
		struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = ctl.b,
				    .msg_controllen = sizeof(ctl.b)};
		struct cmsghdr *cm;

		usnet_memif_client_poll(cl);
		if (recvmsg(h->fd, &mh, MSG_DONTWAIT) == (ssize_t)sizeof(m)) {
			cm = CMSG_FIRSTHDR(&mh);
			if (cm && cm->cmsg_type == SCM_RIGHTS) {
				int f;

				memcpy(&f, CMSG_DATA(cm), sizeof(f));
				if (fd)
					*fd = f;
				else
					close(f);
			}
			return m;
		}
		usleep(100);
	}
	m.type = 0;
	return m;
}

/* Accept the client's next connection (it retries every 100 ms). */
static bool hs_accept(struct hsrv *h, struct usnet_memif_client *cl)
{
	for (int i = 0; i < 3000; i++) {
		usnet_memif_client_poll(cl);
		h->fd = accept4(h->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (h->fd >= 0)
			return true;
		usleep(1000);
	}
	return false;
}

static void hs_hangup(struct hsrv *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
	if (h->mem)
		munmap(h->mem, h->size);
	h->mem = NULL;
}

/* The client ends the connection with DISCONNECT `why`. */
static bool hs_expect_disconnect(struct hsrv *h, struct usnet_memif_client *cl, const char *why)
{
	struct memif_msg m = hs_recv(h, cl, NULL);
	bool ok = m.type == MEMIF_MSG_DISCONNECT && !strcmp((char *)m.disconnect.string, why) &&
		  !strcmp(usnet_memif_client_conn(cl)->reason, why);

	if (!ok)
		fprintf(stderr, "expected DISCONNECT '%s', got type %u '%s' (client: '%s')\n", why,
			m.type, m.type == MEMIF_MSG_DISCONNECT ? (char *)m.disconnect.string : "",
			usnet_memif_client_conn(cl)->reason);
	hs_hangup(h);
	return ok;
}

/* The whole handshake by the book, mapping the client's region. */
static bool hs_connect(struct hsrv *h, struct usnet_memif_client *cl)
{
	struct memif_msg m;
	int fd;

	if (!hs_accept(h, cl))
		return false;
	hs_hello(h, MEMIF_VERSION);
	CHECK_EQ(hs_recv(h, cl, NULL).type, MEMIF_MSG_INIT);
	hs_send_type(h, MEMIF_MSG_ACK);
	m = hs_recv(h, cl, &fd);
	CHECK_EQ(m.type, MEMIF_MSG_ADD_REGION);
	CHECK(fd >= 0);
	h->size = m.add_region.size;
	h->mem = mmap(NULL, h->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	CHECK(h->mem != MAP_FAILED);
	hs_send_type(h, MEMIF_MSG_ACK);
	for (int i = 0; i < 2; i++) {
		m = hs_recv(h, cl, &fd);
		CHECK_EQ(m.type, MEMIF_MSG_ADD_RING);
		CHECK_EQ(m.add_ring.log2_ring_size, HS_LOG2);
		h->ring_off[(m.add_ring.flags & MEMIF_ADD_RING_FLAG_C2S) ? 0 : 1] =
		    m.add_ring.offset;
		if (fd >= 0)
			close(fd);
		hs_send_type(h, MEMIF_MSG_ACK);
	}
	CHECK_EQ(hs_recv(h, cl, NULL).type, MEMIF_MSG_CONNECT);
	hs_send_type(h, MEMIF_MSG_CONNECTED);
	for (int i = 0; i < 100 && !usnet_memif_up(usnet_memif_client_conn(cl)); i++) {
		usnet_memif_client_poll(cl);
		usleep(1000);
	}
	return usnet_memif_up(usnet_memif_client_conn(cl));
}

static struct memif_ring *hs_ring(struct hsrv *h, int s2c)
{
	return (struct memif_ring *)(h->mem + h->ring_off[s2c]);
}

/* The server "sends" n frames: S2C descriptors 0..n-1 with these lengths and flags. */
static void hs_produce(struct hsrv *h, unsigned n, uint32_t len, uint16_t flags, uint16_t tail)
{
	struct memif_ring *r = hs_ring(h, 1);

	for (unsigned i = 0; i < n; i++) {
		r->desc[i & ((1u << HS_LOG2) - 1)].length = len;
		r->desc[i & ((1u << HS_LOG2) - 1)].flags = flags;
	}
	atomic_store(&r->tail, tail);
}

static void test_client_validation(void)
{
	struct usnet_memif_client_conf cc = {
	    .path = hpath, .id = 5, .log2_c2s = HS_LOG2, .log2_s2c = HS_LOG2, .buf_size = HS_BUF};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct usnet_pool_conf pc = {.count = 64};
	struct usnet_queue_stats qs = {0};
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	struct usnet_pool *pool;
	struct usnet_pkt *pkts[16];
	struct hsrv h = {.fd = -1};
	struct memif_msg m;
	int fds0, efd[3];
	uint64_t t0;

	snprintf(hpath, sizeof(hpath), "%s/hostile.sock", tmpdir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", hpath);
	h.lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	CHECK(bind(h.lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(h.lfd, 4) == 0);
	CHECK(usnet_pool_create(&pool, &pc) == 0);
	CHECK(usnet_memif_client_create(&cl, &cc) == 0);
	c = usnet_memif_client_conn(cl);
	fds0 = test_count_fds();

	/* Control messages: version, size, fds, order. */
	CHECK(hs_accept(&h, cl));
	hs_hello(&h, 0x100);
	CHECK(hs_expect_disconnect(&h, cl, "Incompatible memif version"));

	CHECK(hs_accept(&h, cl));
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_HELLO;
	hs_send(&h, &m, 64, NULL, 0);
	CHECK(hs_expect_disconnect(&h, cl, "Invalid message size"));

	for (int i = 0; i < 3; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC);
	CHECK(hs_accept(&h, cl));
	hs_send(&h, &m, sizeof(m), efd, 2);
	CHECK(hs_expect_disconnect(&h, cl, "Too many file descriptors"));

	CHECK(hs_accept(&h, cl));
	hs_send_type(&h, MEMIF_MSG_ACK); /* before HELLO */
	CHECK(hs_expect_disconnect(&h, cl, "Unexpected message"));

	CHECK(hs_accept(&h, cl));
	hs_hello(&h, MEMIF_VERSION);
	CHECK_EQ(hs_recv(&h, cl, NULL).type, MEMIF_MSG_INIT);
	hs_send_type(&h, MEMIF_MSG_CONNECTED); /* before the ACKs */
	CHECK(hs_expect_disconnect(&h, cl, "Unexpected message"));

	CHECK(hs_accept(&h, cl));
	hs_send_type(&h, 0x77); /* no such message */
	CHECK(hs_expect_disconnect(&h, cl, "Unexpected message"));

	/* A single fd with a valid HELLO: closed, not kept, not a violation. */
	CHECK(hs_accept(&h, cl));
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_HELLO;
	m.hello.min_version = m.hello.max_version = MEMIF_VERSION;
	m.hello.max_log2_ring_size = MEMIF_MAX_LOG2_RING;
	hs_send(&h, &m, sizeof(m), efd, 1);
	CHECK_EQ(hs_recv(&h, cl, NULL).type, MEMIF_MSG_INIT);
	CHECK_EQ(c->violations, 6);
	hs_hangup(&h);
	for (int i = 0; i < 3; i++)
		close(efd[i]);

	/* A server that stalls the handshake is dropped, by the client's clock (5 s). */
	CHECK(hs_accept(&h, cl));
	t0 = usnet_now_ns();
	hs_hello(&h, MEMIF_VERSION);
	CHECK_EQ(hs_recv(&h, cl, NULL).type, MEMIF_MSG_INIT);
	while (c->fd >= 0 && usnet_now_ns() - t0 < 20 * USNET_NSEC_PER_SEC) {
		usnet_memif_client_poll(cl);
		usleep(10000);
	}
	CHECK(hs_expect_disconnect(&h, cl, "Handshake timeout"));

	/* DISCONNECT from the server: its reason kept, not a violation. */
	CHECK(hs_connect(&h, cl));
	memset(&m, 0, sizeof(m));
	m.type = MEMIF_MSG_DISCONNECT;
	memcpy(m.disconnect.string, "maintenance", 11);
	hs_send(&h, &m, sizeof(m), NULL, 0);
	for (int i = 0; i < 1000 && usnet_memif_up(c); i++) {
		usnet_memif_client_poll(cl);
		usleep(1000);
	}
	CHECK(!usnet_memif_up(c));
	CHECK(!strcmp(c->reason, "maintenance"));
	hs_hangup(&h);
	CHECK_EQ(c->violations, 6);

	/* The data path. First, honest frames right at the buffer size. */
	CHECK(hs_connect(&h, cl));
	CHECK_EQ(atomic_load(&hs_ring(&h, 1)->head), 1u << HS_LOG2); /* all buffers offered */
	hs_produce(&h, 2, HS_BUF, 0, 2);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 16, &qs), 2);
	CHECK_EQ(pkts[0]->len, HS_BUF);
	usnet_pkt_free_bulk(pkts, 2);
	/* One byte longer than the buffer the client lent: refused, not copied. */
	hs_produce(&h, 1, HS_BUF + 1, 0, 3);
	hs_ring(&h, 1)->desc[2].length = HS_BUF + 1;
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 16, &qs), 0);
	CHECK(!usnet_memif_up(c));
	usnet_memif_client_poll(cl);
	CHECK(hs_expect_disconnect(&h, cl, "Descriptor longer than its buffer"));

	/* Far past it: 4 GiB - 1 (would read outside the region). */
	CHECK(hs_connect(&h, cl));
	hs_produce(&h, 1, 0xffffffffu, 0, 1);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 16, &qs), 0);
	CHECK(hs_expect_disconnect(&h, cl, "Descriptor longer than its buffer"));

	/* More frames produced than buffers offered. */
	CHECK(hs_connect(&h, cl));
	hs_produce(&h, 0, 0, 0, (1u << HS_LOG2) + 1);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 16, &qs), 0);
	CHECK(hs_expect_disconnect(&h, cl, "S2C tail out of range"));

	/* tail moved backwards. */
	CHECK(hs_connect(&h, cl));
	hs_produce(&h, 0, 0, 0, 0xffff);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 16, &qs), 0);
	CHECK(hs_expect_disconnect(&h, cl, "S2C tail out of range"));

	/* A chain that never ends: every slot says NEXT. */
	CHECK(hs_connect(&h, cl));
	hs_produce(&h, 1u << HS_LOG2, 10, MEMIF_DESC_FLAG_NEXT, 1u << HS_LOG2);
	CHECK_EQ(usnet_memif_rx(c, 0, pool, pkts, 16, &qs), 0);
	CHECK(hs_expect_disconnect(&h, cl, "Descriptor chain longer than the ring"));

	/* C2S: the server claims to have consumed frames never sent. */
	CHECK(hs_connect(&h, cl));
	pkts[0] = usnet_pkt_alloc(pool);
	memset(usnet_pkt_append(pkts[0], 60), 1, 60);
	CHECK_EQ(usnet_memif_tx(c, 0, pkts, 1, &qs), 1);
	CHECK_EQ(atomic_load(&hs_ring(&h, 0)->head), 1);
	atomic_store(&hs_ring(&h, 0)->tail, 2);
	pkts[0] = usnet_pkt_alloc(pool);
	pkts[0]->len = 60;
	CHECK_EQ(usnet_memif_tx(c, 0, pkts, 1, &qs), 0);
	usnet_pkt_free(pkts[0]);
	CHECK(hs_expect_disconnect(&h, cl, "C2S tail out of range"));

	CHECK_EQ(c->violations, 12);
	CHECK_EQ(qs.rx_errors, 0);
	/* Nothing the hostile server sent is still open in this process. */
	CHECK_EQ(test_count_fds(), fds0);
	usnet_memif_client_destroy(cl);
	close(h.lfd);
	unlink(hpath);
	usnet_pool_destroy(pool);
}

/* ---- one server, several clients ---- */

static void poll_all(struct usnet_memif_server *srv, struct usnet_memif_client **cl, int n)
{
	for (int k = 0; k < 2000; k++) {
		bool up = true;

		usnet_memif_server_poll(srv);
		for (int i = 0; i < n; i++) {
			usnet_memif_client_poll(cl[i]);
			up &= usnet_memif_up(usnet_memif_client_conn(cl[i]));
		}
		if (up)
			return;
		usleep(500);
	}
}

static unsigned ups, downs;

static void count_up(void *ctx, struct usnet_memif_conn *c)
{
	(void)ctx;
	(void)c;
	ups++;
}

static void count_down(void *ctx, struct usnet_memif_conn *c)
{
	(void)ctx;
	(void)c;
	downs++;
}

static void test_many_clients(void)
{
	struct usnet_memif_server_conf sc = {
	    .path = path, .on_up = count_up, .on_down = count_down};
	struct usnet_memif_client_conf cc = {.path = path, .log2_c2s = 5, .log2_s2c = 5};
	struct usnet_pool_conf pc = {.count = 256};
	struct usnet_memif_client *cl[3];
	struct usnet_memif_conn *sc_conn[3];
	struct usnet_memif_server *srv;
	struct usnet_queue_stats qs = {0};
	struct usnet_pool *pool;
	struct usnet_pkt *pkts[8];

	CHECK(usnet_memif_server_create(&srv, &sc) == 0);
	CHECK(usnet_pool_create(&pool, &pc) == 0);
	for (int i = 0; i < 3; i++) {
		CHECK(usnet_memif_server_add(srv, &sc_conn[i], 10 + i, NULL, 1, 1, NULL) == 0);
		cc.id = 10 + (uint32_t)i;
		CHECK(usnet_memif_client_create(&cl[i], &cc) == 0);
	}
	poll_all(srv, cl, 3);
	CHECK_EQ(ups, 3);
	for (int i = 0; i < 3; i++) {
		CHECK(usnet_memif_up(sc_conn[i]));
		CHECK(usnet_memif_up(usnet_memif_client_conn(cl[i])));
		CHECK(sc_conn[i]->peer_pid == getpid());
	}

	/* Each client reaches its own interface. */
	for (int i = 0; i < 3; i++) {
		struct usnet_pkt *p = usnet_pkt_alloc(pool);

		memset(usnet_pkt_append(p, 60), i, 60);
		CHECK_EQ(usnet_memif_tx(usnet_memif_client_conn(cl[i]), 0, &p, 1, &qs), 1);
	}
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(usnet_memif_rx(sc_conn[i], 0, pool, pkts, 8, &qs), 1);
		CHECK_EQ(usnet_pkt_data(pkts[0])[0], i);
		usnet_pkt_free(pkts[0]);
	}

	/* Client 1 corrupts its C2S ring: only it is cut off. */
	atomic_store(&usnet_memif_client_conn(cl[1])->c2s[0].ring->head, 1000);
	CHECK_EQ(usnet_memif_rx(sc_conn[1], 0, pool, pkts, 8, &qs), 0);
	for (int k = 0; k < 100; k++) {
		usnet_memif_server_poll(srv);
		for (int i = 0; i < 3; i++)
			usnet_memif_client_poll(cl[i]);
	}
	CHECK(!usnet_memif_up(sc_conn[1]));
	CHECK(!strcmp(usnet_memif_client_conn(cl[1])->reason, "C2S head out of range"));
	CHECK(usnet_memif_up(sc_conn[0]) && usnet_memif_up(sc_conn[2]));
	CHECK_EQ(sc_conn[1]->violations, 1);
	CHECK_EQ(downs, 1);
	{
		struct usnet_pkt *p = usnet_pkt_alloc(pool);

		memset(usnet_pkt_append(p, 60), 2, 60);
		/* The client offered its S2C buffers at CONNECTED: the server may send at once. */
		CHECK_EQ(usnet_memif_tx(sc_conn[2], 0, &p, 1, &qs), 1);
		CHECK_EQ(usnet_memif_rx(usnet_memif_client_conn(cl[2]), 0, pool, pkts, 8, &qs), 1);
		usnet_pkt_free(pkts[0]);
	}

	/* It reconnects by itself (at most 100 ms later) with fresh rings. */
	poll_all(srv, cl, 3);
	CHECK(usnet_memif_up(sc_conn[1]));
	CHECK_EQ(sc_conn[1]->connects, 2);

	for (int i = 0; i < 3; i++)
		usnet_memif_client_destroy(cl[i]);
	for (int k = 0; k < 10; k++)
		usnet_memif_server_poll(srv);
	CHECK_EQ(downs, 4);
	CHECK(!strcmp(sc_conn[0]->reason, "Client closed"));
	usnet_memif_server_destroy(srv);
	usnet_pool_destroy(pool);
}

/* ---- two ports, two threads ---- */

#define NFRAMES 100000u

struct side {
	struct usnet_port *port;
	uint32_t sent, received, bad;
	bool sleepy; /* use usnet_port_idle(): exercises arm/kick */
	uint32_t n;
};

static void *exchange(void *arg)
{
	struct side *s = arg;
	struct usnet_pool *pool = usnet_port_pool(s->port, 0);
	struct usnet_idle idle = {.spin = 64};
	uint64_t end = usnet_now_ns() + 60 * USNET_NSEC_PER_SEC;

	while ((s->sent < s->n || s->received < s->n) && usnet_now_ns() < end) {
		struct usnet_pkt *pkts[32];
		uint16_t n, k = 0;

		while (k < 32 && s->sent + k < s->n) {
			struct usnet_pkt *p = usnet_pkt_alloc(pool);
			uint32_t seq = s->sent + k;

			if (!p)
				break;
			memset(usnet_pkt_append(p, 60), 0, 60);
			memcpy(usnet_pkt_data(p) + 14, &seq, 4);
			pkts[k++] = p;
		}
		n = usnet_tx_burst(s->port, 0, pkts, k);
		usnet_pkt_free_bulk(pkts + n, (uint32_t)(k - n));
		s->sent += n;
		n = usnet_rx_burst(s->port, 0, pkts, 32);
		for (uint16_t i = 0; i < n; i++) {
			uint32_t seq;

			memcpy(&seq, usnet_pkt_data(pkts[i]) + 14, 4);
			if (seq != s->received || pkts[i]->len != 60)
				s->bad++;
			s->received++;
		}
		usnet_pkt_free_bulk(pkts, n);
		if (s->sleepy && s->sent == s->n)
			usnet_port_idle(s->port, 0, &idle, n, 10);
	}
	return NULL;
}

static bool wait_link(struct usnet_port *a, struct usnet_port *b, bool up, int ms)
{
	for (int i = 0; i < ms; i++) {
		struct usnet_link la, lb = {.up = up};
		struct usnet_pkt *pkts[4];

		/* Bursts drive the control sockets too. */
		usnet_pkt_free_bulk(pkts, usnet_rx_burst(a, 0, pkts, 4));
		if (b)
			usnet_pkt_free_bulk(pkts, usnet_rx_burst(b, 0, pkts, 4));
		usnet_port_link(a, &la);
		if (b)
			usnet_port_link(b, &lb);
		if (la.up == up && lb.up == up)
			return true;
		usleep(1000);
	}
	return false;
}

static void run_pair(struct usnet_port *cli, struct usnet_port *srv, uint32_t n)
{
	struct side a = {.port = cli, .n = n, .sleepy = true}, b = {.port = srv, .n = n};
	pthread_t ta, tb;
	uint64_t t0 = usnet_now_ns();

	pthread_create(&ta, NULL, exchange, &a);
	pthread_create(&tb, NULL, exchange, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	printf("memif: %u frames each way in %.3f s\n", n, usnet_ns_to_s(usnet_now_ns() - t0));
	CHECK_EQ(a.sent, n);
	CHECK_EQ(b.sent, n);
	CHECK_EQ(a.received, n);
	CHECK_EQ(b.received, n);
	CHECK_EQ(a.bad, 0);
	CHECK_EQ(b.bad, 0);
}

/* 100 ms from now, one frame from the server port (its own thread). */
static void *send_later(void *arg)
{
	struct usnet_port *srv = arg;
	struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(srv, 0));

	usleep(100 * 1000);
	memset(usnet_pkt_append(p, 60), 0, 60);
	if (usnet_tx_burst(srv, 0, &p, 1) != 1)
		usnet_pkt_free(p);
	return NULL;
}

/* A server port in this process answers only when polled: poll it from a
 * thread while a client opens, since the open runs the whole handshake. */
struct server_poller {
	struct usnet_port *srv;
	_Atomic bool stop;
};

static void *poll_server(void *arg)
{
	struct server_poller *sp = arg;
	struct usnet_link l;

	while (!atomic_load(&sp->stop)) {
		usnet_port_link(sp->srv, &l);
		usleep(200);
	}
	return NULL;
}

static int open_client(struct usnet_port **cli, const char *spec,
		       const struct usnet_port_conf *conf, struct usnet_port *srv)
{
	struct server_poller sp = {.srv = srv};
	pthread_t t;
	int err;

	pthread_create(&t, NULL, poll_server, &sp);
	err = usnet_port_open(cli, spec, conf);
	atomic_store(&sp.stop, true);
	pthread_join(t, NULL);
	return err;
}

static void test_ports(void)
{
	char cspec[200], sspec[200];
	struct usnet_port_conf conf = {.rx_ring_size = 256, .tx_ring_size = 256, .pool_size = 1024};
	struct usnet_port *cli, *srv, *bad;
	struct usnet_queue_stats st;
	struct usnet_pkt *pkts[4];

	snprintf(cspec, sizeof(cspec), "memif:%s,id=3,secret=pw", path);
	snprintf(sspec, sizeof(sspec), "memif:%s,role=server,id=3,secret=pw", path);

	CHECK(usnet_port_open(&bad, "memif:/tmp/x,role=peer", NULL) == -EINVAL);
	CHECK(usnet_port_open(&bad, "memif:/tmp/x,secret=0123456789012345678901234", NULL) ==
	      -EINVAL);
	CHECK(usnet_port_open(&bad, "memif:/tmp/x,rsize=15", NULL) == -EINVAL);
	CHECK(usnet_port_open(&bad, "memif:/tmp/x,wait=2", NULL) == -EINVAL);
	CHECK(usnet_port_open(&bad, "memif:/tmp/x,role=server,wait=1", NULL) == -EINVAL);
	CHECK(strstr(usnet_last_error(), "wait= is for role=client") != NULL);

	/* No server: the open says so instead of a link that never comes up. */
	CHECK(usnet_port_open(&bad, cspec, &conf) == -ENOENT);
	CHECK(strstr(usnet_last_error(), "no usnetd (or other memif server) listening at") != NULL);
	CHECK(strstr(usnet_last_error(), "No such file or directory") != NULL);

	/* wait=1: the client comes first, link down, no error. */
	snprintf(cspec, sizeof(cspec), "memif:%s,id=3,secret=pw,wait=1", path);
	CHECK(usnet_port_open(&cli, cspec, &conf) == 0);
	CHECK(!wait_link(cli, NULL, true, 50));
	CHECK(usnet_port_open(&srv, sspec, &conf) == 0);
	CHECK(wait_link(cli, srv, true, 3000));

	run_pair(cli, srv, NFRAMES);
	usnet_port_stats(cli, 0, &st);
	CHECK_EQ(st.rx_packets, NFRAMES);
	CHECK_EQ(st.rx_errors, 0);

	/* Idle: a wait sleeps its whole timeout; a frame from the server wakes it. */
	CHECK_EQ(usnet_port_wait(cli, 0, 300), 0);
	{
		pthread_t t;
		uint64_t t0 = usnet_now_ns();

		pthread_create(&t, NULL, send_later, srv);
		/* Woken by the frame, not by the timeout (which would return 0).
		 * How soon is logged, not asserted: bench/ measures latency. */
		CHECK_EQ(usnet_port_wait(cli, 0, 5000), 1);
		printf("memif: woken %.1f ms after a frame sent 100 ms later\n",
		       (double)(usnet_now_ns() - t0) / 1e6);
		pthread_join(t, NULL);
		CHECK_EQ(usnet_rx_burst(cli, 0, pkts, 4), 1);
		usnet_pkt_free(pkts[0]);
	}

	/* The server goes away: the client sees the link go down and keeps working. */
	usnet_port_close(srv);
	CHECK(wait_link(cli, NULL, false, 2000));
	CHECK_EQ(usnet_rx_burst(cli, 0, pkts, 4), 0);
	pkts[0] = usnet_pkt_alloc(usnet_port_pool(cli, 0));
	pkts[0]->len = 60;
	CHECK_EQ(usnet_tx_burst(cli, 0, pkts, 1), 0);
	usnet_pkt_free(pkts[0]);

	/* It comes back: the client reconnects by itself. */
	CHECK(usnet_port_open(&srv, sspec, &conf) == 0);
	CHECK(wait_link(cli, srv, true, 3000));
	run_pair(cli, srv, 1000);

	/* 64-byte buffers: a 1000-byte frame travels as a chain of 16, both ways. */
	usnet_port_close(cli);
	snprintf(cspec, sizeof(cspec), "memif:%s,id=3,secret=pw,bsize=64", path);
	CHECK(open_client(&cli, cspec, &conf, srv) == 0);
	CHECK(wait_link(cli, srv, true, 3000));
	for (int way = 0; way < 2; way++) {
		struct usnet_port *from = way ? srv : cli, *to = way ? cli : srv;
		struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(from, 0));
		uint16_t got = 0;

		for (int i = 0; i < 1000; i++)
			*usnet_pkt_append(p, 1) = (uint8_t)(i * 7 + way);
		CHECK_EQ(usnet_tx_burst(from, 0, &p, 1), 1);
		for (int i = 0; i < 1000 && !got; i++)
			got = usnet_rx_burst(to, 0, pkts, 4);
		CHECK_EQ(got, 1);
		if (got) {
			CHECK_EQ(pkts[0]->len, 1000);
			CHECK_EQ(usnet_pkt_data(pkts[0])[999], (uint8_t)(999 * 7 + way));
			CHECK_EQ(usnet_pkt_data(pkts[0])[64], (uint8_t)(64 * 7 + way));
			usnet_pkt_free(pkts[0]);
		}
	}

	/* A client the server refuses fails to open, with the server's reason. */
	usnet_port_close(srv);
	CHECK(usnet_port_open(&srv, sspec, &conf) == 0);
	snprintf(cspec, sizeof(cspec), "memif:%s,id=3,secret=nope", path);
	CHECK(open_client(&bad, cspec, &conf, srv) == -ECONNREFUSED);
	CHECK(strstr(usnet_last_error(), "refused interface id 3: Incorrect secret") != NULL);
	snprintf(cspec, sizeof(cspec), "memif:%s,id=4", path);
	CHECK(open_client(&bad, cspec, &conf, srv) == -ECONNREFUSED);
	CHECK(strstr(usnet_last_error(), "refused interface id 4: ID not found") != NULL);
	/* With wait=1 a refusal is not final either: the open succeeds, the
	 * link stays down, and the client keeps trying. */
	snprintf(cspec, sizeof(cspec), "memif:%s,id=3,wait=1", path);
	CHECK(open_client(&bad, cspec, &conf, srv) == 0);
	CHECK(!wait_link(bad, srv, true, 300));
	usnet_port_close(bad);

	usnet_port_close(cli);
	usnet_port_close(srv);
}

int main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/usnet-memif-XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/memif.sock", tmpdir);
	test_layout_and_checks();
	test_server_validation();
	test_hostile();
	test_hostile_server();
	test_client_validation();
	test_many_clients();
	test_ports();
	unlink(path);
	rmdir(tmpdir);
	return check_done("test_memif");
}
