/* SPDX-License-Identifier: MIT */
/* The tools' shared code: option values, the incremental UDP checksum
 * against a full recompute, sequence-number bookkeeping, JSON output, the
 * table of standard options and tool_parse(). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

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
	/* Sizes: the same syntax with powers of 2. */
	CHECK_EQ(tool_parse_bytes("3k", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 3072);
	CHECK_EQ(tool_parse_bytes("2M", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 2 << 20);
	CHECK_EQ(tool_parse_bytes("1G", 0, UINT64_MAX, &v, &why), 0);
	CHECK_EQ(v, 1 << 30);
	CHECK_EQ(tool_parse_bytes("17179869184G", 0, UINT64_MAX, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_bytes("2K", 0, 2047, &v, &why), -EINVAL);
	CHECK_EQ(tool_parse_bytes("1x", 0, 100, &v, &why), -EINVAL);
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

/* Where the holes are: runs, single numbers, the cut after max runs. */
static void test_seq_gaps(void)
{
	struct tool_seq s;
	char buf[64];

	CHECK_EQ(tool_seq_init(&s, 1u << 20), 0);
	tool_seq_gaps(&s, 8, buf, sizeof(buf));
	CHECK(!strcmp(buf, "")); /* nothing seen: nothing known missing */
	for (uint64_t i = 0; i < 200; i++)
		if (i != 0 && (i < 3 || i > 5) && i != 64 && (i < 100 || i > 170))
			tool_seq_add(&s, i);
	tool_seq_gaps(&s, 8, buf, sizeof(buf));
	CHECK(!strcmp(buf, "0,3-5,64,100-170"));
	tool_seq_gaps(&s, 2, buf, sizeof(buf));
	CHECK(!strcmp(buf, "0,3-5,..."));
	tool_seq_add(&s, 0);
	tool_seq_add(&s, 64);
	tool_seq_gaps(&s, 8, buf, sizeof(buf));
	CHECK(!strcmp(buf, "3-5,100-170"));
	for (uint64_t i = 3; i <= 170; i++)
		tool_seq_add(&s, i);
	tool_seq_gaps(&s, 8, buf, sizeof(buf));
	CHECK(!strcmp(buf, "")); /* complete */
	tool_seq_add(&s, 1000);
	tool_seq_gaps(&s, 8, buf, sizeof(buf));
	CHECK(!strcmp(buf, "200-999")); /* up to, not including, max_seq */
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

/* tool_parse()'s hooks for a made-up tool: -x N, --own, and positional words. */
struct parsed {
	uint64_t x;
	bool own, checked;
	int nargs;
	const char *arg0;
};

static void own_opt(void *ctx, int c, const char *arg)
{
	struct parsed *p = ctx;

	if (c == 'x')
		p->x = tool_arg_u64("-x", arg, 0, 100);
	else if (c == 300)
		p->own = true;
}

static void own_args(void *ctx, int argc, char **argv)
{
	struct parsed *p = ctx;

	p->nargs = argc;
	p->arg0 = argc ? argv[0] : NULL;
}

static void own_check(void *ctx, struct tool_std *std)
{
	struct parsed *p = ctx;

	p->checked = std->nspec == 1;
}

static const struct option own_long[] = {
    {"own", no_argument, NULL, 300},
    {NULL, 0, NULL, 0},
};

static const struct tool_def test_def = {
    .name = "test_tools_common",
    .std = TOOL_OPT_PORT | TOOL_OPT_COUNT | TOOL_OPT_TIME | TOOL_OPT_BURST | TOOL_OPT_QUIET |
	   TOOL_OPT_JSON,
    .ports = 1,
    .port_role = "the port to test",
    .burst = 32,
    .short_opts = "x:",
    .long_opts = own_long,
    .opt = own_opt,
    .args = own_args,
    .check = own_check,
};

/* tool_parse() in a child: its exit status (0 if it returned), its stderr in err. */
static int parse_in_child(const struct tool_def *def, char **argv, char *err, size_t size)
{
	int argc = 0, fd[2], status;
	struct parsed p = {0};
	struct tool_std std;
	ssize_t n, len = 0;
	pid_t pid;

	while (argv[argc])
		argc++;
	if (pipe(fd))
		return -1;
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		dup2(fd[1], 2);
		optind = 0; /* getopt(3): 0 restarts the scan */
		tool_parse(def, &p, &std, argc, argv);
		_exit(0);
	}
	close(fd[1]);
	while (len + 1 < (ssize_t)size && (n = read(fd[0], err + len, size - 1 - (size_t)len)) > 0)
		len += n;
	err[len] = '\0';
	close(fd[0]);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static void check_usage(const struct tool_def *def, char **argv, const char *line)
{
	char err[512];

	CHECK_EQ(parse_in_child(def, argv, err, sizeof(err)), TOOL_EXIT_USAGE);
	CHECK(!strcmp(err, line));
	if (strcmp(err, line))
		fprintf(stderr, "  got: %s  want: %s", err, line);
}

static void test_parse_table(void)
{
	char *ok[] = {"t", "-p", "null:",  "-n", "2k", "-t",	"1.5",	"-b",
		      "8", "-q", "--json", "-x", "7",  "--own", "word", NULL};
	char *defaults[] = {"t", "--port=loop:", NULL};
	struct tool_def two = test_def, no_burst = test_def;
	struct parsed p = {0};
	struct tool_std std;

	optind = 0;
	tool_parse(&test_def, &p, &std, 15, ok);
	CHECK_EQ(std.nspec, 1);
	CHECK(!strcmp(std.spec[0], "null:"));
	CHECK_EQ(std.count, 2000);
	CHECK(std.count_set);
	CHECK_EQ(std.duration_ns, 1500000000ull);
	CHECK_EQ(std.burst, 8);
	CHECK(std.quiet && std.json);
	CHECK_EQ(p.x, 7);
	CHECK(p.own && p.checked);
	CHECK_EQ(p.nargs, 1);
	CHECK(p.arg0 && !strcmp(p.arg0, "word"));

	memset(&p, 0, sizeof(p));
	optind = 0;
	tool_parse(&test_def, &p, &std, 2, defaults);
	CHECK(!strcmp(std.spec[0], "loop:"));
	CHECK_EQ(std.burst, 32); /* def->burst */
	CHECK(!std.count_set && !std.duration_ns && !std.quiet && !std.json);
	CHECK_EQ(p.nargs, 0);

	check_usage(&test_def, (char *[]){"t", "-p", "a:", "-p", "b:", NULL},
		    "test_tools_common: -p given twice\n");
	check_usage(&test_def, (char *[]){"t", NULL},
		    "test_tools_common: missing -p SPEC: the port to test\n");
	check_usage(&test_def, (char *[]){"t", "-p", "a:", "-x", "101", NULL},
		    "test_tools_common: invalid -x '101': must be between 0 and 100\n");
	check_usage(&test_def, (char *[]){"t", "-p", "a:", "--json=1", NULL},
		    "test_tools_common: option '--json' takes no value\n");
	check_usage(&test_def, (char *[]){"t", "-p", "a:", "-b", "0", NULL},
		    "test_tools_common: invalid -b '0': must be between 1 and 256\n");
	two.ports = 2;
	two.args = NULL;
	check_usage(&two, (char *[]){"t", "-p", "a:", NULL},
		    "test_tools_common: missing -p SPEC: needs two ports, got 1\n");
	check_usage(&two, (char *[]){"t", "-p", "a:", "-p", "b:", "-p", "c:", NULL},
		    "test_tools_common: more than two -p options\n");
	check_usage(&two, (char *[]){"t", "-p", "a:", "-p", "b:", "extra", NULL},
		    "test_tools_common: unexpected argument 'extra'\n");
	/* A standard option the tool does not take is unknown to it. */
	no_burst.std &= ~(unsigned)TOOL_OPT_BURST;
	check_usage(&no_burst, (char *[]){"t", "-p", "a:", "-b", "8", NULL},
		    "test_tools_common: unknown option '-b'\n");
	check_usage(&no_burst, (char *[]){"t", "-p", "a:", "--burst", "8", NULL},
		    "test_tools_common: unknown option '--burst'\n");
}

int main(void)
{
	tool_init("test_tools_common");
	test_parse_u64();
	test_parse_seconds();
	test_seq_stamp();
	test_seq_track();
	test_seq_gaps();
	test_json();
	test_run_clock();
	test_parse_table();
	return check_done("test_tools_common");
}
