// The exported StorPort* routines and the kernel routines miniports call directly (Ke*, Mm*,
// Dbg*): each packs its arguments into words and enters the host (storport_host.h).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "storport.h"
#include "storport_host.h"

const StorportHost *storport_host_table(void);

static uint64_t call(StorportRoutine r, void *ext, uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e,
                     uint64_t f) {
  const StorportHost *h = storport_host_table();
  if (!h) return 0;
  uint64_t w[6] = {a, b, c, d, e, f};
  return h->routine((uint32_t)r, ext, w);
}

#define P(x) ((uint64_t)(uintptr_t)(x))

ULONG StorPortInitialize(PVOID Argument1, PVOID Argument2, struct _HW_INITIALIZATION_DATA *HwInitializationData,
                         PVOID HwContext) {
  return (ULONG)call(StorportRoutineInitialize, NULL, P(Argument1), P(Argument2), P(HwInitializationData),
                     P(HwContext), 0, 0);
}

PVOID StorPortGetDeviceBase(PVOID HwDeviceExtension, INTERFACE_TYPE BusType, ULONG SystemIoBusNumber,
                            STOR_PHYSICAL_ADDRESS IoAddress, ULONG NumberOfBytes, BOOLEAN InIoSpace) {
  return (PVOID)(uintptr_t)call(StorportRoutineGetDeviceBase, HwDeviceExtension, (uint64_t)(int64_t)BusType,
                                SystemIoBusNumber, (uint64_t)IoAddress.QuadPart, NumberOfBytes, InIoSpace, 0);
}

VOID StorPortFreeDeviceBase(PVOID HwDeviceExtension, PVOID MappedAddress) {
  call(StorportRoutineFreeDeviceBase, HwDeviceExtension, P(MappedAddress), 0, 0, 0, 0, 0);
}

PVOID StorPortGetUncachedExtension(PVOID HwDeviceExtension, PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                                   ULONG NumberOfBytes) {
  return (PVOID)(uintptr_t)call(StorportRoutineGetUncachedExtension, HwDeviceExtension, P(ConfigInfo),
                                NumberOfBytes, 0, 0, 0, 0);
}

STOR_PHYSICAL_ADDRESS StorPortGetPhysicalAddress(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb,
                                                 PVOID VirtualAddress, ULONG *Length) {
  STOR_PHYSICAL_ADDRESS a;
  a.QuadPart = (LONGLONG)call(StorportRoutineGetPhysicalAddress, HwDeviceExtension, P(Srb), P(VirtualAddress),
                              P(Length), 0, 0, 0);
  return a;
}

PVOID StorPortGetVirtualAddress(PVOID HwDeviceExtension, STOR_PHYSICAL_ADDRESS PhysicalAddress) {
  return (PVOID)(uintptr_t)call(StorportRoutineGetVirtualAddress, HwDeviceExtension,
                                (uint64_t)PhysicalAddress.QuadPart, 0, 0, 0, 0, 0);
}

ULONG StorPortGetBusData(PVOID DeviceExtension, ULONG BusDataType, ULONG SystemIoBusNumber, ULONG SlotNumber,
                         PVOID Buffer, ULONG Length) {
  return (ULONG)call(StorportRoutineGetBusData, DeviceExtension, BusDataType, SystemIoBusNumber, SlotNumber,
                     P(Buffer), Length, 0);
}

ULONG StorPortSetBusDataByOffset(PVOID DeviceExtension, ULONG BusDataType, ULONG SystemIoBusNumber, ULONG SlotNumber,
                                 PVOID Buffer, ULONG Offset, ULONG Length) {
  return (ULONG)call(StorportRoutineSetBusDataByOffset, DeviceExtension, BusDataType, SystemIoBusNumber, SlotNumber,
                     P(Buffer), Offset, Length);
}

PSTOR_SCATTER_GATHER_LIST StorPortGetScatterGatherList(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb) {
  return (PSTOR_SCATTER_GATHER_LIST)(uintptr_t)call(StorportRoutineGetScatterGatherList, DeviceExtension, P(Srb), 0,
                                                    0, 0, 0, 0);
}

PVOID StorPortGetLogicalUnit(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun) {
  return (PVOID)(uintptr_t)call(StorportRoutineGetLogicalUnit, HwDeviceExtension, PathId, TargetId, Lun, 0, 0, 0);
}

PSCSI_REQUEST_BLOCK StorPortGetSrb(PVOID DeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun, LONG QueueTag) {
  return (PSCSI_REQUEST_BLOCK)(uintptr_t)call(StorportRoutineGetSrb, DeviceExtension, PathId, TargetId, Lun,
                                              (uint64_t)(int64_t)QueueTag, 0, 0);
}

