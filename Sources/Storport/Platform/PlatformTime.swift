/// An instant of platform time: nanoseconds since the platform's epoch (process start live,
/// 0 when a simulation begins), monotonic, virtual on the simulated platform. Durations are
/// plain nanosecond counts whose labels say so (`nanoseconds:`).
public struct PlatformTime: Hashable, Comparable, Sendable, CustomStringConvertible {
  public var nanoseconds: UInt64

  @inline(__always)
  public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

  public static let zero = PlatformTime(nanoseconds: 0)

  /// This instant plus `nanoseconds` (saturating at the end of time).
  @inline(__always)
  public func advanced(by nanoseconds: UInt64) -> PlatformTime {
    let (sum, overflow) = self.nanoseconds.addingReportingOverflow(nanoseconds)
    return PlatformTime(nanoseconds: overflow ? UInt64.max : sum)
  }

  /// Nanoseconds from `earlier` to this instant (0 if `earlier` is later).
  @inline(__always)
  public func nanoseconds(since earlier: PlatformTime) -> UInt64 {
    nanoseconds >= earlier.nanoseconds ? nanoseconds - earlier.nanoseconds : 0
  }

  @inline(__always)
  public static func < (a: PlatformTime, b: PlatformTime) -> Bool { a.nanoseconds < b.nanoseconds }

  public var description: String { "\(nanoseconds) ns" }
}

/// A simulated processor's number, 0-based (at most 64 on a platform). Where "no processor" is
/// possible (a device thread, the host) the type is `ProcessorIndex?`, never a -1.
public struct ProcessorIndex: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible,
  ExpressibleByIntegerLiteral
{
  public let rawValue: Int

  @inline(__always)
  public init(rawValue: Int) {
    precondition(rawValue >= 0 && rawValue < 64, "bug in swift-storport: processor \(rawValue)")
    self.rawValue = rawValue
  }

  public init(integerLiteral value: Int) { self.init(rawValue: value) }

  public static func < (a: ProcessorIndex, b: ProcessorIndex) -> Bool { a.rawValue < b.rawValue }

  public var description: String { "cpu\(rawValue)" }
}
