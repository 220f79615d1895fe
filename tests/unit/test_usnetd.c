/* SPDX-License-Identifier: MIT */
/*
 * usnetd's parts that need no sockets: the configuration (file syntax,
 * command-line settings, defaults and consistency checks), MAC derivation
 * and the MAC table, the switch's verdicts, the flow hash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>
#include <usnet/proto.h>

#include "../../daemon/usnetd.h"
#include "check.h"

static struct usnetd_conf conf; /* large */

static void fresh(void)
{
	usnetd_conf_init(&conf);
}

static void bad_text(const char *text, const char *needle)
{
	fresh();
	CHECK(usnetd_conf_parse(&conf, text, "t.conf") < 0);
	CHECK(strstr(usnet_last_error(), needle) != NULL);
	if (!strstr(usnet_last_error(), needle))
		fprintf(stderr, "  config gave '%s', wanted '%s'\n", usnet_last_error(), needle);
}

static void test_config(void)
{
	static const char text[] = "# usnetd test\n"
				   "socket = /tmp/t/usnetd.sock\n"
				   "socket_mode = 0666\n"
				   "socket_owner = 0\n"
				   "core = 1\n"
				   "spin_us = 20  # comment after a value\n"
				   "queues = 2\n"
				   "mac_prefix = 0a:bc\n"
				   "\n"
				   "[uplink lan]\n"
				   "spec = afpacket:eth0\n"
				   "rx = yes\n"
				   "  ; comment with leading space\n"
				   "[uplink sink]\n"
				   "spec = null:\n"
				   "rx = no\n"
				   "promisc = off\n"
				   "[interface web]\n"
				   "id = 7\n"
				   "mac = 02:00:00:00:00:07\n"
				   "uids = 0, 1000\n"
				   "gids = 0\n"
				   "secret = hunter2#not-a-comment\n"
				   "allow_any_src_mac = yes\n"
				   "uplink = sink\n"
				   "[interface 9]\n"
				   "queues = 3\n";
	const struct usnetd_iface_conf *f;

	fresh();
	CHECK_EQ(usnetd_conf_parse(&conf, text, "t.conf"), 0);
	if (check_failed)
		fprintf(stderr, "  %s\n", usnet_last_error());
	CHECK(!strcmp(conf.socket_path, "/tmp/t/usnetd.sock"));
	CHECK_EQ(conf.socket_mode, 0666);
	CHECK_EQ(conf.socket_uid, 0);
	CHECK_EQ(conf.core, 1);
	CHECK_EQ(conf.spin_us, 20);
	CHECK_EQ(conf.queues, 2);
	CHECK_EQ(conf.nuplinks, 2);
	CHECK(!strcmp(conf.uplink[0].name, "lan") && conf.uplink[0].rx && conf.uplink[0].promisc);
	CHECK(!strcmp(conf.uplink[1].spec, "null:") && !conf.uplink[1].rx);
	CHECK(!conf.uplink[1].promisc);
	CHECK_EQ(conf.nifaces, 2);
	/* Command line on top: amend id 9, add id 12, add an uplink. */
	CHECK_EQ(usnetd_conf_iface_arg(&conf, "9,uids=5:6,mac=02:00:00:00:00:99"), 0);
	CHECK_EQ(usnetd_conf_iface_arg(&conf, "12"), 0);
	CHECK_EQ(usnetd_conf_uplink_arg(&conf, "tap:x", true), 0);
	CHECK_EQ(usnetd_conf_finish(&conf), 0);
	if (check_failed)
		fprintf(stderr, "  %s\n", usnet_last_error());
	CHECK(!strcmp(conf.control_path, "/tmp/t/usnetd.ctl"));
	CHECK(!conf.auto_ids); /* interfaces are configured: no automatic ids */
	CHECK_EQ(conf.nifaces, 3);
	f = &conf.iface[0];
	CHECK(!strcmp(f->name, "web") && f->id == 7 && f->any_src_mac);
	CHECK(f->nuids == 2 && f->uids[0] == 0 && f->uids[1] == 1000);
	CHECK(f->ngids == 1 && f->gids[0] == 0);
	CHECK(!strcmp(f->secret, "hunter2#not-a-comment"));
	CHECK(!strcmp(f->uplink, "sink"));
	CHECK_EQ(f->queues, 2); /* the global default */
	f = &conf.iface[1];
	CHECK(!strcmp(f->name, "if9") && f->id == 9 && f->queues == 3);
	CHECK(f->nuids == 2 && f->uids[0] == 5 && f->uids[1] == 6);
	CHECK(f->mac_set && f->mac[5] == 0x99);
	CHECK(!strcmp(f->uplink, "lan")); /* the first uplink */
	f = &conf.iface[2];
	CHECK(f->id == 12 && !f->mac_set);
	CHECK(f->mac[0] == 0x0a && f->mac[1] == 0xbc && f->mac[5] == 12);
	CHECK(!strcmp(conf.uplink[2].name, "u2"));

	/* Nothing configured: ids 0-15 are served, with derived MACs. */
	fresh();
	CHECK_EQ(usnetd_conf_set(&conf, "socket", "@abstract"), 0);
	CHECK_EQ(usnetd_conf_finish(&conf), 0);
	CHECK(conf.auto_ids && conf.nifaces == 16);
	CHECK(!strcmp(conf.control_path, "@abstract.ctl"));
	CHECK(conf.iface[3].auto_made && conf.iface[3].id == 3);
	CHECK(!strcmp(conf.iface[3].uplink, "none"));
	CHECK(conf.iface[3].mac[0] == 0x02 && conf.iface[3].mac[1] == 0x75);
	fresh();
	CHECK_EQ(usnetd_conf_set(&conf, "auto_ids", "none"), 0);
	CHECK_EQ(usnetd_conf_finish(&conf), 0);
	CHECK_EQ(conf.nifaces, 0);
	fresh();
	CHECK_EQ(usnetd_conf_set(&conf, "auto_ids", "100-103"), 0);
	CHECK_EQ(usnetd_conf_iface_arg(&conf, "101,secret=x"), 0);
	CHECK_EQ(usnetd_conf_finish(&conf), 0);
	CHECK_EQ(conf.nifaces, 4);
	CHECK(!conf.iface[0].auto_made && conf.iface[0].id == 101);

	/* Errors name the file and line. */
	bad_text("socket = /x\nbogus = 1\n", "t.conf:2: unknown key 'bogus'");
	bad_text("[interface a]\nid = 1\n[interface b]\nid = 1\n",
		 "t.conf:4: id 1: configured twice");
	bad_text("[interface a]\nmac = 01:00:5e:00:00:01\n", "group (multicast)");
	bad_text("[interface a]\nmac = zz\n", "not aa:bb:cc:dd:ee:ff");
	bad_text("[interface a]\nsecret = 0123456789012345678901234\n", "longer than 24");
	bad_text("[interface a]\nqueues = 17\n", "not in 1..16");
	bad_text("[interface a]\nuids = nosuchuser_usnetd\n", "no user");
	bad_text("[interface a]\nallow_any_src_mac = maybe\n", "not yes or no");
	bad_text("[bridge x]\n", "unknown section");
	bad_text("[interface x\n", "closing ]");
	bad_text("core\n", "not key = value");
	bad_text("socket_mode = 999\n", "not a number");
	bad_text("spin_us = -1\n", "not a number");
	bad_text("auto_ids = 5\n", "LO-HI");
	bad_text("auto_ids = 0-1000\n", "at most 256");
	bad_text("mac_prefix = 03:00\n", "unicast");
	bad_text("log = file\n", "stderr or syslog");

	/* Consistency. */
	fresh();
	CHECK_EQ(usnetd_conf_parse(&conf, "[interface a]\nname = a\n", "t"), 0);
	CHECK(usnetd_conf_finish(&conf) < 0 && strstr(usnet_last_error(), "has no id"));
	fresh();
	CHECK_EQ(usnetd_conf_parse(&conf, "[interface 1]\nuplink = wan\n", "t"), 0);
	CHECK(usnetd_conf_finish(&conf) < 0 && strstr(usnet_last_error(), "no uplink named"));
	fresh();
	CHECK_EQ(usnetd_conf_parse(&conf,
				   "[interface 1]\nmac = 02:00:00:00:00:01\n"
				   "[interface 2]\nmac = 02:00:00:00:00:01\n",
				   "t"),
		 0);
	CHECK(usnetd_conf_finish(&conf) < 0 && strstr(usnet_last_error(), "both have MAC"));
	fresh();
	CHECK_EQ(
	    usnetd_conf_parse(&conf, "[uplink a]\nspec = null:\n[uplink a]\nspec = null:\n", "t"),
	    0);
	CHECK(usnetd_conf_finish(&conf) < 0 && strstr(usnet_last_error(), "two uplinks"));
	fresh();
	CHECK_EQ(usnetd_conf_set(&conf, "control", USNETD_DFLT_SOCKET), 0);
	CHECK(usnetd_conf_finish(&conf) < 0);
	fresh();
	CHECK(usnetd_conf_iface_arg(&conf, "x") < 0);
	CHECK(usnetd_conf_iface_arg(&conf, "3,nokey") < 0);
	CHECK(usnetd_conf_iface_arg(&conf, "3,id=4") < 0);
	/* -i 5 -i 5 was taken, the second silently merged into the first. */
	fresh();
	CHECK_EQ(usnetd_conf_iface_arg(&conf, "5"), 0);
	CHECK(usnetd_conf_iface_arg(&conf, "5,secret=x") < 0 &&
	      strstr(usnet_last_error(), "-i 5 is given twice"));
	/* ... but -i over an interface of the file overrides it, as documented. */
	fresh();
	CHECK_EQ(usnetd_conf_parse(&conf, "[interface 6]\nsecret = a\n", "t"), 0);
	CHECK_EQ(usnetd_conf_iface_arg(&conf, "6,secret=b"), 0);
	CHECK(usnetd_conf_iface_arg(&conf, "6") < 0);
	CHECK(usnetd_conf_load(&conf, "/nonexistent/usnetd.conf") == -ENOENT);
}

