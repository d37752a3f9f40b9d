import CStorportShim
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Why `SimulatedPlatform.run` returned control to its caller.
public enum SimulationOutcome: Equatable, Sendable {
  /// The caller's stop condition became true.
  case conditionMet
  /// Virtual time reached the requested limit.
  case timeLimit
  /// Every processor is idle and no timer is armed (before the limit).
  case quiescent
  /// Every processor that is not idle waits for a resource nobody will release.
  case deadlock(blocked: [Int])
  /// Only pollers are left, no timer is armed, and polling changed nothing for many rounds.
  case stuck(pollers: [Int])
  /// The run took `SimulatedPlatform.maxDecisions` scheduling decisions without ending —
  /// livelock or starvation; `processor` is the one that reached the last point and
  /// `busiest` the one that reached most points in the last `maxDecisions / 4` decisions.
  case stepLimit(processor: Int?, busiest: Int)
}

/// The deterministic platform. Simulated processors are OS threads, but exactly one of them
/// (or the controlling thread) runs at a time: the holder of the baton. At every scheduling
/// point a ``SchedulingStrategy`` (seeded random walk by default; PCT, bounded search or a
/// replayed schedule for the explorer) picks who runs next, and the placements the runtime
/// asks for (``choose(_:count:default:)``) are its choices too; when nobody can run, virtual
/// time jumps to the next timer. Each scheduling point also advances virtual time by `stepNanoseconds`, so busy
/// processors see time pass and timers fire during activity.
///
/// Guarantees: the same seed, configuration and controller actions give the same sequence of
/// decisions, hence a bit-identical runtime trace. Virtual time never goes back. A deadlock
/// (all non-idle processors waiting) is detected and reported instead of hanging.
///
/// The controlling thread (a test, the CLI) drives the simulation with ``run(until:stopWhen:)``;
/// between runs nothing executes, so the controller may inspect and mutate runtime state.
public final class SimulatedPlatform: Platform, @unchecked Sendable {
  public let processorCount: Int
  public let seed: UInt64
  public var isSimulated: Bool { true }
  public var runsOneThreadAtATime: Bool { true }
  public var isStopping: Bool { stopping }
  public let timerResolutionNanoseconds: UInt64 = 1
  /// Virtual time charged per scheduling point.
  public let stepNanoseconds: UInt64
  /// Where the decisions come from.
  public let strategy: SchedulingStrategy
  /// The strategy when it is the default random walk: called directly (no witness-table call
  /// on the path every scheduling point takes).
  private let randomWalk: RandomWalkStrategy?
  /// `strategy.pollersCompete`, read once.
  private let pollersCompete: Bool
  /// `strategy.pointsAtServiceCalls`, read once.
  public let schedulesServiceCalls: Bool
  /// `strategy.variesPlacements`, read once.
  public let variesPlacements: Bool
  /// Whether decisions with two or more alternatives are kept in ``schedule``.
  public let recordsSchedule: Bool
  /// A run that takes more decisions than this ends with `.stepLimit` (nil: no bound).
  public let maxDecisions: UInt64?

  enum ActorState: Equatable {
    case runnable, idle, polling, exited
    case blocked(ObjectIdentifier)
  }

