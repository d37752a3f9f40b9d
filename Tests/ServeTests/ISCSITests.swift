import Foundation
import Prometheus
import Storport
import StorportWorkload
import Testing

@testable import StorportServe

/// Builds initiator PDUs for the tests (what libiscsi or open-iscsi send, and what they never
/// would).
enum Initiator {
  static let target = ISCSITargetConfiguration(
    name: "iqn.2026-11.test:disk", address: "127.0.0.1:3260,1", luns: [0])
  static let isid: [UInt8] = [0x80, 0, 0, 0, 0, 1]

  static func pdu(_ opcode: UInt8, flags: UInt8, itt: UInt32 = 1, data: [UInt8] = []) -> ISCSIPDU {
    var p = ISCSIPDU(header: [UInt8](repeating: 0, count: 48), data: data)
    p.header[0] = opcode
    p.flags = flags
    p.initiatorTaskTag = itt
    return p
  }

  /// One Login Request from `csg` to `nsg` (transit), with `keys`.
  static func login(csg: UInt8 = 1, nsg: UInt8 = 3, keys: [(String, String)], cmdSN: UInt32 = 1) -> ISCSIPDU {
    var p = pdu(0x43, flags: 0x80 | csg << 2 | nsg, data: ISCSIText.encode(keys))
    for i in 0..<6 { p.header[8 + i] = isid[i] }
    p.setBE32(24, cmdSN)
    return p
  }

  static let normalLogin = login(keys: [
    ("InitiatorName", "iqn.2026-11.test:initiator"), ("SessionType", "Normal"),
    ("TargetName", target.name), ("HeaderDigest", "None"), ("DataDigest", "None"),
    ("MaxRecvDataSegmentLength", "8192"), ("ImmediateData", "Yes"), ("FirstBurstLength", "4096"),
    ("MaxBurstLength", "8192"),
  ])

  /// SCSI Command: `read` / `write`, EDTL, CmdSN, immediate data.
  static func command(
    itt: UInt32, cmdSN: UInt32, cdb: [UInt8], read: Bool = false, write: Bool = false, edtl: Int = 0,
    data: [UInt8] = []
  ) -> ISCSIPDU {
    var p = pdu(0x01, flags: 0x80 | (read ? 0x40 : 0) | (write ? 0x20 : 0), itt: itt, data: data)
    p.setBE32(20, UInt32(edtl))
    p.setBE32(24, cmdSN)
    for (i, b) in cdb.enumerated() { p.header[32 + i] = b }
    return p
  }

  /// Task Management Function Request (immediate): `function` (1: ABORT TASK …), the referenced
  /// task's ITT and CmdSN.
  static func taskManagement(
    _ function: UInt8, itt: UInt32, cmdSN: UInt32, referenced: UInt32 = 0, refCmdSN: UInt32 = 0
  )
    -> ISCSIPDU
  {
    var p = Initiator.pdu(0x42, flags: 0x80 | function, itt: itt)  // immediate
    p.setBE32(20, referenced)
    p.setBE32(24, cmdSN)
    p.setBE32(32, refCmdSN)
    return p
  }

  static func dataOut(itt: UInt32, ttt: UInt32, dataSN: UInt32, offset: Int, data: [UInt8], final: Bool)
    -> ISCSIPDU
  {
    var p = pdu(0x05, flags: final ? 0x80 : 0, itt: itt, data: data)
    p.setBE32(20, ttt)
    p.setBE32(36, dataSN)
    p.setBE32(40, UInt32(offset))
    return p
  }

  static func bytes(_ pdus: ISCSIPDU...) -> [UInt8] {
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    return pdus.flatMap { framing.encode($0) }
  }

  /// The PDUs in what the target sent.
  static func sent(_ events: [ISCSIConnection.Event], headerDigest: Bool = false, dataDigest: Bool = false)
    -> [ISCSIPDU]
  {
    var framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    framing.headerDigest = headerDigest
    framing.dataDigest = dataDigest
    var out: [ISCSIPDU] = []
    for event in events {
      let b: [UInt8]
      switch event {
      case .send(let bytes), .logout(let bytes, _): b = Array(bytes.readableBytesView)
      default: continue
      }
      var start = 0
      while let p = try? framing.next(b, &start) { out.append(p) }
      #expect(start == b.count, "the target sent a partial PDU")
    }
    return out
  }

  /// A connection in the full feature phase (normal session).
  static func loggedIn() -> ISCSIConnection {
    var c = ISCSIConnection(target: target)
    let events = c.receive(bytes(normalLogin))
    #expect(c.isFullFeature, "login failed: \(events)")
    return c
  }
}

/// The iSCSI connection state machine, byte by byte: login, discovery, commands and their
/// data, task management, and what a hostile initiator sends.
@Suite struct ISCSIConnectionTests {
  @Test func aNormalLoginNegotiatesAndEntersTheFullFeaturePhase() throws {
    var c = ISCSIConnection(target: Initiator.target, initialStatSN: 7)
    let events = c.receive(Initiator.bytes(Initiator.normalLogin))
    let r = try #require(Initiator.sent(events).first)
    #expect(r.opcode == .loginResponse)
    #expect(r.header[36] == 0 && r.header[37] == 0, "status class/detail")
    #expect(r.flags & 0x80 != 0 && r.flags & 0x03 == 3, "transit to the full feature phase")
    #expect(r.be16(14) != 0, "a TSIH for the new session")
    #expect(r.be32(24) == 7, "the first StatSN")
    let keys = Dictionary(uniqueKeysWithValues: try ISCSIText.parse(r.data).map { ($0.key, $0.value) })
    #expect(keys["TargetPortalGroupTag"] == "1")
    #expect(keys["MaxRecvDataSegmentLength"] == String(ISCSIConnection.receiveSegmentBytes))
    #expect(keys["FirstBurstLength"] == "4096" && keys["MaxBurstLength"] == "8192")
    #expect(keys["InitialR2T"] == nil && keys["ImmediateData"] == "Yes")
    #expect(c.isFullFeature)
  }

  @Test func aLoginToAnotherTargetFailsWithNotFoundAndCloses() throws {
    var c = ISCSIConnection(target: Initiator.target)
    let login = Initiator.login(keys: [
      ("InitiatorName", "iqn.x:i"), ("TargetName", "iqn.2026-11.test:other"),
    ])
    let events = c.receive(Initiator.bytes(login))
    let r = try #require(Initiator.sent(events).first)
    #expect(r.header[36] == 0x02 && r.header[37] == 0x03)
    #expect(c.isClosed)
    #expect(events.contains { if case .close = $0 { true } else { false } })
  }

