import Foundation
import Storport
import StorportC
import StorportSamples
import StorportTesting
import Testing

/// Every verifier rule proven (D17): for each rule ID a fixture — a miniport fault made on
/// purpose — that violates exactly that rule, and a test that the verifier reports that ID and
/// nothing else. A rule without a fixture fails `everyRuleHasAFixture`.
@Suite struct VerifierRuleTests {
  @Test func everyRuleHasAFixture() {
    let missing = Set(VerifierRule.allCases).subtracting(VerifierFixtures.all.keys)
    #expect(missing.isEmpty, "rules without a fixture: \(missing.map(\.rawValue).sorted())")
    #expect(VerifierRule.allCases.count >= 30)
  }

  @Test(arguments: VerifierRule.allCases)
  func fixtureViolatesExactlyItsRule(_ rule: VerifierRule) throws {
    let fixture = try #require(VerifierFixtures.all[rule], "no fixture for \(rule.rawValue)")
    let h = fixture()
    let seen = h.rules()
    #expect(!seen.isEmpty, "\(rule.rawValue) was not reported")
    #expect(Set(seen) == [rule], "expected only \(rule.rawValue), saw \(seen.map(\.rawValue))")
    for report in h.reports {
      #expect(!report.message.isEmpty)
      #expect(report.rule.bugCheck.code != 0)
    }
  }
}

extension VerifierRuleTests {
  static let begin = "<!-- verifier-rules:begin -->"
  static let end = "<!-- verifier-rules:end -->"

  /// The verifier-rule table of docs/conformance.md: rule ID → bug check → spec source →
  /// fixture (each fixture is the `VerifierFixtures` function named after the rule's case).
  static func verifierTable() -> String {
    var lines = [
      begin,
      "## Verifier rules",
      "",
      "Every rule the verifier (checked mode) enforces, the Windows bug check it mirrors (D17), where",
      "the rule comes from, and the fixture in `Tests/ConformanceTests/VerifierRuleTests.swift` that",
      "violates exactly that rule (`fixtureViolatesExactlyItsRule` asserts that it, and only it, is",
      "reported). Warnings are reported but never stop an adapter. Generated: run",
      "`STORPORT_WRITE_DOCS=1 swift test --filter verifierTableIsCurrent` after changing a rule.",
      "",
      "| rule ID | kind | bug check | source | fixture |",
      "|---|---|---|---|---|",
    ]
    for rule in VerifierRule.allCases {
      let source = rule.source.replacingOccurrences(of: "|", with: "\\|")
      lines.append(
        "| `\(rule.rawValue)` | \(rule.isWarning ? "warning" : "violation") | \(rule.bugCheck) | \(source) | `VerifierFixtures.\(rule)` |"
      )
    }
    lines.append(end)
    return lines.joined(separator: "\n")
  }

  @Test func verifierTableIsCurrent() throws {
    let path = RuleTableTests.root.appendingPathComponent("docs/conformance.md")
    var doc = try String(contentsOf: path, encoding: .utf8)
    let table = Self.verifierTable()
    let current: String? = {
      guard let b = doc.range(of: Self.begin), let e = doc.range(of: Self.end) else { return nil }
      return String(doc[b.lowerBound..<e.upperBound])
    }()
    if ProcessInfo.processInfo.environment["STORPORT_WRITE_DOCS"] == "1" && current != table {
      if let b = doc.range(of: Self.begin), let e = doc.range(of: Self.end) {
        doc.replaceSubrange(b.lowerBound..<e.upperBound, with: table)
      } else {
        doc += "\n" + table + "\n"
      }
      try doc.write(to: path, atomically: true, encoding: .utf8)
      return
    }
    #expect(
      current == table,
      "docs/conformance.md's verifier table is stale: STORPORT_WRITE_DOCS=1 swift test --filter verifierTableIsCurrent"
    )
  }

  @Test func everyFixtureIsNamedAfterItsRule() throws {
    let text = try String(
      contentsOf: RuleTableTests.root.appendingPathComponent(
        "Tests/ConformanceTests/VerifierRuleTests.swift"),
      encoding: .utf8)
    for rule in VerifierRule.allCases {
      #expect(text.contains("static func \(rule)() -> SimHarness"), "no fixture function named \(rule)")
      #expect(text.contains(".\(rule): \(rule),"), "\(rule) is not registered under its own name")
    }
  }
}

