/*
 * scsi.h — the SCSI definitions Storport miniports use: operation codes, status bytes, sense
 * keys and codes, and the CDB, INQUIRY, READ CAPACITY and sense-data layouts (big-endian
 * fields as the T10 standards define them). Part of swift-storport, written from the SPC/SBC
 * standards and Microsoft's public documentation of these names; not derived from any header.
 */
#ifndef STORPORT_SCSI_H
#define STORPORT_SCSI_H

#include "miniport.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- operation codes ---------------------------------------------------------------------- */
#define SCSIOP_TEST_UNIT_READY 0x00
#define SCSIOP_REQUEST_SENSE 0x03
#define SCSIOP_FORMAT_UNIT 0x04
#define SCSIOP_READ6 0x08
#define SCSIOP_WRITE6 0x0A
#define SCSIOP_INQUIRY 0x12
#define SCSIOP_MODE_SELECT 0x15
#define SCSIOP_RESERVE_UNIT 0x16
#define SCSIOP_RELEASE_UNIT 0x17
#define SCSIOP_MODE_SENSE 0x1A
#define SCSIOP_START_STOP_UNIT 0x1B
#define SCSIOP_RECEIVE_DIAGNOSTIC 0x1C
#define SCSIOP_SEND_DIAGNOSTIC 0x1D
#define SCSIOP_MEDIUM_REMOVAL 0x1E
#define SCSIOP_READ_FORMATTED_CAPACITY 0x23
#define SCSIOP_READ_CAPACITY 0x25
#define SCSIOP_READ 0x28
#define SCSIOP_WRITE 0x2A
#define SCSIOP_SEEK 0x2B
#define SCSIOP_WRITE_VERIFY 0x2E
#define SCSIOP_VERIFY 0x2F
#define SCSIOP_SYNCHRONIZE_CACHE 0x35
#define SCSIOP_READ_DEFECT_DATA 0x37
#define SCSIOP_WRITE_DATA_BUFF 0x3B
#define SCSIOP_READ_DATA_BUFF 0x3C
#define SCSIOP_UNMAP 0x42
#define SCSIOP_LOG_SELECT 0x4C
#define SCSIOP_LOG_SENSE 0x4D
#define SCSIOP_MODE_SELECT10 0x55
#define SCSIOP_MODE_SENSE10 0x5A
#define SCSIOP_PERSISTENT_RESERVE_IN 0x5E
#define SCSIOP_PERSISTENT_RESERVE_OUT 0x5F
#define SCSIOP_ATA_PASSTHROUGH16 0x85
#define SCSIOP_READ16 0x88
#define SCSIOP_COMPARE_AND_WRITE 0x89
#define SCSIOP_WRITE16 0x8A
#define SCSIOP_WRITE_VERIFY16 0x8E
#define SCSIOP_VERIFY16 0x8F
#define SCSIOP_SYNCHRONIZE_CACHE16 0x91
#define SCSIOP_WRITE_SAME16 0x93
#define SCSIOP_READ_CAPACITY16 0x9E
#define SCSIOP_SERVICE_ACTION_IN16 0x9E
#define SCSIOP_REPORT_LUNS 0xA0
#define SCSIOP_ATA_PASSTHROUGH12 0xA1
#define SCSIOP_SECURITY_PROTOCOL_IN 0xA2
#define SCSIOP_MAINTENANCE_IN 0xA3
#define SCSIOP_SECURITY_PROTOCOL_OUT 0xB5
#define SCSIOP_READ12 0xA8
#define SCSIOP_WRITE12 0xAA
#define SERVICE_ACTION_READ_CAPACITY16 0x10

/* ---- status bytes --------------------------------------------------------------------------- */
#define SCSISTAT_GOOD 0x00
#define SCSISTAT_CHECK_CONDITION 0x02
#define SCSISTAT_CONDITION_MET 0x04
#define SCSISTAT_BUSY 0x08
#define SCSISTAT_INTERMEDIATE 0x10
#define SCSISTAT_RESERVATION_CONFLICT 0x18
#define SCSISTAT_COMMAND_TERMINATED 0x22
#define SCSISTAT_QUEUE_FULL 0x28

