/* SPDX-License-Identifier: MIT */
/* Placeholder until the afpacket port lands. */
#include <errno.h>
#include "port_impl.h"

static int afpacket_open(struct usnet_port **out, struct usnet_spec *spec,
		      const struct usnet_port_conf *conf)
{
	(void)out;
	(void)conf;
	return usnet_error(ENOTSUP, "afpacket:%s: not implemented yet", spec->name);
}

const struct usnet_port_ops usnet_afpacket_ops = {
	.kind = "afpacket",
	.usage = "afpacket:IFNAME",
	.open = afpacket_open,
};