/// A second device extension type, for routines declared for the wrong one.
final class OtherExtension: DeviceExtension, @unchecked Sendable {
  required init() {}
}

enum VerifierFixtures {
  typealias Fixture = @Sendable () -> SimHarness

  static let all: [VerifierRule: Fixture] = [
    .irqlNotRestoredAtReturn: irqlNotRestoredAtReturn,
    .wrongIrqlForRoutine: wrongIrqlForRoutine,
    .lockNotAllowedInCallback: lockNotAllowedInCallback,
    .lockOrder: lockOrder,
    .lockAcquiredTwice: lockAcquiredTwice,
    .releaseOfUnheldLock: releaseOfUnheldLock,
    .lockHeldAtReturn: lockHeldAtReturn,
    .wrongLockContext: wrongLockContext,
    .invalidLockType: invalidLockType,
    .msiLockWrongMode: msiLockWrongMode,
    .synchronizeAccessFromIsr: synchronizeAccessFromIsr,
    .dpcNotInitialized: dpcNotInitialized,
    .dpcReinitializedWhileQueued: dpcReinitializedWhileQueued,
    .useAfterStop: useAfterStop,
    .requestCompletedTwice: requestCompletedTwice,
    .requestCompletedPending: requestCompletedPending,
    .undocumentedNotification: undocumentedNotification,
    .enablePassiveOutsideInitialize: enablePassiveOutsideInitialize,
    .extendedTimerNotFreed: extendedTimerNotFreed,
    .serviceOutsideCallback: serviceOutsideCallback,
    .timerRoutineMissing: timerRoutineMissing,
    .routineExtensionMismatch: routineExtensionMismatch,
    .requestTouchedAfterCompletion: requestTouchedAfterCompletion,
    .requestNotOwned: requestNotOwned,
    .stallTooLong: stallTooLong,
    .callbackTimeout: callbackTimeout,
    .dispatchWatchdog: dispatchWatchdog,
    .msiMessageOutOfRange: msiMessageOutOfRange,
    .lockReleasedWithWrongKind: lockReleasedWithWrongKind,
    .callbackStuck: callbackStuck,
    .buildIoCompletedAndProceeded: buildIoCompletedAndProceeded,
    .objectOfAnotherAdapter: objectOfAnotherAdapter,
    .requestTimedOut: requestTimedOut,
    .deviceProtocolViolation: deviceProtocolViolation,
    .requestCompletedWhileDeviceOwnsIt: requestCompletedWhileDeviceOwnsIt,
    .invalidParameter: invalidParameter,
    .miniportAssertionFailed: miniportAssertionFailed,
  ]

  // MARK: - Building blocks

  /// A started full-duplex adapter with `ext.dpc` initialised to an idle routine.
  static func started(
    policy: ViolationPolicy = .recordAndContinue, watchdog: WatchdogLimits? = nil, hasBuildIo: Bool = false,
    configure: (ScriptedMiniport) -> Void = { _ in }
  ) -> SimHarness {
    let h = SimHarness(policy: policy, hasBuildIo: hasBuildIo, watchdog: watchdog, configure: configure)
    h.startAdapter()
    h.onProcessor { [ext = h.ext] in
      ext.port.initializeDpc(ext.dpc, HwDpcRoutine<ScriptedExtension>("Idle") { _, _, _, _ in true })
    }
    return h
  }

