/* SPDX-License-Identifier: MIT */
/*
 * usnetd's forwarding: a burst from one source, each frame to where the
 * switch's verdict (switch.h) sends it, collected per destination and sent
 * once per loop (docs/usnetd.md, "The model": one thread).
 *
 * It works on the daemon's tables (struct usnetd in usnetd.h) and owns no
 * fd nor thread: the caller has filled in, once,
 *   pool            client frames and flood copies
 *   up[]            uplinks: port, idx, rxq, out.uplink = the uplink itself
 *   ifs[], swp[]    interfaces: idx, conn, out.iface = the interface,
 *                   cache.dst = USNETD_SW_CACHE_NONE; swp[] as switch.h says
 *   mactab          every interface's MAC
 * and keeps active[]/nactive and each interface's `up` true to the memif
 * connections (usnetd.c's on_up/on_down). Forwarding writes the batches,
 * flush[]/nflush, the switch counters of struct usnetd_iface/_uplink, and
 * sets ctl_due when a client's connection shows a fault. One thread.
 */
#ifndef USNETD_FORWARD_H
#define USNETD_FORWARD_H

#include "usnetd.h"

/* Receive a burst from each of f's C2S rings and switch every frame. Frames received. */
unsigned usnetd_poll_iface(struct usnetd *d, struct usnetd_iface *f);
/* The same for each of u's RX queues (u->rxq of them). Frames received. */
unsigned usnetd_poll_uplink(struct usnetd *d, struct usnetd_uplink *u);
/* Send everything collected since the last flush; frames not taken are dropped and counted. */
void usnetd_flush_all(struct usnetd *d);

#endif
