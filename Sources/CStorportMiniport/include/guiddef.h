/* guiddef.h — GUID and DEFINE_GUID. With INITGUID defined (initguid.h) DEFINE_GUID defines the
 * GUID; otherwise it declares it. Part of swift-storport. */
#ifndef STORPORT_GUIDDEF_H
#define STORPORT_GUIDDEF_H
#include "miniport.h"
#ifdef DEFINE_GUID
#undef DEFINE_GUID
#endif
#ifdef INITGUID
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) \
  const GUID name __attribute__((weak)) = {l, w1, w2, {b1, b2, b3, b4, b5, b6, b7, b8}}
#else
#define DEFINE_GUID(name, l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8) extern const GUID name
#endif
#define IsEqualGUID(a, b) (memcmp((a), (b), sizeof(GUID)) == 0)
#endif
