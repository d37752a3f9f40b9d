import Storport
import StorportSamples
import StorportTesting
import Testing

/// A started simulated runtime with one scripted adapter: the fixture of most conformance
/// tests. Everything runs in virtual time and is deterministic for the seed.
final class SimHarness: @unchecked Sendable {
  let runtime: StorportRuntime
  let miniport: ScriptedMiniport
  var adapter: Adapter!
  var sim: SimulatedPlatform { runtime.simulation! }

  init(
    seed: UInt64 = 1, processors: Int = 2, policy: ViolationPolicy = .recordAndContinue,
    verifier: VerifierMode? = nil,
    timerResolution: TimerResolution = .host, extendedTimerLimit: Int? = nil,
    isVirtual: Bool = false, hasBuildIo: Bool = false, watchdog: WatchdogLimits? = nil,
    configure: (ScriptedMiniport) -> Void = { _ in },
    attach custom: ((StorportRuntime) -> Adapter)? = nil
  ) {
    runtime = StorportRuntime(
      platform: SimulatedPlatform(processors: processors, seed: seed),
      verifier: verifier ?? .checked(onViolation: policy), trace: .full, timerResolution: timerResolution,
      extendedTimerLimit: extendedTimerLimit, watchdog: watchdog)
    miniport = ScriptedMiniport(isVirtual: isVirtual, hasBuildIo: hasBuildIo)
    configure(miniport)
    // A test of another miniport (a C one) attaches it instead of the scripted one.
    adapter = custom?(runtime) ?? runtime.attach(miniport)
    runtime.start()
  }

  private var abandoned = false
  /// Whether the test looked at the verifier's reports (`rules()`, `reports`, `violations`).
  private var reportsExamined = false

  /// A test that never looks at the reports expects none: any report it did not examine fails
  /// it, so a verifier finding can never pass unnoticed.
  deinit {
    if !abandoned { runtime.shutdown() }
    if !reportsExamined {
      for r in runtime.verifier.reportsSoFar {
        Issue.record("unexpected verifier report \(r.rule.rawValue): \(r.message)")
      }
    }
  }

  /// A deadlocked simulation cannot be shut down (its processors wait forever): keep its
  /// objects alive and leave it.
  func abandon() {
    abandoned = true
    runtime.keepForever()
  }

  var ext: ScriptedExtension { adapter.deviceExtension(as: ScriptedExtension.self) }

  /// Starts the adapter and runs until it is running; a test that needs a running adapter
  /// fails here if it did not get one.
  @discardableResult
  func startAdapter(
    expecting expected: AdapterState = .running, sourceLocation: SourceLocation = #_sourceLocation
  )
    -> AdapterState
  {
    adapter.start()
    runtime.runUntil { [adapter] in adapter!.state != .starting && adapter!.state != .attached }
    #expect(adapter.state == expected, "the adapter did not start", sourceLocation: sourceLocation)
    return adapter.state
  }

  /// Runs `body` on a processor at DISPATCH (port work) and lets the simulation settle.
  func onProcessor(_ cpu: Int = 0, settle: UInt64 = 1_000_000, _ body: @escaping @Sendable () -> Void) {
    adapter.runOnProcessor(cpu, body)
    runtime.runUntil(timeoutNanoseconds: settle) { false }
  }

  func run(ms: UInt64) { runtime.run(forMilliseconds: ms) }
  func run(us: UInt64) { runtime.run(forNanoseconds: us * 1000) }

  var violations: [VerifierViolation] {
    reportsExamined = true
    return runtime.verifier.violations
  }
  var reports: [VerifierViolation] {
    reportsExamined = true
    return runtime.verifier.reportsSoFar
  }
  func rules() -> [VerifierRule] { reports.map(\.rule) }
  var now: UInt64 { runtime.now }
}

/// A mutable box that scripted callbacks read (set it before the code runs).
final class Box<T>: @unchecked Sendable {
  var value: T
  init(_ value: T) { self.value = value }
}

/// Counts concurrent occupancy of a region; `maxInside` > 1 means two executions overlapped.
final class OverlapProbe: @unchecked Sendable {
  let inside = InterlockedValue()
  let maxSeen = InterlockedValue()
  func enter() {
    let now = inside.increment()
    var seen = maxSeen.load()
    while now > seen {
      let prior = maxSeen.compareExchange(exchange: now, comparand: seen)
      if prior == seen { break }
      seen = prior
    }
  }
  func leave() { inside.decrement() }
  var overlapped: Bool { maxSeen.load() > 1 }
}

extension SimHarness {
  /// Installs `body` as the DPC routine of `ext.dpc` (initialised in HwStorInitialize).
  static func dpcRoutine(
    _ name: String = "TestDpc", _ body: Box<(StorDpc, ScriptedExtension, UInt, UInt) -> Bool>
  ) -> HwDpcRoutine<ScriptedExtension> {
    HwDpcRoutine(name) { dpc, ext, a, b in body.value(dpc, ext, a, b) }
  }

