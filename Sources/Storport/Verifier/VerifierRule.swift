/// A Windows bug check that a verifier rule mirrors (D17): the code and the first parameter.
public struct BugCheck: Sendable, Hashable, CustomStringConvertible {
  public let code: UInt32
  public let parameter1: UInt64
  public let name: String

  public var description: String {
    "0x\(String(code, radix: 16, uppercase: true)) \(name) (P1=0x\(String(parameter1, radix: 16, uppercase: true)))"
  }

  static func driverVerifier(_ p1: UInt64) -> BugCheck {
    BugCheck(code: 0xC4, parameter1: p1, name: "DRIVER_VERIFIER_DETECTED_VIOLATION")
  }
  static func scsiVerifier(_ p1: UInt64) -> BugCheck {
    BugCheck(code: 0xF1, parameter1: p1, name: "SCSI_VERIFIER_DETECTED_VIOLATION")
  }
  static let irqlNotLessOrEqual = BugCheck(code: 0xA, parameter1: 0, name: "IRQL_NOT_LESS_OR_EQUAL")
  static func dpcWatchdog(_ p1: UInt64) -> BugCheck {
    BugCheck(code: 0x133, parameter1: p1, name: "DPC_WATCHDOG_VIOLATION")
  }
}

/// Every rule the verifier (checked mode) enforces. Each has a stable identifier that reports,
/// JSON and tests use, the spec rule it comes from, and the bug check it mirrors (D17).
///
/// Parameter-1 values of 0xC4 follow Driver Verifier's deadlock-detection and IRQL codes where
/// Windows has one (0x1001 lock order, 0x1002 recursive acquire, 0x1005 release of an unowned
/// lock, 0x3A IRQL not restored); the 0xF1 parameter-1 values are swift-storport's own
/// sub-codes in the SCSI verifier's 0x1000 range.
public enum VerifierRule: String, Sendable, CaseIterable {
  case irqlNotRestoredAtReturn = "IRQL_NOT_RESTORED_AT_RETURN"
  case wrongIrqlForRoutine = "WRONG_IRQL_FOR_ROUTINE"
  case lockNotAllowedInCallback = "LOCK_NOT_ALLOWED_IN_CALLBACK"
  case lockOrder = "LOCK_ORDER"
  case lockAcquiredTwice = "LOCK_ACQUIRED_TWICE"
  case releaseOfUnheldLock = "RELEASE_OF_UNHELD_LOCK"
  case lockHeldAtReturn = "LOCK_HELD_AT_RETURN"
  case wrongLockContext = "WRONG_LOCK_CONTEXT"
  case invalidLockType = "INVALID_LOCK_TYPE"
  case msiLockWrongMode = "MSI_LOCK_WRONG_MODE"
  case synchronizeAccessFromIsr = "SYNCHRONIZE_ACCESS_FROM_ISR"
  case dpcNotInitialized = "DPC_NOT_INITIALIZED"
  case dpcReinitializedWhileQueued = "DPC_REINITIALIZED_WHILE_QUEUED"
  case useAfterStop = "USE_AFTER_STOP"
  case requestCompletedTwice = "REQUEST_COMPLETED_TWICE"
  case requestCompletedPending = "REQUEST_COMPLETED_PENDING"
  case undocumentedNotification = "UNDOCUMENTED_NOTIFICATION"
  case enablePassiveOutsideInitialize = "ENABLE_PASSIVE_OUTSIDE_INITIALIZE"
  case extendedTimerNotFreed = "EXTENDED_TIMER_NOT_FREED"
  case serviceOutsideCallback = "SERVICE_OUTSIDE_CALLBACK"
  case timerRoutineMissing = "TIMER_ROUTINE_MISSING"
  case routineExtensionMismatch = "ROUTINE_EXTENSION_MISMATCH"
  case requestTouchedAfterCompletion = "REQUEST_TOUCHED_AFTER_COMPLETION"
  case requestNotOwned = "REQUEST_NOT_OWNED"
  case stallTooLong = "STALL_TOO_LONG"
  case callbackTimeout = "CALLBACK_TIMEOUT"
  case dispatchWatchdog = "DISPATCH_WATCHDOG"
  case msiMessageOutOfRange = "MSI_MESSAGE_OUT_OF_RANGE"
  case lockReleasedWithWrongKind = "LOCK_RELEASED_WITH_WRONG_KIND"
  case callbackStuck = "CALLBACK_STUCK"
  case buildIoCompletedAndProceeded = "BUILDIO_COMPLETED_AND_PROCEEDED"
  case objectOfAnotherAdapter = "OBJECT_OF_ANOTHER_ADAPTER"
  case requestTimedOut = "REQUEST_TIMED_OUT"
  case deviceProtocolViolation = "DEVICE_PROTOCOL_VIOLATION"
  case requestCompletedWhileDeviceOwnsIt = "REQUEST_COMPLETED_WHILE_DEVICE_OWNS_IT"
  case invalidParameter = "INVALID_PARAMETER"
  case miniportAssertionFailed = "MINIPORT_ASSERTION_FAILED"

