import Foundation
import Testing

@testable import StorportServe

#if canImport(Glibc)
  import Glibc
#endif

/// Sessions of several connections (MC/S, RFC 7143 §4.2.2, §6.3): joining a session by its
/// TSIH, one command numbering across the connections, CmdSN order kept across them, and the
/// ErrorRecoveryLevel 0 endings (a logout of one connection, a lost connection failing the
/// session).
enum MultipleConnections {
  /// The normal login's keys, offering `maxConnections`.
  static func leadingLogin(maxConnections: Int) -> ISCSIPDU {
    Initiator.login(keys: [
      ("InitiatorName", "iqn.2026-11.test:initiator"), ("SessionType", "Normal"),
      ("TargetName", Initiator.target.name), ("MaxConnections", String(maxConnections)),
      ("ImmediateData", "Yes"), ("FirstBurstLength", "4096"), ("MaxBurstLength", "8192"),
    ])
  }

  /// A login adding connection `cid` to session `tsih` (the same initiator port), with a
  /// leading-only key it may not negotiate again.
  static func joiningLogin(tsih: UInt16, cid: UInt16, isid: [UInt8] = Initiator.isid, cmdSN: UInt32)
    -> ISCSIPDU
  {
    var p = Initiator.login(
      keys: [
        ("InitiatorName", "iqn.2026-11.test:initiator"), ("SessionType", "Normal"),
        ("TargetName", Initiator.target.name), ("HeaderDigest", "None"), ("MaxBurstLength", "512"),
      ], cmdSN: cmdSN)
    for i in 0..<6 { p.header[8 + i] = isid[i] }
    p.setBE16(14, tsih)
    p.setBE16(20, cid)
    return p
  }

  static let testUnitReady = [UInt8](repeating: 0, count: 6)

  static func executed(_ events: [ISCSIConnection.Event]) -> [UInt32] {
    events.compactMap { if case .execute(let t) = $0 { t.initiatorTaskTag } else { nil } }
  }

  static func loginStatus(_ events: [ISCSIConnection.Event]) -> UInt16? {
    guard let r = Initiator.sent(events).first, r.opcode == .loginResponse else { return nil }
    return r.be16(36)
  }
}

@Suite struct ISCSIMultipleConnectionTests {
  typealias M = MultipleConnections

  /// A leading connection (MaxConnections `max`) and the lookup its session is found by.
  static func leading(max: Int) -> (ISCSIConnection, @Sendable (UInt16) -> ISCSISession?) {
    var a = ISCSIConnection(target: Initiator.target, tsih: 7, sessions: nil)
    _ = a.receive(Initiator.bytes(M.leadingLogin(maxConnections: max)))
    #expect(a.isFullFeature && a.ledSession)
    let session = a.session
    return (a, { $0 == session.tsih ? session : nil })
  }

