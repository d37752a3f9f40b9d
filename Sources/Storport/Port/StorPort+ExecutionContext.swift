extension StorPort {
  /// The calling processor's execution context, or nil outside the processors.
  public var executionContext: ExecutionSnapshot? {
    guard let p = Processor.current else { return nil }
    return ExecutionSnapshot(
      processor: p.index, irql: p.irql, role: p.currentFrame?.role,
      locks: p.held.map(\.lock.name), time: platform.now().nanoseconds)
  }
}
