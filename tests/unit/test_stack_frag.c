/* SPDX-License-Identifier: MIT */
/* IPv4 reassembly (src/stack/frag.c, pure: fed fragments and a clock):
 * in order, out of order, duplicates, overlaps (RFC 5722: the whole
 * datagram goes), time-out, memory caps per source and in total, bad
 * fragment lengths; then fragments through a stack's receive path. */
#include <errno.h>
#include <stdlib.h>

#include "../../src/stack/stack_impl.h"
#include "stack_util.h"

static uint8_t data[65536];

static struct usnet_ipv4_hdr hdr(uint32_t src, uint16_t id, uint32_t off, bool more)
{
	struct usnet_ipv4_hdr ip = {0};

	ip.ver_ihl = 0x45;
	ip.ttl = 64;
	ip.proto = USNET_IPPROTO_UDP;
	ip.src = htonl(src);
	ip.dst = htonl(IP_US);
	ip.id = htons(id);
	ip.frag_off = htons((uint16_t)(off / 8 | (more ? IP_MF : 0)));
	return ip;
}

static enum frag_result feed(struct frag_table *t, uint32_t src, uint16_t id, uint32_t off,
			     uint32_t len, bool more, uint64_t now, struct frag_out *out)
{
	struct usnet_ipv4_hdr ip = hdr(src, id, off, more);

	return frag_input(t, &ip, data + off, len, now, out);
}

static struct frag_conf conf(void)
{
	struct frag_conf c = {.timeout_ns = 30000 * MS,
			      .mem_per_src = 262144,
			      .mem_total = 4194304,
			      .max_datagrams = 8};
	return c;
}

static void check_done_dgram(struct frag_out *out, uint32_t len)
{
	CHECK_EQ(out->len, len);
	CHECK(!memcmp(out->data, data, len));
	CHECK_EQ(ntohs(out->ip.total_len), len + 20);
	CHECK_EQ(out->ip.frag_off, 0);
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, &out->ip, 20)), 0);
	free(out->data);
}

static void test_orders(void)
{
	struct frag_conf c = conf();
	struct frag_table t;
	struct frag_out out;

	CHECK_EQ(frag_init(&t, &c), 0);
	/* In order. */
	CHECK_EQ(feed(&t, IP_PEER, 1, 0, 1480, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 1, 1480, 1480, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 1, 2960, 100, false, 0, &out), FRAG_DONE);
	check_done_dgram(&out, 3060);
	CHECK_EQ(t.n, 0);
	CHECK_EQ(t.mem, 0);
	/* Out of order: last first, first last. */
	CHECK_EQ(feed(&t, IP_PEER, 2, 2960, 100, false, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 2, 1480, 1480, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 2, 0, 1480, true, 0, &out), FRAG_DONE);
	check_done_dgram(&out, 3060);
	/* Two datagrams interleaved, told apart by id and by source. */
	CHECK_EQ(feed(&t, IP_PEER, 3, 0, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_FAR, 3, 0, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 4, 0, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_FAR, 3, 8, 8, false, 0, &out), FRAG_DONE);
	check_done_dgram(&out, 16);
	CHECK_EQ(feed(&t, IP_PEER, 3, 8, 4, false, 0, &out), FRAG_DONE);
	check_done_dgram(&out, 12);
	CHECK_EQ(t.n, 1); /* id 4 still waits */
	frag_fini(&t);
}

