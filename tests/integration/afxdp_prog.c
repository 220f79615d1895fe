/* SPDX-License-Identifier: MIT */
/*
 * Helper for afxdp_veth.sh: the XDP program's verdicts, frame by frame.
 *
 *   afxdp_prog IFNAME
 *	opens afxdp:IFNAME ports with prog=steer (with ip=/port=/proto=, and
 *	without them plus usnet_port_steer_mac()) and prog=all, finds the
 *	program attached to the interface and runs it on crafted frames with
 *	BPF_PROG_TEST_RUN (queue 0, where the port's socket is):
 *	XDP_REDIRECT means "to usnet", XDP_PASS "to the kernel". Every frame
 *	the steer rules do not cover must pass: other MACs, other addresses,
 *	other ports or protocols, non-first fragments, ARP, truncated headers.
 *
 * Exit status 0 only if every verdict is the expected one.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>

#include <usnet/log.h>
#include <usnet/port.h>

#include "../unit/check.h"

#define IP_US	0xc6122a02u /* 198.18.42.2: the application's */
#define IP_HOST 0xc6122a03u /* 198.18.42.3 */
#define PORT_US 4789

static const uint8_t mac_other[6] = {0x02, 0x11, 0x22, 0x33, 0x44, 0x55};
static const uint8_t mac_client[6] = {0x02, 0x75, 0, 0, 0, 7};

struct frame {
	uint8_t b[128];
	uint32_t len;
};

/* Ethernet + IPv4 (ihl words, frag_off host order) + 8 bytes of L4 ports. */
static struct frame ip_frame(const uint8_t *dst, uint32_t daddr, uint8_t proto, uint16_t dport,
			     uint8_t ihl, uint16_t frag_off)
{
	struct frame f = {.len = 14 + ihl * 4u + 8};
	uint8_t *ip = f.b + 14, *l4 = ip + ihl * 4;
	uint32_t d = htonl(daddr);
	uint16_t dp = htons(dport), fo = htons(frag_off);

	memcpy(f.b, dst, 6);
	memcpy(f.b + 6, mac_other, 6);
	f.b[12] = 0x08;
	f.b[13] = 0x00;
	ip[0] = (uint8_t)(0x40 | ihl);
	ip[2] = 0;
	ip[3] = (uint8_t)(ihl * 4 + 8);
	memcpy(ip + 6, &fo, 2);
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 16, &d, 4);
	l4[0] = 0x30;
	l4[1] = 0x39;
	memcpy(l4 + 2, &dp, 2);
	return f;
}

static struct frame arp_frame(const uint8_t *dst)
{
	struct frame f = {.len = 60};

	memcpy(f.b, dst, 6);
	memcpy(f.b + 6, mac_other, 6);
	f.b[12] = 0x08;
	f.b[13] = 0x06;
	return f;
}

/* The verdict of the program attached to ifindex for frame f. */
static int verdict(int ifindex, struct frame f)
{
	/* No ctx_in: the frame then arrives on queue 0 (of lo), where the
	 * port's socket sits in xsks_map. */
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f.b, .data_size_in = f.len, .repeat = 1);
	uint32_t id = 0;
	int fd, err;

	if (bpf_xdp_query_id(ifindex, 0, &id) || !id) {
		fprintf(stderr, "no XDP program on ifindex %d\n", ifindex);
		return -1;
	}
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0)
		return -1;
	err = bpf_prog_test_run_opts(fd, &o);
	close(fd);
	if (err) {
		fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", strerror(-err));
		return -1;
	}
	return (int)o.retval;
}

static struct usnet_port *open_port(const char *spec)
{
	struct usnet_port *p;

	if (usnet_port_open(&p, spec, NULL)) {
		fprintf(stderr, "%s: %s\n", spec, usnet_last_error());
		return NULL;
	}
	return p;
}

#define EXPECT(what, v, want)                                                                      \
	do {                                                                                       \
		int got_ = (v);                                                                    \
		printf("%-58s %s\n", what,                                                         \
		       got_ == XDP_REDIRECT ? "usnet"                                              \
		       : got_ == XDP_PASS   ? "kernel"                                             \
					    : "?");                                                  \
		CHECK_EQ(got_, want);                                                              \
	} while (0)

