/* SPDX-License-Identifier: MIT */
/*
 * Helper for tests/integration/usnetd_*.sh: memif clients of usnetd that
 * check what the daemon does.
 *
 *   usnetd_peer switch SOCK UPSOCK
 *       clients A, B, C (ids 1, 2, 3; C may send from any MAC) on SOCK and
 *       the far end U of usnetd's uplink (a memif: server port at UPSOCK,
 *       id 0); sends unicast, broadcast, multicast, unknown and spoofed
 *       frames from each and checks exactly who receives them.
 *   usnetd_peer probe SOCK ID [SECRET]
 *       connect as interface ID; print "up" or "refused: REASON" and the
 *       milliseconds it took. Exit 0 up, 3 refused, 1 no answer in 5 s.
 *   usnetd_peer watch SPEC SECONDS
 *       print "link up|down realtime=S.NNNNNNNNN frames=N" on every link
 *       change of port SPEC while receiving, for SECONDS.
 *   usnetd_peer hold SOCK ID SECONDS
 *       connect as interface ID and stay until usnetd disconnects us; print
 *       "disconnected: REASON". Exit 0 if that happened within SECONDS.
 *   usnetd_peer evil SOCK ID KIND [HELPER_ID]
 *       connect as ID, then break the protocol in one way (KIND: head,
 *       desc, region, chain, s2c, msg, short) and print the DISCONNECT
 *       reason usnetd gives. s2c needs traffic towards ID: frames are
 *       sent to it from interface HELPER_ID. Exit 0 if disconnected within 5 s.
 *
 * MACs are usnetd's derived ones: 02:75 followed by the 32-bit id.
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <usnet/log.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/time.h>

#include "../../src/memif/memif.h"

#define WAIT_NS (5 * USNET_NSEC_PER_SEC)

static unsigned failures;

static void mac_of(uint32_t id, uint8_t mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x75;
	mac[2] = (uint8_t)(id >> 24);
	mac[3] = (uint8_t)(id >> 16);
	mac[4] = (uint8_t)(id >> 8);
	mac[5] = (uint8_t)id;
}

static double realtime(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct usnet_port *open_port(const char *spec)
{
	struct usnet_port *p;

	if (usnet_port_open(&p, spec, NULL)) {
		fprintf(stderr, "usnetd_peer: %s: %s\n", spec, usnet_last_error());
		exit(2);
	}
	return p;
}

static bool all_up(struct usnet_port **ports, int n)
{
	for (int i = 0; i < n; i++) {
		struct usnet_link l = {0};
		struct usnet_pkt *pk[32];

		usnet_pkt_free_bulk(pk, usnet_rx_burst(ports[i], 0, pk, 32));
		usnet_port_link(ports[i], &l);
		if (!l.up)
			return false;
	}
	return true;
}

static bool wait_up(struct usnet_port **ports, int n)
{
	uint64_t end = usnet_now_ns() + WAIT_NS;

	while (usnet_now_ns() < end) {
		if (all_up(ports, n))
			return true;
		usleep(1000);
	}
	return false;
}

/* ---- switch ---- */

enum { A, B, C, U, NPORTS };
static const char *const pname[NPORTS] = {"A", "B", "C", "U"};

static void send_frame(struct usnet_port *port, const uint8_t dst[6], const uint8_t src[6],
		       uint32_t tag)
{
	struct usnet_udp4_flow fl = {
	    .src_ip = 0xc6120001, .dst_ip = 0xc6120002, .sport = 1, .dport = 9};
	struct usnet_pkt *p = usnet_pkt_alloc(usnet_port_pool(port, 0));

	if (!p) {
		fprintf(stderr, "usnetd_peer: pool empty\n");
		exit(2);
	}
	memcpy(fl.dst_mac, dst, 6);
	memcpy(fl.src_mac, src, 6);
	usnet_udp4_build(usnet_pkt_append(p, 64), 64, &fl, 64, &tag, sizeof(tag));
	if (usnet_tx_burst(port, 0, &p, 1) != 1) {
		usnet_pkt_free(p);
		fprintf(stderr, "usnetd_peer: tx refused\n");
		exit(2);
	}
}

