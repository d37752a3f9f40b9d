import Storport
import StorportExplorer

/// The harnesses `storport explore` knows by name: each seeded-bug fixture with its fixed
/// twin, and the sample miniports with a small workload.
public enum BuiltInHarnesses {
  /// Every built-in harness, in listing order.
  public static let all: [ExplorationHarness] = [
    watchdogSlot(
      "timer-startio-race",
      "HW_TIMER hazard: concurrent channels; HwStorTimer and HwStorStartIo share an outstanding-request slot as plain state",
      expectsFailure: true
    ) { RacyWatchdogMiniport(periodMicroseconds: 1, ticks: 8) },
    watchdogSlot(
      "timer-startio-race-fixed",
      "the same miniport claiming the slot with InterlockedCompareExchange",
      expectsFailure: false
    ) { WatchdogSlotMiniport(periodMicroseconds: 1, ticks: 8) },
  ]

  /// The harness called `name`, if there is one.
  public static func named(_ name: String) -> ExplorationHarness? { all.first { $0.name == name } }

  /// Two requests, one after the other, while the watchdog ticks (eight times, every
  /// microsecond) on the other processor: about 50 decisions.
  static func watchdogSlot<M: WatchdogSlotDesign>(
    _ name: String, _ summary: String, expectsFailure: Bool, _ make: @escaping @Sendable () -> M
  ) -> ExplorationHarness {
    ExplorationHarness(name: name, summary: summary, processors: 2, expectsFailure: expectsFailure) { run in
      let adapter = run.attach(make())
      guard run.startAdapter(adapter) else { return }
      for i in 0..<2 {
        run.submit(StorRequest(tag: UInt64(i)), to: adapter)
        run.runUntilCompleted(limit: 1_000_000)
      }
      run.runUntilQuiescent(limit: 1_000_000)
    }
  }
}
