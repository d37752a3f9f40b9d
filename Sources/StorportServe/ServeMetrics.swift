import CoreMetrics
import Dispatch
import Metrics
import Storport

/// What `storport serve` counts, through swift-metrics (any backend; `storport serve --metrics`
/// exports them to Prometheus): per front end and operation, requests, bytes moved, failures
/// and latency (from the request's arrival to its completion by the adapter, in seconds); per
/// front end, open sessions. Handles are made once, so counting a request takes no lookup and
/// no allocation.
///
/// Metric names: `storport_requests_total`, `storport_request_bytes_total`,
/// `storport_request_errors_total`, `storport_request_duration_seconds` (labels `frontend`:
/// iscsi | nbd, `op`: read | write | flush | other) and `storport_sessions` (`frontend`).
public final class ServeMetrics: Sendable {
  /// The protocol a request came in by.
  public enum FrontEnd: String, Sendable, CaseIterable { case iscsi, nbd }
  /// What a request does: data in, data out, a cache flush, or anything else (INQUIRY,
  /// WRITE ZEROES, TRIM…; its bytes are not counted).
  public enum Operation: String, Sendable, CaseIterable { case read, write, flush, other }

  struct Handles: Sendable {
    let requests: Counter
    let bytes: Counter
    let errors: Counter
    let latency: Metrics.Timer
  }

  /// The latency histogram's name (a backend's buckets are configured by it).
  public static let latencyLabel = "storport_request_duration_seconds"

  private let handles: [Handles]
  private let sessions: [Meter]

  /// - Parameter factory: the backend (a `PrometheusMetricsFactory` for `--metrics`).
  public init(factory: any MetricsFactory) {
    var h: [Handles] = []
    for f in FrontEnd.allCases {
      for o in Operation.allCases {
        let d = [("frontend", f.rawValue), ("op", o.rawValue)]
        h.append(
          Handles(
            requests: Counter(label: "storport_requests_total", dimensions: d, factory: factory),
            bytes: Counter(label: "storport_request_bytes_total", dimensions: d, factory: factory),
            errors: Counter(label: "storport_request_errors_total", dimensions: d, factory: factory),
            latency: Metrics.Timer(label: Self.latencyLabel, dimensions: d, factory: factory)))
      }
    }
    handles = h
    sessions = FrontEnd.allCases.map {
      Meter(label: "storport_sessions", dimensions: [("frontend", $0.rawValue)], factory: factory)
    }
  }

  /// A monotonic time stamp for ``completed(_:_:bytes:failed:since:)``, in nanoseconds.
  @inline(__always) public static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

  /// One request answered: `bytes` moved (0 for flush and other), whether it failed, and
  /// when it arrived (``now()``).
  public func completed(_ frontEnd: FrontEnd, _ op: Operation, bytes: Int, failed: Bool, since: UInt64) {
    let h = handles[index(frontEnd) * Operation.allCases.count + index(op)]
    h.requests.increment()
    if bytes > 0 { h.bytes.increment(by: bytes) }
    if failed { h.errors.increment() }
    let now = Self.now()
    h.latency.recordNanoseconds(Int64(clamping: now >= since ? now - since : 0))
  }

  /// A session opened (`+1`) or closed (`-1`).
  public func session(_ frontEnd: FrontEnd, _ delta: Int) {
    if delta > 0 { sessions[index(frontEnd)].increment(by: Double(delta)) }
    if delta < 0 { sessions[index(frontEnd)].decrement(by: Double(-delta)) }
  }

  private func index(_ f: FrontEnd) -> Int { f == .iscsi ? 0 : 1 }
  private func index(_ o: Operation) -> Int {
    switch o {
    case .read: return 0
    case .write: return 1
    case .flush: return 2
    case .other: return 3
    }
  }
}

/// The adapters' own figures, read when a scrape asks (the runtime counts them anyway; nothing
/// is added to the I/O path): per adapter, completed requests, outstanding and queued requests,
/// spurious and unclaimed interrupts, verifier violations; per processor, port spin-lock
/// acquisitions and miniport callbacks started by role (HwStorStartIo, HwStorInterrupt,
/// HwStorDpcRoutine, HwStorTimer…). Counters advance by what changed since the last scrape.
///
/// Names: `storport_adapter_completed_requests_total`, `storport_adapter_outstanding_requests`,
/// `storport_adapter_queued_requests`, `storport_adapter_spurious_interrupts_total`,
/// `storport_adapter_unclaimed_interrupts_total`, `storport_verifier_violations` (label
/// `adapter`), and `storport_callbacks_total` (labels `adapter`, `processor`, `callback`).
public final class RuntimeMetrics: @unchecked Sendable {
  /// One adapter to report: its name in the labels, its runtime and the adapter.
  public struct Source: Sendable {
    public let name: String
    public let runtime: StorportRuntime
    public let adapter: Adapter
    public init(name: String, runtime: StorportRuntime, adapter: Adapter) {
      self.name = name
      self.runtime = runtime
      self.adapter = adapter
    }
  }

  private let sources: [Source]
  private let factory: any MetricsFactory
  private let lock = Locked<[String: (counter: Counter, last: UInt64)]>([:])

  public init(sources: [Source], factory: any MetricsFactory) {
    self.sources = sources
    self.factory = factory
  }

  /// Brings every figure up to date (called before each scrape).
  public func refresh() {
    for s in sources {
      let a = [("adapter", s.name)]
      let st = s.adapter.statistics
      advance("storport_adapter_completed_requests_total", a, st.completedRequests)
      advance("storport_adapter_spurious_interrupts_total", a, st.spuriousInterrupts)
      advance("storport_adapter_unclaimed_interrupts_total", a, st.unclaimedInterrupts)
      Gauge(label: "storport_adapter_outstanding_requests", dimensions: a, factory: factory)
        .record(st.outstandingRequests)
      Gauge(label: "storport_adapter_queued_requests", dimensions: a, factory: factory).record(
        st.queuedRequests)
      Gauge(label: "storport_verifier_violations", dimensions: a, factory: factory)
        .record(s.runtime.verifier.violations.count)
      for (p, counts) in s.runtime.callbackCounts.enumerated() {
        for (role, n) in zip(CallbackRole.allCases, counts) where n > 0 {
          advance(
            "storport_callbacks_total", a + [("processor", String(p)), ("callback", role.description)], n)
        }
      }
    }
  }

  private func advance(_ label: String, _ dimensions: [(String, String)], _ value: UInt64) {
    let key = label + dimensions.map { "|\($0.0)=\($0.1)" }.joined()
    lock.withLock { table in
      let entry = table[key] ?? (Counter(label: label, dimensions: dimensions, factory: factory), 0)
      if value > entry.last { entry.counter.increment(by: Int64(clamping: value - entry.last)) }
      table[key] = (entry.counter, max(value, entry.last))
    }
  }
}
