/*
 * nvme.c — a physical Storport miniport for an NVM Express controller, written against
 * storport.h only, in the shape of the public OFA NVMe driver:
 *
 *  - controller start-up is a HwStorTimer state machine (StorPortNotification RequestTimerCall,
 *    re-armed every millisecond): disable, wait not ready, admin queue, enable, wait ready,
 *    identify controller and namespace, number of queues, create the I/O queues;
 *  - one MSI-X message per completion queue: HwMSInterruptRoutine issues the queue's STOR_DPC,
 *    which drains the completion queue under that DPC's DpcLock and completes the SRBs;
 *  - concurrent StartIo channels (PERF_CONFIGURATION_DATA, STOR_PERF_CONCURRENT_CHANNELS), so
 *    HwStorStartIo is not serialised with HwStorTimer: the two share the reset gate only through
 *    InterlockedCompareExchange, as the HW_TIMER page requires;
 *  - PRP lists for transfers past two pages, from StorPortGetScatterGatherList;
 *  - HwStorResetBus and fatal controller status reset the controller from the timer; requests in
 *    flight go back to the port with SRB_STATUS_BUSY and are retried after the reset.
 *
 * Build:  cc -shared -fPIC -O2 -I "$(storport --include-dir)" nvme.c -o nvme.so
 * Run:    storport bench io --miniport ./nvme.so --verify crc32c
 */
#include <storport.h>
#include "nvme.h"

#define NVME_MAX_QUEUES 8
#define NVME_QUEUE_DEPTH 64
#define NVME_ADMIN_DEPTH 16
#define NVME_PAGE 4096
#define NVME_MAX_TRANSFER (128 * 1024)
#define NVME_PRP_LIST_BYTES 512 /* one command's PRP list: 33 entries fit; never crosses a page */
#define NVME_TIMER_STARTUP_US 1000
#define NVME_TIMER_WATCHDOG_US 5000

typedef enum _NVME_STATE {
  StateDisable,
  StateWaitNotReady,
  StateWaitFlushed,
  StateWaitReady,
  StateIdentifyController,
  StateIdentifyNamespace,
  StateSetQueues,
  StateCreateCq,
  StateCreateSq,
  StateRunning,
  StateDraining,
  StateStopped,
  StateFailed
} NVME_STATE;

typedef struct _NVME_QUEUE {
  ULONG Qid;
  volatile NVME_COMMAND *Sq;
  volatile NVME_COMPLETION *Cq;
  ULONGLONG SqPhysical;
  ULONGLONG CqPhysical;
  PUCHAR PrpLists; /* NVME_QUEUE_DEPTH lists of NVME_PRP_LIST_BYTES */
  ULONGLONG PrpListsPhysical;
  /* Guarded by Dpc's DpcLock: */
  ULONG SqTail;
  ULONG CqHead;
  USHORT Phase;
  ULONG FreeCount;
  USHORT FreeCids[NVME_QUEUE_DEPTH];
  PSCSI_REQUEST_BLOCK Slots[NVME_QUEUE_DEPTH];
  STOR_DPC Dpc;
  LONG Outstanding;    /* interlocked */
  LONG FlushRequested; /* interlocked: the timer asks the DPC to empty and reset the rings */
} NVME_QUEUE, *PNVME_QUEUE;

typedef struct _NVME_EXTENSION {
  PUCHAR Registers;
  /* The uncached extension: admin rings, identify buffer, then each I/O queue's pages. */
  PUCHAR Uncached;
  ULONGLONG UncachedPhysical;
  volatile NVME_COMMAND *AdminSq;
  volatile NVME_COMPLETION *AdminCq;
  PUCHAR IdentifyBuffer;
  ULONGLONG IdentifyPhysical;
  ULONG AdminTail, AdminHead;
  USHORT AdminPhase, AdminCid;
  NVME_QUEUE Queues[NVME_MAX_QUEUES];
  ULONG QueueCount;
  /* Owned by HwStorTimer (and the control paths the port serialises with it): */
  NVME_STATE State;
  ULONGLONG Deadline;
  ULONG CreateIndex;
  /* Known once identified: */
  ULONGLONG BlockCount;
  ULONG BlockSize;
  UCHAR Serial[20];
  UCHAR Model[40];
  /* Shared by HwStorTimer and the concurrent StartIo channels, interlocked only:
   * ResetState 0 = running, 1 = starting or resetting (StartIo turns requests back BUSY). */
  LONG ResetState;
  LONG StartIoActive;
  LONG ResetRequested;
  LONG FlushedQueues; /* interlocked: queues whose DPC has emptied and reset them */
  LONG Startups;
  LONG Resets;
} NVME_EXTENSION, *PNVME_EXTENSION;

HW_FIND_ADAPTER NvmeFindAdapter;
HW_INITIALIZE NvmeInitialize;
HW_PASSIVE_INITIALIZE_ROUTINE NvmePassiveInitialize;
HW_STARTIO NvmeStartIo;
HW_INTERRUPT NvmeInterrupt;
HW_MESSAGE_SIGNALED_INTERRUPT_ROUTINE NvmeMessageInterrupt;
HW_DPC_ROUTINE NvmeCompletionDpc;
HW_TIMER NvmeTimer;
HW_RESET_BUS NvmeResetBus;
HW_ADAPTER_CONTROL NvmeAdapterControl;

