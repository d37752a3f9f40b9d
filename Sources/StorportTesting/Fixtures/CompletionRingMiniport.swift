import Storport

/// The dpc-redirection-race fixture: StartIo puts each request on a completion ring that a
/// per-queue DPC drains. The DPC may run on another processor than the one that issued it
/// (DPC redirection) — while StartIo, serialised only with other StartIos by the StartIo
/// lock, fills the same ring.
///
/// * ``RacyCompletionRingMiniport`` touches the ring in StartIo with no lock: a data race
///   between HwStorStartIo and the DPC routine.
/// * ``CompletionRingMiniport`` takes that queue's DpcLock in StartIo around the ring, as the
///   DPC routine does.
public final class CompletionRingExtension: DeviceExtension, @unchecked Sendable {
  public let ring = Tracked<[StorRequest]>([], name: "completionRing")
  public let queueDpc = StorDpc()
  public required init() {}
}

public final class RacyCompletionRingMiniport: FixtureMiniport, @unchecked Sendable {
  public typealias Extension = CompletionRingExtension
  public let initializationData = MiniportInitializationData(name: "dpc-redirection-race")
  public init() {}

  public func initialize(_ ext: CompletionRingExtension) -> Bool {
    ext.port.initializeDpc(ext.queueDpc, CompletionRingMiniport.drain)
    return true
  }

  public func startIo(_ ext: CompletionRingExtension, _ request: StorRequest) -> Bool {
    // The bug: the ring is the DPC's too, and nothing here keeps it out.
    ext.ring.modify { $0.append(request) }
    ext.port.issueDpc(ext.queueDpc)
    return true
  }
}

public final class CompletionRingMiniport: FixtureMiniport, @unchecked Sendable {
  public typealias Extension = CompletionRingExtension
  public let initializationData = MiniportInitializationData(name: "dpc-redirection-race-fixed")
  public init() {}

  /// The queue's DPC: takes its own DpcLock, empties the ring, completes outside the lock.
  static let drain = HwDpcRoutine<CompletionRingExtension>("QueueDpc") { dpc, ext, _, _ in
    let done = ext.port.withSpinLock(.dpcLock, context: dpc) {
      ext.ring.modify { ring -> [StorRequest] in
        defer { ring.removeAll() }
        return ring
      }
    }
    for r in done {
      r.srbStatus = .success
      ext.port.requestComplete(r)
    }
    return true
  }

  public func initialize(_ ext: CompletionRingExtension) -> Bool {
    ext.port.initializeDpc(ext.queueDpc, Self.drain)
    return true
  }

  public func startIo(_ ext: CompletionRingExtension, _ request: StorRequest) -> Bool {
    ext.port.withSpinLock(.dpcLock, context: ext.queueDpc) {
      ext.ring.modify { $0.append(request) }
    }
    ext.port.issueDpc(ext.queueDpc)
    return true
  }
}
