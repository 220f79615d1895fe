/* SPDX-License-Identifier: MIT */
/*
 * VIRTIO 1.x over PCI, split virtqueues, network device: the layouts and
 * constants the virtio-net driver uses, named as in the specification.
 *
 * Section numbers are those of "Virtual I/O Device (VIRTIO) Version 1.2"
 * (OASIS, csd01), https://docs.oasis-open.org/virtio/virtio/v1.2/. VIRTIO
 * 1.1 has the same text; its chapter 2 is numbered one lower from 2.4 on
 * (1.2 added "2.4 Device Reset"), so 1.2's split virtqueues (2.7) are
 * 1.1's 2.6. Chapters 4, 5 and 6 are numbered alike in both.
 *
 * Every multi-byte field is little-endian (2.5, 2.7, 4.1.4); the driver
 * uses them in host order, hence the byte-order check below.
 */
#ifndef USNET_VIRTIO_PCI_H
#define USNET_VIRTIO_PCI_H

#include <assert.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "the virtio-net driver reads little-endian device structures in place");

/* --- 4.1.2 PCI Device Discovery --------------------------------------- */

#define VIRTIO_PCI_VENDOR_ID 0x1af4
/* 0x1040 + device type 1 (network, 5.1.1): a non-transitional device. */
#define VIRTIO_PCI_DEVICE_ID_NET 0x1041

/* PCI configuration space (PCI Local Bus 3.0, 6.1, 6.7) */
#define PCI_CFG_STATUS		 0x06
#define PCI_STATUS_CAP_LIST	 (1u << 4) /* 6.2.3: a capability list exists */
#define PCI_CFG_CAP_PTR		 0x34	   /* 6.7: offset of the first capability */
#define PCI_CAP_ID_VNDR		 0x09	   /* vendor-specific capability */
#define PCI_CAP_ID_MSIX		 0x11	   /* MSI-X (PCI 3.0, 6.8.2) */
#define PCI_MSIX_CTRL		 2	   /* Message Control, from the capability */
#define PCI_MSIX_CTRL_TABLE_SIZE 0x07ff	   /* N-1 */

/* --- 4.1.4 Virtio Structure PCI Capabilities ----------------------------- */

struct virtio_pci_cap {
	uint8_t cap_vndr; /* PCI_CAP_ID_VNDR */
	uint8_t cap_next;
	uint8_t cap_len;
	uint8_t cfg_type; /* VIRTIO_PCI_CAP_* */
	uint8_t bar;	  /* 0..5; anything else is reserved and ignored */
	uint8_t id;
	uint8_t padding[2];
	uint32_t offset; /* within the BAR */
	uint32_t length; /* of the structure */
};
static_assert(sizeof(struct virtio_pci_cap) == 16, "4.1.4 virtio_pci_cap");
static_assert(offsetof(struct virtio_pci_cap, cfg_type) == 3, "4.1.4 cfg_type");
static_assert(offsetof(struct virtio_pci_cap, bar) == 4, "4.1.4 bar");
static_assert(offsetof(struct virtio_pci_cap, offset) == 8, "4.1.4 offset");
static_assert(offsetof(struct virtio_pci_cap, length) == 12, "4.1.4 length");

#define VIRTIO_PCI_CAP_COMMON_CFG 1
#define VIRTIO_PCI_CAP_NOTIFY_CFG 2
#define VIRTIO_PCI_CAP_ISR_CFG	  3
#define VIRTIO_PCI_CAP_DEVICE_CFG 4
#define VIRTIO_PCI_CAP_PCI_CFG	  5

/* 4.1.4.4 Notification structure layout */
struct virtio_pci_notify_cap {
	struct virtio_pci_cap cap;
	uint32_t notify_off_multiplier; /* Queue Notify address = offset + off * this */
};
static_assert(sizeof(struct virtio_pci_notify_cap) == 20, "4.1.4.4 virtio_pci_notify_cap");
static_assert(offsetof(struct virtio_pci_notify_cap, notify_off_multiplier) == 16,
	      "4.1.4.4 notify_off_multiplier");

/*
 * 4.1.4.3 Common configuration structure layout. Accessed in the BAR with
 * one naturally aligned access per field (usnet_reg_*); the 64-bit queue
 * addresses as two 32-bit writes, low half first.
 */
