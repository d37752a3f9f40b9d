import Testing

@testable import StorportServe

/// The target's reservations (SPC-2 RESERVE / RELEASE, SPC-4 persistent reservations) as a
/// table of decisions: what each nexus may do, and what the reservation commands answer.
@Suite struct ReservationTests {
  let a = "iqn.a,i,0x01"
  let b = "iqn.b,i,0x02"
  let read10: [UInt8] = [0x28, 0, 0, 0, 0, 1, 0, 0, 1, 0]
  let write10: [UInt8] = [0x2A, 0, 0, 0, 0, 1, 0, 0, 1, 0]

  static func out(_ action: UInt8, type: UInt8 = 0, key: UInt64, serviceKey: UInt64 = 0, flags: UInt8 = 0)
    -> ([UInt8], [UInt8])
  {
    let cdb: [UInt8] = [0x5F, action, type, 0, 0, 0, 0, 0, 24, 0]
    var p = [UInt8].bigEndian(key) + [UInt8].bigEndian(serviceKey) + [0, 0, 0, 0]
    p += [flags, 0, 0, 0]
    return (cdb, p)
  }

  static func prin(_ action: UInt8, allocation: Int = 1024) -> [UInt8] {
    [0x5E, action, 0, 0, 0, 0, 0, UInt8(allocation >> 8), UInt8(allocation & 0xFF), 0]
  }

  func run(_ r: Reservations, _ c: ([UInt8], [UInt8]), _ nexus: String) -> UInt8 {
    r.decide(cdb: c.0, parameters: c.1, nexus: nexus)!.status
  }

