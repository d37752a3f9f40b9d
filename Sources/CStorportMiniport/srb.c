// Request blocks in the two documented layouts, built from and read back into the host's
// fields. A STORAGE_REQUEST_BLOCK here is the header, one extended-data offset, the BTL8
// address and one SRBEX_DATA_SCSI_CDB16 block, in that order, as Storport builds them for SCSI
// commands.
#include <string.h>

#include "storport.h"
#include "storport_host.h"

typedef struct ExtendedSrb {
  STORAGE_REQUEST_BLOCK header;  // SrbExDataOffset[0] is the CDB16 block's offset
  STOR_ADDR_BTL8 address;
  SRBEX_DATA_SCSI_CDB16 cdb16;
} ExtendedSrb;

size_t storport_srb_size(int extended) {
  return extended ? sizeof(ExtendedSrb) : sizeof(SCSI_REQUEST_BLOCK);
}

void storport_srb_build(void *srb, int extended, const StorportSrbFields *f) {
  if (!extended) {
    SCSI_REQUEST_BLOCK *s = srb;
    memset(s, 0, sizeof *s);
    s->Length = sizeof(SCSI_REQUEST_BLOCK);
    s->Function = f->function;
    s->SrbStatus = f->srbStatus;
    s->ScsiStatus = f->scsiStatus;
    s->PathId = f->pathId;
    s->TargetId = f->targetId;
    s->Lun = f->lun;
    s->QueueTag = f->queueTag;
    s->QueueAction = f->queueAction;
    s->CdbLength = f->cdbLength;
    s->SenseInfoBufferLength = f->senseInfoBufferLength;
    s->SrbFlags = f->srbFlags;
    s->DataTransferLength = f->dataTransferLength;
    s->TimeOutValue = f->timeOutValue;
    s->DataBuffer = f->dataBuffer;
    s->SenseInfoBuffer = f->senseInfoBuffer;
    s->OriginalRequest = f->originalRequest;
    s->SrbExtension = f->srbExtension;
    s->QueueSortKey = 0;
    memcpy(s->Cdb, f->cdb, sizeof s->Cdb);
    return;
  }
  ExtendedSrb *x = srb;
  memset(x, 0, sizeof *x);
  STORAGE_REQUEST_BLOCK *h = &x->header;
  h->Length = sizeof(SCSI_REQUEST_BLOCK);  // as Storport sets it, for code that checks Length
  h->Function = SRB_FUNCTION_STORAGE_REQUEST_BLOCK;
  h->SrbStatus = f->srbStatus;
  h->Signature = SRB_SIGNATURE;
  h->Version = STORAGE_REQUEST_BLOCK_VERSION_1;
  h->SrbLength = sizeof(ExtendedSrb);
  h->SrbFunction = f->function;
  h->SrbFlags = f->srbFlags;
  h->RequestTag = f->requestTag;
  h->TimeOutValue = f->timeOutValue;
  h->AddressOffset = (ULONG)offsetof(ExtendedSrb, address);
  h->NumSrbExData = 1;
  h->DataTransferLength = f->dataTransferLength;
  h->DataBuffer = f->dataBuffer;
  h->OriginalRequest = f->originalRequest;
  h->MiniportContext = f->srbExtension;
  h->SrbExDataOffset[0] = (ULONG)offsetof(ExtendedSrb, cdb16);
  x->address.Type = STOR_ADDRESS_TYPE_BTL8;
  x->address.AddressLength = STOR_ADDR_BTL8_ADDRESS_LENGTH;
  x->address.Path = f->pathId;
  x->address.Target = f->targetId;
  x->address.Lun = f->lun;
  x->cdb16.Type = SrbExDataTypeScsiCdb16;
  x->cdb16.Length = SRBEX_DATA_SCSI_CDB16_LENGTH;
  x->cdb16.ScsiStatus = f->scsiStatus;
  x->cdb16.SenseInfoBufferLength = f->senseInfoBufferLength;
  x->cdb16.CdbLength = f->cdbLength;
  x->cdb16.SenseInfoBuffer = f->senseInfoBuffer;
  memcpy(x->cdb16.Cdb, f->cdb, sizeof x->cdb16.Cdb);
}

void storport_srb_read(const void *srb, int extended, StorportSrbFields *f) {
  if (!extended) {
    const SCSI_REQUEST_BLOCK *s = srb;
    f->srbStatus = s->SrbStatus;
    f->scsiStatus = s->ScsiStatus;
    f->dataTransferLength = s->DataTransferLength;
    f->senseInfoBufferLength = s->SenseInfoBufferLength;
    f->queueTag = s->QueueTag;
    return;
  }
  const ExtendedSrb *x = srb;
  f->srbStatus = x->header.SrbStatus;
  f->scsiStatus = x->cdb16.ScsiStatus;
  f->dataTransferLength = x->header.DataTransferLength;
  f->senseInfoBufferLength = x->cdb16.SenseInfoBufferLength;
}

void *storport_srb_data_buffer(const void *srb, int extended) {
  return extended ? ((const ExtendedSrb *)srb)->header.DataBuffer : ((const SCSI_REQUEST_BLOCK *)srb)->DataBuffer;
}
uint32_t storport_srb_data_transfer_length(const void *srb, int extended) {
  return extended ? ((const ExtendedSrb *)srb)->header.DataTransferLength
                  : ((const SCSI_REQUEST_BLOCK *)srb)->DataTransferLength;
}

void storport_config_set_access_ranges(void *configInfo, void *ranges, uint32_t count) {
  PPORT_CONFIGURATION_INFORMATION info = configInfo;
  info->AccessRanges = (ACCESS_RANGE(*)[])ranges;
  info->NumberOfAccessRanges = count;
}
