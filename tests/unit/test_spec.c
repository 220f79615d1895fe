/* SPDX-License-Identifier: MIT */
/* The spec parser on good and malformed input, and port_open's errors. */
#include <errno.h>
#include <string.h>

#include <usnet/port.h>

#include "../../src/ports/port_impl.h"
#include "check.h"

static void good(const char *s, const char *kind, const char *name, unsigned nopt)
{
	struct usnet_spec spec;
	int err = usnet_spec_parse(&spec, s);

	CHECK_EQ(err, 0);
	if (err) {
		fprintf(stderr, "  '%s': %s\n", s, usnet_last_error());
		return;
	}
	CHECK(!strcmp(spec.kind, kind));
	CHECK(!strcmp(spec.name, name));
	CHECK_EQ(spec.nopt, nopt);
}

static void bad(const char *s, const char *needle)
{
	struct usnet_spec spec;

	CHECK_EQ(usnet_spec_parse(&spec, s), -EINVAL);
	CHECK(strstr(usnet_last_error(), needle) != NULL);
	if (!strstr(usnet_last_error(), needle))
		fprintf(stderr, "  '%s' gave '%s', wanted '%s'\n", s ? s : "(null)",
			usnet_last_error(), needle);
}

static void test_parse(void)
{
	struct usnet_spec spec;
	uint32_t v;
	char longname[300];

	good("null:", "null", "", 0);
	good("afpacket:veth0", "afpacket", "veth0", 0);
	good("pci:0000:00:03.0", "pci", "0000:00:03.0", 0);
	good("pci:0000:00:03.0,rxq=2", "pci", "0000:00:03.0", 1);
	good("afxdp:veth0:queue=0", "afxdp", "veth0", 1);
	good("afxdp:veth0:queue=0,zc=1", "afxdp", "veth0", 2);
	good("null:,size=64", "null", "", 1);
	good("memif:/run/usnet/usnetd.sock", "memif", "/run/usnet/usnetd.sock", 0);

	CHECK_EQ(usnet_spec_parse(&spec, "null:,size=1500,x=y"), 0);
	CHECK(!strcmp(usnet_spec_opt(&spec, "x"), "y"));
	CHECK(usnet_spec_opt(&spec, "nope") == NULL);
	CHECK_EQ(usnet_spec_check_unused(&spec), -EINVAL); /* size not asked for */
	CHECK(strstr(usnet_last_error(), "unknown option 'size'") != NULL);
	CHECK_EQ(usnet_spec_opt_u32(&spec, "size", 60, 9000, 0, &v), 0);
	CHECK_EQ(v, 1500);
	CHECK_EQ(usnet_spec_check_unused(&spec), 0);
	CHECK_EQ(usnet_spec_opt_u32(&spec, "absent", 0, 10, 7, &v), 0);
	CHECK_EQ(v, 7);

	CHECK_EQ(usnet_spec_parse(&spec, "null:,size=-1"), 0);
	CHECK_EQ(usnet_spec_opt_u32(&spec, "size", 0, 9000, 0, &v), -EINVAL);
	CHECK_EQ(usnet_spec_parse(&spec, "null:,size=12abc"), 0);
	CHECK_EQ(usnet_spec_opt_u32(&spec, "size", 0, 9000, 0, &v), -EINVAL);
	CHECK_EQ(usnet_spec_parse(&spec, "null:,size=99999999999999999999"), 0);
	CHECK_EQ(usnet_spec_opt_u32(&spec, "size", 0, 9000, 0, &v), -EINVAL);
	CHECK_EQ(usnet_spec_parse(&spec, "null:,size="), 0);
	CHECK_EQ(usnet_spec_opt_u32(&spec, "size", 0, 9000, 0, &v), -EINVAL);

	bad(NULL, "empty");
	bad("", "empty");
	bad("veth0", "no kind");
	bad(":veth0", "bad kind");
	bad("averyveryverylongkind:x", "bad kind");
	bad("afpacket:veth 0", "space");
	bad("afpacket:veth0\n", "control");
	bad("afpacket:veth0,", "not KEY=VALUE");
	bad("afpacket:veth0,novalue", "not KEY=VALUE");
	bad("afpacket:veth0,=v", "not KEY=VALUE");
	bad("afpacket:veth0,a=1,a=2", "given twice");
	bad("null:,a=1,b=2,c=3,d=4,e=5,f=6,g=7,h=8,i=9", "more than");
	bad("afpacket:a=b", "contains '='");
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	memcpy(longname, "tap:", 4);
	bad(longname, "longer than");
}

