/* SPDX-License-Identifier: MIT */
/*
 * PCI NIC drivers. The registry (registry.c, the pci: port kind) parses the
 * address, picks the driver whose id table matches, opens the device
 * through src/platform/pci.h and hands it over with the matching id. Each
 * driver has its own usnet_port_ops (kind "pci") for its fast path.
 */
#ifndef USNET_DRIVER_H
#define USNET_DRIVER_H

#include "../platform/pci.h"
#include "../ports/port_impl.h"

struct usnet_pci_id {
	uint16_t vendor;
	uint16_t device;
	const char *model; /* what users call the device: "e1000e" */
	const void *data;  /* the driver's own, per device (e1000: the chip) */
};

struct usnet_pci_driver {
	const char *name;
	const struct usnet_pci_id *ids; /* ends with vendor 0 */
	/*
	 * Bring the device up and return its port; id is the entry of ids
	 * that matched. Takes ownership of dev: on failure the driver closes
	 * it; on success its close() does.
	 */
	int (*open)(struct usnet_port **out, struct usnet_pci_dev *dev,
		    const struct usnet_pci_id *id, struct usnet_spec *spec,
		    const struct usnet_port_conf *conf);
};

extern const struct usnet_pci_driver usnet_virtio_net_driver;
extern const struct usnet_pci_driver usnet_e1000_driver; /* 82540EM and 82574L */

#endif
