/*
 * storport_host.h — the seam between the C interface (storport.h's routines, compiled into the
 * host) and the Swift runtime that implements them. Not for miniports.
 *
 * Every routine a C miniport calls lands in one of three host entry points, with its arguments
 * unpacked (by the routine's documented signature) into 64-bit words:
 *   notification(type, ext, words)  — StorPortNotification and its inline wrappers;
 *   extended(code, ext, words)      — StorPortExtendedFunction and its inline wrappers;
 *   routine(id, ext, words)         — every other StorPort* / Ke* / Mm* / Interlocked* routine.
 * The Swift side installs the table once (storport_host_install) before any miniport is loaded.
 */
#ifndef STORPORT_HOST_H
#define STORPORT_HOST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Routine identifiers for StorportHost.routine (stable: traces and tests name them). */
typedef enum StorportRoutine {
  StorportRoutineInitialize = 1,        /* words: driverObject, registryPath, hwInitData, hwContext -> NTSTATUS */
  StorportRoutineGetDeviceBase,         /* busType, busNumber, ioAddress, bytes, inIoSpace -> pointer */
  StorportRoutineFreeDeviceBase,        /* mapped */
  StorportRoutineGetUncachedExtension,  /* configInfo, bytes -> pointer */
  StorportRoutineGetPhysicalAddress,    /* srb, virtual, lengthOut -> physical */
  StorportRoutineGetVirtualAddress,     /* physical -> pointer */
  StorportRoutineGetBusData,            /* type, bus, slot, buffer, length -> bytes */
  StorportRoutineSetBusDataByOffset,    /* type, bus, slot, buffer, offset, length -> bytes */
  StorportRoutineGetScatterGatherList,  /* srb -> pointer */
  StorportRoutineGetLogicalUnit,        /* path, target, lun -> pointer */
  StorportRoutineGetSrb,                /* path, target, lun, tag -> pointer */
  StorportRoutineStallExecution,        /* microseconds */
  StorportRoutineDebugPrint,            /* level, message (formatted) */
  StorportRoutineLogError,              /* srb, path, target, lun, code, uniqueId */
  StorportRoutineCompleteRequest,       /* path, target, lun, srbStatus */
  StorportRoutineBusy,                  /* requestsToComplete -> BOOLEAN */
  StorportRoutineReady,                 /* -> BOOLEAN */
  StorportRoutinePause,                 /* timeout (s) -> BOOLEAN */
  StorportRoutineResume,                /* -> BOOLEAN */
  StorportRoutineDeviceBusy,            /* path, target, lun, requests -> BOOLEAN */
  StorportRoutineDeviceReady,           /* path, target, lun -> BOOLEAN */
  StorportRoutineSynchronizeAccess,     /* routine, context -> BOOLEAN */
  StorportRoutineQuerySystemTime,       /* -> 100 ns units since 1601 */
  StorportRoutineReadRegister,          /* address, width (1, 2, 4, 8) -> value */
  StorportRoutineWriteRegister,         /* address, width, value */
  StorportRoutineReadPort,              /* address, width -> value */
  StorportRoutineWritePort,             /* address, width, value */
  StorportRoutineAcquireSpinLockEx,     /* lock, context, handle -> STOR_STATUS */
  StorportRoutineValidateRange,         /* busType, bus, ioAddress, bytes, inIoSpace -> BOOLEAN */
  StorportRoutineInterlocked,           /* address, width, 0 read / 1 read-modify-write or fence (a scheduling point) */
  StorportRoutineCurrentIrql,           /* -> KIRQL */
  StorportRoutineCurrentProcessor,      /* -> processor number */
  StorportRoutineProcessorCount,        /* -> processors */
  StorportRoutineAssertFailed,          /* expression, file, line */
  StorportRoutineMemoryAccess,          /* address, size, isWrite, pc (compiler instrumentation) */
  StorportRoutineMemoryRange,           /* address, size, isWrite, pc */
  StorportRoutineSetDeviceQueueDepth,   /* path, target, lun, depth -> BOOLEAN */
} StorportRoutine;

typedef struct StorportHost {
  void (*_Nonnull notification)(uint32_t type, void *_Nullable ext, const uint64_t *_Nonnull words);
  uint32_t (*_Nonnull extended)(uint32_t code, void *_Nullable ext, const uint64_t *_Nonnull words);
  uint64_t (*_Nonnull routine)(uint32_t routine, void *_Nullable ext, const uint64_t *_Nonnull words);
} StorportHost;

/* Installs the host's entry points (once; later calls replace them). */
void storport_host_install(const StorportHost *_Nonnull host);
/* Whether plain-memory instrumentation (ThreadSanitizer-style hooks in an instrumented miniport)
 * is reported to the host: off unless a race detector listens (cheap when off). */