  @Test func loginWithoutAnInitiatorNameOrWithOnlyChapFails() throws {
    var c = ISCSIConnection(target: Initiator.target)
    var r = try #require(
      Initiator.sent(
        c.receive(Initiator.bytes(Initiator.login(keys: [("TargetName", Initiator.target.name)])))
      ).first)
    #expect(r.header[36] == 0x02 && r.header[37] == 0x07, "missing parameter")
    c = ISCSIConnection(target: Initiator.target)
    let chap = Initiator.login(
      csg: 0, nsg: 1,
      keys: [("InitiatorName", "iqn.x:i"), ("TargetName", Initiator.target.name), ("AuthMethod", "CHAP")])
    r = try #require(Initiator.sent(c.receive(Initiator.bytes(chap))).first)
    #expect(r.header[36] == 0x02 && r.header[37] == 0x01, "authentication failure: no secret configured")
    #expect(c.isClosed)
  }

  @Test func discoveryAnswersSendTargets() throws {
    var c = ISCSIConnection(target: Initiator.target)
    _ = c.receive(
      Initiator.bytes(Initiator.login(keys: [("InitiatorName", "iqn.x:i"), ("SessionType", "Discovery")])))
    #expect(c.isFullFeature && c.sessionIsDiscovery)
    var text = Initiator.pdu(0x04, flags: 0x80, itt: 9, data: ISCSIText.encode([("SendTargets", "All")]))
    text.setBE32(24, 1)
    text.setBE32(20, 0xFFFF_FFFF)
    let r = try #require(Initiator.sent(c.receive(Initiator.bytes(text))).first)
    #expect(r.opcode == .textResponse && r.initiatorTaskTag == 9)
    let keys = try ISCSIText.parse(r.data)
    #expect(keys.map(\.key) == ["TargetName", "TargetAddress"])
    #expect(keys[0].value == Initiator.target.name && keys[1].value == "127.0.0.1:3260,1")
  }

  @Test func aWriteGetsR2TsAndRunsWithAllItsData() throws {
    var c = Initiator.loggedIn()
    let data = (0..<12288).map { UInt8(truncatingIfNeeded: $0 * 31) }
    let cdb: [UInt8] = [0x2A, 0, 0, 0, 0, 8, 0, 0, 3, 0]
    // 4096 bytes immediate (FirstBurstLength), then R2Ts for 8192 (MaxBurstLength).
    var events = c.receive(
      Initiator.bytes(
        Initiator.command(
          itt: 5, cmdSN: 1, cdb: cdb, write: true, edtl: data.count, data: Array(data[0..<4096]))))
    let r2t = try #require(Initiator.sent(events).first)
    #expect(r2t.opcode == .readyToTransfer)
    #expect(r2t.be32(40) == 4096 && r2t.be32(44) == 8192 && r2t.be32(36) == 0)
    let ttt = r2t.be32(20)
    events = c.receive(
      Initiator.bytes(
        Initiator.dataOut(
          itt: 5, ttt: ttt, dataSN: 0, offset: 4096, data: Array(data[4096..<8192]), final: false),
        Initiator.dataOut(itt: 5, ttt: ttt, dataSN: 1, offset: 8192, data: Array(data[8192...]), final: true))
    )
    guard case .execute(let task) = try #require(events.first) else {
      Issue.record("expected the command to run, got \(events)")
      return
    }
    #expect(task.dataOut == data && task.lun == 0 && task.isWrite)
    let done = Initiator.sent(c.complete(task, ISCSITaskResult(status: 0)))
    #expect(done.count == 1 && done[0].opcode == .scsiResponse && done[0].header[3] == 0)
  }

  /// A Data-Out that breaks its R2T ends the write with CHECK CONDITION (ABORTED COMMAND) and
  /// the additional sense that says how (SPC-4, RFC 7143 §11.4.7.2); the write never runs. The
  /// control row, a Data-Out that keeps the R2T, runs it.
  @Test(
    arguments: [
      ("control: as the R2T asked", nil, 0, 0, 8192, nil as [UInt8]?),
      ("the reserved tag (unsolicited data)", 0xFFFF_FFFF, 0, 0, 8192, [0x0C, 0x0C]),
      ("another tag than the R2T's", 0x1234, 0, 0, 8192, [0x4B, 0x01]),
      ("DataSN out of order", nil, 27, 0, 8192, [0x4B, 0x00]),
      ("an offset other than the next byte", nil, 0, 4, 8188, [0x4B, 0x05]),
      ("data past the burst", nil, 0, 0, 8196, [0x4B, 0x02]),
    ] as [(String, UInt32?, UInt32, Int, Int, [UInt8]?)])
  func aDataOutThatBreaksItsR2TEndsTheWriteSayingHow(
    what: String, tag: UInt32?, dataSN: UInt32, offset: Int, length: Int, ascAndQualifier: [UInt8]?
  ) throws {
    var c = Initiator.loggedIn()
    let cdb: [UInt8] = [0x2A, 0, 0, 0, 0, 8, 0, 0, 2, 0]
    let r2t = try #require(
      Initiator.sent(
        c.receive(Initiator.bytes(Initiator.command(itt: 6, cmdSN: 1, cdb: cdb, write: true, edtl: 8192)))
      )
      .first)
    #expect(r2t.opcode == .readyToTransfer && r2t.be32(44) == 8192, "\(what): one burst of 8192")
    let data = [UInt8](repeating: 7, count: length)
    let events = c.receive(
      Initiator.bytes(
        Initiator.dataOut(
          itt: 6, ttt: tag ?? r2t.be32(20), dataSN: dataSN, offset: offset, data: data, final: true)))
    let executed = events.contains { if case .execute = $0 { true } else { false } }
    guard let expected = ascAndQualifier else {
      #expect(executed, "\(what): \(events)")
      return
    }
    #expect(!executed, "\(what)")
    let r = try #require(Initiator.sent(events).first)
    #expect(r.opcode == .scsiResponse && r.header[3] == 0x02, "\(what): CHECK CONDITION")
    let sense = Array(r.data.dropFirst(2))
    #expect(sense[2] == 0x0B, "\(what): ABORTED COMMAND")
    #expect(Array(sense[12...13]) == expected, "\(what): ASC/ASCQ \(Array(sense[12...13]))")
  }

  @Test func aReadSendsDataInWithCollapsedStatusAndResiduals() throws {
    var c = Initiator.loggedIn()
    let cdb: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, 5, 0]
    let events = c.receive(
      Initiator.bytes(Initiator.command(itt: 8, cmdSN: 1, cdb: cdb, read: true, edtl: 20480)))
    guard case .execute(let task) = try #require(events.first) else { return }
    let payload = (0..<18000).map { UInt8(truncatingIfNeeded: $0) }
    let out = Initiator.sent(c.complete(task, ISCSITaskResult(status: 0, dataIn: payload)))
    // 8192 per PDU (the initiator's MaxRecvDataSegmentLength): 3 Data-In, the last with status.
    #expect(out.count == 3 && out.allSatisfy { $0.opcode == .scsiDataIn })
    #expect(out.map { Int($0.be32(40)) } == [0, 8192, 16384])
    #expect(out.map { $0.be32(36) } == [0, 1, 2], "DataSN")
    #expect(out.flatMap(\.data) == payload)
    let last = out[2]
    #expect(last.flags & 0x81 == 0x81 && last.flags & 0x02 != 0, "final, status, underflow")
    #expect(last.be32(44) == 20480 - 18000)
    #expect(out[0].flags & 0x01 == 0 && out[1].flags & 0x01 == 0)
  }

  /// Sends READ(10)s of `sizes` bytes (ITT 10, 11, …) to `c`; returns their tasks.
  static func reads(_ c: inout ISCSIConnection, _ sizes: [Int], firstCmdSN: UInt32 = 1) -> [ISCSITask] {
    var tasks: [ISCSITask] = []
    for (i, size) in sizes.enumerated() {
      let blocks = (size + 511) / 512
      let cdb: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, UInt8(blocks >> 8), UInt8(blocks & 0xFF), 0]
      let events = c.receive(
        Initiator.bytes(
          Initiator.command(
            itt: UInt32(10 + i), cmdSN: firstCmdSN + UInt32(i), cdb: cdb, read: true, edtl: size)))
      guard case .execute(let task) = events.first else {
        Issue.record("read \(10 + i) did not run: \(events)")
        continue
      }
      tasks.append(task)
    }
    return tasks
  }

  /// Distinct bytes for read `i` (a multiplicative hash of index and position: no two reads,
  /// and no two places of one, alike over a short stretch).
  static func payload(_ i: Int, _ n: Int) -> [UInt8] {
    (0..<n).map { UInt8(truncatingIfNeeded: ($0 &+ i &* 1_000_003) &* 2_654_435_761 >> 13) }
  }

  /// Tasks that finish together are answered in one call, in the order they finished, their
  /// responses sharing wire buffers of at most 256 KiB: each read's Data-In carries its own
  /// bytes at its offsets, StatSN follows that order, and an ABORT TASK response held for an
  /// aborted task among them goes out in that task's place.
  @Test func tasksFinishedTogetherAreAnsweredInOrderWithTheirOwnData() throws {
    var c = Initiator.loggedIn()
    let sizes = [4096, 196_608, 4096, 196_608, 8192]
    let tasks = Self.reads(&c, sizes)
    try #require(tasks.count == sizes.count)
    // ABORT TASK of the third read (ITT 12): its response waits until that task ends.
    let abort = Initiator.taskManagement(1, itt: 0x90, cmdSN: 6, referenced: 12, refCmdSN: 3)
    #expect(Initiator.sent(c.receive(Initiator.bytes(abort))).isEmpty)
    let events = c.complete(
      tasks.indices.map {
        (tasks[$0].header, ISCSITaskResult(status: 0, dataIn: Self.payload($0, sizes[$0])))
      })
    // Buffers: reads 10 and 11 (200 KiB) share one; the abort's response goes apart; 13 would
    // take a shared buffer past 256 KiB with 14, so 13 and 14 share the next.
    let groups = events.map { Set(Initiator.sent([$0]).map(\.initiatorTaskTag)) }
    #expect(groups == [[10, 11], [0x90], [13, 14]], "\(groups)")
    let out = Initiator.sent(events)
    var order: [UInt32] = []
    var data: [UInt32: [UInt8]] = [:]
    for pdu in out {
      if order.last != pdu.initiatorTaskTag { order.append(pdu.initiatorTaskTag) }
      guard pdu.opcode == .scsiDataIn else { continue }
      #expect(Int(pdu.be32(40)) == data[pdu.initiatorTaskTag, default: []].count, "Data-In offset in order")
      data[pdu.initiatorTaskTag, default: []] += pdu.data
    }
    #expect(
      order == [10, 11, 0x90, 13, 14], "in the order they finished, the abort's response in place of its task"
    )
    for i in [0, 1, 3, 4] {
      #expect(data[UInt32(10 + i)] == Self.payload(i, sizes[i]), "read \(10 + i) carries its own bytes")
    }
    #expect(data[12] == nil, "the aborted read sends nothing")
    let statSNs = out.filter { $0.opcode == .taskManagementResponse || $0.flags & 0x01 != 0 }.map {
      $0.be32(24)
    }
    #expect(statSNs.count == 5 && statSNs == (0..<5).map { statSNs[0] &+ UInt32($0) })
  }

  /// Without an abort between them, reads finishing together fill a 256 KiB buffer, then the
  /// next: no buffer holds more than 256 KiB of responses unless one response alone is larger.
  @Test func sharedResponseBuffersStayWithinTheirLimit() throws {
    var c = Initiator.loggedIn()
    let sizes = [65_536, 65_536, 65_536, 65_536, 65_536, 4096, 600_000, 4096]
    let tasks = Self.reads(&c, sizes)
    try #require(tasks.count == sizes.count)
    let events = c.complete(
      tasks.indices.map {
        (tasks[$0].header, ISCSITaskResult(status: 0, dataIn: Self.payload($0, sizes[$0])))
      })
    var groups: [[UInt32]] = []
    for case .send(let buffer) in events {
      let tags = Initiator.sent([.send(buffer)]).map(\.initiatorTaskTag)
      groups.append(tags.reduce(into: []) { if $0.last != $1 { $0.append($1) } })
      #expect(
        buffer.readableBytes <= WireBuffers.limit || tags.allSatisfy { $0 == 16 },
        "a buffer of \(buffer.readableBytes) bytes")
    }
    // Three 64 KiB reads and their headers fit; a fourth would pass 256 KiB.
    #expect(groups == [[10, 11, 12], [13, 14, 15], [16], [17]], "\(groups)")
    let data = Initiator.sent(events).reduce(into: [UInt32: [UInt8]]()) {
      $0[$1.initiatorTaskTag, default: []] += $1.data
    }
    for i in sizes.indices { #expect(data[UInt32(10 + i)] == Self.payload(i, sizes[i]), "read \(10 + i)") }
  }

  /// Each Data-In sequence (up to a PDU with the F bit) stays within MaxBurstLength (RFC 7143
  /// §13.13) when it is not a multiple of the initiator's MaxRecvDataSegmentLength: a PDU is
  /// cut short at the sequence's end. (A trial's finding: sequences of 3 × 1001 bytes with a
  /// MaxBurstLength of 2049.)
  @Test func dataInSequencesStayWithinMaxBurstLength() throws {
    var c = ISCSIConnection(target: Initiator.target)
    let login = Initiator.login(keys: [
      ("InitiatorName", "iqn.x:i"), ("TargetName", Initiator.target.name),
      ("MaxRecvDataSegmentLength", "6000"),
      ("MaxBurstLength", "16384"),
    ])
    let answer = try ISCSIText.parse(
      try #require(Initiator.sent(c.receive(Initiator.bytes(login))).first).data)
    #expect(answer.contains { $0.key == "MaxBurstLength" && $0.value == "16384" }, "\(answer)")
    let tasks = Self.reads(&c, [40_000])
    try #require(tasks.count == 1)
    let out = Initiator.sent(
      c.complete(tasks[0], ISCSITaskResult(status: 0, dataIn: Self.payload(0, 40_000))))
    var sequences: [Int] = [0]
    var offset = 0
    for pdu in out {
      #expect(pdu.data.count <= 6000 && Int(pdu.be32(40)) == offset, "segment length and offset")
      offset += pdu.data.count
      sequences[sequences.count - 1] += pdu.data.count
      if pdu.isFinal && offset < 40_000 { sequences.append(0) }
    }
    #expect(sequences == [16384, 16384, 40_000 - 32768], "sequence lengths \(sequences)")
    #expect(out.flatMap(\.data) == Self.payload(0, 40_000))
  }

  /// Digests on what the target sends (RFC 7143 §13.1): a header digest over each BHS, a data
  /// digest over each data segment and its padding — for Data-In of lengths 1, 2 and 3 past a
  /// multiple of 4, over several PDUs. The parser re-checks both; a PDU that fails is dropped.
  @Test func outgoingDataInCarriesHeaderAndDataDigests() throws {
    var c = ISCSIConnection(target: Initiator.target)
    let login = Initiator.login(keys: [
      ("InitiatorName", "iqn.x:i"), ("TargetName", Initiator.target.name), ("HeaderDigest", "CRC32C"),
      ("DataDigest", "CRC32C"), ("MaxRecvDataSegmentLength", "8192"), ("MaxBurstLength", "16384"),
    ])
    let answer = Initiator.sent(c.receive(Initiator.bytes(login)))
    let keys = try ISCSIText.parse(try #require(answer.first).data)
    #expect(keys.contains { $0.key == "DataDigest" && $0.value == "CRC32C" })
    var framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    (framing.headerDigest, framing.dataDigest) = (true, true)
    let sizes = [8192 + 8192 + 1, 2, 4096 + 3]
    var tasks: [ISCSITask] = []
    for (i, size) in sizes.enumerated() {
      let cdb: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, UInt8((size + 511) / 512), 0]
      let events = c.receive(
        framing.encode(
          Initiator.command(itt: UInt32(10 + i), cmdSN: UInt32(1 + i), cdb: cdb, read: true, edtl: size)))
      guard case .execute(let task) = events.first else {
        Issue.record("read \(10 + i) did not run: \(events)")
        continue
      }
      tasks.append(task)
    }
    try #require(tasks.count == sizes.count)
    let events = c.complete(
      tasks.indices.map {
        (tasks[$0].header, ISCSITaskResult(status: 0, dataIn: Self.payload($0, sizes[$0])))
      })
    let out = Initiator.sent(events, headerDigest: true, dataDigest: true)
    // Positive control: the parser does check the data digests — one byte off in the last is
    // caught.
    guard case .send(let sent) = try #require(events.last) else {
      Issue.record("no response sent")
      return
    }
    var bytes = Array(sent.readableBytesView)
    bytes[bytes.count - 1] ^= 0xFF
    var (start, caught) = (0, false)
    do {
      while try framing.next(bytes, &start) != nil {}
    } catch {
      if case .dataDigest = error { caught = true }
    }
    #expect(caught, "a wrong data digest was not caught")
    #expect(out.map(\.initiatorTaskTag) == [10, 10, 10, 11, 12], "3 + 1 + 1 Data-In, every digest good")
    for i in sizes.indices {
      #expect(
        out.filter { $0.initiatorTaskTag == UInt32(10 + i) }.flatMap(\.data) == Self.payload(i, sizes[i]))
    }
  }

  @Test func commandsOutsideTheWindowAreIgnored() {
    var c = Initiator.loggedIn()
    let tur = [UInt8](repeating: 0, count: 6)
    #expect(c.receive(Initiator.bytes(Initiator.command(itt: 2, cmdSN: 1 &+ 1000, cdb: tur))).isEmpty)
    #expect(c.receive(Initiator.bytes(Initiator.command(itt: 3, cmdSN: 0, cdb: tur))).isEmpty)
    let ok = c.receive(Initiator.bytes(Initiator.command(itt: 4, cmdSN: 1, cdb: tur)))
    #expect(ok.count == 1)
  }

  @Test func anOversizeSegmentEndsTheConnectionBeforeAnythingIsAllocated() {
    var c = Initiator.loggedIn()
    var header = [UInt8](repeating: 0, count: 48)
    header[0] = 0x01
    header[5] = 0xFF  // a 16 MiB data segment announced
    header[6] = 0xFF
    header[7] = 0xFF
    let events = c.receive(header)
    #expect(c.isClosed)
    #expect(events.count == 1)
  }

  @Test func headerDigestsAreCheckedOnceNegotiated() throws {
    var c = ISCSIConnection(target: Initiator.target)
    let login = Initiator.login(keys: [
      ("InitiatorName", "iqn.x:i"), ("TargetName", Initiator.target.name), ("HeaderDigest", "CRC32C,None"),
    ])
    let r = try #require(Initiator.sent(c.receive(Initiator.bytes(login))).first)
    #expect(try ISCSIText.parse(r.data).contains { $0.key == "HeaderDigest" && $0.value == "CRC32C" })
    var framing = ISCSIFraming(maximumReceiveSegment: 1 << 20)
    framing.headerDigest = true
    var nop = Initiator.pdu(0x00, flags: 0x80, itt: 77)
    nop.setBE32(24, 1)
    let good = framing.encode(nop)
    let reply = Initiator.sent(c.receive(good), headerDigest: true)
    #expect(reply.count == 1 && reply.first?.opcode == .nopIn && reply.first?.initiatorTaskTag == 77)
    var bad = good
    bad[49] ^= 0xFF
    _ = c.receive(bad)
    #expect(c.isClosed, "a header digest error ends the connection (ErrorRecoveryLevel 0)")
  }

  @Test func taskManagementAbortsWhatIsWaitingAndAnswersForTheRest() throws {
    var c = Initiator.loggedIn()
    let cdb: [UInt8] = [0x2A, 0, 0, 0, 0, 8, 0, 0, 2, 0]
    _ = c.receive(Initiator.bytes(Initiator.command(itt: 11, cmdSN: 1, cdb: cdb, write: true, edtl: 8192)))
    var abort = Initiator.pdu(0x42, flags: 0x81, itt: 12)
    abort.setBE32(20, 11)
    abort.setBE32(24, 2)
    var r = try #require(Initiator.sent(c.receive(Initiator.bytes(abort))).first)
    #expect(r.opcode == .taskManagementResponse && r.header[2] == 0)
    abort.initiatorTaskTag = 13
    r = try #require(Initiator.sent(c.receive(Initiator.bytes(abort))).first)
    #expect(r.header[2] == 1, "the task no longer exists")
    var reset = Initiator.pdu(0x42, flags: 0x85, itt: 14)
    reset.setBE32(24, 3)
    let events = c.receive(Initiator.bytes(reset))
    #expect(events == [.resetLogicalUnit(lun: 0, initiatorTaskTag: 14)])
    // One reset at a time: another while it runs is FUNCTION REJECTED.
    var again = Initiator.pdu(0x42, flags: 0x85, itt: 18)
    again.header[0] |= 0x40
    #expect(Initiator.sent(c.receive(Initiator.bytes(again))).first?.header[2] == 255)
    #expect(Initiator.sent(c.completeReset(initiatorTaskTag: 14, succeeded: true)).first?.header[2] == 0)
    // TARGET WARM RESET (6) and TARGET COLD RESET (7) go to the owner too; CLEAR ACA is refused.
    for (function, itt, cmdSN) in [(UInt8(6), UInt32(15), UInt32(4)), (7, 16, 5)] {
      var target = Initiator.pdu(0x42, flags: 0x80 | function, itt: itt)
      target.setBE32(24, cmdSN)
      #expect(
        c.receive(Initiator.bytes(target)) == [.resetTarget(cold: function == 7, initiatorTaskTag: itt)])
      _ = c.completeReset(initiatorTaskTag: itt, succeeded: true)
    }
    var clearACA = Initiator.pdu(0x42, flags: 0x83, itt: 17)
    clearACA.setBE32(24, 6)
    #expect(Initiator.sent(c.receive(Initiator.bytes(clearACA))).first?.header[2] == 5, "not supported")
  }

  @Test func anAbortOfARunningTaskIsAnsweredWhenTheTaskEndsAndItsResultIsDropped() throws {
    var c = Initiator.loggedIn()
    let cdb: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    let started = c.receive(
      Initiator.bytes(Initiator.command(itt: 21, cmdSN: 1, cdb: cdb, read: true, edtl: 4096)))
    guard case .execute(let task) = try #require(started.first) else {
      Issue.record("the read did not run")
      return
    }
    var abort = Initiator.pdu(0x42, flags: 0x81, itt: 22)
    abort.setBE32(20, 21)
    abort.setBE32(24, 2)
    #expect(c.receive(Initiator.bytes(abort)).isEmpty, "no answer while the task still runs")
    let out = Initiator.sent(
      c.complete(task, ISCSITaskResult(status: 0, dataIn: [UInt8](repeating: 1, count: 4096))))
    #expect(out.count == 1 && out[0].opcode == .taskManagementResponse && out[0].initiatorTaskTag == 22)
    #expect(out[0].header[2] == 0, "function complete — and no Data-In for the aborted read")
  }

  @Test func theCommandWindowClosesWhenTheTargetIsFull() throws {
    var c = Initiator.loggedIn()
    let tur = [UInt8](repeating: 0, count: 6)
    var last: [ISCSIConnection.Event] = []
    for i in 0..<ISCSIConnection.maximumOutstanding {
      last = c.receive(
        Initiator.bytes(Initiator.command(itt: UInt32(100 + i), cmdSN: UInt32(1 + i), cdb: tur)))
      #expect(last.count == 1)
    }
    #expect(c.maxCmdSN == c.expCmdSN &- 1, "a closed window")
    let over = UInt32(1 + ISCSIConnection.maximumOutstanding)
    #expect(c.receive(Initiator.bytes(Initiator.command(itt: 999, cmdSN: over, cdb: tur))).isEmpty)
    var immediate = Initiator.command(itt: 1000, cmdSN: over, cdb: tur)
    immediate.header[0] |= 0x40
    let r = try #require(Initiator.sent(c.receive(Initiator.bytes(immediate))).first)
    #expect(r.opcode == .reject && r.header[2] == 0x06, "immediate command reject")
  }

  /// A session whose commands already ask for ``ISCSIConnection/maximumOutstandingBytes``:
  /// the logged-in connection and the 16 MiB reads running (ITT 1…4, CmdSN 1…4).
  static func fullOfBytes() throws -> (ISCSIConnection, [ISCSITask]) {
    var c = Initiator.loggedIn()
    let each = ISCSIConnection.maximumTransferBytes
    var tasks: [ISCSITask] = []
    for i in 0..<ISCSIConnection.maximumOutstandingBytes / each {
      let e = c.receive(Initiator.bytes(read16MiB(itt: UInt32(i + 1), cmdSN: UInt32(i + 1))))
      tasks.append(try #require(startedTask(e), "read \(i + 1) starts"))
    }
    #expect(c.session.outstandingBytes == ISCSIConnection.maximumOutstandingBytes)
    return (c, tasks)
  }

  /// The task the events start, if they start one.
  static func startedTask(_ events: [ISCSIConnection.Event]) -> ISCSITask? {
    events.lazy.compactMap { if case .execute(let t) = $0 { t } else { nil } }.first
  }

  static func read16MiB(itt: UInt32, cmdSN: UInt32) -> ISCSIPDU {
    let cdb: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0x10, 0, 0]  // 4,096 blocks of 4 KiB
    return Initiator.command(
      itt: itt, cmdSN: cmdSN, cdb: cdb, read: true, edtl: ISCSIConnection.maximumTransferBytes)
  }

  /// Commands whose data would take the session past its outstanding bytes wait — their slots
  /// taken, no TASK SET FULL while the window offers room (`iscsi-perf -m 64` of 16 MiB reads
  /// was refused so) — and start in order as bytes free; a small command never overtakes a
  /// waiting large one.
  @Test func commandsBeyondTheOutstandingBytesWaitAndStartInOrderAsBytesFree() throws {
    var (c, tasks) = try Self.fullOfBytes()
    let window = c.window
    let tur = [UInt8](repeating: 0, count: 6)
    // 5: a 16 MiB read that does not fit. 6: a TEST UNIT READY (no data) behind it. 7: another.
    #expect(
      c.receive(Initiator.bytes(Self.read16MiB(itt: 5, cmdSN: 5))).isEmpty, "no status, nothing started")
    #expect(
      c.receive(Initiator.bytes(Initiator.command(itt: 6, cmdSN: 6, cdb: tur))).isEmpty, "waits behind 5")
    #expect(c.receive(Initiator.bytes(Self.read16MiB(itt: 7, cmdSN: 7))).isEmpty)
    #expect(c.window == window - 3, "waiting commands hold their slots: the window closes on them")
    #expect(c.expCmdSN == 8, "their CmdSNs are taken")
    // A second command with a waiting one's tag: task in progress.
    let twice = Initiator.sent(c.receive(Initiator.bytes(Initiator.command(itt: 6, cmdSN: 8, cdb: tur))))
    #expect(twice.first?.opcode == .reject && twice.first?.header[2] == 0x07, "task in progress")
    // One read ends: its response, then 5 (which fits now) and 6 start; 7 does not fit yet.
    let first = c.complete(tasks[0], ISCSITaskResult(status: 0))
    #expect(MultipleConnections.executed(first) == [5, 6])
    #expect(Initiator.sent(first).map(\.initiatorTaskTag) == [1], "the response before the starts")
    #expect(c.session.outstandingBytes == ISCSIConnection.maximumOutstandingBytes)
    // Another ends: 7 starts.
    #expect(MultipleConnections.executed(c.complete(tasks[1], ISCSITaskResult(status: 0))) == [7])
    #expect(c.session.waitingForBytes == 0 && c.waitingForBytes.isEmpty)
  }

  /// A waiting command is a task like any other: ABORT TASK ends it (FUNCTION COMPLETE, never
  /// started), ABORT TASK SET drops it, and a connection that ends takes its waiting commands
  /// out of the session's counts.
  @Test func waitingCommandsAreAbortedAndDroppedWithTheirConnection() throws {
    var (c, tasks) = try Self.fullOfBytes()
    #expect(c.receive(Initiator.bytes(Self.read16MiB(itt: 5, cmdSN: 5))).isEmpty)
    #expect(c.receive(Initiator.bytes(Self.read16MiB(itt: 6, cmdSN: 6))).isEmpty)
    let abort = Initiator.sent(
      c.receive(Initiator.bytes(Initiator.taskManagement(1, itt: 50, cmdSN: 7, referenced: 5, refCmdSN: 5))))
    #expect(
      abort.first?.opcode == .taskManagementResponse && abort.first?.header[2] == 0, "function complete")
    #expect(c.waitingForBytes.map(\.pdu.initiatorTaskTag) == [6] && c.session.waitingForBytes == 1)
    // Positive control for the abort: what still waits starts when bytes free.
    #expect(MultipleConnections.executed(c.complete(tasks[0], ISCSITaskResult(status: 0))) == [6])
    #expect(c.receive(Initiator.bytes(Self.read16MiB(itt: 7, cmdSN: 7))).isEmpty)
    // ABORT TASK SET of LUN 0: the waiting read is dropped with the running tasks.
    _ = c.receive(Initiator.bytes(Initiator.taskManagement(2, itt: 51, cmdSN: 8)))
    #expect(c.waitingForBytes.isEmpty && c.session.waitingForBytes == 0)
    #expect(MultipleConnections.executed(c.complete(tasks[1], ISCSITaskResult(status: 0))).isEmpty)
    // 3, 4 and 6 still hold 48 MiB: 8 fits, 9 waits.
    #expect(MultipleConnections.executed(c.receive(Initiator.bytes(Self.read16MiB(itt: 8, cmdSN: 8)))) == [8])
    #expect(c.receive(Initiator.bytes(Self.read16MiB(itt: 9, cmdSN: 9))).isEmpty)
    let slots = c.session.outstanding
    c.abandon()
    #expect(c.session.waitingForBytes == 0 && c.session.outstanding == slots - 1, "9 left the counts")
  }

  @Test func maxCmdSNNeverGoesDownWhenAnImmediateCommandTakesASlot() throws {
    var c = Initiator.loggedIn()
    let tur = [UInt8](repeating: 0, count: 6)
    let granted = c.maxCmdSN
    // An immediate command takes a slot without moving ExpCmdSN: the free-slot window shrinks,
    // but what was granted stays granted (RFC 7143 §4.2.2.1).
    var immediate = Initiator.command(itt: 1, cmdSN: 1, cdb: tur)
    immediate.header[0] |= 0x40
    guard case .execute(let task) = try #require(c.receive(Initiator.bytes(immediate)).first) else {
      Issue.record("the immediate command did not run")
      return
    }
    #expect(
      c.expCmdSN &+ c.window &- 1 == granted &- 1, "the positive control: the fresh window is one lower")
    #expect(c.maxCmdSN == granted)
    let answer = try #require(Initiator.sent(c.complete(task, ISCSITaskResult(status: 0))).first)
    #expect(answer.be32(32) == granted, "MaxCmdSN advertised as granted")
    // Every CmdSN up to the granted MaxCmdSN is still accepted.
    for sn in 1...granted {
      let e = c.receive(Initiator.bytes(Initiator.command(itt: 100 + sn, cmdSN: sn, cdb: tur)))
      #expect(e.count == 1, "CmdSN \(sn) of \(granted)")
    }
  }

  @Test func silentConnectionsArePingedAndClosedWhenThePingGoesUnanswered() throws {
    var c = ISCSIConnection(target: Initiator.target)
    let s: UInt64 = 1_000_000_000
    #expect(
      c.tick(now: 100 * s, silentFor: 100 * s, interval: 5 * s, timeout: 5 * s).isEmpty, "not before login")
    // A connection that does not log in by its deadline is closed.
    var late = ISCSIConnection(target: Initiator.target)
    late.loginDeadline = 30 * s
    #expect(late.tick(now: 29 * s, silentFor: 0, interval: 5 * s, timeout: 5 * s).isEmpty)
    #expect(
      late.tick(now: 30 * s, silentFor: 0, interval: 5 * s, timeout: 5 * s) == [
        .close("the login did not complete in time")
      ])
    _ = c.receive(Initiator.bytes(Initiator.normalLogin))
    #expect(c.isFullFeature)
    #expect(
      c.tick(now: 10 * s, silentFor: 4 * s, interval: 5 * s, timeout: 5 * s).isEmpty, "not yet silent long")
    // Silent for the interval: a NOP-In with a Target Transfer Tag, ITT all ones, StatSN not advanced.
    let ping = try #require(
      Initiator.sent(c.tick(now: 11 * s, silentFor: 5 * s, interval: 5 * s, timeout: 5 * s)).first)
    #expect(ping.opcode == .nopIn && ping.initiatorTaskTag == 0xFFFF_FFFF && ping.be32(20) != 0xFFFF_FFFF)
    #expect(c.isPinging)
    #expect(
      c.tick(now: 15 * s, silentFor: 9 * s, interval: 5 * s, timeout: 5 * s).isEmpty, "one ping at a time")
    // The initiator's answer (NOP-Out, ITT all ones, the TTT back, immediate) clears it.
    var answer = Initiator.pdu(0x40, flags: 0x80, itt: 0xFFFF_FFFF)  // NOP-Out, immediate
    answer.setBE32(20, ping.be32(20))
    answer.setBE32(24, 1)
    #expect(c.receive(Initiator.bytes(answer)).isEmpty, "an answer is not answered")
    #expect(!c.isPinging)
    // A ping nobody answers ends the connection after the timeout — and only then.
    let second = try #require(
      Initiator.sent(c.tick(now: 30 * s, silentFor: 6 * s, interval: 5 * s, timeout: 5 * s)).first)
    #expect(second.be32(20) != ping.be32(20), "a fresh tag per ping")
    #expect(c.tick(now: 34 * s, silentFor: 10 * s, interval: 5 * s, timeout: 5 * s).isEmpty)
    let end = c.tick(now: 35 * s, silentFor: 11 * s, interval: 5 * s, timeout: 5 * s)
    #expect(end.contains { if case .close = $0 { return true } else { return false } } && c.isClosed)
  }

  @Test func aDiscoverySessionRunsNoCommands() throws {
    var c = ISCSIConnection(target: Initiator.target)
    _ = c.receive(
      Initiator.bytes(Initiator.login(keys: [("InitiatorName", "iqn.x:i"), ("SessionType", "Discovery")])))
    let events = c.receive(
      Initiator.bytes(
        Initiator.command(itt: 1, cmdSN: 1, cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], read: true, edtl: 4096)))
    let r = try #require(Initiator.sent(events).first)
    #expect(r.opcode == .reject && r.header[2] == 0x04)
    #expect(!events.contains { if case .execute = $0 { true } else { false } })
  }

  @Test func splittingTheInputAnywhereChangesNothing() {
    let stream = Initiator.bytes(
      Initiator.normalLogin,
      Initiator.command(itt: 1, cmdSN: 1, cdb: [0x12, 0, 0, 0, 36, 0], read: true, edtl: 36),
      Initiator.command(
        itt: 2, cmdSN: 2, cdb: [0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0], write: true, edtl: 4096,
        data: [UInt8](repeating: 9, count: 4096)))
    var whole = ISCSIConnection(target: Initiator.target)
    let expected = whole.receive(stream)
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<20 {
      var c = ISCSIConnection(target: Initiator.target)
      var events: [ISCSIConnection.Event] = []
      var i = 0
      while i < stream.count {
        let n = Int.random(in: 1...97, using: &rng)
        events += c.receive(Array(stream[i..<min(stream.count, i + n)]))
        i += n
      }
      #expect(events == expected)
    }
  }

  @Test func randomBytesNeverTrapAndNeverRunACommandBeforeLogin() {
    var rng = SeededGenerator(seed: 42)
    var parsed = 0
    for round in 0..<3000 {
      let before = round % 2 == 0
      var c = before ? ISCSIConnection(target: Initiator.target) : Initiator.loggedIn()
      var input = [UInt8](repeating: 0, count: Int.random(in: 48...600, using: &rng))
      for i in input.indices { input[i] = UInt8.random(in: 0...255, using: &rng) }
      // Keep the announced lengths small half the time so whole PDUs get parsed.
      if round % 4 < 2 {
        input[4] = 0
        input[5] = 0
        input[6] = 0
        input[7] = UInt8.random(in: 0...64, using: &rng)
      }
      let events = c.receive(input)
      if !events.isEmpty { parsed += 1 }
      if before {
        #expect(!events.contains { if case .execute = $0 { true } else { false } }, "round \(round)")
      }
    }
    // The inputs reach the parser's decisions, not only its length checks.
    #expect(parsed > 1000)
  }
}

