import Foundation
import Testing

@testable import StorportServe

/// A block command whose iSCSI R / W bits contradict its CDB touches no data it was not given:
/// a WRITE sent as a read is refused (CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN CDB);
/// a READ sent with Data-Out runs and writes nothing (GOOD, as libiscsi's Read10.Invalid expects).
@Suite(.serialized) struct DataDirectionTests {
  let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)

  func loggedIn(_ t: LoopbackTarget) throws -> NBDTestClient {
    let c = try NBDTestClient(port: t.port)
    c.send(framing.encode(Initiator.normalLogin))
    try #require(c.receivePDU().count >= 48, "login")
    return c
  }

  /// READ(10) of block 3 (ITT/CmdSN `n`): its data, or nil.
  func readBlock3(_ c: NBDTestClient, _ bs: Int, n: UInt32) -> [UInt8]? {
    c.send(
      framing.encode(
        Initiator.command(itt: n, cmdSN: n, cdb: [0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0], read: true, edtl: bs)))
    let r = c.receivePDU()
    return r.count == 48 + bs && r[0] & 0x3F == 0x25 ? Array(r[48...]) : nil
  }

  @Test func aWriteSentWithTheReadBitIsRefusedAndWritesNothing() throws {
    let t = try LoopbackTarget()
    let c = try loggedIn(t)
    let bs = t.disk.blockSize
    let pattern = [UInt8](repeating: 0xA5, count: bs)
    let write: [UInt8] = [0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0]
    c.send(
      framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: write, write: true, edtl: bs, data: pattern)))
    let written = c.receivePDU()
    #expect(written.count >= 48 && written[0] & 0x3F == 0x21 && written[3] == 0, "positive control: written")
    #expect(readBlock3(c, bs, n: 2) == pattern)
    // The same WRITE, its R bit set instead of W (no data to send).
    c.send(framing.encode(Initiator.command(itt: 3, cmdSN: 3, cdb: write, read: true, edtl: bs)))
    let refused = c.receivePDU()
    #expect(refused.count > 48 && refused[0] & 0x3F == 0x21 && refused[3] == 0x02, "CHECK CONDITION")
    #expect(refused.count >= 48 + 2 + 14 && refused[50 + 2] & 0x0F == 0x05 && refused[50 + 12] == 0x24)
    #expect(readBlock3(c, bs, n: 4) == pattern, "the block keeps its data")
  }

  @Test func aReadSentWithDataOutRunsAndWritesNothing() throws {
    let t = try LoopbackTarget()
    let c = try loggedIn(t)
    let bs = t.disk.blockSize
    let before = try #require(readBlock3(c, bs, n: 1))
    let sent = [UInt8](repeating: before[0] ^ 0xFF, count: bs)
    let read16: [UInt8] = [0x88, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0]
    c.send(
      framing.encode(Initiator.command(itt: 2, cmdSN: 2, cdb: read16, write: true, edtl: bs, data: sent)))
    let answer = c.receivePDU()
    #expect(answer.count >= 48 && answer[0] & 0x3F == 0x21 && answer[3] == 0, "GOOD")
    #expect(answer.count >= 48 && answer[1] & 0x06 == 0x02, "residual underflow: the Data-Out went unused")
    #expect(answer.count >= 48 && NBDTestClient.read32(answer, 44) == UInt32(bs), "all of EDTL")
    #expect(readBlock3(c, bs, n: 3) == before, "the Data-Out was not written")
    // Positive control: the same data sent with a WRITE(16) of block 3 lands, and is seen.
    let write16: [UInt8] = [0x8A, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0]
    c.send(
      framing.encode(Initiator.command(itt: 4, cmdSN: 4, cdb: write16, write: true, edtl: bs, data: sent)))
    #expect(c.receivePDU().count >= 48)
    #expect(readBlock3(c, bs, n: 5) == sent)
  }
}

