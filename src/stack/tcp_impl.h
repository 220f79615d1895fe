/* SPDX-License-Identifier: MIT */
/*
 * TCP's internals, shared by its files. Two halves with one seam:
 *
 *   receive and connection side
 *     tcp.c        the API, sockets, the 4-tuple hash, listeners and their
 *                  queues, TIME_WAIT, closing and dropping connections
 *     tcp_input.c  segment validation, the RFC 9293 3.10.7 state machine,
 *                  RFC 5961, PAWS, the receive and out-of-order queues
 *     tcp_opt.c    option parsing and building (pure)
 *     tcp_isn.c    RFC 6528 initial sequence numbers, SYN cookies (pure)
 *   send side
 *     tcp_output.c segments out: the send queue, Nagle, delayed ACK, SACK
 *                  blocks, window probes, keepalives, retransmission
 *     tcp_timer.c  the connections' timers (one structure for all, so
 *                  that 10,000 connections cost nothing when idle)
 *     tcp_rtt.c    RFC 6298 estimator (pure)
 *     tcp_sack.c   RFC 6675 scoreboard (pure)
 *     tcp_cc.c     NewReno and CUBIC behind one ops table (pure)
 *
 * Calls: tcp_input -> tcp_on_ack / tcp_output (send side) -> ipv4;
 * the timers -> tcp_output, or tcp_conn_drop (connection side). The pure
 * files see only their own structs and are unit-tested alone.
 */
#ifndef USNET_TCP_IMPL_H
#define USNET_TCP_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <usnet/tcp.h>

#include "stack_impl.h"

/* --- sequence space (RFC 9293 3.4): modulo 2^32 comparisons --- */

static inline bool seq_lt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) < 0;
}
static inline bool seq_leq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) <= 0;
}
static inline bool seq_gt(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}
static inline bool seq_geq(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) >= 0;
}
/* a <= x < b */
static inline bool seq_in(uint32_t x, uint32_t a, uint32_t b)
{
	return seq_leq(a, x) && seq_lt(x, b);
}

/* Header flags (RFC 9293 3.1). */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define TCP_MAX_SACK 4 /* blocks in one option (3 with timestamps) */

/* --- options (tcp_opt.c) --- */

struct tcp_opts {
	bool mss_ok, ws_ok, sack_ok, ts_ok; /* present */
	uint16_t mss;
	uint8_t ws;
	uint32_t tsval, tsecr;
	uint8_t nsack;
	struct {
		uint32_t start, end;
	} sack[TCP_MAX_SACK];
};

/* Parse the options in opt[0..len); false: malformed (a length that runs
 * past the header, a bad length for a known kind). */
bool tcp_opt_parse(const uint8_t *opt, uint32_t len, bool syn, struct tcp_opts *o);
/* Write the options o asks for into out (40 bytes of room), padded to a
 * multiple of 4; returns the length. */
uint32_t tcp_opt_build(const struct tcp_opts *o, bool syn, uint8_t *out);

/* --- initial sequence numbers and SYN cookies (tcp_isn.c) --- */

struct tcp_tuple {
	uint32_t lip, rip;
	uint16_t lport, rport;
};

/* SipHash-2-4 of data under key. */
uint64_t tcp_siphash(const uint64_t key[2], const void *data, size_t len);
/* RFC 6528: a 4 us clock plus a keyed hash of the 4-tuple. */
uint32_t tcp_isn(const uint64_t key[2], const struct tcp_tuple *t, uint64_t now_ns);
/* RFC 7323 7.1: the per-connection offset of our timestamps. */
uint32_t tcp_ts_offset(const uint64_t key[2], const struct tcp_tuple *t);
/* A SYN cookie for a SYN whose ISN is peer_isn, announcing mss (rounded
 * down to a table value); checked on the final ACK (ack - 1): false if
 * forged or older than 64..128 s, else *mss. */
uint32_t tcp_cookie_make(const uint64_t key[2], const struct tcp_tuple *t, uint32_t peer_isn,
			 uint16_t mss, uint64_t now_ns);
