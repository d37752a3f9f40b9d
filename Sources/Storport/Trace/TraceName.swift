/// A name recorded in the trace — a routine, lock, request function, state or rule — interned, so
/// that recording an event copies four bytes instead of retaining a `String`, and a trace event is
/// plain data. Names are few (routine and lock names, SRB functions, lifecycle states, rule IDs):
/// each distinct one is kept for the life of the process. Interning takes a lock and a hash, so
/// hot paths intern once (when a routine, lock or DPC is created) and record the `TraceName`.
public struct TraceName: Hashable, Sendable, CustomStringConvertible {
  let id: UInt32

  /// Interns `string` (the same string always gives the same name).
  public init(_ string: String) { id = TraceNames.shared.intern(string) }

  /// The name as recorded.
  public var description: String { TraceNames.shared.string(id) }
}

/// The process-wide intern table behind ``TraceName``. Guarded by ``Locked`` (not
/// `Synchronization.Mutex`, whose futex path ThreadSanitizer cannot see: a clean-clone CI run
/// reported two processors interning at once as a race).
final class TraceNames: Sendable {
  static let shared = TraceNames()

  private struct Table {
    var strings: [String] = []
    var ids: [String: UInt32] = [:]
  }
  private let table = Locked(Table())

  func intern(_ s: String) -> UInt32 {
    table.withLock { t in
      if let id = t.ids[s] { return id }
      precondition(t.strings.count < Int(UInt32.max), "bug in swift-storport: too many distinct trace names")
      let id = UInt32(t.strings.count)
      t.strings.append(s)
      t.ids[s] = id
      return id
    }
  }

  func string(_ id: UInt32) -> String {
    table.withLock { t in
      precondition(Int(id) < t.strings.count, "bug in swift-storport: trace name \(id) was never interned")
      return t.strings[Int(id)]
    }
  }
}

extension TraceName {
  // The fixed entry points and the port's own work, interned once.
  static let hwStorFindAdapter = TraceName("HwStorFindAdapter")
  static let hwStorInitialize = TraceName("HwStorInitialize")
  static let hwStorBuildIo = TraceName("HwStorBuildIo")
  static let hwStorStartIo = TraceName("HwStorStartIo")
  static let hwStorInterrupt = TraceName("HwStorInterrupt")
  static let hwMSInterruptRoutine = TraceName("HwMSInterruptRoutine")
  static let hwStorResetBus = TraceName("HwStorResetBus")
  static let hwStorTimer = TraceName("HwStorTimer")
  static let hwTimerEx = TraceName("HW_TIMER_EX")
  static let portWork = TraceName("PortWork")
  static let hwWorkItem = TraceName("HwStorWorkItem")
  static let hwStorUnitControl = TraceName("HwStorUnitControl")
  static let requestTimerCall = TraceName("RequestTimerCall")
  static let uninitializedDpc = TraceName("uninitialised STOR_DPC")
}
