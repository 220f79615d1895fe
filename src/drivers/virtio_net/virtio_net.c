/* SPDX-License-Identifier: MIT */
/*
 * virtio-net, modern PCI transport (1af4:1041), split virtqueues: a
 * poll-mode driver. Section numbers are VIRTIO 1.2's (see virtio_pci.h).
 *
 * Bring-up (3.1.1, 4.1.5.1, 5.1.5): find the virtio structures through the
 * vendor capabilities (4.1.4), reset, ACKNOWLEDGE, DRIVER, negotiate
 * features, FEATURES_OK and check it stuck, set up every virtqueue
 * (4.1.5.1.3), fill the receive queues, DRIVER_OK, then (multiqueue only)
 * VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET on the control queue.
 *
 * Receive: each descriptor is one pool buffer. The device writes the
 * 12-byte virtio_net_hdr into the buffer's headroom, so the frame lands at
 * data_off and the buffer goes to the caller as it is (zero copy); fresh
 * buffers replace it. Transmit: the zeroed header is prepended in the
 * packet's own headroom, one descriptor per packet; packets from pools this
 * device cannot reach are copied into a buffer of a pool it can. Completed
 * transmissions are reclaimed at the next tx_burst.
 *
 * Notifications: used-buffer notifications (interrupts) stay suppressed
 * while the queue is polled (VIRTQ_AVAIL_F_NO_INTERRUPT, or used_event with
 * VIRTIO_F_EVENT_IDX) and are enabled by arm() before the caller sleeps on
 * the queue's MSI-X eventfd. The device is notified of new buffers only
 * when it has not suppressed that (VIRTQ_USED_F_NO_NOTIFY, or avail_event),
 * at most once per burst.
 *
 * Threads: one thread per RX queue and one per TX queue, as everywhere.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/time.h>

#include "../../core/sleep.h"
#include "../driver.h"
#include "virtio_pci.h"

#define HDR_LEN		    ((uint16_t)sizeof(struct virtio_net_hdr))
#define DFLT_POOL	    4096 /* packets per RX queue pool */
#define MAX_RING	    4096 /* largest ring this driver sets up */
#define REFILL_CHUNK	    64	 /* buffers allocated per pool call */
#define TX_COPY_EXTRA	    64	 /* copy buffers beyond one per TX descriptor */
#define RESET_TIMEOUT_NS    (1000 * 1000000ull)
#define CTRL_TIMEOUT_NS	    (1000 * 1000000ull)
#define TX_DRAIN_TIMEOUT_NS (1000 * 1000000ull)
#define STATUS_POLL_EVERY   4096 /* empty RX polls between device status checks */
#define FAULT_PATTERN	    0xa5 /* fills the fault-injection buffer */
#define RX_CANARY	    0xff /* gso_type before the device writes the header */
#define MAX_KNOWN_POOLS	    2

/* One split virtqueue (2.7) and what the driver keeps about it. */
struct vq {
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	volatile void *notify; /* Queue Notify address (4.1.4.4) */
	uint16_t size;	       /* entries, a power of 2 */
	uint16_t mask;
	uint16_t index;	    /* virtqueue number: written to notify (4.1.5.2) */
	uint16_t avail_idx; /* our copy of avail->idx */
	uint16_t last_used; /* next used entry to look at */
	uint16_t nfree;	    /* entries in free_ids */
	uint16_t free_head; /* oldest entry of free_ids */
	bool event_idx;	    /* VIRTIO_F_EVENT_IDX negotiated */
	uint64_t posted;    /* buffers made available, for the close log */
	uint64_t kicks;	    /* notifications sent */
	/*
	 * Descriptors without a buffer, a FIFO: they are reused in the order
	 * the device gave them back, so with a device that completes in order
	 * descriptor i goes with ring slot i, the driver writes a descriptor
	 * long after the device read it, and the two never fight over a
	 * cache line of the table. (A stack would hand out the descriptor the
	 * device touched last.)
	 */
	uint16_t *free_ids;
	struct usnet_pkt **bufs; /* the buffer of each descriptor, by id */
	struct usnet_dma mem;	 /* descriptor table, available and used rings */
};

static inline uint16_t id_get(struct vq *q)
{
	uint16_t id = q->free_ids[q->free_head & q->mask];

	q->free_head++;
	q->nfree--;
	return id;
}

static inline void id_put(struct vq *q, uint16_t id)
{
	q->free_ids[(uint16_t)(q->free_head + q->nfree) & q->mask] = id;
	q->nfree++;
}

struct vnet_rxq {
	struct vq vq;
	struct usnet_pool *pool;
	int vector;		     /* MSI-X vector / eventfd index; -1: none */
	bool irq_on;		     /* used-buffer notifications enabled by arm() */
	uint32_t idle;		     /* empty polls since the last device status check */
	struct usnet_pkt *fault_pkt; /* fault injection: the buffer never posted */
} __attribute__((aligned(64)));

struct vnet_txq {
	struct vq vq;
	struct usnet_pool *copy_pool;	    /* mapped: for packets from other pools */
	const struct usnet_pool *last_pool; /* the last pool found to be mapped */
	unsigned nknown;
	const struct usnet_pool *known[MAX_KNOWN_POOLS]; /* pools the device can reach */
} __attribute__((aligned(64)));

struct vnet_ctrlq {
	struct vq vq;
	struct usnet_dma buf; /* command, data and ack */
};

struct vnet_port {
	struct usnet_port port;
	struct usnet_pci_dev *dev;
	const char *name; /* "0000:00:03.0" for messages */
	size_t dma_contig; /* largest DMA allocation sure to be contiguous */

	/* The virtio structures, mapped through their BARs (4.1.4). */
	volatile uint8_t *common;
	volatile uint8_t *isr;
	volatile uint8_t *devcfg;
	size_t devcfg_len;
	volatile uint8_t *notify_base;
	size_t notify_len;
	uint32_t notify_mult;
	unsigned msix_size; /* MSI-X table entries, 0: no MSI-X capability */

	uint64_t offered;
	uint64_t features; /* negotiated */
	uint16_t pairs;	   /* queue pairs in use */
	uint16_t max_pairs;
	bool device_live; /* queues enabled: reset before freeing their memory */

	enum usnet_pci_irq_mode irq_mode;
	int nvec;
	int efd[USNET_MAX_QUEUES];

	_Atomic bool broken;	     /* DMA fault or DEVICE_NEEDS_RESET seen */
	_Atomic bool fault_reported; /* logged once */

	struct vnet_ctrlq ctrl;
	bool have_ctrl;
	struct vnet_rxq rxq[USNET_MAX_QUEUES];
	struct vnet_txq txq[USNET_MAX_QUEUES];
};

static inline struct vnet_port *vnet_of(struct usnet_port *port)
{
	return usnet_container_of(port, struct vnet_port, port);
}

static inline bool has(const struct vnet_port *vp, unsigned bit)
{
	return (vp->features & VIRTIO_BIT(bit)) != 0;
}

/* --- common configuration access (4.1.4.3) ---------------------------------- */

static uint8_t status_read(struct vnet_port *vp)
{
	return usnet_reg_read8(vp->common, VIRTIO_PCI_CFG(device_status));
}

/* The driver only ever adds bits (2.1.1: it MUST NOT clear one). */
static void status_set(struct vnet_port *vp, uint8_t bits)
{
	usnet_reg_write8(vp->common, VIRTIO_PCI_CFG(device_status),
			 (uint8_t)(status_read(vp) | bits));
}

/*
 * 2.4 Device Reset, 4.1.4.3.2: writing 0 to device_status resets the
 * device; the reset is complete when device_status reads 0 again. After it
 * the device no longer touches the queues (2.4.1), so their memory may go.
 */
static int device_reset(struct vnet_port *vp)
{
	uint64_t deadline = usnet_now_ns() + RESET_TIMEOUT_NS;

	usnet_reg_write8(vp->common, VIRTIO_PCI_CFG(device_status), 0);
	while (status_read(vp) != 0) {
		if (usnet_now_ns() > deadline)
			return usnet_error(ETIMEDOUT,
					   "virtio-net %s: device_status still 0x%02x 1 s after "
					   "reset (VIRTIO 1.2, 4.1.4.3.2)",
					   vp->name, status_read(vp));
		usnet_sleep_us(100);
	}
	vp->device_live = false;
	return 0;
}

