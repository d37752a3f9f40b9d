import Storport
import StorportSamples
import StorportTesting
import Testing

/// The port's own per-request timeout (R-N11) and queue depths.
@Suite struct RequestTimeoutTests {
  /// A request the miniport sits on past its timeout makes the port call HwStorResetBus (DISPATCH,
  /// StartIo lock, every channel held, no StartIo overlapping); the miniport hands it back with
  /// SRB_STATUS_BUS_RESET, the port retries it, and it completes.
  @Test func rn11_timeoutCallsResetBusAndRetries() {
    let held = Observations<StorRequest>()
    let resetContexts = Observations<ExecutionSnapshot>()
    let attempts = InterlockedValue()
    let h = SimHarness { m in
      m.onInitialize = IoPathRuleTests.channels(2)
      m.onStartIo = { ext, r in
        if attempts.increment() == 1 {
          held.append(r)  // swallow the first attempt
        } else {
          r.srbStatus = .success
          ext.port.requestComplete(r)
        }
        return true
      }
      m.onResetBus = { ext, _ in
        resetContexts.append(ext.port.executionContext!)
        for r in held.all where !r.isCompleted {
          r.srbStatus = .busReset
          ext.port.requestComplete(r)
        }
        return true
      }
    }
    let r = Self.submitOne(h) { $0.isCompleted && $0.srbStatus == .success }
    #expect(r.isCompleted && r.srbStatus == .success)
    #expect(attempts.load() == 2)
    #expect(h.adapter.timeoutResets == 1)
    let c = resetContexts.all.first
    #expect(c?.irql == .dispatch && c?.holdsStartIoLock == true)
    #expect(c?.locks.contains("Channel0") == true && c?.locks.contains("Channel1") == true)
    #expect(h.now >= 2_000_000_000)
    // The lost completion is reported (a warning: the port recovered), with the request's
    // history — as Driver Verifier's SRB timeout diagnostics do.
    #expect(h.rules() == [.requestTimedOut])
    let report = try? #require(h.reports.first)
    #expect(report?.rule.isWarning == true && report?.stoppedAdapter == false)
    #expect(report?.message.contains("HwStorStartIo") == true)
    #expect(report?.message.contains("SRB_STATUS_BUS_RESET") == true)
  }

  /// R-S11 and the port's bound on it: a request completed with SRB_STATUS_BUSY is re-issued
  /// through StartIo — and once it has been busy for its whole timeout (a miniport whose
  /// controller died during a reset answers BUSY for ever) it is completed to its submitter
  /// with SRB_STATUS_BUSY instead of cycling with no end. Positive control: busy three times,
  /// then done, completes with success after four StartIo calls.
  @Test func rs11_busyForTheWholeTimeoutEndsTheRequestBusy() {
    func run(busyTimes: Int) -> (StorRequest, attempts: Int, now: UInt64, rules: [VerifierRule]) {
      let attempts = InterlockedValue()
      let h = SimHarness { m in
        m.onStartIo = { ext, r in
          r.srbStatus = attempts.increment() <= busyTimes ? .busy : .success
          ext.port.requestComplete(r)
          return true
        }
      }
      let r = Self.submitOne(h) { $0.isCompleted }
      return (r, Int(attempts.load()), h.now, h.rules())
    }
    let recovers = run(busyTimes: 3)
    #expect(recovers.0.isCompleted && recovers.0.srbStatus == .success && recovers.attempts == 4)
    let stuck = run(busyTimes: .max)
    #expect(stuck.0.isCompleted && stuck.0.srbStatus == .busy, "a request busy for ever never ended")
    #expect(
      stuck.now >= 2_000_000_000 && stuck.now < 3_000_000_000, "ended at \(stuck.now) ns, not after its 2 s")
    #expect(stuck.attempts > 100, "re-issued only \(stuck.attempts) times")
    #expect(stuck.rules.isEmpty && recovers.rules.isEmpty)
  }

  /// Queue depths: at most `depth` requests of a LUN in the miniport (StorPortSetDeviceQueueDepth)
  /// and at most MaxNumberOfIO in the adapter; the rest wait in the port, in order.
  @Test func lunAndAdapterQueueDepthsHoldExcessRequests() {
    let held = Observations<StorRequest>()
    let h = SimHarness { m in
      m.onFindAdapter = { _, c in
        c.synchronizationModel = .fullDuplex
        c.maxNumberOfIO = 5
        return .found
      }
      m.onStartIo = { _, r in
        held.append(r)
        return true
      }
    }
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in
      _ = ext.port.setDeviceQueueDepth(pathId: 0, targetId: 0, lun: 0, depth: 3)
    }
    for i in 0..<4 { h.adapter.submit(StorRequest(tag: UInt64(i))) }
    let other = StorRequest(tag: 10)
    other.lun = 1
    h.adapter.submit(other)
    h.run(us: 200)
    func count(lun: UInt8) -> Int { held.all.filter { $0.lun == lun }.count }
    #expect(count(lun: 0) == 3 && count(lun: 1) == 1)  // LUN 0 at its depth; LUN 1 unaffected
    #expect(!held.all.contains { $0.tag == 3 })
    h.onProcessor { [ext = h.ext] in
      let first = held.all.first { $0.lun == 0 }!
      first.srbStatus = .success
      ext.port.requestComplete(first)
    }
    h.run(us: 200)
    #expect(held.all.contains { $0.tag == 3 })  // a LUN 0 slot freed: the held request enters
    // Adapter limit: 4 outstanding now, MaxNumberOfIO 5: of three more (other LUNs) one enters.
    for i in 2..<5 {
      let r = StorRequest(tag: UInt64(20 + i))
      r.lun = UInt8(i)
      h.adapter.submit(r)
    }
    h.run(us: 200)
    #expect(held.count == 6)
    #expect(h.adapter.statistics.queuedRequests == 2)
  }

  /// Starts the adapter, submits one request with a 2 s timeout and runs the simulation until
  /// `done` holds (at most 10 s of virtual time).
  static func submitOne(_ h: SimHarness, until done: @escaping (StorRequest) -> Bool) -> StorRequest {
    h.startAdapter()
    let r = StorRequest(tag: 1)
    r.timeoutSeconds = 2
    h.adapter.submit(r)
    h.runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { done(r) }
    return r
  }
}
