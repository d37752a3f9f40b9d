import Synchronization

/// How much of the trace the runtime keeps.
public enum TraceMode: Sendable, Equatable {
  /// Nothing (fastest; verifier reports then carry no recent events).
  case off
  /// The last `capacity` events per processor (what verifier reports quote).
  case ring(capacity: Int)
  /// At most about the last `events` events in all (`--trace-limit`): each processor (and the
  /// threads outside them) keeps an equal share, and ``Tracer/events()`` cuts every record to
  /// the window all of them still cover, so the kept trace is the whole recent past, not
  /// uneven tails — and, when one share filled much faster than the others, fewer events.
  case last(events: Int)
  /// Every event, in memory (simulated runs and tests; unbounded).
  case full

  /// The ring verifier reports quote by default.
  public static let reportRing = TraceMode.ring(capacity: 64)
}

/// Collects trace events. Each processor records into its own buffer (one uncontended lock);
/// `events()` merges them by sequence number.
public final class Tracer: @unchecked Sendable {
  public let mode: TraceMode
  private let sequence = Atomic<UInt64>(0)
  private let buffers: [Buffer]
  /// The same buffers, unretained, for `record`: reaching a buffer through them costs no
  /// reference counting (`buffers` keeps them alive).
  private let unretained: [Unmanaged<Buffer>]

  final class Buffer: Sendable {
    let events: Locked<EventBuffer>
    init(capacity: Int?) { events = Locked(EventBuffer(capacity: capacity)) }
  }

  struct EventBuffer {
    var events: [TraceEvent] = []
    var start = 0  // ring start when full
    let capacity: Int?

    mutating func append(_ e: TraceEvent) {
      guard let capacity else {
        events.append(e)
        return
      }
      if events.count < capacity {
        events.append(e)
      } else if capacity > 0 {
        events[start] = e
        start += 1
        if start == capacity { start = 0 }
        dropped = true
      }
    }

    var ordered: [TraceEvent] { Array(events[start...] + events[..<start]) }
    /// Whether older events were overwritten.
    var dropped = false
    /// Sequence number of the oldest kept event.
    var oldestSequence: UInt64? { events.isEmpty ? nil : events[start].sequence }
  }

  /// - Parameter processors: number of processors; one extra buffer serves other threads.
  init(mode: TraceMode, processors: Int) {
    self.mode = mode
    isOn = mode != .off
    let capacity: Int?
    switch mode {
    case .off: capacity = 0
    case .ring(let c): capacity = max(1, c)
    case .last(let n): capacity = max(1, n / (processors + 1))
    case .full: capacity = nil
    }
    buffers = (0...processors).map { _ in Buffer(capacity: capacity) }
    unretained = buffers.map { Unmanaged.passUnretained($0) }
  }

  /// Whether anything is recorded (fixed at creation).
  let isOn: Bool

  func record(
    processor: ProcessorIndex?, time: UInt64, adapter: Int, kind: TraceKind, irql: Irql, name: TraceName,
    a: UInt64 = 0, b: UInt64 = 0, object: UInt32 = 0
  ) {
    guard isOn else { return }
    let seq = sequence.wrappingAdd(1, ordering: .relaxed).newValue
    let e = TraceEvent(
      sequence: seq, time: time, processor: processor, adapter: adapter, kind: kind, irql: irql,
      nameID: name, a: a, b: b, object: object)
    let slot = processor.map { min($0.rawValue, unretained.count - 1) } ?? unretained.count - 1
    unretained[slot]._withUnsafeGuaranteedRef { $0.events.withLock { $0.append(e) } }
  }

  /// Every kept event, in recording order. When a buffer overwrote older events, every
  /// buffer's events recorded before that buffer's oldest kept one are left out too: what is returned
  /// is complete from its first event on.
  public func events() -> [TraceEvent] {
    var all: [TraceEvent] = []
    var cut: UInt64 = 0
    for b in buffers {
      b.events.withLock { e in
        all += e.ordered
        if e.dropped, let first = e.oldestSequence { cut = max(cut, first) }
      }
    }
    if cut > 0 { all.removeAll { $0.sequence < cut } }
    return all.sorted { $0.sequence < $1.sequence }
  }

  /// Whether any buffer overwrote older events (the kept trace is a recent window).
  public var isTruncated: Bool { buffers.contains { $0.events.withLock { $0.dropped } } }

  /// The last `count` kept events, in recording order.
  public func recent(_ count: Int) -> [TraceEvent] {
    Array(events().suffix(count))
  }

  /// The kept events as JSON lines (one object per line, trailing newline).
  public func jsonLines() -> String {
    var s = ""
    for e in events() {
      s += e.jsonLine
      s += "\n"
    }
    return s
  }
}
