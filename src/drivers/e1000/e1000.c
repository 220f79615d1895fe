/* SPDX-License-Identifier: MIT */
/*
 * Poll-mode driver for the Intel 82540EM (e1000, 8086:100e) and 82574L
 * (e1000e, 8086:10d3): one RX and one TX queue of legacy descriptors.
 *
 * Bring-up follows SDM chapter 14 (section numbers refer to the documents
 * listed in e1000_regs.h): mask interrupts and stop DMA, reset (CTRL.RST),
 * read the MAC address, set the link up (14.3), set up the receive ring
 * (14.4) and the transmit ring (14.5), then wire the RX interrupt to an
 * eventfd. docs/drivers.md walks through it step by step.
 *
 * Memory: RX descriptors point straight at buffers of the port's pool
 * (mapped for the device with usnet_pci_dma_map_pool), which rx_burst hands
 * to the caller; TX descriptors point at the caller's packets when their
 * pool is one this device mapped, and at a copy in a bounce pool of ours
 * otherwise. Ring indices are free-running 32-bit counters; the slot is the
 * counter masked by the ring size (a power of two).
 *
 * What QEMU's models do differently from the silicon (hw/net/e1000.c,
 * e1000e_core.c in QEMU 7.2), and how this driver copes:
 *  - CTRL.RST only clears itself (e1000e also reloads RAL0/RAH0): rings,
 *    RCTL/TCTL, IMS and the counters survive, so every register this driver
 *    relies on is written explicitly after the reset.
 *  - MPC, RNBC, CRCERRS, RXERRC and RLEC do not clear on read; counter_delta()
 *    detects which behaviour the device has.
 *  - The e1000 model refuses frames for one second after every RCTL write
 *    and queues them. When its RX ring is full it queues too, and the next
 *    RDT write delivers the whole queue, dropping what does not fit (MPC):
 *    a receiver that stalls longer than its ring lasts loses frames in bulk
 *    (rxd= gives it a longer ring). The e1000e model keeps them queued.
 *  - A DMA write the IOMMU blocks is ignored by the model: the descriptor is
 *    still written back with DD set (see the fault injection below).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <usnet/time.h>

#include "../../core/sleep.h"
#include "../driver.h"
#include "e1000_regs.h"

#define E1000_RING_DEFAULT 512
#define E1000_RING_MIN 8 /* RDLEN/TDLEN are multiples of 128 bytes: 8 descriptors */
#define E1000_RING_MAX 4096
#define E1000_REFILL_MIN 32	    /* refill the RX ring once this many slots are free */
#define E1000_TX_RS_EVERY 32	    /* TX descriptors per write-back request, at most */
#define E1000_HARVEST_EVERY 1024    /* rx_burst calls between statistics reads */
#define E1000_RESET_TIMEOUT_NS (100 * 1000 * 1000ull)
#define E1000_EERD_TIMEOUT_NS (50 * 1000 * 1000ull)
#define E1000_ETH_ZLEN 60 /* shortest frame without FCS */

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/*
 * Orders our stores to descriptors before the MMIO store to a tail register.
 * Pairs with the device's read of the descriptors, which it does only after
 * it sees the new tail. x86 keeps stores in program order and an uncached
 * MMIO store is not performed before earlier write-back stores, so only the
 * compiler has to be stopped from moving the descriptor stores (the BAR is
 * mapped uncached by VFIO/UIO, not write-combining). Elsewhere: a full fence.
 */
