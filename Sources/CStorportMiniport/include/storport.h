/*
 * storport.h — the Storport miniport interface: role types for every callback,
 * HW_INITIALIZATION_DATA, PORT_CONFIGURATION_INFORMATION, the Storport objects (STOR_DPC,
 * STOR_LOCK_HANDLE, PERF_CONFIGURATION_DATA, …), the StorPort* routines, and the inline
 * wrappers that funnel into StorPortNotification and StorPortExtendedFunction as the documented
 * routines do.
 *
 * Part of swift-storport. Written from Microsoft's public DDI reference for storport.h (one page
 * per routine and structure); not derived from any Microsoft header. Layouts are those of x64
 * Windows (LLP64); tests check every documented structure's size and field offsets.
 *
 * The routines are supplied by the host process that loads the miniport (`storport run
 * --miniport PATH.so`): they enter the same checked services as Swift miniports, so every
 * verifier rule applies.
 */
#ifndef STORPORT_STORPORT_H
#define STORPORT_STORPORT_H

#include "miniport.h"
#include "srb.h"

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NTDDI_VERSION
#define NTDDI_VERSION 0x0A000000 /* NTDDI_WIN10 */
#endif
#define NTDDI_WIN7 0x06010000
#define NTDDI_WIN8 0x06020000
#define NTDDI_WINBLUE 0x06030000
#define NTDDI_WIN10 0x0A000000

typedef PHYSICAL_ADDRESS STOR_PHYSICAL_ADDRESS, *PSTOR_PHYSICAL_ADDRESS;
typedef PHYSICAL_ADDRESS SCSI_PHYSICAL_ADDRESS, *PSCSI_PHYSICAL_ADDRESS;

/* ---- return values of HwStorFindAdapter ---------------------------------------------------- */
#define SP_RETURN_NOT_FOUND 0
#define SP_RETURN_FOUND 1
#define SP_RETURN_ERROR 2
#define SP_RETURN_BAD_CONFIG 3

#define SP_UNINITIALIZED_VALUE ((ULONG)0xFFFFFFFFu)
#define STOR_MAP_NO_BUFFERS 0
#define STOR_MAP_ALL_BUFFERS 1
#define STOR_MAP_NON_READ_WRITE_BUFFERS 2
#define STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE 3
#define STOR_FEATURE_VIRTUAL_MINIPORT 0x00000001
#define STOR_FEATURE_ATA_PASS_THROUGH 0x00000002
#define STOR_FEATURE_FULL_PNP_DEVICE_CAPABILITIES 0x00000004
#define STOR_FEATURE_DUMP_POINTERS 0x00000008
#define STOR_FEATURE_DEVICE_NAME_NO_SUFFIX 0x00000010
#define STOR_FEATURE_DUMP_RESUME_CAPABLE 0x00000020
#define STOR_FEATURE_DEVICE_DESCRIPTOR_FROM_ATA_INFO_VPD 0x00000040
#define STOR_FEATURE_ADAPTER_CONTROL_PRE_FINDADAPTER 0x00000100
#define STOR_FEATURE_EXTRA_IO_INFORMATION 0x00000080
#define STOR_FEATURE_ADAPTER_NOT_REQUIRE_IO_PORT 0x00000200
#define STOR_FEATURE_SET_ADAPTER_INTERFACE_TYPE 0x00000800
#define STOR_FEATURE_DUMP_INFO 0x00001000
#define STOR_FEATURE_SUPPORTS_NVME_ADAPTER 0x00004000
#define SCSI_DMA64_MINIPORT_SUPPORTED 0x01
#define SCSI_DMA64_MINIPORT_FULL64BIT_SUPPORTED 0x02
#define SCSI_DMA64_MINIPORT_FULL64BIT_NO_BOUNDARY_REQ_SUPPORTED 0x03
#define SCSI_DMA64_SYSTEM_SUPPORTED 0x80
#define ADDRESS_TYPE_FLAG_BTL8 0x00000001
#define SP_VER_TRACE_SUPPORT 0x0010

/* ---- the adapter's resources ---------------------------------------------------------------------- */
/* ACCESS_RANGE: one bus-relative I/O port or memory range (a PCI BAR). */
typedef struct _ACCESS_RANGE {
  STOR_PHYSICAL_ADDRESS RangeStart;
  ULONG RangeLength;
  BOOLEAN RangeInMemory;
} ACCESS_RANGE, *PACCESS_RANGE;

typedef struct _MEMORY_REGION {
  PUCHAR VirtualBase;
  PHYSICAL_ADDRESS PhysicalBase;
  ULONG Length;
} MEMORY_REGION, *PMEMORY_REGION;

typedef enum _STOR_SYNCHRONIZATION_MODEL {
  StorSynchronizeHalfDuplex,
  StorSynchronizeFullDuplex
} STOR_SYNCHRONIZATION_MODEL;

typedef enum _INTERRUPT_SYNCHRONIZATION_MODE {
  InterruptSupportNone,
  InterruptSynchronizeAll,
  InterruptSynchronizePerMessage
} INTERRUPT_SYNCHRONIZATION_MODE;

/* ---- role types: one per miniport callback ---------------------------------------------------------- */
typedef BOOLEAN HW_INITIALIZE(_In_ PVOID DeviceExtension);
typedef HW_INITIALIZE *PHW_INITIALIZE;
typedef BOOLEAN HW_BUILDIO(_In_ PVOID DeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb);
typedef HW_BUILDIO *PHW_BUILDIO;
typedef BOOLEAN HW_STARTIO(_In_ PVOID DeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb);
typedef HW_STARTIO *PHW_STARTIO;
typedef BOOLEAN HW_INTERRUPT(_In_ PVOID DeviceExtension);
typedef HW_INTERRUPT *PHW_INTERRUPT;
typedef BOOLEAN HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE(_In_ PVOID HwDeviceExtension, _In_ ULONG MessageId);
typedef HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE *PHW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE;
typedef VOID HW_TIMER(_In_ PVOID DeviceExtension);
typedef HW_TIMER *PHW_TIMER;
typedef VOID HW_TIMER_EX(_In_ PVOID DeviceExtension, _In_opt_ PVOID Context);
typedef HW_TIMER_EX *PHW_TIMER_EX;
typedef VOID HW_DMA_STARTED(_In_ PVOID DeviceExtension);
typedef HW_DMA_STARTED *PHW_DMA_STARTED;
typedef BOOLEAN HW_RESET_BUS(_In_ PVOID DeviceExtension, _In_ ULONG PathId);
typedef HW_RESET_BUS *PHW_RESET_BUS;
typedef BOOLEAN HW_ADAPTER_STATE(_In_ PVOID DeviceExtension, _In_ PVOID Context, _In_ BOOLEAN SaveState);
typedef HW_ADAPTER_STATE *PHW_ADAPTER_STATE;
typedef BOOLEAN HW_PASSIVE_INITIALIZE_ROUTINE(_In_ PVOID DeviceExtension);
typedef HW_PASSIVE_INITIALIZE_ROUTINE *PHW_PASSIVE_INITIALIZE_ROUTINE;
typedef struct _STOR_DPC STOR_DPC, *PSTOR_DPC;
typedef VOID HW_DPC_ROUTINE(_In_ PSTOR_DPC Dpc, _In_ PVOID HwDeviceExtension, _In_opt_ PVOID SystemArgument1,
                            _In_opt_ PVOID SystemArgument2);
typedef HW_DPC_ROUTINE *PHW_DPC_ROUTINE;
typedef BOOLEAN STOR_SYNCHRONIZED_ACCESS(_In_ PVOID HwDeviceExtension, _In_opt_ PVOID Context);
typedef STOR_SYNCHRONIZED_ACCESS *PSTOR_SYNCHRONIZED_ACCESS;
typedef VOID HW_WORKITEM(_In_ PVOID HwDeviceExtension, _In_opt_ PVOID Context, _In_ PVOID Worker);
typedef HW_WORKITEM *PHW_WORKITEM;
typedef VOID HW_FREE_ADAPTER_RESOURCES(_In_ PVOID DeviceExtension);
typedef HW_FREE_ADAPTER_RESOURCES *PHW_FREE_ADAPTER_RESOURCES;
typedef VOID HW_PROCESS_SERVICE_REQUEST(_In_ PVOID DeviceExtension, _In_ PVOID Irp);
typedef HW_PROCESS_SERVICE_REQUEST *PHW_PROCESS_SERVICE_REQUEST;
typedef VOID HW_COMPLETE_SERVICE_IRP(_In_ PVOID DeviceExtension);
typedef HW_COMPLETE_SERVICE_IRP *PHW_COMPLETE_SERVICE_IRP;
typedef VOID HW_INITIALIZE_TRACING(_In_ PVOID Arg1, _In_ PVOID Arg2);
typedef HW_INITIALIZE_TRACING *PHW_INITIALIZE_TRACING;
typedef VOID HW_CLEANUP_TRACING(_In_ PVOID Arg1);
typedef HW_CLEANUP_TRACING *PHW_CLEANUP_TRACING;
typedef VOID HW_TRACING_ENABLED(_In_ PVOID HwDeviceExtension, _In_ BOOLEAN Enabled);
typedef HW_TRACING_ENABLED *PHW_TRACING_ENABLED;

