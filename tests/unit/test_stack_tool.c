/* SPDX-License-Identifier: MIT */
/* tools/stack_tool.c: the nearest-rank percentiles the stack tools report,
 * and the host options' parsing (the error paths exit, so they are in
 * tests/integration/stack_cli.sh). */
#include <string.h>

#include "check.h"
#include "stack_tool.h"

static void test_percentile(void)
{
	uint64_t v[100], one = 42, two[2] = {9, 3};

	/* 1..100 shuffled: p50 is 50, p99 99, p99.9 100, p100 100, p1 1. */
	for (unsigned i = 0; i < 100; i++)
		v[i] = (i * 37) % 100 + 1;
	tool_sort_u64(v, 100);
	for (unsigned i = 0; i < 100; i++)
		CHECK_EQ(v[i], i + 1);
	CHECK_EQ(tool_percentile(v, 100, 50), 50);
	CHECK_EQ(tool_percentile(v, 100, 90), 90);
	CHECK_EQ(tool_percentile(v, 100, 99), 99);
	CHECK_EQ(tool_percentile(v, 100, 99.9), 100);
	CHECK_EQ(tool_percentile(v, 100, 100), 100);
	CHECK_EQ(tool_percentile(v, 100, 1), 1);
	CHECK_EQ(tool_percentile(v, 100, 0.001), 1);
	/* n = 1 and 2; n = 0 gives 0 without reading. */
	CHECK_EQ(tool_percentile(&one, 1, 50), 42);
	CHECK_EQ(tool_percentile(&one, 1, 99.9), 42);
	tool_sort_u64(two, 2);
	CHECK_EQ(tool_percentile(two, 2, 50), 3);
	CHECK_EQ(tool_percentile(two, 2, 51), 9);
	CHECK_EQ(tool_percentile(NULL, 0, 50), 0);
}

static void test_host_opts(void)
{
	struct tool_std std = {.spec = {"loop:"}, .nspec = 1};
	struct tool_host_opts h;
	uint32_t ip;
	uint16_t port;
	char buf[16];

	memset(&h, 0, sizeof(h));
	CHECK(tool_host_opt(&h, TOOL_HOST_OPT_IP, "198.18.0.2/20"));
	CHECK_EQ(h.ip, 0xc6120002u);
	CHECK_EQ(h.prefix_len, 20);
	CHECK(tool_host_opt(&h, TOOL_HOST_OPT_GW, "198.18.15.254"));
	CHECK(!tool_host_opt(&h, 'p', "loop:")); /* -p is common.h's */
	CHECK(tool_host_opt(&h, TOOL_HOST_OPT_MAC, "02:75:00:00:00:07"));
	CHECK(h.mac_set && h.mac[5] == 7);
	CHECK(tool_host_opt(&h, TOOL_HOST_OPT_MTU, "1400"));
	CHECK_EQ(h.mtu, 1400);
	CHECK(!tool_host_opt(&h, 'x', "1"));
	tool_host_check(&h, &std); /* the gateway is in 198.18.0.0/20: no exit */
	CHECK(!strcmp(h.ip_str, "198.18.0.2"));
	CHECK(!strcmp(h.spec, "loop:"));
	CHECK(tool_host_opt(&h, TOOL_HOST_OPT_IP, "10.1.2.3"));
	CHECK_EQ(h.prefix_len, 24);
	tool_arg_addr_port("DEST", "198.18.0.1:65535", &ip, &port);
	CHECK_EQ(ip, 0xc6120001u);
	CHECK_EQ(port, 65535);
	CHECK(!strcmp(tool_ip_str(0xffffffffu, buf), "255.255.255.255"));
}

int main(void)
{
	test_percentile();
	test_host_opts();
	return check_done("test_stack_tool");
}
