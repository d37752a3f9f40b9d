import Storport
import StorportSamples
import Testing

/// A started simulated runtime with one scripted adapter: the fixture of most conformance
/// tests. Everything runs in virtual time and is deterministic for the seed.
final class SimHarness: @unchecked Sendable {
  let runtime: StorportRuntime
  let miniport: ScriptedMiniport
  var adapter: StorPort!
  var sim: SimulatedPlatform { runtime.simulation! }

  init(
    seed: UInt64 = 1, processors: Int = 2, policy: ViolationPolicy = .recordAndContinue,
    timerResolution: TimerResolution = .host, extendedTimerLimit: Int? = nil,
    isVirtual: Bool = false, hasBuildIo: Bool = false,
    configure: (ScriptedMiniport) -> Void = { _ in }
  ) {
    runtime = StorportRuntime(
      platform: SimulatedPlatform(processors: processors, seed: seed),
      verifier: .checked(onViolation: policy), trace: .full, timerResolution: timerResolution,
      extendedTimerLimit: extendedTimerLimit)
    miniport = ScriptedMiniport(isVirtual: isVirtual, hasBuildIo: hasBuildIo)
    configure(miniport)
    adapter = runtime.attach(miniport)
    runtime.start()
  }

  deinit { runtime.shutdown() }

  var ext: ScriptedExtension { adapter.deviceExtension(as: ScriptedExtension.self) }

  /// Starts the adapter and runs until it is running (or fails).
  @discardableResult
  func startAdapter() -> AdapterState {
    adapter.start()
    runtime.runUntil { [adapter] in adapter!.state != .starting && adapter!.state != .attached }
    return adapter.state
  }

  /// Runs `body` on a processor at DISPATCH (port work) and lets the simulation settle.
  func onProcessor(_ cpu: Int = 0, _ body: @escaping @Sendable () -> Void) {
    adapter.runOnProcessor(cpu, body)
    runtime.runUntil(timeoutNanoseconds: 1_000_000) { false }
  }

  func run(ms: UInt64) { runtime.run(forMilliseconds: ms) }
  func run(us: UInt64) { runtime.run(forNanoseconds: us * 1000) }

  var violations: [VerifierViolation] { runtime.verifier.violations }
  var reports: [VerifierViolation] { runtime.verifier.reportsSoFar }
  func rules() -> [VerifierRule] { reports.map(\.rule) }
  var now: UInt64 { runtime.now }
}
