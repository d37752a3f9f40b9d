import Storport
import StorportDevices
import StorportSCSI
import StorportSamples
import StorportWorkload
import Testing

/// COMPARE AND WRITE and WRITE SAME of a non-zero block through the whole path, in both sample
/// miniports: the RAM disk's logical unit does them itself; the NVMe sample turns them into a
/// fused Compare + Write and into chunked Writes (more blocks than one transfer).
@Suite struct MultiCommandTests {
  final class Rig {
    let rig: WorkloadRig
    let pool = StorRequestPool(count: 1, bufferBytes: 512 * 1024)
    init(_ miniport: WorkloadOptions.MiniportKind) throws { rig = try BadRequestTests().rig(miniport) }

    /// Runs one CDB; `fill(buffer)` prepares the data-out buffer; `check(r)` reads the result.
    func run(
      _ cdb: [UInt8], _ direction: DataDirection, _ length: Int,
      fill: (UnsafeMutableRawPointer) -> Void = { _ in }, check: (StorRequest) -> Void = { _ in }
    ) {
      let r = pool.take()!
      r.setCdb(cdb)
      r.direction = direction
      r.dataTransferLength = UInt32(length)
      fill(r.dataBuffer!)
      let done = Box(false)
      rig.adapter.submit(r) { _ in done.value = true }
      rig.runtime.runUntil(timeoutNanoseconds: 100_000_000) { done.value }
      #expect(done.value, "not completed: \(cdb)")
      check(r)
      pool.give(r)
    }

    func write(lba: UInt32, blocks: Int, byte: UInt8) {
      run(
        [
          0x2A, 0, UInt8(lba >> 24), UInt8(lba >> 16 & 0xFF), UInt8(lba >> 8 & 0xFF), UInt8(lba & 0xFF), 0, 0,
          UInt8(blocks), 0,
        ],
        .dataOut, blocks * 4096,
        fill: { $0.initializeMemory(as: UInt8.self, repeating: byte, count: blocks * 4096) },
        check: { r in
          #expect(r.srbStatus == .success, "WRITE(10) of \(lba): \(String(describing: r.senseData))")
        })
    }

    /// The bytes of blocks [lba, lba + blocks), read back (at most one transfer: 32 blocks).
    func read(lba: UInt32, blocks: Int) -> [UInt8] {
      var out: [UInt8] = []
      run(
        [
          0x28, 0, UInt8(lba >> 24), UInt8(lba >> 16 & 0xFF), UInt8(lba >> 8 & 0xFF), UInt8(lba & 0xFF), 0, 0,
          UInt8(blocks), 0,
        ],
        .dataIn, blocks * 4096,
        check: { r in
          #expect(r.srbStatus == .success, "READ(10) of \(lba): \(String(describing: r.senseData))")
          out = Array(UnsafeRawBufferPointer(start: r.dataBuffer!, count: blocks * 4096))
        })
      return out
    }
  }

