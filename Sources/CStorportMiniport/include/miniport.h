/*
 * miniport.h — the base types Storport miniports are written in, for Linux (LP64) hosts.
 *
 * Part of swift-storport. Written from Microsoft's public documentation of the Windows data
 * types (the "Windows Data Types" reference and the DDI reference pages); not derived from
 * any Microsoft header. Windows is LLP64: LONG and ULONG are 32 bits, pointers 64; here they
 * are declared with fixed-width C types so every structure has the x64 Windows layout.
 */
#ifndef STORPORT_MINIPORT_H
#define STORPORT_MINIPORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- calling conventions and decorations (meaningless on this host) ----------------------- */
#ifndef NTAPI
#define NTAPI
#endif
#ifndef STDCALL
#define STDCALL
#endif
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef __fastcall
#define __fastcall
#endif
#define FASTCALL
#define DECLSPEC_NOINLINE __attribute__((noinline))
#define DECLSPEC_ALIGN(x) __attribute__((aligned(x)))
#define DECLSPEC_IMPORT
#define DECLSPEC_EXPORT __attribute__((visibility("default")))
#define FORCEINLINE static inline __attribute__((always_inline, unused))
#ifndef __forceinline
#define __forceinline inline __attribute__((always_inline))
#endif
#ifndef __inline
#define __inline inline
#endif
#define STORPORT_API
#define NTSYSAPI
#define NTKERNELAPI
#define NTHALAPI
#define EXTERN_C extern
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_PARAMETER(P) ((void)(P))
#define DBG_UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#define C_ASSERT(e) _Static_assert((e), #e)
#define ANYSIZE_ARRAY 1
#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))
#define RTL_FIELD_SIZE(type, field) (sizeof(((type *)0)->field))
#define RTL_NUMBER_OF(a) (sizeof(a) / sizeof((a)[0]))
#define ARRAYSIZE(a) RTL_NUMBER_OF(a)
#define CONTAINING_RECORD(address, type, field) \
  ((type *)((char *)(address) - (uintptr_t)(&((type *)0)->field)))
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif

/* Parameter decorations of older driver code (documentation only). */
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef OPTIONAL
#define OPTIONAL
#endif
#ifndef CONST
#define CONST const
#endif

/* ---- SAL annotations: documentation only, defined empty ---------------------------------- */
#include "sal.h"

/* ---- scalar types (LLP64) ---------------------------------------------------------------- */
#ifndef VOID
#define VOID void
#endif
typedef void *PVOID;
typedef void *LPVOID;
typedef const void *PCVOID;
typedef char CHAR;
typedef short SHORT;
typedef int32_t LONG;
typedef int64_t LONGLONG;
typedef int64_t LONG64;
typedef unsigned char UCHAR;
typedef unsigned short USHORT;
typedef uint32_t ULONG;
typedef uint64_t ULONGLONG;
typedef uint64_t ULONG64;
typedef uint64_t DWORD64;
typedef uint32_t DWORD;
typedef unsigned short WORD;
typedef unsigned char BYTE;
typedef int INT;
typedef unsigned int UINT;
typedef int8_t INT8;
typedef int16_t INT16;
typedef int32_t INT32;
typedef int64_t INT64;
typedef uint8_t UINT8;
typedef uint16_t UINT16;
typedef uint32_t UINT32;
typedef uint64_t UINT64;
typedef int32_t LONG32;
typedef uint32_t ULONG32;
typedef uint32_t DWORD32;
typedef int64_t LONG_PTR;
typedef uint64_t ULONG_PTR;
typedef int64_t INT_PTR;
typedef uint64_t UINT_PTR;
typedef uint64_t SIZE_T;
typedef int64_t SSIZE_T;
typedef ULONG_PTR KAFFINITY;
typedef ULONG_PTR DWORD_PTR;
typedef UCHAR BOOLEAN;
typedef int BOOL;
typedef uint16_t WCHAR;
typedef LONG NTSTATUS;
typedef UCHAR KIRQL;
typedef KIRQL *PKIRQL;
typedef ULONG_PTR KSPIN_LOCK;
typedef KSPIN_LOCK *PKSPIN_LOCK;
typedef USHORT RTL_ATOMIC_PAD;

