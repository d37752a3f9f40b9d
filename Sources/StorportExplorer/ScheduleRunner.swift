import Storport

/// The result of running a harness once under one strategy.
public struct ScheduleRun: Sendable {
  /// Every decision with two or more alternatives, in order (replaying them reproduces the run).
  public let decisions: [ScheduleDecision]
  /// All decisions taken, forced ones included.
  public let steps: UInt64
  /// What went wrong, most severe first (empty: the schedule passed).
  public let failures: [ExplorationFailure]
  /// A hash of the runtime trace: equal for runs that did the same things in the same order.
  public let traceHash: UInt64
  /// The last 50 trace events, as text.
  public let recentEvents: [String]
  /// Each processor's context when the run ended.
  public let processors: [ProcessorSnapshot]
  /// The whole trace (when asked for).
  public let trace: TraceCapture?

  /// The failure that names this schedule (nil: passed).
  public var primary: ExplorationFailure? { failures.first }
  /// Preemptions in the schedule (switches away from a processor that could have gone on).
  public var preemptions: Int { decisions.reduce(0) { $0 + ($1.isPreemption ? 1 : 0) } }
}

/// Runs a harness once: a fresh simulated runtime (checked verifier recording every report,
/// full trace, race detection), the harness body, then the end-of-run checks.
public enum ScheduleRunner {
  /// Runtimes whose processors were abandoned (a livelocked or deadlocked schedule): their
  /// parked threads still point into them, so they are kept for the life of the process.
  nonisolated(unsafe) private static var graveyard: [StorportRuntime] = []
  /// Virtual time a schedule gets after its body to bring every processor out of its callback.
  static let settleNanoseconds: UInt64 = 2_000_000
  private static let graveyardLock = Locked<Int>(0)

