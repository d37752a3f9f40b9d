extension LogicalUnit {
  func readCapacity10(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    if cdb[8] & 0x01 == 0 && cdb.be32(2) != 0 { return .invalidField(cdbByte: 2) }
    var out: [UInt8] = []
    let last = blockCount == 0 ? 0 : blockCount - 1
    out.be32(last > 0xFFFF_FFFE ? 0xFFFF_FFFF : UInt32(last))
    out.be32(UInt32(blockSize))
    return dataIn(out, buffer, allocationLength: 8)
  }

  func readCapacity16(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let alloc = Int(cdb.be32(10))
    var out: [UInt8] = []
    out.be64(blockCount == 0 ? 0 : blockCount - 1)
    out.be32(UInt32(blockSize))
    out.append(0)  // no protection information
    out.append(0)  // one logical block per physical block
    out.append(thinProvisioned ? 0xC0 : 0x00)  // LBPME, LBPRZ; lowest aligned LBA 0
    out.append(0)
    while out.count < 32 { out.append(0) }
    return dataIn(out, buffer, allocationLength: alloc)
  }

  func getLbaStatus(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let start = cdb.be64(2)
    let alloc = Int(cdb.be32(10))
    guard start < blockCount else {
      return .check(SenseData(.illegalRequest, .lbaOutOfRange, field: .cdb(2)))
    }
    guard alloc >= 24 else { return dataIn([], buffer, allocationLength: alloc) }
    var descriptors: [UInt8] = []
    var lba = start
    let maxDescriptors = min(64, (alloc - 8) / 16)
    var n = 0
    while lba < blockCount && n < maxDescriptors {
      let mapped = store.isMapped(lba: lba)
      var run: UInt64 = 1
      while lba + run < blockCount && run < 0xFFFF_FFFF && store.isMapped(lba: lba + run) == mapped {
        run += 1
      }
      descriptors.be64(lba)
      descriptors.be32(UInt32(run))
      descriptors += [mapped ? 0 : 1, 0, 0, 0]
      lba += run
      n += 1
    }
    var out: [UInt8] = []
    out.be32(UInt32(descriptors.count + 4))
    out += [0, 0, 0, 0]
    out += descriptors
    return dataIn(out, buffer, allocationLength: alloc)
  }
}
