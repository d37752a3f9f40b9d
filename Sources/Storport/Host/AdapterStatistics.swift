/// An adapter's counters, for reports (``Adapter/statistics``).
public struct AdapterStatistics: Sendable {
  /// Requests completed to their submitters (re-issues not counted).
  public var completedRequests: UInt64
  /// Interrupts delivered while the adapter could not take them (stopped, not yet connected).
  public var spuriousInterrupts: UInt64
  /// Interrupts the miniport's ISR said were not its own (returned FALSE).
  public var unclaimedInterrupts: UInt64
  /// Requests in the miniport (BuildIo/StartIo called, not yet completed).
  public var outstandingRequests: Int
  /// Requests held by the port (paused, busy, queue depths).
  public var queuedRequests: Int
  /// HwStorTimer lateness samples in nanoseconds (at most 200,000).
  public var timerLatenessNanoseconds: [UInt64]
}