static inline void e1000_wmb(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__asm__ __volatile__("" ::: "memory");
#else
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

/*
 * Reads a descriptor's status byte before any other field of it: an
 * acquire load. Pairs with the device's write-back, which stores the
 * descriptor's length/errors no later than the DD bit (QEMU writes the body
 * first, then the status byte; the silicon writes the descriptor in one
 * burst), so once DD is seen the rest is valid.
 */
static inline uint8_t desc_status(const uint8_t *status)
{
	return __atomic_load_n(status, __ATOMIC_ACQUIRE);
}

struct e1000_model {
	const char *chip;
	bool pcie;		  /* 82574: GIO master disable, MSI-X/IVAR, TARC, RFCTL */
	uint32_t eerd_done;	  /* SDM 13.4.4 / 82574 EERD: DONE bit */
	unsigned eerd_addr_shift; /* ... and where ADDR starts */
	uint32_t tipg;		  /* SDM 13.4.34 */
};

static const struct e1000_model model_82540em = {
	.chip = "82540EM",
	.pcie = false,
	.eerd_done = E1000_EERD_DONE_8254X,
	.eerd_addr_shift = E1000_EERD_ADDR_SHIFT_8254X,
	.tipg = E1000_TIPG_VAL(10, 8, 6),
};

static const struct e1000_model model_82574l = {
	.chip = "82574L",
	.pcie = true,
	.eerd_done = E1000_EERD_DONE_82574,
	.eerd_addr_shift = E1000_EERD_ADDR_SHIFT_82574,
	.tipg = E1000_TIPG_VAL(8, 8, 6),
};

/*
 * A statistics register. The SDM (13.7) says they clear on read; QEMU's
 * models keep some of them cumulative. mode is learnt from the device:
 * a counter read twice in a row that keeps its non-zero value does not
 * clear (the two reads are nanoseconds apart, so a real event between them
 * is unlikely; if one happens the error is one count, and a later value
 * below the last one switches the counter back to clear-on-read).
 */
enum counter_mode { CTR_UNKNOWN, CTR_CLEARS, CTR_STICKY };

struct e1000_counter {
	uint32_t reg;
	enum counter_mode mode;
	uint32_t last; /* CTR_STICKY: value at the last read */
};

enum { C_MPC, C_CRCERRS, C_RXERRC, C_RLEC, C_RNBC, C_GPRC, C_GPTC, C_NUM };

static const uint32_t counter_regs[C_NUM] = {
	[C_MPC] = E1000_MPC,   [C_CRCERRS] = E1000_CRCERRS, [C_RXERRC] = E1000_RXERRC,
	[C_RLEC] = E1000_RLEC, [C_RNBC] = E1000_RNBC,	    [C_GPRC] = E1000_GPRC,
	[C_GPTC] = E1000_GPTC,
};

struct e1000_port {
	struct usnet_port port; /* first: usnet_container_of */
	struct usnet_pci_dev *dev;
	const struct e1000_model *model;
	volatile void *bar0;
	char name[16]; /* PCI address, for messages */

	/* RX: slots [rx_next, rx_tail) are posted to the device. */
	struct e1000_rx_desc *rxd;
	struct usnet_pkt **rx_bufs;
	uint32_t rx_n, rx_mask;
	uint32_t rx_next; /* next descriptor to look at */
	uint32_t rx_tail; /* next descriptor to post */
	bool rx_skip;	  /* dropping the rest of a frame that spans descriptors */
	uint32_t harvest_countdown;

	/* TX: slots [tx_clean, tx_tail) belong to the device. tx_rs[] holds
	 * the free-running indices of the descriptors with RS set, oldest at
	 * tx_rs_head. */
	struct e1000_tx_desc *txd;
	struct usnet_pkt **tx_bufs;
	uint32_t *tx_rs;
	uint32_t tx_n, tx_mask;
	uint32_t tx_clean;
	uint32_t tx_tail;
	uint32_t tx_last_rs; /* index after the last descriptor with RS */
	uint32_t tx_rs_head, tx_rs_tail;
	struct usnet_pool *tx_pool; /* bounce buffers for packets of foreign pools */

	struct usnet_dma ring;	/* both descriptor rings */
	bool pool_mapped, tx_pool_mapped;
	bool mastering; /* bus mastering on: reset the device before teardown */
	bool up;	/* open succeeded: counters are worth a log line */

	/* Interrupts */
	int irq_fd;		/* -1: none */
	enum usnet_pci_irq_mode irq_mode;
	uint32_t rx_irq;	/* ICR/IMS bit of the RX queue */
	bool armed;

	/* Test-only fault injection (usnet_pci_fault_iova) */
	uint64_t fault_iova;
	bool fault_posted;  /* the bad address went into one descriptor */
	bool fault_pending; /* ... and the device has not finished with it */
	uint32_t fault_idx; /* its free-running RX index */

	struct e1000_counter ctr[C_NUM];
	uint64_t hw_total[C_NUM];
};

static inline uint32_t rd32(const struct e1000_port *ep, uint32_t reg)
{
	return usnet_reg_read32(ep->bar0, reg);
}

static inline void wr32(const struct e1000_port *ep, uint32_t reg, uint32_t val)
{
	usnet_reg_write32(ep->bar0, reg, val);
}

/* Polls reg until (value & mask) == want; 0 or -ETIMEDOUT. */
static int wait_reg(const struct e1000_port *ep, uint32_t reg, uint32_t mask, uint32_t want,
		    uint64_t timeout_ns)
{
	uint64_t deadline = usnet_now_ns() + timeout_ns;

	for (;;) {
		if ((rd32(ep, reg) & mask) == want)
			return 0;
		if (usnet_now_ns() > deadline)
			return -ETIMEDOUT;
		usnet_sleep_us(100);
	}
}

/* ---- statistics ---------------------------------------------------------- */

static void counter_init(struct e1000_port *ep, struct e1000_counter *c, uint32_t reg)
{
	uint32_t v1 = rd32(ep, reg), v2 = rd32(ep, reg);

	c->reg = reg;
	c->last = v2;
	if (v1 == 0)
		c->mode = CTR_UNKNOWN;
	else
		c->mode = v2 == v1 ? CTR_STICKY : CTR_CLEARS;
}

/* Events since the previous call. */
static uint32_t counter_delta(struct e1000_port *ep, struct e1000_counter *c)
{
	uint32_t v = rd32(ep, c->reg), v2, d;

	switch (c->mode) {
	case CTR_CLEARS:
		return v;
	case CTR_STICKY:
		if (v >= c->last) {
			d = v - c->last;
			c->last = v;
			return d;
		}
		c->mode = CTR_CLEARS;
		c->last = 0;
		return v;
	case CTR_UNKNOWN:
	default:
		if (v == 0)
			return 0;
		v2 = rd32(ep, c->reg);
		if (v2 >= v) {
			c->mode = CTR_STICKY;
			c->last = v2;
			return v2;
		}
		c->mode = CTR_CLEARS;
		return v + v2;
	}
}

/*
 * Fold the hardware counters into the port's RX statistics: MPC (frames the
 * device had to drop, SDM 13.7.5) into rx_dropped; CRC, RX and length
 * errors (13.7.1, 13.7.4, 13.7.15) into rx_errors. RNBC (13.7.33) is kept
 * for the close log only: a frame counted there may still be received once
 * buffers are posted, and QEMU counts every overrun in both RNBC and MPC.
 * Runs on the RX queue's thread (rx_burst, arm) and at close.
 */
static void e1000_harvest(struct e1000_port *ep)
{
	struct usnet_queue_stats *st = &ep->port.stats[0];
	uint32_t d[C_NUM];

	for (int i = 0; i < C_NUM; i++) {
		d[i] = counter_delta(ep, &ep->ctr[i]);
		ep->hw_total[i] += d[i];
	}
	st->rx_dropped += d[C_MPC];
	st->rx_errors += (uint64_t)d[C_CRCERRS] + d[C_RXERRC] + d[C_RLEC];
	ep->harvest_countdown = E1000_HARVEST_EVERY;
}

/* ---- fault injection ------------------------------------------------------ */

static void fault_report(struct e1000_port *ep, const char *what, unsigned len)
{
	const char *fate = usnet_pci_backend(ep->dev) == USNET_PCI_VFIO
				   ? "the IOMMU blocked its data write (the kernel logs a DMAR fault)"
				   : "without an IOMMU (UIO) nothing stopped that write";

	ep->fault_pending = false;
	ep->port.stats[0].rx_errors++;
	/* A test-only event, once per open: not the normal fast path. */
	USNET_WARN("e1000 %s: fault injection: RX descriptor %u was posted with bus address "
		   "0x%llx, outside every DMA mapping; the device %s (%u bytes): %s; frame "
		   "dropped, counted in rx_errors",
		   ep->name, ep->fault_idx & ep->rx_mask, (unsigned long long)ep->fault_iova, what,
		   len, fate);
}

/*
 * The device passed over the bad descriptor without writing DD (what a real
 * NIC may do after a failed DMA), and the one after it is done: give up on
 * it rather than wait forever.
 */
static bool fault_skipped(struct e1000_port *ep, uint32_t next)
{
	uint32_t after = next + 1;

	if (next != ep->fault_idx || after == ep->rx_tail)
		return false;
	if (!(desc_status(&ep->rxd[after & ep->rx_mask].status) & E1000_RXD_STAT_DD))
		return false;
	fault_report(ep, "skipped it without writing it back", 0);
	usnet_pkt_free(ep->rx_bufs[next & ep->rx_mask]);
	ep->rx_bufs[next & ep->rx_mask] = NULL;
	return true;
}

/* ---- receive ------------------------------------------------------------- */

/* Post fresh buffers into every free slot (SDM 3.2.6: software owns the
 * slots from RDT up to RDH; RDT is written one beyond the last one given). */
static void e1000_rx_refill(struct e1000_port *ep)
{
	uint32_t tail = ep->rx_tail;
	uint32_t space = ep->rx_n - 1 - (tail - ep->rx_next);
	struct usnet_pkt *fresh[64];

	/* Batch the doorbell: an MMIO write costs a VM exit under emulation. */
	if (space < E1000_REFILL_MIN && tail != ep->rx_next)
		return;
	while (space) {
		uint32_t want = space < 64 ? space : 64;
		uint32_t got = usnet_pool_alloc_bulk(ep->port.pool[0], fresh, want);

		for (uint32_t i = 0; i < got; i++) {
			uint32_t idx = tail & ep->rx_mask;
			struct e1000_rx_desc d = {.addr = usnet_pkt_iova(fresh[i])};

			if (unlikely(ep->fault_iova && !ep->fault_posted)) {
				d.addr = ep->fault_iova;
				ep->fault_posted = true;
				ep->fault_pending = true;
				ep->fault_idx = tail;
			}
			ep->rx_bufs[idx] = fresh[i];
			ep->rxd[idx] = d; /* status 0: DD clear */
			tail++;
		}
		space -= got;
		if (got < want)
			break; /* pool empty: try again next burst */
	}
	if (tail == ep->rx_tail)
		return;
	ep->rx_tail = tail;
	e1000_wmb(); /* descriptors before RDT, see e1000_wmb() */
	wr32(ep, E1000_RDT, tail & ep->rx_mask);
}

static void e1000_disarm(struct e1000_port *ep)
{
	/* SDM 13.4.21: mask the RX cause again; the line/message stops. */
	wr32(ep, E1000_IMC, ep->rx_irq);
	ep->armed = false;
}

static uint16_t e1000_rx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			       uint16_t n)
{
	struct e1000_port *ep = usnet_container_of(port, struct e1000_port, port);
	uint32_t next = ep->rx_next;
	uint16_t got = 0;

	(void)queue;
	if (unlikely(ep->armed))
		e1000_disarm(ep);
	if (unlikely(--ep->harvest_countdown == 0))
		e1000_harvest(ep);

	while (got < n && next != ep->rx_tail) {
		uint32_t idx = next & ep->rx_mask;
		struct e1000_rx_desc *d = &ep->rxd[idx];
		uint8_t status = desc_status(&d->status);
		struct usnet_pkt *p;
		uint16_t len;
		uint8_t errors;

		if (!(status & E1000_RXD_STAT_DD)) {
			if (unlikely(ep->fault_pending) && fault_skipped(ep, next)) {
				next++;
				continue;
			}
			break;
		}
		p = ep->rx_bufs[idx];
		ep->rx_bufs[idx] = NULL;
		len = d->length;
		errors = d->errors;
		next++;

		if (unlikely(ep->fault_pending && next - 1 == ep->fault_idx)) {
			fault_report(ep, "wrote the descriptor back with DD set", len);
			usnet_pkt_free(p);
			continue;
		}
		/* SDM 3.2.3.1: a frame larger than one buffer spans descriptors
		 * up to the one with EOP. With LPE clear and 2048-byte buffers
		 * that does not happen; if it does, drop the whole frame. */
		if (unlikely(ep->rx_skip || !(status & E1000_RXD_STAT_EOP) ||
			     (errors & E1000_RXD_ERR_FRAME) || len == 0 ||
			     len > usnet_pkt_tailroom(p))) {
			if (!ep->rx_skip)
				port->stats[0].rx_errors++;
			ep->rx_skip = !(status & E1000_RXD_STAT_EOP);
			usnet_pkt_free(p);
			continue;
		}
		p->len = len;
		/* SDM 3.2.3.2: IPE/TCPE are meaningful unless IXSM is set. */
		if (unlikely((errors & (E1000_RXD_ERR_IPE | E1000_RXD_ERR_TCPE)) &&
			     !(status & E1000_RXD_STAT_IXSM)))
			p->flags |= USNET_PKT_F_BAD_CSUM;
		pkts[got++] = p;
	}
	ep->rx_next = next;
	e1000_rx_refill(ep);
	return got;
}

