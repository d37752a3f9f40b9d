/*
 * srbhelper.h — accessors that read and write a request block whichever layout it has:
 * SCSI_REQUEST_BLOCK, or STORAGE_REQUEST_BLOCK (Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK)
 * with its address and SCSI CDB extended-data block. Part of swift-storport; written from the
 * public DDI reference of the SrbGet… / SrbSet… routines; not derived from any header.
 */
#ifndef STORPORT_SRBHELPER_H
#define STORPORT_SRBHELPER_H

#include "storport.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SRBHELPER_INLINE static inline __attribute__((unused))

SRBHELPER_INLINE BOOLEAN SrbIsExtended(PVOID Srb) {
  return ((PSCSI_REQUEST_BLOCK)Srb)->Function == SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
}

/* The extended-data block of a STORAGE_REQUEST_BLOCK at index `Index`, or NULL. */
SRBHELPER_INLINE PSRBEX_DATA SrbGetSrbExDataByIndex(PSTORAGE_REQUEST_BLOCK Srb, ULONG Index) {
  if (Index >= Srb->NumSrbExData || Srb->SrbExDataOffset[Index] == 0 || Srb->SrbExDataOffset[Index] >= Srb->SrbLength)
    return NULL;
  return (PSRBEX_DATA)((PUCHAR)Srb + Srb->SrbExDataOffset[Index]);
}

/* The first extended-data block of type `Type`, or NULL. */
SRBHELPER_INLINE PSRBEX_DATA SrbGetSrbExDataByType(PSTORAGE_REQUEST_BLOCK Srb, SRBEXDATATYPE Type) {
  for (ULONG i = 0; i < Srb->NumSrbExData; i++) {
    PSRBEX_DATA d = SrbGetSrbExDataByIndex(Srb, i);
    if (d && d->Type == Type) return d;
  }
  return NULL;
}

/* The SCSI CDB block (16, 32 or variable) of an extended request block, or NULL. */
SRBHELPER_INLINE PSRBEX_DATA SrbHelperScsiBlock(PSTORAGE_REQUEST_BLOCK Srb) {
  for (ULONG i = 0; i < Srb->NumSrbExData; i++) {
    PSRBEX_DATA d = SrbGetSrbExDataByIndex(Srb, i);
    if (d && (d->Type == SrbExDataTypeScsiCdb16 || d->Type == SrbExDataTypeScsiCdb32 || d->Type == SrbExDataTypeScsiCdbVar))
      return d;
  }
  return NULL;
}

SRBHELPER_INLINE PCDB SrbGetCdb(PVOID Srb) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    return d && d->Type == SrbExDataTypeScsiCdb16 ? (PCDB)((PSRBEX_DATA_SCSI_CDB16)d)->Cdb : NULL;
  }
  return (PCDB)((PSCSI_REQUEST_BLOCK)Srb)->Cdb;
}

SRBHELPER_INLINE UCHAR SrbGetCdbLength(PVOID Srb) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    return d && d->Type == SrbExDataTypeScsiCdb16 ? ((PSRBEX_DATA_SCSI_CDB16)d)->CdbLength : 0;
  }
  return ((PSCSI_REQUEST_BLOCK)Srb)->CdbLength;
}

SRBHELPER_INLINE ULONG SrbGetSrbFunction(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->SrbFunction : ((PSCSI_REQUEST_BLOCK)Srb)->Function;
}

SRBHELPER_INLINE UCHAR SrbGetSrbStatus(PVOID Srb) { return ((PSCSI_REQUEST_BLOCK)Srb)->SrbStatus; }
SRBHELPER_INLINE VOID SrbSetSrbStatus(PVOID Srb, UCHAR Status) { ((PSCSI_REQUEST_BLOCK)Srb)->SrbStatus = Status; }

SRBHELPER_INLINE UCHAR SrbGetScsiStatus(PVOID Srb) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    return d && d->Type == SrbExDataTypeScsiCdb16 ? ((PSRBEX_DATA_SCSI_CDB16)d)->ScsiStatus : 0;
  }
  return ((PSCSI_REQUEST_BLOCK)Srb)->ScsiStatus;
}

