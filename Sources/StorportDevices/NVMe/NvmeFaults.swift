/// Device latency model: the time an I/O command spends in the device (admin commands take
/// none).
public enum LatencyModel: Sendable, Equatable {
  /// Every I/O command takes exactly this long (0: the device works inline at the doorbell).
  case fixed(nanoseconds: UInt64)
  /// Uniform between the bounds (seeded).
  case uniform(min: UInt64, max: UInt64)

  /// The longest a command takes, in nanoseconds.
  public var maximumNanoseconds: UInt64 {
    switch self {
    case .fixed(let n): return n
    case .uniform(_, let max): return max
    }
  }
}

/// Faults the emulated controller injects, each with a probability per command (in parts per
/// million, seeded, so a simulated run reproduces exactly).
public struct NvmeFaults: Sendable, Equatable {
  /// The command runs but its completion entry is never posted.
  public var dropCompletionPpm: UInt32 = 0
  /// The completion is posted but its interrupt comes `delayInterruptNanoseconds` late.
  public var delayInterruptPpm: UInt32 = 0
  public var delayInterruptNanoseconds: UInt64 = 2_000_000
  /// An extra interrupt with no new completion.
  public var spuriousInterruptPpm: UInt32 = 0
  /// The command never runs and never completes (until a reset).
  public var stuckCommandPpm: UInt32 = 0
  /// The controller fails (CSTS.CFS) on a command; everything stops until a reset.
  public var fatalStatusPpm: UInt32 = 0
  /// Extra time before CSTS.RDY rises after CC.EN (slow start-up).
  public var slowStartNanoseconds: UInt64 = 0

  public init() {}

  public static let none = NvmeFaults()

  /// One fault type at the given rate (for tests and `--fault`).
  public static func only(_ name: String, ppm: UInt32) -> NvmeFaults? {
    var f = NvmeFaults()
    switch name {
    case "drop-completion": f.dropCompletionPpm = ppm
    case "delay-interrupt": f.delayInterruptPpm = ppm
    case "spurious-interrupt": f.spuriousInterruptPpm = ppm
    case "stuck-command": f.stuckCommandPpm = ppm
    case "fatal": f.fatalStatusPpm = ppm
    case "slow-start": f.slowStartNanoseconds = UInt64(ppm) * 1000
    default: return nil
    }
    return f
  }

  /// Both sets of faults at once: the higher rate of each, the longer slow start.
  public func merging(_ other: NvmeFaults) -> NvmeFaults {
    var f = self
    f.dropCompletionPpm = max(f.dropCompletionPpm, other.dropCompletionPpm)
    f.delayInterruptPpm = max(f.delayInterruptPpm, other.delayInterruptPpm)
    f.spuriousInterruptPpm = max(f.spuriousInterruptPpm, other.spuriousInterruptPpm)
    f.stuckCommandPpm = max(f.stuckCommandPpm, other.stuckCommandPpm)
    f.fatalStatusPpm = max(f.fatalStatusPpm, other.fatalStatusPpm)
    f.slowStartNanoseconds = max(f.slowStartNanoseconds, other.slowStartNanoseconds)
    return f
  }

  public static let names = [
    "drop-completion", "delay-interrupt", "spurious-interrupt", "stuck-command", "fatal", "slow-start",
  ]
}
