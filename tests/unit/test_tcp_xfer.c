/* SPDX-License-Identifier: MIT */
/*
 * TCP bulk transfers between two stacks on one thread, through a wire the
 * test controls: stack A on pair:xa, stack B on pair:xb, and between the
 * other two ends a forwarder that drops frames (seeded, reproducible),
 * can strip SACK-permitted from SYNs (to exercise NewReno recovery), and
 * can cut the wire. The clock is injected: when nothing moves it jumps to
 * the next timer, so retransmission timeouts cost no real time.
 *
 * Each case checks that every byte arrives in order and intact, the
 * stream ends with a FIN, and that the recovery the case is about ran
 * (its counters): clean, 2% loss with SACK, 2% loss with NewReno, a zero
 * window (persist), a peer that vanishes (RTO -> -ETIMEDOUT), keepalive
 * (answered probes keep an idle connection, unanswered ones end it).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/stack.h>
#include <usnet/tcp.h>

#include "check.h"

#define MS 1000000ull

static uint64_t now_ns = 1000 * MS;

static uint64_t clock_fn(void *ctx)
{
	(void)ctx;
	return now_ns;
}

#define IP_A 0xc6120001u /* 198.18.0.1 */
#define IP_B 0xc6120002u /* 198.18.0.2 */
#define PORT 5001

struct wire {
	uint32_t loss_ppm;    /* drop probability, per million frames */
	uint32_t reorder_ppm; /* hold a frame behind the next 3 of its direction */
	struct {
		struct usnet_port *from;
		struct usnet_pkt *p;
		unsigned behind;
	} held[2];
	uint64_t reordered[2];		     /* [0]: A -> B, the data */
	const struct usnet_stack_conf *conf; /* both stacks' (NULL: defaults) */
	uint64_t b_ooo_drop;		     /* B's tcp_ooo_drop at the end */
	uint64_t a_dsack_in, a_sack_bad;     /* A's tcp_dsack_in, tcp_sack_bad_block */
	bool strip_sack;		     /* rewrite SACK-permitted in SYNs to NOPs */
	bool cut;			     /* drop everything */
	uint64_t rng;			     /* xorshift64 state */
	uint64_t dropped, forwarded;
};

struct pairx {
	struct usnet_port *a, *fa, *b, *fb;
	struct usnet_stack *sa, *sb;
	struct wire w;
};

static uint64_t rnd(struct wire *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)((i * 2654435761u) >> 11) ^ (uint8_t)(i >> 16);
}

static int setup(struct pairx *x, const char *tag, const struct usnet_stack_conf *conf)
{
	struct usnet_iface_conf ic = {0};
	struct usnet_stack_conf c = {0};
	char spec[64];

	if (conf)
		c = *conf;
	c.clock = clock_fn;
	snprintf(spec, sizeof(spec), "pair:%sa", tag);
	if (usnet_port_open(&x->a, spec, NULL) || usnet_port_open(&x->fa, spec, NULL))
		return -1;
	snprintf(spec, sizeof(spec), "pair:%sb", tag);
	if (usnet_port_open(&x->b, spec, NULL) || usnet_port_open(&x->fb, spec, NULL))
		return -1;
	if (usnet_stack_create(&x->sa, &c) || usnet_stack_create(&x->sb, &c))
		return -1;
	ic.prefix_len = 24;
	ic.port = x->a;
	ic.addr = IP_A;
	ic.mac[0] = 2, ic.mac[5] = 1;
	if (usnet_stack_add_iface(x->sa, &ic) != 0)
		return -1;
	ic.port = x->b;
	ic.addr = IP_B;
	ic.mac[5] = 2;
	if (usnet_stack_add_iface(x->sb, &ic) != 0)
		return -1;
	x->w.rng = 0x9e3779b97f4a7c15ull;
	return 0;
}

static void teardown(struct pairx *x)
{
	struct usnet_port *ends[4] = {x->fa, x->fb, x->a, x->b};
	struct usnet_pkt *p[32];
	uint16_t n;

	for (int h = 0; h < 2; h++)
		if (x->w.held[h].p)
			usnet_pkt_free(x->w.held[h].p);
	usnet_stack_destroy(x->sa);
	usnet_stack_destroy(x->sb);
	/* The forwarder's buffers (fa's and fb's pools) wait on the other
	 * pair's wire or return ring: take them in, then reclaim them, so
	 * that no pool goes while another pair still holds its buffers. */
	for (int i = 0; i < 4; i++)
		while ((n = usnet_rx_burst(ends[i], 0, p, 32)))
			usnet_pkt_free_bulk(p, n);
	usnet_tx_burst(x->fa, 0, NULL, 0);
	usnet_tx_burst(x->fb, 0, NULL, 0);
	for (int i = 0; i < 4; i++)
		usnet_port_close(ends[i]);
}

