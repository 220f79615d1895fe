/* SPDX-License-Identifier: MIT */
/*
 * Registers and descriptors of the Intel 82540EM (e1000) and 82574L (e1000e)
 * as usnet uses them.
 *
 * Sources, cited as:
 *   SDM   PCI/PCI-X Family of Gigabit Ethernet Controllers Software
 *         Developer's Manual (8254x), 317453006EN rev 4.0. Register offsets
 *         and bits: chapter 13; descriptors: chapter 3; EEPROM: chapter 5;
 *         initialization: chapter 14.
 *   82574 Intel 82574 GbE Controller Family Datasheet, 317694 rev 3.4. Only
 *         what the 82574 adds or changes is listed under it; everything
 *         else is the 8254x register at the same offset. Section numbers of
 *         the 82574 datasheet are given as "82574 <register name>" where
 *         they could not be checked against the document.
 *
 * Every register is 32 bits wide and accessed with one aligned 32-bit MMIO
 * access in BAR 0 (SDM 13.1, "accessed as 32 bit values").
 */
#ifndef USNET_E1000_REGS_H
#define USNET_E1000_REGS_H

#include <stdint.h>

/* ---- General (SDM 13.4) -------------------------------------------------- */

/* SDM 13.4.1 Device Control */
#define E1000_CTRL		  0x00000
#define E1000_CTRL_FD		  (1u << 0)  /* full duplex (forced modes only) */
#define E1000_CTRL_GIO_MASTER_DIS (1u << 2)  /* 82574 CTRL: stop issuing DMA */
#define E1000_CTRL_LRST		  (1u << 3)  /* link reset (TBI/SerDes) */
#define E1000_CTRL_ASDE		  (1u << 5)  /* auto-speed detection enable */
#define E1000_CTRL_SLU		  (1u << 6)  /* set link up */
#define E1000_CTRL_ILOS		  (1u << 7)  /* invert loss-of-signal */
#define E1000_CTRL_FRCSPD	  (1u << 11) /* force speed */
#define E1000_CTRL_FRCDPX	  (1u << 12) /* force duplex */
#define E1000_CTRL_RST		  (1u << 26) /* device reset, self-clearing */
#define E1000_CTRL_VME		  (1u << 30) /* VLAN mode enable */
#define E1000_CTRL_PHY_RST	  (1u << 31) /* PHY reset */

/* SDM 13.4.2 Device Status */
#define E1000_STATUS		   0x00008
#define E1000_STATUS_FD		   (1u << 0)
#define E1000_STATUS_LU		   (1u << 1) /* link up */
#define E1000_STATUS_SPEED_SHIFT   6	     /* bits 7:6: 00 10, 01 100, 1x 1000 Mb/s */
#define E1000_STATUS_SPEED_MASK	   (3u << E1000_STATUS_SPEED_SHIFT)
#define E1000_STATUS_GIO_MASTER_EN (1u << 19) /* 82574 STATUS: DMA still possible */

/*
 * SDM 13.4.4 EEPROM Read (software access: SDM 5.3.1). Write ADDR with
 * START, poll DONE, take DATA. The 82574 moved DONE and widened ADDR
 * (82574 EERD): START bit 0, DONE bit 1, ADDR bits 15:2.
 */
#define E1000_EERD		    0x00014
#define E1000_EERD_START	    (1u << 0)
#define E1000_EERD_DONE_8254X	    (1u << 4)
#define E1000_EERD_ADDR_SHIFT_8254X 8
#define E1000_EERD_DONE_82574	    (1u << 1)
#define E1000_EERD_ADDR_SHIFT_82574 2
#define E1000_EERD_DATA_SHIFT	    16
/* SDM 5.6.1: the Ethernet address is EEPROM words 00h-02h, low byte first. */
#define E1000_EEPROM_MAC_WORD 0

/* SDM 13.4 flow control: address low/high, type, transmit timer value;
 * all 0 when flow control is not used (SDM 14.3). */
#define E1000_FCAL  0x00028
#define E1000_FCAH  0x0002C
#define E1000_FCT   0x00030
#define E1000_FCTTV 0x00170

