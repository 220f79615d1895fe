/* SPDX-License-Identifier: MIT */
/*
 * The header sockperf (https://github.com/Mellanox/sockperf) puts at the
 * start of every UDP datagram, as seen on the wire: a 64-bit sequence
 * number, 16 bits of flags and a 32-bit length, all big-endian. A client
 * sets CLIENT on what it sends and PONG_REQUEST on the datagrams it wants
 * back (every one in ping-pong mode, one in --reply-every in throughput
 * mode); `sockperf server` returns exactly those, with CLIENT cleared.
 * usnet-udpecho --sockperf and bench/kernel_udpecho --sockperf do the same,
 * so that sockperf can load either.
 */
#ifndef USNET_TOOLS_SOCKPERF_MSG_H
#define USNET_TOOLS_SOCKPERF_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SOCKPERF_HDR_LEN	   14
#define SOCKPERF_FLAGS_OFF	   8
#define SOCKPERF_FLAG_CLIENT	   0x1
#define SOCKPERF_FLAG_PONG_REQUEST 0x2

/*
 * Should the datagram at msg (len bytes) be answered? If so, clear its
 * CLIENT flag in place: msg is then the answer.
 */
static inline bool sockperf_msg_answer(uint8_t *msg, size_t len)
{
	uint8_t *lo = msg + SOCKPERF_FLAGS_OFF + 1; /* the flags' low byte */

	if (len < SOCKPERF_HDR_LEN || !(*lo & SOCKPERF_FLAG_PONG_REQUEST))
		return false;
	*lo &= (uint8_t)~SOCKPERF_FLAG_CLIENT;
	return true;
}

#endif
