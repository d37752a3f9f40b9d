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
  /// Departures from the default schedule of any kind (non-zero ranks).
  public var departures: Int { decisions.reduce(0) { $0 + ($1.rank != 0 ? 1 : 0) } }
}

/// Runs a harness once: a fresh simulated runtime (checked verifier recording every report,
/// full trace, race detection), the harness body, then the end-of-run checks.
public enum ScheduleRunner {
  /// Virtual time a schedule gets after its body to bring every processor out of its callback
  /// (a callback stalling that long is already a verifier finding).
  static let settleNanoseconds: UInt64 = 2_000_000
  /// Virtual time outstanding requests get after that before they count as lost.
  static let drainNanoseconds: UInt64 = 100_000_000

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
    var drained: SimulationOutcome?
    if !ended {
      run.outcomes.append(
        sim.run(until: sim.now().nanoseconds &+ settleNanoseconds) { runtime.processorsInCallbacks == 0 })
      // Requests still outstanding get time to finish (a BUSY back-off, a pause, a retry)
      // before they count as lost: until they complete or nothing more can happen.
      if runtime.processorsInCallbacks == 0 && run.submitted.contains(where: { $0.completions == 0 }) {
        let o = sim.run(until: sim.now().nanoseconds &+ drainNanoseconds) {
          run.submitted.allSatisfy { $0.completions > 0 }
        }
        drained = o
        if case .stepLimit = o { run.outcomes.append(o) }
      }
    }

    // Each processor's context as the run ended (the reports' "processors at the end").
    let endStates = runtime.processorSnapshots()
    var failures: [ExplorationFailure] = []
    for outcome in run.outcomes {
      switch outcome {
      case .stepLimit(let p, let busiest):
        let snap = endStates[busiest]
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
        let snaps = endStates
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
              + "was never completed"
              + (drained == .quiescent
                ? " (nothing was left that could complete it)"
                : " (not within \(drainNanoseconds / 1_000_000) ms of virtual time after the harness ended)"))
        )
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
    // Abandoned processors (a livelocked or deadlocked schedule) still point into the runtime.
    if !sim.abandoned.isEmpty { runtime.keepForever() }
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

  /// FNV-1a over what each event says (time, processor, kind, IRQL, arguments, name).
  static func hash(_ events: [TraceEvent]) -> UInt64 {
    var h = FNV1a()
    for e in events {
      h.mix(e.time)
      h.mix(UInt64(e.processor?.rawValue ?? 255) << 8 | UInt64(e.kind.rawValue))
      h.mix(UInt64(e.irql.rawValue))
      h.mix(e.a)
      h.mix(e.b)
      h.mix(UInt64(e.object))
      for b in e.name.utf8 { h.mix(UInt64(b)) }
    }
    return h.value
  }
}
