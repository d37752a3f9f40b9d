import Synchronization

/// The checked-mode rule enforcer (Driver Verifier's role). Holds the reports; the checks
/// themselves sit in the port services and the callback wrapper, where the context is known.
public final class Verifier: Sendable {
  public let mode: VerifierMode
  private let reports = Locked<[VerifierViolation]>([])
  private let onReport: (@Sendable (VerifierViolation) -> Void)?

  init(mode: VerifierMode, onReport: (@Sendable (VerifierViolation) -> Void)?) {
    self.mode = mode
    self.onReport = onReport
  }

  var policy: ViolationPolicy {
    if case .checked(let p) = mode { return p }
    return .recordAndContinue
  }

  func record(_ v: VerifierViolation) {
    reports.withLock { $0.append(v) }
    onReport?(v)
  }

  /// Every report so far (violations and warnings), in order.
  public var reportsSoFar: [VerifierViolation] { reports.withLock { $0 } }
  /// Violations only (no warnings).
  public var violations: [VerifierViolation] { reportsSoFar.filter { !$0.rule.isWarning } }
  /// Warnings only.
  public var warnings: [VerifierViolation] { reportsSoFar.filter { $0.rule.isWarning } }

  /// One line for the end of a run: "PASS: …" or "FAIL: n violation(s) …".
  public var verdict: String {
    let v = violations
    let w = warnings.count
    if !mode.isChecked { return "UNCHECKED: the verifier was off" }
    if v.isEmpty { return "PASS: no verifier violations\(w > 0 ? " (\(w) warning(s))" : "")" }
    let rules = Set(v.map(\.rule.rawValue)).sorted().joined(separator: ", ")
    return "FAIL: \(v.count) verifier violation(s): \(rules)"
  }
}
