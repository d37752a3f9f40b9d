import Foundation
import Storport
import StorportC
import Testing

/// The headers compile a driver writer's code as written, and loading a shared object fails
/// with a message that says what to change — never a crash.
@Suite struct CompileAndLoadTests {
  /// The seed documents' declaration idiom for the two role types, exactly as shown there.
  static let idiom = """
    #include <storport.h>

    HW_TIMER MyHwTimer;
    HW_DPC_ROUTINE MyHwDpcRoutine;

    _Use_decl_annotations_
    VOID
    MyHwTimer(_In_ PVOID DeviceExtension) { UNREFERENCED_PARAMETER(DeviceExtension); }

    _Use_decl_annotations_
    VOID
    MyHwDpcRoutine(_In_ PSTOR_DPC Dpc, _In_ PVOID HwDeviceExtension, _In_ PVOID SystemArgument1,
                   _In_ PVOID SystemArgument2) {
      UNREFERENCED_PARAMETER(Dpc);
      UNREFERENCED_PARAMETER(HwDeviceExtension);
      UNREFERENCED_PARAMETER(SystemArgument1);
      UNREFERENCED_PARAMETER(SystemArgument2);
    }

    /* The role types are function types: a routine of another shape is a compile error. */
    PHW_TIMER timers[] = {MyHwTimer};
    PHW_DPC_ROUTINE dpcs[] = {MyHwDpcRoutine};
    """

  @Test func theRoleTypeIdiomCompilesAsWritten() throws {
    _ = try Samples.compile(Self.idiom, name: "idiom")
  }

  /// Positive control: the role type really constrains — a timer with the DPC routine's shape
  /// does not compile.
  @Test func aRoutineOfTheWrongShapeDoesNotCompile() {
    let wrong = """
      #include <storport.h>
      HW_TIMER MyHwTimer;
      VOID MyHwTimer(PSTOR_DPC Dpc, PVOID Ext, PVOID A1, PVOID A2) { (void)Dpc; (void)Ext; (void)A1; (void)A2; }
      """
    #expect(throws: CMiniportBuild.Failure.self) { _ = try Samples.compile(wrong, name: "wrong-shape") }
  }

  /// Every header compiles on its own, with the strictest warnings the samples use.
  @Test(arguments: ["storport.h", "srb.h", "srbhelper.h", "scsi.h", "miniport.h"])
  func eachHeaderStandsAlone(_ header: String) throws {
    _ = try Samples.compile(
      "#include <\(header)>\nint placeholder_\(header.replacingOccurrences(of: ".", with: "_"));\n",
      name: "alone-\(header)")
  }

  static let minimal = """
    #include <storport.h>
    __attribute__((unused)) static ULONG Find(PVOID e, PVOID c, PVOID b, PCHAR a, PPORT_CONFIGURATION_INFORMATION i, PBOOLEAN r) {
      (void)e; (void)c; (void)b; (void)a; (void)i; (void)r; return SP_RETURN_FOUND; }
    __attribute__((unused)) static BOOLEAN Init(PVOID e) { (void)e; return TRUE; }
    __attribute__((unused)) static BOOLEAN Start(PVOID e, PSCSI_REQUEST_BLOCK s) {
      s->SrbStatus = SRB_STATUS_SUCCESS; StorPortNotification(RequestComplete, e, s); return TRUE; }
    """

  static func load(_ body: String, name: String) throws -> Result<CMiniportLibrary, CMiniportLoadError> {
    let path = try Samples.compile(minimal + body, name: name)
    do { return .success(try CMiniportLibrary.load(path: path)) } catch { return .failure(error) }
  }

  @Test func aMissingFileIsAClearError() {
    #expect(throws: CMiniportLoadError.self) { try CMiniportLibrary.load(path: "/nonexistent/miniport.so") }
    do {
      _ = try CMiniportLibrary.load(path: "/nonexistent/miniport.so")
    } catch {
      #expect(error.description.contains("/nonexistent/miniport.so"))
      #expect(error.description.contains("cannot be loaded"))
    }
  }

