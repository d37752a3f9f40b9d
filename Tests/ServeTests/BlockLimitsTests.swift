import Foundation
import Storport
import Testing

@testable import StorportServe

/// The Block Limits VPD page an initiator reads says what the target accepts in one command
/// (SBC-4 §6.6.4 MAXIMUM TRANSFER LENGTH): the front end splits READ and WRITE above the
/// miniport's MaximumTransferLength, so the page gives the front end's limit, not the
/// miniport's; a command above it is refused, one at it runs.
@Suite(.serialized) struct BlockLimitsTests {
  let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
  static let inquiryBlockLimits: [UInt8] = [0x12, 0x01, 0xB0, 0x00, 0x40, 0x00]

  static func be32(_ p: [UInt8], _ at: Int) -> UInt32 {
    (UInt32(p[at]) << 24) | (UInt32(p[at + 1]) << 16) | (UInt32(p[at + 2]) << 8) | UInt32(p[at + 3])
  }

  static func cdbBytes(_ value: UInt32) -> [UInt8] {
    (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * UInt32($0))) }
  }

  /// The page as the miniport's LU answers it, the request sent to the adapter directly.
  func miniportsPage(_ t: LoopbackTarget) throws -> [UInt8] {
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 8)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 64)
    let r = StorRequest()
    r.setCdb(Self.inquiryBlockLimits)
    r.direction = .dataIn
    r.dataBuffer = buffer
    r.dataTransferLength = 64
    let done = DispatchSemaphore(value: 0)
    t.rig.adapter.submit(r) { _ in done.signal() }
    try #require(done.wait(timeout: .now() + 10) == .success, "INQUIRY not completed")
    try #require(r.srbStatus == .success)
    return Array(UnsafeRawBufferPointer(start: buffer, count: 64))
  }

  @Test func thePageGivesTheTargetsLimitAndTheTargetHoldsToIt() throws {
    let t = try LoopbackTarget()
    let bs = t.disk.blockSize
    let miniportBlocks = UInt32(t.disk.maximumTransferBytes / bs)
    let targetBlocks = UInt32(AdapterDisk.largestCommandBytes / bs)
    // Positive control: the miniport's own page says its smaller limit (so a rewrite is seen).
    let own = try miniportsPage(t)
    #expect(own[1] == 0xB0 && Self.be32(own, 8) == miniportBlocks)
    #expect(miniportBlocks < targetBlocks, "the fixture's miniport limit is below the target's")

    let c = try NBDTestClient(port: t.port)
    c.send(framing.encode(Initiator.normalLogin))
    try #require(c.receivePDU().count >= 48, "login")
    c.send(
      framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: Self.inquiryBlockLimits, read: true, edtl: 64)))
    let answer = c.receivePDU()
    try #require(answer.count >= 48 + 20 && answer[0] & 0x3F == 0x25, "Data-In")
    let page = Array(answer[48...])
    #expect(page[1] == 0xB0)
    #expect(Self.be32(page, 8) == targetBlocks, "MAXIMUM TRANSFER LENGTH: the target's")
    #expect(Self.be32(page, 12) == miniportBlocks, "OPTIMAL TRANSFER LENGTH: one request's")
    #expect(Array(page[20...]) == Array(own[20...]), "the rest of the page is the miniport's")

    // A READ of four of the miniport's transfers (over its limit, within the target's) runs.
    let four = 4 * miniportBlocks
    let read16: ([UInt8]) -> [UInt8] = { [0x88, 0] + [UInt8](repeating: 0, count: 8) + $0 + [0, 0] }
    c.send(
      framing.encode(
        Initiator.command(
          itt: 2, cmdSN: 2, cdb: read16(Self.cdbBytes(four)), read: true, edtl: Int(four) * bs)))
    var got = 0
    var status: UInt8?
    while status == nil {
      let p = c.receivePDU()
      guard p.count >= 48 else { break }
      got += p.count - 48
      if p[0] & 0x3F == 0x21 || p[1] & 0x01 != 0 { status = p[3] }
    }
    #expect(status == 0 && got == Int(four) * bs, "a READ within the advertised limit is GOOD")
    // One block more than the advertised limit: refused (INVALID FIELD IN CDB), nothing read.
    let over = targetBlocks + 1
    c.send(
      framing.encode(
        Initiator.command(
          itt: 3, cmdSN: 3, cdb: read16(Self.cdbBytes(over)), read: true, edtl: Int(over) * bs)))
    let refused = c.receivePDU()
    #expect(refused.count > 48 && refused[0] & 0x3F == 0x21 && refused[3] == 0x02, "CHECK CONDITION")
    #expect(refused.count >= 50 + 14 && refused[50 + 2] & 0x0F == 0x05 && refused[50 + 12] == 0x24)
  }
}