/// A deterministic generator (xorshift) so a failing random input can be replayed.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed | 1 }
  mutating func next() -> UInt64 {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return state
  }
}

/// An iSCSI target with LUN 0 on an 8 MiB NVMe adapter, listening on a free loopback port; at
/// the end the adapter stops first (its last completions still find the event loop), then the
/// server.
final class LoopbackTarget {
  let rig: WorkloadRig
  let disk: AdapterDisk
  let server: ISCSIServer
  let port: Int
  /// `latency`: each NVMe command's time in the device, in ns (none when nil).
  init(metrics: ServeMetrics? = nil, latency: UInt64? = nil, sizeBytes: UInt64 = 8 << 20) throws {
    var o = WorkloadOptions()
    o.miniport = .nvme
    o.sizeBytes = sizeBytes
    o.processors = 2
    if let latency {
      o.latency = .fixed(nanoseconds: latency)
      o.stuckTimeoutMilliseconds = 60_000
    }
    rig = try WorkloadRig(o)
    disk = AdapterDisk(adapter: rig.adapter, blockSize: rig.store.blockSize, blockCount: rig.store.blockCount)
    server = ISCSIServer(name: Initiator.target.name, luns: [0: disk], metrics: metrics)
    do { port = try server.start(host: "127.0.0.1", port: 0) } catch {
      rig.runtime.shutdown()
      throw error
    }
  }
  deinit {
    rig.runtime.shutdown()
    server.shutdown()
  }

