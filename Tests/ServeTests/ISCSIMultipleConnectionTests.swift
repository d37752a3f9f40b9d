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
