import StorportDevices

extension LogicalUnit {
  /// What refuses a block command before its fields are looked at — NACA or LINK in the
  /// control byte (not supported: INVALID FIELD IN CDB), a unit START STOP UNIT stopped (NOT
  /// READY, INITIALIZING COMMAND REQUIRED) — or nil. A miniport that executes block commands
  /// itself (the NVMe sample) asks this first, so both paths refuse alike.
  public func blockCommandRefusal(_ cdb: Cdb) -> ScsiResult? {
    controlByteRefusal(cdb) ?? notReadyRefusal
  }

  /// NACA or LINK in the control byte (neither supported): INVALID FIELD IN CDB; nil otherwise.
  func controlByteRefusal(_ cdb: Cdb) -> ScsiResult? {
    guard let expected = Cdb.length(forOpcode: cdb.opcode), cdb.count >= expected,
      cdb[expected - 1] & 0x05 != 0
    else { return nil }
    return .invalidField(cdbByte: expected - 1)
  }

  /// A unit START STOP UNIT stopped: NOT READY, INITIALIZING COMMAND REQUIRED; nil otherwise.
  var notReadyRefusal: ScsiResult? {
    started.load(ordering: .acquiring) ? nil : .check(SenseData(.notReady, .notReadyInitializingRequired))
  }

  func executeBlock(
    _ b: BlockCommand, cdb: Cdb, buffer: UnsafeMutableRawBufferPointer, overflow: OverflowPolicy
  ) -> ScsiResult {
    if let refusal = notReadyRefusal { return refusal }  // `execute` looked at the control byte
    if b.atomic && configuration.maxAtomicTransferBlocks == 0 {
      return .illegal(.invalidCommandOperationCode, .cdb(0))
    }
    // No protection information: any RD/WR/VRPROTECT is an invalid field.
    if b.protect != 0 { return .invalidField(cdbByte: 1, bit: 7) }
    // Range first (covers LBA wrap): LBA + blocks must not pass the end.
    let end = b.lba.addingReportingOverflow(UInt64(b.blocks))
    if end.overflow || end.partialValue > blockCount || b.lba > blockCount
      || (b.lba == blockCount && b.blocks > 0)
      || (b.blocks == 0 && b.lba >= blockCount && b.kind != .synchronizeCache)
    {
      return .check(SenseData(.illegalRequest, .lbaOutOfRange, information: b.lba))
    }
    if b.atomic, let refusal = atomicWriteRefusal(b) { return refusal }
    switch b.kind {
    case .synchronizeCache:
      do { try store.flush() } catch { return mediumError(.writeError) }
      return .good()
    case .prefetch:
      return .good()
    case .writeSame:
      return writeSame(b, buffer)
    case .compareAndWrite:
      return compareAndWrite(b, buffer)
    case .orWrite:
      return orWrite(b, buffer)
    default: break
    }
    if b.blocks == 0 { return .good() }
    if b.blocks > configuration.maxTransferBlocks { return .invalidField(cdbByte: b.lengthField) }
    let bytes = Int(b.blocks) * blockSize
    switch b.kind {
    case .read:
      if buffer.count < bytes {
        if overflow == .checkCondition { return .invalidField(cdbByte: b.lengthField) }
        return readPartial(b, buffer, bytes: bytes)
      }
      do { try store.read(lba: b.lba, count: Int(b.blocks), into: buffer.baseAddress!) } catch {
        return mediumError(.unrecoveredReadError)
      }
      return .good(bytes)
    case .write, .writeAndVerify:
      if writeProtected { return .check(SenseData(.dataProtect, .writeProtected)) }
      guard buffer.count >= bytes else { return .invalidField(cdbByte: b.lengthField) }
      do {
        try blockLocks.withExcluded(lba: b.lba, count: Int(b.blocks)) { () throws(BlockStoreError) in
          try store.write(lba: b.lba, count: Int(b.blocks), from: buffer.baseAddress!, forceUnitAccess: b.fua)
        }
      } catch {
        return mediumError(.writeError)
      }
      return .good(bytes)
    case .verify:
      return verify(b, buffer, bytes: bytes)
    default:
      return .illegal(.invalidCommandOperationCode, .cdb(0))
    }
  }

  func mediumError(_ code: AdditionalSense) -> ScsiResult { .check(SenseData(.mediumError, code)) }

  private func readPartial(_ b: BlockCommand, _ buffer: UnsafeMutableRawBufferPointer, bytes: Int)
    -> ScsiResult
  {
    let fit = buffer.count
    let tmp = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    defer { tmp.deallocate() }
    do { try store.read(lba: b.lba, count: Int(b.blocks), into: tmp) } catch {
      return mediumError(.unrecoveredReadError)
    }
    if fit > 0 { buffer.baseAddress!.copyMemory(from: tmp, byteCount: fit) }
    return .good(fit, overflow: bytes - fit)
  }

