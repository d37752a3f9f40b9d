import Storport
import StorportDevices
import StorportSCSI

/// Per-adapter state of ``RamDiskMiniport``.
public final class RamDiskExtension: DeviceExtension, @unchecked Sendable {
  public internal(set) var unit: LogicalUnit!
  /// Completion DPC (DPC mode) and the requests it will complete, guarded by its DpcLock.
  public let completionDpc = StorDpc()
  var done: [StorRequest] = []
  public required init() {}
}

/// A virtual miniport over a ``LogicalUnit``: the shape of a RAM-disk driver. HwStorBuildIo
/// rejects requests for absent LUNs (completing them itself, returning FALSE); HwStorStartIo
/// runs the command on the logical unit and completes it right there, or — in DPC mode —
/// queues it under the DPC's lock and issues the completion DPC (StorPortIssueDpc coalesces,
/// so one DPC run drains a batch).
public final class RamDiskMiniport: Miniport, @unchecked Sendable {
  public typealias Extension = RamDiskExtension
  public enum CompletionMode: String, Sendable { case startIo, dpc }

  public let initializationData = MiniportInitializationData(
    name: "ramdisk", isVirtual: true, hasBuildIo: true)
  /// MaximumTransferLength in logical blocks (that of the default logical-unit configuration).
  public static let maximumTransferBlocks = Int(LogicalUnitConfiguration().maxTransferBlocks)
  public let store: BlockStore
  public let completionMode: CompletionMode
  public let unitConfiguration: LogicalUnitConfiguration
  private var completion: HwDpcRoutine<RamDiskExtension>!

  public init(
    store: BlockStore, completion: CompletionMode = .startIo, unit: LogicalUnitConfiguration = .init()
  ) {
    self.store = store
    completionMode = completion
    unitConfiguration = unit
    self.completion = HwDpcRoutine("RamDiskCompletionDpc") { dpc, ext, _, _ in
      while true {
        var batch: [StorRequest] = []
        ext.port.withSpinLock(.dpcLock, context: dpc) { swap(&batch, &ext.done) }
        if batch.isEmpty { return true }
        for r in batch { ext.port.requestComplete(r) }
      }
    }
  }

  public func findAdapter(_ ext: RamDiskExtension, _ c: inout PortConfiguration) -> FindAdapterResult {
    c.synchronizationModel = .fullDuplex
    c.maximumTransferLength = unitConfiguration.maxTransferBlocks * UInt32(store.blockSize)
    c.numberOfPhysicalBreaks = 256
    c.maximumNumberOfLogicalUnits = 1
    ext.unit = LogicalUnit(store: store, configuration: unitConfiguration)
    return .found
  }

  public func initialize(_ ext: RamDiskExtension) -> Bool {
    ext.port.initializeDpc(ext.completionDpc, completion)
    return true
  }

  public func buildIo(_ ext: RamDiskExtension, _ r: StorRequest) -> Bool {
    if r.function == .executeScsi && (r.pathId != 0 || r.targetId != 0 || r.lun != 0) {
      r.srbStatus = .noDevice
      ext.port.requestComplete(r)
      return false
    }
    return true
  }

  public func startIo(_ ext: RamDiskExtension, _ r: StorRequest) -> Bool {
    switch r.function {
    case .executeScsi:
      let result = ext.unit.execute(r.cdb, buffer: r.data)
      r.apply(result, descriptorSense: ext.unit.descriptorSense)
    case .flush, .shutdown:
      r.srbStatus = (try? store.flush()) != nil ? .success : .error
    default:
      r.srbStatus = .success
    }
    if completionMode == .startIo {
      ext.port.requestComplete(r)
    } else {
      ext.port.withSpinLock(.dpcLock, context: ext.completionDpc) { ext.done.append(r) }
      ext.port.issueDpc(ext.completionDpc)
    }
    return true
  }
}