  /// Logged-in sessions of `count` initiator ports (ISID last bytes 1, 2, …): one I_T nexus
  /// each.
  func sessionsOfDistinctPorts(_ count: Int) throws -> [NBDTestClient] {
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    return try (0..<count).map { i in
      let c = try NBDTestClient(port: port)
      var login = Initiator.normalLogin
      login.header[13] = UInt8(1 + i)
      c.send(framing.encode(login))
      try #require(c.receivePDU().count >= 48, "port \(i + 1) logged in")
      return c
    }
  }

  /// A logged-in session (CmdSN 1 used) with a one-block WRITE(10) of block 0 in the device:
  /// expects (a positive control for what follows) that the write reached the adapter and is
  /// still there — the target's latency must outlast the wait.
  func sessionWithAWriteInTheDevice() throws -> NBDTestClient {
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    let c = try NBDTestClient(port: port)
    c.send(framing.encode(Initiator.normalLogin))
    #expect(c.receivePDU().count >= 48)
    putAWriteInTheDevice(c)
    return c
  }

  /// Sends a one-block WRITE (ITT 1, CmdSN `cmdSN`) on `c` and waits until it is in the device
  /// (the positive control of the tests that need it there: checked).
  func putAWriteInTheDevice(_ c: NBDTestClient, cmdSN: UInt32 = 1) {
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    let bs = disk.blockSize
    c.send(
      framing.encode(
        Initiator.command(
          itt: 1, cmdSN: cmdSN, cdb: [0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0], write: true, edtl: bs,
          data: [UInt8](repeating: 0x5A, count: bs))))
    let deadline = DispatchTime.now() + 10
    while rig.adapter.statistics.outstandingRequests == 0 && DispatchTime.now() < deadline { usleep(1_000) }
    #expect(rig.adapter.statistics.outstandingRequests == 1, "the write never reached the adapter")
  }