/* ---- adapter control -------------------------------------------------------------------------------- */
typedef enum _SCSI_ADAPTER_CONTROL_TYPE {
  ScsiQuerySupportedControlTypes = 0,
  ScsiStopAdapter,
  ScsiRestartAdapter,
  ScsiSetBootConfig,
  ScsiSetRunningConfig,
  ScsiPowerSettingNotification,
  ScsiAdapterPower,
  ScsiAdapterPoFxPowerRequired,
  ScsiAdapterPoFxPowerActive,
  ScsiAdapterPoFxPowerSetFState,
  ScsiAdapterPoFxPowerControl,
  ScsiAdapterPrepareForBusReScan,
  ScsiAdapterSystemPowerHints,
  ScsiAdapterFilterResourceRequirements,
  ScsiAdapterPoFxMaxOperationalPower,
  ScsiAdapterPoFxSetPerfState,
  ScsiAdapterSurpriseRemoval,
  ScsiAdapterSerialNumber,
  ScsiAdapterCryptoOperation,
  ScsiAdapterQueryFruId,
  ScsiAdapterSetEventLogging,
  ScsiAdapterReportInternalData,
  ScsiAdapterControlMax,
  MakeAdapterControlTypeSizeOfUlong = 0xFFFFFFFF
} SCSI_ADAPTER_CONTROL_TYPE, *PSCSI_ADAPTER_CONTROL_TYPE;

typedef enum _SCSI_ADAPTER_CONTROL_STATUS {
  ScsiAdapterControlSuccess = 0,
  ScsiAdapterControlUnsuccessful
} SCSI_ADAPTER_CONTROL_STATUS, *PSCSI_ADAPTER_CONTROL_STATUS;

typedef struct _SCSI_SUPPORTED_CONTROL_TYPE_LIST {
  ULONG MaxControlType;
  BOOLEAN SupportedTypeList[];
} SCSI_SUPPORTED_CONTROL_TYPE_LIST, *PSCSI_SUPPORTED_CONTROL_TYPE_LIST;

typedef SCSI_ADAPTER_CONTROL_STATUS HW_ADAPTER_CONTROL(_In_ PVOID DeviceExtension,
                                                       _In_ SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                       _In_ PVOID Parameters);
typedef HW_ADAPTER_CONTROL *PHW_ADAPTER_CONTROL;

typedef enum _SCSI_UNIT_CONTROL_TYPE {
  ScsiQuerySupportedUnitControlTypes = 0,
  ScsiUnitUsage,
  ScsiUnitStart,
  ScsiUnitPower,
  ScsiUnitPoFxPowerInfo,
  ScsiUnitPoFxPowerRequired,
  ScsiUnitPoFxPowerActive,
  ScsiUnitPoFxPowerSetFState,
  ScsiUnitPoFxPowerControl,
  ScsiUnitRemove,
  ScsiUnitSurpriseRemoval,
  ScsiUnitRichDescription,
  ScsiUnitQueryBusType,
  ScsiUnitQueryFruId,
  ScsiUnitReportInternalData,
  ScsiUnitControlMax,
  MakeUnitControlTypeSizeOfUlong = 0xFFFFFFFF
} SCSI_UNIT_CONTROL_TYPE, *PSCSI_UNIT_CONTROL_TYPE;
typedef SCSI_ADAPTER_CONTROL_STATUS SCSI_UNIT_CONTROL_STATUS;
#define ScsiUnitControlSuccess ScsiAdapterControlSuccess
#define ScsiUnitControlUnsuccessful ScsiAdapterControlUnsuccessful
typedef SCSI_UNIT_CONTROL_STATUS HW_UNIT_CONTROL(_In_ PVOID DeviceExtension, _In_ SCSI_UNIT_CONTROL_TYPE ControlType,
                                                 _In_ PVOID Parameters);
typedef HW_UNIT_CONTROL *PHW_UNIT_CONTROL;

/* ---- PORT_CONFIGURATION_INFORMATION ---------------------------------------------------------------------- */
typedef struct _PORT_CONFIGURATION_INFORMATION {
  ULONG Length;
  ULONG SystemIoBusNumber;
  INTERFACE_TYPE AdapterInterfaceType;
  ULONG BusInterruptLevel;
  ULONG BusInterruptVector;
  KINTERRUPT_MODE InterruptMode;
  ULONG MaximumTransferLength;
  ULONG NumberOfPhysicalBreaks;
  ULONG DmaChannel;
  ULONG DmaPort;
  DMA_WIDTH DmaWidth;
  DMA_SPEED DmaSpeed;
  ULONG AlignmentMask;
  ULONG NumberOfAccessRanges;
  ACCESS_RANGE (*AccessRanges)[];
  PVOID MiniportDumpData;
  UCHAR NumberOfBuses;
  CHAR InitiatorBusId[8];
  BOOLEAN ScatterGather;
  BOOLEAN Master;
  BOOLEAN CachesData;
  BOOLEAN AdapterScansDown;
  BOOLEAN AtdiskPrimaryClaimed;
  BOOLEAN AtdiskSecondaryClaimed;
  BOOLEAN Dma32BitAddresses;
  BOOLEAN DemandMode;
  UCHAR MapBuffers;
  BOOLEAN NeedPhysicalAddresses;
  BOOLEAN TaggedQueuing;
  BOOLEAN AutoRequestSense;
  BOOLEAN MultipleRequestPerLu;
  BOOLEAN ReceiveEvent;
  BOOLEAN RealModeInitialized;
  BOOLEAN BufferAccessScsiPortControlled;
  UCHAR MaximumNumberOfTargets;
  UCHAR SrbType;
  UCHAR AddressType;
  ULONG SlotNumber;
  ULONG BusInterruptLevel2;
  ULONG BusInterruptVector2;
  KINTERRUPT_MODE InterruptMode2;
  ULONG DmaChannel2;
  ULONG DmaPort2;
  DMA_WIDTH DmaWidth2;
  DMA_SPEED DmaSpeed2;
  ULONG DeviceExtensionSize;
  ULONG SpecificLuExtensionSize;
  ULONG SrbExtensionSize;
  UCHAR Dma64BitAddresses;
  BOOLEAN ResetTargetSupported;
  UCHAR MaximumNumberOfLogicalUnits;
  BOOLEAN WmiDataProvider;
  STOR_SYNCHRONIZATION_MODEL SynchronizationModel;
  PHW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE HwMSInterruptRoutine;
  INTERRUPT_SYNCHRONIZATION_MODE InterruptSynchronizationMode;
  MEMORY_REGION DumpRegion;
  ULONG RequestedDumpBufferSize;
  BOOLEAN VirtualDevice;
  UCHAR DumpMode;
  UCHAR DmaAddressWidth;
  ULONG ExtendedFlags1;
  ULONG MaxNumberOfIO;
  ULONG MaxIOsPerLun;
  ULONG InitialLunQueueDepth;
  ULONG BusResetHoldTime;
  ULONG FeatureSupport;
} PORT_CONFIGURATION_INFORMATION, *PPORT_CONFIGURATION_INFORMATION;
#define SRB_TYPE_SCSI_REQUEST_BLOCK 0
#define SRB_TYPE_STORAGE_REQUEST_BLOCK 1
#define STOR_DMA_WIDTH_DEFAULT 0x00
#define STOR_DMA_WIDTH_32_BITS 0x01
#define STOR_DMA_WIDTH_64_BITS 0x02
#define DUMP_MODE_CRASH 0x01
#define DUMP_MODE_HIBER 0x02
#define DUMP_MODE_MARK_MEMORY 0x03
#define DUMP_MODE_RESUME 0x04