SRBHELPER_INLINE VOID SrbSetScsiStatus(PVOID Srb, UCHAR Status) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    if (d && d->Type == SrbExDataTypeScsiCdb16) ((PSRBEX_DATA_SCSI_CDB16)d)->ScsiStatus = Status;
    return;
  }
  ((PSCSI_REQUEST_BLOCK)Srb)->ScsiStatus = Status;
}

SRBHELPER_INLINE PVOID SrbGetSenseInfoBuffer(PVOID Srb) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    return d && d->Type == SrbExDataTypeScsiCdb16 ? ((PSRBEX_DATA_SCSI_CDB16)d)->SenseInfoBuffer : NULL;
  }
  return ((PSCSI_REQUEST_BLOCK)Srb)->SenseInfoBuffer;
}

SRBHELPER_INLINE UCHAR SrbGetSenseInfoBufferLength(PVOID Srb) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    return d && d->Type == SrbExDataTypeScsiCdb16 ? ((PSRBEX_DATA_SCSI_CDB16)d)->SenseInfoBufferLength : 0;
  }
  return ((PSCSI_REQUEST_BLOCK)Srb)->SenseInfoBufferLength;
}

SRBHELPER_INLINE VOID SrbSetSenseInfoBufferLength(PVOID Srb, UCHAR Length) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    if (d && d->Type == SrbExDataTypeScsiCdb16) ((PSRBEX_DATA_SCSI_CDB16)d)->SenseInfoBufferLength = Length;
    return;
  }
  ((PSCSI_REQUEST_BLOCK)Srb)->SenseInfoBufferLength = Length;
}

SRBHELPER_INLINE PVOID SrbGetDataBuffer(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->DataBuffer : ((PSCSI_REQUEST_BLOCK)Srb)->DataBuffer;
}

SRBHELPER_INLINE ULONG SrbGetDataTransferLength(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->DataTransferLength
                            : ((PSCSI_REQUEST_BLOCK)Srb)->DataTransferLength;
}

SRBHELPER_INLINE VOID SrbSetDataTransferLength(PVOID Srb, ULONG Length) {
  if (SrbIsExtended(Srb))
    ((PSTORAGE_REQUEST_BLOCK)Srb)->DataTransferLength = Length;
  else
    ((PSCSI_REQUEST_BLOCK)Srb)->DataTransferLength = Length;
}

SRBHELPER_INLINE ULONG SrbGetSrbFlags(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->SrbFlags : ((PSCSI_REQUEST_BLOCK)Srb)->SrbFlags;
}

SRBHELPER_INLINE ULONG SrbGetTimeOutValue(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->TimeOutValue : ((PSCSI_REQUEST_BLOCK)Srb)->TimeOutValue;
}

SRBHELPER_INLINE PVOID SrbGetMiniportContext(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->MiniportContext
                            : ((PSCSI_REQUEST_BLOCK)Srb)->SrbExtension;
}

SRBHELPER_INLINE PVOID SrbGetOriginalRequest(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->OriginalRequest
                            : ((PSCSI_REQUEST_BLOCK)Srb)->OriginalRequest;
}

SRBHELPER_INLINE ULONG SrbGetRequestTag(PVOID Srb) {
  return SrbIsExtended(Srb) ? ((PSTORAGE_REQUEST_BLOCK)Srb)->RequestTag : ((PSCSI_REQUEST_BLOCK)Srb)->QueueTag;
}

/* SrbGetScsiData / SrbSetScsiData: the CDB length, SCSI status and sense buffer of either
 * layout, each argument optional (NULL: not read / not changed). */
SRBHELPER_INLINE VOID SrbGetScsiData(PVOID Srb, PUCHAR CdbLength8, PULONG CdbLength32, PUCHAR ScsiStatus,
                                    PVOID *SenseInfoBuffer, PUCHAR SenseInfoBufferLength) {
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    if (d && d->Type == SrbExDataTypeScsiCdb16) {
      PSRBEX_DATA_SCSI_CDB16 c = (PSRBEX_DATA_SCSI_CDB16)d;
      if (CdbLength8) *CdbLength8 = c->CdbLength;
      if (CdbLength32) *CdbLength32 = c->CdbLength;
      if (ScsiStatus) *ScsiStatus = c->ScsiStatus;
      if (SenseInfoBuffer) *SenseInfoBuffer = c->SenseInfoBuffer;
      if (SenseInfoBufferLength) *SenseInfoBufferLength = c->SenseInfoBufferLength;
    }
    return;
  }
  PSCSI_REQUEST_BLOCK s = (PSCSI_REQUEST_BLOCK)Srb;
  if (CdbLength8) *CdbLength8 = s->CdbLength;
  if (CdbLength32) *CdbLength32 = s->CdbLength;
  if (ScsiStatus) *ScsiStatus = s->ScsiStatus;
  if (SenseInfoBuffer) *SenseInfoBuffer = s->SenseInfoBuffer;
  if (SenseInfoBufferLength) *SenseInfoBufferLength = s->SenseInfoBufferLength;
}