static uint64_t features_read(struct vnet_port *vp)
{
	uint64_t f;

	usnet_reg_write32(vp->common, VIRTIO_PCI_CFG(device_feature_select), 0);
	f = usnet_reg_read32(vp->common, VIRTIO_PCI_CFG(device_feature));
	usnet_reg_write32(vp->common, VIRTIO_PCI_CFG(device_feature_select), 1);
	f |= (uint64_t)usnet_reg_read32(vp->common, VIRTIO_PCI_CFG(device_feature)) << 32;
	return f;
}

static void features_write(struct vnet_port *vp, uint64_t f)
{
	usnet_reg_write32(vp->common, VIRTIO_PCI_CFG(driver_feature_select), 0);
	usnet_reg_write32(vp->common, VIRTIO_PCI_CFG(driver_feature), (uint32_t)f);
	usnet_reg_write32(vp->common, VIRTIO_PCI_CFG(driver_feature_select), 1);
	usnet_reg_write32(vp->common, VIRTIO_PCI_CFG(driver_feature), (uint32_t)(f >> 32));
}

/* 64-bit fields as two 32-bit writes, low half first: 2.5.1 promises no
 * atomicity beyond 32 bits, and the device reads the pair once enabled. */
static void cfg_write64(struct vnet_port *vp, uint32_t off, uint64_t v)
{
	usnet_reg_write32(vp->common, off, (uint32_t)v);
	usnet_reg_write32(vp->common, off + 4, (uint32_t)(v >> 32));
}

/*
 * Device-specific configuration (5.1.4), read consistently: 2.5.1 has the
 * driver re-read until config_generation is the same before and after.
 */
struct net_cfg {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_pairs;
	uint16_t mtu;
	uint32_t speed;
};

static bool cfg_has(const struct vnet_port *vp, uint64_t feat, unsigned bit, uint32_t off,
		    uint32_t len)
{
	return (feat & VIRTIO_BIT(bit)) && off + len <= vp->devcfg_len;
}

static int net_cfg_read(struct vnet_port *vp, uint64_t feat, struct net_cfg *c)
{
	for (int tries = 0; tries < 100; tries++) {
		uint8_t gen = usnet_reg_read8(vp->common, VIRTIO_PCI_CFG(config_generation));

		memset(c, 0, sizeof(*c));
		for (unsigned i = 0; i < 6; i++)
			c->mac[i] = usnet_reg_read8(vp->devcfg, VIRTIO_NET_CFG(mac) + i);
		/* Optional fields exist only with their feature (5.1.4), and
		 * only if the structure is long enough (2.5.1). */
		if (cfg_has(vp, feat, VIRTIO_NET_F_STATUS, VIRTIO_NET_CFG(status), 2))
			c->status = usnet_reg_read16(vp->devcfg, VIRTIO_NET_CFG(status));
		if (cfg_has(vp, feat, VIRTIO_NET_F_MQ, VIRTIO_NET_CFG(max_virtqueue_pairs), 2))
			c->max_pairs =
			    usnet_reg_read16(vp->devcfg, VIRTIO_NET_CFG(max_virtqueue_pairs));
		if (cfg_has(vp, feat, VIRTIO_NET_F_MTU, VIRTIO_NET_CFG(mtu), 2))
			c->mtu = usnet_reg_read16(vp->devcfg, VIRTIO_NET_CFG(mtu));
		if (cfg_has(vp, feat, VIRTIO_NET_F_SPEED_DUPLEX, VIRTIO_NET_CFG(speed), 4))
			c->speed = usnet_reg_read32(vp->devcfg, VIRTIO_NET_CFG(speed));
		if (gen == usnet_reg_read8(vp->common, VIRTIO_PCI_CFG(config_generation)))
			return 0;
	}
	return usnet_error(EIO,
			   "virtio-net %s: device configuration keeps changing "
			   "(config_generation, VIRTIO 1.2, 2.5.1)",
			   vp->name);
}

/* --- faults -------------------------------------------------------------------- */

/*
 * The device hit an error: mark the port broken (link down from now on)
 * and say why, once. Not on the fast path proper: it runs only when
 * something already went wrong.
 */
static void __attribute__((cold, noinline)) report_fault(struct vnet_port *vp, const char *what)
{
	atomic_store_explicit(&vp->broken, true, memory_order_relaxed);
	if (atomic_exchange_explicit(&vp->fault_reported, true, memory_order_relaxed))
		return;
	USNET_ERR("virtio-net %s: %s; link reported down until the port is reopened", vp->name,
		  what);
}

/* 2.1: the device sets DEVICE_NEEDS_RESET when it enters an error state;
 * QEMU does so on a descriptor it cannot map (virtio_error()). */
