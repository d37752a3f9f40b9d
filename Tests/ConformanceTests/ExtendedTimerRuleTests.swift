import Storport
import StorportSamples
import StorportTesting
import Testing

/// Spec §13 rules 15–27: StorPortInitializeTimer / RequestTimer / FreeTimer /
/// QueryTimerMinInterval (HW_TIMER_EX), simulated platform.
@Suite struct ExtendedTimerRuleTests {
  private func started(limit: Int? = nil) -> SimHarness {
    let h = SimHarness(extendedTimerLimit: limit)
    h.startAdapter()
    return h
  }

  /// Allocates ext.timerHandle from port work.
  private func allocate(_ h: SimHarness) -> StorStatus {
    let status = Box(StorStatus.unsuccessful)
    h.onProcessor { [ext = h.ext] in status.value = ext.port.initializeTimer(&ext.timerHandle) }
    return status.value
  }

  @Test func rule15_initializeTimerAboveDispatchIsInvalidIrql() {
    let h = started()
    let status = Box(StorStatus.success)
    h.inIsr { ext in status.value = ext.port.initializeTimer(&ext.timerHandle) }
    #expect(status.value == .invalidIrql)
    // Checked mode: a call the documentation forbids is a violation, not only a status.
    #expect(h.rules() == [.wrongIrqlForRoutine])
  }

  @Test func rule16_initializeTimerWithNullHandleIsInvalidParameter() {
    let h = started()
    let status = Box(StorStatus.success)
    h.onProcessor { [ext = h.ext] in status.value = ext.port.initializeTimer(nil) }
    #expect(status.value == .invalidParameter)
  }

