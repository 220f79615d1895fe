/* SPDX-License-Identifier: MIT */
/*
 * The stack's internals, shared by its files:
 *
 *   stack.c   create/destroy, interfaces, poll/arm/wait, events, TX batching
 *   eth.c     Ethernet input dispatch
 *   arp.c     neighbour cache (states, timers, wait queues) and ARP messages
 *   ipv4.c    input validation, routing, output and fragmentation
 *   frag.c    reassembly: pure, no I/O, fed fragments and a clock
 *   icmp.c    echo, unreachables in and out, echo endpoints
 *   udp.c     sockets, demultiplexing, checksums
 *   counters.c the counter names
 *
 * Calls go downward: udp/icmp -> ipv4 -> arp -> stack's TX; input goes
 * stack -> eth -> arp / ipv4 -> frag -> icmp / udp, which queue to sockets.
 */
#ifndef USNET_STACK_IMPL_H
#define USNET_STACK_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <usnet/proto.h>
#include <usnet/stack.h>

#define STK_TX_BATCH 64

/* RFC 791 3.1 flags and fragment offset field. */
#define IP_DF	   0x4000
#define IP_MF	   0x2000
#define IP_OFFMASK 0x1fff

#define IPV4_BCAST 0xffffffffu

struct stk_iface {
	struct usnet_port *port;
	struct usnet_pool *pool;
	uint16_t queue;
	uint16_t mtu;
	uint16_t headroom; /* data_off of a fresh packet from pool */
	uint16_t l3_room;  /* bytes for an IPv4 datagram behind headroom and Ethernet */
	uint32_t addr, mask, gateway;
	uint32_t bcast; /* subnet-directed broadcast */
	uint8_t mac[6];
	uint8_t index;
	uint16_t ntx;
	struct usnet_pkt *tx[STK_TX_BATCH];
};

/* --- neighbour cache (arp.c) --- */

enum arp_state {
	ARP_FREE = 0,
	ARP_INCOMPLETE, /* requests sent, no answer yet; packets wait */
	ARP_REACHABLE,	/* confirmed within arp_reachable_ms */
	ARP_STALE,	/* usable; the next use probes it again */
	ARP_FAILED,	/* no answer to arp_max_probes requests */
};

struct arp_entry {
	uint32_t ip;
	uint8_t state; /* enum arp_state */
	uint8_t iface;
	uint8_t probes;
	uint8_t mac[6];
	uint16_t qhead, qlen; /* the wait queue: a ring in arp.queue */
	int32_t next;	      /* hash chain, -1: end */
	uint64_t deadline;    /* when the state's timer fires */
	uint64_t probe_at;    /* STALE: not before this */
};

struct arp_cache {
	uint32_t n, nbuckets;
	struct arp_entry *e;
	int32_t *bucket;
	struct usnet_pkt **queue; /* n * qcap */
	uint32_t qcap;
};

/* --- reassembly (frag.c): pure --- */

struct frag_conf {
	uint64_t timeout_ns;
	uint32_t mem_per_src, mem_total, max_datagrams;
};

#define FRAG_MAX_PIECES 64

struct frag_dgram {
	uint32_t src, dst;
	uint16_t id;
	uint8_t proto;
	bool dead;	/* overlap seen: drop everything until the timeout */
	bool have_last; /* total is known */
	uint32_t total; /* payload bytes, when have_last */
	uint32_t mem;	/* bytes charged */
	uint64_t deadline;
	uint8_t *buf;
	uint32_t cap;
	uint16_t npieces;
	struct {
		uint16_t start, end; /* [start, end) payload bytes */
	} piece[FRAG_MAX_PIECES];
	struct usnet_ipv4_hdr first; /* header of the fragment at offset 0 (no options) */
	bool have_first;
};

struct frag_table {
	struct frag_conf conf;
	uint32_t mem;
	uint32_t n;
	struct frag_dgram *d; /* conf.max_datagrams slots; buf == NULL and !used: free */
	bool *used;
};

enum frag_result {
	FRAG_HELD,	/* kept, datagram not complete */
	FRAG_DONE,	/* complete: *out has the datagram */
	FRAG_BAD,	/* ip_frag_bad */
	FRAG_DUP,	/* ip_reasm_dup */
	FRAG_OVERLAP,	/* ip_reasm_overlap */
	FRAG_MEM_SRC,	/* ip_reasm_mem_src */
	FRAG_MEM_TOTAL, /* ip_reasm_mem_total */
	FRAG_TOO_MANY,	/* ip_reasm_too_many */
};