bool tcp_cookie_check(const uint64_t key[2], const struct tcp_tuple *t, uint32_t peer_isn,
		      uint32_t cookie, uint64_t now_ns, uint16_t *mss);
/* The peer's WS and SACK-permitted carried in the low 5 bits of our
 * TSval (never above tsval) and read back from the echo. */
uint32_t tcp_cookie_ts_encode(uint32_t tsval, bool ws_ok, uint8_t ws, bool sack_ok);
void tcp_cookie_ts_decode(uint32_t tsecr, bool *ws_ok, uint8_t *ws, bool *sack_ok);

/* --- a received segment, after IPv4 and the header checks --- */

struct tcp_seg {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint32_t wnd; /* as sent, unscaled */
	uint8_t flags;
	struct tcp_opts opt;
	const uint8_t *data; /* payload, len bytes */
	uint32_t len;
	struct ip_dgram *d; /* owns the payload's buffer */
};

/* --- receive queues (tcp_rcvq.c) --- */

/* Received bytes in one buffer: a packet, or the heap. */
struct tcp_rseg {
	struct usnet_pkt *pkt;
	uint8_t *heap;
	const uint8_t *data;
	uint32_t len;
	uint32_t seq; /* out-of-order entries */
	uint32_t cap; /* a heap chunk that later small segments may fill */
};

struct tcp_rcvq {
	struct tcp_rseg *q; /* in order: a ring */
	uint32_t cap, head, n;
	uint32_t bytes;	      /* unread */
	struct tcp_rseg *ooo; /* out of order: sorted, no overlaps */
	uint32_t ooo_n, ooo_cap, ooo_bytes;
	bool ooo_fin; /* a FIN arrived beyond RCV.NXT, at ooo_fin_seq */
	uint32_t ooo_fin_seq;
};

enum tcp_ooo_result { TCP_OOO_QUEUED, TCP_OOO_DUP, TCP_OOO_FULL };

void tcp_rcvq_fini(struct tcp_rcvq *q);
/* Append in-order bytes; the buffer is taken from *pkt or *heap (which
 * become NULL) unless the bytes are copied. false: out of memory. */
bool tcp_rcvq_append(struct tcp_rcvq *q, struct usnet_pkt **pkt, uint8_t **heap,
		     const uint8_t *data, uint32_t len);
int tcp_rcvq_peek(const struct tcp_rcvq *q, struct usnet_tcp_iov *iov, int n);
uint32_t tcp_rcvq_consume(struct tcp_rcvq *q, uint32_t bytes);
uint32_t tcp_rcvq_copy(struct tcp_rcvq *q, uint8_t *buf, uint32_t len);
/* Hold bytes [seq, seq + len) that arrived beyond RCV.NXT (max entries). */
enum tcp_ooo_result tcp_rcvq_ooo_add(struct tcp_rcvq *q, uint32_t max, uint32_t seq,
				     struct usnet_pkt **pkt, uint8_t **heap, const uint8_t *data,
				     uint32_t len);
/* Move what RCV.NXT reached to the in-order queue; returns bytes moved. */
uint32_t tcp_rcvq_ooo_pull(struct tcp_rcvq *q, uint32_t rcv_nxt);
/* The contiguous held range around seq. */
bool tcp_rcvq_ooo_range(const struct tcp_rcvq *q, uint32_t seq, uint32_t *start, uint32_t *end);

/* --- connection --- */

struct tcp_sndq;  /* tcp_output.c */
struct tcp_rcvq;  /* tcp.c / tcp_input.c */
struct tcp_timer; /* tcp_timer.c */