static void test_macs(void)
{
	static const uint8_t prefix[2] = {0x02, 0x75}, odd[2] = {0x01, 0x00};
	static struct usnetd_mactab t;
	uint8_t a[6], b[6];

	usnetd_mac_derive(prefix, 0x01020304, a);
	CHECK(a[0] == 0x02 && a[1] == 0x75 && a[2] == 1 && a[3] == 2 && a[4] == 3 && a[5] == 4);
	usnetd_mac_derive(prefix, 0x01020304, b);
	CHECK(!memcmp(a, b, 6)); /* stable */
	usnetd_mac_derive(odd, 7, b);
	CHECK(!(b[0] & 1) && (b[0] & 2)); /* always unicast, locally administered */

	usnetd_mactab_init(&t);
	CHECK_EQ(usnetd_mactab_find(&t, a), -1);
	/* Every derived MAC of 256 ids is found again, and only those. */
	for (uint32_t id = 0; id < USNETD_MAX_IFACES; id++) {
		usnetd_mac_derive(prefix, id * 7919u, b);
		CHECK_EQ(usnetd_mactab_add(&t, b, (int)id), 0);
	}
	for (uint32_t id = 0; id < USNETD_MAX_IFACES; id++) {
		usnetd_mac_derive(prefix, id * 7919u, b);
		CHECK_EQ(usnetd_mactab_find(&t, b), (int)id);
		b[0] ^= 0x04;
		CHECK_EQ(usnetd_mactab_find(&t, b), -1);
	}
	usnetd_mac_derive(prefix, 7919u, b);
	CHECK_EQ(usnetd_mactab_add(&t, b, 999), -EEXIST);
}

