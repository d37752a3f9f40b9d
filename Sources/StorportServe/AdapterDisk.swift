import NIOConcurrencyHelpers
import Storport

#if canImport(Glibc)
  import Glibc
#endif

/// A disk as a network front end sees it: byte ranges in whole logical blocks, served by SCSI
/// commands through an adapter — BuildIo → StartIo → device → interrupt → DPC → completion — so
/// every request a client sends meets the miniport, the port's rules and the verifier.
///
/// Thread-safe: any thread may submit; completions run on the adapter's processors.
public final class AdapterDisk: @unchecked Sendable {
  public let adapter: Adapter
  /// Logical block size in bytes.
  public let blockSize: Int
  /// Capacity in logical blocks.
  public let blockCount: UInt64
  /// The largest transfer one request may carry (the miniport's MaximumTransferLength).
  public let maximumTransferBytes: Int
  /// The largest transfer one SCSI command may ask for (READ, WRITE, VERIFY and WRITE AND
  /// VERIFY above ``maximumTransferBytes`` are split into requests of at most that): the
  /// MAXIMUM TRANSFER LENGTH the Block Limits page gives initiators, in bytes: the iSCSI
  /// front end's bound on one command's data (the SCSI commands come only through it).
  public static let largestCommandBytes = ISCSIConnection.maximumTransferBytes
  /// The logical unit's reservations (RESERVE / RELEASE and persistent), shared by every front
  /// end and connection that serves this disk.
  public let reservations = Reservations()
  /// The disk is exported read-only (`--readonly`): a command that would change the medium is
  /// refused with DATA PROTECT before anything else is checked (SBC-4 §4.16).
  public var readOnly = false
  /// Whether requests are handed to the adapter on a parked processor lent to the front end's
  /// thread (``Adapter/submitting(preferring:_:)``; default true). Off for a disk whose device
  /// may block in a request — a file backing, whose reads, writes and flushes the NVMe model
  /// does at the doorbell — since the front end's thread is the event loop of every
  /// connection it serves.
  public var lendsProcessors = true
  /// Requests in the adapter by reset epoch (AdapterDisk+Drain.swift).
  let drain = NIOLockedValueBox(DrainState())

  public init(adapter: Adapter, blockSize: Int, blockCount: UInt64) {
    self.adapter = adapter
    self.blockSize = blockSize
    self.blockCount = blockCount
    let m = Int(adapter.configuration.maximumTransferLength)
    maximumTransferBytes =
      m >= blockSize ? m - m % blockSize : m == 0 ? max(blockSize, 128 * 1024) : blockSize
  }

  public var sizeBytes: UInt64 { blockCount * UInt64(blockSize) }

  /// How a request ended: success, or the SRB status and sense key for the log.
  public enum Outcome: Sendable, Equatable {
    case success
    case failed(String)
  }

  /// Reads `length` bytes at `offset` (whole blocks, within the disk) into a fresh buffer,
  /// split into transfers the miniport accepts; `completion` gets the bytes (none on a failure),
  /// still in that buffer.
  public func read(offset: UInt64, length: Int, completion: @escaping @Sendable (Outcome, DataIn) -> Void) {
    let buffer = DataBuffer(bytes: length)
    transfer(write: false, offset: offset, buffer: buffer, fua: false) { outcome in
      completion(outcome, outcome == .success ? DataIn(buffer, count: buffer.count) : DataIn())
    }
  }

  /// Writes `data` at `offset` (whole blocks, within the disk); FUA: written through before
  /// the completion.
  public func write(
    offset: UInt64, data: [UInt8], fua: Bool, completion: @escaping @Sendable (Outcome) -> Void
  ) {
    let buffer = DataBuffer(copying: data)
    transfer(write: true, offset: offset, buffer: buffer, fua: fua, completion)
  }

  /// Writes zeroes (a buffer of zeroes through the same path: what the miniport sees is a
  /// WRITE).
  ///
  /// One buffer of zeroes (at most MaximumTransferLength) serves every piece, and the pieces go
  /// one after another: a zero-out of gigabytes costs neither gigabytes of memory nor a burst of
  /// requests.
  public func writeZeroes(
    offset: UInt64, length: Int, fua: Bool, completion: @escaping @Sendable (Outcome) -> Void
  ) {
    let zeroes = DataBuffer(bytes: min(length, maximumTransferBytes))
    writeZeroes(offset: offset, left: length, fua: fua, zeroes: zeroes, completion)
  }

