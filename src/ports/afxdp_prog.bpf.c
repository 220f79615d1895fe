/* SPDX-License-Identifier: MIT */
/*
 * The XDP program of the afxdp: port, restricted C for clang -target bpf.
 * The port loads it through libxdp, so it runs in libxdp's dispatcher next
 * to other programs on the interface (returning XDP_PASS hands the frame
 * to the next program, then to the kernel).
 *
 * mode ALL: every frame on the queue goes to the AF_XDP socket of that
 * queue. mode STEER: only frames whose destination MAC is in usnet_macs
 * and, if configured, whose IPv4 destination and UDP/TCP destination port
 * match; the rest go on to the kernel, which keeps its own traffic (ARP,
 * SSH). A queue without a socket in xsks_map passes the frame
 * (bpf_redirect_map()'s flags argument is the action on a failed lookup).
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>

#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include <xdp/xdp_helpers.h>

#include "afxdp_prog.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, USNET_XDP_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct usnet_xdp_cfg);
} usnet_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, USNET_XDP_MAX_MACS);
	__type(key, struct usnet_xdp_mac);
	__type(value, __u8);
} usnet_macs SEC(".maps");

/* libxdp's dispatcher: default priority; XDP_PASS goes on to the next program. */
struct {
	__uint(priority, XDP_DEFAULT_RUN_PRIO);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(usnet_xsk);

/* Does the frame in [data, end) belong to the application? */
static __always_inline int steer_match(void *data, void *end, const struct usnet_xdp_cfg *cfg)
{
	struct ethhdr *eth = data;
	struct usnet_xdp_mac key = {};
	struct iphdr *ip;
	__u16 *ports;

	if ((void *)(eth + 1) > end)
		return 0;
	__builtin_memcpy(key.addr, eth->h_dest, 6);
	if (!bpf_map_lookup_elem(&usnet_macs, &key))
		return 0;
	if (!cfg->ip4 && !cfg->port && !cfg->proto)
		return 1;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	ip = (struct iphdr *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->ihl < 5)
		return 0;
	if (cfg->ip4 && ip->daddr != cfg->ip4)
		return 0;
	if (!cfg->port && !cfg->proto)
		return 1;
	if (ip->protocol != IPPROTO_UDP && ip->protocol != IPPROTO_TCP)
		return 0;
	if (cfg->proto && ip->protocol != cfg->proto)
		return 0;
	if (!cfg->port)
		return 1;
	/* Only a datagram's first fragment carries the ports (RFC 791). */
	if (ip->frag_off & bpf_htons(0x1fff))
		return 0;
	ports = (__u16 *)((__u8 *)ip + ip->ihl * 4);
	if ((void *)(ports + 2) > end)
		return 0;
	return ports[1] == cfg->port;
}

SEC("xdp")
int usnet_xsk(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct usnet_xdp_cfg *cfg = bpf_map_lookup_elem(&usnet_cfg, &zero);

	if (!cfg || cfg->mode == USNET_XDP_INERT)
		return XDP_PASS;
	if (cfg->mode == USNET_XDP_STEER &&
	    !steer_match((void *)(long)ctx->data, (void *)(long)ctx->data_end, cfg))
		return XDP_PASS;
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
