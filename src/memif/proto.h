/* SPDX-License-Identifier: MIT */
/*
 * The memif wire format: control messages on the UNIX socket and the ring
 * layout in shared memory. Internal.
 *
 * Source of truth: DPDK 22.11 drivers/net/memif/memif.h (the same layout as
 * VPP's libmemif memif.h, where "master"/"slave" and S2M/M2S name what DPDK
 * calls server/client and C2S/S2C) and doc/guides/nics/memif.rst. Every
 * struct here crosses a process boundary, so it is made of fixed-width
 * integers only and its size and offsets are asserted below. Both peers
 * are little-endian x86/ARM hosts; memif has no byte-order conversion.
 */
#ifndef USNET_MEMIF_PROTO_H
#define USNET_MEMIF_PROTO_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>

#define MEMIF_COOKIE		0x3E31F20u	 /* memif.h MEMIF_COOKIE, first word of a ring */
#define MEMIF_VERSION		((2u << 8) | 0u) /* memif.h: major 2, minor 0 */
#define MEMIF_NAME_SZ		32		 /* memif.h MEMIF_NAME_SZ */
#define MEMIF_SECRET_SZ		24		 /* memif_msg_init_t.secret */
#define MEMIF_REASON_SZ		96		 /* memif_msg_disconnect_t.string */
#define MEMIF_MSG_SIZE		128		 /* every message is one 128-byte memif_msg_t */
#define MEMIF_DEFAULT_BUF_SIZE	2048 /* rte_eth_memif.h ETH_MEMIF_DEFAULT_PKT_BUFFER_SIZE */
#define MEMIF_DEFAULT_LOG2_RING 10   /* ETH_MEMIF_DEFAULT_RING_SIZE */
#define MEMIF_MAX_LOG2_RING	14   /* ETH_MEMIF_MAX_LOG2_RING_SIZE; 16-bit indices need < 16 */

/* memif.h memif_msg_type_t. */
enum memif_msg_type {
	MEMIF_MSG_NONE = 0,
	MEMIF_MSG_ACK = 1,
	MEMIF_MSG_HELLO = 2,	  /* S2C: the server's limits, sent on accept */
	MEMIF_MSG_INIT = 3,	  /* C2S: interface id, mode, secret */
	MEMIF_MSG_ADD_REGION = 4, /* C2S: a shared memory region, its fd in SCM_RIGHTS */
	MEMIF_MSG_ADD_RING = 5,	  /* C2S: a ring, its interrupt eventfd in SCM_RIGHTS */
	MEMIF_MSG_CONNECT = 6,	  /* C2S: all regions and rings sent */
	MEMIF_MSG_CONNECTED = 7,  /* S2C: the server mapped everything */
	MEMIF_MSG_DISCONNECT = 8, /* either way, with a reason */
};

#define MEMIF_MODE_ETHERNET	 0 /* memif_interface_mode_t; the only mode DPDK supports */
#define MEMIF_ADD_RING_FLAG_C2S	 1 /* memif_msg_add_ring_t.flags: ring goes client -> server */
#define MEMIF_RING_FLAG_MASK_INT 1 /* memif_ring_t.flags: receiver polls, do not kick */
#define MEMIF_DESC_FLAG_NEXT	 1 /* memif_desc_t.flags: frame continues in the next slot */

/* The messages are packed (__rte_packed in memif.h): fields sit unaligned. */
struct memif_msg_hello {
	uint8_t name[MEMIF_NAME_SZ];
	uint16_t min_version;
	uint16_t max_version;
	uint16_t max_region;   /* highest region index, not a count */
	uint16_t max_s2c_ring; /* highest S2C ring index */
	uint16_t max_c2s_ring; /* highest C2S ring index */
	uint8_t max_log2_ring_size;
} __attribute__((packed));

struct memif_msg_init {
	uint16_t version;
	uint32_t id;
	uint8_t mode; /* memif.h declares it as an 8-bit enum bit-field */
	uint8_t secret[MEMIF_SECRET_SZ];
	uint8_t name[MEMIF_NAME_SZ];
} __attribute__((packed));

struct memif_msg_add_region {
	uint16_t index;
	uint64_t size;
} __attribute__((packed));

struct memif_msg_add_ring {
	uint16_t flags;
	uint16_t index;
	uint16_t region;
	uint32_t offset; /* of the ring header within the region */
	uint8_t log2_ring_size;
	uint16_t private_hdr_size;
} __attribute__((packed));

