import Foundation
import Testing

@testable import StorportServe

/// REQUEST SENSE the target answers itself (SPC-4): for a LUN it does not serve, GOOD with
/// LOGICAL UNIT NOT SUPPORTED as the parameter data, where any other command gets CHECK
/// CONDITION with it. (After a reset, the UNIT ATTENTION: AnotherNexusResetLoopbackTests.)
@Suite(.serialized) struct RequestSenseTests {
  let framing = ISCSIFraming(maximumReceiveSegment: 1 << 24)

  @Test func requestSenseOfALUNNotServedIsGoodWithLogicalUnitNotSupported() throws {
    let t = try LoopbackTarget()
    let c = try NBDTestClient(port: t.port)
    c.send(framing.encode(Initiator.normalLogin))
    try #require(c.receivePDU().count >= 48, "login")
    func send(_ itt: UInt32, _ cdb: [UInt8], edtl: Int) -> (pdu: [UInt8], data: [UInt8]) {
      var p = Initiator.command(itt: itt, cmdSN: itt, cdb: cdb, read: edtl > 0, edtl: edtl)
      p.header[9] = 5  // LUN 5: not served
      c.send(framing.encode(p))
      let r = c.receivePDU()
      let length = r.count >= 48 ? Int(r[5]) << 16 | Int(r[6]) << 8 | Int(r[7]) : 0
      return (r, Array(r.dropFirst(48).prefix(length)))
    }
    // Control: TEST UNIT READY of that LUN is CHECK CONDITION, 05/25/00 in its sense.
    let tur = send(1, [0, 0, 0, 0, 0, 0], edtl: 0)
    #expect(tur.pdu.count > 48 + 15 && tur.pdu[3] == 0x02 && tur.pdu[48 + 2 + 2] == 0x05)
    #expect(tur.pdu.count > 48 + 15 && tur.pdu[48 + 2 + 12] == 0x25)
    let fixed = send(2, [0x03, 0, 0, 0, 252, 0], edtl: 252)
    #expect(fixed.pdu.count >= 48 && fixed.pdu[0] & 0x3F == 0x25 && fixed.pdu[3] == 0, "Data-In, GOOD")
    #expect(
      fixed.data.count == 18 && fixed.data[0] == 0x70 && fixed.data[2] == 0x05 && fixed.data[12] == 0x25)
    let descriptor = send(3, [0x03, 0x01, 0, 0, 252, 0], edtl: 252)
    #expect(descriptor.data == [0x72, 0x05, 0x25, 0x00, 0, 0, 0, 0], "descriptor format (DESC)")
    withExtendedLifetime(t) {}
  }
}
