import Synchronization

/// The request pipeline of one adapter: the flow state (queue, gates, queue depths), the
/// timers it arms (pause timeout, BUSY re-issue, per-request timeout) and where the next
/// request from a thread outside the processors goes.
final class RequestPipeline: @unchecked Sendable {
  /// Held for one gate decision or queue operation at a time (no blocking under it).
  let flow = SpinLocked(FlowState())
  /// Set once in the adapter's init.
  private(set) var pauseTarget: PauseTimeoutTarget!
  private(set) var busyRetryTarget: BusyRetryTarget!
  private(set) var timeouts: RequestTimeouts!
  /// Round-robin processor choice for submissions from outside the processors.
  let submitCursor = Atomic<Int>(0)

  func connect(_ adapter: StorPort) {
    pauseTarget = PauseTimeoutTarget(adapter: adapter)
    busyRetryTarget = BusyRetryTarget(adapter: adapter)
    timeouts = RequestTimeouts(adapter: adapter)
  }
}

/// An adapter's statistics counters (relaxed atomics, any thread).
final class AdapterCounters: Sendable {
  let completedRequests = Atomic<UInt64>(0)
  let spuriousInterrupts = Atomic<UInt64>(0)
  let unclaimedInterrupts = Atomic<UInt64>(0)
}
