/* initguid.h — makes DEFINE_GUID define its GUIDs. Part of swift-storport. */
#define INITGUID
#include "guiddef.h"
