/* SPDX-License-Identifier: MIT */
/* Everything an application needs. */
#ifndef USNET_USNET_H
#define USNET_USNET_H

#include <usnet/log.h>
#include <usnet/pkt.h>
#include <usnet/port.h>
#include <usnet/proto.h>
#include <usnet/ring.h>
#include <usnet/stack.h>
#include <usnet/time.h>

#endif