  @Test func accessFollowsTheReservationType() {
    // (type, registered other may read, write; unregistered other may read, write) — SPC-4
    // §5.13.1 as libiscsi's ProutReserve.Access tests check it.
    let table: [(UInt8, Bool, Bool, Bool, Bool)] = [
      (1, true, false, true, false), (3, false, false, false, false), (5, true, true, true, false),
      (6, true, true, false, false), (7, true, true, true, false), (8, true, true, false, false),
    ]
    for (type, regRead, regWrite, unregRead, unregWrite) in table {
      let r = Reservations()
      #expect(run(r, Self.out(6, key: 0, serviceKey: 0xA), a) == 0)
      #expect(run(r, Self.out(6, key: 0, serviceKey: 0xB), b) == 0)
      #expect(run(r, Self.out(1, type: type, key: 0xA), a) == 0)
      // The holder may do anything.
      #expect(r.decide(cdb: write10, parameters: [], nexus: a) == nil)
      #expect((r.decide(cdb: read10, parameters: [], nexus: b) == nil) == regRead, "type \(type)")
      #expect((r.decide(cdb: write10, parameters: [], nexus: b) == nil) == regWrite, "type \(type)")
      #expect(run(r, Self.out(0, key: 0xB, serviceKey: 0), b) == 0)  // b unregisters
      #expect((r.decide(cdb: read10, parameters: [], nexus: b) == nil) == unregRead, "type \(type)")
      #expect((r.decide(cdb: write10, parameters: [], nexus: b) == nil) == unregWrite, "type \(type)")
      // INQUIRY is never in conflict; a refused command is RESERVATION CONFLICT.
      #expect(r.decide(cdb: [0x12, 0, 0, 0, 36, 0], parameters: [], nexus: b) == nil)
      if !unregWrite { #expect(r.decide(cdb: write10, parameters: [], nexus: b)?.status == 0x18) }
      #expect(run(r, Self.out(2, type: type, key: 0xA), a) == 0)
      #expect(r.decide(cdb: write10, parameters: [], nexus: b) == nil, "released")
    }
  }

  @Test func registrationKeysAndGenerationAreReported() {
    let r = Reservations()
    #expect(run(r, Self.out(0, key: 5, serviceKey: 0xA), a) == 0x18, "an unregistered nexus must give key 0")
    #expect(run(r, Self.out(0, key: 0, serviceKey: 0xA), a) == 0)
    #expect(run(r, Self.out(0, key: 0, serviceKey: 0xB), b) == 0)
    let keys = r.decide(cdb: Self.prin(0), parameters: [], nexus: a)!.data.bytes
    #expect(keys.count == 8 + 16)
    #expect(Array(keys[0..<4]) == [0, 0, 0, 2], "two registrations: generation 2")
    #expect(Array(keys[4..<8]) == [0, 0, 0, 16])
    #expect(keys.readBE64(at: 8) == 0xA && keys.readBE64(at: 16) == 0xB)
    // Truncated to the allocation length, the additional length kept.
    let short = r.decide(cdb: Self.prin(0, allocation: 8), parameters: [], nexus: a)!.data.bytes
    #expect(short == Array(keys[0..<8]))
    // PREEMPT removes the other registration and bumps the generation once.
    #expect(run(r, Self.out(4, type: 3, key: 0xB, serviceKey: 0xA), b) == 0)
    let after = r.decide(cdb: Self.prin(0), parameters: [], nexus: a)!.data.bytes
    #expect(Array(after[0..<8]) == [0, 0, 0, 3, 0, 0, 0, 8])
    #expect(after.readBE64(at: 8) == 0xB)
    // A wrong key is RESERVATION CONFLICT; CLEAR by the registrant empties everything.
    #expect(run(r, Self.out(3, key: 0xC), b) == 0x18)
    #expect(run(r, Self.out(3, key: 0xB), b) == 0)
    #expect(r.decide(cdb: Self.prin(0), parameters: [], nexus: a)!.data.count == 8)
  }

  @Test func badParameterListsAndServiceActionsAreRefused() {
    let r = Reservations()
    var (cdb, p) = Self.out(6, key: 0, serviceKey: 1)
    cdb[8] = 20
    #expect(r.decide(cdb: cdb, parameters: p, nexus: a)?.sense[12] == 0x1A, "PARAMETER LIST LENGTH ERROR")
    (cdb, p) = Self.out(6, key: 0, serviceKey: 1, flags: 1)  // APTPL
    #expect(r.decide(cdb: cdb, parameters: p, nexus: a)?.sense[12] == 0x26)
    (cdb, p) = Self.out(7, key: 0, serviceKey: 1)  // REGISTER AND MOVE
    #expect(r.decide(cdb: cdb, parameters: p, nexus: a)?.sense[12] == 0x24)
    for action in UInt8(0)...3 {
      #expect(r.decide(cdb: Self.prin(action), parameters: [], nexus: a)?.status == 0)
    }
    for action in UInt8(4)..<0x20 {
      #expect(r.decide(cdb: Self.prin(action), parameters: [], nexus: a)?.status == 0x02)
    }
    // RELEASE of another type by the holder: INVALID RELEASE OF PERSISTENT RESERVATION.
    _ = run(r, Self.out(6, key: 0, serviceKey: 1), a)
    #expect(run(r, Self.out(1, type: 1, key: 1), a) == 0)
    (cdb, p) = Self.out(2, type: 3, key: 1)
    let wrong = r.decide(cdb: cdb, parameters: p, nexus: a)!
    #expect(wrong.sense[12] == 0x26 && wrong.sense[13] == 0x04)
  }

  @Test func reserve6IsPerNexusAndEndsWithTheNexusOrAReset() {
    let r = Reservations()
    let reserve: [UInt8] = [0x16, 0, 0, 0, 0, 0]
    let release: [UInt8] = [0x17, 0, 0, 0, 0, 0]
    #expect(r.decide(cdb: reserve, parameters: [], nexus: a)?.status == 0)
    #expect(r.decide(cdb: reserve, parameters: [], nexus: a)?.status == 0, "the holder may reserve again")
    #expect(r.decide(cdb: reserve, parameters: [], nexus: b)?.status == 0x18)
    #expect(r.decide(cdb: release, parameters: [], nexus: b)?.status == 0, "another's release is a no-op")
    #expect(
      r.decide(cdb: [0x1A, 0, 0x3F, 0, 255, 0], parameters: [], nexus: b)?.status == 0x18, "MODE SENSE")
    #expect(r.decide(cdb: [0x1A, 0, 0x3F, 0, 255, 0], parameters: [], nexus: a) == nil)
    #expect(!r.allows(write: false, nexus: "nbd:1"), "an NBD client is another nexus")
    r.nexusLost(a)
    #expect(r.decide(cdb: reserve, parameters: [], nexus: b)?.status == 0)
    r.reset()
    #expect(r.decide(cdb: reserve, parameters: [], nexus: a)?.status == 0)
    // A persistent registration rules RESERVE(6) out, and a RESERVE(6) every PR command, even
    // its holder's.
    #expect(run(r, Self.out(6, key: 0, serviceKey: 9), b) == 0x18, "PR OUT under another's RESERVE(6)")
    #expect(run(r, Self.out(6, key: 0, serviceKey: 9), a) == 0x18, "PR OUT under its own RESERVE(6)")
    #expect(r.decide(cdb: Self.prin(0), parameters: [], nexus: a)?.status == 0x18)
    #expect(r.decide(cdb: release, parameters: [], nexus: a)?.status == 0)
    #expect(run(r, Self.out(6, key: 0, serviceKey: 9), b) == 0)
    #expect(r.decide(cdb: reserve, parameters: [], nexus: a)?.status == 0x18)
  }
}
