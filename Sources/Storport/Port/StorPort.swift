import CStorportShim
import Synchronization

/// The miniport's face of one adapter: the StorPort* services, reached from a callback as
/// `ext.port` (as StorPort routines are reached from `HwDeviceExtension`). It is also, inside
/// this module, the adapter's implementation — it owns the device extension, the port locks,
/// the adapter timer, extended timers, DPC registry, perf options and the request pipeline —
/// but what a miniport can call on it is only what a driver can call on Storport: the host's
/// operations (start, stop, submit, …) are on ``Adapter``, the device's (raise an interrupt)
/// on ``DeviceLink``.
///
/// Every service reads the calling processor's execution context (IRQL, locks, callback) and,
/// in checked mode, reports misuse as a ``VerifierViolation`` instead of crashing.
public final class StorPort: @unchecked Sendable {
  /// Adapter number in attach order.
  let index: Int
  let name: String
  /// The runtime owns this object and outlives it (it is shut down, not released, first).
  unowned(unsafe) let runtime: StorportRuntime
  let entry: MiniportEntry
  /// The miniport's extension, allocated by ``allocateExtension()`` right after this object
  /// and owned by the ``Adapter`` (the extension holds this port strongly; holding it back
  /// would be a cycle). Read through ``withExtension`` on hot paths: no reference count.
  @exclusivity(unchecked) private var extensionRef: Unmanaged<DeviceExtension>?
  var deviceExtension: DeviceExtension { extensionRef.unsafelyUnwrapped.takeUnretainedValue() }
  /// The runtime's platform and tracer, held here as constants: reading a constant of this
  /// object costs no reference count, while reaching them through the unowned `runtime` does
  /// (an atomic on an object every processor shares). Neither refers back to the adapter.
  let platform: Platform
  let tracer: Tracer
  /// The runtime's processors by index, unmanaged (the runtime keeps them and outlives this
  /// object): handing work to one costs no reference count.
  let processorTable: UnsafeMutableBufferPointer<Unmanaged<Processor>>
  /// Checked mode (fixed at creation).
  let checked: Bool
  /// Whether the runtime records a trace (fixed at creation): lets `trace` return before
  /// touching the runtime.
  let tracing: Bool

  /// What HwStorFindAdapter set (valid once the adapter started). Written only while the
  /// adapter starts, before any I/O: read without a lock (and without exclusivity checks).
  @exclusivity(unchecked) var configuration = PortConfiguration()
  var isHalfDuplex: Bool { configuration.synchronizationModel == .halfDuplex }
  var isVirtual: Bool { entry.data.isVirtual }

  // The adapter's state, in parts (each in its own file under Port/Parts and Pipeline/).
  let locks = PortLocks()
  let lifecycle = AdapterLifecycle()
  let timer = AdapterTimer()
  let extendedTimers = ExtendedTimers()
  let pipeline = RequestPipeline()
  let workItems = WorkItems()
  let contiguousMemory = Locked<[UInt: Int]>([:])
  /// Data buffers the device model is working on (checked mode; see DeviceLink.take). Touched
  /// only by code on the platform's threads: no lock when the platform runs one at a time.
  let deviceBuffers = DeviceOwnedBufferTable()
  let serialExecution: Bool
  /// The platform varies placements (the explorer): which processor a request, a DPC or an
  /// interrupt goes to, when in its slack a timer fires. Fixed at creation.
  let variesPlacements: Bool
  /// ``AdapterShape/packed`` while the adapter is running, 0 otherwise.
  let runningShape = Atomic<UInt64>(0)
  let counters = AdapterCounters()
  /// The perf options StorPortInitializePerfOpts enabled.
  @exclusivity(unchecked) var perfFlags: StorPerfFlags = []

  var concurrentChannels: Int { locks.channels.count }
  /// Bus resets the port's request timeout caused.
  var timeoutResets: Int { pipeline.timeouts.resets.load(ordering: .relaxed) }
  var supportedControlTypes: Set<AdapterControlType> { lifecycle.supportedControlTypes }

  init(index: Int, runtime: StorportRuntime, entry: MiniportEntry) {
    self.index = index
    self.runtime = runtime
    self.entry = entry
    checked = runtime.verifier.mode.isChecked
    tracing = runtime.tracer.isOn
    platform = runtime.platform
    tracer = runtime.tracer
    processorTable = runtime.processorTable
    serialExecution = runtime.platform.runsOneThreadAtATime
    variesPlacements = runtime.platform.variesPlacements
    name = entry.data.name
    // The platform-timer targets, created here, before the adapter is published to any
    // processor: a `lazy var` could be initialised twice by two processors racing on first
    // use (ThreadSanitizer found it).
    timer.connect(self)
    extendedTimers.connect(self)
    pipeline.connect(self)
  }

