import Storport
import StorportC
import StorportExplorer
import Testing

/// The C twins of the timer-startio-race fixture (R-T… HW_TIMER: with concurrent channels
/// HwStorStartIo is not serialised with HwStorTimer; use an interlocked operation).
@Suite struct CFixtureTests {
  static func explore(_ file: String, schedules: Int, seed: UInt64) throws -> ExplorationResult {
    let library = try Samples.load("fixtures/\(file)", instrumented: true)
    let harness = CMiniportHarness.make(library, workload: .requests)
    return Explorer.explore(
      harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: schedules, seed: seed))
  }

  @Test func racyTwinIsFoundAsADataRaceNamingBothSourceLines() throws {
    for seed: UInt64 in 1...3 {
      let r = try Self.explore("timer_startio_race.c", schedules: 300, seed: seed)
      let f = try #require(r.failure, "the C timer race was not found with seed \(seed)")
      let races = f.original.failures.compactMap(\.race) + f.shrunk.failures.compactMap(\.race)
      let race = try #require(
        races.first, "seed \(seed): \(f.shrunk.primary?.signature ?? "?") — no data race reported")
      #expect(race.first.processor != race.second.processor)
      #expect(race.first.isWrite || race.second.isWrite)
      // Both accesses name their line in the fixture's source.
      #expect(race.first.location.contains("timer_startio_race.c:"), "\(race.first.location)")
      #expect(race.second.location.contains("timer_startio_race.c:"), "\(race.second.location)")
      let callbacks = Set([race.first.callback, race.second.callback])
      #expect(
        callbacks.contains { $0.contains("HwStorTimer") || $0.contains("WatchdogTimer") }, "\(callbacks)")
      #expect(callbacks.contains { $0.contains("StartIo") }, "\(callbacks)")
      #expect(f.replayReproduced == true)
      if seed == 1 { print("C race: \(race)") }
    }
  }

  @Test func fixedTwinExploresClean() throws {
    let r = try Self.explore("timer_startio_race_fixed.c", schedules: 500, seed: 7)
    #expect(r.failure == nil, "\(r.failure?.shrunk.primary?.signature ?? "")")
    #expect(r.schedulesRun == 500)
  }
}
