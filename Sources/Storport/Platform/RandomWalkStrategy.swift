/// The random walk: at each point, continue the current processor with probability
/// `100 − switchPercent` %, else pick a candidate uniformly (runnable ones, then pollers).
/// Placements take the runtime's own default (rank 0) unless `randomPlacements` (the
/// explorer's choice) draws them uniformly too. Same seed, same walk.
public final class RandomWalkStrategy: SchedulingStrategy {
  private var rng: SeededRandom
  public let switchPercent: Int
  public let randomPlacements: Bool
  public let pointsAtServiceCalls: Bool
  public var pollersCompete: Bool { true }
  public var variesPlacements: Bool { randomPlacements }

  /// - Parameters:
  ///   - randomPlacements: draw placements uniformly (the explorer) instead of the runtime's own.
  ///   - pointsAtServiceCalls: make every StorPort service call a scheduling point (the explorer).
  public init(
    seed: UInt64, switchPercent: Int = 30, randomPlacements: Bool = false, pointsAtServiceCalls: Bool = false
  ) {
    precondition((0...100).contains(switchPercent), "switchPercent must be 0...100")
    rng = SeededRandom(seed: seed)
    self.switchPercent = switchPercent
    self.randomPlacements = randomPlacements
    self.pointsAtServiceCalls = pointsAtServiceCalls
  }

  @inline(__always)
  public func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int {
    if current != nil, rng.below(100) >= switchPercent { return 0 }
    return ScheduleRank.rank(ofPosition: rng.below(alternatives.count), current: current)
  }

  /// The same choice as `chooseProcessor` — the same random draws, the same processor — made
  /// on the masks directly, for the simulated platform's unrecorded runs (the scheduling cost
  /// every simulated I/O pays). A test checks the two paths give identical runs.
  @inline(__always)
  func nextProcessor(runnable: UInt64, pollers: UInt64, current p: Int?) -> Int {
    if let p, (runnable | pollers) & (1 << UInt64(p)) != 0, rng.below(100) >= switchPercent { return p }
    let r = runnable.nonzeroBitCount
    let k = rng.below(r + pollers.nonzeroBitCount)
    return k < r ? ProcessorAlternatives.bit(k, of: runnable) : ProcessorAlternatives.bit(k - r, of: pollers)
  }

  public func choose(_ kind: ChoiceKind, count: Int) -> Int {
    kind == .poller || (randomPlacements && count > 1) ? rng.below(count) : 0
  }
}
