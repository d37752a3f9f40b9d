/* scsiwmi.h — the SCSI WMI library interface a miniport links (scsiwmi.lib in the WDK): GUID
 * registration, the request context, the library context of callbacks, and the dispatch and
 * post-processing routines. Here the host provides the routines; WMI requests never arrive
 * (no WMI consumer), so a miniport's WMI path is compiled but idle. Part of swift-storport,
 * written from the public DDI reference. */
#ifndef STORPORT_SCSIWMI_H
#define STORPORT_SCSIWMI_H
#include "storport.h"

typedef struct _SCSIWMIGUIDREGINFO {
  LPCGUID Guid;
  ULONG InstanceCount;
  ULONG Flags;
} SCSIWMIGUIDREGINFO, *PSCSIWMIGUIDREGINFO;

typedef struct _SCSIWMI_REQUEST_CONTEXT {
  PVOID UserContext;
  ULONG BufferSize;
  PUCHAR Buffer;
  UCHAR MinorFunction;
  UCHAR ReturnStatus;
  ULONG ReturnSize;
} SCSIWMI_REQUEST_CONTEXT, *PSCSIWMI_REQUEST_CONTEXT;

#define ScsiPortWmiGetReturnStatus(RequestContext) ((RequestContext)->ReturnStatus)
#define ScsiPortWmiGetReturnSize(RequestContext) ((RequestContext)->ReturnSize)
#define ScsiPortWmiSetData(RequestContext, Data) ((RequestContext)->UserContext = (Data))
#define ScsiPortWmiGetData(RequestContext) ((RequestContext)->UserContext)

typedef UCHAR SCSIWMI_QUERY_REGINFO(PVOID DeviceContext, PSCSIWMI_REQUEST_CONTEXT RequestContext,
                                    PWCHAR *MofResourceName);
typedef SCSIWMI_QUERY_REGINFO *PSCSIWMI_QUERY_REGINFO;
typedef BOOLEAN SCSIWMI_QUERY_DATABLOCK(PVOID Context, PSCSIWMI_REQUEST_CONTEXT DispatchContext, ULONG GuidIndex,
                                        ULONG InstanceIndex, ULONG InstanceCount, PULONG InstanceLengthArray,
                                        ULONG BufferAvail, PUCHAR Buffer);
typedef SCSIWMI_QUERY_DATABLOCK *PSCSIWMI_QUERY_DATABLOCK;
typedef BOOLEAN SCSIWMI_SET_DATABLOCK(PVOID DeviceContext, PSCSIWMI_REQUEST_CONTEXT RequestContext, ULONG GuidIndex,
                                      ULONG InstanceIndex, ULONG BufferSize, PUCHAR Buffer);
typedef SCSIWMI_SET_DATABLOCK *PSCSIWMI_SET_DATABLOCK;
typedef BOOLEAN SCSIWMI_SET_DATAITEM(PVOID DeviceContext, PSCSIWMI_REQUEST_CONTEXT RequestContext, ULONG GuidIndex,
                                     ULONG InstanceIndex, ULONG DataItemId, ULONG BufferSize, PUCHAR Buffer);
typedef SCSIWMI_SET_DATAITEM *PSCSIWMI_SET_DATAITEM;
typedef BOOLEAN SCSIWMI_EXECUTE_METHOD(PVOID DeviceContext, PSCSIWMI_REQUEST_CONTEXT RequestContext, ULONG GuidIndex,
                                       ULONG InstanceIndex, ULONG MethodId, ULONG InBufferSize, ULONG OutBufferSize,
                                       PUCHAR Buffer);
typedef SCSIWMI_EXECUTE_METHOD *PSCSIWMI_EXECUTE_METHOD;
typedef enum { ScsiWmiEventControl, ScsiWmiDataBlockControl } SCSIWMI_ENABLE_DISABLE_CONTROL;
typedef BOOLEAN SCSIWMI_FUNCTION_CONTROL(PVOID DeviceContext, PSCSIWMI_REQUEST_CONTEXT RequestContext,
                                         ULONG GuidIndex, SCSIWMI_ENABLE_DISABLE_CONTROL Function, BOOLEAN Enable);
typedef SCSIWMI_FUNCTION_CONTROL *PSCSIWMI_FUNCTION_CONTROL;

typedef struct _SCSIWMILIB_CONTEXT {
  ULONG GuidCount;
  PSCSIWMIGUIDREGINFO GuidList;
  PSCSIWMI_QUERY_REGINFO QueryWmiRegInfo;
  PSCSIWMI_QUERY_DATABLOCK QueryWmiDataBlock;
  PSCSIWMI_SET_DATABLOCK SetWmiDataBlock;
  PSCSIWMI_SET_DATAITEM SetWmiDataItem;
  PSCSIWMI_EXECUTE_METHOD ExecuteWmiMethod;
  PSCSIWMI_FUNCTION_CONTROL WmiFunctionControl;
} SCSI_WMILIB_CONTEXT, *PSCSI_WMILIB_CONTEXT;

/* Dispatches a WMI request to the library context's callbacks: FALSE (not handled) here. */
BOOLEAN ScsiPortWmiDispatchFunction(PSCSI_WMILIB_CONTEXT WmiLibInfo, UCHAR MinorFunction, PVOID DeviceContext,
                                    PSCSIWMI_REQUEST_CONTEXT RequestContext, PVOID DataPath, ULONG BufferSize,
                                    PVOID Buffer);
/* Records a callback's status and the bytes it used. */
VOID ScsiPortWmiPostProcess(PSCSIWMI_REQUEST_CONTEXT RequestContext, UCHAR SrbStatus, ULONG BufferUsed);
VOID ScsiPortWmiFireLogicalUnitEvent(PVOID HwDeviceExtension, UCHAR PathId, UCHAR TargetId, UCHAR Lun, LPGUID Guid,
                                     ULONG EventNumber, ULONG EventDataSize, PVOID EventData);
VOID ScsiPortWmiFireAdapterEvent(PVOID HwDeviceExtension, LPGUID Guid, ULONG EventNumber, ULONG EventDataSize,
                                 PVOID EventData);

#endif