  /// VERIFY: BYTCHK 0 checks the medium; 1 compares the data-out with it; 3 compares one
  /// data-out block with every block. A difference is MISCOMPARE 0E/1D00 with the offset.
  private func verify(_ b: BlockCommand, _ buffer: UnsafeMutableRawBufferPointer, bytes: Int) -> ScsiResult {
    switch b.byteCheck {
    case 0: return .good()
    case 2: return .invalidField(cdbByte: 1, bit: 2)
    default: break
    }
    guard store.holdsData else { return .good() }
    let needed = b.byteCheck == 3 ? blockSize : bytes
    guard buffer.count >= needed else { return .invalidField(cdbByte: b.lengthField) }
    let media = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    defer { media.deallocate() }
    do { try store.read(lba: b.lba, count: Int(b.blocks), into: media) } catch {
      return mediumError(.unrecoveredReadError)
    }
    for i in 0..<bytes {
      let expected = buffer[b.byteCheck == 3 ? i % blockSize : i]
      if media.load(fromByteOffset: i, as: UInt8.self) != expected {
        return .check(SenseData(.miscompare, .miscompareDuringVerify, information: UInt64(i)))
      }
    }
    return .good(needed)
  }

  /// ORWRITE(16) (SBC-4 §5.21): the range becomes its contents OR the data-out, under the same
  /// lock as COMPARE AND WRITE (no other read-modify-write in between).
  private func orWrite(_ b: BlockCommand, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    if b.blocks == 0 { return .good() }
    if b.blocks > configuration.maxTransferBlocks { return .invalidField(cdbByte: b.lengthField) }
    if writeProtected { return .check(SenseData(.dataProtect, .writeProtected)) }
    let bytes = Int(b.blocks) * blockSize
    guard buffer.count >= bytes else { return .invalidField(cdbByte: b.lengthField) }
    guard store.holdsData else { return .good(bytes) }
    return blockLocks.withExcluded(lba: b.lba, count: Int(b.blocks)) { () -> ScsiResult in
      let media = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
      defer { media.deallocate() }
      do { try store.read(lba: b.lba, count: Int(b.blocks), into: media) } catch {
        return mediumError(.unrecoveredReadError)
      }
      for i in 0..<bytes {
        media.storeBytes(
          of: media.load(fromByteOffset: i, as: UInt8.self) | buffer[i], toByteOffset: i, as: UInt8.self)
      }
      do { try store.write(lba: b.lba, count: Int(b.blocks), from: media, forceUnitAccess: b.fua) } catch {
        return mediumError(.writeError)
      }
      return .good(bytes)
    }
  }

  private func compareAndWrite(_ b: BlockCommand, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    guard configuration.compareAndWrite else { return .illegal(.invalidCommandOperationCode, .cdb(0)) }
    if b.blocks == 0 { return .good() }
    if b.blocks > UInt32(configuration.maxCompareAndWriteBlocks) { return .invalidField(cdbByte: 13) }
    if writeProtected { return .check(SenseData(.dataProtect, .writeProtected)) }
    let bytes = Int(b.blocks) * blockSize
    guard buffer.count == 2 * bytes else { return .invalidField(cdbByte: 13) }
    guard store.holdsData else { return .good(2 * bytes) }
    return blockLocks.withExcluded(lba: b.lba, count: Int(b.blocks)) { () -> ScsiResult in
      let media = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
      defer { media.deallocate() }
      do { try store.read(lba: b.lba, count: Int(b.blocks), into: media) } catch {
        return mediumError(.unrecoveredReadError)
      }
      for i in 0..<bytes where media.load(fromByteOffset: i, as: UInt8.self) != buffer[i] {
        return .check(SenseData(.miscompare, .miscompareDuringVerify, information: UInt64(i)))
      }
      do {
        try store.write(
          lba: b.lba, count: Int(b.blocks), from: buffer.baseAddress! + bytes, forceUnitAccess: b.fua)
      } catch {
        return mediumError(.writeError)
      }
      return .good(2 * bytes)
    }
  }