static void test_dup_overlap(void)
{
	struct frag_conf c = conf();
	struct frag_table t;
	struct frag_out out;

	CHECK_EQ(frag_init(&t, &c), 0);
	/* An exact duplicate is dropped alone; the datagram completes. */
	CHECK_EQ(feed(&t, IP_PEER, 1, 0, 16, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 1, 0, 16, true, 0, &out), FRAG_DUP);
	CHECK_EQ(feed(&t, IP_PEER, 1, 16, 8, false, 0, &out), FRAG_DONE);
	check_done_dgram(&out, 24);
	/* Same range, different bytes: an overlap. */
	CHECK_EQ(feed(&t, IP_PEER, 2, 0, 16, true, 0, &out), FRAG_HELD);
	{
		struct usnet_ipv4_hdr ip = hdr(IP_PEER, 2, 0, true);
		uint8_t other[16] = {1};

		CHECK_EQ(frag_input(&t, &ip, other, 16, 0, &out), FRAG_OVERLAP);
	}
	/* The datagram is dead: even its missing piece is dropped now. */
	CHECK_EQ(feed(&t, IP_PEER, 2, 16, 8, false, 0, &out), FRAG_OVERLAP);
	CHECK_EQ(feed(&t, IP_PEER, 2, 0, 16, true, 0, &out), FRAG_OVERLAP);
	/* Partial overlaps, either side. */
	CHECK_EQ(feed(&t, IP_PEER, 3, 8, 16, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 3, 0, 16, true, 0, &out), FRAG_OVERLAP);
	CHECK_EQ(feed(&t, IP_PEER, 4, 0, 16, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 4, 8, 16, false, 0, &out), FRAG_OVERLAP);
	/* Data beyond the last fragment, and a second different last one. */
	CHECK_EQ(feed(&t, IP_PEER, 5, 16, 8, false, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 5, 24, 8, true, 0, &out), FRAG_OVERLAP);
	CHECK_EQ(feed(&t, IP_PEER, 6, 16, 8, false, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 6, 32, 8, false, 0, &out), FRAG_OVERLAP);
	/* Dead datagrams keep no data, only their slot until the time-out. */
	CHECK_EQ(t.mem, 5 * (uint32_t)sizeof(struct frag_dgram));
	{
		uint64_t next = UINT64_MAX;

		/* Killed ones are not counted again as timed out. */
		CHECK_EQ(frag_expire(&t, 30000 * MS, &next, NULL, 0, NULL), 0);
		CHECK_EQ(t.n, 0);
	}
	frag_fini(&t);
}

static void test_bad(void)
{
	struct frag_conf c = conf();
	struct frag_table t;
	struct frag_out out;

	CHECK_EQ(frag_init(&t, &c), 0);
	CHECK_EQ(feed(&t, IP_PEER, 1, 0, 12, true, 0, &out), FRAG_BAD); /* not a multiple of 8 */
	CHECK_EQ(feed(&t, IP_PEER, 1, 0, 0, true, 0, &out), FRAG_BAD);	/* empty */
	CHECK_EQ(feed(&t, IP_PEER, 1, 65528, 8, false, 0, &out), FRAG_BAD); /* beyond 65535 */
	CHECK_EQ(t.n, 0);
	frag_fini(&t);
}

static void test_timeout(void)
{
	struct frag_conf c = conf();
	struct frag_table t;
	struct frag_out out;
	uint64_t next = UINT64_MAX;

	CHECK_EQ(frag_init(&t, &c), 0);
	CHECK_EQ(feed(&t, IP_PEER, 1, 0, 8, true, 1000, &out), FRAG_HELD);
	CHECK_EQ(frag_expire(&t, 1000 + c.timeout_ns - 1, &next, NULL, 0, NULL), 0);
	CHECK_EQ(next, 1000 + c.timeout_ns);
	next = UINT64_MAX;
	{
		struct frag_expired rep[2];
		uint32_t nrep = 9;

		CHECK_EQ(frag_expire(&t, 1000 + c.timeout_ns, &next, rep, 2, &nrep), 1);
		CHECK_EQ(nrep, 1); /* it had its first fragment */
		CHECK_EQ(ntohs(rep[0].ip.id), 1);
		CHECK(!memcmp(rep[0].data, data, 8));
	}
	CHECK_EQ(next, UINT64_MAX);
	CHECK_EQ(t.mem, 0);
	/* The rest arriving late starts a new datagram that cannot complete. */
	CHECK_EQ(feed(&t, IP_PEER, 1, 8, 8, false, 2 * c.timeout_ns, &out), FRAG_HELD);
	frag_fini(&t);
}

static void test_caps(void)
{
	struct frag_conf c = conf();
	struct frag_table t;
	struct frag_out out;
	uint16_t id;

	/* Per source: 2 datagrams of 32 KiB buffers fit, the third does not;
	 * another source still gets in. */
	c.mem_per_src = 2 * (32768 + (uint32_t)sizeof(struct frag_dgram));
	CHECK_EQ(frag_init(&t, &c), 0);
	CHECK_EQ(feed(&t, IP_PEER, 1, 30000, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 2, 30000, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 3, 30000, 8, true, 0, &out), FRAG_MEM_SRC);
	CHECK_EQ(t.n, 2); /* the refused one holds nothing */
	CHECK_EQ(feed(&t, IP_FAR, 3, 30000, 8, true, 0, &out), FRAG_HELD);
	frag_fini(&t);

	/* In total. */
	c = conf();
	c.mem_total = 3 * (32768 + (uint32_t)sizeof(struct frag_dgram));
	CHECK_EQ(frag_init(&t, &c), 0);
	for (id = 0; id < 3; id++)
		CHECK_EQ(feed(&t, IP_PEER + id, id, 30000, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER + 3, 3, 30000, 8, true, 0, &out), FRAG_MEM_TOTAL);
	CHECK(t.mem <= c.mem_total);
	frag_fini(&t);

	/* Datagrams at once, and fragments in one. */
	c = conf();
	CHECK_EQ(frag_init(&t, &c), 0);
	for (id = 0; id < 8; id++)
		CHECK_EQ(feed(&t, IP_PEER, id, 0, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 8, 0, 8, true, 0, &out), FRAG_TOO_MANY);
	frag_fini(&t);
	CHECK_EQ(frag_init(&t, &c), 0);
	for (uint32_t k = 0; k < FRAG_MAX_PIECES; k++)
		CHECK_EQ(feed(&t, IP_PEER, 1, k * 16, 8, true, 0, &out), FRAG_HELD);
	CHECK_EQ(feed(&t, IP_PEER, 1, FRAG_MAX_PIECES * 16, 8, true, 0, &out), FRAG_TOO_MANY);
	frag_fini(&t);
}

