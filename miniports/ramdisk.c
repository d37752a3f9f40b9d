/*
 * ramdisk.c — a virtual Storport miniport serving one logical unit from memory, written as a
 * Windows driver writer would write it, against storport.h only.
 *
 * It registers for STORAGE_REQUEST_BLOCKs and reads them through srbhelper.h; HwStorBuildIo
 * turns away other LUNs; HwStorStartIo runs the SCSI command on the memory and completes the
 * request — at once, or (ArgumentString "Completion=Dpc") from a completion DPC that drains a
 * list it shares with StartIo under the DPC's lock. Size and block size come from the
 * ArgumentString ("DiskSize=<bytes>;BlockSize=<512|4096>"), as a registry DriverParameter
 * would give them.
 *
 * Build:  cc -shared -fPIC -O2 -I "$(storport --include-dir)" ramdisk.c -o ramdisk.so
 * Run:    storport bench io --miniport ./ramdisk.so --verify crc32c
 */
#include <storport.h>
#include <srbhelper.h>

#define RAMDISK_TAG 0x4B534452 /* 'RDSK' */

typedef struct _COMPLETION_ENTRY {
  struct _COMPLETION_ENTRY *Next;
} COMPLETION_ENTRY;

/* Per-request state in the SrbExtension: links the request into the DPC's list. */
typedef struct _SRB_STATE {
  COMPLETION_ENTRY Link;
  PVOID Srb;
} SRB_STATE, *PSRB_STATE;

typedef struct _RAMDISK_EXTENSION {
  PUCHAR Disk;
  ULONGLONG DiskBytes;
  ULONG BlockSize;
  BOOLEAN CompleteInDpc;
  STOR_DPC CompletionDpc;
  /* Requests waiting for the completion DPC, guarded by CompletionDpc's DpcLock. */
  COMPLETION_ENTRY *Done;
  COMPLETION_ENTRY **DoneTail;
  ULONG Completed;
} RAMDISK_EXTENSION, *PRAMDISK_EXTENSION;

VIRTUAL_HW_FIND_ADAPTER RamDiskFindAdapter;
HW_INITIALIZE RamDiskInitialize;
HW_BUILDIO RamDiskBuildIo;
HW_STARTIO RamDiskStartIo;
HW_RESET_BUS RamDiskResetBus;
HW_ADAPTER_CONTROL RamDiskAdapterControl;
HW_DPC_ROUTINE RamDiskCompletionDpc;