void storport_host_set_memory_hooks(int enabled);

/* Calls into the miniport through a pointer the host keeps (each cast to its role type). */
uint32_t storport_call_driver_entry(void *_Nonnull entry, void *_Nullable driverObject, void *_Nullable registryPath);

/* dladdr: the symbol (may be NULL), file and load base of the object containing `address`.
 * Returns 0 when no loaded object contains it. */
int storport_symbol_of(const void *_Nullable address, const char *_Nullable *_Nullable name,
                       const char *_Nullable *_Nullable file, void *_Nullable *_Nullable base);

/* Whether [address, address + bytes) lies in the calling thread's stack. */
int storport_on_current_stack(const void *_Nullable address, size_t bytes);
/* A per-thread one-entry cache: the host object behind the device extension a thread used last
 * (valid while `generation` — bumped whenever an extension is freed — is unchanged). */
void *_Nullable storport_extension_cache_get(const void *_Nullable extension, uint64_t generation);
void storport_extension_cache_set(const void *_Nullable extension, void *_Nullable owner, uint64_t generation);

/* A per-thread table (16 entries) of the port's lock handles by C STOR_LOCK_HANDLE address:
 * put records `n` bytes (1, or 0 when full or too large); take copies them out and forgets them
 * (1), or returns 0 when the thread holds nothing under that address. */
int storport_lock_slot_put(const void *_Nonnull key, const void *_Nonnull bytes, size_t n);
int storport_lock_slot_take(const void *_Nonnull key, void *_Nonnull bytes, size_t n);

/* Points PORT_CONFIGURATION_INFORMATION.AccessRanges at `ranges` (count ACCESS_RANGEs). */
void storport_config_set_access_ranges(void *_Nonnull configInfo, void *_Nullable ranges, uint32_t count);

/* Formats a printf-style message with the miniport's arguments into `out`. */
int storport_format_message(char *_Nonnull out, size_t size, const char *_Nonnull format, ...);

/* The layout table: every documented structure's size and its fields' offsets, as this host's
 * compiler lays out storport.h (the tests compare it with the documented x64 layout). */
typedef struct StorportLayoutEntry {
  const char *_Nonnull structure;
  const char *_Nonnull field; /* "" for the structure's size */
  uint32_t value;
} StorportLayoutEntry;
const StorportLayoutEntry *_Nonnull storport_layout_table(size_t *_Nonnull count);


/* A request block's fields as the host keeps them, independent of which of the two documented
 * layouts (SCSI_REQUEST_BLOCK, or STORAGE_REQUEST_BLOCK with a BTL8 address and a SCSI CDB16
 * extended-data block) the miniport asked for with SrbTypeFlags. */
typedef struct StorportSrbFields {
  uint8_t function;
  uint8_t srbStatus;
  uint8_t scsiStatus;
  uint8_t pathId;
  uint8_t targetId;
  uint8_t lun;
  uint8_t queueTag;
  uint8_t queueAction;
  uint8_t cdbLength;
  uint8_t senseInfoBufferLength;
  uint32_t srbFlags;
  uint32_t dataTransferLength;
  uint32_t timeOutValue;
  uint32_t requestTag;
  void *_Nullable dataBuffer;
  void *_Nullable senseInfoBuffer;
  void *_Nullable originalRequest;
  void *_Nullable srbExtension;
  uint8_t cdb[16];
} StorportSrbFields;

/* Request-block header words, shared by processors: claimed and published atomically. */
static inline int storport_word_claim(uint64_t *_Nonnull word, uint64_t expected, uint64_t desired) {
  return __atomic_compare_exchange_n(word, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}
static inline uint64_t storport_word_load(const uint64_t *_Nonnull word) {
  return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}
static inline void storport_word_store(uint64_t *_Nonnull word, uint64_t value) {
  __atomic_store_n(word, value, __ATOMIC_RELEASE);
}

/* Bytes a request block of the chosen layout takes (extended: STORAGE_REQUEST_BLOCK). */
size_t storport_srb_size(int extended);
/* Writes `f` into the request block at `srb` in the chosen layout (all other bytes zeroed). */
void storport_srb_build(void *_Nonnull srb, int extended, const StorportSrbFields *_Nonnull f);
/* Reads what a miniport may change (status bytes, transfer and sense lengths) back into `f`. */
void storport_srb_read(const void *_Nonnull srb, int extended, StorportSrbFields *_Nonnull f);
/* The request block's DataBuffer and DataTransferLength, in either layout. */
void *_Nullable storport_srb_data_buffer(const void *_Nonnull srb, int extended);
uint32_t storport_srb_data_transfer_length(const void *_Nonnull srb, int extended);

#ifdef __cplusplus
}
#endif
#endif /* STORPORT_HOST_H */
