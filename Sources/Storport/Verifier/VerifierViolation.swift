/// One report from the verifier: which rule, where, in which context, and what happened just
/// before. Reports are values; printing them never touches runtime state.
public struct VerifierViolation: Sendable, Error, CustomStringConvertible {
  public let rule: VerifierRule
  /// What exactly was wrong, in a sentence.
  public let message: String
  public let adapter: Int
  /// The callback that was running (role and routine name), or "none".
  public let callback: String
  /// The processor the misuse happened on, or nil (a thread outside the processors).
  public let processor: ProcessorIndex?
  public let irql: Irql
  /// Locks held by the context at the time (port-held ones are marked).
  public let locksHeld: [String]
  /// Platform time in nanoseconds.
  public let time: UInt64
  /// The last trace events before the report.
  public let recentEvents: [TraceEvent]
  /// Whether the adapter was stopped because of it.
  public let stoppedAdapter: Bool

  public var bugCheck: BugCheck { rule.bugCheck }

  public var description: String { text }

  /// A multi-line human-readable report.
  public var text: String {
    var s = rule.isWarning ? "VERIFIER WARNING" : "VERIFIER VIOLATION"
    s += " \(rule.rawValue): \(message)\n"
    s += "  mirrors bug check \(bugCheck)\n"
    s += "  rule source: \(rule.source)\n"
    s +=
      "  adapter \(adapter), callback \(callback), processor \(processor?.description ?? "none (outside the processors)"), \(irql)\n"
    s += "  locks held: \(locksHeld.isEmpty ? "none" : locksHeld.joined(separator: ", "))\n"
    s += "  time: \(time) ns\(stoppedAdapter ? "; the adapter was stopped" : "")\n"
    if !recentEvents.isEmpty {
      s += "  last \(recentEvents.count) trace events:\n"
      for e in recentEvents { s += "    \(e.text)\n" }
    }
    return s
  }

  /// One JSON object.
  public var json: String {
    var s = "{\"rule\":\(JSON.quote(rule.rawValue)),\"warning\":\(rule.isWarning)"
    s += ",\"message\":\(JSON.quote(message)),\"source\":\(JSON.quote(rule.source))"
    s +=
      ",\"bugcheck\":{\"code\":\(bugCheck.code),\"name\":\(JSON.quote(bugCheck.name)),\"p1\":\(bugCheck.parameter1)}"
    s +=
      ",\"adapter\":\(adapter),\"callback\":\(JSON.quote(callback)),\"processor\":\(processor.map { "\($0.rawValue)" } ?? "null")"
    s += ",\"irql\":\(irql.rawValue),\"locks_held\":[\(locksHeld.map(JSON.quote).joined(separator: ","))]"
    s += ",\"time_ns\":\(time),\"stopped_adapter\":\(stoppedAdapter)"
    s += ",\"recent\":[\(recentEvents.map(\.jsonLine).joined(separator: ","))]}"
    return s
  }
}
