import Foundation
import Storport

/// What an exploration reports, as text and as JSON (`--output-format json`, `result.json`).
public struct ExplorationReport: Codable, Sendable {
  public struct Failure: Codable, Sendable {
    public let kind: FailureKind
    public let rule: String
    public let message: String
    public let bugCheck: String?
    public let race: DataRace?
    public let scheduleIndex: Int
    /// The decision index at which the failure showed (the later racing access), or the
    /// schedule's length.
    public let step: UInt64
    public let originalDecisions: Int
    public let originalPreemptions: Int
    public let originalDepartures: Int
    public let shrunkDecisions: Int
    public let shrunkPreemptions: Int
    public let shrunkDepartures: Int
    public let shrinkRuns: Int
    public let replayReproduced: Bool?
    public let otherFailures: [ExplorationFailure]
    public let processors: [ProcessorState]
    public let lastEvents: [String]
  }
  public struct ProcessorState: Codable, Sendable {
    public let processor: Int
    public let callback: String?
    public let irql: String
    public let locksHeld: [String]
  }

  public var format = "storport-exploration"
  public var version = 1
  public let runtimeVersion: String
  public let harness: String
  public let strategy: String
  public let strategyDescription: String
  public let seed: UInt64
  public let shard: String
  public let maxSteps: UInt64
  /// The `--schedules` budget (shards of one exploration share it).
  public let schedulesBudget: Int
  public let schedulesRun: Int
  public let decisions: UInt64
  public let distinctSchedules: Int
  public let exhausted: Bool
  public let elapsedSeconds: Double
  public let pctSteps: Int
  /// Whether the race detector ran.
  public let raceDetection: Bool
  public let failure: Failure?
  /// The distinct schedules' hashes (kept so shard results merge exactly).
  public let scheduleHashes: [UInt64]

  public init(_ r: ExplorationResult) {
    runtimeVersion = StorportVersion.string
    harness = r.harness
    strategy = r.strategy.name
    strategyDescription = r.strategy.description
    seed = r.seed
    shard = "\(r.shard.index)/\(r.shard.count)"
    maxSteps = r.maxSteps
    schedulesBudget = r.schedulesBudget
    schedulesRun = r.schedulesRun
    decisions = r.decisions
    distinctSchedules = r.distinctSchedules
    exhausted = r.exhausted
    elapsedSeconds = Double(r.elapsedNanoseconds) / 1e9
    pctSteps = r.pctSteps
    raceDetection = r.raceDetection
    scheduleHashes = r.scheduleHashes.sorted()
    failure = r.failure.map { f in
      let run = f.shrunk
      let primary = run.primary ?? f.original.primary!
      return Failure(
        kind: primary.kind, rule: primary.rule, message: primary.message, bugCheck: primary.bugCheck,
        race: primary.race, scheduleIndex: f.scheduleIndex, step: primary.race?.second.step ?? run.steps,
        originalDecisions: f.original.decisions.count, originalPreemptions: f.original.preemptions,
        originalDepartures: f.original.departures, shrunkDecisions: run.decisions.count,
        shrunkPreemptions: run.preemptions, shrunkDepartures: run.departures, shrinkRuns: f.shrinkRuns,
        replayReproduced: f.replayReproduced, otherFailures: Array(run.failures.dropFirst()),
        processors: run.processors.map {
          ProcessorState(
            processor: $0.processor, callback: $0.callback, irql: "\($0.irql)", locksHeld: $0.locks)
        }, lastEvents: run.recentEvents)
    }
  }

  /// The JSON form (stable key order).
  public func json() -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.keyEncodingStrategy = .convertToSnakeCase
    return String(decoding: try! encoder.encode(self), as: UTF8.self) + "\n"
  }

  /// Reads a `result.json` a shard wrote.
  public static func read(path: String) throws(ScheduleFileError) -> ExplorationReport {
    try VersionedJSON.read(
      ExplorationReport.self, path: path, format: "storport-exploration", version: 1,
      what: "exploration result")
  }

  /// One summary line plus, on failure, the whole report.
  public var text: String {
    var s = "\(harness): \(strategyDescription), seed \(seed)"
    if shard != "0/1" { s += ", shard \(shard)" }
    s += ": \(schedulesRun) schedule(s), \(decisions) decisions, \(distinctSchedules) distinct"
    if exhausted { s += " (bounded space exhausted)" }
    s += String(format: ", %.2f s", elapsedSeconds)
    if elapsedSeconds > 0 {
      s += String(
        format: " (%.0f schedules/s, %.0f decisions/s)", Double(schedulesRun) / elapsedSeconds,
        Double(decisions) / elapsedSeconds)
    }
    s += "\n"
    guard let f = failure else { return s + "PASS: no failure found\n" }
    s += "FAIL: \(f.kind.rawValue) — \(f.rule)\n"
    s += "  \(f.message.replacingOccurrences(of: "\n", with: "\n  "))\n"
    if let b = f.bugCheck { s += "  bug check: \(b)\n" }
    s += "  schedule \(f.scheduleIndex) (seed \(seed)), failure at step \(f.step)\n"
    s += "  schedule size (preemptions / departures from the default / decisions): "
    s += "\(f.originalPreemptions) / \(f.originalDepartures) / \(f.originalDecisions) as found, "
    s +=
      "\(f.shrunkPreemptions) / \(f.shrunkDepartures) / \(f.shrunkDecisions) shrunk (\(f.shrinkRuns) runs)\n"
    if let r = f.replayReproduced {
      s += "  self-check: replay \(r ? "reproduced the trace exactly" : "DID NOT reproduce")\n"
    }
    s += "  processors at the end:\n"
    for p in f.processors {
      let locks = p.locksHeld.isEmpty ? "no lock" : p.locksHeld.joined(separator: ", ")
      s += "    CPU \(p.processor): \(p.callback ?? "idle") at \(p.irql), holding \(locks)\n"
    }
    if !f.otherFailures.isEmpty {
      s += "  also in this schedule:\n"
      for o in f.otherFailures { s += "    \(o.kind.rawValue): \(o.rule)\n" }
    }
    s += "  last \(f.lastEvents.count) events:\n"
    for e in f.lastEvents { s += "    \(e)\n" }
    return s
  }
}
