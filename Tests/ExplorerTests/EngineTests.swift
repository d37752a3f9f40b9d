import Storport
import StorportExplorer
import StorportTesting
import Synchronization
import Testing

/// The explorer's machinery: replay, self-check, shrinking, the failure kinds, strategies.
@Suite struct EngineTests {
  /// Failing schedules from different seeds replay bit-identically (the replay goal, reduced
  /// from 1,000 to 40 seeds).
  @Test func failingSchedulesReplayBitIdentically() throws {
    let harness = try #require(BuiltInHarnesses.named("timer-startio-race"))
    var hashes = Set<UInt64>()
    for seed: UInt64 in 1...40 {
      let strategy = PCTStrategy(seed: seed, processors: 2, depth: 2, steps: 80)
      let run = ScheduleRunner.run(harness, strategy: strategy, maxSteps: 10_000)
      let replayed = Explorer.replay(
        harness, decisions: run.decisions, pollersCompete: false, maxSteps: 10_000)
      #expect(replayed.divergence == nil, "seed \(seed): \(replayed.divergence ?? "")")
      #expect(replayed.run.traceHash == run.traceHash, "seed \(seed): the replay's trace differs")
      #expect(replayed.run.primary?.signature == run.primary?.signature)
      hashes.insert(run.traceHash)
    }
    // Positive control: the 40 runs were not all the same run.
    #expect(hashes.count > 5)
  }

  /// Replay notices a recording that does not fit the run (positive control of divergence).
  @Test func replayReportsDivergence() throws {
    let harness = try #require(BuiltInHarnesses.named("timer-startio-race-fixed"))
    let run = ScheduleRunner.run(
      harness, strategy: PCTStrategy(seed: 3, processors: 2, depth: 2, steps: 80), maxSteps: 10_000)
    #expect(run.decisions.count > 10)
    let cut = Explorer.replay(
      harness, decisions: Array(run.decisions.prefix(5)), pollersCompete: false, maxSteps: 10_000)
    #expect(cut.divergence?.contains("more decisions than the 5 recorded") == true)
    var wrong = run.decisions
    wrong[2] = ScheduleDecision(rank: 1, count: 3, kind: .timerSlack, preemptible: false)
    let mismatched = Explorer.replay(harness, decisions: wrong, pollersCompete: false, maxSteps: 10_000)
    #expect(mismatched.divergence?.contains("decision 2 was recorded as timerSlack") == true)
  }

