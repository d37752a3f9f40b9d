import Storport
import StorportExplorer
import StorportTesting
import Testing

/// The happens-before detector: each edge Storport provides orders accesses, and without one
/// the two accesses are reported — both of them.
@Suite struct RaceDetectorTests {
  func access(_ d: RaceDetector, _ p: Int, write: Bool, at line: Int) {
    d.access(1, isWrite: write, by: p) {
      StateAccess(
        cell: "x", isWrite: write, processor: p, callback: "cb\(p)", irql: "DISPATCH_LEVEL", locksHeld: [],
        location: "F.swift:\(line)", step: UInt64(line))
    }
  }

  @Test func unorderedWritesAreARaceNamingBothAccesses() throws {
    let d = RaceDetector(processors: 2)
    access(d, 0, write: true, at: 10)
    access(d, 1, write: true, at: 20)
    let race = try #require(d.races.first)
    #expect(d.races.count == 1)
    #expect(race.first.location == "F.swift:10" && race.first.processor == 0)
    #expect(race.second.location == "F.swift:20" && race.second.processor == 1)
  }

  @Test func readsDoNotRaceWithReads() {
    let d = RaceDetector(processors: 2)
    access(d, 0, write: false, at: 1)
    access(d, 1, write: false, at: 2)
    #expect(d.races.isEmpty)
    access(d, 1, write: true, at: 3)  // the write races with processor 0's read
    #expect(d.races.count == 1)
    #expect(d.races.first?.first.isWrite == false && d.races.first?.second.isWrite == true)
  }

  @Test func releaseThenAcquireOrders() {
    let d = RaceDetector(processors: 2)
    let lock = SyncObject(id: 42)
    access(d, 0, write: true, at: 1)
    d.release(0, lock)
    d.acquire(1, lock)
    access(d, 1, write: true, at: 2)
    #expect(d.races.isEmpty)
    // Positive control: processor 0 writes again without taking the lock processor 1 released.
    access(d, 0, write: true, at: 3)
    #expect(d.races.count == 1)
  }

  @Test func interlockedOperationsOrderBothWays() {
    let d = RaceDetector(processors: 3)
    let flag = SyncObject(id: 7)
    access(d, 0, write: true, at: 1)
    d.acquireRelease(0, flag)
    d.acquireRelease(1, flag)
    access(d, 1, write: true, at: 2)
    #expect(d.races.isEmpty)
    // Processor 2 never touched the flag: its access races.
    access(d, 2, write: false, at: 3)
    #expect(d.races.count == 1)
  }

  @Test func programOrderOnOneProcessorIsNoRace() {
    let d = RaceDetector(processors: 2)
    for line in 0..<10 { access(d, 0, write: line % 2 == 0, at: line) }
    #expect(d.races.isEmpty)
    #expect(d.accesses == 10)
  }

  /// Through the runtime: StartIo and HwStorTimer both run under the StartIo lock (full duplex,
  /// no channels), so their accesses to the same Tracked slot are ordered — whichever
  /// processors they run on; with concurrent channels (the HW_TIMER hazard) they are not.
  @Test(arguments: [false, true])
  func portHeldStartIoLockOrdersStartIoAndTimer(_ channels: Bool) throws {
    let harness = ExplorationHarness(name: "startio-timer-\(channels)", processors: 2) { run in
      let m = ScriptedMiniport()
      let slot = Tracked(0, name: "slot")
      let timer = HwTimer<ScriptedExtension>("SlotTimer") { _ in slot.store(slot.load() + 1) }
      m.onInitialize = { ext in ext.port.requestConcurrentChannels(channels ? 2 : 1) }
      m.onStartIo = { ext, r in
        slot.store(slot.load() + 1)
        ext.port.requestTimerCall(timer, microseconds: 1)
        r.srbStatus = .success
        ext.port.requestComplete(r)
        return true
      }
      let adapter = run.attach(m)
      guard run.startAdapter(adapter) else { return }
      for i in 0..<3 {
        run.submit(StorRequest(tag: UInt64(i)), to: adapter)
        run.runUntilCompleted(limit: 1_000_000)
        run.run(nanoseconds: 1_500)
      }
    }
    let r = Explorer.explore(
      harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 200, shrink: false))
    if channels {
      let f = try #require(r.failure, "concurrent channels: the StartIo/timer race was not reported")
      #expect(f.shrunk.primary?.kind == .dataRace)
      let race = try #require(f.shrunk.primary?.race)
      #expect(Set([race.first.callback, race.second.callback]).count == 2, "\(race)")
    } else {
      #expect(r.failure?.shrunk.primary?.signature == nil, "\(r.failure?.shrunk.primary?.message ?? "")")
    }
  }
}