struct virtio_pci_common_cfg {
	/* About the whole device. */
	uint32_t device_feature_select; /* read-write */
	uint32_t device_feature;	/* read-only for driver */
	uint32_t driver_feature_select; /* read-write */
	uint32_t driver_feature;	/* read-write */
	uint16_t config_msix_vector;	/* read-write */
	uint16_t num_queues;		/* read-only for driver */
	uint8_t device_status;		/* read-write; writing 0 resets (2.4) */
	uint8_t config_generation;	/* read-only for driver */

	/* About the virtqueue selected by queue_select. */
	uint16_t queue_select;	    /* read-write */
	uint16_t queue_size;	    /* read-write, a power of 2; 0: no such queue */
	uint16_t queue_msix_vector; /* read-write */
	uint16_t queue_enable;	    /* read-write */
	uint16_t queue_notify_off;  /* read-only for driver */
	uint64_t queue_desc;	    /* read-write: Descriptor Area */
	uint64_t queue_driver;	    /* read-write: Driver Area (available ring) */
	uint64_t queue_device;	    /* read-write: Device Area (used ring) */
	uint16_t queue_notify_data; /* only with VIRTIO_F_NOTIF_CONFIG_DATA */
	uint16_t queue_reset;	    /* only with VIRTIO_F_RING_RESET */
};
static_assert(offsetof(struct virtio_pci_common_cfg, device_feature) == 0x04, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, driver_feature_select) == 0x08, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, driver_feature) == 0x0c, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, config_msix_vector) == 0x10, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, num_queues) == 0x12, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, device_status) == 0x14, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, config_generation) == 0x15, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_select) == 0x16, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_size) == 0x18, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_msix_vector) == 0x1a, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_enable) == 0x1c, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_notify_off) == 0x1e, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_desc) == 0x20, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_driver) == 0x28, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_device) == 0x30, "4.1.4.3");
static_assert(offsetof(struct virtio_pci_common_cfg, queue_notify_data) == 0x38, "4.1.4.3");

#define VIRTIO_PCI_COMMON_CFG_MIN_LEN 0x38 /* what this driver touches */
#define VIRTIO_PCI_CFG(field)	      ((uint32_t)offsetof(struct virtio_pci_common_cfg, field))

/* 4.1.5.1.2 MSI-X Vector Configuration: "no vector" for an event. */
#define VIRTIO_MSI_NO_VECTOR 0xffff

/* 4.1.4.5 ISR status: reading it clears it (INTx only). */
#define VIRTIO_PCI_ISR_QUEUE  (1u << 0)
#define VIRTIO_PCI_ISR_CONFIG (1u << 1)

/* --- 2.1 Device Status Field ------------------------------------------- */

#define VIRTIO_STATUS_ACKNOWLEDGE	 1
#define VIRTIO_STATUS_DRIVER		 2
#define VIRTIO_STATUS_DRIVER_OK		 4
#define VIRTIO_STATUS_FEATURES_OK	 8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED		 128

/* --- 6 Reserved Feature Bits (device-independent) ------------------------ */

#define VIRTIO_F_INDIRECT_DESC	   28
#define VIRTIO_F_EVENT_IDX	   29 /* VIRTIO_RING_F_EVENT_IDX in Linux/QEMU */
#define VIRTIO_F_VERSION_1	   32
#define VIRTIO_F_ACCESS_PLATFORM   33
#define VIRTIO_F_RING_PACKED	   34
#define VIRTIO_F_IN_ORDER	   35
#define VIRTIO_F_ORDER_PLATFORM	   36
#define VIRTIO_F_SR_IOV		   37
#define VIRTIO_F_NOTIFICATION_DATA 38
#define VIRTIO_F_NOTIF_CONFIG_DATA 39
#define VIRTIO_F_RING_RESET	   40

/* --- 5.1.3 Network device feature bits ------------------------------------ */

