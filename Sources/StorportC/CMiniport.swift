import CStorportMiniport
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// A miniport written in C against storport.h: the `HW_INITIALIZATION_DATA` its `DriverEntry`
/// gave `StorPortInitialize`, driven as any Swift ``Miniport`` is — the port calls each entry
/// point in exactly the context Storport promises (one callback-context table for both), and
/// every StorPort routine the C code calls enters the same checked services.
///
/// Made by ``CMiniportLibrary/makeMiniport(argumentString:device:)`` from a loaded shared object.
public final class CMiniport: Miniport, @unchecked Sendable {
  public typealias Extension = CMiniportExtension

  public let initializationData: MiniportInitializationData
  /// The registration, as `StorPortInitialize` received it (a copy).
  let data: HW_INITIALIZATION_DATA
  let hwContext: UnsafeMutableRawPointer?
  /// `DriverParameter`: the `ArgumentString` HwStorFindAdapter receives ("DiskSize=…;").
  public let argumentString: String
  /// The device behind a physical miniport (PCI configuration space, BARs, MSI-X): nil for
  /// virtual miniports.
  public let device: CMiniportDevice?
  /// Whether the miniport asked for STORAGE_REQUEST_BLOCKs (SrbTypeFlags).
  public let usesStorageRequestBlocks: Bool
  /// The shared object's path as loaded (routines handed to the port must be its code).
  let libraryPath: String

  init(
    registration: HW_INITIALIZATION_DATA, hwContext: UnsafeMutableRawPointer?, name: String,
    argumentString: String, device: CMiniportDevice?, libraryPath: String
  ) {
    data = registration
    self.libraryPath = libraryPath
    self.hwContext = hwContext
    self.argumentString = argumentString
    self.device = device
    let virtual = Self.isVirtual(registration)
    usesStorageRequestBlocks =
      registration.SrbTypeFlags & UInt32(SRB_TYPE_FLAG_STORAGE_REQUEST_BLOCK) != 0
      && Int(registration.HwInitializationDataSize) >= MemoryLayout<HW_INITIALIZATION_DATA>.size
    initializationData = MiniportInitializationData(
      name: name, isVirtual: virtual, hasBuildIo: registration.HwBuildIo != nil)
  }

  /// A virtual miniport: STOR_FEATURE_VIRTUAL_MINIPORT in FeatureSupport (Windows 8 and later),
  /// or the pre-Windows 8 VIRTUAL_HW_INITIALIZATION_DATA size.
  static func isVirtual(_ d: HW_INITIALIZATION_DATA) -> Bool {
    let size = Int(d.HwInitializationDataSize)
    if size == MemoryLayout<VIRTUAL_HW_INITIALIZATION_DATA>.size { return true }
    return size >= MemoryLayout<HW_INITIALIZATION_DATA>.size
      && d.FeatureSupport & UInt32(STOR_FEATURE_VIRTUAL_MINIPORT) != 0
  }

  /// SP_UNINITIALIZED_VALUE.
  static let uninitialized: UInt32 = 0xFFFF_FFFF

  // MARK: - Callbacks

  public func findAdapter(_ ext: CMiniportExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    ext.miniport = self
    ext.allocate(bytes: Int(data.DeviceExtensionSize))
    if ext.srbPool == nil {
      ext.srbPool = RequestBlockPool(
        extended: usesStorageRequestBlocks, srbExtensionBytes: Int(data.SrbExtensionSize))
    }
    let info = ext.configInfo ?? UnsafeMutablePointer<PORT_CONFIGURATION_INFORMATION>.allocate(capacity: 1)
    ext.configInfo = info
    info.initialize(to: PORT_CONFIGURATION_INFORMATION())
    info.pointee.Length = UInt32(MemoryLayout<PORT_CONFIGURATION_INFORMATION>.size)
    info.pointee.AdapterInterfaceType = data.AdapterInterfaceType
    info.pointee.InterruptMode = LevelSensitive
    info.pointee.MaximumTransferLength = Self.uninitialized
    info.pointee.NumberOfPhysicalBreaks = Self.uninitialized
    info.pointee.NumberOfBuses = 1
    info.pointee.MaximumNumberOfTargets = 1
    info.pointee.MaximumNumberOfLogicalUnits = 1
    info.pointee.ScatterGather = 1
    info.pointee.Master = 1
    info.pointee.Dma64BitAddresses = UInt8(SCSI_DMA64_SYSTEM_SUPPORTED)
    info.pointee.DeviceExtensionSize = data.DeviceExtensionSize
    info.pointee.SpecificLuExtensionSize = data.SpecificLuExtensionSize
    info.pointee.SrbExtensionSize = data.SrbExtensionSize
    info.pointee.SrbType = UInt8(
      usesStorageRequestBlocks ? SRB_TYPE_STORAGE_REQUEST_BLOCK : SRB_TYPE_SCSI_REQUEST_BLOCK)
    info.pointee.AddressType = UInt8(STORAGE_ADDRESS_TYPE_BTL8)
    info.pointee.VirtualDevice = initializationData.isVirtual ? 1 : 0
    info.pointee.MaxNumberOfIO = 1000
    info.pointee.MaxIOsPerLun = 256
    info.pointee.InitialLunQueueDepth = 256
    info.pointee.SynchronizationModel = StorSynchronizeHalfDuplex
    if let device {
      device.describe(into: info)
    }
    var again: BOOLEAN = 0
    let argument = strdup(argumentString)
    defer { free(argument) }
    let found: ULONG
    let base = ext.base
    if initializationData.isVirtual
      && Int(data.HwInitializationDataSize) == MemoryLayout<VIRTUAL_HW_INITIALIZATION_DATA>.size
      || (initializationData.isVirtual
        && Int(data.HwInitializationDataSize) >= MemoryLayout<HW_INITIALIZATION_DATA>.size)
    {
      let find = unsafeBitCast(data.HwFindAdapter, to: PVIRTUAL_HW_FIND_ADAPTER.self)
      found = find(base, hwContext, nil, nil, argument, info, &again)
    } else {
      let find = unsafeBitCast(data.HwFindAdapter, to: PHW_FIND_ADAPTER.self)
      found = find(base, hwContext, nil, argument, info, &again)
    }
    let p = info.pointee
    c.synchronizationModel = p.SynchronizationModel == StorSynchronizeFullDuplex ? .fullDuplex : .halfDuplex
    c.interruptSynchronizationMode =
      InterruptSynchronizationMode(
        rawValue: UInt8(truncatingIfNeeded: p.InterruptSynchronizationMode.rawValue)) ?? .supportNone
    if p.MaximumTransferLength != Self.uninitialized {
      c.maximumTransferLength = p.MaximumTransferLength
    } else {
      c.maximumTransferLength = 128 * 1024
    }
    if p.NumberOfPhysicalBreaks != Self.uninitialized { c.numberOfPhysicalBreaks = p.NumberOfPhysicalBreaks }
    c.numberOfBuses = max(p.NumberOfBuses, 1)
    c.maximumNumberOfTargets = max(p.MaximumNumberOfTargets, 1)
    c.maximumNumberOfLogicalUnits = max(p.MaximumNumberOfLogicalUnits, 1)
    if p.MaxNumberOfIO > 0 { c.maxNumberOfIO = Int(p.MaxNumberOfIO) }
    if p.MaxIOsPerLun > 0 { c.maxIOsPerLun = Int(p.MaxIOsPerLun) }
    if let device { c.messageCount = device.messageCount }
    ext.messageRoutine = p.HwMSInterruptRoutine
    ext.portConfiguration = c
    return FindAdapterResult(rawValue: found) ?? .error
  }