  /// Runs `body` inside a HwStorDpcRoutine on processor `cpu`, then settles; the test fails if
  /// the body did not run (a helper that silently did nothing would prove nothing).
  func inDpc(
    cpu: Int = 0, settle: UInt64 = 1_000_000, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: @escaping @Sendable (ScriptedExtension) -> Void
  ) {
    let ran = InterlockedValue()
    let routine = HwDpcRoutine<ScriptedExtension>("ProbeDpc") { _, ext, _, _ in
      body(ext)
      ran.increment()
      return true
    }
    let probe = StorDpc()
    onProcessor(cpu, settle: settle) { [ext] in
      ext.port.initializeDpc(probe, routine)
      ext.port.issueDpc(probe)
    }
    #expect(ran.load() == 1, "the DPC body did not run", sourceLocation: sourceLocation)
  }

  /// Runs `body` inside HwStorInterrupt (line interrupt, processor 0), then settles; fails the
  /// test if it did not run.
  func inIsr(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping @Sendable (ScriptedExtension) -> Void
  ) {
    let ran = InterlockedValue()
    miniport.onInterrupt = { ext in
      body(ext)
      ran.increment()
      return true
    }
    adapter.device.raiseInterrupt()
    runtime.runUntil(timeoutNanoseconds: 1_000_000) { false }
    #expect(ran.load() == 1, "the ISR body did not run", sourceLocation: sourceLocation)
  }

  /// Runs `body` inside HwStorTimer (armed for 10 µs from port work), then settles; fails the
  /// test if it did not run.
  func inTimer(
    sourceLocation: SourceLocation = #_sourceLocation, _ body: @escaping @Sendable (ScriptedExtension) -> Void
  ) {
    let ran = InterlockedValue()
    let timer = HwTimer<ScriptedExtension>("ProbeTimer") { ext in
      body(ext)
      ran.increment()
    }
    onProcessor { [ext] in ext.port.requestTimerCall(timer, microseconds: 10) }
    runtime.runUntil(timeoutNanoseconds: 1_000_000) { false }
    #expect(ran.load() == 1, "the timer body did not run", sourceLocation: sourceLocation)
  }

  /// Submits `count` requests from the controller and runs until all completed.
  @discardableResult
  func submit(_ count: Int, timeoutMs: UInt64 = 1000) -> [StorRequest] {
    let done = InterlockedValue()
    let requests = (0..<count).map { StorRequest(tag: UInt64($0)) }
    for r in requests { adapter.submit(r) { _ in done.increment() } }
    runtime.runUntil(timeoutNanoseconds: timeoutMs * 1_000_000) { done.load() == Int64(count) }
    // Completion fires inside the miniport's callback: let that callback return.
    runtime.runUntil(timeoutNanoseconds: 50_000) { false }
    return requests
  }

  /// From port work: initialises `ext.dpc` with a routine noting "dpc", issues it, and arms
  /// the adapter timer (10 µs) with a routine noting "timer" — what D14 expects to keep
  /// running while I/O is held.
  func issueDpcAndTimer(noting ran: Observations<String>, after body: @escaping @Sendable (StorPort) -> Void)
  {
    onProcessor { [ext] in
      body(ext.port)
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("D") { _, _, _, _ in
          ran.append("dpc")
          return true
        })
      ext.port.issueDpc(ext.dpc)
      ext.port.requestTimerCall(
        HwTimer<ScriptedExtension>("T") { _ in ran.append("timer") }, microseconds: 10)
    }
  }

  /// Issues `ext.dpc` on processor 1 from port work that then stalls 4.5 ms at DISPATCH, so the
  /// DPC stays queued meanwhile; returns whether StorPortIssueDpc queued it.
  func issueDpcAndHoldItQueued() -> Bool {
    let issued = Box(false)
    adapter.runOnProcessor(1) { [ext] in
      issued.value = ext.port.issueDpc(ext.dpc)
      for _ in 0..<5 { ext.port.stallExecution(microseconds: 900) }
    }
    run(us: 10)
    return issued.value
  }

  /// Initialises `ext.dpc` with a routine that issues itself again, forever, and issues it.
  func issueEndlessDpc() {
    onProcessor { [ext] in
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("Again") { dpc, ext, _, _ in
          ext.port.issueDpc(dpc)
          return true
        })
      ext.port.issueDpc(ext.dpc)
    }
  }

  /// Trace events of one kind.
  func events(_ kind: TraceKind) -> [TraceEvent] {
    runtime.tracer.events().filter { $0.kind == kind }
  }
}

/// Tries seeds 1...limit until `found(seed)` is true; returns the seed or nil.
func firstSeed(upTo limit: UInt64 = 40, _ found: (UInt64) -> Bool) -> UInt64? {
  (1...limit).first(where: found)
}
