import Storport
import StorportTesting
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A parked processor lent to a host thread (`Adapter.submitting`, `LivePlatform.borrow`): the
/// requests the host thread submits run there, and a processor is never run by two threads at
/// once — its own thread stays parked through the loan, and a wake-up asked for meanwhile is
/// delivered when the loan ends, never lost. Live threads; also under ThreadSanitizer.
@Suite(.serialized) struct ProcessorLoanTests {
  /// The live fixture with a ScriptedMiniport that has HwStorBuildIo, started.
  static func rig(_ configure: (ScriptedMiniport) -> Void) -> LiveTests.Live {
    LiveTests.Live(miniport: ScriptedMiniport(name: "lend", hasBuildIo: true), configure: configure)
  }

  /// Which thread holds each processor's HwStorBuildIo: entering a processor that another
  /// thread is in is an overlap (the detector has a positive control below).
  final class Occupancy: Sendable {
    final class Slot: Sendable { let holder = Atomic<UInt>(0) }
    private let slots = (0..<4).map { _ in Slot() }
    let overlaps = Atomic<Int>(0)
    private let held = Atomic<Int>(0)

    /// Holds `slot` for `spins` pause-free iterations as the calling thread.
    func occupy(_ slot: Int, spins: Int) {
      let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))) | 1
      if !slots[slot].holder.compareExchange(expected: 0, desired: me, ordering: .acquiringAndReleasing)
        .exchanged
      {
        overlaps.add(1, ordering: .relaxed)
        return
      }
      for _ in 0..<spins { held.add(1, ordering: .relaxed) }  // not foldable: an atomic
      slots[slot].holder.store(0, ordering: .releasing)
    }
  }

  @Test func theOccupancyDetectorSeesTwoThreadsInOneSlot() {
    // Positive control: two threads that hold slot 0 for a long while at the same time.
    let o = Occupancy()
    let started = Atomic<Int>(0)
    let threads = (0..<2).map { _ in
      PlatformThreadForTests.start {
        started.add(1, ordering: .acquiringAndReleasing)
        while started.load(ordering: .acquiring) < 2 {}
        for _ in 0..<200 { o.occupy(0, spins: 20_000) }
      }
    }
    threads.forEach { PlatformThreadForTests.join($0) }
    #expect(o.overlaps.load(ordering: .relaxed) > 0)
  }

  /// A request submitted inside `submitting` from a host thread, while a processor is parked,
  /// has its HwStorBuildIo, HwStorStartIo and completion routine run on that thread before
  /// `submitting` returns. From a processor's own thread (inside a callback's work) nothing
  /// is lent: the request is posted and completes after (the control).
  @Test func aHostThreadRunsItsRequestsOnALentProcessor() {
    let buildIoThreads = Observations<UInt>()
    let rig = Self.rig { m in
      m.onBuildIo = { _, _ in
        buildIoThreads.append(UInt(pthread_self()))
        return true
      }
    }
    let me = UInt(pthread_self())
    var inline = 0
    for attempt in 0..<200 where inline < 5 {
      let completedOn = Atomic<UInt>(0)
      let before = buildIoThreads.count
      rig.adapter.submitting {
        rig.adapter.submit(StorRequest(tag: UInt64(attempt))) { _ in
          completedOn.store(UInt(pthread_self()), ordering: .releasing)
        }
      }
      if completedOn.load(ordering: .acquiring) == me {
        inline += 1
        #expect(buildIoThreads.all[before] == me, "HwStorBuildIo on the lending thread")
      } else {
        // A processor was awake (spinning): the request went to it.
        #expect(
          rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) {
            completedOn.load(ordering: .acquiring) != 0
          })
      }
      usleep(2000)  // idle processors spin 50 µs, then park
    }
    #expect(inline == 5, "requests run on a lent processor: \(inline) of 5")
    // Control: from a processor's own thread `submitting` lends nothing.
    let afterReturn = Atomic<Int>(-1)
    let completed = Atomic<Bool>(false)
    rig.adapter.runOnProcessor(0) { [adapter = rig.adapter!] in
      adapter.submitting {
        adapter.submit(StorRequest(tag: 999)) { _ in completed.store(true, ordering: .releasing) }
      }
      afterReturn.store(completed.load(ordering: .acquiring) ? 1 : 0, ordering: .releasing)
    }
    #expect(rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { completed.load(ordering: .acquiring) })
    #expect(afterReturn.load(ordering: .acquiring) == 0, "posted, completed after the body")
    #expect(rig.runtime.verifier.reportsSoFar.isEmpty, "\(rig.runtime.verifier.reportsSoFar)")
  }

  /// A loan runs at most `Adapter.loanWorkLimit` work items on the host's thread: a request
  /// whose DPC re-issues itself 500 times leaves `submitting` unfinished, and the processor's
  /// own thread, woken when the loan ends, finishes it (the host's event loop is never held
  /// by a DPC storm).
  @Test func aLoanRunsAtMostItsLimitAndTheProcessorsThreadFinishesTheRest() {
    let runs = Atomic<Int>(0)
    let held = Locked<StorRequest?>(nil)
    let rig = Self.rig { m in
      m.onStartIo = { ext, r in
        held.withLock { $0 = r }
        _ = ext.port.issueDpc(ext.dpc)
        return true
      }
    }
    let ready = Atomic<Bool>(false)
    rig.adapter.runOnProcessor(0) { [adapter = rig.adapter!] in
      let ext = adapter.deviceExtension(as: ScriptedExtension.self)
      ext.port.initializeDpc(
        ext.dpc,
        HwDpcRoutine<ScriptedExtension>("Storm") { dpc, e, _, _ in
          if runs.add(1, ordering: .acquiringAndReleasing).newValue < 500 {
            _ = e.port.issueDpc(dpc)
          } else if let r = held.withLock({ $0 }) {
            r.srbStatus = .success
            e.port.requestComplete(r)
          }
          return true
        })
      ready.store(true, ordering: .releasing)
    }
    #expect(rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { ready.load(ordering: .acquiring) })
    let completed = Atomic<Bool>(false)
    var lent = false
    for _ in 0..<200 where !lent {
      usleep(2000)
      let before = runs.load(ordering: .acquiring)
      rig.adapter.submitting {
        rig.adapter.submit(StorRequest(tag: 1)) { _ in completed.store(true, ordering: .releasing) }
      }
      // Lent: the DPC ran here, at most the limit's worth. Not lent: the request went to a
      // processor thread (try again with a fresh rig state is not needed: it completes there).
      let ranHere = runs.load(ordering: .acquiring) - before
      if ranHere > 0 && !completed.load(ordering: .acquiring) {
        lent = true
        #expect(ranHere <= Adapter.loanWorkLimit, "\(ranHere) DPC runs on the host's thread")
      } else {
        #expect(
          rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { completed.load(ordering: .acquiring) })
        runs.store(0, ordering: .releasing)
        completed.store(false, ordering: .releasing)
      }
    }
    #expect(lent, "a loan happened")
    #expect(rig.runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { completed.load(ordering: .acquiring) })
    #expect(runs.load(ordering: .acquiring) >= 500)
    #expect(rig.runtime.verifier.reportsSoFar.isEmpty, "\(rig.runtime.verifier.reportsSoFar)")
  }

  /// One thread submits through loans while another submits plainly (waking processors, and
  /// finding them lent): every request completes (no wake-up lost to a loan) and no processor's
  /// HwStorBuildIo is ever entered by two threads at once.
  @Test func loansAndWakeUpsNeverRunAProcessorTwiceOrLoseAWakeUp() {
    let occupancy = Occupancy()
    let rig = Self.rig { m in
      m.onBuildIo = { ext, _ in
        occupancy.occupy(ext.port.executionContext!.processor, spins: 200)
        return true
      }
    }
    let perThread = 3000
    let done = Atomic<Int>(0)
    let lentRuns = Atomic<Int>(0)
    let lender = PlatformThreadForTests.start { [adapter = rig.adapter!] in
      let me = UInt(pthread_self())
      for i in 0..<perThread {
        let completedOn = Atomic<UInt>(0)
        adapter.submitting {
          adapter.submit(StorRequest(tag: UInt64(i))) { _ in
            completedOn.store(UInt(pthread_self()), ordering: .releasing)
            done.add(1, ordering: .acquiringAndReleasing)
          }
        }
        if completedOn.load(ordering: .acquiring) == me { lentRuns.add(1, ordering: .relaxed) }
        if i % 64 == 0 { usleep(200) }  // let processors park, so loans happen
      }
    }
    let waker = PlatformThreadForTests.start { [adapter = rig.adapter!] in
      for i in 0..<perThread {
        adapter.submit(StorRequest(tag: UInt64(perThread + i))) { _ in
          done.add(1, ordering: .acquiringAndReleasing)
        }
        if i % 64 == 0 { usleep(150) }
      }
    }
    PlatformThreadForTests.join(lender)
    PlatformThreadForTests.join(waker)
    #expect(
      rig.runtime.runUntil(timeoutNanoseconds: 30_000_000_000) {
        done.load(ordering: .acquiring) == 2 * perThread
      })
    #expect(occupancy.overlaps.load(ordering: .relaxed) == 0)
    #expect(lentRuns.load(ordering: .relaxed) > 0, "some requests ran on a lent processor")
    #expect(rig.runtime.verifier.reportsSoFar.isEmpty, "\(rig.runtime.verifier.reportsSoFar)")
  }
}

