import Storport
import StorportC
import Testing

/// A C miniport's mistakes reach the same checked services as a Swift one's: the port's own
/// rules report them (R-…, rule numbers in the verifier table), the C interface reports an
/// argument it cannot accept (INVALID_PARAMETER) and the miniport's own ASSERT
/// (MINIPORT_ASSERTION_FAILED) — each precisely, while everything else keeps working.
@Suite struct CMisuseTests {
  /// A full-duplex virtual miniport whose HwStorStartIo is `startIo` (C statements; `ext` is the
  /// extension, `Srb` the request). The extension has a STOR_DPC `Dpc` never initialised.
  static func miniport(_ name: String, startIo: String) throws -> CMiniportLibrary {
    let source = """
      #include <storport.h>
      typedef struct { STOR_DPC Dpc; ULONG Count; } EXT;
      static ULONG Find(PVOID e, PVOID c, PVOID b, PVOID l, PCHAR a, PPORT_CONFIGURATION_INFORMATION i, PBOOLEAN again) {
        (void)e; (void)c; (void)b; (void)l; (void)a; *again = FALSE;
        i->SynchronizationModel = StorSynchronizeFullDuplex; return SP_RETURN_FOUND; }
      static BOOLEAN Init(PVOID e) { (void)e; return TRUE; }
      static BOOLEAN Start(PVOID DeviceExtension, PSCSI_REQUEST_BLOCK Srb) {
        EXT *ext = DeviceExtension;
        ext->Count++;
        \(startIo)
        return TRUE;
      }
      ULONG DriverEntry(PVOID a, PVOID b) {
        HW_INITIALIZATION_DATA d; RtlZeroMemory(&d, sizeof d);
        d.HwInitializationDataSize = sizeof d; d.HwFindAdapter = (PVOID)Find; d.HwInitialize = Init;
        d.HwStartIo = Start; d.DeviceExtensionSize = sizeof(EXT); d.FeatureSupport = STOR_FEATURE_VIRTUAL_MINIPORT;
        return StorPortInitialize(a, b, &d, NULL);
      }
      """
    return try CMiniportLibrary.load(path: Samples.compile(source, name: name))
  }

  /// Runs two requests through the miniport; the rules reported and how the requests ended.
  static func run(_ library: CMiniportLibrary) -> (
    rules: [VerifierRule], statuses: [SrbStatus], messages: [String]
  ) {
    let runtime = StorportRuntime(
      platform: SimulatedPlatform(processors: 2, seed: 1), verifier: .checked(onViolation: .recordAndContinue)
    )
    let adapter = runtime.attach(library.makeMiniport())
    runtime.start()
    adapter.start()
    runtime.runUntil { adapter.state == .running }
    let done = InterlockedValue()
    let requests = (0..<2).map { StorRequest(tag: UInt64($0)) }
    for r in requests { adapter.submit(r) { _ in done.increment() } }
    runtime.runUntil(timeoutNanoseconds: 1_000_000_000) { done.load() == 2 }
    let reports = runtime.verifier.reportsSoFar
    runtime.shutdown()
    return (reports.map(\.rule), requests.map(\.srbStatus), reports.map(\.message))
  }

  static let complete =
    "Srb->SrbStatus = SRB_STATUS_SUCCESS; StorPortNotification(RequestComplete, ext, Srb);"

  /// Positive control: the same miniport without the mistake draws no report.
  @Test func theCorrectMiniportDrawsNoReport() throws {
    let r = Self.run(try Self.miniport("misuse-none", startIo: Self.complete))
    #expect(r.rules.isEmpty, "\(r.messages)")
    #expect(r.statuses == [.success, .success])
  }

