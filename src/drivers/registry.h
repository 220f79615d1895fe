/* SPDX-License-Identifier: MIT */
/* The PCI driver registry's lookups (registry.c), shared with usnetctl.
 * Internal. */
#ifndef USNET_DRIVER_REGISTRY_H
#define USNET_DRIVER_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

struct usnet_pci_driver;

/* The driver for vendor:device, or NULL; *model (may be NULL) gets the
 * device's name ("virtio-net", "e1000", "e1000e"). */
const struct usnet_pci_driver *usnet_pci_find_driver(uint16_t vendor, uint16_t device,
						     const char **model);
/* "virtio-net 1af4:1041, e1000 8086:100e, e1000e 8086:10d3" */
void usnet_pci_supported_list(char *buf, size_t len);
/* "bridge", "mass storage controller"... for a 24-bit class code. */
const char *usnet_pci_class_name(uint32_t class_code);

#endif
