/// The track of threads outside the simulated processors.
let chromeHostTrack = 1000

/// Writes a ``TraceCapture`` in the Chrome trace-event format ("JSON Object Format": an object
/// whose `traceEvents` array holds the events), which Perfetto (ui.perfetto.dev) and
/// `chrome://tracing` open:
///
/// * one process, "swift-storport", with one thread track per simulated processor ("CPU n")
///   and one for threads outside the processors ("host / device threads");
/// * every miniport callback as a complete slice (`ph: "X"`) on its processor's track, named
///   after the routine, with the callback role (HwStorStartIo, HwStorTimer, HwStorDpcRoutine,
///   HwMSInterruptRoutine, …) as its category; preemption (an ISR inside StartIo) nests;
/// * the IRQL of each processor as a counter track ("IRQL CPU n": 0 PASSIVE, 2 DISPATCH,
///   higher DIRQL);
/// * DPC issue → DPC run and interrupt raise → ISR as flow arrows (`ph: "s"` at a zero-length
///   slice marking the issue or raise, `ph: "f"` binding to the callback it started);
/// * verifier violations and diagnostics, timer fires and lifecycle changes as instant events.
///
/// Timestamps are microseconds from the first kept event (with nanosecond decimals); on the
/// simulated platform they are virtual, which `otherData.time_base` records.
struct ChromeTraceWriter<E: Error> {
  let capture: TraceCapture
  private var out = ""
  private var first = true
  /// Trace-event records written so far.
  private(set) var records = 0
  private var nextFlow: UInt64 = 1
  /// Open callbacks per track: (name, role, start ns, adapter).
  private var stacks: [Int: [(String, String, UInt64, Int)]] = [:]
  private var irql: [Int: UInt8] = [:]
  /// DPC issued and not yet run: (adapter, DPC number) → flow id.
  private var pendingDpc: [UInt64: UInt64] = [:]
  /// Interrupts raised and not yet delivered: (adapter, message name) → flow ids, oldest first.
  private var pendingInterrupt: [String: [UInt64]] = [:]
  /// Flows that end at the next DPC routine (`dpc`) or ISR (`isr`) to start on a track:
  /// "track/kind" → flow ids, oldest first.
  private var flowsAwaitingCallback: [String: [UInt64]] = [:]
  private var base: UInt64 = 0
  private var last: UInt64 = 0

  init(capture: TraceCapture) { self.capture = capture }

  func track(_ processor: ProcessorIndex?) -> Int { processor?.rawValue ?? chromeHostTrack }

  /// Nanoseconds as microseconds with three decimals (the format's unit).
  static func micro(_ ns: UInt64) -> String {
    let frac = String(ns % 1000)
    return "\(ns / 1000).\(String(repeating: "0", count: 3 - frac.count))\(frac)"
  }

  /// A timestamp: microseconds since the first kept event.
  func ts(_ ns: UInt64) -> String { Self.micro(ns &- base) }

  /// Which flows a callback of `role` ends: DPC issue → DPC routine, interrupt → ISR.
  static func flowKind(_ role: CallbackRole?) -> String? {
    switch role {
    case .dpc: return "dpc"
    case .interrupt, .messageSignaledInterrupt: return "isr"
    default: return nil
    }
  }

  static func flowCategory(_ kind: String) -> String { kind == "dpc" ? "StorPortIssueDpc" : "interrupt" }

  private mutating func emit(_ event: String, _ sink: (String) throws(E) -> Void) throws(E) {
    if !first { out += ",\n" }
    first = false
    records += 1
    out += event
    if out.utf8.count >= TraceCapture.chunkBytes {
      try sink(out)
      out.removeAll(keepingCapacity: true)
    }
  }

  mutating func write(_ sink: (String) throws(E) -> Void) throws(E) {
    base = capture.events.first?.time ?? 0
    last = capture.events.last?.time ?? 0
    var header = "{\"displayTimeUnit\":\"ns\",\"otherData\":{"
    header += "\"producer\":\"swift-storport \(StorportVersion.string)\""
    header += ",\"time_base\":\"\(capture.isVirtualTime ? "virtual" : "wall")\""
    header += ",\"truncated\":\(capture.isTruncated)"
    header += ",\"adapters\":[\(capture.adapterNames.map(JSON.quote).joined(separator: ","))]"
    header += "},\"traceEvents\":[\n"
    out = header
    try emit(
      "{\"ph\":\"M\",\"pid\":1,\"tid\":0,\"name\":\"process_name\",\"args\":{\"name\":\"swift-storport\"}}",
      sink)
    for p in 0..<capture.processorCount {
      try emit(
        "{\"ph\":\"M\",\"pid\":1,\"tid\":\(p),\"name\":\"thread_name\",\"args\":{\"name\":\"CPU \(p)\"}}",
        sink)
      try emit(
        "{\"ph\":\"M\",\"pid\":1,\"tid\":\(p),\"name\":\"thread_sort_index\",\"args\":{\"sort_index\":\(p)}}",
        sink)
    }
    try emit(
      "{\"ph\":\"M\",\"pid\":1,\"tid\":\(chromeHostTrack),\"name\":\"thread_name\",\"args\":{\"name\":\"host / device threads\"}}",
      sink)
    for e in capture.events { try event(e, sink) }
    // Callbacks still running when the capture ended: close them at its last timestamp.
    for (tid, stack) in stacks.sorted(by: { $0.key < $1.key }) {
      for (name, role, start, adapter) in stack.reversed() {
        try slice(
          name: name, category: role, tid: tid, start: start, end: last, adapter: adapter, unfinished: true,
          sink)
      }
    }
    out += "\n]}\n"
    try sink(out)
    out = ""
  }

