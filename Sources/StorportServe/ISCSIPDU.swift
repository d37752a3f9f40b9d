import CStorportShim
import NIOCore

/// iSCSI opcodes (RFC 7143 §11.1.1): the low six bits of a PDU's first byte.
enum ISCSIOpcode: UInt8, Sendable {
  // Initiator → target.
  case nopOut = 0x00
  case scsiCommand = 0x01
  case taskManagementRequest = 0x02
  case loginRequest = 0x03
  case textRequest = 0x04
  case scsiDataOut = 0x05
  case logoutRequest = 0x06
  case snackRequest = 0x10
  // Target → initiator.
  case nopIn = 0x20
  case scsiResponse = 0x21
  case taskManagementResponse = 0x22
  case loginResponse = 0x23
  case textResponse = 0x24
  case scsiDataIn = 0x25
  case logoutResponse = 0x26
  case readyToTransfer = 0x31
  case asyncMessage = 0x32
  case reject = 0x3F
}

/// Reject reasons (RFC 7143 §11.17.1).
enum ISCSIRejectReason: UInt8, Sendable {
  case dataDigestError = 0x02
  case snackReject = 0x03
  case protocolError = 0x04
  case commandNotSupported = 0x05
  case immediateCommandReject = 0x06
  case taskInProgress = 0x07
  case invalidDataAck = 0x08
  case invalidPduField = 0x09
  case longOperationReject = 0x0A
  case waitingForLogout = 0x0C
}

/// One iSCSI PDU: the 48-byte Basic Header Segment, any Additional Header Segments and the
/// data segment (unpadded). Digests and padding exist only on the wire (``ISCSIFraming``).
struct ISCSIPDU: Sendable, Equatable {
  static let headerBytes = 48
  /// The Basic Header Segment, always 48 bytes.
  var header: [UInt8]
  var additionalHeader: [UInt8] = []
  var data: [UInt8] = []

  init(header: [UInt8], additionalHeader: [UInt8] = [], data: [UInt8] = []) {
    precondition(header.count == Self.headerBytes, "bug in swift-storport: a BHS of \(header.count) bytes")
    self.header = header
    self.additionalHeader = additionalHeader
    self.data = data
  }

  /// A target PDU with `opcode` and the final bit set (the usual case), everything else zero.
  init(_ opcode: ISCSIOpcode, final: Bool = true) {
    header = [UInt8](repeating: 0, count: Self.headerBytes)
    header[0] = opcode.rawValue
    if final { header[1] = 0x80 }
  }

  var opcodeByte: UInt8 { header[0] & 0x3F }
  var opcode: ISCSIOpcode? { ISCSIOpcode(rawValue: opcodeByte) }
  /// The I bit: an immediate command (does not advance CmdSN).
  var isImmediate: Bool { header[0] & 0x40 != 0 }
  var flags: UInt8 {
    get { header[1] }
    set { header[1] = newValue }
  }
  var isFinal: Bool { header[1] & 0x80 != 0 }
  var lun: UInt64 {
    get { be64(8) }
    set { setBE64(8, newValue) }
  }
  var initiatorTaskTag: UInt32 {
    get { be32(16) }
    set { setBE32(16, newValue) }
  }

  func be16(_ at: Int) -> UInt16 { UInt16(header[at]) << 8 | UInt16(header[at + 1]) }
  func be32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 << 8 | UInt32(header[at + $1]) } }
  func be64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 << 8 | UInt64(header[at + $1]) } }
  mutating func setBE16(_ at: Int, _ v: UInt16) {
    header[at] = UInt8(v >> 8)
    header[at + 1] = UInt8(truncatingIfNeeded: v)
  }
  mutating func setBE32(_ at: Int, _ v: UInt32) {
    for i in 0..<4 { header[at + i] = UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32(i))) }
  }
  mutating func setBE64(_ at: Int, _ v: UInt64) {
    for i in 0..<8 { header[at + i] = UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64(i))) }
  }
}

/// Turns bytes into PDUs and PDUs into bytes for one connection: the digests negotiated
/// (CRC32C over the header and AHS, and over the padded data), the 4-byte padding, and the
/// largest data segment accepted. Never trusts a length: a segment over the limit is a
/// protocol error, not an allocation.
struct ISCSIFraming: Sendable {
  var headerDigest = false
  var dataDigest = false
  /// The largest data segment this side accepts (our MaxRecvDataSegmentLength).
  var maximumReceiveSegment: Int

  enum Failure: Error, Equatable, Sendable {
    /// A header digest mismatch: at ErrorRecoveryLevel 0 the connection ends.
    case headerDigest
    /// The data segment or the AHS is longer than this side accepts.
    case tooLong(Int)
    /// A data digest mismatch: the PDU is rejected (its header is returned for the Reject).
    case dataDigest(header: [UInt8])
  }

  static func padded(_ n: Int) -> Int { (n + 3) & ~3 }

