import CStorportShim
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// How an idle live processor waits for work.
public enum IdlePolicy: Sendable, Equatable {
  /// Spin for the given time, then park on a futex until woken.
  case spinThenPark(spinNanoseconds: UInt64)
  /// Never park: spin with a pause instruction (lowest latency, burns a core).
  case poll

  public static let `default` = IdlePolicy.spinThenPark(spinNanoseconds: 50_000)
}

/// The live platform: one OS thread per simulated processor (a parked one may be lent to a
/// host thread that runs its work meanwhile, ``lend(_:)``), CLOCK_MONOTONIC, parking on a
/// futex, and a timer thread with 1 ns timer slack that sleeps on a futex with an absolute
/// deadline and spins the last stretch, so timers are never early and rarely late by more than
/// the wake-up latency of the processor that runs them.
public final class LivePlatform: Platform, @unchecked Sendable {
  public let processorCount: Int
  public let idlePolicy: IdlePolicy
  public var isSimulated: Bool { false }
  public var runsOneThreadAtATime: Bool { false }
  public var isStopping: Bool { stopping.load(ordering: .acquiring) }
  public let timerResolutionNanoseconds: UInt64

  /// Time before a deadline at which the timer thread stops sleeping and spins.
  let timerSpinMargin: UInt64 = 40_000

  private let stopping = Atomic<Bool>(false)
  /// Word i (i < processorCount): processor i's parking state, one of the `Parking` values.
  /// Last word: timer thread.
  private let words: AlignedWords
  private var timerWord: UnsafeMutablePointer<UInt32> { words[processorCount] }
  private let timers = Locked(TimerHeap())
  /// Earliest armed deadline (UInt64.max when none): lets processors poll cheaply.
  private let nextDeadline = Atomic<UInt64>(UInt64.max)
  private var threads: [pthread_t] = []
  private var timerThread: pthread_t?
  /// Set in `start` before any processor thread exists; cleared in `stop` after they are joined.
  private var currentClient: PlatformClient?

  /// - Parameters:
  ///   - processors: number of simulated processors (default: the host's core count).
  ///   - idlePolicy: spin-then-park (default) or pure polling.
  /// Most simulated processors a platform runs (the per-processor masks are 64 bits wide).
  public static let maximumProcessors = 64

