import Storport
import StorportSamples
import StorportTesting
import Testing

/// Spec §13 rules 1–14: the adapter timer (HW_TIMER, RequestTimerCall), simulated platform.
@Suite struct TimerRuleTests {
  /// Arms `timer` for `us` from port work on processor 0; returns the arming time.
  private func arm(_ h: SimHarness, _ timer: HwTimer<ScriptedExtension>?, _ us: UInt32) -> UInt64 {
    let armedAt = Box<UInt64>(0)
    h.adapter.runOnProcessor(0) { [ext = h.ext] in
      armedAt.value = ext.port.executionContext!.time
      ext.port.requestTimerCall(timer, microseconds: us)
    }
    h.runtime.runUntil(timeoutNanoseconds: 1_000) { armedAt.value != 0 }
    return armedAt.value
  }

  @Test func rule01_requestTimerCallFiresOnceNoEarlierThanRequested() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<UInt64>()
    let t = HwTimer<ScriptedExtension>("T") { ext in fired.append(ext.port.executionContext!.time) }
    let armedAt = arm(h, t, 1500)
    h.run(ms: 20)
    #expect(fired.count == 1)
    #expect(fired.all[0] >= armedAt + 1_500_000)
  }

  @Test func rule02_zeroCancelsPendingTimer() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<Int>()
    let t = HwTimer<ScriptedExtension>("T") { _ in fired.append(1) }
    _ = arm(h, t, 1000)
    _ = arm(h, nil, 0)
    h.run(ms: 10)
    #expect(fired.count == 0)
    #expect(!h.adapter.isAdapterTimerPending)
  }

  @Test func rule03_zeroWhenIdleIsHarmlessNoOp() {
    let h = SimHarness()
    h.startAdapter()
    _ = arm(h, nil, 0)
    h.run(ms: 5)
    #expect(h.reports.isEmpty)
    #expect(h.adapter.state == .running)
    #expect(h.events(.timerCancel).last?.a == 0)  // nothing was pending
  }

  @Test func rule04_secondRequestReplacesRoutineAndDeadline() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<(String, UInt64)>()
    let a = HwTimer<ScriptedExtension>("A") { ext in fired.append(("A", ext.port.executionContext!.time)) }
    let b = HwTimer<ScriptedExtension>("B") { ext in fired.append(("B", ext.port.executionContext!.time)) }
    _ = arm(h, a, 1000)
    let second = arm(h, b, 3000)
    h.run(ms: 20)
    #expect(fired.count == 1)
    #expect(fired.all.first?.0 == "B")
    #expect((fired.all.first?.1 ?? 0) >= second + 3_000_000)
  }

  @Test func rule05_rearmInsideTimerSchedulesFreshOneShot() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<UInt64>()
    let selfRef = Box<HwTimer<ScriptedExtension>?>(nil)
    selfRef.value = HwTimer<ScriptedExtension>("Periodic") { ext in
      fired.append(ext.port.executionContext!.time)
      if fired.count < 4 { ext.port.requestTimerCall(selfRef.value, microseconds: 500) }
    }
    _ = arm(h, selfRef.value, 500)
    h.run(ms: 20)
    let times = fired.all
    #expect(times.count == 4)
    for i in 1..<times.count { #expect(times[i] - times[i - 1] >= 500_000) }
  }

  @Test func rule06_timerReceivesOwnDeviceExtension() {
    let h = SimHarness()
    h.startAdapter()
    let same = Box(false)
    let t = HwTimer<ScriptedExtension>("T") { [ext = h.ext] e in same.value = e === ext }
    _ = arm(h, t, 10)
    h.run(ms: 1)
    #expect(same.value)
  }

  @Test func rule07_fullDuplexTimerHoldsStartIoNotInterrupt() {
    let h = SimHarness()
    h.startAdapter()
    let seen = Box<ExecutionSnapshot?>(nil)
    h.inTimer { ext in seen.value = ext.port.executionContext }
    #expect(seen.value?.holdsStartIoLock == true)
    #expect(seen.value?.holdsInterruptLock == false)
    #expect(seen.value?.role == .timer)
  }

  @Test func rule08_halfDuplexTimerHoldsStartIoAndInterrupt() {
    let h = SimHarness { m in
      m.onFindAdapter = { _, c in .found }  // leaves the default: half duplex
    }
    h.startAdapter()
    let seen = Box<ExecutionSnapshot?>(nil)
    h.inTimer { ext in seen.value = ext.port.executionContext }
    #expect(h.adapter.isHalfDuplex)
    #expect(seen.value?.holdsStartIoLock == true)
    #expect(seen.value?.holdsInterruptLock == true)
  }

  @Test func rule09_fullDuplexTimerMayTakeInterruptLockOnly() {
    let h = SimHarness()
    h.startAdapter()
    h.inTimer { ext in
      ext.port.withSpinLock(.interruptLock) {}
    }
    #expect(h.reports.isEmpty)
    h.inTimer { ext in
      _ = ext.port.withSpinLock(.dpcLock, context: ext.dpc) {}
    }
    h.inTimer { ext in
      ext.port.withSpinLock(.startIoLock) {}
    }
    let rules = h.rules()
    #expect(rules.contains(.lockNotAllowedInCallback))
    #expect(rules.filter { $0 == .lockNotAllowedInCallback }.count == 2)
  }

  /// Runs StartIo traffic with a timer re-armed every 20 µs; reports whether they overlapped
  /// and whether the timer always held the StartIo lock.
  private func timerVersusStartIo(seed: UInt64, channels: UInt32) -> (overlap: Bool, timerHeldStartIo: Bool) {
    let probe = OverlapProbe()
    let heldAlways = Box(true)
    let selfRef = Box<HwTimer<ScriptedExtension>?>(nil)
    let h = SimHarness(seed: seed) { m in
      m.onInitialize = { ext in
        if channels > 1 {
          var d = PerfConfigurationData()
          d.flags = [.concurrentChannels]
          d.concurrentChannels = channels
          _ = ext.port.initializePerfOpts(query: false, &d)
        }
        return true
      }
      m.onStartIo = { ext, r in
        probe.enter()
        ext.counter.increment()
        probe.leave()
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    selfRef.value = HwTimer<ScriptedExtension>("Watch") { ext in
      if !ext.port.executionContext!.holdsStartIoLock { heldAlways.value = false }
      probe.enter()
      ext.counter.increment()
      probe.leave()
      ext.port.requestTimerCall(selfRef.value, microseconds: 20)
    }
    h.startAdapter()
    _ = arm(h, selfRef.value, 20)
    h.submit(60)
    return (probe.overlapped, heldAlways.value)
  }

  @Test func rule10_fullDuplexTimerNeverOverlapsStartIo() {
    for seed in UInt64(1)...12 {
      let r = timerVersusStartIo(seed: seed, channels: 0)
      #expect(!r.overlap, "seed \(seed)")
      #expect(r.timerHeldStartIo)
    }
  }

  @Test func rule11_concurrentChannelsTimerHoldsStartIoButMayOverlapStartIo() {
    var held = true
    let seed = firstSeed { seed in
      let r = timerVersusStartIo(seed: seed, channels: 2)
      held = held && r.timerHeldStartIo
      return r.overlap
    }
    #expect(seed != nil, "no seed in 1...40 showed HwStorTimer overlapping StartIo on channels")
    #expect(held)
  }

  @Test func rule12_timerIrqlIsDispatchFullDuplexDirqlHalfDuplex() {
    let full = SimHarness()
    full.startAdapter()
    let fullIrql = Box<Irql?>(nil)
    full.inTimer { ext in fullIrql.value = ext.port.executionContext?.irql }
    #expect(fullIrql.value == .dispatch)

    let half = SimHarness { m in m.onFindAdapter = { _, _ in .found } }
    half.startAdapter()
    let halfIrql = Box<Irql?>(nil)
    half.inTimer { ext in halfIrql.value = ext.port.executionContext?.irql }
    #expect(halfIrql.value == .device)

    // A timer that leaves with a raised IRQL is reported and the port restores it.
    full.inTimer { ext in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.interruptLock, &handle)
    }
    #expect(full.rules().contains(.irqlNotRestoredAtReturn))
    #expect(full.rules().contains(.lockHeldAtReturn))
  }

  @Test func rule13_requestTimerCallFromInterruptIsAcceptedAndFires() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<Int>()
    let t = HwTimer<ScriptedExtension>("FromIsr") { _ in fired.append(1) }
    h.inIsr { ext in ext.port.requestTimerCall(t, microseconds: 100) }
    h.run(ms: 2)
    #expect(fired.count == 1)
    let deferred = h.events(.timerDeferred)
    let armed = h.events(.timerArm)
    #expect(deferred.count == 1)
    #expect(armed.count == 1 && armed[0].sequence > deferred[0].sequence)
    #expect(armed[0].irql <= .dispatch)
  }

  @Test func rule14_pausedAdapterStillDeliversTimersAndDpcs() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<String>()
    let t = HwTimer<ScriptedExtension>("T") { _ in fired.append("timer") }
    let dpc = HwDpcRoutine<ScriptedExtension>("D") { _, _, _, _ in
      fired.append("dpc")
      return true
    }
    h.onProcessor { [ext = h.ext] in
      ext.port.pause(seconds: 60)
      ext.port.initializeDpc(ext.dpc, dpc)
      ext.port.requestTimerCall(t, microseconds: 100)
      ext.port.issueDpc(ext.dpc)
    }
    h.run(ms: 2)
    #expect(h.adapter.isPaused)
    #expect(Set(fired.all) == ["timer", "dpc"])
  }
}
