/// A place where a scheduling decision may be taken (simulated platform) — the points at
/// which the interleaving of simulated processors can change.
public enum SchedulingPoint: UInt8, Sendable {
  case lockAcquire, lockRelease, dpcQueue, dpcDequeue, interlocked, timerExpiry
  case interruptDelivery, callbackEntry, callbackExit, work
  /// Entry to a StorPort service the miniport called (before the service acts).
  case service
  /// A read or write of tracked miniport state (``Tracked``).
  case stateAccess
}

/// Something that becomes due at a point in platform time. The platform calls `fire` at or
/// after the deadline it was armed with — never before — on whatever thread runs its timers.
public protocol PlatformTimerTarget: AnyObject, Sendable {
  /// - Parameter cookie: the value passed to `Platform.arm`; lets the target ignore stale expiries.
  func fire(cookie: UInt64)
}

/// The runtime's side of the platform seam.
public protocol PlatformClient: AnyObject, Sendable {
  /// The processor loop of simulated processor `index`; runs on that processor's thread until
  /// `Platform.isStopping` becomes true.
  func runProcessor(_ index: Int)
  /// `stop()` abandoned processor `index`: it was still running (inside a callback that does
  /// not return) when the shutdown grace period ran out. Called on the stopping thread while
  /// that processor does not run (simulated) or spins where it is (live; or its thread stays
  /// parked while the host thread it is lent to does not end the loan).
  func processorAbandoned(_ index: Int)
  /// How long (platform ns) `stop()` lets processors leave their loops before it abandons
  /// those still running.
  var shutdownGraceNanoseconds: UInt64 { get }
}

extension PlatformClient {
  public func processorAbandoned(_ index: Int) {}
  public var shutdownGraceNanoseconds: UInt64 { 1_000_000_000 }
}

/// The seam through which the runtime gets processors, parking and waking, the clock and
/// timer expiry. Nothing else in swift-storport touches threads, Dispatch or clocks.
///
/// Two implementations exist: ``LivePlatform`` (OS threads, futexes, a timer thread) and
/// ``SimulatedPlatform`` (one processor at a time, a seeded scheduler, virtual time).
///
/// Guarantees every implementation gives:
/// * `now()` is monotonic (never goes back);
/// * a timer armed for deadline `d` fires at a time `t ≥ d`, exactly once;
/// * `wake(p)` after work was queued for `p` makes `p` run its loop again (no lost wake-ups);
/// * one thread at a time runs a processor's work: its own, or a host thread it is lent to
///   (`lend`), never both — a `wake` during a loan is delivered when the loan ends.
public protocol Platform: AnyObject, Sendable {
  /// Number of simulated processors.
  var processorCount: Int { get }
  /// True for the deterministic simulation. A hint, never semantics: the runtime may skip
  /// calls that do nothing on a live platform (scheduling points, lock signals, waking the
  /// processor that is posting to itself) and choose diagnostics by it; what a miniport
  /// observes never depends on it.
  var isSimulated: Bool { get }
  /// True when at most one thread — one processor, or the controlling thread between runs —
  /// executes at any moment, the hand-offs ordering everything (the simulated platform's
  /// guarantee, asserted there). The runtime then skips locks that only guard against
  /// threads running at the same time (the tracer's per-processor buffers).
  var runsOneThreadAtATime: Bool { get }
  /// True once `stop()` was called: processor loops must return.
  var isStopping: Bool { get }
  /// Monotonic platform time (virtual on the simulated platform).
  func now() -> PlatformTime
  /// A cheaper `now()` of coarse resolution (milliseconds), for watchdogs that measure
  /// callbacks in hundreds of milliseconds. Never ahead of `now()`.
  func coarseNow() -> PlatformTime
  /// Resolution of `now()` and of timer expiry, in nanoseconds.
  var timerResolutionNanoseconds: UInt64 { get }
  /// Starts the processors; each runs `client.runProcessor(i)`.
  func start(_ client: PlatformClient)
  /// Stops all processors and the timer service; returns when their loops have returned.
  func stop()
  /// Work was queued for processor `p`: make sure it runs its loop again.
  func wake(_ p: Int)
  /// Processor `p` found no work: park (or poll) until `wake(p)` or stop. `hasWork` (the
  /// processor's own queue, read on its thread) says when to look no longer: a live platform
  /// asks it while it spins and before it parks; the simulated one schedules by `wake` alone.
  func idle(_ p: Int, hasWork: () -> Bool)
  /// A scheduling point on processor `p` (simulated: the scheduler may switch processors).
  func schedulingPoint(_ p: Int, _ point: SchedulingPoint)
  /// Processor `p` must wait for `resource` (a contended lock, a channel token, …) to change;
  /// returns when it may try again. `attempt` counts the tries so far. Live: a pause
  /// instruction, and now and then the core given away (the holder may be a descheduled
  /// thread). Simulated: blocks `p` until `signal(resource)`.
  func wait(_ p: Int, on resource: ObjectIdentifier, attempt: Int)
  /// `resource` changed (a lock was released): waiters may try again.
  func signal(_ resource: ObjectIdentifier)
  /// Processor `p` polls for a condition that other processors or timers will make true.
  /// Simulated: lets time advance when only pollers are left.
  func poll(_ p: Int)
  /// Busy-waits for `nanoseconds` on processor `p` (StorPortStallExecution).
  func stall(_ p: Int, nanoseconds: UInt64)
  /// Arms a one-shot timer: `target.fire(cookie:)` at or after `deadline`. `processor` is the
  /// processor that will run the expiry, if one will: the live platform wakes it just before
  /// the deadline so it is spinning, not parked, when the timer fires.
  func arm(deadline: PlatformTime, target: PlatformTimerTarget, cookie: UInt64, processor: ProcessorIndex?)
  /// Called by processors between work items: fires timers that are due (live: so a busy
  /// processor never waits for the timer thread to be scheduled — the clock interrupt of the
  /// real system preempts everything). Simulated: nothing (the scheduler fires timers).
  func pollTimers()

