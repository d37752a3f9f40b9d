import StorportDevices

/// The 32-byte header at the start of every unit (`--bs` bytes) that a `--verify crc32c` run
/// writes, so that this run and any later one can tell whether the unit still holds what was
/// written there. The format is documented in `docs/verify-format.md`; all fields are
/// little-endian:
///
/// | offset | size | field |
/// |---|---|---|
/// | 0 | 4 | magic `SPVB` (0x42565053) |
/// | 4 | 2 | format version (1) |
/// | 6 | 2 | header length (32) |
/// | 8 | 8 | LBA of the unit's first logical block |
/// | 16 | 4 | unit length in bytes, header included |
/// | 20 | 4 | generation: 1 for the first write of the unit, +1 per write |
/// | 24 | 4 | payload seed (low 32 bits of the writing run's `--seed`) |
/// | 28 | 4 | CRC-32C of bytes 0..<28, then of the payload (bytes 32..<length) |
///
/// The payload is a pseudo-random stream that is a function of (LBA, generation, seed), so a
/// damaged unit can be compared with what it should hold byte by byte.
public enum VerifyHeader {
  public static let size = 32
  public static let magic: UInt32 = 0x4256_5053
  public static let version: UInt16 = 1

  /// Fills a unit: payload, then the header with its checksum.
  public static func write(
    into buffer: UnsafeMutableRawPointer, bytes: Int, lba: UInt64, generation: UInt32, seed: UInt32
  ) {
    precondition(bytes >= size * 2 && bytes % 8 == 0, "bug in swift-storport: verify unit of \(bytes) bytes")
    let words = (buffer + size).assumingMemoryBound(to: UInt64.self)
    let base = payloadBase(lba, generation, seed)
    for i in 0..<((bytes - size) / 8) { words[i] = payloadWord(base, i).littleEndian }
    buffer.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
    buffer.storeBytes(of: version.littleEndian, toByteOffset: 4, as: UInt16.self)
    buffer.storeBytes(of: UInt16(size).littleEndian, toByteOffset: 6, as: UInt16.self)
    buffer.storeBytes(of: lba.littleEndian, toByteOffset: 8, as: UInt64.self)
    buffer.storeBytes(of: UInt32(bytes).littleEndian, toByteOffset: 16, as: UInt32.self)
    buffer.storeBytes(of: generation.littleEndian, toByteOffset: 20, as: UInt32.self)
    buffer.storeBytes(of: seed.littleEndian, toByteOffset: 24, as: UInt32.self)
    buffer.storeBytes(of: checksum(buffer, bytes: bytes).littleEndian, toByteOffset: 28, as: UInt32.self)
  }

  /// Checks a unit read back from `lba` that should hold `generation`; nil when it does.
  public static func check(
    _ buffer: UnsafeRawPointer, bytes: Int, lba: UInt64, generation: UInt32
  ) -> VerifyFinding? {
    func finding(_ kind: VerifyFinding.Kind, _ found: String) -> VerifyFinding {
      VerifyFinding(
        kind: kind, lba: lba, expected: "LBA \(lba), generation \(generation), \(bytes) bytes", found: found)
    }
    let m = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
    guard m == magic else {
      let zero = (0..<bytes / 8).allSatisfy {
        buffer.loadUnaligned(fromByteOffset: $0 * 8, as: UInt64.self) == 0
      }
      return finding(
        .notAHeader,
        zero
          ? "all zeros (trimmed, or never written)"
          : "no verify header (first 8 bytes \(Format.hexBytes(buffer, 8))): overwritten by something else")
    }
    let v = UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 4, as: UInt16.self))
    let h = UInt16(littleEndian: buffer.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
    guard v == version, h == size else {
      return finding(.badVersion, "header version \(v), length \(h) (this build writes version \(version))")
    }
    let gotLba = UInt64(littleEndian: buffer.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    let gotLength = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 16, as: UInt32.self))
    let gotGeneration = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 20, as: UInt32.self))
    let gotSeed = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 24, as: UInt32.self))
    let gotCrc = UInt32(littleEndian: buffer.loadUnaligned(fromByteOffset: 28, as: UInt32.self))
    let fields = "LBA \(gotLba), generation \(gotGeneration), \(gotLength) bytes"
    guard gotLength == UInt32(bytes), gotLength >= UInt32(size * 2) else {
      return finding(.wrongLength, "a header claiming \(fields)")
    }
    let crc = checksum(buffer, bytes: bytes)
    guard crc == gotCrc else {
      var detail = "\(fields) but CRC-32C \(Format.hex32(crc)) where the header says \(Format.hex32(gotCrc))"
      if let offset = firstPayloadDifference(
        buffer, bytes: bytes, lba: gotLba, generation: gotGeneration, seed: gotSeed)
      {
        detail += "; first damaged byte at offset \(offset) of the unit"
      } else {
        detail += "; the header itself is damaged"
      }
      return finding(.badChecksum, detail)
    }
    if gotLba != lba {
      return finding(.wrongLBA, "\(fields): data that belongs at another LBA (misdirected write)")
    }
    if gotGeneration < generation {
      return finding(.staleGeneration, "\(fields): an older version (a lost write)")
    }
    if gotGeneration > generation {
      return finding(.newerGeneration, "\(fields): a newer version than the verify state records")
    }
    return nil
  }

  /// The header's checksum: bytes 0..<28, then the payload.
  static func checksum(_ buffer: UnsafeRawPointer, bytes: Int) -> UInt32 {
    let head = CRC32C.update(0, buffer, count: 28)
    return CRC32C.update(head, buffer + size, count: bytes - size)
  }

  /// The unit's payload stream is `base XOR (i × 0x9E3779B97F4A7C15)` for word `i`, with
  /// `base` a SplitMix64 mix of (LBA, generation, seed): distinct per unit and version, one
  /// multiply per word (the CRC, not the pattern, is what verification relies on).
  @inline(__always)
  static func payloadBase(_ lba: UInt64, _ generation: UInt32, _ seed: UInt32) -> UInt64 {
    var z = lba &* 0x9E37_79B9_7F4A_7C15 ^ UInt64(generation) << 32 ^ UInt64(seed)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  @inline(__always)
  static func payloadWord(_ base: UInt64, _ i: Int) -> UInt64 { base ^ UInt64(i) &* 0x9E37_79B9_7F4A_7C15 }

  /// The first payload byte (offset in the unit) that differs from what (lba, generation,
  /// seed) generates, or nil when the payload is intact.
  static func firstPayloadDifference(
    _ buffer: UnsafeRawPointer, bytes: Int, lba: UInt64, generation: UInt32, seed: UInt32
  ) -> Int? {
    let base = payloadBase(lba, generation, seed)
    for i in 0..<((bytes - size) / 8) {
      let want = payloadWord(base, i).littleEndian
      let got = buffer.loadUnaligned(fromByteOffset: size + i * 8, as: UInt64.self)
      if want != got {
        var k = 0
        while k < 8 && (want >> (8 * UInt64(k))) & 0xFF == (got >> (8 * UInt64(k))) & 0xFF { k += 1 }
        return size + i * 8 + k
      }
    }
    return nil
  }
}

/// Why a unit failed verification, for the report: the LBA, what was expected and what was
/// found.
public struct VerifyFinding: Sendable, Equatable, CustomStringConvertible {
  public enum Kind: String, Sendable {
    case notAHeader, badVersion, wrongLength, badChecksum, wrongLBA, staleGeneration, newerGeneration
  }
  public let kind: Kind
  public let lba: UInt64
  public let expected: String
  public let found: String

  public var description: String { "LBA \(lba): expected \(expected); found \(found)" }
}