int main(int argc, char **argv)
{
	char spec[128];
	struct usnet_port *p;
	const uint8_t *me;
	int ifx;

	if (argc != 2) {
		fprintf(stderr, "usage: afxdp_prog IFNAME\n");
		return 2;
	}
	ifx = (int)if_nametoindex(argv[1]);
	CHECK(ifx > 0);

	/* 1. steer with ip=, port=, proto=udp: the interface's MAC is in the set. */
	snprintf(spec, sizeof(spec), "afxdp:%s,ip=198.18.42.2,port=%d,proto=udp", argv[1], PORT_US);
	p = open_port(spec);
	if (!p)
		return 1;
	me = usnet_port_info(p)->mac;
	printf("-- %s\n", spec);
	EXPECT("UDP to ip:port", verdict(ifx, ip_frame(me, IP_US, 17, PORT_US, 5, 0)),
	       XDP_REDIRECT);
	EXPECT("UDP to ip:port, IP options (ihl 6)",
	       verdict(ifx, ip_frame(me, IP_US, 17, PORT_US, 6, 0)), XDP_REDIRECT);
	EXPECT("UDP to ip:port, first fragment (MF)",
	       verdict(ifx, ip_frame(me, IP_US, 17, PORT_US, 5, 0x2000)), XDP_REDIRECT);
	EXPECT("UDP to ip:port, later fragment",
	       verdict(ifx, ip_frame(me, IP_US, 17, PORT_US, 5, 0x10)), XDP_PASS);
	EXPECT("UDP to ip:other port (the host's)", verdict(ifx, ip_frame(me, IP_US, 17, 22, 5, 0)),
	       XDP_PASS);
	EXPECT("TCP to ip:port (proto=udp)", verdict(ifx, ip_frame(me, IP_US, 6, PORT_US, 5, 0)),
	       XDP_PASS);
	EXPECT("ICMP to ip", verdict(ifx, ip_frame(me, IP_US, 1, PORT_US, 5, 0)), XDP_PASS);
	EXPECT("UDP to another ip:port", verdict(ifx, ip_frame(me, IP_HOST, 17, PORT_US, 5, 0)),
	       XDP_PASS);
	EXPECT("UDP to ip:port, another MAC",
	       verdict(ifx, ip_frame(mac_other, IP_US, 17, PORT_US, 5, 0)), XDP_PASS);
	EXPECT("ARP to our MAC", verdict(ifx, arp_frame(me)), XDP_PASS);
	{
		struct frame f = ip_frame(me, IP_US, 17, PORT_US, 5, 0);

		f.len = 14 + 12; /* cut inside the IPv4 header */
		EXPECT("truncated IPv4 header", verdict(ifx, f), XDP_PASS);
		f = ip_frame(me, IP_US, 17, PORT_US, 5, 0);
		f.len = 14 + 20 + 2; /* cut before the destination port */
		EXPECT("truncated UDP header", verdict(ifx, f), XDP_PASS);
	}
	usnet_port_close(p);

	/* 2. steer without ip=/port=: nothing until a MAC is added. */
	snprintf(spec, sizeof(spec), "afxdp:%s", argv[1]);
	p = open_port(spec);
	if (!p)
		return 1;
	me = usnet_port_info(p)->mac;
	printf("-- %s, then usnet_port_steer_mac(02:75:00:00:00:07)\n", spec);
	EXPECT("to the interface's MAC, empty set", verdict(ifx, ip_frame(me, IP_US, 17, 9, 5, 0)),
	       XDP_PASS);
	EXPECT("to the client MAC, before it is added",
	       verdict(ifx, ip_frame(mac_client, IP_US, 17, 9, 5, 0)), XDP_PASS);
	CHECK_EQ(usnet_port_steer_mac(p, mac_client), 0);
	EXPECT("to the client MAC, after", verdict(ifx, ip_frame(mac_client, IP_US, 17, 9, 5, 0)),
	       XDP_REDIRECT);
	EXPECT("ARP to the client MAC", verdict(ifx, arp_frame(mac_client)), XDP_REDIRECT);
	EXPECT("to the interface's MAC, after", verdict(ifx, ip_frame(me, IP_US, 17, 9, 5, 0)),
	       XDP_PASS);
	usnet_port_close(p);

	/* 3. all: everything on the queue. */
	snprintf(spec, sizeof(spec), "afxdp:%s,prog=all", argv[1]);
	p = open_port(spec);
	if (!p)
		return 1;
	printf("-- %s\n", spec);
	EXPECT("ARP to another MAC", verdict(ifx, arp_frame(mac_other)), XDP_REDIRECT);
	EXPECT("UDP anywhere", verdict(ifx, ip_frame(mac_other, IP_HOST, 17, 22, 5, 0)),
	       XDP_REDIRECT);
	usnet_port_close(p);
	return check_done("afxdp_prog");
}
