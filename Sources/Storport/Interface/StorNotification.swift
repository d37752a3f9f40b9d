/// A `StorPortNotification` call: the notification type and its arguments. Build one with the
/// static functions (`.requestTimerCall(routine, microseconds:)`, `.requestComplete(srb)`, …)
/// and pass it to ``StorPort/notification(_:)``.
///
/// The codes from 0x1000 (InitializeDpc, IssueDpc, AcquireSpinLock, ReleaseSpinLock,
/// EnablePassiveInitialization) are what the inline wrappers of storport.h send (R-D3, R-D11,
/// R-L5); they are here for fidelity with binaries that call StorPortNotification directly.
public struct StorNotification: @unchecked Sendable {
  enum Kind {
    case requestComplete(StorRequest)
    case nextRequest, nextLuRequest
    case resetDetected(pathId: UInt32)
    case busChangeDetected(pathId: UInt32)
    case requestTimerCall(ErasedTimer?, UInt32)
    case queryTickCount(UnsafeMutablePointer<UInt64>)
    case linkUp, linkDown
    case initializeDpc(StorDpc, @Sendable (StorPort) -> Void)
    case issueDpc(StorDpc, UInt, UInt, UnsafeMutablePointer<Bool>)
    case enablePassiveInitialization(@Sendable (StorPort) -> Bool, UnsafeMutablePointer<Bool>)
  }
  let kind: Kind

  /// `SCSI_NOTIFICATION_TYPE` value.
  public var code: UInt32 {
    switch kind {
    case .requestComplete: return 0
    case .nextRequest: return 1
    case .nextLuRequest: return 2
    case .resetDetected: return 3
    case .requestTimerCall: return 6
    case .busChangeDetected: return 7
    case .linkUp: return 10
    case .linkDown: return 11
    case .queryTickCount: return 12
    case .initializeDpc: return 0x1001
    case .issueDpc: return 0x1002
    case .enablePassiveInitialization: return 0x1000
    }
  }

  /// `RequestComplete`
  public static func requestComplete(_ request: StorRequest) -> StorNotification {
    .init(kind: .requestComplete(request))
  }
  /// `NextRequest` — SCSI Port only; accepted and ignored with a diagnostic (D16).
  public static let nextRequest = StorNotification(kind: .nextRequest)
  /// `NextLuRequest` — SCSI Port only; accepted and ignored with a diagnostic (D16).
  public static let nextLuRequest = StorNotification(kind: .nextLuRequest)
  /// `ResetDetected`
  public static func resetDetected(pathId: UInt32 = 0) -> StorNotification {
    .init(kind: .resetDetected(pathId: pathId))
  }
  /// `BusChangeDetected`
  public static func busChangeDetected(pathId: UInt32 = 0) -> StorNotification {
    .init(kind: .busChangeDetected(pathId: pathId))
  }
  /// `RequestTimerCall` (R-T1..R-T20).
  public static func requestTimerCall<E>(_ routine: HwTimer<E>?, microseconds: UInt32) -> StorNotification {
    .init(kind: .requestTimerCall(routine?.erased, microseconds))
  }
  /// `QueryTickCount`: writes the tick count (ticks of the resolution in force).
  public static func queryTickCount(_ out: UnsafeMutablePointer<UInt64>) -> StorNotification {
    .init(kind: .queryTickCount(out))
  }
  /// `LinkUp`
  public static let linkUp = StorNotification(kind: .linkUp)
  /// `LinkDown`
  public static let linkDown = StorNotification(kind: .linkDown)
  /// `InitializeDpc` (0x1001), as StorPortInitializeDpc's inline wrapper sends it.
  public static func initializeDpc<E>(_ dpc: StorDpc, _ routine: HwDpcRoutine<E>) -> StorNotification {
    .init(kind: .initializeDpc(dpc, { $0.initializeDpc(dpc, routine) }))
  }
  /// `IssueDpc` (0x1002): the result is written through `result` (rule 41, R-D11).
  public static func issueDpc(
    _ dpc: StorDpc, _ argument1: UInt, _ argument2: UInt, result: UnsafeMutablePointer<Bool>
  ) -> StorNotification {
    .init(kind: .issueDpc(dpc, argument1, argument2, result))
  }
  /// `EnablePassiveInitialization` (0x1000): the result is written through `result`.
  public static func enablePassiveInitialization<E>(
    _ routine: HwPassiveInitializeRoutine<E>, result: UnsafeMutablePointer<Bool>
  ) -> StorNotification {
    .init(kind: .enablePassiveInitialization({ $0.enablePassiveInitialization(routine) }, result))
  }
}