/* Who received the frame tagged `tag` within 150 ms: a bit per port. */
static unsigned receivers(struct usnet_port **ports, uint32_t tag)
{
	uint64_t end = usnet_now_ns() + 150 * 1000 * 1000ull;
	unsigned got = 0;

	while (usnet_now_ns() < end) {
		for (int i = 0; i < NPORTS; i++) {
			struct usnet_pkt *pk[32];
			uint16_t n = usnet_rx_burst(ports[i], 0, pk, 32);

			for (uint16_t k = 0; k < n; k++) {
				uint32_t t;

				if (pk[k]->len >= USNET_UDP4_HLEN + 4) {
					memcpy(&t, usnet_pkt_data(pk[k]) + USNET_UDP4_HLEN, 4);
					if (t == tag)
						got |= 1u << i;
				}
			}
			usnet_pkt_free_bulk(pk, n);
		}
		usleep(200);
	}
	return got;
}

static void expect(struct usnet_port **ports, const char *what, int from, const uint8_t dst[6],
		   const uint8_t src[6], unsigned want)
{
	static uint32_t tag = 0x5a000000;
	unsigned got;
	char buf[32] = "", wbuf[32] = "";

	send_frame(ports[from], dst, src, ++tag);
	got = receivers(ports, tag);
	for (int i = 0; i < NPORTS; i++) {
		if (got & (1u << i))
			strcat(buf, pname[i]);
		if (want & (1u << i))
			strcat(wbuf, pname[i]);
	}
	if (got != want)
		failures++;
	printf("%s: %s from %s: received by {%s}%s%s%s\n", got == want ? "ok" : "FAIL", what,
	       pname[from], buf, got == want ? "" : ", expected {", got == want ? "" : wbuf,
	       got == want ? "" : "}");
}

static int cmd_switch(const char *sock, const char *upsock)
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
			     mcast[6] = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x09},
			     far[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
			     stranger[6] = {0x52, 0x54, 0x00, 0x99, 0x99, 0x99};
	struct usnet_port *p[NPORTS];
	uint8_t ma[6], mb[6], mc[6];
	char spec[256];

	mac_of(1, ma);
	mac_of(2, mb);
	mac_of(3, mc);
	for (int i = 0; i < 3; i++) {
		snprintf(spec, sizeof(spec), "memif:%s,id=%d", sock, i + 1);
		p[i] = open_port(spec);
	}
	snprintf(spec, sizeof(spec), "memif:%s,id=0", upsock);
	p[U] = open_port(spec);
	if (!wait_up(p, NPORTS)) {
		fprintf(stderr, "usnetd_peer: links not up within 5 s\n");
		return 1;
	}
	expect(p, "unicast to B", A, mb, ma, 1u << B);
	expect(p, "unicast to A", B, ma, mb, 1u << A);
	expect(p, "broadcast", A, bcast, ma, 1u << B | 1u << C | 1u << U);
	expect(p, "multicast", B, mcast, mb, 1u << A | 1u << C | 1u << U);
	expect(p, "unknown unicast", A, far, ma, 1u << U);
	expect(p, "spoofed source (dropped)", A, mb, far, 0);
	expect(p, "someone else's source (dropped)", A, bcast, mb, 0);
	expect(p, "to itself (dropped)", A, ma, ma, 0);
	expect(p, "any source (allowed for C)", C, mb, far, 1u << B);
	expect(p, "uplink to A", U, ma, far, 1u << A);
	expect(p, "uplink to C", U, mc, far, 1u << C);
	expect(p, "uplink broadcast", U, bcast, far, 1u << A | 1u << B | 1u << C);
	expect(p, "uplink multicast", U, mcast, far, 1u << A | 1u << B | 1u << C);
	expect(p, "uplink to a stranger (filtered)", U, stranger, far, 0);
	expect(p, "uplink from A's MAC (filtered)", U, mb, ma, 0);
	for (int i = 0; i < NPORTS; i++)
		usnet_port_close(p[i]);
	printf("%s: %u failures\n", failures ? "FAIL" : "PASS", failures);
	return failures ? 1 : 0;
}

/* ---- probe ---- */

