// The two variadic dispatchers of storport.h — StorPortNotification and StorPortExtendedFunction —
// unpack their arguments by each type's documented signature into 64-bit words and hand them
// to the host (storport_host.h). Unknown types reach the host too (with no words), so it can
// report them precisely instead of guessing at the arguments.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "storport.h"
#include "storport_host.h"

static StorportHost host_table;
static int host_installed;

void storport_host_install(const StorportHost *host) {
  host_table = *host;
  __atomic_store_n(&host_installed, 1, __ATOMIC_RELEASE);
}

const StorportHost *storport_host_table(void);
const StorportHost *storport_host_table(void) {
  if (__builtin_expect(!__atomic_load_n(&host_installed, __ATOMIC_ACQUIRE), 0)) {
    fprintf(stderr, "storport: a miniport called a StorPort routine before the host installed its services\n");
    return NULL;
  }
  return &host_table;
}

#define W(x) ((uint64_t)(uintptr_t)(x))

VOID StorPortNotification(SCSI_NOTIFICATION_TYPE NotificationType, PVOID HwDeviceExtension, ...) {
  const StorportHost *h = storport_host_table();
  if (!h) return;
  uint64_t w[8] = {0};
  va_list ap;
  va_start(ap, HwDeviceExtension);
  switch ((int)NotificationType) {
  case RequestComplete:  // PSCSI_REQUEST_BLOCK / PSTORAGE_REQUEST_BLOCK
    w[0] = W(va_arg(ap, void *));
    break;
  case NextRequest:
  case ResetDetected:
  case LinkUp:
  case LinkDown:
    break;
  case NextLuRequest:  // PathId, TargetId, Lun (UCHARs, promoted)
    w[0] = (uint64_t)(UCHAR)va_arg(ap, int);
    w[1] = (uint64_t)(UCHAR)va_arg(ap, int);
    w[2] = (uint64_t)(UCHAR)va_arg(ap, int);
    break;
  case BusChangeDetected:  // optional PathId is not read: Storport rescans every bus
    break;
  case RequestTimerCall:  // PHW_TIMER, ULONG MiniportTimerValue (µs)
    w[0] = W(va_arg(ap, void *));
    w[1] = (uint64_t)va_arg(ap, ULONG);
    break;
  case QueryTickCount:  // PLARGE_INTEGER
    w[0] = W(va_arg(ap, void *));
    break;
  case EnablePassiveInitialization:  // PHW_PASSIVE_INITIALIZE_ROUTINE, PLONG result
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    break;
  case InitializeDpc:  // PSTOR_DPC, PHW_DPC_ROUTINE
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    break;
  case IssueDpc:  // PSTOR_DPC, PVOID SystemArgument1, PVOID SystemArgument2, PLONG result
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    w[2] = W(va_arg(ap, void *));
    w[3] = W(va_arg(ap, void *));
    break;
  case AcquireSpinLock:  // STOR_SPINLOCK, PVOID LockContext, PSTOR_LOCK_HANDLE
    w[0] = (uint64_t)(uint32_t)va_arg(ap, int);
    w[1] = W(va_arg(ap, void *));
    w[2] = W(va_arg(ap, void *));
    break;
  case ReleaseSpinLock:  // PSTOR_LOCK_HANDLE
    w[0] = W(va_arg(ap, void *));
    break;
  default:
    break;
  }
  va_end(ap);
  h->notification((uint32_t)NotificationType, HwDeviceExtension, w);
}

