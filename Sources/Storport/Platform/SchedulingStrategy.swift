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

/// The processors a `.processor` decision chooses among, in *position* order: the runnable
/// processors in index order, then the competing pollers in index order.
public struct ProcessorAlternatives: Sendable {
  /// Bit i set: processor i is runnable.
  public let runnable: UInt64
  /// Bit i set: processor i polls and competes (only when the strategy lets pollers compete).
  public let pollers: UInt64

  public init(runnable: UInt64, pollers: UInt64) {
    precondition(runnable & pollers == 0, "bug in swift-storport: a processor both runnable and polling")
    self.runnable = runnable
    self.pollers = pollers
  }

  /// How many alternatives there are.
  public var count: Int { runnable.nonzeroBitCount + pollers.nonzeroBitCount }

  /// The processor at `position` (`0..<count`).
  public func processor(at position: Int) -> Int {
    let r = runnable.nonzeroBitCount
    return position < r ? Self.bit(position, of: runnable) : Self.bit(position - r, of: pollers)
  }

  /// The position of processor `p`, if it is an alternative.
  public func position(of p: Int) -> Int? {
    let bit: UInt64 = 1 << UInt64(p)
    if runnable & bit != 0 { return (runnable & (bit &- 1)).nonzeroBitCount }
    if pollers & bit != 0 { return runnable.nonzeroBitCount + (pollers & (bit &- 1)).nonzeroBitCount }
    return nil
  }

  /// The index of the `k`-th set bit of `mask` (0-based, from bit 0 up).
  @inline(__always)
  static func bit(_ k: Int, of mask: UInt64) -> Int {
    var m = mask
    for _ in 0..<k { m &= m - 1 }
    return m.trailingZeroBitCount
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

/// The source of the simulated platform's scheduling decisions (random walk, PCT, bounded
/// search, replay). Called only by the thread holding the simulator's baton, so
/// implementations need no locks; the platform records every decision with two or more
/// alternatives. Both methods are called for forced decisions too (one alternative), so a
/// strategy may count steps; they must then return 0.
public protocol SchedulingStrategy: AnyObject {
  /// Whether pollers (processors spinning on a condition) compete with runnable processors.
  /// When false they run only when no processor is runnable.
  var pollersCompete: Bool { get }
  /// Which processor runs next: a rank among `alternatives` (0: keep `current`, the position
  /// of the processor that reached the point when it is an alternative; else position 0).
  func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int
  /// Any other decision (a placement, which poller looks): a rank in `0..<count`, where rank 0
  /// is what the runtime does without a strategy.
  func choose(_ kind: ChoiceKind, count: Int) -> Int
}

/// The random walk: at each point, continue the current processor with probability
/// `100 − switchPercent` %, else pick a candidate uniformly (runnable ones, then pollers).
/// Placements take the runtime's own default (rank 0) unless `randomPlacements` (the
/// explorer's choice) draws them uniformly too. Same seed, same walk.
public final class RandomWalkStrategy: SchedulingStrategy {
  private var rng: SeededRandom
  public let switchPercent: Int
  public let randomPlacements: Bool
  public var pollersCompete: Bool { true }

  public init(seed: UInt64, switchPercent: Int = 30, randomPlacements: Bool = false) {
    precondition((0...100).contains(switchPercent), "switchPercent must be 0...100")
    rng = SeededRandom(seed: seed)
    self.switchPercent = switchPercent
    self.randomPlacements = randomPlacements
  }

  public func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int {
    if current != nil, rng.below(100) >= switchPercent { return 0 }
    return ScheduleRank.rank(ofPosition: rng.below(alternatives.count), current: current)
  }

  public func choose(_ kind: ChoiceKind, count: Int) -> Int {
    kind == .poller || (randomPlacements && count > 1) ? rng.below(count) : 0
  }
}

/// Plays back a recorded list of decisions. A decision that does not match the run (the
/// list ended, or the alternatives differ in kind or count) is *divergence*: the run
/// depends on something the simulator does not control. Divergence is recorded and rank 0
/// taken from then on.
public final class ReplayStrategy: SchedulingStrategy {
  public let decisions: [ScheduleDecision]
  public let pollersCompete: Bool
  public private(set) var position = 0
  /// Where the run first left the recording, if it did: the decision index and what differed.
  public private(set) var divergence: (index: Int, reason: String)?

  public init(_ decisions: [ScheduleDecision], pollersCompete: Bool) {
    self.decisions = decisions
    self.pollersCompete = pollersCompete
  }

  public func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int {
    next(.processor, count: alternatives.count)
  }

  public func choose(_ kind: ChoiceKind, count: Int) -> Int { next(kind, count: count) }

  private func next(_ kind: ChoiceKind, count: Int) -> Int {
    guard divergence == nil, count > 1 else { return 0 }
    guard position < decisions.count else {
      divergence = (position, "the run asked for more decisions than the \(decisions.count) recorded")
      return 0
    }
    let d = decisions[position]
    guard d.kind == kind, Int(d.count) == count else {
      divergence = (
        position,
        "decision \(position) was recorded as \(d.kind) among \(d.count) but the run asked for \(kind) among \(count)"
      )
      return 0
    }
    position += 1
    return Int(d.rank)
  }

  /// Whether the run consumed exactly the recorded decisions.
  public var replayedExactly: Bool { divergence == nil && position == decisions.count }
}