/* 82574 CTRL_EXT Extended Device Control */
#define E1000_CTRL_EXT	       0x00018
#define E1000_CTRL_EXT_PBA_CLR (1u << 31) /* "PBA_support": IMS write clears MSI-X PBA */

/* ---- Interrupts (SDM 13.4.17 - 13.4.21) ---------------------------------- */

/* SDM 13.4.17 Interrupt Cause Read: clear on read (8254x); writing 1b
 * clears a bit on both models. The 82574 clears on read only when IMS is
 * zero or the read acknowledges an asserted interrupt (82574 ICR), so
 * usnet clears causes by writing them back. */
#define E1000_ICR	 0x000C0
#define E1000_ICR_TXDW	 (1u << 0)
#define E1000_ICR_TXQE	 (1u << 1)
#define E1000_ICR_LSC	 (1u << 2) /* link status change */
#define E1000_ICR_RXDMT0 (1u << 4)
#define E1000_ICR_RXO	 (1u << 6)  /* receiver overrun */
#define E1000_ICR_RXT0	 (1u << 7)  /* receiver timer: a frame was written back */
#define E1000_ICR_RXQ0	 (1u << 20) /* 82574 ICR: RX queue 0 (MSI-X mode) */
#define E1000_ICR_TXQ0	 (1u << 22) /* 82574 ICR: TX queue 0 (MSI-X mode) */
#define E1000_ICR_OTHER	 (1u << 24) /* 82574 ICR: other causes (MSI-X mode) */

#define E1000_ITR     0x000C4 /* SDM 13.4.18 Interrupt Throttling, 256 ns units */
#define E1000_ICS     0x000C8 /* SDM 13.4.19 Interrupt Cause Set */
#define E1000_IMS     0x000D0 /* SDM 13.4.20 Interrupt Mask Set/Read (same bits as ICR) */
#define E1000_IMC     0x000D8 /* SDM 13.4.21 Interrupt Mask Clear */
#define E1000_IRQ_ALL 0xFFFFFFFFu

/* 82574 EIAC Interrupt Auto Clear: ICR/IMS bits of MSI-X causes cleared
 * after their message is sent. usnet leaves it 0 and masks explicitly. */
#define E1000_EIAC 0x000DC

/* 82574 IVAR Interrupt Vector Allocation: 4 bits per cause, a 3-bit MSI-X
 * vector number and a valid bit. */
#define E1000_IVAR	       0x000E4
#define E1000_IVAR_VALID       0x8u
#define E1000_IVAR_RXQ0_SHIFT  0
#define E1000_IVAR_RXQ1_SHIFT  4
#define E1000_IVAR_TXQ0_SHIFT  8
#define E1000_IVAR_TXQ1_SHIFT  12
#define E1000_IVAR_OTHER_SHIFT 16

/* ---- Receive (SDM 13.4.22 - 13.4.31) ------------------------------------- */

/* SDM 13.4.22 Receive Control */
#define E1000_RCTL	       0x00100
#define E1000_RCTL_EN	       (1u << 1) /* receiver enable */
#define E1000_RCTL_SBP	       (1u << 2) /* store bad packets */
#define E1000_RCTL_UPE	       (1u << 3) /* unicast promiscuous */
#define E1000_RCTL_MPE	       (1u << 4) /* multicast promiscuous */
#define E1000_RCTL_LPE	       (1u << 5) /* long packet enable (> 1522 bytes) */
#define E1000_RCTL_LBM_MASK    (3u << 6)
#define E1000_RCTL_RDMTS_HALF  (0u << 8)  /* RXDMT0 at 1/2 of the ring free */
#define E1000_RCTL_DTYP_MASK   (3u << 10) /* 82574 RCTL: 00 legacy descriptors */
#define E1000_RCTL_MO_MASK     (3u << 12)
#define E1000_RCTL_BAM	       (1u << 15) /* accept broadcast */
#define E1000_RCTL_BSIZE_2048  (0u << 16) /* with BSEX = 0 */
#define E1000_RCTL_BSIZE_MASK  (3u << 16)
#define E1000_RCTL_VFE	       (1u << 18)   /* VLAN filter enable */
#define E1000_RCTL_BSEX	       (1u << 25)   /* buffer size x16 */
#define E1000_RCTL_SECRC       (1u << 26)   /* strip the Ethernet CRC */
#define E1000_RCTL_FLXBUF_MASK (0xFu << 27) /* 82574 RCTL: 0 = use BSIZE */
#define E1000_MAX_FRAME_NO_LPE 1522	    /* SDM 13.7.36: larger frames are oversize */

