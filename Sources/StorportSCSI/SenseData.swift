/// Where a bad field is (the sense-key-specific field pointer, SPC-4 4.5.2.4.2).
public struct FieldPointer: Hashable, Sendable {
  /// True: the field is in the CDB; false: in the parameter list (data-out).
  public var inCdb: Bool
  public var byte: UInt16
  /// Bit within the byte, if the error is in a bit field.
  public var bit: UInt8?

  public static func cdb(_ byte: Int, bit: Int? = nil) -> FieldPointer {
    FieldPointer(inCdb: true, byte: UInt16(byte), bit: bit.map { UInt8($0) })
  }
  public static func parameter(_ byte: Int, bit: Int? = nil) -> FieldPointer {
    FieldPointer(inCdb: false, byte: UInt16(byte), bit: bit.map { UInt8($0) })
  }
}

/// Sense data of a CHECK CONDITION: key, ASC/ASCQ, and optionally the information field (the
/// first bad LBA, the miscompare offset) and a field pointer. Encodes in fixed (0x70) or
/// descriptor (0x72) format (Control mode page D_SENSE).
public struct SenseData: Hashable, Sendable, CustomStringConvertible {
  public var key: SenseKey
  public var code: AdditionalSense
  public var information: UInt64?
  public var field: FieldPointer?

  public init(
    _ key: SenseKey, _ code: AdditionalSense, information: UInt64? = nil, field: FieldPointer? = nil
  ) {
    self.key = key
    self.code = code
    self.information = information
    self.field = field
  }

  public var description: String {
    var s = "sense key 0x\(String(key.rawValue, radix: 16)), ASC/ASCQ \(code)"
    if let f = field {
      s += ", \(f.inCdb ? "CDB" : "parameter") byte \(f.byte)\(f.bit.map { " bit \($0)" } ?? "")"
    }
    if let i = information { s += ", information \(i)" }
    return s
  }

  /// Bytes 0-2 of the sense-key-specific field (SKSV, C/D, BPV, bit pointer, field pointer).
  private var senseKeySpecific: (UInt8, UInt8, UInt8)? {
    guard let f = field else { return nil }
    var b0: UInt8 = 0x80
    if f.inCdb { b0 |= 0x40 }
    if let bit = f.bit { b0 |= 0x08 | (bit & 7) }
    return (b0, UInt8(f.byte >> 8), UInt8(f.byte & 0xFF))
  }

  /// Writes the encoding into `out` (truncated to its size); returns the full length.
  @discardableResult
  public func encode(descriptorFormat: Bool, into out: UnsafeMutableRawBufferPointer) -> Int {
    var bytes = [UInt8](repeating: 0, count: descriptorFormat ? 8 : 18)
    if descriptorFormat {
      bytes[0] = 0x72
      bytes[1] = key.rawValue & 0x0F
      bytes[2] = code.asc
      bytes[3] = code.ascq
      if let info = information {
        bytes += [0x00, 0x0A, 0x80, 0x00]
        for i in (0..<8).reversed() { bytes.append(UInt8(truncatingIfNeeded: info >> (UInt64(i) * 8))) }
      }
      if let (a, b, c) = senseKeySpecific { bytes += [0x02, 0x06, 0, 0, a, b, c, 0] }
      bytes[7] = UInt8(bytes.count - 8)
    } else {
      // Fixed format holds 4 bytes of INFORMATION: a value that does not fit is not reported,
      // VALID 0 (SPC-4 fixed format sense data; descriptor format carries all 8 bytes).
      let fits = information.map { $0 <= UInt64(UInt32.max) } ?? false
      bytes[0] = 0x70 | (fits ? 0x80 : 0)
      bytes[2] = key.rawValue & 0x0F
      if fits, let info = information {
        let v = UInt32(truncatingIfNeeded: info)
        bytes[3] = UInt8(v >> 24)
        bytes[4] = UInt8((v >> 16) & 0xFF)
        bytes[5] = UInt8((v >> 8) & 0xFF)
        bytes[6] = UInt8(v & 0xFF)
      }
      bytes[7] = 10
      bytes[12] = code.asc
      bytes[13] = code.ascq
      if let (a, b, c) = senseKeySpecific {
        bytes[15] = a
        bytes[16] = b
        bytes[17] = c
      }
    }
    let n = min(bytes.count, out.count)
    for i in 0..<n { out[i] = bytes[i] }
    return bytes.count
  }

  /// Parses fixed or descriptor sense (for tests and initiators).
  public static func decode(_ b: [UInt8]) -> SenseData? {
    guard let first = b.first else { return nil }
    switch first & 0x7F {
    case 0x70, 0x71:
      guard b.count >= 14 else { return nil }
      var s = SenseData(SenseKey(rawValue: b[2] & 0x0F), AdditionalSense(b[12], b[13]))
      if first & 0x80 != 0 {
        s.information = UInt64(b[3]) << 24 | UInt64(b[4]) << 16 | UInt64(b[5]) << 8 | UInt64(b[6])
      }
      if b.count >= 18, b[15] & 0x80 != 0 {
        s.field = FieldPointer(
          inCdb: b[15] & 0x40 != 0, byte: UInt16(b[16]) << 8 | UInt16(b[17]),
          bit: b[15] & 0x08 != 0 ? b[15] & 7 : nil)
      }
      return s
    case 0x72, 0x73:
      guard b.count >= 8 else { return nil }
      var s = SenseData(SenseKey(rawValue: b[1] & 0x0F), AdditionalSense(b[2], b[3]))
      var i = 8
      while i + 1 < b.count {
        let type = b[i]
        let len = Int(b[i + 1])
        if type == 0x00, i + 11 < b.count {
          s.information = (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(b[i + 4 + $1]) }
        }
        if type == 0x02, i + 6 < b.count, b[i + 4] & 0x80 != 0 {
          s.field = FieldPointer(
            inCdb: b[i + 4] & 0x40 != 0, byte: UInt16(b[i + 5]) << 8 | UInt16(b[i + 6]),
            bit: b[i + 4] & 0x08 != 0 ? b[i + 4] & 7 : nil)
        }
        i += 2 + len
      }
      return s
    default: return nil
    }
  }
}

/// The outcome of one SCSI command.
public struct ScsiResult: Sendable, Equatable {
  public var status: ScsiStatus
  public var sense: SenseData?
  /// Bytes moved to (data-in) or consumed from (data-out) the buffer.
  public var transferred: Int
  /// Bytes the command wanted beyond what the buffer allowed (data-in overflow).
  public var overflow: Int

  public static func good(_ transferred: Int = 0, overflow: Int = 0) -> ScsiResult {
    ScsiResult(status: .good, sense: nil, transferred: transferred, overflow: overflow)
  }
  public static func check(_ sense: SenseData) -> ScsiResult {
    ScsiResult(status: .checkCondition, sense: sense, transferred: 0, overflow: 0)
  }
  public static func illegal(_ code: AdditionalSense, _ field: FieldPointer? = nil) -> ScsiResult {
    .check(SenseData(.illegalRequest, code, field: field))
  }
  public static func invalidField(cdbByte byte: Int, bit: Int? = nil) -> ScsiResult {
    .illegal(.invalidFieldInCdb, .cdb(byte, bit: bit))
  }
}