/* TCP's part of the stack (st->tcp), made by tcp_init() (tcp.c). */
#define TCP_LHASH 1024 /* bound ports: listeners and bound sockets; power of two */
struct tcp_stack {
	struct usnet_tcp **hash; /* 4-tuple -> connection (hnext chains) */
	uint32_t hmask;
	struct usnet_tcp *lhash[TCP_LHASH];  /* local port -> bound sockets (lnext) */
	struct usnet_tcp *all;		     /* every socket and connection (anext) */
	uint32_t count;			     /* against conf.tcp_sockets */
	struct usnet_tcp *tw_head, *tw_tail; /* TIME_WAIT, oldest first (twnext) */
	uint32_t tw_n;
	uint64_t isn_key[2], cookie_key[2], ts_key[2]; /* SipHash keys (getrandom) */
	/* send side: owned by tcp_output.c / tcp_timer.c */
	struct tcp_timer *timers;
	/* Inside usnet_stack_poll()'s receive burst (tcp_burst_begin/end):
	 * ACKs owed for in-order data wait for its end, on this list
	 * (ack_next), one stretch ACK per connection (tcp_ack_schedule). */
	bool in_burst;
	struct usnet_tcp *ack_head;
	/* Challenge ACK / RST rate limit (RFC 5961 7): the time the bucket of
	 * CHACK_PER_S sends is full again ("theoretical arrival time"). */
	uint64_t chack_tat;
};

struct tcp_timer_node {
	uint64_t when; /* 0: not armed */
	uint32_t heap_idx;
};

enum tcp_timer_kind {
	TCP_T_RTO,	 /* retransmission, SYN and FIN retries (send side) */
	TCP_T_DELACK,	 /* delayed ACK (send side) */
	TCP_T_PERSIST,	 /* zero-window probe (send side) */
	TCP_T_KEEPALIVE, /* (send side) */
	TCP_T_TIMEWAIT,	 /* 2MSL, FIN_WAIT_2 limit (connection side) */
	TCP_T_COUNT
};

struct usnet_tcp {
	struct stk_sock s; /* first; STK_TCP */
	uint8_t state;	   /* enum usnet_tcp_state */
	uint32_t lip, rip;
	uint16_t lport, rport;
	bool bound, user_closed, hashed;
	bool lhashed;			 /* in the port hash (explicitly bound or listening) */
	bool passive;			 /* made by a listener (SYN_RECEIVED goes back to LISTEN) */
	struct usnet_tcp *hnext;	 /* 4-tuple hash chain */
	struct usnet_tcp *lnext;	 /* port hash chain */
	struct usnet_tcp *anext, *aprev; /* every connection, for destroy */
	struct usnet_tcp *twnext, *twprev; /* TIME_WAIT list */

	/* listeners */
	struct usnet_tcp *listener; /* a child not yet accepted: its listener */
	struct usnet_tcp *acc_head, *acc_tail, *acc_next;
	uint32_t acc_n, acc_max, syn_n;

	/* send sequence space (RFC 9293 3.3.1) */
	uint32_t iss, snd_una, snd_nxt, snd_max, snd_wnd, snd_wl1, snd_wl2;
	uint32_t max_snd_wnd; /* largest window the peer offered (RFC 5961 5.2) */
	uint8_t snd_wscale;   /* peer's shift, applied to its windows */
	uint16_t mss;	      /* ours to send: peer's MSS option, clamped to the MTU */
	uint16_t adv_mss;     /* what we announce in our SYN: the interface MTU - 40 */
	/* receive sequence space */
	uint32_t irs, rcv_nxt, rcv_wnd, rcv_adv; /* rcv_adv: right edge we announced */
	uint8_t rcv_wscale;
	/* SACK blocks to send (RFC 2018 4), the most recent first; kept by
	 * tcp_input.c, read by tcp_output.c when it builds an ACK. */
	uint8_t rcv_nsack;
	struct {
		uint32_t start, end;
	} rcv_sack[TCP_MAX_SACK];
	/* RFC 2883 D-SACK: a duplicate segment arrived; reported as the first
	 * block of the next ACK (tcp_output.c), then forgotten. */
	bool rcv_dsack;
	uint32_t dsack_start, dsack_end;
	/* negotiated */
	bool ts_on, sack_on, ws_on;
	uint32_t ts_recent, ts_recent_age_s; /* RFC 7323 4.3 / 5.5 */
	uint32_t ts_offset;		     /* our TSval = clock ms + offset (RFC 7323 7.1) */
	bool fin_sent, fin_rcvd, shut_rd, shut_wr, nodelay;
	int err;	    /* pending, negative errno; also s.err */
	int soft_err;	    /* an ICMP error: reported instead of -ETIMEDOUT (RFC 1122 4.2.3.9) */
	uint64_t cookie_at; /* listener: when it last answered with a SYN cookie */

