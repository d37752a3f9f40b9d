/// A CDB (6 to 16 bytes, 32 allowed) stored inline — no allocation per command — with
/// big-endian field accessors. Bytes past `count` read as 0.
public struct Cdb: Sendable, Equatable {
  private var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  public private(set) var count: Int

  public init(_ bytes: [UInt8]) {
    count = min(bytes.count, 32)
    withUnsafeMutableBytes(of: &storage) { raw in
      for i in 0..<count { raw[i] = bytes[i] }
    }
  }

  /// From inline words (an SRB's CDB storage): no allocation.
  public init(words: (UInt64, UInt64, UInt64, UInt64), count: Int) {
    storage = words
    self.count = min(count, 32)
  }

  public static func == (a: Cdb, b: Cdb) -> Bool { a.bytes == b.bytes }

  @inline(__always) public subscript(_ i: Int) -> UInt8 {
    guard i >= 0 && i < count else { return 0 }
    return withUnsafeBytes(of: storage) { $0[i] }
  }
  public var opcode: UInt8 { self[0] }
  public var bytes: [UInt8] { (0..<count).map { self[$0] } }

  public func be16(_ at: Int) -> UInt16 { UInt16(self[at]) << 8 | UInt16(self[at + 1]) }
  public func be24(_ at: Int) -> UInt32 {
    UInt32(self[at]) << 16 | UInt32(self[at + 1]) << 8 | UInt32(self[at + 2])
  }
  public func be32(_ at: Int) -> UInt32 { UInt32(be16(at)) << 16 | UInt32(be16(at + 2)) }
  public func be64(_ at: Int) -> UInt64 { UInt64(be32(at)) << 32 | UInt64(be32(at + 4)) }

  /// The CDB length an opcode's group implies (SPC-4 4.2.5.1), nil for vendor groups.
  public static func length(forOpcode op: UInt8) -> Int? {
    switch op >> 5 {
    case 0: return 6
    case 1, 2: return 10
    case 4: return 16
    case 5: return 12
    case 3: return op == 0x7F ? 32 : nil
    default: return nil
    }
  }
}

/// A READ / WRITE / WRITE ATOMIC / VERIFY / WRITE AND VERIFY / COMPARE AND WRITE / WRITE SAME /
/// PRE-FETCH / SYNCHRONIZE CACHE CDB, decoded: the fields a miniport needs to translate it (e.g. to NVMe).
public struct BlockCommand: Sendable, Equatable {
  public enum Kind: Sendable, Equatable {
    case read, write, verify, writeAndVerify, compareAndWrite, writeSame, prefetch, synchronizeCache
    /// ORWRITE(16): each block becomes its old contents OR the data-out, atomically.
    case orWrite
  }
  public var kind: Kind
  public var lba: UInt64
  /// Blocks (READ(6)'s 0 already means 256).
  public var blocks: UInt32
  public var fua: Bool
  public var dpo: Bool
  /// RDPROTECT / WRPROTECT / VRPROTECT (bits 7-5 of byte 1).
  public var protect: UInt8
  /// VERIFY / WRITE AND VERIFY byte check (BYTCHK).
  public var byteCheck: UInt8
  /// WRITE SAME UNMAP / ANCHOR / NDOB.
  public var unmap: Bool
  public var anchor: Bool
  public var noDataOutBuffer: Bool
  /// WRITE ATOMIC(16) (kind `.write`): the write must be done whole or not at all, no other
  /// command seeing part of it (SBC-4 §4.29); with its ATOMIC BOUNDARY field.
  public var atomic = false
  public var atomicBoundary: UInt16 = 0
  /// Byte of the transfer-length field (for field pointers).
  public var lengthField: Int
  /// Byte of the LBA field.
  public var lbaField: Int

  /// WRITE SAME whose NUMBER OF LOGICAL BLOCKS is 0 (the Block Limits VPD page's WSNZ is 0):
  /// every block from its LBA to the end of a medium of `blockCount` blocks (SBC-4, WRITE SAME
  /// (10) / (16)); any other command as it is. Past the end there is nothing to resolve (the
  /// range check refuses it: LBA OUT OF RANGE); a count beyond 32 bits saturates (more than any
  /// MAXIMUM WRITE SAME LENGTH: refused as INVALID FIELD IN CDB).
  public func resolvingWriteSameToEnd(blockCount: UInt64) -> BlockCommand {
    guard kind == .writeSame, blocks == 0, lba < blockCount else { return self }
    var b = self
    b.blocks = UInt32(clamping: blockCount - lba)
    return b
  }