  @Test func aSecondConnectionJoinsBySessionTSIHAndSharesTheCommandNumbering() throws {
    let (a, lookup) = Self.leading(max: 2)
    var b = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup)
    let answer = b.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)))
    #expect(M.loginStatus(answer) == 0 && b.isFullFeature && b.joined)
    let response = try #require(Initiator.sent(answer).first)
    #expect(response.be16(14) == 7, "the login response names the session joined")
    let keys = try ISCSIText.parse(response.data)
    #expect(
      keys.first { $0.key == "MaxBurstLength" }?.value == "Irrelevant",
      "a leading-only key is not renegotiated")
    #expect(
      b.negotiator.parameters.maxBurstLength == 8192, "the session's MaxBurstLength binds the new connection")
    #expect(a.session === b.session && a.session.connectionCount == 2)
    // A command on either connection moves the one ExpCmdSN both report.
    let r = Initiator.sent(
      b.receive(Initiator.bytes(Initiator.command(itt: 1, cmdSN: 1, cdb: M.testUnitReady))))
    #expect(r.isEmpty, "a command runs before it is answered")
    #expect(a.session.expCmdSN == 2)
  }

  /// RFC 7143 §4.2.2.1: commands reach the SCSI layer in CmdSN order across the connections.
  @Test func aCommandAheadOfExpCmdSNWaitsForTheOneOnTheOtherConnection() throws {
    var (a, lookup) = Self.leading(max: 2)
    var b = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup)
    _ = b.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)))
    let session = a.session
    // CmdSN 2 on B before CmdSN 1 on A: it waits.
    #expect(
      M.executed(b.receive(Initiator.bytes(Initiator.command(itt: 2, cmdSN: 2, cdb: M.testUnitReady))))
        .isEmpty)
    #expect(session.takeDeferred() == nil, "its turn has not come")
    #expect(
      M.executed(a.receive(Initiator.bytes(Initiator.command(itt: 1, cmdSN: 1, cdb: M.testUnitReady)))) == [1]
    )
    let waiting = try #require(session.takeDeferred())
    #expect(waiting.cid == 1 && waiting.pdu.initiatorTaskTag == 2)
    #expect(M.executed(b.handle(waiting.pdu)) == [2])
    #expect(session.expCmdSN == 3 && session.takeDeferred() == nil)
  }

  /// Positive control for the test above: with one connection nothing can fill a gap, and a
  /// command ahead of ExpCmdSN runs at once (as the single-connection target always did).
  @Test func withOneConnectionACommandAheadOfExpCmdSNRunsAtOnce() {
    var (a, _) = Self.leading(max: 2)
    #expect(
      M.executed(a.receive(Initiator.bytes(Initiator.command(itt: 2, cmdSN: 2, cdb: M.testUnitReady)))) == [2]
    )
  }

  @Test func aJoinBeyondMaxConnectionsOrToAnotherPortOrAnUnknownSessionFails() {
    let (_, lookup1) = Self.leading(max: 1)
    var c = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup1)
    #expect(M.loginStatus(c.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)))) == 0x0206)
    #expect(c.isClosed)
    let (_, lookup2) = Self.leading(max: 2)
    var d = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup2)
    let otherPort: [UInt8] = [0x80, 0, 0, 0, 0, 9]
    #expect(
      M.loginStatus(d.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, isid: otherPort, cmdSN: 1))))
        == 0x020A)
    var e = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup2)
    #expect(M.loginStatus(e.receive(Initiator.bytes(M.joiningLogin(tsih: 99, cid: 1, cmdSN: 1)))) == 0x020A)
    // Positive control: the same join of the right port to the right session succeeds.
    var f = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup2)
    #expect(M.loginStatus(f.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)))) == 0)
  }

  @Test func logoutOfAnotherConnectionAnswersCIDNotFoundForAnUnknownOne() throws {
    var (a, lookup) = Self.leading(max: 2)
    var b = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: lookup)
    _ = b.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)))
    func logout(cid: UInt16, itt: UInt32) -> ISCSIPDU {
      var p = Initiator.pdu(0x46, flags: 0x80 | 1, itt: itt)
      p.header[0] |= 0x40  // immediate
      p.setBE16(20, cid)
      return p
    }
    let unknown = try #require(Initiator.sent(a.receive(Initiator.bytes(logout(cid: 5, itt: 3)))).first)
    #expect(unknown.opcode == .logoutResponse && unknown.header[2] == 1, "CID NOT FOUND")
    let other = try #require(Initiator.sent(a.receive(Initiator.bytes(logout(cid: 1, itt: 4)))).first)
    #expect(other.opcode == .logoutResponse && other.header[2] == 0)
    #expect(a.session.connectionCount == 1 && !a.isClosed, "A logs B out and stays")
  }
}

