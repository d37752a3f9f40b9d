/// Checked mode (the default) or not.
public enum VerifierMode: Sendable, Equatable {
  /// No checks beyond what keeps the runtime itself consistent.
  case unchecked
  /// Every rule checked; `onViolation` says what a violation does.
  case checked(onViolation: ViolationPolicy)

  public static let `default` = VerifierMode.checked(onViolation: .stopAdapter)

  public var isChecked: Bool { self != .unchecked }
}

/// What a verifier violation does to its adapter (warnings never do anything but report).
public enum ViolationPolicy: Sendable, Equatable {
  /// Stop the adapter (no callback starts again; I/O fails) and keep the report (D17).
  case stopAdapter
  /// Record the report and keep running (for tests of the verifier itself).
  case recordAndContinue
}
