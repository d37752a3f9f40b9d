import Storport
import Synchronization

/// `storport run`: the demonstration adapter (``DemoMiniport``) under a closed-loop workload
/// with `outstanding` requests per processor, on the live or the simulated platform.
public struct DemoRun: Sendable {
  public struct Options: Sendable {
    public var simulated = false
    public var seed: UInt64 = 1
    public var processors: Int? = nil
    public var durationMilliseconds: UInt64 = 3000
    public var outstanding = 16
    public var channels = 2
    public var timerPeriodMicroseconds: UInt32 = 1000
    /// What the runtime keeps of its trace (`.last(events:)` for `--trace`).
    public var trace: TraceMode = .ring(capacity: 32)
    public var idlePolicy: IdlePolicy = .default
    public init() {}
  }

  public struct Result: Sendable {
    public let platform: String
    public let processors: Int
    public let durationNanoseconds: UInt64
    public let completed: UInt64
    public let callbackCounts: [[UInt64]]
    public let timerLateness: Percentiles
    public let dpcLatency: Percentiles
    public let timerTicks: Int64
    public let handOffRaces: Int64
    public let stallTicks: Int64
    public let verdict: String
    public let violations: [VerifierViolation]
    /// The kept trace (taken before shutdown).
    public let trace: TraceCapture
    public let decisions: UInt64
    /// What the run was asked to do.
    public let options: Options
    /// SIGINT (2) or SIGTERM (15) when the run was cut short: the figures are partial.
    public let interruptedBySignal: Int32?
  }

  public let options: Options
  public init(_ options: Options) { self.options = options }

  /// Runs the demo. `stop` is polled every few milliseconds (of virtual time when
  /// simulated); a non-zero signal ends the run early with partial figures. The duration
  /// covers the run and its drain, so rates are over the time the completions took.
  public func run(stop: (() -> Int32)? = nil) -> Result {
    let platform: Platform
    let cpus: Int
    if options.simulated {
      cpus = options.processors ?? 2
      platform = SimulatedPlatform(processors: cpus, seed: options.seed)
    } else {
      let live = LivePlatform(processors: options.processors, idlePolicy: options.idlePolicy)
      cpus = live.processorCount
      platform = live
    }
    let runtime = StorportRuntime(
      platform: platform, verifier: .default, trace: options.trace)
    let miniport = DemoMiniport(
      queues: cpus, channels: options.channels, timerPeriodMicroseconds: options.timerPeriodMicroseconds)
    let adapter = runtime.attach(miniport)
    miniport.device.connect(adapter.device)
    let ext = adapter.deviceExtension(as: DemoExtension.self)
    runtime.start()
    adapter.start()
    runtime.runUntil(timeoutNanoseconds: 1_000_000_000) { adapter.state != .starting }

    let start = runtime.now
    let total = cpus * options.outstanding
    let loop = ClosedLoop(adapter: adapter)
    for i in 0..<total { loop.submit(StorRequest(tag: UInt64(i))) }
    let end = start &+ options.durationMilliseconds * 1_000_000
    var interrupted: Int32? = nil
    while runtime.now < end {
      if let sig = stop?(), sig != 0 {
        interrupted = sig
        break
      }
      runtime.run(forNanoseconds: min(end - runtime.now, options.simulated ? 1_000_000 : 50_000_000))
    }
    loop.stopping.store(true, ordering: .relaxed)
    runtime.runUntil(timeoutNanoseconds: 200_000_000) { ext.inFlight.load() == 0 }
    let duration = runtime.now - start
    adapter.stop()
    runtime.runUntil(timeoutNanoseconds: 1_000_000_000) {
      adapter.state == .stopped || adapter.state == .failed
    }
    let decisions = runtime.simulation?.decisions ?? 0
    let trace = runtime.traceCapture()
    runtime.shutdown()
    let stats = adapter.statistics
    return Result(
      platform: options.simulated ? "simulated (seed \(options.seed))" : "live", processors: cpus,
      durationNanoseconds: duration, completed: stats.completedRequests,
      callbackCounts: runtime.callbackCounts,
      timerLateness: Percentiles(stats.timerLatenessNanoseconds),
      dpcLatency: Percentiles(ext.dpcLatency.withLock { $0 }),
      timerTicks: ext.timerTicks.load(), handOffRaces: ext.handOffRaces.load(),
      stallTicks: ext.stallTicks.load(), verdict: runtime.verifier.verdict,
      violations: runtime.verifier.reportsSoFar,
      trace: trace, decisions: decisions, options: options, interruptedBySignal: interrupted)
  }
}

