/// Request pipeline state of one adapter (guarded by `StorPort.flow`).
struct FlowState {
  /// Requests waiting for dispatch (paused, busy, not yet running, or behind others).
  var queue = Ring<StorRequest>()
  /// Requests handed to the miniport (BuildIo/StartIo) and not yet completed.
  var outstanding = 0
  /// StorPortBusy: completions still to see before dispatch resumes.
  var busyRemaining = 0
  var paused = false
  var pauseGeneration: UInt64 = 0
  /// Stop in progress: hold new I/O (R-Y4).
  var holdForStop = false
  var pumpScheduled = false
  /// Requests in the miniport per LUN (index: path · 64K + target · 256 + lun), and the
  /// depths StorPortSetDeviceQueueDepth set.
  var lunOutstanding: [Int: Int] = [:]
  var lunDepth: [Int: Int] = [:]

  static func lunKey(_ r: StorRequest) -> Int { Int(r.pathId) << 16 | Int(r.targetId) << 8 | Int(r.lun) }

  /// Whether `r` may enter the miniport now under the adapter and LUN queue depths.
  func admits(_ r: StorRequest, _ config: PortConfiguration) -> Bool {
    guard outstanding < config.maxNumberOfIO else { return false }
    let key = Self.lunKey(r)
    return lunOutstanding[key, default: 0] < (lunDepth[key] ?? config.maxIOsPerLun)
  }

  mutating func enter(_ r: StorRequest) {
    outstanding += 1
    lunOutstanding[Self.lunKey(r), default: 0] += 1
  }

  mutating func leave(_ r: StorRequest) {
    precondition(outstanding > 0, "bug in swift-storport: a request left the miniport that never entered it")
    outstanding -= 1
    let key = Self.lunKey(r)
    let lun = lunOutstanding[key, default: 0]
    precondition(lun > 0, "bug in swift-storport: LUN \(key) has no request in the miniport to leave")
    lunOutstanding[key] = lun - 1
  }
}
