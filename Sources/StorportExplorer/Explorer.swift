import Dispatch
import Storport
import Synchronization

/// The explorer: runs a harness under many schedules from one strategy, stops at the first
/// failure (the lowest schedule index, whatever the jobs and shards), self-checks it by
/// replay, and shrinks it.
public enum Explorer {
  /// The seed of schedule `index` under base seed `seed` (SplitMix64 of both).
  public static func scheduleSeed(_ seed: UInt64, _ index: Int) -> UInt64 {
    var r = SeededRandom(seed: seed &+ UInt64(index) &* 0x9E37_79B9_7F4A_7C15)
    return r.next()
  }

  /// The strategy object for schedule `index` (random and PCT; DFS is driven by prefixes).
  static func strategy(
    _ s: ExplorationStrategy, seed: UInt64, index: Int, processors: Int, pctSteps: Int
  ) -> SchedulingStrategy {
    let seed = scheduleSeed(seed, index)
    switch s {
    case .random(let percent):
      return RandomWalkStrategy(
        seed: seed, switchPercent: percent, randomPlacements: true, pointsAtServiceCalls: true)
    case .pct(let depth):
      return PCTStrategy(seed: seed, processors: processors, depth: depth, steps: max(1, pctSteps))
    case .dfs:
      return BoundedSearchStrategy(prefix: [])
    }
  }

  /// PCT's k: the processor decisions of one run with default choices (deterministic, so
  /// every shard and job computes the same k).
  static func calibratePCT(_ harness: ExplorationHarness, maxSteps: UInt64) -> Int {
    let probe = PCTStrategy(seed: 0, processors: harness.processors, depth: 1, steps: 1)
    _ = ScheduleRunner.run(harness, strategy: probe, maxSteps: maxSteps, raceDetection: false)
    return max(1, probe.processorSteps)
  }

  /// Explores `harness` with `options`; `progress` is called now and then (from the
  /// exploring thread).
  public static func explore(
    _ harness: ExplorationHarness, _ options: ExplorationOptions,
    progress: (@Sendable (ExplorationProgress) -> Void)? = nil
  ) -> ExplorationResult {
    precondition(options.schedules >= 0 && options.jobs >= 1, "schedules ≥ 0 and jobs ≥ 1")
    precondition(
      options.shard.count >= 1 && (0..<options.shard.count).contains(options.shard.index), "bad shard")
    let start = HostClock.monotonicNanoseconds
    let pctSteps: Int
    if case .pct = options.strategy {
      pctSteps = calibratePCT(harness, maxSteps: options.maxSteps)
    } else {
      pctSteps = 0
    }

    var hashes = Set<UInt64>()
    var decisions: UInt64 = 0
    var ran = 0
    var exhausted = false
    var failing: (index: Int, run: ScheduleRun)?

    if case .dfs(let bound) = options.strategy {
      var prefix: [UInt16]? = []
      var index = 0
      while let p = prefix, index < options.schedules {
        let run = ScheduleRunner.run(
          harness, strategy: BoundedSearchStrategy(prefix: p), maxSteps: options.maxSteps,
          raceDetection: options.raceDetection)
        ran += 1
        decisions &+= run.steps
        hashes.insert(hash(run.decisions))
        if run.primary != nil {
          failing = (index, run)
          break
        }
        prefix = BoundedSearchStrategy.nextPrefix(after: run.decisions, bound: bound)
        if prefix == nil { exhausted = true }
        index += 1
        report(progress, ran, decisions, hashes.count, start)
      }
    } else {
      let mine = stride(from: options.shard.index, to: options.schedules, by: options.shard.count).map { $0 }
      let state = Mutex(
        SharedProgress(next: 0, lowestFailure: Int.max, hashes: [], decisions: 0, ran: 0, failing: nil))
      let work: @Sendable () -> Void = {
        while true {
          let slot: Int? = state.withLock { s in
            guard s.next < mine.count, mine[s.next] < s.lowestFailure else { return nil }
            defer { s.next += 1 }
            return s.next
          }
          guard let slot else { return }
          let index = mine[slot]
          let run = ScheduleRunner.run(
            harness,
            strategy: strategy(
              options.strategy, seed: options.seed, index: index, processors: harness.processors,
              pctSteps: pctSteps),
            maxSteps: options.maxSteps, raceDetection: options.raceDetection)
          state.withLock { s in
            s.ran += 1
            s.decisions &+= run.steps
            s.hashes.insert(hash(run.decisions))
            if run.primary != nil && index < s.lowestFailure {
              s.lowestFailure = index
              s.failing = FailingRun(index: index, run: run)
            }
          }
          if let progress {
            let p = state.withLock { ($0.ran, $0.decisions, $0.hashes.count) }
            if p.0 % 64 == 0 { report(progress, p.0, p.1, p.2, start) }
          }
        }
      }
      if options.jobs == 1 {
        work()
      } else {
        DispatchQueue.concurrentPerform(iterations: options.jobs) { _ in work() }
      }
      state.withLock { s in
        hashes = s.hashes
        decisions = s.decisions
        ran = s.ran
        if let f = s.failing { failing = (f.index, f.run) }
      }
    }

    var found: FoundFailure?
    if let (index, run) = failing {
      found = finish(harness, options, index: index, run: run)
    }
    return ExplorationResult(
      harness: harness.name, strategy: options.strategy, seed: options.seed, shard: options.shard,
      maxSteps: options.maxSteps, schedulesBudget: options.schedules, schedulesRun: ran, decisions: decisions,
      scheduleHashes: hashes,
      exhausted: exhausted, elapsedNanoseconds: HostClock.monotonicNanoseconds &- start, pctSteps: pctSteps,
      raceDetection: options.raceDetection, failure: found)
  }

