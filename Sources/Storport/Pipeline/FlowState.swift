import Synchronization

/// The request pipeline's gates (held under `RequestPipeline.flow`).
struct FlowState {
  /// Requests waiting for dispatch (paused, busy, not yet running, or behind others).
  let queue = Ring<StorRequest>()
  /// Requests handed to the miniport (BuildIo/StartIo) and not yet completed.
  var outstanding = 0
  /// StorPortBusy: completions still to see before dispatch resumes.
  var busyRemaining = 0
  var paused = false
  var pauseGeneration: UInt64 = 0
  /// Stop in progress: hold new I/O (R-Y4).
  var holdForStop = false
  var pumpScheduled = false
  /// One entry per LUN seen: requests in the miniport and the depth StorPortSetDeviceQueueDepth
  /// set. A request caches its LUN's slot (`StorRequest.flowSlot`), so entering and leaving
  /// cost no lookup; only a request's first admission looks its LUN up.
  private var luns: [LunFlow] = []
  private var slots: [Int: Int32] = [:]
  /// This table's identity (unique in the process): a request's cached slot is valid only in
  /// the table that gave it.
  private let table = FlowState.nextTable.wrappingAdd(1, ordering: .relaxed).newValue
  private static let nextTable = Atomic<UInt32>(0)

  struct LunFlow {
    var outstanding = 0
    var depth: Int?
  }

  static func lunKey(pathId: UInt8, targetId: UInt8, lun: UInt8) -> Int {
    Int(pathId) << 16 | Int(targetId) << 8 | Int(lun)
  }

  private mutating func slot(_ key: Int) -> Int {
    if let s = slots[key] { return Int(s) }
    luns.append(LunFlow())
    slots[key] = Int32(luns.count - 1)
    return luns.count - 1
  }

  /// The LUN slot of `r`: the one it cached from this table while its address stays the same,
  /// else looked up (a request reused for the same LUN of the same adapter costs no lookup).
  private mutating func slot(of r: StorRequest) -> Int {
    let key = Self.lunKey(pathId: r.pathId, targetId: r.targetId, lun: r.lun)
    if r.flowSlot >= 0 && r.flowTable == table && r.flowKey == key { return Int(r.flowSlot) }
    let s = slot(key)
    r.flowSlot = Int32(s)
    r.flowTable = table
    r.flowKey = key
    return s
  }

  /// Whether `r` may enter the miniport now under the adapter and LUN queue depths.
  mutating func admits(_ r: StorRequest, _ config: PortConfiguration) -> Bool {
    guard outstanding < config.maxNumberOfIO else { return false }
    let l = luns[slot(of: r)]
    return l.outstanding < (l.depth ?? config.maxIOsPerLun)
  }

  /// The requests in the miniport (for StorPortCompleteRequest): each knows its index here,
  /// so entering and leaving cost an append and a swap.
  private(set) var inMiniport: [StorRequest] = []

  mutating func enter(_ r: StorRequest) {
    outstanding += 1
    luns[slot(of: r)].outstanding += 1
    r.miniportIndex = Int32(inMiniport.count)
    inMiniport.append(r)
  }

  mutating func leave(_ r: StorRequest) {
    precondition(outstanding > 0, "bug in swift-storport: a request left the miniport that never entered it")
    precondition(r.flowSlot >= 0, "bug in swift-storport: a request left the miniport without a LUN slot")
    outstanding -= 1
    let s = Int(r.flowSlot)
    precondition(
      luns[s].outstanding > 0, "bug in swift-storport: LUN slot \(s) has no request in the miniport to leave")
    luns[s].outstanding -= 1
    let i = Int(r.miniportIndex)
    precondition(
      i >= 0 && i < inMiniport.count && inMiniport[i] === r,
      "bug in swift-storport: a request left the miniport from a place it never held")
    let last = inMiniport.removeLast()
    if i < inMiniport.count {
      inMiniport[i] = last
      last.miniportIndex = Int32(i)
    }
    r.miniportIndex = -1
  }

  /// StorPortSetDeviceQueueDepth.
  mutating func setDepth(_ depth: Int, pathId: UInt8, targetId: UInt8, lun: UInt8) {
    luns[slot(Self.lunKey(pathId: pathId, targetId: targetId, lun: lun))].depth = depth
  }
}
