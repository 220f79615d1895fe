/* SPDX-License-Identifier: MIT */
/*
 * The PCI driver registry, and with it the port kind pci:DOMAIN:BUS:DEV.FN
 * (a PCI network card driven from user space).
 *
 * The kind only finds the device and its driver: it parses the address,
 * reads the device's identity from sysfs, refuses what is not a supported
 * NIC bound to vfio-pci or uio_pci_generic (with the command that fixes
 * it), opens the device (src/platform/pci.h) and hands it to the driver
 * whose id table matches (src/drivers/driver.h). The port that comes back
 * carries the driver's own ops.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "registry.h"

static const struct usnet_pci_driver *const drivers[] = {
    &usnet_virtio_net_driver,
    &usnet_e1000_driver,
};

#define NDRIVERS (sizeof(drivers) / sizeof(drivers[0]))

/* The driver and id table entry for vendor:device, or NULL. */
static const struct usnet_pci_driver *match(uint16_t vendor, uint16_t device,
					    const struct usnet_pci_id **match_id)
{
	for (size_t i = 0; i < NDRIVERS; i++) {
		for (const struct usnet_pci_id *id = drivers[i]->ids; id->vendor; id++) {
			if (id->vendor == vendor && id->device == device) {
				*match_id = id;
				return drivers[i];
			}
		}
	}
	*match_id = NULL;
	return NULL;
}

const struct usnet_pci_driver *usnet_pci_find_driver(uint16_t vendor, uint16_t device,
						     const char **model)
{
	const struct usnet_pci_id *id;
	const struct usnet_pci_driver *drv = match(vendor, device, &id);

	if (model)
		*model = drv ? id->model : NULL;
	return drv;
}

void usnet_pci_supported_list(char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NDRIVERS; i++) {
		for (const struct usnet_pci_id *id = drivers[i]->ids; id->vendor; id++) {
			int n = snprintf(buf + used, len - used, "%s%s %04x:%04x", used ? ", " : "",
					 id->model, id->vendor, id->device);

			if (n < 0 || (size_t)n >= len - used)
				return;
			used += (size_t)n;
		}
	}
}

/* PCI Code and ID Assignment Specification 1.11, base classes. */
const char *usnet_pci_class_name(uint32_t class_code)
{
	static const char *const base[] = {
	    [0x00] = "unclassified device",
	    [0x01] = "mass storage controller",
	    [0x02] = "network controller",
	    [0x03] = "display controller",
	    [0x04] = "multimedia device",
	    [0x05] = "memory controller",
	    [0x06] = "bridge",
	    [0x07] = "communication controller",
	    [0x08] = "system peripheral",
	    [0x09] = "input device",
	    [0x0a] = "docking station",
	    [0x0b] = "processor",
	    [0x0c] = "serial bus controller",
	    [0x0d] = "wireless controller",
	    [0x0e] = "intelligent I/O controller",
	    [0x0f] = "satellite communication controller",
	    [0x10] = "encryption controller",
	    [0x11] = "signal processing controller",
	    [0x12] = "processing accelerator",
	};
	unsigned b = class_code >> 16;

	return b < sizeof(base) / sizeof(base[0]) && base[b] ? base[b] : "device of unknown class";
}

static int pci_open(struct usnet_port **out, struct usnet_spec *spec,
		    const struct usnet_port_conf *conf)
{
	const struct usnet_pci_driver *drv;
	const struct usnet_pci_id *id;
	struct usnet_pci_info info;
	struct usnet_pci_addr addr;
	struct usnet_pci_dev *dev;
	char bdf[16], supported[160];
	int err;

	err = usnet_pci_addr_parse(spec->name, &addr);
	if (err)
		return err;
	usnet_pci_addr_format(&addr, bdf, sizeof(bdf));
	err = usnet_pci_info_get(usnet_pci_sysfs_root(), &addr, &info);
	if (err)
		return err;
	if (!usnet_pci_is_network(info.class_code))
		return usnet_error(ENODEV,
				   "%s is not a network device (class 0x%06x: %s); "
				   "usnetctl status lists the network devices",
				   bdf, info.class_code, usnet_pci_class_name(info.class_code));
	drv = match(info.vendor, info.device, &id);
	if (!drv) {
		usnet_pci_supported_list(supported, sizeof(supported));
		/* A transitional virtio-net (1af4:1000) has the modern interface too,
		 * but only QEMU's disable-legacy=on gives it the modern id. */
		return usnet_error(ENOTSUP, "%04x:%04x at %s is not supported (supported: %s)%s",
				   info.vendor, info.device, bdf, supported,
				   info.vendor == 0x1af4 && info.device == 0x1000
				       ? "; a transitional virtio-net: give QEMU "
					 "disable-legacy=on"
				       : "");
	}
	if (strcmp(info.driver, "vfio-pci") && strcmp(info.driver, "uio_pci_generic")) {
		if (!info.driver[0])
			return usnet_error(ENODEV,
					   "%s is not bound to any driver; run: usnetctl "
					   "bind %s",
					   bdf, bdf);
		return usnet_error(EBUSY, "%s is bound to %s; run: usnetctl bind %s", bdf,
				   info.driver, bdf);
	}
	err = usnet_pci_open(&dev, &addr);
	if (err)
		return err;
	/* The driver owns dev from here, also when it fails. */
	return drv->open(out, dev, id, spec, conf);
}

const struct usnet_port_ops usnet_pci_ops = {
    .kind = "pci",
    .usage = "pci:DDDD:BB:DD.F        PCI NIC bound to vfio-pci/uio_pci_generic (usnetctl bind)",
    .open = pci_open,
};
