import Storport
import StorportSamples

/// `storport run`: the NVMe miniport on an emulated controller with a RAM backing, a mixed
/// verified workload in checked mode, then the workload figures, the runtime's timer / DPC /
/// lock statistics and the verifier's verdict.
public struct MainRun: Sendable {
  public var options: WorkloadOptions

  /// - Parameters:
  ///   - runtimeNanoseconds: nil: 10 s live, 50 ms simulated (virtual).
  ///   - trace: what the runtime keeps for `--trace` (a ring by default).
  public init(
    simulated: Bool, seed: UInt64, processors: Int?, runtimeNanoseconds: UInt64?,
    trace: TraceMode = .reportRing, idlePolicy: IdlePolicy = .default
  ) {
    var o = WorkloadOptions()
    o.miniport = .nvme
    o.target = .ram
    o.sizeBytes = WorkloadOptions.defaultSizeBytes
    o.pattern = .randrw
    o.verify = .crc32c
    o.iodepth = 32
    o.jobs = 2
    o.simulated = simulated
    o.seed = seed
    o.processors = processors
    o.runtimeNanoseconds = runtimeNanoseconds ?? (simulated ? 50_000_000 : 10_000_000_000)
    o.verifier = .default
    o.trace = trace
    o.idlePolicy = idlePolicy
    options = o
  }

  public struct Outcome: Sendable {
    public let workload: WorkloadResult
    public let text: String
    /// The runtime's kept trace, taken before shutdown.
    public let trace: TraceCapture
    public var passed: Bool { workload.passed }
  }

  public func run(
    progressEvery: UInt64 = 1_000_000_000, progress: ((Workload.Progress) -> Void)? = nil,
    stop: Workload.StopControl? = nil
  ) throws(WorkloadError) -> Outcome {
    let w = try Workload(options)
    let result = w.run(progressEvery: progressEvery, progress: progress, stop: stop)
    let runtime = w.rig.runtime
    var s = result.text
    s +=
      "runtime statistics (\(options.simulated ? "simulated, seed \(options.seed), virtual time" : "live")):\n"
    let counts = runtime.callbackCounts
    let roles: [CallbackRole] = [
      .startIo, .messageSignaledInterrupt, .dpc, .timer, .initialize, .passiveInitialize, .findAdapter,
      .adapterControl,
    ]
    let width = roles.map(\.description.count).max()! + 4
    s += "  " + "callbacks".padded(width) + counts.indices.map { "cpu\($0)".padded(12) }.joined() + "\n"
    for role in roles {
      s += "  " + role.description.padded(width)
      s += counts.map { "\($0[Int(role.rawValue)])".padded(12) }.joined() + "\n"
    }
    let locks = runtime.lockCounts
    s +=
      "  " + "spin locks acquired".padded(width) + locks.map { "\($0.acquired)".padded(12) }.joined() + "\n"
    s +=
      "  " + "  of them contended".padded(width) + locks.map { "\($0.contended)".padded(12) }.joined() + "\n"
    let lateness = Percentiles(w.rig.adapter.statistics.timerLatenessNanoseconds)
    s += "  HwStorTimer lateness: \(lateness.text)\n"
    let trace = runtime.traceCapture()
    w.shutdown()
    return Outcome(workload: result, text: s, trace: trace)
  }
}