VOID StorPortStallExecution(ULONG Delay) { call(StorportRoutineStallExecution, NULL, Delay, 0, 0, 0, 0, 0); }
VOID KeStallExecutionProcessor(ULONG MicroSeconds) {
  call(StorportRoutineStallExecution, NULL, MicroSeconds, 0, 0, 0, 0, 0);
}

static void print_message(ULONG level, const char *format, va_list ap) {
  char text[512];
  vsnprintf(text, sizeof text, format, ap);
  call(StorportRoutineDebugPrint, NULL, level, P(text), 0, 0, 0, 0);
}

VOID StorPortDebugPrint(ULONG DebugPrintLevel, PCCHAR DebugMessage, ...) {
  va_list ap;
  va_start(ap, DebugMessage);
  print_message(DebugPrintLevel, DebugMessage, ap);
  va_end(ap);
}

ULONG DbgPrint(PCSTR Format, ...) {
  va_list ap;
  va_start(ap, Format);
  print_message(DPFLTR_INFO_LEVEL, Format, ap);
  va_end(ap);
  return 0;
}

ULONG DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...) {
  (void)ComponentId;
  va_list ap;
  va_start(ap, Format);
  print_message(Level, Format, ap);
  va_end(ap);
  return 0;
}

VOID DbgBreakPoint(void) { StorPortHostAssertFailed("DbgBreakPoint()", "(miniport)", 0); }

VOID StorPortHostAssertFailed(PCSTR Expression, PCSTR File, ULONG Line) {
  call(StorportRoutineAssertFailed, NULL, P(Expression), P(File), Line, 0, 0, 0);
}

VOID StorPortLogError(PVOID HwDeviceExtension, PSCSI_REQUEST_BLOCK Srb, UCHAR PathId, UCHAR TargetId, UCHAR Lun,
                      ULONG ErrorCode, ULONG UniqueId) {
  call(StorportRoutineLogError, HwDeviceExtension, P(Srb), PathId, TargetId, Lun, ErrorCode, UniqueId);
}

VOID StorPortCompleteRequest(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun, UCHAR SrbStatus) {
  call(StorportRoutineCompleteRequest, HwDeviceExtension, PathId, TargetId, Lun, SrbStatus, 0, 0);
}

VOID StorPortMoveMemory(PVOID WriteBuffer, PVOID ReadBuffer, ULONG Length) {
  memmove(WriteBuffer, ReadBuffer, Length);
}

SIZE_T StorPortHostCompareMemory(const VOID *Source1, const VOID *Source2, SIZE_T Length) {
  const UCHAR *a = Source1, *b = Source2;
  SIZE_T i = 0;
  while (i < Length && a[i] == b[i]) i++;
  return i;
}

BOOLEAN StorPortBusy(PVOID HwDeviceExtension, ULONG RequestsToComplete) {
  return (BOOLEAN)call(StorportRoutineBusy, HwDeviceExtension, RequestsToComplete, 0, 0, 0, 0, 0);
}
BOOLEAN StorPortReady(PVOID HwDeviceExtension) {
  return (BOOLEAN)call(StorportRoutineReady, HwDeviceExtension, 0, 0, 0, 0, 0, 0);
}
BOOLEAN StorPortPause(PVOID HwDeviceExtension, ULONG TimeOut) {
  return (BOOLEAN)call(StorportRoutinePause, HwDeviceExtension, TimeOut, 0, 0, 0, 0, 0);
}
BOOLEAN StorPortResume(PVOID HwDeviceExtension) {
  return (BOOLEAN)call(StorportRoutineResume, HwDeviceExtension, 0, 0, 0, 0, 0, 0);
}
BOOLEAN StorPortDeviceBusy(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun,
                           ULONG RequestsToComplete) {
  return (BOOLEAN)call(StorportRoutineDeviceBusy, HwDeviceExtension, PathId, TargetId, Lun, RequestsToComplete, 0,
                       0);
}
BOOLEAN StorPortDeviceReady(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun) {
  return (BOOLEAN)call(StorportRoutineDeviceReady, HwDeviceExtension, PathId, TargetId, Lun, 0, 0, 0);
}
BOOLEAN StorPortSynchronizeAccess(PVOID HwDeviceExtension, PSTOR_SYNCHRONIZED_ACCESS SynchronizedAccessRoutine,
                                  PVOID Context) {
  return (BOOLEAN)call(StorportRoutineSynchronizeAccess, HwDeviceExtension, P(SynchronizedAccessRoutine),
                       P(Context), 0, 0, 0, 0);
}