/* ---- sense keys and additional sense codes -------------------------------------------------- */
#define SCSI_SENSE_NO_SENSE 0x00
#define SCSI_SENSE_RECOVERED_ERROR 0x01
#define SCSI_SENSE_NOT_READY 0x02
#define SCSI_SENSE_MEDIUM_ERROR 0x03
#define SCSI_SENSE_HARDWARE_ERROR 0x04
#define SCSI_SENSE_ILLEGAL_REQUEST 0x05
#define SCSI_SENSE_UNIT_ATTENTION 0x06
#define SCSI_SENSE_DATA_PROTECT 0x07
#define SCSI_SENSE_BLANK_CHECK 0x08
#define SCSI_SENSE_ABORTED_COMMAND 0x0B
#define SCSI_SENSE_MISCOMPARE 0x0E
#define SCSI_ADSENSE_NO_SENSE 0x00
#define SCSI_ADSENSE_LUN_NOT_READY 0x04
#define SCSI_ADSENSE_WRITE_ERROR 0x0C
#define SCSI_ADSENSE_UNRECOVERED_ERROR 0x11
#define SCSI_ADSENSE_ILLEGAL_COMMAND 0x20
#define SCSI_ADSENSE_ILLEGAL_BLOCK 0x21
#define SCSI_ADSENSE_INVALID_CDB 0x24
#define SCSI_ADSENSE_INVALID_LUN 0x25
#define SCSI_ADSENSE_INVALID_FIELD_PARAMETER_LIST 0x26
#define SCSI_ADSENSE_WRITE_PROTECT 0x27
#define SCSI_ADSENSE_BUS_RESET 0x29
#define SCSI_ADSENSE_PARAMETERS_CHANGED 0x2A
#define SCSI_ADSENSE_INTERNAL_TARGET_FAILURE 0x44
#define SCSI_SENSEQ_CAUSE_NOT_REPORTABLE 0x00
#define SCSI_SENSEQ_BECOMING_READY 0x01

/* ---- device types ------------------------------------------------------------------------------ */
#define DIRECT_ACCESS_DEVICE 0x00
#define SEQUENTIAL_ACCESS_DEVICE 0x01
#define ARRAY_CONTROLLER_DEVICE 0x0C
#define DEVICE_QUALIFIER_ACTIVE 0x00
#define DEVICE_CONNECTED 0x00
#define DEVICE_QUALIFIER_NOT_SUPPORTED 0x03

/* ---- CDBs (each one byte-exact, big-endian fields as bytes) ------------------------------------ */
#pragma pack(push, 1)
typedef union _CDB {
  struct _CDB6GENERIC {
    UCHAR OperationCode;
    UCHAR Immediate : 1;
    UCHAR CommandUniqueBits : 4;
    UCHAR LogicalUnitNumber : 3;
    UCHAR CommandUniqueBytes[3];
    UCHAR Link : 1;
    UCHAR Flag : 1;
    UCHAR Reserved : 4;
    UCHAR VendorUnique : 2;
  } CDB6GENERIC;
  struct _CDB6INQUIRY3 {
    UCHAR OperationCode;
    UCHAR EnableVitalProductData : 1;
    UCHAR CommandSupportData : 1;
    UCHAR Reserved1 : 6;
    UCHAR PageCode;
    UCHAR AllocationLength[2];
    UCHAR Control;
  } CDB6INQUIRY3;
  struct _CDB10 {
    UCHAR OperationCode;
    UCHAR RelativeAddress : 1;
    UCHAR Reserved1 : 2;
    UCHAR ForceUnitAccess : 1;
    UCHAR DisablePageOut : 1;
    UCHAR LogicalUnitNumber : 3;
    UCHAR LogicalBlockByte0;
    UCHAR LogicalBlockByte1;
    UCHAR LogicalBlockByte2;
    UCHAR LogicalBlockByte3;
    UCHAR Reserved2;
    UCHAR TransferBlocksMsb;
    UCHAR TransferBlocksLsb;
    UCHAR Control;
  } CDB10;
  struct _CDB16 {
    UCHAR OperationCode;
    UCHAR Reserved1 : 3;
    UCHAR ForceUnitAccess : 1;
    UCHAR DisablePageOut : 1;
    UCHAR Protection : 3;
    UCHAR LogicalBlock[8];
    UCHAR TransferLength[4];
    UCHAR Reserved2;
    UCHAR Control;
  } CDB16;
  struct _READ_CAPACITY16 {
    UCHAR OperationCode;
    UCHAR ServiceAction : 5;
    UCHAR Reserved1 : 3;
    UCHAR LogicalBlock[8];
    UCHAR AllocationLength[4];
    UCHAR PMI : 1;
    UCHAR Reserved2 : 7;
    UCHAR Control;
  } READ_CAPACITY16;
  struct _MODE_SENSE {
    UCHAR OperationCode;
    UCHAR Reserved1 : 3;
    UCHAR Dbd : 1;
    UCHAR Reserved2 : 1;
    UCHAR LogicalUnitNumber : 3;
    UCHAR PageCode : 6;
    UCHAR Pc : 2;
    UCHAR Reserved3;
    UCHAR AllocationLength;
    UCHAR Control;
  } MODE_SENSE;
  struct _SYNCHRONIZE_CACHE10 {
    UCHAR OperationCode;
    UCHAR RelAddr : 1;
    UCHAR Immediate : 1;
    UCHAR Reserved : 3;
    UCHAR Lun : 3;
    UCHAR LogicalBlockAddress[4];
    UCHAR Reserved2;
    UCHAR BlockCount[2];
    UCHAR Control;
  } SYNCHRONIZE_CACHE10;
  ULONG AsUlong[4];
  UCHAR AsByte[16];
} CDB, *PCDB;
#pragma pack(pop)

