import Storport

/// Two fixtures around HwStorResetBus and a completion DPC that share the device's queue of
/// requests in flight (`pending`, guarded by the completion DPC's DpcLock).
///
/// * reset-double-completion — ``RacyResetCompletionMiniport``: the DPC copies the queue
///   under the lock but removes the requests only after completing them, and HwStorResetBus
///   (which may not take a DpcLock in full duplex) completes whatever it finds in the queue:
///   both complete the same requests.
/// * resetbus-spins-for-dpc — ``SpinningResetMiniport``: HwStorResetBus busy-waits at
///   DISPATCH_LEVEL for the queue to drain, which only the completion DPC does; when that DPC
///   is queued on the same processor it can never run.
/// * The fixed twin of both — ``ResetHandOffMiniport``: the completion DPC takes requests off
///   the queue under the DpcLock before completing them, and HwStorResetBus hands the reset to
///   a reset DPC that, under the same lock, completes what is left with SRB_STATUS_BUS_RESET
///   (the port retries those).
public final class ResetQueueExtension: DeviceExtension, @unchecked Sendable {
  public let pending = Tracked<[StorRequest]>([], name: "pending")
  public let inFlight = InterlockedValue(0)
  public let completionDpc = StorDpc()
  public let resetDpc = StorDpc()
  public required init() {}
}

public protocol ResetQueueDesign: FixtureMiniport where Extension == ResetQueueExtension {
  var completion: HwDpcRoutine<ResetQueueExtension> { get }
}

extension ResetQueueDesign {
  public func initialize(_ ext: ResetQueueExtension) -> Bool {
    ext.port.initializeDpc(ext.completionDpc, completion)
    ext.port.initializeDpc(ext.resetDpc, ResetHandOffMiniport.resetRoutine)
    return true
  }

  /// StartIo queues the request to the "device", which finishes at once: the DPC completes it.
  public func startIo(_ ext: ResetQueueExtension, _ request: StorRequest) -> Bool {
    ext.port.withSpinLock(.dpcLock, context: ext.completionDpc) {
      ext.pending.modify { $0.append(request) }
    }
    ext.inFlight.increment()
    ext.port.issueDpc(ext.completionDpc)
    return true
  }

  /// Takes every queued request off the queue, holding the completion DPC's DpcLock: from
  /// then on they are the caller's to complete.
  static func takeAll(_ ext: ResetQueueExtension, under dpc: StorDpc) -> [StorRequest] {
    ext.port.withSpinLock(.dpcLock, context: dpc) {
      ext.pending.modify { q -> [StorRequest] in
        defer { q.removeAll() }
        return q
      }
    }
  }

  static func complete(_ ext: ResetQueueExtension, _ requests: [StorRequest], _ status: SrbStatus) {
    for r in requests {
      r.srbStatus = status
      ext.port.requestComplete(r)
      ext.inFlight.decrement()
    }
  }
}

public final class RacyResetCompletionMiniport: ResetQueueDesign, @unchecked Sendable {
  public typealias Extension = ResetQueueExtension
  public let initializationData = MiniportInitializationData(name: "reset-double-completion")
  public init() {}

  public let completion = HwDpcRoutine<ResetQueueExtension>("CompletionDpc") { dpc, ext, _, _ in
    let batch = ext.port.withSpinLock(.dpcLock, context: dpc) { ext.pending.load() }
    RacyResetCompletionMiniport.complete(ext, batch, .success)
    // The bug: the requests leave the queue only now, after they were completed.
    ext.port.withSpinLock(.dpcLock, context: dpc) {
      ext.pending.modify { q in q.removeAll { r in batch.contains { $0 === r } } }
    }
    return true
  }

  public func resetBus(_ ext: ResetQueueExtension, pathId: UInt32) -> Bool {
    // The bug: whatever is queued is completed here, even what the DPC is completing.
    let queued = ext.pending.load()
    ext.pending.store([])
    Self.complete(ext, queued, .busReset)
    return true
  }
}

public final class SpinningResetMiniport: ResetQueueDesign, @unchecked Sendable {
  public typealias Extension = ResetQueueExtension
  public let initializationData = MiniportInitializationData(name: "resetbus-spins-for-dpc")
  public init() {}
  public var completion: HwDpcRoutine<ResetQueueExtension> { ResetHandOffMiniport.completionRoutine }

  public func resetBus(_ ext: ResetQueueExtension, pathId: UInt32) -> Bool {
    // The bug: at DISPATCH_LEVEL, the DPC this waits for cannot run on this processor.
    while ext.inFlight.load() > 0 { ext.port.stallExecution(microseconds: 10) }
    return true
  }
}

public final class ResetHandOffMiniport: ResetQueueDesign, @unchecked Sendable {
  public typealias Extension = ResetQueueExtension
  public let initializationData = MiniportInitializationData(name: "reset-hand-off")
  public init() {}
  public var completion: HwDpcRoutine<ResetQueueExtension> { Self.completionRoutine }

  /// Takes the requests off the queue under the DpcLock, then completes them.
  public static let completionRoutine = HwDpcRoutine<ResetQueueExtension>("CompletionDpc") { dpc, ext, _, _ in
    complete(ext, takeAll(ext, under: dpc), .success)
    return true
  }

  /// The reset, handed over: under the completion DPC's lock, what is still queued is taken
  /// and completed with SRB_STATUS_BUS_RESET.
  public static let resetRoutine = HwDpcRoutine<ResetQueueExtension>("ResetDpc") { _, ext, _, _ in
    complete(ext, takeAll(ext, under: ext.completionDpc), .busReset)
    return true
  }

  public func resetBus(_ ext: ResetQueueExtension, pathId: UInt32) -> Bool {
    ext.port.issueDpc(ext.resetDpc)
    return true
  }
}
