import CStorportShim
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

  /// Whether events on a processor are stamped with the time its current work item (an
  /// interrupt, a DPC, a StartIo, a timer) began rather than read from the clock each: a
  /// ring — the flight recorder verifier reports quote, on in every checked run — takes one
  /// clock read per work item instead of one per event (about 13 fewer per I/O, ~28 ns each
  /// here); a trace kept to be looked at (`--trace`: last, full) reads the clock every time.
  public var stampsPerWorkItem: Bool {
    if case .ring = self { true } else { false }
  }
}

/// Collects trace events. Each processor records into its own buffer (one uncontended lock);
/// `events()` merges them.
///
/// Order: on a platform that runs one thread at a time every event takes the next number of
/// one counter — the exact order of recording. On the live platform one shared counter would
/// be a cache line every processor writes for every event (measured: most of the checked
/// mode's cost per I/O), so each buffer counts its own events and the merge orders them by
/// platform time (one monotonic clock for all processors), then by buffer and count. In a ring
/// trace (``TraceMode/stampsPerWorkItem``) a processor's events carry its work item's start, so
/// across processors the merge is ordered only to a work item: an effect seen on one processor
/// may sort before its cause on another. Within one processor the order is exact, and
/// violations carry the exact time (they sort among the newest events their report quotes).
/// Either way `events()` numbers the merged trace 1, 2, 3…: `sequence` is the position in it.
public final class Tracer: @unchecked Sendable {
  public let mode: TraceMode
  private let sequence = Atomic<UInt64>(0)
  private let buffers: [Buffer]
  /// The same buffers, unretained, for `record`: reaching a buffer through them costs no
  /// reference counting (`buffers` keeps them alive).
  private let unretained: [Unmanaged<Buffer>]

  final class Buffer: @unchecked Sendable {
    private let word = AlignedWords(count: 1)
    /// Guarded by `word` unless the platform runs one thread at a time.
    @exclusivity(unchecked) private var buffer: EventBuffer
    init(capacity: Int?) { buffer = EventBuffer(capacity: capacity) }
    deinit { buffer.deallocate() }

    /// The futex mutex, not a spin lock: a reader (`events()`, a verifier report's recent
    /// events) copies the whole buffer under it — millions of events with `.full` — and a
    /// writer must sleep meanwhile, not spin.
    @inline(__always)
    func withLock<R>(_ body: (inout EventBuffer) -> R) -> R {
      storport_mutex_lock(word[0])
      defer { storport_mutex_unlock(word[0]) }
      return body(&buffer)
    }

    /// Appends without the lock: only when no other thread can run meanwhile.
    @inline(__always)
    func appendSerially(_ e: TraceEvent) { buffer.append(e) }

    /// This buffer's own count of events (the live platform's order within a buffer). Only
    /// the buffer's writer touches it, under the lock.
    @exclusivity(unchecked) var recorded: UInt64 = 0
  }

  /// A ring of plain-data events in memory of its own (an append is a bounds test and a
  /// copy); unbounded buffers grow by doubling instead of wrapping. Freed by its `Buffer`.
  struct EventBuffer {
    private var storage: UnsafeMutablePointer<TraceEvent>
    private var allocated: Int
    private(set) var count = 0
    var start = 0  // ring start when full
    /// nil: unbounded.
    let capacity: Int?

    init(capacity: Int?) {
      self.capacity = capacity
      allocated = max(1, min(capacity ?? 1024, 1024))
      storage = .allocate(capacity: allocated)
    }

    func deallocate() { storage.deallocate() }

    @inline(__always)
    mutating func append(_ e: TraceEvent) {
      if let capacity, count == capacity {
        guard capacity > 0 else { return }
        storage[start] = e
        start += 1
        if start == capacity { start = 0 }
        dropped = true
        return
      }
      if count == allocated { grow() }
      (storage + count).initialize(to: e)
      count += 1
    }

    private mutating func grow() {
      let bigger = min(allocated * 2, capacity ?? Int.max)
      let new = UnsafeMutablePointer<TraceEvent>.allocate(capacity: bigger)
      new.moveInitialize(from: storage, count: count)
      storage.deallocate()
      storage = new
      allocated = bigger
    }

    var ordered: [TraceEvent] {
      (0..<count).map { storage[(start + $0) % count] }
    }
    /// Whether older events were overwritten.
    var dropped = false
    /// The oldest kept event.
    var oldest: TraceEvent? { count == 0 ? nil : storage[start] }
  }

  /// - Parameter processors: number of processors; one extra buffer serves other threads.
  /// No thread records while another runs (the platform's guarantee): appends skip the lock.
  private let serial: Bool

  /// - Parameter serial: the platform runs one thread at a time (``Platform/runsOneThreadAtATime``).
  init(mode: TraceMode, processors: Int, serial: Bool = false) {
    self.serial = serial
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
    let slot = processor.map { min($0.rawValue, unretained.count - 1) } ?? unretained.count - 1
    if serial {
      let e = TraceEvent(
        sequence: sequence.wrappingAdd(1, ordering: .relaxed).newValue, time: time, processor: processor,
        adapter: adapter, kind: kind, irql: irql, nameID: name, a: a, b: b, object: object)
      unretained[slot]._withUnsafeGuaranteedRef { $0.appendSerially(e) }
    } else {
      unretained[slot]._withUnsafeGuaranteedRef { buffer in
        buffer.withLock { events in
          buffer.recorded &+= 1
          events.append(
            TraceEvent(
              sequence: buffer.recorded, time: time, processor: processor, adapter: adapter, kind: kind,
              irql: irql, nameID: name, a: a, b: b, object: object))
        }
      }
    }
  }

  /// The merge order (see the type's note): the recording counter when serial, else time.
  private func precedes(_ x: (event: TraceEvent, buffer: Int), _ y: (event: TraceEvent, buffer: Int)) -> Bool
  {
    if serial { return x.event.sequence < y.event.sequence }
    if x.event.time != y.event.time { return x.event.time < y.event.time }
    if x.buffer != y.buffer { return x.buffer < y.buffer }
    return x.event.sequence < y.event.sequence
  }

  /// Every kept event, in recording order. When a buffer overwrote older events, every
  /// buffer's events recorded before that buffer's oldest kept one are left out too: what is returned
  /// is complete from its first event on.
  public func events() -> [TraceEvent] {
    var all: [(event: TraceEvent, buffer: Int)] = []
    var cut: (event: TraceEvent, buffer: Int)? = nil
    for (i, b) in buffers.enumerated() {
      b.withLock { e in
        all += e.ordered.map { ($0, i) }
        if e.dropped, let first = e.oldest, cut.map({ precedes($0, (first, i)) }) ?? true { cut = (first, i) }
      }
    }
    if let cut { all.removeAll { precedes($0, cut) } }
    all.sort(by: precedes)
    return all.enumerated().map { n, x in
      var e = x.event
      e.sequence = UInt64(n + 1)
      return e
    }
  }

  /// Whether any buffer overwrote older events (the kept trace is a recent window).
  public var isTruncated: Bool { buffers.contains { $0.withLock { $0.dropped } } }

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
