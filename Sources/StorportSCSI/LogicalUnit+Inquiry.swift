extension LogicalUnit {
  /// VPD pages this LU supports, in order.
  var supportedVpdPages: [UInt8] {
    thinProvisioned ? [0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2] : [0x00, 0x80, 0x83, 0xB0, 0xB1]
  }

  func inquiry(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let evpd = cdb[1] & 0x01 != 0
    let page = cdb[2]
    let alloc = Int(cdb.be16(3))
    if cdb[1] & 0x02 != 0 { return .invalidField(cdbByte: 1, bit: 1) }  // CMDDT (obsolete)
    guard evpd else {
      if page != 0 { return .invalidField(cdbByte: 2) }
      return dataIn(standardInquiry(), buffer, allocationLength: alloc)
    }
    let body: [UInt8]
    switch page {
    case 0x00: body = supportedVpdPages
    case 0x80: body = Array(configuration.serial.utf8)
    case 0x83: body = deviceIdentification()
    case 0xB0: body = blockLimits()
    case 0xB1: body = blockDeviceCharacteristics()
    case 0xB2 where thinProvisioned: body = logicalBlockProvisioning()
    default: return .invalidField(cdbByte: 2)
    }
    var out: [UInt8] = [0x00, page]
    out.be16(UInt16(body.count))
    out += body
    return dataIn(out, buffer, allocationLength: alloc)
  }

  func standardInquiry() -> [UInt8] {
    var out: [UInt8] = [
      0x00,  // peripheral: connected, direct-access block device
      0x00,  // RMB = 0
      0x06,  // SPC-4
      0x12,  // HISUP, response data format 2
      0,  // additional length, set below
      0x00, 0x00,
      0x02,  // CMDQUE
    ]
    out.ascii(configuration.vendor, 8)
    out.ascii(configuration.product, 16)
    out.ascii(configuration.revision, 4)
    out += [UInt8](repeating: 0, count: 20)  // vendor specific
    out += [0, 0]  // reserved / clocking
    // Version descriptors: SAM-5, SPC-4, SBC-3, iSCSI.
    for v: UInt16 in [0x00A0, 0x0460, 0x04C0, 0x0960] { out.be16(v) }
    while out.count < 96 { out.append(0) }
    out[4] = UInt8(out.count - 5)
    return out
  }

  func deviceIdentification() -> [UInt8] {
    let (hi, lo) = configuration.naaIdentifier
    var out: [UInt8] = []
    // NAA IEEE Registered Extended, binary, associated with the LU.
    out += [0x01, 0x03, 0x00, 0x10]
    out.be64(hi)
    out.be64(lo)
    // T10 vendor identification, ASCII.
    var t10: [UInt8] = []
    t10.ascii(configuration.vendor, 8)
    t10 += Array(configuration.serial.utf8)
    out += [0x02, 0x01, 0x00, UInt8(t10.count)]
    out += t10
    return out
  }

  func blockLimits() -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 0x3C)
    out[0] = 0x00  // WSNZ 0: WRITE SAME of 0 blocks writes to the end of the medium
    out[1] = configuration.maxCompareAndWriteBlocks
    var tail: [UInt8] = []
    tail.be16(1)  // optimal transfer length granularity (bytes 6-7)
    tail.be32(configuration.maxTransferBlocks)  // 8-11
    tail.be32(configuration.maxTransferBlocks)  // optimal transfer length 12-15
    tail.be32(configuration.maxTransferBlocks)  // max prefetch 16-19
    tail.be32(thinProvisioned ? configuration.maxUnmapBlocks : 0)  // 20-23
    tail.be32(thinProvisioned ? configuration.maxUnmapDescriptors : 0)  // 24-27
    tail.be32(1)  // optimal unmap granularity 28-31
    tail.be32(0)  // unmap granularity alignment 32-35
    tail.be64(configuration.maxWriteSameBlocks)  // 36-43
    // 44-47 MAXIMUM ATOMIC TRANSFER LENGTH; alignment, granularity, the boundary fields 0 (none).
    tail.be32(configuration.maxAtomicTransferBlocks)
    for (i, b) in tail.enumerated() { out[2 + i] = b }
    return out
  }

  func blockDeviceCharacteristics() -> [UInt8] {
    var out = [UInt8](repeating: 0, count: 0x3C)
    out[0] = 0x00
    out[1] = 0x01  // medium rotation rate 1: non-rotating
    out[3] = 0x05  // nominal form factor: less than 1.8"
    return out
  }

  func logicalBlockProvisioning() -> [UInt8] {
    // LBPU (UNMAP), LBPWS (WRITE SAME 16 unmap), LBPWS10, LBPRZ = 1 (unmapped reads zeros).
    [0x00, 0x80 | 0x40 | 0x20 | 0x04, 0x02, 0x00]
  }
}