static void test_open_errors(void)
{
	struct usnet_port *port = NULL;

	CHECK_EQ(usnet_port_open(&port, "bogus:x", NULL), -EINVAL);
	CHECK(strstr(usnet_last_error(), "unknown port kind 'bogus'") != NULL);
	CHECK(strstr(usnet_last_error(), "null") != NULL); /* lists the known kinds */
	CHECK_EQ(usnet_port_open(&port, "null:,colour=blue", NULL), -EINVAL);
	CHECK(strstr(usnet_last_error(), "unknown option 'colour'") != NULL);
	CHECK_EQ(usnet_port_open(&port, "null:,size=10", NULL), -EINVAL);
	CHECK(strstr(usnet_last_error(), "size=10") != NULL);
	CHECK_EQ(usnet_port_open(&port, "pair:", NULL), -EINVAL);
	CHECK(port == NULL);

	/* Wrapping the last error in a new one (usnetd: "uplink %s (%s): %s")
	 * once doubled the prefix and lost the reason: usnet_error() formatted
	 * into the buffer it was reading. */
	CHECK_EQ(usnet_port_open(&port, "bogus:x", NULL), -EINVAL);
	usnet_error(EINVAL, "uplink u0 (bogus:x): %s", usnet_last_error());
	{
		const char *want = "uplink u0 (bogus:x): unknown port kind 'bogus' in 'bogus:x' "
				   "(known: null, ";

		CHECK(!strncmp(usnet_last_error(), want, strlen(want)));
		if (strncmp(usnet_last_error(), want, strlen(want)))
			fprintf(stderr, "  wrapped: %s\n", usnet_last_error());
	}

	struct usnet_port_conf many = {.rx_queues = USNET_MAX_QUEUES + 1};
	CHECK_EQ(usnet_port_open(&port, "null:", &many), -EINVAL);
	CHECK(strstr(usnet_last_error(), "at most") != NULL);
}

static void test_null_port(void)
{
	struct usnet_port *port;
	struct usnet_pkt *pkts[32];
	struct usnet_queue_stats st;

	CHECK_EQ(usnet_port_open(&port, "null:,size=128", NULL), 0);
	CHECK(!strcmp(usnet_port_info(port)->kind, "null"));
	CHECK(usnet_port_info(port)->mac[0] & 0x02); /* locally administered */
	CHECK(!(usnet_port_info(port)->mac[0] & 0x01));
	CHECK_EQ(usnet_rx_burst(port, 0, pkts, 32), 32);
	CHECK_EQ(pkts[0]->len, 128);
	CHECK_EQ(usnet_rx_burst(port, 1, pkts, 32), 0); /* no such queue */
	CHECK_EQ(usnet_tx_burst(port, 0, pkts, 32), 32);
	CHECK_EQ(usnet_port_stats(port, -1, &st), 0);
	CHECK_EQ(st.rx_packets, 32);
	CHECK_EQ(st.rx_bytes, 32 * 128);
	CHECK_EQ(st.tx_packets, 32);
	CHECK_EQ(usnet_port_wait(port, 0, 1000), 1);
	CHECK_EQ(usnet_port_fd(port, 3), -EINVAL);
	usnet_port_close(port);
}

int main(void)
{
	test_parse();
	test_open_errors();
	test_null_port();
	return check_done("test_spec");
}
