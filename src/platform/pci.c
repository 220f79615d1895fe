/* SPDX-License-Identifier: MIT */
/*
 * The device handle of src/platform/pci.h, top layer: picks the back-end by
 * the driver the device is bound to, dispatches to its table
 * (pci_backend.h) and owns what every back-end shares: the argument checks
 * and the order of the shutdown. Back-ends never call in here.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/log.h>

#include "pci_backend.h"

static const struct usnet_pci_backend_ops *const backends[] = {
    &usnet_vfio_backend,
    &usnet_uio_backend,
};

int usnet_pci_open(struct usnet_pci_dev **out, const struct usnet_pci_addr *addr)
{
	struct usnet_pci_info info;
	char name[16];
	int err;

	usnet_pci_addr_format(addr, name, sizeof(name));
	err = usnet_pci_info_get(usnet_pci_sysfs_root(), addr, &info);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(info.driver, backends[i]->driver))
			return backends[i]->open(out, &info);
	if (!info.driver[0])
		return usnet_error(ENODEV, "%s is not bound to any driver; run: usnetctl bind %s",
				   name, name);
	return usnet_error(EBUSY, "%s is bound to %s; run: usnetctl bind %s", name, info.driver,
			   name);
}

/* Quiesce first (no interrupts, no DMA, the function reset), then the
 * memory can go, then the BARs and whatever the back-end holds. */
void usnet_pci_close(struct usnet_pci_dev *dev)
{
	struct usnet_pci_mem *m;

	if (!dev)
		return;
	usnet_pci_irq_disable(dev);
	if (usnet_pci_set_bus_master(dev, false))
		USNET_WARN("%s: could not clear Bus Master Enable: %s", dev->name,
			   usnet_last_error());
	if (dev->ops->reset)
		dev->ops->reset(dev);
	while ((m = usnet_pci_mem_unlink(dev, NULL, NULL)))
		dev->ops->mem_release(dev, m);
	usnet_pci_bars_unmap(dev);
	dev->ops->close(dev);
}

enum usnet_pci_backend usnet_pci_backend(const struct usnet_pci_dev *dev)
{
	return dev->ops->kind;
}

/* ---- DMA memory ----------------------------------------------------------- */

int usnet_pci_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma)
{
	memset(dma, 0, sizeof(*dma));
	if (len == 0)
		return usnet_error(EINVAL, "%s: DMA allocation of 0 bytes", dev->name);
	return dev->ops->dma_alloc(dev, len, dma);
}

void usnet_pci_dma_free(struct usnet_pci_dev *dev, struct usnet_dma *dma)
{
	struct usnet_pci_mem *m;

	if (!dma->va)
		return;
	m = usnet_pci_mem_unlink(dev, dma->va, NULL);
	if (m)
		dev->ops->mem_release(dev, m);
	else
		USNET_WARN("%s: usnet_pci_dma_free of %p, which this device did not allocate",
			   dev->name, dma->va);
	memset(dma, 0, sizeof(*dma));
}

size_t usnet_pci_dma_contig_max(struct usnet_pci_dev *dev)
{
	return dev->ops->dma_contig_max(dev);
}

uint32_t usnet_pci_pool_flags(const struct usnet_pci_dev *dev)
{
	return dev->ops->pool_flags;
}

int usnet_pci_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool)
{
	return dev->ops->dma_map_pool(dev, pool);
}

void usnet_pci_dma_unmap_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool)
{
	struct usnet_pci_mem *m = usnet_pci_mem_unlink(dev, NULL, pool);

	if (m)
		dev->ops->mem_release(dev, m);
}

/* ---- interrupts ----------------------------------------------------------- */

int usnet_pci_irq_enable(struct usnet_pci_dev *dev, unsigned nvec, int *efds)
{
	int n;

	if (nvec == 0)
		return usnet_error(EINVAL, "%s: asked for 0 interrupt vectors", dev->name);
	if (nvec > USNET_PCI_MAX_IRQS)
		nvec = USNET_PCI_MAX_IRQS;
	usnet_pci_irq_disable(dev);
	n = dev->ops->irq_enable(dev, nvec);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		efds[i] = dev->irq_fd[i];
	return n;
}

void usnet_pci_irq_disable(struct usnet_pci_dev *dev)
{
	if (dev->irq_mode == USNET_PCI_IRQ_NONE)
		return;
	dev->ops->irq_disable(dev);
	dev->irq_mode = USNET_PCI_IRQ_NONE;
	dev->nirq = 0;
}

int usnet_pci_irq_unmask(struct usnet_pci_dev *dev)
{
	if (dev->irq_mode != USNET_PCI_IRQ_INTX)
		return 0;
	return dev->ops->irq_unmask(dev);
}

int usnet_pci_irq_ack(struct usnet_pci_dev *dev, unsigned vec)
{
	if (vec >= dev->nirq)
		return usnet_error(EINVAL, "%s: interrupt vector %u is not enabled (%u are)",
				   dev->name, vec, dev->nirq);
	return dev->ops->irq_ack(dev, vec);
}

/* ---- fault injection ------------------------------------------------------ */

uint64_t usnet_pci_fault_iova(const struct usnet_pci_dev *dev)
{
	const char *e = getenv("USNET_FAULT_BAD_IOVA");

	if (!e || strcmp(e, "1"))
		return 0;
	if (!dev->ops->fault_iova) {
		/* Without an IOMMU a bad address is a real physical address:
		 * the device would write over whatever lives there. */
		USNET_WARN("%s: USNET_FAULT_BAD_IOVA ignored: with %s nothing would stop the "
			   "stray DMA",
			   dev->name, dev->ops->driver);
		return 0;
	}
	return dev->ops->fault_iova(dev);
}
