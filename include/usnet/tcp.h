/* SPDX-License-Identifier: MIT */
/*
 * TCP on the stack (stack.h): RFC 9293 with window scaling, timestamps and
 * PAWS (RFC 7323), SACK (RFC 2018) and SACK-based loss recovery (RFC 6675),
 * the RFC 6298 retransmission timer, NewReno (RFC 6582) and CUBIC (RFC
 * 9438, the default), SYN cookies and RFC 5961's defences. docs/stack.md
 * ("TCP") is the guide.
 *
 *   usnet_tcp_open(st, &ls, NULL);
 *   usnet_tcp_bind(ls, 0, 80);
 *   usnet_tcp_listen(ls, 128);
 *   for (;;) {
 *           usnet_stack_poll(st);
 *           while (usnet_tcp_accept(ls, &c, ctx, NULL) == 0)
 *                   ...;                        // c is ESTABLISHED
 *           n = usnet_tcp_recv(c, buf, sizeof(buf));   // 0: the peer's FIN
 *           usnet_tcp_send(c, buf, n);          // bytes taken, or -EAGAIN
 *           usnet_stack_wait(st, -1);
 *   }
 *
 * Same model as UDP: one stack per thread, non-blocking calls, readiness
 * through usnet_stack_events() (the socket's user pointer) or
 * usnet_tcp_events(). Sending copies the application's bytes once, into
 * the packet buffers that are then transmitted and kept for retransmission;
 * receiving can hand out the stack's own buffers (usnet_tcp_recv_peek()).
 *
 * Conventions as in stack.h: 0 or -errno, counts from data calls,
 * addresses and ports in host byte order.
 */
#ifndef USNET_TCP_H
#define USNET_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <usnet/stack.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usnet_tcp;

/* RFC 9293 3.3.2, in its order. */
enum usnet_tcp_state {
	USNET_TCP_CLOSED = 0,
	USNET_TCP_LISTEN,
	USNET_TCP_SYN_SENT,
	USNET_TCP_SYN_RECEIVED,
	USNET_TCP_ESTABLISHED,
	USNET_TCP_FIN_WAIT_1,
	USNET_TCP_FIN_WAIT_2,
	USNET_TCP_CLOSE_WAIT,
	USNET_TCP_CLOSING,
	USNET_TCP_LAST_ACK,
	USNET_TCP_TIME_WAIT,
};

/* "ESTABLISHED", ...; "?" for a value out of range. */
const char *usnet_tcp_state_name(int state);

enum usnet_tcp_cc {
	USNET_TCP_CC_CUBIC = 0, /* RFC 9438, the default */
	USNET_TCP_CC_NEWRENO,	/* RFC 5681 + RFC 6582 */
};

/* --- Opening, connecting, listening -------------------------------------- */

/* 0 or -errno (-EMFILE: tcp_sockets reached). user comes back in events. */
int usnet_tcp_open(struct usnet_stack *st, struct usnet_tcp **out, void *user);
/* ip 0: any of the stack's addresses; port 0: an ephemeral port.
 * -EADDRINUSE, -EADDRNOTAVAIL, -EINVAL (bound already). */
int usnet_tcp_bind(struct usnet_tcp *s, uint32_t ip, uint16_t port);
/*
 * Accept connections on the bound address. backlog: established
 * connections waiting for usnet_tcp_accept() (0: 128). Half-open ones are
 * bounded by conf.tcp_syn_backlog; beyond it SYN cookies answer.
 */
int usnet_tcp_listen(struct usnet_tcp *s, uint32_t backlog);
/*
 * Take an established connection: 0 with *out (its user pointer is user),
 * -EAGAIN if none, -EINVAL if s does not listen. peer may be NULL.
 */
int usnet_tcp_accept(struct usnet_tcp *s, struct usnet_tcp **out, void *user,
		     struct usnet_addr4 *peer);
/*
 * Start an active open (binds an ephemeral port if unbound). Returns
 * -EINPROGRESS: the socket becomes writable (USNET_EV_WRITE) once
 * established, or gets an error (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH).
 * Other -errno: -ENETUNREACH, -EISCONN, -EALREADY, -EADDRNOTAVAIL (no
 * ephemeral port free for that peer).
 */
int usnet_tcp_connect(struct usnet_tcp *s, uint32_t ip, uint16_t port);

/* --- Data ---------------------------------------------------------------- */

/*
 * Queue up to len bytes for sending; returns how many were taken (at least
 * 1), -EAGAIN (the send buffer is full: wait for USNET_EV_WRITE), -ENOTCONN
 * (not yet established), -EPIPE (shut down for writing or closed by a
 * reset), or the pending error.
 */
