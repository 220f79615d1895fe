/* SPDX-License-Identifier: MIT */
/*
 * TCP connections between two stacks over a pair: port, with an injected
 * clock: handshake, data both ways (copy and zero-copy), half-close,
 * simultaneous open, close with unread data (RST), TIME_WAIT expiry and
 * its bound, many connections through the 4-tuple hash, listen backlog.
 */
#include "tcp_util.h"

static void test_handshake_data(void)
{
	static uint8_t out[200000], in[200000];
	struct usnet_tcp *ls, *cl, *sv;
	struct usnet_tcp_info ia, ib;
	struct usnet_addr4 a;
	size_t got = 0, sent = 0;
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_hs", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 80), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 4), 0);
	CHECK_EQ(usnet_tcp_accept(ls, &sv, NULL, NULL), -EAGAIN);
	CHECK_EQ(duo_connect(&d, ls, 80, &cl, &sv), 0);
	if (!sv)
		goto out;
	CHECK_EQ(tcp_state(sv), USNET_TCP_ESTABLISHED);
	CHECK_EQ(usnet_tcp_peer(sv, &a), 0);
	CHECK_EQ(a.ip, IP_US);
	CHECK_EQ(usnet_tcp_local(cl, &a), 0);
	CHECK_EQ(a.ip, IP_US);
	CHECK(a.port >= 49152);
	/* Both ends agreed on every option. */
	usnet_tcp_info(cl, &ia);
	usnet_tcp_info(sv, &ib);
	CHECK(ia.sack && ia.timestamps && ia.wscale);
	CHECK(ib.sack && ib.timestamps && ib.wscale);
	CHECK_EQ(ia.mss, 1460);
	CHECK_EQ(ib.mss, 1460);
	CHECK_EQ(ia.snd_wscale, ib.rcv_wscale);
	CHECK(usnet_tcp_events(cl) & USNET_EV_WRITE);

	/* 200 KB a -> b, checked byte for byte. */
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + (i >> 9));
	for (int r = 0; r < 20000 && got < sizeof(out); r++) {
		long n;

		if (sent < sizeof(out)) {
			n = usnet_tcp_send(cl, out + sent, sizeof(out) - sent);
			CHECK(n > 0 || n == -EAGAIN);
			if (n > 0)
				sent += (size_t)n;
		}
		fake_now += MS;
		duo_poll(&d, 1);
		n = usnet_tcp_recv(sv, in + got, sizeof(in) - got);
		CHECK(n > 0 || n == -EAGAIN);
		if (n > 0)
			got += (size_t)n;
	}
	CHECK_EQ(got, sizeof(out));
	CHECK(!memcmp(in, out, sizeof(out)));

	/* b -> a, read zero-copy. */
	CHECK_EQ(usnet_tcp_send(sv, "hello, world", 12), 12);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_events(cl) & USNET_EV_READ));
	{
		struct usnet_tcp_iov iov[4];
		int k = usnet_tcp_recv_peek(cl, iov, 4);

		CHECK_EQ(k, 1);
		if (k == 1) {
			CHECK_EQ(iov[0].len, 12);
			CHECK(!memcmp(iov[0].data, "hello, world", 12));
		}
		CHECK_EQ(usnet_tcp_recv_consume(cl, 5), 0);
		CHECK_EQ(usnet_tcp_recv(cl, in, sizeof(in)), 7);
		CHECK(!memcmp(in, ", world", 7));
		CHECK_EQ(usnet_tcp_recv_consume(cl, 1), -EINVAL);
	}
	CHECK_EQ(usnet_tcp_recv(cl, in, sizeof(in)), -EAGAIN);
	CHECK_EQ(stack_ctr(d.a).tcp_bad_csum + stack_ctr(d.b).tcp_bad_csum, 0);
	usnet_tcp_abort(cl);
	CHECK(DUO_UNTIL(&d, 100, usnet_tcp_error(sv) == -ECONNRESET));
	CHECK_EQ(tcp_state(sv), USNET_TCP_CLOSED);
	CHECK_EQ(usnet_tcp_send(sv, "x", 1), -EPIPE);
	usnet_tcp_close(sv);
out:
	usnet_tcp_close(ls);
	duo_close(&d);
}

