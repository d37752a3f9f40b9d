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
