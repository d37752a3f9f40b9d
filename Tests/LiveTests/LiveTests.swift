import Storport
import StorportSamples
import StorportTesting
import Synchronization
import Testing

/// The conformance scenarios that make sense with real threads, on the live platform. They
/// assert only what real timing allows: never early, exactly once, never concurrently,
/// eventually (within generous bounds), and real mutual exclusion. They also run under
/// ThreadSanitizer (`swift test --sanitize=thread --filter LiveTests`).
@Suite(.serialized) struct LiveTests {
  final class Live: @unchecked Sendable {
    let runtime: StorportRuntime
    let miniport: ScriptedMiniport
    var adapter: Adapter!
    var ext: ScriptedExtension { adapter.deviceExtension(as: ScriptedExtension.self) }

    init(
      policy: ViolationPolicy = .recordAndContinue,
      miniport: ScriptedMiniport = ScriptedMiniport(name: "live"),
      configure: (ScriptedMiniport) -> Void = { _ in }
    ) {
      self.miniport = miniport
      runtime = StorportRuntime(
        platform: LivePlatform(processors: 2), verifier: .checked(onViolation: policy))
      configure(miniport)
      adapter = runtime.attach(miniport)
      runtime.start()
      adapter.start()
      _ = runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { [adapter] in adapter!.state != .starting }
    }

    deinit { runtime.shutdown() }

    func wait(_ seconds: UInt64 = 10, _ condition: @escaping () -> Bool) -> Bool {
      runtime.runUntil(timeoutNanoseconds: seconds * 1_000_000_000, condition)
    }
  }

  /// Rules 1, 5, 7 (R-T1, R-T3): live HwStorTimer is never early, fires once per arm, holds the
  /// StartIo lock at DISPATCH.
  @Test func rule01_rule05_liveTimerNeverEarlyOncePerArm() {
    let l = Live()
    let fired = Observations<(UInt64, UInt64, ExecutionSnapshot)>()
    let armedAt = Atomic<UInt64>(0)
    let box = Locked<HwTimer<ScriptedExtension>?>(nil)
    let timer = HwTimer<ScriptedExtension>("LiveTimer") { ext in
      let ctx = ext.port.executionContext!
      fired.append((armedAt.load(ordering: .acquiring), ctx.time, ctx))
      if fired.count < 5 {
        armedAt.store(ext.port.executionContext!.time, ordering: .releasing)
        ext.port.requestTimerCall(box.withLock { $0 }, microseconds: 2000)
      }
    }
    box.withLock { $0 = timer }
    l.adapter.runOnProcessor(0) { [ext = l.ext] in
      armedAt.store(ext.port.executionContext!.time, ordering: .releasing)
      ext.port.requestTimerCall(timer, microseconds: 2000)
    }
    #expect(l.wait { fired.count == 5 })
    for (armed, at, ctx) in fired.all {
      #expect(at >= armed + 2_000_000, "fired \(Int64(at) - Int64(armed) - 2_000_000) ns early")
      #expect(ctx.irql == .dispatch && ctx.holdsStartIoLock)
    }
    #expect(l.runtime.verifier.reportsSoFar.isEmpty)
  }

  /// Rules 2 and 4 (D5): a cancelled or replaced request never fires, observed after a later
  /// timer has fired (so the earlier deadline has certainly passed).
  @Test func rule02_rule04_liveCancelAndReplace() {
    let l = Live()
    let fired = Observations<String>()
    let a = HwTimer<ScriptedExtension>("A") { _ in fired.append("A") }
    let b = HwTimer<ScriptedExtension>("B") { _ in fired.append("B") }
    let x = HwTimerEx<ScriptedExtension>("Later") { _, _ in fired.append("later") }
    l.adapter.runOnProcessor(0) { [ext = l.ext] in
      ext.port.requestTimerCall(a, microseconds: 1000)
      ext.port.requestTimerCall(b, microseconds: 3000)  // replaces A
      _ = ext.port.initializeTimer(&ext.timerHandle)
      _ = ext.port.requestTimer(ext.timerHandle, x, microseconds: 20_000)
    }
    #expect(l.wait { fired.all.contains("later") })
    #expect(fired.all == ["B", "later"])
  }