/* a closes its direction; b still sends; then b closes: a goes through
 * FIN_WAIT_1/2 and TIME_WAIT, b through CLOSE_WAIT and LAST_ACK. */
static void test_half_close(void)
{
	struct usnet_stack_conf cf = {.tcp_time_wait_ms = 5000};
	struct usnet_tcp *ls, *cl, *sv;
	char buf[64];
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_half", &cf, &cf), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 0), 0);
	{
		struct usnet_addr4 la;

		CHECK_EQ(usnet_tcp_local(ls, &la), 0);
		CHECK_EQ(duo_connect(&d, ls, la.port, &cl, &sv), 0);
	}
	if (!sv)
		goto out;
	CHECK_EQ(usnet_tcp_send(cl, "last words", 10), 10);
	CHECK_EQ(usnet_tcp_shutdown(cl, USNET_SHUT_WR), 0);
	CHECK_EQ(usnet_tcp_send(cl, "more", 4), -EPIPE);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(sv) == USNET_TCP_CLOSE_WAIT));
	CHECK_EQ(usnet_tcp_recv(sv, buf, sizeof(buf)), 10);
	CHECK_EQ(usnet_tcp_recv(sv, buf, sizeof(buf)), 0); /* end of stream */
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_FIN_WAIT_2));
	/* The other direction still works. */
	CHECK_EQ(usnet_tcp_send(sv, "reply", 5), 5);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_recv(cl, buf, sizeof(buf)) == 5));
	CHECK(!memcmp(buf, "reply", 5));
	CHECK_EQ(usnet_tcp_shutdown(sv, USNET_SHUT_WR), 0);
	CHECK_EQ(tcp_state(sv), USNET_TCP_LAST_ACK);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_TIME_WAIT));
	CHECK_EQ(usnet_tcp_recv(cl, buf, sizeof(buf)), 0);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(sv) == USNET_TCP_CLOSED));
	CHECK_EQ(usnet_tcp_error(sv), 0);
	/* TIME_WAIT ends after tcp_time_wait_ms, not before. */
	fake_now += 4000 * MS;
	duo_poll(&d, 1);
	CHECK_EQ(tcp_state(cl), USNET_TCP_TIME_WAIT);
	fake_now += 1100 * MS;
	duo_poll(&d, 1);
	CHECK_EQ(tcp_state(cl), USNET_TCP_CLOSED);
	usnet_tcp_close(cl);
	usnet_tcp_close(sv);
out:
	usnet_tcp_close(ls);
	duo_close(&d);
}

/* Both ends connect to each other at once: SYNs cross (RFC 9293 figure 8). */
static void test_simultaneous_open(void)
{
	struct usnet_tcp *x, *y;
	char buf[16];
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_simo", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.a, &x, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &y, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(x, 0, 5000), 0);
	CHECK_EQ(usnet_tcp_bind(y, 0, 6000), 0);
	CHECK_EQ(usnet_tcp_connect(x, IP_PEER, 6000), -EINPROGRESS);
	CHECK_EQ(usnet_tcp_connect(y, IP_US, 5000), -EINPROGRESS);
	CHECK_EQ(usnet_tcp_connect(y, IP_US, 5000), -EALREADY);
	CHECK(DUO_UNTIL(&d, 3000,
			tcp_state(x) == USNET_TCP_ESTABLISHED &&
			    tcp_state(y) == USNET_TCP_ESTABLISHED));
	CHECK(stack_ctr(d.a).tcp_established == 1 && stack_ctr(d.b).tcp_established == 1);
	CHECK_EQ(usnet_tcp_send(x, "sim", 3), 3);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_recv(y, buf, sizeof(buf)) == 3));
	CHECK(!memcmp(buf, "sim", 3));
	usnet_tcp_close(x);
	usnet_tcp_close(y);
	duo_close(&d);
}

/* close() with unread data: a RST, not a FIN (RFC 2525 2.17). */
static void test_close_unread(void)
{
	struct usnet_tcp *ls, *cl, *sv;
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_unread", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 81), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 0), 0);
	CHECK_EQ(duo_connect(&d, ls, 81, &cl, &sv), 0);
	if (!sv)
		goto out;
	CHECK_EQ(usnet_tcp_send(cl, "unread", 6), 6);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_events(sv) & USNET_EV_READ));
	usnet_tcp_close(sv);
	CHECK_EQ(stack_ctr(d.b).tcp_close_unread, 1);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_CLOSED));
	CHECK_EQ(usnet_tcp_recv(cl, NULL, 0), -ECONNRESET);
	CHECK_EQ(stack_ctr(d.a).tcp_resets_rx, 1);
	usnet_tcp_close(cl);
