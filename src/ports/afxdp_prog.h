/* SPDX-License-Identifier: MIT */
/*
 * What the afxdp: port and its XDP program (afxdp_prog.bpf.c) share: the
 * layout of the program's maps. Fixed-width fields only; both sides
 * compile this header (the program with clang -target bpf).
 */
#ifndef USNET_AFXDP_PROG_H
#define USNET_AFXDP_PROG_H

#include <linux/types.h>

#define USNET_XDP_PROG_NAME  "usnet_xsk" /* the program's function (and BPF) name */
#define USNET_XDP_MAX_QUEUES 64		 /* xsks_map entries: queue ids 0..63 */
#define USNET_XDP_MAX_MACS   256	 /* usnet_macs entries */

enum usnet_xdp_mode {
	USNET_XDP_INERT = 0, /* configuration not written yet: everything to the kernel */
	USNET_XDP_ALL = 1,   /* every frame of the queue to the socket */
	USNET_XDP_STEER =
	    2, /* frames that match the steer set to the socket, others to the kernel */
};

/* usnet_cfg[0]. Addresses and ports in network byte order; 0: any. */
struct usnet_xdp_cfg {
	__u32 mode;	 /* enum usnet_xdp_mode */
	__u32 owner_pid; /* the process that attached it; a dead one's program is stale */
	__u32 ip4;	 /* destination IPv4 address */
	__u16 port;	 /* destination UDP/TCP port */
	__u8 proto;	 /* IPPROTO_UDP or IPPROTO_TCP; 0: either (when port != 0) */
	__u8 pad;
};

/* usnet_macs key: the destination MAC in the low six bytes, in wire order. */
struct usnet_xdp_mac {
	__u8 addr[6];
	__u16 zero;
};

#endif
