extension StorPort {
  /// The calling processor's execution context, or nil outside the processors.
  public var executionContext: ExecutionSnapshot? {
    guard let p = Processor.current else { return nil }
    return ExecutionSnapshot(
      processor: p.index, irql: p.irql, role: p.currentFrame?.role,
      locks: p.held.map(\.lock.name), time: platform.now().nanoseconds)
  }
}

extension StorPort {
  /// The adapter whose miniport callback the calling processor is running (nil on other
  /// threads, or between callbacks): for routines a miniport calls without naming its
  /// adapter (`StorPortStallExecution`, `KeGetCurrentIrql`, `DbgPrint`).
  public static var current: StorPort? { Processor.current?.currentFrame?.adapter }

  /// The calling processor's index (0-based), or nil on other threads.
  public static var currentProcessor: Int? { Processor.current?.index }

  /// The calling processor's virtual IRQL, or nil on other threads.
  public static var currentIrql: Irql? { Processor.current?.irql }
}

extension StorPort {
  /// Processors of this adapter's runtime (simulated or live).
  public var processorCount: Int { processorTable.count }
}
