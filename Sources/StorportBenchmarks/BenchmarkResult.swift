import Storport

/// One benchmark figure beside its same-run baseline.
public struct BenchmarkResult: Sendable {
  public let name: String
  public let p50: UInt64
  public let p99: UInt64
  public let max: UInt64
  public let baselineName: String
  public let baselineP50: UInt64
  public let baselineP99: UInt64
  public let goal: String
  /// Whether the goal was met in this run (nil: a figure reported without a goal).
  public let met: Bool?

  public init(
    name: String, p50: UInt64, p99: UInt64, max: UInt64, baselineName: String, baselineP50: UInt64,
    baselineP99: UInt64, goal: String, met: Bool?
  ) {
    self.name = name
    self.p50 = p50
    self.p99 = p99
    self.max = max
    self.baselineName = baselineName
    self.baselineP50 = baselineP50
    self.baselineP99 = baselineP99
    self.goal = goal
    self.met = met
  }

  /// "met", "MISSED" or "—".
  public var verdict: String { met.map { $0 ? "met" : "MISSED" } ?? "—" }

  public var ratioP50: Double { baselineP50 == 0 ? 0 : Double(p50) / Double(baselineP50) }
  public var ratioP99: Double { baselineP99 == 0 ? 0 : Double(p99) / Double(baselineP99) }

  /// `{"name":…,"p50_ns":…,"p99_ns":…,"max_ns":…,"baseline_p50_ns":…,"baseline_p99_ns":…,
  /// "ratio_p50":…,"ratio_p99":…}` (plus the baseline's name and the goal).
  public var json: String {
    var o = JSONObject()
    o["name"] = .string(name)
    o["p50_ns"] = .int(p50)
    o["p99_ns"] = .int(p99)
    o["max_ns"] = .int(max)
    o["baseline_p50_ns"] = .int(baselineP50)
    o["baseline_p99_ns"] = .int(baselineP99)
    o["ratio_p50"] = .double((ratioP50 * 100).rounded() / 100)
    o["ratio_p99"] = .double((ratioP99 * 100).rounded() / 100)
    o["baseline"] = .string(baselineName)
    o["goal"] = .string(goal)
    o["met"] = .optional(met.map { .bool($0) })
    return o.text
  }

  static func fixed(_ d: Double) -> String {
    let scaled = Int((d * 100).rounded())
    return "\(scaled / 100).\(String(format2: scaled % 100))"
  }

  /// A plain-text table of results.
  public static func table(_ results: [BenchmarkResult]) -> String {
    var s =
      "benchmark                                   p50 ns    p99 ns    max ns | baseline p50    p99 | ratio p50  p99 | goal met? | goal\n"
    for r in results {
      s +=
        r.name.padded(42) + "\(r.p50)".leftPadded(8) + "\(r.p99)".leftPadded(10) + "\(r.max)".leftPadded(10)
      s += " | " + "\(r.baselineP50)".leftPadded(12) + "\(r.baselineP99)".leftPadded(7)
      s +=
        " | " + fixed(r.ratioP50).leftPadded(9) + fixed(r.ratioP99).leftPadded(5) + " | "
        + r.verdict.padded(9)
      s += " | " + r.goal + "\n"
    }
    return s
  }
}

extension String {
  init(format2 v: Int) { self = v < 10 ? "0\(v)" : "\(v)" }
}

/// Sorted-sample percentiles.
struct Sample {
  var values: [UInt64] = []
  mutating func add(_ v: UInt64) { values.append(v) }
  var sorted: [UInt64] { values.sorted() }
  func percentile(_ q: Double) -> UInt64 {
    let v = sorted
    return v.isEmpty ? 0 : v[min(v.count - 1, Int(Double(v.count) * q))]
  }
  var p50: UInt64 { percentile(0.5) }
  var p99: UInt64 { percentile(0.99) }
  var max: UInt64 { values.max() ?? 0 }
}
