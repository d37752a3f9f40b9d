import Foundation
import StorportCLI
import StorportExplorer
import Testing

/// `storport explore` and `storport replay` as a user runs them (child processes).
@Suite struct ExploreCommandTests {
  static func tempDir(_ tag: String) -> String {
    let d = "/tmp/storport-explore-\(getpid())-\(tag)-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
    return d
  }

  @Test func listNamesEveryFixtureAndTwin() throws {
    let r = try CLIProcess.run(["explore", "--list"])
    #expect(r.status == 0)
    for name in [
      "timer-startio-race", "timer-startio-race-fixed", "dpc-redirection-race",
      "isr-reacquires-interrupt-lock",
      "restart-uninitialised-dpc", "reset-double-completion", "resetbus-spins-for-dpc", "ramdisk", "nvme",
      "demo",
    ] {
      #expect(r.out.contains(name + " ") || r.out.contains(name + "-fixed"), "\(name) missing from --list")
    }
  }

  /// The acceptance path: a failure exits 1 and leaves the schedule, report, Perfetto trace
  /// and picture; `storport replay` reproduces it from the schedule file.
  @Test func failureLeavesFilesAndReplays() throws {
    let dir = Self.tempDir("race")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let r = try CLIProcess.run([
      "explore", "timer-startio-race", "--strategy", "pct", "--schedules", "2000", "--seed", "1", "--out",
      dir,
    ])
    #expect(r.status == 1, "\(r.err)")
    #expect(r.out.contains("FAIL: data-race"))
    #expect(r.out.contains("in HwStorStartIo") && r.out.contains("in HwStorTimer"), "both accesses named")
    for file in ["result.json", "schedule.json", "report.txt", "trace.json", "timeline.svg"] {
      #expect(FileManager.default.fileExists(atPath: "\(dir)/\(file)"), "\(file) missing")
    }
    let trace = try String(contentsOfFile: "\(dir)/trace.json", encoding: .utf8)
    #expect(trace.contains("\"traceEvents\"") && trace.contains("data race on outstanding"))
    let svg = try String(contentsOfFile: "\(dir)/timeline.svg", encoding: .utf8)
    #expect(svg.hasPrefix("<svg") && svg.contains("CPU 1") && svg.contains("HwStorStartIo"))
    let schedule = try ScheduleFile.read(path: "\(dir)/schedule.json")
    #expect(schedule.harness == "timer-startio-race" && schedule.seed == 1 && !schedule.decisions.isEmpty)
    let replay = try CLIProcess.run(["replay", "\(dir)/schedule.json"])
    #expect(replay.status == 1)
    #expect(replay.out.contains("REPRODUCED: data-race"), "\(replay.out)")
  }

  @Test func fixedTwinExitsZero() throws {
    let r = try CLIProcess.run([
      "explore", "timer-startio-race-fixed", "--strategy", "random", "--schedules", "300", "--output-format",
      "json",
    ])
    #expect(r.status == 0, "\(r.err)")
    #expect(r.out.contains("\"failure\"") == false || r.out.contains("\"failure\":null"))
    #expect(r.out.contains("\"schedules_run\":300"))
  }

  @Test func badInputIsRefusedWithStatusTwo() throws {
    for (args, needle) in [
      (["explore", "no-such-harness"], "HARNESS"),
      (["explore"], "HARNESS"),
      (["explore", "timer-startio-race", "--strategy", "dfs", "--depth", "2"], "--depth"),
      (["explore", "timer-startio-race", "--strategy", "dfs", "--jobs", "2"], "--jobs"),
      (["explore", "timer-startio-race", "--shard", "3/2"], "--shard"),
      (["explore", "timer-startio-race", "--shard", "4"], "--shard"),
      (["explore", "timer-startio-race", "--schedules", "0"], "--schedules"),
      (["explore", "timer-startio-race", "--max-steps", "10"], "--max-steps"),
      (["explore", "timer-startio-race", "--merge", "/tmp"], "HARNESS"),
      (["explore", "timer-startio-race", "--out", "/proc/version"], "not a directory"),
      (
        ["explore", "timer-startio-race", "--out", "/nonexistent-parent/out"],
        "parent directory does not exist"
      ),
    ] {
      let r = try CLIProcess.run(args)
      #expect(r.status == 2, "\(args): \(r.status)")
      #expect(r.err.contains(needle), "\(args): \(r.err)")
    }
  }

  @Test func unusableScheduleFilesAreRefused() throws {
    let dir = Self.tempDir("bad")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let cases = [
      ("garbage.json", "not json", "is not a schedule file"),
      ("version.json", #"{"format":"storport-schedule","version":9}"#, "version 9"),
      ("missing.json", #"{"format":"storport-schedule","version":1}"#, "missing field"),
    ]
    for (name, text, needle) in cases {
      let path = "\(dir)/\(name)"
      try text.write(toFile: path, atomically: true, encoding: .utf8)
      let r = try CLIProcess.run(["replay", path])
      #expect(r.status == 2, "\(name): \(r.status)")
      #expect(r.err.contains(needle), "\(name): \(r.err)")
    }
    let none = try CLIProcess.run(["replay", "\(dir)/absent.json"])
    #expect(none.status == 2 && none.err.contains("cannot read"))
  }

  /// Shards run as separate processes (the index once from --shard i/n, once from
  /// JOB_COMPLETION_INDEX, once from SLURM_ARRAY_TASK_ID) merge to what the unsharded run
  /// saw: the same schedules, decisions, distinct schedules — and the same failure.
  @Test(arguments: ["timer-startio-race-fixed", "timer-startio-race"])
  func shardsMergeToTheUnshardedRun(_ harness: String) throws {
    let base = Self.tempDir("shards")
    defer { try? FileManager.default.removeItem(atPath: base) }
    let common = ["explore", harness, "--strategy", "pct", "--schedules", "90", "--seed", "11"]
    let whole = try CLIProcess.run(common + ["--out", "\(base)/all"])
    let shards = [
      try CLIProcess(common + ["--shard", "0/3", "--out", "\(base)/s0"]),
      try CLIProcess(
        common + ["--shard", "3", "--out", "\(base)/s1"], environment: ["JOB_COMPLETION_INDEX=1"]),
      try CLIProcess(
        common + ["--shard", "3", "--out", "\(base)/s2"], environment: ["SLURM_ARRAY_TASK_ID=2"]),
    ]
    let statuses = shards.map { $0.wait() }
    #expect(statuses.allSatisfy { $0 == whole.status }, "\(statuses) vs \(whole.status)")
    let merged = try CLIProcess.run(["explore", "--merge", "\(base)/s0", "\(base)/s1", "\(base)/s2"])
    #expect(merged.status == whole.status)
    let all = try ExplorationReport.read(path: "\(base)/all/result.json")
    let parts = try (0..<3).map { try ExplorationReport.read(path: "\(base)/s\($0)/result.json") }
    let m = try ExplorationArtifacts.merge(parts)
    #expect(Set(parts.map(\.shard)) == ["0/3", "1/3", "2/3"])
    #expect(m.failure?.scheduleIndex == all.failure?.scheduleIndex)
    #expect(m.failure?.rule == all.failure?.rule)
    if all.failure == nil {
      #expect(m.schedulesRun == all.schedulesRun)
      #expect(m.decisions == all.decisions)
      #expect(m.distinctSchedules == all.distinctSchedules)
    }
    #expect(merged.out.contains("3 shard(s) merged"))
  }
}
