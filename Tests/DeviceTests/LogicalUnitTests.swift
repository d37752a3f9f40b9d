import Storport
import StorportDevices
import StorportSCSI
import Testing

/// The SPC/SBC logical-unit emulation against a RAM store.
@Suite struct LogicalUnitTests {
  let lu = LogicalUnit(store: try! RamStore(bytes: 4096 * 1024, blockSize: 4096))

  /// Runs `cdb` with a buffer of `length` bytes (optionally pre-filled).
  func run(
    _ cdb: [UInt8], length: Int = 4096, fill: ((UnsafeMutableRawBufferPointer) -> Void)? = nil,
    overflow: OverflowPolicy = .checkCondition
  ) -> (ScsiResult, [UInt8]) {
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(length, 1), alignment: 4096)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 0)
    let b = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<length])
    fill?(b)
    let r = lu.execute(Cdb(cdb), buffer: b, overflow: overflow)
    return (r, Array(b))
  }

  func read10(_ lba: UInt32, _ n: UInt16) -> [UInt8] {
    [
      0x28, 0, UInt8(lba >> 24), UInt8((lba >> 16) & 0xFF), UInt8((lba >> 8) & 0xFF), UInt8(lba & 0xFF), 0,
      UInt8(n >> 8), UInt8(n & 0xFF), 0,
    ]
  }
  func write10(_ lba: UInt32, _ n: UInt16, flags: UInt8 = 0) -> [UInt8] {
    var c = read10(lba, n)
    c[0] = 0x2A
    c[1] = flags
    return c
  }

  @Test func standardInquiryHasSbc3VersionDescriptorAndTruncates() {
    let (r, data) = run([0x12, 0, 0, 0, 96, 0], length: 96)
    #expect(r.status == .good && r.transferred == 96)
    #expect(data[0] == 0 && data[2] == 0x06 && data[4] == 91)
    let descriptors = stride(from: 58, to: 74, by: 2).map { UInt16(data[$0]) << 8 | UInt16(data[$0 + 1]) }
    #expect(descriptors.contains(0x04C0))
    let (short, _) = run([0x12, 0, 0, 0, 36, 0], length: 96)
    #expect(short.transferred == 36)
  }

  @Test func vpdPagesSupportedSerialIdentifierLimitsProvisioning() {
    let (r0, d0) = run([0x12, 1, 0x00, 0, 255, 0], length: 255)
    #expect(r0.status == .good && Array(d0[4..<(4 + Int(d0[3]))]) == [0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2])
    let (_, d83a) = run([0x12, 1, 0x83, 0, 255, 0], length: 255)
    let (_, d83b) = run([0x12, 1, 0x83, 0, 255, 0], length: 255)
    #expect(d83a == d83b)  // stable identifier
    #expect(d83a[4] == 0x01 && d83a[5] == 0x03 && d83a[8] >> 4 == 0x6)  // NAA type 6
    let (_, b0) = run([0x12, 1, 0xB0, 0, 255, 0], length: 255)
    #expect(b0[3] == 0x3C)
    let (_, b2) = run([0x12, 1, 0xB2, 0, 255, 0], length: 255)
    #expect(b2[5] & 0x80 != 0)  // LBPU
    let (bad, _) = run([0x12, 1, 0x99, 0, 255, 0], length: 255)
    #expect(bad.sense == SenseData(.illegalRequest, .invalidFieldInCdb, field: .cdb(2)))
  }

  @Test func readCapacity10And16WithThinProvisioningBits() {
    let (r, d) = run([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0], length: 8)
    #expect(r.status == .good)
    #expect(d[0..<4] == [0, 0, 0x03, 0xFF] && d[4..<8] == [0, 0, 0x10, 0])
    let (r16, d16) = run([0x9E, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0], length: 32)
    #expect(r16.status == .good && r16.transferred == 32)
    #expect(d16[7] == 0xFF && d16[6] == 0x03 && d16[14] & 0xC0 == 0xC0)
  }

  @Test func writeThenReadRoundTripsAndFuaIsAccepted() {
    let (w, _) = run(write10(7, 2, flags: 0x08), length: 8192) { b in
      for i in 0..<b.count { b[i] = UInt8(truncatingIfNeeded: i * 7) }
    }
    #expect(w.status == .good && w.transferred == 8192)
    let (r, d) = run(read10(7, 2), length: 8192)
    #expect(r.status == .good)
    #expect(d.enumerated().allSatisfy { $0.element == UInt8(truncatingIfNeeded: $0.offset * 7) })
  }

  @Test func lbaBeyondEndIsLbaOutOfRange() {
    let (r, _) = run(read10(1023, 2), length: 8192)
    #expect(r.status == .checkCondition && r.sense?.key == .illegalRequest && r.sense?.code == .lbaOutOfRange)
    let (wrap, _) = run(
      [0x88, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 1, 0, 0], length: 4096)
    #expect(wrap.sense?.code == .lbaOutOfRange)
  }

  @Test func unsupportedOpcodeIsInvalidCommandOperationCode() {
    let (r, _) = run([0xC7, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], length: 0)
    #expect(r.sense == SenseData(.illegalRequest, .invalidCommandOperationCode, field: .cdb(0)))
    let (r2, _) = run([0x1D, 0, 0, 0, 0, 0], length: 0)  // SEND DIAGNOSTIC: not supported
    #expect(r2.sense?.code == .invalidCommandOperationCode)
  }

  @Test func badFieldsPointAtTheField() {
    let (protect, _) = run([0x28, 0x20, 0, 0, 0, 0, 0, 0, 1, 0], length: 4096)  // RDPROTECT
    #expect(protect.sense == SenseData(.illegalRequest, .invalidFieldInCdb, field: .cdb(1, bit: 7)))
    let (control, _) = run([0x00, 0, 0, 0, 0, 0x01], length: 0)  // LINK bit
    #expect(control.sense?.field == .cdb(5))
    let (tooBig, _) = run(read10(0, 1), length: 100)  // transfer length larger than the buffer
    #expect(tooBig.sense == SenseData(.illegalRequest, .invalidFieldInCdb, field: .cdb(7)))
    let (residual, _) = run(read10(0, 1), length: 100, overflow: .residual)
    #expect(residual.status == .good && residual.transferred == 100 && residual.overflow == 3996)
  }

  @Test func senseEncodesFixedAndDescriptorWithFieldPointer() {
    let s = SenseData(.illegalRequest, .invalidFieldInCdb, information: 77, field: .cdb(7, bit: 3))
    for desc in [false, true] {
      var b = [UInt8](repeating: 0, count: 64)
      let n = b.withUnsafeMutableBytes { s.encode(descriptorFormat: desc, into: $0) }
      #expect(SenseData.decode(Array(b[0..<n])) == s)
      #expect(b[0] == (desc ? 0x72 : 0xF0))
    }
    // An LBA past 32 bits: fixed format cannot hold it — VALID 0, no INFORMATION (SPC-4);
    // descriptor format carries all 8 bytes.
    let far = SenseData(.illegalRequest, .lbaOutOfRange, information: 0x1_8000_0000)
    var fixed = [UInt8](repeating: 0, count: 64)
    _ = fixed.withUnsafeMutableBytes { far.encode(descriptorFormat: false, into: $0) }
    #expect(fixed[0] == 0x70 && fixed[3..<7].allSatisfy { $0 == 0 }, "\(fixed[0..<8])")
    var descriptor = [UInt8](repeating: 0, count: 64)
    let n = descriptor.withUnsafeMutableBytes { far.encode(descriptorFormat: true, into: $0) }
    #expect(SenseData.decode(Array(descriptor[0..<n]))?.information == 0x1_8000_0000)
  }

  @Test func modeSenseSelectControlPageSwitchesDescriptorSenseAndWriteProtect() {
    let (all, d) = run([0x1A, 0, 0x3F, 0, 255, 0], length: 255)
    #expect(all.status == .good && d[2] & 0x10 != 0 && d[2] & 0x80 == 0)  // DPOFUA, not WP
    // Turn on D_SENSE and SWP via MODE SELECT(6) of the control page.
    let (sel, _) = run([0x15, 0x10, 0, 0, 16, 0], length: 16) { b in
      let page: [UInt8] = [0, 0, 0, 0, 0x0A, 0x0A, 0x04, 0x10, 0x08, 0, 0, 0, 0xFF, 0xFF, 0, 0]
      for (i, v) in page.enumerated() { b[i] = v }
    }
    #expect(sel.status == .good)
    #expect(lu.descriptorSense)
    let (w, _) = run(write10(0, 1), length: 4096)
    #expect(w.sense?.key == .dataProtect && w.sense?.code == .writeProtected)
    let (after, d2) = run([0x1A, 0, 0x3F, 0, 255, 0], length: 255)
    #expect(after.status == .good && d2[2] & 0x80 != 0)
    let (saved, _) = run([0x1A, 0, 0xFF, 0, 255, 0], length: 255)  // saved values
    #expect(saved.sense?.code == .savingParametersNotSupported)
  }

  /// SPC-4 §6.11: a MODE SELECT that sets a field MODE SENSE reports as not changeable (PC 1)
  /// to other than its current value is refused — ILLEGAL REQUEST, INVALID FIELD IN PARAMETER
  /// LIST, the field pointer at the byte and bit — and none of its list applies (D_SENSE,
  /// changeable, beside it stays off). So is a block descriptor that changes the block length
  /// or the capacity (SBC-4 §6.5.2). The control: the current page read back and selected, with
  /// only changeable bits flipped, is accepted.
  @Test func modeSelectRefusesAnUnchangeableFieldAndAppliesNothing() {
    func select(_ list: [UInt8]) -> ScsiResult {
      run([0x15, 0x10, 0, 0, UInt8(list.count), 0], length: list.count) { b in
        for (i, v) in list.enumerated() { b[i] = v }
      }.0
    }
    // The control page as MODE SENSE (current, DBD) gives it: header + page.
    let (sense, current) = run([0x1A, 0x08, 0x0A, 0, 255, 0], length: 255)
    #expect(sense.status == .good && current[3] == 0 && current[4] == 0x0A)
    var page = Array(current[4..<16])
    page[2] |= 0x04  // D_SENSE on: changeable
    // QAM (byte 3) 0x10 -> 0x00, not changeable: refused at byte 4 + 3, bit 4; D_SENSE not set.
    var qam = page
    qam[3] = 0
    let refused = select([0, 0, 0, 0] + qam)
    #expect(
      refused.sense == SenseData(.illegalRequest, .invalidFieldInParameterList, field: .parameter(7, bit: 4)))
    #expect(!lu.descriptorSense, "nothing of a refused list applies")
    // TAS (byte 5, bit 6), not changeable here.
    var tas = page
    tas[5] |= 0x40
    #expect(select([0, 0, 0, 0] + tas).sense?.field == .parameter(9, bit: 6))
    // A block descriptor that changes the block length, then one that changes the capacity.
    let blocks = UInt32(lu.blockCount)
    let count: [UInt8] = [
      UInt8(blocks >> 24), UInt8((blocks >> 16) & 0xFF), UInt8((blocks >> 8) & 0xFF), UInt8(blocks & 0xFF),
    ]
    let wrongLength = select([0, 0, 0, 8] + count + [0, 0, 0x02, 0x00] + page)
    #expect(
      wrongLength.sense == SenseData(.illegalRequest, .invalidFieldInParameterList, field: .parameter(9)))
    let wrongCapacity = select([0, 0, 0, 8, 0, 0, 0, 9, 0, 0, 0x10, 0x00] + page)
    #expect(wrongCapacity.sense?.field == .parameter(4))
    #expect(!lu.descriptorSense)
    // Control: the same list with the LU's own descriptor (capacity kept, or zero) applies.
    #expect(select([0, 0, 0, 8] + count + [0, 0, 0x10, 0x00] + page).status == .good)
    #expect(lu.descriptorSense)
    page[2] &= ~0x04
    #expect(select([0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0x10, 0x00] + page).status == .good)
    #expect(!lu.descriptorSense)
    // MODE SELECT(10) with LONGLBA: a 16-byte descriptor, checked the same way.
    func select10(_ list: [UInt8]) -> ScsiResult {
      run([0x55, 0x10, 0, 0, 0, 0, 0, 0, UInt8(list.count), 0], length: list.count) { b in
        for (i, v) in list.enumerated() { b[i] = v }
      }.0
    }
    let long = [UInt8](repeating: 0, count: 4) + count + [0, 0, 0, 0, 0, 0, 0x10, 0x00]
    #expect(select10([0, 0, 0, 0, 0x01, 0, 0, 16] + long + page).status == .good)
    var longWrong = long
    longWrong[14] = 0x02  // 512-byte blocks
    let refusedLong = select10([0, 0, 0, 0, 0x01, 0, 0, 16] + longWrong + page)
    #expect(refusedLong.sense?.field == .parameter(8 + 12))
    // A short descriptor's length where LONGLBA asks for 16 bytes: refused.
    #expect(select10([0, 0, 0, 0, 0x01, 0, 0, 8] + count + [0, 0, 0x10, 0x00] + page).status != .good)
  }

  @Test func unmapWriteSameAndGetLbaStatus() {
    _ = run(write10(0, 4), length: 16384) { b in for i in 0..<b.count { b[i] = 0xAB } }
    func status(_ lba: UInt64) -> UInt8 {
      var c: [UInt8] = [0x9E, 0x12]
      for i in (0..<8).reversed() { c.append(UInt8((lba >> (UInt64(i) * 8)) & 0xFF)) }
      c += [0, 0, 0, 64, 0, 0]
      let (_, d) = run(c, length: 64)
      return d[8 + 12]
    }
    #expect(status(0) == 0)  // mapped
    // UNMAP blocks 1..2.
    let (u, _) = run([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0], length: 24) { b in
      let p: [UInt8] = [0, 22, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0]
      for (i, v) in p.enumerated() { b[i] = v }
    }
    #expect(u.status == .good)
    #expect(status(1) == 1)
    let (r, d) = run(read10(1, 1), length: 4096)
    #expect(r.status == .good && d.allSatisfy { $0 == 0 })
    // WRITE SAME(16) with UNMAP and a zero block deallocates.
    let (ws, _) = run([0x93, 0x08, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 1, 0, 0], length: 4096)
    #expect(ws.status == .good && status(3) == 1)
  }

  /// WSNZ 0 (Block Limits VPD): WRITE SAME of 0 blocks writes every block from its LBA to the
  /// end of the medium (SBC-4, WRITE SAME (10) / (16)); from past the end it is LBA OUT OF
  /// RANGE, and a rest of the medium longer than MAXIMUM WRITE SAME LENGTH is INVALID FIELD IN
  /// CDB (the transfer-length field).
  @Test func writeSameOfZeroBlocksWritesToTheEndOfTheMedium() throws {
    let (vpd, page) = run([0x12, 1, 0xB0, 0, 0x3C, 0], length: 0x3C)
    #expect(vpd.status == .good && page[1] == 0xB0 && page[4] & 0x01 == 0, "WSNZ should be 0")
    _ = run(write10(999, 1)) { b in for i in 0..<b.count { b[i] = 7 } }
    // WRITE SAME(10) of 0 blocks at LBA 1000 of 1024.
    let (ws, _) = run([0x41, 0, 0, 0, 0x03, 0xE8, 0, 0, 0, 0]) { b in for i in 0..<b.count { b[i] = 0x5A } }
    #expect(ws.status == .good, "\(String(describing: ws.sense))")
    for lba: UInt32 in [1000, 1011, 1023] {
      let (r, d) = run(read10(lba, 1))
      #expect(r.status == .good && d.allSatisfy { $0 == 0x5A }, "block \(lba) not written")
    }
    // Positive control: the block before the LBA keeps its data.
    #expect(run(read10(999, 1)).1.allSatisfy { $0 == 7 })
    // NDOB without UNMAP writes zeroes (the blocks stay mapped); with UNMAP it deallocates.
    let (ndob, _) = run([0x93, 0x01, 0, 0, 0, 0, 0, 0, 0x03, 0xF0, 0, 0, 0, 2, 0, 0], length: 0)  // LBA 1008
    #expect(ndob.status == .good, "\(String(describing: ndob.sense))")
    #expect(lu.store.isMapped(lba: 1008) && run(read10(1008, 2), length: 8192).1.allSatisfy { $0 == 0 })
    _ = run([0x93, 0x09, 0, 0, 0, 0, 0, 0, 0x03, 0xF0, 0, 0, 0, 2, 0, 0], length: 0)  // with UNMAP
    #expect(!lu.store.isMapped(lba: 1008), "NDOB with UNMAP should deallocate")
    let (past, _) = run([0x93, 0, 0, 0, 0, 0, 0, 0, 0x04, 0x00, 0, 0, 0, 0, 0, 0])  // LBA 1024
    #expect(past.sense?.code == .lbaOutOfRange, "\(String(describing: past.sense))")
    var config = LogicalUnitConfiguration()
    config.maxWriteSameBlocks = 16
    let small = LogicalUnit(store: try RamStore(bytes: 4096 * 1024, blockSize: 4096), configuration: config)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4096, alignment: 4096)
    defer { buffer.deallocate() }
    buffer.initializeMemory(as: UInt8.self, repeating: 1)
    let long = small.execute(Cdb([0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0]), buffer: buffer)
    #expect(
      long.sense?.code == .invalidFieldInCdb && long.sense?.field == .cdb(7),
      "\(String(describing: long.sense))")
    let fits = small.execute(Cdb([0x41, 0, 0, 0, 0x03, 0xF0, 0, 0, 0, 0]), buffer: buffer)  // 16 left
    #expect(fits.status == .good, "\(String(describing: fits.sense))")
  }

  @Test func compareAndWriteAndVerifyMiscompare() {
    _ = run(write10(9, 1), length: 4096) { b in for i in 0..<b.count { b[i] = 1 } }
    let caw: [UInt8] = [0x89, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1, 0, 0]
    let (ok, _) = run(caw, length: 8192) { b in for i in 0..<b.count { b[i] = i < 4096 ? 1 : 2 } }
    #expect(ok.status == .good)
    let (bad, _) = run(caw, length: 8192) { b in for i in 0..<b.count { b[i] = 1 } }
    #expect(bad.sense?.key == .miscompare && bad.sense?.information == 0)
    let (v, _) = run([0x2F, 0x02, 0, 0, 0, 9, 0, 0, 1, 0], length: 4096) { b in
      for i in 0..<b.count { b[i] = i == 100 ? 9 : 2 }
    }
    #expect(v.sense == SenseData(.miscompare, .miscompareDuringVerify, information: 100))
  }

  @Test func reportLunsAndSupportedOperationCodes() {
    let (luns, d) = run([0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0], length: 64)
    #expect(luns.status == .good && d[3] == 8)
    let (small, _) = run([0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0], length: 64)
    #expect(small.sense?.field == .cdb(6))
    let (all, a) = run([0xA3, 0x0C, 0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0], length: 65535)
    #expect(all.status == .good)
    let count = Int(UInt32(a[0]) << 24 | UInt32(a[1]) << 16 | UInt32(a[2]) << 8 | UInt32(a[3])) / 20
    #expect(count > 30)
    let (one, o) = run([0xA3, 0x0C, 0x01, 0x28, 0, 0, 0, 0, 0, 64, 0, 0], length: 64)
    #expect(one.status == .good && o[1] & 0x07 == 3 && o[3] == 10 && o[4] == 0x28)
    let (none, n) = run([0xA3, 0x0C, 0x01, 0xC7, 0, 0, 0, 0, 0, 64, 0, 0], length: 64)
    #expect(none.status == .good && n[1] & 0x07 == 1)
  }

  /// READ DEFECT DATA (SBC-4 §5.17–5.18): a virtual medium reports empty lists in the format
  /// asked for, the header cut to the allocation length; listed in REPORT SUPPORTED OPCODES.
  @Test func readDefectDataReportsEmptyLists() {
    let (ten, t) = run([0x37, 0, 0x18 | 0x05, 0, 0, 0, 0, 0, 32, 0], length: 32)
    #expect(ten.status == .good)
    #expect(Array(t[0..<4]) == [0, 0x1D, 0, 0], "PLISTV, GLISTV, format 5, length 0")
    let (twelve, w) = run([0xB7, 0x08, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0], length: 64)
    #expect(twelve.status == .good)
    #expect(Array(w[0..<8]) == [0, 0x08, 0, 0, 0, 0, 0, 0])
    let (cut, c) = run([0x37, 0, 0x10, 0, 0, 0, 0, 0, 2, 0], length: 2)
    #expect(cut.status == .good && c == [0, 0x10])
    for opcode: UInt8 in [0x37, 0xB7] {
      let (one, o) = run([0xA3, 0x0C, 0x01, opcode, 0, 0, 0, 0, 0, 64, 0, 0], length: 64)
      #expect(one.status == .good && o[1] & 0x07 == 3, "opcode \(opcode) listed as supported")
    }
  }

  @Test func startStopAndPreventAllow() {
    #expect(run([0x1B, 0, 0, 0, 0x00, 0], length: 0).0.status == .good)  // stop
    #expect(run([0x00, 0, 0, 0, 0, 0], length: 0).0.sense?.key == .notReady)
    #expect(run(read10(0, 1), length: 4096).0.sense?.key == .notReady)
    #expect(run([0x1B, 0, 0, 0, 0x01, 0], length: 0).0.status == .good)  // start
    #expect(run([0x00, 0, 0, 0, 0, 0], length: 0).0.status == .good)
    #expect(run([0x1E, 0, 0, 0, 1, 0], length: 0).0.status == .good)
    #expect(run([0x1B, 0, 0, 0, 0x02, 0], length: 0).0.sense?.code == .mediumRemovalPrevented)
  }
}