long usnet_tcp_send(struct usnet_tcp *s, const void *buf, size_t len);
/*
 * Copy up to len received bytes into buf; returns how many (> 0), 0 at the
 * end of the stream (the peer's FIN, all data read), -EAGAIN (nothing yet),
 * -ENOTCONN, or the pending error (-ECONNRESET, -ETIMEDOUT, ...).
 */
long usnet_tcp_recv(struct usnet_tcp *s, void *buf, size_t len);

/* Zero-copy receive: the in-order bytes, in the stack's packet buffers. */
struct usnet_tcp_iov {
	const uint8_t *data;
	uint32_t len;
};
/*
 * Point iov[0..n) at the received bytes in order, without copying;
 * returns how many entries were filled (0: nothing; see usnet_tcp_recv()
 * for end of stream and errors). The bytes stay valid until
 * usnet_tcp_recv_consume() or any other call on this socket or stack.
 */
int usnet_tcp_recv_peek(struct usnet_tcp *s, struct usnet_tcp_iov *iov, int n);
/* Release the first `bytes` bytes that peek pointed at (opening the window). */
int usnet_tcp_recv_consume(struct usnet_tcp *s, size_t bytes);

/* USNET_SHUT_WR: send FIN after the queued data; USNET_SHUT_RD: discard
 * what arrives from now on; both: USNET_SHUT_RDWR. */
#define USNET_SHUT_RD	1
#define USNET_SHUT_WR	2
#define USNET_SHUT_RDWR 3
int usnet_tcp_shutdown(struct usnet_tcp *s, int how);
/*
 * Give the socket back. A connection with data or a FIN still to deliver
 * goes on closing in the stack (FIN_WAIT, LAST_ACK, TIME_WAIT, bounded by
 * conf timeouts); unread received data makes it a reset (RFC 2525 2.17).
 * The handle is invalid afterwards and produces no more events.
 */
void usnet_tcp_close(struct usnet_tcp *s);
/* Close with a reset now (SO_LINGER 0). */
void usnet_tcp_abort(struct usnet_tcp *s);

/* --- State and options --------------------------------------------------- */

/* USNET_EV_READ (data, FIN or a connection to accept), USNET_EV_WRITE
 * (room in the send buffer, or a connect completed), USNET_EV_ERROR. */
uint32_t usnet_tcp_events(const struct usnet_tcp *s);
/* The pending error, cleared (SO_ERROR); 0 if none. */
int usnet_tcp_error(struct usnet_tcp *s);
int usnet_tcp_local(const struct usnet_tcp *s, struct usnet_addr4 *addr);
int usnet_tcp_peer(const struct usnet_tcp *s, struct usnet_addr4 *addr);

/* TCP_NODELAY: send small segments without waiting (Nagle off). */
int usnet_tcp_set_nodelay(struct usnet_tcp *s, bool on);
/* Congestion control for this connection; before or after connecting. */
int usnet_tcp_set_cc(struct usnet_tcp *s, enum usnet_tcp_cc cc);
/* Buffer sizes in bytes (0: the stack's default), before connect/listen. */
int usnet_tcp_set_bufs(struct usnet_tcp *s, uint32_t sndbuf, uint32_t rcvbuf);
/* Keepalive (RFC 1122 4.2.3.6): idle ms before the first probe, ms between
 * probes, probes unanswered before the connection is dropped. idle 0: off. */
int usnet_tcp_set_keepalive(struct usnet_tcp *s, uint32_t idle_ms, uint32_t intvl_ms,
			    uint32_t count);

/* Like Linux's struct tcp_info: what a tool prints. */
struct usnet_tcp_info {
	uint8_t state; /* enum usnet_tcp_state */
	uint8_t cc;    /* enum usnet_tcp_cc */
	bool sack, timestamps, wscale;
	uint8_t snd_wscale, rcv_wscale;
	uint16_t mss; /* our send MSS */
	uint32_t rtt_us, rttvar_us, rto_ms;
	uint32_t cwnd, ssthresh; /* bytes */
	uint32_t snd_wnd, rcv_wnd;
	uint32_t in_flight; /* bytes sent, not acknowledged */
	uint32_t sndbuf_used, rcvbuf_used;
	uint64_t bytes_sent, bytes_acked, bytes_received;
	uint64_t segs_out, segs_in;
	uint64_t retransmits; /* segments retransmitted */
	uint64_t fast_recoveries, rto_expiries;
	uint64_t dup_segs_in, ooo_segs_in;
};
int usnet_tcp_info(const struct usnet_tcp *s, struct usnet_tcp_info *info);

#ifdef __cplusplus
}
#endif
#endif