  /// An adapter in InterruptSynchronizePerMessage mode with two MSI-X messages.
  static func perMessage() -> SimHarness {
    started { m in
      m.onFindAdapter = { _, c in
        c.synchronizationModel = .fullDuplex
        c.interruptSynchronizationMode = .synchronizePerMessage
        c.messageCount = 2
        return .found
      }
    }
  }

  /// Submits one request whose StartIo is `startIo`, and settles.
  static func withStartIo(
    hasBuildIo: Bool = false, _ startIo: @escaping (ScriptedExtension, StorRequest) -> Bool
  ) -> SimHarness {
    let h = started(hasBuildIo: hasBuildIo) { m in m.onStartIo = startIo }
    h.submit(1)
    return h
  }

  /// Half duplex; StartIo arms a timer that would set a flag, then spins until it is set —
  /// forever, since HwStorTimer needs the locks this StartIo holds.
  static func spinningHalfDuplexStartIo(_ m: ScriptedMiniport) {
    m.onFindAdapter = { _, c in
      c.synchronizationModel = .halfDuplex
      return .found
    }
    m.onStartIo = { ext, r in
      let timer = HwTimer<ScriptedExtension>("SetsTheFlag") { ext in ext.counter.increment() }
      ext.port.requestTimerCall(timer, microseconds: 10)
      while ext.counter.load() == 0 {}
      r.srbStatus = .success
      ext.port.requestComplete(r)
      return true
    }
  }

  // MARK: - Fixtures, one per rule

  /// StorPortReleaseMSISpinLock handed back DIRQL as the old IRQL: the DPC returns at DIRQL.
  static func irqlNotRestoredAtReturn() -> SimHarness {
    let h = perMessage()
    h.inDpc { ext in
      var old = Irql.passive
      _ = ext.port.acquireMSISpinLock(messageId: 0, oldIrql: &old)
      _ = ext.port.releaseMSISpinLock(messageId: 0, oldIrql: .device)
    }
    return h
  }

  /// StorPortInitializeDpc from an ISR (DIRQL; it needs ≤ DISPATCH).
  static func wrongIrqlForRoutine() -> SimHarness {
    let h = started()
    h.inIsr { ext in
      ext.port.initializeDpc(ext.dpc2, HwDpcRoutine<ScriptedExtension>("Late") { _, _, _, _ in true })
    }
    return h
  }

  /// HwStorTimer (full duplex) may take only the Interrupt lock, not a DPC lock.
  static func lockNotAllowedInCallback() -> SimHarness {
    let h = started()
    h.inTimer { ext in ext.port.withSpinLock(.dpcLock, context: ext.dpc) {} }
    return h
  }