/* Fragments through the receive path: counters and delivery. */
static void test_stack_path(void)
{
	struct usnet_stack_conf sc = {.reasm_timeout_ms = 1000};
	struct usnet_udp *s;
	struct harness h;
	uint8_t u[3000], f[2048];
	char buf[3000];
	size_t ul, n;

	CHECK_EQ(harness_open(&h, "frag", &sc), 0);
	CHECK_EQ(usnet_udp_open(h.st, &s, NULL), 0);
	CHECK_EQ(usnet_udp_bind(s, 0, 8000), 0);
	memset(buf, 'z', sizeof(buf));
	ul = make_udp(u, IP_PEER, IP_US, 1, 8000, buf, 2000);
	/* Out of order, with a duplicate in between. */
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 77, 1000 / 8, NULL, 0,
		    u + 1000, ul - 1000);
	inject(&h, f, n);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 77, IP_MF, NULL, 0, u,
		    1000);
	inject(&h, f, n);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).ip_frag_rx, 3);
	CHECK_EQ(counters(&h).ip_reasm_ok, 1);
	CHECK_EQ(counters(&h).ip_reasm_dup, 0); /* the datagram was done: this one starts anew */
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), 2000);
	CHECK(buf[0] == 'z' && buf[1999] == 'z');
	/* That lone first fragment times out, driven by poll, and the source
	 * hears about it (RFC 1122 3.3.2: time exceeded, code 1). */
	CHECK(usnet_stack_arm(h.st) > 0);
	answer_arp(&h, IP_PEER);
	fake_now += 1000 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(counters(&h).ip_reasm_timeout, 1);
	CHECK_EQ(counters(&h).icmp_tx_time_exceeded, 1);
	n = peer_recv(&h, f, sizeof(f));
	CHECK(n >= 14 + 20 + 8 + 28);
	CHECK_EQ(f[34], 11);
	CHECK_EQ(f[35], 1);
	CHECK_EQ(get16(f + 42 + 4), 77);   /* the quoted id */
	CHECK(!memcmp(f + 42 + 20, u, 8)); /* and the UDP header */
	CHECK_EQ(usnet_csum_fold(usnet_csum_add(0, f + 34, 36)), 0);
	/* Only fragment zero lets the source match it: a datagram that
	 * lacked it times out without a message. */
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 80, 1000 / 8, NULL, 0,
		    u + 1000, ul - 1000);
	inject(&h, f, n);
	fake_now += 1000 * MS;
	usnet_stack_poll(h.st);
	CHECK_EQ(counters(&h).ip_reasm_timeout, 2);
	CHECK_EQ(counters(&h).icmp_tx_time_exceeded, 1);
	CHECK_EQ(peer_drain(&h), 0);
	/* Overlap through the stack. */
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 78, IP_MF, NULL, 0, u,
		    1000);
	inject(&h, f, n);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 78, 992 / 8, NULL, 0,
		    u + 992, ul - 992);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).ip_reasm_overlap, 1);
	n = make_ip(f, MAC_PEER, MAC_US, IP_PEER, IP_US, USNET_IPPROTO_UDP, 79, IP_MF, NULL, 0, u,
		    1001);
	inject(&h, f, n);
	CHECK_EQ(counters(&h).ip_frag_bad, 1);
	CHECK_EQ(usnet_udp_recvfrom(s, buf, sizeof(buf), NULL), -EAGAIN);
	usnet_udp_close(s);
	harness_close(&h);
}

int main(void)
{
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ (i >> 8));
	test_orders();
	test_dup_overlap();
	test_bad();
	test_timeout();
	test_caps();
	test_stack_path();
	return check_done("test_stack_frag");
}
