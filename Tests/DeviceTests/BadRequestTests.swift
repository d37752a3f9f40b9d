import Storport
import StorportDevices
import StorportSCSI
import StorportSamples
import StorportWorkload
import Testing

/// Bad requests through the whole path (port → miniport → LU or controller) get the right
/// CHECK CONDITION and sense; nothing crashes and the adapter keeps serving.
@Suite struct BadRequestTests {
  struct Case {
    let name: String
    let cdb: [UInt8]
    let length: Int
    let direction: DataDirection
    let key: SenseKey
    let code: AdditionalSense
    let field: FieldPointer?
  }

  static let cases: [Case] = [
    Case(
      name: "unknown opcode", cdb: [0xC7, 0, 0, 0, 0, 0, 0, 0, 0, 0], length: 0, direction: .none,
      key: .illegalRequest, code: .invalidCommandOperationCode, field: .cdb(0)),
    Case(
      name: "LBA beyond the end", cdb: [0x28, 0, 0, 0, 0x01, 0x00, 0, 0, 1, 0], length: 4096,
      direction: .dataIn,
      key: .illegalRequest, code: .lbaOutOfRange, field: nil),
    Case(
      name: "transfer length larger than the buffer", cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 4, 0], length: 4096,
      direction: .dataIn, key: .illegalRequest, code: .invalidFieldInCdb, field: .cdb(7)),
    Case(
      name: "RDPROTECT without protection information", cdb: [0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0],
      length: 4096,
      direction: .dataIn, key: .illegalRequest, code: .invalidFieldInCdb, field: .cdb(1, bit: 7)),
    Case(
      name: "bad INQUIRY page", cdb: [0x12, 1, 0x77, 0, 255, 0], length: 255, direction: .dataIn,
      key: .illegalRequest, code: .invalidFieldInCdb, field: .cdb(2)),
    Case(
      name: "WRITE SAME with ANCHOR (no ANC_SUP)", cdb: [0x41, 0x10, 0, 0, 0, 0, 0, 0, 1, 0], length: 4096,
      direction: .dataOut, key: .illegalRequest, code: .invalidFieldInCdb, field: .cdb(1, bit: 4)),
    Case(
      name: "READ(10) with NACA (not supported)", cdb: [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0x04], length: 4096,
      direction: .dataIn, key: .illegalRequest, code: .invalidFieldInCdb, field: .cdb(9)),
    Case(
      name: "WRITE SAME of zero blocks (to the end) from past the end",
      cdb: [0x41, 0, 0, 0, 1, 0, 0, 0, 0, 0],
      length: 4096, direction: .dataOut, key: .illegalRequest, code: .lbaOutOfRange, field: nil),
  ]

  func rig(_ miniport: WorkloadOptions.MiniportKind) throws -> WorkloadRig {
    var o = WorkloadOptions()
    o.simulated = true
    o.miniport = miniport
    o.sizeBytes = 1 << 20  // 256 blocks of 4 KiB
    o.verifier = .checked(onViolation: .stopAdapter)
    return try WorkloadRig(o)
  }

  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func badRequestsGetCheckConditionWithSense(miniport: WorkloadOptions.MiniportKind) throws {
    let rig = try rig(miniport)
    defer { rig.runtime.shutdown() }
    let pool = StorRequestPool(count: 1, bufferBytes: 16384)
    for c in Self.cases {
      let r = pool.take()!
      r.setCdb(c.cdb)
      r.direction = c.direction
      r.dataTransferLength = UInt32(c.length)
      let done = Box(false)
      rig.adapter.submit(r) { _ in done.value = true }
      rig.runtime.runUntil(timeoutNanoseconds: 10_000_000) { done.value }
      #expect(done.value, "\(miniport) \(c.name): not completed")
      #expect(r.srbStatus == .error, "\(miniport) \(c.name): \(r.srbStatus)")
      #expect(r.scsiStatus == ScsiStatus.checkCondition.rawValue)
      let sense = r.senseData
      #expect(
        sense?.key == c.key && sense?.code == c.code, "\(miniport) \(c.name): \(String(describing: sense))")
      if let f = c.field {
        #expect(sense?.field == f, "\(miniport) \(c.name): field \(String(describing: sense?.field))")
      }
      pool.give(r)
    }
    // Still serving: a good read works afterwards.
    let r = pool.take()!
    r.setCdb([0x28, 0, 0, 0, 0, 7, 0, 0, 1, 0])
    r.direction = .dataIn
    r.dataTransferLength = 4096
    let done = Box(false)
    rig.adapter.submit(r) { _ in done.value = true }
    rig.runtime.runUntil(timeoutNanoseconds: 10_000_000) { done.value }
    #expect(r.srbStatus == .success)
    #expect(rig.runtime.verifier.verdict.hasPrefix("PASS"))
  }
}