/// Resubmits every successfully completed request until told to stop.
final class ClosedLoop: Sendable {
  let adapter: Adapter
  let stopping: Atomic<Bool>

  init(adapter: Adapter) {
    self.adapter = adapter
    stopping = Atomic(false)
  }

  func submit(_ r: StorRequest) {
    adapter.submit(r) { [self] r in
      if !stopping.load(ordering: .relaxed) && r.srbStatus == .success { submit(r) }
    }
  }
}

extension DemoRun.Result {
  /// The human-readable report.
  public var text: String {
    let virtual = platform.hasPrefix("simulated")
    var s = "storport demo — demonstration adapter on the \(platform) platform, \(processors) processors\n"
    if let sig = interruptedBySignal {
      s +=
        "interrupted by \(sig == 2 ? "SIGINT" : sig == 15 ? "SIGTERM" : "signal \(sig)"): partial results\n"
    }
    let secs = Double(durationNanoseconds) / 1e9
    s +=
      "duration \(Percentiles.us(durationNanoseconds / 1000)) ms\(virtual ? " of virtual time" : ""), requests completed \(completed)"
    s +=
      secs > 0 ? " (\(Int(Double(completed) / secs)) per second\(virtual ? " of virtual time" : ""))\n" : "\n"
    s += "callbacks per processor:\n"
    let roles: [CallbackRole] = [
      .startIo, .messageSignaledInterrupt, .dpc, .timer, .passiveInitialize, .initialize, .findAdapter,
      .adapterControl,
    ]
    let width = roles.map(\.description.count).max()! + 2
    s += "  " + "role".padded(width)
    for p in 0..<processors { s += "cpu\(p)".leftPadded(10) }
    s += "\n"
    for role in roles {
      s += "  " + role.description.padded(width)
      for p in 0..<processors {
        s += "\(callbackCounts[p][Int(role.rawValue)])".leftPadded(10)
      }
      s += "\n"
    }
    s += "HwStorTimer lateness: \(timerLateness.text)\n"
    s += "DPC latency (ISR issue → DPC start): \(dpcLatency.text)\n"
    s +=
      "watchdog ticks \(timerTicks), timer/StartIo hand-off races resolved by compare-exchange \(handOffRaces), stall ticks \(stallTicks)\n"
    for v in violations { s += v.text }
    s += "verifier: \(verdict)\n"
    return s
  }

  /// The result as one JSON object, with every option used.
  public var json: String {
    var o = JSONObject()
    o["simulated"] = .bool(options.simulated)
    o["seed"] = .int(options.seed)
    o["processors"] = .int(processors)
    o["runtime_ns"] = .int(options.durationMilliseconds * 1_000_000)
    o["outstanding"] = .int(options.outstanding)
    o["channels"] = .int(options.channels)
    o["timer_us"] = .int(options.timerPeriodMicroseconds)
    o["poll"] = .bool(options.idlePolicy == .poll)
    var j = JSONObject()
    j["storport_version"] = .string(StorportVersion.string)
    j["options"] = .object(o)
    j["platform"] = .string(platform)
    j["time_base"] = .string(options.simulated ? "virtual" : "wall")
    j["duration_ns"] = .int(durationNanoseconds)
    j["interrupted_by"] = .optional(
      interruptedBySignal.map { .string($0 == 2 ? "SIGINT" : $0 == 15 ? "SIGTERM" : "signal \($0)") })
    j["completed"] = .int(completed)
    j["timer_lateness"] = .raw(timerLateness.json)
    j["dpc_latency"] = .raw(dpcLatency.json)
    j["callback_counts"] = .array(callbackCounts.map { .array($0.map { .int($0) }) })
    j["timer_ticks"] = .int(timerTicks)
    j["handoff_races"] = .int(handOffRaces)
    j["verdict"] = .string(verdict)
    j["violations"] = .array(violations.map { .raw($0.json) })
    return j.text
  }
}