/* ---- ArgumentString parsing -------------------------------------------------------------- */
static BOOLEAN MatchKey(const char *s, const char *key) {
  while (*key) {
    char a = *s++, b = *key++;
    if (a >= 'A' && a <= 'Z') a = (char)(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = (char)(b - 'A' + 'a');
    if (a != b) return FALSE;
  }
  return *s == '=';
}

static const char *FindValue(const char *args, const char *key) {
  if (!args) return NULL;
  const char *p = args;
  while (*p) {
    if (MatchKey(p, key)) {
      while (*p && *p != '=') p++;
      return *p ? p + 1 : NULL;
    }
    while (*p && *p != ';') p++;
    if (*p == ';') p++;
    while (*p == ' ') p++;
  }
  return NULL;
}

static ULONGLONG ParseNumber(const char *v, ULONGLONG fallback) {
  if (!v || *v < '0' || *v > '9') return fallback;
  ULONGLONG n = 0;
  while (*v >= '0' && *v <= '9') n = n * 10 + (ULONGLONG)(*v++ - '0');
  if (*v == 'k' || *v == 'K') n <<= 10;
  else if (*v == 'm' || *v == 'M') n <<= 20;
  else if (*v == 'g' || *v == 'G') n <<= 30;
  return n;
}

/* ---- SCSI helpers ------------------------------------------------------------------------- */
static ULONGLONG Be64(const UCHAR *b) {
  ULONGLONG v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return v;
}
static ULONG Be32(const UCHAR *b) { return ((ULONG)b[0] << 24) | ((ULONG)b[1] << 16) | ((ULONG)b[2] << 8) | b[3]; }
static VOID PutBe32(UCHAR *b, ULONG v) {
  b[0] = (UCHAR)(v >> 24); b[1] = (UCHAR)(v >> 16); b[2] = (UCHAR)(v >> 8); b[3] = (UCHAR)v;
}
static VOID PutBe64(UCHAR *b, ULONGLONG v) {
  for (int i = 0; i < 8; i++) b[i] = (UCHAR)(v >> (56 - 8 * i));
}

/* CHECK CONDITION with fixed-format sense (autosense). */
static UCHAR CheckCondition(PVOID Srb, UCHAR Key, UCHAR Asc, UCHAR Ascq) {
  SrbSetScsiStatus(Srb, SCSISTAT_CHECK_CONDITION);
  PSENSE_DATA sense = (PSENSE_DATA)SrbGetSenseInfoBuffer(Srb);
  UCHAR length = SrbGetSenseInfoBufferLength(Srb);
  if (sense && length >= sizeof(SENSE_DATA)) {
    RtlZeroMemory(sense, sizeof(SENSE_DATA));
    sense->ErrorCode = SCSI_SENSE_ERRORCODE_FIXED_CURRENT;
    sense->SenseKey = Key;
    sense->AdditionalSenseLength = sizeof(SENSE_DATA) - 8;
    sense->AdditionalSenseCode = Asc;
    sense->AdditionalSenseCodeQualifier = Ascq;
    SrbSetSenseInfoBufferLength(Srb, sizeof(SENSE_DATA));
    return SRB_STATUS_ERROR | SRB_STATUS_AUTOSENSE_VALID;
  }
  return SRB_STATUS_ERROR;
}

static UCHAR CopyOut(PVOID Srb, const void *Data, ULONG Length) {
  ULONG room = SrbGetDataTransferLength(Srb);
  ULONG n = Length < room ? Length : room;
  if (n) RtlCopyMemory(SrbGetDataBuffer(Srb), Data, n);
  SrbSetDataTransferLength(Srb, n);
  return SRB_STATUS_SUCCESS;
}

static UCHAR Inquiry(PRAMDISK_EXTENSION Ext, PVOID Srb, PCDB Cdb) {
  UCHAR page[64];
  RtlZeroMemory(page, sizeof page);
  (void)Ext;
  if (Cdb->CDB6INQUIRY3.EnableVitalProductData) {
    page[1] = Cdb->CDB6INQUIRY3.PageCode;
    switch (Cdb->CDB6INQUIRY3.PageCode) {
    case 0x00: /* supported pages */
      page[3] = 3; page[4] = 0x00; page[5] = 0x80; page[6] = 0x83;
      return CopyOut(Srb, page, 7);
    case 0x80: /* unit serial number */
      page[3] = 8; RtlCopyMemory(page + 4, "CRAMDISK", 8);
      return CopyOut(Srb, page, 12);
    case 0x83: /* device identification: one vendor-specific designator */
      page[3] = 12; page[4] = 0x02; page[5] = 0x00; page[7] = 8; RtlCopyMemory(page + 8, "CRAMDISK", 8);
      return CopyOut(Srb, page, 16);
    default:
      return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
    }
  }
  if (Cdb->CDB6INQUIRY3.PageCode != 0) return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
  PINQUIRYDATA inq = (PINQUIRYDATA)page;
  inq->DeviceType = DIRECT_ACCESS_DEVICE;
  inq->Versions = 6; /* SPC-4 */
  inq->ResponseDataFormat = 2;
  inq->AdditionalLength = INQUIRYDATABUFFERSIZE - 5;
  inq->CommandQueue = 1;
  RtlCopyMemory(inq->VendorId, "STORPORT", 8);
  RtlCopyMemory(inq->ProductId, "C RAM DISK      ", 16);
  RtlCopyMemory(inq->ProductRevisionLevel, "1.0 ", 4);
  return CopyOut(Srb, page, INQUIRYDATABUFFERSIZE);
}

static UCHAR ReadWrite(PRAMDISK_EXTENSION Ext, PVOID Srb, PCDB Cdb, UCHAR Op) {
  ULONGLONG lba;
  ULONG blocks;
  BOOLEAN write = (Op == SCSIOP_WRITE6 || Op == SCSIOP_WRITE || Op == SCSIOP_WRITE12 || Op == SCSIOP_WRITE16);
  const UCHAR *c = Cdb->AsByte;
  switch (Op) {
  case SCSIOP_READ6: case SCSIOP_WRITE6:
    lba = ((ULONGLONG)(c[1] & 0x1F) << 16) | ((ULONGLONG)c[2] << 8) | c[3];
    blocks = c[4] ? c[4] : 256;
    break;
  case SCSIOP_READ: case SCSIOP_WRITE:
    lba = Be32(c + 2);
    blocks = ((ULONG)c[7] << 8) | c[8];
    break;
  case SCSIOP_READ12: case SCSIOP_WRITE12:
    lba = Be32(c + 2);
    blocks = Be32(c + 6);
    break;
  default:
    lba = Be64(c + 2);
    blocks = Be32(c + 10);
    break;
  }
  ULONGLONG total = Ext->DiskBytes / Ext->BlockSize;
  if (lba > total || blocks > total - lba)
    return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_BLOCK, 0);
  ULONGLONG bytes = (ULONGLONG)blocks * Ext->BlockSize;
  if (bytes > SrbGetDataTransferLength(Srb))
    return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
  PUCHAR disk = Ext->Disk + lba * Ext->BlockSize;
  if (write) RtlCopyMemory(disk, SrbGetDataBuffer(Srb), (SIZE_T)bytes);
  else RtlCopyMemory(SrbGetDataBuffer(Srb), disk, (SIZE_T)bytes);
  SrbSetDataTransferLength(Srb, (ULONG)bytes);
  return SRB_STATUS_SUCCESS;
}