/// SWP in the Control mode page (MODE SELECT) write-protects the LU until it is cleared, in
/// both sample miniports: WRITE(10) and WRITE SAME(10) are refused with DATA PROTECT / WRITE
/// PROTECTED, and a WRITE passes again once SWP is cleared.
@Suite struct SoftwareWriteProtectTests {
  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func swpRefusesWritesUntilCleared(miniport: WorkloadOptions.MiniportKind) throws {
    let rig = try BadRequestTests().rig(miniport)
    defer { rig.runtime.shutdown() }
    let pool = StorRequestPool(count: 1, bufferBytes: 16384)
    func run(_ cdb: [UInt8], _ direction: DataDirection, _ length: Int, fill: [UInt8] = []) -> StorRequest {
      let r = pool.take()!
      r.setCdb(cdb)
      r.direction = direction
      r.dataTransferLength = UInt32(length)
      for (i, b) in fill.enumerated() { r.dataBuffer!.storeBytes(of: b, toByteOffset: i, as: UInt8.self) }
      let done = Box(false)
      rig.adapter.submit(r) { _ in done.value = true }
      rig.runtime.runUntil(timeoutNanoseconds: 10_000_000) { done.value }
      pool.give(r)
      return r
    }
    // The Control page as it stands (MODE SENSE(6), page 0x0A), SWP then set and cleared.
    let sense = run([0x1A, 0x08, 0x0A, 0, 255, 0], .dataIn, 255)
    #expect(sense.srbStatus == .success || sense.srbStatus == .dataOverrunOrUnderrun, "a short MODE SENSE")
    let blockDescriptors = Int(sense.dataBuffer!.load(fromByteOffset: 3, as: UInt8.self))
    let page = (0..<12).map {
      sense.dataBuffer!.load(fromByteOffset: 4 + blockDescriptors + $0, as: UInt8.self)
    }
    #expect(page[0] & 0x3F == 0x0A && page[1] == 10)
    func select(swp: Bool) -> StorRequest {
      var p = page
      p[0] &= 0x3F  // PS is reserved in MODE SELECT
      p[4] = swp ? p[4] | 0x08 : p[4] & ~0x08
      return run([0x15, 0x10, 0, 0, UInt8(4 + p.count), 0], .dataOut, 4 + p.count, fill: [0, 0, 0, 0] + p)
    }
    let block = [UInt8](repeating: 0, count: 4096)
    #expect(select(swp: true).srbStatus == .success)
    for (name, cdb) in [
      ("WRITE(10)", [0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0] as [UInt8]),
      ("WRITE SAME(10)", [0x41, 0, 0, 0, 0, 3, 0, 0, 1, 0]),
    ] {
      let r = run(cdb, .dataOut, 4096, fill: block)
      #expect(
        r.senseData?.key == .dataProtect && r.senseData?.code == .writeProtected,
        "\(miniport) \(name) under SWP: \(String(describing: r.senseData))")
    }
    #expect(select(swp: false).srbStatus == .success)
    #expect(run([0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0], .dataOut, 4096, fill: block).srbStatus == .success)
    // A unit START STOP UNIT stopped answers block commands NOT READY (the NVMe sample used to
    // run them), until it is started again.
    #expect(run([0x1B, 0, 0, 0, 0x00, 0], .none, 0).srbStatus == .success)
    for (name, cdb, direction) in [
      ("READ(10)", [0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0] as [UInt8], DataDirection.dataIn),
      ("WRITE(10)", [0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0], .dataOut),
      ("WRITE SAME(10)", [0x41, 0, 0, 0, 0, 3, 0, 0, 1, 0], .dataOut),
    ] {
      let r = run(cdb, direction, 4096, fill: block)
      #expect(
        r.senseData?.key == .notReady && r.senseData?.code == .notReadyInitializingRequired,
        "\(miniport) \(name) on a stopped unit: \(String(describing: r.senseData))")
    }
    #expect(run([0x1B, 0, 0, 0, 0x01, 0], .none, 0).srbStatus == .success)
    #expect(run([0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0], .dataIn, 4096).srbStatus == .success)
    #expect(rig.runtime.verifier.verdict.hasPrefix("PASS"))
  }
}

