import Storport
import StorportSamples
import StorportTesting
import Testing

/// One test per binding decision D1–D17 (spec/decisions.md), simulated platform.
@Suite struct DecisionTests {
  @Test func d01_dpcRoutineReturnsBoolRecordedNotUsed() {
    let h = SimHarness()
    h.startAdapter()
    let runs = Observations<Int>()
    let routine = HwDpcRoutine<ScriptedExtension>("Bool") { _, _, a, _ in
      runs.append(Int(a))
      return a == 1
    }
    h.onProcessor { [ext = h.ext] in ext.port.initializeDpc(ext.dpc, routine) }
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc, 1, 0) }
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc, 0, 0) }
    #expect(runs.all == [1, 0])
    #expect(h.events(.dpcEnd).map(\.a) == [1, 0])
  }

  @Test func d02_dpcStateMachineRequeueCarriesNewArguments() {
    let h = SimHarness()
    h.startAdapter()
    let args = Observations<UInt>()
    let results = Observations<Bool>()
    let routine = HwDpcRoutine<ScriptedExtension>("SM") { dpc, ext, a, _ in
      args.append(a)
      if a == 1 {
        results.append(ext.port.issueDpc(dpc, 2, 0))  // running → running+requeued: TRUE
        results.append(ext.port.issueDpc(dpc, 3, 0))  // running+requeued: FALSE, dropped
      }
      return true
    }
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(ext.dpc, routine)
      ext.port.issueDpc(ext.dpc, 1, 0)
    }
    h.run(ms: 1)
    #expect(results.all == [true, false])
    #expect(args.all == [1, 2])
  }

  @Test func d03_dpcLockSynchronisesWithTheDpcItBelongsTo() {
    for seed in UInt64(1)...10 {
      let probe = OverlapProbe()
      let h = SimHarness(seed: seed) { m in
        m.onStartIo = { ext, r in
          ext.port.withSpinLock(.dpcLock, context: ext.dpc) {
            probe.enter()
            ext.counter.increment()
            probe.leave()
          }
          ext.port.issueDpc(ext.dpc)
          r.srbStatus = .success
          ext.port.requestComplete(r)
          return true
        }
        m.onInitialize = { ext in
          ext.port.initializeDpc(
            ext.dpc,
            HwDpcRoutine<ScriptedExtension>("Locked") { dpc, ext, _, _ in
              ext.port.withSpinLock(.dpcLock, context: dpc) {
                probe.enter()
                ext.counter.increment()
                probe.leave()
              }
              return true
            })
          return true
        }
      }
      h.startAdapter()
      h.submit(20)
      #expect(!probe.overlapped, "seed \(seed)")
      #expect(h.reports.isEmpty)
    }
  }

  @Test func d04_lockOrderStartIoDpcInterrupt() {
    let h = SimHarness()
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(ext.dpc, HwDpcRoutine<ScriptedExtension>("Idle") { _, _, _, _ in true })
    }
    h.inDpc { ext in
      ext.port.withSpinLock(.startIoLock) {
        ext.port.withSpinLock(.dpcLock, context: ext.dpc) {
          ext.port.withSpinLock(.interruptLock) {}
        }
      }
    }
    #expect(h.reports.isEmpty)
    h.inDpc { ext in
      ext.port.withSpinLock(.dpcLock, context: ext.dpc) {
        ext.port.withSpinLock(.startIoLock) {}
      }
    }
    #expect(h.rules() == [.lockOrder])
  }

  @Test func d05_latestRequestTimerCallWins() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<(String, UInt64)>()
    let first = HwTimer<ScriptedExtension>("First") { e in
      fired.append(("First", e.port.executionContext!.time))
    }
    let second = HwTimer<ScriptedExtension>("Second") { e in
      fired.append(("Second", e.port.executionContext!.time))
    }
    let t0 = Box<UInt64>(0)
    h.onProcessor { [ext = h.ext] in
      ext.port.requestTimerCall(first, microseconds: 5000)
      t0.value = ext.port.executionContext!.time
      ext.port.requestTimerCall(second, microseconds: 200)  // shorter: still replaces
    }
    h.run(ms: 10)
    #expect(fired.count == 1)
    #expect(
      fired.all[0].0 == "Second" && fired.all[0].1 >= t0.value + 200_000
        && fired.all[0].1 < t0.value + 5_000_000)
  }

  @Test func d06_requestTimerBusyKeepsPendingDeadline() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<UInt64>()
    let cb = HwTimerEx<ScriptedExtension>("Ex") { e, _ in fired.append(e.port.executionContext!.time) }
    let statuses = Observations<StorStatus>()
    let t0 = Box<UInt64>(0)
    h.onProcessor { [ext = h.ext] in
      _ = ext.port.initializeTimer(&ext.timerHandle)
      t0.value = ext.port.executionContext!.time
      statuses.append(ext.port.requestTimer(ext.timerHandle, cb, microseconds: 3000))
    }
    h.onProcessor { [ext = h.ext] in
      statuses.append(ext.port.requestTimer(ext.timerHandle, cb, microseconds: 50))
    }
    h.run(ms: 10)
    #expect(statuses.all == [.success, .busy])
    #expect(fired.count == 1 && fired.all[0] >= t0.value + 3_000_000 && fired.all[0] < t0.value + 3_100_000)
  }

  @Test func d07_timerExSharesHwTimerContext() {
    for half in [false, true] {
      let h = SimHarness { m in if half { m.onFindAdapter = { _, _ in .found } } }
      h.startAdapter()
      let timerCtx = Box<ExecutionSnapshot?>(nil)
      let exCtx = Box<ExecutionSnapshot?>(nil)
      h.inTimer { ext in timerCtx.value = ext.port.executionContext }
      let cb = HwTimerEx<ScriptedExtension>("Ex") { e, _ in exCtx.value = e.port.executionContext }
      h.onProcessor { [ext = h.ext] in
        _ = ext.port.initializeTimer(&ext.timerHandle)
        _ = ext.port.requestTimer(ext.timerHandle, cb, microseconds: 10)
      }
      h.run(ms: 1)
      #expect(timerCtx.value?.irql == (half ? .device : .dispatch))
      #expect(exCtx.value?.irql == timerCtx.value?.irql)
      #expect(exCtx.value?.locks == timerCtx.value?.locks)
    }
  }

  @Test func d08_dpcFromIsrRunsOnIsrProcessorAndTimerArmIsDeferred() {
    let h = SimHarness(processors: 2)
    h.startAdapter()
    let dpcCpu = Observations<Int>()
    let isrCpu = Observations<Int>()
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("OnIsrCpu") { _, e, _, _ in
          dpcCpu.append(e.port.executionContext!.processor)
          return true
        })
    }
    h.miniport.onMessageInterrupt = { ext, _ in
      isrCpu.append(ext.port.executionContext!.processor)
      ext.port.issueDpc(ext.dpc)
      return true
    }
    for m in UInt32(0)..<4 {
      h.adapter.device.raiseInterrupt(message: m)
      h.run(us: 50)
    }
    #expect(isrCpu.all == [0, 1, 0, 1])
    #expect(dpcCpu.all == isrCpu.all)
    // Timer armed at DIRQL: recorded as deferred, armed once the ISR returned.
    let t = HwTimer<ScriptedExtension>("T") { _ in }
    h.inIsr { ext in ext.port.requestTimerCall(t, microseconds: 10) }
    let deferred = h.events(.timerDeferred).last!
    let armed = h.events(.timerArm).last!
    let isrExit = h.events(.callbackExit).last { $0.name == "HwStorInterrupt" }!
    #expect(deferred.sequence < isrExit.sequence && isrExit.sequence < armed.sequence)
  }

  @Test func d09_initializeDpcFromFindAdapterAndPerfOptsFromPassiveInit() {
    let statuses = Observations<StorStatus>()
    let runs = Observations<Int>()
    let h = SimHarness { m in
      m.onFindAdapter = { ext, c in
        c.synchronizationModel = .fullDuplex
        ext.port.initializeDpc(
          ext.dpc,
          HwDpcRoutine<ScriptedExtension>("Early") { _, _, _, _ in
            runs.append(1)
            return true
          })
        var d = PerfConfigurationData()
        statuses.append(ext.port.initializePerfOpts(query: true, &d))  // not allowed here
        return .found
      }
      m.onInitialize = { ext in
        ext.port.enablePassiveInitialization(
          HwPassiveInitializeRoutine<ScriptedExtension>("Passive") { ext in
            var d = PerfConfigurationData()
            statuses.append(ext.port.initializePerfOpts(query: true, &d))
            return true
          })
        return true
      }
    }
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc) }
    #expect(statuses.all == [.unsuccessful, .success])
    #expect(runs.count == 1)
    #expect(h.reports.isEmpty)
  }

  @Test func d10_noExtendedTimerLimitByDefault() {
    let h = SimHarness()
    h.startAdapter()
    let statuses = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      for _ in 0..<16 {
        var handle: StorTimerHandle?
        statuses.append(ext.port.initializeTimer(&handle))
      }
    }
    #expect(statuses.count == 16 && statuses.all.allSatisfy { $0 == .success })
  }

  @Test func d11_windowsTickRoundsExpiriesUpAndIsReported() {
    let h = SimHarness(timerResolution: .windowsDefaultTick)
    h.startAdapter()
    let fired = Observations<UInt64>()
    let interval = Box<UInt32>(0)
    let t = HwTimer<ScriptedExtension>("Tick") { e in fired.append(e.port.executionContext!.time) }
    h.onProcessor { [ext = h.ext] in
      ext.port.requestTimerCall(t, microseconds: 100)
      var v: UInt32 = 0
      _ = ext.port.queryTimerMinInterval(&v)
      interval.value = v
    }
    h.run(ms: 40)
    #expect(interval.value == 156_250)
    let deadline = h.events(.timerArm).last!.b
    #expect(deadline % 15_625_000 == 0 && deadline > 0)
    #expect(fired.count == 1 && fired.all[0] >= deadline)
    // Host resolution: no rounding.
    let host = SimHarness()
    host.startAdapter()
    let hostFired = Observations<UInt64>()
    let t0 = Box<UInt64>(0)
    let t2 = HwTimer<ScriptedExtension>("Host") { e in hostFired.append(e.port.executionContext!.time) }
    host.onProcessor { [ext = host.ext] in
      t0.value = ext.port.executionContext!.time
      ext.port.requestTimerCall(t2, microseconds: 100)
    }
    host.run(ms: 1)
    #expect(hostFired.count == 1 && hostFired.all[0] - t0.value < 1_000_000)
  }

  @Test func d12_stopAndRestartAtDirqlOthersAtPassive() {
    let contexts = Observations<(AdapterControlType, ExecutionSnapshot)>()
    let h = SimHarness()
    h.miniport.onAdapterControl = { ext, t, p in
      contexts.append((t, ext.port.executionContext!))
      if t == .querySupportedControlTypes { p.supported = [.stopAdapter, .restartAdapter] }
      return .success
    }
    h.startAdapter()
    h.adapter.stop()
    h.run(ms: 1)
    h.adapter.restart()
    h.run(ms: 1)
    let byType = Dictionary(contexts.all.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
    #expect(byType[.querySupportedControlTypes]?.irql == .passive)
    #expect(byType[.querySupportedControlTypes]?.locks == [])
    #expect(byType[.stopAdapter]?.irql == .device && byType[.stopAdapter]?.holdsInterruptLock == true)
    #expect(byType[.restartAdapter]?.irql == .device && byType[.restartAdapter]?.holdsInterruptLock == true)
    #expect(h.adapter.state == .running)
  }

  @Test func d13_stopCancelsTimersAndDpcsRemoveFreesLeftoverTimers() {
    let h = SimHarness()
    h.startAdapter()
    let ran = Observations<String>()
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("Q") { _, _, _, _ in
          ran.append("dpc")
          return true
        })
      _ = ext.port.initializeTimer(&ext.timerHandle)
    }
    h.adapter.runOnProcessor(1) { [ext = h.ext] in
      ext.port.requestTimerCall(
        HwTimer<ScriptedExtension>("P") { _ in ran.append("timer") }, microseconds: 3000)
      _ = ext.port.requestTimer(
        ext.timerHandle, HwTimerEx<ScriptedExtension>("X") { _, _ in ran.append("ex") }, microseconds: 3000)
    }
    // The DPC is issued and held queued (its processor stalls at DISPATCH) when stop comes.
    #expect(h.issueDpcAndHoldItQueued(), "the DPC was never issued")
    h.adapter.stop()
    h.run(ms: 10)
    #expect(ran.count == 0)
    #expect(!h.adapter.isAdapterTimerPending)
    h.adapter.remove()
    h.run(ms: 1)
    #expect(h.adapter.state == .removed)
    #expect(h.rules() == [.extendedTimerNotFreed])
    #expect(h.reports[0].rule.isWarning)
  }

  @Test func d14_pauseAndBusyGateOnlyIo() {
    // StorPortBusy in force (two requests in the miniport, busy until both complete): a new
    // request waits, while DPCs and timers keep running; it starts once they complete.
    let held = Observations<StorRequest>()
    let started = InterlockedValue()
    let b = SimHarness { m in
      m.onStartIo = { ext, r in
        if started.increment() <= 2 {
          held.append(r)
        } else {
          r.srbStatus = .success
          ext.port.requestComplete(r)
        }
        return true
      }
    }
    b.startAdapter()
    let first = (0..<2).map { StorRequest(tag: UInt64($0)) }
    for r in first { b.adapter.submit(r) }
    b.run(us: 100)
    #expect(started.load() == 2)
    let busyRan = Observations<String>()
    b.issueDpcAndTimer(noting: busyRan) { port in port.busy(requestsToComplete: 2) }
    let third = StorRequest(tag: 2)
    b.adapter.submit(third)
    b.run(ms: 2)
    #expect(Set(busyRan.all) == ["dpc", "timer"])
    #expect(started.load() == 2, "a request started while StorPortBusy was in force")
    #expect(!third.isCompleted)
    b.onProcessor { [ext = b.ext] in
      for r in held.all {
        r.srbStatus = .success
        ext.port.requestComplete(r)
      }
    }
    b.run(ms: 2)
    #expect(started.load() == 3 && third.isCompleted && third.srbStatus == .success)

    // Pause and Busy together: still only I/O is held.
    let h = SimHarness()
    h.startAdapter()
    let ran = Observations<String>()
    h.issueDpcAndTimer(noting: ran) { port in
      port.pause(seconds: 100)
      port.busy(requestsToComplete: 5)
    }
    let r = StorRequest()
    h.adapter.submit(r)
    h.run(ms: 5)
    #expect(Set(ran.all) == ["dpc", "timer"])
    #expect(!r.isCompleted)
  }

  @Test func d15_synchronizeAccessFromIsrIsViolationNotDeadlock() {
    let h = SimHarness()
    h.startAdapter()
    let result = Box<Bool?>(nil)
    let routine = HwSynchronizedAccess<ScriptedExtension>("Sync") { _, _ in true }
    h.inIsr { ext in result.value = ext.port.synchronizeAccess(routine) }
    #expect(result.value == false)
    #expect(h.rules() == [.synchronizeAccessFromIsr])
    let outcome = h.sim.run(for: 1_000_000)
    #expect(outcome == .timeLimit || outcome == .quiescent)
  }

  @Test func d16_nextLuRequestAcceptedAndIgnored() {
    let h = SimHarness(policy: .stopAdapter)
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in ext.port.notification(.nextLuRequest) }
    h.submit(2)
    #expect(h.rules() == [.undocumentedNotification])
    #expect(h.adapter.state == .running)
    #expect(h.adapter.statistics.completedRequests == 2)
  }

  @Test func d17_violationReportCarriesRuleBugCheckAndStopsAdapter() {
    let h = SimHarness(policy: .stopAdapter)
    h.startAdapter()
    h.inDpc { ext in
      ext.port.withSpinLock(.startIoLock) { ext.port.withSpinLock(.startIoLock) {} }
    }
    let v = h.violations
    #expect(v.count == 1)
    #expect(v[0].rule.rawValue == "LOCK_ACQUIRED_TWICE")
    #expect(v[0].bugCheck.code == 0xC4)
    #expect(v[0].callback.contains("HwStorDpcRoutine"))
    #expect(v[0].locksHeld == ["StartIoLock"])
    #expect(v[0].irql == .dispatch)
    #expect(!v[0].recentEvents.isEmpty)
    #expect(
      v[0].text.contains("LOCK_ACQUIRED_TWICE") && v[0].json.hasPrefix("{\"rule\":\"LOCK_ACQUIRED_TWICE\""))
    #expect(h.adapter.state == .failed)
    // Nothing new starts on a stopped adapter; the process lives on.
    let r = StorRequest()
    h.adapter.submit(r)
    h.run(ms: 1)
    #expect(r.isCompleted && r.srbStatus == .noHba)
    // Record-and-continue keeps the adapter running.
    let k = SimHarness(policy: .recordAndContinue)
    k.startAdapter()
    k.inDpc { ext in ext.port.withSpinLock(.startIoLock) { ext.port.withSpinLock(.startIoLock) {} } }
    #expect(k.violations.count == 1 && k.adapter.state == .running)
  }
}
