import Storport
import StorportC
import StorportExplorer
import StorportWorkload
import Testing

/// The C samples under the fio-like front end (`storport bench io --miniport PATH.so`) and the
/// explorer's default harness (`storport explore --miniport PATH.so`), on the simulated
/// platform: verified I/O, the NVMe sample on the emulated controller through its own
/// HwStorTimer start-up, PRP lists, reset, stop and restart.
@Suite struct CWorkloadTests {
  static func workload(
    _ file: String, bs: Int = 4096, pattern: WorkloadOptions.Pattern = .randrw, seed: UInt64 = 3
  )
    throws -> WorkloadResult
  {
    var o = WorkloadOptions()
    o.miniportLibrary = try Samples.build(file)
    o.simulated = true
    o.seed = seed
    o.processors = 2
    o.sizeBytes = 8 << 20
    o.blockSize = bs
    o.pattern = pattern
    o.verify = .crc32c
    o.iodepth = 8
    o.runtimeNanoseconds = 20_000_000
    try o.validate()
    let w = try Workload(o)
    let r = w.run()
    w.shutdown()
    return r
  }

  @Test func theCRamDiskPassesVerifiedIo() throws {
    let r = try Self.workload("ramdisk.c")
    #expect(r.passed, "\(r.failures)")
    #expect(r.read.ios > 0 && r.write.ios > 0)
    #expect(r.verifiedReads > 0)
  }

  @Test func theCNvmeMiniportPassesVerifiedIoOnTheEmulatedController() throws {
    let r = try Self.workload("nvme/nvme.c")
    #expect(r.passed, "\(r.failures)")
    #expect(r.read.ios > 0 && r.write.ios > 0)
    #expect(r.verifiedReads > 0)
  }

  /// 128 KiB transfers: 32 pages, so PRP2 points at a PRP list the model follows.
  @Test func largeTransfersGoThroughPrpLists() throws {
    let r = try Self.workload("nvme/nvme.c", bs: 128 * 1024, pattern: .readwrite)
    #expect(r.passed, "\(r.failures)")
    #expect(r.verifiedReads > 0)
  }

  /// The default exploration harness around the NVMe sample: start-up through HwStorTimer,
  /// verified I/O, interrupts, bus reset, stop and restart — with the race detector on the
  /// miniport's own memory (instrumented build).
  @Test func theCNvmeMiniportExploresClean() throws {
    let path = try Samples.build("nvme/nvme.c", instrumented: true)
    let harness = try CMiniportHarnessSpec(path: path, workload: .full, device: .nvme).harness()
    let r = Explorer.explore(harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 12, seed: 11))
    #expect(r.failure == nil, "\(r.failure?.shrunk.primary?.signature ?? "")")
    #expect(r.schedulesRun == 12)
  }

  @Test func theCRamDiskExploresCleanWithDpcCompletion() throws {
    let path = try Samples.build("ramdisk.c", instrumented: true)
    let harness = try CMiniportHarnessSpec(
      path: path, workload: .full, device: .none, arguments: "DiskSize=1m;BlockSize=512;Completion=Dpc"
    ).harness()
    let r = Explorer.explore(harness, ExplorationOptions(strategy: .pct(depth: 2), schedules: 40, seed: 2))
    #expect(r.failure == nil, "\(r.failure?.shrunk.primary?.signature ?? "")")
  }

  /// The schedule-file name of a C-miniport harness survives the round trip `replay` makes.
  @Test func harnessNamesRoundTrip() {
    let spec = CMiniportHarnessSpec(
      path: "/tmp/a:b/x.so", workload: .requests, device: .nvme, arguments: "A=1;B=%2;C=x:y")
    #expect(CMiniportHarnessSpec.parse(spec.name) == spec)
    #expect(CMiniportHarnessSpec.parse("timer-startio-race") == nil)
  }
}
