/// The LBA and transfer-length fields of the SBC commands that address a range of blocks —
/// READ, WRITE, VERIFY and WRITE AND VERIFY in their 6-, 10-, 12- and 16-byte forms, WRITE
/// SAME(10/16), and ORWRITE(16) and WRITE ATOMIC(16) (writes that are never split) — read from a
/// CDB and written back into a copy of it. A front end uses it to split a transfer larger than
/// the miniport accepts into pieces of the same command (every flag kept), and to know how
/// many bytes the command itself moves (SPDTL) against what the initiator expects (EDTL).
struct BlockCdb: Sendable, Equatable {
  enum Kind: Sendable, Equatable {
    case read
    case write
    /// VERIFY: data out only with BYTCHK = 01b (a block per block compared).
    case verify
    case writeAndVerify
    /// WRITE SAME: one block of data out (none with NDOB) written to every block of the range.
    case writeSame
  }

  let kind: Kind
  let cdb: [UInt8]
  let lba: UInt64
  /// Blocks the command names (READ/WRITE(6): 0 means 256).
  let blocks: UInt32
  private let lbaAt: Int
  private let lbaBytes: Int
  private let lengthAt: Int
  private let lengthBytes: Int

  init?(_ cdb: [UInt8]) {
    guard cdb.count >= 16 else { return nil }
    func be(_ from: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 << 8 | UInt64(cdb[from + $1]) } }
    let layout: (Kind, Int, Int, Int, Int)
    switch cdb[0] {
    case 0x08: layout = (.read, 1, 3, 4, 1)
    case 0x0A: layout = (.write, 1, 3, 4, 1)
    case 0x28: layout = (.read, 2, 4, 7, 2)
    case 0x2A: layout = (.write, 2, 4, 7, 2)
    case 0x2E: layout = (.writeAndVerify, 2, 4, 7, 2)
    case 0x2F: layout = (.verify, 2, 4, 7, 2)
    case 0xA8: layout = (.read, 2, 4, 6, 4)
    case 0xAA: layout = (.write, 2, 4, 6, 4)
    case 0xAE: layout = (.writeAndVerify, 2, 4, 6, 4)
    case 0xAF: layout = (.verify, 2, 4, 6, 4)
    case 0x88: layout = (.read, 2, 8, 10, 4)
    case 0x8A: layout = (.write, 2, 8, 10, 4)
    case 0x8E: layout = (.writeAndVerify, 2, 8, 10, 4)
    case 0x8B: layout = (.write, 2, 8, 10, 4)  // ORWRITE(16)
    case 0x9C: layout = (.write, 2, 8, 12, 2)  // WRITE ATOMIC(16)
    case 0x8F: layout = (.verify, 2, 8, 10, 4)
    case 0x41: layout = (.writeSame, 2, 4, 7, 2)
    case 0x93: layout = (.writeSame, 2, 8, 10, 4)
    default: return nil
    }
    (kind, lbaAt, lbaBytes, lengthAt, lengthBytes) = layout
    self.cdb = cdb
    if lbaBytes == 3 {
      lba = be(1, 3) & 0x1F_FFFF
      let n = UInt32(cdb[4])
      blocks = n == 0 ? 256 : n
    } else {
      lba = be(lbaAt, lbaBytes)
      blocks = UInt32(be(lengthAt, lengthBytes))
    }
  }

  /// Whether the command carries data out: writes, and VERIFY with BYTCHK = 01b.
  var hasDataOut: Bool {
    switch kind {
    case .read: return false
    case .write, .writeAndVerify: return true
    case .verify: return (cdb[1] >> 1) & 0x03 == 0x01
    case .writeSame: return !(cdb[0] == 0x93 && cdb[1] & 0x01 != 0)  // NDOB: no data out
    }
  }

  /// Whether its pieces can be written in the same form (a 6-byte command's LBA field has 21
  /// bits; its range may end past them).
  var canSplit: Bool { !isAtomic && (lbaBytes != 3 || lba + UInt64(blocks) <= 0x20_0000) }

  /// ORWRITE and WRITE ATOMIC: done whole or not at all, so never split and never cut short.
  var isAtomic: Bool { cdb[0] == 0x8B || cdb[0] == 0x9C }

  /// Whether it moves data at all (a VERIFY without BYTCHK does not).
  var movesData: Bool { kind == .read || hasDataOut }

  /// Bytes the command moves (SPDTL) at `blockSize`.
  func dataBytes(blockSize: Int) -> Int {
    guard movesData else { return 0 }
    return kind == .writeSame ? blockSize : Int(blocks) * blockSize
  }

  /// The same command for `count` blocks at `lba` (6-byte forms: at most 256 blocks, LBA at
  /// most 21 bits — callers split only inside the disk).
  func piece(lba: UInt64, count: UInt32) -> [UInt8] {
    var c = cdb
    if lbaBytes == 3 {
      precondition(count >= 1 && count <= 256 && lba <= 0x1F_FFFF, "bug in swift-storport: a 6-byte piece")
      c[1] = (c[1] & 0xE0) | UInt8(lba >> 16)
      c[2] = UInt8(truncatingIfNeeded: lba >> 8)
      c[3] = UInt8(truncatingIfNeeded: lba)
      c[4] = UInt8(truncatingIfNeeded: count)  // 256 → 0
      return c
    }
    for k in 0..<lbaBytes {
      c[lbaAt + k] = UInt8(truncatingIfNeeded: lba >> (8 * UInt64(lbaBytes - 1 - k)))
    }
    for k in 0..<lengthBytes {
      c[lengthAt + k] = UInt8(truncatingIfNeeded: count >> (8 * UInt32(lengthBytes - 1 - k)))
    }
    return c
  }
}