  @Test func aBogusRequestBlockIsInvalidParameterAndTheRealOneStillCompletes() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-bogus-srb",
        startIo: "StorPortNotification(RequestComplete, ext, (PVOID)0x10000); " + Self.complete))
    #expect(Set(r.rules) == [.invalidParameter], "\(r.messages)")
    #expect(r.messages.allSatisfy { $0.contains("RequestComplete") && $0.contains("0x10000") })
    #expect(r.statuses == [.success, .success])
  }

  @Test func aForeignExtensionPointerIsInvalidParameter() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-bad-ext", startIo: "StorPortNotification(ResetDetected, (PVOID)&ext->Count); " + Self.complete
      ))
    #expect(Set(r.rules) == [.invalidParameter], "\(r.messages)")
    #expect(r.messages.allSatisfy { $0.contains("not a device extension the port allocated") })
  }

  /// Rule 72 (R-N1) through the C interface: the SRB maps back to its request.
  @Test func aDoubleCompletionIsTheFamiliarRule() throws {
    let r = Self.run(try Self.miniport("misuse-twice", startIo: Self.complete + " " + Self.complete))
    #expect(Set(r.rules) == [.requestCompletedTwice], "\(r.messages)")
  }

  /// R-D1: issuing a STOR_DPC that StorPortInitializeDpc never initialised.
  @Test func anUninitialisedDpcIsTheFamiliarRule() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-dpc", startIo: "StorPortIssueDpc(ext, &ext->Dpc, NULL, NULL); " + Self.complete))
    #expect(Set(r.rules) == [.dpcNotInitialized], "\(r.messages)")
  }

  /// Rule 46: returning from HwStorStartIo with a DPC lock still held — with the lock handle
  /// living in the miniport's stack, as it does in C.
  @Test func aLockHeldAtReturnIsTheFamiliarRule() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-lock",
        startIo: """
          STOR_LOCK_HANDLE h; StorPortAcquireSpinLock(ext, InterruptLock, NULL, &h); \(Self.complete)
          if (ext->Count > 100) StorPortReleaseSpinLock(ext, &h);
          """))
    #expect(
      r.rules.contains(.lockHeldAtReturn) || r.rules.contains(.lockNotAllowedInCallback), "\(r.messages)")
    #expect(!r.rules.contains(.invalidParameter))
  }

  /// A STOR_LOCK_HANDLE the port never filled (garbage bytes on the stack): rule 45, and the
  /// host never reads those bytes back as one of its own objects.
  @Test func aGarbageLockHandleIsAnUnheldLock() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-garbage-handle",
        startIo: "STOR_LOCK_HANDLE h; memset(&h, 0x5a, sizeof h); StorPortReleaseSpinLock(ext, &h); "
          + Self.complete))
    #expect(Set(r.rules) == [.releaseOfUnheldLock], "\(r.messages)")
    #expect(r.statuses == [.success, .success])
  }

  /// A STOR_DPC copied from an initialised one names the same object; one filled with garbage
  /// is an uninitialised DPC — never a host pointer.
  @Test func aGarbageDpcIsAnUninitialisedDpc() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-garbage-dpc",
        startIo: "memset(&ext->Dpc, 0x5a, sizeof ext->Dpc); StorPortIssueDpc(ext, &ext->Dpc, NULL, NULL); "
          + Self.complete))
    #expect(Set(r.rules) == [.dpcNotInitialized], "\(r.messages)")
  }

  /// A routine pointer that is not the miniport's code (called later on a processor, it would
  /// crash the host there) is refused when handed over.
  @Test func aWildRoutinePointerIsRefusedWhenHandedOver() throws {
    let r = Self.run(
      try Self.miniport(
        "misuse-wild-routine",
        startIo: """
          StorPortNotification(RequestTimerCall, ext, (PHW_TIMER)0x1000, 10);
          StorPortInitializeDpc(ext, &ext->Dpc, (PHW_DPC_ROUTINE)(ULONG_PTR)&memcpy);
          """ + Self.complete))
    #expect(Set(r.rules) == [.invalidParameter], "\(r.messages)")
    #expect(r.messages.contains { $0.contains("RequestTimerCall") && $0.contains("not code of") })
    #expect(r.messages.contains { $0.contains("StorPortInitializeDpc") && $0.contains("not code of") })
    #expect(r.statuses == [.success, .success])
  }

  @Test func theMiniportsOwnAssertIsReportedWithItsLine() throws {
    let r = Self.run(
      try Self.miniport("misuse-assert", startIo: "ASSERT(Srb->TimeOutValue == 12345); " + Self.complete))
    #expect(Set(r.rules) == [.miniportAssertionFailed], "\(r.messages)")
    #expect(r.messages.first?.contains("ASSERT(Srb->TimeOutValue == 12345)") == true, "\(r.messages)")
    #expect(r.messages.first?.contains(".c:") == true, "\(r.messages)")
    #expect(r.statuses == [.success, .success])
  }
}