  private func writeZeroes(
    offset: UInt64, left: Int, fua: Bool, zeroes: DataBuffer,
    _ completion: @escaping @Sendable (Outcome) -> Void
  ) {
    guard left > 0 else {
      completion(.success)
      return
    }
    let bytes = min(left, zeroes.count)
    let r = StorRequest()
    r.setCdb(
      Self.cdb16(write: true, lba: offset / UInt64(blockSize), blocks: UInt32(bytes / blockSize), fua: fua))
    r.direction = .dataOut
    r.dataBuffer = zeroes.pointer
    r.dataTransferLength = UInt32(bytes)
    submit(r) { done in
      let outcome = Self.outcome(done)
      guard outcome == .success else { return completion(outcome) }
      self.writeZeroes(
        offset: offset + UInt64(bytes), left: left - bytes, fua: fua, zeroes: zeroes, completion)
    }
  }

  /// READ(16) or WRITE(16) of `blocks` at `lba`, FUA when asked.
  static func cdb16(write: Bool, lba: UInt64, blocks: UInt32, fua: Bool) -> [UInt8] {
    var cdb = [UInt8](repeating: 0, count: 16)
    cdb[0] = write ? 0x8A : 0x88
    if fua { cdb[1] = 0x08 }
    for k in 0..<8 { cdb[2 + k] = UInt8(truncatingIfNeeded: lba >> (56 - 8 * UInt64(k))) }
    for k in 0..<4 { cdb[10 + k] = UInt8(truncatingIfNeeded: blocks >> (24 - 8 * UInt32(k))) }
    return cdb
  }

  /// SYNCHRONIZE CACHE(16) of the whole disk.
  public func flush(completion: @escaping @Sendable (Outcome) -> Void) {
    let r = StorRequest()
    var cdb = [UInt8](repeating: 0, count: 16)
    cdb[0] = 0x91
    r.setCdb(cdb)
    r.direction = .none
    r.dataTransferLength = 0
    submit(r) { done in completion(Self.outcome(done)) }
  }

  // MARK: - Transfers

  private func transfer(
    write: Bool, offset: UInt64, buffer: DataBuffer, fua: Bool,
    _ completion: @escaping @Sendable (Outcome) -> Void
  ) {
    let total = buffer.count
    guard total > 0 else {
      completion(.success)
      return
    }
    let pieces = (total + maximumTransferBytes - 1) / maximumTransferBytes
    // One piece (the common request): its own completion finishes it — no gathering state.
    let state = pieces > 1 ? Pieces(count: pieces) : nil
    for i in 0..<pieces {
      let start = i * maximumTransferBytes
      let bytes = min(maximumTransferBytes, total - start)
      let r = StorRequest()
      r.setCdb(
        Self.cdb16(
          write: write, lba: (offset + UInt64(start)) / UInt64(blockSize), blocks: UInt32(bytes / blockSize),
          fua: fua))
      r.direction = write ? .dataOut : .dataIn
      r.dataBuffer = buffer.pointer + start
      r.dataTransferLength = UInt32(bytes)
      let epoch = drain.withLockedValue { $0.begin() }
      handToAdapter(r) { [self] done in
        ended(epoch) {
          // The buffer lives until the last piece is back.
          _ = buffer
          guard let state else { return completion(Self.outcome(done)) }
          if let outcome = state.finish(Self.outcome(done)) { completion(outcome) }
        }
      }
    }
  }

  /// Gathers the outcomes of a request's pieces: the first failure wins.
  final class Pieces: @unchecked Sendable {
    private let lock = Locked<(left: Int, failure: Outcome?)>((0, nil))
    init(count: Int) { lock.withLock { $0.left = count } }
    func finish(_ o: Outcome) -> Outcome? {
      lock.withLock { s -> Outcome? in
        if o != .success && s.failure == nil { s.failure = o }
        s.left -= 1
        return s.left == 0 ? (s.failure ?? .success) : nil
      }
    }
  }

  static func outcome(_ r: StorRequest) -> Outcome {
    if r.srbStatus == .success && r.scsiStatus == 0 { return .success }
    return .failed("\(r.srbStatus), SCSI status 0x\(String(r.scsiStatus, radix: 16))")
  }
}
