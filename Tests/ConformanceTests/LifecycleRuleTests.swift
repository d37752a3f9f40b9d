import Storport
import StorportSamples
import StorportTesting
import Testing

/// Spec §13 rules 63–75: passive initialisation, lifecycle order and contexts, stop / remove /
/// restart, notifications, completion, busy and pause, IRQL at return.
@Suite struct LifecycleRuleTests {
  @Test func rule63_enablePassiveInitializationOnlyFromHwInitialize() {
    let ran = Observations<String>()
    let results = Observations<Bool>()
    let routine = HwPassiveInitializeRoutine<ScriptedExtension>("Passive") { _ in
      ran.append("passive")
      return true
    }
    let h = SimHarness { m in
      m.onFindAdapter = { ext, c in
        c.synchronizationModel = .fullDuplex
        results.append(ext.port.enablePassiveInitialization(routine))
        return .found
      }
    }
    h.startAdapter()
    #expect(results.all == [false])
    #expect(ran.count == 0)
    #expect(h.rules() == [.enablePassiveOutsideInitialize])

    let h2 = SimHarness { m in
      m.onInitialize = { ext in
        results.append(ext.port.enablePassiveInitialization(routine))
        return true
      }
    }
    h2.startAdapter()
    #expect(results.all == [false, true])
    #expect(ran.count == 1)
  }