extension DataDirectionTests {
  /// COMPARE AND WRITE (not a block-range command) sent with the R bit is refused too: it ran
  /// on an empty buffer — GOOD and 8 KiB of zeroes as Data-In on blank blocks (a trial's
  /// finding).
  @Test func compareAndWriteSentWithTheReadBitIsRefused() throws {
    let t = try LoopbackTarget()
    let c = try loggedIn(t)
    let bs = t.disk.blockSize
    var cdb = [UInt8](repeating: 0, count: 16)
    cdb[0] = 0x89
    cdb[9] = 3  // LBA 3
    cdb[13] = 1  // one block: verify instance + write instance
    c.send(framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: cdb, read: true, edtl: 2 * bs)))
    let refused = c.receivePDU()
    #expect(refused.count > 48 && refused[0] & 0x3F == 0x21 && refused[3] == 0x02, "CHECK CONDITION")
    #expect(refused.count >= 48 + 2 + 14 && refused[50 + 2] & 0x0F == 0x05 && refused[50 + 12] == 0x24)
  }

  /// A READ naming far more than its EDTL reads only what EDTL covers (memory follows EDTL:
  /// 64 reads of 16 MiB with an EDTL of 4 KiB took a gigabyte of the server's memory), and the
  /// answer is what it was: the first EDTL bytes, GOOD, the rest as overflow residual.
  @Test func aReadNamingMoreThanItsEDTLAnswersTheFirstBytesWithOverflow() throws {
    let t = try LoopbackTarget()
    let c = try loggedIn(t)
    let bs = t.disk.blockSize
    let pattern = (0..<bs).map { UInt8(truncatingIfNeeded: $0 &* 7) }
    c.send(
      framing.encode(
        Initiator.command(
          itt: 1, cmdSN: 1, cdb: [0x2A, 0, 0, 0, 0, 3, 0, 0, 1, 0], write: true, edtl: bs, data: pattern)))
    try #require(c.receivePDU().count >= 48)
    let blocks = UInt32(t.disk.blockCount - 3)
    let read16: [UInt8] =
      [0x88, 0, 0, 0, 0, 0, 0, 0, 0, 3] + (0..<4).map { UInt8(truncatingIfNeeded: blocks >> (24 - 8 * $0)) }
      + [0, 0]
    let requests = { t.rig.adapter.statistics.completedRequests }
    let before = requests()
    c.send(framing.encode(Initiator.command(itt: 2, cmdSN: 2, cdb: read16, read: true, edtl: bs)))
    let r = c.receivePDU()
    #expect(r.count == 48 + bs && r[0] & 0x3F == 0x25 && r[1] & 0x01 != 0 && r[3] == 0, "Data-In, GOOD")
    #expect(r.count == 48 + bs && Array(r[48...]) == pattern, "the first block's data")
    #expect(r.count >= 48 && r[1] & 0x06 == 0x04, "residual overflow")
    #expect(r.count >= 48 && NBDTestClient.read32(r, 44) == (blocks - 1) * UInt32(bs))
    #expect(requests() - before == 1, "one request of one block, not the CDB's megabytes")
    // Positive control: the same READ expecting all its bytes goes as the miniport's pieces.
    let whole = Int(blocks) * bs
    let mid = requests()
    c.send(framing.encode(Initiator.command(itt: 3, cmdSN: 3, cdb: read16, read: true, edtl: whole)))
    var got = 0
    while got < whole {
      let p = c.receivePDU()
      guard p.count > 48 else { break }
      got += p.count - 48
    }
    #expect(got == whole)
    #expect(
      requests() - mid == UInt64((whole + t.disk.maximumTransferBytes - 1) / t.disk.maximumTransferBytes))
    #expect(requests() - mid > 1, "the control splits into several requests")
  }
}

extension DataDirectionTests {
  /// A READ cut to its EDTL keeps the whole command's answers: a range past the end is LBA OUT
  /// OF RANGE with the LBA as INFORMATION, as the LU gives it; an EDTL that is not a whole block
  /// gets those bytes and the rest as overflow.
  @Test func aReadCutToItsEDTLKeepsTheWholeCommandsAnswers() throws {
    let t = try LoopbackTarget()
    let c = try loggedIn(t)
    let bs = t.disk.blockSize
    let last = UInt32(t.disk.blockCount - 1)
    let lba = (0..<4).map { UInt8(truncatingIfNeeded: last >> (24 - 8 * $0)) }
    // Two blocks from the last one: past the end, though the EDTL (one block) is not.
    c.send(
      framing.encode(
        Initiator.command(itt: 1, cmdSN: 1, cdb: [0x28, 0] + lba + [0, 0, 2, 0], read: true, edtl: bs)))
    let past = c.receivePDU()
    #expect(past.count > 48 + 15 && past[3] == 0x02 && past[50 + 2] & 0x0F == 0x05 && past[50 + 12] == 0x21)
    #expect(
      past.count > 48 + 15 && past[50] & 0x80 != 0 && Array(past[53...56]) == lba, "VALID, INFORMATION = LBA")
    // Positive control: the same read of one block is in range.
    c.send(
      framing.encode(
        Initiator.command(itt: 2, cmdSN: 2, cdb: [0x28, 0] + lba + [0, 0, 1, 0], read: true, edtl: bs)))
    let one = c.receivePDU()
    #expect(one.count == 48 + bs && one[0] & 0x3F == 0x25 && one[3] == 0)
    // 200 bytes of a two-block read: 200 bytes back, the rest as overflow.
    c.send(
      framing.encode(
        Initiator.command(itt: 3, cmdSN: 3, cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 2, 0], read: true, edtl: 200)))
    let r = c.receivePDU()
    #expect(r.count == 48 + 200 && r[0] & 0x3F == 0x25 && r[3] == 0 && r[1] & 0x06 == 0x04)
    #expect(r.count >= 48 && NBDTestClient.read32(r, 44) == UInt32(2 * bs - 200))
  }
}
