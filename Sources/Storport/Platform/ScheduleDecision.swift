/// What a scheduling decision chooses. `.processor` is "which simulated processor runs next";
/// the others are the placements a real machine varies and the explorer therefore explores.
public enum ChoiceKind: String, Sendable, CaseIterable, Codable {
  /// Which runnable processor runs at a scheduling point.
  case processor
  /// Which processor a request submitted from outside the runtime starts on.
  case submitProcessor
  /// Which processor a DPC runs on (DPC redirection).
  case dpcProcessor
  /// Which processor an interrupt is delivered to.
  case interruptProcessor
  /// When, within its documented slack, a timer fires.
  case timerSlack
  /// Which polling processor looks at its condition when only pollers are left.
  case poller
}

/// One recorded decision of a simulated run, in *rank* form: rank 0 is the default choice —
/// keep running the processor that reached the scheduling point, or the first alternative —
/// and rank r > 0 the r-th other alternative in index order. A schedule is the list of these;
/// a decision with one alternative is forced and not recorded.
public struct ScheduleDecision: Hashable, Sendable, Codable {
  /// The rank chosen, `0..<count`.
  public var rank: UInt16
  /// The number of alternatives there were.
  public var count: UInt16
  /// What was chosen.
  public var kind: ChoiceKind
  /// For `.processor`: the processor that reached the point could have continued, so a
  /// non-zero rank preempted it (what preemption bounds count).
  public var preemptible: Bool

  public init(rank: UInt16, count: UInt16, kind: ChoiceKind, preemptible: Bool) {
    precondition(
      count >= 2 && rank < count, "a decision has 2 or more alternatives and a rank below their count")
    self.rank = rank
    self.count = count
    self.kind = kind
    self.preemptible = preemptible
  }

  /// Whether this decision preempted a processor that could have gone on.
  public var isPreemption: Bool { preemptible && rank != 0 }

  /// Compact on disk: `[rank, count, "kind", preemptible]`.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.unkeyedContainer()
    try c.encode(rank)
    try c.encode(count)
    try c.encode(kind)
    try c.encode(preemptible)
  }

  public init(from decoder: Decoder) throws {
    var c = try decoder.unkeyedContainer()
    let rank = try c.decode(UInt16.self)
    let count = try c.decode(UInt16.self)
    let kind = try c.decode(ChoiceKind.self)
    let preemptible = try c.decode(Bool.self)
    guard count >= 2 && rank < count else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: c.codingPath, debugDescription: "rank \(rank) among \(count) alternatives"))
    }
    self.init(rank: rank, count: count, kind: kind, preemptible: preemptible)
  }
}

/// Ranks and positions: rank 0 is the alternative at position `current` when there is one
/// (else position 0); ranks 1, 2, … are the other positions in order.
public enum ScheduleRank {
  /// The position of the alternative of rank `rank`.
  @inline(__always)
  public static func position(ofRank rank: Int, current: Int?) -> Int {
    guard let c = current else { return rank }
    if rank == 0 { return c }
    return rank - 1 < c ? rank - 1 : rank
  }

  /// The rank of the alternative at `position`.
  @inline(__always)
  public static func rank(ofPosition k: Int, current: Int?) -> Int {
    guard let c = current else { return k }
    return k == c ? 0 : (k < c ? k + 1 : k)
  }
}
