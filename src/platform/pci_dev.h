/* SPDX-License-Identifier: MIT */
/*
 * The lower layer of src/platform/, which knows nothing of VFIO or UIO:
 *   pci_sysfs.c  addresses and sysfs (discovery, attributes)
 *   pci_dev.c    the backend-independent device handle: BARs, config space
 *   dma.c        DMA memory (pages) and the list of what a device holds
 * The back-ends (vfio.c, uio.c, pci_backend.h) build on it, and pci.c on
 * both. Nothing here calls upwards: tests/unit/pci_layers.sh checks it.
 * Internal to src/platform/ (and its tests).
 */
#ifndef USNET_PLATFORM_PCI_DEV_H
#define USNET_PLATFORM_PCI_DEV_H

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

struct usnet_pci_backend_ops;

/* One allocation from usnet_pci_dma_alloc() or one mapped pool, as seen by
 * one device. A back-end may embed it in a struct of its own. */
struct usnet_pci_mem {
	struct usnet_pci_mem *next;
	void *va;
	size_t len; /* bytes mapped at va */
	uint64_t iova;
	bool owned;		       /* allocated here: munmap() it when freed */
	const struct usnet_pool *pool; /* the pool, for a mapped pool */
};

/*
 * The device handle. A back-end embeds it in its own struct (container_of)
 * and fills in ops, the BARs and the config space fields at open.
 */
struct usnet_pci_dev {
	const struct usnet_pci_backend_ops *ops; /* opaque down here */
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

	/* Config space: cfg_size bytes (256 PCI, 4096 PCIe) at offset
	 * cfg_base of cfg_fd. The fd belongs to the back-end. */
	int cfg_fd;
	uint64_t cfg_base;
	uint64_t cfg_size;
};

/* ---- pci_sysfs.c ---- */
/* "/dev", or $USNET_DEV_ROOT (unit tests fake /dev/uioN with a file). */
const char *usnet_pci_dev_root(void);
/* Read a sysfs attribute of the device into buf (trailing newline cut). */
int usnet_pci_sysfs_read(const char *root, const char *bdf, const char *attr, char *buf,
			 size_t len);

/* ---- pci_dev.c ---- */
/* A handle for the device info describes, nothing mapped or open yet. */
void usnet_pci_dev_init(struct usnet_pci_dev *dev, const struct usnet_pci_info *info,
			const struct usnet_pci_backend_ops *ops);
/* munmap() every mapped BAR. */
void usnet_pci_bars_unmap(struct usnet_pci_dev *dev);

/* ---- dma.c ---- */
/* Anonymous memory for DMA, zeroed and populated: on 2 MiB hugepages if
 * huge is allowed and possible, else 4 KiB pages. *len is rounded up. */
/* mlock(2), also in a sanitized build (dma.c says why). 0 or -1 with errno. */
int usnet_pci_mlock(const void *p, size_t len);
void *usnet_pci_mmap_dma(size_t *len, bool huge_allowed, bool huge_only, bool lock,
			 size_t *page_size);
/* Is a 2 MiB hugepage free right now? (a hugetlb mmap reserves its page at
 * mmap time, so this is a real test) */
bool usnet_pci_hugepage_free(void);
/* Log once per device which page size DMA memory is on. */
void usnet_pci_log_pages(struct usnet_pci_dev *dev, size_t page_size);
/* Link m into dev->mem. */
void usnet_pci_mem_add(struct usnet_pci_dev *dev, struct usnet_pci_mem *m);
/* The entry for pool, or NULL. */
struct usnet_pci_mem *usnet_pci_mem_find_pool(struct usnet_pci_dev *dev,
					      const struct usnet_pool *pool);
/* Unlink and return the first entry allocated at va (va != NULL) or for
 * pool (pool != NULL), or with both NULL the first entry; NULL if none. */
struct usnet_pci_mem *usnet_pci_mem_unlink(struct usnet_pci_dev *dev, const void *va,
					   const struct usnet_pool *pool);
/* munmap() m's memory if it was allocated here (m->owned). */
void usnet_pci_mem_unmap(struct usnet_pci_mem *m);
/* The packet header a data pointer belongs to (pool xlate callbacks get
 * pkt->data). */
const struct usnet_pkt *usnet_pci_pkt_of(const void *data);

#endif