/* ---- INQUIRY standard data (36 bytes) ----------------------------------------------------------- */
typedef struct _INQUIRYDATA {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR DeviceTypeModifier : 7;
  UCHAR RemovableMedia : 1;
  UCHAR Versions;
  UCHAR ResponseDataFormat : 4;
  UCHAR HiSupport : 1;
  UCHAR NormACA : 1;
  UCHAR TerminateTask : 1;
  UCHAR AERC : 1;
  UCHAR AdditionalLength;
  UCHAR Reserved;
  UCHAR Addr16 : 1;
  UCHAR Addr32 : 1;
  UCHAR AckReqQ : 1;
  UCHAR MediumChanger : 1;
  UCHAR MultiPort : 1;
  UCHAR ReservedBit2 : 1;
  UCHAR EnclosureServices : 1;
  UCHAR ReservedBit3 : 1;
  UCHAR SoftReset : 1;
  UCHAR CommandQueue : 1;
  UCHAR TransferDisable : 1;
  UCHAR LinkedCommands : 1;
  UCHAR Synchronous : 1;
  UCHAR Wide16Bit : 1;
  UCHAR Wide32Bit : 1;
  UCHAR RelativeAddressing : 1;
  UCHAR VendorId[8];
  UCHAR ProductId[16];
  UCHAR ProductRevisionLevel[4];
  UCHAR VendorSpecific[20];
  UCHAR Reserved3[2];
  USHORT VersionDescriptors[8]; /* big-endian */
  UCHAR Reserved4[22];
} INQUIRYDATA, *PINQUIRYDATA; /* SPC: the standard data through byte 95 */
#define INQUIRYDATABUFFERSIZE 36

/* ---- READ CAPACITY data ----------------------------------------------------------------------- */
typedef struct _READ_CAPACITY_DATA {
  ULONG LogicalBlockAddress; /* big-endian: the last LBA */
  ULONG BytesPerBlock;       /* big-endian */
} READ_CAPACITY_DATA, *PREAD_CAPACITY_DATA;

typedef struct _READ_CAPACITY_DATA_EX {
  LARGE_INTEGER LogicalBlockAddress; /* big-endian */
  ULONG BytesPerBlock;               /* big-endian */
} READ_CAPACITY_DATA_EX, *PREAD_CAPACITY_DATA_EX;

/* ---- fixed-format sense data (18 bytes) -------------------------------------------------------------- */
typedef struct _SENSE_DATA {
  UCHAR ErrorCode : 7;
  UCHAR Valid : 1;
  UCHAR SegmentNumber;
  UCHAR SenseKey : 4;
  UCHAR Reserved : 1;
  UCHAR IncorrectLength : 1;
  UCHAR EndOfMedia : 1;
  UCHAR FileMark : 1;
  UCHAR Information[4];
  UCHAR AdditionalSenseLength;
  UCHAR CommandSpecificInformation[4];
  UCHAR AdditionalSenseCode;
  UCHAR AdditionalSenseCodeQualifier;
  UCHAR FieldReplaceableUnitCode;
  UCHAR SenseKeySpecific[3];
} SENSE_DATA, *PSENSE_DATA;
#define SENSE_BUFFER_SIZE sizeof(SENSE_DATA)
#define SCSI_SENSE_ERRORCODE_FIXED_CURRENT 0x70


