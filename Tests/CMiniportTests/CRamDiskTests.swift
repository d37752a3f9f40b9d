import Storport
import StorportC
import StorportExplorer
import StorportTesting
import Testing

/// The C RAM-disk sample through the same runtime as the Swift samples.
@Suite struct CRamDiskTests {
  @Test func loadsRegistersAndServesVerifiedIo() throws {
    let library = try Samples.load("ramdisk.c")
    #expect(library.isVirtual)
    #expect(library.name.hasPrefix("ramdisk"))
    let harness = ExplorationHarness(name: "c-ramdisk", processors: 2) { run in
      let adapter = run.attach(library.makeMiniport(argumentString: "DiskSize=1m;BlockSize=4096"))
      guard run.startAdapter(adapter) else { return }
      BuiltInHarnesses.blockIo(run, adapter, blockSize: 4096)
    }
    let r = Explorer.explore(harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 20, seed: 1))
    #expect(r.failure == nil, "\(r.failure.map { "\($0.shrunk.primary?.signature ?? "?")" } ?? "")")
    #expect(r.schedulesRun == 20)
  }
}
