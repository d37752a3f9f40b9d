extension StorPort {
  /// Starts the adapter (the StorPortInitialize / IRP_MN_START_DEVICE path) as PASSIVE work on
  /// processor 0: HwStorFindAdapter → connect interrupts → HwStorInitialize (DIRQL, Interrupt
  /// lock) → HwStorPassiveInitializeRoutine (if enabled) →
  /// HwStorAdapterControl(ScsiQuerySupportedControlTypes) → I/O (rule 64). Returns at once;
  /// `state` becomes `.running`, or `.failed` if a step said no.
  func start() {
    let s = state
    precondition(
      transition(from: .attached, to: .starting, on: nil),
      "start() on an adapter that is \(s): start() is for a newly attached adapter; use restart() after stop()"
    )
    post(to: 0, .passive { [self] in runStart(on: Processor.current!, rerunFind: true) })
  }

  private func runStart(on p: Processor, rerunFind: Bool) {
    // HwStorFindAdapter: PASSIVE, no locks.
    var cfg = PortConfiguration()
    if rerunFind {
      let result = callAlways(.findAdapter, .hwStorFindAdapter, on: p) {
        entry.findAdapter(deviceExtension, &cfg)
      }
      guard result == .found else {
        trace(on: p, .lifecycle, "FindAdapter returned \(result)")
        transition(to: .failed, on: p)
        return
      }
      if configuration.messageCount != cfg.messageCount || locks.messages.isEmpty {
        locks.messages = (0..<Int(cfg.messageCount)).map {
          SpinLock(kind: .interruptLock, name: "MSI\($0)Lock", messageId: UInt32($0))
        }
      }
      configuration = cfg
    }
    lifecycle.interruptsConnected.store(true, ordering: .releasing)
    // HwStorInitialize: DIRQL with the Interrupt lock (physical); none for virtual.
    let ok = callInitialize(on: p)
    guard ok else {
      trace(on: p, .lifecycle, "HwStorInitialize returned FALSE")
      lifecycle.interruptsConnected.store(false, ordering: .releasing)
      transition(to: .failed, on: p)
      return
    }
    lifecycle.initialized.store(true, ordering: .releasing)
    deliverPostponedTimer()
    // HwStorPassiveInitializeRoutine: PASSIVE, no locks, interrupts deliverable.
    if let routine = lifecycle.passiveRoutine {
      let passiveOk = callAlways(.passiveInitialize, TraceName(routine.name), on: p) {
        routine.call(deviceExtension)
      }
      guard passiveOk else {
        trace(on: p, .lifecycle, "passive initialization returned FALSE")
        transition(to: .failed, on: p)
        return
      }
    }
    // ScsiQuerySupportedControlTypes: PASSIVE, before the first I/O.
    var parameters = AdapterControlParameters()
    _ = callAlways(
      .adapterControl(.querySupportedControlTypes),
      TraceName("HwStorAdapterControl(ScsiQuerySupportedControlTypes)"),
      on: p
    ) {
      entry.adapterControl(deviceExtension, .querySupportedControlTypes, &parameters)
    }
    lifecycle.supportedControlTypes = parameters.supported
    guard transition(from: .starting, to: .running, on: p) else { return }  // a verifier stop during start
    schedulePump(on: p)
  }

  private func callInitialize(on p: Processor) -> Bool {
    callAlways(.initialize, .hwStorInitialize, on: p) { entry.initialize(deviceExtension) }
  }

  /// Stops the adapter (PnP stop, D12–D13, R-Y4..R-Y9) as PASSIVE work: holds new I/O, waits
  /// for outstanding requests, sends SRB_FUNCTION_FLUSH and waits for it, calls
  /// HwStorAdapterControl(ScsiStopAdapter) at DIRQL with the Interrupt lock, then cancels the
  /// RequestTimerCall timer, the extended timers and every queued DPC, disconnects interrupts,
  /// and waits for callbacks still running elsewhere. After it, no HwStorTimer, HW_TIMER_EX,
  /// DPC routine or StartIo starts until `restart()` (rule 68).
  func stop() {
    let s = state
    guard s == .running || s == .starting else { return }
    post(to: 0, .passive { [self] in runStop(on: Processor.current!) })
  }

  private func runStop(on p: Processor) {
    guard transition(from: .running, to: .stopping, on: p) else { return }
    pipeline.flow.withLock { $0.holdForStop = true }
    p.waitUntil { pipeline.flow.withLock { $0.outstanding == 0 } }
    let flush = StorRequest(function: .flush)
    flush.portInternal = true
    flush.owner.store(StorRequest.Owner.port.rawValue, ordering: .releasing)
    pipeline.flow.withLock { $0.enter(flush) }
    let old = p.raise(to: .dispatch)
    buildAndStart(flush, on: p)
    p.lower(to: old)
    p.waitUntil { flush.isCompleted || state == .failed }
    // ScsiStopAdapter at DIRQL with the Interrupt lock (D12).
    var parameters = AdapterControlParameters()
    _ = callAlways(.adapterControl(.stopAdapter), TraceName("HwStorAdapterControl(ScsiStopAdapter)"), on: p) {
      entry.adapterControl(deviceExtension, .stopAdapter, &parameters)
    }
    quiesce(on: p, newState: .stopped)
  }

  /// D13: cancel timers, drop queued DPCs and interrupts, wait for running callbacks.
  private func quiesce(on p: Processor, newState: AdapterState) {
    transition(to: newState, on: p)
    lifecycle.interruptsConnected.store(false, ordering: .releasing)
    cancelAdapterTimerForStop()
    quiesceExtendedTimers(free: false, on: p)
    discardQueuedDpcs()
    for cpu in runtime.processors {
      cpu.removeQueued { work in
        if case .interrupt(let a, _) = work {
          return a.toOpaque() == Unmanaged.passUnretained(self).toOpaque()
        }
        return false
      }
    }
    p.waitUntil { lifecycle.activeCallbacks.load(ordering: .acquiring) == 0 }
    pipeline.flow.withLock { $0.holdForStop = false }
  }

  /// Restarts a stopped adapter: ScsiRestartAdapter at DIRQL with the Interrupt lock if the
  /// miniport supports it, else HwStorFindAdapter + HwStorInitialize again (R-Y6). The device
  /// extension is kept, not re-zeroed (rule 70).
  func restart() {
    guard transition(from: .stopped, to: .starting, on: nil) else { return }
    post(
      to: 0,
      .passive { [self] in
        let p = Processor.current!
        if supportedControlTypes.contains(.restartAdapter) {
          lifecycle.interruptsConnected.store(true, ordering: .releasing)
          var parameters = AdapterControlParameters()
          let status = callAlways(
            .adapterControl(.restartAdapter), TraceName("HwStorAdapterControl(ScsiRestartAdapter)"), on: p
          ) {
            entry.adapterControl(deviceExtension, .restartAdapter, &parameters)
          }
          guard status == .success else {
            transition(to: .failed, on: p)
            return
          }
          guard transition(from: .starting, to: .running, on: p) else { return }
          schedulePump(on: p)
        } else {
          runStart(on: p, rerunFind: true)
        }
      })
  }

  /// Removes the adapter: stops it if needed, fails queued requests with SRB_STATUS_NO_DEVICE,
  /// frees extended timers the miniport left (with a warning, D13 e), and waits for running
  /// timer and DPC callbacks before releasing the device extension (rule 69).
  func remove() {
    post(
      to: 0,
      .passive { [self] in
        let p = Processor.current!
        if state == .running { runStop(on: p) }
        quiesce(on: p, newState: .removed)
        quiesceExtendedTimers(free: true, on: p)
        let queued = pipeline.flow.withLock { f -> [StorRequest] in
          var out: [StorRequest] = []
          while let r = f.queue.popFirst() { out.append(r) }
          return out
        }
        for r in queued { completeByPort(r, .noDevice, on: p) }
        releaseContiguousMemory()
        trace(on: p, .lifecycle, "device extension released")
        lifecycle.extensionReleased.store(true, ordering: .releasing)
      })
  }

  /// True once remove() has released the device extension.
  var isExtensionReleased: Bool { lifecycle.extensionReleased.load(ordering: .acquiring) }

  /// Asks for a bus reset, as the port does after a request timeout (R-N11): pauses
  /// dispatch, calls HwStorResetBus at DISPATCH with the StartIo lock and every channel token
  /// (half duplex: + Interrupt lock), then resumes.
  func resetBus(pathId: UInt32 = 0) {
    post(
      to: 0,
      .port { [self] in
        let p = Processor.current!
        guard acceptsCallbacks else { return }
        let wasPaused = pipeline.flow.withLock { f -> Bool in
          let was = f.paused
          f.paused = true
          return was
        }
        call(.resetBus, .hwStorResetBus, on: p) { _ = entry.resetBus(deviceExtension, pathId) }
        if !wasPaused {
          pipeline.flow.withLock { $0.paused = false }
          schedulePump(on: p)
        }
      })
  }

  /// Runs `body` on processor `processor` as port work at DISPATCH_LEVEL, with no lock held —
  /// a harness hook for tests and tools that need a processor context (e.g. to call port
  /// services the way a miniport's own code would).
  func runOnProcessor(_ processor: Int = 0, _ body: @escaping @Sendable () -> Void) {
    post(
      to: processor,
      .port { [self] in
        let p = Processor.current!
        callAlways(.portWork, .portWork, on: p) { body() }
      })
  }
}