VOID StorPortQuerySystemTime(PLARGE_INTEGER CurrentTime) {
  CurrentTime->QuadPart = (LONGLONG)call(StorportRoutineQuerySystemTime, NULL, 0, 0, 0, 0, 0, 0);
}

BOOLEAN StorPortValidateRange(PVOID HwDeviceExtension, INTERFACE_TYPE BusType, ULONG SystemIoBusNumber,
                              STOR_PHYSICAL_ADDRESS IoAddress, ULONG NumberOfBytes, BOOLEAN InIoSpace) {
  return (BOOLEAN)call(StorportRoutineValidateRange, HwDeviceExtension, (uint64_t)(int64_t)BusType,
                       SystemIoBusNumber, (uint64_t)IoAddress.QuadPart, NumberOfBytes, InIoSpace, 0);
}

STOR_PHYSICAL_ADDRESS StorPortConvertUlongToPhysicalAddress(ULONG_PTR UlongAddress) {
  STOR_PHYSICAL_ADDRESS a;
  a.QuadPart = (LONGLONG)UlongAddress;
  return a;
}
ULONG StorPortConvertPhysicalAddressToUlong(STOR_PHYSICAL_ADDRESS Address) { return Address.LowPart; }

ULONG StorPortAcquireSpinLockEx(PVOID DeviceExtension, STOR_SPINLOCK SpinLock, PVOID LockContext,
                                PSTOR_LOCK_HANDLE LockHandle) {
  return (ULONG)call(StorportRoutineAcquireSpinLockEx, DeviceExtension, (uint64_t)(uint32_t)SpinLock,
                     P(LockContext), P(LockHandle), 0, 0, 0);
}

// ---- registers and ports -------------------------------------------------------------------
#define READ_REG(name, type, width)                                                                \
  type StorPortReadRegister##name(PVOID HwDeviceExtension, type *Register) {                      \
    return (type)call(StorportRoutineReadRegister, HwDeviceExtension, P(Register), width, 0, 0, 0, 0); \
  }
#define WRITE_REG(name, type, width)                                                                    \
  VOID StorPortWriteRegister##name(PVOID HwDeviceExtension, type *Register, type Value) {              \
    call(StorportRoutineWriteRegister, HwDeviceExtension, P(Register), width, (uint64_t)Value, 0, 0, 0); \
  }
#define READ_PORT(name, type, width)                                                          \
  type StorPortReadPort##name(PVOID HwDeviceExtension, type *Port) {                         \
    return (type)call(StorportRoutineReadPort, HwDeviceExtension, P(Port), width, 0, 0, 0, 0); \
  }
#define WRITE_PORT(name, type, width)                                                               \
  VOID StorPortWritePort##name(PVOID HwDeviceExtension, type *Port, type Value) {                  \
    call(StorportRoutineWritePort, HwDeviceExtension, P(Port), width, (uint64_t)Value, 0, 0, 0);     \
  }
READ_REG(Uchar, UCHAR, 1)
READ_REG(Ushort, USHORT, 2)
READ_REG(Ulong, ULONG, 4)
READ_REG(Ulong64, ULONG64, 8)
WRITE_REG(Uchar, UCHAR, 1)
WRITE_REG(Ushort, USHORT, 2)
WRITE_REG(Ulong, ULONG, 4)
WRITE_REG(Ulong64, ULONG64, 8)
READ_PORT(Uchar, UCHAR, 1)
READ_PORT(Ushort, USHORT, 2)
READ_PORT(Ulong, ULONG, 4)
WRITE_PORT(Uchar, UCHAR, 1)
WRITE_PORT(Ushort, USHORT, 2)
WRITE_PORT(Ulong, ULONG, 4)

VOID StorPortReadRegisterBufferUlong(PVOID HwDeviceExtension, PULONG Register, PULONG Buffer, ULONG Count) {
  for (ULONG i = 0; i < Count; i++) Buffer[i] = StorPortReadRegisterUlong(HwDeviceExtension, Register);
}
VOID StorPortWriteRegisterBufferUlong(PVOID HwDeviceExtension, PULONG Register, PULONG Buffer, ULONG Count) {
  for (ULONG i = 0; i < Count; i++) StorPortWriteRegisterUlong(HwDeviceExtension, Register, Buffer[i]);
}