typedef ULONG HW_FIND_ADAPTER(_In_ PVOID DeviceExtension, _In_ PVOID HwContext, _In_ PVOID BusInformation,
                              _In_z_ PCHAR ArgumentString, _Inout_ PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                              _In_ PBOOLEAN Reserved3);
typedef HW_FIND_ADAPTER *PHW_FIND_ADAPTER;
typedef ULONG VIRTUAL_HW_FIND_ADAPTER(_In_ PVOID DeviceExtension, _In_ PVOID HwContext, _In_ PVOID BusInformation,
                                      _In_ PVOID LowerDevice, _In_ PCHAR ArgumentString,
                                      _Inout_ PPORT_CONFIGURATION_INFORMATION ConfigInfo, _Out_ PBOOLEAN Again);
typedef VIRTUAL_HW_FIND_ADAPTER *PVIRTUAL_HW_FIND_ADAPTER;

/* ---- HW_INITIALIZATION_DATA (x64: 208 bytes) ------------------------------------------------------------- */
typedef struct _HW_INITIALIZATION_DATA {
  ULONG HwInitializationDataSize;
  INTERFACE_TYPE AdapterInterfaceType;
  PHW_INITIALIZE HwInitialize;
  PHW_STARTIO HwStartIo;
  PHW_INTERRUPT HwInterrupt;
  PVOID HwFindAdapter; /* a PHW_FIND_ADAPTER, or a PVIRTUAL_HW_FIND_ADAPTER (virtual miniports) */
  PHW_RESET_BUS HwResetBus;
  PHW_DMA_STARTED HwDmaStarted;
  PHW_ADAPTER_STATE HwAdapterState;
  ULONG DeviceExtensionSize;
  ULONG SpecificLuExtensionSize;
  ULONG SrbExtensionSize;
  ULONG NumberOfAccessRanges;
  PVOID Reserved;
  BOOLEAN MapBuffers;
  BOOLEAN NeedPhysicalAddresses;
  BOOLEAN TaggedQueuing;
  BOOLEAN AutoRequestSense;
  BOOLEAN MultipleRequestPerLu;
  BOOLEAN ReceiveEvent;
  USHORT VendorIdLength;
  PVOID VendorId;
  union {
    USHORT ReservedUshort;
    USHORT PortVersionFlags;
  };
  USHORT DeviceIdLength;
  PVOID DeviceId;
  PHW_ADAPTER_CONTROL HwAdapterControl;
  PHW_BUILDIO HwBuildIo;
  PHW_FREE_ADAPTER_RESOURCES HwFreeAdapterResources;
  PHW_PROCESS_SERVICE_REQUEST HwProcessServiceRequest;
  PHW_COMPLETE_SERVICE_IRP HwCompleteServiceIrp;
  PHW_INITIALIZE_TRACING HwInitializeTracing;
  PHW_CLEANUP_TRACING HwCleanupTracing;
  PHW_TRACING_ENABLED HwTracingEnabled;
  ULONG FeatureSupport;
  ULONG SrbTypeFlags;
  ULONG AddressTypeFlags;
  ULONG Reserved1;
  PHW_UNIT_CONTROL HwUnitControl;
} HW_INITIALIZATION_DATA, *PHW_INITIALIZATION_DATA;

/* VIRTUAL_HW_INITIALIZATION_DATA: the pre-Windows 8 registration of a virtual miniport — the same
 * members up to HwCleanupTracing, HwFindAdapter of VIRTUAL_HW_FIND_ADAPTER's shape. From Windows 8
 * a virtual miniport uses HW_INITIALIZATION_DATA with STOR_FEATURE_VIRTUAL_MINIPORT in
 * FeatureSupport. This host treats either as virtual. */
#define HW_INIT_DATA_SIZE_PHYSICAL FIELD_OFFSET(HW_INITIALIZATION_DATA, HwFreeAdapterResources)
#define HW_INIT_DATA_SIZE_VIRTUAL FIELD_OFFSET(HW_INITIALIZATION_DATA, HwTracingEnabled)
typedef struct _VIRTUAL_HW_INITIALIZATION_DATA {
  ULONG HwInitializationDataSize;
  INTERFACE_TYPE AdapterInterfaceType;
  PHW_INITIALIZE HwInitialize;
  PHW_STARTIO HwStartIo;
  PHW_INTERRUPT HwInterrupt;
  PVIRTUAL_HW_FIND_ADAPTER HwFindAdapter;
  PHW_RESET_BUS HwResetBus;
  PHW_DMA_STARTED HwDmaStarted;
  PHW_ADAPTER_STATE HwAdapterState;
  ULONG DeviceExtensionSize;
  ULONG SpecificLuExtensionSize;
  ULONG SrbExtensionSize;
  ULONG NumberOfAccessRanges;
  PVOID Reserved;
  BOOLEAN MapBuffers;
  BOOLEAN NeedPhysicalAddresses;
  BOOLEAN TaggedQueuing;
  BOOLEAN AutoRequestSense;
  BOOLEAN MultipleRequestPerLu;
  BOOLEAN ReceiveEvent;
  USHORT VendorIdLength;
  PVOID VendorId;
  union {
    USHORT ReservedUshort;
    USHORT PortVersionFlags;
  };
  USHORT DeviceIdLength;
  PVOID DeviceId;
  PHW_ADAPTER_CONTROL HwAdapterControl;
  PHW_BUILDIO HwBuildIo;
  PHW_FREE_ADAPTER_RESOURCES HwFreeAdapterResources;
  PHW_PROCESS_SERVICE_REQUEST HwProcessServiceRequest;
  PHW_COMPLETE_SERVICE_IRP HwCompleteServiceIrp;
  PHW_INITIALIZE_TRACING HwInitializeTracing;
  PHW_CLEANUP_TRACING HwCleanupTracing;
} VIRTUAL_HW_INITIALIZATION_DATA, *PVIRTUAL_HW_INITIALIZATION_DATA;

/* ---- Storport objects ----------------------------------------------------------------------------------- */
/* STOR_DPC: opaque to the miniport (a KDPC and a spin lock in Windows: 72 bytes on x64). Embed
 * it in the device extension and initialise it with StorPortInitializeDpc before use. */
struct _STOR_DPC {
  ULONG_PTR Opaque[9];
};

typedef enum _STOR_SPINLOCK {
  InvalidLock = 0,
  DpcLock = 1,
  StartIoLock,
  InterruptLock,
  ThreadedDpcLock,
  DpcLevelLock,
  StorPortLockMax
} STOR_SPINLOCK;

/* STOR_LOCK_HANDLE: filled by StorPortAcquireSpinLock, consumed by StorPortReleaseSpinLock. The
 * context is the port's (a queued-lock handle with the IRQL to restore in Windows). */
typedef struct _STOR_LOCK_HANDLE {
  STOR_SPINLOCK Lock;
  struct {
    struct {
      PVOID Next;
      PVOID Lock;
    } LockQueue;
    KIRQL OldIrql;
  } Context;
} STOR_LOCK_HANDLE, *PSTOR_LOCK_HANDLE;

/* ---- StorPortNotification types ---------------------------------------------------------------------------- */
typedef enum _SCSI_NOTIFICATION_TYPE {
  RequestComplete,
  NextRequest,
  NextLuRequest,
  ResetDetected,
  _obsolete1,
  _obsolete2,
  RequestTimerCall,
  BusChangeDetected,
  WMIEvent,
  WMIReregister,
  LinkUp,
  LinkDown,
  QueryTickCount,
  BufferOverrunDetected,
  TraceNotification,
  GetExtendedFunctionTable,
  EnablePassiveInitialization = 0x1000,
  InitializeDpc,
  IssueDpc,
  AcquireSpinLock,
  ReleaseSpinLock,
  StateChangeDetectedCall,
  IoTargetRequestServiceTime,
  AsyncNotificationDetected,
  RequestDirectComplete,
  InitializeDpcWithContext,
  InitializeThreadedDpc,
  SetTargetProcessorDpc,
  MarkDeviceFailed,
  MarkDeviceFailedEx,
  TerminateSystemThread,
  NvmeofNotification
} SCSI_NOTIFICATION_TYPE, *PSCSI_NOTIFICATION_TYPE;