final class Box<T>: @unchecked Sendable {
  var value: T
  init(_ v: T) { value = v }
}

/// `--readonly` (WorkloadOptions.readOnly) write-protects the disk in both sample miniports:
/// the RAM store refuses changes, the NVMe namespace reports itself write-protected (NSATTR),
/// and the logical unit answers writes with DATA PROTECT / WRITE PROTECTED and sets WP in
/// MODE SENSE, while reads go on.
@Suite struct ReadOnlyDiskTests {
  @Test(arguments: [WorkloadOptions.MiniportKind.ramdisk, .nvme])
  func writesAreRefusedAndReadsWork(miniport: WorkloadOptions.MiniportKind) throws {
    var o = WorkloadOptions()
    o.simulated = true
    o.miniport = miniport
    o.sizeBytes = 1 << 20
    o.readOnly = true
    o.pattern = .randread
    o.verifier = .checked(onViolation: .stopAdapter)
    let rig = try WorkloadRig(o)
    defer { rig.runtime.shutdown() }
    let pool = StorRequestPool(count: 1, bufferBytes: 16384)
    func run(_ cdb: [UInt8], _ direction: DataDirection, _ length: Int) -> (SrbStatus, SenseData?, [UInt8]) {
      let r = pool.take()!
      defer { pool.give(r) }
      r.setCdb(cdb)
      r.direction = direction
      r.dataTransferLength = UInt32(length)
      let done = Box(false)
      rig.adapter.submit(r) { _ in done.value = true }
      rig.runtime.runUntil(timeoutNanoseconds: 10_000_000) { done.value }
      #expect(done.value)
      return (
        r.srbStatus, r.senseData, Array(UnsafeRawBufferPointer(start: r.dataBuffer!, count: min(length, 16)))
      )
    }
    let write = run([0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0], .dataOut, 4096)
    #expect(
      write.1?.key == .dataProtect && write.1?.code == .writeProtected,
      "\(miniport): \(String(describing: write.1))")
    let writeSame = run([0x41, 0, 0, 0, 0, 3, 0, 0, 2, 0], .dataOut, 4096)
    #expect(writeSame.1?.key == .dataProtect, "\(miniport): WRITE SAME \(String(describing: writeSame.1))")
    let sense = run([0x1A, 0x08, 0x3F, 0, 255, 0], .dataIn, 255)
    #expect(sense.2[2] & 0x80 != 0, "\(miniport): MODE SENSE WP bit")
    let read = run([0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0], .dataIn, 4096)
    #expect(read.0 == .success, "\(miniport): a read of a read-only disk")
    #expect(rig.runtime.verifier.verdict.hasPrefix("PASS"))
  }
}