  /// WRITE SAME (10/16): one block replicated over the range; with UNMAP and a zero block (or
  /// NDOB) the range is deallocated instead.
  private func writeSame(_ named: BlockCommand, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    let b = named.resolvingWriteSameToEnd(blockCount: blockCount)  // WSNZ = 0
    if b.anchor { return .invalidField(cdbByte: 1, bit: 4) }
    if b.blocks == 0 { return .good() }  // past the end: refused by the range check before
    if UInt64(b.blocks) > configuration.maxWriteSameBlocks { return .invalidField(cdbByte: b.lengthField) }
    if writeProtected { return .check(SenseData(.dataProtect, .writeProtected)) }
    if b.unmap && !thinProvisioned { return .invalidField(cdbByte: 1, bit: 3) }
    var zero = b.noDataOutBuffer
    if !b.noDataOutBuffer {
      guard buffer.count >= blockSize else { return .invalidField(cdbByte: b.lengthField) }
      zero = (0..<blockSize).allSatisfy { buffer[$0] == 0 }
    }
    // UNMAP with a zero block (NDOB: a zero block) deallocates; without UNMAP the zeroes are
    // written (SBC-4: WRITE SAME with UNMAP 0 writes).
    var zeroBlock: UnsafeMutableRawBufferPointer? = nil
    if b.noDataOutBuffer && !b.unmap {
      zeroBlock = .allocate(byteCount: blockSize, alignment: 16)
      zeroBlock!.initializeMemory(as: UInt8.self, repeating: 0)
    }
    defer { zeroBlock?.deallocate() }
    do {
      try blockLocks.withExcluded(lba: b.lba, count: Int(b.blocks)) { () throws(BlockStoreError) in
        try fill(b, zeroBlock ?? buffer, deallocate: b.unmap && zero)
      }
    } catch {
      return mediumError(.writeError)
    }
    return .good(b.noDataOutBuffer ? 0 : blockSize)
  }

  /// WRITE SAME's change of the medium (its blocks' stripes held): deallocation or the block
  /// written to each one.
  private func fill(_ b: BlockCommand, _ buffer: UnsafeMutableRawBufferPointer, deallocate: Bool)
    throws(BlockStoreError)
  {
    if deallocate {
      try store.deallocate(lba: b.lba, count: Int(b.blocks))
      return
    }
    var lba = b.lba
    let end = b.lba + UInt64(b.blocks)
    while lba < end {
      try store.write(lba: lba, count: 1, from: buffer.baseAddress!, forceUnitAccess: false)
      lba += 1
    }
  }

  func unmap(_ cdb: Cdb, _ buffer: UnsafeMutableRawBufferPointer) -> ScsiResult {
    guard thinProvisioned else { return .illegal(.invalidCommandOperationCode, .cdb(0)) }
    if cdb[1] & 0x01 != 0 { return .invalidField(cdbByte: 1, bit: 0) }  // ANCHOR
    let length = Int(cdb.be16(7))
    if length == 0 { return .good() }
    if writeProtected { return .check(SenseData(.dataProtect, .writeProtected)) }
    guard length >= 8, buffer.count >= length else { return .illegal(.parameterListLengthError) }
    let p = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
    func be(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(UInt64(0)) { $0 << 8 | UInt64(p[at + $1]) } }
    let descLength = Int(be(2, 2))
    guard descLength % 16 == 0, 8 + descLength <= length else {
      return .illegal(.parameterListLengthError)
    }
    let count = descLength / 16
    if count > Int(configuration.maxUnmapDescriptors) {
      return .illegal(.invalidFieldInParameterList, .parameter(2))
    }
    var ranges: [(UInt64, UInt64)] = []
    for d in 0..<count {
      let at = 8 + d * 16
      let lba = be(at, 8)
      let n = be(at + 8, 4)
      if n > UInt64(configuration.maxUnmapBlocks) {
        return .illegal(.invalidFieldInParameterList, .parameter(at + 8))
      }
      let end = lba.addingReportingOverflow(n)
      if end.overflow || end.partialValue > blockCount {
        return .check(SenseData(.illegalRequest, .lbaOutOfRange, information: lba))
      }
      ranges.append((lba, n))
    }
    do {
      for (lba, n) in ranges where n > 0 {
        try blockLocks.withExcluded(lba: lba, count: Int(n)) { () throws(BlockStoreError) in
          try store.deallocate(lba: lba, count: Int(n))
        }
      }
    } catch {
      return mediumError(.writeError)
    }
    return .good(length)
  }
}

extension LogicalUnit {
  /// Why a WRITE ATOMIC(16) cannot run as sent (nil: it may): not offered (INVALID COMMAND
  /// OPERATION CODE), an ATOMIC BOUNDARY (MAXIMUM ATOMIC BOUNDARY SIZE is 0) or more blocks
  /// than MAXIMUM ATOMIC TRANSFER LENGTH (INVALID FIELD IN CDB). Checked after the LBA range
  /// (a range past the end is LBA OUT OF RANGE first); a miniport checks it before it
  /// translates the command.
  public func atomicWriteRefusal(_ b: BlockCommand) -> ScsiResult? {
    guard configuration.maxAtomicTransferBlocks > 0 else {
      return .illegal(.invalidCommandOperationCode, .cdb(0))
    }
    if b.atomicBoundary != 0 { return .invalidField(cdbByte: 10) }
    if b.blocks > configuration.maxAtomicTransferBlocks { return .invalidField(cdbByte: b.lengthField) }
    return nil
  }
}
