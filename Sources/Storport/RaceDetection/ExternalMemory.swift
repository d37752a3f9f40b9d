/// Memory operations of miniport code the runtime cannot see into — a C miniport's loads,
/// stores and Interlocked* operations, reported by address (by the C interface's routines and
/// by compiler instrumentation) — entering the same scheduling points and race detector as
/// ``Tracked`` and ``InterlockedValue`` do for Swift miniports.
///
/// Every entry is a no-op outside a simulated processor's callback (the controlling thread,
/// `DriverEntry`). Addresses are host addresses; a cell is one address (accesses of different
/// widths at different addresses within a word are different cells — no false sharing, and
/// no report for mixed-width overlaps either).
public enum ExternalMemory {
  /// Whether accesses are being checked: the calling processor's runtime detects races.
  public static var isObserved: Bool {
    guard let p = Processor.current else { return false }
    return p.raceDetector != nil
  }

  /// A plain read or write at `address`: when races are detected, a checked access.
  /// `describe` names the cell and the source location ("timer.c:42"); it is called only
  /// when detecting.
  ///
  /// Not a scheduling point: a compiled miniport makes thousands of plain accesses per
  /// request, and happens-before detection needs no preemption between them to see two
  /// unordered ones — the interleavings come from the points that are (Interlocked*
  /// operations, StorPort calls, callback entry and exit, locks, DPCs, timers).
  public static func access(
    address: UInt, isWrite: Bool, _ describe: () -> (cell: String, location: String)
  ) {
    guard let p = Processor.current else { return }
    p.noteAccess(cell: address, isWrite: isWrite, describe)
  }

  /// An Interlocked* (sequentially consistent) operation on `address`: a scheduling point and
  /// a synchronisation on that address (a read-modify-write acquires and releases; a read only
  /// acquires), exactly as ``InterlockedValue``'s operations are.
  public static func interlocked(address: UInt, readOnly: Bool = false) {
    guard let p = Processor.current else { return }
    p.point(.interlocked)
    guard let d = p.raceDetector else { return }
    let o = SyncObject(id: address, tag: 1)
    if readOnly { d.acquire(p.index, o) } else { d.acquireRelease(p.index, o) }
  }

  /// The releasing side of a hand-off the runtime makes on the miniport's behalf (a request
  /// block put back in a pool): what the current processor did before is ordered before
  /// whoever calls ``acquire(_:)`` with the same `id` later.
  public static func release(_ id: UInt) {
    guard let p = Processor.current, let d = p.raceDetector else { return }
    d.release(p.index, SyncObject(id: id, tag: 2))
  }

  /// The receiving side of ``release(_:)``.
  public static func acquire(_ id: UInt) {
    guard let p = Processor.current, let d = p.raceDetector else { return }
    d.acquire(p.index, SyncObject(id: id, tag: 2))
  }
}
