import Storport
import StorportExplorer
import StorportTesting
import Testing

/// Every seeded-bug fixture is found, with the failure its bug causes, and every fixed twin
/// and sample miniport explores clean — a reduced run of the issue's "all fixtures" and "no
/// false alarms" goals (the full figures come from `storport explore`, in docs/explorer.md).
@Suite struct FixtureTests {
  /// Each fixture with the failures its bug may show first (which one depends on the
  /// schedule: a data race is seen as soon as both accesses happen; what it leads to — a lost
  /// request, a double completion, a write after completion — needs the bad interleaving).
  static let buggy: [(String, Set<String>)] = [
    (
      "timer-startio-race",
      [
        "data-race", "request-completed-twice",
        "verifier-violation: \(VerifierRule.requestTouchedAfterCompletion.rawValue)",
      ]
    ),
    ("dpc-redirection-race", ["data-race", "request-lost"]),
    (
      "isr-reacquires-interrupt-lock",
      ["verifier-violation: \(VerifierRule.lockNotAllowedInCallback.rawValue)"]
    ),
    ("restart-uninitialised-dpc", ["verifier-violation: \(VerifierRule.dpcNotInitialized.rawValue)"]),
    (
      "reset-double-completion",
      [
        "data-race", "request-completed-twice",
        "verifier-violation: \(VerifierRule.requestTouchedAfterCompletion.rawValue)",
      ]
    ),
    ("resetbus-spins-for-dpc", ["livelock"]),
  ]

  @Test(arguments: buggy)
  func buggyFixtureIsFound(_ name: String, _ expected: Set<String>) throws {
    let harness = try #require(BuiltInHarnesses.named(name))
    #expect(harness.expectsFailure)
    for seed: UInt64 in 1...3 {
      let r = Explorer.explore(
        harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 300, seed: seed))
      let f = try #require(r.failure, "\(name) not found with seed \(seed) in 300 PCT schedules")
      let primary = try #require(f.shrunk.primary)
      #expect(
        expected.contains(primary.kind.rawValue) || expected.contains(primary.signature),
        "\(name), seed \(seed): \(primary.signature)")
      if primary.kind == .dataRace {
        // A race report names both accesses, on two processors, at least one a write.
        let race = try #require(primary.race)
        #expect(race.first.processor != race.second.processor)
        #expect(race.first.isWrite || race.second.isWrite)
        #expect(race.first.cell == race.second.cell)
        #expect(race.first.location.contains(".swift:") && race.second.location.contains(".swift:"))
      }
      #expect(f.replayReproduced == true, "\(name): the failing schedule did not replay exactly")
    }
  }

  /// The double completion the timer race leads to, with the race detector off: the bug
  /// itself, not only its data race (PCT d = 2 on five seeds; bounded search deterministically).
  @Test func timerRaceDoubleCompletionIsFound() throws {
    let harness = try #require(BuiltInHarnesses.named("timer-startio-race"))
    for seed: UInt64 in 1...5 {
      let r = Explorer.explore(
        harness,
        ExplorationOptions(strategy: .pct(depth: 2), schedules: 2000, seed: seed, raceDetection: false))
      let f = try #require(r.failure, "seed \(seed): not found in 2000 schedules")
      let kinds = Set(f.shrunk.failures.map(\.kind))
      #expect(kinds.contains(.requestCompletedTwice) || kinds.contains(.verifierViolation), "\(kinds)")
    }
    let dfs = Explorer.explore(
      harness, ExplorationOptions(strategy: .dfs(preemptions: 1), schedules: 10_000, raceDetection: false))
    let f = try #require(dfs.failure, "bounded search (k = 1) did not find the double completion")
    #expect(f.scheduleIndex + 1 == dfs.schedulesRun)
    // Deterministic: the same search finds it at the same schedule.
    let again = Explorer.explore(
      harness, ExplorationOptions(strategy: .dfs(preemptions: 1), schedules: 10_000, raceDetection: false))
    #expect(again.failure?.scheduleIndex == f.scheduleIndex)
  }

  static let clean = [
    "timer-startio-race-fixed", "dpc-redirection-race-fixed", "isr-reacquires-interrupt-lock-fixed",
    "restart-uninitialised-dpc-fixed", "reset-double-completion-fixed", "resetbus-spins-for-dpc-fixed",
    "ramdisk", "demo", "nvme",
  ]

  @Test(arguments: clean)
  func correctHarnessExploresClean(_ name: String) throws {
    let harness = try #require(BuiltInHarnesses.named(name))
    #expect(!harness.expectsFailure)
    for strategy in [ExplorationStrategy.pct(depth: 2), .random(switchPercent: 30)] {
      let r = Explorer.explore(harness, ExplorationOptions(strategy: strategy, schedules: 150, seed: 7))
      #expect(
        r.failure?.shrunk.primary?.signature == nil,
        "\(name) \(strategy): \(r.failure?.shrunk.primary?.message ?? "")")
      #expect(r.schedulesRun == 150)
      // The exploration varied the interleaving: more than one distinct schedule.
      #expect(r.distinctSchedules > 1, "\(name): every schedule was the same")
    }
  }

  /// The fixed twins of the smallest fixtures survive the whole bounded space (k = 2).
  @Test(arguments: ["timer-startio-race-fixed", "isr-reacquires-interrupt-lock-fixed"])
  func fixedTwinSurvivesBoundedSearch(_ name: String) throws {
    let harness = try #require(BuiltInHarnesses.named(name))
    let r = Explorer.explore(harness, ExplorationOptions(strategy: .dfs(preemptions: 2), schedules: 20_000))
    #expect(r.failure?.shrunk.primary?.signature == nil)
    #expect(r.exhausted, "\(name): the bounded space was not exhausted in 20,000 schedules")
  }
}
