/// The source of the simulated platform's scheduling decisions (random walk, PCT, bounded
/// search, replay). Called only by the thread holding the simulator's baton, so
/// implementations need no locks; the platform records every decision with two or more
/// alternatives. Both methods are called for forced decisions too (one alternative), so a
/// strategy may count steps; they must then return 0.
public protocol SchedulingStrategy: AnyObject {
  /// Whether pollers (processors spinning on a condition) compete with runnable processors.
  /// When false they run only when no processor is runnable.
  var pollersCompete: Bool { get }
  /// Whether every StorPort service call is a scheduling point (the explorer's granularity:
  /// a race whose window holds only service calls can be interleaved). Plain simulated runs
  /// keep the coarser points (locks, DPC queueing, interlocked operations, callback entry and
  /// exit, work), which cost a third fewer decisions per I/O.
  var pointsAtServiceCalls: Bool { get }
  /// Whether `choose` may answer a placement with anything but rank 0 (the runtime's own
  /// placement); when false the runtime does not ask.
  var variesPlacements: Bool { get }
  /// Which processor runs next: a rank among `alternatives` (0: keep `current`, the position
  /// of the processor that reached the point when it is an alternative; else position 0).
  func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int
  /// Any other decision (a placement, which poller looks): a rank in `0..<count`, where rank 0
  /// is what the runtime does without a strategy.
  func choose(_ kind: ChoiceKind, count: Int) -> Int
}

extension SchedulingStrategy {
  public var pointsAtServiceCalls: Bool { true }
  public var variesPlacements: Bool { true }
}

/// The processors a `.processor` decision chooses among, in *position* order: the runnable
/// processors in index order, then the competing pollers in index order.
public struct ProcessorAlternatives: Sendable {
  /// Bit i set: processor i is runnable.
  public let runnable: UInt64
  /// Bit i set: processor i polls and competes (only when the strategy lets pollers compete).
  public let pollers: UInt64
  /// How many alternatives there are (counted once: a population count is not one instruction
  /// on the baseline x86-64 this builds for).
  public let count: Int
  /// How many of them are runnable.
  private let runnableCount: Int

  @inline(__always)
  public init(runnable: UInt64, pollers: UInt64) {
    assert(runnable & pollers == 0, "bug in swift-storport: a processor both runnable and polling")
    self.runnable = runnable
    self.pollers = pollers
    runnableCount = runnable.nonzeroBitCount
    count = pollers == 0 ? runnableCount : runnableCount + pollers.nonzeroBitCount
  }

  /// The processor at `position` (`0..<count`).
  @inline(__always)
  public func processor(at position: Int) -> Int {
    position < runnableCount
      ? Self.bit(position, of: runnable) : Self.bit(position - runnableCount, of: pollers)
  }

  /// The position of processor `p`, if it is an alternative.
  @inline(__always)
  public func position(of p: Int) -> Int? {
    let bit: UInt64 = 1 << UInt64(p)
    if runnable & bit != 0 { return (runnable & (bit &- 1)).nonzeroBitCount }
    if pollers & bit != 0 { return runnableCount + (pollers & (bit &- 1)).nonzeroBitCount }
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
