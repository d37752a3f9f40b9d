import Storport
import StorportDevices
import StorportSamples
import StorportTesting
import Testing

/// Faults a driver writer makes, tried on purpose (issue 7 §3): each must be reported — which
/// rule, which callback, charged to the right adapter — and the runtime must keep working.
@Suite struct MisuseTests {
  /// A half-duplex StartIo spinning (its locks held) on a flag only HwStorTimer sets. The run
  /// reports the overlong callback while it spins; shutdown then finishes — the processor is
  /// reported stuck and abandoned, never waited on.
  @Test func spinningStartIoIsReportedAndShutdownFinishes() {
    let h = SimHarness { m in VerifierFixtures.spinningHalfDuplexStartIo(m) }
    h.startAdapter()
    h.adapter.submit(StorRequest(tag: 1))
    h.run(ms: 150)
    let during = h.reports
    #expect(during.map(\.rule) == [.callbackTimeout])
    #expect(during.first?.message.contains("HwStorStartIo") == true)
    h.runtime.shutdown()  // returns: the test would hang here otherwise
    let stuck = h.reports.filter { $0.rule == .callbackStuck }
    #expect(stuck.count == 1)
    #expect(stuck.first?.message.contains("HwStorStartIo") == true)
    #expect(stuck.first?.message.contains("ms") == true)
  }

