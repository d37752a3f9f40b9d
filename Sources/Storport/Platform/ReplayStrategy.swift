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