	/* receive side: in-order bytes for the application, out-of-order
	 * ranges (tcp_input.c) */
	struct tcp_rcvq rq;
	uint32_t rcvbuf;

	/* send side (tcp_output.c, tcp_timer.c, tcp_rtt.c, tcp_sack.c, tcp_cc.c) */
	struct tcp_sndq *sq;
	uint32_t sndbuf;
	uint8_t cc_kind; /* enum usnet_tcp_cc */
	struct tcp_timer_node timer[TCP_T_COUNT];
	uint32_t ka_idle_ms, ka_intvl_ms, ka_count, ka_sent;
	bool ack_now;	   /* send an ACK at the next tcp_output() */
	uint8_t delack;	   /* segments received not yet acknowledged */
	bool ack_deferred; /* on tcp_stack.ack_head's list */
	uint8_t quickack;  /* in-order segments still ACKed every second one (no stretch ACKs) */
	struct usnet_tcp *ack_next;
	uint8_t backoff;

	struct usnet_tcp_info stats; /* counters kept as we go */
};

/* SACK blocks we report (tcp_rcvq.c): [start, end) just arrived, or
 * RCV.NXT moved. */
void tcp_sack_note(struct usnet_tcp *c, uint32_t start, uint32_t end);
void tcp_sack_trim(struct usnet_tcp *c);
/* [start, end) arrived again (RFC 2883 4): the next ACK says so. */
void tcp_dsack_note(struct usnet_tcp *c, uint32_t start, uint32_t end);

/* --- the seam --- */

/* Send side, called by the input side. */
/* A segment's ACK field was acceptable (snd_una < ack <= snd_max), or a
 * duplicate: update the send queue, RTT, scoreboard, congestion control,
 * recovery, the RTO timer. Returns bytes newly acknowledged. Also called
 * for the ACK of our SYN (ack == iss + 1; c->state is already
 * ESTABLISHED or SYN_RECEIVED's successor) and of our FIN: snd_una moves
 * over both. The input side updates snd_wnd / snd_wl1 / snd_wl2 after it. */
uint32_t tcp_on_ack(struct usnet_tcp *c, const struct tcp_seg *seg);
/* usnet_tcp_send(): copy up to len bytes into the send queue (the one
 * copy), bounded by c->sndbuf; returns bytes taken (0: full). */
uint32_t tcp_sndq_append(struct usnet_tcp *c, const void *buf, uint32_t len);
/* Bytes queued, sent or not, not yet acknowledged. */
uint32_t tcp_sndq_bytes(const struct usnet_tcp *c);
/* Connection set up (before tcp_send_syn) / over: congestion control and
 * RTT state at their initial values / every timer stopped and the send
 * queue freed (called again later is harmless). */
void tcp_send_init(struct usnet_tcp *c);
void tcp_send_fini(struct usnet_tcp *c);
/* A segment with no connection behind it: the SYN-ACK of a SYN cookie. */
struct tcp_bare {
	uint32_t src, dst; /* host order */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t wnd;		    /* as sent */
	const struct tcp_opts *opt; /* NULL: none */
};
int tcp_send_bare(struct usnet_stack *st, const struct tcp_bare *b);
/* Send what the windows allow, and any ACK owed; 0 or -errno. */
int tcp_output(struct usnet_tcp *c);
/* Data arrived: ACK now (out of order, every second full segment, PSH...)
 * or arm the delayed ACK; inside a receive burst, the ACK for in-order
 * data waits for the burst's end (a stretch ACK, at most TCP_STRETCH_MAX
 * segments). */
void tcp_ack_schedule(struct usnet_tcp *c, bool now);
/* usnet_stack_poll(): the frames of one receive burst come between these
 * two; tcp_burst_end() sends the ACKs the burst deferred. */