/* ---- transmit ------------------------------------------------------------ */

/*
 * Free the packets of descriptors the device is done with. SDM 3.3.3.1 /
 * 3.3.3.2: the device writes DD back only into descriptors with RS set, and
 * it processes descriptors in ring order, so DD in one of them means every
 * descriptor up to it is done. RS is set on the last descriptor of each
 * burst and at least every E1000_TX_RS_EVERY descriptors: one write-back
 * per burst instead of one per packet (each is a DMA write the device, or
 * QEMU through its emulated IOMMU, has to do).
 */
static void e1000_tx_reclaim(struct e1000_port *ep)
{
	struct usnet_pkt *done[64];
	uint32_t clean = ep->tx_clean, ndone = 0;

	while (ep->tx_rs_head != ep->tx_rs_tail) {
		uint32_t last = ep->tx_rs[ep->tx_rs_head & ep->tx_mask];

		if (!(desc_status(&ep->txd[last & ep->tx_mask].status) & E1000_TXD_STAT_DD))
			break;
		for (; clean != last + 1; clean++) {
			uint32_t idx = clean & ep->tx_mask;

			done[ndone++] = ep->tx_bufs[idx];
			ep->tx_bufs[idx] = NULL;
			if (ndone == 64) {
				usnet_pkt_free_bulk(done, ndone);
				ndone = 0;
			}
		}
		ep->tx_rs_head++;
	}
	usnet_pkt_free_bulk(done, ndone);
	ep->tx_clean = clean;
}