/* RFC 1624 is overkill here: recompute the TCP checksum of the frame. */
static void strip_sack_perm(uint8_t *f, uint16_t len)
{
	struct usnet_ipv4_hdr *ip = (struct usnet_ipv4_hdr *)(f + 14);
	uint32_t ihl = (ip->ver_ihl & 0xfu) * 4, tl = ntohs(ip->total_len);
	uint8_t *t = f + 14 + ihl;
	uint32_t off, tcp_len, sum;

	if (len < 14 + ihl + 20 || ip->proto != USNET_IPPROTO_TCP || !(t[13] & 0x02))
		return;
	off = (uint32_t)(t[12] >> 4) * 4;
	for (uint32_t i = 20; i + 1 < off;) {
		if (t[i] == 0 || t[i] == 1) {
			if (t[i] == 0)
				break;
			i++;
			continue;
		}
		if (t[i] == 4 && t[i + 1] == 2) {
			t[i] = t[i + 1] = 1;
			break;
		}
		i += t[i + 1] ? t[i + 1] : 1;
	}
	tcp_len = tl - ihl;
	t[16] = t[17] = 0;
	sum = (ntohl(ip->src) >> 16) + (ntohl(ip->src) & 0xffff) + (ntohl(ip->dst) >> 16) +
	      (ntohl(ip->dst) & 0xffff) + 6 + tcp_len;
	{
		uint16_t c = usnet_csum_fold(usnet_csum_add(sum, t, tcp_len));

		memcpy(t + 16, &c, 2); /* the sum is in network order already */
	}
}

/* Frames from one end to the other, through the impairments; returns
 * how many moved. */
static unsigned forward(struct wire *w, struct usnet_port *from, struct usnet_port *to)
{
	struct usnet_pkt *p[32], *keep[64];
	uint16_t n = usnet_rx_burst(from, 0, p, 32), k = 0, sent;
	int h = w->held[0].from == from || !w->held[0].from ? 0 : 1;

	w->held[h].from = from;
	for (uint16_t i = 0; i < n; i++) {
		if (w->cut || (w->loss_ppm && rnd(w) % 1000000 < w->loss_ppm)) {
			w->dropped++;
			usnet_pkt_free(p[i]);
			continue;
		}
		if (w->strip_sack)
			strip_sack_perm(usnet_pkt_data(p[i]), p[i]->len);
		if (w->reorder_ppm && !w->held[h].p && rnd(w) % 1000000 < w->reorder_ppm) {
			/* Overtaken by the next 3 frames of this direction. */
			w->held[h].p = p[i];
			w->held[h].behind = 0;
			w->reordered[h]++;
			continue;
		}
		keep[k++] = p[i];
		if (w->held[h].p && ++w->held[h].behind == 3) {
			keep[k++] = w->held[h].p;
			w->held[h].p = NULL;
		}
	}
	sent = usnet_tx_burst(to, 0, keep, k);
	if (sent < k)
		usnet_pkt_free_bulk(keep + sent, (uint32_t)(k - sent));
	w->forwarded += sent;
	return n;
}

/* The wire went quiet: a held frame goes, nothing will overtake it. */
static unsigned release_held(struct wire *w, struct usnet_port *fa, struct usnet_port *fb)
{
	unsigned moved = 0;

	for (int h = 0; h < 2; h++) {
		struct usnet_pkt *p = w->held[h].p;

		if (!p)
			continue;
		w->held[h].p = NULL;
		if (usnet_tx_burst(w->held[h].from == fa ? fb : fa, 0, &p, 1) != 1)
			usnet_pkt_free(p);
		moved++;
	}
	return moved;
}

