import Synchronization

/// Where one adapter is in its life and which of its callbacks are running (spec §8, D12,
/// D13), with the transitions allowed between states in one table.
final class AdapterLifecycle: @unchecked Sendable {
  let stateValue = Atomic<UInt8>(AdapterState.attached.rawValue)
  /// Gated callbacks running now (stop and remove wait for 0).
  let activeCallbacks = Atomic<Int>(0)
  /// HwStorInitialize returned TRUE (timers may run, R-Y1).
  let initialized = Atomic<Bool>(false)
  /// Interrupts are delivered (between FindAdapter and ScsiStopAdapter).
  let interruptsConnected = Atomic<Bool>(false)
  /// remove() released the device extension.
  let extensionReleased = Atomic<Bool>(false)
  /// StorPortEnablePassiveInitialization's routine (set in HwStorInitialize).
  var passiveRoutine: (name: String, call: @Sendable (DeviceExtension) -> Bool)?
  /// What ScsiQuerySupportedControlTypes reported.
  var supportedControlTypes: Set<AdapterControlType> = []
  /// What ScsiQuerySupportedUnitControlTypes reported (nil until asked).
  let supportedUnitControlTypes = Locked<Set<UnitControlType>?>(nil)
  /// Every STOR_DPC initialised for this adapter (D13: queued runs are dropped at stop).
  let dpcs = Locked<[StorDpc]>([])

  var state: AdapterState { AdapterState(rawValue: stateValue.load(ordering: .acquiring))! }

  /// The lifecycle's legal transitions.
  static func allows(_ from: AdapterState, _ to: AdapterState) -> Bool {
    switch (from, to) {
    case (.attached, .starting), (.attached, .failed), (.attached, .removed): return true
    case (.starting, .running), (.starting, .failed), (.starting, .removed): return true
    case (.running, .stopping), (.running, .failed), (.running, .removed): return true
    case (.stopping, .stopped), (.stopping, .failed), (.stopping, .removed): return true
    case (.stopped, .starting), (.stopped, .failed), (.stopped, .removed): return true
    case (.failed, .removed): return true
    default: return false
    }
  }

  /// Moves from `from` to `to` if the adapter is still in `from`; false if it is not (another
  /// processor moved it first — a verifier stop, say).
  func transition(from: AdapterState, to: AdapterState) -> Bool {
    precondition(
      Self.allows(from, to), "bug in swift-storport: adapter transition \(from) → \(to) is not in the table")
    return stateValue.compareExchange(
      expected: from.rawValue, desired: to.rawValue, ordering: .acquiringAndReleasing
    ).exchanged
  }

  /// Moves to `to` from whatever state allows it; returns the state left, or nil if `to` is
  /// not reachable from the current state (already failed or removed).
  func transition(to: AdapterState) -> AdapterState? {
    while true {
      let from = state
      guard Self.allows(from, to) else { return nil }
      if transition(from: from, to: to) { return from }
    }
  }

  /// True while timers, DPCs, interrupts and StartIo may start (starting, running, stopping).
  var acceptsCallbacks: Bool {
    let s = stateValue.load(ordering: .acquiring)
    return s == AdapterState.starting.rawValue || s == AdapterState.running.rawValue
      || s == AdapterState.stopping.rawValue
  }

  /// Registers a gated callback about to start; false if the adapter no longer accepts them.
  @inline(__always)
  func beginCallback() -> Bool {
    activeCallbacks.add(1, ordering: .acquiringAndReleasing)
    if acceptsCallbacks { return true }
    activeCallbacks.subtract(1, ordering: .releasing)
    return false
  }

  @inline(__always)
  func endCallback() {
    let left = activeCallbacks.subtract(1, ordering: .releasing).newValue
    assert(left >= 0, "bug in swift-storport: more callbacks ended than began")
  }
}