/* ---- STOR_STATUS ----------------------------------------------------------------------------------------------- */
#define STOR_STATUS_SUCCESS (0x00000000L)
#define STOR_STATUS_UNSUCCESSFUL (0xC1000001L)
#define STOR_STATUS_NOT_IMPLEMENTED (0xC1000002L)
#define STOR_STATUS_INSUFFICIENT_RESOURCES (0xC1000003L)
#define STOR_STATUS_BUFFER_TOO_SMALL (0xC1000004L)
#define STOR_STATUS_ACCESS_DENIED (0xC1000005L)
#define STOR_STATUS_INVALID_PARAMETER (0xC1000006L)
#define STOR_STATUS_INVALID_DEVICE_REQUEST (0xC1000007L)
#define STOR_STATUS_INVALID_IRQL (0xC1000008L)
#define STOR_STATUS_INVALID_DEVICE_STATE (0xC1000009L)
#define STOR_STATUS_INVALID_BUFFER_SIZE (0xC100000AL)
#define STOR_STATUS_UNSUPPORTED_VERSION (0xC100000BL)
#define STOR_STATUS_BUSY (0xC100000CL)

/* ---- StorPortExtendedFunction codes --------------------------------------------------------------------------- */
typedef enum _STORPORT_FUNCTION_CODE {
  ExtFunctionAllocatePool,
  ExtFunctionFreePool,
  ExtFunctionAllocateMdl,
  ExtFunctionFreeMdl,
  ExtFunctionBuildMdlForNonPagedPool,
  ExtFunctionGetSystemAddress,
  ExtFunctionGetOriginalMdl,
  ExtFunctionCompleteServiceIrp,
  ExtFunctionGetDeviceObjects,
  ExtFunctionBuildScatterGatherList,
  ExtFunctionPutScatterGatherList,
  ExtFunctionAcquireMSISpinLock,
  ExtFunctionReleaseMSISpinLock,
  ExtFunctionGetMessageInterruptInformation,
  ExtFunctionInitializePerformanceOptimizations,
  ExtFunctionGetStartIoPerformanceParameters,
  ExtFunctionLogSystemEvent,
  ExtFunctionGetCurrentProcessorNumber,
  ExtFunctionGetActiveGroupCount,
  ExtFunctionGetGroupAffinity,
  ExtFunctionGetActiveNodeCount,
  ExtFunctionGetNodeAffinity,
  ExtFunctionGetHighestNodeNumber,
  ExtFunctionGetLogicalProcessorRelationship,
  ExtFunctionAllocateContiguousMemorySpecifyCacheNode,
  ExtFunctionFreeContiguousMemorySpecifyCache,
  ExtFunctionSetPowerSettingNotificationGuids,
  ExtFunctionInvokeAcpiMethod,
  ExtFunctionGetRequestInfo,
  ExtFunctionInitializeWorker,
  ExtFunctionQueueWorkItem,
  ExtFunctionFreeWorker,
  ExtFunctionInitializeTimer,
  ExtFunctionRequestTimer,
  ExtFunctionFreeTimer,
  ExtFunctionInitializeSListHead,
  ExtFunctionInterlockedFlushSList,
  ExtFunctionInterlockedPopEntrySList,
  ExtFunctionInterlockedPushEntrySList,
  ExtFunctionQueryDepthSList,
  ExtFunctionGetActivityId,
  ExtFunctionGetSystemPortNumber,
  ExtFunctionGetDataInBufferMdl,
  ExtFunctionGetDataInBufferSystemAddress,
  ExtFunctionGetDataInBufferScatterGatherList,
  ExtFunctionMarkDumpMemory,
  ExtFunctionSetUnitAttributes,
  ExtFunctionQueryPerformanceCounter,
  ExtFunctionInitializePoFxPower,
  ExtFunctionPoFxActivateComponent,
  ExtFunctionPoFxIdleComponent,
  ExtFunctionPoFxSetComponentLatency,
  ExtFunctionPoFxSetComponentResidency,
  ExtFunctionPoFxPowerControl,
  ExtFunctionFlushDataBufferMdl,
  ExtFunctionDeviceOperationAllowed,
  ExtFunctionGetProcessorIndexFromNumber,
  ExtFunctionPoFxSetIdleTimeout,
  ExtFunctionMiniportEtwEvent2,
  ExtFunctionMiniportEtwEvent4,
  ExtFunctionMiniportEtwEvent8,
  ExtFunctionCurrentOsInstallationUpgrade,
  ExtFunctionRegistryReadAdapterKey,
  ExtFunctionRegistryWriteAdapterKey,
  ExtFunctionSetAdapterBusType,
  ExtFunctionPoFxRegisterPerfStates,
  ExtFunctionPoFxSetPerfState,
  ExtFunctionGetD3ColdSupport,
  ExtFunctionInitializeRpmb,
  ExtFunctionAllocateHmb,
  ExtFunctionFreeHmb,
  ExtFunctionPropagateIrpExtension,
  ExtFunctionInterlockedInsertHeadList,
  ExtFunctionInterlockedInsertTailList,
  ExtFunctionInterlockedRemoveHeadList,
  ExtFunctionInitializeSpinlock,
  ExtFunctionGetPfns,
  ExtFunctionInitializeCryptoEngine,
  ExtFunctionGetRequestCryptoInfo,
  ExtFunctionMiniportTelemetry,
  ExtFunctionUpdateAdapterMaxIO,
  ExtFunctionDelayExecution,
  ExtFunctionAllocateDmaMemory,
  ExtFunctionFreeDmaMemory,
  ExtFunctionUpdateAdapterMaxIOInfo,
  ExtFunctionMiniportChannelEtwEvent2,
  ExtFunctionMiniportChannelEtwEvent4,
  ExtFunctionMiniportChannelEtwEvent8,
  ExtFunctionInitializeHighResolutionTimer,
  ExtFunctionRequestHighResolutionTimer,
  ExtFunctionCancelHighResolutionTimer,
  ExtFunctionFreeHighResolutionTimer,
  ExtFunctionGetCurrentProcessorIndex,
  ExtFunctionAcquireSpinLock,
  ExtFunctionGetProcessorCount,
  ExtFunctionCancelDpc,
  ExtFunctionMiniportTelemetryEx,
  ExtFunctionQueryConfiguration,
  ExtFunctionLogHardwareError,
  ExtFunctionInitializeEvent,
  ExtFunctionWaitForEvent,
  ExtFunctionSetEvent,
  ExtFunctionDeviceReset,
  ExtFunctionSetFeatureList,
  ExtFunctionCaptureLiveDump,
  ExtFunctionMiniportLogByteStream,
  ExtFunctionQueryDpcWatchdogInformation,
  ExtFunctionQueryTimerMinInterval,
  ExtFunctionMaskPciMsixEntry,
  ExtFunctionGetCurrentIrql
} STORPORT_FUNCTION_CODE, *PSTORPORT_FUNCTION_CODE;

/* ---- performance options (PERF_CONFIGURATION_DATA) ---------------------------------------------------------- */
#define STOR_PERF_DPC_REDIRECTION 0x00000001
#define STOR_PERF_CONCURRENT_CHANNELS 0x00000002
#define STOR_PERF_INTERRUPT_MESSAGE_RANGES 0x00000004
#define STOR_PERF_ADV_CONFIG_LOCALITY 0x00000008
#define STOR_PERF_OPTIMIZE_FOR_COMPLETION_DURING_STARTIO 0x00000010
#define STOR_PERF_DPC_REDIRECTION_CURRENT_CPU 0x00000020
#define STOR_PERF_NO_SGL 0x00000040
#define STOR_PERF_SOFT_NUMA 0x00000080
#define STOR_PERF_HETEROGENEOUS_CPU 0x00000100
#define STOR_PERF_VERSION 0x00000005
#define STOR_PERF_VERSION_2 0x00000002
#define STOR_PERF_VERSION_3 0x00000003
#define STOR_PERF_VERSION_4 0x00000004
#define STOR_PERF_VERSION_5 0x00000005

typedef struct _PERF_CONFIGURATION_DATA {
  ULONG Version;
  ULONG Size;
  ULONG Flags;
  ULONG ConcurrentChannels;
  ULONG FirstRedirectionMessageNumber;
  ULONG LastRedirectionMessageNumber;
  ULONG DeviceNode;
  ULONG Reserved;
  PGROUP_AFFINITY MessageTargets;
} PERF_CONFIGURATION_DATA, *PPERF_CONFIGURATION_DATA;