// ---- Ke / Mm -------------------------------------------------------------------------------
KIRQL KeGetCurrentIrql(void) { return (KIRQL)call(StorportRoutineCurrentIrql, NULL, 0, 0, 0, 0, 0, 0); }
ULONG KeGetCurrentProcessorNumber(void) {
  return (ULONG)call(StorportRoutineCurrentProcessor, NULL, 0, 0, 0, 0, 0, 0);
}
ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber) {
  ULONG n = KeGetCurrentProcessorNumber();
  if (ProcNumber) {
    ProcNumber->Group = 0;
    ProcNumber->Number = (UCHAR)n;
    ProcNumber->Reserved = 0;
  }
  return n;
}
ULONG KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors) {
  ULONG n = (ULONG)call(StorportRoutineProcessorCount, NULL, 0, 0, 0, 0, 0, 0);
  if (ActiveProcessors) *ActiveProcessors = n >= 64 ? ~(KAFFINITY)0 : (((KAFFINITY)1 << n) - 1);
  return n;
}
PHYSICAL_ADDRESS MmGetPhysicalAddress(PVOID BaseAddress) {
  PHYSICAL_ADDRESS a;
  a.QuadPart = (LONGLONG)call(StorportRoutineGetPhysicalAddress, NULL, 0, P(BaseAddress), 0, 0, 0, 0);
  return a;
}

// ---- the SCSI WMI library (scsiwmi.lib): no WMI consumer here ------------------------------
#include "scsiwmi.h"

BOOLEAN ScsiPortWmiDispatchFunction(PSCSI_WMILIB_CONTEXT WmiLibInfo, UCHAR MinorFunction, PVOID DeviceContext,
                                    PSCSIWMI_REQUEST_CONTEXT RequestContext, PVOID DataPath, ULONG BufferSize,
                                    PVOID Buffer) {
  (void)WmiLibInfo, (void)MinorFunction, (void)DeviceContext, (void)DataPath, (void)BufferSize, (void)Buffer;
  if (RequestContext) {
    RequestContext->ReturnStatus = SRB_STATUS_INVALID_REQUEST;
    RequestContext->ReturnSize = 0;
  }
  return FALSE;
}

VOID ScsiPortWmiPostProcess(PSCSIWMI_REQUEST_CONTEXT RequestContext, UCHAR SrbStatus, ULONG BufferUsed) {
  if (!RequestContext) return;
  RequestContext->ReturnStatus = SrbStatus;
  RequestContext->ReturnSize = BufferUsed;
}

VOID ScsiPortWmiFireLogicalUnitEvent(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun, LPGUID Guid,
                                     ULONG EventNumber, ULONG EventDataSize, PVOID EventData) {
  (void)HwDeviceExtension, (void)PathId, (void)TargetId, (void)Lun, (void)Guid, (void)EventNumber,
      (void)EventDataSize, (void)EventData;
}

VOID ScsiPortWmiFireAdapterEvent(PVOID HwDeviceExtension, LPGUID Guid, ULONG EventNumber, ULONG EventDataSize,
                                 PVOID EventData) {
  (void)HwDeviceExtension, (void)Guid, (void)EventNumber, (void)EventDataSize, (void)EventData;
}

// ---- registry (nothing persists) and queue depth -------------------------------------------
PUCHAR StorPortAllocateRegistryBuffer(PVOID HwDeviceExtension, PULONG Length) {
  PVOID buffer = NULL;
  if (!Length || StorPortAllocatePool(HwDeviceExtension, *Length, 0x47455253 /* 'SREG' */, &buffer) != STOR_STATUS_SUCCESS)
    return NULL;
  return buffer;
}

VOID StorPortFreeRegistryBuffer(PVOID HwDeviceExtension, PUCHAR Buffer) { StorPortFreePool(HwDeviceExtension, Buffer); }

BOOLEAN StorPortRegistryRead(PVOID HwDeviceExtension, PUCHAR ValueName, ULONG Global, ULONG Type, PUCHAR Buffer,
                             PULONG BufferLength) {
  (void)HwDeviceExtension, (void)ValueName, (void)Global, (void)Type, (void)Buffer;
  if (BufferLength) *BufferLength = 0;
  return FALSE;
}

BOOLEAN StorPortRegistryWrite(PVOID HwDeviceExtension, PUCHAR ValueName, ULONG Global, ULONG Type, PUCHAR Buffer,
                              ULONG BufferLength) {
  (void)HwDeviceExtension, (void)ValueName, (void)Global, (void)Type, (void)Buffer, (void)BufferLength;
  return FALSE;
}

BOOLEAN StorPortSetDeviceQueueDepth(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun, ULONG Depth) {
  return (BOOLEAN)call(StorportRoutineSetDeviceQueueDepth, HwDeviceExtension, PathId, TargetId, Lun, Depth, 0, 0);
}