  /// Sends `logout` on `c` with the write of ``putAWriteInTheDevice(_:cmdSN:)`` in the device:
  /// the Logout Response (success) must come once it has left (RFC 7143 §11.15), then the
  /// connection closes.
  func expectLogoutAnsweredAfterTheWrite(_ c: NBDTestClient, _ logout: ISCSIPDU) {
    c.send(ISCSIFraming(maximumReceiveSegment: 1 << 24).encode(logout))
    let answer = c.receivePDU()
    #expect(answer.count >= 48 && answer[0] & 0x3F == 0x26 && answer[2] == 0, "Logout Response, success")
    #expect(
      rig.adapter.statistics.outstandingRequests == 0,
      "the Logout Response went out while the write was still in the device")
    #expect(c.closedByPeer())
  }
}

/// The target in front of an NVMe adapter over loopback: a real command sequence through the
/// adapter (the residual rules included).
@Suite(.serialized) struct ISCSIServerTests {
  @Test func readsAndWritesGoThroughTheAdapterWithResiduals() throws {
    let registry = PrometheusCollectorRegistry()
    let t = try LoopbackTarget(metrics: ServeMetrics(factory: PrometheusMetricsFactory(registry: registry)))
    let (rig, disk, port) = (t.rig, t.disk, t.port)
    let client = try NBDTestClient(port: port)
    var framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    func roundTrip(_ pdu: ISCSIPDU, replies: Int) -> [ISCSIPDU] {
      client.send(framing.encode(pdu))
      var out: [ISCSIPDU] = []
      var buffer: [UInt8] = []
      while out.count < replies {
        let header = client.receive(48)
        guard header.count == 48 else { break }
        let segment = Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
        buffer = header + client.receive(ISCSIFraming.padded(segment))
        var start = 0
        if let p = try? framing.next(buffer, &start) { out.append(p) }
      }
      return out
    }
    let login = roundTrip(Initiator.normalLogin, replies: 1)
    #expect(login.first?.header[36] == 0)
    // A second session (another connection, another initiator port: its own ISID) gets a TSIH
    // of its own.
    let other = try NBDTestClient(port: port)
    var otherLogin = Initiator.normalLogin
    otherLogin.header[13] = 0x42
    other.send(framing.encode(otherLogin))
    let otherHeader = other.receive(48)
    let tsih = try #require(login.first).be16(14)
    #expect(otherHeader.count == 48 && otherHeader[36] == 0, "the second login succeeds")
    #expect(
      tsih != 0 && otherHeader.count == 48 && UInt16(otherHeader[14]) << 8 | UInt16(otherHeader[15]) != tsih)
    framing.maximumReceiveSegment = 1 << 24
    let bs = disk.blockSize
    let data = (0..<(2 * bs)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ 1) }
    // WRITE(10) of two blocks, all immediate... beyond FirstBurstLength 4096: the rest by R2T.
    let first = Array(data.prefix(4096))
    var replies = roundTrip(
      Initiator.command(
        itt: 1, cmdSN: 1, cdb: [0x2A, 0, 0, 0, 0, 4, 0, 0, 2, 0], write: true, edtl: data.count, data: first),
      replies: 1)
    var offset = first.count
    var dataSN: UInt32 = 0
    while let r2t = replies.first, r2t.opcode == .readyToTransfer {
      let length = Int(r2t.be32(44))
      let chunk = Array(data[offset..<offset + length])
      replies = roundTrip(
        Initiator.dataOut(
          itt: 1, ttt: r2t.be32(20), dataSN: dataSN, offset: offset, data: chunk, final: true),
        replies: 1)
      offset += length
      dataSN = 0
    }
    #expect(replies.first?.opcode == .scsiResponse && replies.first?.header[3] == 0)
    // READ(10) of the same two blocks with EDTL one block: GOOD, one block, overflow of one.
    let read = roundTrip(
      Initiator.command(itt: 2, cmdSN: 2, cdb: [0x28, 0, 0, 0, 0, 4, 0, 0, 2, 0], read: true, edtl: bs),
      replies: 1)
    let last = try #require(read.last)
    #expect(read.flatMap(\.data) == Array(data.prefix(bs)))
    #expect(last.flags & 0x01 != 0 && last.header[3] == 0 && last.flags & 0x04 != 0, "status, overflow")
    #expect(Int(last.be32(44)) == bs)
    // WRITE(10) of one block with EDTL 200: the block cannot be written whole, so it is
    // refused (CHECK CONDITION, ILLEGAL REQUEST, INVALID FIELD IN INFORMATION UNIT) with the
    // overflow still reported, and the block keeps what it held (FCP-4 option b).
    let partial = roundTrip(
      Initiator.command(
        itt: 4, cmdSN: 3, cdb: [0x2A, 0, 0, 0, 0, 4, 0, 0, 1, 0], write: true, edtl: 200,
        data: [UInt8](repeating: 0xEE, count: 200)),
      replies: 1)
    let refusal = try #require(partial.first)
    #expect(refusal.opcode == .scsiResponse && refusal.header[3] == 0x02, "CHECK CONDITION")
    #expect(refusal.data.count >= 16 && refusal.data[4] == 0x05, "ILLEGAL REQUEST")
    #expect(refusal.data.count >= 16 && refusal.data[14] == 0x0E && refusal.data[15] == 0x03)
    #expect(refusal.flags & 0x04 != 0 && Int(refusal.be32(44)) == bs - 200, "overflow")
    let after = roundTrip(
      Initiator.command(itt: 5, cmdSN: 4, cdb: [0x28, 0, 0, 0, 0, 4, 0, 0, 1, 0], read: true, edtl: bs),
      replies: 1)
    #expect(after.flatMap(\.data) == Array(data.prefix(bs)), "nothing of the refused write landed")
    // REPORT LUNS: the target's one LUN.
    let luns = roundTrip(
      Initiator.command(
        itt: 3, cmdSN: 5, cdb: [0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0], read: true, edtl: 64), replies: 1)
    #expect(luns.flatMap(\.data) == [0, 0, 0, 8, 0, 0, 0, 0] + [UInt8](repeating: 0, count: 8))
    #expect(rig.runtime.verifier.violations.isEmpty)
    // Counted: two writes (one refused), two reads (bytes as sent: one block each), REPORT
    // LUNS as other, two normal sessions open.
    let text = registry.emitToString()
    for line in [
      #"storport_requests_total{frontend="iscsi",op="write"} 2"#,
      #"storport_request_errors_total{frontend="iscsi",op="write"} 1"#,
      "storport_request_bytes_total{frontend=\"iscsi\",op=\"write\"} \(2 * bs)",
      #"storport_requests_total{frontend="iscsi",op="read"} 2"#,
      "storport_request_bytes_total{frontend=\"iscsi\",op=\"read\"} \(2 * bs)",
      #"storport_requests_total{frontend="iscsi",op="other"} 1"#,
      #"storport_sessions{frontend="iscsi"} 2.0"#,
    ] {
      #expect(text.contains(line), "\(line)")
    }
    // The adapter's own figures, pulled at a scrape, and the HTTP endpoint that serves them.
    let pulledFactory = PrometheusMetricsFactory(registry: registry)
    let pulled = RuntimeMetrics(
      sources: [RuntimeMetrics.Source(name: "lun0", runtime: rig.runtime, adapter: rig.adapter)],
      factory: pulledFactory)
    let http = MetricsServer(
      pages: MetricsServer.Pages(
        metrics: {
          pulled.refresh()
          return registry.emitToBuffer()
        }, status: { "lun0: \(rig.runtime.verifier.verdict)\n" }))
    let httpPort = try http.start(host: "127.0.0.1", port: 0)
    defer { http.shutdown() }
    func get(_ path: String) -> String {
      let c = try? NBDTestClient(port: httpPort)
      c?.send(Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8))
      var out: [UInt8] = []
      while let c {
        let chunk = c.receive(4096)
        out += chunk
        if chunk.count < 4096 { break }
      }
      return String(decoding: out, as: UTF8.self)
    }
    let scrape = get("/metrics")
    #expect(scrape.hasPrefix("HTTP/1.1 200 OK"))
    let completed = rig.adapter.statistics.completedRequests
    #expect(completed == 3, "the write and two reads (the refused write and REPORT LUNS never reach it)")
    #expect(scrape.contains("storport_adapter_completed_requests_total{adapter=\"lun0\"} \(completed)"))
    #expect(scrape.contains(#"callback="HwStorStartIo""#), "per-processor callback counts")
    #expect(scrape.contains(#"storport_verifier_violations{adapter="lun0"} 0.0"#))
    #expect(get("/status").contains("lun0: PASS"))
    #expect(get("/nothing").hasPrefix("HTTP/1.1 404"))
    withExtendedLifetime(t) {}  // the target lives to the end of the test
  }
}

