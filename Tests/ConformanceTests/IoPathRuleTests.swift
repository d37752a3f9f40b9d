import Storport
import StorportSamples
import StorportTesting
import Testing

/// Spec §13 rules 54–62: StartIo / BuildIo / ResetBus contexts, the synchronisation model
/// default and StorPortInitializePerfOpts.
@Suite struct IoPathRuleTests {
  /// Sets `channels` concurrent channels in HwStorInitialize (0 = none).
  static func channels(_ n: UInt32) -> (ScriptedExtension) -> Bool {
    { ext in
      guard n > 0 else { return true }
      var d = PerfConfigurationData()
      d.flags = [.concurrentChannels]
      d.concurrentChannels = n
      return ext.port.initializePerfOpts(query: false, &d) == .success
    }
  }

  /// StartIo traffic; returns (overlapped, contexts seen in StartIo).
  private func startIoTraffic(seed: UInt64, channels: UInt32, halfDuplex: Bool = false)
    -> (Bool, [ExecutionSnapshot])
  {
    let probe = OverlapProbe()
    let seen = Observations<ExecutionSnapshot>()
    let h = SimHarness(seed: seed) { m in
      if halfDuplex { m.onFindAdapter = { _, _ in .found } }
      m.onInitialize = IoPathRuleTests.channels(channels)
      m.onStartIo = { ext, r in
        seen.append(ext.port.executionContext!)
        probe.enter()
        ext.counter.increment()
        probe.leave()
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    h.startAdapter()
    let requests = h.submit(40)
    #expect(requests.allSatisfy { $0.isCompleted })
    return (probe.overlapped, seen.all)
  }

  @Test func rule54_fullDuplexStartIoSerialisedUnderStartIoLockAtDispatch() {
    for seed in UInt64(1)...10 {
      let (overlap, seen) = startIoTraffic(seed: seed, channels: 0)
      #expect(!overlap, "seed \(seed)")
      #expect(seen.allSatisfy { $0.irql == .dispatch && $0.locks == ["StartIoLock"] })
    }
  }

  @Test func rule55_concurrentChannelsStartIoOverlapsWithoutStartIoLock() {
    var allUnlocked = true
    let seed = firstSeed { seed in
      let (overlap, seen) = startIoTraffic(seed: seed, channels: 2)
      allUnlocked = allUnlocked && seen.allSatisfy { !$0.holdsStartIoLock && $0.irql == .dispatch }
      return overlap
    }
    #expect(seed != nil, "no seed showed StartIo overlapping itself on two channels")
    #expect(allUnlocked)
  }

  @Test func rule56_halfDuplexStartIoAtDirqlUnderInterruptLockMayNotAcquire() {
    let (_, seen) = startIoTraffic(seed: 3, channels: 0, halfDuplex: true)
    #expect(!seen.isEmpty && seen.allSatisfy { $0.irql == .device && $0.holdsInterruptLock })
    let h = SimHarness { m in
      m.onFindAdapter = { _, _ in .found }
      m.onStartIo = { ext, r in
        ext.port.withSpinLock(.startIoLock) {}
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    h.startAdapter()
    h.submit(1)
    #expect(h.rules() == [.lockNotAllowedInCallback])
  }

  @Test func rule57_buildIoRunsUnlockedMayOverlapAndFalseSkipsStartIo() {
    var contextsOk = true
    let seed = firstSeed { seed in
      let probe = OverlapProbe()
      let startedTags = Observations<UInt64>()
      let h = SimHarness(seed: seed, hasBuildIo: true) { m in
        m.onBuildIo = { ext, r in
          let c = ext.port.executionContext!
          if c.irql != .dispatch || !c.locks.isEmpty { contextsOk = false }
          probe.enter()
          ext.counter.increment()
          probe.leave()
          if r.tag % 3 == 0 {
            r.srbStatus = .success
            ext.port.requestComplete(r)  // the miniport completes it itself
            return false
          }
          return true
        }
        m.onStartIo = { ext, r in
          startedTags.append(r.tag)
          r.srbStatus = .success
          ext.port.requestComplete(r)
          return true
        }
      }
      h.startAdapter()
      let requests = h.submit(30)
      #expect(requests.allSatisfy { $0.isCompleted })
      #expect(startedTags.all.allSatisfy { $0 % 3 != 0 })
      #expect(startedTags.count == 20)
      return probe.overlapped
    }
    #expect(seed != nil, "no seed showed BuildIo overlapping itself")
    #expect(contextsOk)
  }

  @Test func rule58_resetBusAtDispatchWithStartIoLockAndNoStartIoOverlap() {
    for seed in UInt64(1)...8 {
      let probe = OverlapProbe()
      let seen = Observations<ExecutionSnapshot>()
      let h = SimHarness(seed: seed) { m in
        m.onInitialize = IoPathRuleTests.channels(2)
        m.onStartIo = { ext, r in
          probe.enter()
          ext.counter.increment()
          probe.leave()
          r.srbStatus = .success
          ext.port.requestComplete(r)
          return true
        }
        m.onResetBus = { ext, _ in
          seen.append(ext.port.executionContext!)
          probe.enter()
          ext.counter.increment()
          ext.counter.increment()
          probe.leave()
          return true
        }
      }
      h.startAdapter()
      for i in 0..<20 {
        h.adapter.submit(StorRequest(tag: UInt64(i)))
        if i % 5 == 0 { h.adapter.resetBus() }
      }
      h.run(ms: 2)
      #expect(!probe.overlapped, "seed \(seed)")
      #expect(seen.count == 4)
      #expect(seen.all.allSatisfy { $0.irql == .dispatch && $0.holdsStartIoLock && $0.role == .resetBus })
    }
  }

  @Test func rule59_synchronizationModelDefaultsToHalfDuplex() {
    let h = SimHarness { m in m.onFindAdapter = { _, _ in .found } }
    h.startAdapter()
    #expect(h.adapter.configuration.synchronizationModel == .halfDuplex)
    #expect(PortConfiguration().synchronizationModel == .halfDuplex)
  }

  @Test func rule60_perfOptsQueryFillsSupportedFlags() {
    let flags = Box<StorPerfFlags>([])
    let status = Box(StorStatus.unsuccessful)
    let h = SimHarness { m in
      m.onInitialize = { ext in
        var d = PerfConfigurationData()
        status.value = ext.port.initializePerfOpts(query: true, &d)
        flags.value = d.flags
        return true
      }
    }
    h.startAdapter()
    #expect(status.value == .success)
    #expect(
      flags.value == [
        .dpcRedirection, .concurrentChannels, .interruptMessageRanges,
        .advancedConfigLocality, .optimizeForCompletionDuringStartIo, .dpcRedirectionCurrentCpu, .noSgl,
      ])
  }

  @Test func rule61_perfOptsUnknownFlagMissingPrerequisiteOrNullData() {
    let statuses = Observations<StorStatus>()
    let h = SimHarness { m in
      m.onInitialize = { ext in
        var unknown = PerfConfigurationData()
        unknown.flags = StorPerfFlags(rawValue: 0x80)
        statuses.append(ext.port.initializePerfOpts(query: false, &unknown))
        var orphan = PerfConfigurationData()
        orphan.flags = [.interruptMessageRanges]  // needs DPC_REDIRECTION
        statuses.append(ext.port.initializePerfOpts(query: false, &orphan))
        statuses.append(ext.port.initializePerfOpts(query: false, nil))
        var good = PerfConfigurationData()
        good.flags = [.dpcRedirection, .interruptMessageRanges]
        statuses.append(ext.port.initializePerfOpts(query: false, &good))
        return true
      }
    }
    h.startAdapter()
    #expect(statuses.all == [.unsuccessful, .unsuccessful, .invalidParameter, .success])
  }

  @Test func rule62_perfOptsOutsideInitializeIsUnsuccessful() {
    let h = SimHarness()
    h.startAdapter()
    let statuses = Observations<StorStatus>()
    h.inDpc { ext in
      var d = PerfConfigurationData()
      statuses.append(ext.port.initializePerfOpts(query: true, &d))
    }
    h.submit(1)
    h.miniport.onStartIo = { ext, r in
      var d = PerfConfigurationData()
      statuses.append(ext.port.initializePerfOpts(query: true, &d))
      r.srbStatus = .success
      ext.port.requestComplete(r)
      return true
    }
    h.submit(1)
    #expect(statuses.all == [.unsuccessful, .unsuccessful])
  }
}