/* Ask for a write-back of descriptor idx (free-running). */
static inline void tx_set_rs(struct e1000_port *ep, uint32_t idx)
{
	ep->txd[idx & ep->tx_mask].cmd |= E1000_TXD_CMD_RS;
	ep->tx_rs[ep->tx_rs_tail++ & ep->tx_mask] = idx;
	ep->tx_last_rs = idx + 1;
}

/* May the device read this packet's buffer at pkt->iova? Only for pools
 * this driver mapped for this device (the iova of a packet from any other
 * pool means nothing to it). */
static inline bool tx_zero_copy(const struct e1000_port *ep, const struct usnet_pkt *p)
{
	return p->pool == ep->port.pool[0] || p->pool == ep->tx_pool;
}

static uint16_t e1000_tx_burst(struct usnet_port *port, uint16_t queue, struct usnet_pkt **pkts,
			       uint16_t n)
{
	struct e1000_port *ep = usnet_container_of(port, struct e1000_port, port);
	uint32_t tail = ep->tx_tail;
	uint32_t space;
	uint16_t i;

	(void)queue;
	e1000_tx_reclaim(ep);
	space = ep->tx_n - 1 - (tail - ep->tx_clean);
	for (i = 0; i < n && space; i++) {
		struct usnet_pkt *p = pkts[i];
		uint32_t idx = tail & ep->tx_mask;

		if (unlikely(p->len == 0 || p->len > E1000_TXD_MAX_LEN)) {
			port->stats[0].tx_errors++;
			usnet_pkt_free(p);
			continue;
		}
		if (unlikely(!tx_zero_copy(ep, p))) {
			struct usnet_pkt *b = usnet_pkt_alloc(ep->tx_pool);

			if (!b)
				break; /* bounce pool empty: the caller keeps the rest */
			if (p->len > usnet_pkt_tailroom(b)) {
				usnet_pkt_free(b);
				port->stats[0].tx_errors++;
				usnet_pkt_free(p);
				continue;
			}
			memcpy(usnet_pkt_data(b), usnet_pkt_data(p), p->len);
			b->len = p->len;
			usnet_pkt_free(p);
			p = b;
		}
		/* SDM 3.3.3 Table 3-9: a packet must have at least 48 bytes
		 * before padding; TCTL.PSP pads to 64 with the FCS. */
		if (unlikely(p->len < E1000_ETH_ZLEN)) {
			uint16_t pad = (uint16_t)(E1000_ETH_ZLEN - p->len);

			if (usnet_pkt_tailroom(p) >= pad)
				memset(usnet_pkt_append(p, pad), 0, pad);
		}
		ep->txd[idx] = (struct e1000_tx_desc){
			.addr = usnet_pkt_iova(p),
			.length = p->len,
			.cmd = E1000_TXD_CMD_EOP | E1000_TXD_CMD_IFCS,
		};
		ep->tx_bufs[idx] = p;
		if (tail - ep->tx_last_rs + 1 >= E1000_TX_RS_EVERY)
			tx_set_rs(ep, tail);
		tail++;
		space--;
	}
	if (tail != ep->tx_tail) {
		if (ep->tx_last_rs != tail)
			tx_set_rs(ep, tail - 1);
		ep->tx_tail = tail;
		e1000_wmb(); /* descriptors before TDT, see e1000_wmb() */
		wr32(ep, E1000_TDT, tail & ep->tx_mask);
	}
	return i;
}

/* ---- interrupts, link ---------------------------------------------------- */

static int e1000_queue_fd(struct usnet_port *port, uint16_t queue)
{
	struct e1000_port *ep = usnet_container_of(port, struct e1000_port, port);

	(void)queue;
	if (ep->irq_fd < 0)
		return usnet_error(ENOTSUP, "e1000 %s: no interrupt could be enabled; poll instead",
				   ep->name);
	return ep->irq_fd;
}

/*
 * Before the caller sleeps on the fd: clear the stale cause and count,
 * enable the RX interrupt, and look once more for a frame that arrived
 * before the interrupt was enabled (it would raise none). rx_burst masks
 * the interrupt again when the caller is awake.
 */
static bool e1000_arm(struct usnet_port *port, uint16_t queue)
{
	struct e1000_port *ep = usnet_container_of(port, struct e1000_port, port);

	(void)queue;
	if (ep->irq_fd < 0)
		return false;
	e1000_harvest(ep); /* going idle: a good moment to read the counters */
	usnet_pci_irq_ack(ep->dev, 0);
	/* SDM 13.4.17: writing 1b clears a cause (on both models; the 82574
	 * does not clear on read while IMS is non-zero). */
	wr32(ep, E1000_ICR, ep->rx_irq);
	if (ep->irq_mode == USNET_PCI_IRQ_INTX)
		usnet_pci_irq_unmask(ep->dev);
	wr32(ep, E1000_IMS, ep->rx_irq); /* SDM 13.4.20 */
	ep->armed = true;
	if (ep->rx_next != ep->rx_tail &&
	    (desc_status(&ep->rxd[ep->rx_next & ep->rx_mask].status) & E1000_RXD_STAT_DD)) {
		e1000_disarm(ep);
		return true;
	}
	return false;
}

static int e1000_link(struct usnet_port *port, struct usnet_link *link)
{
	struct e1000_port *ep = usnet_container_of(port, struct e1000_port, port);
	uint32_t status = rd32(ep, E1000_STATUS); /* SDM 13.4.2 */
	static const uint32_t speeds[4] = {10, 100, 1000, 1000};

	link->up = status & E1000_STATUS_LU;
	link->speed_mbps =
		link->up ? speeds[(status & E1000_STATUS_SPEED_MASK) >> E1000_STATUS_SPEED_SHIFT] : 0;
	return 0;
}