#define VIRTIO_NET_F_CSUM	  0
#define VIRTIO_NET_F_GUEST_CSUM	  1
#define VIRTIO_NET_F_MTU	  3
#define VIRTIO_NET_F_MAC	  5
#define VIRTIO_NET_F_GUEST_TSO4	  7
#define VIRTIO_NET_F_HOST_TSO4	  11
#define VIRTIO_NET_F_MRG_RXBUF	  15
#define VIRTIO_NET_F_STATUS	  16
#define VIRTIO_NET_F_CTRL_VQ	  17
#define VIRTIO_NET_F_CTRL_RX	  18
#define VIRTIO_NET_F_MQ		  22
#define VIRTIO_NET_F_SPEED_DUPLEX 63

#define VIRTIO_BIT(b) (1ull << (b))

/* --- 5.1.4 Device configuration layout ------------------------------------ */

struct virtio_net_config {
	uint8_t mac[6];		      /* valid with VIRTIO_NET_F_MAC */
	uint16_t status;	      /* exists with VIRTIO_NET_F_STATUS */
	uint16_t max_virtqueue_pairs; /* exists with VIRTIO_NET_F_MQ (or _RSS) */
	uint16_t mtu;		      /* exists with VIRTIO_NET_F_MTU */
	uint32_t speed;		      /* exists with VIRTIO_NET_F_SPEED_DUPLEX, Mbit/s */
	uint8_t duplex;
	uint8_t rss_max_key_size;
	uint16_t rss_max_indirection_table_length;
	uint32_t supported_hash_types;
};
static_assert(offsetof(struct virtio_net_config, status) == 6, "5.1.4 status");
static_assert(offsetof(struct virtio_net_config, max_virtqueue_pairs) == 8, "5.1.4");
static_assert(offsetof(struct virtio_net_config, mtu) == 10, "5.1.4 mtu");
static_assert(offsetof(struct virtio_net_config, speed) == 12, "5.1.4 speed");
static_assert(offsetof(struct virtio_net_config, duplex) == 16, "5.1.4 duplex");
static_assert(sizeof(struct virtio_net_config) == 24, "5.1.4 virtio_net_config");

#define VIRTIO_NET_CFG(field) ((uint32_t)offsetof(struct virtio_net_config, field))
#define VIRTIO_NET_S_LINK_UP  1
#define VIRTIO_NET_S_ANNOUNCE 2

/* --- 5.1.6 Device Operation: the header in front of every frame ----------- */

struct virtio_net_hdr {
	uint8_t flags; /* VIRTIO_NET_HDR_F_*; 0 without checksum offload */
	uint8_t gso_type;
	uint16_t hdr_len;
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
	/* Present with VIRTIO_F_VERSION_1 (5.1.6.1): descriptors this packet
	 * spans, always 1 without VIRTIO_NET_F_MRG_RXBUF (5.1.6.3.2); the
	 * driver sets 0 on transmit (5.1.6.2.1). */
	uint16_t num_buffers;
};
static_assert(sizeof(struct virtio_net_hdr) == 12, "5.1.6 virtio_net_hdr is 12 bytes");
static_assert(offsetof(struct virtio_net_hdr, num_buffers) == 10, "5.1.6 num_buffers");

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2
#define VIRTIO_NET_HDR_GSO_NONE	    0

/* 5.1.6.3: without GSO a frame is at most 1514 bytes (no FCS). */
#define VIRTIO_NET_MAX_FRAME 1514u

/* 5.1.6.5 Control Virtqueue: class, command, data, then the device's ack. */
struct virtio_net_ctrl_hdr {
	uint8_t class;
	uint8_t command;
};
static_assert(sizeof(struct virtio_net_ctrl_hdr) == 2, "5.1.6.5 virtio_net_ctrl");

#define VIRTIO_NET_OK  0
#define VIRTIO_NET_ERR 1

/* 5.1.6.5.6 Automatic receive steering in multiqueue mode */
#define VIRTIO_NET_CTRL_MQ		4
#define VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET 0
struct virtio_net_ctrl_mq_pairs_set {
	uint16_t virtqueue_pairs; /* 1 .. max_virtqueue_pairs */
};
static_assert(sizeof(struct virtio_net_ctrl_mq_pairs_set) == 2, "5.1.6.5.6");

/* 5.1.2 Virtqueues: receiveqN = 2(N-1), transmitqN = 2(N-1)+1,
 * controlq = 2 * max_virtqueue_pairs (2 without VIRTIO_NET_F_MQ). */