static void frame(uint8_t *f, const uint8_t *dst, const uint8_t *src)
{
	memset(f, 0, 60);
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = 0x08;
}

static void test_verdicts(void)
{
	static struct usnetd_mactab t;
	static const uint8_t m0[6] = {2, 0, 0, 0, 0, 1}, m1[6] = {2, 0, 0, 0, 0, 2},
			     m2[6] = {2, 0, 0, 0, 0, 3}, m3[6] = {2, 0, 0, 0, 0, 4},
			     other[6] = {0x52, 0x54, 0, 1, 2, 3},
			     bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			     mcast[6] = {0x01, 0x00, 0x5e, 0, 0, 1};
	/* 0, 1 on uplink 0; 2 on uplink 1 and may send from any MAC; 3 without uplink */
	struct usnetd_sw_port p[4] = {
	    {.mac = usnetd_mac_key(m0), .segment = 0},
	    {.mac = usnetd_mac_key(m1), .segment = 0},
	    {.mac = usnetd_mac_key(m2), .segment = 1, .any_src_mac = true},
	    {.mac = usnetd_mac_key(m3), .segment = -1},
	};
	static const uint8_t *const macs[4] = {m0, m1, m2, m3};
	uint8_t f[60];
	int dst;

	usnetd_mactab_init(&t);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(usnetd_mactab_add(&t, macs[i], i), 0);
	CHECK(usnetd_mac_key(m0) != usnetd_mac_key(m1));

	frame(f, m1, m0);
	dst = -1;
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_TO_IFACE);
	CHECK_EQ(dst, 1);
	frame(f, other, m0);
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_TO_UPLINK);
	frame(f, bcast, m0);
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_FLOOD);
	frame(f, mcast, m0);
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_FLOOD);
	frame(f, m1, other); /* spoofed source */
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_DROP_SRC_MAC);
	frame(f, bcast, m1); /* someone else's MAC */
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_DROP_SRC_MAC);
	frame(f, m0, m0); /* to itself */
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_DROP_FILTERED);
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 13, &dst), USNETD_DROP_RUNT);
	frame(f, m2, m0); /* a client of another segment: through the uplink */
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 0, f, 60, &dst), USNETD_TO_UPLINK);
	frame(f, other, other); /* 2 may send from any MAC */
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 2, f, 60, &dst), USNETD_TO_UPLINK);
	frame(f, other, m3); /* no uplink */
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 3, f, 60, &dst), USNETD_DROP_NOWHERE);
	frame(f, bcast, m3);
	CHECK_EQ(usnetd_switch_from_iface(&t, p, 3, f, 60, &dst), USNETD_FLOOD);

	frame(f, m1, other);
	dst = -1;
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 0, f, 60, &dst), USNETD_TO_IFACE);
	CHECK_EQ(dst, 1);
	frame(f, m2, other); /* client of segment 1 seen on uplink 0 */
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 0, f, 60, &dst), USNETD_DROP_FILTERED);
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 1, f, 60, &dst), USNETD_TO_IFACE);
	frame(f, bcast, other);
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 0, f, 60, &dst), USNETD_FLOOD);
	frame(f, other, other); /* not for us (promiscuous uplink) */
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 0, f, 60, &dst), USNETD_DROP_FILTERED);
	frame(f, bcast, m0); /* our own client's MAC from outside: loop */
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 0, f, 60, &dst), USNETD_DROP_FILTERED);
	CHECK_EQ(usnetd_switch_from_uplink(&t, p, 0, f, 5, &dst), USNETD_DROP_RUNT);
}

