import Storport
import StorportSamples
import StorportTesting
import Testing

/// Spec §13 rules 28–41: STOR_DPC, StorPortInitializeDpc / IssueDpc / CancelDpc and the
/// HW_DPC_ROUTINE context, simulated platform.
@Suite struct DpcRuleTests {
  typealias Routine = (StorDpc, ScriptedExtension, UInt, UInt) -> Bool

  /// A started harness whose ext.dpc runs `body` (initialised in HwStorInitialize).
  private func harness(
    seed: UInt64 = 1, processors: Int = 2, _ body: @escaping Routine
  ) -> SimHarness {
    let box = Box<Routine>(body)
    let h = SimHarness(seed: seed, processors: processors) { m in
      m.onInitialize = { ext in
        ext.port.initializeDpc(ext.dpc, SimHarness.dpcRoutine("D", box))
        return true
      }
    }
    h.startAdapter()
    return h
  }

  @Test func rule28_issueReturnsTrueAndRoutineRunsOnceWithArguments() {
    let calls = Observations<(Bool, Bool, UInt, UInt)>()
    let h = harness { dpc, ext, a, b in
      calls.append((dpc === ext.dpc, ext.port.executionContext != nil, a, b))
      return true
    }
    let result = Box(false)
    h.onProcessor { [ext = h.ext] in result.value = ext.port.issueDpc(ext.dpc, 7, 9) }
    #expect(result.value)
    #expect(calls.count == 1)
    #expect(calls.all.first.map { $0.0 && $0.1 && $0.2 == 7 && $0.3 == 9 } == true)
  }

  @Test func rule29_issueWhileQueuedReturnsFalseAndFirstArgumentsWin() {
    let args = Observations<UInt>()
    let h = harness { _, _, a, _ in
      args.append(a)
      return true
    }
    let results = Observations<Bool>()
    h.onProcessor { [ext = h.ext] in
      results.append(ext.port.issueDpc(ext.dpc, 1, 0))
      results.append(ext.port.issueDpc(ext.dpc, 2, 0))
    }
    #expect(results.all == [true, false])
    #expect(args.all == [1])
  }

  @Test func rule30_manyIssuesWhileQueuedCoalesceIntoOneRun() {
    let runs = Observations<Int>()
    let h = harness { _, _, _, _ in
      runs.append(1)
      return true
    }
    h.onProcessor { [ext = h.ext] in for i in 0..<25 { ext.port.issueDpc(ext.dpc, UInt(i), 0) } }
    #expect(runs.count == 1)
    #expect(h.ext.dpc.executionCount == 1)
  }

