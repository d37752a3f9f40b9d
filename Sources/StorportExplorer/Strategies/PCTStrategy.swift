import Storport

/// PCT — probabilistic concurrency testing (Burckhardt, Kothari, Musuvathi, Nagarakatte,
/// ASPLOS 2010). Each processor gets a random distinct priority; the runnable processor of
/// highest priority always runs; at d − 1 change points, chosen uniformly among the first
/// `steps` decisions, the processor running there drops below every other. A bug of depth d
/// is found by one run with probability at least 1/(n·k^(d−1)) for n processors and k steps.
///
/// Pollers do not compete (they are yielding by definition); placements are uniform.
public final class PCTStrategy: SchedulingStrategy {
  /// The bug depth d ≥ 1 the run targets (d − 1 change points).
  public let depth: Int
  /// The run length k (in processor decisions) change points are drawn from.
  public let steps: Int
  private var rng: SeededRandom
  private var priorities: [Int]
  private var changePoints: [Int]
  private var nextChange = 0
  /// Processor decisions taken so far (forced ones included): a run's k.
  public private(set) var processorSteps = 0
  /// The processor chosen last (the one running until the next decision).
  private var running: Int?
  public var pollersCompete: Bool { false }

  /// - Parameters:
  ///   - seed: the run's seed (priorities, change points, placements).
  ///   - processors: the simulated processor count n.
  ///   - depth: d ≥ 1.
  ///   - steps: k ≥ 1, an estimate of the run's processor decisions (learn it from earlier runs).
  public init(seed: UInt64, processors: Int, depth: Int, steps: Int) {
    precondition(depth >= 1, "PCT depth must be at least 1")
    precondition(processors >= 1 && steps >= 1, "PCT needs processors and steps")
    self.depth = depth
    self.steps = steps
    rng = SeededRandom(seed: seed)
    // Priorities depth ..< depth + n in a random order (Fisher–Yates); change points take
    // the values depth − 2 down to 0, below all of them.
    var p = Array(depth..<(depth + processors))
    for i in stride(from: p.count - 1, to: 0, by: -1) { p.swapAt(i, rng.below(i + 1)) }
    priorities = p
    var points = Set<Int>()
    while points.count < min(depth - 1, steps) { points.insert(1 + rng.below(steps)) }
    changePoints = points.sorted()
  }

  public func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int {
    processorSteps += 1
    if nextChange < changePoints.count && processorSteps == changePoints[nextChange] {
      // The processor that ran up to this point drops below every other — whether or not it
      // can go on (a change point is never lost to a processor that just blocked or idled).
      if let r = running { priorities[r] = depth - 2 - nextChange }
      nextChange += 1
    }
    var best = 0
    var bestPriority = priorities[alternatives.processor(at: 0)]
    for k in 1..<alternatives.count {
      let priority = priorities[alternatives.processor(at: k)]
      if priority > bestPriority {
        best = k
        bestPriority = priority
      }
    }
    running = alternatives.processor(at: best)
    return ScheduleRank.rank(ofPosition: best, current: current)
  }

  public func choose(_ kind: ChoiceKind, count: Int) -> Int { count > 1 ? rng.below(count) : 0 }
}