out:
	usnet_tcp_close(ls);
	duo_close(&d);
}

/* Connections closed by the client: TIME_WAIT at most tcp_max_time_wait
 * of them, the oldest freed first; expiry frees the rest. */
static void test_time_wait_bound(void)
{
	struct usnet_stack_conf ca = {.tcp_max_time_wait = 3, .tcp_time_wait_ms = 10000};
	struct usnet_tcp *ls, *cl[5], *sv[5];
	struct duo d;
	int i;

	CHECK_EQ(duo_open_conf(&d, "tcp_tw", &ca, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 82), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 8), 0);
	for (i = 0; i < 5; i++) {
		CHECK_EQ(duo_connect(&d, ls, 82, &cl[i], &sv[i]), 0);
		if (!sv[i])
			break;
		/* Client first: it ends in TIME_WAIT; it keeps its handle. */
		CHECK_EQ(usnet_tcp_shutdown(cl[i], USNET_SHUT_WR), 0);
		CHECK(DUO_UNTIL(&d, 500, tcp_state(sv[i]) == USNET_TCP_CLOSE_WAIT));
		usnet_tcp_close(sv[i]);
		CHECK(DUO_UNTIL(&d, 500,
				tcp_state(cl[i]) == USNET_TCP_TIME_WAIT ||
				    tcp_state(cl[i]) == USNET_TCP_CLOSED));
	}
	if (i < 5)
		goto out;
	CHECK_EQ(stack_ctr(d.a).tcp_time_wait_recycled, 2);
	CHECK_EQ(tcp_state(cl[0]), USNET_TCP_CLOSED);
	CHECK_EQ(tcp_state(cl[1]), USNET_TCP_CLOSED);
	for (i = 2; i < 5; i++)
		CHECK_EQ(tcp_state(cl[i]), USNET_TCP_TIME_WAIT);
	fake_now += 10001 * MS;
	duo_poll(&d, 1);
	for (i = 2; i < 5; i++)
		CHECK_EQ(tcp_state(cl[i]), USNET_TCP_CLOSED);
	for (i = 0; i < 5; i++)
		usnet_tcp_close(cl[i]);
out:
	usnet_tcp_close(ls);
	duo_close(&d);
}

/* 1000 connections at once: each finds its own through the 4-tuple hash. */
#define NCONN 1000
static void test_many(void)
{
	static struct usnet_tcp *cl[NCONN], *sv[NCONN];
	struct usnet_stack_conf cb = {.tcp_syn_backlog = 1024};
	struct usnet_tcp *ls;
	int ok = 0, acc = 0, est = 0;
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_many", NULL, &cb), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 83), 0);
	CHECK_EQ(usnet_tcp_listen(ls, NCONN), 0);
	for (int i = 0; i < NCONN; i++) {
		CHECK_EQ(usnet_tcp_open(d.a, &cl[i], NULL), 0);
		CHECK_EQ(usnet_tcp_connect(cl[i], IP_PEER, 83), -EINPROGRESS);
		if (i % 16 == 15)
			duo_poll(&d, 2);
	}
	for (int r = 0; r < 3000 && (acc < NCONN || est < NCONN); r++) {
		fake_now += MS;
		duo_poll(&d, 1);
		while (acc < NCONN && usnet_tcp_accept(ls, &sv[acc], NULL, NULL) == 0)
			acc++;
		est = 0;
		for (int i = 0; i < NCONN; i++)
			est += tcp_state(cl[i]) == USNET_TCP_ESTABLISHED;
	}
	CHECK_EQ(acc, NCONN);
	CHECK_EQ(est, NCONN);
	if (acc < NCONN)
		goto out;
	/* Each client sends its index; the server that reads it echoes it
	 * back: every byte lands on the right connection. */
	for (int i = 0; i < NCONN; i++) {
		uint16_t v = (uint16_t)i;

		CHECK_EQ(usnet_tcp_send(cl[i], &v, 2), 2);
	}
	for (int r = 0; r < 500 && ok < NCONN; r++) {
		fake_now += MS;
		duo_poll(&d, 1);
		for (int i = 0; i < NCONN; i++) {
			uint16_t v;

			if (usnet_tcp_recv(sv[i], &v, 2) == 2)
				CHECK_EQ(usnet_tcp_send(sv[i], &v, 2), 2);
		}
		ok = 0;
		for (int i = 0; i < NCONN; i++) {
			struct usnet_tcp_iov iov;

			if (usnet_tcp_recv_peek(cl[i], &iov, 1) == 1 && iov.len == 2) {
				uint16_t v;

				memcpy(&v, iov.data, 2);
				CHECK_EQ(v, i);
				ok++;
			}
		}
	}
	CHECK_EQ(ok, NCONN);
	for (int i = 0; i < NCONN; i++) {
		usnet_tcp_abort(cl[i]);
		usnet_tcp_close(sv[i]);
	}
out:
	usnet_tcp_close(ls);
	duo_close(&d); /* frees what is left (ASan checks) */
}