typedef CHAR *PCHAR, *PSTR, *LPSTR;
typedef const CHAR *PCSTR, *LPCSTR, *PCCHAR;
typedef SHORT *PSHORT;
typedef LONG *PLONG;
typedef LONGLONG *PLONGLONG;
typedef LONG64 *PLONG64;
typedef UCHAR *PUCHAR;
typedef USHORT *PUSHORT;
typedef ULONG *PULONG;
typedef ULONGLONG *PULONGLONG;
typedef ULONG64 *PULONG64;
typedef BOOLEAN *PBOOLEAN;
typedef WCHAR *PWCHAR, *PWSTR, *LPWSTR;
typedef const WCHAR *PCWSTR, *LPCWSTR;
typedef ULONG_PTR *PULONG_PTR;
typedef SIZE_T *PSIZE_T;
typedef PVOID HANDLE;
typedef HANDLE *PHANDLE;
typedef DWORD *PDWORD;
typedef BYTE *PBYTE;
typedef WORD *PWORD;
typedef DWORD64 *PDWORD64;
typedef KAFFINITY *PKAFFINITY;
typedef char CCHAR;
typedef short CSHORT;
typedef UINT8 *PUINT8;
typedef UINT16 *PUINT16;
typedef UINT32 *PUINT32;
typedef UINT64 *PUINT64;
typedef INT8 *PINT8;
typedef INT16 *PINT16;
typedef INT32 *PINT32;
typedef INT64 *PINT64;
typedef ULONG32 *PULONG32;
typedef LONG32 *PLONG32;
typedef INT *PINT;
typedef UINT *PUINT;

/* Pointer/integer conversions of the Windows headers (64-bit). */
#define PtrToUlong(p) ((ULONG)(ULONG_PTR)(p))
#define PtrToLong(p) ((LONG)(LONG_PTR)(p))
#define PtrToUshort(p) ((USHORT)(ULONG_PTR)(p))
#define UlongToPtr(u) ((PVOID)(ULONG_PTR)(u))
#define LongToPtr(l) ((PVOID)(LONG_PTR)(l))
#define IntToPtr(i) ((PVOID)(INT_PTR)(i))

/* Memory pages (x64). */
#define PAGE_SIZE 0x1000
#define PAGE_SHIFT 12
#define BYTE_OFFSET(Va) ((ULONG)((ULONG_PTR)(Va) & (PAGE_SIZE - 1)))
#define ROUND_TO_PAGES(Size) (((ULONG_PTR)(Size) + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1))
#define BYTES_TO_PAGES(Size) (((Size) >> PAGE_SHIFT) + (((Size) & (PAGE_SIZE - 1)) != 0))
#define ADDRESS_AND_SIZE_TO_SPAN_PAGES(Va, Size) \
  ((BYTE_OFFSET(Va) + ((SIZE_T)(Size)) + (PAGE_SIZE - 1)) >> PAGE_SHIFT)
#define MM_ANY_NODE_OK 0x80000000

/* Device I/O control codes. */
#define CTL_CODE(DeviceType, Function, Method, Access) \
  (((DeviceType) << 16) | ((Access) << 14) | ((Function) << 2) | (Method))
#define METHOD_BUFFERED 0
#define METHOD_IN_DIRECT 1
#define METHOD_OUT_DIRECT 2
#define METHOD_NEITHER 3
#define FILE_ANY_ACCESS 0
#define FILE_SPECIAL_ACCESS FILE_ANY_ACCESS
#define FILE_READ_ACCESS 0x0001
#define FILE_WRITE_ACCESS 0x0002
#define FILE_DEVICE_CONTROLLER 0x00000004
#define FILE_DEVICE_DISK 0x00000007
#define FILE_DEVICE_MASS_STORAGE 0x0000002d

#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif
#ifndef NULL
#define NULL ((void *)0)
#endif
#define MAXULONG 0xFFFFFFFFu
#define MAXLONG 0x7FFFFFFF
#define MAXUSHORT 0xFFFFu
#define MAXUCHAR 0xFFu
#define MAXULONGLONG 0xFFFFFFFFFFFFFFFFull
#define MAXLONGLONG 0x7FFFFFFFFFFFFFFFll