  /// A harness whose course depends on something the simulator does not control (here a
  /// counter that lives across schedules) is reported as uncontrolled nondeterminism.
  @Test func uncontrolledNondeterminismIsReported() throws {
    let runs = Atomic<Int>(0)
    let harness = ExplorationHarness(name: "nondeterministic", processors: 2) { run in
      let n = runs.wrappingAdd(1, ordering: .relaxed).oldValue
      let adapter = run.attach(RacyWatchdogMiniport(periodMicroseconds: 1, ticks: 8))
      guard run.startAdapter(adapter) else { return }
      // Every run after the first that fails submits one request more: its replay differs.
      for i in 0..<(1 + n % 3) { run.submit(StorRequest(tag: UInt64(i)), to: adapter) }
      run.runUntilCompleted(limit: 1_000_000)
    }
    let r = Explorer.explore(
      harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 50, shrink: false))
    let f = try #require(r.failure)
    #expect(f.replayReproduced == false)
    #expect(f.shrunk.primary?.kind == .uncontrolledNondeterminism)
  }

  /// A callback that never ends fails as a livelock naming the processor, not a hang.
  @Test func endlessDpcIsALivelock() throws {
    let harness = ExplorationHarness(name: "endless-dpc", processors: 2) { run in
      let m = ScriptedMiniport()
      let routine = HwDpcRoutine<ScriptedExtension>("EndlessDpc") { dpc, ext, _, _ in
        ext.port.issueDpc(dpc)  // re-issues itself forever
        return true
      }
      m.onInitialize = { ext in
        ext.port.initializeDpc(ext.dpc, routine)
        return true
      }
      m.onStartIo = { ext, r in
        ext.port.issueDpc(ext.dpc)
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return }
      run.submit(StorRequest(tag: 0), to: adapter)
      run.runUntilQuiescent(limit: 1_000_000_000)
    }
    let r = Explorer.explore(
      harness,
      ExplorationOptions(strategy: .random(switchPercent: 30), schedules: 3, maxSteps: 2_000, shrink: false))
    let f = try #require(r.failure)
    let primary = try #require(f.shrunk.primary)
    #expect(
      primary.kind == .livelock || primary.rule == VerifierRule.dispatchWatchdog.rawValue,
      "\(primary.signature)")
  }

  /// Shrinking keeps the failure and never makes the schedule larger; the shrunk timer race has at
  /// most twice the minimal number of preemptions (the minimum found by bounded search).
  @Test func shrinkingKeepsTheFailureAndMeetsTheGoal() throws {
    let harness = try #require(BuiltInHarnesses.named("timer-startio-race"))
    var minimal: Int?
    for k in 0...2 where minimal == nil {
      let r = Explorer.explore(
        harness, ExplorationOptions(strategy: .dfs(preemptions: k), schedules: 5_000, raceDetection: false))
      if let f = r.failure { minimal = f.original.preemptions }
    }
    let least = try #require(minimal, "bounded search up to k = 2 did not find the double completion")
    for seed: UInt64 in 1...5 {
      let r = Explorer.explore(
        harness,
        ExplorationOptions(strategy: .pct(depth: 2), schedules: 2_000, seed: seed, raceDetection: false))
      let f = try #require(r.failure)
      #expect(f.shrunk.primary?.signature == f.original.primary?.signature)
      // Smaller in the shrinker's order: fewer preemptions first, then fewer decisions.
      #expect(
        (f.shrunk.preemptions, f.shrunk.decisions.count) <= (
          f.original.preemptions, f.original.decisions.count
        ))
      #expect(
        f.shrunk.preemptions <= max(1, 2 * least), "seed \(seed): \(f.shrunk.preemptions) vs minimal \(least)"
      )
    }
  }

  /// Bounded search enumerates a small tree exactly: the number of schedules with at most k
  /// departures over decisions of known counts.
  @Test func boundedSearchEnumeratesExactly() {
    // Three binary decisions, bound 1: the default, then each decision flipped alone.
    func next(_ ranks: [UInt16]) -> [UInt16]? {
      let schedule = (0..<3).map { i in
        ScheduleDecision(rank: i < ranks.count ? ranks[i] : 0, count: 2, kind: .processor, preemptible: true)
      }
      return BoundedSearchStrategy.nextPrefix(after: schedule, bound: 1)
    }
    var seen: [[UInt16]] = [[]]
    var prefix: [UInt16]? = next([])
    while let p = prefix {
      seen.append(p)
      prefix = next(p)
    }
    #expect(seen == [[], [0, 0, 1], [0, 1], [1]])
  }

  /// PCT: depth 1 never changes priorities, so the highest-priority processor always runs
  /// when it can; the seed picks which processor that is.
  @Test func pctDepthOneFollowsPriorities() {
    var firsts = Set<Int>()
    for seed: UInt64 in 1...20 {
      let s = PCTStrategy(seed: seed, processors: 2, depth: 1, steps: 10)
      let both = ProcessorAlternatives(runnable: 0b11, pollers: 0)
      let rank = s.chooseProcessor(both, current: nil)
      let first = both.processor(at: ScheduleRank.position(ofRank: rank, current: nil))
      firsts.insert(first)
      for _ in 0..<10 {
        #expect(
          both.processor(
            at: ScheduleRank.position(ofRank: s.chooseProcessor(both, current: nil), current: nil)) == first)
      }
    }
    #expect(firsts == [0, 1])
  }

  /// Ranks and positions are inverse maps for every current position.
  @Test func ranksAndPositionsInvert() {
    for count in 1...5 {
      for current in [nil] + (0..<count).map(Optional.some) {
        let ranks = (0..<count).map { ScheduleRank.rank(ofPosition: $0, current: current) }
        #expect(Set(ranks) == Set(0..<count))
        for k in 0..<count {
          #expect(
            ScheduleRank.position(
              ofRank: ScheduleRank.rank(ofPosition: k, current: current), current: current) == k)
        }
        if let c = current { #expect(ScheduleRank.rank(ofPosition: c, current: c) == 0) }
      }
    }
  }
}

/// The random walk's two paths (the rank path a recorded run takes, the mask path of plain
/// simulated runs) are one behaviour: the same seed gives the same trace either way.
@Suite struct RandomWalkPathsTests {
  static func traceHash(seed: UInt64, recorded: Bool) -> (UInt64, Int) {
    let sim = SimulatedPlatform(processors: 2, seed: seed, recordsSchedule: recorded)
    let runtime = StorportRuntime(platform: sim, trace: .full)
    let adapter = runtime.attach(DemoMiniportForPaths.make())
    runtime.start()
    adapter.start()
    _ = sim.run(until: 2_000_000)
    for i in 0..<8 { adapter.submit(StorRequest(tag: UInt64(i))) }
    _ = sim.run(until: sim.now().nanoseconds + 2_000_000)
    let events = runtime.tracer.events()
    runtime.shutdown()
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for e in events {
      for v in [e.time, UInt64(e.processor?.rawValue ?? 99), UInt64(e.kind.rawValue), e.a] {
        h = (h ^ v) &* 0x100_0000_01b3
      }
    }
    return (h, events.count)
  }

  @Test func recordedAndUnrecordedWalksAreTheSameRun() {
    var distinct = Set<UInt64>()
    for seed: UInt64 in 1...12 {
      let fast = Self.traceHash(seed: seed, recorded: false)
      let ranked = Self.traceHash(seed: seed, recorded: true)
      #expect(fast.0 == ranked.0, "seed \(seed): the two paths of the random walk diverged")
      #expect(fast.1 > 40)
      distinct.insert(fast.0)
    }
    // Positive control: the seeds give different runs (the hash can tell runs apart).
    #expect(distinct.count > 6)
  }
}

enum DemoMiniportForPaths {
  static func make() -> ScriptedMiniport {
    let m = ScriptedMiniport()
    m.onInitialize = { ext in ext.port.requestConcurrentChannels(2) }
    m.onStartIo = { ext, r in
      ext.counter.increment()
      r.srbStatus = .success
      ext.port.requestComplete(r)
      return true
    }
    return m
  }
}