/* 82574 RFCTL Receive Filter Control: EXSTEN selects extended RX
 * descriptors; usnet keeps it clear for the legacy format. */
#define E1000_RFCTL	   0x05008
#define E1000_RFCTL_EXSTEN (1u << 15)

#define E1000_RDBAL 0x02800 /* SDM 13.4.25 RX Descriptor Base Low (16-byte aligned) */
#define E1000_RDBAH 0x02804 /* SDM 13.4.26 RX Descriptor Base High */
#define E1000_RDLEN 0x02808 /* SDM 13.4.27 RX Descriptor Length: bytes, multiple of 128 */
#define E1000_RDH   0x02810 /* SDM 13.4.28 RX Descriptor Head (hardware owned) */
#define E1000_RDT   0x02818 /* SDM 13.4.29 RX Descriptor Tail (software writes) */
#define E1000_RDTR  0x02820 /* SDM 13.4.30 RX Delay Timer */
#define E1000_RADV  0x0282C /* SDM 13.4.31 RX Absolute Delay Timer */

/* ---- Transmit (SDM 13.4.33 - 13.4.40) ------------------------------------ */

/* SDM 13.4.33 Transmit Control */
#define E1000_TCTL	      0x00400
#define E1000_TCTL_EN	      (1u << 1)
#define E1000_TCTL_PSP	      (1u << 3) /* pad short packets to 64 bytes */
#define E1000_TCTL_CT_SHIFT   4		/* collision threshold; recommended 0Fh */
#define E1000_TCTL_COLD_SHIFT 12	/* collision distance; full duplex 40h */
#define E1000_TCTL_CT_DEFAULT 0x0Fu
#define E1000_TCTL_COLD_FD    0x40u

/* SDM 13.4.34 Transmit IPG: IPGT 9:0, IPGR1 19:10, IPGR2 29:20. For
 * 10/100/1000BASE-T the SDM gives IPGT 10, IPGR1 8 (2/3 of IPGR2), IPGR2 6
 * for the IEEE 802.3 96-bit-time gap; the 82574 datasheet's defaults are
 * IPGT 8, IPGR1 8, IPGR2 6. */
#define E1000_TIPG			   0x00410
#define E1000_TIPG_VAL(ipgt, ipgr1, ipgr2) ((ipgt) | ((ipgr1) << 10) | ((ipgr2) << 20))

#define E1000_TDBAL 0x03800 /* SDM 13.4.36 TX Descriptor Base Low (16-byte aligned) */
#define E1000_TDBAH 0x03804 /* SDM 13.4.37 TX Descriptor Base High */
#define E1000_TDLEN 0x03808 /* SDM 13.4.38 TX Descriptor Length: bytes, multiple of 128 */
#define E1000_TDH   0x03810 /* SDM 13.4.39 TX Descriptor Head (hardware owned) */
#define E1000_TDT   0x03818 /* SDM 13.4.40 TX Descriptor Tail (software writes) */

/* 82574 TARC0 Transmit Arbitration Count: bit 10 enables queue 0. */
#define E1000_TARC0	  0x03840
#define E1000_TARC_ENABLE (1u << 10)

/* ---- Filters (SDM 13.5) --------------------------------------------------- */

#define E1000_MTA	  0x05200 /* SDM 13.5.1 Multicast Table Array, 128 x 32 bits */
#define E1000_MTA_ENTRIES 128
/* SDM 13.5.2 / 13.5.3 Receive Address Low/High, 16 pairs. RAL holds MAC
 * bytes 0-3 (byte 0 in bits 7:0), RAH bytes 4-5 and the Address Valid bit.
 * Write low before high; clear high before low (SDM 13.5.3 note). */
#define E1000_RAL(n)	  (0x05400 + 8 * (n))
#define E1000_RAH(n)	  (0x05404 + 8 * (n))
#define E1000_RAH_AV	  (1u << 31)
#define E1000_RAR_ENTRIES 16