/// The same over TCP through the server and an NVMe adapter.
@Suite(.serialized) struct ISCSIMultipleConnectionServerTests {
  typealias M = MultipleConnections
  let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)

  /// Logs in a leading connection offering two connections and a second joining it; returns
  /// both and the session's TSIH.
  func session(_ t: LoopbackTarget) throws -> (NBDTestClient, NBDTestClient, UInt16) {
    let a = try NBDTestClient(port: t.port)
    a.send(framing.encode(M.leadingLogin(maxConnections: 2)))
    let answer = a.receivePDU()
    try #require(answer.count >= 48 && answer[36] == 0, "leading login")
    let tsih = UInt16(answer[14]) << 8 | UInt16(answer[15])
    let b = try NBDTestClient(port: t.port)
    b.send(framing.encode(M.joiningLogin(tsih: tsih, cid: 1, cmdSN: 1)))
    let joined = b.receivePDU()
    try #require(joined.count >= 48 && joined[36] == 0 && joined[37] == 0, "joining login")
    return (a, b, tsih)
  }

  func ping(_ c: NBDTestClient, itt: UInt32) -> Bool { pingAnswer(c, itt: itt) != nil }

  /// A ping on `c` answered: the target has read everything `c` sent before it. Returns the
  /// NOP-In (nil when none came).
  func pingAnswer(_ c: NBDTestClient, itt: UInt32) -> [UInt8]? {
    var nop = Initiator.pdu(0x00 | 0x40, flags: 0x80, itt: itt)
    nop.setBE32(20, 0xFFFF_FFFF)
    c.send(framing.encode(nop))
    let r = c.receivePDU()
    return r.count >= 48 && r[0] & 0x3F == 0x20 ? r : nil
  }

  /// A command numbered ahead of one still to come on the other connection is not delivered
  /// (ExpCmdSN stays) until that one comes; then both run. (Delivery order, not completion
  /// order: SIMPLE tasks may complete in any order.)
  @Test func aCommandAheadOfOneOnTheOtherConnectionWaitsForIt() throws {
    let t = try LoopbackTarget()
    let (a, b, _) = try session(t)
    let bs = t.disk.blockSize
    // B: READ(10) as CmdSN 2, then a ping: the target has read the command.
    b.send(
      framing.encode(
        Initiator.command(itt: 2, cmdSN: 2, cdb: [0x28, 0, 0, 0, 0, 9, 0, 0, 1, 0], read: true, edtl: bs)))
    let pong = try #require(pingAnswer(b, itt: 90))
    #expect(NBDTestClient.read32(pong, 28) == 1, "ExpCmdSN stays at 1: CmdSN 2 waits for CmdSN 1")
    // A: TEST UNIT READY as CmdSN 1.
    a.send(framing.encode(Initiator.command(itt: 1, cmdSN: 1, cdb: M.testUnitReady)))
    let ready = a.receivePDU()
    #expect(ready.count >= 48 && ready[0] & 0x3F == 0x21 && ready[3] == 0, "CmdSN 1 is answered GOOD")
    let read = b.receivePDU()
    #expect(read.count == 48 + bs && read[0] & 0x3F == 0x25, "then CmdSN 2, waiting on B, runs")
    #expect(read.count >= 48 && NBDTestClient.read32(read, 28) == 3, "ExpCmdSN has passed both")
  }

  /// Positive control for the test above: one connection, the same gap — nothing could fill
  /// it, so the command runs at once and ExpCmdSN moves past it.
  @Test func withOneConnectionTheSameGapDoesNotHoldTheCommand() throws {
    let t = try LoopbackTarget()
    let a = try NBDTestClient(port: t.port)
    a.send(framing.encode(M.leadingLogin(maxConnections: 2)))
    try #require(a.receivePDU().count >= 48)
    a.send(framing.encode(Initiator.command(itt: 2, cmdSN: 2, cdb: M.testUnitReady)))
    let r = a.receivePDU()
    #expect(r.count >= 48 && r[0] & 0x3F == 0x21 && NBDTestClient.read32(r, 28) == 3)
  }

  @Test func aLostConnectionFailsTheSessionButALogoutOfOneDoesNot() throws {
    let t = try LoopbackTarget()
    // Logout of B (reason 1, its own CID): A goes on.
    do {
      let (a, b, _) = try session(t)
      var logout = Initiator.pdu(0x46 | 0x40, flags: 0x80 | 1, itt: 5)
      logout.setBE16(20, 1)
      b.send(framing.encode(logout))
      let r = b.receivePDU()
      #expect(r.count >= 48 && r[0] & 0x3F == 0x26 && r[2] == 0, "logout response: success")
      #expect(b.closedByPeer())
      #expect(ping(a, itt: 6), "the session lives on its other connection")
    }
    // B drops without a logout: at ErrorRecoveryLevel 0 the session fails, A ends too.
    let (a, b, _) = try session(t)
    #expect(ping(a, itt: 7), "positive control: A serves before B is lost")
    shutdown(b.fd, Int32(SHUT_RDWR))
    #expect(a.closedByPeer(), "the session's other connection ends with it")
    withExtendedLifetime(t) {}
  }
}

extension ISCSIMultipleConnectionServerTests {
  /// A connection logging out beside a live sibling is answered once its own commands have
  /// left the adapter (RFC 7143 §11.15: the response means cleanup is done) — here a write
  /// in a 400 ms device — while the session goes on over the sibling.
  @Test func aConnectionLoggingOutBesideASiblingIsAnsweredOnceItsCommandsHaveLeft() throws {
    let t = try LoopbackTarget(latency: 400_000_000)
    let (a, b, _) = try session(t)
    // Positive control (inside): the write is in the device when the logout is sent.
    t.putAWriteInTheDevice(b)
    var logout = Initiator.pdu(0x46 | 0x40, flags: 0x80 | 1, itt: 5)  // close this connection
    logout.setBE16(20, 1)
    logout.setBE32(24, 2)
    t.expectLogoutAnsweredAfterTheWrite(b, logout)
    #expect(ping(a, itt: 6), "the session lives on its other connection")
  }
}