#define STOR_PERF_STARTIO_VERSION 1 /* STARTIO_PERFORMANCE_PARAMETERS_VERSION_1 */
#define STARTIO_PERFORMANCE_PARAMETERS_VERSION_1 1
typedef struct _STARTIO_PERFORMANCE_PARAMETERS {
  ULONG Version;
  ULONG Size;
  ULONG MessageNumber;
  ULONG ChannelNumber;
} STARTIO_PERFORMANCE_PARAMETERS, *PSTARTIO_PERFORMANCE_PARAMETERS;

/* MESSAGE_INTERRUPT_INFORMATION: one MSI/MSI-X message granted to the adapter. */
typedef struct _MESSAGE_INTERRUPT_INFORMATION {
  ULONG MessageId;
  ULONG MessageData;
  STOR_PHYSICAL_ADDRESS MessageAddress;
  ULONG InterruptVector;
  ULONG InterruptLevel;
  KINTERRUPT_MODE InterruptMode;
} MESSAGE_INTERRUPT_INFORMATION, *PMESSAGE_INTERRUPT_INFORMATION;

/* ---- scatter/gather lists (device-visible addresses) ------------------------------------------------------- */
typedef struct _STOR_SCATTER_GATHER_ELEMENT {
  STOR_PHYSICAL_ADDRESS PhysicalAddress;
  ULONG Length;
  ULONG_PTR Reserved;
} STOR_SCATTER_GATHER_ELEMENT, *PSTOR_SCATTER_GATHER_ELEMENT;

typedef struct _STOR_SCATTER_GATHER_LIST {
  ULONG NumberOfElements;
  ULONG_PTR Reserved;
  STOR_SCATTER_GATHER_ELEMENT List[];
} STOR_SCATTER_GATHER_LIST, *PSTOR_SCATTER_GATHER_LIST;

/* ---- PCI configuration space (the common 256-byte header, type 0) -------------------------------------------- */
#define PCI_TYPE0_ADDRESSES 6
#define PCI_TYPE1_ADDRESSES 2
#define PCI_TYPE2_ADDRESSES 5
#define PCI_INVALID_VENDORID 0xFFFF
#define PCI_COMMON_HDR_LENGTH 64
typedef struct _PCI_COMMON_HEADER {
  USHORT VendorID;
  USHORT DeviceID;
  USHORT Command;
  USHORT Status;
  UCHAR RevisionID;
  UCHAR ProgIf;
  UCHAR SubClass;
  UCHAR BaseClass;
  UCHAR CacheLineSize;
  UCHAR LatencyTimer;
  UCHAR HeaderType;
  UCHAR BIST;
  union {
    struct _PCI_HEADER_TYPE_0 {
      ULONG BaseAddresses[PCI_TYPE0_ADDRESSES];
      ULONG CIS;
      USHORT SubVendorID;
      USHORT SubSystemID;
      ULONG ROMBaseAddress;
      UCHAR CapabilitiesPtr;
      UCHAR Reserved1[3];
      ULONG Reserved2;
      UCHAR InterruptLine;
      UCHAR InterruptPin;
      UCHAR MinimumGrant;
      UCHAR MaximumLatency;
    } type0;
  } u;
} PCI_COMMON_HEADER, *PPCI_COMMON_HEADER;
typedef struct _PCI_COMMON_CONFIG {
  PCI_COMMON_HEADER DUMMYSTRUCTNAME_HEADER;
  UCHAR DeviceSpecific[192];
} PCI_COMMON_CONFIG_STORPORT;
/* As the DDI documents it: the header's members directly, then DeviceSpecific. */
typedef struct _PCI_COMMON_CONFIG_FLAT {
  USHORT VendorID;
  USHORT DeviceID;
  USHORT Command;
  USHORT Status;
  UCHAR RevisionID;
  UCHAR ProgIf;
  UCHAR SubClass;
  UCHAR BaseClass;
  UCHAR CacheLineSize;
  UCHAR LatencyTimer;
  UCHAR HeaderType;
  UCHAR BIST;
  union {
    struct _PCI_HEADER_TYPE_0 type0;
  } u;
  UCHAR DeviceSpecific[192];
} PCI_COMMON_CONFIG, *PPCI_COMMON_CONFIG;
#define PCI_ENABLE_IO_SPACE 0x0001
#define PCI_ENABLE_MEMORY_SPACE 0x0002
#define PCI_ENABLE_BUS_MASTER 0x0004
#define PCI_CLASS_MASS_STORAGE_CTLR 0x01
#define PCI_SUBCLASS_MSC_NVM_CTLR 0x08

/* ---- logging ---------------------------------------------------------------------------------------------------- */
#define SP_BUS_PARITY_ERROR 0x0001
#define SP_UNEXPECTED_DISCONNECT 0x0002
#define SP_INVALID_RESELECTION 0x0003
#define SP_BUS_TIME_OUT 0x0004
#define SP_PROTOCOL_ERROR 0x0005
#define SP_INTERNAL_ADAPTER_ERROR 0x0006
#define SP_REQUEST_TIMEOUT 0x0007
#define SP_IRQ_NOT_RESPONDING 0x0008
#define SP_BAD_FW_WARNING 0x0009
#define SP_BAD_FW_ERROR 0x000a
#define SP_LOST_WMI_MINIPORT_REQUEST 0x000b

/* ---- the exported routines ------------------------------------------------------------------------------------------ */
/* StorPortInitialize: called from DriverEntry; registers the miniport's HW_INITIALIZATION_DATA.
 * Returns STATUS_SUCCESS, or an NTSTATUS naming what is wrong with the data (reported by the host). */
ULONG StorPortInitialize(_In_ PVOID Argument1, _In_ PVOID Argument2,
                         _In_ struct _HW_INITIALIZATION_DATA *HwInitializationData, _In_opt_ PVOID HwContext);

/* StorPortNotification: the dispatcher for SCSI_NOTIFICATION_TYPE; its arguments depend on the type. */
VOID StorPortNotification(_In_ SCSI_NOTIFICATION_TYPE NotificationType, _In_ PVOID HwDeviceExtension, ...);

/* StorPortExtendedFunction: the dispatcher for STORPORT_FUNCTION_CODE; returns a STOR_STATUS. */
ULONG StorPortExtendedFunction(_In_ STORPORT_FUNCTION_CODE FunctionCode, _In_ PVOID HwDeviceExtension, ...);

PVOID StorPortGetDeviceBase(_In_ PVOID HwDeviceExtension, _In_ INTERFACE_TYPE BusType, _In_ ULONG SystemIoBusNumber,
                            _In_ STOR_PHYSICAL_ADDRESS IoAddress, _In_ ULONG NumberOfBytes, _In_ BOOLEAN InIoSpace);
VOID StorPortFreeDeviceBase(_In_ PVOID HwDeviceExtension, _In_ PVOID MappedAddress);
PVOID StorPortGetUncachedExtension(_In_ PVOID HwDeviceExtension, _In_ PPORT_CONFIGURATION_INFORMATION ConfigInfo,
                                   _In_ ULONG NumberOfBytes);
STOR_PHYSICAL_ADDRESS StorPortGetPhysicalAddress(_In_ PVOID HwDeviceExtension, _In_opt_ PSCSI_REQUEST_BLOCK Srb,
                                                 _In_ PVOID VirtualAddress, _Out_ ULONG *Length);
PVOID StorPortGetVirtualAddress(_In_ PVOID HwDeviceExtension, _In_ STOR_PHYSICAL_ADDRESS PhysicalAddress);
ULONG StorPortGetBusData(_In_ PVOID DeviceExtension, _In_ ULONG BusDataType, _In_ ULONG SystemIoBusNumber,
                         _In_ ULONG SlotNumber, _Out_ PVOID Buffer, _In_ ULONG Length);
ULONG StorPortSetBusDataByOffset(_In_ PVOID DeviceExtension, _In_ ULONG BusDataType, _In_ ULONG SystemIoBusNumber,
                                 _In_ ULONG SlotNumber, _In_ PVOID Buffer, _In_ ULONG Offset, _In_ ULONG Length);
PSTOR_SCATTER_GATHER_LIST StorPortGetScatterGatherList(_In_ PVOID DeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb);
PVOID StorPortGetLogicalUnit(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId, _In_ UCHAR TargetId, _In_ UCHAR Lun);
PSCSI_REQUEST_BLOCK StorPortGetSrb(_In_ PVOID DeviceExtension, _In_ UCHAR PathId, _In_ UCHAR TargetId, _In_ UCHAR Lun,
                                   _In_ LONG QueueTag);