/* ---- more sense codes ------------------------------------------------------------------------------- */
#define SCSI_SENSE_UNIQUE 0x09
#define SCSI_SENSE_COPY_ABORTED 0x0A
#define SCSI_SENSE_EQUAL 0x0C
#define SCSI_SENSE_VOL_OVERFLOW 0x0D
#define SCSI_ADSENSE_NO_INDEX 0x01
#define SCSI_ADSENSE_NO_SEEK_COMPLETE 0x02
#define SCSI_ADSENSE_WRITE_FAULT 0x03
#define SCSI_ADSENSE_ACCESS_DENIED 0x20
#define SCSI_ADSENSE_TRACK_ERROR 0x14
#define SCSI_ADSENSE_SEEK_ERROR 0x15
#define SCSI_ADSENSE_REC_DATA_NOECC 0x17
#define SCSI_ADSENSE_REC_DATA_ECC 0x18
#define SCSI_ADSENSE_PARAMETER_LIST_LENGTH 0x1A
#define SCSI_ADSENSE_MISCOMPARE_DURING_VERIFY_OPERATION 0x1D
#define SCSI_ADSENSE_INVALID_MEDIA 0x30
#define SCSI_ADSENSE_NO_MEDIA_IN_DEVICE 0x3A
#define SCSI_ADSENSE_POSITION_ERROR 0x3B
#define SCSI_ADSENSE_OPERATING_CONDITIONS_CHANGED 0x3F
#define SCSI_ADSENSE_LOGICAL_UNIT_COMMUNICATION_FAILURE 0x08
#define SCSI_ADSENSE_FAILURE_PREDICTION_THRESHOLD_EXCEEDED 0x5D
#define SCSI_SENSEQ_NO_ACCESS_RIGHTS 0x02
#define SCSI_SENSEQ_INIT_COMMAND_REQUIRED 0x02
#define SCSI_SENSEQ_FORMAT_IN_PROGRESS 0x04
#define SCSI_SENSEQ_MANUAL_INTERVENTION_REQUIRED 0x03
#define SCSI_SENSEQ_OPERATION_IN_PROGRESS 0x07
#define SCSI_SENSEQ_POWER_ON_RESET 0x01
#define SCSI_SENSEQ_BUS_RESET 0x02
#define SCSI_SENSEQ_MICROCODE_CHANGED 0x01

/* ---- vital product data pages (SPC) ---------------------------------------------------------------------- */
#define VPD_SUPPORTED_PAGES 0x00
#define VPD_SERIAL_NUMBER 0x80
#define VPD_DEVICE_IDENTIFIERS 0x83
#define VPD_EXTENDED_INQUIRY_DATA 0x86
#define VPD_MODE_PAGE_POLICY 0x87
#define VPD_ATA_INFORMATION 0x89
#define VPD_BLOCK_LIMITS 0xB0
#define VPD_BLOCK_DEVICE_CHARACTERISTICS 0xB1
#define VPD_LOGICAL_BLOCK_PROVISIONING 0xB2

typedef struct _VPD_SUPPORTED_PAGES_PAGE {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR PageCode;
  UCHAR Reserved;
  UCHAR PageLength;
  UCHAR SupportedPageList[];
} VPD_SUPPORTED_PAGES_PAGE, *PVPD_SUPPORTED_PAGES_PAGE;

typedef struct _VPD_SERIAL_NUMBER_PAGE {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR PageCode;
  UCHAR Reserved;
  UCHAR PageLength;
  UCHAR SerialNumber[];
} VPD_SERIAL_NUMBER_PAGE, *PVPD_SERIAL_NUMBER_PAGE;

typedef enum _VPD_CODE_SET {
  VpdCodeSetReserved = 0,
  VpdCodeSetBinary = 1,
  VpdCodeSetAscii = 2,
  VpdCodeSetUTF8 = 3
} VPD_CODE_SET;

typedef enum _VPD_ASSOCIATION {
  VpdAssocDevice = 0,
  VpdAssocPort = 1,
  VpdAssocTarget = 2,
  VpdAssocReserved1 = 3,
  VpdAssocReserved2 = 4
} VPD_ASSOCIATION;

typedef enum _VPD_IDENTIFIER_TYPE {
  VpdIdentifierTypeVendorSpecific = 0,
  VpdIdentifierTypeVendorId = 1,
  VpdIdentifierTypeEUI64 = 2,
  VpdIdentifierTypeFCPHName = 3,
  VpdIdentifierTypePortRelative = 4,
  VpdIdentifierTypeTargetPortGroup = 5,
  VpdIdentifierTypeLogicalUnitGroup = 6,
  VpdIdentifierTypeMD5LogicalUnitId = 7,
  VpdIdentifierTypeSCSINameString = 8
} VPD_IDENTIFIER_TYPE;

