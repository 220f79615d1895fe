/* SPDX-License-Identifier: MIT */
/*
 * The frame logic of usnet-echo, apart from any port so that unit tests
 * (tests/unit/test_echo.c) can hand it any byte string: decide whether a
 * received Ethernet frame asks for an answer, and if so turn it into that
 * answer in place.
 *
 *   ARP request for our IPv4 address       -> ARP reply           (RFC 826)
 *   ICMP echo request to our address       -> ICMP echo reply     (RFC 792)
 *   UDP datagram to our address, port 7    -> the same data back  (RFC 862)
 *
 * Frames come from the network: every length is checked against the frame
 * length before the bytes it covers are read, and a frame that is not
 * answered is left exactly as it was.
 */
#ifndef USNET_TOOLS_ECHO_PROTO_H
#define USNET_TOOLS_ECHO_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ECHO_UDP_PORT 7	 /* RFC 862 */
#define ECHO_TTL      64 /* RFC 1700 "Default TTL" */

struct echo_conf {
	uint8_t mac[6]; /* our MAC: the Ethernet destination we accept, the source we send from */
	uint32_t ip;	/* our IPv4 address, host order */
	bool udp;	/* also answer UDP port 7 */
};

enum echo_verdict {
	ECHO_IGNORED,	/* not for us, or nothing we answer; frame unchanged */
	ECHO_MALFORMED, /* claims to be ARP/IPv4 but its lengths or a checksum are wrong,
			   or shorter than an Ethernet header; frame unchanged */
	ECHO_ARP,	/* ARP request for our address: the frame is now the reply */
	ECHO_ICMP,	/* ICMP echo request: the frame is now the echo reply */
	ECHO_UDP,	/* UDP echo: the frame is now the datagram back */
	ECHO_NVERDICTS,
};

/*
 * Classify the len-byte frame at `frame` and, for ECHO_ARP, ECHO_ICMP and
 * ECHO_UDP, rewrite it into the reply, which has the same length (Ethernet
 * padding after the IPv4 datagram is kept as it came). Reads and writes
 * only frame[0..len).
 */
enum echo_verdict echo_frame(const struct echo_conf *c, uint8_t *frame, size_t len);

/* Is ip (host order) an address a host may have and answer for: not
 * 0.0.0.0/8, loopback, multicast, reserved or limited broadcast? */
bool echo_ip_unicast(uint32_t ip);

#endif