SRBHELPER_INLINE VOID SrbSetScsiData(PVOID Srb, PUCHAR CdbLength8, PULONG CdbLength32, PUCHAR ScsiStatus,
                                    PVOID *SenseInfoBuffer, PUCHAR SenseInfoBufferLength) {
  (void)CdbLength32; /* a 32-byte CDB block has no room here: only CDB16 blocks are built */
  if (SrbIsExtended(Srb)) {
    PSRBEX_DATA d = SrbHelperScsiBlock((PSTORAGE_REQUEST_BLOCK)Srb);
    if (d && d->Type == SrbExDataTypeScsiCdb16) {
      PSRBEX_DATA_SCSI_CDB16 c = (PSRBEX_DATA_SCSI_CDB16)d;
      if (CdbLength8) c->CdbLength = *CdbLength8;
      if (ScsiStatus) c->ScsiStatus = *ScsiStatus;
      if (SenseInfoBuffer) c->SenseInfoBuffer = *SenseInfoBuffer;
      if (SenseInfoBufferLength) c->SenseInfoBufferLength = *SenseInfoBufferLength;
    }
    return;
  }
  PSCSI_REQUEST_BLOCK s = (PSCSI_REQUEST_BLOCK)Srb;
  if (CdbLength8) s->CdbLength = *CdbLength8;
  if (ScsiStatus) s->ScsiStatus = *ScsiStatus;
  if (SenseInfoBuffer) s->SenseInfoBuffer = *SenseInfoBuffer;
  if (SenseInfoBufferLength) s->SenseInfoBufferLength = *SenseInfoBufferLength;
}

SRBHELPER_INLINE PSTOR_ADDRESS SrbGetAddress(PSTORAGE_REQUEST_BLOCK Srb) {
  return Srb->AddressOffset ? (PSTOR_ADDRESS)((PUCHAR)Srb + Srb->AddressOffset) : NULL;
}

/* PathId, TargetId and Lun, from the SRB or from the BTL8 address of an extended one. */
SRBHELPER_INLINE VOID SrbGetPathTargetLun(PVOID Srb, PUCHAR PathId, PUCHAR TargetId, PUCHAR Lun) {
  if (SrbIsExtended(Srb)) {
    PSTOR_ADDRESS a = SrbGetAddress((PSTORAGE_REQUEST_BLOCK)Srb);
    if (a && a->Type == STOR_ADDRESS_TYPE_BTL8) {
      PSTOR_ADDR_BTL8 b = (PSTOR_ADDR_BTL8)a;
      if (PathId) *PathId = b->Path;
      if (TargetId) *TargetId = b->Target;
      if (Lun) *Lun = b->Lun;
      return;
    }
    if (PathId) *PathId = 0xFF;
    if (TargetId) *TargetId = 0xFF;
    if (Lun) *Lun = 0xFF;
    return;
  }
  PSCSI_REQUEST_BLOCK s = (PSCSI_REQUEST_BLOCK)Srb;
  if (PathId) *PathId = s->PathId;
  if (TargetId) *TargetId = s->TargetId;
  if (Lun) *Lun = s->Lun;
}

SRBHELPER_INLINE UCHAR SrbGetPathId(PVOID Srb) { UCHAR p; SrbGetPathTargetLun(Srb, &p, NULL, NULL); return p; }
SRBHELPER_INLINE UCHAR SrbGetTargetId(PVOID Srb) { UCHAR t; SrbGetPathTargetLun(Srb, NULL, &t, NULL); return t; }
SRBHELPER_INLINE UCHAR SrbGetLun(PVOID Srb) { UCHAR l; SrbGetPathTargetLun(Srb, NULL, NULL, &l); return l; }

#ifdef __cplusplus
}
#endif
#endif /* STORPORT_SRBHELPER_H */