  /// HwStorBuildIo completes the request and still returns TRUE: reported; StartIo never sees it.
  @Test func buildIoThatCompletesAndReturnsTrueIsReported() {
    let startIos = InterlockedValue()
    let h = SimHarness(hasBuildIo: true) { m in
      m.onBuildIo = { ext, r in
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
      m.onStartIo = { _, _ in
        startIos.increment()
        return true
      }
    }
    h.startAdapter()
    let requests = h.submit(1)
    #expect(requests[0].isCompleted && requests[0].srbStatus == .success)
    #expect(startIos.load() == 0)
    #expect(h.rules() == [.buildIoCompletedAndProceeded])
  }

  /// The miniport writes SRB status and DataBuffer after completing: both reported. The
  /// submitter's own writes in its completion routine (it owns the request again) are not.
  @Test func writesAfterCompletionAreReportedButTheSubmittersAreNot() {
    let h = SimHarness { m in
      m.onStartIo = { ext, r in
        r.srbStatus = .success
        ext.port.requestComplete(r)
        r.srbStatus = .error
        r.dataBuffer = nil
        return true
      }
    }
    h.startAdapter()
    h.submit(1)
    #expect(h.rules() == [.requestTouchedAfterCompletion, .requestTouchedAfterCompletion])
    #expect(h.reports.allSatisfy { $0.message.contains("after the miniport completed it") })

    let clean = SimHarness()
    clean.startAdapter()
    let done = InterlockedValue()
    let r = StorRequest(tag: 7)
    clean.adapter.submit(r) { r in
      r.srbStatus = .pending  // the submitter reusing its request
      r.dataBuffer = nil
      done.increment()
    }
    clean.runtime.runUntil { done.load() == 1 }
    #expect(done.load() == 1)
    #expect(clean.rules().isEmpty)
  }

  /// Adapter 0's callbacks misuse adapter 1's objects (a DPC, the adapter timer): the findings
  /// go to adapter 0, which is stopped; adapter 1 keeps running. A stopped adapter then refuses
  /// RequestTimerCall, with a report, instead of accepting it silently.
  @Test func misuseThroughAnotherAdaptersObjectsIsChargedToTheOffender() {
    let h = SimHarness(policy: .stopAdapter)
    h.startAdapter()
    let other = h.runtime.attach(ScriptedMiniport(name: "innocent"))
    other.start()
    h.runtime.runUntil { other.state == .running }
    let theirs = other.deviceExtension(as: ScriptedExtension.self)
    other.runOnProcessor(1) {
      theirs.port.initializeDpc(theirs.dpc, HwDpcRoutine<ScriptedExtension>("Theirs") { _, _, _, _ in true })
    }
    h.run(ms: 1)
    h.inDpc { _ in
      theirs.port.issueDpc(theirs.dpc)
      theirs.port.requestTimerCall(HwTimer<ScriptedExtension>("NotMine") { _ in }, microseconds: 100)
    }
    let reports = h.reports
    #expect(reports.first?.rule == .objectOfAnotherAdapter)
    #expect(reports.allSatisfy { $0.adapter == 0 })
    #expect(h.adapter.state == .failed)
    #expect(other.state == .running)
    #expect(!other.isAdapterTimerPending)

    // The verifier stopped adapter 0: a timer request now is refused and reported.
    h.adapter.runOnProcessor(0) { [ext = h.ext] in
      ext.port.requestTimerCall(HwTimer<ScriptedExtension>("Late") { _ in }, microseconds: 100)
    }
    h.run(ms: 1)
    #expect(h.rules().last == .useAfterStop)
    #expect(!h.adapter.isAdapterTimerPending)
  }

  /// A 200 ms StorPortStallExecution in StartIo, a DPC that runs for a second, and a DPC that
  /// re-issues itself forever: each is reported.
  @Test func longStallsLongDpcsAndEndlessDpcsAreReported() {
    let stall = SimHarness { m in
      m.onStartIo = { ext, r in
        ext.port.stallExecution(microseconds: 200_000)
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    stall.startAdapter()
    stall.submit(1)
    #expect(stall.rules() == [.stallTooLong, .callbackTimeout])

    let long = SimHarness()
    long.startAdapter()
    long.inDpc(settle: 1_100_000_000) { ext in
      for _ in 0..<1111 { ext.port.stallExecution(microseconds: 900) }
    }
    #expect(long.rules() == [.callbackTimeout])
    #expect(long.reports.first?.message.contains("ProbeDpc") == true)

    let endless = SimHarness(
      policy: .stopAdapter,
      watchdog: WatchdogLimits(callback: 100_000_000, dispatch: 10_000_000, shutdownGrace: 10_000_000))
    endless.startAdapter()
    endless.issueEndlessDpc()
    endless.run(ms: 30)
    #expect(endless.rules() == [.dispatchWatchdog])
    #expect(endless.adapter.state == .failed)
  }

  /// Calls the documentation forbids return their error status and, in checked mode, are
  /// violations as Driver Verifier makes them.
  @Test func forbiddenCallsAreViolations() {
    let h = SimHarness()
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in _ = ext.port.initializeTimer(&ext.timerHandle) }
    let freeStatus = Box(StorStatus.success)
    h.inIsr { ext in freeStatus.value = ext.port.freeTimer(ext.timerHandle) }
    #expect(freeStatus.value == .invalidIrql)
    let msiStatus = Box(StorStatus.success)
    h.inDpc { ext in msiStatus.value = ext.port.releaseMSISpinLock(messageId: 0, oldIrql: .dispatch) }
    #expect(msiStatus.value == .invalidDeviceRequest)
    #expect(h.rules() == [.wrongIrqlForRoutine, .msiLockWrongMode])
  }

  /// A request completed BUSY is taken back for re-issue; a stale path completing it again
  /// meanwhile is a double completion, though the request will be the miniport's again.
  @Test func doubleCompletionIsFollowedAcrossReissue() {
    let attempts = InterlockedValue()
    let stale = Box<StorRequest?>(nil)
    let h = SimHarness { m in
      m.onInitialize = { ext in
        ext.port.initializeDpc(
          ext.dpc,
          HwDpcRoutine<ScriptedExtension>("StaleCompletion") { _, ext, _, _ in
            if let r = stale.value { ext.port.requestComplete(r) }
            return true
          })
        return true
      }
      m.onStartIo = { ext, r in
        if attempts.increment() == 1 {
          stale.value = r
          r.srbStatus = .busy
          ext.port.requestComplete(r)
          ext.port.issueDpc(ext.dpc)  // runs before the re-issue reaches StartIo
        } else {
          r.srbStatus = .success
          ext.port.requestComplete(r)
        }
        return true
      }
    }
    h.startAdapter()
    let completions = InterlockedValue()
    let r = StorRequest(tag: 3)
    h.adapter.submit(r) { _ in completions.increment() }
    h.runtime.runUntil { completions.load() == 1 }
    h.run(ms: 1)
    #expect(completions.load() == 1)
    #expect(r.srbStatus == .success)
    #expect(h.rules() == [.requestCompletedTwice])
    #expect(h.reports.first?.message.contains("re-issued") == true)
  }

  /// The NVMe model checks its driver: a doorbell past the end of a queue and a command
  /// identifier reused while in flight are protocol violations.
  @Test func strictNvmeModelReportsDoorbellsPastTheQueueAndReusedIdentifiers() throws {
    let runtime = StorportRuntime(platform: SimulatedPlatform(processors: 1, seed: 3))
    runtime.start()
    defer { runtime.shutdown() }
    let store = try RamStore(bytes: 1 << 20)
    var configuration = NvmeController.Configuration()
    configuration.latency = .fixed(nanoseconds: 1_000_000)  // commands stay in flight 1 ms
    let d = NvmeController(store: store, platform: runtime.platform, configuration: configuration)
    d.connectInterrupts { _ in }
    let memory = UnsafeMutableRawPointer.allocate(byteCount: 5 * 4096, alignment: 4096)
    defer { memory.deallocate() }
    memory.initializeMemory(as: UInt8.self, repeating: 0, count: 5 * 4096)
    let (asq, acq, sq, cq, data) = (memory, memory + 4096, memory + 8192, memory + 12288, memory + 16384)
    func address(_ p: UnsafeMutableRawPointer) -> UInt64 { UInt64(UInt(bitPattern: p)) }
    d.write32(NvmeRegister.aqa, 3 | 3 << 16)
    d.write64(NvmeRegister.asq, address(asq))
    d.write64(NvmeRegister.acq, address(acq))
    d.write32(NvmeRegister.cc, NvmeBits.ccDefault | NvmeBits.ccEnable)
    runtime.runUntil(timeoutNanoseconds: 100_000_000) {
      d.read32(NvmeRegister.csts) & NvmeBits.cstsReady != 0
    }
    #expect(d.read32(NvmeRegister.csts) & NvmeBits.cstsReady != 0)
    // Admin: create I/O completion queue 1 and submission queue 1, 4 entries each.
    var createCq = NvmeCommand()
    createCq.opcode = NvmeOpcode.createCq
    createCq.commandId = 1
    createCq.prp1 = address(cq)
    createCq.cdw10 = 1 | 3 << 16
    createCq.store(to: asq)
    var createSq = NvmeCommand()
    createSq.opcode = NvmeOpcode.createSq
    createSq.commandId = 2
    createSq.prp1 = address(sq)
    createSq.cdw10 = 1 | 3 << 16
    createSq.cdw11 = 1 << 16
    createSq.store(to: asq + 64)
    d.write32(NvmeRegister.submissionTail(0), 2)
    runtime.run(forMilliseconds: 5)
    #expect(d.protocolViolations.withLock { $0.isEmpty }, "a correct driver is not reported")
    // Two reads with the same identifier; the device completes nothing meanwhile (latency).
    var read = NvmeCommand()
    read.opcode = NvmeOpcode.read
    read.namespaceId = 1
    read.commandId = 9
    read.prp1 = address(data)
    read.store(to: sq)
    read.store(to: sq + 64)
    d.write32(NvmeRegister.submissionTail(1), 1)
    let afterFirst = d.protocolViolations.withLock { $0.count }
    d.write32(NvmeRegister.submissionTail(1), 2)
    d.write32(NvmeRegister.submissionTail(1), 17)
    let found = d.protocolViolations.withLock { $0 }
    #expect(afterFirst == 0)
    #expect(found.contains { $0.contains("past the queue") })
    #expect(found.contains { $0.contains("reused") })
    #expect(found.count == 2)
  }
}