  /// Warnings are reported and traced but never stop the adapter.
  public var isWarning: Bool {
    switch self {
    case .undocumentedNotification, .enablePassiveOutsideInitialize, .extendedTimerNotFreed, .requestTimedOut:
      return true
    default: return false
    }
  }

  /// Where the rule comes from (spec §13 rule numbers, R-… rules, decisions).
  public var source: String {
    switch self {
    case .irqlNotRestoredAtReturn: return "rule 75, rule 12, R-T18, SDV SpChangeIrql"
    case .wrongIrqlForRoutine: return "R-D2/D9, §1.1"
    case .lockNotAllowedInCallback: return "§5.3 table, rules 9, 56, D4"
    case .lockOrder: return "rule 44, R-L7..R-L9, D4, SDV StorPortSpinLock3"
    case .lockAcquiredTwice: return "rule 43, R-L3, SDV StorPortSpinLock"
    case .releaseOfUnheldLock: return "rule 45, SDV StorPortSpinLock4"
    case .lockHeldAtReturn: return "rule 46, R-T18, R-D17, SDV StorPortSpinLock"
    case .wrongLockContext: return "rule 42, R-L1"
    case .invalidLockType: return "rule 48, §5.1"
    case .msiLockWrongMode: return "rule 52, R-L16, SDV StorPortMSILock"
    case .synchronizeAccessFromIsr: return "D15, R-L13"
    case .dpcNotInitialized: return "R-D1, INITDPC"
    case .dpcReinitializedWhileQueued: return "R-D4"
    case .useAfterStop: return "rule 68, D13, R-Y9"
    case .requestCompletedTwice: return "rule 72, R-N1"
    case .requestCompletedPending: return "R-N1, SDV StorPortStatusPending"
    case .undocumentedNotification: return "rule 71, D16, R-N2, SDV StorPortNotification2"
    case .enablePassiveOutsideInitialize: return "rule 63, SDV StorPortEnablePassive"
    case .extendedTimerNotFreed: return "D13 (e), R-Y9 (e), R-X15"
    case .serviceOutsideCallback: return "§1, D17"
    case .timerRoutineMissing: return "R-T19, SDV StorPortTimer"
    case .routineExtensionMismatch: return "§10.1 role types (HwDeviceExtension type of the routine)"
    case .requestTouchedAfterCompletion:
      return "R-N1 (the port owns a completed request), Driver Verifier SRB tracking"
    case .requestNotOwned: return "R-N1, rule 72 (only a request the miniport received can be completed)"
    case .stallTooLong: return "DOC STALL (Delay must be less than a full millisecond), SDV SpNoWait"
    case .callbackTimeout:
      return "bug check 0x133 P1=0 (one DPC or ISR over its time allotment); limit in WatchdogLimits"
    case .dispatchWatchdog:
      return "bug check 0x133 P1=1 (a processor at DISPATCH_LEVEL or above too long); limit in WatchdogLimits"
    case .msiMessageOutOfRange: return "DOC ACQMSI (MessageId names a granted message), R-L16"
    case .lockReleasedWithWrongKind:
      return "R-L2, DOC RELMSI (an MSI lock is released by its message, a port lock by its handle)"
    case .callbackStuck:
      return "shutdown always finishes; a callback that never returns is reported and abandoned"
    case .buildIoCompletedAndProceeded:
      return "R-S12 (a BuildIo that completes the request returns FALSE), R-N1"
    case .objectOfAnotherAdapter: return "§1 (every service names its adapter by HwDeviceExtension), R-D1"
    case .requestTimedOut: return "request timeouts (§7, R-Q), Driver Verifier SRB timeout diagnostics"
    case .deviceProtocolViolation:
      return "the device model's protocol (NVMe: command identifiers, queue doorbells)"
    case .requestCompletedWhileDeviceOwnsIt:
      return "R-N1 seen from the device: its data buffer is still owed to a command in the device"
    case .invalidParameter:
      return
        "§1 and each routine's DDI page: an argument the routine does not accept (a pointer that is not the HwDeviceExtension, a request block or an object the port gave out; an unknown code)"
    case .miniportAssertionFailed:
      return "the miniport's own ASSERT / NT_ASSERT (a checked build stops there: STATUS_ASSERTION_FAILURE)"
    }
  }