  /// Allocates the device extension (zero-initialised, `DeviceExtensionSize`): once, by the
  /// ``Adapter`` that owns it, before the adapter is published to any processor.
  func allocateExtension() -> DeviceExtension {
    precondition(extensionRef == nil, "bug in swift-storport: a second device extension for adapter \(index)")
    storport_set_allocating(Unmanaged.passUnretained(self).toOpaque())
    defer { storport_set_allocating(nil) }
    let ext = entry.makeExtension()
    precondition(ext.port === self, "bug in swift-storport: an extension bound to another port")
    extensionRef = Unmanaged.passUnretained(ext)
    return ext
  }

  /// Runs `body` with the device extension borrowed (no reference count): the callbacks'
  /// argument.
  @inline(__always)
  func withExtension<R>(_ body: (DeviceExtension) -> R) -> R {
    extensionRef.unsafelyUnwrapped._withUnsafeGuaranteedRef(body)
  }

  /// Queues `work` on processor `index` (any thread).
  @inline(__always)
  func post(_ work: Work, to index: Int) {
    processorTable[index]._withUnsafeGuaranteedRef { $0.post(work) }
  }

  /// As above, the work last (for trailing-closure work).
  @inline(__always)
  func post(to index: Int, _ work: Work) { post(work, to: index) }

  /// The current lifecycle state.
  var state: AdapterState { lifecycle.state }

  /// Moves the lifecycle from `from` (or from whatever state allows it, when nil) to `to`,
  /// and traces it; false if the adapter was not in such a state (another processor — a
  /// verifier stop — moved it first).
  @discardableResult
  func transition(from: AdapterState? = nil, to: AdapterState, on p: Processor?) -> Bool {
    let moved = from.map { lifecycle.transition(from: $0, to: to) } ?? (lifecycle.transition(to: to) != nil)
    if moved {
      // What led to this state is visible to a host that sees it (race detection).
      if let d = runtime.raceDetector { d.release(p?.index ?? d.controller, lifecycleSyncObject) }
      runningShape.store(to == .running ? currentShape.packed : 0, ordering: .relaxed)
      trace(on: p, .lifecycle, to.description)
    }
    return moved
  }

  /// The race detector's object for the adapter's state: a transition → a host that saw it.
  var lifecycleSyncObject: SyncObject { SyncObject(self, tag: 8) }

  /// The device extension, typed.
  func deviceExtension<E: DeviceExtension>(as type: E.Type) -> E {
    deviceExtension as! E
  }

  var acceptsCallbacks: Bool { lifecycle.acceptsCallbacks }
  @inline(__always) func beginCallback() -> Bool { lifecycle.beginCallback() }
  @inline(__always) func endCallback() { lifecycle.endCallback() }

  // MARK: - Context, tracing, verifier

  /// The calling processor, or nil (with a SERVICE_OUTSIDE_CALLBACK report) when a StorPort
  /// service is called from a thread that is not a simulated processor.
  ///
  /// Checked mode also refuses (nil, OBJECT_OF_ANOTHER_ADAPTER) a service of this adapter
  /// called from another adapter's callback: in C the HwDeviceExtension argument names the
  /// adapter, and passing another adapter's is the misuse.
  @inline(__always)
  func serviceContext(_ service: StaticString) -> Processor? {
    guard let p = Processor.current else {
      reportOutsideCallback(service)
      return nil
    }
    return admitService(service, on: p) ? p : nil
  }

  /// As ``serviceContext(_:)`` for hot services: runs `body` with the calling processor
  /// borrowed (no reference count), or returns `refused` when the call is not admitted.
  @inline(__always)
  func withServiceContext<R>(
    _ service: StaticString, orElse refused: @autoclosure () -> R, _ body: (Processor) -> R
  ) -> R {
    guard let current = Processor.currentUnretained else {
      reportOutsideCallback(service)
      return refused()
    }
    return current._withUnsafeGuaranteedRef { p in
      admitService(service, on: p) ? body(p) : refused()
    }
  }

  /// A service called from a callback of another adapter is refused (checked mode); every
  /// service the miniport calls is a scheduling point when the strategy asks (the explorer):
  /// other processors can run between the miniport's last look at its state and the
  /// service's effect.
  @inline(__always)
  private func admitService(_ service: StaticString, on p: Processor) -> Bool {
    if checked, let caller = p.currentAdapterIdentity, caller != Unmanaged.passUnretained(self).toOpaque(),
      p.hostCodeDepth == 0
    {
      reportOtherAdapter(service, on: p)
      return false
    }
    if p.servicePoints { p.point(.service) }
    return true
  }

