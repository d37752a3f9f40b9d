import Storport

extension AdapterDisk {
  /// What a SCSI command returned: its status, its sense data (CHECK CONDITION), and for a
  /// read the bytes transferred.
  public struct ScsiOutcome: Sendable, Equatable {
    public var status: UInt8
    public var sense: [UInt8]
    /// A read's data, in the request's buffer.
    public var data: DataIn
    /// Bytes the command would have moved beyond the buffer it was given (its allocation or
    /// transfer length exceeded the initiator's expected length): a residual overflow.
    public var overflow = 0

    public init(status: UInt8, sense: [UInt8] = [], data: DataIn = DataIn(), overflow: Int = 0) {
      self.status = status
      self.sense = sense
      self.data = data
      self.overflow = overflow
    }
  }

  /// Whether `cdb` changes the medium: WRITE (6/10/12/16), WRITE AND VERIFY, WRITE SAME,
  /// UNMAP, COMPARE AND WRITE, ORWRITE, WRITE ATOMIC, FORMAT UNIT, SANITIZE.
  static func changesMedium(_ cdb: [UInt8]) -> Bool {
    guard let opcode = cdb.first else { return false }
    return [0x0A, 0x2A, 0xAA, 0x8A, 0x2E, 0xAE, 0x8E, 0x41, 0x93, 0x42, 0x89, 0x8B, 0x9C, 0x04, 0x48]
      .contains(opcode)
  }

  /// Whether `cdb` takes Data-Out: a block command that writes (``BlockCdb/hasDataOut``),
  /// COMPARE AND WRITE, UNMAP, MODE SELECT(6/10), PERSISTENT RESERVE OUT, WRITE BUFFER,
  /// EXTENDED COPY, SEND DIAGNOSTIC, FORMAT UNIT, REASSIGN BLOCKS, WRITE LONG(10/16), SANITIZE,
  /// LOG SELECT, MAINTENANCE OUT or SECURITY PROTOCOL OUT.
  /// `block`: the CDB's ``BlockCdb``, when the caller has parsed it (nil: not a block command).
  static func takesDataOut(_ cdb: [UInt8], block: BlockCdb?) -> Bool {
    if let block { return block.hasDataOut }
    guard let opcode = cdb.first else { return false }
    if opcode == 0x9F { return cdb.count > 1 && cdb[1] & 0x1F == 0x11 }  // WRITE LONG(16)
    return [0x89, 0x42, 0x15, 0x55, 0x5F, 0x3B, 0x83, 0x1D, 0x04, 0x07, 0x3F, 0x48, 0x4C, 0xA4, 0xB5]
      .contains(opcode)
  }