  // All of the following is touched only by the baton holder (asserted in debug builds), so
  // Swift's dynamic exclusivity checks would be pure cost on every scheduling point.
  /// The decisions taken (``recordsSchedule``): replaying them reproduces the run.
  @exclusivity(unchecked) public private(set) var schedule: [ScheduleDecision] = []
  /// Scheduling points reached per processor since the last quarter of `maxDecisions`.
  @exclusivity(unchecked) private var recentPoints: [UInt64]
  @exclusivity(unchecked) private var time: UInt64 = 0
  @exclusivity(unchecked) private var timers = TimerHeap()
  @exclusivity(unchecked) private var states: [ActorState]
  /// Bit i set: processor i is runnable / polling — kept with `states` by `setState`, so a
  /// scheduling decision reads two words instead of walking the processors.
  @exclusivity(unchecked) private var runnableMask: UInt64 = 0
  @exclusivity(unchecked) private var pollerMask: UInt64 = 0
  @exclusivity(unchecked) private var current: Int
  @exclusivity(unchecked) private var stopping = false
  @exclusivity(unchecked) private var limit: UInt64?
  @exclusivity(unchecked) private var stopWhen: (() -> Bool)?
  @exclusivity(unchecked) private var outcome: SimulationOutcome = .quiescent
  @exclusivity(unchecked) private var pollOnlyRounds = 0
  @exclusivity(unchecked) private var started = false
  @exclusivity(unchecked) private var deciding = false
  private var stallTargets: [StallTarget] = []
  private var client: PlatformClient?
  /// Scheduling decisions taken so far (a measure of explored interleaving).
  @exclusivity(unchecked) public private(set) var decisions: UInt64 = 0
  /// Processors `stop()` abandoned (still inside a callback when the grace period ended);
  /// their threads stay parked for the life of the process.
  public private(set) var abandoned: [Int] = []
  /// Context switches so far.
  @exclusivity(unchecked) public private(set) var switches: UInt64 = 0

  /// turn word i: 1 when actor i holds the baton. Index processorCount is the controller.
  private let turns: AlignedWords
  private var controller: Int { processorCount }
  private var threads: [pthread_t] = []

  /// - Parameters:
  ///   - seed: the random walk's seed (and the run's identity in reports).
  ///   - stepNanoseconds: virtual time charged per scheduling point.
  ///   - switchPercent: the random walk's chance, in percent, of switching processors at a
  ///     point (ignored when `strategy` is given).
  ///   - strategy: where decisions come from (default: ``RandomWalkStrategy``).
  ///   - recordsSchedule: keep every decision with two or more alternatives.
  ///   - maxDecisions: end a run that takes more decisions than this (`.stepLimit`).
  public init(
    processors: Int = 2, seed: UInt64, stepNanoseconds: UInt64 = 100, switchPercent: Int = 30,
    strategy: SchedulingStrategy? = nil, recordsSchedule: Bool = false, maxDecisions: UInt64? = nil
  ) {
    precondition(processors >= 1 && processors <= 64, "processor count must be 1...64")
    processorCount = processors
    self.seed = seed
    self.stepNanoseconds = stepNanoseconds
    let chosen = strategy ?? RandomWalkStrategy(seed: seed, switchPercent: switchPercent)
    self.strategy = chosen
    randomWalk = chosen as? RandomWalkStrategy
    pollersCompete = chosen.pollersCompete
    schedulesServiceCalls = chosen.pointsAtServiceCalls
    variesPlacements = chosen.variesPlacements
    self.recordsSchedule = recordsSchedule
    self.maxDecisions = maxDecisions
    recentPoints = Array(repeating: 0, count: processors)
    states = Array(repeating: .runnable, count: processors)
    runnableMask = processors == 64 ? ~0 : (1 << UInt64(processors)) - 1
    turns = AlignedWords(count: processors + 1)
    current = processors
  }

  public func now() -> PlatformTime { PlatformTime(nanoseconds: time) }
  public func coarseNow() -> PlatformTime { PlatformTime(nanoseconds: time) }

  public func start(_ client: PlatformClient) {
    precondition(!started, "SimulatedPlatform.start called twice")
    started = true
    self.client = client
    for i in 0..<processorCount {
      stallTargets.append(StallTarget(platform: self, processor: i))
      threads.append(
        PlatformThread.start(name: "storport-sim\(i)") { [self] in
          waitForTurn(i)
          client.runProcessor(i)
          setState(i, .exited)
          handOff(from: i, to: decide(from: i), waitAfterwards: false)
        })
    }
  }

  /// Runs the simulation until `stopWhen` returns true (checked at every scheduling
  /// decision), virtual time reaches `until`, or nothing can happen any more.
  /// Must be called from the controlling thread, never from a simulated processor.
  @discardableResult
  public func run(until: UInt64? = nil, stopWhen: (() -> Bool)? = nil) -> SimulationOutcome {
    precondition(started, "start the runtime before running the simulation")
    precondition(storport_get_current() == nil, "run() must be called from the controlling thread")
    limit = until
    self.stopWhen = stopWhen
    pollOnlyRounds = 0
    if let until, time >= until {
      limit = nil
      self.stopWhen = nil
      return .timeLimit
    }
    let next = decide(from: nil)
    if next != controller { handOff(from: controller, to: next, waitAfterwards: true) }
    limit = nil
    self.stopWhen = nil
    return outcome
  }

