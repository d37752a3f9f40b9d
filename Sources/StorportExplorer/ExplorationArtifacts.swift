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

  /// Writes the files of exploring `harness` into `directory`; returns the paths written.
  public static func write(
    _ r: ExplorationResult, of harness: ExplorationHarness, to directory: String
  ) throws(ScheduleFileError) -> [String] {
    try write(r, processors: harness.processors, to: directory)
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
    for r in reports where r.schedulesBudget != first.schedulesBudget {
      throw ScheduleFileError(
        "shard \(r.shard) was given --schedules \(r.schedulesBudget), shard \(first.shard) \(first.schedulesBudget): "
          + "not one exploration")
    }
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
    let failing = reports.indices.filter { reports[$0].failure != nil }
      .min { reports[$0].failure!.scheduleIndex < reports[$1].failure!.scheduleIndex }
    let failure = failing.map { reports[$0].failure! }
    return MergedExploration(
      harness: first.harness, strategy: first.strategyDescription, seed: first.seed,
      shards: reports.map(\.shard).sorted(), schedulesRun: reports.reduce(0) { $0 + $1.schedulesRun },
      decisions: reports.reduce(0) { $0 + $1.decisions }, distinctSchedules: hashes.count, failure: failure,
      failingShard: failing.map { reports[$0].shard })
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
  /// The shard whose directory holds the failing schedule file.
  public let failingShard: String?

  /// The merged figures as one JSON object.
  public var json: String {
    var s = "{\"harness\":\(JSON.quote(harness)),\"strategy\":\(JSON.quote(strategy)),\"seed\":\(seed),"
    s += "\"shards\":[\(shards.map(JSON.quote).joined(separator: ","))],\"schedules_run\":\(schedulesRun),"
    s += "\"decisions\":\(decisions),\"distinct_schedules\":\(distinctSchedules),"
    if let f = failure {
      s += "\"failure\":{\"kind\":\(JSON.quote(f.kind.rawValue)),\"rule\":\(JSON.quote(f.rule)),"
      s += "\"schedule_index\":\(f.scheduleIndex),\"shard\":\(JSON.quote(failingShard ?? ""))}}"
    } else {
      s += "\"failure\":null}"
    }
    return s + "\n"
  }

  public var text: String {
    var s =
      "\(harness): \(strategy), seed \(seed), \(shards.count) shard(s) merged: \(schedulesRun) schedule(s), "
    s += "\(decisions) decisions, \(distinctSchedules) distinct\n"
    if let f = failure {
      s += "FAIL: \(f.kind.rawValue) — \(f.rule) (schedule \(f.scheduleIndex), shard \(failingShard ?? "?"): "
      s += "its directory holds schedule.json)\n"
    } else {
      s += "PASS: no failure found\n"
    }
    return s
  }
}

/// Writing a set of named text files into a directory.
public enum OutputDirectory {
  /// The names an exploration writes (and may replace) in its directory.
  public static let artifactNames = [
    "result.json", "schedule.json", "report.txt", "trace.json", "timeline.svg",
  ]

  /// Checks, before any work, that `directory` can take the artifacts: creates it if missing
  /// (its parent must exist), refuses a path that is not a directory or not writable, and
  /// removes the artifacts of an earlier exploration there (only when its `result.json` says
  /// it is one) so a passing run never sits beside a stale failure.
  public static func prepare(_ directory: String) throws(ScheduleFileError) {
    guard !directory.isEmpty else { throw ScheduleFileError("--out: an empty path") }
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    if fm.fileExists(atPath: directory, isDirectory: &isDirectory) {
      guard isDirectory.boolValue else {
        throw ScheduleFileError("--out \(directory): exists and is not a directory")
      }
    } else {
      let parent = (directory as NSString).deletingLastPathComponent
      var parentIsDirectory: ObjCBool = false
      guard fm.fileExists(atPath: parent.isEmpty ? "." : parent, isDirectory: &parentIsDirectory),
        parentIsDirectory.boolValue
      else { throw ScheduleFileError("--out \(directory): its parent directory does not exist") }
      do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: false) } catch {
        throw ScheduleFileError("--out \(directory): cannot create it (\(error.localizedDescription))")
      }
    }
    guard fm.isWritableFile(atPath: directory) else {
      throw ScheduleFileError("--out \(directory): not writable")
    }
    for name in artifactNames {
      var nameIsDirectory: ObjCBool = false
      let path = (directory as NSString).appendingPathComponent(name)
      if fm.fileExists(atPath: path, isDirectory: &nameIsDirectory) && nameIsDirectory.boolValue {
        throw ScheduleFileError("--out \(directory): \(name) there is a directory")
      }
    }
    let previous = (directory as NSString).appendingPathComponent("result.json")
    if fm.fileExists(atPath: previous), (try? ExplorationReport.read(path: previous)) != nil {
      for name in artifactNames {
        try? fm.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
      }
    }
  }

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
