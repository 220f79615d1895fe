/* SPDX-License-Identifier: MIT */
/*
 * Software segmentation of GSO/GRO super-frames: what a Linux packet socket
 * with PACKET_VNET_HDR (packet(7)) hands over as one frame of up to 64 KiB,
 * cut into the MTU-sized frames the wire would have carried. Pure: no I/O,
 * no pools, no port; the caller supplies every buffer.
 *
 * The virtio-net header comes first (virtio 1.2 section 5.1.6 "Device
 * Operation", struct virtio_net_hdr without num_buffers, 10 bytes, little
 * endian as a packet socket writes it on a little-endian host: vio_le()).
 * Its hdr_len is only a hint and csum_start/csum_offset are not needed:
 * usnet_gso_plan() finds the headers in the frame itself and trusts no
 * length it did not check against the frame.
 *
 * Each segment, as Linux's tcp_gso_segment()/__udp_gso_segment() makes it
 * (RFC 9293 3.1, RFC 791 3.1, RFC 8200 3, RFC 768): the super-frame's
 * headers, then its slice of the payload;
 *   IPv4: total length of the segment, ID + i, header checksum redone;
 *   IPv6: payload length of the segment;
 *   TCP: sequence number + i * gso_size; FIN and PSH only in the last
 *        segment, CWR only in the first;
 *   UDP (USO, VIRTIO_NET_HDR_GSO_UDP_L4): length of the segment;
 *   the L4 checksum field holds the segment's pseudo-header sum, folded,
 *   not complemented (Linux CHECKSUM_PARTIAL): the caller marks the frame
 *   USNET_PKT_F_CSUM_PARTIAL; usnet_frame_csum_finish() completes it.
 */
#ifndef USNET_GSO_H
#define USNET_GSO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* virtio 1.2 5.1.6: struct virtio_net_hdr (legacy, no num_buffers). */
#define USNET_VNET_HDR_LEN	10u
#define USNET_VNET_F_NEEDS_CSUM 1u /* csum_start/csum_offset: a partial checksum */
#define USNET_VNET_F_DATA_VALID 2u /* the checksum was verified */
#define USNET_VNET_GSO_NONE	0u
#define USNET_VNET_GSO_TCPV4	1u
#define USNET_VNET_GSO_UDP	3u /* UFO: IP fragmentation, not segmentation */
#define USNET_VNET_GSO_TCPV6	4u
#define USNET_VNET_GSO_UDP_L4	5u /* USO */
#define USNET_VNET_GSO_ECN	0x80u

/* A struct virtio_net_hdr, decoded to host order. */
struct usnet_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/* Decode the 10 bytes at raw (little endian). */
void usnet_vnet_hdr_decode(const uint8_t *raw, struct usnet_vnet_hdr *h);

/* The most segments usnet_gso_plan() accepts from one super-frame: 64 KiB
 * at an MSS of 256 bytes, well below any MSS a Linux sender uses on an
 * Ethernet MTU. More is refused (-E2BIG), never cut short. */
#define USNET_GSO_MAX_SEGS 256u

struct usnet_gso_plan {
	uint16_t l3;	  /* offset of the IP header */
	uint16_t l4;	  /* offset of the TCP/UDP header */
	uint16_t hdr_len; /* bytes of headers copied into every segment */
	uint16_t mss;	  /* payload bytes per segment (gso_size) */
	uint32_t payload; /* payload bytes of the super-frame */
	uint16_t nsegs;	  /* segments it makes, 1..USNET_GSO_MAX_SEGS */
	uint8_t ipv;	  /* 4 or 6 */
	uint8_t l4proto;  /* USNET_IPPROTO_TCP or _UDP */
	uint32_t seg_max; /* the longest segment: hdr_len + min(mss, payload) */
};

/*
 * Check a super-frame of len bytes against its virtio-net header and plan
 * its segments: Ethernet, at most one 802.1Q tag, IPv4 (no fragment) or
 * IPv6 (no extension header), TCP or UDP as vh->gso_type says. 0, or
 * -EPROTO (not a GSO type or a frame we segment: UFO, another protocol,
 * IPv4/IPv6 not matching the type, options we cannot follow), -EBADMSG
 * (gso_size 0, no payload, a header or length past the frame, lengths that
 * disagree), -E2BIG (more than USNET_GSO_MAX_SEGS segments).
 */
int usnet_gso_plan(const uint8_t *frame, size_t len, const struct usnet_vnet_hdr *vh,
		   struct usnet_gso_plan *plan);

/* Whether the super-frame's own TCP/UDP checksum verifies (RFC 1071, over
 * its pseudo-header): for a frame whose virtio-net header has neither
 * NEEDS_CSUM (a partial checksum, made on this host) nor DATA_VALID
 * (verified by the device), before its segments are marked partial. */
bool usnet_gso_csum_ok(const uint8_t *frame, const struct usnet_gso_plan *plan);

/* The length of segment i (< plan->nsegs). */
size_t usnet_gso_seg_len(const struct usnet_gso_plan *plan, unsigned i);

/* Write segment i (< plan->nsegs) of the frame plan was made from into out,
 * which holds usnet_gso_seg_len(plan, i) bytes. */
void usnet_gso_segment(const uint8_t *frame, const struct usnet_gso_plan *plan, unsigned i,
		       uint8_t *out);

#endif
