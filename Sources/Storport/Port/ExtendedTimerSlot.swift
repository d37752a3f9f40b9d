enum RequestTimerOutcome {
  case invalid, busy, cancelled
  case armNow(UInt64)
  case deferred(UInt64)
}

struct ExtendedTimerSlot {
  var allocated = false
  /// Bumped on free: stale handles stop matching.
  var handleGeneration: UInt64 = 0
  /// Bumped on every arm and cancel: stale expiries stop matching.
  var armGeneration: UInt64 = 0
  var pending = false
  var callback: ErasedTimerEx?
  var context: UInt = 0
  var microseconds: UInt64 = 0
  var tolerableDelay: UInt64 = 0
  var deadline: UInt64 = 0
  var processor = 0
}

final class ExtendedTimerTarget: PlatformTimerTarget, @unchecked Sendable {
  /// The adapter owns this object and outlives it.
  unowned(unsafe) let adapter: StorPort
  init(adapter: StorPort) { self.adapter = adapter }

  static func cookie(slot: Int, generation: UInt64) -> UInt64 {
    UInt64(slot) << 40 | (generation & 0xFF_FFFF_FFFF)
  }

  func fire(cookie: UInt64) {
    let slot = Int(cookie >> 40)
    let generation = cookie & 0xFF_FFFF_FFFF
    let cpu = adapter.extendedTimers.slots.withLock { slots -> Int? in
      guard slot < slots.count, slots[slot].pending,
        slots[slot].armGeneration & 0xFF_FFFF_FFFF == generation
      else { return nil }
      return slots[slot].processor
    }
    guard let cpu else { return }
    adapter.post(
      to: cpu,
      .extendedTimer(Unmanaged.passUnretained(adapter), slot: slot, generation: generation))
  }
}