  public func initialize(_ ext: CMiniportExtension) -> Bool {
    guard let routine = data.HwInitialize else { return false }
    return routine(ext.base) != 0
  }

  public func buildIo(_ ext: CMiniportExtension, _ request: StorRequest) -> Bool {
    guard let routine = data.HwBuildIo else { return true }
    let srb = ext.srbPool.srb(for: request)
    return routine(ext.base, srb.assumingMemoryBound(to: SCSI_REQUEST_BLOCK.self)) != 0
  }

  public func startIo(_ ext: CMiniportExtension, _ request: StorRequest) -> Bool {
    let srb = ext.srbPool.srb(for: request)
    return data.HwStartIo!(ext.base, srb.assumingMemoryBound(to: SCSI_REQUEST_BLOCK.self)) != 0
  }

  public func interrupt(_ ext: CMiniportExtension) -> Bool {
    guard let routine = data.HwInterrupt else { return false }
    return routine(ext.base) != 0
  }

  public func messageSignaledInterrupt(_ ext: CMiniportExtension, messageId: UInt32) -> Bool {
    guard let routine = ext.messageRoutine else { return false }
    return routine(ext.base, messageId) != 0
  }

  public func resetBus(_ ext: CMiniportExtension, pathId: UInt32) -> Bool {
    guard let routine = data.HwResetBus else { return true }
    return routine(ext.base, pathId) != 0
  }

  /// The port handed `request` back: a request block still live (the port completed the
  /// request itself) is void from now on.
  public func requestReturned(_ ext: CMiniportExtension, _ request: StorRequest) {
    ext.srbPool?.withdraw(request)
  }

  public func adapterControl(
    _ ext: CMiniportExtension, _ type: AdapterControlType, _ parameters: inout AdapterControlParameters
  ) -> AdapterControlStatus {
    guard let routine = data.HwAdapterControl else {
      if type == .querySupportedControlTypes { parameters.supported = [.querySupportedControlTypes] }
      return .success
    }
    let controlType = SCSI_ADAPTER_CONTROL_TYPE(rawValue: type.rawValue)
    if type == .querySupportedControlTypes {
      // SCSI_SUPPORTED_CONTROL_TYPE_LIST: MaxControlType, then one BOOLEAN per type.
      let count = Int(ScsiAdapterControlMax.rawValue)
      let list = UnsafeMutableRawPointer.allocate(byteCount: 4 + count, alignment: 8)
      defer { list.deallocate() }
      list.initializeMemory(as: UInt8.self, repeating: 0, count: 4 + count)
      list.storeBytes(of: UInt32(count), as: UInt32.self)
      let status = routine(ext.base, controlType, list)
      var supported: Set<AdapterControlType> = []
      for t in AdapterControlType.allCases where Int(t.rawValue) < count {
        if list.load(fromByteOffset: 4 + Int(t.rawValue), as: UInt8.self) != 0 { supported.insert(t) }
      }
      parameters.supported = supported
      return status == ScsiAdapterControlSuccess ? .success : .unsuccessful
    }
    return routine(ext.base, controlType, nil) == ScsiAdapterControlSuccess ? .success : .unsuccessful
  }
}
