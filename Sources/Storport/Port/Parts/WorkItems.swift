/// The adapter's work items (StorPortInitializeWorker / StorPortQueueWorkItem /
/// StorPortFreeWorker): one slot per worker, guarded by one lock.
final class WorkItems: Sendable {
  struct Slot {
    enum State { case free, idle, queued, running }
    var state = State.free
    var generation: UInt64 = 0
    var callback: ErasedWorkItem?
    var context: UInt = 0
    /// Queued again (or freed) by its own callback while running.
    var requeued = false
    var freedWhileRunning = false
  }
  let slots = Locked<[Slot]>([])
  enum QueueOutcome { case invalid, busy, post, requeueWhileRunning }
  /// Most workers one adapter may hold (STOR_STATUS_INSUFFICIENT_RESOURCES beyond).
  static let limit = 256
}
