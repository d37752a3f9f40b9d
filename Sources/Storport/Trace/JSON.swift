/// Minimal JSON writing for reports, traces and results: no Foundation, stable key order.
public enum JSON {
  /// `s` as a JSON string literal, quotes included.
  public static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if u.value < 0x20 {
          let hex = String(u.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    return out + "\""
  }

  /// A JSON number for `d` (`null` for NaN and infinities, which JSON cannot hold).
  public static func number(_ d: Double) -> String {
    guard d.isFinite else { return "null" }
    if d == d.rounded() && abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
  }
}

/// A JSON object built key by key, in insertion order.
///
///     var o = JSONObject()
///     o["bs"] = .int(4096)
///     o["rw"] = .string("randread")
///     o.text   // {"bs":4096,"rw":"randread"}
public struct JSONObject: Sendable {
  /// A value: already-encoded JSON text.
  public struct Value: Sendable {
    public let text: String
    /// Already-encoded JSON (a report's own `json`).
    public static func raw(_ json: String) -> Value { Value(text: json) }
    public static func string(_ s: String) -> Value { Value(text: JSON.quote(s)) }
    public static func int<I: BinaryInteger>(_ i: I) -> Value { Value(text: "\(i)") }
    public static func double(_ d: Double) -> Value { Value(text: JSON.number(d)) }
    public static func bool(_ b: Bool) -> Value { Value(text: b ? "true" : "false") }
    public static let null = Value(text: "null")
    public static func object(_ o: JSONObject) -> Value { Value(text: o.text) }
    public static func array(_ items: [Value]) -> Value {
      Value(text: "[" + items.map(\.text).joined(separator: ",") + "]")
    }
    public static func strings(_ items: [String]) -> Value { array(items.map(string)) }
    /// `nil` becomes `null`.
    public static func optional(_ v: Value?) -> Value { v ?? .null }
  }

  private var members: [(String, Value)] = []

  public init() {}

  public subscript(key: String) -> Value? {
    get { members.first { $0.0 == key }?.1 }
    set {
      members.removeAll { $0.0 == key }
      if let newValue { members.append((key, newValue)) }
    }
  }

  /// Adds (or replaces) every member of `other`, in its order.
  public mutating func merge(_ other: JSONObject) {
    for (k, v) in other.members { self[k] = v }
  }

  public var text: String {
    "{" + members.map { JSON.quote($0.0) + ":" + $0.1.text }.joined(separator: ",") + "}"
  }
}
