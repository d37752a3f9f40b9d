extension LogicalUnit {
  /// READ DEFECT DATA(10) (0x37) and (12) (0xB7), SBC-4 §5.17–5.18: a virtual medium has no
  /// defects, so the answer is the parameter header alone — the lists asked for (PLISTV,
  /// GLISTV) declared valid and empty, in the format asked for (every format of an empty list
  /// is the same). 4 bytes for the 10-byte form, 8 for the 12-byte form, cut to the allocation
  /// length.
  func readDefectData(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let twelve = cdb.opcode == 0xB7
    let flags = cdb[twelve ? 1 : 2] & 0x1F  // REQ_PLIST, REQ_GLIST, DEFECT LIST FORMAT
    let alloc = twelve ? Int(cdb.be32(6)) : Int(cdb.be16(7))
    var out: [UInt8] = [0, flags]
    out += twelve ? [0, 0, 0, 0, 0, 0] : [0, 0]  // DEFECT LIST LENGTH 0
    return dataIn(out, buffer, allocationLength: alloc)
  }
}
