/* SPDX-License-Identifier: MIT */
/*
 * The device handle behind src/platform/pci.h, shared by pci.c (discovery,
 * dispatch), vfio.c and uio.c (the two backends). Internal to src/platform/.
 */
#ifndef USNET_PLATFORM_PCI_IMPL_H
#define USNET_PLATFORM_PCI_IMPL_H

#include "pci.h"

#define USNET_PCI_NBARS	   6
#define USNET_PCI_MAX_IRQS 32
#define USNET_HUGE_2M	   (2ul << 20)
#define USNET_PAGE_4K	   4096ul

/* PCI Local Bus 3.0, 6.2.2: Command register and its bits. */
#define PCI_CFG_COMMAND	     0x04
#define PCI_CMD_MEMORY	     (1u << 1)
#define PCI_CMD_MASTER	     (1u << 2)
#define PCI_CMD_INTX_DISABLE (1u << 10)
/* 6.2.4: Interrupt Pin (0: the function uses no INTx). */
#define PCI_CFG_INTERRUPT_PIN 0x3d

struct vfio_map;

/* One allocation from usnet_pci_dma_alloc() or one mapped pool, as seen by
 * one device. */
struct usnet_pci_mem {
	struct usnet_pci_mem *next;
	void *va;
	size_t len; /* bytes mapped at va */
	uint64_t iova;
	bool owned;		       /* allocated here: munmap() it when freed */
	const struct usnet_pool *pool; /* the pool, for a mapped pool */
	struct vfio_map *map;	       /* VFIO: the container's mapping */
};

struct usnet_pci_dev {
	enum usnet_pci_backend backend;
	struct usnet_pci_info info;
	char name[16]; /* "0000:00:03.0" */
	struct {
		void *va;    /* NULL: not mapped */
		size_t len;  /* bytes mapped (>= the BAR's size) */
		size_t size; /* the BAR's size */
	} bar[USNET_PCI_NBARS];
	struct usnet_pci_mem *mem; /* DMA memory this device holds */
	bool logged_huge, logged_small;

	enum usnet_pci_irq_mode irq_mode;
	unsigned nirq;
	int irq_fd[USNET_PCI_MAX_IRQS];

	uint64_t cfg_size; /* 256 (PCI) or 4096 (PCIe) */

	/* VFIO */
	struct vfio_group *group;
	int device_fd;
	uint32_t device_flags;
	uint64_t cfg_offset; /* of the config region in device_fd */

	/* UIO */
	int uio_fd;
	int cfg_fd;	    /* sysfs config file */
	uint32_t uio_count; /* interrupt total read last from uio_fd */
	bool uio_count_valid;
};

/* Backends: fill in everything after dev->info and dev->name. */
int usnet_vfio_open(struct usnet_pci_dev *dev);
void usnet_vfio_close(struct usnet_pci_dev *dev);
int usnet_vfio_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma);
int usnet_vfio_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool);
void usnet_vfio_mem_release(struct usnet_pci_dev *dev, struct usnet_pci_mem *m);
int usnet_vfio_irq_enable(struct usnet_pci_dev *dev, unsigned nvec);
void usnet_vfio_irq_disable(struct usnet_pci_dev *dev);
int usnet_vfio_irq_unmask(struct usnet_pci_dev *dev);
uint64_t usnet_vfio_fault_iova(const struct usnet_pci_dev *dev);

int usnet_uio_open(struct usnet_pci_dev *dev);
void usnet_uio_close(struct usnet_pci_dev *dev);
int usnet_uio_dma_alloc(struct usnet_pci_dev *dev, size_t len, struct usnet_dma *dma);
int usnet_uio_dma_map_pool(struct usnet_pci_dev *dev, struct usnet_pool *pool);
int usnet_uio_irq_enable(struct usnet_pci_dev *dev, unsigned nvec);
void usnet_uio_irq_disable(struct usnet_pci_dev *dev);
int usnet_uio_irq_unmask(struct usnet_pci_dev *dev);

/* Shared helpers (pci.c). */
/* "/dev", or $USNET_DEV_ROOT (unit tests fake /dev/uioN with a file). */
const char *usnet_pci_dev_root(void);
/* Read a sysfs attribute of the device into buf (trailing newline cut). */
int usnet_pci_sysfs_read(const char *root, const char *bdf, const char *attr, char *buf,
			 size_t len);
/* Anonymous memory for DMA, zeroed and populated: on 2 MiB hugepages if
 * huge is allowed and possible, else 4 KiB pages. *len is rounded up. */
void *usnet_pci_mmap_dma(size_t *len, bool huge_allowed, bool huge_only, bool lock,
			 size_t *page_size);
/* Log once per device which page size DMA memory is on. */
void usnet_pci_log_pages(struct usnet_pci_dev *dev, size_t page_size);
/* Link m into dev->mem. */
void usnet_pci_mem_add(struct usnet_pci_dev *dev, struct usnet_pci_mem *m);
/* Release every entry of dev->mem (bus mastering must be off). */
void usnet_pci_mem_release_all(struct usnet_pci_dev *dev);
/* The packet header a data pointer belongs to (pool xlate callbacks get
 * pkt->data). */
const struct usnet_pkt *usnet_pci_pkt_of(const void *data);

#endif
