/// The one RequestTimerCall timer of an adapter (R-T5): its state, the platform-timer target
/// that receives its expiry, and its lateness samples.
final class AdapterTimer: @unchecked Sendable {
  let state = Locked(AdapterTimerState())
  /// Set once in the adapter's init.
  private(set) var target: AdapterTimerTarget!
  let lateness = Locked(LatencySamples())

  func connect(_ adapter: StorPort) { target = AdapterTimerTarget(adapter: adapter) }
}

/// The extended timers of an adapter (StorPortInitializeTimer / RequestTimer / FreeTimer).
final class ExtendedTimers: @unchecked Sendable {
  let slots = Locked<[ExtendedTimerSlot]>([])
  /// Set once in the adapter's init.
  private(set) var target: ExtendedTimerTarget!

  func connect(_ adapter: StorPort) { target = ExtendedTimerTarget(adapter: adapter) }
}
