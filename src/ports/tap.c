/* SPDX-License-Identifier: MIT */
/* Placeholder until the tap port lands. */
#include <errno.h>
#include "port_impl.h"

static int tap_open(struct usnet_port **out, struct usnet_spec *spec,
		      const struct usnet_port_conf *conf)
{
	(void)out;
	(void)conf;
	return usnet_error(ENOTSUP, "tap:%s: not implemented yet", spec->name);
}

const struct usnet_port_ops usnet_tap_ops = {
	.kind = "tap",
	.usage = "tap:IFNAME",
	.open = tap_open,
};
