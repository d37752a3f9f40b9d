import CStorportMiniport
import Testing

/// storport.h's structures have the x64 Windows layout the DDI reference documents: each size
/// and field offset below was worked out from the documented member lists (types and order;
/// LLP64: ULONG 4 bytes, pointers 8, natural alignment, the documented `_WIN64` members and
/// `DECLSPEC_ALIGN(8)` request blocks) — not read back from our header. A slip fails here.
@Suite struct HeaderLayoutTests {
  static let documented: [String: UInt32] = [
    "ULONG.": 4, "LONG.": 4, "USHORT.": 2, "UCHAR.": 1, "BOOLEAN.": 1, "PVOID.": 8, "ULONG_PTR.": 8,
    "LARGE_INTEGER.": 8, "PHYSICAL_ADDRESS.": 8, "KIRQL.": 1, "GROUP_AFFINITY.": 16, "PROCESSOR_NUMBER.": 4,
    // SCSI_REQUEST_BLOCK (srb.h): 0x58 on x64, Reserved only under _WIN64.
    "SCSI_REQUEST_BLOCK.": 0x58, "SCSI_REQUEST_BLOCK.Length": 0x00, "SCSI_REQUEST_BLOCK.Function": 0x02,
    "SCSI_REQUEST_BLOCK.SrbStatus": 0x03, "SCSI_REQUEST_BLOCK.ScsiStatus": 0x04,
    "SCSI_REQUEST_BLOCK.PathId": 0x05,
    "SCSI_REQUEST_BLOCK.TargetId": 0x06, "SCSI_REQUEST_BLOCK.Lun": 0x07, "SCSI_REQUEST_BLOCK.QueueTag": 0x08,
    "SCSI_REQUEST_BLOCK.QueueAction": 0x09, "SCSI_REQUEST_BLOCK.CdbLength": 0x0A,
    "SCSI_REQUEST_BLOCK.SenseInfoBufferLength": 0x0B, "SCSI_REQUEST_BLOCK.SrbFlags": 0x0C,
    "SCSI_REQUEST_BLOCK.DataTransferLength": 0x10, "SCSI_REQUEST_BLOCK.TimeOutValue": 0x14,
    "SCSI_REQUEST_BLOCK.DataBuffer": 0x18, "SCSI_REQUEST_BLOCK.SenseInfoBuffer": 0x20,
    "SCSI_REQUEST_BLOCK.NextSrb": 0x28, "SCSI_REQUEST_BLOCK.OriginalRequest": 0x30,
    "SCSI_REQUEST_BLOCK.SrbExtension": 0x38, "SCSI_REQUEST_BLOCK.InternalStatus": 0x40,
    "SCSI_REQUEST_BLOCK.QueueSortKey": 0x40, "SCSI_REQUEST_BLOCK.Cdb": 0x48,
    // STORAGE_REQUEST_BLOCK: 0x80 (SRB_ALIGN, POINTER_ALIGN members).
    "STORAGE_REQUEST_BLOCK.": 0x80, "STORAGE_REQUEST_BLOCK.Length": 0x00,
    "STORAGE_REQUEST_BLOCK.Function": 0x02,
    "STORAGE_REQUEST_BLOCK.SrbStatus": 0x03, "STORAGE_REQUEST_BLOCK.ReservedUlong1": 0x04,
    "STORAGE_REQUEST_BLOCK.Signature": 0x08, "STORAGE_REQUEST_BLOCK.Version": 0x0C,
    "STORAGE_REQUEST_BLOCK.SrbLength": 0x10, "STORAGE_REQUEST_BLOCK.SrbFunction": 0x14,
    "STORAGE_REQUEST_BLOCK.SrbFlags": 0x18, "STORAGE_REQUEST_BLOCK.ReservedUlong2": 0x1C,
    "STORAGE_REQUEST_BLOCK.RequestTag": 0x20, "STORAGE_REQUEST_BLOCK.RequestPriority": 0x24,
    "STORAGE_REQUEST_BLOCK.RequestAttribute": 0x26, "STORAGE_REQUEST_BLOCK.TimeOutValue": 0x28,
    "STORAGE_REQUEST_BLOCK.SystemStatus": 0x2C, "STORAGE_REQUEST_BLOCK.ZeroGuard1": 0x30,
    "STORAGE_REQUEST_BLOCK.AddressOffset": 0x34, "STORAGE_REQUEST_BLOCK.NumSrbExData": 0x38,
    "STORAGE_REQUEST_BLOCK.DataTransferLength": 0x3C, "STORAGE_REQUEST_BLOCK.DataBuffer": 0x40,
    "STORAGE_REQUEST_BLOCK.ZeroGuard2": 0x48, "STORAGE_REQUEST_BLOCK.OriginalRequest": 0x50,
    "STORAGE_REQUEST_BLOCK.ClassContext": 0x58, "STORAGE_REQUEST_BLOCK.PortContext": 0x60,
    "STORAGE_REQUEST_BLOCK.MiniportContext": 0x68, "STORAGE_REQUEST_BLOCK.NextSrb": 0x70,
    "STORAGE_REQUEST_BLOCK.SrbExDataOffset": 0x78,
    "STOR_ADDR_BTL8.": 0x10, "STOR_ADDR_BTL8.Path": 0x08, "STOR_ADDR_BTL8.Target": 0x09,
    "STOR_ADDR_BTL8.Lun": 0x0A,
    "SRBEX_DATA_SCSI_CDB16.": 0x28, "SRBEX_DATA_SCSI_CDB16.ScsiStatus": 0x08,
    "SRBEX_DATA_SCSI_CDB16.SenseInfoBuffer": 0x10, "SRBEX_DATA_SCSI_CDB16.Cdb": 0x18,
    // HW_INITIALIZATION_DATA (Windows 8 and later): 0xD0.
    "HW_INITIALIZATION_DATA.": 0xD0, "HW_INITIALIZATION_DATA.AdapterInterfaceType": 0x04,
    "HW_INITIALIZATION_DATA.HwInitialize": 0x08, "HW_INITIALIZATION_DATA.HwStartIo": 0x10,
    "HW_INITIALIZATION_DATA.HwInterrupt": 0x18, "HW_INITIALIZATION_DATA.HwFindAdapter": 0x20,
    "HW_INITIALIZATION_DATA.HwResetBus": 0x28, "HW_INITIALIZATION_DATA.HwDmaStarted": 0x30,
    "HW_INITIALIZATION_DATA.HwAdapterState": 0x38, "HW_INITIALIZATION_DATA.DeviceExtensionSize": 0x40,
    "HW_INITIALIZATION_DATA.SpecificLuExtensionSize": 0x44, "HW_INITIALIZATION_DATA.SrbExtensionSize": 0x48,
    "HW_INITIALIZATION_DATA.NumberOfAccessRanges": 0x4C, "HW_INITIALIZATION_DATA.Reserved": 0x50,
    "HW_INITIALIZATION_DATA.MapBuffers": 0x58, "HW_INITIALIZATION_DATA.NeedPhysicalAddresses": 0x59,
    "HW_INITIALIZATION_DATA.TaggedQueuing": 0x5A, "HW_INITIALIZATION_DATA.AutoRequestSense": 0x5B,
    "HW_INITIALIZATION_DATA.MultipleRequestPerLu": 0x5C, "HW_INITIALIZATION_DATA.ReceiveEvent": 0x5D,
    "HW_INITIALIZATION_DATA.VendorIdLength": 0x5E, "HW_INITIALIZATION_DATA.VendorId": 0x60,
    "HW_INITIALIZATION_DATA.PortVersionFlags": 0x68, "HW_INITIALIZATION_DATA.DeviceIdLength": 0x6A,
    "HW_INITIALIZATION_DATA.DeviceId": 0x70, "HW_INITIALIZATION_DATA.HwAdapterControl": 0x78,
    "HW_INITIALIZATION_DATA.HwBuildIo": 0x80, "HW_INITIALIZATION_DATA.HwFreeAdapterResources": 0x88,
    "HW_INITIALIZATION_DATA.HwProcessServiceRequest": 0x90,
    "HW_INITIALIZATION_DATA.HwCompleteServiceIrp": 0x98,
    "HW_INITIALIZATION_DATA.HwInitializeTracing": 0xA0, "HW_INITIALIZATION_DATA.HwCleanupTracing": 0xA8,
    "HW_INITIALIZATION_DATA.HwTracingEnabled": 0xB0, "HW_INITIALIZATION_DATA.FeatureSupport": 0xB8,
    "HW_INITIALIZATION_DATA.SrbTypeFlags": 0xBC, "HW_INITIALIZATION_DATA.AddressTypeFlags": 0xC0,
    "HW_INITIALIZATION_DATA.Reserved1": 0xC4, "HW_INITIALIZATION_DATA.HwUnitControl": 0xC8,
    // VIRTUAL_HW_INITIALIZATION_DATA: the members up to HwCleanupTracing.
    "VIRTUAL_HW_INITIALIZATION_DATA.": 0xB0, "VIRTUAL_HW_INITIALIZATION_DATA.HwFindAdapter": 0x20,
    "VIRTUAL_HW_INITIALIZATION_DATA.HwCleanupTracing": 0xA8,
    // PORT_CONFIGURATION_INFORMATION (storport, to FeatureSupport): 0xE0.
    "PORT_CONFIGURATION_INFORMATION.": 0xE0, "PORT_CONFIGURATION_INFORMATION.AdapterInterfaceType": 0x08,
    "PORT_CONFIGURATION_INFORMATION.InterruptMode": 0x14,
    "PORT_CONFIGURATION_INFORMATION.MaximumTransferLength": 0x18,
    "PORT_CONFIGURATION_INFORMATION.NumberOfPhysicalBreaks": 0x1C,
    "PORT_CONFIGURATION_INFORMATION.DmaWidth": 0x28,
    "PORT_CONFIGURATION_INFORMATION.AlignmentMask": 0x30,
    "PORT_CONFIGURATION_INFORMATION.NumberOfAccessRanges": 0x34,
    "PORT_CONFIGURATION_INFORMATION.AccessRanges": 0x38,
    "PORT_CONFIGURATION_INFORMATION.MiniportDumpData": 0x40,
    "PORT_CONFIGURATION_INFORMATION.NumberOfBuses": 0x48,
    "PORT_CONFIGURATION_INFORMATION.InitiatorBusId": 0x49,
    "PORT_CONFIGURATION_INFORMATION.ScatterGather": 0x51, "PORT_CONFIGURATION_INFORMATION.Master": 0x52,
    "PORT_CONFIGURATION_INFORMATION.MapBuffers": 0x59,
    "PORT_CONFIGURATION_INFORMATION.MaximumNumberOfTargets": 0x61,
    "PORT_CONFIGURATION_INFORMATION.SrbType": 0x62, "PORT_CONFIGURATION_INFORMATION.AddressType": 0x63,
    "PORT_CONFIGURATION_INFORMATION.SlotNumber": 0x64,
    "PORT_CONFIGURATION_INFORMATION.DeviceExtensionSize": 0x84,
    "PORT_CONFIGURATION_INFORMATION.SrbExtensionSize": 0x8C,
    "PORT_CONFIGURATION_INFORMATION.Dma64BitAddresses": 0x90,
    "PORT_CONFIGURATION_INFORMATION.MaximumNumberOfLogicalUnits": 0x92,
    "PORT_CONFIGURATION_INFORMATION.SynchronizationModel": 0x94,
    "PORT_CONFIGURATION_INFORMATION.HwMSInterruptRoutine": 0x98,
    "PORT_CONFIGURATION_INFORMATION.InterruptSynchronizationMode": 0xA0,
    "PORT_CONFIGURATION_INFORMATION.DumpRegion": 0xA8,
    "PORT_CONFIGURATION_INFORMATION.RequestedDumpBufferSize": 0xC0,
    "PORT_CONFIGURATION_INFORMATION.VirtualDevice": 0xC4, "PORT_CONFIGURATION_INFORMATION.DumpMode": 0xC5,
    "PORT_CONFIGURATION_INFORMATION.ExtendedFlags1": 0xC8,
    "PORT_CONFIGURATION_INFORMATION.MaxNumberOfIO": 0xCC,
    "PORT_CONFIGURATION_INFORMATION.MaxIOsPerLun": 0xD0,
    "PORT_CONFIGURATION_INFORMATION.InitialLunQueueDepth": 0xD4,
    "PORT_CONFIGURATION_INFORMATION.BusResetHoldTime": 0xD8,
    "PORT_CONFIGURATION_INFORMATION.FeatureSupport": 0xDC,
    "ACCESS_RANGE.": 0x10, "ACCESS_RANGE.RangeStart": 0x00, "ACCESS_RANGE.RangeLength": 0x08,
    "ACCESS_RANGE.RangeInMemory": 0x0C,
    // STOR_DPC: a KDPC-sized buffer and a spin lock; STOR_LOCK_HANDLE: a queued-lock handle.
    "STOR_DPC.": 0x48, "STOR_LOCK_HANDLE.": 0x20, "STOR_LOCK_HANDLE.Lock": 0x00,
    "STOR_LOCK_HANDLE.Context": 0x08,
    "STOR_LOCK_HANDLE.Context.OldIrql": 0x18,
    "PERF_CONFIGURATION_DATA.": 0x28, "PERF_CONFIGURATION_DATA.Flags": 0x08,
    "PERF_CONFIGURATION_DATA.ConcurrentChannels": 0x0C,
    "PERF_CONFIGURATION_DATA.FirstRedirectionMessageNumber": 0x10,
    "PERF_CONFIGURATION_DATA.LastRedirectionMessageNumber": 0x14, "PERF_CONFIGURATION_DATA.DeviceNode": 0x18,
    "PERF_CONFIGURATION_DATA.MessageTargets": 0x20,
    "STARTIO_PERFORMANCE_PARAMETERS.": 0x10, "STARTIO_PERFORMANCE_PARAMETERS.MessageNumber": 0x08,
    "STARTIO_PERFORMANCE_PARAMETERS.ChannelNumber": 0x0C,
    "MESSAGE_INTERRUPT_INFORMATION.": 0x20, "MESSAGE_INTERRUPT_INFORMATION.MessageData": 0x04,
    "MESSAGE_INTERRUPT_INFORMATION.MessageAddress": 0x08,
    "MESSAGE_INTERRUPT_INFORMATION.InterruptVector": 0x10,
    "MESSAGE_INTERRUPT_INFORMATION.InterruptLevel": 0x14, "MESSAGE_INTERRUPT_INFORMATION.InterruptMode": 0x18,
    "STOR_SCATTER_GATHER_ELEMENT.": 0x18, "STOR_SCATTER_GATHER_ELEMENT.Length": 0x08,
    "STOR_SCATTER_GATHER_ELEMENT.Reserved": 0x10, "STOR_SCATTER_GATHER_LIST.": 0x10,
    "STOR_SCATTER_GATHER_LIST.List": 0x10,
    // PCI_COMMON_CONFIG: the 64-byte header and 192 device-specific bytes.
    "PCI_COMMON_CONFIG.": 0x100, "PCI_COMMON_CONFIG.BaseClass": 0x0B, "PCI_COMMON_CONFIG.u": 0x10,
    "PCI_COMMON_CONFIG.DeviceSpecific": 0x40,
    // SCSI data (SPC): standard INQUIRY data through byte 95, fixed sense 18, CDB 16, READ CAPACITY(10) 8.
    "INQUIRYDATA.": 96, "SENSE_DATA.": 18, "CDB.": 16, "READ_CAPACITY_DATA.": 8,
  ]

  static func actual() -> [String: UInt32] {
    var count = 0
    let table = storport_layout_table(&count)
    var out: [String: UInt32] = [:]
    for i in 0..<count {
      let e = table[i]
      out[String(cString: e.structure) + "." + String(cString: e.field)] = e.value
    }
    return out
  }

  @Test func everyDocumentedSizeAndOffsetMatches() {
    let actual = Self.actual()
    for (key, expected) in Self.documented.sorted(by: { $0.key < $1.key }) {
      #expect(
        actual[key] == expected,
        "\(key): header gives \(actual[key].map { "0x" + String($0, radix: 16) } ?? "nothing"), documented 0x\(String(expected, radix: 16))"
      )
    }
  }

  /// The header's table and the documented one name the same fields: neither can silently
  /// drop a structure.
  @Test func theTablesCoverTheSameFields() {
    #expect(Set(Self.actual().keys) == Set(Self.documented.keys))
  }
}
