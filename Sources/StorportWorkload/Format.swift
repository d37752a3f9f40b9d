/// Number formatting for reports and messages, in one place.
public enum Format {
  /// "4 KiB", "256 MiB", "1.5 GiB", "1 byte", "10 bytes".
  public static func bytes(_ n: UInt64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    if n == 1 { return "1 byte" }
    var i = 0
    var d = Double(n)
    while d >= 1024 && i < units.count - 1 {
      d /= 1024
      i += 1
    }
    if i == 0 { return "\(n) bytes" }
    return d == d.rounded(.down) ? "\(Int(d)) \(units[i])" : "\(decimals(d, 1)) \(units[i])"
  }

  /// "500 µs", "3 s", "2 min", "1 d": the largest unit that divides `ns` exactly.
  public static func duration(_ ns: UInt64) -> String {
    let units: [(UInt64, String)] = [
      (86_400_000_000_000, "d"), (3_600_000_000_000, "h"), (60_000_000_000, "min"), (1_000_000_000, "s"),
      (1_000_000, "ms"), (1_000, "µs"),
    ]
    for (scale, name) in units where ns >= scale && ns % scale == 0 { return "\(ns / scale) \(name)" }
    return "\(ns) ns"
  }

  /// An elapsed time with a unit that suits it: "3.000 s", "12.345 ms", "850.0 µs".
  public static func elapsed(_ ns: UInt64) -> String {
    if ns >= 1_000_000_000 { return decimals(Double(ns) / 1e9, 3) + " s" }
    if ns >= 1_000_000 { return decimals(Double(ns) / 1e6, 3) + " ms" }
    return decimals(Double(ns) / 1e3, 1) + " µs"
  }

  /// `v` with exactly `places` decimals ("3.000", "0.5").
  public static func decimals(_ v: Double, _ places: Int) -> String {
    guard v.isFinite else { return "\(v)" }
    var scale: Int64 = 1
    for _ in 0..<places { scale *= 10 }
    let m = Int64((v * Double(scale)).rounded())
    let whole = "\(m / scale)"
    guard places > 0 else { return whole }
    let frac = String(abs(m % scale))
    let sign = m < 0 && m / scale == 0 ? "-" : ""
    return sign + whole + "." + String(repeating: "0", count: places - frac.count) + frac
  }

  /// Nanoseconds as microseconds with one decimal ("12.5").
  public static func micro(_ ns: UInt64) -> String { decimals(Double(ns) / 1000, 1) }

  /// 1234567 → "1.23M", 91234 → "91.2k", 12 → "12".
  public static func short(_ v: Double) -> String {
    func one(_ x: Double) -> String { x >= 100 ? "\(Int(x.rounded()))" : decimals(x, 1) }
    if v >= 1e9 { return one(v / 1e9) + "G" }
    if v >= 1e6 { return one(v / 1e6) + "M" }
    if v >= 1e3 { return one(v / 1e3) + "k" }
    return "\(Int(v.rounded()))"
  }

  /// 1234567 → "1,234,567".
  public static func grouped(_ n: UInt64) -> String {
    var s = String(n)
    var i = s.count - 3
    while i > 0 {
      s.insert(",", at: s.index(s.startIndex, offsetBy: i))
      i -= 3
    }
    return s
  }

  /// `v` as 0x followed by 8 hex digits.
  public static func hex32(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
  }

  /// The first `n` bytes at `p` in hex, space-separated.
  public static func hexBytes(_ p: UnsafeRawPointer, _ n: Int) -> String {
    (0..<n).map {
      let s = String(p.load(fromByteOffset: $0, as: UInt8.self), radix: 16)
      return s.count == 1 ? "0" + s : s
    }.joined(separator: " ")
  }
}
