/// A read-only view of the calling processor's execution context — what a debugger would show
/// a driver writer: processor, IRQL, callback, locks held.
public struct ExecutionSnapshot: Sendable, Equatable {
  public let processor: Int
  public let irql: Irql
  /// The innermost callback role, nil when no miniport callback is running.
  public let role: CallbackRole?
  /// Every lock the context holds, innermost last (port-held and miniport-acquired).
  public let locks: [String]
  /// Platform time (ns).
  public let time: UInt64

  public func holds(_ lockName: String) -> Bool { locks.contains(lockName) }
  public var holdsStartIoLock: Bool { holds("StartIoLock") }
  public var holdsInterruptLock: Bool { holds("InterruptLock") }
  /// True if a DPC lock (any STOR_DPC's) is held.
  public var holdsDpcLock: Bool { holds("DpcLock") }
}

/// One processor's context seen from outside it (``StorportRuntime/processorSnapshots()``).
public struct ProcessorSnapshot: Sendable, Equatable {
  public let processor: Int
  /// The miniport callback it is inside ("HwStorStartIo"), nil when none.
  public let callback: String?
  public let irql: Irql
  /// Storport locks held ("StartIoLock (port)").
  public let locks: [String]
}