/* ---- registers ---------------------------------------------------------------------------- */
static ULONG Read32(PNVME_EXTENSION Ext, ULONG Offset) {
  return StorPortReadRegisterUlong(Ext, (PULONG)(Ext->Registers + Offset));
}
static VOID Write32(PNVME_EXTENSION Ext, ULONG Offset, ULONG Value) {
  StorPortWriteRegisterUlong(Ext, (PULONG)(Ext->Registers + Offset), Value);
}
static ULONGLONG Read64(PNVME_EXTENSION Ext, ULONG Offset) {
  return StorPortReadRegisterUlong64(Ext, (PULONG64)(Ext->Registers + Offset));
}
static VOID Write64(PNVME_EXTENSION Ext, ULONG Offset, ULONGLONG Value) {
  StorPortWriteRegisterUlong64(Ext, (PULONG64)(Ext->Registers + Offset), Value);
}

static ULONGLONG NowNs(PNVME_EXTENSION Ext) {
  LARGE_INTEGER frequency, counter;
  StorPortQueryPerformanceCounter(Ext, &frequency, &counter);
  if (frequency.QuadPart <= 0) return (ULONGLONG)counter.QuadPart;
  return (ULONGLONG)counter.QuadPart * (1000000000ull / (ULONGLONG)frequency.QuadPart);
}

static ULONGLONG Physical(PNVME_EXTENSION Ext, PVOID Virtual) {
  ULONG length;
  return (ULONGLONG)StorPortGetPhysicalAddress(Ext, NULL, Virtual, &length).QuadPart;
}

/* ---- find adapter ----------------------------------------------------------------------------- */
_Use_decl_annotations_
ULONG NvmeFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation, PCHAR ArgumentString,
                      PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Reserved3) {
  PNVME_EXTENSION ext = DeviceExtension;
  PCI_COMMON_CONFIG pci;
  UNREFERENCED_PARAMETER(HwContext);
  UNREFERENCED_PARAMETER(BusInformation);
  UNREFERENCED_PARAMETER(ArgumentString);
  UNREFERENCED_PARAMETER(Reserved3);

  if (StorPortGetBusData(ext, PCIConfiguration, ConfigInfo->SystemIoBusNumber, ConfigInfo->SlotNumber, &pci,
                         sizeof pci) < PCI_COMMON_HDR_LENGTH)
    return SP_RETURN_NOT_FOUND;
  if (pci.BaseClass != PCI_CLASS_MASS_STORAGE_CTLR || pci.SubClass != PCI_SUBCLASS_MSC_NVM_CTLR || pci.ProgIf != 2)
    return SP_RETURN_NOT_FOUND;
  if (ConfigInfo->NumberOfAccessRanges < 1) return SP_RETURN_BAD_CONFIG;
  PACCESS_RANGE bar0 = &(*ConfigInfo->AccessRanges)[0];
  if (!bar0->RangeInMemory || bar0->RangeLength < 0x2000) return SP_RETURN_BAD_CONFIG;
  ext->Registers = StorPortGetDeviceBase(ext, ConfigInfo->AdapterInterfaceType, ConfigInfo->SystemIoBusNumber,
                                         bar0->RangeStart, bar0->RangeLength, FALSE);
  if (!ext->Registers) return SP_RETURN_ERROR;

  ConfigInfo->SynchronizationModel = StorSynchronizeFullDuplex;
  ConfigInfo->InterruptSynchronizationMode = InterruptSynchronizePerMessage;
  ConfigInfo->HwMSInterruptRoutine = NvmeMessageInterrupt;
  ConfigInfo->MaximumTransferLength = NVME_MAX_TRANSFER;
  ConfigInfo->NumberOfPhysicalBreaks = NVME_MAX_TRANSFER / NVME_PAGE + 1;
  ConfigInfo->AlignmentMask = 3;
  ConfigInfo->ScatterGather = TRUE;
  ConfigInfo->Master = TRUE;
  ConfigInfo->Dma64BitAddresses = SCSI_DMA64_MINIPORT_FULL64BIT_SUPPORTED;
  ConfigInfo->MaximumNumberOfTargets = 1;
  ConfigInfo->MaximumNumberOfLogicalUnits = 1;
  ConfigInfo->NumberOfBuses = 1;

  /* Admin SQ, admin CQ, identify buffer, then per I/O queue: SQ, CQ, PRP lists. */
  ULONG perQueue = 2 + NVME_QUEUE_DEPTH * NVME_PRP_LIST_BYTES / NVME_PAGE;
  ULONG pages = 3 + NVME_MAX_QUEUES * perQueue;
  if (!ext->Uncached) {
    ext->Uncached = StorPortGetUncachedExtension(ext, ConfigInfo, pages * NVME_PAGE);
    if (!ext->Uncached) return SP_RETURN_ERROR;
  }
  ext->UncachedPhysical = Physical(ext, ext->Uncached);
  PUCHAR p = ext->Uncached;
  ext->AdminSq = (volatile NVME_COMMAND *)p;
  ext->AdminCq = (volatile NVME_COMPLETION *)(p + NVME_PAGE);
  ext->IdentifyBuffer = p + 2 * NVME_PAGE;
  ext->IdentifyPhysical = Physical(ext, ext->IdentifyBuffer);
  p += 3 * NVME_PAGE;
  for (ULONG i = 0; i < NVME_MAX_QUEUES; i++) {
    PNVME_QUEUE q = &ext->Queues[i];
    q->Qid = i + 1;
    q->Sq = (volatile NVME_COMMAND *)p;
    q->Cq = (volatile NVME_COMPLETION *)(p + NVME_PAGE);
    q->PrpLists = p + 2 * NVME_PAGE;
    q->SqPhysical = Physical(ext, (PVOID)q->Sq);
    q->CqPhysical = Physical(ext, (PVOID)q->Cq);
    q->PrpListsPhysical = Physical(ext, q->PrpLists);
    p += perQueue * NVME_PAGE;
  }
  return SP_RETURN_FOUND;
}

