import Storport
import StorportSamples

/// `storport run`: the NVMe miniport on an emulated controller with a RAM backing, a mixed
/// verified workload in checked mode, then the workload figures, the runtime's timer / DPC /
/// lock statistics and the verifier's verdict.
public struct MainRun: Sendable {
  public var options: WorkloadOptions

  public init(simulated: Bool, seed: UInt64, processors: Int?, durationMilliseconds: UInt64?, trace: Bool) {
    var o = WorkloadOptions()
    o.miniport = .nvme
    o.backing = .ram
    o.diskBytes = 256 << 20
    o.pattern = .randrw
    o.readPercent = 50
    o.verify = true
    o.iodepth = 32
    o.jobs = 2
    o.simulated = simulated
    o.seed = seed
    o.processors = processors
    o.runtimeMilliseconds = durationMilliseconds ?? (simulated ? 50 : 10_000)
    o.verifier = .default
    o.trace = trace ? .full : .ring(capacity: 64)
    o.progress = true
    options = o
  }

  public struct Outcome: Sendable {
    public let workload: WorkloadResult
    public let text: String
    public let traceJSONLines: String?
    public var passed: Bool { workload.passed && workload.verdict.hasPrefix("PASS") }
  }

  public func run(progress: ((String) -> Void)? = nil) throws -> Outcome {
    let w = try Workload(options)
    let result = w.run(progress: progress)
    let runtime = w.rig.runtime
    var s = result.text
    s += "runtime statistics (\(options.simulated ? "simulated, seed \(options.seed)" : "live")):\n"
    let counts = runtime.callbackCounts
    let roles: [CallbackRole] = [
      .startIo, .messageSignaledInterrupt, .dpc, .timer, .initialize, .passiveInitialize, .findAdapter,
      .adapterControl,
    ]
    s += "  " + "callbacks".padded(32) + counts.indices.map { "cpu\($0)".padded(12) }.joined() + "\n"
    for role in roles {
      s += "  " + role.description.padded(32)
      s += counts.map { "\($0[Int(role.rawValue)])".padded(12) }.joined() + "\n"
    }
    let locks = runtime.lockCounts
    s += "  " + "spin locks acquired".padded(32) + locks.map { "\($0.acquired)".padded(12) }.joined() + "\n"
    s +=
      "  " + "  of them contended".padded(32) + locks.map { "\($0.contended)".padded(12) }.joined() + "\n"
    let lateness = Percentiles(w.rig.adapter.statistics.timerLatenessNanoseconds)
    s += "  HwStorTimer lateness: \(lateness.text)\n"
    s += "  verifier: \(result.verdict)\n"
    let trace = options.trace == .full ? runtime.tracer.jsonLines() : nil
    w.shutdown()
    return Outcome(workload: result, text: s, traceJSONLines: trace)
  }
}