extension ISCSIMultipleConnectionServerTests {
  /// A logout on A that closes sibling B (reason 1, B's CID) is answered once B's commands have
  /// left the adapter — else B's write, still in the device, could land after a write the
  /// initiator sends on A next (a trial's finding: 5 of 8 blocks overwritten so). The session
  /// goes on over A.
  @Test func aLogoutClosingASiblingIsAnsweredOnceTheSiblingsCommandsHaveLeft() throws {
    let t = try LoopbackTarget(latency: 400_000_000)
    let (a, b, _) = try session(t)
    // Positive control (inside): B's write is in the device when A's logout is sent.
    t.putAWriteInTheDevice(b)
    var logout = Initiator.pdu(0x46 | 0x40, flags: 0x80 | 1, itt: 5)  // close connection 1 (B)
    logout.setBE16(20, 1)
    logout.setBE32(24, 2)
    a.send(framing.encode(logout))
    let r = a.receivePDU()
    #expect(r.count >= 48 && r[0] & 0x3F == 0x26 && r[2] == 0, "Logout Response, success")
    #expect(
      t.rig.adapter.statistics.outstandingRequests == 0,
      "the Logout Response went out while B's write was still in the device")
    #expect(b.closedByPeer())
    #expect(ping(a, itt: 6), "the session lives on over A")
  }
}

/// What a new user's trial of MC/S found (each test fails without its fix).
@Suite struct ISCSIMultipleConnectionTrialTests {
  typealias M = MultipleConnections

  /// A connection, boxed so the session's hooks can reach it as the server's handler does.
  final class Box {
    var c: ISCSIConnection
    var answered: [UInt32] = []
    /// Tasks started by `resume` (the server runs it on a later turn of its loop).
    var resumed: [UInt32] = []
    init(_ c: ISCSIConnection) { self.c = c }
    func hooks() -> ISCSISession.Hooks {
      ISCSISession.Hooks(
        deliver: { _ in }, close: {}, whenClosed: { $0() },
        abort: { self.c.abort($0, by: .thisNexus).running },
        anotherNexusReset: { _ = self.c.abort($0, by: .anotherNexus) },
        answer: { self.answered.append($0.initiatorTaskTag) },
        resume: { self.resumed += M.executed(self.c.startWaiting()) })
    }
  }

