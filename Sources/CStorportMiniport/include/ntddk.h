/* ntddk.h — the kernel definitions a Storport miniport may reach for beside storport.h: here,
 * the base types and kernel routines of miniport.h (a miniport calls nothing else in the
 * kernel). Part of swift-storport. */
#ifndef STORPORT_NTDDK_H
#define STORPORT_NTDDK_H
#include "miniport.h"
#endif