/* ---- initialisation ------------------------------------------------------------------------------ */
_Use_decl_annotations_
BOOLEAN NvmeInitialize(PVOID DeviceExtension) {
  PNVME_EXTENSION ext = DeviceExtension;
  MESSAGE_INTERRUPT_INFORMATION msi;
  ULONG messages = 0;
  while (messages < 64 && StorPortGetMSIInfo(ext, messages, &msi) == STOR_STATUS_SUCCESS) messages++;
  ULONG processors = KeQueryActiveProcessorCount(NULL);
  ULONG n = processors;
  if (messages > 1 && n > messages - 1) n = messages - 1;
  if (n > NVME_MAX_QUEUES) n = NVME_MAX_QUEUES;
  if (n == 0) n = 1;
  ext->QueueCount = n;

  PERF_CONFIGURATION_DATA perf;
  RtlZeroMemory(&perf, sizeof perf);
  perf.Version = STOR_PERF_VERSION;
  perf.Size = sizeof perf;
  if (StorPortInitializePerfOpts(ext, TRUE, &perf) == STOR_STATUS_SUCCESS &&
      (perf.Flags & STOR_PERF_CONCURRENT_CHANNELS)) {
    perf.Flags = STOR_PERF_CONCURRENT_CHANNELS;
    perf.ConcurrentChannels = n;
    StorPortInitializePerfOpts(ext, FALSE, &perf);
  }
  InterlockedExchange(&ext->ResetState, 1);
  /* The queues' DPCs are initialised at PASSIVE_LEVEL; the start-up timer is armed there too,
   * after them, so no interrupt can find an uninitialised DPC. */
  return StorPortEnablePassiveInitialization(ext, NvmePassiveInitialize);
}

static VOID BeginStartup(PNVME_EXTENSION Ext) {
  InterlockedExchange(&Ext->ResetState, 1);
  StorPortPause(Ext, 30);
  Ext->State = StateDisable;
  StorPortNotification(RequestTimerCall, Ext, NvmeTimer, NVME_TIMER_STARTUP_US);
}

_Use_decl_annotations_
BOOLEAN NvmePassiveInitialize(PVOID DeviceExtension) {
  PNVME_EXTENSION ext = DeviceExtension;
  for (ULONG i = 0; i < NVME_MAX_QUEUES; i++) StorPortInitializeDpc(ext, &ext->Queues[i].Dpc, NvmeCompletionDpc);
  BeginStartup(ext);
  return TRUE;
}

/* ---- admin queue (polled by the timer) --------------------------------------------------------------- */
static VOID AdminSubmit(PNVME_EXTENSION Ext, NVME_COMMAND *Command) {
  Command->CommandId = Ext->AdminCid++;
  volatile NVME_COMMAND *slot = &Ext->AdminSq[Ext->AdminTail];
  RtlCopyMemory((PVOID)slot, Command, sizeof *Command);
  Ext->AdminTail = (Ext->AdminTail + 1) % NVME_ADMIN_DEPTH;
  Write32(Ext, NVME_DOORBELL_SQ(0), Ext->AdminTail);
}

/* The admin command's completion, if it has arrived: TRUE and its status and result. */
static BOOLEAN AdminPoll(PNVME_EXTENSION Ext, USHORT *Status, ULONG *Result) {
  volatile NVME_COMPLETION *e = &Ext->AdminCq[Ext->AdminHead];
  if ((e->Status & 1) != Ext->AdminPhase) return FALSE;
  *Status = e->Status;
  *Result = e->Result;
  Ext->AdminHead++;
  if (Ext->AdminHead == NVME_ADMIN_DEPTH) {
    Ext->AdminHead = 0;
    Ext->AdminPhase ^= 1;
  }
  Write32(Ext, NVME_DOORBELL_CQ(0), Ext->AdminHead);
  return TRUE;
}

static VOID ResetRings(PNVME_QUEUE Q) {
  RtlZeroMemory((PVOID)Q->Sq, NVME_PAGE);
  RtlZeroMemory((PVOID)Q->Cq, NVME_PAGE);
  Q->SqTail = 0;
  Q->CqHead = 0;
  Q->Phase = 1;
  Q->FreeCount = NVME_QUEUE_DEPTH - 1; /* a full ring keeps one entry empty */
  for (ULONG c = 0; c < NVME_QUEUE_DEPTH - 1; c++) Q->FreeCids[c] = (USHORT)(NVME_QUEUE_DEPTH - 2 - c);
  for (ULONG c = 0; c < NVME_QUEUE_DEPTH; c++) Q->Slots[c] = NULL;
}

