/* The C interface's module header for Swift: storport.h (the miniport's view) and the host seam. */
#ifndef CSTORPORT_MINIPORT_MODULE_H
#define CSTORPORT_MINIPORT_MODULE_H
#include "storport.h"
#include "srbhelper.h"
#include "storport_host.h"
#endif
