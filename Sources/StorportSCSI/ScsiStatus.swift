/// SAM status codes.
public struct ScsiStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let good = ScsiStatus(rawValue: 0x00)
  public static let checkCondition = ScsiStatus(rawValue: 0x02)
  public static let conditionMet = ScsiStatus(rawValue: 0x04)
  public static let busy = ScsiStatus(rawValue: 0x08)
  public static let reservationConflict = ScsiStatus(rawValue: 0x18)
  public static let taskSetFull = ScsiStatus(rawValue: 0x28)
  public static let taskAborted = ScsiStatus(rawValue: 0x40)

  public var description: String {
    switch rawValue {
    case 0x00: return "GOOD"
    case 0x02: return "CHECK CONDITION"
    case 0x04: return "CONDITION MET"
    case 0x08: return "BUSY"
    case 0x18: return "RESERVATION CONFLICT"
    case 0x28: return "TASK SET FULL"
    case 0x40: return "TASK ABORTED"
    default: return "STATUS(0x\(String(rawValue, radix: 16)))"
    }
  }
}

/// SPC sense keys.
public struct SenseKey: RawRepresentable, Hashable, Sendable {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }
  public static let noSense = SenseKey(rawValue: 0x0)
  public static let recoveredError = SenseKey(rawValue: 0x1)
  public static let notReady = SenseKey(rawValue: 0x2)
  public static let mediumError = SenseKey(rawValue: 0x3)
  public static let hardwareError = SenseKey(rawValue: 0x4)
  public static let illegalRequest = SenseKey(rawValue: 0x5)
  public static let unitAttention = SenseKey(rawValue: 0x6)
  public static let dataProtect = SenseKey(rawValue: 0x7)
  public static let abortedCommand = SenseKey(rawValue: 0xB)
  public static let miscompare = SenseKey(rawValue: 0xE)
}

/// Additional sense code and qualifier (ASC/ASCQ).
public struct AdditionalSense: Hashable, Sendable, CustomStringConvertible {
  public let asc: UInt8
  public let ascq: UInt8
  public init(_ asc: UInt8, _ ascq: UInt8) {
    self.asc = asc
    self.ascq = ascq
  }
  public var description: String {
    let h = { (v: UInt8) in v < 16 ? "0\(String(v, radix: 16))" : String(v, radix: 16) }
    return "\(h(asc))/\(h(ascq))"
  }

  public static let none = AdditionalSense(0x00, 0x00)
  public static let writeError = AdditionalSense(0x0C, 0x00)
  public static let unrecoveredReadError = AdditionalSense(0x11, 0x00)
  public static let parameterListLengthError = AdditionalSense(0x1A, 0x00)
  public static let miscompareDuringVerify = AdditionalSense(0x1D, 0x00)
  public static let invalidCommandOperationCode = AdditionalSense(0x20, 0x00)
  public static let lbaOutOfRange = AdditionalSense(0x21, 0x00)
  public static let invalidFieldInCdb = AdditionalSense(0x24, 0x00)
  public static let logicalUnitNotSupported = AdditionalSense(0x25, 0x00)
  public static let invalidFieldInParameterList = AdditionalSense(0x26, 0x00)
  public static let writeProtected = AdditionalSense(0x27, 0x00)
  public static let powerOnReset = AdditionalSense(0x29, 0x00)
  public static let parametersChanged = AdditionalSense(0x2A, 0x01)
  public static let savingParametersNotSupported = AdditionalSense(0x39, 0x00)
  public static let mediumNotPresent = AdditionalSense(0x3A, 0x00)
  public static let notReadyInitializingRequired = AdditionalSense(0x04, 0x02)
  public static let internalTargetFailure = AdditionalSense(0x44, 0x00)
  public static let commandsClearedByDevice = AdditionalSense(0x2F, 0x00)
  public static let mediumRemovalPrevented = AdditionalSense(0x53, 0x02)
}
