/* SPDX-License-Identifier: MIT */
/*
 * The backend-independent half of the device handle (the lower layer, see
 * pci_dev.h): its identity, its mapped BARs, config space through the fd
 * and offset the back-end gave, and the Bus Master Enable bit.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <usnet/log.h>

#include "pci_dev.h"

void usnet_pci_dev_init(struct usnet_pci_dev *dev, const struct usnet_pci_info *info,
			const struct usnet_pci_backend_ops *ops)
{
	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->info = *info;
	usnet_pci_addr_format(&info->addr, dev->name, sizeof(dev->name));
	dev->cfg_fd = -1;
	for (unsigned i = 0; i < USNET_PCI_MAX_IRQS; i++)
		dev->irq_fd[i] = -1;
}

void usnet_pci_bars_unmap(struct usnet_pci_dev *dev)
{
	for (unsigned bar = 0; bar < USNET_PCI_NBARS; bar++) {
		if (dev->bar[bar].va)
			munmap(dev->bar[bar].va, dev->bar[bar].len);
		dev->bar[bar].va = NULL;
	}
}

const struct usnet_pci_info *usnet_pci_dev_info(const struct usnet_pci_dev *dev)
{
	return &dev->info;
}

enum usnet_pci_irq_mode usnet_pci_irq_mode(const struct usnet_pci_dev *dev)
{
	return dev->irq_mode;
}

volatile void *usnet_pci_bar(struct usnet_pci_dev *dev, unsigned bar, size_t *len)
{
	if (bar >= USNET_PCI_NBARS || !dev->bar[bar].va)
		return NULL;
	if (len)
		*len = dev->bar[bar].size;
	return dev->bar[bar].va;
}

static int cfg_access(struct usnet_pci_dev *dev, uint32_t off, void *buf, size_t len, bool write)
{
	ssize_t n;

	if (len == 0 || off >= dev->cfg_size || len > dev->cfg_size - off)
		return usnet_error(EINVAL,
				   "%s: config access of %zu bytes at 0x%x is outside the "
				   "%llu-byte config space",
				   dev->name, len, off, (unsigned long long)dev->cfg_size);
	/* One pread/pwrite of 1, 2 or 4 bytes at a matching offset is one
	 * config cycle of that size (vfio_pci_config_rw, pci_read_config). */
	if (write)
		n = pwrite(dev->cfg_fd, buf, len, (off_t)(dev->cfg_base + off));
	else
		n = pread(dev->cfg_fd, buf, len, (off_t)(dev->cfg_base + off));
	if (n < 0)
		return usnet_error(errno, "%s: config %s at 0x%x: %m", dev->name,
				   write ? "write" : "read", off);
	if ((size_t)n != len)
		return usnet_error(EIO, "%s: config %s at 0x%x: %zd of %zu bytes", dev->name,
				   write ? "write" : "read", off, n, len);
	return 0;
}

int usnet_pci_cfg_read(struct usnet_pci_dev *dev, uint32_t off, void *buf, size_t len)
{
	return cfg_access(dev, off, buf, len, false);
}

int usnet_pci_cfg_write(struct usnet_pci_dev *dev, uint32_t off, const void *buf, size_t len)
{
	return cfg_access(dev, off, (void *)buf, len, true);
}

int usnet_pci_set_bus_master(struct usnet_pci_dev *dev, bool enable)
{
	uint16_t cmd;
	int err = usnet_pci_cfg_read(dev, PCI_CFG_COMMAND, &cmd, sizeof(cmd));

	if (err)
		return err;
	/* Memory Space must be on too for the driver's MMIO (6.2.2). */
	cmd = (uint16_t)(enable ? cmd | PCI_CMD_MASTER | PCI_CMD_MEMORY : cmd & ~PCI_CMD_MASTER);
	return usnet_pci_cfg_write(dev, PCI_CFG_COMMAND, &cmd, sizeof(cmd));
}
