/* SPDX-License-Identifier: MIT */
/* A program outside the tree, built only from what `cmake --install` puts
 * down and what `pkg-config usnet` says (tests/integration/install.sh). */
#include <stdio.h>

#include <usnet/usnet.h>

int main(void)
{
	struct usnet_port *p;
	struct usnet_pkt *pkts[8];
	uint16_t n, sent;

	if (usnet_port_open(&p, "null:", NULL)) {
		fprintf(stderr, "%s\n", usnet_last_error());
		return 1;
	}
	n = usnet_rx_burst(p, 0, pkts, 8);
	sent = usnet_tx_burst(p, 0, pkts, n);
	printf("rx %u tx %u\n", n, sent);
	usnet_port_close(p);
	return n == 8 && sent == 8 ? 0 : 1;
}