  /// Rules 29–32 (D2): under real concurrency, issues from ISRs on both processors coalesce,
  /// every TRUE issue yields a run, and one DPC never runs on two processors at once.
  @Test func rule32_liveDpcNeverOverlapsItselfAndTrueIssuesRun() {
    let inside = Atomic<Int>(0)
    let overlapped = Atomic<Bool>(false)
    let accepted = Atomic<Int>(0)
    let l = Live { m in
      m.onFindAdapter = { _, c in
        c.synchronizationModel = .fullDuplex
        c.interruptSynchronizationMode = .synchronizePerMessage
        c.messageCount = 2
        return .found
      }
      m.onMessageInterrupt = { ext, _ in
        if ext.port.issueDpc(ext.dpc) { accepted.add(1, ordering: .relaxed) }
        return true
      }
    }
    let ready = Atomic<Bool>(false)
    l.adapter.runOnProcessor(0) { [ext = l.ext] in
      defer { ready.store(true, ordering: .releasing) }
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("Shared") { _, _, _, _ in
          if inside.add(1, ordering: .acquiringAndReleasing).newValue > 1 {
            overlapped.store(true, ordering: .relaxed)
          }
          for _ in 0..<200 { _ = inside.load(ordering: .relaxed) }
          inside.subtract(1, ordering: .acquiringAndReleasing)
          return true
        })
    }
    #expect(l.wait { ready.load(ordering: .acquiring) })
    for i in 0..<4000 { l.adapter.device.raiseInterrupt(message: UInt32(i % 2)) }
    #expect(
      l.wait {
        l.ext.dpc.executionCount == UInt64(accepted.load(ordering: .relaxed))
          && l.adapter.statistics.unclaimedInterrupts == 0 && interruptsDone(l, 4000)
      })
    let sawOverlap = overlapped.load(ordering: .relaxed)
    #expect(!sawOverlap)
    #expect(l.ext.dpc.executionCount >= 1)
  }

  private func interruptsDone(_ l: Live, _ n: Int) -> Bool {
    l.runtime.callbackCounts.reduce(0) { $0 + Int($1[Int(CallbackRole.messageSignaledInterrupt.rawValue)]) }
      == n
  }

  /// Rules 10, 35, 54 (R-L3): the StartIo lock gives real mutual exclusion between StartIo,
  /// DPCs and HwStorTimer on different OS threads — a plain (non-atomic) counter stays exact.
  @Test func rule54_liveStartIoLockIsRealMutualExclusion() {
    final class Plain: @unchecked Sendable { var n = 0 }
    let counter = Plain()
    let l = Live { m in
      m.onStartIo = { ext, r in
        counter.n += 1  // StartIo lock held by the port
        r.srbStatus = .success
        ext.port.requestComplete(r)
        ext.port.issueDpc(ext.dpc)
        return true
      }
    }
    let ready = Atomic<Bool>(false)
    l.adapter.runOnProcessor(1) { [ext = l.ext] in
      defer { ready.store(true, ordering: .releasing) }
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("Locker") { _, e, _, _ in
          e.port.withSpinLock(.startIoLock) { counter.n += 1 }
          return true
        })
    }
    #expect(l.wait { ready.load(ordering: .acquiring) })
    let done = Atomic<Int>(0)
    for i in 0..<3000 {
      l.adapter.submit(StorRequest(tag: UInt64(i))) { _ in done.add(1, ordering: .acquiringAndReleasing) }
    }
    #expect(l.wait { done.load(ordering: .acquiring) == 3000 })
    _ = l.wait { l.runtime.callbackCounts.allSatisfy { _ in true } }
    let runs = Int(l.ext.dpc.executionCount)
    let total = l.runtime.adapters[0].statistics.completedRequests
    #expect(total == 3000)
    // Let the last DPC finish, then read under the lock's protection (everything idle).
    #expect(l.wait { !l.ext.dpc.isBusy })
    #expect(counter.n == 3000 + Int(l.ext.dpc.executionCount))
    #expect(runs >= 1)
  }

  /// Rules 11 and 55: on concurrent channels the demo miniport's StartIo and HwStorTimer run
  /// at the same time, sharing state only through compare-exchange — and the verifier passes.
  @Test func rule11_rule55_liveDemoWithConcurrentChannelsPasses() {
    var o = DemoRun.Options()
    o.durationMilliseconds = 300
    o.outstanding = 8
    o.timerPeriodMicroseconds = 200
    let r = DemoRun(o).run()
    #expect(r.verdict.hasPrefix("PASS"))
    #expect(r.completed > 100)
    #expect(r.timerTicks > 10)
  }

  /// A ring trace — the flight recorder verifier reports quote, on in every checked run —
  /// stamps a processor's events with the start of the work item they belong to (one clock
  /// read per interrupt, DPC or StartIo, not per event), so events share stamps; a trace kept
  /// to be looked at (`--trace`: `.last`) reads the clock for each. Each mode is the other's
  /// positive control: the same workload, stamped the other way, fails the other bound.
  @Test func aRingTraceStampsEventsPerWorkItemAKeptTracePerEvent() {
    func stamps(_ trace: TraceMode) -> (events: Int, distinct: Int) {
      var o = DemoRun.Options()
      o.durationMilliseconds = 100
      o.outstanding = 8
      o.trace = trace
      let onProcessors = DemoRun(o).run().trace.events.filter { $0.processor != nil }
      let distinct = Dictionary(grouping: onProcessors) { $0.processor! }.values.reduce(0) {
        $0 + Set($1.map(\.time)).count
      }
      #expect(onProcessors.allSatisfy { $0.time > 0 }, "an event without a time")
      return (onProcessors.count, distinct)
    }
    let ring = stamps(.ring(capacity: 4096))
    #expect(ring.events > 100 && Double(ring.distinct) <= 0.6 * Double(ring.events), "ring: \(ring)")
    let kept = stamps(.last(events: 100_000))
    #expect(kept.events > 100 && Double(kept.distinct) >= 0.9 * Double(kept.events), "kept: \(kept)")
  }

  /// A violation in a ring trace carries the exact time, not its work item's start: its report
  /// quotes it among the newest events even when another processor recorded many events after
  /// that work item began. Processor 0 runs one long work item; processor 1 runs 100 short ones
  /// (a DPC issued and run each) meanwhile; then processor 0 breaks a rule. Control: processor
  /// 1's events are there too, later than processor 0's work item began.
  @Test func aViolationIsQuotedInItsOwnReportAfterOtherProcessorsEvents() {
    let l = Live()
    let ran = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let initialized = Atomic<Bool>(false)
    l.adapter.runOnProcessor(0) { [ext = l.ext] in
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("Count") { _, _, _, _ in
          ran.add(1, ordering: .relaxed)
          return true
        })
      initialized.store(true, ordering: .releasing)
    }
    #expect(l.wait { initialized.load(ordering: .acquiring) })
    l.adapter.runOnProcessor(0) { [ext = l.ext] in
      let deadline = HostClock.monotonicNanoseconds + 5_000_000_000
      while !go.load(ordering: .acquiring) && HostClock.monotonicNanoseconds < deadline {}
      _ = ext.port.issueDpc(StorDpc())  // not initialized: dpcNotInitialized, recorded and continued
    }
    for i in 1...100 {
      l.adapter.runOnProcessor(1) { [ext = l.ext] in _ = ext.port.issueDpc(ext.dpc) }
      _ = l.wait(5) { ran.load(ordering: .relaxed) >= i }
    }
    #expect(ran.load(ordering: .relaxed) == 100, "processor 1 ran \(ran.load(ordering: .relaxed)) DPCs")
    go.store(true, ordering: .releasing)
    #expect(l.wait { !l.runtime.verifier.violations.isEmpty })
    let report = l.runtime.verifier.violations.first
    #expect(report?.rule == .dpcNotInitialized)
    let quoted = report?.recentEvents ?? []
    #expect(
      quoted.contains { $0.kind == .violation },
      "the report does not quote its own violation: \(quoted.map(\.text))")
    #expect(quoted.contains { $0.processor?.rawValue == 1 }, "control: processor 1's events are quoted too")
  }

  /// Acceptance misuse cases on the live platform (D17): each is reported with its rule, the
  /// adapter stops, and the process neither crashes nor hangs.
  @Test func d17_liveMisuseIsReportedNotCrash() {
    let cases: [(VerifierRule, @Sendable (ScriptedExtension) -> Void)] = [
      (.dpcNotInitialized, { ext in ext.port.issueDpc(StorDpc()) }),
      (.wrongLockContext, { ext in ext.port.withSpinLock(.startIoLock, context: ext.dpc) {} }),
    ]
    for (rule, body) in cases {
      let l = Live(policy: .stopAdapter)
      l.adapter.runOnProcessor(0) { [ext = l.ext] in
        ext.port.initializeDpc(ext.dpc, HwDpcRoutine<ScriptedExtension>("Idle") { _, _, _, _ in true })
        body(ext)
      }
      #expect(l.wait { l.adapter.state == .failed })
      #expect(l.runtime.verifier.violations.map(\.rule) == [rule])
    }
    // Acquiring the DPC lock from HwStorTimer.
    let l = Live(policy: .stopAdapter)
    let t = HwTimer<ScriptedExtension>("BadTimer") { ext in
      ext.port.withSpinLock(.dpcLock, context: ext.dpc) {}
    }
    l.adapter.runOnProcessor(0) { [ext = l.ext] in
      ext.port.initializeDpc(ext.dpc, HwDpcRoutine<ScriptedExtension>("Idle") { _, _, _, _ in true })
      ext.port.requestTimerCall(t, microseconds: 100)
    }
    #expect(l.wait { l.adapter.state == .failed })
    #expect(l.runtime.verifier.violations.map(\.rule) == [.lockNotAllowedInCallback])
    // Returning from StartIo with a lock held.
    let s = Live(policy: .stopAdapter) { m in
      m.onStartIo = { ext, r in
        var h = StorLockHandle()
        ext.port.acquireSpinLock(.interruptLock, &h)
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    s.adapter.submit(StorRequest())
    #expect(s.wait { s.adapter.state == .failed })
    #expect(s.runtime.verifier.violations.first?.rule == .lockHeldAtReturn)
  }

  /// Rule 68 (D13): after stop, no timer, DPC or StartIo starts on the live platform.
  @Test func rule68_liveNothingStartsAfterStop() {
    let l = Live()
    let fired = Atomic<Int>(0)
    let t = HwTimer<ScriptedExtension>("AfterStop") { _ in fired.add(1, ordering: .relaxed) }
    l.adapter.runOnProcessor(0) { [ext = l.ext] in ext.port.requestTimerCall(t, microseconds: 30_000) }
    l.adapter.stop()
    #expect(l.wait { l.adapter.state == .stopped })
    let r = StorRequest()
    l.adapter.submit(r)
    // Wait past the old deadline using a timer of another runtime as the witness.
    let witness = StorportRuntime(platform: LivePlatform(processors: 1))
    let wm = ScriptedMiniport(name: "witness")
    let wa = witness.attach(wm)
    witness.start()
    wa.start()
    let done = Atomic<Bool>(false)
    wa.runOnProcessor(0) { [ext = wa.deviceExtension(as: ScriptedExtension.self)] in
      ext.port.requestTimerCall(
        HwTimer<ScriptedExtension>("W") { _ in done.store(true, ordering: .releasing) }, microseconds: 60_000)
    }
    #expect(witness.runUntil(timeoutNanoseconds: 10_000_000_000) { done.load(ordering: .acquiring) })
    witness.shutdown()
    #expect(fired.load(ordering: .relaxed) == 0)
    #expect(!r.isCompleted)
  }
}