static UCHAR ExecuteScsi(PRAMDISK_EXTENSION Ext, PVOID Srb) {
  PCDB cdb = SrbGetCdb(Srb);
  if (!cdb) return SRB_STATUS_INVALID_REQUEST;
  UCHAR op = cdb->AsByte[0];
  ULONGLONG blocks = Ext->DiskBytes / Ext->BlockSize;
  UCHAR data[32];
  SrbSetScsiStatus(Srb, SCSISTAT_GOOD);
  switch (op) {
  case SCSIOP_TEST_UNIT_READY:
  case SCSIOP_START_STOP_UNIT:
  case SCSIOP_VERIFY:
  case SCSIOP_VERIFY16:
  case SCSIOP_SYNCHRONIZE_CACHE:
  case SCSIOP_SYNCHRONIZE_CACHE16:
  case SCSIOP_MEDIUM_REMOVAL:
    SrbSetDataTransferLength(Srb, 0);
    return SRB_STATUS_SUCCESS;
  case SCSIOP_INQUIRY:
    return Inquiry(Ext, Srb, cdb);
  case SCSIOP_READ_CAPACITY:
    PutBe32(data, blocks - 1 > 0xFFFFFFFFull ? 0xFFFFFFFFu : (ULONG)(blocks - 1));
    PutBe32(data + 4, Ext->BlockSize);
    return CopyOut(Srb, data, 8);
  case SCSIOP_READ_CAPACITY16:
    if ((cdb->AsByte[1] & 0x1F) != SERVICE_ACTION_READ_CAPACITY16)
      return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_INVALID_CDB, 0);
    RtlZeroMemory(data, 32);
    PutBe64(data, blocks - 1);
    PutBe32(data + 8, Ext->BlockSize);
    return CopyOut(Srb, data, 32);
  case SCSIOP_MODE_SENSE:
    RtlZeroMemory(data, 4);
    data[0] = 3; /* mode data length: header only */
    return CopyOut(Srb, data, 4);
  case SCSIOP_MODE_SENSE10:
    RtlZeroMemory(data, 8);
    data[1] = 6;
    return CopyOut(Srb, data, 8);
  case SCSIOP_REPORT_LUNS:
    RtlZeroMemory(data, 16);
    data[3] = 8; /* one LUN: 0 */
    return CopyOut(Srb, data, 16);
  case SCSIOP_READ6: case SCSIOP_WRITE6:
  case SCSIOP_READ: case SCSIOP_WRITE:
  case SCSIOP_READ12: case SCSIOP_WRITE12:
  case SCSIOP_READ16: case SCSIOP_WRITE16:
    return ReadWrite(Ext, Srb, cdb, op);
  default:
    SrbSetDataTransferLength(Srb, 0);
    return CheckCondition(Srb, SCSI_SENSE_ILLEGAL_REQUEST, SCSI_ADSENSE_ILLEGAL_COMMAND, 0);
  }
}