/// Target resets over loopback through an NVMe adapter: a COLD reset ends every connection,
/// and the next session's first command meets the UNIT ATTENTION of the hard reset.
@Suite(.serialized) struct ISCSITargetResetTests {
  @Test func aColdResetEndsEveryConnectionAndLeavesAUnitAttention() throws {
    let t = try LoopbackTarget()
    let (rig, port) = (t.rig, t.port)
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    func next(_ c: NBDTestClient) -> [UInt8] { c.receivePDU() }
    let ab = try t.sessionsOfDistinctPorts(2)
    let (a, b) = (ab[0], ab[1])
    var cold = Initiator.pdu(0x42, flags: 0x87, itt: 9)
    cold.setBE32(24, 1)
    a.send(framing.encode(cold))
    let answer = next(a)
    #expect(answer.count >= 48 && answer[0] & 0x3F == 0x22 && answer[2] == 0, "TMF response: complete")
    #expect(a.closedByPeer(), "the resetting connection ends")
    #expect(b.closedByPeer(), "and every other one")
    // A new session: its first TEST UNIT READY meets 29/00, its second passes.
    let c = try NBDTestClient(port: port)
    c.send(framing.encode(Initiator.normalLogin))
    #expect(next(c).count >= 48)
    for (cmdSN, attention) in [(UInt32(1), true), (2, false)] {
      c.send(framing.encode(Initiator.command(itt: cmdSN, cmdSN: cmdSN, cdb: [0, 0, 0, 0, 0, 0])))
      let r = next(c)
      #expect(r.count >= 48 && r[0] & 0x3F == 0x21, "SCSI Response")
      if attention {
        #expect(r.count > 48 + 15 && r[3] == 0x02 && r[48 + 2 + 2] & 0x0F == 0x06, "UNIT ATTENTION")
        #expect(r.count > 48 + 15 && r[48 + 2 + 12] == 0x29 && r[48 + 2 + 13] == 0x00, "29/00")
      } else {
        #expect(r.count >= 48 && r[3] == 0, "GOOD")
      }
    }
    // The negative control: an initiator port never seen before (another ISID) starts up to
    // date — its first command is GOOD.
    let d = try NBDTestClient(port: port)
    var otherPort = Initiator.normalLogin
    otherPort.header[13] = 0x77
    d.send(framing.encode(otherPort))
    #expect(next(d).count >= 48)
    d.send(framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: [0, 0, 0, 0, 0, 0])))
    let fresh = next(d)
    #expect(fresh.count >= 48 && fresh[0] & 0x3F == 0x21 && fresh[3] == 0, "GOOD for a new nexus")
    #expect(rig.runtime.verifier.violations.isEmpty)
    withExtendedLifetime(t) {}  // the target lives to the end of the test
  }
}

extension ISCSITargetResetTests {
  /// A UNIT ATTENTION answers a command the moment it would start, so the bytes that command was
  /// charged free at once and a command waiting for them starts there: it must run (it was
  /// dropped — never answered, its slot and bytes held for the life of the session). B's five
  /// reads, each expecting 16 MiB, come in one segment after A's LOGICAL UNIT RESET: the fifth
  /// waits, the first meets the UNIT ATTENTION, and all five are answered.
  @Test func aCommandStartedByTheBytesOfAUnitAttentionRuns() throws {
    let t = try LoopbackTarget()
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    let ab = try t.sessionsOfDistinctPorts(2)
    let (a, b) = (ab[0], ab[1])
    a.send(framing.encode(Initiator.taskManagement(5, itt: 9, cmdSN: 1)))
    let reset = a.receivePDU()
    try #require(reset.count >= 48 && reset[0] & 0x3F == 0x22 && reset[2] == 0, "LU RESET complete")
    let oneBlock: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    let reads = (1...5).map { i in
      Initiator.command(
        itt: UInt32(i), cmdSN: UInt32(i), cdb: oneBlock, read: true,
        edtl: ISCSIConnection.maximumTransferBytes)
    }
    b.send(reads.flatMap { framing.encode($0) })
    var answered: [UInt32: [UInt8]] = [:]
    for _ in 1...5 {
      let r = b.receivePDU()
      guard r.count >= 48 else { break }
      answered[NBDTestClient.read32(r, 16)] = r
    }
    #expect(answered.keys.sorted() == [1, 2, 3, 4, 5], "every read answered")
    let first = answered[1] ?? []
    #expect(first.count > 48 + 15 && first[3] == 0x02 && first[48 + 2 + 12] == 0x29, "the first meets 29/xx")
    for itt in UInt32(2)...5 {
      let r = answered[itt] ?? []
      #expect(r.count >= 48 && r[0] & 0x3F == 0x25 && r[3] == 0, "read \(itt): Data-In, GOOD")
    }
    withExtendedLifetime((a, t)) {}
  }
}

