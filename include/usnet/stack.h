/* SPDX-License-Identifier: MIT */
/*
 * The stack: ARP, IPv4 (with fragmentation and reassembly), ICMP and UDP
 * on top of ports, as a library with no threads, no signals and no locks.
 * docs/stack.md is the guide, with a complete example program.
 *
 *   struct usnet_stack *st;
 *   struct usnet_iface_conf ic = {.port = port, .queue = 0, .addr = ip,
 *                                 .prefix_len = 24, .gateway = gw};
 *   usnet_stack_create(&st, NULL);
 *   usnet_stack_add_iface(st, &ic);
 *   usnet_udp_open(st, &sock, NULL);
 *   usnet_udp_bind(sock, 0, 7);
 *   for (;;) {
 *           usnet_stack_poll(st);                 // RX, timers, TX
 *           n = usnet_udp_recvfrom(sock, buf, sizeof(buf), &from);
 *           ...
 *           usnet_stack_wait(st, -1);             // sleep when idle
 *   }
 *
 * One stack per thread: a stack and everything it hands out (sockets,
 * packets from its ports' pools) belong to the thread that created it.
 * An application with several queues opens the port with N queues and
 * runs N threads, each with its own stack on (port, queue i), each pinned
 * to its core; nothing is shared between them (the NIC's RSS spreads the
 * flows, so the interfaces of those stacks share one address).
 *
 * Conventions as in port.h: commands return 0 or -errno (and record a
 * reason for usnet_last_error() where errno says too little); burst calls
 * return counts; addresses and ports in arguments are in host byte order.
 */
#ifndef USNET_STACK_H
#define USNET_STACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <usnet/pkt.h>
#include <usnet/port.h>