  @Test func rule31_issueWhileRunningRunsExactlyOnceMoreAfterCurrentEnds() {
    let log = Observations<String>()
    let reissued = Box<Bool?>(nil)
    let h = harness { dpc, ext, a, _ in
      log.append("start\(a)")
      if a == 1 { reissued.value = ext.port.issueDpc(dpc, 2, 0) }
      ext.counter.increment()  // a scheduling point between re-issue and return
      log.append("end\(a)")
      return true
    }
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc, 1, 0) }
    h.run(ms: 1)
    #expect(reissued.value == true)
    #expect(log.all == ["start1", "end1", "start2", "end2"])
  }

  @Test func rule32_oneDpcNeverOverlapsItselfAcrossProcessors() {
    for seed in UInt64(1)...15 {
      let probe = OverlapProbe()
      let h = harness(seed: seed) { _, ext, _, _ in
        probe.enter()
        ext.counter.increment()
        ext.counter.increment()
        probe.leave()
        return true
      }
      h.miniport.onMessageInterrupt = { ext, _ in
        ext.port.issueDpc(ext.dpc)
        return true
      }
      for _ in 0..<20 {
        h.adapter.device.raiseInterrupt(message: 0)
        h.adapter.device.raiseInterrupt(message: 1)
        h.run(us: 2)
      }
      h.run(ms: 1)
      #expect(!probe.overlapped, "seed \(seed)")
      #expect(h.ext.dpc.executionCount >= 2)
    }
  }

  @Test func rule33_differentDpcsMayRunConcurrently() {
    let seed = firstSeed { seed in
      let probe = OverlapProbe()
      let body: Routine = { _, ext, _, _ in
        probe.enter()
        ext.counter.increment()
        ext.counter.increment()
        probe.leave()
        return true
      }
      let h = harness(seed: seed, body)
      let second = Box<Routine>(body)
      h.onProcessor { [ext = h.ext] in ext.port.initializeDpc(ext.dpc2, SimHarness.dpcRoutine("D2", second)) }
      h.miniport.onMessageInterrupt = { ext, m in
        ext.port.issueDpc(m == 0 ? ext.dpc : ext.dpc2)
        return true
      }
      for _ in 0..<10 {
        h.adapter.device.raiseInterrupt(message: 0)
        h.adapter.device.raiseInterrupt(message: 1)
      }
      h.run(ms: 2)
      return probe.overlapped
    }
    #expect(seed != nil, "no seed showed two different DPCs running at once")
  }

  @Test func rule34_dpcRunsAtDispatchWithNoPortLock() {
    let seen = Box<ExecutionSnapshot?>(nil)
    let h = harness { _, ext, _, _ in
      seen.value = ext.port.executionContext
      return true
    }
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc) }
    #expect(seen.value?.irql == .dispatch)
    #expect(seen.value?.locks == [])
    #expect(seen.value?.role == .dpc)
  }

  @Test func rule35_dpcMayAcquireDpcStartIoInterruptInOrder() {
    let inner = Box<[String]>([])
    let h = harness { dpc, ext, _, _ in
      ext.port.withSpinLock(.dpcLock, context: dpc) {
        ext.port.withSpinLock(.interruptLock) {
          inner.value = ext.port.executionContext!.locks
        }
      }
      ext.port.withSpinLock(.startIoLock) {
        ext.port.withSpinLock(.dpcLock, context: dpc) {
          ext.port.withSpinLock(.interruptLock) {}
        }
      }
      return true
    }
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc) }
    #expect(h.reports.isEmpty)
    #expect(inner.value == ["DpcLock", "InterruptLock"])
  }

  @Test func rule36_issueDpcAcceptedFromInterruptAndFromTimer() {
    let args = Observations<UInt>()
    let h = harness { _, _, a, _ in
      args.append(a)
      return true
    }
    let fromIsr = Box(false)
    h.inIsr { ext in fromIsr.value = ext.port.issueDpc(ext.dpc, 1, 0) }
    let fromTimer = Box(false)
    h.inTimer { ext in fromTimer.value = ext.port.issueDpc(ext.dpc, 2, 0) }
    h.run(ms: 1)
    #expect(fromIsr.value && fromTimer.value)
    #expect(args.all == [1, 2])
  }

  @Test func rule37_dpcReturnValueIsIgnored() {
    let runs = Observations<UInt>()
    let h = harness { _, _, a, _ in
      runs.append(a)
      return a % 2 == 0  // alternate TRUE/FALSE
    }
    for i in UInt(1)...4 { h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc, i, 0) } }
    #expect(runs.all == [1, 2, 3, 4])
    #expect(h.events(.dpcEnd).map(\.a) == [0, 1, 0, 1])  // recorded in the trace (D1)
  }

  @Test func rule38_cancelQueuedDpcRemovesItAndRoutineDoesNotRun() {
    let runs = Observations<Int>()
    let h = harness { _, _, _, _ in
      runs.append(1)
      return true
    }
    let status = Box(StorStatus.unsuccessful)
    let removed = Box(false)
    h.onProcessor { [ext = h.ext] in
      ext.port.issueDpc(ext.dpc)
      var r = false
      status.value = ext.port.cancelDpc(ext.dpc, &r)
      removed.value = r
    }
    h.run(ms: 1)
    #expect(status.value == .success && removed.value)
    #expect(runs.count == 0)
  }

  @Test func rule39_cancelIdleOrRunningDpcReturnsFalse() {
    let whileRunning = Box<(StorStatus, Bool)?>(nil)
    let h = harness { dpc, ext, _, _ in
      var r = true
      let status = ext.port.cancelDpc(dpc, &r)
      whileRunning.value = (status, r)
      return true
    }
    let idle = Box<(StorStatus, Bool)?>(nil)
    h.onProcessor { [ext = h.ext] in
      var r = true
      let status = ext.port.cancelDpc(ext.dpc, &r)
      idle.value = (status, r)
    }
    h.onProcessor { [ext = h.ext] in ext.port.issueDpc(ext.dpc) }
    #expect(idle.value?.0 == .success && idle.value?.1 == false)
    #expect(whileRunning.value?.0 == .success && whileRunning.value?.1 == false)
  }

  @Test func rule40_cancelWithNullArgumentsIsInvalidParameter() {
    let h = harness { _, _, _, _ in true }
    let statuses = Observations<StorStatus>()
    h.onProcessor { [ext = h.ext] in
      var r = false
      statuses.append(ext.port.cancelDpc(nil, &r))
      statuses.append(ext.port.cancelDpc(ext.dpc, nil))
    }
    #expect(statuses.all == [.invalidParameter, .invalidParameter])
  }

  @Test func rule41_issueDpcNotificationWritesResultThroughPointer() {
    let h = harness { _, _, _, _ in true }
    let results = Observations<Bool>()
    h.onProcessor { [ext = h.ext] in
      var first = false
      var second = true
      ext.port.notification(.issueDpc(ext.dpc, 1, 2, result: &first))
      ext.port.notification(.issueDpc(ext.dpc, 3, 4, result: &second))
      results.append(first)
      results.append(second)
    }
    #expect(results.all == [true, false])
  }
}