  /// Runs one SCSI command on the adapter's LU as an initiator sent it: `dataOut` for a write,
  /// a buffer of `dataInLength` bytes for a read. READ, WRITE, VERIFY and WRITE AND VERIFY
  /// naming more blocks than the miniport's MaximumTransferLength are split into pieces of the
  /// same command (every flag kept; the first failure's status and sense win), when the whole
  /// range lies inside the disk — otherwise the command goes as sent and the LU answers it. A
  /// request the port or miniport failed without a SCSI status comes back as CHECK CONDITION:
  /// ABORTED COMMAND. The fields of the answer that describe the target rather than the
  /// miniport are the target's (``TargetOwnedField``).
  public func execute(
    cdb: [UInt8], dataOut: [UInt8], dataInLength: Int,
    completion: @escaping @Sendable (ScsiOutcome) -> Void
  ) {
    let isWrite = !dataOut.isEmpty
    let length = isWrite ? dataOut.count : dataInLength
    guard length <= Int(UInt32.max) else {
      completion(ScsiOutcome(status: 0x02, sense: TargetSense.bytes(0x05, 0x24, 0x00)))
      return
    }
    // COMPARE AND WRITE moves exactly 2 × NUMBER OF LOGICAL BLOCKS blocks (verify, then write
    // instance): with any other Data-Out length there is no whole pair to compare and write, so
    // it is refused (INVALID FIELD IN CDB) as a Linux LIO target refuses a write data CDB whose
    // expected length differs from the CDB's, rather than executed on a residual.
    if cdb.count >= 16, cdb[0] == 0x89, length != 2 * Int(cdb[13]) * blockSize {
      completion(ScsiOutcome(status: 0x02, sense: TargetSense.bytes(0x05, 0x24, 0x00)))
      return
    }
    let buffer = isWrite ? DataBuffer(copying: dataOut) : DataBuffer(bytes: dataInLength)
    if isWrite, cdb.first == 0x15 || cdb.first == 0x55, let refused = admitModeSelect(cdb, in: buffer) {
      completion(refused)
      return
    }
    // WRITE SAME moves one block whatever it names: the LU's MAXIMUM WRITE SAME LENGTH, not
    // the transfer limit, bounds it — so it goes whole, and a range too long is the LU's to refuse.
    if let block = BlockCdb(cdb), block.blocks > 0, block.canSplit, block.kind != .writeSame,
      UInt64(block.blocks) * UInt64(blockSize) > UInt64(maximumTransferBytes),
      length == block.dataBytes(blockSize: blockSize),
      block.lba <= blockCount, UInt64(block.blocks) <= blockCount - block.lba
    {
      split(block, length: length, isWrite: isWrite, buffer: buffer, completion)
      return
    }
    let owned = isWrite ? nil : TargetOwnedField(cdb)
    let r = StorRequest()
    r.setCdb(cdb)
    r.direction = length == 0 ? .none : isWrite ? .dataOut : .dataIn
    r.dataBuffer = length == 0 ? nil : buffer.pointer
    r.dataTransferLength = UInt32(length)
    // The hot path: the request's end is counted in its own completion closure (one closure
    // per command, not one wrapping another).
    let epoch = drain.withLockedValue { $0.begin() }
    handToAdapter(r) { [self] done in
      ended(epoch) {
        var outcome = Self.scsiOutcome(done)
        let transferred = min(Int(done.dataTransferLength), buffer.count)
        if !isWrite && outcome.status == 0 {
          if let owned { rewrite(owned, in: buffer, count: transferred) }
          outcome.data = DataIn(buffer, count: transferred)
        }
        outcome.overflow = max(0, done.residual - (length - transferred))
        completion(outcome)
      }
    }
  }

  private func split(
    _ block: BlockCdb, length: Int, isWrite: Bool, buffer: DataBuffer,
    _ completion: @escaping @Sendable (ScsiOutcome) -> Void
  ) {
    // A 6-byte command's pieces stay within its 256-block field.
    let perPiece = max(1, maximumTransferBytes / blockSize)
    let pieces = (Int(block.blocks) + perPiece - 1) / perPiece
    let gather = Locked<(left: Int, failure: ScsiOutcome?)>((pieces, nil))
    for i in 0..<pieces {
      let first = i * perPiece
      let blocks = min(perPiece, Int(block.blocks) - first)
      let r = StorRequest()
      r.setCdb(block.piece(lba: block.lba + UInt64(first), count: UInt32(blocks)))
      if length > 0 {
        r.direction = isWrite ? .dataOut : .dataIn
        r.dataBuffer = buffer.pointer + first * blockSize
        r.dataTransferLength = UInt32(blocks * blockSize)
      } else {
        r.direction = .none
      }
      submit(r) { done in
        let outcome = Self.scsiOutcome(done)
        let finished = gather.withLock { g -> ScsiOutcome?? in
          if outcome.status != 0 && g.failure == nil { g.failure = outcome }
          g.left -= 1
          return g.left == 0 ? .some(g.failure) : nil
        }
        guard let finished else { return }
        if let failure = finished {
          completion(failure)
        } else {
          let data =
            isWrite || length == 0
            ? DataIn() : DataIn(buffer, count: buffer.count)
          completion(ScsiOutcome(status: 0, data: data))
        }
      }
    }
  }

