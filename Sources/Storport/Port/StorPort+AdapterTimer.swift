/// The one RequestTimerCall timer of an adapter (R-T5).
struct AdapterTimerState {
  var routine: ErasedTimer?
  /// Bumped by every arm and cancel; an expiry with an older value is stale (D5).
  var generation: UInt64 = 0
  var armed = false
  var deadline: UInt64 = 0
  var processor = 0
  /// Expired before HwStorInitialize returned TRUE (R-Y1): run once it has.
  var postponed = false
}

/// Receives the platform expiry of the adapter timer and queues it on the processor that
/// armed it (the timer DPC of the kernel model).
final class AdapterTimerTarget: PlatformTimerTarget, @unchecked Sendable {
  /// The adapter owns this object and outlives it.
  unowned(unsafe) let adapter: StorPort
  init(adapter: StorPort) { self.adapter = adapter }

  func fire(cookie: UInt64) {
    let target = adapter.timer.state.withLock { s -> Int? in
      s.armed && s.generation == cookie ? s.processor : nil
    }
    guard let target else { return }
    adapter.post(.adapterTimer(Unmanaged.passUnretained(adapter), generation: cookie), to: target)
  }
}

extension StorPort {
  /// `StorPortNotification(RequestTimerCall, HwDeviceExtension, HwStorTimer, MiniportTimerValue)`.
  ///
  /// Guarantees (R-T1..R-T20, D5, D7, D8, D11): `microseconds > 0` arms a one-shot call of
  /// `routine` no earlier than that many µs from now; 0 cancels (a no-op when idle); a request
  /// while one is pending replaces routine and deadline (latest wins, at most one call);
  /// re-arming from inside HwStorTimer schedules a fresh call. Above DISPATCH_LEVEL (from an
  /// ISR) the call returns at once and the arming takes effect when the IRQL drops. HwStorTimer
  /// runs at DISPATCH holding the StartIo lock (half duplex: DIRQL, StartIo + Interrupt locks),
  /// never before HwStorInitialize returned TRUE, and never after ScsiStopAdapter.
  public func requestTimerCall<E>(_ routine: HwTimer<E>?, microseconds: UInt32) {
    if let routine, !matchesExtension(E.self, routine.name, on: Processor.current) { return }
    requestTimerCall(erased: routine?.erased, microseconds: microseconds)
  }

  func requestTimerCall(erased routine: ErasedTimer?, microseconds: UInt32) {
    guard let p = serviceContext("StorPortNotification(RequestTimerCall)") else { return }
    p.raceDetector?.release(p.index, SyncObject(timer))
    let s = state
    if s == .stopped || s == .removed || s == .failed {
      violation(.useAfterStop, on: p, "RequestTimerCall on an adapter that is \(s)")
      return
    }
    if microseconds > 0 && routine == nil {
      violation(.timerRoutineMissing, on: p, "RequestTimerCall(\(microseconds) µs) with a NULL HwStorTimer")
      return
    }
    if p.irql > .dispatch {
      p.deferred.append(.adapterTimer(self, routine, microseconds: UInt64(microseconds)))
      trace(on: p, .timerDeferred, routine?.name ?? "cancel", a: UInt64(microseconds))
      return
    }
    applyRequestTimerCall(routine, microseconds: UInt64(microseconds), on: p)
  }

  func applyRequestTimerCall(_ routine: ErasedTimer?, microseconds: UInt64, on p: Processor) {
    if microseconds == 0 {
      let was = timer.state.withLock { t -> Bool in
        let was = t.armed
        t.generation &+= 1
        t.armed = false
        t.postponed = false
        return was
      }
      trace(on: p, .timerCancel, .requestTimerCall, a: was ? 1 : 0)
      return
    }
    guard let routine else { return }
    let now = platform.now().nanoseconds
    // A timer fires at or after its due time, up to a clock tick late (StorPortNotification:
    // "system timer resolution is approximately 10 milliseconds"). Where in that slack it
    // fires is the platform's choice: on time without a strategy; the explorer tries a
    // quarter, a half and three quarters of the interval (at most 10 ms) late as well.
    let interval = microseconds &* 1000
    let slack = variesPlacements ? platform.choose(.timerSlack, count: 4, default: 0) : 0
    let late = min(interval, 10_000_000) * UInt64(slack) / 4
    let deadline = runtime.timerResolution.roundUp(now &+ interval &+ late)
    let generation = timer.state.withLock { t -> UInt64 in
      t.generation &+= 1
      t.routine = routine
      t.armed = true
      t.postponed = false
      t.deadline = deadline
      t.processor = p.index
      return t.generation
    }
    trace(on: p, .timerArm, routine.name, a: microseconds, b: deadline)
    platform.arm(
      deadline: PlatformTime(nanoseconds: deadline), target: timer.target, cookie: generation,
      processor: ProcessorIndex(rawValue: p.index))
  }

  /// True if a RequestTimerCall is armed and not yet delivered.
  var isAdapterTimerPending: Bool { timer.state.withLock { $0.armed } }

  func runAdapterTimer(on p: Processor, generation: UInt64) {
    let current = timer.state.withLock { $0.armed && $0.generation == generation }
    guard current else {
      trace(on: p, .timerStale, .requestTimerCall, a: generation)
      return
    }
    guard lifecycle.initialized.load(ordering: .acquiring) else {
      timer.state.withLock { if $0.generation == generation { $0.postponed = true } }
      return
    }
    // The expiry is consumed under the StartIo lock (in `admit`), so a cancel made by a
    // StartIo-lock holder is always honoured.
    var routine: ErasedTimer? = nil
    call(
      .timer, routine?.traceName ?? .hwStorTimer, on: p,
      admit: {
        let taken = timer.state.withLock { t -> (ErasedTimer, UInt64)? in
          guard t.armed, t.generation == generation, let r = t.routine else { return nil }
          t.armed = false
          return (r, t.deadline)
        }
        guard let (r, deadline) = taken else { return false }
        p.raceDetector?.acquire(p.index, SyncObject(timer))
        let lateness = platform.now().nanoseconds &- deadline
        timer.lateness.withLock { $0.add(lateness) }
        trace(on: p, .timerFire, r.traceName, a: lateness)
        routine = r
        return true
      }
    ) { withExtension { routine!.call($0) } }
  }

  /// After HwStorInitialize returned TRUE: deliver a timer that expired before it (R-Y1).
  func deliverPostponedTimer() {
    let pending = timer.state.withLock { t -> (Int, UInt64)? in
      guard t.postponed && t.armed else { return nil }
      t.postponed = false
      return (t.processor, t.generation)
    }
    if let (cpu, generation) = pending {
      post(.adapterTimer(Unmanaged.passUnretained(self), generation: generation), to: cpu)
    }
  }

  func cancelAdapterTimerForStop() {
    timer.state.withLock {
      $0.generation &+= 1
      $0.armed = false
      $0.postponed = false
    }
  }
}
