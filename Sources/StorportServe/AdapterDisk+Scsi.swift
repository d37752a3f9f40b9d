import Storport

extension AdapterDisk {
  /// What a SCSI command returned: its status, its sense data (CHECK CONDITION), and for a
  /// read the bytes transferred.
  public struct ScsiOutcome: Sendable, Equatable {
    public var status: UInt8
    public var sense: [UInt8]
    public var data: [UInt8]
    /// Bytes the command would have moved beyond the buffer it was given (its allocation or
    /// transfer length exceeded the initiator's expected length): a residual overflow.
    public var overflow = 0
  }

  /// Runs one SCSI command on the adapter's LU as an initiator sent it: `dataOut` for a write,
  /// a buffer of `dataInLength` bytes for a read. READ/WRITE(10/12/16) larger than the
  /// miniport's MaximumTransferLength are split into pieces (the first failure's status and
  /// sense win). A request the port or miniport failed without a SCSI status comes back as
  /// CHECK CONDITION: ABORTED COMMAND.
  public func execute(
    cdb: [UInt8], dataOut: [UInt8], dataInLength: Int,
    completion: @escaping @Sendable (ScsiOutcome) -> Void
  ) {
    let isWrite = !dataOut.isEmpty
    let length = isWrite ? dataOut.count : dataInLength
    let buffer = isWrite ? Buffer(copying: dataOut) : Buffer(bytes: dataInLength)
    // Split only a transfer wholly inside the disk: anything else goes as sent, so the LU
    // answers it (LBA OUT OF RANGE, INVALID FIELD) exactly as for any initiator.
    if let block = Self.blockTransfer(cdb), length > maximumTransferBytes, block.blocks > 0,
      UInt64(length) >= UInt64(block.blocks) * UInt64(blockSize),
      block.lba <= blockCount, UInt64(block.blocks) <= blockCount - block.lba
    {
      split(block, fua: cdb[1] & 0x08 != 0, isWrite: isWrite, buffer: buffer, completion)
      return
    }
    let r = StorRequest()
    r.setCdb(cdb)
    r.direction = length == 0 ? .none : isWrite ? .dataOut : .dataIn
    r.dataBuffer = length == 0 ? nil : buffer.pointer
    r.dataTransferLength = UInt32(length)
    adapter.submit(r) { done in
      var outcome = Self.scsiOutcome(done)
      let transferred = min(Int(done.dataTransferLength), buffer.count)
      if !isWrite && outcome.status == 0 {
        outcome.data = Array(UnsafeRawBufferPointer(start: buffer.pointer, count: transferred))
      }
      outcome.overflow = max(0, done.residual - (length - transferred))
      completion(outcome)
    }
  }

  /// The LBA and block count of READ/WRITE(10/12/16), nil for any other command.
  static func blockTransfer(_ cdb: [UInt8]) -> (write: Bool, lba: UInt64, blocks: UInt32)? {
    func be(_ from: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 << 8 | UInt64(cdb[from + $1]) } }
    switch cdb[0] {
    case 0x28, 0x2A: return (cdb[0] == 0x2A, be(2, 4), UInt32(be(7, 2)))
    case 0xA8, 0xAA: return (cdb[0] == 0xAA, be(2, 4), UInt32(be(6, 4)))
    case 0x88, 0x8A: return (cdb[0] == 0x8A, be(2, 8), UInt32(be(10, 4)))
    default: return nil
    }
  }

  private func split(
    _ block: (write: Bool, lba: UInt64, blocks: UInt32), fua: Bool, isWrite: Bool, buffer: Buffer,
    _ completion: @escaping @Sendable (ScsiOutcome) -> Void
  ) {
    let perPiece = maximumTransferBytes / blockSize
    let pieces = (Int(block.blocks) + perPiece - 1) / perPiece
    let gather = Locked<(left: Int, failure: ScsiOutcome?)>((pieces, nil))
    for i in 0..<pieces {
      let first = i * perPiece
      let blocks = min(perPiece, Int(block.blocks) - first)
      var cdb = [UInt8](repeating: 0, count: 16)
      cdb[0] = isWrite ? 0x8A : 0x88
      if fua { cdb[1] = 0x08 }
      let lba = block.lba + UInt64(first)
      for k in 0..<8 { cdb[2 + k] = UInt8(truncatingIfNeeded: lba >> (56 - 8 * UInt64(k))) }
      for k in 0..<4 { cdb[10 + k] = UInt8(truncatingIfNeeded: UInt32(blocks) >> (24 - 8 * UInt32(k))) }
      let r = StorRequest()
      r.setCdb(cdb)
      r.direction = isWrite ? .dataOut : .dataIn
      r.dataBuffer = buffer.pointer + first * blockSize
      r.dataTransferLength = UInt32(blocks * blockSize)
      adapter.submit(r) { done in
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
          let data = isWrite ? [] : Array(UnsafeRawBufferPointer(start: buffer.pointer, count: buffer.count))
          completion(ScsiOutcome(status: 0, sense: [], data: data))
        }
      }
    }
  }

  static func scsiOutcome(_ r: StorRequest) -> ScsiOutcome {
    // SRB_STATUS_DATA_OVERRUN with GOOD: a short transfer (the data moved is what counts).
    if r.srbStatus == .success || r.srbStatus == .dataOverrunOrUnderrun {
      return ScsiOutcome(status: r.scsiStatus, sense: [], data: [])
    }
    if r.scsiStatus != 0 { return ScsiOutcome(status: r.scsiStatus, sense: r.sense, data: []) }
    // Failed without a SCSI status (aborted, timed out, the adapter stopped): ABORTED COMMAND.
    var sense = [UInt8](repeating: 0, count: 18)
    sense[0] = 0x70
    sense[2] = 0x0B
    sense[7] = 10
    return ScsiOutcome(status: 0x02, sense: sense, data: [])
  }
}
