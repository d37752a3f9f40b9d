/// One unit of work queued on a processor.
///
/// Adapters and STOR_DPCs are referred to unmanaged: the runtime keeps every adapter for its
/// whole life and an adapter keeps every STOR_DPC it initialised, so queued work needs no
/// reference count of its own (copying work in and out of a queue is then plain data).
enum Work: @unchecked Sendable {
  /// An interrupt to deliver at DIRQL (`message` nil: line-based HwStorInterrupt).
  case interrupt(Unmanaged<StorPort>, message: UInt32?)
  /// A miniport DPC; runs only if the STOR_DPC is still queued with this generation.
  case dpc(Unmanaged<StorDpc>, generation: UInt64)
  /// The adapter's RequestTimerCall timer expired (this generation).
  case adapterTimer(Unmanaged<StorPort>, generation: UInt64)
  /// An extended (StorPortRequestTimer) timer expired.
  case extendedTimer(Unmanaged<StorPort>, slot: Int, generation: UInt64)
  /// Port work at DISPATCH_LEVEL (request dispatch pumping, pause timeout, harness calls).
  case port(@Sendable () -> Void)
  /// A new request: HwStorBuildIo then HwStorStartIo.
  case submit(Unmanaged<StorPort>, StorRequest)
  /// Work at PASSIVE_LEVEL (adapter lifecycle).
  case passive(@Sendable () -> Void)

  /// Which queue it goes to: 0 interrupts, 1 DPC level, 2 I/O, 3 passive (``WorkQueues``).
  var queue: Int {
    switch self {
    case .interrupt: return 0
    case .dpc, .adapterTimer, .extendedTimer, .port: return 1
    case .submit: return 2
    case .passive: return 3
    }
  }

  /// The adapter whose miniport the work runs (nil for port and passive work).
  var adapter: StorPort? {
    switch self {
    case .interrupt(let a, _), .adapterTimer(let a, _), .extendedTimer(let a, _, _), .submit(let a, _):
      return a.takeUnretainedValue()
    case .dpc(let dpc, _): return dpc.takeUnretainedValue().adapter
    case .port, .passive: return nil
    }
  }

  /// What it is, for reports.
  var description: String {
    switch self {
    case .interrupt(_, let m): return m.map { "interrupt MSI\($0)" } ?? "line interrupt"
    case .dpc(let dpc, _): return "DPC \(dpc.takeUnretainedValue().routineName)"
    case .adapterTimer: return "HwStorTimer"
    case .extendedTimer: return "an extended timer"
    case .port: return "port work"
    case .submit: return "a new request"
    case .passive: return "passive work"
    }
  }
}

/// A processor's four work queues, served in order: interrupts (0), DPC level (1), I/O (2),
/// passive (3). Four stored rings rather than an array of them: taking work touches no array
/// header (no uniqueness check per queue looked at).
struct WorkQueues {
  private let interrupts = Ring<Work>()
  private let dispatch = Ring<Work>()
  private let io = Ring<Work>()
  private let passive = Ring<Work>()

  @inline(__always)
  func append(_ work: Work, to queue: Int) {
    switch queue {
    case 0: interrupts.append(work)
    case 1: dispatch.append(work)
    case 2: io.append(work)
    default: passive.append(work)
    }
  }

  /// The first work of the lowest-numbered non-empty queue up to `maxQueue`.
  @inline(__always)
  func popFirst(upTo maxQueue: Int) -> Work? {
    if let w = interrupts.popFirst() { return w }
    if maxQueue >= 1, let w = dispatch.popFirst() { return w }
    if maxQueue >= 2, let w = io.popFirst() { return w }
    if maxQueue >= 3, let w = passive.popFirst() { return w }
    return nil
  }

  /// Removes the work of queue `queue` matching `predicate`; returns how many.
  func removeAll(from queue: Int, where predicate: (Work) -> Bool) -> Int {
    let ring = queue == 0 ? interrupts : queue == 1 ? dispatch : queue == 2 ? io : passive
    let before = ring.count
    ring.removeAll(where: predicate)
    return before - ring.count
  }
}
