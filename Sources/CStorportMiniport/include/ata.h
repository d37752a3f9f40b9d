/* ata.h — the ATA IDENTIFY DEVICE data a SCSI/ATA translating miniport returns through SMART
 * I/O controls (512 bytes, 256 words; ATA/ATAPI command set). Only the words miniports fill are
 * named; the rest are reserved spans at the same offsets. Part of swift-storport. */
#ifndef STORPORT_ATA_H
#define STORPORT_ATA_H
#include "miniport.h"

#pragma pack(push, 1)
typedef struct _IDENTIFY_DEVICE_DATA {
  USHORT GeneralConfiguration;   /* word 0 */
  USHORT NumCylinders;           /* word 1 */
  USHORT SpecificConfiguration;  /* word 2 */
  USHORT NumHeads;               /* word 3 */
  USHORT Retired1[2];            /* words 4-5 */
  USHORT NumSectorsPerTrack;     /* word 6 */
  USHORT VendorUnique1[3];       /* words 7-9 */
  UCHAR SerialNumber[20];        /* words 10-19 */
  USHORT Retired2[2];            /* words 20-21 */
  USHORT Obsolete1;              /* word 22 */
  UCHAR FirmwareRevision[8];     /* words 23-26 */
  UCHAR ModelNumber[40];         /* words 27-46 */
  USHORT Words47To81[35];        /* words 47-81 */
  struct {                       /* words 82-84: command sets supported */
    USHORT SmartCommands : 1;
    USHORT SecurityMode : 1;
    USHORT RemovableMediaFeature : 1;
    USHORT PowerManagement : 1;
    USHORT Reserved1 : 1;
    USHORT WriteCache : 1;
    USHORT LookAhead : 1;
    USHORT ReleaseInterrupt : 1;
    USHORT ServiceInterrupt : 1;
    USHORT DeviceReset : 1;
    USHORT HostProtectedArea : 1;
    USHORT Obsolete1 : 1;
    USHORT WriteBuffer : 1;
    USHORT ReadBuffer : 1;
    USHORT Nop : 1;
    USHORT Obsolete2 : 1;
    USHORT Word83;
    USHORT Word84;
  } CommandSetSupport;
  struct {                       /* words 85-87: command sets enabled */
    USHORT SmartCommands : 1;
    USHORT SecurityMode : 1;
    USHORT RemovableMediaFeature : 1;
    USHORT PowerManagement : 1;
    USHORT Reserved1 : 1;
    USHORT WriteCache : 1;
    USHORT LookAhead : 1;
    USHORT ReleaseInterrupt : 1;
    USHORT ServiceInterrupt : 1;
    USHORT DeviceReset : 1;
    USHORT HostProtectedArea : 1;
    USHORT Obsolete1 : 1;
    USHORT WriteBuffer : 1;
    USHORT ReadBuffer : 1;
    USHORT Nop : 1;
    USHORT Obsolete2 : 1;
    USHORT Word86;
    USHORT Word87;
  } CommandSetActive;
  USHORT Words88To254[167];      /* words 88-254 */
  USHORT Signature : 8;          /* word 255: A5h, then the checksum */
  USHORT CheckSum : 8;
} IDENTIFY_DEVICE_DATA, *PIDENTIFY_DEVICE_DATA;
#pragma pack(pop)
C_ASSERT(sizeof(IDENTIFY_DEVICE_DATA) == 512);

#endif