  /// The bug check this rule mirrors.
  public var bugCheck: BugCheck {
    switch self {
    case .irqlNotRestoredAtReturn: return .driverVerifier(0x3A)
    case .wrongIrqlForRoutine: return .irqlNotLessOrEqual
    case .lockNotAllowedInCallback: return .scsiVerifier(0x1010)
    case .lockOrder: return .driverVerifier(0x1001)
    case .lockAcquiredTwice: return .driverVerifier(0x1002)
    case .releaseOfUnheldLock: return .driverVerifier(0x1005)
    case .lockHeldAtReturn: return .driverVerifier(0x1006)
    case .wrongLockContext: return .scsiVerifier(0x1011)
    case .invalidLockType: return .scsiVerifier(0x1012)
    case .msiLockWrongMode: return .scsiVerifier(0x1013)
    case .synchronizeAccessFromIsr: return .scsiVerifier(0x1014)
    case .dpcNotInitialized: return .scsiVerifier(0x1015)
    case .dpcReinitializedWhileQueued: return .scsiVerifier(0x1016)
    case .useAfterStop: return .scsiVerifier(0x1017)
    case .requestCompletedTwice: return .scsiVerifier(0x1005)
    case .requestCompletedPending: return .scsiVerifier(0x1018)
    case .undocumentedNotification: return .scsiVerifier(0x1019)
    case .enablePassiveOutsideInitialize: return .scsiVerifier(0x101A)
    case .extendedTimerNotFreed: return .scsiVerifier(0x101B)
    case .serviceOutsideCallback: return .scsiVerifier(0x101C)
    case .timerRoutineMissing: return .scsiVerifier(0x101E)
    case .routineExtensionMismatch: return .scsiVerifier(0x101F)
    case .requestTouchedAfterCompletion: return .scsiVerifier(0x1020)
    case .requestNotOwned: return .scsiVerifier(0x1006)
    case .stallTooLong: return .scsiVerifier(0x1021)
    case .callbackTimeout: return .dpcWatchdog(0)
    case .dispatchWatchdog: return .dpcWatchdog(1)
    case .msiMessageOutOfRange: return .scsiVerifier(0x1022)
    case .lockReleasedWithWrongKind: return .driverVerifier(0x1005)
    case .callbackStuck: return .dpcWatchdog(0x100)
    case .buildIoCompletedAndProceeded: return .scsiVerifier(0x1023)
    case .objectOfAnotherAdapter: return .scsiVerifier(0x1024)
    case .requestTimedOut: return .scsiVerifier(0x1025)
    case .deviceProtocolViolation: return .scsiVerifier(0x1026)
    case .requestCompletedWhileDeviceOwnsIt: return .scsiVerifier(0x1027)
    case .invalidParameter: return .scsiVerifier(0x1028)
    case .miniportAssertionFailed:
      return BugCheck(code: 0x1E, parameter1: 0xC000_0420, name: "KMODE_EXCEPTION_NOT_HANDLED")
    }
  }
}

extension VerifierRule {
  private static let traceNames: [VerifierRule: TraceName] = Dictionary(
    uniqueKeysWithValues: allCases.map { ($0, TraceName($0.rawValue)) })

  /// The rule ID, interned for the trace.
  var traceName: TraceName { Self.traceNames[self]! }
}