/* ---- callbacks ---------------------------------------------------------------------------- */
_Use_decl_annotations_
ULONG RamDiskFindAdapter(PVOID DeviceExtension, PVOID HwContext, PVOID BusInformation, PVOID LowerDevice,
                         PCHAR ArgumentString, PPORT_CONFIGURATION_INFORMATION ConfigInfo, PBOOLEAN Again) {
  PRAMDISK_EXTENSION ext = DeviceExtension;
  UNREFERENCED_PARAMETER(HwContext);
  UNREFERENCED_PARAMETER(BusInformation);
  UNREFERENCED_PARAMETER(LowerDevice);
  *Again = FALSE;
  if (!ext->Disk) { /* first start only: the disk survives stop and restart */
    ext->DiskBytes = ParseNumber(FindValue(ArgumentString, "DiskSize"), 64ull << 20);
    ext->BlockSize = (ULONG)ParseNumber(FindValue(ArgumentString, "BlockSize"), 512);
    if (ext->BlockSize != 512 && ext->BlockSize != 4096) return SP_RETURN_BAD_CONFIG;
    ext->DiskBytes -= ext->DiskBytes % ext->BlockSize;
    if (ext->DiskBytes == 0) return SP_RETURN_BAD_CONFIG;
    const char *completion = FindValue(ArgumentString, "Completion");
    ext->CompleteInDpc = completion && (completion[0] == 'D' || completion[0] == 'd');
    PVOID disk = NULL;
    if (StorPortAllocatePool(ext, (ULONG)ext->DiskBytes, RAMDISK_TAG, &disk) != STOR_STATUS_SUCCESS || !disk)
      return SP_RETURN_ERROR;
    ext->Disk = disk;
  }
  ConfigInfo->SynchronizationModel = StorSynchronizeFullDuplex;
  ConfigInfo->MaximumTransferLength = 1024 * 1024;
  ConfigInfo->NumberOfPhysicalBreaks = 256;
  ConfigInfo->MaximumNumberOfTargets = 1;
  ConfigInfo->MaximumNumberOfLogicalUnits = 1;
  ConfigInfo->NumberOfBuses = 1;
  ConfigInfo->VirtualDevice = TRUE;
  ConfigInfo->MapBuffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
  return SP_RETURN_FOUND;
}

_Use_decl_annotations_
BOOLEAN RamDiskInitialize(PVOID DeviceExtension) {
  PRAMDISK_EXTENSION ext = DeviceExtension;
  ext->Done = NULL;
  ext->DoneTail = &ext->Done;
  StorPortInitializeDpc(ext, &ext->CompletionDpc, RamDiskCompletionDpc);
  return TRUE;
}

_Use_decl_annotations_
BOOLEAN RamDiskBuildIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb) {
  UCHAR path, target, lun;
  SrbGetPathTargetLun(Srb, &path, &target, &lun);
  if (SrbGetSrbFunction(Srb) == SRB_FUNCTION_EXECUTE_SCSI && (path || target || lun)) {
    SrbSetSrbStatus(Srb, SRB_STATUS_NO_DEVICE);
    StorPortNotification(RequestComplete, DeviceExtension, Srb);
    return FALSE;
  }
  return TRUE;
}

static VOID Complete(PRAMDISK_EXTENSION Ext, PVOID Srb) {
  if (!Ext->CompleteInDpc) {
    StorPortNotification(RequestComplete, Ext, Srb);
    return;
  }
  PSRB_STATE state = (PSRB_STATE)SrbGetMiniportContext(Srb);
  STOR_LOCK_HANDLE lock;
  state->Srb = Srb;
  state->Link.Next = NULL;
  StorPortAcquireSpinLock(Ext, DpcLock, &Ext->CompletionDpc, &lock);
  *Ext->DoneTail = &state->Link;
  Ext->DoneTail = &state->Link.Next;
  StorPortReleaseSpinLock(Ext, &lock);
  StorPortIssueDpc(Ext, &Ext->CompletionDpc, NULL, NULL);
}