/// The parking word on a bare live platform (a client whose processors only count the work
/// their own threads run): a lent processor's thread stays parked through the loan even when
/// woken, and runs what was posted once the loan ends; a loan ended without a wake-up leaves it
/// parked (lendable again); a platform that polls, or is stopping, lends nothing; `stop` during
/// a loan returns once the loan ends.
@Suite(.serialized) struct ParkingWordTests {
  final class Client: PlatformClient, @unchecked Sendable {
    var platform: LivePlatform!
    let pending = Atomic<Int>(0)
    let ranOnOwnThread = Atomic<Int>(0)
    let abandoned = Atomic<Int>(0)
    func runProcessor(_ index: Int) {
      while !platform.isStopping {
        if pending.load(ordering: .acquiring) > 0 {
          pending.subtract(1, ordering: .acquiringAndReleasing)
          ranOnOwnThread.add(1, ordering: .acquiringAndReleasing)
        } else {
          platform.idle(index) { pending.load(ordering: .acquiring) > 0 }
        }
      }
    }
    func processorAbandoned(_ index: Int) { abandoned.add(1, ordering: .relaxed) }
    var shutdownGraceNanoseconds: UInt64 { 10_000_000_000 }
  }

  static func started(_ policy: IdlePolicy) -> (LivePlatform, Client) {
    let platform = LivePlatform(processors: 1, idlePolicy: policy)
    let client = Client()
    client.platform = platform
    platform.start(client)
    return (platform, client)
  }