VOID StorPortStallExecution(_In_ ULONG Delay);
VOID StorPortDebugPrint(_In_ ULONG DebugPrintLevel, _In_ PCCHAR DebugMessage, ...);
VOID StorPortLogError(_In_ PVOID HwDeviceExtension, _In_opt_ PSCSI_REQUEST_BLOCK Srb, _In_ UCHAR PathId,
                      _In_ UCHAR TargetId, _In_ UCHAR Lun, _In_ ULONG ErrorCode, _In_ ULONG UniqueId);
VOID StorPortCompleteRequest(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId, _In_ UCHAR TargetId, _In_ UCHAR Lun,
                             _In_ UCHAR SrbStatus);
VOID StorPortMoveMemory(_Out_ PVOID WriteBuffer, _In_ PVOID ReadBuffer, _In_ ULONG Length);
#define StorPortCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
BOOLEAN StorPortBusy(_In_ PVOID HwDeviceExtension, _In_ ULONG RequestsToComplete);
BOOLEAN StorPortReady(_In_ PVOID HwDeviceExtension);
BOOLEAN StorPortPause(_In_ PVOID HwDeviceExtension, _In_ ULONG TimeOut);
BOOLEAN StorPortResume(_In_ PVOID HwDeviceExtension);
BOOLEAN StorPortDeviceBusy(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId, _In_ UCHAR TargetId, _In_ UCHAR Lun,
                           _In_ ULONG RequestsToComplete);
BOOLEAN StorPortDeviceReady(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId, _In_ UCHAR TargetId, _In_ UCHAR Lun);
BOOLEAN StorPortSynchronizeAccess(_In_ PVOID HwDeviceExtension, _In_ PSTOR_SYNCHRONIZED_ACCESS SynchronizedAccessRoutine,
                                  _In_opt_ PVOID Context);
VOID StorPortQuerySystemTime(_Out_ PLARGE_INTEGER CurrentTime);
BOOLEAN StorPortValidateRange(_In_ PVOID HwDeviceExtension, _In_ INTERFACE_TYPE BusType, _In_ ULONG SystemIoBusNumber,
                              _In_ STOR_PHYSICAL_ADDRESS IoAddress, _In_ ULONG NumberOfBytes, _In_ BOOLEAN InIoSpace);
STOR_PHYSICAL_ADDRESS StorPortConvertUlongToPhysicalAddress(_In_ ULONG_PTR UlongAddress);
ULONG StorPortConvertPhysicalAddressToUlong(_In_ STOR_PHYSICAL_ADDRESS Address);

/* Register and port access: reach the emulated device's registers through the mapped base
 * StorPortGetDeviceBase returned. The 64-bit forms are what NVMe miniports use for CAP/ASQ/ACQ. */
UCHAR StorPortReadRegisterUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Register);
USHORT StorPortReadRegisterUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Register);
ULONG StorPortReadRegisterUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Register);
ULONG64 StorPortReadRegisterUlong64(_In_ PVOID HwDeviceExtension, _In_ PULONG64 Register);
VOID StorPortWriteRegisterUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Register, _In_ UCHAR Value);
VOID StorPortWriteRegisterUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Register, _In_ USHORT Value);
VOID StorPortWriteRegisterUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Register, _In_ ULONG Value);
VOID StorPortWriteRegisterUlong64(_In_ PVOID HwDeviceExtension, _In_ PULONG64 Register, _In_ ULONG64 Value);
UCHAR StorPortReadPortUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Port);
USHORT StorPortReadPortUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Port);
ULONG StorPortReadPortUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Port);
VOID StorPortWritePortUchar(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Port, _In_ UCHAR Value);
VOID StorPortWritePortUshort(_In_ PVOID HwDeviceExtension, _In_ PUSHORT Port, _In_ USHORT Value);
VOID StorPortWritePortUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Port, _In_ ULONG Value);
VOID StorPortReadRegisterBufferUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Register, _Out_ PULONG Buffer,
                                     _In_ ULONG Count);
VOID StorPortWriteRegisterBufferUlong(_In_ PVOID HwDeviceExtension, _In_ PULONG Register, _In_ PULONG Buffer,
                                      _In_ ULONG Count);

/* ---- the inline wrappers over StorPortNotification --------------------------------------------------------------- */
FORCEINLINE VOID StorPortInitializeDpc(_In_ PVOID DeviceExtension, _Out_ PSTOR_DPC Dpc,
                                       _In_ PHW_DPC_ROUTINE HwDpcRoutine) {
  StorPortNotification(InitializeDpc, DeviceExtension, Dpc, HwDpcRoutine);
}

FORCEINLINE BOOLEAN StorPortIssueDpc(_In_ PVOID DeviceExtension, _In_ PSTOR_DPC Dpc, _In_opt_ PVOID SystemArgument1,
                                     _In_opt_ PVOID SystemArgument2) {
  LONG Succ = FALSE;
  StorPortNotification(IssueDpc, DeviceExtension, Dpc, SystemArgument1, SystemArgument2, &Succ);
  return (BOOLEAN)Succ;
}

FORCEINLINE VOID StorPortAcquireSpinLock(_In_ PVOID DeviceExtension, _In_ STOR_SPINLOCK SpinLock,
                                         _In_opt_ PVOID LockContext, _Out_ PSTOR_LOCK_HANDLE LockHandle) {
  StorPortNotification(AcquireSpinLock, DeviceExtension, SpinLock, LockContext, LockHandle);
}

FORCEINLINE VOID StorPortReleaseSpinLock(_In_ PVOID DeviceExtension, _Inout_ PSTOR_LOCK_HANDLE LockHandle) {
  StorPortNotification(ReleaseSpinLock, DeviceExtension, LockHandle);
}

FORCEINLINE BOOLEAN StorPortEnablePassiveInitialization(_In_ PVOID DeviceExtension,
                                                        _In_ PHW_PASSIVE_INITIALIZE_ROUTINE HwPassiveInitializeRoutine) {
  LONG Succ = FALSE;
  StorPortNotification(EnablePassiveInitialization, DeviceExtension, HwPassiveInitializeRoutine, &Succ);
  return (BOOLEAN)Succ;
}

/* StorPortAcquireSpinLockEx is an export in Windows; here a routine of the host. */
ULONG StorPortAcquireSpinLockEx(_In_ PVOID DeviceExtension, _In_ STOR_SPINLOCK SpinLock, _In_opt_ PVOID LockContext,
                                _Out_ PSTOR_LOCK_HANDLE LockHandle);

