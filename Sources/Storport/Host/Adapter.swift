/// The host's face of one adapter: what the owner of the machine does with it — start, stop,
/// restart and remove it, submit requests, ask for a bus reset, read its state and statistics.
/// ``StorportRuntime/attach(_:)`` returns it (the StorPortInitialize path). A miniport never
/// sees this type: its face is ``StorPort`` (the StorPort* services); a device model's is
/// ``DeviceLink`` (``device``).
public final class Adapter: Sendable {
  /// The implementation (the miniport face), owned by the runtime.
  let port: StorPort
  /// The miniport's device extension: owned here (the runtime keeps every adapter for its
  /// whole life), holding its port.
  let deviceExtensionOwner: DeviceExtension

  init(_ port: StorPort) {
    self.port = port
    deviceExtensionOwner = port.allocateExtension()
  }

  /// Adapter number, in attach order.
  public var index: Int { port.index }
  /// The miniport's name (``MiniportInitializationData/name``).
  public var name: String { port.name }
  /// The current lifecycle state.
  public var state: AdapterState { port.state }
  /// What HwStorFindAdapter set (valid once the adapter started).
  public var configuration: PortConfiguration { port.configuration }
  public var isHalfDuplex: Bool { port.isHalfDuplex }
  public var isVirtual: Bool { port.isVirtual }
  /// Concurrent StartIo channels in force (STOR_PERF_CONCURRENT_CHANNELS), 0 or 1 without.
  public var concurrentChannels: Int { port.concurrentChannels }
  /// The perf options StorPortInitializePerfOpts enabled.
  public var perfOptions: StorPerfFlags { port.perfOptions }
  /// What ScsiQuerySupportedControlTypes reported.
  public var supportedControlTypes: Set<AdapterControlType> { port.supportedControlTypes }
  public var statistics: AdapterStatistics { port.statistics }
  /// True while StorPortPause is in force.
  public var isPaused: Bool { port.isPaused }
  /// True if a RequestTimerCall is armed and not yet delivered.
  public var isAdapterTimerPending: Bool { port.isAdapterTimerPending }
  /// Bus resets the port's request timeout caused (R-N11).
  public var timeoutResets: Int { port.timeoutResets }
  /// True once ``remove()`` has released the device extension.
  public var isExtensionReleased: Bool { port.isExtensionReleased }

  /// The device extension, typed (for hosts and tests that inspect the miniport's state).
  public func deviceExtension<E: DeviceExtension>(as type: E.Type) -> E { port.deviceExtension(as: type) }

  /// Starts the adapter (the StorPortInitialize / IRP_MN_START_DEVICE path) as PASSIVE work on
  /// processor 0: HwStorFindAdapter → connect interrupts → HwStorInitialize (DIRQL, Interrupt
  /// lock) → HwStorPassiveInitializeRoutine (if enabled) →
  /// HwStorAdapterControl(ScsiQuerySupportedControlTypes) → I/O (rule 64). Returns at once;
  /// ``state`` becomes `.running`, or `.failed` if a step said no.
  public func start() { port.start() }

  /// Stops the adapter (PnP stop, D12–D13, R-Y4..R-Y9): holds new I/O, waits for outstanding
  /// requests, flushes, calls HwStorAdapterControl(ScsiStopAdapter), cancels timers and queued
  /// DPCs and waits for running callbacks. After it, no HwStorTimer, HW_TIMER_EX, DPC routine
  /// or StartIo starts until ``restart()`` (rule 68).
  public func stop() { port.stop() }

  /// Restarts a stopped adapter: ScsiRestartAdapter if the miniport supports it, else
  /// HwStorFindAdapter + HwStorInitialize again (R-Y6); the device extension is kept (rule 70).
  public func restart() { port.restart() }

  /// Removes the adapter: stops it if needed, fails queued requests with SRB_STATUS_NO_DEVICE,
  /// frees extended timers left allocated (with a warning, D13 e), and waits for running timer
  /// and DPC callbacks before releasing the device extension (rule 69).
  public func remove() { port.remove() }