/* ---- IRQLs (x64) -------------------------------------------------------------------------- */
#define PASSIVE_LEVEL 0
#define LOW_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define CMCI_LEVEL 5
#define CLOCK_LEVEL 13
#define IPI_LEVEL 14
#define POWER_LEVEL 14
#define PROFILE_LEVEL 15
#define HIGH_LEVEL 15

/* ---- LARGE_INTEGER and physical addresses --------------------------------------------------- */
typedef union _LARGE_INTEGER {
  struct {
    ULONG LowPart;
    LONG HighPart;
  };
  struct {
    ULONG LowPart;
    LONG HighPart;
  } u;
  LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
  struct {
    ULONG LowPart;
    ULONG HighPart;
  };
  struct {
    ULONG LowPart;
    ULONG HighPart;
  } u;
  ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

typedef LARGE_INTEGER PHYSICAL_ADDRESS, *PPHYSICAL_ADDRESS;

/* ---- lists, strings, GUIDs -------------------------------------------------------------------- */
typedef struct _LIST_ENTRY {
  struct _LIST_ENTRY *Flink;
  struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY;

/* Doubly linked lists (the Rtl list routines, inline). */
static inline __attribute__((unused)) void InitializeListHead(PLIST_ENTRY ListHead) {
  ListHead->Flink = ListHead->Blink = ListHead;
}
static inline __attribute__((unused)) BOOLEAN IsListEmpty(const LIST_ENTRY *ListHead) {
  return (BOOLEAN)(ListHead->Flink == ListHead);
}
static inline __attribute__((unused)) BOOLEAN RemoveEntryList(PLIST_ENTRY Entry) {
  PLIST_ENTRY next = Entry->Flink, prev = Entry->Blink;
  prev->Flink = next;
  next->Blink = prev;
  return (BOOLEAN)(prev == next);
}
static inline __attribute__((unused)) PLIST_ENTRY RemoveHeadList(PLIST_ENTRY ListHead) {
  PLIST_ENTRY entry = ListHead->Flink;
  RemoveEntryList(entry);
  return entry;
}
static inline __attribute__((unused)) PLIST_ENTRY RemoveTailList(PLIST_ENTRY ListHead) {
  PLIST_ENTRY entry = ListHead->Blink;
  RemoveEntryList(entry);
  return entry;
}
static inline __attribute__((unused)) void InsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry) {
  PLIST_ENTRY last = ListHead->Blink;
  Entry->Flink = ListHead;
  Entry->Blink = last;
  last->Flink = Entry;
  ListHead->Blink = Entry;
}
static inline __attribute__((unused)) void InsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry) {
  PLIST_ENTRY first = ListHead->Flink;
  Entry->Flink = first;
  Entry->Blink = ListHead;
  first->Blink = Entry;
  ListHead->Flink = Entry;
}

typedef struct _SINGLE_LIST_ENTRY {
  struct _SINGLE_LIST_ENTRY *Next;
} SINGLE_LIST_ENTRY, *PSINGLE_LIST_ENTRY;