void tcp_burst_begin(struct usnet_stack *st);
void tcp_burst_end(struct usnet_stack *st);
/* A bare segment that is no connection's: RST or ACK as RFC 9293 3.10.7.1
 * says, from the received segment (rate limit shared with challenge ACKs). */
void tcp_send_reset(struct usnet_stack *st, const struct tcp_seg *seg);
void tcp_send_challenge_ack(struct usnet_tcp *c);
/* SYN (SYN_SENT) or SYN-ACK (SYN_RECEIVED) for c, seq iss, options from
 * its state (adv_mss; ws/sack/ts offered in a SYN, answered in a SYN-ACK
 * as ws_on / sack_on / ts_on say); sets snd_nxt = snd_max = iss + 1 and
 * arms the RTO timer; after conf.tcp_syn_retries: tcp_conn_drop(-ETIMEDOUT).
 * Used again to retransmit the SYN-ACK for a retransmitted SYN. */
int tcp_send_syn(struct usnet_tcp *c);

/* Timers (tcp_timer.c). */
void tcp_timer_set(struct usnet_tcp *c, enum tcp_timer_kind k, uint64_t when);
void tcp_timer_stop(struct usnet_tcp *c, enum tcp_timer_kind k);
void tcp_timers_run(struct usnet_stack *st, uint64_t now);

/* Connection side, called by the send side and the timers. */
/* End c with error err (-ETIMEDOUT, -ECONNRESET...): CLOSED, error and
 * events to the application, or freed if the application closed it. */
void tcp_conn_drop(struct usnet_tcp *c, int err);
/* TCP_T_TIMEWAIT fired: TIME_WAIT over, or the FIN_WAIT_2 limit. */
void tcp_time_wait_expired(struct usnet_tcp *c);
/* The window field for a segment c sends now (scaled unless syn), as
 * RFC 9293 3.8.6.2.2 says (receiver SWS avoidance, the right edge never
 * moves left); records rcv_adv / rcv_wnd. Every segment calls it. */
uint16_t tcp_rcv_wnd_field(struct usnet_tcp *c, bool syn);
/* Our TSval now (RFC 7323 7.1: the clock in ms plus a per-connection offset). */
static inline uint32_t tcp_ts_now(const struct usnet_tcp *c)
{
	return (uint32_t)(c->s.st->now / 1000000u) + c->ts_offset;
}

/* The one's-complement sum of the TCP pseudo-header (RFC 9293 3.1),
 * addresses in host order, for usnet_csum_add() / usnet_csum_fold(). */
static inline uint32_t tcp_pseudo_sum(uint32_t src, uint32_t dst, uint32_t len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + 6 + len;
}

/* tcp.c, for tcp_input.c */
struct usnet_tcp *tcp_conn_new(struct usnet_stack *st, void *user);
struct usnet_tcp *tcp_lookup(struct usnet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
			     uint16_t rport);
struct usnet_tcp *tcp_listener(struct usnet_stack *st, uint32_t lip, uint16_t lport);
void tcp_hash_add(struct usnet_tcp *c);
void tcp_child_established(struct usnet_tcp *c);
void tcp_time_wait_enter(struct usnet_tcp *c);
/* Send a RST for c if its state calls for one (ABORT). */
void tcp_abort_conn(struct usnet_tcp *c);
/* Queue c's events for usnet_stack_events() unless nobody holds it. */
void tcp_wake(struct usnet_tcp *c);
uint16_t tcp_route_mss(const struct route *rt);
uint8_t tcp_wscale_for(uint32_t buf);
/* USNET_EV_* of a TCP socket, for usnet_stack_events(). */
uint32_t tcp_sock_events(const struct stk_sock *s);

/* From ipv4.c. */
void tcp_input(struct usnet_stack *st, struct ip_dgram *d);
void tcp_icmp_error(struct usnet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
		    uint16_t rport, uint32_t seq, int err);
void tcp_close_all(struct usnet_stack *st);
/* From usnet_stack_create(): st->tcp, the keys. 0 or -errno. */
int tcp_init(struct usnet_stack *st);
/* Timers (tcp_timer.c): free their structure (after tcp_close_all). */
void tcp_timer_fini(struct usnet_stack *st);

#endif
