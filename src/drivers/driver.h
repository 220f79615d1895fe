/* SPDX-License-Identifier: MIT */
/*
 * PCI NIC drivers. The pci: port kind (src/ports/pci.c) parses the address,
 * opens the device through src/platform/pci.h, picks the driver whose id
 * table matches, and hands it the open device. Each driver has its own
 * usnet_port_ops (kind "pci") for its fast path.
 */
#ifndef USNET_DRIVER_H
#define USNET_DRIVER_H

#include "../platform/pci.h"
#include "../ports/port_impl.h"

struct usnet_pci_id {
	uint16_t vendor;
	uint16_t device;
};

struct usnet_pci_driver {
	const char *name;
	const struct usnet_pci_id *ids; /* ends with {0, 0} */
	/*
	 * Bring the device up and return its port. Takes ownership of dev:
	 * on failure the driver closes it; on success its close() does.
	 */
	int (*open)(struct usnet_port **out, struct usnet_pci_dev *dev, struct usnet_spec *spec,
		    const struct usnet_port_conf *conf);
};

extern const struct usnet_pci_driver usnet_virtio_net_driver;
extern const struct usnet_pci_driver usnet_e1000_driver; /* 82540EM and 82574L */

#endif