static void check_device_status(struct vnet_port *vp)
{
	uint8_t st = status_read(vp);

	if (st & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		report_fault(vp, "device set DEVICE_NEEDS_RESET (VIRTIO 1.2, 2.1): it hit an "
				 "error it cannot recover from, such as a DMA the IOMMU refused");
	else if (!(st & VIRTIO_STATUS_DRIVER_OK))
		report_fault(vp, "device was reset behind the driver's back (DRIVER_OK clear)");
}

/* --- virtqueues (2.7, 4.1.5.1.3) ------------------------------------------------ */

/* Layout of one queue in one DMA allocation: descriptor table (16-byte
 * aligned), available ring, then the used ring on its own cache line so
 * that the parts the driver and the device write never share one. */
static size_t used_offset(unsigned n)
{
	return (virtq_desc_size(n) + virtq_avail_size(n) + 63) & ~(size_t)63;
}

static void vq_free(struct vnet_port *vp, struct vq *q)
{
	if (q->mem.va)
		usnet_pci_dma_free(vp->dev, &q->mem);
	memset(&q->mem, 0, sizeof(q->mem));
	free(q->free_ids);
	free(q->bufs);
	q->free_ids = NULL;
	q->bufs = NULL;
}

/*
 * 4.1.5.1.3 Virtqueue Configuration: select the queue, read its maximum
 * size, write ours, point the device at zeroed rings, set the MSI-X vector
 * and read it back (4.1.5.1.2.2), find the notify address (4.1.4.4).
 * queue_enable comes later, once all fields are set (4.1.4.3.2).
 */
static int vq_setup(struct vnet_port *vp, struct vq *q, uint16_t index, uint32_t want,
		    uint16_t vector, const char *what)
{
	uint16_t max, size, notify_off, got;
	uint64_t notify_at;
	int err;

	usnet_reg_write16(vp->common, VIRTIO_PCI_CFG(queue_select), index);
	max = usnet_reg_read16(vp->common, VIRTIO_PCI_CFG(queue_size));
	if (max == 0)
		return usnet_error(ENODEV, "virtio-net %s: the device has no virtqueue %u (%s)",
				   vp->name, index, what);
	if (max & (max - 1))
		return usnet_error(EIO,
				   "virtio-net %s: virtqueue %u size %u is not a power of 2 "
				   "(VIRTIO 1.2, 4.1.4.3.1)",
				   vp->name, index, max);
	size = max > MAX_RING ? MAX_RING : max;
	if (want) {
		/* Round a requested size down to a power of 2 (2.7), within the
		 * device's maximum. */
		uint32_t p = 1;

		while (p * 2 <= want)
			p *= 2;
		if (p < size)
			size = (uint16_t)p;
		else if (want > size)
			USNET_WARN("virtio-net %s: %s ring size %u is more than the device's %u; "
				   "using %u",
				   vp->name, what, want, size, size);
	}
	/* One queue is one DMA allocation: keep it within what the platform
	 * can always give (UIO without hugepages: 4 KiB, 128 entries). */
	if (used_offset(size) + virtq_used_size(size) > vp->dma_contig) {
		while (size > 1 && used_offset(size) + virtq_used_size(size) > vp->dma_contig)
			size /= 2;
		USNET_INFO("virtio-net %s: %s ring of %u entries (device maximum %u): %zu bytes "
			   "of DMA memory are all that is sure to be physically contiguous",
			   vp->name, what, size, max, vp->dma_contig);
	}
	q->size = size;
	q->mask = (uint16_t)(size - 1);
	q->index = index;
	q->free_ids = calloc(size, sizeof(*q->free_ids));
	q->bufs = calloc(size, sizeof(*q->bufs));
	if (!q->free_ids || !q->bufs)
		return usnet_error(ENOMEM, "virtio-net %s: no memory for virtqueue %u", vp->name,
				   index);
	for (uint16_t i = 0; i < size; i++)
		q->free_ids[i] = i;
	q->nfree = size;
	q->free_head = 0;

	/* 4.1.5.1.3 step 4 / 2.7.1: zeroed, and each part aligned; the
	 * allocation is page aligned. used->flags starts 0 (2.7.10.1). */
	err = usnet_pci_dma_alloc(vp->dev, used_offset(size) + virtq_used_size(size), &q->mem);
	if (err)
		return err;
	q->desc = q->mem.va;
	q->avail = (struct virtq_avail *)((uint8_t *)q->mem.va + virtq_desc_size(size));
	q->used = (struct virtq_used *)((uint8_t *)q->mem.va + used_offset(size));

	usnet_reg_write16(vp->common, VIRTIO_PCI_CFG(queue_size), size);
	cfg_write64(vp, VIRTIO_PCI_CFG(queue_desc), q->mem.iova);
	cfg_write64(vp, VIRTIO_PCI_CFG(queue_driver), q->mem.iova + virtq_desc_size(size));
	cfg_write64(vp, VIRTIO_PCI_CFG(queue_device), q->mem.iova + used_offset(size));

	usnet_reg_write16(vp->common, VIRTIO_PCI_CFG(queue_msix_vector), vector);
	got = usnet_reg_read16(vp->common, VIRTIO_PCI_CFG(queue_msix_vector));
	if (got != vector)
		return usnet_error(EIO,
				   "virtio-net %s: virtqueue %u refused MSI-X vector %u "
				   "(read back 0x%x, VIRTIO 1.2, 4.1.5.1.2.2)",
				   vp->name, index, vector, got);

	notify_off = usnet_reg_read16(vp->common, VIRTIO_PCI_CFG(queue_notify_off));
	notify_at = (uint64_t)notify_off * vp->notify_mult;
	if (notify_at + 2 > vp->notify_len)
		return usnet_error(EIO,
				   "virtio-net %s: virtqueue %u notify offset %llu is outside "
				   "the %zu-byte notification structure (VIRTIO 1.2, 4.1.4.4)",
				   vp->name, index, (unsigned long long)notify_at, vp->notify_len);
	q->notify = vp->notify_base + notify_at;
	q->event_idx = has(vp, VIRTIO_F_EVENT_IDX);
	return 0;
}

static void vq_enable(struct vnet_port *vp, const struct vq *q)
{
	usnet_reg_write16(vp->common, VIRTIO_PCI_CFG(queue_select), q->index);
	usnet_reg_write16(vp->common, VIRTIO_PCI_CFG(queue_enable), 1);
}

/*
 * Make the entries added since `old` visible and notify the device unless
 * it said it needs no notification (2.7.13.3, 2.7.13.4, 2.7.10).
 */
static inline void vq_publish(struct vq *q, uint16_t old)
{
	bool kick;

	/*
	 * Release: the descriptors and available ring entries written above
	 * become visible to the device no later than the new idx. Pairs with
	 * the device's read of avail->idx, after which it reads the ring and
	 * descriptors (2.7.13.3.1; QEMU: smp_rmb() after reading idx).
	 */
	atomic_store_explicit(&q->avail->idx, q->avail_idx, memory_order_release);
	/*
	 * Full barrier between publishing idx and reading the suppression
	 * flag (2.7.13.4.1). The device does the mirror image when it goes
	 * idle: it clears VIRTQ_USED_F_NO_NOTIFY (or sets avail_event), full
	 * barrier, then re-reads avail->idx (QEMU:
	 * virtio_queue_set_notification() ends with smp_mb()). A store
	 * followed by a load to another location may be reordered even on
	 * x86 (store buffer): without the barrier we could read the old "no
	 * notify" flag while our idx is still invisible to the device, the
	 * device could see the old idx and go idle, and the new buffers would
	 * sit unseen. With barriers on both sides at least one side sees the
	 * other's write.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	if (q->event_idx)
		kick = virtq_need_event(
		    atomic_load_explicit(virtq_avail_event(q->used, q->size), memory_order_relaxed),
		    q->avail_idx, old);
	else
		kick = !(atomic_load_explicit(&q->used->flags, memory_order_relaxed) &
			 VIRTQ_USED_F_NO_NOTIFY);
	/* 4.1.5.2: the 16-bit queue index to the Queue Notify address. An
	 * uncached store, not reordered before the stores above on x86. */
	q->posted += (uint16_t)(q->avail_idx - old);
	if (kick) {
		usnet_reg_write16(q->notify, 0, q->index);
		q->kicks++;
	}
}

/* 2.7.7.1: used-buffer notifications off. With VIRTIO_F_EVENT_IDX flags
 * must stay 0; used_event is then left behind (see vnet_arm()). */
static void vq_irq_off(struct vq *q)
{
	if (!q->event_idx)
		atomic_store_explicit(&q->avail->flags, VIRTQ_AVAIL_F_NO_INTERRUPT,
				      memory_order_relaxed);
}

/* --- receive ------------------------------------------------------------------- */

/* Post one buffer: the header goes in the headroom in front of data_off
 * so the frame lands at data_off (5.1.6.4: the packet immediately follows
 * the header). */
static inline void rx_post(struct vq *q, uint16_t id, struct usnet_pkt *p, uint64_t iova)
{
	struct virtio_net_hdr *hdr = (struct virtio_net_hdr *)(usnet_pkt_data(p) - HDR_LEN);
	struct virtq_desc *d = &q->desc[id];

	/*
	 * A canary: the device writes the header in front of every packet
	 * (5.1.6), and with no GSO negotiated gso_type is GSO_NONE (5.1.6.4).
	 * An invalid gso_type still there when the buffer comes back means
	 * the device's write never reached memory. (num_buffers would be the
	 * obvious field, 5.1.6.3.2, but QEMU leaves it unwritten unless
	 * VIRTIO_NET_F_MRG_RXBUF is negotiated.)
	 */
	hdr->gso_type = RX_CANARY;
	q->bufs[id] = p;
	d->addr = iova;
	d->len = (uint32_t)(p->room - p->data_off + HDR_LEN);
	d->flags = VIRTQ_DESC_F_WRITE;
	q->avail->ring[q->avail_idx & q->mask] = id;
	q->avail_idx++;
}

/* Give the device a buffer for every descriptor that has none. */
static void rx_refill(struct vnet_rxq *rq)
{
	struct vq *q = &rq->vq;
	struct usnet_pkt *fresh[REFILL_CHUNK];
	uint16_t old = q->avail_idx;

	while (q->nfree) {
		uint32_t want = q->nfree < REFILL_CHUNK ? q->nfree : REFILL_CHUNK;
		uint32_t got = usnet_pool_alloc_bulk(rq->pool, fresh, want);

		for (uint32_t i = 0; i < got; i++) {
			uint16_t id = id_get(q);
			struct usnet_pkt *p = fresh[i];

			rx_post(q, id, p, usnet_pkt_iova(p) - HDR_LEN);
		}
		if (got < want)
			break; /* pool empty: try again at the next burst */
	}
	if (q->avail_idx != old)
		vq_publish(q, old);
}

static void __attribute__((cold, noinline))
rx_bad(struct vnet_port *vp, struct vnet_rxq *rq, uint16_t queue, struct usnet_pkt *p, uint32_t len)
{
	const struct virtio_net_hdr *hdr =
	    (const struct virtio_net_hdr *)(usnet_pkt_data(p) - HDR_LEN);
	char why[256];

	vp->port.stats[queue].rx_errors++;
	if (p == rq->fault_pkt) {
		bool intact = true;

		for (uint16_t i = 0; i < p->room; i++)
			intact = intact && p->data[i] == FAULT_PATTERN;
		snprintf(why, sizeof(why),
			 "RX queue %u: the device completed the buffer posted at the injected bad "
			 "IOVA (USNET_FAULT_BAD_IOVA) with %u bytes, but nothing reached memory: "
			 "the IOMMU blocked the DMA; the buffer usnet owns is %s",
			 queue, len, intact ? "untouched" : "MODIFIED");
		rq->fault_pkt = NULL;
		report_fault(vp, why);
	} else if (hdr->gso_type == RX_CANARY) {
		snprintf(why, sizeof(why),
			 "RX queue %u: the device completed a buffer (%u bytes) without writing "
			 "its virtio_net_hdr (VIRTIO 1.2, 5.1.6): the DMA did not reach memory, "
			 "an IOMMU fault?",
			 queue, len);
		report_fault(vp, why);
	}
	/* Otherwise a length out of range: counted, the frame dropped. */
	usnet_pkt_free(p);
}

static uint16_t vnet_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			      uint16_t n)
{
	struct vnet_port *vp = vnet_of(port);
	struct vnet_rxq *rq = &vp->rxq[queue];
	struct vq *q = &rq->vq;
	uint16_t used_idx, ready, got = 0;

	if (rq->irq_on) {
		vq_irq_off(q);
		rq->irq_on = false;
	}
	/*
	 * Acquire: pairs with the device's release of used->idx; it fills the
	 * buffers and sets the used elements' id and len before it updates
	 * idx (2.7.8.2; QEMU: smp_wmb() before the idx store).
	 */
	used_idx = atomic_load_explicit(&q->used->idx, memory_order_acquire);
	ready = (uint16_t)(used_idx - q->last_used);
	if (ready > n)
		ready = n;
	for (uint16_t i = 0; i < ready; i++) {
		const struct virtq_used_elem *e = &q->used->ring[(q->last_used + i) & q->mask];
		uint32_t id = e->id, len = e->len;
		struct usnet_pkt *p;
		const struct virtio_net_hdr *hdr;

		if (__builtin_expect(id >= q->size || !q->bufs[id], 0)) {
			/* A device bug; nothing to recycle. */
			port->stats[queue].rx_errors++;
			continue;
		}
		p = q->bufs[id];
		q->bufs[id] = NULL;
		id_put(q, (uint16_t)id);
		hdr = (const struct virtio_net_hdr *)(usnet_pkt_data(p) - HDR_LEN);
		/* len counts the header (2.7.8); without MRG_RXBUF the whole
		 * packet is in this one buffer (5.1.6.4). */
		if (__builtin_expect(hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE || len <= HDR_LEN ||
					 len - HDR_LEN > usnet_pkt_tailroom(p),
				     0)) {
			rx_bad(vp, rq, queue, p, len);
			continue;
		}
		p->len = (uint16_t)(len - HDR_LEN);
		pkts[got++] = p;
	}
	q->last_used = (uint16_t)(q->last_used + ready);
	if (q->nfree)
		rx_refill(rq);
	if (ready == 0 && ++rq->idle >= STATUS_POLL_EVERY) {
		/* Idle: look at device_status now and then, so that a device
		 * that broke is noticed by a receiver that only polls. */
		rq->idle = 0;
		check_device_status(vp);
	}
	return got;
}

