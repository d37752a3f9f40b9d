/// How long checked mode lets a callback, or a processor's run of DPC-level work, hold a
/// processor at DISPATCH_LEVEL or above — Windows' DPC watchdog (bug check 0x133) — and how long
/// shutdown waits for a processor stuck in a callback. Platform time, nanoseconds.
///
/// Windows' own watchdog allows about 20 s for one DPC and 120 s in all; a driver anywhere near
/// those is long broken, so swift-storport reports far earlier. Virtual time on the simulated
/// platform is exact; the live platform measures wall time, which the host's scheduler can
/// stretch, so its defaults are looser.
public struct WatchdogLimits: Sendable, Equatable {
  /// One callback entered at DISPATCH_LEVEL or above (CALLBACK_TIMEOUT).
  public var callback: UInt64
  /// Interrupt- and DPC-level work back to back without the DPC queue draining
  /// (DISPATCH_WATCHDOG).
  public var dispatch: UInt64
  /// How long `shutdown()` lets processors finish before abandoning those still inside a
  /// callback (CALLBACK_STUCK).
  public var shutdownGrace: UInt64

  public init(callback: UInt64, dispatch: UInt64, shutdownGrace: UInt64) {
    precondition(callback > 0 && dispatch > 0 && shutdownGrace > 0, "watchdog limits must be positive")
    self.callback = callback
    self.dispatch = dispatch
    self.shutdownGrace = shutdownGrace
  }

  /// Simulated platform: 100 ms per callback, 1 s at DISPATCH, 100 ms of virtual time to shut
  /// down (a processor spinning in a callback spends it 100 ns per scheduling point).
  public static let simulated = WatchdogLimits(
    callback: 100_000_000, dispatch: 1_000_000_000, shutdownGrace: 100_000_000)
  /// Live platform: 2 s per callback, 20 s at DISPATCH, 2 s to shut down.
  public static let live = WatchdogLimits(
    callback: 2_000_000_000, dispatch: 20_000_000_000, shutdownGrace: 2_000_000_000)
}
