extension LogicalUnit {
  /// Caching (0x08) and Control (0x0A) pages: current, changeable or default values.
  private func page(_ code: UInt8, control pc: UInt8) -> [UInt8]? {
    let m = mode.withLock { $0 }
    switch code {
    case 0x08:
      var p = [UInt8](repeating: 0, count: 20)
      p[0] = 0x08
      p[1] = 0x12
      switch pc {
      case 1: p[2] = 0x04  // WCE changeable
      case 2: p[2] = 0x04  // default: write cache on
      default: p[2] = m.writeCacheEnabled ? 0x04 : 0
      }
      return p
    case 0x0A:
      var p = [UInt8](repeating: 0, count: 12)
      p[0] = 0x0A
      p[1] = 0x0A
      switch pc {
      case 1:
        p[2] = 0x04  // D_SENSE changeable
        p[4] = 0x08  // SWP changeable
      case 2:
        p[3] = 0x10  // unrestricted reordering
      default:
        p[2] = m.descriptorSense ? 0x04 : 0
        p[3] = 0x10
        p[4] = m.softwareWriteProtect ? 0x08 : 0
      }
      p[8] = 0xFF  // busy timeout period: unlimited
      p[9] = 0xFF
      return p
    default:
      return nil
    }
  }

  func modeSense(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let ten = cdb.opcode == 0x5A
    let dbd = cdb[1] & 0x08 != 0
    let pc = cdb[2] >> 6
    let code = cdb[2] & 0x3F
    let subpage = cdb[3]
    let alloc = ten ? Int(cdb.be16(7)) : Int(cdb[4])
    if pc == 3 { return .illegal(.savingParametersNotSupported, .cdb(2, bit: 7)) }
    if subpage != 0 && subpage != 0xFF { return .invalidField(cdbByte: 3) }
    var pages: [UInt8] = []
    if code == 0x3F {
      for c: UInt8 in [0x08, 0x0A] { pages += page(c, control: pc) ?? [] }
    } else if let p = page(code, control: pc) {
      pages = p
    } else {
      return .invalidField(cdbByte: 2, bit: 5)
    }
    let deviceSpecific: UInt8 = (writeProtected ? 0x80 : 0) | 0x10  // WP, DPOFUA
    var blockDescriptor: [UInt8] = []
    if !dbd {
      blockDescriptor.be32(blockCount > 0xFFFF_FFFF ? 0xFFFF_FFFF : UInt32(blockCount))
      blockDescriptor.append(0)
      blockDescriptor += [
        UInt8((blockSize >> 16) & 0xFF), UInt8((blockSize >> 8) & 0xFF), UInt8(blockSize & 0xFF),
      ]
    }
    var out: [UInt8]
    if ten {
      out = [0, 0, 0x00, deviceSpecific, 0, 0, 0, UInt8(blockDescriptor.count)]
      out += blockDescriptor + pages
      out.setBe16(0, UInt16(out.count - 2))
    } else {
      out = [0, 0x00, deviceSpecific, UInt8(blockDescriptor.count)]
      out += blockDescriptor + pages
      out[0] = UInt8(min(255, out.count - 1))
    }
    return dataIn(out, buffer, allocationLength: alloc)
  }

