import Storport

/// Bounded exhaustive search (after CHESS's iterative context bounding, Musuvathi & Qadeer,
/// PLDI 2007, counting as delay bounding does), by stateless re-execution: each run follows a
/// prefix of ranks and then the default (rank 0: keep the running processor, the runtime's own
/// placement, the timer on time); after the run, ``nextPrefix(after:bound:)`` gives the
/// prefix of the next schedule in depth-first order, until every schedule that departs from
/// the default at most `bound` times has run. A departure is any non-default choice: a
/// preemption, a switch where the running processor could not go on, another processor for a
/// request, a DPC or an interrupt, a later timer expiry. (Counting only preemptions leaves the
/// placements free, and their product — four expiry points per timer arm, two processors per
/// DPC — makes even a 50-step harness's space too large to exhaust.)
public final class BoundedSearchStrategy: SchedulingStrategy {
  /// The ranks this run follows before taking defaults.
  public let prefix: [UInt16]
  private var position = 0
  public let pollersCompete: Bool

  /// - Parameters:
  ///   - prefix: the ranks to follow, one per decision with two or more alternatives.
  ///   - pollersCompete: as the schedule being followed had it (false for the search itself).
  public init(prefix: [UInt16], pollersCompete: Bool = false) {
    self.prefix = prefix
    self.pollersCompete = pollersCompete
  }

  public func chooseProcessor(_ alternatives: ProcessorAlternatives, current: Int?) -> Int {
    next(count: alternatives.count)
  }

  public func choose(_ kind: ChoiceKind, count: Int) -> Int { next(count: count) }

  private func next(count: Int) -> Int {
    guard count > 1 else { return 0 }
    defer { position += 1 }
    guard position < prefix.count else { return 0 }
    // A prefix rank the run no longer offers (it cannot happen in a deterministic run) is
    // clamped rather than trapped on; replay's self-check reports such runs.
    return min(Int(prefix[position]), count - 1)
  }

  /// The prefix of the next schedule after a run that recorded `schedule`, or nil when every
  /// schedule within the bound has been run. Depth first: the deepest decision that still has
  /// an untried alternative within the bound is advanced and everything after it dropped.
  public static func nextPrefix(after schedule: [ScheduleDecision], bound: Int) -> [UInt16]? {
    var departuresBefore = [Int](repeating: 0, count: schedule.count + 1)
    for (i, d) in schedule.enumerated() {
      departuresBefore[i + 1] = departuresBefore[i] + (d.rank != 0 ? 1 : 0)
    }
    var i = schedule.count - 1
    while i >= 0 {
      let d = schedule[i]
      // Advancing rank r to r + 1 ≥ 1 makes this decision a departure.
      if Int(d.rank) + 1 < Int(d.count) && departuresBefore[i] + 1 <= bound {
        return schedule[..<i].map(\.rank) + [d.rank + 1]
      }
      i -= 1
    }
    return nil
  }
}
