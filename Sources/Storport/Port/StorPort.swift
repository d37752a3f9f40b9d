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
  let deviceExtension: DeviceExtension
  var platform: Platform { runtime.platform }
  /// Checked mode (fixed at creation).
  let checked: Bool
  /// Whether the runtime records a trace (fixed at creation): lets `trace` return before
  /// touching the runtime.
  let tracing: Bool

  /// What HwStorFindAdapter set (valid once the adapter started).
  var configuration = PortConfiguration()
  var isHalfDuplex: Bool { configuration.synchronizationModel == .halfDuplex }
  var isVirtual: Bool { entry.data.isVirtual }

  // Locks.
  let startIoLock = SpinLock(kind: .startIoLock, name: "StartIoLock")
  let interruptLock = SpinLock(kind: .interruptLock, name: "InterruptLock")
  var messageLocks: [SpinLock] = []
  var channelLocks: [SpinLock] = []
  let channelWaitToken = ChannelWaitToken()

  // Lifecycle.
  let stateValue = Atomic<UInt8>(AdapterState.attached.rawValue)
  let activeCallbacks = Atomic<Int>(0)
  let initializedFlag = Atomic<Bool>(false)
  let interruptsConnected = Atomic<Bool>(false)
  var passiveRoutine: (name: String, call: @Sendable (DeviceExtension) -> Bool)?
  var supportedControlTypes: Set<AdapterControlType> = []
  let dpcs = Locked<[StorDpc]>([])
  let extensionReleased = Atomic<Bool>(false)

  // Timers.
  let adapterTimer = Locked(AdapterTimerState())
  private(set) var adapterTimerTarget: AdapterTimerTarget!
  let extendedTimers = Locked<[ExtendedTimerSlot]>([])
  private(set) var extendedTimerTarget: ExtendedTimerTarget!
  let timerLateness = Locked(LatencySamples())

  // Perf options.
  var perfFlags: StorPerfFlags = []
  var concurrentChannels: Int { channelLocks.count }

  // Requests and flow control.
  let flow = Locked(FlowState())
  private(set) var pauseTarget: PauseTimeoutTarget!
  private(set) var busyRetryTarget: BusyRetryTarget!
  private(set) var requestTimeouts: RequestTimeouts!

  /// Bus resets the port's request timeout caused.
  var timeoutResets: Int { requestTimeouts.resets.load(ordering: .relaxed) }
  let submitCursor = Atomic<Int>(0)

  // Statistics.
  let spuriousInterrupts = Atomic<UInt64>(0)
  let unclaimedInterrupts = Atomic<UInt64>(0)
  let completedRequests = Atomic<UInt64>(0)

  init(index: Int, runtime: StorportRuntime, entry: MiniportEntry) {
    self.index = index
    self.runtime = runtime
    self.entry = entry
    checked = runtime.verifier.mode.isChecked
    tracing = runtime.tracer.isOn
    name = entry.data.name
    deviceExtension = entry.makeExtension()
    deviceExtension.portStorage = Unmanaged.passUnretained(self)
    // Created here, before the adapter is published to any processor: a `lazy var` could be
    // initialised twice by two processors racing on first use (ThreadSanitizer found it).
    adapterTimerTarget = AdapterTimerTarget(adapter: self)
    extendedTimerTarget = ExtendedTimerTarget(adapter: self)
    pauseTarget = PauseTimeoutTarget(adapter: self)
    busyRetryTarget = BusyRetryTarget(adapter: self)
    requestTimeouts = RequestTimeouts(adapter: self)
  }

  /// The current lifecycle state.
  var state: AdapterState { AdapterState(rawValue: stateValue.load(ordering: .acquiring))! }

  func setState(_ s: AdapterState, on p: Processor?) {
    stateValue.store(s.rawValue, ordering: .releasing)
    trace(on: p, .lifecycle, s.description)
  }

  /// The device extension, typed.
  func deviceExtension<E: DeviceExtension>(as type: E.Type) -> E {
    deviceExtension as! E
  }

  /// True while timers, DPCs and interrupts may start (starting, running, stopping).
  var acceptsCallbacks: Bool {
    let s = stateValue.load(ordering: .acquiring)
    return s == AdapterState.starting.rawValue || s == AdapterState.running.rawValue
      || s == AdapterState.stopping.rawValue
  }

  /// Registers a callback about to start; false if the adapter no longer accepts callbacks.
  /// Stop and remove wait for `activeCallbacks` to drain (D13).
  @inline(__always)
  func beginCallback() -> Bool {
    activeCallbacks.add(1, ordering: .acquiringAndReleasing)
    if acceptsCallbacks { return true }
    activeCallbacks.subtract(1, ordering: .releasing)
    return false
  }

  @inline(__always)
  func endCallback() { activeCallbacks.subtract(1, ordering: .releasing) }

  // MARK: - Context, tracing, verifier

  /// The calling processor, or nil (with a SERVICE_OUTSIDE_CALLBACK report) when a StorPort
  /// service is called from a thread that is not a simulated processor.
  @inline(__always)
  func serviceContext(_ service: StaticString) -> Processor? {
    if let p = Processor.current { return p }
    violation(
      .serviceOutsideCallback, on: nil,
      "\(service) was called from a thread that is not running a miniport callback")
    return nil
  }

  @inline(__always)
  func trace(
    on p: Processor?, _ kind: TraceKind, _ name: @autoclosure () -> String, a: UInt64 = 0,
    b: UInt64 = 0, object: UInt32 = 0
  ) {
    guard tracing else { return }
    runtime.tracer.record(
      processor: p?.index ?? -1, time: platform.now(), adapter: index, kind: kind,
      irql: p?.irql ?? .passive, name: name(), a: a, b: b, object: object)
  }

  /// Reports a verifier finding; stops the adapter if the rule is a violation and the policy
  /// says so. Does nothing in unchecked mode.
  func violation(_ rule: VerifierRule, on p: Processor?, _ message: String) {
    guard checked else { return }
    let stop = !rule.isWarning && runtime.verifier.policy == .stopAdapter
    trace(on: p, rule.isWarning ? .diagnostic : .violation, rule.rawValue)
    let report = VerifierViolation(
      rule: rule, message: message, adapter: index, callback: p?.callbackDescription ?? "none",
      processor: p?.index ?? -1, irql: p?.irql ?? .passive, locksHeld: p?.heldDescription ?? [],
      time: platform.now(), recentEvents: runtime.tracer.recent(16), stoppedAdapter: stop)
    runtime.verifier.record(report)
    if stop {
      let s = state
      if s != .removed && s != .failed { setState(.failed, on: p) }
    }
  }

  // MARK: - Statistics

  var statistics: AdapterStatistics {
    let f = flow.withLock { ($0.outstanding, $0.queue.count) }
    return AdapterStatistics(
      completedRequests: completedRequests.load(ordering: .relaxed),
      spuriousInterrupts: spuriousInterrupts.load(ordering: .relaxed),
      unclaimedInterrupts: unclaimedInterrupts.load(ordering: .relaxed),
      outstandingRequests: f.0, queuedRequests: f.1,
      timerLatenessNanoseconds: timerLateness.withLock { $0.values })
  }
}
