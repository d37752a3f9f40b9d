import Storport
import StorportSamples
import StorportTesting
import Testing

/// The simulated platform's contract: the same seed gives a bit-identical trace; different
/// seeds give different interleavings; a long virtual time costs little wall time.
@Suite struct DeterminismTests {
  private func demoTrace(seed: UInt64) -> String {
    var o = DemoRun.Options()
    o.simulated = true
    o.seed = seed
    o.durationMilliseconds = 5
    o.outstanding = 4
    o.trace = .full
    let r = DemoRun(o).run()
    #expect(r.verdict.hasPrefix("PASS"))
    var text = ""
    r.trace.writeJSONLines { text += $0 }
    return text
  }

  @Test func sameSeedGivesIdenticalTrace() {
    let a = demoTrace(seed: 7)
    let b = demoTrace(seed: 7)
    #expect(a.count > 10_000)
    #expect(a == b)
  }

  @Test func differentSeedsGiveDifferentInterleavings() {
    let traces = Set((1...4).map { demoTrace(seed: $0) })
    #expect(traces.count == 4)
  }

  @Test func thirtySecondVirtualTimeoutIsFastInWallTime() {
    let h = SimHarness()
    h.startAdapter()
    let fired = Observations<UInt64>()
    let t = HwTimer<ScriptedExtension>("Long") { e in fired.append(e.port.executionContext!.time) }
    h.onProcessor { [ext = h.ext] in ext.port.requestTimerCall(t, microseconds: 30_000_000) }
    let clock = ContinuousClock()
    let elapsed = clock.measure { h.run(ms: 31_000) }
    #expect(fired.count == 1 && fired.all[0] >= 30_000_000_000)
    #expect(elapsed < .seconds(5))  // a bound, not a benchmark: milliseconds in practice
  }

  /// With the verifier off, an ABBA lock-order inversion between two DPCs on two processors
  /// really deadlocks; the scheduler reports it with the blocked processors instead of hanging.
  @Test func lockOrderDeadlockIsReportedByScheduler() {
    var found: SimulationOutcome?
    for seed in UInt64(1)...30 {
      let h = SimHarness(seed: seed, verifier: .unchecked)
      h.startAdapter()
      let ab = HwDpcRoutine<ScriptedExtension>("AB") { _, ext, _, _ in
        ext.port.withSpinLock(.startIoLock) { ext.port.withSpinLock(.dpcLock, context: ext.dpc2) {} }
        return true
      }
      let ba = HwDpcRoutine<ScriptedExtension>("BA") { _, ext, _, _ in
        ext.port.withSpinLock(.dpcLock, context: ext.dpc2) { ext.port.withSpinLock(.startIoLock) {} }
        return true
      }
      h.onProcessor(0) { [ext = h.ext] in
        ext.port.initializeDpc(ext.dpc, ab)
        ext.port.initializeDpc(ext.dpc2, ba)
      }
      h.adapter.runOnProcessor(0) { [ext = h.ext] in ext.port.issueDpc(ext.dpc) }
      h.adapter.runOnProcessor(1) { [ext = h.ext] in ext.port.issueDpc(ext.dpc2) }
      let outcome = h.sim.run(for: 10_000_000)
      if case .deadlock = outcome {
        found = outcome
        h.abandon()
        break
      }
    }
    #expect(found == .deadlock(blocked: [0, 1]))
  }
}
