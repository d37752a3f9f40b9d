import Foundation
import Storport
import StorportExplorer
import Testing

@testable import StorportC

/// Each explored schedule's runtime — and with it a C miniport's extension, its memory and its
/// request blocks — is freed when the schedule ends: an exploration's memory stays flat.
@Suite struct ScheduleMemoryTests {
  /// The live C extensions loaded from `path` (other suites run C miniports at the same time:
  /// only this test's library counts).
  static func liveExtensions(of path: String) -> Int {
    CMiniportExtension.live.withLock { list in
      list.filter { entry in
        let ext = Unmanaged<CMiniportExtension>.fromOpaque(UnsafeRawPointer(bitPattern: entry.owner)!)
          .takeUnretainedValue()
        return ext.miniport?.libraryPath == path
      }.count
    }
  }

  @Test func cExtensionsAreFreedAfterEachSchedule() throws {
    // A copy of the sample under a name of its own.
    let built = try Samples.build("ramdisk.c")
    let path = built + ".memory-test.so"
    try? FileManager.default.removeItem(atPath: path)
    try FileManager.default.copyItem(atPath: built, toPath: path)
    defer { try? FileManager.default.removeItem(atPath: path) }
    // Positive control of the measure: an adapter of this library holds one live extension.
    do {
      let runtime = StorportRuntime(platform: SimulatedPlatform(processors: 1, seed: 1))
      let adapter = runtime.attach(try CMiniportLibrary.load(path: path).makeMiniport())
      runtime.start()
      adapter.start()
      #expect(runtime.runUntil(timeoutNanoseconds: 1_000_000_000) { adapter.state == .running })
      #expect(Self.liveExtensions(of: path) == 1)
      runtime.shutdown()
    }
    #expect(Self.liveExtensions(of: path) == 0, "the control's runtime is gone, and its extension with it")
    let harness = try CMiniportHarnessSpec(path: path, workload: .full, device: .none).harness()
    let r = Explorer.explore(harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 20, seed: 1))
    #expect(r.failure == nil)
    #expect(r.schedulesRun == 20)
    let after = Self.liveExtensions(of: path)
    #expect(after == 0, "\(after) extensions outlived their schedules")
  }
}