  /// A session of two connections: A (CID 0, TSIH 7) and B (CID 1), hooks registered.
  static func pair() -> (Box, Box) {
    var a = ISCSIConnection(target: Initiator.target, tsih: 7, sessions: nil)
    _ = a.receive(Initiator.bytes(M.leadingLogin(maxConnections: 2)))
    let session = a.session
    var b = ISCSIConnection(target: Initiator.target, tsih: 8, sessions: { $0 == 7 ? session : nil })
    _ = b.receive(Initiator.bytes(M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)))
    #expect(a.isFullFeature && b.isFullFeature && session.connectionCount == 2)
    let (boxA, boxB) = (Box(a), Box(b))
    session.hooks[0] = boxA.hooks()
    session.hooks[1] = boxB.hooks()
    return (boxA, boxB)
  }

  static func logout(reason: UInt8, cid: UInt16, itt: UInt32) -> ISCSIPDU {
    var p = Initiator.pdu(0x46, flags: 0x80 | reason, itt: itt)
    p.setBE16(20, cid)
    return p
  }

  /// Everything waiting whose turn has come, handed to its connection (the server's loop).
  static func deliverWaiting(_ boxes: [Box]) -> [UInt32] {
    var ran: [UInt32] = []
    boxes[0].c.session.deliverWaiting { cid, pdu in
      if let box = boxes.first(where: { $0.c.cid == cid }) { ran += M.executed(box.c.handle(pdu)) }
    }
    return ran
  }

  /// A command waiting for a gap that only the logged-out connection could fill runs once the
  /// session is down to one connection — ExpCmdSN never passes a command still held (it did:
  /// the next command jumped it, and the held one was never run or answered).
  @Test func aWaitingCommandRunsWhenTheSessionDropsToOneConnection() {
    let (a, b) = Self.pair()
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 2, cmdSN: 2, cdb: M.testUnitReady))))
        .isEmpty)
    // B logs A out and, in the same read, sends CmdSN 3.
    let events = b.c.receive(
      Initiator.bytes(
        Self.logout(reason: 1, cid: 0, itt: 9), Initiator.command(itt: 3, cmdSN: 3, cdb: M.testUnitReady)))
    #expect(M.executed(events).isEmpty, "CmdSN 3 waits behind CmdSN 2")
    #expect(Self.deliverWaiting([a, b]) == [2, 3], "then both run, in CmdSN order")
    #expect(b.c.session.expCmdSN == 4 && b.c.session.deferred.isEmpty)
  }

  /// MaxConnections is checked again when a join completes: two logins that both began while a
  /// place was free cannot both take it (both did).
  @Test func twoJoinsRacingForTheLastPlaceGetOneInAndOneTooManyConnections() {
    var a = ISCSIConnection(target: Initiator.target, tsih: 7, sessions: nil)
    _ = a.receive(Initiator.bytes(M.leadingLogin(maxConnections: 2)))
    let session = a.session
    func startJoin(cid: UInt16) -> ISCSIConnection {
      var c = ISCSIConnection(target: Initiator.target, tsih: 9, sessions: { $0 == 7 ? session : nil })
      var first = M.joiningLogin(tsih: 7, cid: cid, cmdSN: 1)
      first.flags = 0x04  // CSG 1, no transit: the login goes on
      #expect(M.loginStatus(c.receive(Initiator.bytes(first))) == 0)
      return c
    }
    var j1 = startJoin(cid: 1)
    var j2 = startJoin(cid: 2)
    func finish(_ c: inout ISCSIConnection) -> UInt16? {
      var last = Initiator.login(keys: [], cmdSN: 1)
      last.setBE16(14, 7)
      last.setBE16(20, c.cid)
      return M.loginStatus(c.receive(Initiator.bytes(last)))
    }
    #expect(finish(&j1) == 0 && j1.isFullFeature)
    #expect(finish(&j2) == 0x0206 && j2.isClosed)
    #expect(session.connectionCount == 2)
  }

  /// A join that began before its session ended cannot complete into it (it did, and outlived
  /// the session's reinstatement).
  @Test func aJoinCannotCompleteIntoASessionThatEnded() {
    var a = ISCSIConnection(target: Initiator.target, tsih: 7, sessions: nil)
    _ = a.receive(Initiator.bytes(M.leadingLogin(maxConnections: 2)))
    let session = a.session
    var j = ISCSIConnection(target: Initiator.target, tsih: 9, sessions: { $0 == 7 ? session : nil })
    var first = M.joiningLogin(tsih: 7, cid: 1, cmdSN: 1)
    first.flags = 0x04
    #expect(M.loginStatus(j.receive(Initiator.bytes(first))) == 0)
    session.hasEnded = true  // what ISCSIServer.sessionEnded does
    var last = Initiator.login(keys: [], cmdSN: 1)
    last.setBE16(14, 7)
    last.setBE16(20, 1)
    #expect(M.loginStatus(j.receive(Initiator.bytes(last))) == 0x020A && j.isClosed)
  }

  /// ABORT TASK of a command waiting for its turn aborts it (FUNCTION COMPLETE) and it never
  /// runs (the answer was TASK DOES NOT EXIST, and then the write ran); one numbered below the
  /// function that has not come yet is aborted when it comes (RFC 7143 §11.5.1).
  @Test func abortTaskReachesCommandsWaitingOrStillToCome() throws {
    let (a, b) = Self.pair()
    #expect(
      M.executed(a.c.receive(Initiator.bytes(Initiator.command(itt: 0x33, cmdSN: 2, cdb: M.testUnitReady))))
        .isEmpty)
    let waiting = try #require(
      Initiator.sent(
        a.c.receive(
          Initiator.bytes(Initiator.taskManagement(1, itt: 0x90, cmdSN: 4, referenced: 0x33, refCmdSN: 2)))
      )
      .first)
    #expect(waiting.opcode == .taskManagementResponse && waiting.header[2] == 0, "FUNCTION COMPLETE")
    let notYet = try #require(
      Initiator.sent(
        a.c.receive(
          Initiator.bytes(Initiator.taskManagement(1, itt: 0x91, cmdSN: 4, referenced: 0x44, refCmdSN: 3)))
      )
      .first)
    #expect(notYet.header[2] == 0, "FUNCTION COMPLETE for CmdSN 3, still to come")
    // Positive control: a tag nobody sent, numbered outside the window: TASK DOES NOT EXIST.
    let none = try #require(
      Initiator.sent(
        a.c.receive(
          Initiator.bytes(Initiator.taskManagement(1, itt: 0x92, cmdSN: 4, referenced: 0x55, refCmdSN: 500)))
      )
      .first)
    #expect(none.header[2] == 1)
    // CmdSN 1 comes on B; then CmdSN 3 on A: only CmdSN 1 runs.
    var ran = M.executed(
      b.c.receive(Initiator.bytes(Initiator.command(itt: 0x31, cmdSN: 1, cdb: M.testUnitReady))))
    ran += Self.deliverWaiting([a, b])
    ran += M.executed(
      a.c.receive(Initiator.bytes(Initiator.command(itt: 0x44, cmdSN: 3, cdb: M.testUnitReady))))
    ran += Self.deliverWaiting([a, b])
    #expect(ran == [0x31])
    #expect(a.c.session.expCmdSN == 4, "the aborted commands' CmdSNs are taken")
  }

  /// ABORT TASK SET covers the session: a sibling connection's running task on the LU (its
  /// result is not sent, and the response waits for it) and a command waiting below the
  /// function's CmdSN (it never runs). Both escaped it.
  @Test func abortTaskSetCoversSiblingConnectionsAndWaitingCommands() throws {
    let (a, b) = Self.pair()
    let running = M.executed(
      b.c.receive(Initiator.bytes(Initiator.command(itt: 0x21, cmdSN: 1, cdb: M.testUnitReady))))
    #expect(running == [0x21])
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 0x23, cmdSN: 3, cdb: M.testUnitReady))))
        .isEmpty)
    let held = a.c.receive(Initiator.bytes(Initiator.taskManagement(2, itt: 0x90, cmdSN: 4)))
    #expect(Initiator.sent(held).isEmpty, "held while B's task runs")
    // B's task ends: no response for it; A's function completes (through A's owner).
    let ended = b.c.complete(
      ISCSITaskHeader(initiatorTaskTag: 0x21, expectedLength: 0, isRead: false), ISCSITaskResult(status: 0))
    #expect(Initiator.sent(ended).isEmpty, "an aborted task's result is not sent")
    #expect(a.answered == [0x90])
    // CmdSN 2 comes: it and the waiting CmdSN 3 were aborted.
    var ran = M.executed(
      a.c.receive(Initiator.bytes(Initiator.command(itt: 0x22, cmdSN: 2, cdb: M.testUnitReady))))
    ran += Self.deliverWaiting([a, b])
    #expect(ran.isEmpty && a.c.session.expCmdSN == 4)
    // Positive control: a command after the function runs.
    #expect(
      M.executed(a.c.receive(Initiator.bytes(Initiator.command(itt: 0x24, cmdSN: 4, cdb: M.testUnitReady))))
        == [0x24])
  }

  /// Logout for recovery (reason 2), unsupported at ErrorRecoveryLevel 0, is refused and ends
  /// nothing (it closed the connection that asked); a reserved reason is rejected.
  @Test func logoutForRecoveryIsRefusedAndEndsNothing() throws {
    let (a, _) = Self.pair()
    let r = try #require(
      Initiator.sent(a.c.receive(Initiator.bytes(Self.logout(reason: 2, cid: 1, itt: 5)))).first)
    #expect(
      r.opcode == .logoutResponse && r.header[2] == 2 && !a.c.isClosed && a.c.session.connectionCount == 2)
    let reserved = try #require(
      Initiator.sent(a.c.receive(Initiator.bytes(Self.logout(reason: 3, cid: 0, itt: 6)))).first)
    #expect(reserved.opcode == .reject && !a.c.isClosed)
    // Positive control: reason 1 naming itself ends it.
    _ = a.c.receive(Initiator.bytes(Self.logout(reason: 1, cid: 0, itt: 7)))
    #expect(a.c.isClosed)
  }

  /// A gap is passed over only once no connection can fill it: the connection left may still
  /// send a CmdSN below the waiting command of the one that went (it was skipped, and that
  /// command then ignored as outside the window).
  @Test func aGapTheRemainingConnectionCanStillFillIsWaitedFor() {
    let (a, b) = Self.pair()
    #expect(
      M.executed(a.c.receive(Initiator.bytes(Initiator.command(itt: 2, cmdSN: 2, cdb: M.testUnitReady))))
        .isEmpty)
    _ = b.c.receive(Initiator.bytes(Self.logout(reason: 1, cid: 0, itt: 9)))
    #expect(Self.deliverWaiting([a, b]).isEmpty, "B may still send CmdSN 1")
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 1, cmdSN: 1, cdb: M.testUnitReady)))) == [
        1
      ])
    #expect(Self.deliverWaiting([a, b]).isEmpty, "A's CmdSN 2 left with A")
    #expect(b.c.session.expCmdSN == 3)
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 3, cmdSN: 3, cdb: M.testUnitReady)))) == [
        3
      ])
  }

  /// ABORT TASK of a command never received, numbered below the function: considered received
  /// (RFC 7143 §11.5.1 b) — its CmdSN is taken at once, so the session does not wait for it (it
  /// stalled). Numbered above a non-immediate function: TASK DOES NOT EXIST, and it runs when it
  /// comes (it was dropped).
  @Test func abortTaskOfACommandNeverReceivedTakesItsCmdSNOnlyBelowTheFunction() throws {
    let (a, b) = Self.pair()
    let lost = try #require(
      Initiator.sent(
        a.c.receive(
          Initiator.bytes(Initiator.taskManagement(1, itt: 0x90, cmdSN: 2, referenced: 0x11, refCmdSN: 1)))
      )
      .first)
    #expect(lost.header[2] == 0 && a.c.session.expCmdSN == 2)
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 0x12, cmdSN: 2, cdb: M.testUnitReady))))
        == [0x12])
    // Non-immediate, CmdSN 3, referring to CmdSN 4 (above it).
    var above = Initiator.taskManagement(1, itt: 0x91, cmdSN: 3, referenced: 0x14, refCmdSN: 4)
    above.header[0] = 0x02
    let answer = try #require(Initiator.sent(a.c.receive(Initiator.bytes(above))).first)
    #expect(answer.header[2] == 1, "TASK DOES NOT EXIST")
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 0x14, cmdSN: 4, cdb: M.testUnitReady))))
        == [0x14])
  }

  /// A held response waits for the aborted task to leave the adapter even when its connection
  /// ends first (it went out when the connection ended).
  @Test func aHeldResponseWaitsForTheTaskOfAConnectionThatEnded() {
    let (a, b) = Self.pair()
    #expect(
      M.executed(b.c.receive(Initiator.bytes(Initiator.command(itt: 0x21, cmdSN: 1, cdb: M.testUnitReady))))
        == [0x21])
    #expect(
      Initiator.sent(a.c.receive(Initiator.bytes(Initiator.taskManagement(2, itt: 0x90, cmdSN: 2)))).isEmpty)
    b.c.abandon()
    #expect(a.answered.isEmpty, "B's task is still in the adapter")
    #expect(
      b.c.complete(
        ISCSITaskHeader(initiatorTaskTag: 0x21, expectedLength: 0, isRead: false), ISCSITaskResult(status: 0)
      )
      .isEmpty)
    #expect(a.answered == [0x90])
  }

  /// Aborted ranges are bounded: the same range again adds nothing; past 64 distinct ones an
  /// ABORT TASK is FUNCTION REJECTED (they grew without bound, and every command scanned them).
  /// A function numbered far beyond the window aborts only up to MaxCmdSN: commands after it
  /// still run (they were all dropped).
  @Test func abortedRangesAreBoundedAndClampedToTheWindow() throws {
    let (a, b) = Self.pair()
    func abortTask(_ ref: UInt32, itt: UInt32) -> UInt8? {
      Initiator.sent(
        a.c.receive(
          Initiator.bytes(Initiator.taskManagement(1, itt: itt, cmdSN: 70, referenced: 0x99, refCmdSN: ref)))
      )
      .first?.header[2]
    }
    for i in 0..<100 { #expect(abortTask(5, itt: UInt32(0x100 + i)) == 0) }
    #expect(a.c.session.abortedRanges.count == 1)
    // Fill the table with distinct ranges (one per LUN field), then one more ABORT TASK.
    let session = a.c.session
    for lun in UInt64(1)..<UInt64(64) { #expect(session.abort(from: 10, to: 20, lun: lun << 48)) }
    #expect(session.abortedRanges.count == 64 && !session.abort(from: 10, to: 20, lun: 99 << 48))
    #expect(abortTask(30, itt: 0x400) == 255, "FUNCTION REJECTED past 64 ranges")
    // A new pair: ABORT TASK SET numbered 2^31 − 1 beyond ExpCmdSN aborts up to MaxCmdSN (64):
    // the commands numbered 1…64 are dropped, and the window then moves on — CmdSN 65 runs (an
    // unclamped range dropped every command after it).
    let (c, d) = Self.pair()
    _ = c.c.receive(Initiator.bytes(Initiator.taskManagement(2, itt: 0x90, cmdSN: 1 &+ (1 << 31 - 1))))
    var ran: [UInt32] = []
    for sn in UInt32(1)...64 {
      ran += M.executed(
        d.c.receive(Initiator.bytes(Initiator.command(itt: sn, cmdSN: sn, cdb: M.testUnitReady))))
    }
    #expect(ran.isEmpty && d.c.session.expCmdSN == 65)
    #expect(
      M.executed(d.c.receive(Initiator.bytes(Initiator.command(itt: 65, cmdSN: 65, cdb: M.testUnitReady))))
        == [65])
    _ = b
  }

  /// A non-immediate task set function comes in CmdSN order: nothing below it is missing, and
  /// the commands after it run (they were all dropped: its range ran from ExpCmdSN, already past
  /// it, round to MaxCmdSN).
  @Test func aNonImmediateAbortTaskSetLeavesTheCommandsAfterItAlone() throws {
    var c = Initiator.loggedIn()
    var tmf = Initiator.taskManagement(2, itt: 0x90, cmdSN: 1)
    tmf.header[0] = 0x02  // not immediate
    let answer = try #require(Initiator.sent(c.receive(Initiator.bytes(tmf))).first)
    #expect(answer.opcode == .taskManagementResponse && answer.header[2] == 0)
    #expect(
      M.executed(c.receive(Initiator.bytes(Initiator.command(itt: 2, cmdSN: 2, cdb: M.testUnitReady)))) == [2]
    )
    #expect(c.session.abortedRanges.isEmpty)
  }
}