/* ---- bring-up ------------------------------------------------------------ */

/*
 * Stop all DMA and reset the MAC: mask every interrupt (SDM 13.4.21),
 * disable the receiver and transmitter (13.4.22, 13.4.33), on the 82574
 * stop bus mastering and wait for it (82574 CTRL.GIO Master Disable /
 * STATUS.GIO Master Enable), then CTRL.RST, which clears itself when the
 * reset is done (13.4.1), and mask interrupts again (14.3: interrupts stay
 * masked during initialization).
 */
static int e1000_hw_reset(struct e1000_port *ep)
{
	int err;

	wr32(ep, E1000_IMC, E1000_IRQ_ALL);
	wr32(ep, E1000_RCTL, 0);
	wr32(ep, E1000_TCTL, E1000_TCTL_PSP);
	(void)rd32(ep, E1000_STATUS); /* flush the posted writes */
	if (ep->model->pcie) {
		wr32(ep, E1000_CTRL, rd32(ep, E1000_CTRL) | E1000_CTRL_GIO_MASTER_DIS);
		err = wait_reg(ep, E1000_STATUS, E1000_STATUS_GIO_MASTER_EN, 0,
			       E1000_RESET_TIMEOUT_NS);
		if (err)
			return usnet_error(ETIMEDOUT, "e1000 %s: DMA did not stop within 100 ms "
				      "(STATUS.GIO_MASTER_EN stays set)", ep->name);
	} else {
		usnet_sleep_us(10000); /* let in-flight PCI transactions finish */
	}
	wr32(ep, E1000_CTRL, rd32(ep, E1000_CTRL) | E1000_CTRL_RST);
	usnet_sleep_us(1000);
	err = wait_reg(ep, E1000_CTRL, E1000_CTRL_RST, 0, E1000_RESET_TIMEOUT_NS);
	if (err)
		return usnet_error(ETIMEDOUT, "e1000 %s: reset did not complete within 100 ms "
			      "(CTRL.RST stays set)", ep->name);
	wr32(ep, E1000_IMC, E1000_IRQ_ALL);
	wr32(ep, E1000_ICR, E1000_IRQ_ALL);
	(void)rd32(ep, E1000_ICR);
	return 0;
}

/* SDM 5.3.1: one EEPROM word through EERD. */
static int e1000_eeprom_read(struct e1000_port *ep, unsigned word, uint16_t *val)
{
	uint64_t deadline = usnet_now_ns() + E1000_EERD_TIMEOUT_NS;
	uint32_t v;

	wr32(ep, E1000_EERD, (word << ep->model->eerd_addr_shift) | E1000_EERD_START);
	for (;;) {
		v = rd32(ep, E1000_EERD);
		if (v & ep->model->eerd_done)
			break;
		if (usnet_now_ns() > deadline)
			return -ETIMEDOUT;
		usnet_sleep_us(10);
	}
	*val = (uint16_t)(v >> E1000_EERD_DATA_SHIFT);
	return 0;
}

static bool mac_ok(const uint8_t mac[6])
{
	static const uint8_t zero[6];

	return !(mac[0] & 1) && memcmp(mac, zero, 6) != 0; /* unicast, not 0 */
}

/*
 * The station address: EEPROM words 0-2 (SDM 5.6.1), else RAL0/RAH0 when
 * valid (the device loads them from the EEPROM at reset, 13.5.2). Written
 * back to RAL0/RAH0 with AV so the unicast filter and PAUSE frames use it.
 */