ULONG StorPortExtendedFunction(STORPORT_FUNCTION_CODE FunctionCode, PVOID HwDeviceExtension, ...) {
  const StorportHost *h = storport_host_table();
  if (!h) return STOR_STATUS_UNSUCCESSFUL;
  uint64_t w[8] = {0};
  va_list ap;
  va_start(ap, HwDeviceExtension);
  switch ((int)FunctionCode) {
  case ExtFunctionAllocatePool:  // ULONG bytes, ULONG tag, PVOID *out
    w[0] = va_arg(ap, ULONG);
    w[1] = va_arg(ap, ULONG);
    w[2] = W(va_arg(ap, void *));
    break;
  case ExtFunctionFreePool:  // PVOID
  case ExtFunctionInitializeWorker:  // PVOID *worker
  case ExtFunctionFreeWorker:  // PVOID worker
  case ExtFunctionInitializeTimer:  // PVOID *timer
  case ExtFunctionFreeTimer:  // PVOID timer
  case ExtFunctionGetCurrentProcessorNumber:  // PPROCESSOR_NUMBER
  case ExtFunctionGetActiveGroupCount:  // PUSHORT
  case ExtFunctionGetActiveNodeCount:  // PULONG
  case ExtFunctionGetHighestNodeNumber:  // PULONG
    w[0] = W(va_arg(ap, void *));
    break;
  case ExtFunctionGetSystemAddress:  // PSCSI_REQUEST_BLOCK, PVOID *
  case ExtFunctionGetStartIoPerformanceParameters:  // srb, PSTARTIO_PERFORMANCE_PARAMETERS
  case ExtFunctionLogSystemEvent:  // details, PULONG size
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    break;
  case ExtFunctionQueryPerformanceCounter:  // PLARGE_INTEGER frequency (opt), PLARGE_INTEGER counter
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    break;
  case ExtFunctionAcquireMSISpinLock:  // ULONG MessageId, PULONG OldIrql
  case ExtFunctionGetMessageInterruptInformation:  // ULONG MessageId, PMESSAGE_INTERRUPT_INFORMATION
  case ExtFunctionGetNodeAffinity:  // ULONG node, PGROUP_AFFINITY
    w[0] = va_arg(ap, ULONG);
    w[1] = W(va_arg(ap, void *));
    break;
  case ExtFunctionReleaseMSISpinLock:  // ULONG MessageId, ULONG OldIrql
    w[0] = va_arg(ap, ULONG);
    w[1] = va_arg(ap, ULONG);
    break;
  case ExtFunctionGetGroupAffinity:  // USHORT group, PKAFFINITY
    w[0] = (USHORT)va_arg(ap, int);
    w[1] = W(va_arg(ap, void *));
    break;
  case ExtFunctionInitializePerformanceOptimizations:  // BOOLEAN query, PPERF_CONFIGURATION_DATA
    w[0] = (BOOLEAN)va_arg(ap, int);
    w[1] = W(va_arg(ap, void *));
    break;
  case ExtFunctionAllocateContiguousMemorySpecifyCacheNode: {
    // SIZE_T bytes, PHYSICAL_ADDRESS low, high, boundary, MEMORY_CACHING_TYPE, ULONG node, PVOID *out
    w[0] = va_arg(ap, SIZE_T);
    w[1] = (uint64_t)va_arg(ap, PHYSICAL_ADDRESS).QuadPart;
    w[2] = (uint64_t)va_arg(ap, PHYSICAL_ADDRESS).QuadPart;
    w[3] = (uint64_t)va_arg(ap, PHYSICAL_ADDRESS).QuadPart;
    w[4] = (uint64_t)(uint32_t)va_arg(ap, int);
    w[5] = va_arg(ap, ULONG);
    w[6] = W(va_arg(ap, void *));
    break;
  }
  case ExtFunctionFreeContiguousMemorySpecifyCache:  // PVOID base, SIZE_T bytes, MEMORY_CACHING_TYPE
    w[0] = W(va_arg(ap, void *));
    w[1] = va_arg(ap, SIZE_T);
    w[2] = (uint64_t)(uint32_t)va_arg(ap, int);
    break;
  case ExtFunctionQueueWorkItem:  // PHW_WORKITEM, PVOID worker, PVOID context
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    w[2] = W(va_arg(ap, void *));
    break;
  case ExtFunctionRequestTimer:  // PVOID timer, PHW_TIMER_EX, PVOID context, ULONGLONG value, ULONGLONG delay
    w[0] = W(va_arg(ap, void *));
    w[1] = W(va_arg(ap, void *));
    w[2] = W(va_arg(ap, void *));
    w[3] = va_arg(ap, ULONGLONG);
    w[4] = va_arg(ap, ULONGLONG);
    break;
  default:
    break;
  }
  va_end(ap);
  return h->extended((uint32_t)FunctionCode, HwDeviceExtension, w);
}

int storport_format_message(char *out, size_t size, const char *format, ...) {
  va_list ap;
  va_start(ap, format);
  int n = vsnprintf(out, size, format, ap);
  va_end(ap);
  return n;
}

uint32_t storport_call_driver_entry(void *entry, void *driverObject, void *registryPath) {
  return ((PDRIVER_INITIALIZE)entry)(driverObject, registryPath);
}
