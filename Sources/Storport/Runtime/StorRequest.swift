import Synchronization

/// `SRB_FUNCTION_*` (srb.h): what a request asks the miniport to do.
public enum SrbFunction: UInt8, Sendable {
  case executeScsi = 0x00
  case shutdown = 0x07
  case flush = 0x08
  case abortCommand = 0x10
  case resetBus = 0x12
  case resetDevice = 0x13
  case resetLogicalUnit = 0x20
  case power = 0x24
  case pnp = 0x25
}

/// `SRB_STATUS_*` (srb.h).
public struct SrbStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let pending = SrbStatus(rawValue: 0x00)
  public static let success = SrbStatus(rawValue: 0x01)
  public static let aborted = SrbStatus(rawValue: 0x02)
  public static let error = SrbStatus(rawValue: 0x04)
  public static let busy = SrbStatus(rawValue: 0x05)
  public static let invalidRequest = SrbStatus(rawValue: 0x06)
  public static let noDevice = SrbStatus(rawValue: 0x08)
  public static let timeout = SrbStatus(rawValue: 0x09)
  public static let busReset = SrbStatus(rawValue: 0x0E)
  public static let noHba = SrbStatus(rawValue: 0x11)
  public static let badFunction = SrbStatus(rawValue: 0x22)

  public var description: String {
    switch rawValue {
    case 0x00: return "SRB_STATUS_PENDING"
    case 0x01: return "SRB_STATUS_SUCCESS"
    case 0x02: return "SRB_STATUS_ABORTED"
    case 0x04: return "SRB_STATUS_ERROR"
    case 0x05: return "SRB_STATUS_BUSY"
    case 0x06: return "SRB_STATUS_INVALID_REQUEST"
    case 0x08: return "SRB_STATUS_NO_DEVICE"
    case 0x09: return "SRB_STATUS_TIMEOUT"
    case 0x0E: return "SRB_STATUS_BUS_RESET"
    case 0x11: return "SRB_STATUS_NO_HBA"
    case 0x22: return "SRB_STATUS_BAD_FUNCTION"
    default: return "SRB_STATUS(0x\(String(rawValue, radix: 16)))"
    }
  }
}

/// A request block (`STORAGE_REQUEST_BLOCK` / `SCSI_REQUEST_BLOCK`), the unit of I/O that flows
/// BuildIo → StartIo → RequestComplete. Ownership moves with it: after
/// `StorPortNotification(RequestComplete)` the port owns it again, and a second completion
/// is a verifier violation (rule 72).
public final class StorRequest: @unchecked Sendable {
  enum Owner: UInt8 {
    case caller = 0
    case port = 1
    case miniport = 2
    case completed = 3
  }

  public var function: SrbFunction
  public var pathId: UInt8 = 0
  public var targetId: UInt8 = 0
  public var lun: UInt8 = 0
  /// `SrbStatus`, set by the miniport before completing.
  public var srbStatus: SrbStatus = .pending
  /// `ScsiStatus`.
  public var scsiStatus: UInt8 = 0
  /// `DataTransferLength`.
  public var dataTransferLength: UInt32 = 0
  /// Free for the submitter (a tag, an index into its own table).
  public var tag: UInt64 = 0
  /// `SrbExtension`-like word for the miniport.
  public var miniportContext: UInt = 0
  /// Concurrent channel StartIo ran on (StorPortGetStartIoPerfParams), 0 if none.
  public internal(set) var channelNumber: UInt32 = 0
  /// Platform time of submission (ns).
  public internal(set) var submittedAt: UInt64 = 0

  let owner = Atomic<UInt8>(Owner.caller.rawValue)
  nonisolated(unsafe) var completion: (@Sendable (StorRequest) -> Void)?

  public init(function: SrbFunction = .executeScsi, tag: UInt64 = 0) {
    self.function = function
    self.tag = tag
  }

  /// True once the port has taken the request back with RequestComplete.
  public var isCompleted: Bool { owner.load(ordering: .acquiring) == Owner.completed.rawValue }
}
