/// The trace a runtime kept, with what a viewer needs to draw it: the events, the number of
/// processors, the adapters' names and whether times are virtual. Written as JSON lines
/// (``writeJSONLines(_:)``, one ``TraceEvent`` per line) or as the Chrome trace-event format
/// that Perfetto and `chrome://tracing` open (``writeChromeTrace(_:)``).
public struct TraceCapture: Sendable {
  public let events: [TraceEvent]
  public let processorCount: Int
  /// Miniport name of each adapter, by adapter index.
  public let adapterNames: [String]
  /// True on the simulated platform: times are virtual nanoseconds.
  public let isVirtualTime: Bool
  /// True when older events were dropped (`--trace-limit`): the capture is the last window.
  public let isTruncated: Bool

  public init(
    events: [TraceEvent], processorCount: Int, adapterNames: [String], isVirtualTime: Bool, isTruncated: Bool
  ) {
    self.events = events
    self.processorCount = processorCount
    self.adapterNames = adapterNames
    self.isVirtualTime = isVirtualTime
    self.isTruncated = isTruncated
  }

  /// Bytes handed to `emit` at a time.
  static let chunkBytes = 1 << 16

  /// One JSON object per event and line (keys: seq, t_ns, cpu, adapter, ev, irql, name, a, b,
  /// obj — see ``TraceEvent/jsonLine``), in recording order.
  /// Returns the number of lines written.
  @discardableResult
  public func writeJSONLines<E: Error>(_ emit: (String) throws(E) -> Void) throws(E) -> Int {
    var chunk = ""
    chunk.reserveCapacity(Self.chunkBytes + 512)
    for e in events {
      chunk += e.jsonLine
      chunk += "\n"
      if chunk.utf8.count >= Self.chunkBytes {
        try emit(chunk)
        chunk.removeAll(keepingCapacity: true)
      }
    }
    if !chunk.isEmpty { try emit(chunk) }
    return events.count
  }

  /// The Chrome trace-event format (a JSON object with `traceEvents`; see
  /// ``ChromeTraceWriter`` for what is drawn).
  /// Returns the number of trace-event records written.
  @discardableResult
  public func writeChromeTrace<E: Error>(_ emit: (String) throws(E) -> Void) throws(E) -> Int {
    var writer = ChromeTraceWriter<E>(capture: self)
    try writer.write(emit)
    return writer.records
  }
}

extension StorportRuntime {
  /// What the tracer kept, for writing to a file.
  public func traceCapture() -> TraceCapture {
    TraceCapture(
      events: tracer.events(), processorCount: platform.processorCount, adapterNames: adapters.map(\.name),
      isVirtualTime: platform.isSimulated, isTruncated: tracer.isTruncated)
  }
}