  static func lockOrder() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.withSpinLock(.interruptLock) { ext.port.withSpinLock(.startIoLock) {} } }
    return h
  }

  static func lockAcquiredTwice() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.withSpinLock(.startIoLock) { ext.port.withSpinLock(.startIoLock) {} } }
    return h
  }

  static func releaseOfUnheldLock() -> SimHarness {
    let h = started()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.releaseSpinLock(&handle)
    }
    return h
  }

  /// The StartIo lock taken in a DPC (at DISPATCH already) and never released.
  static func lockHeldAtReturn() -> SimHarness {
    let h = started()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.startIoLock, &handle)
    }
    return h
  }

  static func wrongLockContext() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.withSpinLock(.dpcLock, context: nil) {} }
    return h
  }

  static func invalidLockType() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.withSpinLock(.invalidLock) {} }
    return h
  }

  /// StorPortReleaseMSISpinLock on an adapter that is not in per-message mode.
  static func msiLockWrongMode() -> SimHarness {
    let h = started()
    h.inDpc { ext in _ = ext.port.releaseMSISpinLock(messageId: 0, oldIrql: .dispatch) }
    return h
  }

  static func synchronizeAccessFromIsr() -> SimHarness {
    let h = started()
    let routine = HwSynchronizedAccess<ScriptedExtension>("Sync") { _, _ in true }
    h.inIsr { ext in _ = ext.port.synchronizeAccess(routine) }
    return h
  }

  static func dpcNotInitialized() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.issueDpc(ext.dpc2) }
    return h
  }

  /// Queued on this processor (it cannot run before the caller returns), then re-initialised.
  static func dpcReinitializedWhileQueued() -> SimHarness {
    let h = started()
    h.inDpc { ext in
      let routine = HwDpcRoutine<ScriptedExtension>("Queued") { _, _, _, _ in true }
      ext.port.initializeDpc(ext.dpc2, routine)
      ext.port.issueDpc(ext.dpc2)
      ext.port.initializeDpc(ext.dpc2, routine)
    }
    return h
  }

  /// StorPortIssueDpc on an adapter stopped meanwhile (a stale path of the miniport).
  static func useAfterStop() -> SimHarness {
    let h = started()
    h.adapter.stop()
    h.run(ms: 5)
    h.adapter.runOnProcessor(0) { [ext = h.ext] in ext.port.issueDpc(ext.dpc) }
    h.run(ms: 1)
    return h
  }

  static func requestCompletedTwice() -> SimHarness {
    withStartIo { ext, r in
      r.srbStatus = .success
      ext.port.requestComplete(r)
      ext.port.requestComplete(r)
      return true
    }
  }

  static func requestCompletedPending() -> SimHarness {
    withStartIo { ext, r in
      r.srbStatus = .pending
      ext.port.requestComplete(r)
      return true
    }
  }

  static func undocumentedNotification() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.notification(.nextRequest) }
    return h
  }

  static func enablePassiveOutsideInitialize() -> SimHarness {
    let routine = HwPassiveInitializeRoutine<ScriptedExtension>("Passive") { _ in true }
    let h = SimHarness { m in
      m.onFindAdapter = { ext, c in
        c.synchronizationModel = .fullDuplex
        _ = ext.port.enablePassiveInitialization(routine)
        return .found
      }
    }
    h.startAdapter()
    return h
  }

  /// An extended timer the miniport never frees: the port frees it at remove, with a warning.
  static func extendedTimerNotFreed() -> SimHarness {
    let h = started()
    h.inDpc { ext in _ = ext.port.initializeTimer(&ext.timerHandle) }
    h.adapter.remove()
    h.run(ms: 1)
    return h
  }

  /// A StorPort service called from a thread that runs no callback (the test's own).
  static func serviceOutsideCallback() -> SimHarness {
    let h = started()
    h.ext.port.issueDpc(h.ext.dpc)
    return h
  }

  static func timerRoutineMissing() -> SimHarness {
    let h = started()
    h.inDpc { ext in ext.port.requestTimerCall(nil as HwTimer<ScriptedExtension>?, microseconds: 10) }
    return h
  }

  static func routineExtensionMismatch() -> SimHarness {
    let h = started()
    h.inDpc { ext in
      ext.port.initializeDpc(ext.dpc2, HwDpcRoutine<OtherExtension>("ForAnother") { _, _, _, _ in true })
    }
    return h
  }

  /// SRB status written after RequestComplete handed the request back.
  static func requestTouchedAfterCompletion() -> SimHarness {
    withStartIo { ext, r in
      r.srbStatus = .success
      ext.port.requestComplete(r)
      r.srbStatus = .error
      return true
    }
  }

  /// RequestComplete on a request the port never handed to the miniport.
  static func requestNotOwned() -> SimHarness {
    let h = started()
    h.inDpc { ext in
      let stray = StorRequest(tag: 99)
      ext.port.requestComplete(stray)
    }
    return h
  }

  /// 2 ms in one StorPortStallExecution (the limit is under 1 ms).
  static func stallTooLong() -> SimHarness {
    let h = started()
    h.inDpc(settle: 5_000_000) { ext in ext.port.stallExecution(microseconds: 2000) }
    return h
  }

  /// A DPC that runs 135 ms in legal 900 µs stalls (over the 100 ms callback limit).
  static func callbackTimeout() -> SimHarness {
    let h = started()
    h.inDpc(settle: 200_000_000) { ext in for _ in 0..<150 { ext.port.stallExecution(microseconds: 900) } }
    return h
  }

  /// A DPC that re-issues itself forever keeps its processor at DISPATCH_LEVEL.
  static func dispatchWatchdog() -> SimHarness {
    let h = started(
      policy: .stopAdapter,
      watchdog: WatchdogLimits(callback: 100_000_000, dispatch: 5_000_000, shutdownGrace: 10_000_000))
    h.issueEndlessDpc()
    h.run(ms: 20)
    return h
  }

  static func msiMessageOutOfRange() -> SimHarness {
    let h = perMessage()
    h.inDpc { ext in
      var old = Irql.passive
      _ = ext.port.acquireMSISpinLock(messageId: 7, oldIrql: &old)
    }
    return h
  }

  /// The Interrupt lock (taken with StorPortAcquireSpinLock) released as if it were an MSI lock.
  static func lockReleasedWithWrongKind() -> SimHarness {
    let h = perMessage()
    h.inDpc { ext in
      var handle = StorLockHandle()
      ext.port.acquireSpinLock(.interruptLock, &handle)
      _ = ext.port.releaseMSISpinLock(messageId: 0, oldIrql: .dispatch)
      ext.port.releaseSpinLock(&handle)
    }
    return h
  }

  /// A half-duplex StartIo spinning (StartIo and Interrupt locks held) on a flag only
  /// HwStorTimer would set — which can never run: shutdown abandons the processor and reports
  /// it. (The callback limit is set out of reach so that only the stuck callback is reported.)
  static func callbackStuck() -> SimHarness {
    let h = SimHarness(
      policy: .recordAndContinue,
      watchdog: WatchdogLimits(
        callback: 1_000_000_000_000, dispatch: 1_000_000_000_000, shutdownGrace: 5_000_000)
    ) { m in spinningHalfDuplexStartIo(m) }
    h.startAdapter()
    h.adapter.submit(StorRequest(tag: 1))
    h.run(ms: 2)
    h.runtime.shutdown()
    return h
  }

  static func buildIoCompletedAndProceeded() -> SimHarness {
    let h = started(hasBuildIo: true) { m in
      m.onBuildIo = { ext, r in
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    h.submit(1)
    return h
  }

  /// Adapter 0's DPC issues a STOR_DPC of adapter 1 through adapter 1's port.
  static func objectOfAnotherAdapter() -> SimHarness {
    let h = started()
    let other = h.runtime.attach(ScriptedMiniport(name: "other"))
    other.start()
    h.runtime.runUntil { other.state == .running }
    let otherExt = other.deviceExtension(as: ScriptedExtension.self)
    other.runOnProcessor(1) {
      otherExt.port.initializeDpc(
        otherExt.dpc, HwDpcRoutine<ScriptedExtension>("Theirs") { _, _, _, _ in true })
    }
    h.run(ms: 1)
    h.inDpc { _ in otherExt.port.issueDpc(otherExt.dpc) }
    return h
  }

  /// A completion the miniport lost (its StartIo keeps the request): the port's request
  /// timeout resets the bus, HwStorResetBus hands the request back, and the late request is
  /// reported with its history (a warning: the port recovered).
  static func requestTimedOut() -> SimHarness {
    let held = Box<[StorRequest]>([])
    let h = started { m in
      m.onStartIo = { ext, r in
        if r.history.entries.allSatisfy({ $0.event != .reissued && $0.event != .completed }) {
          held.value.append(r)  // "lost": never completed by this path
        } else {
          r.srbStatus = .success
          ext.port.requestComplete(r)
        }
        return true
      }
      m.onResetBus = { ext, _ in
        for r in held.value {
          r.srbStatus = .busReset
          ext.port.requestComplete(r)
        }
        held.value.removeAll()
        return true
      }
    }
    let r = StorRequest(tag: 5)
    r.timeoutSeconds = 1
    let done = InterlockedValue()
    h.adapter.submit(r) { _ in done.increment() }
    h.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { done.load() == 1 }
    return h
  }

  /// The device model reports that the driver broke its protocol.
  static func deviceProtocolViolation() -> SimHarness {
    let h = started()
    h.adapter.device.reportProtocolViolation("command identifier 3 reused while in flight")
    return h
  }

  /// StartIo completes a request whose buffer a command in the device still owns.
  static func requestCompletedWhileDeviceOwnsIt() -> SimHarness {
    let h = started { m in
      m.onStartIo = { ext, r in
        ext.counter.increment()
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
    }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { buffer.deallocate() }
    let r = StorRequest(tag: 1)
    r.dataBuffer = buffer
    r.dataTransferLength = 4096
    h.adapter.device.take(buffer)  // the device fetched a command for this buffer
    let done = InterlockedValue()
    h.adapter.submit(r) { _ in done.increment() }
    h.runtime.runUntil { done.load() == 1 }
    h.adapter.device.giveBack(buffer)
    return h
  }

  // MARK: - Rules of the C interface (a C miniport compiled against storport.h)

  /// A virtual C miniport whose HwStorStartIo runs `statements` and then completes the SRB.
  static func cMiniport(_ name: String, _ statements: String) -> SimHarness {
    let source = """
      #include <storport.h>
      static ULONG Find(PVOID e, PVOID c, PVOID b, PVOID l, PCHAR a, PPORT_CONFIGURATION_INFORMATION i, PBOOLEAN again) {
        (void)e; (void)c; (void)b; (void)l; (void)a; *again = FALSE;
        i->SynchronizationModel = StorSynchronizeFullDuplex; return SP_RETURN_FOUND; }
      static BOOLEAN Init(PVOID e) { (void)e; return TRUE; }
      static BOOLEAN Start(PVOID e, PSCSI_REQUEST_BLOCK Srb) {
        \(statements)
        Srb->SrbStatus = SRB_STATUS_SUCCESS; StorPortNotification(RequestComplete, e, Srb); return TRUE; }
      ULONG DriverEntry(PVOID a, PVOID b) {
        HW_INITIALIZATION_DATA d; RtlZeroMemory(&d, sizeof d);
        d.HwInitializationDataSize = sizeof d; d.HwFindAdapter = (PVOID)Find; d.HwInitialize = Init;
        d.HwStartIo = Start; d.DeviceExtensionSize = 64; d.FeatureSupport = STOR_FEATURE_VIRTUAL_MINIPORT;
        return StorPortInitialize(a, b, &d, NULL);
      }
      """
    let dir = NSTemporaryDirectory() + "storport-snippets"
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let file = "\(dir)/conformance-\(name).c"
    try? source.write(toFile: file, atomically: true, encoding: .utf8)
    let library = try! CMiniportLibrary.load(path: CMiniportBuild.build([file], name: "conformance-\(name)"))
    let h = SimHarness(attach: { $0.attach(library.makeMiniport()) })
    h.startAdapter()
    let done = InterlockedValue()
    h.adapter.submit(StorRequest(tag: 1)) { _ in done.increment() }
    h.runtime.runUntil { done.load() == 1 }
    return h
  }

  /// INVALID_PARAMETER: RequestComplete of an address that is no request block.
  static func invalidParameter() -> SimHarness {
    cMiniport("invalid-parameter", "StorPortNotification(RequestComplete, e, (PVOID)0x10000);")
  }

  /// MINIPORT_ASSERTION_FAILED: the miniport's own ASSERT fails.
  static func miniportAssertionFailed() -> SimHarness {
    cMiniport("assertion", "ASSERT(Srb->TimeOutValue == 12345);")
  }
}
