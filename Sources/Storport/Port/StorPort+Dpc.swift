extension StorPort {
  /// `StorPortInitializeDpc(DeviceExtension, Dpc, HwDpcRoutine)`: binds a STOR_DPC to its
  /// routine. Allowed from HwStorFindAdapter onward at IRQL ≤ DISPATCH (D9), and in
  /// HwStorInitialize although it runs at DIRQL (R-D2's policy; D9's IRQL bound would otherwise
  /// forbid the call site the HwStorInitialize page recommends). Re-initialising a queued or
  /// running DPC is reported and ignored (R-D4).
  public func initializeDpc<E>(_ dpc: StorDpc, _ routine: HwDpcRoutine<E>) {
    guard let p = serviceContext("StorPortInitializeDpc") else { return }
    if p.irql > .dispatch && p.currentFrame?.role != .initialize {
      violation(.wrongIrqlForRoutine, on: p, "StorPortInitializeDpc at \(p.irql); it needs ≤ DISPATCH_LEVEL")
      return
    }
    guard matchesExtension(E.self, routine.name, on: p) else { return }
    if dpc.isInitialized && dpc.isBusy {
      violation(
        .dpcReinitializedWhileQueued, on: p,
        "StorPortInitializeDpc on \(dpc.routineName) while it is queued or running")
      return
    }
    let first = !dpc.isInitialized
    dpc.routine = routine.erased
    dpc.adapterRef = Unmanaged.passUnretained(self)
    if first {
      dpc.traceNumber = lifecycle.dpcs.withLock {
        $0.append(dpc)
        return UInt32($0.count)
      }
    }
    trace(on: p, .dpcInitialize, routine.erased.traceName, object: dpc.traceNumber)
  }

  /// `StorPortIssueDpc(DeviceExtension, Dpc, SystemArgument1, SystemArgument2)`.
  ///
  /// Returns true if the DPC was queued (idle → queued, on the calling processor — D8) or will
  /// run once more after its current run (running → running+requeued); false if it was already
  /// queued, in which case these arguments are dropped (rules 28–31, D2). Accepted at any IRQL
  /// (rule 36). An uninitialised STOR_DPC or a stopped adapter is reported and returns false.
  @discardableResult
  public func issueDpc(_ dpc: StorDpc, _ argument1: UInt = 0, _ argument2: UInt = 0) -> Bool {
    withServiceContext("StorPortIssueDpc", orElse: false) { p in issueDpc(dpc, argument1, argument2, on: p) }
  }

  private func issueDpc(_ dpc: StorDpc, _ argument1: UInt, _ argument2: UInt, on p: Processor) -> Bool {
    guard dpc.isInitialized, let owner = dpc.adapterRef else {
      violation(
        .dpcNotInitialized, on: p,
        "StorPortIssueDpc on a STOR_DPC that StorPortInitializeDpc never initialised")
      return false
    }
    guard owner.toOpaque() == Unmanaged.passUnretained(self).toOpaque() else {
      violation(
        .objectOfAnotherAdapter, on: p,
        "StorPortIssueDpc(\(dpc.routineName)) through adapter \(index) on a STOR_DPC of adapter \(owner.takeUnretainedValue().index)"
      )
      return false
    }
    if !acceptsCallbacks {
      violation(.useAfterStop, on: p, "StorPortIssueDpc(\(dpc.routineName)) on an adapter that is \(state)")
      return false
    }
    // The queueing is a scheduling point (already taken at service entry when every service
    // call is one).
    if !p.servicePoints { p.point(.dpcQueue) }
    // Where the DPC runs: the issuing processor, unless the platform redirects it (a real
    // system may run a DPC on another processor; the explorer tries that).
    // Only an issue that will queue a run asks: a refused or re-run issue places nothing.
    let n = processorCount
    var target = p.index
    if variesPlacements && n > 1 && dpc.state.withLock({ $0.phase == .idle }) {
      target = platform.choose(.dpcProcessor, count: n, default: p.index)
    }
    p.raceDetector?.release(p.index, SyncObject(dpc))
    let decision = dpc.state.withLock { $0.issue(argument1, argument2, on: target) }
    if case .post(let generation) = decision {
      post(.dpc(Unmanaged.passUnretained(dpc), generation: generation), to: target)
    }
    let queued = decision != .refused
    trace(
      on: p, .dpcIssue, dpc.routineTraceName, a: queued ? 1 : 0, b: UInt64(argument1), object: dpc.traceNumber
    )
    return queued
  }

  /// Runs a posted DPC (HwStorDpcRoutine at DISPATCH_LEVEL, no lock held, D2/D3) if it is
  /// still the queued run, and posts its next run if it was issued while running.
  func runDpc(_ dpc: StorDpc, on p: Processor, generation: UInt64) {
    guard let box = dpc.routineRef, let (a1, a2) = dpc.state.withLock({ $0.beginRun(generation) }) else {
      return
    }
    box._withUnsafeGuaranteedRef { run(dpc, $0.routine, a1, a2, on: p) }
  }

  @inline(__always)
  private func run(
    _ dpc: StorDpc, _ routine: borrowing ErasedDpcRoutine, _ a1: UInt, _ a2: UInt, on p: Processor
  ) {
    var result = false
    let ran: Void? = call(
      .dpc, routine.traceName, on: p,
      admit: {
        p.raceDetector?.acquire(p.index, SyncObject(dpc))
        trace(on: p, .dpcStart, routine.traceName, a: UInt64(a1), b: UInt64(a2), object: dpc.traceNumber)
        return true
      }
    ) { result = withExtension { routine.call(dpc, $0, a1, a2) } }
    if ran != nil {
      trace(on: p, .dpcEnd, routine.traceName, a: result ? 1 : 0, object: dpc.traceNumber)
      // One run at a time (D2; the state's lock orders one run's end before the next's
      // start): a single writer, so no locked add.
      dpc.runs.store(dpc.runs.load(ordering: .relaxed) &+ 1, ordering: .relaxed)
    } else {
      trace(on: p, .dpcDropped, routine.traceName, object: dpc.traceNumber)
    }
    // This run → the next run of the same STOR_DPC, wherever it runs (D2: they never overlap).
    p.raceDetector?.release(p.index, SyncObject(dpc))
    let requeueAllowed = acceptsCallbacks
    if let next = dpc.state.withLock({ $0.endRun(requeueAllowed: requeueAllowed) }) {
      post(.dpc(Unmanaged.passUnretained(dpc), generation: next.generation), to: next.processor)
    }
  }

  /// `StorPortCancelDpc(HwDeviceExtension, Dpc, ReturnValue)`: SUCCESS with `*returnValue`
  /// true if a pending run was removed (rule 38), false if the DPC was idle or running (39);
  /// INVALID_PARAMETER for a NULL DPC or result pointer (40).
  public func cancelDpc(_ dpc: StorDpc?, _ returnValue: UnsafeMutablePointer<Bool>?) -> StorStatus {
    guard let dpc, let returnValue else { return .invalidParameter }
    let p = Processor.current
    if let p { p.point(.dpcQueue) }
    let removed = dpc.state.withLock { $0.cancel() }
    returnValue.pointee = removed
    trace(on: p, .dpcCancel, dpc.routineTraceName, a: removed ? 1 : 0, object: dpc.traceNumber)
    return .success
  }

  /// Convenience form of `cancelDpc`: the `*ReturnValue`, or nil for INVALID_PARAMETER.
  public func cancelDpc(_ dpc: StorDpc) -> Bool {
    var removed = false
    _ = cancelDpc(dpc, &removed)
    return removed
  }

  /// Drops every queued run of this adapter's DPCs (stop, D13).
  func discardQueuedDpcs() {
    for dpc in lifecycle.dpcs.withLock({ $0 }) { _ = dpc.state.withLock { $0.cancel() } }
  }
}

extension StorPort {
  /// A role-typed routine must be declared for this adapter's device extension type; calling
  /// it with another type would be undefined, so it is reported and refused.
  func matchesExtension<E: DeviceExtension>(_ type: E.Type, _ routine: String, on p: Processor?) -> Bool {
    if ObjectIdentifier(type) == entry.extensionType {
      return true
    }
    violation(
      .routineExtensionMismatch, on: p,
      "\(routine) is declared for \(type) but the adapter's extension is \(Swift.type(of: deviceExtension))")
    return false
  }
}