  @Test func rule17_initializeTimerBeyondLimitIsUnsuccessful() {
    let h = started(limit: 4)
    let statuses = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      for _ in 0..<5 {
        var handle: StorTimerHandle?
        statuses.append(ext.port.initializeTimer(&handle))
      }
    }
    #expect(statuses.all == [.success, .success, .success, .success, .unsuccessful])
  }

  @Test func rule18_requestTimerOnIdleHandleCallsCallbackOnceWithContext() {
    let h = started()
    #expect(allocate(h) == .success)
    let calls = Observations<(Bool, UInt)>()
    let cb = HwTimerEx<ScriptedExtension>("Ex") { [ext = h.ext] e, ctx in calls.append((e === ext, ctx)) }
    let status = Box(StorStatus.unsuccessful)
    h.onProcessor { [ext = h.ext] in
      status.value = ext.port.requestTimer(ext.timerHandle, cb, context: 42, microseconds: 200)
    }
    h.run(ms: 5)
    #expect(status.value == .success)
    #expect(calls.count == 1)
    #expect(calls.all.first?.0 == true && calls.all.first?.1 == 42)
  }

  @Test func rule19_requestTimerWhilePendingIsBusyAndOriginalStays() {
    let h = started()
    _ = allocate(h)
    let calls = Observations<(String, UInt64)>()
    let first = HwTimerEx<ScriptedExtension>("First") { e, _ in
      calls.append(("First", e.port.executionContext!.time))
    }
    let second = HwTimerEx<ScriptedExtension>("Second") { e, _ in
      calls.append(("Second", e.port.executionContext!.time))
    }
    let statuses = Observations<StorStatus>()
    let armedAt = Box<UInt64>(0)
    h.onProcessor { [ext = h.ext] in
      armedAt.value = ext.port.executionContext!.time
      statuses.append(ext.port.requestTimer(ext.timerHandle, first, microseconds: 1000))
      statuses.append(ext.port.requestTimer(ext.timerHandle, second, microseconds: 50))
    }
    h.run(ms: 5)
    #expect(statuses.all == [.success, .busy])
    #expect(calls.count == 1)
    #expect(calls.all.first?.0 == "First")
    #expect((calls.all.first?.1 ?? 0) >= armedAt.value + 1_000_000)
  }

  @Test func rule20_requestTimerZeroCancelsPending() {
    let h = started()
    _ = allocate(h)
    let calls = Observations<Int>()
    let cb = HwTimerEx<ScriptedExtension>("Ex") { _, _ in calls.append(1) }
    let statuses = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      statuses.append(ext.port.requestTimer(ext.timerHandle, cb, microseconds: 500))
      statuses.append(ext.port.requestTimer(ext.timerHandle, cb, microseconds: 0))
    }
    h.run(ms: 5)
    #expect(statuses.all == [.success, .success])
    #expect(calls.count == 0)
  }

  @Test func rule21_nullCallbackOrFreedHandleIsInvalidParameter() {
    let h = started()
    _ = allocate(h)
    let statuses = Observations<StorStatus>()
    let cb = HwTimerEx<ScriptedExtension>("Ex") { _, _ in }
    h.onProcessor { [ext = h.ext] in
      statuses.append(
        ext.port.requestTimer(ext.timerHandle, nil as HwTimerEx<ScriptedExtension>?, microseconds: 10))
      statuses.append(ext.port.requestTimer(nil, cb, microseconds: 10))
      _ = ext.port.freeTimer(ext.timerHandle)
      statuses.append(ext.port.requestTimer(ext.timerHandle, cb, microseconds: 10))
    }
    #expect(statuses.all == [.invalidParameter, .invalidParameter, .invalidParameter])
  }

  @Test func rule22_tolerableDelayBelow32MicrosecondsIsZero() {
    let h = started()
    _ = allocate(h)
    let cb = HwTimerEx<ScriptedExtension>("Ex") { _, _ in }
    h.onProcessor { [ext = h.ext] in
      _ = ext.port.requestTimer(ext.timerHandle, cb, microseconds: 100, tolerableDelay: 31)
    }
    h.run(ms: 1)
    h.onProcessor { [ext = h.ext] in
      _ = ext.port.requestTimer(ext.timerHandle, cb, microseconds: 100, tolerableDelay: 32)
    }
    let slack = h.events(.extTimerRequest).map(\.b)
    #expect(slack == [0, 32])
  }

  /// The tolerable delay changes scheduling: two timers due 3 µs apart fire apart without one,
  /// and at one instant (coalesced) with a 64 µs tolerance — never early, never later than it.
  @Test func rule22_tolerableDelayCoalescesTimers() {
    func fireTimes(tolerance: UInt64) -> (due: [UInt64], fired: [UInt64], expiries: [UInt64]) {
      let h = started()
      let fired = Observations<UInt64>()
      let due = Observations<UInt64>()
      let cb = HwTimerEx<ScriptedExtension>("Ex") { ext, _ in fired.append(ext.port.executionContext!.time) }
      let handles = Box<[StorTimerHandle?]>([nil, nil])
      h.onProcessor { [ext = h.ext] in
        for i in 0..<2 { _ = ext.port.initializeTimer(&handles.value[i]) }
      }
      let kept = handles.value
      h.onProcessor(settle: 0) { [ext = h.ext] in
        due.append(ext.port.executionContext!.time + 100_000)
        _ = ext.port.requestTimer(kept[0], cb, microseconds: 100, tolerableDelay: tolerance)
        ext.port.stallExecution(microseconds: 3)
        due.append(ext.port.executionContext!.time + 100_000)
        _ = ext.port.requestTimer(kept[1], cb, microseconds: 100, tolerableDelay: tolerance)
      }
      h.run(ms: 1)
      h.onProcessor { [ext = h.ext] in for handle in kept { _ = ext.port.freeTimer(handle) } }
      return (due.all, fired.all.sorted(), h.events(.extTimerRequest).map(\.a))
    }
    let exact = fireTimes(tolerance: 0)
    let coalesced = fireTimes(tolerance: 64)
    #expect(exact.fired.count == 2 && coalesced.fired.count == 2)
    // Expiry instants the port armed: apart without a tolerance, one instant with it.
    #expect(exact.expiries.count == 2 && exact.expiries[0] != exact.expiries[1])
    #expect(coalesced.expiries.count == 2 && coalesced.expiries[0] == coalesced.expiries[1])
    #expect(exact.fired[1] - exact.fired[0] >= 3_000, "without a tolerance the second fires 3 µs later")
    for (due, fired) in zip(coalesced.due.sorted(), coalesced.fired) {
      #expect(fired >= due && fired <= due + 64_000 + 5_000)  // never early; late by the tolerance at most
    }
  }

  @Test func rule23_requestTimerAboveDispatchArmsWhenIrqlDrops() {
    let h = started()
    _ = allocate(h)
    let calls = Observations<Int>()
    let cb = HwTimerEx<ScriptedExtension>("Ex") { _, _ in calls.append(1) }
    let status = Box(StorStatus.unsuccessful)
    h.inIsr { ext in status.value = ext.port.requestTimer(ext.timerHandle, cb, microseconds: 100) }
    h.run(ms: 2)
    #expect(status.value == .success)
    #expect(calls.count == 1)
    let isrExit = h.events(.callbackExit).last { $0.name == "HwStorInterrupt" }!
    let armed = h.events(.extTimerRequest).first!
    #expect(armed.sequence > isrExit.sequence)
  }

  @Test func rule24_timerExRunsWithStartIoLockHeld() {
    let h = started()
    _ = allocate(h)
    let seen = Box<ExecutionSnapshot?>(nil)
    let cb = HwTimerEx<ScriptedExtension>("Ex") { e, _ in seen.value = e.port.executionContext }
    h.onProcessor { [ext = h.ext] in _ = ext.port.requestTimer(ext.timerHandle, cb, microseconds: 10) }
    h.run(ms: 1)
    #expect(seen.value?.holdsStartIoLock == true)
    #expect(seen.value?.role == .timerEx)
  }

  @Test func rule25_freeTwiceUnsuccessfulAndAboveDispatchInvalidIrql() {
    let h = started()
    _ = allocate(h)
    let isrStatus = Box(StorStatus.success)
    h.inIsr { ext in isrStatus.value = ext.port.freeTimer(ext.timerHandle) }
    let statuses = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      statuses.append(ext.port.freeTimer(ext.timerHandle))
      statuses.append(ext.port.freeTimer(ext.timerHandle))
      statuses.append(ext.port.freeTimer(nil))
    }
    #expect(isrStatus.value == .invalidIrql)
    #expect(statuses.all == [.success, .unsuccessful, .invalidParameter])
    #expect(h.rules() == [.wrongIrqlForRoutine])
  }

  @Test func rule26_freeingPendingTimerPreventsCallback() {
    let h = started()
    _ = allocate(h)
    let calls = Observations<Int>()
    let cb = HwTimerEx<ScriptedExtension>("Ex") { _, _ in calls.append(1) }
    h.onProcessor { [ext = h.ext] in
      _ = ext.port.requestTimer(ext.timerHandle, cb, microseconds: 300)
      _ = ext.port.freeTimer(ext.timerHandle)
    }
    h.run(ms: 5)
    #expect(calls.count == 0)
  }

  @Test func rule27_queryTimerMinIntervalReportsPositive100nsUnits() {
    let h = started()
    let statuses = Observations<StorStatus>()
    let value = Box<UInt32>(0)
    h.onProcessor { [ext = h.ext] in
      var v: UInt32 = 0
      statuses.append(ext.port.queryTimerMinInterval(&v))
      value.value = v
      statuses.append(ext.port.queryTimerMinInterval(nil))
    }
    #expect(statuses.all == [.success, .invalidParameter])
    #expect(value.value > 0)
  }
}
