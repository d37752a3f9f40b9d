import Storport
import StorportDevices
import StorportSCSI

/// SCSI commands that become more than one NVMe command (the NVM Express SCSI translation):
/// COMPARE AND WRITE → a fused Compare + Write; WRITE SAME of a non-zero block → Writes whose
/// PRP entries all name one page holding the block, one chunk after another.
///
/// The request's `miniportContext` (the SRB extension's job here) carries the state between
/// completions: ``fusedPending`` with bit 0 set once one half completed and that half's status
/// in bits 16–31 (either half may come first; a failure of either wins, the Compare's over the
/// Write's abort), or ``writeSameChain`` with the blocks written or in flight in bits 0–31 and
/// the blocks of the chunk in flight in bits 32–47 — or, once a controller reset sent the
/// request back, ``writeSameResume`` with the blocks its completed chunks wrote.
extension NvmeMiniport {
  static let fusedPending: UInt = 1 << 63

  /// A read-modify-write command the LU answers without touching the medium: a write-protected
  /// LU (DATA PROTECT / WRITE PROTECTED), or 0 blocks (GOOD). True when `r` was completed.
  private func answeredBeforeWriting(
    _ ext: NvmeExtension, _ unit: LogicalUnit, _ r: StorRequest, _ b: BlockCommand
  ) -> Bool {
    if unit.writeProtected {
      reject(ext, r, .check(SenseData(.dataProtect, .writeProtected)))
      return true
    }
    if b.blocks == 0 {
      reject(ext, r, .good())
      return true
    }
    return false
  }

  /// COMPARE AND WRITE (SBC-4 §5.3): the data-out buffer holds the verify instance then the
  /// write instance, `b.blocks` blocks each. A miscompare ends as CHECK CONDITION, MISCOMPARE /
  /// MISCOMPARE DURING VERIFY OPERATION, with nothing written.
  func compareAndWrite(_ ext: NvmeExtension, _ unit: LogicalUnit, _ r: StorRequest, _ b: BlockCommand) {
    if answeredBeforeWriting(ext, unit, r, b) { return }
    let bytes = Int(b.blocks) * ext.blockSize
    guard b.blocks <= UInt32(unit.configuration.maxCompareAndWriteBlocks), bytes <= Self.maximumTransferBytes
    else {
      reject(ext, r, .invalidField(cdbByte: 13))
      return
    }
    guard Int(r.dataTransferLength) >= 2 * bytes, let buffer = r.dataBuffer else {
      reject(ext, r, .invalidField(cdbByte: 13))
      return
    }
    r.miniportContext = Self.fusedPending
    submitFused(ext, startIoQueue(ext, r), r, b, compare: buffer, write: buffer + bytes)
  }

  /// A fused Compare (of `compare`) + Write (of `write`) of `b`'s blocks: both halves in
  /// adjacent entries before one doorbell write (the controller takes them as a pair only then).
  private func submitFused(
    _ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest, _ b: BlockCommand,
    compare: UnsafeMutableRawPointer, write: UnsafeMutableRawPointer
  ) {
    let bytes = Int(b.blocks) * ext.blockSize
    submit(ext, r, on: q, commands: 2) { half, c, list in
      c.opcode = half == 0 ? NvmeOpcode.compare : NvmeOpcode.write
      c.fuse = half == 0 ? NvmeFuse.first : NvmeFuse.second
      Self.setPrps(&c, buffer: half == 0 ? compare : write, bytes: bytes, list: list)
      c.cdw10 = UInt32(truncatingIfNeeded: b.lba)
      c.cdw11 = UInt32(truncatingIfNeeded: b.lba >> 32)
      c.cdw12 = b.blocks - 1 | (b.fua ? 1 << 30 : 0)
    }
  }

  // MARK: - COMPARE AND WRITE miscompare: where

  static let cawLocate: UInt = 1 << 59