/* The server closes first and sits in TIME_WAIT; the client's new SYN
 * from the same port (a higher ISN and timestamp) takes the 4-tuple. */
static void test_time_wait_reuse(void)
{
	struct usnet_tcp *ls, *cl, *sv, *cl2, *sv2 = NULL;
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_twreuse", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 84), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 4), 0);
	CHECK_EQ(usnet_tcp_open(d.a, &cl, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(cl, 0, 5555), 0);
	CHECK_EQ(usnet_tcp_connect(cl, IP_PEER, 84), -EINPROGRESS);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_accept(ls, &sv, NULL, NULL) == 0));
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_ESTABLISHED));
	usnet_tcp_close(sv); /* server first */
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_CLOSE_WAIT));
	usnet_tcp_close(cl);
	/* The client's LAST_ACK ends; the server's TIME_WAIT stays. */
	(void)DUO_UNTIL(&d, 100, 0);
	CHECK_EQ(usnet_tcp_open(d.a, &cl2, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(cl2, 0, 5555), 0);
	CHECK_EQ(usnet_tcp_connect(cl2, IP_PEER, 84), -EINPROGRESS);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_accept(ls, &sv2, NULL, NULL) == 0));
	CHECK_EQ(stack_ctr(d.b).tcp_time_wait_reused, 1);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl2) == USNET_TCP_ESTABLISHED));
	if (sv2)
		usnet_tcp_abort(sv2);
	usnet_tcp_abort(cl2);
	usnet_tcp_close(ls);
	duo_close(&d);
}

/* Data for a socket the application closed: a RST ends it. */
static void test_data_after_close(void)
{
	struct usnet_tcp *ls, *cl, *sv;
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_dac", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 85), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 0), 0);
	CHECK_EQ(duo_connect(&d, ls, 85, &cl, &sv), 0);
	if (!sv)
		goto out;
	usnet_tcp_close(sv);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_CLOSE_WAIT));
	CHECK_EQ(usnet_tcp_send(cl, "too late", 8), 8);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(cl) == USNET_TCP_CLOSED));
	CHECK_EQ(usnet_tcp_error(cl), -ECONNRESET);
	CHECK_EQ(stack_ctr(d.b).tcp_data_after_close, 1);
	usnet_tcp_close(cl);
out:
	usnet_tcp_close(ls);
	duo_close(&d);
}

/* A full accept queue drops SYNs (as Linux does) until accept() makes
 * room; the retransmitted SYN then gets through. */
