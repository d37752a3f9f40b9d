import Storport
import StorportSamples
import StorportTesting
import Testing

/// Spec §13 rules 42–53: port spin locks, MSI locks, interrupts and SynchronizeAccess.
@Suite struct LockRuleTests {
  private func started(configure: (ScriptedMiniport) -> Void = { _ in }) -> SimHarness {
    let h = SimHarness(configure: configure)
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(ext.dpc, HwDpcRoutine<ScriptedExtension>("Idle") { _, _, _, _ in true })
    }
    return h
  }

  @Test func rule42_lockContextMustMatchLockType() {
    let h = started()
    h.inDpc { ext in
      ext.port.withSpinLock(.dpcLock, context: nil) {}
      ext.port.withSpinLock(.startIoLock, context: ext.dpc) {}
      ext.port.withSpinLock(.dpcLock, context: ext.dpc) {}  // correct
    }
    #expect(h.rules() == [.wrongLockContext, .wrongLockContext])
  }

  @Test func rule43_acquiringHeldLockIsReported() {
    let h = started()
    h.inDpc { ext in
      ext.port.withSpinLock(.startIoLock) {
        ext.port.withSpinLock(.startIoLock) {}
      }
    }
    #expect(h.rules() == [.lockAcquiredTwice])
  }

  @Test func rule44_startIoOrDpcAfterInterruptIsOrderViolation() {
    let h = started()
    h.inDpc { ext in
      ext.port.withSpinLock(.interruptLock) {
        ext.port.withSpinLock(.startIoLock) {}
        ext.port.withSpinLock(.dpcLock, context: ext.dpc) {}
      }
    }
    #expect(h.rules() == [.lockOrder, .lockOrder])
  }

  @Test func rule45_releasingUnacquiredHandleIsReported() {
    let h = started()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.releaseSpinLock(&handle)
    }
    #expect(h.rules() == [.releaseOfUnheldLock])
  }

  @Test func rule46_returningWithLockHeldIsReportedAndRepaired() {
    let h = started()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.startIoLock, &handle)
    }
    #expect(h.rules().contains(.lockHeldAtReturn))
    // The port released it: a timer (which needs the StartIo lock) still runs.
    let ran = Box(false)
    h.inTimer { _ in ran.value = true }
    #expect(ran.value)
  }

  @Test func rule47_releaseRestoresSavedIrql() {
    let h = started()
    let levels = Observations<Irql>()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.interruptLock, &handle)
      levels.append(ext.port.executionContext!.irql)
      levels.append(handle.oldIrql)
      ext.port.releaseSpinLock(&handle)
      levels.append(ext.port.executionContext!.irql)
    }
    #expect(levels.all == [.device, .dispatch, .dispatch])

    // From PASSIVE_LEVEL (HwStorAdapterControl may take port locks): the saved IRQL is PASSIVE,
    // and release goes back to it, not to DISPATCH.
    let passive = Observations<Irql>()
    let p = SimHarness { m in
      m.onAdapterControl = { ext, t, params in
        if t == .querySupportedControlTypes {
          params.supported = [.querySupportedControlTypes, .stopAdapter, .restartAdapter]
          var handle = StorLockHandle()
          passive.append(ext.port.executionContext!.irql)
          ext.port.acquireSpinLock(.startIoLock, &handle)
          passive.append(ext.port.executionContext!.irql)
          passive.append(handle.oldIrql)
          ext.port.releaseSpinLock(&handle)
          passive.append(ext.port.executionContext!.irql)
        }
        return .success
      }
    }
    p.startAdapter()
    #expect(passive.all == [.passive, .dispatch, .passive, .passive])
  }

  @Test func rule48_threadedAndDpcLevelLocksOnlyThroughEx() {
    let h = started()
    let statuses = Observations<StorStatus>()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.threadedDpcLock, context: ext.dpc, &handle)
      ext.port.releaseSpinLock(&handle)  // refused acquire: release is a no-op
      for kind in [StorSpinLockKind.threadedDpcLock, .dpcLevelLock] {
        var h2 = StorLockHandle()
        statuses.append(ext.port.acquireSpinLockEx(kind, context: ext.dpc, &h2))
        ext.port.releaseSpinLock(&h2)
      }
    }
    #expect(h.rules() == [.invalidLockType])
    #expect(statuses.all == [.success, .success])
  }

  @Test func rule49_acquireExAtWrongIrqlIsInvalidIrql() {
    let h = started()
    let status = Box(StorStatus.success)
    h.inDpc { ext in
      ext.port.withSpinLock(.interruptLock) {
        var handle = StorLockHandle()
        status.value = ext.port.acquireSpinLockEx(.dpcLevelLock, context: ext.dpc, &handle)
      }
    }
    #expect(status.value == .invalidIrql)
  }

  @Test func rule50_isrAndMsiRoutineRunAtDirqlWithInterruptLock() {
    let h = started { m in
      m.onFindAdapter = { _, c in
        c.synchronizationModel = .fullDuplex
        c.interruptSynchronizationMode = .synchronizeAll
        c.messageCount = 2
        return .found
      }
    }
    let seen = Observations<ExecutionSnapshot>()
    h.miniport.onInterrupt = { ext in
      seen.append(ext.port.executionContext!)
      return true
    }
    h.miniport.onMessageInterrupt = { ext, _ in
      seen.append(ext.port.executionContext!)
      return true
    }
    h.adapter.device.raiseInterrupt()
    h.adapter.device.raiseInterrupt(message: 1)
    h.run(us: 100)
    #expect(seen.count == 2)
    for s in seen.all {
      #expect(s.irql == .device)
      #expect(s.holdsInterruptLock)
    }
  }

  @Test func rule51_perMessageRoutinesHoldOnlyTheirLockAndMayOverlap() {
    let found = firstSeed { seed in
      let probe = OverlapProbe()
      let onlyOwn = Box(true)
      let h = SimHarness(seed: seed) { m in
        m.onFindAdapter = { _, c in
          c.synchronizationModel = .fullDuplex
          c.interruptSynchronizationMode = .synchronizePerMessage
          c.messageCount = 2
          return .found
        }
        m.onMessageInterrupt = { ext, id in
          let s = ext.port.executionContext!
          if s.locks != ["MSI\(id)Lock"] { onlyOwn.value = false }
          probe.enter()
          ext.counter.increment()
          ext.counter.increment()
          probe.leave()
          return true
        }
      }
      h.startAdapter()
      for _ in 0..<8 {
        h.adapter.device.raiseInterrupt(message: 0)
        h.adapter.device.raiseInterrupt(message: 1)
      }
      h.run(us: 200)
      #expect(onlyOwn.value)
      return probe.overlapped
    }
    #expect(found != nil, "no seed showed two message routines overlapping")
  }

  @Test func rule52_msiLockOutsidePerMessageModeIsReported() {
    let h = started()
    let status = Box(StorStatus.success)
    h.inDpc { ext in
      var old = Irql.passive
      status.value = ext.port.acquireMSISpinLock(messageId: 0, oldIrql: &old)
    }
    #expect(h.rules() == [.msiLockWrongMode])
    #expect(status.value != .success)
  }

  @Test func rule53_synchronizeAccessRunsExclusivelyWithIsrAndReturnsResult() {
    let found = firstSeed(upTo: 20) { seed in
      let probe = OverlapProbe()
      let results = Observations<Bool>()
      let contexts = Observations<ExecutionSnapshot>()
      let h = SimHarness(seed: seed) { m in
        m.onInterrupt = { ext in
          probe.enter()
          ext.counter.increment()
          probe.leave()
          return true
        }
      }
      h.startAdapter()
      let routine = HwSynchronizedAccess<ScriptedExtension>("Sync") { ext, ctx in
        contexts.append(ext.port.executionContext!)
        probe.enter()
        ext.counter.increment()
        probe.leave()
        return ctx == 5
      }
      for _ in 0..<6 {
        h.adapter.device.raiseInterrupt()
        h.adapter.runOnProcessor(1) { [ext = h.ext] in
          results.append(ext.port.synchronizeAccess(routine, context: 5))
          results.append(ext.port.synchronizeAccess(routine, context: 4))
        }
      }
      h.run(us: 200)
      #expect(!probe.overlapped)
      #expect(
        results.all.count == 12 && results.all.enumerated().allSatisfy { $0.element == ($0.offset % 2 == 0) })
      #expect(contexts.all.allSatisfy { $0.irql == .device && $0.holdsInterruptLock })
      return true
    }
    #expect(found != nil)
  }
}
