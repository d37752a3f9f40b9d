import Storport
import StorportExplorer
import StorportTesting
import Testing

/// Which code regions overlapped in one schedule ("StartIo|Timer", "StartIo|StartIo", …).
final class RegionProbe: @unchecked Sendable {
  private var inside: [String: Int] = [:]
  private(set) var overlaps = Set<String>()
  /// Enters region `name`; notes every region it overlaps (itself included).
  func enter(_ name: String) {
    for (other, n) in inside where n > 0 { overlaps.insert([name, other].sorted().joined(separator: "|")) }
    inside[name, default: 0] += 1
  }
  func leave(_ name: String) { inside[name, default: 0] -= 1 }
  func inside(_ name: String) -> Bool { inside[name, default: 0] > 0 }
}

/// What an exploration of a race rule saw across all its schedules.
struct RaceRuleEvidence {
  /// Region pairs seen overlapping, with the number of schedules each was seen in.
  var overlaps: [String: Int] = [:]
  /// Schedules in which the interleaving the rule is about was reached (its witness).
  var witnessed = 0
  var schedules = 0
  var failures: [String] = []
}

/// The race rules re-based on the explorer (issue 8): each rule's harness runs under PCT
/// (d = 2) and bounded search; the test asserts the rule held in every schedule, that the
/// dangerous interleaving was reached (a witness: the two sides contended for the lock that
/// keeps them apart, or one was issued while the other ran), and — its positive control —
/// that the same exploration of a variant Storport does not serialise finds the overlap.
@Suite struct ExplorerRaceRuleTests {
  /// Explores `body` (given a fresh probe and the run) with PCT and bounded search.
  static func explore(
    _ name: String, schedules: Int = 300, dfsBound: Int = 1,
    _ body: @escaping @Sendable (HarnessRun, RegionProbe) -> Bool
  ) -> RaceRuleEvidence {
    let evidence = Locked(RaceRuleEvidence())
    let harness = ExplorationHarness(name: name, processors: 2) { run in
      let probe = RegionProbe()
      let witness = body(run, probe)
      evidence.withLock { e in
        e.schedules += 1
        if witness { e.witnessed += 1 }
        for o in probe.overlaps { e.overlaps[o, default: 0] += 1 }
      }
    }
    for strategy in [ExplorationStrategy.pct(depth: 2), .dfs(preemptions: dfsBound)] {
      let r = Explorer.explore(
        harness, ExplorationOptions(strategy: strategy, schedules: schedules, seed: 5, shrink: false))
      if let f = r.failure?.shrunk.primary {
        evidence.withLock { $0.failures.append("\(strategy): \(f.signature): \(f.message)") }
      }
    }
    return evidence.withLock { $0 }
  }

  /// Whether the port lock `name` ("StartIoLock", "InterruptLock", "Channel…") was ever found
  /// taken in this run: one side waited for the other.
  static func contended(_ adapter: Adapter, _ name: String) -> Bool {
    adapter.lockContention.contains { $0.key.hasPrefix(name) && $0.value > 0 }
  }

  /// StartIo traffic (three requests, together or one after the other) with a watchdog
  /// re-armed every µs. One at a time, StartIo lock contention can only be the timer's.
  static func timerAndStartIo(channels: UInt32, together: Bool) -> RaceRuleEvidence {
    explore("rule10-11-channels\(channels)-\(together)") { run, probe in
      let m = ScriptedMiniport()
      let heldStartIo = Locked(true)
      let timer = Locked<HwTimer<ScriptedExtension>?>(nil)
      timer.withLock {
        $0 = HwTimer<ScriptedExtension>("Watch") { ext in
          if !ext.port.executionContext!.holdsStartIoLock { heldStartIo.withLock { $0 = false } }
          probe.enter("Timer")
          ext.counter.increment()
          probe.leave("Timer")
          if ext.counter.load() < 12 { ext.port.requestTimerCall(timer.withLock { $0 }, microseconds: 1) }
        }
      }
      m.onInitialize = { ext in
        ext.port.requestConcurrentChannels(channels)
        ext.port.requestTimerCall(timer.withLock { $0 }, microseconds: 1)
        return true
      }
      m.onStartIo = { ext, r in
        probe.enter("StartIo")
        ext.counter.increment()
        probe.leave("StartIo")
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return false }
      for i in 0..<3 {
        run.submit(StorRequest(tag: UInt64(i)), to: adapter)
        if !together { run.runUntilCompleted(limit: 1_000_000) }
      }
      run.runUntilCompleted(limit: 1_000_000)
      run.runUntilQuiescent(limit: 1_000_000)
      run.expect(heldStartIo.withLock { $0 }, "HwStorTimer ran without the StartIo lock")
      return Self.contended(adapter, "StartIoLock")
    }
  }