  /// Runs for `nanoseconds` of virtual time (or until quiescent, whichever is first).
  @discardableResult
  public func run(for nanoseconds: UInt64) -> SimulationOutcome {
    run(until: time &+ nanoseconds)
  }

  public func run(forAtMost timeout: UInt64, until condition: @escaping () -> Bool) -> Bool {
    run(until: time &+ timeout, stopWhen: condition)
    return condition()
  }

  /// Lets every processor leave its loop, within the client's `shutdownGraceNanoseconds` of
  /// virtual time.
  /// A processor that does not — it is inside a callback that never returns, spinning or
  /// blocked — is abandoned: reported to the client (``PlatformClient/processorAbandoned(_:)``)
  /// and left parked for good, so shutdown always finishes.
  public func stop() { stop(graceNanoseconds: client?.shutdownGraceNanoseconds ?? 1_000_000_000) }

  /// As ``stop()``, with an explicit grace period (0: abandon at once every processor that is
  /// not idle — the explorer's way out of a livelocked or deadlocked schedule).
  public func stop(graceNanoseconds: UInt64) {
    guard started, !stopping else { return }
    stopping = true
    for i in 0..<processorCount where states[i] != .exited {
      if case .blocked = states[i] { continue }  // truly stuck actors are abandoned
      setState(i, .runnable)
    }
    limit = time &+ graceNanoseconds
    while states.contains(where: { $0 == .runnable || $0 == .polling || $0 == .idle }) {
      for i in 0..<processorCount where states[i] == .idle || states[i] == .polling {
        setState(i, .runnable)
      }
      let next = decide(from: nil)
      if next == controller { break }
      handOff(from: controller, to: next, waitAfterwards: true)
    }
    limit = nil
    for i in 0..<processorCount where states[i] != .exited {
      abandoned.append(i)
      client?.processorAbandoned(i)
    }
    for (i, t) in threads.enumerated() where states[i] == .exited { PlatformThread.join(t) }
    // The client (the runtime) owns this platform: once every processor has left, drop the
    // reference back to it, so a stopped runtime is freed. An abandoned processor may still
    // run the client's code: then the cycle stays (the runtime is kept on purpose).
    if abandoned.isEmpty { client = nil }
  }

  /// Work was posted to `p`: an idle processor runs its loop again, and a polling one runs
  /// now (it delivers what preempts it while it waits, as a spinning processor would).
  public func wake(_ p: Int) {
    if states[p] == .idle || states[p] == .polling { setState(p, .runnable) }
  }

  public func idle(_ p: Int, hasWork: () -> Bool) {
    if stopping { return }
    setState(p, .idle)
    reschedule(p)
  }

  public func schedulingPoint(_ p: Int, _ point: SchedulingPoint) {
    reschedule(p)
  }

  public func wait(_ p: Int, on resource: ObjectIdentifier, attempt: Int) {
    setState(p, .blocked(resource))
    reschedule(p)
  }

  public func signal(_ resource: ObjectIdentifier) {
    for i in 0..<processorCount where states[i] == .blocked(resource) { setState(i, .runnable) }
  }

  public func poll(_ p: Int) {
    setState(p, .polling)
    reschedule(p)
  }

  public func stall(_ p: Int, nanoseconds: UInt64) {
    let target = stallTargets[p]
    timers.insert(deadline: PlatformTime(nanoseconds: time &+ nanoseconds), target: target, cookie: 0)
    setState(p, .blocked(ObjectIdentifier(target)))
    reschedule(p)
  }

  public func arm(
    deadline: PlatformTime, target: PlatformTimerTarget, cookie: UInt64, processor: ProcessorIndex?
  ) {
    timers.insert(deadline: deadline, target: target, cookie: cookie)
  }

  // MARK: - The scheduler