/*
 * Before the caller sleeps on the queue's eventfd: enable used-buffer
 * notifications, then look at the used ring once more (2.7.14 note).
 */
static bool vnet_arm(struct usnet_port *port, uint16_t queue)
{
	struct vnet_port *vp = vnet_of(port);
	struct vnet_rxq *rq = &vp->rxq[queue];
	struct vq *q = &rq->vq;

	if (rq->vector < 0)
		return true; /* no interrupt: never sleep */
	/* Forget interrupts already delivered, so poll() waits for a new one. */
	usnet_pci_irq_ack(vp->dev, (unsigned)rq->vector);
	if (vp->irq_mode == USNET_PCI_IRQ_INTX) {
		/* 4.1.5.5: reading ISR status clears it and deasserts INTx;
		 * then VFIO may deliver the line again. */
		(void)usnet_reg_read8(vp->isr, 0);
		usnet_pci_irq_unmask(vp->dev);
	}
	check_device_status(vp);
	if (q->event_idx)
		/* 2.7.7: interrupt when the device writes used entry last_used,
		 * i.e. the next one. */
		atomic_store_explicit(virtq_used_event(q->avail, q->size), q->last_used,
				      memory_order_relaxed);
	else
		atomic_store_explicit(&q->avail->flags, 0, memory_order_relaxed);
	rq->irq_on = true;
	/*
	 * Full barrier: the re-enable above must be visible before we re-read
	 * used->idx. Pairs with the device's barrier between publishing
	 * used->idx and reading flags/used_event (QEMU: smp_mb() in
	 * virtio_split_should_notify()): either it sees notifications enabled
	 * and interrupts, or we see its new entries here and do not sleep.
	 */
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(&q->used->idx, memory_order_acquire) != q->last_used;
}

static int vnet_queue_fd(struct usnet_port *port, uint16_t queue)
{
	struct vnet_port *vp = vnet_of(port);
	int vec = vp->rxq[queue].vector;

	if (vec < 0)
		return usnet_error(ENOTSUP, "virtio-net %s: RX queue %u has no interrupt", vp->name,
				   queue);
	return vp->efd[vec];
}

/* --- transmit ------------------------------------------------------------------ */

/* Free the packets of every transmission the device has finished. */
static void tx_reclaim(struct vq *q)
{
	struct usnet_pkt *done[64];
	uint32_t k = 0;
	/* Acquire: pairs with the device's release of used->idx (2.7.8.2);
	 * after it the device no longer reads those buffers. */
	uint16_t used_idx = atomic_load_explicit(&q->used->idx, memory_order_acquire);

	while (q->last_used != used_idx) {
		uint32_t id = q->used->ring[q->last_used & q->mask].id;

		q->last_used++;
		/* The used length means nothing on transmit queues (5.1.6.1). */
		if (id < q->size && q->bufs[id]) {
			done[k++] = q->bufs[id];
			q->bufs[id] = NULL;
			id_put(q, (uint16_t)id);
			if (k == 64) {
				usnet_pkt_free_bulk(done, k);
				k = 0;
			}
		}
	}
	usnet_pkt_free_bulk(done, k);
}

/* Can the device read this pool's buffers at their pkt->iova? Only pools
 * mapped for this device count. */
static inline bool tx_pool_mapped(struct vnet_txq *tq, const struct usnet_pool *pool)
{
	if (pool == tq->last_pool)
		return true;
	for (unsigned i = 0; i < tq->nknown; i++) {
		if (tq->known[i] == pool) {
			tq->last_pool = pool;
			return true;
		}
	}
	return false;
}

static uint16_t vnet_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			      uint16_t n)
{
	struct vnet_port *vp = vnet_of(port);
	struct vnet_txq *tq = &vp->txq[queue];
	struct vq *q = &tq->vq;
	uint16_t old = q->avail_idx, i;

	tx_reclaim(q);
	for (i = 0; i < n && q->nfree; i++) {
		struct usnet_pkt *p = pkts[i];
		struct virtio_net_hdr *hdr;
		struct virtq_desc *d;
		uint16_t id;

		if (__builtin_expect(p->len < 14 || p->len > VIRTIO_NET_MAX_FRAME + 4, 0)) {
			/* Taken but not sent: no GSO was negotiated (5.1.6.3),
			 * so 1514 bytes plus a VLAN tag is the limit. */
			port->stats[queue].tx_errors++;
			usnet_pkt_free(p);
			continue;
		}
		if (__builtin_expect(!tx_pool_mapped(tq, p->pool) || p->data_off < HDR_LEN, 0)) {
			struct usnet_pkt *c = usnet_pkt_alloc(tq->copy_pool);

			if (!c)
				break; /* the caller keeps this one and the rest */
			memcpy(usnet_pkt_data(c), usnet_pkt_data(p), p->len);
			c->len = p->len;
			usnet_pkt_free(p);
			p = c;
		}
		/* 5.1.6.2: no checksum or segmentation offload, so the header is
		 * all zero: flags 0, GSO_NONE, num_buffers 0 (5.1.6.2.1). */
		hdr = (struct virtio_net_hdr *)usnet_pkt_prepend(p, HDR_LEN);
		memset(hdr, 0, sizeof(*hdr));
		id = id_get(q);
		q->bufs[id] = p;
		/* 5.1.6.2: header and packet as one device-readable descriptor. */
		d = &q->desc[id];
		d->addr = usnet_pkt_iova(p);
		d->len = p->len;
		d->flags = 0;
		q->avail->ring[q->avail_idx & q->mask] = id;
		q->avail_idx++;
	}
	if (q->avail_idx != old)
		vq_publish(q, old);
	return i;
}