  /// Rule 10 — full duplex without channels: HwStorTimer never overlaps HwStorStartIo.
  /// Witness: they contended for the StartIo lock. Positive control: with two concurrent
  /// channels (rule 11) the same exploration sees them overlap.
  @Test func rule10_timerNeverOverlapsStartIo_onTheExplorer() {
    let e = Self.timerAndStartIo(channels: 0, together: false)
    #expect(e.failures.isEmpty, "\(e.failures)")
    #expect(
      e.overlaps["StartIo|Timer"] == nil, "HwStorTimer overlapped HwStorStartIo in \(e.overlaps) schedules")
    #expect(e.witnessed > 0, "the timer and StartIo never contended: the interleaving was not reached")
    let control = Self.timerAndStartIo(channels: 2, together: false)
    #expect((control.overlaps["StartIo|Timer"] ?? 0) > 0, "positive control: no overlap seen with channels")
  }

  /// Rule 11 — with channels the timer still holds the StartIo lock but may overlap StartIo,
  /// and StartIo may overlap itself: the two overlaps are told apart.
  @Test func rule11_channelsTimerOverlapsStartIoApartFromStartIoOverlappingItself() {
    let e = Self.timerAndStartIo(channels: 2, together: true)
    #expect(e.failures.isEmpty, "\(e.failures)")  // the timer always held the StartIo lock
    #expect((e.overlaps["StartIo|Timer"] ?? 0) > 0, "HwStorTimer never overlapped StartIo")
    #expect((e.overlaps["StartIo|StartIo"] ?? 0) > 0, "StartIo never overlapped itself")
    #expect(e.overlaps["Timer|Timer"] == nil)
    let serial = Self.timerAndStartIo(channels: 0, together: true)
    #expect(serial.overlaps["StartIo|StartIo"] == nil && serial.overlaps["StartIo|Timer"] == nil)
  }

  /// Rule 54 — full duplex, channels ≤ 1: StartIo never overlaps itself (three requests
  /// together; witness: StartIo lock contention). Control: with two channels (rule 55) it does.
  @Test func rule54_startIoNeverOverlapsItself_onTheExplorer() {
    let e = Self.timerAndStartIo(channels: 0, together: true)
    #expect(e.overlaps["StartIo|StartIo"] == nil)
    #expect(e.witnessed > 0)
    #expect((Self.timerAndStartIo(channels: 2, together: true).overlaps["StartIo|StartIo"] ?? 0) > 0)
  }

  /// Rule 32 / D2 — one STOR_DPC never overlaps itself across processors, even when it is
  /// issued while it runs (the witness). Control (rule 33): two different DPCs do overlap.
  @Test(arguments: [false, true])
  func rule32_d2_dpcNeverOverlapsItself_onTheExplorer(_ twoDpcs: Bool) {
    let e = Self.explore("rule32-two\(twoDpcs)") { run, probe in
      let m = ScriptedMiniport()
      let issuedWhileRunning = Locked(false)
      let routine = HwDpcRoutine<ScriptedExtension>("D") { dpc, ext, _, _ in
        let name = dpc === ext.dpc ? "D" : "D'"
        probe.enter(twoDpcs ? name : "D")
        ext.counter.increment()
        probe.leave(twoDpcs ? name : "D")
        return true
      }
      m.onInitialize = { ext in
        ext.port.initializeDpc(ext.dpc, routine)
        ext.port.initializeDpc(ext.dpc2, routine)
        return true
      }
      m.onMessageInterrupt = { ext, msg in
        let dpc = twoDpcs && msg == 1 ? ext.dpc2 : ext.dpc
        if probe.inside("D") { issuedWhileRunning.withLock { $0 = true } }
        ext.port.issueDpc(dpc)
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return false }
      for _ in 0..<3 {
        adapter.device.raiseInterrupt(message: 0)
        adapter.device.raiseInterrupt(message: 1)
        run.run(nanoseconds: 1_000)
      }
      run.runUntilQuiescent(limit: 1_000_000)
      return issuedWhileRunning.withLock { $0 }
    }
    #expect(e.failures.isEmpty, "\(e.failures)")
    if twoDpcs {
      #expect((e.overlaps["D|D'"] ?? 0) > 0, "positive control: different DPCs never overlapped")
    } else {
      #expect(e.overlaps["D|D"] == nil, "a STOR_DPC overlapped itself")
      #expect(e.witnessed > 0, "the DPC was never issued while it ran")
    }
  }

  /// Rule 53 — StorPortSynchronizeAccess runs its routine exclusively with the ISR (witness:
  /// Interrupt lock contention). Control: the same routine called directly from port work
  /// overlaps the ISR.
  @Test(arguments: [true, false])
  func rule53_synchronizeAccessExcludesTheIsr_onTheExplorer(_ synchronized: Bool) {
    let e = Self.explore("rule53-\(synchronized)") { run, probe in
      let m = ScriptedMiniport()
      m.onInterrupt = { ext in
        probe.enter("ISR")
        ext.counter.increment()
        probe.leave("ISR")
        return true
      }
      let routine = HwSynchronizedAccess<ScriptedExtension>("Sync") { ext, _ in
        probe.enter("Sync")
        ext.counter.increment()
        probe.leave("Sync")
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return false }
      let ext = adapter.deviceExtension(as: ScriptedExtension.self)
      for _ in 0..<3 {
        adapter.device.raiseInterrupt()
        adapter.runOnProcessor(1) {
          if synchronized {
            _ = ext.port.synchronizeAccess(routine, context: 0)
          } else {
            probe.enter("Sync")
            ext.counter.increment()
            probe.leave("Sync")
          }
        }
        run.run(nanoseconds: 1_000)
      }
      run.runUntilQuiescent(limit: 1_000_000)
      return Self.contended(adapter, "InterruptLock")
    }
    #expect(e.failures.isEmpty, "\(e.failures)")
    if synchronized {
      #expect(e.overlaps["ISR|Sync"] == nil, "the synchronized routine overlapped the ISR")
      #expect(e.witnessed > 0, "the ISR and the routine never contended for the Interrupt lock")
    } else {
      #expect(
        (e.overlaps["ISR|Sync"] ?? 0) > 0, "positive control: unsynchronized code never overlapped the ISR")
    }
  }

  /// Rule 58 — with channels, no StartIo overlaps HwStorResetBus (witness: a channel token
  /// waited for). Control: a DPC, which the reset does not exclude, does overlap it.
  @Test func rule58_resetBusExcludesStartIo_onTheExplorer() {
    let e = Self.explore("rule58") { run, probe in
      let m = ScriptedMiniport()
      m.onInitialize = { ext in
        ext.port.requestConcurrentChannels(2)
        ext.port.initializeDpc(
          ext.dpc,
          HwDpcRoutine<ScriptedExtension>("D") { dpc, ext, _, _ in
            probe.enter("DPC")
            ext.counter.increment()
            probe.leave("DPC")
            // A DPC that keeps running for a while (re-issued a few times).
            if ext.counter.load() < 40 { ext.port.issueDpc(dpc) }
            return true
          })
        return true
      }
      m.onStartIo = { ext, r in
        probe.enter("StartIo")
        ext.counter.increment()
        probe.leave("StartIo")
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
      m.onInterrupt = { ext in
        ext.port.issueDpc(ext.dpc)
        return true
      }
      m.onResetBus = { ext, _ in
        probe.enter("Reset")
        ext.counter.increment()
        ext.counter.increment()
        probe.leave("Reset")
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return false }
      adapter.device.raiseInterrupt()  // the device's DPC chain runs beside what follows
      for i in 0..<3 { run.submit(StorRequest(tag: UInt64(i)), to: adapter) }
      adapter.resetBus()
      run.runUntilCompleted(limit: 1_000_000)
      run.runUntilQuiescent(limit: 1_000_000)
      return Self.contended(adapter, "Channel")
    }
    #expect(e.failures.isEmpty, "\(e.failures)")
    #expect(e.overlaps["Reset|StartIo"] == nil, "StartIo overlapped HwStorResetBus")
    #expect(e.witnessed > 0, "StartIo never waited for the reset's channels")
    #expect((e.overlaps["DPC|Reset"] ?? 0) > 0, "positive control: the DPC never overlapped the reset")
  }

  /// D3 — the DpcLock keeps code that holds it apart from the DPC routine that holds it
  /// (witness: DpcLock contention); control: the same DPC routine without the lock overlaps.
  @Test(arguments: [true, false])
  func d3_dpcLockSerialisesWithTheDpc_onTheExplorer(_ routineTakesLock: Bool) {
    let e = Self.explore("d3-\(routineTakesLock)") { run, probe in
      let m = ScriptedMiniport()
      m.onInitialize = { ext in
        ext.port.initializeDpc(
          ext.dpc,
          HwDpcRoutine<ScriptedExtension>("D") { dpc, ext, _, _ in
            let work = {
              probe.enter("DPC")
              ext.counter.increment()
              probe.leave("DPC")
            }
            if routineTakesLock { ext.port.withSpinLock(.dpcLock, context: dpc, work) } else { work() }
            return true
          })
        return true
      }
      m.onStartIo = { ext, r in
        ext.port.withSpinLock(.dpcLock, context: ext.dpc) {
          probe.enter("StartIo")
          ext.counter.increment()
          probe.leave("StartIo")
        }
        ext.port.issueDpc(ext.dpc)
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return false }
      for i in 0..<3 { run.submit(StorRequest(tag: UInt64(i)), to: adapter) }
      run.runUntilCompleted(limit: 1_000_000)
      run.runUntilQuiescent(limit: 1_000_000)
      return adapter.deviceExtension(as: ScriptedExtension.self).dpc.lockContention > 0
    }
    #expect(e.failures.isEmpty, "\(e.failures)")
    if routineTakesLock {
      #expect(e.overlaps["DPC|StartIo"] == nil, "the DPC overlapped DpcLock-holding StartIo")
      #expect(e.witnessed > 0, "StartIo and the DPC never contended for the DpcLock")
    } else {
      #expect((e.overlaps["DPC|StartIo"] ?? 0) > 0, "positive control: no overlap without the lock")
    }
  }
}