struct memif_msg_connect {
	uint8_t if_name[MEMIF_NAME_SZ];
} __attribute__((packed));

struct memif_msg_disconnect {
	uint32_t code;
	uint8_t string[MEMIF_REASON_SZ];
} __attribute__((packed));

/* memif_msg_t: a 16-bit type, then the body; __rte_aligned(128) pads it to 128 bytes. */
struct memif_msg {
	uint16_t type;
	union {
		struct memif_msg_hello hello;
		struct memif_msg_init init;
		struct memif_msg_add_region add_region;
		struct memif_msg_add_ring add_ring;
		struct memif_msg_connect connect;
		struct memif_msg_connect connected;
		struct memif_msg_disconnect disconnect;
		uint8_t raw[MEMIF_MSG_SIZE - 2];
	};
} __attribute__((packed));

static_assert(sizeof(struct memif_msg_hello) == 43, "memif_msg_hello_t");
static_assert(offsetof(struct memif_msg_hello, min_version) == 32, "hello.min_version");
static_assert(offsetof(struct memif_msg_hello, max_log2_ring_size) == 42, "hello.max_log2");
static_assert(sizeof(struct memif_msg_init) == 63, "memif_msg_init_t");
static_assert(offsetof(struct memif_msg_init, id) == 2, "init.id");
static_assert(offsetof(struct memif_msg_init, mode) == 6, "init.mode");
static_assert(offsetof(struct memif_msg_init, secret) == 7, "init.secret");
static_assert(offsetof(struct memif_msg_init, name) == 31, "init.name");
static_assert(sizeof(struct memif_msg_add_region) == 10, "memif_msg_add_region_t");
static_assert(sizeof(struct memif_msg_add_ring) == 13, "memif_msg_add_ring_t");
static_assert(offsetof(struct memif_msg_add_ring, offset) == 6, "add_ring.offset");
static_assert(offsetof(struct memif_msg_add_ring, log2_ring_size) == 10, "add_ring.log2");
static_assert(sizeof(struct memif_msg_disconnect) == 100, "memif_msg_disconnect_t");
static_assert(offsetof(struct memif_msg, hello) == 2, "body follows the 16-bit type");
static_assert(sizeof(struct memif_msg) == MEMIF_MSG_SIZE, "memif_msg_t is 128 bytes");

/* memif_desc_t: one buffer, 16 bytes. offset/length locate it in a region. */
struct memif_desc {
	uint16_t flags;
	uint16_t region;
	uint32_t length;
	uint32_t offset;
	uint32_t metadata;
};

static_assert(sizeof(struct memif_desc) == 16, "memif_desc_t");
static_assert(offsetof(struct memif_desc, length) == 4, "desc.length");
static_assert(offsetof(struct memif_desc, offset) == 8, "desc.offset");

/*
 * memif_ring_t: three 64-byte cache lines (RTE_MARKER ... __rte_cache_aligned),
 * then 1 << log2_ring_size descriptors. head and tail are free-running
 * 16-bit indices. The client writes head on both kinds of ring (it produces
 * frames on C2S and offers empty buffers on S2C); the server writes tail
 * (frames consumed on C2S, frames produced on S2C). Only a ring's receiver
 * writes its flags.
 */
struct memif_ring {
	uint32_t cookie;
	_Atomic uint16_t flags;
	_Atomic uint16_t head;
	uint8_t pad1[56];
	_Atomic uint16_t tail;
	uint8_t pad2[62];
	struct memif_desc desc[];
};

static_assert(sizeof(_Atomic uint16_t) == 2, "atomic 16-bit index has the plain layout");
static_assert(offsetof(struct memif_ring, flags) == 4, "ring.flags");
static_assert(offsetof(struct memif_ring, head) == 6, "ring.head");
static_assert(offsetof(struct memif_ring, tail) == 64, "ring.tail in cache line 1");
static_assert(offsetof(struct memif_ring, desc) == 128, "ring.desc in cache line 2");
static_assert(sizeof(struct memif_ring) == 128, "memif_ring_t header");

/* Bytes a ring of 1 << log2 descriptors occupies. */
static inline uint32_t memif_ring_bytes(unsigned log2)
{
	return (uint32_t)sizeof(struct memif_ring) + ((uint32_t)sizeof(struct memif_desc) << log2);
}

#endif
