import Storport

/// Shrinks a failing schedule while the same failure (kind and rule) still happens: first
/// fewer preemptions, then fewer departures from the default of any kind (each non-default
/// choice in turn replaced by the default), then fewer decisions (the shortest prefix,
/// followed by defaults, that still fails). Every candidate is a real run;
/// what is kept is the recorded schedule of the run that failed.
enum Shrinker {
  /// At most this many runs are spent shrinking one schedule.
  static let budget = 400

  static func shrink(
    _ harness: ExplorationHarness, _ failing: ScheduleRun, pollersCompete: Bool, maxSteps: UInt64,
    raceDetection: Bool
  ) -> (ScheduleRun, runs: Int) {
    guard let target = failing.primary?.signature else { return (failing, 0) }
    var best = failing
    var runs = 0
    func attempt(_ ranks: [UInt16]) -> ScheduleRun? {
      guard runs < budget else { return nil }
      runs += 1
      let run = ScheduleRunner.run(
        harness, strategy: BoundedSearchStrategy(prefix: ranks, pollersCompete: pollersCompete),
        maxSteps: maxSteps, raceDetection: raceDetection)
      return run.primary?.signature == target ? run : nil
    }
    func smaller(_ a: ScheduleRun, than b: ScheduleRun) -> Bool {
      (a.preemptions, a.departures, a.decisions.count) < (b.preemptions, b.departures, b.decisions.count)
    }
    var changed = true
    while changed && runs < budget {
      changed = false
      // 1. Drop switches one at a time, last first (later ones depend on earlier ones).
      var i = best.decisions.count - 1
      while i >= 0 && runs < budget {
        if i < best.decisions.count && best.decisions[i].rank != 0 {
          var ranks = best.decisions.map(\.rank)
          ranks[i] = 0
          if let run = attempt(ranks), smaller(run, than: best) {
            best = run
            changed = true
          }
        }
        i -= 1
      }
      // 2. The shortest prefix that still fails, defaults afterwards (binary search: a
      // heuristic, as failing is not monotone in the prefix length).
      var lo = 0
      var hi = best.decisions.count
      var found: ScheduleRun?
      while lo < hi && runs < budget {
        let mid = (lo + hi) / 2
        if let run = attempt(best.decisions[..<mid].map(\.rank)) {
          hi = mid
          found = run
        } else {
          lo = mid + 1
        }
      }
      if let found, smaller(found, than: best) {
        best = found
        changed = true
      }
    }
    return (best, runs)
  }
}
