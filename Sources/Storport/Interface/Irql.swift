/// A virtual interrupt request level (Windows `KIRQL`). Each simulated processor carries one;
/// the port sets it before every callback and the verifier checks it on return.
public struct Irql: RawRepresentable, Comparable, Hashable, Sendable, CustomStringConvertible {
  public let rawValue: UInt8
  public init(rawValue: UInt8) { self.rawValue = rawValue }

  /// `PASSIVE_LEVEL` (0): thread context; may block.
  public static let passive = Irql(rawValue: 0)
  /// `DISPATCH_LEVEL` (2): DPCs, StartIo (full duplex), spin-lock holders.
  public static let dispatch = Irql(rawValue: 2)
  /// Device IRQL (DIRQL): ISRs, HwStorInitialize, SynchronizeAccess routines.
  public static let device = Irql(rawValue: 5)

  public static func < (a: Irql, b: Irql) -> Bool { a.rawValue < b.rawValue }

  public var description: String {
    switch rawValue {
    case 0: return "PASSIVE_LEVEL"
    case 2: return "DISPATCH_LEVEL"
    case 5: return "DIRQL"
    default: return "IRQL(\(rawValue))"
    }
  }
}
