/* SPDX-License-Identifier: MIT */
/*
 * DMA memory (the lower layer, see pci_dev.h): anonymous pages for the
 * device, on 2 MiB hugepages when there are free ones, and the list of the
 * memory each device holds. How memory becomes reachable by the device
 * (IOMMU mapping, physical addresses) is the back-ends' business.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <usnet/log.h>

#include "pci_dev.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

/*
 * mlock(2) by its system call: AddressSanitizer's interceptor turns mlock()
 * into a no-op that reports success, which would leave UIO's 4 KiB pages
 * neither resident (pagemap: not present) nor locked in a sanitized build.
 */
int usnet_pci_mlock(const void *p, size_t len)
{
	return (int)syscall(SYS_mlock, p, len);
}

void *usnet_pci_mmap_dma(size_t *len, bool huge_allowed, bool huge_only, bool lock,
			 size_t *page_size)
{
	const char *force = getenv("USNET_DMA_PAGES");
	int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | (lock ? MAP_LOCKED : 0);
	size_t n;
	void *p;

	/* USNET_DMA_PAGES=4k: measure what hugepages are worth. */
	if (force && !strcmp(force, "4k") && !huge_only)
		huge_allowed = false;
	if (huge_allowed) {
		n = (*len + USNET_HUGE_2M - 1) & ~(USNET_HUGE_2M - 1);
		/* MAP_HUGE_2MB: the default hugepage size may be 1 GiB. A
		 * hugetlb mapping reserves its pages at mmap() time, so this
		 * fails here, not with SIGBUS later (hugetlbpage.rst). */
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags | MAP_HUGETLB | MAP_HUGE_2MB, -1,
			 0);
		if (p != MAP_FAILED) {
			*len = n;
			*page_size = USNET_HUGE_2M;
			return p;
		}
		if (huge_only)
			return NULL;
	}
	n = (*len + USNET_PAGE_4K - 1) & ~(USNET_PAGE_4K - 1);
	if (lock) {
		/* Memory the device reaches by physical address (UIO): no
		 * transparent hugepage may replace these pages later (khugepaged
		 * copies into a new page), so say so before they exist, then
		 * lock them in (which also faults them in). */
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
		madvise(p, n, MADV_NOHUGEPAGE);
		if (usnet_pci_mlock(p, n)) {
			int err = errno;

			munmap(p, n);
			errno = err;
			return NULL;
		}
	} else {
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, flags, -1, 0);
		if (p == MAP_FAILED)
			return NULL;
	}
	*len = n;
	*page_size = USNET_PAGE_4K;
	return p;
}

void usnet_pci_log_pages(struct usnet_pci_dev *dev, size_t page_size)
{
	if (page_size == USNET_HUGE_2M && !dev->logged_huge) {
		dev->logged_huge = true;
		USNET_INFO("%s: DMA memory on 2 MiB hugepages", dev->name);
	} else if (page_size != USNET_HUGE_2M && !dev->logged_small) {
		const char *force = getenv("USNET_DMA_PAGES");

		dev->logged_small = true;
		if (force && !strcmp(force, "4k"))
			USNET_INFO("%s: DMA memory on 4 KiB pages (USNET_DMA_PAGES=4k)", dev->name);
		else
			USNET_INFO("%s: DMA memory on 4 KiB pages (no free 2 MiB hugepages; "
				   "reserve some with: echo 64 > "
				   "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages)",
				   dev->name);
	}
}

void usnet_pci_mem_add(struct usnet_pci_dev *dev, struct usnet_pci_mem *m)
{
	m->next = dev->mem;
	dev->mem = m;
}

const struct usnet_pkt *usnet_pci_pkt_of(const void *data)
{
	return (const struct usnet_pkt *)((const uint8_t *)data - offsetof(struct usnet_pkt, data));
}

bool usnet_pci_hugepage_free(void)
{
	size_t len = USNET_HUGE_2M, page;
	void *p = usnet_pci_mmap_dma(&len, true, true, false, &page);

	if (!p)
		return false;
	munmap(p, len);
	return true;
}

struct usnet_pci_mem *usnet_pci_mem_find_pool(struct usnet_pci_dev *dev,
					      const struct usnet_pool *pool)
{
	for (struct usnet_pci_mem *m = dev->mem; m; m = m->next)
		if (m->pool == pool)
			return m;
	return NULL;
}

struct usnet_pci_mem *usnet_pci_mem_unlink(struct usnet_pci_dev *dev, const void *va,
					   const struct usnet_pool *pool)
{
	for (struct usnet_pci_mem **pp = &dev->mem; *pp; pp = &(*pp)->next) {
		struct usnet_pci_mem *m = *pp;

		if ((!va && !pool) || (va && m->owned && m->va == va) ||
		    (pool && m->pool == pool)) {
			*pp = m->next;
			m->next = NULL;
			return m;
		}
	}
	return NULL;
}

void usnet_pci_mem_unmap(struct usnet_pci_mem *m)
{
	if (m->owned)
		munmap(m->va, m->len);
	m->owned = false;
}