/* The cached verdict is the verdict, whatever came before. */
static void test_verdict_cache(void)
{
	static struct usnetd_mactab t;
	static const uint8_t m0[6] = {2, 0, 0, 0, 0, 1}, m1[6] = {2, 0, 0, 0, 0, 2},
			     other[6] = {0x52, 0x54, 0, 1, 2, 3},
			     bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	struct usnetd_sw_port p[2] = {
	    {.mac = usnetd_mac_key(m0), .segment = 0},
	    {.mac = usnetd_mac_key(m1), .segment = 0},
	};
	/* dst, src, len: repeats, a spoof and a runt after a cached destination */
	const uint8_t *seq[][2] = {{m1, m0},	{m1, m0},    {m1, other}, {m1, m0},
				   {other, m0}, {other, m0}, {bcast, m0}, {m1, m0},
				   {m0, m0},	{m0, m0},    {m1, m1},	  {m1, m0}};
	struct usnetd_sw_cache cache = {.dst = USNETD_SW_CACHE_NONE};
	uint8_t f[60];

	usnetd_mactab_init(&t);
	CHECK_EQ(usnetd_mactab_add(&t, m0, 0), 0);
	CHECK_EQ(usnetd_mactab_add(&t, m1, 1), 0);
	for (unsigned i = 0; i < sizeof(seq) / sizeof(seq[0]); i++) {
		uint32_t len = i == 3 ? 12 : 60;
		int d1 = -1, d2 = -1;
		enum usnetd_verdict v1, v2;

		frame(f, seq[i][0], seq[i][1]);
		v1 = usnetd_switch_from_iface(&t, p, 0, f, len, &d1);
		v2 = usnetd_switch_from_iface_cached(&t, p, 0, f, len, &d2, &cache);
		CHECK_EQ(v2, v1);
		if (v1 == USNETD_TO_IFACE)
			CHECK_EQ(d2, d1);
	}
}

static void test_flow_hash(void)
{
	struct usnet_udp4_flow fl = {
	    .src_mac = {2, 0, 0, 0, 0, 1},
	    .dst_mac = {2, 0, 0, 0, 0, 2},
	    .src_ip = 0xc6120001,
	    .dst_ip = 0xc6120002,
	    .sport = 1000,
	    .dport = 9,
	};
	unsigned hist[4] = {0};
	uint8_t f[128];
	uint32_t h0;

	CHECK_EQ(usnet_udp4_build(f, sizeof(f), &fl, 64, NULL, 0), 64);
	h0 = usnetd_flow_hash(f, 64);
	f[50] ^= 0xff; /* payload: same flow */
	CHECK_EQ(usnetd_flow_hash(f, 64), h0);
	for (unsigned s = 0; s < 4000; s++) {
		fl.sport = (uint16_t)(1000 + s);
		usnet_udp4_build(f, sizeof(f), &fl, 64, NULL, 0);
		hist[usnetd_flow_hash(f, 64) % 4]++;
	}
	for (int q = 0; q < 4; q++) /* spread: each queue within 20% of even */
		CHECK(hist[q] > 800 && hist[q] < 1200);
	CHECK_EQ(usnetd_flow_hash(f, 10), 0);
	memset(f, 0xab, 14); /* not IPv4: MACs only, must not read past 14 bytes */
	(void)usnetd_flow_hash(f, 14);
}

int main(void)
{
	test_config();
	test_macs();
	test_verdicts();
	test_verdict_cache();
	test_flow_hash();
	return check_done("test_usnetd");
}