  /// Decodes `cdb` if it is one of the block commands; nil otherwise.
  public static func decode(_ c: Cdb) -> BlockCommand? {
    func make(_ k: Kind, lba: UInt64, blocks: UInt32, lbaAt: Int, lenAt: Int, flags: Bool = true)
      -> BlockCommand
    {
      BlockCommand(
        kind: k, lba: lba, blocks: blocks, fua: flags && c[1] & 0x08 != 0, dpo: flags && c[1] & 0x10 != 0,
        protect: flags ? c[1] >> 5 : 0, byteCheck: (c[1] >> 1) & 3, unmap: false, anchor: false,
        noDataOutBuffer: false, lengthField: lenAt, lbaField: lbaAt)
    }
    switch c.opcode {
    case 0x08, 0x0A:  // READ(6) / WRITE(6)
      let lba = UInt64(c[1] & 0x1F) << 16 | UInt64(c.be16(2))
      let n = c[4] == 0 ? 256 : UInt32(c[4])
      return make(c.opcode == 0x08 ? .read : .write, lba: lba, blocks: n, lbaAt: 1, lenAt: 4, flags: false)
    case 0x28: return make(.read, lba: UInt64(c.be32(2)), blocks: UInt32(c.be16(7)), lbaAt: 2, lenAt: 7)
    case 0x2A: return make(.write, lba: UInt64(c.be32(2)), blocks: UInt32(c.be16(7)), lbaAt: 2, lenAt: 7)
    case 0x2E:
      return make(.writeAndVerify, lba: UInt64(c.be32(2)), blocks: UInt32(c.be16(7)), lbaAt: 2, lenAt: 7)
    case 0x2F: return make(.verify, lba: UInt64(c.be32(2)), blocks: UInt32(c.be16(7)), lbaAt: 2, lenAt: 7)
    case 0xA8: return make(.read, lba: UInt64(c.be32(2)), blocks: c.be32(6), lbaAt: 2, lenAt: 6)
    case 0xAA: return make(.write, lba: UInt64(c.be32(2)), blocks: c.be32(6), lbaAt: 2, lenAt: 6)
    case 0xAE: return make(.writeAndVerify, lba: UInt64(c.be32(2)), blocks: c.be32(6), lbaAt: 2, lenAt: 6)
    case 0xAF: return make(.verify, lba: UInt64(c.be32(2)), blocks: c.be32(6), lbaAt: 2, lenAt: 6)
    case 0x88: return make(.read, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10)
    case 0x8A: return make(.write, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10)
    case 0x8E: return make(.writeAndVerify, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10)
    case 0x8F: return make(.verify, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10)
    case 0x9C:  // WRITE ATOMIC(16): 16-bit TRANSFER LENGTH at byte 12
      var b = make(.write, lba: c.be64(2), blocks: UInt32(c.be16(12)), lbaAt: 2, lenAt: 12)
      b.atomic = true
      b.atomicBoundary = c.be16(10)
      return b
    case 0x8B: return make(.orWrite, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10)
    case 0x89: return make(.compareAndWrite, lba: c.be64(2), blocks: UInt32(c[13]), lbaAt: 2, lenAt: 13)
    case 0x41, 0x93:
      let sixteen = c.opcode == 0x93
      var b = make(
        .writeSame, lba: sixteen ? c.be64(2) : UInt64(c.be32(2)),
        blocks: sixteen ? c.be32(10) : UInt32(c.be16(7)), lbaAt: 2, lenAt: sixteen ? 10 : 7)
      b.fua = false
      b.dpo = false
      b.unmap = c[1] & 0x08 != 0
      b.anchor = c[1] & 0x10 != 0
      b.noDataOutBuffer = sixteen && c[1] & 0x01 != 0
      return b
    case 0x34:
      return make(
        .prefetch, lba: UInt64(c.be32(2)), blocks: UInt32(c.be16(7)), lbaAt: 2, lenAt: 7, flags: false)
    case 0x90: return make(.prefetch, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10, flags: false)
    case 0x35:
      return make(
        .synchronizeCache, lba: UInt64(c.be32(2)), blocks: UInt32(c.be16(7)), lbaAt: 2, lenAt: 7, flags: false
      )
    case 0x91:
      return make(.synchronizeCache, lba: c.be64(2), blocks: c.be32(10), lbaAt: 2, lenAt: 10, flags: false)
    default: return nil
    }
  }
}