  /// A bus reset, as the port asks after a request timeout (R-N11): HwStorResetBus at DISPATCH
  /// with the StartIo lock and every channel token held.
  public func resetBus(pathId: UInt32 = 0) { port.resetBus(pathId: pathId) }

  /// Tells the miniport about a unit event (PnP start/remove, power, usage) through
  /// HwStorUnitControl, at PASSIVE_LEVEL on processor 0, if its answer to
  /// `.querySupportedUnitControlTypes` lists `type`. `completion` gets the miniport's status, or
  /// nil when the type is not supported or the adapter is not running (the call was not made).
  public func unitControl(
    _ type: UnitControlType, _ parameters: UnitControlParameters = UnitControlParameters(),
    completion: (@Sendable (UnitControlStatus?) -> Void)? = nil
  ) {
    port.unitControl(type, parameters, completion: completion)
  }

  /// Submits a request, from any thread: BuildIo → StartIo → RequestComplete when the adapter
  /// is running and neither paused nor busy (rules 57, 73, 74). `completion` runs on the
  /// completing processor, inside the miniport's completion context; keep it short.
  public func submit(_ request: StorRequest, completion: (@Sendable (StorRequest) -> Void)? = nil) {
    port.submit(request, completion: completion)
  }

  /// Runs `body` — host code that submits requests, such as a network front end's command —
  /// on a parked processor lent to the calling thread, then that processor's queued work (the
  /// requests' HwStorBuildIo and HwStorStartIo, the interrupts and DPCs a device completing at
  /// once raises on it, their completion routines): no processor thread is woken, as a request
  /// a thread on a Windows processor submits starts on that processor.
  ///
  /// * Processors are tried from `processor` (0 ≤ `processor`; modulo the count) on; the
  ///   first parked one is lent (``Platform/lend(_:)``) and every request `body` submits goes
  ///   to it. `body` runs at PASSIVE_LEVEL.
  /// * At most ``loanWorkLimit`` work items run on the caller; what is left then (or when the
  ///   platform stops) goes to the processor's own thread, woken when the loan ends.
  /// * Completion routines may run on the calling thread before this returns — while a
  ///   miniport's DPC still holds its locks: they must not block or re-enter the caller's state.
  /// * When no processor is parked, the platform does not lend (the simulated one; live
  ///   processors that poll), or the caller is a processor already, `body` just runs and its
  ///   requests go as ``submit(_:completion:)`` sends them.
  ///
  /// `body` must not wait for its own requests: their processor's thread is parked until it
  /// returns, so it would wait for ever.
  public func submitting(preferring processor: Int = 0, _ body: () -> Void) {
    port.submitting(preferring: processor, body)
  }

  /// Work items at most that one ``submitting(preferring:_:)`` runs on its caller's thread.
  public static var loanWorkLimit: Int { StorPort.loanWorkLimit }

  /// Runs `body` on processor `processor` as port work at DISPATCH_LEVEL with no lock held — a
  /// harness hook for tests and tools that need a processor context (to call port services the
  /// way a miniport's own code would).
  public func runOnProcessor(_ processor: Int = 0, _ body: @escaping @Sendable () -> Void) {
    port.runOnProcessor(processor, body)
  }

  /// How often each of the port's locks was found taken when acquired ("StartIoLock",
  /// "InterruptLock", "MSI0Lock", "Channel0", …): the evidence that the code it keeps apart
  /// was ready to run at the same time.
  public var lockContention: [String: UInt64] {
    let l = port.locks
    let all = [l.startIo, l.interrupt] + l.messages + l.channels
    return Dictionary(all.map { ($0.name, $0.contentions.load(ordering: .relaxed)) }, uniquingKeysWith: +)
  }

  /// The device's face of this adapter: what a device model (or a test playing one) uses.
  public var device: DeviceLink { DeviceLink(port: port) }
}
