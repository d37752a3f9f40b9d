/// An opaque extended-timer handle (`PVOID TimerHandle`) from StorPortInitializeTimer.
public struct StorTimerHandle: Hashable, Sendable {
  let slot: Int
  let generation: UInt64
  /// The adapter that made it (its attach number): a handle used through another adapter is
  /// OBJECT_OF_ANOTHER_ADAPTER.
  let adapter: Int
}