  static func caw(lba: UInt64, blocks: UInt8) -> [UInt8] {
    [0x89, 0] + (0..<8).map { UInt8(lba >> (56 - 8 * $0) & 0xFF) } + [0, 0, 0, blocks, 0, 0]
  }

  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func compareAndWriteWritesOnlyOnAMatch(miniport: WorkloadOptions.MiniportKind) throws {
    let t = try Rig(miniport)
    defer { t.rig.runtime.shutdown() }
    t.write(lba: 10, blocks: 2, byte: 0x11)
    // A miscompare in the second block: CHECK CONDITION, MISCOMPARE, nothing written.
    t.run(
      Self.caw(lba: 10, blocks: 2), .dataOut, 4 * 4096,
      fill: { p in
        p.initializeMemory(as: UInt8.self, repeating: 0x11, count: 2 * 4096)
        p.storeBytes(of: 0x12, toByteOffset: 4096 + 7, as: UInt8.self)
        (p + 2 * 4096).initializeMemory(as: UInt8.self, repeating: 0x22, count: 2 * 4096)
      },
      check: { r in
        #expect(r.srbStatus == .error)
        #expect(r.scsiStatus == ScsiStatus.checkCondition.rawValue)
        #expect(r.senseData?.key == .miscompare, "\(miniport): \(String(describing: r.senseData))")
        #expect(r.senseData?.code == .miscompareDuringVerify)
        #expect(r.senseData?.information == 4096 + 7, "\(miniport): the first differing byte's offset")
      })
    #expect(t.read(lba: 10, blocks: 2).allSatisfy { $0 == 0x11 }, "\(miniport): a miscompare wrote")
    // A match writes the second half.
    t.run(
      Self.caw(lba: 10, blocks: 2), .dataOut, 4 * 4096,
      fill: { p in
        p.initializeMemory(as: UInt8.self, repeating: 0x11, count: 2 * 4096)
        (p + 2 * 4096).initializeMemory(as: UInt8.self, repeating: 0x22, count: 2 * 4096)
      },
      check: { r in #expect(r.srbStatus == .success, "\(miniport): \(String(describing: r.senseData))") })
    #expect(t.read(lba: 10, blocks: 2).allSatisfy { $0 == 0x22 }, "\(miniport): a match did not write")
    // Beyond MAXIMUM COMPARE AND WRITE LENGTH (Block Limits VPD): INVALID FIELD IN CDB.
    var limit = 0
    t.run(
      [0x12, 1, 0xB0, 0, 64, 0], .dataIn, 64,
      check: { r in limit = Int(r.dataBuffer!.load(fromByteOffset: 5, as: UInt8.self)) })
    #expect(limit > 0, "\(miniport): MAXIMUM COMPARE AND WRITE LENGTH \(limit)")
    if limit < 255 {
      t.run(
        Self.caw(lba: 0, blocks: UInt8(limit + 1)), .dataOut, 2 * (limit + 1) * 4096,
        check: { r in
          #expect(
            r.senseData?.key == .illegalRequest && r.senseData?.code == .invalidFieldInCdb,
            "\(miniport): CAW of \(limit + 1) blocks: \(r.srbStatus) \(String(describing: r.senseData))")
        })
    }
    #expect(t.rig.runtime.verifier.verdict.hasPrefix("PASS"), "\(t.rig.runtime.verifier.verdict)")
  }

  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func writeSameOfDataFillsTheRangeAndNothingElse(miniport: WorkloadOptions.MiniportKind) throws {
    let t = try Rig(miniport)
    defer { t.rig.runtime.shutdown() }
    t.write(lba: 19, blocks: 1, byte: 0x77)
    t.write(lba: 120, blocks: 1, byte: 0x77)
    // WRITE SAME(16) of one patterned block over blocks 20…119 (100 blocks: four NVMe chunks).
    let cdb: [UInt8] = [0x93, 0] + (0..<8).map { $0 == 7 ? 20 : 0 } + [0, 0, 0, 100, 0, 0]
    t.run(
      cdb, .dataOut, 4096,
      fill: { p in
        for i in 0..<4096 {
          p.storeBytes(of: UInt8(truncatingIfNeeded: i * 7 + 1), toByteOffset: i, as: UInt8.self)
        }
      },
      check: { r in
        #expect(
          r.srbStatus == .success,
          "\(miniport): \(String(describing: r.senseData)) \(t.rig.runtime.verifier.verdict)")
      })
    let block = (0..<4096).map { UInt8(truncatingIfNeeded: $0 * 7 + 1) }
    for start in stride(from: 20, to: 120, by: 25) {
      let data = t.read(lba: UInt32(start), blocks: 25)
      let wrong = (0..<25).first { b in !data[(b * 4096)..<((b + 1) * 4096)].elementsEqual(block) }
      #expect(wrong == nil, "\(miniport): block \(start + (wrong ?? 0)) is not the pattern")
    }
    // With UNMAP, a non-zero block is written, not unmapped (SBC-4: UNMAP is a request).
    t.run(
      [0x41, 0x08, 0, 0, 0, 200, 0, 0, 3, 0], .dataOut, 4096,
      fill: { p in p.initializeMemory(as: UInt8.self, repeating: 0x5A, count: 4096) },
      check: { r in #expect(r.srbStatus == .success, "\(miniport): \(String(describing: r.senseData))") })
    #expect(t.read(lba: 200, blocks: 3).allSatisfy { $0 == 0x5A }, "\(miniport): WRITE SAME with UNMAP")
    // Positive control for the bounds: the neighbours keep their data.
    #expect(t.read(lba: 19, blocks: 1).allSatisfy { $0 == 0x77 })
    #expect(t.read(lba: 120, blocks: 1).allSatisfy { $0 == 0x77 })
    // WSNZ 0: WRITE SAME(16) of 0 blocks at LBA 250 of 256 writes blocks 250…255, not 249.
    t.write(lba: 249, blocks: 1, byte: 0x77)
    t.run(
      [0x93, 0, 0, 0, 0, 0, 0, 0, 0, 250, 0, 0, 0, 0, 0, 0], .dataOut, 4096,
      fill: { p in p.initializeMemory(as: UInt8.self, repeating: 0x3C, count: 4096) },
      check: { r in #expect(r.srbStatus == .success, "\(miniport): \(String(describing: r.senseData))") })
    #expect(t.read(lba: 250, blocks: 6).allSatisfy { $0 == 0x3C }, "\(miniport): WRITE SAME of 0 blocks")
    #expect(t.read(lba: 249, blocks: 1).allSatisfy { $0 == 0x77 }, "\(miniport): block before the LBA")
    #expect(t.rig.runtime.verifier.verdict.hasPrefix("PASS"), "\(t.rig.runtime.verifier.verdict)")
  }

  /// A controller reset in the middle of a WRITE SAME of data sends it back (BUSY) and the
  /// port re-issues it: the re-issue resumes after the chunks that completed rather than
  /// starting over — a WRITE SAME restarted by every reset need never finish under frequent
  /// ones. Observed through block 0: overwritten in the store after the first chunks wrote it,
  /// it keeps the overwrite only if the re-issue does not write that chunk again.
  @Test func writeSameResumesAfterAControllerReset() throws {
    var o = WorkloadOptions()
    o.simulated = true
    o.miniport = .nvme
    o.sizeBytes = 1 << 20  // 256 blocks of 4 KiB; a chunk is 32 blocks
    o.verifier = .checked(onViolation: .stopAdapter)
    o.latency = .fixed(nanoseconds: 10_000_000)  // a chunk outlasts the reset's watchdog steps (5 ms)
    let rig = try WorkloadRig(o)
    defer { rig.runtime.shutdown() }
    let store = try #require(rig.store as? RamStore)
    let ext = rig.adapter.deviceExtension(as: NvmeExtension.self)
    let pool = StorRequestPool(count: 1, bufferBytes: 4096)
    let r = try #require(pool.take())
    // WRITE SAME(16) of 0xA5 over blocks 0…99: chunks of 32, 32, 32 and 4 blocks.
    r.setCdb([0x93, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0])
    r.direction = .dataOut
    r.dataTransferLength = 4096
    r.dataBuffer!.initializeMemory(as: UInt8.self, repeating: 0xA5, count: 4096)
    let done = Box(false)
    rig.adapter.submit(r) { _ in done.value = true }
    rig.runtime.runUntil(timeoutNanoseconds: 1_000_000_000) { store.isMapped(lba: 63) }
    #expect(store.isMapped(lba: 63) && !done.value, "two chunks should be written, the request still running")
    var marker = [UInt8](repeating: 0x11, count: 4096)
    try marker.withUnsafeMutableBytes {
      try store.write(lba: 0, count: 1, from: $0.baseAddress!, forceUnitAccess: false)
    }
    rig.adapter.resetBus()
    rig.runtime.runUntil(timeoutNanoseconds: 2_000_000_000) { done.value }
    #expect(done.value, "WRITE SAME not completed after the reset")
    #expect(r.srbStatus == .success, "\(r.srbStatus) \(String(describing: r.senseData))")
    // Positive control: a reset ran and sent the request back mid-range (BUSY, re-issued) —
    // from its queue's flush or from the chunk it found the queue down for.
    #expect(ext.resets.load() >= 1, "no controller reset")
    #expect(
      r.history.entries.contains { $0.event == .reissued },
      "the reset did not catch the WRITE SAME in flight: \(r.history) resets \(ext.resets.load())")
    var block = [UInt8](repeating: 0, count: 4096)
    for lba in [0, 1, 63, 64, 99, 100] as [UInt64] {
      try block.withUnsafeMutableBytes { try store.read(lba: lba, count: 1, into: $0.baseAddress!) }
      let expected: UInt8 = lba == 0 ? 0x11 : lba == 100 ? 0 : 0xA5
      #expect(block.allSatisfy { $0 == expected }, "block \(lba): \(block[0]), expected \(expected)")
    }
    #expect(rig.runtime.verifier.verdict.hasPrefix("PASS"), "\(rig.runtime.verifier.verdict)")
    pool.give(r)
  }

  /// WRITE ATOMIC(16) (SBC-4 §4.29): the NVMe sample offers it up to NAWUN (a whole transfer,
  /// which its controller runs atomically), refuses a longer one or an ATOMIC BOUNDARY; the RAM
  /// disk's logical unit does not offer it (INVALID COMMAND OPERATION CODE).
  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func writeAtomicWithinTheLimitWritesAndBeyondIsRefused(miniport: WorkloadOptions.MiniportKind) throws {
    let t = try Rig(miniport)
    defer { t.rig.runtime.shutdown() }
    func atomic(lba: UInt64, blocks: UInt16, boundary: UInt16 = 0) -> [UInt8] {
      [0x9C, 0] + (0..<8).map { UInt8(lba >> (56 - 8 * $0) & 0xFF) }
        + [UInt8(boundary >> 8), UInt8(boundary & 0xFF), UInt8(blocks >> 8), UInt8(blocks & 0xFF), 0, 0]
    }
    var limit = 0
    t.run(
      [0x12, 1, 0xB0, 0, 64, 0], .dataIn, 64,
      check: { r in
        limit = (44..<48).reduce(0) { $0 << 8 | Int(r.dataBuffer!.load(fromByteOffset: $1, as: UInt8.self)) }
      })
    guard miniport == .nvme else {
      #expect(limit == 0, "the RAM disk offers no atomic writes")
      t.run(
        atomic(lba: 0, blocks: 1), .dataOut, 4096,
        check: { r in #expect(r.senseData?.code == .invalidCommandOperationCode) })
      return
    }
    #expect(limit == 32, "NAWUN: one 128 KiB transfer of 4 KiB blocks")
    t.run(
      atomic(lba: 40, blocks: 4), .dataOut, 4 * 4096,
      fill: { $0.initializeMemory(as: UInt8.self, repeating: 0x6D, count: 4 * 4096) },
      check: { r in #expect(r.srbStatus == .success, "\(String(describing: r.senseData))") })
    #expect(t.read(lba: 40, blocks: 4).allSatisfy { $0 == 0x6D })
    t.run(
      atomic(lba: 40, blocks: UInt16(limit + 1)), .dataOut, (limit + 1) * 4096,
      check: { r in #expect(r.senseData?.code == .invalidFieldInCdb && r.senseData?.field == .cdb(12)) })
    t.run(
      atomic(lba: 40, blocks: 1, boundary: 1), .dataOut, 4096,
      check: { r in #expect(r.senseData?.code == .invalidFieldInCdb && r.senseData?.field == .cdb(10)) })
    #expect(t.rig.runtime.verifier.verdict.hasPrefix("PASS"), "\(t.rig.runtime.verifier.verdict)")
  }

  /// ORWRITE(16) (SBC-4 §5.21): each block becomes its old contents OR the data-out — in the
  /// NVMe sample a Read, the OR, and a fused Compare + Write (a compare-and-swap round).
  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func orWriteOrsTheDataIntoTheBlocks(miniport: WorkloadOptions.MiniportKind) throws {
    let t = try Rig(miniport)
    defer { t.rig.runtime.shutdown() }
    t.write(lba: 60, blocks: 3, byte: 0x0F)
    t.write(lba: 63, blocks: 1, byte: 0x33)
    let orWrite: [UInt8] = [0x8B, 0] + (0..<8).map { $0 == 7 ? 60 : 0 } + [0, 0, 0, 3, 0, 0]
    t.run(
      orWrite, .dataOut, 3 * 4096,
      fill: { $0.initializeMemory(as: UInt8.self, repeating: 0xA0, count: 3 * 4096) },
      check: { r in #expect(r.srbStatus == .success, "\(miniport): \(String(describing: r.senseData))") })
    #expect(t.read(lba: 60, blocks: 3).allSatisfy { $0 == 0xAF }, "\(miniport): 0x0F | 0xA0")
    #expect(t.read(lba: 63, blocks: 1).allSatisfy { $0 == 0x33 }, "\(miniport): the next block untouched")
    #expect(t.rig.runtime.verifier.verdict.hasPrefix("PASS"), "\(t.rig.runtime.verifier.verdict)")
  }
}