/* The admin command in flight completed successfully: issue the next one, or open the gate. */
static VOID AdvanceAdmin(PNVME_EXTENSION Ext, ULONG Result) {
  NVME_COMMAND c;
  RtlZeroMemory(&c, sizeof c);
  c.Prp1 = Ext->IdentifyPhysical;
  switch (Ext->State) {
  case StateIdentifyController:
    RtlCopyMemory(Ext->Serial, Ext->IdentifyBuffer + 4, sizeof Ext->Serial);
    RtlCopyMemory(Ext->Model, Ext->IdentifyBuffer + 24, sizeof Ext->Model);
    c.Opcode = NVME_ADMIN_IDENTIFY;
    c.NamespaceId = 1;
    c.Cdw10 = 0; /* CNS 0: the namespace */
    Ext->State = StateIdentifyNamespace;
    break;
  case StateIdentifyNamespace: {
    PUCHAR ns = Ext->IdentifyBuffer;
    ULONGLONG size;
    RtlCopyMemory(&size, ns, sizeof size);
    UCHAR format = ns[26] & 0xF;
    ULONG lbaf;
    RtlCopyMemory(&lbaf, ns + 128 + 4 * format, sizeof lbaf);
    Ext->BlockCount = size;
    Ext->BlockSize = 1u << ((lbaf >> 16) & 0xFF);
    c.Opcode = NVME_ADMIN_SET_FEATURES;
    c.Prp1 = 0;
    c.Cdw10 = NVME_FEATURE_NUMBER_OF_QUEUES;
    c.Cdw11 = (Ext->QueueCount - 1) | ((Ext->QueueCount - 1) << 16);
    Ext->State = StateSetQueues;
    break;
  }
  case StateSetQueues: {
    ULONG granted = (Result & 0xFFFF) + 1;
    if (((Result >> 16) & 0xFFFF) + 1 < granted) granted = ((Result >> 16) & 0xFFFF) + 1;
    if (granted < Ext->QueueCount) Ext->QueueCount = granted;
    Ext->CreateIndex = 0;
  }
    /* fall through */
  case StateCreateCq:
    if (Ext->CreateIndex < Ext->QueueCount) {
      PNVME_QUEUE q = &Ext->Queues[Ext->CreateIndex];
      c.Opcode = NVME_ADMIN_CREATE_CQ;
      c.Prp1 = q->CqPhysical;
      c.Cdw10 = q->Qid | ((NVME_QUEUE_DEPTH - 1) << 16);
      c.Cdw11 = 0x3 | (q->Qid << 16); /* physically contiguous, interrupts on, vector = qid */
      Ext->CreateIndex++;
      Ext->State = StateCreateCq;
      if (Ext->CreateIndex == Ext->QueueCount) {
        Ext->CreateIndex = 0;
        Ext->State = StateCreateSq;
      }
      break;
    }
    return;
  case StateCreateSq:
    if (Ext->CreateIndex < Ext->QueueCount) {
      PNVME_QUEUE q = &Ext->Queues[Ext->CreateIndex];
      c.Opcode = NVME_ADMIN_CREATE_SQ;
      c.Prp1 = q->SqPhysical;
      c.Cdw10 = q->Qid | ((NVME_QUEUE_DEPTH - 1) << 16);
      c.Cdw11 = 0x1 | (q->Qid << 16); /* physically contiguous, completion queue = qid */
      Ext->CreateIndex++;
      break;
    }
    /* Every queue exists: open the gate to the StartIo channels. */
    Ext->State = StateRunning;
    InterlockedIncrement(&Ext->Startups);
    InterlockedExchange(&Ext->ResetState, 0);
    StorPortResume(Ext);
    return;
  default:
    return;
  }
  AdminSubmit(Ext, &c);
}

/* ---- reset ----------------------------------------------------------------------------------------- */
/* Claims the reset against the StartIo channels (compare-exchange) and holds new I/O. */
static VOID StartReset(PNVME_EXTENSION Ext) {
  if (InterlockedCompareExchange(&Ext->ResetState, 1, 0) != 0) return;
  InterlockedIncrement(&Ext->Resets);
  StorPortPause(Ext, 30);
  Ext->State = StateDraining;
}

/* ---- HwStorTimer: start-up state machine, then watchdog ------------------------------------------------ */
_Use_decl_annotations_
VOID NvmeTimer(PVOID DeviceExtension) {
  PNVME_EXTENSION ext = DeviceExtension;
  ULONGLONG now = NowNs(ext);
  ULONG next = NVME_TIMER_STARTUP_US;
  USHORT status;
  ULONG result;
  switch (ext->State) {
  case StateDisable:
    Write32(ext, NVME_REG_CC, 0);
    ext->Deadline = now + 2000000000ull;
    ext->State = StateWaitNotReady;
    break;
  case StateWaitNotReady:
    if ((Read32(ext, NVME_REG_CSTS) & NVME_CSTS_RDY) == 0) {
      /* The controller has let go of every command: each queue's DPC, under its own
       * DpcLock, hands what is still outstanding back to the port and resets the rings
       * (HwStorTimer may not take a DpcLock itself in full duplex). */
      InterlockedExchange(&ext->FlushedQueues, 0);
      for (ULONG i = 0; i < NVME_MAX_QUEUES; i++) {
        InterlockedExchange(&ext->Queues[i].FlushRequested, 1);
        StorPortIssueDpc(ext, &ext->Queues[i].Dpc, NULL, NULL);
      }
      ext->State = StateWaitFlushed;
    } else if (now > ext->Deadline) {
      ext->State = StateFailed;
    }
    break;
  case StateWaitFlushed:
    if (InterlockedCompareExchange(&ext->FlushedQueues, NVME_MAX_QUEUES, NVME_MAX_QUEUES) == NVME_MAX_QUEUES) {
      RtlZeroMemory((PVOID)ext->AdminSq, NVME_PAGE);
      RtlZeroMemory((PVOID)ext->AdminCq, NVME_PAGE);
      ext->AdminTail = ext->AdminHead = 0;
      ext->AdminPhase = 1;
      Write32(ext, NVME_REG_AQA, (NVME_ADMIN_DEPTH - 1) | ((NVME_ADMIN_DEPTH - 1) << 16));
      Write64(ext, NVME_REG_ASQ, Physical(ext, (PVOID)ext->AdminSq));
      Write64(ext, NVME_REG_ACQ, Physical(ext, (PVOID)ext->AdminCq));
      Write32(ext, NVME_REG_CC, NVME_CC_IOSQES_64 | NVME_CC_IOCQES_16 | NVME_CC_ENABLE);
      ULONGLONG timeout = (Read64(ext, NVME_REG_CAP) >> 24) & 0xFF; /* CAP.TO, 500 ms units */
      ext->Deadline = now + (timeout ? timeout : 1) * 500000000ull;
      ext->State = StateWaitReady;
    }
    break;
  case StateWaitReady: {
    ULONG csts = Read32(ext, NVME_REG_CSTS);
    if (csts & NVME_CSTS_CFS) {
      ext->State = StateDisable;
    } else if (csts & NVME_CSTS_RDY) {
      NVME_COMMAND c;
      RtlZeroMemory(&c, sizeof c);
      c.Opcode = NVME_ADMIN_IDENTIFY;
      c.Prp1 = ext->IdentifyPhysical;
      c.Cdw10 = 1; /* CNS 1: the controller */
      AdminSubmit(ext, &c);
      ext->State = StateIdentifyController;
    } else if (now > ext->Deadline) {
      ext->State = StateFailed;
    }
    break;
  }
  case StateIdentifyController:
  case StateIdentifyNamespace:
  case StateSetQueues:
  case StateCreateCq:
  case StateCreateSq:
    if (!AdminPoll(ext, &status, &result)) {
      if (Read32(ext, NVME_REG_CSTS) & NVME_CSTS_CFS) ext->State = StateDisable;
      break;
    }
    if (NVME_STATUS_CODE(status) != 0 || NVME_STATUS_TYPE(status) != 0) {
      ext->State = StateFailed;
      break;
    }
    AdvanceAdmin(ext, result);
    break;
  case StateRunning:
    next = NVME_TIMER_WATCHDOG_US;
    if (InterlockedExchange(&ext->ResetRequested, 0) || (Read32(ext, NVME_REG_CSTS) & NVME_CSTS_CFS)) StartReset(ext);
    break;
  case StateDraining:
    /* No StartIo is past its check of the gate: the controller may be disabled. */
    if (InterlockedCompareExchange(&ext->StartIoActive, 0, 0) == 0) ext->State = StateDisable;
    break;
  case StateStopped:
  case StateFailed:
    return;
  }
  StorPortNotification(RequestTimerCall, ext, NvmeTimer, next);
}