static void test_backlog(void)
{
	struct usnet_tcp *ls, *c1, *c2, *s1 = NULL, *s2 = NULL;
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_backlog", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 86), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 1), 0);
	CHECK_EQ(usnet_tcp_open(d.a, &c1, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.a, &c2, NULL), 0);
	CHECK_EQ(usnet_tcp_connect(c1, IP_PEER, 86), -EINPROGRESS);
	CHECK(DUO_UNTIL(&d, 500, tcp_state(c1) == USNET_TCP_ESTABLISHED));
	CHECK_EQ(usnet_tcp_connect(c2, IP_PEER, 86), -EINPROGRESS);
	CHECK(DUO_UNTIL(&d, 100, stack_ctr(d.b).tcp_backlog_full == 1));
	CHECK_EQ(tcp_state(c2), USNET_TCP_SYN_SENT);
	CHECK_EQ(usnet_tcp_accept(ls, &s1, NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_accept(ls, &s2, NULL, NULL), -EAGAIN);
	/* The SYN goes again after the initial RTO (1 s). */
	CHECK(DUO_UNTIL(&d, 5000, usnet_tcp_accept(ls, &s2, NULL, NULL) == 0));
	CHECK(s1 && s2 && s1 != s2);
	if (s2)
		CHECK_EQ(tcp_state(s2), USNET_TCP_ESTABLISHED);
	usnet_tcp_close(ls);
	duo_close(&d); /* everything left is freed (ASan) */
}

static uint32_t in_flight(const struct usnet_tcp *s)
{
	struct usnet_tcp_info i;

	usnet_tcp_info(s, &i);
	return i.in_flight;
}

/* Frames waiting on a's port are lost: taken and freed unread. */
static unsigned duo_lose_to_a(struct duo *d)
{
	struct usnet_pkt *pkts[32];
	unsigned lost = 0;
	uint16_t n;

	while ((n = usnet_rx_burst(d->pa, 0, pkts, 32)) > 0) {
		usnet_pkt_free_bulk(pkts, n);
		lost += n;
	}
	return lost;
}

/* A FIN alone (its data long acknowledged) is lost: the retransmission
 * timer sends it again. A bare FIN occupies no byte of the send queue's
 * count of lost bytes, which once made the RTO find "nothing lost" and fire
 * again and again without resending it (tcp_rto moving, tcp_retransmits
 * not) until the connection timed out; tcp_many saw 34,000 RTOs for 11,600
 * retransmissions. */
static void test_fin_lost(void)
{
	struct usnet_tcp *ls, *cl, *sv;
	char buf[8];
	struct duo d;

	CHECK_EQ(duo_open_conf(&d, "tcp_finlost", NULL, NULL), 0);
	CHECK_EQ(usnet_tcp_open(d.b, &ls, NULL), 0);
	CHECK_EQ(usnet_tcp_bind(ls, 0, 87), 0);
	CHECK_EQ(usnet_tcp_listen(ls, 1), 0);
	CHECK_EQ(duo_connect(&d, ls, 87, &cl, &sv), 0);
	if (!sv)
		goto out;
	CHECK_EQ(usnet_tcp_send(sv, "answer", 6), 6);
	CHECK(DUO_UNTIL(&d, 500, usnet_tcp_recv(cl, buf, sizeof(buf)) == 6));
	CHECK(DUO_UNTIL(&d, 500, in_flight(sv) == 0));
	CHECK_EQ(usnet_tcp_shutdown(sv, USNET_SHUT_WR), 0);
	usnet_stack_poll(d.b);
	CHECK_EQ(duo_lose_to_a(&d), 1); /* the FIN */
	CHECK_EQ(tcp_state(sv), USNET_TCP_FIN_WAIT_1);
	CHECK_EQ(stack_ctr(d.b).tcp_retransmits, 0);
	/* The initial RTO after one round trip of a few ms is the minimum
	 * (200 ms); 3 s of rounds allow the first retransmission and more. */
	CHECK(DUO_UNTIL(&d, 3000, tcp_state(cl) == USNET_TCP_CLOSE_WAIT));
	CHECK(DUO_UNTIL(&d, 500, tcp_state(sv) == USNET_TCP_FIN_WAIT_2));
	CHECK_EQ(stack_ctr(d.b).tcp_rto, 1);
	CHECK_EQ(stack_ctr(d.b).tcp_retransmits, 1);
	CHECK_EQ(usnet_tcp_recv(cl, buf, sizeof(buf)), 0); /* end of stream */
	usnet_tcp_close(cl);
	usnet_tcp_close(sv);
out:
	usnet_tcp_close(ls);
	duo_close(&d);
}

int main(void)
{
	test_handshake_data();
	test_half_close();
	test_simultaneous_open();
	test_close_unread();
	test_time_wait_bound();
	test_many();
	test_time_wait_reuse();
	test_data_after_close();
	test_backlog();
	test_fin_lost();
	return check_done("test_stack_tcp_conn");
}
