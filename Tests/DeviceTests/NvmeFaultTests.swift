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