/// The edges through the runtime, each with the variant that must be reported.
@Suite struct RaceDetectorEdgeTests {
  /// Runs `first` on processor 0, lets it finish, then `second` on processor 1 (port work);
  /// returns the races the detector found.
  static func sequence(
    _ first: @escaping @Sendable (ScriptedExtension) -> Void,
    _ second: @escaping @Sendable (ScriptedExtension) -> Void
  ) -> [DataRace] {
    let races = Locked<[DataRace]>([])
    let harness = ExplorationHarness(name: "edge", processors: 2) { run in
      let adapter = run.attach(ScriptedMiniport())
      guard run.startAdapter(adapter) else { return }
      let ext = adapter.deviceExtension(as: ScriptedExtension.self)
      adapter.runOnProcessor(0) { first(ext) }
      run.runUntilQuiescent(limit: 1_000_000)
      adapter.runOnProcessor(1) { second(ext) }
      run.runUntilQuiescent(limit: 1_000_000)
      races.withLock { $0 += run.runtime.raceDetector?.races ?? [] }
    }
    _ = ScheduleRunner.run(harness, strategy: BoundedSearchStrategy(prefix: []), maxSteps: 10_000)
    return races.withLock { $0 }
  }

  /// An interlocked read-modify-write releases, a later interlocked load acquires: ordered.
  /// Two loads order nothing: the same accesses race.
  @Test func interlockedExchangeThenLoadOrders_loadThenLoadDoesNot() {
    let x = Tracked(0, name: "x")
    let f = InterlockedValue(0)
    let ordered = Self.sequence(
      { _ in
        x.store(1)
        f.exchange(1)
      },
      { _ in
        _ = f.load()
        _ = x.load()
      })
    #expect(ordered.isEmpty, "\(ordered)")
    let y = Tracked(0, name: "y")
    let g = InterlockedValue(0)
    let racy = Self.sequence(
      { _ in
        y.store(1)
        _ = g.load()
      },
      { _ in
        _ = g.load()
        _ = y.load()
      })
    #expect(racy.count == 1 && racy.first?.first.cell == "y", "\(racy)")
  }

  /// Two runs of one STOR_DPC on two processors are ordered (D2); two different DPCs are not.
  @Test(arguments: [false, true])
  func dpcRunsAreOrderedWithEachOther(_ twoDpcs: Bool) {
    let count = Tracked(0, name: "dpcCount")
    let routine = HwDpcRoutine<ScriptedExtension>("Count") { _, _, _, _ in
      count.store(count.load() + 1)
      return true
    }
    let races = Self.sequence(
      { ext in
        ext.port.initializeDpc(ext.dpc, routine)
        ext.port.initializeDpc(ext.dpc2, routine)
        ext.port.issueDpc(ext.dpc)
      },
      { ext in ext.port.issueDpc(twoDpcs ? ext.dpc2 : ext.dpc) })
    if twoDpcs {
      #expect(!races.isEmpty, "two different DPCs touching the same state unlocked must race")
      #expect(races.allSatisfy { $0.first.cell == "dpcCount" && $0.first.processor != $0.second.processor })
    } else {
      #expect(races.isEmpty, "\(races)")
    }
  }
}