  func modeSelect(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let ten = cdb.opcode == 0x55
    let length = ten ? Int(cdb.be16(7)) : Int(cdb[4])
    if cdb[1] & 0x01 != 0 { return .illegal(.savingParametersNotSupported, .cdb(1, bit: 0)) }  // SP
    if cdb[1] & 0x10 == 0 && length > 0 { return .invalidField(cdbByte: 1, bit: 4) }  // PF required
    guard length > 0 else { return .good() }
    guard buffer.count >= length else { return .illegal(.parameterListLengthError) }
    let p = Array(UnsafeRawBufferPointer(rebasing: buffer[0..<length]))
    let headerLength = ten ? 8 : 4
    guard p.count >= headerLength else { return .illegal(.parameterListLengthError) }
    let bdLength = ten ? Int(UInt16(p[6]) << 8 | UInt16(p[7])) : Int(p[3])
    var i = headerLength + bdLength
    guard i <= p.count else { return .illegal(.parameterListLengthError) }
    let longLBA = ten && p[4] & 0x01 != 0
    if let refused = checkBlockDescriptors(p, from: headerLength, length: bdLength, longLBA: longLBA) {
      return refused
    }
    // The pages the list carries, applied together once all parsed: a page it does not carry
    // keeps what another MODE SELECT (or START STOP UNIT) set meanwhile.
    var writeCacheEnabled: Bool? = nil
    var descriptorSense: Bool? = nil
    var softwareWriteProtect: Bool? = nil
    while i < p.count {
      let code = p[i] & 0x3F
      guard i + 1 < p.count else { return .illegal(.parameterListLengthError) }
      let len = Int(p[i + 1])
      guard i + 2 + len <= p.count else { return .illegal(.parameterListLengthError) }
      if let refused = checkUnchangeable(p, page: i, length: len) { return refused }
      switch code {
      case 0x08:
        guard len == 0x12 else { return .illegal(.invalidFieldInParameterList, .parameter(i + 1)) }
        writeCacheEnabled = p[i + 2] & 0x04 != 0
      case 0x0A:
        guard len == 0x0A else { return .illegal(.invalidFieldInParameterList, .parameter(i + 1)) }
        descriptorSense = p[i + 2] & 0x04 != 0
        softwareWriteProtect = p[i + 4] & 0x08 != 0
      default:
        return .illegal(.invalidFieldInParameterList, .parameter(i))
      }
      i += 2 + len
    }
    mode.withLock { m in
      // (Checked against the values before the lock: a concurrent MODE SELECT of a changeable
      // field is the only change there can be.)
      if let writeCacheEnabled { m.writeCacheEnabled = writeCacheEnabled }
      if let descriptorSense { m.descriptorSense = descriptorSense }
      if let softwareWriteProtect {
        m.softwareWriteProtect = softwareWriteProtect
        softwareWriteProtected.store(softwareWriteProtect, ordering: .releasing)
      }
    }
    return .good()
  }

  /// SPC-4 §6.11 (MODE SELECT): a parameter list that sets a field the LU reports as not
  /// changeable (MODE SENSE, PC 1) to other than its current value is refused — ILLEGAL
  /// REQUEST, INVALID FIELD IN PARAMETER LIST, the field pointer at the first such bit — and
  /// nothing of the list is applied. Page `page` of the list `p` has `length` bytes after its
  /// header; its first two bytes (PS, SPF, page code, length) are checked elsewhere. A page the
  /// LU does not have is left to the caller.
  private func checkUnchangeable(_ p: [UInt8], page at: Int, length: Int) -> ScsiResult? {
    let code = p[at] & 0x3F
    guard let current = page(code, control: 0), let changeable = page(code, control: 1),
      length == current.count - 2
    else { return nil }
    for k in 2..<current.count {
      let differs = (p[at + k] ^ current[k]) & ~changeable[k]
      guard differs != 0 else { continue }
      let bit = 7 - differs.leadingZeroBitCount
      return .illegal(.invalidFieldInParameterList, .parameter(at + k, bit: bit))
    }
    return nil
  }

  /// The block descriptor of a MODE SELECT parameter list (SBC-4 §6.5.2: short LBA, or long LBA
  /// in MODE SELECT(10) with LONGLBA): the LU's logical block length cannot change, and its
  /// capacity only stays — NUMBER OF LOGICAL BLOCKS zero, or the value MODE SENSE reports.
  /// Anything else is refused with INVALID FIELD IN PARAMETER LIST; a descriptor length other
  /// than none or one descriptor (8 bytes, 16 with LONGLBA) too.
  private func checkBlockDescriptors(_ p: [UInt8], from start: Int, length: Int, longLBA: Bool) -> ScsiResult?
  {
    guard length > 0 else { return nil }
    let size = longLBA ? 16 : 8
    guard length == size else { return .illegal(.invalidFieldInParameterList, .parameter(start - 1)) }
    func be(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 << 8 | UInt64(p[at + $1]) } }
    let blocks = longLBA ? be(start, 8) : be(start, 4)
    let reported = longLBA ? blockCount : min(blockCount, 0xFFFF_FFFF)
    if blocks != 0 && blocks != reported {
      return .illegal(.invalidFieldInParameterList, .parameter(start))
    }
    let lengthAt = longLBA ? start + 12 : start + 5
    if be(lengthAt, longLBA ? 4 : 3) != UInt64(blockSize) {
      return .illegal(.invalidFieldInParameterList, .parameter(lengthAt))
    }
    return nil
  }
}