extension ISCSIMultipleConnectionTrialTests {
  /// Bytes are the session's: a command on B that would take the session past its outstanding
  /// bytes waits for A's to end, and once one waits, a command on A waits behind it — even one
  /// with no data, which fits (none overtakes across connections). When A's completion frees
  /// bytes, B's read is first: B starts it when its owner is told
  /// (``ISCSISession/Hooks/resume``, as the server does), then A's turn comes.
  @Test func aSiblingsCommandWaitsForTheSessionsBytesAndResumesWhenTold() throws {
    let (a, b) = Self.pair()
    let each = ISCSIConnection.maximumTransferBytes
    var tasks: [ISCSITask] = []
    for i in 0..<ISCSIConnection.maximumOutstandingBytes / each {
      let e = a.c.receive(
        Initiator.bytes(ISCSIConnectionTests.read16MiB(itt: UInt32(i + 1), cmdSN: UInt32(i + 1))))
      tasks.append(try #require(ISCSIConnectionTests.startedTask(e)))
    }
    let one = Initiator.command(
      itt: 20, cmdSN: 5, cdb: [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0], read: true, edtl: 4096)
    #expect(b.c.receive(Initiator.bytes(one)).isEmpty, "B's read waits for the session's bytes")
    #expect(a.c.receive(Initiator.bytes(Initiator.command(itt: 21, cmdSN: 6, cdb: M.testUnitReady))).isEmpty)
    #expect(a.c.session.waitingForBytes == 2)
    let session = a.c.session
    #expect(session.nextToStart(limit: ISCSIConnection.maximumOutstandingBytes) == nil, "nothing fits yet")
    #expect(
      M.executed(a.c.complete(tasks[0], ISCSITaskResult(status: 0))).isEmpty, "A's TUR is behind B's read")
    #expect(session.nextToStart(limit: ISCSIConnection.maximumOutstandingBytes) == 1, "B's turn")
    #expect(b.c.waitingForBytes.map(\.pdu.initiatorTaskTag) == [20] && b.resumed.isEmpty)
    session.hooks[1]?.resume()
    #expect(b.resumed == [20] && session.nextToStart(limit: ISCSIConnection.maximumOutstandingBytes) == 0)
    session.hooks[0]?.resume()
    #expect(a.resumed == [21] && session.waitingForBytes == 0)
  }
}