static void e1000_read_mac(struct e1000_port *ep, uint8_t mac[6])
{
	uint16_t w[3];
	unsigned i;

	for (i = 0; i < 3; i++)
		if (e1000_eeprom_read(ep, E1000_EEPROM_MAC_WORD + i, &w[i]))
			break;
	if (i == 3) {
		for (i = 0; i < 3; i++) {
			mac[2 * i] = (uint8_t)w[i];
			mac[2 * i + 1] = (uint8_t)(w[i] >> 8);
		}
		if (mac_ok(mac))
			return;
	}
	uint32_t ral = rd32(ep, E1000_RAL(0)), rah = rd32(ep, E1000_RAH(0));

	if (rah & E1000_RAH_AV) {
		for (i = 0; i < 4; i++)
			mac[i] = (uint8_t)(ral >> (8 * i));
		mac[4] = (uint8_t)rah;
		mac[5] = (uint8_t)(rah >> 8);
		if (mac_ok(mac))
			return;
	}
	usnet_mac_from_name(mac, "pci", ep->name);
	USNET_WARN("e1000 %s: no valid MAC address in the EEPROM or RAL0/RAH0; using "
		   "%02x:%02x:%02x:%02x:%02x:%02x",
		   ep->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* SDM 14.4 steps 1-2 (address filters): RAL0/RAH0 = station address,
 * the other 15 entries invalid, the multicast table cleared. */
static void e1000_setup_filters(struct e1000_port *ep, const uint8_t mac[6])
{
	for (unsigned i = 1; i < E1000_RAR_ENTRIES; i++) {
		wr32(ep, E1000_RAH(i), 0); /* SDM 13.5.3: clear high first */
		wr32(ep, E1000_RAL(i), 0);
	}
	wr32(ep, E1000_RAL(0),
	     mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 | (uint32_t)mac[3] << 24);
	wr32(ep, E1000_RAH(0), mac[4] | (uint32_t)mac[5] << 8 | E1000_RAH_AV); /* low first */
	for (unsigned i = 0; i < E1000_MTA_ENTRIES; i++)
		wr32(ep, E1000_MTA + 4 * i, 0); /* SDM 13.5.1 */
}

/*
 * SDM 14.3 General Configuration: link up with auto-speed detection
 * (CTRL.SLU, CTRL.ASDE; LRST, PHY_RST, ILOS, forced speed/duplex and VLAN
 * mode off; the 82574's GIO master disable off again, since QEMU's reset
 * keeps it), no flow control (FCAL/FCAH/FCT/FCTTV 0).
 */
static void e1000_setup_link(struct e1000_port *ep)
{
	uint32_t ctrl = rd32(ep, E1000_CTRL);

	ctrl |= E1000_CTRL_SLU | E1000_CTRL_ASDE;
	ctrl &= ~(E1000_CTRL_LRST | E1000_CTRL_PHY_RST | E1000_CTRL_ILOS | E1000_CTRL_FRCSPD |
		  E1000_CTRL_FRCDPX | E1000_CTRL_VME | E1000_CTRL_GIO_MASTER_DIS | E1000_CTRL_RST);
	wr32(ep, E1000_CTRL, ctrl);
	wr32(ep, E1000_FCAL, 0);
	wr32(ep, E1000_FCAH, 0);
	wr32(ep, E1000_FCT, 0);
	wr32(ep, E1000_FCTTV, 0);
}

/* SDM 14.4 Receive Initialization. */
static void e1000_setup_rx(struct e1000_port *ep)
{
	uint32_t rctl;

	/* Base, length (multiple of 128 bytes), head = tail = 0: the ring
	 * empty until buffers are posted (13.4.25 - 13.4.29). */
	wr32(ep, E1000_RDBAL, (uint32_t)ep->ring.iova);
	wr32(ep, E1000_RDBAH, (uint32_t)(ep->ring.iova >> 32));
	wr32(ep, E1000_RDLEN, ep->rx_n * (uint32_t)sizeof(struct e1000_rx_desc));
	wr32(ep, E1000_RDH, 0);
	wr32(ep, E1000_RDT, 0);
	ep->rx_next = ep->rx_tail = 0;
	/* No receive interrupt delay (13.4.30, 13.4.31). */
	wr32(ep, E1000_RDTR, 0);
	wr32(ep, E1000_RADV, 0);
	/* 82574: legacy descriptors (RFCTL.EXSTEN = 0, RCTL.DTYP = 00b). */
	if (ep->model->pcie)
		wr32(ep, E1000_RFCTL, rd32(ep, E1000_RFCTL) & ~E1000_RFCTL_EXSTEN);
	/* Tail one beyond the last posted descriptor. */
	e1000_rx_refill(ep);
	/*
	 * RCTL (13.4.22): enable; accept broadcast; 2048-byte buffers (BSIZE
	 * 00b, BSEX 0); strip the CRC; no long packets, so no frame is longer
	 * than 1522 bytes and each fits one buffer; no loopback; descriptor
	 * minimum threshold 1/2; unicast/multicast promiscuous on request.
	 */
	rctl = E1000_RCTL_EN | E1000_RCTL_BAM | E1000_RCTL_BSIZE_2048 | E1000_RCTL_SECRC |
	       E1000_RCTL_RDMTS_HALF;
	if (ep->port.conf.promisc)
		rctl |= E1000_RCTL_UPE | E1000_RCTL_MPE;
	wr32(ep, E1000_RCTL, rctl);
}

/* SDM 14.5 Transmit Initialization. */
static void e1000_setup_tx(struct e1000_port *ep)
{
	uint64_t iova = ep->ring.iova + (uint64_t)((uint8_t *)ep->txd - (uint8_t *)ep->ring.va);

	/* Base, length, head = tail = 0 (13.4.36 - 13.4.40). */
	wr32(ep, E1000_TDBAL, (uint32_t)iova);
	wr32(ep, E1000_TDBAH, (uint32_t)(iova >> 32));
	wr32(ep, E1000_TDLEN, ep->tx_n * (uint32_t)sizeof(struct e1000_tx_desc));
	wr32(ep, E1000_TDH, 0);
	wr32(ep, E1000_TDT, 0);
	ep->tx_clean = ep->tx_tail = ep->tx_last_rs = 0;
	ep->tx_rs_head = ep->tx_rs_tail = 0;
	/* Inter-packet gap for IEEE 802.3 (13.4.34). */
	wr32(ep, E1000_TIPG, ep->model->tipg);
	/* 82574 TARC0: queue 0 enabled (QEMU transmits only then). */
	if (ep->model->pcie)
		wr32(ep, E1000_TARC0, rd32(ep, E1000_TARC0) | E1000_TARC_ENABLE);
	/* TCTL (13.4.33): enable, pad short packets, collision threshold 0Fh,
	 * collision distance 40h (full duplex). */
	wr32(ep, E1000_TCTL,
	     E1000_TCTL_EN | E1000_TCTL_PSP | E1000_TCTL_CT_DEFAULT << E1000_TCTL_CT_SHIFT |
		     E1000_TCTL_COLD_FD << E1000_TCTL_COLD_SHIFT);
}

/*
 * One interrupt vector for the RX queue, left masked (IMS = 0) until arm().
 * MSI-X on the 82574: RX queue 0's cause goes to vector 0 through IVAR,
 * nothing else is allocated, no auto-clear (EIAC = 0), and CTRL_EXT.PBA_CLR
 * so an IMS write clears a stale pending bit (82574 IVAR, EIAC, CTRL_EXT);
 * the cause bit is then ICR.RxQ0. With MSI or INTx (and always on the
 * 82540EM) it is ICR.RXT0 (SDM 13.4.17). No throttling (ITR 0, 13.4.18).
 */
static void e1000_setup_irq(struct e1000_port *ep)
{
	int efd = -1;
	int nv = usnet_pci_irq_enable(ep->dev, 1, &efd);

	if (nv < 1) {
		USNET_WARN("e1000 %s: no interrupt (%s): usnet_port_wait() is not available, "
			   "poll the port", ep->name, usnet_last_error());
		return;
	}
	ep->irq_fd = efd;
	ep->irq_mode = usnet_pci_irq_mode(ep->dev);
	ep->rx_irq = E1000_ICR_RXT0;
	if (ep->model->pcie && ep->irq_mode == USNET_PCI_IRQ_MSIX) {
		wr32(ep, E1000_IVAR, (0u | E1000_IVAR_VALID) << E1000_IVAR_RXQ0_SHIFT);
		wr32(ep, E1000_EIAC, 0);
		wr32(ep, E1000_CTRL_EXT, rd32(ep, E1000_CTRL_EXT) | E1000_CTRL_EXT_PBA_CLR);
		ep->rx_irq = E1000_ICR_RXQ0;
	}
	wr32(ep, E1000_ITR, 0);
}

/* The default keeps both rings in one DMA allocation the platform can
 * always give: without an IOMMU and without hugepages that is one 4 KiB
 * page (128 + 128 descriptors). */
static uint32_t ring_size(uint16_t asked, size_t contig_max)
{
	uint32_t n = E1000_RING_DEFAULT;

	if (asked)
		return asked;
	while (n > E1000_RING_MIN && 2 * (size_t)n * sizeof(struct e1000_rx_desc) > contig_max)
		n /= 2;
	return n;
}

static int e1000_check_ring(const char *name, const char *what, uint32_t n)
{
	if (n < E1000_RING_MIN || n > E1000_RING_MAX || (n & (n - 1)))
		return usnet_error(EINVAL, "e1000 %s: %s ring size %u must be a power of two in "
				   "[%u, %u]", name, what, n, E1000_RING_MIN, E1000_RING_MAX);
	return 0;
}

static const struct usnet_port_ops e1000_ops;

static void e1000_teardown(struct e1000_port *ep);

static int e1000_open(struct usnet_port **out, struct usnet_pci_dev *dev,
		      const struct usnet_pci_id *id, struct usnet_spec *spec,
		      const struct usnet_port_conf *conf)
{
	const struct usnet_pci_info *info = usnet_pci_dev_info(dev);
	struct e1000_port *ep;
	size_t bar_len = 0, rx_bytes, len, contig;
	uint32_t rx_n, tx_n, dflt_pool, promisc;
	int err;

	ep = calloc(1, sizeof(*ep));
	if (!ep) {
		usnet_pci_close(dev);
		return usnet_error(ENOMEM, "e1000: out of memory");
	}
	ep->dev = dev;
	ep->irq_fd = -1;
	ep->model = id->data;
	usnet_pci_addr_format(&info->addr, ep->name, sizeof(ep->name));

	/* Spec options rxd=N, txd=N override conf's ring sizes. */
	contig = usnet_pci_dma_contig_max(dev);
	err = usnet_spec_opt_u32(spec, "rxd", 0, UINT16_MAX,
				 ring_size(conf ? conf->rx_ring_size : 0, contig), &rx_n);
	if (!err)
		err = usnet_spec_opt_u32(spec, "txd", 0, UINT16_MAX,
					 ring_size(conf ? conf->tx_ring_size : 0, contig), &tx_n);
	if (!err)
		err = e1000_check_ring(ep->name, "RX", rx_n);
	if (!err)
		err = e1000_check_ring(ep->name, "TX", tx_n);
	if (err)
		goto err;
	/* Enough for a full RX ring, a full TX ring of packets from this
	 * pool, and bursts in the caller's hands. */
	dflt_pool = rx_n + tx_n + 2 * USNET_MAX_BURST;

	/* SDM 13.1: the registers are memory-mapped through BAR 0 (128 KiB). */
	ep->bar0 = usnet_pci_bar(dev, 0, &bar_len);
	if (!ep->bar0 || bar_len < 0x20000) {
		err = usnet_error(ENODEV, "e1000 %s: BAR 0 is not a mapped 128 KiB memory BAR",
				  ep->name);
		goto err;
	}
	{
		/* usnet_port_setup() sizes the pool from conf: the default
		 * follows the ring sizes actually used. */
		struct usnet_port_conf c = conf ? *conf : (struct usnet_port_conf){0};

		c.rx_ring_size = (uint16_t)rx_n;
		c.tx_ring_size = (uint16_t)tx_n;
		ep->port.pool_flags = usnet_pci_pool_flags(dev);
		err = usnet_port_setup(&ep->port, &e1000_ops, spec, &c, 1, dflt_pool);
	}
	if (err)
		goto err;
	/* Spec option promisc=0|1 overrides conf->promisc (tools have no flag). */
	err = usnet_spec_opt_u32(spec, "promisc", 0, 1, ep->port.conf.promisc, &promisc);
	if (err)
		goto err;
	ep->port.conf.promisc = promisc;
	/* Each frame must fit one buffer behind the headroom (RCTL.LPE off). */
	if (ep->port.conf.buf_size < USNET_PKT_HEADROOM + E1000_MAX_FRAME_NO_LPE) {
		err = usnet_error(EINVAL, "e1000 %s: buf_size %u is too small: frames of up to %u "
				  "bytes must fit behind the %u-byte headroom", ep->name,
				  ep->port.conf.buf_size, E1000_MAX_FRAME_NO_LPE, USNET_PKT_HEADROOM);
		goto err;
	}
	if (ep->port.conf.pool_size < rx_n) {
		err = usnet_error(EINVAL, "e1000 %s: pool_size %u is smaller than the RX ring (%u)",
				  ep->name, ep->port.conf.pool_size, rx_n);
		goto err;
	}
	ep->rx_n = rx_n;
	ep->rx_mask = rx_n - 1;
	ep->tx_n = tx_n;
	ep->tx_mask = tx_n - 1;
	ep->rx_bufs = calloc(rx_n, sizeof(*ep->rx_bufs));
	ep->tx_bufs = calloc(tx_n, sizeof(*ep->tx_bufs));
	ep->tx_rs = calloc(tx_n, sizeof(*ep->tx_rs));
	if (!ep->rx_bufs || !ep->tx_bufs || !ep->tx_rs) {
		err = usnet_error(ENOMEM, "e1000 %s: out of memory", ep->name);
		goto err;
	}

	/* PCI 3.0 6.2.2: the device may master the bus (DMA). */
	err = usnet_pci_set_bus_master(dev, true);
	if (err)
		goto err;
	ep->mastering = true;
	err = e1000_hw_reset(ep);
	if (err)
		goto err;
	/* Baseline of the statistics (SDM 14.8), with the receiver off. */
	for (int i = 0; i < C_NUM; i++)
		counter_init(ep, &ep->ctr[i], counter_regs[i]);
	ep->harvest_countdown = E1000_HARVEST_EVERY;

	e1000_read_mac(ep, ep->port.info.mac);
	e1000_setup_filters(ep, ep->port.info.mac);

	/* Descriptor rings: RX then TX, each 128-byte aligned (13.4.27). */
	rx_bytes = ((size_t)rx_n * sizeof(struct e1000_rx_desc) + 127) & ~(size_t)127;
	len = rx_bytes + (size_t)tx_n * sizeof(struct e1000_tx_desc);
	err = usnet_pci_dma_alloc(dev, len, &ep->ring);
	if (err)
		goto err;
	ep->rxd = ep->ring.va;
	ep->txd = (struct e1000_tx_desc *)((uint8_t *)ep->ring.va + rx_bytes);

	/* Packet memory: the RX pool (zero copy both ways) and a bounce pool
	 * for packets of pools this device cannot reach. */
	err = usnet_pci_dma_map_pool(dev, ep->port.pool[0]);
	if (err)
		goto err;
	ep->pool_mapped = true;
	{
		struct usnet_pool_conf pc = {
		    .count = tx_n + 64, .name = "e1000-txcopy", .flags = usnet_pci_pool_flags(dev)};

		err = usnet_pool_create(&ep->tx_pool, &pc);
		if (err)
			goto err;
	}
	err = usnet_pci_dma_map_pool(dev, ep->tx_pool);
	if (err)
		goto err;
	ep->tx_pool_mapped = true;

	ep->fault_iova = usnet_pci_fault_iova(dev);
	if (ep->fault_iova)
		USNET_WARN("e1000 %s: fault injection on: RX descriptor 0 gets bus address 0x%llx",
			   ep->name, (unsigned long long)ep->fault_iova);

	e1000_setup_irq(ep);
	e1000_setup_link(ep);
	e1000_setup_tx(ep);
	e1000_setup_rx(ep);

	if (!(rd32(ep, E1000_STATUS) & E1000_STATUS_LU))
		USNET_INFO("e1000 %s: link is down after setup (auto-negotiation may still be "
			   "running)", ep->name);
	USNET_INFO("e1000 %s: %s, MAC %02x:%02x:%02x:%02x:%02x:%02x, %u/%u descriptors, "
		   "irq %s", ep->name, ep->model->chip, ep->port.info.mac[0], ep->port.info.mac[1],
		   ep->port.info.mac[2], ep->port.info.mac[3], ep->port.info.mac[4],
		   ep->port.info.mac[5], rx_n, tx_n,
		   ep->irq_fd < 0 ? "none" : ep->rx_irq == E1000_ICR_RXQ0 ? "MSI-X" : "MSI/INTx");
	ep->up = true;
	*out = &ep->port;
	return 0;

err:
	e1000_teardown(ep);
	return err;
}

/*
 * The one way out, from open's failures at any step and from close: give
 * back whatever ep holds. A device that may master the bus is quiesced and
 * reset first, so it neither DMAs into memory about to be freed nor keeps
 * running for the next user.
 */
static void e1000_teardown(struct e1000_port *ep)
{
	if (ep->mastering) {
		if (ep->up)
			e1000_harvest(ep);
		if (e1000_hw_reset(ep))
			USNET_WARN("%s", usnet_last_error());
		ep->mastering = false;
	}
	if (ep->up) {
		USNET_INFO("e1000 %s: hardware counters: rx good %llu, tx good %llu, missed %llu, "
			   "no buffer %llu, crc errors %llu, rx errors %llu, length errors %llu",
			   ep->name, (unsigned long long)ep->hw_total[C_GPRC],
			   (unsigned long long)ep->hw_total[C_GPTC],
			   (unsigned long long)ep->hw_total[C_MPC],
			   (unsigned long long)ep->hw_total[C_RNBC],
			   (unsigned long long)ep->hw_total[C_CRCERRS],
			   (unsigned long long)ep->hw_total[C_RXERRC],
			   (unsigned long long)ep->hw_total[C_RLEC]);
		ep->up = false;
	}
	if (ep->irq_fd >= 0)
		usnet_pci_irq_disable(ep->dev);
	ep->irq_fd = -1;
	for (uint32_t i = 0; ep->rx_bufs && i < ep->rx_n; i++)
		if (ep->rx_bufs[i])
			usnet_pkt_free(ep->rx_bufs[i]);
	for (uint32_t i = 0; ep->tx_bufs && i < ep->tx_n; i++)
		if (ep->tx_bufs[i])
			usnet_pkt_free(ep->tx_bufs[i]);
	/* A pool must not be freed while the device can still reach it. */
	if (ep->tx_pool_mapped)
		usnet_pci_dma_unmap_pool(ep->dev, ep->tx_pool);
	if (ep->pool_mapped)
		usnet_pci_dma_unmap_pool(ep->dev, ep->port.pool[0]);
	usnet_pci_dma_free(ep->dev, &ep->ring);
	usnet_pool_destroy(ep->tx_pool);
	usnet_port_teardown(&ep->port);
	usnet_pci_close(ep->dev);
	free(ep->rx_bufs);
	free(ep->tx_bufs);
	free(ep->tx_rs);
	free(ep);
}

static void e1000_close(struct usnet_port *port)
{
	e1000_teardown(usnet_container_of(port, struct e1000_port, port));
}

/* Opened through usnet_e1000_driver by the pci: kind, never through the
 * kinds table, so there is no .open here. */
static const struct usnet_port_ops e1000_ops = {
	.kind = "pci",
	.usage = "pci:DDDD:BB:DD.F[,promisc=1,rxd=N,txd=N]  Intel 82540EM (e1000) / 82574L (e1000e)",
	.close = e1000_close,
	.rx_burst = e1000_rx_burst,
	.tx_burst = e1000_tx_burst,
	.queue_fd = e1000_queue_fd,
	.arm = e1000_arm,
	.link = e1000_link,
};

static const struct usnet_pci_id e1000_ids[] = {
    {0x8086, 0x100e, "e1000", &model_82540em}, /* QEMU -device e1000 */
    {0x8086, 0x10d3, "e1000e", &model_82574l}, /* QEMU -device e1000e */
    {0},
};

const struct usnet_pci_driver usnet_e1000_driver = {
	.name = "e1000",
	.ids = e1000_ids,
	.open = e1000_open,
};