/* ---- the inline wrappers over StorPortExtendedFunction ------------------------------------------------------------- */
FORCEINLINE ULONG StorPortAllocatePool(_In_ PVOID HwDeviceExtension, _In_ ULONG NumberOfBytes, _In_ ULONG Tag,
                                       _Out_ PVOID *BufferPointer) {
  return StorPortExtendedFunction(ExtFunctionAllocatePool, HwDeviceExtension, NumberOfBytes, Tag, BufferPointer);
}
FORCEINLINE ULONG StorPortFreePool(_In_ PVOID HwDeviceExtension, _In_ PVOID BufferPointer) {
  return StorPortExtendedFunction(ExtFunctionFreePool, HwDeviceExtension, BufferPointer);
}
FORCEINLINE ULONG StorPortGetSystemAddress(_In_ PVOID HwDeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb,
                                           _Out_ PVOID *SystemAddress) {
  return StorPortExtendedFunction(ExtFunctionGetSystemAddress, HwDeviceExtension, Srb, SystemAddress);
}
FORCEINLINE ULONG StorPortAcquireMSISpinLock(_In_ PVOID HwDeviceExtension, _In_ ULONG MessageId,
                                             _Out_ PULONG OldIrql) {
  return StorPortExtendedFunction(ExtFunctionAcquireMSISpinLock, HwDeviceExtension, MessageId, OldIrql);
}
FORCEINLINE ULONG StorPortReleaseMSISpinLock(_In_ PVOID HwDeviceExtension, _In_ ULONG MessageId, _In_ ULONG OldIrql) {
  return StorPortExtendedFunction(ExtFunctionReleaseMSISpinLock, HwDeviceExtension, MessageId, OldIrql);
}
FORCEINLINE ULONG StorPortGetMSIInfo(_In_ PVOID HwDeviceExtension, _In_ ULONG MessageId,
                                     _Out_ PMESSAGE_INTERRUPT_INFORMATION InterruptInfo) {
  return StorPortExtendedFunction(ExtFunctionGetMessageInterruptInformation, HwDeviceExtension, MessageId,
                                  InterruptInfo);
}
#define StorPortGetMessageInterruptInformation StorPortGetMSIInfo
FORCEINLINE ULONG StorPortInitializePerfOpts(_In_ PVOID HwDeviceExtension, _In_ BOOLEAN Query,
                                             _Inout_ PPERF_CONFIGURATION_DATA PerfConfigData) {
  return StorPortExtendedFunction(ExtFunctionInitializePerformanceOptimizations, HwDeviceExtension, Query,
                                  PerfConfigData);
}
FORCEINLINE ULONG StorPortGetStartIoPerfParams(_In_ PVOID HwDeviceExtension, _In_ PSCSI_REQUEST_BLOCK Srb,
                                               _Inout_ PSTARTIO_PERFORMANCE_PARAMETERS StartIoPerfParams) {
  return StorPortExtendedFunction(ExtFunctionGetStartIoPerformanceParameters, HwDeviceExtension, Srb,
                                  StartIoPerfParams);
}
FORCEINLINE ULONG StorPortGetCurrentProcessorNumber(_In_ PVOID HwDeviceExtension,
                                                    _Out_ PPROCESSOR_NUMBER ProcNumber) {
  return StorPortExtendedFunction(ExtFunctionGetCurrentProcessorNumber, HwDeviceExtension, ProcNumber);
}
FORCEINLINE ULONG StorPortGetActiveGroupCount(_In_ PVOID HwDeviceExtension, _Out_ PUSHORT NumberGroups) {
  return StorPortExtendedFunction(ExtFunctionGetActiveGroupCount, HwDeviceExtension, NumberGroups);
}
FORCEINLINE ULONG StorPortGetGroupAffinity(_In_ PVOID HwDeviceExtension, _In_ USHORT GroupNumber,
                                           _Out_ PKAFFINITY GroupAffinityMask) {
  return StorPortExtendedFunction(ExtFunctionGetGroupAffinity, HwDeviceExtension, GroupNumber, GroupAffinityMask);
}
FORCEINLINE ULONG StorPortGetActiveNodeCount(_In_ PVOID HwDeviceExtension, _Out_ PULONG NumberNodes) {
  return StorPortExtendedFunction(ExtFunctionGetActiveNodeCount, HwDeviceExtension, NumberNodes);
}
FORCEINLINE ULONG StorPortGetNodeAffinity(_In_ PVOID HwDeviceExtension, _In_ ULONG NodeNumber,
                                          _Out_ PGROUP_AFFINITY NodeAffinityMask) {
  return StorPortExtendedFunction(ExtFunctionGetNodeAffinity, HwDeviceExtension, NodeNumber, NodeAffinityMask);
}
FORCEINLINE ULONG StorPortGetHighestNodeNumber(_In_ PVOID HwDeviceExtension, _Out_ PULONG HighestNode) {
  return StorPortExtendedFunction(ExtFunctionGetHighestNodeNumber, HwDeviceExtension, HighestNode);
}
FORCEINLINE ULONG StorPortAllocateContiguousMemorySpecifyCacheNode(
    _In_ PVOID HwDeviceExtension, _In_ SIZE_T NumberOfBytes, _In_ PHYSICAL_ADDRESS LowestAcceptableAddress,
    _In_ PHYSICAL_ADDRESS HighestAcceptableAddress, _In_opt_ PHYSICAL_ADDRESS BoundaryAddressMultiple,
    _In_ MEMORY_CACHING_TYPE CacheType, _In_ ULONG PreferredNode, _Out_ PVOID *BufferPointer) {
  return StorPortExtendedFunction(ExtFunctionAllocateContiguousMemorySpecifyCacheNode, HwDeviceExtension,
                                  NumberOfBytes, LowestAcceptableAddress, HighestAcceptableAddress,
                                  BoundaryAddressMultiple, CacheType, PreferredNode, BufferPointer);
}
FORCEINLINE ULONG StorPortFreeContiguousMemorySpecifyCache(_In_ PVOID HwDeviceExtension, _In_ PVOID BaseAddress,
                                                           _In_ SIZE_T NumberOfBytes,
                                                           _In_ MEMORY_CACHING_TYPE CacheType) {
  return StorPortExtendedFunction(ExtFunctionFreeContiguousMemorySpecifyCache, HwDeviceExtension, BaseAddress,
                                  NumberOfBytes, CacheType);
}
FORCEINLINE ULONG StorPortInitializeWorker(_In_ PVOID HwDeviceExtension, _Out_ PVOID *Worker) {
  return StorPortExtendedFunction(ExtFunctionInitializeWorker, HwDeviceExtension, Worker);
}
FORCEINLINE ULONG StorPortQueueWorkItem(_In_ PVOID HwDeviceExtension, _In_ PHW_WORKITEM WorkItemCallback,
                                        _In_ PVOID Worker, _In_opt_ PVOID Context) {
  return StorPortExtendedFunction(ExtFunctionQueueWorkItem, HwDeviceExtension, WorkItemCallback, Worker, Context);
}
FORCEINLINE ULONG StorPortFreeWorker(_In_ PVOID HwDeviceExtension, _In_ PVOID Worker) {
  return StorPortExtendedFunction(ExtFunctionFreeWorker, HwDeviceExtension, Worker);
}
FORCEINLINE ULONG StorPortInitializeTimer(_In_ PVOID HwDeviceExtension, _Out_ PVOID *TimerHandle) {
  return StorPortExtendedFunction(ExtFunctionInitializeTimer, HwDeviceExtension, TimerHandle);
}
FORCEINLINE ULONG StorPortRequestTimer(_In_ PVOID HwDeviceExtension, _In_ PVOID TimerHandle,
                                       _In_ PHW_TIMER_EX TimerCallback, _In_opt_ PVOID CallbackContext,
                                       _In_ ULONGLONG TimerValue, _In_ ULONGLONG TolerableDelay) {
  return StorPortExtendedFunction(ExtFunctionRequestTimer, HwDeviceExtension, TimerHandle, TimerCallback,
                                  CallbackContext, TimerValue, TolerableDelay);
}
FORCEINLINE ULONG StorPortFreeTimer(_In_ PVOID HwDeviceExtension, _In_ PVOID TimerHandle) {
  return StorPortExtendedFunction(ExtFunctionFreeTimer, HwDeviceExtension, TimerHandle);
}
FORCEINLINE ULONG StorPortLogSystemEvent(_In_ PVOID HwDeviceExtension, _In_ PVOID LogDetails,
                                         _Inout_ PULONG MaximumSize) {
  return StorPortExtendedFunction(ExtFunctionLogSystemEvent, HwDeviceExtension, LogDetails, MaximumSize);
}
FORCEINLINE ULONG StorPortQueryPerformanceCounter(_In_ PVOID HwDeviceExtension,
                                                  _Out_opt_ PLARGE_INTEGER PerformanceFrequency,
                                                  _Out_ PLARGE_INTEGER PerformanceCounter) {
  return StorPortExtendedFunction(ExtFunctionQueryPerformanceCounter, HwDeviceExtension, PerformanceFrequency,
                                  PerformanceCounter);
}


/* ---- power, PnP and WMI request blocks ----------------------------------------------------------------------- */
typedef enum _STOR_POWER_ACTION {
  StorPowerActionNone = 0,
  StorPowerActionReserved,
  StorPowerActionSleep,
  StorPowerActionHibernate,
  StorPowerActionShutdown,
  StorPowerActionShutdownReset,
  StorPowerActionShutdownOff,
  StorPowerActionWarmEject
} STOR_POWER_ACTION, *PSTOR_POWER_ACTION;

typedef enum _STOR_DEVICE_POWER_STATE {
  StorPowerDeviceUnspecified = 0,
  StorPowerDeviceD0,
  StorPowerDeviceD1,
  StorPowerDeviceD2,
  StorPowerDeviceD3,
  StorPowerDeviceMaximum
} STOR_DEVICE_POWER_STATE, *PSTOR_DEVICE_POWER_STATE;

typedef enum _STOR_PNP_ACTION {
  StorStartDevice = 0x0,
  StorRemoveDevice = 0x2,
  StorStopDevice = 0x4,
  StorQueryCapabilities = 0x9,
  StorQueryResourceRequirements = 0xB,
  StorFilterResourceRequirements = 0xD,
  StorSurpriseRemoval = 0x17
} STOR_PNP_ACTION, *PSTOR_PNP_ACTION;