  /// Lends processor 0 once it has parked (it parks at once: no spin).
  static func lendWhenParked(_ platform: LivePlatform) -> Bool {
    for _ in 0..<5000 {
      if platform.lend(0) { return true }
      usleep(1000)
    }
    return false
  }

  static func eventually(_ condition: () -> Bool) -> Bool {
    for _ in 0..<5000 {
      if condition() { return true }
      usleep(1000)
    }
    return false
  }

  @Test func aWakeDuringALoanWaitsForItsEndAndIsNotLost() throws {
    let (platform, client) = Self.started(.spinThenPark(spinNanoseconds: 0))
    defer { platform.stop() }
    try #require(Self.lendWhenParked(platform))
    client.pending.add(1, ordering: .acquiringAndReleasing)
    platform.wake(0)
    usleep(50_000)
    #expect(client.ranOnOwnThread.load(ordering: .acquiring) == 0, "the thread ran during the loan")
    platform.endLoan(0)
    #expect(Self.eventually { client.ranOnOwnThread.load(ordering: .acquiring) == 1 }, "the wake-up was lost")
    // A loan ended with no wake-up leaves the processor parked: lendable again at once.
    try #require(Self.lendWhenParked(platform))
    platform.endLoan(0)
    #expect(platform.lend(0), "parked again after a loan without a wake-up")
    platform.endLoan(0)
    #expect(client.ranOnOwnThread.load(ordering: .acquiring) == 1)
  }

  @Test func aPollingOrStoppingPlatformLendsNothing() throws {
    let (polling, _) = Self.started(.poll)
    for _ in 0..<20 {
      #expect(!polling.lend(0))
      usleep(1000)
    }
    polling.stop()
    let (parking, _) = Self.started(.spinThenPark(spinNanoseconds: 0))
    try #require(Self.lendWhenParked(parking), "control: a parking platform lends")
    parking.endLoan(0)
    parking.stop()
    #expect(!parking.lend(0), "stopped")
  }

  @Test func stopDuringALoanReturnsOnceTheLoanEnds() throws {
    let (platform, client) = Self.started(.spinThenPark(spinNanoseconds: 0))
    try #require(Self.lendWhenParked(platform))
    let stopped = Atomic<Bool>(false)
    let stopper = PlatformThreadForTests.start {
      platform.stop()
      stopped.store(true, ordering: .releasing)
    }
    usleep(50_000)
    let stoppedDuringLoan = stopped.load(ordering: .acquiring)
    #expect(!stoppedDuringLoan, "stop waits for the lent processor's thread")
    platform.endLoan(0)
    PlatformThreadForTests.join(stopper)
    let stoppedAfter = stopped.load(ordering: .acquiring)
    #expect(stoppedAfter)
    #expect(client.abandoned.load(ordering: .relaxed) == 0, "the thread left its loop, not abandoned")
  }
}

/// Plain threads for the tests (pthread: joinable, no Foundation).
enum PlatformThreadForTests {
  final class Box: @unchecked Sendable {
    let body: @Sendable () -> Void
    init(_ body: @escaping @Sendable () -> Void) { self.body = body }
  }

  static func start(_ body: @escaping @Sendable () -> Void) -> pthread_t {
    var t = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(
      &t, nil,
      { arg in
        let b = Unmanaged<Box>.fromOpaque(arg!).takeRetainedValue()
        b.body()
        return nil
      }, box)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    return t
  }

  static func join(_ t: pthread_t) { pthread_join(t, nil) }
}
