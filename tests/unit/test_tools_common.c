/* SPDX-License-Identifier: MIT */
/* The tools' shared code: option values, the incremental UDP checksum
 * against a full recompute, sequence-number bookkeeping, JSON output. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common.h"

static void test_parse_u64(void)
{
	const char *why = NULL;
	uint64_t v = 0;

	CHECK_EQ(tool_parse_u64("100", 0, 1000, &v, &why), 0);
	CHECK_EQ(v, 100);
	CHECK_EQ(tool_parse_u64("1k", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 1000);
	CHECK_EQ(tool_parse_u64("2K", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 2000);
	CHECK_EQ(tool_parse_u64("3M", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 3000000);
	CHECK_EQ(tool_parse_u64("1G", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 1000000000);
	CHECK_EQ(tool_parse_u64("18446744073709551615", 0, UINT64_MAX, &v, &why), 0);
	CHECK(v == UINT64_MAX);

	CHECK_EQ(tool_parse_u64("abc", 0, 10, &v, &why), -EINVAL);
	CHECK(!strcmp(why, "not a number"));
	CHECK_EQ(tool_parse_u64("", 0, 10, &v, &why), -EINVAL);
	CHECK(!strcmp(why, "not a number"));
	CHECK_EQ(tool_parse_u64("12x", 0, 100, &v, &why), -EINVAL);
	CHECK(!strcmp(why, "not a number"));
	CHECK_EQ(tool_parse_u64("1kk", 0, 100000, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_u64(" 5", 0, 10, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_u64("+5", 0, 10, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_u64("-1", 0, 10, &v, &why), -EINVAL);
	CHECK(!strcmp(why, "must not be negative"));
	CHECK_EQ(tool_parse_u64("59", 60, 1514, &v, &why), -EINVAL);
	CHECK(!strcmp(why, "must be between 60 and 1514"));
	CHECK_EQ(tool_parse_u64("1515", 60, 1514, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_u64("2k", 60, 1514, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_u64("99999999999999999999", 0, UINT64_MAX, &v, &why), -EINVAL);
	CHECK(!strcmp(why, "too large"));
	/* The multiplication overflows: out of range, not wrapped. */
	CHECK_EQ(tool_parse_u64("18446744073709551615k", 0, UINT64_MAX, &v, &why), -EINVAL);
	CHECK(v == UINT64_MAX); /* untouched on failure */
}