  @Test func aFileThatIsNotASharedObjectIsAClearError() throws {
    let path = NSTemporaryDirectory() + "not-a-miniport.so"
    try "hello".write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: CMiniportLoadError.self) { try CMiniportLibrary.load(path: path) }
  }

  @Test func noDriverEntry() throws {
    let path = try Samples.compile("int NotADriver(void) { return 0; }\n", name: "no-entry")
    #expect(throws: CMiniportLoadError.noDriverEntry(path: path)) { try CMiniportLibrary.load(path: path) }
  }

  @Test func driverEntryThatNeverInitializes() throws {
    let r = try Self.load(
      "ULONG DriverEntry(PVOID a, PVOID b) { (void)a; (void)b; return 0; }\n", name: "never-init")
    guard case .failure(.neverInitialized) = r else {
      Issue.record("expected neverInitialized, got \(r)")
      return
    }
  }

  @Test func aMissingRoutineIsNamed() throws {
    let r = try Self.load(
      """
      ULONG DriverEntry(PVOID a, PVOID b) {
        HW_INITIALIZATION_DATA d; RtlZeroMemory(&d, sizeof d);
        d.HwInitializationDataSize = sizeof d; d.HwFindAdapter = (PVOID)Find; d.HwInitialize = Init;
        return StorPortInitialize(a, b, &d, NULL);
      }
      """, name: "no-startio")
    guard case .failure(let e) = r, case .badRegistration(_, let reason) = e else {
      Issue.record("expected badRegistration, got \(r)")
      return
    }
    #expect(reason.contains("HwStartIo is NULL"), "\(reason)")
    #expect(e.description.contains("StorPortInitialize rejected"))
  }

  @Test func aWrongStructureSizeIsNamed() throws {
    let r = try Self.load(
      """
      ULONG DriverEntry(PVOID a, PVOID b) {
        HW_INITIALIZATION_DATA d; RtlZeroMemory(&d, sizeof d);
        d.HwInitializationDataSize = 100; d.HwFindAdapter = (PVOID)Find; d.HwInitialize = Init; d.HwStartIo = Start;
        return StorPortInitialize(a, b, &d, NULL);
      }
      """, name: "bad-size")
    guard case .failure(.badRegistration(_, let reason)) = r else {
      Issue.record("expected badRegistration, got \(r)")
      return
    }
    #expect(reason.contains("HwInitializationDataSize is 100"), "\(reason)")
  }

  @Test func aRoutineThisHostLacksIsNamedAtLoad() throws {
    let r = try Self.load(
      """
      VOID StorPortSomethingNobodyProvides(PVOID);
      ULONG DriverEntry(PVOID a, PVOID b) { StorPortSomethingNobodyProvides(a); (void)b; return 0; }
      """, name: "undefined-symbol")
    guard case .failure(let e) = r, case .open = e else {
      Issue.record("expected an open failure, got \(r)")
      return
    }
    #expect(e.description.contains("StorPortSomethingNobodyProvides"), "\(e.description)")
  }

  /// DriverEntry runs before any adapter exists: what it does wrong fails the load, by name.
  @Test func anAssertionOrBadCallInDriverEntryFailsTheLoad() throws {
    let r = try Self.load(
      """
      ULONG DriverEntry(PVOID a, PVOID b) {
        HW_INITIALIZATION_DATA d; RtlZeroMemory(&d, sizeof d);
        d.HwInitializationDataSize = sizeof d; d.HwFindAdapter = (PVOID)Find; d.HwInitialize = Init; d.HwStartIo = Start;
        ASSERT(d.DeviceExtensionSize != 0);
        StorPortNotification(ResetDetected, (PVOID)&d);
        return StorPortInitialize(a, b, &d, NULL);
      }
      """, name: "driverentry-problems")
    guard case .failure(let e) = r, case .driverEntryFailed(_, _, let reason) = e else {
      Issue.record("expected driverEntryFailed, got \(r)")
      return
    }
    #expect(reason?.contains("ASSERT(d.DeviceExtensionSize != 0)") == true, "\(e)")
    #expect(reason?.contains("not a device extension the port allocated") == true, "\(e)")
  }

  @Test func aGoodRegistrationLoads() throws {
    let r = try Self.load(
      """
      ULONG DriverEntry(PVOID a, PVOID b) {
        HW_INITIALIZATION_DATA d; RtlZeroMemory(&d, sizeof d);
        d.HwInitializationDataSize = sizeof d; d.HwFindAdapter = (PVOID)Find; d.HwInitialize = Init; d.HwStartIo = Start;
        d.FeatureSupport = STOR_FEATURE_VIRTUAL_MINIPORT;
        return StorPortInitialize(a, b, &d, NULL);
      }
      """, name: "good")
    let library = try r.get()
    #expect(library.isVirtual)
  }
}