  /// The default processor count: the host's online cores, at most ``maximumProcessors``.
  public static var defaultProcessorCount: Int {
    defaultProcessorCount(hostCores: Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
  }

  /// The default processor count on a host with `hostCores` online cores.
  public static func defaultProcessorCount(hostCores: Int) -> Int {
    max(1, min(hostCores, maximumProcessors))
  }

  /// - Parameter processors: 1…64 (callers validate user input first); nil: ``defaultProcessorCount``.
  public init(processors: Int? = nil, idlePolicy: IdlePolicy = .default) {
    let n = processors ?? Self.defaultProcessorCount
    precondition(
      n >= 1 && n <= Self.maximumProcessors, "bug in swift-storport: processor count must be 1...64")
    processorCount = n
    self.idlePolicy = idlePolicy
    words = AlignedWords(count: n + 1)
    timerResolutionNanoseconds = max(1, storport_monotonic_resolution_ns())
  }

  @inline(__always)
  public func now() -> PlatformTime { PlatformTime(nanoseconds: storport_monotonic_ns()) }
  public func coarseNow() -> PlatformTime { PlatformTime(nanoseconds: storport_monotonic_coarse_ns()) }

  /// The raw clock, for the platform's own loops.
  @inline(__always)
  private var clock: UInt64 { storport_monotonic_ns() }

  public func start(_ client: PlatformClient) {
    precondition(threads.isEmpty, "LivePlatform.start called twice")
    currentClient = client
    timerThread = PlatformThread.start(name: "storport-timer") { [self] in timerLoop() }
    for i in 0..<processorCount {
      threads.append(
        PlatformThread.start(name: "storport-cpu\(i)") {
          _ = storport_set_timer_slack(1)
          client.runProcessor(i)
        })
    }
  }

  public func stop() {
    guard !stopping.exchange(true, ordering: .acquiringAndReleasing) else { return }
    for i in 0..<processorCount { wake(i) }
    storport_store_release(timerWord, storport_load_relaxed(timerWord) &+ 1)
    _ = storport_futex_wake(timerWord, 1)
    // A processor inside a callback that never returns cannot be joined: after the grace
    // period it is reported to the client and left running (detached); stop always returns.
    let grace = currentClient?.shutdownGraceNanoseconds ?? 1_000_000_000
    let deadline = HostClock.monotonicNanoseconds &+ grace
    for (i, t) in threads.enumerated() {
      let left = deadline > HostClock.monotonicNanoseconds ? deadline - HostClock.monotonicNanoseconds : 1
      if !PlatformThread.join(t, within: left) { currentClient?.processorAbandoned(i) }
    }
    if let t = timerThread { PlatformThread.join(t) }
    threads.removeAll()
    timerThread = nil
    currentClient = nil
  }

  /// A processor's parking word. Its thread moves it `running` ⇄ `parked`; a host thread
  /// moves it `parked` → `lent` (``lend(_:)``) and back (``endLoan(_:)``); `wake` moves
  /// `parked` → `running` (waking the thread) and `lent` → `lentWakeOwed` (the thread is woken
  /// when the loan ends, never during it: one thread runs a processor at a time).
  private enum Parking {
    static let running: UInt32 = 0
    static let parked: UInt32 = 1
    static let lent: UInt32 = 2
    static let lentWakeOwed: UInt32 = 3
  }

  @inline(__always)
  public func wake(_ p: Int) {
    let w = words[p]
    // A read-modify-write, not a load: ordered after the work the caller queued, as the
    // parking thread's exchange is before its last look for work — with a plain load each
    // side could miss the other's store (store buffering) and the work sit with nobody awake.
    var word = storport_fetch_or(w, 0)
    while true {
      switch word {
      case Parking.parked:
        if storport_cas(w, Parking.parked, Parking.running) {
          _ = storport_futex_wake(w, 1)
          return
        }
      case Parking.lent:
        if storport_cas(w, Parking.lent, Parking.lentWakeOwed) { return }
      default:
        return  // running (it looks for work before it parks), or lent with a wake-up owed
      }
      word = storport_load_acquire(w)
    }
  }

  /// Lends processor `p` when it is parked: the word goes `parked` → `lent`, and its thread,
  /// asleep on the word, stays asleep until ``endLoan(_:)``.
  public func lend(_ p: Int) -> Bool {
    precondition(p >= 0 && p < processorCount, "bug in swift-storport: no processor \(p) to lend")
    let w = words[p]
    return !isStopping && storport_load_relaxed(w) == Parking.parked
      && storport_cas(w, Parking.parked, Parking.lent)
  }

  public func endLoan(_ p: Int) {
    precondition(p >= 0 && p < processorCount, "bug in swift-storport: no processor \(p) to take back")
    let w = words[p]
    if storport_cas(w, Parking.lent, Parking.parked) { return }
    // A wake-up came during the loan: the processor's thread runs now.
    let was = storport_exchange(w, Parking.running)
    precondition(
      was == Parking.lentWakeOwed, "bug in swift-storport: processor \(p) was not lent (word \(was))")
    _ = storport_futex_wake(w, 1)
  }

  public func idle(_ p: Int, hasWork: () -> Bool) {
    // The client re-checks for work after we return; we only wait here.
    // Spinning looks for work after every pause (a pause is 10–140 cycles, so a batch of them
    // between looks would be the hand-off latency); the clock and the timers every 16th.
    switch idlePolicy {
    case .poll:
      for _ in 0..<64 {
        if hasWork() || isStopping { return }
        storport_cpu_relax()
      }
    case .spinThenPark(let spin):
      let until = clock &+ spin
      while true {
        for _ in 0..<16 {
          if hasWork() || isStopping { return }
          storport_cpu_relax()
        }
        if clock >= until { break }
        pollTimers()
      }
      // Parked from the exchange on (a full barrier: the look for work after it sees what a
      // poster queued before its `wake` found the word still `running`). Leaves only for
      // `running`: woken, or unparked here — never while lent to a host thread.
      let w = words[p]
      _ = storport_exchange(w, Parking.parked)
      while true {
        if hasWork() || isStopping, storport_cas(w, Parking.parked, Parking.running) { return }
        let word = storport_load_acquire(w)
        if word == Parking.running { return }
        _ = storport_futex_wait(w, word, 0)
      }
    }
  }

  @inline(__always)
  public func schedulingPoint(_ p: Int, _ point: SchedulingPoint) {}

  @inline(__always)
  public func wait(_ p: Int, on resource: ObjectIdentifier, attempt: Int) {
    storport_cpu_relax()
    // The holder may be a thread the kernel descheduled: give the core away now and then.
    if attempt & 4095 == 4095 { sched_yield() }
  }

  @inline(__always)
  public func signal(_ resource: ObjectIdentifier) {}

  public func poll(_ p: Int) {
    for _ in 0..<32 { storport_cpu_relax() }
  }

  public func stall(_ p: Int, nanoseconds: UInt64) {
    let until = clock &+ nanoseconds
    while clock < until { storport_cpu_relax() }
  }

  public func run(for nanoseconds: UInt64) -> SimulationOutcome {
    storport_sleep_until(clock &+ nanoseconds)
    return .timeLimit
  }

  /// Looks at `condition` at once, then after ``firstConditionPauseNanoseconds`` and at
  /// doubling pauses of at most ``longestConditionPauseNanoseconds``, until it holds (true) or
  /// `timeout` ns pass (false); never sleeps past the timeout. It may return up to one pause
  /// (and the host's timer slack) after the condition first holds, and a condition that holds
  /// only for a moment may be missed: pass one that stays true. The caller's thread is one more
  /// thread on the host's cores — polled every 50 µs it took a core from the processors 20,000
  /// times a second (docs/benchmarks.md, ninth pass).
  public func run(forAtMost timeout: UInt64, until condition: @escaping () -> Bool) -> Bool {
    let deadline = clock &+ timeout
    var pause = Self.firstConditionPauseNanoseconds
    while !condition() {
      let now = clock
      if now >= deadline { return false }
      storport_sleep_until(min(now &+ pause, deadline))
      pause = min(pause &* 2, Self.longestConditionPauseNanoseconds)
    }
    return true
  }

  /// The first pause of `run(forAtMost:until:)` between two looks at its condition, in ns.
  private static let firstConditionPauseNanoseconds: UInt64 = 50_000
  /// The longest pause of `run(forAtMost:until:)` between two looks at its condition, in ns.
  private static let longestConditionPauseNanoseconds: UInt64 = 2_000_000

  public func arm(
    deadline: PlatformTime, target: PlatformTimerTarget, cookie: UInt64, processor: ProcessorIndex?
  ) {
    let becameEarliest = timers.withLock { heap -> Bool in
      let before = heap.earliestDeadline
      heap.insert(deadline: deadline, target: target, cookie: cookie, processor: processor)
      nextDeadline.store(heap.earliestDeadline?.nanoseconds ?? UInt64.max, ordering: .releasing)
      return before.map { deadline < $0 } ?? true
    }
    if becameEarliest {
      storport_store_release(timerWord, storport_load_relaxed(timerWord) &+ 1)
      _ = storport_futex_wake(timerWord, 1)
    }
  }

  @inline(__always)
  public func pollTimers() {
    // No timer armed (the deadline is the maximum): no clock read either.
    let deadline = nextDeadline.load(ordering: .relaxed)
    if deadline != UInt64.max && clock >= deadline { fireDue(blocking: false) }
  }

  /// Pops and fires every due timer. Non-blocking callers skip when another thread is at it.
  private func fireDue(blocking: Bool) {
    while true {
      let t = now()
      let entry: TimerEntry?
      if blocking {
        entry = timers.withLock { heap in
          let e = heap.popDue(at: t)
          nextDeadline.store(heap.earliestDeadline?.nanoseconds ?? UInt64.max, ordering: .releasing)
          return e
        }
      } else {
        guard
          let e = timers.withLockIfAvailable({ heap in
            let e = heap.popDue(at: t)
            nextDeadline.store(heap.earliestDeadline?.nanoseconds ?? UInt64.max, ordering: .releasing)
            return e
          })
        else { return }
        entry = e
      }
      guard let entry else { return }
      entry.target.fire(cookie: entry.cookie)
    }
  }

  private func timerLoop() {
    _ = storport_set_timer_slack(1)
    raiseTimerThreadPriority()
    while !isStopping {
      let seen = storport_load_acquire(timerWord)
      fireDue(blocking: true)
      let t = clock
      let earliest = timers.withLock { $0.earliest }
      let next = earliest?.deadline.nanoseconds
      if let d = next, d <= t { continue }
      guard let deadline = next else {
        _ = storport_futex_wait(timerWord, seen, 0)
        continue
      }
      if deadline > t &+ timerSpinMargin {
        _ = storport_futex_wait(timerWord, seen, deadline &- timerSpinMargin)
      } else {
        // Final stretch: wake the processor that will run the expiry so it is spinning (and
        // polling timers itself) at the deadline instead of parked; then spin here too, but
        // notice an earlier timer being armed.
        if let p = earliest?.processor, p.rawValue < processorCount { wake(p.rawValue) }
        while clock < deadline && storport_load_acquire(timerWord) == seen && !isStopping {
          storport_cpu_relax()
        }
      }
    }
  }
}

/// Best effort: run the timer thread under SCHED_FIFO so spinning processors cannot delay it
/// (the clock interrupt's place in a real system). Ignored where not permitted.
private func raiseTimerThreadPriority() {
  var param = sched_param()
  param.sched_priority = 1
  _ = pthread_setschedparam(pthread_self(), Int32(SCHED_FIFO), &param)
}