  private mutating func slice(
    name: String, category: String, tid: Int, start: UInt64, end: UInt64, adapter: Int, unfinished: Bool,
    _ sink: (String) throws(E) -> Void
  ) throws(E) {
    var s =
      "{\"ph\":\"X\",\"pid\":1,\"tid\":\(tid),\"ts\":\(ts(start)),\"dur\":\(Self.micro(end >= start ? end - start : 0))"
    s += ",\"name\":\(JSON.quote(name)),\"cat\":\(JSON.quote(category)),\"args\":{\"adapter\":\(adapter)"
    if unfinished { s += ",\"unfinished\":true" }
    s += "}}"
    try emit(s, sink)
  }

  private mutating func instant(
    _ e: TraceEvent, name: String, category: String, scope: String = "t", _ sink: (String) throws(E) -> Void
  ) throws(E) {
    try emit(
      "{\"ph\":\"i\",\"s\":\"\(scope)\",\"pid\":1,\"tid\":\(track(e.processor)),\"ts\":\(ts(e.time)),\"name\":\(JSON.quote(name)),\"cat\":\"\(category)\",\"args\":{\"adapter\":\(e.adapter),\"a\":\(e.a),\"b\":\(e.b)}}",
      sink)
  }

  /// A zero-length slice that a flow starts from (flow starts must sit inside a slice).
  private mutating func flowStart(
    _ e: TraceEvent, name: String, category: String, _ sink: (String) throws(E) -> Void
  ) throws(E) -> UInt64 {
    let id = nextFlow
    nextFlow += 1
    let tid = track(e.processor)
    try slice(
      name: name, category: category, tid: tid, start: e.time, end: e.time, adapter: e.adapter,
      unfinished: false, sink)
    try emit(
      "{\"ph\":\"s\",\"pid\":1,\"tid\":\(tid),\"ts\":\(ts(e.time)),\"id\":\(id),\"name\":\(JSON.quote(category)),\"cat\":\(JSON.quote(category))}",
      sink)
    return id
  }

  private mutating func event(_ e: TraceEvent, _ sink: (String) throws(E) -> Void) throws(E) {
    let tid = track(e.processor)
    if let cpu = e.processor, irql[tid] != e.irql.rawValue {
      irql[tid] = e.irql.rawValue
      try emit(
        "{\"ph\":\"C\",\"pid\":1,\"tid\":\(tid),\"ts\":\(ts(e.time)),\"name\":\"IRQL CPU \(cpu.rawValue)\",\"args\":{\"irql\":\(e.irql.rawValue)}}",
        sink)
    }
    switch e.kind {
    case .callbackEnter:
      let callbackRole = CallbackRole(rawValue: UInt8(truncatingIfNeeded: e.a))
      let role = callbackRole?.description ?? "callback"
      stacks[tid, default: []].append((e.name, role, e.time, e.adapter))
      if let kind = Self.flowKind(callbackRole), var ids = flowsAwaitingCallback["\(tid)/\(kind)"],
        !ids.isEmpty
      {
        let id = ids.removeFirst()
        flowsAwaitingCallback["\(tid)/\(kind)"] = ids
        let category = Self.flowCategory(kind)
        try emit(
          "{\"ph\":\"f\",\"bp\":\"e\",\"pid\":1,\"tid\":\(tid),\"ts\":\(ts(e.time)),\"id\":\(id),\"name\":\"\(category)\",\"cat\":\"\(category)\"}",
          sink)
      }
    case .callbackExit:
      if var stack = stacks[tid], !stack.isEmpty {
        let (name, role, start, adapter) = stack.removeLast()
        stacks[tid] = stack
        try slice(
          name: name, category: role, tid: tid, start: start, end: e.time, adapter: adapter,
          unfinished: false, sink)
      } else {
        // Its start fell out of the kept window: draw it from the window's start.
        let role = CallbackRole(rawValue: UInt8(truncatingIfNeeded: e.a))?.description ?? "callback"
        try slice(
          name: e.name, category: role, tid: tid, start: base, end: e.time, adapter: e.adapter,
          unfinished: true, sink)
      }
    case .dpcIssue where e.a == 1:
      let id = try flowStart(e, name: "StorPortIssueDpc(\(e.name))", category: "StorPortIssueDpc", sink)
      pendingDpc[UInt64(e.adapter) << 32 | UInt64(e.object)] = id
    case .dpcStart:
      if let id = pendingDpc.removeValue(forKey: UInt64(e.adapter) << 32 | UInt64(e.object)) {
        flowsAwaitingCallback["\(tid)/dpc", default: []].append(id)
      }
    case .interruptRaise:
      let id = try flowStart(e, name: "interrupt \(e.name) raised", category: "interrupt", sink)
      pendingInterrupt["\(e.adapter)/\(e.name)", default: []].append(id)
    case .interruptDeliver:
      let key = "\(e.adapter)/\(e.name)"
      if var ids = pendingInterrupt[key], !ids.isEmpty {
        flowsAwaitingCallback["\(tid)/isr", default: []].append(ids.removeFirst())
        pendingInterrupt[key] = ids
      }
    case .violation:
      try instant(e, name: "verifier violation: \(e.name)", category: "verifier", scope: "g", sink)
    case .diagnostic:
      try instant(e, name: "verifier diagnostic: \(e.name)", category: "verifier", sink)
    case .timerFire, .extTimerFire:
      try instant(e, name: "\(e.kind.name) \(e.name)", category: "timer", sink)
    case .interruptSpurious:
      try instant(e, name: "spurious interrupt \(e.name)", category: "interrupt", sink)
    case .lifecycle, .busy, .ready, .pause, .resume, .notification:
      try instant(e, name: e.name, category: e.kind.name, sink)
    default:
      break
    }
  }
}