  /// Replays `decisions` (recorded under a strategy whose pollers did or did not compete).
  public static func replay(
    _ harness: ExplorationHarness, decisions: [ScheduleDecision], pollersCompete: Bool, maxSteps: UInt64,
    keepTrace: Bool = false, raceDetection: Bool = true
  ) -> (run: ScheduleRun, divergence: String?) {
    let strategy = ReplayStrategy(decisions, pollersCompete: pollersCompete)
    let run = ScheduleRunner.run(
      harness, strategy: strategy, maxSteps: maxSteps, keepTrace: keepTrace, raceDetection: raceDetection)
    var divergence = strategy.divergence.map { "decision \($0.index): \($0.reason)" }
    if divergence == nil && !strategy.replayedExactly {
      divergence = "the run ended after \(strategy.position) of the \(decisions.count) recorded decisions"
    }
    return (run, divergence)
  }

  /// Replays a schedule file (its decisions, pollers and race-detection setting).
  public static func replay(
    _ harness: ExplorationHarness, file: ScheduleFile, keepTrace: Bool = false
  ) -> (run: ScheduleRun, divergence: String?) {
    replay(
      harness, decisions: file.decisions, pollersCompete: file.pollersCompete, maxSteps: file.maxSteps,
      keepTrace: keepTrace, raceDetection: file.raceDetection)
  }

  /// Shrinks, self-checks and keeps the trace of a failing schedule.
  static func finish(
    _ harness: ExplorationHarness, _ options: ExplorationOptions, index: Int, run: ScheduleRun
  ) -> FoundFailure {
    let compete = pollersCompete(options.strategy)
    var shrunk = run
    var runs = 0
    if options.shrink {
      (shrunk, runs) = Shrinker.shrink(
        harness, run, pollersCompete: compete, maxSteps: options.maxSteps,
        raceDetection: options.raceDetection)
    }
    // The shrunk schedule, replayed twice with the whole trace: the picture and the Perfetto
    // file come from the first; the second must say exactly the same (self-check).
    let first = replay(
      harness, decisions: shrunk.decisions, pollersCompete: compete, maxSteps: options.maxSteps,
      keepTrace: true,
      raceDetection: options.raceDetection)
    var reproduced: Bool?
    var final = first.run
    if options.selfCheck {
      let second = replay(
        harness, decisions: shrunk.decisions, pollersCompete: compete, maxSteps: options.maxSteps,
        raceDetection: options.raceDetection)
      reproduced =
        first.divergence == nil && second.divergence == nil && first.run.traceHash == second.run.traceHash
        && first.run.primary?.signature == shrunk.primary?.signature
      if reproduced == false {
        let why =
          first.divergence ?? second.divergence
          ?? (first.run.traceHash != second.run.traceHash
            ? "two replays of the same schedule produced different traces"
            : "the replay ended in \(first.run.primary?.signature ?? "no failure"), not \(shrunk.primary?.signature ?? "")")
        final = ScheduleRun(
          decisions: first.run.decisions, steps: first.run.steps,
          failures: [
            ExplorationFailure(
              kind: .uncontrolledNondeterminism, rule: harness.name,
              message: "replaying the failing schedule did not reproduce it: \(why)")
          ] + first.run.failures,
          traceHash: first.run.traceHash, recentEvents: first.run.recentEvents,
          processors: first.run.processors,
          trace: first.run.trace)
      }
    }
    return FoundFailure(
      scheduleIndex: index, original: run, shrunk: final, shrinkRuns: runs, replayReproduced: reproduced)
  }

  static func pollersCompete(_ s: ExplorationStrategy) -> Bool {
    if case .random = s { return true }
    return false
  }

  /// FNV-1a of a decision list (stable across processes, so shard results merge).
  public static func hash(_ decisions: [ScheduleDecision]) -> UInt64 {
    var h = FNV1a()
    for d in decisions {
      h.mix(
        UInt64(d.rank) | UInt64(d.count) << 16 | UInt64(ChoiceKind.allCases.firstIndex(of: d.kind)!) << 32)
    }
    return h.value
  }

  private static func report(
    _ progress: (@Sendable (ExplorationProgress) -> Void)?, _ ran: Int, _ decisions: UInt64, _ distinct: Int,
    _ start: UInt64
  ) {
    progress?(
      ExplorationProgress(
        schedules: ran, decisions: decisions, distinctSchedules: distinct,
        elapsedNanoseconds: HostClock.monotonicNanoseconds &- start))
  }
}

struct FailingRun: Sendable {
  let index: Int
  let run: ScheduleRun
}

struct SharedProgress: Sendable {
  var next: Int
  var lowestFailure: Int
  var hashes: Set<UInt64>
  var decisions: UInt64
  var ran: Int
  var failing: FailingRun?
}
