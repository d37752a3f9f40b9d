import Storport

/// How the explorer chooses schedules.
public enum ExplorationStrategy: Sendable, Equatable, CustomStringConvertible {
  /// Seeded random walk (switch with `switchPercent` % chance at each point, random placements).
  case random(switchPercent: Int)
  /// PCT with bug depth `depth` (d − 1 priority change points).
  case pct(depth: Int)
  /// Bounded exhaustive search: every schedule that departs from the default (a preemption,
  /// another placement, a later timer) at most `preemptions` times.
  case dfs(preemptions: Int)

  public var name: String {
    switch self {
    case .random: return "random"
    case .pct: return "pct"
    case .dfs: return "dfs"
    }
  }

  public var description: String {
    switch self {
    case .random(let s): return "random (switch \(s) %)"
    case .pct(let d): return "pct (depth \(d))"
    case .dfs(let k): return "dfs (at most \(k) departures from the default schedule)"
    }
  }

  /// Whether schedules are independent (split across jobs and shards).
  public var isIndependentPerSchedule: Bool {
    if case .dfs = self { return false }
    return true
  }
}

/// What to explore and how.
public struct ExplorationOptions: Sendable {
  public var strategy: ExplorationStrategy
  /// Schedules to run at most (DFS: stops earlier when the bounded space is exhausted).
  public var schedules: Int
  /// The base seed; schedule i runs with a seed derived from it and i.
  public var seed: UInt64
  /// Decisions after which a schedule fails as a livelock.
  public var maxSteps: UInt64
  /// This run's share of the schedules: those with `index % count == shard.index`.
  public var shard: (index: Int, count: Int)
  /// Worker threads running schedules side by side (independent strategies only).
  public var jobs: Int
  /// Replay every failing schedule and compare trace hashes (uncontrolled nondeterminism).
  public var selfCheck: Bool
  /// Shrink the failing schedule.
  public var shrink: Bool
  /// Check ``Tracked`` state for data races (off: look only for the other failures, e.g. the
  /// double completion a race leads to).
  public var raceDetection: Bool

  public init(
    strategy: ExplorationStrategy, schedules: Int, seed: UInt64 = 1, maxSteps: UInt64 = 10_000,
    shard: (index: Int, count: Int) = (0, 1), jobs: Int = 1, selfCheck: Bool = true, shrink: Bool = true,
    raceDetection: Bool = true
  ) {
    self.raceDetection = raceDetection
    self.strategy = strategy
    self.schedules = schedules
    self.seed = seed
    self.maxSteps = maxSteps
    self.shard = shard
    self.jobs = jobs
    self.selfCheck = selfCheck
    self.shrink = shrink
  }
}

/// Live figures for a progress line.
public struct ExplorationProgress: Sendable {
  public let schedules: Int
  public let decisions: UInt64
  public let distinctSchedules: Int
  public let elapsedNanoseconds: UInt64
}

/// A failure the explorer found, with what it takes to see and reproduce it.
public struct FoundFailure: Sendable {
  /// The schedule's index in the exploration (its seed derives from it).
  public let scheduleIndex: Int
  /// The run as first found.
  public let original: ScheduleRun
  /// The shrunk run (equal to `original` when shrinking is off or found nothing smaller).
  public let shrunk: ScheduleRun
  /// Runs shrinking took.
  public let shrinkRuns: Int
  /// The self-check: whether replaying the shrunk schedule reproduced its trace exactly
  /// (nil: not checked).
  public let replayReproduced: Bool?
}

/// The outcome of an exploration (one shard of it, or all).
public struct ExplorationResult: Sendable {
  public let harness: String
  public let strategy: ExplorationStrategy
  public let seed: UInt64
  public let shard: (index: Int, count: Int)
  public let maxSteps: UInt64
  /// The `--schedules` budget.
  public let schedulesBudget: Int
  /// Schedules run (not counting self-check and shrinking runs).
  public let schedulesRun: Int
  /// Decisions taken over those schedules (forced ones included).
  public let decisions: UInt64
  /// Hashes of the distinct decision lists seen.
  public let scheduleHashes: Set<UInt64>
  /// DFS: the bounded space was exhausted.
  public let exhausted: Bool
  public let elapsedNanoseconds: UInt64
  /// The PCT run length k used (0 for other strategies).
  public let pctSteps: Int
  /// Whether the race detector ran.
  public let raceDetection: Bool
  public let failure: FoundFailure?

  public var distinctSchedules: Int { scheduleHashes.count }
}