struct frag_out {
	struct usnet_ipv4_hdr ip; /* first fragment's header, ihl 5, total and flags fixed */
	uint8_t *data;		  /* heap, the caller frees with free() */
	uint32_t len;
};

int frag_init(struct frag_table *t, const struct frag_conf *conf);
void frag_fini(struct frag_table *t);
/* One fragment: header ip (validated by the caller), payload data[0..len). */
enum frag_result frag_input(struct frag_table *t, const struct usnet_ipv4_hdr *ip,
			    const uint8_t *data, uint32_t len, uint64_t now, struct frag_out *out);
/* A datagram that timed out with its first fragment: what an ICMP time
 * exceeded quotes (RFC 792: the header and 64 bits of data). */
struct frag_expired {
	struct usnet_ipv4_hdr ip;
	uint8_t data[8];
};

/*
 * Drop datagrams past their deadline; returns how many; *next = earliest
 * deadline left. Up to nrep of them that had their first fragment are
 * described in rep[0..*nrep) (rep may be NULL).
 */
uint32_t frag_expire(struct frag_table *t, uint64_t now, uint64_t *next, struct frag_expired *rep,
		     uint32_t nrep_max, uint32_t *nrep);

/* --- sockets --- */

enum stk_sock_kind { STK_UDP, STK_ICMP, STK_TCP };

struct tcp_stack;

/* A queued message: in a packet (data points into it) or on the heap. */
struct stk_msg {
	struct usnet_pkt *pkt;
	void *heap;
	const uint8_t *data;
	uint16_t len;
	uint32_t size; /* bytes charged to the queue */
	struct usnet_addr4 from, to;
	struct usnet_icmp_echo echo; /* ICMP endpoints only */
};

struct stk_msgq {
	struct stk_msg *m;
	uint32_t cap, head, n;
	uint32_t bytes, max_bytes;
};

struct stk_sock {
	struct usnet_stack *st;
	void *user;
	uint8_t kind;
	bool in_ready;
	struct stk_sock *rnext, *rprev; /* ready list */
	struct stk_msgq q;
	int err; /* pending, negative errno */
};

struct usnet_udp {
	struct stk_sock s; /* first */
	uint32_t lip, rip;
	uint16_t lport, rport;
	uint8_t ttl, tos; /* ttl 0: the stack's */
	bool bound, connected;
	bool recverr;			 /* ICMP errors also when unconnected */
	struct usnet_addr4 err_dst;	 /* what the pending error is about */
	struct usnet_udp *hnext;	 /* port hash chain, while bound */
	struct usnet_udp *anext, *aprev; /* every open socket */
};

struct usnet_icmp {
	struct stk_sock s; /* first */
	uint16_t id;
	struct usnet_icmp *next;
};

#define UDP_HASH 1024 /* power of two */

/* --- the stack --- */

struct usnet_stack {
	struct usnet_stack_conf conf;
	struct usnet_stack_counters c;
	uint64_t now;
	uint64_t next_timer; /* earliest deadline of any timer, UINT64_MAX: none */
	struct stk_iface ifc[USNET_STACK_MAX_IFACES];
	unsigned nifc;
	int epfd;
	int fd_err; /* an interface without an fd: -errno */
	struct arp_cache arp;
	struct frag_table frag;
	struct usnet_udp *udp_hash[UDP_HASH];
	struct usnet_udp *udp_all;
	uint32_t udp_count;
	uint16_t ephemeral_next;
	struct usnet_icmp *icmp_list;
	struct tcp_stack *tcp; /* tcp_impl.h */
	struct stk_sock *ready_head, *ready_tail;
	uint64_t unreach_tokens_at; /* token bucket for ICMP unreachables */
	double unreach_tokens;
	uint16_t ip_id;
};

/* A received datagram after IPv4 (and reassembly), for ICMP and UDP. */
struct ip_dgram {
	struct stk_iface *ifc;
	struct usnet_ipv4_hdr ip; /* copy, addresses in network order */
	uint32_t src, dst;	  /* host order */
	bool bcast;		  /* to a broadcast address */
	uint8_t *l4;
	uint32_t l4_len;
	struct usnet_pkt *pkt; /* holds l4, or NULL */
	uint8_t *heap;	       /* holds l4, or NULL */
};

/* Where a datagram to dst goes. */
struct route {
	struct stk_iface *ifc;
	uint32_t nexthop; /* host order; IPV4_BCAST or the subnet broadcast: link broadcast */
	uint32_t src;
	uint8_t tos; /* for the IPv4 header; ip_route() sets 0 */
};