  /// The one way a processor's state changes (keeps the masks in step).
  @inline(__always)
  fileprivate func setState(_ p: Int, _ state: ActorState) {
    states[p] = state
    let bit: UInt64 = 1 << UInt64(p)
    runnableMask = state == .runnable ? runnableMask | bit : runnableMask & ~bit
    pollerMask = state == .polling ? pollerMask | bit : pollerMask & ~bit
  }

  /// Debug builds: the simulator's state is touched only by the processor holding the baton.
  @inline(__always)
  private func assertBaton(_ p: Int) {
    assert(
      current == p,
      "bug in swift-storport: processor \(p) entered the scheduler while processor \(current) holds the baton"
    )
  }

  private func reschedule(_ p: Int) {
    assertBaton(p)
    // Code the scheduler itself runs (stop conditions, timer targets) may hit scheduling
    // points; they are not decisions.
    if deciding {
      if states[p] == .polling { setState(p, .runnable) }
      return
    }
    time &+= stepNanoseconds
    let next = decide(from: p)
    if next == p {
      if states[p] == .polling { setState(p, .runnable) }
      return
    }
    handOff(from: p, to: next, waitAfterwards: true)
    if states[p] == .polling { setState(p, .runnable) }
  }

  /// Chooses who runs next; `controller` means "give control back" (outcome recorded).
  private func decide(from p: Int?) -> Int {
    decisions &+= 1
    deciding = true
    defer { deciding = false }
    if let maxDecisions {
      if let p { recentPoints[p] &+= 1 }
      if decisions % max(1, maxDecisions / 4) == 0 && decisions < maxDecisions {
        for i in recentPoints.indices { recentPoints[i] = 0 }
      }
      if decisions > maxDecisions && !stopping {
        let busiest = recentPoints.indices.max { recentPoints[$0] < recentPoints[$1] } ?? 0
        outcome = .stepLimit(processor: p, busiest: busiest)
        return controller
      }
    }
    while true {
      while let deadline = timers.earliestDeadline, deadline.nanoseconds <= time,
        let entry = timers.popDue(at: PlatformTime(nanoseconds: time))
      {
        entry.target.fire(cookie: entry.cookie)
      }
      if let stopWhen, stopWhen() {
        outcome = .conditionMet
        return controller
      }
      if let limit, time >= limit {
        outcome = .timeLimit
        return controller
      }
      assert(
        (0..<processorCount).allSatisfy {
          (states[$0] == .runnable) == (runnableMask & (1 << UInt64($0)) != 0)
            && (states[$0] == .polling) == (pollerMask & (1 << UInt64($0)) != 0)
        }, "bug in swift-storport: the scheduler's masks disagree with the processor states")
      let runnable = runnableMask
      let pollers = pollerMask
      if runnable == 0 && pollers == 0 {
        // A processor blocked on a lock is released only by a running holder: if nobody can
        // run, no timer can help either (stalled processors are not lock waiters).
        let lockWaiters = (0..<processorCount).filter {
          if case .blocked(let r) = states[$0] { return !isStall(r) } else { return false }
        }
        if !lockWaiters.isEmpty && lockWaiters.count == blockedCount() {
          outcome = .deadlock(blocked: lockWaiters)
          return controller
        }
      }
      if runnable != 0 {
        pollOnlyRounds = 0
        if !recordsSchedule, let walk = randomWalk {
          return walk.nextProcessor(runnable: runnable, pollers: pollers, current: p)
        }
        // Alternatives: the runnable processors in index order, then (when the strategy
        // lets them compete) the pollers.
        let alternatives = ProcessorAlternatives(
          runnable: runnable, pollers: pollersCompete ? pollers : 0)
        let current = p.flatMap { alternatives.position(of: $0) }
        let rank =
          randomWalk?.chooseProcessor(alternatives, current: current)
          ?? strategy.chooseProcessor(alternatives, current: current)
        record(.processor, rank: rank, count: alternatives.count, preemptible: current != nil)
        return alternatives.processor(at: ScheduleRank.position(ofRank: rank, current: current))
      }
      // Pollers look at their condition once at the current time before time moves on: a
      // spinning processor notices at once what another one just did.
      if pollers != 0 && pollOnlyRounds == 0 {
        pollOnlyRounds = 1
        return ProcessorAlternatives.bit(take(.poller, count: pollers.nonzeroBitCount), of: pollers)
      }
      if let deadline = timers.earliestDeadline?.nanoseconds, limit.map({ deadline <= $0 }) ?? true {
        time = max(time, deadline)
        pollOnlyRounds = 0
        continue
      }
      if pollers != 0 {
        pollOnlyRounds += 1
        if pollOnlyRounds < 10_000 {
          if limit == nil || time < limit! {
            return ProcessorAlternatives.bit(take(.poller, count: pollers.nonzeroBitCount), of: pollers)
          }
        }
        outcome = limit != nil ? .timeLimit : .stuck(pollers: Self.indices(pollers))
        if let limit { time = max(time, limit) }
        return controller
      }
      if let limit {
        time = max(time, limit)
        outcome = .timeLimit
        return controller
      }
      let blocked = (0..<processorCount).filter {
        if case .blocked = states[$0] { return true } else { return false }
      }
      outcome = blocked.isEmpty ? .quiescent : .deadlock(blocked: blocked)
      return controller
    }
  }

