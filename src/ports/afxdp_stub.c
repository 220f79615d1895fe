/* SPDX-License-Identifier: MIT */
/* afxdp: in a build without libxdp (-DUSNET_AFXDP=OFF, or libxdp-dev,
 * libbpf-dev or clang missing): the kind is known, and says so. */
#include <errno.h>

#include "port_impl.h"

static int xp_open_unbuilt(struct usnet_port **out, struct usnet_spec *spec,
			   const struct usnet_port_conf *conf)
{
	(void)out;
	(void)conf;
	return usnet_error(ENOTSUP,
			   "afxdp:%s: the afxdp kind is not built in: this usnet was "
			   "built without libxdp (install libxdp-dev libbpf-dev clang llvm and "
			   "configure with -DUSNET_AFXDP=ON)",
			   spec->name);
}

const struct usnet_port_ops usnet_afxdp_ops = {
    .kind = "afxdp",
    .usage = "afxdp:IFNAME             (not built in: no libxdp)",
    .open = xp_open_unbuilt,
};
