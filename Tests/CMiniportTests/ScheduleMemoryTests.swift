import Storport
import StorportExplorer
import Testing

@testable import StorportC

/// Each explored schedule's runtime — and with it a C miniport's extension, its memory and its
/// request blocks — is freed when the schedule ends: an exploration's memory stays flat.
@Suite struct ScheduleMemoryTests {
  @Test func cExtensionsAreFreedAfterEachSchedule() throws {
    let path = try Samples.build("ramdisk.c")
    let before = CMiniportExtension.live.withLock { $0.count }
    let harness = try CMiniportHarnessSpec(path: path, workload: .full, device: .none).harness()
    let r = Explorer.explore(harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 20, seed: 1))
    #expect(r.failure == nil)
    let after = CMiniportExtension.live.withLock { $0.count }
    // Positive control of the measure: during a schedule the extension is live.
    #expect(r.schedulesRun == 20)
    #expect(after - before == 0, "\(after - before) extensions outlived their schedules")
  }
}