  /// - Parameters:
  ///   - harness: what to run.
  ///   - strategy: where the decisions come from (a fresh object per run).
  ///   - maxSteps: a run that takes more decisions fails as a livelock.
  ///   - keepTrace: keep the whole trace (for the Perfetto file and the picture).
  ///   - raceDetection: check ``Tracked`` state for data races.
  public static func run(
    _ harness: ExplorationHarness, strategy: SchedulingStrategy, maxSteps: UInt64, keepTrace: Bool = false,
    raceDetection: Bool = true
  ) -> ScheduleRun {
    let sim = SimulatedPlatform(
      processors: harness.processors, seed: 0, strategy: strategy, recordsSchedule: true,
      maxDecisions: maxSteps)
    let runtime = StorportRuntime(
      platform: sim, verifier: .checked(onViolation: .recordAndContinue), trace: .full,
      raceDetection: raceDetection)
    runtime.start()
    let run = HarnessRun(runtime: runtime)
    harness.body(run)
    // Let what the body started settle: every processor out of its callback (a harness may
    // end on a condition met in the middle of one). One that never comes out is stuck.
    let ended = run.outcomes.contains {
      switch $0 {
      case .stepLimit, .deadlock, .stuck: return true
      default: return false
      }
    }
    if !ended {
      run.outcomes.append(
        sim.run(until: sim.now().nanoseconds &+ settleNanoseconds) { runtime.processorsInCallbacks == 0 })
    }

    var failures: [ExplorationFailure] = []
    for outcome in run.outcomes {
      switch outcome {
      case .stepLimit(let p, let busiest):
        let snap = runtime.processorSnapshots()[busiest]
        failures.append(
          ExplorationFailure(
            kind: .livelock, rule: "processor \(busiest)",
            message: "the schedule took more than \(maxSteps) decisions without ending: processor \(busiest) "
              + "kept running (in \(snap.callback ?? "port work") at \(snap.irql), holding "
              + "\(snap.locks.isEmpty ? "no lock" : snap.locks.joined(separator: ", "))); last point reached by "
              + "processor \(p.map(String.init) ?? "none")"))
      case .stuck(let pollers):
        failures.append(
          ExplorationFailure(
            kind: .livelock, rule: "pollers \(pollers)",
            message: "only processors \(pollers) were left, polling for a condition nothing will make true"))
      case .deadlock(let blocked):
        let snaps = runtime.processorSnapshots()
        let who = blocked.map { i in
          "processor \(i) in \(snaps[i].callback ?? "port work") holding "
            + (snaps[i].locks.isEmpty ? "no lock" : snaps[i].locks.joined(separator: ", "))
        }
        failures.append(
          ExplorationFailure(
            kind: .deadlock, rule: "processors \(blocked)",
            message: "every processor that could run waits for a lock nobody will release: "
              + who.joined(separator: "; ")))
      default: break
      }
      if !failures.isEmpty { break }
    }
    // A processor still inside a callback when the harness ended never returned from it:
    // it spins (or waits) for something that does not come.
    let endStates = runtime.processorSnapshots()
    var stuckInCallback = false
    if failures.isEmpty, let busy = endStates.first(where: { $0.callback != nil }) {
      stuckInCallback = true
      failures.append(
        ExplorationFailure(
          kind: .livelock, rule: "\(busy.callback!) never returned",
          message: "when the harness ended, processor \(busy.processor) was still in \(busy.callback!) at "
            + "\(busy.irql) holding \(busy.locks.isEmpty ? "no lock" : busy.locks.joined(separator: ", ")): it "
            + "kept spinning or waiting for something that never happened"))
    }
    for v in runtime.verifier.violations {
      let twice = v.rule == .requestCompletedTwice
      failures.append(
        ExplorationFailure(
          kind: twice ? .requestCompletedTwice : .verifierViolation, rule: v.rule.rawValue,
          message:
            "\(v.message) (in \(v.callback) on processor \(v.processor?.description ?? "host") at \(v.irql))",
          bugCheck: v.rule.bugCheck.description))
    }
    for (i, s) in run.submitted.enumerated() where s.completions != 1 {
      if s.completions == 0 {
        failures.append(
          ExplorationFailure(
            kind: .requestLost, rule: "request \(i)",
            message:
              "request \(i) (\(s.request.function), tag \(s.request.tag)) submitted to adapter \(s.adapter) "
              + "was never completed"))
      } else if !failures.contains(where: { $0.kind == .requestCompletedTwice }) {
        failures.append(
          ExplorationFailure(
            kind: .requestCompletedTwice, rule: "request \(i)",
            message: "request \(i) (tag \(s.request.tag)) reached its initiator \(s.completions) times"))
      }
    }
    for m in run.expectationFailures {
      failures.append(ExplorationFailure(kind: .harnessAssertion, rule: m, message: m))
    }
    for race in runtime.raceDetector?.races ?? [] {
      failures.append(
        ExplorationFailure(
          kind: .dataRace, rule: "\(race.first.cell) \(race.first.location) / \(race.second.location)",
          message: race.description, race: race))
    }

    let processors = endStates
    let stuck =
      stuckInCallback
      || run.outcomes.contains {
        switch $0 {
        case .stepLimit, .deadlock, .stuck: return true
        default: return false
        }
      }
    if stuck { sim.stop(graceNanoseconds: 20_000) }
    runtime.shutdown()
    if !sim.abandoned.isEmpty { graveyardLock.withLock { _ in graveyard.append(runtime) } }
    let events = runtime.tracer.events()
    // The 50 events up to (and just after) the first reported finding, else the last 50.
    let end =
      events.firstIndex { $0.kind == .violation || $0.kind == .diagnostic }.map { min(events.count, $0 + 5) }
      ?? events.count
    return ScheduleRun(
      decisions: sim.schedule, steps: sim.decisions, failures: failures, traceHash: hash(events),
      recentEvents: events[max(0, end - 50)..<end].map(\.text), processors: processors,
      trace: keepTrace ? runtime.traceCapture() : nil)
  }

  /// FNV-1a over what each event says (not its wall-clock-free sequence number alone).
  static func hash(_ events: [TraceEvent]) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    @inline(__always) func mix(_ v: UInt64) {
      var x = v
      for _ in 0..<8 {
        h ^= x & 0xff
        h = h &* 0x100_0000_01b3
        x >>= 8
      }
    }
    for e in events {
      mix(e.time)
      mix(UInt64(e.processor?.rawValue ?? 255) << 8 | UInt64(e.kind.rawValue))
      mix(UInt64(e.irql.rawValue))
      mix(e.a)
      mix(e.b)
      mix(UInt64(e.object))
      for b in e.name.utf8 { mix(UInt64(b)) }
    }
    return h
  }
}