  /// Takes one whole PDU from the front of `buffer` (starting at `start`); nil when more bytes
  /// are needed. Advances `start` past the PDU taken (or past a PDU whose data digest failed).
  func next(_ buffer: [UInt8], _ start: inout Int) throws(Failure) -> ISCSIPDU? {
    let available = buffer.count - start
    guard available >= ISCSIPDU.headerBytes else { return nil }
    let ahs = Int(buffer[start + 4]) * 4
    let segment = Int(buffer[start + 5]) << 16 | Int(buffer[start + 6]) << 8 | Int(buffer[start + 7])
    guard segment <= maximumReceiveSegment else { throw .tooLong(segment) }
    let headerEnd = ISCSIPDU.headerBytes + ahs
    let digestBytes = headerDigest ? 4 : 0
    let dataStart = headerEnd + digestBytes
    let dataDigestBytes = dataDigest && segment > 0 ? 4 : 0
    let total = dataStart + Self.padded(segment) + dataDigestBytes
    guard available >= total else { return nil }
    let base = start
    if headerDigest {
      let expected = buffer.withUnsafeBufferPointer { Self.crc32c($0.baseAddress! + base, headerEnd) }
      guard Self.readDigest(buffer, base + headerEnd) == expected else { throw .headerDigest }
    }
    let header = Array(buffer[base..<base + ISCSIPDU.headerBytes])
    if dataDigestBytes > 0 {
      let padded = Self.padded(segment)
      let expected = buffer.withUnsafeBufferPointer {
        Self.crc32c($0.baseAddress! + base + dataStart, padded)
      }
      if Self.readDigest(buffer, base + dataStart + padded) != expected {
        start += total
        throw .dataDigest(header: header)
      }
    }
    let pdu = ISCSIPDU(
      header: header, additionalHeader: Array(buffer[base + ISCSIPDU.headerBytes..<base + headerEnd]),
      data: Array(buffer[base + dataStart..<base + dataStart + segment]))
    start += total
    return pdu
  }

  /// The wire bytes of `pdu`: lengths filled in, padding and digests added.
  func encode(_ pdu: ISCSIPDU) -> [UInt8] {
    Array(buffer(pdu).readableBytesView)
  }

  /// The wire bytes of `pdu` in a buffer of their size.
  func buffer(_ pdu: ISCSIPDU) -> ByteBuffer {
    var out = ByteBufferAllocator().buffer(capacity: wireBytes(pdu, dataBytes: pdu.data.count))
    write(pdu, into: &out)
    return out
  }

  /// Bytes on the wire for a PDU of `dataBytes` bytes of data: header, AHS, padding, digests.
  func wireBytes(_ pdu: ISCSIPDU, dataBytes: Int) -> Int {
    ISCSIPDU.headerBytes + pdu.additionalHeader.count + (headerDigest ? 4 : 0) + Self.padded(dataBytes)
      + (dataDigest && dataBytes > 0 ? 4 : 0)
  }

  /// Appends the wire bytes of `pdu` to `out`: lengths filled in, padding and digests added.
  /// `payload`, when given, is the data segment instead of `pdu.data` (a Data-In's read data,
  /// written from the request's buffer: no intermediate array).
  func write(_ pdu: ISCSIPDU, payload: DataIn? = nil, into out: inout ByteBuffer) {
    precondition(pdu.additionalHeader.count % 4 == 0, "bug in swift-storport: AHS not in words")
    precondition(payload == nil || pdu.data.isEmpty, "bug in swift-storport: a PDU with two data segments")
    let n = payload?.count ?? pdu.data.count
    precondition(n < 1 << 24, "bug in swift-storport: a data segment of \(n) bytes")
    out.reserveCapacity(minimumWritableBytes: wireBytes(pdu, dataBytes: n))
    // The header's lengths are filled in the copy (the PDU's own header is not touched).
    // Byte arrays go in as raw bytes: ByteBuffer's generic sequence path costs several times more.
    let start = out.writerIndex
    pdu.header.withUnsafeBytes { _ = out.writeBytes($0) }
    out.setInteger(UInt8(pdu.additionalHeader.count / 4), at: start + 4)
    out.setInteger(UInt8(truncatingIfNeeded: n >> 16), at: start + 5)
    out.setInteger(UInt16(truncatingIfNeeded: n), at: start + 6)
    if !pdu.additionalHeader.isEmpty { pdu.additionalHeader.withUnsafeBytes { _ = out.writeBytes($0) } }
    if headerDigest { writeDigest(of: start, in: &out) }
    guard n > 0 else { return }
    let dataStart = out.writerIndex
    if let payload {
      out.writeDataIn(payload)
    } else {
      pdu.data.withUnsafeBytes { _ = out.writeBytes($0) }
    }
    if Self.padded(n) > n { out.writeRepeatingByte(0, count: Self.padded(n) - n) }
    if dataDigest { writeDigest(of: dataStart, in: &out) }
  }

  /// Appends the digest of `out`'s bytes from `start` to its end.
  private func writeDigest(of start: Int, in out: inout ByteBuffer) {
    let (from, count) = (start - out.readerIndex, out.writerIndex - start)
    let d = out.withUnsafeReadableBytes {
      Self.crc32c($0.baseAddress!.assumingMemoryBound(to: UInt8.self) + from, count)
    }
    // Digests travel least significant byte first (the CRC's own bit order, RFC 7143 §13.1).
    out.writeInteger(d, endianness: .little)
  }

  /// CRC32C as iSCSI uses it (RFC 7143 §13.1: initial value all ones, result complemented).
  static func crc32c(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt32 {
    storport_crc32c_update(0, p, n)
  }

  static func readDigest(_ b: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(b[at + $1]) << (8 * UInt32($1)) }
  }
}
