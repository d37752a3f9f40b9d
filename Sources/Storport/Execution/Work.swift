/// One unit of work queued on a simulated processor.
enum Work: Sendable {
  /// An interrupt to deliver at DIRQL (`message` nil: line-based HwStorInterrupt).
  case interrupt(StorPort, message: UInt32?)
  /// A miniport DPC; runs only if the STOR_DPC is still queued with this generation.
  case dpc(StorDpc, generation: UInt64)
  /// The adapter's RequestTimerCall timer expired (this generation).
  case adapterTimer(StorPort, generation: UInt64)
  /// An extended (StorPortRequestTimer) timer expired.
  case extendedTimer(StorPort, slot: Int, generation: UInt64)
  /// Port work at DISPATCH_LEVEL (request dispatch pumping, pause timeout, harness calls).
  case port(@Sendable () -> Void)
  /// A new request: HwStorBuildIo then HwStorStartIo.
  case submit(StorPort, StorRequest)
  /// Work at PASSIVE_LEVEL (adapter lifecycle).
  case passive(@Sendable () -> Void)

  /// Which queue it goes to: 0 interrupts, 1 DPC level, 2 I/O, 3 passive.
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
      return a
    case .dpc(let dpc, _): return dpc.adapter
    case .port, .passive: return nil
    }
  }

  /// What it is, for reports.
  var description: String {
    switch self {
    case .interrupt(_, let m): return m.map { "interrupt MSI\($0)" } ?? "line interrupt"
    case .dpc(let dpc, _): return "DPC \(dpc.routineName)"
    case .adapterTimer: return "HwStorTimer"
    case .extendedTimer: return "an extended timer"
    case .port: return "port work"
    case .submit: return "a new request"
    case .passive: return "passive work"
    }
  }
}
