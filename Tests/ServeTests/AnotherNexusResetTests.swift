import Foundation
import Storport
import Testing

@testable import StorportServe

/// A LOGICAL UNIT RESET or target reset aborts every task of the LU, the other I_T nexuses'
/// included (SAM-5 §7.7, §5.6): with the Control mode page's TAS bit one, each of another
/// nexus's aborted tasks ends with TASK ABORTED status — a running one when it leaves the
/// adapter (its result dropped), a write waiting for data (never executed; the rest of its
/// burst discarded) and a command waiting for bytes at once. The resetting nexus's own end
/// unanswered.
@Suite struct AnotherNexusResetTests {
  typealias M = MultipleConnections

  /// The responses among `events`: task tag → status.
  static func statuses(_ events: [ISCSIConnection.Event]) -> [UInt32: UInt8] {
    var out: [UInt32: UInt8] = [:]
    for p in Initiator.sent(events)
    where p.opcode == .scsiResponse || (p.opcode == .scsiDataIn && p.flags & 0x01 != 0) {
      out[p.initiatorTaskTag] = p.header[3]
    }
    return out
  }

  @Test func anotherNexusResetEndsRunningAndWaitingTasksWithTaskAborted() throws {
    var (c, tasks) = try ISCSIConnectionTests.fullOfBytes()
    let block = DataIn([UInt8](repeating: 0x61, count: 4096))
    // A reset of another LU (1) touches none of LUN 0's tasks: the control — read 4 ends GOOD
    // with its data, and read 5, which waited for the bytes, starts.
    #expect(c.abort(1, by: .anotherNexus).events.isEmpty)
    #expect(c.receive(Initiator.bytes(ISCSIConnectionTests.read16MiB(itt: 5, cmdSN: 5))).isEmpty, "5 waits")
    let control = c.complete(tasks[3], ISCSITaskResult(status: 0, dataIn: block))
    #expect(Self.statuses(control) == [4: 0], "GOOD")
    #expect(Initiator.sent(control).contains { $0.opcode == .scsiDataIn && !$0.data.isEmpty }, "with data")
    #expect(M.executed(control) == [5])
    // 6 waits for bytes; this nexus aborts 2 itself (ABORT TASK: answered once 2 ends).
    #expect(c.receive(Initiator.bytes(ISCSIConnectionTests.read16MiB(itt: 6, cmdSN: 6))).isEmpty)
    let own = c.receive(
      Initiator.bytes(Initiator.taskManagement(1, itt: 50, cmdSN: 7, referenced: 2, refCmdSN: 2)))
    #expect(Initiator.sent(own).isEmpty, "held until 2 ends")

    // Another nexus resets LUN 0: the waiting 6 is answered at once and never starts; its
    // StatSN is the next, and its slot is free (MaxCmdSN one up).
    let (statSN, maxCmdSN) = (c.statSN, c.maxCmdSN)
    let now = c.abort(0, by: .anotherNexus).events
    #expect(Self.statuses(now) == [6: 0x40], "TASK ABORTED")
    #expect(M.executed(now).isEmpty && c.waitingForBytes.isEmpty && c.session.waitingForBytes == 0)
    let six = Initiator.sent(now).first
    #expect(six?.be32(24) == statSN && c.statSN == statSN &+ 1, "StatSN in order")
    #expect(c.maxCmdSN == maxCmdSN &+ 1 && six?.be32(32) == c.maxCmdSN, "the window opens by 6's slot")
    let mib16 = ISCSIConnection.maximumTransferBytes
    #expect(c.session.outstandingBytes == 4 * mib16, "1, 2, 3 and 5 hold their bytes; 6 held none")
    // Running 1 ends GOOD with data in the adapter: TASK ABORTED, no Data-In; its bytes free.
    let one = c.complete(tasks[0], ISCSITaskResult(status: 0, dataIn: block))
    #expect(Self.statuses(one) == [1: 0x40])
    #expect(c.session.outstandingBytes == 3 * mib16)
    #expect(
      Initiator.sent(one).allSatisfy { $0.opcode == .scsiResponse && $0.data.isEmpty }, "no data, no sense")
    // 2, which this nexus aborted, stays unanswered; its ABORT TASK is answered.
    let two = Initiator.sent(c.complete(tasks[1], ISCSITaskResult(status: 0, dataIn: block)))
    #expect(two.map(\.opcode) == [.taskManagementResponse] && two.first?.initiatorTaskTag == 50)
    #expect(c.running.count == 2 && c.running.values.allSatisfy { $0.aborted == .anotherNexus }, "3 and 5")
    // A command that comes after the reset (CmdSN 7: the ABORT TASK was immediate) is not
    // touched by it.
    #expect(M.executed(c.receive(Initiator.bytes(ISCSIConnectionTests.read16MiB(itt: 7, cmdSN: 7)))) == [7])
    #expect(c.running[7] != nil && c.running[7]?.aborted == nil)
    #expect(Self.statuses(c.complete(tasks[2], ISCSITaskResult(status: 0))) == [3: 0x40])
  }

  /// A write waiting for its data is answered TASK ABORTED at once and never runs; the Data-Out
  /// of the burst its R2T asked for is discarded as it comes (no Reject) — and so is that of a
  /// write this nexus aborted itself (ABORT TASK), which gets no response.
  @Test func aWriteWaitingForDataIsAnsweredAtOnceAndItsBurstIsDiscarded() throws {
    let write: [UInt8] = [0x2A, 0, 0, 0, 0, 3, 0, 0, 4, 0]  // 4 blocks of 4 KiB at LBA 3
    func started(_ c: inout ISCSIConnection, itt: UInt32) throws -> ISCSIPDU {
      let r2t = Initiator.sent(
        c.receive(
          Initiator.bytes(Initiator.command(itt: itt, cmdSN: itt, cdb: write, write: true, edtl: 16384))))
      let first = try #require(r2t.first)
      #expect(first.opcode == .readyToTransfer && first.be32(44) == 8192, "R2T for the first burst")
      return first
    }
    /// The burst `r2t` asked for, in two Data-Out PDUs (the second final).
    func burst(_ r2t: ISCSIPDU) -> [[UInt8]] {
      (0..<2).map { k in
        Initiator.bytes(
          Initiator.dataOut(
            itt: r2t.initiatorTaskTag, ttt: r2t.be32(20), dataSN: UInt32(k),
            offset: Int(r2t.be32(40)) + k * 4096,
            data: [UInt8](repeating: 0x33, count: 4096), final: k == 1))
      }
    }
    // Control: without an abort, the burst in brings the R2T for the second; and Data-Out for a
    // transfer tag never given is refused (Reject) — so "no Reject" below means something.
    var control = Initiator.loggedIn()
    let r2t = try started(&control, itt: 1)
    let pieces = burst(r2t)
    #expect(Initiator.sent(control.receive(pieces[0])).isEmpty)
    #expect(Initiator.sent(control.receive(pieces[1])).map(\.opcode) == [.readyToTransfer])
    let stray = Initiator.dataOut(itt: 9, ttt: 0x7777, dataSN: 0, offset: 0, data: [1], final: true)
    #expect(Initiator.sent(control.receive(Initiator.bytes(stray))).map(\.opcode) == [.reject])

    var c = Initiator.loggedIn()
    let asked = try started(&c, itt: 1)
    let answered = c.abort(0, by: .anotherNexus).events
    #expect(Self.statuses(answered) == [1: 0x40], "TASK ABORTED at once")
    #expect(c.pendingWrites.isEmpty && c.session.outstandingBytes == 0 && c.session.outstanding == 0)
    for piece in burst(asked) {
      let events = c.receive(piece)
      #expect(Initiator.sent(events).isEmpty && M.executed(events).isEmpty, "discarded, nothing runs")
    }
    #expect(c.discardedTransfers.isEmpty, "the final PDU ends the discarding")
    // This nexus's own ABORT TASK of a write waiting for data: FUNCTION COMPLETE, the write
    // never answered, its burst discarded the same way.
    let own = try started(&c, itt: 2)
    let abort = Initiator.sent(
      c.receive(Initiator.bytes(Initiator.taskManagement(1, itt: 50, cmdSN: 3, referenced: 2, refCmdSN: 2))))
    #expect(abort.map(\.opcode) == [.taskManagementResponse] && abort.first?.header[2] == 0)
    for piece in burst(own) { #expect(Initiator.sent(c.receive(piece)).isEmpty) }
    #expect(c.isFullFeature)
    // Its task tag reused for a new write before the old burst comes: the old burst (its
    // transfer tag) is discarded, the new write goes on; the old transfer tag under another
    // task tag is not the aborted write's (Reject), and does not use up its discarding.
    let old = try started(&c, itt: 3)
    _ = c.abort(0, by: .anotherNexus)
    c.nextTransferTag = old.be32(20)  // the next tag would be the discarded one: skipped
    let new = Initiator.sent(
      c.receive(Initiator.bytes(Initiator.command(itt: 3, cmdSN: 4, cdb: write, write: true, edtl: 16384))))
    try #require(new.first?.opcode == .readyToTransfer && new.first?.be32(20) != old.be32(20))
    var elsewhere = old
    elsewhere.initiatorTaskTag = 77
    #expect(Initiator.sent(c.receive(burst(elsewhere)[1])).map(\.opcode) == [.reject])
    for piece in burst(old) { #expect(Initiator.sent(c.receive(piece)).isEmpty, "the old burst: discarded") }
    #expect(c.discardedTransfers.isEmpty, "its final PDU ended the discarding")
    let newPieces = burst(try #require(new.first))
    #expect(Initiator.sent(c.receive(newPieces[0])).isEmpty)
    #expect(
      Initiator.sent(c.receive(newPieces[1])).map(\.opcode) == [.readyToTransfer], "the new write goes on")
  }

  /// The discarded transfer tags are bounded: a client whose aborted writes never send their
  /// data cannot grow them.
  @Test func discardedTransfersAreBounded() throws {
    var c = Initiator.loggedIn()
    let write: [UInt8] = [0x2A, 0, 0, 0, 0, 0, 0, 0, 4, 0]
    for round in 0..<5 {
      for k in 0..<32 {
        let itt = UInt32(round * 32 + k + 1)
        _ = c.receive(
          Initiator.bytes(Initiator.command(itt: itt, cmdSN: itt, cdb: write, write: true, edtl: 16384)))
      }
      #expect(c.pendingWrites.count == 32, "round \(round): the writes wait for data")
      _ = c.abort(nil, by: .anotherNexus).events
      #expect(c.pendingWrites.isEmpty)
    }
    #expect(c.discardedTransfers.count == ISCSIConnection.discardedTransferLimit)
  }

  /// A target reset (nil) covers every LU; a LU reset only its own.
  @Test func aTargetResetOfAnotherNexusAbortsEveryLUAndALUResetOnlyItsOwn() throws {
    var (c, tasks) = try ISCSIConnectionTests.fullOfBytes()
    var onLUN1 = Initiator.command(itt: 9, cmdSN: 5, cdb: [0, 0, 0, 0, 0, 0])  // TEST UNIT READY
    onLUN1.header[9] = 1
    #expect(M.executed(c.receive(Initiator.bytes(onLUN1))) == [9])
    #expect(c.running[9]?.lun == 1)
    // Control: a reset of LUN 2 touches neither LU.
    #expect(c.abort(2, by: .anotherNexus).events.isEmpty)
    #expect(c.running.values.allSatisfy { $0.aborted == nil })
    _ = c.abort(nil, by: .anotherNexus)
    #expect(tasks.allSatisfy { c.running[$0.initiatorTaskTag]?.aborted == .anotherNexus })
    #expect(c.running[9]?.aborted == .anotherNexus)
    #expect(Self.statuses(c.complete(tasks[0].header, ISCSITaskResult(status: 0))) == [1: 0x40])
  }
}

/// Over loopback, two initiator ports: B's LOGICAL UNIT RESET ends A's write in the (slow)
/// device with TASK ABORTED, then A's next command meets the reset's UNIT ATTENTION; the Control
/// mode page says TAS.
@Suite(.serialized) struct AnotherNexusResetLoopbackTests {
  let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)

  @Test func aResetFromOneNexusEndsAnothersRunningWriteWithTaskAborted() throws {
    let t = try LoopbackTarget(latency: 300_000_000)
    let ab = try t.sessionsOfDistinctPorts(2)
    let (a, b) = (ab[0], ab[1])
    // Control: A's write in the device with no reset ends GOOD.
    t.putAWriteInTheDevice(a, cmdSN: 1)
    let good = a.receivePDU()
    #expect(good.count >= 48 && good[0] & 0x3F == 0x21 && good[3] == 0, "GOOD")
    // Again, and B resets LUN 0 while the write is in the device.
    t.putAWriteInTheDevice(a, cmdSN: 2)
    b.send(framing.encode(Initiator.taskManagement(5, itt: 9, cmdSN: 1)))
    let aborted = a.receivePDU()
    #expect(aborted.count >= 48 && aborted[0] & 0x3F == 0x21 && aborted[3] == 0x40, "TASK ABORTED")
    let reset = b.receivePDU()
    #expect(reset.count >= 48 && reset[0] & 0x3F == 0x22 && reset[2] == 0, "B's reset: function complete")
    // A's next command: the UNIT ATTENTION of the reset (29/03); then MODE SENSE shows TAS.
    let senseControl: [UInt8] = [0x1A, 0x08, 0x0A, 0, 0xFF, 0]
    a.send(framing.encode(Initiator.command(itt: 3, cmdSN: 3, cdb: senseControl, read: true, edtl: 255)))
    let attention = a.receivePDU()
    #expect(attention.count > 48 + 15 && attention[3] == 0x02 && attention[48 + 2 + 12] == 0x29)
    a.send(framing.encode(Initiator.command(itt: 4, cmdSN: 4, cdb: senseControl, read: true, edtl: 255)))
    let page = a.receivePDU()
    try #require(page.count >= 48 + 4 + 12 && page[0] & 0x3F == 0x25, "MODE SENSE data")
    #expect(page[48 + 4] & 0x3F == 0x0A && page[48 + 4 + 5] & 0x40 != 0, "Control mode page: TAS one")
    #expect(t.rig.runtime.verifier.violations.isEmpty)
    withExtendedLifetime(t) {}
  }

  /// After a reset, REQUEST SENSE reports the UNIT ATTENTION as its data with GOOD status and
  /// clears it (SAM-5 §5.14): fixed format for A, descriptor format (DESC) for B; the next
  /// command of each is GOOD.
  @Test func requestSenseReportsAndClearsTheResetsUnitAttention() throws {
    let t = try LoopbackTarget()
    let ab = try t.sessionsOfDistinctPorts(2)
    let (a, b) = (ab[0], ab[1])
    b.send(framing.encode(Initiator.taskManagement(5, itt: 9, cmdSN: 1)))
    let reset = b.receivePDU()
    try #require(reset.count >= 48 && reset[0] & 0x3F == 0x22 && reset[2] == 0, "B's reset")
    for (c, desc) in [(a, false), (b, true)] {
      let cdb: [UInt8] = [0x03, desc ? 0x01 : 0x00, 0, 0, 252, 0]
      c.send(framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: cdb, read: true, edtl: 252)))
      let r = c.receivePDU()
      #expect(r.count > 48 && r[0] & 0x3F == 0x25 && r[3] == 0, "Data-In, GOOD")
      let length = r.count >= 48 ? Int(r[5]) << 16 | Int(r[6]) << 8 | Int(r[7]) : 0  // before padding
      let data = Array(r.dropFirst(48).prefix(length))
      if desc {
        #expect(data.count == 8 && data[0] == 0x72 && data[1] == 0x06 && data[2] == 0x29 && data[3] == 0x03)
      } else {
        #expect(
          data.count == 18 && data[0] == 0x70 && data[2] == 0x06 && data[12] == 0x29 && data[13] == 0x03)
      }
      c.send(framing.encode(Initiator.command(itt: 2, cmdSN: 2, cdb: [0, 0, 0, 0, 0, 0])))
      let tur = c.receivePDU()
      #expect(tur.count >= 48 && tur[0] & 0x3F == 0x21 && tur[3] == 0, "the UNIT ATTENTION is cleared")
    }
    withExtendedLifetime(t) {}
  }

  /// REQUEST SENSE's UNIT ATTENTION is cut to its allocation length and to EDTL (the rest
  /// reported as overflow); INQUIRY passes a pending UNIT ATTENTION without clearing it.
  @Test func requestSenseIsCutToItsAllocationLengthAndEDTL() throws {
    let t = try LoopbackTarget()
    let sessions = try t.sessionsOfDistinctPorts(4)
    sessions[3].send(framing.encode(Initiator.taskManagement(5, itt: 9, cmdSN: 1)))
    try #require(sessions[3].receivePDU().count >= 48, "the reset")
    func answer(_ c: NBDTestClient, itt: UInt32, cdb: [UInt8], edtl: Int) -> (pdu: [UInt8], data: [UInt8]) {
      c.send(framing.encode(Initiator.command(itt: itt, cmdSN: itt, cdb: cdb, read: edtl > 0, edtl: edtl)))
      let r = c.receivePDU()
      let length = r.count >= 48 ? Int(r[5]) << 16 | Int(r[6]) << 8 | Int(r[7]) : 0
      return (r, Array(r.dropFirst(48).prefix(length)))
    }
    // Allocation length 8: the first 8 bytes, GOOD, no residual.
    let eight = answer(sessions[0], itt: 1, cdb: [0x03, 0, 0, 0, 8, 0], edtl: 8)
    #expect(eight.pdu.count >= 48 && eight.pdu[3] == 0 && eight.data == [0x70, 0, 0x06, 0, 0, 0, 0, 10])
    #expect(eight.pdu.count >= 48 && eight.pdu[1] & 0x06 == 0, "no residual")
    // EDTL 8 under an allocation length of 252: 8 bytes and 10 of overflow.
    let cut = answer(sessions[1], itt: 1, cdb: [0x03, 0, 0, 0, 252, 0], edtl: 8)
    #expect(cut.data.count == 8 && cut.pdu.count >= 48 && cut.pdu[1] & 0x04 != 0, "overflow")
    #expect(cut.pdu.count >= 48 && NBDTestClient.read32(cut.pdu, 44) == 10)
    // INQUIRY first: it passes, and the UNIT ATTENTION is still there for the next command.
    let inquiry = answer(sessions[2], itt: 1, cdb: [0x12, 0, 0, 0, 36, 0], edtl: 36)
    #expect(inquiry.pdu.count >= 48 && inquiry.pdu[3] == 0 && inquiry.data.count == 36)
    let next = answer(sessions[2], itt: 2, cdb: [0, 0, 0, 0, 0, 0], edtl: 0)
    #expect(next.pdu.count > 48 + 15 && next.pdu[3] == 0x02 && next.pdu[48 + 2 + 12] == 0x29, "still pending")
    withExtendedLifetime(t) {}
  }

  /// Writes waiting for data on both sides of B's reset: A's is answered TASK ABORTED at once
  /// and the burst A sends anyway is discarded (the next PDU A gets answers its next command,
  /// not a Reject), nothing landing; B's own is not answered at all.
  @Test func writesWaitingForDataOnEitherSideOfAReset() throws {
    let t = try LoopbackTarget()
    let ab = try t.sessionsOfDistinctPorts(2)
    let (a, b) = (ab[0], ab[1])
    let bs = t.disk.blockSize
    let write: [UInt8] = [0x2A, 0, 0, 0, 0, 3, 0, 0, 4, 0]  // 4 blocks at LBA 3, no immediate data
    let read: [UInt8] = [0x28, 0, 0, 0, 0, 3, 0, 0, 1, 0]
    var r2ts: [[UInt8]] = []
    for c in [a, b] {
      c.send(framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: write, write: true, edtl: 4 * bs)))
      let r2t = c.receivePDU()
      try #require(r2t.count >= 48 && r2t[0] & 0x3F == 0x31, "R2T")
      r2ts.append(r2t)
    }
    // Control: A's read of block 3 before (GOOD, its data).
    a.send(framing.encode(Initiator.command(itt: 2, cmdSN: 2, cdb: read, read: true, edtl: bs)))
    let before = a.receivePDU()
    try #require(before.count == 48 + bs && before[3] == 0)
    b.send(framing.encode(Initiator.taskManagement(5, itt: 9, cmdSN: 2)))
    let aborted = a.receivePDU()
    #expect(aborted.count >= 48 && aborted[0] & 0x3F == 0x21 && aborted[3] == 0x40, "A's write: TASK ABORTED")
    #expect(aborted.count >= 48 && NBDTestClient.read32(aborted, 16) == 1)
    let reset = b.receivePDU()
    #expect(reset.count >= 48 && reset[0] & 0x3F == 0x22 && reset[2] == 0, "B's reset: function complete")
    // A sends the burst its R2T asked for anyway.
    let asked = r2ts[0]
    let burst = Int(NBDTestClient.read32(asked, 44))
    a.send(
      framing.encode(
        Initiator.dataOut(
          itt: 1, ttt: NBDTestClient.read32(asked, 20), dataSN: 0, offset: 0,
          data: [UInt8](repeating: 0xEE, count: burst), final: true)))
    // Each side's next command: its answer comes next (29/03 first), no Reject, nothing for B's write.
    for (c, itt, cmdSN) in [(a, UInt32(3), UInt32(3)), (b, UInt32(4), UInt32(2))] {
      c.send(framing.encode(Initiator.command(itt: itt, cmdSN: cmdSN, cdb: read, read: true, edtl: bs)))
      let next = c.receivePDU()
      #expect(next.count >= 48 && next[0] & 0x3F == 0x21 && NBDTestClient.read32(next, 16) == itt, "the UA")
      #expect(next.count > 48 + 15 && next[3] == 0x02 && next[48 + 2 + 12] == 0x29)
    }
    a.send(framing.encode(Initiator.command(itt: 5, cmdSN: 4, cdb: read, read: true, edtl: bs)))
    let after = a.receivePDU()
    #expect(
      after.count == 48 + bs && Array(after[48...]) == Array(before[48...]), "nothing of A's write landed")
    withExtendedLifetime(t) {}
  }
}
