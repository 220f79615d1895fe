/* SPDX-License-Identifier: MIT */
/*
 * A PCI back-end: how a device bound to one kernel driver is reached from
 * user space. vfio.c and uio.c each fill one table over their own struct,
 * which embeds struct usnet_pci_dev (pci_dev.h); pci.c picks the table by
 * the bound driver, dispatches through it and owns the sequence shared by
 * all of them (argument checks, the shutdown order). A back-end uses the
 * lower layer (pci_dev.h) and never calls pci.c. Internal to src/platform/.
 */
#ifndef USNET_PLATFORM_PCI_BACKEND_H
#define USNET_PLATFORM_PCI_BACKEND_H

#include "pci_dev.h"

struct usnet_pci_backend_ops {
	enum usnet_pci_backend kind;
	const char *driver; /* the kernel driver the device is bound to */
	/* USNET_POOL_F_* a pool needs to be mapped for a device of this
	 * back-end (usnet_pci_pool_flags). */
	uint32_t pool_flags;

	/* Allocate the back-end's struct (usnet_pci_dev_init'ed from info),
	 * map the BARs, set cfg_fd/cfg_base/cfg_size. On failure nothing is
	 * left behind. */
	int (*open)(struct usnet_pci_dev **out, const struct usnet_pci_info *info);
	/* Optional: reset the function. usnet_pci_close() calls it once
	 * interrupts and bus mastering are off, before the memory goes. */
	void (*reset)(struct usnet_pci_dev *dev);
	/* The last step of usnet_pci_close(): interrupts, bus mastering, DMA
	 * memory and BARs are gone; close what open opened and free dev. */
	void (*close)(struct usnet_pci_dev *dev);

	/* len > 0. Link the allocation into dev->mem. */
	int (*dma_alloc)(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma);
	/* Mapping a pool already in dev->mem only refreshes its IOVAs. */
	int (*dma_map_pool)(struct usnet_pci_dev *dev, struct usnet_pool *pool);
	/* Give back m, already unlinked from dev->mem, and free it. Bus
	 * mastering is off or the driver no longer uses m. */
	void (*mem_release)(struct usnet_pci_dev *dev, struct usnet_pci_mem *m);
	size_t (*dma_contig_max)(struct usnet_pci_dev *dev);

	/* 1 <= nvec <= USNET_PCI_MAX_IRQS, none enabled: set irq_fd[],
	 * irq_mode and nirq; return nirq or -errno. */
	int (*irq_enable)(struct usnet_pci_dev *dev, unsigned nvec);
	/* irq_mode != NONE. Release irq_fd[] (pci.c resets mode and count). */
	void (*irq_disable)(struct usnet_pci_dev *dev);
	/* irq_mode == INTX. */
	int (*irq_unmask)(struct usnet_pci_dev *dev);
	/* vec < nirq. */
	int (*irq_ack)(struct usnet_pci_dev *dev, unsigned vec);

	/* A bus address no mapping covers, for the protection test; NULL if
	 * nothing would stop such a DMA (no IOMMU). */
	uint64_t (*fault_iova)(const struct usnet_pci_dev *dev);
};

extern const struct usnet_pci_backend_ops usnet_vfio_backend; /* vfio.c */
extern const struct usnet_pci_backend_ops usnet_uio_backend;  /* uio.c */

/* The VFIO device fd of a device opened through vfio-pci, -1 otherwise
 * (tests/vm/pci_probe.c triggers interrupts through it). */
int usnet_vfio_device_fd(const struct usnet_pci_dev *dev);

#endif