/// CHAP (RFC 7143 §12.1.3, MD5 from libcrypto) and the initiator allow-list at login.
@Suite struct ISCSIChapTests {
  static let alice = ISCSIChapCredentials(user: "alice", secret: Array("secret-of-alice".utf8))
  static let target = ISCSITargetConfiguration(
    name: "iqn.2026-11.test:disk", address: "127.0.0.1:3260,1", luns: [0], chap: alice,
    mutualChap: ISCSIChapCredentials(user: "disk", secret: Array("secret-of-target".utf8)),
    allowedInitiators: ["iqn.2026-11.test:initiator"], chapDigest: { ISCSIChapDigest.md5($0) })

  static func keys(_ pdu: ISCSIPDU) throws -> [String: String] {
    Dictionary(try ISCSIText.parse(pdu.data).map { ($0.key, $0.value) }, uniquingKeysWith: { $1 })
  }

  @Test func md5IsLibcryptosAndRight() {
    #expect(ISCSIConnection.hex(ISCSIChapDigest.md5(Array("abc".utf8))) == "900150983cd24fb0d6963f7d28e17f72")
    #expect(ISCSIConnection.bytes("0x00fF10") == [0, 255, 16])
    #expect(
      ISCSIConnection.bytes("0x0") == nil && ISCSIConnection.bytes("12ab") == nil
        && ISCSIConnection.bytes("0xzz") == nil)
  }

  /// Security negotiation up to the challenge: the connection and the challenge's id and bytes.
  static func challenged() throws -> (ISCSIConnection, UInt8, [UInt8]) {
    var c = ISCSIConnection(target: target)
    let first = Initiator.login(
      csg: 0, nsg: 1,
      keys: [
        ("InitiatorName", "iqn.2026-11.test:initiator"), ("TargetName", target.name),
        ("AuthMethod", "CHAP,None"),
      ])
    var r = try #require(Initiator.sent(c.receive(Initiator.bytes(first))).first)
    #expect(try keys(r)["AuthMethod"] == "CHAP")
    #expect(r.flags & 0x80 == 0, "no transit before the proof")
    let algorithm = Initiator.login(csg: 0, nsg: 1, keys: [("CHAP_A", "7,5")])
    r = try #require(Initiator.sent(c.receive(Initiator.bytes(algorithm))).first)
    let k = try keys(r)
    #expect(k["CHAP_A"] == "5")
    let id = try #require(k["CHAP_I"].flatMap { UInt8($0) })
    let challenge = try #require(k["CHAP_C"].flatMap(ISCSIConnection.bytes))
    #expect(challenge.count == 16)
    return (c, id, challenge)
  }

  @Test func theRightResponseLogsInAndMutualChapAnswersBack() throws {
    var (c, id, challenge) = try Self.challenged()
    let response = ISCSIChapDigest.md5([id] + Self.alice.secret + challenge)
    let mine: [UInt8] = (0..<16).map { UInt8($0 * 3) }
    let proof = Initiator.login(
      csg: 0, nsg: 3,
      keys: [
        ("CHAP_N", "alice"), ("CHAP_R", "0x" + ISCSIConnection.hex(response)), ("CHAP_I", "9"),
        ("CHAP_C", "0x" + ISCSIConnection.hex(mine)),
      ])
    let r = try #require(Initiator.sent(c.receive(Initiator.bytes(proof))).first)
    #expect(r.header[36] == 0 && r.flags & 0x83 == 0x83, "success, transit to the full feature phase")
    let k = try Self.keys(r)
    #expect(k["CHAP_N"] == "disk")
    #expect(
      k["CHAP_R"] == "0x"
        + ISCSIConnection.hex(ISCSIChapDigest.md5([9] + Array("secret-of-target".utf8) + mine)))
    #expect(c.isFullFeature)
  }

  @Test func aWrongResponseOrASkippedNegotiationFails() throws {
    var (c, _, _) = try Self.challenged()
    let wrong = Initiator.login(
      csg: 0, nsg: 3, keys: [("CHAP_N", "alice"), ("CHAP_R", "0x" + String(repeating: "ab", count: 16))])
    var r = try #require(Initiator.sent(c.receive(Initiator.bytes(wrong))).first)
    #expect(r.header[36] == 2 && r.header[37] == 1, "authentication failure")
    #expect(c.isClosed)
    // Straight to the operational stage without CHAP.
    c = ISCSIConnection(target: Self.target)
    r = try #require(Initiator.sent(c.receive(Initiator.bytes(Initiator.normalLogin))).first)
    #expect(r.header[36] == 2 && r.header[37] == 1)
    // Reflecting our own challenge back (mutual CHAP) is refused too.
    var (c2, id, challenge) = try Self.challenged()
    let reflected = Initiator.login(
      csg: 0, nsg: 3,
      keys: [
        ("CHAP_N", "alice"),
        ("CHAP_R", "0x" + ISCSIConnection.hex(ISCSIChapDigest.md5([id] + Self.alice.secret + challenge))),
        ("CHAP_I", String(id)), ("CHAP_C", "0x" + ISCSIConnection.hex(challenge)),
      ])
    r = try #require(Initiator.sent(c2.receive(Initiator.bytes(reflected))).first)
    #expect(r.header[36] == 2 && r.header[37] == 1)
  }

  @Test func anInitiatorOffTheAllowListIsRefused() throws {
    var c = ISCSIConnection(target: Self.target)
    let login = Initiator.login(
      csg: 0, nsg: 1,
      keys: [
        ("InitiatorName", "iqn.2026-11.test:stranger"), ("TargetName", Self.target.name),
        ("AuthMethod", "CHAP"),
      ])
    let r = try #require(Initiator.sent(c.receive(Initiator.bytes(login))).first)
    #expect(r.header[36] == 2 && r.header[37] == 2, "authorization failure")
    #expect(c.isClosed)
  }
}

/// COMPARE AND WRITE through the front end: a Data-Out that is not exactly the verify and the
/// write instance (2 × NUMBER OF LOGICAL BLOCKS blocks) is refused with INVALID FIELD IN CDB —
/// a CDB naming 256 blocks wraps its 8-bit field to 0, and such a command must not pass as a
/// no-op with its data dropped.
@Suite struct CompareAndWriteFrontEndTests {
  func run(_ disk: AdapterDisk, _ cdb: [UInt8], _ dataOut: [UInt8]) -> AdapterDisk.ScsiOutcome {
    let done = DispatchSemaphore(value: 0)
    let result = Locked<AdapterDisk.ScsiOutcome?>(nil)
    disk.execute(cdb: cdb, dataOut: dataOut, dataInLength: 0) { outcome in
      result.withLock { $0 = outcome }
      done.signal()
    }
    #expect(done.wait(timeout: .now() + 10) == .success, "not completed")
    return result.withLock { $0 }!
  }

  @Test func aDataOutThatIsNotTwoInstancesIsRefused() throws {
    let t = try LoopbackTarget()
    let bs = t.disk.blockSize
    let write: [UInt8] = [0x8A, 0] + [UInt8](repeating: 0, count: 8) + [0, 0, 0, 1, 0, 0]
    #expect(run(t.disk, write, [UInt8](repeating: 0x41, count: bs)).status == 0)
    func caw(_ blocks: UInt8) -> [UInt8] {
      [0x89, 0] + [UInt8](repeating: 0, count: 8) + [0, 0, 0, blocks, 0, 0]
    }
    let pair = [UInt8](repeating: 0x41, count: bs) + [UInt8](repeating: 0x42, count: bs)
    // NUMBER OF LOGICAL BLOCKS 0 (256 wrapped) with two blocks of Data-Out.
    let wrapped = run(t.disk, caw(0), pair)
    #expect(wrapped.status == 0x02)
    #expect(wrapped.sense.count >= 14 && wrapped.sense[2] & 0x0F == 0x05 && wrapped.sense[12] == 0x24)
    // One block named, three sent.
    #expect(run(t.disk, caw(1), pair + [UInt8](repeating: 0, count: bs)).status == 0x02)
    // Positive control: the exact pair compares and writes.
    #expect(run(t.disk, caw(1), pair).status == 0)
  }
}

/// A LOGICAL UNIT RESET answers only after the commands sent before it have left the adapter:
/// a write still in the (slow) device when the reset is asked for must not land after the
/// reset's response, where it would overwrite what the initiator writes next.
@Suite struct ResetDrainTests {
  /// The epoch bookkeeping alone: a waiter resumes once its epoch and every older one are
  /// empty — not when only a newer one is, and not early after epochs that were empty when
  /// they ended.
  @Test func drainWaitersResumeOnceTheirEpochAndOlderOnesAreEmpty() {
    let fired = Locked<[Int]>([])
    func run(_ due: [@Sendable () -> Void]) { for resume in due { resume() } }
    var d = DrainState()
    run(d.wait { fired.withLock { $0.append(0) } })
    run(d.wait { fired.withLock { $0.append(1) } })
    #expect(fired.withLock { $0 } == [0, 1], "nothing in the adapter: at once")
    let a = d.begin()
    run(d.wait { fired.withLock { $0.append(2) } })
    let b = d.begin()
    run(d.wait { fired.withLock { $0.append(3) } })
    #expect(fired.withLock { $0 } == [0, 1], "two epochs busy")
    run(d.end(b))
    #expect(fired.withLock { $0 } == [0, 1], "the newer epoch emptied, the older one is still busy")
    run(d.end(a))
    #expect(fired.withLock { $0 } == [0, 1, 2, 3])
    let c = d.begin()
    run(d.end(c))
    #expect(fired.withLock { $0 } == [0, 1, 2, 3], "no waiter left to resume twice")
    // The older epoch empties first: its waiter goes, the newer one's stays.
    let e = d.begin()
    run(d.wait { fired.withLock { $0.append(4) } })
    let f = d.begin()
    run(d.wait { fired.withLock { $0.append(5) } })
    run(d.end(e))
    #expect(fired.withLock { $0 } == [0, 1, 2, 3, 4], "only the waiter whose epochs are all empty")
    run(d.end(f))
    #expect(fired.withLock { $0 } == [0, 1, 2, 3, 4, 5])
  }