/* ---- SCSI translation -------------------------------------------------------------------------------- */
static ULONG Be32(const UCHAR *b) { return ((ULONG)b[0] << 24) | ((ULONG)b[1] << 16) | ((ULONG)b[2] << 8) | b[3]; }
static ULONGLONG Be64(const UCHAR *b) {
  ULONGLONG v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return v;
}
static VOID PutBe32(UCHAR *b, ULONG v) {
  b[0] = (UCHAR)(v >> 24); b[1] = (UCHAR)(v >> 16); b[2] = (UCHAR)(v >> 8); b[3] = (UCHAR)v;
}

static UCHAR CheckCondition(PSCSI_REQUEST_BLOCK Srb, UCHAR Key, UCHAR Asc) {
  Srb->ScsiStatus = SCSISTAT_CHECK_CONDITION;
  Srb->DataTransferLength = 0;
  if (Srb->SenseInfoBuffer && Srb->SenseInfoBufferLength >= sizeof(SENSE_DATA)) {
    PSENSE_DATA sense = Srb->SenseInfoBuffer;
    RtlZeroMemory(sense, sizeof *sense);
    sense->ErrorCode = SCSI_SENSE_ERRORCODE_FIXED_CURRENT;
    sense->SenseKey = Key;
    sense->AdditionalSenseLength = sizeof(SENSE_DATA) - 8;
    sense->AdditionalSenseCode = Asc;
    Srb->SenseInfoBufferLength = sizeof(SENSE_DATA);
    return SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID;
  }
  return SRB_STATUS_ERROR;
}

static UCHAR CopyOut(PSCSI_REQUEST_BLOCK Srb, const VOID *Data, ULONG Length) {
  ULONG n = Length < Srb->DataTransferLength ? Length : Srb->DataTransferLength;
  if (n) RtlCopyMemory(Srb->DataBuffer, Data, n);
  Srb->DataTransferLength = n;
  Srb->ScsiStatus = SCSISTAT_GOOD;
  return SRB_STATUS_SUCCESS;
}

/* Commands answered without the controller. */
static UCHAR Emulate(PNVME_EXTENSION Ext, PSCSI_REQUEST_BLOCK Srb) {
  UCHAR *cdb = Srb->Cdb;
  UCHAR data[64];
  RtlZeroMemory(data, sizeof data);
  switch (cdb[0]) {
  case SCSIOP_TEST_UNIT_READY:
  case SCSIOP_START_STOP_UNIT:
  case SCSIOP_VERIFY:
  case SCSIOP_VERIFY16:
  case SCSIOP_MEDIUM_REMOVAL:
    Srb->DataTransferLength = 0;
    Srb->ScsiStatus = SCSISTAT_GOOD;
    return SRB_STATUS_SUCCESS;
  case SCSIOP_INQUIRY:
    if (cdb[1] & 1) {
      data[1] = cdb[2];
      if (cdb[2] == 0x00) { data[3] = 2; data[4] = 0x00; data[5] = 0x80; return CopyOut(Srb, data, 6); }
      if (cdb[2] == 0x80) { data[3] = 20; RtlCopyMemory(data + 4, Ext->Serial, 20); return CopyOut(Srb, data, 24); }
      return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB);
    }
    data[0] = DIRECT_ACCESS_DEVICE;
    data[2] = 6;
    data[3] = 2;
    data[4] = INQUIRYDATABUFFERSIZE - 5;
    data[7] = 0x02; /* command queuing */
    RtlCopyMemory(data + 8, "NVMe    ", 8);
    RtlCopyMemory(data + 16, Ext->Model, 16);
    RtlCopyMemory(data + 32, "1.0 ", 4);
    return CopyOut(Srb, data, INQUIRYDATABUFFERSIZE);
  case SCSIOP_READ_CAPACITY:
    PutBe32(data, Ext->BlockCount - 1 > 0xFFFFFFFFull ? 0xFFFFFFFFu : (ULONG)(Ext->BlockCount - 1));
    PutBe32(data + 4, Ext->BlockSize);
    return CopyOut(Srb, data, 8);
  case SCSIOP_READ_CAPACITY16:
    if ((cdb[1] & 0x1F) != SERVICE_ACTION_READ_CAPACITY16)
      return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB);
    for (int i = 0; i < 8; i++) data[i] = (UCHAR)((Ext->BlockCount - 1) >> (56 - 8 * i));
    PutBe32(data + 8, Ext->BlockSize);
    return CopyOut(Srb, data, 32);
  case SCSIOP_MODE_SENSE:
    data[0] = 3;
    return CopyOut(Srb, data, 4);
  case SCSIOP_MODE_SENSE10:
    data[1] = 6;
    return CopyOut(Srb, data, 8);
  case SCSIOP_REPORT_LUNS:
    data[3] = 8;
    return CopyOut(Srb, data, 16);
  default:
    return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND);
  }
}