  @Test func rule64_lifecycleOrderBeforeFirstIo() {
    let h = SimHarness(hasBuildIo: true) { m in
      m.onInitialize = { ext in
        ext.port.enablePassiveInitialization(
          HwPassiveInitializeRoutine<ScriptedExtension>("HwStorPassiveInitializeRoutine") { _ in true })
        return true
      }
    }
    h.adapter.submit(StorRequest())  // submitted before start: held until running
    h.startAdapter()
    h.run(ms: 1)
    let order = h.events(.callbackEnter).map(\.name)
    #expect(
      order == [
        "HwStorFindAdapter", "HwStorInitialize", "HwStorPassiveInitializeRoutine",
        "HwStorAdapterControl(ScsiQuerySupportedControlTypes)", "HwStorBuildIo", "HwStorStartIo",
      ])
  }

  @Test func rule65_passiveRoutineAtPassiveWithoutLocksInterruptsDeliverable() {
    let seen = Box<ExecutionSnapshot?>(nil)
    let isrDuringPassive = Box(false)
    let inPassive = Box(false)
    let h = SimHarness()
    h.miniport.onInterrupt = { _ in
      if inPassive.value { isrDuringPassive.value = true }
      return true
    }
    h.miniport.onInitialize = { [adapter = h.adapter!] ext in
      ext.port.enablePassiveInitialization(
        HwPassiveInitializeRoutine<ScriptedExtension>("Passive") { ext in
          inPassive.value = true
          seen.value = ext.port.executionContext
          adapter.device.raiseInterrupt()  // line interrupt → this processor
          ext.counter.increment()  // a scheduling point: the interrupt preempts here
          inPassive.value = false
          return true
        })
      return true
    }
    h.startAdapter()
    #expect(seen.value?.irql == .passive)
    #expect(seen.value?.locks == [])
    #expect(isrDuringPassive.value)
  }

  @Test func rule66_hwInitializeAtDirqlWithInterruptLockPhysical() {
    let seen = Observations<ExecutionSnapshot>()
    for virtual in [false, true] {
      let h = SimHarness(isVirtual: virtual) { m in
        m.onInitialize = { ext in
          seen.append(ext.port.executionContext!)
          return true
        }
      }
      h.startAdapter()
    }
    #expect(seen.all[0].irql == .device && seen.all[0].locks == ["InterruptLock"])
    #expect(seen.all[1].locks == [])
  }

  @Test func rule67_stopAdapterSeesNoOutstandingRequestsAndFlushFirst() {
    let functions = Observations<SrbFunction>()
    let outstandingAtStop = Box<Int>(-1)
    let pending = Observations<StorRequest>()
    let h = SimHarness { m in
      m.onStartIo = { ext, r in
        functions.append(r.function)
        if r.function == .executeScsi {
          pending.append(r)  // completed later, by a timer
          ext.port.requestTimerCall(
            HwTimer<ScriptedExtension>("Complete") { ext in
              for r in pending.all where !r.isCompleted {
                r.srbStatus = .success
                ext.port.requestComplete(r)
              }
            }, microseconds: 500)
        } else {
          r.srbStatus = .success
          ext.port.requestComplete(r)
        }
        return true
      }
    }
    h.miniport.onAdapterControl = { [adapter = h.adapter!] _, t, p in
      if t == .stopAdapter { outstandingAtStop.value = adapter.statistics.outstandingRequests }
      if t == .querySupportedControlTypes { p.supported = [.stopAdapter] }
      return .success
    }
    h.startAdapter()
    h.adapter.submit(StorRequest(tag: 1))
    h.run(us: 50)
    h.adapter.stop()
    h.run(ms: 5)
    #expect(h.adapter.state == .stopped)
    #expect(functions.all == [.executeScsi, .flush])
    #expect(outstandingAtStop.value == 0)
  }

  @Test func rule68_nothingStartsAfterStopAdapter() {
    let after = Observations<String>()
    let stopped = Box(false)
    let h = SimHarness { m in
      m.onStartIo = { ext, r in
        if stopped.value && r.function != .flush { after.append("startio") }
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    h.miniport.onAdapterControl = { _, t, p in
      if t == .stopAdapter { stopped.value = true }
      if t == .querySupportedControlTypes { p.supported = [.stopAdapter] }
      return .success
    }
    h.startAdapter()
    let timer = HwTimer<ScriptedExtension>("Late") { _ in if stopped.value { after.append("timer") } }
    let timerEx = HwTimerEx<ScriptedExtension>("LateEx") { _, _ in
      if stopped.value { after.append("timerEx") }
    }
    let dpc = HwDpcRoutine<ScriptedExtension>("LateDpc") { _, _, _, _ in
      if stopped.value { after.append("dpc") }
      return true
    }
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(ext.dpc, dpc)
      _ = ext.port.initializeTimer(&ext.timerHandle)
      ext.port.requestTimerCall(timer, microseconds: 2000)
      _ = ext.port.requestTimer(ext.timerHandle, timerEx, microseconds: 2000)
    }
    // The DPC is issued and stays queued: its processor is busy at DISPATCH (port work
    // stalling 4.5 ms) while processor 0 stops the adapter, which removes it (D13).
    #expect(h.issueDpcAndHoldItQueued(), "the DPC was never issued")
    h.adapter.stop()
    h.run(ms: 6)
    #expect(h.adapter.state == .stopped)
    #expect(h.events(.dpcIssue).contains { $0.name == "LateDpc" && $0.a == 1 })
    #expect(!h.events(.dpcStart).contains { $0.name == "LateDpc" })
    h.adapter.submit(StorRequest())
    h.adapter.device.raiseInterrupt()
    h.run(ms: 10)
    #expect(after.count == 0)
    #expect(h.adapter.statistics.queuedRequests == 1)  // held until restart
    #expect(h.adapter.statistics.spuriousInterrupts == 1)
  }

  @Test func rule69_removeWaitsForRunningDpcAndTimerBeforeReleasingExtension() {
    let h = SimHarness()
    h.startAdapter()
    let started = (dpc: Box<UInt64>(0), timer: Box<UInt64>(0))
    let ended = (dpc: Box<UInt64>(0), timer: Box<UInt64>(0))
    let releasedWhileRunning = Box(false)
    /// Runs 1.8 ms in legal stalls, watching for the extension's release meanwhile.
    @Sendable func slowBody(
      _ ext: ScriptedExtension, _ start: Box<UInt64>, _ end: Box<UInt64>, _ adapter: Adapter
    ) {
      start.value = ext.port.executionContext!.time
      for _ in 0..<2 { ext.port.stallExecution(microseconds: 900) }
      if adapter.isExtensionReleased { releasedWhileRunning.value = true }
      end.value = ext.port.executionContext!.time
    }
    let dpc = HwDpcRoutine<ScriptedExtension>("SlowDpc") { [adapter = h.adapter!] _, ext, _, _ in
      slowBody(ext, started.dpc, ended.dpc, adapter)
      return true
    }
    let timer = HwTimer<ScriptedExtension>("SlowTimer") { [adapter = h.adapter!] ext in
      slowBody(ext, started.timer, ended.timer, adapter)
    }
    h.adapter.runOnProcessor(1) { [ext = h.ext] in
      ext.port.initializeDpc(ext.dpc, dpc)
      ext.port.issueDpc(ext.dpc)
    }
    h.adapter.runOnProcessor(0) { [ext = h.ext] in ext.port.requestTimerCall(timer, microseconds: 10) }
    // Remove is asked for while both callbacks are inside their stalls.
    h.runtime.runUntil(timeoutNanoseconds: 1_000_000) { started.dpc.value > 0 && started.timer.value > 0 }
    #expect(started.dpc.value > 0 && started.timer.value > 0, "the DPC and the timer did not both start")
    let removedAt = h.now
    #expect(ended.dpc.value == 0 && ended.timer.value == 0, "a callback ended before remove was asked for")
    h.adapter.remove()
    h.run(ms: 5)
    #expect(h.adapter.state == .removed)
    #expect(h.adapter.isExtensionReleased)
    #expect(!releasedWhileRunning.value)
    let release = h.events(.lifecycle).first { $0.name == "device extension released" }!
    #expect(ended.dpc.value > removedAt && ended.timer.value > removedAt)
    #expect(release.time >= ended.dpc.value && release.time >= ended.timer.value)
    #expect(h.rules().isEmpty)
  }

  @Test func rule70_extensionKeptAcrossStopRestart() {
    final class Marked: @unchecked Sendable { var value = 0 }
    let h = SimHarness()
    h.startAdapter()
    let before = h.ext
    h.ext.timerHandle = nil
    h.onProcessor { [ext = h.ext] in ext.counter.exchange(1234) }
    h.adapter.stop()
    h.run(ms: 1)
    h.adapter.restart()
    h.run(ms: 1)
    #expect(h.adapter.state == .running)
    #expect(h.ext === before)
    let value = Box<Int64>(0)
    h.onProcessor { [ext = h.ext] in value.value = ext.counter.load() }
    #expect(value.value == 1234)
  }

  @Test func rule71_undocumentedNotificationIgnoredWithDiagnostic() {
    let h = SimHarness(policy: .stopAdapter)
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in ext.port.notification(.nextRequest) }
    #expect(h.rules() == [.undocumentedNotification])
    #expect(h.reports.first?.rule.isWarning == true)
    #expect(h.adapter.state == .running)
  }

  @Test func rule72_secondCompletionOfSameRequestIsReported() {
    let h = SimHarness { m in
      m.onStartIo = { ext, r in
        r.srbStatus = .success
        ext.port.requestComplete(r)
        ext.port.requestComplete(r)
        return true
      }
    }
    h.startAdapter()
    let requests = h.submit(1)
    #expect(requests[0].isCompleted)
    #expect(h.rules() == [.requestCompletedTwice])
    #expect(h.adapter.statistics.completedRequests == 1)
  }

  @Test func rule73_busyHoldsStartIoUntilCompletionsThenReadyLifts() {
    let held = Observations<StorRequest>()
    let h = SimHarness { m in
      m.onStartIo = { _, r in
        held.append(r)  // keep them outstanding
        return true
      }
    }
    h.startAdapter()
    for i in 0..<3 { h.adapter.submit(StorRequest(tag: UInt64(i))) }
    h.run(us: 100)
    #expect(held.count == 3)
    h.onProcessor { [ext = h.ext] in ext.port.busy(requestsToComplete: 2) }
    for i in 3..<6 { h.adapter.submit(StorRequest(tag: UInt64(i))) }
    h.run(us: 100)
    #expect(held.count == 3)  // busy: no new StartIo
    h.onProcessor { [ext = h.ext] in
      held.all[0].srbStatus = .success
      ext.port.requestComplete(held.all[0])
    }
    #expect(held.count == 3)  // one of two completions seen
    h.onProcessor { [ext = h.ext] in
      held.all[1].srbStatus = .success
      ext.port.requestComplete(held.all[1])
    }
    h.run(us: 100)
    #expect(held.count == 6)  // busy lifted after 2 completions
    h.onProcessor { [ext = h.ext] in ext.port.busy(requestsToComplete: 10) }
    h.adapter.submit(StorRequest(tag: 9))
    h.run(us: 100)
    #expect(held.count == 6)
    h.onProcessor { [ext = h.ext] in ext.port.ready() }
    h.run(us: 100)
    #expect(held.count == 7)
  }

  @Test func rule74_pauseHoldsNewIoUntilResumeOrTimeout() {
    let h = SimHarness()
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in ext.port.pause(seconds: 2) }
    let a = StorRequest(tag: 1)
    h.adapter.submit(a)
    h.run(ms: 100)
    #expect(!a.isCompleted)
    h.onProcessor { [ext = h.ext] in ext.port.resume() }
    h.run(us: 100)
    #expect(a.isCompleted)
    let pausedAt = h.now
    h.onProcessor { [ext = h.ext] in ext.port.pause(seconds: 2) }
    let b = StorRequest(tag: 2)
    h.adapter.submit(b)
    h.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { b.isCompleted }
    #expect(b.isCompleted)
    #expect(h.now >= pausedAt + 2_000_000_000)
  }

  @Test func rule75_everyCallbackReturnsAtEntryIrql() {
    // A clean run has no IRQL reports ...
    let h = SimHarness(hasBuildIo: true)
    h.startAdapter()
    h.submit(5)
    h.inIsr { _ in }
    h.inTimer { _ in }
    h.inDpc { _ in }
    #expect(h.reports.isEmpty)
    // ... and a StartIo that leaves with a raised IRQL is caught and repaired.
    h.miniport.onStartIo = { ext, r in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.interruptLock, &handle)
      r.srbStatus = .success
      ext.port.requestComplete(r)
      return true
    }
    h.submit(1)
    #expect(h.rules().contains(.irqlNotRestoredAtReturn))
    let after = Box<Irql?>(nil)
    h.inDpc { ext in after.value = ext.port.executionContext?.irql }
    #expect(after.value == .dispatch)
  }
}
