import Foundation
import Storport
import Testing

@testable import StorportServe

/// The fields of an answer that describe the target, not the miniport (``TargetOwnedField``):
/// the Block Limits page's MAXIMUM TRANSFER LENGTH is the target's (it splits READ and WRITE
/// above the miniport's MaximumTransferLength) and the target holds commands to it; the Control
/// mode page's TAS bit is one (another nexus's reset ends tasks with TASK ABORTED).
@Suite(.serialized) struct TargetOwnedFieldsTests {
  let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
  static let inquiryBlockLimits: [UInt8] = [0x12, 0x01, 0xB0, 0x00, 0x40, 0x00]

  static func be32(_ p: [UInt8], _ at: Int) -> UInt32 {
    (UInt32(p[at]) << 24) | (UInt32(p[at + 1]) << 16) | (UInt32(p[at + 2]) << 8) | UInt32(p[at + 3])
  }

  static func cdbBytes(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }
  }

  /// The answer of the miniport's LU to `cdb`, the request sent to the adapter directly.
  func miniports(_ t: LoopbackTarget, _ cdb: [UInt8], bytes: Int = 64) throws -> [UInt8] {
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 8)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
    let r = StorRequest()
    r.setCdb(cdb)
    r.direction = .dataIn
    r.dataBuffer = buffer
    r.dataTransferLength = UInt32(bytes)
    let done = DispatchSemaphore(value: 0)
    t.rig.adapter.submit(r) { _ in done.signal() }
    try #require(done.wait(timeout: .now() + 10) == .success, "not completed")
    // A short answer (its data under the buffer) is DATA_OVERRUN with the bytes moved.
    try #require(r.srbStatus == .success || r.srbStatus == .dataOverrunOrUnderrun)
    return Array(UnsafeRawBufferPointer(start: buffer, count: Int(r.dataTransferLength)))
  }

  /// The answer through the front end's disk (`AdapterDisk.execute`), as an initiator gets it.
  func targets(_ t: LoopbackTarget, _ cdb: [UInt8], bytes: Int = 64) throws -> [UInt8] {
    let done = DispatchSemaphore(value: 0)
    let result = Locked<AdapterDisk.ScsiOutcome?>(nil)
    t.disk.execute(cdb: cdb, dataOut: [], dataInLength: bytes) { outcome in
      result.withLock { $0 = outcome }
      done.signal()
    }
    try #require(done.wait(timeout: .now() + 10) == .success, "not completed")
    let outcome = try #require(result.withLock { $0 })
    try #require(outcome.status == 0)
    return outcome.data.bytes
  }

  @Test func theBlockLimitsPageGivesTheTargetsLimit() throws {
    let t = try LoopbackTarget()
    let bs = t.disk.blockSize
    let miniportBlocks = UInt32(t.disk.maximumTransferBytes / bs)
    let targetBlocks = UInt32(AdapterDisk.largestCommandBytes / bs)
    // Positive control: the miniport's own page says its smaller limit (so a rewrite is seen).
    let own = try miniports(t, Self.inquiryBlockLimits)
    #expect(own[1] == 0xB0 && Self.be32(own, 8) == miniportBlocks)
    #expect(miniportBlocks < targetBlocks, "the fixture's miniport limit is below the target's")
    let page = try targets(t, Self.inquiryBlockLimits)
    #expect(Self.be32(page, 8) == targetBlocks, "MAXIMUM TRANSFER LENGTH: the target's")
    #expect(Self.be32(page, 12) == miniportBlocks, "OPTIMAL TRANSFER LENGTH: one request's")
    #expect(
      Array(page[20...]) == Array(own[20...]) && Array(page[..<8]) == Array(own[..<8]),
      "the rest: the miniport's")
    // An allocation length that cuts the field: its first bytes are the target's.
    var cut = Self.inquiryBlockLimits
    cut[4] = 11
    let short = try targets(t, cut, bytes: 11)
    #expect(short.count == 11 && Array(short[8..<11]) == Array(Self.cdbBytes(targetBlocks)[0..<3]))
    #expect(Array(own[8..<11]) != Array(Self.cdbBytes(targetBlocks)[0..<3]), "control: they differ")
  }

  @Test func theControlModePageSaysTSTAndTAS() throws {
    let t = try LoopbackTarget()
    // MODE SENSE(10), every page, with the block descriptor (so the page walk must skip it);
    // MODE SENSE(6) of the Control page alone, current and changeable values.
    let all10: [UInt8] = [0x5A, 0x00, 0x3F, 0, 0, 0, 0, 0x01, 0x00, 0]
    let control6 = { (pc: UInt8) -> [UInt8] in [0x1A, 0x08, pc << 6 | 0x0A, 0, 0xFF, 0] }
    /// The Control page's TST field and TAS bit in a MODE SENSE answer.
    func fields(_ answer: [UInt8], ten: Bool) -> (tst: UInt8, tas: Bool)? {
      var at = ten ? 8 + (Int(answer[6]) << 8 | Int(answer[7])) : 4 + Int(answer[3])
      while at + 5 < answer.count {
        if answer[at] & 0x3F == 0x0A { return (answer[at + 2] >> 5, answer[at + 5] & 0x40 != 0) }
        at += 2 + Int(answer[at + 1])
      }
      return nil
    }
    let lu = try #require(fields(try miniports(t, all10, bytes: 256), ten: true))
    #expect(lu.tst == 0 && !lu.tas, "control: the LU says one task set, TAS zero")
    let target = try #require(fields(try targets(t, all10, bytes: 256), ten: true))
    #expect(target.tst == 1 && target.tas, "the target: a task set per I_T nexus, TAS one")
    #expect(fields(try targets(t, control6(0), bytes: 255), ten: false).map { $0.tst == 1 && $0.tas } == true)
    let defaults = fields(try targets(t, control6(2), bytes: 255), ten: false)
    #expect(defaults.map { $0.tst == 1 && $0.tas } == true, "default values too")
    let changeable = fields(try targets(t, control6(1), bytes: 255), ten: false)
    #expect(changeable.map { $0.tst == 0 && !$0.tas } == true, "neither is changeable")
    // Cut by the allocation length (MODE SENSE(6), DBD: the page at byte 4): 7 bytes hold TST
    // (page byte 2) but not TAS (page byte 5), 6 neither — nothing past the cut is written.
    var cut6 = control6(0)
    cut6[4] = 7
    let seven = try targets(t, cut6, bytes: 7)
    #expect(seven.count == 7 && seven[4 + 2] >> 5 == 1, "TST within the cut")
    cut6[4] = 6
    let six = try targets(t, cut6, bytes: 6)
    let sixOwn = try miniports(t, cut6, bytes: 6)
    #expect(six.count == 6 && six == sixOwn, "nothing rewritten")
  }

  /// MODE SELECT of the Control page through the target (SPC-4 §6.11): the page as MODE SENSE
  /// gives it (TST 001b, TAS one) sent back with D_SENSE flipped is accepted and applies; TAS
  /// zero or TST 000b — changes of fields that are not changeable — are refused with INVALID
  /// FIELD IN PARAMETER LIST and change nothing. (Passed to the LU unchanged, the page read back
  /// would have been refused by the LU's own check: the target's values are not the LU's.)
  @Test func modeSelectOfTheControlPageKeepsTSTAndTAS() throws {
    let t = try LoopbackTarget()
    let sense6: [UInt8] = [0x1A, 0x08, 0x0A, 0, 0xFF, 0]
    func select(_ list: [UInt8]) throws -> AdapterDisk.ScsiOutcome {
      let done = DispatchSemaphore(value: 0)
      let result = Locked<AdapterDisk.ScsiOutcome?>(nil)
      t.disk.execute(cdb: [0x15, 0x10, 0, 0, UInt8(list.count), 0], dataOut: list, dataInLength: 0) {
        outcome in
        result.withLock { $0 = outcome }
        done.signal()
      }
      try #require(done.wait(timeout: .now() + 10) == .success, "not completed")
      return try #require(result.withLock { $0 })
    }
    func isInvalidFieldInParameterList(_ o: AdapterDisk.ScsiOutcome) -> Bool {
      o.status == 0x02 && o.sense.count >= 14 && o.sense[2] & 0x0F == 0x05 && o.sense[12] == 0x26
    }
    let answer = try targets(t, sense6, bytes: 255)
    let page = Array(answer[4..<(4 + 2 + Int(answer[5]))])
    #expect(page[0] == 0x0A && page[2] >> 5 == 1 && page[5] & 0x40 != 0, "read: TST 001b, TAS one")
    #expect(page[2] & 0x04 == 0, "D_SENSE off to begin")
    var tasOff = page
    tasOff[5] &= ~0x40
    tasOff[2] |= 0x04
    #expect(isInvalidFieldInParameterList(try select([0, 0, 0, 0] + tasOff)), "TAS zero")
    var tstOne = page
    tstOne[2] = tstOne[2] & 0x1F | 0x04
    #expect(isInvalidFieldInParameterList(try select([0, 0, 0, 0] + tstOne)), "TST 000b")
    #expect(try targets(t, sense6, bytes: 255)[4 + 2] & 0x04 == 0, "nothing applied")
    // Control: the page as read, D_SENSE flipped on, is accepted and applies.
    var dSense = page
    dSense[2] |= 0x04
    let accepted = try select([0, 0, 0, 0] + dSense)
    #expect(accepted.status == 0, "the page as read: \(accepted.sense)")
    let after = try targets(t, sense6, bytes: 255)
    #expect(after[4 + 2] & 0x04 != 0 && after[4 + 2] >> 5 == 1 && after[4 + 5] & 0x40 != 0)
  }

  /// A block command naming more than the advertised MAXIMUM TRANSFER LENGTH is refused
  /// (INVALID FIELD IN CDB) whatever its EDTL, READ and WRITE alike, and nothing is written;
  /// one at the limit runs (the CDB's blocks above EDTL are the residual).
  @Test func commandsAboveTheLimitAreRefusedAndAtTheLimitRun() throws {
    let t = try LoopbackTarget(sizeBytes: 32 << 20)
    let bs = t.disk.blockSize
    let limit = UInt32(AdapterDisk.largestCommandBytes / bs)
    let c = try NBDTestClient(port: t.port)
    c.send(framing.encode(Initiator.normalLogin))
    try #require(c.receivePDU().count >= 48, "login")
    let read16 = { (n: UInt32) -> [UInt8] in
      [0x88, 0] + [UInt8](repeating: 0, count: 8) + Self.cdbBytes(n) + [0, 0]
    }
    let write16 = { (n: UInt32) -> [UInt8] in
      [0x8A, 0] + [UInt8](repeating: 0, count: 8) + Self.cdbBytes(n) + [0, 0]
    }
    let block = [UInt8](repeating: 0x6B, count: bs)
    var itt: UInt32 = 0
    func send(_ cdb: [UInt8], write: Bool) -> [UInt8] {
      itt += 1
      c.send(
        framing.encode(
          Initiator.command(
            itt: itt, cmdSN: itt, cdb: cdb, read: !write, write: write, edtl: bs, data: write ? block : [])))
      return c.receivePDU()
    }
    func refused(_ r: [UInt8]) -> Bool {
      r.count >= 50 + 14 && r[0] & 0x3F == 0x21 && r[3] == 0x02 && r[50 + 2] & 0x0F == 0x05
        && r[50 + 12] == 0x24
    }
    // At the limit: GOOD, the CDB's blocks beyond EDTL the overflow residual.
    let read = send(read16(limit), write: false)
    #expect(read.count >= 48 && read[3] == 0 && read[1] & 0x04 != 0, "READ at the limit: GOOD, overflow")
    let written = send(write16(limit), write: true)
    #expect(written.count >= 48 && written[3] == 0 && written[1] & 0x04 != 0, "WRITE at the limit: GOOD")
    #expect(Array(send(read16(1), write: false).dropFirst(48)) == block, "its first block landed")
    // One block more: refused, and the WRITE writes nothing.
    #expect(refused(send(read16(limit + 1), write: false)), "READ over the limit")
    let before = Array(send(read16(1), write: false).dropFirst(48))
    var changed = block
    changed[0] ^= 0xFF
    itt += 1
    c.send(
      framing.encode(
        Initiator.command(itt: itt, cmdSN: itt, cdb: write16(limit + 1), write: true, edtl: bs, data: changed)
      ))
    #expect(refused(c.receivePDU()), "WRITE over the limit")
    #expect(Array(send(read16(1), write: false).dropFirst(48)) == before, "nothing written")
  }
}