typedef struct _VPD_IDENTIFICATION_DESCRIPTOR {
  UCHAR CodeSet : 4;
  UCHAR Reserved : 4;
  UCHAR IdentifierType : 4;
  UCHAR Association : 2;
  UCHAR Reserved2 : 2;
  UCHAR Reserved3;
  UCHAR IdentifierLength;
  UCHAR Identifier[];
} VPD_IDENTIFICATION_DESCRIPTOR, *PVPD_IDENTIFICATION_DESCRIPTOR;

typedef struct _VPD_IDENTIFICATION_PAGE {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR PageCode;
  UCHAR Reserved;
  UCHAR PageLength;
  UCHAR Descriptors[];
} VPD_IDENTIFICATION_PAGE, *PVPD_IDENTIFICATION_PAGE;

typedef struct _VPD_BLOCK_LIMITS_PAGE {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR PageCode;
  UCHAR PageLength[2];
  UCHAR Reserved0;
  UCHAR MaximumCompareAndWriteLength;
  UCHAR OptimalTransferLengthGranularity[2];
  UCHAR MaximumTransferLength[4];
  UCHAR OptimalTransferLength[4];
  UCHAR MaxPrefetchXDReadXDWriteTransferLength[4];
  UCHAR MaximumUnmapLBACount[4];
  UCHAR MaximumUnmapBlockDescriptorCount[4];
  UCHAR OptimalUnmapGranularity[4];
  UCHAR UnmapGranularityAlignment[4];
  UCHAR MaxWriteSameLength[8];
  UCHAR Reserved1[20];
} VPD_BLOCK_LIMITS_PAGE, *PVPD_BLOCK_LIMITS_PAGE;

typedef struct _VPD_BLOCK_DEVICE_CHARACTERISTICS_PAGE {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR PageCode;
  UCHAR Reserved0;
  UCHAR PageLength;
  UCHAR MediumRotationRateMsb;
  UCHAR MediumRotationRateLsb;
  UCHAR MediumProductType;
  UCHAR NominalFormFactor : 4;
  UCHAR Reserved1 : 4;
  UCHAR Reserved2[56];
} VPD_BLOCK_DEVICE_CHARACTERISTICS_PAGE, *PVPD_BLOCK_DEVICE_CHARACTERISTICS_PAGE;

#define PROVISIONING_TYPE_UNKNOWN 0x0
#define PROVISIONING_TYPE_RESOURCE 0x1
#define PROVISIONING_TYPE_THIN 0x2

typedef struct _VPD_LOGICAL_BLOCK_PROVISIONING_PAGE {
  UCHAR DeviceType : 5;
  UCHAR DeviceTypeQualifier : 3;
  UCHAR PageCode;
  UCHAR PageLength[2];
  UCHAR ThresholdExponent;
  UCHAR DP : 1;
  UCHAR ANC_SUP : 1;
  UCHAR LBPRZ : 1;
  UCHAR Reserved0 : 2;
  UCHAR LBPWS10 : 1;
  UCHAR LBPWS : 1;
  UCHAR LBPU : 1;
  UCHAR ProvisioningType : 3;
  UCHAR Reserved1 : 5;
  UCHAR Reserved2;
} VPD_LOGICAL_BLOCK_PROVISIONING_PAGE, *PVPD_LOGICAL_BLOCK_PROVISIONING_PAGE;
#define ANC ANC_SUP

/* ---- mode parameters (SPC) ------------------------------------------------------------------------------- */
#define MODE_PAGE_VENDOR_SPECIFIC 0x00
#define MODE_PAGE_ERROR_RECOVERY 0x01
#define MODE_PAGE_DISCONNECT 0x02
#define MODE_PAGE_FORMAT_DEVICE 0x03
#define MODE_PAGE_RIGID_GEOMETRY 0x04
#define MODE_PAGE_FLEXIBILE 0x05
#define MODE_PAGE_VERIFY_ERROR 0x07
#define MODE_PAGE_CACHING 0x08
#define MODE_PAGE_PERIPHERAL 0x09
#define MODE_PAGE_CONTROL 0x0A
#define MODE_PAGE_MEDIUM_TYPES 0x0B
#define MODE_PAGE_NOTCH_PARTITION 0x0C
#define MODE_PAGE_POWER_CONDITION 0x1A
#define MODE_PAGE_FAULT_REPORTING 0x1C
#define MODE_SENSE_RETURN_ALL 0x3F
#define MODE_SENSE_CURRENT_VALUES 0x00
#define MODE_SENSE_CHANGEABLE_VALUES 0x40
#define MODE_SENSE_DEFAULT_VAULES 0x80
#define MODE_SENSE_SAVED_VALUES 0xC0
#define MODE_DSP_WRITE_PROTECT 0x80
#define MODE_DSP_FUA_SUPPORTED 0x10