typedef struct _UNICODE_STRING {
  USHORT Length;
  USHORT MaximumLength;
  PWSTR Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _GUID {
  ULONG Data1;
  USHORT Data2;
  USHORT Data3;
  UCHAR Data4[8];
} GUID, *PGUID, *LPGUID;
typedef const GUID *LPCGUID;

/* ---- processors and groups --------------------------------------------------------------------- */
typedef struct _GROUP_AFFINITY {
  KAFFINITY Mask;
  USHORT Group;
  USHORT Reserved[3];
} GROUP_AFFINITY, *PGROUP_AFFINITY;

typedef struct _PROCESSOR_NUMBER {
  USHORT Group;
  UCHAR Number;
  UCHAR Reserved;
} PROCESSOR_NUMBER, *PPROCESSOR_NUMBER;

/* ---- interfaces, buses, interrupts, caching ------------------------------------------------------ */
typedef enum _INTERFACE_TYPE {
  InterfaceTypeUndefined = -1,
  Internal = 0,
  Isa,
  Eisa,
  MicroChannel,
  TurboChannel,
  PCIBus,
  VMEBus,
  NuBus,
  PCMCIABus,
  CBus,
  MPIBus,
  MPSABus,
  ProcessorInternal,
  InternalPowerBus,
  PNPISABus,
  PNPBus,
  Vmcs,
  ACPIBus,
  MaximumInterfaceType
} INTERFACE_TYPE, *PINTERFACE_TYPE;

typedef enum _BUS_DATA_TYPE {
  ConfigurationSpaceUndefined = -1,
  Cmos,
  EisaConfiguration,
  Pos,
  CbusConfiguration,
  PCIConfiguration,
  VMEConfiguration,
  NuBusConfiguration,
  PCMCIAConfiguration,
  MPIConfiguration,
  MPSAConfiguration,
  PNPISAConfiguration,
  SgiInternalConfiguration,
  MaximumBusDataType
} BUS_DATA_TYPE, *PBUS_DATA_TYPE;

typedef enum _KINTERRUPT_MODE { LevelSensitive, Latched } KINTERRUPT_MODE;

typedef enum _INTERRUPT_POLARITY {
  InterruptPolarityUnknown,
  InterruptActiveHigh,
  InterruptActiveLow,
  InterruptRisingEdge = InterruptActiveHigh,
  InterruptFallingEdge = InterruptActiveLow,
  InterruptActiveBoth,
  InterruptActiveBothTriggerLow = InterruptActiveBoth,
  InterruptActiveBothTriggerHigh
} KINTERRUPT_POLARITY, *PKINTERRUPT_POLARITY;

typedef enum _MEMORY_CACHING_TYPE {
  MmNonCached = 0,
  MmCached = 1,
  MmWriteCombined = 2,
  MmHardwareCoherentCached,
  MmNonCachedUnordered,
  MmUSWCCached,
  MmMaximumCacheType,
  MmNotMapped = -1
} MEMORY_CACHING_TYPE;

typedef enum _DMA_WIDTH { Width8Bits, Width16Bits, Width32Bits, Width64Bits, WidthNoWrap, MaximumDmaWidth } DMA_WIDTH;
typedef enum _DMA_SPEED { Compatible, TypeA, TypeB, TypeC, TypeF, MaximumDmaSpeed } DMA_SPEED;

typedef enum _DEVICE_POWER_STATE {
  PowerDeviceUnspecified = 0,
  PowerDeviceD0,
  PowerDeviceD1,
  PowerDeviceD2,
  PowerDeviceD3,
  PowerDeviceMaximum
} DEVICE_POWER_STATE, *PDEVICE_POWER_STATE;

typedef enum _SYSTEM_POWER_STATE {
  PowerSystemUnspecified = 0,
  PowerSystemWorking,
  PowerSystemSleeping1,
  PowerSystemSleeping2,
  PowerSystemSleeping3,
  PowerSystemHibernate,
  PowerSystemShutdown,
  PowerSystemMaximum
} SYSTEM_POWER_STATE, *PSYSTEM_POWER_STATE;

/* ---- NTSTATUS values miniports test --------------------------------------------------------- */
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BBL)
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#define STATUS_IO_DEVICE_ERROR ((NTSTATUS)0xC0000185L)
#define STATUS_DEVICE_NOT_READY ((NTSTATUS)0xC00000A3L)
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)

/* ---- kernel services miniports call directly (supplied by the host) -------------------------- */
/* Interlocked operations are full barriers and, on the simulated platform, scheduling points
 * the explorer interleaves at (and synchronisation the race detector sees). */
