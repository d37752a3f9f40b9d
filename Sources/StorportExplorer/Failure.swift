import Storport

/// What kind of failure a schedule ended in.
public enum FailureKind: String, Codable, Sendable, CaseIterable {
  /// The verifier reported a violation (its rule ID and bug check are in the failure).
  case verifierViolation = "verifier-violation"
  /// A harness expectation (``HarnessRun/expect(_:_:fileID:line:)``) did not hold.
  case harnessAssertion = "harness-assertion"
  /// A submitted request was never completed.
  case requestLost = "request-lost"
  /// A request was completed more than once (SCSI_VERIFIER_DETECTED_VIOLATION 0x2004).
  case requestCompletedTwice = "request-completed-twice"
  /// Every processor that could run waits for a lock nobody will release.
  case deadlock
  /// The schedule took more than `--max-steps` decisions: a processor kept spinning.
  case livelock
  /// Two accesses to tracked miniport state that nothing orders (both are named).
  case dataRace = "data-race"
  /// Replaying the schedule did not reproduce the run: something the simulator does not
  /// control decided its course.
  case uncontrolledNondeterminism = "uncontrolled-nondeterminism"
}

/// One failure of one schedule.
public struct ExplorationFailure: Codable, Sendable, Equatable {
  public let kind: FailureKind
  /// What identifies it across schedules: the verifier rule ID, the racing locations, the
  /// request, the spinning processor. Shrinking keeps kind and rule.
  public let rule: String
  /// The precise description.
  public let message: String
  /// The bug check a Windows system would raise, when there is one.
  public let bugCheck: String?
  /// The two racing accesses (data races only).
  public let race: DataRace?

  public init(
    kind: FailureKind, rule: String, message: String, bugCheck: String? = nil, race: DataRace? = nil
  ) {
    self.kind = kind
    self.rule = rule
    self.message = message
    self.bugCheck = bugCheck
    self.race = race
  }

  /// Kind and rule: what "the same failure" means for shrinking and replay.
  public var signature: String { "\(kind.rawValue): \(rule)" }
}