/* Fills PRP1/PRP2 (and the command slot's PRP list) from the request's scatter/gather list. */
static BOOLEAN BuildPrps(PNVME_EXTENSION Ext, PNVME_QUEUE Q, USHORT Cid, PSCSI_REQUEST_BLOCK Srb, ULONG Bytes,
                         NVME_COMMAND *C) {
  PSTOR_SCATTER_GATHER_LIST sg = StorPortGetScatterGatherList(Ext, Srb);
  if (!sg || sg->NumberOfElements == 0) return FALSE;
  ULONGLONG *list = (ULONGLONG *)(Q->PrpLists + (ULONG)Cid * NVME_PRP_LIST_BYTES);
  ULONG entries = 0, covered = 0;
  BOOLEAN first = TRUE;
  for (ULONG e = 0; e < sg->NumberOfElements && covered < Bytes; e++) {
    ULONGLONG address = (ULONGLONG)sg->List[e].PhysicalAddress.QuadPart;
    ULONG length = sg->List[e].Length;
    while (length > 0 && covered < Bytes) {
      ULONG inPage = NVME_PAGE - (ULONG)(address % NVME_PAGE);
      ULONG n = inPage < length ? inPage : length;
      if (first) {
        C->Prp1 = address;
        first = FALSE;
      } else {
        if (address % NVME_PAGE != 0 || entries >= NVME_PRP_LIST_BYTES / 8) return FALSE;
        list[entries++] = address;
      }
      address += n;
      length -= n;
      covered += n;
    }
  }
  if (covered < Bytes) return FALSE;
  if (entries == 1) C->Prp2 = list[0];
  else if (entries > 1) C->Prp2 = Q->PrpListsPhysical + (ULONGLONG)Cid * NVME_PRP_LIST_BYTES;
  return TRUE;
}

/* Puts the command on queue Q (under its DpcLock): FALSE when the queue is full. */
static BOOLEAN Submit(PNVME_EXTENSION Ext, PNVME_QUEUE Q, PSCSI_REQUEST_BLOCK Srb, NVME_COMMAND *C, ULONG Bytes) {
  STOR_LOCK_HANDLE lock;
  BOOLEAN accepted = FALSE;
  StorPortAcquireSpinLock(Ext, DpcLock, &Q->Dpc, &lock);
  if (Q->FreeCount > 0) {
    USHORT cid = Q->FreeCids[--Q->FreeCount];
    if (Bytes == 0 || BuildPrps(Ext, Q, cid, Srb, Bytes, C)) {
      C->CommandId = cid;
      Q->Slots[cid] = Srb;
      RtlCopyMemory((PVOID)&Q->Sq[Q->SqTail], C, sizeof *C);
      Q->SqTail = (Q->SqTail + 1) % NVME_QUEUE_DEPTH;
      InterlockedIncrement(&Q->Outstanding);
      Write32(Ext, NVME_DOORBELL_SQ(Q->Qid), Q->SqTail);
      accepted = TRUE;
    } else {
      Q->FreeCids[Q->FreeCount++] = cid;
    }
  }
  StorPortReleaseSpinLock(Ext, &lock);
  return accepted;
}

static VOID ExecuteScsi(PNVME_EXTENSION Ext, PSCSI_REQUEST_BLOCK Srb) {
  UCHAR *cdb = Srb->Cdb;
  NVME_COMMAND c;
  RtlZeroMemory(&c, sizeof c);
  c.NamespaceId = 1;
  ULONGLONG lba = 0;
  ULONG blocks = 0;
  BOOLEAN flush = FALSE;
  switch (cdb[0]) {
  case SCSIOP_READ: case SCSIOP_WRITE:
    lba = Be32(cdb + 2);
    blocks = ((ULONG)cdb[7] << 8) | cdb[8];
    break;
  case SCSIOP_READ16: case SCSIOP_WRITE16:
    lba = Be64(cdb + 2);
    blocks = Be32(cdb + 10);
    break;
  case SCSIOP_SYNCHRONIZE_CACHE:
  case SCSIOP_SYNCHRONIZE_CACHE16:
    c.Opcode = NVME_IO_FLUSH;
    flush = TRUE;
    break;
  default:
    Srb->SrbStatus = Emulate(Ext, Srb);
    StorPortNotification(RequestComplete, Ext, Srb);
    return;
  }
  ULONG bytes = 0;
  if (!flush) {
    BOOLEAN write = cdb[0] == SCSIOP_WRITE || cdb[0] == SCSIOP_WRITE16;
    if (blocks == 0) {
      Srb->SrbStatus = SRB_STATUS_SUCCESS;
      StorPortNotification(RequestComplete, Ext, Srb);
      return;
    }
    if (lba >= Ext->BlockCount || blocks > Ext->BlockCount - lba) {
      Srb->SrbStatus = CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK);
      StorPortNotification(RequestComplete, Ext, Srb);
      return;
    }
    bytes = blocks * Ext->BlockSize;
    if (bytes > NVME_MAX_TRANSFER || bytes > Srb->DataTransferLength || blocks > 0x10000) {
      Srb->SrbStatus = CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB);
      StorPortNotification(RequestComplete, Ext, Srb);
      return;
    }
    c.Opcode = write ? NVME_IO_WRITE : NVME_IO_READ;
    c.Cdw10 = (ULONG)lba;
    c.Cdw11 = (ULONG)(lba >> 32);
    c.Cdw12 = blocks - 1;
  }
  /* The queue whose MSI-X message targets this processor. */
  STARTIO_PERFORMANCE_PARAMETERS params;
  RtlZeroMemory(&params, sizeof params);
  params.Version = STOR_PERF_STARTIO_VERSION;
  params.Size = sizeof params;
  ULONG index = 0;
  if (StorPortGetStartIoPerfParams(Ext, Srb, &params) == STOR_STATUS_SUCCESS)
    index = params.MessageNumber >= 1 ? params.MessageNumber - 1 : params.ChannelNumber;
  PNVME_QUEUE q = &Ext->Queues[index % Ext->QueueCount];
  if (!Submit(Ext, q, Srb, &c, bytes)) {
    Srb->SrbStatus = SRB_STATUS_BUSY;
    StorPortNotification(RequestComplete, Ext, Srb);
  }
}

