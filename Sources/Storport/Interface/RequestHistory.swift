/// The last few things that happened to a request (checked mode): what a REQUEST_TIMED_OUT
/// report quotes, as Driver Verifier's SRB timeout diagnostics do. A fixed ring of eight
/// entries inline in the request: recording costs a few stores, never an allocation.
public struct RequestHistory: Sendable, CustomStringConvertible {
  public enum Event: UInt8, Sendable, CustomStringConvertible {
    case submitted, buildIo, startIo, completed, completedByPort, reissued

    public var description: String {
      switch self {
      case .submitted: return "submitted"
      case .buildIo: return "HwStorBuildIo"
      case .startIo: return "HwStorStartIo"
      case .completed: return "RequestComplete"
      case .completedByPort: return "completed by the port"
      case .reissued: return "re-issued"
      }
    }
  }

  public struct Entry: Sendable {
    /// Platform time (ns).
    public var time: UInt64
    public var event: Event
    /// The processor it happened on (-1: a thread outside the processors).
    public var processor: Int8
    /// SRB status, for completions.
    public var status: UInt8
  }

  static let capacity = 8
  private var ring = InlineArray<8, Entry>(
    repeating: Entry(time: 0, event: .submitted, processor: -1, status: 0))
  private var recorded = 0

  mutating func record(_ event: Event, at time: UInt64, on processor: Int?, status: UInt8 = 0) {
    ring[recorded % Self.capacity] = Entry(
      time: time, event: event, processor: Int8(truncatingIfNeeded: processor ?? -1), status: status)
    recorded += 1
  }

  mutating func clear() { recorded = 0 }

  /// The kept entries, oldest first.
  public var entries: [Entry] {
    let n = min(recorded, Self.capacity)
    return (0..<n).map { ring[(recorded - n + $0) % Self.capacity] }
  }

  public var description: String {
    entries.map { e in
      let cpu = e.processor < 0 ? "host" : "cpu\(e.processor)"
      let status =
        e.event == .completed || e.event == .completedByPort ? " \(SrbStatus(rawValue: e.status))" : ""
      return "\(Double(e.time) / 1000) µs \(cpu) \(e.event)\(status)"
    }.joined(separator: "; ")
  }
}