/* --- link ---------------------------------------------------------------------- */

static int vnet_link(struct usnet_port *port, struct usnet_link *link)
{
	struct vnet_port *vp = vnet_of(port);
	struct net_cfg c;
	int err;

	check_device_status(vp);
	err = net_cfg_read(vp, vp->features, &c);
	if (err)
		return err;
	/* 5.1.4.2: without VIRTIO_NET_F_STATUS the link is assumed up. */
	link->up = !has(vp, VIRTIO_NET_F_STATUS) || (c.status & VIRTIO_NET_S_LINK_UP);
	if (atomic_load_explicit(&vp->broken, memory_order_relaxed))
		link->up = false;
	/* 5.1.4.2: above 0x7fffffff the speed is unknown. */
	link->speed_mbps =
	    has(vp, VIRTIO_NET_F_SPEED_DUPLEX) && c.speed <= 0x7fffffff ? c.speed : 0;
	return 0;
}

/* --- control queue (5.1.6.5) ----------------------------------------------------- */

/*
 * One command, synchronously: class and command, data, then the ack byte
 * the device writes, chained in three descriptors. Polls the used ring,
 * bounded; the device must have DRIVER_OK to process it (2.1.2).
 */
static int ctrl_cmd(struct vnet_port *vp, uint8_t class, uint8_t cmd, const void *data,
		    uint16_t len)
{
	struct vq *q = &vp->ctrl.vq;
	uint8_t *buf = vp->ctrl.buf.va;
	uint64_t iova = vp->ctrl.buf.iova;
	struct virtio_net_ctrl_hdr *h = (struct virtio_net_ctrl_hdr *)buf;
	volatile uint8_t *ack = buf + 64;
	uint16_t old = q->avail_idx;
	uint64_t deadline;

	h->class = class;
	h->command = cmd;
	memcpy(buf + 16, data, len);
	*ack = 0xff;
	q->desc[0] = (struct virtq_desc){iova, sizeof(*h), VIRTQ_DESC_F_NEXT, 1};
	q->desc[1] = (struct virtq_desc){iova + 16, len, VIRTQ_DESC_F_NEXT, 2};
	q->desc[2] = (struct virtq_desc){iova + 64, 1, VIRTQ_DESC_F_WRITE, 0};
	q->avail->ring[q->avail_idx & q->mask] = 0;
	q->avail_idx++;
	vq_publish(q, old);

	deadline = usnet_now_ns() + CTRL_TIMEOUT_NS;
	/* Acquire: pairs with the device's release of used->idx; the ack
	 * byte is written before it. */
	while (atomic_load_explicit(&q->used->idx, memory_order_acquire) == q->last_used) {
		if (usnet_now_ns() > deadline)
			return usnet_error(ETIMEDOUT,
					   "virtio-net %s: control command %u/%u not answered "
					   "within 1 s (VIRTIO 1.2, 5.1.6.5)",
					   vp->name, class, cmd);
		usnet_sleep_us(50);
	}
	q->last_used++;
	if (*ack != VIRTIO_NET_OK)
		return usnet_error(EIO, "virtio-net %s: control command %u/%u failed (ack %u)",
				   vp->name, class, cmd, *ack);
	return 0;
}

/* --- bring-up ------------------------------------------------------------------ */

struct caps {
	struct virtio_pci_cap common, notify, isr, device;
	uint32_t notify_mult;
	bool have_common, have_notify, have_isr, have_device;
	unsigned msix_size;
};

/*
 * 4.1.5.1.1: walk the PCI capability list (PCI 3.0, 6.7) for the virtio
 * structure capabilities (4.1.4) and MSI-X. The first capability of each
 * type wins (4.1.4.1); reserved types and BARs are ignored.
 */
static int find_caps(struct vnet_port *vp, struct caps *c)
{
	uint16_t status;
	uint8_t pos;
	int err;

	memset(c, 0, sizeof(*c));
	err = usnet_pci_cfg_read(vp->dev, PCI_CFG_STATUS, &status, sizeof(status));
	if (err)
		return err;
	if (!(status & PCI_STATUS_CAP_LIST))
		goto none;
	err = usnet_pci_cfg_read(vp->dev, PCI_CFG_CAP_PTR, &pos, 1);
	if (err)
		return err;
	/* At most 48 capabilities fit in the 192 bytes after the header:
	 * bounds a malformed, looping list. */
	for (int n = 0; n < 48 && pos >= 0x40; n++) {
		uint8_t hdr[2];

		pos &= 0xfc;
		err = usnet_pci_cfg_read(vp->dev, pos, hdr, sizeof(hdr));
		if (err)
			return err;
		if (hdr[0] == PCI_CAP_ID_MSIX) {
			uint16_t ctrl;

			err = usnet_pci_cfg_read(vp->dev, pos + PCI_MSIX_CTRL, &ctrl, sizeof(ctrl));
			if (err)
				return err;
			c->msix_size = (ctrl & PCI_MSIX_CTRL_TABLE_SIZE) + 1u;
		} else if (hdr[0] == PCI_CAP_ID_VNDR) {
			struct virtio_pci_cap cap;
			struct virtio_pci_cap *slot = NULL;
			bool *have = NULL;

			err = usnet_pci_cfg_read(vp->dev, pos, &cap, sizeof(cap));
			if (err)
				return err;
			if (cap.bar > 5 || cap.cap_len < sizeof(cap))
				goto next;
			switch (cap.cfg_type) {
			case VIRTIO_PCI_CAP_COMMON_CFG:
				slot = &c->common, have = &c->have_common;
				break;
			case VIRTIO_PCI_CAP_NOTIFY_CFG:
				slot = &c->notify, have = &c->have_notify;
				break;
			case VIRTIO_PCI_CAP_ISR_CFG:
				slot = &c->isr, have = &c->have_isr;
				break;
			case VIRTIO_PCI_CAP_DEVICE_CFG:
				slot = &c->device, have = &c->have_device;
				break;
			default:
				goto next; /* PCI_CFG access, shared memory, reserved */
			}
			if (*have)
				goto next;
			if (cap.cfg_type == VIRTIO_PCI_CAP_NOTIFY_CFG) {
				if (cap.cap_len < sizeof(struct virtio_pci_notify_cap))
					goto next;
				err =
				    usnet_pci_cfg_read(vp->dev,
						       pos + offsetof(struct virtio_pci_notify_cap,
								      notify_off_multiplier),
						       &c->notify_mult, sizeof(c->notify_mult));
				if (err)
					return err;
			}
			*slot = cap;
			*have = true;
		}
	next:
		pos = hdr[1];
	}
	if (c->have_common && c->have_notify && c->have_isr)
		return 0;
none:
	/* 4.1.5.1.1.1: no virtio capabilities means a legacy device. */
	return usnet_error(ENODEV,
			   "virtio-net %s: no VIRTIO 1.x PCI capabilities (common %s, "
			   "notify %s, ISR %s): a legacy-only device? QEMU needs "
			   "-device virtio-net-pci,disable-legacy=on",
			   vp->name, c->have_common ? "ok" : "missing",
			   c->have_notify ? "ok" : "missing", c->have_isr ? "ok" : "missing");
}

/* The structure a capability points at, mapped through its BAR. */
static int map_cap(struct vnet_port *vp, const struct virtio_pci_cap *cap, size_t need,
		   const char *what, volatile uint8_t **out, size_t *len)
{
	size_t bar_len = 0;
	volatile uint8_t *base = usnet_pci_bar(vp->dev, cap->bar, &bar_len);

	if (!base)
		return usnet_error(ENODEV,
				   "virtio-net %s: BAR%u holding the %s structure is not "
				   "a mappable memory BAR",
				   vp->name, cap->bar, what);
	if (cap->length < need || (uint64_t)cap->offset + cap->length > bar_len)
		return usnet_error(EIO,
				   "virtio-net %s: %s structure at BAR%u+0x%x, %u bytes, "
				   "does not fit the %zu-byte BAR or is shorter than %zu "
				   "(VIRTIO 1.2, 4.1.4)",
				   vp->name, what, cap->bar, cap->offset, cap->length, bar_len,
				   need);
	*out = base + cap->offset;
	if (len)
		*len = cap->length;
	return 0;
}