_Use_decl_annotations_
BOOLEAN NvmeStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb) {
  PNVME_EXTENSION ext = DeviceExtension;
  switch (Srb->Function) {
  case SRB_FUNCTION_EXECUTE_SCSI:
    break;
  case SRB_FUNCTION_RESET_LOGICAL_UNIT:
  case SRB_FUNCTION_RESET_DEVICE:
  case SRB_FUNCTION_RESET_BUS:
    InterlockedExchange(&ext->ResetRequested, 1); /* the timer performs it */
    Srb->SrbStatus = SRB_STATUS_SUCCESS;
    StorPortNotification(RequestComplete, ext, Srb);
    return TRUE;
  default:
    Srb->SrbStatus = SRB_STATUS_SUCCESS;
    StorPortNotification(RequestComplete, ext, Srb);
    return TRUE;
  }
  /* The gate the timer closes for a start-up or reset: checked, then checked again after
   * announcing this StartIo, so the timer's drain never misses one. */
  if (InterlockedCompareExchange(&ext->ResetState, 0, 0) != 0) {
    Srb->SrbStatus = SRB_STATUS_BUSY;
    StorPortNotification(RequestComplete, ext, Srb);
    return TRUE;
  }
  InterlockedIncrement(&ext->StartIoActive);
  if (InterlockedCompareExchange(&ext->ResetState, 0, 0) != 0) {
    InterlockedDecrement(&ext->StartIoActive);
    Srb->SrbStatus = SRB_STATUS_BUSY;
    StorPortNotification(RequestComplete, ext, Srb);
    return TRUE;
  }
  ExecuteScsi(ext, Srb);
  InterlockedDecrement(&ext->StartIoActive);
  return TRUE;
}

/* ---- interrupts and completion ----------------------------------------------------------------------------- */
_Use_decl_annotations_
BOOLEAN NvmeMessageInterrupt(PVOID HwDeviceExtension, ULONG MessageId) {
  PNVME_EXTENSION ext = HwDeviceExtension;
  if (MessageId == 0 || MessageId > ext->QueueCount) return TRUE; /* admin: polled by the timer */
  StorPortIssueDpc(ext, &ext->Queues[MessageId - 1].Dpc, (PVOID)(ULONG_PTR)MessageId, NULL);
  return TRUE;
}

_Use_decl_annotations_
BOOLEAN NvmeInterrupt(PVOID DeviceExtension) {
  PNVME_EXTENSION ext = DeviceExtension;
  for (ULONG i = 0; i < ext->QueueCount; i++) StorPortIssueDpc(ext, &ext->Queues[i].Dpc, NULL, NULL);
  return TRUE;
}

static VOID Finish(PNVME_EXTENSION Ext, PSCSI_REQUEST_BLOCK Srb, USHORT Status) {
  UCHAR code = (UCHAR)NVME_STATUS_CODE(Status), type = (UCHAR)NVME_STATUS_TYPE(Status);
  if (code == 0 && type == 0) {
    Srb->SrbStatus = SRB_STATUS_SUCCESS;
    Srb->ScsiStatus = SCSISTAT_GOOD;
  } else if (type == 0 && (code == NVME_SC_ABORTED_BY_REQUEST || code == NVME_SC_ABORTED_SQ_DELETION)) {
    Srb->SrbStatus = SRB_STATUS_BUSY;
  } else if (type == 0 && code == NVME_SC_LBA_OUT_OF_RANGE) {
    Srb->SrbStatus = CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK);
  } else if (type == 2) {
    Srb->SrbStatus = CheckCondition(Srb, SCSI_SENSE_MEDIUM_ERROR, SCSI_ADSENSE_UNRECOVERED_ERROR);
  } else {
    Srb->SrbStatus = CheckCondition(Srb, SCSI_SENSE_HARDWARE_ERROR, SCSI_ADSENSE_INTERNAL_TARGET_FAILURE);
  }
  StorPortNotification(RequestComplete, Ext, Srb);
}

/* HwStorDpcRoutine of one queue: drains its completion queue under the queue's DpcLock, then
 * completes the SRBs outside it. */
