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
      name: "WRITE SAME with zero blocks", cdb: [0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0], length: 4096,
      direction: .dataOut, key: .illegalRequest, code: .invalidFieldInCdb, field: .cdb(7)),
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

final class Box<T>: @unchecked Sendable {
  var value: T
  init(_ v: T) { value = v }
}
