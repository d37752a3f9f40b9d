import Synchronization

/// The Storport runtime: the processors, the verifier, the tracer and the adapters, on one
/// platform. Create it, attach miniports, `start()` it, start the adapters; `shutdown()` at
/// the end.
///
///     let runtime = StorportRuntime(platform: SimulatedPlatform(processors: 2, seed: 7))
///     let adapter = runtime.attach(MyMiniport())
///     runtime.start()
///     adapter.start()
///     runtime.run(forMilliseconds: 100)   // simulated: virtual time
public final class StorportRuntime: PlatformClient, @unchecked Sendable {
  public let platform: Platform
  public let verifier: Verifier
  public let tracer: Tracer
  public let timerResolution: TimerResolution
  /// Extended-timer limit per adapter (D10): nil = none; 4 emulates pre-Windows 8.
  public let extendedTimerLimit: Int?
  /// The watchdog's limits (checked mode).
  public let watchdog: WatchdogLimits
  /// The happens-before race detector over ``Tracked`` miniport state (nil: not running).
  public let raceDetector: RaceDetector?
  private(set) var processors: [Processor] = []
  /// The processors by index, unmanaged (`processors` keeps them): handing work to one costs
  /// no reference count. Set once in init, freed in deinit.
  @exclusivity(unchecked) private(set) var processorTable = UnsafeMutableBufferPointer<Unmanaged<Processor>>(
    start: nil, count: 0)
  private let adapterList = Locked<[Adapter]>([])
  private let started = Atomic<Bool>(false)

  /// - Parameters:
  ///   - platform: ``LivePlatform`` or ``SimulatedPlatform``.
  ///   - verifier: checked (default, stops an adapter on a violation) or unchecked.
  ///   - trace: `.ring` (default, for verifier reports), `.full` (for `--trace`), or `.off`.
  ///   - timerResolution: D11; `.host` by default.
  ///   - extendedTimerLimit: D10.
  ///   - watchdog: the watchdog's limits; nil: ``WatchdogLimits/simulated`` or
  ///     ``WatchdogLimits/live`` after the platform.
  ///   - raceDetection: run a ``RaceDetector`` over ``Tracked`` state (a platform that runs one
  ///     thread at a time only — the simulated one).
  ///   - onReport: called for every verifier report, on the reporting thread.
  public init(
    platform: Platform, verifier: VerifierMode = .default, trace: TraceMode = .reportRing,
    timerResolution: TimerResolution = .host, extendedTimerLimit: Int? = nil,
    watchdog: WatchdogLimits? = nil, raceDetection: Bool = false,
    onReport: (@Sendable (VerifierViolation) -> Void)? = nil
  ) {
    precondition(
      !raceDetection || platform.runsOneThreadAtATime,
      "race detection needs a platform that runs one thread at a time (SimulatedPlatform)")
    raceDetector = raceDetection ? RaceDetector(processors: platform.processorCount) : nil
    self.platform = platform
    self.watchdog = watchdog ?? (platform.isSimulated ? .simulated : .live)
    self.verifier = Verifier(mode: verifier, onReport: onReport)
    tracer = Tracer(mode: trace, processors: platform.processorCount, serial: platform.runsOneThreadAtATime)
    self.timerResolution = timerResolution
    self.extendedTimerLimit = extendedTimerLimit
    processors = (0..<platform.processorCount).map {
      Processor(index: $0, runtime: self, platform: platform)
    }
    processorTable = .allocate(capacity: processors.count)
    _ = processorTable.initialize(from: processors.lazy.map { Unmanaged.passUnretained($0) })
  }

  deinit { processorTable.deallocate() }

  /// Each processor's execution context — current callback, IRQL, locks held — as the
  /// controlling thread sees it between simulated runs (the explorer's failure reports).
  /// Simulated platform only: live processors change their contexts as they run.
  public func processorSnapshots() -> [ProcessorSnapshot] {
    precondition(platform.runsOneThreadAtATime, "processor snapshots need the simulated platform")
    return processors.map { p in
      ProcessorSnapshot(
        processor: p.index, callback: p.currentFrame == nil ? nil : p.callbackDescription, irql: p.irql,
        locks: p.heldDescription)
    }
  }