_Use_decl_annotations_
VOID NvmeCompletionDpc(PSTOR_DPC Dpc, PVOID HwDeviceExtension, PVOID SystemArgument1, PVOID SystemArgument2) {
  PNVME_EXTENSION ext = HwDeviceExtension;
  PNVME_QUEUE q = CONTAINING_RECORD(Dpc, NVME_QUEUE, Dpc);
  PSCSI_REQUEST_BLOCK done[NVME_QUEUE_DEPTH];
  USHORT statuses[NVME_QUEUE_DEPTH];
  PSCSI_REQUEST_BLOCK requeue[NVME_QUEUE_DEPTH];
  ULONG n = 0, r = 0;
  BOOLEAN flushed = FALSE;
  STOR_LOCK_HANDLE lock;
  UNREFERENCED_PARAMETER(SystemArgument1);
  UNREFERENCED_PARAMETER(SystemArgument2);
  StorPortAcquireSpinLock(ext, DpcLock, Dpc, &lock);
  while (n < NVME_QUEUE_DEPTH) {
    volatile NVME_COMPLETION *e = &q->Cq[q->CqHead];
    if ((e->Status & 1) != q->Phase) break;
    USHORT cid = e->CommandId;
    USHORT status = e->Status;
    q->CqHead++;
    if (q->CqHead == NVME_QUEUE_DEPTH) {
      q->CqHead = 0;
      q->Phase ^= 1;
    }
    if (cid < NVME_QUEUE_DEPTH && q->Slots[cid]) {
      done[n] = q->Slots[cid];
      statuses[n] = status;
      n++;
      q->Slots[cid] = NULL;
      q->FreeCids[q->FreeCount++] = cid;
    }
  }
  if (n > 0 && InterlockedCompareExchange(&q->FlushRequested, 1, 1) == 0)
    Write32(ext, NVME_DOORBELL_CQ(q->Qid), q->CqHead);
  if (InterlockedCompareExchange(&q->FlushRequested, 0, 1) == 1) {
    /* The controller is disabled: what is still outstanding goes back to the port. */
    for (ULONG c = 0; c < NVME_QUEUE_DEPTH; c++) {
      if (q->Slots[c]) requeue[r++] = q->Slots[c];
    }
    ResetRings(q);
    flushed = TRUE;
  }
  StorPortReleaseSpinLock(ext, &lock);
  for (ULONG i = 0; i < n; i++) {
    InterlockedDecrement(&q->Outstanding);
    Finish(ext, done[i], statuses[i]);
  }
  for (ULONG i = 0; i < r; i++) {
    InterlockedDecrement(&q->Outstanding);
    requeue[i]->SrbStatus = SRB_STATUS_BUSY;
    StorPortNotification(RequestComplete, ext, requeue[i]);
  }
  if (flushed) InterlockedIncrement(&ext->FlushedQueues);
}

/* ---- reset, stop, restart -------------------------------------------------------------------------------------- */
_Use_decl_annotations_
BOOLEAN NvmeResetBus(PVOID DeviceExtension, ULONG PathId) {
  PNVME_EXTENSION ext = DeviceExtension;
  UNREFERENCED_PARAMETER(PathId);
  /* Runs with the StartIo lock, as HwStorTimer does: the timer performs the reset. */
  InterlockedExchange(&ext->ResetRequested, 1);
  return TRUE;
}

_Use_decl_annotations_
SCSI_ADAPTER_CONTROL_STATUS NvmeAdapterControl(PVOID DeviceExtension, SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                               PVOID Parameters) {
  PNVME_EXTENSION ext = DeviceExtension;
  switch (ControlType) {
  case ScsiQuerySupportedControlTypes: {
    PSCSI_SUPPORTED_CONTROL_TYPE_LIST list = Parameters;
    if (list->MaxControlType > ScsiQuerySupportedControlTypes) list->SupportedTypeList[ScsiQuerySupportedControlTypes] = TRUE;
    if (list->MaxControlType > ScsiStopAdapter) list->SupportedTypeList[ScsiStopAdapter] = TRUE;
    if (list->MaxControlType > ScsiRestartAdapter) list->SupportedTypeList[ScsiRestartAdapter] = TRUE;
    return ScsiAdapterControlSuccess;
  }
  case ScsiStopAdapter:
    Write32(ext, NVME_REG_CC, 0);
    InterlockedExchange(&ext->ResetState, 1);
    ext->State = StateStopped;
    return ScsiAdapterControlSuccess;
  case ScsiRestartAdapter:
    BeginStartup(ext);
    return ScsiAdapterControlSuccess;
  default:
    return ScsiAdapterControlUnsuccessful;
  }
}

ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath) {
  HW_INITIALIZATION_DATA init;
  RtlZeroMemory(&init, sizeof init);
  init.HwInitializationDataSize = sizeof(HW_INITIALIZATION_DATA);
  init.AdapterInterfaceType = PCIBus;
  init.HwFindAdapter = (PVOID)NvmeFindAdapter;
  init.HwInitialize = NvmeInitialize;
  init.HwStartIo = NvmeStartIo;
  init.HwInterrupt = NvmeInterrupt;
  init.HwResetBus = NvmeResetBus;
  init.HwAdapterControl = NvmeAdapterControl;
  init.DeviceExtensionSize = sizeof(NVME_EXTENSION);
  init.NumberOfAccessRanges = 1;
  init.MapBuffers = STOR_MAP_NON_READ_WRITE_BUFFERS;
  init.NeedPhysicalAddresses = TRUE;
  init.TaggedQueuing = TRUE;
  init.AutoRequestSense = TRUE;
  init.MultipleRequestPerLu = TRUE;
  init.SrbTypeFlags = SRB_TYPE_FLAG_SCSI_REQUEST_BLOCK;
  return StorPortInitialize(DriverObject, RegistryPath, &init, NULL);
}