LONG InterlockedIncrement(LONG volatile *Addend);
LONG InterlockedDecrement(LONG volatile *Addend);
LONG InterlockedExchange(LONG volatile *Target, LONG Value);
LONG InterlockedExchangeAdd(LONG volatile *Addend, LONG Value);
LONG InterlockedCompareExchange(LONG volatile *Destination, LONG Exchange, LONG Comparand);
LONG InterlockedOr(LONG volatile *Destination, LONG Value);
LONG InterlockedAnd(LONG volatile *Destination, LONG Value);
LONG InterlockedXor(LONG volatile *Destination, LONG Value);
LONG64 InterlockedIncrement64(LONG64 volatile *Addend);
LONG64 InterlockedDecrement64(LONG64 volatile *Addend);
LONG64 InterlockedExchange64(LONG64 volatile *Target, LONG64 Value);
LONG64 InterlockedExchangeAdd64(LONG64 volatile *Addend, LONG64 Value);
LONG64 InterlockedCompareExchange64(LONG64 volatile *Destination, LONG64 Exchange, LONG64 Comparand);
LONG64 InterlockedOr64(LONG64 volatile *Destination, LONG64 Value);
LONG64 InterlockedAnd64(LONG64 volatile *Destination, LONG64 Value);
PVOID InterlockedExchangePointer(PVOID volatile *Target, PVOID Value);
PVOID InterlockedCompareExchangePointer(PVOID volatile *Destination, PVOID Exchange, PVOID Comparand);
BOOLEAN InterlockedBitTestAndSet(LONG volatile *Base, LONG Offset);
BOOLEAN InterlockedBitTestAndReset(LONG volatile *Base, LONG Offset);
BOOLEAN InterlockedBitTestAndSet64(LONG64 volatile *Base, LONG64 Offset);
BOOLEAN InterlockedBitTestAndReset64(LONG64 volatile *Base, LONG64 Offset);
/* A full memory barrier (also a scheduling point). */
void KeMemoryBarrier(void);
#define MemoryBarrier KeMemoryBarrier
#define _ReadWriteBarrier() __asm__ __volatile__("" ::: "memory")
#define KeMemoryBarrierWithoutFence() __asm__ __volatile__("" ::: "memory")
#define YieldProcessor() __builtin_ia32_pause()

/* KeStallExecutionProcessor: busy-waits MicroSeconds (virtual time on the simulated platform). */
VOID KeStallExecutionProcessor(ULONG MicroSeconds);
/* KeGetCurrentIrql: the IRQL the port model has the calling processor at. */
KIRQL KeGetCurrentIrql(void);
/* KeGetCurrentProcessorNumber / Ex: the emulated processor the callback runs on. */
ULONG KeGetCurrentProcessorNumber(void);
ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber);
ULONG KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors);
/* MmGetPhysicalAddress: the device-visible address of host memory (identity on this host). */
PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress);
/* DbgPrint / DbgPrintEx / DbgBreakPoint: to the host's diagnostic log. */
ULONG DbgPrint(PCSTR Format, ...);
ULONG DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...);
VOID DbgBreakPoint(void);
#define DPFLTR_IHVDRIVER_ID 77
#define DPFLTR_STORMINIPORT_ID 82
#define DPFLTR_ERROR_LEVEL 0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL 2
#define DPFLTR_INFO_LEVEL 3
#define KdPrint(x) DbgPrint x
#define KdPrintEx(x) DbgPrintEx x
#define ASSERT(e) ((void)((e) ? 0 : (StorPortHostAssertFailed(#e, __FILE__, __LINE__), 0)))
#define NT_ASSERT(e) ASSERT(e)
#define NT_VERIFY(e) ASSERT(e)
/* A miniport assertion failed: reported by the host with the file and line (not a crash). */
VOID StorPortHostAssertFailed(PCSTR Expression, PCSTR File, ULONG Line);

/* ---- Rtl memory helpers -------------------------------------------------------------------------- */
void *memcpy(void *, const void *, size_t);
void *memmove(void *, const void *, size_t);
void *memset(void *, int, size_t);
int memcmp(const void *, const void *, size_t);
/* The kernel's C runtime string routines. */
size_t strlen(const char *);
int strcmp(const char *, const char *);
int strncmp(const char *, const char *, size_t);
char *strncpy(char *, const char *, size_t);
/* memcpy_s: copies Count bytes unless they do not fit DestinationSize (then zeroes the
 * destination and returns EINVAL-like 22), as the kernel CRT's bounds-checked copy does. */
static inline __attribute__((unused)) int memcpy_s(void *Destination, size_t DestinationSize, const void *Source,
                                                   size_t Count) {
  if (!Destination) return 22;
  if (!Source || Count > DestinationSize) {
    memset(Destination, 0, DestinationSize);
    return Source ? 34 : 22;
  }
  memcpy(Destination, Source, Count);
  return 0;
}
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define RtlEqualMemory(a, b, n) (memcmp((a), (b), (n)) == 0)
#define RtlCompareMemory(a, b, n) StorPortHostCompareMemory((a), (b), (n))
SIZE_T StorPortHostCompareMemory(const VOID *Source1, const VOID *Source2, SIZE_T Length);

#ifdef __cplusplus
}
#endif
#endif /* STORPORT_MINIPORT_H */