static int cmd_probe(const char *sock, uint32_t id, const char *secret)
{
	struct usnet_memif_client_conf cc = {
	    .path = sock, .id = id, .secret = secret, .name = "usnetd_peer"};
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	uint64_t t0 = usnet_now_ns(), end = t0 + WAIT_NS;
	int rc = 1;

	if (usnet_memif_client_create(&cl, &cc)) {
		fprintf(stderr, "usnetd_peer: %s\n", usnet_last_error());
		return 2;
	}
	c = usnet_memif_client_conn(cl);
	while (usnet_now_ns() < end) {
		usnet_memif_client_poll(cl);
		if (usnet_memif_up(c)) {
			printf("up after %.1f ms\n", (double)(usnet_now_ns() - t0) / 1e6);
			rc = 0;
			break;
		}
		if (strcmp(c->reason, "not connected yet")) {
			printf("refused: %s (after %.1f ms)\n", c->reason,
			       (double)(usnet_now_ns() - t0) / 1e6);
			rc = 3;
			break;
		}
		usleep(200);
	}
	if (rc == 1)
		printf("no answer in 5 s (reason '%s')\n", c->reason);
	usnet_memif_client_destroy(cl);
	return rc;
}

/* ---- hold: connected until the server ends it ---- */

static int cmd_hold(const char *sock, uint32_t id, double seconds)
{
	struct usnet_memif_client_conf cc = {.path = sock, .id = id, .name = "hold"};
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	uint64_t end = usnet_now_ns() + (uint64_t)(seconds * 1e9);
	bool was_up = false;
	int rc = 1;

	if (usnet_memif_client_create(&cl, &cc)) {
		fprintf(stderr, "usnetd_peer: %s\n", usnet_last_error());
		return 2;
	}
	c = usnet_memif_client_conn(cl);
	while (usnet_now_ns() < end) {
		usnet_memif_client_poll(cl);
		if (!was_up && usnet_memif_up(c)) {
			was_up = true;
			printf("up\n");
			fflush(stdout);
		}
		if (was_up && c->fd < 0) {
			printf("disconnected: %s\n", c->reason);
			rc = 0;
			break;
		}
		usleep(1000);
	}
	if (rc)
		printf("%s after %.1f s\n", was_up ? "still up" : "never up", seconds);
	usnet_memif_client_destroy(cl);
	return rc;
}

/* ---- watch ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmd_watch(const char *spec, double seconds)
{
	struct usnet_port *port = open_port(spec);
	uint64_t end = usnet_now_ns() + (uint64_t)(seconds * 1e9), frames = 0;
	bool up = false;
	unsigned changes = 0;

	while (!stop && usnet_now_ns() < end) {
		struct usnet_pkt *pk[32];
		struct usnet_link l = {0};
		uint16_t n = usnet_rx_burst(port, 0, pk, 32);

		frames += n;
		usnet_pkt_free_bulk(pk, n);
		usnet_port_link(port, &l);
		if (l.up != up) {
			up = l.up;
			changes++;
			printf("link %s realtime=%.6f frames=%llu\n", up ? "up" : "down",
			       realtime(), (unsigned long long)frames);
			fflush(stdout);
		}
		if (!n)
			usnet_port_wait(port, 0, 1);
	}
	printf("end frames=%llu changes=%u\n", (unsigned long long)frames, changes);
	usnet_port_close(port);
	return 0;
}

/* ---- evil ---- */

static void raw_msg(int fd, uint16_t type, size_t len)
{
	struct memif_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	if (send(fd, &m, len, MSG_NOSIGNAL) < 0)
		perror("usnetd_peer: send");
}