extension StorPort {
  /// HwStorUnitControl for `type` (see ``Adapter/unitControl(_:_:completion:)``): the supported
  /// types are asked once, then only those are sent.
  func unitControl(
    _ type: UnitControlType, _ parameters: UnitControlParameters,
    completion: (@Sendable (UnitControlStatus?) -> Void)?
  ) {
    post(
      to: 0,
      .passive { [self] in
        guard let p = Processor.current else { return }
        let supported = supportedUnitControlTypes(on: p)
        guard type == .querySupportedUnitControlTypes || supported.contains(type) else {
          completion?(nil)
          return
        }
        var params = parameters
        let status = call(.unitControl, .hwStorUnitControl, on: p) {
          entry.unitControl(deviceExtension, type, &params)
        }
        completion?(status)
      })
  }

  private func supportedUnitControlTypes(on p: Processor) -> Set<UnitControlType> {
    if let known = lifecycle.supportedUnitControlTypes.withLock({ $0 }) { return known }
    var params = UnitControlParameters()
    let answered = call(.unitControl, .hwStorUnitControl, on: p) {
      entry.unitControl(deviceExtension, .querySupportedUnitControlTypes, &params)
    }
    guard answered != nil else { return [] }
    lifecycle.supportedUnitControlTypes.withLock { $0 = params.supported }
    return params.supported
  }
}
