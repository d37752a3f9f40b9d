/// An opaque extended-timer handle (`PVOID TimerHandle`) from StorPortInitializeTimer.
public struct StorTimerHandle: Hashable, Sendable {
  let slot: Int
  let generation: UInt64
}