  /// How many processors are inside a miniport callback (or port work) right now — read by
  /// the controlling thread between simulated runs, or inside a stop condition.
  /// Simulated platform only.
  public var processorsInCallbacks: Int {
    precondition(platform.runsOneThreadAtATime, "processorsInCallbacks needs the simulated platform")
    return processors.reduce(0) { $0 + ($1.currentFrame == nil ? 0 : 1) }
  }

  /// Keeps this runtime alive for the life of the process: a simulation whose processors were
  /// abandoned (deadlocked, stuck in a callback) still has parked threads pointing into it.
  public func keepForever() { Self.keptForever.withLock { $0.append(self) } }
  private static let keptForever = Locked<[StorportRuntime]>([])

  /// Race detection: the host (the controlling thread) saw `request` completed — the
  /// completion → initiator edge. Call it between runs, for each completion observed.
  public func hostObservedCompletion(of request: StorRequest) {
    guard let d = raceDetector else { return }
    d.acquire(d.controller, SyncObject(request))
  }

  /// Race detection: the host saw `adapter` in its current state (started, stopped, …).
  public func hostObservedState(of adapter: Adapter) {
    guard let d = raceDetector else { return }
    d.acquire(d.controller, adapter.port.lifecycleSyncObject)
  }

  /// The simulated platform, when that is what runs.
  public var simulation: SimulatedPlatform? { platform as? SimulatedPlatform }

  /// `StorPortInitialize` analog: registers a miniport and creates its adapter (and its
  /// zero-initialised device extension). Start it with `adapter.start()`.
  @discardableResult
  public func attach<M: Miniport>(_ miniport: M) -> Adapter {
    adapterList.withLock { list in
      let a = Adapter(StorPort(index: list.count, runtime: self, entry: TypedMiniportEntry(miniport)))
      list.append(a)
      return a
    }
  }

  public var adapters: [Adapter] { adapterList.withLock { $0 } }

  /// Starts the processors (and, live, the timer thread).
  public func start() {
    guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
    platform.start(self)
  }

  /// Stops the processors. Simulated: runs them until they return.
  public func shutdown() {
    guard started.load(ordering: .acquiring) else { return }
    platform.stop()
  }

  // MARK: PlatformClient

  public func runProcessor(_ index: Int) { processors[index].run() }

  /// The platform gave up on processor `index` at shutdown: it did not leave the callback it is
  /// in within the grace period. Reported (CALLBACK_STUCK) against that callback's adapter;
  /// the processor's thread is left where it is, never waited on.
  public var shutdownGraceNanoseconds: UInt64 { watchdog.shutdownGrace }

  public func processorAbandoned(_ index: Int) {
    processors[index].reportStuck()
  }

  // MARK: Driving

  /// Platform time now (ns).
  public var now: UInt64 { platform.now().nanoseconds }

  /// Lets the runtime run for `nanoseconds`: virtual time on the simulated platform, wall time
  /// (the calling thread sleeps) on the live one.
  @discardableResult
  public func run(forNanoseconds nanoseconds: UInt64) -> SimulationOutcome { platform.run(for: nanoseconds) }

  @discardableResult
  public func run(forMilliseconds ms: UInt64) -> SimulationOutcome {
    run(forNanoseconds: ms * 1_000_000)
  }

  /// Runs until `condition` holds or `timeoutNanoseconds` pass (virtual time when simulated;
  /// wall time live, the condition looked at after pauses growing from 50 µs to 2 ms — see
  /// `LivePlatform.run(forAtMost:until:)`). Returns whether the condition holds.
  @discardableResult
  public func runUntil(
    timeoutNanoseconds: UInt64 = 10_000_000_000, _ condition: @escaping () -> Bool
  ) -> Bool {
    platform.run(forAtMost: timeoutNanoseconds, until: condition)
  }

  /// Simulated: runs until nothing can happen any more (all idle, no timers).
  @discardableResult
  public func runUntilQuiescent() -> SimulationOutcome {
    guard let sim = simulation else { return .quiescent }
    return sim.run()
  }

  /// Per-processor (acquired, contended) port spin-lock counts.
  public var lockCounts: [(acquired: UInt64, contended: UInt64)] { processors.map(\.lockCounts) }

  /// Per-processor callback counts, indexed `[processor][role]`.
  public var callbackCounts: [[UInt64]] { processors.map(\.callbackCounts) }
}
