/* SPDX-License-Identifier: MIT */
/*
 * PCI devices from user space: discovery through sysfs, and a device handle
 * that maps BARs, reads config space, maps DMA memory and wires interrupts
 * to eventfds, through VFIO (IOMMU-protected) or UIO (no protection).
 * Internal to usnet; drivers in src/drivers/ use it.
 */
#ifndef USNET_PLATFORM_PCI_H
#define USNET_PLATFORM_PCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <usnet/pkt.h>

struct usnet_pci_addr {
	uint16_t domain;
	uint8_t bus;
	uint8_t dev; /* 0..31 */
	uint8_t fn;  /* 0..7 */
};

/* "0000:00:03.0" or "00:03.0" (domain 0). 0 or -EINVAL with a reason. */
int usnet_pci_addr_parse(const char *s, struct usnet_pci_addr *addr);
/* Writes "DDDD:BB:DD.F" into buf (at least 13 bytes). */
void usnet_pci_addr_format(const struct usnet_pci_addr *addr, char *buf, size_t len);

struct usnet_pci_info {
	struct usnet_pci_addr addr;
	uint16_t vendor;
	uint16_t device;
	uint32_t class_code;	/* 24-bit class/subclass/prog-if; networks are 0x02xxxx */
	char driver[32];	/* bound kernel driver, "" if none */
	int iommu_group;	/* -1 if the device has no IOMMU group */
	char ifname[16];	/* the kernel's network interface, "" if none */
};

/*
 * Read a device's identity from sysfs. sysfs_root is "/sys" except in
 * tests, which point it at a fake tree. 0, -ENODEV (no such device).
 */
int usnet_pci_info_get(const char *sysfs_root, const struct usnet_pci_addr *addr,
		       struct usnet_pci_info *info);
/* Calls fn for every PCI device in sysfs; stops early if fn returns non-zero. */
int usnet_pci_scan(const char *sysfs_root, int (*fn)(void *ctx, const struct usnet_pci_info *info),
		   void *ctx);
/* "/sys", or $USNET_SYSFS_ROOT when set (tests point it at a fake tree). */
const char *usnet_pci_sysfs_root(void);
/* Is class_code a network controller (PCI Code and ID Assignment, class 02h)? */
static inline bool usnet_pci_is_network(uint32_t class_code)
{
	return (class_code >> 16) == 0x02;
}

enum usnet_pci_backend {
	USNET_PCI_VFIO, /* vfio-pci: DMA confined by the IOMMU to what usnet mapped */
	USNET_PCI_UIO,	/* uio_pci_generic: physical addresses, no DMA protection */
};

struct usnet_pci_dev;

/*
 * Open a device bound to vfio-pci or uio_pci_generic. A device bound to any
 * other driver, or to none, fails with -EBUSY / -ENODEV and a reason that
 * names the fix ("usnetctl bind 0000:00:03.0").
 */
int usnet_pci_open(struct usnet_pci_dev **out, const struct usnet_pci_addr *addr);
/* Disables bus mastering and interrupts, unmaps everything, closes. */
void usnet_pci_close(struct usnet_pci_dev *dev);

enum usnet_pci_backend usnet_pci_backend(const struct usnet_pci_dev *dev);
const struct usnet_pci_info *usnet_pci_dev_info(const struct usnet_pci_dev *dev);

/* A memory BAR mapped into the process, or NULL (I/O BAR, absent). */
volatile void *usnet_pci_bar(struct usnet_pci_dev *dev, unsigned bar, size_t *len);

/* Config space access, 0 or -errno. */
int usnet_pci_cfg_read(struct usnet_pci_dev *dev, uint32_t off, void *buf, size_t len);
int usnet_pci_cfg_write(struct usnet_pci_dev *dev, uint32_t off, const void *buf, size_t len);
/* Set the Bus Master Enable bit of the Command register (PCI 3.0, 6.2.2). */
int usnet_pci_set_bus_master(struct usnet_pci_dev *dev, bool enable);

/*
 * Memory the device may read and write. usnet_pci_dma_alloc() returns
 * zeroed memory of at least len bytes with its bus address: IOMMU-mapped
 * for VFIO (on any pages); for UIO physically contiguous, on one 2 MiB
 * hugepage, or without free hugepages on locked 4 KiB pages, which is
 * refused (-EFAULT, with the reason) for more than 4 KiB unless those pages
 * happen to be physically adjacent. 0 or -errno.
 */