_Use_decl_annotations_
BOOLEAN RamDiskStartIo(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb) {
  PRAMDISK_EXTENSION ext = DeviceExtension;
  switch (SrbGetSrbFunction(Srb)) {
  case SRB_FUNCTION_EXECUTE_SCSI:
    SrbSetSrbStatus(Srb, ExecuteScsi(ext, Srb));
    break;
  default:
    SrbSetSrbStatus(Srb, SRB_STATUS_SUCCESS);
    break;
  }
  Complete(ext, Srb);
  return TRUE;
}

_Use_decl_annotations_
VOID RamDiskCompletionDpc(PSTOR_DPC Dpc, PVOID HwDeviceExtension, PVOID SystemArgument1, PVOID SystemArgument2) {
  PRAMDISK_EXTENSION ext = HwDeviceExtension;
  UNREFERENCED_PARAMETER(SystemArgument1);
  UNREFERENCED_PARAMETER(SystemArgument2);
  for (;;) {
    STOR_LOCK_HANDLE lock;
    StorPortAcquireSpinLock(ext, DpcLock, Dpc, &lock);
    COMPLETION_ENTRY *batch = ext->Done;
    ext->Done = NULL;
    ext->DoneTail = &ext->Done;
    StorPortReleaseSpinLock(ext, &lock);
    if (!batch) return;
    while (batch) {
      COMPLETION_ENTRY *next = batch->Next;
      PSRB_STATE state = CONTAINING_RECORD(batch, SRB_STATE, Link);
      ext->Completed++;
      StorPortNotification(RequestComplete, ext, state->Srb);
      batch = next;
    }
  }
}

_Use_decl_annotations_
BOOLEAN RamDiskResetBus(PVOID DeviceExtension, ULONG PathId) {
  UNREFERENCED_PARAMETER(PathId);
  /* Every request completes in StartIo or in the DPC: nothing is held here to fail. */
  UNREFERENCED_PARAMETER(DeviceExtension);
  return TRUE;
}

_Use_decl_annotations_
SCSI_ADAPTER_CONTROL_STATUS RamDiskAdapterControl(PVOID DeviceExtension, SCSI_ADAPTER_CONTROL_TYPE ControlType,
                                                  PVOID Parameters) {
  UNREFERENCED_PARAMETER(DeviceExtension);
  if (ControlType == ScsiQuerySupportedControlTypes) {
    PSCSI_SUPPORTED_CONTROL_TYPE_LIST list = Parameters;
    if (list->MaxControlType > ScsiQuerySupportedControlTypes) list->SupportedTypeList[ScsiQuerySupportedControlTypes] = TRUE;
    if (list->MaxControlType > ScsiStopAdapter) list->SupportedTypeList[ScsiStopAdapter] = TRUE;
    if (list->MaxControlType > ScsiRestartAdapter) list->SupportedTypeList[ScsiRestartAdapter] = TRUE;
  }
  return ScsiAdapterControlSuccess;
}

ULONG DriverEntry(PVOID DriverObject, PVOID RegistryPath) {
  HW_INITIALIZATION_DATA init;
  RtlZeroMemory(&init, sizeof init);
  init.HwInitializationDataSize = sizeof(HW_INITIALIZATION_DATA);
  init.AdapterInterfaceType = Internal;
  init.HwFindAdapter = (PVOID)RamDiskFindAdapter;
  init.HwInitialize = RamDiskInitialize;
  init.HwStartIo = RamDiskStartIo;
  init.HwBuildIo = RamDiskBuildIo;
  init.HwResetBus = RamDiskResetBus;
  init.HwAdapterControl = RamDiskAdapterControl;
  init.DeviceExtensionSize = sizeof(RAMDISK_EXTENSION);
  init.SrbExtensionSize = sizeof(SRB_STATE);
  init.MultipleRequestPerLu = TRUE;
  init.TaggedQueuing = TRUE;
  init.AutoRequestSense = TRUE;
  init.MapBuffers = STOR_MAP_ALL_BUFFERS_INCLUDING_READ_WRITE;
  init.FeatureSupport = STOR_FEATURE_VIRTUAL_MINIPORT;
  init.SrbTypeFlags = SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK;
  init.AddressTypeFlags = ADDRESS_TYPE_FLAG_BTL8;
  return StorPortInitialize(DriverObject, RegistryPath, &init, NULL);
}