extension ISCSIMultipleConnectionServerTests {
  /// Over TCP: A's four reads take the session's outstanding bytes while they sit in a 400 ms
  /// device; a read on B then waits for them and is answered once they end — the server tells
  /// B's connection when A's completions free the bytes. (Before, B got TASK SET FULL; a
  /// missing resume would leave it unanswered.) B's answer comes no sooner than two device
  /// latencies after A's reads were sent — A's, then its own: a read that did not wait would
  /// come after one.
  @Test func aReadWaitingForBytesFreedOnASiblingIsAnswered() throws {
    let t = try LoopbackTarget(latency: 400_000_000)
    let (a, b, _) = try session(t)
    let bs = t.disk.blockSize
    let oneBlock: [UInt8] = [0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0]
    let sent = DispatchTime.now().uptimeNanoseconds
    for i in 0..<UInt32(ISCSIConnection.maximumOutstandingBytes / ISCSIConnection.maximumTransferBytes) {
      // One block read, but 16 MiB expected: the session's bytes are charged by the EDTL.
      a.send(
        framing.encode(
          Initiator.command(
            itt: 1 + i, cmdSN: 1 + i, cdb: oneBlock, read: true, edtl: ISCSIConnection.maximumTransferBytes)))
    }
    #expect(ping(a, itt: 90), "A's reads have reached the target")
    b.send(framing.encode(Initiator.command(itt: 10, cmdSN: 5, cdb: oneBlock, read: true, edtl: bs)))
    let answer = b.receivePDU()
    let elapsed = DispatchTime.now().uptimeNanoseconds - sent
    #expect(elapsed >= 800_000_000, "answered \(elapsed / 1_000_000) ms after A's reads: it did not wait")
    #expect(
      answer.count == 48 + bs && answer[0] & 0x3F == 0x25 && answer[1] & 0x01 != 0, "Data-In with status")
    #expect(answer.count >= 48 && answer[3] == 0, "GOOD")
    withExtendedLifetime((a, t)) {}
  }
}