  /// A write-family command whose initiator sent fewer bytes than its CDB names (`data`
  /// shorter than its blocks): the whole blocks in `data` are written with the same command
  /// (a VERIFY compares them). A last partial block is refused — CHECK CONDITION, INVALID FIELD
  /// IN INFORMATION UNIT, nothing written — rather than read, overlaid and written back, which
  /// could undo another client's acknowledged write to that block. A range past the disk is
  /// LBA OUT OF RANGE. Nothing is allocated from the CDB's block count.
  func truncatedWrite(
    _ block: BlockCdb, data: [UInt8], completion: @escaping @Sendable (ScsiOutcome) -> Void
  ) {
    // The range the CDB names must lie on the disk, not only the part the data covers (SBC:
    // LBA OUT OF RANGE is judged on the command).
    guard block.lba <= blockCount, UInt64(block.blocks) <= blockCount - block.lba else {
      completion(ScsiOutcome(status: 0x02, sense: TargetSense.bytes(0x05, 0x21, 0x00)))
      return
    }
    let whole = data.count / blockSize
    guard data.count % blockSize == 0 else {
      completion(ScsiOutcome(status: 0x02, sense: TargetSense.bytes(0x05, 0x0E, 0x03)))
      return
    }
    guard whole > 0 else {
      completion(ScsiOutcome(status: 0))
      return
    }
    execute(
      cdb: block.piece(lba: block.lba, count: UInt32(whole)), dataOut: data, dataInLength: 0,
      completion: completion)
  }

  /// A READ whose initiator expects fewer bytes than its CDB names: the blocks the first `bytes`
  /// cover — at least one, so the LU still judges the command (a stopped unit, a protection
  /// field, a medium error) — are read with the same command (every flag kept), and nothing is
  /// allocated from the CDB's block count. A range past the disk is LBA OUT OF RANGE with the
  /// LBA as INFORMATION, as the LU answers the whole command (fixed format).
  func truncatedRead(
    _ block: BlockCdb, bytes: Int, completion: @escaping @Sendable (ScsiOutcome) -> Void
  ) {
    precondition(block.kind == .read, "bug in swift-storport: a truncated read of a \(block.kind)")
    guard block.lba < blockCount, UInt64(block.blocks) <= blockCount - block.lba else {
      var sense = TargetSense.bytes(0x05, 0x21, 0x00)
      if block.lba <= UInt64(UInt32.max) {
        sense[0] |= 0x80  // VALID: INFORMATION holds the LBA
        for k in 0..<4 { sense[3 + k] = UInt8(truncatingIfNeeded: block.lba >> (24 - 8 * UInt64(k))) }
      }
      completion(ScsiOutcome(status: 0x02, sense: sense))
      return
    }
    let blocks = min(Int(block.blocks), max(1, (bytes + blockSize - 1) / blockSize))
    execute(
      cdb: block.piece(lba: block.lba, count: UInt32(blocks)), dataOut: [], dataInLength: blocks * blockSize,
      completion: completion)
  }

  static func scsiOutcome(_ r: StorRequest) -> ScsiOutcome {
    // SRB_STATUS_DATA_OVERRUN with GOOD: a short transfer (the data moved is what counts).
    if r.srbStatus == .success || r.srbStatus == .dataOverrunOrUnderrun {
      return ScsiOutcome(status: r.scsiStatus)
    }
    if r.scsiStatus != 0 { return ScsiOutcome(status: r.scsiStatus, sense: r.sense) }
    // Busy for its whole timeout (the port stopped re-issuing it): SCSI BUSY, which an
    // initiator retries later.
    if r.srbStatus == .busy { return ScsiOutcome(status: 0x08) }
    // Failed without a SCSI status (aborted, timed out, the adapter stopped): ABORTED COMMAND.
    var sense = [UInt8](repeating: 0, count: 18)
    sense[0] = 0x70
    sense[2] = 0x0B
    sense[7] = 10
    return ScsiOutcome(status: 0x02, sense: sense)
  }
}
