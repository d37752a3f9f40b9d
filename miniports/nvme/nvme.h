/*
 * nvme.h — the NVM Express structures and constants the C NVMe sample miniport uses, written
 * from the NVM Express base specification (controller registers, admin and NVM command set).
 */
#ifndef SAMPLE_NVME_H
#define SAMPLE_NVME_H

#include <storport.h>

/* Controller registers (offsets in BAR0). */
#define NVME_REG_CAP 0x00
#define NVME_REG_VS 0x08
#define NVME_REG_CC 0x14
#define NVME_REG_CSTS 0x1C
#define NVME_REG_AQA 0x24
#define NVME_REG_ASQ 0x28
#define NVME_REG_ACQ 0x30
#define NVME_DOORBELL_SQ(q) (0x1000 + (2 * (q)) * 4)
#define NVME_DOORBELL_CQ(q) (0x1000 + (2 * (q) + 1) * 4)

#define NVME_CC_ENABLE 0x1
#define NVME_CC_IOSQES_64 (6u << 16)
#define NVME_CC_IOCQES_16 (4u << 20)
#define NVME_CSTS_RDY 0x1
#define NVME_CSTS_CFS 0x2

/* Admin opcodes. */
#define NVME_ADMIN_CREATE_SQ 0x01
#define NVME_ADMIN_CREATE_CQ 0x05
#define NVME_ADMIN_IDENTIFY 0x06
#define NVME_ADMIN_SET_FEATURES 0x09
#define NVME_FEATURE_NUMBER_OF_QUEUES 0x07
/* NVM opcodes. */
#define NVME_IO_FLUSH 0x00
#define NVME_IO_WRITE 0x01
#define NVME_IO_READ 0x02

typedef struct _NVME_COMMAND {
  UCHAR Opcode;
  UCHAR Flags;
  USHORT CommandId;
  ULONG NamespaceId;
  ULONGLONG Reserved;
  ULONGLONG MetadataPointer;
  ULONGLONG Prp1;
  ULONGLONG Prp2;
  ULONG Cdw10;
  ULONG Cdw11;
  ULONG Cdw12;
  ULONG Cdw13;
  ULONG Cdw14;
  ULONG Cdw15;
} NVME_COMMAND, *PNVME_COMMAND;
C_ASSERT(sizeof(NVME_COMMAND) == 64);

typedef struct _NVME_COMPLETION {
  ULONG Result;
  ULONG Reserved;
  USHORT SqHead;
  USHORT SqId;
  USHORT CommandId;
  USHORT Status; /* bit 0: phase tag; bits 8:1 status code; bits 11:9 status code type */
} NVME_COMPLETION, *PNVME_COMPLETION;
C_ASSERT(sizeof(NVME_COMPLETION) == 16);

#define NVME_STATUS_CODE(s) (((s) >> 1) & 0xFF)
#define NVME_STATUS_TYPE(s) (((s) >> 9) & 0x7)
#define NVME_SC_LBA_OUT_OF_RANGE 0x80
#define NVME_SC_ABORTED_BY_REQUEST 0x07
#define NVME_SC_ABORTED_SQ_DELETION 0x08

#endif
