/// How timer expiries are rounded (D11).
public enum TimerResolution: Sendable, Equatable {
  /// The host's own resolution: no artificial rounding.
  case host
  /// Windows-style clock ticks: expiries round up to a multiple of the tick
  /// (15.625 ms by default, as Windows' default clock interrupt).
  case tick(nanoseconds: UInt64)

  public static let windowsDefaultTick = TimerResolution.tick(nanoseconds: 15_625_000)

  /// The first allowed expiry time at or after `deadline`.
  func roundUp(_ deadline: UInt64) -> UInt64 {
    switch self {
    case .host: return deadline
    case .tick(let t):
      guard t > 1 else { return deadline }
      let r = deadline % t
      return r == 0 ? deadline : deadline &+ (t - r)
    }
  }
}
