import Storport
import StorportDevices
import StorportSamples
import StorportWorkload
import Testing

/// Reliability of the NVMe path under each injected fault, on the simulated platform over 200
/// seeds each: every request completes exactly once (the verifier would report a second
/// completion; the workload reports any request never completed), `--verify` data stays
/// intact, no I/O error reaches the client (faults end in retries), and the adapter keeps
/// serving after recovering.
@Suite struct NvmeFaultTests {
  static func options(fault: String, seed: UInt64) -> WorkloadOptions {
    var o = WorkloadOptions()
    o.simulated = true
    o.seed = seed
    o.miniport = .nvme
    o.pattern = .randrw
    o.verify = .crc32c
    o.iodepth = 4
    o.sizeBytes = 1 << 20
    o.runtimeNanoseconds = 3_000_000
    o.stuckTimeoutMilliseconds = 2
    o.faults = NvmeFaults.only(fault, ppm: fault == "slow-start" ? 20_000 : 30_000)!
    o.verifier = .checked(onViolation: .stopAdapter)
    return o
  }

  @Test(arguments: NvmeFaults.names)
  func everyRequestCompletesOnceAndDataStaysIntact(fault: String) throws {
    var faultsSeen = 0
    var resets: Int64 = 0
    for seed in UInt64(1)...200 {
      let w = try Workload(Self.options(fault: fault, seed: seed))
      let r = w.run()
      let state = w.rig.adapter.state
      let counters = Dictionary(uniqueKeysWithValues: w.counters())
      w.shutdown()
      #expect(r.passed, "\(fault) seed \(seed): \(r.failures.prefix(3))")
      #expect(r.verdict.hasPrefix("PASS"), "\(fault) seed \(seed): \(r.verdict)")
      #expect(r.verifyFailures == 0 && r.errors == 0)
      #expect(r.ios > 0, "\(fault) seed \(seed): no I/O completed")
      #expect(state == .running, "\(fault) seed \(seed): adapter \(state)")
      faultsSeen += Int(counters["fault \(fault)"] ?? 0)
      resets += counters["controller resets"] ?? 0
      if r.passed == false { break }
    }
    #expect(faultsSeen > 0, "the \(fault) fault never fired")
    if ["drop-completion", "stuck-command", "fatal"].contains(fault) {
      #expect(resets > 0, "\(fault) should have made the watchdog reset the controller")
    }
  }
}

/// The NVMe model's latency (`--latency`) is the medium's: an I/O command spends it in the
/// device; the admin commands of a controller reset (Identify, Set Features, a Create CQ and
/// Create SQ per queue) do not — a reset under a slow medium takes milliseconds, not a latency
/// per admin command. Simulated platform: the times are virtual, so the bounds are exact.
@Suite struct NvmeLatencyTests {
  @Test func anIoCommandTakesTheLatencyAndAResetsAdminCommandsDoNot() throws {
    var o = WorkloadOptions()
    o.simulated = true
    o.miniport = .nvme
    o.sizeBytes = 1 << 20
    o.processors = 2
    o.latency = .fixed(nanoseconds: 500_000_000)
    o.stuckTimeoutMilliseconds = 60_000
    o.verifier = .checked(onViolation: .stopAdapter)
    let rig = try WorkloadRig(o)
    defer { rig.runtime.shutdown() }
    let ext = rig.adapter.deviceExtension(as: NvmeExtension.self)
    let pool = StorRequestPool(count: 1, bufferBytes: 4096)
    let r = try #require(pool.take())
    defer { pool.give(r) }
    r.setCdb([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])  // READ(10) of block 0
    r.direction = .dataIn
    r.dataTransferLength = 4096
    let done = Box(false)
    let submitted = rig.runtime.now
    rig.adapter.submit(r) { _ in done.value = true }
    rig.runtime.runUntil(timeoutNanoseconds: 5_000_000_000) { done.value }
    let read = rig.runtime.now - submitted
    #expect(done.value && r.srbStatus == .success, "\(r.srbStatus)")
    #expect(read >= 500_000_000, "the read took \(read) ns: an I/O command spends the latency in the device")

    let startups = ext.startupsCompleted.load()
    let reset = rig.runtime.now
    rig.adapter.resetBus()
    rig.runtime.runUntil(timeoutNanoseconds: 10_000_000_000) { ext.startupsCompleted.load() > startups }
    let took = rig.runtime.now - reset
    #expect(ext.resets.load() >= 1 && ext.startupsCompleted.load() > startups, "the controller was not reset")
    #expect(
      took < 100_000_000,
      "the reset took \(took / 1_000_000) ms: its admin commands waited for the I/O latency")
    #expect(rig.runtime.verifier.verdict.hasPrefix("PASS"), "\(rig.runtime.verifier.verdict)")
  }
}