typedef struct _MODE_PARAMETER_HEADER {
  UCHAR ModeDataLength;
  UCHAR MediumType;
  UCHAR DeviceSpecificParameter;
  UCHAR BlockDescriptorLength;
} MODE_PARAMETER_HEADER, *PMODE_PARAMETER_HEADER;

typedef struct _MODE_PARAMETER_HEADER10 {
  UCHAR ModeDataLength[2];
  UCHAR MediumType;
  UCHAR DeviceSpecificParameter;
  UCHAR Reserved[2];
  UCHAR BlockDescriptorLength[2];
} MODE_PARAMETER_HEADER10, *PMODE_PARAMETER_HEADER10;

typedef struct _MODE_PARAMETER_BLOCK {
  UCHAR DensityCode;
  UCHAR NumberOfBlocks[3];
  UCHAR Reserved;
  UCHAR BlockLength[3];
} MODE_PARAMETER_BLOCK, *PMODE_PARAMETER_BLOCK;

/* ---- persistent reservations (SPC) -------------------------------------------------------------------------- */
#define RESERVATION_ACTION_READ_KEYS 0x00
#define RESERVATION_ACTION_READ_RESERVATIONS 0x01
#define RESERVATION_ACTION_REGISTER 0x00
#define RESERVATION_ACTION_RESERVE 0x01
#define RESERVATION_ACTION_RELEASE 0x02
#define RESERVATION_ACTION_CLEAR 0x03
#define RESERVATION_ACTION_PREEMPT 0x04
#define RESERVATION_ACTION_PREEMPT_ABORT 0x05
#define RESERVATION_ACTION_REGISTER_IGNORE_EXISTING 0x06
#define RESERVATION_TYPE_WRITE_EXCLUSIVE 0x01
#define RESERVATION_TYPE_EXCLUSIVE 0x03
#define RESERVATION_TYPE_WRITE_EXCLUSIVE_REGISTRANTS 0x05
#define RESERVATION_TYPE_EXCLUSIVE_REGISTRANTS 0x06

/* ---- UNMAP (SBC) ---------------------------------------------------------------------------------------------- */
typedef struct _UNMAP_BLOCK_DESCRIPTOR {
  UCHAR StartingLba[8];
  UCHAR LbaCount[4];
  UCHAR Reserved[4];
} UNMAP_BLOCK_DESCRIPTOR, *PUNMAP_BLOCK_DESCRIPTOR;

typedef struct _UNMAP_LIST_HEADER {
  UCHAR DataLength[2];
  UCHAR BlockDescrDataLength[2];
  UCHAR Reserved[4];
  UNMAP_BLOCK_DESCRIPTOR Descriptors[];
} UNMAP_LIST_HEADER, *PUNMAP_LIST_HEADER;

/* ---- byte-order helpers for CDB fields ---------------------------------------------------------------- */
#define REVERSE_BYTES(Destination, Source)                       \
  do {                                                           \
    const UCHAR *_s = (const UCHAR *)(Source);                   \
    UCHAR *_d = (UCHAR *)(Destination);                          \
    _d[0] = _s[3]; _d[1] = _s[2]; _d[2] = _s[1]; _d[3] = _s[0];  \
  } while (0)
#define REVERSE_BYTES_QUAD(Destination, Source)                                           \
  do {                                                                                    \
    const UCHAR *_s = (const UCHAR *)(Source);                                            \
    UCHAR *_d = (UCHAR *)(Destination);                                                   \
    for (int _i = 0; _i < 8; _i++) _d[_i] = _s[7 - _i];                                   \
  } while (0)
#define REVERSE_BYTES_SHORT(Destination, Source)                 \
  do {                                                           \
    const UCHAR *_s = (const UCHAR *)(Source);                   \
    UCHAR *_d = (UCHAR *)(Destination);                          \
    _d[0] = _s[1]; _d[1] = _s[0];                                \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif /* STORPORT_SCSI_H */