/* ---- Statistics (SDM 13.7), clear on read -------------------------------- */

#define E1000_CRCERRS 0x04000 /* SDM 13.7.1 CRC errors */
#define E1000_RXERRC  0x0400C /* SDM 13.7.4 RX errors */
#define E1000_MPC     0x04010 /* SDM 13.7.5 missed packets (FIFO full / no buffers) */
#define E1000_RLEC    0x04040 /* SDM 13.7.15 RX length errors */
#define E1000_GPRC    0x04074 /* SDM 13.7.27 good packets received */
#define E1000_GPTC    0x04080 /* SDM 13.7.30 good packets transmitted */
#define E1000_GORCL   0x04088 /* SDM 13.7.31 good octets received (H read clears both) */
#define E1000_GORCH   0x0408C
#define E1000_GOTCL   0x04090 /* SDM 13.7.32 good octets transmitted */
#define E1000_GOTCH   0x04094
#define E1000_RNBC    0x040A0 /* SDM 13.7.33 RX no buffers (frame may still arrive) */

/* ---- Descriptors (SDM chapter 3) ----------------------------------------- */

/* SDM 3.2.3 Table 3-1: legacy receive descriptor; the 82574 uses the same
 * format while RFCTL.EXSTEN = 0 and RCTL.DTYP = 00b. */
struct e1000_rx_desc {
	uint64_t addr;	 /* buffer bus address (no alignment rule, SDM 3.2.2) */
	uint16_t length; /* bytes written, CRC included unless RCTL.SECRC */
	uint16_t csum;	 /* packet checksum */
	uint8_t status;	 /* SDM 3.2.3.1 */
	uint8_t errors;	 /* SDM 3.2.3.2 */
	uint16_t special;
};
_Static_assert(sizeof(struct e1000_rx_desc) == 16, "SDM 3.2.3: 16-byte RX descriptor");

#define E1000_RXD_STAT_DD   (1u << 0) /* descriptor done */
#define E1000_RXD_STAT_EOP  (1u << 1) /* end of packet */
#define E1000_RXD_STAT_IXSM (1u << 2) /* ignore checksum indication */
#define E1000_RXD_ERR_CE    (1u << 0) /* CRC or alignment error */
#define E1000_RXD_ERR_SE    (1u << 1) /* symbol error (TBI) */
#define E1000_RXD_ERR_SEQ   (1u << 2) /* sequence error (TBI) */
#define E1000_RXD_ERR_CXE   (1u << 4) /* carrier extension error */
#define E1000_RXD_ERR_TCPE  (1u << 5) /* TCP/UDP checksum error */
#define E1000_RXD_ERR_IPE   (1u << 6) /* IP checksum error */
#define E1000_RXD_ERR_RXE   (1u << 7) /* RX data error */
#define E1000_RXD_ERR_FRAME                                                                        \
	(E1000_RXD_ERR_CE | E1000_RXD_ERR_SE | E1000_RXD_ERR_SEQ | E1000_RXD_ERR_CXE |             \
	 E1000_RXD_ERR_RXE)

/* SDM 3.3.3 Table 3-8: legacy transmit descriptor (TDESC.DEXT = 0). */
struct e1000_tx_desc {
	uint64_t addr;	 /* buffer bus address */
	uint16_t length; /* at most 16288 bytes per descriptor */
	uint8_t cso;	 /* checksum offset (with CMD.IC) */
	uint8_t cmd;	 /* SDM 3.3.3.1 */
	uint8_t status;	 /* SDM 3.3.3.2, written back when CMD.RS */
	uint8_t css;	 /* checksum start */
	uint16_t special;
};
_Static_assert(sizeof(struct e1000_tx_desc) == 16, "SDM 3.3.3: 16-byte TX descriptor");

#define E1000_TXD_CMD_EOP  (1u << 0) /* end of packet */
#define E1000_TXD_CMD_IFCS (1u << 1) /* insert FCS */
#define E1000_TXD_CMD_RS   (1u << 3) /* report status: write back DD */
#define E1000_TXD_STAT_DD  (1u << 0) /* descriptor done */
#define E1000_TXD_MAX_LEN  16288     /* SDM 3.3.3, Table 3-9 */

#endif