static void test_parse_seconds(void)
{
	const char *why = NULL;
	uint64_t ns = 0;

	CHECK_EQ(tool_parse_seconds("2.5", &ns, &why), 0);
	CHECK(ns == 2500000000ull);
	CHECK_EQ(tool_parse_seconds("1", &ns, &why), 0);
	CHECK(ns == 1000000000ull);
	CHECK_EQ(tool_parse_seconds(".5", &ns, &why), 0);
	CHECK(ns == 500000000ull);
	CHECK_EQ(tool_parse_seconds("0.0000000001", &ns, &why), 0);
	CHECK_EQ(ns, 1); /* rounds up to something, never to "no limit" */
	CHECK_EQ(tool_parse_seconds("31536000", &ns, &why), 0);
	CHECK_EQ(tool_parse_seconds("0", &ns, &why), -EINVAL);
	CHECK(strstr(why, "more than 0") != NULL);
	CHECK_EQ(tool_parse_seconds("31536001", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds("-1", &ns, &why), -EINVAL);
	CHECK(!strcmp(why, "must not be negative"));
	CHECK_EQ(tool_parse_seconds("inf", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds("nan", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds("1e3", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds("0x10", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds("1.2.3", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds(".", &ns, &why), -EINVAL);
	CHECK_EQ(tool_parse_seconds("", &ns, &why), -EINVAL);
}

/* Frame from a seq-0 template stamped incrementally == frame built from scratch. */
static int stamp_matches(const struct usnet_udp4_flow *flow, uint16_t size, uint64_t seq)
{
	uint8_t tpl[USNET_ETH_MAX_FRAME], ref[USNET_ETH_MAX_FRAME], be[8];
	static const uint8_t zero[8];
	struct usnet_udp4_view v;

	for (int i = 0; i < 8; i++)
		be[i] = (uint8_t)(seq >> (56 - 8 * i));
	if (usnet_udp4_build(tpl, sizeof(tpl), flow, size, zero, 8) != size ||
	    usnet_udp4_build(ref, sizeof(ref), flow, size, be, 8) != size)
		return 0;
	tool_seq_stamp(tpl, seq);
	if (memcmp(tpl, ref, size))
		return 0;
	if (usnet_udp4_parse(tpl, size, &v) || !v.ip_csum_ok || !v.udp_csum_ok)
		return 0;
	return tool_seq_read(v.payload) == seq;
}

static void test_seq_stamp(void)
{
	struct usnet_udp4_flow flow = {
	    .src_mac = {0x02, 0, 0, 0, 0, 1},
	    .dst_mac = {0x02, 0, 0, 0, 0, 2},
	    .src_ip = 0xc6120001,
	    .dst_ip = 0xc6120002,
	    .sport = 1024,
	    .dport = 9,
	};
	static const uint64_t edge[] = {
	    0,	       1, 0xffff, 0x10000, 0xffffffff, 0x123456789abcdefull, 0x8000000000000000ull,
	    UINT64_MAX};
	unsigned bad = 0, zero_case = 0;
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]); i++) {
		CHECK(stamp_matches(&flow, 60, edge[i]));
		CHECK(stamp_matches(&flow, 1514, edge[i]));
	}
	/* Every low 16-bit value, so that some sum folds to 0xffff and the
	 * computed checksum 0 must go out as 0xffff (RFC 768). */
	for (uint32_t s = 0; s < 65536; s++) {
		uint8_t f[64];

		bad += !stamp_matches(&flow, 60, s);
		usnet_udp4_build(f, sizeof(f), &flow, 60, NULL, 0);
		tool_seq_stamp(f, s);
		zero_case += f[TOOL_UDP_CSUM_OFF] == 0xff && f[TOOL_UDP_CSUM_OFF + 1] == 0xff;
	}
	CHECK_EQ(bad, 0);
	CHECK(zero_case > 0);
	/* Random sequence numbers over many flows and sizes (xorshift64). */
	bad = 0;
	for (unsigned i = 0; i < 20000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		flow.sport = (uint16_t)(x >> 20);
		flow.src_ip = (uint32_t)(x >> 7);
		bad += !stamp_matches(&flow, (uint16_t)(60 + x % 1455), x);
	}
	CHECK_EQ(bad, 0);
}

static void test_seq_track(void)
{
	struct tool_seq s;

	CHECK_EQ(tool_seq_init(&s, 1u << 20), 0);
	CHECK_EQ(tool_seq_lost(&s), 0);
	for (uint64_t i = 0; i < 10; i++)
		tool_seq_add(&s, i);
	CHECK_EQ(s.received, 10);
	CHECK_EQ(s.unique, 10);
	CHECK_EQ(s.max_seq, 9);
	CHECK_EQ(tool_seq_lost(&s), 0);
	CHECK_EQ(s.reordered, 0);
	tool_seq_add(&s, 5);
	CHECK_EQ(s.duplicated, 1);
	CHECK_EQ(s.reordered, 0); /* a duplicate is not also reordered */
	tool_seq_add(&s, 15);
	CHECK_EQ(tool_seq_lost(&s), 5); /* 10..14 */
	tool_seq_add(&s, 12);
	CHECK_EQ(s.reordered, 1);
	CHECK_EQ(tool_seq_lost(&s), 4);
	/* Beyond the initial bitmap: grows, and keeps what it knew. */
	tool_seq_add(&s, 1000000);
	CHECK(s.nbits > 1000000);
	CHECK_EQ(s.untracked, 0);
	CHECK_EQ(s.max_seq, 1000000);
	tool_seq_add(&s, 3);
	CHECK_EQ(s.duplicated, 2);
	tool_seq_add(&s, 999999);
	CHECK_EQ(s.reordered, 2);
	CHECK_EQ(tool_seq_lost(&s), 1000001 - s.unique);
	/* At the cap: untracked, nothing else changes. */
	tool_seq_add(&s, 1u << 20);
	tool_seq_add(&s, UINT64_MAX);
	CHECK_EQ(s.untracked, 2);
	CHECK_EQ(s.max_seq, 1000000);
	CHECK_EQ(s.received, 18);
	CHECK_EQ(s.unique + s.duplicated + s.untracked, s.received);
	tool_seq_free(&s);
}

static void test_json(void)
{
	struct tool_json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	bool ok;

	CHECK(f != NULL);
	if (!f)
		return;
	tool_json_begin(&j, f);
	tool_json_str(&j, "s", "a\"b\\c\n\x01");
	tool_json_u64(&j, "n", UINT64_MAX);
	tool_json_f64(&j, "x", 1.5, 2);
	tool_json_f64(&j, "inf", INFINITY, 1);
	tool_json_open(&j, "list", '[');
	tool_json_open(&j, NULL, '{');
	tool_json_bool(&j, "t", true);
	tool_json_close(&j, '}');
	tool_json_open(&j, NULL, '{');
	tool_json_null(&j, "z");
	tool_json_close(&j, '}');
	tool_json_close(&j, ']');
	tool_json_bool(&j, "last", false);
	tool_json_end(&j);
	fclose(f);
	ok = !strcmp(buf, "{\"s\":\"a\\\"b\\\\c\\u000a\\u0001\",\"n\":18446744073709551615,"
			  "\"x\":1.50,\"inf\":0.0,\"list\":[{\"t\":true},{\"z\":null}],"
			  "\"last\":false}\n");
	CHECK(ok);
	if (!ok)
		fprintf(stderr, "json written: %s", buf);
	free(buf);
}

static void test_run_clock(void)
{
	struct tool_run r;
	uint64_t t0;

	tool_run_start(&r, 2500000000ull, true);
	t0 = r.start_ns;
	CHECK(!tool_run_over(&r, t0));
	CHECK(!tool_run_line_due(&r, t0 + 999999999));
	CHECK(tool_run_line_due(&r, t0 + 1000000000));
	CHECK_EQ(tool_run_timeout_ms(&r, t0, 100), 100);
	CHECK_EQ(tool_run_timeout_ms(&r, t0 + 999500000, 100), 1); /* rounds up */
	tool_run_line(&r, t0 + 3200000000ull, NULL, 0, NULL);
	CHECK(r.next_line_ns == t0 + 4000000000ull); /* missed lines are skipped */
	CHECK_EQ(tool_run_timeout_ms(&r, t0 + 2400000000ull, 1000), 100); /* deadline first */
	CHECK(tool_run_over(&r, t0 + 2500000000ull));
	tool_stop = 1;
	CHECK(tool_run_over(&r, t0));
	tool_stop = 0;
}

int main(void)
{
	tool_init("test_tools_common");
	test_parse_u64();
	test_parse_seconds();
	test_seq_stamp();
	test_seq_track();
	test_json();
	test_run_clock();
	return check_done("test_tools_common");
}