#define SRB_POWER_FLAGS_ADAPTER_REQUEST 0x01
#define SRB_PNP_FLAGS_ADAPTER_REQUEST 0x01
#define SRB_WMI_FLAGS_ADAPTER_REQUEST 0x01

typedef struct _SCSI_POWER_REQUEST_BLOCK {
  USHORT Length;
  UCHAR Function;
  UCHAR SrbStatus;
  UCHAR SrbPowerFlags;
  UCHAR PathId;
  UCHAR TargetId;
  UCHAR Lun;
  STOR_DEVICE_POWER_STATE DevicePowerState;
  ULONG SrbFlags;
  ULONG DataTransferLength;
  ULONG TimeOutValue;
  PVOID DataBuffer;
  PVOID SenseInfoBuffer;
  struct _SCSI_REQUEST_BLOCK *NextSrb;
  PVOID OriginalRequest;
  PVOID SrbExtension;
  STOR_POWER_ACTION PowerAction;
  ULONG Reserved;
  UCHAR Reserved5[16];
} SCSI_POWER_REQUEST_BLOCK, *PSCSI_POWER_REQUEST_BLOCK;

typedef struct _SCSI_PNP_REQUEST_BLOCK {
  USHORT Length;
  UCHAR Function;
  UCHAR SrbStatus;
  UCHAR PnPSubFunction;
  UCHAR PathId;
  UCHAR TargetId;
  UCHAR Lun;
  STOR_PNP_ACTION PnPAction;
  ULONG SrbFlags;
  ULONG DataTransferLength;
  ULONG TimeOutValue;
  PVOID DataBuffer;
  PVOID SenseInfoBuffer;
  struct _SCSI_REQUEST_BLOCK *NextSrb;
  PVOID OriginalRequest;
  PVOID SrbExtension;
  ULONG SrbPnPFlags;
  ULONG Reserved;
  UCHAR Reserved4[16];
} SCSI_PNP_REQUEST_BLOCK, *PSCSI_PNP_REQUEST_BLOCK;

typedef struct _SCSI_WMI_REQUEST_BLOCK {
  USHORT Length;
  UCHAR Function;
  UCHAR SrbStatus;
  UCHAR WMISubFunction;
  UCHAR PathId;
  UCHAR TargetId;
  UCHAR Lun;
  UCHAR Reserved1;
  UCHAR WMIFlags;
  UCHAR Reserved2[2];
  ULONG SrbFlags;
  ULONG DataTransferLength;
  ULONG TimeOutValue;
  PVOID DataBuffer;
  PVOID DataPath;
  PVOID Reserved3;
  PVOID OriginalRequest;
  PVOID SrbExtension;
  ULONG Reserved4;
  ULONG Reserved6;
  UCHAR Reserved5[16];
} SCSI_WMI_REQUEST_BLOCK, *PSCSI_WMI_REQUEST_BLOCK;

typedef struct SRB_ALIGN _SRBEX_DATA_POWER {
  SRBEXDATATYPE Type;
  ULONG Length;
  STOR_DEVICE_POWER_STATE DevicePowerState;
  STOR_POWER_ACTION PowerAction;
  ULONG SrbPowerFlags;
  UCHAR Reserved[4];
} SRBEX_DATA_POWER, *PSRBEX_DATA_POWER;

typedef struct SRB_ALIGN _SRBEX_DATA_PNP {
  SRBEXDATATYPE Type;
  ULONG Length;
  UCHAR PnPSubFunction;
  UCHAR Reserved[3];
  STOR_PNP_ACTION PnPAction;
  ULONG SrbPnPFlags;
  UCHAR Reserved1[4];
} SRBEX_DATA_PNP, *PSRBEX_DATA_PNP;

typedef struct SRB_ALIGN _SRBEX_DATA_WMI {
  SRBEXDATATYPE Type;
  ULONG Length;
  UCHAR WMISubFunction;
  UCHAR WMIFlags;
  UCHAR Reserved[2];
  ULONG Reserved1;
  PVOID POINTER_ALIGN DataPath;
} SRBEX_DATA_WMI, *PSRBEX_DATA_WMI;

/* SRB_FUNCTION_PNP with StorQueryCapabilities: what the miniport reports of the device. */
typedef struct _STOR_DEVICE_CAPABILITIES {
  USHORT Version;
  ULONG DeviceD1 : 1;
  ULONG DeviceD2 : 1;
  ULONG LockSupported : 1;
  ULONG EjectSupported : 1;
  ULONG Removable : 1;
  ULONG DockDevice : 1;
  ULONG UniqueID : 1;
  ULONG SilentInstall : 1;
  ULONG SurpriseRemovalOK : 1;
  ULONG NoDisplayInUI : 1;
} STOR_DEVICE_CAPABILITIES, *PSTOR_DEVICE_CAPABILITIES;

typedef struct _STOR_DEVICE_CAPABILITIES_EX {
  USHORT Version;
  USHORT Size;
  ULONG DeviceD1 : 1;
  ULONG DeviceD2 : 1;
  ULONG LockSupported : 1;
  ULONG EjectSupported : 1;
  ULONG Removable : 1;
  ULONG DockDevice : 1;
  ULONG UniqueID : 1;
  ULONG SilentInstall : 1;
  ULONG SurpriseRemovalOK : 1;
  ULONG NoDisplayInUI : 1;
  ULONG Reserved1 : 22;
  ULONG Address;
  ULONG UINumber;
} STOR_DEVICE_CAPABILITIES_EX, *PSTOR_DEVICE_CAPABILITIES_EX;
#define STOR_DEVICE_CAPABILITIES_EX_VERSION_1 0x1

/* HwStorAdapterControl(ScsiAdapterPower) parameters. */
typedef struct _STOR_ADAPTER_CONTROL_POWER {
  ULONG Version;
  ULONG Size;
  STOR_DEVICE_POWER_STATE PowerState;
  STOR_POWER_ACTION PowerAction;
} STOR_ADAPTER_CONTROL_POWER, *PSTOR_ADAPTER_CONTROL_POWER;

/* ---- the registry (the adapter's Parameters\Device key): nothing persists here --------------------------------- */
#define MINIPORT_REG_SZ 1
#define MINIPORT_REG_BINARY 3
#define MINIPORT_REG_DWORD 4
PUCHAR StorPortAllocateRegistryBuffer(_In_ PVOID HwDeviceExtension, _In_ PULONG Length);
VOID StorPortFreeRegistryBuffer(_In_ PVOID HwDeviceExtension, _In_ PUCHAR Buffer);
/* No value exists: FALSE. */
BOOLEAN StorPortRegistryRead(_In_ PVOID HwDeviceExtension, _In_ PUCHAR ValueName, _In_ ULONG Global, _In_ ULONG Type,
                             _In_ PUCHAR Buffer, _In_ PULONG BufferLength);
/* Nothing is written: FALSE. */
BOOLEAN StorPortRegistryWrite(_In_ PVOID HwDeviceExtension, _In_ PUCHAR ValueName, _In_ ULONG Global, _In_ ULONG Type,
                              _In_ PUCHAR Buffer, _In_ ULONG BufferLength);

/* StorPortSetDeviceQueueDepth: the most requests the port keeps outstanding to one LU. */
BOOLEAN StorPortSetDeviceQueueDepth(_In_ PVOID HwDeviceExtension, _In_ UCHAR PathId, _In_ UCHAR TargetId, _In_ UCHAR Lun,
                                    _In_ ULONG Depth);

/* The shape DriverEntry has in miniports written against the port's own prototype. */
typedef ULONG sp_DRIVER_INITIALIZE(_In_ PVOID DriverObject, _In_ PVOID RegistryPath);

/* ---- DriverEntry ------------------------------------------------------------------------------------------------------ */
/* The miniport's entry point: the host calls it once after loading the shared object, with
 * opaque DriverObject and RegistryPath arguments it passes straight back to StorPortInitialize. */
typedef struct _DRIVER_OBJECT DRIVER_OBJECT, *PDRIVER_OBJECT;
typedef ULONG DRIVER_INITIALIZE(_In_ PVOID DriverObject, _In_ PVOID RegistryPath);
typedef DRIVER_INITIALIZE *PDRIVER_INITIALIZE;

#ifdef __cplusplus
}
#endif
#endif /* STORPORT_STORPORT_H */
