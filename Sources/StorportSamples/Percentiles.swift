import Storport
import Synchronization

/// Latency percentiles (ns) of a sample.
public struct Percentiles: Sendable {
  public let count: Int
  public let p50: UInt64
  public let p99: UInt64
  public let max: UInt64

  public init(_ values: [UInt64]) {
    let v = values.sorted()
    count = v.count
    func at(_ q: Double) -> UInt64 {
      v.isEmpty ? 0 : v[min(v.count - 1, Int((Double(v.count) * q).rounded(.down)))]
    }
    p50 = at(0.50)
    p99 = at(0.99)
    max = v.last ?? 0
  }

  public var text: String {
    "p50 \(Self.us(p50)) µs, p99 \(Self.us(p99)) µs, max \(Self.us(max)) µs (n=\(count))"
  }
  static func us(_ ns: UInt64) -> String {
    let tenths = (ns + 50) / 100
    return "\(tenths / 10).\(tenths % 10)"
  }
  public var json: String { "{\"n\":\(count),\"p50_ns\":\(p50),\"p99_ns\":\(p99),\"max_ns\":\(max)}" }
}