#ifdef __cplusplus
extern "C" {
#endif

struct usnet_stack;
struct usnet_udp;
struct usnet_icmp;

#define USNET_STACK_MAX_IFACES 4

/* Bytes the stack puts in front of a UDP payload: Ethernet + IPv4 + UDP. */
#define USNET_UDP_HEADROOM 42u
/* The largest UDP payload sent or received (MMS_S and MMS_R, RFC 1122
 * 3.3.2 / 3.4): 65535 - 20 - 8; above the MTU it is fragmented. */
#define USNET_UDP_MAX_PAYLOAD 65507u

/* --- Creating a stack ---------------------------------------------------- */

/* Every field: 0 picks the default in brackets. */
struct usnet_stack_conf {
	uint32_t arp_entries;	      /* neighbour cache size [256] */
	uint32_t arp_reachable_ms;    /* a confirmed entry stays REACHABLE this long [30000] */
	uint32_t arp_stale_ms;	      /* a STALE entry is forgotten after this [60000] */
	uint32_t arp_retrans_ms;      /* between ARP requests while resolving [1000] */
	uint32_t arp_max_probes;      /* requests before an entry is FAILED [3] */
	uint32_t arp_failed_ms;	      /* a FAILED entry refuses sends this long [20000] */
	uint32_t arp_queue_len;	      /* packets waiting per unresolved neighbour [64] */
	uint32_t reasm_timeout_ms;    /* RFC 1122 3.3.2: give up on a datagram [30000] */
	uint32_t reasm_mem_per_src;   /* bytes held for reassembly per source [262144] */
	uint32_t reasm_mem_total;     /* bytes held for reassembly in all [4194304] */
	uint32_t reasm_max_datagrams; /* datagrams being reassembled at once [64] */
	uint32_t icmp_unreach_per_s;  /* port unreachables sent per second [100] */
	uint32_t icmp_unreach_burst;  /* ... in a burst [20] */
	uint32_t udp_rcvbuf;	      /* bytes queued per socket before drops [262144] */
	uint32_t udp_rcvq_len;	      /* datagrams queued per socket before drops [256] */
	uint32_t udp_sockets;	      /* sockets at most [1024] */
	uint32_t tcp_sockets;	      /* TCP sockets and connections at most [16384] */
	uint32_t tcp_sndbuf;	      /* send buffer per connection, bytes [1048576] */
	uint32_t tcp_rcvbuf;	      /* receive buffer (the window) per connection [1048576] */
	uint32_t tcp_syn_backlog;  /* half-open connections per listener before SYN cookies [256] */
	uint32_t tcp_time_wait_ms; /* TIME_WAIT (2 MSL) [60000] */
	uint32_t
	    tcp_max_time_wait; /* connections in TIME_WAIT at most; more are freed early [8192] */
	uint32_t tcp_fin_timeout_ms; /* FIN_WAIT_2 after close() [60000] */
	uint32_t tcp_min_rto_ms;     /* RFC 6298 2.4 lower bound, as Linux [200] */
	uint32_t tcp_init_rto_ms;    /* RFC 6298 2.1 [1000] */
	uint32_t tcp_max_rto_ms;     /* [120000] */
	uint32_t tcp_delack_ms;	     /* delayed ACK at most [40] */
	uint32_t tcp_syn_retries;    /* SYN retransmissions before -ETIMEDOUT [6] */
	uint32_t tcp_retries;	     /* data retransmissions (backed off) before -ETIMEDOUT [15] */
	uint32_t tcp_ooo_segs;	     /* out-of-order segments held per connection [1024] */
	uint16_t ephemeral_min;	     /* ephemeral port range [49152] */
	uint16_t ephemeral_max;	     /* [65535] */
	uint8_t ttl;		     /* for datagrams we send [64] */
	uint16_t rx_burst;	     /* frames taken per interface per poll [32] */
	/* false: every send call hands its frames to the port before it
	 * returns. true: they wait (64 at most per interface) for the next
	 * usnet_stack_poll(), _arm(), _wait() or _flush(), so that a burst of
	 * sends costs one tx_burst (one system call on afpacket:). */
	bool tx_defer;
	/* The monotonic clock in ns; NULL: CLOCK_MONOTONIC. Tests inject one. */
	uint64_t (*clock)(void *ctx);
	void *clock_ctx;
};

/* One interface: an IPv4 address on (port, queue). */
struct usnet_iface_conf {
	struct usnet_port *port; /* the stack never closes it */
	uint16_t queue;		 /* RX and TX queue; TX packets come from its pool */
	uint32_t addr;		 /* our address, host order; unicast */
	uint8_t prefix_len;	 /* 1..31: the on-link subnet */
	uint32_t gateway;	 /* 0: none (only on-link destinations) */
	uint16_t mtu;		 /* 0: the port's; at least 576 (RFC 791) */
	uint8_t mac[6];		 /* all zero: the port's MAC */
	bool no_garp;		 /* do not announce the address when added */
};

/* conf may be NULL. 0 or -errno (-EINVAL: a bad field, named in usnet_last_error()). */
int usnet_stack_create(struct usnet_stack **out, const struct usnet_stack_conf *conf);
/* Closes every socket still open and frees every packet the stack holds. */
void usnet_stack_destroy(struct usnet_stack *st);
/*
 * Add an interface; returns its index (0, 1, ...) or -errno: -EINVAL (bad
 * address, prefix, MTU or queue), -EEXIST (the address or the port queue is
 * in use), -ENOSPC (USNET_STACK_MAX_IFACES). Sends a gratuitous ARP.
 */
int usnet_stack_add_iface(struct usnet_stack *st, const struct usnet_iface_conf *conf);

/* --- Running it ---------------------------------------------------------- */

/*
 * Do all pending work: receive up to rx_burst frames per interface and
 * process them, run the timers that are due (ARP, reassembly), send what is
 * queued. Returns the number of frames received (0: idle).
 */
int usnet_stack_poll(struct usnet_stack *st);

/*
 * An fd that polls readable when an interface may have frames (an epoll fd
 * over the ports' usnet_port_fd()), to put into an application's own
 * epoll/poll set. -errno if a port has no fd.
 */
int usnet_stack_fd(struct usnet_stack *st);
/*
 * Before sleeping on usnet_stack_fd(): arms the ports' interrupts and
 * returns how long the application may sleep in ms (-1: until the fd is
 * readable; 0: do not sleep, poll again: frames arrived or a timer is due).
 */
int usnet_stack_arm(struct usnet_stack *st);
/*
 * usnet_stack_arm() and poll() on the fd, for at most timeout_ms (-1: no
 * limit) or until the next timer. 1: woken by the fd, 0: timed out, -errno.
 */
int usnet_stack_wait(struct usnet_stack *st, int timeout_ms);

/* Hand the frames that sends left waiting (conf.tx_defer) to the ports. */
void usnet_stack_flush(struct usnet_stack *st);

/* The stack's clock, in ns (the injected one if any), as of the last poll. */
uint64_t usnet_stack_now(const struct usnet_stack *st);

/* --- Readiness ----------------------------------------------------------- */

#define USNET_EV_READ  1u /* a datagram (or echo reply) is queued */
#define USNET_EV_WRITE 2u /* a send would find a buffer */
#define USNET_EV_ERROR 4u /* an error is pending (usnet_udp_error()) */

struct usnet_event {
	void *user;	 /* the socket's user pointer (usnet_udp_open() / usnet_icmp_open()) */
	uint32_t events; /* USNET_EV_* */
};

/*
 * The sockets that became readable or got an error since the last call
 * (each at most once), like epoll_wait() after usnet_stack_poll(). Returns
 * how many events were written to ev[0..n).
 */
uint16_t usnet_stack_events(struct usnet_stack *st, struct usnet_event *ev, uint16_t n);

/* --- UDP, socket-like level ---------------------------------------------- */

struct usnet_addr4 {
	uint32_t ip;   /* host order */
	uint16_t port; /* host order */
};

/* 0 or -errno (-EMFILE: udp_sockets reached). user is returned in events. */
int usnet_udp_open(struct usnet_stack *st, struct usnet_udp **out, void *user);
/* Queued datagrams are freed. */
void usnet_udp_close(struct usnet_udp *s);
/*
 * ip 0: any of the stack's addresses; port 0: an ephemeral port.
 * -EADDRINUSE, -EADDRNOTAVAIL (not one of our addresses), -EINVAL (bound already).
 */
int usnet_udp_bind(struct usnet_udp *s, uint32_t ip, uint16_t port);
/*
 * Fix the peer: sends without an address go there and only datagrams from
 * it are received. Binds an ephemeral port first if unbound. ip 0 (with
 * port 0) disconnects. -EINVAL, -ENETUNREACH (no route).
 */
int usnet_udp_connect(struct usnet_udp *s, uint32_t ip, uint16_t port);
/* The local address (after bind/connect), 0 or -EINVAL if unbound. */
int usnet_udp_local(const struct usnet_udp *s, struct usnet_addr4 *addr);
/*
 * Send len bytes (0..65507) as one datagram to `to` (NULL: the connected
 * peer), fragmenting above the MTU. Binds an ephemeral port if unbound.
 * Returns len, or -errno: -EDESTADDRREQ, -EMSGSIZE, -ENETUNREACH,
 * -EHOSTUNREACH (ARP failed for the next hop), -ENOBUFS (no packet buffer,
 * or the neighbour's queue is full: try again after a poll), or a pending
 * error (usnet_udp_error()) for a connected socket.
 */
int usnet_udp_sendto(struct usnet_udp *s, const void *buf, size_t len,
		     const struct usnet_addr4 *to);
/*
 * Take the oldest queued datagram: copy up to len bytes into buf and return
 * the datagram's full length (more than len: the rest was discarded, like
 * MSG_TRUNC). from may be NULL. -EAGAIN: nothing queued; a pending error
 * is returned (and cleared) first.
 */
int usnet_udp_recvfrom(struct usnet_udp *s, void *buf, size_t len, struct usnet_addr4 *from);
/* usnet_udp_recvfrom() that also says which of our addresses (or which
 * broadcast address) the datagram was sent to (RFC 1122 4.1.3.5). */
int usnet_udp_recvmsg(struct usnet_udp *s, void *buf, size_t len, struct usnet_addr4 *from,
		      struct usnet_addr4 *to);
/* TTL and TOS of the datagrams the socket sends (RFC 1122 3.2.1.6-7);
 * ttl 0: the stack's. Always 0. */
int usnet_udp_set_ttl(struct usnet_udp *s, uint8_t ttl);
int usnet_udp_set_tos(struct usnet_udp *s, uint8_t tos);
/* USNET_EV_* that hold now. */
uint32_t usnet_udp_events(const struct usnet_udp *s);
/*
 * The pending error, cleared (like SO_ERROR): -ECONNREFUSED (ICMP port
 * unreachable), -EHOSTUNREACH, -ENETUNREACH, -EPROTO (other ICMP
 * unreachables, parameter problem), -EMSGSIZE (fragmentation needed); 0
 * if none. Errors are recorded for connected sockets, as BSD sockets do,
 * and for unconnected ones too after usnet_udp_set_recverr(s, true)
 * (RFC 1122 4.1.3.3 wants every ICMP error passed up).
 */
int usnet_udp_error(struct usnet_udp *s);
/* usnet_udp_error() that also gives the destination of the datagram the
 * error is about (dst untouched when there is no error). */
int usnet_udp_error_addr(struct usnet_udp *s, struct usnet_addr4 *dst);
/* Record ICMP errors on an unconnected socket as well. Always 0. */
int usnet_udp_set_recverr(struct usnet_udp *s, bool on);

/* --- UDP, zero-copy level ------------------------------------------------ */

/* A received datagram, owned by the caller until usnet_udp_msg_free(). */
struct usnet_udp_msg {
	struct usnet_pkt *pkt; /* the payload is usnet_pkt_data(pkt) + off; NULL for a
				  reassembled datagram, which lives in a heap buffer */
	const uint8_t *data;   /* the payload, in either case */
	uint16_t off;	       /* payload offset from usnet_pkt_data(pkt) */
	uint16_t len;	       /* payload length */
	struct usnet_addr4 from;
	struct usnet_addr4 to; /* the destination it was sent to */
	void *heap_;	       /* internal */
};

/* Take up to n queued datagrams without copying; returns how many. */
uint16_t usnet_udp_recv_burst(struct usnet_udp *s, struct usnet_udp_msg *msgs, uint16_t n);
void usnet_udp_msg_free(struct usnet_udp_msg *msg);

/*
 * A packet to fill: its data starts USNET_UDP_HEADROOM bytes past the
 * usual headroom, len is 0; write up to usnet_pkt_tailroom() bytes of
 * payload at usnet_pkt_data() and set len. NULL (-ENOBUFS) if the pool is
 * empty. Packets come from the pool of the interface the socket routes to
 * (the first interface while it is unbound and unconnected).
 */
struct usnet_pkt *usnet_udp_alloc(struct usnet_udp *s);
/*
 * Send a packet from usnet_udp_alloc() (payload at usnet_pkt_data(), len
 * bytes) to `to` (NULL: the connected peer). 0: the stack took the packet;
 * -errno as usnet_udp_sendto(): the packet stays with the caller.
 */
int usnet_udp_send_pkt(struct usnet_udp *s, struct usnet_pkt *pkt, const struct usnet_addr4 *to);

/* --- ICMP echo (for ping) ------------------------------------------------ */

struct usnet_icmp_echo {
	uint32_t from; /* who answered (or the router that reported an error) */
	uint16_t id;
	uint16_t seq;
	uint8_t ttl;  /* of the reply's IPv4 header */
	uint8_t type; /* 0: echo reply; 3 / 11: unreachable / time exceeded for our request */
	uint8_t code;
	uint16_t len;	/* payload length of the reply */
	uint64_t rx_ns; /* usnet_stack_now() when the stack received it */
};

/* An echo endpoint: receives the replies (and ICMP errors) carrying identifier id. */
int usnet_icmp_open(struct usnet_stack *st, struct usnet_icmp **out, uint16_t id, void *user);
void usnet_icmp_close(struct usnet_icmp *s);
/*
 * Send an echo request with the endpoint's id and seq, payload len bytes
 * (0..65507 - 8); 0 or -errno as usnet_udp_sendto(). ttl 0: the default.
 */
int usnet_icmp_echo_send(struct usnet_icmp *s, uint32_t dst, uint16_t seq, const void *payload,
			 size_t len, uint8_t ttl);
/*
 * The oldest reply: fills *echo, copies up to len payload bytes into buf
 * (may be NULL) and returns the payload's full length; -EAGAIN if none.
 */
int usnet_icmp_echo_recv(struct usnet_icmp *s, struct usnet_icmp_echo *echo, void *buf, size_t len);
uint32_t usnet_icmp_events(const struct usnet_icmp *s);

/* --- Counters ------------------------------------------------------------ */

/*
 * Every drop has its own counter. X(name, description); the struct has one
 * uint64_t per entry in this order.
 */
#define USNET_STACK_COUNTERS(X)                                                                    \
	X(rx_frames, "frames received")                                                            \
	X(rx_bytes, "bytes received")                                                              \
	X(tx_frames, "frames handed to the port")                                                  \
	X(tx_bytes, "bytes handed to the port")                                                    \
	X(tx_port_full, "frames dropped: the port's TX queue stayed full")                         \
	X(tx_nobuf, "sends refused or frames not built: the pool was empty")                       \
	X(eth_short, "drop: shorter than an Ethernet header")                                      \
	X(eth_not_ours, "drop: destination MAC neither ours nor broadcast")                        \
	X(eth_own_src, "drop: our own source MAC (looped back)")                                   \
	X(eth_bad_src, "drop: group (multicast/broadcast) source MAC")                             \
	X(eth_unknown_type, "drop: EtherType neither IPv4 nor ARP")                                \
	X(arp_rx_request, "ARP requests received for our address")                                 \
	X(arp_rx_reply, "ARP replies received")                                                    \
	X(arp_tx_request, "ARP requests sent")                                                     \
	X(arp_tx_reply, "ARP replies sent")                                                        \
	X(arp_tx_gratuitous, "gratuitous ARPs sent")                                               \
	X(arp_short, "drop: ARP packet too short")                                                 \
	X(arp_bad_format, "drop: ARP hardware/protocol type or length not Ethernet/IPv4")          \
	X(arp_bad_op, "drop: ARP operation neither request nor reply")                             \
	X(arp_bad_sender, "drop: ARP sender MAC a group or ours, or sender IP not unicast")        \
	X(arp_not_for_us, "ignored: ARP request for another address")                              \
	X(arp_conflict, "drop: someone else claims our address")                                   \
	X(arp_mac_change_refused, "ignored: another MAC claimed a REACHABLE neighbour's address")  \
	X(arp_cache_full, "neighbours not learnt: cache full of entries in use")                   \
	X(arp_queue_drop, "packets dropped: their neighbour's wait queue was full")                \
	X(arp_resolve_failed, "packets dropped: their neighbour did not answer ARP")               \
	X(ip_rx, "IPv4 datagrams received")                                                        \
	X(ip_short, "drop: shorter than an IPv4 header")                                           \
	X(ip_bad_version, "drop: IP version not 4")                                                \
	X(ip_bad_ihl, "drop: header length below 20 bytes")                                        \
	X(ip_bad_len, "drop: total length below the header or beyond the frame")                   \
	X(ip_bad_csum, "drop: bad header checksum")                                                \
	X(ip_bad_ttl, "drop: TTL 0")                                                               \
	X(ip_bad_src, "drop: source broadcast, multicast, 0/8, 127/8 or 240/4")                    \
	X(ip_bad_options, "drop: malformed IP options")                                            \
	X(ip_not_ours, "drop: destination not ours or a broadcast, or a source route goes on")     \
	X(ip_unknown_proto, "drop: protocol not ICMP, UDP or TCP")                                 \
	X(ip_frag_rx, "fragments received")                                                        \
	X(ip_frag_bad, "drop: fragment length not a multiple of 8, or beyond 65535")               \
	X(ip_reasm_ok, "datagrams reassembled")                                                    \
	X(ip_reasm_dup, "drop: exact duplicate fragment")                                          \
	X(ip_reasm_overlap, "drop: overlapping fragment (the whole datagram, RFC 5722)")           \
	X(ip_reasm_timeout, "drop: datagram not complete in time")                                 \
	X(ip_reasm_mem_src, "drop: reassembly memory for that source used up")                     \
	X(ip_reasm_mem_total, "drop: reassembly memory used up")                                   \
	X(ip_reasm_too_many, "drop: too many datagrams, or fragments of one, in reassembly")       \
	X(ip_tx, "IPv4 datagrams sent")                                                            \
	X(ip_tx_frag, "fragments sent")                                                            \
	X(ip_tx_no_route, "sends refused: no route")                                               \
	X(icmp_rx, "ICMP messages received")                                                       \
	X(icmp_short, "drop: ICMP message too short")                                              \
	X(icmp_bad_csum, "drop: bad ICMP checksum")                                                \
	X(icmp_rx_echo_request, "echo requests received")                                          \
	X(icmp_tx_echo_reply, "echo replies sent")                                                 \
	X(icmp_echo_bcast, "ignored: echo request to a broadcast address")                         \
	X(icmp_rx_echo_reply, "echo replies received for an endpoint")                             \
	X(icmp_echo_no_endpoint, "drop: echo reply for no endpoint, or its queue full")            \
	X(icmp_rx_unreach, "destination unreachables received")                                    \
	X(icmp_rx_time_exceeded, "time exceededs received")                                        \
	X(icmp_rx_param_problem, "parameter problems received")                                    \
	X(icmp_err_bad, "drop: ICMP error quoting a malformed or foreign datagram")                \
	X(icmp_unknown_type, "ignored: ICMP type we do not handle")                                \
	X(icmp_tx_unreach, "port/protocol unreachables sent")                                      \
	X(icmp_tx_time_exceeded, "reassembly time exceededs sent")                                 \
	X(icmp_unreach_limited, "unreachables and time exceededs not sent: rate limit")            \
	X(udp_rx, "UDP datagrams received")                                                        \
	X(udp_short, "drop: shorter than a UDP header")                                            \
	X(udp_bad_len, "drop: UDP length below 8 or beyond the IP payload")                        \
	X(udp_bad_csum, "drop: bad UDP checksum")                                                  \
	X(udp_no_port, "drop: no socket on the port (unreachable sent unless broadcast)")          \
	X(udp_rcvbuf_full, "drop: the socket's receive queue was full")                            \
	X(udp_tx, "UDP datagrams sent")                                                            \
	X(tcp_rx, "TCP segments received")                                                         \
	X(tcp_short, "drop: shorter than a TCP header")                                            \
	X(tcp_bad_off, "drop: data offset below 5 or beyond the segment")                          \
	X(tcp_bad_csum, "drop: bad TCP checksum")                                                  \
	X(tcp_bad_opt, "drop: malformed TCP options (a length past the header, a bad length)")     \
	X(tcp_bad_dst, "drop: segment to a broadcast or multicast address")                        \
	X(tcp_bad_flags, "drop: SYN with FIN or RST, or a segment without ACK or SYN or RST")      \
	X(tcp_no_conn, "drop: no connection or listener (RST sent unless it was a RST)")           \
	X(tcp_listen_bad, "drop: a listener got an ACK that is no valid cookie (RST sent)")        \
	X(tcp_paws_drop, "drop: PAWS, an old timestamp (RFC 7323 5; ACK sent)")                    \
	X(tcp_out_of_window, "drop: segment outside the receive window (ACK sent)")                \
	X(tcp_challenge_ack, "challenge ACKs asked for (RFC 5961)")                                \
	X(tcp_rst_in_window_ignored, "drop: RST in the window but not at RCV.NXT (challenge ACK)") \
	X(tcp_rst_out_of_window, "drop: RST outside the window")                                   \
	X(tcp_syn_in_sync, "drop: SYN on a synchronized connection (challenge ACK)")               \
	X(tcp_ack_too_old, "drop: ACK below SND.UNA - MAX.SND.WND (challenge ACK)")                \
	X(tcp_ack_too_new, "drop: ACK of data not yet sent (ACK sent)")                            \
	X(tcp_no_ack, "drop: a synchronized state got a segment without ACK")                      \
	X(tcp_syn_sent_bad_ack, "drop: SYN_SENT got an unacceptable ACK (RST sent)")               \
	X(tcp_active_opens, "connections opened by connect()")                                     \
	X(tcp_passive_opens, "connections made by a listener (SYN received)")                      \
	X(tcp_established, "connections that reached ESTABLISHED")                                 \
	X(tcp_resets_rx, "connections reset by the peer")                                          \
	X(tcp_conn_refused, "connect() answered by a RST")                                         \
	X(tcp_sock_limit, "drop: SYN or open refused: tcp_sockets reached")                        \
	X(tcp_backlog_full, "drop: SYN or final ACK while the listen backlog was full")            \
	X(tcp_syn_cookies_sent, "SYN cookies sent (the listener's half-open queue was full)")      \
	X(tcp_syn_cookies_ok, "connections made from a valid SYN cookie")                          \
	X(tcp_syn_cookies_bad, "drop: ACK with a bad or expired SYN cookie (RST sent)")            \
	X(tcp_ooo_queued, "out-of-order segments queued")                                          \
	X(tcp_ooo_drop, "drop: out-of-order segment, the queue (tcp_ooo_segs) full")               \
	X(tcp_dup_data, "drop: segment whose data had all arrived already (ACK sent)")             \
	X(tcp_rcv_pruned, "data beyond the receive buffer trimmed from a segment")                 \
	X(tcp_data_after_close, "data for a closed socket (RST sent, connection ended)")           \
	X(tcp_close_unread, "close() with unread data (RST sent, RFC 2525 2.17)")                  \
	X(tcp_time_wait_recycled, "TIME_WAIT connections freed early (tcp_max_time_wait)")         \
	X(tcp_time_wait_reused, "TIME_WAIT connections ended by a new SYN for their 4-tuple")      \
	X(tcp_fin_wait2_timeout, "orphaned FIN_WAIT_2 connections freed (tcp_fin_timeout_ms)")     \
	X(tcp_icmp_error, "ICMP errors for TCP connections")                                       \
	X(tcp_tx_segs, "TCP segments sent (retransmissions included)")                             \
	X(tcp_tx_bytes, "TCP payload bytes sent (retransmissions included)")                       \
	X(tcp_retransmits, "TCP segments retransmitted (SYNs included)")                           \
	X(tcp_rto, "TCP retransmission timeouts")                                                  \
	X(tcp_fast_recovery, "TCP NewReno fast recoveries (RFC 6582)")                             \
	X(tcp_sack_recovery, "TCP SACK-based loss recoveries (RFC 6675)")                          \
	X(tcp_persist_probes, "TCP zero-window probes sent")                                       \
	X(tcp_keepalive_probes, "TCP keepalive probes sent")                                       \
	X(tcp_keepalive_drop, "TCP connections dropped: keepalive probes unanswered")              \
	X(tcp_delack, "TCP delayed ACKs sent by their timer")                                      \
	X(tcp_sack_bad_block, "ignored: TCP SACK block invalid or out of range")                   \
	X(tcp_dsack_in, "TCP D-SACK blocks received: the peer got a segment twice (RFC 2883)")     \
	X(tcp_tx_nobuf, "TCP data not queued or segments not sent: the pool was (nearly) empty")   \
	X(tcp_tx_copy_inflight, "TCP segments resent in a copy: a port still held the buffer")     \
	X(tcp_tx_rst, "TCP resets sent for segments that are no connection's")                     \
	X(tcp_tx_rate_limited, "TCP resets and challenge ACKs not sent: 1000/s limit")             \
	X(tcp_dsack_tx, "TCP D-SACKs sent: a duplicate segment arrived (RFC 2883)")                \
	X(tcp_dsack_rx, "TCP D-SACKs received for our retransmissions (RFC 2883)")                 \
	X(tcp_undo, "TCP fast retransmits found spurious by D-SACK: cwnd restored (RFC 3708)")     \
	X(tcp_lost_retrans, "TCP retransmissions found lost by SACKs of later data, sent again")

struct usnet_stack_counters {
#define USNET_STACK_COUNTER_FIELD_(name, desc) uint64_t name;
	USNET_STACK_COUNTERS(USNET_STACK_COUNTER_FIELD_)
#undef USNET_STACK_COUNTER_FIELD_
};

/* A copy of the stack's counters (all interfaces). */
void usnet_stack_counters(const struct usnet_stack *st, struct usnet_stack_counters *c);
/* How many counters there are; the name, description and value of counter
 * i (NULL / 0 beyond the last). */
unsigned usnet_stack_counter_count(void);
const char *usnet_stack_counter_name(unsigned i);
const char *usnet_stack_counter_desc(unsigned i);
uint64_t usnet_stack_counter_value(const struct usnet_stack_counters *c, unsigned i);
/* "name value" lines; only non-zero ones if nonzero_only. Returns lines printed. */
int usnet_stack_counters_print(const struct usnet_stack_counters *c, FILE *f, bool nonzero_only);

#ifdef __cplusplus
}
#endif
#endif