static int cmd_evil(const char *sock, uint32_t id, const char *kind, int helper_id)
{
	struct usnet_memif_client_conf cc = {.path = sock, .id = id, .name = "evil"};
	struct usnet_memif_client *cl;
	struct usnet_memif_conn *c;
	struct usnet_port *helper = NULL;
	uint64_t end = usnet_now_ns() + WAIT_NS;
	struct memif_ring *ring;
	uint16_t head;
	int rc = 1;

	if (usnet_memif_client_create(&cl, &cc)) {
		fprintf(stderr, "usnetd_peer: %s\n", usnet_last_error());
		return 2;
	}
	c = usnet_memif_client_conn(cl);
	if (helper_id >= 0) {
		char spec[256];

		snprintf(spec, sizeof(spec), "memif:%s,id=%d", sock, helper_id);
		helper = open_port(spec);
	}
	while (usnet_now_ns() < end && !usnet_memif_up(c))
		usnet_memif_client_poll(cl), usleep(200);
	if (helper && !wait_up(&helper, 1)) {
		fprintf(stderr, "usnetd_peer: helper not up\n");
		return 1;
	}
	if (!usnet_memif_up(c)) {
		fprintf(stderr, "usnetd_peer: not up: %s\n", c->reason);
		return 1;
	}
	ring = c->c2s[0].ring;
	head = atomic_load(&ring->head);
	if (!strcmp(kind, "head")) {
		atomic_store(&ring->head, (uint16_t)(head + c->c2s[0].size + 7));
	} else if (!strcmp(kind, "desc") || !strcmp(kind, "region")) {
		struct memif_desc *d = &ring->desc[head & c->c2s[0].mask];

		d->region = !strcmp(kind, "region") ? 5 : 0;
		d->offset = (uint32_t)c->region[0].size - 10;
		d->length = 100;
		d->flags = 0;
		atomic_store(&ring->head, (uint16_t)(head + 1));
	} else if (!strcmp(kind, "chain")) {
		for (uint32_t s = 0; s < c->c2s[0].size; s++) {
			ring->desc[s].length = 64;
			ring->desc[s].flags = MEMIF_DESC_FLAG_NEXT;
		}
		atomic_store(&ring->head, (uint16_t)(head + c->c2s[0].size));
	} else if (!strcmp(kind, "s2c")) {
		struct memif_ring *r = c->s2c[0].ring;
		struct memif_desc *d = &r->desc[atomic_load(&r->tail) & c->s2c[0].mask];

		/* The next buffer usnetd fills now lies past the end of our region. */
		d->offset = (uint32_t)c->region[0].size;
		d->length = 2048;
	} else if (!strcmp(kind, "msg")) {
		raw_msg(c->fd, MEMIF_MSG_ADD_REGION, sizeof(struct memif_msg));
	} else if (!strcmp(kind, "short")) {
		raw_msg(c->fd, MEMIF_MSG_ACK, 5);
	} else {
		fprintf(stderr, "usnetd_peer: unknown kind '%s'\n", kind);
		return 2;
	}
	/* Kick the daemon in case it sleeps (our C2S ring's interrupt). */
	if (write(c->c2s[0].efd, &(uint64_t){1}, 8) < 0)
		perror("usnetd_peer: kick");
	end = usnet_now_ns() + WAIT_NS;
	while (usnet_now_ns() < end) {
		if (helper) { /* frames for us, so that usnetd fills our S2C ring */
			uint8_t src[6], dst[6];

			mac_of((uint32_t)helper_id, src);
			mac_of(id, dst);
			send_frame(helper, dst, src, 1);
		}
		usnet_memif_client_poll(cl);
		if (c->fd < 0) {
			printf("disconnected: %s\n", c->reason);
			rc = 0;
			break;
		}
		usleep(1000);
	}
	if (rc)
		printf("still connected after 5 s\n");
	if (helper)
		usnet_port_close(helper);
	usnet_memif_client_destroy(cl);
	return rc;
}

int main(int argc, char **argv)
{
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	usnet_log_set_level(USNET_LOG_ERR);
	if (argc >= 4 && !strcmp(argv[1], "switch"))
		return cmd_switch(argv[2], argv[3]);
	if (argc >= 4 && !strcmp(argv[1], "probe"))
		return cmd_probe(argv[2], (uint32_t)strtoul(argv[3], NULL, 0),
				 argc > 4 ? argv[4] : NULL);
	if (argc >= 4 && !strcmp(argv[1], "watch"))
		return cmd_watch(argv[2], atof(argv[3]));
	if (argc >= 5 && !strcmp(argv[1], "hold"))
		return cmd_hold(argv[2], (uint32_t)strtoul(argv[3], NULL, 0), atof(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "evil"))
		return cmd_evil(argv[2], (uint32_t)strtoul(argv[3], NULL, 0), argv[4],
				argc > 5 ? atoi(argv[5]) : -1);
	fprintf(stderr, "usage: usnetd_peer switch SOCK UPSOCK | probe SOCK ID [SECRET] |\n"
			"       watch SPEC SECONDS | hold SOCK ID SECONDS |\n"
			"       evil SOCK ID KIND [HELPER_ID]\n");
	return 2;
}