struct usnet_dma {
	void *va;
	uint64_t iova;
	size_t len;
	size_t page_size; /* backing page size: 2 MiB (hugepage) or 4 KiB */
};
int usnet_pci_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma);
/* The largest usnet_pci_dma_alloc() that is sure to succeed as far as
 * contiguity goes: SIZE_MAX (VFIO), 2 MiB (UIO with a free hugepage) or
 * 4 KiB (UIO without). Drivers size their default rings to fit. */
size_t usnet_pci_dma_contig_max(struct usnet_pci_dev *dev);
void usnet_pci_dma_free(struct usnet_pci_dev *dev, struct usnet_dma *dma);
/*
 * Make a pool's region reachable by the device and set every pkt->iova.
 * All VFIO devices of a process share one container (one IOVA space), so a
 * pool mapped for one device has the same IOVAs for every other: a packet
 * received on one NIC can be sent on another without a copy. Mapping the
 * same pool again only takes a reference.
 */
int usnet_pci_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool);
/* The USNET_POOL_F_* flags a pool needs to be mapped for this device:
 * USNET_POOL_F_PAGE_LOCAL for UIO (no IOMMU to join 4 KiB pages). */
uint32_t usnet_pci_pool_flags(const struct usnet_pci_dev *dev);
/* Drop the mapping before the pool is destroyed (usnet_pci_close() drops
 * whatever is left, but a pool must never be freed while still mapped). */
void usnet_pci_dma_unmap_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool);

/*
 * Interrupts: enable up to nvec vectors (MSI-X, else MSI, else INTx with
 * nvec = 1), each signalling efds[i] (eventfds created here). Returns the
 * number of vectors enabled, or -errno. The fds belong to the device: they
 * stay valid until usnet_pci_irq_disable()/usnet_pci_close(), which close
 * them. With UIO efds[0] is the /dev/uioN fd (INTx only); drain either kind
 * with usnet_pci_irq_ack(), never with a read() of your own.
 */
int usnet_pci_irq_enable(struct usnet_pci_dev *dev, unsigned nvec, int *efds);
void usnet_pci_irq_disable(struct usnet_pci_dev *dev);
/* INTx only: unmask after handling (VFIO masks INTx on delivery, and
 * uio_pci_generic sets Interrupt Disable in the Command register). */
int usnet_pci_irq_unmask(struct usnet_pci_dev *dev);
/* Consume the pending count of vector vec without blocking: the number of
 * interrupts since the last ack (0 if none), or -errno. */
int usnet_pci_irq_ack(struct usnet_pci_dev *dev, unsigned vec);

enum usnet_pci_irq_mode {
	USNET_PCI_IRQ_NONE,
	USNET_PCI_IRQ_INTX,
	USNET_PCI_IRQ_MSI,
	USNET_PCI_IRQ_MSIX,
};
/* What usnet_pci_irq_enable() chose (drivers program the device to match). */
enum usnet_pci_irq_mode usnet_pci_irq_mode(const struct usnet_pci_dev *dev);

/* MMIO register access: one naturally aligned access each, never split or
 * merged by the compiler. Ordering against DMA memory is the caller's job
 * (see the barrier comments in the drivers). */
static inline uint32_t usnet_reg_read32(volatile void *base, uint32_t off)
{
	return *(volatile uint32_t *)((volatile uint8_t *)base + off);
}

static inline void usnet_reg_write32(volatile void *base, uint32_t off, uint32_t val)
{
	*(volatile uint32_t *)((volatile uint8_t *)base + off) = val;
}

static inline uint16_t usnet_reg_read16(volatile void *base, uint32_t off)
{
	return *(volatile uint16_t *)((volatile uint8_t *)base + off);
}

static inline void usnet_reg_write16(volatile void *base, uint32_t off, uint16_t val)
{
	*(volatile uint16_t *)((volatile uint8_t *)base + off) = val;
}

static inline uint8_t usnet_reg_read8(volatile void *base, uint32_t off)
{
	return *(volatile uint8_t *)((volatile uint8_t *)base + off);
}

static inline void usnet_reg_write8(volatile void *base, uint32_t off, uint8_t val)
{
	*(volatile uint8_t *)((volatile uint8_t *)base + off) = val;
}

/*
 * Test-only fault injection (USNET_FAULT_BAD_IOVA=1 in the environment):
 * returns a bus address no mapping covers, so tests can show that the IOMMU
 * blocks a stray DMA. 0 when fault injection is off.
 */
uint64_t usnet_pci_fault_iova(const struct usnet_pci_dev *dev);

#endif
