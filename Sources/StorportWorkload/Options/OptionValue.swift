/// Strict parsers for option values, shared by every front end (`bench io`, `run`, `demo`,
/// `serve`). Each either returns the value exactly as written or throws an ``OptionError``
/// naming the option, the value and what is accepted: no rounding, no clamping, no default
/// substituted for garbage.
public enum OptionValue {
  /// What a size accepts, for messages.
  public static let sizeSyntax =
    "a whole number of bytes, optionally with a binary suffix k, m, g, t or p (also KiB, MB, …; case-insensitive), e.g. 4k or 256MiB"

  /// A byte count with fio's suffixes: `4096`, `4k`, `4K`, `4KiB`, `4kb`, `1m`, `2G`, `1t`, `1p`.
  /// Every suffix is binary: k, kb and KiB all mean 1024 (fio's default `kb_base=1024` reads k
  /// and kb so, but reads the IEC KiB as 1000; here KiB means what IEC says). Fractions, signs,
  /// empty strings and values above `UInt64.max` are rejected.
  public static func size(_ text: String, option: String) throws(OptionError) -> UInt64 {
    let bad = OptionError(option, text, sizeSyntax)
    let digits = text.prefix { $0.isASCII && $0.isNumber }
    guard !digits.isEmpty else { throw bad }
    let suffix = text.dropFirst(digits.count).lowercased()
    let shift: UInt64
    switch suffix {
    case "", "b": shift = 0
    case "k", "kb", "kib": shift = 10
    case "m", "mb", "mib": shift = 20
    case "g", "gb", "gib": shift = 30
    case "t", "tb", "tib": shift = 40
    case "p", "pb", "pib": shift = 50
    default: throw bad
    }
    guard let n = UInt64(digits) else {
      throw OptionError(option, text, "too large (at most 16 EiB)")
    }
    let (v, overflow) = n.multipliedReportingOverflow(by: 1 << shift)
    guard !overflow else { throw OptionError(option, text, "too large (at most 16 EiB)") }
    return v
  }

  /// A size in `range`, with the range in the message when it is out of it.
  public static func size(_ text: String, option: String, in range: ClosedRange<UInt64>) throws(OptionError)
    -> UInt64
  {
    let v = try size(text, option: option)
    guard range.contains(v) else {
      throw OptionError(
        option, text,
        "must be between \(Format.bytes(range.lowerBound)) and \(Format.bytes(range.upperBound))")
    }
    return v
  }

  /// A decimal integer in `range` (no sign other than a leading `-` for negative ranges, no
  /// fraction, no suffix).
  public static func integer<I: FixedWidthInteger>(
    _ text: String, option: String, in range: ClosedRange<I>
  ) throws(OptionError) -> I {
    guard text.first.map({ $0 == "-" || ($0.isASCII && $0.isNumber) }) ?? false, let v = I(text, radix: 10)
    else {
      throw OptionError(option, text, "a whole number from \(range.lowerBound) to \(range.upperBound)")
    }
    guard range.contains(v) else {
      throw OptionError(option, text, "must be from \(range.lowerBound) to \(range.upperBound)")
    }
    return v
  }

  /// One of `choices` (exact spelling).
  public static func choice(_ text: String, option: String, _ choices: [String]) throws(OptionError) -> String
  {
    guard choices.contains(text) else {
      throw OptionError(option, text, "one of \(choices.joined(separator: ", "))")
    }
    return text
  }

  /// fio's time syntax: a whole or decimal number with an optional unit `us`, `ms`, `s`, `m`,
  /// `h` or `d` (default seconds), e.g. `10`, `2.5s`, `500ms`, `1m`. Returns nanoseconds;
  /// the value must lie in `range` (nanoseconds). NaN, infinities, signs and overflow are
  /// rejected.
  public static func duration(
    _ text: String, option: String, in range: ClosedRange<UInt64>, defaultUnit: String = "s"
  ) throws(OptionError) -> UInt64 {
    let syntax =
      "a time: a number with an optional unit us, ms, s, m, h or d (default \(defaultUnit)), from \(Format.duration(range.lowerBound)) to \(Format.duration(range.upperBound))"
    let number = text.prefix { ($0.isASCII && $0.isNumber) || $0 == "." }
    let unit = String(text.dropFirst(number.count)).lowercased()
    guard !number.isEmpty, number.filter({ $0 == "." }).count <= 1, number.first != ".", number.last != "."
    else { throw OptionError(option, text, syntax) }
    let scale: Double
    switch unit.isEmpty ? defaultUnit : unit {
    case "us", "usec": scale = 1e3
    case "ms", "msec": scale = 1e6
    case "s", "sec": scale = 1e9
    case "m", "min": scale = 60e9
    case "h": scale = 3600e9
    case "d": scale = 86400e9
    default: throw OptionError(option, text, syntax)
    }
    guard let n = Double(number), n.isFinite else { throw OptionError(option, text, syntax) }
    let ns = (n * scale).rounded()
    guard ns.isFinite, ns >= Double(range.lowerBound), ns <= Double(range.upperBound) else {
      throw OptionError(option, text, syntax)
    }
    return UInt64(ns)
  }
}