/* stack.c */
void stk_tx(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt);
void stk_tx_flush(struct usnet_stack *st, struct stk_iface *ifc);
void stk_flush_all(struct usnet_stack *st);
/* After an application's send: to the port now, unless conf.tx_defer. */
void stk_tx_sent(struct usnet_stack *st, struct stk_iface *ifc);
void stk_timer_at(struct usnet_stack *st, uint64_t when);
struct usnet_pkt *stk_alloc(struct usnet_stack *st, struct stk_iface *ifc);
void stk_sock_ready(struct stk_sock *s);
void stk_sock_fini(struct stk_sock *s);
void stk_dgram_free(struct ip_dgram *d);
bool stk_is_local(const struct usnet_stack *st, uint32_t ip);
int stk_msgq_init(struct stk_msgq *q, uint32_t cap, uint32_t max_bytes);
void stk_msgq_fini(struct stk_msgq *q);
/* Queue the datagram's l4 payload at [off, off+len); takes d's buffer on success. */
bool stk_msgq_push(struct stk_msgq *q, struct ip_dgram *d, uint32_t off, uint32_t len,
		   const struct stk_msg *meta);
bool stk_msgq_pop(struct stk_msgq *q, struct stk_msg *m);
void stk_msg_free(struct stk_msg *m);

/* eth.c */
void eth_input(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt);
bool mac_is_group(const uint8_t *mac);

/* arp.c */
int arp_init(struct arp_cache *a, const struct usnet_stack_conf *conf);
void arp_fini(struct arp_cache *a);
void arp_input(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt);
void arp_send_gratuitous(struct usnet_stack *st, struct stk_iface *ifc);
/*
 * Can npkts packets (one datagram's fragments) to nexthop go now or all
 * wait for resolution? 0, -EHOSTUNREACH (FAILED), -ENOBUFS (the wait
 * queue or the cache is full; more packets than a queue holds start the
 * resolution so that a retry succeeds once it is answered).
 */
int arp_check(struct usnet_stack *st, struct stk_iface *ifc, uint32_t nexthop, uint32_t npkts);
/* Send an IPv4 packet (data at its IPv4 header) to nexthop; always takes it. */
void arp_output(struct usnet_stack *st, struct stk_iface *ifc, uint32_t nexthop,
		struct usnet_pkt *pkt);
void arp_timers(struct usnet_stack *st, uint64_t now);
/* For tests: the state of ip's entry (ARP_FREE if none). */
enum arp_state arp_state_of(const struct usnet_stack *st, uint32_t ip);

/* ipv4.c */
void ip_input(struct usnet_stack *st, struct stk_iface *ifc, struct usnet_pkt *pkt);
int ip_route(struct usnet_stack *st, uint32_t dst, struct route *rt);
/* Room in a packet for L4 data behind Ethernet and IPv4 headers, without fragmenting. */
uint32_t ip_max_l4(const struct route *rt);
/*
 * Send an L4 message that is hdr[0..hlen) followed by data[0..dlen) as one
 * datagram, fragmented if needed. 0 or -errno (-ENOBUFS, -EHOSTUNREACH,
 * -EMSGSIZE); nothing sent on error.
 */
int ip_send_copy(struct usnet_stack *st, const struct route *rt, uint32_t dst, uint8_t proto,
		 uint8_t ttl, const void *hdr, uint32_t hlen, const void *data, uint32_t dlen);
/* Send pkt, whose data is the L4 message and fits ip_max_l4(); takes it on 0. */
int ip_send_pkt(struct usnet_stack *st, const struct route *rt, uint32_t dst, uint8_t proto,
		uint8_t ttl, struct usnet_pkt *pkt);
bool ip_unicast_src_ok(uint32_t ip);

/* icmp.c */
void icmp_input(struct usnet_stack *st, struct ip_dgram *d);
/* Port/protocol unreachable for a received datagram (rate-limited). */
void icmp_send_unreach(struct usnet_stack *st, const struct ip_dgram *d, uint8_t code);
/* Time exceeded in reassembly (rate-limited like unreachables). */
void icmp_send_reasm_timeout(struct usnet_stack *st, const struct usnet_ipv4_hdr *ip,
			     const uint8_t *l4, uint32_t l4_len);

/* udp.c */
void udp_input(struct usnet_stack *st, struct ip_dgram *d);
/* An ICMP error quoting a UDP datagram we sent: lip/lport ours, rip/rport theirs. */
void udp_icmp_error(struct usnet_stack *st, uint32_t lip, uint16_t lport, uint32_t rip,
		    uint16_t rport, int err);
void udp_close_all(struct usnet_stack *st);

#endif