/* The next moment either stack has a timer due (ms from now, -1: none). */
static int next_timer_ms(struct pairx *x)
{
	int a = usnet_stack_arm(x->sa), b = usnet_stack_arm(x->sb);

	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

struct xfer {
	uint64_t total;		  /* bytes A sends */
	uint64_t sent, recvd;	  /* so far */
	bool eof, bad_byte;	  /* B saw the FIN; a byte differed */
	bool b_reads;		  /* B reads (false: it leaves the window closed) */
	int a_err;		  /* A's error, once it has one */
	uint64_t max_virtual_ms;  /* give up after this much virtual time */
	uint32_t max_stall_loops; /* or this many loops without progress */
	uint64_t pause_at;	  /* return once B has this many bytes (0: no) */
	bool no_shut;		  /* A keeps the connection open after sending */
};

/* A connects to B and sends x->total bytes, B reads and checks them. */
static void run(struct pairx *x, struct xfer *t, struct usnet_tcp *a, struct usnet_tcp *l,
		struct usnet_tcp **bp)
{
	static uint8_t buf[65536];
	uint64_t start = now_ns;
	uint32_t stall = 0;
	bool shut = false;

	for (uint64_t loop = 0; loop < 20000000; loop++) {
		unsigned moved = 0;
		long r;

		usnet_stack_poll(x->sa);
		usnet_stack_poll(x->sb);
		if (!*bp && usnet_tcp_accept(l, bp, NULL, NULL) == 0)
			moved++;
		while (t->sent < t->total) {
			uint64_t want = t->total - t->sent;
			size_t n = want < sizeof(buf) ? (size_t)want : sizeof(buf);

			for (size_t i = 0; i < n; i++)
				buf[i] = pattern(t->sent + i);
			r = usnet_tcp_send(a, buf, n);
			if (r <= 0) {
				if (r != -EAGAIN && r != -ENOTCONN)
					t->a_err = (int)r;
				break;
			}
			t->sent += (uint64_t)r;
			moved++;
		}
		if (t->sent == t->total && !shut && t->total && !t->no_shut) {
			CHECK_EQ(usnet_tcp_shutdown(a, USNET_SHUT_WR), 0);
			shut = true;
		}
		if (*bp && t->b_reads && !t->eof) {
			while ((r = usnet_tcp_recv(*bp, buf, sizeof(buf))) > 0) {
				for (long i = 0; i < r; i++)
					if (buf[i] != pattern(t->recvd + (uint64_t)i))
						t->bad_byte = true;
				t->recvd += (uint64_t)r;
				moved++;
			}
			if (r == 0)
				t->eof = true;
		}
		if (!t->a_err) {
			int e = usnet_tcp_error(a);

			if (e)
				t->a_err = e;
		}
		if (t->eof || t->a_err || (t->pause_at && t->recvd >= t->pause_at))
			return;
		moved += forward(&x->w, x->fa, x->fb);
		moved += forward(&x->w, x->fb, x->fa);
		if (!moved)
			moved += release_held(&x->w, x->fa, x->fb);
		if (moved) {
			stall = 0;
			now_ns += 20000; /* 20 us a round: the wire's delay */
		} else {
			int ms = next_timer_ms(x);

			now_ns += ms > 0 ? (uint64_t)ms * MS : 1000000;
			if (++stall > t->max_stall_loops)
				return;
		}
		if ((now_ns - start) / MS > t->max_virtual_ms)
			return;
	}
}

static void connect_pair(struct pairx *x, struct usnet_tcp **a, struct usnet_tcp **l,
			 enum usnet_tcp_cc cc)
{
	CHECK_EQ(usnet_tcp_open(x->sb, l, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(*l, 0, PORT), 0);
	CHECK_EQ(usnet_tcp_listen(*l, 4), 0);
	CHECK_EQ(usnet_tcp_open(x->sa, a, NULL), 0);
	CHECK_EQ(usnet_tcp_set_cc(*a, cc), 0);
	CHECK_EQ(usnet_tcp_connect(*a, IP_B, PORT), -EINPROGRESS);
}

static uint64_t counter(struct usnet_stack *st, const char *name)
{
	struct usnet_stack_counters c;

	usnet_stack_counters(st, &c);
	for (unsigned i = 0; i < usnet_stack_counter_count(); i++)
		if (!strcmp(usnet_stack_counter_name(i), name))
			return usnet_stack_counter_value(&c, i);
	CHECK(!"no such counter");
	return 0;
}

static uint64_t last_copy_inflight;

/* A whole transfer through a wire impaired as imp says; returns A's
 * info at the end, the counter ctr_name of A's stack, and the wire. */
static void transfer_w(const char *tag, uint64_t bytes, struct wire *imp, enum usnet_tcp_cc cc,
		       struct usnet_tcp_info *ai, uint64_t *ctr_out, const char *ctr_name)
{
	struct pairx x = {0};
	struct usnet_tcp *a, *l, *b = NULL;
	struct xfer t = {
	    .total = bytes, .b_reads = true, .max_virtual_ms = 600000, .max_stall_loops = 100000};
	uint32_t loss_ppm = imp->loss_ppm;

	CHECK_EQ(setup(&x, tag, imp->conf), 0);
	x.w.loss_ppm = imp->loss_ppm;
	x.w.reorder_ppm = imp->reorder_ppm;
	x.w.strip_sack = imp->strip_sack;
	connect_pair(&x, &a, &l, cc);
	run(&x, &t, a, l, &b);
	CHECK(t.eof);
	/* B has it all; let A take in the last ACKs. */
	t.eof = false;
	t.b_reads = false;
	t.max_virtual_ms = 1000;
	t.max_stall_loops = 10;
	run(&x, &t, a, l, &b);
	CHECK_EQ(t.a_err, 0);
	CHECK_EQ(t.sent, bytes);
	CHECK_EQ(t.recvd, bytes);
	CHECK(!t.bad_byte);
	CHECK_EQ(usnet_tcp_info(a, ai), 0);
	if (ctr_out)
		*ctr_out = counter(x.sa, ctr_name);
	last_copy_inflight = counter(x.sa, "tcp_tx_copy_inflight");
	printf("%s: %llu bytes, loss %u ppm, dropped %llu, reordered %llu, retransmits %llu, "
	       "rto %llu, fast %llu sack %llu, dsack %llu undo %llu, copies %llu, cwnd %u, "
	       "srtt %u us, %s\n",
	       tag, (unsigned long long)t.recvd, loss_ppm, (unsigned long long)x.w.dropped,
	       (unsigned long long)x.w.reordered[0],
	       (unsigned long long)counter(x.sa, "tcp_retransmits"),
	       (unsigned long long)counter(x.sa, "tcp_rto"),
	       (unsigned long long)counter(x.sa, "tcp_fast_recovery"),
	       (unsigned long long)counter(x.sa, "tcp_sack_recovery"),
	       (unsigned long long)counter(x.sa, "tcp_dsack_rx"),
	       (unsigned long long)counter(x.sa, "tcp_undo"),
	       (unsigned long long)last_copy_inflight, ai->cwnd, ai->rtt_us,
	       ai->sack ? "sack" : "no sack");
	imp->dropped = x.w.dropped;
	imp->b_ooo_drop = counter(x.sb, "tcp_ooo_drop");
	imp->a_dsack_in = counter(x.sa, "tcp_dsack_in");
	imp->a_sack_bad = counter(x.sa, "tcp_sack_bad_block");
	imp->reordered[0] = x.w.reordered[0];
	imp->reordered[1] = x.w.reordered[1];
	usnet_tcp_close(a);
	if (b)
		usnet_tcp_close(b);
	usnet_tcp_close(l);
	teardown(&x);
}

static void transfer(const char *tag, uint64_t bytes, uint32_t loss_ppm, bool strip_sack,
		     enum usnet_tcp_cc cc, struct usnet_tcp_info *ai, uint64_t *ctr_out,
		     const char *ctr_name)
{
	struct wire w = {.loss_ppm = loss_ppm, .strip_sack = strip_sack};

	transfer_w(tag, bytes, &w, cc, ai, ctr_out, ctr_name);
}

static void test_clean(void)
{
	struct usnet_tcp_info ai;
	uint64_t rx;

	transfer("xclean", 8u << 20, 0, false, USNET_TCP_CC_CUBIC, &ai, &rx, "tcp_retransmits");
	CHECK_EQ(rx, 0);
	CHECK(ai.sack && ai.timestamps && ai.wscale);
	CHECK_EQ(ai.bytes_acked, 8u << 20);
	CHECK(ai.cwnd > 10u * ai.mss); /* it grew */
	CHECK(ai.rtt_us > 0);
}

static void test_loss_sack(void)
{
	struct usnet_tcp_info ai;
	uint64_t rec;

	transfer("xsack", 4u << 20, 20000, false, USNET_TCP_CC_CUBIC, &ai, &rec,
		 "tcp_sack_recovery");
	CHECK(ai.sack);
	/* The pair: port holds a sent buffer until the other end returns
	 * it; resending such a segment went out in a copy (and the bytes
	 * still arrived intact, checked in transfer()). */
	CHECK(last_copy_inflight > 0);
	CHECK(ai.retransmits > 0);
	CHECK(rec > 0);
}

static void test_loss_newreno(void)
{
	struct usnet_tcp_info ai;
	uint64_t rec;

	transfer("xreno", 4u << 20, 20000, true, USNET_TCP_CC_NEWRENO, &ai, &rec,
		 "tcp_fast_recovery");
	CHECK(!ai.sack);
	CHECK_EQ(ai.cc, USNET_TCP_CC_NEWRENO);
	CHECK(ai.retransmits > 0);
	CHECK(rec > 0);
}

/* 5 % of the frames overtaken by the next 3 (fwd --reorder 5), nothing
 * lost: each reordering looks like a loss to DupThresh 3 once. B reports
 * the retransmissions that arrive twice (D-SACK, RFC 2883), A undoes
 * those recoveries and raises DupThresh: after the first few, reordering
 * costs no more retransmissions (one each, 13x fewer, before the fix). */
static void test_reorder(void)
{
	struct wire w = {.reorder_ppm = 50000};
	struct usnet_tcp_info ai;
	uint64_t undo;

	transfer_w("xreord", 4u << 20, &w, USNET_TCP_CC_CUBIC, &ai, &undo, "tcp_undo");
	CHECK(ai.sack);
	CHECK(w.reordered[0] > 100);
	CHECK(undo > 0);
	/* The D-SACKs that drove the undo are counted as such, not as bad
	 * SACK blocks (the kernel sends one for every duplicate it gets). */
	CHECK(w.a_dsack_in > 0);
	CHECK_EQ(w.a_sack_bad, 0);
	/* Before: ~ one retransmission per reordered data frame. */
	CHECK(ai.retransmits * 10 < w.reordered[0]);
}

/* 2 % loss both ways over 32 MiB: some retransmissions are lost too.
 * SACKs of data sent after one show it, and it goes again at once;
 * before, each waited for the retransmission timer (13 RTOs in this
 * run, each one back to a cwnd of one segment). */
static void test_lost_retrans(void)
{
	struct wire w = {.loss_ppm = 20000};
	struct usnet_tcp_info ai;
	uint64_t lr;

	transfer_w("xlostrx", 32u << 20, &w, USNET_TCP_CC_CUBIC, &ai, &lr, "tcp_lost_retrans");
	CHECK(ai.sack);
	CHECK(lr > 0);
	CHECK(ai.rto_expiries <= 2);
}

/* The out-of-order queue holds what the window allows: with
 * tcp_ooo_segs 8 and a 1 MiB window, B holds every segment A sends past
 * a hole (before, it dropped those beyond the 8th, unSACKed, and A sent
 * them all again). */
static void test_ooo_window(void)
{
	struct usnet_stack_conf conf = {.tcp_ooo_segs = 8};
	struct wire w = {.loss_ppm = 2000, .conf = &conf};
	struct usnet_tcp_info ai;
	uint64_t q;

	transfer_w("xooo", 16u << 20, &w, USNET_TCP_CC_CUBIC, &ai, &q, "tcp_retransmits");
	CHECK(w.dropped > 0);
	CHECK_EQ(w.b_ooo_drop, 0);
}

/* B never reads: the window closes, A probes it (persist), and once B
 * reads everything arrives. */
static void test_zero_window(void)
{
	struct usnet_stack_conf conf = {.tcp_rcvbuf = 65536, .tcp_sndbuf = 65536};
	struct pairx x = {0};
	struct usnet_tcp *a, *l, *b = NULL;
	struct xfer t = {
	    .total = 1u << 20, .b_reads = false, .max_virtual_ms = 30000, .max_stall_loops = 50};
	uint64_t probes;

	CHECK_EQ(setup(&x, "xzwnd", &conf), 0);
	connect_pair(&x, &a, &l, USNET_TCP_CC_CUBIC);
	run(&x, &t, a, l, &b);
	CHECK(b != NULL);
	CHECK_EQ(t.a_err, 0);
	CHECK(t.sent < t.total); /* blocked by the window */
	probes = counter(x.sa, "tcp_persist_probes");
	CHECK(probes > 0);
	t.b_reads = true;
	t.max_stall_loops = 100000;
	t.max_virtual_ms = 600000;
	run(&x, &t, a, l, &b);
	CHECK_EQ(t.a_err, 0);
	CHECK_EQ(t.recvd, t.total);
	CHECK(t.eof);
	CHECK(!t.bad_byte);
	usnet_tcp_close(a);
	usnet_tcp_close(b);
	usnet_tcp_close(l);
	teardown(&x);
}

/* The wire goes dead mid-transfer: A gives up after tcp_retries
 * backed-off retransmissions with -ETIMEDOUT, and says so. */
static void test_vanish(void)
{
	struct usnet_stack_conf conf = {.tcp_retries = 5};
	struct usnet_tcp_info ai;
	struct pairx x = {0};
	struct usnet_tcp *a, *l, *b = NULL;
	struct xfer t = {.total = 8u << 20,
			 .b_reads = true,
			 .max_virtual_ms = 600000,
			 .max_stall_loops = 100000,
			 .pause_at = 1u << 20};

	CHECK_EQ(setup(&x, "xgone", &conf), 0);
	connect_pair(&x, &a, &l, USNET_TCP_CC_CUBIC);
	run(&x, &t, a, l, &b); /* 1 MiB through: under way */
	CHECK(t.recvd >= t.pause_at && t.recvd < t.total);
	x.w.cut = true;
	t.pause_at = 0;
	t.max_virtual_ms = 3600000;
	run(&x, &t, a, l, &b);
	CHECK_EQ(t.a_err, -ETIMEDOUT);
	CHECK_EQ(counter(x.sa, "tcp_rto"), 5);
	/* The error was taken by usnet_tcp_error() in run(); the connection is over. */
	CHECK(usnet_tcp_send(a, "x", 1) < 0);
	CHECK_EQ(usnet_tcp_info(a, &ai), 0);
	CHECK_EQ(ai.state, USNET_TCP_CLOSED);
	usnet_tcp_close(a);
	usnet_tcp_close(b);
	usnet_tcp_close(l);
	teardown(&x);
}

/* An idle connection with keepalive: probes answered keep it; once the
 * wire is cut, count unanswered probes end it with -ETIMEDOUT. */
static void test_keepalive(void)
{
	struct pairx x = {0};
	struct usnet_tcp *a, *l, *b = NULL;
	struct xfer t = {.total = 1000,
			 .b_reads = true,
			 .max_virtual_ms = 600000,
			 .max_stall_loops = 100000,
			 .pause_at = 1000,
			 .no_shut = true};
	struct xfer idle = {.b_reads = true, .max_virtual_ms = 5000, .max_stall_loops = 100000};

	CHECK_EQ(setup(&x, "xka", NULL), 0);
	connect_pair(&x, &a, &l, USNET_TCP_CC_CUBIC);
	CHECK_EQ(usnet_tcp_set_keepalive(a, 1000, 200, 3), 0);
	run(&x, &t, a, l, &b);
	CHECK_EQ(t.recvd, 1000);
	/* 5 s idle: a probe each second of silence, each answered. */
	idle.recvd = idle.sent = 0;
	run(&x, &idle, a, l, &b);
	CHECK_EQ(idle.a_err, 0);
	CHECK(counter(x.sa, "tcp_keepalive_probes") >= 3);
	CHECK_EQ(counter(x.sa, "tcp_keepalive_drop"), 0);
	x.w.cut = true;
	idle.max_virtual_ms = 60000;
	run(&x, &idle, a, l, &b);
	CHECK_EQ(idle.a_err, -ETIMEDOUT);
	CHECK_EQ(counter(x.sa, "tcp_keepalive_drop"), 1);
	usnet_tcp_close(a);
	usnet_tcp_close(b);
	usnet_tcp_close(l);
	teardown(&x);
}

int main(void)
{
	test_clean();
	test_loss_sack();
	test_loss_newreno();
	test_reorder();
	test_lost_retrans();
	test_ooo_window();
	test_zero_window();
	test_vanish();
	test_keepalive();
	return check_done("test_tcp_xfer");
}