  @Test func whenDrainedWaitsForEarlierRequestsOnly() throws {
    var o = WorkloadOptions()
    o.miniport = .nvme
    o.sizeBytes = 8 << 20
    o.processors = 2
    o.latency = .fixed(nanoseconds: 300_000_000)  // 300 ms per command
    o.stuckTimeoutMilliseconds = 60_000
    let rig = try WorkloadRig(o)
    defer { rig.runtime.shutdown() }
    let disk = AdapterDisk(
      adapter: rig.adapter, blockSize: rig.store.blockSize, blockCount: rig.store.blockCount)
    // Positive control: nothing in flight, the barrier passes at once.
    let idle = DispatchSemaphore(value: 0)
    disk.whenDrained { idle.signal() }
    #expect(idle.wait(timeout: .now() + 5) == .success)

    let order = Locked<[String]>([])
    let done = DispatchSemaphore(value: 0)
    disk.write(offset: 0, data: [UInt8](repeating: 0x77, count: disk.blockSize), fua: false) { _ in
      order.withLock { $0.append("write") }
      done.signal()
    }
    disk.whenDrained {
      order.withLock { $0.append("drained") }
      done.signal()
    }
    #expect(done.wait(timeout: .now() + 10) == .success)
    #expect(done.wait(timeout: .now() + 10) == .success)
    #expect(
      order.withLock { $0 } == ["write", "drained"], "the barrier passed a request still in the device")
  }
}

/// Session reinstatement (RFC 7143 §6.3.5): a new session of an initiator port that has one
/// (the same InitiatorName and ISID, TSIH 0) ends the old one; a session of another port does not.
@Suite struct SessionReinstatementTests {
  @Test func aNewSessionOfTheSamePortEndsTheOldOne() throws {
    let t = try LoopbackTarget()
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    func next(_ c: NBDTestClient) -> [UInt8] { c.receivePDU() }
    func testUnitReady(_ c: NBDTestClient, _ cmdSN: UInt32) -> Bool {
      c.send(framing.encode(Initiator.command(itt: cmdSN, cmdSN: cmdSN, cdb: [0, 0, 0, 0, 0, 0])))
      let r = next(c)
      return r.count >= 48 && r[0] & 0x3F == 0x21
    }
    let old = try NBDTestClient(port: t.port)
    old.send(framing.encode(Initiator.normalLogin))
    #expect(next(old).count >= 48)
    // Another port (another ISID): both sessions live on.
    let neighbour = try NBDTestClient(port: t.port)
    var other = Initiator.normalLogin
    other.header[13] = 0x55
    neighbour.send(framing.encode(other))
    #expect(next(neighbour).count >= 48)
    #expect(testUnitReady(old, 1), "a session of another port leaves this one alone")
    // The same port again: the old session ends, the new one and the neighbour serve.
    let new = try NBDTestClient(port: t.port)
    new.send(framing.encode(Initiator.normalLogin))
    #expect(next(new).count >= 48)
    // RESERVE(6) through the new session at once: the old connection's close, whenever it comes,
    // must not end it (the nexus was lost at reinstatement, not at that close).
    new.send(framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: [0x16, 0, 0, 0, 0, 0])))
    let reserved = next(new)
    #expect(reserved.count >= 48 && reserved[3] == 0, "RESERVE(6) GOOD")
    #expect(old.closedByPeer(), "the reinstated session's connection ends")
    #expect(testUnitReady(new, 2))
    neighbour.send(
      framing.encode(
        Initiator.command(itt: 2, cmdSN: 2, cdb: [0x1A, 0, 0x3F, 0, 255, 0], read: true, edtl: 255)))
    let sensed = next(neighbour)
    #expect(sensed.count >= 48 && sensed[3] == 0x18, "MODE SENSE from another port: RESERVATION CONFLICT")
    withExtendedLifetime(t) {}
  }

  /// RFC 7143 §6.3.5: the old session's tasks end with it — but an adapter cannot take back a
  /// write it has started. The new session's login is answered only once that write has left
  /// the device, so none of the old session's writes can land after one of the new session's.
  @Test func aReinstatingLoginWaitsForTheOldSessionsCommandsToLeaveTheAdapter() throws {
    let t = try LoopbackTarget(latency: 400_000_000)  // 400 ms per command
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    // Positive control (inside): the write is in the device when the new session logs in.
    let old = try t.sessionWithAWriteInTheDevice()
    let new = try NBDTestClient(port: t.port)
    new.send(framing.encode(Initiator.normalLogin))
    let answer = new.receivePDU()
    #expect(answer.count >= 48 && answer[0] & 0x3F == 0x23 && answer[36] == 0, "login accepted")
    #expect(
      t.rig.adapter.statistics.outstandingRequests == 0,
      "the reinstating login was answered while the old session's write was still in the device")
    #expect(old.closedByPeer(), "the reinstated session's connection ends")
  }
}

/// RFC 7143 §11.15: a Logout Response says cleanup is done — the commands the logout ends have
/// left the adapter (it went out at once, while a write of the session was still in the device).
@Suite struct LogoutCleanupTests {
  @Test func aLogoutIsAnsweredOnceTheSessionsCommandsHaveLeftTheAdapter() throws {
    let t = try LoopbackTarget(latency: 400_000_000)  // 400 ms per command
    // Positive control (inside): the write is in the device when the logout is sent.
    let c = try t.sessionWithAWriteInTheDevice()
    var logout = Initiator.pdu(0x46, flags: 0x80, itt: 9)  // immediate, close the session
    logout.setBE32(24, 2)
    t.expectLogoutAnsweredAfterTheWrite(c, logout)
  }
}

/// RFC 7143 §11.4.5.1: a WRITE SAME(16) with NDOB moves no data, so whatever the initiator
/// expected to send is residual underflow.
@Suite struct NoDataOutBufferResidualTests {
  @Test func writeSameWithNdobReportsTheDataSentAsUnderflow() throws {
    let t = try LoopbackTarget()
    let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)
    let c = try NBDTestClient(port: t.port)
    c.send(framing.encode(Initiator.normalLogin))
    #expect(c.receivePDU().count >= 48)
    let bs = t.disk.blockSize
    func writeSame(ndob: Bool, itt: UInt32) -> [UInt8] {
      let cdb: [UInt8] = [0x93, ndob ? 0x01 : 0] + [UInt8](repeating: 0, count: 8) + [0, 0, 0, 1, 0, 0]
      c.send(
        framing.encode(
          Initiator.command(
            itt: itt, cmdSN: itt, cdb: cdb, write: true, edtl: bs, data: [UInt8](repeating: 0x33, count: bs)))
      )
      return c.receivePDU()
    }
    // Positive control: the same command with its data block used has no residual.
    let used = writeSame(ndob: false, itt: 1)
    #expect(used.count >= 48 && used[0] & 0x3F == 0x21 && used[3] == 0 && used[1] & 0x06 == 0)
    let r = writeSame(ndob: true, itt: 2)
    #expect(r.count >= 48 && r[0] & 0x3F == 0x21 && r[3] == 0, "GOOD")
    #expect(r.count >= 48 && r[1] & 0x02 != 0, "residual underflow (U) set")
    let residual = r.count >= 48 ? Int(r[44]) << 24 | Int(r[45]) << 16 | Int(r[46]) << 8 | Int(r[47]) : -1
    #expect(residual == bs, "residual count \(residual), not the \(bs) bytes sent")
  }
}

extension NBDTestClient {
  /// The next iSCSI PDU's bytes: its 48-byte header and padded data segment (fewer when the
  /// connection ends first).
  func receivePDU() -> [UInt8] {
    let header = receive(48)
    guard header.count == 48 else { return header }
    let segment = Int(header[5]) << 16 | Int(header[6]) << 8 | Int(header[7])
    return header + receive(ISCSIFraming.padded(segment))
  }
}

/// The wire buffers both front ends gather replies in: in order, none past the limit unless one
/// reply alone is larger, nothing kept after a take.
@Suite struct WireBuffersTests {
  @Test func repliesShareBuffersUpToTheLimitInOrder() {
    let limit = WireBuffers.limit
    let sizes = [100_000, 100_000, 100_000, 10, limit + 5, 20, 30]
    var wire = WireBuffers(estimatedBytes: sizes.reduce(0, +))
    for (i, n) in sizes.enumerated() {
      wire.append(estimate: n) { $0.writeRepeatingByte(UInt8(i), count: n) }
    }
    let buffers = wire.take()
    let groups = buffers.map { b in
      b.readableBytesView.reduce(into: [UInt8]()) { if $0.last != $1 { $0.append($1) } }
    }
    #expect(groups == [[0, 1], [2, 3], [4], [5, 6]], "\(groups)")
    #expect(buffers.allSatisfy { $0.readableBytes <= limit || $0.readableBytes == limit + 5 })
    #expect(buffers.reduce(0) { $0 + $1.readableBytes } == sizes.reduce(0, +), "every byte once")
    #expect(wire.take().isEmpty, "nothing kept after a take")
    wire.append(estimate: 3) { $0.writeBytes([7, 8, 9]) }
    #expect(wire.take().map { Array($0.readableBytesView) } == [[7, 8, 9]])
  }
}