/*
 * 3.1.1 step 4: the features this driver accepts. VERSION_1 is required
 * (6.1: a driver MUST accept it; we implement no legacy interface).
 * ACCESS_PLATFORM is required when offered (6.1, SHOULD) and, under VFIO,
 * required full stop: without it the device would take our IOVAs for
 * physical addresses and bypass the IOMMU. No checksum or segmentation
 * offload (5.1.6.2: flags 0, GSO_NONE), no mergeable buffers.
 */
static int negotiate(struct vnet_port *vp, const struct usnet_port_conf *conf, bool want_event_idx,
		     uint16_t *max_pairs)
{
	uint64_t off = vp->offered, want = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	uint16_t pairs = conf->rx_queues > conf->tx_queues ? conf->rx_queues : conf->tx_queues;
	struct net_cfg c;
	int err;

	if (!(off & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		return usnet_error(ENOTSUP,
				   "virtio-net %s: device does not offer VIRTIO_F_VERSION_1 "
				   "(legacy only); usnet drives VIRTIO 1.x devices",
				   vp->name);
	if (off & VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM))
		want |= VIRTIO_BIT(VIRTIO_F_ACCESS_PLATFORM);
	else if (usnet_pci_backend(vp->dev) == USNET_PCI_VFIO)
		return usnet_error(ENOTSUP,
				   "virtio-net %s: device does not offer VIRTIO_F_ACCESS_PLATFORM, "
				   "so it would bypass the IOMMU and treat VFIO bus addresses as "
				   "physical addresses; give QEMU -device "
				   "virtio-net-pci,iommu_platform=on (or use uio_pci_generic)",
				   vp->name);
	/* 5.1.4.2: negotiate MAC when offered and use it. */
	want |= off & (VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
		       VIRTIO_BIT(VIRTIO_NET_F_SPEED_DUPLEX));
	if (want_event_idx)
		want |= off & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	/* 6.1: the driver should accept ORDER_PLATFORM; the barriers used
	 * here (x86: ordered stores, fences) are the hardware ones anyway. */
	want |= off & VIRTIO_BIT(VIRTIO_F_ORDER_PLATFORM);

	/* 2.5.2: the device config may be read before FEATURES_OK for
	 * offered features: MTU and max_virtqueue_pairs decide what we take. */
	err = net_cfg_read(vp, off, &c);
	if (err)
		return err;
	if (off & VIRTIO_BIT(VIRTIO_NET_F_MTU)) {
		/* 5.1.4.2: with MTU negotiated the driver MUST supply buffers
		 * for mtu + 14 bytes; take it only if ours are large enough. */
		uint32_t room = conf->buf_size - USNET_PKT_HEADROOM;

		if ((uint32_t)c.mtu + 14 <= room && c.mtu >= 68) {
			want |= VIRTIO_BIT(VIRTIO_NET_F_MTU);
			vp->port.info.mtu = c.mtu;
		}
	}
	*max_pairs = 1;
	if (pairs > 1) {
		uint64_t mq = VIRTIO_BIT(VIRTIO_NET_F_MQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ);

		if ((off & mq) != mq)
			return usnet_error(
			    ENOTSUP,
			    "virtio-net %s: %u queues asked, but the device offers no "
			    "multiqueue (VIRTIO_NET_F_MQ and _CTRL_VQ, VIRTIO 1.2 "
			    "5.1.6.5.6); QEMU needs -device virtio-net-pci,mq=on,"
			    "vectors=2N+2 and a netdev with queues=N",
			    vp->name, pairs);
		if (c.max_pairs < pairs)
			return usnet_error(ENOTSUP,
					   "virtio-net %s: %u queue pairs asked, the device has %u "
					   "(max_virtqueue_pairs; QEMU: the netdev's queues=)",
					   vp->name, pairs, c.max_pairs);
		want |= mq;
		*max_pairs = c.max_pairs;
	}
	vp->features = want;
	features_write(vp, want);
	return 0;
}

static int setup_irqs(struct vnet_port *vp, uint16_t nrx)
{
	int n;

	for (unsigned i = 0; i < USNET_MAX_QUEUES; i++)
		vp->efd[i] = -1;
	/* 4.1.5.1.2.2: the MSI-X table size is a hint of what to use. */
	if (vp->msix_size && nrx > vp->msix_size)
		nrx = (uint16_t)vp->msix_size;
	n = usnet_pci_irq_enable(vp->dev, nrx, vp->efd);
	if (n <= 0) {
		USNET_WARN("virtio-net %s: no interrupts (%s): the port can only be polled",
			   vp->name, usnet_last_error());
		vp->nvec = 0;
		vp->irq_mode = USNET_PCI_IRQ_NONE;
		return 0;
	}
	vp->nvec = n;
	vp->irq_mode = usnet_pci_irq_mode(vp->dev);
	if (vp->irq_mode != USNET_PCI_IRQ_MSIX && vp->irq_mode != USNET_PCI_IRQ_INTX) {
		/* virtio over PCI knows MSI-X or INTx + ISR (4.1.5.3). */
		USNET_WARN("virtio-net %s: interrupt mode %d is neither MSI-X nor INTx: polling "
			   "only",
			   vp->name, vp->irq_mode);
		usnet_pci_irq_disable(vp->dev);
		vp->nvec = 0;
		vp->irq_mode = USNET_PCI_IRQ_NONE;
	}
	return 0;
}

static int setup_queues(struct vnet_port *vp, const struct usnet_port_conf *conf)
{
	bool msix = vp->irq_mode == USNET_PCI_IRQ_MSIX;
	uint16_t pairs = vp->pairs;
	int err;

	/*
	 * 4.1.5.1.2: with MSI-X, RX queue q interrupts on vector q (modulo
	 * what we got); configuration changes (link, DEVICE_NEEDS_RESET) share
	 * RX queue 0's vector, so a sleeping receiver wakes up for them too
	 * (4.1.5.4 allows one vector for both). Transmit and control queues
	 * are polled: NO_VECTOR.
	 */
	usnet_reg_write16(vp->common, VIRTIO_PCI_CFG(config_msix_vector),
			  msix ? 0 : VIRTIO_MSI_NO_VECTOR);
	if (msix && usnet_reg_read16(vp->common, VIRTIO_PCI_CFG(config_msix_vector)) != 0)
		USNET_WARN("virtio-net %s: configuration change vector refused", vp->name);

	for (uint16_t q = 0; q < pairs; q++) {
		struct vnet_rxq *rq = &vp->rxq[q];
		struct vnet_txq *tq = &vp->txq[q];
		uint16_t vec = VIRTIO_MSI_NO_VECTOR;

		rq->vector = -1;
		if (vp->nvec > 0) {
			rq->vector = msix ? q % vp->nvec : 0;
			if (msix)
				vec = (uint16_t)rq->vector;
		}
		rq->pool = vp->port.pool[q];
		err = vq_setup(vp, &rq->vq, VIRTIO_NET_RXQ(q), conf->rx_ring_size, vec, "RX");
		if (err)
			return err;
		err = vq_setup(vp, &tq->vq, VIRTIO_NET_TXQ(q), conf->tx_ring_size,
			       VIRTIO_MSI_NO_VECTOR, "TX");
		if (err)
			return err;
		/* Polling: no used-buffer notifications until arm(). */
		vq_irq_off(&rq->vq);
		vq_irq_off(&tq->vq);
	}
	if (vp->have_ctrl) {
		/* 5.1.2: controlq follows the max_virtqueue_pairs pairs. */
		err = vq_setup(vp, &vp->ctrl.vq, (uint16_t)(2 * vp->max_pairs), 8,
			       VIRTIO_MSI_NO_VECTOR, "control");
		if (err)
			return err;
		vq_irq_off(&vp->ctrl.vq);
		err = usnet_pci_dma_alloc(vp->dev, 4096, &vp->ctrl.buf);
		if (err)
			return err;
	}
	return 0;
}

static int setup_tx_pools(struct vnet_port *vp)
{
	for (uint16_t q = 0; q < vp->port.info.tx_queues; q++) {
		struct vnet_txq *tq = &vp->txq[q];
		char name[32];
		struct usnet_pool_conf pc = {
		    .count = tq->vq.size + TX_COPY_EXTRA,
		    .data_size = USNET_PKT_DATA_SIZE,
		    .name = name,
		    .flags = usnet_pci_pool_flags(vp->dev),
		};
		int err;

		snprintf(name, sizeof(name), "virtio-txcopy%u", q);
		err = usnet_pool_create(&tq->copy_pool, &pc);
		if (err)
			return err;
		err = usnet_pci_dma_map_pool(vp->dev, tq->copy_pool);
		if (err) {
			usnet_pool_destroy(tq->copy_pool);
			tq->copy_pool = NULL;
			return err;
		}
		/*
		 * Zero copy for the pools this queue's thread owns: RX queue q's
		 * (what usnet_port_pool(q) hands out for sending on queue q) and
		 * the copy pool. Sent packets are freed at reclaim, on this
		 * thread, and a pool must only be touched by its owner, so
		 * packets of the other queues' pools are copied (and freed by
		 * the caller's thread at once).
		 */
		tq->known[tq->nknown++] = vp->port.pool[q];
		tq->known[tq->nknown++] = tq->copy_pool;
		tq->last_pool = vp->port.pool[q];
	}
	return 0;
}

/* Fill every receive queue (5.1.5 step 3, 5.1.6.3). */
static int fill_rx(struct vnet_port *vp)
{
	uint64_t bad = usnet_pci_fault_iova(vp->dev);

	for (uint16_t q = 0; q < vp->pairs; q++) {
		struct vnet_rxq *rq = &vp->rxq[q];
		struct usnet_pkt *p;
		uint32_t room;

		p = usnet_pkt_alloc(rq->pool);
		if (!p)
			return usnet_error(ENOMEM, "virtio-net %s: RX pool %u is empty", vp->name,
					   q);
		/* 5.1.6.3.1: without MRG_RXBUF every buffer should hold 1526
		 * bytes (1514-byte frame + 12-byte header). */
		room = (uint32_t)(p->room - p->data_off) + HDR_LEN;
		if (p->data_off < HDR_LEN || room < VIRTIO_NET_MAX_FRAME + HDR_LEN) {
			usnet_pkt_free(p);
			return usnet_error(
			    EINVAL,
			    "virtio-net %s: RX buffers hold %u bytes after %u bytes of "
			    "headroom; the device needs %u (VIRTIO 1.2, 5.1.6.3.1): "
			    "raise buf_size",
			    vp->name, room, p->data_off, VIRTIO_NET_MAX_FRAME + HDR_LEN);
		}
		if (q == 0 && bad) {
			/* Fault injection: the first buffer goes to an IOVA no
			 * mapping covers. Its real memory is filled with a
			 * pattern so we can tell later that nothing wrote it. */
			uint16_t id = id_get(&rq->vq);

			rx_post(&rq->vq, id, p, bad);
			memset(p->data, FAULT_PATTERN, p->room);
			rq->fault_pkt = p;
			USNET_WARN("virtio-net %s: fault injection: RX descriptor %u posted at "
				   "IOVA 0x%llx, outside every mapping",
				   vp->name, id, (unsigned long long)bad);
		} else {
			usnet_pkt_free(p);
		}
		/* Publishing before DRIVER_OK is fine: the device does not
		 * look at the rings before it (2.1.2), and vq_publish()
		 * notifies only if the device asks, which it does not yet. */
		rx_refill(rq);
		if (rq->vq.nfree)
			USNET_WARN("virtio-net %s: RX queue %u: only %u of %u buffers posted (pool "
				   "of %u packets)",
				   vp->name, q, rq->vq.size - rq->vq.nfree, rq->vq.size,
				   vp->port.conf.pool_size);
	}
	return 0;
}

/*
 * Let the device finish the frames already handed to it: a reset drops
 * whatever is still in the transmit rings (3.3), and a sender that stops
 * after exactly N frames expects N on the wire. Bounded; a broken device
 * is not waited for.
 */
static void tx_drain(struct vnet_port *vp)
{
	uint64_t start = usnet_now_ns(), last_kick = start;

	if (!vp->device_live || atomic_load_explicit(&vp->broken, memory_order_relaxed) ||
	    (status_read(vp) & (VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET)) !=
		VIRTIO_STATUS_DRIVER_OK)
		return;
	for (;;) {
		unsigned pending = 0;
		uint64_t now;

		for (uint16_t q = 0; q < vp->port.info.tx_queues; q++) {
			struct vq *tx = &vp->txq[q].vq;

			tx_reclaim(tx);
			pending += (unsigned)(tx->size - tx->nfree);
		}
		if (!pending)
			return;
		now = usnet_now_ns();
		if (now - start > TX_DRAIN_TIMEOUT_NS) {
			USNET_WARN("virtio-net %s: %u frames still unsent at close", vp->name,
				   pending);
			return;
		}
		if (now - last_kick > 10 * 1000000ull) {
			/* No progress for a while: a spurious notification is
			 * harmless (2.7.10.2: the device MUST handle them). */
			for (uint16_t q = 0; q < vp->port.info.tx_queues; q++)
				usnet_reg_write16(vp->txq[q].vq.notify, 0, vp->txq[q].vq.index);
			last_kick = now;
		}
		usnet_sleep_us(100);
	}
}

/* Stop the device, then give back what the queues hold. */
static void vnet_teardown(struct vnet_port *vp)
{
	if (vp->common)
		tx_drain(vp);
	for (uint16_t q = 0; q < vp->port.info.tx_queues && vp->txq[q].vq.posted; q++)
		USNET_INFO("virtio-net %s: TX queue %u: %llu frames, %llu notifications", vp->name, q,
			   (unsigned long long)vp->txq[q].vq.posted,
			   (unsigned long long)vp->txq[q].vq.kicks);
	if (vp->common && (vp->device_live || status_read(vp) != 0)) {
		/* 3.3.1: reset before removing exposed buffers. */
		if (device_reset(vp))
			USNET_ERR("%s; freeing its memory anyway", usnet_last_error());
	}
	usnet_pci_irq_disable(vp->dev);
	for (unsigned q = 0; q < USNET_MAX_QUEUES; q++) {
		struct vq *rx = &vp->rxq[q].vq, *tx = &vp->txq[q].vq;

		for (uint16_t i = 0; rx->bufs && i < rx->size; i++)
			if (rx->bufs[i])
				usnet_pkt_free(rx->bufs[i]);
		for (uint16_t i = 0; tx->bufs && i < tx->size; i++)
			if (tx->bufs[i])
				usnet_pkt_free(tx->bufs[i]);
		vq_free(vp, rx);
		vq_free(vp, tx);
	}
	vq_free(vp, &vp->ctrl.vq);
	if (vp->ctrl.buf.va)
		usnet_pci_dma_free(vp->dev, &vp->ctrl.buf);
	/* A pool must not be freed while the device can still reach it. */
	for (unsigned q = 0; q < USNET_MAX_QUEUES; q++) {
		if (vp->txq[q].copy_pool)
			usnet_pci_dma_unmap_pool(vp->dev, vp->txq[q].copy_pool);
		if (vp->port.pool[q])
			usnet_pci_dma_unmap_pool(vp->dev, vp->port.pool[q]);
	}
	usnet_pci_close(vp->dev);
	for (unsigned q = 0; q < USNET_MAX_QUEUES; q++)
		usnet_pool_destroy(vp->txq[q].copy_pool);
	usnet_port_teardown(&vp->port);
	free(vp);
}

static void vnet_close(struct usnet_port *port)
{
	vnet_teardown(vnet_of(port));
}

static const struct usnet_port_ops vnet_ops = {
    .kind = "pci",
    .usage = "pci:DDDD:BB:DD.F[,event_idx=0|1]  virtio-net (1af4:1041) through VFIO/UIO",
    .close = vnet_close,
    .rx_burst = vnet_rx_burst,
    .tx_burst = vnet_tx_burst,
    .queue_fd = vnet_queue_fd,
    .arm = vnet_arm,
    .link = vnet_link,
};

static int vnet_open(struct usnet_port **out, struct usnet_pci_dev *dev,
		     const struct usnet_pci_id *id, struct usnet_spec *spec,
		     const struct usnet_port_conf *conf)
{
	struct vnet_port *vp;
	struct caps caps;
	struct net_cfg c;
	uint32_t event_idx;
	int err;

	vp = aligned_alloc(64, (sizeof(*vp) + 63) & ~(size_t)63);
	if (!vp) {
		usnet_pci_close(dev);
		return usnet_error(ENOMEM, "virtio-net: no memory for a port");
	}
	memset(vp, 0, sizeof(*vp));
	vp->dev = dev;
	vp->name = spec->name;

	(void)id; /* one device */
	err = usnet_spec_opt_u32(spec, "event_idx", 0, 1, 1, &event_idx);
	if (err)
		goto err_free;
	vp->dma_contig = usnet_pci_dma_contig_max(dev);
	vp->port.pool_flags = usnet_pci_pool_flags(dev);
	err = usnet_port_setup(&vp->port, &vnet_ops, spec, conf, USNET_MAX_QUEUES, DFLT_POOL);
	if (err)
		goto err_free;
	vp->name = vp->port.info.name;
	conf = &vp->port.conf;
	if (conf->rx_queues != conf->tx_queues && (conf->rx_queues > 1 || conf->tx_queues > 1)) {
		err = usnet_error(EINVAL,
				  "virtio-net %s: %u RX and %u TX queues: multiqueue virtio-net "
				  "has queue pairs (VIRTIO 1.2, 5.1.2); ask for as many of each",
				  vp->name, conf->rx_queues, conf->tx_queues);
		goto err_teardown;
	}

	/* 4.1.5.1.1: find and map the virtio structures. */
	err = find_caps(vp, &caps);
	if (err)
		goto err_teardown;
	err = map_cap(vp, &caps.common, VIRTIO_PCI_COMMON_CFG_MIN_LEN, "common configuration",
		      &vp->common, NULL);
	if (!err)
		err = map_cap(vp, &caps.isr, 1, "ISR status", &vp->isr, NULL);
	if (!err)
		err =
		    map_cap(vp, &caps.notify, 2, "notification", &vp->notify_base, &vp->notify_len);
	if (!err && caps.have_device)
		err = map_cap(vp, &caps.device, VIRTIO_NET_CFG(status) + 2, "device configuration",
			      &vp->devcfg, &vp->devcfg_len);
	if (err)
		goto err_teardown;
	if (!caps.have_device) {
		err = usnet_error(ENODEV,
				  "virtio-net %s: no device configuration capability "
				  "(VIRTIO 1.2, 4.1.4.6): cannot read MAC or link",
				  vp->name);
		goto err_teardown;
	}
	vp->notify_mult = caps.notify_mult;
	vp->msix_size = caps.msix_size;

	/* 3.1.1 steps 1-3: reset, ACKNOWLEDGE, DRIVER. */
	err = device_reset(vp);
	if (err)
		goto err_teardown;
	status_set(vp, VIRTIO_STATUS_ACKNOWLEDGE);
	status_set(vp, VIRTIO_STATUS_DRIVER);

	/* Steps 4-6: features, FEATURES_OK, and check the device kept it. */
	vp->offered = features_read(vp);
	err = negotiate(vp, conf, event_idx != 0, &vp->max_pairs);
	if (err)
		goto err_failed;
	status_set(vp, VIRTIO_STATUS_FEATURES_OK);
	if (!(status_read(vp) & VIRTIO_STATUS_FEATURES_OK)) {
		err = usnet_error(ENOTSUP,
				  "virtio-net %s: device refused features 0x%llx of "
				  "0x%llx (FEATURES_OK did not stick, VIRTIO 1.2, 3.1.1)",
				  vp->name, (unsigned long long)vp->features,
				  (unsigned long long)vp->offered);
		goto err_failed;
	}

	/* Step 7: device-specific setup: interrupts, virtqueues, buffers. */
	vp->pairs = conf->rx_queues;
	vp->have_ctrl = has(vp, VIRTIO_NET_F_CTRL_VQ);
	if (usnet_reg_read16(vp->common, VIRTIO_PCI_CFG(num_queues)) <
	    2u * vp->max_pairs + (vp->have_ctrl ? 1 : 0)) {
		err = usnet_error(
		    EIO, "virtio-net %s: num_queues %u is too small for %u pairs", vp->name,
		    usnet_reg_read16(vp->common, VIRTIO_PCI_CFG(num_queues)), vp->max_pairs);
		goto err_failed;
	}
	for (uint16_t q = 0; q < USNET_MAX_QUEUES; q++)
		vp->rxq[q].vector = -1;
	err = setup_irqs(vp, vp->pairs);
	if (!err)
		err = setup_queues(vp, conf);
	if (!err)
		err = setup_tx_pools(vp);
	if (err)
		goto err_failed;
	for (uint16_t q = 0; q < vp->pairs; q++) {
		err = usnet_pci_dma_map_pool(dev, vp->port.pool[q]);
		if (err)
			goto err_failed;
	}
	err = fill_rx(vp);
	if (err)
		goto err_failed;
	for (uint16_t q = 0; q < vp->pairs; q++) {
		vq_enable(vp, &vp->rxq[q].vq);
		vq_enable(vp, &vp->txq[q].vq);
	}
	if (vp->have_ctrl)
		vq_enable(vp, &vp->ctrl.vq);
	vp->device_live = true;
	err = usnet_pci_set_bus_master(dev, true);
	if (err)
		goto err_failed;

	/* Step 8: DRIVER_OK; the device is live. */
	status_set(vp, VIRTIO_STATUS_DRIVER_OK);
	if (status_read(vp) & VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
		err = usnet_error(EIO, "virtio-net %s: device set DEVICE_NEEDS_RESET during setup",
				  vp->name);
		goto err_failed;
	}
	/* Tell the device about the receive buffers now that it may look
	 * (3.1.1: no notifications before DRIVER_OK). */
	for (uint16_t q = 0; q < vp->pairs; q++)
		usnet_reg_write16(vp->rxq[q].vq.notify, 0, vp->rxq[q].vq.index);

	if (vp->pairs > 1) {
		/* 5.1.5 step 4, 5.1.6.5.6: only pair 1 is used until this. */
		struct virtio_net_ctrl_mq_pairs_set mq = {.virtqueue_pairs = vp->pairs};

		err = ctrl_cmd(vp, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, &mq,
			       sizeof(mq));
		if (err)
			goto err_failed;
	}

	/* 5.1.5 steps 5-6: MAC from the device, else a generated one. */
	err = net_cfg_read(vp, vp->features, &c);
	if (err)
		goto err_failed;
	if (has(vp, VIRTIO_NET_F_MAC))
		memcpy(vp->port.info.mac, c.mac, 6);
	else
		usnet_mac_from_name(vp->port.info.mac, "pci", vp->name);
	USNET_INFO("virtio-net %s: up, features 0x%llx (offered 0x%llx), %u queue pair(s) of "
		   "%u RX / %u TX entries, %s interrupts, link %s",
		   vp->name, (unsigned long long)vp->features, (unsigned long long)vp->offered,
		   vp->pairs, vp->rxq[0].vq.size, vp->txq[0].vq.size,
		   vp->irq_mode == USNET_PCI_IRQ_MSIX	? "MSI-X"
		   : vp->irq_mode == USNET_PCI_IRQ_INTX ? "INTx"
							: "no",
		   !has(vp, VIRTIO_NET_F_STATUS) || (c.status & VIRTIO_NET_S_LINK_UP) ? "up"
										      : "down");
	*out = &vp->port;
	return 0;

err_failed:
	/* 3.1.1: give up on the device; the teardown resets it. */
	if (vp->common)
		status_set(vp, VIRTIO_STATUS_FAILED);
err_teardown:
	vnet_teardown(vp);
	return err;
err_free:
	usnet_pci_close(dev);
	free(vp);
	return err;
}

static const struct usnet_pci_id vnet_ids[] = {
    {VIRTIO_PCI_VENDOR_ID, VIRTIO_PCI_DEVICE_ID_NET, "virtio-net", NULL},
    {0},
};

const struct usnet_pci_driver usnet_virtio_net_driver = {
    .name = "virtio-net",
    .ids = vnet_ids,
    .open = vnet_open,
};
