/* SPDX-License-Identifier: MIT */
/* The afxdp: port's XDP program (afxdp_prog.bpf.c) as an ELF object, built
 * with clang -target bpf and embedded by cmake/embed.cmake. Internal. */
#ifndef USNET_AFXDP_OBJ_H
#define USNET_AFXDP_OBJ_H

#include <stddef.h>

extern const unsigned char usnet_afxdp_obj[];
extern const size_t usnet_afxdp_obj_len;

#endif
