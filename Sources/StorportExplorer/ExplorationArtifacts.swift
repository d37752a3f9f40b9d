import Foundation
import Storport

/// The files an exploration leaves in its output directory: `result.json` always; on failure
/// also `schedule.json` (replay it), `report.txt`, `trace.json` (Chrome trace-event format:
/// Perfetto opens it) and `timeline.svg`.
public enum ExplorationArtifacts {
  /// The schedule file of a result's failure (nil when it passed).
  public static func scheduleFile(_ r: ExplorationResult, processors: Int) -> ScheduleFile? {
    guard let f = r.failure else { return nil }
    var depth: Int?
    var bound: Int?
    var percent: Int?
    switch r.strategy {
    case .pct(let d): depth = d
    case .dfs(let k): bound = k
    case .random(let s): percent = s
    }
    return ScheduleFile(
      runtimeVersion: StorportVersion.string, harness: r.harness, processors: processors,
      strategy: r.strategy.name, depth: depth, preemptionBound: bound, switchPercent: percent, seed: r.seed,
      scheduleIndex: f.scheduleIndex, maxSteps: r.maxSteps,
      pollersCompete: Explorer.pollersCompete(r.strategy),
      raceDetection: r.raceDetection,
      decisions: f.shrunk.decisions, failure: f.shrunk.primary, originalDecisions: f.original.decisions.count,
      originalPreemptions: f.original.preemptions)
  }

  /// Writes the files into `directory` (created if missing); returns the paths written.
  public static func write(
    _ r: ExplorationResult, processors: Int, to directory: String
  ) throws(ScheduleFileError) -> [String] {
    let report = ExplorationReport(r)
    var files: [(String, String)] = [("result.json", report.json())]
    if let f = r.failure, let schedule = scheduleFile(r, processors: processors) {
      files.append(("schedule.json", schedule.json()))
      files.append(("report.txt", report.text))
      if let capture = f.shrunk.trace {
        var chrome = ""
        _ = capture.writeChromeTrace { (s: String) in chrome += s }
        files.append(("trace.json", chrome))
        let title =
          "\(r.harness): \(f.shrunk.primary?.kind.rawValue ?? "failure") — \(f.shrunk.primary?.rule ?? "")"
        let notes =
          f.shrunk.primary?.race.map { ["the racing accesses:", "  \($0.first)", "  \($0.second)"] } ?? []
        files.append(("timeline.svg", TimelinePicture.svg(capture, title: title, notes: notes)))
      }
    }
    return try OutputDirectory.write(directory, files)
  }

  /// Merges shard results of one exploration: schedules and decisions add up, distinct
  /// schedules are the union, the failure is the one of the lowest schedule index.
  public static func merge(_ reports: [ExplorationReport]) throws(ScheduleFileError) -> MergedExploration {
    guard let first = reports.first else { throw ScheduleFileError("nothing to merge") }
    for r in reports
    where r.harness != first.harness || r.strategyDescription != first.strategyDescription
      || r.seed != first.seed
      || r.maxSteps != first.maxSteps || r.raceDetection != first.raceDetection
    {
      throw ScheduleFileError(
        "shard \(r.shard) explored \(r.harness) with \(r.strategyDescription), seed \(r.seed), max steps "
          + "\(r.maxSteps), race detection \(r.raceDetection ? "on" : "off"); shard \(first.shard) explored "
          + "\(first.harness) with \(first.strategyDescription), seed \(first.seed), max steps \(first.maxSteps), "
          + "race detection \(first.raceDetection ? "on" : "off"): not one exploration")
    }
    // Every shard of one split, each once.
    var indices = Set<Int>()
    var count: Int?
    for r in reports {
      let parts = r.shard.split(separator: "/")
      guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]), count == nil || count == n else {
        throw ScheduleFileError("the results do not come from one split (shards \(reports.map(\.shard)))")
      }
      count = n
      guard indices.insert(i).inserted else { throw ScheduleFileError("shard \(r.shard) appears twice") }
    }
    let missing = (0..<(count ?? 0)).filter { !indices.contains($0) }
    guard missing.isEmpty else {
      throw ScheduleFileError(
        "shard(s) \(missing.map { "\($0)/\(count!)" }.joined(separator: ", ")) missing: "
          + "a merge without them could miss a failure")
    }
    var hashes = Set<UInt64>()
    for r in reports { hashes.formUnion(r.scheduleHashes) }
    let failure = reports.compactMap(\.failure).min { $0.scheduleIndex < $1.scheduleIndex }
    return MergedExploration(
      harness: first.harness, strategy: first.strategyDescription, seed: first.seed,
      shards: reports.map(\.shard).sorted(), schedulesRun: reports.reduce(0) { $0 + $1.schedulesRun },
      decisions: reports.reduce(0) { $0 + $1.decisions }, distinctSchedules: hashes.count, failure: failure)
  }
}

/// Shard results combined (``ExplorationArtifacts/merge(_:)``).
public struct MergedExploration: Sendable {
  public let harness: String
  public let strategy: String
  public let seed: UInt64
  public let shards: [String]
  public let schedulesRun: Int
  public let decisions: UInt64
  public let distinctSchedules: Int
  public let failure: ExplorationReport.Failure?

  public var text: String {
    var s =
      "\(harness): \(strategy), seed \(seed), \(shards.count) shard(s) merged: \(schedulesRun) schedule(s), "
    s += "\(decisions) decisions, \(distinctSchedules) distinct\n"
    if let f = failure {
      s += "FAIL: \(f.kind.rawValue) — \(f.rule) (schedule \(f.scheduleIndex))\n"
    } else {
      s += "PASS: no failure found\n"
    }
    return s
  }
}

/// Writing a set of named text files into a directory.
public enum OutputDirectory {
  /// Creates `directory` if missing and writes each (name, text); returns the paths.
  @discardableResult
  public static func write(_ directory: String, _ files: [(String, String)]) throws(ScheduleFileError)
    -> [String]
  {
    let fm = FileManager.default
    do {
      try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw ScheduleFileError("cannot create \(directory): \(error.localizedDescription)")
    }
    var written: [String] = []
    for (name, text) in files {
      let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
      guard fm.createFile(atPath: path, contents: Data(text.utf8)) else {
        throw ScheduleFileError("cannot write \(path)")
      }
      written.append(path)
    }
    return written
  }
}