#define VIRTIO_NET_RXQ(n) ((uint16_t)(2 * (n)))
#define VIRTIO_NET_TXQ(n) ((uint16_t)(2 * (n) + 1))

/* --- 2.7 Split Virtqueues ------------------------------------------------- */

/* 2.7: the largest queue size; 16-bit indices always tell full from empty. */
#define VIRTQ_MAX_SIZE 32768

/* 2.7.5 The Virtqueue Descriptor Table: 16-byte aligned. */
struct virtq_desc {
	uint64_t addr; /* bus address: an IOVA with VIRTIO_F_ACCESS_PLATFORM */
	uint32_t len;
	uint16_t flags; /* VIRTQ_DESC_F_* */
	uint16_t next;	/* with VIRTQ_DESC_F_NEXT */
};
static_assert(sizeof(struct virtq_desc) == 16, "2.7.5 virtq_desc");
static_assert(offsetof(struct virtq_desc, len) == 8, "2.7.5 len");
static_assert(offsetof(struct virtq_desc, flags) == 12, "2.7.5 flags");
static_assert(offsetof(struct virtq_desc, next) == 14, "2.7.5 next");

#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2 /* device write-only (otherwise read-only) */
#define VIRTQ_DESC_F_INDIRECT 4

/*
 * 2.7.6 The Virtqueue Available Ring (driver area): written by the driver
 * only, 2-byte aligned. idx and flags are read by the device concurrently,
 * hence atomic; used_event (VIRTIO_F_EVENT_IDX) follows ring[queue size].
 */
struct virtq_avail {
	_Atomic uint16_t flags; /* VIRTQ_AVAIL_F_NO_INTERRUPT (2.7.7) */
	_Atomic uint16_t idx;	/* free-running; the next slot is idx % size */
	uint16_t ring[];
};
static_assert(sizeof(_Atomic uint16_t) == 2 && _Alignof(_Atomic uint16_t) == 2,
	      "atomic 16-bit ring fields keep the spec's layout");
static_assert(offsetof(struct virtq_avail, idx) == 2, "2.7.6 idx");
static_assert(offsetof(struct virtq_avail, ring) == 4, "2.7.6 ring");

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* 2.7.8 The Virtqueue Used Ring (device area): written by the device only,
 * 4-byte aligned; avail_event (VIRTIO_F_EVENT_IDX) follows ring[size]. */
struct virtq_used_elem {
	uint32_t id;  /* head of the descriptor chain */
	uint32_t len; /* bytes written into the device-writable part */
};
static_assert(sizeof(struct virtq_used_elem) == 8, "2.7.8 virtq_used_elem");

struct virtq_used {
	_Atomic uint16_t flags; /* VIRTQ_USED_F_NO_NOTIFY (2.7.10) */
	_Atomic uint16_t idx;
	struct virtq_used_elem ring[];
};
static_assert(offsetof(struct virtq_used, idx) == 2, "2.7.8 idx");
static_assert(offsetof(struct virtq_used, ring) == 4, "2.7.8 ring");

#define VIRTQ_USED_F_NO_NOTIFY 1

/* Bytes of each part for a queue of n entries (2.7, table of sizes),
 * including the event field of VIRTIO_F_EVENT_IDX. */
static inline size_t virtq_desc_size(unsigned n)
{
	return 16u * n;
}

static inline size_t virtq_avail_size(unsigned n)
{
	return 6u + 2u * n;
}

static inline size_t virtq_used_size(unsigned n)
{
	return 6u + 8u * n;
}

/* used_event sits after the available ring's entries (2.7.6) ... */
static inline _Atomic uint16_t *virtq_used_event(struct virtq_avail *avail, unsigned n)
{
	return (_Atomic uint16_t *)&avail->ring[n];
}

/* ... and avail_event after the used ring's entries (2.7.8). */
static inline _Atomic uint16_t *virtq_avail_event(struct virtq_used *used, unsigned n)
{
	return (_Atomic uint16_t *)&used->ring[n];
}

/*
 * 2.7.7.2 / 2.7.10: with VIRTIO_F_EVENT_IDX, a notification is due when the
 * index moved from old to new_idx past event, i.e. when the entry at index
 * event was written in this batch. All arithmetic is modulo 2^16.
 */
static inline int virtq_need_event(uint16_t event, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

#endif
