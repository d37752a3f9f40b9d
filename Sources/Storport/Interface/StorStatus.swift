/// A Storport status code (`STOR_STATUS_*`, storport.h), returned by the extended port
/// routines such as StorPortInitializeTimer and StorPortAcquireSpinLockEx.
public struct StorStatus: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt32
  public init(rawValue: UInt32) { self.rawValue = rawValue }

  /// `STOR_STATUS_SUCCESS`
  public static let success = StorStatus(rawValue: 0x0000_0000)
  /// `STOR_STATUS_UNSUCCESSFUL`
  public static let unsuccessful = StorStatus(rawValue: 0xC100_0001)
  /// `STOR_STATUS_NOT_IMPLEMENTED`
  public static let notImplemented = StorStatus(rawValue: 0xC100_0002)
  /// `STOR_STATUS_INSUFFICIENT_RESOURCES`
  public static let insufficientResources = StorStatus(rawValue: 0xC100_0003)
  /// `STOR_STATUS_BUFFER_TOO_SMALL`
  public static let bufferTooSmall = StorStatus(rawValue: 0xC100_0004)
  /// `STOR_STATUS_ACCESS_DENIED`
  public static let accessDenied = StorStatus(rawValue: 0xC100_0005)
  /// `STOR_STATUS_INVALID_PARAMETER`
  public static let invalidParameter = StorStatus(rawValue: 0xC100_0006)
  /// `STOR_STATUS_INVALID_DEVICE_REQUEST`
  public static let invalidDeviceRequest = StorStatus(rawValue: 0xC100_0007)
  /// `STOR_STATUS_INVALID_IRQL`
  public static let invalidIrql = StorStatus(rawValue: 0xC100_0008)
  /// `STOR_STATUS_INVALID_DEVICE_STATE`
  public static let invalidDeviceState = StorStatus(rawValue: 0xC100_0009)
  /// `STOR_STATUS_INVALID_BUFFER_SIZE`
  public static let invalidBufferSize = StorStatus(rawValue: 0xC100_000A)
  /// `STOR_STATUS_UNSUPPORTED_VERSION`
  public static let unsupportedVersion = StorStatus(rawValue: 0xC100_000B)
  /// `STOR_STATUS_BUSY`
  public static let busy = StorStatus(rawValue: 0xC100_000C)

  public var description: String {
    let names: [UInt32: String] = [
      0: "STOR_STATUS_SUCCESS", 0xC100_0001: "STOR_STATUS_UNSUCCESSFUL",
      0xC100_0002: "STOR_STATUS_NOT_IMPLEMENTED", 0xC100_0003: "STOR_STATUS_INSUFFICIENT_RESOURCES",
      0xC100_0004: "STOR_STATUS_BUFFER_TOO_SMALL", 0xC100_0005: "STOR_STATUS_ACCESS_DENIED",
      0xC100_0006: "STOR_STATUS_INVALID_PARAMETER", 0xC100_0007: "STOR_STATUS_INVALID_DEVICE_REQUEST",
      0xC100_0008: "STOR_STATUS_INVALID_IRQL", 0xC100_0009: "STOR_STATUS_INVALID_DEVICE_STATE",
      0xC100_000A: "STOR_STATUS_INVALID_BUFFER_SIZE", 0xC100_000B: "STOR_STATUS_UNSUPPORTED_VERSION",
      0xC100_000C: "STOR_STATUS_BUSY",
    ]
    return names[rawValue] ?? "STOR_STATUS(0x\(String(rawValue, radix: 16)))"
  }
}
