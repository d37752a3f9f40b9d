import ArgumentParser
import Storport
import StorportC
import StorportExplorer
import StorportTesting
import StorportWorkload

#if canImport(Glibc)
  import Glibc
#endif

/// `storport explore HARNESS`: systematic concurrency testing of a harness (random walk, PCT,
/// bounded search), with the failing schedule, report, Perfetto trace and SVG picture in
/// `--out`. Exit status 1 when a failure is found, 0 when none is, 2 for a bad option.
struct ExploreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explore",
    abstract: "Explore a harness's schedules for races, double completions, deadlocks and rule breaches.",
    discussion: """
      Strategies: random (seeded random walk), pct (PCT with --depth d), dfs (every schedule with at most \
      --preemptions k preemptions). Schedules split across machines with --shard i/n (or --shard n, the \
      index read from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID); combine shard results with \
      --merge DIR... . Exit status: 0 no failure, 1 a failure (files in --out), 2 a bad option.
      """)

  @Argument(help: "The harness to explore (see --list).")
  var harness: String?
  @Flag(help: "List the built-in harnesses.")
  var list = false
  @Option(parsing: .unconditional, help: "random, pct or dfs.")
  var strategy = "pct"
  @Option(parsing: .unconditional, help: "PCT bug depth d, 1…10 (pct only; default 2).")
  var depth: String?
  @Option(
    parsing: .unconditional,
    help:
      "Bound k, 0…10, on departures from the default schedule: preemptions and other placements (dfs only; default 2)."
  )
  var preemptions: String?
  @Option(parsing: .unconditional, help: "Schedules to run, 1…100000000.")
  var schedules = "1000"
  @Option(parsing: .unconditional, help: "Base seed, 0…2^64-1.")
  var seed = "1"
  @Option(parsing: .unconditional, help: "Worker threads, 1…64 (random and pct).")
  var jobs = "1"
  @Option(
    parsing: .unconditional,
    help: "This run's share: i/n (0 ≤ i < n), or n with i from JOB_COMPLETION_INDEX / SLURM_ARRAY_TASK_ID.")
  var shard: String?
  @Option(
    name: .customLong("max-steps"), parsing: .unconditional,
    help: "Decisions after which a schedule fails as a livelock, 100…100000000.")
  var maxSteps = "10000"
  @Option(
    parsing: .unconditional,
    help: "Directory for result.json and, on failure, schedule.json, report.txt, trace.json, timeline.svg.")
  var out: String?
  @Option(
    name: .customLong("race-detection"), parsing: .unconditional,
    help: "on (data races are failures) or off (look for what they lead to).")
  var raceDetection = "on"
  @Option(name: .customLong("output-format"), parsing: .unconditional, help: "text or json.")
  var outputFormat = "text"
  @Option(
    parsing: .upToNextOption, help: "Merge the result.json of these shard directories instead of exploring.")
  var merge: [String] = []
  @Option(
    parsing: .unconditional,
    help: "Explore a C miniport (PATH.so) in the default harness instead of a built-in one.")
  var miniport: String?
  @Option(
    parsing: .unconditional,
    help:
      "With --miniport: full (verified I/O, timer ticks, interrupts, bus reset, stop and restart; default) or requests (two requests without data)."
  )
  var workload: String?
  @Option(
    parsing: .unconditional,
    help: "With --miniport: the hardware behind it, nvme or none (default: nvme for a physical miniport).")
  var device: String?
  @Option(
    name: .customLong("miniport-args"), parsing: .unconditional,
    help: "With --miniport: its ArgumentString (\"Key=Value;…\").")
  var miniportArgs: String?

  init() {}

  struct Values {
    var harness: ExplorationHarness?
    var options: ExplorationOptions
    var json: Bool
  }

  func values() throws(OptionError) -> Values {
    let json = try OptionValue.choice(outputFormat, option: "--output-format", ["text", "json"]) == "json"
    let s = try OptionValue.choice(strategy, option: "--strategy", ["random", "pct", "dfs"])
    if depth != nil && s != "pct" { throw OptionError("--depth", depth, "only with --strategy pct") }
    if preemptions != nil && s != "dfs" {
      throw OptionError("--preemptions", preemptions, "only with --strategy dfs")
    }
    let chosen: ExplorationStrategy
    switch s {
    case "random": chosen = .random(switchPercent: 30)
    case "pct": chosen = .pct(depth: try OptionValue.integer(depth ?? "2", option: "--depth", in: 1...10))
    default:
      chosen = .dfs(
        preemptions: try OptionValue.integer(preemptions ?? "2", option: "--preemptions", in: 0...10))
    }
    if out == "" { throw OptionError("--out", "", "a directory path (it is created if missing)") }
    let races = try OptionValue.choice(raceDetection, option: "--race-detection", ["on", "off"]) == "on"
    var options = ExplorationOptions(
      strategy: chosen,
      schedules: try OptionValue.integer(schedules, option: "--schedules", in: 1...100_000_000),
      seed: try OptionValue.integer(seed, option: "--seed", in: 0...UInt64.max),
      maxSteps: try OptionValue.integer(maxSteps, option: "--max-steps", in: 100...100_000_000),
      jobs: try OptionValue.integer(jobs, option: "--jobs", in: 1...64), raceDetection: races)
    if let shard {
      options.shard = try Self.parseShard(shard)
      if !chosen.isIndependentPerSchedule && options.shard.count > 1 {
        throw OptionError("--shard", shard, "random or pct (dfs explores one tree in order)")
      }
    }
    if options.jobs > 1 && !chosen.isIndependentPerSchedule {
      throw OptionError("--jobs", jobs, "1 with --strategy dfs (it explores one tree in order)")
    }
    if !merge.isEmpty || list {
      // Merging and listing explore nothing: options that shape an exploration do not apply.
      let what = list ? "--list" : "--merge"
      if let harness { throw OptionError("HARNESS", harness, "no harness with \(what)") }
      if let out { throw OptionError("--out", out, "not with \(what)") }
      if list && !merge.isEmpty { throw OptionError("--merge", merge.first, "not with --list") }
    }
    var h: ExplorationHarness?
    if miniport == nil {
      for (name, value) in [("--workload", workload), ("--device", device)] {
        if let value { throw OptionError(name, value, "applies only with --miniport PATH.so") }
      }
    }
    try MiniportPath.checkArguments(miniportArgs, library: miniport)
    if let miniport, !list && merge.isEmpty {
      if let harness {
        throw OptionError("HARNESS", harness, "not with --miniport (it explores the default harness)")
      }
      let path = try MiniportPath.library(miniport)
      let w = try CMiniportHarness.Workload(
        rawValue: OptionValue.choice(workload ?? "full", option: "--workload", ["full", "requests"]))!
      let library: CMiniportLibrary
      do { library = try CMiniportLibrary.load(path: path) } catch {
        throw OptionError("--miniport", miniport, error.description)
      }
      let d = try CMiniportHarnessSpec.Device(
        rawValue: OptionValue.choice(
          device ?? (library.isVirtual ? "none" : "nvme"), option: "--device", ["none", "nvme"]))!
      if d == .nvme && library.isVirtual {
        throw OptionError("--device", "nvme", "\(library.name) is a virtual miniport (it drives no hardware)")
      }
      let spec = CMiniportHarnessSpec(path: path, workload: w, device: d, arguments: miniportArgs ?? "")
      do { h = try spec.harness() } catch { throw OptionError("--miniport", miniport, error.description) }
    } else if !list && merge.isEmpty {
      guard let name = harness else { throw OptionError("HARNESS", nil, "a harness name (see --list)") }
      guard let found = BuiltInHarnesses.named(name) else {
        throw OptionError(
          "HARNESS", name, "one of: \(BuiltInHarnesses.all.map(\.name).joined(separator: ", "))")
      }
      h = found
    }
    return Values(harness: h, options: options, json: json)
  }

  /// `i/n`, or `n` with the index from the job array's environment.
  static func parseShard(_ text: String) throws(OptionError) -> (index: Int, count: Int) {
    let parts = text.split(separator: "/", omittingEmptySubsequences: false)
    let accepted = "i/n with 0 ≤ i < n ≤ 100000, or n with JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID set"
    if parts.count == 2 {
      let n = try OptionValue.integer(String(parts[1]), option: "--shard", in: 1...100_000)
      let i = try OptionValue.integer(String(parts[0]), option: "--shard", in: 0...99_999)
      guard i < n else { throw OptionError("--shard", text, accepted) }
      return (i, n)
    }
    guard parts.count == 1 else { throw OptionError("--shard", text, accepted) }
    let n = try OptionValue.integer(text, option: "--shard", in: 1...100_000)
    for variable in ["JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID"] {
      if let raw = getenv(variable) {
        let value = String(cString: raw)
        guard let i = Int(value), i >= 0, i < n else {
          throw OptionError("--shard", text, "\(variable)=\(value) is not an index below \(n)")
        }
        return (i, n)
      }
    }
    throw OptionError("--shard", text, accepted)
  }

  mutating func validate() throws { try checked { _ = try values() } }

  func run() throws {
    let v = try checked { try values() }
    if list {
      if v.json {
        let rows = BuiltInHarnesses.all.map {
          "{\"name\":\(JSON.quote($0.name)),\"summary\":\(JSON.quote($0.summary)),"
            + "\"processors\":\($0.processors),\"seeded_bug\":\($0.expectsFailure)}"
        }
        try Terminal.results("[" + rows.joined(separator: ",") + "]\n")
      } else {
        for h in BuiltInHarnesses.all {
          Terminal.out("\(h.name.padding(toLength: 36, withPad: " ", startingAt: 0)) \(h.summary)\n")
        }
      }
      return
    }
    if !merge.isEmpty {
      let merged: MergedExploration
      do throws(ScheduleFileError) {
        let reports = try merge.map { (d: String) throws(ScheduleFileError) in
          try ExplorationReport.read(path: d.hasSuffix("/") ? d + "result.json" : d + "/result.json")
        }
        merged = try ExplorationArtifacts.merge(reports)
      } catch { throw CommandExit(2, error.description) }
      try Terminal.results(v.json ? merged.json : merged.text)
      if merged.failure != nil { throw CommandExit(1) }
      return
    }
    let harness = v.harness!
    // The output directory is checked before any work: a long exploration never ends in
    // "cannot write".
    if let out {
      do throws(ScheduleFileError) { try OutputDirectory.prepare(out) } catch {
        throw CommandExit(2, error.description)
      }
    }
    let showProgress = !v.json && Terminal.isTerminal(2)
    let result = Explorer.explore(harness, v.options) { p in
      guard showProgress else { return }
      let s = Double(p.elapsedNanoseconds) / 1e9
      Terminal.err(
        "\r\(harness.name): \(p.schedules) schedules, \(Int(Double(p.schedules) / max(s, 1e-9))) schedules/s, "
          + "\(Int(Double(p.decisions) / max(s, 1e-9))) decisions/s, \(p.distinctSchedules) distinct   ")
    }
    if showProgress { Terminal.err("\n") }
    let report = ExplorationReport(result)
    if miniport != nil && v.options.raceDetection && !CMiniportLibrary.sawInstrumentedAccesses && !v.json {
      Terminal.err(
        "note: \(miniport!) reported no plain memory access: it was not built with -fsanitize=thread, so data races on its own memory cannot be seen (build it with clang -fsanitize=thread -g)\n"
      )
    }
    if let out {
      do throws(ScheduleFileError) {
        let files = try ExplorationArtifacts.write(result, processors: harness.processors, to: out)
        if !v.json { Terminal.err("wrote \(files.joined(separator: ", "))\n") }
      } catch { throw CommandExit(1, error.description) }
    }
    try Terminal.results(v.json ? report.json() : report.text)
    if result.failure != nil { throw CommandExit(1) }
  }
}