  @inline(never)
  private func reportOtherAdapter(_ service: StaticString, on p: Processor) {
    let caller = p.currentFrame?.adapter
    violation(
      .objectOfAnotherAdapter, on: p,
      "\(service) of adapter \(index) called from a callback of adapter \(caller?.index ?? -1)")
  }

  @inline(never)
  private func reportOutsideCallback(_ service: StaticString) {
    violation(
      .serviceOutsideCallback, on: nil,
      "\(service) was called from a thread that is not running a miniport callback")
  }

  /// `exactTime`: read the clock even in a ring trace stamped per work item — for a violation,
  /// which must sort among the newest events its report quotes.
  @inline(__always)
  func trace(
    on p: Processor?, _ kind: TraceKind, _ name: TraceName, a: UInt64 = 0, b: UInt64 = 0,
    object: UInt32 = 0, exactTime: Bool = false
  ) {
    guard tracing else { return }
    let time = exactTime ? platform.now().nanoseconds : p?.traceTime ?? platform.now().nanoseconds
    tracer.record(
      processor: p?.processorIndex, time: time, adapter: index, kind: kind, irql: p?.irql ?? .passive,
      name: name, a: a, b: b, object: object)
  }

  /// As above for a name made on the spot (rare paths: it is interned, only when tracing).
  func trace(
    on p: Processor?, _ kind: TraceKind, _ text: @autoclosure () -> String, a: UInt64 = 0,
    b: UInt64 = 0, object: UInt32 = 0
  ) {
    guard tracing else { return }
    trace(on: p, kind, TraceName(text()), a: a, b: b, object: object)
  }

  /// Reports a routine called with an argument it does not accept (INVALID_PARAMETER): for
  /// interfaces that enter the port on a miniport's behalf (the C interface), naming the
  /// routine and the argument. Checked mode only, like every rule.
  public func reportInvalidParameter(_ message: String) {
    violation(.invalidParameter, on: Processor.current, message)
  }

  /// Reports a second `RequestComplete` of a request block whose request has since been
  /// submitted again (REQUEST_COMPLETED_TWICE, rule 72): the completion is not applied to the
  /// new submission.
  public func reportRequestCompletedTwice(_ message: String) {
    violation(.requestCompletedTwice, on: Processor.current, message)
  }

  /// Reports a failed assertion of the miniport's own (`ASSERT`, `NT_ASSERT`) with its
  /// expression and source location (MINIPORT_ASSERTION_FAILED).
  public func reportMiniportAssertion(_ message: String) {
    violation(.miniportAssertionFailed, on: Processor.current, message)
  }

  /// Reports a verifier finding; stops the adapter if the rule is a violation and the policy
  /// says so. Does nothing in unchecked mode.
  ///
  /// The finding is charged to the adapter whose miniport code made the call — the adapter of
  /// the callback running on `p` — which is not `self` when that code reached this adapter's
  /// services or objects from another adapter's callback: the offender is reported and
  /// stopped, the adapter it misused keeps running.
  func violation(_ rule: VerifierRule, on p: Processor?, _ message: String) {
    guard checked else { return }
    let offender = p.flatMap { $0.hostCodeDepth == 0 ? $0.currentFrame?.adapter : nil } ?? self
    offender.report(rule, on: p, message)
  }

  private func report(_ rule: VerifierRule, on p: Processor?, _ message: String) {
    guard checked else { return }
    let stop = !rule.isWarning && runtime.verifier.policy == .stopAdapter
    trace(on: p, rule.isWarning ? .diagnostic : .violation, rule.traceName, exactTime: true)
    let report = VerifierViolation(
      rule: rule, message: message, adapter: index, callback: p?.callbackDescription ?? "none",
      processor: p?.processorIndex, irql: p?.irql ?? .passive, locksHeld: p?.heldDescription ?? [],
      time: platform.now().nanoseconds, recentEvents: runtime.tracer.recent(16), stoppedAdapter: stop)
    runtime.verifier.record(report)
    if stop { transition(to: .failed, on: p) }
  }

  // MARK: - Statistics

  var statistics: AdapterStatistics {
    let f = pipeline.flow.withLock { ($0.outstanding, $0.queue.count) }
    return AdapterStatistics(
      completedRequests: counters.completedRequests.load(ordering: .relaxed),
      spuriousInterrupts: counters.spuriousInterrupts.load(ordering: .relaxed),
      unclaimedInterrupts: counters.unclaimedInterrupts.load(ordering: .relaxed),
      outstandingRequests: f.0, queuedRequests: f.1,
      timerLatenessNanoseconds: timer.lateness.withLock { $0.values })
  }
}