  /// Asks the strategy for a rank among `count` alternatives of `kind`; records it.
  @inline(__always)
  private func take(_ kind: ChoiceKind, count: Int) -> Int {
    let rank = strategy.choose(kind, count: count)
    record(kind, rank: rank, count: count, preemptible: false)
    return rank
  }

  /// Checks a strategy's rank and records a decision with two or more alternatives.
  @inline(__always)
  private func record(_ kind: ChoiceKind, rank: Int, count: Int, preemptible: Bool) {
    precondition(
      rank >= 0 && rank < count, "scheduling strategy chose rank \(rank) among \(count) alternatives")
    if recordsSchedule && count > 1 {
      schedule.append(
        ScheduleDecision(rank: UInt16(rank), count: UInt16(count), kind: kind, preemptible: preemptible))
    }
  }

  /// A placement the runtime lets the strategy choose — which processor a submitted request,
  /// a DPC or an interrupt goes to, how far into its slack a timer fires: an index in
  /// `0..<count`, where rank 0 is `default` (what the runtime does without a strategy).
  /// Called by the baton holder (a processor, or the controller between runs).
  public func choose(_ kind: ChoiceKind, count: Int, default defaultIndex: Int) -> Int {
    precondition(count >= 1 && defaultIndex >= 0 && defaultIndex < count, "bad placement choice")
    let rank = take(kind, count: count)
    // Rank 0 is the default; the other ranks the remaining indices in order.
    if rank == 0 { return defaultIndex }
    return rank - 1 < defaultIndex ? rank - 1 : rank
  }

  static func indices(_ mask: UInt64) -> [Int] { (0..<64).filter { mask & (1 << UInt64($0)) != 0 } }

  private func isStall(_ r: ObjectIdentifier) -> Bool {
    stallTargets.contains { ObjectIdentifier($0) == r }
  }

  private func blockedCount() -> Int {
    states.filter { if case .blocked = $0 { return true } else { return false } }.count
  }

  private func handOff(from p: Int, to next: Int, waitAfterwards: Bool) {
    if next != p { switches &+= 1 }
    current = next
    let w = turns[next]
    storport_store_release(w, 1)
    _ = storport_futex_wake(w, 1)
    if waitAfterwards { waitForTurn(p) }
  }

  private func waitForTurn(_ p: Int) {
    let w = turns[p]
    while storport_load_acquire(w) == 0 { _ = storport_futex_wait(w, 0, 0) }
    storport_store_release(w, 0)
  }

  /// Wakes a stalled processor when its stall time has passed.
  private final class StallTarget: PlatformTimerTarget, @unchecked Sendable {
    unowned let platform: SimulatedPlatform
    let processor: Int
    init(platform: SimulatedPlatform, processor: Int) {
      self.platform = platform
      self.processor = processor
    }
    func fire(cookie: UInt64) {
      if platform.states[processor] == .blocked(ObjectIdentifier(self)) {
        platform.setState(processor, .runnable)
      }
    }
  }
}
