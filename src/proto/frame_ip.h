/* SPDX-License-Identifier: MIT */
/*
 * The IP layer of an Ethernet frame, for the code that edits frames in
 * place (usnet_frame_csum_finish() in proto.c, the GSO segmenter in
 * gso.c): one parser, so that both refuse the same frames. Internal to the
 * library. Pure: no I/O.
 */
#ifndef USNET_FRAME_IP_H
#define USNET_FRAME_IP_H

#include <stddef.h>
#include <stdint.h>

struct usnet_frame_ip {
	uint16_t l3;	 /* offset of the IP header */
	uint16_t l4;	 /* offset of the transport header */
	uint32_t end;	 /* where the IP datagram ends (the frame may be longer: padding) */
	uint8_t ipv;	 /* 4 or 6 */
	uint8_t l4proto; /* IPv4 protocol / IPv6 next header */
};

/*
 * Ethernet, at most one 802.1Q tag, then IPv4 (RFC 791; not a fragment)
 * or IPv6 (RFC 8200; no extension header is followed: l4proto is the
 * first next header). 0; -EBADMSG: a header or length runs past len or
 * contradicts itself; -EPROTO: another EtherType, or an IPv4 fragment.
 */
int usnet_frame_ip_parse(const uint8_t *frame, size_t len, struct usnet_frame_ip *fi);

/* The pseudo-header sum (RFC 9293 3.1 / RFC 768 for IPv4, RFC 8200 8.1 for
 * IPv6) of l4len transport bytes of protocol proto under the IP header at
 * ip, unfolded, for usnet_csum_add()/usnet_csum_fold(). */
uint32_t usnet_ip_pseudo_sum(const uint8_t *ip, uint8_t ipv, uint8_t proto, uint32_t l4len);

#endif