  /// After a COMPARE AND WRITE's Compare failed: a Read of its blocks into a bounce buffer, to
  /// find the first byte that differs from the verify instance. False when it cannot be sent
  /// (the miscompare is then reported without the offset).
  func locateMiscompare(_ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest) -> Bool {
    guard let b = BlockCommand.decode(r.cdb), b.blocks > 0 else { return false }
    let bytes = Int(b.blocks) * ext.blockSize
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 4096)
    ext.bounceBuffers.withLock { $0.updateValue(buffer, forKey: ObjectIdentifier(r)) }?.deallocate()
    r.miniportContext = Self.cawLocate
    submitRead(ext, q, r, b, into: buffer)
    return true
  }

  /// The miscompare's read ended with `read`: CHECK CONDITION, MISCOMPARE / MISCOMPARE DURING
  /// VERIFY OPERATION, with INFORMATION the offset of the first differing byte when the read
  /// worked and still differs (a write in between may have made them equal: no offset then).
  func completeMiscompare(_ ext: NvmeExtension, _ r: StorRequest, read: NvmeStatus) {
    var offset: UInt64? = nil
    if read.isSuccess, let b = BlockCommand.decode(r.cdb),
      let buffer = ext.bounceBuffers.withLock({ $0[ObjectIdentifier(r)] }), let verify = r.dataBuffer
    {
      let bytes = Int(b.blocks) * ext.blockSize
      offset = (0..<bytes).first {
        buffer.load(fromByteOffset: $0, as: UInt8.self) != verify.load(fromByteOffset: $0, as: UInt8.self)
      }
      .map { UInt64($0) }
    }
    releaseBounceBuffer(ext, r)
    r.miniportContext = 0
    r.apply(
      .check(SenseData(.miscompare, .miscompareDuringVerify, information: offset)),
      descriptorSense: ext.unit?.descriptorSense ?? false)
    ext.port.requestComplete(r)
  }

  // MARK: - ORWRITE: read, OR, compare-and-swap

  static let orWriteRead: UInt = 1 << 61
  static let orWriteSwap: UInt = 1 << 60
  /// Compare-and-swap rounds an ORWRITE tries before it goes back BUSY (the port retries it).
  static let orWriteAttempts: UInt = 64

  /// ORWRITE(16) (SBC-4 §5.21) without an OR command in NVMe: a Read of the range into the
  /// request's buffer, the OR of the data-out into its second half, then a fused Compare (the
  /// blocks still as read) + Write (the OR): a write of another request in between fails the
  /// compare and the round starts again — a compare-and-swap loop, atomic as ORWRITE requires.
  func orWrite(_ ext: NvmeExtension, _ unit: LogicalUnit, _ r: StorRequest, _ b: BlockCommand) {
    if answeredBeforeWriting(ext, unit, r, b) { return }
    let bytes = Int(b.blocks) * ext.blockSize
    guard bytes <= Self.maximumTransferBytes, Int(r.dataTransferLength) >= bytes, r.dataBuffer != nil else {
      reject(ext, r, .invalidField(cdbByte: b.lengthField))
      return
    }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 2 * bytes, alignment: 4096)
    ext.bounceBuffers.withLock { $0.updateValue(buffer, forKey: ObjectIdentifier(r)) }?.deallocate()
    readForOrWrite(ext, startIoQueue(ext, r), r, b, buffer, attempt: 0)
  }

  private func readForOrWrite(
    _ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest, _ b: BlockCommand,
    _ buffer: UnsafeMutableRawPointer, attempt: UInt
  ) {
    r.miniportContext = Self.orWriteRead | attempt << 32
    submitRead(ext, q, r, b, into: buffer)
  }

  /// A Read of `b`'s blocks into `buffer` (a bounce buffer of the request's), on `q`.
  private func submitRead(
    _ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest, _ b: BlockCommand,
    into buffer: UnsafeMutableRawPointer
  ) {
    submit(ext, r, on: q) { c, list in
      c.opcode = NvmeOpcode.read
      Self.setPrps(&c, buffer: buffer, bytes: Int(b.blocks) * ext.blockSize, list: list)
      c.cdw10 = UInt32(truncatingIfNeeded: b.lba)
      c.cdw11 = UInt32(truncatingIfNeeded: b.lba >> 32)
      c.cdw12 = b.blocks - 1
    }
  }

  /// After a command of an ORWRITE completed with `status`: submits the next step and returns
  /// true, or returns false with the status the request completes with (its buffer freed).
  func continueOrWrite(_ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest, _ status: inout NvmeStatus)
    -> Bool
  {
    let context = r.miniportContext
    let attempt = (context >> 32) & 0xFFFF
    guard let b = BlockCommand.decode(r.cdb), b.kind == .orWrite,
      let buffer = ext.bounceBuffers.withLock({ $0[ObjectIdentifier(r)] })
    else { return false }
    let bytes = Int(b.blocks) * ext.blockSize
    if context & Self.orWriteRead != 0 && status.isSuccess {
      let data = r.dataBuffer!
      for i in stride(from: 0, to: bytes, by: 8) {
        let old = (buffer + i).loadUnaligned(as: UInt64.self)
        (buffer + bytes + i).storeBytes(of: old | (data + i).loadUnaligned(as: UInt64.self), as: UInt64.self)
      }
      r.miniportContext = Self.fusedPending | Self.orWriteSwap | attempt << 32
      submitFused(ext, q, r, b, compare: buffer, write: buffer + bytes)
      return true
    }
    if context & Self.orWriteSwap != 0 && status == .compareFailure {
      if attempt + 1 < Self.orWriteAttempts {
        readForOrWrite(ext, q, r, b, buffer, attempt: attempt + 1)
        return true
      }
      status = .abortedByRequest  // BUSY: the port retries the whole ORWRITE
    }
    releaseBounceBuffer(ext, r)
    return false
  }

  /// Frees the ORWRITE buffer of `r`, if it has one (completion, or a reset's flush).
  func releaseBounceBuffer(_ ext: NvmeExtension, _ r: StorRequest) {
    ext.bounceBuffers.withLock { $0.removeValue(forKey: ObjectIdentifier(r)) }?.deallocate()
  }

  // MARK: - WRITE SAME of data: chunks, resumed after a reset

  static let writeSameChain: UInt = 1 << 62
  /// A WRITE SAME a controller reset sent back (BUSY, re-issued by the port): bits 0–31 the
  /// blocks its completed chunks wrote, bits 32–47 the request's submission count (low 16
  /// bits) — the re-issue resumes there instead of starting over, so a WRITE SAME makes
  /// progress under resets more frequent than the whole range takes. Keyed to the submission:
  /// a request reused for another command starts afresh.
  static let writeSameResume: UInt = 1 << 58

  /// What a request a controller reset sends back keeps for its re-issue: a WRITE SAME of data
  /// its completed chunks (the chunk in flight did not complete: it is written again — WRITE
  /// SAME is idempotent); anything else nothing.
  static func stateAfterReset(_ context: UInt, submissions: UInt32) -> UInt {
    guard context & writeSameChain != 0 else { return 0 }
    let through = UInt32(truncatingIfNeeded: context)
    let inFlight = UInt32(truncatingIfNeeded: context >> 32) & 0xFFFF
    assert(inFlight <= through, "NVMe sample: a WRITE SAME chunk larger than the blocks it reached")
    return writeSameResume | UInt(submissions & 0xFFFF) << 32 | UInt(through &- inFlight)
  }

  /// The blocks a re-issued WRITE SAME already wrote (``writeSameResume``), 0 for a fresh one.
  static func resumedWriteSameBlocks(_ context: UInt, submissions: UInt32) -> UInt32 {
    guard context & writeSameResume != 0,
      UInt32(truncatingIfNeeded: context >> 32) & 0xFFFF == submissions & 0xFFFF
    else { return 0 }
    return UInt32(truncatingIfNeeded: context)
  }

  /// WRITE SAME (10/16) of a block that is not all zeroes: the first chunk; the DPC submits
  /// the next as each completes (``continueWriteSame(_:_:_:)``).
  func writeSameOfData(_ ext: NvmeExtension, _ r: StorRequest, _ b: BlockCommand) {
    guard ext.blockSize <= 4096, Int(r.dataTransferLength) >= ext.blockSize, r.dataBuffer != nil else {
      reject(ext, r, .invalidField(cdbByte: b.lengthField))
      return
    }
    let resumed = Self.resumedWriteSameBlocks(r.miniportContext, submissions: r.submissions)
    guard resumed < b.blocks else {  // every chunk completed before the reset
      r.miniportContext = 0
      reject(ext, r, .good())
      return
    }
    r.miniportContext = Self.writeSameChain | UInt(resumed)
    submitWriteSameChunk(ext, startIoQueue(ext, r), r, b)
  }

  /// After a chunk completed: submits the next one; false when the range is written.
  func continueWriteSame(_ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest) -> Bool {
    guard let b = BlockCommand.decode(r.cdb)?.resolvingWriteSameToEnd(blockCount: ext.blockCount),
      b.kind == .writeSame
    else { return false }
    guard UInt32(truncatingIfNeeded: r.miniportContext) < b.blocks else { return false }
    submitWriteSameChunk(ext, q, r, b)
    return true
  }

  /// One Write of up to a transfer's worth of the range still to write, every PRP entry naming
  /// the slot's pattern page (the block repeated to fill it).
  private func submitWriteSameChunk(_ ext: NvmeExtension, _ q: NvmeQueue, _ r: StorRequest, _ b: BlockCommand)
  {
    let done = UInt32(truncatingIfNeeded: r.miniportContext)
    let perChunk = UInt32(Self.maximumTransferBytes / ext.blockSize)
    let blocks = min(b.blocks - done, perChunk)
    let lba = b.lba + UInt64(done)
    let block = r.dataBuffer!
    let blockSize = ext.blockSize
    r.miniportContext = Self.writeSameChain | UInt(blocks) << 32 | UInt(done + blocks)
    submit(ext, r, on: q) { c, list in
      let pattern = q.patternPages + (list - q.rangeLists)
      for copy in 0..<(4096 / blockSize) {
        (pattern + copy * blockSize).copyMemory(from: block, byteCount: blockSize)
      }
      let pages = (Int(blocks) * blockSize + 4095) / 4096
      let address = UInt64(UInt(bitPattern: pattern))
      c.opcode = NvmeOpcode.write
      c.prp1 = address
      if pages == 2 {
        c.prp2 = address
      } else if pages > 2 {
        for i in 0..<(pages - 1) { list.storeBytes(of: address, toByteOffset: i * 8, as: UInt64.self) }
        c.prp2 = UInt64(UInt(bitPattern: list))
      }
      c.cdw10 = UInt32(truncatingIfNeeded: lba)
      c.cdw11 = UInt32(truncatingIfNeeded: lba >> 32)
      c.cdw12 = blocks - 1
    }
  }
}
