import Storport

/// The unit the explorer runs once per schedule: a fresh simulated runtime, the adapters and
/// miniports `body` attaches, a small bounded workload, and the checks at the end (every
/// request completed exactly once, the harness's own expectations, the verifier's verdict,
/// no data race on ``Tracked`` state).
///
/// `body` must be deterministic given the schedule: everything it does goes through the
/// runtime (no clocks, no randomness of its own, no threads), or replay reports
/// uncontrolled nondeterminism.
///
///     let harness = ExplorationHarness(name: "my-timer-race", processors: 2) { run in
///       let adapter = run.attach(MyMiniport())
///       guard run.startAdapter(adapter) else { return }
///       for lba in 0..<2 { run.submit(StorRequest.read(lba: UInt64(lba), blocks: 1), to: adapter) }
///       run.runUntilQuiescent()
///     }
public struct ExplorationHarness: Sendable {
  /// The name `storport explore NAME` and reports use.
  public let name: String
  /// One line on what it exercises.
  public let summary: String
  /// Simulated processors (1...64).
  public let processors: Int
  /// Whether this harness holds a seeded bug (a fixture the explorer must find) — for
  /// listings and self-tests; the explorer treats every harness alike.
  public let expectsFailure: Bool
  /// The body: attach, start, submit, run (see ``HarnessRun``).
  public let body: @Sendable (HarnessRun) -> Void

  public init(
    name: String, summary: String = "", processors: Int = 2, expectsFailure: Bool = false,
    body: @escaping @Sendable (HarnessRun) -> Void
  ) {
    precondition((1...64).contains(processors), "a harness runs on 1...64 processors")
    self.name = name
    self.summary = summary
    self.processors = processors
    self.expectsFailure = expectsFailure
    self.body = body
  }
}

/// What a harness body works with during one schedule: the runtime, request bookkeeping and
/// expectations. Used from the controlling thread only.
public final class HarnessRun: @unchecked Sendable {
  /// The runtime of this schedule (simulated, checked, race detection on).
  public let runtime: StorportRuntime
  /// The platform (virtual time, the schedule being recorded).
  public var simulation: SimulatedPlatform { runtime.simulation! }

  struct Submitted {
    let request: StorRequest
    let adapter: Int
    var completions = 0
    var observed = 0
  }
  /// Guarded by the simulation (one thread at a time); completion routines run on processors.
  nonisolated(unsafe) var submitted: [Submitted] = []
  var expectationFailures: [String] = []
  var outcomes: [SimulationOutcome] = []

  init(runtime: StorportRuntime) { self.runtime = runtime }

  /// Attaches a miniport (`StorPortInitialize`) and returns its adapter.
  @discardableResult
  public func attach<M: Miniport>(_ miniport: M) -> Adapter { runtime.attach(miniport) }

  /// Starts `adapter` and runs until it is running; false (and an expectation failure) if it
  /// did not start.
  @discardableResult
  public func startAdapter(_ adapter: Adapter, fileID: StaticString = #fileID, line: UInt = #line) -> Bool {
    adapter.start()
    run(until: { adapter.state != .starting && adapter.state != .attached }, limit: 1_000_000_000)
    if adapter.state != .running {
      expect(
        false, "adapter \(adapter.name) did not start (state \(adapter.state))", fileID: fileID, line: line)
      return false
    }
    return true
  }

  /// Submits `request` to `adapter`, counting its completions (checked at the end: exactly one).
  public func submit(_ request: StorRequest, to adapter: Adapter) {
    let index = submitted.count
    submitted.append(Submitted(request: request, adapter: adapter.index))
    // Weakly: a request kept past the schedule (in a pool the run keeps alive) must not keep
    // the run — and with it the schedule's runtime — alive.
    adapter.submit(request) { [weak self] _ in self?.submitted[index].completions += 1 }
  }

  /// Keeps `object` (a request pool, a device model) alive until the schedule's runtime is
  /// shut down — past the end of the body.
  public func keepAlive(_ object: AnyObject) { kept.append(object) }
  private var kept: [AnyObject] = []

  /// Runs `nanoseconds` of virtual time (or until nothing can happen).
  @discardableResult
  public func run(nanoseconds: UInt64) -> SimulationOutcome {
    let sim = simulation
    let o = sim.run(until: sim.now().nanoseconds &+ nanoseconds)
    observe()
    outcomes.append(o)
    return o
  }

  /// Runs until nothing can happen any more (or `limit` ns of virtual time pass).
  @discardableResult
  public func runUntilQuiescent(limit: UInt64 = 100_000_000) -> SimulationOutcome {
    run(nanoseconds: limit)
  }

  /// Runs until `condition` holds (or `limit` ns pass); returns whether it holds.
  @discardableResult
  public func run(until condition: @escaping () -> Bool, limit: UInt64 = 100_000_000) -> Bool {
    let sim = simulation
    outcomes.append(sim.run(until: sim.now().nanoseconds &+ limit, stopWhen: condition))
    observe()
    return condition()
  }

  /// Runs until every request submitted so far has completed (or `limit` ns pass); returns
  /// whether they all did.
  @discardableResult
  public func runUntilCompleted(limit: UInt64 = 100_000_000) -> Bool {
    run(until: { [self] in submitted.allSatisfy { $0.completions > 0 } }, limit: limit)
  }

  /// After a run, the harness has seen the completions and adapter states it can see: they
  /// happen before what it does next (the race detector's completion → initiator edges).
  private func observe() {
    guard runtime.raceDetector != nil else { return }
    for (i, s) in submitted.enumerated() where s.completions > s.observed {
      submitted[i].observed = s.completions
      runtime.hostObservedCompletion(of: s.request)
    }
    for a in runtime.adapters { runtime.hostObservedState(of: a) }
  }

  /// A harness expectation: a failure of kind `.harnessAssertion` when `condition` is false.
  @discardableResult
  public func expect(
    _ condition: Bool, _ message: @autoclosure () -> String, fileID: StaticString = #fileID,
    line: UInt = #line
  ) -> Bool {
    if !condition { expectationFailures.append("\(message()) (\(fileID):\(line))") }
    return condition
  }
}
