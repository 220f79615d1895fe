/* SPDX-License-Identifier: MIT */
/* The struct that embeds *ptr as its member `member`. Internal to usnet. */
#ifndef USNET_CONTAINER_OF_H
#define USNET_CONTAINER_OF_H

#include <stddef.h>

#define usnet_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#endif