  /// A placement a real machine varies (which processor a submitted request, a DPC or an
  /// interrupt goes to): an index in `0..<count`. Live, always `defaultIndex` (what the
  /// runtime does); simulated, the scheduling strategy's choice, recorded with the schedule.
  func choose(_ kind: ChoiceKind, count: Int, default defaultIndex: Int) -> Int

  /// Whether every StorPort service call is a scheduling point (the explorer's strategies;
  /// false live and for the plain seeded random walk).
  var schedulesServiceCalls: Bool { get }
  /// Whether ``choose(_:count:default:)`` may return anything but the default (the explorer's
  /// strategies): when false the runtime does not ask.
  var variesPlacements: Bool { get }

  /// Lets the processors run for `nanoseconds` of platform time, from the controlling thread:
  /// simulated, drives the simulation through that much virtual time (or until nothing can
  /// happen any more); live, sleeps.
  func run(for nanoseconds: UInt64) -> SimulationOutcome

  /// Runs until `condition` holds or `timeout` nanoseconds pass (virtual when simulated; live,
  /// the condition is looked at after pauses growing from 50 µs to 2 ms, so it may be seen up
  /// to one pause late and should stay true once true). Returns whether it holds.
  func run(forAtMost timeout: UInt64, until condition: @escaping () -> Bool) -> Bool

  /// Lends processor `p` (0 ≤ p < processorCount) to the calling host thread when `p` is
  /// parked: true, and `p`'s own thread stays parked until ``endLoan(_:)`` — the caller runs
  /// `p`'s work meanwhile. False when `p` is running or spinning, the platform is stopping, or
  /// it never lends (the simulated platform; live processors that poll).
  func lend(_ p: Int) -> Bool
  /// Ends a loan ``lend(_:)`` granted: `p` is parked again, or its thread woken now if a
  /// `wake(p)` came during the loan.
  func endLoan(_ p: Int)
}

extension Platform {
  public func lend(_ p: Int) -> Bool { false }
  public func endLoan(_ p: Int) {}
  public func pollTimers() {}
  public func choose(_ kind: ChoiceKind, count: Int, default defaultIndex: Int) -> Int { defaultIndex }
  public var schedulesServiceCalls: Bool { false }
  public var variesPlacements: Bool { false }
}
